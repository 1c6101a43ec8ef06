"""Export and import over HTTP (issue 14, docs/EXPORT.md): a job per export,
its status, the download (Content-Disposition, Content-Length, Range, owner
only, 410 after expiry) and the import upload with per-item errors."""

import http.client
import io
import json
import os
import sqlite3
import sys
import time
import unittest
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ApiTestCase, poll  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "import")


class ExportApiTest(ApiTestCase):
    server_env = {"PERSONALOS_EXPORT_EXPIRY": "3"}

    def export(self, token, body):
        r = self.api.post("/api/export/memories", body, token=token)
        self.assertEqual(r.status, 202, r.raw[:300])
        self.assertEqual(r.json["status"], "queued")
        eid = r.json["id"]
        done = poll(lambda: self.api.get("/api/export/status/" + eid, token=token).json
                    if self.api.get("/api/export/status/" + eid, token=token).json["status"]
                    in ("done", "failed") else None, timeout=60)
        self.assertEqual(done["status"], "done", done)
        return eid, done

    def test_export_download_range_owner_expiry(self):
        u, other = self.new_user(), self.new_user()
        for i in range(5):
            self.create_memory(u.token, "note %d ✓" % i, tags=["t%d" % i])
        eid, st = self.export(u.token, {"format": "json"})
        self.assertEqual(st["items"], 5)
        self.assertEqual(st["progress"], 1)
        r = self.api.get("/api/export/download/" + eid, token=u.token)
        self.assertEqual(r.status, 200)
        self.assertIn("attachment", r.headers.get("content-disposition", ""))
        self.assertEqual(int(r.headers["content-length"]), len(r.raw))
        self.assertEqual(len(r.raw), st["bytes"])
        doc = json.loads(r.raw)
        self.assertEqual(len(doc["memories"]), 5)
        part = self.api.get("/api/export/download/" + eid, token=u.token,
                            headers={"Range": "bytes=10-19"})
        self.assertEqual(part.status, 206)
        self.assertEqual(part.raw, r.raw[10:20])
        self.assertEqual(part.headers["content-range"], "bytes 10-19/%d" % len(r.raw))
        # another user: as if it did not exist
        for path in ("/api/export/status/", "/api/export/download/"):
            self.assert_error(self.api.get(path + eid, token=other.token), 404)
        # expiry (3 s here): 410, and the file is gone
        time.sleep(4)
        self.assertEqual(self.api.get("/api/export/status/" + eid, token=u.token).json["status"],
                         "expired")
        self.assert_error(self.api.get("/api/export/download/" + eid, token=u.token), 410,
                          "expired")

    def test_encrypted_user(self):
        """An encrypted account's export is decrypted for its owner."""
        u = self.new_user()
        self.create_memory(u.token, "sealed secret ✓ alpha", tags=["private"],
                           metadata={"k": "v"})
        r = self.api.post("/api/auth/encryption", {"password": u.password}, token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        sealed = poll(lambda: (lambda e: e if e["state"] == "on" and e["progress"] == e["total"]
                               else None)(self.me(u.token)["encryption"]), timeout=60)
        self.assertIsNotNone(sealed)
        eid, st = self.export(u.token, {"format": "jsonl"})
        r = self.api.get("/api/export/download/" + eid, token=u.token)
        self.assertEqual(r.status, 200)
        lines = [json.loads(x) for x in r.raw.decode("utf-8").splitlines()]
        mems = [x["data"] for x in lines if x["record"] == "memory"]
        self.assertEqual(len(mems), 1)
        self.assertEqual(mems[0]["content"], "sealed secret ✓ alpha")
        self.assertEqual(mems[0]["tags"], ["private"])
        self.assertEqual(mems[0]["metadata"], {"k": "v"})

    def attach(self, token, memory_id, name, data):
        body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\""
                + name.encode("utf-8") + b"\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                + data + b"\r\n--XyZ--\r\n")
        r = self.api.post("/api/memories/%s/attachments" % memory_id, token=token, raw=body,
                          headers={"Content-Type": "multipart/form-data; boundary=XyZ"})
        self.assertEqual(r.status, 201, r.raw[:500])
        return r.json

    def markdown_files(self, token):
        """Exports as markdown: {note path: front matter attachments} and the zip."""
        eid, _ = self.export(token, {"format": "markdown"})
        r = self.api.get("/api/export/download/" + eid, token=token)
        self.assertEqual(r.status, 200)
        z = zipfile.ZipFile(io.BytesIO(r.raw))
        self.assertIsNone(z.testzip())
        notes = {}
        for name in z.namelist():
            if name.endswith(".md"):
                for line in z.read(name).decode("utf-8").split("\n"):
                    if line.startswith("attachments: "):
                        notes[name] = json.loads(line[len("attachments: "):])
        return notes, z

    def check_files_beside_notes(self, token, expect):
        """`expect`: {attachment id: bytes}; each lies at the note's folder +
        its front matter `path`, byte for byte."""
        notes, z = self.markdown_files(token)
        seen = {}
        for note, atts in notes.items():
            folder = note.rsplit("/", 1)[0]
            for a in atts:
                if a["id"] in expect:
                    base = note[:-len(".md")].rsplit("/", 1)[1]
                    self.assertTrue(a["path"].startswith(base + ".files/"), a["path"])
                    seen[a["id"]] = z.read(folder + "/" + a["path"])
        self.assertEqual(set(seen), set(expect))
        for k, v in expect.items():
            self.assertEqual(seen[k], v, "attachment %s differs" % k)
        return notes, z

    def test_markdown_zip_carries_the_attachment_files(self):
        """Issue 14/21: each attachment's bytes beside its note, at the
        `path` its front matter gives (relative to the note's folder)."""
        u, other = self.new_user(), self.new_user()
        big = os.urandom(300 * 1024)  # several read chunks, not compressible
        small = b"day one: the ferry at nine\n"
        mem = self.create_memory(u.token, "Trip planning for the coast")
        a1 = self.attach(u.token, mem["id"], "plan.bin", big)
        a2 = self.attach(u.token, mem["id"], "notes.txt", small)
        a3 = self.attach(u.token, mem["id"], "notes.txt", b"second of the same name")
        # another user's file never enters this user's export
        om = self.create_memory(other.token, "someone else")
        self.attach(other.token, om["id"], "theirs.txt", b"not yours")
        notes, z = self.check_files_beside_notes(
            u.token, {a1["id"]: big, a2["id"]: small, a3["id"]: b"second of the same name"})
        paths = [a["path"] for a in next(iter(notes.values()))]
        self.assertEqual(len(set(paths)), 3)  # two "notes.txt": told apart by the id
        self.assertFalse(any(n.endswith("theirs.txt") or b"not yours" == z.read(n)
                             for n in z.namelist()))

    def test_markdown_zip_carries_an_encrypted_users_files_decrypted(self):
        u = self.new_user()
        r = self.api.post("/api/auth/encryption", {"password": u.password}, token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        poll(lambda: (lambda e: e if e["state"] == "on" and e["progress"] == e["total"]
                      else None)(self.me(u.token)["encryption"]), timeout=60)
        mem = self.create_memory(u.token, "sealed with a file")
        data = b"secret attachment bytes \x00\x01\xff" * 1000
        a = self.attach(u.token, mem["id"], "secret.bin", data)
        self.check_files_beside_notes(u.token, {a["id"]: data})

    def import_zip(self, token, raw):
        r = self.api.request("POST", "/api/import?format=markdown", raw=raw, token=token,
                             headers={"Content-Type": "application/zip"})
        self.assertEqual(r.status, 202, r.raw[:300])
        jid = r.json["job_id"]
        job = poll(lambda: (lambda j: j if j["status"] in ("done", "failed") else None)(
            self.api.get("/api/jobs/" + jid, token=token).json), timeout=60)
        self.assertEqual(job["status"], "done", job)
        return job

    def test_markdown_zip_round_trip_brings_the_files_back(self):
        """The Markdown import reads the .files/ folders back as attachments
        of the imported memory (through the files service); again: no
        duplicates."""
        u, v = self.new_user(), self.new_user()
        data = os.urandom(100 * 1024)
        mem = self.create_memory(u.token, "Receipts of the summer")
        self.attach(u.token, mem["id"], "receipt.bin", data)
        self.attach(u.token, mem["id"], "list.txt", b"milk, bread")
        eid, _ = self.export(u.token, {"format": "markdown"})
        raw = self.api.get("/api/export/download/" + eid, token=u.token).raw
        job = self.import_zip(v.token, raw)
        self.assertEqual(job["result"]["files"], 2, job)
        got = self.api.get("/api/memories?limit=10", token=v.token).json
        mems = got["memories"] if isinstance(got, dict) else got
        self.assertEqual(len(mems), 1)
        atts = {a["name"]: a for a in mems[0]["attachments"]}
        self.assertEqual(sorted(atts), ["list.txt", "receipt.bin"])
        r = self.api.get("/api/attachments/" + atts["receipt.bin"]["id"], token=v.token)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.raw, data)
        r = self.api.get("/api/attachments/" + atts["list.txt"]["id"], token=v.token)
        self.assertEqual(r.raw, b"milk, bread")
        job = self.import_zip(v.token, raw)  # again: nothing doubled
        self.assertEqual(job["result"]["files"], 2, job)
        m = self.get_memory(v.token, mems[0]["id"])
        self.assertEqual(len(m["attachments"]), 2)

    def test_markdown_import_takes_only_files_beside_imported_notes(self):
        """A zip's .files/ entries that are not beside a note of ours (a
        deeper folder, an id with no note) are not attached, and nothing
        leaves the memory's own attachments; a file over file_max is an
        item error, the rest goes on."""
        u, v = self.new_user(), self.new_user()
        mem = self.create_memory(u.token, "Hostile neighbours")
        self.attach(u.token, mem["id"], "ok.txt", b"fine")
        eid, _ = self.export(u.token, {"format": "markdown"})
        raw = self.api.get("/api/export/download/" + eid, token=u.token).raw
        buf = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(raw)) as src, zipfile.ZipFile(buf, "w") as dst:
            for n in src.namelist():
                dst.writestr(n, src.read(n))
            note = [n for n in src.namelist() if n.endswith(".md")][0]
            base = note[:-3]
            dst.writestr(base + ".files/sub/deeper.txt", b"not beside the note")
            dst.writestr("note/x-00000000-0000-4000-8000-00000000beef.files/orphan.txt",
                         b"no such note")
            dst.writestr(base + ".files/not-a-uuid/x", b"no")
        job = self.import_zip(v.token, buf.getvalue())
        self.assertEqual(job["result"]["files"], 1, job)
        mems = self.api.get("/api/memories?limit=10", token=v.token).json["memories"]
        self.assertEqual(len(mems), 1)
        self.assertEqual([a["name"] for a in mems[0]["attachments"]], ["ok.txt"])

    def test_bad_requests(self):
        u = self.new_user()
        for body, field in (({}, "format"), ({"format": "xml"}, "format"),
                            ({"format": "json", "include": ["secrets"]}, "include"),
                            ({"format": "json", "url": "http://example.org"}, "url"),
                            ({"format": "json", "passphrase": "short"}, "passphrase"),
                            ({"format": "json", "passphrase": 42}, "passphrase")):
            with self.subTest(body=body):
                r = self.api.post("/api/export/memories", body, token=u.token)
                self.assertIn(r.status, (400, 422))
                self.assertEqual(r.json["error"].get("field"), field)

    def import_job(self, token, fmt, raw, passphrase=None):
        headers = {"Content-Type": "application/octet-stream"}
        if passphrase is not None:
            headers["X-Passphrase"] = passphrase
        r = self.api.request("POST", "/api/import?format=" + fmt, raw=raw, token=token,
                             headers=headers)
        if r.status != 202:
            return r
        jid = r.json["job_id"]
        return poll(lambda: (lambda j: j if j["status"] in ("done", "failed") else None)(
            self.api.get("/api/jobs/" + jid, token=token).json), timeout=60)

    def test_sealed_export_and_import_over_the_api(self):
        u, fresh = self.new_user(), self.new_user()
        secret = "violet umbrella 9 sealed passphrase"
        for i in range(3):
            self.create_memory(u.token, "sealed note %d about the lighthouse" % i)
        eid, _ = self.export(u.token, {"format": "json", "passphrase": secret})
        raw = self.api.get("/api/export/download/" + eid, token=u.token).raw
        self.assertTrue(raw.startswith(b"POSSEAL1"), raw[:16])
        self.assertNotIn(b"lighthouse", raw)
        # the job's stored payload holds the passphrase only sealed
        db = sqlite3.connect(os.path.join(self.server.data_dir, "personalos.db"))
        try:
            payloads = [row[0] for row in db.execute("SELECT payload FROM jobs")]
        finally:
            db.close()
        self.assertTrue(any("passphrase_sealed" in p for p in payloads), payloads)
        self.assertFalse(any(secret in p for p in payloads))
        # no passphrase, a wrong one: the job fails and writes nothing
        for pw in (None, "not the right passphrase"):
            with self.subTest(passphrase=pw):
                job = self.import_job(fresh.token, "json", raw, pw)
                self.assertEqual(job["status"], "failed", job)
                self.assertEqual(self.memory_count(fresh.token), 0)
        job = self.import_job(fresh.token, "json", raw, secret)
        self.assertEqual(job["status"], "done", job)
        self.assertEqual(job["result"]["added"], 3)
        self.assertEqual(self.memory_count(fresh.token), 3)
        # a passphrase outside 8..1024 bytes is refused before the upload is kept
        r = self.import_job(fresh.token, "json", raw, "short")
        self.assert_error(r, 422, "invalid_field")

    def test_zip_with_non_ascii_names_is_imported(self):
        """A vault zip whose notes are named in UTF-8 (Python's zipfile
        sets the UTF-8 flag) is read, not refused as damaged: the server
        reads archive names in a UTF-8 locale (src/main.c)."""
        u = self.new_user()
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("Café ✓.md", "# Café\nthe croissant place on the corner\n")
            z.writestr("Notizen/Größe.md", "shoe size forty-three\n")
        job = self.import_job(u.token, "obsidian", buf.getvalue())
        self.assertEqual(job["status"], "done", job)
        self.assertEqual(job["result"]["added"], 2, job)
        r = self.api.get("/api/memories/search?q=croissant&mode=keyword", token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(len(r.json["memories"]), 1, r.json)

    def test_import_upload(self):
        u = self.new_user()
        with open(os.path.join(DATA, "chatgpt_conversations.json"), "rb") as f:
            raw = f.read()
        r = self.api.request("POST", "/api/import?format=chatgpt", raw=raw, token=u.token,
                             headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(r.status, 202, r.raw[:300])
        jid = r.json["job_id"]
        job = poll(lambda: (lambda j: j if j["status"] in ("done", "failed") else None)(
            self.api.get("/api/jobs/" + jid, token=u.token).json), timeout=60)
        self.assertEqual(job["status"], "done", job)
        self.assertEqual(job["result"]["added"], 2)
        r = self.api.request("POST", "/api/import?format=csv",
                             raw=b"content,type\nfine,note\n,note\nbad,bogus\n", token=u.token,
                             headers={"Content-Type": "text/csv"})
        jid = r.json["job_id"]
        job = poll(lambda: (lambda j: j if j["status"] in ("done", "failed") else None)(
            self.api.get("/api/jobs/" + jid, token=u.token).json), timeout=60)
        self.assertEqual(job["result"]["added"], 1)
        self.assertEqual(sorted(e["position"] for e in job["item_errors"]), [1, 2])
        # no format, unknown format
        r = self.api.request("POST", "/api/import", raw=b"x", token=u.token)
        self.assertIn(r.status, (400, 422))
        r = self.api.request("POST", "/api/import?format=pdf", raw=b"x", token=u.token)
        self.assertEqual(r.status, 422)


class ImportFileMaxTest(ApiTestCase):
    server_env = {"PERSONALOS_FILE_MAX": "2048"}

    def test_a_file_over_file_max_is_an_item_error(self):
        u, v = self.new_user(), self.new_user()
        mem = self.create_memory(u.token, "Small and large")
        body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"small.txt\""
                b"\r\nContent-Type: text/plain\r\n\r\nsmall\r\n--XyZ--\r\n")
        r = self.api.post("/api/memories/%s/attachments" % mem["id"], token=u.token, raw=body,
                          headers={"Content-Type": "multipart/form-data; boundary=XyZ"})
        self.assertEqual(r.status, 201, r.raw[:300])
        r = self.api.post("/api/export/memories", {"format": "markdown"}, token=u.token)
        eid = r.json["id"]
        poll(lambda: self.api.get("/api/export/status/" + eid, token=u.token).json["status"]
             == "done" or None, timeout=60)
        raw = self.api.get("/api/export/download/" + eid, token=u.token).raw
        buf = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(raw)) as src, zipfile.ZipFile(buf, "w") as dst:
            for n in src.namelist():
                dst.writestr(n, src.read(n))
            note = [n for n in src.namelist() if n.endswith(".md")][0]
            dst.writestr(note[:-3] + ".files/large.bin", os.urandom(4096))
        r = self.api.request("POST", "/api/import?format=markdown", raw=buf.getvalue(),
                             token=v.token, headers={"Content-Type": "application/zip"})
        self.assertEqual(r.status, 202, r.raw[:300])
        jid = r.json["job_id"]
        job = poll(lambda: (lambda j: j if j["status"] in ("done", "failed") else None)(
            self.api.get("/api/jobs/" + jid, token=v.token).json), timeout=60)
        self.assertEqual(job["status"], "done", job)
        self.assertEqual(job["result"]["files"], 1, job)
        self.assertEqual(len(job["item_errors"]), 1, job)
        self.assertIn("file_max", job["item_errors"][0]["message"])
        mems = self.api.get("/api/memories?limit=10", token=v.token).json["memories"]
        self.assertEqual([a["name"] for a in mems[0]["attachments"]], ["small.txt"])


