"""Black-box tests of the calendar and notes sync sources (ics_file, caldav,
ics_url, markdown_dir) through the HTTP API: a source is created, runs,
runs again without duplicates, sees changed and deleted events, a wrong
password shows in the status, and wiki links of a Markdown vault become
relationships. The CalDAV part starts a real Radicale (Debian package
`radicale`) on 127.0.0.1 and a free port; it skips itself without one.
"""

import base64
import os
import sys
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ApiTestCase, REPO_ROOT, free_port, require_local  # noqa: E402

CAL = os.path.join(REPO_ROOT, "tests", "data", "sync", "calendar")
VAULT = os.path.join(REPO_ROOT, "tests", "data", "sync", "notes", "vault")
WINDOW = {"expand_from": "2026-01-01T00:00:00Z", "expand_until": "2026-12-31T00:00:00Z"}
RUN_TIMEOUT = 60.0


class SyncTestCase(ApiTestCase):
    """File sources read below <sync_file_root>/<user id>/: self.tmp is
    that folder, and create_source makes paths in it relative."""

    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="pos-root-")
        cls.server_env = {"PERSONALOS_SYNC_FILE_ROOT": cls.root,
                          "PERSONALOS_EGRESS_ALLOW": "127.0.0.1"}
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.root, ignore_errors=True)

    def setUp(self):
        super().setUp()
        require_local("the server must read files and reach servers of this test")
        self.user = self.new_user()
        self.tmp = os.path.join(self.root, self.user.id)
        os.makedirs(self.tmp, mode=0o700, exist_ok=True)

    def create_source(self, kind, config, name=None):
        p = config.get("path")
        if p and p.startswith(self.tmp + "/"):
            config = dict(config, path=os.path.relpath(p, self.tmp))
        r = self.api.post("/api/sync/sources",
                          {"kind": kind, "name": name or kind, "config": config,
                           "interval_s": 0}, token=self.user.token)
        self.assertEqual(r.status, 201, r.raw[:500])
        return r.json

    def runs(self, source_id):
        r = self.api.get("/api/sync/sources/" + source_id, token=self.user.token)
        self.assertEqual(r.status, 200, r.raw[:500])
        return r.json

    def wait_runs(self, source_id, n):
        """Waits until the source has n finished runs; returns the detail."""
        deadline = time.monotonic() + RUN_TIMEOUT
        while time.monotonic() < deadline:
            d = self.runs(source_id)
            if len(d.get("logs") or []) >= n and d["status"] not in ("running",):
                return d
            time.sleep(0.1)
        self.fail("source %s did not finish run %d: %r" % (source_id, n, d))

    def start(self, source_id):
        r = self.api.post("/api/sync/start", {"source_id": source_id}, token=self.user.token)
        self.assertIn(r.status, (200, 202), r.raw[:500])

    def memories(self, type_):
        out, offset = [], 0
        while True:
            body = self.list_memories(self.user.token,
                                      "type=%s&limit=100&offset=%d" % (type_, offset))
            out += body["memories"]
            if not body["has_more"]:
                return out
            offset += 100

    def by_event(self, type_="event"):
        out = {}
        for m in self.memories(type_):
            key = (m.get("metadata") or {}).get("event_id"), (m.get("metadata") or {}).get("start_time")
            self.assertNotIn(key, out, "duplicate memory for %r" % (key,))
            out[key] = m
        return out


