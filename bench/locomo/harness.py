"""Shared pieces of the PersonalOS search benchmarks.

Used by bench/locomo/run.py (LoCoMo evidence recall) and bench/search_bench.py
(synthetic corpora, latency and size). It holds what both need and nothing
else: the `personalos serve` process (same pattern as bench/run_core.py: free
port, poll /health, log file, SIGTERM), a keep-alive HTTP client that times
each request, a registered user whose token is renewed, the FTS5 query rule of
the "SQLite FTS5 BM25 alone" baselines, and percentiles.

Python 3 standard library only.
"""

import datetime
import http.client
import json
import os
import platform
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_ROOT = os.path.dirname(BENCH_DIR)
PASSWORD = "bench-password-0123"
SEARCH_PATH = "/api/memories/search"
TOKEN_MAX_AGE = 600.0   # seconds; renew before the default 15-minute expiry


class BenchError(Exception):
    """The benchmark could not run (as opposed to a poor result)."""


class SearchMissing(BenchError):
    """The server answers 404 on GET /api/memories/search."""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- statistics ----------------------------------------------------------------

def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def pctl(values, p):
    """Nearest-rank percentile (the rule bench/loadgen.c and run_core.py use)."""
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    rank = max(1, min(len(values), -(-len(values) * p // 100)))
    return values[int(rank) - 1]


def ratio(a, b):
    return a / b if a is not None and b else None


def fmt_ms(v):
    if v is None:
        return "n/a"
    if v < 1:
        return "%.3f ms" % v
    return "%.2f ms" % v if v < 10 else "%.1f ms" % v


def fmt_ratio(v):
    return "n/a" if v is None else "%.2f×" % v


def fmt_rate(v):
    return "n/a" if v is None else "{:,.0f}".format(v)


def fmt_mb(v):
    return "n/a" if v is None else "%.1f MB" % v


def latency_summary(samples):
    """{'p50','p99','mean','n'} in ms of a list of ms values."""
    s = [v for v in samples if v is not None]
    return {"p50": median(s), "p99": pctl(s, 99),
            "mean": statistics.fmean(s) if s else None, "n": len(s)}


def text_table(head, rows):
    rows = [tuple("" if c is None else str(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in rows + [tuple(head)]) for i in range(len(head))]
    out = []
    for r in [tuple(head), tuple("-" * w for w in widths)] + rows:
        out.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return "\n".join(out)


def markdown_table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        out.append("| " + " | ".join(("" if c is None else str(c)).replace("|", "\\|")
                                     for c in r) + " |")
    return "\n".join(out)


# ---- the server process ---------------------------------------------------------

def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def read_status_kb(pid, field):
    """A `field: N kB` line of /proc/PID/status, in kB, or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def dir_bytes(path):
    """(apparent bytes, allocated bytes) of every file under path, like du."""
    apparent = allocated = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            apparent += st.st_size
            allocated += st.st_blocks * 512
    return apparent, allocated


def resolve_binary(path):
    if not os.path.isabs(path) and not os.path.exists(path):
        path = os.path.join(REPO_ROOT, path)
    path = os.path.abspath(path)
    if not os.access(path, os.X_OK):
        raise BenchError("no server binary at %s; build it with\n"
                         "  cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release "
                         "-DBUILD_TESTING=OFF && cmake --build build-release -j2\n"
                         "or give --bin / set POS_BIN, or use --base-url" % path)
    return path


class Server:
    """One `personalos serve` on 127.0.0.1:<free port> with its own data
    directory; the log goes to log_dir/server.log."""

    # Quiet logs, long-lived tokens, and the cheapest Argon2id (8 KiB, 1 pass)
    # so that registering the bench users neither takes time nor leaves a
    # 64 MiB peak in VmHWM; --server-env overrides any of them.
    DEFAULT_ENV = {"PERSONALOS_LOG_REQUESTS": "off", "PERSONALOS_ACCESS_TTL": "86400",
                   "PERSONALOS_PWHASH_MEMLIMIT_KIB": "8", "PERSONALOS_PWHASH_OPSLIMIT": "1",
                   "PERSONALOS_RATE_LIMIT": "off", "PERSONALOS_REGISTRATION": "open"}

    def __init__(self, binary, data_dir, log_dir, env=None, extra_args=()):
        self.binary = binary
        self.data_dir = data_dir
        self.log_dir = log_dir
        self.env = dict(os.environ)
        self.env.update(self.DEFAULT_ENV)
        self.env.update(env or {})
        self.extra_args = list(extra_args)
        self.proc = None
        self.port = None

    @property
    def base_url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def log_tail(self, limit=3000):
        try:
            with open(os.path.join(self.log_dir, "server.log"), "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - limit))
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def start(self, timeout=20.0):
        os.makedirs(self.log_dir, exist_ok=True)
        for _attempt in range(3):          # the free port may be taken meanwhile
            self.port = free_port()
            cmd = [self.binary, "serve", "--listen", "127.0.0.1:%d" % self.port,
                   "--data", self.data_dir] + self.extra_args
            with open(os.path.join(self.log_dir, "server.log"), "ab") as out:
                self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                             stderr=out, env=self.env, cwd=self.log_dir)
            deadline = time.monotonic() + timeout
            while True:
                if health_ok("127.0.0.1", self.port):
                    return
                if self.proc.poll() is not None:
                    break
                if time.monotonic() > deadline:
                    self.kill()
                    raise BenchError("server did not answer 200 on /health within "
                                     "%.0f s:\n%s" % (timeout, self.log_tail()))
                time.sleep(0.005)
            if "in use" not in self.log_tail().lower():
                raise BenchError("server exited with status %s during start-up:\n%s"
                                 % (self.proc.returncode, self.log_tail()))
        raise BenchError("could not find a free port for the server")

    def rss_mb(self):
        kb = read_status_kb(self.proc.pid, "VmRSS") if self.proc else None
        return kb / 1024.0 if kb is not None else None

    def anon_mb(self):
        """RssAnon: the resident heap and stacks, without the mapped database
        file pages that VmRSS also counts."""
        kb = read_status_kb(self.proc.pid, "RssAnon") if self.proc else None
        return kb / 1024.0 if kb is not None else None

    def hwm_mb(self):
        kb = read_status_kb(self.proc.pid, "VmHWM") if self.proc else None
        return kb / 1024.0 if kb is not None else None

    def stop(self, timeout=60.0):
        """SIGTERM and wait (the store closes, which checkpoints the WAL)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise BenchError("server did not exit within %.0f s of SIGTERM" % timeout)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def health_ok(host, port):
    try:
        conn = http.client.HTTPConnection(host, port, timeout=2.0)
        conn.request("GET", "/health", headers={"Connection": "close"})
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except (OSError, http.client.HTTPException):
        return False


# ---- HTTP ------------------------------------------------------------------------

class Response:
    __slots__ = ("status", "doc", "raw", "client_ms", "server_ms")

    def __init__(self, status, doc, raw, client_ms, server_ms):
        self.status, self.doc, self.raw = status, doc, raw
        self.client_ms, self.server_ms = client_ms, server_ms

    def error_text(self):
        if isinstance(self.doc, dict) and isinstance(self.doc.get("error"), dict):
            e = self.doc["error"]
            return "%s %s: %s" % (self.status, e.get("code"), e.get("message"))
        return "%s %s" % (self.status, self.raw[:200].decode("utf-8", "replace"))


_SERVER_TIMING = re.compile(r"app;dur=([0-9.]+)")


class Client:
    """One keep-alive HTTP/1.1 connection to base_url. `request` times the
    round trip (request written to body read, before JSON parsing) and picks
    the `Server-Timing: app;dur=` figure when the server sends one."""

    def __init__(self, base_url, timeout=300.0):
        u = urllib.parse.urlsplit(base_url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise BenchError("--base-url must look like http://HOST:PORT, got %r" % base_url)
        self.scheme, self.host = u.scheme, u.hostname
        self.port = u.port or (443 if u.scheme == "https" else 80)
        self.prefix = u.path.rstrip("/")
        self.timeout = timeout
        self.conn = None

    def _connect(self):
        cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        self.conn = cls(self.host, self.port, timeout=self.timeout)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method, path, body=None, token=None, raw_body=None):
        headers = {"Accept": "application/json"}
        data = raw_body
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
        if data is not None:
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = "Bearer " + token
        for attempt in (0, 1):             # one retry on a connection the server closed
            if self.conn is None:
                self._connect()
            try:
                t0 = time.perf_counter()
                self.conn.request(method, self.prefix + path, body=data, headers=headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                t1 = time.perf_counter()
                break
            except (OSError, http.client.HTTPException) as e:
                self.close()
                if attempt:
                    raise BenchError("%s %s failed: %s" % (method, path, e))
        if resp.getheader("Connection", "").lower() == "close":
            self.close()
        st = _SERVER_TIMING.search(resp.getheader("Server-Timing") or "")
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = None
        return Response(resp.status, doc, raw, (t1 - t0) * 1000.0,
                        float(st.group(1)) if st else None)


class Session:
    """A registered user; its access token is renewed by logging in again."""

    def __init__(self, client, email):
        self.client = client
        self.email = email
        self.token = None
        self.got_at = 0.0

    def register(self, full_name=None):
        body = {"email": self.email, "password": PASSWORD}
        if full_name:
            body["full_name"] = full_name
        r = self.client.request("POST", "/api/auth/register", body)
        if r.status != 201 or not isinstance(r.doc, dict) or "access_token" not in r.doc:
            raise BenchError("POST /api/auth/register answered %s" % r.error_text())
        self.token, self.got_at = r.doc["access_token"], time.monotonic()
        return self

    def fresh_token(self):
        if time.monotonic() - self.got_at > TOKEN_MAX_AGE:
            r = self.client.request("POST", "/api/auth/login",
                                    {"email": self.email, "password": PASSWORD})
            if r.status != 200 or not isinstance(r.doc, dict):
                raise BenchError("POST /api/auth/login answered %s" % r.error_text())
            self.token, self.got_at = r.doc["access_token"], time.monotonic()
        return self.token

    def bulk(self, memories):
        """POST /api/memories/bulk; returns (ids, Response)."""
        r = self.client.request("POST", "/api/memories/bulk", {"memories": memories},
                                token=self.fresh_token())
        if r.status != 201 or not isinstance(r.doc, dict) or \
                not isinstance(r.doc.get("ids"), list) or len(r.doc["ids"]) != len(memories):
            raise BenchError("POST /api/memories/bulk (%d memories) answered %s"
                             % (len(memories), r.error_text()))
        return r.doc["ids"], r

    def total(self):
        r = self.client.request("GET", "/api/memories?limit=1", token=self.fresh_token())
        if r.status == 200 and isinstance(r.doc, dict) and isinstance(r.doc.get("total"), int):
            return r.doc["total"]
        return None

    def search(self, query, mode=None, limit=20, **params):
        """GET /api/memories/search. Raises SearchMissing on 404; other
        non-200 answers are returned for the caller to judge."""
        q = {"query": query, "limit": limit}
        if mode:
            q["mode"] = mode
        q.update({k: v for k, v in params.items() if v is not None})
        path = SEARCH_PATH + "?" + urllib.parse.urlencode(q, quote_via=urllib.parse.quote)
        r = self.client.request("GET", path, token=self.fresh_token())
        if r.status == 404:
            raise SearchMissing(
                "GET %s answered 404 (%s): this server has no search endpoint yet. "
                "Build a personalos that implements it (docs/API-DECISIONS.md, "
                "design/API.md) and run again." % (SEARCH_PATH, r.error_text()))
        return r


def search_hits(r):
    """(list of memory ids best first, took_ms) of a 200 search answer, or
    raises BenchError when the answer does not have the documented shape."""
    d = r.doc
    if not isinstance(d, dict) or not isinstance(d.get("memories"), list):
        raise BenchError("search answered 200 without a `memories` list: %s" % r.raw[:200])
    ids = []
    for m in d["memories"]:
        if not isinstance(m, dict) or "id" not in m:
            raise BenchError("search result without an id: %r" % (m,))
        ids.append(m["id"])
    took = d.get("took_ms")
    return ids, float(took) if isinstance(took, (int, float)) else None


# ---- the FTS5 baseline ------------------------------------------------------------

# NLTK's English stop-word list (the common choice for "stop words dropped").
STOP_WORDS = frozenset("""
i me my myself we our ours ourselves you your yours yourself yourselves he him
his himself she her hers herself it its itself they them their theirs
themselves what which who whom this that these those am is are was were be
been being have has had having do does did doing a an the and but if or
because as until while of at by for with about against between into through
during before after above below to from up down in out on off over under again
further then once here there when where why how all any both each few more
most other some such no nor not only own same so than too very s t can will
just don should now d ll m o re ve y ain aren couldn didn doesn hadn hasn
haven isn ma mightn mustn needn shan shouldn wasn weren won wouldn
""".split())

FTS5_TOKENIZE = "porter unicode61 remove_diacritics 2"
_WORD = re.compile(r"\w+", re.UNICODE)


def fts5_query(text):
    """The baseline's query: the words of `text` (lower-cased, \\w+ runs),
    stop words dropped, each double-quoted, OR-ed; '' when none is left."""
    words, seen = [], set()
    for w in _WORD.findall(text.lower()):
        if w in STOP_WORDS or w in seen:
            continue
        seen.add(w)
        words.append('"%s"' % w.replace('"', '""'))
    return " OR ".join(words)


def fts5_open(path=":memory:"):
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("CREATE VIRTUAL TABLE docs USING fts5(content, tokenize='%s')" % FTS5_TOKENIZE)
    return db


def fts5_search(db, text, limit):
    """(rowids best first by bm25, ms) for one query."""
    q = fts5_query(text)
    t0 = time.perf_counter()
    if q:
        rows = [r for (r,) in db.execute(
            "SELECT rowid FROM docs WHERE docs MATCH ? ORDER BY bm25(docs) LIMIT ?",
            (q, limit))]
    else:
        rows = []
    return rows, (time.perf_counter() - t0) * 1000.0


# ---- about the run -------------------------------------------------------------------

def machine_info(binary=None):
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
            "commit": rev + ("+dirty" if dirty else ""), "binary": binary,
            "sqlite_python": sqlite3.sqlite_version}
