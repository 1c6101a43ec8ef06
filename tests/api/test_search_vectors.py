"""Resident vectors (docs/SEARCH.md, "Resident vectors"): a search of a user
whose vectors are not in memory yet answers from keyword search alone and
says so (`vector_status: loading`) while the load runs in the background;
once they are resident, searches say `ready` and find by meaning too.

The server waits 0 ms for a load here (search_vector_wait_ms = 0), so the
first semantic search of a user always answers before the load: that answer
is deterministic, and later ones are polled until the load is done.
"""

import os
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SEARCH = "/api/memories/search"


def path(query, **params):
    return SEARCH + "?" + urllib.parse.urlencode(dict(query=query, **params))


class ResidentVectors(harness.ApiTestCase):
    # no auto-linking: its job loads the user's vectors before the first
    # search, which is what these tests watch
    server_env = {"PERSONALOS_SEARCH_VECTOR_WAIT_MS": "0", "PERSONALOS_AUTO_LINK": "off"}

    def search(self, token, query, **params):
        r = self.api.get(path(query, **params), token=token)
        self.assertEqual(r.status, 200, r.raw[:300])
        return r.json

    def wait_ready(self, token, query):
        """Searches until the semantic half runs (bounded)."""
        for _ in range(400):
            body = self.search(token, query, mode="hybrid")
            if body.get("vector_status") == "ready":
                return body
            self.assertEqual(body.get("vector_status"), "loading", body)
            time.sleep(0.05)
        self.fail("the user's vectors never became resident")

    def test_first_search_is_keyword_only_then_ready(self):
        token = self.new_user().token
        cooking = self.create_memory(token, "Baked sourdough bread with rye flour")["id"]
        self.create_memory(token, "Quarterly budget review with the finance team")
        # Not resident yet: keyword answer, said so; the keyword match is there.
        first = self.search(token, "sourdough", mode="hybrid")
        self.assertEqual(first.get("vector_status"), "loading", first)
        self.assertEqual([m["id"] for m in first["memories"]], [cooking])
        # Semantic mode falls back to keyword meanwhile rather than nothing.
        sem = self.search(token, "rye", mode="semantic")
        if sem.get("vector_status") == "loading":
            self.assertEqual([m["id"] for m in sem["memories"]], [cooking])
        # Resident after the background load.
        ready = self.wait_ready(token, "sourdough")
        self.assertEqual(ready["memories"][0]["id"], cooking)
        # Keyword mode has no semantic half to report.
        kw = self.search(token, "sourdough", mode="keyword")
        self.assertNotIn("vector_status", kw)
        # A memory written after the load is in the resident index at once.
        later = self.create_memory(token, "Sourdough starter fed twice a day")["id"]
        again = self.search(token, "sourdough starter", mode="semantic")
        self.assertEqual(again.get("vector_status"), "ready", again)
        self.assertIn(later, [m["id"] for m in again["memories"]])

    def test_each_user_loads_their_own(self):
        a = self.new_user().token
        b = self.new_user().token
        self.create_memory(a, "Hiking in the Alps in July")
        self.create_memory(b, "Hiking boots need new laces")
        self.wait_ready(a, "hiking")
        # a's load says nothing about b's: b's first search still loads.
        first_b = self.search(b, "hiking", mode="hybrid")
        self.assertEqual(first_b.get("vector_status"), "loading", first_b)
        self.assertEqual([m["content"] for m in first_b["memories"]],
                         ["Hiking boots need new laces"])


if __name__ == "__main__":
    unittest.main()
