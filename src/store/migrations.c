/*
 * migrations.c — the schema of PersonalOS as a list of numbered steps.
 * Timestamps are integer microseconds since the epoch (UTC).
 */
#include "store/migrations.h"

static const char m1_core[] =
	"CREATE TABLE users ("
	" id TEXT PRIMARY KEY,"
	" email TEXT NOT NULL UNIQUE,"
	" password_hash TEXT NOT NULL,"
	" full_name TEXT,"
	" avatar_url TEXT,"
	" privacy_tier TEXT NOT NULL DEFAULT 'local',"
	" plan TEXT NOT NULL DEFAULT 'free',"
	" persona TEXT NOT NULL DEFAULT '{}',"
	" settings TEXT NOT NULL DEFAULT '{}',"
	" memory_count INTEGER NOT NULL DEFAULT 0,"
	" created_at INTEGER NOT NULL,"
	" last_login_at INTEGER);"
	"CREATE TABLE server_keys ("
	" name TEXT PRIMARY KEY,"
	" value BLOB NOT NULL,"
	" created_at INTEGER NOT NULL);"
	"CREATE TABLE sessions ("
	" id TEXT PRIMARY KEY,"
	" user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	" created_at INTEGER NOT NULL,"
	" revoked_at INTEGER);"
	"CREATE INDEX sessions_user ON sessions(user_id);"
	"CREATE TABLE refresh_tokens ("
	" hash BLOB PRIMARY KEY,"
	" session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,"
	" created_at INTEGER NOT NULL,"
	" expires_at INTEGER NOT NULL,"
	" used_at INTEGER) WITHOUT ROWID;"
	"CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);"
	"CREATE TABLE memories ("
	" seq INTEGER PRIMARY KEY,"
	" id TEXT NOT NULL UNIQUE,"
	" user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	" content TEXT NOT NULL,"
	" type TEXT NOT NULL,"
	" layer TEXT NOT NULL,"
	" source TEXT NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" updated_at INTEGER NOT NULL,"
	" last_accessed_at INTEGER,"
	" parent_memory_id TEXT,"
	" tags TEXT NOT NULL DEFAULT '[]',"
	" importance_score REAL NOT NULL DEFAULT 0.5,"
	" access_count INTEGER NOT NULL DEFAULT 0,"
	" is_encrypted INTEGER NOT NULL DEFAULT 0,"
	" shared_with TEXT NOT NULL DEFAULT '[]',"
	" metadata TEXT NOT NULL DEFAULT '{}',"
	" attachments TEXT NOT NULL DEFAULT '[]',"
	" external_id TEXT,"
	" content_hash BLOB);"
	"CREATE INDEX memories_user_created ON memories(user_id, created_at);"
	"CREATE TABLE memory_relationships ("
	" memory_id TEXT NOT NULL,"
	" related_memory_id TEXT NOT NULL,"
	" relationship_type TEXT NOT NULL,"
	" strength REAL NOT NULL DEFAULT 1.0,"
	" created_at INTEGER NOT NULL,"
	" PRIMARY KEY (memory_id, related_memory_id, relationship_type))"
	" WITHOUT ROWID;"
	"CREATE INDEX memory_relationships_related"
	" ON memory_relationships(related_memory_id);";

/*
 * Version 2: tags get an index table so `?tag=` is a lookup instead of a
 * scan of every memory's JSON, filled from the JSON column of existing rows;
 * parent lookups get an index; synced items get their dedupe key.
 */
static const char m2_tags[] =
	"CREATE TABLE memory_tags ("
	" user_id TEXT NOT NULL,"
	" tag TEXT NOT NULL,"
	" memory_seq INTEGER NOT NULL REFERENCES memories(seq) ON DELETE CASCADE,"
	" PRIMARY KEY (user_id, tag, memory_seq)) WITHOUT ROWID;"
	"CREATE INDEX memory_tags_seq ON memory_tags(memory_seq);"
	"INSERT OR IGNORE INTO memory_tags(user_id, tag, memory_seq)"
	" SELECT m.user_id, j.value, m.seq FROM memories m, json_each(m.tags) j"
	" WHERE j.type = 'text';"
	"CREATE INDEX memories_parent ON memories(parent_memory_id)"
	" WHERE parent_memory_id IS NOT NULL;"
	"CREATE UNIQUE INDEX memories_external ON memories(user_id, source, external_id)"
	" WHERE external_id IS NOT NULL;";

