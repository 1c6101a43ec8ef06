"""Black-box test harness for the PersonalOS HTTP API.

Each test file starts the real binary (`$POS_BIN serve --listen 127.0.0.1:PORT
--data TMPDIR`) on a free port with a fresh data directory and talks HTTP to
it, the way Redis's `start_server` and git's `t/` scripts do. Only the Python
standard library is used, so a reader needs nothing else to follow a test.

Environment:
  POS_BIN       path to the `personalos` executable (default: build/personalos
                under the repository root, if it exists).
  POS_BASE_URL  run against an already running server instead (e.g.
                http://127.0.0.1:8420); tests that must start, stop or restart
                their own server skip themselves then.
  POS_TEST_STORE  postgres://USER@HOST:PORT/ (a PostgreSQL server, e.g. the
                one tests/api/pgserver.py starts): every server started here
                stores its records in a fresh database there (--store), one
                per data directory, so a restart finds its data again.

Run one area:   python3 -m unittest tests/api/test_memories.py
Run them all:   POS_BIN=build/personalos python3 -m unittest discover -s tests/api -p 'test_*.py' -v
"""

import collections
import errno
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
DATA_DIR = os.path.join(HERE, "data")

DEFAULT_PASSWORD = "correct horse battery"

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# RFC 3339 in UTC, as the server answers it (microseconds optional).
TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")

START_TIMEOUT = 15.0     # seconds until GET /health must answer 200
STOP_TIMEOUT = 20.0      # seconds a SIGTERMed server may take to exit
REQUEST_TIMEOUT = 120.0  # seconds for one HTTP exchange (big bodies, Argon2id)

# Every field a memory carries in JSON (design/API.md, "Memories").
MEMORY_FIELDS = (
    "id", "user_id", "content", "type", "layer", "source", "created_at",
    "updated_at", "last_accessed_at", "related_memory_ids", "parent_memory_id",
    "tags", "importance_score", "access_count", "is_encrypted", "is_shared",
    "shared_with", "metadata", "attachments",
)
# Every field of the user answered by GET /api/auth/me.
USER_FIELDS = (
    "id", "email", "full_name", "avatar_url", "privacy_tier", "plan",
    "ai_persona", "settings", "total_memories", "created_at", "last_login_at",
)


def external_base_url():
    """The URL of an external server to test, or None to start our own."""
    url = os.environ.get("POS_BASE_URL", "").strip()
    return url.rstrip("/") or None


def pos_bin():
    """Absolute path of the personalos binary, or None if there is none."""
    path = os.environ.get("POS_BIN", "").strip()
    if not path:
        candidate = os.path.join(REPO_ROOT, "build", "personalos")
        return candidate if os.path.exists(candidate) else None
    return os.path.abspath(path)


def require_binary(testcase=None):
    """Skip (external mode) or fail (misconfigured) when POS_BIN is unusable."""
    path = pos_bin()
    if path is None or not os.access(path, os.X_OK):
        if external_base_url():
            raise unittest.SkipTest("needs POS_BIN (running against POS_BASE_URL)")
        raise RuntimeError(
            "POS_BIN is not set or not executable (got %r); build the server "
            "and set POS_BIN=build/personalos" % (os.environ.get("POS_BIN"),))
    return path


def require_local(reason="needs a server of its own"):
    """Skip a test that must start/stop its own server when POS_BASE_URL is set."""
    if external_base_url():
        raise unittest.SkipTest("%s; skipped with POS_BASE_URL" % reason)


def unique_email(prefix="t"):
    return "%s-%s@example.com" % (prefix, uuid.uuid4().hex[:16])


def auth(token):
    """The Authorization header for a bearer token."""
    return {"Authorization": "Bearer " + token}


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def _tail(path, limit=4000):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


class ServerError(AssertionError):
    """The server failed to start, to answer, or to stop cleanly."""


# Environment every test server starts with unless the test's `env` says
# otherwise. Registration is open so tests may register many users on one
# server; the real default (open until the first account, then invite)
# is tested by passing env={"PERSONALOS_REGISTRATION": ""} (tests/api/test_accounts.py).
DEFAULT_SERVER_ENV = {"PERSONALOS_REGISTRATION": "open"}


