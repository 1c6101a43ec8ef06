"""An unprivileged Dovecot IMAP server for tests (Debian's dovecot-imapd).

Dovecot(users={"alice": "secret"}) writes a config into a temp dir (passwd
file passdb, static userdb, maildir under the temp dir, 127.0.0.1 on a free
high port, ssl = no), starts `dovecot -F -c CONF` as a child process and
stops it (SIGTERM to that child) in stop(). Messages go in through IMAP
APPEND (imaplib), like a mail client would.

Run as root (CI containers), Dovecot's login and internal processes must not
be root: they use the package's `dovenull` and `dovecot` users and the mail
directory belongs to `dovecot`. As any other user, everything runs as that
user.
"""
import grp
import imaplib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"


def _free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


class Dovecot:
    def __init__(self, users, tls=False):
        self.users = dict(users)
        self.tls = tls
        self.dir = None
        self.proc = None
        self.port = None
        self.imaps_port = None
        self.cert = None

    def start(self):
        if not os.path.exists(DOVECOT):
            raise AssertionError("dovecot is not installed (scripts/install-deps installs it)")
        self.dir = tempfile.mkdtemp(prefix="pos-dovecot-")
        os.chmod(self.dir, 0o755)
        for d in ("run", "mail", "home"):
            os.mkdir(os.path.join(self.dir, d))
        if os.getuid() == 0:
            internal, login = "dovecot", "dovenull"
            pw = pwd.getpwnam("dovecot")
            uid, gid = pw.pw_uid, pw.pw_gid
            for d in ("mail", "home"):
                os.chown(os.path.join(self.dir, d), uid, gid)
            group = grp.getgrgid(gid).gr_name
        else:
            internal = login = pwd.getpwuid(os.getuid()).pw_name
            uid, gid = os.getuid(), os.getgid()
            group = grp.getgrgid(gid).gr_name
        with open(os.path.join(self.dir, "passwd"), "w") as f:
            for u, p in self.users.items():
                f.write("%s:{PLAIN}%s::::::\n" % (u, p))
        ssl = "ssl = no\n"
        if self.tls:
            # a self-signed certificate for 127.0.0.1, trusted by tests
            # through the source's tls_ca_file
            self.cert = os.path.join(self.dir, "cert.pem")
            key = os.path.join(self.dir, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-keyout", key, "-out", self.cert, "-days", "2",
                            "-subj", "/CN=127.0.0.1", "-addext",
                            "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                           check=True, capture_output=True)
            os.chmod(key, 0o644)
            ssl = "ssl = yes\nssl_cert = <%s\nssl_key = <%s\n" % (self.cert, key)
        last = None
        for _attempt in range(3):
            self.port = _free_port()
            self.imaps_port = _free_port() if self.tls else 0
            conf = os.path.join(self.dir, "dovecot.conf")
            with open(conf, "w") as f:
                f.write(CONFIG.format(dir=self.dir, port=self.port, internal=internal,
                                      group=group, login=login, uid=uid, gid=gid,
                                      ssl=ssl, imaps=IMAPS.format(port=self.imaps_port)
                                      if self.tls else NO_IMAPS))
            with open(os.path.join(self.dir, "stderr"), "ab") as err:
                self.proc = subprocess.Popen([DOVECOT, "-F", "-c", conf],
                                             stdin=subprocess.DEVNULL,
                                             stdout=subprocess.DEVNULL, stderr=err)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    c = self.connect()
                    c.logout()
                    return self
                except (OSError, imaplib.IMAP4.error) as e:
                    last = e
                    time.sleep(0.1)
            self._kill()
        raise AssertionError("dovecot did not start: %r\n%s" % (last, self.log()))

    def log(self):
        try:
            with open(os.path.join(self.dir, "dovecot.log"), errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def connect(self, user=None):
        c = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        if user:
            c.login(user, self.users[user])
        return c

    def append(self, user, folder, messages):
        """APPENDs raw messages (bytes) to folder, creating it if needed."""
        c = self.connect(user)
        try:
            if folder != "INBOX":
                c.create(folder)
            for m in messages:
                typ, data = c.append(folder, None, None, m)
                if typ != "OK":
                    raise AssertionError("APPEND failed: %r" % (data,))
        finally:
            c.logout()

    def recreate(self, user, folder):
        """DELETE and CREATE folder: the new one has a new UIDVALIDITY."""
        c = self.connect(user)
        try:
            c.delete(folder)
            typ, data = c.create(folder)
            if typ != "OK":
                raise AssertionError("CREATE failed: %r" % (data,))
        finally:
            c.logout()

    def _kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def stop(self):
        self._kill()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


CONFIG = """
base_dir = {dir}/run
state_dir = {dir}/run/state
log_path = {dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
{ssl}disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{dir}/mail/%u
default_internal_user = {internal}
default_internal_group = {group}
default_login_user = {login}
first_valid_uid = 0
first_valid_gid = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={dir}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
{imaps}
}}
service anvil {{
  chroot =
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0600
  }}
  unix_listener stats-writer {{
    mode = 0600
  }}
}}
"""

IMAPS = """  inet_listener imaps {{
    address = 127.0.0.1
    port = {port}
    ssl = yes
  }}"""

NO_IMAPS = """  inet_listener imaps {
    port = 0
  }"""


def message(n, subject=None, body=None, msgid=None, extra=""):
    """A small RFC 822 message as bytes."""
    return ("From: Sender %d <sender%d@example.org>\r\n"
            "To: me@example.org\r\n"
            "Subject: %s\r\n"
            "Date: Mon, 02 Nov 2026 10:%02d:00 +0000\r\n"
            "Message-ID: <%s>\r\n%s"
            "\r\n"
            "%s\r\n" % (n, n, subject or "message %d" % n, n % 60,
                        msgid or "msg-%d@example.org" % n, extra,
                        body or "Body of message number %d." % n)).encode()
