#!/usr/bin/env python3
"""One SQLite instance against two PostgreSQL + Redis instances behind nginx
(issue 18), on the same machine and the same generated data, in one run.

For each setup, on a fresh store with one user:

  * ingest: POST /api/memories/bulk, 1000 generated notes a request, until
    --memories are stored (memories/s);
  * search: GET /api/memories/search with one of 200 queries of two words
    from the vocabulary (hybrid, limit 10), p50/p99 client side;
  * GET /api/memories/{id} req/s over 1000 known ids;
  * resident vectors: personalos_vector_index_bytes of /metrics (asked of
    an instance directly: nginx does not expose it) divided by the memories
    (the built-in embedder writes each vector with its memory).

and prints the cluster/SQLite ratios. Targets (issue 18): search p50
within 2x of SQLite's, ingest at least 50% of SQLite's. Nothing is
asserted; the exit status is 0 when the run itself worked.

    cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release && cmake --build build-release -j2
    POS_BIN=build-release/personalos python3 bench/cluster_bench.py --memories 100000 \\
        [--markdown out.md] [--json out.json]
    # ingest only (PG vs SQLite, per-request p50/p99 and the ratio):
    POS_BIN=build/personalos python3 bench/cluster_bench.py --ingest-only --memories 20000

The cluster half needs PostgreSQL (tests/api/pgserver.py), Redis
(tests/api/redisserver.py) and nginx (tests/api/nginx.py), all started
unprivileged on 127.0.0.1; without them (--sqlite-only, or when the build
has no --store) it measures SQLite alone. Python 3 standard library only.
See docs/BENCHMARKS.md.
"""

import argparse
import datetime
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO_ROOT, "tests", "api"))

import run_core as rc  # noqa: E402  (loadgen, server, helpers)

try:
    import nginx  # noqa: E402
    import pgserver  # noqa: E402
    import redisserver  # noqa: E402
except ImportError:
    nginx = pgserver = redisserver = None

TARGET_SEARCH_P50_RATIO = 2.0   # cluster p50 <= 2x SQLite's
TARGET_INGEST_RATIO = 0.5       # cluster memories/s >= 50% of SQLite's
PER_BULK = 1000

SERVER_ENV = {"PERSONALOS_RATE_LIMIT": "off"}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def metric(port, name):
    """A gauge/counter of the instance at port (loopback: allowed)."""
    status, _, raw = rc.api(port, "GET", "/metrics")
    if status != 200:
        return None
    m = re.search(r"^%s (\S+)$" % re.escape(name), raw.decode(), re.M)
    return float(m.group(1)) if m else None


