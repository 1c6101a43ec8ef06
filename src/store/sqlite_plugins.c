/*
 * sqlite_plugins.c — plugin installs, their per-user key-value data and
 * logs (migration 15; store.h "plugins"). Statements come from the
 * store's prepared-statement table (sqlite.c). Every query carries
 * the user id, except the dispatcher's listing of all enabled installs.
 */
#include "store/sqlite_internal.h"

#include <string.h>

enum pos_err sq_plugin_put(struct pos_store *base, const struct pos_plugin_row *p)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	sqlite3_stmt *st = sq_stmt(c, ST_PLUGIN_PUT);
	if (!st)
		return sq_end(s, c, POS_ERR_STORE, false);
	sq_bind_str(st, 1, p->user_id);
	sq_bind_str(st, 2, p->plugin_id);
	sq_bind_str(st, 3, p->version);
	sqlite3_bind_int(st, 4, p->enabled ? 1 : 0);
	sq_bind_str(st, 5, p->grants_json ? p->grants_json : "[]");
	sq_bind_str(st, 6, p->settings_json ? p->settings_json : "{}");
	sq_bind_str(st, 7, p->status ? p->status : "ok");
	sq_bind_str(st, 8, p->last_error);
	sqlite3_bind_int64(st, 9, p->failures);
	sqlite3_bind_int64(st, 10, p->installed_at);
	sqlite3_bind_int64(st, 11, p->updated_at);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = sq_fail(c, "plugin write");
	sqlite3_reset(st);
	return sq_end(s, c, rc, false);
}

static enum pos_err read_row(struct pos_arena *a, sqlite3_stmt *st, struct pos_plugin_row *o)
{
	memset(o, 0, sizeof(*o));
	o->user_id = sq_col_str(a, st, 0, NULL);
	o->plugin_id = sq_col_str(a, st, 1, NULL);
	o->version = sq_col_str(a, st, 2, NULL);
	o->enabled = sqlite3_column_int(st, 3) != 0;
	o->grants_json = sq_col_str(a, st, 4, NULL);
	o->settings_json = sq_col_str(a, st, 5, NULL);
	o->status = sq_col_str(a, st, 6, NULL);
	o->last_error = sq_col_str(a, st, 7, NULL);
	o->failures = sqlite3_column_int64(st, 8);
	o->installed_at = sqlite3_column_int64(st, 9);
	o->updated_at = sqlite3_column_int64(st, 10);
	if (!o->user_id || !o->plugin_id || !o->version || !o->grants_json || !o->settings_json ||
	    !o->status)
		return POS_ERR_NOMEM;
	return POS_OK;
}

enum pos_err sq_plugin_get(struct pos_store *base, struct pos_arena *a, const char *user_id,
			   const char *plugin_id, struct pos_plugin_row *out)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = sq_stmt(c, ST_PLUGIN_GET);
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, user_id);
	sq_bind_str(st, 2, plugin_id);
	enum pos_err rc;
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		rc = read_row(a, st, out);
	else
		rc = step == SQLITE_DONE ? POS_ERR_NOT_FOUND : sq_fail(c, "plugin get");
	sqlite3_reset(st);
	return rc;
}

enum pos_err sq_plugin_list(struct pos_store *base, struct pos_arena *a, const char *user_id,
			    struct pos_plugin_row **out, size_t *n)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	*out = NULL;
	*n = 0;
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = sq_stmt(c, ST_PLUGIN_LIST);
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, user_id);
	size_t cap = 0;
	enum pos_err rc = POS_OK;
	int step = SQLITE_DONE;
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct pos_plugin_row *v = pos_arena_alloc(a, ncap * sizeof(*v));
			if (!v) {
				rc = POS_ERR_NOMEM;
				break;
			}
			if (*n)
				memcpy(v, *out, *n * sizeof(*v));
			*out = v;
			cap = ncap;
		}
		rc = read_row(a, st, &(*out)[*n]);
		if (!rc)
			(*n)++;
	}
	if (!rc && step != SQLITE_DONE)
		rc = sq_fail(c, "plugin list");
	sqlite3_reset(st);
	return rc;
}

