#!/usr/bin/env python3
"""Backup drill (issue 19): an online backup taken while writers write
restores to a store that passes `doctor --full` and the API suite.

  python3 bench/backup_drill.py --bin build/personalos [--memories 2000]
      [--writers 4] [--suite tests/api] [--keep]

Steps, each one checked (exit status 1 on the first failure):
1. a server on a fresh data directory; one user with --memories memories;
2. --writers threads create memories (one by one and in bulks of 20) while
   `personalos backup DEST` runs against the live data directory; every
   write acknowledged before the backup began is recorded;
3. the server stops; `personalos restore DEST` into a new data directory
   (blobs copied beside it, as docs/OPERATIONS.md says);
4. `personalos doctor --full` on the restored directory: exit 0;
5. a server on the restored directory: every write acknowledged before the
   backup began is there, intact; the user logs in with the same password;
6. the black-box API suite (every tests/api/test_*.py) against that server
   with POS_BASE_URL: tests that must start their own server skip
   themselves; every other test must pass.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "api"))
import harness  # noqa: E402

PASSWORD = "drill horse battery staple 42"


def fail(msg):
    print("backup_drill: FAILED: " + msg, file=sys.stderr)
    sys.exit(1)


def cli(binary, *args):
    r = subprocess.run([binary] + list(args), capture_output=True, text=True, timeout=600)
    return r.returncode, r.stdout + r.stderr


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "personalos"))
    ap.add_argument("--memories", type=int, default=2000)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--suite", default=os.path.join(ROOT, "tests", "api"))
    ap.add_argument("--keep", action="store_true")
    o = ap.parse_args()
    binary = os.path.abspath(o.bin)
    os.environ["POS_BIN"] = binary
    work = tempfile.mkdtemp(prefix="pos-backup-drill-")
    t0 = time.monotonic()
    try:
        src = harness.Server(data_dir=os.path.join(work, "live"))
        src.start()
        api = harness.Api(src.base_url)
        r = api.post("/api/auth/register", {"email": "drill@example.org", "password": PASSWORD})
        if r.status != 201:
            fail("register: %d %s" % (r.status, r.raw[:200]))
        token = r.json["access_token"]
        base = []
        for start in range(0, o.memories, 500):
            items = [{"content": "drill base memory %d about the harbour" % i, "tags": ["drill"]}
                     for i in range(start, min(o.memories, start + 500))]
            r = api.post("/api/memories/bulk", {"memories": items}, token=token)
            if r.status != 201:
                fail("bulk: %d %s" % (r.status, r.raw[:200]))
            base += [(i, m["content"]) for i, m in zip(r.json["ids"], items)]

        acked = []          # (id, content, acknowledged at, monotonic)
        lock = threading.Lock()
        stop = threading.Event()

        def writer(k):
            w = harness.Api(src.base_url)
            n = 0
            while not stop.is_set():
                n += 1
                if n % 5:
                    text = "drill writer %d write %d" % (k, n)
                    r = w.post("/api/memories", {"content": text}, token=token)
                    got = [(r.json["id"], text)] if r.status == 201 else []
                else:
                    items = [{"content": "drill writer %d bulk %d item %d" % (k, n, i)}
                             for i in range(20)]
                    r = w.post("/api/memories/bulk", {"memories": items}, token=token)
                    got = ([(i, m["content"]) for i, m in zip(r.json["ids"], items)]
                           if r.status == 201 else [])
                if r.status not in (201, 429, 503):
                    fail("writer %d: %d %s" % (k, r.status, r.raw[:200]))
                now = time.monotonic()
                with lock:
                    acked.extend((i, c, now) for i, c in got)

        threads = [threading.Thread(target=writer, args=(k,), daemon=True) for k in range(o.writers)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        dest = os.path.join(work, "backup")
        began = time.monotonic()
        rc, out = cli(binary, "backup", dest, "--data", src.data_dir)
        ended = time.monotonic()
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(60)
        if rc != 0:
            fail("backup exited %d: %s" % (rc, out))
        before = [(i, c) for i, c, at in acked if at < began]
        during = sum(1 for _, _, at in acked if began <= at <= ended)
        src.stop()

        restored = os.path.join(work, "restored")
        os.makedirs(restored, mode=0o700)
        rc, out = cli(binary, "restore", dest, "--data", restored)
        if rc != 0:
            fail("restore exited %d: %s" % (rc, out))
        if os.path.isdir(os.path.join(src.data_dir, "blobs")):
            shutil.copytree(os.path.join(src.data_dir, "blobs"), os.path.join(restored, "blobs"),
                            dirs_exist_ok=True)
        rc, out = cli(binary, "doctor", "--full", "--data", restored)
        if rc != 0:
            fail("doctor --full on the restored store exited %d: %s" % (rc, out))

        # one server takes every file of the suite (in make test each file
        # has a fresh one), so hundreds of logins come from one address:
        # the limiter off (the limiter's own tests start their own servers
        # and skip themselves here)
        dst = harness.Server(data_dir=restored, env={"PERSONALOS_RATE_LIMIT": "off"})
        dst.start()
        try:
            api = harness.Api(dst.base_url)
            r = api.post("/api/auth/login", {"email": "drill@example.org", "password": PASSWORD})
            if r.status != 200:
                fail("login on the restored store: %d %s" % (r.status, r.raw[:200]))
            token = r.json["access_token"]
            missing = 0
            for mid, content in base + before:
                r = api.get("/api/memories/" + mid, token=token)
                if r.status != 200 or r.json.get("content") != content:
                    missing += 1
            if missing:
                fail("%d of %d writes acknowledged before the backup are missing or changed"
                     % (missing, len(base) + len(before)))
            print("backup_drill: backup %.2f s while %d writers wrote (%d writes acknowledged "
                  "during it); %d writes acknowledged before it all present; doctor --full clean"
                  % (ended - began, o.writers, during, len(base) + len(before)))
            env = dict(os.environ, POS_BASE_URL=dst.base_url)
            files = sorted(f for f in os.listdir(o.suite) if f.startswith("test_") and f.endswith(".py"))
            failed = []
            for f in files:
                p = subprocess.run([sys.executable, "-m", "unittest", os.path.join(o.suite, f)],
                                   cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
                tail = (p.stderr.strip().splitlines() or ["?"])[-1]
                print("  %-34s %s" % (f, tail))
                if p.returncode != 0:
                    failed.append(f)
                    sys.stderr.write(p.stderr[-4000:])
            if failed:
                fail("the API suite failed against the restored store: " + ", ".join(failed))
            print("backup_drill: the API suite passed against the restored store (%d files) in "
                  "%.0f s" % (len(files), time.monotonic() - t0))
        finally:
            dst.stop()
    finally:
        if o.keep:
            print("kept " + work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