/*
 * Version 3: search. An FTS5 index over content and tags that reads its
 * text from `memories` (external content, no second copy), kept in step by
 * triggers inside the writing transaction; and one quantized embedding per
 * memory, tagged with the model that made it.
 */
static const char m3_search[] =
	"CREATE VIRTUAL TABLE memories_fts USING fts5("
	" content, tags, content='memories', content_rowid='seq',"
	" tokenize='porter unicode61 remove_diacritics 2');"
	"CREATE TRIGGER memories_fts_ai AFTER INSERT ON memories BEGIN"
	" INSERT INTO memories_fts(rowid, content, tags) VALUES (new.seq, new.content, new.tags);"
	" END;"
	"CREATE TRIGGER memories_fts_ad AFTER DELETE ON memories BEGIN"
	" INSERT INTO memories_fts(memories_fts, rowid, content, tags)"
	" VALUES ('delete', old.seq, old.content, old.tags);"
	" END;"
	"CREATE TRIGGER memories_fts_au AFTER UPDATE OF content, tags ON memories BEGIN"
	" INSERT INTO memories_fts(memories_fts, rowid, content, tags)"
	" VALUES ('delete', old.seq, old.content, old.tags);"
	" INSERT INTO memories_fts(rowid, content, tags) VALUES (new.seq, new.content, new.tags);"
	" END;"
	"INSERT INTO memories_fts(memories_fts) VALUES ('rebuild');"
	"CREATE TABLE memory_vectors ("
	" memory_seq INTEGER PRIMARY KEY REFERENCES memories(seq) ON DELETE CASCADE,"
	" user_id TEXT NOT NULL,"
	" model TEXT NOT NULL,"
	" dim INTEGER NOT NULL,"
	" scale REAL NOT NULL,"
	" vec BLOB NOT NULL);"
	"CREATE INDEX memory_vectors_user ON memory_vectors(user_id, model);";

/*
 * Version 4: thread context. A memory that belongs to a thread (its
 * metadata names a thread, conversation or session) carries the text of the
 * memories just before it in that thread; the full-text index gets it as a
 * third, down-weighted column. Replies like "Yes, we did it yesterday!" are
 * then findable by what they answer. Existing rows are filled in place.
 */
static const char m4_context[] =
	"ALTER TABLE memories ADD COLUMN thread TEXT;"
	"ALTER TABLE memories ADD COLUMN context TEXT;"
	"UPDATE memories SET thread = CAST(coalesce(json_extract(metadata, '$.thread'),"
	" json_extract(metadata, '$.thread_id'), json_extract(metadata, '$.conversation_id'),"
	" json_extract(metadata, '$.session')) AS TEXT)"
	" WHERE json_valid(metadata);"
	"CREATE INDEX memories_thread ON memories(user_id, thread, seq) WHERE thread IS NOT NULL;"
	"UPDATE memories SET context = (SELECT group_concat(content, ' ') FROM"
	" (SELECT p.content FROM memories p WHERE p.user_id = memories.user_id"
	"  AND p.thread = memories.thread AND p.seq < memories.seq ORDER BY p.seq DESC LIMIT 2))"
	" WHERE thread IS NOT NULL;"
	"DROP TRIGGER memories_fts_ai;"
	"DROP TRIGGER memories_fts_ad;"
	"DROP TRIGGER memories_fts_au;"
	"DROP TABLE memories_fts;"
	"CREATE VIRTUAL TABLE memories_fts USING fts5("
	" content, tags, context, content='memories', content_rowid='seq',"
	" tokenize='porter unicode61 remove_diacritics 2');"
	"CREATE TRIGGER memories_fts_ai AFTER INSERT ON memories BEGIN"
	" INSERT INTO memories_fts(rowid, content, tags, context)"
	" VALUES (new.seq, new.content, new.tags, new.context);"
	" END;"
	"CREATE TRIGGER memories_fts_ad AFTER DELETE ON memories BEGIN"
	" INSERT INTO memories_fts(memories_fts, rowid, content, tags, context)"
	" VALUES ('delete', old.seq, old.content, old.tags, old.context);"
	" END;"
	"CREATE TRIGGER memories_fts_au AFTER UPDATE OF content, tags, context ON memories BEGIN"
	" INSERT INTO memories_fts(memories_fts, rowid, content, tags, context)"
	" VALUES ('delete', old.seq, old.content, old.tags, old.context);"
	" INSERT INTO memories_fts(rowid, content, tags, context)"
	" VALUES (new.seq, new.content, new.tags, new.context);"
	" END;"
	"INSERT INTO memories_fts(memories_fts) VALUES ('rebuild');";

