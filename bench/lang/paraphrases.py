#!/usr/bin/env python3
"""Paraphrases in search: a small set of our own for query expansion (issue 20).

A personal corpus of 30 short notes and two kinds of question:

- 15 "gap" questions ask with a word the user never wrote, where the note
  that answers uses WordNet's synonym or derived form of it ("what did the
  physician say" for "Saw the doctor about my knee");
- 15 "own word" questions ask with the note's own words (the precision
  check: expansion must not push the note that says them below others).

No note uses a gap question's word, and the gap questions' other words
are stop words or in no note, so only the paraphrase can find the note.

Each question has one right note; the same questions are asked of servers
with expansion off, on for every word (search_expand_max_df -1) and on
only for words in no memory (search_expand_max_df 0, the default; 0.25
is the default weight), at the weights given, and hit@1, hit@3 and MRR
are printed per kind.

    python3 bench/lang/paraphrases.py [--bin PATH] [--weights 0.25,0.5] [--json FILE]

Python 3 standard library only; reports, never asserts. Needs WordNet
(Debian wordnet-base) where the server looks for it. See docs/SEARCH.md,
"Query expansion".
"""

import argparse
import json
import os
import shutil
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "locomo"))
import harness as H  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timephrases import summary  # noqa: E402  (hit@1, hit@3, MRR: one definition)

NOTES = [
    "Saw the doctor about my sore knee, rest for two weeks",
    "Watched a movie with Lena, the one about the lighthouse keeper",
    "The car needs new tyres before the winter",
    "The baby slept through the night for the first time",
    "Call the lawyer about the lease before Friday",
    "Vacation plans: two weeks in Crete in August",
    "Ordered a new couch for the living room, grey",
    "Dermatology appointment moved to the 14th",
    "The child next door lost a tooth and was proud of it",
    "The flat above us is finally rented out",
    "Bike chain broke on the way to work again",
    "Printed the photo from the wedding for grandma",
    "Picked up the prescription at the drugstore",
    "Lost baggage claim filed at the airport desk",
    "Parent evening: the instructor says Tom reads well",
    # notes for the own-word questions, some using the alternatives of
    # other notes' words
    "Physics homework: the block on the ramp problem, chapter 3",
    "Booked a table for the anniversary dinner at eight",
    "Garden: planted tulips along the fence",
    "Paid the electricity bill, 84 euros",
    "Running club meets on Thursdays at the park gate",
    "Grandma's recipe for plum cake, use less sugar",
    "Tax return documents are in the blue folder",
    "Dentist said to floss more, next check in March",
    "The printer needs a new toner cartridge",
    "Podcast recommendation from Sam about sleep science",
    "Birthday present for Mia: a puzzle of 1000 pieces",
    "Game night at the community centre, bring snacks",
    "The garage quoted 300 for the brakes",
    "Our building gets new windows in May",
    "Staff conference on Monday, school is closed",
]

# (question, index of the right note, kind)
QUESTIONS = [
    ("what did the physician tell me", 0, "gap"),
    ("which film did we see", 1, "gap"),
    ("anything about the automobile", 2, "gap"),
    ("news about the infant", 3, "gap"),
    ("what about the attorney", 4, "gap"),
    ("the holiday", 5, "gap"),
    ("which sofa", 6, "gap"),
    ("dermatologist", 7, "gap"),
    ("what did the kid do", 8, "gap"),
    ("the apartment", 9, "gap"),
    ("the bicycle", 10, "gap"),
    ("that photograph", 11, "gap"),
    ("the pharmacy", 12, "gap"),
    ("the luggage", 13, "gap"),
    ("what did the teacher tell", 14, "gap"),
    ("block on the ramp physics problem", 15, "own"),
    ("anniversary dinner table", 16, "own"),
    ("tulips in the garden", 17, "own"),
    ("electricity bill", 18, "own"),
    ("running club", 19, "own"),
    ("plum cake recipe", 20, "own"),
    ("tax return documents", 21, "own"),
    ("what did the dentist say", 22, "own"),
    ("printer toner", 23, "own"),
    ("podcast about sleep", 24, "own"),
    ("birthday present for Mia", 25, "own"),
    ("game night snacks", 26, "own"),
    ("garage brakes", 27, "own"),
    ("building windows", 28, "own"),
    ("staff conference", 29, "own"),
]


def run(binary, env, work):
    srv = H.Server(binary, os.path.join(work, "data"), work, env)
    srv.start()
    client = H.Client(srv.base_url)
    try:
        sess = H.Session(client, "para%d@example.com" % os.getpid()).register()
        ids, _ = sess.bulk([{"content": t, "type": "note"} for t in NOTES])
        out = []
        for q, right, kind in QUESTIONS:
            r = sess.search(q, mode="hybrid", limit=20)
            got = [m["id"] for m in (r.doc or {}).get("memories", [])]
            rank = got.index(ids[right]) + 1 if ids[right] in got else None
            out.append({"question": q, "kind": kind, "rank": rank})
        return out
    finally:
        client.close()
        srv.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.environ.get("POS_BIN") or "build-release/personalos",
                    help="personalos binary (default $POS_BIN or build-release/personalos)")
    ap.add_argument("--weights", default="0.25,0.5",
                    help="search_expand_weight values to try (default 0.25,0.5)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    binary = H.resolve_binary(args.bin)
    configs = [("off", {"PERSONALOS_SEARCH_EXPAND_WEIGHT": "0"})]
    for w in args.weights.split(","):
        configs.append(("every word, weight %s" % w,
                        {"PERSONALOS_SEARCH_EXPAND_WEIGHT": w,
                         "PERSONALOS_SEARCH_EXPAND_MAX_DF": "-1"}))
        configs.append(("words in no memory, weight %s" % w,
                        {"PERSONALOS_SEARCH_EXPAND_WEIGHT": w,
                         "PERSONALOS_SEARCH_EXPAND_MAX_DF": "0"}))
    results = {}
    for name, env in configs:
        work = tempfile.mkdtemp(prefix="pos-para-")
        try:
            results[name] = run(binary, env, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    print("paraphrases: %d notes, %d questions, hybrid search, limit 20"
          % (len(NOTES), len(QUESTIONS)))
    print("%-34s %-5s %4s %7s %7s %6s" % ("configuration", "kind", "n", "hit@1", "hit@3",
                                          "MRR"))
    for name, rows in results.items():
        for kind in ("gap", "own"):
            n, h1, h3, mrr = summary([r for r in rows if r["kind"] == kind])
            print("%-34s %-5s %4d %6.1f%% %6.1f%% %6.3f" % (name, kind, n, h1, h3, mrr))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