class ImportQuotaTest(ApiTestCase):
    server_env = {"PERSONALOS_QUOTA_MEMORIES": "3"}

    def run_import(self, token, fmt, name):
        with open(os.path.join(DATA, name), "rb") as f:
            raw = f.read()
        r = self.api.request("POST", "/api/import?format=" + fmt, raw=raw, token=token,
                             headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(r.status, 202, r.raw[:300])
        jid = r.json["job_id"]
        return poll(lambda: (lambda j: j if j["status"] in ("done", "failed") else None)(
            self.api.get("/api/jobs/" + jid, token=token).json), timeout=60)

    def test_quota_stops_the_batch(self):
        u = self.new_user()
        self.assertEqual(self.run_import(u.token, "chatgpt", "chatgpt_conversations.json")
                         ["status"], "done")
        job = self.run_import(u.token, "claude", "claude_conversations.json")
        self.assertEqual(job["status"], "failed", job)
        self.assertIn("quota", job["last_error"])
        # all or nothing: none of the second file's batch was written
        self.assertEqual(self.memory_count(u.token), 2)


class ImportSpoolTest(ApiTestCase):
    """POST /api/import is spooled to disk (never held in memory) up to
    import_upload_max: 1 MiB here, so a 2 MiB upload is over it."""
    server_env = {"PERSONALOS_IMPORT_UPLOAD_MAX": str(1 << 20)}

    def leftovers(self):
        """Files an upload could leave: spools in blobs/, uploads in imports/."""
        found = []
        for sub in ("blobs", "imports"):
            for root, _dirs, files in os.walk(os.path.join(self.server.data_dir, sub)):
                found += [os.path.join(root, f) for f in files
                          if f.startswith(".spool") or f.endswith(".upload")]
        return found

    def jobs(self, token):
        r = self.api.get("/api/jobs", token=token)
        self.assertEqual(r.status, 200, r.raw[:300])
        return r.json.get("jobs", r.json.get("items", []))

    def csv(self, rows, pad):
        return b"content\n" + b"".join(b"row %06d %s\n" % (i, b"x" * pad) for i in range(rows))

    def test_declared_length_over_the_limit_is_413_and_writes_nothing(self):
        u = self.new_user()
        raw = self.csv(2100, 1000)  # over 2 MiB
        self.assertGreater(len(raw), 2 << 20)
        r = self.api.request("POST", "/api/import?format=csv", raw=raw, token=u.token,
                             headers={"Content-Type": "text/csv"})
        self.assert_error(r, 413, code="body_too_large")
        self.assertEqual(self.jobs(u.token), [])
        self.assertEqual(self.memory_count(u.token), 0)
        self.assertEqual(self.leftovers(), [])

    def test_chunked_body_is_cut_at_the_limit_with_413(self):
        u = self.new_user()
        raw = self.csv(2100, 1000)
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=60)
        self.addCleanup(conn.close)

        def body():
            for i in range(0, len(raw), 64 * 1024):
                yield raw[i:i + 64 * 1024]
        conn.request("POST", "/api/import?format=csv", body=body(), encode_chunked=True,
                     headers={"Authorization": "Bearer " + u.token,
                              "Content-Type": "text/csv", "Transfer-Encoding": "chunked"})
        resp = conn.getresponse()
        doc = json.loads(resp.read())
        self.assertEqual(resp.status, 413, doc)
        self.assertEqual(doc["error"]["code"], "body_too_large")
        self.assertEqual(self.jobs(u.token), [])
        self.assertEqual(self.memory_count(u.token), 0)
        self.assertEqual(self.leftovers(), [])

    def test_spooled_import_under_the_limit_works(self):
        u = self.new_user()
        raw = self.csv(900, 1000)  # ~0.9 MiB: spooled, then imported by a job
        self.assertLess(len(raw), 1 << 20)
        r = self.api.request("POST", "/api/import?format=csv", raw=raw, token=u.token,
                             headers={"Content-Type": "text/csv"})
        self.assertEqual(r.status, 202, r.raw[:300])
        jid = r.json["job_id"]
        job = poll(lambda: (lambda j: j if j["status"] in ("done", "failed") else None)(
            self.api.get("/api/jobs/" + jid, token=u.token).json), timeout=120)
        self.assertEqual(job["status"], "done", job)
        self.assertEqual(job["result"]["added"], 900)
        self.assertEqual(self.memory_count(u.token), 900)
        # the spool went with the request, the upload with the job
        self.assertEqual(poll(lambda: not self.leftovers(), timeout=30), True)
        # an empty upload: 400, nothing queued
        r = self.api.request("POST", "/api/import?format=csv", raw=b"", token=u.token,
                             headers={"Content-Type": "text/csv"})
        self.assertIn(r.status, (400, 422), r.raw[:300])


