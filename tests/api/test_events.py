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
import socket
import struct
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import ApiTestCase, poll, require_local  # noqa: E402

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

    def next_of(self, type_):
        """Skips events until one of `type_` (a job's other events...)."""
        while True:
            ev = self.next()
            if ev["event"] == type_:
                return ev

    def close(self):
        self.conn.close()


class EventsSseTest(ApiTestCase):
    def open(self, token, **kw):
        s = Sse(self.server.base_url, token, **kw)
        self.addCleanup(s.close)
        return s

    def test_needs_a_token(self):
        s = self.open(None)
        self.assertEqual(s.status, 401)
        self.assertEqual(s.json["error"]["code"], "unauthorized")

    def test_create_update_delete_in_order(self):
        u = self.new_user()
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

    def test_bulk_publishes_each_memory(self):
        u = self.new_user()
        s = self.open(u.token)
        r = self.api.post("/api/memories/bulk",
                          {"memories": [{"content": "one"}, {"content": "two"}]},
                          token=u.token)
        self.assertEqual(r.status, 201)
        got = [s.next()["data"]["data"]["id"] for _ in range(2)]
        self.assertEqual(got, r.json["ids"])

    def test_other_users_events_never_seen(self):
        a, b = self.new_user(), self.new_user()
        sb = self.open(b.token)
        self.create_memory(a.token, "a's memory")
        mb = self.create_memory(b.token, "b's memory")
        ev = sb.next()
        # b's first event is b's own memory: a's was never queued for b
        self.assertEqual(ev["data"]["data"]["id"], mb["id"])
        self.assertEqual(ev["event"], "memory.created")

    def test_last_event_id_replays_what_was_missed(self):
        u = self.new_user()
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
        u = self.new_user()
        s = self.open(u.token, query="?last_event_id=" + "9" * 100)
        self.assertEqual(s.status, 422)
        self.assertEqual(s.json["error"]["field"], "last_event_id")

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


if __name__ == "__main__":
    unittest.main()
