"""Thread credit (issue 20, branch recall; docs/SEARCH.md, "Thread credit").

A candidate gains search_boost_thread (default 0.3) × the best score of
another candidate in its thread (metadata `thread`, `session`, ...): the
turn beside a strong match of the same conversation outranks an equally
weak match elsewhere. With the weight 0 (second class) the order is the
words' alone, which shows the first class's order comes from the credit.
"""

import os
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SEARCH = "/api/memories/search"
# B is written first, so A's thread context holds B, not the other way
B = "Photos from the long weekend away with everyone"
A = "Camping trip at the lake with the whole family"
C = "Photos of the sofa"


class ThreadCase(harness.ApiTestCase):
    def ask(self, token, q):
        r = self.api.get(SEARCH + "?" + urllib.parse.urlencode(
            {"query": q, "mode": "keyword"}), token=token)
        self.assertEqual(r.status, 200, r.raw[:300])
        return [m["content"] for m in r.json["memories"]]

    def corpus(self):
        u = self.new_user()
        self.create_memory(u.token, B, metadata={"session": "s1"})
        self.create_memory(u.token, A, metadata={"session": "s1"})
        self.create_memory(u.token, C, metadata={"session": "s2"})
        return u


class ThreadCreditTest(ThreadCase):
    def test_neighbour_of_a_strong_match_ranks_higher(self):
        u = self.corpus()
        self.assertEqual(self.ask(u.token, "camping trip photos"), [A, B, C])

    def test_no_thread_no_credit(self):
        u = self.new_user()
        for c in (B, A, C):
            self.create_memory(u.token, c)
        self.assertEqual(self.ask(u.token, "camping trip photos"), [A, C, B])

    def test_other_user_thread_does_not_count(self):
        # the same thread key in another user's memories lends nothing
        other = self.new_user()
        self.create_memory(other.token, A, metadata={"session": "s2"})
        u = self.corpus()
        self.assertEqual(self.ask(u.token, "camping trip photos"), [A, B, C])


class ThreadCreditOffTest(ThreadCase):
    server_env = {"PERSONALOS_SEARCH_BOOST_THREAD": "0"}

    def test_off_ranks_by_the_words(self):
        u = self.corpus()
        self.assertEqual(self.ask(u.token, "camping trip photos"), [A, C, B])


if __name__ == "__main__":
    unittest.main()
