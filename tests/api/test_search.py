"""Search: GET /api/memories/search — keyword, semantic and hybrid modes, the
query language (filters, "phrases", -exclusions), thread context, the
per-user result cache, paging, isolation between users and bad input.

The contract is design/API.md ("Memories", search row) with the details of
docs/SEARCH-QUERY.md and docs/API-DECISIONS.md. Every test asserts which
memories come back, and in which order where the ranking makes that
deterministic, so that it fails if the feature it names goes missing.
"""

import os
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

MODES = ("keyword", "hybrid", "semantic")
SEARCH = "/api/memories/search"


def ids(body):
    return [m["id"] for m in body["memories"]]


def contents(body):
    return [m["content"] for m in body["memories"]]


def search_path(query=None, **params):
    """The search URL; query=None leaves the parameter out. Values may be
    str, int or a list (repeated parameter)."""
    pairs = []
    if query is not None:
        pairs.append(("query", query))
    for k, v in params.items():
        if v is None:
            continue
        for item in (v if isinstance(v, (list, tuple)) else [v]):
            pairs.append((k, str(item)))
    return SEARCH + ("?" + urllib.parse.urlencode(pairs) if pairs else "")


class SearchCase(harness.ApiTestCase):
    """Helpers shared by the search tests (no tests of its own, so no server)."""

    def search_raw(self, token, query=None, **params):
        return self.api.get(search_path(query, **params), token=token)

    def search(self, token, query, **params):
        """A search that must answer 200; returns the body, shape checked."""
        r = self.search_raw(token, query, **params)
        self.assertEqual(r.status, 200, "search %r %r: %d %r"
                         % (query, params, r.status, r.raw[:500]))
        self.assert_search_shape(r.json, params.get("mode") or "hybrid",
                                 explain=params.get("explain") in (1, "1", "true"))
        return r.json

    def search_ids(self, token, query, **params):
        return ids(self.search(token, query, **params))

    def assert_search_shape(self, body, mode, explain=False):
        self.assert_list_shape(body)
        self.assertEqual(body["mode"], mode, body)
        self.assertIsInstance(body.get("took_ms"), (int, float), body)
        self.assertNotIsInstance(body["took_ms"], bool)
        self.assertGreaterEqual(body["took_ms"], 0)
        self.assertLessEqual(len(body["memories"]), body["limit"])
        self.assertEqual(body["has_more"],
                         body["offset"] + len(body["memories"]) < body["total"], body)
        seen = set()
        previous = None
        for m in body["memories"]:
            self.assert_memory_shape(m)
            self.assertNotIn(m["id"], seen, "memory listed twice")
            seen.add(m["id"])
            self.assertIsInstance(m.get("score"), (int, float), m)
            self.assertNotIsInstance(m["score"], bool)
            if previous is not None:
                self.assertGreaterEqual(previous + 1e-12, m["score"],
                                        "scores not in descending order: %r"
                                        % [x["score"] for x in body["memories"]])
            previous = m["score"]
            if explain:
                self.assert_explain_shape(m)
            else:
                self.assertNotIn("explain", m)

    def assert_explain_shape(self, m):
        ex = m.get("explain")
        self.assertIsInstance(ex, dict, m)
        for key in ("keyword", "semantic", "rrf", "boosts"):
            self.assertIn(key, ex, ex)
        if ex["keyword"] is not None:
            self.assertIsInstance(ex["keyword"].get("rank"), int, ex)
            self.assertGreaterEqual(ex["keyword"]["rank"], 1)
            self.assertIsInstance(ex["keyword"].get("bm25"), (int, float), ex)
        if ex["semantic"] is not None:
            self.assertIsInstance(ex["semantic"].get("rank"), int, ex)
            self.assertGreaterEqual(ex["semantic"]["rank"], 1)
            self.assertIsInstance(ex["semantic"].get("cosine"), (int, float), ex)
            self.assertGreaterEqual(ex["semantic"]["cosine"], -1.0001)
            self.assertLessEqual(ex["semantic"]["cosine"], 1.0001)
        self.assertIsInstance(ex["rrf"], (int, float), ex)
        self.assertIsInstance(ex["boosts"], dict, ex)
        for key in ("recency", "importance", "layer", "access"):
            self.assertIsInstance(ex["boosts"].get(key), (int, float), ex)

    def bulk(self, token, items):
        """Bulk-create; items are strings or memory bodies. Returns the ids."""
        body = [{"content": i} if isinstance(i, str) else i for i in items]
        r = self.api.post("/api/memories/bulk", {"memories": body}, token=token)
        self.assertEqual(r.status, 201, r.raw[:500])
        self.assertEqual(r.json["created"], len(body))
        return r.json["ids"]

    def assert_health(self):
        r = self.api.get("/health")
        self.assertEqual(r.status, 200, "the server stopped answering: %r" % (r.raw[:300],))


# ---------------------------------------------------------------------------
# Keyword search


