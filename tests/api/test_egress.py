"""Black-box tests of the egress policy (docs/SECURITY.md, "Outbound
connections"): sync sources that a user points at loopback are refused
before any connection is made, unless the operator names the port in
egress_allow; redirects are judged on every hop; error messages never carry
the bytes a remote sent.

Every server here listens on 127.0.0.1 and counts what reaches it. Nothing
is sent anywhere else: private and metadata addresses are covered by the
unit test of the policy (tests/unit/test_egress.c).
"""

import http.server
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

WINDOW = {"expand_from": "2026-01-01T00:00:00Z", "expand_until": "2026-12-31T00:00:00Z"}
FEED = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//egress test//EN\r\n"
        "BEGIN:VEVENT\r\nUID:egress-1\r\nDTSTAMP:20260101T000000Z\r\n"
        "DTSTART:20260310T090000Z\r\nDURATION:PT1H\r\nSUMMARY:Egress allowed\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n")
BANNER = "ZZBANNER-4471"          # in the fake IMAP server's greeting
SECRET = "ZZSECRET-SEARCH-9921"   # in its answer to UID SEARCH
HTTP_SECRET = "ZZHTTP-BODY-5520"  # in an HTTP error body


class CountingHttp:
    """An HTTP server on 127.0.0.1 that counts requests and keeps their
    Authorization headers. /feed.ics is a calendar; /redirect?to=URL answers
    302 to URL; /auth-redirect?to=URL the same once Basic credentials came
    (401 before); anything else 500 with a distinctive body."""

    def __init__(self):
        owner = self
        self.count = 0
        self.auth = []
        self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def handle_one_request(self):
                super().handle_one_request()

            def _any(self):
                with owner.lock:
                    owner.count += 1
                    owner.auth.append(self.headers.get("Authorization"))
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                if self.path.startswith("/feed.ics"):
                    body, status, ctype = FEED.encode(), 200, "text/calendar"
                elif (self.path.startswith("/auth-redirect?to=")
                      and not self.headers.get("Authorization")):
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="t"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                elif self.path.startswith("/auth-redirect?to="):
                    self.send_response(302)
                    self.send_header("Location", self.path[len("/auth-redirect?to="):])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                elif self.path.startswith("/redirect?to="):
                    self.send_response(302)
                    self.send_header("Location", self.path[len("/redirect?to="):])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                else:
                    body, status, ctype = HTTP_SECRET.encode(), 500, "text/plain"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PROPFIND = do_REPORT = do_OPTIONS = _any

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class TcpCounter:
    """A plain TCP listener on 127.0.0.1 that counts accepted connections.
    With `imap`, it speaks just enough IMAP to log in and open a folder,
    greets with BANNER and answers UID SEARCH with an error holding SECRET."""

    def __init__(self, imap=False):
        self.accepts = 0
        self.imap = imap
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while self.running:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepts += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            c.settimeout(30)
            if not self.imap:
                c.sendall(b"HELLO " + BANNER.encode() + b"\r\n")
                return
            f = c.makefile("rb")
            c.sendall(b"* OK [CAPABILITY IMAP4rev1] " + BANNER.encode() + b" ready\r\n")
            for line in f:
                parts = line.decode("latin-1").strip().split(" ", 2)
                if len(parts) < 2:
                    continue
                tag, cmd = parts[0], parts[1].upper()
                rest = parts[2] if len(parts) > 2 else ""
                if cmd == "CAPABILITY":
                    out = "* CAPABILITY IMAP4rev1\r\n%s OK done\r\n" % tag
                elif cmd == "LOGIN":
                    out = "%s OK logged in %s\r\n" % (tag, BANNER)
                elif cmd in ("EXAMINE", "SELECT"):
                    out = ("* 1 EXISTS\r\n* OK [UIDVALIDITY 7] %s\r\n"
                           "%s OK [READ-ONLY] done\r\n" % (BANNER, tag))
                elif cmd == "UID" and rest.upper().startswith("SEARCH"):
                    out = "%s BAD %s internal detail\r\n" % (tag, SECRET)
                elif cmd == "LOGOUT":
                    out = "* BYE %s\r\n%s OK bye\r\n" % (BANNER, tag)
                    c.sendall(out.encode())
                    return
                else:
                    out = "%s BAD %s\r\n" % (tag, SECRET)
                c.sendall(out.encode())
        except OSError:
            pass
        finally:
            c.close()

    def stop(self):
        self.running = False
        self.sock.close()


