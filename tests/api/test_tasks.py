"""Tasks: `action` memories carry `metadata.completed` (a boolean) and
`metadata.due` (an RFC 3339 time or a date), validated on create and
update; suggestions skip completed tasks (docs/ASSISTANT.md, "Tasks")."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


class TaskMetadataTest(harness.ApiTestCase):

    def test_valid_task_fields(self):
        u = self.new_user()
        for md in ({"completed": False, "due": "2026-12-24"},
                   {"completed": True, "due": "2026-12-24T09:30:00+01:00"},
                   {"completed": None, "due": None}, {}, {"other": "kept"}):
            with self.subTest(md=md):
                m = self.create_memory(u.token, "Buy a gift", type="action", metadata=md)
                self.assertEqual(m["metadata"], md)

    def test_invalid_task_fields_are_refused(self):
        u = self.new_user()
        for md, field in (({"completed": "yes"}, "metadata.completed"),
                          ({"completed": 1}, "metadata.completed"),
                          ({"due": "next friday"}, "metadata.due"),
                          ({"due": "2026-13-01"}, "metadata.due"),
                          ({"due": 20261224}, "metadata.due"),
                          ({"remind_at": "2026-12-24"}, "metadata.remind_at"),
                          ({"remind_at": "tomorrow 9am"}, "metadata.remind_at"),
                          ({"remind_at": True}, "metadata.remind_at")):
            with self.subTest(md=md):
                r = self.api.post("/api/memories", {"content": "Buy a gift", "type": "action",
                                                    "metadata": md}, token=u.token)
                self.assert_error(r, 422, "invalid_field", field=field)
        # Other types keep free-form metadata.
        n = self.create_memory(u.token, "Library book", metadata={"due": "soon"})
        self.assertEqual(n["metadata"], {"due": "soon"})

    def test_update_checks_what_the_memory_becomes(self):
        u = self.new_user()
        task = self.create_memory(u.token, "File the tax return", type="action",
                                  metadata={"completed": False})
        r = self.api.put("/api/memories/" + task["id"],
                         {"metadata": {"completed": "done"}}, token=u.token)
        self.assert_error(r, 422, "invalid_field", field="metadata.completed")
        r = self.api.put("/api/memories/" + task["id"],
                         {"metadata": {"completed": True, "due": "2026-04-30"}}, token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        self.assertTrue(r.json["metadata"]["completed"])
        # A note with a free-form "due" cannot become a task as it is.
        note = self.create_memory(u.token, "Library book", metadata={"due": "soon"})
        r = self.api.put("/api/memories/" + note["id"], {"type": "action"}, token=u.token)
        self.assert_error(r, 422, "invalid_field", field="metadata.due")
        r = self.api.put("/api/memories/" + note["id"],
                         {"type": "action", "metadata": {"due": "2026-05-02"}}, token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])

    def test_suggestions_skip_completed_tasks(self):
        u = self.new_user()
        open_task = self.create_memory(u.token, "Renew the passport", type="action",
                                       metadata={"completed": False, "due": "2026-12-20"})
        done = self.create_memory(u.token, "Pay the rent", type="action",
                                  metadata={"completed": True})
        r = self.api.post("/api/chat/suggestions", token=u.token)
        self.assertEqual(r.status, 200, r.raw[:300])
        used = [i for s in r.json["suggestions"] for i in s["memory_ids"]]
        self.assertIn(open_task["id"], used)
        self.assertNotIn(done["id"], used)
        # Ticking the box removes it.
        self.api.put("/api/memories/" + open_task["id"], {"metadata": {"completed": True}},
                     token=u.token)
        r = self.api.post("/api/chat/suggestions", token=u.token)
        used = [i for s in r.json["suggestions"] for i in s["memory_ids"]]
        self.assertNotIn(open_task["id"], used)


if __name__ == "__main__":
    unittest.main()