class IcsFileTest(SyncTestCase):
    def test_ics_file_sync_resync_change_delete(self):
        path = os.path.join(self.tmp, "cal.ics")
        shutil.copy(os.path.join(CAL, "basic.ics"), path)
        src = self.create_source("ics_file", dict(WINDOW, path=path))
        self.assertEqual(src["secrets"], [])
        d = self.wait_runs(src["id"], 1)
        self.assertEqual(d["status"], "ok", d)
        log = d["logs"][0]
        self.assertEqual(log["added"], 10, log)
        self.assertEqual(log["skipped"], 3, log)
        self.assertTrue(any("event 7 (line 74)" in str(e) for e in log["errors"]), log["errors"])

        events = self.by_event()
        self.assertEqual(len(events), 10)
        dentist = events[("single-berlin@test", "2026-03-10T08:00:00Z")]
        self.assertIn("Event: Dentist appointment", dentist["content"])
        self.assertIn("Time: 2026-03-10 09:00 – 10:30 (Europe/Berlin)", dentist["content"])
        self.assertEqual(dentist["metadata"]["end_time"], "2026-03-10T09:30:00Z")
        self.assertEqual(dentist["created_at"][:19], "2026-03-10T08:00:00")
        self.assertNotIn(("weekly@test", "2026-03-16T09:00:00Z"), events)  # EXDATE

        # Re-sync: unchanged file, nothing added, no duplicates.
        self.start(src["id"])
        d = self.wait_runs(src["id"], 2)
        self.assertEqual(d["logs"][0]["added"], 0, d["logs"][0])
        self.assertEqual(len(self.by_event()), 10)

        # Changed file: the dentist moved, the trip is gone.
        shutil.copy(os.path.join(CAL, "changed.ics"), path)
        os.utime(path, (time.time() + 10, time.time() + 10))
        self.start(src["id"])
        d = self.wait_runs(src["id"], 3)
        log = d["logs"][0]
        self.assertEqual(log["removed"], 1, log)
        events = self.by_event()
        self.assertEqual(len(events), 9)
        self.assertNotIn(("allday@test", "2026-05-01T00:00:00Z"), events)
        moved = events[("single-berlin@test", "2026-03-11T08:00:00Z")]
        self.assertEqual(moved["id"], dentist["id"], "a changed event updates its memory")
        self.assertIn("(rescheduled)", moved["content"])

    def test_bad_config_names_the_field(self):
        for kind, config, field in (
                ("ics_file", {}, "path"),
                ("ics_file", {"path": "/x.ics", "expand_future_days": -3}, "expand_future_days"),
                ("ics_url", {"url": "file:///etc/passwd"}, "url"),
                ("caldav", {"url": "https://x/", "calendars": "work"}, "calendars"),
                ("markdown_dir", {"path": "/v", "max_depth": 0}, "max_depth")):
            r = self.api.post("/api/sync/sources", {"kind": kind, "name": "x", "config": config,
                                                    "interval_s": 0}, token=self.user.token)
            self.assertIn(r.status, (400, 422), r.raw[:300])
            self.assertEqual(r.json["error"].get("field"), "config." + field, r.json)


class MarkdownTest(SyncTestCase):
    def test_vault_links_become_relationships(self):
        vault = os.path.join(self.tmp, "vault")
        shutil.copytree(VAULT, vault)
        src = self.create_source("markdown_dir", {"path": vault})
        d = self.wait_runs(src["id"], 1)
        self.assertEqual(d["status"], "ok", d)
        notes = {m["metadata"]["path"]: m for m in self.memories("note")}
        self.assertEqual(sorted(notes), ["Archive/Gamma.md", "Broken.md", "Gamma.md", "Home.md",
                                         "Projects/Alpha.md", "Projects/Beta.md"])
        home = self.get_memory(self.user.token, notes["Home.md"]["id"])
        self.assertEqual(set(home["tags"]) & {"personal", "planning", "idea"},
                         {"personal", "planning", "idea"})
        related = set(home["related_memory_ids"])
        for p in ("Projects/Alpha.md", "Projects/Beta.md", "Gamma.md"):
            self.assertIn(notes[p]["id"], related, p)

        # A deleted note disappears on the next run; no duplicates.
        os.unlink(os.path.join(vault, "Projects", "Beta.md"))
        self.start(src["id"])
        self.wait_runs(src["id"], 2)
        notes2 = {m["metadata"]["path"]: m for m in self.memories("note")}
        self.assertEqual(len(notes2), 5)
        self.assertNotIn("Projects/Beta.md", notes2)
        self.assertEqual(notes2["Home.md"]["id"], notes["Home.md"]["id"])


