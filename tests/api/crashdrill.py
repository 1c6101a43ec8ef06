"""Crash drill: concurrent writers, kill -9 at a random moment, restart, verify.

Used by tests/api/test_crash.py (a few rounds in make test) and
bench/crash_drill.py (100 rounds, documented in docs/OPERATIONS.md).

Each round starts the server on the same data directory, runs writers in
threads (create, bulk, update, delete, share and sync upload; one plain and
one encryption-at-rest user), SIGKILLs the server after a random delay,
runs `personalos doctor` on the crashed directory, restarts, and checks:

- every write answered 2xx is there and intact (content, tags, shares,
  deletions, sources);
- a bulk import never half-present: each batch has all or none of its
  memories, and all of them when it was acknowledged;
- an update not acknowledged left the old or one of the attempted values;
- doctor reports a clean store (SQLite integrity, FTS and vectors agree with
  the rows, counters, foreign keys);
- the server answers /health within the harness's start timeout.
Only 127.0.0.1 is contacted.
"""

import os
import random
import signal
import threading
import time
import uuid

import harness

BULK_SIZE = 12


class CrashServer(harness.Server):
    """A Server that can be killed with SIGKILL instead of stopped."""

    def crash(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        stderr = self.stderr_text()
        self.proc = None
        self._remove_dirs()
        for marker in ("ERROR: AddressSanitizer", "runtime error:", "POS_BUG",
                       "Assertion `"):
            if marker in stderr:
                raise AssertionError("server stderr holds %r before the kill:\n%s"
                                     % (marker, stderr))


class Ledger:
    """What the server acknowledged, and what it may or may not have done."""

    def __init__(self):
        self.lock = threading.Lock()
        self.content = {}      # memory id -> (owner key, acknowledged content)
        self.maybe = {}        # memory id -> set of contents attempted after the ack
        self.deleted = set()   # ids whose DELETE answered 204
        self.maybe_deleted = set()  # ids a DELETE was sent for
        self.batches = {}      # batch tag -> (owner key, acknowledged?)
        self.shared = set()    # ids acknowledged as shared with the encrypted user
        self.sources = {}      # source id -> owner key
        self.acked = 0
        self.unacked = 0

    def count(self, ok):
        with self.lock:
            if ok:
                self.acked += 1
            else:
                self.unacked += 1


class Drill:
    def __init__(self, data_dir, env=None, seed=None, log=None):
        self.data_dir = data_dir
        # Cheap password hashing: the drill logs in every round, and the
        # hash cost is not what it tests.
        self.env = {"PERSONALOS_RATE_LIMIT": "off",
                    "PERSONALOS_PWHASH_OPSLIMIT": "1",
                    "PERSONALOS_PWHASH_MEMLIMIT_KIB": "8192",
                    "PERSONALOS_SYNC_FILE_ROOT": os.path.join(data_dir, "files")}
        self.env.update(env or {})
        self.rng = random.Random(seed)
        self.ledger = Ledger()
        self.users = {}         # key -> dict(email, token)
        self.server = None
        self.log = log or (lambda *a: None)
        self.doctor_runs = 0
        self.start_seconds = []

    # -- server ------------------------------------------------------------

    def start(self):
        t0 = time.monotonic()
        self.server = CrashServer(data_dir=self.data_dir, env=self.env,
                                  external_ok=False).start()
        self.start_seconds.append(time.monotonic() - t0)
        return self.server

    def api(self):
        return harness.Api(self.server.base_url, timeout=30)

    def login_all(self):
        api = self.api()
        try:
            for u in self.users.values():
                u["token"] = api.login(u["email"])["access_token"]
        finally:
            api.close()

    def setup_users(self):
        api = self.api()
        try:
            for key in ("plain", "sealed"):
                email = harness.unique_email("crash-" + key)
                answer = api.register(email)
                self.users[key] = {"email": email, "token": answer["access_token"]}
            r = api.post("/api/auth/encryption", {"password": harness.DEFAULT_PASSWORD},
                         token=self.users["sealed"]["token"])
            if r.status != 200:
                raise AssertionError("enable encryption: %d %r" % (r.status, r.raw[:300]))
        finally:
            api.close()

    def doctor(self):
        p = harness.run_cli(["doctor", "--data", self.data_dir], timeout=120)
        self.doctor_runs += 1
        if p.returncode != 0:
            raise AssertionError("doctor after a crash: exit %d\n%s%s"
                                 % (p.returncode, p.stdout, p.stderr))
        return p.stdout

    # -- writers -----------------------------------------------------------

    def _writer(self, fn, stop):
        api = self.api()
        n = 0
        try:
            while not stop.is_set():
                try:
                    fn(api, n)
                except (OSError, harness.http.client.HTTPException):
                    return  # the server is gone
                n += 1
        finally:
            api.close()

    def _create(self, api, key, text, tags=None):
        body = {"content": text, "tags": tags or ["crash"]}
        try:
            r = api.post("/api/memories", body, token=self.users[key]["token"])
        except BaseException:
            self.ledger.count(False)
            raise
        ok = r.status == 201
        self.ledger.count(ok)
        if ok:
            with self.ledger.lock:
                self.ledger.content[r.json["id"]] = (key, text)
            return r.json["id"]
        if r.status >= 500 and r.status != 503:  # 503: refused, nothing done
            raise AssertionError("create answered %d %r" % (r.status, r.raw[:300]))
        return None

    def w_create(self, key):
        def fn(api, n):
            self._create(api, key, "crash %s %s" % (key, uuid.uuid4().hex))
        return fn

    def w_bulk(self, api, n):
        key = "plain" if n % 2 == 0 else "sealed"
        tag = "b" + uuid.uuid4().hex[:12]
        with self.ledger.lock:
            self.ledger.batches[tag] = (key, False)
        items = [{"content": "bulk %s %d" % (tag, i), "tags": [tag]} for i in range(BULK_SIZE)]
        try:
            r = api.post("/api/memories/bulk", {"memories": items},
                         token=self.users[key]["token"])
        except BaseException:
            self.ledger.count(False)
            raise
        ok = r.status == 201
        self.ledger.count(ok)
        if ok:
            with self.ledger.lock:
                self.ledger.batches[tag] = (key, True)
        elif r.status >= 500 and r.status != 503:  # 503: refused, nothing done
            raise AssertionError("bulk answered %d %r" % (r.status, r.raw[:300]))

    def w_update(self, api, n):
        with self.ledger.lock:
            ids = [i for i, (k, _) in self.ledger.content.items()
                   if k == "plain" and i not in self.ledger.deleted
                   and i not in self.ledger.maybe_deleted]
        if not ids:
            self._create(api, "plain", "seed " + uuid.uuid4().hex)
            return
        mid = self.rng.choice(ids)
        text = "updated %s" % uuid.uuid4().hex
        with self.ledger.lock:
            self.ledger.maybe.setdefault(mid, set()).add(text)
        try:
            r = api.put("/api/memories/" + mid, {"content": text},
                        token=self.users["plain"]["token"])
        except BaseException:
            self.ledger.count(False)
            raise
        ok = r.status == 200
        self.ledger.count(ok)
        if ok:
            with self.ledger.lock:
                self.ledger.content[mid] = ("plain", text)
                self.ledger.maybe[mid] = set()
        elif r.status >= 500 and r.status != 503:  # 503: refused, nothing done
            raise AssertionError("update answered %d %r" % (r.status, r.raw[:300]))

    def w_delete(self, api, n):
        mid = self._create(api, "sealed", "doomed " + uuid.uuid4().hex)
        if mid is None:
            return
        with self.ledger.lock:
            self.ledger.maybe_deleted.add(mid)
        try:
            r = api.delete("/api/memories/" + mid, token=self.users["sealed"]["token"])
        except BaseException:
            self.ledger.count(False)
            raise
        ok = r.status == 204
        self.ledger.count(ok)
        if ok:
            with self.ledger.lock:
                self.ledger.deleted.add(mid)

    def w_share(self, api, n):
        mid = self._create(api, "plain", "shared " + uuid.uuid4().hex)
        if mid is None:
            return
        try:
            r = api.post("/api/memories/%s/share" % mid,
                         {"emails": [self.users["sealed"]["email"]]},
                         token=self.users["plain"]["token"])
        except BaseException:
            self.ledger.count(False)
            raise
        ok = r.status == 200
        self.ledger.count(ok)
        if ok:
            with self.ledger.lock:
                self.ledger.shared.add(mid)

    def w_upload(self, api, n):
        key = "plain" if n % 2 == 0 else "sealed"
        tag = uuid.uuid4().hex
        mbox = ("From crash@example.com Thu Jan  1 00:00:00 2026\n"
                "From: crash@example.com\nTo: me@example.com\n"
                "Subject: crash upload %s\nMessage-ID: <%s@example.com>\n"
                "Date: Thu, 1 Jan 2026 00:00:00 +0000\n\nbody %s\n" % (tag, tag, tag))
        try:
            r = api.request("POST", "/api/sync/uploads?kind=mbox", raw=mbox.encode(),
                            token=self.users[key]["token"],
                            headers={"Content-Type": "application/mbox"})
        except BaseException:
            self.ledger.count(False)
            raise
        ok = r.status == 201
        self.ledger.count(ok)
        if ok:
            with self.ledger.lock:
                self.ledger.sources[r.json["id"]] = key
        elif r.status == 413:
            pass  # the sources quota: nothing stored, nothing claimed
        elif r.status >= 500 and r.status != 503:  # 503: refused, nothing done
            raise AssertionError("upload answered %d %r" % (r.status, r.raw[:300]))
        time.sleep(0.05)  # sources are few; keep them so

    # -- one round -----------------------------------------------------------

    def round(self, min_s=0.3, max_s=1.5):
        if self.server is None:
            self.start()
        if not self.users:
            self.setup_users()
        stop = threading.Event()
        fns = [self.w_create("plain"), self.w_create("sealed"), self.w_bulk,
               self.w_update, self.w_delete, self.w_share, self.w_upload]
        errors = []

        def run(fn):
            try:
                self._writer(fn, stop)
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=run, args=(fn,), daemon=True) for fn in fns]
        for t in threads:
            t.start()
        time.sleep(self.rng.uniform(min_s, max_s))
        self.server.crash()
        stop.set()
        for t in threads:
            t.join(60)
        if errors:
            raise errors[0]
        self.server = None
        self.doctor()
        self.start()
        self.login_all()
        self.verify()

    # -- verification --------------------------------------------------------

    def verify(self):
        api = self.api()
        lost = []
        try:
            tok = {k: u["token"] for k, u in self.users.items()}
            with self.ledger.lock:
                content = dict(self.ledger.content)
                maybe = {k: set(v) for k, v in self.ledger.maybe.items()}
                deleted = set(self.ledger.deleted)
                maybe_deleted = set(self.ledger.maybe_deleted)
                batches = dict(self.ledger.batches)
                shared = set(self.ledger.shared)
                sources = dict(self.ledger.sources)
            for mid, (key, text) in content.items():
                r = api.get("/api/memories/" + mid, token=tok[key])
                if mid in deleted:
                    if r.status != 404:
                        lost.append("deleted %s answered %d" % (mid, r.status))
                    continue
                if r.status == 404 and mid in maybe_deleted:
                    continue  # an unacknowledged delete took effect
                if r.status != 200:
                    lost.append("memory %s answered %d" % (mid, r.status))
                    continue
                got = r.json["content"]
                if got != text and got not in maybe.get(mid, ()):
                    lost.append("memory %s holds %r, acknowledged %r" % (mid, got, text))
                if mid in shared and self.users["sealed"]["email"] not in r.json["shared_with"]:
                    lost.append("share of %s lost" % mid)
            for tag, (key, acked) in batches.items():
                r = api.get("/api/memories?limit=1&tag=" + tag, token=tok[key])
                if r.status != 200:
                    lost.append("bulk %s list answered %d" % (tag, r.status))
                    continue
                total = r.json["total"]
                if total not in ((BULK_SIZE,) if acked else (0, BULK_SIZE)):
                    lost.append("bulk %s (acknowledged %s) holds %d of %d"
                                % (tag, acked, total, BULK_SIZE))
            for sid, key in sources.items():
                r = api.get("/api/sync/sources/" + sid, token=tok[key])
                if r.status != 200:
                    lost.append("source %s answered %d" % (sid, r.status))
        finally:
            api.close()
        if lost:
            raise AssertionError("%d acknowledged write(s) lost or damaged:\n%s"
                                 % (len(lost), "\n".join(lost[:30])))

    def finish(self):
        if self.server is not None:
            self.server.stop()
            self.server = None
        self.doctor()


def run_rounds(data_dir, rounds, seed=None, log=print):
    d = Drill(data_dir, seed=seed, log=log)
    try:
        for i in range(rounds):
            d.round()
            log("round %d/%d: acknowledged %d, unacknowledged %d, lost 0"
                % (i + 1, rounds, d.ledger.acked, d.ledger.unacked))
        d.finish()
    finally:
        if d.server is not None:
            d.server.stop(check=False)
    return d

