"""Sharing a memory: the owner shares and revokes; recipients read, list and
search it but never change it; everyone else sees nothing (docs/SECURITY.md).
"""

import os
import sys
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


class SharingTest(harness.ApiTestCase):

    def setUp(self):
        super().setUp()
        self.owner = self.new_user()
        self.bob = self.new_user()
        self.eve = self.new_user()
        self.word = "zebrafish" + uuid.uuid4().hex[:8]
        self.mem = self.create_memory(self.owner.token, "the %s notes for the trip" % self.word,
                                      tags=["trip"])

    def share(self, emails, user=None, mid=None):
        return self.api.post("/api/memories/%s/share" % (mid or self.mem["id"]),
                             {"emails": emails}, token=(user or self.owner).token)

    def unshare(self, email, user=None):
        return self.api.delete("/api/memories/%s/share/%s"
                               % (self.mem["id"], urllib.parse.quote(email)),
                               token=(user or self.owner).token)

    def search(self, user, extra="&include_shared=true"):
        r = self.api.get("/api/memories/search?query=%s%s" % (self.word, extra), token=user.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        return [m["id"] for m in r.json["memories"]]

    def test_share_read_list_search_then_revoke(self):
        r = self.share([self.bob.email.upper()])
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assert_memory_shape(r.json)
        self.assertTrue(r.json["is_shared"])
        self.assertEqual(r.json["shared_with"], [self.bob.email])
        # The owner's own reads agree.
        m = self.get_memory(self.owner.token, self.mem["id"])
        self.assertTrue(m["is_shared"])
        self.assertEqual(m["shared_with"], [self.bob.email])

        got = self.api.get("/api/memories/" + self.mem["id"], token=self.bob.token)
        self.assertEqual(got.status, 200, got.raw[:300])
        self.assert_memory_shape(got.json)
        self.assertEqual(got.json["content"], self.mem["content"])
        self.assertEqual(got.json["user_id"], self.owner.id)
        self.assertTrue(got.json["is_shared"])
        self.assertEqual(got.json["shared_with"], [self.bob.email])

        listed = self.list_memories(self.bob.token, "shared=with_me")
        self.assertEqual([x["id"] for x in listed["memories"]], [self.mem["id"]])
        self.assertEqual(listed["total"], 1)
        # Bob's own list does not hold it.
        self.assertNotIn(self.mem["id"],
                         [x["id"] for x in self.list_memories(self.bob.token)["memories"]])

        self.assertIn(self.mem["id"], self.search(self.bob))
        self.assertNotIn(self.mem["id"], self.search(self.bob, extra=""))
        # Eve was not given it.
        self.assert_error(self.api.get("/api/memories/" + self.mem["id"], token=self.eve.token),
                          404, "not_found")
        self.assertNotIn(self.mem["id"], self.search(self.eve))
        self.assertEqual(self.list_memories(self.eve.token, "shared=with_me")["total"], 0)

        # Revoking works at once, everywhere (search twice: no cache).
        self.assertEqual(self.unshare(self.bob.email).status, 204)
        self.assert_error(self.api.get("/api/memories/" + self.mem["id"], token=self.bob.token),
                          404, "not_found")
        self.assertEqual(self.list_memories(self.bob.token, "shared=with_me")["total"], 0)
        self.assertNotIn(self.mem["id"], self.search(self.bob))
        m = self.get_memory(self.owner.token, self.mem["id"])
        self.assertFalse(m["is_shared"])
        self.assertEqual(m["shared_with"], [])
        self.assert_error(self.unshare(self.bob.email), 404, "not_found")

    def test_recipient_can_never_write(self):
        self.assertEqual(self.share([self.bob.email]).status, 200)
        mid = self.mem["id"]
        self.assert_error(self.api.put("/api/memories/" + mid, {"content": "changed"},
                                       token=self.bob.token), 403, "forbidden")
        self.assert_error(self.api.delete("/api/memories/" + mid, token=self.bob.token),
                          403, "forbidden")
        self.assert_error(self.share([self.eve.email], user=self.bob), 403, "forbidden")
        self.assert_error(self.unshare(self.bob.email, user=self.bob), 403, "forbidden")
        # A stranger gets 404 for every one of them.
        self.assert_error(self.api.put("/api/memories/" + mid, {"content": "changed"},
                                       token=self.eve.token), 404, "not_found")
        self.assert_error(self.api.delete("/api/memories/" + mid, token=self.eve.token),
                          404, "not_found")
        self.assert_error(self.share([self.eve.email], user=self.eve), 404, "not_found")
        self.assert_error(self.unshare(self.bob.email, user=self.eve), 404, "not_found")
        m = self.get_memory(self.owner.token, mid)
        self.assertEqual(m["content"], self.mem["content"])
        self.assertEqual(m["shared_with"], [self.bob.email])

    def test_recipient_view_hides_other_recipients_and_links(self):
        parent = self.create_memory(self.owner.token, "private parent")
        child = self.create_memory(self.owner.token, "child " + self.word,
                                   parent_memory_id=parent["id"],
                                   related_memory_ids=[parent["id"]])
        r = self.share([self.bob.email, self.eve.email], mid=child["id"])
        self.assertEqual(sorted(r.json["shared_with"]), sorted([self.bob.email, self.eve.email]))
        got = self.api.get("/api/memories/" + child["id"], token=self.bob.token).json
        self.assertEqual(got["shared_with"], [self.bob.email])
        self.assertIsNone(got["parent_memory_id"])
        self.assertEqual(got["related_memory_ids"], [])
        self.assert_error(self.api.get("/api/memories/" + parent["id"], token=self.bob.token),
                          404, "not_found")

    def test_bad_share_requests(self):
        # (an email without an account is accepted, as a pending share: no
        # account enumeration; tests/api/test_accounts.py)
        self.assert_error(self.share([self.bob.email, self.owner.email]), 422, "invalid_field",
                          field="emails", index=1)
        self.assert_error(self.share([self.owner.email]), 422, "invalid_field",
                          field="emails", index=0)
        self.assert_error(self.share(["not an email"]), 422, "invalid_field",
                          field="emails", index=0)
        self.assert_error(self.share([]), 422, "invalid_field", field="emails")
        self.assert_error(self.share("x@example.com"), 422, "invalid_field", field="emails")
        self.assert_error(self.share([harness.unique_email() for _ in range(101)]),
                          422, "invalid_field", field="emails")
        r = self.api.post("/api/memories/%s/share" % self.mem["id"], {}, token=self.owner.token)
        self.assert_error(r, 422, "missing_field", field="emails")
        # All or nothing: the valid email of the failed call was not stored.
        self.assertEqual(self.get_memory(self.owner.token, self.mem["id"])["shared_with"], [])
        self.assert_error(self.share([self.bob.email], mid=str(uuid.uuid4())), 404, "not_found")
        self.assert_error(self.api.get("/api/memories?shared=by_me", token=self.bob.token),
                          422, "invalid_field", field="shared")
        self.assert_error(self.api.get("/api/memories/search?query=x&include_shared=maybe",
                                       token=self.bob.token),
                          422, "invalid_field", field="include_shared")

    def test_read_token_cannot_share_and_delete_ends_share(self):
        r = self.api.post("/api/auth/tokens", {"name": "ro", "scope": "read"},
                          token=self.owner.token)
        self.assertEqual(r.status, 201, r.raw[:300])
        secret = r.json.get("token") or r.json.get("secret")
        self.assert_error(self.api.post("/api/memories/%s/share" % self.mem["id"],
                                        {"emails": [self.bob.email]}, token=secret),
                          403, "forbidden")
        self.assertEqual(self.share([self.bob.email]).status, 200)
        self.assertEqual(self.api.delete("/api/memories/" + self.mem["id"],
                                         token=self.owner.token).status, 204)
        self.assertEqual(self.list_memories(self.bob.token, "shared=with_me")["total"], 0)
        self.assert_error(self.api.get("/api/memories/" + self.mem["id"], token=self.bob.token),
                          404, "not_found")


class EncryptedSharingTest(harness.ApiTestCase):
    """An encrypted memory is shared only while its owner's data is
    unlocked; recipients read it opened with the owner's key, and while the
    owner is locked it is withheld (423 on get, left out of lists)."""

    def test_encrypted_memory_is_opened_for_recipients_only_while_unlocked(self):
        owner, bob = self.new_user(), self.new_user()
        r = self.api.post("/api/auth/encryption", {"password": owner.password},
                          token=owner.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        text = "the vault code is %s" % uuid.uuid4().hex[:10]
        m = self.create_memory(owner.token, text)
        self.assertTrue(m["is_encrypted"])
        r = self.api.post("/api/memories/%s/share" % m["id"], {"emails": [bob.email]},
                          token=owner.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        got = self.api.get("/api/memories/" + m["id"], token=bob.token)
        self.assertEqual(got.status, 200, got.raw[:300])
        self.assertEqual(got.json["content"], text)
        self.assertTrue(got.json["is_encrypted"])
        lst = self.api.get("/api/memories?shared=with_me", token=bob.token).json["memories"]
        self.assertEqual([x["content"] for x in lst], [text])
        # The owner logs out: their data locks, and so does the share.
        r = self.api.post("/api/auth/logout", token=owner.token)
        self.assertEqual(r.status, 204, r.raw[:300])
        # Behind several instances the lock travels on the cache's pub/sub
        # (docs/SCALING.md): the instance answering may get it a moment
        # after the logout returns. One instance answers 423 at once.
        r = harness.poll(lambda: (lambda x: x if x.status == 423 else None)(
            self.api.get("/api/memories/" + m["id"], token=bob.token)), timeout=10)
        self.assertIsNotNone(r, "the share stayed readable after the owner locked")
        self.assert_error(r, 423, code="data_locked")
        lst = self.api.get("/api/memories?shared=with_me", token=bob.token).json["memories"]
        self.assertEqual(lst, [])
        # Sharing while locked is refused, and says why: log in (unlocks),
        # make an API token, log out (locks again), share with the token.
        sess = self.api.post("/api/auth/login", {"email": owner.email,
                                                 "password": owner.password})
        self.assertEqual(sess.status, 200, sess.raw[:300])
        pat = self.api.post("/api/auth/tokens", {"name": "t", "scope": "write"},
                            token=sess.json["access_token"])
        self.assertEqual(pat.status, 201, pat.raw[:300])
        self.api.post("/api/auth/logout", token=sess.json["access_token"])
        eve = self.new_user()
        r = self.api.post("/api/memories/%s/share" % m["id"], {"emails": [eve.email]},
                          token=pat.json["token"])
        self.assert_error(r, 423)
        self.assertIn("encrypted", r.json["error"]["message"])


if __name__ == "__main__":
    import unittest
    unittest.main()
