"""What the clients send with a file (the browser extension and the PWA
share target; extension/README.md, docs/WEB.md): POST /api/files with
?url= (kept in metadata.url, never fetched) and ?source=, both checked
before the work; GET /api/files/limits, the limits a client shows before an
upload."""

import os
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

FILE_MAX = 64 * 1024


def q(s):
    return urllib.parse.quote(s, safe="")


class FilesClientsTest(harness.ApiTestCase):
    server_env = {"PERSONALOS_FILE_MAX": str(FILE_MAX)}

    def upload(self, token, data, query):
        return self.api.post("/api/files?" + query, token=token, raw=data,
                             headers={"Content-Type": "application/octet-stream"})

    def count(self, token):
        return self.api.get("/api/memories", token=token).json["total"]

    def test_url_and_source_are_kept(self):
        u = self.new_user()
        url = "http://192.0.2.1/papers/heron%20count.txt?x=1"
        r = self.upload(u.token, b"the heron count was forty-two",
                        "name=count.txt&source=web&url=" + q(url))
        self.assertEqual(r.status, 201, r.raw[:500])
        self.assertEqual(r.json["source"], "web")
        self.assertEqual(r.json["metadata"]["url"], url)
        m = self.get_memory(u.token, r.json["id"])
        self.assertEqual(m["metadata"]["url"], url)
        self.assertEqual(m["source"], "web")
        # without them: source upload, no url
        r = self.upload(u.token, b"plain", "name=plain.txt")
        self.assertEqual(r.status, 201, r.raw[:500])
        self.assertEqual(r.json["source"], "upload")
        self.assertNotIn("url", r.json.get("metadata") or {})

    def test_bad_url_or_source_is_refused_and_nothing_is_made(self):
        u = self.new_user()
        before = self.count(u.token)
        bad = [("url", "javascript:alert(1)"), ("url", "file:///etc/passwd"),
               ("url", "http://example.org/a b"), ("url", "http://x/" + "a" * 2050),
               ("url", "http://x/\x01"),
               ("source", "Web"), ("source", "a" * 33), ("source", "we b")]
        for field, value in bad:
            with self.subTest(field=field, value=value[:40]):
                r = self.upload(u.token, b"some bytes", "name=a.txt&%s=%s" % (field, q(value)))
                self.assertEqual(r.status, 422, r.raw[:300])
                self.assertEqual(r.json["error"]["code"], "invalid_field")
                self.assertEqual(r.json["error"].get("field"), field)
        self.assertEqual(self.count(u.token), before)

    def test_limits(self):
        u = self.new_user()
        r = self.api.get("/api/files/limits", token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(r.json["file_max"], FILE_MAX)
        self.assertIsInstance(r.json["quota_bytes"], int)
        used = r.json["used_bytes"]
        self.assertEqual(self.upload(u.token, b"x" * 5000, "name=x.bin").status, 201)
        self.assertGreaterEqual(self.api.get("/api/files/limits", token=u.token).json["used_bytes"],
                                used + 5000)
        # the limit it shows is the one enforced
        r = self.upload(u.token, b"x" * (FILE_MAX + 1), "name=big.bin")
        self.assertEqual(r.status, 413, r.raw[:300])
        self.assertEqual(self.api.get("/api/files/limits").status, 401)


if __name__ == "__main__":
    unittest.main()
