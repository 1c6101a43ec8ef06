#!/usr/bin/env python3
"""Memory intelligence benchmark (issue 16): the lifecycle run and the graph.

It starts a fresh `personalos serve`, loads N synthetic memories of one user
through POST /api/memories/bulk (created_at spread over the last two years,
a tag from a small set, every third memory related to an earlier one, every
fifth a child of an earlier one), then measures:

  * lifecycle: POST /api/memories/lifecycle/run twice — the first run moves
    most memories (and computes their importance), the second finds little
    to do; memories/s of each. Baseline in the same run: GET
    /api/memories/stats (one pass of aggregates over the same rows).
  * graph: GET /api/memories/graph?root=R&depth=2&limit=100 for 300 random
    roots, client latency p50 and p99. Baseline: GET /api/memories/{id} of
    the same roots.

With --only autolink it measures the auto-linking cost on bulk ingest
instead: the same N memories loaded into a fresh server without linking
and into one with PERSONALOS_AUTO_LINK=on, --rounds times each, in turn
(off, on, off, on, ...). Each run's time is from the first bulk request
until its memories are stored and (with linking) every memory.autolink
job has finished; the ratio of the medians is the cost. A sample of the
linked memories is read back to show links were made.

With --autolink-before BIN it runs BIN the same way, alternating with
--bin in every round (BIN off, BIN on, --bin off, --bin on, ...), for a
before/after measured in the same run.

With --only categories it times GET /api/memories/categories (local:
tags and clusters) after the clusters are cached, next to GET
/api/memories/stats; with --categories-before BIN it also starts BIN on
the same database, alternating, for a before/after.

    python3 bench/intel_bench.py [--memories 20000] [--bin PATH]
        [--only all|lifecycle|autolink|categories] [--rounds 2]

Nothing is asserted: it prints a table (stdout) and exits 0 when the run
worked. Python 3 standard library only. See docs/BENCHMARKS.md.
"""

import argparse
import datetime
import os
import random
import shutil
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "locomo"))
import harness as H  # noqa: E402

TAGS = ["work", "home", "kitchen", "travel", "health", "books", "garden", "money"]
WORDS = ("plumber invoice meeting dentist garden tomato flight hotel budget "
         "report novel recipe bread train ticket doctor tax insurance kitchen "
         "paint roof bike repair lunch dinner call email project plan").split()


def make_batch(rng, ids, n_total, now, links=True):
    """The next bulk of the synthetic corpus (at most 1,000 memories)."""
    batch = []
    for i in range(min(1000, n_total - len(ids))):
        k = len(ids) + i
        when = now - datetime.timedelta(minutes=rng.randrange(2 * 365 * 24 * 60))
        m = {"content": " ".join(rng.choice(WORDS) for _ in range(12)),
             "tags": [rng.choice(TAGS)],
             "created_at": when.strftime("%Y-%m-%dT%H:%M:%SZ")}
        if links and ids and k % 3 == 0:
            m["related_memory_ids"] = [rng.choice(ids)]
        if links and ids and k % 5 == 0:
            m["parent_memory_id"] = rng.choice(ids)
        batch.append(m)
    return batch


def ingest(user, n, seed, links=True):
    """Loads n memories in bulks of 1,000; (ids, seconds in bulk requests)."""
    rng = random.Random(seed)
    now = datetime.datetime.now(datetime.timezone.utc)
    ids = []
    t_ingest = 0.0
    while len(ids) < n:
        batch = make_batch(rng, ids, n, now, links)
        t0 = time.perf_counter()
        got, _ = user.bulk(batch)
        t_ingest += time.perf_counter() - t0
        ids.extend(got)
    return ids, t_ingest


def autolink_pending(client, user):
    """memory.autolink jobs of the user not finished (newest 200: the jobs
    run oldest first, so an unfinished one shows among them)."""
    r = client.request("GET", "/api/jobs?kind=memory.autolink&limit=200",
                       token=user.fresh_token())
    if r.status != 200:
        raise H.BenchError("GET /api/jobs answered %s" % r.error_text())
    jobs = r.doc["jobs"]
    bad = [j for j in jobs if j["state"] == "failed"]
    if bad:
        raise H.BenchError("a memory.autolink job failed: %s" % bad[0].get("error"))
    return len(jobs), sum(1 for j in jobs if j["state"] in ("queued", "running"))


