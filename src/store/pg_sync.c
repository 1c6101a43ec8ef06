/*
 * pg_sync.c — sync sources, their run logs, and the per-source lookups of
 * memories the sync sink needs, on PostgreSQL (contracts in store.h; port
 * of sqlite_sync.c). Every query carries the user id except the
 * scheduler's listing of all sources. Which instance runs a source is not
 * decided here: a run is a job queued with the source as its dedupe key
 * (jobs/jobs.h, pos_jobs_enqueue_unique), so one instance runs it at a time.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "store/pg_internal.h"

/* The tables of SQLite's migration 9 (the memories columns source_id and
 * sync_version are the memories domain's). */
const char pg_ddl_sync[] =
	"CREATE TABLE IF NOT EXISTS sync_sources ("
	" id text PRIMARY KEY,"
	" user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	" kind text NOT NULL,"
	" name text NOT NULL,"
	" config text NOT NULL DEFAULT '{}',"
	" secrets bytea,"
	" interval_s bigint NOT NULL,"
	" status text NOT NULL DEFAULT 'idle',"
	" cursor text,"
	" last_sync_at bigint,"
	" next_sync_at bigint,"
	" items_synced bigint NOT NULL DEFAULT 0,"
	" error_message text,"
	" failures bigint NOT NULL DEFAULT 0,"
	" created_at bigint NOT NULL);"
	"CREATE INDEX IF NOT EXISTS sync_sources_user ON sync_sources(user_id, created_at);"
	"CREATE TABLE IF NOT EXISTS sync_logs ("
	" id text PRIMARY KEY,"
	" source_id text NOT NULL,"
	" user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	" started_at bigint NOT NULL,"
	" duration_us bigint NOT NULL,"
	" status text NOT NULL,"
	" added bigint NOT NULL DEFAULT 0,"
	" updated bigint NOT NULL DEFAULT 0,"
	" unchanged bigint NOT NULL DEFAULT 0,"
	" removed bigint NOT NULL DEFAULT 0,"
	" skipped bigint NOT NULL DEFAULT 0,"
	" errors text NOT NULL DEFAULT '[]',"
	" error_message text);"
	"CREATE INDEX IF NOT EXISTS sync_logs_source ON sync_logs(source_id, started_at);";

#define SRC_COLS                                                              \
	"id, user_id, kind, name, config, secrets, interval_s, status, cursor,"  \
	" last_sync_at, next_sync_at, items_synced, error_message, failures,"   \
	" created_at"

PG_STMT(st_src_insert, "INSERT INTO sync_sources(" SRC_COLS ") VALUES"
		       " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)");
PG_STMT(st_src_update, "UPDATE sync_sources SET kind = $3, name = $4, config = $5,"
		       " secrets = $6, interval_s = $7, status = $8, cursor = $9,"
		       " last_sync_at = $10, next_sync_at = $11, items_synced = $12,"
		       " error_message = $13, failures = $14 WHERE id = $1 AND user_id = $2");
PG_STMT(st_src_get, "SELECT " SRC_COLS " FROM sync_sources WHERE id = $1"
		    " AND ($2::text IS NULL OR user_id = $2::text)");
PG_STMT(st_src_list, "SELECT " SRC_COLS " FROM sync_sources"
		     " WHERE $1::text IS NULL OR user_id = $1::text ORDER BY created_at, id");
PG_STMT(st_src_delete, "DELETE FROM sync_sources WHERE id = $1 AND user_id = $2");
PG_STMT(st_log_delete, "DELETE FROM sync_logs WHERE source_id = $1 AND user_id = $2");
PG_STMT(st_log_insert, "INSERT INTO sync_logs(id, source_id, user_id, started_at,"
		       " duration_us, status, added, updated, unchanged, removed,"
		       " skipped, errors, error_message)"
		       " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)");
PG_STMT(st_log_list, "SELECT id, source_id, user_id, started_at, duration_us,"
		     " status, added, updated, unchanged, removed, skipped, errors,"
		     " error_message FROM sync_logs WHERE source_id = $1 AND user_id = $2"
		     " ORDER BY started_at DESC LIMIT $3");
/* j.ord is 1-based: the position of the external id in the batch. */
PG_STMT(st_refs_lookup, "SELECT j.ord - 1, m.id, m.seq, m.sync_version"
			" FROM jsonb_array_elements_text($3::jsonb) WITH ORDINALITY AS j(value, ord)"
			" JOIN memories m ON m.user_id = $1"
			" AND coalesce(m.source_id, '') = $2 AND m.external_id = j.value");
PG_STMT(st_refs_list, "SELECT external_id, id, seq, sync_version FROM memories"
		      " WHERE source_id = $2 AND user_id = $1 ORDER BY seq");

