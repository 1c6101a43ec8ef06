#!/usr/bin/env python3
"""LoCoMo evidence recall of PersonalOS search, next to SQLite FTS5 alone.

For each LoCoMo conversation: register one user, load every dialog turn as
one memory (POST /api/memories/bulk, type "conversation", content
"<speaker>: <text>[ [image: <caption>]]", created_at = the session's date,
metadata {dia_id, session, speaker}, source "locomo"), then ask every
question through GET /api/memories/search (limit 50) in each mode, and
compute evidence recall R@5/10/25/50 overall and per category, with the
client-side and server-side (took_ms) latency. The same run computes the
"SQLite FTS5 BM25 alone" baseline over the same turn texts in an in-memory
sqlite3 table, and prints the published DRAGON anchor and the targets.

    python3 bench/locomo/run.py [--bin PATH | --base-url URL]
        [--data ../shared/data/locomo-dev.json] [--modes hybrid,keyword,semantic]
        [--json out.json] [--markdown out.md] [--baseline-only]
        [--store postgres://USER@HOST:PORT/DB]

Exit status: 0 on a complete run (and when the data file is absent: the run
is skipped with a message), 1 when the run failed or a mode answered errors,
2 on bad arguments, 3 when the server has no search endpoint (404). Recall
is reported, never asserted. Python 3 standard library only; see
docs/BENCHMARKS.md, section "Search (issue 3)".
"""

import argparse
import datetime
import json
import os
import re
import shutil
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

DEFAULT_DATA = os.path.join(os.path.dirname(H.REPO_ROOT), "shared", "data", "locomo-dev.json")
KS = (5, 10, 25, 50)
SEARCH_LIMIT = 50
BULK_MAX = 1000
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop",
              5: "adversarial"}
# LoCoMo paper (Maharana et al., 2024), Table 3: DRAGON over dialog turns.
ANCHOR_DRAGON = {5: 56.7, 10: 66.2, 25: 76.7}
# Published figure for the FTS5 baseline on these three conversations.
ANCHOR_FTS5_R10 = 62.9
TARGETS = {10: 75.0, 25: 85.0}
EVIDENCE_ID = re.compile(r"D\d+:\d+")
SESSION_KEY = re.compile(r"session_(\d+)")
MONTHS = {m: i + 1 for i, m in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august",
     "september", "october", "november", "december"])}
MONTHS.update({k[:3]: v for k, v in list(MONTHS.items())})
MONTHS["sept"] = 9
DATE_RE = re.compile(
    r"^\s*(\d{1,2})(?:[:.](\d{2}))?\s*([ap])\.?\s*m\.?\s*(?:on\s+)?"
    r"(\d{1,2})(?:st|nd|rd|th)?\s+([A-Za-z]+)\.?,?\s+(\d{4})\s*$", re.I)


# ---- the dataset ------------------------------------------------------------------

def parse_session_date(text):
    """'1:56 pm on 8 May, 2023' -> '2023-05-08T13:56:00Z' (the dates carry no
    zone; they are taken as UTC). None when the text does not parse."""
    if not isinstance(text, str):
        return None
    m = DATE_RE.match(text)
    if not m:
        return None
    hour, minute = int(m.group(1)), int(m.group(2) or 0)
    month = MONTHS.get(m.group(5).lower())
    if not month or not 1 <= hour <= 12 or minute > 59:
        return None
    hour = hour % 12 + (12 if m.group(3).lower() == "p" else 0)
    day, year = int(m.group(4)), int(m.group(6))
    try:
        dt = datetime.datetime(year, month, day, hour, minute)
    except ValueError:
        return None
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def turn_content(turn):
    """The memory content of a turn, or None when it has no text at all."""
    text = turn.get("text")
    text = text.strip() if isinstance(text, str) else ""
    cap = turn.get("blip_caption")
    cap = cap.strip() if isinstance(cap, str) else ""
    speaker = turn.get("speaker")
    speaker = speaker.strip() if isinstance(speaker, str) and speaker.strip() else "unknown"
    if not text and not cap:
        return None
    content = "%s: %s" % (speaker, text) if text else "%s:" % speaker
    if cap:
        content += " [image: %s]" % cap
    return content


