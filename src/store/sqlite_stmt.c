/*
 * sqlite_stmt.c — the SQL text of the SQLite store's cached statements,
 * indexed by enum sq_stmt (sqlite_internal.h). sqlite.c prepares each on a
 * connection's first use of it; the domain files run them.
 */
#include "store/sqlite_internal.h"

#define USER_COLS                                                          \
	"id, email, password_hash, full_name, avatar_url, privacy_tier, plan," \
	" persona, settings, memory_count, created_at, last_login_at"

/* USER_COLS and the account columns of migration 12, for reads */
#define USER_READ_COLS                                                     \
	USER_COLS ", role, disabled_at, quota_memories, quota_bytes,"        \
	" quota_sources, quota_tokens, bytes_used"

#define MEM_COLS                                                             \
	"id, user_id, content, type, layer, source, created_at, updated_at,"   \
	" last_accessed_at, parent_memory_id, tags, importance_score,"         \
	" access_count, is_encrypted, shared_with, metadata, attachments,"     \
	" external_id"

/* Columns read by read_att (sqlite_files.c) and read_row (sqlite_plugins.c). */
#define ATT_COLS                                                                   \
	"a.id, a.user_id, m.id, a.hash, a.name, a.mime, a.bytes, a.created_at,"    \
	" a.text_status, a.text_error, a.text_pages, a.sealed, a.thumb"
#define PLUGIN_COLS                                                            \
	"user_id, plugin_id, version, enabled, grants, settings, status,"       \
	" last_error, failures, installed_at, updated_at"

