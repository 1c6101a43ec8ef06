"""Files as memories (issue 21; docs/FILES.md): uploads (raw and multipart),
attachments listed on the memory, downloads with Range and a safe type,
text found offline in PDF pages, DOCX, e-mail, images (OCR, EXIF date), and
hostile files (zip bomb, huge image, truncated files, an HTML/PNG
polyglot). Another user cannot fetch a file; an encrypted user's blob holds
no plaintext. Sample files: tests/data/files (made by make_samples.py)."""

import email
import email.mime.application
import email.mime.message
import email.mime.multipart
import email.mime.text
import glob
import json
import os
import shutil
import sqlite3
import struct
import tempfile
import time
import unittest
import urllib.parse
import uuid
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SAMPLES = os.path.join(harness.REPO_ROOT, "tests", "data", "files")


def sample(name):
    with open(os.path.join(SAMPLES, name), "rb") as f:
        return f.read()


def q(s):
    return urllib.parse.quote(s)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def huge_png(w, h):
    """A PNG header for a w x h image with almost no pixel data."""
    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + chunk(b"IEND", b""))


def forwarding(phrase, tag):
    """A mail forwarding another mail (a message/rfc822 part) whose body
    alone holds `phrase`."""
    inner = email.mime.text.MIMEText("The %s waits in the attic.\n" % phrase)
    inner["From"] = "Di <di@example.org>"
    inner["Subject"] = "Where the lantern is"
    inner["Date"] = "Wed, 4 Mar 2026 08:00:00 +0000"
    inner["Message-ID"] = "<lantern-%s@example.org>" % tag
    outer = email.mime.multipart.MIMEMultipart()
    outer["From"] = "Ed <ed@example.org>"
    outer["Subject"] = "Fwd: the lantern"
    outer["Date"] = "Thu, 5 Mar 2026 08:00:00 +0000"
    outer["Message-ID"] = "<fwd-%s@example.org>" % tag
    outer.attach(email.mime.text.MIMEText("Forwarding this one, see below."))
    outer.attach(email.mime.message.MIMEMessage(inner))
    return outer.as_bytes()