def server_cpu_s(server):
    """CPU seconds (user + system) the server process has used so far:
    unlike wall time, not stretched by other work on the machine."""
    with open("/proc/%d/stat" % server.pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_ingest_run(binary, work, n, link, label, extra_env):
    """A fresh server, n memories; (seconds until stored and linked,
    seconds in bulk requests, share of sampled memories with links, jobs)."""
    env = dict(extra_env)
    env["PERSONALOS_AUTO_LINK"] = "on" if link else "off"
    d = os.path.join(work, label)
    server = H.Server(binary, os.path.join(d, "data"), d, env=env)
    try:
        server.start()
        client = H.Client(server.base_url)
        user = H.Session(client, "intel-link@example.org").register()
        t0 = time.perf_counter()
        c0 = server_cpu_s(server)
        # no hand-made links: the links counted are the ones linking made
        ids, t_bulk = ingest(user, n, 17, links=False)
        jobs = 0
        if link:
            while True:
                jobs, pending = autolink_pending(client, user)
                if jobs and not pending:
                    break
                time.sleep(0.05)
        t_total = time.perf_counter() - t0
        cpu = server_cpu_s(server) - c0
        sample = random.Random(5).sample(ids, min(200, len(ids)))
        linked = 0
        for mid in sample:
            r = client.request("GET", "/api/memories/graph?root=%s&depth=1&limit=10" % mid,
                               token=user.fresh_token())
            if r.status != 200:
                raise H.BenchError("graph answered %s" % r.error_text())
            linked += 1 if r.doc.get("edges") else 0
        return t_total, t_bulk, linked / len(sample), jobs, cpu
    finally:
        server.stop()
        shutil.rmtree(d, ignore_errors=True)


def bench_autolink(args, binary, work):
    """Each binary (this one, and --autolink-before's if given) with
    auto_link off then on, in turn, --rounds times: the on/off ratios of
    each binary come from runs made side by side."""
    n = args.memories
    bins = [("this build", binary)]
    if args.autolink_before:
        bins.insert(0, ("before", H.resolve_binary(args.autolink_before)))
    runs = {(b, link): [] for b, _ in bins for link in (False, True)}
    for rnd in range(args.rounds):
        for bname, bpath in bins:
            for link in (False, True):
                label = "%s%s-%d" % ("before-" if bname == "before" else "",
                                     "on" if link else "off", rnd)
                got = one_ingest_run(bpath, work, n, link, label, args.env)
                runs[(bname, link)].append(got)
                H.log("%s: %.1f s (bulk requests %.1f s), server CPU %.1f s, linked share %.2f, jobs %d"
                      % (label, got[0], got[1], got[4], got[2], got[3]))
    print("memories: %d, rounds: %d" % (n, args.rounds))
    for bname, _ in bins:
        rows = []
        for link in (False, True):
            for i, (t_total, t_bulk, share, jobs, cpu) in enumerate(runs[(bname, link)]):
                rows.append(["%s: ingest, auto_link %s, run %d" % (bname, "on" if link else "off", i + 1),
                             "%.2f s" % t_total, "%.2f s" % cpu, H.fmt_rate(n / t_total),
                             "bulk requests %.2f s; %s" % (
                                 t_bulk, ("sampled memories with links %.0f %%, %d jobs"
                                          % (100 * share, jobs)) if link else "no linking")])
        print(H.text_table(["what", "wall", "server CPU", "rate", "notes"], rows))
        for i, what in ((0, "wall time until stored and linked"), (4, "server CPU"),
                        (1, "time in bulk requests")):
            off = H.median([r[i] for r in runs[(bname, False)]])
            on = H.median([r[i] for r in runs[(bname, True)]])
            print("%s: auto-linking cost, %s: median %.2f s against %.2f s: %+.1f %%"
                  % (bname, what, on, off, 100.0 * (on / off - 1.0)))
            # per round (off and on run next to each other)
            per = ["%+.0f %%" % (100.0 * (a[i] / b[i] - 1.0))
                   for a, b in zip(runs[(bname, True)], runs[(bname, False)])]
            print("%s:   per round: %s" % (bname, ", ".join(per)))
    return 0


def categories_times(server, user, samples):
    """Client ms of GET /api/memories/categories once the clusters are cached,
    and of GET /api/memories/stats beside it."""
    client = H.Client(server.base_url)
    for _ in range(30):             # until the clusters are computed and cached
        r = client.request("GET", "/api/memories/categories", token=user.fresh_token())
        if r.status != 200:
            raise H.BenchError("categories answered %s" % r.error_text())
        if not r.doc.get("clusters_pending"):
            break
        time.sleep(1.0)
    cats, stats = [], []
    for _ in range(samples):
        r = client.request("GET", "/api/memories/categories", token=user.fresh_token())
        cats.append(r.client_ms)
        r = client.request("GET", "/api/memories/stats", token=user.fresh_token())
        stats.append(r.client_ms)
    kinds = {}
    for c in client.request("GET", "/api/memories/categories", token=user.fresh_token()).doc["categories"]:
        kinds[c.get("kind")] = kinds.get(c.get("kind"), 0) + 1
    return cats, stats, kinds


def bench_categories(args, binary, work, server, client, user):
    bins = [("this build", binary)]
    if args.categories_before:
        bins.append(("before", H.resolve_binary(args.categories_before)))
    res = {label: ([], []) for label, _ in bins}
    kinds = None
    for rnd in range(args.rounds):
        for label, b in bins:
            if server.binary != b or server.proc is None or server.proc.poll() is not None:
                server.stop()
                server.binary = b
                server.start()
                user.client = H.Client(server.base_url)
                user.token = None
                user.got_at = -1e9
            cats, stats, k = categories_times(server, user, args.samples)
            kinds = kinds or k
            res[label][0].extend(cats)
            res[label][1].extend(stats)
            H.log("%s: categories p50 %s, stats p50 %s"
                  % (label, H.fmt_ms(H.median(cats)), H.fmt_ms(H.median(stats))))
    rows = []
    for label, _ in bins:
        cats, stats = res[label]
        rows.append(["categories (%s)" % label, "p50 %s" % H.fmt_ms(H.median(cats)),
                     "p99 %s" % H.fmt_ms(H.pctl(cats, 99)), "%d calls" % len(cats)])
        rows.append(["stats (baseline, %s)" % label, "p50 %s" % H.fmt_ms(H.median(stats)),
                     "p99 %s" % H.fmt_ms(H.pctl(stats, 99)), "%d calls" % len(stats)])
    print("memories: %d; categories answered: %s" % (args.memories, kinds))
    print(H.text_table(["what", "time", "p99", "notes"], rows))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--memories", type=int, default=20000)
    ap.add_argument("--bin", default=os.environ.get("POS_BIN", "build-release/personalos"))
    ap.add_argument("--graph-samples", type=int, default=300)
    ap.add_argument("--only", choices=["all", "lifecycle", "autolink", "categories"], default="all",
                    help="all: lifecycle, graph and categories; autolink: the linking cost on ingest")
    ap.add_argument("--rounds", type=int, default=2, help="autolink/categories: rounds")
    ap.add_argument("--samples", type=int, default=10, help="categories: calls per round")
    ap.add_argument("--categories-before", metavar="BIN",
                    help="categories: also time this (older) binary on the same database")
    ap.add_argument("--autolink-before", metavar="BIN",
                    help="autolink: also run this (older) binary, alternating with --bin")
    ap.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                    help="extra environment for the servers started (repeatable)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    args.env = dict(kv.split("=", 1) for kv in args.server_env)
    rng = random.Random(16)
    binary = H.resolve_binary(args.bin)
    work = tempfile.mkdtemp(prefix="pos-intel-bench-")
    if args.only == "autolink":
        try:
            return bench_autolink(args, binary, work)
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
    server = H.Server(binary, os.path.join(work, "data"), work, env=args.env)
    try:
        server.start()
        client = H.Client(server.base_url)
        user = H.Session(client, "intel-bench@example.org").register()
        n = args.memories
        ids, t_ingest = ingest(user, n, 16)
        H.log("loaded %d memories in %.1f s" % (n, t_ingest))
        if args.only == "categories":
            return bench_categories(args, binary, work, server, client, user)
        rows = []
        t0 = time.perf_counter()
        r = client.request("GET", "/api/memories/stats", token=user.fresh_token())
        t_stats = time.perf_counter() - t0
        rows.append(["stats (baseline)", "%.2f s" % t_stats, H.fmt_rate(n / t_stats), ""])
        for label in ("lifecycle, first run", "lifecycle, second run"):
            t0 = time.perf_counter()
            r = client.request("POST", "/api/memories/lifecycle/run", {},
                               token=user.fresh_token())
            dt = time.perf_counter() - t0
            if r.status != 200:
                raise H.BenchError("lifecycle/run answered %s" % r.error_text())
            moved = sum(r.doc["moved"].values())
            rows.append([label, "%.2f s" % dt, H.fmt_rate(n / dt),
                         "moved %d, importance %d" % (moved, r.doc["importance_changed"])])
        roots = [rng.choice(ids) for _ in range(args.graph_samples)]
        base, graph, sizes = [], [], []
        for rid in roots:
            r = client.request("GET", "/api/memories/" + rid, token=user.fresh_token())
            base.append(r.client_ms)
            r = client.request("GET", "/api/memories/graph?root=%s&depth=2&limit=100" % rid,
                               token=user.fresh_token())
            if r.status != 200:
                raise H.BenchError("graph answered %s" % r.error_text())
            graph.append(r.client_ms)
            sizes.append(len(r.doc["nodes"]))
        rows.append(["GET memory (baseline)", "p50 %s" % H.fmt_ms(H.median(base)),
                     "p99 %s" % H.fmt_ms(H.pctl(base, 99)), ""])
        rows.append(["graph depth 2, limit 100", "p50 %s" % H.fmt_ms(H.median(graph)),
                     "p99 %s" % H.fmt_ms(H.pctl(graph, 99)),
                     "%.1f nodes on average" % (sum(sizes) / len(sizes))])
        print("memories: %d (ingest %.1f s)" % (n, t_ingest))
        print(H.text_table(["what", "time", "rate / p99", "notes"], rows))
        if args.only == "all":
            bench_categories(args, binary, work, server, client, user)
        return 0
    finally:
        server.stop()
        if args.keep:
            H.log("kept %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except H.BenchError as e:
        print("intel_bench: %s" % e, file=sys.stderr)
        sys.exit(1)
