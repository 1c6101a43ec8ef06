"""The assistant: POST /api/chat/message (JSON and Server-Sent Events),
history, suggestions and memorize (docs/ASSISTANT.md).

Two kinds of server: one with no model configured (the offline responder
answers from the memories), and one pointed at the OpenAI-compatible
stand-in (tests/stubs/openai_stub.py), which records every request so the
tests can assert on the exact prompt. Background jobs are awaited with
bounded polls, never timing assertions.
"""

import http.client
import json
import os
import shutil
import sys
import tempfile
import time
import unittest
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

CHAT = "/api/chat/message"


def word():
    """A made-up word unique to one test, so search finds exactly it."""
    return "zq" + uuid.uuid4().hex[:8]



def sse(base_url, token, body, accept=True):
    """Posts a chat message asking for SSE; returns (status, headers,
    events) where events are (event-name, data-dict-or-raw) in order."""
    u = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    headers = {"Content-Type": "application/json", "Authorization": "Bearer " + token}
    if accept:
        headers["Accept"] = "text/event-stream"
    conn.request("POST", CHAT, json.dumps(body).encode(), headers)
    resp = conn.getresponse()
    raw = resp.read().decode("utf-8")
    conn.close()
    hdrs = {k.lower(): v for k, v in resp.getheaders()}
    if not hdrs.get("content-type", "").startswith("text/event-stream"):
        return resp.status, hdrs, json.loads(raw) if raw else None
    events = []
    for block in raw.split("\n\n"):
        if not block.strip():
            continue
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
        text = "\n".join(data)
        try:
            events.append((name, json.loads(text)))
        except ValueError:
            events.append((name, text))
    return resp.status, hdrs, events


class ChatCase(harness.ApiTestCase):
    """Helpers shared by the chat test classes."""

    def chat(self, token, message, **kw):
        body = dict(kw)
        body["message"] = message
        return self.api.post(CHAT, body, token=token)

    def history(self, token, conversation_id=None):
        path = "/api/chat/history"
        if conversation_id:
            path += "?conversation_id=" + conversation_id
        r = self.api.get(path, token=token)
        self.assertEqual(r.status, 200, r.raw[:300])
        return r.json

    def job_done(self, token, job_id):
        def check():
            r = self.api.get("/api/jobs/" + job_id, token=token)
            self.assertEqual(r.status, 200, r.raw[:300])
            return r.json if r.json["status"] in ("done", "failed") else None
        job = harness.poll(check)
        self.assertIsNotNone(job, "job %s did not finish" % job_id)
        return job


