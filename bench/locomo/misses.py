#!/usr/bin/env python3
"""
misses.py — why LoCoMo evidence turns are missed: reads a `run.py --json`
result and the LoCoMo data it was made from, and classifies every evidence
turn that is not among a question's top k (default 10) results.

    python3 bench/locomo/run.py --bin build/personalos --modes hybrid --json r.json
    python3 bench/locomo/misses.py --json r.json [--data ../shared/data/locomo-dev.json]
        [--mode hybrid] [-k 10] [--list]

Words are compared as FTS5's porter tokenizer stems them (an in-memory
FTS5 table and its fts5vocab view), stop words dropped, the way the
baseline query is built. Each missed turn gets the first class that fits:

  context only      no question word in the turn but a speaker's name; some
                    in the two turns before it in its session (what thread
                    context indexes)
  speaker only      the only question word the turn holds is a speaker's
                    name, and the two turns before hold none either: a
                    vocabulary gap where the name is all that matches
  vocabulary gap    no question word in the turn nor in the two before it
  time in question  the question names a date/month/year (category 2 or
                    "when"): the words it shares are too few to rank it
  split evidence    the question has several evidence turns and at least
                    one of them is in the top k
  outranked         shares words, ranked 11–50 (the rank is in brackets)
  not in top 50     shares words, not even in the top 50

Every class is also split by LoCoMo category, and the script reports how
often a question that names one of the two speakers has its evidence
spoken by that speaker (the case for a speaker boost).
"""
import argparse
import collections
import json
import os
import re
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import run as R  # noqa: E402

CLASSES = ["context only", "speaker only", "vocabulary gap", "time in question",
           "split evidence", "outranked", "not in top 50"]
MONTH = re.compile(r"\b(january|february|march|april|may|june|july|august|september|"
                   r"october|november|december|20\d\d|last (week|month|year)|"
                   r"yesterday|ago)\b", re.I)
CATS = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}


class Stemmer:
    """Stems texts with FTS5's porter tokenizer, in bulk."""

    def __init__(self, texts):
        self.db = sqlite3.connect(":memory:")
        self.db.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='%s')"
                        % H.FTS5_TOKENIZE)
        self.db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, instance)")
        self.rows = {}
        for text in texts:
            if text in self.rows:
                continue
            words = [w for w in H._WORD.findall(text.lower()) if w not in H.STOP_WORDS]
            cur = self.db.execute("INSERT INTO t(x) VALUES (?)", (" ".join(words),))
            self.rows[text] = cur.lastrowid
        self.stems = collections.defaultdict(set)
        for term, doc in self.db.execute("SELECT term, doc FROM v"):
            self.stems[doc].add(term)

    def __call__(self, text):
        return frozenset(self.stems.get(self.rows.get(text), ()))


def classify(q, top, k, turns, order, stem, speakers):
    """[(dia_id, class, rank or None)] for the evidence turns missed at k."""
    out = []
    qs = stem(q["question"])
    names = set().union(*(stem(s) for s in speakers))
    found = [e for e in q["evidence"] if e in top[:k]]
    for ev in q["evidence"]:
        if ev in top[:k]:
            continue
        rank = top.index(ev) + 1 if ev in top else None
        t = turns.get(ev)
        if t is None:
            out.append((ev, "vocabulary gap", rank))
            continue
        own = stem(t["content"]) & qs
        i = order[ev]
        ctx = set()
        for j in (i - 1, i - 2):
            if j >= 0 and t["_list"][j]["session"] == t["session"]:
                ctx |= stem(t["_list"][j]["content"])
        ctx &= qs
        if not own - names and ctx - names:
            cls = "context only"
        elif own and own <= names:
            cls = "speaker only"
        elif not own - names:
            cls = "vocabulary gap"
        elif q["category"] == 2 or MONTH.search(q["question"]) or \
                q["question"].lower().startswith("when"):
            cls = "time in question"
        elif len(q["evidence"]) > 1 and found:
            cls = "split evidence"
        elif rank is not None:
            cls = "outranked"
        else:
            cls = "not in top 50"
        out.append((ev, cls, rank))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip(),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", required=True, help="run.py --json output")
    ap.add_argument("--data", default=R.DEFAULT_DATA, help="the LoCoMo JSON it was run on")
    ap.add_argument("--mode", default="hybrid")
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--list", action="store_true", help="also list every miss")
    args = ap.parse_args(argv)
    with open(args.json) as f:
        res = json.load(f)
    got = res["server"][args.mode]["questions"]
    convs, _ = R.load_dataset(args.data)
    texts = []
    for c in convs:
        texts += [t["content"] for t in c["turns"]] + [q["question"] for q in c["questions"]]
        texts += [t["speaker"] for t in c["turns"]]
    stem = Stemmer(texts)
    tally = collections.Counter()
    by_cat = collections.defaultdict(collections.Counter)
    missed_q = 0
    spk_named = spk_same = spk_base = 0
    qi = 0
    rows = []
    for c in convs:
        turns, order = {}, {}
        for i, t in enumerate(c["turns"]):
            t["_list"] = c["turns"]
            turns[t["dia_id"]] = t
            order[t["dia_id"]] = i
        speakers = sorted({t["speaker"] for t in c["turns"]})
        share = {s: sum(t["speaker"] == s for t in c["turns"]) / len(c["turns"])
                 for s in speakers}
        for q in c["questions"]:
            g = got[qi]
            qi += 1
            if g["question"] != q["question"]:
                sys.exit("misses: question %d differs between --json and --data" % qi)
            named = [s for s in speakers if re.search(r"\b%s\b" % re.escape(s), q["question"])]
            if len(named) == 1:
                for ev in q["evidence"]:
                    if ev in turns:
                        spk_named += 1
                        spk_same += turns[ev]["speaker"] == named[0]
                        spk_base += share[named[0]]
            miss = classify(q, g["top"], args.k, turns, order, stem, speakers)
            missed_q += bool(miss)
            for ev, cls, rank in miss:
                tally[cls] += 1
                by_cat[cls][q["category"]] += 1
                rows.append((c["id"], q["question"], ev, cls, rank,
                             turns[ev]["content"] if ev in turns else "?"))
    total = sum(tally.values())
    n_ev = sum(len(q["evidence"]) for c in convs for q in c["questions"])
    print("%s, mode %s: %d of %d evidence turns missed at %d (%d of %d questions)"
          % (os.path.basename(args.data), args.mode, total, n_ev, args.k, missed_q, qi))
    print()
    print("| class | missed turns | share | " + " | ".join(
        "%d %s" % (k, v) for k, v in CATS.items()) + " |")
    print("|---|---|---|" + "---|" * len(CATS))
    for cls in CLASSES:
        print("| %s | %d | %.0f %% | %s |" % (
            cls, tally[cls], 100.0 * tally[cls] / total if total else 0,
            " | ".join(str(by_cat[cls][k]) for k in CATS)))
    print()
    if spk_named:
        print("questions naming one speaker: %d evidence turns, %.0f %% spoken by that "
              "speaker (their share of all turns: %.0f %%)"
              % (spk_named, 100.0 * spk_same / spk_named, 100.0 * spk_base / spk_named))
    if args.list:
        for cid, qtext, ev, cls, rank, content in rows:
            print("%s | %s | %s [%s] %s | %s" % (cid, cls, ev, rank or "-", qtext,
                                                content[:120]))


if __name__ == "__main__":
    main()
