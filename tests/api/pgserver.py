"""A throwaway PostgreSQL server for tests (Python standard library only).

start() runs Debian's initdb into a temporary directory (as the user
`nobody` when running as root: initdb refuses root), starts postgres on
127.0.0.1 and a free high port with its socket in that directory and
fsync off, and returns a PgServer whose `url` is
postgres://postgres@127.0.0.1:PORT/ (no database: create_database() makes
one per test server). stop() kills it and removes the directory.

The API harness (harness.py) reads POS_TEST_STORE=postgres://...: every
server it starts gets a fresh database on that server (see
harness._test_store).

Command line (ctest api/pg and unit/test_pg use it):
  python3 tests/api/pgserver.py run [--db] -- COMMAND...
starts a server, runs COMMAND with POS_TEST_STORE set to its URL (with
--db also POS_TEST_PG_URL, the URL of a fresh database), stops the server
and exits with COMMAND's status; 77 (skipped) when PostgreSQL is not
installed.
"""

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

SKIP = 77


def bin_dir():
    """The newest /usr/lib/postgresql/N/bin holding initdb, or None."""
    found = []
    for p in glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        try:
            found.append((int(p.split("/")[4]), os.path.dirname(p)))
        except ValueError:
            continue
    return max(found)[1] if found else None


def available():
    return bin_dir() is not None and shutil.which("psql") is not None


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    def __init__(self):
        self.dir = None
        self.port = None
        self.url = None
        self._as = []

    def _run(self, argv, **kw):
        return subprocess.run(self._as + argv, check=True, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)

    def start(self):
        bins = bin_dir()
        if not bins:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        self.dir = tempfile.mkdtemp(prefix="pos-pg-")
        if os.geteuid() == 0:
            # initdb refuses root: the cluster belongs to nobody
            os.chown(self.dir, 65534, 65534)
            self._as = ["runuser", "-u", "nobody", "--"]
        data = os.path.join(self.dir, "data")
        try:
            self._run([os.path.join(bins, "initdb"), "-D", data, "-U", "postgres",
                       "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"])
            for _attempt in range(3):  # the free port may be taken in between
                self.port = _free_port()
                opts = ("-k %s -p %d -c listen_addresses=127.0.0.1 -c fsync=off"
                        " -c synchronous_commit=off -c full_page_writes=off"
                        " -c max_connections=300" % (self.dir, self.port))
                try:
                    self._run([os.path.join(bins, "pg_ctl"), "-D", data, "-o", opts,
                               "-l", os.path.join(self.dir, "log"), "-w", "-t", "30",
                               "start"])
                    break
                except subprocess.CalledProcessError:
                    if _attempt == 2:
                        raise
        except subprocess.CalledProcessError as e:
            log = ""
            try:
                with open(os.path.join(self.dir, "log")) as f:
                    log = f.read()[-2000:]
            except OSError:
                pass
            shutil.rmtree(self.dir, ignore_errors=True)
            raise RuntimeError("cannot start PostgreSQL: %s\n%s\n%s"
                               % (e, e.stdout.decode(errors="replace"), log))
        self.url = "postgres://postgres@127.0.0.1:%d/" % self.port
        return self

    def stop(self):
        if not self.dir:
            return
        bins = bin_dir()
        data = os.path.join(self.dir, "data")
        try:
            self._run([os.path.join(bins, "pg_ctl"), "-D", data, "-m", "immediate",
                       "-w", "stop"])
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


def start():
    return PgServer().start()


def create_database(server_url, name=None):
    """Creates a database on the server of `server_url`
    (postgres://USER@HOST:PORT/...) and returns its URL."""
    u = urllib.parse.urlsplit(server_url)
    name = name or "pos_" + uuid.uuid4().hex[:16]
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = urllib.parse.unquote(u.password)
    for attempt in range(20):
        r = subprocess.run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", u.hostname or "127.0.0.1",
             "-p", str(u.port or 5432), "-U", urllib.parse.unquote(u.username or "postgres"),
             "-d", "postgres", "-c", 'CREATE DATABASE "%s"' % name],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=env)
        if r.returncode == 0:
            break
        # CREATE DATABASE copies template1 and refuses while another
        # CREATE DATABASE holds it: retry
        if b"is being accessed by other users" not in r.stdout or attempt == 19:
            raise RuntimeError("cannot create database %s: %s"
                               % (name, r.stdout.decode(errors="replace")))
        time.sleep(0.1)
    netloc = u.netloc
    return "%s://%s/%s" % (u.scheme, netloc, name)


def main(argv):
    if len(argv) < 2 or argv[0] != "run" or "--" not in argv:
        print("usage: pgserver.py run [--db] -- COMMAND...", file=sys.stderr)
        return 2
    cut = argv.index("--")
    want_db = "--db" in argv[1:cut]
    cmd = argv[cut + 1:]
    if not available():
        print("pgserver: PostgreSQL is not installed; skipped", file=sys.stderr)
        return SKIP
    with PgServer() as pg:
        env = dict(os.environ)
        env["POS_TEST_STORE"] = pg.url
        if want_db:
            env["POS_TEST_PG_URL"] = create_database(pg.url)
        return subprocess.call(cmd, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