def load_dataset(path):
    """Reads the LoCoMo JSON into a list of conversations:
    {id, turns: [{dia_id, session, speaker, content, created_at}],
     questions: [{question, category, evidence: [ids]}]}, and stats of what
    was dropped on the way (malformed entries are skipped, not fatal)."""
    with open(path, encoding="utf-8") as f:
        raw = json.load(f)
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        raise H.BenchError("%s: expected a JSON list of conversations" % path)
    stats = {"conversations": 0, "turns": 0, "turns_without_text": 0,
             "turns_without_dia_id": 0, "sessions_without_date": 0,
             "questions": 0, "questions_skipped": 0, "questions_invalid": 0,
             "evidence_ids": 0,
             "evidence_ids_malformed": [], "evidence_ids_unknown": 0,
             "duplicate_dia_ids": 0}
    convs = []
    for ci, sample in enumerate(raw):
        if not isinstance(sample, dict) or not isinstance(sample.get("conversation"), dict):
            H.log("locomo: entry %d has no `conversation`; skipped" % ci)
            continue
        conv = sample["conversation"]
        cid = str(sample.get("sample_id") or "conv-%d" % ci)
        sessions = []
        for key, turns in conv.items():
            m = SESSION_KEY.fullmatch(key)
            if m and isinstance(turns, list):
                sessions.append((int(m.group(1)), turns))
        sessions.sort()
        turns_out, seen = [], set()
        for n, turns in sessions:
            created = parse_session_date(conv.get("session_%d_date_time" % n))
            if created is None and turns:
                stats["sessions_without_date"] += 1
                H.log("locomo: %s session %d: date %r does not parse; its turns get the "
                      "server's time" % (cid, n, conv.get("session_%d_date_time" % n)))
            for t in turns:
                if not isinstance(t, dict):
                    stats["turns_without_text"] += 1
                    continue
                dia = t.get("dia_id")
                dia = dia.strip() if isinstance(dia, str) else ""
                if not dia:
                    stats["turns_without_dia_id"] += 1
                    continue
                content = turn_content(t)
                if content is None:
                    stats["turns_without_text"] += 1
                    continue
                if dia in seen:
                    stats["duplicate_dia_ids"] += 1
                seen.add(dia)
                speaker = t.get("speaker") if isinstance(t.get("speaker"), str) else "unknown"
                turns_out.append({"dia_id": dia, "session": n, "speaker": speaker,
                                  "content": content, "created_at": created})
        questions = []
        for q in sample.get("qa") or []:
            if not isinstance(q, dict) or not isinstance(q.get("question"), str) \
                    or not q["question"].strip():
                stats["questions_invalid"] += 1
                continue
            stats["questions"] += 1
            ev_raw = q.get("evidence")
            if isinstance(ev_raw, str):
                ev_raw = [ev_raw]
            ev = []
            for e in ev_raw if isinstance(ev_raw, list) else []:
                e = e.strip() if isinstance(e, str) else e
                if isinstance(e, str) and EVIDENCE_ID.fullmatch(e):
                    if e not in ev:
                        ev.append(e)
                        stats["evidence_ids"] += 1
                        if e not in seen:
                            stats["evidence_ids_unknown"] += 1
                else:
                    stats["evidence_ids_malformed"].append(e)
            if not ev:
                stats["questions_skipped"] += 1
                continue
            cat = q.get("category")
            questions.append({"question": q["question"].strip(),
                              "category": cat if cat in CATEGORIES else "other",
                              "evidence": ev})
        stats["conversations"] += 1
        stats["turns"] += len(turns_out)
        convs.append({"id": cid, "turns": turns_out, "questions": questions})
    return convs, stats


# ---- recall ------------------------------------------------------------------------

