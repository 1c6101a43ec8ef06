#!/usr/bin/env python3
"""Runs a command with POS_TEST_PG_URL set to a fresh database of a
PostgreSQL started for it, then stops the server.

    python3 tests/unit/with_pg.py build/tests/test_pg_jobs

The ctest entries of unit tests that need a real PostgreSQL (unit/test_pg_jobs)
run through this. The server comes from tests/api/pgserver.py (initdb into a
temporary directory as an unprivileged user, 127.0.0.1 and a free high port).
Exits 77 (skipped) when PostgreSQL cannot be started.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "api"))


def main():
    if len(sys.argv) < 2:
        sys.stderr.write("usage: with_pg.py COMMAND [ARGS...]\n")
        return 2
    try:
        import pgserver
        url = pgserver.start()
    except Exception as e:  # no PostgreSQL binaries, or it did not come up
        sys.stderr.write("with_pg: cannot start PostgreSQL: %s\n" % e)
        return 77
    try:
        env = dict(os.environ, POS_TEST_PG_URL=url)
        return subprocess.call(sys.argv[1:], env=env)
    finally:
        pgserver.stop()


if __name__ == "__main__":
    sys.exit(main())
