"""Layer lifecycle, access tracking and importance (docs/LIFECYCLE.md).

Memories are made old by giving `created_at` (as imports do); the policy
runs on demand with POST /api/memories/lifecycle/run.
"""

import datetime
import os
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def days_ago(n):
    t = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=n)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class LifecycleTest(harness.ApiTestCase):

    def run_lifecycle(self, token):
        r = self.api.post("/api/memories/lifecycle/run", {}, token=token)
        self.assertEqual(r.status, 200, r.raw[:500])
        self.assertIsInstance(r.json.get("moved"), dict)
        return r.json

    def layer(self, token, mid):
        # a list does not count an access (a GET of the memory would)
        got = self.list_memories(token, "limit=200")["memories"]
        return {m["id"]: m for m in got}[mid]["layer"]

    def test_transitions_and_their_reverse(self):
        u = self.new_user()
        t = u.token
        old = self.create_memory(t, "an old note nobody reads", created_at=days_ago(120))
        fresh = self.create_memory(t, "written today")
        project = self.create_memory(t, "plan for the kitchen project", tags=["kitchen"],
                                     created_at=days_ago(10))
        self.create_memory(t, "kitchen: tiles ordered", tags=["kitchen"])
        often = self.create_memory(t, "wifi password is on the fridge",
                                   created_at=days_ago(40))
        for _ in range(3):
            r = self.api.post("/api/memories/%s/accessed" % often["id"], token=t)
            self.assertEqual(r.status, 204, r.raw[:300])
        chosen = self.create_memory(t, "I keep this one where it is", layer="working",
                                    created_at=days_ago(200))
        self.assertTrue(chosen["layer_locked"])
        pinned = self.create_memory(t, "pinned forever", metadata={"pinned": True},
                                    created_at=days_ago(200))

        res = self.run_lifecycle(t)
        moved = res["moved"]
        self.assertEqual(moved.get("active->archive"), 1, res)
        self.assertEqual(moved.get("active->working"), 1, res)
        self.assertEqual(moved.get("active->reference"), 1, res)
        self.assertEqual(self.layer(t, old["id"]), "archive")
        self.assertEqual(self.layer(t, fresh["id"]), "active")
        self.assertEqual(self.layer(t, project["id"]), "working")
        self.assertEqual(self.layer(t, often["id"]), "reference")
        self.assertEqual(self.layer(t, chosen["id"]), "working")
        self.assertEqual(self.layer(t, pinned["id"]), "active")
        # a second run has nothing left to move
        self.assertEqual(self.run_lifecycle(t)["moved"], {})

        # reverse: opening an archived memory brings it back to active
        self.assertEqual(self.get_memory(t, old["id"])["layer"], "active")
        self.assertEqual(self.run_lifecycle(t)["moved"], {})
        self.assertEqual(self.layer(t, old["id"]), "active")
        # reverse: editing a reference memory brings it back to active
        r = self.api.put("/api/memories/" + often["id"], {"tags": ["home"]}, token=t)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(r.json["layer"], "active")

    def test_user_layer_choice_is_locked_and_unlockable(self):
        u = self.new_user()
        t = u.token
        m = self.create_memory(t, "often read", layer="working", created_at=days_ago(40))
        self.assertTrue(m["layer_locked"])
        for _ in range(3):
            self.api.post("/api/memories/%s/accessed" % m["id"], token=t)
        self.assertEqual(self.run_lifecycle(t)["moved"], {})
        r = self.api.put("/api/memories/" + m["id"], {"layer_locked": False}, token=t)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertFalse(r.json["layer_locked"])
        self.assertEqual(self.run_lifecycle(t)["moved"], {"working->reference": 1})
        # a layer set by hand locks it again
        r = self.api.put("/api/memories/" + m["id"], {"layer": "archive"}, token=t)
        self.assertTrue(r.json["layer_locked"])
        self.assertEqual(r.json["layer"], "archive")
        # an access does not bring a locked memory back
        self.assertEqual(self.get_memory(t, m["id"])["layer"], "archive")
        self.assertEqual(self.run_lifecycle(t)["moved"], {})
        r = self.api.put("/api/memories/" + m["id"], {"layer_locked": "yes"}, token=t)
        harness.check_error(self, r, 422, "invalid_field", field="layer_locked")

    def test_policy_is_per_user_and_validated(self):
        u = self.new_user()
        other = self.new_user()
        t = u.token
        r = self.api.get("/api/memories/lifecycle/policy", token=t)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(r.json, {"active_days": 7, "current_days": 30,
                                  "reference_accesses": 3, "reference_days": 90,
                                  "archive_days": 90})
        for bad in ({"archive_days": 0}, {"archive_days": 99999}, {"archive_days": "x"},
                    {"nope": 3}):
            r = self.api.put("/api/memories/lifecycle/policy", bad, token=t)
            self.assertEqual(r.status, 422, (bad, r.raw[:300]))
        r = self.api.put("/api/memories/lifecycle/policy", [1], token=t)
        self.assertEqual(r.status, 400, r.raw[:300])
        r = self.api.put("/api/memories/lifecycle/policy", {"archive_days": 20}, token=t)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(r.json["archive_days"], 20)
        self.assertEqual(r.json["active_days"], 7)
        m = self.create_memory(t, "three weeks old", created_at=days_ago(21))
        om = self.create_memory(other.token, "three weeks old too", created_at=days_ago(21))
        self.assertEqual(self.run_lifecycle(t)["moved"], {"active->archive": 1})
        self.assertEqual(self.layer(t, m["id"]), "archive")
        # the other user keeps the defaults
        self.assertEqual(self.run_lifecycle(other.token)["moved"], {})
        self.assertEqual(self.layer(other.token, om["id"]), "active")

    def test_importance_computed_unless_user_set(self):
        u = self.new_user()
        t = u.token
        plain = self.create_memory(t, "buy milk")
        self.assertFalse(plain["importance_set"])
        rich = self.create_memory(t, "Important: pay Dr. Ruiz $80 by 2026-12-24")
        mine = self.create_memory(t, "buy bread", importance_score=0.9)
        self.assertTrue(mine["importance_set"])
        res = self.run_lifecycle(t)
        self.assertGreaterEqual(res["importance_changed"], 1)
        got = {m["id"]: m for m in self.list_memories(t)["memories"]}
        self.assertGreater(got[rich["id"]]["importance_score"],
                           got[plain["id"]]["importance_score"] + 0.2)
        self.assertEqual(got[mine["id"]]["importance_score"], 0.9)

    def test_accessed_counts_and_errors(self):
        u = self.new_user()
        other = self.new_user()
        m = self.create_memory(u.token, "counted")
        r = self.api.post("/api/memories/%s/accessed" % m["id"], token=u.token)
        self.assertEqual(r.status, 204, r.raw[:300])
        got = self.list_memories(u.token)["memories"][0]
        self.assertEqual(got["access_count"], 1)
        self.assertIsNotNone(got["last_accessed_at"])
        r = self.api.post("/api/memories/%s/accessed" % m["id"], token=other.token)
        harness.check_error(self, r, 404)
        r = self.api.post("/api/memories/not-a-uuid/accessed", token=u.token)
        harness.check_error(self, r, 404)
        r = self.api.post("/api/memories/%s/accessed" % m["id"])
        harness.check_error(self, r, 401)
        r = self.api.post("/api/memories/lifecycle/run", {})
        harness.check_error(self, r, 401)

    def test_archive_stays_out_of_chat_unless_asked(self):
        u = self.new_user()
        t = u.token
        w = "zq" + uuid.uuid4().hex[:8]
        kept = self.create_memory(t, "The spare key for the %s shed is under the blue pot." % w,
                                  layer="archive")
        r = self.api.post("/api/chat/message", {"message": "Where is the key for the %s shed?" % w},
                          token=t)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertNotIn(kept["id"], r.json["memories_used"])
        r = self.api.post("/api/chat/message",
                          {"message": "In my archive, where is the key for the %s shed?" % w},
                          token=t)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertIn(kept["id"], r.json["memories_used"])

    def test_a_chat_answer_counts_the_memories_it_used(self):
        # used in a chat answer = accessed (docs/LIFECYCLE.md): the count
        # moves, and an archived memory handed back to the policy comes
        # back to active; memories the answer did not use do not move
        u = self.new_user()
        t = u.token
        w = "zq" + uuid.uuid4().hex[:8]
        key = self.create_memory(t, "The spare key for the %s shed is under the blue pot." % w)
        old = self.create_memory(t, "The %s shed was painted green in %s." % (w, "2019"),
                                 layer="archive")
        r = self.api.put("/api/memories/%s" % old["id"], {"layer_locked": False}, token=t)
        self.assertEqual(r.status, 200, r.raw[:300])
        other = self.create_memory(t, "Buy oat milk and coffee beans")
        r = self.api.post("/api/chat/message", {"message": "Where is the key for the %s shed?" % w},
                          token=t)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertIn(key["id"], r.json["memories_used"])
        self.assertNotIn(other["id"], r.json["memories_used"])
        got = {m["id"]: m for m in self.list_memories(t, "limit=200")["memories"]}
        self.assertEqual(got[key["id"]]["access_count"], 1)
        self.assertIsNotNone(got[key["id"]]["last_accessed_at"])
        self.assertEqual(got[other["id"]]["access_count"], 0)
        self.assertEqual(got[old["id"]]["layer"], "archive")
        r = self.api.post("/api/chat/message",
                          {"message": "In my archive, what colour is the %s shed?" % w}, token=t)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertIn(old["id"], r.json["memories_used"])
        got = {m["id"]: m for m in self.list_memories(t, "limit=200")["memories"]}
        self.assertEqual(got[old["id"]]["access_count"], 1)
        # the layer moves when the counts are written (every 200 ms)
        self.assertTrue(harness.poll(lambda: self.layer(t, old["id"]) == "active", timeout=10),
                        "the archived memory the answer used did not come back to active")