class Recall:
    """Accumulates R@k over questions, overall and per category."""

    def __init__(self):
        self.sum = {}      # category or "all" -> {k: sum of per-question recall}
        self.n = {}

    def add(self, category, evidence, ranked_dia_ids):
        for key in ("all", category):
            s = self.sum.setdefault(key, {k: 0.0 for k in KS})
            self.n[key] = self.n.get(key, 0) + 1
            for k in KS:
                s[k] += len(set(evidence) & set(ranked_dia_ids[:k])) / len(evidence)

    def table(self):
        """{category: {"n": n, "R@k": percent}}"""
        out = {}
        for key, s in self.sum.items():
            out[str(key)] = dict({"n": self.n[key]},
                                 **{"R@%d" % k: 100.0 * v / self.n[key] for k, v in s.items()})
        return out


def per_question(q, ranked):
    hit = {k: len(set(q["evidence"]) & set(ranked[:k])) / len(q["evidence"]) for k in KS}
    return {"question": q["question"], "category": q["category"], "evidence": q["evidence"],
            "top": ranked[:50], "recall": hit}


# ---- the FTS5 baseline --------------------------------------------------------------

def run_baseline(convs):
    rec, lat, questions = Recall(), [], []
    for c in convs:
        db = H.fts5_open()
        dia_of = [None]
        with db:
            for t in c["turns"]:
                dia_of.append(t["dia_id"])
                db.execute("INSERT INTO docs(rowid, content) VALUES (?, ?)",
                           (len(dia_of) - 1, t["content"]))
        for q in c["questions"]:
            rows, ms = H.fts5_search(db, q["question"], SEARCH_LIMIT)
            ranked = [dia_of[r] for r in rows]
            rec.add(q["category"], q["evidence"], ranked)
            lat.append(ms)
            questions.append(per_question(q, ranked))
        db.close()
    return {"recall": rec.table(), "latency_ms": H.latency_summary(lat),
            "questions": questions}


# ---- the server ----------------------------------------------------------------------

def load_conversations(client, convs, tag):
    """Registers one user per conversation and bulk-loads its turns; returns
    [(session, {memory id: dia_id})] and the load figures."""
    loaded, ms_total, n_total = [], 0.0, 0
    for c in convs:
        email = "locomo-%s-%s@example.com" % (re.sub(r"[^a-z0-9]+", "-", c["id"].lower()), tag)
        sess = H.Session(client, email).register(full_name="LoCoMo %s" % c["id"])
        id_to_dia = {}
        for i in range(0, len(c["turns"]), BULK_MAX):
            chunk = c["turns"][i:i + BULK_MAX]
            items = []
            for t in chunk:
                m = {"content": t["content"], "type": "conversation", "source": "locomo",
                     "metadata": {"dia_id": t["dia_id"], "session": t["session"],
                                  "speaker": t["speaker"]}}
                if t["created_at"]:
                    m["created_at"] = t["created_at"]
                items.append(m)
            ids, r = sess.bulk(items)
            ms_total += r.client_ms
            n_total += len(ids)
            for mid, t in zip(ids, chunk):
                id_to_dia[mid] = t["dia_id"]
        total = sess.total()
        if total is not None and total != len(c["turns"]):
            raise H.BenchError("user of %s holds %d memories after loading %d turns"
                               % (c["id"], total, len(c["turns"])))
        H.log("  %s: %d turns loaded, %d questions" % (c["id"], len(c["turns"]),
                                                        len(c["questions"])))
        loaded.append((sess, id_to_dia))
    return loaded, {"memories": n_total, "bulk_ms": ms_total,
                    "memories_per_s": n_total / (ms_total / 1000.0) if ms_total else None}


