#!/usr/bin/env python3
"""memu_stub.py - a local stand-in for the MemU Cloud API v3.

It speaks the wire format PersonalOS's client (src/assistant/memu.c) uses,
so tests need neither network nor a MemU account (docs/MEMU.md):

  POST /api/v3/memory/memorize   {user_id, agent_id, user_name?, agent_name?,
                                  conversation: [{role, content}] |
                                  conversation_text} -> {task_id, status:
                                  "PENDING", message}. The text is stored
                                  per (user_id, agent_id) at once: each
                                  user turn (or each line of the text)
                                  becomes one memory item.
  GET  /api/v3/memory/memorize/status/{task_id}
                                 -> {task_id, status}: PENDING on the first
                                  poll, SUCCESS from the second on; 404 for
                                  an unknown task.
  POST /api/v3/memory/retrieve   {user_id, agent_id, query} -> {rewritten_query,
                                  categories, items, resources}: naive word
                                  overlap between the query and the stored
                                  items, best first, each with a score.
  POST /api/v3/memory/categories {user_id, agent_id} -> {categories: [{name,
                                  description, summary, user_id, agent_id}]}
  POST /api/v3/memory/delete     {user_id, agent_id?} -> "Memories deleted
                                  successfully"; without agent_id every
                                  agent's memories of the user go.

Every API request needs "Authorization: Bearer KEY" (--key, default
"test-memu-key"): otherwise 401 {"detail": "Invalid API key"}. A body that
is not a JSON object, or lacks a required field, gets 422 in FastAPI's
shape ({"detail": [{"loc": ["body", FIELD], "msg", "type"}]}).

It records every API request (method, path, all headers, JSON body).
Test control:

  GET  /_stub/requests           the recorded requests, oldest first
  GET  /_stub/memories?user_id=U the items stored for user U (every agent),
                                 oldest first: what MemU holds after the
                                 memorize and delete calls that succeeded
  POST /_stub/reset              forget requests, stored memories and tasks;
                                 mode back to "ok"
  POST /_stub/mode               {"mode": M, "count": N?, "seconds": S?,
                                  "body": B?, "status": C?} - how to answer
                                 the next N API requests (all without count):
    ok            normal answers
    down          503 {"detail": "Service Unavailable"}
    slow          sleep S seconds (default 5), then answer normally
    garbage       200 with a body that is not JSON
    unauthorized  401 {"detail": "Invalid API key"}, whatever the key
    rate_limited  429 with Retry-After: 1
    fixed         status C (default 200) with the JSON value B as the body,
                  for answers of odd shape
    disconnect    close the connection without answering

--port 0 picks a free port; the first line on stdout is "PORT <n>" either
way. SIGTERM and SIGINT stop it cleanly (exit status 0). Standard library
only.
"""

import argparse
import json
import re
import sys
import threading
import time
from urllib.parse import unquote

import stubkit

MODES = {"ok", "down", "slow", "garbage", "unauthorized", "rate_limited",
         "fixed", "disconnect"}
API = "/api/v3/memory/"
WORD = re.compile(r"[^\W_]+", re.UNICODE)
STOP = {"a", "an", "the", "i", "you", "is", "are", "was", "to", "of", "and",
        "or", "in", "on", "at", "my", "me", "do", "does", "what", "who",
        "for", "it", "with", "about", "that", "this", "be", "have", "has"}


def words(text):
    return {w for w in WORD.findall(text.lower()) if w not in STOP}


def category_of(text):
    """A crude category, so answers look like MemU's."""
    t = text.lower()
    for name, keys in (("preferences", ("like", "love", "prefer", "hate", "favorite")),
                       ("work_life", ("work", "job", "office", "meeting", "project")),
                       ("relationships", ("friend", "wife", "husband", "mother",
                                          "father", "sister", "brother"))):
        if any(k in t for k in keys):
            return name
    return "personal_info"


