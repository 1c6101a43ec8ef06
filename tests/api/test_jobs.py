"""The jobs service seen through the API: GET /api/jobs/{id}, GET /api/jobs,
DELETE /api/jobs/{id} (docs/ARCHITECTURE.md, "Jobs").

Jobs are started the way a user starts them (POST /api/memories/{id}/memorize).
To hold a job `queued` without timing, one server has a single job worker
and a model stand-in that answers slowly: the first job occupies the worker
while the test looks at the ones behind it. Finished jobs are awaited with
bounded polls, never timing assertions.
"""

import json
import os
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


class JobsCase(harness.ApiTestCase):
    # no auto-linking: its memory.autolink jobs would be in the lists and
    # queues these tests count (test_lifecycle.AutoLinkJobTest covers them)
    server_env = {"PERSONALOS_AUTO_LINK": "off"}

    def memorize(self, token, memory_id):
        return self.api.post("/api/memories/%s/memorize" % memory_id, token=token)

    def job(self, token, job_id):
        r = self.api.get("/api/jobs/" + job_id, token=token)
        self.assertEqual(r.status, 200, r.raw[:300])
        return r.json

    def finished(self, token, job_id):
        def check():
            j = self.job(token, job_id)
            return j if j["state"] in ("done", "failed", "cancelled") else None
        j = harness.poll(check)
        self.assertIsNotNone(j, "job %s did not finish" % job_id)
        return j

    def assert_job_shape(self, j):
        for key in ("id", "kind", "state", "status", "attempts", "progress", "last_error",
                    "result", "item_errors", "created_at", "updated_at", "run_after"):
            self.assertIn(key, j)
        self.assertIn(j["state"], ("queued", "running", "done", "failed", "cancelled"))
        self.assertEqual(set(j["progress"]), {"done", "total"})
        self.assertIsInstance(j["item_errors"], list)