def run_mode(convs, loaded, mode, warmup):
    """Asks every question in one mode. Returns the result dict; a mode the
    server refuses (non-200) gives {"error": ...}."""
    rec, client_ms, server_ms, took_ms, questions = Recall(), [], [], [], []
    # warm-up: the first questions, answers discarded
    c0, (s0, _m0) = convs[0], loaded[0]
    for q in c0["questions"][:warmup]:
        r = s0.search(q["question"], mode=mode, limit=SEARCH_LIMIT)
        if r.status != 200:
            return {"error": r.error_text()}
    for c, (sess, id_to_dia) in zip(convs, loaded):
        for q in c["questions"]:
            r = sess.search(q["question"], mode=mode, limit=SEARCH_LIMIT)
            if r.status != 200:
                return {"error": "%s (question %r)" % (r.error_text(), q["question"])}
            ids, took = H.search_hits(r)
            ranked = []
            for mid in ids[:SEARCH_LIMIT]:
                dia = id_to_dia.get(mid)
                ranked.append(dia if dia is not None else "?" + mid)
            rec.add(q["category"], q["evidence"], ranked)
            client_ms.append(r.client_ms)
            server_ms.append(r.server_ms)
            took_ms.append(took)
            questions.append(per_question(q, ranked))
    return {"recall": rec.table(), "client_ms": H.latency_summary(client_ms),
            "took_ms": H.latency_summary(took_ms),
            "server_timing_ms": H.latency_summary(server_ms), "questions": questions}


# ---- report ---------------------------------------------------------------------------

def p50p99(s):
    return "%s / %s" % (H.fmt_ms(s["p50"]), H.fmt_ms(s["p99"]))


def fmt_r(v):
    return "—" if v is None else "%.1f" % v


def systems_of(R):
    """[(label, result)] in print order: baseline first, then server modes."""
    out = [("SQLite FTS5 BM25 alone", R["baseline"])]
    for mode in R["modes"]:
        out.append(("server %s" % mode, R["server"].get(mode) or {"error": "not run"}))
    return out


def overall_rows(R):
    rows = [("DRAGON (LoCoMo paper)", "—", fmt_r(ANCHOR_DRAGON[5]), fmt_r(ANCHOR_DRAGON[10]),
             fmt_r(ANCHOR_DRAGON[25]), "—", "published anchor", "", "")]
    for label, res in systems_of(R):
        if "error" in res:
            rows.append((label, "", "", "", "", "", "error: " + res["error"], "", ""))
            continue
        a = res["recall"].get("all", {})
        if "latency_ms" in res:
            lat = p50p99(res["latency_ms"])
            srv = "(in-process, no HTTP)"
        else:
            lat, srv = p50p99(res["client_ms"]), p50p99(res["took_ms"])
        base = R["baseline"]["recall"]["all"]["R@10"]
        delta = "" if label.startswith("SQLite") else "%+.1f" % (a.get("R@10", 0) - base)
        rows.append((label, a.get("n"), fmt_r(a.get("R@5")), fmt_r(a.get("R@10")),
                     fmt_r(a.get("R@25")), fmt_r(a.get("R@50")), lat, srv, delta))
    rows.append(("target", "", "", "≥ %.0f" % TARGETS[10], "≥ %.0f" % TARGETS[25], "", "", "", ""))
    return rows


OVERALL_HEAD = ("system", "questions", "R@5", "R@10", "R@25", "R@50",
                "client p50 / p99", "server took_ms p50 / p99", "R@10 vs FTS5")


def category_rows(R):
    rows = []
    cats = [str(c) for c in sorted(CATEGORIES)] + ["other"]
    for cat in cats:
        for label, res in systems_of(R):
            if "error" in res or cat not in res["recall"]:
                continue
            t = res["recall"][cat]
            name = "%s %s" % (cat, CATEGORIES.get(int(cat), "")) if cat.isdigit() else cat
            rows.append((name, label, t["n"], fmt_r(t["R@5"]), fmt_r(t["R@10"]),
                         fmt_r(t["R@25"]), fmt_r(t["R@50"])))
    return rows


CATEGORY_HEAD = ("category", "system", "n", "R@5", "R@10", "R@25", "R@50")


def verdict_lines(R):
    lines = []
    b = R["baseline"]["recall"]["all"]["R@10"]
    lines.append("FTS5 baseline R@10 %.1f (published for this recipe: %.1f)" % (b, ANCHOR_FTS5_R10))
    for mode in R["modes"]:
        res = R["server"].get(mode)
        if not res or "error" in res:
            continue
        a = res["recall"]["all"]
        parts = ["R@%d %.1f %s %.0f" % (k, a["R@%d" % k], "meets ≥" if a["R@%d" % k] >= t
                                         else "misses ≥", t) for k, t in sorted(TARGETS.items())]
        lines.append("server %s: %s; R@10 %.2f× FTS5" % (mode, ", ".join(parts),
                                                        a["R@10"] / b if b else 0))
    return lines


