"""Faults: full disk, read-only data directory, corrupt page, SIGTERM during a
bulk import and under a load of concurrent clients, online backup during
writes.

The full and read-only disks are small tmpfs mounts (needs root and
mount(8); the tests skip otherwise, saying why). Only 127.0.0.1 is used.
"""

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

FAST_ENV = {"PERSONALOS_RATE_LIMIT": "off",
            "PERSONALOS_PWHASH_OPSLIMIT": "1",
            "PERSONALOS_PWHASH_MEMLIMIT_KIB": "8192"}


def doctor(data_dir, *extra):
    return harness.run_cli(["doctor", "--data", data_dir] + list(extra), timeout=120)


class FaultCase(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        harness.require_local("starts servers on data directories of its own")
        harness.require_binary()

    def tmpdir(self, prefix):
        d = tempfile.mkdtemp(prefix=prefix)
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def tmpfs(self, size):
        """A tmpfs of `size` mounted on a fresh directory, or skip."""
        if os.geteuid() != 0 or not shutil.which("mount"):
            self.skipTest("a tmpfs mount needs root and mount(8)")
        mnt = self.tmpdir("pos-fault-mnt-")
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % size,
                            "tmpfs", mnt], capture_output=True, text=True)
        if p.returncode != 0:
            self.skipTest("cannot mount a tmpfs here: %s" % p.stderr.strip())
        self.addCleanup(subprocess.run, ["umount", "-l", mnt], capture_output=True)
        return mnt

    def remount(self, mnt, opts):
        p = subprocess.run(["mount", "-o", "remount," + opts, mnt],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)

    def server(self, data_dir, **env):
        e = dict(FAST_ENV)
        e.update(env)
        srv = harness.Server(data_dir=data_dir, env=e, external_ok=False).start()
        self.addCleanup(lambda: srv.proc and srv.stop(check=False))
        api = harness.Api(srv.base_url)
        self.addCleanup(api.close)
        return srv, api


class DiskFullTest(FaultCase):

    def test_full_disk_answers_507_reads_work_nothing_corrupt(self):
        mnt = self.tmpfs("3m")
        data = os.path.join(mnt, "data")
        srv, api = self.server(data)
        tok = api.register()["access_token"]
        kept = []
        full = None
        for i in range(200):
            text = ("entry %d " % i) * 30000  # ~250 KB
            r = api.post("/api/memories", {"content": text, "tags": ["full"]}, token=tok)
            if r.status != 201:
                full = r
                break
            kept.append((r.json["id"], text))
        self.assertIsNotNone(full, "a 3 MiB disk never filled")
        self.assertGreater(len(kept), 0)
        harness.check_error(self, full, 507, "insufficient_storage")
        self.assertIn("disk is full", full.json["error"]["message"])
        # Bulk is refused the same way, whole.
        r = api.post("/api/memories/bulk",
                     {"memories": [{"content": "b %d " % i * 20000, "tags": ["bulkfull"]}
                                   for i in range(20)]}, token=tok)
        harness.check_error(self, r, 507, "insufficient_storage")
        # Reads keep working while the disk is full.
        for mid, text in kept[:3]:
            r = api.get("/api/memories/" + mid, token=tok)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.json["content"], text)
        r = api.get("/api/memories?tag=full&limit=1", token=tok)
        self.assertEqual((r.status, r.json["total"]), (200, len(kept)))
        self.assertEqual(api.get("/api/memories/search?q=entry", token=tok).status, 200)
        self.assertEqual(api.get("/api/memories?tag=bulkfull&limit=1", token=tok).json["total"], 0)
        # Space returns: writes work again, without a restart.
        self.remount(mnt, "size=64m")
        r = api.post("/api/memories", {"content": "after the space came back"}, token=tok)
        self.assertEqual(r.status, 201, r.raw[:300])
        srv.stop()
        p = doctor(data, "--full")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("memories         %d" % (len(kept) + 1), p.stdout)


