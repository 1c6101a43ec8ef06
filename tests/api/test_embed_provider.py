"""Remote embeddings: an OpenAI-compatible provider behind the write and
search paths (docs/EMBEDDINGS-PROVIDER.md, src/search/engine.c).

Each class starts its own stand-in provider (tests/stubs/openai_stub.py) and
a server pointed at it with PERSONALOS_EMBED_URL / _MODEL / _API_KEY. With a
remote provider a write stores the memory without a vector and a background
worker embeds it, so every "eventually" below is a bounded poll (POLL_TIMEOUT
seconds in POLL_STEP steps), never an assertion on timing.

"Found by meaning" is checked strictly: the stub's vectors are deterministic
per (model, text), so a semantic search with a memory's exact text must
return that memory with a cosine of about 1 (?explain=1). A memory without a
vector, or with the vector of other text, fails that check.
"""

import os
import subprocess
import sys
import time
import unittest
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

MODEL = "stub-embed"
SECRET = "sk-test-secret"
SEARCH = "/api/memories/search"

POLL_STEP = 0.1
POLL_TIMEOUT = 20.0      # the worker embeds a fresh write
RECOVER_TIMEOUT = 40.0   # the worker retries after backoff 1, 2, 4, 8, ... s
SAME_TEXT_COSINE = 0.98  # int8-quantized vectors of identical text


def words(n=4):
    """Lower-case words unique to one test: plain text the query parser
    passes through unchanged, so the query embeds exactly like the memory."""
    return " ".join("w%s" % uuid.uuid4().hex[:10] for _ in range(n))


def inputs_of(request):
    """The texts of one recorded /v1/embeddings request."""
    body = request.get("body")
    inp = body.get("input") if isinstance(body, dict) else None
    if isinstance(inp, str):
        return [inp]
    if isinstance(inp, list):
        return [t for t in inp if isinstance(t, str)]
    return []


