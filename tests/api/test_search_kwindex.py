"""Keyword search from the in-memory index beside FTS5 (issue 20,
docs/SEARCH.md "Keyword top-k"): per-user statistics, the top-k over
frequent words, and staying in step with writes across more users than the
index keeps (8, least recently used out)."""

import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_search import SearchCase  # noqa: E402
import harness  # noqa: E402


class KeywordIndexTest(SearchCase):

    def test_other_users_words_do_not_move_a_users_ranking(self):
        # In a's memories "banana" is the commoner word, so the memory with
        # "apple" ranks first for "apple banana". b makes "apple" common in
        # the store; a's ranking keeps to a's own statistics.
        a, b = self.new_user(), self.new_user()
        x = self.create_memory(a.token, "apple pie")["id"]
        y = self.create_memory(a.token, "banana split")["id"]
        self.bulk(a.token, ["banana bread", "cherry jam", "cherry tart", "plum cake"])
        self.assertEqual(self.search_ids(a.token, "apple banana", mode="keyword")[:2], [x, y])
        self.bulk(b.token, ["apple %d" % i for i in range(60)])
        got = self.search_ids(a.token, "apple banana", mode="keyword")
        self.assertEqual(got[:2], [x, y])
        self.assertEqual(len(got), 3)  # banana bread too; nothing of b's

    def test_top_k_over_a_word_in_every_memory(self):
        u = self.new_user()
        items = ["weekly standup notes %d" % i for i in range(400)]
        for i in range(0, 400, 80):
            items[i] = "weekly standup notes %d with the walrus" % i
        created = self.bulk(u.token, items)
        want = [created[i] for i in range(0, 400, 80)]
        got = self.search_ids(u.token, "standup walrus", mode="keyword", limit=5)
        self.assertEqual(sorted(got), sorted(want))
        body = self.search(u.token, "standup walrus", mode="keyword", limit=10)
        self.assertEqual(sorted(ids(body)[:5]), sorted(want))
        self.assertEqual(len(body["memories"]), 10)

    def test_writes_during_a_load_are_not_lost(self):
        # A user's index is read without the index's lock and caught up with
        # the writes made meanwhile before it is installed (docs/SEARCH.md,
        # "Keyword top-k"): a writer adds and deletes memories while the
        # user's index is evicted and loaded again, over and over; every
        # search answers, and afterwards the index holds exactly the
        # memories that remain.
        u = self.new_user()
        for k in range(3):
            self.bulk(u.token, ["alpha filler note %d" % (k * 1000 + i) for i in range(1000)])
        others = [self.new_user() for _ in range(8)]
        for o in others:
            self.bulk(o.token, ["other filler"])
        writer = harness.Api(self.server.base_url)
        made, gone, errors = [], [], []

        def write():
            try:
                for j in range(40):
                    r = writer.post("/api/memories/bulk", {"memories": [
                        {"content": "zebra crossing %d %d" % (j, i)} for i in range(5)]},
                        token=u.token)
                    if r.status != 201:
                        errors.append(r.raw[:200])
                        return
                    made.extend(r.json["ids"])
                    if j % 4 == 3:
                        victim = made[-7]
                        r = writer.delete("/api/memories/" + victim, token=u.token)
                        if r.status != 204:
                            errors.append(r.raw[:200])
                            return
                        gone.append(victim)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

        t = threading.Thread(target=write)
        t.start()
        while t.is_alive():
            for o in others:  # 8 other users: u's index is evicted
                self.search_ids(o.token, "other", mode="keyword")
            self.search_ids(u.token, "zebra", mode="keyword")
        t.join()
        self.assertEqual(errors, [])
        want = sorted(set(made) - set(gone))
        self.assertEqual(len(want), 200 - len(gone))
        self.assertEqual(sorted(self.search_ids(u.token, "zebra", mode="keyword", limit=200)),
                         want)

    def test_writes_stay_in_step_across_many_users(self):
        users = [self.new_user() for _ in range(10)]
        made = []
        for i, u in enumerate(users):
            word = "quokka%s" % chr(ord("a") + i)
            ids_ = self.bulk(u.token, ["%s number %d" % (word, j) for j in range(3)])
            made.append((u, word, ids_))
            self.assertEqual(sorted(self.search_ids(u.token, word, mode="keyword")),
                             sorted(ids_))
        # every user's index was built; more than are kept
        for u, word, (m0, m1, m2) in made:
            r = self.api.delete("/api/memories/" + m0, token=u.token)
            self.assertEqual(r.status, 204, r.raw[:300])
            r = self.api.put("/api/memories/" + m1, {"content": "renamed entirely"},
                             token=u.token)
            self.assertEqual(r.status, 200, r.raw[:300])
            self.assertEqual(self.search_ids(u.token, word, mode="keyword"), [m2])
            self.assertEqual(self.search_ids(u.token, "renamed", mode="keyword"), [m1])
            new = self.create_memory(u.token, word + " again")["id"]
            self.assertEqual(sorted(self.search_ids(u.token, word, mode="keyword")),
                             sorted([m2, new]))


def ids(body):
    return [m["id"] for m in body["memories"]]


if __name__ == "__main__":
    unittest.main()
