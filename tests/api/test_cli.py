"""The command line: version, help, user management, doctor, serve's options."""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import DEFAULT_PASSWORD, run_cli  # noqa: E402

# Subcommands the brief and design/ARCHITECTURE.md name; those that must exist
# now, and those checked whenever the top-level help lists them.
REQUIRED = ("serve", "user", "doctor", "version")
KNOWN = ("serve", "user", "add", "search", "chat", "import", "export", "mcp", "backup", "restore",
         "doctor", "plugin", "version")


class CliTestCase(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        harness.require_binary()

    def tmpdir(self):
        d = tempfile.mkdtemp(prefix="pos-cli-")
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def run_ok(self, args, stdin=None):
        p = run_cli(args, stdin=stdin)
        self.assertEqual(p.returncode, 0, "%r exited %d\nstdout: %s\nstderr: %s"
                         % (args, p.returncode, p.stdout[-2000:], p.stderr[-2000:]))
        return p


class HelpTest(CliTestCase):

    def test_version(self):
        p = self.run_ok(["version"])
        self.assertRegex(p.stdout, r"\d+\.\d+")

    def test_top_level_help(self):
        p = self.run_ok(["--help"])
        text = p.stdout + p.stderr
        for cmd in REQUIRED:
            self.assertRegex(text, r"\b%s\b" % cmd, "--help does not mention %r" % cmd)

    def listed_subcommands(self):
        p = run_cli(["--help"])
        text = p.stdout + p.stderr
        return [c for c in KNOWN if c in REQUIRED or re.search(r"^\s+%s\b" % c, text, re.M)]

    def test_each_subcommand_help(self):
        for cmd in self.listed_subcommands():
            with self.subTest(cmd=cmd):
                p = self.run_ok([cmd, "--help"])
                self.assertTrue((p.stdout + p.stderr).strip(), "%s --help printed nothing" % cmd)
                self.assertIn(cmd, p.stdout + p.stderr)

    def test_user_subcommands_help(self):
        for sub in ("add", "list"):
            with self.subTest(sub=sub):
                p = self.run_ok(["user", sub, "--help"])
                self.assertTrue(p.stdout.strip() or p.stderr.strip())

    def test_unknown_subcommand_fails(self):
        p = run_cli(["frobnicate"])
        self.assertNotEqual(p.returncode, 0)
        self.assertTrue(p.stderr.strip(), "no message on stderr for an unknown command")

    def test_unknown_option_fails(self):
        p = run_cli(["serve", "--no-such-option"], timeout=15)
        self.assertNotEqual(p.returncode, 0)
        self.assertTrue(p.stderr.strip())


class UserTest(CliTestCase):

    def test_user_add_then_login_over_http(self):
        data = self.tmpdir()
        email = harness.unique_email("cli")
        stdin = DEFAULT_PASSWORD + "\n" + DEFAULT_PASSWORD + "\n"
        self.run_ok(["user", "add", email, "--data", data], stdin=stdin)
        p = self.run_ok(["user", "list", "--data", data])
        self.assertIn(email.lower(), p.stdout)

        # A weak password and a taken address are refused and add nobody.
        weak = harness.unique_email("weak")
        p = run_cli(["user", "add", weak, "--data", data], stdin="short\nshort\n")
        self.assertNotEqual(p.returncode, 0, "weak password accepted")
        self.assertTrue(p.stderr.strip())
        p = run_cli(["user", "add", email.upper(), "--data", data], stdin=stdin)
        self.assertNotEqual(p.returncode, 0, "duplicate email accepted")
        p = self.run_ok(["user", "list", "--data", data])
        self.assertNotIn(weak, p.stdout)
        self.assertEqual(p.stdout.lower().count(email.lower()), 1)

        with harness.Server(data_dir=data) as server:
            api = harness.Api(server.base_url)
            try:
                ans = api.login(email)
                r = api.get("/api/auth/me", token=ans["access_token"])
                self.assertEqual(r.status, 200)
                self.assertEqual(r.json["email"], email.lower())
                r = api.post("/api/auth/login", {"email": weak, "password": "short"})
                harness.check_error(self, r, 401, "invalid_credentials")
            finally:
                api.close()

    def test_user_list_empty_and_users_from_http(self):
        data = self.tmpdir()
        email = harness.unique_email("http")
        with harness.Server(data_dir=data) as server:
            api = harness.Api(server.base_url)
            try:
                api.register(email)
            finally:
                api.close()
        p = self.run_ok(["user", "list", "--data", data])
        self.assertIn(email.lower(), p.stdout)

    def test_doctor(self):
        data = self.tmpdir()
        self.run_ok(["user", "add", harness.unique_email("doc"), "--data", data],
                    stdin=DEFAULT_PASSWORD + "\n" + DEFAULT_PASSWORD + "\n")
        p = self.run_ok(["doctor", "--data", data])
        self.assertTrue(p.stdout.strip(), "doctor printed no summary")


class PluginCliTest(CliTestCase):
    """personalos plugin list|install|remove|run-hook on a data directory."""

    CATALOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "plugins")

    def test_plugin_install_run_hook_remove(self):
        import json
        data = self.tmpdir()
        email = harness.unique_email("plug")
        self.run_ok(["user", "add", email, "--data", data],
                    stdin=DEFAULT_PASSWORD + "\n" + DEFAULT_PASSWORD + "\n")
        probe = os.path.join(self.CATALOG, "probe")
        common = ["--data", data, "--dir", probe]
        p = self.run_ok(["plugin", "list"] + common)
        self.assertIn("probe", [e["id"] for e in json.loads(p.stdout)])
        # The grant must be exactly what the plugin asks for.
        p = run_cli(["plugin", "install", "probe", "--user", email, "--grant", "memories:read"]
                    + common)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("memories:write", p.stderr)
        p = self.run_ok(["plugin", "install", "probe", "--user", email, "--grant",
                         "memories:read,memories:write", "--settings", '{"label":"cli"}'] + common)
        self.assertEqual(json.loads(p.stdout)["settings"], {"label": "cli"})
        p = self.run_ok(["plugin", "list", "--user", email] + common)
        self.assertEqual([e["id"] for e in json.loads(p.stdout)], ["probe"])
        p = self.run_ok(["plugin", "run-hook", "on_user_action", "--plugin", "probe",
                         "--user", email, "--json", '{"action":"try"}'] + common)
        res = json.loads(p.stdout)["result"]
        self.assertEqual((res["calls"], res["label"]), (1, "cli"))
        # Usage errors: an unknown hook, a non-object event; a memory that
        # is not the user's fails.
        p = run_cli(["plugin", "run-hook", "on_nothing", "--plugin", "probe", "--user", email]
                    + common)
        self.assertEqual(p.returncode, 2, p.stderr)
        p = run_cli(["plugin", "run-hook", "on_user_action", "--plugin", "probe", "--user", email,
                     "--json", "[1]"] + common)
        self.assertEqual(p.returncode, 2, p.stderr)
        p = run_cli(["plugin", "run-hook", "on_memory_created", "--plugin", "probe", "--user",
                     email, "--memory", "00000000-0000-4000-8000-000000000000"] + common)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.run_ok(["plugin", "remove", "probe", "--user", email, "--data", data])
        p = self.run_ok(["plugin", "list", "--user", email] + common)
        self.assertEqual(json.loads(p.stdout), [])
        p = run_cli(["plugin", "remove", "probe", "--user", email, "--data", data])
        self.assertEqual(p.returncode, 1, p.stderr)