def render(R, markdown=False):
    st = R["dataset"]
    m = R["machine"]
    head = ("LoCoMo evidence recall — %s, commit %s, %d CPUs (%s)\n"
            "data: %s — %d conversations, %d turns, %d questions with evidence "
            "(%d skipped without a valid evidence id; %d malformed evidence ids dropped%s); "
            "search limit %d"
            % (m["date"], m["commit"], m["cpus"], m["cpu"], R["data"], st["conversations"],
               st["turns"], R["questions_used"], st["questions_skipped"],
               len(st["evidence_ids_malformed"]),
               "; %d evidence ids name no turn" % st["evidence_ids_unknown"]
               if st["evidence_ids_unknown"] else "", SEARCH_LIMIT))
    table = H.markdown_table if markdown else H.text_table
    out = [head, "", table(OVERALL_HEAD, overall_rows(R)), "",
           "Per category:", "", table(CATEGORY_HEAD, category_rows(R)), ""]
    out += verdict_lines(R)
    if R.get("load"):
        out.append("load: %d memories in %.2f s of bulk requests (%s memories/s)"
                   % (R["load"]["memories"], R["load"]["bulk_ms"] / 1000.0,
                      H.fmt_rate(R["load"]["memories_per_s"])))
    for note in R["notes"]:
        out.append(("Note: " if markdown else "note: ") + note)
    return "\n".join(out) + "\n"


# ---- main -------------------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--bin", default=os.environ.get("POS_BIN", "build-release/personalos"),
                       help="personalos binary to start (default $POS_BIN or "
                            "build-release/personalos)")
    where.add_argument("--base-url", help="use a running server instead, e.g. "
                       "http://127.0.0.1:8420 (users are registered on it)")
    ap.add_argument("--data", default=DEFAULT_DATA,
                    help="LoCoMo JSON (default ../shared/data/locomo-dev.json)")
    ap.add_argument("--modes", default="hybrid,keyword,semantic",
                    help="search modes to ask, comma-separated (default hybrid,keyword,semantic)")
    ap.add_argument("--warmup", type=int, default=10,
                    help="questions asked first in each mode and not counted (default 10)")
    ap.add_argument("--baseline-only", action="store_true",
                    help="only the in-process FTS5 baseline; no server")
    ap.add_argument("--json", metavar="FILE", help="write every figure (and each "
                    "question's top results) as JSON")
    ap.add_argument("--markdown", metavar="FILE", help="also write the tables as markdown")
    ap.add_argument("--work-dir", help="data directory and log of the started server "
                    "(default: a temporary directory, removed afterwards)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                    help="extra environment for the started server (repeatable)")
    ap.add_argument("--store", metavar="URL",
                    help="the started server's store (PERSONALOS_STORE), e.g. "
                    "postgres://USER@127.0.0.1:PORT/DB for the PostgreSQL backend; "
                    "default: SQLite in the work directory")
    args = ap.parse_args(argv)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in args.modes if not re.fullmatch(r"[a-z_]+", m)]
    if bad or not args.modes:
        ap.error("--modes: want names like hybrid,keyword,semantic")
    # Rate limits off unless asked for (--server-env PERSONALOS_RATE_LIMIT=on):
    # one client at thousands of requests/s is the benchmark, not an attack.
    args.env = {"PERSONALOS_RATE_LIMIT": "off"}
    for kv in args.server_env:
        if "=" not in kv:
            ap.error("--server-env wants NAME=VALUE, got %r" % kv)
        k, v = kv.split("=", 1)
        args.env[k] = v
    if args.store:
        if not re.match(r"(sqlite:|postgres(ql)?://)", args.store):
            ap.error("--store wants sqlite:... or postgres://...")
        args.env["PERSONALOS_STORE"] = args.store
    if args.warmup < 0:
        ap.error("--warmup must be >= 0")
    return args