class EmbedProviderCase(harness.StubbedTestCase):
    """A server with a remote provider (the stub); no tests of its own."""

    stub_class = harness.OpenAIStub

    @classmethod
    def stub_env(cls, host, port):
        return {"PERSONALOS_EMBED_URL": "http://%s:%d/v1" % (host, port),
                "PERSONALOS_EMBED_MODEL": MODEL,
                "PERSONALOS_EMBED_API_KEY": SECRET}

    def setUp(self):
        super().setUp()
        self.stub.mode("ok")
        # Whatever a test did to the provider, the next one starts healthy.
        self.addCleanup(self.stub.mode, "ok")

    # Polling -------------------------------------------------------------

    def wait_for(self, what, fn, timeout=POLL_TIMEOUT):
        """Call fn every POLL_STEP seconds until it returns something true;
        return that. Fail after timeout seconds with what and fn's last value."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            last = fn()
            if last:
                return last
            if time.monotonic() >= deadline:
                self.fail("%s: not within %.0f s (last: %r)" % (what, timeout, last))
            time.sleep(POLL_STEP)

    # Search --------------------------------------------------------------

    def search(self, token, query, mode, explain=True):
        params = {"query": query, "mode": mode}
        if explain:
            params["explain"] = "1"
        r = self.api.get(SEARCH + "?" + urllib.parse.urlencode(params), token=token)
        self.assertEqual(r.status, 200, "search %r (%s): %d %r"
                         % (query, mode, r.status, r.raw[:500]))
        self.assertIsInstance(r.json, dict, r.raw[:500])
        self.assertEqual(r.json.get("mode"), mode, r.json)
        self.assertIsInstance(r.json.get("memories"), list, r.json)
        return r.json

    def search_ids(self, token, query, mode):
        return [m["id"] for m in self.search(token, query, mode, explain=False)["memories"]]

    def semantic_match(self, token, text, memory_id, mode="semantic"):
        """The hit for memory_id if a search for its exact text finds it by
        meaning (cosine ~ 1), else None."""
        for m in self.search(token, text, mode)["memories"]:
            if m["id"] != memory_id:
                continue
            sem = (m.get("explain") or {}).get("semantic")
            if sem and sem.get("cosine", 0) >= SAME_TEXT_COSINE:
                return m
        return None

    def wait_semantic(self, token, text, memory_id, what, timeout=POLL_TIMEOUT):
        return self.wait_for(
            "%s: semantic search for its exact text finds memory %s" % (what, memory_id),
            lambda: self.semantic_match(token, text, memory_id), timeout)

    # Metrics and the stub ------------------------------------------------

    def metrics(self):
        r = self.api.get("/metrics")
        self.assertEqual(r.status, 200, r.raw[:300])
        return harness.parse_metrics(r.raw.decode("utf-8"))

    def metric(self, name):
        values = self.metrics().get(name)
        self.assertTrue(values, "/metrics has no %s" % name)
        return sum(v for _, v in values)

    def sent_texts(self):
        """Every text the server sent the provider to embed."""
        out = []
        for q in self.stub.embedding_requests():
            out.extend(inputs_of(q))
        return out

    def wait_sent(self, text, what):
        return self.wait_for("%s: the provider was asked to embed %r" % (what, text),
                             lambda: text in self.sent_texts())

    def update_content(self, token, memory_id, content):
        r = self.api.put("/api/memories/" + memory_id, {"content": content}, token=token)
        self.assertEqual(r.status, 200, "update: %d %r" % (r.status, r.raw[:500]))
        self.assertEqual(r.json.get("content"), content, r.json)
        return r.json

    def create_stored_while_failing(self, mode):
        """With the provider answering in `mode`, a write still succeeds, is
        keyword-searchable at once, and the failure shows in /metrics; once
        the provider is back the worker embeds it. Returns nothing."""
        u = self.new_user()
        failures = self.metric("personalos_embedding_failures_total")
        self.stub.mode(mode)
        text = words()
        m = self.create_memory(u.token, text)
        self.assertEqual(m["content"], text)
        # Stored: readable and keyword-searchable right away.
        self.assertEqual(self.get_memory(u.token, m["id"])["content"], text)
        first = text.split()[0]
        self.assertEqual(self.search_ids(u.token, first, "keyword"), [m["id"]])
        self.wait_for("personalos_embedding_failures_total grows (provider %s)" % mode,
                      lambda: self.metric("personalos_embedding_failures_total") > failures)
        # Still stored and findable by keyword after the failed job.
        self.assertEqual(self.search_ids(u.token, first, "keyword"), [m["id"]])
        self.assertEqual(self.memory_count(u.token), 1)

        self.stub.mode("ok")
        self.wait_semantic(u.token, text, m["id"], "after the provider recovered from %s"
                           % mode, timeout=RECOVER_TIMEOUT)
        self.assertIn(text, self.sent_texts())


# ---------------------------------------------------------------------------


class EmbedProviderTest(EmbedProviderCase):
    """A healthy provider: writes are embedded in the background."""

    def test_new_memory_keyword_at_once_then_semantic(self):
        u = self.new_user()
        text = words()
        m = self.create_memory(u.token, text)
        # Keyword search needs no vector: it finds the memory at once.
        self.assertEqual(self.search_ids(u.token, text.split()[1], "keyword"), [m["id"]])
        # The worker sends the text to the provider (before any search
        # query could have: no semantic search has run yet) ...
        self.wait_sent(text, "new memory")
        # ... and the vector lands: findable by meaning.
        hit = self.wait_semantic(u.token, text, m["id"], "new memory")
        self.assertEqual(hit["content"], text)

        reqs = [q for q in self.stub.embedding_requests() if text in inputs_of(q)]
        self.assertTrue(reqs, "no /v1/embeddings request carried the memory")
        for q in reqs:
            self.assertEqual(q["body"].get("model"), MODEL, q)
            self.assertEqual(harness.stub_header(q, "Authorization"), "Bearer " + SECRET, q["headers"])
            self.assertIn("json", harness.stub_header(q, "Content-Type") or "", q["headers"])
        self.assertGreaterEqual(self.metric("personalos_embeddings_total"), 1)
        # The vector came from a `search.backfill` job of the user's.
        def job_done():
            r = self.api.get("/api/jobs?kind=search.backfill", token=u.token)
            self.assertEqual(r.status, 200, r.raw[:300])
            return [j for j in r.json["jobs"] if j["state"] == "done"
                    and j["progress"]["done"] >= 1]
        self.assertTrue(harness.poll(job_done), "no finished search.backfill job")

    def test_memory_json_never_carries_the_vector(self):
        u = self.new_user()
        text = words()
        m = self.create_memory(u.token, text)
        self.wait_semantic(u.token, text, m["id"], "new memory")
        got = self.get_memory(u.token, m["id"])
        self.assert_memory_shape(got)
        self.assertEqual(got["content"], text)

    def test_api_key_never_leaks(self):
        u = self.new_user()
        # A success, then failures of several kinds, so that every path that
        # might log or report the provider's answer has run.
        text = words()
        m = self.create_memory(u.token, text)
        self.wait_semantic(u.token, text, m["id"], "new memory")
        for mode in ("unauthorized", "down", "garbage"):
            failures = self.metric("personalos_embedding_failures_total")
            self.stub.mode(mode)
            self.create_memory(u.token, words())
            self.wait_for("an embedding failure is counted (provider %s)" % mode,
                          lambda: self.metric("personalos_embedding_failures_total")
                          > failures)
            self.search(u.token, words(2), "hybrid")
        self.stub.mode("ok")

        answers = {
            "GET /api/auth/me": self.api.get("/api/auth/me", token=u.token),
            "GET /metrics": self.api.get("/metrics"),
            "GET /health": self.api.get("/health"),
            "GET /api/memories": self.api.get("/api/memories", token=u.token),
            "GET /api/memories/{id}": self.api.get("/api/memories/" + m["id"], token=u.token),
            "search": self.api.get(SEARCH + "?" + urllib.parse.urlencode(
                {"query": text, "mode": "hybrid", "explain": "1"}), token=u.token),
        }
        for what, r in answers.items():
            with self.subTest(answer=what):
                self.assertEqual(r.status, 200, r.raw[:300])
                self.assertNotIn(SECRET.encode(), r.raw)
                for v in r.headers.values():
                    self.assertNotIn(SECRET, v)
        # The whole log, not only its tail.
        with open(self.server.stderr_path, "rb") as f:
            log = f.read()
        with open(self.server.stdout_path, "rb") as f:
            log += f.read()
        self.assertNotIn(SECRET.encode(), log)
        # Sanity: the key did reach the provider, so it was configured.
        self.assertTrue(any(harness.stub_header(q, "Authorization") == "Bearer " + SECRET
                            for q in self.stub.embedding_requests()))

    def test_content_update_reembeds(self):
        u = self.new_user()
        old = words()
        m = self.create_memory(u.token, old)
        self.wait_semantic(u.token, old, m["id"], "new memory")
        new = words()
        self.update_content(u.token, m["id"], new)
        # The keyword index follows at once.
        self.assertEqual(self.search_ids(u.token, new.split()[0], "keyword"), [m["id"]])
        self.assertEqual(self.search_ids(u.token, old.split()[0], "keyword"), [])
        # The worker embeds the new text (sent before any query for it) ...
        self.wait_sent(new, "edited memory")
        # ... and the new vector replaces the old one.
        self.wait_semantic(u.token, new, m["id"], "edited memory")
        self.assertIsNone(self.semantic_match(u.token, old, m["id"]),
                          "the old text's vector still finds the edited memory")

    def test_update_while_old_text_is_being_embedded(self):
        # The worker read the old text and is waiting on the provider when
        # the content changes: the vector that comes back is for text the
        # memory no longer has and must not stand as its vector — the new
        # text must be embedded too.
        u = self.new_user()
        warm = words()
        w = self.create_memory(u.token, warm)
        self.wait_semantic(u.token, warm, w["id"], "warm-up memory")  # dimension known
        self.stub.mode("slow", seconds=3, count=1)
        old = words()
        m = self.create_memory(u.token, old)
        self.wait_sent(old, "new memory")  # the worker holds the old text now
        new = words()
        self.update_content(u.token, m["id"], new)
        deadline = time.monotonic() + POLL_TIMEOUT
        while not self.semantic_match(u.token, new, m["id"]):
            if time.monotonic() >= deadline:
                stale = self.semantic_match(u.token, old, m["id"])
                self.fail("memory edited while its old text was being embedded: its "
                          "new text is not found by meaning within %.0f s; %s"
                          % (POLL_TIMEOUT, "it holds the OLD text's vector (cosine %.3f "
                             "for the old text)" % stale["explain"]["semantic"]["cosine"]
                             if stale else "it has no vector of the old text either"))
            time.sleep(POLL_STEP)
        self.assertIsNone(self.semantic_match(u.token, old, m["id"]),
                          "the old text's vector still finds the edited memory")

    def test_deleted_memory_is_not_found_by_meaning(self):
        u = self.new_user()
        text = words()
        m = self.create_memory(u.token, text)
        self.wait_semantic(u.token, text, m["id"], "new memory")
        r = self.api.delete("/api/memories/" + m["id"], token=u.token)
        self.assertIn(r.status, (200, 204), r.raw[:300])
        self.assertNotIn(m["id"], self.search_ids(u.token, text, "semantic"))
        self.assertNotIn(m["id"], self.search_ids(u.token, text, "hybrid"))


class EmbedProviderFailureTest(EmbedProviderCase):
    """A provider that is down or answers garbage: nothing is lost, search
    keeps working, and the worker catches up once the provider is back."""

    def test_provider_down_write_succeeds_then_recovers(self):
        self.create_stored_while_failing("down")

    def test_garbage_answers_write_succeeds_then_recovers(self):
        self.create_stored_while_failing("garbage")

    def test_provider_disconnects_write_succeeds_then_recovers(self):
        self.create_stored_while_failing("disconnect")

    def test_provider_up_gauge_follows_the_provider(self):
        # personalos_embedding_provider_up: "1 when the last embedding
        # attempt succeeded" — 0 while failing, 1 again after a success.
        def up():
            return self.metric("personalos_embedding_provider_up")
        u = self.new_user()
        failures = self.metric("personalos_embedding_failures_total")
        self.stub.mode("down")
        self.create_memory(u.token, words())
        self.wait_for("an embedding failure is counted",
                      lambda: self.metric("personalos_embedding_failures_total") > failures)
        self.assertEqual(up(), 0)
        self.stub.mode("ok")
        text = words()
        m = self.create_memory(u.token, text)
        self.wait_semantic(u.token, text, m["id"], "memory written after recovery",
                           timeout=RECOVER_TIMEOUT)
        deadline = time.monotonic() + POLL_TIMEOUT
        while up() != 1:
            if time.monotonic() >= deadline:
                self.fail("personalos_embedding_provider_up is still %r %.0f s after "
                          "a successful embedding (the memory is found by meaning)"
                          % (up(), POLL_TIMEOUT))
            time.sleep(POLL_STEP)

    def embedded_memory(self):
        """A fresh user with one memory the provider has embedded."""
        u = self.new_user()
        text = words()
        m = self.create_memory(u.token, text)
        self.wait_semantic(u.token, text, m["id"], "new memory", timeout=RECOVER_TIMEOUT)
        return u, text, m

    def test_search_while_provider_down_answers_by_keyword(self):
        u, text, m = self.embedded_memory()
        self.stub.mode("down")
        before = self.metric("personalos_query_embedding_failures_total")
        query = text.split()[0]
        body = self.search(u.token, query, "hybrid")
        self.assertEqual([x["id"] for x in body["memories"]], [m["id"]])
        self.assertIsNotNone(body["memories"][0]["explain"]["keyword"])
        # Semantic mode answers too (200). Both searches count as query
        # embeddings that failed.
        self.search(u.token, words(2), "semantic")
        self.assertGreaterEqual(
            self.metric("personalos_query_embedding_failures_total"), before + 2)

    def test_semantic_search_while_provider_down_falls_back_to_keyword(self):
        # /metrics counts such searches as ones that "fell back to keyword
        # only": a semantic search must then find the memory by its words.
        u, text, m = self.embedded_memory()
        self.stub.mode("down")
        before = self.metric("personalos_query_embedding_failures_total")
        body = self.search(u.token, text.split()[0], "semantic")
        self.assertGreater(self.metric("personalos_query_embedding_failures_total"), before)
        self.assertEqual([x["id"] for x in body["memories"]], [m["id"]],
                         "semantic search with the provider down found nothing "
                         "instead of falling back to keyword")

    def test_search_after_provider_recovers_uses_meaning_again(self):
        # A result computed while the query could not be embedded is a
        # degraded one: it must not be served from the result cache once
        # the provider answers again.
        u, text, m = self.embedded_memory()
        # The same words with double spaces: a query string never searched
        # before (the cache is keyed by it), embedded as the same text.
        query = "  ".join(text.split())
        self.stub.mode("down")
        for mode in ("semantic", "hybrid"):
            self.search(u.token, query, mode)
        self.stub.mode("ok")
        for mode in ("semantic", "hybrid"):
            with self.subTest(mode=mode):
                self.assertIsNotNone(
                    self.semantic_match(u.token, query, m["id"], mode=mode),
                    "the same %s search after the provider recovered is still "
                    "the keyword-only answer from while it was down" % mode)

    def test_write_with_provider_down_does_not_wait_on_it(self):
        # Many writes while every provider call fails: each is answered 201
        # (the request path never calls the provider) and all are embedded
        # once it is back.
        u = self.new_user()
        self.stub.mode("down")
        made = {}
        for _ in range(5):
            text = words()
            made[text] = self.create_memory(u.token, text)["id"]
        r = self.api.post("/api/memories/bulk",
                          {"memories": [{"content": words()} for _ in range(3)]},
                          token=u.token)
        self.assertEqual(r.status, 201, r.raw[:500])
        self.assertEqual(self.memory_count(u.token), 8)
        self.stub.mode("ok")
        for text, mid in made.items():
            self.wait_semantic(u.token, text, mid, "memory written while down",
                               timeout=RECOVER_TIMEOUT)


class EmbedProviderRateLimitTest(EmbedProviderCase):
    """A provider that asks us to wait (HTTP 429 with Retry-After): "job
    retried no sooner than asked" (docs/EMBEDDINGS-PROVIDER.md, Failures).
    A class of its own: a server that honours the wait stays quiet for the
    rest of its life here."""

    QUIET = 5.0  # seconds watched, well inside the 60 s the provider asks for

    def test_retry_after_is_honoured_when_writes_wake_the_worker(self):
        u = self.new_user()
        warm = words()
        w = self.create_memory(u.token, warm)
        self.wait_semantic(u.token, warm, w["id"], "warm-up memory")  # dimension known
        self.stub.mode("rate_limited", retry_after="60")
        first = words()
        self.create_memory(u.token, first)
        self.wait_sent(first, "memory written while rate-limited")
        asked = len(self.stub.embedding_requests())
        # More writes while the provider has asked for 60 s of quiet: they
        # are stored (201), and their jobs wait like the first one.
        for _ in range(3):
            self.create_memory(u.token, words())
        deadline = time.monotonic() + self.QUIET
        while time.monotonic() < deadline:
            sent = self.stub.embedding_requests()
            self.assertEqual(
                len(sent), asked,
                "the provider answered 429 with Retry-After: 60, yet %d more "
                "/v1/embeddings request(s) came within %.0f s (after %.2f s)"
                % (len(sent) - asked, self.QUIET,
                   sent[-1]["time"] - sent[asked - 1]["time"]))
            time.sleep(POLL_STEP)
        self.assertEqual(self.memory_count(u.token), 5)


class PrivacyTierTest(EmbedProviderCase):
    """A provider that is not on this machine (the stub on the outward
    address): only `cloud` users' text is sent to it; the others stay
    keyword-searchable and their text never leaves."""

    @classmethod
    def setUpClass(cls):
        cls.stub_host = harness.outward_ipv4()
        if not cls.stub_host:
            raise unittest.SkipTest("no non-loopback IPv4 address to reach the stand-in on")
        super().setUpClass()

    def test_only_cloud_users_text_leaves(self):
        local, cloud = self.new_user(), self.new_user()
        r = self.api.patch("/api/auth/me", {"privacy_tier": "cloud"}, token=cloud.token)
        self.assertEqual(r.status, 200, r.raw[:200])
        me = self.me(local.token)
        self.assertEqual(me["privacy"]["providers"]["embeddings"], "remote")
        self.assertFalse(me["privacy"]["leaves_machine"]["embeddings_to_remote_provider"])
        self.assertTrue(self.me(cloud.token)["privacy"]["leaves_machine"]
                        ["embeddings_to_remote_provider"])
        private = "private " + words()
        shared = "shared " + words()
        mine = self.create_memory(local.token, private)
        theirs = self.create_memory(cloud.token, shared)
        # The worker embeds in seq order: once the later cloud memory is
        # sent, the local one has been passed over.
        self.wait_sent(shared, "the cloud user's memory")
        self.wait_semantic(cloud.token, shared, theirs["id"], "the cloud user's memory")
        self.assertNotIn(private, self.sent_texts())
        # The local user's searches never reach the provider either, and
        # still find their memory by keyword.
        ids = self.search_ids(local.token, private, "hybrid")
        self.assertIn(mine["id"], ids)
        self.assertFalse(any(private in t for t in self.sent_texts()))


if __name__ == "__main__":
    unittest.main()
