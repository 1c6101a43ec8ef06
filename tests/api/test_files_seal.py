"""Files of an encrypted user that are still plain (stored before their
encryption was on, by a user whose state was `on` before the sealing pass
sealed files; docs/FILES.md "Storage"): a `files.seal` job queued at the
next start seals them once the user logs in — a sealed blob on disk, the
row sealed, the plain file removed, the download the same bytes."""

import glob
import hashlib
import os
import shutil
import sqlite3
import sys
import tempfile
import time
import unittest
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

FAST_KDF = {"PERSONALOS_PWHASH_OPSLIMIT": "1", "PERSONALOS_PWHASH_MEMLIMIT_KIB": "8192"}


class FilesSealAtStartTest(unittest.TestCase):

    def test_plain_files_of_an_encrypted_user_are_sealed_after_login(self):
        harness.require_local("edits the server's data directory between two starts")
        if os.environ.get("POS_TEST_STORE", "").startswith(("postgres://", "postgresql://")):
            self.skipTest("edits the SQLite database")
        d = tempfile.mkdtemp(prefix="pos-seal-")
        self.addCleanup(shutil.rmtree, d, True)
        data = os.path.join(d, "data")
        os.mkdir(data, 0o700)
        email = harness.unique_email("seal")
        word = "wombat" + uuid.uuid4().hex[:10]
        secret = ("the ledger of the %s is in the drawer\n" % word).encode()
        with harness.Server(data_dir=data, env=FAST_KDF) as srv:
            api = harness.Api(srv.base_url)
            reg = api.register(email)
            token, uid = reg["access_token"], reg["user"]["id"]
            r = api.post("/api/auth/encryption", {"password": harness.DEFAULT_PASSWORD},
                         token=token)
            self.assertEqual(r.status, 200, r.raw[:300])
            self.assertIsNotNone(harness.poll(lambda: api.get("/api/auth/me", token=token)
                                              .json["encryption"]["state"] == "on" or None))
            r = api.post("/api/files?name=ledger.txt", token=token, raw=secret,
                         headers={"Content-Type": "application/octet-stream"})
            self.assertEqual(r.status, 201, r.raw[:300])
            att = r.json["attachments"][0]
            self.assertIsNotNone(harness.poll(lambda: api.get(
                "/api/memories/" + att["memory_id"], token=token).json["attachments"][0]
                ["text_status"] != "pending" or None))
            api.close()
        # as a file stored before encryption was on: a plain blob, a plain row
        plain = hashlib.blake2b(secret, digest_size=32).hexdigest()
        sub = os.path.join(data, "blobs", uid, plain[:2])
        os.makedirs(sub, exist_ok=True)
        with open(os.path.join(sub, plain[2:]), "wb") as f:
            f.write(secret)
        db = sqlite3.connect(os.path.join(data, "personalos.db"))
        db.execute("INSERT OR IGNORE INTO blobs(user_id, hash, bytes, created_at)"
                   " VALUES (?, ?, ?, ?)", (uid, plain, len(secret), int(time.time() * 1e6)))
        db.execute("UPDATE attachments SET hash = ?, sealed = 0, name = 'ledger.txt',"
                   " mime = 'text/plain', thumb = '-' WHERE id = ?", (plain, att["id"]))
        db.commit()
        db.close()
        blobs = os.path.join(data, "blobs", uid, "*", "*")
        with harness.Server(data_dir=data, env=FAST_KDF) as srv:
            api = harness.Api(srv.base_url)
            token = api.login(email)["access_token"]  # unlocks: the job can run
            jobs = api.get("/api/jobs?kind=files.seal", token=token).json["jobs"]
            self.assertEqual(len(jobs), 1, jobs)  # queued at start
            done = harness.poll(lambda: (lambda j: j if j["state"] == "done" else None)(
                api.get("/api/jobs/" + jobs[0]["id"], token=token).json), timeout=90)
            self.assertIsNotNone(done, "the files.seal job did not finish")
            files = glob.glob(blobs)
            self.assertEqual(len(files), 1, files)  # the sealed one; the plain one gone
            self.assertNotIn(plain[2:], files[0])
            with open(files[0], "rb") as f:
                stored = f.read()
            self.assertEqual(stored[:4], b"POSB")
            self.assertNotIn(word.encode(), stored)
            r = api.get("/api/attachments/" + att["id"], token=token)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.raw, secret)
            self.assertIn("ledger.txt", r.headers["content-disposition"])
            api.close()
        db = sqlite3.connect(os.path.join(data, "personalos.db"))
        try:
            sealed, name = db.execute("SELECT sealed, name FROM attachments WHERE id = ?",
                                      (att["id"],)).fetchone()
        finally:
            db.close()
        self.assertEqual(sealed, 1)
        self.assertTrue(name.startswith("sealed:"), name)


if __name__ == "__main__":
    unittest.main()
