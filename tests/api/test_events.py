"""Live events (docs/EVENTS.md): GET /api/events (Server-Sent Events) and
GET /api/events/ws (WebSocket, RFC 6455).

The clients here are small and stdlib-only: an SSE reader over
http.client, and a WebSocket client over a raw socket that masks its frames
as RFC 6455 requires (and can be told not to, to check the server's
refusal). Every read has a socket timeout, so a missing event fails the
test instead of hanging it; nothing waits on time otherwise.
"""

import base64
import hashlib
import http.client
import json
import os
import shutil
import socket
import struct
import sys
import tempfile
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Api, ApiTestCase, Server, poll, require_local  # noqa: E402

READ_TIMEOUT = 20


class Sse:
    """One open GET /api/events stream."""

    def __init__(self, base_url, token, last_id=None, query=""):
        u = urllib.parse.urlsplit(base_url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=READ_TIMEOUT)
        hdrs = {"Accept": "text/event-stream"}
        if token:
            hdrs["Authorization"] = "Bearer " + token
        if last_id is not None:
            hdrs["Last-Event-ID"] = last_id
        self.conn.request("GET", "/api/events" + query, headers=hdrs)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.comments = []
        if self.status != 200:
            self.body = self.resp.read()
            self.json = json.loads(self.body) if self.body else None

    def next(self):
        """The next event as {"id", "event", "data"} (data parsed)."""
        ev = {"id": None, "event": None, "data": []}
        while True:
            line = self.resp.readline()
            if not line:
                raise AssertionError("the event stream ended")
            line = line.decode("utf-8").rstrip("\n")
            if line == "":
                if ev["data"]:
                    ev["data"] = json.loads("\n".join(ev["data"]))
                    return ev
                continue
            if line.startswith(":"):
                self.comments.append(line)
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "data":
                ev["data"].append(value)
            elif field in ("id", "event"):
                ev[field] = value

    def comment(self):
        """Reads until the next comment line (a keep-alive) and returns it."""
        while True:
            line = self.resp.readline()
            if not line:
                raise AssertionError("the event stream ended")
            if line.startswith(b":"):
                return line.decode().strip()

    def next_of(self, type_):
        """Skips events until one of `type_` (a job's other events...)."""
        while True:
            ev = self.next()
            if ev["event"] == type_:
                return ev

    def close(self):
        self.conn.close()


class SharedUsers(ApiTestCase):
    """Registration is slow by design (Argon2id): tests that need no fresh
    account share a class's few users. A stream only carries what is
    published after it opens, so earlier tests' events never show up."""

    _users = None
    # no auto-linking: its jobs' job.progress events would interleave with
    # the memory events these tests read in order
    server_env = {"PERSONALOS_AUTO_LINK": "off"}

    def shared_user(self, i=0):
        cls = type(self)
        if cls._users is None:
            cls._users = {}
        if i not in cls._users:
            cls._users[i] = self.new_user()
        return cls._users[i]


