"""Search that can say "nothing found", search as you type, friendly
filters, and conversations kept out of the notes (issue 22, server side).

- a relevance cutoff: a memory found by meaning alone is a hit only when
  similar enough (docs/SEARCH.md, "Relevance cutoff"), so a nonsense word
  finds nothing;
- `prefix=1` (search as you type): the word being typed matches as a
  prefix, and half-typed filters are ignored and listed in
  `ignored_filters` instead of answering 422 (docs/SEARCH-QUERY.md);
- tag filters ignore case, `source` takes friendly aliases;
- the assistant's saved exchanges (type conversation, source chat) are
  hidden from lists, search and stats unless asked for
  (docs/ASSISTANT.md, "Conversations");
- `sort=captured` lists by when a memory was stored, so a synced event
  dated next month does not top the timeline.
"""

import os
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SEARCH = "/api/memories/search"


def ids(body):
    return [m["id"] for m in body["memories"]]


class RelevanceTest(harness.ApiTestCase):

    def search(self, token, q, **params):
        params["query"] = q
        r = self.api.get(SEARCH + "?" + urllib.parse.urlencode(params), token=token)
        self.assertEqual(r.status, 200, r.raw[:300])
        return r.json

    def corpus(self, token):
        texts = {
            "dentist": "Call the dentist about the crown",
            "milk": "Buy milk and eggs on the way home",
            "budget": "Meeting with Anna about the quarterly budget",
            "tax": "Tax return deadline is April 30",
            "garden": "Remember to water the garden plants",
            "dent": "The car has a small dent in the door",
            "restaurant": "We had dinner at an Italian restaurant downtown",
        }
        return {k: self.create_memory(token, v)["id"] for k, v in texts.items()}

    def test_nonsense_word_finds_nothing(self):
        u = self.new_user()
        self.corpus(u.token)
        for q in ("xqzvbt", "flurbogrind", "zzkrpq wvvxt"):
            for mode in ("hybrid", "semantic", "keyword"):
                with self.subTest(query=q, mode=mode):
                    body = self.search(u.token, q, mode=mode)
                    self.assertEqual(body["memories"], [])
                    self.assertEqual(body["total"], 0)
                    self.assertFalse(body["has_more"])

    def test_meaning_alone_needs_similarity(self):
        u = self.new_user()
        c = self.corpus(u.token)
        # Every memory has some cosine to "restaurant"; only the one that
        # holds the word, or is close in meaning, comes back.
        body = self.search(u.token, "restaurant", mode="semantic", explain=1)
        self.assertEqual(ids(body)[0], c["restaurant"])
        self.assertLess(body["total"], len(c))
        best = body["memories"][0]["explain"]["semantic"]["cosine"]
        for m in body["memories"]:
            cos = m["explain"]["semantic"]["cosine"]
            self.assertGreaterEqual(cos, 0.1)
            self.assertGreaterEqual(cos, 0.5 * best - 1e-9)
        # (typos still find their word by meaning: test_search.py)

    def test_prefix_matches_the_word_being_typed(self):
        u = self.new_user()
        c = self.corpus(u.token)
        body = self.search(u.token, "dent", prefix=1)
        got = ids(body)
        self.assertEqual(set(got), {c["dentist"], c["dent"]})
        # "call dent": the finished word and the prefix together rank the
        # dentist first.
        self.assertEqual(self.search(u.token, "call dent", prefix=1)["memories"][0]["id"],
                         c["dentist"])
        self.assertEqual(self.search(u.token, "the dentis", prefix="true")["memories"][0]["id"],
                         c["dentist"])
        # Without the flag "dentis" is a word no memory holds.
        self.assertNotIn(c["dentist"], ids(self.search(u.token, "dentis", mode="keyword")))
        # A trailing space ends the word: no prefix any more.
        self.assertNotIn(c["dentist"],
                         ids(self.search(u.token, "dentis ", prefix=1, mode="keyword")))
        self.assertIn(c["dentist"], ids(self.search(u.token, "dentis", prefix=1,
                                                        mode="keyword")))
        # A prefix of one letter is too short to widen.
        self.assertEqual(self.search(u.token, "d", prefix=1, mode="keyword")["memories"], [])

    def test_half_typed_filters_are_ignored_while_typing(self):
        u = self.new_user()
        c = self.corpus(u.token)
        for q, ignored in (("milk after:2026-1", ["after:2026-1"]),
                           ("milk type:to", ["type:to"]),
                           ("milk layer:arch", ["layer:arch"]),
                           ("milk before:2", ["before:2"]),
                           ("milk -tag:x", ["-tag:x"])):
            with self.subTest(query=q):
                body = self.search(u.token, q, prefix=1)
                self.assertEqual(body["ignored_filters"], ignored)
                self.assertEqual(ids(body)[0], c["milk"])
                # Without the flag the same query is refused.
                r = self.api.get(SEARCH + "?" + urllib.parse.urlencode({"query": q}),
                                 token=u.token)
                self.assert_error(r, 422, "invalid_field")
        # A complete filter still filters while typing.
        body = self.search(u.token, "milk type:event", prefix=1)
        self.assertEqual(body["memories"], [])
        self.assertEqual(body["ignored_filters"], [])
        # Filters alone, half typed: the list, unfiltered.
        body = self.search(u.token, "type:ev", prefix=1)
        self.assertEqual(body["total"], len(c))
        r = self.api.get(SEARCH + "?query=milk&prefix=maybe", token=u.token)
        self.assert_error(r, 422, "invalid_field", field="prefix")

    def test_tag_filter_ignores_case(self):
        u = self.new_user()
        work = self.create_memory(u.token, "Quarterly report draft", tags=["work"])["id"]
        self.create_memory(u.token, "Holiday plans", tags=["home"])
        for q in ("tag=Work", "tag=WORK", "tag=work"):
            with self.subTest(q=q):
                body = self.api.get("/api/memories?" + q, token=u.token).json
                self.assertEqual(ids(body), [work])
        self.assertEqual(ids(self.search(u.token, "report tag:Work")), [work])

    def test_source_aliases(self):
        u = self.new_user()
        made = {}
        for src in ("ics_file", "caldav", "imap", "maildir", "markdown_dir", "api"):
            made[src] = self.create_memory(u.token, "from %s" % src, source=src)["id"]
        for alias, members in (("calendar", ["ics_file", "caldav"]),
                               ("Calendar", ["ics_file", "caldav"]),
                               ("email", ["imap", "maildir"]),
                               ("mail", ["imap", "maildir"]),
                               ("notes", ["markdown_dir"]),
                               ("imap", ["imap"]),
                               ("api", ["api"])):
            with self.subTest(alias=alias):
                body = self.api.get("/api/memories?source=" + alias, token=u.token).json
                self.assertEqual(sorted(ids(body)), sorted(made[m] for m in members))
                body = self.search(u.token, "from source:%s" % alias, mode="keyword")
                self.assertEqual(sorted(ids(body)), sorted(made[m] for m in members))


