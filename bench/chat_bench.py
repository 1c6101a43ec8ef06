#!/usr/bin/env python3
"""Assistant benchmark (issue 4): chat overhead and time to first SSE byte.

1. Chat overhead without the model. A fresh server with no model (the
   offline responder, whose own work is a few microseconds) is loaded with
   the search benchmark's synthetic corpus (default 100k memories), and a
   user sends the search benchmark's questions as chat messages. The server
   time of each POST /api/chat/message (its Server-Timing `app` figure:
   validate, retrieve with hybrid search, build the prompt, answer, save the
   exchange as a memory plus two messages, queue the memorize job) is the
   chat overhead. Baseline in the same run: GET /api/memories/search with the
   same questions (hybrid, limit 12, the query text neutralised as the chat
   does: the retrieval alone), so the ratio shows what prompt building and
   saving add. The result cache is off and the two alternate which goes
   first on each question (the second finds SQLite's pages warm).

2. First SSE byte. A second server points at the model stand-in
   (tests/stubs/openai_stub.py, which stamps when it writes its first content
   chunk). The client reads the chat's event stream and stamps the arrival
   of the first `delta` event; the difference is the relay latency through
   PersonalOS. Baseline: the same stand-in streamed to the client directly
   (first content chunk written -> read).

Medians and p99 are printed with the ratios; nothing is asserted.

    python3 bench/chat_bench.py [--bin build-release/personalos] [--size 100000]
        [--messages 300] [--streams 100]

Python standard library only. Results: docs/BENCHMARKS.md, "Assistant".
"""

import argparse
import http.client
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "locomo"))
sys.path.insert(0, HERE)
import harness as H  # noqa: E402  (bench/locomo/harness.py)
import search_bench as SB  # noqa: E402

# tests/api/harness.py is also named harness: load its stand-in client by path.
import importlib.util  # noqa: E402
_spec = importlib.util.spec_from_file_location(
    "test_harness", os.path.join(ROOT, "tests", "api", "harness.py"))
TH = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(TH)


def neutralize(q):
    """The search text the chat uses for a message (src/assistant/chat.c:
    query syntax becomes spaces), so the baseline searches the same."""
    out = []
    for i, c in enumerate(q):
        if c in ':"()*^' or (c == "-" and (i == 0 or q[i - 1].isspace())):
            c = " "
        out.append(c)
    return "".join(out)


def load(client, token, size):
    t0 = time.perf_counter()
    for chunk in SB.corpus_chunks(size):
        r = client.request("POST", "/api/memories/bulk", {"memories": chunk}, token=token)
        if r.status != 201:
            raise H.BenchError("bulk load: %d %s" % (r.status, r.error_text()))
    return size / (time.perf_counter() - t0)


def overhead(args, work):
    # The result cache is off: the chat searches the question the baseline
    # just searched, and must not be served that from the cache.
    srv = H.Server(H.resolve_binary(args.bin), os.path.join(work, "data1"),
                   os.path.join(work, "log1"), env={"PERSONALOS_SEARCH_CACHE": "0"})
    srv.start()
    try:
        c = H.Client(srv.base_url)
        token = c.request("POST", "/api/auth/register", {
            "email": "bench@example.org", "password": "correct horse battery"}).doc["access_token"]
        rate = load(c, token, args.size)
        H.log("loaded %d memories (%.0f/s)" % (args.size, rate))
        questions = [q for _, q in SB.make_queries()][:args.messages]
        # warm the vector index and caches the way a live server would be
        for q in questions[:20]:
            c.request("GET", "/api/memories/search?limit=12&query=" + urllib.parse.quote(q), token=token)
        search, chat = [], []
        # The second query on the same words finds SQLite's pages warm:
        # alternate which goes first, so neither side always gets that.
        for i, q in enumerate(questions):
            for step in ((0, 1) if i % 2 else (1, 0)):
                if step == 0:
                    r = c.request("GET", "/api/memories/search?limit=12&query=" +
                                  urllib.parse.quote(neutralize(q)), token=token)
                    if r.status == 200 and r.server_ms is not None:
                        search.append(r.server_ms)
                else:
                    r = c.request("POST", "/api/chat/message", {"message": q}, token=token)
                    if r.status != 200:
                        raise H.BenchError("chat: %d %s" % (r.status, r.error_text()))
                    chat.append(r.server_ms)
        return search, chat
    finally:
        srv.stop()


