#!/usr/bin/env python3
"""What the auto-tagger costs a bulk ingest through the real endpoint
(issue 15: "the cost of on_memory_created with the auto-tagger on bulk
ingest, target <= 25 % slower than without plugins").

Starts one `personalos serve` with its default configuration (the built-in
embedder on, so every memory is embedded as a user's ingest is) and the
repository's plugins/ as its catalog, registers two users, installs the
auto-tagger for one of them (rules "work: meeting, deadline; health: gym,
doctor"), then ingests the same memories for both through
`POST /api/memories/bulk` in batches, the two users alternating (ABBA per
round, so a drifting load hits both alike). For each ingest it records the
server's CPU (utime + stime of the server process, /proc/PID/stat; the
figure that survives a loaded machine) and the wall time, then prints the
medians, their ratio, and the per-request wall p50 / p99. It checks that
the plugin did tag (a tag filter on the plugin user's memories).

    python3 bench/plugins_http.py [--binary build/personalos] [--memories 3000]
        [--batch 100] [--rounds 3] [--plugins-dir plugins]

The store-only path (no embeddings; the stricter ratio) is
bench/plugins_bench.c. Python 3 standard library. Reports, never asserts.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "locomo"))
import harness as H  # noqa: E402

TEXTS = [
    "Standup meeting about the release deadline, then lunch with Ada",
    "Gym session: legs and 5 km on the treadmill",
    "Doctor appointment moved to Friday, remember to bring the results",
    "Read a paper on vector search and quantization for the project",
]


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def settle(pid, quiet=0.3, limit=30.0):
    """Waits until the server burns no CPU for `quiet` seconds (jobs a
    request queued count with it); returns the CPU seconds then."""
    end = time.monotonic() + limit
    last = cpu_s(pid)
    while time.monotonic() < end:
        time.sleep(quiet)
        now = cpu_s(pid)
        if now == last:
            return now
        last = now
    return last


def memories(round_no, n):
    return [{"content": "%s (%d.%d)" % (TEXTS[i % 4], round_no, i),
             "tags": ["misc" if i % 7 else "work"]} for i in range(n)]


def ingest(sess, pid, items, batch):
    """Bulk-creates `items`; (server CPU s, wall s, per-request wall ms)."""
    c0, t0 = settle(pid), time.perf_counter()
    lat = []
    for at in range(0, len(items), batch):
        _ids, r = sess.bulk(items[at:at + batch])
        lat.append(r.client_ms)
    wall = time.perf_counter() - t0
    return settle(pid) - c0, wall, lat


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "personalos"))
    ap.add_argument("--memories", type=int, default=3000, help="per user and round")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--plugins-dir", default=os.path.join(ROOT, "plugins"),
                    help="the catalog (e.g. a copy of an older plugins/)")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="plugins_http_")
    srv = H.Server(H.resolve_binary(a.binary), os.path.join(tmp, "data"), os.path.join(tmp, "log"),
                   env={"PERSONALOS_PLUGINS_DIR": os.path.abspath(a.plugins_dir)})
    try:
        srv.start()
        client = H.Client(srv.base_url)
        base = H.Session(client, "plugins-base@example.com").register()
        plug = H.Session(client, "plugins-tagger@example.com").register()
        r = client.request("POST", "/api/plugins/install",
                           {"id": "auto-tagger", "grant": ["memories:read", "memories:write", "kv"],
                            "settings": {"rules": "work: meeting, deadline; health: gym, doctor"}},
                           token=plug.fresh_token())
        if r.status != 201:
            raise H.BenchError("install answered %s" % r.error_text())
        # One warm-up batch each (the sandbox pool, caches, the WAL).
        ingest(base, srv.pid, memories(0, a.batch), a.batch)
        ingest(plug, srv.pid, memories(0, a.batch), a.batch)
        res = {"alone": [], "with": []}
        for rn in range(1, a.rounds + 1):
            items = memories(rn, a.memories)
            order = [("alone", base), ("with", plug)]
            if rn % 2 == 0:
                order.reverse()
            for name, sess in order:
                cpu, wall, lat = ingest(sess, srv.pid, items, a.batch)
                res[name].append((cpu, wall, lat))
                H.log("round %d %-5s: server CPU %.2f s, wall %.2f s" % (rn, name, cpu, wall))
        r = client.request("GET", "/api/memories?tag=health&limit=1", token=plug.fresh_token())
        tagged = r.doc.get("total") if r.status == 200 and isinstance(r.doc, dict) else None
        r = client.request("GET", "/api/memories?tag=health&limit=1", token=base.fresh_token())
        base_tagged = r.doc.get("total") if r.status == 200 and isinstance(r.doc, dict) else None
    finally:
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    def med(name, k):
        return H.median([x[k] for x in res[name]])

    n = a.memories
    print("POST /api/memories/bulk, built-in embedder on, %d memories per side and round, "
          "batches of %d, %d rounds (medians)" % (n, a.batch, a.rounds))
    print("memories tagged \"health\": %s with the auto-tagger, %s without" % (tagged, base_tagged))
    for k, what in ((0, "server CPU"), (1, "wall")):
        x, y = med("alone", k), med("with", k)
        print("%-10s: %.3f s alone (%.1f us per memory), %.3f s with the auto-tagger "
              "(%.1f us per memory): ratio %.3f" % (what, x, 1e6 * x / n, y, 1e6 * y / n, y / x))
    for name in ("alone", "with"):
        lat = [v for x in res[name] for v in x[2]]
        print("per request (%d memories) %-5s: p50 %.1f ms, p99 %.1f ms"
              % (a.batch, name, H.pctl(lat, 50), H.pctl(lat, 99)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
