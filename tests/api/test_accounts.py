"""Accounts (issue 12): roles, registration modes and invites, the admin API
and CLI, per-user quotas, revocation on password change and recovery, the
Argon2 gate, the atomic lockout, and no account enumeration.

Each class starts its own server with the environment it needs; the
harness default (registration open) is overridden where the real default
is under test.
"""

import os
import shutil
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

FAST_KDF = {"PERSONALOS_PWHASH_OPSLIMIT": "1", "PERSONALOS_PWHASH_MEMLIMIT_KIB": "8192"}
ADMIN_ROUTES = [("GET", "/api/admin/users"), ("PATCH", "/api/admin/users/{id}"),
                ("DELETE", "/api/admin/users/{id}"), ("POST", "/api/admin/invites"),
                ("GET", "/api/admin/invites"), ("DELETE", "/api/admin/invites/{id}")]


def env(**kw):
    e = dict(FAST_KDF)
    e.update({k: str(v) for k, v in kw.items()})
    return e


class AccountsCase(harness.ApiTestCase):
    server_env = env()

    def register(self, email=None, invite=None, password=harness.DEFAULT_PASSWORD):
        body = {"email": email or harness.unique_email(), "password": password}
        if invite is not None:
            body["invite_code"] = invite
        return self.api.post("/api/auth/register", body)

    def user_from(self, r, email=None):
        self.assertEqual(r.status, 201, r.raw[:300])
        return harness.User(email or r.json["user"]["email"], harness.DEFAULT_PASSWORD, r.json)

    def invite(self, admin, **body):
        r = self.api.post("/api/admin/invites", body, token=admin.token)
        self.assertEqual(r.status, 201, r.raw[:300])
        self.assertTrue(r.json["code"].startswith("pos_inv."))
        return r.json

    def patch_user(self, admin, uid, body, status=200):
        r = self.api.patch("/api/admin/users/" + uid, body, token=admin.token)
        self.assertEqual(r.status, status, r.raw[:300])
        return r


class RegistrationDefaultTest(AccountsCase):
    """The real default: open for the first account, then invite-only."""

    server_env = env(PERSONALOS_REGISTRATION="")

    def test_first_user_admin_then_invites(self):
        first = self.user_from(self.register())
        self.assertEqual(first.user["role"], "admin")
        # a second person without an invite: refused, whatever the email
        r = self.register()
        self.assert_error(r, 403, "invite_required")
        r = self.register(email=first.email)  # taken, but no 409 without an invite
        self.assert_error(r, 403, "invite_required")
        self.assert_error(self.register(invite="pos_inv.nonsense"), 403, "invalid_invite")
        self.assert_error(self.register(email=first.email, invite="pos_inv.nonsense"),
                          403, "invalid_invite")
        # an invite works once
        inv = self.invite(first)
        second = self.user_from(self.register(invite=inv["code"]))
        self.assertEqual(second.user["role"], "user")
        self.assert_error(self.register(invite=inv["code"]), 403, "invalid_invite")
        # invites are listed without their code, used ones marked
        r = self.api.get("/api/admin/invites", token=first.token)
        self.assertEqual(r.status, 200)
        listed = {i["id"]: i for i in r.json["invites"]}
        self.assertEqual(listed[inv["id"]]["status"], "used")
        self.assertEqual(listed[inv["id"]]["used_by"], second.id)
        self.assertNotIn("code", listed[inv["id"]])
        # an invite bound to an email is for that email only
        bound = harness.unique_email("bound")
        inv2 = self.invite(first, email=bound.upper())
        self.assert_error(self.register(invite=inv2["code"]), 403, "invalid_invite")
        self.user_from(self.register(email=bound, invite=inv2["code"]))
        # a deleted invite no longer works; an expired one neither
        inv3 = self.invite(first)
        self.assertEqual(self.api.delete("/api/admin/invites/" + inv3["id"],
                                         token=first.token).status, 204)
        self.assert_error(self.register(invite=inv3["code"]), 403, "invalid_invite")
        self.assert_error(self.api.delete("/api/admin/invites/" + inv3["id"], token=first.token),
                          404, "not_found")
        inv4 = self.invite(first, expires_in=1)
        time.sleep(1.2)
        self.assert_error(self.register(invite=inv4["code"]), 403, "invalid_invite")
        # a valid invite for a taken email: 409 (the invited person may know)
        inv5 = self.invite(first)
        self.assert_error(self.register(email=first.email, invite=inv5["code"]), 409,
                          "email_taken")
        # ... and the invite is not used up by the failure
        self.user_from(self.register(invite=inv5["code"]))
        # bad invite requests
        for body, field in (({"expires_in": 0}, "expires_in"), ({"expires_in": "1"}, "expires_in"),
                            ({"email": "not an email"}, "email")):
            r = self.api.post("/api/admin/invites", body, token=first.token)
            self.assert_error(r, 422, field=field)


