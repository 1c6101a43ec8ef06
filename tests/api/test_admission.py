"""Admission control (issue 19, docs/OPERATIONS.md "Admission control"):
at most max_inflight requests run a handler, at most max_queue wait for
one, each at most queue_wait_ms; past the queue a request gets 503
unavailable with Retry-After at once, never a hang.

The slow request is a chat message whose model (the OpenAI-compatible
stand-in in its "slow" mode) takes its time: it holds the one handler slot
until the stand-in answers. The tests see the queue through /metrics and
never assert on timing: "at once" means the refusal came back while the
slow request was still waiting for the model.
"""

import os
import re
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

CHAT = "/api/chat/message"
SLOW_SECONDS = 4


def metric(api, name):
    r = api.get("/metrics")
    if r.status != 200:
        raise AssertionError("/metrics: %d %r" % (r.status, r.raw[:200]))
    m = re.search(r"^%s (\d+)$" % re.escape(name), r.raw.decode(), re.M)
    return int(m.group(1)) if m else None


class Background(threading.Thread):
    """One request on its own connection, answered later."""

    def __init__(self, base_url, method, path, body=None, token=None):
        super().__init__(daemon=True)
        self.args = (method, path, body, token)
        self.api = harness.Api(base_url, timeout=60, retry_429=False)
        self.resp = None
        self.error = None

    def run(self):
        method, path, body, token = self.args
        try:
            self.resp = self.api.request(method, path, body, token=token)
        except Exception as e:  # reported by the test
            self.error = e
        finally:
            self.api.close()

    def result(self, case):
        self.join(60)
        case.assertFalse(self.is_alive(), "%s %s never answered" % self.args[:2])
        case.assertIsNone(self.error)
        return self.resp


class AdmissionCase(harness.StubbedTestCase):
    stub_class = harness.OpenAIStub
    queue_wait_ms = "60000"

    @classmethod
    def stub_env(cls, host, port):
        return {"PERSONALOS_LLM_URL": "http://%s:%d/v1" % (host, port),
                "PERSONALOS_LLM_MODEL": "stub-chat",
                "PERSONALOS_LLM_API_KEY": "sk-admission",
                "PERSONALOS_RATE_LIMIT": "off",
                "PERSONALOS_MAX_INFLIGHT": "1",
                "PERSONALOS_MAX_QUEUE": "1",
                "PERSONALOS_QUEUE_WAIT_MS": cls.queue_wait_ms}

    def setUp(self):
        super().setUp()
        self.stub.reset()
        self.user = self.new_user()

    def hold_the_slot(self):
        """Starts a chat message the stand-in answers after SLOW_SECONDS;
        returns once the model has the request (the slot is held)."""
        self.stub.mode("slow", seconds=SLOW_SECONDS, count=1)
        slow = Background(self.server.base_url, "POST", CHAT,
                          {"message": "take your time"},
                          self.user.token)
        slow.start()
        seen = harness.poll(lambda: self.stub.chat_requests() or None, timeout=30)
        self.assertTrue(seen, "the model never got the slow request")
        self.assertIsNone(slow.resp, "the slow request answered before the model did")
        self.assertEqual(metric(self.api, "personalos_http_admission_running"), 1)
        return slow

    def queue_one(self):
        waiting = Background(self.server.base_url, "GET", "/api/memories?limit=1",
                             token=self.user.token)
        waiting.start()
        queued = harness.poll(
            lambda: metric(self.api, "personalos_http_admission_queued") == 1 or None,
            timeout=30)
        self.assertTrue(queued, "the second request never reached the queue")
        return waiting


class QueueFullTest(AdmissionCase):
    def test_past_the_queue_a_request_gets_503_with_retry_after_at_once(self):
        slow = self.hold_the_slot()
        waiting = self.queue_one()

        raw = harness.Api(self.server.base_url, retry_429=False)  # no retry on 503
        self.addCleanup(raw.close)
        r = raw.get("/api/memories?limit=1", token=self.user.token)
        self.assert_error(r, 503, "unavailable")
        self.assertEqual(r.headers.get("retry-after"), "1")
        # Answered while the slot and the queue were still taken.
        self.assertIsNone(slow.resp)
        self.assertIsNone(waiting.resp)
        # A write is refused the same way, and nothing of it is stored.
        before = metric(self.api, "personalos_memories_total")
        r = raw.post("/api/memories", {"content": "refused while busy"},
                     token=self.user.token)
        self.assert_error(r, 503, "unavailable")
        self.assertEqual(r.headers.get("retry-after"), "1")
        self.assertEqual(metric(self.api, "personalos_memories_total"), before)
        # /health and /metrics need no slot.
        self.assertEqual(self.api.get("/health").status, 200)
        self.assertGreaterEqual(
            metric(self.api, 'personalos_http_admission_total{outcome="rejected"}'), 2)

        # The model answers: the slow request completes, then the queued one.
        self.assertEqual(slow.result(self).status, 200)
        self.assertEqual(waiting.result(self).status, 200)
        self.assertGreaterEqual(
            metric(self.api, 'personalos_http_admission_total{outcome="waited"}'), 1)
        # The slot and the queue are free again.
        r = self.api.get("/api/memories?limit=1", token=self.user.token)
        self.assertEqual(r.status, 200, r.raw[:200])
        self.assertEqual(metric(self.api, "personalos_http_admission_queued"), 0)


