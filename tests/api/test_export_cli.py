"""Export and import through the command line (issue 14, docs/EXPORT.md).

Memories with every field are made through the API, the server stops,
`personalos export` writes them, `personalos import` reads them into a fresh
account, and the server, started again on the same data, shows the same
memories there (ids aside); a second import adds nothing. The foreign
formats of tests/data/import go in the same way; bad files fail with a
message and write nothing.
"""

import json
import os
import shutil
import sys
import tempfile
import unittest
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Api, Server, run_cli, unique_email  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "import")
FIELDS = ("content", "type", "layer", "source", "created_at", "tags", "importance_score",
          "metadata")


class ExportCliTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        harness.require_local("runs the CLI on the server's data directory")
        cls.dir = tempfile.mkdtemp(prefix="pos-export-")
        cls.data = os.path.join(cls.dir, "data")
        os.mkdir(cls.data, 0o700)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, True)

    def cli(self, *args, ok=True, env=None):
        p = run_cli(list(args) + ["--data", self.data], timeout=120, env=env)
        if ok:
            self.assertEqual(p.returncode, 0, "%r: %s %s" % (args, p.stdout, p.stderr))
        return p

    def memories(self, api, token):
        r = api.get("/api/memories?limit=200&include=conversations", token=token)
        self.assertEqual(r.status, 200)
        return r.json["memories"]

    def test_markdown_export_carries_the_files(self):
        """`personalos export --format markdown` puts each attachment's bytes
        beside its note, at the front matter's `path`."""
        a = unique_email("files")
        data = os.urandom(70 * 1024)
        with Server(data_dir=self.data) as srv:
            api = Api(srv.base_url)
            ta = api.register(a)["access_token"]
            r = api.post("/api/memories", {"content": "Invoice folder"}, token=ta)
            self.assertEqual(r.status, 201, r.raw[:300])
            mid = r.json["id"]
            body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; "
                    b"filename=\"invoice.bin\"\r\nContent-Type: application/octet-stream"
                    b"\r\n\r\n" + data + b"\r\n--XyZ--\r\n")
            r = api.post("/api/memories/%s/attachments" % mid, token=ta, raw=body,
                         headers={"Content-Type": "multipart/form-data; boundary=XyZ"})
            self.assertEqual(r.status, 201, r.raw[:300])
            api.close()
        out = os.path.join(self.dir, "files.zip")
        self.cli("export", "--user", a, "--format", "markdown", "-o", out)
        with zipfile.ZipFile(out) as z:
            note = [n for n in z.namelist() if n.endswith(".md")][0]
            fm = [x for x in z.read(note).decode("utf-8").split("\n")
                  if x.startswith("attachments: ")][0]
            att = json.loads(fm[len("attachments: "):])[0]
            self.assertEqual(att["path"], note[:-3].split("/")[-1] + ".files/invoice.bin")
            self.assertEqual(z.read(note.rsplit("/", 1)[0] + "/" + att["path"]), data)

    def test_round_trip(self):
        a, b = unique_email("a"), unique_email("b")
        with Server(data_dir=self.data) as srv:
            api = Api(srv.base_url)
            ta = api.register(a)["access_token"]
            tb = api.register(b)["access_token"]
            body = {"memories": [
                {"content": "Café ✓ meeting, \"quoted\"\nsecond line", "type": "event",
                 "layer": "working", "tags": ["work", "ünï"], "importance_score": 0.73,
                 "metadata": {"where": {"room": 4, "ok": True, "x": None}},
                 "created_at": "2024-03-01T10:00:00.250000Z"},
                {"content": "plain note", "source": "cli", "tags": []},
                {"content": "日本語のメモ 😀", "type": "action", "layer": "archive",
                 "importance_score": 0.01, "created_at": "2020-01-01T00:00:00Z"},
            ]}
            r = api.post("/api/memories/bulk", body, token=ta)
            self.assertEqual(r.status, 201, r.raw[:300])
            before = self.memories(api, ta)
            api.close()
        out = os.path.join(self.dir, "a.json")
        p = self.cli("export", "--user", a, "--format", "json", "-o", out)
        self.assertIn("exported 3 memories", p.stdout)
        self.assertEqual(os.stat(out).st_mode & 0o777, 0o600)
        with open(out, encoding="utf-8") as f:
            doc = json.load(f)
        self.assertEqual(doc["format"], "personalos-export")
        self.assertEqual(doc["version"], 1)
        self.assertEqual(len(doc["memories"]), 3)

        p = self.cli("import", out, "--user", b)
        self.assertIn("3 added", p.stdout)
        p = self.cli("import", out, "--user", b)
        self.assertIn("0 added, 3 unchanged", p.stdout)

        # the Markdown zip of the same account reads back the same
        zpath = os.path.join(self.dir, "a.zip")
        self.cli("export", "--user", a, "--format", "markdown", "-o", zpath)
        names = zipfile.ZipFile(zpath).namelist()
        self.assertEqual(sum(n.endswith(".md") for n in names), 3)
        self.assertIn("event/Caf-meeting-quoted-", " ".join(names))

        with Server(data_dir=self.data) as srv:
            api = Api(srv.base_url)
            tb = api.login(b)["access_token"]
            after = self.memories(api, tb)
            api.close()
        self.assertEqual(len(after), 3)
        key = lambda m: m["content"]  # noqa: E731
        for x, y in zip(sorted(before, key=key), sorted(after, key=key)):
            for f in FIELDS:
                self.assertEqual(x[f], y[f], f)
            self.assertNotEqual(x["id"], y["id"])

    def test_foreign_formats(self):
        c = unique_email("c")
        with Server(data_dir=self.data) as srv:
            api = Api(srv.base_url)
            api.register(c)
            api.close()
        keep = os.path.join(self.dir, "takeout.zip")
        with zipfile.ZipFile(keep, "w") as z:
            root = os.path.join(DATA, "keep")
            for dirpath, _, files in os.walk(root):
                for name in files:
                    full = os.path.join(dirpath, name)
                    z.write(full, os.path.relpath(full, root))
        for path, added in ((os.path.join(DATA, "chatgpt_conversations.json"), 2),
                            (os.path.join(DATA, "claude_conversations.json"), 2),
                            (os.path.join(DATA, "memories.csv"), 3),
                            (keep, 2)):
            with self.subTest(path=os.path.basename(path)):
                p = self.cli("import", path, "--user", c)
                self.assertIn("%d added" % added, p.stdout)
                p = self.cli("import", path, "--user", c)
                self.assertIn("0 added", p.stdout)

    def test_sealed(self):
        e, f = unique_email("e"), unique_email("f")
        with Server(data_dir=self.data) as srv:
            api = Api(srv.base_url)
            api.register(e)
            api.register(f)
            api.close()
        self.cli("import", os.path.join(DATA, "claude_conversations.json"), "--user", e)
        out = os.path.join(self.dir, "sealed.json")
        env = {"PERSONALOS_EXPORT_PASSPHRASE": "a long passphrase 42"}
        p = self.cli("export", "--user", e, "--format", "json", "--seal", "-o", out, env=env)
        with open(out, "rb") as fh:
            raw = fh.read()
        self.assertTrue(raw.startswith(b"POSSEAL1"))
        self.assertNotIn(b"Garden", raw)
        p = self.cli("import", out, "--user", f, ok=False,
                     env={"PERSONALOS_EXPORT_PASSPHRASE": "the wrong one 42"})
        self.assertEqual(p.returncode, 1)
        self.assertIn("wrong passphrase", p.stderr)
        p = self.cli("import", out, "--user", f, env=env)
        self.assertIn("2 added", p.stdout)
        # --seal without a passphrase is a usage error
        p = run_cli(["export", "--user", e, "--format", "json", "--seal", "-o", out,
                     "--data", self.data], env={"PERSONALOS_EXPORT_PASSPHRASE": ""})
        self.assertNotEqual(p.returncode, 0)

    def test_bad_files(self):
        d = unique_email("d")
        with Server(data_dir=self.data) as srv:
            api = Api(srv.base_url)
            api.register(d)
            api.close()
        # a zip with a path out of it
        evil = os.path.join(self.dir, "evil.zip")
        with zipfile.ZipFile(evil, "w") as z:
            z.writestr("ok.md", "fine")
            z.writestr("../evil.md", "x")
        p = self.cli("import", "obsidian", evil, "--user", d, ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("..", p.stderr)
        self.assertIn("0 added", p.stdout)
        # the wrong format
        p = self.cli("import", "json", os.path.join(DATA, "memories.csv"), "--user", d, ok=False)
        self.assertEqual(p.returncode, 1)
        # an unknown export format is a usage error
        p = self.cli("export", "--user", d, "--format", "xml", "-o",
                     os.path.join(self.dir, "x"), ok=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("json, jsonl, markdown or csv", p.stderr)


if __name__ == "__main__":
    unittest.main()