/*
 * Version 5: a read-only vocabulary view of the full-text index (document
 * frequency per stemmed term), used to prune very common words from
 * keyword queries. It stores nothing of its own.
 */
static const char m5_vocab[] =
	"CREATE VIRTUAL TABLE memories_fts_vocab USING fts5vocab(memories_fts, 'row');";

/*
 * Version 6: small persistent server state (name → text), e.g. how far the
 * embedding worker has checked the memories for the current model, so a
 * restart does not rescan the whole table.
 */
static const char m6_state[] =
	"CREATE TABLE server_state (name TEXT PRIMARY KEY, value TEXT NOT NULL,"
	" updated_at INTEGER NOT NULL);";

/* Version 7: personal API tokens, stored as BLAKE2b hashes. */
static const char m7_api_tokens[] =
	"CREATE TABLE api_tokens ("
	" id TEXT PRIMARY KEY,"
	" user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	" name TEXT NOT NULL,"
	" scope TEXT NOT NULL,"
	" hash BLOB NOT NULL UNIQUE,"
	" created_at INTEGER NOT NULL,"
	" last_used_at INTEGER,"
	" revoked_at INTEGER);"
	"CREATE INDEX api_tokens_user ON api_tokens(user_id);";

/*
 * Version 8: the assistant. Conversations and their messages; background
 * jobs (memorize, MemU calls) that survive restarts and retry with backoff.
 */
static const char m8_assistant[] =
	"CREATE TABLE conversations ("
	" id TEXT PRIMARY KEY,"
	" user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	" title TEXT NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" updated_at INTEGER NOT NULL,"
	" message_count INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX conversations_user ON conversations(user_id, updated_at);"
	"CREATE TABLE messages ("
	" seq INTEGER PRIMARY KEY,"
	" id TEXT NOT NULL UNIQUE,"
	" conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,"
	" user_id TEXT NOT NULL,"
	" role TEXT NOT NULL,"
	" content TEXT NOT NULL,"
	" memories_used TEXT NOT NULL DEFAULT '[]',"
	" memory_id TEXT,"
	" created_at INTEGER NOT NULL);"
	"CREATE INDEX messages_conversation ON messages(conversation_id, seq);"
	/* no foreign key: a MemU delete job outlives the deleted account */
	"CREATE TABLE jobs ("
	" id TEXT PRIMARY KEY,"
	" user_id TEXT NOT NULL,"
	" kind TEXT NOT NULL,"
	" payload TEXT NOT NULL,"
	" state TEXT NOT NULL,"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" last_error TEXT,"
	" result TEXT,"
	" next_run_at INTEGER NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" updated_at INTEGER NOT NULL);"
	"CREATE INDEX jobs_due ON jobs(state, next_run_at);"
	"CREATE INDEX jobs_user ON jobs(user_id);";

/*
 * Version 9 (sync, src/sync): configured sources (config JSON without
 * secrets; secrets sealed with a server key), one log row per run, and
 * memories that know the source that made them, so an external id is
 * unique per user AND source (the index of version 2 was per user and
 * source *name*). `sync_version` is the item's version at the last upsert
 * (ETag, hash): an upsert with the same version changes nothing.
 */
