"""Hostile and malformed input: each is refused with the right 4xx, the server
keeps answering, and nothing is half-written."""

import json
import os
import socket
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

MiB = 1024 * 1024


def nested_object(depth, leaf=1):
    """{"a":{"a":...leaf...}} with `depth` objects."""
    return '{"a":' * depth + json.dumps(leaf) + "}" * depth


class BadInputTest(harness.ApiTestCase):

    def setUp(self):
        super().setUp()
        self.u = self.new_user()
        self.existing = self.create_memory(self.u.token, "before", tags=["keep"])

    def assert_intact(self):
        """The server still answers and the user's data is as it was."""
        r = self.api.get("/health")
        self.assertEqual(r.status, 200, "server stopped answering /health")
        self.assertEqual(self.memory_count(self.u.token), 1, "a rejected request stored something")
        m = self.get_memory(self.u.token, self.existing["id"])
        self.assertEqual(m["content"], "before")
        self.assertEqual(m["tags"], ["keep"])

    def reject(self, method, path, status, code, field=None, body=None, raw=None,
               headers=None, token=True):
        r = self.api.request(method, path, body=body, raw=raw, headers=headers,
                             token=self.u.token if token else None)
        err = self.assert_error(r, status, code, field=field)
        self.assert_intact()
        return err

    # Malformed bodies -----------------------------------------------------

    def test_malformed_json(self):
        for raw in (b'{"content": "x"', b"{content: 'x'}", b'{"content": "x",}', b"nope",
                    b" ", b"{} {}", b'{"content": "x"} trailing', b"\xef\xbb\xbf{}x"):
            with self.subTest(raw=raw):
                self.reject("POST", "/api/memories", 400, "invalid_json", raw=raw)

    def test_missing_body(self):
        # A route that needs a body, given none: 400 invalid_request.
        self.reject("POST", "/api/memories", 400, "invalid_request", raw=b"")
        self.reject("PUT", "/api/memories/" + self.existing["id"], 400, "invalid_request",
                    raw=b"")
        self.reject("POST", "/api/auth/login", 400, "invalid_request", raw=b"", token=False)

    def test_top_level_not_an_object(self):
        for raw in (b"[1, 2]", b'"content"', b"42", b"null", b"true",
                    b'[{"content": "x"}]'):
            with self.subTest(raw=raw):
                self.reject("POST", "/api/memories", 400, "invalid_request", raw=raw)
        self.reject("POST", "/api/auth/login", 400, "invalid_request", raw=b"[]", token=False)

    def test_invalid_utf8(self):
        for raw in (b'{"content": "\xff\xfe"}', b'{"content": "\xc3"}',
                    b'{"content": "\xed\xa0\x80"}',       # encoded surrogate
                    b'{"content": "\xc0\xaf"}',           # overlong "/"
                    b'{"content": "ok", "tags": ["\x80"]}'):
            with self.subTest(raw=raw):
                self.reject("POST", "/api/memories", 400, "invalid_json", raw=raw)

    def test_nul_in_strings(self):
        for raw in (b'{"content": "a\\u0000b"}', b'{"content": "ok", "tags": ["a\\u0000"]}',
                    b'{"content": "ok", "metadata": {"k\\u0000": 1}}',
                    b'{"content": "a\x00b"}'):
            with self.subTest(raw=raw):
                self.reject("POST", "/api/memories", 400, "invalid_json", raw=raw)
        self.reject("POST", "/api/auth/login", 400, "invalid_json", token=False,
                    raw=b'{"email": "a\\u0000@example.com", "password": "x"}')

    def test_lone_surrogate_escape(self):
        self.reject("POST", "/api/memories", 400, "invalid_json",
                    raw=b'{"content": "\\ud800"}')

    def test_deep_nesting(self):
        # 10,000 nested arrays, inside a field and at the top level.
        deep = "[" * 10000 + "]" * 10000
        self.reject("POST", "/api/memories", 400, "invalid_json",
                    raw=('{"content": "x", "metadata": {"d": %s}}' % deep).encode())
        r = self.api.post("/api/memories", raw=deep.encode(), token=self.u.token)
        self.assert_error(r, 400)
        self.assert_intact()
        # 100 levels of metadata: deeper than the 64 levels any body may nest.
        self.reject("POST", "/api/memories", 400, "invalid_json",
                    raw=('{"content": "x", "metadata": %s}' % nested_object(100)).encode())
        # 20 levels: well-formed JSON, but metadata nests more than 16 levels.
        self.reject("POST", "/api/memories", 422, "invalid_field", field="metadata",
                    raw=('{"content": "x", "metadata": %s}' % nested_object(20)).encode())
        m = self.create_memory(self.u.token, "shallow", metadata=json.loads(nested_object(5)))
        self.assertEqual(m["metadata"], json.loads(nested_object(5)))
        self.assertEqual(self.api.delete("/api/memories/" + m["id"], token=self.u.token).status, 204)
        self.assert_intact()

    # Wrong types and values -------------------------------------------------

    def test_wrong_json_types(self):
        cases = [
            ({"content": 123}, "content"),
            ({"content": ["x"]}, "content"),
            ({"content": "x", "type": 1}, "type"),
            ({"content": "x", "layer": False}, "layer"),
            ({"content": "x", "source": {}}, "source"),
            ({"content": "x", "tags": "work"}, "tags"),
            ({"content": "x", "tags": [1, 2]}, "tags"),
            ({"content": "x", "tags": [{"t": 1}]}, "tags"),
            ({"content": "x", "metadata": []}, "metadata"),
            ({"content": "x", "metadata": "k=v"}, "metadata"),
            ({"content": "x", "attachments": {"name": "a"}}, "attachments"),
            ({"content": "x", "attachments": ["a.pdf"]}, "attachments"),
            ({"content": "x", "importance_score": "0.5"}, "importance_score"),
            ({"content": "x", "created_at": 1700000000}, "created_at"),
            ({"content": "x", "related_memory_ids": "abc"}, "related_memory_ids"),
        ]
        for body, field in cases:
            with self.subTest(body=str(body)[:60]):
                self.reject("POST", "/api/memories", 422, "invalid_field", field=field,
                            body=body)

    def test_null_content(self):
        # null is "absent" to some readers and "wrong type" to others: either
        # 422 code is fine, naming the field.
        r = self.api.post("/api/memories", {"content": None}, token=self.u.token)
        err = self.assert_error(r, 422, field="content")
        self.assertIn(err["code"], ("missing_field", "invalid_field"))
        self.assert_intact()

    def test_unknown_enum_values(self):
        for body, field in (({"content": "x", "type": "diary"}, "type"),
                            ({"content": "x", "type": "NOTE"}, "type"),
                            ({"content": "x", "layer": "attic"}, "layer"),
                            ({"content": "x", "layer": ""}, "layer")):
            with self.subTest(body=body):
                self.reject("POST", "/api/memories", 422, "invalid_field", field=field,
                            body=body)

    def test_importance_out_of_range(self):
        for value in (1.5, -0.5, 1e308, -1e-9):
            with self.subTest(value=value):
                self.reject("POST", "/api/memories", 422, "invalid_field",
                            field="importance_score",
                            body={"content": "x", "importance_score": value})
        self.reject("POST", "/api/memories", 400, "invalid_json",
                    raw=b'{"content": "x", "importance_score": NaN}')

    def test_bad_created_at(self):
        for value in ("yesterday", "2025-13-01T00:00:00Z", "2025-02-30T00:00:00Z",
                      "2025-01-01T24:61:00Z", "2025-01-01 10:00", "", "2025-01-01T00:00:00+25:00"):
            with self.subTest(value=value):
                self.reject("POST", "/api/memories", 422, "invalid_field", field="created_at",
                            body={"content": "x", "created_at": value})

    def test_too_many_and_too_long_tags(self):
        self.reject("POST", "/api/memories", 422, "invalid_field", field="tags",
                    body={"content": "x", "tags": ["tag%d" % i for i in range(10000)]})
        self.reject("POST", "/api/memories", 422, "invalid_field", field="tags",
                    body={"content": "x", "tags": ["t" * 100000]})
        self.reject("POST", "/api/memories", 422, "invalid_field", field="tags",
                    body={"content": "x", "tags": ["bell\x07"]})

    def test_metadata_and_attachments_too_large(self):
        self.reject("POST", "/api/memories", 422, "invalid_field", field="metadata",
                    body={"content": "x", "metadata": {"blob": "m" * (70 * 1024)}})
        self.reject("POST", "/api/memories", 422, "invalid_field", field="attachments",
                    body={"content": "x", "attachments": [{"blob": "a" * (70 * 1024)}]})

    def test_too_many_related_ids(self):
        self.reject("POST", "/api/memories", 422, "invalid_field", field="related_memory_ids",
                    body={"content": "x",
                          "related_memory_ids": [self.existing["id"]] +
                          [str(uuid.uuid4()) for _ in range(5000)]})

    # Sizes ---------------------------------------------------------------

    def test_content_over_one_mib(self):
        self.reject("POST", "/api/memories", 413, "content_too_large",
                    body={"content": "c" * (MiB + 1)})
        self.reject("POST", "/api/memories", 413, "content_too_large",
                    body={"content": "c" * (4 * MiB)})
        self.reject("PUT", "/api/memories/" + self.existing["id"], 413, "content_too_large",
                    body={"content": "c" * (2 * MiB)})

    def test_body_over_route_limit(self):
        self.reject("POST", "/api/memories", 413, "body_too_large",
                    body={"content": "x", "metadata": {"pad": "p" * (9 * MiB)}})
        self.reject("POST", "/api/memories", 413, "body_too_large",
                    raw=b'{"content": "' + b"b" * (9 * MiB) + b'"}')
        self.reject("PUT", "/api/memories/" + self.existing["id"], 413, "body_too_large",
                    raw=b'{"content": "' + b"b" * (9 * MiB) + b'"}')
        self.reject("POST", "/api/auth/login", 413, "body_too_large", token=False,
                    body={"email": "a@example.com", "password": "p" * (65 * 1024)})
        self.reject("POST", "/api/auth/register", 413, "body_too_large", token=False,
                    body={"email": harness.unique_email(), "password": "p" * (100 * 1024)})

    def test_bulk_body_over_limit(self):
        item = {"content": "z" * (34 * 1024)}
        self.reject("POST", "/api/memories/bulk", 413, "body_too_large",
                    body={"memories": [item] * 1000})

    def test_declared_length_over_limit_without_body(self):
        # Content-Length says 100 MiB; the server must answer 413 without
        # waiting for (or buffering) the body.
        u = self.api.url
        with socket.create_connection((u.hostname, u.port or 80), timeout=10) as s:
            s.sendall(("POST /api/memories HTTP/1.1\r\nHost: x\r\n"
                       "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                       "Content-Length: %d\r\n\r\n{\"content\":" % (self.u.token, 100 * MiB))
                      .encode())
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except socket.timeout:
                self.fail("no answer within 10 s to a request declaring a 100 MiB body")
        self.assertTrue(data.startswith(b"HTTP/1.1 413"), data[:200])
        self.assert_intact()

    # Content types -------------------------------------------------------

    def test_unsupported_media_type(self):
        body = json.dumps({"content": "x"}).encode()
        for ctype in ("text/plain", "application/x-www-form-urlencoded",
                      "multipart/form-data; boundary=x", "application/jsonx"):
            with self.subTest(content_type=ctype):
                self.reject("POST", "/api/memories", 415, "unsupported_media_type", raw=body,
                            headers={"Content-Type": ctype})
        self.reject("POST", "/api/auth/login", 415, "unsupported_media_type", token=False,
                    raw=b'{"email": "a@example.com", "password": "0123456789"}',
                    headers={"Content-Type": "text/plain"})

    def test_json_with_charset_is_fine(self):
        for ctype in ("application/json; charset=utf-8", "Application/JSON"):
            with self.subTest(content_type=ctype):
                r = self.api.post("/api/memories", raw=b'{"content": "charset ok"}',
                                  headers={"Content-Type": ctype}, token=self.u.token)
                self.assertEqual(r.status, 201, r.raw[:300])
                self.assertEqual(self.api.delete("/api/memories/" + r.json["id"],
                                                 token=self.u.token).status, 204)
        self.assert_intact()

    # Paths and query strings ---------------------------------------------

    def test_malformed_uuid_in_path(self):
        for bad in ("not-a-uuid", "1234", self.existing["id"][:-1],
                    self.existing["id"] + "0", "%00", "..%2f..%2fetc%2fpasswd",
                    "'%20OR%201=1--", "x" * 5000):
            for method in ("GET", "PUT", "DELETE"):
                with self.subTest(path=bad[:40], method=method):
                    body = {"content": "x"} if method == "PUT" else None
                    self.reject(method, "/api/memories/" + bad, 404, "not_found", body=body)

    def test_bad_query_values(self):
        self.reject("GET", "/api/memories?limit=abc", 422, "invalid_field", field="limit")
        self.reject("GET", "/api/memories?offset=ten", 422, "invalid_field", field="offset")
        self.reject("GET", "/api/memories?limit=2.5", 422, "invalid_field", field="limit")
        self.reject("GET", "/api/memories?limit=0", 422, "invalid_field", field="limit")
        self.reject("GET", "/api/memories?offset=-1", 422, "invalid_field", field="offset")
        self.reject("GET", "/api/memories?after=notadate", 422, "invalid_field", field="after")
        self.reject("GET", "/api/memories?sort=sideways", 422, "invalid_field", field="sort")
        r = self.api.get("/api/memories?tag=%ff%fe&type=%00", token=self.u.token)
        self.assertLess(r.status, 500, r.raw[:300])
        if r.status != 200:
            self.assert_error(r, r.status)
        self.assert_intact()

    def test_bulk_invalid_item_stores_nothing(self):
        items = [{"content": "fine %d" % i} for i in range(500)]
        items.append({"content": "bad", "importance_score": 3})
        err = self.reject("POST", "/api/memories/bulk", 422, "invalid_field",
                          field="importance_score", body={"memories": items})
        self.assertEqual(err.get("index"), 500)


if __name__ == "__main__":
    unittest.main()