/* Runs statement `id` with ?1 = user, ?2 = plugin inside the caller's transaction. */
static enum pos_err exec2(struct sq_conn *c, enum sq_stmt id, const char *user_id,
			  const char *plugin_id, int *changes)
{
	sqlite3_stmt *st = sq_stmt(c, id);
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, user_id);
	sq_bind_str(st, 2, plugin_id);
	enum pos_err rc = sqlite3_step(st) == SQLITE_DONE ? POS_OK : sq_fail(c, "plugin delete");
	if (changes)
		*changes = sqlite3_changes(c->db);
	sqlite3_reset(st);
	return rc;
}

enum pos_err sq_plugin_delete(struct pos_store *base, const char *user_id, const char *plugin_id)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	int changed = 0;
	rc = exec2(c, ST_PLUGIN_DELETE,
		   user_id, plugin_id, &changed);
	if (!rc && changed == 0)
		rc = POS_ERR_NOT_FOUND;
	if (!rc)
		rc = exec2(c, ST_PLUGIN_KV_DELETE_ALL,
			   user_id, plugin_id, NULL);
	if (!rc)
		rc = exec2(c, ST_PLUGIN_LOG_DELETE_ALL,
			   user_id, plugin_id, NULL);
	return sq_end(s, c, rc, false);
}

enum pos_err sq_plugin_outcome(struct pos_store *base, const char *user_id, const char *plugin_id,
			       const char *error, unsigned max_failures, int64_t now,
			       bool *disabled)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (disabled)
		*disabled = false;
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	sqlite3_stmt *st = sq_stmt(c, error ? ST_PLUGIN_FAILED : ST_PLUGIN_SUCCEEDED);
	if (!st)
		return sq_end(s, c, POS_ERR_STORE, false);
	sq_bind_str(st, 1, user_id);
	sq_bind_str(st, 2, plugin_id);
	if (error)
		sq_bind_str(st, 3, error);
	sqlite3_bind_int(st, 4, (int)(max_failures ? max_failures : 1));
	sqlite3_bind_int64(st, 5, now);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		if (error && disabled && sqlite3_column_int(st, 0) == 0)
			*disabled = true;
		step = sqlite3_step(st);
	}
	if (step != SQLITE_DONE)
		rc = sq_fail(c, "plugin outcome");
	sqlite3_reset(st);
	return sq_end(s, c, rc, false);
}

enum pos_err sq_plugin_kv_get(struct pos_store *base, struct pos_arena *a, const char *user_id,
			      const char *plugin_id, const char *key, const char **value,
			      size_t *len)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	*value = NULL;
	*len = 0;
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = sq_stmt(c, ST_PLUGIN_KV_GET);
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, user_id);
	sq_bind_str(st, 2, plugin_id);
	sq_bind_str(st, 3, key);
	enum pos_err rc = POS_OK;
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		size_t n = (size_t)sqlite3_column_bytes(st, 0);
		const void *b = sqlite3_column_blob(st, 0);
		char *copy = pos_arena_alloc(a, n + 1);
		if (!copy) {
			rc = POS_ERR_NOMEM;
		} else {
			if (n)
				memcpy(copy, b, n);
			copy[n] = '\0';
			*value = copy;
			*len = n;
		}
	} else if (step != SQLITE_DONE) {
		rc = sq_fail(c, "plugin kv get");
	}
	sqlite3_reset(st);
	return rc;
}

