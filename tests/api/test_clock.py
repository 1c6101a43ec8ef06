"""Clock jumps (issue 19, docs/OPERATIONS.md "Faults"): the server runs
under libfaketime with its wall clock moved at run time (the monotonic
clock is left alone, as when an administrator or NTP sets the time), and
tokens, writes, the schedule and sync cursors keep working.

- set back 3 minutes: an access token issued "in the future" is still
  accepted (within the 5-minute leeway); writes and reads work;
- set back 2 hours: the access token is refused (it would outlive its TTL
  by the jump), its refresh token still works and so does the new access
  token; a markdown folder source syncs new and changed notes (its cursor
  is the files' state, not the local time);
- set forward 2 hours: the access token has expired, refreshing works.

The jump is seen through the HTTP Date header before anything is asserted:
no timing assertions. Skips when libfaketime is not installed (Debian
package libfaketime, scripts/install-deps).
"""

import email.utils
import os
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

FAKETIME_LIBS = ("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
                 "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
                 "/usr/lib/faketime/libfaketime.so.1")


def faketime_lib():
    for p in FAKETIME_LIBS:
        if os.path.exists(p):
            return p
    return None


class ClockJumpTest(harness.ApiTestCase):
    @classmethod
    def setUpClass(cls):
        lib = faketime_lib()
        if not lib:
            raise unittest.SkipTest("libfaketime is not installed")
        harness.require_local("runs its own server under libfaketime")
        binary = harness.pos_bin()
        with open(binary, "rb") if binary and os.path.exists(binary) else open(os.devnull, "rb") as f:
            if b"__asan_init" in f.read():
                # libfaketime and the sanitizer runtime both interpose the
                # clock and allocator entry points; the plain build runs it.
                raise unittest.SkipTest("not under the sanitizer build")
        cls.tmp = tempfile.mkdtemp(prefix="pos-clock-")
        cls.offset_file = os.path.join(cls.tmp, "faketime")
        cls.set_offset("+0")
        cls.root = os.path.join(cls.tmp, "root")
        os.makedirs(cls.root)
        asan = os.environ.get("ASAN_OPTIONS", "")
        cls.server_env = {
            "LD_PRELOAD": lib,
            "FAKETIME_TIMESTAMP_FILE": cls.offset_file,
            "FAKETIME_CACHE_DURATION": "1",      # re-read the offset every second
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            # the sanitizer build: its runtime need not come first
            "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0",
            "PERSONALOS_ACCESS_TTL": "900",
            "PERSONALOS_SYNC_FILE_ROOT": cls.root,
        }
        try:
            super().setUpClass()
        except BaseException:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def set_offset(cls, spec):
        with open(cls.offset_file + ".new", "w") as f:
            f.write(spec + "\n")
        os.replace(cls.offset_file + ".new", cls.offset_file)

    def server_skew(self):
        """The server's wall clock minus ours, in seconds (Date header)."""
        r = self.api.get("/health")
        self.assertEqual(r.status, 200)
        date = r.headers.get("date")
        self.assertIsNotNone(date, "no Date header")
        return email.utils.parsedate_to_datetime(date).timestamp() - time.time()

    def jump(self, spec, lo, hi):
        """Moves the server's clock and waits until its Date shows a skew
        between lo and hi seconds."""
        self.set_offset(spec)
        got = harness.poll(lambda: lo <= self.server_skew() <= hi or None, timeout=30)
        self.assertTrue(got, "the server's clock did not move to %s" % spec)

    def refresh(self, refresh_token):
        r = self.api.post("/api/auth/refresh", {"refresh_token": refresh_token})
        self.assertEqual(r.status, 200, r.raw[:300])
        return r.json["access_token"], r.json["refresh_token"]

    def sync_and_wait(self, token, source_id):
        def idle():
            r = self.api.get("/api/sync/status", token=token)
            self.assertEqual(r.status, 200, r.raw[:300])
            s = [x for x in r.json["sources"] if x["id"] == source_id][0]
            return s if s["job"] is None and s["status"] not in ("idle", "running") else None
        self.assertIsNotNone(harness.poll(idle, timeout=30))
        before = idle()["last_run"]
        r = self.api.post("/api/sync/start", {"source_id": source_id}, token=token)
        self.assertEqual(r.status, 202, r.raw[:300])
        done = harness.poll(lambda: (lambda s: s if s and s["last_run"] != before else None)(
            idle()), timeout=30)
        self.assertIsNotNone(done, "the sync run did not finish")
        return done

    def notes(self, token):
        r = self.api.get("/api/memories?limit=200&source=markdown_dir", token=token)
        self.assertEqual(r.status, 200, r.raw[:300])
        return {m["content"] for m in r.json["memories"]}

    def write_note(self, user_id, name, text):
        d = os.path.join(self.root, user_id, "notes")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, name), "w") as f:
            f.write(text)

    def test_tokens_writes_and_sync_survive_wall_clock_jumps(self):
        self.set_offset("+0")
        self.jump("+0", -60, 60)
        u = self.new_user()
        access, refresh = u.token, u.answer["refresh_token"]
        first = self.create_memory(access, "written before the jumps")
        self.write_note(u.id, "a.md", "# Alpha\n\nthe first note\n")
        r = self.api.post("/api/sync/sources", {"kind": "markdown_dir",
                                                "config": {"path": "notes"},
                                                "interval_s": 0}, token=access)
        self.assertEqual(r.status, 201, r.raw[:300])
        source = r.json["id"]
        self.sync_and_wait(access, source)
        self.assertTrue(any("the first note" in c for c in self.notes(access)))

        # Back 3 minutes: the token was issued "in the future", within the leeway.
        self.jump("-3m", -240, -120)
        self.assertEqual(self.get_memory(access, first["id"])["content"],
                         "written before the jumps")
        second = self.create_memory(access, "written 3 minutes in the past")
        self.assertGreaterEqual(self.api.get("/health").json["uptime_s"], 0)

        # Back 2 hours: past the leeway, the access token goes; the refresh
        # token (a row with an absolute expiry) still works.
        self.jump("-2h", -7300, -7100)
        r = self.api.get("/api/memories/" + first["id"], token=access)
        self.assert_error(r, 401, "unauthorized")
        access, refresh = self.refresh(refresh)
        self.assertEqual(self.get_memory(access, second["id"])["content"],
                         "written 3 minutes in the past")
        third = self.create_memory(access, "written 2 hours in the past")
        # The folder source: a new note and a changed one are both found.
        self.write_note(u.id, "b.md", "# Beta\n\nthe second note\n")
        self.write_note(u.id, "a.md", "# Alpha\n\nthe first note, edited\n")
        self.sync_and_wait(access, source)
        contents = self.notes(access)
        self.assertTrue(any("the second note" in c for c in contents), contents)
        self.assertTrue(any("the first note, edited" in c for c in contents), contents)
        self.assertGreaterEqual(self.api.get("/health").json["uptime_s"], 0)

        # Forward 2 hours: the access token (15 minutes) has expired;
        # refreshing works and everything written is there.
        self.jump("+2h", 7100, 7300)
        r = self.api.get("/api/memories/" + third["id"], token=access)
        self.assert_error(r, 401, "unauthorized")
        access, refresh = self.refresh(refresh)
        for m in (first, second, third):
            self.assertEqual(self.get_memory(access, m["id"])["id"], m["id"])
        self.assertEqual(self.memory_count(access), 3 + len(self.notes(access)))


if __name__ == "__main__":
    unittest.main()