class OfflineChatTest(ChatCase):
    """No model configured: the built-in responder answers from memories."""

    def test_answer_cites_the_relevant_memory_and_saves_the_exchange(self):
        u = self.new_user()
        w = word()
        dentist = self.create_memory(
            u.token, "My dentist appointment with Dr %s is on December 3 at 10:00." % w,
            created_at="2026-11-20T08:00:00Z")
        self.create_memory(u.token, "The recipe for pancakes needs flour, eggs and milk.")
        r = self.chat(u.token, "When is my appointment with Dr %s?" % w)
        self.assertEqual(r.status, 200, r.raw[:300])
        body = r.json
        for k in ("response", "conversation_id", "memories_used", "context_size"):
            self.assertIn(k, body)
        self.assertRegex(body["conversation_id"], harness.UUID_RE)
        self.assertIn(dentist["id"], body["memories_used"])
        self.assertGreaterEqual(body["context_size"], 1)
        # It speaks to a person (issue 22): no operator's "configure llm_url".
        self.assertIn("without a language model", body["response"])
        self.assertNotIn("llm_url", body["response"])
        self.assertIn(w, body["response"])
        # dated by the appointment, not by when the note was written
        self.assertIn("2026-12-03", body["response"])
        self.assertNotIn("2026-11-20", body["response"])
        # only the memory it quotes counts as used
        self.assertEqual(body["memories_used"], [dentist["id"]])
        pos = body["memories_used"].index(dentist["id"]) + 1
        self.assertIn("[%d]" % pos, body["response"])  # cited
        saved = self.get_memory(u.token, body["memory_id"])
        self.assertEqual(saved["type"], "conversation")
        self.assertEqual(saved["source"], "chat")
        self.assertIn(w, saved["content"])
        self.assertEqual(saved["metadata"]["conversation_id"], body["conversation_id"])

    def test_no_matching_memory_says_so(self):
        u = self.new_user()
        r = self.chat(u.token, "What is the capital of %s?" % word())
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertIn("could not find anything about that in your notes", r.json["response"])
        self.assertEqual(r.json["memories_used"], [])

    def test_time_question_lists_what_is_dated_in_the_window(self):
        # "What do I have to do this week?" finds an appointment tomorrow
        # (an event), a tax deadline (a task's due date) and a note naming a
        # day, by their dates in the user's zone; not what lies outside.
        import datetime
        u = self.new_user()
        self.api.patch("/api/auth/me", {"settings": {"tz_offset_minutes": 60}}, token=u.token)
        now = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
        tomorrow = (now + datetime.timedelta(days=1)).date()
        in3 = (now + datetime.timedelta(days=3)).date()
        far = (now + datetime.timedelta(days=40)).date()
        dentist = self.create_memory(
            u.token, "Appointment with Dr. Ruiz", type="event",
            metadata={"start_time": "%sT09:30:00+01:00" % tomorrow})
        tax = self.create_memory(u.token, "Send the **tax** return", type="action",
                                 metadata={"completed": False, "due": str(in3)})
        done = self.create_memory(u.token, "Pay the rent", type="action",
                                  metadata={"completed": True, "due": str(in3)})
        later = self.create_memory(u.token, "Flight to Lisbon", type="event",
                                   metadata={"start_time": "%sT08:00:00Z" % far})
        note = self.create_memory(u.token, "Bring the bike to the shop tomorrow.",
                                  created_at=now.strftime("%Y-%m-%dT%H:%M:%SZ"))
        r = self.chat(u.token, "What do I have to do this week?")
        self.assertEqual(r.status, 200, r.raw[:300])
        text = r.json["response"]
        used = r.json["memories_used"]
        for m in (dentist, tax, note):
            self.assertIn(m["id"], used)
        for m in (done, later):
            self.assertNotIn(m["id"], used)
        self.assertIn("%s (%s) 09:30: Appointment with Dr. Ruiz" % (
            tomorrow, tomorrow.strftime("%a")), text)
        self.assertIn("Send the tax return", text)  # Markdown stripped
        self.assertLess(text.index("Appointment"), text.index("tax return"))
        self.assertIn("bike", text)
        self.assertNotIn("Lisbon", text)
        self.assertNotIn("rent", text)
        # "what's tomorrow" narrows to the day
        r = self.chat(u.token, "what's tomorrow?")
        self.assertIn(dentist["id"], r.json["memories_used"])
        self.assertNotIn(tax["id"], r.json["memories_used"])

    def test_another_users_memories_are_never_used(self):
        a, b = self.new_user(), self.new_user()
        w = word()
        secret = self.create_memory(a.token, "The vault code for %s is 4711." % w)
        r = self.chat(b.token, "What is the vault code for %s?" % w)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertNotIn(secret["id"], r.json["memories_used"])
        self.assertNotIn("4711", r.json["response"])

    def test_history_lists_conversations_and_messages(self):
        u = self.new_user()
        first = self.chat(u.token, "first question %s" % word())
        self.assertEqual(first.status, 200, first.raw[:300])
        cid = first.json["conversation_id"]
        second = self.chat(u.token, "a follow-up", conversation_id=cid)
        self.assertEqual(second.status, 200, second.raw[:300])
        self.assertEqual(second.json["conversation_id"], cid)
        convs = self.history(u.token)
        self.assertEqual([c["id"] for c in convs["conversations"]], [cid])
        self.assertEqual(convs["conversations"][0]["message_count"], 4)
        self.assertTrue(convs["conversations"][0]["title"].startswith("first question"))
        msgs = self.history(u.token, cid)["messages"]
        self.assertEqual([m["role"] for m in msgs], ["user", "assistant", "user", "assistant"])
        self.assertEqual(msgs[2]["content"], "a follow-up")
        self.assertEqual(msgs[1]["content"], first.json["response"])
        # Another user sees none of it.
        other = self.new_user()
        self.assertEqual(self.history(other.token)["conversations"], [])
        r = self.api.get("/api/chat/history?conversation_id=" + cid, token=other.token)
        self.assert_error(r, 404)

    def test_unknown_or_foreign_conversation_is_404(self):
        a, b = self.new_user(), self.new_user()
        r = self.chat(a.token, "hello", conversation_id=str(uuid.uuid4()))
        self.assert_error(r, 404, field="conversation_id")
        r = self.chat(a.token, "hello", conversation_id="not-a-uuid")
        self.assert_error(r, 404)
        cid = self.chat(a.token, "mine").json["conversation_id"]
        r = self.chat(b.token, "let me in", conversation_id=cid)
        self.assert_error(r, 404)
        self.assertEqual(self.history(a.token, cid)["conversation"]["message_count"], 2)

    def test_bad_messages(self):
        u = self.new_user()
        before = self.memory_count(u.token)
        self.assert_error(self.chat(u.token, ""), 422, field="message")
        self.assert_error(self.chat(u.token, "  \n\t "), 422, field="message")
        self.assert_error(self.api.post(CHAT, {}, token=u.token), 422, field="message")
        self.assert_error(self.api.post(CHAT, {"message": 5}, token=u.token), 422,
                          field="message")
        self.assert_error(self.chat(u.token, "x" * (32 * 1024 + 1)), 413)
        self.assert_error(self.chat(u.token, "hi", stream="yes"), 422, field="stream")
        self.assert_error(self.api.post(CHAT, raw=b"{nope", token=u.token), 400)
        self.assert_error(self.api.post(CHAT, {"message": "hi"}), 401)
        self.assertEqual(self.memory_count(u.token), before)
        self.assertEqual(self.history(u.token)["conversations"], [])
        # A message of exactly 32 KiB is fine.
        r = self.chat(u.token, "y" * (32 * 1024))
        self.assertEqual(r.status, 200, r.raw[:200])

    def test_streaming_offline_answer(self):
        u = self.new_user()
        w = word()
        m = self.create_memory(u.token, "The spare key for %s is under the blue pot." % w)
        status, hdrs, events = sse(self.server.base_url, u.token,
                                   {"message": "Where is the spare key for %s?" % w})
        self.assertEqual(status, 200)
        self.assertTrue(hdrs["content-type"].startswith("text/event-stream"))
        deltas = [d["delta"] for n, d in events if isinstance(d, dict) and "delta" in d]
        final = [d for n, d in events if isinstance(d, dict) and "response" in d]
        self.assertTrue(deltas)
        self.assertEqual(len(final), 1)
        self.assertEqual("".join(deltas), final[0]["response"])
        self.assertIn(m["id"], final[0]["memories_used"])
        self.assertRegex(final[0]["conversation_id"], harness.UUID_RE)

    def test_metrics_count_chats_and_jobs(self):
        u = self.new_user()
        def metric(name, labels=""):
            r = self.api.get("/metrics")
            return sum(v for lab, v in harness.parse_metrics(r.raw.decode()).get(name, [])
                       if lab == labels)
        before = metric("personalos_chat_total")
        self.assertEqual(self.chat(u.token, "count me").status, 200)
        self.assertEqual(metric("personalos_chat_total"), before + 1)
        self.assertTrue(harness.poll(lambda: metric("personalos_jobs_total", '{result="done"}') >= 1))

    def test_persona_out_of_range_is_rejected(self):
        u = self.new_user()
        r = self.api.patch("/api/auth/me", {"ai_persona": {"humor": 11}}, token=u.token)
        self.assert_error(r, 422, field="ai_persona.humor")


