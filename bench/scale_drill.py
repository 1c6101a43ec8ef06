#!/usr/bin/env python3
"""Scale drill (issue 20): one instance with N memories for one user.

  python3 bench/scale_drill.py --build build --memories 1000000 [--others 3]
      [--other-memories 10000] [--rounds 1] [--limit 20] [--work-dir DIR]
      [--keep] [--json out.json] [--no-exact]

1. Starts `personalos serve` on an empty data directory (under /tmp unless
   --work-dir), registers the measured user and --others other users over
   HTTP, stops it.
2. bench/scale_gen.c (built against BUILD/libposcore.a) writes the
   memories straight through the store's batched insert with the built-in
   embedder's vectors: N for the measured user from the small-vocabulary
   Zipf corpus of bench/search_bench.py (--corpus zipf: 8-20 words of 400,
   a word of rank 30-70 in 3-5 % of memories), --other-memories for each
   other user (the same corpus plus a marker word), and the same N texts
   into a plain SQLite FTS5 table (porter unicode61), the "FTS5 BM25
   alone" baseline.
3. Starts the server on it and measures: start-up time (to /health), the
   first keyword search (loads the user's keyword index), another user's
   keyword search sent 1 s into that one (meaningful when the load takes
   longer than that: whether a load holds other users up), the time until a
   semantic search answers `vector_status` ready (loads the vector index),
   RSS (VmRSS, RssAnon) after the loads and after the searches, then
   `--rounds` passes of the 200 Zipf queries per mode (hybrid, keyword,
   semantic): server took_ms and client ms, p50 / p99, with the FTS5
   baseline's own timings over the same queries in the same pass.
4. Isolation: the measured user's searches for the other users' marker
   word return none of their memories (every mode), and an other user finds
   it.
5. Unless --no-exact, restarts the server with search_vector_exact = on
   and times the same semantic queries: the exact int8 scan alone on the
   same data (the baseline of the two-stage scan), with its load time.

Nothing is asserted about speed; exit 1 when a step fails or isolation
does not hold. The data directory is deleted at the end unless --keep.
Record results in docs/BENCHMARKS.md, "One instance at 1M and 10M".
"""

import argparse
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "locomo"))
import harness as H  # noqa: E402
import search_bench as SB  # noqa: E402

PKGS = ["libmicrohttpd", "jansson", "sqlite3", "libsodium", "libcurl", "libical",
        "libxml-2.0", "gmime-3.0", "libarchive", "nettle", "hiredis", "zlib"]
MARK = "qzxmarkother"
MODES = ("hybrid", "keyword", "semantic")