static enum pos_err sync_source_put(struct pos_store *s, const struct pos_sync_source *x,
				    bool create)
{
	struct pg_params p = {0};
	pg_p_text(&p, x->id);
	pg_p_text(&p, x->user_id);
	pg_p_text(&p, x->kind);
	pg_p_text(&p, x->name);
	pg_p_text(&p, x->config_json ? x->config_json : "{}");
	pg_p_bytes(&p, x->secrets, x->secrets_len);
	pg_p_i64(&p, x->interval_s);
	pg_p_text(&p, x->status ? x->status : "idle");
	pg_p_text(&p, x->cursor_json);
	pg_p_time(&p, x->last_sync_at);
	pg_p_time(&p, x->next_sync_at);
	pg_p_i64(&p, x->items_synced);
	pg_p_text(&p, x->error_message);
	pg_p_i64(&p, x->failures);
	if (create)
		pg_p_i64(&p, x->created_at);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, create ? &st_src_insert : &st_src_update, &p, &r);
	if (!rc && !create && pg_affected(r) == 0)
		rc = POS_ERR_NOT_FOUND;
	PQclear(r);
	return rc;
}

static enum pos_err read_source(struct pos_arena *a, PGresult *r, int row,
				struct pos_sync_source *o)
{
	memset(o, 0, sizeof(*o));
	pg_uuid(o->id, r, row, 0);
	pg_uuid(o->user_id, r, row, 1);
	o->kind = pg_text(a, r, row, 2);
	o->name = pg_text(a, r, row, 3);
	o->config_json = pg_text(a, r, row, 4);
	if (!pg_isnull(r, row, 5)) {
		const uint8_t *b = NULL;
		size_t len = 0;
		enum pos_err rc = pg_bytes(a, r, row, 5, &b, &len);
		if (rc)
			return rc;
		if (len) {
			o->secrets = b;
			o->secrets_len = len;
		}
	}
	o->interval_s = pg_i64(r, row, 6);
	o->status = pg_text(a, r, row, 7);
	o->cursor_json = pg_text(a, r, row, 8);
	o->last_sync_at = pg_time(r, row, 9);
	o->next_sync_at = pg_time(r, row, 10);
	o->items_synced = pg_i64(r, row, 11);
	o->error_message = pg_text(a, r, row, 12);
	o->failures = pg_i64(r, row, 13);
	o->created_at = pg_i64(r, row, 14);
	if (!o->kind || !o->name || !o->config_json || !o->status)
		return POS_ERR_NOMEM;
	return POS_OK;
}

static enum pos_err sync_source_get(struct pos_store *s, struct pos_arena *a,
				    const char *user_id, const char *id,
				    struct pos_sync_source *out)
{
	struct pg_params p = {0};
	pg_p_text(&p, id);
	pg_p_text(&p, user_id);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, &st_src_get, &p, &r);
	if (!rc)
		rc = pg_rows(r) < 1 ? POS_ERR_NOT_FOUND : read_source(a, r, 0, out);
	PQclear(r);
	return rc;
}

static enum pos_err sync_source_list(struct pos_store *s, struct pos_arena *a,
				     const char *user_id, struct pos_sync_source **out,
				     size_t *n)
{
	*out = NULL;
	*n = 0;
	struct pg_params p = {0};
	pg_p_text(&p, user_id);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, &st_src_list, &p, &r);
	if (rc)
		return rc;
	int rows = pg_rows(r);
	struct pos_sync_source *v = rows ? pos_arena_zalloc(a, (size_t)rows * sizeof(*v)) : NULL;
	if (rows && !v)
		rc = POS_ERR_NOMEM;
	for (int i = 0; !rc && i < rows; i++)
		rc = read_source(a, r, i, &v[i]);
	PQclear(r);
	if (!rc) {
		*out = v;
		*n = (size_t)rows;
	}
	return rc;
}

static enum pos_err sync_source_delete(struct pos_store *s, const char *user_id,
				       const char *id)
{
	struct pg_conn *c = pg_get(s);
	if (!c)
		return POS_ERR_STORE;
	PGresult *r = NULL;
	struct pg_params p = {0};
	pg_p_text(&p, id);
	pg_p_text(&p, user_id);
	enum pos_err rc = pg_begin(c);
	if (rc)
		goto out;
	if ((rc = pg_run(c, &st_src_delete, &p, &r)))
		goto out;
	if (pg_affected(r) == 0) {
		rc = POS_ERR_NOT_FOUND;
		goto out;
	}
	if ((rc = pg_run(c, &st_log_delete, &p, NULL)))
		goto out;
	rc = pg_commit(c);
out:
	PQclear(r);
	pg_put(s, c);
	return rc;
}