class MergeTest(harness.ApiTestCase):

    def test_merge_moves_tags_metadata_links_and_counts(self):
        u = self.new_user()
        t = u.token
        kept = self.create_memory(t, "Dentist: Dr. Ruiz, Elm Street", tags=["health"],
                                  metadata={"a": 1})
        dup = self.create_memory(t, "dentist is Dr Ruiz on Elm St", tags=["Health", "teeth"],
                                 metadata={"a": 2, "b": 3})
        friend = self.create_memory(t, "bring the insurance card", related_memory_ids=[dup["id"]])
        child = self.create_memory(t, "call to confirm", parent_memory_id=dup["id"])
        for _ in range(2):
            self.api.get("/api/memories/" + dup["id"], token=t)
        r = self.api.post("/api/memories/%s/merge" % kept["id"], {"with": [dup["id"]]}, token=t)
        self.assertEqual(r.status, 200, r.raw[:500])
        m = r.json
        self.assertEqual(m["id"], kept["id"])
        self.assertEqual(m["content"], kept["content"])
        self.assertEqual(m["tags"], ["health", "teeth"])
        self.assertEqual(m["metadata"]["a"], 1)
        self.assertEqual(m["metadata"]["b"], 3)
        self.assertEqual(m["metadata"]["merged_from"], [dup["id"]])
        self.assertEqual(m["access_count"], 2)
        self.assertIn(friend["id"], m["related_memory_ids"])
        self.assertEqual(self.get_memory(t, child["id"])["parent_memory_id"], kept["id"])
        r = self.api.get("/api/memories/" + dup["id"], token=t)
        self.assertEqual(r.status, 404)
        g = self.api.get("/api/memories/graph?root=%s&depth=1" % kept["id"], token=t).json
        self.assertNotIn(dup["id"], [n["id"] for n in g["nodes"]])
        self.assertIn(friend["id"], [n["id"] for n in g["nodes"]])

    def test_merge_errors(self):
        u = self.new_user()
        other = self.new_user()
        t = u.token
        a = self.create_memory(t, "a")
        b = self.create_memory(t, "b")
        foreign = self.create_memory(other.token, "not yours")
        path = "/api/memories/%s/merge" % a["id"]
        for body, code in (({}, 422), ({"with": []}, 422), ({"with": "x"}, 422),
                           ({"with": ["nope"]}, 422), ({"with": [a["id"]]}, 422),
                           ({"with": [b["id"], b["id"]]}, 422),
                           ({"with": [str(uuid.uuid4())]}, 404),
                           ({"with": [foreign["id"]]}, 404),
                           ({"with": [str(uuid.uuid4()) for _ in range(101)]}, 422)):
            r = self.api.post(path, body, token=t)
            self.assertEqual(r.status, code, (body, r.raw[:300]))
        r = self.api.post("/api/memories/%s/merge" % foreign["id"], {"with": [b["id"]]}, token=t)
        harness.check_error(self, r, 404)
        r = self.api.post(path, [1], token=t)
        harness.check_error(self, r, 400)
        # nothing was merged by the failed calls
        self.assertEqual(self.get_memory(t, b["id"])["content"], "b")
        self.assertEqual(self.get_memory(other.token, foreign["id"])["content"], "not yours")


