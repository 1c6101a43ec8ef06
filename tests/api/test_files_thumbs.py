"""Thumbnail backfill (issue 21; docs/FILES.md "Thumbnails"): attachments
that never had a thumbnail tried — made before SQLite migration 19 — get
one from a `files.thumbs` job queued at the next start; a type without
thumbnails is recorded as having none, and a start with nothing left to do
queues no job."""

import glob
import os
import shutil
import sqlite3
import sys
import tempfile
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SAMPLES = os.path.join(harness.REPO_ROOT, "tests", "data", "files")


def sample(name):
    with open(os.path.join(SAMPLES, name), "rb") as f:
        return f.read()


def thumbs(data):
    db = sqlite3.connect(os.path.join(data, "personalos.db"))
    try:
        return dict(db.execute("SELECT id, thumb FROM attachments").fetchall())
    finally:
        db.close()


class ThumbnailBackfillTest(unittest.TestCase):

    def upload(self, api, token, name, data):
        r = api.post("/api/files?name=" + urllib.parse.quote(name), token=token, raw=data,
                     headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(r.status, 201, r.raw[:300])
        att = r.json["attachments"][0]
        self.assertIsNotNone(harness.poll(lambda: api.get(
            "/api/memories/" + att["memory_id"], token=token).json["attachments"][0]
            ["text_status"] != "pending" or None), "the extraction job did not run")
        return att

    def thumb_jobs(self, api, token):
        r = api.get("/api/jobs?kind=files.thumbs", token=token)
        self.assertEqual(r.status, 200, r.raw[:300])
        return r.json["jobs"]

    def test_attachments_from_before_thumbnails_get_them_at_start(self):
        harness.require_local("edits the server's database between two starts")
        if os.environ.get("POS_TEST_STORE", "").startswith(("postgres://", "postgresql://")):
            self.skipTest("edits the SQLite database")
        d = tempfile.mkdtemp(prefix="pos-thumbs-")
        self.addCleanup(shutil.rmtree, d, True)
        data = os.path.join(d, "data")
        os.mkdir(data, 0o700)
        email = harness.unique_email("thumbs")
        with harness.Server(data_dir=data) as srv:
            api = harness.Api(srv.base_url)
            reg = api.register(email)
            token, uid = reg["access_token"], reg["user"]["id"]
            img = self.upload(api, token, "shot.png", sample("screenshot.png"))
            txt = self.upload(api, token, "plain.txt", b"no picture of this one")
            api.close()
        before = thumbs(data)
        self.assertRegex(before[img["id"]], "^[0-9a-f]{64}$")  # made by files.extract
        self.assertEqual(before[txt["id"]], "-")  # a type without thumbnails: none
        # as an attachment made before migration 19: never tried
        db = sqlite3.connect(os.path.join(data, "personalos.db"))
        db.execute("UPDATE attachments SET thumb = NULL")
        db.commit()
        db.close()
        blobs = os.path.join(data, "blobs", uid, "*", "*")
        with harness.Server(data_dir=data) as srv:
            api = harness.Api(srv.base_url)
            token = api.login(email)["access_token"]
            jobs = self.thumb_jobs(api, token)
            self.assertEqual(len(jobs), 1, jobs)  # queued at start
            done = harness.poll(lambda: (lambda j: j if j["state"] == "done" else None)(
                api.get("/api/jobs/" + jobs[0]["id"], token=token).json))
            self.assertIsNotNone(done, "the files.thumbs job did not finish")
            after = thumbs(data)
            self.assertRegex(after[img["id"]], "^[0-9a-f]{64}$")
            self.assertEqual(after[txt["id"]], "-")
            # stored as a blob of the user (the unreferenced one was collected at start)
            names = [p.split(os.sep)[-2] + p.split(os.sep)[-1] for p in glob.glob(blobs)]
            self.assertIn(after[img["id"]], names)
            t = api.get("/api/attachments/%s/thumbnail" % img["id"], token=token)
            self.assertEqual(t.status, 200)
            self.assertTrue(t.raw.startswith(b"\x89PNG\r\n\x1a\n"))
            self.assertEqual(api.get("/api/attachments/%s/thumbnail" % txt["id"],
                                     token=token).status, 404)
            api.close()
        # nothing left to do: no job at the next start
        with harness.Server(data_dir=data) as srv:
            api = harness.Api(srv.base_url)
            token = api.login(email)["access_token"]
            jobs = self.thumb_jobs(api, token)
            self.assertEqual([j["id"] for j in jobs], [done["id"]])
            api.close()


if __name__ == "__main__":
    unittest.main()