class ReadOnlyTest(FaultCase):

    def test_read_only_data_dir_is_a_clear_error(self):
        mnt = self.tmpfs("8m")
        data = os.path.join(mnt, "data")
        self.assertEqual(doctor(data).returncode, 0)  # makes the store
        self.remount(mnt, "ro")
        p = subprocess.run([harness.pos_bin(), "serve", "--data", data,
                            "--listen", "127.0.0.1:%d" % harness.free_port()],
                           capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, **FAST_ENV))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("not writable", p.stderr)
        self.assertIn(data, p.stderr)


class CorruptPageTest(FaultCase):

    def test_doctor_finds_a_corrupt_page_and_says_how_to_restore(self):
        data = self.tmpdir("pos-corrupt-")
        srv, api = self.server(data)
        tok = api.register()["access_token"]
        r = api.post("/api/memories/bulk", {"memories": [
            {"content": "page filler %d %s" % (i, "z" * 2000)} for i in range(200)]},
            token=tok)
        self.assertEqual(r.status, 201)
        api.close()
        srv.stop()
        self.assertEqual(doctor(data, "--full").returncode, 0)
        db = os.path.join(data, "personalos.db")
        with sqlite3.connect(db) as c:
            page = c.execute("PRAGMA page_size").fetchone()[0]
            pages = c.execute("PRAGMA page_count").fetchone()[0]
        self.assertGreater(pages, 20)
        with open(db, "r+b") as f:  # overwrite a page in the middle of the table
            f.seek(page * (pages // 2))
            f.write(os.urandom(page))
        p = doctor(data, "--full")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("To restore", p.stderr)
        self.assertIn("personalos backup", p.stderr)


class DrainTest(FaultCase):

    def test_sigterm_during_bulk_import_drains_cleanly(self):
        data = self.tmpdir("pos-drain-")
        srv, api = self.server(data)
        tok = api.register()["access_token"]
        n = 2000
        tag = "drain" + uuid.uuid4().hex[:8]
        answer = {}

        def bulk():
            a = harness.Api(srv.base_url)
            try:
                answer["r"] = a.post("/api/memories/bulk", {"memories": [
                    {"content": "drained %d %s" % (i, "w " * 200), "tags": [tag]}
                    for i in range(n)]}, token=tok)
            except OSError as e:
                answer["e"] = e
            finally:
                a.close()

        t = threading.Thread(target=bulk)
        t.start()
        time.sleep(0.3)
        srv.stop()  # SIGTERM; asserts exit 0 within the grace, no sanitizer report
        t.join(60)
        srv2, api2 = self.server(data)
        tok = api2.login(api2.get("/api/auth/me", token=tok).json["email"])["access_token"]
        total = api2.get("/api/memories?limit=1&tag=" + tag, token=tok).json["total"]
        if "r" in answer and answer["r"].status == 201:
            self.assertEqual(total, n)
        else:
            self.assertIn(total, (0, n), "a bulk import was half-applied")
        srv2.stop()
        p = doctor(data)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


class StopUnderLoadTest(FaultCase):
    """SIGTERM while many clients create, bulk-import and search at once
    (docs/OPERATIONS.md, "Stopping"): the requests waiting for a handler
    slot are answered 503 at once, the running ones finish, the server
    exits 0, and every acknowledged write is there after a restart.

    No timing is asserted. The server waits forever in its queue
    (queue_wait_ms at its maximum) and gives running requests the longest
    grace, so a stop that waited for the queued requests instead of
    refusing them, or for anything that does not end by itself, would
    outlast the harness's stop timeout: a hang detector."""

    CLIENTS = 24

    def test_sigterm_under_concurrent_load_keeps_every_acknowledged_write(self):
        data = self.tmpdir("pos-stopload-")
        srv, api = self.server(data, PERSONALOS_MAX_INFLIGHT="2", PERSONALOS_MAX_QUEUE="12",
                               PERSONALOS_QUEUE_WAIT_MS="600000",
                               PERSONALOS_SHUTDOWN_GRACE="600")
        email = harness.unique_email()
        tok = api.register(email)["access_token"]
        seed = api.post("/api/memories/bulk", {"memories": [
            {"content": "seed %d about gardens, trains and letters" % i} for i in range(200)]},
            token=tok)
        self.assertEqual(seed.status, 201, seed.raw[:300])
        lock = threading.Lock()
        acked = {}        # id -> content of every 201 create
        batches = {}      # tag -> (n, acknowledged) of every bulk sent
        statuses = {}
        shutting = []     # 503s that said the server was shutting down
        hung = []

        def note(r):
            with lock:
                statuses[r.status] = statuses.get(r.status, 0) + 1
                if r.status == 503 and "shutting down" in r.raw.decode("utf-8", "replace"):
                    shutting.append(1)

        def client(k):
            # No retries: every answer is seen as it came.
            a = harness.Api(srv.base_url, timeout=120, retry_429=False)
            i = 0
            try:
                while True:
                    i += 1
                    if i % 4 == 0:
                        r = a.get("/api/memories/search?query=gardens+letters&limit=5", token=tok)
                    elif i % 4 == 1 and k % 3 == 0:
                        tag = "b%d-%d-%s" % (k, i, uuid.uuid4().hex[:6])
                        with lock:
                            batches[tag] = (5, False)
                        r = a.post("/api/memories/bulk", {"memories": [
                            {"content": "bulk %s %d" % (tag, j), "tags": [tag]}
                            for j in range(5)]}, token=tok)
                        if r.status == 201:
                            with lock:
                                batches[tag] = (5, True)
                    else:
                        text = "stop under load %d-%d %s" % (k, i, uuid.uuid4().hex)
                        r = a.post("/api/memories", {"content": text}, token=tok)
                        if r.status == 201:
                            with lock:
                                acked[r.json["id"]] = text
                    note(r)
            except TimeoutError:
                hung.append(k)  # no answer in 120 s
            except OSError:
                pass  # the server has gone: connection refused or closed
            finally:
                a.close()

        threads = [threading.Thread(target=client, args=(k,)) for k in range(self.CLIENTS)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 120
        while len(acked) < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertGreaterEqual(len(acked), 60, "the load never got going: %r" % statuses)
        srv.stop()  # SIGTERM: exit 0 within the harness's stop timeout, no sanitizer report
        for t in threads:
            t.join(150)
        self.assertFalse([t for t in threads if t.is_alive()] or hung,
                         "clients still waiting for an answer after the server stopped")
        self.assertTrue(statuses.get(503) and shutting,
                        "no request was refused while the server drained: %r" % statuses)
        self.assertFalse(set(statuses) - {200, 201, 503},
                         "only 2xx and 503 may answer: %r" % statuses)
        # Every acknowledged write is there, intact; no bulk import is half-applied.
        srv2, api2 = self.server(data)
        tok = api2.login(email)["access_token"]
        for mid, text in acked.items():
            r = api2.get("/api/memories/" + mid, token=tok)
            self.assertEqual((r.status, r.json and r.json.get("content")), (200, text), mid)
        for tag, (n, ok) in batches.items():
            total = api2.get("/api/memories?limit=1&tag=" + tag, token=tok).json["total"]
            if ok:
                self.assertEqual(total, n, tag)
            else:
                self.assertIn(total, (0, n), "bulk %s half-applied" % tag)
        srv2.stop()
        p = doctor(data, "--full")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


class BackupTest(FaultCase):

    def test_online_backup_during_writes_restores_clean(self):
        data = self.tmpdir("pos-backup-")
        srv, api = self.server(data)
        u = api.register()
        tok = u["access_token"]
        before = [api.post("/api/memories", {"content": "before %d" % i}, token=tok).json["id"]
                  for i in range(30)]
        stop = threading.Event()
        written = []

        def writer():
            a = harness.Api(srv.base_url)
            try:
                while not stop.is_set():
                    r = a.post("/api/memories/bulk", {"memories": [
                        {"content": "during %s" % uuid.uuid4().hex, "tags": ["during"]}
                        for _ in range(10)]}, token=tok)
                    if r.status == 201:
                        written.append(1)
            finally:
                a.close()

        t = threading.Thread(target=writer)
        t.start()
        while len(written) < 3:
            time.sleep(0.05)
        dest = os.path.join(self.tmpdir("pos-backup-dest-"), "b1")
        p = harness.run_cli(["backup", dest, "--data", data])
        stop.set()
        t.join(60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        # A second backup into the same place is refused, not mixed in.
        p2 = harness.run_cli(["backup", dest, "--data", data])
        self.assertEqual(p2.returncode, 1)
        self.assertIn("already holds a backup", p2.stderr)
        self.assertEqual(sorted(os.listdir(dest)), ["blobs", "keys", "personalos.db"])
        srv.stop()
        # Restore: the backup is a data directory of its own.
        p = doctor(dest, "--full")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        srv2, api2 = self.server(dest)
        # The server keys came along: the old token still works.
        self.assertEqual(api2.get("/api/auth/me", token=tok).status, 200)
        for mid in before:
            self.assertEqual(api2.get("/api/memories/" + mid, token=tok).status, 200)
        total = api2.get("/api/memories?limit=1&tag=during", token=tok).json["total"]
        self.assertEqual(total % 10, 0, "a bulk import was cut in half by the snapshot")
        self.assertGreaterEqual(total, 30)
        # The restored store serves the API as before: write, update, find
        # by keyword and by meaning, delete, and a new user.
        r = api2.post("/api/memories", {"content": "after the restore: kites"}, token=tok)
        self.assertEqual(r.status, 201, r.raw[:300])
        new = r.json["id"]
        r = api2.put("/api/memories/" + new,
                     {"content": "after the restore: kites over the harbour"}, token=tok)
        self.assertEqual(r.status, 200, r.raw[:300])
        for mode in ("keyword", "hybrid"):
            r = api2.get("/api/memories/search?query=kites+harbour&mode=" + mode, token=tok)
            self.assertEqual(r.status, 200, r.raw[:300])
            self.assertIn(new, [m["id"] for m in r.json["memories"]], mode)
        self.assertEqual(api2.delete("/api/memories/" + before[0], token=tok).status, 204)
        self.assertEqual(api2.get("/api/memories/" + before[0], token=tok).status, 404)
        other = api2.register()["access_token"]
        self.assertEqual(api2.get("/api/memories/" + new, token=other).status, 404)
        srv2.stop()
        p = doctor(dest, "--full")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_restore_checks_the_backup_first_and_keeps_what_it_replaces(self):
        data = self.tmpdir("pos-restore-")
        srv, api = self.server(data)
        tok = api.register()["access_token"]
        kept = api.post("/api/memories", {"content": "in the backup"}, token=tok).json["id"]
        dest = os.path.join(self.tmpdir("pos-restore-dest-"), "b1")
        self.assertEqual(harness.run_cli(["backup", dest, "--data", data]).returncode, 0)
        later = api.post("/api/memories", {"content": "after the backup"}, token=tok).json["id"]
        # A running server: refused, nothing touched.
        p = harness.run_cli(["restore", dest, "--data", data])
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("in use", p.stderr)
        self.assertEqual(api.get("/api/memories/" + later, token=tok).status, 200)
        srv.stop()
        # A damaged backup: refused before anything is replaced.
        bad = os.path.join(self.tmpdir("pos-restore-bad-"), "b2")
        shutil.copytree(dest, bad)
        with open(os.path.join(bad, "personalos.db"), "r+b") as f:
            f.seek(100)  # the schema's page: a database no check passes
            f.write(os.urandom(3000))
        p = harness.run_cli(["restore", bad, "--data", data])
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertNotIn("before-restore", " ".join(os.listdir(data)))
        # No key file in the backup: refused too.
        nokeys = os.path.join(self.tmpdir("pos-restore-nokeys-"), "b3")
        os.makedirs(nokeys)
        shutil.copy(os.path.join(dest, "personalos.db"), nokeys)
        p = harness.run_cli(["restore", nokeys, "--data", data])
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("key file", p.stderr)
        # The good one: restored; what it replaced is kept aside.
        p = harness.run_cli(["restore", dest, "--data", data])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        aside = [n for n in os.listdir(data) if n.startswith("before-restore-")]
        self.assertEqual(len(aside), 1, os.listdir(data))
        self.assertIn("personalos.db", os.listdir(os.path.join(data, aside[0])))
        srv2, api2 = self.server(data)
        self.assertEqual(api2.get("/api/memories/" + kept, token=tok).status, 200)
        self.assertEqual(api2.get("/api/memories/" + later, token=tok).status, 404)
        srv2.stop()

    def test_backup_carries_uploaded_files_and_restore_checks_them(self):
        """Issue 21: the blobs go into the backup; restore refuses a backup
        that lacks one (or holds a cut one) and changes nothing then."""
        data = self.tmpdir("pos-bkblob-")
        srv, api = self.server(data)
        ptok = api.register()["access_token"]
        enc_email = harness.unique_email()
        etok = api.register(email=enc_email)["access_token"]
        r = api.post("/api/auth/encryption", {"password": harness.DEFAULT_PASSWORD}, token=etok)
        self.assertEqual(r.status, 200, r.raw[:300])
        files = {}
        # 200000 bytes plain; 3 full chunks sealed (an empty last chunk)
        for who, tok, size in (("plain", ptok, 200000), ("sealed", etok, 3 * 65536)):
            body = os.urandom(size)
            r = api.post("/api/files?name=%s.bin" % who, token=tok, raw=body,
                         headers={"Content-Type": "application/octet-stream"})
            self.assertEqual(r.status, 201, r.raw[:300])
            files[who] = (r.json["attachments"][0]["id"], body)
        dest = os.path.join(self.tmpdir("pos-bkblob-dest-"), "b1")
        p = harness.run_cli(["backup", dest, "--data", data])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        backed = sorted(os.path.relpath(os.path.join(d, f), dest)
                        for d, _, fs in os.walk(os.path.join(dest, "blobs")) for f in fs)
        self.assertGreaterEqual(len(backed), 2, backed)
        self.assertFalse([b for b in backed if ".tmp-" in b], backed)
        # deleted after the backup: its blob leaves the data directory
        pid = files["plain"][0]
        self.assertEqual(api.delete("/api/attachments/" + pid, token=ptok).status, 204)
        srv.stop()

        def tree(d):
            return sorted((os.path.relpath(os.path.join(r, f), d),
                           os.path.getsize(os.path.join(r, f)))
                          for r, _, fs in os.walk(d) for f in fs)
        before = tree(data)
        # a backup missing a blob: refused, nothing changed
        missing = os.path.join(self.tmpdir("pos-bkblob-missing-"), "b2")
        shutil.copytree(dest, missing)
        os.unlink(os.path.join(missing, backed[0]))
        p = harness.run_cli(["restore", missing, "--data", data])
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("lacks 1 of the", p.stderr)
        self.assertEqual(tree(data), before)
        # a blob cut short: refused too
        cut = os.path.join(self.tmpdir("pos-bkblob-cut-"), "b3")
        shutil.copytree(dest, cut)
        for b in backed:
            with open(os.path.join(cut, b), "r+b") as f:
                f.truncate(1000)
        p = harness.run_cli(["restore", cut, "--data", data])
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("wrong size", p.stderr)
        self.assertEqual(tree(data), before)
        # the good one: restored, the current blobs kept aside
        p = harness.run_cli(["restore", dest, "--data", data])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        aside = [n for n in os.listdir(data) if n.startswith("before-restore-")]
        self.assertEqual(len(aside), 1, os.listdir(data))
        self.assertIn("blobs", os.listdir(os.path.join(data, aside[0])))
        self.assertNotIn("blobs.restoring", os.listdir(data))
        p = doctor(data, "--full")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("all present", p.stdout)
        srv2, api2 = self.server(data)
        etok2 = api2.login(enc_email)["access_token"]
        for who, tok in (("plain", ptok), ("sealed", etok2)):
            aid, body = files[who]
            r = api2.get("/api/attachments/" + aid, token=tok)
            self.assertEqual(r.status, 200, who)
            self.assertEqual(r.raw, body, who)
        srv2.stop()
        # doctor names attachment rows whose blob is gone
        os.unlink(os.path.join(data, backed[0]))
        p = doctor(data)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("MISSING", p.stdout)


if __name__ == "__main__":
    unittest.main()
