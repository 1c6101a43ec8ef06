#!/usr/bin/env python3
"""Where bulk ingest with embeddings spends its CPU (issue 20).

Starts one server (tests/api/harness.py), registers a user, posts N bulk
requests of 1,000 short notes each (built-in embedder on), prints the
rate of every few requests, and records the server with `perf record`
while it ingests. Then:

  perf report -i /tmp/ingest_profile.data --no-children --sort dso
  perf report -i /tmp/ingest_profile.data --no-children --sort dso,sym

Run from the repository root:
  POS_BIN=build/personalos python3 bench/ingest_profile.py [N]   (default 40)
"""
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "api"))
import harness as H  # noqa: E402

WORDS = ("meeting anna garden project tuesday remember buy milk eggs dentist appointment call "
         "mom birthday party ideas running shoes restaurant booking friday evening read chapter "
         "book club flight berlin hotel confirmation pay electricity bill yoga class cancelled "
         "recipe pasta tomatoes basil weekend hiking trip").split()


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    out = os.environ.get("PERF_OUT", "/tmp/ingest_profile.data")
    rnd = random.Random(1)
    bodies = [{"memories": [{"content": " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(8, 25)))
                             + " %d" % (b * 1000 + i)} for i in range(1000)]} for b in range(n)]
    with H.Server() as srv:
        api = H.Api(srv.base_url)
        tok = api.register()["access_token"]
        perf = subprocess.Popen(["perf", "record", "-g", "-o", out, "-p", str(srv.proc.pid)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        times = []
        for b in bodies:
            t = time.perf_counter()
            r = api.post("/api/memories/bulk", b, token=tok)
            if r.status not in (200, 201):
                raise SystemExit("bulk answered %d: %r" % (r.status, r.raw[:300]))
            times.append(time.perf_counter() - t)
        perf.send_signal(2)
        perf.wait()
    for i in range(0, n, max(1, n // 8)):
        print("bulk %4d (%7d memories before it): %6.0f memories/s" % (i, i * 1000, 1000 / times[i]))
    print("all %d: %.0f memories/s; profile in %s" % (n * 1000, n * 1000 / sum(times), out))


if __name__ == "__main__":
    main()
