"""The attack suite (issue 7, docs/SECURITY.md): a black-box attacker against
the real server.

* User B tries every route of the server's own route table (read from
  GET /api/openapi.json, so a new route is attacked without editing this
  file) on user A's ids: every answer is 404, and A's data is unchanged.
* Nothing of A's appears in anything B can read: every parameterless GET
  route (list, search, stats, graph, ...), and export and suggestions when
  the server has them.
* Tampered, truncated, expired, revoked and reused credentials on every
  route that needs one: 401.
* Hostile bodies (oversized, 10,000-deep JSON, invalid UTF-8, NUL bytes)
  on every route that takes a body, and FTS5 syntax in every search: a 4xx
  JSON error (or a normal answer for queries), and /health still 200.
* Login brute force reaches the lockout (429 with Retry-After), per
  account and per address; request floods reach the rate limits.
* CORS: only allow-listed origins get CORS headers; preflights answered.
* TLS through libmicrohttpd with a self-signed certificate made here.

Single-purpose checks that already live elsewhere (test_isolation.py,
test_bad_input.py, test_auth.py, test_tokens.py) are not repeated; this
file sweeps the route table with them.
"""

import http.client
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

METHODS = ("get", "post", "put", "patch", "delete")
# Routes an attacker may call but that touch only the caller's own session.
SESSION_ENDING = {("POST", "/api/auth/logout")}
# Leak probes for routes of later work: (method, path, body) when present.
LEAK_PROBES = [
    ("POST", "/api/export/memories", {"format": "json"}),
    ("POST", "/api/chat/suggestions", {}),
    ("GET", "/api/chat/suggestions", None),
    ("GET", "/api/chat/history", None),
    ("GET", "/api/sync/sources", None),
    ("GET", "/api/plugins", None),
]


