"""Black-box tests of sync (issue 6): IMAP against a real Dovecot, mbox and
Maildir imports of the project's fixtures and of ../shared/data/email, the
source API (validation, secrets, isolation, delete keeping or removing
memories) and `personalos import`.
"""
import os
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from dovecot import Dovecot, message  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(REPO, "tests", "data", "sync", "mail")
SHARED_EMAIL = os.path.join(REPO, "..", "shared", "data", "email")
PASSWORD = "s3cret-Imap-Pw"


class SyncCase(harness.ApiTestCase):
    """A server with a sync_file_root: each user's file sources are paths
    relative to <root>/<user id>/ (folder() makes and returns it)."""

    @classmethod
    def setUpClass(cls):
        harness.require_local("sync reads local files and a local IMAP server")
        cls.root = tempfile.mkdtemp(prefix="pos-root-")
        cls.server_env = {"PERSONALOS_SYNC_FILE_ROOT": cls.root,
                          "PERSONALOS_EGRESS_ALLOW": "127.0.0.1"}
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.root, ignore_errors=True)

    def folder(self, u, *sub):
        """The user's folder (or a path in it), created."""
        d = os.path.join(self.root, u.id)
        os.makedirs(d, mode=0o700, exist_ok=True)
        p = os.path.join(d, *sub)
        if sub:
            os.makedirs(os.path.dirname(p), exist_ok=True)
        return p

    def put(self, u, rel, src):
        """Copies file `src` to `rel` in the user's folder; returns rel."""
        shutil.copy(src, self.folder(u, rel))
        return rel

    def create_source(self, token, kind, config, name=None, interval_s=0, status=201):
        body = {"kind": kind, "config": config, "interval_s": interval_s}
        if name:
            body["name"] = name
        r = self.api.post("/api/sync/sources", body, token=token)
        self.assertEqual(r.status, status, r.raw[:500])
        return r.json

    def status_of(self, token, source_id):
        r = self.api.get("/api/sync/status", token=token)
        self.assertEqual(r.status, 200, r.raw[:300])
        for s in r.json["sources"]:
            if s["id"] == source_id:
                return s
        self.fail("source %s not in status" % source_id)

    def wait_idle(self, token, source_id, timeout=30):
        """Waits until the source has no queued or running job."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.status_of(token, source_id)
            if s["job"] is None and s["status"] not in ("idle", "running"):
                return s
            time.sleep(0.05)
        self.fail("sync of %s did not finish: %r" % (source_id, s))

    def sync(self, token, source_id):
        """Starts a run and waits for it; returns the source status."""
        # let the first (automatic) run finish so this one is a new run
        self.wait_idle(token, source_id)
        before = self.status_of(token, source_id)["last_run"]
        r = self.api.post("/api/sync/start", {"source_id": source_id}, token=token)
        self.assertEqual(r.status, 202, r.raw[:300])
        self.assertIn("job_id", r.json)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            s = self.status_of(token, source_id)
            if s["job"] is None and s["last_run"] and s["last_run"] != before:
                return s
            time.sleep(0.05)
        self.fail("manual sync did not finish")

    def emails(self, token, source=None):
        out, offset = [], 0
        while True:
            q = "?type=email&limit=200&offset=%d" % offset
            if source:
                q += "&source=" + source
            r = self.api.get("/api/memories" + q, token=token)
            self.assertEqual(r.status, 200, r.raw[:300])
            page = r.json["memories"]
            out += page
            if len(page) < 200:
                return out
            offset += 200


class ImapSyncTest(SyncCase):
    """A Dovecot with two users; the server syncs from it. Dovecot is on
    loopback, so the server is started with exactly its port (and one
    closed port) in egress_allow."""

    @classmethod
    def setUpClass(cls):
        harness.require_local("sync reads a local IMAP server")
        cls.dovecot = Dovecot({"alice": PASSWORD, "bob": PASSWORD + "b", "carol": PASSWORD + "c",
                               "dave": PASSWORD + "d", "erin": PASSWORD + "e"}).start()
        cls.closed_port = harness.free_port()
        cls.server_env = {"PERSONALOS_EGRESS_ALLOW": "127.0.0.1:%d,127.0.0.1:%d"
                          % (cls.dovecot.port, cls.closed_port)}
        try:
            super().setUpClass()
        except BaseException:
            cls.dovecot.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.dovecot.stop()
        super().tearDownClass()

    def imap_config(self, user, **kw):
        c = {"host": "127.0.0.1", "port": self.dovecot.port, "tls": "none",
             "user": user, "password": self.dovecot.users[user]}
        c.update(kw)
        return c

    def test_sync_add_more_resync_no_duplicates(self):
        u = self.new_user()
        self.dovecot.append("alice", "INBOX", [message(i) for i in range(1, 4)])
        src = self.create_source(u.token, "imap", self.imap_config("alice"), name="alice mail")
        self.assertEqual(src["secrets"], ["password"])
        self.assertNotIn("password", src["config"])
        s = self.wait_idle(u.token, src["id"])
        self.assertEqual(s["status"], "ok", s)
        mails = self.emails(u.token, "imap")
        self.assertEqual(len(mails), 3)
        m = [x for x in mails if x["metadata"]["email_id"] == "msg-2@example.org"][0]
        self.assertTrue(m["content"].startswith("From: Sender 2 <sender2@example.org>\nSubject: message 2\nDate: "),
                        m["content"])
        self.assertIn("Body of message number 2.", m["content"])
        self.assertEqual(m["metadata"]["sender"], "sender2@example.org")
        self.assertEqual(m["metadata"]["folder"], "INBOX")
        # more mail, then a manual sync: only the new ones come
        self.dovecot.append("alice", "INBOX", [message(i) for i in range(4, 6)])
        s = self.sync(u.token, src["id"])
        self.assertEqual(s["last_run"]["added"], 2, s)
        self.assertEqual(len(self.emails(u.token, "imap")), 5)
        # nothing new: nothing fetched, nothing duplicated
        s = self.sync(u.token, src["id"])
        self.assertEqual((s["last_run"]["added"], s["last_run"]["updated"]), (0, 0), s)
        self.assertEqual(len(self.emails(u.token, "imap")), 5)
        # the sync read with EXAMINE and BODY.PEEK: nothing was marked read
        c = self.dovecot.connect("alice")
        c.select("INBOX", readonly=True)
        typ, data = c.fetch("1:*", "(FLAGS)")
        c.logout()
        self.assertFalse(any(b"\\Seen" in d for d in data if isinstance(d, bytes)), data)
        # the cursor records UIDVALIDITY and the last UID
        r = self.api.get("/api/sync/sources/" + src["id"], token=u.token)
        inbox = r.json["cursor"]["folders"]["INBOX"]
        self.assertGreater(inbox["uidvalidity"], 0)
        self.assertGreaterEqual(inbox["last_uid"], 5)
        self.assertEqual(r.json["logs"][0]["status"], "ok")

    def test_uidvalidity_change_resyncs_without_duplicates(self):
        u = self.new_user()
        folder = "Work"
        self.dovecot.append("bob", folder, [message(100 + i) for i in range(3)])
        src = self.create_source(u.token, "imap",
                                 self.imap_config("bob", folders=[folder]), name="bob work")
        self.assertEqual(self.wait_idle(u.token, src["id"])["status"], "ok")
        self.assertEqual(len(self.emails(u.token)), 3)
        old = self.api.get("/api/sync/sources/" + src["id"], token=u.token).json["cursor"]
        # the folder is re-created: new UIDVALIDITY, the same messages and one more
        self.dovecot.recreate("bob", folder)
        self.dovecot.append("bob", folder, [message(100 + i) for i in range(4)])
        s = self.sync(u.token, src["id"])
        self.assertEqual(s["status"], "ok", s)
        new = self.api.get("/api/sync/sources/" + src["id"], token=u.token).json["cursor"]
        self.assertNotEqual(old["folders"][folder]["uidvalidity"],
                            new["folders"][folder]["uidvalidity"])
        self.assertEqual(s["last_run"]["added"], 1, s)
        self.assertEqual(s["last_run"]["unchanged"], 3, s)
        ids = sorted(m["metadata"]["email_id"] for m in self.emails(u.token))
        self.assertEqual(ids, ["msg-%d@example.org" % (100 + i) for i in range(4)])

    def test_wrong_password_shows_in_status_and_loses_nothing(self):
        u = self.new_user()
        self.dovecot.append("dave", "INBOX", [message(7)])
        good = self.create_source(u.token, "imap", self.imap_config("dave"))
        self.assertEqual(self.wait_idle(u.token, good["id"])["status"], "ok")
        before = len(self.emails(u.token))
        self.assertGreater(before, 0)
        bad_pw = "Wrong-Password-xyz"
        bad = self.create_source(u.token, "imap",
                                 self.imap_config("dave", password=bad_pw))
        s = self.wait_idle(u.token, bad["id"])
        self.assertEqual(s["status"], "error", s)
        self.assertIn("login", s["error_message"].lower())
        self.assertGreaterEqual(s["failures"], 1)
        self.assertIsNotNone(s["next_sync_at"])  # backoff: a later retry is planned
        self.assertEqual(len(self.emails(u.token)), before)
        # the good source still syncs
        self.assertEqual(self.sync(u.token, good["id"])["status"], "ok")
        # secrets never come back, nor reach the log
        for path in ("/api/sync/sources", "/api/sync/status",
                     "/api/sync/sources/" + bad["id"]):
            r = self.api.get(path, token=u.token)
            self.assertNotIn(bad_pw.encode(), r.raw)
            self.assertNotIn(self.dovecot.users["dave"].encode(), r.raw)
        if self.server.log_dir:
            self.assertNotIn(bad_pw, self.server.stderr_text())
            self.assertNotIn(self.dovecot.users["dave"], self.server.stderr_text())

    def test_only_flagged(self):
        u = self.new_user()
        c = self.dovecot.connect("erin")
        try:
            c.append("INBOX", r"(\Flagged)", None, message(300, subject="starred one"))
            c.append("INBOX", None, None, message(301, subject="plain one"))
        finally:
            c.logout()
        src = self.create_source(u.token, "imap", self.imap_config("erin", only_flagged=True))
        self.assertEqual(self.wait_idle(u.token, src["id"])["status"], "ok")
        subjects = [m["metadata"]["subject"] for m in self.emails(u.token)]
        self.assertEqual(subjects, ["starred one"])

    def test_unreachable_server_is_an_error_in_status(self):
        u = self.new_user()
        src = self.create_source(u.token, "imap", {
            "host": "127.0.0.1", "port": self.closed_port, "tls": "none",
            "user": "x", "password": "y"})
        s = self.wait_idle(u.token, src["id"])
        self.assertEqual(s["status"], "error")
        self.assertIn("could not connect to IMAP server 127.0.0.1", s["error_message"])

    def test_delete_source_removes_or_keeps_memories(self):
        u = self.new_user()
        self.dovecot.append("carol", "INBOX", [message(200)])
        a = self.create_source(u.token, "imap", self.imap_config("carol"))
        self.wait_idle(u.token, a["id"])
        n = len(self.emails(u.token))
        self.assertGreater(n, 0)
        r = self.api.delete("/api/sync/sources/%s?keep_memories=maybe" % a["id"], token=u.token)
        self.assert_error(r, 422, field="keep_memories")
        r = self.api.delete("/api/sync/sources/%s?keep_memories=true" % a["id"], token=u.token)
        self.assertEqual(r.status, 204)
        self.assertEqual(len(self.emails(u.token)), n)
        b = self.create_source(u.token, "imap", self.imap_config("carol"))
        self.wait_idle(u.token, b["id"])
        # a second source of the same mailbox has its own copies
        self.assertEqual(len(self.emails(u.token)), 2 * n)
        r = self.api.delete("/api/sync/sources/%s?keep_memories=false" % b["id"], token=u.token)
        self.assertEqual(r.status, 204)
        self.assertEqual(len(self.emails(u.token)), n)
        r = self.api.get("/api/sync/sources/" + b["id"], token=u.token)
        self.assertEqual(r.status, 404)


class ImapTlsTest(SyncCase):
    """Dovecot with a self-signed certificate: STARTTLS and implicit TLS."""

    @classmethod
    def setUpClass(cls):
        harness.require_local("sync reads a local IMAP server")
        cls.dovecot = Dovecot({"tina": PASSWORD + "t"}, tls=True).start()
        cls.dovecot.append("tina", "INBOX", [message(400), message(401)])
        cls.server_env = {"PERSONALOS_EGRESS_ALLOW": "127.0.0.1:%d,127.0.0.1:%d"
                          % (cls.dovecot.port, cls.dovecot.imaps_port)}
        try:
            super().setUpClass()
        except BaseException:
            cls.dovecot.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.dovecot.stop()
        super().tearDownClass()

    def config(self, **kw):
        c = {"host": "127.0.0.1", "user": "tina", "password": self.dovecot.users["tina"]}
        c.update(kw)
        return c

    def test_starttls_and_implicit_tls(self):
        u = self.new_user()
        a = self.create_source(u.token, "imap", self.config(
            port=self.dovecot.port, tls="starttls", tls_ca_file=self.dovecot.cert))
        s = self.wait_idle(u.token, a["id"])
        self.assertEqual((s["status"], s["last_run"]["added"]), ("ok", 2), s)
        b = self.create_source(u.token, "imap", self.config(
            port=self.dovecot.imaps_port, tls="implicit", tls_ca_file=self.dovecot.cert))
        s = self.wait_idle(u.token, b["id"])
        self.assertEqual((s["status"], s["last_run"]["added"]), ("ok", 2), s)

    def test_untrusted_certificate_is_a_tls_error(self):
        u = self.new_user()
        src = self.create_source(u.token, "imap", self.config(
            port=self.dovecot.imaps_port, tls="implicit"))
        s = self.wait_idle(u.token, src["id"])
        self.assertEqual(s["status"], "error", s)
        self.assertIn("TLS", s["error_message"])
        self.assertEqual(self.emails(u.token), [])


class SourceApiTest(SyncCase):

    def test_validation(self):
        u = self.new_user()
        cases = [
            ({"config": {}}, "kind"),
            ({"kind": "telepathy", "config": {}}, "kind"),
            ({"kind": "mbox"}, "config"),
            ({"kind": "mbox", "config": []}, "config"),
            ({"kind": "mbox", "config": {}}, "config.path"),
            ({"kind": "mbox", "config": {"path": "/abs/olute"}}, "config.path"),
            ({"kind": "mbox", "config": {"path": "a/../../b"}}, "config.path"),
            ({"kind": "mbox", "config": {"path": "x"}, "interval_s": 10}, "interval_s"),
            ({"kind": "mbox", "config": {"path": "x"}, "interval_s": "60"}, "interval_s"),
            ({"kind": "mbox", "config": {"path": "x"}, "name": "n" * 129}, "name"),
            ({"kind": "mbox", "config": {"path": "x", "max_body_bytes": 5}}, "config.max_body_bytes"),
            ({"kind": "imap", "config": {"user": "u", "password": "p"}}, "config.host"),
            ({"kind": "imap", "config": {"host": "h", "password": "p"}}, "config.user"),
            ({"kind": "imap", "config": {"host": "h", "user": "u"}}, "config.password"),
            ({"kind": "imap", "config": {"host": "h", "user": "u", "password": "p", "port": 0}}, "config.port"),
            ({"kind": "imap", "config": {"host": "h", "user": "u", "password": "p", "tls": "maybe"}}, "config.tls"),
            ({"kind": "imap", "config": {"host": "h", "user": "u", "password": "p", "folders": []}}, "config.folders"),
        ]
        for body, field in cases:
            with self.subTest(body=body):
                r = self.api.post("/api/sync/sources", body, token=u.token)
                self.assertIn(r.status, (400, 422), r.raw[:300])
                self.assertEqual(r.json["error"].get("field"), field, r.json)
        r = self.api.post("/api/sync/sources", raw=b"{not json", token=u.token)
        self.assertEqual(r.status, 400)
        self.assertEqual(self.api.get("/api/sync/sources", token=u.token).json["sources"], [])

    def test_isolation_and_auth(self):
        a, b = self.new_user(), self.new_user()
        src = self.create_source(a.token, "mbox", {"path": self.put(
            a, "f.mbox", os.path.join(FIXTURES, "fixtures.mbox"))})
        self.wait_idle(a.token, src["id"])
        self.assertEqual(self.api.get("/api/sync/sources/" + src["id"], token=b.token).status, 404)
        self.assertEqual(self.api.delete("/api/sync/sources/" + src["id"], token=b.token).status, 404)
        r = self.api.post("/api/sync/start", {"source_id": src["id"]}, token=b.token)
        self.assertEqual(r.status, 404)
        self.assertEqual(self.api.get("/api/sync/sources", token=b.token).json["sources"], [])
        self.assertEqual(self.api.get("/api/sync/status", token=b.token).json["sources"], [])
        self.assertEqual(self.emails(b.token), [])
        self.assertEqual(self.api.get("/api/sync/sources").status, 401)
        self.assertEqual(self.api.get("/api/sync/sources/not-a-uuid", token=a.token).status, 404)
        r = self.api.post("/api/sync/start", {"source_id": 5}, token=a.token)
        self.assertEqual(r.status, 422)


class FileRootTest(SyncCase):
    """File sources read only below the user's own folder."""

    def test_paths_outside_the_folder_are_refused(self):
        u = self.new_user()
        inside = self.put(u, "in.mbox", os.path.join(FIXTURES, "fixtures.mbox"))
        for path in (os.path.join(FIXTURES, "fixtures.mbox"), self.folder(u, "in.mbox"),
                     "../" + u.id + "/in.mbox", "/etc/passwd"):
            with self.subTest(path=path):
                r = self.api.post("/api/sync/sources", {"kind": "mbox", "config": {"path": path}},
                                  token=u.token)
                self.assert_error(r, 422, field="config.path")
        src = self.create_source(u.token, "mbox", {"path": inside})
        self.assertEqual(self.wait_idle(u.token, src["id"])["last_run"]["added"], 5)
        self.assertEqual(os.stat(self.folder(u)).st_mode & 0o777, 0o700)