class SuggestionsTest(ChatCase):
    def iso(self, days):
        t = time.time() + days * 86400
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))

    def test_tasks_follow_ups_and_events(self):
        u = self.new_user()
        task = self.create_memory(u.token, "Renew the car insurance", type="action",
                                  metadata={"completed": False})
        done = self.create_memory(u.token, "Pay the rent", type="action",
                                  metadata={"completed": True})
        soon = self.create_memory(u.token, "Team offsite", type="event",
                                  metadata={"start_time": self.iso(3)})
        later = self.create_memory(u.token, "Conference", type="event",
                                   metadata={"start_time": self.iso(10)})
        past = self.create_memory(u.token, "Old party", type="event",
                                  metadata={"start_time": self.iso(-2)})
        follow = self.create_memory(u.token, "Remind me to call Bob about the boat.")
        closed = self.create_memory(u.token, "Don't forget the tickets",
                                    metadata={"closed": True})
        r = self.api.post("/api/chat/suggestions", token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        sugg = r.json["suggestions"]
        by_id = {s["memory_ids"][0]: s for s in sugg}
        self.assertEqual(by_id[task["id"]]["kind"], "task")
        self.assertEqual(by_id[soon["id"]]["kind"], "event")
        self.assertEqual(by_id[follow["id"]]["kind"], "follow_up")
        for gone in (done, later, past, closed):
            self.assertNotIn(gone["id"], by_id)
        self.assertIn("Team offsite", by_id[soon["id"]]["text"])
        for s in sugg:
            self.assertTrue(s["text"])
        # Nothing of another user's.
        other = self.new_user()
        r = self.api.post("/api/chat/suggestions", token=other.token)
        self.assertEqual(r.json["suggestions"], [])

    def test_persona_can_turn_them_off(self):
        u = self.new_user()
        self.create_memory(u.token, "File the tax return", type="action")
        r = self.api.patch("/api/auth/me", {"ai_persona": {"provide_suggestions": False}},
                           token=u.token)
        self.assertEqual(r.status, 200, r.raw[:200])
        r = self.api.post("/api/chat/suggestions", token=u.token)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json["suggestions"], [])
        self.assertFalse(r.json["enabled"])


