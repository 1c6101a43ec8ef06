/*
 * sqlite_sync.c — sync sources, their run logs, and the per-source lookups
 * of memories the sync sink needs (by external id, or all of a source).
 * Statements are prepared per call: these run a few times per sync batch,
 * never per HTTP request in a hot loop. Every query carries the user id
 * except the scheduler's listing of all sources.
 */
#include "store/sqlite_internal.h"

#include <jansson.h>
#include <string.h>

#include "base/log.h"

#define SRC_COLS                                                              \
	"id, user_id, kind, name, config, secrets, interval_s, status, cursor,"  \
	" last_sync_at, next_sync_at, items_synced, error_message, failures,"   \
	" created_at"

static sqlite3_stmt *prep(struct sq_conn *c, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
		sq_fail(c, "prepare sync statement");
		return NULL;
	}
	return st;
}

enum pos_err sq_sync_source_put(struct pos_store *base, const struct pos_sync_source *x,
				bool create)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	sqlite3_stmt *st = prep(c, create
		? "INSERT INTO sync_sources(" SRC_COLS ") VALUES"
		  " (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)"
		: "UPDATE sync_sources SET kind = ?3, name = ?4, config = ?5, secrets = ?6,"
		  " interval_s = ?7, status = ?8, cursor = ?9, last_sync_at = ?10,"
		  " next_sync_at = ?11, items_synced = ?12, error_message = ?13,"
		  " failures = ?14 WHERE id = ?1 AND user_id = ?2 AND ?15 IS NOT NULL");
	if (!st)
		return sq_end(s, c, POS_ERR_STORE, false);
	sq_bind_str(st, 1, x->id);
	sq_bind_str(st, 2, x->user_id);
	sq_bind_str(st, 3, x->kind);
	sq_bind_str(st, 4, x->name);
	sq_bind_str(st, 5, x->config_json ? x->config_json : "{}");
	if (x->secrets)
		sqlite3_bind_blob(st, 6, x->secrets, (int)x->secrets_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, x->interval_s);
	sq_bind_str(st, 8, x->status ? x->status : "idle");
	sq_bind_str(st, 9, x->cursor_json);
	sq_bind_time(st, 10, x->last_sync_at);
	sq_bind_time(st, 11, x->next_sync_at);
	sqlite3_bind_int64(st, 12, x->items_synced);
	sq_bind_str(st, 13, x->error_message);
	sqlite3_bind_int64(st, 14, x->failures);
	sqlite3_bind_int64(st, 15, x->created_at);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = sq_fail(c, "sync source write");
	else if (!create && sqlite3_changes(c->db) == 0)
		rc = POS_ERR_NOT_FOUND;
	sqlite3_finalize(st);
	return sq_end(s, c, rc, false);
}

static enum pos_err read_source(struct pos_arena *a, sqlite3_stmt *st,
				struct pos_sync_source *o)
{
	memset(o, 0, sizeof(*o));
	const unsigned char *t = sqlite3_column_text(st, 0);
	snprintf(o->id, sizeof(o->id), "%s", t ? (const char *)t : "");
	t = sqlite3_column_text(st, 1);
	snprintf(o->user_id, sizeof(o->user_id), "%s", t ? (const char *)t : "");
	o->kind = sq_col_str(a, st, 2, NULL);
	o->name = sq_col_str(a, st, 3, NULL);
	o->config_json = sq_col_str(a, st, 4, NULL);
	int n = sqlite3_column_bytes(st, 5);
	const void *blob = sqlite3_column_blob(st, 5);
	if (blob && n > 0) {
		uint8_t *copy = pos_arena_alloc(a, (size_t)n);
		if (!copy)
			return POS_ERR_NOMEM;
		memcpy(copy, blob, (size_t)n);
		o->secrets = copy;
		o->secrets_len = (size_t)n;
	}
	o->interval_s = sqlite3_column_int64(st, 6);
	o->status = sq_col_str(a, st, 7, NULL);
	o->cursor_json = sq_col_str(a, st, 8, NULL);
	o->last_sync_at = sq_col_time(st, 9);
	o->next_sync_at = sq_col_time(st, 10);
	o->items_synced = sqlite3_column_int64(st, 11);
	o->error_message = sq_col_str(a, st, 12, NULL);
	o->failures = sqlite3_column_int64(st, 13);
	o->created_at = sqlite3_column_int64(st, 14);
	if (!o->kind || !o->name || !o->config_json || !o->status)
		return POS_ERR_NOMEM;
	return POS_OK;
}

enum pos_err sq_sync_source_get(struct pos_store *base, struct pos_arena *a,
				const char *user_id, const char *id,
				struct pos_sync_source *out)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = prep(c, "SELECT " SRC_COLS " FROM sync_sources"
				   " WHERE id = ?1 AND (?2 IS NULL OR user_id = ?2)");
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, id);
	sq_bind_str(st, 2, user_id);
	enum pos_err rc;
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		rc = read_source(a, st, out);
	else
		rc = step == SQLITE_DONE ? POS_ERR_NOT_FOUND : sq_fail(c, "sync source get");
	sqlite3_finalize(st);
	return rc;
}

