#!/usr/bin/env python3
"""Files benchmark for PersonalOS (issue 21), in one run.

Against the real `personalos` binary on this machine:

  * upload throughput: POST /api/files of a --mib MiB file of random bytes
    (no text extracted: its type has no extractor), --rounds times; MB/s
    median, next to `cp` of the same file into the same file system
    (followed by `sync` of it, as the server fsyncs the blob), in the same
    run.
  * PDF text extraction, pages/s: a generated --pages page text PDF given
    to the extraction child the server runs for each file (`personalos
    extract-text application/pdf ...`: seccomp, rlimits, poppler), --rounds
    times, one child at a time and then --jobs children at once (2 cores:
    --jobs 2); and end to end through the server: the upload, the
    files.extract job, until the attachment's text_status is done (the
    job also renders the first page's thumbnail).
  * OCR, images/s: tests/data/files/screenshot.png (640x100) through the
    child (`extract-text image/png`: child start, Tesseract loading its
    model, OCR), --images times with --jobs children at once; and end to
    end: --images uploads at once, until every text_status is done (the
    server's jobs workers run them side by side).

The machine's core count and load average are printed with the numbers.
Nothing is asserted: the exit status is 0 whenever the run worked.

    cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF
    cmake --build build-release -j2
    python3 bench/files_bench.py --bin build-release/personalos

Python 3 standard library only. See docs/BENCHMARKS.md.
"""
import argparse
import concurrent.futures
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "api"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "data", "files"))
import harness  # noqa: E402
import make_samples  # noqa: E402


def upload(base, token, path, name):
    u = urllib.parse.urlsplit(base)
    size = os.path.getsize(path)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    t0 = time.perf_counter()
    with open(path, "rb") as f:
        c.putrequest("POST", "/api/files?name=" + urllib.parse.quote(name))
        c.putheader("Authorization", "Bearer " + token)
        c.putheader("Content-Type", "application/octet-stream")
        c.putheader("Content-Length", str(size))
        c.endheaders()
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            c.send(chunk)
    r = c.getresponse()
    body = r.read()
    dt = time.perf_counter() - t0
    c.close()
    if r.status != 201:
        raise SystemExit("upload failed: %d %r" % (r.status, body[:300]))
    return dt, json.loads(body)