class EventsSseTest(SharedUsers):
    def open(self, token, **kw):
        s = Sse(self.server.base_url, token, **kw)
        self.addCleanup(s.close)
        return s

    def test_needs_a_token(self):
        s = self.open(None)
        self.assertEqual(s.status, 401)
        self.assertEqual(s.json["error"]["code"], "unauthorized")

    def test_needs_accept_event_stream(self):
        # a plain GET (a crawler of every route, a JSON client) is not
        # left hanging on a stream that never ends
        u = self.shared_user()
        r = self.api.get("/api/events", token=u.token)
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json["error"]["code"], "invalid_request")

    def test_create_update_delete_in_order(self):
        u = self.shared_user()
        s = self.open(u.token)
        self.assertEqual(s.status, 200)
        self.assertTrue(s.resp.getheader("Content-Type").startswith("text/event-stream"))
        m = self.create_memory(u.token, "a secret note about the garden")
        r = self.api.put("/api/memories/" + m["id"], {"layer": "reference"}, token=u.token)
        self.assertEqual(r.status, 200)
        r = self.api.delete("/api/memories/" + m["id"], token=u.token)
        self.assertEqual(r.status, 204)

        created, updated, deleted = s.next(), s.next(), s.next()
        self.assertEqual([created["event"], updated["event"], deleted["event"]],
                         ["memory.created", "memory.updated", "memory.deleted"])
        for ev in (created, updated, deleted):
            self.assertEqual(ev["data"]["type"], ev["event"])
            self.assertEqual(ev["data"]["id"], ev["id"])
            self.assertEqual(ev["data"]["data"]["id"], m["id"])
        ids = [int(created["id"]), int(updated["id"]), int(deleted["id"])]
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(len(set(ids)), 3)
        self.assertEqual(created["data"]["data"]["type"], "note")
        self.assertEqual(created["data"]["data"]["layer"], "active")
        self.assertEqual(updated["data"]["data"]["layer"], "reference")
        # ids and small fields only: never the content
        for ev in (created, updated, deleted):
            self.assertNotIn("garden", json.dumps(ev["data"]))

    def test_metrics_count_streams_and_events(self):
        u = self.shared_user()
        s = self.open(u.token)
        self.create_memory(u.token)
        s.next()
        text = self.api.get("/metrics").raw.decode()
        streams = [line for line in text.splitlines()
                   if line.startswith("personalos_events_streams ")]
        self.assertEqual(len(streams), 1)
        self.assertGreaterEqual(int(streams[0].split()[1]), 1)
        self.assertIn('personalos_events_total{fate="published"}', text)

    def test_bulk_publishes_each_memory(self):
        u = self.shared_user()
        s = self.open(u.token)
        r = self.api.post("/api/memories/bulk",
                          {"memories": [{"content": "one"}, {"content": "two"}]},
                          token=u.token)
        self.assertEqual(r.status, 201)
        got = [s.next()["data"]["data"]["id"] for _ in range(2)]
        self.assertEqual(got, r.json["ids"])

    def test_other_users_events_never_seen(self):
        a, b = self.shared_user(0), self.shared_user(1)
        sb = self.open(b.token)
        self.create_memory(a.token, "a's memory")
        mb = self.create_memory(b.token, "b's memory")
        ev = sb.next()
        # b's first event is b's own memory: a's was never queued for b
        self.assertEqual(ev["data"]["data"]["id"], mb["id"])
        self.assertEqual(ev["event"], "memory.created")

    def test_last_event_id_replays_what_was_missed(self):
        u = self.shared_user()
        s = self.open(u.token)
        first = self.create_memory(u.token)
        seen = s.next()
        self.assertEqual(seen["data"]["data"]["id"], first["id"])
        s.close()
        missed = [self.create_memory(u.token)["id"] for _ in range(3)]
        s2 = self.open(u.token, last_id=seen["id"])
        self.assertEqual(s2.status, 200)
        got = [s2.next() for _ in range(3)]
        self.assertEqual([g["data"]["data"]["id"] for g in got], missed)
        self.assertTrue(all(g["event"] == "memory.created" for g in got))
        # and the stream goes on live after the replay
        live = self.create_memory(u.token)
        self.assertEqual(s2.next()["data"]["data"]["id"], live["id"])

    def test_unknown_last_event_id_says_lost(self):
        u = self.new_user()
        m = self.create_memory(u.token)
        s = self.open(u.token, last_id="12345")  # not an id of this run
        ev = s.next()
        self.assertEqual(ev["event"], "events.lost")
        self.assertIsNone(ev["id"])
        self.assertIn("lost", ev["data"]["data"])
        # what the ring still holds follows
        self.assertEqual(s.next()["data"]["data"]["id"], m["id"])

    def test_bad_last_event_id(self):
        u = self.shared_user()
        s = self.open(u.token, query="?last_event_id=" + "9" * 100)
        self.assertEqual(s.status, 422)
        self.assertEqual(s.json["error"]["field"], "last_event_id")

    def test_chat_deltas_reach_the_users_streams(self):
        u = self.new_user()  # its memorize job must not reach other tests
        self.create_memory(u.token, "The spare key is under the blue pot.")
        s = self.open(u.token)
        u_ = urllib.parse.urlsplit(self.server.base_url)
        conn = http.client.HTTPConnection(u_.hostname, u_.port, timeout=READ_TIMEOUT)
        self.addCleanup(conn.close)
        conn.request("POST", "/api/chat/message",
                     json.dumps({"message": "Where is the spare key?", "stream": True}),
                     {"Content-Type": "application/json", "Accept": "text/event-stream",
                      "Authorization": "Bearer " + u.token})
        raw = conn.getresponse().read().decode()
        final = [json.loads(line[5:]) for line in raw.split("\n")
                 if line.startswith("data:") and '"response"' in line][-1]
        text = ""
        while text != final["response"]:
            ev = s.next_of("chat.delta")
            self.assertEqual(ev["data"]["data"]["conversation_id"], final["conversation_id"])
            text += ev["data"]["data"]["delta"]
            self.assertLessEqual(len(text), len(final["response"]))

    def test_job_progress(self):
        u = self.new_user()
        self.create_memory(u.token)
        s = self.open(u.token)
        r = self.api.post("/api/export/memories", {"format": "json"}, token=u.token)
        self.assertEqual(r.status, 202)
        job = r.json["id"]
        while True:
            ev = s.next_of("job.progress")
            d = ev["data"]["data"]
            self.assertEqual(d["id"], job)
            self.assertIn(d["state"], ("running", "done"))
            if d["state"] == "done":
                break
        self.assertIn("kind", d)