class OfflineMemorizeTest(ChatCase):
    """Rule-based extraction when no model is configured."""

    def test_memorize_extracts_links_and_deduplicates(self):
        u = self.new_user()
        src = self.create_memory(
            u.token, "I need to renew my passport before the trip. "
            "Remind me to call the plumber.", type="conversation")
        r = self.api.post("/api/memories/%s/memorize" % src["id"], token=u.token)
        self.assertEqual(r.status, 202, r.raw[:300])
        job = self.job_done(u.token, r.json["job_id"])
        self.assertEqual(job["status"], "done", job)
        created = job["result"]["created"]
        self.assertGreaterEqual(len(created), 2, job)
        kinds = {}
        for mid in created:
            m = self.get_memory(u.token, mid)
            self.assertEqual(m["parent_memory_id"], src["id"])
            self.assertIn(src["id"], m["related_memory_ids"])
            self.assertEqual(m["type"], "action")
            self.assertIs(m["metadata"]["completed"], False)
            kinds[m["metadata"]["kind"]] = m
        self.assertIn("passport", kinds["task"]["content"])
        self.assertIn("plumber", kinds["follow_up"]["content"])
        # Again: nothing new, the existing ones are linked instead.
        r = self.api.post("/api/memories/%s/memorize" % src["id"], token=u.token)
        job2 = self.job_done(u.token, r.json["job_id"])
        self.assertEqual(job2["status"], "done", job2)
        self.assertEqual(job2["result"]["created"], [])
        self.assertEqual(sorted(job2["result"]["linked"]), sorted(created))

    def test_memorize_someone_elses_memory_is_404(self):
        a, b = self.new_user(), self.new_user()
        m = self.create_memory(a.token, "I need to water the plants.")
        r = self.api.post("/api/memories/%s/memorize" % m["id"], token=b.token)
        self.assert_error(r, 404)
        r = self.api.post("/api/memories/not-an-id/memorize", token=a.token)
        self.assert_error(r, 404)
        r = self.api.get("/api/jobs/" + str(uuid.uuid4()), token=a.token)
        self.assert_error(r, 404)

    def test_chat_exchange_is_memorized_in_the_background(self):
        u = self.new_user()
        r = self.chat(u.token, "I need to book the flights to Lisbon.")
        self.assertEqual(r.status, 200, r.raw[:300])
        src = r.json["memory_id"]

        def extracted():
            lst = self.api.get("/api/memories?source=memorize", token=u.token).json
            return [m for m in lst["memories"] if m["parent_memory_id"] == src]
        found = harness.poll(extracted)
        self.assertTrue(found, "no memory was extracted from the exchange")
        self.assertTrue(any("Lisbon" in m["content"] for m in found))