def _test_store(data_dir):
    """The --store URL for a server on data_dir: "" (SQLite in data_dir)
    unless POS_TEST_STORE names a PostgreSQL server; then a database made
    for this data directory on first use and remembered in it."""
    base = os.environ.get("POS_TEST_STORE", "")
    if not base.startswith(("postgres://", "postgresql://")):
        return ""
    marker = os.path.join(data_dir, ".pos-test-store")
    try:
        with open(marker) as f:
            return f.read().strip()
    except FileNotFoundError:
        pass
    sys.path.insert(0, HERE)
    import pgserver  # noqa: E402 (tests/api/pgserver.py)
    url = pgserver.create_database(base)
    with open(marker, "w") as f:
        f.write(url)
    return url


class Server:
    """One `personalos serve` process on its own port and data directory.

    data_dir: reuse this directory (it is not deleted on stop); by default a
      fresh temporary directory is made and removed on stop.
    env: extra environment variables (e.g. {"PERSONALOS_ACCESS_TTL": "1"}).
    With POS_BASE_URL set and no data_dir/env requirements, start() and
    stop() do nothing and base_url points at the external server.
    """

    def __init__(self, data_dir=None, env=None, external_ok=True):
        self.env = dict(env or {})
        self.external = bool(external_ok and external_base_url() and not env
                             and data_dir is None)
        self.own_data = data_dir is None
        self.data_dir = data_dir
        self.proc = None
        self.port = None
        self.base_url = external_base_url() if self.external else None
        self.log_dir = None
        self.returncode = None

    @property
    def stderr_path(self):
        return os.path.join(self.log_dir, "stderr.log")

    @property
    def stdout_path(self):
        return os.path.join(self.log_dir, "stdout.log")

    def stderr_text(self):
        return _tail(self.stderr_path) if self.log_dir else ""

    def start(self):
        if self.external:
            _wait_health(self.base_url, START_TIMEOUT, None, lambda: "")
            return self
        binary = require_binary()
        if self.data_dir is None:
            self.data_dir = tempfile.mkdtemp(prefix="pos-data-")
        self.log_dir = tempfile.mkdtemp(prefix="pos-log-")
        env = dict(os.environ)
        for k, v in DEFAULT_SERVER_ENV.items():
            env.setdefault(k, v)
        env.update(self.env)
        if "PERSONALOS_STORE" not in self.env:
            store = _test_store(self.data_dir)
            if store:
                env["PERSONALOS_STORE"] = store
        last_error = None
        for _attempt in range(3):  # the free port may be taken in between
            self.port = free_port()
            self.base_url = "http://127.0.0.1:%d" % self.port
            out = open(self.stdout_path, "ab")
            err = open(self.stderr_path, "ab")
            try:
                self.proc = subprocess.Popen(
                    [binary, "serve", "--listen", "127.0.0.1:%d" % self.port,
                     "--data", self.data_dir],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env,
                    cwd=self.log_dir)
            finally:
                out.close()
                err.close()
            try:
                _wait_health(self.base_url, START_TIMEOUT, self.proc, self.stderr_text)
                return self
            except ServerError as e:
                last_error = e
                if self.proc.poll() is None:
                    self._kill()
                if "in use" not in self.stderr_text().lower():
                    break
        self.proc = None
        self._remove_dirs()
        raise last_error

    def _remove_dirs(self):
        if self.own_data and self.data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir = None
        if self.log_dir:
            shutil.rmtree(self.log_dir, ignore_errors=True)
            self.log_dir = None

    def _kill(self):
        try:
            self.proc.kill()
        except ProcessLookupError:
            pass
        self.proc.wait()

    def stop(self, check=True):
        """SIGTERM the server and wait; SIGKILL as a last resort.

        With check, raise ServerError unless it exited 0 on its own and its
        stderr holds no sanitizer report.
        """
        if self.external or self.proc is None:
            return 0
        problems = []
        if self.proc.poll() is not None:
            problems.append("server had already exited with %r before SIGTERM"
                            % self.proc.returncode)
        else:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                problems.append("server did not exit within %.0fs of SIGTERM; killed"
                                % STOP_TIMEOUT)
                self._kill()
        self.returncode = self.proc.returncode
        self.proc = None
        if self.returncode != 0 and not problems:
            problems.append("exit code after SIGTERM was %r, expected 0" % self.returncode)
        stderr = self.stderr_text()
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                       "runtime error:", "POS_BUG", "Assertion `"):
            if marker in stderr:
                problems.append("server stderr holds %r" % marker)
        self._remove_dirs()
        if check and problems:
            raise ServerError("; ".join(problems) + "\n--- server stderr ---\n" + stderr)
        return self.returncode

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop(check=exc[0] is None)
        return False


