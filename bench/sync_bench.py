#!/usr/bin/env python3
"""Sync benchmark for PersonalOS (issue 6), in one run.

Against the real `personalos` binary:

  * mbox import: a generated mbox of --emails messages (plain, multipart
    with HTML alternative, RFC 2047 subjects, quoted-printable Latin-1),
    imported (a) with `personalos import mbox` into a fresh data dir and
    (b) by a running server (POST /api/sync/sources, wait for the run,
    embeddings included). Rounds; emails/s median and p99 (slowest round).
    Baseline in the same run: Python's `mailbox` + `email` parsing the same
    file (parse only, no store).
  * incremental IMAP: a Dovecot folder of --folder messages (written as
    Maildir files before Dovecot indexes them), first full sync (the
    baseline), then --rounds times: APPEND 1 message, POST /api/sync/start,
    poll GET /api/sync/status until the run is logged. Client-side seconds
    (start to seen done, 10 ms polling) and the server's own run duration;
    median and p99.

Nothing is asserted: the exit status is 0 whenever the run worked.

    cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF
    cmake --build build-release -j2
    python3 bench/sync_bench.py --bin build-release/personalos

Python 3 standard library only. See docs/BENCHMARKS.md.
"""
import argparse
import email
import email.policy
import mailbox
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "api"))
import harness  # noqa: E402
from dovecot import Dovecot, message  # noqa: E402

WORDS = ("budget meeting garden party invoice travel flight hotel review draft "
         "project deadline lunch coffee report quarter sales plan family dinner "
         "weekend concert ticket doctor appointment school homework").split()


def gen_message(i):
    w = [WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(60)]
    body = " ".join(w)
    kind = i % 4
    head = ("From: Person %d <p%d@example.org>\nTo: me@example.org\n"
            "Date: Mon, 02 Nov 2026 %02d:%02d:00 +0000\nMessage-ID: <bench-%d@example.org>\n"
            % (i % 97, i % 97, i % 24, i % 60, i))
    if kind == 0:
        return head + "Subject: note %d about %s\n\n%s\n" % (i, w[0], body)
    if kind == 1:
        return head + ("Subject: =?UTF-8?B?w5xiZXIgZGVuIFBsYW4=?= %d\nMIME-Version: 1.0\n"
                       "Content-Type: text/plain; charset=iso-8859-1\n"
                       "Content-Transfer-Encoding: quoted-printable\n\nCaf=E9 %s\n" % (i, body))
    if kind == 2:
        return head + ("Subject: html %d\nMIME-Version: 1.0\n"
                       "Content-Type: multipart/alternative; boundary=\"b%d\"\n\n"
                       "--b%d\nContent-Type: text/plain; charset=utf-8\n\n%s\n"
                       "--b%d\nContent-Type: text/html; charset=utf-8\n\n<p>%s</p>\n--b%d--\n"
                       % (i, i, i, body, i, body, i))
    return head + ("Subject: newsletter %d\nMIME-Version: 1.0\n"
                   "Content-Type: text/html; charset=utf-8\n\n"
                   "<html><body><h1>News</h1><p>%s</p><ul><li>%s</li></ul></body></html>\n"
                   % (i, body, w[1]))


def write_mbox(path, n):
    with open(path, "w") as f:
        for i in range(n):
            f.write("From bench@example.org Mon Nov  2 10:00:00 2026\n")
            f.write(gen_message(i))
            f.write("\n")


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def python_baseline(path):
    t = time.perf_counter()
    n = 0
    for msg in mailbox.mbox(path, factory=lambda f: email.message_from_binary_file(
            f, policy=email.policy.default)):
        b = msg.get_body(preferencelist=("plain", "html"))
        if b is not None:
            b.get_content()
        str(msg["subject"])
        n += 1
    return n / (time.perf_counter() - t)


def cli_import(binary, path, n):
    data = tempfile.mkdtemp(prefix="pos-bench-")
    try:
        subprocess.run([binary, "user", "add", "b@example.org", "--data", data],
                       input="correct horse battery staple\n", text=True, check=True,
                       capture_output=True)
        t = time.perf_counter()
        r = subprocess.run([binary, "import", "mbox", path, "--data", data],
                           capture_output=True, text=True, check=True)
        dt = time.perf_counter() - t
        if "%d added" % n not in r.stdout:
            raise SystemExit("import did not add %d: %s" % (n, r.stdout))
        return n / dt
    finally:
        shutil.rmtree(data, ignore_errors=True)


