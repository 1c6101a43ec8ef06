"""GET /api/memories/categories (docs/LIFECYCLE.md, "Categories"): MemU's
categories for a `cloud` user when MemU is configured (the stand-in
tests/stubs/memu_stub.py), the local ones (tags and clusters of meaning)
otherwise, and when MemU fails the local ones with memu_unavailable."""

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


COOKING = [
    "Recipe for sourdough bread: mix flour, water and salt, bake in the oven at 230 degrees",
    "Grandma's apple pie recipe: flour, butter, sugar, apples; bake in the oven for an hour",
    "Pasta dough recipe: flour and eggs, knead, rest, roll thin, then cook in salted water",
    "Bake the banana bread: flour, sugar, ripe bananas, butter; oven at 180 for 50 minutes",
    "Pizza dough recipe: flour, yeast, olive oil; bake in a very hot oven on the stone",
    "Cookie recipe: butter, sugar, flour, chocolate chips; bake in the oven for 12 minutes",
    "Roast chicken recipe: butter, garlic, lemon; roast in the oven, baste every 20 minutes",
    "Pancake batter recipe: flour, milk, eggs, sugar; cook in a buttered pan",
    "Lasagna recipe: pasta sheets, tomato sauce, cheese; bake in the oven 45 minutes",
    "Focaccia recipe: flour, yeast, olive oil, rosemary; bake in the oven until golden",
    "Brownie recipe: chocolate, butter, sugar, eggs, flour; bake in the oven 25 minutes",
    "Quiche recipe: pastry with flour and butter, eggs and cream; bake in the oven",
    "Scones recipe: flour, butter, milk, sugar; bake in a hot oven and serve with jam",
    "Muffin recipe: flour, sugar, blueberries, butter; bake in the oven for 20 minutes",
    "Shortbread recipe: butter, sugar, flour; bake slowly in a low oven",
    "Carrot cake recipe: flour, sugar, carrots, walnuts; bake in the oven, cream cheese icing",
    "Gnocchi recipe: potatoes and flour, knead the dough, cook in boiling salted water",
    "Bread rolls recipe: flour, yeast, butter, milk; bake in the oven until golden brown",
    "Crepes recipe: flour, eggs, milk, melted butter; cook thin in a hot pan",
    "Baked salmon recipe: lemon, butter, dill; bake in the oven for 15 minutes",
]
CARS = [
    "Car repair: replaced the brake pads and brake discs, the mechanic bled the brake fluid",
    "Engine oil change at the garage: new oil filter, 5W30 engine oil, mechanic checked the brakes",
    "The car battery died; the mechanic tested the alternator and replaced the battery",
    "Timing belt replacement on the car engine, the garage also changed the water pump",
    "Car tyres rotated and balanced at the garage, tyre pressure checked by the mechanic",
    "Check engine light on the car: the mechanic found a faulty spark plug and ignition coil",
    "Replaced the car's clutch at the garage; the mechanic adjusted the gearbox linkage",
    "Car exhaust repair: the mechanic welded the exhaust pipe and replaced the muffler",
    "Brake fluid flush and new brake pads on the rear axle, garage invoice paid",
    "Car radiator leak: the mechanic replaced the radiator hose and refilled the coolant",
    "Engine air filter and cabin filter replaced at the garage during the car service",
    "Car suspension repair: the mechanic replaced the shock absorbers and a control arm",
    "Windscreen wiper motor on the car failed; the garage mechanic fitted a new motor",
    "Car alternator belt squeals; the mechanic tightened the belt and checked the engine",
    "Annual car service at the garage: engine oil, filters, brakes and tyres inspected",
    "The car starter motor failed; the mechanic replaced the starter and the battery cable",
    "Car headlight bulb and fuse replaced at the garage, the mechanic aligned the headlights",
    "Gearbox oil change on the car; the mechanic found a small leak at the engine seal",
    "Car fuel pump replaced by the mechanic after the engine stalled on the motorway",
    "Power steering fluid leak on the car; the garage mechanic replaced the steering rack seal",
]
STARS = [
    "Telescope night: saw the rings of Saturn and the moons of Jupiter through the eyepiece",
    "Astronomy club: the Orion nebula through the telescope, a nebula full of young stars",
    "Meteor shower tonight, the Perseids; counted forty meteors from the dark hill",
    "Telescope collimation and a new eyepiece; the Andromeda galaxy looked bright",
    "Astronomy notes: the planet Mars at opposition, the telescope showed the polar cap",
    "Saw the Pleiades star cluster and the Orion nebula with binoculars and the telescope",
]
COOK_WORDS = {"recipe", "flour", "oven", "bake", "butter", "sugar", "dough", "eggs", "bread",
              "milk", "yeast", "baked", "golden", "minutes", "cook"}