class EventsLimitsTest(ApiTestCase):
    server_env = {
        "PERSONALOS_EVENTS_PER_USER": "2",
        "PERSONALOS_EVENTS_MAX": "3",
        "PERSONALOS_EVENTS_REPLAY": "2",
        # a closed stream is noticed at its next write: keep-alives each second
        "PERSONALOS_EVENTS_HEARTBEAT": "1",
        "PERSONALOS_AUTO_LINK": "off",  # only the events written here
    }

    def open(self, token, **kw):
        s = Sse(self.server.base_url, token, **kw)
        self.addCleanup(s.close)
        return s

    def test_limits(self):
        a, b, c = self.new_user(), self.new_user(), self.new_user()
        self.open_when_free(a.token)
        self.assertEqual(self.open(a.token).status, 200)
        third = self.open(a.token)
        self.assertEqual(third.status, 429)
        self.assertEqual(third.json["error"]["code"], "rate_limited")
        self.assertTrue(third.resp.getheader("Retry-After"))
        self.assertEqual(self.open(b.token).status, 200)
        full = self.open(c.token)
        self.assertEqual(full.status, 503)
        self.assertIn("code", full.json["error"])

    def open_when_free(self, token, **kw):
        """Opens a stream once the server has seen earlier ones close (a
        closed stream's slot is freed when the server notices)."""
        def attempt():
            s = Sse(self.server.base_url, token, **kw)
            if s.status == 200:
                return s
            s.close()
            return None
        s = poll(attempt, timeout=30)
        self.addCleanup(s.close)
        return s

    def test_replay_ring_overflow_says_lost(self):
        u = self.new_user()
        s = self.open_when_free(u.token)
        self.create_memory(u.token)
        seen = s.next()
        s.close()
        ids = [self.create_memory(u.token)["id"] for _ in range(4)]
        s2 = self.open_when_free(u.token, last_id=seen["id"])
        ev = s2.next()
        self.assertEqual(ev["event"], "events.lost")
        # the ring keeps the last two
        self.assertEqual([s2.next()["data"]["data"]["id"] for _ in range(2)], ids[-2:])


