"""Search in the person's language (issue 20, quality offline).

- time phrases: "yesterday", "10 days ago", "last week" in a query leave the
  keyword query and rank memories dated in that window first; a query of
  nothing but the phrase (and stop words) lists the window
  (docs/SEARCH.md, "Time phrases");
- other languages: a memory's words are stemmed in its language (German,
  French, Spanish, ...), a query word in every language, so an inflected
  form finds the memory; CJK text is indexed as bigrams, so a Japanese
  phrase is found inside an unspaced sentence (docs/SEARCH.md, "Languages").

Dates are set through created_at relative to the server's real clock, far
from any day boundary that matters (a memory 24 h old is always dated
"yesterday" in UTC), so no assertion depends on timing.
"""

import datetime
import os
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SEARCH = "/api/memories/search"


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def ago(days):
    return iso(datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=days))


def contents(body):
    return [m["content"] for m in body["memories"]]


class TimePhraseTest(harness.ApiTestCase):

    def search(self, token, q, **params):
        params["query"] = q
        r = self.api.get(SEARCH + "?" + urllib.parse.urlencode(params), token=token)
        self.assertEqual(r.status, 200, r.raw[:300])
        return r.json

    def setUp(self):
        super().setUp()
        self.u = self.new_user()
        t = self.u.token
        # the older dentist note is the better keyword match (the word twice)
        self.create_memory(t, "Dentist visit: the dentist fixed a crown", created_at=ago(40))
        self.create_memory(t, "Went to the dentist", created_at=ago(1))
        self.create_memory(t, "Dentist bill paid", created_at=ago(10))
        self.create_memory(t, "Lunch with Ana yesterday was lovely", created_at=ago(40))
        self.create_memory(t, "Walked the dog in the park", created_at=ago(1))

    def test_phrase_ranks_its_window_first(self):
        t = self.u.token
        cases = {
            "dentist yesterday": "Went to the dentist",
            "when did I see the dentist yesterday?": "Went to the dentist",
            "dentist 10 days ago": "Dentist bill paid",
            "What about the dentist ten days ago": "Dentist bill paid",
        }
        for q, first in cases.items():
            for mode in ("hybrid", "keyword"):
                with self.subTest(query=q, mode=mode):
                    body = self.search(t, q, mode=mode, explain=1)
                    got = contents(body)
                    self.assertEqual(got[0], first, got)
                    # a boost, not a filter: the other dentist notes follow
                    self.assertEqual(sum("entist" in c for c in got), 3, got)
                    self.assertGreater(body["memories"][0]["explain"]["boosts"]["date"], 0.9)
                    # the phrase left the keyword query: the note that says
                    # "yesterday" is not found by that word
                    self.assertNotIn("Lunch with Ana yesterday was lovely", got)

    def test_without_a_phrase_the_best_match_leads(self):
        body = self.search(self.u.token, "dentist", mode="keyword")
        self.assertEqual(contents(body)[0], "Dentist visit: the dentist fixed a crown")

    def test_phrase_alone_lists_the_window(self):
        t = self.u.token
        for q in ("yesterday", "what did I do yesterday?"):
            with self.subTest(query=q):
                got = sorted(contents(self.search(t, q)))
                self.assertEqual(got, ["Walked the dog in the park", "Went to the dentist"])

    def test_quoted_phrase_is_a_word(self):
        got = contents(self.search(self.u.token, '"yesterday"'))
        self.assertEqual(got, ["Lunch with Ana yesterday was lovely"])

    def test_typing_keeps_the_words(self):
        got = contents(self.search(self.u.token, "lunch yesterday", prefix=1))
        self.assertIn("Lunch with Ana yesterday was lovely", got)

    def test_phrase_in_the_persons_zone(self):
        # UTC+14: the local day starts at 10:00 UTC the day before. Memories
        # one minute either side of the local midnight fall in one UTC day,
        # so only the zone tells them apart.
        u = self.new_user()
        r = self.api.patch("/api/auth/me", {"settings": {"tz_offset_minutes": 840}},
                           token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        off = datetime.timedelta(minutes=840)
        local_now = datetime.datetime.now(datetime.timezone.utc) + off
        midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0) - off
        self.create_memory(u.token, "before local midnight",
                           created_at=iso(midnight - datetime.timedelta(minutes=1)))
        self.create_memory(u.token, "after local midnight",
                           created_at=iso(midnight + datetime.timedelta(minutes=1)))
        self.assertEqual(contents(self.search(u.token, "today")), ["after local midnight"])
        self.assertEqual(contents(self.search(u.token, "yesterday")), ["before local midnight"])


class LanguageTest(harness.ApiTestCase):

    TEXTS = {
        "de": "Wir haben die alten Häuser am Fluss gesehen und sind dann nach Hause gegangen",
        "fr": "Ce soir nous mangeons une pizza avec les enfants dans le jardin",
        "es": "Estoy corriendo en el parque con mi perro todas las mañanas",
        "ja": "私は昨日東京タワーに行きました",
        "en": "We watched the houses being built by the river",
        "other": "Remember to renew the passport before the trip",
    }

    def search(self, token, q, **params):
        params["query"] = q
        r = self.api.get(SEARCH + "?" + urllib.parse.urlencode(params), token=token)
        self.assertEqual(r.status, 200, r.raw[:300])
        return r.json

    @classmethod
    def setUpClass(cls):
        super().setUpClass()

    def setUp(self):
        super().setUp()
        self.u = self.new_user()
        self.ids = {k: self.create_memory(self.u.token, v)["id"] for k, v in self.TEXTS.items()}

    def found(self, q, mode="keyword"):
        return [m["id"] for m in self.search(self.u.token, q, mode=mode)["memories"]]

    def test_inflected_forms_find_the_memory(self):
        cases = [
            ("Haus", "de"), ("Häuser", "de"), ("Hauses", "de"),
            ("manger", "fr"), ("mange", "fr"), ("mangeant", "fr"),
            ("correr", "es"), ("corre", "es"), ("corremos", "es"),
            ("house", "en"), ("watching", "en"),
        ]
        for q, lang in cases:
            for mode in ("keyword", "hybrid"):
                with self.subTest(query=q, mode=mode):
                    got = self.found(q, mode)
                    self.assertTrue(got, q)
                    self.assertEqual(got[0], self.ids[lang], got)

    def test_japanese_phrase_inside_a_sentence(self):
        for q in ("東京タワー", "東京", "タワーに行きました", '"東京タワー"'):
            with self.subTest(query=q):
                got = self.found(q)
                self.assertEqual(got, [self.ids["ja"]])
        # bigrams of the query in another order do not make a match
        self.assertEqual(self.found("タワー東京京都"), [])

    def test_words_of_other_languages_stay_apart(self):
        self.assertEqual(self.found("passport"), [self.ids["other"]])
        self.assertEqual(self.found("pizza"), [self.ids["fr"]])
        self.assertEqual(self.found("xqzvbt"), [])


if __name__ == "__main__":
    unittest.main()