class KeywordSearchTest(SearchCase):
    # the words' own matching, without WordNet's stand-ins for words in no
    # memory ("say" -> "said"; test_search_expand.py covers those)
    server_env = {"PERSONALOS_SEARCH_EXPAND_WEIGHT": "0"}

    def corpus(self, token):
        return {
            "dentist": self.create_memory(token, "Dentist appointment on Friday at 3pm")["id"],
            "plumber": self.create_memory(token, "Call the plumber about the kitchen leak")["id"],
            "dentist2": self.create_memory(token, "The dentist said to floss more often")["id"],
            "meetings": self.create_memory(token, "The weekly team meetings moved to Tuesday")["id"],
            "cafe": self.create_memory(token, "Coffee at the caf\u00e9 on Main Street")["id"],
            "tagged": self.create_memory(token, "Quarterly numbers look fine",
                                         tags=["finance", "q3"])["id"],
            "salt": self.create_memory(token, "Pass the salt and pepper")["id"],
        }

    def test_exact_word_finds_only_its_memory(self):
        u = self.new_user()
        c = self.corpus(u.token)
        body = self.search(u.token, "plumber", mode="keyword")
        self.assertEqual(ids(body), [c["plumber"]])
        self.assertEqual(body["total"], 1)
        self.assertFalse(body["has_more"])
        # Case does not matter.
        self.assertEqual(self.search_ids(u.token, "PLUMBER", mode="keyword"), [c["plumber"]])

    def test_more_matching_words_rank_higher(self):
        u = self.new_user()
        c = self.corpus(u.token)
        got = self.search_ids(u.token, "dentist appointment", mode="keyword")
        self.assertEqual(got, [c["dentist"], c["dentist2"]])

    def test_keyword_mode_leaves_out_unrelated_memories(self):
        u = self.new_user()
        self.corpus(u.token)
        body = self.search(u.token, "zeppelin", mode="keyword")
        self.assertEqual(body["memories"], [])
        self.assertEqual(body["total"], 0)
        self.assertFalse(body["has_more"])

    def test_porter_stemming(self):
        u = self.new_user()
        c = self.corpus(u.token)
        self.assertEqual(self.search_ids(u.token, "meeting", mode="keyword"), [c["meetings"]])
        other = self.create_memory(u.token, "Meeting notes for the launch")["id"]
        got = self.search_ids(u.token, "meetings", mode="keyword")
        self.assertEqual(sorted(got), sorted([c["meetings"], other]))

    def test_accents_are_ignored(self):
        u = self.new_user()
        c = self.corpus(u.token)
        self.assertEqual(self.search_ids(u.token, "cafe", mode="keyword"), [c["cafe"]])
        self.assertEqual(self.search_ids(u.token, "CAF\u00c9", mode="keyword"), [c["cafe"]])

    def test_tags_are_indexed(self):
        u = self.new_user()
        c = self.corpus(u.token)
        self.assertEqual(self.search_ids(u.token, "finance", mode="keyword"), [c["tagged"]])
        self.assertEqual(self.search_ids(u.token, "q3", mode="keyword"), [c["tagged"]])
        self.assertEqual(self.search_ids(u.token, "finance")[0], c["tagged"])

    def test_stop_words_are_dropped(self):
        u = self.new_user()
        c = self.corpus(u.token)
        # "the", "what", "did", "about" appear in other memories; only
        # "plumber" is searched.
        got = self.search_ids(u.token, "what did the plumber say about it", mode="keyword")
        self.assertEqual(got, [c["plumber"]])

    def test_fts_operators_are_text(self):
        u = self.new_user()
        c = self.corpus(u.token)
        # AND is a stop word, but a query of stop words only is kept: it is
        # searched as the word "and", not as an FTS5 operator.
        self.assertEqual(self.search_ids(u.token, "AND", mode="keyword"), [c["salt"]])
        # An unbalanced quote is ignored: words, not a phrase.
        other = self.create_memory(u.token, "the phrase was left unfinished")["id"]
        got = self.search_ids(u.token, '"unfinished phrase', mode="keyword")
        self.assertEqual(got, [other])

    def test_q_is_an_alias_of_query(self):
        u = self.new_user()
        c = self.corpus(u.token)
        r = self.api.get(SEARCH + "?q=plumber&mode=keyword", token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(ids(r.json), [c["plumber"]])

    def test_answer_shape_and_default_mode(self):
        u = self.new_user()
        c = self.corpus(u.token)
        body = self.search(u.token, "plumber")
        self.assertEqual(body["mode"], "hybrid")
        self.assertEqual(body["limit"], 20)
        self.assertEqual(body["offset"], 0)
        self.assertEqual(body["memories"][0]["id"], c["plumber"])
        self.assertEqual(body["memories"][0]["content"], "Call the plumber about the kitchen leak")
        self.assertEqual(body["memories"][0]["user_id"], u.id)
        for flag in ("1", "true"):
            body = self.search(u.token, "plumber", mode="keyword", explain=flag)
            self.assertIn("explain", body["memories"][0])

    def test_needs_auth(self):
        self.assert_error(self.api.get(search_path("x")), 401, "unauthorized")
        self.assert_error(self.api.get(search_path("x"), token="pos_at.bogus.bogus"),
                          401, "unauthorized")


# ---------------------------------------------------------------------------
# Semantic and hybrid search


class SemanticSearchTest(SearchCase):
    # keyword mode without WordNet ("dentistry" -> "dentist" is a derived
    # form): what the semantic side adds (test_search_expand.py)
    server_env = {"PERSONALOS_SEARCH_EXPAND_WEIGHT": "0"}

    def corpus(self, token):
        return {
            "restaurant": self.create_memory(
                token, "We had dinner at an Italian restaurant downtown")["id"],
            "running": self.create_memory(
                token, "I went running along the river this morning")["id"],
            "groceries": self.create_memory(token, "Buy groceries: milk, eggs, bread")["id"],
            "meetings": self.create_memory(
                token, "The weekly team meetings moved to Tuesday")["id"],
            "vacation": self.create_memory(token, "Vacation photographs from Lisbon")["id"],
            "dentist": self.create_memory(token, "The dentist appointment is on Friday")["id"],
        }

    def test_typo_finds_by_meaning(self):
        u = self.new_user()
        c = self.corpus(u.token)
        for typo, want in (("restuarant", "restaurant"), ("meetngs", "meetings"),
                           ("vaccation", "vacation"), ("dentst", "dentist")):
            # Keyword search cannot find a misspelling ...
            self.assertEqual(self.search_ids(u.token, typo, mode="keyword"), [], typo)
            # ... semantic and hybrid search can.
            for mode in ("semantic", "hybrid"):
                with self.subTest(query=typo, mode=mode):
                    got = self.search_ids(u.token, typo, mode=mode)
                    self.assertTrue(got, "nothing found")
                    self.assertEqual(got[0], c[want])

    def test_morphology_beyond_porter(self):
        u = self.new_user()
        c = self.corpus(u.token)
        # Porter does not map these to the stored words ...
        cases = (("photos", "vacation"), ("Lisboa", "vacation"), ("dentistry", "dentist"))
        for word, want in cases:
            self.assertEqual(self.search_ids(u.token, word, mode="keyword"), [], word)
        # ... the semantic side does (and agrees with porter where it maps).
        for word, want in cases + (("runs", "running"), ("Running", "running")):
            for mode in ("semantic", "hybrid"):
                with self.subTest(word=word, mode=mode):
                    got = self.search_ids(u.token, word, mode=mode)
                    self.assertTrue(got, "nothing found")
                    self.assertEqual(got[0], c[want])

    def test_semantic_explain(self):
        u = self.new_user()
        c = self.corpus(u.token)
        body = self.search(u.token, "restuarant", mode="semantic", explain=1)
        self.assertEqual(body["memories"][0]["id"], c["restaurant"])
        cosines = []
        for pos, m in enumerate(body["memories"]):
            ex = m["explain"]
            self.assertIsNone(ex["keyword"], "keyword part in semantic mode: %r" % ex)
            self.assertIsNotNone(ex["semantic"], ex)
            # Equal boosts: the order is the semantic rank order.
            self.assertEqual(ex["semantic"]["rank"], pos + 1, ex)
            cosines.append(ex["semantic"]["cosine"])
        self.assertEqual(cosines, sorted(cosines, reverse=True))
        self.assertGreater(cosines[0], 0)

    def test_keyword_explain(self):
        u = self.new_user()
        c = self.corpus(u.token)
        body = self.search(u.token, "restaurant", mode="keyword", explain=1)
        self.assertEqual(ids(body), [c["restaurant"]])
        ex = body["memories"][0]["explain"]
        self.assertEqual(ex["keyword"]["rank"], 1)
        self.assertIsNone(ex["semantic"])

    def test_hybrid_keyword_hits_first_then_meaning(self):
        u = self.new_user()
        c = self.corpus(u.token)
        body = self.search(u.token, "restaurant", explain=1)
        self.assertEqual(body["mode"], "hybrid")
        self.assertEqual(body["memories"][0]["id"], c["restaurant"])
        first = body["memories"][0]["explain"]
        self.assertEqual(first["keyword"]["rank"], 1)
        self.assertEqual(first["semantic"]["rank"], 1)
        # The others are found by meaning only and rank below.
        for m in body["memories"][1:]:
            self.assertIsNone(m["explain"]["keyword"], m["explain"])
            self.assertIsNotNone(m["explain"]["semantic"], m["explain"])
            self.assertLess(m["score"], body["memories"][0]["score"])

    def test_hybrid_score_is_rrf_with_boosts(self):
        u = self.new_user()
        self.corpus(u.token)
        # two keyword hits: a lone word would leave only the memories found
        # by meaning that pass the relevance cutoff
        body = self.search(u.token, "team meetings restaurant", explain=1)
        self.assertGreaterEqual(len(body["memories"]), 2)
        for m in body["memories"]:
            ex = m["explain"]
            self.assertGreater(ex["rrf"], 0)
            self.assertLessEqual(ex["rrf"], 1.0 + 1e-9)
            boost = sum(ex["boosts"][k] for k in ("recency", "importance", "layer", "access"))
            self.assertAlmostEqual(m["score"], ex["rrf"] * (1 + boost), places=6)

    def test_importance_and_layer_boosts_order_equal_matches(self):
        u = self.new_user()
        text = "Renew the passport before the trip"
        low = self.create_memory(u.token, text, importance_score=0.1)["id"]
        high = self.create_memory(u.token, text, importance_score=0.9)["id"]
        for mode in MODES:
            with self.subTest(mode=mode):
                body = self.search(u.token, "passport", mode=mode, explain=1)
                self.assertEqual(ids(body), [high, low])
                b = [m["explain"]["boosts"] for m in body["memories"]]
                self.assertGreater(b[0]["importance"], 0)
                self.assertLess(b[1]["importance"], 0)
        v = self.new_user()
        text = "Water the orchids on the balcony"
        archived = self.create_memory(v.token, text, layer="archive")["id"]
        active = self.create_memory(v.token, text)["id"]
        for mode in MODES:
            with self.subTest(mode=mode, layer=True):
                body = self.search(v.token, "orchids", mode=mode, explain=1)
                self.assertEqual(ids(body), [active, archived])
                b = [m["explain"]["boosts"] for m in body["memories"]]
                self.assertEqual(b[0]["layer"], 0)
                self.assertLess(b[1]["layer"], 0)

    def test_empty_account_finds_nothing(self):
        u = self.new_user()
        for mode in MODES:
            with self.subTest(mode=mode):
                body = self.search(u.token, "anything at all", mode=mode)
                self.assertEqual(body["memories"], [])
                self.assertEqual(body["total"], 0)


# ---------------------------------------------------------------------------
# Filters


class FilterTest(SearchCase):

    def corpus(self, token):
        """Four memories that all say "budget", with different attributes."""
        return {
            "note": self.create_memory(
                token, "budget review for the garden project", type="note", layer="active",
                source="api", tags=["work"], created_at="2026-01-10T12:00:00Z")["id"],
            "event": self.create_memory(
                token, "budget dinner with friends", type="event", layer="working",
                source="calendar", tags=["home"], created_at="2026-02-15T12:00:00Z")["id"],
            "email": self.create_memory(
                token, "budget email from the bank", type="email", layer="reference",
                source="imap:inbox", tags=["work", "finance"],
                created_at="2026-03-20T10:00:00Z")["id"],
            "file": self.create_memory(
                token, "budget spreadsheet of old receipts", type="file", layer="archive",
                source="import", tags=["finance", "home office"],
                created_at="2025-12-01T00:00:00Z")["id"],
        }

    def assert_filter(self, token, c, expected, text="", params=None):
        """Searching "budget" with this filter finds exactly `expected`, in
        every mode."""
        want = sorted(c[k] for k in expected)
        for mode in MODES:
            with self.subTest(text=text, params=params, mode=mode):
                got = self.search_ids(token, ("budget " + text).strip(), mode=mode,
                                      **(params or {}))
                self.assertEqual(sorted(got), want)

    def test_no_filter_finds_all(self):
        u = self.new_user()
        c = self.corpus(u.token)
        self.assert_filter(u.token, c, ["note", "event", "email", "file"])

    def test_type(self):
        u = self.new_user()
        c = self.corpus(u.token)
        self.assert_filter(u.token, c, ["note"], params={"type": "note"})
        self.assert_filter(u.token, c, ["note"], text="type:note")
        self.assert_filter(u.token, c, ["event"], text="TYPE:Event")
        self.assert_filter(u.token, c, ["email"], text="type:email", params={"type": "email"})

    def test_layer(self):
        u = self.new_user()
        c = self.corpus(u.token)
        self.assert_filter(u.token, c, ["event"], params={"layer": "working"})
        self.assert_filter(u.token, c, ["event"], text="layer:working")
        self.assert_filter(u.token, c, ["file"], text="layer:ARCHIVE")

    def test_tag(self):
        u = self.new_user()
        c = self.corpus(u.token)
        self.assert_filter(u.token, c, ["note", "email"], params={"tag": "work"})
        self.assert_filter(u.token, c, ["note", "email"], text="tag:work")
        self.assert_filter(u.token, c, ["file"], text='tag:"home office"')
        # Tags are exact but ignore case ("Work" finds "work", issue 22).
        self.assert_filter(u.token, c, ["note", "email"], text="tag:Work")
        self.assert_filter(u.token, c, ["note", "email"], params={"tag": "WORK"})
        self.assert_filter(u.token, c, ["note", "email"], text="tag:Work tag:work")
        self.assert_filter(u.token, c, [], text="tag:hom")

    def test_several_tags_are_all_required(self):
        u = self.new_user()
        c = self.corpus(u.token)
        self.assert_filter(u.token, c, ["email"], text="tag:work tag:finance")
        self.assert_filter(u.token, c, ["email"], text="tag:finance", params={"tag": "work"})
        self.assert_filter(u.token, c, ["file"], text='tag:finance tag:"home office"')
        self.assert_filter(u.token, c, [], text="tag:work tag:home")

    def test_source(self):
        u = self.new_user()
        c = self.corpus(u.token)
        self.assert_filter(u.token, c, ["event"], params={"source": "calendar"})
        self.assert_filter(u.token, c, ["event"], text="source:calendar")
        # The key ends at the first colon.
        self.assert_filter(u.token, c, ["email"], text="source:imap:inbox")
        # "calendar" is also the friendly alias (any case) of the calendar
        # sources; other sources stay exact.
        self.assert_filter(u.token, c, ["event"], text="source:Calendar")
        self.assert_filter(u.token, c, [], text="source:IMAP:inbox")

    def test_dates(self):
        u = self.new_user()
        c = self.corpus(u.token)
        self.assert_filter(u.token, c, ["event", "email"], params={"after": "2026-02-01"})
        self.assert_filter(u.token, c, ["event", "email"], text="after:2026-02-01")
        self.assert_filter(u.token, c, ["note", "file"], params={"before": "2026-02-01"})
        self.assert_filter(u.token, c, ["note", "file"], text="before:2026-02-01")
        self.assert_filter(u.token, c, ["note", "event"],
                           text="after:2026-01-01 before:2026-03-01")
        self.assert_filter(u.token, c, ["note", "event"],
                           params={"after": "2026-01-01", "before": "2026-03-01"})
        # Mixed: the latest after and the earliest before apply.
        self.assert_filter(u.token, c, ["event"], text="after:2026-02-01",
                           params={"after": "2025-01-01", "before": "2026-03-01"})
        # after is inclusive, before exclusive, to the second; offsets count.
        self.assert_filter(u.token, c, ["email"], text="after:2026-03-20T10:00:00Z")
        self.assert_filter(u.token, c, ["note", "event", "file"],
                           text="before:2026-03-20T10:00:00Z")
        self.assert_filter(u.token, c, ["email"], text='after:"2026-03-20 11:00:00+01:00"')
        self.assert_filter(u.token, c, ["note", "event", "file"],
                           text="before:2026-03-20T11:00:00+01:00")

    def test_filters_combine(self):
        u = self.new_user()
        c = self.corpus(u.token)
        self.assert_filter(u.token, c, ["email"], text="tag:work after:2026-02-01")
        self.assert_filter(u.token, c, ["note"], text="tag:work", params={"type": "note"})
        self.assert_filter(u.token, c, [], text="type:note layer:archive")

    def test_filter_only_query_lists_newest_first(self):
        u = self.new_user()
        c = self.corpus(u.token)
        for mode in MODES:
            with self.subTest(mode=mode):
                self.assertEqual(self.search_ids(u.token, "tag:work", mode=mode),
                                 [c["email"], c["note"]])
                self.assertEqual(self.search_ids(u.token, "tag:finance", mode=mode),
                                 [c["email"], c["file"]])
                self.assertEqual(self.search_ids(u.token, "type:event", mode=mode),
                                 [c["event"]])
                self.assertEqual(self.search_ids(u.token, "after:2025-01-01", mode=mode),
                                 [c["email"], c["event"], c["note"], c["file"]])
        body = self.search(u.token, "tag:work", limit=1)
        self.assertEqual(ids(body), [c["email"]])
        self.assertEqual(body["total"], 2)
        self.assertTrue(body["has_more"])
        body = self.search(u.token, "tag:work", limit=1, offset=1)
        self.assertEqual(ids(body), [c["note"]])
        self.assertFalse(body["has_more"])

    def test_filter_and_keyword_exclude_other_words(self):
        u = self.new_user()
        c = self.corpus(u.token)
        # A filter narrows a keyword search; words still have to match.
        self.assertEqual(self.search_ids(u.token, "tag:work bank", mode="keyword"),
                         [c["email"]])
        self.assertEqual(self.search_ids(u.token, "tag:home bank", mode="keyword"), [])

    def test_filter_errors(self):
        u = self.new_user()
        self.corpus(u.token)
        cases = [
            ({"query": "budget type:diary"}, "type"),
            ({"query": "budget layer:attic"}, "layer"),
            ({"query": "budget", "type": "diary"}, "type"),
            ({"query": "budget", "layer": "attic"}, "layer"),
            ({"query": "budget type:note type:event"}, "type"),
            ({"query": "budget type:note", "type": "event"}, "type"),
            ({"query": "budget layer:active", "layer": "archive"}, "layer"),
            ({"query": "budget source:a source:b"}, "source"),
            ({"query": "budget source:a", "source": "b"}, "source"),
            ({"query": "budget after:yesterday"}, "after"),
            ({"query": "budget after:2026-02-30"}, "after"),
            ({"query": "budget before:2026-13-01"}, "before"),
            ({"query": "budget", "after": "yesterday"}, "after"),
            ({"query": "budget", "before": "2026-02-30"}, "before"),
            ({"query": "budget after:2026-02-01 before:2026-01-01"}, "before"),
            ({"query": "budget after:2026-02-01 before:2026-02-01"}, "before"),
            ({"query": "budget after:2026-02-01", "before": "2026-01-01"}, "before"),
            ({"query": "budget -tag:work"}, "tag"),
            ({"query": "budget " + " ".join("tag:t%d" % i for i in range(17))}, "tag"),
        ]
        for params, field in cases:
            for mode in MODES:
                with self.subTest(params=params, mode=mode):
                    r = self.api.get(search_path(mode=mode, **params), token=u.token)
                    self.assert_error(r, 422, "invalid_field", field=field)
        # 16 tags are fine.
        q = "budget " + " ".join("tag:t%d" % i for i in range(16))
        self.assertEqual(self.search(u.token, q)["memories"], [])


# ---------------------------------------------------------------------------
# Phrases and exclusions


class PhraseAndExclusionTest(SearchCase):

    def phrase_corpus(self, token):
        return {
            "kickoff": self.create_memory(token, "project alpha kickoff meeting")["id"],
            "reversed": self.create_memory(token, "alpha project retrospective")["id"],
            "apart": self.create_memory(token, "the project was alpha quality")["id"],
            "budget": self.create_memory(token, "Project Alpha budget approved")["id"],
            "lunch": self.create_memory(token, "lunch with the team")["id"],
        }

    def test_phrase_requires_words_in_order(self):
        u = self.new_user()
        c = self.phrase_corpus(u.token)
        want = sorted([c["kickoff"], c["budget"]])
        for q in ('"project alpha"', '"project   alpha"', '"Project Alpha"'):
            for mode in MODES:
                with self.subTest(query=q, mode=mode):
                    body = self.search(u.token, q, mode=mode)
                    self.assertEqual(sorted(ids(body)), want)
                    self.assertEqual(body["total"], 2)

    def test_phrase_with_words_ranks_by_the_words(self):
        u = self.new_user()
        c = self.phrase_corpus(u.token)
        for mode in ("keyword", "hybrid"):
            with self.subTest(mode=mode):
                got = self.search_ids(u.token, '"project alpha" budget', mode=mode)
                self.assertEqual(got, [c["budget"], c["kickoff"]])
        got = self.search_ids(u.token, '"project alpha" budget', mode="semantic")
        self.assertEqual(sorted(got), sorted([c["budget"], c["kickoff"]]))

    def test_two_phrases_both_required(self):
        u = self.new_user()
        c = self.phrase_corpus(u.token)
        for mode in MODES:
            with self.subTest(mode=mode):
                self.assertEqual(self.search_ids(u.token, '"project alpha" "kickoff meeting"',
                                                 mode=mode), [c["kickoff"]])
                self.assertEqual(self.search_ids(u.token, '"project alpha" "team lunch"',
                                                 mode=mode), [])

    def test_phrase_matches_word_forms_in_every_mode(self):
        # A phrase is matched by the index's words, so punctuation, case,
        # accents and word forms between them do not matter -- in keyword
        # mode. The other modes must find the same memories.
        u = self.new_user()
        dashed = self.create_memory(u.token, "Project-Alpha launch party")["id"]
        accent = self.create_memory(u.token, "Caf\u00e9 au lait every morning")["id"]
        self.create_memory(u.token, "tea in the afternoon")
        for q, want in (('"project alpha"', dashed), ('"cafe au lait"', accent)):
            self.assertEqual(self.search_ids(u.token, q, mode="keyword"), [want], q)
            for mode in ("hybrid", "semantic"):
                with self.subTest(query=q, mode=mode):
                    self.assertEqual(self.search_ids(u.token, q, mode=mode), [want])

    def test_filter_syntax_inside_a_phrase_is_text(self):
        u = self.new_user()
        a = self.create_memory(u.token, "remember: type note before leaving")["id"]
        self.create_memory(u.token, "an event", type="event")
        for mode in MODES:
            with self.subTest(mode=mode):
                self.assertEqual(self.search_ids(u.token, '"type:note"', mode=mode), [a])

    def exclusion_corpus(self, token):
        return {
            "design": self.create_memory(token, "meeting with the design team")["id"],
            "cancelled": self.create_memory(token, "meeting cancelled due to snow")["id"],
            "lunch": self.create_memory(token, "team lunch on Friday")["id"],
            "spicy": self.create_memory(token, "recipe for curry, far too spicy")["id"],
            "soup": self.create_memory(token, "recipe for tomato soup")["id"],
        }

    def test_excluded_word_never_appears(self):
        u = self.new_user()
        c = self.exclusion_corpus(u.token)
        self.assertEqual(self.search_ids(u.token, "meeting -cancelled", mode="keyword"),
                         [c["design"]])
        for mode in MODES:
            with self.subTest(mode=mode):
                got = self.search_ids(u.token, "meeting -cancelled", mode=mode)
                self.assertIn(c["design"], got)
                self.assertNotIn(c["cancelled"], got)
                got = self.search_ids(u.token, "meeting -CANCELLED -snow", mode=mode)
                self.assertNotIn(c["cancelled"], got)

    def test_excluded_phrase_never_appears(self):
        u = self.new_user()
        c = self.exclusion_corpus(u.token)
        self.assertEqual(self.search_ids(u.token, 'recipe -"too spicy"', mode="keyword"),
                         [c["soup"]])
        for mode in MODES:
            with self.subTest(mode=mode):
                got = self.search_ids(u.token, 'recipe -"too spicy"', mode=mode)
                self.assertIn(c["soup"], got)
                self.assertNotIn(c["spicy"], got)
                # Only the phrase is excluded, not its words apart.
                got = self.search_ids(u.token, 'recipe -"spicy too"', mode=mode)
                self.assertIn(c["spicy"], got)

    def test_exclusion_only_query_never_lists_the_excluded(self):
        u = self.new_user()
        c = self.exclusion_corpus(u.token)
        # "no result contains it" holds when nothing else is searched too.
        for q, excluded in (("-cancelled", "cancelled"), ("-cancelled type:note", "cancelled"),
                            ('-"too spicy"', "spicy")):
            for mode in MODES:
                with self.subTest(query=q, mode=mode):
                    self.assertNotIn(c[excluded], self.search_ids(u.token, q, mode=mode))

    def test_exclusion_matches_word_forms_and_accents_in_every_mode(self):
        # Keyword search excludes by the index's words (stems, no accents);
        # a memory found by meaning only must be excluded the same way.
        u = self.new_user()
        meeting = self.create_memory(u.token, "meeting with the design team")["id"]
        lunch = self.create_memory(u.token, "team lunch on Friday")["id"]
        cafe = self.create_memory(u.token, "Coffee at the caf\u00e9 on Main Street")["id"]
        self.create_memory(u.token, "coffee beans are in the cupboard")
        self.assertEqual(self.search_ids(u.token, "team -meetings", mode="keyword"), [lunch])
        self.assertNotIn(cafe, self.search_ids(u.token, "coffee -cafe", mode="keyword"))
        for mode in ("hybrid", "semantic"):
            with self.subTest(mode=mode):
                self.assertNotIn(meeting, self.search_ids(u.token, "team -meetings", mode=mode))
                self.assertNotIn(cafe, self.search_ids(u.token, "coffee -cafe", mode=mode))

    def test_lone_dashes_are_ignored(self):
        u = self.new_user()
        c = self.exclusion_corpus(u.token)
        for mode in ("keyword", "hybrid"):
            with self.subTest(mode=mode):
                got = self.search_ids(u.token, "meeting - -- snow", mode=mode)
                self.assertEqual(got[0], c["cancelled"])


class LargePhraseTest(SearchCase):
    """Phrase and exclusion filtering over more candidates than the ranked
    prefix (over 100 semantic candidates), with thread context.

    Regression: phrase queries once crashed the server when semantic-only
    candidates were filtered.
    """

    TOPICS = ["garden", "weather", "football", "cooking", "holiday", "music", "books",
              "school", "work", "cars"]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        api = harness.Api(cls.server.base_url)
        try:
            user = api.register()
            cls.token = user["access_token"]
            cls.items = []
            for i in range(150):
                if i % 37 == 5:
                    text = "Turn %d: I rode my blue bicycle to the %s" % (i, cls.TOPICS[i % 10])
                else:
                    text = "Turn %d: we talked about %s and the %s again" % (
                        i, cls.TOPICS[i % 10], cls.TOPICS[(i * 3) % 10])
                cls.items.append({"content": text, "metadata": {"session": i // 10}})
            r = api.post("/api/memories/bulk", {"memories": cls.items}, token=cls.token)
            if r.status != 201:
                raise AssertionError("bulk: %d %r" % (r.status, r.raw[:300]))
            cls.ids = r.json["ids"]
        finally:
            api.close()

    def with_context(self, phrase):
        """Ids whose content, or the two turns before it in its session,
        contain phrase."""
        out = set()
        for i, item in enumerate(self.items):
            texts = [item["content"]] + [self.items[j]["content"] for j in (i - 1, i - 2)
                                         if j >= 0 and j // 10 == i // 10]
            if any(phrase in t.lower() for t in texts):
                out.add(self.ids[i])
        return out

    def forget_cached_results(self):
        """A write bumps the user's cache generation: the next search ranks
        afresh with its own limit and offset."""
        m = self.create_memory(self.token, "unrelated scratch note")
        r = self.api.delete("/api/memories/" + m["id"], token=self.token)
        self.assertEqual(r.status, 204)

    def pages(self, query, mode, limit):
        """Every page of a search, fresh from the ranking; returns (ids, totals)."""
        got, totals, offset = [], set(), 0
        while True:
            self.forget_cached_results()
            body = self.search(self.token, query, mode=mode, limit=limit, offset=offset)
            got += ids(body)
            totals.add(body["total"])
            if not body["has_more"] or offset > 400:
                return got, totals
            offset += limit

    def content_of(self, memory_id):
        return self.items[self.ids.index(memory_id)]["content"]

    def test_phrase_over_many_candidates(self):
        want = self.with_context("blue bicycle")
        self.assertEqual(len(want), 10)
        for mode in MODES:
            for limit in (200, 20, 7):
                with self.subTest(mode=mode, limit=limit):
                    got, totals = self.pages('"blue bicycle"', mode, limit)
                    self.assert_health()
                    extra = [self.content_of(i) for i in got if i not in want]
                    self.assertFalse(extra, "%d results without the phrase, e.g. %r"
                                     % (len(extra), extra[:3]))
                    self.assertEqual(sorted(got), sorted(want))
                    self.assertEqual(totals, {len(want)})

    def test_phrase_and_words_over_many_candidates(self):
        want = self.with_context("blue bicycle")
        for mode in MODES:
            with self.subTest(mode=mode):
                self.forget_cached_results()
                body = self.search(self.token, '"blue bicycle" garden weather', mode=mode,
                                   limit=10)
                self.assert_health()
                self.assertTrue(set(ids(body)) <= want,
                                [m["content"] for m in body["memories"]])
                self.assertEqual(body["total"], len(want))

    def test_exclusion_over_many_candidates(self):
        for mode in MODES:
            for limit in (200, 20):
                with self.subTest(mode=mode, limit=limit):
                    got, totals = self.pages("garden -football", mode, limit)
                    self.assert_health()
                    bad = [self.content_of(i) for i in got
                           if "football" in self.content_of(i)]
                    self.assertFalse(bad, "%d excluded memories came back, e.g. %r"
                                     % (len(bad), bad[:3]))
                    self.assertEqual(len(totals), 1, "total changed between pages")
                    self.assertEqual(len(got), totals.pop())
                    self.assertEqual(len(got), len(set(got)))

    def test_server_survives_phrase_queries(self):
        for q in ('"blue bicycle"', '"nothing like this"', '"turn 1" -"blue bicycle"',
                  '"we talked" football'):
            for mode in MODES:
                for offset in (0, 95, 150):
                    with self.subTest(query=q, mode=mode, offset=offset):
                        r = self.search_raw(self.token, q, mode=mode, limit=10, offset=offset)
                        self.assertEqual(r.status, 200, r.raw[:300])
        self.assert_health()


# ---------------------------------------------------------------------------
# Thread context


class ThreadContextTest(SearchCase):

    QUESTION = "Caroline: What did you paint last weekend?"
    REPLY = "Melanie: A horse, here is a photo!"

    def test_reply_is_found_by_the_question_bulk(self):
        u = self.new_user()
        q, a = self.bulk(u.token, [
            {"content": self.QUESTION, "metadata": {"session": 1}},
            {"content": self.REPLY, "metadata": {"session": 1}},
        ])
        # Another session's reply right after does not carry this context.
        bob, ann = self.bulk(u.token, [
            {"content": "Bob: Did the new tyres arrive?", "metadata": {"session": 2}},
            {"content": "Ann: Yes, fitted this morning.", "metadata": {"session": 2}},
        ])
        # The question first (its own words), then the reply (its context).
        self.assertEqual(self.search_ids(u.token, "paint", mode="keyword"), [q, a])
        self.assertEqual(self.search_ids(u.token, "paint")[:2], [q, a])
        # Context flows forwards only.
        self.assertEqual(self.search_ids(u.token, "horse", mode="keyword"), [a])
        self.assertEqual(self.search_ids(u.token, "tyres", mode="keyword"), [bob, ann])

    def test_reply_is_found_by_the_question_single_posts(self):
        u = self.new_user()
        q = self.create_memory(u.token, "Jon: Did you finish the pottery class?",
                               metadata={"session": "s-7"})["id"]
        self.create_memory(u.token, "Tim: Nice weather today", metadata={"session": "s-8"})
        a = self.create_memory(u.token, "Gina: Yes, I made three bowls!",
                               metadata={"session": "s-7"})["id"]
        # The reply's context is read from the store; session s-8 is apart.
        self.assertEqual(self.search_ids(u.token, "pottery", mode="keyword"), [q, a])

    def test_single_post_appended_to_a_bulk_session(self):
        u = self.new_user()
        q, a = self.bulk(u.token, [
            {"content": self.QUESTION, "metadata": {"session": 1}},
            {"content": self.REPLY, "metadata": {"session": 1}},
        ])
        late = self.create_memory(u.token, "Caroline: Lovely, did it take long?",
                                  metadata={"session": 1})["id"]
        # Its context (read from the store) holds both earlier turns.
        self.assertEqual(self.search_ids(u.token, "horse", mode="keyword"), [a, late])
        got = self.search_ids(u.token, "paint", mode="keyword")
        self.assertEqual(got[0], q)
        self.assertEqual(sorted(got), sorted([q, a, late]))

    def test_no_context_without_a_thread(self):
        u = self.new_user()
        q = self.create_memory(u.token, self.QUESTION)["id"]
        self.create_memory(u.token, self.REPLY)
        self.assertEqual(self.search_ids(u.token, "paint", mode="keyword"), [q])

    def test_phrase_in_the_context_finds_the_reply(self):
        u = self.new_user()
        q, a = self.bulk(u.token, [
            {"content": self.QUESTION, "metadata": {"session": 1}},
            {"content": self.REPLY, "metadata": {"session": 1}},
        ])
        self.create_memory(u.token, "unrelated note about weekends")
        for mode in MODES:
            with self.subTest(mode=mode):
                got = self.search_ids(u.token, '"paint last weekend"', mode=mode)
                self.assertEqual(sorted(got), sorted([q, a]))


# ---------------------------------------------------------------------------
# Writes invalidate the per-user result cache


class CacheInvalidationTest(SearchCase):

    def test_create_makes_it_findable(self):
        u = self.new_user()
        self.create_memory(u.token, "A note about gardening")
        for mode in MODES:
            self.search(u.token, "zeppelin", mode=mode)  # fills the cache
        self.assertEqual(self.search_ids(u.token, "zeppelin", mode="keyword"), [])
        m = self.create_memory(u.token, "A zeppelin flew over the town")["id"]
        for mode in MODES:
            with self.subTest(mode=mode):
                self.assertEqual(self.search_ids(u.token, "zeppelin", mode=mode)[0], m)
        self.assertEqual(self.search_ids(u.token, "zeppelin", mode="keyword"), [m])

    def test_bulk_makes_it_findable(self):
        u = self.new_user()
        self.create_memory(u.token, "A note about gardening")
        self.assertEqual(self.search_ids(u.token, "walrus", mode="keyword"), [])
        self.search(u.token, "walrus")
        new = self.bulk(u.token, ["The walrus at the zoo", "nothing to see"])
        self.assertEqual(self.search_ids(u.token, "walrus", mode="keyword"), [new[0]])
        self.assertEqual(self.search_ids(u.token, "walrus")[0], new[0])

    def test_delete_removes_it(self):
        u = self.new_user()
        keep = self.create_memory(u.token, "A note about gardening")["id"]
        m = self.create_memory(u.token, "A zeppelin flew over the town")["id"]
        for mode in MODES:
            self.assertIn(m, self.search_ids(u.token, "zeppelin", mode=mode))
        self.assertEqual(self.search_ids(u.token, "tag:x"), [])
        r = self.api.delete("/api/memories/" + m, token=u.token)
        self.assertEqual(r.status, 204, r.raw[:300])
        for mode in MODES:
            with self.subTest(mode=mode):
                body = self.search(u.token, "A zeppelin flew over the town", mode=mode)
                self.assertNotIn(m, ids(body))
                self.assertEqual(body["total"], len(body["memories"]))
        self.assertEqual(self.search_ids(u.token, "zeppelin", mode="keyword"), [])
        # Only the unrelated note is left, and meaning alone does not make
        # it a hit (relevance cutoff, docs/SEARCH.md); its vector is still
        # searched when it is close: "gardening" finds it.
        self.assertEqual(self.search_ids(u.token, "zeppelin", mode="semantic"), [])
        self.assertEqual(self.search_ids(u.token, "gardening", mode="semantic"), [keep])

    def test_update_content_reindexes(self):
        u = self.new_user()
        self.create_memory(u.token, "A note about gardening")
        m = self.create_memory(u.token, "A zeppelin flew over the town")["id"]
        for mode in MODES:
            self.assertEqual(self.search_ids(u.token, "zeppelin", mode=mode)[0], m)
            self.search(u.token, "balloon", mode=mode)
        r = self.api.put("/api/memories/" + m, {"content": "A hot air balloon landed nearby"},
                         token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(self.search_ids(u.token, "zeppelin", mode="keyword"), [])
        self.assertEqual(self.search_ids(u.token, "balloon", mode="keyword"), [m])
        for mode in ("hybrid", "semantic"):
            with self.subTest(mode=mode):
                body = self.search(u.token, "hot air balloon", mode=mode)
                self.assertEqual(ids(body)[0], m)
                self.assertEqual(body["memories"][0]["content"],
                                 "A hot air balloon landed nearby")

    def test_update_tags_and_fields_reindex(self):
        u = self.new_user()
        m = self.create_memory(u.token, "Quarterly numbers look fine", tags=["draft"])["id"]
        self.assertEqual(self.search_ids(u.token, "draft", mode="keyword"), [m])
        self.assertEqual(self.search_ids(u.token, "quarterly type:event"), [])
        self.assertEqual(self.search_ids(u.token, "tag:final"), [])
        r = self.api.put("/api/memories/" + m, {"tags": ["final"], "type": "event"},
                         token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(self.search_ids(u.token, "draft", mode="keyword"), [])
        self.assertEqual(self.search_ids(u.token, "final", mode="keyword"), [m])
        self.assertEqual(self.search_ids(u.token, "quarterly type:event"), [m])
        self.assertEqual(self.search_ids(u.token, "tag:final"), [m])

    def test_other_users_writes_do_not_leak_in(self):
        a, b = self.new_user(), self.new_user()
        self.create_memory(a.token, "A note about gardening")
        self.assertEqual(self.search_ids(a.token, "zeppelin", mode="keyword"), [])
        self.create_memory(b.token, "A zeppelin flew over the town")
        self.assertEqual(self.search_ids(a.token, "zeppelin", mode="keyword"), [])


# ---------------------------------------------------------------------------
# Paging


class PaginationTest(SearchCase):

    def test_pages_are_consistent(self):
        u = self.new_user()
        made = self.bulk(u.token, ["pagination sample number %d %s" % (i, "extra " * (i % 5))
                                   for i in range(25)])
        for mode in MODES:
            with self.subTest(mode=mode):
                everything = self.search(u.token, "pagination sample", mode=mode, limit=200)
                self.assertEqual(everything["total"], 25)
                self.assertEqual(sorted(ids(everything)), sorted(made))
                self.assertFalse(everything["has_more"])
                got = []
                for offset, n, more in ((0, 10, True), (10, 10, True), (20, 5, False)):
                    body = self.search(u.token, "pagination sample", mode=mode, limit=10,
                                       offset=offset)
                    self.assertEqual(body["limit"], 10)
                    self.assertEqual(body["offset"], offset)
                    self.assertEqual(body["total"], 25)
                    self.assertEqual(len(body["memories"]), n)
                    self.assertEqual(body["has_more"], more)
                    got += ids(body)
                self.assertEqual(got, ids(everything))
                for offset in (25, 26, 1000):
                    body = self.search(u.token, "pagination sample", mode=mode, limit=10,
                                       offset=offset)
                    self.assertEqual(body["memories"], [])
                    self.assertFalse(body["has_more"])
                    self.assertEqual(body["total"], 25)
                    self.assertEqual(body["offset"], offset)

    def test_default_and_clamped_limit(self):
        u = self.new_user()
        self.bulk(u.token, ["limit check %d" % i for i in range(30)])
        body = self.search(u.token, "limit check", mode="keyword")
        self.assertEqual(body["limit"], 20)
        self.assertEqual(len(body["memories"]), 20)
        self.assertTrue(body["has_more"])
        self.assertEqual(body["total"], 30)
        for limit in (201, 500, 100000):
            with self.subTest(limit=limit):
                body = self.search(u.token, "limit check", mode="keyword", limit=limit)
                self.assertEqual(body["limit"], 200)
                self.assertEqual(len(body["memories"]), 30)
        body = self.search(u.token, "limit check", mode="keyword", limit=200)
        self.assertEqual(body["limit"], 200)
        body = self.search(u.token, "limit check", mode="keyword", limit=1)
        self.assertEqual(len(body["memories"]), 1)
        self.assertTrue(body["has_more"])

    def test_bad_limit_and_offset(self):
        u = self.new_user()
        for params, field in (({"limit": 0}, "limit"), ({"limit": -1}, "limit"),
                              ({"limit": "ten"}, "limit"), ({"limit": "1.5"}, "limit"),
                              ({"offset": -1}, "offset"), ({"offset": "x"}, "offset")):
            for mode in MODES:
                with self.subTest(params=params, mode=mode):
                    r = self.search_raw(u.token, "anything", mode=mode, **params)
                    self.assert_error(r, 422, "invalid_field", field=field)


# ---------------------------------------------------------------------------
# Isolation between users


class IsolationTest(SearchCase):

    SECRET = "The launch code for project tangerine is 4242"

    def test_other_users_memories_never_appear(self):
        a, b = self.new_user(), self.new_user()
        secret = self.create_memory(a.token, self.SECRET, tags=["private"],
                                    source="vault")["id"]
        a_ids = {secret, self.create_memory(a.token, "tangerine marmalade recipe")["id"]}
        b_own = self.create_memory(b.token, "Grocery list: apples and pears")["id"]
        queries = ["tangerine", self.SECRET, '"launch code"', "tag:private",
                   "source:vault", "launch -apples", "tangerine tag:private"]
        for q in queries:
            for mode in MODES:
                with self.subTest(query=q, mode=mode):
                    body = self.search(b.token, q, mode=mode, limit=200)
                    self.assertFalse(set(ids(body)) & a_ids, "B sees A's memories")
                    for m in body["memories"]:
                        self.assertEqual(m["user_id"], b.id)
                    self.assertLessEqual(body["total"], 1)
        # Semantic search with an exact copy of A's text: at most B's own
        # (unrelated) memory, never A's.
        body = self.search(b.token, self.SECRET, mode="semantic", limit=200)
        self.assertLessEqual(set(ids(body)), {b_own})
        self.assertEqual(body["total"], len(ids(body)))
        # A still finds it.
        for mode in MODES:
            with self.subTest(owner=True, mode=mode):
                self.assertEqual(self.search_ids(a.token, self.SECRET, mode=mode)[0], secret)

    def test_new_user_without_memories(self):
        a = self.new_user()
        self.create_memory(a.token, self.SECRET)
        b = self.new_user()
        for mode in MODES:
            with self.subTest(mode=mode):
                body = self.search(b.token, self.SECRET, mode=mode)
                self.assertEqual(body["memories"], [])
                self.assertEqual(body["total"], 0)


# ---------------------------------------------------------------------------
# Bad input


class BadInputTest(SearchCase):

    STRAY = ['"', '""', '"""', '*', 'NEAR(a b)', '^x', 'a:b', 'AND OR NOT', '(', ')',
             'a AND', 'NOT', 'OR b', '"unbalanced phrase', 'C++ NEAR(a b) 5" screen',
             '-', '--', '---force', '-"', 'tag:', 'tag:""', '"a b"c', '{x}', 'a + b',
             'col:val*', '\u2014', '\U0001F600', 'x' * 300, '"' * 101,
             'http://example.com/?a=b&c=d', "it's", '\'', '\\', '%', '%25', 'a\tb\nc',
             'a\u00a0b\u200bc\u3000d']

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        api = harness.Api(cls.server.base_url)
        try:
            answer = api.register()
            cls.token = answer["access_token"]
            items = [{"content": c} for c in (
                "I love C++ programming on a 5\" screen",
                "near station exit, gate B",
                "salt and pepper",
                "do not disturb",
            )]
            r = api.post("/api/memories/bulk", {"memories": items}, token=cls.token)
            if r.status != 201:
                raise AssertionError("bulk: %d %r" % (r.status, r.raw[:300]))
        finally:
            api.close()

    def test_missing_query(self):
        r = self.search_raw(self.token, None)
        self.assert_error(r, 422, "missing_field", field="query")
        r = self.search_raw(self.token, None, mode="keyword", type="note")
        self.assert_error(r, 422, "missing_field", field="query")

    def test_empty_or_blank_query(self):
        for q in ("", " ", "   ", "\t", "\n", " \t\r\n ", "\u00a0", "\u3000 \u200b", "\ufeff"):
            for mode in MODES:
                with self.subTest(query=q, mode=mode):
                    r = self.search_raw(self.token, q, mode=mode)
                    self.assert_error(r, 422, "invalid_field", field="query")

    def test_query_size_limit(self):
        ok = ("word " * 820)[:4096]
        self.assertEqual(len(ok.encode()), 4096)
        for mode in MODES:
            with self.subTest(mode=mode):
                self.search(self.token, ok, mode=mode)
                for q in (ok + "x", "x" * 5000, "\u00e9" * 2049, "word " * 1000):
                    r = self.search_raw(self.token, q, mode=mode)
                    self.assert_error(r, 422, "invalid_field", field="query")
        # The limit is in bytes: 2048 two-byte characters are fine.
        self.search(self.token, "\u00e9" * 2048)
        self.assert_health()

    def test_huge_query_is_refused_without_5xx(self):
        # Far over the limit the HTTP layer may refuse the request line
        # itself; either way a client error, and the server keeps serving.
        for size in (20000, 100000):
            with self.subTest(size=size):
                r = self.search_raw(self.token, "x" * size)
                self.assertIn(r.status, (413, 414, 422, 431), r.raw[:300])
                self.assert_health()

    def test_unknown_mode(self):
        for mode in ("fuzzy", "HYBRID", "keyword ", "vector", "0"):
            with self.subTest(mode=mode):
                r = self.search_raw(self.token, "salt", mode=mode)
                self.assert_error(r, 422, "invalid_field", field="mode")

    def test_bad_dates(self):
        cases = [
            ({"after": "yesterday"}, "after"), ({"before": "2026-02-30"}, "before"),
            ({"after": "2026-1-1"}, "after"), ({"before": "2026-01-01T25:00:00Z"}, "before"),
            ({"query": "salt after:tomorrow"}, "after"),
            ({"query": "salt before:2026-02-30"}, "before"),
            ({"query": "salt after:2026-01-01T09:30:00+25:00"}, "after"),
        ]
        for params, field in cases:
            params = dict(params)
            q = params.pop("query", "salt")
            with self.subTest(query=q, params=params):
                r = self.search_raw(self.token, q, **params)
                self.assert_error(r, 422, "invalid_field", field=field)

    def test_unknown_type_or_layer_in_text(self):
        for q, field in (("salt type:diary", "type"), ("salt layer:attic", "layer"),
                         ("type:", None), ("TYPE:memo salt", "type")):
            with self.subTest(query=q):
                r = self.search_raw(self.token, q)
                if field is None:  # a key with no value is a word
                    self.assertEqual(r.status, 200, r.raw[:300])
                else:
                    self.assert_error(r, 422, "invalid_field", field=field)

    def test_stray_operators_are_searched_as_text(self):
        for q in self.STRAY:
            for mode in MODES:
                with self.subTest(query=q, mode=mode):
                    r = self.search_raw(self.token, q, mode=mode, explain=1)
                    self.assertEqual(r.status, 200, r.raw[:300])
                    self.assert_search_shape(r.json, mode, explain=True)
        self.assert_health()
        # And a real search still works afterwards.
        self.assertEqual(contents(self.search(self.token, "pepper", mode="keyword")),
                         ["salt and pepper"])

    def test_operator_words_find_their_text(self):
        tok = self.token
        self.assertEqual(contents(self.search(tok, "NOT", mode="keyword")), ["do not disturb"])
        self.assertEqual(contents(self.search(tok, "AND", mode="keyword")), ["salt and pepper"])
        # NEAR( is text: the word reads as the tokens "near station", in order.
        self.assertEqual(contents(self.search(tok, "NEAR(station", mode="keyword")),
                         ["near station exit, gate B"])
        self.assertEqual(contents(self.search(tok, "NEAR(exit", mode="keyword")), [])
        self.assertEqual(contents(self.search(tok, "C++", mode="keyword")),
                         ["I love C++ programming on a 5\" screen"])

    def raw_query(self, encoded, mode="hybrid"):
        return self.api.get(SEARCH + "?mode=%s&query=%s" % (mode, encoded), token=self.token)

    def test_nul_bytes(self):
        for enc in ("%00", "a%00b", "salt%00pepper", "%00%00%00", "salt%00", "%00salt"):
            for mode in MODES:
                with self.subTest(query=enc, mode=mode):
                    r = self.raw_query(enc, mode)
                    self.assertIn(r.status, (200, 422), r.raw[:300])
                    if r.status == 422:
                        self.assert_error(r, 422, "invalid_field", field="query")
        self.assert_health()

    def test_invalid_utf8(self):
        for enc in ("%FF", "abc%FFdef", "%C0%AF", "%ED%A0%80", "caf%C3", "%F4%90%80%80",
                    "%E2%82", "salt%80"):
            for mode in MODES:
                with self.subTest(query=enc, mode=mode):
                    r = self.raw_query(enc, mode)
                    self.assert_error(r, 422, "invalid_field", field="query")
        self.assert_health()

    def test_unknown_parameters_are_ignored(self):
        body = self.search(self.token, "pepper", mode="keyword", colour="blue", page="x")
        self.assertEqual(contents(body), ["salt and pepper"])


if __name__ == "__main__":
    unittest.main()
