"""A database written by an older build is upgraded in place on start.

The fixture tests/api/data/schema_v1.sql holds the version-1 schema and data:
a user and memories with tags. If it has a line
    -- login: EMAIL PASSWORD
the test logs in with those; otherwise it gives the fixture's first user with
memories a password hash made by the current build (copied from a user it
registers on a scratch server), so the fixture needs no known password.
"""

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

FIXTURE = os.path.join(harness.DATA_DIR, "schema_v1.sql")
DB_NAME = "personalos.db"


def columns(db, table):
    return [row[1] for row in db.execute("PRAGMA table_info(%s)" % table)]


def tables(db):
    return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def schema_version(db):
    """Highest version in schema_migrations (None if the table is missing)."""
    if "schema_migrations" not in tables(db):
        return None
    cols = columns(db, "schema_migrations")
    col = "version" if "version" in cols else cols[0]
    return db.execute("SELECT max(%s) FROM schema_migrations" % col).fetchone()[0]


def password_column(db):
    cols = columns(db, "users")
    if "password_hash" in cols:
        return "password_hash"
    for c in cols:
        if "password" in c:
            return c
    raise AssertionError("users table has no password column: %r" % cols)


def tags_by_memory(db):
    """{memory_id: [tags]} as the version-1 database stores them, or None."""
    cols = columns(db, "memories")
    if "tags" in cols:
        out = {}
        for mid, raw in db.execute("SELECT id, tags FROM memories"):
            if raw is None or raw == "":
                out[str(mid)] = []
                continue
            try:
                value = json.loads(raw)
            except (TypeError, ValueError):
                value = [t.strip() for t in str(raw).split(",") if t.strip()]
            out[str(mid)] = list(value)
        return out
    for t in sorted(tables(db)):
        if "tag" not in t or t.startswith("memories_fts"):
            continue
        tcols = columns(db, t)
        tag_col = next((c for c in ("tag", "name", "value") if c in tcols), None)
        if "memory_id" in tcols and tag_col:
            out = {}
            for mid, tag in db.execute("SELECT memory_id, %s FROM %s ORDER BY rowid"
                                       % (tag_col, t)):
                out.setdefault(str(mid), []).append(tag)
            return out
    return None


class MigrationTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        harness.require_local("writes a database file for the server")
        if not os.path.exists(FIXTURE):
            raise unittest.SkipTest("fixture %s does not exist yet"
                                    % os.path.relpath(FIXTURE, harness.REPO_ROOT))
        harness.require_binary()
        with open(FIXTURE, encoding="utf-8") as f:
            cls.fixture_sql = f.read()
        cls.login_line = re.search(r"^--\s*login:\s*(\S+)\s+(.+?)\s*$", cls.fixture_sql, re.M)

        # What a database made by this build looks like, and a password hash
        # this build accepts.
        scratch = harness.Server().start()
        cls.scratch_password = "migration password 42"
        try:
            api = harness.Api(scratch.base_url)
            reg = api.register(harness.unique_email("scratch"), cls.scratch_password)
            api.close()
        finally:
            scratch_dir = scratch.data_dir
            scratch.own_data = False
            scratch.stop()
        try:
            db = sqlite3.connect(os.path.join(scratch_dir, DB_NAME))
            cls.latest_version = schema_version(db)
            col = password_column(db)
            cls.scratch_hash = db.execute("SELECT %s FROM users WHERE id = ?" % col,
                                          (reg["user"]["id"],)).fetchone()[0]
            db.close()
        finally:
            shutil.rmtree(scratch_dir, ignore_errors=True)
        if cls.latest_version is None:
            raise AssertionError("a fresh database has no schema_migrations table")

    def setUp(self):
        self.data_dir = tempfile.mkdtemp(prefix="pos-migrate-")
        self.addCleanup(shutil.rmtree, self.data_dir, True)
        self.db_path = os.path.join(self.data_dir, DB_NAME)
        db = sqlite3.connect(self.db_path)
        db.executescript(self.fixture_sql)
        db.commit()
        self.old_version = schema_version(db)
        if self.old_version is None:
            self.old_version = db.execute("PRAGMA user_version").fetchone()[0]
        # The fixture's user with the most memories.
        row = db.execute("SELECT u.id, u.email, count(m.id) AS n FROM users u "
                         "JOIN memories m ON m.user_id = u.id "
                         "GROUP BY u.id ORDER BY n DESC LIMIT 1").fetchone()
        self.assertIsNotNone(row, "the fixture has no user with memories")
        self.user_id, self.email, self.old_count = str(row[0]), row[1], row[2]
        self.old_contents = sorted(r[0] for r in db.execute(
            "SELECT content FROM memories WHERE user_id = ?", (row[0],)))
        all_tags = tags_by_memory(db)
        own_ids = [str(r[0]) for r in db.execute(
            "SELECT id FROM memories WHERE user_id = ?", (row[0],))]
        self.old_tags = None if all_tags is None else {i: all_tags.get(i, []) for i in own_ids}
        if self.login_line and self.login_line.group(1).lower() == self.email.lower():
            self.password = self.login_line.group(2)
        else:
            db.execute("UPDATE users SET %s = ? WHERE id = ?" % password_column(db),
                       (self.scratch_hash, row[0]))
            db.commit()
            self.password = self.scratch_password
        db.close()
        self.server = None

    def tearDown(self):
        if self.server is not None:
            server, self.server = self.server, None
            server.stop()

    def start(self):
        self.server = harness.Server(data_dir=self.data_dir).start()
        api = harness.Api(self.server.base_url)
        self.addCleanup(api.close)
        return api

    def stop(self):
        server, self.server = self.server, None
        server.stop()  # asserts exit code 0 after SIGTERM

    def all_memories(self, api, token, query=""):
        out, offset = [], 0
        while True:
            r = api.get("/api/memories?limit=200&offset=%d%s" % (offset, query), token=token)
            self.assertEqual(r.status, 200, r.raw[:300])
            out.extend(r.json["memories"])
            if not r.json["has_more"]:
                return out
            offset += 200

    def test_old_database_is_upgraded(self):
        self.assertLess(self.old_version or 0, self.latest_version,
                        "the fixture is not older than this build's schema")
        api = self.start()
        token = api.login(self.email, self.password)["access_token"]
        me = api.get("/api/auth/me", token=token)
        self.assertEqual(me.status, 200, me.raw[:300])
        self.assertEqual(me.json["id"], self.user_id)
        self.assertEqual(me.json["total_memories"], self.old_count)

        memories = self.all_memories(api, token)
        self.assertEqual(len(memories), self.old_count)
        self.assertEqual(sorted(m["content"] for m in memories), self.old_contents)
        for m in memories:
            self.assertEqual(m["user_id"], self.user_id)
            self.assertRegex(m["created_at"], harness.TIMESTAMP_RE)
        if self.old_tags is not None:
            got = {m["id"]: m["tags"] for m in memories}
            self.assertEqual(got, self.old_tags)

        # The tag filter works on migrated rows.
        tagged = {}
        for m in memories:
            for t in m["tags"]:
                tagged.setdefault(t, set()).add(m["id"])
        self.assertTrue(tagged, "no memory kept its tags through the migration")
        for tag, expected in sorted(tagged.items()):
            with self.subTest(tag=tag):
                q = "&tag=" + urllib.parse.quote(tag, safe="")
                found = {m["id"] for m in self.all_memories(api, token, q)}
                self.assertEqual(found, expected)

        # Reads, writes and new features work on the upgraded store.
        one = memories[0]["id"]
        r = api.get("/api/memories/" + one, token=token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(r.json["access_count"], memories[0]["access_count"] + 1)
        first_tag = sorted(tagged)[0]
        r = api.post("/api/memories", {"content": "after migration", "tags": [first_tag]},
                     token=token)
        self.assertEqual(r.status, 201, r.raw[:300])
        new_id = r.json["id"]
        found = {m["id"] for m in self.all_memories(
            api, token, "&tag=" + urllib.parse.quote(first_tag, safe=""))}
        self.assertEqual(found, tagged[first_tag] | {new_id})
        self.stop()

        db = sqlite3.connect(self.db_path)
        self.assertEqual(schema_version(db), self.latest_version)
        db.close()

        # Starting again on the upgraded database is a no-op migration.
        api = self.start()
        token = api.login(self.email, self.password)["access_token"]
        self.assertEqual(len(self.all_memories(api, token)), self.old_count + 1)
        self.stop()
        db = sqlite3.connect(self.db_path)
        self.assertEqual(schema_version(db), self.latest_version)
        db.close()


class NewerSchemaTest(unittest.TestCase):
    """A database from a newer build is refused, not damaged."""

    def test_newer_database_is_refused(self):
        harness.require_local("writes a database file for the server")
        binary = harness.require_binary()
        data_dir = tempfile.mkdtemp(prefix="pos-newer-")
        self.addCleanup(shutil.rmtree, data_dir, True)
        server = harness.Server(data_dir=data_dir).start()
        api = harness.Api(server.base_url)
        email = harness.unique_email("newer")
        api.register(email)
        api.close()
        server.stop()
        path = os.path.join(data_dir, DB_NAME)
        db = sqlite3.connect(path)
        version = schema_version(db)
        cols = columns(db, "schema_migrations")
        values = [9999] + ["from the future" if c == "name" else 0 for c in cols[1:]]
        db.execute("INSERT INTO schema_migrations (%s) VALUES (%s)"
                   % (", ".join(cols), ", ".join("?" * len(cols))), values)
        db.commit()
        db.close()
        try:
            p = subprocess.run([binary, "serve", "--listen", "127.0.0.1:%d" % harness.free_port(),
                                "--data", data_dir], capture_output=True, text=True, timeout=15)
        except subprocess.TimeoutExpired:
            self.fail("the server ran on a database with schema version 9999")
        self.assertNotEqual(p.returncode, 0)
        self.assertTrue(p.stderr.strip(), "no message on stderr")
        db = sqlite3.connect(path)
        self.assertEqual(schema_version(db), 9999)
        self.assertEqual(db.execute("SELECT count(*) FROM users WHERE email = ?",
                                    (email.lower(),)).fetchone()[0], 1)
        db.execute("DELETE FROM schema_migrations WHERE version = 9999")
        db.commit()
        self.assertEqual(schema_version(db), version)
        db.close()
        # Once the row is gone, the same files serve again.
        with harness.Server(data_dir=data_dir) as server:
            api = harness.Api(server.base_url)
            api.login(email)
            api.close()


if __name__ == "__main__":
    unittest.main()
