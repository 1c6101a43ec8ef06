#!/usr/bin/env python3
"""Core server benchmark for PersonalOS (issue 2), in one run.

Builds bench/loadgen.c, then against the real `personalos` binary measures:

  * start-up: spawn `personalos serve` on a fresh data directory and poll
    GET /health until it answers 200 (repeated; median and p99);
  * idle RSS after start-up, after the load, and after a restart;
  * GET /health req/s next to GET /api/memories/{id} req/s with the same
    connection counts, rounds alternating, and the ratio of the medians;
  * POST /api/memories latency (client and server side, p50/p99) with 1 and
    16 clients, next to GET /health latency at the same concurrency;
  * bulk ingest: POST /api/memories/bulk with 1000 generated text memories
    per request, memories/s, next to the single-POST rate;
  * start-up again on the now populated data directory.

Every figure is a median over rounds where there are rounds, and every
comparison is against a baseline measured in the same run. Targets are
shown with "meets"/"misses", but nothing is asserted: timing depends on
the machine, so the exit status is 0 whenever the run itself worked.

    cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release
    cmake --build build-release -j2
    python3 bench/run_core.py [--markdown out.md] [--json out.json]

Python 3 standard library only. See docs/BENCHMARKS.md.
"""

import argparse
import datetime
import http.client
import json
import os
import platform
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
LOADGEN_SRC = os.path.join(HERE, "loadgen.c")
PASSWORD = "bench-password-0123"
TOKEN_MAX_AGE = 600.0   # seconds; access tokens live 15 minutes

# Targets from the issue (2-core machine).
TARGET_GET_RATIO = 0.50        # GET memory req/s >= 50% of /health req/s
TARGET_POST_P50_MS = 1.0       # single POST p50, server side
TARGET_BULK_PER_S = 50000.0    # memories/s, text only
TARGET_RSS_MB = 20.0           # idle RSS
TARGET_STARTUP_MS = 100.0      # spawn to first 200 on /health
# A run during which other processes used more than this share of a CPU is
# flagged as disturbed (the machine was not idle).
OTHER_CPU_LIMIT = 0.15


class BenchError(Exception):
    """The benchmark could not run (as opposed to a slow result)."""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- statistics -------------------------------------------------------------