class EncryptedChatTest(unittest.TestCase):
    """An encrypted user's conversations are sealed like their memories:
    the chat works, and after a clean stop no file of the data directory
    holds the words of the exchange (docs/ENCRYPTION.md)."""

    def test_exchange_never_reaches_the_disk_in_plaintext(self):
        harness.require_local("needs a server of its own to stop and inspect")
        data = tempfile.mkdtemp(prefix="pos-chat-enc-")
        self.addCleanup(shutil.rmtree, data, True)
        server = harness.Server(data_dir=data).start()
        try:
            api = harness.Api(server.base_url)
            reg = api.register(harness.unique_email())
            token = reg["access_token"]
            r = api.post("/api/auth/encryption", {"password": harness.DEFAULT_PASSWORD},
                         token=token)
            self.assertEqual(r.status, 200, r.raw[:300])
            secret, asked = word(), word()
            r = api.post("/api/memories", {"content": "The safe code is %s." % secret},
                         token=token)
            self.assertEqual(r.status, 201, r.raw[:300])
            r = api.post(CHAT, {"message": "What is the safe code? %s" % asked}, token=token)
            self.assertEqual(r.status, 200, r.raw[:300])
            self.assertIn(secret, r.json["response"])
            cid = r.json["conversation_id"]
            h = api.get("/api/chat/history?conversation_id=" + cid, token=token).json
            self.assertIn(asked, h["conversation"]["title"])
            self.assertIn(asked, h["messages"][0]["content"])
            self.assertIn(secret, h["messages"][1]["content"])
            api.close()
        finally:
            server.stop()
        for root, _, files in os.walk(data):
            for f in files:
                with open(os.path.join(root, f), "rb") as fh:
                    raw = fh.read()
                for w in (secret, asked):
                    self.assertNotIn(w.encode(), raw, "%s found in %s" % (w, f))


class ModelChatCase(harness.StubbedTestCase, ChatCase):
    """A server whose model is the OpenAI-compatible stand-in."""

    stub_class = harness.OpenAIStub
    secret = "sk-chat-secret"

    @classmethod
    def stub_env(cls, host, port):
        return {"PERSONALOS_LLM_URL": "http://%s:%d/v1" % (host, port),
                "PERSONALOS_LLM_MODEL": "stub-chat",
                "PERSONALOS_LLM_API_KEY": cls.secret}

    def setUp(self):
        super().setUp()
        self.stub.reset()

    def chat_request(self, message):
        """The model request of the chat message `message` (the memorize
        jobs of earlier exchanges talk to the model too)."""
        reqs = [q for q in self.stub.chat_requests()
                if (q.get("body") or {}).get("messages", [{}])[-1].get("content") == message]
        self.assertTrue(reqs, "the model got no request for %r" % message)
        return reqs[-1]

    def memorize_request(self):
        reqs = [q for q in self.stub.chat_requests()
                if (q.get("body") or {}).get("response_format")]
        self.assertTrue(reqs, "the model got no memorize request")
        return reqs[-1]