def read_first_event(sock_file, marker):
    """Reads lines until one contains `marker`; returns the time it came."""
    while True:
        line = sock_file.readline()
        if not line:
            return None
        if marker in line:
            return time.time()


def stub_first_chunk(stub, message):
    for q in reversed(stub.requests()):
        body = q.get("body") or {}
        if body.get("messages", [{}])[-1].get("content") == message:
            return q.get("first_chunk_at")
    return None


def first_byte(args, work):
    stub = TH.OpenAIStub()
    srv = H.Server(H.resolve_binary(args.bin), os.path.join(work, "data2"),
                   os.path.join(work, "log2"),
                   env={"PERSONALOS_LLM_URL": "http://127.0.0.1:%d/v1" % stub.port,
                        "PERSONALOS_LLM_MODEL": "stub-chat"})
    srv.start()
    try:
        c = H.Client(srv.base_url)
        token = c.request("POST", "/api/auth/register", {
            "email": "sse@example.org", "password": "correct horse battery"}).doc["access_token"]
        relay, direct = [], []
        for i in range(args.streams):
            msg = "stream number %d please" % i
            # through PersonalOS
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
            conn.request("POST", "/api/chat/message", json.dumps({"message": msg}),
                         {"Content-Type": "application/json", "Accept": "text/event-stream",
                          "Authorization": "Bearer " + token})
            resp = conn.getresponse()
            got = read_first_event(resp, b'"delta"')
            resp.read()
            conn.close()
            sent = stub_first_chunk(stub, msg)
            if got and sent:
                relay.append((got - sent) * 1000.0)
            # straight from the stand-in
            conn = http.client.HTTPConnection("127.0.0.1", stub.port, timeout=60)
            conn.request("POST", "/v1/chat/completions", json.dumps({
                "model": "stub-chat", "stream": True,
                "messages": [{"role": "user", "content": msg + " direct"}]}),
                {"Content-Type": "application/json"})
            resp = conn.getresponse()
            got = read_first_event(resp, b'"content": "Stub')
            resp.read()
            conn.close()
            sent = stub_first_chunk(stub, msg + " direct")
            if got and sent:
                direct.append((got - sent) * 1000.0)
        return direct, relay
    finally:
        srv.stop()
        stub.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "build-release", "personalos"))
    ap.add_argument("--size", type=int, default=100000)
    ap.add_argument("--messages", type=int, default=300)
    ap.add_argument("--streams", type=int, default=100)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="pos-chat-bench-")
    try:
        search, chat = overhead(args, work)
        direct, relay = first_byte(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = [
        ["search (baseline), server ms", H.fmt_ms(H.median(search)), H.fmt_ms(H.pctl(search, 99)), H.fmt_ratio(1.0)],
        ["chat overhead, server ms", H.fmt_ms(H.median(chat)), H.fmt_ms(H.pctl(chat, 99)),
         H.fmt_ratio(H.ratio(H.median(chat), H.median(search)))],
        ["first chunk, stand-in direct, ms", H.fmt_ms(H.median(direct)), H.fmt_ms(H.pctl(direct, 99)), H.fmt_ratio(1.0)],
        ["first SSE byte after provider's first chunk, ms", H.fmt_ms(H.median(relay)),
         H.fmt_ms(H.pctl(relay, 99)), H.fmt_ratio(H.ratio(H.median(relay), H.median(direct)))],
    ]
    print("Assistant, %d memories, %d messages, %d streams" % (args.size, len(chat), len(relay)))
    print(H.text_table(["measure", "p50", "p99", "ratio p50"], rows))


if __name__ == "__main__":
    main()