def measure(name, lg, port, direct_ports, session, args, work):
    """The three figures against `port` (an instance or nginx)."""
    out = {"setup": name}
    bodies = os.path.join(work, "bulk.jsonl")
    nreq = max(1, args.memories // PER_BULK)
    rc.write_bulk_bodies(bodies, nreq, PER_BULK, seed=7)
    res = lg.run("%s ingest (bulk %d)" % (name, PER_BULK), "/api/memories/bulk", method="POST",
                 conns=2, requests=nreq, token=session.fresh_token(), bodies=bodies,
                 timeout=600, creates=PER_BULK)
    out["memories"] = nreq * PER_BULK
    out["ingest_per_s"] = res["req_per_s"] * PER_BULK if res["req_per_s"] else None
    out["ingest_p50_ms"] = res["client_p50_ms"]
    out["ingest_p99_ms"] = res["client_p99_ms"]
    if args.ingest_only:
        return out

    # ids for GET by id
    ids = []
    offset = 0
    while len(ids) < 1000:
        st, doc, raw = rc.api(port, "GET", "/api/memories?limit=100&offset=%d" % offset,
                              token=session.fresh_token())
        if st != 200:
            raise rc.BenchError("list answered %d: %s" % (st, raw[:200]))
        page = doc.get("memories") or []
        ids += [m["id"] for m in page]
        if len(page) < 100:
            break
        offset += 100
    script = os.path.join(work, "get.txt")
    with open(script, "w") as f:
        for i in ids:
            f.write("GET /api/memories/%s\n" % i)
    res = run_script(lg, "%s GET by id" % name, script, 4, args.requests, session)
    out["get_per_s"] = res["req_per_s"]

    # the built-in embedder writes each vector with its memory (inline),
    # so every memory is searchable by meaning once the bulk answered
    rng = random.Random(11)
    script = os.path.join(work, "search.txt")
    with open(script, "w") as f:
        for _ in range(200):
            q = "%s+%s" % tuple(rng.sample(rc.VOCABULARY, 2))
            f.write("GET /api/memories/search?q=%s&limit=10\n" % q)
    res = run_script(lg, "%s search" % name, script, 2, args.search_requests, session,
                     warmup=50)
    out["search_p50_ms"] = res["client_p50_ms"]
    out["search_p99_ms"] = res["client_p99_ms"]
    out["search_per_s"] = res["req_per_s"]
    vb = sum(metric(p, "personalos_vector_index_bytes") or 0 for p in direct_ports)
    # every instance that served a search holds the user's index
    loaded = sum(1 for p in direct_ports if (metric(p, "personalos_vector_index_bytes") or 0) > 0)
    out["vector_bytes_per_memory"] = (vb / max(1, loaded)) / out["memories"] if vb else None
    return out


def run_script(lg, label, script, conns, requests, session, warmup=0):
    """loadgen over a script of requests (run_core's Loadgen has no -S)."""
    cmd = [lg.path, "--json", "-t", "127.0.0.1:%d" % lg.port, "-S", script, "-c", str(conns),
           "-n", str(requests), "-w", str(warmup), "-T", session.fresh_token(),
           "--timeout", "60"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode not in (0, 2) or not r.stdout.strip():
        raise rc.BenchError("loadgen failed (%d) for %s:\n%s" % (r.returncode, label, r.stderr))
    res = json.loads(r.stdout)
    if res["errors"]:
        log("  warning: %s: %d of %d requests failed" % (label, res["errors"], res["requests"]))
    log("  %-34s %10s req/s  client p50 %s p99 %s" % (
        label, rc.fmt_rate(res["req_per_s"]), rc.fmt_ms(res["client_p50_ms"]),
        rc.fmt_ms(res["client_p99_ms"])))
    return res


def run_sqlite(binary, loadgen, args, work):
    log("SQLite: one instance")
    data = os.path.join(work, "sqlite-data")
    srv = rc.Server(binary, data, os.path.join(work, "sqlite-log"), env=SERVER_ENV)
    srv.start()
    try:
        session = rc.Session(srv.port, "bench-sqlite@example.com")
        session.register()
        lg = rc.Loadgen(loadgen, srv.port, srv.proc.pid)
        return measure("sqlite", lg, srv.port, [srv.port], session, args, work)
    finally:
        srv.stop()


def run_cluster(binary, loadgen, args, work):
    log("cluster: PostgreSQL + Redis, two instances behind nginx")
    pg = pgserver.PgServer() if hasattr(pgserver, "PgServer") else pgserver
    url = pg.start()
    url = url if isinstance(url, str) else pg.url
    redis = redisserver.RedisServer().start()
    data = os.path.join(work, "cluster-data")
    os.makedirs(data)
    env = dict(SERVER_ENV, PERSONALOS_STORE=url, PERSONALOS_CACHE=redis.url,
               PERSONALOS_TRUST_FORWARDED_FOR="on", PERSONALOS_MAX_CONNECTIONS_PER_IP="0")
    servers = [rc.Server(binary, data, os.path.join(work, "cluster-log-%d" % i), env=env)
               for i in range(2)]
    proxy = None
    try:
        for s in servers:
            s.start()
        proxy = nginx.Nginx([s.port for s in servers]).start()
        session = rc.Session(proxy.port, "bench-cluster@example.com")
        session.register()
        # loadgen's CPU accounting follows one pid; the figures are client side
        lg = rc.Loadgen(loadgen, proxy.port, servers[0].proc.pid)
        return measure("cluster", lg, proxy.port, [s.port for s in servers], session, args,
                       work)
    finally:
        if proxy:
            proxy.stop()
        for s in servers:
            s.stop()
        redis.stop()
        pg.stop()


def report(sq, cl, args):
    def r(a, b):
        return rc.ratio(a, b)
    rows = [
        ("ingest memories/s", "ingest_per_s", rc.fmt_rate),
        ("ingest, one bulk of %d: p50" % PER_BULK, "ingest_p50_ms", rc.fmt_ms),
        ("ingest, one bulk of %d: p99" % PER_BULK, "ingest_p99_ms", rc.fmt_ms),
        ("search p50", "search_p50_ms", rc.fmt_ms),
        ("search p99", "search_p99_ms", rc.fmt_ms),
        ("GET by id req/s", "get_per_s", rc.fmt_rate),
        ("vector index bytes/memory", "vector_bytes_per_memory",
         lambda v: "n/a" if v is None else "%.0f" % v),
    ]
    lines = ["| figure | SQLite, 1 instance | PostgreSQL + Redis, 2 behind nginx | ratio |",
             "|---|---|---|---|"]
    for label, key, fmt in rows:
        a = sq.get(key)
        b = cl.get(key) if cl else None
        lines.append("| %s | %s | %s | %s |" % (label, fmt(a), fmt(b), rc.fmt_ratio(r(b, a))))
    if cl:
        sp = r(cl.get("search_p50_ms"), sq.get("search_p50_ms"))
        ing = r(cl.get("ingest_per_s"), sq.get("ingest_per_s"))
        lines.append("")
        lines.append("search p50 within %.0fx of SQLite: %s; ingest at least %.0f%% of SQLite: %s"
                     % (TARGET_SEARCH_P50_RATIO,
                        rc.verdict(None if sp is None else sp <= TARGET_SEARCH_P50_RATIO),
                        TARGET_INGEST_RATIO * 100,
                        rc.verdict(None if ing is None else ing >= TARGET_INGEST_RATIO)))
        if args.ingest_only:
            lines[-1] = ("ingest at least %.0f%% of SQLite: %s (--ingest-only: no search, no GET)"
                         % (TARGET_INGEST_RATIO * 100,
                            rc.verdict(None if ing is None else ing >= TARGET_INGEST_RATIO)))
    lines.append("")
    lines.append("%d memories, one user; %s, %d CPUs, %s" % (
        sq["memories"], platform.platform(), os.cpu_count() or 0,
        datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--memories", type=int, default=100000)
    ap.add_argument("--requests", type=int, default=5000, help="GET by id requests")
    ap.add_argument("--search-requests", type=int, default=1000)
    ap.add_argument("--sqlite-only", action="store_true")
    ap.add_argument("--ingest-only", action="store_true",
                    help="only the bulk ingest of both setups (memories/s, p50/p99 of a"
                         " bulk request, the ratio): no GET by id, no search")
    ap.add_argument("--markdown")
    ap.add_argument("--json")
    args = ap.parse_args()
    binary = os.path.abspath(os.environ.get("POS_BIN") or
                             os.path.join(REPO_ROOT, "build", "personalos"))
    if not os.access(binary, os.X_OK):
        sys.exit("POS_BIN is not an executable personalos: %s" % binary)
    help_text = subprocess.run([binary, "serve", "--help"], capture_output=True,
                               text=True).stdout
    cluster = not args.sqlite_only and pgserver is not None and "--store" in help_text
    if not cluster and not args.sqlite_only:
        log("no PostgreSQL store in this build (or tests/api/pgserver.py missing):"
            " measuring SQLite alone")
    work = tempfile.mkdtemp(prefix="pos-cluster-bench-")
    try:
        loadgen = rc.build_loadgen(work)
        sq = run_sqlite(binary, loadgen, args, work)
        cl = run_cluster(binary, loadgen, args, work) if cluster else None
    except rc.BenchError as e:
        sys.exit("benchmark failed: %s" % e)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = report(sq, cl, args)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"sqlite": sq, "cluster": cl}, f, indent=2)


if __name__ == "__main__":
    main()
