"""Several instances on one PostgreSQL store (issue 18).

Runs only with POS_TEST_STORE=postgres://... (ctest api/pg, or
`python3 tests/api/pgserver.py run -- python3 -m unittest tests/api/test_pg_store.py`);
skipped otherwise. Two servers on a fresh database started at the same
moment both come up and the schema is applied once; a token issued by one
is honoured by the other (the server keys are shared in the database), and
a refresh token rotated through one is dead on the other.
"""

import os
import subprocess
import sys
import threading
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import pgserver  # noqa: E402


def _psql_scalar(url, sql):
    u = urllib.parse.urlsplit(url)
    out = subprocess.run(
        ["psql", "-X", "-A", "-t", "-h", u.hostname, "-p", str(u.port), "-U", u.username,
         "-d", u.path.lstrip("/"), "-c", sql],
        check=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE).stdout
    return out.decode().strip()


@unittest.skipUnless(os.environ.get("POS_TEST_STORE", "").startswith("postgres"),
                     "needs POS_TEST_STORE=postgres://... (tests/api/pgserver.py)")
class TwoInstancesTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        harness.require_binary()
        harness.require_local()
        cls.url = pgserver.create_database(os.environ["POS_TEST_STORE"])
        env = {"PERSONALOS_STORE": cls.url}
        cls.servers = [harness.Server(env=env, external_ok=False) for _ in range(2)]
        errors = []

        def start(s):
            try:
                s.start()
            except Exception as e:  # reported below, with the server's stderr
                errors.append(e)

        threads = [threading.Thread(target=start, args=(s,)) for s in cls.servers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            for s in cls.servers:
                s.stop(check=False)
            raise errors[0]

    @classmethod
    def tearDownClass(cls):
        for s in cls.servers:
            s.stop()

    def api(self, i):
        a = harness.Api(self.servers[i].base_url)
        self.addCleanup(a.close)
        return a

    def test_schema_applied_once(self):
        # every version of src/store/pg.c's list, each once (newest: 4)
        self.assertEqual(_psql_scalar(self.url, "SELECT count(*) FROM schema_version"), "4")
        self.assertEqual(_psql_scalar(self.url, "SELECT max(version) FROM schema_version"), "4")

    def test_token_from_one_instance_works_on_the_other(self):
        a, b = self.api(0), self.api(1)
        email = harness.unique_email("pg")
        reg = a.register(email)
        me = b.get("/api/auth/me", token=reg["access_token"])
        self.assertEqual(me.status, 200, me.raw)
        self.assertEqual(me.json["email"], email)
        # a refresh rotated through b is spent for a as well
        old = reg["refresh_token"]
        r2 = b.post("/api/auth/refresh", {"refresh_token": old})
        self.assertEqual(r2.status, 200, r2.raw)
        replay = a.post("/api/auth/refresh", {"refresh_token": old})
        self.assertEqual(replay.status, 401, replay.raw)
        # ... and the replay revoked the session on both
        again = b.post("/api/auth/refresh", {"refresh_token": r2.json["refresh_token"]})
        self.assertEqual(again.status, 401, again.raw)

    def test_server_keys_live_in_the_database(self):
        n = int(_psql_scalar(self.url, "SELECT count(*) FROM server_keys"))
        self.assertGreaterEqual(n, 1)
        for s in self.servers:
            self.assertFalse(os.path.exists(os.path.join(s.data_dir, "keys")),
                             "a PostgreSQL instance wrote a key file")
            self.assertFalse(os.path.exists(os.path.join(s.data_dir, "personalos.db")),
                             "a PostgreSQL instance made a SQLite database")


if __name__ == "__main__":
    unittest.main()
