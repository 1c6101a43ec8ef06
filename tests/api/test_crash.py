"""Crash safety: kill -9 during concurrent writes loses nothing acknowledged.

A few rounds of tests/api/crashdrill.py (the long run, 100 rounds, is
bench/crash_drill.py). Each round: writers for create, bulk, update,
delete, share and sync upload (a plain and an encryption-at-rest user),
SIGKILL at a random moment, `personalos doctor` on the crashed store,
restart, and every 2xx-acknowledged write checked.
"""

import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import crashdrill  # noqa: E402

ROUNDS = int(os.environ.get("POS_CRASH_ROUNDS", "3"))


class CrashTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        harness.require_local("kills its own server")
        harness.require_binary()

    def test_kill_9_loses_no_acknowledged_write(self):
        data_dir = tempfile.mkdtemp(prefix="pos-crash-")
        self.addCleanup(shutil.rmtree, data_dir, True)
        d = crashdrill.run_rounds(data_dir, ROUNDS, seed=19, log=lambda *a: None)
        # The drill did real work each round, so the checks above meant something.
        self.assertGreater(d.ledger.acked, ROUNDS * 5)
        self.assertGreaterEqual(d.doctor_runs, ROUNDS + 1)
        self.assertTrue(d.ledger.batches and d.ledger.deleted and d.ledger.shared,
                        "every kind of write was acknowledged at least once")

    def test_doctor_finds_a_broken_fulltext_index(self):
        # The drill trusts doctor; prove doctor fails on an index that disagrees
        # with the rows (a memory's FTS entry removed behind the store's back).
        data_dir = tempfile.mkdtemp(prefix="pos-crash-doc-")
        self.addCleanup(shutil.rmtree, data_dir, True)
        with harness.Server(data_dir=data_dir, external_ok=False) as srv:
            api = harness.Api(srv.base_url)
            tok = api.register()["access_token"]
            r = api.post("/api/memories", {"content": "the index will forget me"}, token=tok)
            self.assertEqual(r.status, 201)
            api.close()
        p = harness.run_cli(["doctor", "--data", data_dir])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        import sqlite3
        db = sqlite3.connect(os.path.join(data_dir, "personalos.db"))
        # The index's tokenizer ("pos", docs/SEARCH.md "Languages") lives in
        # the server, not in Python's SQLite: change the text with the
        # trigger that would re-index it out of the way instead.
        seq = db.execute("SELECT seq FROM memories").fetchone()[0]
        db.execute("DROP TRIGGER memories_fts_au")
        db.execute("UPDATE memories SET content = 'the index never saw this' WHERE seq = ?",
                   (seq,))
        db.commit()
        db.close()
        p = harness.run_cli(["doctor", "--data", data_dir])
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("full-text index", p.stdout)
        self.assertIn("To restore", p.stderr)


if __name__ == "__main__":
    unittest.main()