def write_outputs(args, R):
    text = render(R)
    print(text, end="")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(render(R, markdown=True))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(R, f, indent=1)
            f.write("\n")


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not os.path.exists(args.data):
        print("locomo: %s is absent; skipping (the data lives in ../shared/data, "
              "outside the repository)" % args.data)
        return 0
    try:
        convs, stats = load_dataset(args.data)
    except (OSError, ValueError, H.BenchError) as e:
        H.log("locomo: cannot read %s: %s" % (args.data, e))
        return 1
    if not convs:
        H.log("locomo: %s holds no usable conversation" % args.data)
        return 1
    R = {"machine": H.machine_info(None if args.base_url or args.baseline_only else args.bin),
         "data": os.path.relpath(os.path.abspath(args.data), H.REPO_ROOT),
         "dataset": stats, "modes": [] if args.baseline_only else args.modes,
         "questions_used": sum(len(c["questions"]) for c in convs),
         "search_limit": SEARCH_LIMIT, "anchors": {"dragon": ANCHOR_DRAGON,
                                                   "fts5_r10_published": ANCHOR_FTS5_R10},
         "targets": TARGETS, "server": {}, "notes": []}
    if stats["evidence_ids_malformed"]:
        R["notes"].append("dropped malformed evidence ids: %s"
                          % ", ".join(repr(e) for e in stats["evidence_ids_malformed"][:5]))
    for k, what in (("questions_invalid", "qa entries without a question skipped"),
                    ("turns_without_text", "turns without text skipped"),
                    ("turns_without_dia_id", "turns without dia_id skipped"),
                    ("duplicate_dia_ids", "duplicate dia_ids"),
                    ("sessions_without_date", "sessions whose date did not parse")):
        if stats[k]:
            R["notes"].append("%d %s" % (stats[k], what))

    H.log("locomo: FTS5 baseline over %d turns, %d questions" % (stats["turns"],
                                                                R["questions_used"]))
    R["baseline"] = run_baseline(convs)
    if args.baseline_only:
        write_outputs(args, R)
        return 0

    work = args.work_dir or tempfile.mkdtemp(prefix="pos-locomo-")
    srv = None
    status = 0
    try:
        if args.base_url:
            base_url = args.base_url
        else:
            binary = H.resolve_binary(args.bin)
            srv = H.Server(binary, os.path.join(work, "data"), work, args.env)
            srv.start()
            base_url = srv.base_url
        client = H.Client(base_url)
        H.log("locomo: loading %d conversations into %s" % (len(convs), base_url))
        tag = "%d-%d" % (int(time.time()), os.getpid())
        loaded, R["load"] = load_conversations(client, convs, tag)
        for mode in args.modes:
            H.log("locomo: asking %d questions, mode %s" % (R["questions_used"], mode))
            res = run_mode(convs, loaded, mode, args.warmup)
            if "error" in res:
                H.log("locomo: mode %s: %s" % (mode, res["error"]))
                status = 1
            R["server"][mode] = res
        if srv:
            R["server_rss_mb"] = srv.rss_mb()
        client.close()
    except H.SearchMissing as e:
        H.log("locomo: %s" % e)
        R["notes"].append("server search not measured: %s" % e)
        R["modes"] = []
        write_outputs(args, R)
        H.log("locomo: SEARCH ENDPOINT MISSING — only the FTS5 baseline was measured")
        status = 3
    except H.BenchError as e:
        H.log("locomo: %s" % e)
        if srv:
            srv.kill()
        H.log("locomo: work directory kept: %s" % work)
        return 1
    finally:
        if srv:
            try:
                srv.stop()
            except H.BenchError as e:
                H.log("locomo: %s" % e)
    if status != 3:
        write_outputs(args, R)
    if not args.work_dir and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        H.log("locomo: work directory: %s" % work)
    return status


if __name__ == "__main__":
    sys.exit(main())