class ModelChatTest(ModelChatCase):
    def test_prompt_carries_persona_and_dated_memories_only_of_the_user(self):
        u = self.new_user(full_name="Ada Lovelace")
        other = self.new_user()
        w = word()
        r = self.api.patch("/api/auth/me", {"ai_persona": {
            "name": "Jarvis", "formality": 9, "verbosity": 1, "humor": 0,
            "proactivity": 8, "use_emojis": True, "expertise_areas": ["gardening"],
            "system_prompt_additions": "Always sign with %s-sig." % w}}, token=u.token)
        self.assertEqual(r.status, 200, r.raw[:200])
        mine = self.create_memory(u.token, "The %s roses need pruning in March." % w,
                                  created_at="2026-10-05T12:00:00Z")
        self.create_memory(other.token, "The %s roses belong to the neighbour, code 8812." % w)
        r = self.chat(u.token, "When do the %s roses need pruning?" % w)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(r.json["response"],
                         "Stub reply to: When do the %s roses need pruning?" % w)
        self.assertEqual(r.json["memories_used"], [mine["id"]])
        req = self.chat_request("When do the %s roses need pruning?" % w)
        self.assertEqual(harness.stub_header(req, "Authorization"), "Bearer " + self.secret)
        body = req["body"]
        self.assertEqual(body["model"], "stub-chat")
        system = body["messages"][0]
        self.assertEqual(system["role"], "system")
        text = system["content"]
        for needle in ("Jarvis", "Ada Lovelace", "Formality 9/10", "formally",
                       "Verbosity 1/10", "very short", "Humor 0/10", "Proactivity 8/10",
                       "emojis", "gardening", "%s-sig" % w,
                       "[1] (2026-10-05) The %s roses need pruning" % w):
            self.assertIn(needle, text)
        self.assertNotIn("8812", json.dumps(body))
        self.assertEqual(body["messages"][-1],
                         {"role": "user", "content": "When do the %s roses need pruning?" % w})

    def test_multi_turn_sends_earlier_messages(self):
        u = self.new_user()
        first = self.chat(u.token, "My favourite colour is teal.")
        cid = first.json["conversation_id"]
        r = self.chat(u.token, "What did I just tell you?", conversation_id=cid)
        self.assertEqual(r.status, 200, r.raw[:300])
        msgs = self.chat_request("What did I just tell you?")["body"]["messages"]
        self.assertEqual([m["role"] for m in msgs], ["system", "user", "assistant", "user"])
        self.assertEqual(msgs[1]["content"], "My favourite colour is teal.")
        self.assertEqual(msgs[2]["content"], first.json["response"])

    def test_streaming_relays_model_chunks(self):
        u = self.new_user()
        status, hdrs, events = sse(self.server.base_url, u.token,
                                   {"message": "stream me a reply please", "stream": True},
                                   accept=False)
        self.assertEqual(status, 200)
        deltas = [d["delta"] for n, d in events if isinstance(d, dict) and "delta" in d]
        final = [d for n, d in events if isinstance(d, dict) and "response" in d]
        self.assertGreater(len(deltas), 2)  # the stub streams word by word
        self.assertEqual("".join(deltas), "Stub reply to: stream me a reply please")
        self.assertEqual(final[0]["response"], "".join(deltas))
        self.assertTrue(self.chat_request("stream me a reply please")["body"]["stream"])
        msgs = self.history(u.token, final[0]["conversation_id"])["messages"]
        self.assertEqual(msgs[1]["content"], final[0]["response"])

    def assert_nothing_saved(self, u, before):
        self.assertEqual(self.memory_count(u.token), before)
        self.assertEqual(self.history(u.token)["conversations"], [])

    def test_provider_down_is_503_and_saves_nothing(self):
        u = self.new_user()
        before = self.memory_count(u.token)
        self.stub.mode("down")
        self.assert_error(self.chat(u.token, "anyone there?"), 503, code="unavailable")
        status, hdrs, body = sse(self.server.base_url, u.token, {"message": "and now?"})
        self.assertEqual(status, 503)
        self.assertEqual(body["error"]["code"], "unavailable")
        self.assert_nothing_saved(u, before)

    def test_provider_garbage_is_502(self):
        u = self.new_user()
        before = self.memory_count(u.token)
        self.stub.mode("garbage")
        r = self.chat(u.token, "say something")
        self.assert_error(r, 502, code="bad_gateway")
        self.stub.mode("unauthorized")
        r = self.chat(u.token, "say something")
        self.assert_error(r, 502)
        self.assertIn("API key", r.json["error"]["message"])
        self.assertNotIn(self.secret, r.raw.decode())
        self.assert_nothing_saved(u, before)

    def test_stream_cut_midway_ends_with_error_event(self):
        u = self.new_user()
        before = self.memory_count(u.token)
        self.stub.mode("cut")
        status, hdrs, events = sse(self.server.base_url, u.token,
                                   {"message": "a long answer that will break off now"})
        self.assertEqual(status, 200)
        self.assertTrue(any(isinstance(d, dict) and "delta" in d for n, d in events))
        self.assertEqual(events[-1][0], "error")
        self.assertEqual(events[-1][1]["error"]["code"], "bad_gateway")
        self.assertFalse(any(isinstance(d, dict) and "response" in d for n, d in events))
        self.assert_nothing_saved(u, before)

    def test_memorize_with_the_model(self):
        u = self.new_user()
        src = self.create_memory(u.token, "We agreed I buy the train tickets by Friday.",
                                 type="conversation")
        self.stub.reply(json.dumps({
            "facts": [{"text": "The user travels by train."}],
            "tasks": [{"text": "Buy the train tickets", "due": "2026-12-04"}],
            "events": [{"text": "Trip to Porto", "start": "2026-12-10T09:00:00Z",
                        "with": "Rui"}],
        }))
        r = self.api.post("/api/memories/%s/memorize" % src["id"], token=u.token)
        job = self.job_done(u.token, r.json["job_id"])
        self.assertEqual(job["status"], "done", job)
        self.assertEqual(job["result"]["extractor"], "model")
        made = {self.get_memory(u.token, i)["type"]: self.get_memory(u.token, i)
                for i in job["result"]["created"]}
        self.assertEqual(set(made), {"note", "action", "event"})
        self.assertEqual(made["event"]["metadata"]["start_time"], "2026-12-10T09:00:00Z")
        self.assertEqual(made["event"]["metadata"]["with"], "Rui")
        self.assertEqual(made["action"]["parent_memory_id"], src["id"])
        req = self.memorize_request()["body"]
        self.assertEqual(req["response_format"], {"type": "json_object"})
        self.assertIn("train tickets by Friday", req["messages"][-1]["content"])

    def test_memorize_invalid_model_json_fails_visibly_and_retries(self):
        u = self.new_user()
        src = self.create_memory(u.token, "I should repaint the fence.", type="conversation")
        before = self.memory_count(u.token)
        self.stub.reply("Sure! Here are the facts: none, really.")
        r = self.api.post("/api/memories/%s/memorize" % src["id"], token=u.token)
        jid = r.json["job_id"]

        def failed_once():
            j = self.api.get("/api/jobs/" + jid, token=u.token).json
            return j if j["attempts"] >= 1 and j["last_error"] else None
        job = harness.poll(failed_once)
        self.assertIsNotNone(job, "the job never reported its failure")
        self.assertEqual(job["status"], "queued")  # will retry
        self.assertEqual(self.memory_count(u.token), before)  # nothing partial
        self.stub.reply(json.dumps({"tasks": [{"text": "Repaint the fence"}]}))
        job = self.job_done(u.token, jid)
        self.assertEqual(job["status"], "done", job)
        self.assertGreaterEqual(job["attempts"], 2)
        self.assertEqual(len(job["result"]["created"]), 1)