class FileImportTest(SyncCase):

    def test_mbox_fixtures_skip_malformed_and_append_incrementally(self):
        u = self.new_user()
        rel = self.put(u, "mail.mbox", os.path.join(FIXTURES, "fixtures.mbox"))
        path = self.folder(u, rel)
        src = self.create_source(u.token, "mbox", {"path": rel})
        s = self.wait_idle(u.token, src["id"])
        self.assertEqual(s["status"], "ok", s)
        self.assertEqual(s["last_run"]["added"], 5)
        self.assertEqual(s["last_run"]["skipped"], 1)
        self.assertTrue(s["last_run"]["errors"][0]["position"].startswith("message 3 "),
                        s["last_run"]["errors"])
        mails = {m["metadata"]["email_id"]: m for m in self.emails(u.token, "mbox")}
        self.assertEqual(len(mails), 5)
        self.assertIn("Subject: Grüße aus Köln", mails["rfc2047-1@example.org"]["content"])
        self.assertIn("garden party", mails["html-1@example.org"]["content"])
        # appending one message reads only that one
        with open(path, "ab") as f:
            f.write(b"From x Mon Nov  2 10:00:00 2026\n" + message(9).replace(b"\r\n", b"\n") + b"\n")
        s = self.sync(u.token, src["id"])
        self.assertEqual(s["last_run"]["added"], 1, s)
        self.assertEqual(s["last_run"]["unchanged"], 0, s)
        self.assertEqual(s["last_run"]["skipped"], 0, s)
        self.assertEqual(len(self.emails(u.token, "mbox")), 6)
        # the file rewritten without the first message: full re-read, it is removed
        with open(path, "rb") as f:
            data = f.read()
        second = data.index(b"\nFrom ", 10) + 1
        with open(path, "wb") as f:
            f.write(data[second:])
        s = self.sync(u.token, src["id"])
        self.assertEqual(s["last_run"]["removed"], 1, s)
        ids = {m["metadata"]["email_id"] for m in self.emails(u.token, "mbox")}
        self.assertNotIn("rfc2047-1@example.org", ids)
        self.assertEqual(len(ids), 5)

    def test_schedule_jobs_and_delete_while_running(self):
        u = self.new_user()
        path = self.folder(u, "big.mbox")
        with open(path, "wb") as f:
            for i in range(6000):
                f.write(b"From x Mon Nov  2 10:00:00 2026\n" +
                        message(10000 + i).replace(b"\r\n", b"\n") + b"\n")
        # an interval source: the next run is planned interval_s after the last
        small = self.create_source(u.token, "mbox", {"path": self.put(
            u, "small.mbox", os.path.join(FIXTURES, "fixtures.mbox"))}, interval_s=3600)
        s = self.wait_idle(u.token, small["id"])
        src = self.api.get("/api/sync/sources/" + small["id"], token=u.token).json
        last = src["last_sync_at"]
        nxt = src["next_sync_at"]
        self.assertIsNotNone(nxt)
        self.assertGreater(nxt, last)
        self.assertTrue(nxt.startswith(last[:4]))
        jobs = self.api.get("/api/sync/status", token=u.token).json["jobs"]
        job = [j for j in jobs if j["source_id"] == small["id"]][0]
        self.assertEqual((job["state"], job["status"]), ("done", "ok"))
        self.assertEqual(job["progress"]["done"], job["progress"]["total"])
        self.assertEqual(job["progress"]["added"], 5)
        # a big import, deleted at once with its memories: whatever the run
        # had written is gone and the source with it
        big = self.create_source(u.token, "mbox", {"path": "big.mbox"})
        r = self.api.delete("/api/sync/sources/%s?keep_memories=false" % big["id"],
                            token=u.token)
        self.assertEqual(r.status, 204)
        self.assertEqual(self.api.get("/api/sync/sources/" + big["id"], token=u.token).status, 404)
        # the delete did not wait: the run stops at its next check and its
        # worker then removes what it had written
        deadline = time.monotonic() + 60
        while len(self.emails(u.token, "mbox")) != 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(len(self.emails(u.token, "mbox")), 5)
        ids = [x["id"] for x in self.api.get("/api/sync/status", token=u.token).json["sources"]]
        self.assertEqual(ids, [small["id"]])

    def job(self, token, job_id, final=True):
        def check():
            r = self.api.get("/api/jobs/" + job_id, token=token)
            self.assertEqual(r.status, 200, r.raw[:300])
            return r.json if not final or r.json["state"] in ("done", "failed", "cancelled") \
                else None
        j = harness.poll(check)
        self.assertIsNotNone(j, "job %s did not finish" % job_id)
        return j

    def test_a_run_is_a_sync_run_job(self):
        u = self.new_user()
        src = self.create_source(u.token, "mbox", {"path": self.put(
            u, "mail.mbox", os.path.join(FIXTURES, "fixtures.mbox"))})
        self.wait_idle(u.token, src["id"])
        # the first run (queued when the source was made) read the file
        first = [x for x in self.api.get("/api/sync/status", token=u.token).json["jobs"]
                 if x["source_id"] == src["id"]][0]
        j = self.job(u.token, first["id"])
        self.assertEqual((j["kind"], j["state"]), ("sync.run", "done"), j)
        self.assertGreater(j["progress"]["total"], 0, j)
        self.assertEqual(j["progress"]["done"], j["progress"]["total"], j)
        # a manual run answers with its job
        r = self.api.post("/api/sync/start", {"source_id": src["id"]}, token=u.token)
        self.assertEqual(r.status, 202, r.raw[:300])
        self.assertEqual(self.job(u.token, r.json["job_id"])["kind"], "sync.run")
        # another user does not see it
        other = self.new_user()
        self.assertEqual(self.api.get("/api/jobs/" + j["id"], token=other.token).status, 404)

    def test_a_run_is_cancelled_through_the_jobs_api(self):
        u = self.new_user()
        path = self.folder(u, "big.mbox")
        with open(path, "wb") as f:
            for i in range(8000):
                f.write(b"From x Mon Nov  2 10:00:00 2026\n" +
                        message(20000 + i).replace(b"\r\n", b"\n") + b"\n")
        src = self.create_source(u.token, "mbox", {"path": "big.mbox"})
        r = self.api.post("/api/sync/start", {"source_id": src["id"]}, token=u.token)
        self.assertEqual(r.status, 202, r.raw[:300])
        job_id = r.json["job_id"]  # the first run's job: it is still active
        r = self.api.delete("/api/jobs/" + job_id, token=u.token)
        self.assertIn(r.status, (200, 202, 204), r.raw[:300])
        j = self.job(u.token, job_id)
        self.assertEqual((j["kind"], j["state"]), ("sync.run", "cancelled"), j)
        # the run's job ends first, then the run records its end on the
        # source: wait for both (under ASan the second can lag the first)
        s = harness.poll(lambda: (lambda s: s if s["job"] is None and
                                  s["status"] != "running" else None)(
            self.status_of(u.token, src["id"])))
        self.assertIsNotNone(s, self.status_of(u.token, src["id"]))
        self.assertEqual(s["status"], "idle", s)
        if s["last_run"] is not None:  # else cancelled before it started
            self.assertEqual(s["last_run"]["status"], "cancelled", s)
        self.assertLess(len(self.emails(u.token, "mbox")), 8000)
        # the source runs again afterwards
        r = self.api.post("/api/sync/start", {"source_id": src["id"]}, token=u.token)
        self.assertEqual(r.status, 202, r.raw[:300])
        self.assertNotEqual(r.json["job_id"], job_id)
        self.api.delete("/api/jobs/" + r.json["job_id"], token=u.token)

    def test_empty_and_missing_files(self):
        u = self.new_user()
        open(self.folder(u, "sub", "empty.mbox"), "wb").close()
        src = self.create_source(u.token, "mbox", {"path": "sub/empty.mbox"})
        s = self.wait_idle(u.token, src["id"])
        self.assertEqual((s["status"], s["last_run"]["added"]), ("ok", 0), s)
        gone = self.create_source(u.token, "mbox", {"path": "sub/nope.mbox"})
        s = self.wait_idle(u.token, gone["id"])
        self.assertEqual(s["status"], "error", s)
        self.assertIn("nope.mbox", s["error_message"])
        md = self.create_source(u.token, "maildir", {"path": "sub"})
        s = self.wait_idle(u.token, md["id"])
        self.assertEqual(s["status"], "error", s)
        self.assertIn("Maildir", s["error_message"])

    def test_maildir_fixtures(self):
        u = self.new_user()
        md = self.folder(u, "Mail", "x")[:-2]
        for d in ("cur", "new", "tmp"):
            os.mkdir(os.path.join(md, d))
        names = sorted(n for n in os.listdir(FIXTURES) if n.endswith(".eml"))
        for i, n in enumerate(names):
            shutil.copy(os.path.join(FIXTURES, n),
                        os.path.join(md, "cur", "%d.%s.host:2,S" % (1000 + i, n[:-4])))
        src = self.create_source(u.token, "maildir", {"path": "Mail"})
        s = self.wait_idle(u.token, src["id"])
        self.assertEqual(s["status"], "ok", s)
        self.assertEqual(s["last_run"]["added"], len(names) - 1)
        self.assertEqual(s["last_run"]["skipped"], 1)
        self.assertIn("malformed", s["last_run"]["errors"][0]["position"])
        # a new message in new/, one removed from cur/
        with open(os.path.join(md, "new", "2000.x.host"), "wb") as f:
            f.write(message(31))
        os.remove(os.path.join(md, "cur", "%d.%s.host:2,S" % (1000 + names.index("latin1.eml"), "latin1")))
        s = self.sync(u.token, src["id"])
        self.assertEqual((s["last_run"]["added"], s["last_run"]["removed"]), (1, 1), s)
        ids = {m["metadata"]["email_id"] for m in self.emails(u.token, "maildir")}
        self.assertIn("msg-31@example.org", ids)
        self.assertNotIn("latin1-1@example.org", ids)
        # unchanged listing: nothing read
        s = self.sync(u.token, src["id"])
        self.assertEqual(s["last_run"]["added"] + s["last_run"]["updated"] + s["last_run"]["removed"], 0)

    def test_shared_email_data(self):
        if not os.path.isdir(SHARED_EMAIL):
            self.skipTest("../shared/data/email is absent: real-world mail not checked")
        u = self.new_user()
        mbox = os.path.join(SHARED_EMAIL, "gmime_substring.mbox")
        if os.path.exists(mbox):
            src = self.create_source(u.token, "mbox", {"path": self.put(u, "shared.mbox", mbox)})
            s = self.wait_idle(u.token, src["id"])
            self.assertEqual(s["status"], "ok", s)
            self.assertGreaterEqual(s["last_run"]["added"], 1, s)
            for m in self.emails(u.token, "mbox"):
                self.assertIn("Hello world.", m["content"])
        emls = sorted(n for n in os.listdir(SHARED_EMAIL) if n.endswith(".eml"))
        if emls:
            md = self.folder(u, "SharedMail", "x")[:-2]
            for d in ("cur", "new", "tmp"):
                os.mkdir(os.path.join(md, d))
            for i, n in enumerate(emls):
                shutil.copy(os.path.join(SHARED_EMAIL, n), os.path.join(md, "cur", "%d.%s:2," % (i, n)))
            src = self.create_source(u.token, "maildir", {"path": "SharedMail"})
            s = self.wait_idle(u.token, src["id"])
            self.assertEqual(s["status"], "ok", s)
            self.assertEqual(s["last_run"]["added"] + s["last_run"]["skipped"], len(emls), s)
            self.assertGreaterEqual(s["last_run"]["added"], len(emls) - 1, s)
            for m in self.emails(u.token, "maildir"):
                self.assertNotIn("<html", m["content"].lower())