class GraphStatsTest(harness.ApiTestCase):
    # the links made by hand only (auto-linking adds its own: AutoLinkJobTest)
    server_env = {"PERSONALOS_AUTO_LINK": "off"}

    def test_graph_filters_by_edge_type_and_strength(self):
        u = self.new_user()
        t = u.token
        root = self.create_memory(t, "root")
        rel = self.create_memory(t, "related one", related_memory_ids=[root["id"]])
        child = self.create_memory(t, "child one", parent_memory_id=root["id"])
        base = "/api/memories/graph?root=%s&depth=2" % root["id"]

        def ids(q):
            r = self.api.get(base + q, token=t)
            self.assertEqual(r.status, 200, r.raw[:300])
            return ({n["id"] for n in r.json["nodes"]},
                    sorted(e["type"] for e in r.json["edges"]))
        nodes, types = ids("")
        self.assertEqual(nodes, {root["id"], rel["id"], child["id"]})
        self.assertEqual(types, ["parent", "related"])
        nodes, types = ids("&types=parent")
        self.assertEqual(nodes, {root["id"], child["id"]})
        self.assertEqual(types, ["parent"])
        nodes, types = ids("&types=related,duplicate")
        self.assertEqual(nodes, {root["id"], rel["id"]})
        nodes, types = ids("&min_strength=1")
        self.assertEqual(len(nodes), 3)
        for bad in ("&types=friends", "&types=related,", "&min_strength=2",
                    "&min_strength=-0.1", "&min_strength=abc", "&min_strength=nan"):
            r = self.api.get(base + bad, token=t)
            self.assertEqual(r.status, 422, (bad, r.raw[:300]))

    def test_graph_depth_and_limit_caps(self):
        # a parent chain c0 <- c1 <- c2 <- c3 and eight memories related
        # to c0: each case is (query, nodes expected or a status)
        u = self.new_user()
        t = u.token
        chain = [self.create_memory(t, "chain 0")]
        for i in range(1, 4):
            chain.append(self.create_memory(t, "chain %d" % i, parent_memory_id=chain[-1]["id"]))
        star = [self.create_memory(t, "star %d" % i, related_memory_ids=[chain[0]["id"]])
                for i in range(8)]
        ids = lambda ms: {m["id"] for m in ms}  # noqa: E731
        root = "/api/memories/graph?root=%s" % chain[0]["id"]
        cases = [
            ("&depth=0", ids(chain[:1])),
            ("&depth=1", ids(chain[:2] + star)),
            ("&depth=2", ids(chain[:3] + star)),
            ("&depth=3", ids(chain + star)),
            ("&depth=5&types=parent", ids(chain)),
            ("&depth=3&limit=5", 5),
            ("&limit=1", ids(chain[:1])),
            # over the caps (depth 5, limit 500): capped, not refused
            ("&depth=99", ids(chain + star)), ("&limit=100000", ids(chain[:3] + star)),
            ("&depth=-1", 422), ("&depth=x", 422), ("&limit=0", 422), ("&limit=", 422),
        ]
        for q, want in cases:
            r = self.api.get(root + q, token=t)
            if isinstance(want, int) and want >= 400:
                self.assertEqual(r.status, want, (q, r.raw[:300]))
                continue
            self.assertEqual(r.status, 200, (q, r.raw[:300]))
            got = {n["id"] for n in r.json["nodes"]}
            if isinstance(want, int):
                self.assertEqual(len(got), want, q)
                self.assertIn(chain[0]["id"], got, q)
            else:
                self.assertEqual(got, want, q)
            # edges only between the nodes answered
            for e in r.json["edges"]:
                self.assertIn(e["source"], got, q)
                self.assertIn(e["target"], got, q)
        # without a root: the newest `limit` memories
        r = self.api.get("/api/memories/graph?limit=3", token=t)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual({n["id"] for n in r.json["nodes"]}, ids(star[-3:]))

    def test_stats_series_and_distributions(self):
        u = self.new_user()
        t = u.token
        self.create_memory(t, "a note", tags=["x"])
        self.create_memory(t, "an email", type="email", source="imap", importance_score=0.95)
        old = self.create_memory(t, "long ago", created_at=days_ago(400))
        for _ in range(3):
            self.api.post("/api/memories/%s/accessed" % old["id"], token=t)
        r = self.api.get("/api/memories/stats", token=t)
        self.assertEqual(r.status, 200, r.raw[:300])
        st = r.json
        series = st["series"]
        self.assertEqual(series["days"], 90)
        today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
        by_type = {d["date"]: d["counts"] for d in series["by_type"]}
        self.assertEqual(by_type[today], {"note": 1, "email": 1})
        self.assertEqual(len(series["by_type"]), 1)  # the old one is outside the window
        by_source = {d["date"]: d["counts"] for d in series["by_source"]}
        self.assertEqual(by_source[today], {"api": 1, "imap": 1})
        by_layer = {d["date"]: d["counts"] for d in series["by_layer"]}
        self.assertEqual(by_layer[today], {"active": 2})
        self.assertEqual(series["sync"], [])
        imp = st["importance_distribution"]
        self.assertEqual(len(imp), 10)
        self.assertEqual(sum(b["count"] for b in imp), 3)
        self.assertEqual(imp[9]["count"], 1)
        self.assertEqual(imp[5]["count"], 2)
        acc = {b["accesses"]: b["count"] for b in st["access_distribution"]}
        self.assertEqual(acc, {"0": 2, "1": 0, "2-4": 1, "5-9": 0, "10+": 0})



