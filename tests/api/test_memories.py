"""Memories: create, read, update, delete, list (filters, sort, paging), bulk."""

import os
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import TIMESTAMP_RE  # noqa: E402


def ids(listing):
    return [m["id"] for m in listing["memories"]]


class CreateTest(harness.ApiTestCase):

    def test_create_defaults(self):
        u = self.new_user()
        r = self.api.post("/api/memories", {"content": "Buy milk"}, token=u.token)
        self.assertEqual(r.status, 201, r.raw[:300])
        m = r.json
        self.assert_memory_shape(m)
        self.assertEqual(m["content"], "Buy milk")
        self.assertEqual(m["user_id"], u.id)
        self.assertEqual(m["type"], "note")
        self.assertEqual(m["layer"], "active")
        self.assertEqual(m["source"], "api")
        self.assertEqual(m["importance_score"], 0.5)
        self.assertEqual(m["tags"], [])
        self.assertEqual(m["related_memory_ids"], [])
        self.assertIsNone(m["parent_memory_id"])
        self.assertEqual(m["access_count"], 0)
        self.assertIsNone(m["last_accessed_at"])
        self.assertIs(m["is_encrypted"], False)
        self.assertIs(m["is_shared"], False)
        self.assertIn(m["shared_with"], ([], None))
        self.assertIn(m["metadata"], ({}, None))
        self.assertIn(m["attachments"], ([], None))
        self.assertGreaterEqual(m["updated_at"], m["created_at"])
        self.assertIn("application/json", r.headers.get("content-type", ""))

    def test_every_field_round_trips(self):
        u = self.new_user()
        parent = self.create_memory(u.token, "parent")
        other = self.create_memory(u.token, "other")
        body = {
            "content": "Kaffee mit Zoë \u2615 \U0001F600 \"quoted\" \\ back\nslash\ttab",
            "type": "event",
            "layer": "reference",
            "source": "calendar",
            "tags": ["work", "Projekt Ä", "2026"],
            "metadata": {"location": {"city": "Zürich", "geo": [47.37, 8.54]},
                         "attendees": [{"name": "Ann", "ok": True}, {"name": None}],
                         "n": 42, "f": 1.25, "empty": {}},
            "attachments": [{"name": "agenda.pdf", "size": 1234, "mime": "application/pdf"}],
            "importance_score": 0.9,
            "parent_memory_id": parent["id"],
            "related_memory_ids": [other["id"]],
            "created_at": "2025-03-04T05:06:07Z",
        }
        created = self.create_memory(u.token, **body)
        self.assert_memory_shape(created)
        fetched = self.get_memory(u.token, created["id"])
        for m in (created, fetched):
            for key in ("content", "type", "layer", "source", "tags", "metadata",
                        "attachments", "parent_memory_id", "related_memory_ids",
                        "created_at"):
                self.assertEqual(m[key], body[key], key)
            self.assertAlmostEqual(m["importance_score"], 0.9)
        listed = self.list_memories(u.token, "type=event")["memories"]
        self.assertEqual([m["id"] for m in listed], [created["id"]])
        self.assertEqual(listed[0]["metadata"], body["metadata"])
        self.assertEqual(listed[0]["tags"], body["tags"])

    def test_created_at_normalised_to_utc(self):
        u = self.new_user()
        cases = {
            "2025-03-04T07:06:07+02:00": "2025-03-04T05:06:07Z",
            "2025-03-04T05:06:07.000000Z": "2025-03-04T05:06:07Z",
            "2025-03-04T05:06:07.123456Z": "2025-03-04T05:06:07.123456Z",
            "2025-03-03T23:36:07-05:30": "2025-03-04T05:06:07Z",
        }
        for given, expected in cases.items():
            with self.subTest(created_at=given):
                m = self.create_memory(u.token, created_at=given)
                self.assertEqual(m["created_at"], expected)
                self.assertEqual(self.get_memory(u.token, m["id"])["created_at"], expected)

    def test_created_at_defaults_to_now(self):
        u = self.new_user()
        m = self.create_memory(u.token)
        self.assertRegex(m["created_at"], TIMESTAMP_RE)
        self.assertGreater(m["created_at"], "2024-01-01T00:00:00Z")

    def test_tags_duplicates_collapse_order_kept(self):
        u = self.new_user()
        m = self.create_memory(u.token, tags=["b", "a", "b", "c", "a"])
        self.assertEqual(m["tags"], ["b", "a", "c"])
        self.assertEqual(self.get_memory(u.token, m["id"])["tags"], ["b", "a", "c"])

    def test_tag_limits(self):
        u = self.new_user()
        tags = ["t%d" % i for i in range(99)] + ["x" * 128]
        ok = self.create_memory(u.token, tags=tags)
        self.assertEqual(ok["tags"], tags)
        for tags in (["t%d" % i for i in range(101)], ["x" * 129], [""], ["a\nb"], ["ok", 5]):
            with self.subTest(tags=str(tags)[:40]):
                r = self.api.post("/api/memories", {"content": "x", "tags": tags}, token=u.token)
                self.assert_error(r, 422, "invalid_field", field="tags")

    def test_every_type_and_layer(self):
        u = self.new_user()
        for t in ("conversation", "action", "note", "file", "event", "email"):
            with self.subTest(type=t):
                self.assertEqual(self.create_memory(u.token, type=t)["type"], t)
        for layer in ("active", "working", "reference", "archive"):
            with self.subTest(layer=layer):
                self.assertEqual(self.create_memory(u.token, layer=layer)["layer"], layer)

    def test_importance_bounds(self):
        u = self.new_user()
        self.assertEqual(self.create_memory(u.token, importance_score=0)["importance_score"], 0)
        self.assertEqual(self.create_memory(u.token, importance_score=1)["importance_score"], 1)
        for bad in (1.5, -0.1, 1.0000001, "high", True, [0.5]):
            with self.subTest(importance=bad):
                r = self.api.post("/api/memories", {"content": "x", "importance_score": bad},
                                  token=u.token)
                self.assert_error(r, 422, "invalid_field", field="importance_score")

    def test_read_only_fields_ignored(self):
        u = self.new_user()
        other = self.new_user()
        m = self.create_memory(u.token, access_count=99, is_encrypted=True, is_shared=True,
                               shared_with=[other.id], user_id=other.id,
                               updated_at="2000-01-01T00:00:00Z")
        self.assertEqual(m["access_count"], 0)
        self.assertIs(m["is_encrypted"], False)
        self.assertIs(m["is_shared"], False)
        self.assertIn(m["shared_with"], ([], None))
        self.assertEqual(m["user_id"], u.id)
        self.assertNotEqual(m["updated_at"], "2000-01-01T00:00:00Z")
        self.assertEqual(self.memory_count(other.token), 0)

    def test_content_limits(self):
        u = self.new_user()
        exactly = "a" * (1024 * 1024)
        m = self.create_memory(u.token, exactly)
        self.assertEqual(len(self.get_memory(u.token, m["id"])["content"]), 1024 * 1024)
        # The limit counts UTF-8 bytes, not characters.
        two_byte = "\u00e9" * (512 * 1024)
        self.create_memory(u.token, two_byte)
        for content in ("a" * (1024 * 1024 + 1), "\u00e9" * (512 * 1024) + "a"):
            r = self.api.post("/api/memories", {"content": content}, token=u.token)
            self.assert_error(r, 413, "content_too_large")
        r = self.api.post("/api/memories", {"content": ""}, token=u.token)
        self.assert_error(r, 422, "invalid_field", field="content")
        r = self.api.post("/api/memories", {"type": "note"}, token=u.token)
        self.assert_error(r, 422, "missing_field", field="content")
        self.assertEqual(self.memory_count(u.token), 2)

    def test_source_limits(self):
        u = self.new_user()
        self.assertEqual(self.create_memory(u.token, source="s" * 64)["source"], "s" * 64)
        for bad in ("", "s" * 65, 7):
            with self.subTest(source=str(bad)[:10]):
                r = self.api.post("/api/memories", {"content": "x", "source": bad}, token=u.token)
                self.assert_error(r, 422, "invalid_field", field="source")

    def test_needs_auth(self):
        r = self.api.post("/api/memories", {"content": "x"})
        self.assert_error(r, 401, "unauthorized")
        self.assert_error(self.api.get("/api/memories"), 401, "unauthorized")
        self.assert_error(self.api.get("/api/memories/" + str(uuid.uuid4())), 401, "unauthorized")


    def test_metadata_numbers_round_trip_exactly(self):
        # found by tests/fuzz/fuzz_parsers: reals were stored with 15 digits
        u = self.new_user()
        meta = {"exact": 20133813.22300020262, "tiny": 1e-300, "third": 1 / 3,
                "int": 9223372036854775807, "neg": -0.1}
        m = self.create_memory(u.token, "numbers", metadata=meta)
        got = self.get_memory(u.token, m["id"])["metadata"]
        for k, v in meta.items():
            self.assertEqual(got[k], v, k)
        # integers beyond 64 bits are refused whole, never rounded
        r = self.api.post("/api/memories", {"content": "big", "metadata": {"n": 2 ** 64}},
                          token=u.token)
        self.assert_error(r, 400, "invalid_json")

