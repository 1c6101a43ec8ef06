"""Plugin packages (issue 15, docs/PLUGINS.md "Packages"): an admin's
upload of a .tar.gz package into the catalog (POST /api/admin/plugins),
and remote catalogs (plugin_catalogs, plugin_trusted_keys) refreshed by a
job (POST /api/admin/plugins/refresh): a package signed by a trusted key
with the right checksum is added; a bad signature, a wrong checksum, an
unknown key, an oversize or hostile package are refused with a clear
status and nothing is added or unpacked.

The catalog is a stand-in HTTP server in this process on 127.0.0.1 (the
server may reach it through PERSONALOS_EGRESS_ALLOW); packages are signed
with the openssl command line (ed25519, a Debian package the tests install).
"""

import base64
import hashlib
import http.server
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402

MAIN_LUA = 'function on_user_action(ev) return {hello = ev.action} end\n'


def manifest(pid, version="1.0.0"):
    return json.dumps({"id": pid, "name": pid.title(), "version": version,
                       "description": "a test package", "hooks": ["on_user_action"],
                       "permissions": []})


def package(files):
    """A .tar.gz of {name: bytes or str}; a value of ("symlink", target)
    makes a symbolic link."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            if isinstance(data, tuple):
                info.type = tarfile.SYMTYPE
                info.linkname = data[1]
                tar.addfile(info)
                continue
            if isinstance(data, str):
                data = data.encode("utf-8")
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def good_package(pid, version="1.0.0"):
    return package({"plugin.json": manifest(pid, version), "main.lua": MAIN_LUA})


class Signer:
    """An ed25519 key made and used with the openssl command line."""

    def __init__(self, tmp, name):
        self.pem = os.path.join(tmp, name + ".pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", self.pem],
                       check=True, capture_output=True)
        der = subprocess.run(["openssl", "pkey", "-in", self.pem, "-pubout", "-outform", "DER"],
                             check=True, capture_output=True).stdout
        self.public = der[-32:]
        self.tmp = tmp

    def sign(self, data):
        path = os.path.join(self.tmp, "to-sign")
        with open(path, "wb") as f:
            f.write(data)
        sig = subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", self.pem, "-rawin",
                              "-in", path], check=True, capture_output=True).stdout
        assert len(sig) == 64
        return base64.b64encode(sig).decode("ascii")


class Catalog(http.server.ThreadingHTTPServer):
    """Serves {path: bytes} and counts the requests per path."""

    daemon_threads = True

    def __init__(self):
        self.files = {}
        self.hits = {}
        self.lock = threading.Lock()
        catalog = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                with catalog.lock:
                    catalog.hits[self.path] = catalog.hits.get(self.path, 0) + 1
                    body = catalog.files.get(self.path)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.port = self.server_address[1]
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.shutdown()
        self.server_close()


@unittest.skipUnless(shutil.which("openssl"), "needs the openssl command line to sign")
class PluginPackagesCase(harness.ApiTestCase):

    @classmethod
    def setUpClass(cls):
        harness.require_local("needs a stand-in catalog and its own configuration")
        cls.tmp = tempfile.mkdtemp(prefix="pcat-")
        cls.trusted = Signer(cls.tmp, "trusted")
        cls.stranger = Signer(cls.tmp, "stranger")
        cls.catalog = Catalog()
        cls.build_catalog()
        port = cls.catalog.port
        # one bundled package (plugins_dir): never removable through the API
        bundled = os.path.join(cls.tmp, "bundled", "fixture")
        os.makedirs(bundled)
        with open(os.path.join(bundled, "plugin.json"), "w") as f:
            f.write(manifest("fixture"))
        with open(os.path.join(bundled, "main.lua"), "w") as f:
            f.write(MAIN_LUA)
        cls.server_env = {
            "PERSONALOS_PLUGINS_DIR": os.path.join(cls.tmp, "bundled"),
            "PERSONALOS_PLUGIN_CATALOGS": "http://127.0.0.1:%d/index.json" % port,
            "PERSONALOS_PLUGIN_TRUSTED_KEYS": base64.b64encode(cls.trusted.public).decode(),
            "PERSONALOS_EGRESS_ALLOW": "127.0.0.1:%d" % port,
            # fast password hashing: these tests are not about it
            "PERSONALOS_PWHASH_OPSLIMIT": "1", "PERSONALOS_PWHASH_MEMLIMIT_KIB": "8192",
        }
        try:
            super().setUpClass()
        except Exception:
            cls.catalog.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.catalog.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def build_catalog(cls):
        entries = []

        def add(pid, data, signer=None, sha=None, sig=None, version="1.0.0"):
            path = "/pkg/%s-%s.tar.gz" % (pid, version)
            cls.catalog.files[path] = data
            # the good one by an absolute URL, the others relative to the index
            url = "http://127.0.0.1:%d%s" % (cls.catalog.port, path) if pid == "greeter" \
                else path[1:]
            sig = sig or (signer or cls.trusted).sign(data)
            entries.append({"id": pid, "version": version, "url": url,
                            "sha256": sha or hashlib.sha256(data).hexdigest(),
                            "signature": sig})
            return sig

        good_sig = add("greeter", good_package("greeter"))
        # a trusted key's signature of other bytes
        add("badsig", good_package("badsig"), sig=good_sig)
        add("wrongsum", good_package("wrongsum"), sha=hashlib.sha256(b"other").hexdigest(),
            sig=good_sig)
        add("unknownkey", good_package("unknownkey"), signer=cls.stranger)
        add("huge", os.urandom(4 * 1024 * 1024 + 4096), sig=good_sig)
        add("evil", package({"plugin.json": manifest("evil"), "main.lua": MAIN_LUA,
                             "../escape.lua": "-- out of the folder\n"}))
        add("liar", good_package("greeter", "6.6.6"), version="1.0.0")
        cls.catalog.files["/index.json"] = json.dumps({"packages": entries}).encode()

    def admin(self):
        if not hasattr(type(self), "_admin"):
            # the first account on a fresh server is its admin
            type(self)._admin = self.new_user()
            self.assertEqual(type(self)._admin.user["role"], "admin")
        return type(self)._admin

    def available(self, token):
        r = self.api.get("/api/plugins/available", token=token)
        self.assertEqual(r.status, 200, r.raw[:300])
        return {p["id"]: p["version"] for p in r.json["plugins"]}

    def unpacked(self):
        root = os.path.join(self.server.data_dir, "plugins")
        return sorted(os.listdir(root)) if os.path.isdir(root) else []

    def refresh(self, token):
        r = self.api.post("/api/admin/plugins/refresh", {}, token=token)
        self.assertEqual(r.status, 202, r.raw[:300])
        jid = r.json["job_id"]
        job = harness.poll(lambda: (lambda j: j if j["status"] in ("done", "failed") else None)(
            self.api.get("/api/jobs/" + jid, token=token).json), timeout=60)
        self.assertIsNotNone(job, "the refresh job did not finish")
        self.assertEqual(job["status"], "done", job)
        return job["result"]

    def test_1_remote_catalog_refresh(self):
        admin = self.admin()
        user = self.new_user()
        # only an admin may refresh
        self.assert_error(self.api.post("/api/admin/plugins/refresh", {}, token=user.token),
                          403, "forbidden")
        report = self.refresh(admin.token)
        self.assertEqual(report["catalogs"][0]["status"], "ok", report)
        st = {p["id"]: p for p in report["packages"]}
        self.assertEqual(st["greeter"]["status"], "installed", st["greeter"])
        for pid, word in (("badsig", "signed"), ("wrongsum", "checksum"),
                          ("unknownkey", "signed"), ("huge", "larger"),
                          ("evil", "archive"), ("liar", "another id")):
            with self.subTest(package=pid):
                self.assertEqual(st[pid]["status"], "refused", st[pid])
                self.assertIn(word, st[pid]["error"])
        # only the good package is in the catalog and on disk
        av = self.available(user.token)
        self.assertEqual(av.get("greeter"), "1.0.0")
        for pid in ("badsig", "wrongsum", "unknownkey", "huge", "evil", "liar"):
            self.assertNotIn(pid, av)
        self.assertEqual(self.unpacked(), ["greeter-1.0.0"])
        self.assertFalse(os.path.exists(os.path.join(self.server.data_dir, "escape.lua")))
        # a user installs it and it runs
        r = self.api.post("/api/plugins/install", {"id": "greeter", "grant": []},
                          token=user.token)
        self.assertEqual(r.status, 201, r.raw[:300])
        r = self.api.post("/api/plugins/greeter/actions", {"action": "wave"}, token=user.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(r.json["result"], {"hello": "wave"})
        # a second refresh finds it present and does not download it again
        report = self.refresh(admin.token)
        st = {p["id"]: p for p in report["packages"]}
        self.assertEqual(st["greeter"]["status"], "present")
        self.assertEqual(self.catalog.hits.get("/pkg/greeter-1.0.0.tar.gz"), 1)

    def test_2_admin_upload(self):
        admin = self.admin()
        user = self.new_user()
        pkg = good_package("uploaded", "2.0.0")
        hdr = {"Content-Type": "application/gzip"}
        self.assert_error(self.api.request("POST", "/api/admin/plugins", raw=pkg, headers=hdr,
                                           token=user.token), 403, "forbidden")
        r = self.api.request("POST", "/api/admin/plugins", raw=pkg, headers=hdr,
                             token=admin.token)
        self.assertEqual(r.status, 201, r.raw[:300])
        self.assertEqual(r.json["plugin"]["id"], "uploaded")
        self.assertEqual(r.json["plugin"]["version"], "2.0.0")
        self.assertEqual(self.available(user.token).get("uploaded"), "2.0.0")
        self.assertIn("uploaded-2.0.0", self.unpacked())
        # the same again: a conflict
        self.assert_error(self.api.request("POST", "/api/admin/plugins", raw=pkg, headers=hdr,
                                           token=admin.token), 409, "conflict")
        before = self.unpacked()
        bad = {
            "empty": (b"", 422, "missing_field"),
            "garbage": (b"\x1f\x8b not really gzip", 422, "invalid_field"),
            "symlink": (package({"plugin.json": manifest("linky"),
                                 "main.lua": ("symlink", "/etc/passwd")}), 422, "invalid_field"),
            "dotdot": (package({"plugin.json": manifest("dotty"), "main.lua": MAIN_LUA,
                                "../x.lua": "--"}), 422, "invalid_field"),
            "absolute": (package({"plugin.json": manifest("abso"), "main.lua": MAIN_LUA,
                                  "/tmp/x.lua": "--"}), 422, "invalid_field"),
            "bad manifest": (package({"plugin.json": "{not json", "main.lua": MAIN_LUA}),
                             400, "invalid_json"),
            "no main": (package({"plugin.json": manifest("nomain")}), 422, "invalid_field"),
            "too large": (os.urandom(5 * 1024 * 1024), 413, None),
        }
        for name, (body, status, code) in bad.items():
            with self.subTest(upload=name):
                r = self.api.request("POST", "/api/admin/plugins", raw=body, headers=hdr,
                                     token=admin.token)
                self.assert_error(r, status, code)
        self.assertEqual(self.unpacked(), before)
        av = self.available(user.token)
        for pid in ("linky", "dotty", "abso", "nomain"):
            self.assertNotIn(pid, av)

    def test_3_admin_remove(self):
        admin = self.admin()
        user = self.new_user()
        hdr = {"Content-Type": "application/gzip"}
        for version in ("1.0.0", "2.0.0"):
            r = self.api.request("POST", "/api/admin/plugins", raw=good_package("doomed", version),
                                 headers=hdr, token=admin.token)
            self.assertEqual(r.status, 201, r.raw[:300])
        r = self.api.post("/api/plugins/install", {"id": "doomed", "grant": []}, token=user.token)
        self.assertEqual(r.status, 201, r.raw[:300])
        # admins only; unknown ids and versions are 404; a bad version 4xx
        self.assert_error(self.api.request("DELETE", "/api/admin/plugins/doomed",
                                           token=user.token), 403, "forbidden")
        self.assert_error(self.api.request("DELETE", "/api/admin/plugins/nosuch",
                                           token=admin.token), 404, "not_found")
        self.assert_error(self.api.request("DELETE", "/api/admin/plugins/doomed?version=9.9.9",
                                           token=admin.token), 404, "not_found")
        r = self.api.request("DELETE", "/api/admin/plugins/doomed?version=" + "1" * 40,
                             token=admin.token)
        self.assertTrue(400 <= r.status < 500, r.raw[:300])
        # one version: the other one stays in the catalog and on disk
        r = self.api.request("DELETE", "/api/admin/plugins/doomed?version=2.0.0", token=admin.token)
        self.assertEqual(r.status, 204, r.raw[:300])
        self.assertEqual(self.available(user.token).get("doomed"), "1.0.0")
        self.assertIn("doomed-1.0.0", self.unpacked())
        self.assertNotIn("doomed-2.0.0", self.unpacked())
        # every version: gone from the catalog and the data folder
        r = self.api.request("DELETE", "/api/admin/plugins/doomed", token=admin.token)
        self.assertEqual(r.status, 204, r.raw[:300])
        self.assertNotIn("doomed", self.available(user.token))
        self.assertFalse([d for d in self.unpacked() if d.startswith("doomed-")])
        self.assert_error(self.api.request("DELETE", "/api/admin/plugins/doomed",
                                           token=admin.token), 404, "not_found")
        # the user's install stays, inert, and its actions are refused (not a 500)
        r = self.api.get("/api/plugins", token=user.token)
        mine = {p["id"]: p for p in r.json["plugins"]}
        self.assertEqual(mine["doomed"]["status"], "removed")
        self.assertFalse(mine["doomed"]["enabled"])
        r = self.api.post("/api/plugins/doomed/actions", {"action": "wave"}, token=user.token)
        self.assertTrue(400 <= r.status < 500, r.raw[:300])
        # the user can still remove it
        r = self.api.request("DELETE", "/api/plugins/doomed", token=user.token)
        self.assertEqual(r.status, 204, r.raw[:300])
        # a bundled package is refused with a conflict and stays
        self.assert_error(self.api.request("DELETE", "/api/admin/plugins/fixture",
                                           token=admin.token), 409, "conflict")
        self.assertEqual(self.available(user.token).get("fixture"), "1.0.0")


@unittest.skipUnless(shutil.which("openssl"), "needs the openssl command line to sign")
class ScheduledRefreshCase(harness.ApiTestCase):
    """plugin_catalog_refresh_s queues the plugin.catalog job on the jobs
    service's timer: with 2 s, a package of the stand-in catalog shows up
    without any admin asking."""

    @classmethod
    def setUpClass(cls):
        harness.require_local("needs a stand-in catalog and its own configuration")
        cls.tmp = tempfile.mkdtemp(prefix="pcat-sched-")
        cls.trusted = Signer(cls.tmp, "trusted")
        cls.catalog = Catalog()
        data = good_package("ticker")
        cls.catalog.files["/pkg/ticker-1.0.0.tar.gz"] = data
        cls.catalog.files["/index.json"] = json.dumps({"packages": [{
            "id": "ticker", "version": "1.0.0", "url": "pkg/ticker-1.0.0.tar.gz",
            "sha256": hashlib.sha256(data).hexdigest(),
            "signature": cls.trusted.sign(data)}]}).encode()
        port = cls.catalog.port
        cls.server_env = {
            "PERSONALOS_PLUGIN_CATALOGS": "http://127.0.0.1:%d/index.json" % port,
            "PERSONALOS_PLUGIN_TRUSTED_KEYS": base64.b64encode(cls.trusted.public).decode(),
            "PERSONALOS_PLUGIN_CATALOG_REFRESH_S": "2",
            "PERSONALOS_EGRESS_ALLOW": "127.0.0.1:%d" % port,
            "PERSONALOS_PWHASH_OPSLIMIT": "1", "PERSONALOS_PWHASH_MEMLIMIT_KIB": "8192",
        }
        try:
            super().setUpClass()
        except Exception:
            cls.catalog.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.catalog.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_refreshed_on_a_timer(self):
        admin = self.new_user()  # the scheduled job is the first admin's
        self.assertEqual(admin.user["role"], "admin")

        def have():
            r = self.api.get("/api/plugins/available", token=admin.token)
            return any(p["id"] == "ticker" for p in r.json["plugins"]) or None
        self.assertTrue(harness.poll(have, timeout=60), "the catalog was not refreshed")
        self.assertEqual(self.catalog.hits.get("/pkg/ticker-1.0.0.tar.gz"), 1)
        # the job is an ordinary plugin.catalog job of the admin's
        r = self.api.get("/api/jobs?kind=plugin.catalog", token=admin.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertTrue(any(j["kind"] == "plugin.catalog" for j in r.json["jobs"]), r.json)


KEEPER_LUA = r'''
function on_user_action(ev)
  if ev.action == "keep" then
    pos.kv.set(ev.params.key, ev.params.value)
    pos.log("info", "kept " .. ev.params.note)
    return {}
  end
  return {value = pos.kv.get(ev.params.key)}
end
'''


class PluginEncryptionCase(unittest.TestCase):
    """Plugin kv values and log lines are sealed at rest for a user with
    encryption on (src/store/crypt_store.c): the raw data directory never
    holds them in plaintext, while a user without encryption's do (the
    scan would see them), and both read back through the API."""

    def setUp(self):
        harness.require_local("reads the server's files")
        harness.require_binary()
        self.tmp = tempfile.mkdtemp(prefix="pcat-crypt-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        plugins = os.path.join(self.tmp, "catalog", "keeper")
        os.makedirs(plugins)
        with open(os.path.join(plugins, "plugin.json"), "w") as f:
            f.write(json.dumps({"id": "keeper", "name": "Keeper", "version": "1.0.0",
                                "description": "keeps a value", "hooks": ["on_user_action"],
                                "permissions": ["kv"]}))
        with open(os.path.join(plugins, "main.lua"), "w") as f:
            f.write(KEEPER_LUA)
        self.data_dir = os.path.join(self.tmp, "data")
        self.server = harness.Server(data_dir=self.data_dir, env={
            "PERSONALOS_PLUGINS_DIR": os.path.join(self.tmp, "catalog"),
            "PERSONALOS_PWHASH_OPSLIMIT": "1", "PERSONALOS_PWHASH_MEMLIMIT_KIB": "8192"}).start()
        self.api = harness.Api(self.server.base_url)

    def tearDown(self):
        if self.server is not None:
            self.api.close()
            self.server.stop()

    def keep(self, token, value, note):
        r = self.api.post("/api/plugins/install", {"id": "keeper", "grant": ["kv"]}, token=token)
        self.assertEqual(r.status, 201, r.raw[:300])
        r = self.api.post("/api/plugins/keeper/actions",
                          {"action": "keep", "params": {"key": "k", "value": value, "note": note}},
                          token=token)
        self.assertEqual(r.status, 200, r.raw[:300])
        r = self.api.post("/api/plugins/keeper/actions",
                          {"action": "get", "params": {"key": "k"}}, token=token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(r.json["result"], {"value": value})
        r = self.api.get("/api/plugins", token=token)
        self.assertEqual(r.status, 200, r.raw[:300])
        logs = [line["message"] for line in r.json["plugins"][0]["logs"]]
        self.assertIn("kept " + note, logs)

    def test_kv_values_and_logs_sealed(self):
        sealed_email, plain_email = harness.unique_email(), harness.unique_email()
        self.api.register(plain_email)
        sealed = self.api.register(sealed_email)["access_token"]
        plain = self.api.login(plain_email)["access_token"]
        r = self.api.post("/api/auth/encryption", {"password": harness.DEFAULT_PASSWORD},
                          token=sealed)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.keep(sealed, "glimmerquandt secret value", "snorfelbrick")
        self.keep(plain, "plainwobbler value", "plainlogtrum")
        self.api.close()
        self.server.stop()  # a clean stop checkpoints the WAL into the file
        self.server = None
        blob = b""
        for root, _dirs, names in os.walk(self.data_dir):
            for n in names:
                with open(os.path.join(root, n), "rb") as f:
                    blob += f.read()
        # the scan sees a plain user's data ...
        for word in (b"plainwobbler", b"plainlogtrum"):
            self.assertTrue(word in blob, "%r not found in the data directory" % word)
        # ... and never the encrypted user's
        for word in (b"glimmerquandt", b"snorfelbrick"):
            self.assertFalse(word in blob, "%r found in the data directory" % word)

    def test_kv_values_and_logs_written_before_encryption_sealed(self):
        """The encryption pass (job kind `encryption`) seals what the
        plugin wrote while the user's data was plain."""
        email = harness.unique_email()
        token = self.api.register(email)["access_token"]
        self.keep(token, "earlyzibbolith secret value", "earlylogquux")
        r = self.api.post("/api/auth/encryption", {"password": harness.DEFAULT_PASSWORD},
                          token=token)
        self.assertEqual(r.status, 200, r.raw[:300])

        def sealed():
            e = self.api.get("/api/auth/me", token=token).json["encryption"]
            return e if e["state"] == "on" and e["progress"] == e["total"] else None
        self.assertIsNotNone(harness.poll(sealed, timeout=60), "the encryption pass did not end")
        # still readable through the plugin and the API
        r = self.api.post("/api/plugins/keeper/actions",
                          {"action": "get", "params": {"key": "k"}}, token=token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(r.json["result"], {"value": "earlyzibbolith secret value"})
        r = self.api.get("/api/plugins", token=token)
        self.assertIn("kept earlylogquux", [x["message"] for x in r.json["plugins"][0]["logs"]])
        self.api.close()
        self.server.stop()
        self.server = None
        blob = b""
        for root, _dirs, names in os.walk(self.data_dir):
            for n in names:
                with open(os.path.join(root, n), "rb") as f:
                    blob += f.read()
        for word in (b"earlyzibbolith", b"earlylogquux"):
            self.assertFalse(word in blob, "%r found in the data directory" % word)


if __name__ == "__main__":
    unittest.main()