def wait_run(api, tok, sid, before, timeout=600, poll=0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = api.get("/api/sync/status", token=tok)
        for s in r.json["sources"]:
            if s["id"] == sid and s["job"] is None and s["last_run"] and \
                    s["last_run"]["id"] != before and s["status"] != "running":
                return s
        time.sleep(poll)
    raise SystemExit("sync did not finish")


def server_import(binary, path, n):
    os.environ["POS_BIN"] = binary
    with harness.Server(external_ok=False) as srv:
        api = harness.Api(srv.base_url)
        tok = api.register(harness.unique_email())["access_token"]
        t = time.perf_counter()
        r = api.post("/api/sync/sources", {"kind": "mbox", "config": {"path": path},
                                           "interval_s": 0}, token=tok)
        s = wait_run(api, tok, r.json["id"], None)
        dt = time.perf_counter() - t
        if s["last_run"]["added"] != n:
            raise SystemExit("server import added %r" % s["last_run"])
        api.close()
        return n / dt, n / (s["last_run"]["duration_ms"] / 1000.0)


def imap_bench(binary, folder_size, rounds):
    os.environ["POS_BIN"] = binary
    dv = Dovecot({"bench": "bench-pw"}).start()
    try:
        # Maildir files straight into the user's INBOX: Dovecot indexes them
        # on first access, far faster than 10,000 APPENDs.
        c = dv.connect("bench")
        c.select("INBOX")  # creates the maildir
        c.logout()
        root = os.path.join(dv.dir, "mail", "bench")
        st = os.stat(os.path.join(root, "cur"))
        for i in range(folder_size):
            # named as Dovecot names delivered mail (",S=<size>"): without
            # the size in the name Dovecot reads every file on each open
            data = gen_message(100000 + i).replace("\n", "\r\n").encode()
            p = os.path.join(root, "cur", "%d.M%dP1.bench,S=%d:2," % (1700000000 + i, i, len(data)))
            with open(p, "wb") as f:
                f.write(data)
            os.chown(p, st.st_uid, st.st_gid)
        # Dovecot is on loopback: the egress policy needs its port named.
        env = {"PERSONALOS_EGRESS_ALLOW": "127.0.0.1:%d" % dv.port}
        with harness.Server(env=env, external_ok=False) as srv:
            api = harness.Api(srv.base_url)
            tok = api.register(harness.unique_email())["access_token"]
            t = time.perf_counter()
            r = api.post("/api/sync/sources", {"kind": "imap", "interval_s": 0, "config": {
                "host": "127.0.0.1", "port": dv.port, "tls": "none", "user": "bench",
                "password": "bench-pw"}}, token=tok)
            sid = r.json["id"]
            s = wait_run(api, tok, sid, None)
            full = time.perf_counter() - t
            if s["last_run"]["added"] != folder_size:
                raise SystemExit("full IMAP sync added %r" % s["last_run"])
            client, server = [], []
            for k in range(rounds):
                dv.append("bench", "INBOX", [message(500000 + k)])
                before = s["last_run"]["id"]
                t = time.perf_counter()
                r = api.post("/api/sync/start", {"source_id": sid}, token=tok)
                s = wait_run(api, tok, sid, before)
                client.append(time.perf_counter() - t)
                server.append(s["last_run"]["duration_ms"] / 1000.0)
                if s["last_run"]["added"] != 1:
                    raise SystemExit("incremental run added %r" % s["last_run"])
            api.close()
            return full, client, server
    finally:
        dv.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ.get("POS_BIN", "build-release/personalos"))
    ap.add_argument("--emails", type=int, default=20000)
    ap.add_argument("--folder", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--imap-rounds", type=int, default=10)
    a = ap.parse_args()
    binary = os.path.abspath(a.bin)
    tmp = tempfile.mkdtemp(prefix="pos-syncbench-")
    try:
        path = os.path.join(tmp, "bench.mbox")
        write_mbox(path, a.emails)
        size = os.path.getsize(path)
        print("mbox: %d messages, %.1f MB" % (a.emails, size / 1e6))
        base = [python_baseline(path) for _ in range(2)]
        cli = [cli_import(binary, path, a.emails) for _ in range(a.rounds)]
        srv = [server_import(binary, path, a.emails) for _ in range(max(2, a.rounds // 2))]
        srv_client = [x[0] for x in srv]
        srv_run = [x[1] for x in srv]
        b = statistics.median(base)
        print("baseline python mailbox+email parse only: %.0f emails/s (median of %d)"
              % (b, len(base)))
        print("personalos import mbox (CLI, data dir): median %.0f emails/s, p99 (slowest) %.0f,"
              " %.1fx baseline  [target >= 2000: %s]"
              % (statistics.median(cli), pct(cli, 1), statistics.median(cli) / b,
                 "meets" if statistics.median(cli) >= 2000 else "misses"))
        print("server mbox source (with embeddings): median %.0f emails/s end to end, %.0f/s"
              " run only, slowest %.0f, %.1fx baseline"
              % (statistics.median(srv_client), statistics.median(srv_run), min(srv_client),
                 statistics.median(srv_client) / b))
        full, client, server = imap_bench(binary, a.folder, a.imap_rounds)
        print("IMAP: full first sync of %d messages: %.2f s (%.0f/s) [baseline]"
              % (a.folder, full, a.folder / full))
        print("IMAP: 1 new message in a %d-message folder: client median %.3f s, p99 %.3f s;"
              " server run median %.3f s, p99 %.3f s; %.0fx faster than the full sync"
              "  [target <= 1 s: %s]"
              % (a.folder, statistics.median(client), pct(client, 99), statistics.median(server),
                 pct(server, 99), full / statistics.median(client),
                 "meets" if pct(client, 99) <= 1.0 else "misses"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