enum pos_err sq_sync_source_list(struct pos_store *base, struct pos_arena *a,
				 const char *user_id, struct pos_sync_source **out,
				 size_t *n)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	*out = NULL;
	*n = 0;
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = prep(c, "SELECT " SRC_COLS " FROM sync_sources"
				   " WHERE ?1 IS NULL OR user_id = ?1 ORDER BY created_at, id");
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, user_id);
	size_t cap = 0;
	enum pos_err rc = POS_OK;
	int step;
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct pos_sync_source *v = pos_arena_alloc(a, ncap * sizeof(*v));
			if (!v) {
				rc = POS_ERR_NOMEM;
				break;
			}
			if (*n)
				memcpy(v, *out, *n * sizeof(*v));
			*out = v;
			cap = ncap;
		}
		rc = read_source(a, st, &(*out)[*n]);
		if (!rc)
			(*n)++;
	}
	if (!rc && step != SQLITE_DONE)
		rc = sq_fail(c, "sync source list");
	sqlite3_finalize(st);
	return rc;
}

enum pos_err sq_sync_source_delete(struct pos_store *base, const char *user_id,
				   const char *id)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	sqlite3_stmt *st = prep(c, "DELETE FROM sync_sources WHERE id = ?1 AND user_id = ?2");
	if (!st)
		return sq_end(s, c, POS_ERR_STORE, false);
	sq_bind_str(st, 1, id);
	sq_bind_str(st, 2, user_id);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = sq_fail(c, "sync source delete");
	else if (sqlite3_changes(c->db) == 0)
		rc = POS_ERR_NOT_FOUND;
	sqlite3_finalize(st);
	if (!rc) {
		st = prep(c, "DELETE FROM sync_logs WHERE source_id = ?1 AND user_id = ?2");
		if (!st) {
			rc = POS_ERR_STORE;
		} else {
			sq_bind_str(st, 1, id);
			sq_bind_str(st, 2, user_id);
			if (sqlite3_step(st) != SQLITE_DONE)
				rc = sq_fail(c, "sync log delete");
			sqlite3_finalize(st);
		}
	}
	return sq_end(s, c, rc, false);
}

enum pos_err sq_sync_log_add(struct pos_store *base, const struct pos_sync_log *l)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	sqlite3_stmt *st = prep(c, "INSERT INTO sync_logs(id, source_id, user_id, started_at,"
				   " duration_us, status, added, updated, unchanged, removed,"
				   " skipped, errors, error_message)"
				   " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)");
	if (!st)
		return sq_end(s, c, POS_ERR_STORE, false);
	sq_bind_str(st, 1, l->id);
	sq_bind_str(st, 2, l->source_id);
	sq_bind_str(st, 3, l->user_id);
	sqlite3_bind_int64(st, 4, l->started_at);
	sqlite3_bind_int64(st, 5, l->duration_us);
	sq_bind_str(st, 6, l->status);
	sqlite3_bind_int64(st, 7, l->added);
	sqlite3_bind_int64(st, 8, l->updated);
	sqlite3_bind_int64(st, 9, l->unchanged);
	sqlite3_bind_int64(st, 10, l->removed);
	sqlite3_bind_int64(st, 11, l->skipped);
	sq_bind_str(st, 12, l->errors_json ? l->errors_json : "[]");
	sq_bind_str(st, 13, l->error_message);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = sq_fail(c, "sync log insert");
	sqlite3_finalize(st);
	return sq_end(s, c, rc, false);
}

