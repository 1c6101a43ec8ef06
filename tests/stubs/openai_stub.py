#!/usr/bin/env python3
"""openai_stub.py - a local stand-in for an OpenAI-compatible server.

It speaks the OpenAI wire formats that PersonalOS uses, so tests need no
network and no model:

  POST /v1/embeddings        {"model", "input": str | [str], "encoding_format",
                              "dimensions"?} -> {"object": "list", "data":
                              [{"object": "embedding", "index", "embedding"}],
                              "model", "usage"}. Vectors are deterministic
                              (seeded by a hash of model and text) and NOT
                              normalized, so clients must normalize.
  POST /v1/chat/completions  non-streaming (chat.completion) and streaming
                              (server-sent chat.completion.chunk events, a
                              final chunk with finish_reason "stop", an
                              optional usage chunk, then "data: [DONE]").
  GET  /v1/models            the configured models.

It records every API request (method, path, all headers, JSON body) in
memory and, with --record FILE, as one JSON line each. Test control:

  GET  /_stub/requests       the recorded requests, oldest first
  POST /_stub/reset          forget them and go back to mode "ok"
  POST /_stub/mode           {"mode": M, "count": N?, "seconds": S?,
                              "retry_after": "V"?} - how to answer the next
                              N API requests (all of them without count):
    ok            normal answers
    down          503 with an OpenAI error body
    garbage       200 with a body that is not JSON
    wrong_dim     embeddings of dim + 1 numbers
    ragged        embeddings of different lengths
    bad_index     every item has index 0
    missing       one embedding fewer than inputs
    not_numbers   embeddings hold strings
    reversed      a normal answer with the items in reverse order
    slow          sleep S seconds (default 5), then answer normally
    unauthorized  401 with OpenAI's invalid_api_key body
    rate_limited  429 with Retry-After: V (default "1")
    disconnect    close the connection without answering
    cut           stream half of the answer, then close without [DONE]
                  (non-streamed calls: like disconnect)
  POST /_stub/reply          {"reply": TEXT} - the chat reply from now on
                             (null: back to echoing); reset clears it

--port 0 picks a free port; the first line on stdout is "PORT <n>" either
way. SIGTERM and SIGINT stop it cleanly (exit status 0). Standard library
only.
"""

import argparse
import base64
import hashlib
import json
import random
import struct
import sys
import threading
import time

import stubkit

MODES = {"ok", "down", "garbage", "wrong_dim", "ragged", "bad_index",
         "missing", "not_numbers", "reversed", "slow", "unauthorized",
         "rate_limited", "disconnect", "cut"}


class State:
    """What the stub was told and what it saw; shared by handler threads."""

    def __init__(self, args):
        self.lock = threading.Lock()
        self.args = args
        self.requests = []
        self.record = open(args.record, "a", encoding="utf-8") if args.record else None
        self.counter = 0
        self.reply = None
        self.reset_mode()

    def reset_mode(self):
        self.mode = "ok"
        self.count = None      # None: until told otherwise
        self.seconds = 5.0
        self.retry_after = "1"

    def take_mode(self):
        """The mode for one API request (counting it down)."""
        with self.lock:
            mode, seconds, retry_after = self.mode, self.seconds, self.retry_after
            if self.count is not None:
                self.count -= 1
                if self.count <= 0:
                    self.reset_mode()
            self.counter += 1
            return mode, seconds, retry_after, self.counter

    def log(self, entry):
        with self.lock:
            self.requests.append(entry)
            if self.record:
                self.record.write(json.dumps(entry) + "\n")
                self.record.flush()


def openai_error(message, etype, code=None, param=None):
    return {"error": {"message": message, "type": etype, "param": param, "code": code}}


def vector(model, text, dim):
    """Deterministic, unnormalized: values uniform in [-1, 1)."""
    seed = hashlib.sha256((model + "\0" + text).encode("utf-8", "surrogatepass")).digest()
    rng = random.Random(int.from_bytes(seed[:8], "big"))
    return [rng.uniform(-1.0, 1.0) for _ in range(dim)]


def count_tokens(text):
    return max(1, len(text.split()))


