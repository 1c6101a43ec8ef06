#!/usr/bin/env python3
"""Splits the store's one operations table into small tables by domain.

`struct pos_store` (src/store/store.h) carries one vtable per domain:

    s->ops       core: close, server keys, server state, summary, compact
    s->accounts  users, sessions, refresh tokens, API tokens, invites
    s->memories  memories, their full-text index, vectors, the graph
    s->chat      conversations and messages
    s->jobs      the job queue
    s->sync      sync sources, logs, external-id references
    s->shares    sharing
    s->keys      encryption at rest: key material, sealing passes
    s->plugins   plugin installs, their key-value data and logs
    s->files     attachments and blobs

This script is the op name -> domain map (DOMAIN below) and the rewrite.
It is idempotent: run it again after merging a branch written against the
old single table (or one that adds ops to `struct pos_store_ops`) and it

  * moves every member of `struct pos_store_ops` that the map gives to a
    domain into that domain's struct in store.h (an op missing from the map
    is reported and left in `pos_store_ops`: add it to DOMAIN and re-run);
  * moves `.name = fn,` entries of every `static const struct
    pos_store_ops X_ops = {...}` backend table into `X_<domain>` tables and
    points the handle at them after the line `....ops = &X_ops;`;
  * rewrites call sites `->ops->NAME` to `->DOMAIN->NAME`, and in the
    encryption layer (src/store/crypt_store.c) `INOPS(s)->NAME(` to
    `INOPS(s)->DOMAIN->NAME(` and `c->ops.NAME =` to `c->DOMAIN.NAME =`.

Made by hand with the first run (not repeated by the script): the
encryption layer's `struct cstore` keeps a copy of the backend's handle
(`orig`) and copies of the tables it overrides (ops, memories, chat,
shares, keys), installed by pos_crypt_store_new; memory/share.c reads
`s->keys`; tests/fuzz/fuzz_http.c builds its fake store from
`fake_memories`. A new backend or wrapper follows sqlite.c and
crypt_store.c.

Usage: python3 scripts/dev/store-split.py [--check]   (from the repo root)
--check only reports what would change (exit 1 if anything would).
"""
import os
import re
import sys
import textwrap

CORE = ["close", "server_key", "state_get", "state_put", "summary", "compact"]
GROUPS = {
    "accounts": """user_by_email user_by_id user_update_profile user_set_login
        user_list token_create token_list token_revoke token_lookup token_touch
        session_create session_check session_revoke refresh_rotate user_delete
        user_register user_counts user_admin_update user_usage user_revoke_all
        invite_create invite_list invite_delete invite_valid""",
    "memories": """memory_insert memory_get memory_list memory_update
        memory_delete memory_stats graph_nodes graph_edges keyword_search
        term_frequency stem_frequency stem_near filter_seqs memories_by_seq
        thread_tail vector_get vectors_load vectors_missing vectors_put max_seq
        memory_count_all memory_series lifecycle_scan tag_touches lifecycle_apply
        memory_merge_move autolink_parent autolink_apply""",
    "chat": "conversation_get conversation_list chat_append messages_list",
    "jobs": """job_put job_claim job_update job_get jobs_requeue job_progress
        job_list job_cancel jobs_queued jobs_prune""",
    "sync": """sync_source_put sync_source_get sync_source_list
        sync_source_delete sync_log_add sync_log_list sync_refs_lookup
        sync_refs_list""",
    "shares": "share_add share_remove shared_get shared_list shared_search",
    "keys": """crypt_get crypt_put refresh_wrap_get refresh_wrap_put
        refresh_wraps_sweep crypt_progress crypt_plain_batch crypt_seal_rows
        crypt_vectors_load crypt_vector_raw index_terms user_term_frequency
        crypt_thread_tail data_unlocked""",
    "plugins": """plugin_put plugin_get plugin_list plugin_delete plugin_outcome
        plugin_kv_get plugin_kv_put plugin_log_add plugin_log_list""",
    "files": """attachment_insert attachment_get attachment_list attachment_delete
        attachment_set_text blob_orphans blob_forget""",
}
DOC = {
    "accounts": "accounts and their credentials: users, sessions and refresh tokens, personal API tokens, invites (sqlite_accounts.c, sqlite.c)",
    "memories": "memories, their full-text index and vectors, relationships and the graph (sqlite_memories.c, sqlite_search.c, sqlite_graph.c)",
    "chat": "the assistant's conversations and messages (sqlite_chat.c)",
    "jobs": "the persistent job queue",
    "sync": "sync sources, their run logs and external-id references (sqlite_sync.c)",
    "shares": "sharing memories with other accounts (sqlite_shares.c; docs/SECURITY.md)",
    "keys": "encryption at rest: key material, refresh-token key wraps, the sealing pass (sqlite_crypt.c; docs/ENCRYPTION.md)",
    "plugins": "plugins: a user's installs, their key-value data and logs (sqlite_plugins.c; docs/PLUGINS.md)",
    "files": "attachments and the blobs they refer to (sqlite_files.c; docs/FILES.md)",
}
ORDER = ["accounts", "memories", "chat", "jobs", "sync", "shares", "keys", "plugins", "files"]
DOMAIN = {op: "ops" for op in CORE}
for d, names in GROUPS.items():
    for op in names.split():
        DOMAIN[op] = d