class QueueWaitTest(AdmissionCase):
    queue_wait_ms = "200"

    def test_a_request_that_waits_past_queue_wait_ms_gets_503(self):
        slow = self.hold_the_slot()
        waiting = Background(self.server.base_url, "GET", "/api/memories?limit=1",
                             token=self.user.token)
        waiting.start()
        r = waiting.result(self)
        self.assert_error(r, 503, "unavailable")
        self.assertEqual(r.headers.get("retry-after"), "1")
        self.assertIsNone(slow.resp, "the refusal waited for the slow request")
        self.assertGreaterEqual(
            metric(self.api, 'personalos_http_admission_total{outcome="expired"}'), 1)
        self.assertEqual(slow.result(self).status, 200)


class SlowHandlerTest(harness.StubbedTestCase):
    """A handler that blocks its thread must not stop the server from
    reading, answering, queueing and refusing everything else (the 30 s
    tail of bench/load500.py, docs/BENCHMARKS.md). The slow handler is a
    hybrid search whose query embedding the provider (the stand-in, "slow")
    answers after SLOW_EMBED seconds; the server has one libmicrohttpd
    worker, so a handler running on it would leave every other connection
    unread until the provider answers. A hang detector, not a latency
    check: each request below must be answered within the client's own
    timeout, well under the provider's delay, and while the search is
    still waiting."""

    stub_class = harness.OpenAIStub
    SLOW_EMBED = 15
    CLIENT_TIMEOUT = 8

    @classmethod
    def stub_env(cls, host, port):
        return {"PERSONALOS_EMBED_URL": "http://%s:%d/v1" % (host, port),
                "PERSONALOS_EMBED_MODEL": "stub-embed",
                "PERSONALOS_EMBED_API_KEY": "sk-admission",
                "PERSONALOS_RATE_LIMIT": "off",
                "PERSONALOS_THREADS": "1",
                "PERSONALOS_MAX_INFLIGHT": "1",
                "PERSONALOS_MAX_QUEUE": "1",
                "PERSONALOS_QUEUE_WAIT_MS": "60000"}

    def answered(self, api, method, path, token=None):
        try:
            return api.request(method, path, None, token=token)
        except OSError as e:  # socket.timeout included
            self.fail("%s %s: no answer within %d s while one handler waited for the "
                      "provider (%r): the server is not reading its other connections"
                      % (method, path, self.CLIENT_TIMEOUT, e))

    def metric_now(self, api, name):
        r = self.answered(api, "GET", "/metrics")
        self.assertEqual(r.status, 200, r.raw[:200])
        m = re.search(r"^%s (\d+)$" % re.escape(name), r.raw.decode(), re.M)
        return int(m.group(1)) if m else None

    def test_a_blocked_handler_leaves_the_other_connections_served(self):
        user = self.new_user()
        self.create_memory(user.token, "the provider learns its dimension from this one")
        # The provider's dimension is known once a vector came back; only
        # then does a search embed its query.
        embedded = harness.poll(
            lambda: metric(self.api, "personalos_embeddings_total") or None, timeout=60)
        self.assertTrue(embedded, "the first memory was never embedded")
        self.stub.reset()
        self.stub.mode("slow", seconds=self.SLOW_EMBED, count=1)
        self.addCleanup(self.stub.mode, "ok")
        slow = Background(self.server.base_url, "GET",
                          "/api/memories/search?mode=hybrid&query=dimension%20provider",
                          token=user.token)
        slow.start()
        sent = harness.poll(lambda: self.stub.embedding_requests() or None, timeout=30)
        self.assertTrue(sent, "the search never asked the provider for its query's vector")

        raw = harness.Api(self.server.base_url, timeout=self.CLIENT_TIMEOUT, retry_429=False)
        self.addCleanup(raw.close)
        # Requests that need no slot are answered ...
        self.assertEqual(self.metric_now(raw, "personalos_http_admission_running"), 1)
        r = self.answered(raw, "GET", "/health")
        self.assertEqual(r.status, 200, r.raw[:200])
        # ... one that needs a slot waits in the queue ...
        waiting = Background(self.server.base_url, "GET", "/api/memories?limit=1",
                             token=user.token)
        waiting.start()
        queued = harness.poll(
            lambda: self.metric_now(raw, "personalos_http_admission_queued") == 1 or None,
            timeout=self.CLIENT_TIMEOUT)
        self.assertTrue(queued, "the second request never reached the queue")
        # ... and one past the queue is refused at once.
        r = self.answered(raw, "GET", "/api/memories?limit=1", token=user.token)
        self.assert_error(r, 503, "unavailable")
        self.assertEqual(r.headers.get("retry-after"), "1")
        self.assertIsNone(slow.resp, "the search answered before the provider did")

        # The provider answers: the search completes, then the queued one.
        self.assertEqual(slow.result(self).status, 200)
        self.assertEqual(waiting.result(self).status, 200)


