#!/usr/bin/env python3
"""Time phrases in search: a small paraphrase set of our own (issue 20).

A personal corpus where every topic recurs at several dates (dentist,
dinner with Ana, running, invoices, ...), dated relative to now, and
questions that name the time in words ("what did the dentist say last
week?", "dinner with Ana two weeks ago", "runs in <last month's name>").
Each question has one right memory: the one of that topic in that window.
The same questions are asked of servers with the time-phrase weights on
(defaults) and off (search_boost_date = search_boost_when = 0; the phrase
still leaves the keyword query), and the share of questions whose right
memory is first (hit@1) and in the top 3, and the mean reciprocal rank,
are printed.

    python3 bench/lang/timephrases.py [--bin PATH] [--json FILE]

Python 3 standard library only; a run takes a few seconds. Reports, never
asserts. See docs/SEARCH.md, "Time phrases".
"""

import argparse
import datetime
import json
import os
import shutil
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "locomo"))
import harness as H  # noqa: E402

DAY = datetime.timedelta(days=1)
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
WDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

# topic -> texts, one per date (same words, small variations)
TOPICS = {
    "dentist": "Dentist appointment: {} the dentist checked the crown",
    "ana": "Dinner with Ana at the Italian place, {}",
    "run": "Morning run along the river, {} km",
    "invoice": "Paid the electricity invoice, {} euros",
    "book": "Reading group discussed the novel, chapter {}",
    "mom": "Phone call with mom about the garden, part {}",
}
# days ago at which each topic occurs
AGES = [1, 5, 10, 15, 35, 70, 200, 400]


def corpus(now):
    items = []
    for topic, tpl in TOPICS.items():
        for i, age in enumerate(AGES):
            t = now - age * DAY - datetime.timedelta(hours=3)
            items.append({"topic": topic, "age": age,
                          "content": tpl.format(i + 3),
                          "created_at": t.strftime("%Y-%m-%dT%H:%M:%SZ")})
    return items


def questions(now):
    """(question, topic, predicate on the memory's date) — the right memory
    is that topic's one whose date satisfies it (exactly one)."""
    today = now.date()
    monday = today - datetime.timedelta(days=today.weekday())
    first = today.replace(day=1)
    last_month_end = first - DAY
    def day_of(item):
        return datetime.datetime.strptime(item["created_at"], "%Y-%m-%dT%H:%M:%SZ").date()
    def within(a, b):
        return lambda it: a <= day_of(it) < b
    qs = []
    for topic, words in [("dentist", "dentist"), ("ana", "dinner with Ana"),
                         ("run", "run"), ("invoice", "invoice"), ("book", "reading group"),
                         ("mom", "call with mom")]:
        d1 = today - DAY
        qs.append(("what about the %s yesterday" % words, topic, within(d1, today)))
        qs.append(("%s 10 days ago" % words, topic, within(today - 10 * DAY, today - 9 * DAY)))
        qs.append(("%s last week" % words, topic, within(monday - 7 * DAY, monday)))
        lm = last_month_end
        qs.append(("%s in %s" % (words, MONTHS[lm.month - 1]), topic,
                   within(lm.replace(day=1), first)))
        qs.append(("when did I have the %s two weeks ago?" % words, topic,
                   within(today - 17 * DAY, today - 10 * DAY)))
        qs.append(("%s last year" % words, topic,
                   within(datetime.date(today.year - 1, 1, 1), datetime.date(today.year, 1, 1))))
    return qs


def run(binary, env, items, qs, work):
    srv = H.Server(binary, os.path.join(work, "data"), work, env)
    srv.start()
    client = H.Client(srv.base_url)
    try:
        sess = H.Session(client, "time%d@example.com" % os.getpid()).register()
        body = [{"content": it["content"], "created_at": it["created_at"], "type": "note"}
                for it in items]
        ids, _ = sess.bulk(body)
        for it, i in zip(items, ids):
            it["id"] = i
        out = []
        for q, topic, pred in qs:
            right = [it["id"] for it in items if it["topic"] == topic and pred(it)]
            if len(right) != 1:
                continue  # the calendar put two or no dates there this time
            r = sess.search(q, mode="hybrid", limit=20)
            got = [m["id"] for m in (r.doc or {}).get("memories", [])]
            rank = got.index(right[0]) + 1 if right[0] in got else None
            out.append({"question": q, "rank": rank})
        return out
    finally:
        client.close()
        srv.stop()


def summary(rows):
    n = len(rows)
    h1 = sum(1 for r in rows if r["rank"] == 1)
    h3 = sum(1 for r in rows if r["rank"] and r["rank"] <= 3)
    mrr = sum(1.0 / r["rank"] for r in rows if r["rank"]) / n if n else 0
    return n, 100.0 * h1 / n if n else 0, 100.0 * h3 / n if n else 0, mrr


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.environ.get("POS_BIN") or "build-release/personalos",
                    help="personalos binary (default $POS_BIN or build-release/personalos)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    binary = H.resolve_binary(args.bin)
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    if now.hour < 4:
        now -= datetime.timedelta(hours=5)  # keep "-3 h" inside the same day
    items, qs = corpus(now), questions(now)
    configs = [("time phrases on (defaults)", {}),
               ("weights off (date 0, when 0)", {"PERSONALOS_SEARCH_BOOST_DATE": "0",
                                                 "PERSONALOS_SEARCH_BOOST_WHEN": "0"})]
    results = {}
    for name, env in configs:
        work = tempfile.mkdtemp(prefix="pos-time-")
        try:
            results[name] = run(binary, env, [dict(i) for i in items], qs, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    print("time phrases: %d memories (%d topics x %d dates), hybrid search, limit 20"
          % (len(items), len(TOPICS), len(AGES)))
    print("%-32s %9s %7s %7s %6s" % ("configuration", "questions", "hit@1", "hit@3", "MRR"))
    for name, rows in results.items():
        n, h1, h3, mrr = summary(rows)
        print("%-32s %9d %6.1f%% %6.1f%% %6.3f" % (name, n, h1, h3, mrr))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
