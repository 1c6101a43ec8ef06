#!/usr/bin/env python3
"""Export and import benchmark (issue 14): memories/s and RSS growth of the
export in each format and of the import of the json export, with baselines
in the same run: `sqlite3 .dump` of the same database (the export's
baseline) and the memories of the same json export sent through
pos_memory_bulk, the handler of POST /api/memories/bulk without HTTP, in
bodies of 1,000 (the import's baseline).

Usage (from the repository root, after a build):
  python3 bench/export_bench.py --build build [--memories 100000] [--formats json,csv]
      [--no-embed] [--workdir DIR] [--before BUILD2 [--rounds R]]

Every pass prints its wall time and its CPU time (user + system, of the
process): on a machine shared with other work the first measures the
scheduler, the second what the code costs.

Builds bench/export_bench.c against BUILD/libposcore.a. The import and its
baseline embed every memory with the built-in embedder, as the server does
(a search engine is attached to the memory service); --no-embed leaves it
out of both. --workdir keeps the database, the exports and the bench
binary there (for `perf record` of one pass) instead of a temp dir.

--before BUILD2 compares two builds in the same run (BEFORE vs AFTER of a
change): the database is generated and exported once, then the bulk
baseline and the import run with BUILD2's library and with BUILD's,
alternating (R rounds, the order swapped every round), each pass into its
own copy of the generated database, so every pass starts from the same
state and the machine's load falls on both alike.
"""

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PKGS = ["libmicrohttpd", "jansson", "sqlite3", "libsodium", "libcurl", "libical",
        "libxml-2.0", "gmime-3.0", "libarchive", "nettle", "hiredis", "zlib"]


def sh(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode:
        sys.exit("failed: %s\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
    return r.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--memories", type=int, default=100000)
    ap.add_argument("--formats", default="json,jsonl,markdown,csv",
                    help="export formats to run, comma-separated (json is always run: the import reads it)")
    ap.add_argument("--no-embed", action="store_true",
                    help="import and its baseline without embeddings (no search engine)")
    ap.add_argument("--workdir", help="keep everything in this (new or empty) folder")
    ap.add_argument("--before", help="a second build dir whose bulk and import passes run "
                    "alternating with BUILD's (BEFORE vs AFTER)")
    ap.add_argument("--rounds", type=int, default=1, help="with --before: rounds of both")
    ap.add_argument("--passes", default="bulk,import",
                    help="with --before: which passes to run (bulk, import)")
    ap.add_argument("--reuse", action="store_true",
                    help="with --workdir: reuse its generated database and json export "
                    "(skips generating, the .dump baseline and the exports)")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    if a.workdir:
        os.makedirs(a.workdir, exist_ok=True)
        tmp = os.path.abspath(a.workdir)
    else:
        tmp = tempfile.mkdtemp(prefix="pos-exportbench-")
    try:
        libs = sh(["pkg-config", "--libs"] + PKGS).split()
        cflags = sh(["pkg-config", "--cflags", "jansson"]).split()

        def link(bdir, name):
            exe = os.path.join(tmp, name)
            sh(["cc", "-O2", "-std=c17", "-D_GNU_SOURCE", "-I" + os.path.join(ROOT, "src")]
               + cflags + [os.path.join(HERE, "export_bench.c"), "-o", exe,
                           os.path.join(bdir, "libposcore.a")]
               + libs + ["-lstemmer", "-lzxcvbn", "-lm", "-lpthread"])
            return exe
        exe = link(build, "export_bench")
        before = link(os.path.abspath(a.before), "export_bench_before") if a.before else None
        data = os.path.join(tmp, "data")
        reuse = a.reuse and os.path.exists(os.path.join(tmp, "out.json"))
        if not reuse:
            shutil.rmtree(data, True)
            print(sh([exe, "gen", data, str(a.memories)]), end="")
        if reuse:
            print("reusing the database and json export in %s" % tmp)
        else:
            ru = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu0 = ru.ru_utime + ru.ru_stime
            t0 = time.monotonic()
            with open(os.devnull, "w") as null:
                subprocess.run(["sqlite3", os.path.join(data, "personalos.db"), ".dump"],
                               stdout=null, check=True)
            s = time.monotonic() - t0
            ru = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = ru.ru_utime + ru.ru_stime - cpu0
            print("baseline sqlite3 .dump: %.2f s, %.0f memories/s; CPU %.2f s, %.0f memories per "
                  "CPU-second" % (s, a.memories / s, cpu, a.memories / cpu))
            fmts = ["json"] + [f for f in a.formats.split(",") if f and f != "json"]
            for fmt in fmts:
                print(sh([exe, "export", data, fmt, os.path.join(tmp, "out." + fmt)]), end="")
        noembed = ["noembed"] if a.no_embed else []
        out = os.path.join(tmp, "out.json")
        if not before:
            if a.reuse:
                sys.exit("--reuse needs --before (the passes must write into copies)")
            # the baseline writes into a copy of the database, so that it
            # and the import start from the same state
            copy = data + "-bulk"
            shutil.rmtree(copy, True)
            shutil.copytree(data, copy)
            print(sh([exe, "bulk", copy, out] + noembed), end="")
            shutil.rmtree(copy, True)
            print(sh([exe, "import", data, "json", out] + noembed), end="")
        else:
            copy = data + "-pass"
            for r in range(a.rounds):
                order = [("BEFORE", before), ("AFTER", exe)]
                if r % 2:
                    order.reverse()
                for label, x in order:
                    cmds = {"bulk": ["bulk", copy, out], "import": ["import", copy, "json", out]}
                    for cmd in [cmds[p] for p in a.passes.split(",") if p]:
                        shutil.rmtree(copy, True)
                        shutil.copytree(data, copy)
                        with open("/proc/loadavg") as f:
                            load = f.read().split()[0]
                        print("[round %d %s, load %s] " % (r + 1, label, load) +
                              sh([x] + cmd + noembed), end="", flush=True)
            shutil.rmtree(copy, True)
        with open("/proc/loadavg") as f:
            print("load average during the run: %s" % f.read().split()[0])
    finally:
        if not a.workdir:
            shutil.rmtree(tmp, True)


if __name__ == "__main__":
    main()
