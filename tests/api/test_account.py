"""DELETE /api/auth/me: deleting an account removes everything in it and
nothing of anyone else's (MemU's copy: tests/api/test_memu.py)."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


class AccountDeleteTest(harness.ApiTestCase):
    def test_delete_removes_the_account_and_its_memories(self):
        a, b = self.new_user(), self.new_user()
        mine = self.create_memory(a.token, "a private thought about kumquats")
        theirs = self.create_memory(b.token, "b likes kumquats too")
        self.api.post("/api/chat/message", {"message": "kumquats?"}, token=a.token)
        r = self.api.request("DELETE", "/api/auth/me", {"password": a.password}, token=a.token)
        self.assertEqual(r.status, 204, r.raw[:300])
        # The session is gone, and so is the account.
        self.assert_error(self.api.get("/api/auth/me", token=a.token), 401)
        r = self.api.post("/api/auth/login", {"email": a.email, "password": a.password})
        self.assert_error(r, 401)
        # The email is free again, and a new account there starts empty.
        c = self.new_user(email=a.email)
        self.assertEqual(self.list_memories(c.token)["total"], 0)
        r = self.api.get("/api/memories/" + mine["id"], token=c.token)
        self.assert_error(r, 404)
        r = self.api.get("/api/memories/search?query=kumquats", token=c.token)
        self.assertEqual(r.json["memories"], [])
        # b keeps everything.
        self.assertEqual(self.get_memory(b.token, theirs["id"])["content"], theirs["content"])
        ids = [m["id"] for m in self.api.get("/api/memories/search?query=kumquats",
                                               token=b.token).json["memories"]]
        self.assertEqual(ids, [theirs["id"]])

    def test_wrong_or_missing_password_deletes_nothing(self):
        a = self.new_user()
        m = self.create_memory(a.token, "keep me")
        r = self.api.request("DELETE", "/api/auth/me", {"password": "not the password"},
                             token=a.token)
        self.assert_error(r, 401, field="password")
        r = self.api.request("DELETE", "/api/auth/me", {}, token=a.token)
        self.assert_error(r, 422, field="password")
        r = self.api.request("DELETE", "/api/auth/me", token=a.token)
        self.assert_error(r, 400)
        self.assertEqual(self.get_memory(a.token, m["id"])["content"], "keep me")

    def test_personal_api_token_cannot_delete_the_account(self):
        a = self.new_user()
        r = self.api.post("/api/auth/tokens", {"name": "script", "scope": "write"},
                          token=a.token)
        self.assertEqual(r.status, 201, r.raw[:300])
        pat = r.json["token"]
        r = self.api.request("DELETE", "/api/auth/me", {"password": a.password}, token=pat)
        self.assert_error(r, 403)
        self.assertEqual(self.me(a.token)["email"], a.email)


if __name__ == "__main__":
    unittest.main()
