#!/usr/bin/env python3
"""The server's RSS across a Markdown export of one memory with a 32 MiB
attachment (issues 14/21, docs/EXPORT.md): the file is streamed into the
zip 64 KiB at a time, so RSS must not grow by the file's size.

    POS_BIN=build/personalos python3 bench/export_files_rss.py

VmRSS is sampled every 5 ms during the export job (the job runs in the
server process); VmHWM is the peak since start (the upload sets it)."""
import io, os, sys, time, zipfile
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "api"))
from harness import Server, Api, unique_email, poll

import threading
def rss(pid):
    for l in open("/proc/%d/status" % pid):
        if l.startswith("VmRSS"):
            return int(l.split()[1])
    return 0

def hwm(pid):
    for l in open("/proc/%d/status" % pid):
        if l.startswith("VmHWM"):
            return int(l.split()[1])
    return 0

with Server() as srv:
    api = Api(srv.base_url)
    t = api.register(unique_email("b"))["access_token"]
    m = api.post("/api/memories", {"content": "big file"}, token=t).json
    data = os.urandom(32 * 1024 * 1024 - 4096)
    body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n--XyZ--\r\n")
    r = api.post("/api/memories/%s/attachments" % m["id"], token=t, raw=body,
                 headers={"Content-Type": "multipart/form-data; boundary=XyZ"})
    assert r.status == 201, r.raw[:200]
    pid = srv.proc.pid
    time.sleep(1)
    before = hwm(pid)
    # a reset of the peak is not possible without privileges: compare growth
    def run(fmt):
        base = rss(pid)
        peak = [base]
        stop = [False]
        def sample():
            while not stop[0]:
                peak[0] = max(peak[0], rss(pid))
                time.sleep(0.005)
        th = threading.Thread(target=sample); th.start()
        t0 = time.time()
        r = api.post("/api/export/memories", {"format": fmt}, token=t)
        eid = r.json["id"]
        st = poll(lambda: (lambda j: j if j["status"] in ("done", "failed") else None)(
            api.get("/api/export/status/" + eid, token=t).json), timeout=120)
        wall = time.time() - t0
        stop[0] = True; th.join()
        print("%-8s status=%s bytes=%d wall=%.2fs VmRSS before=%d KiB max during=%d KiB growth=%d KiB"
              % (fmt, st["status"], st["bytes"], wall, base, peak[0], peak[0] - base))
        return eid
    run("json")  # the baseline: the same account, no file bytes in the output
    eid = run("markdown")
    after = hwm(pid)
    z = zipfile.ZipFile(io.BytesIO(api.get("/api/export/download/" + eid, token=t).raw))
    same = any(z.read(n) == data for n in z.namelist() if n.endswith("big.bin"))
    print("VmHWM before=%d KiB after=%d KiB; the zip holds the file byte for byte: %s"
          % (before, after, same))