class ServeTest(CliTestCase):

    def test_bad_listen_address_fails_fast(self):
        data = self.tmpdir()
        for listen in ("not-an-address", "127.0.0.1:99999", "127.0.0.1:"):
            with self.subTest(listen=listen):
                try:
                    p = run_cli(["serve", "--listen", listen, "--data", data], timeout=15)
                except subprocess.TimeoutExpired:
                    self.fail("serve --listen %r kept running" % listen)
                self.assertNotEqual(p.returncode, 0)
                self.assertTrue(p.stderr.strip())

    def test_port_in_use_fails(self):
        with harness.Server(external_ok=False) as server:
            try:
                p = run_cli(["serve", "--listen", "127.0.0.1:%d" % server.port,
                             "--data", self.tmpdir()], timeout=15)
            except subprocess.TimeoutExpired:
                self.fail("a second server on a used port kept running")
            self.assertNotEqual(p.returncode, 0)
            self.assertTrue(p.stderr.strip())
            api = harness.Api(server.base_url)
            self.assertEqual(api.get("/health").status, 200)
            api.close()

    def test_environment_variables(self):
        data = self.tmpdir()
        port = harness.free_port()
        env = dict(os.environ, PERSONALOS_LISTEN="127.0.0.1:%d" % port, PERSONALOS_DATA=data)
        log = tempfile.TemporaryFile()
        self.addCleanup(log.close)
        proc = subprocess.Popen([harness.pos_bin(), "serve"], env=env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log, cwd=self.tmpdir())
        try:
            def stderr_text():
                log.seek(0)
                return log.read().decode("utf-8", "replace")[-4000:]
            harness._wait_health("http://127.0.0.1:%d" % port, harness.START_TIMEOUT, proc,
                                 stderr_text)
            api = harness.Api("http://127.0.0.1:%d" % port)
            api.register()
            api.close()
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=harness.STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.assertEqual(proc.returncode, 0)
        self.assertTrue(os.path.exists(os.path.join(data, "personalos.db")),
                        "PERSONALOS_DATA was not used")


class StoreOptionTest(CliTestCase):
    """The `store` key (PostgreSQL, issue 18) without a PostgreSQL: nothing
    here connects anywhere but a closed loopback port."""

    def test_backup_refuses_postgres(self):
        dest = os.path.join(self.tmpdir(), "b")
        p = run_cli(["backup", dest, "--data", self.tmpdir(),
                     "--store", "postgres://personalos@127.0.0.1:1/personalos"], timeout=15)
        self.assertEqual(p.returncode, 2)
        self.assertIn("pg_dump", p.stderr)
        self.assertFalse(os.path.exists(dest))

    def test_unknown_store_is_refused(self):
        p = run_cli(["doctor", "--data", self.tmpdir(), "--store", "mysql://x/y"], timeout=15)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("store", p.stderr)

    def test_unreachable_postgres_fails_fast_without_the_password(self):
        try:
            p = run_cli(["serve", "--listen", "127.0.0.1:%d" % harness.free_port(),
                         "--data", self.tmpdir(),
                         "--store", "postgres://u:hunter2secret@127.0.0.1:1/db"], timeout=15)
        except subprocess.TimeoutExpired:
            self.fail("serve kept running without its database")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("PostgreSQL", p.stderr)
        self.assertNotIn("hunter2secret", p.stderr + p.stdout)


if __name__ == "__main__":
    unittest.main()
