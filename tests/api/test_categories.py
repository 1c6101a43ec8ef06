"""GET /api/memories/categories (docs/LIFECYCLE.md, "Categories"): MemU's
categories for a `cloud` user when MemU is configured (the stand-in
tests/stubs/memu_stub.py), the local ones (tags) otherwise, and when MemU
fails the local ones with memu_unavailable."""

import os
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

KEY = "test-memu-key"


class LocalCategoriesTest(harness.ApiTestCase):

    def test_tags_are_the_local_categories(self):
        u = self.new_user()
        for tags in (["work"], ["work", "home"], ["garden"]):
            self.create_memory(u.token, tags=tags)
        r = self.api.get("/api/memories/categories", token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(r.json["source"], "local")
        self.assertNotIn("memu_unavailable", r.json)
        cats = {c["name"]: c["count"] for c in r.json["categories"]}
        self.assertEqual(cats, {"work": 2, "home": 1, "garden": 1})
        self.assertEqual(r.json["categories"][0]["name"], "work")
        other = self.new_user()
        r = self.api.get("/api/memories/categories", token=other.token)
        self.assertEqual(r.json["categories"], [])
        r = self.api.get("/api/memories/categories")
        harness.check_error(self, r, 401)


class MemuCategoriesTest(harness.StubbedTestCase):
    stub_class = harness.MemuStub

    @classmethod
    def stub_env(cls, host, port):
        return {"MEMUU_API_KEY": KEY, "MEMUU_BASE_URL": "http://%s:%d" % (host, port),
                "MEMUU_AGENT_ID": "pos-test-agent"}

    def setUp(self):
        super().setUp()
        self.stub.mode("ok")
        self.addCleanup(self.stub.mode, "ok")

    def categories_asked(self, user_id):
        return [q for q in self.stub.requests("/api/v3/memory/categories")
                if (q.get("body") or {}).get("user_id") == user_id]

    def test_cloud_user_gets_memu_categories_and_local_ones_when_memu_fails(self):
        u = self.new_user()
        r = self.api.patch("/api/auth/me", {"privacy_tier": "cloud"}, token=u.token)
        self.assertEqual(r.status, 200, r.raw[:200])
        self.create_memory(u.token, "local note", tags=["boats"])
        w = "zq" + uuid.uuid4().hex[:8]
        r = self.api.post("/api/chat/message",
                          {"message": "My boat is called %s and it is blue." % w}, token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])

        def memu_has_some():
            r = self.api.get("/api/memories/categories", token=u.token)
            self.assertEqual(r.status, 200, r.raw[:300])
            return r.json if r.json["source"] == "memu" and r.json["categories"] else None
        got = harness.poll(memu_has_some, timeout=30, step=0.5)
        self.assertIsNotNone(got, "MemU's categories never came back")
        self.assertTrue(all(isinstance(c["name"], str) and c["name"] for c in got["categories"]))
        self.assertTrue(self.categories_asked(u.id))
        # MemU down: the local categories, marked (after a failure MemU is
        # left alone for a while, by chats and by this alike)
        v = self.new_user()
        self.api.patch("/api/auth/me", {"privacy_tier": "cloud"}, token=v.token)
        self.create_memory(v.token, "x", tags=["boats"])
        self.stub.mode("down")
        r = self.api.get("/api/memories/categories", token=v.token)
        self.stub.mode("ok")
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(r.json["source"], "local")
        self.assertIs(r.json["memu_unavailable"], True)
        self.assertEqual(r.json["categories"], [{"name": "boats", "count": 1, "kind": "tag"}])
        self.assertTrue(self.categories_asked(v.id))

    def test_local_tier_never_asks_memu(self):
        u = self.new_user()
        self.create_memory(u.token, "x", tags=["private"])
        r = self.api.get("/api/memories/categories", token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(r.json["source"], "local")
        self.assertNotIn("memu_unavailable", r.json)
        self.assertEqual(self.categories_asked(u.id), [])


if __name__ == "__main__":
    unittest.main()