const char *const sq_stmt_sql[ST__COUNT] = {
	[ST_TOKEN_INSERT] = "INSERT INTO api_tokens(id, user_id, name, scope, hash, created_at)"
			    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_TOKEN_LIST] = "SELECT id, user_id, name, scope, created_at, last_used_at FROM api_tokens"
			  " WHERE user_id = ?1 AND revoked_at IS NULL ORDER BY created_at DESC, id",
	[ST_TOKEN_REVOKE] = "UPDATE api_tokens SET revoked_at = ?3"
			    " WHERE id = ?1 AND user_id = ?2 AND revoked_at IS NULL",
	/* a disabled account's tokens do not work (accounts) */
	[ST_TOKEN_LOOKUP] = "SELECT t.id, t.user_id, t.name, t.scope, t.created_at, t.last_used_at"
			    " FROM api_tokens t JOIN users u ON u.id = t.user_id"
			    " WHERE t.hash = ?1 AND t.revoked_at IS NULL AND u.disabled_at IS NULL",
	[ST_TOKEN_TOUCH] = "UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1",
	[ST_STATE_GET] = "SELECT value FROM server_state WHERE name = ?1",
	[ST_STATE_PUT] = "INSERT INTO server_state(name, value, updated_at) VALUES (?1, ?2, ?3)"
			 " ON CONFLICT(name) DO UPDATE SET value = excluded.value,"
			 " updated_at = excluded.updated_at",
	[ST_USER_BY_EMAIL] = "SELECT " USER_READ_COLS " FROM users WHERE email = ?1",
	[ST_USER_BY_ID] = "SELECT " USER_READ_COLS " FROM users WHERE id = ?1",
	[ST_USER_UPDATE] = "UPDATE users SET full_name = ?2, avatar_url = ?3, privacy_tier = ?4,"
			   " persona = ?5, settings = ?6 WHERE id = ?1",
	[ST_USER_LOGIN] = "UPDATE users SET last_login_at = ?2 WHERE id = ?1",
	[ST_USER_LIST] = "SELECT " USER_READ_COLS " FROM users ORDER BY created_at, id",
	[ST_USER_COUNT_ADD] = "UPDATE users SET memory_count = memory_count + ?2 WHERE id = ?1",
	[ST_SESSION_INSERT] = "INSERT INTO sessions(id, user_id, created_at) VALUES (?1, ?2, ?3)",
	[ST_SESSION_GET] = "SELECT s.user_id, coalesce(s.revoked_at, u.disabled_at)"
			   " FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ?1",
	[ST_SESSION_REVOKE] = "UPDATE sessions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
	[ST_REFRESH_INSERT] = "INSERT INTO refresh_tokens(hash, session_id, created_at, expires_at)"
			      " VALUES (?1, ?2, ?3, ?4)",
	[ST_REFRESH_GET] = "SELECT r.session_id, r.expires_at, r.used_at, s.user_id,"
			   " coalesce(s.revoked_at, (SELECT disabled_at FROM users WHERE id = s.user_id))"
			   " FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id"
			   " WHERE r.hash = ?1",
	[ST_REFRESH_USE] = "UPDATE refresh_tokens SET used_at = ?2 WHERE hash = ?1",
	[ST_MEM_OWNED] = "SELECT seq FROM memories WHERE id = ?1 AND user_id = ?2",
	[ST_MEM_INSERT] = "INSERT INTO memories(" MEM_COLS ", thread, context, sealed, source_id,"
			  " sync_version, layer_locked, importance_set) VALUES (?1,?2,?3,?4,?5,?6,?7,"
			  "?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24,?25)",
	[ST_FTS_TOP] = "SELECT rowid, bm25(memories_fts, 1.0, 1.0, 0.4) AS s FROM memories_fts"
		       " WHERE memories_fts MATCH ?1 ORDER BY s LIMIT ?2",
	/* the partial index of migration 17: only the user's chat rows */
	[ST_CHAT_SEQS] = "SELECT seq FROM memories INDEXED BY memories_chat"
			 " WHERE user_id = ?1 AND type = 'conversation' AND source = 'chat'"
			 " ORDER BY seq LIMIT ?2",
	[ST_VOCAB_DF] = "SELECT doc FROM memories_fts_vocab WHERE term = ?1",
	[ST_VOCAB_RANGE] = "SELECT term FROM memories_fts_vocab WHERE term >= ?1 AND term < ?2"
			   " LIMIT ?3",
	[ST_THREAD_TAIL] = "SELECT content FROM memories WHERE user_id = ?1 AND thread = ?2"
			   " ORDER BY seq DESC LIMIT ?3",
	[ST_MEM_GET] = "SELECT " SQ_MEM_COLS " FROM memories m WHERE m.id = ?1 AND m.user_id = ?2",
	/* CROSS JOIN fixes the order: each seq by primary key, never a scan
	 * of the user's rows (the planner has no statistics to know) */
	/* memory_insert's batches (sqlite_memories.c): what the three AFTER
	 * INSERT triggers on memories do per row, once per batch of seqs ?1 */
	[ST_BULK_FTS] = "INSERT INTO memories_fts(rowid, content, tags, context)"
			" SELECT m.seq, m.content, m.tags, m.context FROM json_each(?1) j"
			" CROSS JOIN memories m ON m.seq = j.value",
	[ST_BULK_BYTES] = "UPDATE users SET bytes_used = bytes_used + (SELECT"
			  " coalesce(sum(length(CAST(m.content AS BLOB)) + length(CAST(m.metadata AS BLOB))), 0)"
			  " FROM json_each(?1) j CROSS JOIN memories m ON m.seq = j.value) WHERE id = ?2",
	[ST_BULK_KW] = "INSERT INTO memories_kw_log(seq, user_id) SELECT m.seq, m.user_id"
		       " FROM json_each(?1) j CROSS JOIN memories m ON m.seq = j.value ORDER BY m.seq",
	[ST_REL_FROM] = "SELECT r.memory_id, r.related_memory_id, r.relationship_type, r.strength"
			" FROM json_each(?2) j CROSS JOIN memories m ON m.seq = j.value"
			" CROSS JOIN memory_relationships r ON r.memory_id = m.id"
			" WHERE m.user_id = ?1 LIMIT ?3",
	[ST_MEM_TAG_INSERT] = "INSERT OR IGNORE INTO memory_tags(user_id, tag, memory_seq) VALUES (?1, ?2, ?3)",
	[ST_MEM_TAG_CLEAR] = "DELETE FROM memory_tags WHERE memory_seq = ?1",
	[ST_REL_INSERT] = "INSERT OR IGNORE INTO memory_relationships"
			  "(memory_id, related_memory_id, relationship_type, strength, created_at)"
			  " VALUES (?1, ?2, ?3, ?4, ?5)",
	[ST_REL_CLEAR_FROM] = "DELETE FROM memory_relationships WHERE memory_id = ?1 AND (?2 IS NULL OR relationship_type = ?2)",
	[ST_REL_CLEAR_TO] = "DELETE FROM memory_relationships WHERE related_memory_id = ?1 AND (?2 IS NULL OR relationship_type = ?2)",
	[ST_MEM_ORPHAN_CHILDREN] = "UPDATE memories SET parent_memory_id = NULL WHERE parent_memory_id = ?1",
	[ST_MEM_DELETE] = "DELETE FROM memories WHERE seq = ?1",
	[ST_MEM_COUNT_ALL] = "SELECT coalesce(sum(memory_count), 0) FROM users",
	[ST_VEC_PUT] = "INSERT OR REPLACE INTO memory_vectors(memory_seq, user_id, model, dim, scale, vec)"
		       " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_VEC_DELETE] = "DELETE FROM memory_vectors WHERE memory_seq = ?1",
	[ST_VEC_GET] = "SELECT v.model, v.dim, v.scale, v.vec FROM memory_vectors v"
		       " JOIN memories m ON m.seq = v.memory_seq"
		       " WHERE v.memory_seq = ?1 AND m.user_id = ?2",
	[ST_MEM_SEQ_EXISTS] = "SELECT 1 FROM memories WHERE seq = ?1 AND updated_at = ?2",
	[ST_MAX_SEQ] = "SELECT coalesce(max(seq), 0) FROM memories",
	/* auto-linking (sqlite_lifecycle.c): the memory before it in its
	 * thread (index memories_thread), else the first of its event series */
	[ST_AL_PARENT_THREAD] =
		"SELECT p.id FROM memories m JOIN memories p ON p.user_id = m.user_id"
		" AND p.thread = m.thread AND p.seq != m.seq"
		" AND (p.created_at < m.created_at OR (p.created_at = m.created_at AND p.seq < m.seq))"
		" WHERE m.seq = ?1 AND m.user_id = ?2 AND m.thread IS NOT NULL"
		" ORDER BY p.created_at DESC, p.seq DESC LIMIT 1",
	[ST_AL_PARENT_SERIES] =
		"SELECT p.id FROM memories m JOIN memories p ON p.user_id = m.user_id"
		" AND p.type = 'event' AND p.seq != m.seq AND json_valid(p.metadata)"
		" AND json_extract(p.metadata, '$.event_id') = json_extract(m.metadata, '$.event_id')"
		" AND (p.created_at < m.created_at OR (p.created_at = m.created_at AND p.seq < m.seq))"
		" WHERE m.seq = ?1 AND m.user_id = ?2 AND m.type = 'event' AND json_valid(m.metadata)"
		" AND json_extract(m.metadata, '$.event_id') IS NOT NULL"
		" ORDER BY p.created_at, p.seq LIMIT 1",
	[ST_AL_OWNER] = "SELECT 1 FROM memories WHERE id = ?1 AND user_id = ?2",
	[ST_AL_KEY] = "SELECT id, type FROM memories WHERE seq = ?1 AND user_id = ?2",
	[ST_AL_CLEAR] = "DELETE FROM memory_relationships WHERE auto = 1"
			" AND (memory_id = ?1 OR related_memory_id = ?1)",
	/* one row per pair, the smaller id first; a link made by hand (same
	 * pair and type) wins over INSERT OR IGNORE */
	[ST_AL_INSERT] = "INSERT OR IGNORE INTO memory_relationships"
			 "(memory_id, related_memory_id, relationship_type, strength, created_at, auto)"
			 " SELECT min(?1, ?3), max(?1, ?3), ?4, ?5, ?6, 1"
			 " WHERE ?1 != ?3 AND EXISTS (SELECT 1 FROM memories WHERE id = ?3 AND user_id = ?2)",
	[ST_AL_SET_PARENT] = "UPDATE memories SET parent_memory_id = ?3 WHERE id = ?1 AND user_id = ?2"
			     " AND parent_memory_id IS NULL AND ?3 != ?1"
			     " AND EXISTS (SELECT 1 FROM memories WHERE id = ?3 AND user_id = ?2)",
	[ST_MEM_ACCESS_ADD] = "UPDATE memories SET access_count = access_count + ?2,"
			      " last_accessed_at = max(coalesce(last_accessed_at, 0), ?3),"
			      " layer = CASE WHEN " SQ_REVIVABLE " THEN 'active' ELSE layer END,"
			      " layer_since = CASE WHEN " SQ_REVIVABLE " THEN ?3 ELSE layer_since END"
			      " WHERE id = ?1",
	/* attachments and blobs (sqlite_files.c) */
	[ST_ATT_MEMORY_SEQ] = "SELECT seq FROM memories WHERE id = ?1 AND user_id = ?2",
	[ST_BLOB_INSERT] = "INSERT OR IGNORE INTO blobs(user_id, hash, bytes, created_at)"
		" VALUES (?1, ?2, ?3, ?4)",
	[ST_ATT_INSERT] = "INSERT INTO attachments(id, user_id, memory_seq, hash, name, mime,"
		" bytes, created_at, text_status, text_error, text_pages, sealed)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
	[ST_ATT_GET] = "SELECT " ATT_COLS " FROM attachments a JOIN memories m"
		" ON m.seq = a.memory_seq WHERE a.id = ?1" " AND (?2 IS NULL OR a.user_id = ?2)",
	[ST_ATT_LIST] = "SELECT " ATT_COLS " FROM attachments a JOIN memories m"
		" ON m.seq = a.memory_seq WHERE m.id = ?1 AND a.user_id = ?2"
		" ORDER BY a.created_at, a.id",
	[ST_ATT_DELETE] = "DELETE FROM attachments WHERE id = ?1 AND user_id = ?2",
	[ST_ATT_SET_TEXT] = "UPDATE attachments SET text_status = ?3, text_error = ?4,"
		" text_pages = ?5 WHERE id = ?1 AND user_id = ?2",
	[ST_ATT_SET_THUMB] = "UPDATE attachments SET thumb = ?3 WHERE id = ?1 AND user_id = ?2",
	[ST_ATT_UNTHUMBED] = "SELECT " ATT_COLS " FROM attachments a JOIN memories m"
		" ON m.seq = a.memory_seq WHERE a.user_id = ?1 AND a.thumb IS NULL"
		" AND a.id > ?2 ORDER BY a.id LIMIT ?3",
	[ST_ATT_PLAIN] = "SELECT " ATT_COLS " FROM attachments a JOIN memories m"
		" ON m.seq = a.memory_seq WHERE a.user_id = ?1 AND a.sealed = 0"
		" AND a.id > ?2 ORDER BY a.id LIMIT ?3",
	[ST_ATT_RESEAL] = "UPDATE attachments SET hash = ?3, name = ?4, mime = ?5, thumb = ?6,"
		" sealed = 1 WHERE id = ?1 AND user_id = ?2 AND sealed = 0 AND hash = ?7"
		" AND coalesce(thumb, '') = ?8",
	[ST_BLOB_ORPHANS] = "SELECT b.user_id, b.hash FROM blobs b WHERE (?1 IS NULL OR"
		" b.user_id = ?1) AND NOT EXISTS (SELECT 1 FROM attachments a"
		" WHERE a.user_id = b.user_id AND a.hash = b.hash) AND NOT EXISTS"
		" (SELECT 1 FROM attachments a WHERE a.user_id = b.user_id"
		" AND a.thumb = b.hash) LIMIT ?2",
	[ST_BLOB_FORGET] = "DELETE FROM blobs WHERE user_id = ?1 AND hash = ?2 AND NOT EXISTS"
		" (SELECT 1 FROM attachments WHERE user_id = ?1 AND hash = ?2) AND NOT EXISTS"
		" (SELECT 1 FROM attachments WHERE user_id = ?1 AND thumb = ?2)",
	/* plugins (sqlite_plugins.c) */
	[ST_PLUGIN_PUT] = "INSERT OR REPLACE INTO plugins_installed(" PLUGIN_COLS ")"
		" VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
	[ST_PLUGIN_GET] = "SELECT " PLUGIN_COLS " FROM plugins_installed"
		" WHERE user_id = ?1 AND plugin_id = ?2",
	[ST_PLUGIN_LIST] = "SELECT " PLUGIN_COLS " FROM plugins_installed"
		" WHERE (?1 IS NOT NULL AND user_id = ?1)" " OR (?1 IS NULL AND enabled = 1)"
		" ORDER BY user_id, plugin_id",
	[ST_PLUGIN_FAILED] = "UPDATE plugins_installed SET failures = failures + 1, last_error = ?3,"
		" status = CASE WHEN failures + 1 >= ?4 THEN 'disabled' ELSE 'error' END,"
		" enabled = CASE WHEN failures + 1 >= ?4 THEN 0 ELSE enabled END,"
		" updated_at = ?5 WHERE user_id = ?1 AND plugin_id = ?2 AND enabled = 1"
		" RETURNING enabled",
	[ST_PLUGIN_SUCCEEDED] = "UPDATE plugins_installed SET failures = 0, status = 'ok', updated_at = ?5"
		" WHERE user_id = ?1 AND plugin_id = ?2 AND (failures <> 0 OR status <> 'ok')"
		" RETURNING enabled",
	[ST_PLUGIN_KV_GET] = "SELECT value FROM plugin_kv"
		" WHERE user_id = ?1 AND plugin_id = ?2 AND key = ?3",
	[ST_PLUGIN_KV_DELETE] = "DELETE FROM plugin_kv WHERE user_id = ?1 AND plugin_id = ?2" " AND key = ?3",
	[ST_PLUGIN_KV_USAGE] = "SELECT coalesce(sum(length(key) + length(value)), 0)"
		" FROM plugin_kv WHERE user_id = ?1 AND plugin_id = ?2 AND key <> ?3",
	[ST_PLUGIN_KV_PUT] = "INSERT OR REPLACE INTO plugin_kv(user_id, plugin_id, key, value)"
		" VALUES (?1, ?2, ?3, ?4)",
	[ST_PLUGIN_LOG_ADD] = "INSERT INTO plugin_logs(user_id, plugin_id, at, level, message)"
		" VALUES (?1, ?2, ?3, ?4, ?5)",
	[ST_PLUGIN_LOG_TRIM] = "DELETE FROM plugin_logs WHERE user_id = ?1 AND plugin_id = ?2 AND id <="
		" (SELECT id FROM plugin_logs WHERE user_id = ?1 AND plugin_id = ?2"
		"  ORDER BY id DESC LIMIT 1 OFFSET ?3)",
	[ST_PLUGIN_LOG_LIST] = "SELECT at, level, message FROM plugin_logs"
		" WHERE user_id = ?1 AND plugin_id = ?2 ORDER BY id DESC LIMIT ?3",
	[ST_PLUGIN_DELETE] = "DELETE FROM plugins_installed WHERE user_id = ?1 AND plugin_id = ?2",
	[ST_PLUGIN_KV_DELETE_ALL] = "DELETE FROM plugin_kv WHERE user_id = ?1 AND plugin_id = ?2",
	[ST_PLUGIN_LOG_DELETE_ALL] = "DELETE FROM plugin_logs WHERE user_id = ?1 AND plugin_id = ?2",
	[ST_KW_LOG_MAX] = "SELECT coalesce(max(id), 0) FROM memories_kw_log",
	[ST_KW_LOG_MIN] = "SELECT coalesce(min(id), 0) FROM memories_kw_log",
	[ST_KW_LOG_READ] = "SELECT seq, user_id FROM memories_kw_log WHERE id > ?1 AND id <= ?2"
		" ORDER BY id",
	[ST_KW_ROW] = "SELECT user_id, content, tags, context FROM memories WHERE seq = ?1",
	/* a search's candidates by seq (sq_memories_by_seq): CROSS JOIN
	 * fixes the order, each seq looked up by primary key */
	[ST_HYDRATE] = "SELECT " SQ_MEM_COLS " FROM json_each(?2) j"
		       " CROSS JOIN memories m ON m.seq = j.value WHERE m.user_id = ?1",
	/* what a search's boosts read of its candidates (sq_memories_rank_fields) */
	[ST_RANK_FIELDS] = "SELECT m.seq, m.id, m.type, m.layer, m.created_at,"
			   " m.importance_score, m.access_count, m.thread FROM json_each(?2) j"
			   " CROSS JOIN memories m ON m.seq = j.value WHERE m.user_id = ?1",
	[ST_MEM_TAGS_READ] = "SELECT seq, tags FROM memories WHERE id = ?1 AND user_id = ?2",
	/* as an edit in sq_memory_update: revives a reference or archive */
	[ST_MEM_TAGS_SET] = "UPDATE memories SET tags = ?2, updated_at = ?3,"
			    " layer = CASE WHEN " SQ_REVIVABLE " THEN 'active' ELSE layer END,"
			    " layer_since = CASE WHEN " SQ_REVIVABLE " THEN ?3 ELSE layer_since END"
			    " WHERE seq = ?1",
};