class AutoLinkJobTest(harness.ApiTestCase):
    """auto_link, on by default: created memories are linked to their
    neighbours by meaning by memory.autolink jobs (docs/LIFECYCLE.md)."""

    def autolink_jobs(self, token):
        r = self.api.get("/api/jobs?kind=memory.autolink&limit=100", token=token)
        self.assertEqual(r.status, 200, r.raw[:300])
        return r.json["jobs"]

    def linked(self, token, ids):
        for i in ids:
            if not self.get_memory(token, i)["related_memory_ids"]:
                return None
        return True

    def test_a_created_memory_is_linked_by_a_job(self):
        u = self.new_user()
        first = self.create_memory(u.token, "The plumber fixes the kitchen sink leak on Thursday morning")
        far = self.create_memory(u.token, "Quantum chromodynamics lecture notes about gluons")
        second = self.create_memory(u.token, "Kitchen sink leak: the plumber wants cash")

        def jobs_done():
            js = self.autolink_jobs(u.token)
            return js if js and all(j["state"] == "done" for j in js) and \
                self.linked(u.token, [second["id"]]) else None
        jobs = harness.poll(jobs_done)
        self.assertIsNotNone(jobs, "the memory.autolink jobs did not finish")
        self.assertEqual({j["kind"] for j in jobs}, {"memory.autolink"})
        related = self.get_memory(u.token, second["id"])["related_memory_ids"]
        self.assertIn(first["id"], related)
        self.assertNotIn(far["id"], related)


if __name__ == "__main__":
    unittest.main()