class CliImportTest(unittest.TestCase):
    """`personalos import ics|markdown` into a data dir, twice."""

    def test_import_ics_and_markdown(self):
        harness.require_binary(self)
        data = tempfile.mkdtemp(prefix="pos-calimport-")
        self.addCleanup(shutil.rmtree, data, True)
        r = harness.run_cli(["user", "add", "cal@example.org", "--data", data],
                            stdin="correct horse battery staple\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        ics = os.path.join(CAL, "changed.ics")
        r = harness.run_cli(["import", "ics", ics, "--data", data])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"[1-9][0-9]* added")
        self.assertIn("3 skipped", r.stdout)
        self.assertIn("event 8 (line 77)", r.stdout)  # the first skipped one
        r = harness.run_cli(["import", "ics", ics, "--data", data])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("0 added", r.stdout)
        r = harness.run_cli(["import", "markdown", VAULT, "--data", data])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("6 added", r.stdout)
        r = harness.run_cli(["import", "markdown", VAULT, "--data", data])
        self.assertIn("0 added", r.stdout)
        with harness.Server(data_dir=data) as srv:
            api = harness.Api(srv.base_url)
            tok = api.login("cal@example.org", "correct horse battery staple")["access_token"]
            r = api.get("/api/memories?type=note&limit=50", token=tok)
            self.assertEqual(r.json["total"], 6, r.json)
            r = api.get("/api/memories/search?q=dentist", token=tok)
            self.assertEqual(r.status, 200)
            self.assertTrue(any("Dentist" in h["content"] for h in r.json["memories"]), r.json)
            api.close()


class Radicale:
    """A Radicale CalDAV server in a temp dir, alice with password dav-pass-7."""

    def __init__(self, root, port=None):
        self.port = port or free_port()
        self.root = root
        users = os.path.join(root, "users")
        with open(users, "w") as f:
            f.write("alice:dav-pass-7\n")
        cfg = os.path.join(root, "config")
        with open(cfg, "w") as f:
            f.write("[server]\nhosts = 127.0.0.1:%d\n[auth]\ntype = htpasswd\n"
                    "htpasswd_filename = %s\nhtpasswd_encryption = plain\ndelay = 0\n"
                    "[storage]\nfilesystem_folder = %s\n[rights]\ntype = owner_only\n"
                    "[logging]\nlevel = warning\n"
                    % (self.port, users, os.path.join(root, "collections")))
        self.log = open(os.path.join(root, "radicale.log"), "wb")
        self.proc = subprocess.Popen(["radicale", "--config", cfg], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            self.stop()
            raise AssertionError("radicale did not start")
        self.base = "http://127.0.0.1:%d" % self.port

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()

    def request(self, method, path, body=None, ctype="text/calendar; charset=utf-8"):
        req = urllib.request.Request(self.base + path, data=body.encode() if body else None,
                                     method=method)
        req.add_header("Authorization", "Basic " + base64.b64encode(b"alice:dav-pass-7").decode())
        if body:
            req.add_header("Content-Type", ctype)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    def put_event(self, path, uid, start, summary):
        ics = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
               "UID:%s\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:%s\r\nDURATION:PT1H\r\n"
               "SUMMARY:%s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n" % (uid, start, summary))
        status = self.request("PUT", path, ics)
        assert status in (201, 204), status


