"""Encryption at rest (docs/ENCRYPTION.md): turning it on, the recovery key,
unlocking after a restart (login, refresh), password change, recovery,
search over sealed memories, no plaintext in the data directory, and a
tampered ciphertext that is reported instead of served."""

import os
import shutil
import sqlite3
import sys
import tempfile
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

# Cheap Argon2id so the suite stays quick (the bench measures the default).
FAST_KDF = {"PERSONALOS_PWHASH_OPSLIMIT": "1", "PERSONALOS_PWHASH_MEMLIMIT_KIB": "8192"}

# Ten words that appear nowhere else (not in English, not in the code).
SECRETS = ["zorblaxite", "quiffendorp", "mabbleswick", "trunculoid", "vexilloquark",
           "plonkwarden", "snizzlefrat", "grumbletoft", "wibblecrant", "fjordmuffik"]


def q(s):
    return urllib.parse.quote(s)


class EncryptionBase(harness.ApiTestCase):
    """Helpers shared by the tests with one server and with restarts."""

    def enable(self, user, password=harness.DEFAULT_PASSWORD):
        r = self.api.post("/api/auth/encryption", {"password": password}, token=user.token)
        self.assertEqual(r.status, 200, r.raw[:500])
        rk = r.json["recovery_key"]
        self.assertIsInstance(rk, str)
        self.assertGreaterEqual(len(rk), 40)
        self.assertTrue(r.json["encryption"]["enabled"])
        return rk

    def encryption(self, token):
        return self.me(token)["encryption"]

    def wait_sealed(self, token, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            e = self.encryption(token)
            if e["state"] == "on" and e["progress"] == e["total"]:
                return e
            time.sleep(0.1)
        self.fail("background encryption did not finish: %r" % (self.encryption(token),))

    def search(self, token, query, mode="hybrid", status=200):
        r = self.api.get("/api/memories/search?mode=%s&query=%s" % (mode, q(query)),
                         token=token)
        self.assertEqual(r.status, status, r.raw[:500])
        return r.json

    def search_ids(self, token, query, mode="hybrid"):
        return [m["id"] for m in self.search(token, query, mode)["memories"]]


class EncryptionTest(EncryptionBase):
    server_env = FAST_KDF

    def test_enable_once_with_the_right_password(self):
        u = self.new_user()
        e = self.encryption(u.token)
        self.assertFalse(e["enabled"])
        self.assertEqual(e["state"], "off")
        # wrong password: 401 and nothing changes
        r = self.api.post("/api/auth/encryption", {"password": "not the password"},
                          token=u.token)
        self.assert_error(r, 401)
        self.assertFalse(self.encryption(u.token)["enabled"])
        r = self.api.post("/api/auth/encryption", {}, token=u.token)
        self.assert_error(r, 422, field="password")
        rk = self.enable(u)
        self.assertTrue(rk.startswith("posrk_"))
        e = self.encryption(u.token)
        self.assertTrue(e["enabled"])
        self.assertTrue(e["unlocked"])
        self.assertNotIn(rk, self.api.get("/api/auth/me", token=u.token).raw.decode())
        # twice: 409, and the recovery key is not shown again
        r = self.api.post("/api/auth/encryption", {"password": u.password}, token=u.token)
        self.assert_error(r, 409)
        self.assertNotIn("recovery_key", r.json)
        # needs a session, not a bearer API token
        r = self.api.post("/api/auth/encryption", {"password": u.password})
        self.assert_error(r, 401)

    def test_memories_work_and_are_marked_encrypted(self):
        u = self.new_user()
        plain = self.new_user()
        self.enable(u)
        m = self.create_memory(u.token, "The running shoes are in the blue closet",
                               tags=["Home Stuff", "errand"], metadata={"room": "hall"},
                               attachments=[{"name": "a.txt"}])
        self.assertTrue(m["is_encrypted"])
        other = self.create_memory(u.token, "Quarterly budget meeting with Anna",
                                   tags=["work"], type="event")
        self.create_memory(plain.token, "The running shoes of the plain user")
        got = self.get_memory(u.token, m["id"])
        self.assertEqual(got["content"], "The running shoes are in the blue closet")
        self.assertEqual(got["tags"], ["Home Stuff", "errand"])
        self.assertEqual(got["metadata"], {"room": "hall"})
        self.assertEqual(got["attachments"], [{"name": "a.txt"}])
        self.assertTrue(got["is_encrypted"])
        lst = self.list_memories(u.token)
        self.assertEqual({x["id"] for x in lst["memories"]}, {m["id"], other["id"]})
        self.assertTrue(all(x["is_encrypted"] for x in lst["memories"]))
        self.assertEqual(self.list_memories(u.token, "tag=errand")["total"], 1)
        self.assertEqual(self.list_memories(u.token, "tag=" + q("Home Stuff"))["memories"][0]["id"],
                         m["id"])
        self.assertEqual(self.list_memories(u.token, "tag=missing")["total"], 0)
        self.assertEqual(self.list_memories(u.token, "type=event")["total"], 1)
        # keyword search: stemming (runs ~ running), tags, phrases, filters
        self.assertEqual(self.search_ids(u.token, "runs", "keyword"), [m["id"]])
        self.assertEqual(self.search_ids(u.token, "closet", "keyword"), [m["id"]])
        self.assertEqual(self.search_ids(u.token, "errand", "keyword"), [m["id"]])
        self.assertEqual(self.search_ids(u.token, '"blue closet"', "keyword"), [m["id"]])
        self.assertEqual(self.search_ids(u.token, '"closet blue"', "keyword"), [])
        self.assertEqual(self.search_ids(u.token, "budget -anna", "keyword"), [])
        self.assertEqual(self.search_ids(u.token, "budget type:event", "keyword"), [other["id"]])
        self.assertEqual(self.search_ids(u.token, "budget tag:work", "keyword"), [other["id"]])
        hit = self.search(u.token, "running shoes", "keyword")["memories"][0]
        self.assertEqual(hit["content"], "The running shoes are in the blue closet")
        self.assertTrue(hit["is_encrypted"])
        # semantic search works from the decrypted vectors
        self.assertEqual(self.search_ids(u.token, "quarterly budgets", "semantic")[0], other["id"])
        self.assertEqual(self.search_ids(u.token, "running shoes closet", "hybrid")[0], m["id"])
        # the plain user is not affected, and sees nothing of u
        self.assertEqual(len(self.search_ids(plain.token, "running shoes", "keyword")), 1)
        self.assertEqual(self.search_ids(plain.token, "closet", "keyword"), [])
        # update re-seals; the old words are gone from the index
        r = self.api.put("/api/memories/" + m["id"], {"content": "Umbrella by the door"},
                         token=u.token)
        self.assertEqual(r.status, 200, r.raw[:500])
        self.assertEqual(r.json["content"], "Umbrella by the door")
        self.assertEqual(r.json["tags"], ["Home Stuff", "errand"])
        self.assertEqual(self.search_ids(u.token, "umbrella", "keyword"), [m["id"]])
        self.assertEqual(self.search_ids(u.token, "closet", "keyword"), [])
        r = self.api.put("/api/memories/" + m["id"], {"tags": ["new"]}, token=u.token)
        self.assertEqual(r.status, 200, r.raw[:500])
        self.assertEqual(self.list_memories(u.token, "tag=new")["total"], 1)
        self.assertEqual(self.list_memories(u.token, "tag=errand")["total"], 0)
        self.assertEqual(self.get_memory(u.token, m["id"])["content"], "Umbrella by the door")
        # stats name the sealed tags (never their hashes); the graph shows
        # decrypted labels
        r = self.api.get("/api/memories/stats", token=u.token)
        self.assertEqual(r.status, 200, r.raw[:500])
        self.assertEqual(r.json["total"], 2)
        self.assertIn({"tag": "new", "count": 1}, r.json["top_tags"])
        self.assertFalse([t for t in r.json["top_tags"] if t["tag"].startswith("#")])
        # so do the local categories (their own tag count, tag_counts)
        r = self.api.get("/api/memories/categories", token=u.token)
        self.assertEqual(r.status, 200, r.raw[:500])
        tags = [c for c in r.json["categories"] if c.get("kind") == "tag"]
        self.assertIn({"name": "new", "count": 1, "kind": "tag"}, tags)
        self.assertEqual(sorted(c["name"] for c in tags),
                         sorted(t["tag"] for t in self.api.get(
                             "/api/memories/stats", token=u.token).json["top_tags"]))
        r = self.api.get("/api/memories/graph", token=u.token)
        self.assertEqual(r.status, 200, r.raw[:500])
        labels = {n["id"]: n["label"] for n in r.json["nodes"]}
        self.assertEqual(labels[m["id"]], "Umbrella by the door")
        # delete
        self.assertEqual(self.api.delete("/api/memories/" + m["id"], token=u.token).status, 204)
        self.assertEqual(self.search_ids(u.token, "umbrella", "keyword"), [])
        self.assertEqual(self.memory_count(u.token), 1)

    def test_bulk_threads_and_embeddings(self):
        u = self.new_user()
        plain = self.new_user()
        self.enable(u)
        items = [{"content": "Did we visit the aquarium with the kids?",
                  "metadata": {"thread": "chat-1"}},
                 {"content": "Yes, yesterday! They loved it.", "metadata": {"thread": "chat-1"}}]
        r = self.api.post("/api/memories/bulk", {"memories": items}, token=u.token)
        self.assertEqual(r.status, 201, r.raw[:500])
        ids = r.json["ids"]
        r = self.api.post("/api/memories/bulk", {"memories": items}, token=plain.token)
        pids = r.json["ids"]
        # a later single create in the same thread gets the context too
        m3 = self.create_memory(u.token, "Next time the zoo", metadata={"thread": "chat-1"})
        # the reply is found by what it answers (thread context), for both
        self.assertIn(ids[1], self.search_ids(u.token, "aquarium", "keyword"))
        self.assertIn(pids[1], self.search_ids(plain.token, "aquarium", "keyword"))
        self.assertIn(m3["id"], self.search_ids(u.token, "loved", "keyword"))
        for mid in ids:
            self.assertTrue(self.get_memory(u.token, mid)["is_encrypted"])
        # the stored embedding is the same as a plain user's for the same text
        r = self.api.get("/api/memories/%s?include=embedding" % ids[0], token=u.token)
        self.assertEqual(r.status, 200, r.raw[:500])
        p = self.api.get("/api/memories/%s?include=embedding" % pids[0], token=plain.token)
        self.assertEqual(p.status, 200, p.raw[:500])
        self.assertIn("embedding", r.json)
        self.assertEqual(r.json["embedding"], p.json["embedding"])

    def test_common_words_are_pruned_by_the_users_own_tokens(self):
        # docs/SEARCH.md: a word in more than max(2000, 2%) of the indexed
        # memories is dropped from the OR list when rarer words carry the
        # query. For an encrypted user the counts are of its tokens.
        u = self.new_user()
        self.enable(u)
        for start in range(0, 2400, 800):
            r = self.api.post("/api/memories/bulk",
                              {"memories": [{"content": "a frequent marmalade entry %d" % i}
                                            for i in range(start, start + 800)]},
                              token=u.token)
            self.assertEqual(r.status, 201, r.raw[:300])
        rare = self.create_memory(u.token, "marmalade and a quokka")
        body = self.search(u.token, "marmalade quokka", "keyword")
        self.assertEqual([m["id"] for m in body["memories"]], [rare["id"]])
        self.assertEqual(body["total"], 1)
        # alone, the common word still finds its memories
        self.assertGreater(self.search(u.token, "marmalade", "keyword")["total"], 100)

    def test_existing_memories_are_sealed_in_the_background(self):
        u = self.new_user()
        ids = [self.create_memory(u.token, "note %d about the lighthouse keeper" % i,
                                  tags=["sea"], metadata={"thread": "t1"})["id"]
               for i in range(30)]
        self.enable(u)
        e = self.wait_sealed(u.token)
        self.assertEqual(e["total"], 30)
        for i in (0, 17, 29):
            got = self.get_memory(u.token, ids[i])
            self.assertTrue(got["is_encrypted"])
            self.assertEqual(got["content"], "note %d about the lighthouse keeper" % i)
            self.assertEqual(got["metadata"], {"thread": "t1"})
        self.assertEqual(len(self.search_ids(u.token, "lighthouse", "keyword")), 20)
        self.assertEqual(self.list_memories(u.token, "tag=sea")["total"], 30)
        self.assertGreater(len(self.search_ids(u.token, "lighthouse keeper", "semantic")), 0)
        # phrases match in order (the next two turns carry it as context)
        hits = self.search_ids(u.token, '"note 17"', "keyword")
        self.assertEqual(hits[0], ids[17])
        self.assertEqual(set(hits), {ids[17], ids[18], ids[19]})

    def test_password_change_rewraps_and_recovery(self):
        u = self.new_user()
        rk = self.enable(u)
        m = self.create_memory(u.token, "the spare key is under the flowerpot")
        r = self.api.post("/api/auth/password", {"old_password": "wrong password!",
                                                 "new_password": "a brand new secret"},
                          token=u.token)
        self.assert_error(r, 401)
        r = self.api.post("/api/auth/password", {"old_password": u.password,
                                                 "new_password": "short"}, token=u.token)
        self.assert_error(r, 422, field="new_password")
        # long enough but guessable: refused by the zxcvbn rule
        r = self.api.post("/api/auth/password", {"old_password": u.password,
                                                 "new_password": "aaaaaaaaaa"}, token=u.token)
        self.assert_error(r, 422, "weak_password", field="new_password")
        self.assertIn("too easy to guess", r.json["error"]["message"])
        r = self.api.post("/api/auth/password", {"old_password": u.password,
                                                 "new_password": "a brand new secret"},
                          token=u.token)
        self.assertEqual(r.status, 200, r.raw[:500])
        self.assertIn("revoked", r.json)
        r = self.api.post("/api/auth/login", {"email": u.email, "password": u.password})
        self.assert_error(r, 401)
        t = self.api.login(u.email, "a brand new secret")["access_token"]
        self.assertEqual(self.get_memory(t, m["id"])["content"],
                         "the spare key is under the flowerpot")
        # recovery refuses a guessable new password
        r = self.api.post("/api/auth/encryption/recover",
                          {"email": u.email, "recovery_key": rk, "new_password": "qwertyuiop"})
        self.assert_error(r, 422, "weak_password")
        # recovery: a wrong key changes nothing
        r = self.api.post("/api/auth/encryption/recover",
                          {"email": u.email, "recovery_key": rk[:-2] + "AA",
                           "new_password": "recovered garden lantern"})
        self.assert_error(r, 401)
        r = self.api.post("/api/auth/encryption/recover",
                          {"email": "nobody@example.com", "recovery_key": rk,
                           "new_password": "recovered garden lantern"})
        self.assert_error(r, 401)
        self.api.login(u.email, "a brand new secret")
        r = self.api.post("/api/auth/encryption/recover",
                          {"email": u.email, "recovery_key": rk,
                           "new_password": "recovered garden lantern"})
        self.assertEqual(r.status, 200, r.raw[:500])
        self.assertTrue(r.json["encryption"]["enabled"])
        t = self.api.login(u.email, "recovered garden lantern")["access_token"]
        self.assertEqual(self.get_memory(t, m["id"])["content"],
                         "the spare key is under the flowerpot")
        # recovery of a user without encryption: the same 401 as an unknown
        # email or a wrong key (no account enumeration)
        p = self.new_user()
        r = self.api.post("/api/auth/encryption/recover",
                          {"email": p.email, "recovery_key": rk, "new_password": "whatever garden lantern"})
        self.assert_error(r, 401)

    def test_logout_locks(self):
        u = self.new_user()
        self.enable(u)
        m = self.create_memory(u.token, "the locker code is seven")
        other = self.api.login(u.email)
        self.assertEqual(self.api.post("/api/auth/logout", token=u.token).status, 204)
        r = self.api.get("/api/memories/" + m["id"], token=other["access_token"])
        self.assert_error(r, 423, code="data_locked")
        r = self.api.get("/api/memories/search?query=locker", token=other["access_token"])
        self.assert_error(r, 423, code="data_locked")
        # the other session's refresh token unlocks again
        r = self.api.post("/api/auth/refresh", {"refresh_token": other["refresh_token"]})
        self.assertEqual(r.status, 200, r.raw[:500])
        self.assertEqual(self.get_memory(r.json["access_token"], m["id"])["content"],
                         "the locker code is seven")


class EncryptionRestartTest(EncryptionBase):
    """Restarts and raw looks at the data directory."""

    @classmethod
    def setUpClass(cls):
        harness.require_local("restarts the server and reads its files")
        harness.require_binary()

    @classmethod
    def tearDownClass(cls):
        pass

    def setUp(self):
        self.data_dir = tempfile.mkdtemp(prefix="pos-crypt-")
        self.addCleanup(shutil.rmtree, self.data_dir, True)
        self.server = None

    def start(self):
        self.server = harness.Server(data_dir=self.data_dir, env=FAST_KDF).start()
        self.api = harness.Api(self.server.base_url)
        return self.server

    def stop(self):
        self.api.close()
        self.server.stop()  # a clean stop checkpoints the WAL into the file
        self.server = None

    def tearDown(self):
        if self.server is not None:
            self.stop()

    def test_restart_locks_until_login_or_refresh(self):
        self.start()
        u = self.new_user()
        self.enable(u)
        m = self.create_memory(u.token, "the boat is moored at pier nine", tags=["boat"])
        gone = self.create_memory(u.token, "to be deleted while locked")
        self.stop()
        self.start()
        # locked: 423 for everything that needs plaintext
        for path in ("/api/memories/" + m["id"], "/api/memories",
                     "/api/memories/search?query=boat", "/api/memories/graph"):
            self.assert_error(self.api.get(path, token=u.token), 423, code="data_locked")
        r = self.api.post("/api/memories", {"content": "x"}, token=u.token)
        self.assert_error(r, 423, code="data_locked")
        e = self.encryption(u.token)
        self.assertTrue(e["enabled"])
        self.assertFalse(e["unlocked"])
        # what needs no plaintext still works while locked
        r = self.api.get("/api/memories/stats", token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(r.json["total"], 2)
        self.assertEqual(r.json["top_tags"], [])
        self.assertEqual(self.api.delete("/api/memories/" + gone["id"], token=u.token).status, 204)
        # a login unlocks
        t = self.api.login(u.email)
        self.assertEqual(self.get_memory(t["access_token"], m["id"])["content"],
                         "the boat is moored at pier nine")
        self.assertEqual(self.search_ids(t["access_token"], "moored", "keyword"), [m["id"]])
        self.assertEqual(self.search_ids(t["access_token"], "boat pier", "semantic")[0], m["id"])
        self.stop()
        self.start()
        # after another restart the refresh token of that login unlocks
        self.assert_error(self.api.get("/api/memories/" + m["id"], token=t["access_token"]),
                          423, code="data_locked")
        r = self.api.post("/api/auth/refresh", {"refresh_token": t["refresh_token"]})
        self.assertEqual(r.status, 200, r.raw[:500])
        self.assertEqual(self.get_memory(r.json["access_token"], m["id"])["content"],
                         "the boat is moored at pier nine")
        # and so does the rotated one, after one more restart
        self.stop()
        self.start()
        r2 = self.api.post("/api/auth/refresh", {"refresh_token": r.json["refresh_token"]})
        self.assertEqual(r2.status, 200, r2.raw[:500])
        self.assertEqual(self.get_memory(r2.json["access_token"], m["id"])["content"],
                         "the boat is moored at pier nine")
        # only the live token of the session carries a key wrap; logout
        # drops it (its secret must not open the key any more)
        self.stop()
        db = sqlite3.connect(os.path.join(self.data_dir, "personalos.db"))
        wraps = db.execute("SELECT count(*) FROM refresh_tokens r JOIN sessions s"
                           " ON s.id = r.session_id JOIN users u ON u.id = s.user_id"
                           " WHERE u.email = ? AND r.dek_wrap IS NOT NULL",
                           (u.email,)).fetchone()[0]
        db.close()
        self.assertEqual(wraps, 1)
        self.start()
        self.assertEqual(self.api.post("/api/auth/logout",
                                       token=r2.json["access_token"]).status, 204)
        self.stop()
        db = sqlite3.connect(os.path.join(self.data_dir, "personalos.db"))
        wraps = db.execute("SELECT count(*) FROM refresh_tokens WHERE dek_wrap IS NOT NULL"
                           ).fetchone()[0]
        db.close()
        self.assertEqual(wraps, 0)
        self.start()
        r3 = self.api.post("/api/auth/refresh", {"refresh_token": r2.json["refresh_token"]})
        self.assert_error(r3, 401)

    def test_expired_refresh_tokens_lose_their_key_wrap(self):
        self.start()
        u = self.new_user()
        self.enable(u)
        self.api.login(u.email)  # this session's refresh token gets a wrap
        self.stop()
        path = os.path.join(self.data_dir, "personalos.db")
        db = sqlite3.connect(path)
        n = db.execute("UPDATE refresh_tokens SET expires_at = 1"
                       " WHERE dek_wrap IS NOT NULL").rowcount
        db.commit()
        db.close()
        self.assertEqual(n, 1)
        self.start()  # the worker sweeps at start
        deadline = time.time() + 10
        while True:
            db = sqlite3.connect(path)
            left = db.execute("SELECT count(*) FROM refresh_tokens"
                              " WHERE dek_wrap IS NOT NULL").fetchone()[0]
            db.close()
            if left == 0 or time.time() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(left, 0)

    def test_background_pass_resumes_after_restart(self):
        self.start()
        u = self.new_user()
        n = 3000
        for start in range(0, n, 1000):
            r = self.api.post("/api/memories/bulk",
                              {"memories": [{"content": "entry %d of the ship log" % i,
                                             "tags": ["log"]}
                                            for i in range(start, start + 1000)]},
                              token=u.token)
            self.assertEqual(r.status, 201, r.raw[:300])
        self.enable(u)
        self.stop()  # most likely mid-pass; the pass stops between batches
        self.start()
        e = self.encryption(u.token)
        self.assertTrue(e["enabled"])
        self.assertEqual(e["total"], n)
        t = self.api.login(u.email)["access_token"]  # unlocks; the pass goes on
        e = self.wait_sealed(t, timeout=120)
        self.assertEqual((e["progress"], e["total"]), (n, n))
        self.assertEqual(self.list_memories(t, "tag=log&limit=1")["total"], n)
        self.assertEqual(self.search(t, '"entry 2999"', "keyword")["memories"][0]["content"],
                         "entry 2999 of the ship log")

    def test_no_plaintext_in_the_data_directory(self):
        self.start()
        u = self.new_user()
        # some memories exist before encryption is turned on (the background
        # pass must remove their plaintext), the rest are written after
        before = [self.create_memory(u.token, "diary: %s and %s" % (SECRETS[0], SECRETS[1]),
                                     tags=[SECRETS[2]], metadata={"thread": SECRETS[3]}),
                  self.create_memory(u.token, "reply about it", metadata={"thread": SECRETS[3]})]
        self.enable(u)
        self.wait_sealed(u.token)
        after = [self.create_memory(u.token, "%s went to %s" % (SECRETS[4], SECRETS[5]),
                                    tags=[SECRETS[6]], metadata={"note": SECRETS[7]},
                                    attachments=[{"name": SECRETS[8]}]),
                 self.create_memory(u.token, "later: " + SECRETS[9],
                                    metadata={"thread": SECRETS[3]})]
        r = self.api.put("/api/memories/" + after[1]["id"],
                         {"content": "later still: %s %s" % (SECRETS[9], SECRETS[0])},
                         token=u.token)
        self.assertEqual(r.status, 200, r.raw[:500])
        # everything is still found
        for w in (SECRETS[0], SECRETS[4], SECRETS[9]):
            self.assertTrue(self.search_ids(u.token, w, "keyword"), w)
        self.assertEqual(self.list_memories(u.token, "tag=" + SECRETS[6])["total"], 1)
        self.assertEqual(self.get_memory(u.token, after[0]["id"])["metadata"],
                         {"note": SECRETS[7]})
        self.assertEqual(self.get_memory(u.token, before[0]["id"])["tags"], [SECRETS[2]])
        self.stop()
        files = []
        for root, _dirs, names in os.walk(self.data_dir):
            files += [os.path.join(root, n) for n in names]
        self.assertTrue(any(f.endswith("personalos.db") for f in files), files)
        for path in files:
            with open(path, "rb") as f:
                data = f.read().lower()
            for w in SECRETS:
                self.assertNotIn(w.encode(), data, "%r found in %s" % (w, path))

    def test_tampered_ciphertext_is_reported_not_served(self):
        self.start()
        u = self.new_user()
        self.enable(u)
        good = self.create_memory(u.token, "an intact memory about gardening")
        bad = self.create_memory(u.token, "a memory about gardening that will be altered")
        self.stop()
        db = sqlite3.connect(os.path.join(self.data_dir, "personalos.db"))
        (blob,) = db.execute("SELECT sealed FROM memories WHERE id = ?", (bad["id"],)).fetchone()
        self.assertIsInstance(blob, bytes)
        blob = bytearray(blob)
        blob[40] ^= 0x01
        db.execute("UPDATE memories SET sealed = ? WHERE id = ?", (bytes(blob), bad["id"]))
        db.commit()
        db.close()
        self.start()
        t = self.api.login(u.email)["access_token"]
        r = self.api.get("/api/memories/" + bad["id"], token=t)
        err = self.assert_error(r, 500, code="integrity_error")
        self.assertNotIn("gardening", r.raw.decode())
        self.assertIn(bad["id"], self.server.stderr_text() + err["message"])
        self.assertEqual(self.get_memory(t, good["id"])["content"],
                         "an intact memory about gardening")
        listed = [m["id"] for m in self.list_memories(t)["memories"]]
        self.assertEqual(listed, [good["id"]])
        self.assertEqual(self.search_ids(t, "gardening", "keyword"), [good["id"]])
        # a tampered vector: the memory is still served, the vector not used
        self.stop()
        db = sqlite3.connect(os.path.join(self.data_dir, "personalos.db"))
        (vblob,) = db.execute("SELECT v.vec FROM memory_vectors v JOIN memories m"
                              " ON m.seq = v.memory_seq WHERE m.id = ?",
                              (good["id"],)).fetchone()
        self.assertNotEqual(len(vblob), 256)  # sealed, not the plain int8 vector
        vblob = bytearray(vblob)
        vblob[60] ^= 0x01
        db.execute("UPDATE memory_vectors SET vec = ? WHERE memory_seq ="
                   " (SELECT seq FROM memories WHERE id = ?)", (bytes(vblob), good["id"]))
        db.commit()
        db.close()
        self.start()
        t = self.api.login(u.email)["access_token"]
        r = self.api.get("/api/memories/%s?include=embedding" % good["id"], token=t)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(r.json["content"], "an intact memory about gardening")
        self.assertFalse(r.json.get("embedding"))
        self.assertEqual(self.search_ids(t, "gardening", "semantic"), [])
        self.assertEqual(self.search_ids(t, "gardening", "keyword"), [good["id"]])
        # swapping two rows' ciphertexts is detected as well (id is bound)
        self.stop()
        db = sqlite3.connect(os.path.join(self.data_dir, "personalos.db"))
        (gblob,) = db.execute("SELECT sealed FROM memories WHERE id = ?", (good["id"],)).fetchone()
        db.execute("UPDATE memories SET sealed = ? WHERE id = ?", (gblob, bad["id"]))
        db.commit()
        db.close()
        self.start()
        t = self.api.login(u.email)["access_token"]
        self.assert_error(self.api.get("/api/memories/" + bad["id"], token=t), 500,
                          code="integrity_error")


if __name__ == "__main__":
    unittest.main()