class Ws:
    """A WebSocket client over a raw socket (RFC 6455), stdlib only."""

    def __init__(self, base_url, token=None, headers=None, protocols=None,
                 key=None, query=""):
        u = urllib.parse.urlsplit(base_url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=READ_TIMEOUT)
        self.key = key or base64.b64encode(os.urandom(16)).decode()
        hdrs = {
            "Host": "%s:%d" % (u.hostname, u.port),
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": self.key,
            "Sec-WebSocket-Version": "13",
        }
        if token:
            hdrs["Authorization"] = "Bearer " + token
        if protocols:
            hdrs["Sec-WebSocket-Protocol"] = ", ".join(protocols)
        hdrs.update(headers or {})
        req = "GET /api/events/ws%s HTTP/1.1\r\n" % query
        req += "".join("%s: %s\r\n" % kv for kv in hdrs.items()) + "\r\n"
        self.sock.sendall(req.encode())
        self.buf = b""
        head = self._read_until(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                self.headers[k.strip().lower()] = v.strip()
        self.json = None
        if self.status != 101:
            n = int(self.headers.get("content-length", "0"))
            while len(self.buf) < n:
                self._fill()
            self.json = json.loads(self.buf[:n]) if n else None

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("the server closed the connection")
        self.buf += data

    def _read_until(self, mark):
        while mark not in self.buf:
            self._fill()
        i = self.buf.index(mark) + len(mark)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _read_n(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send_frame(self, opcode, payload=b"", fin=True, mask=True, length=None):
        n = len(payload) if length is None else length
        head = bytes([(0x80 if fin else 0) | opcode])
        m = 0x80 if mask else 0
        if n < 126:
            head += bytes([m | n])
        elif n <= 0xFFFF:
            head += bytes([m | 126]) + struct.pack("!H", n)
        else:
            head += bytes([m | 127]) + struct.pack("!Q", n)
        if mask:
            key = os.urandom(4)
            head += key
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + payload)

    def recv_frame(self):
        """(opcode, payload) of the next server frame (never masked)."""
        b0, b1 = self._read_n(2)
        if b1 & 0x80:
            raise AssertionError("a server frame must not be masked")
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read_n(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read_n(8))[0]
        return b0 & 0x0F, self._read_n(n)

    def next_event(self):
        """The next text frame's event, answering nothing else."""
        while True:
            op, payload = self.recv_frame()
            if op == 0x1:
                return json.loads(payload)
            if op == 0x8:
                raise AssertionError("closed: %r" % (payload,))

    def close_code(self):
        """Reads frames until the server's close; returns its code."""
        while True:
            op, payload = self.recv_frame()
            if op == 0x8:
                return struct.unpack("!H", payload[:2])[0]

    def close(self):
        self.sock.close()


def accept_of(key):
    return base64.b64encode(hashlib.sha1(
        (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()


class EventsWebSocketTest(SharedUsers):
    def ws(self, token=None, **kw):
        w = Ws(self.server.base_url, token, **kw)
        self.addCleanup(w.close)
        return w

    def test_handshake_and_events_as_text_frames(self):
        u = self.shared_user()
        w = self.ws(u.token)
        self.assertEqual(w.status, 101)
        self.assertEqual(w.headers["upgrade"].lower(), "websocket")
        self.assertEqual(w.headers["sec-websocket-accept"], accept_of(w.key))
        m = self.create_memory(u.token)
        self.api.delete("/api/memories/" + m["id"], token=u.token)
        ev = w.next_event()
        self.assertEqual(ev["type"], "memory.created")
        self.assertEqual(ev["data"]["id"], m["id"])
        ev2 = w.next_event()
        self.assertEqual(ev2["type"], "memory.deleted")
        self.assertGreater(int(ev2["id"]), int(ev["id"]))

    def test_ping_pong_and_close(self):
        u = self.shared_user()
        w = self.ws(u.token)
        self.assertEqual(w.status, 101)
        w.send_frame(0x9, b"hello")
        self.assertEqual(w.recv_frame(), (0xA, b"hello"))
        # a fragmented text message within the limit is taken and ignored
        w.send_frame(0x1, b"abc", fin=False)
        w.send_frame(0x0, b"def", fin=True)
        w.send_frame(0x8, struct.pack("!H", 1000))
        self.assertEqual(w.close_code(), 1000)

    def test_unmasked_frame_closes_1002(self):
        u = self.shared_user()
        w = self.ws(u.token)
        self.assertEqual(w.status, 101)
        w.send_frame(0x1, b"not masked", mask=False)
        self.assertEqual(w.close_code(), 1002)

    def test_oversized_frame_closes_1009(self):
        u = self.shared_user()
        w = self.ws(u.token)
        self.assertEqual(w.status, 101)
        # only the header: the announced length alone is refused
        w.send_frame(0x2, b"", length=64 * 1024 + 1)
        self.assertEqual(w.close_code(), 1009)

    def test_oversized_message_closes_1009(self):
        u = self.shared_user()
        w = self.ws(u.token)
        self.assertEqual(w.status, 101)
        w.send_frame(0x1, b"x" * 40000, fin=False)
        w.send_frame(0x0, b"y" * 40000, fin=True)
        self.assertEqual(w.close_code(), 1009)

    def test_reserved_bits_and_bad_opcode_close_1002(self):
        u = self.shared_user()
        for first in (0x80 | 0x40 | 0x1, 0x80 | 0x3):
            w = Ws(self.server.base_url, u.token)
            try:
                self.assertEqual(w.status, 101)
                w.sock.sendall(bytes([first, 0x80]) + os.urandom(4))
                self.assertEqual(w.close_code(), 1002)
            finally:
                w.close()

    def test_token_as_subprotocol_and_origin(self):
        u = self.shared_user()
        w = self.ws(protocols=["personalos", "bearer." + u.token],
                    headers={"Origin": self.server.base_url})
        self.assertEqual(w.status, 101)
        self.assertEqual(w.headers["sec-websocket-protocol"], "personalos")
        m = self.create_memory(u.token)
        self.assertEqual(w.next_event()["data"]["id"], m["id"])
        other = self.ws(protocols=["personalos", "bearer." + u.token],
                        headers={"Origin": "https://evil.example"})
        self.assertEqual(other.status, 403)
        self.assertEqual(other.json["error"]["code"], "forbidden")

    def test_refusals_are_json(self):
        u = self.shared_user()
        w = self.ws()
        self.assertEqual(w.status, 401)
        self.assertEqual(w.json["error"]["code"], "unauthorized")
        w = self.ws(u.token, key="short")
        self.assertEqual(w.status, 400)
        w = self.ws(u.token, headers={"Sec-WebSocket-Version": "8"})
        self.assertEqual(w.status, 400)
        self.assertEqual(w.headers.get("sec-websocket-version"), "13")
        r = self.api.get("/api/events/ws", token=u.token)
        self.assertEqual(r.status, 400)
        self.assertIn("error", r.json)

    def test_other_users_events_never_seen(self):
        a, b = self.shared_user(0), self.shared_user(1)
        wb = self.ws(b.token)
        self.create_memory(a.token)
        mb = self.create_memory(b.token)
        self.assertEqual(wb.next_event()["data"]["id"], mb["id"])



class EventsSyncKeepAliveTest(ApiTestCase):
    """sync.status over a run of a Markdown folder beneath the file root;
    keep-alives each second (one server for both: starts cost time)."""

    @classmethod
    def setUpClass(cls):
        require_local("sync reads local files")
        cls.root = tempfile.mkdtemp(prefix="pos-events-root-")
        cls.server_env = {"PERSONALOS_SYNC_FILE_ROOT": cls.root,
                          "PERSONALOS_EVENTS_HEARTBEAT": "1"}
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.root, ignore_errors=True)

    def test_sync_run_status_and_its_memories(self):
        u = self.new_user()
        vault = os.path.join(self.root, u.id, "vault")
        os.makedirs(vault, mode=0o700)
        with open(os.path.join(vault, "note.md"), "w") as f:
            f.write("# Groceries\n\nOat milk and a secret ingredient.\n")
        # a new source's first run is queued at once (docs/SYNC.md)
        s = Sse(self.server.base_url, u.token)
        self.addCleanup(s.close)
        r = self.api.post("/api/sync/sources", {"kind": "markdown_dir", "config": {"path": "vault"},
                                                "interval_s": 0}, token=u.token)
        self.assertEqual(r.status, 201, r.raw[:300])
        source = r.json["id"]
        seen = []
        while not seen or seen[-1] != ("sync.status", "ok"):
            ev = s.next()
            d = ev["data"]["data"]
            if ev["event"] == "sync.status":
                self.assertEqual(d["id"], source)
                self.assertEqual(d["kind"], "markdown_dir")
                seen.append((ev["event"], d["status"]))
            elif ev["event"] == "memory.created":
                seen.append((ev["event"], d["type"]))
            self.assertNotIn("secret ingredient", json.dumps(ev["data"]))
        self.assertEqual(seen[0], ("sync.status", "running"))
        self.assertIn(("memory.created", "note"), seen)
        self.assertEqual(d["added"], 1)

    def test_keep_alives(self):
        u = self.new_user()
        s = Sse(self.server.base_url, u.token)
        self.addCleanup(s.close)
        self.assertEqual(s.status, 200)
        self.assertEqual(s.comment(), ": keep-alive")
        w = Ws(self.server.base_url, u.token)
        self.addCleanup(w.close)
        self.assertEqual(w.status, 101)
        self.assertEqual(w.recv_frame(), (0x9, b""))  # a ping


class EventsShutdownTest(unittest.TestCase):
    def test_streams_end_when_the_server_stops(self):
        require_local("stops its own server")
        server = Server().start()
        try:
            api = Api(server.base_url)
            email = "shutdown-%s@example.com" % os.urandom(4).hex()
            token = api.register(email)["access_token"]
            api.close()
            sse = Sse(server.base_url, token)
            ws = Ws(server.base_url, token)
            self.assertEqual((sse.status, ws.status), (200, 101))
            # open streams do not hold the stop for the grace period: the
            # server exits 0 (checked by stop) and both are told
            server.stop()
            self.assertEqual(ws.close_code(), 1001)
            # the body ends (read returns) with nothing but the preamble
            self.assertEqual(sse.resp.read(), b"retry: 3000\n\n")
            sse.close()
            ws.close()
        finally:
            server.stop(check=False)


if __name__ == "__main__":
    unittest.main()