@unittest.skipUnless(shutil.which("radicale"), "radicale is not installed (Debian package radicale)")
class CalDavTest(SyncTestCase):
    # Radicale is on loopback: each test's Radicale takes the one port the
    # server's egress_allow names.
    @classmethod
    def setUpClass(cls):
        cls.dav_port = free_port()
        cls.server_env = {"PERSONALOS_EGRESS_ALLOW": "127.0.0.1:%d" % cls.dav_port}
        super().setUpClass()

    def setUp(self):
        super().setUp()
        self.dav = Radicale(self.tmp, self.dav_port)
        self.addCleanup(self.dav.stop)
        mk = ('<?xml version="1.0"?><C:mkcalendar xmlns:D="DAV:" '
              'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
              '<D:displayname>Work</D:displayname></D:prop></D:set></C:mkcalendar>')
        self.assertEqual(self.dav.request("MKCALENDAR", "/alice/work/", mk, "application/xml"), 201)
        self.dav.put_event("/alice/work/a.ics", "dav-a", "20260310T090000Z", "Planning")
        self.dav.put_event("/alice/work/b.ics", "dav-b", "20260311T090000Z", "Review")

    def test_caldav_end_to_end(self):
        src = self.create_source("caldav", dict(WINDOW, url=self.dav.base + "/",
                                                user="alice", password="dav-pass-7"))
        self.assertNotIn("password", src["config"])
        self.assertIn("password", src["secrets"])
        d = self.wait_runs(src["id"], 1)
        self.assertEqual(d["status"], "ok", d)
        self.assertNotIn("dav-pass-7", str(d))
        events = self.by_event()
        self.assertEqual(set(k[0] for k in events), {"dav-a", "dav-b"})
        a_id = events[("dav-a", "2026-03-10T09:00:00Z")]["id"]

        # Re-sync with nothing new: no duplicates.
        self.start(src["id"])
        d = self.wait_runs(src["id"], 2)
        self.assertEqual(d["logs"][0]["added"], 0)
        self.assertEqual(len(self.by_event()), 2)

        # Change a, delete b, add c.
        self.dav.put_event("/alice/work/a.ics", "dav-a", "20260312T090000Z", "Planning (moved)")
        self.assertIn(self.dav.request("DELETE", "/alice/work/b.ics"), (200, 204))
        self.dav.put_event("/alice/work/c.ics", "dav-c", "20260401T090000Z", "Lunch")
        self.start(src["id"])
        d = self.wait_runs(src["id"], 3)
        log = d["logs"][0]
        self.assertEqual((log["added"], log["updated"], log["removed"]), (1, 1, 1), log)
        events = self.by_event()
        self.assertEqual(set(k[0] for k in events), {"dav-a", "dav-c"})
        moved = events[("dav-a", "2026-03-12T09:00:00Z")]
        self.assertEqual(moved["id"], a_id)
        self.assertIn("Planning (moved)", moved["content"])

    def test_wrong_password_shows_and_loses_nothing(self):
        good = self.create_source("caldav", dict(WINDOW, url=self.dav.base + "/",
                                                 user="alice", password="dav-pass-7"), "good")
        self.wait_runs(good["id"], 1)
        bad = self.create_source("caldav", dict(WINDOW, url=self.dav.base + "/",
                                                user="alice", password="wrong"), "bad")
        d = self.wait_runs(bad["id"], 1)
        self.assertEqual(d["status"], "error", d)
        self.assertIn("authentication failed", d["error_message"])
        self.assertNotIn("wrong", d["error_message"])
        self.assertEqual(len(self.by_event()), 2)

    def test_ics_url_from_radicale(self):
        src = self.create_source("ics_url", dict(WINDOW, url=self.dav.base + "/alice/work/",
                                                 user="alice", password="dav-pass-7"))
        d = self.wait_runs(src["id"], 1)
        self.assertEqual(d["status"], "ok", d)
        self.assertEqual(len(self.by_event()), 2)
        self.start(src["id"])
        d = self.wait_runs(src["id"], 2)
        self.assertEqual(d["logs"][0]["added"], 0)
        self.assertEqual(len(self.by_event()), 2)


if __name__ == "__main__":
    unittest.main()