def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def pctl(values, p):
    """Nearest-rank percentile (the same rule loadgen uses)."""
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    rank = max(1, min(len(values), -(-len(values) * p // 100)))
    return values[int(rank) - 1]


def ratio(a, b):
    return a / b if a is not None and b else None


# ---- formatting --------------------------------------------------------------

def fmt_ms(v):
    if v is None:
        return "n/a"
    return "%.3f ms" % v if v < 10 else "%.1f ms" % v


def fmt_us(v):
    return "n/a" if v is None else "%.1f µs" % v


def fmt_rate(v):
    return "n/a" if v is None else "{:,.0f}".format(v)


def fmt_spread(values):
    """' (lo–hi)' over rounds, when there is more than one."""
    values = [v for v in values if v is not None]
    if len(values) < 2:
        return ""
    return " (%s–%s)" % (fmt_rate(min(values)), fmt_rate(max(values)))


def fmt_rounds(values):
    """' (rounds: a → b → c)' in run order, when there is more than one."""
    if len(values) < 2:
        return ""
    return " (rounds: %s)" % " → ".join(fmt_rate(v) for v in values)


def fmt_ratio(v):
    return "n/a" if v is None else "%.2f×" % v


def fmt_mb(v):
    return "n/a" if v is None else "%.1f MB" % v


def verdict(ok):
    return "—" if ok is None else ("meets" if ok else "misses")


# ---- the server process ------------------------------------------------------

def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def health_status(port):
    """Status of one GET /health on a fresh connection, or None if refused."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2.0)
    except OSError:
        return None
    try:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Connection: close\r\n\r\n")
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        parts = data.split(b" ", 2)
        if len(parts) >= 2 and parts[0].startswith(b"HTTP/1.") and parts[1].isdigit():
            return int(parts[1])
        return None
    except OSError:
        return None
    finally:
        s.close()


def read_status_kb(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_busy_s():
    """CPU seconds all CPUs spent busy since boot (/proc/stat)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal (guest is inside user)
    return (v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)) / CLK_TCK


def process_cpu_s(pid):
    """utime + stime of one process, in seconds."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, ValueError, IndexError):
        return None


def children_cpu_s():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def wait_idle(max_wait, share=0.10, window=2.0):
    """Waits (up to max_wait s) for a window in which all CPUs together were
    busy less than `share` of one CPU. True when it came."""
    deadline = time.monotonic() + max_wait
    while True:
        b0 = cpu_busy_s()
        time.sleep(window)
        b1 = cpu_busy_s()
        if b0 is None or b1 is None or (b1 - b0) / window < share:
            return True
        if time.monotonic() > deadline:
            return False


class Server:
    """One `personalos serve` on 127.0.0.1:port with its own data directory."""

    def __init__(self, binary, data_dir, log_dir, env=None, extra_args=()):
        self.binary = binary
        self.data_dir = data_dir
        self.log_dir = log_dir
        self.env = dict(os.environ)
        # benchmarks register many users on one server (accounts: the
        # default after the first account is invite-only)
        self.env.setdefault("PERSONALOS_REGISTRATION", "open")
        self.env.update(env or {})
        self.extra_args = list(extra_args)
        self.proc = None
        self.port = None
        self.startup_ms = None

    def log_tail(self, limit=3000):
        path = os.path.join(self.log_dir, "server.log")
        try:
            with open(path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - limit))
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def start(self, timeout=15.0, poll_interval=0.0005):
        """Spawns the server and polls /health; returns ms to the first 200."""
        os.makedirs(self.log_dir, exist_ok=True)
        for _attempt in range(3):   # the free port may be taken meanwhile
            self.port = free_port()
            cmd = [self.binary, "serve", "--listen", "127.0.0.1:%d" % self.port,
                   "--data", self.data_dir] + self.extra_args
            with open(os.path.join(self.log_dir, "server.log"), "ab") as out:
                t0 = time.perf_counter()
                self.proc = subprocess.Popen(
                    cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                    env=self.env, cwd=self.log_dir)
            deadline = t0 + timeout
            while True:
                if health_status(self.port) == 200:
                    self.startup_ms = (time.perf_counter() - t0) * 1000.0
                    return self.startup_ms
                if self.proc.poll() is not None:
                    break
                if time.perf_counter() > deadline:
                    self.kill()
                    raise BenchError("server did not answer 200 on /health within "
                                     "%.0f s:\n%s" % (timeout, self.log_tail()))
                time.sleep(poll_interval)
            if "in use" not in self.log_tail().lower():
                raise BenchError("server exited with status %s during start-up:\n%s"
                                 % (self.proc.returncode, self.log_tail()))
        raise BenchError("could not find a free port for the server")

    def rss_mb(self):
        kb = read_status_kb(self.proc.pid, "VmRSS")
        return kb / 1024.0 if kb is not None else None

    def hwm_mb(self):
        kb = read_status_kb(self.proc.pid, "VmHWM")
        return kb / 1024.0 if kb is not None else None

    def stop(self, timeout=20.0):
        """SIGTERM and wait; returns ms until the process exited."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        t0 = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise BenchError("server did not exit within %.0f s of SIGTERM" % timeout)
        return (time.perf_counter() - t0) * 1000.0

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# ---- HTTP calls for setup ------------------------------------------------------

def api(port, method, path, body=None, token=None, timeout=120.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = "Bearer " + token
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    try:
        doc = json.loads(raw) if raw else None
    except ValueError:
        doc = None
    return resp.status, doc, raw


class Session:
    """A registered user's access token, renewed before it expires."""

    def __init__(self, port, email):
        self.port = port
        self.email = email
        self.token = None
        self.got_at = 0.0

    def register(self):
        status, doc, raw = api(self.port, "POST", "/api/auth/register",
                               {"email": self.email, "password": PASSWORD})
        if status != 201 or not isinstance(doc, dict) or "access_token" not in doc:
            raise BenchError("register answered %d: %s" % (status, raw[:300]))
        self.token, self.got_at = doc["access_token"], time.monotonic()

    def fresh_token(self):
        if time.monotonic() - self.got_at > TOKEN_MAX_AGE:
            status, doc, raw = api(self.port, "POST", "/api/auth/login",
                                   {"email": self.email, "password": PASSWORD})
            if status != 200 or not isinstance(doc, dict):
                raise BenchError("login answered %d: %s" % (status, raw[:300]))
            self.token, self.got_at = doc["access_token"], time.monotonic()
        return self.token


# ---- loadgen -----------------------------------------------------------------

def build_loadgen(build_dir):
    cc = os.environ.get("CC", "cc")
    out = os.path.join(build_dir, "loadgen")
    cmd = [cc, "-O2", "-std=c17", "-Wall", "-Wextra", "-pthread", "-o", out, LOADGEN_SRC]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError("building loadgen failed:\n%s%s" % (r.stdout, r.stderr))
    if r.stderr.strip():
        log(r.stderr.strip())
    return out


class Loadgen:
    """Runs bench/loadgen against the server and notes, per run, the server's
    CPU time per request and the CPU time that neither the server nor loadgen
    used (other load on the machine, which skews the figures)."""

    def __init__(self, path, port, server_pid, retries=0):
        self.path = path
        self.port = port
        self.server_pid = server_pid
        self.retries = retries      # re-runs of a disturbed run
        self.runs = []              # every run made, re-runs included
        self.created = 0            # memories the runs created

    def run(self, label, path, method="GET", conns=1, requests=1000, warmup=0,
            token=None, bodies=None, expect="2xx", timeout=60, creates=0):
        """One loadgen run (re-run while other load disturbed it, up to
        self.retries times after waiting for an idle machine). `creates`:
        memories each successful request stores."""
        for attempt in range(self.retries + 1):
            res = self._run_once(label, path, method, conns, requests, warmup,
                                 token, bodies, expect, timeout)
            # warm-up requests are assumed to succeed like the measured ones
            self.created += (res["ok"] + (warmup if res["ok"] else 0)) * creates
            res["disturbed"] = (res["other_cpu_share"] or 0) >= OTHER_CPU_LIMIT
            if not res["disturbed"] or attempt == self.retries:
                return res
            log("    disturbed: waiting for an idle machine, then running it again")
            res["superseded"] = True
            wait_idle(120)
        return res

    def _run_once(self, label, path, method, conns, requests, warmup, token,
                  bodies, expect, timeout):
        cmd = [self.path, "--json", "-t", "127.0.0.1:%d" % self.port, "-m", method,
               "-p", path, "-c", str(conns), "-n", str(requests), "-w", str(warmup),
               "-e", expect, "--timeout", str(timeout)]
        if token:
            cmd += ["-T", token]
        if bodies:
            cmd += ["-L", bodies]
        busy0, srv0, kids0 = cpu_busy_s(), process_cpu_s(self.server_pid), children_cpu_s()
        r = subprocess.run(cmd, capture_output=True, text=True)
        busy1, srv1, kids1 = cpu_busy_s(), process_cpu_s(self.server_pid), children_cpu_s()
        if r.returncode not in (0, 2) or not r.stdout.strip():
            raise BenchError("loadgen failed (%d) for %s:\n%s" % (r.returncode, label, r.stderr))
        res = json.loads(r.stdout)
        res["label"] = label
        res["server_cpu_us_per_req"] = None
        res["other_cpu_share"] = None
        if srv0 is not None and srv1 is not None and res["requests"]:
            res["server_cpu_us_per_req"] = (srv1 - srv0) / res["requests"] * 1e6
            # jiffies are 10 ms: too coarse to judge a shorter run
            if busy0 is not None and busy1 is not None and res["seconds"] >= 0.5:
                other = (busy1 - busy0) - (srv1 - srv0) - (kids1 - kids0)
                res["other_cpu_share"] = max(0.0, other) / res["seconds"]
        self.runs.append(res)
        if res["errors"]:
            log("  warning: %s: %d of %d requests failed; loadgen said:\n%s"
                % (label, res["errors"], res["requests"], r.stderr.rstrip()))
        if res["ok"] == 0:
            raise BenchError("every request of %s failed:\n%s" % (label, r.stderr))
        log("  %-34s %10s req/s  client p50 %s p99 %s  server p50 %s p99 %s  "
            "server CPU %s/req%s"
            % (label, fmt_rate(res["req_per_s"]), fmt_ms(res["client_p50_ms"]),
               fmt_ms(res["client_p99_ms"]), fmt_ms(res["server_p50_ms"]),
               fmt_ms(res["server_p99_ms"]), fmt_us(res["server_cpu_us_per_req"]),
               "" if (res["other_cpu_share"] or 0) < OTHER_CPU_LIMIT
               else "  [other load: %.0f%% of a CPU]" % (100 * res["other_cpu_share"])))
        return res


# ---- generated memories ------------------------------------------------------

VOCABULARY = """
the a and to of in for on with at from about after before during today tomorrow
yesterday morning afternoon evening night week weekend monday tuesday wednesday
thursday friday saturday sunday meeting call email message note idea plan task
project deadline review draft report budget invoice receipt contract proposal
team client manager colleague friend family mom dad sister brother kids doctor
dentist appointment birthday dinner lunch breakfast coffee groceries pharmacy
gym run walk bike train flight hotel trip vacation beach mountains city park
book article podcast movie song recipe garden house kitchen car repair insurance
bank tax password account laptop phone backup server code bug release feature
design test deploy database search memory assistant calendar reminder follow up
remember buy call back send ask check finish start cancel move schedule confirm
discuss share read write fix learn try pay renew book order pick drop clean
important urgent later maybe quickly carefully again new old next last first
big small good great better blue green red quiet busy late early long short
""".split()


def make_text(rng):
    """A short note: 10 to 30 words from the fixed vocabulary."""
    words = rng.choices(VOCABULARY, k=rng.randint(10, 30))
    if len(words) > 14 and rng.random() < 0.5:
        words[rng.randint(4, len(words) - 6)] += ","
    return (" ".join(words).capitalize()) + "."


def write_single_bodies(path, count, seed):
    rng = random.Random(seed)
    with open(path, "w") as f:
        for _ in range(count):
            f.write(json.dumps({"content": make_text(rng)}) + "\n")


def write_bulk_bodies(path, requests, per_request, seed):
    rng = random.Random(seed)
    size = 0
    with open(path, "w") as f:
        for _ in range(requests):
            line = json.dumps({"memories": [{"content": make_text(rng)}
                                            for _ in range(per_request)]},
                              separators=(",", ":"))
            size += len(line)
            f.write(line + "\n")
    return size / max(1, requests)


# ---- the phases --------------------------------------------------------------

def measure_startup(args, work):
    log("start-up: %d runs, fresh data directory each" % args.startup_runs)
    times, stops = [], []
    for i in range(args.startup_runs):
        srv = Server(args.bin, os.path.join(work, "startup-%d" % i),
                     os.path.join(work, "log-startup"), args.env, args.server_args)
        try:
            times.append(srv.start())
        finally:
            stops.append(srv.stop())
        shutil.rmtree(srv.data_dir, ignore_errors=True)
    log("  spawn to 200: " + ", ".join("%.1f" % t for t in times) + " ms")
    return {"runs_ms": times, "p50_ms": median(times), "p99_ms": pctl(times, 99),
            "min_ms": min(times), "stop_p50_ms": median(stops)}


def measure_throughput(args, lg, session, memory_id):
    out = {}
    get_path = "/api/memories/" + memory_id
    for conns in args.conns:
        health, get = [], []
        log("throughput, %d connections, %d requests per run, %d rounds"
            % (conns, args.requests, args.rounds))
        for rnd in range(args.rounds):
            order = ("health", "get") if rnd % 2 == 0 else ("get", "health")
            for which in order:
                if which == "health":
                    health.append(lg.run("GET /health c=%d r=%d" % (conns, rnd + 1),
                                         "/health", conns=conns, requests=args.requests,
                                         warmup=args.warmup, expect="200"))
                else:
                    get.append(lg.run("GET /api/memories/{id} c=%d r=%d" % (conns, rnd + 1),
                                      get_path, conns=conns, requests=args.requests,
                                      warmup=args.warmup, expect="200",
                                      token=session.fresh_token()))
        h = median([r["req_per_s"] for r in health])
        g = median([r["req_per_s"] for r in get])
        out[conns] = {
            "health_rps": h, "get_rps": g, "ratio": ratio(g, h),
            "health_rps_rounds": [r["req_per_s"] for r in health],
            "get_rps_rounds": [r["req_per_s"] for r in get],
            "round_ratios": [ratio(b["req_per_s"], a["req_per_s"])
                             for a, b in zip(health, get)],
            "health_client_p50_ms": median([r["client_p50_ms"] for r in health]),
            "get_client_p50_ms": median([r["client_p50_ms"] for r in get]),
            "health_server_p50_ms": median([r["server_p50_ms"] for r in health]),
            "get_server_p50_ms": median([r["server_p50_ms"] for r in get]),
            "get_server_p99_ms": median([r["server_p99_ms"] for r in get]),
            "health_cpu_us": median([r["server_cpu_us_per_req"] for r in health]),
            "get_cpu_us": median([r["server_cpu_us_per_req"] for r in get]),
        }
    return out


def summarize_latency(runs):
    keys = ("client_p50_ms", "client_p99_ms", "client_max_ms", "server_p50_ms",
            "server_p99_ms", "req_per_s", "server_cpu_us_per_req")
    s = {k: median([r[k] for r in runs]) for k in keys}
    s["ok"] = sum(r["ok"] for r in runs)
    s["errors"] = sum(r["errors"] for r in runs)
    return s


def measure_post_latency(args, lg, session, bodies):
    out = {}
    for conns in args.clients:
        log("POST /api/memories latency, %d clients, %d requests per run, %d rounds"
            % (conns, args.post_requests, args.rounds))
        health, post = [], []
        for rnd in range(args.rounds):
            health.append(lg.run("GET /health c=%d r=%d" % (conns, rnd + 1), "/health",
                                 conns=conns, requests=args.post_requests,
                                 warmup=args.warmup_post, expect="200"))
            post.append(lg.run("POST /api/memories c=%d r=%d" % (conns, rnd + 1),
                               "/api/memories", method="POST", conns=conns,
                               requests=args.post_requests, warmup=args.warmup_post,
                               expect="201", token=session.fresh_token(), bodies=bodies,
                               creates=1))
        h, p = summarize_latency(health), summarize_latency(post)
        out[conns] = {"health": h, "post": p,
                      "client_p50_vs_health": ratio(p["client_p50_ms"], h["client_p50_ms"])}
    return out


def measure_bulk(args, lg, session, work):
    log("bulk ingest: %d requests of %d memories per round, %d connection(s), %d rounds"
        % (args.bulk_requests, args.bulk_size, args.bulk_conns, args.rounds))
    runs = []
    for rnd in range(args.rounds):
        path = os.path.join(work, "bulk-%d.jsonl" % rnd)
        warm = 2 if rnd == 0 else 0
        avg_bytes = write_bulk_bodies(path, args.bulk_requests + warm, args.bulk_size,
                                      seed=1000 + rnd)
        res = lg.run("POST /api/memories/bulk r=%d" % (rnd + 1), "/api/memories/bulk",
                     method="POST", conns=args.bulk_conns, requests=args.bulk_requests,
                     warmup=warm, expect="201", token=session.fresh_token(),
                     bodies=path, timeout=300, creates=args.bulk_size)
        res["memories_per_s"] = res["req_per_s"] * args.bulk_size
        runs.append(res)
        os.unlink(path)
    return {"memories_per_s": median([r["memories_per_s"] for r in runs]),
            "rounds_memories_per_s": [r["memories_per_s"] for r in runs],
            "request_client_p50_ms": median([r["client_p50_ms"] for r in runs]),
            "request_client_p99_ms": median([r["client_p99_ms"] for r in runs]),
            "request_server_p50_ms": median([r["server_p50_ms"] for r in runs]),
            "request_server_p99_ms": median([r["server_p99_ms"] for r in runs]),
            "cpu_us_per_memory": median([None if r["server_cpu_us_per_req"] is None
                                         else r["server_cpu_us_per_req"] / args.bulk_size
                                         for r in runs]),
            "body_bytes": avg_bytes}


def stored_total(port, token):
    status, doc, _raw = api(port, "GET", "/api/memories?limit=1", token=token)
    if status == 200 and isinstance(doc, dict) and isinstance(doc.get("total"), int):
        return doc["total"]
    return None


# ---- report ------------------------------------------------------------------

def machine_info(binary):
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    rev = subprocess.run(["git", "-C", REPO_ROOT, "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip() or "uncommitted"
    dirty = subprocess.run(["git", "-C", REPO_ROOT, "status", "--porcelain", "--", "src"],
                           capture_output=True, text=True).stdout.strip()
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cpus": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
            "commit": rev + ("+dirty" if dirty else ""), "binary": binary}


def build_rows(R):
    """(figure, measured, baseline/ratio, target, verdict) rows."""
    rows = []
    st = R["startup"]
    rows.append(("start-up to 200 on /health, fresh data (n=%d)" % len(st["runs_ms"]),
                 "p50 %s, p99 %s" % (fmt_ms(st["p50_ms"]), fmt_ms(st["p99_ms"])),
                 "min %s" % fmt_ms(st["min_ms"]),
                 "≤ %.0f ms" % TARGET_STARTUP_MS,
                 verdict(st["p50_ms"] <= TARGET_STARTUP_MS)))
    if R.get("restart"):
        rs = R["restart"]
        rows.append(("start-up on the loaded data (%s memories)" % fmt_rate(rs["memories"]),
                     fmt_ms(rs["startup_ms"]), "%s fresh" % fmt_ratio(ratio(rs["startup_ms"], st["p50_ms"])),
                     "—", "—"))
    rss = R["rss"]
    rows.append(("idle RSS after start-up", fmt_mb(rss["idle_mb"]), "—",
                 "≤ %.0f MB" % TARGET_RSS_MB,
                 verdict(None if rss["idle_mb"] is None else rss["idle_mb"] <= TARGET_RSS_MB)))
    rows.append(("idle RSS after the load (peak)",
                 "%s (%s)" % (fmt_mb(rss["after_load_mb"]), fmt_mb(rss["peak_mb"])),
                 "%s start-up" % fmt_ratio(ratio(rss["after_load_mb"], rss["idle_mb"])),
                 "—", "—"))
    if R.get("restart") and R["restart"].get("idle_mb") is not None:
        rows.append(("idle RSS after restart on the loaded data",
                     fmt_mb(R["restart"]["idle_mb"]), "—", "≤ %.0f MB" % TARGET_RSS_MB,
                     verdict(R["restart"]["idle_mb"] <= TARGET_RSS_MB)))
    for conns, t in sorted(R["throughput"].items()):
        rows.append(("GET /health req/s, %d conns" % conns,
                     fmt_rate(t["health_rps"]) + fmt_spread(t["health_rps_rounds"]),
                     "baseline; server CPU %s/req" % fmt_us(t["health_cpu_us"]), "—", "—"))
        rows.append(("GET /api/memories/{id} req/s, %d conns" % conns,
                     fmt_rate(t["get_rps"]) + fmt_spread(t["get_rps_rounds"]),
                     "%s /health; server CPU %s/req (%s /health)" % (
                         fmt_ratio(t["ratio"]), fmt_us(t["get_cpu_us"]),
                         fmt_ratio(ratio(t["get_cpu_us"], t["health_cpu_us"]))),
                     "≥ %.2f×" % TARGET_GET_RATIO,
                     verdict(None if t["ratio"] is None else t["ratio"] >= TARGET_GET_RATIO)))
    for conns, l in sorted(R["post"].items()):
        p, h = l["post"], l["health"]
        sp50 = p["server_p50_ms"]
        rows.append(("POST /api/memories, %d client%s: server p50 / p99" % (conns, "" if conns == 1 else "s"),
                     "%s / %s" % (fmt_ms(sp50), fmt_ms(p["server_p99_ms"])),
                     "/health server p50 %s" % fmt_ms(h["server_p50_ms"]),
                     "p50 ≤ %.0f ms" % TARGET_POST_P50_MS,
                     verdict(None if sp50 is None else sp50 <= TARGET_POST_P50_MS)))
        rows.append(("POST /api/memories, %d client%s: client p50 / p99" % (conns, "" if conns == 1 else "s"),
                     "%s / %s" % (fmt_ms(p["client_p50_ms"]), fmt_ms(p["client_p99_ms"])),
                     "%s /health p50 (%s)" % (fmt_ratio(l["client_p50_vs_health"]), fmt_ms(h["client_p50_ms"])),
                     "—", "—"))
    b = R["bulk"]
    single = R["post"].get(max(R["post"])) if R["post"] else None
    single_rate = single["post"]["req_per_s"] if single else None
    rows.append(("bulk ingest, %d per request, memories/s" % R["config"]["bulk_size"],
                 fmt_rate(b["memories_per_s"]) + fmt_rounds(b["rounds_memories_per_s"]),
                 "%s single POST (%s/s at %d clients)" % (
                     fmt_ratio(ratio(b["memories_per_s"], single_rate)), fmt_rate(single_rate),
                     max(R["post"]) if R["post"] else 0),
                 "≥ {:,.0f}/s".format(TARGET_BULK_PER_S),
                 verdict(None if b["memories_per_s"] is None else b["memories_per_s"] >= TARGET_BULK_PER_S)))
    rows.append(("bulk request latency, client p50 / p99 (server p50)",
                 "%s / %s (%s)" % (fmt_ms(b["request_client_p50_ms"]), fmt_ms(b["request_client_p99_ms"]),
                                   fmt_ms(b["request_server_p50_ms"])),
                 "%.0f KB per request; server CPU %s/memory" % (
                     b["body_bytes"] / 1024.0, fmt_us(b["cpu_us_per_memory"])), "—", "—"))
    return rows


def render_text(R, rows):
    m = R["machine"]
    head = ("figure", "measured", "baseline / ratio", "target", "")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(5)]
    lines = ["PersonalOS core benchmark — %s, commit %s, %d CPUs (%s), Linux %s"
             % (m["date"], m["commit"], m["cpus"], m["cpu"], m["kernel"]), ""]
    for r in [head, tuple("-" * w for w in widths)] + rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
    for note in R["notes"]:
        lines.append("note: " + note)
    return "\n".join(lines)


def render_markdown(R, rows):
    m = R["machine"]
    c = R["config"]
    out = ["Run of %s, commit `%s`, %d CPUs (%s), Linux %s. "
           "%d rounds; %s requests per throughput run; medians over rounds."
           % (m["date"], m["commit"], m["cpus"], m["cpu"], m["kernel"], c["rounds"],
              "{:,}".format(c["requests"])), "",
           "| figure | measured | baseline / ratio | target | |",
           "|---|---|---|---|---|"]
    for r in rows:
        out.append("| " + " | ".join(str(x).replace("|", "\\|") for x in r) + " |")
    for note in R["notes"]:
        out.append("")
        out.append("Note: " + note)
    return "\n".join(out) + "\n"


# ---- main --------------------------------------------------------------------

def int_list(s):
    return [int(x) for x in s.split(",") if x.strip()]


# name: (default, default with --quick)
COUNT_DEFAULTS = {
    "rounds": (3, 1), "requests": (100000, 10000), "warmup": (2000, 500),
    "post_requests": (5000, 1000), "warmup_post": (200, 50),
    "bulk_requests": (100, 10), "startup_runs": (10, 3),
}


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.environ.get("POS_BIN", "build-release/personalos"),
                    help="personalos binary (default $POS_BIN or build-release/personalos)")
    ap.add_argument("--rounds", type=int, help="rounds per figure (default 3)")
    ap.add_argument("--requests", type=int,
                    help="requests per throughput run (default 100000)")
    ap.add_argument("--conns", type=int_list, default=[2, 16],
                    help="connection counts for throughput (default 2,16)")
    ap.add_argument("--warmup", type=int,
                    help="warm-up requests before each throughput run (default 2000)")
    ap.add_argument("--clients", type=int_list, default=[1, 16],
                    help="client counts for POST latency (default 1,16)")
    ap.add_argument("--post-requests", type=int,
                    help="POSTs per latency run (default 5000)")
    ap.add_argument("--warmup-post", type=int,
                    help="warm-up requests before each latency run (default 200)")
    ap.add_argument("--bulk-requests", type=int,
                    help="bulk requests per round (default 100)")
    ap.add_argument("--bulk-size", type=int, default=1000,
                    help="memories per bulk request (default 1000)")
    ap.add_argument("--bulk-conns", type=int, default=1,
                    help="connections for bulk ingest (default 1)")
    ap.add_argument("--startup-runs", type=int,
                    help="start-ups on fresh data directories (default 10)")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: 1 round, small counts (those given still count)")
    ap.add_argument("--work-dir", help="where data directories and logs go "
                    "(default: a new temporary directory, removed afterwards)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                    help="extra environment for the server (repeatable)")
    ap.add_argument("--server-arg", action="append", default=[], dest="server_args",
                    metavar="ARG", help="extra argument after `serve ...` (repeatable)")
    ap.add_argument("--retry-disturbed", type=int, default=2, metavar="N",
                    help="run a load run again, up to N times, when other processes "
                         "used over 15%% of a CPU during it (default 2)")
    ap.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS",
                    help="first wait up to SECONDS for the machine to be idle")
    ap.add_argument("--markdown", metavar="FILE", help="also write the table as markdown")
    ap.add_argument("--json", metavar="FILE", help="also write every raw figure as JSON")
    args = ap.parse_args(argv)
    for name, (normal, quick) in COUNT_DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else normal)
    # Rate limits off unless asked for (--server-env PERSONALOS_RATE_LIMIT=on):
    # one client at thousands of requests/s is the benchmark, not an attack.
    # Likewise the per-address connection cap: every load connection comes
    # from 127.0.0.1.
    args.env = {"PERSONALOS_RATE_LIMIT": "off", "PERSONALOS_MAX_CONNECTIONS_PER_IP": "0"}
    for kv in args.server_env:
        if "=" not in kv:
            ap.error("--server-env wants NAME=VALUE, got %r" % kv)
        k, v = kv.split("=", 1)
        args.env[k] = v
    if min([args.rounds, args.requests, args.post_requests, args.bulk_requests,
            args.bulk_size, args.bulk_conns, args.startup_runs] + args.conns + args.clients) < 1:
        ap.error("counts must be at least 1")
    args.bin = os.path.abspath(os.path.join(REPO_ROOT, args.bin)
                               if not os.path.isabs(args.bin) and not os.path.exists(args.bin)
                               else args.bin)
    return args


def run(args, work):
    if not os.access(args.bin, os.X_OK):
        raise BenchError("no server binary at %s; build it with\n"
                         "  cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release && "
                         "cmake --build build-release -j2\nor set POS_BIN" % args.bin)
    R = {"machine": machine_info(args.bin), "notes": [],
         "config": {k: getattr(args, k) for k in (
             "rounds", "requests", "conns", "warmup", "clients", "post_requests",
             "warmup_post", "bulk_requests", "bulk_size", "bulk_conns", "startup_runs")}}
    log("building loadgen")
    lg_path = build_loadgen(work)
    if args.wait_idle > 0:
        log("waiting up to %.0f s for an idle machine" % args.wait_idle)
        if not wait_idle(args.wait_idle):
            R["notes"].append("the machine was still busy after waiting %.0f s"
                              % args.wait_idle)

    R["startup"] = measure_startup(args, work)

    data_dir = os.path.join(work, "data")
    srv = Server(args.bin, data_dir, os.path.join(work, "log"), args.env, args.server_args)
    srv.start()
    try:
        time.sleep(1.0)
        R["rss"] = {"idle_mb": srv.rss_mb()}
        log("idle RSS after start-up: %s" % fmt_mb(R["rss"]["idle_mb"]))
        lg = Loadgen(lg_path, srv.port, srv.proc.pid, retries=args.retry_disturbed)

        session = Session(srv.port, "bench-%d@example.com" % os.getpid())
        t0 = time.perf_counter()
        session.register()
        R["register_ms"] = (time.perf_counter() - t0) * 1000.0
        status, doc, raw = api(srv.port, "POST", "/api/memories",
                               {"content": "Benchmark memory: call the dentist on "
                                           "Tuesday about the appointment.",
                                "tags": ["bench"]}, token=session.token)
        if status != 201 or not isinstance(doc, dict) or "id" not in doc:
            raise BenchError("POST /api/memories answered %d: %s" % (status, raw[:300]))
        memory_id = doc["id"]
        R["throughput"] = measure_throughput(args, lg, session, memory_id)

        bodies = os.path.join(work, "single.jsonl")
        write_single_bodies(bodies, 10000, seed=42)
        R["post"] = measure_post_latency(args, lg, session, bodies)
        R["bulk"] = measure_bulk(args, lg, session, work)
        expected = 1 + lg.created

        total = stored_total(srv.port, session.fresh_token())
        R["stored"] = {"expected": expected, "total": total}
        if total is None:
            R["notes"].append("could not read the memory total from GET /api/memories")
        elif total != expected:
            R["notes"].append("the server holds %d memories, the run created %d"
                              % (total, expected))
        kept = [r for r in lg.runs if not r.get("superseded")]
        if any(r["errors"] for r in kept):
            R["notes"].append("%d requests failed (see the log above); figures count "
                              "successful requests only" % sum(r["errors"] for r in kept))
        reruns = len(lg.runs) - len(kept)
        if reruns:
            R["notes"].append("%d load run(s) were disturbed by other work on the machine "
                              "and run again" % reruns)
        disturbed = [r["label"] for r in kept if r["disturbed"]]
        if disturbed:
            R["notes"].append("%d of %d load runs shared the machine with other work "
                              "(over %.0f%% of a CPU not used by the server or loadgen) "
                              "even after re-runs: %s; rerun on an idle machine"
                              % (len(disturbed), len(kept), 100 * OTHER_CPU_LIMIT,
                                 ", ".join(disturbed)))
        if not any(r["server_samples"] for r in kept):
            R["notes"].append("no response carried `Server-Timing: app;dur=`; "
                              "server-side figures are missing")

        time.sleep(2.0)
        R["rss"]["after_load_mb"] = srv.rss_mb()
        R["rss"]["peak_mb"] = srv.hwm_mb()
        log("idle RSS after the load: %s (peak %s)"
            % (fmt_mb(R["rss"]["after_load_mb"]), fmt_mb(R["rss"]["peak_mb"])))
    finally:
        stop_ms = srv.stop()
    R["shutdown_ms"] = stop_ms

    # Start-up again on the populated data directory.
    srv = Server(args.bin, data_dir, os.path.join(work, "log"), args.env, args.server_args)
    try:
        ms = srv.start()
        time.sleep(1.0)
        R["restart"] = {"startup_ms": ms, "idle_mb": srv.rss_mb(),
                        "memories": R["stored"]["total"] or R["stored"]["expected"]}
        log("start-up on the loaded data: %s, idle RSS %s"
            % (fmt_ms(ms), fmt_mb(R["restart"]["idle_mb"])))
    finally:
        srv.stop()
    R["loadgen_runs"] = lg.runs
    return R


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    work = args.work_dir or tempfile.mkdtemp(prefix="pos-bench-")
    os.makedirs(work, exist_ok=True)
    try:
        R = run(args, work)
    except BenchError as e:
        log("bench: %s" % e)
        log("bench: work directory kept: %s" % work)
        return 1
    rows = build_rows(R)
    print(render_text(R, rows))
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(render_markdown(R, rows))
    if args.json:
        R["throughput"] = {str(k): v for k, v in R["throughput"].items()}
        R["post"] = {str(k): v for k, v in R["post"].items()}
        with open(args.json, "w") as f:
            json.dump(R, f, indent=2)
            f.write("\n")
    if args.keep or args.work_dir:
        log("work directory: %s" % work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