ROOT = os.getcwd()
STORE_H = "src/store/store.h"
CRYPT_C = "src/store/crypt_store.c"
changed = []
unknown = set()


def write(path, old, new):
    if old != new:
        changed.append(path)
        if "--check" not in sys.argv:
            with open(path, "w") as f:
                f.write(new)


def struct_body(s, name):
    """(start of body, end of body) of `struct NAME {` ... `};`, or None."""
    m = re.search(r"^struct %s \{\n" % re.escape(name), s, re.M)
    if not m:
        return None
    end = s.index("\n};\n", m.end())
    return m.end(), end + 1


MEMBER = re.compile(r"^\t[a-z][a-z_ ]*\*?\s*\(\*(\w+)\)\(")


def split_members(body):
    """[(name or None, text)]: each member with the comments above it."""
    lines = body.splitlines(keepends=True)
    out, pending, i = [], [], 0
    while i < len(lines):
        m = MEMBER.match(lines[i])
        if not m:
            pending.append(lines[i])
            i += 1
            continue
        text = pending
        pending = []
        depth = 0
        while True:
            text.append(lines[i])
            depth += lines[i].count("(") - lines[i].count(")")
            i += 1
            if depth <= 0 and text[-1].rstrip().endswith(";"):
                break
        out.append((m.group(1), "".join(text)))
    if pending:
        out.append((None, "".join(pending)))
    return out


def split_header():
    path = os.path.join(ROOT, STORE_H)
    s = open(path).read()
    old = s
    start, end = struct_body(s, "pos_store_ops")
    keep, moved = [], {d: [] for d in ORDER}
    for name, text in split_members(s[start:end]):
        d = DOMAIN.get(name, "ops") if name else "ops"
        if name and name not in DOMAIN:
            unknown.add(name)
        if d == "ops":
            keep.append(text)
        else:
            # a section banner above a moved member stays behind
            moved[d].append(re.sub(r"^\t/\* ---- [^\n]*---- \*/\n", "", text, flags=re.M))
    s = s[:start] + "".join(keep) + s[end:]
    for d in ORDER:
        if not moved[d]:
            continue
        sname = "pos_store_" + d
        span = struct_body(s, sname)
        if span:
            s = s[:span[1]] + "".join(moved[d]) + s[span[1]:]
        else:
            at = re.search(r"^struct pos_store_ops \{", s, re.M).start()
            doc = textwrap.fill("Store operations: %s." % DOC[d], 72,
                                initial_indent=" * ", subsequent_indent=" * ")
            body = "".join(moved[d]).lstrip("\n")
            block = "/*\n%s\n */\nstruct %s {\n%s};\n\n" % (doc, sname, body)
            s = s[:at] + block + s[at:]
    # the handle: one pointer per domain
    span = struct_body(s, "pos_store")
    body = s[span[0]:span[1]]
    add = ""
    for d in ORDER:
        if re.search(r"^struct pos_store_%s \{" % d, s, re.M) and \
                not re.search(r"\*%s;" % d, body):
            add += "\tconst struct pos_store_%s *%s;\n" % (d, d)
    if add:
        body = body.replace("\tconst struct pos_store_ops *ops;\n",
                            "\tconst struct pos_store_ops *ops;\n" + add)
        s = s[:span[0]] + body + s[span[1]:]
    write(path, old, s)