class RelationshipTest(harness.ApiTestCase):

    def test_parent_and_related(self):
        u = self.new_user()
        a = self.create_memory(u.token, "a")
        b = self.create_memory(u.token, "b")
        c = self.create_memory(u.token, "c", parent_memory_id=a["id"],
                               related_memory_ids=[a["id"], b["id"]])
        self.assertEqual(c["parent_memory_id"], a["id"])
        self.assertEqual(sorted(c["related_memory_ids"]), sorted([a["id"], b["id"]]))
        # Symmetric in answers.
        self.assertIn(c["id"], self.get_memory(u.token, a["id"])["related_memory_ids"])
        self.assertIn(c["id"], self.get_memory(u.token, b["id"])["related_memory_ids"])
        # PUT replaces the set.
        r = self.api.put("/api/memories/" + c["id"], {"related_memory_ids": [b["id"]]},
                         token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(r.json["related_memory_ids"], [b["id"]])
        self.assertNotIn(c["id"], self.get_memory(u.token, a["id"])["related_memory_ids"])
        self.assertIn(c["id"], self.get_memory(u.token, b["id"])["related_memory_ids"])

    def test_unknown_parent_or_related(self):
        u = self.new_user()
        real = self.create_memory(u.token)
        missing = str(uuid.uuid4())
        cases = [
            ({"parent_memory_id": missing}, "parent_memory_id"),
            ({"parent_memory_id": "not-a-uuid"}, "parent_memory_id"),
            ({"parent_memory_id": 12}, "parent_memory_id"),
            ({"related_memory_ids": [real["id"], missing]}, "related_memory_ids"),
            ({"related_memory_ids": ["nope"]}, "related_memory_ids"),
            ({"related_memory_ids": real["id"]}, "related_memory_ids"),
            ({"related_memory_ids": [str(uuid.uuid4()) for _ in range(101)]},
             "related_memory_ids"),
        ]
        for extra, field in cases:
            with self.subTest(field=field, value=str(extra)[:50]):
                body = {"content": "x"}
                body.update(extra)
                r = self.api.post("/api/memories", body, token=u.token)
                self.assert_error(r, 422, "invalid_field", field=field)
        self.assertEqual(self.memory_count(u.token), 1)
        self.assertEqual(self.get_memory(u.token, real["id"])["related_memory_ids"], [])

    def test_delete_clears_relationships_and_children(self):
        u = self.new_user()
        parent = self.create_memory(u.token, "parent")
        sibling = self.create_memory(u.token, "sibling")
        child = self.create_memory(u.token, "child", parent_memory_id=parent["id"],
                                   related_memory_ids=[parent["id"], sibling["id"]])
        r = self.api.delete("/api/memories/" + parent["id"], token=u.token)
        self.assertEqual(r.status, 204, r.raw[:300])
        c = self.get_memory(u.token, child["id"])
        self.assertIsNone(c["parent_memory_id"])
        self.assertEqual(c["related_memory_ids"], [sibling["id"]])
        self.assertEqual(self.get_memory(u.token, sibling["id"])["related_memory_ids"],
                         [child["id"]])


class ReadUpdateDeleteTest(harness.ApiTestCase):

    def test_get_counts_access(self):
        u = self.new_user()
        m = self.create_memory(u.token)
        first = self.get_memory(u.token, m["id"])
        self.assert_memory_shape(first)
        self.assertEqual(first["access_count"], 1)
        self.assertRegex(first["last_accessed_at"], TIMESTAMP_RE)
        second = self.get_memory(u.token, m["id"])
        self.assertEqual(second["access_count"], 2)
        self.assertGreaterEqual(second["last_accessed_at"], first["last_accessed_at"])
        self.assertEqual(second["content"], m["content"])

    def test_include_embedding(self):
        u = self.new_user()
        m = self.create_memory(u.token, "the embedding of this sentence")
        self.assertNotIn("embedding", self.get_memory(u.token, m["id"]))
        r = self.api.get("/api/memories/%s?include=embedding" % m["id"], token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        emb = r.json.get("embedding")
        self.assertIsInstance(emb, list)
        self.assertTrue(emb)
        self.assertTrue(all(isinstance(x, (int, float)) for x in emb))
        self.assertEqual(len(emb), 256)
        self.assertAlmostEqual(sum(x * x for x in emb), 1.0, delta=0.05)  # normalized
        self.assertTrue(r.json["embedding_model"].startswith("builtin-hash"))

    def test_get_unknown_is_404(self):
        u = self.new_user()
        r = self.api.get("/api/memories/" + str(uuid.uuid4()), token=u.token)
        self.assert_error(r, 404, "not_found")

    def test_put_partial_update(self):
        u = self.new_user()
        m = self.create_memory(u.token, "original", type="event", layer="working",
                               source="cal", tags=["x", "y"], metadata={"k": "v"},
                               importance_score=0.8, created_at="2025-01-01T00:00:00Z")
        r = self.api.put("/api/memories/" + m["id"], {"content": "edited"}, token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assert_memory_shape(r.json)
        self.assertEqual(r.json["content"], "edited")
        for key in ("type", "layer", "source", "tags", "metadata", "created_at", "id",
                    "user_id"):
            self.assertEqual(r.json[key], m[key], key)
        self.assertAlmostEqual(r.json["importance_score"], 0.8)
        self.assertGreaterEqual(r.json["updated_at"], m["updated_at"])

        r = self.api.put("/api/memories/" + m["id"],
                         {"tags": ["z"], "layer": "archive", "importance_score": 0.1,
                          "type": "note"}, token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        got = self.get_memory(u.token, m["id"])
        self.assertEqual(got["content"], "edited")
        self.assertEqual(got["tags"], ["z"])
        self.assertEqual(got["layer"], "archive")
        self.assertEqual(got["type"], "note")
        self.assertAlmostEqual(got["importance_score"], 0.1)
        self.assertEqual(got["metadata"], {"k": "v"})
        # Tag filters follow the update.
        self.assertEqual(ids(self.list_memories(u.token, "tag=z")), [m["id"]])
        self.assertEqual(ids(self.list_memories(u.token, "tag=x")), [])

    def test_put_invalid_changes_nothing(self):
        u = self.new_user()
        m = self.create_memory(u.token, "keep me", tags=["t"])
        path = "/api/memories/" + m["id"]
        cases = [
            ({"content": "new", "type": "diary"}, 422, "invalid_field", "type"),
            ({"content": "new", "layer": "attic"}, 422, "invalid_field", "layer"),
            ({"content": "new", "importance_score": 2}, 422, "invalid_field", "importance_score"),
            ({"content": ""}, 422, "invalid_field", "content"),
            ({"content": 5}, 422, "invalid_field", "content"),
            ({"tags": "t"}, 422, "invalid_field", "tags"),
            ({"content": "new", "parent_memory_id": str(uuid.uuid4())}, 422, "invalid_field",
             "parent_memory_id"),
            ({"content": "a" * (1024 * 1024 + 1)}, 413, "content_too_large", None),
        ]
        for body, status, code, field in cases:
            with self.subTest(body=str(body)[:60]):
                r = self.api.put(path, body, token=u.token)
                self.assert_error(r, status, code, field=field)
        got = self.get_memory(u.token, m["id"])
        self.assertEqual(got["content"], "keep me")
        self.assertEqual(got["tags"], ["t"])
        self.assertEqual(got["type"], "note")

    def test_put_unknown_is_404(self):
        u = self.new_user()
        r = self.api.put("/api/memories/" + str(uuid.uuid4()), {"content": "x"}, token=u.token)
        self.assert_error(r, 404, "not_found")
        self.assertEqual(self.memory_count(u.token), 0)

    def test_delete(self):
        u = self.new_user()
        keep = self.create_memory(u.token, "keep")
        gone = self.create_memory(u.token, "gone")
        r = self.api.delete("/api/memories/" + gone["id"], token=u.token)
        self.assertEqual(r.status, 204, r.raw[:300])
        self.assertEqual(r.raw, b"")
        self.assert_error(self.api.get("/api/memories/" + gone["id"], token=u.token),
                          404, "not_found")
        self.assert_error(self.api.delete("/api/memories/" + gone["id"], token=u.token),
                          404, "not_found")
        self.assert_error(self.api.put("/api/memories/" + gone["id"], {"content": "x"},
                                       token=u.token), 404, "not_found")
        self.assertEqual(ids(self.list_memories(u.token)), [keep["id"]])
        self.assertEqual(self.memory_count(u.token), 1)


class ListTest(harness.ApiTestCase):

    def seed(self, token):
        """Five memories on five days, with distinct type/layer/source/tags."""
        specs = [
            dict(content="m0", type="note", layer="active", source="api", tags=["work"],
                 importance_score=0.3, created_at="2025-01-01T10:00:00Z"),
            dict(content="m1", type="event", layer="working", source="calendar",
                 tags=["workout"], importance_score=0.9, created_at="2025-01-02T00:00:00Z"),
            dict(content="m2", type="email", layer="reference", source="imap",
                 tags=["work", "mail"], importance_score=0.1, created_at="2025-01-03T12:00:00Z"),
            dict(content="m3", type="note", layer="archive", source="api", tags=[],
                 importance_score=0.7, created_at="2025-01-04T23:59:59Z"),
            dict(content="m4", type="action", layer="active", source="calendar",
                 tags=["office"], importance_score=0.5, created_at="2025-01-05T08:00:00Z"),
        ]
        return [self.create_memory(token, **s)["id"] for s in specs]

    def test_default_newest_first(self):
        u = self.new_user()
        m = self.seed(u.token)
        listing = self.list_memories(u.token)
        self.assertEqual(ids(listing), list(reversed(m)))
        self.assertEqual(listing["total"], 5)
        self.assertEqual(listing["limit"], 20)
        self.assertEqual(listing["offset"], 0)
        self.assertIs(listing["has_more"], False)
        for item in listing["memories"]:
            self.assert_memory_shape(item)
            self.assertEqual(item["user_id"], u.id)

    def test_filters(self):
        u = self.new_user()
        m = self.seed(u.token)
        cases = {
            "type=note": [m[3], m[0]],
            "type=event": [m[1]],
            "layer=active": [m[4], m[0]],
            "layer=reference": [m[2]],
            "source=calendar": [m[4], m[1]],
            "source=imap": [m[2]],
            "tag=work": [m[2], m[0]],
            "tag=workout": [m[1]],
            "tag=office": [m[4]],
            "tag=mail": [m[2]],
            "tag=nothing": [],
            "after=2025-01-02": [m[4], m[3], m[2], m[1]],
            "after=2025-01-02T00:00:00Z": [m[4], m[3], m[2], m[1]],
            "after=2025-01-02T00:00:01Z": [m[4], m[3], m[2]],
            "before=2025-01-02": [m[0]],
            "before=2025-01-02T00:00:01Z": [m[1], m[0]],
            "after=2025-01-02&before=2025-01-04": [m[2], m[1]],
            "after=2025-01-04T23:59:59%2B00:00": [m[4], m[3]],
            "type=note&tag=work": [m[0]],
            "source=calendar&layer=working": [m[1]],
            "type=note&unknown_param=1": [m[3], m[0]],
        }
        for query, expected in cases.items():
            with self.subTest(query=query):
                listing = self.list_memories(u.token, query)
                self.assertEqual(ids(listing), expected)
                self.assertEqual(listing["total"], len(expected))

    def test_bad_filter_values(self):
        u = self.new_user()
        self.seed(u.token)
        for query, field in (("after=yesterday", "after"), ("before=2025-13-01", "before"),
                             ("after=2025-01-01T25:00:00Z", "after")):
            with self.subTest(query=query):
                r = self.api.get("/api/memories?" + query, token=u.token)
                self.assert_error(r, 422, "invalid_field", field=field)

    def test_sort(self):
        u = self.new_user()
        m = self.seed(u.token)
        newest = list(reversed(m))
        cases = {
            "newest": newest,
            "-created_at": newest,
            "oldest": m,
            "created_at": m,
            "importance": [m[1], m[3], m[4], m[0], m[2]],
            "-importance_score": [m[1], m[3], m[4], m[0], m[2]],
        }
        for sort, expected in cases.items():
            with self.subTest(sort=sort):
                self.assertEqual(ids(self.list_memories(u.token, "sort=" + sort)), expected)
        r = self.api.get("/api/memories?sort=random", token=u.token)
        self.assert_error(r, 422, "invalid_field", field="sort")

    def test_sort_updated_accessed_access_count(self):
        u = self.new_user()
        m = self.seed(u.token)
        r = self.api.put("/api/memories/" + m[2], {"content": "edited"}, token=u.token)
        self.assertEqual(r.status, 200)
        for sort in ("updated", "-updated_at"):
            with self.subTest(sort=sort):
                self.assertEqual(ids(self.list_memories(u.token, "sort=" + sort))[0], m[2])
        for _ in range(3):
            self.get_memory(u.token, m[0])
        self.get_memory(u.token, m[3])
        self.assertEqual(ids(self.list_memories(u.token, "sort=accessed"))[:2], [m[3], m[0]])
        for sort in ("access_count", "-access_count"):
            with self.subTest(sort=sort):
                self.assertEqual(ids(self.list_memories(u.token, "sort=" + sort))[:2],
                                 [m[0], m[3]])

    def test_pagination(self):
        u = self.new_user()
        m = self.seed(u.token)
        newest = list(reversed(m))
        page = self.list_memories(u.token, "limit=2")
        self.assertEqual(ids(page), newest[0:2])
        self.assertEqual((page["total"], page["limit"], page["offset"], page["has_more"]),
                         (5, 2, 0, True))
        page = self.list_memories(u.token, "limit=2&offset=2")
        self.assertEqual(ids(page), newest[2:4])
        self.assertEqual((page["offset"], page["has_more"]), (2, True))
        page = self.list_memories(u.token, "limit=2&offset=4")
        self.assertEqual(ids(page), newest[4:5])
        self.assertIs(page["has_more"], False)
        page = self.list_memories(u.token, "limit=5")
        self.assertIs(page["has_more"], False)
        page = self.list_memories(u.token, "offset=10")
        self.assertEqual(page["memories"], [])
        self.assertEqual(page["total"], 5)
        self.assertIs(page["has_more"], False)
        page = self.list_memories(u.token, "limit=2&offset=1&type=note")
        self.assertEqual(ids(page), [m[0]])
        self.assertEqual(page["total"], 2)

    def test_default_limit_and_clamp(self):
        u = self.new_user()
        r = self.api.post("/api/memories/bulk",
                          {"memories": [{"content": "bulk %d" % i} for i in range(25)]},
                          token=u.token)
        self.assertEqual(r.status, 201, r.raw[:300])
        page = self.list_memories(u.token)
        self.assertEqual(len(page["memories"]), 20)
        self.assertEqual(page["limit"], 20)
        self.assertIs(page["has_more"], True)
        self.assertEqual(page["total"], 25)
        page = self.list_memories(u.token, "limit=500")
        self.assertEqual(page["limit"], 200)
        self.assertEqual(len(page["memories"]), 25)
        self.assertIs(page["has_more"], False)

    def test_bad_paging_values(self):
        u = self.new_user()
        for query, status, code, field in (("limit=0", 422, "invalid_field", "limit"),
                                           ("limit=-5", 422, "invalid_field", "limit"),
                                           ("offset=-1", 422, "invalid_field", "offset"),
                                           ("limit=abc", 422, "invalid_field", "limit"),
                                           ("limit=", 422, "invalid_field", "limit"),
                                           ("offset=1x", 422, "invalid_field", "offset"),
                                           ("limit=99999999999999999999999", None, None, None)):
            with self.subTest(query=query):
                r = self.api.get("/api/memories?" + query, token=u.token)
                if status is None:
                    # Out of range of any integer type: clamped (200) or refused (4xx).
                    self.assertIn(r.status, (200, 400, 422), r.raw[:300])
                    if r.status != 200:
                        self.assert_error(r, r.status)
                    else:
                        self.assertEqual(r.json["limit"], 200)
                else:
                    self.assert_error(r, status, code, field=field)


class CountTest(harness.ApiTestCase):

    def test_total_memories_follows_create_bulk_delete(self):
        u = self.new_user()
        self.assertEqual(self.memory_count(u.token), 0)
        a = self.create_memory(u.token)
        self.assertEqual(self.memory_count(u.token), 1)
        r = self.api.post("/api/memories/bulk",
                          {"memories": [{"content": "b1"}, {"content": "b2"}, {"content": "b3"}]},
                          token=u.token)
        self.assertEqual(r.status, 201, r.raw[:300])
        self.assertEqual(self.memory_count(u.token), 4)
        self.assertEqual(self.api.delete("/api/memories/" + a["id"], token=u.token).status, 204)
        self.assertEqual(self.memory_count(u.token), 3)
        self.assertEqual(self.api.delete("/api/memories/" + r.json["ids"][0],
                                         token=u.token).status, 204)
        self.assertEqual(self.memory_count(u.token), 2)


class BulkTest(harness.ApiTestCase):

    def test_bulk_creates_in_order(self):
        u = self.new_user()
        items = [{"content": "first", "type": "note", "tags": ["b"]},
                 {"content": "second", "type": "email", "source": "imap",
                  "created_at": "2024-06-01T12:00:00Z"},
                 {"content": "third", "metadata": {"i": 3}, "importance_score": 0.2}]
        r = self.api.post("/api/memories/bulk", {"memories": items}, token=u.token)
        self.assertEqual(r.status, 201, r.raw[:300])
        self.assertEqual(r.json["created"], 3)
        self.assertEqual(len(r.json["ids"]), 3)
        self.assertEqual(len(set(r.json["ids"])), 3)
        for memory_id, item in zip(r.json["ids"], items):
            self.assertRegex(memory_id, harness.UUID_RE)
            m = self.get_memory(u.token, memory_id)
            for key, value in item.items():
                if key == "importance_score":
                    self.assertAlmostEqual(m[key], value)
                else:
                    self.assertEqual(m[key], value, key)
            self.assertEqual(m["user_id"], u.id)
        self.assertEqual(self.get_memory(u.token, r.json["ids"][0])["source"], "api")

    def test_bulk_1000_items(self):
        u = self.new_user()
        r = self.api.post("/api/memories/bulk",
                          {"memories": [{"content": "item %d" % i} for i in range(1000)]},
                          token=u.token)
        self.assertEqual(r.status, 201, r.raw[:300])
        self.assertEqual(r.json["created"], 1000)
        self.assertEqual(len(r.json["ids"]), 1000)
        self.assertEqual(self.memory_count(u.token), 1000)
        last = self.get_memory(u.token, r.json["ids"][999])
        self.assertEqual(last["content"], "item 999")

    def test_bulk_all_or_nothing(self):
        u = self.new_user()
        self.create_memory(u.token, "existing")
        cases = [
            ([{"content": "ok"}, {"content": "ok"}, {"content": "bad", "type": "diary"}],
             "invalid_field", 2, "type"),
            ([{"content": "ok"}, {"type": "note"}, {"content": "x", "layer": "nope"}],
             "missing_field", 1, "content"),
            ([{"content": ""}], "invalid_field", 0, "content"),
            ([{"content": "ok"}, {"content": "ok", "importance_score": 7}],
             "invalid_field", 1, "importance_score"),
            ([{"content": "ok"}, {"content": "ok", "parent_memory_id": str(uuid.uuid4())}],
             "invalid_field", 1, "parent_memory_id"),
            ([{"content": "ok"}, {"content": "ok", "created_at": "not a date"}],
             "invalid_field", 1, "created_at"),
        ]
        for items, code, index, field in cases:
            with self.subTest(index=index, field=field):
                r = self.api.post("/api/memories/bulk", {"memories": items}, token=u.token)
                self.assert_error(r, 422, code, field=field, index=index)
                self.assertEqual(self.memory_count(u.token), 1)
        # A non-object item.
        r = self.api.post("/api/memories/bulk", {"memories": [{"content": "ok"}, "text"]},
                          token=u.token)
        self.assert_error(r, 422, "invalid_field", index=1)
        self.assertEqual(self.memory_count(u.token), 1)

    def test_bulk_size_limits(self):
        u = self.new_user()
        r = self.api.post("/api/memories/bulk",
                          {"memories": [{"content": "x"} for _ in range(1001)]}, token=u.token)
        self.assert_error(r, 422, "invalid_field", field="memories")
        r = self.api.post("/api/memories/bulk", {"memories": []}, token=u.token)
        self.assert_error(r, 422, "invalid_field", field="memories")
        r = self.api.post("/api/memories/bulk", {"memories": {"content": "x"}}, token=u.token)
        self.assert_error(r, 422, "invalid_field", field="memories")
        r = self.api.post("/api/memories/bulk", {}, token=u.token)
        self.assert_error(r, 422, "missing_field", field="memories")
        self.assertEqual(self.memory_count(u.token), 0)


if __name__ == "__main__":
    unittest.main()