class DrainQueueTest(harness.StubbedTestCase):
    """SIGTERM answers the requests waiting for a handler slot at once
    (docs/OPERATIONS.md, "Stopping"), while the request holding the slot
    still runs: an order, not a time. The running one is a hybrid search
    whose query embedding the stand-in provider answers after SLOW_EMBED
    seconds; the queued one would wait 60 s. Were the queue only emptied
    once the running requests are done, the queued request's 503 would
    come after the search's answer."""

    stub_class = harness.OpenAIStub
    SLOW_EMBED = SlowHandlerTest.SLOW_EMBED
    CLIENT_TIMEOUT = SlowHandlerTest.CLIENT_TIMEOUT
    answered = SlowHandlerTest.answered
    metric_now = SlowHandlerTest.metric_now

    @classmethod
    def stub_env(cls, host, port):
        env = SlowHandlerTest.stub_env.__func__(cls, host, port)
        env.update({"PERSONALOS_THREADS": "2", "PERSONALOS_SHUTDOWN_GRACE": "60"})
        return env

    def test_sigterm_refuses_the_queued_at_once_while_the_running_finish(self):
        user = self.new_user()
        self.create_memory(user.token, "the provider learns its dimension from this one")
        embedded = harness.poll(
            lambda: metric(self.api, "personalos_embeddings_total") or None, timeout=60)
        self.assertTrue(embedded, "the first memory was never embedded")
        self.stub.reset()
        self.stub.mode("slow", seconds=self.SLOW_EMBED, count=1)
        slow = Background(self.server.base_url, "GET",
                          "/api/memories/search?mode=hybrid&query=dimension%20provider",
                          token=user.token)
        slow.start()
        sent = harness.poll(lambda: self.stub.embedding_requests() or None, timeout=30)
        self.assertTrue(sent, "the search never asked the provider for its query's vector")
        raw = harness.Api(self.server.base_url, timeout=self.CLIENT_TIMEOUT, retry_429=False)
        self.addCleanup(raw.close)
        waiting = Background(self.server.base_url, "GET", "/api/memories?limit=1",
                             token=user.token)
        waiting.start()
        queued = harness.poll(
            lambda: self.metric_now(raw, "personalos_http_admission_queued") == 1 or None,
            timeout=self.CLIENT_TIMEOUT)
        self.assertTrue(queued, "the second request never reached the queue")
        raw.close()
        server = self.server
        stopped = {}

        def stop():
            try:
                stopped["rc"] = server.stop()
            except Exception as e:  # reported below
                stopped["error"] = e

        stopper = threading.Thread(target=stop)
        stopper.start()
        # The queued request is refused while the search still waits.
        r = waiting.result(self)
        self.assert_error(r, 503, "unavailable")
        self.assertIn("shutting down", r.json["error"]["message"])
        self.assertIsNone(r.headers.get("retry-after"))
        self.assertTrue(slow.is_alive() and slow.resp is None,
                        "the queued request was answered only after the running one")
        # The running one finishes with its answer; the server exits 0.
        self.assertEqual(slow.result(self).status, 200)
        stopper.join(90)
        self.assertFalse(stopper.is_alive(), "the server did not stop")
        self.assertNotIn("error", stopped, stopped.get("error"))


class AdmissionOffTest(harness.ApiTestCase):
    server_env = {"PERSONALOS_ADMISSION": "off", "PERSONALOS_MAX_INFLIGHT": "1",
                  "PERSONALOS_MAX_QUEUE": "1"}

    def test_off_admits_everything_and_counts_nothing(self):
        u = self.new_user()
        r = self.api.get("/api/memories?limit=1", token=u.token)
        self.assertEqual(r.status, 200, r.raw[:200])
        self.assertEqual(
            metric(self.api, 'personalos_http_admission_total{outcome="admitted"}'), 0)


if __name__ == "__main__":
    unittest.main()