static const char m9_sync[] =
	"CREATE TABLE sync_sources ("
	" id TEXT PRIMARY KEY,"
	" user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	" kind TEXT NOT NULL,"
	" name TEXT NOT NULL,"
	" config TEXT NOT NULL DEFAULT '{}',"
	" secrets BLOB,"
	" interval_s INTEGER NOT NULL,"
	" status TEXT NOT NULL DEFAULT 'idle',"
	" cursor TEXT,"
	" last_sync_at INTEGER,"
	" next_sync_at INTEGER,"
	" items_synced INTEGER NOT NULL DEFAULT 0,"
	" error_message TEXT,"
	" failures INTEGER NOT NULL DEFAULT 0,"
	" created_at INTEGER NOT NULL);"
	"CREATE INDEX sync_sources_user ON sync_sources(user_id, created_at);"
	"CREATE TABLE sync_logs ("
	" id TEXT PRIMARY KEY,"
	" source_id TEXT NOT NULL,"
	" user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	" started_at INTEGER NOT NULL,"
	" duration_us INTEGER NOT NULL,"
	" status TEXT NOT NULL,"
	" added INTEGER NOT NULL DEFAULT 0,"
	" updated INTEGER NOT NULL DEFAULT 0,"
	" unchanged INTEGER NOT NULL DEFAULT 0,"
	" removed INTEGER NOT NULL DEFAULT 0,"
	" skipped INTEGER NOT NULL DEFAULT 0,"
	" errors TEXT NOT NULL DEFAULT '[]',"
	" error_message TEXT);"
	"CREATE INDEX sync_logs_source ON sync_logs(source_id, started_at);"
	"ALTER TABLE memories ADD COLUMN source_id TEXT;"
	"ALTER TABLE memories ADD COLUMN sync_version TEXT;"
	"DROP INDEX memories_external;"
	"CREATE UNIQUE INDEX memories_external ON memories(user_id, ifnull(source_id, ''),"
	" external_id, source) WHERE external_id IS NOT NULL;"
	"CREATE INDEX memories_source_id ON memories(source_id) WHERE source_id IS NOT NULL;";

/*
 * Version 10 (encryption at rest, docs/ENCRYPTION.md): per-user key
 * material (Argon2id salt and parameters, the data key wrapped under the
 * password and under the recovery key), the sealed row of an encrypted
 * memory, and the data key wrapped for each refresh token (dropped when
 * the token's session is revoked).
 */
static const char m10_crypt[] =
	"ALTER TABLE users ADD COLUMN enc_state TEXT NOT NULL DEFAULT 'off';"
	"ALTER TABLE users ADD COLUMN enc_salt BLOB;"
	"ALTER TABLE users ADD COLUMN enc_kdf TEXT;"
	"ALTER TABLE users ADD COLUMN enc_pw_wrap BLOB;"
	"ALTER TABLE users ADD COLUMN enc_rk_wrap BLOB;"
	"ALTER TABLE memories ADD COLUMN sealed BLOB;"
	"ALTER TABLE refresh_tokens ADD COLUMN dek_wrap BLOB;"
	/* A revoked session's tokens (logout, reuse of a used token) must not
	 * keep a key wrap that their secret would still open. */
	"CREATE TRIGGER refresh_tokens_unwrap AFTER UPDATE OF revoked_at ON sessions"
	" WHEN new.revoked_at IS NOT NULL BEGIN"
	" UPDATE refresh_tokens SET dek_wrap = NULL WHERE session_id = new.id"
	" AND dek_wrap IS NOT NULL;"
	" END;";

/*
 * Version 11: sharing. One row per (memory, recipient), looked up
 * by recipient for "shared with me"; memories.shared_with (the emails, in
 * the memory JSON) is derived from it by the store on every change. Shares
 * already written into the JSON column by older data are carried over for
 * emails that belong to a user; the column is then re-derived.
 */
