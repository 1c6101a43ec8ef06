"""The client commands of the CLI against a running server: personalos
login, add, search and chat (issue 17).

Each test runs the real binary as a subprocess with its own HOME and
XDG_CONFIG_HOME (so the login file is its own) and no PERSONALOS_URL or
PERSONALOS_TOKEN unless it sets them, then checks what the server holds
through the API.
"""

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

RUN_TIMEOUT = 60


class CliClientTest(harness.ApiTestCase):

    def setUp(self):
        super().setUp()
        self.home = tempfile.mkdtemp(prefix="pos-cli-home-")
        self.addCleanup(shutil.rmtree, self.home, True)
        self.user = self.new_user()
        r = self.api.post("/api/auth/tokens", {"name": "cli test", "scope": "write"},
                          token=self.user.token)
        self.assertEqual(r.status, 201, r.raw[:300])
        self.pat = r.json["token"]

    def run_cli(self, *args, stdin="", env=None, server=True, token=True):
        e = {k: v for k, v in os.environ.items()
             if k not in ("PERSONALOS_URL", "PERSONALOS_TOKEN")}
        e["HOME"] = self.home
        e["XDG_CONFIG_HOME"] = os.path.join(self.home, "cfg")
        if server:
            e["PERSONALOS_URL"] = self.server.base_url
        if token:
            e["PERSONALOS_TOKEN"] = self.pat
        e.update(env or {})
        p = subprocess.run([harness.pos_bin()] + list(args), input=stdin.encode("utf-8"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e,
                           timeout=RUN_TIMEOUT)
        return p.returncode, p.stdout.decode("utf-8"), p.stderr.decode("utf-8")

    def search_api(self, query):
        r = self.api.get("/api/memories/search?mode=keyword&query=" +
                         urllib.parse.quote(query), token=self.pat)
        self.assertEqual(r.status, 200, r.raw[:300])
        return r.json["memories"]

    # add -------------------------------------------------------------------

    def test_add_text_with_type_and_tags(self):
        word = "zanzibar" + uuid.uuid4().hex[:8]
        rc, out, err = self.run_cli("add", "Remember the %s ferry" % word, "--type", "action",
                                    "--tags", "travel, boats")
        self.assertEqual(rc, 0, err)
        found = self.search_api(word)
        self.assertEqual(len(found), 1)
        m = found[0]
        self.assertIn(m["id"], out)
        self.assertEqual(m["type"], "action")
        self.assertEqual(m["source"], "cli")
        self.assertEqual(sorted(m["tags"]), ["boats", "travel"])

    def test_add_from_stdin(self):
        word = "quokka" + uuid.uuid4().hex[:8]
        rc, out, err = self.run_cli("add", "-", "--json",
                                    stdin="line one about %s\nline two\n" % word)
        self.assertEqual(rc, 0, err)
        m = json.loads(out)
        self.assertEqual(m["content"], "line one about %s\nline two" % word)
        self.assertEqual(self.search_api(word)[0]["id"], m["id"])

    def test_add_rejected_by_the_server_reports_the_code(self):
        rc, _out, err = self.run_cli("add", "x", "--type", "nonsense")
        self.assertEqual(rc, 1)
        self.assertIn("invalid_field", err)

    # search ----------------------------------------------------------------

    def test_search_table_and_json(self):
        word = "marmot" + uuid.uuid4().hex[:8]
        m = self.create_memory(self.pat, "The %s burrow is behind the shed" % word)
        rc, out, err = self.run_cli("search", word)
        self.assertEqual(rc, 0, err)
        self.assertIn("ID", out.splitlines()[0])
        self.assertIn(m["id"], out)
        self.assertIn("burrow is behind", out)
        rc, out, err = self.run_cli("search", word, "--json", "--limit", "5")
        self.assertEqual(rc, 0, err)
        body = json.loads(out)
        self.assertEqual([x["id"] for x in body["memories"]], [m["id"]])
        self.assertEqual(body["limit"], 5)

    def test_search_nothing_found(self):
        rc, out, err = self.run_cli("search", "nothingmatches" + uuid.uuid4().hex)
        self.assertEqual(rc, 0, err)
        self.assertIn("no memory matches", out)

    # where the server and token come from -----------------------------------

    def test_bad_token_fails_with_the_reason(self):
        rc, _out, err = self.run_cli("search", "x", env={"PERSONALOS_TOKEN": "pos_pat.bad"})
        self.assertEqual(rc, 1)
        self.assertIn("unauthorized", err)
        self.assertIn("401", err)

    def test_flags_beat_the_environment(self):
        word = "ibex" + uuid.uuid4().hex[:8]
        rc, _out, err = self.run_cli("add", word, "--server", self.server.base_url,
                                     "--token", self.pat,
                                     env={"PERSONALOS_TOKEN": "pos_pat.bad",
                                          "PERSONALOS_URL": "http://127.0.0.1:1"})
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(self.search_api(word)), 1)

    def test_unreachable_server(self):
        rc, _out, err = self.run_cli("search", "x", env={"PERSONALOS_URL": "http://127.0.0.1:1"})
        self.assertEqual(rc, 1)
        self.assertIn("127.0.0.1", err)

    def test_url_must_be_http(self):
        rc, _out, err = self.run_cli("search", "x", "--server", "ftp://127.0.0.1/")
        self.assertEqual(rc, 2)
        self.assertIn("http", err)

    def test_usage_and_help(self):
        for cmd in ("add", "search", "chat", "login", "mcp"):
            rc, out, _err = self.run_cli(cmd, "--help")
            self.assertEqual(rc, 0)
            self.assertIn("usage: personalos " + cmd, out)
        rc, _out, err = self.run_cli("add")
        self.assertEqual(rc, 2)
        self.assertIn("usage", err)
        rc, out, _err = self.run_cli("help")
        for cmd in ("add", "search", "chat", "login", "mcp"):
            self.assertIn("  " + cmd, out)

    # login -----------------------------------------------------------------

    def conf_file(self):
        return os.path.join(self.home, "cfg", "personalos", "client.conf")

    def conf_text(self):
        with open(self.conf_file(), encoding="utf-8") as f:
            return f.read()

    def test_login_with_token_writes_a_private_file_that_others_read(self):
        rc, out, err = self.run_cli("login", "--server", self.server.base_url + "/",
                                    "--token", self.pat, server=False, token=False)
        self.assertEqual(rc, 0, err)
        path = self.conf_file()
        self.assertIn(path, out)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        text = self.conf_text()
        self.assertIn("url = " + self.server.base_url + "\n", text)
        self.assertIn("token = " + self.pat + "\n", text)
        # no flags, no environment: the file is used
        word = "okapi" + uuid.uuid4().hex[:8]
        rc, _out, err = self.run_cli("add", word, server=False, token=False)
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(self.search_api(word)), 1)

    def test_login_with_a_bad_token_writes_nothing(self):
        rc, _out, err = self.run_cli("login", "--server", self.server.base_url,
                                     "--token", "pos_pat.nope", server=False, token=False)
        self.assertEqual(rc, 1)
        self.assertFalse(os.path.exists(self.conf_file()))

    def test_login_with_email_and_password_makes_a_token(self):
        rc, _out, err = self.run_cli("login", "--server", self.server.base_url,
                                     "--email", self.user.email, "--scope", "read",
                                     stdin=self.user.password + "\n", server=False, token=False)
        self.assertEqual(rc, 0, err)
        text = self.conf_text()
        token = [l.split("= ", 1)[1] for l in text.splitlines() if l.startswith("token = ")][0]
        self.assertTrue(token.startswith("pos_pat."), token)
        r = self.api.get("/api/auth/tokens", token=self.user.token)
        scopes = {t["name"]: t["scope"] for t in r.json["tokens"]}
        self.assertIn("read", [s for n, s in scopes.items() if n.startswith("personalos CLI")])
        # a read token: search works, add is refused
        rc, _out, err = self.run_cli("search", "anything", server=False, token=False)
        self.assertEqual(rc, 0, err)
        rc, _out, err = self.run_cli("add", "refused", server=False, token=False)
        self.assertEqual(rc, 1)
        self.assertIn("forbidden", err)

    def test_login_wrong_password(self):
        rc, _out, err = self.run_cli("login", "--server", self.server.base_url,
                                     "--email", self.user.email, stdin="wrong password\n",
                                     server=False, token=False)
        self.assertEqual(rc, 1)
        self.assertFalse(os.path.exists(self.conf_file()))

    # chat ------------------------------------------------------------------

    def test_chat_one_message(self):
        word = "capybara" + uuid.uuid4().hex[:8]
        m = self.create_memory(self.pat, "The %s sleeps in the garden" % word)
        rc, out, err = self.run_cli("chat", "Where does the %s sleep?" % word)
        self.assertEqual(rc, 0, err)
        self.assertIn("sleeps in the garden", out)
        self.assertIn(m["id"], out)

    def test_chat_interactive_keeps_one_conversation(self):
        before = self.api.get("/api/chat/history", token=self.pat).json["total"]
        rc, out, err = self.run_cli("chat", stdin="first question\nsecond question\n"
                                    "/history\n/quit\nnever sent\n")
        self.assertEqual(rc, 0, err)
        self.assertIn("user: first question", out)
        self.assertIn("user: second question", out)
        self.assertNotIn("never sent", out)
        hist = self.api.get("/api/chat/history", token=self.pat).json
        self.assertEqual(hist["total"], before + 1)

    def test_chat_error_is_reported(self):
        rc, _out, err = self.run_cli("chat", "x" * 40000)
        self.assertEqual(rc, 1)
        self.assertIn("content_too_large", err)

    # mcp (stdio relay; the full protocol is tested with the SDK in tests/mcp) --

    def test_mcp_stdio_relays_line_by_line(self):
        lines = [
            {"jsonrpc": "2.0", "id": 1, "method": "initialize",
             "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                        "clientInfo": {"name": "t", "version": "0"}}},
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": "two", "method": "tools/list"},
        ]
        stdin = "".join(json.dumps(l) + "\n" for l in lines)
        stdin += json.dumps({"jsonrpc": "2.0", "id": 3, "method": "ping",
                             "params": {"pad": "x" * (9 << 20)}}) + "\n"
        rc, out, err = self.run_cli("mcp", stdin=stdin)
        self.assertEqual(rc, 0, err)
        answers = [json.loads(l) for l in out.splitlines()]
        self.assertEqual([a["id"] for a in answers], [1, "two", 3])  # none for the notification
        self.assertEqual(answers[0]["result"]["protocolVersion"], "2025-06-18")
        self.assertIn("add_memory", [t["name"] for t in answers[1]["result"]["tools"]])
        self.assertEqual(answers[2]["error"]["code"], -32600)

    def test_mcp_stdio_server_down_answers_each_request(self):
        rc, out, err = self.run_cli("mcp", stdin=json.dumps(
            {"jsonrpc": "2.0", "id": 9, "method": "ping"}) + "\n",
            env={"PERSONALOS_URL": "http://127.0.0.1:1"})
        self.assertEqual(rc, 0, err)
        a = json.loads(out)
        self.assertEqual(a["id"], 9)
        self.assertEqual(a["error"]["code"], -32603)
        self.assertIn("cannot be reached", a["error"]["message"])


if __name__ == "__main__":
    unittest.main()