def _wait_health(base_url, timeout, proc, stderr_text):
    deadline = time.monotonic() + timeout
    u = urllib.parse.urlsplit(base_url)
    last = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServerError("server exited with %r before answering /health\n"
                              "--- server stderr ---\n%s" % (proc.returncode, stderr_text()))
        conn = _new_connection(u, timeout=2)
        try:
            conn.request("GET", u.path.rstrip("/") + "/health")
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                return
            last = "status %d" % resp.status
        except (OSError, http.client.HTTPException) as e:
            last = repr(e)
        finally:
            conn.close()
        time.sleep(0.05)
    raise ServerError("GET /health did not answer 200 within %.0fs (last: %s)\n"
                      "--- server stderr ---\n%s" % (timeout, last, stderr_text()))


def _new_connection(u, timeout):
    if u.scheme == "https":
        return http.client.HTTPSConnection(u.hostname, u.port or 443, timeout=timeout)
    return http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)


Response = collections.namedtuple("Response", "status headers json raw")
Response.__doc__ = """(status, headers, parsed_json_or_None, raw_bytes); headers
is a dict with lower-cased names."""


_DISCONNECTS = (http.client.RemoteDisconnected, BrokenPipeError,
                ConnectionResetError, ConnectionAbortedError)


class Api:
    """A small HTTP client with one keep-alive connection to the server."""

    CHUNK = 256 * 1024

    def __init__(self, base_url, timeout=REQUEST_TIMEOUT, retry_429=True):
        self.url = urllib.parse.urlsplit(base_url)
        self.prefix = self.url.path.rstrip("/")
        self.timeout = timeout
        self.retry_429 = retry_429
        self.conn = None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method, path, body=None, token=None, headers=None, raw=None):
        """Send one request; return Response(status, headers, json, raw).

        body: a Python value sent as JSON; raw: bytes sent as they are
        (both get Content-Type: application/json unless headers says
        otherwise; a header given as None is left out). token: a bearer token.
        """
        hdrs = {}
        data = raw
        if data is None and body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        for k, v in (headers or {}).items():
            for old in [h for h in hdrs if h.lower() == k.lower()]:
                del hdrs[old]
            if v is not None:
                hdrs[k] = v
        for _ in range(6):
            resp = self._exchange(method, path, hdrs, data)
            if not (self.retry_429 and resp.status == 429):
                return resp
            # Rate limits are not what these tests are about: wait as told.
            try:
                wait = float(resp.headers.get("retry-after", "1"))
            except ValueError:
                wait = 1.0
            time.sleep(min(max(wait, 0.1), 10.0))
        return resp

    def _exchange(self, method, path, hdrs, data):
        for attempt in (0, 1):
            reused = self.conn is not None and self.conn.sock is not None
            if self.conn is None:
                self.conn = _new_connection(self.url, self.timeout)
            if self.conn.sock is None:
                self.conn.connect()
            try:
                return self._send(method, path, hdrs, data)
            except _DISCONNECTS as e:
                self.close()
                # A kept-alive connection the server had closed: retry once.
                if attempt == 0 and reused and not getattr(e, "pos_early", False):
                    continue
                raise
            except BaseException:
                self.close()
                raise

    def _send(self, method, path, hdrs, data):
        conn = self.conn
        conn.putrequest(method, self.prefix + path, skip_accept_encoding=True)
        for k, v in hdrs.items():
            conn.putheader(k, v)
        if data is not None or method in ("POST", "PUT", "PATCH"):
            conn.putheader("Content-Length", str(len(data or b"")))
        conn.endheaders()
        early = False
        if data:
            early = self._send_body(conn.sock, data)
        try:
            resp = conn.getresponse()
            raw = resp.read()
        except _DISCONNECTS as e:
            if early:
                e.pos_early = True
            raise
        if early:
            # The server answered before reading the whole body: the stream
            # is out of step, so this connection cannot be reused.
            self.close()
        headers = {k.lower(): v for k, v in resp.getheaders()}
        parsed = None
        if raw:
            try:
                parsed = json.loads(raw.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                parsed = None
        return Response(resp.status, headers, parsed, raw)

    def _send_body(self, sock, data):
        """Send data, stopping early if the server answers first (e.g. 413).

        Returns True if the server spoke (or hung up) before all was sent.
        """
        view = memoryview(data)
        off = 0
        deadline = time.monotonic() + self.timeout
        sock.settimeout(0)
        try:
            while off < len(view):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise socket.timeout("timed out sending the request body")
                readable, writable, _ = select.select([sock], [sock], [], min(left, 1.0))
                if readable:
                    return True
                if not writable:
                    continue
                try:
                    off += sock.send(view[off:off + self.CHUNK])
                except (BlockingIOError, InterruptedError):
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    return True
                except OSError as e:
                    if e.errno in (errno.EPIPE, errno.ECONNRESET):
                        return True
                    raise
            return False
        finally:
            sock.settimeout(self.timeout)

    # Convenience wrappers -------------------------------------------------

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body=body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def register(self, email=None, password=DEFAULT_PASSWORD, full_name=None):
        """Register a user; return the 201 answer's JSON (fails otherwise)."""
        body = {"email": email or unique_email(), "password": password}
        if full_name is not None:
            body["full_name"] = full_name
        r = self.post("/api/auth/register", body)
        if r.status != 201 or not isinstance(r.json, dict):
            raise AssertionError("register %s: expected 201, got %d %r"
                                 % (body["email"], r.status, r.raw[:500]))
        return r.json

    def login(self, email, password=DEFAULT_PASSWORD):
        """Log in; return the 200 answer's JSON (fails otherwise)."""
        r = self.post("/api/auth/login", {"email": email, "password": password})
        if r.status != 200 or not isinstance(r.json, dict):
            raise AssertionError("login %s: expected 200, got %d %r"
                                 % (email, r.status, r.raw[:500]))
        return r.json


def check_error(self, resp, status, code=None, field=None, index=None):
    """Assert (on TestCase self) that resp is an error of this status shaped
    {"error": {"code", "message"}}, with this code, field and index if given."""
    self.assertEqual(resp.status, status,
                     "expected %d, got %d: %r" % (status, resp.status, resp.raw[:500]))
    self.assertIsInstance(resp.json, dict,
                          "error body is not a JSON object: %r" % (resp.raw[:500],))
    self.assertIn("error", resp.json, resp.json)
    err = resp.json["error"]
    self.assertIsInstance(err, dict, resp.json)
    self.assertIsInstance(err.get("code"), str, resp.json)
    self.assertRegex(err["code"], r"^[a-z][a-z0-9_]*$", resp.json)
    self.assertIsInstance(err.get("message"), str, resp.json)
    self.assertTrue(err["message"].strip(), "empty error message: %r" % (resp.json,))
    ctype = resp.headers.get("content-type", "")
    self.assertIn("application/json", ctype, "error content type %r" % ctype)
    if code is not None:
        self.assertEqual(err["code"], code, resp.json)
    if field is not None:
        self.assertEqual(err.get("field"), field, resp.json)
    if index is not None:
        self.assertEqual(err.get("index"), index, resp.json)
    return err


class User:
    """A registered user: email, password, tokens and the user JSON."""

    def __init__(self, email, password, answer):
        self.email = email
        self.password = password
        self.answer = answer
        self.token = answer["access_token"]
        self.refresh_token = answer["refresh_token"]
        self.user = answer.get("user") or {}
        self.id = self.user.get("id")


class ApiTestCase(unittest.TestCase):
    """A test class with one server for all its tests (setUpClass).

    Subclasses set server_env for extra environment variables; those classes
    skip themselves against POS_BASE_URL.
    """

    server_env = None
    server = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if cls.server_env:
            require_local("needs server environment %r" % (cls.server_env,))
        cls.server = Server(env=cls.server_env).start()

    @classmethod
    def tearDownClass(cls):
        server, cls.server = cls.server, None
        if server is not None:
            server.stop()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.api = Api(self.server.base_url)
        self.addCleanup(self.api.close)

    # Users ---------------------------------------------------------------

    def new_user(self, email=None, password=DEFAULT_PASSWORD, full_name=None):
        email = email or unique_email()
        return User(email, password, self.api.register(email, password, full_name))

    # Memories ------------------------------------------------------------

    def create_memory(self, token, content=None, **fields):
        body = dict(fields)
        body["content"] = content if content is not None else "memory " + uuid.uuid4().hex
        r = self.api.post("/api/memories", body, token=token)
        self.assertEqual(r.status, 201, "create memory: %r" % (r.raw[:500],))
        self.assertIsInstance(r.json, dict)
        return r.json

    def get_memory(self, token, memory_id):
        r = self.api.get("/api/memories/" + memory_id, token=token)
        self.assertEqual(r.status, 200, r.raw[:500])
        return r.json

    def list_memories(self, token, query=""):
        r = self.api.get("/api/memories" + (("?" + query) if query else ""), token=token)
        self.assertEqual(r.status, 200, r.raw[:500])
        self.assert_list_shape(r.json)
        return r.json

    def me(self, token):
        r = self.api.get("/api/auth/me", token=token)
        self.assertEqual(r.status, 200, r.raw[:500])
        return r.json

    def memory_count(self, token):
        """The user's memory count, from the list and from /me (they agree)."""
        listed = self.list_memories(token, "limit=1")["total"]
        total = self.me(token)["total_memories"]
        self.assertEqual(listed, total, "list total and /me total_memories disagree")
        return total

    # Assertions ----------------------------------------------------------

    def assert_error(self, resp, status, code=None, field=None, index=None):
        """resp is an error of this status with {"error": {"code", "message"}}."""
        return check_error(self, resp, status, code, field, index)

    def assert_list_shape(self, body):
        self.assertIsInstance(body, dict)
        for key in ("memories", "total", "limit", "offset", "has_more"):
            self.assertIn(key, body, body)
        self.assertIsInstance(body["memories"], list)
        self.assertIsInstance(body["has_more"], bool)
        for key in ("total", "limit", "offset"):
            self.assertIsInstance(body[key], int)
            self.assertNotIsInstance(body[key], bool)

    def assert_memory_shape(self, m):
        self.assertIsInstance(m, dict)
        for key in MEMORY_FIELDS:
            self.assertIn(key, m, "memory lacks %r: %r" % (key, m))
        self.assertNotIn("embedding", m, "embedding must be left out by default")
        self.assertRegex(m["id"], UUID_RE)
        self.assertRegex(m["user_id"], UUID_RE)
        self.assertRegex(m["created_at"], TIMESTAMP_RE)
        self.assertRegex(m["updated_at"], TIMESTAMP_RE)
        if m["last_accessed_at"] is not None:
            self.assertRegex(m["last_accessed_at"], TIMESTAMP_RE)
        self.assertIsInstance(m["tags"], list)
        self.assertIsInstance(m["related_memory_ids"], list)
        self.assertIsInstance(m["access_count"], int)
        self.assertIsInstance(m["is_encrypted"], bool)
        self.assertIsInstance(m["is_shared"], bool)


def outward_ipv4():
    """This machine's address on its default route (no packet is sent), or
    None: a provider there is not on loopback, as a remote one would be."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))
        ip = s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()
    return None if ip.startswith("127.") or ip == "0.0.0.0" else ip


def poll(fn, timeout=60.0, step=0.1):
    """Calls fn every `step` seconds until it returns something true, and
    returns that; None after `timeout` seconds (background work: jobs,
    workers; a bound, never a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return None


def stub_header(request, name):
    """A header of a request a stand-in recorded (names compare without case)."""
    for k, v in (request.get("headers") or {}).items():
        if k.lower() == name.lower():
            return v
    return None


class StubServer:
    """One stand-in process from tests/stubs/ (they all print "PORT <n>"
    first and take /_stub/mode, /_stub/requests and /_stub/reset)."""

    script = None  # file name under tests/stubs/

    def __init__(self, host="127.0.0.1"):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(REPO_ROOT, "tests", "stubs", self.script),
             "--port", "0", "--host", host], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode("ascii", "replace").split()
        if len(line) != 2 or line[0] != "PORT":
            self.stop()
            raise RuntimeError("%s did not print its port: %r" % (self.script, line))
        self.port = int(line[1])
        self.api = Api("http://%s:%d" % (host, self.port), timeout=30)

    def stop(self):
        if self.proc is None:
            return
        if getattr(self, "api", None) is not None:
            self.api.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.proc = None

    def mode(self, mode, **kw):
        body = dict(kw)
        body["mode"] = mode
        r = self.api.post("/_stub/mode", body)
        if r.status != 200:
            raise AssertionError("%s mode %r: %d %r" % (self.script, mode, r.status, r.raw[:200]))

    def requests(self, path=None):
        """What the stand-in received, oldest first (only `path`'s if given)."""
        r = self.api.get("/_stub/requests")
        if r.status != 200 or not isinstance(r.json, list):
            raise AssertionError("%s requests: %d %r" % (self.script, r.status, r.raw[:200]))
        return [q for q in r.json if path is None or q.get("path") == path]

    def reset(self):
        self.api.post("/_stub/reset", {})


class OpenAIStub(StubServer):
    """tests/stubs/openai_stub.py: an OpenAI-compatible stand-in."""

    script = "openai_stub.py"

    def embedding_requests(self):
        return [q for q in self.requests("/v1/embeddings") if q.get("method") == "POST"]

    def chat_requests(self):
        return [q for q in self.requests("/v1/chat/completions") if q.get("method") == "POST"]

    def reply(self, text):
        """Sets the chat reply (None: back to echoing the last user message)."""
        r = self.api.post("/_stub/reply", {"reply": text})
        if r.status != 200:
            raise AssertionError("stub reply: %d %r" % (r.status, r.raw[:200]))


class MemuStub(StubServer):
    """tests/stubs/memu_stub.py: a MemU Cloud API v3 stand-in."""

    script = "memu_stub.py"


class StubbedTestCase(ApiTestCase):
    """A test class whose server talks to a stand-in (tests/stubs/): the
    stand-in starts first, on `stub_host`, and `stub_env(host, port)` gives
    the server's environment pointing at it; both stop after the class."""

    stub_class = None     # a StubServer subclass
    stub_host = "127.0.0.1"
    stub = None

    @classmethod
    def stub_env(cls, host, port):
        raise NotImplementedError

    @classmethod
    def setUpClass(cls):
        require_local("needs its own server and %s" % cls.stub_class.script)
        cls.stub = cls.stub_class(host=cls.stub_host)
        cls.server_env = cls.stub_env(cls.stub_host, cls.stub.port)
        try:
            super().setUpClass()
        except BaseException:
            cls.stub.stop()
            cls.stub = None
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            stub, cls.stub = cls.stub, None
            if stub is not None:
                stub.stop()


def parse_metrics(text):
    """Prometheus text -> {name: [(labels_text, float_value), ...]}."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)", line)
        if not m:
            continue
        try:
            value = float(m.group(3))
        except ValueError:
            continue
        out.setdefault(m.group(1), []).append((m.group(2) or "", value))
    return out


def run_cli(args, stdin=None, timeout=60, env=None):
    """Run POS_BIN with args; return CompletedProcess (text mode)."""
    binary = require_binary()
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([binary] + list(args), input=stdin, capture_output=True,
                          text=True, timeout=timeout, env=e)
