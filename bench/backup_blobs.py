"""Backup cost of the uploaded files (issue 21, branch bkblob): `personalos
backup` of a data directory holding 100 uploads of 1 MiB and 200 memories
(server running), against the same database and keys without blobs (the
baseline, measured in the same run). 5 runs each; medians and max.

    POS_BIN=build/personalos nice python3 bench/backup_blobs.py
"""
import os, sys, time, shutil, tempfile, statistics, subprocess
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "api"))
import harness
data = tempfile.mkdtemp(prefix="bkb-")
srv = harness.Server(data_dir=data, env={"PERSONALOS_PWHASH_OPSLIMIT": "1", "PERSONALOS_PWHASH_MEMLIMIT_KIB": "8192"}, external_ok=False).start()
api = harness.Api(srv.base_url)
tok = api.register()["access_token"]
for i in range(100):
    r = api.post("/api/files?name=f%d.bin" % i, token=tok, raw=os.urandom(1 << 20), headers={"Content-Type": "application/octet-stream"})
    assert r.status == 201, r.raw[:200]
for i in range(200):
    api.post("/api/memories", {"content": "note %d" % i}, token=tok)
nob = tempfile.mkdtemp(prefix="bkb-noblobs-")
def run(d):
    out = []
    for k in range(5):
        dest = os.path.join(tempfile.mkdtemp(prefix="bkb-d-"), "b")
        t = time.perf_counter(); p = harness.run_cli(["backup", dest, "--data", d]); out.append(time.perf_counter() - t)
        assert p.returncode == 0, p.stderr
        shutil.rmtree(os.path.dirname(dest))
    return out
withb = run(data)
srv.stop()
shutil.copy(os.path.join(data, "personalos.db"), nob); shutil.copy(os.path.join(data, "keys"), nob)
dbonly = run(nob)
print("db only (same db, no blobs): median %.3fs max %.3fs" % (statistics.median(dbonly), max(dbonly)))
print("with 100 x 1 MiB blobs:      median %.3fs max %.3fs  ratio %.2f" % (statistics.median(withb), max(withb), statistics.median(withb)/statistics.median(dbonly)))
shutil.rmtree(data); shutil.rmtree(nob)
