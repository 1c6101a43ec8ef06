"""Registration, login, token refresh and rotation, logout, /me and PATCH /me."""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import DEFAULT_PASSWORD, TIMESTAMP_RE, UUID_RE, unique_email  # noqa: E402

PERSONA_DEFAULTS = {
    "name": "Assistant",
    "formality": 5,
    "verbosity": 5,
    "humor": 3,
    "proactivity": 5,
    "use_emojis": False,
    "provide_suggestions": True,
    "ask_clarifying_questions": True,
    "expertise_areas": [],
    "system_prompt_additions": "",
}


class AuthTestCase(harness.ApiTestCase):

    def assert_token_answer(self, body):
        self.assertIsInstance(body, dict)
        self.assertIsInstance(body.get("access_token"), str)
        self.assertTrue(body["access_token"].startswith("pos_at."), body["access_token"])
        self.assertIsInstance(body.get("refresh_token"), str)
        self.assertTrue(body["refresh_token"])
        self.assertNotEqual(body["access_token"], body["refresh_token"])
        self.assertEqual(body.get("token_type"), "bearer")
        self.assertIsInstance(body.get("expires_in"), int)

    def assert_unauthorized(self, token, path="/api/auth/me"):
        r = self.api.get(path, token=token)
        self.assert_error(r, 401, "unauthorized")

    def refresh(self, refresh_token):
        return self.api.post("/api/auth/refresh", {"refresh_token": refresh_token})


