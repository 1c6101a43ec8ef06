#!/usr/bin/env python3
"""Memory intelligence benchmark (issue 16): the lifecycle run and the graph.

It starts a fresh `personalos serve`, loads N synthetic memories of one user
through POST /api/memories/bulk (created_at spread over the last two years,
a tag from a small set, every third memory related to an earlier one, every
fifth a child of an earlier one), then measures:

  * lifecycle: POST /api/memories/lifecycle/run twice — the first run moves
    most memories (and computes their importance), the second finds little
    to do; memories/s of each. Baseline in the same run: GET
    /api/memories/stats (one pass of aggregates over the same rows).
  * graph: GET /api/memories/graph?root=R&depth=2&limit=100 for 300 random
    roots, client latency p50 and p99. Baseline: GET /api/memories/{id} of
    the same roots.

The auto-linking cost on bulk ingest is not measured here yet: linking runs
as a job (memory.autolink) once the jobs service is wired in.

    python3 bench/intel_bench.py [--memories 20000] [--bin PATH]

Nothing is asserted: it prints a table (stdout) and exits 0 when the run
worked. Python 3 standard library only. See docs/BENCHMARKS.md.
"""

import argparse
import datetime
import os
import random
import shutil
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "locomo"))
import harness as H  # noqa: E402

TAGS = ["work", "home", "kitchen", "travel", "health", "books", "garden", "money"]
WORDS = ("plumber invoice meeting dentist garden tomato flight hotel budget "
         "report novel recipe bread train ticket doctor tax insurance kitchen "
         "paint roof bike repair lunch dinner call email project plan").split()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--memories", type=int, default=20000)
    ap.add_argument("--bin", default=os.environ.get("POS_BIN", "build-release/personalos"))
    ap.add_argument("--graph-samples", type=int, default=300)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    rng = random.Random(16)
    binary = H.resolve_binary(args.bin)
    work = tempfile.mkdtemp(prefix="pos-intel-bench-")
    server = H.Server(binary, os.path.join(work, "data"), work)
    try:
        server.start()
        client = H.Client(server.base_url)
        user = H.Session(client, "intel-bench@example.org").register()
        now = datetime.datetime.now(datetime.timezone.utc)
        ids = []
        t_ingest = 0.0
        n = args.memories
        while len(ids) < n:
            batch = []
            for i in range(min(1000, n - len(ids))):
                k = len(ids) + i
                when = now - datetime.timedelta(minutes=rng.randrange(2 * 365 * 24 * 60))
                m = {"content": " ".join(rng.choice(WORDS) for _ in range(12)),
                     "tags": [rng.choice(TAGS)],
                     "created_at": when.strftime("%Y-%m-%dT%H:%M:%SZ")}
                if ids and k % 3 == 0:
                    m["related_memory_ids"] = [rng.choice(ids)]
                if ids and k % 5 == 0:
                    m["parent_memory_id"] = rng.choice(ids)
                batch.append(m)
            t0 = time.perf_counter()
            got, _ = user.bulk(batch)
            t_ingest += time.perf_counter() - t0
            ids.extend(got)
        H.log("loaded %d memories in %.1f s" % (n, t_ingest))
        rows = []
        t0 = time.perf_counter()
        r = client.request("GET", "/api/memories/stats", token=user.fresh_token())
        t_stats = time.perf_counter() - t0
        rows.append(["stats (baseline)", "%.2f s" % t_stats, H.fmt_rate(n / t_stats), ""])
        for label in ("lifecycle, first run", "lifecycle, second run"):
            t0 = time.perf_counter()
            r = client.request("POST", "/api/memories/lifecycle/run", {},
                               token=user.fresh_token())
            dt = time.perf_counter() - t0
            if r.status != 200:
                raise H.BenchError("lifecycle/run answered %s" % r.error_text())
            moved = sum(r.doc["moved"].values())
            rows.append([label, "%.2f s" % dt, H.fmt_rate(n / dt),
                         "moved %d, importance %d" % (moved, r.doc["importance_changed"])])
        roots = [rng.choice(ids) for _ in range(args.graph_samples)]
        base, graph, sizes = [], [], []
        for rid in roots:
            r = client.request("GET", "/api/memories/" + rid, token=user.fresh_token())
            base.append(r.client_ms)
            r = client.request("GET", "/api/memories/graph?root=%s&depth=2&limit=100" % rid,
                               token=user.fresh_token())
            if r.status != 200:
                raise H.BenchError("graph answered %s" % r.error_text())
            graph.append(r.client_ms)
            sizes.append(len(r.doc["nodes"]))
        rows.append(["GET memory (baseline)", "p50 %s" % H.fmt_ms(H.median(base)),
                     "p99 %s" % H.fmt_ms(H.pctl(base, 99)), ""])
        rows.append(["graph depth 2, limit 100", "p50 %s" % H.fmt_ms(H.median(graph)),
                     "p99 %s" % H.fmt_ms(H.pctl(graph, 99)),
                     "%.1f nodes on average" % (sum(sizes) / len(sizes))])
        print("memories: %d (ingest %.1f s)" % (n, t_ingest))
        print(H.text_table(["what", "time", "rate / p99", "notes"], rows))
        return 0
    finally:
        server.stop()
        if args.keep:
            H.log("kept %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except H.BenchError as e:
        print("intel_bench: %s" % e, file=sys.stderr)
        sys.exit(1)
