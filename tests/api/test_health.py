"""Health, metrics, the OpenAPI document, and answers for unknown routes."""

import json
import os
import re
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def metric_names(metrics, pattern):
    return [n for n in metrics if re.search(pattern, n)]


class HealthTest(harness.ApiTestCase):

    def test_health_ok(self):
        r = self.api.get("/health")
        self.assertEqual(r.status, 200)
        self.assertIn("application/json", r.headers.get("content-type", ""))
        self.assertIsInstance(r.json, dict)
        self.assertEqual(r.json.get("status"), "ok")

    def test_health_needs_no_token_and_ignores_a_bad_one(self):
        r = self.api.get("/health", headers={"Authorization": "Bearer garbage"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json.get("status"), "ok")

    def test_keep_alive_serves_many_requests_on_one_connection(self):
        self.api.get("/health")
        sock = self.api.conn.sock
        self.assertIsNotNone(sock, "server closed the connection after /health")
        for _ in range(5):
            r = self.api.get("/health")
            self.assertEqual(r.status, 200)
        self.assertIs(self.api.conn.sock, sock, "connection was not kept alive")

    def fetch_metrics(self):
        r = self.api.get("/metrics")
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertIn("text/plain", r.headers.get("content-type", ""))
        return harness.parse_metrics(r.raw.decode("utf-8"))

    def test_metrics_has_request_counter_histogram_memories_uptime(self):
        m = self.fetch_metrics()
        counters = metric_names(m, r"requests_total$")
        self.assertTrue(counters, "no *requests_total counter in %s" % sorted(m))
        buckets = metric_names(m, r"_bucket$")
        self.assertTrue(buckets, "no histogram (*_bucket) in %s" % sorted(m))
        for b in buckets:
            base = b[:-len("_bucket")]
            self.assertIn(base + "_count", m, "histogram %s lacks _count" % base)
            self.assertIn(base + "_sum", m, "histogram %s lacks _sum" % base)
            self.assertTrue(any('le="+Inf"' in labels for labels, _ in m[b]),
                            "histogram %s lacks the +Inf bucket" % base)
        self.assertTrue(metric_names(m, r"memories"), "no memories metric in %s" % sorted(m))
        uptime = metric_names(m, r"uptime")
        self.assertTrue(uptime, "no uptime metric in %s" % sorted(m))
        self.assertGreaterEqual(m[uptime[0]][0][1], 0)

    def test_request_counter_counts_requests(self):
        def total(m):
            return sum(v for n in metric_names(m, r"requests_total$") for _, v in m[n])
        before = total(self.fetch_metrics())
        for _ in range(3):
            self.assertEqual(self.api.get("/health").status, 200)
        after = total(self.fetch_metrics())
        self.assertGreaterEqual(after - before, 3)

    def test_memories_metric_follows_creates(self):
        def values(m):
            return {n: sum(v for _, v in m[n]) for n in metric_names(m, r"memories")
                    if not n.endswith(("_bucket", "_sum", "_count"))}
        before = values(self.fetch_metrics())
        u = self.new_user()
        self.create_memory(u.token)
        deadline = time.monotonic() + 10
        while True:
            after = values(self.fetch_metrics())
            grown = [n for n in after if after[n] - before.get(n, 0) >= 1]
            if grown or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertTrue(grown, "no memories metric grew after a create: %r -> %r"
                        % (before, after))

    def test_openapi_json(self):
        r = self.api.get("/api/openapi.json")
        self.assertEqual(r.status, 200)
        self.assertIn("json", r.headers.get("content-type", ""))
        doc = json.loads(r.raw.decode("utf-8"))
        self.assertIsInstance(doc, dict)
        self.assertIn("openapi", doc)
        self.assertTrue(str(doc["openapi"]).startswith("3"), doc["openapi"])
        self.assertIsInstance(doc.get("paths"), dict)
        for path in ("/api/auth/register", "/api/auth/login", "/api/auth/me",
                     "/api/memories", "/api/memories/bulk"):
            self.assertIn(path, doc["paths"])
        self.assertTrue(any(re.match(r"^/api/memories/\{[a-z_]+\}$", p) for p in doc["paths"]),
                        "no /api/memories/{id} path in %s" % sorted(doc["paths"]))

    def test_unknown_route_is_404_json(self):
        for path in ("/nope", "/api/nope", "/api/memories/search/extra/deep",
                     "/api/auth/me/more"):
            with self.subTest(path=path):
                r = self.api.get(path)
                self.assert_error(r, 404, "not_found")

    def test_wrong_method_is_405_with_allow(self):
        r = self.api.request("POST", "/health", body={})
        err = self.assert_error(r, 405, "method_not_allowed")
        self.assertIsNotNone(err)
        self.assertIn("GET", r.headers.get("allow", ""))

        u = self.new_user()
        r = self.api.request("DELETE", "/api/memories", token=u.token)
        self.assert_error(r, 405, "method_not_allowed")
        allow = [m.strip() for m in r.headers.get("allow", "").split(",")]
        self.assertIn("GET", allow)
        self.assertIn("POST", allow)
        self.assertNotIn("DELETE", allow)

        r = self.api.request("GET", "/api/auth/login")
        self.assert_error(r, 405, "method_not_allowed")
        self.assertIn("POST", r.headers.get("allow", ""))

        # A fixed path is not mixed up with the {id} routes it also matches.
        for path in ("/api/memories/graph", "/api/memories/search", "/api/memories/stats"):
            with self.subTest(path=path):
                r = self.api.request("POST", path, body={}, token=u.token)
                self.assert_error(r, 405, "method_not_allowed")
                allow = [m.strip() for m in r.headers.get("allow", "").split(",")]
                self.assertEqual(allow, ["GET"])

    def test_server_survives_garbage_request_line(self):
        u = self.api.url
        with socket.create_connection((u.hostname, u.port or 80), timeout=10) as s:
            s.sendall(b"\x00\xffNOT HTTP AT ALL\r\n\r\n")
            try:
                s.recv(4096)
            except OSError:
                pass
        r = self.api.get("/health")
        self.assertEqual(r.status, 200)


if __name__ == "__main__":
    unittest.main()
