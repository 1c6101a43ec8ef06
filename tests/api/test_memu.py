"""MemU Cloud integration (docs/MEMU.md, docs/ASSISTANT.md) against the
local stand-in tests/stubs/memu_stub.py: conversations of `cloud` users are
memorized at MemU through the job queue, chat retrieval merges MemU's items
(marked by origin), deleting an account deletes its MemU memories, and MemU
being down never blocks local work."""

import os
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

KEY = "test-memu-key"



class MemuTest(harness.StubbedTestCase):
    stub_class = harness.MemuStub

    @classmethod
    def stub_env(cls, host, port):
        return {"MEMUU_API_KEY": KEY,  # MemU's own name for it
                "MEMUU_BASE_URL": "http://%s:%d" % (host, port),
                "MEMUU_AGENT_ID": "pos-test-agent"}

    def setUp(self):
        super().setUp()
        self.stub.mode("ok")
        self.addCleanup(self.stub.mode, "ok")

    def cloud_user(self):
        u = self.new_user()
        r = self.api.patch("/api/auth/me", {"privacy_tier": "cloud"}, token=u.token)
        self.assertEqual(r.status, 200, r.raw[:200])
        return u

    def memorized_for(self, user_id):
        return [q for q in self.stub.requests("/api/v3/memory/memorize")
                if (q.get("body") or {}).get("user_id") == user_id]

    def test_conversations_go_to_memu_and_come_back_in_chat(self):
        u = self.cloud_user()
        w = "zq" + uuid.uuid4().hex[:8]
        me = self.me(u.token)
        self.assertTrue(me["privacy"]["leaves_machine"]["memu"])
        r = self.api.post("/api/chat/message",
                          {"message": "My boat is called %s and it is blue." % w}, token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        sent = harness.poll(lambda: self.memorized_for(u.id))
        self.assertTrue(sent, "the exchange never reached MemU")
        body = sent[0]["body"]
        self.assertEqual(body["agent_id"], "pos-test-agent")
        self.assertEqual(harness.stub_header(sent[0], "Authorization"), "Bearer " + KEY)
        text = body.get("conversation_text") or str(body.get("conversation"))
        self.assertIn(w, text)
        # The job follows MemU's task until it succeeds (the stand-in's
        # tasks are PENDING at first, SUCCESS from the first status call).
        polled = harness.poll(lambda: [q for q in self.stub.requests()
                               if q.get("path", "").startswith(
                                   "/api/v3/memory/memorize/status/")])
        self.assertTrue(polled, "the task's status was never asked")

        # A later question finds MemU's item next to the local memories.
        def with_memu():
            r = self.api.post("/api/chat/message",
                              {"message": "What is my boat %s called?" % w}, token=u.token)
            self.assertEqual(r.status, 200, r.raw[:300])
            memu = [s for s in r.json.get("sources", []) if s["origin"] == "memu"]
            return (r.json, memu) if memu else None
        got = harness.poll(with_memu, timeout=30, step=0.5)
        self.assertIsNotNone(got, "chat never merged a MemU item")
        answer, memu = got
        self.assertTrue(any(w in (s.get("text") or "") for s in memu))
        self.assertGreaterEqual(answer["context_size"], len(answer["memories_used"]) + len(memu))
        retrieve = self.stub.requests("/api/v3/memory/retrieve")
        self.assertTrue(any((q.get("body") or {}).get("user_id") == u.id for q in retrieve))

    def test_local_tier_never_reaches_memu(self):
        u = self.new_user()  # local by default
        self.assertFalse(self.me(u.token)["privacy"]["leaves_machine"]["memu"])
        r = self.api.post("/api/chat/message", {"message": "a secret between us"},
                          token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        # the local memorize job runs; nothing of this user goes to MemU
        mid = r.json["memory_id"]
        harness.poll(lambda: self.api.get("/api/memories?source=memorize", token=u.token).json["total"]
             or self.api.get("/api/memories/" + mid, token=u.token).status == 200, timeout=5)
        for q in self.stub.requests():
            self.assertNotEqual((q.get("body") or {}).get("user_id"), u.id)

    def test_memu_down_does_not_block_chat_and_is_retried(self):
        u = self.cloud_user()
        self.stub.mode("down")
        r = self.api.post("/api/chat/message", {"message": "remember the red kite"},
                          token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual([s for s in r.json["sources"] if s["origin"] == "memu"], [])
        self.stub.mode("ok")
        sent = harness.poll(lambda: [q for q in self.memorized_for(u.id)
                             if "red kite" in str(q.get("body"))])
        self.assertTrue(sent, "the memorize job was not retried after MemU came back")

    def test_deleting_the_account_deletes_memu_memories(self):
        u = self.cloud_user()
        r = self.api.request("DELETE", "/api/auth/me", {"password": u.password}, token=u.token)
        self.assertEqual(r.status, 204, r.raw[:300])
        deleted = harness.poll(lambda: [q for q in self.stub.requests("/api/v3/memory/delete")
                                if (q.get("body") or {}).get("user_id") == u.id])
        self.assertTrue(deleted, "MemU was never asked to delete the user's memories")
        self.assertEqual(deleted[0]["body"]["agent_id"], "pos-test-agent")


class MemuEveryMemoryTest(harness.StubbedTestCase):
    """The full flow (docs/MEMU.md, "Every memory goes to MemU"): every new
    memory of a cloud-tier user, from any source, is memorized through the
    batched `memu.memorize` job; a deletion makes MemU forget and start
    over; search fuses MemU's retrieval as a third list (docs/SEARCH.md)."""
    stub_class = harness.MemuStub

    @classmethod
    def stub_env(cls, host, port):
        return {"MEMU_API_KEY": KEY, "MEMUU_BASE_URL": "http://%s:%d" % (host, port),
                "PERSONALOS_MEMU_SEARCH_DEADLINE_MS": "2000"}

    def setUp(self):
        super().setUp()
        self.stub.mode("ok")
        self.addCleanup(self.stub.mode, "ok")

    _users = {}

    def cloud_user(self, shared=True):
        """A cloud-tier user; one shared by the tests (their words are
        unique) unless `shared` is false. Users are slow to make."""
        if shared and "cloud" in self._users:
            return self._users["cloud"]
        u = self.new_user()
        r = self.api.patch("/api/auth/me", {"privacy_tier": "cloud"}, token=u.token)
        self.assertEqual(r.status, 200, r.raw[:200])
        if shared:
            type(self)._users["cloud"] = u
        return u

    def local_user(self):
        if "local" not in self._users:
            type(self)._users["local"] = self.new_user()
        return self._users["local"]

    def sent_text(self, user_id, after=0):
        """Everything memorized for the user (after the index-th request)."""
        return "\n".join((q.get("body") or {}).get("conversation_text") or ""
                         for q in self.stub.requests("/api/v3/memory/memorize")[after:]
                         if (q.get("body") or {}).get("user_id") == user_id)

    def held(self, user_id):
        """What MemU holds for the user (memorize calls that succeeded,
        minus deletions), as one text."""
        r = self.stub.api.get("/_stub/memories?user_id=" + user_id)
        self.assertEqual(r.status, 200, r.raw[:200])
        return "\n".join(r.json)

    def create(self, u, content, **kw):
        body = {"content": content}
        body.update(kw)
        r = self.api.post("/api/memories", body, token=u.token)
        self.assertEqual(r.status, 201, r.raw[:200])
        return r.json

    def test_every_new_memory_from_any_source_is_memorized_in_batches(self):
        u = self.cloud_user()
        w = "zq" + uuid.uuid4().hex[:8]
        self.create(u, "single %s note\nwith two lines" % w)
        bulk = [{"content": "bulk %s number %d" % (w, i)} for i in range(5)]
        r = self.api.post("/api/memories/bulk", {"memories": bulk}, token=u.token)
        self.assertIn(r.status, (200, 201), r.raw[:200])
        # an import (a job of the import service) and an uploaded file
        r = self.api.request("POST", "/api/import?format=csv",
                             raw=("content,type\nimported %s row,note\n" % w).encode(),
                             token=u.token, headers={"Content-Type": "text/csv"})
        self.assertEqual(r.status, 202, r.raw[:200])
        r = self.api.request("POST", "/api/files?name=upload-%s.txt" % w, raw=b"plain words",
                             token=u.token, headers={"Content-Type": "text/plain"})
        self.assertEqual(r.status, 201, r.raw[:200])
        want = ["bulk %s number %d" % (w, i) for i in range(5)] + [
            "single %s note with two lines" % w, "imported %s row" % w, "upload-%s.txt" % w]
        got = harness.poll(lambda: all(x in self.held(u.id) for x in want), timeout=20)
        self.assertTrue(got, "not every memory reached MemU: %r" % self.sent_text(u.id))
        # batched: fewer memorize calls than memories, each memory once
        calls = [q for q in self.stub.requests("/api/v3/memory/memorize")
                 if (q.get("body") or {}).get("user_id") == u.id]
        self.assertLess(len(calls), 8)
        self.assertEqual(self.sent_text(u.id).count("bulk %s number 3" % w), 1)
        jobs = self.api.get("/api/jobs?kind=memu.memorize", token=u.token)
        self.assertEqual(jobs.status, 200, jobs.raw[:200])
        self.assertTrue(any(j["state"] == "done" for j in jobs.json["jobs"]), jobs.json)

    def test_a_slow_memu_gets_smaller_batches(self):
        # backpressure (docs/MEMU.md): a memorize call slower than 2 s
        # halves the next batch; fast calls grow it back
        u = self.cloud_user(shared=False)
        w = "zq" + uuid.uuid4().hex[:8]
        self.stub.mode("slow", seconds=2.3, count=1)
        self.addCleanup(self.stub.mode, "ok")
        bulk = [{"content": "paced %s number %d" % (w, i)} for i in range(40)]
        r = self.api.post("/api/memories/bulk", {"memories": bulk}, token=u.token)
        self.assertEqual(r.status, 201, r.raw[:200])
        self.assertTrue(harness.poll(lambda: all("paced %s number %d" % (w, i) in self.held(u.id)
                                                 for i in range(40)), timeout=30),
                        "not every memory reached MemU: %r" % self.sent_text(u.id))
        lines = [len(((q.get("body") or {}).get("conversation_text") or "").splitlines())
                 for q in self.stub.requests("/api/v3/memory/memorize")
                 if (q.get("body") or {}).get("user_id") == u.id]
        self.assertEqual(sum(lines), 40, lines)
        self.assertGreaterEqual(len(lines), 3, lines)
        # the slow first call's successor is smaller, though more was left
        self.assertLess(lines[1], lines[0], lines)
        self.assertGreater(max(lines[2:]), lines[1], lines)

    def test_local_tier_memories_never_reach_memu(self):
        u = self.local_user()
        w = "zq" + uuid.uuid4().hex[:8]
        self.create(u, "private %s" % w)
        c = self.cloud_user()  # a later cloud write proves the job ran
        self.create(c, "marker for %s" % w)
        self.assertTrue(harness.poll(lambda: w in self.sent_text(c.id), timeout=20))
        self.assertNotIn(w, str(self.stub.requests()).replace("marker for " + w, ""))

    def test_rate_limit_and_rejected_key_are_retried(self):
        u = self.cloud_user()
        for mode, code in (("rate_limited", "429"), ("unauthorized", "401")):
            w = "zq" + uuid.uuid4().hex[:8]
            self.stub.mode(mode)
            self.create(u, "%s %s" % (mode, w))

            def failed_attempt():
                r = self.api.get("/api/jobs?kind=memu.memorize", token=u.token)
                return [j for j in r.json["jobs"]
                        if j["state"] == "queued" and code in (j.get("last_error") or "")]
            job = harness.poll(failed_attempt, timeout=20)
            self.assertTrue(job, "no retry queued after HTTP %s" % code)
            self.assertNotIn(w, self.held(u.id))
            self.stub.mode("ok")
            self.assertTrue(harness.poll(lambda: w in self.held(u.id), timeout=20),
                            "the upload was not retried after HTTP %s" % code)

    def test_deleting_a_memory_deletes_it_at_memu(self):
        u = self.cloud_user()
        keep, gone = "zq" + uuid.uuid4().hex[:8], "zq" + uuid.uuid4().hex[:8]
        self.create(u, "keep %s" % keep)
        m = self.create(u, "forget %s" % gone)
        self.assertTrue(harness.poll(lambda: gone in self.sent_text(u.id), timeout=20))
        mark = len(self.stub.requests("/api/v3/memory/memorize"))
        r = self.api.request("DELETE", "/api/memories/" + m["id"], token=u.token)
        self.assertEqual(r.status, 204, r.raw[:200])
        deleted = harness.poll(lambda: [q for q in self.stub.requests("/api/v3/memory/delete")
                                        if (q.get("body") or {}).get("user_id") == u.id],
                               timeout=20)
        self.assertTrue(deleted, "MemU was never asked to forget the deleted memory")
        # then what is left goes up again, without the deleted memory
        self.assertTrue(harness.poll(lambda: keep in self.sent_text(u.id, mark), timeout=20))
        self.assertNotIn(gone, self.sent_text(u.id, mark))
        self.assertTrue(harness.poll(lambda: keep in self.held(u.id), timeout=20))
        self.assertNotIn(gone, self.held(u.id))

    def test_search_fuses_memu_results_of_the_users_own_memories_only(self):
        u, other = self.cloud_user(), self.cloud_user(shared=False)
        mine = self.create(u, "the lighthouse keeper painted the door teal")
        theirs = self.create(other, "the harbour master painted the boat crimson")
        w = "zq" + uuid.uuid4().hex[:8]
        self.create(u, "sync marker %s" % w)
        self.assertTrue(harness.poll(lambda: w in self.sent_text(u.id) and
                                     "harbour" in self.sent_text(other.id), timeout=20))
        # MemU answers with both texts for a query no local list matches
        items = [{"id": "x1", "content": "the harbour master painted the boat crimson",
                  "score": 0.95},
                 {"id": "x2", "content": "the lighthouse keeper painted the door teal",
                  "score": 0.9}]
        self.stub.mode("fixed", count=1, body={"items": items, "categories": []})
        r = self.api.get("/api/memories/search?q=qqunmatchedword&explain=true", token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(r.json["memu"]["status"], "used", r.json)
        ids = [m["id"] for m in r.json["memories"]]
        self.assertIn(mine["id"], ids)          # found by MemU alone
        self.assertNotIn(theirs["id"], ids)     # never another user's
        hit = [m for m in r.json["memories"] if m["id"] == mine["id"]][0]
        self.assertEqual(hit["explain"]["memu"]["rank"], 1)
        self.assertEqual(r.json["memu"]["hits"], 1)
        # keyword mode leaves MemU out and says so; local users never see it
        r = self.api.get("/api/memories/search?q=lighthouse&mode=keyword", token=u.token)
        self.assertEqual(r.json["memu"], {"status": "skipped", "reason": "keyword_mode",
                                          "hits": 0})
        r = self.api.get("/api/memories/search?q=lighthouse", token=self.local_user().token)
        self.assertNotIn("memu", r.json)


    def test_slow_or_down_memu_is_skipped(self):
        # A slow MemU never slows search beyond memu_search_deadline_ms: the
        # answer comes from the local lists and says MemU was skipped.
        # (Runs last of the class by name: searches then leave MemU alone
        # for a while.)
        u = self.cloud_user()
        r = self.api.post("/api/memories", {"content": "the walrus sings at dawn"},
                          token=u.token)
        self.assertEqual(r.status, 201, r.raw[:200])
        self.stub.mode("slow", seconds=3)
        self.addCleanup(self.stub.mode, "ok")
        r = self.api.get("/api/memories/search?q=walrus", token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(r.json["memu"]["status"], "skipped", r.json)
        self.assertEqual(r.json["memu"]["reason"], "timeout", r.json)
        self.assertEqual([m["content"] for m in r.json["memories"]], ["the walrus sings at dawn"])
        # after a failure searches leave MemU alone for a while
        self.stub.mode("down")
        r = self.api.get("/api/memories/search?q=walrus", token=u.token)
        self.assertEqual(r.json["memu"]["reason"], "recently_failed", r.json)
        self.assertEqual(len(r.json["memories"]), 1)
        self.stub.mode("ok")


if __name__ == "__main__":
    unittest.main()
