"""Personal API tokens: created once, stored hashed, scoped, revocable; and
the security headers every answer carries."""

import os
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


class ApiTokenTest(harness.ApiTestCase):

    def setUp(self):
        super().setUp()
        self.u = self.new_user()

    def create(self, name="script", scope=None, token=None):
        body = {"name": name}
        if scope is not None:
            body["scope"] = scope
        r = self.api.post("/api/auth/tokens", body, token=token or self.u.token)
        self.assertEqual(r.status, 201, r.raw)
        return r.json

    def test_create_shows_secret_once_and_lists_without_it(self):
        t = self.create("backup script", "write")
        self.assertTrue(t["token"].startswith("pos_pat."))
        self.assertEqual(t["scope"], "write")
        self.assertEqual(t["name"], "backup script")
        self.assertIsNone(t["last_used_at"])
        r = self.api.get("/api/auth/tokens", token=self.u.token)
        self.assertEqual(r.status, 200)
        listed = [x for x in r.json["tokens"] if x["id"] == t["id"]]
        self.assertEqual(len(listed), 1)
        self.assertNotIn("token", listed[0])
        self.assertNotIn(t["token"].encode(), r.raw)

    def test_write_token_works_like_a_session(self):
        t = self.create(scope="write")
        m = self.create_memory(t["token"], "written with a personal token")
        self.assertEqual(m["user_id"], self.u.id)
        got = self.get_memory(self.u.token, m["id"])
        self.assertEqual(got["content"], "written with a personal token")
        me = self.api.get("/api/auth/me", token=t["token"])
        self.assertEqual(me.status, 200)
        self.assertEqual(me.json["id"], self.u.id)
        # its use is recorded
        r = self.api.get("/api/auth/tokens", token=self.u.token)
        listed = [x for x in r.json["tokens"] if x["id"] == t["id"]][0]
        self.assertIsNotNone(listed["last_used_at"])

    def test_read_token_can_only_read(self):
        t = self.create()  # default scope: read
        self.assertEqual(t["scope"], "read")
        m = self.create_memory(self.u.token, "readable")
        r = self.api.get("/api/memories/" + m["id"], token=t["token"])
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json["content"], "readable")
        r = self.api.get("/api/memories/search?query=readable", token=t["token"])
        self.assertEqual(r.status, 200)
        self.assert_error(self.api.post("/api/memories", {"content": "no"}, token=t["token"]),
                          403, "forbidden")
        self.assert_error(self.api.delete("/api/memories/" + m["id"], token=t["token"]),
                          403, "forbidden")
        self.assertEqual(self.memory_count(self.u.token), 1)

    def test_tokens_cannot_manage_tokens_or_log_out(self):
        t = self.create(scope="write")
        self.assert_error(self.api.post("/api/auth/tokens", {"name": "x"}, token=t["token"]),
                          403, "forbidden")
        self.assert_error(self.api.get("/api/auth/tokens", token=t["token"]), 403, "forbidden")
        self.assert_error(self.api.delete("/api/auth/tokens/" + t["id"], token=t["token"]),
                          403, "forbidden")
        self.assert_error(self.api.post("/api/auth/logout", token=t["token"]), 403, "forbidden")
        # the token still works afterwards
        self.assertEqual(self.api.get("/api/auth/me", token=t["token"]).status, 200)

    def test_revoke_stops_it_at_once(self):
        t = self.create(scope="write")
        self.assertEqual(self.api.get("/api/auth/me", token=t["token"]).status, 200)
        r = self.api.delete("/api/auth/tokens/" + t["id"], token=self.u.token)
        self.assertEqual(r.status, 204)
        self.assert_error(self.api.get("/api/auth/me", token=t["token"]), 401, "unauthorized")
        self.assert_error(self.api.delete("/api/auth/tokens/" + t["id"], token=self.u.token),
                          404, "not_found")
        r = self.api.get("/api/auth/tokens", token=self.u.token)
        self.assertNotIn(t["id"], [x["id"] for x in r.json["tokens"]])

    def test_other_users_token_is_404_and_tokens_are_per_user(self):
        t = self.create(scope="write")
        other = self.new_user()
        self.assert_error(self.api.delete("/api/auth/tokens/" + t["id"], token=other.token),
                          404, "not_found")
        r = self.api.get("/api/auth/tokens", token=other.token)
        self.assertEqual(r.json["tokens"], [])
        m = self.create_memory(other.token, "other's memory")
        self.assert_error(self.api.get("/api/memories/" + m["id"], token=t["token"]),
                          404, "not_found")
        self.assertEqual(self.api.get("/api/auth/me", token=t["token"]).status, 200)

    def test_bad_input(self):
        for body, field in (({}, "name"), ({"name": ""}, "name"), ({"name": "x" * 101}, "name"),
                            ({"name": 5}, "name"), ({"name": "a\nb"}, "name"),
                            ({"name": "ok", "scope": "admin"}, "scope"),
                            ({"name": "ok", "scope": 1}, "scope")):
            with self.subTest(body=body):
                r = self.api.post("/api/auth/tokens", body, token=self.u.token)
                self.assertEqual(r.status, 422, r.raw)
                self.assertEqual(r.json["error"]["field"], field)
        for bad in ("pos_pat.", "pos_pat.AAAA", "pos_pat." + "A" * 43, "pos_pat." + "x" * 500):
            with self.subTest(token=bad[:20]):
                self.assert_error(self.api.get("/api/auth/me", token=bad), 401, "unauthorized")
        self.assert_error(self.api.delete("/api/auth/tokens/not-a-uuid", token=self.u.token),
                          404, "not_found")
        self.assert_error(self.api.delete("/api/auth/tokens/" + str(uuid.uuid4()),
                                          token=self.u.token), 404, "not_found")

    def test_security_headers(self):
        for path, token in (("/health", None), ("/api/auth/me", self.u.token), ("/nope", None)):
            with self.subTest(path=path):
                r = self.api.get(path, token=token)
                self.assertEqual(r.headers.get("content-security-policy"),
                                 "default-src 'none'; frame-ancestors 'none'")
                self.assertEqual(r.headers.get("referrer-policy"), "no-referrer")
                self.assertEqual(r.headers.get("x-content-type-options"), "nosniff")


if __name__ == "__main__":
    unittest.main()
