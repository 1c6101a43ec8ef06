"""Packaging: generated files match the code, --version names the commit,
`cmake --install` lays out what docs/OPERATIONS.md promises, and the
systemd unit stays hardened. No server is started; nothing leaves the host.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def gendoc(kind):
    p = harness.run_cli(["gendoc", kind])
    assert p.returncode == 0, p.stderr
    return p.stdout


def read(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        return f.read()


class GeneratedFilesTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        harness.require_binary()

    def test_env_example_does_not_drift(self):
        self.assertEqual(read(".env.example"), gendoc("env"),
                         "regenerate: build/personalos gendoc env > .env.example")
        # Every variable the option table names is listed.
        names = set(re.findall(r'"(PERSONALOS_[A-Z0-9_]+)"', read("src/base/config.c")))
        self.assertGreater(len(names), 30)
        listed = set(re.findall(r"^# (PERSONALOS_[A-Z0-9_]+)=", read(".env.example"), re.M))
        self.assertEqual(names - listed, set())

    def test_example_config_does_not_drift_and_loads(self):
        text = read("packaging/personalos.conf.example")
        self.assertEqual(text, gendoc("conf"),
                         "regenerate: build/personalos gendoc conf > packaging/personalos.conf.example")
        keys = re.findall(r"^# ([a-z0-9_]+) = ", text, re.M)
        self.assertIn("data", keys)
        # The listed defaults are valid values: uncommented, the file loads.
        with tempfile.TemporaryDirectory() as d:
            conf = os.path.join(d, "p.conf")
            with open(conf, "w") as f:
                for m in re.finditer(r"^# ([a-z0-9_]+) = (.+)$", text, re.M):
                    f.write("%s = %s\n" % (m.group(1), m.group(2)))
                f.write("data = %s\n" % os.path.join(d, "data"))
            p = harness.run_cli(["doctor", "--config", conf])
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_man_pages_cover_every_command_and_key(self):
        man5 = gendoc("man5")
        self.assertTrue(man5.startswith(".TH PERSONALOS.CONF 5"))
        for key in re.findall(r"^# ([a-z0-9_]+) = ", gendoc("conf"), re.M):
            self.assertIn(".B " + key.replace("-", "\\-") + "\n", man5)
        man1 = gendoc("man1")
        self.assertTrue(man1.startswith(".TH PERSONALOS 1"))
        overview = harness.run_cli(["help"]).stdout
        commands = re.findall(r"^  ([a-z]+) ", overview.split("Common options")[0], re.M)
        self.assertIn("backup", commands)
        for c in commands:
            self.assertIn(".B " + c + "\n", man1)
        if shutil.which("groff"):
            p = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z"], input=man1 + man5,
                               capture_output=True, text=True)
            self.assertEqual(p.stderr, "", "groff warnings")

    def test_bad_gendoc_argument(self):
        self.assertEqual(harness.run_cli(["gendoc", "nope"]).returncode, 2)
        self.assertEqual(harness.run_cli(["gendoc"]).returncode, 2)

    def test_version_names_the_commit(self):
        for args in (["--version"], ["version"]):
            out = harness.run_cli(args).stdout
            m = re.match(r"personalos \S+ \(commit ([0-9a-f]{7,}(-dirty)?|unknown);", out)
            self.assertTrue(m, out)


class InstallTest(unittest.TestCase):

    def test_install_layout_and_hardened_unit(self):
        build = os.path.dirname(harness.require_binary())
        if not os.path.exists(os.path.join(build, "personalos.1")):
            self.skipTest("man pages not built in %s (cmake --build builds them)" % build)
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            prefix = re.search(r"^CMAKE_INSTALL_PREFIX:PATH=(.*)$", f.read(), re.M).group(1)
        with tempfile.TemporaryDirectory() as stage:
            p = subprocess.run(["cmake", "--install", build],
                               env=dict(os.environ, DESTDIR=stage),
                               capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            root = stage + prefix
            for rel in ("bin/personalos", "share/man/man1/personalos.1",
                        "share/man/man5/personalos.conf.5",
                        "lib/systemd/system/personalos.service",
                        "share/doc/personalos/personalos.conf.example",
                        "share/doc/personalos/.env.example",
                        "share/doc/personalos/LICENSE",
                        "share/doc/personalos/CHANGELOG.md"):
                self.assertTrue(os.path.exists(os.path.join(root, rel)), rel)
            # the bundled plugins, every package of the checkout's plugins/
            src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "plugins")
            bundled = sorted(n for n in os.listdir(src)
                             if os.path.exists(os.path.join(src, n, "plugin.json")))
            self.assertTrue(bundled)
            for name in bundled:
                for f in os.listdir(os.path.join(src, name)):
                    rel = "share/personalos/plugins/%s/%s" % (name, f)
                    self.assertTrue(os.path.exists(os.path.join(root, rel)), rel)
            self.assertTrue(os.access(os.path.join(root, "bin/personalos"), os.X_OK))
            unit_path = os.path.join(root, "lib/systemd/system/personalos.service")
            with open(unit_path) as f:
                unit = f.read()
            self.assertNotIn("@BINDIR@", unit)
            self.assertIn("ExecStart=%s/bin/personalos serve" % prefix, unit)
            self.assertIn("--web %s/share/personalos/web" % prefix, unit)
            self.assertIn("Environment=PERSONALOS_PLUGINS_DIR=%s/share/personalos/plugins\n"
                          % prefix, unit)
            for line in ("DynamicUser=yes", "ProtectSystem=strict",
                         "ReadWritePaths=/var/lib/personalos", "NoNewPrivileges=yes",
                         "PrivateTmp=yes", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
                         "SystemCallFilter=@system-service"):
                self.assertIn(line + "\n", unit)
            if shutil.which("systemd-analyze"):
                p = subprocess.run(["systemd-analyze", "security", "--offline=yes", unit_path],
                                   capture_output=True, text=True)
                m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", p.stdout)
                if m:  # older systemd has no --offline
                    self.assertLessEqual(float(m.group(1)), 2.0, p.stdout[-2000:])


if __name__ == "__main__":
    unittest.main()