class PrivacyTierTest(ChatCase):
    """A model that is not on this machine: `local` users are refused."""

    server_env = {
        # TEST-NET-1: never routed; the call is refused before connecting,
        # or fails fast once allowed.
        "PERSONALOS_LLM_URL": "http://192.0.2.1:9/v1",
        "PERSONALOS_LLM_MODEL": "remote-model",
        "PERSONALOS_LLM_CONNECT_TIMEOUT": "1",
    }

    def test_local_tier_refuses_remote_model(self):
        u = self.new_user()
        me = self.me(u.token)
        self.assertEqual(me["privacy_tier"], "local")
        self.assertFalse(me["privacy"]["leaves_machine"]["chat_to_remote_model"])
        r = self.chat(u.token, "hello")
        self.assert_error(r, 403, code="privacy_tier")
        self.assertIn("local", r.json["error"]["message"])
        r = self.api.patch("/api/auth/me", {"privacy_tier": "hybrid"}, token=u.token)
        self.assertEqual(r.status, 200, r.raw[:200])
        self.assertTrue(self.me(u.token)["privacy"]["leaves_machine"]["chat_to_remote_model"])
        r = self.chat(u.token, "hello")
        self.assert_error(r, 503)  # allowed now; the host is unreachable


if __name__ == "__main__":
    unittest.main()