class RegistrationClosedTest(AccountsCase):
    server_env = env(PERSONALOS_REGISTRATION="closed")

    def test_closed_even_for_the_first(self):
        self.assert_error(self.register(), 403, "registration_closed")
        self.assert_error(self.register(invite="pos_inv.x"), 403, "registration_closed")


class AdminApiTest(AccountsCase):
    """Registration open (harness default): the first account is the admin."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        api = harness.Api(cls.server.base_url)
        try:
            ans = api.register(harness.unique_email("admin"))
            cls.admin = harness.User(ans["user"]["email"], harness.DEFAULT_PASSWORD, ans)
        finally:
            api.close()

    def test_admin_routes_403_for_users(self):
        u = self.new_user()
        self.assertEqual(u.user["role"], "user")
        pat = self.api.post("/api/auth/tokens", {"name": "t", "scope": "write"},
                            token=u.token).json["token"]
        for method, path in ADMIN_ROUTES:
            url = path.replace("{id}", self.admin.id)
            for tok in (u.token, pat):
                with self.subTest(method=method, url=url):
                    r = self.api.request(method, url, body={"disabled": True, "email": u.email}
                                         if method in ("PATCH", "POST") else None, token=tok)
                    self.assert_error(r, 403, "forbidden")
        # nothing happened to the admin
        self.assertEqual(self.api.get("/api/auth/me", token=self.admin.token).status, 200)
        # an admin's personal API token is no way in either (session only)
        apat = self.api.post("/api/auth/tokens", {"name": "a", "scope": "write"},
                             token=self.admin.token).json["token"]
        self.assert_error(self.api.get("/api/admin/users", token=apat), 403, "forbidden")

    def test_list_shows_usage(self):
        u = self.new_user()
        self.create_memory(u.token, "twelve bytes")
        self.api.post("/api/auth/tokens", {"name": "t"}, token=u.token)
        r = self.api.get("/api/admin/users", token=self.admin.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        row = [x for x in r.json["users"] if x["id"] == u.id][0]
        self.assertEqual(row["role"], "user")
        self.assertFalse(row["disabled"])
        self.assertEqual(row["usage"]["memories"], 1)
        self.assertGreaterEqual(row["usage"]["bytes"], 12)
        self.assertEqual(row["usage"]["tokens"], 1)
        self.assertEqual(row["usage"]["sources"], 0)
        self.assertEqual(set(row["quota"]), {"memories", "bytes", "sources", "tokens"})
        self.assertEqual([x["role"] for x in r.json["users"] if x["id"] == self.admin.id],
                         ["admin"])

    def test_disable_enable_and_tokens(self):
        u = self.new_user()
        other = self.api.login(u.email)
        pat = self.api.post("/api/auth/tokens", {"name": "t", "scope": "write"},
                            token=u.token).json["token"]
        r = self.patch_user(self.admin, u.id, {"disabled": True})
        self.assertTrue(r.json["disabled"])
        # every credential stops at once
        for tok in (u.token, other["access_token"], pat):
            self.assert_error(self.api.get("/api/auth/me", token=tok), 401, "unauthorized")
        self.assert_error(self.api.post("/api/auth/refresh",
                                        {"refresh_token": other["refresh_token"]}), 401)
        # log in: the right password learns it is disabled, a wrong one does not
        r = self.api.post("/api/auth/login", {"email": u.email, "password": u.password})
        self.assert_error(r, 403, "account_disabled")
        r = self.api.post("/api/auth/login", {"email": u.email, "password": "wrong password!"})
        self.assert_error(r, 401, "invalid_credentials")
        self.patch_user(self.admin, u.id, {"disabled": False})
        t = self.api.login(u.email)["access_token"]
        self.assertEqual(self.api.get("/api/auth/me", token=t).status, 200)
        self.assertEqual(self.api.get("/api/auth/me", token=pat).status, 200)

    def test_role_quota_patch_and_bad_input(self):
        u = self.new_user()
        r = self.patch_user(self.admin, u.id, {"quota": {"memories": 7, "tokens": None}})
        self.assertEqual(r.json["quota"]["memories"], 7)
        self.assertEqual(r.json["quota_overrides"], {"memories": 7})
        me = self.api.get("/api/auth/me", token=u.token).json
        self.assertEqual(me["quota"]["memories"], 7)
        self.assertEqual(me["usage"]["memories"], 0)
        self.patch_user(self.admin, u.id, {"quota": {"memories": None}})
        for body, field in (({"role": "root"}, "role"), ({"disabled": "yes"}, "disabled"),
                            ({"quota": {"memories": -1}}, "quota.memories"),
                            ({"quota": {"cpu": 1}}, "quota.cpu"), ({"quota": 5}, "quota"),
                            ({}, None)):
            r = self.api.patch("/api/admin/users/" + u.id, body, token=self.admin.token)
            self.assertEqual(r.status, 422, (body, r.raw[:200]))
            if field:
                self.assert_error(r, 422, field=field)
        self.assert_error(self.api.patch("/api/admin/users/not-a-uuid", {"disabled": True},
                                         token=self.admin.token), 404)
        self.assert_error(self.api.patch("/api/admin/users/" + "0" * 8 + "-0000-4000-8000-"
                                         + "0" * 12, {"disabled": True}, token=self.admin.token),
                          404)
        # promote, then the new admin can use the admin API
        r = self.patch_user(self.admin, u.id, {"role": "admin"})
        self.assertEqual(r.json["role"], "admin")
        self.assertEqual(self.api.get("/api/admin/users", token=u.token).status, 200)
        self.patch_user(self.admin, u.id, {"role": "user"})
        self.assert_error(self.api.get("/api/admin/users", token=u.token), 403, "forbidden")

    def test_last_admin_is_kept(self):
        me = self.admin
        for body in ({"disabled": True}, {"role": "user"}):
            r = self.api.patch("/api/admin/users/" + me.id, body, token=me.token)
            self.assert_error(r, 409, "last_admin")
        self.assert_error(self.api.delete("/api/admin/users/" + me.id, token=me.token),
                          409, "last_admin")
        r = self.api.get("/api/auth/me", token=me.token)
        self.assertEqual(r.json["role"], "admin")

    def test_delete_user(self):
        u = self.new_user()
        self.create_memory(u.token, "soon gone")
        self.assertEqual(self.api.delete("/api/admin/users/" + u.id,
                                         token=self.admin.token).status, 204)
        self.assert_error(self.api.get("/api/auth/me", token=u.token), 401)
        self.assert_error(self.api.post("/api/auth/login",
                                        {"email": u.email, "password": u.password}), 401)
        self.assert_error(self.api.delete("/api/admin/users/" + u.id, token=self.admin.token),
                          404)


class CliTest(unittest.TestCase):
    """personalos user add --admin | passwd | disable | enable | delete."""

    def setUp(self):
        harness.require_local("runs the CLI on a data directory")
        harness.require_binary()
        self.data = tempfile.mkdtemp(prefix="pos-acc-cli-")
        self.addCleanup(shutil.rmtree, self.data, True)

    def cli(self, *args, stdin=None, ok=True):
        p = harness.run_cli(["user"] + list(args) + ["--data", self.data], stdin=stdin,
                            env=FAST_KDF)
        if ok:
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        else:
            self.assertNotEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertTrue(p.stderr.strip())
        return p

    def test_cli_lifecycle(self):
        pw = harness.DEFAULT_PASSWORD + "\n"
        for sub in ("add", "list", "passwd", "disable", "enable", "delete"):
            p = harness.run_cli(["user", sub, "--help"])
            self.assertEqual(p.returncode, 0)
            self.assertIn(sub, p.stdout + p.stderr)
        a, b, c = (harness.unique_email(x) for x in ("cliadm", "clib", "clic"))
        self.assertIn("admin", self.cli("add", a, stdin=pw).stdout)
        self.assertIn("user", self.cli("add", b, stdin=pw).stdout)
        self.assertIn("admin", self.cli("add", c, "--admin", stdin=pw).stdout)
        listing = self.cli("list").stdout
        self.assertIn("admin", listing)
        self.cli("add", b, stdin=pw, ok=False)  # taken
        self.cli("disable", "nobody@example.com", ok=False)
        self.cli("disable", b)
        self.assertIn("disabled", self.cli("list").stdout)
        with harness.Server(data_dir=self.data, env=FAST_KDF) as server:
            api = harness.Api(server.base_url)
            try:
                r = api.post("/api/auth/login", {"email": b, "password": harness.DEFAULT_PASSWORD})
                harness.check_error(self, r, 403, "account_disabled")
                tok = api.login(c)["access_token"]
                self.cli("enable", b)
                old = api.login(b)["access_token"]
                # passwd: the new password works, old sessions end
                self.cli("passwd", b, stdin="a brand new password\n")
                harness.check_error(self, api.get("/api/auth/me", token=old), 401)
                api.login(b, "a brand new password")
                r = api.post("/api/auth/login", {"email": b, "password": harness.DEFAULT_PASSWORD})
                harness.check_error(self, r, 401)
                self.cli("passwd", b, stdin="short\n", ok=False)
                # delete: gone over HTTP too
                self.cli("delete", b)
                r = api.post("/api/auth/login", {"email": b, "password": "a brand new password"})
                harness.check_error(self, r, 401)
                self.assertEqual(api.get("/api/auth/me", token=tok).status, 200)
            finally:
                api.close()
        # two admins: one may go; the last may not (while others remain)
        self.cli("delete", a)
        self.cli("disable", c, ok=False)
        self.assertIn(c, self.cli("list").stdout)


class QuotaTest(AccountsCase):
    server_env = env(PERSONALOS_QUOTA_MEMORIES=3, PERSONALOS_QUOTA_BYTES=1000,
                     PERSONALOS_QUOTA_SOURCES=1, PERSONALOS_QUOTA_TOKENS=2)

    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="pos-acc-sync-")
        cls.server_env = dict(cls.server_env, PERSONALOS_SYNC_FILE_ROOT=cls.root)
        super().setUpClass()
        api = harness.Api(cls.server.base_url)
        try:
            ans = api.register(harness.unique_email("qadmin"))
            cls.admin = harness.User(ans["user"]["email"], harness.DEFAULT_PASSWORD, ans)
        finally:
            api.close()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.root, True)

    def assert_quota(self, r, name):
        err = self.assert_error(r, 413, "quota_exceeded")
        self.assertEqual(err.get("quota"), name, r.json)
        self.assertIn(name, err["message"])

    def test_memories_and_bulk(self):
        u = self.new_user()
        r = self.api.post("/api/memories/bulk", {"memories": [{"content": "m%d" % i}
                                                             for i in range(4)]}, token=u.token)
        self.assert_quota(r, "memories")
        self.assertEqual(self.memory_count(u.token), 0)  # nothing of the batch stored
        self.create_memory(u.token, "one")
        r = self.api.post("/api/memories/bulk", {"memories": [{"content": "a"}, {"content": "b"}]},
                          token=u.token)
        self.assertEqual(r.status, 201, r.raw[:200])
        self.assert_quota(self.api.post("/api/memories", {"content": "four"}, token=u.token),
                          "memories")
        me = self.api.get("/api/auth/me", token=u.token).json
        self.assertEqual(me["quota"]["memories"], 3)
        self.assertEqual(me["usage"]["memories"], 3)
        # deleting frees room
        mid = self.list_memories(u.token)["memories"][0]["id"]
        self.assertEqual(self.api.delete("/api/memories/" + mid, token=u.token).status, 204)
        self.create_memory(u.token, "again")
        # an admin override lifts the limit for this user only
        self.patch_user(self.admin, u.id, {"quota": {"memories": 0}})
        self.create_memory(u.token, "unlimited now")

    def test_bytes(self):
        u = self.new_user()
        self.create_memory(u.token, "x" * 600)
        self.assert_quota(self.api.post("/api/memories", {"content": "y" * 600}, token=u.token),
                          "bytes")
        r = self.api.post("/api/memories/bulk", {"memories": [{"content": "z" * 100},
                                                              {"content": "z" * 400}]},
                          token=u.token)
        self.assert_quota(r, "bytes")
        # metadata counts too
        r = self.api.post("/api/memories", {"content": "small",
                                            "metadata": {"blob": "w" * 500}}, token=u.token)
        self.assert_quota(r, "bytes")
        self.assertEqual(self.memory_count(u.token), 1)
        usage = self.api.get("/api/auth/me", token=u.token).json["usage"]["bytes"]
        self.assertGreaterEqual(usage, 600)
        self.assertLess(usage, 1000)

    def test_tokens(self):
        u = self.new_user()
        for i in range(2):
            r = self.api.post("/api/auth/tokens", {"name": "t%d" % i}, token=u.token)
            self.assertEqual(r.status, 201, r.raw[:200])
        self.assert_quota(self.api.post("/api/auth/tokens", {"name": "t3"}, token=u.token),
                          "tokens")
        tid = self.api.get("/api/auth/tokens", token=u.token).json["tokens"][0]["id"]
        self.assertEqual(self.api.delete("/api/auth/tokens/" + tid, token=u.token).status, 204)
        self.assertEqual(self.api.post("/api/auth/tokens", {"name": "t4"}, token=u.token).status,
                         201)

    def test_sources(self):
        harness.require_local("sync reads local files")
        u = self.new_user()
        home = os.path.join(self.root, u.id)
        os.makedirs(home, exist_ok=True)
        path = os.path.join(home, "inbox.mbox")
        open(path, "w").close()
        body = {"kind": "mbox", "config": {"path": "inbox.mbox"}, "interval_s": 0}
        r = self.api.post("/api/sync/sources", body, token=u.token)
        self.assertEqual(r.status, 201, r.raw[:300])
        self.assert_quota(self.api.post("/api/sync/sources", body, token=u.token), "sources")
        # an upload makes a source too: refused by the same quota
        up = self.api.request("POST", "/api/sync/uploads?kind=ics", token=u.token,
                              raw=b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
                              headers={"Content-Type": "text/calendar"})
        self.assert_quota(up, "sources")
        self.assertEqual(len(self.api.get("/api/sync/sources", token=u.token).json["sources"]), 1)


class RevocationTest(AccountsCase):

    def credentials(self, u):
        other = self.api.login(u.email)
        pat = self.api.post("/api/auth/tokens", {"name": "t", "scope": "write"},
                            token=u.token).json["token"]
        return other, pat

    def test_password_change_revokes_others(self):
        u = self.new_user()
        other, pat = self.credentials(u)
        r = self.api.post("/api/auth/password", {"old_password": u.password,
                                                 "new_password": "another secret pw"},
                          token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(r.json["revoked"], {"sessions": 1, "api_tokens": 1})
        self.assert_error(self.api.get("/api/auth/me", token=other["access_token"]), 401)
        self.assert_error(self.api.post("/api/auth/refresh",
                                        {"refresh_token": other["refresh_token"]}), 401)
        self.assert_error(self.api.get("/api/auth/me", token=pat), 401)
        # the session that changed it goes on, refresh included
        self.assertEqual(self.api.get("/api/auth/me", token=u.token).status, 200)
        r = self.api.post("/api/auth/refresh", {"refresh_token": u.refresh_token})
        self.assertEqual(r.status, 200, r.raw[:200])

    def test_password_change_may_keep_api_tokens(self):
        u = self.new_user()
        other, pat = self.credentials(u)
        r = self.api.post("/api/auth/password", {"old_password": u.password,
                                                 "new_password": "another secret pw",
                                                 "revoke_api_tokens": False}, token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(r.json["revoked"], {"sessions": 1, "api_tokens": 0})
        self.assertEqual(self.api.get("/api/auth/me", token=pat).status, 200)
        self.assert_error(self.api.get("/api/auth/me", token=other["access_token"]), 401)
        r = self.api.post("/api/auth/password", {"old_password": "another secret pw",
                                                 "new_password": "x" * 12,
                                                 "revoke_api_tokens": "no"}, token=u.token)
        self.assert_error(r, 422, field="revoke_api_tokens")

    def test_recovery_revokes_everything(self):
        u = self.new_user()
        rk = self.api.post("/api/auth/encryption", {"password": u.password},
                           token=u.token).json["recovery_key"]
        other, pat = self.credentials(u)
        r = self.api.post("/api/auth/encryption/recover",
                          {"email": u.email, "recovery_key": rk, "new_password": "recovered pw!"})
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(r.json["revoked"], {"sessions": 2, "api_tokens": 1})
        for tok in (u.token, other["access_token"], pat):
            self.assert_error(self.api.get("/api/auth/me", token=tok), 401)
        for rt in (u.refresh_token, other["refresh_token"]):
            self.assert_error(self.api.post("/api/auth/refresh", {"refresh_token": rt}), 401)
        # the new pair works, and so does the new password
        self.assertEqual(self.api.get("/api/auth/me", token=r.json["access_token"]).status, 200)
        r2 = self.api.post("/api/auth/refresh", {"refresh_token": r.json["refresh_token"]})
        self.assertEqual(r2.status, 200, r2.raw[:200])
        self.api.login(u.email, "recovered pw!")


class ParallelLockoutTest(AccountsCase):
    server_env = env(PERSONALOS_LOGIN_MAX_FAILURES=5, PERSONALOS_LOGIN_MAX_FAILURES_IP=1000,
                     PERSONALOS_RATE_LIMIT_AUTH_BURST=1000,
                     PERSONALOS_RATE_LIMIT_AUTH_PER_MIN=100000,
                     PERSONALOS_ARGON2_QUEUE=100)

    def parallel(self, n, fn):
        results = [None] * n
        barrier = threading.Barrier(n)

        def run(i):
            api = harness.Api(self.server.base_url, retry_429=False)
            try:
                barrier.wait()
                results[i] = fn(api)
            finally:
                api.close()
        threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results

    def test_25_parallel_wrong_logins(self):
        u = self.new_user()
        statuses = self.parallel(25, lambda api: api.post(
            "/api/auth/login", {"email": u.email, "password": "wrong password!!"}).status)
        self.assertLessEqual(statuses.count(401), 5, statuses)
        self.assertEqual(statuses.count(401) + statuses.count(429), 25, statuses)
        self.assertGreaterEqual(statuses.count(429), 20, statuses)

    def test_wrong_current_password_counts(self):
        u = self.new_user()
        raw = harness.Api(self.server.base_url, retry_429=False)
        self.addCleanup(raw.close)
        attempts = [("POST", "/api/auth/password", {"old_password": "wrong password!",
                                                    "new_password": "whatever pw 1"}),
                    ("DELETE", "/api/auth/me", {"password": "wrong password!"}),
                    ("POST", "/api/auth/encryption", {"password": "wrong password!"}),
                    ("POST", "/api/auth/encryption/recover",
                     {"email": u.email, "recovery_key": "AAAA", "new_password": "whatever pw 1"}),
                    ("POST", "/api/auth/password", {"old_password": "wrong password!",
                                                    "new_password": "whatever pw 1"})]
        for method, path, body in attempts:
            r = raw.request(method, path, body=body, token=u.token)
            self.assert_error(r, 401)
        # five failures: the account is locked, even with the right password
        r = raw.post("/api/auth/login", {"email": u.email, "password": u.password})
        self.assert_error(r, 429, "rate_limited")
        r = raw.request("DELETE", "/api/auth/me", body={"password": u.password}, token=u.token)
        self.assert_error(r, 429, "rate_limited")
        self.assertEqual(self.api.get("/api/auth/me", token=u.token).status, 200)


class Argon2GateTest(AccountsCase):
    """One hash at a time and nobody waiting: the rest get 503 busy at once."""

    server_env = {"PERSONALOS_ARGON2_CONCURRENCY": "1", "PERSONALOS_ARGON2_QUEUE": "0",
                  "PERSONALOS_PWHASH_OPSLIMIT": "3", "PERSONALOS_PWHASH_MEMLIMIT_KIB": "65536",
                  "PERSONALOS_LOGIN_MAX_FAILURES": "1000",
                  "PERSONALOS_LOGIN_MAX_FAILURES_IP": "1000",
                  "PERSONALOS_RATE_LIMIT_AUTH_BURST": "1000",
                  "PERSONALOS_RATE_LIMIT_AUTH_PER_MIN": "100000"}

    def test_saturated_gate_answers_busy(self):
        results = ParallelLockoutTest.parallel(self, 12, lambda api: api.post(
            "/api/auth/login", {"email": harness.unique_email("gate"),
                                "password": "wrong password!!"}))
        statuses = [r.status for r in results]
        self.assertTrue(set(statuses) <= {401, 503}, statuses)
        self.assertGreaterEqual(statuses.count(401), 1, statuses)
        busy = [r for r in results if r.status == 503]
        self.assertTrue(busy, statuses)
        for r in busy:
            self.assert_error(r, 503, "busy")
            self.assertGreaterEqual(int(r.headers.get("retry-after", "0")), 1)
        # registration goes through the same gate, and works when it is free
        self.new_user()


class EnumerationTest(AccountsCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        api = harness.Api(cls.server.base_url)
        try:
            ans = api.register(harness.unique_email("enumadmin"))
            cls._admin = harness.User(ans["user"]["email"], harness.DEFAULT_PASSWORD, ans)
        finally:
            api.close()

    def test_recover_unknown_and_known_look_alike(self):
        plain = self.new_user()  # no encryption
        enc = self.new_user()
        self.api.post("/api/auth/encryption", {"password": enc.password}, token=enc.token)
        body = {"recovery_key": "pos_rk.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                "new_password": "whatever pw 12"}
        answers = []
        for email in (harness.unique_email("nobody"), plain.email, enc.email):
            r = self.api.post("/api/auth/encryption/recover", dict(body, email=email))
            err = self.assert_error(r, 401, "invalid_credentials")
            answers.append((r.status, err["code"], err.get("field"), err["message"]))
        self.assertEqual(len(set(answers)), 1, answers)

    def test_share_unknown_and_known_look_alike(self):
        owner = self.new_user()
        known = self.new_user()
        unknown = harness.unique_email("later")
        answers = []
        for email in (known.email, unknown):
            m = self.create_memory(owner.token, "shared note")
            r = self.api.post("/api/memories/%s/share" % m["id"], {"emails": [email]},
                              token=owner.token)
            body = dict(r.json or {})
            shape = (r.status, sorted(body), body.get("shared_with") == [email.lower()])
            answers.append(shape)
        self.assertEqual(answers[0], answers[1], answers)
        self.assertEqual(answers[0][0], 200)
        # an account registered with that email on its own word does not get
        # it (anyone could pick the address): the share is dropped
        later = self.new_user(email=unknown)
        r = self.api.get("/api/memories?shared=with_me", token=later.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(r.json["memories"], [])
        mine = self.list_memories(owner.token)["memories"]
        self.assertEqual([m["shared_with"] for m in mine if m["shared_with"]], [[known.email]])
        # one whose email an admin vouched for (an invite bound to it) does
        admin = self.admin_user()
        vouched = harness.unique_email("vouched")
        m = self.create_memory(owner.token, "for the invited")
        self.api.post("/api/memories/%s/share" % m["id"], {"emails": [vouched]}, token=owner.token)
        inv = self.invite(admin, email=vouched)
        v = self.user_from(self.register(email=vouched, invite=inv["code"]))
        r = self.api.get("/api/memories?shared=with_me", token=v.token)
        self.assertEqual([x["content"] for x in r.json["memories"]], ["for the invited"])
        # a pending share can be withdrawn, like any share
        m = self.create_memory(owner.token, "never seen")
        ghost = harness.unique_email("ghost")
        self.api.post("/api/memories/%s/share" % m["id"], {"emails": [ghost]}, token=owner.token)
        r = self.api.delete("/api/memories/%s/share/%s" % (m["id"], ghost), token=owner.token)
        self.assertIn(r.status, (200, 204), r.raw[:200])
        self.assertEqual(self.get_memory(owner.token, m["id"])["shared_with"], [])
        inv = self.invite(admin, email=ghost)
        g = self.user_from(self.register(email=ghost, invite=inv["code"]))
        r = self.api.get("/api/memories?shared=with_me", token=g.token)
        self.assertEqual(r.json["memories"], [])

    def admin_user(self):
        """The server's admin (its first account, made by the first test)."""
        if not hasattr(type(self), "_admin"):
            type(self)._admin = self.new_user(email=harness.unique_email("enumadmin"))
        return type(self)._admin

if __name__ == "__main__":
    unittest.main()
