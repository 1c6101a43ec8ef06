#!/usr/bin/env python3
"""Thumbnail benchmark for PersonalOS (issue 21), in one run.

Runs the confined extraction child the server starts for a thumbnail
(`personalos extract-text thumb:TYPE ...`: seccomp, libvips) --rounds times
on each of: tests/data/files/screenshot.png (640x100), a 4000x3000 JPEG and
a 4000x3000 PNG of noise (made here with the `vips` command), and
tests/data/files/report.pdf (first page). The baseline, in the same run, is
the same child given a 10-byte text file (`extract-text text/plain`):
process start, confinement and exit, no libvips. Reported: median and p99
milliseconds, and the median's ratio to the baseline's.

The machine's core count and load average are printed with the numbers.
Nothing is asserted: the exit status is 0 whenever the run worked.

    python3 bench/thumb_bench.py --bin build/personalos --rounds 30

Python 3 standard library only. See docs/BENCHMARKS.md ("Thumbnails").
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES = os.path.join(HERE, "..", "tests", "data", "files")
LIMITS = ["1000", "50000000", "1000000"]  # the server's defaults


def run(binary, kind, path):
    with open(path, "rb") as f:
        t0 = time.perf_counter()
        p = subprocess.run([binary, "extract-text", kind] + LIMITS, stdin=f,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit("extract-text %s %s failed (%d): %s" % (
            kind, path, p.returncode, p.stderr[:300]))
    return dt


def p99(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.99 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "build", "personalos"))
    ap.add_argument("--rounds", type=int, default=30)
    a = ap.parse_args()
    la = os.getloadavg()
    print("machine: %d cores, load average %.1f %.1f %.1f" % (os.cpu_count() or 0, *la))
    tmp = tempfile.mkdtemp(prefix="pos-thumb-bench-")
    try:
        txt = os.path.join(tmp, "a.txt")
        with open(txt, "wb") as f:
            f.write(b"ten bytes\n")
        big_jpg = os.path.join(tmp, "noise.jpg")
        big_png = os.path.join(tmp, "noise.png")
        subprocess.check_call(["vips", "gaussnoise", big_jpg + "[Q=85]", "4000", "3000"])
        subprocess.check_call(["vips", "gaussnoise", big_png, "4000", "3000"])
        cases = [("baseline: child, 10-byte text", "text/plain", txt),
                 ("PNG 640x100", "thumb:image/png", os.path.join(SAMPLES, "screenshot.png")),
                 ("JPEG 4000x3000", "thumb:image/jpeg", big_jpg),
                 ("PNG 4000x3000", "thumb:image/png", big_png),
                 ("PDF first page", "thumb:application/pdf",
                  os.path.join(SAMPLES, "report.pdf"))]
        # interleaved rounds: a load change hits every case alike
        times = {c[0]: [] for c in cases}
        for _ in range(a.rounds):
            for name, kind, path in cases:
                times[name].append(run(a.bin, kind, path))
        base = statistics.median(times[cases[0][0]])
        for name, _, _ in cases:
            xs = times[name]
            med = statistics.median(xs)
            print("%-32s median %7.1f ms  p99 %7.1f ms  x%.1f of the baseline" % (
                name, med * 1e3, p99(xs) * 1e3, med / base))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