static enum pos_err sync_log_add(struct pos_store *s, const struct pos_sync_log *l)
{
	struct pg_params p = {0};
	pg_p_text(&p, l->id);
	pg_p_text(&p, l->source_id);
	pg_p_text(&p, l->user_id);
	pg_p_i64(&p, l->started_at);
	pg_p_i64(&p, l->duration_us);
	pg_p_text(&p, l->status);
	pg_p_i64(&p, l->added);
	pg_p_i64(&p, l->updated);
	pg_p_i64(&p, l->unchanged);
	pg_p_i64(&p, l->removed);
	pg_p_i64(&p, l->skipped);
	pg_p_text(&p, l->errors_json ? l->errors_json : "[]");
	pg_p_text(&p, l->error_message);
	return pg_do(s, &st_log_insert, &p, NULL);
}

static enum pos_err sync_log_list(struct pos_store *s, struct pos_arena *a,
				  const char *user_id, const char *source_id,
				  unsigned limit, struct pos_sync_log **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!limit)
		return POS_OK;
	struct pg_params p = {0};
	pg_p_text(&p, source_id);
	pg_p_text(&p, user_id);
	pg_p_i64(&p, limit);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, &st_log_list, &p, &r);
	if (rc)
		return rc;
	struct pos_sync_log *v = pos_arena_zalloc(a, limit * sizeof(*v));
	if (!v) {
		PQclear(r);
		return POS_ERR_NOMEM;
	}
	int rows = pg_rows(r);
	size_t k = 0;
	for (int i = 0; i < rows && k < limit; i++) {
		struct pos_sync_log *l = &v[k++];
		pg_uuid(l->id, r, i, 0);
		pg_uuid(l->source_id, r, i, 1);
		pg_uuid(l->user_id, r, i, 2);
		l->started_at = pg_i64(r, i, 3);
		l->duration_us = pg_i64(r, i, 4);
		l->status = pg_text(a, r, i, 5);
		l->added = pg_i64(r, i, 6);
		l->updated = pg_i64(r, i, 7);
		l->unchanged = pg_i64(r, i, 8);
		l->removed = pg_i64(r, i, 9);
		l->skipped = pg_i64(r, i, 10);
		l->errors_json = pg_text(a, r, i, 11);
		l->error_message = pg_text(a, r, i, 12);
		if (!l->status || !l->errors_json) {
			rc = POS_ERR_NOMEM;
			break;
		}
	}
	PQclear(r);
	*out = v;
	*n = k;
	return rc;
}

static void read_ref(struct pos_arena *a, PGresult *r, int row, int col, struct pos_sync_ref *o)
{
	pg_uuid(o->id, r, row, col);
	o->seq = pg_i64(r, row, col + 1);
	o->version = pg_text(a, r, row, col + 2);
	o->found = true;
}

static enum pos_err sync_refs_lookup(struct pos_store *s, struct pos_arena *a,
				     const char *user_id, const char *source_id,
				     const char *const *ext, size_t n, struct pos_sync_ref *out)
{
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
	struct pg_params p = {0};
	pg_p_text(&p, user_id);
	pg_p_text(&p, source_id);
	pg_p_text(&p, ids);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, &st_refs_lookup, &p, &r);
	free(ids);
	for (int i = 0; !rc && i < pg_rows(r); i++) {
		int64_t k = pg_i64(r, i, 0);
		if (k >= 0 && (size_t)k < n)
			read_ref(a, r, i, 1, &out[k]);
	}
	PQclear(r);
	return rc;
}

static enum pos_err sync_refs_list(struct pos_store *s, struct pos_arena *a,
				   const char *user_id, const char *source_id,
				   struct pos_sync_ref **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	struct pg_params p = {0};
	pg_p_text(&p, user_id);
	pg_p_text(&p, source_id);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, &st_refs_list, &p, &r);
	if (rc)
		return rc;
	int rows = pg_rows(r);
	struct pos_sync_ref *v = rows ? pos_arena_zalloc(a, (size_t)rows * sizeof(*v)) : NULL;
	if (rows && !v)
		rc = POS_ERR_NOMEM;
	for (int i = 0; !rc && i < rows; i++) {
		v[i].external_id = pg_text(a, r, i, 0);
		read_ref(a, r, i, 1, &v[i]);
	}
	PQclear(r);
	if (!rc) {
		*out = v;
		*n = (size_t)rows;
	}
	return rc;
}

const struct pos_store_sync pg_sync_ops = {
	.sync_source_put = sync_source_put,
	.sync_source_get = sync_source_get,
	.sync_source_list = sync_source_list,
	.sync_source_delete = sync_source_delete,
	.sync_log_add = sync_log_add,
	.sync_log_list = sync_log_list,
	.sync_refs_lookup = sync_refs_lookup,
	.sync_refs_list = sync_refs_list,
};