static const char m11_shares[] =
	"CREATE TABLE memory_shares ("
	" memory_seq INTEGER NOT NULL REFERENCES memories(seq) ON DELETE CASCADE,"
	" recipient_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	" owner_id TEXT NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" PRIMARY KEY (memory_seq, recipient_id)) WITHOUT ROWID;"
	"CREATE INDEX memory_shares_recipient ON memory_shares(recipient_id, memory_seq);"
	"INSERT OR IGNORE INTO memory_shares(memory_seq, recipient_id, owner_id, created_at)"
	" SELECT m.seq, u.id, m.user_id, m.updated_at FROM memories m, json_each(m.shared_with) j"
	" JOIN users u ON u.email = lower(trim(j.value))"
	" WHERE json_valid(m.shared_with) AND j.type = 'text' AND u.id != m.user_id;"
	"UPDATE memories SET shared_with = coalesce((SELECT json_group_array(email) FROM"
	" (SELECT u.email AS email FROM memory_shares s JOIN users u ON u.id = s.recipient_id"
	"  WHERE s.memory_seq = memories.seq ORDER BY u.email)), '[]')"
	" WHERE shared_with != '[]';";

/*
 * Version 12 (accounts): roles, disabled accounts, per-user quota
 * overrides (NULL: the server default), invite codes (stored as a BLAKE2b
 * hash, single use), shares waiting for an account to be registered, and
 * a running byte count per user kept by triggers. An instance that already
 * has users makes its oldest account the admin.
 */
static const char m12_accounts[] =
	"ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'user';"
	"ALTER TABLE users ADD COLUMN disabled_at INTEGER;"
	"ALTER TABLE users ADD COLUMN quota_memories INTEGER;"
	"ALTER TABLE users ADD COLUMN quota_bytes INTEGER;"
	"ALTER TABLE users ADD COLUMN quota_sources INTEGER;"
	"ALTER TABLE users ADD COLUMN quota_tokens INTEGER;"
	"ALTER TABLE users ADD COLUMN bytes_used INTEGER NOT NULL DEFAULT 0;"
	"UPDATE users SET role = 'admin' WHERE id ="
	" (SELECT id FROM users ORDER BY created_at, id LIMIT 1);"
	"UPDATE users SET bytes_used = (SELECT coalesce(sum(length(CAST(content AS BLOB))"
	" + length(CAST(metadata AS BLOB))), 0) FROM memories WHERE user_id = users.id);"
	"CREATE TRIGGER memories_bytes_insert AFTER INSERT ON memories BEGIN"
	" UPDATE users SET bytes_used = bytes_used + length(CAST(new.content AS BLOB))"
	" + length(CAST(new.metadata AS BLOB)) WHERE id = new.user_id;"
	" END;"
	"CREATE TRIGGER memories_bytes_delete AFTER DELETE ON memories BEGIN"
	" UPDATE users SET bytes_used = bytes_used - length(CAST(old.content AS BLOB))"
	" - length(CAST(old.metadata AS BLOB)) WHERE id = old.user_id;"
	" END;"
	"CREATE TRIGGER memories_bytes_update AFTER UPDATE OF content, metadata ON memories BEGIN"
	" UPDATE users SET bytes_used = bytes_used"
	" - length(CAST(old.content AS BLOB)) - length(CAST(old.metadata AS BLOB))"
	" + length(CAST(new.content AS BLOB)) + length(CAST(new.metadata AS BLOB))"
	" WHERE id = new.user_id;"
	" END;"
	"CREATE TABLE invites ("
	" id TEXT PRIMARY KEY,"
	" hash BLOB NOT NULL UNIQUE,"
	" email TEXT,"
	" created_by TEXT,"
	" created_at INTEGER NOT NULL,"
	" expires_at INTEGER NOT NULL,"
	" used_at INTEGER,"
	" used_by TEXT);"
	"CREATE TABLE pending_shares ("
	" memory_seq INTEGER NOT NULL REFERENCES memories(seq) ON DELETE CASCADE,"
	" email TEXT NOT NULL,"
	" owner_id TEXT NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" PRIMARY KEY (memory_seq, email)) WITHOUT ROWID;"
	"CREATE INDEX pending_shares_email ON pending_shares(email);";

/*
 * Version 13 (jobs, src/jobs): the table of version 8 becomes the jobs
 * service's queue. Progress in units, per-item errors (a JSON array), and
 * the state names of jobs.h: `pending` is now `queued`, and a job can end
 * `cancelled`. `next_run_at` is the job's run_after.
 */
static const char m13_jobs[] =
	"ALTER TABLE jobs ADD COLUMN progress_done INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN progress_total INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN item_errors TEXT;"
	"UPDATE jobs SET state = 'queued' WHERE state = 'pending';"
	"CREATE INDEX jobs_user_created ON jobs(user_id, created_at);";

