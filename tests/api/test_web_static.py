"""The web app's files served at / (src/http/static.c): content types, the
client-side route fallback for browsers, precompressed variants, cache
headers and ETags, the app's own Content-Security-Policy, path traversal
refused, and /api left to the router. Uses a small stand-in build in a temp
directory, so it needs no npm."""

import gzip
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

INDEX = b"<!doctype html><title>app</title><div id=app></div><script type=module src=/assets/app-1234.js></script>"
APP_JS = b"console.log('app');\n" * 200
HTML = {"Accept": "text/html,application/xhtml+xml"}


class WebStaticTest(harness.ApiTestCase):

    @classmethod
    def setUpClass(cls):
        cls.top = tempfile.mkdtemp(prefix="pos-web-")
        root = os.path.join(cls.top, "dist")
        os.makedirs(os.path.join(root, "assets"))
        with open(os.path.join(root, "index.html"), "wb") as f:
            f.write(INDEX)
        with open(os.path.join(root, "assets", "app-1234.js"), "wb") as f:
            f.write(APP_JS)
        with open(os.path.join(root, "assets", "app-1234.js.gz"), "wb") as f:
            f.write(gzip.compress(APP_JS))
        with open(os.path.join(root, "manifest.webmanifest"), "wb") as f:
            f.write(b'{"name": "PersonalOS"}')
        with open(os.path.join(root, ".secret"), "wb") as f:
            f.write(b"hidden")
        with open(os.path.join(cls.top, "outside.txt"), "wb") as f:
            f.write(b"outside the web root")
        os.symlink(os.path.join(cls.top, "outside.txt"), os.path.join(root, "escape.txt"))
        cls.server_env = {"PERSONALOS_WEB_ROOT": root}
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.top, ignore_errors=True)

    def test_index_with_app_csp_and_no_cache(self):
        r = self.api.get("/")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.raw, INDEX)
        self.assertTrue(r.headers["content-type"].startswith("text/html"))
        csp = r.headers.get("content-security-policy", "")
        self.assertIn("script-src 'self'", csp)
        self.assertNotIn("unsafe-inline", csp)
        self.assertIn("frame-ancestors 'none'", csp)
        self.assertEqual(r.headers.get("cache-control"), "no-cache")
        self.assertEqual(r.headers.get("x-content-type-options"), "nosniff")

    def test_hashed_assets_are_immutable_and_gzipped_when_accepted(self):
        r = self.api.get("/assets/app-1234.js")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.raw, APP_JS)
        self.assertTrue(r.headers["content-type"].startswith("text/javascript"))
        self.assertIn("immutable", r.headers.get("cache-control", ""))
        self.assertNotIn("content-encoding", r.headers)
        z = self.api.request("GET", "/assets/app-1234.js", headers={"Accept-Encoding": "gzip, deflate"})
        self.assertEqual(z.status, 200)
        self.assertEqual(z.headers.get("content-encoding"), "gzip")
        self.assertEqual(gzip.decompress(z.raw), APP_JS)
        self.assertIn("Accept-Encoding", z.headers.get("vary", ""))
        self.assertNotEqual(z.headers.get("etag"), r.headers.get("etag"))

    def test_etag_revalidation(self):
        r = self.api.get("/manifest.webmanifest")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["content-type"], "application/manifest+json")
        etag = r.headers["etag"]
        again = self.api.request("GET", "/manifest.webmanifest", headers={"If-None-Match": etag})
        self.assertEqual(again.status, 304)
        self.assertEqual(again.raw, b"")
        other = self.api.request("GET", "/manifest.webmanifest", headers={"If-None-Match": 'W/"nope"'})
        self.assertEqual(other.status, 200)

    def test_client_routes_fall_back_to_the_app_for_browsers(self):
        for path in ("/chat", "/memories/0b7d3f9e-5d43-4a4e-a0a3-2b8c1c4d5e6f", "/settings/", "/search"):
            with self.subTest(path=path):
                r = self.api.request("GET", path, headers=HTML)
                self.assertEqual(r.status, 200)
                self.assertEqual(r.raw, INDEX)
        # Other clients, and missing files with an extension, get a JSON 404.
        self.assert_error(self.api.get("/chat"), 404, "not_found")
        self.assert_error(self.api.request("GET", "/assets/missing-99.js", headers=HTML), 404, "not_found")

    def test_api_paths_stay_with_the_router(self):
        for path in ("/api/nope", "/api", "/api/memories/search/extra/deep"):
            with self.subTest(path=path):
                r = self.api.request("GET", path, headers=HTML)
                self.assert_error(r, 404, "not_found")
                self.assertIn("default-src 'none'", r.headers.get("content-security-policy", ""))
        r = self.api.request("POST", "/", body={}, headers=HTML)
        self.assert_error(r, 404, "not_found")
        self.assertEqual(self.api.get("/health").status, 200)

    def test_traversal_dotfiles_and_symlinks_out_are_refused(self):
        for path in ("/../outside.txt", "/assets/../../outside.txt", "/%2e%2e/outside.txt",
                     "/assets/..%2f..%2foutside.txt", "/.secret", "/escape.txt",
                     "/assets/%00", "/assets\\..\\..\\outside.txt", "/" + "a/" * 600):
            with self.subTest(path=path):
                r = self.api.request("GET", path, headers=HTML)
                self.assertNotEqual(r.raw, b"outside the web root")
                self.assertNotEqual(r.raw, b"hidden")
                self.assertIn(r.status, (200, 400, 404))
                if r.status == 200:  # only ever the app itself
                    self.assertEqual(r.raw, INDEX)

    def test_head_has_no_body(self):
        r = self.api.request("HEAD", "/")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.raw, b"")


class NoWebRootTest(harness.ApiTestCase):
    server_env = {"PERSONALOS_WEB_ROOT": "/nonexistent/pos-web-root"}

    def test_api_alone_when_there_is_no_build(self):
        self.assert_error(self.api.request("GET", "/", headers=HTML), 404, "not_found")
        self.assertEqual(self.api.get("/health").status, 200)


if __name__ == "__main__":
    unittest.main()