class RegisterTest(AuthTestCase):

    def test_register_answer_shape(self):
        email = unique_email("Reg").replace("@example.com", "@Example.COM")
        r = self.api.post("/api/auth/register",
                          {"email": email, "password": DEFAULT_PASSWORD,
                           "full_name": "Ada Lovelace"})
        self.assertEqual(r.status, 201, r.raw[:500])
        self.assert_token_answer(r.json)
        self.assertEqual(r.json["expires_in"], 900)
        user = r.json["user"]
        self.assertRegex(user["id"], UUID_RE)
        self.assertEqual(user["email"], email.lower())
        self.assertEqual(user["full_name"], "Ada Lovelace")
        self.assertEqual(user["privacy_tier"], "local")
        self.assertEqual(user["plan"], "free")
        self.assertEqual(user["settings"], {})
        self.assertNotIn("password", user)
        self.assertNotIn("password_hash", user)
        # The access token works at once.
        me = self.me(r.json["access_token"])
        self.assertEqual(me["id"], user["id"])

    def test_register_without_full_name(self):
        u = self.new_user()
        me = self.me(u.token)
        self.assertIsNone(me["full_name"])

    def test_email_taken_409_also_in_another_case(self):
        email = unique_email("taken")
        self.api.register(email)
        r = self.api.post("/api/auth/register", {"email": email, "password": DEFAULT_PASSWORD})
        self.assert_error(r, 409, "email_taken")
        r = self.api.post("/api/auth/register",
                          {"email": email.upper(), "password": DEFAULT_PASSWORD + "x"})
        self.assert_error(r, 409, "email_taken")
        # The original password still logs in: the second attempt changed nothing.
        self.api.login(email)

    def test_weak_password(self):
        for pw in ("", "short", "123456789"):
            with self.subTest(password=pw):
                r = self.api.post("/api/auth/register",
                                  {"email": unique_email(), "password": pw})
                self.assert_error(r, 422, "weak_password", field="password")
        r = self.api.post("/api/auth/register",
                          {"email": unique_email(), "password": "x" * 1025})
        self.assert_error(r, 422, "weak_password", field="password")

    def test_password_boundaries_accepted(self):
        # ten characters and 1024 bytes, both hard to guess (zxcvbn score >= 3)
        long_pw = "".join("kq7vx2mzrt9wbn4h"[(i * 7 + i // 16) % 16] for i in range(1024))
        for pw in ("Tz8#qLm2vR", long_pw):
            with self.subTest(length=len(pw)):
                email = unique_email()
                self.api.register(email, pw)
                self.api.login(email, pw)

    def test_guessable_passwords_are_refused_with_score_and_hint(self):
        # Long enough, but zxcvbn finds them at once (docs/SECURITY.md).
        for pw, hint in (("aaaaaaaaaa", "repeated"), ("0123456789", "sequences"),
                         ("password123", "common"), ("y" * 1024, "repeated")):
            with self.subTest(pw=pw[:12]):
                email = unique_email()
                r = self.api.post("/api/auth/register", {"email": email, "password": pw})
                self.assert_error(r, 422, "weak_password", field="password")
                msg = r.json["error"]["message"]
                self.assertIn("too easy to guess", msg)
                self.assertRegex(msg, r"strength [0-2] of 4, at least 3 needed")
                self.assertIn(hint, msg)
                self.assert_error(self.api.post("/api/auth/login",
                                                {"email": email, "password": pw}), 401)
        # the harness's default passphrase is strong enough
        self.api.register(unique_email(), "correct horse battery")

    def test_weak_password_creates_no_user(self):
        email = unique_email()
        r = self.api.post("/api/auth/register", {"email": email, "password": "short"})
        self.assert_error(r, 422, "weak_password")
        self.api.register(email)  # the address is still free

    def test_invalid_email(self):
        bad = ["plainaddress", "two@@example.com", "a@b@example.com", "no-dot@localhost",
               "has space@example.com", "@example.com", "user@",
               "x" * 250 + "@example.com"]
        for email in bad:
            with self.subTest(email=email[:40]):
                r = self.api.post("/api/auth/register",
                                  {"email": email, "password": DEFAULT_PASSWORD})
                self.assert_error(r, 422, "invalid_email", field="email")

    def test_missing_fields(self):
        r = self.api.post("/api/auth/register", {"password": DEFAULT_PASSWORD})
        self.assert_error(r, 422, "missing_field", field="email")
        r = self.api.post("/api/auth/register", {"email": unique_email()})
        self.assert_error(r, 422, "missing_field", field="password")
        r = self.api.post("/api/auth/login", {"email": unique_email()})
        self.assert_error(r, 422, "missing_field", field="password")
        r = self.api.post("/api/auth/refresh", {})
        self.assert_error(r, 422, "missing_field", field="refresh_token")

    def test_unknown_fields_are_ignored(self):
        r = self.api.post("/api/auth/register",
                          {"email": unique_email(), "password": DEFAULT_PASSWORD,
                           "plan": "premium", "favourite_colour": "teal"})
        self.assertEqual(r.status, 201, r.raw[:300])
        self.assertEqual(r.json["user"]["plan"], "free")


class LoginTest(AuthTestCase):

    def test_login_ok_and_case_insensitive(self):
        email = unique_email("login")
        reg = self.api.register(email)
        for form in (email, email.upper()):
            with self.subTest(email=form):
                r = self.api.post("/api/auth/login",
                                  {"email": form, "password": DEFAULT_PASSWORD})
                self.assertEqual(r.status, 200, r.raw[:300])
                self.assert_token_answer(r.json)
                self.assertEqual(r.json["user"]["id"], reg["user"]["id"])
                me = self.me(r.json["access_token"])
                self.assertEqual(me["email"], email.lower())
                self.assertRegex(me["last_login_at"], TIMESTAMP_RE)

    def test_invalid_credentials_same_answer_for_both_cases(self):
        email = unique_email()
        self.api.register(email)
        wrong_pw = self.api.post("/api/auth/login",
                                 {"email": email, "password": DEFAULT_PASSWORD + "!"})
        e1 = self.assert_error(wrong_pw, 401, "invalid_credentials")
        unknown = self.api.post("/api/auth/login",
                                {"email": unique_email(), "password": DEFAULT_PASSWORD})
        e2 = self.assert_error(unknown, 401, "invalid_credentials")
        self.assertEqual(e1["message"], e2["message"])

    def test_each_login_is_its_own_session(self):
        email = unique_email()
        self.api.register(email)
        a = self.api.login(email)
        b = self.api.login(email)
        self.assertNotEqual(a["refresh_token"], b["refresh_token"])
        r = self.api.post("/api/auth/logout", token=a["access_token"])
        self.assertEqual(r.status, 204, r.raw[:300])
        self.assert_unauthorized(a["access_token"])
        self.me(b["access_token"])  # the other session is untouched
        self.assertEqual(self.refresh(b["refresh_token"]).status, 200)


class TokenTest(AuthTestCase):

    def test_refresh_rotates(self):
        u = self.new_user()
        r = self.refresh(u.refresh_token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assert_token_answer(r.json)
        self.assertNotEqual(r.json["refresh_token"], u.refresh_token)
        self.assertEqual(self.me(r.json["access_token"])["id"], u.id)
        # The old refresh token stops working.
        self.assert_error(self.refresh(u.refresh_token), 401, "invalid_token")

    def test_refresh_chain(self):
        u = self.new_user()
        rt = u.refresh_token
        for _ in range(3):
            r = self.refresh(rt)
            self.assertEqual(r.status, 200, r.raw[:300])
            rt = r.json["refresh_token"]
            self.me(r.json["access_token"])

    def test_reuse_of_rotated_refresh_token_revokes_family(self):
        u = self.new_user()
        first = self.refresh(u.refresh_token)
        self.assertEqual(first.status, 200)
        second = self.refresh(first.json["refresh_token"])
        self.assertEqual(second.status, 200)
        newest_access = second.json["access_token"]
        newest_refresh = second.json["refresh_token"]
        self.me(newest_access)
        # An attacker replays the first, already rotated, refresh token.
        self.assert_error(self.refresh(u.refresh_token), 401, "invalid_token")
        # The whole family is revoked: the newest pair stops working too.
        self.assert_error(self.refresh(newest_refresh), 401, "invalid_token")
        self.assert_unauthorized(newest_access)
        # A fresh login still works.
        self.me(self.api.login(u.email)["access_token"])

    def test_refresh_with_garbage_or_access_token(self):
        u = self.new_user()
        for bad in ("garbage", "", u.token, u.refresh_token + "x", "x" * 5000):
            with self.subTest(token=bad[:20]):
                self.assert_error(self.refresh(bad), 401, "invalid_token")
        self.assertEqual(self.refresh(u.refresh_token).status, 200)

    def test_refresh_token_is_not_a_bearer_token(self):
        u = self.new_user()
        self.assert_unauthorized(u.refresh_token)

    def test_logout_revokes_session(self):
        u = self.new_user()
        r = self.api.post("/api/auth/logout", token=u.token)
        self.assertEqual(r.status, 204, r.raw[:300])
        self.assertEqual(r.raw, b"")
        self.assert_unauthorized(u.token)
        self.assert_unauthorized(u.token, "/api/memories")
        self.assert_error(self.refresh(u.refresh_token), 401, "invalid_token")
        # Logging out again with the dead token is 401.
        self.assert_error(self.api.post("/api/auth/logout", token=u.token), 401, "unauthorized")

    def test_logout_needs_a_token(self):
        self.assert_error(self.api.post("/api/auth/logout"), 401, "unauthorized")

    def test_missing_malformed_tampered_tokens(self):
        u = self.new_user()
        at = u.token
        parts = at.split(".")
        self.assertEqual(len(parts), 3, "access token is not pos_at.<payload>.<mac>")

        def flip(text, i):
            # Change one character in the middle (not the last, whose low
            # bits may be base64 padding a lenient decoder ignores).
            c = "a" if text[i] != "a" else "b"
            return text[:i] + c + text[i + 1:]
        flipped_mac = ".".join([parts[0], parts[1], flip(parts[2], len(parts[2]) // 2)])
        tampered_payload = ".".join([parts[0], flip(parts[1], len(parts[1]) // 2), parts[2]])
        cases = {
            "no header": None,
            "garbage": {"Authorization": "Bearer garbage"},
            "empty bearer": {"Authorization": "Bearer "},
            "basic scheme": {"Authorization": "Basic dXNlcjpwYXNz"},
            "token without scheme": {"Authorization": at},
            "flipped mac": {"Authorization": "Bearer " + flipped_mac},
            "tampered payload": {"Authorization": "Bearer " + tampered_payload},
            "truncated": {"Authorization": "Bearer " + at[: len(at) // 2]},
            "other prefix": {"Authorization": "Bearer xx_at." + at[len("pos_at."):]},
            "huge": {"Authorization": "Bearer pos_at." + "A" * 6000 + ".B"},
        }
        for name, headers in cases.items():
            for path in ("/api/auth/me", "/api/memories"):
                with self.subTest(case=name, path=path):
                    r = self.api.get(path, headers=headers)
                    self.assert_error(r, 401, "unauthorized")
        self.me(at)  # the genuine token still works


class MeTest(AuthTestCase):

    def test_me_fields_and_defaults(self):
        u = self.new_user(full_name="Grace Hopper")
        me = self.me(u.token)
        for key in harness.USER_FIELDS:
            self.assertIn(key, me)
        self.assertEqual(me["id"], u.id)
        self.assertEqual(me["email"], u.email.lower())
        self.assertEqual(me["full_name"], "Grace Hopper")
        self.assertIsNone(me["avatar_url"])
        self.assertEqual(me["privacy_tier"], "local")
        self.assertEqual(me["plan"], "free")
        self.assertEqual(me["settings"], {})
        self.assertEqual(me["total_memories"], 0)
        self.assertRegex(me["created_at"], TIMESTAMP_RE)
        if me["last_login_at"] is not None:
            self.assertRegex(me["last_login_at"], TIMESTAMP_RE)
        for key, value in PERSONA_DEFAULTS.items():
            self.assertEqual(me["ai_persona"].get(key), value, "ai_persona.%s" % key)
        self.assertNotIn("password_hash", me)

    def patch(self, token, body):
        return self.api.patch("/api/auth/me", body, token=token)

    def test_patch_profile_fields(self):
        u = self.new_user()
        r = self.patch(u.token, {"full_name": "Katherine Johnson",
                                 "avatar_url": "https://example.com/kj.png",
                                 "privacy_tier": "cloud"})
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(r.json["full_name"], "Katherine Johnson")
        self.assertEqual(r.json["avatar_url"], "https://example.com/kj.png")
        self.assertEqual(r.json["privacy_tier"], "cloud")
        me = self.me(u.token)
        self.assertEqual(me["full_name"], "Katherine Johnson")
        self.assertEqual(me["avatar_url"], "https://example.com/kj.png")
        self.assertEqual(me["privacy_tier"], "cloud")
        # Only the fields given change; null clears.
        r = self.patch(u.token, {"privacy_tier": "hybrid", "avatar_url": None})
        self.assertEqual(r.status, 200, r.raw[:300])
        me = self.me(u.token)
        self.assertEqual(me["privacy_tier"], "hybrid")
        self.assertIsNone(me["avatar_url"])
        self.assertEqual(me["full_name"], "Katherine Johnson")
        r = self.patch(u.token, {"full_name": None})
        self.assertEqual(r.status, 200)
        self.assertIsNone(self.me(u.token)["full_name"])

    def test_patch_settings_shallow_merge(self):
        u = self.new_user()
        r = self.patch(u.token, {"settings": {"theme": "dark", "lang": "en",
                                              "nested": {"a": 1, "b": 2}}})
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(r.json["settings"], {"theme": "dark", "lang": "en",
                                              "nested": {"a": 1, "b": 2}})
        r = self.patch(u.token, {"settings": {"lang": None, "tz": "UTC",
                                              "nested": {"c": 3}}})
        self.assertEqual(r.status, 200, r.raw[:300])
        expected = {"theme": "dark", "tz": "UTC", "nested": {"c": 3}}
        self.assertEqual(r.json["settings"], expected)
        self.assertEqual(self.me(u.token)["settings"], expected)

    def test_patch_ai_persona_merges_field_by_field(self):
        u = self.new_user()
        r = self.patch(u.token, {"ai_persona": {"humor": 7, "expertise_areas": ["C", "SQL"]}})
        self.assertEqual(r.status, 200, r.raw[:300])
        p = r.json["ai_persona"]
        self.assertEqual(p["humor"], 7)
        self.assertEqual(p["expertise_areas"], ["C", "SQL"])
        self.assertEqual(p["formality"], 5)
        self.assertEqual(p["name"], "Assistant")
        r = self.patch(u.token, {"ai_persona": {"name": "Jeeves", "use_emojis": True}})
        self.assertEqual(r.status, 200, r.raw[:300])
        p = self.me(u.token)["ai_persona"]
        self.assertEqual(p["name"], "Jeeves")
        self.assertIs(p["use_emojis"], True)
        self.assertEqual(p["humor"], 7)
        self.assertEqual(p["expertise_areas"], ["C", "SQL"])
        self.assertEqual(p["verbosity"], 5)

    def test_patch_invalid_persona_fields(self):
        u = self.new_user()
        cases = [
            ({"humor": 11}, "ai_persona.humor"),
            ({"humor": -1}, "ai_persona.humor"),
            ({"humor": "high"}, "ai_persona.humor"),
            ({"humor": True}, "ai_persona.humor"),
            ({"formality": 2.5}, "ai_persona.formality"),
            ({"verbosity": 100}, "ai_persona.verbosity"),
            ({"use_emojis": "yes"}, "ai_persona.use_emojis"),
            ({"name": "n" * 101}, "ai_persona.name"),
            ({"expertise_areas": ["x"] * 51}, "ai_persona.expertise_areas"),
            ({"expertise_areas": ["x" * 101]}, "ai_persona.expertise_areas"),
            ({"expertise_areas": [7]}, "ai_persona.expertise_areas"),
            ({"expertise_areas": "C"}, "ai_persona.expertise_areas"),
            ({"system_prompt_additions": "s" * 4001}, "ai_persona.system_prompt_additions"),
        ]
        for persona, field in cases:
            with self.subTest(persona=str(persona)[:60]):
                r = self.patch(u.token, {"ai_persona": persona})
                err = self.assert_error(r, 422, "invalid_field")
                # An item of a list may be named with its index ("...areas[3]").
                self.assertTrue(str(err.get("field", "")).startswith(field), r.json)
        r = self.patch(u.token, {"ai_persona": "friendly"})
        self.assert_error(r, 422, "invalid_field", field="ai_persona")
        p = self.me(u.token)["ai_persona"]
        for key, value in PERSONA_DEFAULTS.items():
            self.assertEqual(p.get(key), value, "ai_persona.%s changed by a rejected PATCH" % key)

    def test_patch_persona_boundaries_accepted(self):
        u = self.new_user()
        r = self.patch(u.token, {"ai_persona": {"humor": 0, "formality": 10,
                                                "name": "n" * 100,
                                                "expertise_areas": ["e" * 100] * 50,
                                                "system_prompt_additions": "s" * 4000}})
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(r.json["ai_persona"]["humor"], 0)
        self.assertEqual(r.json["ai_persona"]["formality"], 10)

    def test_patch_invalid_profile_fields(self):
        u = self.new_user(full_name="Original")
        cases = [
            ({"privacy_tier": "public"}, "privacy_tier"),
            ({"privacy_tier": 1}, "privacy_tier"),
            ({"avatar_url": "ftp://example.com/a.png"}, "avatar_url"),
            ({"avatar_url": "javascript:alert(1)"}, "avatar_url"),
            ({"avatar_url": "https://example.com/" + "a" * 2048}, "avatar_url"),
            ({"full_name": "f" * 201}, "full_name"),
            ({"full_name": 42}, "full_name"),
            ({"settings": "dark"}, "settings"),
            ({"settings": [1, 2]}, "settings"),
        ]
        for body, field in cases:
            with self.subTest(body=str(body)[:60]):
                self.assert_error(self.patch(u.token, body), 422, "invalid_field", field=field)
        me = self.me(u.token)
        self.assertEqual(me["full_name"], "Original")
        self.assertEqual(me["privacy_tier"], "local")
        self.assertIsNone(me["avatar_url"])
        self.assertEqual(me["settings"], {})

    def test_rejected_patch_changes_nothing(self):
        u = self.new_user(full_name="Before")
        r = self.patch(u.token, {"full_name": "After", "settings": {"k": "v"},
                                 "ai_persona": {"humor": 11}})
        self.assert_error(r, 422, "invalid_field", field="ai_persona.humor")
        me = self.me(u.token)
        self.assertEqual(me["full_name"], "Before")
        self.assertEqual(me["settings"], {})

    def test_patch_needs_auth(self):
        r = self.api.patch("/api/auth/me", {"full_name": "x"})
        self.assert_error(r, 401, "unauthorized")

    def test_read_only_user_fields_ignored(self):
        u = self.new_user()
        r = self.patch(u.token, {"plan": "premium", "email": "other@example.com",
                                 "id": "00000000-0000-4000-8000-000000000000",
                                 "total_memories": 99, "full_name": "Name"})
        self.assertEqual(r.status, 200, r.raw[:300])
        me = self.me(u.token)
        self.assertEqual(me["plan"], "free")
        self.assertEqual(me["email"], u.email.lower())
        self.assertEqual(me["id"], u.id)
        self.assertEqual(me["total_memories"], 0)
        self.assertEqual(me["full_name"], "Name")


class ExpiryTest(AuthTestCase):
    """Short-lived access tokens (PERSONALOS_ACCESS_TTL=1)."""

    server_env = {"PERSONALOS_ACCESS_TTL": "1"}

    def test_expired_access_token_is_401_and_refresh_still_works(self):
        u = self.new_user()
        self.assertEqual(u.answer["expires_in"], 1)
        time.sleep(2.5)
        self.assert_unauthorized(u.token)
        self.assert_unauthorized(u.token, "/api/memories")
        r = self.refresh(u.refresh_token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(self.me(r.json["access_token"])["id"], u.id)


if __name__ == "__main__":
    unittest.main()