/*
 * 14: files as memories (issue 21). A blob is a file in DATA/blobs owned by
 * one user (content-addressed, so one row per user and address); its bytes
 * count in users.bytes_used once however many attachments refer to it. An
 * attachment belongs to a memory and goes with it (ON DELETE CASCADE); the
 * blob it leaves unreferenced is collected by the files service.
 */
static const char m14_files[] =
	"CREATE TABLE blobs ("
	" user_id TEXT NOT NULL,"
	" hash TEXT NOT NULL,"
	" bytes INTEGER NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" PRIMARY KEY (user_id, hash)) WITHOUT ROWID;"
	"CREATE TABLE attachments ("
	" id TEXT PRIMARY KEY,"
	" user_id TEXT NOT NULL,"
	" memory_seq INTEGER NOT NULL REFERENCES memories(seq) ON DELETE CASCADE,"
	" hash TEXT NOT NULL,"
	" name TEXT NOT NULL,"
	" mime TEXT NOT NULL,"
	" bytes INTEGER NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" text_status TEXT NOT NULL DEFAULT 'pending',"
	" text_error TEXT,"
	" text_pages INTEGER NOT NULL DEFAULT 0,"
	" sealed INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX attachments_memory ON attachments(memory_seq);"
	"CREATE INDEX attachments_blob ON attachments(user_id, hash);"
	"CREATE TRIGGER blobs_bytes_insert AFTER INSERT ON blobs BEGIN"
	" UPDATE users SET bytes_used = bytes_used + new.bytes WHERE id = new.user_id;"
	" END;"
	"CREATE TRIGGER blobs_bytes_delete AFTER DELETE ON blobs BEGIN"
	" UPDATE users SET bytes_used = bytes_used - old.bytes WHERE id = old.user_id;"
	" END;";

/* Plugins (issue 15, docs/PLUGINS.md): a user's installs, each plugin's
 * key-value data per user, and the lines it logged for that user. */
static const char m15_plugins[] =
	"CREATE TABLE plugins_installed ("
	" user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	" plugin_id TEXT NOT NULL,"
	" version TEXT NOT NULL,"
	" enabled INTEGER NOT NULL DEFAULT 1,"
	" grants TEXT NOT NULL DEFAULT '[]',"
	" settings TEXT NOT NULL DEFAULT '{}',"
	" status TEXT NOT NULL DEFAULT 'ok',"
	" last_error TEXT,"
	" failures INTEGER NOT NULL DEFAULT 0,"
	" installed_at INTEGER NOT NULL,"
	" updated_at INTEGER NOT NULL,"
	" PRIMARY KEY (user_id, plugin_id)) WITHOUT ROWID;"
	"CREATE TABLE plugin_kv ("
	" user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	" plugin_id TEXT NOT NULL,"
	" key TEXT NOT NULL,"
	" value BLOB NOT NULL,"
	" PRIMARY KEY (user_id, plugin_id, key)) WITHOUT ROWID;"
	"CREATE TABLE plugin_logs ("
	" id INTEGER PRIMARY KEY,"
	" user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	" plugin_id TEXT NOT NULL,"
	" at INTEGER NOT NULL,"
	" level TEXT NOT NULL,"
	" message TEXT NOT NULL);"
	"CREATE INDEX plugin_logs_user ON plugin_logs(user_id, plugin_id, id);";

/*
 * Version 16 (lifecycle, docs/LIFECYCLE.md): whether a memory's layer is
 * the user's choice (layer_locked; the layers set before this version
 * were all chosen by clients, so non-active ones are locked), when it
 * entered its layer (layer_since; NULL: at creation), whether its
 * importance is the user's (importance_set; a value other than the old
 * default 0.5 was), whether a relationship was made by auto-linking
 * (auto; a re-link replaces those only), and the audit trail of merges.
 */