enum pos_err sq_sync_log_list(struct pos_store *base, struct pos_arena *a,
			      const char *user_id, const char *source_id,
			      unsigned limit, struct pos_sync_log **out, size_t *n)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	*out = NULL;
	*n = 0;
	if (!c)
		return POS_ERR_STORE;
	if (!limit)
		return POS_OK;
	sqlite3_stmt *st = prep(c, "SELECT id, source_id, user_id, started_at, duration_us,"
				   " status, added, updated, unchanged, removed, skipped, errors,"
				   " error_message FROM sync_logs WHERE source_id = ?1 AND user_id = ?2"
				   " ORDER BY rowid DESC LIMIT ?3");
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, source_id);
	sq_bind_str(st, 2, user_id);
	sqlite3_bind_int(st, 3, (int)limit);
	struct pos_sync_log *v = pos_arena_zalloc(a, limit * sizeof(*v));
	if (!v) {
		sqlite3_finalize(st);
		return POS_ERR_NOMEM;
	}
	enum pos_err rc = POS_OK;
	int step;
	size_t k = 0;
	while ((step = sqlite3_step(st)) == SQLITE_ROW && k < limit) {
		struct pos_sync_log *l = &v[k++];
		snprintf(l->id, sizeof(l->id), "%s", (const char *)sqlite3_column_text(st, 0));
		snprintf(l->source_id, sizeof(l->source_id), "%s",
			 (const char *)sqlite3_column_text(st, 1));
		snprintf(l->user_id, sizeof(l->user_id), "%s",
			 (const char *)sqlite3_column_text(st, 2));
		l->started_at = sqlite3_column_int64(st, 3);
		l->duration_us = sqlite3_column_int64(st, 4);
		l->status = sq_col_str(a, st, 5, NULL);
		l->added = sqlite3_column_int64(st, 6);
		l->updated = sqlite3_column_int64(st, 7);
		l->unchanged = sqlite3_column_int64(st, 8);
		l->removed = sqlite3_column_int64(st, 9);
		l->skipped = sqlite3_column_int64(st, 10);
		l->errors_json = sq_col_str(a, st, 11, NULL);
		l->error_message = sq_col_str(a, st, 12, NULL);
		if (!l->status || !l->errors_json) {
			rc = POS_ERR_NOMEM;
			break;
		}
	}
	if (!rc && step != SQLITE_DONE && step != SQLITE_ROW)
		rc = sq_fail(c, "sync log list");
	sqlite3_finalize(st);
	*out = v;
	*n = k;
	return rc;
}

static void read_ref(struct pos_arena *a, sqlite3_stmt *st, int col, struct pos_sync_ref *r)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	snprintf(r->id, sizeof(r->id), "%s", t ? (const char *)t : "");
	r->seq = sqlite3_column_int64(st, col + 1);
	r->version = sq_col_str(a, st, col + 2, NULL);
	r->found = true;
}

enum pos_err sq_sync_refs_lookup(struct pos_store *base, struct pos_arena *a,
				 const char *user_id, const char *source_id,
				 const char *const *ext, size_t n,
				 struct pos_sync_ref *out)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	for (size_t i = 0; i < n; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		out[i].external_id = ext[i];
	}
	if (!n)
		return POS_OK;
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < n; i++)
		if (json_array_append_new(arr, json_string(ext[i])) != 0) {
			json_decref(arr);
			arr = NULL;
		}
	char *ids = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
	json_decref(arr);
	if (!ids)
		return POS_ERR_NOMEM;
	/* CROSS JOIN pins the order: without statistics SQLite put
	 * memories outside and scanned every memory of the source per batch,
	 * which made a large import quadratic. */
	sqlite3_stmt *st = prep(c, "SELECT j.key, m.id, m.seq, m.sync_version FROM json_each(?3) j"
				   " CROSS JOIN memories m ON m.user_id = ?1"
				   " AND ifnull(m.source_id, '') = ?2 AND m.external_id = j.value");
	if (!st) {
		free(ids);
		return POS_ERR_STORE;
	}
	sq_bind_str(st, 1, user_id);
	sq_bind_str(st, 2, source_id);
	sq_bind_str(st, 3, ids);
	enum pos_err rc = POS_OK;
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t k = sqlite3_column_int64(st, 0);
		if (k >= 0 && (size_t)k < n)
			read_ref(a, st, 1, &out[k]);
	}
	if (step != SQLITE_DONE)
		rc = sq_fail(c, "sync lookup");
	sqlite3_finalize(st);
	free(ids);
	return rc;
}

enum pos_err sq_sync_refs_list(struct pos_store *base, struct pos_arena *a,
			       const char *user_id, const char *source_id,
			       struct pos_sync_ref **out, size_t *n)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	*out = NULL;
	*n = 0;
	if (!c)
		return POS_ERR_STORE;
	/* pinned: the planner would rather walk all of the user's rows in
	 * seq order (memories_user_seq) than sort the source's few */
	sqlite3_stmt *st = prep(c, "SELECT external_id, id, seq, sync_version FROM memories"
				   " INDEXED BY memories_source_id"
				   " WHERE source_id = ?2 AND user_id = ?1 ORDER BY seq");
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, user_id);
	sq_bind_str(st, 2, source_id);
	size_t cap = 0;
	enum pos_err rc = POS_OK;
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			struct pos_sync_ref *v = pos_arena_alloc(a, ncap * sizeof(*v));
			if (!v) {
				rc = POS_ERR_NOMEM;
				break;
			}
			if (*n)
				memcpy(v, *out, *n * sizeof(*v));
			*out = v;
			cap = ncap;
		}
		struct pos_sync_ref *r = &(*out)[(*n)++];
		memset(r, 0, sizeof(*r));
		r->external_id = sq_col_str(a, st, 0, NULL);
		read_ref(a, st, 1, r);
	}
	if (!rc && step != SQLITE_DONE)
		rc = sq_fail(c, "sync list");
	sqlite3_finalize(st);
	return rc;
}
