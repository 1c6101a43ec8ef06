"""Limits that hold before authentication (docs/SECURITY.md, "Request limits
before authentication"): a stranger cannot make the server buffer bodies,
hold unbounded connections, or read /metrics.

Every test talks to 127.0.0.1 only, with raw sockets where the point is what
the server does before a body has been sent.
"""

import os
import select
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

MiB = 1024 * 1024
BIG = 30 * MiB            # the body each attacking connection announces
CONNECTIONS = 200
# The server may grow by at most this much while 200 strangers each try to
# send 30 MiB (6,000 MiB in all). Without the pre-auth checks it buffered
# every body that fit the route's 32 MiB limit.
RSS_BOUND_KIB = 64 * 1024
SEND_CHUNK = 256 * 1024
GIVE_UP_S = 300.0         # guards the loop; not an assertion on speed


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def connect(server):
    s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    return s


def head(path, extra, host="127.0.0.1"):
    lines = ["POST %s HTTP/1.1" % path, "Host: %s" % host] + extra + ["", ""]
    return "\r\n".join(lines).encode()


def read_status(sock, timeout=30.0):
    """The status code of the answer on `sock` (the whole head is read)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n" not in data:
        try:
            got = sock.recv(4096)
        except ConnectionResetError:
            break
        if not got:
            break
        data += got
    if not data.startswith(b"HTTP/1."):
        return None
    return int(data.split(b" ", 2)[1])


class PreauthBodyTest(unittest.TestCase):
    """One server whose per-address cap admits all 200 test connections, so
    the body path itself is what is measured."""

    @classmethod
    def setUpClass(cls):
        harness.require_local("reads the server's memory use")
        cls.server = harness.Server(env={
            "PERSONALOS_MAX_CONNECTIONS_PER_IP": "1000",
            "PERSONALOS_CONNECTION_TIMEOUT": "120",
            "PERSONALOS_MAX_PUBLIC_BODY": "4096",
        }).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        self.api = harness.Api(self.server.base_url)
        self.addCleanup(self.api.close)

    def test_bad_token_is_refused_before_the_body(self):
        s = connect(self.server)
        self.addCleanup(s.close)
        s.sendall(head("/api/memories/bulk", [
            "Authorization: Bearer not-a-token",
            "Content-Type: application/json",
            "Content-Length: %d" % BIG]))
        s.sendall(b"[" + b" " * (64 * 1024))
        # 64 KiB of 30 MiB sent: the answer is already there. A server that
        # waited for the body would never answer (the read times out).
        self.assertEqual(read_status(s), 401)

    def test_missing_token_with_chunked_body_is_refused_at_once(self):
        s = connect(self.server)
        self.addCleanup(s.close)
        s.sendall(head("/api/memories", [
            "Content-Type: application/json",
            "Transfer-Encoding: chunked"]))
        s.sendall(b"1000\r\n" + b" " * 4096 + b"\r\n")
        self.assertEqual(read_status(s), 401)

    def test_public_route_body_over_the_cap_is_413(self):
        r = self.api.request("POST", "/api/auth/register",
                             raw=b"{" + b" " * MiB + b"}",
                             headers={"Content-Type": "application/json"})
        harness.check_error(self, r, 413, "body_too_large")

    def test_max_public_body_caps_every_public_route(self):
        body = b'{"email":"a@example.com","password":"' + b"p" * 8000 + b'"}'
        for path in ("/api/auth/register", "/api/auth/login",
                     "/api/auth/refresh", "/api/auth/encryption/recover"):
            r = self.api.request("POST", path, raw=body,
                                 headers={"Content-Type": "application/json"})
            harness.check_error(self, r, 413, "body_too_large")
        # Under the cap the route works as before (here: a bad login).
        r = self.api.post("/api/auth/login", {"email": "a@example.com",
                                              "password": "x" * 12})
        self.assertEqual(r.status, 401, r.raw[:300])

    def test_public_route_undeclared_body_over_the_cap_is_cut_off(self):
        s = connect(self.server)
        self.addCleanup(s.close)
        s.sendall(head("/api/auth/login", [
            "Content-Type: application/json",
            "Transfer-Encoding: chunked"]))
        chunk = b"%x\r\n%s\r\n" % (SEND_CHUNK, b" " * SEND_CHUNK)
        closed = False
        for _ in range(BIG // SEND_CHUNK):
            try:
                s.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
        if not closed:
            s.settimeout(30)
            try:
                closed = s.recv(1) == b""
            except (ConnectionResetError, socket.timeout):
                closed = True
        self.assertTrue(closed, "the server read 30 MiB of an unauthenticated body")
        self.assertEqual(self.api.get("/health").status, 200)

    def test_strangers_sending_big_bodies_do_not_grow_the_server(self):
        pid = self.server.proc.pid
        self.assertEqual(self.api.get("/health").status, 200)
        baseline = rss_kib(pid)
        socks = []
        for i in range(CONNECTIONS):
            s = connect(self.server)
            if i % 2 == 0:  # a route that needs a token, no token
                s.sendall(head("/api/memories/bulk", [
                    "Content-Type: application/json",
                    "Content-Length: %d" % BIG]))
            else:           # a public route, length not declared
                s.sendall(head("/api/auth/register", [
                    "Content-Type: application/json",
                    "Transfer-Encoding: chunked"]))
            s.setblocking(False)
            socks.append([s, i % 2 == 1, 0])
        self.addCleanup(lambda: [x[0].close() for x in socks])
        payload = b" " * SEND_CHUNK
        chunk = b"%x\r\n%s\r\n" % (SEND_CHUNK, payload)
        peak = baseline
        live = list(socks)
        deadline = time.monotonic() + GIVE_UP_S
        while live and time.monotonic() < deadline:
            _, writable, _ = select.select([], [x[0] for x in live], [], 1.0)
            for entry in list(live):
                s, chunked, sent = entry
                if s not in writable:
                    continue
                try:
                    n = s.send(chunk if chunked else payload)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    live.remove(entry)
                    continue
                entry[2] = sent + n
                if entry[2] >= BIG:
                    live.remove(entry)
            peak = max(peak, rss_kib(pid))
            if peak - baseline > RSS_BOUND_KIB:
                break
        self.assertLessEqual(peak - baseline, RSS_BOUND_KIB,
                             "server RSS grew by %d KiB" % (peak - baseline))
        fully_sent = sum(1 for x in socks if x[2] >= BIG)
        self.assertEqual(fully_sent, 0, "the server read whole 30 MiB bodies")
        for x in socks:
            x[0].close()
        self.assertEqual(self.api.get("/health").status, 200)


class ConnectionCapTest(unittest.TestCase):
    CAP = 8
    EXTRA = 4

    @classmethod
    def setUpClass(cls):
        harness.require_local("sets the connection cap")
        cls.server = harness.Server(env={
            "PERSONALOS_MAX_CONNECTIONS_PER_IP": str(cls.CAP),
            "PERSONALOS_CONNECTION_TIMEOUT": "300",
        }).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_connections_over_the_per_address_cap_are_closed(self):
        # The harness's health check may still hold a keep-alive connection:
        # wait until the server has let it go by filling the cap first.
        socks = [connect(self.server) for _ in range(self.CAP + self.EXTRA)]
        try:
            closed = set()
            deadline = time.monotonic() + 60
            while len(closed) < self.EXTRA and time.monotonic() < deadline:
                readable, _, _ = select.select(
                    [s for s in socks if s not in closed], [], [], 1.0)
                for s in readable:
                    try:
                        if s.recv(1) == b"":
                            closed.add(s)
                    except ConnectionResetError:
                        closed.add(s)
            # EXTRA over the cap, or one more while the harness's own
            # keep-alive connection (from its start-up health check) still
            # counts against the address: that one's close may arrive
            # after the loop saw EXTRA, so an answerless socket counts as
            # that close (at most one of them).
            self.assertGreaterEqual(len(closed), self.EXTRA)
            # The admitted ones are real connections: each gets an answer.
            answered = 0
            for s in socks:
                if s in closed:
                    continue
                try:
                    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                    status = read_status(s)
                except (BrokenPipeError, ConnectionResetError):
                    status = None
                if status is None:
                    closed.add(s)
                    continue
                self.assertEqual(status, 200)
                answered += 1
            self.assertLessEqual(len(closed), self.EXTRA + 1)
            self.assertGreaterEqual(answered, self.CAP - 1)
        finally:
            for s in socks:
                s.close()
        # Once some are closed, a fresh connection is served again.
        api = None
        for _ in range(100):
            try:
                api = harness.Api(self.server.base_url, timeout=30)
                r = api.get("/health")
                if r.status == 200:
                    break
            except OSError:
                pass  # the server may not have seen the closes yet
            finally:
                if api:
                    api.close()
            time.sleep(0.1)
        else:
            self.fail("/health does not answer after the connections closed")


def body_bytes_held(api):
    r = api.get("/metrics")
    for line in r.raw.decode().splitlines():
        if line.startswith("personalos_http_body_bytes "):
            return int(line.split()[1])
    raise AssertionError("no personalos_http_body_bytes in /metrics")


class BodyMemoryTest(unittest.TestCase):
    """max_body_memory bounds the bodies held by all connections together,
    authenticated ones included (each may send up to its route's limit)."""

    @classmethod
    def setUpClass(cls):
        harness.require_local("sets max_body_memory")
        cls.server = harness.Server(env={"PERSONALOS_MAX_BODY_MEMORY": "1"}).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        self.api = harness.Api(self.server.base_url)
        self.addCleanup(self.api.close)

    def memory_body(self, size):
        head = b'{"content":"padded memory"'
        return head + b" " * (size - len(head) - 1) + b"}"

    def test_bodies_over_the_budget_are_refused_503(self):
        token = self.api.register(harness.unique_email())["access_token"]
        held = self.memory_body(900 * 1024)
        s = connect(self.server)
        self.addCleanup(s.close)
        s.sendall(head("/api/memories", [
            "Authorization: Bearer " + token,
            "Content-Type: application/json",
            "Content-Length: %d" % len(held)]))
        s.sendall(held[:800 * 1024])
        # Wait until the server holds those 800 KiB (no timing assertion:
        # the condition is read from /metrics).
        self.assertTrue(harness.poll(lambda: body_bytes_held(self.api) >= 800 * 1024,
                                     timeout=60))
        r = self.api.request("POST", "/api/memories", raw=self.memory_body(300 * 1024),
                             token=token)
        harness.check_error(self, r, 503, "unavailable")
        s.sendall(held[800 * 1024:])
        self.assertEqual(read_status(s), 201)
        s.close()
        self.assertTrue(harness.poll(lambda: body_bytes_held(self.api) == 0, timeout=60))
        r = self.api.request("POST", "/api/memories", raw=self.memory_body(300 * 1024),
                             token=token)
        self.assertEqual(r.status, 201, r.raw[:300])


class MetricsTokenTest(unittest.TestCase):
    """With metrics_token set, /metrics needs it, from loopback too."""

    TOKEN = "scrape-" + "s3cret" * 4

    @classmethod
    def setUpClass(cls):
        harness.require_local("sets metrics_token")
        cls.server = harness.Server(env={"PERSONALOS_METRICS_TOKEN": cls.TOKEN}).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        self.api = harness.Api(self.server.base_url, retry_429=False)
        self.addCleanup(self.api.close)

    def test_no_token_is_refused(self):
        r = self.api.get("/metrics")
        self.assertIn(r.status, (401, 403), r.raw[:300])
        self.assertNotIn(b"personalos_", r.raw)

    def test_wrong_token_is_refused(self):
        for tok in ("nope", self.TOKEN[:-1], self.TOKEN + "x"):
            r = self.api.get("/metrics", headers=harness.auth(tok))
            self.assertIn(r.status, (401, 403), r.raw[:300])
            self.assertNotIn(b"personalos_", r.raw)

    def test_a_user_token_is_not_the_metrics_token(self):
        answer = self.api.register(harness.unique_email())
        r = self.api.get("/metrics", headers=harness.auth(answer["access_token"]))
        self.assertIn(r.status, (401, 403), r.raw[:300])

    def test_right_token_is_served(self):
        r = self.api.get("/metrics", headers=harness.auth(self.TOKEN))
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertIn(b"personalos_uptime_seconds", r.raw)


class MetricsForwardedTest(unittest.TestCase):
    """Without a token /metrics is for loopback peers; behind a proxy on the
    same host (trust_forwarded_for on) a forwarded request is not local."""

    @classmethod
    def setUpClass(cls):
        harness.require_local("sets trust_forwarded_for")
        cls.server = harness.Server(env={"PERSONALOS_TRUST_FORWARDED_FOR": "on"}).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        self.api = harness.Api(self.server.base_url, retry_429=False)
        self.addCleanup(self.api.close)

    def test_forwarded_request_is_refused(self):
        for xff in ("203.0.113.7", "127.0.0.1", "198.51.100.1, 127.0.0.1"):
            r = self.api.get("/metrics", headers={"X-Forwarded-For": xff})
            self.assertIn(r.status, (401, 403), r.raw[:300])
            self.assertNotIn(b"personalos_", r.raw)

    def test_direct_loopback_request_is_served(self):
        r = self.api.get("/metrics")
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertIn(b"personalos_uptime_seconds", r.raw)


if __name__ == "__main__":
    unittest.main()