def split_backends(path):
    s = open(path).read()
    old = s
    for m in list(re.finditer(r"^static const struct pos_store_ops (\w+)_ops = \{\n(.*?)^\};\n",
                              s, re.M | re.S)):
        prefix = m.group(1)
        keep, moved = [], {d: [] for d in ORDER}
        for line in m.group(2).splitlines(keepends=True):
            e = re.match(r"\t\.(\w+) = ", line)
            d = DOMAIN.get(e.group(1), "ops") if e else "ops"
            if e and e.group(1) not in DOMAIN:
                unknown.add(e.group(1))
            (keep if d == "ops" else moved[d]).append(line)
        # comments that only labelled moved entries go
        keep = [l for l in keep if not re.match(r"\t/\*.*\*/\n$", l)]
        table = "static const struct pos_store_ops %s_ops = {\n%s};\n" % (prefix, "".join(keep))
        extra = ""
        for d in ORDER:
            if not moved[d]:
                continue
            name = "%s_%s" % (prefix, d)
            t = re.search(r"^static const struct pos_store_%s %s = \{\n(.*?)^\};\n" % (d, name),
                          s, re.M | re.S)
            if t:
                s = s[:t.end() - 3] + "".join(moved[d]) + s[t.end() - 3:]
            else:
                extra += "\nstatic const struct pos_store_%s %s = {\n%s};\n" % (
                    d, name, "".join(moved[d]))
            assign = re.search(r"^(\s*)([\w.>-]+)ops = &%s_ops;\n" % prefix, s, re.M)
            if assign and not re.search(r"%s%s = &%s;" % (re.escape(assign.group(2)), d, name), s):
                line = "%s%s%s = &%s;\n" % (assign.group(1), assign.group(2), d, name)
                at = assign.end()
                # after the domain tables already pointed at, in ORDER
                nxt = re.compile(r"\s*%s\w+ = &%s_\w+;\n" % (re.escape(assign.group(2)), prefix))
                while nxt.match(s, at):
                    at = nxt.match(s, at).end()
                s = s[:at] + line + s[at:]
        m2 = re.search(r"^static const struct pos_store_ops %s_ops = \{\n.*?^\};\n" % prefix,
                       s, re.M | re.S)
        s = s[:m2.start()] + table + extra + s[m2.end():]
    write(path, old, s)


def rewrite_calls(path):
    s = open(path).read()
    old = s

    def sub(m):
        name = m.group(2)
        if name not in DOMAIN:
            return m.group(0)
        return "%s%s->%s" % (m.group(1), DOMAIN[name], name)
    s = re.sub(r"(->)ops->(\w+)\b", sub, s)
    if path.endswith(CRYPT_C):
        s = re.sub(r"INOPS\(([^()]+)\)->(\w+)\(",
                   lambda m: "INOPS(%s)->%s->%s(" % (m.group(1), DOMAIN.get(m.group(2), "ops"),
                                                   m.group(2))
                   if m.group(2) in DOMAIN else m.group(0), s)
        s = re.sub(r"c->ops\.(\w+) = ",
                   lambda m: "c->%s.%s = " % (DOMAIN.get(m.group(1), "ops"), m.group(1)), s)
    write(path, old, s)


def sources():
    for top in ("src", "tests", "bench", "tools"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, top)):
            for f in files:
                if f.endswith((".c", ".h")):
                    yield os.path.join(dirpath, f)


def main():
    if not os.path.exists(os.path.join(ROOT, STORE_H)):
        sys.exit("run from the repository root")
    split_header()
    for p in sources():
        if not p.endswith(STORE_H):
            split_backends(p)
            rewrite_calls(p)
    for p in sorted(set(changed)):
        print(("would change " if "--check" in sys.argv else "changed ") + os.path.relpath(p, ROOT))
    if unknown:
        print("ops missing from the map (left in pos_store_ops): " + " ".join(sorted(unknown)),
              file=sys.stderr)
    if "--check" in sys.argv and changed:
        sys.exit(1)


main()