def message_text(content):
    """The text of a chat message content (a string or content parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content
                        if isinstance(p, dict) and p.get("type") == "text")
    return ""


class Handler(stubkit.Handler):
    server_version = "openai-stub/1"

    # ---- dispatch ----

    def do_GET(self):
        st = self.server.state
        if self.path == "/_stub/requests":
            with st.lock:
                reqs = list(st.requests)
            return self.send_json(200, reqs)
        if self.path == "/v1/models":
            self.api("GET", None)
            return
        self.send_json(404, openai_error("Unknown path " + self.path, "invalid_request_error"))

    def do_POST(self):
        st = self.server.state
        raw = self.read_body()
        if self.path == "/_stub/reset":
            with st.lock:
                st.requests.clear()
                st.reset_mode()
                st.reply = None
            return self.send_json(200, {"ok": True})
        if self.path == "/_stub/reply":
            try:
                reply = json.loads(raw or b"{}")["reply"]
                if reply is not None and not isinstance(reply, str):
                    raise TypeError("reply must be a string or null")
            except (ValueError, KeyError, TypeError) as e:
                return self.send_json(400, {"error": "bad reply: %s" % e})
            with st.lock:
                st.reply = reply
            return self.send_json(200, {"ok": True})
        if self.path == "/_stub/mode":
            try:
                body = json.loads(raw or b"{}")
                mode = body["mode"]
                if mode not in MODES:
                    raise ValueError(mode)
            except (ValueError, KeyError, TypeError) as e:
                return self.send_json(400, {"error": "bad mode: %s" % e})
            with st.lock:
                st.reset_mode()
                st.mode = mode
                st.count = body.get("count")
                st.seconds = float(body.get("seconds", 5))
                st.retry_after = str(body.get("retry_after", "1"))
            return self.send_json(200, {"mode": mode})
        self.api("POST", raw)

    def api(self, method, raw):
        st = self.server.state
        body, body_raw = None, None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body_raw = raw.decode("utf-8", "replace")
        entry = {"time": time.time(), "method": method, "path": self.path,
                 "headers": {k: v for k, v in self.headers.items()},
                 "body": body}
        if body_raw is not None:
            entry["body_raw"] = body_raw
        st.log(entry)
        self.entry = entry

        mode, seconds, retry_after, n = st.take_mode()
        if mode == "slow":
            time.sleep(seconds)
        elif mode == "down":
            return self.send_json(503, openai_error(
                "The server is overloaded or not ready yet.", "server_error"))
        elif mode == "unauthorized":
            return self.send_json(401, openai_error(
                "Incorrect API key provided.", "invalid_request_error",
                code="invalid_api_key"))
        elif mode == "rate_limited":
            return self.send_json(429, openai_error(
                "Rate limit reached.", "requests", code="rate_limit_exceeded"),
                headers={"Retry-After": retry_after})
        elif mode == "disconnect" or (mode == "cut" and not (body or {}).get("stream")):
            self.close_connection = True
            return
        elif mode == "garbage":
            return self.send_raw(200, b'{"data": [{"index": 0, "embedding": [0.1, oops',
                                 "application/json")

        if method == "GET" and self.path == "/v1/models":
            return self.send_json(200, {"object": "list", "data": [
                {"id": m, "object": "model", "created": 0, "owned_by": "stub"}
                for m in st.args.models]})
        if not isinstance(body, dict):
            return self.send_json(400, openai_error(
                "We could not parse the JSON body of your request.",
                "invalid_request_error"))
        if self.path == "/v1/embeddings":
            return self.embeddings(body, mode)
        if self.path == "/v1/chat/completions":
            return self.chat(body, mode, n)
        return self.send_json(404, openai_error(
            "Invalid URL (POST %s)" % self.path, "invalid_request_error"))

    # ---- /v1/embeddings ----

    def embeddings(self, body, mode):
        st = self.server.state
        model, inp = body.get("model"), body.get("input")
        if not isinstance(model, str) or not model:
            return self.send_json(400, openai_error(
                "you must provide a model parameter", "invalid_request_error",
                param="model"))
        if isinstance(inp, str):
            inp = [inp]
        if isinstance(inp, list) and inp and all(isinstance(t, int) for t in inp):
            inp = [inp]   # one text given as tokens
        ok = isinstance(inp, list) and inp and all(
            (isinstance(t, str) and t) or
            (isinstance(t, list) and t and all(isinstance(i, int) for i in t))
            for t in inp)
        if not ok:
            return self.send_json(400, openai_error(
                "'$.input' is invalid.", "invalid_request_error", param="input"))
        texts = [t if isinstance(t, str) else json.dumps(t) for t in inp]
        dim = body.get("dimensions") or st.args.dim
        if not isinstance(dim, int) or dim <= 0:
            return self.send_json(400, openai_error(
                "Invalid 'dimensions'", "invalid_request_error", param="dimensions"))
        fmt = body.get("encoding_format", "float")

        data = []
        for i, text in enumerate(texts):
            d = dim + 1 if mode == "wrong_dim" else dim + (i % 2 if mode == "ragged" else 0)
            vec = vector(model, text, d)
            emb = vec
            if mode == "not_numbers":
                emb = [str(x) for x in vec]
            elif fmt == "base64":
                emb = base64.b64encode(struct.pack("<%df" % len(vec), *vec)).decode()
            data.append({"object": "embedding",
                         "index": 0 if mode == "bad_index" else i,
                         "embedding": emb})
        if mode == "missing":
            data.pop()
        if mode == "reversed":
            data.reverse()
        tokens = sum(count_tokens(t) for t in texts)
        self.send_json(200, {"object": "list", "data": data, "model": model,
                             "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    # ---- /v1/chat/completions ----

    def chat(self, body, mode, n):
        st = self.server.state
        model, messages = body.get("model"), body.get("messages")
        if not isinstance(model, str) or not model:
            return self.send_json(400, openai_error(
                "you must provide a model parameter", "invalid_request_error",
                param="model"))
        if not isinstance(messages, list) or not messages or not all(
                isinstance(m, dict) and "role" in m for m in messages):
            return self.send_json(400, openai_error(
                "'messages' must be a non-empty array of messages.",
                "invalid_request_error", param="messages"))
        last_user = ""
        for m in messages:
            if m.get("role") == "user":
                last_user = message_text(m.get("content"))
        with st.lock:
            override = st.reply
        reply = (override if override is not None
                 else st.args.reply if st.args.reply is not None
                 else "Stub reply to: " + last_user)
        prompt_tokens = sum(count_tokens(message_text(m.get("content"))) for m in messages)
        completion_tokens = count_tokens(reply)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                 "total_tokens": prompt_tokens + completion_tokens}
        cid = "chatcmpl-stub%06d" % n
        created = int(time.time())

        if not body.get("stream"):
            return self.send_json(200, {
                "id": cid, "object": "chat.completion", "created": created,
                "model": model, "system_fingerprint": "fp_stub",
                "choices": [{"index": 0,
                             "message": {"role": "assistant", "content": reply,
                                         "refusal": None},
                             "logprobs": None, "finish_reason": "stop"}],
                "usage": usage})

        def chunk(delta, finish, with_usage=False):
            c = {"id": cid, "object": "chat.completion.chunk", "created": created,
                 "model": model, "system_fingerprint": "fp_stub",
                 "choices": [{"index": 0, "delta": delta, "logprobs": None,
                              "finish_reason": finish}]}
            if with_usage:
                c["usage"] = None
            return c

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        events = [chunk({"role": "assistant", "content": "", "refusal": None}, None, include_usage)]
        words = reply.split(" ")
        for i, w in enumerate(words):
            events.append(chunk({"content": w if i == 0 else " " + w}, None, include_usage))
        events.append(chunk({}, "stop", include_usage))
        if include_usage:
            events.append({"id": cid, "object": "chat.completion.chunk",
                           "created": created, "model": model,
                           "system_fingerprint": "fp_stub", "choices": [],
                           "usage": usage})
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.entry["first_chunk_at"] = time.time()  # for bench/chat_bench.py
            if mode == "cut":
                for ev in events[:max(2, len(events) // 2)]:
                    self.write_chunk(b"data: " + json.dumps(ev).encode() + b"\n\n")
                self.close_connection = True
                return
            for ev in events:
                self.write_chunk(b"data: " + json.dumps(ev).encode() + b"\n\n")
            self.write_chunk(b"data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def write_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()



def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--dim", type=int, default=16, help="embedding dimension")
    ap.add_argument("--record", help="append every API request to this JSONL file")
    ap.add_argument("--reply", help="fixed chat reply (default: echo the last user message)")
    ap.add_argument("--models", nargs="*", default=["stub-embed", "stub-chat"])
    ap.add_argument("--verbose", action="store_true", help="log requests to stderr")
    args = ap.parse_args()

    state = State(args)
    try:
        return stubkit.serve(args, Handler, state)
    finally:
        if state.record:
            state.record.close()


if __name__ == "__main__":
    sys.exit(main())
