"""nginx in front of several PersonalOS instances, for tests (Debian's nginx).

Nginx(upstream_ports=[p1, p2]).start() writes a config into a temp dir and
runs `nginx -p DIR -c nginx.conf -e DIR/error.log -g 'daemon off;'` as a
child on 127.0.0.1 and a free high port; .base_url is its URL; stop()
ends that child (SIGQUIT, then SIGKILL) and removes the directory.

The proxy part of the config is read from packaging/nginx/personalos.conf,
between its `# BEGIN http/upstream/locations` and `# END ...` markers, so the
tests run the shipped configuration: passive health checks (max_fails,
proxy_next_upstream), SSE/WebSocket pass-through (proxy_buffering off,
HTTP/1.1, Upgrade/Connection, long read timeout), /metrics denied. Only the
upstream servers and the listen line (plain HTTP, no TLS) differ.

Run as root (CI containers), nginx (master included) runs as `nobody`,
which owns the temp dir; as any other user, as that user. pid file, logs
and temp paths are all inside the temp dir.
"""
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
SHIPPED = os.path.join(REPO_ROOT, "packaging", "nginx", "personalos.conf")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def _free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def shipped_section(name, path=SHIPPED):
    """The lines between `# BEGIN name` and `# END name` of the shipped config."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^[ \t]*# BEGIN %s\n(.*?)^[ \t]*# END %s\n" % (name, name), text,
                  re.S | re.M)
    if not m:
        raise AssertionError("%s has no '# BEGIN %s' section" % (path, name))
    return m.group(1)


def render_config(prefix, port, upstream_ports):
    """The nginx.conf the tests run: the shipped sections, local paths."""
    upstream = shipped_section("upstream")
    servers = "".join("    server 127.0.0.1:%d max_fails=3 fail_timeout=10s;\n" % p
                      for p in upstream_ports)
    # the shipped example's instances are replaced by ours, the rest stays
    upstream = re.sub(r"^[ \t]*server [^\n]*\n", "", upstream, flags=re.M)
    upstream = servers + upstream
    tmp = os.path.join(prefix, "tmp")
    return (
        "worker_processes 1;\n"
        "pid %(p)s/nginx.pid;\n"
        "error_log %(p)s/error.log warn;\n"
        "events { worker_connections 512; }\n"
        "http {\n"
        "    access_log %(p)s/access.log;\n"
        "    client_body_temp_path %(t)s/body;\n"
        "    proxy_temp_path %(t)s/proxy;\n"
        "    fastcgi_temp_path %(t)s/fastcgi;\n"
        "    uwsgi_temp_path %(t)s/uwsgi;\n"
        "    scgi_temp_path %(t)s/scgi;\n"
        "%(http)s"
        "    upstream personalos {\n%(up)s    }\n"
        "    server {\n"
        "        listen 127.0.0.1:%(port)d;\n"
        "%(loc)s"
        "    }\n"
        "}\n" % {"p": prefix, "t": tmp, "http": shipped_section("http"), "up": upstream,
                 "port": port, "loc": shipped_section("locations")})


class Nginx:
    def __init__(self, upstream_ports):
        self.upstream_ports = list(upstream_ports)
        self.dir = None
        self.proc = None
        self.port = None
        self.base_url = None

    def start(self):
        if not os.path.exists(NGINX):
            raise AssertionError("nginx is not installed (scripts/install-deps installs it)")
        self.dir = tempfile.mkdtemp(prefix="pos-nginx-")
        os.mkdir(os.path.join(self.dir, "tmp"))
        ids = {}
        if os.getuid() == 0:
            pw = pwd.getpwnam("nobody")
            for root, _dirs, _files in os.walk(self.dir):
                os.chown(root, pw.pw_uid, pw.pw_gid)
            # the child itself drops to nobody, so signals reach nginx
            ids = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
        last = None
        for _attempt in range(3):  # the free port may be taken in between
            self.port = _free_port()
            self.base_url = "http://127.0.0.1:%d" % self.port
            conf = os.path.join(self.dir, "nginx.conf")
            with open(conf, "w", encoding="utf-8") as f:
                f.write(render_config(self.dir, self.port, self.upstream_ports))
            os.chmod(conf, 0o644)
            self.proc = subprocess.Popen(
                [NGINX, "-p", self.dir, "-c", conf,
                              "-e", os.path.join(self.dir, "error.log"),
                              "-g", "daemon off;"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, **ids)
            try:
                self._wait_listening()
                return self
            except AssertionError as e:
                last = e
                self._kill()
        self.stop()
        raise last

    def _wait_listening(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode("utf-8", "replace")
                raise AssertionError("nginx exited with %r: %s\n%s" % (
                    self.proc.returncode, err, self.error_log()))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("nginx did not listen within %.0fs" % timeout)

    def error_log(self):
        try:
            with open(os.path.join(self.dir, "error.log"), encoding="utf-8",
                      errors="replace") as f:
                return f.read()[-4000:]
        except (OSError, TypeError):
            return ""

    def _kill(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            # QUIT: a graceful stop (workers finish their requests)
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def stop(self):
        self._kill()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False
