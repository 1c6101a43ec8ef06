#!/usr/bin/env python3
"""Security benchmark for PersonalOS (issue 7), in one run:

  * login (Argon2id at the configured cost, default 2 passes x 64 MiB):
    client-side latency of POST /api/auth/login, p50 and p99, next to
    GET /api/auth/me on the same server as the baseline; target 100-500 ms;
  * the per-request cost of the rate limiter: two servers, one with limits
    on (rates so high that nothing is refused, so every request still draws
    from the per-address and the per-user bucket) and one with limits off;
    GET /api/memories/{id} with loadgen, rounds alternating, medians of
    req/s and of server CPU per request, and the ratio on/off.

Nothing is asserted: timing depends on the machine. Reuses run_core.py's
server, session and loadgen helpers.

    cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF
    cmake --build build-release -j2
    python3 bench/security_bench.py [--bin build-release/personalos] [--markdown out.md]

Python 3 standard library only. See docs/BENCHMARKS.md.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run_core as rc  # noqa: E402

HUGE = "10000000"
LIMITS_ON = {"PERSONALOS_RATE_LIMIT": "on",
             "PERSONALOS_RATE_LIMIT_IP_RATE": HUGE, "PERSONALOS_RATE_LIMIT_IP_BURST": HUGE,
             "PERSONALOS_RATE_LIMIT_USER_RATE": HUGE, "PERSONALOS_RATE_LIMIT_USER_BURST": HUGE,
             "PERSONALOS_LOG_REQUESTS": "off"}
LIMITS_OFF = {"PERSONALOS_RATE_LIMIT": "off", "PERSONALOS_LOG_REQUESTS": "off"}


def timed(port, method, path, body=None, token=None, expect=200):
    t0 = time.perf_counter()
    status, doc, raw = rc.api(port, method, path, body, token)
    ms = (time.perf_counter() - t0) * 1000.0
    if status != expect:
        raise rc.BenchError("%s %s answered %d: %s" % (method, path, status, raw[:200]))
    return ms, doc


def measure_login(args, work):
    env = dict(LIMITS_OFF)
    srv = rc.Server(args.bin, os.path.join(work, "login-data"), os.path.join(work, "log-login"),
                    env)
    srv.start()
    try:
        email = "login-bench-%d@example.com" % os.getpid()
        s = rc.Session(srv.port, email)
        s.register()
        login, me = [], []
        for i in range(args.logins):
            ms, doc = timed(srv.port, "POST", "/api/auth/login",
                            {"email": email, "password": rc.PASSWORD})
            login.append(ms)
            ms, _ = timed(srv.port, "GET", "/api/auth/me", token=doc["access_token"])
            me.append(ms)
        rc.log("login p50 %.1f ms p99 %.1f ms (GET /api/auth/me p50 %.2f ms)"
               % (rc.median(login), rc.pctl(login, 99), rc.median(me)))
        return {"login_p50_ms": rc.median(login), "login_p99_ms": rc.pctl(login, 99),
                "me_p50_ms": rc.median(me), "me_p99_ms": rc.pctl(me, 99), "n": len(login)}
    finally:
        srv.stop()


def start_with_memory(args, work, name, env):
    srv = rc.Server(args.bin, os.path.join(work, name + "-data"), os.path.join(work, "log-" + name),
                    env)
    srv.start()
    s = rc.Session(srv.port, "%s-%d@example.com" % (name, os.getpid()))
    s.register()
    _, doc = timed(srv.port, "POST", "/api/memories",
                   {"content": "Benchmark memory: call the dentist on Tuesday."},
                   token=s.token, expect=201)
    return srv, s, doc["id"]


def measure_limiter(args, work, lg_path):
    on, s_on, id_on = start_with_memory(args, work, "on", LIMITS_ON)
    off, s_off, id_off = start_with_memory(args, work, "off", LIMITS_OFF)
    try:
        lg_on = rc.Loadgen(lg_path, on.port, on.proc.pid, retries=args.retry_disturbed)
        lg_off = rc.Loadgen(lg_path, off.port, off.proc.pid, retries=args.retry_disturbed)
        res = {"on": [], "off": []}
        for rnd in range(args.rounds):
            order = ("on", "off") if rnd % 2 == 0 else ("off", "on")
            for which in order:
                lg, s, mid = (lg_on, s_on, id_on) if which == "on" else (lg_off, s_off, id_off)
                res[which].append(lg.run("GET memory limits %s c=%d r=%d"
                                         % (which, args.conns, rnd + 1),
                                         "/api/memories/" + mid, conns=args.conns,
                                         requests=args.requests, warmup=args.warmup,
                                         expect="200", token=s.fresh_token()))
        out = {}
        for which in ("on", "off"):
            runs = res[which]
            out[which] = {
                "rps": rc.median([r["req_per_s"] for r in runs]),
                "rps_rounds": [r["req_per_s"] for r in runs],
                "cpu_us": rc.median([r["server_cpu_us_per_req"] for r in runs]),
                "server_p50_ms": rc.median([r["server_p50_ms"] for r in runs]),
                "server_p99_ms": rc.median([r["server_p99_ms"] for r in runs]),
                "errors": sum(r["errors"] for r in runs),
            }
        out["rps_ratio"] = rc.ratio(out["on"]["rps"], out["off"]["rps"])
        out["cpu_ratio"] = rc.ratio(out["on"]["cpu_us"], out["off"]["cpu_us"])
        out["round_ratios"] = [rc.ratio(a["req_per_s"], b["req_per_s"])
                               for a, b in zip(res["on"], res["off"])]
        return out
    finally:
        on.stop()
        off.stop()


def render(R):
    L, lim = R["login"], R["limiter"]
    rows = [
        ("login (Argon2id) p50 / p99", "%.1f / %.1f ms" % (L["login_p50_ms"], L["login_p99_ms"]),
         "100-500 ms", rc.verdict(100 <= L["login_p50_ms"] <= 500)),
        ("baseline GET /api/auth/me p50 / p99", "%.2f / %.2f ms" % (L["me_p50_ms"], L["me_p99_ms"]),
         "", ""),
        ("GET memory req/s, limits on / off",
         "%s / %s" % (rc.fmt_rate(lim["on"]["rps"]), rc.fmt_rate(lim["off"]["rps"])), "", ""),
        ("req/s ratio on/off (rounds)", "%s (%s)" % (rc.fmt_ratio(lim["rps_ratio"]),
                                                     ", ".join(rc.fmt_ratio(x)
                                                               for x in lim["round_ratios"])),
         ">= 0.97", rc.verdict((lim["rps_ratio"] or 0) >= 0.97)),
        ("server CPU per request on / off",
         "%s / %s" % (rc.fmt_us(lim["on"]["cpu_us"]), rc.fmt_us(lim["off"]["cpu_us"])), "", ""),
        ("server p50 / p99, limits on", "%s / %s" % (rc.fmt_ms(lim["on"]["server_p50_ms"]),
                                                     rc.fmt_ms(lim["on"]["server_p99_ms"])), "", ""),
        ("server p50 / p99, limits off", "%s / %s" % (rc.fmt_ms(lim["off"]["server_p50_ms"]),
                                                      rc.fmt_ms(lim["off"]["server_p99_ms"])), "", ""),
    ]
    md = ["| measure | result | target | |", "|---|---|---|---|"]
    md += ["| %s | %s | %s | %s |" % r for r in rows]
    return "\n".join(md)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.environ.get("POS_BIN", "build-release/personalos"))
    ap.add_argument("--logins", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument("--conns", type=int, default=8)
    ap.add_argument("--retry-disturbed", type=int, default=1)
    ap.add_argument("--markdown", metavar="FILE")
    args = ap.parse_args(argv)
    args.bin = os.path.abspath(args.bin)
    if not os.access(args.bin, os.X_OK):
        raise SystemExit("no server binary at %s (see the docstring to build one)" % args.bin)
    work = tempfile.mkdtemp(prefix="pos-secbench-")
    try:
        lg_path = rc.build_loadgen(work)
        R = {"machine": rc.machine_info(args.bin)}
        R["login"] = measure_login(args, work)
        R["limiter"] = measure_limiter(args, work, lg_path)
        table = render(R)
        print(table)
        if args.markdown:
            with open(args.markdown, "w") as f:
                f.write(table + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
