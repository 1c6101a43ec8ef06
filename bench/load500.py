#!/usr/bin/env python3
"""Load: 500 concurrent keep-alive clients on a mixed workload, the same
server with admission control on and off (issue 19).

    python3 bench/load500.py --bin build-release/personalos \\
        [--size 100000] [--seconds 60] [--connections 500] [--rounds 1] \\
        [--configs on,off,on-eager] [--server-env NAME=VALUE] [--markdown F] [--json F]

Loads --size memories of bench/search_bench.py's corpus for one user
(POST /api/memories/bulk, 1,000 per request) into one data directory, then
for each round and each configuration (alternating order) starts the
server on that directory, rate limiter off (`rate_limit=off`),
`max_connections_per_ip=0`, `admission=on` or `off` and nothing else
changed, and drives it with bench/loadgen.c (built into the work
directory): --connections keep-alive connections, one request in flight
each, for --seconds after 500 warm-up requests. The requests cycle through
a script: 70 % hybrid searches (distinct queries in search_bench's style,
limit 10), 20 % creates, 5 % GET and 5 % PUT of a loaded memory, spread
evenly. loadgen sends the next request as soon as an answer is in; after
a 429 or 503 a connection waits the answer's Retry-After first, as a
well-behaved client does (`--honor-retry-after`). The configuration
`on-eager` is admission on with clients that ignore Retry-After and send
again at once: the worst case, where the server spends its time refusing.

Reported per configuration: successful requests/s, client p50/p99 of the
successful requests, every status seen with its count (only 429 and 503
are allowed besides 2xx; anything else, or a connection error, is a
failure and the exit status is 1), and p50/p99 of the refusals: a 503
must be fast. The ratio row compares on with off, measured in the same
run. docs/BENCHMARKS.md records a run.
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
import write_mix_bench as WM  # noqa: E402

ALLOWED = (429, 503)


def write_script(path, queries, ids, seed, count):
    """count requests: per 20, 14 searches, 4 creates, 1 get, 1 update."""
    rng = random.Random(seed)
    pattern = ["S"] * 14 + ["C"] * 4 + ["G", "U"]
    rng.shuffle(pattern)
    qi = 0
    with open(path, "w") as f:
        for i in range(count):
            kind = pattern[i % len(pattern)]
            if kind == "S":
                q = urllib.parse.urlencode(
                    {"query": queries[qi % len(queries)], "limit": 10, "mode": "hybrid"},
                    quote_via=urllib.parse.quote)
                qi += 1
                f.write("GET %s?%s\n" % (H.SEARCH_PATH, q))
            elif kind == "C":
                body = {"content": "%s (load %d-%d)" % (
                    rng.choice(SB.TEMPLATES)[2](rng), seed, i)}
                f.write("POST /api/memories\t%s\n" % json.dumps(body, separators=(",", ":")))
            elif kind == "G":
                f.write("GET /api/memories/%s\n" % rng.choice(ids))
            else:
                body = {"content": "%s (updated %d-%d)" % (
                    rng.choice(SB.TEMPLATES)[2](rng), seed, i)}
                f.write("PUT /api/memories/%s\t%s\n" % (
                    rng.choice(ids), json.dumps(body, separators=(",", ":"))))


def run_one(lg, args, data, work, config, token, script):
    env = dict(kv.split("=", 1) for kv in args.server_env)
    eager = config.endswith("-eager")
    env.update({"PERSONALOS_ADMISSION": config.split("-")[0],
                "PERSONALOS_MAX_CONNECTIONS_PER_IP": "0",
                "PERSONALOS_MAX_CONNECTIONS": str(max(1024, args.connections * 2))})
    srv = H.Server(H.resolve_binary(args.bin), data, os.path.join(work, "log-" + config), env)
    srv.start()
    try:
        cmd = [lg, "-t", srv.base_url.replace("http://", ""), "-T", token, "-S", script,
               "-c", str(args.connections), "-d", str(args.seconds), "-w", "500",
               "-e", "2xx", "--timeout", "60", "--json"] + ([] if eager else ["--honor-retry-after"])
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode not in (0, 2):
            raise H.BenchError("loadgen failed: %s" % p.stderr.strip())
        r = json.loads(p.stdout)
        r["rss_mb"] = srv.rss_mb()
        alive = srv.proc.poll() is None
        r["server_survived"] = alive
        # A server still busy with the load's leftovers may take longer
        # than the harness's 60 s to stop: reported, and the run's
        # figures kept (killed in `finally`).
        t0 = time.monotonic()
        try:
            srv.stop()
            r["stop_s"] = round(time.monotonic() - t0, 1)
        except H.BenchError as e:
            r["stop_s"] = None
            print("load500: %s" % e, file=sys.stderr)
        return r
    finally:
        srv.kill()


def statuses(r):
    return {int(k[7:]): int(v) for k, v in r.items()
            if k.startswith("status_") and k[7:].isdigit()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=None)
    ap.add_argument("--size", type=int, default=100000)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--connections", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--configs", default="on,off,on-eager")
    ap.add_argument("--server-env", action="append", default=[])
    ap.add_argument("--json")
    ap.add_argument("--markdown")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args(argv)
    configs = args.configs.split(",")
    work = tempfile.mkdtemp(prefix="pos-load500-")
    data = os.path.join(work, "data")
    res = {"size": args.size, "connections": args.connections, "seconds": args.seconds,
           "runs": [], "machine": H.machine_info(args.bin)}
    failed = False
    try:
        lg = WM.build_loadgen(work)
        srv = H.Server(H.resolve_binary(args.bin), data, os.path.join(work, "log-load"))
        srv.start()
        client = H.Client(srv.base_url)
        sess = H.Session(client, "load500-%d@example.com" % os.getpid()).register()
        t0 = time.perf_counter()
        ids = []
        for chunk in SB.corpus_chunks(args.size):
            got, _ = sess.bulk(chunk)
            ids.extend(got[::50])
        H.log("load500: loaded %d memories in %.1f s" % (args.size, time.perf_counter() - t0))
        token = sess.fresh_token()
        client.close()
        srv.stop()
        queries = WM.distinct_queries(50000, 7)
        for rnd in range(args.rounds):
            order = configs if rnd % 2 == 0 else list(reversed(configs))
            for config in order:
                script = os.path.join(work, "script.txt")
                write_script(script, queries, ids, 1000 + rnd, 100000)
                r = run_one(lg, args, data, work, config, token, script)
                st = statuses(r)
                bad = {k: v for k, v in st.items() if k >= 300 and k not in ALLOWED}
                if bad or r.get("io_errors") or not r["server_survived"]:
                    failed = True
                res["runs"].append({"round": rnd, "admission": config, "loadgen": r,
                                    "statuses": st})
                H.log("load500: round %d, admission %s: %.0f ok/s, p50 %s p99 %s, "
                      "statuses %s, io errors %s"
                      % (rnd, config, r.get("req_per_s") or 0,
                         H.fmt_ms(r.get("client_p50_ms")), H.fmt_ms(r.get("client_p99_ms")),
                         st, r.get("io_errors")))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            H.log("load500: kept %s" % work)
    rows = []
    med = {}
    for config in configs:
        rs = [x["loadgen"] for x in res["runs"] if x["admission"] == config]
        if not rs:
            continue
        m = {k: H.median([r.get(k) or 0.0 for r in rs])
             for k in ("req_per_s", "client_p50_ms", "client_p99_ms", "refused_p50_ms",
                       "refused_p99_ms")}
        med[config] = m
        total = {}
        for x in res["runs"]:
            if x["admission"] == config:
                for k, v in x["statuses"].items():
                    total[k] = total.get(k, 0) + v
        io = sum(r.get("io_errors") or 0 for r in rs)
        refused = ("%s / %s" % (H.fmt_ms(m["refused_p50_ms"]), H.fmt_ms(m["refused_p99_ms"]))
                   if any(k >= 300 for k in total) else "—")
        rows.append(["admission %s" % config.replace("-eager", " (clients ignore Retry-After)"), "%.0f" % m["req_per_s"],
                     "%s / %s" % (H.fmt_ms(m["client_p50_ms"]), H.fmt_ms(m["client_p99_ms"])),
                     ", ".join("%d: %d" % kv for kv in sorted(total.items())),
                     refused, str(io)])
    if "on" in med and "off" in med and med["off"]["client_p99_ms"]:
        rows.append(["on / off", "%.2f×" % (med["on"]["req_per_s"] / max(med["off"]["req_per_s"], 1e-9)),
                     "p99 %.2f×" % (med["on"]["client_p99_ms"] / med["off"]["client_p99_ms"]),
                     "", "", ""])
    head = ["%d conns, %.0f s, %d memories" % (args.connections, args.seconds, args.size),
            "ok req/s", "client p50 / p99 (2xx)", "statuses (count)",
            "refusals p50 / p99", "conn errors"]
    print(H.text_table(head, rows), end="")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(H.markdown_table(head, rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