def sh(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode:
        sys.exit("failed: %s\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
    return r.stdout


def build_gen(build, out):
    libs = sh(["pkg-config", "--libs"] + PKGS).split()
    cflags = sh(["pkg-config", "--cflags", "jansson"]).split()
    sh(["cc", "-O2", "-std=c17", "-D_GNU_SOURCE", "-I" + os.path.join(ROOT, "src"),
        "-include", os.path.join(ROOT, "src/base/compat.h")] + cflags +
       [os.path.join(HERE, "scale_gen.c"), "-o", out, os.path.join(build, "libposcore.a")] +
       libs + ["-lstemmer", "-lzxcvbn", "-lm", "-lpthread"])


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def metrics(base):
    try:
        with urllib.request.urlopen(base + "/metrics", timeout=30) as r:
            text = r.read().decode()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        if line.startswith("personalos_vector_index_bytes ") or \
                line.startswith("personalos_memories "):
            k, v = line.split()
            out[k] = float(v)
    return out


def login(client, email):
    s = H.Session(client, email)
    r = client.request("POST", "/api/auth/login", {"email": email, "password": H.PASSWORD})
    if r.status != 200:
        raise H.BenchError("login %s: %s" % (email, r.error_text()))
    s.token, s.got_at = r.doc["access_token"], time.monotonic()
    return s


def summary(v):
    return H.latency_summary(v) if v else None


def start_server(a, data, log_dir, extra_env):
    env = {"PERSONALOS_VECTOR_CACHE_MB": str(a.vector_cache_mb),
           "PERSONALOS_SEARCH_CACHE": "0"}
    env.update(extra_env)
    for kv in a.server_env:
        k, v = kv.split("=", 1)
        env[k] = v
    srv = H.Server(H.resolve_binary(a.bin), data, log_dir, env)
    t0 = time.perf_counter()
    srv.start(timeout=1800.0)
    return srv, time.perf_counter() - t0


def wait_vectors(sess, q, timeout=3600.0):
    """Semantic searches until the answer says the vectors are loaded;
    returns the seconds it took (from the first request) and the number of
    answers given while loading."""
    t0 = time.perf_counter()
    loading = 0
    while True:
        r = sess.search(q, mode="semantic", limit=10)
        if r.status != 200:
            raise H.BenchError("semantic search answered %s" % r.error_text())
        if r.doc.get("vector_status", "ready") == "ready":
            return time.perf_counter() - t0, loading
        loading += 1
        if time.perf_counter() - t0 > timeout:
            raise H.BenchError("vectors still loading after %.0f s" % timeout)
        time.sleep(0.5)


def proc_cpu_s(pid):
    """utime + stime of a process, seconds."""
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def run_queries(a, srv, sess, fts, queries, modes, res_modes, fts_ms):
    rng = random.Random(SB.QUERY_SEED + 1)
    order = list(range(len(queries)))
    for mode in modes:          # warm-up
        for _k, q in queries[:a.warmup]:
            sess.search(q, mode=mode, limit=a.limit)
    for rnd in range(a.rounds):
        rng.shuffle(order)
        H.log("  queries: round %d of %d, %d queries x %s%s (load %.1f)" % (
            rnd + 1, a.rounds, len(order), ",".join(modes), " + FTS5" if fts else "",
            loadavg()))
        for mode in modes:
            p = res_modes.setdefault(mode, {"took": [], "client": [], "found": 0,
                                            "loading": 0, "errors": [], "cpu_s": 0.0})
            cpu0 = proc_cpu_s(srv.pid)
            for i in order:
                _kind, q = queries[i]
                r = sess.search(q, mode=mode, limit=a.limit)
                if r.status != 200:
                    p["errors"].append(r.error_text())
                    continue
                ids, took = H.search_hits(r)
                if r.doc.get("vector_status") == "loading":
                    p["loading"] += 1
                p["took"].append(took)
                p["client"].append(r.client_ms)
                p["found"] += bool(ids)
            p["cpu_s"] += proc_cpu_s(srv.pid) - cpu0
        if fts is not None:
            for i in order[:a.fts5_queries]:
                _kind, q = queries[i]
                _rows, ms = H.fts5_search(fts, q, a.limit)
                fts_ms.append(ms)


def isolation(sess, others):
    """The measured user never sees the marker word of the other users'
    memories; an other user does."""
    problems = []
    for mode in MODES:
        r = sess.search(MARK, mode=mode, limit=50)
        if r.status != 200:
            problems.append("%s search for the marker answered %s" % (mode, r.error_text()))
            continue
        for m in r.doc["memories"]:
            if MARK in (m.get("content") or "").lower():
                problems.append("%s search returned another user's memory %s" % (mode, m["id"]))
    if others:
        r = others[0].search(MARK, mode="keyword", limit=5)
        if r.status != 200 or not r.doc.get("memories"):
            problems.append("another user did not find its own marker word (%s)" %
                            r.error_text())
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build", help="build dir (libposcore.a, personalos)")
    ap.add_argument("--bin", help="server binary (default BUILD/personalos)")
    ap.add_argument("--memories", type=int, default=1000000)
    ap.add_argument("--others", type=int, default=3)
    ap.add_argument("--other-memories", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--fts5-queries", type=int, default=200,
                    help="FTS5 baseline: this many of each round's queries (at 10M one "
                    "takes seconds)")
    ap.add_argument("--gen-only", action="store_true", help="stop after generating")
    ap.add_argument("--vector-cache-mb", type=int, default=0,
                    help="PERSONALOS_VECTOR_CACHE_MB (0: 512 or what the user's index needs)")
    ap.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--work-dir", help="keep the data here (default: a new dir in /tmp)")
    ap.add_argument("--keep", action="store_true", help="do not delete the data at the end")
    ap.add_argument("--reuse", action="store_true",
                    help="with --work-dir: reuse its generated data (skip steps 1-2)")
    ap.add_argument("--no-exact", action="store_true", help="skip the exact-scan restart")
    ap.add_argument("--json", help="write the figures here")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    a.bin = a.bin or os.path.join(build, "personalos")
    if not a.vector_cache_mb:
        a.vector_cache_mb = max(512, (a.memories + a.others * a.other_memories) * 450
                                // (1 << 20) + 64)
    work = os.path.abspath(a.work_dir) if a.work_dir else tempfile.mkdtemp(
        prefix="pos-scale-", dir="/tmp")
    os.makedirs(work, exist_ok=True)
    data, fts_path = os.path.join(work, "data"), os.path.join(work, "fts5.db")
    email = "scale-main@example.com"
    other_emails = ["scale-other-%d@example.com" % i for i in range(a.others)]
    R = {"memories": a.memories, "others": a.others, "other_memories": a.other_memories,
         "machine": H.machine_info(a.bin), "load_start": loadavg(),
         "vector_cache_mb": a.vector_cache_mb, "command": sys.argv,
         "fts5_queries": a.fts5_queries}
    ok = True
    srv = None
    fts = None
    try:
        if not a.reuse:
            shutil.rmtree(data, True)
            if os.path.exists(fts_path):
                os.unlink(fts_path)
            gen = os.path.join(work, "scale_gen")
            build_gen(build, gen)
            srv, _ = start_server(a, data, work, {})
            c = H.Client(srv.base_url)
            for e in [email] + other_emails:
                H.Session(c, e).register()
            c.close()
            srv.stop()
            srv = None
            vocab = os.path.join(work, "vocab.txt")
            with open(vocab, "w") as f:
                f.write("\n".join(SB.zipf_vocab()) + "\n")
            t0 = time.perf_counter()
            H.log("generating %d memories (load %.1f)" % (a.memories, loadavg()))
            sys.stdout.flush()
            if subprocess.run(["nice", gen, data, fts_path, vocab, email, str(a.memories),
                               "1"]).returncode:
                raise H.BenchError("scale_gen failed")
            R["gen_s"] = time.perf_counter() - t0
            for i, e in enumerate(other_emails):
                print(sh(["nice", gen, data, "-", vocab, e, str(a.other_memories), str(i + 2),
                          MARK]), end="")
            R["gen_total_s"] = time.perf_counter() - t0
        if a.gen_only:
            report(R)
            return 0
        R["data_bytes"] = H.dir_bytes(data)[0]
        R["fts5_bytes"] = os.path.getsize(fts_path)
        H.log("data dir %.2f GB (%.0f B per memory), FTS5 baseline %.2f GB" % (
            R["data_bytes"] / 1e9, R["data_bytes"] / (a.memories + a.others * a.other_memories),
            R["fts5_bytes"] / 1e9))

        # ---- the server on it
        srv, R["startup_s"] = start_server(a, data, work, {})
        R["rss_idle_mb"], R["anon_idle_mb"] = srv.rss_mb(), srv.anon_mb()
        H.log("server up in %.1f s, RSS %.0f MB" % (R["startup_s"], R["rss_idle_mb"]))
        c = H.Client(srv.base_url, timeout=3600.0)
        sess = login(c, email)
        others = [login(c, e) for e in other_emails]
        queries = SB.zipf_queries()
        # Another user's keyword search sent 1 s into the measured user's
        # first one (which loads that user's keyword index): how long the
        # load holds everyone else's keyword searches up.
        side = {}

        def other_search():
            time.sleep(1.0)
            oc = H.Client(srv.base_url, timeout=3600.0)
            o = login(oc, other_emails[0])
            t0 = time.perf_counter()
            rr = o.search(queries[2][1], mode="keyword", limit=a.limit)
            side["ms"] = (time.perf_counter() - t0) * 1000.0
            side["status"] = rr.status
            oc.close()
        th = threading.Thread(target=other_search) if other_emails else None
        if th:
            th.start()
        r = sess.search(queries[0][1], mode="keyword", limit=a.limit)
        if th:
            th.join()
            R["other_user_keyword_during_load_ms"] = side.get("ms")
            H.log("another user's keyword search sent 1 s into the load: %.0f ms (status %s)"
                  % (side.get("ms", -1), side.get("status")))
        if r.status != 200:
            raise H.BenchError("first keyword search: %s" % r.error_text())
        R["first_keyword_ms"] = r.client_ms
        R["rss_after_kw_mb"], R["anon_after_kw_mb"] = srv.rss_mb(), srv.anon_mb()
        H.log("first keyword search (keyword index load) %.0f ms, RSS %.0f MB" % (
            r.client_ms, R["rss_after_kw_mb"]))
        R["vector_load_s"], R["answers_while_loading"] = wait_vectors(sess, queries[1][1])
        time.sleep(1.0)
        R["rss_after_load_mb"], R["anon_after_load_mb"] = srv.rss_mb(), srv.anon_mb()
        R["metrics_after_load"] = metrics(srv.base_url)
        H.log("vectors ready after %.1f s (%d answers while loading), RSS %.0f MB" % (
            R["vector_load_s"], R["answers_while_loading"], R["rss_after_load_mb"]))
        fts = sqlite3.connect(fts_path)
        modes, fts_ms = {}, []
        run_queries(a, srv, sess, fts, queries, MODES, modes, fts_ms)
        R["modes"] = {m: {"took_ms": summary(p["took"]), "client_ms": summary(p["client"]),
                          "found_share": p["found"] / max(1, len(p["took"])),
                          "cpu_ms_per_search": 1000.0 * p["cpu_s"] / max(1, len(p["took"])),
                          "answers_while_loading": p["loading"], "errors": p["errors"][:3]}
                      for m, p in modes.items()}
        R["fts5_ms"] = summary(fts_ms)
        time.sleep(1.0)
        R["rss_after_queries_mb"], R["anon_after_queries_mb"] = srv.rss_mb(), srv.anon_mb()
        R["hwm_mb"] = srv.hwm_mb()
        R["metrics_after_queries"] = metrics(srv.base_url)
        problems = isolation(sess, others)
        R["isolation_problems"] = problems
        if problems or any(p["errors"] for p in modes.values()):
            ok = False
        c.close()
        srv.stop(timeout=600.0)
        srv = None

        # ---- the exact int8 scan alone
        if not a.no_exact:
            srv, R["exact_startup_s"] = start_server(
                a, data, work, {"PERSONALOS_SEARCH_VECTOR_EXACT": "on"})
            c = H.Client(srv.base_url, timeout=3600.0)
            sess = login(c, email)
            R["exact_vector_load_s"], _ = wait_vectors(sess, queries[1][1])
            ex = {}
            run_queries(a, srv, sess, None, queries, ("semantic",), ex, [])
            R["exact_semantic"] = {"took_ms": summary(ex["semantic"]["took"]),
                                   "cpu_ms_per_search": 1000.0 * ex["semantic"]["cpu_s"] /
                                   max(1, len(ex["semantic"]["took"])),
                                   "client_ms": summary(ex["semantic"]["client"]),
                                   "errors": ex["semantic"]["errors"][:3]}
            c.close()
            srv.stop(timeout=600.0)
            srv = None
        R["load_end"] = loadavg()
    except H.BenchError as e:
        print("scale_drill: %s" % e, file=sys.stderr)
        R["error"] = str(e)
        ok = False
    finally:
        if srv:
            srv.kill()
        if fts is not None:
            fts.close()
        if not a.keep:
            shutil.rmtree(work, True)
    report(R)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(R, f, indent=1)
    return 0 if ok else 1


def pp(s):
    return "%s / %s" % (H.fmt_ms(s["p50"]), H.fmt_ms(s["p99"])) if s else "n/a"


def report(R):
    n = R["memories"]
    print("\n== scale drill: %d memories for one user (+%d users x %d), load %.1f -> %s" % (
        n, R["others"], R["other_memories"], R["load_start"], R.get("load_end", "?")))
    for k, label in (("gen_s", "generate (store + vectors + FTS5 baseline)"),
                     ("startup_s", "server start-up to /health"),
                     ("vector_load_s", "vector index load (until vector_status ready)"),
                     ("exact_startup_s", "start-up, exact-scan server"),
                     ("exact_vector_load_s", "vector index load, exact-scan server")):
        if k in R:
            print("  %-48s %8.1f s" % (label, R[k]))
    if "first_keyword_ms" in R:
        print("  %-48s %8.1f s" % ("first keyword search (keyword index load)",
                                   R["first_keyword_ms"] / 1000.0))
    if R.get("other_user_keyword_during_load_ms") is not None:
        print("  %-48s %8.1f s" % ("another user's keyword search, sent 1 s into it",
                                   R["other_user_keyword_during_load_ms"] / 1000.0))
    if "data_bytes" in R:
        tot = n + R["others"] * R["other_memories"]
        print("  data dir %.2f GB = %.0f B per memory; FTS5 baseline table %.2f GB" % (
            R["data_bytes"] / 1e9, R["data_bytes"] / tot, R["fts5_bytes"] / 1e9))
    for k, label in (("rss_idle", "idle"), ("rss_after_kw", "after the keyword index"),
                     ("rss_after_load", "after both indexes"),
                     ("rss_after_queries", "after the searches")):
        if k + "_mb" in R:
            print("  RSS %-28s %8.0f MB (anon %.0f MB)" % (
                label, R[k + "_mb"], R[k.replace("rss", "anon") + "_mb"]))
    if "hwm_mb" in R:
        print("  RSS peak (VmHWM) %.0f MB; vector index %s" % (
            R["hwm_mb"], R.get("metrics_after_queries", {}).get("personalos_vector_index_bytes")))
    if "modes" in R:
        print("\n  %-34s %-22s %-22s %-9s %s" % ("", "took_ms p50 / p99", "client p50 / p99",
                                                "CPU/search", "found"))
        fts = R.get("fts5_ms")
        for m, f in R["modes"].items():
            ratio = H.fmt_ratio(H.ratio(f["took_ms"]["p50"], fts["p50"])) if f["took_ms"] \
                and fts else ""
            print("  %-34s %-22s %-22s %-9s %.2f  %s%s" % (
                m, pp(f["took_ms"]), pp(f["client_ms"]), H.fmt_ms(f["cpu_ms_per_search"]),
                f["found_share"], "(p50 %s of FTS5)" % ratio if ratio else "",
                " ERR %s" % f["errors"][0] if f["errors"] else ""))
        print("  %-34s %-22s (%d queries a round)" % ("FTS5 BM25 alone (in-process)", pp(fts),
                                                      R.get("fts5_queries", 200)))
        if "exact_semantic" in R:
            e = R["exact_semantic"]
            print("  %-34s %-22s %-22s %-9s" % ("exact int8 scan alone (semantic)",
                                                pp(e["took_ms"]), pp(e["client_ms"]),
                                                H.fmt_ms(e["cpu_ms_per_search"])))
    if R.get("isolation_problems"):
        print("  ISOLATION: %s" % "; ".join(R["isolation_problems"]))
    elif "isolation_problems" in R:
        print("  isolation: the measured user found none of the other users' memories")
    if R.get("error"):
        print("  ERROR: %s" % R["error"])


if __name__ == "__main__":
    sys.exit(main())