enum pos_err sq_plugin_kv_put(struct pos_store *base, const char *user_id, const char *plugin_id,
			      const char *key, const char *value, size_t len, size_t quota)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	if (!value) {
		sqlite3_stmt *st = sq_stmt(c, ST_PLUGIN_KV_DELETE);
		if (!st)
			return sq_end(s, c, POS_ERR_STORE, false);
		sq_bind_str(st, 1, user_id);
		sq_bind_str(st, 2, plugin_id);
		sq_bind_str(st, 3, key);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = sq_fail(c, "plugin kv delete");
		sqlite3_reset(st);
		return sq_end(s, c, rc, false);
	}
	/* The bytes the plugin holds for the user, this key's old value aside. */
	sqlite3_stmt *st = sq_stmt(c, ST_PLUGIN_KV_USAGE);
	if (!st)
		return sq_end(s, c, POS_ERR_STORE, false);
	sq_bind_str(st, 1, user_id);
	sq_bind_str(st, 2, plugin_id);
	sq_bind_str(st, 3, key);
	int64_t used = 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		used = sqlite3_column_int64(st, 0);
	else
		rc = sq_fail(c, "plugin kv usage");
	sqlite3_reset(st);
	if (!rc && (size_t)used + strlen(key) + len > quota)
		rc = POS_ERR_QUOTA_EXCEEDED;
	if (rc)
		return sq_end(s, c, rc, false);
	st = sq_stmt(c, ST_PLUGIN_KV_PUT);
	if (!st)
		return sq_end(s, c, POS_ERR_STORE, false);
	sq_bind_str(st, 1, user_id);
	sq_bind_str(st, 2, plugin_id);
	sq_bind_str(st, 3, key);
	sqlite3_bind_blob(st, 4, len ? value : "", (int)len, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = sq_fail(c, "plugin kv put");
	sqlite3_reset(st);
	return sq_end(s, c, rc, false);
}

enum pos_err sq_plugin_log_add(struct pos_store *base, const char *user_id, const char *plugin_id,
			       const char *level, const char *msg, size_t len, int64_t now,
			       unsigned keep)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	sqlite3_stmt *st = sq_stmt(c, ST_PLUGIN_LOG_ADD);
	if (!st)
		return sq_end(s, c, POS_ERR_STORE, false);
	sq_bind_str(st, 1, user_id);
	sq_bind_str(st, 2, plugin_id);
	sqlite3_bind_int64(st, 3, now);
	sq_bind_str(st, 4, level);
	sqlite3_bind_text(st, 5, msg, (int)len, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = sq_fail(c, "plugin log add");
	sqlite3_reset(st);
	if (!rc) {
		st = sq_stmt(c, ST_PLUGIN_LOG_TRIM);
		if (!st)
			return sq_end(s, c, POS_ERR_STORE, false);
		sq_bind_str(st, 1, user_id);
		sq_bind_str(st, 2, plugin_id);
		sqlite3_bind_int(st, 3, (int)(keep ? keep : 1));
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = sq_fail(c, "plugin log trim");
		sqlite3_reset(st);
	}
	return sq_end(s, c, rc, false);
}

enum pos_err sq_plugin_log_list(struct pos_store *base, struct pos_arena *a, const char *user_id,
				const char *plugin_id, unsigned limit,
				struct pos_plugin_log **out, size_t *n)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	*out = NULL;
	*n = 0;
	if (!c)
		return POS_ERR_STORE;
	if (limit == 0)
		return POS_OK;
	sqlite3_stmt *st = sq_stmt(c, ST_PLUGIN_LOG_LIST);
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, user_id);
	sq_bind_str(st, 2, plugin_id);
	sqlite3_bind_int(st, 3, (int)limit);
	struct pos_plugin_log *v = pos_arena_alloc(a, limit * sizeof(*v));
	enum pos_err rc = v ? POS_OK : POS_ERR_NOMEM;
	int step = SQLITE_DONE;
	while (!rc && *n < limit && (step = sqlite3_step(st)) == SQLITE_ROW) {
		v[*n].at = sqlite3_column_int64(st, 0);
		v[*n].level = sq_col_str(a, st, 1, NULL);
		v[*n].message = sq_col_str(a, st, 2, NULL);
		if (!v[*n].level || !v[*n].message)
			rc = POS_ERR_NOMEM;
		else
			(*n)++;
	}
	if (!rc && step != SQLITE_DONE && step != SQLITE_ROW)
		rc = sq_fail(c, "plugin log list");
	sqlite3_reset(st);
	*out = v;
	return rc;
}

/* One row offered to the rewrite: where it is and its text. */
struct rw_row {
	sqlite3_int64 id; /* plugin_logs.id (kind 'l') */
	const char *plugin, *key, *text;
	size_t len;
};

