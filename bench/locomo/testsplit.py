#!/usr/bin/env python3
"""
testsplit.py — the LoCoMo conversations that are not the dev set, as a file
run.py reads: a held-out check that a change was not tuned to conv 1–3.

    python3 bench/locomo/testsplit.py LOCOMO10_ZIP OUT.json
    python3 bench/locomo/run.py --bin build/personalos --data OUT.json

LOCOMO10_ZIP is `data/locomo10.zip` of github.com/snap-research/locomo
(CC BY-NC 4.0; keep it and OUT.json outside the repository, like
../shared/data). It holds the ten conversations as
`data/multimodal_dialog/locomo10_v2/<n>.json`; the dev set
(../shared/data/locomo-dev.json) is 26, 30 and 41, so the test split is
42, 43, 44, 47, 48, 49 and 50: 1,489 questions (1,484 with a valid
evidence id). Each becomes `{sample_id: "conv-<n>", conversation:
{speaker_a, speaker_b, session_N, session_N_date_time}, qa}`, the layout
of locomo10.json.
"""
import json
import re
import sys
import zipfile

DEV = {"26", "30", "41"}
MEMBER = re.compile(r"data/multimodal_dialog/locomo10_v2/(\d+)\.json$")
KEEP = re.compile(r"speaker_[ab]|session_\d+(_date_time)?")


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__.strip().split("\n\n")[1])
    out = []
    with zipfile.ZipFile(argv[1]) as z:
        for name in sorted(z.namelist()):
            m = MEMBER.match(name)
            if not m or m.group(1) in DEV:
                continue
            d = json.loads(z.read(name))
            conv = {k: v for k, v in d.items() if KEEP.fullmatch(k)}
            out.append({"sample_id": "conv-%s" % m.group(1), "conversation": conv,
                        "qa": d.get("qa", [])})
    with open(argv[2], "w") as f:
        json.dump(out, f)
    print("%d conversations, %d questions -> %s"
          % (len(out), sum(len(c["qa"]) for c in out), argv[2]))


if __name__ == "__main__":
    main(sys.argv)