class JobsTest(JobsCase):
    """No model: memorize runs the rule-based extractor at once."""

    def test_a_memorize_job_is_visible_to_its_owner_only(self):
        a, b = self.new_user(), self.new_user()
        m = self.create_memory(a.token, "Remind me to call the plumber.", type="conversation")
        r = self.memorize(a.token, m["id"])
        self.assertEqual(r.status, 202, r.raw[:300])
        jid = r.json["job_id"]
        j = self.finished(a.token, jid)
        self.assert_job_shape(j)
        self.assertEqual(j["id"], jid)
        self.assertEqual(j["kind"], "memorize")
        self.assertEqual(j["state"], "done", j)
        self.assertEqual(j["attempts"], 1)
        self.assertIsInstance(j["result"]["created"], list)
        # someone else's job is exactly like a missing one
        self.assert_error(self.api.get("/api/jobs/" + jid, token=b.token), 404, "not_found")
        self.assert_error(self.api.delete("/api/jobs/" + jid, token=b.token), 404, "not_found")
        self.assert_error(self.api.get("/api/jobs/" + str(uuid.uuid4()), token=a.token), 404)
        self.assert_error(self.api.get("/api/jobs/not-an-id", token=a.token), 404)
        r = self.api.get("/api/jobs", token=b.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(r.json["jobs"], [])
        self.assert_error(self.api.get("/api/jobs/" + jid), 401)

    def test_the_list_is_newest_first_and_filters_by_kind(self):
        u = self.new_user()
        ids = []
        for text in ("I need to renew my passport.", "Remind me to buy milk."):
            m = self.create_memory(u.token, text, type="conversation")
            r = self.memorize(u.token, m["id"])
            self.assertEqual(r.status, 202, r.raw[:300])
            ids.append(r.json["job_id"])
        for jid in ids:
            self.finished(u.token, jid)
        r = self.api.get("/api/jobs", token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual([j["id"] for j in r.json["jobs"]], ids[::-1])
        for j in r.json["jobs"]:
            self.assert_job_shape(j)
        r = self.api.get("/api/jobs?kind=memorize&limit=1", token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual([j["id"] for j in r.json["jobs"]], [ids[1]])
        r = self.api.get("/api/jobs?kind=memu_delete", token=u.token)
        self.assertEqual(r.json["jobs"], [])

    def test_bad_list_parameters_are_422(self):
        u = self.new_user()
        for q in ("limit=0", "limit=201", "limit=x", "kind=", "kind=" + "k" * 40):
            r = self.api.get("/api/jobs?" + q, token=u.token)
            self.assert_error(r, 422, "invalid_field")

    def test_a_finished_job_cannot_be_cancelled(self):
        u = self.new_user()
        m = self.create_memory(u.token, "Remind me to water the plants.", type="conversation")
        jid = self.memorize(u.token, m["id"]).json["job_id"]
        self.finished(u.token, jid)
        self.assert_error(self.api.delete("/api/jobs/" + jid, token=u.token), 409, "conflict")
        self.assertEqual(self.job(u.token, jid)["state"], "done")


class EncryptionJobTest(JobsCase):
    """Turning encryption on queues the sealing pass as a job of the user."""

    def test_the_sealing_pass_is_an_encryption_job(self):
        u, other = self.new_user(), self.new_user()
        for i in range(3):
            self.create_memory(u.token, "a memory to seal %d" % i)
        r = self.api.post("/api/auth/encryption", {"password": harness.DEFAULT_PASSWORD},
                          token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        jobs = self.api.get("/api/jobs?kind=encryption", token=u.token).json["jobs"]
        self.assertEqual(len(jobs), 1, jobs)
        j = self.finished(u.token, jobs[0]["id"])
        self.assertEqual(j["state"], "done", j)
        self.assertEqual(j["result"]["sealed"], 3, j)
        self.assertEqual(j["progress"]["done"], 3, j)
        self.assert_error(self.api.delete("/api/jobs/" + j["id"], token=u.token), 409)
        self.assert_error(self.api.get("/api/jobs/" + j["id"], token=other.token), 404)
        enc = self.me(u.token)["encryption"]
        self.assertEqual((enc["state"], enc["progress"], enc["total"]), ("on", 3, 3), enc)


class OneWorkerCase(harness.StubbedTestCase, JobsCase):
    """One job worker and a model that can be made slow (extra_env: more
    settings)."""

    stub_class = harness.OpenAIStub
    extra_env = {}

    @classmethod
    def stub_env(cls, host, port):
        env = {"PERSONALOS_LLM_URL": "http://%s:%d/v1" % (host, port),
               "PERSONALOS_LLM_MODEL": "stub-chat",
               "PERSONALOS_LLM_API_KEY": "sk-jobs-secret",
               "PERSONALOS_LLM_TIMEOUT": "20",
               "PERSONALOS_JOBS_WORKERS": "1",
               "PERSONALOS_AUTO_LINK": "off"}
        env.update(cls.extra_env)
        return env

    def hold_the_worker(self, u):
        """A memorize job of u whose model call hangs, running: it holds
        the only worker. Returns (its memory, its job id)."""
        self.stub.reset()
        self.stub.reply(json.dumps({"tasks": [{"text": "Buy the tickets"}]}))
        self.stub.mode("slow", seconds=15, count=1)
        m = self.create_memory(u.token, "We agreed I buy the tickets.", type="conversation")
        job = self.memorize(u.token, m["id"]).json["job_id"]
        running = harness.poll(lambda: self.job(u.token, job)["state"] == "running" or None)
        self.assertTrue(running, self.job(u.token, job))
        return m, job


class QueuedJobsTest(OneWorkerCase):
    """One job worker, a queue of one job per user, and a slow model."""

    extra_env = {"PERSONALOS_JOBS_QUEUE_MAX": "1"}

    def test_queued_and_running_jobs_are_cancelled_and_the_queue_is_bounded(self):
        u, other = self.new_user(), self.new_user()
        m, first = self.hold_the_worker(u)
        # The next one waits in the queue...
        second = self.memorize(u.token, m["id"])
        self.assertEqual(second.status, 202, second.raw[:300])
        second = second.json["job_id"]
        self.assertEqual(self.job(u.token, second)["state"], "queued")
        # ... which holds one job per user: more is 503 busy, with Retry-After.
        r = self.memorize(u.token, m["id"])
        self.assert_error(r, 503, "busy")
        self.assertTrue(r.headers.get("retry-after"), r.headers)
        # another user has a queue of their own
        m2 = self.create_memory(other.token, "Remind me to call Ana.", type="conversation")
        r = self.memorize(other.token, m2["id"])
        self.assertEqual(r.status, 202, r.raw[:300])
        theirs = r.json["job_id"]
        # Cancelling the queued job frees its place; it never runs.
        r = self.api.delete("/api/jobs/" + second, token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(r.json["state"], "cancelled")
        self.assert_error(self.api.delete("/api/jobs/" + second, token=u.token), 409)
        r = self.memorize(u.token, m["id"])
        self.assertEqual(r.status, 202, r.raw[:300])
        third = r.json["job_id"]
        # Cancelling the running one ends it as cancelled, whatever the
        # model answers later.
        r = self.api.delete("/api/jobs/" + first, token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(r.json["state"], "cancelled")
        # The worker moves on to the jobs behind it.
        self.assertEqual(self.finished(u.token, third)["state"], "done")
        self.assertEqual(self.finished(other.token, theirs)["state"], "done")
        self.assertEqual(self.job(u.token, first)["state"], "cancelled")
        self.assertEqual(self.job(u.token, second)["state"], "cancelled")
        self.assertEqual(self.job(u.token, second)["attempts"], 0)


class AutoLinkQueueTest(OneWorkerCase):
    """auto_link on, one job worker held by another user's slow job: the
    linking of many writes waits in at most two queued jobs, and links
    every memory once the worker is free (docs/LIFECYCLE.md)."""

    extra_env = {"PERSONALOS_AUTO_LINK": "on"}

    def autolink_jobs(self, token, state):
        r = self.api.get("/api/jobs?kind=memory.autolink&limit=100", token=token)
        self.assertEqual(r.status, 200, r.raw[:300])
        return [j for j in r.json["jobs"] if j["state"] == state]

    def test_writes_wait_in_two_jobs_then_all_are_linked(self):
        u, other = self.new_user(), self.new_user()
        _m, holder = self.hold_the_worker(other)
        topics = ["the dentist appointment about a cracked molar",
                  "the garden hose that leaks near the tomato beds",
                  "the passport renewal form and its photo booth"]
        ids = [self.create_memory(u.token, "Note %d on %s" % (n, t))["id"]
               for n in range(2) for t in topics]
        r = self.api.post("/api/memories/bulk", {"memories": [
            {"content": "Bulk note %d on %s" % (n, t)} for n in range(3) for t in topics]},
            token=u.token)
        self.assertEqual(r.status, 201, r.raw[:300])
        ids += r.json["ids"]
        # seven write calls, and the worker busy: one job queued now, one
        # for what comes while it runs
        queued = self.autolink_jobs(u.token, "queued")
        self.assertIn(len(queued), (1, 2), queued)
        self.assertEqual(self.autolink_jobs(u.token, "running"), [])
        r = self.api.delete("/api/jobs/" + holder, token=other.token)
        self.assertEqual(r.status, 200, r.raw[:300])

        def all_linked():
            return all(self.api.get("/api/memories/" + i, token=u.token)
                       .json["related_memory_ids"] for i in ids) or None
        self.assertTrue(harness.poll(all_linked), "some memories were never linked")
        dentist = self.api.get("/api/memories/" + ids[0], token=u.token).json
        self.assertIn(ids[3], dentist["related_memory_ids"])
        self.assertNotIn(ids[1], dentist["related_memory_ids"])


class ChatCallJobsTest(harness.StubbedTestCase, JobsCase):
    """A chat message to a real model is a job of kind "chat" too."""

    stub_class = harness.OpenAIStub

    @classmethod
    def stub_env(cls, host, port):
        return {"PERSONALOS_LLM_URL": "http://%s:%d/v1" % (host, port),
                "PERSONALOS_LLM_MODEL": "stub-chat",
                "PERSONALOS_LLM_API_KEY": "sk-jobs-secret"}

    def test_a_chat_message_is_a_chat_job_of_its_user(self):
        u, other = self.new_user(), self.new_user()
        self.stub.reset()
        r = self.api.post("/api/chat/message", {"message": "hello there"}, token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        r = self.api.get("/api/jobs?kind=chat", token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(len(r.json["jobs"]), 1, r.json)
        # the answer is written before the job's outcome is recorded
        j = self.finished(u.token, r.json["jobs"][0]["id"])
        self.assert_job_shape(j)
        self.assertEqual(j["kind"], "chat")
        self.assertEqual(j["state"], "done", j)
        self.assertEqual(j["attempts"], 1)
        self.assert_error(self.api.get("/api/jobs/" + j["id"], token=other.token), 404)
        self.assertEqual(self.api.get("/api/jobs?kind=chat", token=other.token).json["jobs"], [])
        # the answer is given; there is nothing left to cancel
        self.assert_error(self.api.delete("/api/jobs/" + j["id"], token=u.token), 409)

    def test_an_mcp_ask_is_a_chat_job_of_its_user(self):
        u = self.new_user()
        self.stub.reset()
        msg = {"jsonrpc": "2.0", "id": 7, "method": "tools/call",
               "params": {"name": "ask", "arguments": {"question": "hello from mcp"}}}
        r = self.api.post("/mcp", msg, token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(r.json["id"], 7, r.json)
        self.assertIn("result", r.json, r.json)
        self.assertFalse(r.json["result"].get("isError"), r.json)
        jobs = self.api.get("/api/jobs?kind=chat", token=u.token).json["jobs"]
        self.assertEqual(len(jobs), 1, jobs)
        self.assertEqual(self.finished(u.token, jobs[0]["id"])["state"], "done")


if __name__ == "__main__":
    unittest.main()
