#!/usr/bin/env python3
"""The auto-tagger's cost through POST /api/memories/bulk counted in
instructions (issue 15), the figure a loaded machine does not disturb.

bench/plugins_http.py measures the same ingest in server CPU time, whose
run-to-run spread on a shared machine (±10 %) is larger than the
differences worth measuring. This one runs `personalos serve` (default
configuration: the built-in embedder on) under callgrind, collecting only
inside the bulk handler (`pos_api_memory_bulk`: the body's JSON, the
quota check, validation, the creating stage, embedding, the insert and
the answer; not libmicrohttpd, routing or auth, which are the same for
both), once for a user without plugins and once, in a fresh server, for a
user with the auto-tagger installed (rules "work: meeting, deadline;
health: gym, doctor"). After one warm-up batch the counters are zeroed
(callgrind_control), N memories are ingested in batches, and the counts
are dumped; it prints instructions per memory for each side and their
ratio, and checks that the plugin did tag. The plugin's per-call time
budget is raised to 1 s (`plugin_query_budget_ms`, its maximum): under callgrind a call
takes ~50 times as long, and a call failing on time would make the count
depend on the machine.

    python3 bench/plugins_http_ir.py [--binary build/personalos]
        [--memories 2000] [--batch 100] [--plugins-dir plugins] [--keep DIR]

Needs valgrind (callgrind, callgrind_control). Slow: registering a user
hashes a password under valgrind (about a minute). Python 3 standard
library. Reports, never asserts.
"""

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "locomo"))
sys.path.insert(0, HERE)
import harness as H  # noqa: E402
from plugins_http import memories  # noqa: E402

HANDLER = "pos_api_memory_bulk"


def totals(path):
    """The Ir total of a callgrind dump."""
    with open(path) as f:
        for line in f:
            if line.startswith("totals:") or line.startswith("summary:"):
                return int(line.split()[1])
    raise H.BenchError("no totals in %s" % path)


def side(binary, plugins_dir, with_plugin, n, batch, tmp):
    name = "with" if with_plugin else "alone"
    out = os.path.join(tmp, "cg.%s" % name)
    wrapper = os.path.join(tmp, "serve-%s.sh" % name)
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nexec valgrind --tool=callgrind --toggle-collect=%s "
                "--callgrind-out-file=%s %s \"$@\"\n" % (HANDLER, out, binary))
    os.chmod(wrapper, 0o755)
    srv = H.Server(wrapper, os.path.join(tmp, "data-" + name), os.path.join(tmp, "log-" + name),
                   env={"PERSONALOS_PLUGINS_DIR": os.path.abspath(plugins_dir),
                        # callgrind runs the server ~50x slower: a call's
                        # 50 ms budget would fail calls natively ~1 ms long.
                        "PERSONALOS_PLUGIN_QUERY_BUDGET_MS": "1000"})
    try:
        srv.start(timeout=600)
        client = H.Client(srv.base_url)
        sess = H.Session(client, "plugins-%s@example.com" % name).register()
        if with_plugin:
            r = client.request("POST", "/api/plugins/install",
                               {"id": "auto-tagger", "grant": ["memories:read", "memories:write", "kv"],
                                "settings": {"rules": "work: meeting, deadline; health: gym, doctor"}},
                               token=sess.fresh_token())
            if r.status != 201:
                raise H.BenchError("install answered %s" % r.error_text())
        sess.bulk(memories(0, batch))  # warm-up: the sandbox pool, caches
        subprocess.run(["callgrind_control", "-z", str(srv.pid)], check=True,
                       stdout=subprocess.DEVNULL)
        items = memories(1, n)
        for at in range(0, n, batch):
            sess.bulk(items[at:at + batch])
        subprocess.run(["callgrind_control", "-d", str(srv.pid)], check=True,
                       stdout=subprocess.DEVNULL)
        r = client.request("GET", "/api/memories?tag=health&limit=1", token=sess.fresh_token())
        tagged = r.doc.get("total") if r.status == 200 and isinstance(r.doc, dict) else None
    finally:
        srv.stop(timeout=300)
    dumps = sorted(glob.glob(out + ".*"), key=lambda p: int(p.rsplit(".", 1)[1]))
    if not dumps:
        raise H.BenchError("no callgrind dump for %s" % name)
    return totals(dumps[-1]), tagged


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "personalos"))
    ap.add_argument("--memories", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--plugins-dir", default=os.path.join(ROOT, "plugins"))
    ap.add_argument("--keep", help="keep the callgrind dumps (cg.alone.*, cg.with.*) in this folder")
    a = ap.parse_args()
    binary = H.resolve_binary(a.binary)
    tmp = tempfile.mkdtemp(prefix="plugins_http_ir_")
    try:
        alone, t0 = side(binary, a.plugins_dir, False, a.memories, a.batch, tmp)
        withp, t1 = side(binary, a.plugins_dir, True, a.memories, a.batch, tmp)
    finally:
        if a.keep:
            os.makedirs(a.keep, exist_ok=True)
            for path in glob.glob(os.path.join(tmp, "cg.*")):
                shutil.copy(path, a.keep)
        shutil.rmtree(tmp, ignore_errors=True)
    n = a.memories
    print("POST /api/memories/bulk under callgrind (collected in %s), built-in embedder on, "
          "%d memories in batches of %d after one warm-up batch" % (HANDLER, n, a.batch))
    print("memories tagged \"health\": %s with the auto-tagger, %s without" % (t1, t0))
    print("instructions per memory: %.0f alone, %.0f with the auto-tagger: ratio %.3f"
          % (alone / n, withp / n, withp / alone))
    return 0


if __name__ == "__main__":
    sys.exit(main())
