#!/usr/bin/env python3
"""Files benchmark for PersonalOS (issue 21), in one run.

Against the real `personalos` binary on this machine:

  * upload throughput: POST /api/files of a --mib MiB file of random bytes
    (no text extracted: its type has no extractor), --rounds times; MB/s
    median, next to `cp` of the same file into the same file system
    (followed by `sync` of it, as the server fsyncs the blob).
  * PDF text: a generated --pages page text PDF uploaded as a file memory;
    the server extracts it before answering, so pages/s = pages / (request
    time - the time of a same-size upload without text).
  * OCR: tests/data/files/screenshot.png uploaded --images times (each
    extraction is its own child process); images/s.

Nothing is asserted: the exit status is 0 whenever the run worked.

    cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF
    cmake --build build-release -j2
    python3 bench/files_bench.py --bin build-release/personalos

Python 3 standard library only. See docs/BENCHMARKS.md.
"""
import argparse
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=None)
    ap.add_argument("--mib", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--pages", type=int, default=200)
    ap.add_argument("--images", type=int, default=5)
    a = ap.parse_args()
    if a.bin:
        os.environ["POS_BIN"] = a.bin
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
            print("upload %d MiB: median %.1f MB/s (%.3f s); cp+sync %.1f MB/s (%.3f s)" % (
                a.mib, mb / statistics.median(up), statistics.median(up),
                mb / statistics.median(cps), statistics.median(cps)))

            pdf = os.path.join(tmp, "pages.pdf")
            make_samples.pdf(pdf, ["Page %d of the benchmark about budget item %d" % (i, i * 7)
                                   for i in range(a.pages)])
            same = os.path.join(tmp, "pages.bin")
            with open(same, "wb") as f:
                f.write(os.urandom(os.path.getsize(pdf)))
            base_t, _ = upload(srv.base_url, token, same, "pages.bin")
            t, m = upload(srv.base_url, token, pdf, "pages.pdf")
            att = m["attachments"][0]
            print("PDF text: %d pages in %.3f s -> %.0f pages/s (text %s, %d pages)" % (
                a.pages, t - base_t, a.pages / max(t - base_t, 1e-6), att["text_status"],
                att["text_pages"]))

            png = os.path.join(HERE, "..", "tests", "data", "files", "screenshot.png")
            ts = []
            for i in range(a.images):
                t, m = upload(srv.base_url, token, png, "shot%d.png" % i)
                ts.append(t)
            print("OCR: %d images (640x100), median %.3f s -> %.2f images/s (text %s)" % (
                a.images, statistics.median(ts), 1 / statistics.median(ts),
                m["attachments"][0]["text_status"]))
    finally:
        shutil.rmtree(tmp, True)


if __name__ == "__main__":
    main()