class CliImportTest(unittest.TestCase):

    def test_import_into_data_dir_twice_without_duplicates(self):
        harness.require_binary(self)
        data = tempfile.mkdtemp(prefix="pos-import-")
        self.addCleanup(shutil.rmtree, data, True)
        r = harness.run_cli(["user", "add", "imp@example.org", "--data", data],
                            stdin="correct horse battery staple\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        mbox = os.path.join(FIXTURES, "fixtures.mbox")
        r = harness.run_cli(["import", "mbox", mbox, "--data", data, "--user", "imp@example.org"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("5 added", r.stdout)
        self.assertIn("1 skipped", r.stdout)
        self.assertIn("message 3", r.stdout)
        r = harness.run_cli(["import", "mbox", mbox, "--data", data])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("0 added", r.stdout)
        r = harness.run_cli(["import", "mbox", "/nonexistent/file", "--data", data])
        self.assertNotEqual(r.returncode, 0)
        r = harness.run_cli(["import", "pigeon", mbox, "--data", data])
        self.assertEqual(r.returncode, 2)
        # the server sees the imported mail
        root = tempfile.mkdtemp(prefix="pos-root-")
        self.addCleanup(shutil.rmtree, root, True)
        with harness.Server(data_dir=data, env={"PERSONALOS_SYNC_FILE_ROOT": root}) as srv:
            api = harness.Api(srv.base_url)
            tok = api.login("imp@example.org", "correct horse battery staple")["access_token"]
            r = api.get("/api/memories?type=email&limit=50", token=tok)
            self.assertEqual(r.json["total"], 5, r.json)
            r = api.get("/api/memories/search?q=garden+party", token=tok)
            self.assertEqual(r.status, 200)
            self.assertTrue(any("garden" in h["content"] for h in r.json["memories"]), r.json)
            # through the server the CLI is an API user: an absolute path
            # is refused, a path relative to the user's folder imported once
            r = harness.run_cli(["import", "mbox", mbox, "--server", srv.base_url, "--token", tok])
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("relative", r.stderr)
            uid = api.get("/api/auth/me", token=tok).json["id"]
            os.makedirs(os.path.join(root, uid), exist_ok=True)
            shutil.copy(mbox, os.path.join(root, uid, "in.mbox"))
            for added in ("5 added", "0 added"):
                r = harness.run_cli(["import", "mbox", "in.mbox", "--server", srv.base_url,
                                     "--token", tok])
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn(added, r.stdout)
            api.close()


if __name__ == "__main__":
    unittest.main()
