"""A throwaway Redis server for tests (Debian's redis-server).

RedisServer() starts `redis-server` as a child process on 127.0.0.1 and a
free high port, in a temporary directory, with no persistence
(`--save '' --appendonly no`), and stop() ends that child (SIGTERM, then
SIGKILL) and removes the directory. ping() and command() speak RESP over a
plain socket (standard library only) so tests can look at what the
instances keep there. start() raises unittest.SkipTest when redis-server is
not installed.
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"


def _free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


class RedisServer:
    def __init__(self):
        self.dir = None
        self.proc = None
        self.port = None

    @property
    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def start(self, port=None):
        """Starts on `port` (one try), or on a free port (three tries)."""
        if not os.path.exists(REDIS):
            raise unittest.SkipTest("redis-server is not installed (scripts/install-deps)")
        self.dir = tempfile.mkdtemp(prefix="pos-redis-")
        last = None
        for _attempt in range(1 if port else 3):  # a free port may be taken in between
            self.port = port or _free_port()
            log = open(os.path.join(self.dir, "redis.log"), "ab")
            try:
                self.proc = subprocess.Popen(
                    [REDIS, "--bind", "127.0.0.1", "--port", str(self.port),
                     "--save", "", "--appendonly", "no", "--dir", self.dir,
                     "--daemonize", "no", "--protected-mode", "yes"],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.dir)
            finally:
                log.close()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    if self.ping():
                        return self
                except OSError as e:
                    last = e
                time.sleep(0.05)
            self._kill()
        shutil.rmtree(self.dir, ignore_errors=True)
        raise AssertionError("redis-server did not start: %r" % (last,))

    def _kill(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def stop(self):
        self._kill()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def command(self, *args):
        """Sends one command; returns the decoded reply (bytes, int, list,
        None), or raises RuntimeError for an error reply."""
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(out)
            f = s.makefile("rb")
            return self._read(f)

    def _read(self, f):
        line = f.readline()
        if not line:
            raise OSError("connection closed")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = f.read(n + 2)
            return data[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read(f) for _ in range(n)]
        raise OSError("bad reply %r" % line)

    def ping(self):
        return self.command("PING") == b"PONG"