class EgressTest(harness.ApiTestCase):
    """One PersonalOS server whose egress_allow names `allowed` (HTTP) and
    `imap_ok` (the fake IMAP server) only; `denied` (HTTP) and `tcp` (a bare
    listener) are on loopback ports it does not name."""

    @classmethod
    def setUpClass(cls):
        harness.require_local("the server must reach this test's own listeners")
        cls.allowed = CountingHttp()
        cls.allowed2 = CountingHttp()
        cls.denied = CountingHttp()
        cls.tcp = TcpCounter()
        cls.imap_ok = TcpCounter(imap=True)
        cls.server_env = {"PERSONALOS_EGRESS_ALLOW": "127.0.0.1:%d, 127.0.0.1:%d 127.0.0.1:%d"
                          % (cls.allowed.port, cls.allowed2.port, cls.imap_ok.port)}
        try:
            super().setUpClass()
        except BaseException:
            cls._stop_listeners()
            raise

    @classmethod
    def _stop_listeners(cls):
        for s in (cls.allowed, cls.allowed2, cls.denied, cls.tcp, cls.imap_ok):
            s.stop()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls._stop_listeners()

    def setUp(self):
        super().setUp()
        self.user = self.new_user()

    # ---- helpers ----

    def create_source(self, kind, config):
        r = self.api.post("/api/sync/sources", {"kind": kind, "name": kind, "config": config,
                                                "interval_s": 0}, token=self.user.token)
        self.assertEqual(r.status, 201, r.raw[:500])
        return r.json

    def status_of(self, source_id):
        r = self.api.get("/api/sync/status", token=self.user.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        for s in r.json["sources"]:
            if s["id"] == source_id:
                return s, r.raw
        self.fail("source %s not in status" % source_id)

    def finished(self, source_id):
        """Waits for the source's first run to end; returns (status, raw
        bytes of /api/sync/status and of the source's detail)."""
        def done():
            s, raw = self.status_of(source_id)
            if s["job"] is None and s["status"] not in ("idle", "running"):
                return s, raw
            return None
        got = harness.poll(done, timeout=60)
        self.assertIsNotNone(got, "the sync of %s did not finish" % source_id)
        d = self.api.get("/api/sync/sources/" + source_id, token=self.user.token)
        self.assertEqual(d.status, 200)
        return got[0], got[1] + d.raw

    def assert_refused(self, s):
        self.assertEqual(s["status"], "error", s)
        self.assertIn("is not allowed by the server's egress policy", s["error_message"])

    # ---- tests ----

    def test_ics_url_on_loopback_is_refused_before_connecting(self):
        before = self.denied.count
        src = self.create_source("ics_url", dict(WINDOW, url=self.denied.url("/feed.ics")))
        s, _ = self.finished(src["id"])
        self.assert_refused(s)
        self.assertIn("127.0.0.1", s["error_message"])
        self.assertEqual(self.denied.count, before)

    def test_localhost_by_name_is_refused_too(self):
        before = self.denied.count
        src = self.create_source("ics_url", dict(
            WINDOW, url="http://localhost:%d/feed.ics" % self.denied.port))
        s, _ = self.finished(src["id"])
        self.assert_refused(s)
        self.assertEqual(self.denied.count, before)

    def test_caldav_on_loopback_is_refused_before_connecting(self):
        before = self.denied.count
        src = self.create_source("caldav", dict(WINDOW, url=self.denied.url("/"),
                                                user="u", password="p"))
        s, raw = self.finished(src["id"])
        self.assert_refused(s)
        self.assertEqual(self.denied.count, before)
        self.assertNotIn(b'"p"', raw)

    def test_allowed_port_works(self):
        before = self.allowed.count
        src = self.create_source("ics_url", dict(WINDOW, url=self.allowed.url("/feed.ics")))
        s, _ = self.finished(src["id"])
        self.assertEqual(s["status"], "ok", s)
        self.assertGreater(self.allowed.count, before)
        body = self.list_memories(self.user.token, "type=event")
        self.assertIn("Egress allowed", str(body))

    def test_caldav_on_an_allowed_port_connects(self):
        # The stand-in is no CalDAV server: the run fails, but it reached it.
        before = self.allowed.count
        src = self.create_source("caldav", dict(WINDOW, url=self.allowed.url("/dav/"),
                                                user="u", password="p"))
        s, raw = self.finished(src["id"])
        self.assertGreater(self.allowed.count, before)
        self.assertEqual(s["status"], "error", s)
        self.assertNotIn("egress policy", s["error_message"])
        self.assertNotIn(HTTP_SECRET.encode(), raw)

    def test_redirect_to_a_port_not_allowed_is_not_followed(self):
        before_a, before_d = self.allowed.count, self.denied.count
        target = self.denied.url("/feed.ics")
        src = self.create_source("ics_url", dict(
            WINDOW, url=self.allowed.url("/redirect?to=" + target)))
        s, _ = self.finished(src["id"])
        self.assert_refused(s)
        self.assertGreater(self.allowed.count, before_a)  # the first hop was made
        self.assertEqual(self.denied.count, before_d)     # the second never

    def test_redirect_within_the_allowed_port_is_followed(self):
        src = self.create_source("ics_url", dict(
            WINDOW, url=self.allowed.url("/redirect?to=" + self.allowed.url("/feed.ics"))))
        s, _ = self.finished(src["id"])
        self.assertEqual(s["status"], "ok", s)

    def test_redirects_are_capped(self):
        # A chain of 7 redirects on the allowed port: more than the 5 allowed.
        url = self.allowed.url("/feed.ics")
        for _ in range(7):
            url = self.allowed.url("/redirect?to=" + url)
        before = self.allowed.count
        src = self.create_source("ics_url", dict(WINDOW, url=url))
        s, _ = self.finished(src["id"])
        self.assertEqual(s["status"], "error", s)
        self.assertIn("redirected too often", s["error_message"])
        self.assertEqual(self.allowed.count - before, 6)  # the first hop and 5 more

    def test_credentials_are_not_sent_to_another_origin(self):
        before = len(self.allowed2.auth)
        src = self.create_source("ics_url", dict(
            WINDOW, url=self.allowed.url("/auth-redirect?to=" + self.allowed2.url("/feed.ics")),
            user="alice", password="cal-pass-3"))
        s, _ = self.finished(src["id"])
        self.assertEqual(s["status"], "ok", s)
        self.assertIsNotNone(self.allowed.auth[-1])  # the first origin got them
        second = self.allowed2.auth[before:]
        self.assertTrue(second)
        self.assertEqual(second, [None] * len(second))

    def test_imap_on_loopback_is_refused_before_connecting(self):
        before = self.tcp.accepts
        src = self.create_source("imap", {"host": "127.0.0.1", "port": self.tcp.port,
                                          "tls": "none", "user": "x", "password": "y"})
        s, raw = self.finished(src["id"])
        self.assert_refused(s)
        self.assertEqual(self.tcp.accepts, before)
        self.assertNotIn(BANNER.encode(), raw)

    def test_imap_errors_do_not_repeat_the_servers_words(self):
        before = self.imap_ok.accepts
        src = self.create_source("imap", {"host": "127.0.0.1", "port": self.imap_ok.port,
                                          "tls": "none", "user": "x", "password": "y"})
        s, raw = self.finished(src["id"])
        self.assertGreater(self.imap_ok.accepts, before)
        self.assertEqual(s["status"], "error", s)
        self.assertNotIn("egress policy", s["error_message"])
        self.assertNotIn(SECRET.encode(), raw)
        self.assertNotIn(BANNER.encode(), raw)

    def test_http_error_bodies_are_not_repeated(self):
        src = self.create_source("ics_url", dict(WINDOW, url=self.allowed.url("/broken")))
        s, raw = self.finished(src["id"])
        self.assertEqual(s["status"], "error", s)
        self.assertIn("500", s["error_message"])
        self.assertNotIn(HTTP_SECRET.encode(), raw)


class EgressConfigTest(unittest.TestCase):
    def test_bad_egress_allow_stops_start_up(self):
        harness.require_local("starts its own server")
        binary = harness.require_binary(self)
        data = tempfile.mkdtemp(prefix="pos-egress-")
        env = dict(os.environ, PERSONALOS_EGRESS_ALLOW="127.0.0.1:8080, 10.0.0.0/99")
        p = subprocess.run([binary, "serve", "--listen", "127.0.0.1:%d" % harness.free_port(),
                            "--data", data], env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=60, cwd=data)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"egress_allow", p.stderr)
        self.assertIn(b"10.0.0.0/99", p.stderr)

    def test_help_lists_egress_allow(self):
        r = harness.run_cli(["serve", "--help"])
        self.assertIn("egress_allow", r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
