"""Query expansion with WordNet (issue 20, quality offline).

A keyword query's words gain WordNet's synonyms and derived forms as
alternatives weighted below the words typed (docs/SEARCH.md, "Query
expansion"), offline: "physician" finds a memory about a doctor,
"dermatologist" one about dermatology. A "phrase" stays exact, and an
exclusion excludes the word alone. The first class expands every word
(search_expand_max_df -1); by default only the words no memory holds
expand (the second class); off (the third) shows the hits come from the
expansion. Skipped when WordNet (Debian wordnet-base) is absent.
"""

import os
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SEARCH = "/api/memories/search"
WORDNET = "/usr/share/wordnet/index.noun"

DOCTOR = "Saw the doctor about my knee on Monday"
DERM = "Booked a dermatology appointment for the rash"
OTHER = "Bought apples and pears at the market"


def contents(body):
    return [m["content"] for m in body["memories"]]


@unittest.skipUnless(os.path.exists(WORDNET), "WordNet (wordnet-base) is not installed")
class ExpandTest(harness.ApiTestCase):
    """Every word expanded (search_expand_max_df -1)."""
    server_env = {"PERSONALOS_SEARCH_EXPAND_WEIGHT": "0.25",
                  "PERSONALOS_SEARCH_EXPAND_MAX_DF": "-1"}

    def search(self, token, q, **params):
        params["query"] = q
        r = self.api.get(SEARCH + "?" + urllib.parse.urlencode(params), token=token)
        self.assertEqual(r.status, 200, r.raw[:300])
        return r.json

    def setUp(self):
        super().setUp()
        self.u = self.new_user()
        t = self.u.token
        for c in (DOCTOR, DERM, OTHER):
            self.create_memory(t, c)

    def test_synonym_and_derived_form_are_found(self):
        t = self.u.token
        for mode in ("keyword", "hybrid"):
            with self.subTest(mode=mode):
                self.assertEqual(contents(self.search(t, "physician", mode=mode))[:1], [DOCTOR])
                self.assertEqual(contents(self.search(t, "physicians knee", mode=mode))[:1],
                                 [DOCTOR])
                self.assertEqual(contents(self.search(t, "dermatologist", mode=mode))[:1],
                                 [DERM])

    def test_irregular_form_is_found(self):
        # no stemmer relates "run" and "ran"
        t = self.u.token
        self.create_memory(t, "I ran five miles along the river")
        for q in ("run", "river run"):
            with self.subTest(query=q):
                got = contents(self.search(t, q, mode="keyword"))
                self.assertEqual(got[:1], ["I ran five miles along the river"], got)

    def test_word_typed_ranks_above_its_alternative(self):
        t = self.u.token
        self.create_memory(t, "The physician said rest")
        got = contents(self.search(t, "physician", mode="keyword"))
        self.assertEqual(got[:2], ["The physician said rest", DOCTOR], got)

    def test_word_in_no_memory_is_expanded_beside_known_words(self):
        # pruning drops the words no memory holds; their alternatives are
        # picked from the words typed, before it
        t = self.u.token
        got = contents(self.search(t, "physician pears", mode="keyword"))
        self.assertIn(DOCTOR, got)
        self.assertIn(OTHER, got)

    def test_alternative_of_a_word_in_no_memory_counts_as_the_word(self):
        # "physician" finds nothing itself: "doctor" stands in for it at a
        # typed word's weight, so "say" does not outweigh it
        t = self.u.token
        says = "Tom says hello to everyone at the market on a sunny Monday morning"
        self.create_memory(t, says)
        got = contents(self.search(t, "what did the physician say", mode="keyword"))
        self.assertEqual(got[:2], [DOCTOR, says], got)

    def test_phrase_is_not_expanded(self):
        t = self.u.token
        self.assertEqual(contents(self.search(t, '"physician"', mode="keyword")), [])
        # a required phrase with a word: the word still expands, within the phrase's hits
        self.assertEqual(contents(self.search(t, '"the doctor" physician', mode="keyword")),
                         [DOCTOR])

    def test_exclusion_is_not_expanded(self):
        t = self.u.token
        got = contents(self.search(t, "knee -physician", mode="keyword"))
        self.assertEqual(got, [DOCTOR])

    def test_other_user_is_not_found(self):
        other = self.new_user()
        self.assertEqual(contents(self.search(other.token, "physician", mode="keyword")), [])


@unittest.skipUnless(os.path.exists(WORDNET), "WordNet (wordnet-base) is not installed")
class ExpandDefaultTest(harness.ApiTestCase):
    """The defaults (search_expand_weight 0.25, search_expand_max_df 0):
    only the words no memory holds expand."""

    def test_only_words_in_no_memory_expand(self):
        u = self.new_user()
        phys = "The physician said rest"
        for c in (DERM, phys):
            self.create_memory(u.token, c)

        def ask(q):
            r = self.api.get(SEARCH + "?" + urllib.parse.urlencode(
                {"query": q, "mode": "keyword"}), token=u.token)
            self.assertEqual(r.status, 200, r.raw[:300])
            return contents(r.json)
        # "dermatologist" is in no memory: expanded
        self.assertEqual(ask("dermatologist"), [DERM])
        # "physician" is the user's own word: not expanded to "doctor"
        self.create_memory(u.token, DOCTOR)
        self.assertEqual(ask("physician"), [phys])
        # with every word expanded (the class above) it would find DOCTOR
        # too: test_word_typed_ranks_above_its_alternative


@unittest.skipUnless(os.path.exists(WORDNET), "WordNet (wordnet-base) is not installed")
class ExpandOffTest(harness.ApiTestCase):
    """search_expand_weight 0: off."""
    server_env = {"PERSONALOS_SEARCH_EXPAND_WEIGHT": "0"}

    def test_off_finds_only_the_words(self):
        u = self.new_user()
        self.create_memory(u.token, DOCTOR)
        r = self.api.get(SEARCH + "?" + urllib.parse.urlencode(
            {"query": "physician", "mode": "keyword"}), token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(contents(r.json), [])


if __name__ == "__main__":
    unittest.main()
