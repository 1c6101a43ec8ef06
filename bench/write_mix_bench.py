#!/usr/bin/env python3
"""Do writes stall searches? (issue 20)

Starts a fresh `personalos serve`, loads N memories (default 20,000, the
corpus of bench/search_bench.py) for one user, then drives the server with
bench/loadgen.c over 16 keep-alive connections with a script of requests:
searches (`GET /api/memories/search`, hybrid, limit=10), each with a
query no other request of the whole run uses (so the result cache never
answers), mixed with `POST /api/memories` writes by the same user at 0 %,
5 % and 20 % of the requests. The mixes run in alternating rounds (each
round a fixed duration) and the figure is the median over rounds of
searches per second (requests/s x the share of searches). The baseline is
the 0 % mix of the same run: the target is >= 90 % of it at 5 % writes and
>= 75 % at 20 %.

    python3 bench/write_mix_bench.py [--bin PATH] [--size 20000]
        [--mixes 0,5,20] [--rounds 3] [--seconds 8] [--connections 16]
        [--json out.json] [--markdown out.md]

Python 3 standard library and a C compiler (for bench/loadgen.c). Reports,
never asserts. See docs/BENCHMARKS.md, "Writes beside searches (issue 20)".
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "locomo"))
sys.path.insert(0, HERE)
import harness as H  # noqa: E402
import search_bench as SB  # noqa: E402


def build_loadgen(work):
    out = os.path.join(work, "loadgen")
    subprocess.run(["cc", "-O2", "-std=c17", "-Wall", "-Wextra", "-pthread", "-o", out,
                    os.path.join(HERE, "loadgen.c")], check=True)
    return out


def distinct_queries(n, seed):
    """n distinct search queries in the style of search_bench's query set
    (a repeated one gets a name and a city appended, from a counter)."""
    rng = random.Random(seed)
    gens = SB.EXACT + SB.QUESTIONS + SB.PARAPHRASES
    seen, out, k = set(), [], 0
    while len(out) < n:
        q = rng.choice(gens)(rng)
        while q in seen:
            q = "%s %s %s" % (q, SB.FIRST[k % len(SB.FIRST)],
                              SB.CITIES[(k // len(SB.FIRST)) % len(SB.CITIES)])
            k += 1
        seen.add(q)
        out.append(q)
    return out


def write_script(path, queries, write_pct, seed, count):
    """A loadgen script of `count` requests: writes at write_pct %, spread
    evenly (deterministic), searches taking the next unused query."""
    rng = random.Random(seed)
    qi = 0
    acc = 0.0
    with open(path, "w") as f:
        for i in range(count):
            acc += write_pct / 100.0
            if acc >= 1.0:
                acc -= 1.0
                body = {"content": "%s (note %d-%d)" % (
                    rng.choice(SB.TEMPLATES)[2](rng), seed, i)}
                f.write("POST /api/memories\t%s\n" % json.dumps(body, separators=(",", ":")))
            else:
                q = urllib.parse.urlencode({"query": queries[qi], "limit": 10,
                                            "mode": "hybrid"},
                                           quote_via=urllib.parse.quote)
                qi += 1
                f.write("GET %s?%s\n" % (H.SEARCH_PATH, q))
    return qi


def run_loadgen(lg, base, token, script, args):
    cmd = [lg, "-t", base.replace("http://", ""), "-T", token, "-S", script,
           "-c", str(args.connections), "-d", str(args.seconds), "-w", "200",
           "-e", "2xx", "--json"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode not in (0, 2):
        raise H.BenchError("loadgen failed: %s" % p.stderr.strip())
    return json.loads(p.stdout)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=None)
    ap.add_argument("--size", type=int, default=20000)
    ap.add_argument("--mixes", default="0,5,20")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--server-env", action="append", default=[])
    ap.add_argument("--json")
    ap.add_argument("--markdown")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args(argv)
    mixes = [float(x) for x in args.mixes.split(",")]
    env = dict(kv.split("=", 1) for kv in args.server_env)
    work = tempfile.mkdtemp(prefix="pos-writemix-")
    srv = H.Server(H.resolve_binary(args.bin), os.path.join(work, "data"), work, env)
    res = {"size": args.size, "connections": args.connections, "seconds": args.seconds,
           "rounds": [], "machine": H.machine_info(args.bin)}
    try:
        lg = build_loadgen(work)
        srv.start()
        client = H.Client(srv.base_url)
        sess = H.Session(client, "writemix-%d@example.com" % os.getpid()).register()
        t0 = time.perf_counter()
        for chunk in SB.corpus_chunks(args.size):
            sess.bulk(chunk)
        H.log("write_mix: loaded %d memories in %.1f s" % (args.size,
                                                          time.perf_counter() - t0))
        token = sess.fresh_token()
        # The user's keyword and vector indexes load on the first searches:
        # load them now, so no round (the first 0 % one) pays for it.
        t0 = time.perf_counter()
        for q in ("warm up the indexes", "dentist appointment", "dinner with anna"):
            for _ in range(50):
                r = sess.search(q, mode="hybrid", limit=10)
                if r.status == 200 and isinstance(r.doc, dict) and \
                        r.doc.get("vector_status") != "loading":
                    break
                time.sleep(0.2)
        H.log("write_mix: indexes warm in %.1f s" % (time.perf_counter() - t0))
        # Enough distinct queries for every round at a generous rate.
        per_run = int(args.seconds * 4000) + 400
        pool = distinct_queries(per_run * args.rounds * len(mixes), 99)
        used = 0
        for rnd in range(args.rounds):
            order = mixes if rnd % 2 == 0 else list(reversed(mixes))
            for pct in order:
                script = os.path.join(work, "script.txt")
                n = write_script(script, pool[used:used + per_run], pct,
                                 1000 * rnd + int(pct * 10), per_run)
                used += n
                r = run_loadgen(lg, srv.base_url, token, script, args)
                rps = r.get("req_per_s") or 0.0
                row = {"round": rnd, "write_pct": pct, "req_per_s": rps,
                       "searches_per_s": rps * (1 - pct / 100.0),
                       "errors": r.get("errors"), "client_p50_ms": r.get("p50_ms"),
                       "client_p99_ms": r.get("p99_ms"),
                       # by kind (loadgen splits GET from the rest when mixed)
                       "search_client_p50_ms": r.get("client_read_p50_ms", r.get("client_p50_ms")),
                       "search_client_p99_ms": r.get("client_read_p99_ms", r.get("client_p99_ms")),
                       "search_server_p50_ms": r.get("server_read_p50_ms", r.get("server_p50_ms")),
                       "search_server_p99_ms": r.get("server_read_p99_ms", r.get("server_p99_ms")),
                       "write_client_p50_ms": r.get("client_write_p50_ms"),
                       "write_client_p99_ms": r.get("client_write_p99_ms"),
                       "write_server_p50_ms": r.get("server_write_p50_ms"),
                       "write_server_p99_ms": r.get("server_write_p99_ms"),
                       "loadgen": r}
                res["rounds"].append(row)
                H.log("write_mix: round %d, %g%% writes: %.0f searches/s (%.0f req/s, "
                      "%s errors)" % (rnd, pct, row["searches_per_s"], rps, row["errors"]))
    finally:
        srv.kill()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    base = H.median([r["searches_per_s"] for r in res["rounds"] if r["write_pct"] == 0]) \
        if 0.0 in mixes else None
    rows = []
    for pct in mixes:
        rs = [r for r in res["rounds"] if r["write_pct"] == pct]
        med = H.median([r["searches_per_s"] for r in rs])
        spread = "%.0f–%.0f" % (min(r["searches_per_s"] for r in rs),
                                max(r["searches_per_s"] for r in rs))
        target = {0.0: "baseline", 5.0: "≥ 0.90×", 20.0: "≥ 0.75×"}.get(pct, "—")
        ratio = "%.2f×" % (med / base) if base else "—"
        def lat(kind):
            p50 = H.median([r[kind + "_p50_ms"] for r in rs if r.get(kind + "_p50_ms") is not None])
            p99 = H.median([r[kind + "_p99_ms"] for r in rs if r.get(kind + "_p99_ms") is not None])
            return "—" if p50 is None else "%.1f / %.1f" % (p50, p99)
        rows.append(["%g %% writes" % pct, "%.0f (%s)" % (med, spread), ratio, target,
                     lat("search_client"), lat("search_server"), lat("write_client"),
                     lat("write_server")])
    head = ["mix (16 conns, distinct queries)", "searches/s median (rounds)",
            "vs 0 % writes", "target", "search client p50/p99 ms",
            "search server p50/p99 ms", "write client p50/p99 ms", "write server p50/p99 ms"]
    print(H.text_table(head, rows), end="")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(H.markdown_table(head, rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
