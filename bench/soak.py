#!/usr/bin/env python3
"""Soak: mixed load for a long time; resident memory, open file descriptors
and errors sampled from /proc, their slopes reported.

    python3 bench/soak.py --bin build-release/personalos --minutes 30

Starts its own server on 127.0.0.1 (limiter off), one user with --seed
memories, then --clients keep-alive clients loop on a mixed workload: 70 %
search, 20 % create, 10 % get or update. Every --every seconds it samples
the server's VmRSS and the count of /proc/PID/fd, and the errors (non-2xx,
not 429 or 503: those are the rate limiter and admission control, and the
client waits their Retry-After as a polite client does) so far. At the end: the least-squares slope of RSS (KiB/min) and
fds (per min) over the second half of the run (after warm-up), and the
error count per sample window; docs/OPERATIONS.md records a run.
With --steady each client's creates delete one of its memories first once
it has 50, so the store keeps its size and a rising RSS is not the data's. Exit 1
when an error occurred or the server died.
"""

import argparse
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "api"))
import harness  # noqa: E402

WORDS = ("garden kitchen meeting invoice doctor travel birthday project budget "
         "report friend coffee train paris berlin recipe guitar running book "
         "movie dentist plumber taxes school holiday").split()


def proc_sample(pid):
    rss = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    fds = len(os.listdir("/proc/%d/fd" % pid))
    return rss, fds


def slope(points):
    """Least-squares slope of (t, v) points, per minute."""
    n = len(points)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    den = sum((t - mt) ** 2 for t, _ in points)
    if den == 0:
        return 0.0
    return sum((t - mt) * (v - mv) for t, v in points) / den * 60.0


def text(rng):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default="build/personalos")
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seed", type=int, default=2000)
    ap.add_argument("--every", type=float, default=10)
    ap.add_argument("--steady", action="store_true",
                    help="once each client has 50 memories of its own, its creates "
                         "each delete one first: the store stops growing")
    args = ap.parse_args()
    os.environ["POS_BIN"] = os.path.abspath(args.bin)
    data = tempfile.mkdtemp(prefix="pos-soak-")
    srv = harness.Server(data_dir=data, external_ok=False,
                         env={"PERSONALOS_RATE_LIMIT": "off",
                              "PERSONALOS_LOG_REQUESTS": "off"}).start()
    pid = srv.proc.pid
    api = harness.Api(srv.base_url)
    # A personal access token: the clients run longer than a session's
    # access token lives (access_token_ttl, 15 min), as a script would.
    session = api.register()["access_token"]
    r = api.post("/api/auth/tokens", {"name": "soak", "scope": "write"}, token=session)
    assert r.status in (200, 201), r.raw[:300]
    tok = r.json["token"]
    rng = random.Random(1)
    for i in range(0, args.seed, 500):
        r = api.post("/api/memories/bulk", {"memories": [
            {"content": text(rng)} for _ in range(min(500, args.seed - i))]}, token=tok)
        assert r.status == 201, r.raw[:300]
    api.close()
    lock = threading.Lock()
    counts = {"ok": 0, "err": 0, "429": 0, "503": 0}
    errors = []
    stop = threading.Event()

    def client(seed):
        crng = random.Random(seed)
        a = harness.Api(srv.base_url, timeout=60, retry_429=False)
        mine = []
        while not stop.is_set():
            x = crng.random()
            try:
                if x < 0.70:
                    r = a.get("/api/memories/search?q=%s" % crng.choice(WORDS), token=tok)
                elif x < 0.90 and args.steady and len(mine) >= 50:
                    # --steady: create and delete, so the store keeps its size
                    # and RSS growth is not the data's growth
                    r = a.delete("/api/memories/" + mine.pop(crng.randrange(len(mine))), token=tok)
                    if 200 <= r.status < 300:
                        r = a.post("/api/memories", {"content": text(crng)}, token=tok)
                        if r.status == 201:
                            mine.append(r.json["id"])
                elif x < 0.90:
                    r = a.post("/api/memories", {"content": text(crng)}, token=tok)
                    if r.status == 201:
                        mine.append(r.json["id"])
                elif mine and x < 0.95:
                    r = a.put("/api/memories/" + crng.choice(mine),
                              {"content": text(crng)}, token=tok)
                elif mine:
                    r = a.get("/api/memories/" + crng.choice(mine), token=tok)
                else:
                    r = a.get("/api/memories?limit=10", token=tok)
            except OSError as e:
                with lock:
                    counts["err"] += 1
                    errors.append(repr(e))
                a.close()
                continue
            with lock:
                if 200 <= r.status < 300:
                    counts["ok"] += 1
                elif r.status in (429, 503):
                    counts[str(r.status)] += 1
                else:
                    counts["err"] += 1
                    errors.append("%d %r" % (r.status, r.raw[:200]))
            if r.status in (429, 503):
                try:
                    wait = float(r.headers.get("retry-after", "1"))
                except ValueError:
                    wait = 1.0
                stop.wait(min(wait, 10.0))
        a.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True)
               for i in range(args.clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    samples = []
    end = t0 + args.minutes * 60
    while time.monotonic() < end and srv.proc.poll() is None:
        time.sleep(args.every)
        rss, fds = proc_sample(pid)
        with lock:
            c = dict(counts)
        t = time.monotonic() - t0
        samples.append((t, rss, fds, c["ok"], c["err"]))
        print("t=%5.0fs rss=%7d KiB fds=%4d ok=%d err=%d 429=%d 503=%d"
              % (t, rss, fds, c["ok"], c["err"], c["429"], c["503"]), flush=True)
    stop.set()
    for t in threads:
        t.join(60)
    died = srv.proc.poll() is not None
    srv.stop(check=not died)
    shutil.rmtree(data, True)
    half = samples[len(samples) // 2:]
    elapsed = samples[-1][0] if samples else 0
    print("soak %.1f min, %d clients: %d requests ok (%.0f/s), %d errors, %d 429, %d 503; "
          "second half: RSS slope %+.1f KiB/min, fd slope %+.2f /min"
          % (elapsed / 60, args.clients, counts["ok"], counts["ok"] / max(elapsed, 1),
             counts["err"], counts["429"], counts["503"], slope([(s[0], s[1]) for s in half]),
             slope([(s[0], s[2]) for s in half])))
    for e in errors[:10]:
        print("error:", e)
    return 1 if died or counts["err"] else 0


if __name__ == "__main__":
    sys.exit(main())
