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


if __name__ == "__main__":
    unittest.main()
