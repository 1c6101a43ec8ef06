/*
 * sqlite_chat.c — conversations and messages (jobs: sqlite_jobs.c).
 *
 * These run a few times per chat message, not per search: statements are
 * prepared per call (microseconds) instead of joining the per-connection
 * cache. Every read is scoped by user id.
 */
#include <string.h>

#include "base/log.h"
#include "store/sqlite_internal.h"

static sqlite3_stmt *prep(struct sq_conn *c, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
		sq_fail(c, "chat prepare");
		return NULL;
	}
	return st;
}

static enum pos_err done(struct sq_conn *c, sqlite3_stmt *st, const char *what)
{
	int step = sqlite3_step(st);
	return step == SQLITE_DONE ? POS_OK : sq_fail(c, what);
}

static void copy_id(char *dst, sqlite3_stmt *st, int i)
{
	const unsigned char *v = sqlite3_column_text(st, i);
	snprintf(dst, POS_UUID_SIZE, "%s", v ? (const char *)v : "");
}

/* ---- conversations ---- */

#define CONV_COLS "id, user_id, title, created_at, updated_at, message_count"

static bool read_conv(struct pos_arena *a, sqlite3_stmt *st, struct pos_conversation *o)
{
	copy_id(o->id, st, 0);
	copy_id(o->user_id, st, 1);
	o->title = sq_col_str(a, st, 2, NULL);
	o->created_at = sqlite3_column_int64(st, 3);
	o->updated_at = sqlite3_column_int64(st, 4);
	o->message_count = sqlite3_column_int64(st, 5);
	return o->title != NULL;
}

/* One row of the user's by id: `sql` selects with ?1 = id, ?2 = user id;
 * `read` fills *out. POS_ERR_NOT_FOUND when there is no such row. */
static enum pos_err get_one(struct pos_store *base, struct pos_arena *a, const char *sql,
			    const char *user_id, const char *id,
			    bool (*read)(struct pos_arena *, sqlite3_stmt *, void *), void *out,
			    const char *what)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	sqlite3_stmt *st = c ? prep(c, sql) : NULL;
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, id);
	sq_bind_str(st, 2, user_id);
	enum pos_err rc = POS_ERR_NOT_FOUND;
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		rc = read(a, st, out) ? POS_OK : POS_ERR_NOMEM;
	else if (step != SQLITE_DONE)
		rc = sq_fail(c, what);
	sqlite3_finalize(st);
	return rc;
}

static bool read_conv_any(struct pos_arena *a, sqlite3_stmt *st, void *out)
{
	return read_conv(a, st, out);
}

enum pos_err sq_conversation_get(struct pos_store *base, struct pos_arena *a,
				 const char *user_id, const char *id,
				 struct pos_conversation *out)
{
	return get_one(base, a, "SELECT " CONV_COLS " FROM conversations"
				" WHERE id = ?1 AND user_id = ?2",
		       user_id, id, read_conv_any, out, "conversation get");
}

enum pos_err sq_conversation_list(struct pos_store *base, struct pos_arena *a,
					 const char *user_id, unsigned limit,
					 unsigned offset, struct pos_conversation **out,
					 size_t *n, int64_t *total)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	sqlite3_stmt *st = c ? prep(c, "SELECT " CONV_COLS ", count(*) OVER ()"
				       " FROM conversations WHERE user_id = ?1"
				       " ORDER BY updated_at DESC, id LIMIT ?2 OFFSET ?3") : NULL;
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, user_id);
	sqlite3_bind_int64(st, 2, limit);
	sqlite3_bind_int64(st, 3, offset);
	*out = limit ? pos_arena_zalloc(a, limit * sizeof(**out)) : NULL;
	*n = 0;
	*total = 0;
	enum pos_err rc = (limit && !*out) ? POS_ERR_NOMEM : POS_OK;
	int step;
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
		if (!read_conv(a, st, &(*out)[*n]))
			rc = POS_ERR_NOMEM;
		*total = sqlite3_column_int64(st, 6);
		(*n)++;
	}
	if (!rc && step != SQLITE_DONE)
		rc = sq_fail(c, "conversation list");
	sqlite3_finalize(st);
	if (!rc && *n == 0 && offset) {
		/* Past the end: the window function saw no row; count apart. */
		sqlite3_stmt *ct = prep(c, "SELECT count(*) FROM conversations WHERE user_id = ?1");
		if (!ct)
			return POS_ERR_STORE;
		sq_bind_str(ct, 1, user_id);
		if (sqlite3_step(ct) == SQLITE_ROW)
			*total = sqlite3_column_int64(ct, 0);
		sqlite3_finalize(ct);
	}
	return rc;
}