/* Reads the rows of `sql` (user bound at 1) into the arena. */
static enum pos_err rw_read(struct sq_conn *c, struct pos_arena *a, const char *sql,
			    const char *user_id, bool kv, struct rw_row **out, size_t *n)
{
	sqlite3_stmt *st = NULL;
	*out = NULL;
	*n = 0;
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
		return sq_fail(c, "plugin data read");
	sq_bind_str(st, 1, user_id);
	size_t cap = 0;
	enum pos_err rc = POS_OK;
	int step;
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			struct rw_row *v = pos_arena_alloc(a, nc * sizeof(*v));
			if (!v) {
				rc = POS_ERR_NOMEM;
				break;
			}
			if (*n)
				memcpy(v, *out, *n * sizeof(*v));
			*out = v;
			cap = nc;
		}
		struct rw_row *r = &(*out)[*n];
		r->id = kv ? 0 : sqlite3_column_int64(st, 0);
		r->plugin = sq_col_str(a, st, 1, NULL);
		r->key = kv ? sq_col_str(a, st, 0, NULL) : NULL;
		r->text = sq_col_str(a, st, 2, &r->len);
		if (!r->plugin || !r->text || (kv && !r->key))
			rc = POS_ERR_NOMEM;
		else
			(*n)++;
	}
	if (!rc && step != SQLITE_DONE)
		rc = sq_fail(c, "plugin data read");
	sqlite3_finalize(st);
	return rc;
}

enum pos_err sq_plugin_data_rewrite(struct pos_store *base, const char *user_id,
				    bool (*fn)(void *ctx, struct pos_arena *a, char kind,
					       const char *plugin_id, const char *key,
					       const char *text, size_t len, const char **out,
					       size_t *out_len),
				    void *ctx, size_t *replaced)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	*replaced = 0;
	if (!c)
		return POS_ERR_STORE;
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return POS_ERR_NOMEM;
	enum pos_err rc = sq_begin(s, c);
	if (rc) {
		pos_arena_destroy(a);
		return rc;
	}
	static const char *const reads[2] = {
		"SELECT key, plugin_id, value FROM plugin_kv WHERE user_id = ?1",
		"SELECT id, plugin_id, message FROM plugin_logs WHERE user_id = ?1",
	};
	/* only when unchanged since it was read */
	static const char *const writes[2] = {
		"UPDATE plugin_kv SET value = ?4 WHERE user_id = ?1 AND plugin_id = ?2 AND key = ?3"
		" AND value = ?5",
		"UPDATE plugin_logs SET message = ?4 WHERE user_id = ?1 AND plugin_id = ?2 AND id = ?3"
		" AND message = ?5",
	};
	for (int kind = 0; !rc && kind < 2; kind++) {
		struct rw_row *v = NULL;
		size_t n = 0;
		sqlite3_stmt *up = NULL;
		rc = rw_read(c, a, reads[kind], user_id, kind == 0, &v, &n);
		if (!rc && sqlite3_prepare_v2(c->db, writes[kind], -1, &up, NULL) != SQLITE_OK)
			rc = sq_fail(c, "plugin data rewrite");
		for (size_t i = 0; !rc && i < n; i++) {
			const char *nt = NULL;
			size_t nl = 0;
			if (!fn(ctx, a, kind == 0 ? 'k' : 'l', v[i].plugin, v[i].key, v[i].text, v[i].len,
				&nt, &nl))
				continue;
			sqlite3_reset(up);
			sq_bind_str(up, 1, user_id);
			sq_bind_str(up, 2, v[i].plugin);
			if (kind == 0) {
				sq_bind_str(up, 3, v[i].key);
				sqlite3_bind_blob(up, 4, nt, (int)nl, SQLITE_STATIC);
				sqlite3_bind_blob(up, 5, v[i].text, (int)v[i].len, SQLITE_STATIC);
			} else {
				sqlite3_bind_int64(up, 3, v[i].id);
				sqlite3_bind_text(up, 4, nt, (int)nl, SQLITE_STATIC);
				sqlite3_bind_text(up, 5, v[i].text, (int)v[i].len, SQLITE_STATIC);
			}
			if (sqlite3_step(up) != SQLITE_DONE)
				rc = sq_fail(c, "plugin data rewrite");
			else
				*replaced += (size_t)sqlite3_changes(c->db);
		}
		sqlite3_finalize(up);
	}
	rc = sq_end(s, c, rc, false);
	pos_arena_destroy(a);
	return rc;
}
