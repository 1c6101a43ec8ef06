"""The OpenAPI document and the route table stay in step.

Every route of the server's route table (src/api/routes.c) must appear in
GET /api/openapi.json under its path with its method, and every operation of
the document must be a route. The route table is read black-box, by parsing
the ROUTE("METHOD", "/path", handler, PUBLIC|BEARER|SESSION|SCOPED, limit) lines of routes.c; path
placeholders such as {id} are written the same way in both.
"""

import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

ROUTES_C = os.path.join(harness.REPO_ROOT, "src", "api", "routes.c")

# ROUTE("GET", "/api/memories/{id}", pos_api_memory_get, BEARER, 0),
ROUTE_RE = re.compile(
    r'^\s*(?:RAW_|SPOOL_)?ROUTE\(\s*"([A-Z]+)"\s*,\s*"([^"]+)"\s*,\s*(\w+)\s*,\s*(PUBLIC|BEARER|SESSION|SCOPED)\s*,',
    re.M)
# Any use of the macro in the table, to catch lines ROUTE_RE cannot read.
ROUTE_USE_RE = re.compile(r'^\s*(?:RAW_|SPOOL_)?ROUTE\(', re.M)

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def route_table():
    """[(METHOD, path, needs_auth)] in the order of routes.c."""
    with open(ROUTES_C, encoding="utf-8") as f:
        src = f.read()
    routes = [(m, p, auth != "PUBLIC") for m, p, _h, auth in ROUTE_RE.findall(src)]
    return routes, len(ROUTE_USE_RE.findall(src))


def operations(doc):
    """{(METHOD, path): operation} of an OpenAPI document."""
    ops = {}
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            if method in HTTP_METHODS:
                ops[(method.upper(), path)] = op
    return ops


class OpenApiMatchesRoutesTest(harness.ApiTestCase):

    @classmethod
    def setUpClass(cls):
        cls.routes, cls.route_uses = route_table()
        super().setUpClass()

    def fetch_doc(self):
        r = self.api.get("/api/openapi.json")
        self.assertEqual(r.status, 200, r.raw[:300])
        doc = json.loads(r.raw.decode("utf-8"))
        self.assertIsInstance(doc.get("paths"), dict)
        return doc

    def test_route_table_is_read_whole(self):
        self.assertTrue(self.routes, "no ROUTE(...) found in %s" % ROUTES_C)
        self.assertEqual(len(self.routes), self.route_uses,
                         "some ROUTE(...) lines of routes.c do not match the "
                         "pattern this test reads")
        keys = [(m, p) for m, p, _ in self.routes]
        self.assertEqual(len(keys), len(set(keys)), "a route is listed twice")

    def test_every_route_is_documented(self):
        ops = operations(self.fetch_doc())
        missing = ["%s %s" % (m, p) for m, p, _ in self.routes if (m, p) not in ops]
        self.assertEqual(missing, [], "routes of routes.c missing from docs/openapi.yaml")

    def test_every_documented_operation_is_a_route(self):
        ops = operations(self.fetch_doc())
        routes = {(m, p) for m, p, _ in self.routes}
        extra = sorted("%s %s" % k for k in ops if k not in routes)
        self.assertEqual(extra, [], "operations of docs/openapi.yaml that routes.c lacks")

    def test_security_matches_auth(self):
        doc = self.fetch_doc()
        ops = operations(doc)
        default = doc.get("security", [])
        for method, path, needs_auth in self.routes:
            op = ops.get((method, path))
            if op is None:
                continue  # reported by test_every_route_is_documented
            security = op.get("security", default)
            public = security == [] or {} in security
            with self.subTest(route="%s %s" % (method, path)):
                self.assertEqual(not public, needs_auth,
                                 "routes.c says auth=%s, the document says %s"
                                 % (needs_auth, "public" if public else "bearer"))


if __name__ == "__main__":
    unittest.main()
