#!/usr/bin/env python3
"""Crash drill, long run: N rounds (default 100) of concurrent writers and
kill -9 on one data directory, each followed by `personalos doctor` and a
restart that checks every acknowledged write (tests/api/crashdrill.py).

    python3 bench/crash_drill.py --bin build/personalos [--rounds 100] [--seed 19]

Prints one line per round and the figure recorded in docs/OPERATIONS.md:
"acknowledged writes lost: 0 of N". Exits 1 on the first loss.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "api"))
import crashdrill  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default="build/personalos")
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--seed", type=int, default=19)
    ap.add_argument("--keep", action="store_true", help="keep the data directory")
    args = ap.parse_args()
    os.environ["POS_BIN"] = os.path.abspath(args.bin)
    data_dir = tempfile.mkdtemp(prefix="pos-crash-drill-")
    t0 = time.monotonic()
    try:
        d = crashdrill.run_rounds(data_dir, args.rounds, seed=args.seed,
                                  log=lambda s: print(s, flush=True))
    except AssertionError as e:
        print("FAILED: %s" % e)
        print("data directory kept: %s" % data_dir)
        return 1
    starts = sorted(d.start_seconds)
    print("rounds %d in %.0f s; doctor clean %d times; restart to /health: "
          "median %.2f s, max %.2f s"
          % (args.rounds, time.monotonic() - t0, d.doctor_runs,
             starts[len(starts) // 2], starts[-1]))
    print("acknowledged writes lost: 0 of %d (%d more were in flight at a kill)"
          % (d.ledger.acked, d.ledger.unacked))
    if not args.keep:
        shutil.rmtree(data_dir, True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
