#!/usr/bin/env python3
"""Encryption-at-rest benchmark (issue 7, docs/ENCRYPTION.md), in one run.

Against the real `personalos` binary, on one fresh data directory, with a
plain user and an encrypted (unlocked) user side by side:

  * POST /api/memories latency, client side, p50/p99 per user, in
    alternating blocks so both see the same machine load;
  * search latency (keyword and hybrid) over the same corpus for both
    users, client side and the server's took_ms, p50/p99, alternating
    query by query (the result cache is off: every query runs);
  * login time (Argon2id) for the plain user (password check) and the
    encrypted one (password check + key derivation + unwrap), p50/p99.

Each figure of the encrypted user is given as a ratio to the plain user's
in the same run (target: at most 1.20 for create and search; login
between 100 and 500 ms). Nothing is asserted: timing depends on the
machine; the exit status is 0 whenever the run itself worked.

    cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release
    cmake --build build-release -j2
    python3 bench/crypt_bench.py [--memories 2000] [--queries 300] [--logins 15]

Python 3 standard library only.
"""

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
PASSWORD = "bench-password-0123"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def pctl(values, p):
    v = sorted(values)
    if not v:
        return float("nan")
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def req(self, method, path, body=None, token=None):
        hdrs = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        if token:
            hdrs["Authorization"] = "Bearer " + token
        t0 = time.perf_counter()
        self.conn.request(method, path, body=data, headers=hdrs)
        r = self.conn.getresponse()
        raw = r.read()
        dt = (time.perf_counter() - t0) * 1000.0
        return r.status, (json.loads(raw) if raw else None), dt


def words(n, rnd):
    # A synthetic vocabulary with a Zipf-like use: a few common words and a
    # long tail, like notes.
    syll = ["ka", "lo", "mi", "ren", "sa", "tor", "vel", "an", "es", "ul", "bri", "dan",
            "fo", "gi", "ham", "jo", "ku", "lem", "nor", "pi", "qua", "ros", "ti", "zen"]
    vocab = set()
    while len(vocab) < n:
        vocab.add("".join(rnd.choice(syll) for _ in range(rnd.randint(2, 4))))
    return sorted(vocab)


def make_text(vocab, rnd):
    n = rnd.randint(10, 30)
    return " ".join(vocab[min(int(rnd.paretovariate(1.1)) - 1, len(vocab) - 1)
                         if rnd.random() < 0.5 else rnd.randrange(len(vocab))]
                    for _ in range(n))


def summary(name, plain, enc):
    p50p, p99p = statistics.median(plain), pctl(plain, 99)
    p50e, p99e = statistics.median(enc), pctl(enc, 99)
    return {"figure": name, "plain_p50": p50p, "plain_p99": p99p,
            "enc_p50": p50e, "enc_p99": p99e,
            "ratio_p50": p50e / p50p if p50p else float("nan"),
            "ratio_p99": p99e / p99p if p99p else float("nan")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(REPO_ROOT, "build-release", "personalos"))
    ap.add_argument("--memories", type=int, default=2000, help="per user")
    ap.add_argument("--queries", type=int, default=300, help="per user and mode")
    ap.add_argument("--logins", type=int, default=15, help="per user")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    if not os.path.exists(args.bin):
        sys.exit("no binary at %s (build build-release first)" % args.bin)
    rnd = random.Random(args.seed)
    data = tempfile.mkdtemp(prefix="pos-crypt-bench-")
    port = free_port()
    env = dict(os.environ, PERSONALOS_SEARCH_CACHE="0", PERSONALOS_REGISTRATION="open")
    proc = subprocess.Popen([args.bin, "serve", "--listen", "127.0.0.1:%d" % port,
                             "--data", data], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.time() + 15
        while True:
            try:
                c = Client(port)
                if c.req("GET", "/health")[0] == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                sys.exit("server did not start")
            time.sleep(0.05)
        tokens = {}
        for who in ("plain", "enc"):
            st, body, _ = c.req("POST", "/api/auth/register",
                                {"email": "%s@bench.example" % who, "password": PASSWORD})
            assert st == 201, (st, body)
            tokens[who] = body["access_token"]
        st, body, _ = c.req("POST", "/api/auth/encryption", {"password": PASSWORD},
                            token=tokens["enc"])
        assert st == 200, (st, body)

        vocab = words(5000, rnd)
        # ---- create: alternating blocks of 50 ----
        lat = {"plain": [], "enc": []}
        texts = [make_text(vocab, rnd) for _ in range(args.memories)]
        block = 50
        for start in range(0, args.memories, block):
            for who in (("plain", "enc") if (start // block) % 2 == 0 else ("enc", "plain")):
                for t in texts[start:start + block]:
                    st, body, dt = c.req("POST", "/api/memories",
                                         {"content": t, "tags": [t.split()[0]]},
                                         token=tokens[who])
                    assert st == 201, (st, body)
                    lat[who].append(dt)
        rows = [summary("create (client ms)", lat["plain"], lat["enc"])]
        log("created %d memories per user" % args.memories)

        # ---- search: the same queries for both users, alternating ----
        for mode in ("keyword", "hybrid", "semantic"):
            cl = {"plain": [], "enc": []}
            sv = {"plain": [], "enc": []}
            hits = {"plain": 0, "enc": 0}
            for i in range(args.queries):
                src = texts[rnd.randrange(len(texts))].split()
                q = " ".join(rnd.sample(src, min(len(src), rnd.randint(1, 3))))
                order = ("plain", "enc") if i % 2 == 0 else ("enc", "plain")
                for who in order:
                    st, body, dt = c.req("GET", "/api/memories/search?mode=%s&limit=10&query=%s"
                                         % (mode, urllib.parse.quote(q)), token=tokens[who])
                    assert st == 200, (st, body)
                    cl[who].append(dt)
                    sv[who].append(body["took_ms"])
                    hits[who] += bool(body["memories"])
            rows.append(summary("%s search (client ms)" % mode, cl["plain"], cl["enc"]))
            rows.append(summary("%s search (server took_ms)" % mode, sv["plain"], sv["enc"]))
            log("%s: queries with results plain %d, encrypted %d of %d"
                % (mode, hits["plain"], hits["enc"], args.queries))

        # ---- login (Argon2id) ----
        # Each login follows a logout, which locks the encrypted user's
        # data: the login then derives the key (Argon2id) and unwraps it,
        # as after a restart.
        ll = {"plain": [], "enc": []}
        for i in range(args.logins):
            for who in (("plain", "enc") if i % 2 == 0 else ("enc", "plain")):
                st, body, _ = c.req("POST", "/api/auth/logout", token=tokens[who])
                assert st == 204, (st, body)
                st, body, dt = c.req("POST", "/api/auth/login",
                                     {"email": "%s@bench.example" % who, "password": PASSWORD})
                assert st == 200, (st, body)
                tokens[who] = body["access_token"]
                ll[who].append(dt)
            st, me, _ = c.req("GET", "/api/auth/me", token=tokens["enc"])
            assert me["encryption"]["unlocked"], me
        rows.append(summary("login (client ms)", ll["plain"], ll["enc"]))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(data, True)

    print("| figure | plain p50 / p99 | encrypted p50 / p99 | ratio p50 / p99 |")
    print("|---|---|---|---|")
    for r in rows:
        print("| %s | %.3f / %.3f | %.3f / %.3f | %.2f× / %.2f× |"
              % (r["figure"], r["plain_p50"], r["plain_p99"], r["enc_p50"], r["enc_p99"],
                 r["ratio_p50"], r["ratio_p99"]))


if __name__ == "__main__":
    main()