class FilesTest(harness.ApiTestCase):
    server_env = {"PERSONALOS_FILE_MAX": str(4 * 1024 * 1024)}

    def upload(self, token, data, name, path="/api/files", ctype="application/octet-stream"):
        return self.api.post(path + "?name=" + q(name), token=token, raw=data,
                             headers={"Content-Type": ctype})

    def upload_file(self, token, name, data=None):
        """Uploads and waits for the files.extract job: the memory once its
        attachment's text_status is no longer "pending"."""
        r = self.upload(token, sample(name) if data is None else data, name)
        self.assertEqual(r.status, 201, r.raw[:500])
        self.assertEqual(r.json["type"], "file")
        self.assertEqual(len(r.json["attachments"]), 1)
        return self.extracted(token, r.json["id"])

    def extracted(self, token, memory_id):
        def check():
            m = self.get_memory(token, memory_id)
            return m if m["attachments"][0]["text_status"] != "pending" else None
        m = harness.poll(check)
        self.assertIsNotNone(m, "the text of %s was not extracted" % memory_id)
        return m

    def test_upload_answers_at_once_and_a_job_extracts_the_text(self):
        u = self.new_user()
        r = self.upload(u.token, sample("report.pdf"), "report.pdf")
        self.assertEqual(r.status, 201, r.raw[:500])
        self.assertEqual(r.json["attachments"][0]["text_status"], "pending")
        jobs = harness.poll(lambda: self.api.get("/api/jobs?kind=files.extract",
                                                 token=u.token).json["jobs"])
        self.assertTrue(jobs, "no files.extract job")
        j = harness.poll(lambda: (lambda j: j if j["state"] == "done" else None)(
            self.api.get("/api/jobs/" + jobs[0]["id"], token=u.token).json))
        self.assertIsNotNone(j, "the files.extract job did not finish")
        self.assertEqual(j["kind"], "files.extract")
        m = self.extracted(u.token, r.json["id"])
        self.assertEqual(m["attachments"][0]["text_status"], "done")
        other = self.new_user()
        self.assertEqual(self.api.get("/api/jobs/" + j["id"], token=other.token).status, 404)

    def search_ids(self, token, query, mode="keyword"):
        r = self.api.get("/api/memories/search?mode=%s&query=%s" % (mode, q(query)),
                         token=token)
        self.assertEqual(r.status, 200, r.raw[:500])
        return [m["id"] for m in r.json["memories"]], r.json["memories"]

    def test_pdf_page_four_is_found_with_its_page(self):
        u = self.new_user()
        m = self.upload_file(u.token, "report.pdf")
        att = m["attachments"][0]
        self.assertEqual(att["mime"], "application/pdf")
        self.assertEqual(att["text_status"], "done", att)
        self.assertEqual(att["text_pages"], 4)
        ids, mems = self.search_ids(u.token, "pelican migration")
        self.assertIn(m["id"], ids)
        hit = mems[ids.index(m["id"])]
        self.assertIn("[page 4]\nThe pelican migration budget", hit["content"])

    def test_docx_eml_and_images_are_searchable(self):
        u = self.new_user()
        cases = [("notes.docx", "saffron greenhouse"),
                 ("letter.eml", "copper kettle auction"),
                 ("screenshot.png", "lighthouse keeper"),
                 ("scanned.pdf", "walnut bookshelf"),
                 ("photo.jpg", "2021:07:14")]
        for name, phrase in cases:
            with self.subTest(name=name):
                m = self.upload_file(u.token, name)
                self.assertEqual(m["attachments"][0]["text_status"], "done",
                                 m["attachments"][0])
                ids, _ = self.search_ids(u.token, '"%s"' % phrase)
                self.assertIn(m["id"], ids, "%s not found by %r" % (name, phrase))

    def test_attach_multipart_list_download_range_delete(self):
        u = self.new_user()
        mem = self.create_memory(u.token, "trip planning")
        body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n"
                b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"plan.txt\"\r\n"
                b"Content-Type: text/html\r\n\r\nday one: the ferry at nine\r\n--XyZ--\r\n")
        r = self.api.post("/api/memories/%s/attachments" % mem["id"], token=u.token, raw=body,
                          headers={"Content-Type": "multipart/form-data; boundary=XyZ"})
        self.assertEqual(r.status, 201, r.raw[:500])
        att = r.json
        self.assertEqual(att["name"], "plan.txt")
        self.assertEqual(att["bytes"], len(b"day one: the ferry at nine"))
        self.assertEqual(att["mime"], "text/plain")  # sniffed, not the client's text/html
        got = self.get_memory(u.token, mem["id"])
        self.assertEqual([a["id"] for a in got["attachments"]], [att["id"]])
        r = self.api.get("/api/memories/%s/attachments" % mem["id"], token=u.token)
        self.assertEqual([a["id"] for a in r.json["attachments"]], [att["id"]])
        r = self.api.get("/api/attachments/" + att["id"], token=u.token)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.raw, b"day one: the ferry at nine")
        self.assertTrue(r.headers["content-disposition"].startswith("attachment;"))
        self.assertIn("plan.txt", r.headers["content-disposition"])
        self.assertEqual(r.headers["x-content-type-options"], "nosniff")
        r = self.api.get("/api/attachments/" + att["id"], token=u.token,
                         headers={"Range": "bytes=4-6"})
        self.assertEqual(r.status, 206)
        self.assertEqual(r.raw, b"one")
        self.assertEqual(r.headers["content-range"], "bytes 4-6/26")
        r = self.api.get("/api/attachments/" + att["id"], token=u.token,
                         headers={"Range": "bytes=-4"})
        self.assertEqual(r.raw, b"nine")
        r = self.api.get("/api/attachments/" + att["id"], token=u.token,
                         headers={"Range": "bytes=500-"})
        self.assertEqual(r.status, 416)
        # delete: gone from the memory, the download and the disk
        blobs = self.blob_files(u.id)
        self.assertEqual(len(blobs), 1)
        r = self.api.delete("/api/attachments/" + att["id"], token=u.token)
        self.assertEqual(r.status, 204)
        self.assertEqual(self.get_memory(u.token, mem["id"])["attachments"], [])
        self.assertEqual(self.api.get("/api/attachments/" + att["id"], token=u.token).status,
                         404)
        self.assertEqual(self.blob_files(u.id), [])

    def test_thumbnails_of_images_and_pdf_first_pages(self):
        u = self.new_user()
        other = self.new_user()
        # a text PDF (fast to extract): the job stores its thumbnail as a blob
        m = self.upload_file(u.token, "report.pdf")
        pdf = m["attachments"][0]
        pdf_blobs = set(self.blob_files(u.id))
        self.assertEqual(len(pdf_blobs), 2)  # the file and its thumbnail
        # images: served whether the job made it already or not (then in the request)
        atts = {"report.pdf": pdf}
        for name in ("screenshot.png", "photo.jpg"):
            r = self.upload(u.token, sample(name), name)
            self.assertEqual(r.status, 201, r.raw[:300])
            atts[name] = r.json["attachments"][0]
        for name, att in atts.items():
            with self.subTest(name=name):
                t = self.api.get("/api/attachments/%s/thumbnail" % att["id"], token=u.token)
                self.assertEqual(t.status, 200, t.raw[:300])
                self.assertEqual(t.headers["content-type"], "image/png")
                self.assertEqual(t.headers["x-content-type-options"], "nosniff")
                self.assertTrue(t.raw.startswith(b"\x89PNG\r\n\x1a\n"))
                w, h = struct.unpack(">II", t.raw[16:24])
                self.assertTrue(0 < w <= 256 and 0 < h <= 256, (w, h))
                if name == "screenshot.png":  # 640x100 scaled to fit
                    self.assertEqual((w, h), (256, 40))
                self.assertEqual(self.api.get("/api/attachments/%s/thumbnail" % att["id"],
                                              token=other.token).status, 404)
        # deleting the PDF's memory collects its file and its thumbnail
        r = self.api.delete("/api/memories/" + m["id"], token=u.token)
        self.assertEqual(r.status, 204)
        self.assertIsNotNone(harness.poll(
            lambda: not (set(self.blob_files(u.id)) & pdf_blobs) or None, timeout=10),
            "the PDF's blobs were not collected")
        # no thumbnail: a text file, a truncated image, a 30k x 30k PNG
        for name, data in (("a.txt", b"just words"), ("t.png", sample("truncated.png")),
                           ("huge.png", huge_png(30000, 30000))):
            with self.subTest(name=name):
                r = self.upload(u.token, data, name)
                self.assertEqual(r.status, 201, r.raw[:300])
                att = r.json["attachments"][0]
                harness.check_error(self, self.api.get(
                    "/api/attachments/%s/thumbnail" % att["id"], token=u.token), 404,
                    "not_found")

    def blob_files(self, user_id):
        return sorted(glob.glob(os.path.join(self.server.data_dir, "blobs", user_id, "*", "*")))

    def test_dedup_quota_and_memory_delete_collects(self):
        u = self.new_user()
        data = b"the same bytes " + uuid.uuid4().hex.encode()
        m1 = self.upload_file(u.token, "a.txt", data)
        m2 = self.upload_file(u.token, "b.txt", data)
        self.assertEqual(len(self.blob_files(u.id)), 1)  # stored once
        r = self.api.delete("/api/memories/" + m1["id"], token=u.token)
        self.assertEqual(r.status, 204)
        self.assertEqual(len(self.blob_files(u.id)), 1)  # m2 still refers to it
        r = self.api.delete("/api/memories/" + m2["id"], token=u.token)
        self.assertEqual(self.blob_files(u.id), [])

    def test_other_user_cannot_fetch_but_a_share_can(self):
        owner, eve, friend = self.new_user(), self.new_user(), self.new_user()
        m = self.upload_file(owner.token, "a.txt", b"private words")
        aid = m["attachments"][0]["id"]
        r = self.api.get("/api/attachments/" + aid, token=eve.token)
        harness.check_error(self, r, 404, "not_found")
        r = self.api.delete("/api/attachments/" + aid, token=eve.token)
        harness.check_error(self, r, 404, "not_found")
        r = self.upload(eve.token, b"x", "x.txt", path="/api/memories/%s/attachments" % m["id"])
        self.assertIn(r.status, (403, 404))
        r = self.api.post("/api/memories/%s/share" % m["id"], {"emails": [friend.email]},
                          token=owner.token)
        self.assertIn(r.status, (200, 201), r.raw[:300])
        r = self.api.get("/api/attachments/" + aid, token=friend.token)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.raw, b"private words")
        r = self.api.delete("/api/attachments/" + aid, token=friend.token)
        self.assertEqual(r.status, 404)
        self.assertEqual(self.api.get("/api/attachments/" + aid, token=owner.token).status, 200)

    def test_uploaded_eml_with_a_forwarded_message_is_searchable(self):
        u = self.new_user()
        word = "lantern" + uuid.uuid4().hex[:10]
        m = self.upload_file(u.token, "fwd.eml", forwarding("brass " + word, word))
        att = m["attachments"][0]
        self.assertEqual(att["mime"], "message/rfc822")
        self.assertEqual(att["text_status"], "done", att)
        self.assertIn("Forwarding this one", m["content"])
        self.assertIn("[forwarded: Where the lantern is.eml]", m["content"])
        self.assertIn("brass " + word, m["content"])
        self.assertEqual(self.search_ids(u.token, word)[0], [m["id"]])
        r = self.api.get("/api/attachments/" + att["id"], token=u.token)
        self.assertEqual(r.headers["content-type"], "message/rfc822")
        self.assertEqual(r.headers["x-content-type-options"], "nosniff")

    def test_polyglot_is_served_as_an_image_never_html(self):
        u = self.new_user()
        m = self.upload_file(u.token, "page.html", sample("polyglot.png"))
        r = self.api.get("/api/attachments/" + m["attachments"][0]["id"], token=u.token)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["content-type"], "image/png")
        self.assertTrue(r.headers["content-disposition"].startswith("attachment"))
        # real HTML and SVG: octet-stream
        for name, data in (("x.html", b"<!DOCTYPE html><html><body><script>alert(1)</script>"),
                           ("x.svg", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')):
            m = self.upload_file(u.token, name, data)
            r = self.api.get("/api/attachments/" + m["attachments"][0]["id"], token=u.token)
            self.assertEqual(r.headers["content-type"], "application/octet-stream", name)
            self.assertIn("default-src 'none'", r.headers["content-security-policy"])

    def test_hostile_files_fail_their_extraction_and_the_memory_stays(self):
        u = self.new_user()
        cases = [("bomb.docx", sample("bomb.docx"), "zip bomb"),
                 ("huge.png", huge_png(30000, 30000), "pixels"),
                 ("truncated.pdf", sample("truncated.pdf"), "not a readable PDF"),
                 # the child's own line, not libpng's complaint before it
                 ("truncated.png", sample("truncated.png"), "not a readable image")]
        for name, data, why in cases:
            with self.subTest(name=name):
                m = self.upload_file(u.token, name, data)
                att = m["attachments"][0]
                self.assertIn(att["text_status"], ("failed", "none"), att)
                if why:
                    self.assertEqual(att["text_status"], "failed")
                    self.assertIn(why, att["text_error"])
                self.get_memory(u.token, m["id"])
        self.assertEqual(self.api.get("/health").status, 200)

    def test_limits_and_bad_requests(self):
        u = self.new_user()
        r = self.upload(u.token, b"x" * (4 * 1024 * 1024 + 70 * 1024), "big.bin")
        harness.check_error(self, r, 413)
        r = self.api.post("/api/files", token=u.token, raw=b"",
                          headers={"Content-Type": "application/octet-stream"})
        harness.check_error(self, r, 400)
        r = self.api.post("/api/files", token=u.token, raw=b"--a\r\n\r\nnofile\r\n--a--",
                          headers={"Content-Type": "multipart/form-data; boundary=a"})
        harness.check_error(self, r, 400)
        # a raw body needs a name (a JSON body sent here by mistake is refused)
        r = self.api.post("/api/files", token=u.token, raw=b'{"content": "x"}')
        harness.check_error(self, r, 422, "missing_field", field="name")
        r = self.upload(u.token, b"x", "x", path="/api/memories/%s/attachments" % uuid.uuid4())
        harness.check_error(self, r, 404)
        self.assertEqual(self.api.get("/api/attachments/nope", token=u.token).status, 404)
        self.assertEqual(self.api.get("/api/attachments/" + str(uuid.uuid4())).status, 401)
        # a hostile name keeps only its last component, without quotes
        m = self.upload_file(u.token, '../../etc/"pass"wd', b"x")
        self.assertEqual(m["attachments"][0]["name"], "_pass_wd")


    def test_cli_add_file(self):
        import subprocess
        import tempfile
        u = self.new_user()
        home = tempfile.mkdtemp(prefix="pos-files-cli-")
        env = {k: v for k, v in os.environ.items()
               if k not in ("PERSONALOS_URL", "PERSONALOS_TOKEN")}
        env.update(HOME=home, XDG_CONFIG_HOME=os.path.join(home, "cfg"),
                   PERSONALOS_URL=self.server.base_url, PERSONALOS_TOKEN=u.token)
        p = subprocess.run([harness.pos_bin(), "add", "--file",
                            os.path.join(SAMPLES, "notes.docx"), "--tags", "work,notes"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("text: done", p.stdout.decode())
        ids, mems = self.search_ids(u.token, '"saffron greenhouse"')
        self.assertEqual(len(ids), 1)
        self.assertIn(ids[0], p.stdout.decode())
        self.assertEqual(sorted(mems[0]["tags"]), ["notes", "work"])
        self.assertEqual(mems[0]["attachments"][0]["name"], "notes.docx")
        # import files DIR: every file below it, with progress
        d = os.path.join(home, "docs")
        os.makedirs(os.path.join(d, "sub"))
        os.makedirs(os.path.join(d, ".hidden"))
        with open(os.path.join(d, "a.txt"), "w") as f:
            f.write("the marmalade recipe")
        with open(os.path.join(d, "sub", "b.md"), "w") as f:
            f.write("# notes on the tandem bicycle")
        with open(os.path.join(d, ".hidden", "c.txt"), "w") as f:
            f.write("never imported")
        p = subprocess.run([harness.pos_bin(), "import", "files", d], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=env, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout.decode()
        self.assertIn("[1/2] " + os.path.join(d, "a.txt"), p.stderr.decode())  # progress
        self.assertIn("[2/2] ", p.stderr.decode())
        self.assertEqual(out.count("added "), 2, out)
        self.assertIn("imported 2 of 2 files", out)
        self.assertEqual(len(self.search_ids(u.token, "marmalade")[0]), 1)
        self.assertEqual(len(self.search_ids(u.token, "tandem bicycle")[0]), 1)
        self.assertEqual(self.search_ids(u.token, "never imported")[0], [])
        p = subprocess.run([harness.pos_bin(), "add", "--file", os.path.join(home, "missing")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"cannot read", p.stderr)


class MailAttachmentsTest(harness.ApiTestCase):
    """Sync (a Maildir here; IMAP and mbox go through the same sink) keeps
    each mail attachment as a blob and an attachment of the email memory;
    its text is extracted and found by search like a file memory's; one
    over file_max is skipped and reported, the email still lands."""

    @classmethod
    def setUpClass(cls):
        harness.require_local("sync reads a local Maildir")
        cls.root = tempfile.mkdtemp(prefix="pos-root-")
        cls.server_env = {"PERSONALOS_SYNC_FILE_ROOT": cls.root,
                          "PERSONALOS_FILE_MAX": "300000"}
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.root, ignore_errors=True)

    def maildir(self, u, messages):
        d = os.path.join(self.root, u.id, "Mail")
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        for i, raw in enumerate(messages):
            with open(os.path.join(d, "cur", "%d.test:2,S" % i), "wb") as f:
                f.write(raw)
        return "Mail"

    def sync_and_wait(self, u, rel, n):
        r = self.api.post("/api/sync/sources", {"kind": "maildir", "config": {"path": rel}},
                          token=u.token)
        self.assertEqual(r.status, 201, r.raw[:500])
        sid = r.json["id"]

        def done():
            s = [x for x in self.api.get("/api/sync/status", token=u.token).json["sources"]
                 if x["id"] == sid][0]
            return s if s["job"] is None and s["status"] not in ("idle", "running") else None
        st = harness.poll(done)
        self.assertIsNotNone(st, "the sync did not finish")
        mems = self.api.get("/api/memories?type=email&limit=50", token=u.token).json["memories"]
        self.assertEqual(len(mems), n, mems)
        return st, mems

    def settled(self, token, memory_id, n):
        def check():
            m = self.get_memory(token, memory_id)
            atts = m["attachments"]
            return m if len(atts) == n and all(
                a.get("text_status") not in (None, "pending") for a in atts) else None
        m = harness.poll(check)
        self.assertIsNotNone(m, "the attachments of %s did not settle" % memory_id)
        return m

    def test_mail_attachments_become_searchable_blobs(self):
        u = self.new_user()
        phrase = "marmalade observatory " + uuid.uuid4().hex[:8]
        big = os.urandom(400000)
        msg = email.mime.multipart.MIMEMultipart()
        msg["From"] = "Cy <cy@example.org>"
        msg["Subject"] = "Minutes and the budget"
        msg["Date"] = "Wed, 4 Mar 2026 09:00:00 +0000"
        msg["Message-ID"] = "<minutes-1@example.org>"
        msg.attach(email.mime.text.MIMEText("See the attached minutes."))
        part = email.mime.application.MIMEApplication(
            ("The %s reopens in May.\n" % phrase).encode(), Name="minutes.txt")
        part["Content-Disposition"] = 'attachment; filename="minutes.txt"'
        msg.attach(part)  # base64 on the wire: decoded before it is stored
        pdf = email.mime.application.MIMEApplication(sample("report.pdf"), Name="report.pdf")
        pdf["Content-Disposition"] = 'attachment; filename="report.pdf"'
        msg.attach(pdf)
        huge = email.mime.application.MIMEApplication(big, Name="huge.bin")
        huge["Content-Disposition"] = 'attachment; filename="huge.bin"'
        msg.attach(huge)
        rel = self.maildir(u, [sample("letter.eml"), msg.as_bytes()])
        st, mems = self.sync_and_wait(u, rel, 2)
        # the one over file_max is reported; both emails landed
        self.assertEqual(st["status"], "ok", st)
        self.assertIn("huge.bin", json.dumps(st), st)
        by_subject = {m["metadata"]["subject"]: m for m in mems}
        letter = self.settled(u.token, by_subject["The copper kettle auction"]["id"], 1)
        minutes = self.settled(u.token, by_subject["Minutes and the budget"]["id"], 2)
        att = letter["attachments"][0]
        self.assertEqual(att["name"], "list.txt")
        self.assertEqual(att["text_status"], "done", att)
        r = self.api.get("/api/attachments/" + att["id"], token=u.token)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.raw.replace(b"\r\n", b"\n").strip(), b"lot 7: kettle")
        self.assertNotIn("data", json.dumps(letter["attachments"]))  # no base64 in the row
        names = sorted(a["name"] for a in minutes["attachments"])
        self.assertEqual(names, ["minutes.txt", "report.pdf"])
        for a in minutes["attachments"]:
            self.assertEqual(a["text_status"], "done", a)
        txt = [a for a in minutes["attachments"] if a["name"] == "minutes.txt"][0]
        r = self.api.get("/api/attachments/" + txt["id"], token=u.token)
        self.assertEqual(r.raw, ("The %s reopens in May.\n" % phrase).encode())
        # the text of both attachments is searchable as part of the email
        for query in ('"%s"' % phrase, '"pelican migration budget"'):
            with self.subTest(query=query):
                r = self.api.get("/api/memories/search?mode=keyword&query=" + q(query),
                                 token=u.token)
                self.assertEqual(r.status, 200, r.raw[:300])
                self.assertIn(minutes["id"], [m["id"] for m in r.json["memories"]])
        self.assertIn("[file: minutes.txt]", minutes["content"])
        self.assertTrue(minutes["content"].startswith("From: Cy"), minutes["content"][:200])
        # another user cannot fetch it
        other = self.new_user()
        self.assertEqual(self.api.get("/api/attachments/" + txt["id"],
                                      token=other.token).status, 404)


    def test_forwarded_message_is_an_attachment_of_its_own(self):
        u = self.new_user()
        word = "lantern" + uuid.uuid4().hex[:10]
        rel = self.maildir(u, [forwarding("brass " + word, word)])
        st, mems = self.sync_and_wait(u, rel, 1)
        self.assertEqual(st["status"], "ok", st)
        # not in the mail's own body (the text of its attachments follows
        # it as "[file: NAME]" sections once their extraction jobs ran)
        self.assertNotIn(word, mems[0]["content"].split("\n\n[file: ")[0])
        m = self.settled(u.token, mems[0]["id"], 1)
        att = m["attachments"][0]
        self.assertEqual(att["name"], "Where the lantern is.eml")
        self.assertEqual(att["mime"], "message/rfc822")
        self.assertEqual(att["text_status"], "done", att)  # read, unlike an original
        self.assertIn("[file: Where the lantern is.eml]", m["content"])
        # the phrase only the inner mail has finds the email
        r = self.api.get("/api/memories/search?mode=keyword&query=" + q(word), token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual([x["id"] for x in r.json["memories"]], [m["id"]])
        # downloaded as the message it is, never sniffed
        r = self.api.get("/api/attachments/" + att["id"], token=u.token)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["content-type"], "message/rfc822")
        self.assertEqual(r.headers["x-content-type-options"], "nosniff")
        self.assertTrue(r.headers["content-disposition"].startswith("attachment"))
        inner = email.message_from_bytes(r.raw)
        self.assertEqual(inner["Subject"], "Where the lantern is")
        self.assertIn("brass " + word, inner.get_payload(decode=True).decode())


class InlineAttachmentsAdoptedTest(unittest.TestCase):
    """`personalos import maildir` against a data directory keeps mail
    attachments inline (base64 in the row, as sync did before); the next
    server start moves them into the blob store (files.adopt job), where
    they can be fetched and their text is found by search."""

    def test_inline_attachments_move_into_blobs_at_start(self):
        harness.require_local("runs the CLI on the server's data directory")
        d = tempfile.mkdtemp(prefix="pos-adopt-")
        self.addCleanup(shutil.rmtree, d, True)
        data = os.path.join(d, "data")
        os.mkdir(data, 0o700)
        md = os.path.join(d, "Mail")
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(md, sub))
        with open(os.path.join(md, "cur", "1.test:2,S"), "wb") as f:
            f.write(sample("letter.eml"))
        email_addr = harness.unique_email("adopt")
        with harness.Server(data_dir=data) as srv:
            api = harness.Api(srv.base_url)
            api.register(email_addr)
            api.close()
        p = harness.run_cli(["import", "maildir", md, "--user", email_addr, "--data", data],
                            timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        with harness.Server(data_dir=data) as srv:
            api = harness.Api(srv.base_url)
            token = api.login(email_addr)["access_token"]

            def adopted():
                ms = api.get("/api/memories?type=email", token=token).json["memories"]
                atts = ms[0]["attachments"] if ms else []
                return ms[0] if atts and all(a.get("text_status") == "done" for a in atts) \
                    else None
            m = harness.poll(adopted)
            self.assertIsNotNone(m, "the inline attachment was not moved")
            self.assertEqual([a["name"] for a in m["attachments"]], ["list.txt"])
            self.assertNotIn("base64", json.dumps(m["attachments"]))
            r = api.get("/api/attachments/" + m["attachments"][0]["id"], token=token)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.raw.replace(b"\r\n", b"\n").strip(), b"lot 7: kettle")
            r = api.get("/api/memories/search?mode=keyword&query=" + q('"lot 7"'), token=token)
            self.assertIn(m["id"], [x["id"] for x in r.json["memories"]])
            self.assertEqual(len(glob.glob(os.path.join(data, "blobs", m["user_id"], "*", "*"))), 1)
            api.close()


class FilesQuotaTest(harness.ApiTestCase):
    server_env = {"PERSONALOS_QUOTA_BYTES": "100000"}

    def test_bytes_quota_counts_files(self):
        u = self.new_user()
        r = self.api.post("/api/files?name=a.bin", token=u.token, raw=b"a" * 60000,
                          headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(r.status, 201, r.raw[:300])
        r = self.api.post("/api/files?name=b.bin", token=u.token, raw=b"b" * 60000,
                          headers={"Content-Type": "application/octet-stream"})
        harness.check_error(self, r, 413, "quota_exceeded")


class FilesEncryptedTest(harness.ApiTestCase):
    def test_encrypted_users_blob_has_no_plaintext(self):
        harness.require_local("reads the server's data directory")
        u = self.new_user()
        r = self.api.post("/api/auth/encryption", {"password": u.password}, token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        secret = b"the vault combination is quokka-" + uuid.uuid4().hex.encode()
        r = self.api.post("/api/files?name=secret.txt", token=u.token, raw=secret,
                          headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(r.status, 201, r.raw[:300])
        att = r.json["attachments"][0]
        # the files.extract job has written the text (sealed) before the checks
        self.assertIsNotNone(harness.poll(lambda: self.get_memory(
            u.token, att["memory_id"])["attachments"][0]["text_status"] == "done"))
        files = glob.glob(os.path.join(self.server.data_dir, "blobs", u.id, "*", "*"))
        self.assertEqual(len(files), 1)
        with open(files[0], "rb") as f:
            stored = f.read()
        self.assertNotIn(b"quokka", stored)
        self.assertNotIn(b"vault", stored)
        r = self.api.get("/api/attachments/" + att["id"], token=u.token)
        self.assertEqual(r.raw, secret)
        self.assertIn("secret.txt", r.headers["content-disposition"])
        self.assertEqual(r.headers["content-type"], "text/plain; charset=utf-8")
        r = self.api.get("/api/memories/%s/attachments" % att["memory_id"], token=u.token)
        self.assertEqual(r.json["attachments"][0]["name"], "secret.txt")
        # neither the file nor its name is anywhere in the database files
        self.server_db_has_no(b"quokka")
        self.server_db_has_no(b"secret.txt")
        r = self.api.get("/api/memories/search?mode=keyword&query=quokka", token=u.token)
        self.assertIn(att["memory_id"], [m["id"] for m in r.json["memories"]])
        # an image's thumbnail is a sealed blob too, and served opened
        before = set(glob.glob(os.path.join(self.server.data_dir, "blobs", u.id, "*", "*")))
        r = self.api.post("/api/files?name=shot.png", token=u.token, raw=sample("screenshot.png"),
                          headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(r.status, 201, r.raw[:300])
        img = r.json["attachments"][0]
        self.assertIsNotNone(harness.poll(lambda: self.get_memory(
            u.token, img["memory_id"])["attachments"][0]["text_status"] != "pending"))
        new = set(glob.glob(os.path.join(self.server.data_dir, "blobs", u.id, "*", "*"))) - before
        self.assertEqual(len(new), 2)  # the image and its thumbnail
        for path in new:
            with open(path, "rb") as f:
                self.assertEqual(f.read(4), b"POSB")
        t = self.api.get("/api/attachments/%s/thumbnail" % img["id"], token=u.token)
        self.assertEqual(t.status, 200)
        self.assertTrue(t.raw.startswith(b"\x89PNG"))

    def test_files_from_before_encryption_are_sealed_by_the_pass(self):
        harness.require_local("reads the blob files")
        sqlite_store = not os.environ.get("POS_TEST_STORE", "").startswith(
            ("postgres://", "postgresql://"))
        u = self.new_user()
        word = "wombat" + uuid.uuid4().hex[:10]
        secret = ("the ledger of the %s is in the drawer\n" % word).encode()
        atts = []
        for name, data in (("ledger.txt", secret), ("shot.png", sample("screenshot.png"))):
            r = self.api.post("/api/files?name=" + name, token=u.token, raw=data,
                              headers={"Content-Type": "application/octet-stream"})
            self.assertEqual(r.status, 201, r.raw[:300])
            att = r.json["attachments"][0]
            self.assertIsNotNone(harness.poll(lambda: self.get_memory(
                u.token, att["memory_id"])["attachments"][0]["text_status"] != "pending"))
            atts.append(att)
        blobs = os.path.join(self.server.data_dir, "blobs", u.id, "*", "*")
        plain = set(glob.glob(blobs))
        self.assertEqual(len(plain), 3)  # the text, the image, its thumbnail
        self.assertIn(secret, [read(p) for p in plain])
        r = self.api.post("/api/auth/encryption", {"password": u.password}, token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])

        def on():
            e = self.api.get("/api/auth/me", token=u.token).json["encryption"]
            return e if e["state"] == "on" else None
        self.assertIsNotNone(harness.poll(on, timeout=60), "the sealing pass did not finish")
        now = set(glob.glob(blobs))
        self.assertEqual(len(now), 3)
        self.assertFalse(now & plain, "a plain blob is left")  # sealed anew, plain removed
        for path in now:
            with open(path, "rb") as f:
                stored = f.read()
            self.assertEqual(stored[:4], b"POSB", path)
            self.assertNotIn(word.encode(), stored)
        if sqlite_store:  # the rows: sealed, names and types too
            db = sqlite3.connect(os.path.join(self.server.data_dir, "personalos.db"))
            try:
                rows = db.execute("SELECT sealed, name, mime FROM attachments"
                                  " WHERE user_id = ?", (u.id,)).fetchall()
            finally:
                db.close()
            self.assertEqual(len(rows), 2)
            for sealed, name, mime in rows:
                self.assertEqual(sealed, 1)
                self.assertTrue(name.startswith("sealed:") and mime.startswith("sealed:"))
        # the same bytes, names and thumbnail come back opened
        r = self.api.get("/api/attachments/" + atts[0]["id"], token=u.token)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.raw, secret)
        self.assertIn("ledger.txt", r.headers["content-disposition"])
        r = self.api.get("/api/attachments/" + atts[1]["id"], token=u.token)
        self.assertEqual(r.raw, sample("screenshot.png"))
        t = self.api.get("/api/attachments/%s/thumbnail" % atts[1]["id"], token=u.token)
        self.assertEqual(t.status, 200)
        self.assertTrue(t.raw.startswith(b"\x89PNG"))
        names = self.api.get("/api/memories/%s/attachments" % atts[0]["memory_id"],
                             token=u.token).json["attachments"]
        self.assertEqual(names[0]["name"], "ledger.txt")
        r = self.api.get("/api/memories/search?mode=keyword&query=" + word, token=u.token)
        self.assertIn(atts[0]["memory_id"], [m["id"] for m in r.json["memories"]])

    def server_db_has_no(self, needle):
        for path in glob.glob(os.path.join(self.server.data_dir, "personalos.db*")):
            with open(path, "rb") as f:
                self.assertNotIn(needle, f.read(), path)


if __name__ == "__main__":
    unittest.main()