def load_routes(api):
    """[(METHOD, path template, needs_auth)] from the served OpenAPI document."""
    r = api.get("/api/openapi.json")
    assert r.status == 200, r.status
    doc = r.json
    routes = []
    for path, item in doc["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            security = op.get("security", doc.get("security", []))
            routes.append((method.upper(), path, bool(security)))
    return routes


class AttackTest(harness.ApiTestCase):
    """Default limits: the sweeps must also prove they do not trip them."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        api = harness.Api(cls.server.base_url)
        try:
            cls.routes = load_routes(api)
        finally:
            api.close()

    def setUp(self):
        super().setUp()
        self.a = self.new_user()
        self.b = self.new_user()
        self.word = "okapi" + uuid.uuid4().hex[:10]
        self.secret = self.create_memory(self.a.token, "A's secret %s plan" % self.word,
                                         tags=["t-" + self.word], source="diary")
        self.other = self.create_memory(self.a.token, "second %s note" % self.word,
                                        related_memory_ids=[self.secret["id"]])
        r = self.api.post("/api/auth/tokens", {"name": "a-token", "scope": "write"},
                          token=self.a.token)
        self.assertEqual(r.status, 201, r.raw[:300])
        self.a_token_id = r.json["id"]
        self.a_pat = r.json["token"]

    def health_ok(self):
        r = self.api.get("/health")
        self.assertEqual(r.status, 200, "server stopped serving: %r" % (r.raw[:200],))

    def a_is_intact(self):
        m = self.get_memory(self.a.token, self.secret["id"])
        self.assertEqual(m["content"], self.secret["content"])
        self.assertEqual(m["tags"], self.secret["tags"])
        self.assertEqual(m["shared_with"], [])
        self.assertEqual(self.memory_count(self.a.token), 2)
        r = self.api.get("/api/auth/tokens", token=self.a.token)
        self.assertIn(self.a_token_id, [t["id"] for t in r.json["tokens"]])
        self.assertEqual(self.api.get("/api/auth/me", token=self.a_pat).status, 200)

    def assert_security_headers(self, r):
        """The headers every answer carries (issue 7 item 6)."""
        h = r.headers
        self.assertEqual(h.get("x-content-type-options"), "nosniff")
        self.assertIn("default-src 'none'", h.get("content-security-policy", ""))
        self.assertIn("frame-ancestors 'none'", h.get("content-security-policy", ""))
        self.assertEqual(h.get("referrer-policy"), "no-referrer")
        self.assertEqual(h.get("cache-control"), "no-store")

    def fill(self, path, ids):
        """The path with {placeholders} filled from ids (by name) or A's memory id."""
        def sub(m):
            return urllib.parse.quote(ids.get(m.group(1), self.secret["id"]), safe="@")
        return re.sub(r"\{([^}]+)\}", sub, path)

    # B on A's ids -------------------------------------------------------------

    def test_every_route_on_other_users_ids_is_404(self):
        templated = [rt for rt in self.routes if "{" in rt[1] and rt[2]]
        self.assertTrue(templated, "no parameterized route found in the OpenAPI document")
        # One fill per kind of id the route takes: A's memory, A's token.
        fills = [{"id": self.secret["id"], "email": self.b.email},
                 {"id": self.other["id"], "email": self.a.email}]
        if any(p.startswith("/api/auth/tokens/") for _, p, _ in templated):
            fills.append({"id": self.a_token_id, "email": self.b.email})
        bodies = {"POST": {"emails": [self.b.email], "content": "pwned"},
                  "PUT": {"content": "pwned", "tags": ["pwned"]},
                  "PATCH": {"content": "pwned"}}
        for method, path, _ in templated:
            for ids in fills:
                url = self.fill(path, ids)
                with self.subTest(method=method, url=url):
                    r = self.api.request(method, url, body=bodies.get(method),
                                         token=self.b.token)
                    if path.startswith("/api/admin/"):
                        # B is no admin: refused before any id is looked at
                        self.assert_error(r, 403, "forbidden")
                    else:
                        self.assert_error(r, 404, "not_found")
                    self.assertNotIn(self.word, r.raw.decode("utf-8", "replace"))
                    self.assert_security_headers(r)
        # Also with a personal API token of B.
        r = self.api.post("/api/auth/tokens", {"name": "b", "scope": "write"}, token=self.b.token)
        b_pat = r.json["token"]
        for method, path, _ in templated:
            if path.startswith("/api/auth/tokens"):
                continue  # session-only routes: 403 for any personal token
            url = self.fill(path, fills[0])
            with self.subTest(method=method, url=url, credential="pat"):
                r = self.api.request(method, url, body=bodies.get(method), token=b_pat)
                if path.startswith("/api/admin/"):
                    self.assert_error(r, 403, "forbidden")  # session-only, admin-only
                else:
                    self.assert_error(r, 404, "not_found")
        self.a_is_intact()
        self.health_ok()

    def test_nothing_of_a_in_what_b_can_read(self):
        leaks = []
        plain_gets = [p for m, p, auth in self.routes
                      if m == "GET" and auth and "{" not in p]
        self.assertIn("/api/memories", plain_gets)
        queries = ["", "?query=" + self.word, "?query=" + self.word + "&include_shared=true",
                   "?root=" + self.secret["id"], "?shared=with_me", "?tag=t-" + self.word]
        for path in plain_gets:
            for q in queries:
                r = self.api.get(path + q, token=self.b.token)
                self.assertLess(r.status, 500, (path + q, r.raw[:200]))
                self.assert_security_headers(r)
                text = r.raw.decode("utf-8", "replace")
                for needle in (self.word, self.secret["id"], self.other["id"], self.a.id):
                    if needle in text:
                        leaks.append((path + q, needle))
        stats = self.api.get("/api/memories/stats", token=self.b.token).json
        self.assertEqual(stats["total"], 0)
        for method, path, body in LEAK_PROBES:
            if not any(m == method and p == path for m, p, _ in self.routes):
                continue  # not built yet: probed once it exists
            r = self.api.request(method, path, body=body, token=self.b.token)
            self.assertLess(r.status, 500, (path, r.raw[:200]))
            text = r.raw.decode("utf-8", "replace")
            # An export job: follow it to its file when the answer names one.
            if isinstance(r.json, dict) and r.json.get("export_id"):
                eid = r.json["export_id"]
                for _ in range(50):
                    st = self.api.get("/api/export/status/" + eid, token=self.b.token)
                    if st.json and st.json.get("status") in ("done", "failed"):
                        break
                    time.sleep(0.1)
                text += self.api.get("/api/export/download/" + eid,
                                     token=self.b.token).raw.decode("utf-8", "replace")
            if self.word in text:
                leaks.append((path, self.word))
        self.assertEqual(leaks, [], "A's data reached B")
        self.a_is_intact()

    # Credentials --------------------------------------------------------------

    def test_bad_credentials_on_every_route(self):
        u = self.new_user()
        parts = u.token.split(".")
        flipped = ".".join(parts[:2] + [parts[2][:5] + ("A" if parts[2][5] != "A" else "B")
                                        + parts[2][6:]])
        # A revoked session token.
        revoked = self.api.login(u.email)["access_token"]
        self.assertEqual(self.api.post("/api/auth/logout", token=revoked).status, 204)
        # A revoked personal token.
        r = self.api.post("/api/auth/tokens", {"name": "x", "scope": "write"}, token=u.token)
        pat, pat_id = r.json["token"], r.json["id"]
        self.assertEqual(self.api.delete("/api/auth/tokens/" + pat_id, token=u.token).status, 204)
        # A family killed by refresh-token reuse: its access token dies too.
        fam = self.api.login(u.email)
        r1 = self.api.post("/api/auth/refresh", {"refresh_token": fam["refresh_token"]})
        self.assertEqual(r1.status, 200)
        reuse = self.api.post("/api/auth/refresh", {"refresh_token": fam["refresh_token"]})
        self.assert_error(reuse, 401)
        again = self.api.post("/api/auth/refresh", {"refresh_token": r1.json["refresh_token"]})
        self.assert_error(again, 401)
        time.sleep(2.1)  # past the session cache's 2-second window
        creds = {"flipped mac": flipped, "truncated": u.token[:-6], "revoked session": revoked,
                 "revoked token": pat, "reused family": r1.json["access_token"],
                 "refresh as bearer": fam["refresh_token"], "empty": ""}
        for method, path, auth in self.routes:
            if not auth:
                continue
            url = self.fill(path, {"id": self.secret["id"], "email": u.email})
            for name, tok in creds.items():
                with self.subTest(method=method, url=url, credential=name):
                    r = self.api.request(method, url, body={} if method != "GET" else None,
                                         headers={"Authorization": "Bearer " + tok})
                    self.assert_error(r, 401, "unauthorized")
        self.assertEqual(self.api.get("/api/auth/me", token=u.token).status, 200)
        self.a_is_intact()

    # Hostile input --------------------------------------------------------------

    def test_hostile_bodies_on_every_route(self):
        deep = ("[" * 10000 + "]" * 10000).encode()
        deep_obj = ('{"content": "x", "emails": ' + "[" * 10000 + "]" * 10000 + "}").encode()
        bodies = {
            "10k-deep array": deep,
            "10k-deep field": deep_obj,
            "invalid utf-8": b'{"content": "\xff\xfe bad", "email": "\xc0\xaf@x.com"}',
            "raw NUL": b'{"content": "a\x00b", "email": "a\x00@x.com"}',
            "escaped NUL": b'{"content": "a\\u0000b", "email": "x\\u0000@example.com",'
                           b' "emails": ["a\\u0000@example.com"], "password": "p\\u0000"}',
            "truncated": b'{"content": "x',
            "not an object": b'"just a string"',
            "lone surrogate": b'{"content": "\\ud800"}',
        }
        with_body = [(m, p) for m, p, _ in self.routes if m in ("POST", "PUT", "PATCH")
                     and (m, p) not in SESSION_ENDING]
        self.assertTrue(with_body)
        for method, path in with_body:
            url = self.fill(path, {"id": self.secret["id"], "email": self.b.email})
            for name, raw in bodies.items():
                with self.subTest(method=method, url=url, body=name):
                    r = self.api.request(method, url, raw=raw, token=self.a.token)
                    self.assertTrue(400 <= r.status < 500, "%d %r" % (r.status, r.raw[:200]))
                    if path == "/mcp":
                        # MCP speaks JSON-RPC: its errors are JSON-RPC errors
                        err = (r.json or {}).get("error") or {}
                        self.assertEqual((r.json or {}).get("jsonrpc"), "2.0", r.raw[:200])
                        self.assertIsInstance(err.get("code"), int, r.raw[:200])
                        self.assertTrue(err.get("message"), r.raw[:200])
                    else:
                        self.assert_error(r, r.status)
                    self.health_ok()
            # Far over any route's limit: 413, and the server keeps serving.
            # (Sync uploads take up to 64 MiB: theirs is over that. Imports
            # are spooled to disk up to import_upload_max, 2 GiB by
            # default: test_export.ImportSpoolTest proves their 413 under
            # a small configured limit.)
            if path == "/api/import":
                continue
            big = (65 if path == "/api/sync/uploads" else 33) * 1024 * 1024
            with self.subTest(method=method, url=url, body="oversized"):
                r = self.api.request(method, url, raw=b"{" + b" " * big + b"}",
                                     token=self.a.token)
                self.assert_error(r, 413, "body_too_large")
                self.health_ok()
        self.a_is_intact()

    # File sources (issue 12) ------------------------------------------------------

    def test_file_sources_cannot_read_server_files(self):
        """The server's own database (/proc/self/fd/N), system files, paths
        out of the user's folder: refused when the source is made (403
        without sync_file_root, 422 with it), nothing imported."""
        before = self.api.get("/api/sync/sources", token=self.b.token).json["sources"]
        for kind in ("mbox", "maildir", "ics_file", "markdown_dir"):
            for path in ("/proc/self/fd/3", "/proc/self/fd/4", "/etc/passwd", "../../etc/passwd",
                         "../" + (self.a.id or "x") + "/a.mbox", "/"):
                with self.subTest(kind=kind, path=path):
                    r = self.api.post("/api/sync/sources",
                                      {"kind": kind, "config": {"path": path}, "interval_s": 0},
                                      token=self.b.token)
                    self.assertIn(r.status, (403, 422), r.raw[:300])
                    self.assert_error(r, r.status)
        self.assertEqual(self.api.get("/api/sync/sources", token=self.b.token).json["sources"],
                         before)
        self.health_ok()

    def test_fts5_syntax_in_queries(self):
        self.assertEqual(self.api.post("/api/memories/%s/share" % self.secret["id"],
                                       {"emails": [self.b.email]}, token=self.a.token).status, 200)
        queries = ['NEAR(a b', 'a AND OR NOT', '"unbalanced', '*', 'content:x', '{content tags}: x',
                   '^start', 'a NOT', '(((((', ')))', 'x"y"z', "col:" + self.word, '-', '""',
                   'NEAR("a" "b", -1)', self.word + '*', '\\', "'; DROP TABLE memories; --",
                   'rank:bm25', 'a\u0000b', '\U0001F600 AND', "%00"]
        for q in queries:
            for extra in ("", "&mode=keyword", "&include_shared=true", "&mode=semantic"):
                for who in (self.a, self.b):
                    url = "/api/memories/search?query=" + urllib.parse.quote(q) + extra
                    with self.subTest(query=q, extra=extra):
                        r = self.api.get(url, token=who.token)
                        self.assertIn(r.status, (200, 422), r.raw[:300])
                        self.assertIsInstance(r.json, dict)
                        if r.status == 422:
                            self.assert_error(r, 422)
        self.health_ok()
        r = self.api.get("/api/memories/search?query=" + self.word, token=self.a.token)
        self.assertIn(self.secret["id"], [m["id"] for m in r.json["memories"]])


class ExpiredTokenTest(harness.ApiTestCase):
    """Access tokens that lived out their time, on every route that needs one."""

    server_env = {"PERSONALOS_ACCESS_TTL": "1"}

    def test_expired_token_on_every_route(self):
        api = harness.Api(self.server.base_url)
        self.addCleanup(api.close)
        routes = load_routes(api)
        u = self.new_user()
        mid = str(uuid.uuid4())
        time.sleep(2.2)
        for method, path, auth in routes:
            if not auth:
                continue
            url = re.sub(r"\{([^}]+)\}", lambda m: "x@example.com" if m.group(1) == "email"
                         else mid, path)
            with self.subTest(method=method, url=url):
                r = self.api.request(method, url, body={} if method != "GET" else None,
                                     token=u.token)
                self.assert_error(r, 401, "unauthorized")
        # The refresh token still works and gives a live pair.
        r = self.api.post("/api/auth/refresh", {"refresh_token": u.refresh_token})
        self.assertEqual(r.status, 200, r.raw[:200])
        self.assertEqual(self.api.get("/api/auth/me", token=r.json["access_token"]).status, 200)


class BruteForceTest(harness.ApiTestCase):
    """Strict limits, set explicitly: the lockout and the buckets are reached."""

    server_env = {
        "PERSONALOS_LOGIN_MAX_FAILURES": "3",
        "PERSONALOS_LOGIN_MAX_FAILURES_IP": "8",
        "PERSONALOS_LOGIN_LOCKOUT": "2",
        "PERSONALOS_LOGIN_LOCKOUT_MAX": "4",
        "PERSONALOS_RATE_LIMIT_AUTH_BURST": "30",
        "PERSONALOS_RATE_LIMIT_AUTH_PER_MIN": "600",
        "PERSONALOS_PWHASH_MEMLIMIT_KIB": "8192",
        "PERSONALOS_PWHASH_OPSLIMIT": "1",
    }

    def setUp(self):
        super().setUp()
        self.raw = harness.Api(self.server.base_url, retry_429=False)
        self.addCleanup(self.raw.close)

    def login(self, email, password):
        return self.raw.post("/api/auth/login", {"email": email, "password": password})

    def assert_429(self, r):
        self.assert_error(r, 429, "rate_limited")
        self.assertIn("retry-after", r.headers)
        wait = int(r.headers["retry-after"])
        self.assertGreaterEqual(wait, 1)
        return wait

    def test_account_lockout_grows_and_success_resets(self):
        u = self.new_user()
        for _ in range(3):
            self.assert_error(self.login(u.email, "wrong password!!"), 401, "invalid_credentials")
        # Locked: even the right password waits, and nothing is hashed.
        wait = self.assert_429(self.login(u.email, u.password))
        self.assert_429(self.login(u.email.upper(), u.password))  # same account
        time.sleep(wait + 0.2)
        # One more failure doubles the lockout (2 s -> 4 s, the cap).
        self.assert_error(self.login(u.email, "wrong password!!"), 401)
        wait2 = self.assert_429(self.login(u.email, u.password))
        self.assertGreater(wait2, 2)
        time.sleep(wait2 + 0.2)
        self.assertEqual(self.login(u.email, u.password).status, 200)
        # Success reset the count: three new failures before a lockout.
        for _ in range(2):
            self.assert_error(self.login(u.email, "wrong password!!"), 401)
        self.assertEqual(self.login(u.email, u.password).status, 200)
        # Another account from the same address is not locked by this one.
        v = self.new_user()
        self.assertEqual(self.login(v.email, v.password).status, 200)



class AddressLockoutTest(BruteForceTest):
    """A server of its own: the address's failure count starts at zero."""

    test_account_lockout_grows_and_success_resets = None

    def test_address_lockout_across_accounts(self):
        # Spraying one password over many (unknown) accounts: the address
        # is locked after 8 failures whatever the accounts.
        statuses = []
        for i in range(10):
            r = self.login(harness.unique_email("spray"), "Spring2026!!")
            statuses.append(r.status)
            if r.status == 429:
                self.assert_429(r)
                break
        self.assertEqual(statuses[:8], [401] * 8)
        self.assertEqual(statuses[-1], 429)
        # Unknown and known accounts look the same to the attacker.
        u = self.new_user()
        self.assert_429(self.login(u.email, u.password))
        time.sleep(4.5)
        self.assertEqual(self.login(u.email, u.password).status, 200)


class FloodTest(harness.ApiTestCase):
    """Request buckets per address and per user, with tiny limits."""

    server_env = {
        "PERSONALOS_RATE_LIMIT_IP_RATE": "2",
        "PERSONALOS_RATE_LIMIT_IP_BURST": "40",
        "PERSONALOS_RATE_LIMIT_USER_RATE": "1",
        "PERSONALOS_RATE_LIMIT_USER_BURST": "10",
        "PERSONALOS_RATE_LIMIT_AUTH_PER_MIN": "1",
        "PERSONALOS_RATE_LIMIT_AUTH_BURST": "3",
        "PERSONALOS_PWHASH_MEMLIMIT_KIB": "8192",
        "PERSONALOS_PWHASH_OPSLIMIT": "1",
    }

    def test_buckets(self):
        raw = harness.Api(self.server.base_url, retry_429=False)
        self.addCleanup(raw.close)
        # Auth: 3 registrations, then 429 (1 a minute after the burst).
        answers = [raw.post("/api/auth/register",
                            {"email": harness.unique_email(), "password": "long enough pw"})
                   for _ in range(4)]
        codes = [a.status for a in answers]
        self.assertEqual(codes[:3], [201, 201, 201])
        token = answers[0].json["access_token"]
        self.assertEqual(codes[3], 429)
        r = raw.post("/api/auth/login", {"email": "x@example.com", "password": "whatever12"})
        self.assert_error(r, 429, "rate_limited")
        self.assertGreaterEqual(int(r.headers["retry-after"]), 30)
        # Per user: 10 requests, then 429 for that user only.
        statuses = [raw.get("/api/memories", token=token).status for _ in range(12)]
        self.assertIn(429, statuses)
        self.assertEqual(statuses[0], 200)
        # Per address: /health (no user) runs out after the burst of 40.
        statuses = [raw.get("/health").status for _ in range(45)]
        self.assertIn(429, statuses)
        r = raw.get("/health")
        self.assert_error(r, 429, "rate_limited")
        self.assertIn("retry-after", r.headers)


class CorsTest(harness.ApiTestCase):
    server_env = {"PERSONALOS_CORS_ORIGINS": "https://app.example.com, http://localhost:5173"}

    def test_allowed_origin_preflight_and_request(self):
        r = self.api.request("OPTIONS", "/api/memories",
                             headers={"Origin": "https://app.example.com",
                                      "Access-Control-Request-Method": "POST",
                                      "Access-Control-Request-Headers": "authorization, content-type"})
        self.assertEqual(r.status, 204, r.raw[:200])
        h = r.headers
        self.assertEqual(h.get("access-control-allow-origin"), "https://app.example.com")
        self.assertIn("POST", h.get("access-control-allow-methods", ""))
        self.assertIn("GET", h.get("access-control-allow-methods", ""))
        self.assertIn("authorization", h.get("access-control-allow-headers", "").lower())
        self.assertIn("content-type", h.get("access-control-allow-headers", "").lower())
        self.assertTrue(int(h.get("access-control-max-age", "0")) > 0)
        self.assertIn("Origin", h.get("vary", ""))
        u = self.new_user()
        r = self.api.get("/api/memories", token=u.token, headers={"Origin": "http://localhost:5173"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers.get("access-control-allow-origin"), "http://localhost:5173")
        self.assertIn("Origin", r.headers.get("vary", ""))
        self.assertNotIn("access-control-allow-credentials", r.headers)

    def test_disallowed_origin_gets_no_cors_headers(self):
        for origin in ("https://evil.example.com", "https://app.example.com.evil.com",
                       "null", "http://app.example.com"):
            for method, path in (("OPTIONS", "/api/memories"), ("GET", "/health")):
                r = self.api.request(method, path, headers={
                    "Origin": origin, "Access-Control-Request-Method": "DELETE"})
                with self.subTest(origin=origin, method=method):
                    self.assertLess(r.status, 500)
                    self.assertFalse([k for k in r.headers if k.startswith("access-control-")],
                                     r.headers)
                    self.assertIn("Origin", r.headers.get("vary", ""))
        # OPTIONS on an unknown path is a 404 as before.
        r = self.api.request("OPTIONS", "/api/nothing", headers={"Origin": "https://app.example.com"})
        self.assert_error(r, 404)


class NoCorsByDefaultTest(harness.ApiTestCase):
    def test_no_cors_headers_without_config(self):
        r = self.api.request("OPTIONS", "/api/memories",
                             headers={"Origin": "https://app.example.com",
                                      "Access-Control-Request-Method": "GET"})
        self.assertEqual(r.status, 204)
        self.assertFalse([k for k in r.headers if k.startswith("access-control-")])
        self.assertIn("GET", r.headers.get("allow", ""))
        r = self.api.get("/health", headers={"Origin": "https://app.example.com"})
        self.assertFalse([k for k in r.headers if k.startswith("access-control-")])


class TlsTest(unittest.TestCase):
    """HTTPS from libmicrohttpd with a certificate made by openssl here."""

    def test_https_with_self_signed_cert(self):
        harness.require_local("starts its own TLS server")
        binary = harness.require_binary()
        openssl = shutil.which("openssl")
        if not openssl:
            self.skipTest("openssl not installed")
        tmp = tempfile.mkdtemp(prefix="pos-tls-")
        self.addCleanup(shutil.rmtree, tmp, True)
        cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert],
                       check=True, capture_output=True, timeout=60)
        port = harness.free_port()
        env = dict(os.environ, PERSONALOS_TLS_CERT=cert, PERSONALOS_TLS_KEY=key)
        log = open(os.path.join(tmp, "stderr.log"), "wb")
        proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:%d" % port,
                                 "--data", os.path.join(tmp, "data")],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
        log.close()

        def stop():
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=20)
        self.addCleanup(stop)
        ctx = ssl.create_default_context(cafile=cert)
        ctx.check_hostname = False
        deadline = time.monotonic() + 15
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=ctx)
            try:
                conn.request("GET", "/health")
                resp = conn.getresponse()
                status = resp.status
                body = json.loads(resp.read())
                break
            except (OSError, http.client.HTTPException):
                time.sleep(0.1)
            finally:
                conn.close()
        with open(os.path.join(tmp, "stderr.log")) as f:
            self.assertEqual(status, 200, f.read()[-2000:])
        self.assertEqual(body["status"], "ok")
        # Plain HTTP on the TLS port gets no API answer.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", "/health")
            plain = conn.getresponse().status
        except (OSError, http.client.HTTPException):
            plain = None
        finally:
            conn.close()
        self.assertNotEqual(plain, 200)
        stop()
        self.assertEqual(proc.returncode, 0)

    def test_half_tls_config_is_refused(self):
        harness.require_local("starts its own server")
        r = harness.run_cli(["serve", "--listen", "127.0.0.1:%d" % harness.free_port(),
                             "--data", tempfile.mkdtemp(prefix="pos-tls-")],
                            env={"PERSONALOS_TLS_CERT": "/nonexistent.pem"}, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("tls_key", r.stderr)


if __name__ == "__main__":
    unittest.main()