static const char m16_lifecycle[] =
	"ALTER TABLE memories ADD COLUMN layer_locked INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE memories ADD COLUMN layer_since INTEGER;"
	"ALTER TABLE memories ADD COLUMN importance_set INTEGER NOT NULL DEFAULT 0;"
	"UPDATE memories SET layer_locked = 1 WHERE layer != 'active';"
	"UPDATE memories SET importance_set = 1 WHERE importance_score != 0.5;"
	"ALTER TABLE memory_relationships ADD COLUMN auto INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE memory_merges ("
	" id TEXT PRIMARY KEY,"
	" user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	" kept_id TEXT NOT NULL,"
	" merged_ids TEXT NOT NULL,"
	" detail TEXT NOT NULL,"
	" created_at INTEGER NOT NULL);"
	"CREATE INDEX memory_merges_user ON memory_merges(user_id, created_at);";

/*
 * The assistant's saved exchanges (type conversation, source chat) of a
 * user, in seq order: a search leaves them out of its vector scan, and
 * finding them must not read every row of the user (issue 20). Partial, so
 * it costs nothing for other memories.
 */
static const char m17_chat_index[] =
	"CREATE INDEX memories_chat ON memories(user_id, seq)"
	" WHERE type = 'conversation' AND source = 'chat';";

/*
 * Version 18 (several instances, issue 18): a running job holds a lease
 * (lease_until, microseconds) that its instance renews while the attempt
 * runs; a job left `running` with an expired lease belongs to a dead
 * instance and is queued again by any other. A job may carry a dedupe key:
 * at most one active (queued or running) job of a kind has that key, so
 * work that must not run twice at once (one sync source) is queued once.
 */
static const char m18_job_leases[] =
	"ALTER TABLE jobs ADD COLUMN lease_until INTEGER;"
	"ALTER TABLE jobs ADD COLUMN dedupe_key TEXT;"
	"CREATE UNIQUE INDEX jobs_dedupe ON jobs(kind, dedupe_key)"
	" WHERE dedupe_key IS NOT NULL AND state IN ('queued', 'running');"
	"CREATE INDEX jobs_lease ON jobs(lease_until) WHERE state = 'running';";

/*
 * 19: an attachment's thumbnail (issue 21, docs/FILES.md) is a blob of its
 * user like the file; blobs referred to as a thumbnail are not collected.
 */
static const char m19_thumbs[] =
	"ALTER TABLE attachments ADD COLUMN thumb TEXT;"
	"CREATE INDEX attachments_thumb ON attachments(user_id, thumb) WHERE thumb IS NOT NULL;";

/*
 * Version 20 (issue 20): a log of the memories whose indexed text changed
 * (inserted, edited, deleted), by seq and user, so the in-memory keyword
 * indexes beside FTS5 (sqlite_kw.c) catch up with every write, whichever
 * statement made it. It keeps about the last 100,000 entries (trimmed
 * every 1,024th); an index that falls further behind is rebuilt.
 */
static const char m20_kw_log[] =
	"CREATE TABLE memories_kw_log (id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" seq INTEGER NOT NULL, user_id TEXT NOT NULL);"
	"CREATE TRIGGER memories_kw_ai AFTER INSERT ON memories BEGIN"
	" INSERT INTO memories_kw_log(seq, user_id) VALUES (new.seq, new.user_id);"
	" END;"
	"CREATE TRIGGER memories_kw_ad AFTER DELETE ON memories BEGIN"
	" INSERT INTO memories_kw_log(seq, user_id) VALUES (old.seq, old.user_id);"
	" END;"
	"CREATE TRIGGER memories_kw_au AFTER UPDATE OF content, tags, context, user_id"
	" ON memories BEGIN"
	" INSERT INTO memories_kw_log(seq, user_id) VALUES (new.seq, new.user_id);"
	" INSERT INTO memories_kw_log(seq, user_id) SELECT old.seq, old.user_id"
	" WHERE old.user_id IS NOT new.user_id;"
	" END;"
	"CREATE TRIGGER memories_kw_trim AFTER INSERT ON memories_kw_log"
	" WHEN new.id % 1024 = 0 BEGIN"
	" DELETE FROM memories_kw_log WHERE id <= new.id - 100000;"
	" END;";