class FilterValuesTest(harness.ApiTestCase):
    """GET /api/memories/filters: what the filters accept, for autocomplete."""

    def test_filter_values_of_the_caller(self):
        u, other = self.new_user(), self.new_user()
        self.create_memory(u.token, "a", tags=["work", "home"], source="ics_file")
        self.create_memory(u.token, "b", tags=["work"])
        self.create_memory(other.token, "c", tags=["secret-tag"], source="vault")
        self.api.post("/api/chat/message", {"message": "hello there"}, token=u.token)
        r = self.api.get("/api/memories/filters", token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        body = r.json
        self.assertEqual(body["keys"], ["type", "layer", "tag", "source", "after", "before"])
        self.assertIn("action", body["types"])
        self.assertIn("archive", body["layers"])
        self.assertEqual(body["sources"], {"ics_file": 1, "api": 1})  # no chat, no vault
        self.assertIn("ics_file", body["source_aliases"]["calendar"])
        self.assertIn("markdown_dir", body["source_aliases"]["notes"])
        self.assertEqual(body["tags"], [{"tag": "work", "count": 2}, {"tag": "home", "count": 1}])
        self.assert_error(self.api.get("/api/memories/filters"), 401)


class ConversationsTest(harness.ApiTestCase):
    """The offline responder is on (no model configured)."""

    def test_chat_exchanges_stay_out_of_notes(self):
        u = self.new_user()
        note = self.create_memory(u.token, "The plumber comes on Thursday")["id"]
        r = self.api.post("/api/chat/message", {"message": "When does the plumber come?"},
                          token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        conv = r.json["memory_id"]
        saved = self.get_memory(u.token, conv)
        self.assertEqual((saved["type"], saved["source"]), ("conversation", "chat"))
        # The offline responder's text is not kept in the memory.
        self.assertNotIn("language model", saved["content"])
        self.assertNotIn("Assistant:", saved["content"])
        self.assertIn("When does the plumber come?", saved["content"])
        # Hidden by default: list, search (every mode), stats.
        body = self.api.get("/api/memories", token=u.token).json
        self.assertEqual(ids(body), [note])
        self.assertEqual(body["total"], 1)
        for mode in ("hybrid", "keyword", "semantic"):
            with self.subTest(mode=mode):
                r = self.api.get(SEARCH + "?query=plumber&mode=" + mode, token=u.token)
                self.assertEqual(ids(r.json), [note])
        stats = self.api.get("/api/memories/stats", token=u.token).json
        self.assertEqual(stats["total"], 1)
        self.assertEqual(stats["by_type"]["conversation"], 0)
        self.assertNotIn("chat", stats["by_source"])
        # Shown when asked for.
        body = self.api.get("/api/memories?include=conversations", token=u.token).json
        self.assertEqual(set(ids(body)), {note, conv})
        body = self.api.get("/api/memories?type=conversation", token=u.token).json
        self.assertEqual(ids(body), [conv])
        r = self.api.get(SEARCH + "?query=plumber&include=conversations", token=u.token)
        self.assertEqual(set(ids(r.json)), {note, conv})
        r = self.api.get(SEARCH + "?query=plumber%20type:conversation", token=u.token)
        self.assertEqual(ids(r.json), [conv])
        stats = self.api.get("/api/memories/stats?include=conversations", token=u.token).json
        self.assertEqual(stats["total"], 2)
        self.assertEqual(stats["by_type"]["conversation"], 1)
        for path in ("/api/memories?include=all", "/api/memories/stats?include=x",
                     SEARCH + "?query=a&include=everything"):
            with self.subTest(path=path):
                self.assert_error(self.api.get(path, token=u.token), 422, "invalid_field",
                                  field="include")

    def test_other_conversations_stay_listed(self):
        # Only the assistant's own exchanges are hidden: an imported
        # conversation (another source) is a memory like any other.
        u = self.new_user()
        imported = self.create_memory(u.token, "Anna: see you at the lake",
                                      type="conversation", source="locomo")["id"]
        self.assertEqual(ids(self.api.get("/api/memories", token=u.token).json), [imported])
        r = self.api.get(SEARCH + "?query=lake", token=u.token)
        self.assertEqual(ids(r.json), [imported])

    def test_assistant_still_reads_past_conversations(self):
        u = self.new_user()
        r = self.api.post("/api/chat/message",
                          {"message": "Remember that my locker code is 4471 quixotic"},
                          token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        first = r.json["memory_id"]
        r = self.api.post("/api/chat/message", {"message": "What is my quixotic locker code?"},
                          token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertIn(first, r.json["memories_used"])
        self.assertIn("4471", r.json["response"])


class CapturedSortTest(harness.ApiTestCase):

    def test_future_event_does_not_top_the_timeline(self):
        u = self.new_user()
        event = self.create_memory(u.token, "Conference in Porto", type="event",
                                   created_at="2099-05-01T09:00:00Z")["id"]
        note = self.create_memory(u.token, "Just written")["id"]
        self.assertEqual(ids(self.api.get("/api/memories", token=u.token).json)[0], event)
        body = self.api.get("/api/memories?sort=captured", token=u.token).json
        self.assertEqual(ids(body), [note, event])
        r = self.api.get("/api/memories?sort=sideways", token=u.token)
        self.assert_error(r, 422, "invalid_field", field="sort")


if __name__ == "__main__":
    unittest.main()