class ImportLargerThanBodyMemoryTest(ApiTestCase):
    """The import body never sits in memory: with the server's budget for
    request bodies at 1 MiB (max_body_memory) and import_upload_max past the
    old in-memory ceiling of 64 MiB, a 3 MiB upload is taken (an in-memory
    body would be refused 503, and the old ceiling refused this config)."""
    server_env = {"PERSONALOS_IMPORT_UPLOAD_MAX": str(96 << 20),
                  "PERSONALOS_MAX_BODY_MEMORY": "1"}

    def test_upload_larger_than_the_body_budget_is_imported(self):
        u = self.new_user()
        rows = 3200
        raw = b"content\n" + b"".join(b"big %06d %s\n" % (i, b"y" * 1000) for i in range(rows))
        self.assertGreater(len(raw), 3 << 20)
        r = self.api.request("POST", "/api/import?format=csv", raw=raw, token=u.token,
                             headers={"Content-Type": "text/csv"})
        self.assertEqual(r.status, 202, r.raw[:300])
        jid = r.json["job_id"]
        job = poll(lambda: (lambda j: j if j["status"] in ("done", "failed") else None)(
            self.api.get("/api/jobs/" + jid, token=u.token).json), timeout=120)
        self.assertEqual(job["status"], "done", job)
        self.assertEqual(job["result"]["added"], rows)


if __name__ == "__main__":
    unittest.main()
