"""Search results say where in a file the query matched (issue 21;
docs/FILES.md "Where a search matched"): `match` {attachment_id, name,
page, line, marks} on a hit whose words were found in an attachment's
text — the committed PDF with a phrase on page 4, a note's attached text
file, an encrypted user's PDF (opened in memory only), a memory shared
with the caller — and no `match` for a hit in the memory's own text, or
for anyone who cannot read the memory."""

import os
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SAMPLES = os.path.join(harness.REPO_ROOT, "tests", "data", "files")


def sample(name):
    with open(os.path.join(SAMPLES, name), "rb") as f:
        return f.read()


def q(s):
    return urllib.parse.quote(s)


def marked(match):
    """The marked spans of a match's line (marks are code points)."""
    return [match["line"][a:b] for a, b in match["marks"]]


class FilesMatchTest(harness.ApiTestCase):

    def upload_pdf(self, token):
        r = self.api.post("/api/files?name=report.pdf", token=token, raw=sample("report.pdf"),
                          headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(r.status, 201, r.raw[:300])
        att = r.json["attachments"][0]
        self.assertIsNotNone(harness.poll(lambda: self.get_memory(
            token, r.json["id"])["attachments"][0]["text_status"] == "done" or None),
            "the PDF's text was not extracted")
        return r.json["id"], att

    def search(self, token, query, extra=""):
        r = self.api.get("/api/memories/search?mode=keyword&query=%s%s" % (q(query), extra),
                         token=token)
        self.assertEqual(r.status, 200, r.raw[:300])
        return {m["id"]: m for m in r.json["memories"]}

    def check_page_four(self, token, memory_id, att, extra=""):
        hits = self.search(token, "pelican migration", extra)
        self.assertIn(memory_id, hits)
        m = hits[memory_id]["match"]
        self.assertEqual(m["attachment_id"], att["id"])
        self.assertEqual(m["name"], "report.pdf")
        self.assertEqual(m["page"], 4)
        self.assertIn("pelican migration", m["line"].lower())
        self.assertNotIn("[page", m["line"])
        self.assertLessEqual(len(m["line"]), 160)
        self.assertEqual([s.lower() for s in marked(m)], ["pelican", "migration"])
        # a phrase is one mark
        m = self.search(token, '"pelican migration"', extra)[memory_id]["match"]
        self.assertEqual(m["page"], 4)
        self.assertEqual([s.lower() for s in marked(m)], ["pelican migration"])

    def test_pdf_phrase_on_page_four(self):
        u = self.new_user()
        mid, att = self.upload_pdf(u.token)
        self.check_page_four(u.token, mid, att)
        # the other pages are found with theirs; hybrid mode says the same
        hits = self.search(u.token, "second figures")
        self.assertEqual(hits[mid]["match"]["page"], 2)
        r = self.api.get("/api/memories/search?query=pelican", token=u.token)
        self.assertEqual(r.status, 200)
        got = {m["id"]: m for m in r.json["memories"]}
        self.assertEqual(got[mid]["match"]["page"], 4)
        # the file's name is not a line of its text
        hits = self.search(u.token, "report.pdf")
        self.assertNotIn("match", hits.get(mid, {}))
        # another user finds nothing, and no line of it
        other = self.new_user()
        r = self.api.get("/api/memories/search?mode=keyword&query=pelican", token=other.token)
        self.assertEqual(r.json["memories"], [])
        self.assertNotIn(b"pelican", r.raw.lower())

    def test_note_with_an_attached_text_file(self):
        u = self.new_user()
        mem = self.create_memory(u.token, "harbour trip planning")
        r = self.api.post("/api/memories/%s/attachments?name=plan.txt" % mem["id"], token=u.token,
                          raw=b"day one: the ferry at nine\nday two: the lighthouse tour\n",
                          headers={"Content-Type": "text/plain"})
        self.assertEqual(r.status, 201, r.raw[:300])
        att = r.json
        self.assertIsNotNone(harness.poll(lambda: "lighthouse" in self.get_memory(
            u.token, mem["id"])["content"] or None))
        m = self.search(u.token, "lighthouse")[mem["id"]]["match"]
        self.assertEqual(m["attachment_id"], att["id"])
        self.assertEqual(m["name"], "plan.txt")
        self.assertIsNone(m["page"])
        self.assertEqual(m["line"], "day two: the lighthouse tour")
        self.assertEqual(marked(m), ["lighthouse"])
        # a hit in the note's own words is not a file match
        hits = self.search(u.token, "harbour planning")
        self.assertIn(mem["id"], hits)
        self.assertNotIn("match", hits[mem["id"]])
        # the attachment gone, the text stays in the content but no match names it
        self.assertEqual(self.api.delete("/api/attachments/" + att["id"], token=u.token).status,
                         204)
        hits = self.search(u.token, "lighthouse")
        self.assertNotIn("match", hits.get(mem["id"], {}))

    def test_encrypted_user(self):
        u = self.new_user()
        r = self.api.post("/api/auth/encryption", {"password": u.password}, token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        mid, att = self.upload_pdf(u.token)
        self.check_page_four(u.token, mid, att)

    def test_shared_memory(self):
        owner, bob, eve = self.new_user(), self.new_user(), self.new_user()
        mid, att = self.upload_pdf(owner.token)
        r = self.api.post("/api/memories/%s/share" % mid, {"emails": [bob.email]},
                          token=owner.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.check_page_four(bob.token, mid, att, "&include_shared=true")
        r = self.api.get("/api/memories/search?mode=keyword&include_shared=true&query=pelican",
                         token=eve.token)
        self.assertEqual(r.status, 200)
        self.assertNotIn(b"pelican", r.raw.lower())


if __name__ == "__main__":
    unittest.main()