class State:
    """What the stub was told, saw and stored; shared by handler threads."""

    def __init__(self, args):
        self.lock = threading.Lock()
        self.args = args
        self.requests = []
        self.clear()

    def clear(self):
        self.memories = {}   # (user_id, agent_id) -> [item dict]
        self.tasks = {}      # task_id -> polls so far
        self.counter = 0
        self.reset_mode()

    def reset_mode(self):
        self.mode = "ok"
        self.count = None
        self.seconds = 5.0
        self.fixed_body = None
        self.fixed_status = 200

    def take_mode(self):
        with self.lock:
            m = (self.mode, self.seconds, self.fixed_body, self.fixed_status)
            if self.count is not None:
                self.count -= 1
                if self.count <= 0:
                    self.reset_mode()
            return m


class Handler(stubkit.Handler):
    server_version = "memu-stub/1"

    def invalid(self, field, msg="field required"):
        return self.send_json(422, {"detail": [
            {"loc": ["body", field], "msg": msg, "type": "value_error"}]})

    # ---- dispatch ----

    def do_GET(self):
        st = self.server.state
        if self.path == "/_stub/requests":
            with st.lock:
                reqs = list(st.requests)
            return self.send_json(200, reqs)
        if self.path.startswith("/_stub/memories?user_id="):
            user = unquote(self.path[len("/_stub/memories?user_id="):])
            with st.lock:
                items = [it["content"] for (u, _), lst in st.memories.items()
                         if u == user for it in lst]
            return self.send_json(200, items)
        if self.path.startswith(API):
            return self.api("GET", b"")
        self.send_json(404, {"detail": "Not Found"})

    def do_POST(self):
        st = self.server.state
        raw = self.read_body()
        if self.path == "/_stub/reset":
            with st.lock:
                st.requests.clear()
                st.clear()
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
                st.fixed_body = body.get("body")
                st.fixed_status = int(body.get("status", 200))
            return self.send_json(200, {"mode": mode})
        if self.path.startswith(API):
            return self.api("POST", raw)
        self.send_json(404, {"detail": "Not Found"})

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
        with st.lock:
            st.requests.append(entry)

        mode, seconds, fixed_body, fixed_status = st.take_mode()
        if mode == "slow":
            time.sleep(seconds)
        elif mode == "down":
            return self.send_json(503, {"detail": "Service Unavailable"})
        elif mode == "unauthorized":
            return self.send_json(401, {"detail": "Invalid API key"})
        elif mode == "rate_limited":
            return self.send_json(429, {"detail": "Too Many Requests"},
                                  headers={"Retry-After": "1"})
        elif mode == "garbage":
            return self.send_raw(200, b"<html>upstream error {\"task_id\": oops",
                                 "text/html")
        elif mode == "disconnect":
            self.close_connection = True
            return
        elif mode == "fixed":
            return self.send_json(fixed_status, fixed_body)

        if self.headers.get("Authorization") != "Bearer " + st.args.key:
            return self.send_json(401, {"detail": "Invalid API key"})

        path = self.path[len(API):]
        if method == "GET":
            if path.startswith("memorize/status/"):
                return self.status(unquote(path[len("memorize/status/"):]))
            return self.send_json(405, {"detail": "Method Not Allowed"})
        if not isinstance(body, dict):
            return self.invalid("body", "a JSON object is required")
        handler = {"memorize": self.memorize, "retrieve": self.retrieve,
                   "categories": self.categories, "delete": self.delete}.get(path)
        if not handler:
            return self.send_json(404, {"detail": "Not Found"})
        return handler(body)

    # ---- the five endpoints ----

    def memorize(self, body):
        st = self.server.state
        for f in ("user_id", "agent_id"):
            if not isinstance(body.get(f), str) or not body[f]:
                return self.invalid(f)
        conv, text = body.get("conversation"), body.get("conversation_text")
        if conv is not None:
            if not isinstance(conv, list) or not all(
                    isinstance(t, dict) and isinstance(t.get("role"), str)
                    and isinstance(t.get("content"), str) for t in conv):
                return self.invalid("conversation", "a list of {role, content}")
            lines = [t["content"] for t in conv if t["role"] == "user"]
        elif isinstance(text, str) and text.strip():
            lines = text.splitlines()
        else:
            return self.invalid("conversation")
        key = (body["user_id"], body["agent_id"])
        with st.lock:
            st.counter += 1
            task_id = "task_%06d" % st.counter
            st.tasks[task_id] = 0
            items = st.memories.setdefault(key, [])
            for line in lines:
                line = line.strip()
                if line:
                    items.append({"id": "mem_%06d_%d" % (st.counter, len(items)),
                                  "memory_type": "knowledge",
                                  "category": category_of(line),
                                  "content": line})
        return self.send_json(200, {"task_id": task_id, "status": "PENDING",
                                    "message": "Memorization task registered successfully"})

    def status(self, task_id):
        st = self.server.state
        with st.lock:
            if task_id not in st.tasks:
                return self.send_json(404, {"detail": "Task not found"})
            st.tasks[task_id] += 1
            status = "PENDING" if st.tasks[task_id] == 1 else "SUCCESS"
        return self.send_json(200, {"task_id": task_id, "status": status,
                                    "created_at": "2026-01-01T00:00:00Z"})

    def retrieve(self, body):
        st = self.server.state
        for f in ("user_id", "agent_id"):
            if not isinstance(body.get(f), str) or not body[f]:
                return self.invalid(f)
        query = body.get("query")
        if isinstance(query, list):
            query = " ".join(t.get("content", "") for t in query if isinstance(t, dict))
        if not isinstance(query, str) or not query.strip():
            return self.invalid("query")
        q = words(query)
        with st.lock:
            items = list(st.memories.get((body["user_id"], body["agent_id"]), []))
        scored = []
        for it in items:
            overlap = len(q & words(it["content"]))
            if overlap:
                scored.append((overlap / max(1, len(q)), it))
        scored.sort(key=lambda p: -p[0])
        out_items = [dict(it, score=round(s, 4)) for s, it in scored]
        cats = {}
        for s, it in scored:
            c = cats.setdefault(it["category"], {"name": it["category"],
                                                 "description": "memories about " + it["category"],
                                                 "summary": "", "score": 0.0})
            c["summary"] += ("\n" if c["summary"] else "") + "- " + it["content"]
            c["score"] = max(c["score"], round(s / 2, 4))
        return self.send_json(200, {"rewritten_query": query,
                                    "categories": list(cats.values()),
                                    "items": out_items, "resources": []})

    def categories(self, body):
        st = self.server.state
        if not isinstance(body.get("user_id"), str) or not body["user_id"]:
            return self.invalid("user_id")
        agent = body.get("agent_id")
        with st.lock:
            items = [it for (u, a), lst in st.memories.items()
                     if u == body["user_id"] and (agent is None or a == agent)
                     for it in lst]
        cats = {}
        for it in items:
            c = cats.setdefault(it["category"], {
                "name": it["category"], "description": "memories about " + it["category"],
                "user_id": body["user_id"], "agent_id": agent, "summary": ""})
            c["summary"] += ("\n" if c["summary"] else "") + "- " + it["content"]
        return self.send_json(200, {"categories": list(cats.values())})

    def delete(self, body):
        st = self.server.state
        if not isinstance(body.get("user_id"), str) or not body["user_id"]:
            return self.invalid("user_id")
        agent = body.get("agent_id")
        with st.lock:
            for key in [k for k in st.memories
                        if k[0] == body["user_id"] and (agent is None or k[1] == agent)]:
                del st.memories[key]
        return self.send_json(200, "Memories deleted successfully")



def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--key", default="test-memu-key", help="the accepted API key")
    ap.add_argument("--verbose", action="store_true", help="log requests to stderr")
    args = ap.parse_args()

    return stubkit.serve(args, Handler, State(args))


if __name__ == "__main__":
    sys.exit(main())
