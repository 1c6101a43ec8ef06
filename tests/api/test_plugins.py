"""Black-box tests of plugins (docs/PLUGINS.md, issue 15): the catalog,
install with explicit grants, settings, enable/disable, uninstall leaving
nothing behind, hooks firing through the server (on_user_action, on_query
in search), the weather plugin against a local Open-Meteo stand-in, and
containment: a plugin cannot read another user's memory, reach a host its
manifest does not declare or one the egress policy refuses, and a hostile
plugin (endless loop, memory bomb) neither hangs nor crashes the server and
is disabled after repeated failures.

Everything listens on 127.0.0.1: the stand-ins count what reaches them.
"""

import datetime
import json
import os
import shutil
import sys
import tempfile
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "stubs"))
import harness  # noqa: E402
from open_meteo_stub import OpenMeteoStub, weather_for, PLACES  # noqa: E402

REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
MAX_FAILURES = 3

PROBE_LUA = r'''
function on_user_action(ev)
  local a, p = ev.action, ev.params
  if a == "get" then
    local m, err = pos.memories.get(p.id)
    return {found = m ~= nil, content = m and m.content, err = err}
  elseif a == "create" then
    return pos.memories.create({content = p.content, tags = {"from-probe"}})
  elseif a == "http" then
    local r, err = pos.http.get(p.url)
    return {status = r and r.status, err = err}
  elseif a == "kv_set" then
    return {ok = pos.kv.set(p.key, p.value)}
  elseif a == "kv_get" then
    return {value = pos.kv.get(p.key)}
  elseif a == "log" then
    pos.log("warn", p.text)
    return {}
  elseif a == "escape" then
    return {io = type(io), os_execute = type(os.execute), require = type(require),
            debug = type(debug), dofile = type(dofile)}
  elseif a == "loop" then
    while true do end
  elseif a == "pcall_loop" then
    while true do pcall(function() while true do end end) end
  elseif a == "bomb" then
    local t = {}
    while true do t[#t + 1] = string.rep("x", 1024) .. #t end
  elseif a == "pattern_bomb" then
    return {string.find(string.rep("a", 500000), ".-.-.-.-b")}
  end
  error("unknown action " .. tostring(a))
end

function on_query(ev)
  if ev.query == "probe please" then return {answer = "the probe answers"} end
  if ev.query == "probe hang" then while true do end end
  return nil
end
'''


def probe_manifest(hosts):
    return {
        "id": "probe", "name": "Probe", "version": "0.1.0",
        "description": "Test plugin: does what its actions say.",
        "hooks": ["on_user_action", "on_query"],
        "permissions": ["memories:read", "memories:write", "http", "kv"],
        "hosts": hosts,
    }


