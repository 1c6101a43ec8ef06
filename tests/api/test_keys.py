"""Server keys live in DATA/keys (0600), never in the database; data files
are 0600 and the data directory 0700; an instance of the older layout (keys
in the table server_keys) is migrated at start (docs/SECURITY.md, "Keys and
file permissions")."""

import base64
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

DB = "personalos.db"


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def b64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def read_keys(data_dir):
    with open(os.path.join(data_dir, "keys")) as f:
        doc = json.load(f)
    return doc


def db_bytes(data_dir):
    out = b""
    for suffix in ("", "-wal", "-shm"):
        p = os.path.join(data_dir, DB + suffix)
        if os.path.exists(p):
            with open(p, "rb") as f:
                out += f.read()
    return out


class KeysTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        harness.require_local("reads the data directory")
        harness.require_binary()

    def setUp(self):
        self.data_dir = tempfile.mkdtemp(prefix="pos-keys-")
        self.addCleanup(shutil.rmtree, self.data_dir, True)
        self.server = None

    def tearDown(self):
        if self.server is not None:
            self.server.stop()

    def start(self, env=None):
        self.server = harness.Server(data_dir=self.data_dir, env=env).start()
        self.api = harness.Api(self.server.base_url)
        self.addCleanup(self.api.close)
        return self.server

    def stop(self):
        self.api.close()
        self.server.stop()
        self.server = None

    def user_and_memory(self):
        answer = self.api.register(harness.unique_email())
        token = answer["access_token"]
        r = self.api.post("/api/memories", {"content": "a memory"}, token=token)
        self.assertEqual(r.status, 201, r.raw[:300])
        return token

    def assert_modes(self):
        self.assertEqual(mode(self.data_dir), 0o700)
        self.assertEqual(mode(os.path.join(self.data_dir, "keys")), 0o600)
        for suffix in ("", "-wal", "-shm"):
            p = os.path.join(self.data_dir, DB + suffix)
            if os.path.exists(p):
                self.assertEqual(mode(p), 0o600, p)

    def assert_no_key_in_db(self, keys):
        data = db_bytes(self.data_dir)
        self.assertTrue(keys)
        for name, raw in keys.items():
            self.assertGreaterEqual(len(raw), 16, name)
            self.assertNotIn(raw, data, "key %s is in the database files" % name)

    def test_fresh_instance_keeps_keys_in_a_0600_file(self):
        self.start()
        token = self.user_and_memory()
        self.assert_modes()
        doc = read_keys(self.data_dir)
        keys = {k: b64url(v) for k, v in doc["keys"].items()}
        self.assertIn("access_token_mac", keys)
        self.assert_no_key_in_db(keys)
        # The keys stay the same across a restart: the token still works.
        self.stop()
        self.start()
        self.assertEqual(self.api.get("/api/auth/me", token=token).status, 200)
        self.assertEqual(read_keys(self.data_dir)["keys"], doc["keys"])

    def test_keys_in_the_database_are_moved_out(self):
        # An instance of the older layout: the keys in server_keys, no key
        # file, files and directory readable by others.
        self.start()
        token = self.user_and_memory()
        self.stop()
        keys = {k: b64url(v) for k, v in read_keys(self.data_dir)["keys"].items()}
        os.unlink(os.path.join(self.data_dir, "keys"))
        db = sqlite3.connect(os.path.join(self.data_dir, DB))
        with db:
            for name, raw in keys.items():
                db.execute("INSERT INTO server_keys(name, value, created_at) "
                           "VALUES (?, ?, 0)", (name, raw))
        db.close()
        self.assertIn(keys["access_token_mac"], db_bytes(self.data_dir))
        os.chmod(self.data_dir, 0o755)
        os.chmod(os.path.join(self.data_dir, DB), 0o644)

        self.start()
        # The same keys, now in the file: tokens made before still verify.
        self.assertEqual(self.api.get("/api/auth/me", token=token).status, 200)
        moved = {k: b64url(v) for k, v in read_keys(self.data_dir)["keys"].items()}
        for name, raw in keys.items():
            self.assertEqual(moved[name], raw, name)
        self.assert_modes()
        self.assert_no_key_in_db(keys)
        self.stop()
        self.assert_no_key_in_db(keys)
        db = sqlite3.connect(os.path.join(self.data_dir, DB))
        n = db.execute("SELECT count(*) FROM server_keys").fetchone()[0]
        db.close()
        self.assertEqual(n, 0)

    def test_master_key_seals_the_key_file(self):
        self.start()
        token = self.user_and_memory()
        self.stop()
        plain = {k: b64url(v) for k, v in read_keys(self.data_dir)["keys"].items()}
        secrets_dir = tempfile.mkdtemp(prefix="pos-master-")
        self.addCleanup(shutil.rmtree, secrets_dir, True)
        master = os.path.join(secrets_dir, "master")
        with open(master, "w") as f:
            f.write(base64.b64encode(os.urandom(32)).decode() + "\n")
        env = {"PERSONALOS_MASTER_KEY_FILE": master}

        # A plain key file is sealed by the first start with a master key.
        self.start(env)
        self.assertEqual(self.api.get("/api/auth/me", token=token).status, 200)
        doc = read_keys(self.data_dir)
        self.assertNotIn("keys", doc)
        self.assertIn("sealed", doc)
        text = open(os.path.join(self.data_dir, "keys"), "rb").read()
        for raw in plain.values():
            self.assertNotIn(base64.urlsafe_b64encode(raw).rstrip(b"="), text)
            self.assertNotIn(raw, text)
        self.assert_modes()
        self.stop()

        # Without the master key, or with another one, the server refuses.
        with self.assertRaises(harness.ServerError):
            harness.Server(data_dir=self.data_dir).start()
        other = os.path.join(secrets_dir, "other")
        with open(other, "w") as f:
            f.write("x" * 40)
        with self.assertRaises(harness.ServerError):
            harness.Server(data_dir=self.data_dir,
                           env={"PERSONALOS_MASTER_KEY_FILE": other}).start()
        short = os.path.join(secrets_dir, "short")
        with open(short, "w") as f:
            f.write("too short")
        with self.assertRaises(harness.ServerError):
            harness.Server(data_dir=self.data_dir,
                           env={"PERSONALOS_MASTER_KEY_FILE": short}).start()

        self.start(env)
        self.assertEqual(self.api.get("/api/auth/me", token=token).status, 200)

    def test_cli_tightens_an_older_data_directory(self):
        self.start()
        self.user_and_memory()
        self.stop()
        os.chmod(self.data_dir, 0o755)
        os.chmod(os.path.join(self.data_dir, DB), 0o644)
        os.chmod(os.path.join(self.data_dir, "keys"), 0o644)
        out = subprocess.run([harness.require_binary(), "doctor", "--data", self.data_dir],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr[-2000:])
        self.assert_modes()


if __name__ == "__main__":
    unittest.main()