/*
 * Version 21 (issue 16): a user's memories in seq (insertion) order. The
 * lifecycle job pages along it, so its row reads follow the table's own
 * order instead of scattering over it (created_at order): 4–9× fewer
 * page reads once the table outgrows the page cache. The graph, merge and
 * other lookups by a more selective column name their index (INDEXED BY
 * or `+user_id`), so the planner never trades those for this one.
 */
static const char m21_user_seq[] =
	"CREATE INDEX memories_user_seq ON memories(user_id, seq);";

/*
 * Version 22: the full-text index tokenizes with "pos" (store/sqlite_tok.c):
 * words stemmed in their text's language (English exactly as before),
 * CJK runs as bigrams. A tokenizer is fixed when the table is made, so the
 * table is made again and rebuilt from the rows (docs/SEARCH.md,
 * "Languages": the cost at 100k memories).
 */
static const char m22_languages[] =
	"DROP TRIGGER memories_fts_ai;"
	"DROP TRIGGER memories_fts_ad;"
	"DROP TRIGGER memories_fts_au;"
	"DROP TABLE memories_fts;"
	"CREATE VIRTUAL TABLE memories_fts USING fts5("
	" content, tags, context, content='memories', content_rowid='seq',"
	" tokenize='pos');"
	"CREATE TRIGGER memories_fts_ai AFTER INSERT ON memories BEGIN"
	" INSERT INTO memories_fts(rowid, content, tags, context)"
	" VALUES (new.seq, new.content, new.tags, new.context);"
	" END;"
	"CREATE TRIGGER memories_fts_ad AFTER DELETE ON memories BEGIN"
	" INSERT INTO memories_fts(memories_fts, rowid, content, tags, context)"
	" VALUES ('delete', old.seq, old.content, old.tags, old.context);"
	" END;"
	"CREATE TRIGGER memories_fts_au AFTER UPDATE OF content, tags, context ON memories BEGIN"
	" INSERT INTO memories_fts(memories_fts, rowid, content, tags, context)"
	" VALUES ('delete', old.seq, old.content, old.tags, old.context);"
	" INSERT INTO memories_fts(rowid, content, tags, context)"
	" VALUES (new.seq, new.content, new.tags, new.context);"
	" END;"
	"INSERT INTO memories_fts(memories_fts) VALUES ('rebuild');";

/*
 * Version 23: the thumbnail backfill (files.thumbs, docs/FILES.md) finds the
 * attachments whose thumbnail was never tried by this index; a tried one
 * has its blob address or POS_THUMB_NONE ("-").
 */
static const char m23_unthumbed[] =
	"CREATE INDEX attachments_unthumbed ON attachments(user_id, id) WHERE thumb IS NULL;";

const struct pos_migration pos_migrations[] = {
	{1, "core tables", m1_core},
	{2, "tag index, parent index, external ids", m2_tags},
	{3, "full-text index and embeddings", m3_search},
	{4, "thread context", m4_context},
	{5, "full-text vocabulary view", m5_vocab},
	{6, "server state", m6_state},
	{7, "personal API tokens", m7_api_tokens},
	{8, "assistant: conversations, messages, jobs", m8_assistant},
	{9, "sync sources, sync logs, memories per source", m9_sync},
	{10, "encryption at rest", m10_crypt},
	{11, "memory shares", m11_shares},
	{12, "accounts: roles, disabled, quotas, invites, pending shares", m12_accounts},
	{13, "jobs: progress, item errors, cancelled", m13_jobs},
	{14, "files: blobs and attachments", m14_files},
	{15, "plugins: installs, key-value data, logs", m15_plugins},
	{16, "lifecycle: layer lock and age, importance source, auto links, merges", m16_lifecycle},
	{17, "index of the assistant's saved exchanges", m17_chat_index},
	{18, "jobs: leases and dedupe keys", m18_job_leases},
	{19, "files: thumbnails", m19_thumbs},
	{20, "log of changed memories for the keyword indexes", m20_kw_log},
	{21, "memories of a user in seq order (lifecycle scan)", m21_user_seq},
	{22, "full-text index: words in their language, CJK bigrams", m22_languages},
	{23, "files: index of attachments without a thumbnail", m23_unthumbed},
};

const size_t pos_migrations_count = sizeof(pos_migrations) / sizeof(pos_migrations[0]);
