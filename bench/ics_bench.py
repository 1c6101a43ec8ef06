#!/usr/bin/env python3
"""ICS import benchmark: events/s of the iCalendar transform and of the
end-to-end `personalos import ics` (into a fresh data directory), with the
parse-only pass as the baseline measured in the same run.

Usage (from the repository root, after a Release build):
  cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF
  cmake --build build-release -j2
  python3 bench/ics_bench.py --build build-release [--events 20000] [--runs 9]

Builds bench/ics_bench.c against build-release/libposcore.a, generates a
calendar (bench/ics_bench.c `gen`), runs the in-process passes, then times
`personalos import ics` --runs/3 times on fresh data dirs (median, p99 by
nearest rank) and a re-import of the unchanged file.
"""

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PKGS = ["libmicrohttpd", "jansson", "sqlite3", "libsodium", "libcurl", "libical",
        "libxml-2.0", "gmime-3.0"]


def sh(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode:
        sys.exit("failed: %s\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
    return r.stdout


def rank(v, q):
    v = sorted(v)
    k = max(1, min(len(v), int(q * len(v) + 0.999999)))
    return v[k - 1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build-release")
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=9)
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    tmp = tempfile.mkdtemp(prefix="pos-icsbench-")
    try:
        exe = os.path.join(tmp, "ics_bench")
        libs = sh(["pkg-config", "--libs"] + [p for p in PKGS
                  if subprocess.run(["pkg-config", "--exists", p]).returncode == 0]).split()
        cflags = sh(["pkg-config", "--cflags", "jansson", "libical"]).split()
        sh(["cc", "-O2", "-std=c17", "-D_GNU_SOURCE", "-I" + os.path.join(ROOT, "src"),
            "-include", os.path.join(ROOT, "src/base/compat.h")] + cflags +
           [os.path.join(HERE, "ics_bench.c"), os.path.join(build, "libposcore.a"),
            "-o", exe] + libs + ["-lpthread", "-lm"])
        ics = os.path.join(tmp, "bench.ics")
        sh([exe, "gen", str(a.events), ics])
        out = sh([exe, "run", ics, str(a.runs)])
        print(out, end="")
        m = re.search(r"(\d+) VEVENTs", out)
        vevents = int(m.group(1)) if m else a.events

        # End to end: the CLI into a fresh data dir (store, FTS, embeddings
        # queued for the server), then the unchanged file again.
        binp = os.path.join(build, "personalos")
        times, cpus, again, added = [], [], [], None
        for i in range(max(3, a.runs // 3)):
            data = os.path.join(tmp, "data%d" % i)
            subprocess.run([binp, "user", "add", "bench@example.com", "--data", data],
                           input="correct horse battery\n", capture_output=True, text=True,
                           check=True)
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.monotonic()
            out = sh([binp, "import", "ics", ics, "--data", data])
            times.append(time.monotonic() - t0)
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
            m = re.search(r"(\d+) added", out)
            added = int(m.group(1)) if m else None
            t0 = time.monotonic()
            sh([binp, "import", "ics", ics, "--data", data])
            again.append(time.monotonic() - t0)
            shutil.rmtree(data)
        med = statistics.median(times)
        cpu = statistics.median(cpus)
        print("end-to-end `personalos import ics` (%d runs): median %.2f s  p99 %.2f s  "
              "%.0f events/s  %.0f items/s  (%s items added; CPU median %.2f s = "
              "%.0f events/s of CPU)" % (len(times), med, rank(times, 0.99), vevents / med,
                                          (added or 0) / med, added, cpu, vevents / cpu))
        print("re-import of the unchanged file: median %.3f s" % statistics.median(again))
    finally:
        shutil.rmtree(tmp, True)


if __name__ == "__main__":
    main()
