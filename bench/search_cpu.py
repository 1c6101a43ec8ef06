#!/usr/bin/env python3
"""CPU and latency of one search mode against a data directory loaded once
(issue 20).

search_bench.py loads a fresh server for every run, which at 100k and 1M
takes minutes; comparing two binaries, or one binary before and after a
change, wants the *same* data under both. This script keeps a data
directory (loads it on the first run: N memories of a search_bench corpus
for one user), then for each binary given starts `personalos serve` on it,
asks the corpus's queries one at a time (the result cache off, so every
search is ranked) and prints, per binary:

  * the server's CPU per search: utime + stime of the server process
    (/proc/PID/stat) across the timed queries, divided by their number —
    the figure that survives a loaded machine;
  * took_ms (the engine's own clock), Server-Timing (the handler's), and
    the client's time: p50 / p99;
  * with --perf FILE, `perf record -g` of the server during the timed
    queries (first binary only).

Binaries alternate (A, B, A, B ... for --rounds), so drifting load hits
both alike.

    python3 bench/search_cpu.py --data DIR [--size 100k] [--corpus zipf]
        [--mode hybrid] [--rounds 2] [--limit 10] BIN [BIN ...]

Python 3 standard library. Reports, never asserts.
"""

import argparse
import json
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "locomo"))
sys.path.insert(0, HERE)
import harness as H  # noqa: E402
import search_bench as SB  # noqa: E402

EMAIL = "search-cpu@example.com"


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def pct(v, p):
    v = sorted(v)
    if not v:
        return float("nan")
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def session(srv, size, corpus):
    client = H.Client(srv.base_url)
    sess = H.Session(client, EMAIL)
    r = client.request("POST", "/api/auth/login", {"email": EMAIL, "password": H.PASSWORD})
    if r.status == 200:
        sess.token, sess.got_at = r.doc["access_token"], time.monotonic()
    else:
        sess.register()
    have = sess.total() or 0
    if have < size:
        t0 = time.perf_counter()
        n = 0
        for chunk in SB.CORPORA[corpus][0](size):
            n += len(chunk)
            if n <= have:
                continue
            sess.bulk(chunk)
        H.log("search_cpu: loaded %d memories in %.1f s" % (size - have,
                                                            time.perf_counter() - t0))
    return sess


def run_one(binary, args, env, perf_out):
    srv = H.Server(os.path.abspath(binary), args.data, args.data + ".log", env)
    srv.start(timeout=600)
    perf = None
    try:
        sess = session(srv, args.size, args.corpus)
        queries = [q for _k, q in SB.CORPORA[args.corpus][1]()]
        for q in queries[:args.warmup]:
            sess.search(q, mode=args.mode, limit=args.limit)
        if perf_out:
            perf = subprocess.Popen(["perf", "record"] + os.environ.get("POS_PERF_CALLGRAPH", "-g").split() + ["-F", os.environ.get("POS_PERF_FREQ", "999"), "-o", perf_out,
                                     "-p", str(srv.pid)], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            time.sleep(1.0)
        took, timing, client = [], [], []
        c0 = cpu_s(srv.pid)
        for q in queries:
            r = sess.search(q, mode=args.mode, limit=args.limit)
            if r.status != 200:
                raise H.BenchError("search answered %s" % r.error_text())
            _ids, t = H.search_hits(r)
            took.append(t)
            timing.append(r.server_ms)
            client.append(r.client_ms)
        c1 = cpu_s(srv.pid)
        if perf:
            perf.send_signal(2)
            perf.wait()
        return {"cpu_ms": (c1 - c0) * 1000.0 / len(queries), "took": took, "queries": queries,
                "timing": [x for x in timing if x is not None], "client": client}
    finally:
        srv.stop()


def word_shares(corpus):
    """word -> expected share of memories holding it (zipf corpus only)."""
    if corpus != "zipf":
        return {}
    return {w: SB.zipf_doc_share(r) for r, w in enumerate(SB.zipf_vocab())}


def slowest(args, res):
    """The p99 tail: which queries were slow, and what they have in common
    (how common their words are). took_ms per query is the median over
    rounds, so one unlucky preemption does not make a query slow."""
    shares = word_shares(args.corpus)
    kinds = [k for k, _q in SB.CORPORA[args.corpus][1]()]
    for b, rs in res.items():
        per = {}
        for r in rs:
            for i, (q, t) in enumerate(zip(r["queries"], r["took"])):
                per.setdefault(i, (q, []))[1].append(t)
        rows = sorted(((pct(ts, 50), i, q) for i, (q, ts) in per.items()), reverse=True)
        print("slowest queries, %s (took_ms median over rounds; word: share of memories)" % b)
        for t, i, q in rows[:args.slowest]:
            words = " ".join("%s:%.0f%%" % (w, 100 * shares[w]) if w in shares else w
                             for w in q.split())
            print("  %7.2f ms  %-8s %s" % (t, kinds[i] if i < len(kinds) else "", words))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bins", nargs="+")
    ap.add_argument("--data", required=True, help="data directory (loaded when short)")
    ap.add_argument("--size", default="100k")
    ap.add_argument("--corpus", default="zipf", choices=sorted(SB.CORPORA))
    ap.add_argument("--mode", default="hybrid")
    ap.add_argument("--limit", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--cache", action="store_true", help="leave the result cache on")
    ap.add_argument("--perf", metavar="FILE", help="perf record the first binary's first round")
    ap.add_argument("--server-env", action="append", default=[])
    ap.add_argument("--slowest", type=int, default=5,
                    help="print this many slowest queries per binary (took_ms, median "
                         "over rounds) with each word's share of memories (zipf corpus)")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    args.size = SB.parse_size(args.size)
    env = dict(kv.split("=", 1) for kv in args.server_env)
    if not args.cache:
        env.setdefault("PERSONALOS_SEARCH_CACHE", "0")
    res = {b: [] for b in args.bins}
    for rnd in range(args.rounds):
        for i, b in enumerate(args.bins):
            perf = args.perf if (rnd == 0 and i == 0) else None
            r = run_one(b, args, env, perf)
            res[b].append(r)
            H.log("search_cpu: round %d %s: CPU %.2f ms/search, took p50 %.2f p99 %.2f ms"
                  % (rnd, b, r["cpu_ms"], pct(r["took"], 50), pct(r["took"], 99)))
    base = None
    print("binary | CPU/search ms (rounds) | took p50/p99 | Server-Timing p50/p99 | "
          "client p50/p99")
    for b in args.bins:
        rs = res[b]
        cpu = sorted(r["cpu_ms"] for r in rs)
        med = cpu[len(cpu) // 2]
        base = base or med
        took = [x for r in rs for x in r["took"]]
        tim = [x for r in rs for x in r["timing"]]
        cli = [x for r in rs for x in r["client"]]
        print("%s | %.2f (%s) %.2fx | %.2f / %.2f | %.2f / %.2f | %.2f / %.2f" % (
            b, med, ", ".join("%.2f" % c for c in cpu), med / base,
            pct(took, 50), pct(took, 99), pct(tim, 50), pct(tim, 99),
            pct(cli, 50), pct(cli, 99)))
    if args.slowest:
        slowest(args, res)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