def child(binary, mime, path, limits):
    """One run of the extraction child on `path`: seconds, bytes of text."""
    with open(path, "rb") as f:
        t0 = time.perf_counter()
        p = subprocess.run([binary, "extract-text", mime] + [str(x) for x in limits],
                           stdin=f, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit("extract-text %s failed (%d): %s" % (mime, p.returncode,
                                                              p.stderr[:300]))
    return dt, len(p.stdout)


def children(binary, mime, path, limits, n, jobs):
    """n runs of the child, `jobs` at a time: wall-clock seconds."""
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(jobs) as ex:
        list(ex.map(lambda _: child(binary, mime, path, limits), range(n)))
    return time.perf_counter() - t0


def wait_text(api, token, memory_ids):
    """Polls until every memory's attachment has its text (or failed)."""
    left = set(memory_ids)
    while left:
        for mid in list(left):
            m = api.get("/api/memories/" + mid, token=token).json
            if m["attachments"][0]["text_status"] != "pending":
                left.discard(mid)
        if left:
            time.sleep(0.02)


def machine():
    la = os.getloadavg()
    return "%d cores, load average %.1f %.1f %.1f" % (os.cpu_count() or 0, *la)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=None)
    ap.add_argument("--mib", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--pages", type=int, default=200)
    ap.add_argument("--images", type=int, default=6)
    ap.add_argument("--jobs", type=int, default=2, help="extraction children at once")
    a = ap.parse_args()
    if a.bin:
        os.environ["POS_BIN"] = a.bin
    binary = harness.require_binary()
    # the server's defaults: extract_pages 1000, extract_pixels 50M, 1,000,000 bytes of text
    limits = [max(a.pages, 1000), 50000000, 1000000]
    print("machine: " + machine())
    tmp = tempfile.mkdtemp(prefix="pos-files-bench-")
    try:
        big = os.path.join(tmp, "random.bin")
        with open(big, "wb") as f:
            for _ in range(a.mib):
                f.write(os.urandom(1 << 20))
        env = {"PERSONALOS_FILE_MAX": str((a.mib + 8) << 20), "PERSONALOS_RATE_LIMIT": "off"}
        with harness.Server(env=env) as srv:
            api = harness.Api(srv.base_url)
            token = api.register(harness.unique_email(), "correct horse battery staple 42")[
                "access_token"]
            up = []
            for i in range(a.rounds):
                # different bytes each round: no dedup shortcut
                with open(big, "r+b") as f:
                    f.write(os.urandom(16))
                up.append(upload(srv.base_url, token, big, "r%d.bin" % i)[0])
            cps = []
            for i in range(a.rounds):
                dst = os.path.join(srv.data_dir, "cp-%d.bin" % i)
                t0 = time.perf_counter()
                subprocess.check_call(["cp", big, dst])
                subprocess.check_call(["sync", dst])
                cps.append(time.perf_counter() - t0)
                os.remove(dst)
            mb = a.mib * 1048576 / 1e6
            print("upload %d MiB: median %.1f MB/s (%.3f s); cp+sync of the same bytes "
                  "%.1f MB/s (%.3f s)" % (
                      a.mib, mb / statistics.median(up), statistics.median(up),
                      mb / statistics.median(cps), statistics.median(cps)))

            pdf = os.path.join(tmp, "pages.pdf")
            make_samples.pdf(pdf, ["Page %d of the benchmark about budget item %d" % (i, i * 7)
                                   for i in range(a.pages)])
            one = [child(binary, "application/pdf", pdf, limits)[0] for _ in range(a.rounds)]
            print("PDF text, extraction child: %d pages, median %.3f s -> %.0f pages/s "
                  "(one child)" % (a.pages, statistics.median(one),
                                   a.pages / statistics.median(one)))
            n = a.rounds * a.jobs
            wall = children(binary, "application/pdf", pdf, limits, n, a.jobs)
            print("PDF text, extraction child: %d x %d pages, %d at once, %.3f s -> "
                  "%.0f pages/s" % (n, a.pages, a.jobs, wall, n * a.pages / wall))
            e2e = []
            for i in range(a.rounds):
                t0 = time.perf_counter()
                _, m = upload(srv.base_url, token, pdf, "pages%d.pdf" % i)
                wait_text(api, token, [m["id"]])
                e2e.append(time.perf_counter() - t0)
            got = api.get("/api/memories/" + m["id"], token=token).json["attachments"][0]
            print("PDF text, end to end (upload, files.extract job, thumbnail): median "
                  "%.3f s -> %.0f pages/s (text %s, %d pages)" % (
                      statistics.median(e2e), a.pages / statistics.median(e2e),
                      got["text_status"], got["text_pages"]))

            png = os.path.join(HERE, "..", "tests", "data", "files", "screenshot.png")
            wall1 = children(binary, "image/png", png, limits, a.images, 1)
            print("OCR, extraction child: %d images (640x100), one at a time, %.3f s -> "
                  "%.2f images/s" % (a.images, wall1, a.images / wall1))
            wall = children(binary, "image/png", png, limits, a.images, a.jobs)
            print("OCR, extraction child: %d images, %d at once, %.3f s -> %.2f images/s" % (
                a.images, a.jobs, wall, a.images / wall))
            t0 = time.perf_counter()
            ids = []
            for i in range(a.images):
                # distinct bytes (a trailing comment chunk is not read): no dedup
                data = open(png, "rb").read()
                path = os.path.join(tmp, "shot%d.png" % i)
                with open(path, "wb") as f:
                    f.write(data + b"\0" * (i + 1))
                ids.append(upload(srv.base_url, token, path, "shot%d.png" % i)[1]["id"])
            wait_text(api, token, ids)
            wall = time.perf_counter() - t0
            st = {api.get("/api/memories/" + i, token=token).json["attachments"][0]["text_status"]
                  for i in ids}
            print("OCR, end to end: %d uploads, jobs side by side, %.3f s -> %.2f images/s "
                  "(text %s)" % (a.images, wall, a.images / wall, ",".join(sorted(st))))
            api.close()
        print("machine after: " + machine())
    finally:
        shutil.rmtree(tmp, True)


if __name__ == "__main__":
    main()
