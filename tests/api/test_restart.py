"""Data and tokens survive a SIGTERM restart on the same data directory."""

import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


class RestartTest(harness.ApiTestCase):
    """Starts its own servers; ApiTestCase's helpers are reused with self.api."""

    @classmethod
    def setUpClass(cls):
        harness.require_local("restarts the server")
        harness.require_binary()

    @classmethod
    def tearDownClass(cls):
        pass

    def setUp(self):
        self.data_dir = tempfile.mkdtemp(prefix="pos-restart-")
        self.addCleanup(shutil.rmtree, self.data_dir, True)
        self.server = None

    def start(self, env=None):
        server = harness.Server(data_dir=self.data_dir, env=env).start()
        self.server = server
        self.api = harness.Api(server.base_url)
        self.addCleanup(self.api.close)
        return server

    def stop(self):
        self.api.close()
        self.server.stop()  # asserts exit code 0 after SIGTERM
        self.server = None

    def tearDown(self):
        if self.server is not None:
            server, self.server = self.server, None
            self.api.close()
            server.stop()  # still asserts a clean exit

    def test_changed_embedding_model_is_a_backfill_job(self):
        """A restart with another embedding model re-embeds every memory in a
        `search.backfill` job of the jobs service, per user, with progress."""
        self.start()
        u = self.new_user()
        texts = ["the blue heron fishes at dawn", "invoice for the roof repair",
                 "piano lesson moved to thursday"]
        ids = [self.create_memory(u.token, t)["id"] for t in texts]
        r = self.api.get("/api/jobs?kind=search.backfill", token=u.token)
        self.assertEqual((r.status, r.json["jobs"]), (200, []), r.raw[:300])
        self.stop()
        self.start(env={"PERSONALOS_EMBED_DIM": "128"})  # model builtin-...-128

        def done():
            r = self.api.get("/api/jobs?kind=search.backfill", token=u.token)
            self.assertEqual(r.status, 200, r.raw[:300])
            jobs = [j for j in r.json["jobs"] if j["state"] == "done"]
            return jobs[0] if jobs else None
        j = harness.poll(done)
        self.assertIsNotNone(j, "no search.backfill job finished")
        self.assertEqual(j["kind"], "search.backfill")
        self.assertEqual(j["progress"], {"done": 3, "total": 3}, j)
        r = self.api.get("/api/memories/search?q=%s&mode=semantic&explain=1"
                         % "blue%20heron%20fishes%20at%20dawn", token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertIn(ids[0], [m["id"] for m in r.json["memories"]], r.json)

    def test_every_user_gets_a_daily_lifecycle_job(self):
        """The lifecycle schedule is a tick of the jobs service: at start
        every user without one gets a `memory.lifecycle` job queued a day
        ahead, shown at GET /api/jobs/{id}."""
        self.start()
        u = self.new_user()
        self.stop()
        self.start()

        def queued():
            r = self.api.get("/api/jobs?kind=memory.lifecycle", token=u.token)
            self.assertEqual(r.status, 200, r.raw[:300])
            return r.json["jobs"]
        jobs = harness.poll(queued)
        self.assertTrue(jobs, "no memory.lifecycle job was queued")
        self.assertEqual(len(jobs), 1, jobs)
        j = self.api.get("/api/jobs/" + jobs[0]["id"], token=u.token).json
        self.assertEqual((j["kind"], j["state"]), ("memory.lifecycle", "queued"), j)
        self.assertGreater(j["run_after"][:10], j["created_at"][:10], j)  # the next day
        # a restart keeps the one queued run
        self.stop()
        self.start()
        r = self.api.get("/api/jobs?kind=memory.lifecycle", token=u.token)
        self.assertEqual([x["id"] for x in r.json["jobs"]], [j["id"]])

    def test_data_and_tokens_survive_restart(self):
        self.start()
        u = self.new_user(full_name="Persistent Person")
        login = self.api.login(u.email)
        parent = self.create_memory(u.token, "parent note", tags=["p"])
        m = self.create_memory(u.token, "remember the milk \u2615", type="action",
                               layer="working", source="todo", tags=["home", "errand"],
                               metadata={"where": {"shop": "corner"}},
                               attachments=[{"name": "list.txt"}],
                               importance_score=0.75, parent_memory_id=parent["id"],
                               related_memory_ids=[parent["id"]],
                               created_at="2025-05-06T07:08:09Z")
        r = self.api.post("/api/memories/bulk",
                          {"memories": [{"content": "bulk %d" % i} for i in range(50)]},
                          token=u.token)
        self.assertEqual(r.status, 201, r.raw[:300])
        self.get_memory(u.token, m["id"])  # access_count 1
        r = self.api.patch("/api/auth/me", {"ai_persona": {"humor": 9},
                                            "settings": {"theme": "dark"}}, token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        gone = self.create_memory(u.token, "deleted before restart")
        self.assertEqual(self.api.delete("/api/memories/" + gone["id"], token=u.token).status, 204)
        self.stop()

        self.start()
        # Tokens issued before the restart still work.
        me = self.me(u.token)
        self.assertEqual(me["id"], u.id)
        self.assertEqual(me["full_name"], "Persistent Person")
        self.assertEqual(me["ai_persona"]["humor"], 9)
        self.assertEqual(me["settings"], {"theme": "dark"})
        self.assertEqual(me["total_memories"], 52)
        self.assertEqual(self.me(login["access_token"])["id"], u.id)
        r = self.api.post("/api/auth/refresh", {"refresh_token": login["refresh_token"]})
        self.assertEqual(r.status, 200, r.raw[:300])
        self.me(r.json["access_token"])
        # The password still logs in.
        self.api.login(u.email)

        got = self.get_memory(u.token, m["id"])
        for key in ("content", "type", "layer", "source", "tags", "metadata", "attachments",
                    "parent_memory_id", "related_memory_ids", "created_at", "user_id"):
            self.assertEqual(got[key], m[key], key)
        self.assertAlmostEqual(got["importance_score"], 0.75)
        self.assertEqual(got["access_count"], 2)
        self.assertIn(m["id"], self.get_memory(u.token, parent["id"])["related_memory_ids"])
        self.assertEqual([x["id"] for x in self.list_memories(u.token, "tag=errand")["memories"]],
                         [m["id"]])
        self.assertEqual(self.list_memories(u.token)["total"], 52)
        self.assert_error(self.api.get("/api/memories/" + gone["id"], token=u.token),
                          404, "not_found")
        # Writes work after the restart, and survive a second one.
        after = self.create_memory(u.token, "written after restart")
        self.stop()
        self.start()
        self.assertEqual(self.get_memory(u.token, after["id"])["content"], "written after restart")
        self.assertEqual(self.memory_count(u.token), 53)

    def test_revocations_survive_restart(self):
        self.start()
        u = self.new_user()
        r = self.api.post("/api/auth/logout", token=u.token)
        self.assertEqual(r.status, 204)
        rotated = self.api.login(u.email)
        r = self.api.post("/api/auth/refresh", {"refresh_token": rotated["refresh_token"]})
        self.assertEqual(r.status, 200)
        newest = r.json
        self.stop()
        self.start()
        self.assert_error(self.api.get("/api/auth/me", token=u.token), 401, "unauthorized")
        self.assert_error(self.api.post("/api/auth/refresh", {"refresh_token": u.refresh_token}),
                          401, "invalid_token")
        self.assertEqual(self.me(newest["access_token"])["id"], u.id)
        # Replaying the rotated token after the restart still revokes the family.
        self.assert_error(self.api.post("/api/auth/refresh",
                                        {"refresh_token": rotated["refresh_token"]}),
                          401, "invalid_token")
        self.assert_error(self.api.post("/api/auth/refresh",
                                        {"refresh_token": newest["refresh_token"]}),
                          401, "invalid_token")


if __name__ == "__main__":
    unittest.main()
