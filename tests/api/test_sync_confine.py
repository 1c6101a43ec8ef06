"""Black-box tests of file-source confinement, uploads and sync isolation
(issue 12, "files"): every user's file sources read only beneath
<sync_file_root>/<user id>/, opened with openat2 on every run; uploads of
mbox, ICS and Markdown zips; a stalled IMAP server holds only its own
source, and deleting it answers at once.

Each test here fails on a server without the confinement: there the paths
below are accepted and read, links followed, and a stalled source blocks
the single scheduler thread and its deletion.
"""
import io
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from dovecot import message  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MBOX = os.path.join(REPO, "tests", "data", "sync", "mail", "fixtures.mbox")
ICS = os.path.join(REPO, "tests", "data", "sync", "calendar", "basic.ics")
WAIT = 60


def one_mbox(subject, n=1):
    """An mbox of n small messages whose subjects contain `subject`."""
    out = b""
    for i in range(n):
        m = message(9000 + i, subject="%s %d" % (subject, i),
                    msgid="%s-%d@example.org" % (subject, i))
        out += b"From x Mon Nov  2 10:00:00 2026\n" + m.replace(b"\r\n", b"\n") + b"\n"
    return out


class StalledImap:
    """A socket server on 127.0.0.1 that greets and then says nothing."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.accepted = threading.Event()
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.sendall(b"* OK IMAP4rev1 ready\r\n")
            self.conns.append(c)  # kept open, never answered
            self.accepted.set()

    def close(self):
        self.stop = True
        self.sock.close()
        for c in self.conns:
            c.close()


class ConfineCase(harness.ApiTestCase):

    file_root = True
    extra_env = {}

    @classmethod
    def setUpClass(cls):
        harness.require_local("reads the server's folders and data directory")
        cls.root = tempfile.mkdtemp(prefix="pos-root-")
        env = {"PERSONALOS_EGRESS_ALLOW": "127.0.0.1"}
        if cls.file_root:
            env["PERSONALOS_SYNC_FILE_ROOT"] = cls.root
        env.update(cls.extra_env)
        cls.server_env = env
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.root, ignore_errors=True)

    def folder(self, u, *sub):
        d = os.path.join(self.root, u.id)
        os.makedirs(d, mode=0o700, exist_ok=True)
        return os.path.join(d, *sub)

    def create(self, u, kind, config, status=201):
        r = self.api.post("/api/sync/sources", {"kind": kind, "config": config,
                                                "interval_s": 0}, token=u.token)
        self.assertEqual(r.status, status, r.raw[:400])
        return r.json

    def upload(self, u, kind, data, name=None, status=201):
        q = {"kind": kind}
        if name:
            q["name"] = name
        r = self.api.request("POST", "/api/sync/uploads?" + urllib.parse.urlencode(q),
                             raw=data, token=u.token,
                             headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(r.status, status, r.raw[:400])
        return r

    def status_of(self, u, sid):
        r = self.api.get("/api/sync/status", token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        for s in r.json["sources"]:
            if s["id"] == sid:
                return s
        return None

    def wait_done(self, u, sid, runs=1):
        """Waits until the source has `runs` finished runs and no job."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            s = self.status_of(u, sid)
            if s and s["job"] is None and s["last_run"]:
                logs = self.api.get("/api/sync/sources/" + sid, token=u.token).json["logs"]
                if len(logs) >= runs:
                    return s
            time.sleep(0.05)
        self.fail("the sync of %s did not finish" % sid)

    def run_again(self, u, sid, runs):
        r = self.api.post("/api/sync/start", {"source_id": sid}, token=u.token)
        self.assertEqual(r.status, 202, r.raw[:300])
        return self.wait_done(u, sid, runs)

    def count(self, u):
        r = self.api.get("/api/memories?limit=1", token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        return r.json["total"]

    def search(self, u, q):
        """Search hits whose content holds the word (search also ranks
        near misses)."""
        r = self.api.get("/api/memories/search?q=" + urllib.parse.quote(q), token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        return [m for m in r.json["memories"] if q in m["content"]]


class PathConfineTest(ConfineCase):

    def test_paths_out_of_the_users_folder_are_refused(self):
        a, b = self.new_user(), self.new_user()
        with open(self.folder(b, "b.mbox"), "wb") as f:
            f.write(one_mbox("secretofb"))
        paths = ["/proc/self/fd/3", "/proc/self/environ", "/etc/passwd", "../x.mbox",
                 "a/../../x.mbox", "./x.mbox", "../%s/b.mbox" % b.id,
                 self.folder(b, "b.mbox"), os.path.join(self.server.data_dir, "personalos.db")]
        for kind in ("mbox", "maildir", "ics_file", "markdown_dir"):
            for p in paths:
                with self.subTest(kind=kind, path=p):
                    r = self.api.post("/api/sync/sources", {"kind": kind, "config": {"path": p}},
                                      token=a.token)
                    self.assert_error(r, 422, field="config.path")
        self.assertEqual(self.api.get("/api/sync/sources", token=a.token).json["sources"], [])
        self.assertEqual(self.search(a, "secretofb"), [])

    def test_symlink_swapped_in_after_creation_is_refused(self):
        a, b = self.new_user(), self.new_user()
        with open(self.folder(b, "b.mbox"), "wb") as f:
            f.write(one_mbox("secretofb"))
        mine = self.folder(a, "mine.mbox")
        with open(mine, "wb") as f:
            f.write(one_mbox("mineofa"))
        src = self.create(a, "mbox", {"path": "mine.mbox"})
        s = self.wait_done(a, src["id"])
        self.assertEqual((s["status"], s["last_run"]["added"]), ("ok", 1), s)
        db = os.path.join(self.server.data_dir, "personalos.db")
        runs = 1
        for target in (self.folder(b, "b.mbox"), db, "/proc/self/fd/3"):
            with self.subTest(target=target):
                os.unlink(mine)
                os.symlink(target, mine)
                runs += 1
                s = self.run_again(a, src["id"], runs)
                self.assertEqual(s["status"], "error", s)
                self.assertIn("refused", s["error_message"])
                self.assertEqual(self.count(a), 1)
        self.assertEqual(self.search(a, "secretofb"), [])
        # a link on the way (a folder swapped for a link) is refused as well
        os.unlink(mine)
        os.mkdir(self.folder(a, "dir"))
        with open(self.folder(a, "dir", "in.mbox"), "wb") as f:
            f.write(one_mbox("dirmail"))
        src2 = self.create(a, "mbox", {"path": "dir/in.mbox"})
        self.assertEqual(self.wait_done(a, src2["id"])["status"], "ok")
        shutil.rmtree(self.folder(a, "dir"))
        os.symlink(self.folder(b), self.folder(a, "dir"))
        shutil.copy(self.folder(b, "b.mbox"), self.folder(b, "in.mbox"))
        s = self.run_again(a, src2["id"], 2)
        self.assertEqual(s["status"], "error", s)
        self.assertEqual(self.search(a, "secretofb"), [])

    def test_links_inside_folders_are_not_followed(self):
        a, b = self.new_user(), self.new_user()
        with open(self.folder(b, "secret.md"), "w") as f:
            f.write("# Secret\nsecretnoteofb\n")
        os.makedirs(self.folder(a, "vault"))
        with open(self.folder(a, "vault", "mine.md"), "w") as f:
            f.write("# Mine\nownnoteofa\n")
        os.symlink(self.folder(b, "secret.md"), self.folder(a, "vault", "link.md"))
        os.symlink(self.folder(b), self.folder(a, "vault", "linkdir"))
        src = self.create(a, "markdown_dir", {"path": "vault"})
        s = self.wait_done(a, src["id"])
        self.assertEqual((s["status"], s["last_run"]["added"]), ("ok", 1), s)
        self.assertEqual(self.search(a, "secretnoteofb"), [])
        self.assertEqual(len(self.search(a, "ownnoteofa")), 1)


class UploadTest(ConfineCase):

    extra_env = {"PERSONALOS_SYNC_UPLOAD_MAX": "1048576"}

    def test_upload_each_kind_and_find_it(self):
        u = self.new_user()
        r = self.upload(u, "mbox", one_mbox("uploadedmboxword", 3), name="my mail")
        self.assertEqual((r.json["kind"], r.json["name"]), ("mbox", "my mail"))
        self.assertTrue(r.json["config"]["upload"])
        s = self.wait_done(u, r.json["id"])
        self.assertEqual((s["status"], s["last_run"]["added"]), ("ok", 3), s)
        self.assertEqual(len(self.search(u, "uploadedmboxword")), 3)
        with open(ICS, "rb") as f:
            r = self.upload(u, "ics", f.read())
        self.assertEqual(r.json["kind"], "ics_file")
        s = self.wait_done(u, r.json["id"])
        self.assertEqual(s["status"], "ok", s)
        self.assertGreater(s["last_run"]["added"], 0, s)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("Notes/Alpha.md", "# Alpha\nzippednoteword links [[Beta]]\n")
            z.writestr("Notes/Beta.md", "# Beta\nanother zippednoteword\n")
            z.writestr("image.png", b"\x89PNG not kept")
        r = self.upload(u, "markdown_zip", buf.getvalue())
        self.assertEqual(r.json["kind"], "markdown_dir")
        s = self.wait_done(u, r.json["id"])
        self.assertEqual((s["status"], s["last_run"]["added"]), ("ok", 2), s)
        self.assertEqual(len(self.search(u, "zippednoteword")), 2)
        # stored in the data directory, 0600 in a 0700 folder of the user
        d = os.path.join(self.server.data_dir, "uploads", u.id)
        self.assertEqual(os.stat(d).st_mode & 0o777, 0o700)
        files = [n for n in os.listdir(d) if n.endswith(".mbox")]
        self.assertEqual(len(files), 1)
        self.assertEqual(os.stat(os.path.join(d, files[0])).st_mode & 0o777, 0o600)
        # another user sees none of it
        v = self.new_user()
        self.assertEqual(self.search(v, "zippednoteword"), [])
        self.assertEqual(self.api.get("/api/sync/sources", token=v.token).json["sources"], [])

    def test_bad_uploads_are_refused(self):
        u = self.new_user()
        r = self.upload(u, "pdf", b"x", status=422)
        self.assert_error(r, 422, field="kind")
        r = self.upload(u, "mbox", b"", status=422)
        self.assert_error(r, 422)
        r = self.upload(u, "mbox", b"x" * (1048576 + 1), status=413)
        self.assert_error(r, 413)
        r = self.api.request("POST", "/api/sync/uploads?kind=mbox", raw=b"x", token=None,
                             headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(r.status, 401)

        def zipped(entries):
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
                for info, data in entries:
                    z.writestr(info, data)
            return buf.getvalue()

        link = zipfile.ZipInfo("link.md")
        link.external_attr = (0o120777 << 16)
        link.create_system = 3
        cases = [
            (zipped([("ok.md", "fine"), ("../escape.md", "out")]), 422),
            (zipped([("/abs/olute.md", "out")]), 422),
            (zipped([("a/../../b.md", "out")]), 422),
            (zipped([(link, "/etc/passwd")]), 422),
            (zipped([("bomb.md", b"\0" * (8 << 20))]), 413),
            (b"PK\x03\x04 this is not really a zip", 422),
        ]
        for data, status in cases:
            with self.subTest(status=status, size=len(data)):
                r = self.upload(u, "markdown_zip", data, status=status)
                self.assert_error(r, status)
        self.assertEqual(self.api.get("/api/sync/sources", token=u.token).json["sources"], [])
        d = os.path.join(self.server.data_dir, "uploads", u.id)
        self.assertEqual([n for n in os.listdir(d) if not n.endswith(".mbox")], [])
        for root, _dirs, files in os.walk(self.server.data_dir):
            self.assertNotIn("escape.md", files)
            self.assertNotIn("b.md", files)


class NoFileRootTest(ConfineCase):
    """Without sync_file_root, file sources by path are refused; uploads work."""

    file_root = False

    def test_paths_refused_uploads_work(self):
        u = self.new_user()
        for kind, p in (("mbox", "x.mbox"), ("mbox", "/proc/self/fd/3"),
                        ("maildir", "Mail"), ("ics_file", "c.ics"), ("markdown_dir", "v")):
            with self.subTest(kind=kind, path=p):
                r = self.api.post("/api/sync/sources", {"kind": kind, "config": {"path": p}},
                                  token=u.token)
                self.assertIn(r.status, (403, 422), r.raw[:300])
                self.assertIn("upload", r.json["error"]["message"])
        r = self.upload(u, "mbox", one_mbox("norootupload"))
        s = self.wait_done(u, r.json["id"])
        self.assertEqual(s["status"], "ok", s)
        self.assertEqual(len(self.search(u, "norootupload")), 1)


class IsolationTest(ConfineCase):
    """A stalled IMAP server holds one worker; the rest goes on."""

    def setUp(self):
        super().setUp()
        self.imap = StalledImap()
        self.addCleanup(self.imap.close)

    def test_stalled_imap_does_not_block_others_and_delete_answers(self):
        a, b = self.new_user(), self.new_user()
        stalled = self.create(a, "imap", {"host": "127.0.0.1", "port": self.imap.port,
                                          "tls": "none", "user": "x", "password": "y"})
        self.assertTrue(self.imap.accepted.wait(WAIT), "the server never connected")
        s = self.status_of(a, stalled["id"])
        self.assertTrue(s["running"], s)
        # another user's upload and file source sync while it hangs
        r = self.upload(b, "mbox", one_mbox("whilestalled", 2))
        s = self.wait_done(b, r.json["id"])
        self.assertEqual((s["status"], s["last_run"]["added"]), ("ok", 2), s)
        with open(self.folder(b, "f.mbox"), "wb") as f:
            f.write(one_mbox("filewhilestalled"))
        src = self.create(b, "mbox", {"path": "f.mbox"})
        self.assertEqual(self.wait_done(b, src["id"])["status"], "ok")
        # the stalled source is still running: it held only its own worker
        self.assertTrue(self.status_of(a, stalled["id"])["running"])
        # deleting it answers at once and the source is gone
        r = self.api.delete("/api/sync/sources/%s?keep_memories=false" % stalled["id"],
                            token=a.token)
        self.assertEqual(r.status, 204, r.raw[:300])
        self.assertEqual(self.api.get("/api/sync/sources/" + stalled["id"],
                                      token=a.token).status, 404)
        self.assertEqual(self.api.get("/api/sync/sources", token=a.token).json["sources"], [])
        self.assertIsNone(self.status_of(a, stalled["id"]))
        r = self.api.post("/api/sync/start", {"source_id": stalled["id"]}, token=a.token)
        self.assertEqual(r.status, 404)
        # a second delete finds nothing
        r = self.api.delete("/api/sync/sources/" + stalled["id"], token=a.token)
        self.assertEqual(r.status, 404)
        # the run stops at its next check: the connection is closed
        deadline = time.monotonic() + WAIT
        closed = False
        while time.monotonic() < deadline and not closed:
            c = self.imap.conns[0]
            c.settimeout(0.2)
            try:
                closed = c.recv(4096) == b""
            except socket.timeout:
                pass
            except OSError:
                closed = True
        self.assertTrue(closed, "the cancelled run kept its connection")


if __name__ == "__main__":
    unittest.main()
