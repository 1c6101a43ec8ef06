"""One user can never see, change or link to another user's memories."""

import os
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


class IsolationTest(harness.ApiTestCase):

    def setUp(self):
        super().setUp()
        self.a = self.new_user()
        self.b = self.new_user()
        self.word = "zebra" + uuid.uuid4().hex[:10]
        self.secret = self.create_memory(self.a.token, "A's secret about %s" % self.word,
                                         tags=["private-" + self.word], source="diary")

    def assert_secret_untouched(self):
        m = self.get_memory(self.a.token, self.secret["id"])
        self.assertEqual(m["content"], self.secret["content"])
        self.assertEqual(m["tags"], self.secret["tags"])
        self.assertEqual(m["related_memory_ids"], [])
        self.assertEqual(self.memory_count(self.a.token), 1)

    def test_other_users_memory_is_404(self):
        path = "/api/memories/" + self.secret["id"]
        self.assert_error(self.api.get(path, token=self.b.token), 404, "not_found")
        self.assert_error(self.api.put(path, {"content": "pwned"}, token=self.b.token),
                          404, "not_found")
        self.assert_error(self.api.delete(path, token=self.b.token), 404, "not_found")
        # The same answer as for an id that does not exist at all.
        missing = self.api.get("/api/memories/" + str(uuid.uuid4()), token=self.b.token)
        self.assert_error(missing, 404, "not_found")
        self.assert_secret_untouched()
        # B's failed GET did not count as an access of A's memory.
        self.assertEqual(self.get_memory(self.a.token, self.secret["id"])["access_count"], 2)

    def test_list_shows_only_own_memories(self):
        mine = self.create_memory(self.b.token, "B's own note")
        listing = self.list_memories(self.b.token)
        self.assertEqual([m["id"] for m in listing["memories"]], [mine["id"]])
        self.assertEqual(listing["total"], 1)
        for query in ("source=diary", "tag=private-" + self.word, "sort=oldest",
                      "limit=200", "after=2000-01-01"):
            with self.subTest(query=query):
                ids = [m["id"] for m in self.list_memories(self.b.token, query)["memories"]]
                self.assertNotIn(self.secret["id"], ids)
        self.assertEqual(self.me(self.b.token)["total_memories"], 1)
        self.assertEqual(self.me(self.a.token)["total_memories"], 1)

    def test_cannot_link_to_other_users_memory(self):
        r = self.api.post("/api/memories", {"content": "x", "parent_memory_id": self.secret["id"]},
                          token=self.b.token)
        self.assert_error(r, 422, "invalid_field", field="parent_memory_id")
        r = self.api.post("/api/memories",
                          {"content": "x", "related_memory_ids": [self.secret["id"]]},
                          token=self.b.token)
        self.assert_error(r, 422, "invalid_field", field="related_memory_ids")
        own = self.create_memory(self.b.token, "own")
        r = self.api.put("/api/memories/" + own["id"],
                         {"related_memory_ids": [self.secret["id"]]}, token=self.b.token)
        self.assert_error(r, 422, "invalid_field", field="related_memory_ids")
        r = self.api.put("/api/memories/" + own["id"],
                         {"parent_memory_id": self.secret["id"]}, token=self.b.token)
        self.assert_error(r, 422, "invalid_field", field="parent_memory_id")
        r = self.api.post("/api/memories/bulk",
                          {"memories": [{"content": "ok"},
                                        {"content": "x", "related_memory_ids": [self.secret["id"]]}]},
                          token=self.b.token)
        self.assert_error(r, 422, "invalid_field", field="related_memory_ids", index=1)
        self.assertEqual(self.memory_count(self.b.token), 1)
        self.assert_secret_untouched()

    def test_search_does_not_leak(self):
        r = self.api.get("/api/memories/search?mode=keyword&query=" + self.word, token=self.a.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertIn(self.secret["id"], [m["id"] for m in r.json["memories"]])
        for mode in ("keyword", "semantic", "hybrid"):
            with self.subTest(mode=mode):
                r = self.api.get("/api/memories/search?mode=%s&query=%s" % (mode, self.word),
                                 token=self.b.token)
                self.assertEqual(r.status, 200, r.raw[:300])
                self.assertNotIn(self.secret["id"], [m["id"] for m in r.json["memories"]])
                for m in r.json["memories"]:
                    self.assertEqual(m["user_id"], self.b.id)

    def test_stats_count_only_own_memories(self):
        self.create_memory(self.b.token, "b1")
        r = self.api.get("/api/memories/stats", token=self.b.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(r.json["total"], 1)
        self.assertNotIn("diary", r.json.get("by_source", {}))
        r = self.api.get("/api/memories/stats", token=self.a.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(r.json["total"], 1)

    def test_graph_does_not_leak(self):
        r = self.api.get("/api/memories/graph?root=" + self.secret["id"], token=self.b.token)
        if r.status == 200:
            node_ids = [n["id"] for n in r.json.get("nodes", [])]
            self.assertNotIn(self.secret["id"], node_ids)
        else:
            self.assert_error(r, 404, "not_found")
        r = self.api.get("/api/memories/graph", token=self.b.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertNotIn(self.secret["id"], [n["id"] for n in r.json.get("nodes", [])])


if __name__ == "__main__":
    unittest.main()