CAR_WORDS = {"car", "mechanic", "garage", "engine", "brake", "brakes", "oil", "replaced",
             "repair", "battery", "filter", "tyres", "motor", "leak", "belt", "fluid"}


class LocalClustersTest(harness.ApiTestCase):
    """Without MemU the local categories also hold clusters of meaning over
    the user's vectors (src/assistant/clusters.c): two topics without tags
    come out as two clusters named by their own words, and another user's
    memories never appear in them."""

    def bulk(self, token, contents):
        r = self.api.post("/api/memories/bulk",
                          {"memories": [{"content": c} for c in contents]}, token=token)
        self.assertEqual(r.status, 201, r.raw[:300])
        return r.json["ids"]

    def clusters(self, token):
        def ready():
            r = self.api.get("/api/memories/categories", token=token)
            self.assertEqual(r.status, 200, r.raw[:300])
            return None if r.json.get("clusters_pending") else r.json
        got = harness.poll(ready, timeout=30, step=0.3)
        self.assertIsNotNone(got, "the clusters stayed pending")
        self.assertEqual(got["source"], "local")
        return [c for c in got["categories"] if c.get("kind") == "cluster"]

    def test_two_topics_two_clusters_and_never_another_users(self):
        u, other = self.new_user(), self.new_user()
        cook = set(self.bulk(u.token, COOKING))
        cars = set(self.bulk(u.token, CARS))
        stars = set(self.bulk(other.token, STARS))
        got = self.clusters(u.token)
        self.assertEqual(len(got), 2, got)
        by_topic = {}
        for c in got:
            members = set(c["member_ids"])
            self.assertTrue(members and len(members) <= 5, c)
            self.assertFalse(members & stars, "another user's memory in a cluster")
            topic = "cook" if members <= cook else "cars" if members <= cars else None
            self.assertIsNotNone(topic, "a cluster mixes the topics: %r" % c)
            by_topic[topic] = c
        self.assertEqual(set(by_topic), {"cook", "cars"})
        # every memory is in one of the two; a borderline note may land in
        # the other topic's cluster (the built-in embedder hashes words)
        self.assertEqual(by_topic["cook"]["count"] + by_topic["cars"]["count"], 40)
        for c in got:
            self.assertTrue(17 <= c["count"] <= 23, c)
        for topic, words in (("cook", COOK_WORDS), ("cars", CAR_WORDS)):
            c = by_topic[topic]
            self.assertTrue(c["keywords"], c)
            self.assertTrue(set(c["keywords"]) <= words, c)
            self.assertEqual(c["name"], ", ".join(c["keywords"]))
        # the other user's own clusters hold only their memories
        theirs = self.clusters(other.token)
        for c in theirs:
            self.assertTrue(set(c["member_ids"]) <= stars, c)
        # a write retires the cached clusters: the cars go, one topic stays
        for mid in cars:
            r = self.api.delete("/api/memories/" + mid, token=u.token)
            self.assertIn(r.status, (200, 204), r.raw[:200])
        got = self.clusters(u.token)
        self.assertTrue(got)
        for c in got:
            self.assertTrue(set(c["member_ids"]) <= cook, c)


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