enum pos_err sq_chat_append(struct pos_store *base,
				   const struct pos_conversation *conv, bool create,
				   const struct pos_chat_message *msgs, size_t n)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	int64_t last = conv->updated_at;
	if (create) {
		st = prep(c, "INSERT INTO conversations(id, user_id, title, created_at,"
			     " updated_at, message_count) VALUES (?1, ?2, ?3, ?4, ?4, 0)");
		if (!st) {
			rc = POS_ERR_STORE;
			goto out;
		}
		sq_bind_str(st, 1, conv->id);
		sq_bind_str(st, 2, conv->user_id);
		sq_bind_str(st, 3, conv->title);
		sqlite3_bind_int64(st, 4, conv->created_at);
		rc = done(c, st, "conversation insert");
		sqlite3_finalize(st);
		st = NULL;
		if (rc)
			goto out;
	}
	st = prep(c, "INSERT INTO messages(id, conversation_id, user_id, role, content,"
		     " memories_used, memory_id, created_at)"
		     " SELECT ?1, id, user_id, ?3, ?4, ?5, ?6, ?7 FROM conversations"
		     " WHERE id = ?2 AND user_id = ?8");
	if (!st) {
		rc = POS_ERR_STORE;
		goto out;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		const struct pos_chat_message *m = &msgs[i];
		sqlite3_reset(st);
		sq_bind_str(st, 1, m->id);
		sq_bind_str(st, 2, conv->id);
		sq_bind_str(st, 3, m->role);
		sq_bind_str(st, 4, m->content);
		sq_bind_str(st, 5, m->memories_used_json ? m->memories_used_json : "[]");
		sq_bind_str(st, 6, m->memory_id[0] ? m->memory_id : NULL);
		sqlite3_bind_int64(st, 7, m->created_at);
		sq_bind_str(st, 8, conv->user_id);
		rc = done(c, st, "message insert");
		if (!rc && sqlite3_changes(c->db) != 1)
			rc = POS_ERR_NOT_FOUND; /* not the user's conversation */
		if (m->created_at > last)
			last = m->created_at;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (rc)
		goto out;
	st = prep(c, "UPDATE conversations SET updated_at = max(updated_at, ?3),"
		     " message_count = message_count + ?4 WHERE id = ?1 AND user_id = ?2");
	if (!st) {
		rc = POS_ERR_STORE;
		goto out;
	}
	sq_bind_str(st, 1, conv->id);
	sq_bind_str(st, 2, conv->user_id);
	sqlite3_bind_int64(st, 3, last);
	sqlite3_bind_int64(st, 4, (int64_t)n);
	rc = done(c, st, "conversation update");
	sqlite3_finalize(st);
out:
	return sq_end(s, c, rc, false);
}

enum pos_err sq_messages_list(struct pos_store *base, struct pos_arena *a,
				     const char *user_id, const char *conversation_id,
				     unsigned limit, struct pos_chat_message **out,
				     size_t *n)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	/* The newest `limit`, then turned around to read oldest first. */
	sqlite3_stmt *st = c ? prep(c, "SELECT id, conversation_id, role, content,"
				       " memories_used, memory_id, created_at FROM messages"
				       " WHERE conversation_id = ?1 AND user_id = ?2"
				       " ORDER BY seq DESC LIMIT ?3") : NULL;
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, conversation_id);
	sq_bind_str(st, 2, user_id);
	sqlite3_bind_int64(st, 3, limit);
	*n = 0;
	*out = limit ? pos_arena_zalloc(a, limit * sizeof(**out)) : NULL;
	enum pos_err rc = (limit && !*out) ? POS_ERR_NOMEM : POS_OK;
	int step;
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
		struct pos_chat_message *m = &(*out)[*n];
		copy_id(m->id, st, 0);
		copy_id(m->conversation_id, st, 1);
		m->role = sq_col_str(a, st, 2, NULL);
		m->content = sq_col_str(a, st, 3, NULL);
		m->memories_used_json = sq_col_str(a, st, 4, NULL);
		copy_id(m->memory_id, st, 5);
		m->created_at = sqlite3_column_int64(st, 6);
		if (!m->role || !m->content || !m->memories_used_json)
			rc = POS_ERR_NOMEM;
		(*n)++;
	}
	if (!rc && step != SQLITE_DONE)
		rc = sq_fail(c, "message list");
	sqlite3_finalize(st);
	for (size_t i = 0; !rc && i < *n / 2; i++) {
		struct pos_chat_message t = (*out)[i];
		(*out)[i] = (*out)[*n - 1 - i];
		(*out)[*n - 1 - i] = t;
	}
	return rc;
}

/* ---- accounts ---- */

enum pos_err sq_user_delete(struct pos_store *base, const char *user_id,
			    const char *keep_job_kind)
{
	static const char *const steps[] = {
		/* relationships carry no foreign key: they go by hand */
		"DELETE FROM memory_relationships WHERE memory_id IN"
		" (SELECT id FROM memories WHERE user_id = ?1) OR related_memory_id IN"
		" (SELECT id FROM memories WHERE user_id = ?1)",
		"DELETE FROM jobs WHERE user_id = ?1 AND kind IS NOT ?2",
		/* cascades: memories (and their tags, vectors, full-text rows by
		 * trigger), sessions, refresh and API tokens, conversations */
		"DELETE FROM users WHERE id = ?1",
	};
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	for (size_t i = 0; !rc && i < sizeof(steps) / sizeof(steps[0]); i++) {
		sqlite3_stmt *st = prep(c, steps[i]);
		if (!st) {
			rc = POS_ERR_STORE;
			break;
		}
		sq_bind_str(st, 1, user_id);
		if (sqlite3_bind_parameter_count(st) >= 2)
			sq_bind_str(st, 2, keep_job_kind);
		rc = done(c, st, "user delete");
		if (!rc && i == 2 && sqlite3_changes(c->db) == 0)
			rc = POS_ERR_NOT_FOUND;
		sqlite3_finalize(st);
	}
	return sq_end(s, c, rc, false);
}