class PluginsTest(harness.ApiTestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_local("needs a plugin catalog and stand-ins of its own")
        cls.meteo = OpenMeteoStub().start()
        cls.denied = OpenMeteoStub().start()   # declared by the probe, not allowlisted
        cls.tmp = tempfile.mkdtemp(prefix="pos-plugins-")
        cat = os.path.join(cls.tmp, "catalog")
        shutil.copytree(os.path.join(REPO, "plugins"), cat)
        os.makedirs(os.path.join(cat, "probe"))
        with open(os.path.join(cat, "probe", "plugin.json"), "w") as f:
            json.dump(probe_manifest(["127.0.0.1:%d" % cls.meteo.port,
                                      "127.0.0.1:%d" % cls.denied.port]), f)
        with open(os.path.join(cat, "probe", "main.lua"), "w") as f:
            f.write(PROBE_LUA)
        # A broken package is skipped, not fatal.
        os.makedirs(os.path.join(cat, "broken"))
        with open(os.path.join(cat, "broken", "plugin.json"), "w") as f:
            f.write("{not json")
        cls.server_env = {
            "PERSONALOS_PLUGINS_DIR": cat,
            "PERSONALOS_EGRESS_ALLOW": "127.0.0.1:%d" % cls.meteo.port,
            "PERSONALOS_PLUGIN_MAX_FAILURES": str(MAX_FAILURES),
            # Generous for a loaded test machine; the default is 50 ms.
            "PERSONALOS_PLUGIN_QUERY_BUDGET_MS": "1000",
        }
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.meteo.stop()
        cls.denied.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        super().setUp()
        self.api = harness.Api(self.server.base_url)
        self.addCleanup(self.api.close)

    def user(self):
        ans = self.api.register()
        return ans["access_token"]

    def install(self, tok, pid, grant, settings=None, status=201):
        body = {"id": pid, "grant": grant}
        if settings is not None:
            body["settings"] = settings
        r = self.api.post("/api/plugins/install", body, token=tok)
        self.assertEqual(r.status, status, r.raw[:500])
        return r.json

    def act(self, tok, pid, action, params=None, status=200):
        r = self.api.post("/api/plugins/%s/actions" % pid, {"action": action, "params": params or {}},
                          token=tok)
        self.assertEqual(r.status, status, r.raw[:500])
        return r.json

    PROBE_GRANT = ["memories:read", "memories:write", "http", "kv"]

    # ---- catalog and installs -------------------------------------------

    def test_catalog_lists_bundled_plugins(self):
        tok = self.user()
        r = self.api.get("/api/plugins/available", token=tok)
        self.assertEqual(r.status, 200, r.raw[:300])
        ids = [p["id"] for p in r.json["plugins"]]
        for pid in ("weather", "auto-tagger", "task-extractor", "probe"):
            self.assertIn(pid, ids)
        self.assertNotIn("broken", ids)
        weather = next(p for p in r.json["plugins"] if p["id"] == "weather")
        self.assertIn("http", weather["permissions"])
        self.assertIn("on_query", weather["hooks"])
        self.assertEqual(weather["settings"]["weather_url"]["type"], "url")
        r = self.api.get("/api/plugins/available")
        harness.check_error(self, r, 401)

    def test_install_needs_every_permission_granted(self):
        tok = self.user()
        r = self.api.post("/api/plugins/install", {"id": "weather", "grant": ["http"]}, token=tok)
        harness.check_error(self, r, 422, field="grant")
        r = self.api.post("/api/plugins/install", {"id": "task-extractor",
                                                  "grant": ["memories:write", "http"]}, token=tok)
        harness.check_error(self, r, 422, field="grant")   # more than it asks for
        r = self.api.post("/api/plugins/install", {"id": "nope", "grant": []}, token=tok)
        harness.check_error(self, r, 404)
        r = self.api.post("/api/plugins/install", {"grant": []}, token=tok)
        harness.check_error(self, r, 422)
        r = self.api.post("/api/plugins/install", {"id": "task-extractor", "grant": ["root"]}, token=tok)
        harness.check_error(self, r, 422, field="grant")
        r = self.api.post("/api/plugins/install", {"id": "auto-tagger", "grant": ["memories:read",
                          "memories:write", "kv"], "settings": {"max_tags": "many"}}, token=tok)
        harness.check_error(self, r, 422, field="settings")
        got = self.install(tok, "task-extractor", ["memories:write"])
        self.assertEqual(got["id"], "task-extractor")
        self.assertTrue(got["enabled"])
        self.assertEqual(got["permissions"], ["memories:write"])
        r = self.api.post("/api/plugins/install", {"id": "task-extractor",
                                                  "grant": ["memories:write"]}, token=tok)
        harness.check_error(self, r, 409)
        r = self.api.get("/api/plugins", token=tok)
        self.assertEqual([p["id"] for p in r.json["plugins"]], ["task-extractor"])

    def test_settings_enable_disable_and_uninstall(self):
        tok = self.user()
        got = self.install(tok, "auto-tagger", ["memories:read", "memories:write", "kv"],
                           {"rules": "work: meeting"})
        self.assertEqual(got["settings"]["rules"], "work: meeting")
        self.assertEqual(got["settings"]["max_tags"], 5)
        r = self.api.patch("/api/plugins/auto-tagger", {"settings": {"max_tags": 2}}, token=tok)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertEqual(r.json["settings"], {"rules": "work: meeting", "max_tags": 2})
        r = self.api.patch("/api/plugins/auto-tagger", {"settings": {"bogus": 1}}, token=tok)
        harness.check_error(self, r, 422, field="settings")
        r = self.api.patch("/api/plugins/auto-tagger", {"enabled": "no"}, token=tok)
        harness.check_error(self, r, 422, field="enabled")
        r = self.api.patch("/api/plugins/auto-tagger", {"enabled": False}, token=tok)
        self.assertFalse(r.json["enabled"])
        r = self.api.delete("/api/plugins/auto-tagger", token=tok)
        self.assertEqual(r.status, 204)
        r = self.api.delete("/api/plugins/auto-tagger", token=tok)
        harness.check_error(self, r, 404)
        r = self.api.patch("/api/plugins/auto-tagger", {"enabled": True}, token=tok)
        harness.check_error(self, r, 404)
        self.assertEqual(self.api.get("/api/plugins", token=tok).json["plugins"], [])

    def test_uninstall_leaves_nothing_behind(self):
        tok = self.user()
        self.install(tok, "probe", self.PROBE_GRANT)
        self.assertTrue(self.act(tok, "probe", "kv_set", {"key": "k", "value": "v1"})["result"]["ok"])
        self.assertEqual(self.act(tok, "probe", "kv_get", {"key": "k"})["result"]["value"], "v1")
        self.act(tok, "probe", "log", {"text": "hello log"})
        logs = self.api.get("/api/plugins", token=tok).json["plugins"][0]["logs"]
        self.assertEqual(logs[0]["message"], "hello log")
        self.assertEqual(self.api.delete("/api/plugins/probe", token=tok).status, 204)
        self.install(tok, "probe", self.PROBE_GRANT)
        self.assertNotIn("value", self.act(tok, "probe", "kv_get", {"key": "k"})["result"])
        self.assertEqual(self.api.get("/api/plugins", token=tok).json["plugins"][0]["logs"], [])

    # ---- isolation and egress ---------------------------------------------

    def test_plugin_sees_only_its_users_memories(self):
        alice, bob = self.user(), self.user()
        r = self.api.post("/api/memories", {"content": "alice's secret diary"}, token=alice)
        self.assertEqual(r.status, 201, r.raw[:300])
        alice_mem = r.json["id"]
        self.install(alice, "probe", self.PROBE_GRANT)
        self.install(bob, "probe", self.PROBE_GRANT)
        got = self.act(alice, "probe", "get", {"id": alice_mem})["result"]
        self.assertEqual(got["content"], "alice's secret diary")
        got = self.act(bob, "probe", "get", {"id": alice_mem})["result"]
        self.assertFalse(got["found"])
        self.assertNotIn("content", got)
        # kv is per plugin per user.
        self.act(alice, "probe", "kv_set", {"key": "shared?", "value": "alice"})
        self.assertNotIn("value", self.act(bob, "probe", "kv_get", {"key": "shared?"})["result"])
        # What a plugin creates belongs to its user.
        made = self.act(bob, "probe", "create", {"content": "bob via plugin"})["result"]
        self.assertEqual(self.api.get("/api/memories/%s" % made["id"], token=bob).status, 200)
        self.assertEqual(self.api.get("/api/memories/%s" % made["id"], token=alice).status, 404)

    def test_http_only_to_declared_and_allowed_hosts(self):
        tok = self.user()
        self.install(tok, "probe", self.PROBE_GRANT)
        before = self.meteo.count()
        got = self.act(tok, "probe", "http", {"url": self.meteo.url + "/v1/search?name=Porto"})["result"]
        self.assertEqual(got["status"], 200)
        self.assertEqual(self.meteo.count(), before + 1)
        # An undeclared host (same server, other name) is refused by the plugin layer.
        got = self.act(tok, "probe", "http",
                       {"url": "http://localhost:%d/v1/search?name=Porto" % self.meteo.port})["result"]
        self.assertIn("does not declare", got["err"])
        self.assertEqual(self.meteo.count(), before + 1)
        # A declared loopback host the operator did not allow: the egress policy refuses.
        got = self.act(tok, "probe", "http", {"url": self.denied.url + "/v1/search?name=Porto"})["result"]
        self.assertNotIn("status", got)
        self.assertIn("egress", got["err"])
        self.assertEqual(self.denied.count(), 0)

    def test_no_escape_hatches(self):
        tok = self.user()
        self.install(tok, "probe", self.PROBE_GRANT)
        got = self.act(tok, "probe", "escape")["result"]
        self.assertEqual(got, {"io": "nil", "os_execute": "nil", "require": "nil",
                               "debug": "nil", "dofile": "nil"})

    def test_hostile_plugin_is_contained_and_disabled(self):
        tok, other = self.user(), self.user()
        self.install(tok, "probe", self.PROBE_GRANT)
        served = []

        def meanwhile():
            api = harness.Api(self.server.base_url)
            try:
                for _ in range(5):
                    served.append(api.get("/api/memories", token=other).status)
            finally:
                api.close()

        t = threading.Thread(target=meanwhile)
        t.start()
        r = self.api.post("/api/plugins/probe/actions", {"action": "loop"}, token=tok)
        t.join()
        harness.check_error(self, r, 400)
        self.assertIn("time budget", r.json["error"]["message"])
        self.assertEqual(served, [200] * 5)
        r = self.api.post("/api/plugins/probe/actions", {"action": "pcall_loop"}, token=tok)
        harness.check_error(self, r, 400)
        self.assertIn("time budget", r.json["error"]["message"])
        state = self.api.get("/api/plugins", token=tok).json["plugins"][0]
        self.assertEqual(state["status"], "error")
        self.assertEqual(state["failures"], 2)
        r = self.api.post("/api/plugins/probe/actions", {"action": "bomb"}, token=tok)
        harness.check_error(self, r, 400)
        self.assertIn("memory", r.json["error"]["message"])
        state = self.api.get("/api/plugins", token=tok).json["plugins"][0]
        self.assertEqual(state["status"], "disabled")
        self.assertFalse(state["enabled"])
        self.assertIn("memory", state["last_error"])
        r = self.api.post("/api/plugins/probe/actions", {"action": "kv_get", "params": {"key": "x"}},
                          token=tok)
        harness.check_error(self, r, 409)
        # Enabling again gives it a fresh start; a pattern bomb is refused, not run.
        r = self.api.patch("/api/plugins/probe", {"enabled": True}, token=tok)
        self.assertEqual(r.json["failures"], 0)
        r = self.api.post("/api/plugins/probe/actions", {"action": "pattern_bomb"}, token=tok)
        harness.check_error(self, r, 400)
        self.assertIn("pattern too complex", r.json["error"]["message"])
        self.assertEqual(self.api.get("/health").status, 200)

    # ---- hooks --------------------------------------------------------------

    def test_on_query_answers_in_search(self):
        tok = self.user()
        self.api.post("/api/memories", {"content": "probe please remember this"}, token=tok)
        r = self.api.get("/api/memories/search?q=probe%20please", token=tok)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertNotIn("plugin_answers", r.json)
        self.install(tok, "probe", self.PROBE_GRANT)
        r = self.api.get("/api/memories/search?q=probe%20please", token=tok)
        self.assertEqual(r.json["plugin_answers"], [{"plugin": "probe", "answer": "the probe answers"}])
        r = self.api.get("/api/memories/search?q=something%20else", token=tok)
        self.assertNotIn("plugin_answers", r.json)
        # A plugin that hangs in on_query never fails the search; it is
        # stopped at its budget and its failure recorded.
        r = self.api.get("/api/memories/search?q=probe%20hang", token=tok)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertNotIn("plugin_answers", r.json)
        state = self.api.get("/api/plugins", token=tok).json["plugins"][0]
        self.assertEqual(state["failures"], 1)
        self.assertIn("on_query", state["last_error"])

    def test_weather_plugin_with_open_meteo_stand_in(self):
        tok = self.user()
        settings = {"weather_url": self.meteo.url, "geocoding_url": self.meteo.url + "/"}
        got = self.install(tok, "weather", ["memories:read", "memories:write", "http", "kv"], settings)
        self.assertEqual(got["settings"]["units"], "celsius")
        r = self.api.post("/api/memories", {"content": "Christmas eve dinner in Lisbon on 2026-12-24",
                                            "metadata": {"mood": "festive"}}, token=tok)
        mid = r.json["id"]
        res = self.act(tok, "weather", "annotate", {"memory_id": mid})["result"]
        want = weather_for(PLACES["lisbon"]["latitude"], datetime.date(2026, 12, 24))
        self.assertEqual(res["weather"]["temperature_max"], want["temperature_2m_max"][0])
        meta = self.api.get("/api/memories/%s" % mid, token=tok).json["metadata"]
        self.assertEqual(meta["mood"], "festive")
        self.assertEqual(meta["weather"]["place"], "Lisbon")
        self.assertEqual(meta["weather"]["date"], "2026-12-24")
        self.assertEqual(meta["weather"]["temperature_min"], want["temperature_2m_min"][0])
        self.assertTrue(any(p.startswith("/v1/forecast?") and "start_date=2026-12-24" in p
                            for p in self.meteo.requests))
        # "weather in X" in search answers from the plugin.
        r = self.api.get("/api/memories/search?q=weather%20in%20Porto%202026-12-24", token=tok)
        answers = r.json.get("plugin_answers", [])
        self.assertEqual(len(answers), 1, r.json)
        self.assertIn("Porto on 2026-12-24", answers[0]["answer"])
        # Another user's memory id: not found, no weather fetched for it.
        other = self.user()
        self.install(other, "weather", ["memories:read", "memories:write", "http", "kv"], settings)
        res = self.act(other, "weather", "annotate", {"memory_id": mid})["result"]
        self.assertIn("not found", res["error"])

    def test_bulk_create_tags_before_the_insert(self):
        tok = self.user()
        self.install(tok, "auto-tagger", ["memories:read", "memories:write", "kv"],
                     {"rules": "fitness: gym"})
        items = [{"content": "gym session %d" % i} for i in range(5)]
        items.append({"content": "a quiet day", "tags": ["mine"]})
        r = self.api.post("/api/memories/bulk", {"memories": items}, token=tok)
        self.assertEqual(r.status, 201, r.raw[:300])
        ids = r.json["ids"]
        # on_memory_creating ran before the insert: the tags are there as
        # soon as the request answers, with no job.
        for i in ids[:5]:
            self.assertEqual(self.api.get("/api/memories/%s" % i, token=tok).json["tags"], ["fitness"])
        self.assertEqual(self.api.get("/api/memories/%s" % ids[5], token=tok).json["tags"], ["mine"])
        jobs = self.api.get("/api/jobs?kind=plugin.hook", token=tok)
        self.assertEqual(jobs.status, 200, jobs.raw[:300])
        self.assertEqual(len(jobs.json["jobs"]), 0, jobs.json)
        # A single create too; search finds the memory by its new tag.
        r = self.api.post("/api/memories", {"content": "leg day at the gym"}, token=tok)
        self.assertEqual(r.status, 201, r.raw[:300])
        self.assertEqual(r.json["tags"], ["fitness"])
        found = self.api.get("/api/memories?tag=fitness&limit=50", token=tok)
        self.assertEqual(found.status, 200, found.raw[:300])
        self.assertEqual(len(found.json["memories"]), 6, found.json)

    def test_bulk_create_runs_the_hook_as_one_batch(self):
        import time
        tok = self.user()
        self.install(tok, "task-extractor", ["memories:write"])
        items = [{"content": "Remember to call the plumber tomorrow, item %d." % i} for i in range(3)]
        items.append({"content": "a quiet day"})
        r = self.api.post("/api/memories/bulk", {"memories": items}, token=tok)
        self.assertEqual(r.status, 201, r.raw[:300])
        deadline = time.monotonic() + 60
        tasks = []
        while time.monotonic() < deadline:
            tasks = self.api.get("/api/memories?tag=task&limit=50", token=tok).json.get("memories", [])
            if len(tasks) >= 3:
                break
            time.sleep(0.2)
        self.assertEqual(len(tasks), 3, tasks)
        # One plugin.hook job did the whole batch.
        jobs = self.api.get("/api/jobs?kind=plugin.hook", token=tok)
        self.assertEqual(jobs.status, 200, jobs.raw[:300])
        self.assertEqual(len(jobs.json["jobs"]), 1, jobs.json)

    def test_daily_digest_action(self):
        tok = self.user()
        self.install(tok, "daily-digest", ["memories:read", "memories:write"])
        for text in ("Ran 5 km along the river", "Call the bank about the card"):
            self.assertEqual(self.api.post("/api/memories", {"content": text}, token=tok).status, 201)
        today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
        res = self.act(tok, "daily-digest", "digest", {"date": today})["result"]
        self.assertEqual(res["count"], 2, res)
        note = self.api.get("/api/memories/%s" % res["created"], token=tok).json
        self.assertIn("Digest of %s: 2 memories" % today, note["content"])
        self.assertIn("- Ran 5 km along the river", note["content"])
        self.assertEqual(note["tags"], ["digest"])

    def test_bad_input_is_4xx(self):
        tok = self.user()
        self.install(tok, "probe", self.PROBE_GRANT)
        for body in ({}, {"action": 3}, {"action": "x" * 65}, {"action": "get", "params": []}):
            r = self.api.post("/api/plugins/probe/actions", body, token=tok)
            harness.check_error(self, r, 422)
        r = self.api.post("/api/plugins/nope/actions", {"action": "x"}, token=tok)
        harness.check_error(self, r, 404)
        r = self.api.post("/api/plugins/task-extractor/actions", {"action": "x"}, token=tok)
        harness.check_error(self, r, 404)


if __name__ == "__main__":
    unittest.main()
