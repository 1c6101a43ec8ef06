"""Several instances sharing one Redis (`--cache`, README "Redis").

Two `personalos serve` processes on one data directory (SQLite in WAL mode
takes several processes) and one real redis-server (tests/api/redisserver.py):
a rate limit exhausted through instance A answers 429 on B, a login lockout
earned on A holds on B, a session logged out on A is refused by B at once
(B had it cached), a write through A invalidates B's cached search results,
with Redis killed both instances keep answering from their in-process
limits and caches, and encryption at rest locks across instances: an
encrypted user unlocked only through A is `423 data_locked` on B (not a
500), and a logout, password change or turning encryption on through A
makes B drop the user's key and cached state (channel `pos:crypt.lock`).
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Api, Server, poll, pos_bin, require_local, unique_email,  # noqa: E402
                     DEFAULT_PASSWORD)
from redisserver import RedisServer  # noqa: E402

# Limits small enough to reach in a few requests, large enough that the
# other tests' traffic stays below them.
LIMITS = {
    "PERSONALOS_RATE_LIMIT_USER_RATE": "1",
    "PERSONALOS_RATE_LIMIT_USER_BURST": "8",
    "PERSONALOS_RATE_LIMIT_AUTH_BURST": "1000",
    "PERSONALOS_RATE_LIMIT_AUTH_PER_MIN": "100000",
    "PERSONALOS_LOGIN_MAX_FAILURES": "3",
    "PERSONALOS_LOGIN_MAX_FAILURES_IP": "1000",
    "PERSONALOS_LOGIN_LOCKOUT": "600",
    # a loaded test machine must not trip the 50 ms default into fallback
    "PERSONALOS_CACHE_TIMEOUT_MS": "2000",
    # cheap password hashes: this suite tests limits, not Argon2
    "PERSONALOS_PWHASH_OPSLIMIT": "1",
    "PERSONALOS_PWHASH_MEMLIMIT_KIB": "8192",
}


class Pair:
    """Redis plus two instances on one data directory."""

    def __init__(self, env=None):
        self.redis = RedisServer().start()
        self.dir = tempfile.mkdtemp(prefix="pos-redis-data-")
        e = dict(LIMITS)
        e.update(env or {})
        e["PERSONALOS_CACHE"] = self.redis.url
        self.a = self.b = None
        try:
            self.a = Server(data_dir=self.dir, env=e).start()
            self.b = Server(data_dir=self.dir, env=e).start()
        except BaseException:
            self.stop()
            raise

    def stop(self):
        for s in (self.b, self.a):
            if s is not None:
                s.stop()
        self.a = self.b = None
        self.redis.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class SharedRedisTest(unittest.TestCase):
    pair = None

    @classmethod
    def setUpClass(cls):
        require_local("starts instances sharing a Redis")
        cls.pair = Pair()

    @classmethod
    def tearDownClass(cls):
        if cls.pair is not None:
            cls.pair.stop()

    def setUp(self):
        self.api_a = Api(self.pair.a.base_url, retry_429=False)
        self.api_b = Api(self.pair.b.base_url, retry_429=False)
        self.addCleanup(self.api_a.close)
        self.addCleanup(self.api_b.close)

    def register(self):
        email = unique_email("redis")
        ans = self.api_a.register(email)
        return email, ans["access_token"]

    def test_user_rate_limit_is_shared(self):
        _, token = self.register()
        seen = 0
        for _ in range(20):  # the burst is 8: A runs the bucket dry
            r = self.api_a.get("/api/auth/me", token=token)
            if r.status == 429:
                break
            self.assertEqual(r.status, 200, r.raw[:300])
            seen += 1
        self.assertLess(seen, 20, "A never limited the user")
        r = self.api_b.get("/api/auth/me", token=token)
        self.assertEqual(r.status, 429, "B did not see A's bucket: %r" % (r.raw[:300],))
        self.assertIn("retry-after", {k.lower() for k in r.headers})
        self.assertGreaterEqual(int(r.headers.get("Retry-After") or r.headers.get("retry-after")), 1)
        self.assertEqual(r.json["error"]["code"], "rate_limited")

    def test_login_lockout_is_shared(self):
        email, _ = self.register()
        for _ in range(3):
            r = self.api_a.post("/api/auth/login", {"email": email, "password": "wrong " + DEFAULT_PASSWORD})
            self.assertEqual(r.status, 401, r.raw[:300])
        # the right password through the other instance: still locked
        r = self.api_b.post("/api/auth/login", {"email": email, "password": DEFAULT_PASSWORD})
        self.assertEqual(r.status, 429, "B did not see A's lockout: %r" % (r.raw[:300],))
        self.assertTrue(r.headers.get("Retry-After") or r.headers.get("retry-after"))

    def test_logout_on_a_is_refused_on_b_at_once(self):
        email, _ = self.register()
        token = self.api_a.login(email)["access_token"]
        # B verifies it (and caches the check, in-process and in Redis)
        for _ in range(2):
            self.assertEqual(self.api_b.get("/api/auth/me", token=token).status, 200)
        keys = self.pair.redis.command("KEYS", "pos:tok:*")
        self.assertTrue(keys, "no token check cached in Redis")
        for k in keys:  # keyed by a hash: the token is nowhere in Redis
            self.assertNotIn(token.encode(), k)
            self.assertNotIn(token.encode(), self.pair.redis.command("GET", k) or b"")
        r = self.api_a.post("/api/auth/logout", token=token)
        self.assertIn(r.status, (200, 204), r.raw[:300])
        r = self.api_b.get("/api/auth/me", token=token)
        self.assertEqual(r.status, 401, "B still accepts a logged-out session: %r" % (r.raw[:300],))

    def test_writes_and_revocations_are_published(self):
        _, token = self.register()
        uid = self.api_a.get("/api/auth/me", token=token).json["id"]
        writes, close_w = self.pair.redis.subscribe("pos:search.invalidate")
        self.addCleanup(close_w)
        revokes, close_r = self.pair.redis.subscribe("pos:auth.revoke")
        self.addCleanup(close_r)
        r = self.api_b.post("/api/memories", {"content": "published elsewhere"}, token=token)
        self.assertEqual(r.status, 201, r.raw[:300])
        # "<instance tag> <user id>", nothing of the memory
        tag, _, who = writes().partition(b" ")
        self.assertEqual(who, uid.encode())
        self.assertRegex(tag, rb"^[0-9a-f]{16}$")
        self.assertIn(self.api_a.post("/api/auth/logout", token=token).status, (200, 204))
        msg = revokes()
        self.assertIsNotNone(msg)
        self.assertTrue(msg.startswith(b"one " + uid.encode() + b" "), msg)
        self.assertNotIn(token.encode(), msg)

    def test_doctor_reports_the_cache(self):
        out = subprocess.run(
            [pos_bin(), "doctor", "--data", self.pair.dir],
            env=dict(os.environ, PERSONALOS_CACHE=self.pair.redis.url.replace(
                "redis://", "redis://:hunter2-not-set@")),
            capture_output=True, text=True, timeout=60)
        # a password Redis does not expect: AUTH fails, so it is unreachable
        self.assertIn("unreachable", out.stdout)
        self.assertNotIn("hunter2", out.stdout + out.stderr)
        out = subprocess.run(
            [pos_bin(), "doctor", "--data", self.pair.dir],
            env=dict(os.environ, PERSONALOS_CACHE=self.pair.redis.url),
            capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("redis at 127.0.0.1:%d/0 reachable" % self.pair.redis.port, out.stdout)

    def test_write_on_a_invalidates_search_cache_on_b(self):
        _, token = self.register()
        self.api_a.post("/api/memories", {"content": "the heron flew over the pond"}, token=token)
        r = self.api_b.get("/api/memories/search?query=heron", token=token)
        self.assertEqual(r.status, 200, r.raw[:300])
        first = len(r.json["memories"])
        r = self.api_b.get("/api/memories/search?query=heron", token=token)  # now cached on B
        self.assertEqual(r.status, 200)
        # the ranked list is shared through Redis, under a hash of the query
        uid = self.api_b.get("/api/auth/me", token=token).json["id"]
        keys = self.pair.redis.command("KEYS", "pos:sr:%s:*" % uid)
        self.assertTrue(keys, "no shared search result in Redis")
        for k in keys:
            self.assertNotIn(b"heron", k)
            self.assertNotIn(b"heron", self.pair.redis.command("GET", k))
        self.api_a.post("/api/memories", {"content": "a second heron by the river"}, token=token)
        r = self.api_b.get("/api/memories/search?query=heron", token=token)
        self.assertEqual(r.status, 200, r.raw[:300])
        after = len(r.json["memories"])
        self.assertEqual(after, first + 1, "B served a stale cached result: %r" % (r.json,))


class EncryptedAcrossInstancesTest(unittest.TestCase):
    """Encryption at rest with two instances (docs/SCALING.md, "Encryption
    lock"): its own pair, whose per-user rate limit polling cannot reach."""
    pair = None

    @classmethod
    def setUpClass(cls):
        require_local("starts instances sharing a Redis")
        cls.pair = Pair({"PERSONALOS_RATE_LIMIT_USER_RATE": "1000",
                         "PERSONALOS_RATE_LIMIT_USER_BURST": "1000"})

    @classmethod
    def tearDownClass(cls):
        if cls.pair is not None:
            cls.pair.stop()

    setUp = SharedRedisTest.setUp
    register = SharedRedisTest.register

    def encrypted_user(self):
        """A user with encryption on (through A, which is unlocked), a memory
        of theirs, and a second session logged in through B (B unlocked)."""
        email, token_a = self.register()
        r = self.api_a.post("/api/auth/encryption", {"password": DEFAULT_PASSWORD},
                            token=token_a)
        self.assertEqual(r.status, 200, r.raw[:300])
        r = self.api_a.post("/api/memories", {"content": "the locker code is 4711"},
                            token=token_a)
        self.assertEqual(r.status, 201, r.raw[:300])
        mid = r.json["id"]
        return email, token_a, mid

    def locked_on_b(self, token, mid):
        """Polls B until it answers 423 for the memory (a bound, not a timing
        assertion: the lock travels by pub/sub)."""
        return poll(lambda: (lambda r: r if r.status not in (200, 429) else None)(
            self.api_b.get("/api/memories/" + mid, token=token)), timeout=15, step=0.2)

    def test_encrypted_user_unlocked_on_a_is_locked_on_b(self):
        email, token_a, mid = self.encrypted_user()
        self.assertEqual(self.api_a.get("/api/memories/" + mid, token=token_a).status, 200)
        # B never saw the password: the documented 423, never a 500
        for path in ("/api/memories/" + mid, "/api/memories", "/api/memories/search?query=locker"):
            r = self.api_b.get(path, token=token_a)
            self.assertEqual(r.status, 423, "%s on B: %r" % (path, r.raw[:300]))
            self.assertEqual(r.json["error"]["code"], "data_locked")
        # a login through B unlocks B too
        token_b = self.api_b.login(email)["access_token"]
        r = self.api_b.get("/api/memories/" + mid, token=token_b)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(r.json["content"], "the locker code is 4711")

    def test_logout_on_a_locks_b(self):
        email, token_a, mid = self.encrypted_user()
        uid = self.api_a.get("/api/auth/me", token=token_a).json["id"]
        token_b = self.api_b.login(email)["access_token"]
        self.assertEqual(self.api_b.get("/api/memories/" + mid, token=token_b).status, 200)
        # B holds resident plaintext-derived state of the user too
        self.assertEqual(self.api_b.get("/api/memories/search?query=locker",
                                        token=token_b).status, 200)
        locks, close = self.pair.redis.subscribe("pos:crypt.lock")
        self.addCleanup(close)
        r = self.api_a.post("/api/auth/logout", token=token_a)
        self.assertEqual(r.status, 204, r.raw[:300])
        # "<instance tag> <user id>": nothing secret on the channel
        tag, _, who = (locks() or b"").partition(b" ")
        self.assertRegex(tag, rb"^[0-9a-f]{16}$")
        self.assertEqual(who, uid.encode())
        # B's session is still valid, but B dropped the key: 423 until unlock
        r = self.locked_on_b(token_b, mid)
        self.assertIsNotNone(r, "B kept the key after a logout through A")
        self.assertEqual(r.status, 423, r.raw[:300])
        self.assertEqual(r.json["error"]["code"], "data_locked")
        self.assertEqual(self.api_b.get("/api/auth/me", token=token_b).status, 200)
        r = self.api_b.get("/api/memories/search?query=locker", token=token_b)
        self.assertEqual(r.status, 423, r.raw[:300])
        # logging in again unlocks
        token_b = self.api_b.login(email)["access_token"]
        self.assertEqual(self.api_b.get("/api/memories/" + mid, token=token_b).status, 200)

    def test_password_change_on_a_locks_b(self):
        email, token_a, mid = self.encrypted_user()
        pat = self.api_a.post("/api/auth/tokens", {"name": "t", "scope": "read"},
                              token=token_a)
        self.assertEqual(pat.status, 201, pat.raw[:300])
        pat = pat.json["token"]
        self.api_b.login(email)  # unlocks B; the API token reads through it
        self.assertEqual(self.api_b.get("/api/memories/" + mid, token=pat).status, 200)
        r = self.api_a.post("/api/auth/password",
                            {"old_password": DEFAULT_PASSWORD,
                             "new_password": "a brand new horse battery staple 77",
                             "revoke_api_tokens": False}, token=token_a)
        self.assertEqual(r.status, 200, r.raw[:300])
        r = self.locked_on_b(pat, mid)
        self.assertIsNotNone(r, "B kept the key after a password change through A")
        self.assertEqual(r.status, 423, r.raw[:300])
        # A, where the password was given, stays unlocked
        self.assertEqual(self.api_a.get("/api/memories/" + mid, token=pat).status, 200)

    def test_encryption_turned_on_through_a_reaches_b(self):
        # B caches the user's state as "off" while writing plain memories
        _, token = self.register()
        r = self.api_b.post("/api/memories", {"content": "before"}, token=token)
        self.assertEqual(r.status, 201, r.raw[:300])
        self.assertFalse(r.json["is_encrypted"])
        r = self.api_a.post("/api/auth/encryption", {"password": DEFAULT_PASSWORD},
                            token=token)
        self.assertEqual(r.status, 200, r.raw[:300])
        # B must not go on writing plain text: without the key it refuses
        def refused():
            r = self.api_b.post("/api/memories", {"content": "after"}, token=token)
            return r if r.status not in (201, 429) else None
        r = poll(refused, timeout=15, step=0.2)
        self.assertIsNotNone(r, "B still writes plain memories for an encrypted user")
        self.assertEqual(r.status, 423, r.raw[:300])


class SharedUnlockTest(unittest.TestCase):
    """encryption_share_unlock on: an unlock through A reaches B (the data
    key wrapped under the instances' shared server key, on pub/sub), so B
    answers like A; a lock through A still locks B."""
    pair = None

    @classmethod
    def setUpClass(cls):
        require_local("starts instances sharing a Redis")
        cls.pair = Pair({"PERSONALOS_RATE_LIMIT_USER_RATE": "1000",
                         "PERSONALOS_RATE_LIMIT_USER_BURST": "1000",
                         "PERSONALOS_ENCRYPTION_SHARE_UNLOCK": "on"})

    @classmethod
    def tearDownClass(cls):
        if cls.pair is not None:
            cls.pair.stop()

    setUp = SharedRedisTest.setUp
    register = SharedRedisTest.register
    encrypted_user = EncryptedAcrossInstancesTest.encrypted_user
    locked_on_b = EncryptedAcrossInstancesTest.locked_on_b

    def test_unlock_on_a_reaches_b_and_lock_follows(self):
        locks, close = self.pair.redis.subscribe("pos:crypt.lock")
        self.addCleanup(close)
        email, token_a, mid = self.encrypted_user()
        # B never saw the password, yet opens the memory
        r = poll(lambda: (lambda r: r if r.status == 200 else None)(
            self.api_b.get("/api/memories/" + mid, token=token_a)), timeout=15, step=0.2)
        self.assertIsNotNone(r, "B did not take the unlock made through A")
        self.assertEqual(r.json["content"], "the locker code is 4711")
        # what crossed Redis: no content, no key in clear (a wrap, 144 hex)
        seen = []
        while True:
            m = locks(timeout=1)
            if m is None:
                break
            seen.append(m)
        self.assertTrue(any(len(m.split(b" ")) == 4 for m in seen), seen)
        for m in seen:
            self.assertNotIn(b"locker", m)
        # a second session through B; the first one logs out through A
        token_b = self.api_b.login(email)["access_token"]
        self.assertEqual(self.api_b.get("/api/memories/" + mid, token=token_b).status, 200)
        self.assertEqual(self.api_a.post("/api/auth/logout", token=token_a).status, 204)
        r = self.locked_on_b(token_b, mid)
        self.assertIsNotNone(r, "B kept the key after a logout through A")
        self.assertEqual(r.status, 423, r.raw[:300])


class RedisDownTest(unittest.TestCase):
    """Redis killed under two running instances: both keep answering."""

    def test_instances_fall_back_when_redis_dies(self):
        require_local("starts instances sharing a Redis")
        pair = Pair()
        self.addCleanup(pair.stop)
        api_a = Api(pair.a.base_url, retry_429=False)
        api_b = Api(pair.b.base_url, retry_429=False)
        self.addCleanup(api_a.close)
        self.addCleanup(api_b.close)
        email = unique_email("down")
        token = api_a.register(email)["access_token"]
        self.assertEqual(api_b.get("/api/auth/me", token=token).status, 200)
        self.assertIn("personalos_cache_up 1", api_b.get("/metrics").raw.decode())
        pair.redis.stop()
        for api in (api_a, api_b):
            self.assertEqual(api.get("/api/auth/me", token=token).status, 200)
            r = api.post("/api/memories", {"content": "written while redis is down"}, token=token)
            self.assertEqual(r.status, 201, r.raw[:300])
            self.assertEqual(api.get("/api/memories/search?query=redis", token=token).status, 200)
        fresh = api_b.login(email)["access_token"]
        self.assertEqual(api_a.get("/api/auth/me", token=fresh).status, 200)
        self.assertIn(api_a.post("/api/auth/logout", token=fresh).status, (200, 204))
        self.assertEqual(api_a.get("/api/auth/me", token=fresh).status, 401)
        for s in (pair.a, pair.b):
            self.assertIn("redis", s.stderr_text().lower(), "the fallback was not logged")
        self.assertIn("personalos_cache_up 0", api_b.get("/metrics").raw.decode())

        # Redis back (empty, same port): both instances return to it by
        # themselves — their subscribers resubscribe and limits are shared
        port = pair.redis.port
        pair.redis.stop()
        pair.redis.start(port)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            subs = pair.redis.command("PUBSUB", "NUMSUB", "pos:auth.revoke")
            if subs[1] >= 2:
                break
            time.sleep(0.1)
        self.assertGreaterEqual(subs[1], 2, "the instances did not resubscribe")
        token = api_a.login(email)["access_token"]
        while time.monotonic() < deadline:  # until B's pool tries Redis again
            self.assertEqual(api_b.get("/api/auth/me", token=token).status, 200)
            if pair.redis.command("KEYS", "pos:tok:*"):
                break
            time.sleep(1.2)  # below the user rate (1/s), past the in-process cache
        self.assertTrue(pair.redis.command("KEYS", "pos:tok:*"), "B did not return to Redis")
        self.assertIn(api_a.post("/api/auth/logout", token=token).status, (200, 204))
        self.assertEqual(api_b.get("/api/auth/me", token=token).status, 401)


if __name__ == "__main__":
    unittest.main()
