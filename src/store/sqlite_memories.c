/*
 * sqlite_memories.c — memories in the SQLite backend: insert (single and
 * bulk, one transaction), get (with the access counted in the same
 * UPDATE ... RETURNING), filtered lists with cached statements per filter
 * combination, partial updates and deletes. Every statement carries the
 * user id.
 */
#include "store/sqlite_internal.h"

#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/log.h"

/* Column order of SQ_MEM_COLS (sqlite_internal.h). */
enum {
	C_ID, C_USER, C_CONTENT, C_TYPE, C_LAYER, C_SOURCE, C_CREATED,
	C_UPDATED, C_ACCESSED, C_PARENT, C_TAGS, C_IMPORTANCE, C_ACCESS_COUNT,
	C_ENCRYPTED, C_SHARED, C_METADATA, C_ATTACHMENTS, C_EXTERNAL, C_RELATED,
	C_SEQ, C_THREAD, C_CONTEXT, C_SEALED, C_LAYER_LOCKED, C_IMPORTANCE_SET,
	C_PINNED
};
_Static_assert(C_PINNED + 1 == SQ_MEM_NCOLS, "SQ_MEM_COLS and its column enum agree");

enum pos_err sq_read_memory(struct pos_arena *a, sqlite3_stmt *st,
			    struct pos_memory *m)
{
	memset(m, 0, sizeof(*m));
	const unsigned char *t = sqlite3_column_text(st, C_ID);
	snprintf(m->id, sizeof(m->id), "%s", t ? (const char *)t : "");
	t = sqlite3_column_text(st, C_USER);
	snprintf(m->user_id, sizeof(m->user_id), "%s", t ? (const char *)t : "");
	m->content = sq_col_str(a, st, C_CONTENT, &m->content_len);
	t = sqlite3_column_text(st, C_TYPE);
	int ty = pos_mem_type_parse((const char *)t);
	t = sqlite3_column_text(st, C_LAYER);
	int la = pos_mem_layer_parse((const char *)t);
	if (ty < 0 || la < 0) {
		pos_error_log("store: memory row with unknown type or layer");
		return POS_ERR_CORRUPT;
	}
	m->type = (enum pos_mem_type)ty;
	m->layer = (enum pos_mem_layer)la;
	m->source = sq_col_str(a, st, C_SOURCE, NULL);
	m->created_at = sqlite3_column_int64(st, C_CREATED);
	m->updated_at = sqlite3_column_int64(st, C_UPDATED);
	m->last_accessed_at = sq_col_time(st, C_ACCESSED);
	t = sqlite3_column_text(st, C_PARENT);
	snprintf(m->parent_id, sizeof(m->parent_id), "%s", t ? (const char *)t : "");
	m->tags_json = sq_col_str(a, st, C_TAGS, NULL);
	m->importance = sqlite3_column_double(st, C_IMPORTANCE);
	m->access_count = sqlite3_column_int64(st, C_ACCESS_COUNT);
	m->is_encrypted = sqlite3_column_int(st, C_ENCRYPTED) != 0;
	m->shared_with_json = sq_col_str(a, st, C_SHARED, NULL);
	m->metadata_json = sq_col_str(a, st, C_METADATA, NULL);
	m->attachments_json = sq_col_str(a, st, C_ATTACHMENTS, NULL);
	m->external_id = sq_col_str(a, st, C_EXTERNAL, NULL);
	m->related_json = sq_col_str(a, st, C_RELATED, NULL);
	m->seq = sqlite3_column_int64(st, C_SEQ);
	m->thread = sq_col_str(a, st, C_THREAD, NULL);
	m->context = sq_col_str(a, st, C_CONTEXT, NULL);
	m->layer_locked = sqlite3_column_int(st, C_LAYER_LOCKED) != 0;
	m->importance_set = sqlite3_column_int(st, C_IMPORTANCE_SET) != 0;
	m->pinned = sqlite3_column_int(st, C_PINNED) != 0;
	if (sqlite3_column_type(st, C_SEALED) == SQLITE_BLOB) {
		/* encryption at rest: the crypt layer opens it */
		int len = sqlite3_column_bytes(st, C_SEALED);
		uint8_t *b = pos_arena_alloc(a, (size_t)len + 1);
		if (!b)
			return POS_ERR_NOMEM;
		memcpy(b, sqlite3_column_blob(st, C_SEALED), (size_t)len);
		m->sealed = b;
		m->sealed_len = (size_t)len;
	}
	if (!m->related_json)
		m->related_json = "[]";
	if (!m->content || !m->source || !m->tags_json || !m->shared_with_json ||
	    !m->metadata_json || !m->attachments_json)
		return POS_ERR_NOMEM;
	return POS_OK;
}

/* seq of memory `id` if it belongs to `user_id`; 0 if not. -1 on error. */
static int64_t owned_seq(struct sq_conn *c, const char *user_id, const char *id)
{
	sqlite3_stmt *st = sq_stmt(c, ST_MEM_OWNED);
	if (!st)
		return -1;
	sq_bind_str(st, 1, id);
	sq_bind_str(st, 2, user_id);
	int step = sqlite3_step(st);
	int64_t seq = 0;
	if (step == SQLITE_ROW)
		seq = sqlite3_column_int64(st, 0);
	else if (step != SQLITE_DONE)
		seq = (sq_fail(c, "ownership check"), -1);
	sqlite3_reset(st);
	return seq;
}

static enum pos_err step_done(struct sq_conn *c, sqlite3_stmt *st, const char *what)
{
	int step = sqlite3_step(st);
	sqlite3_reset(st);
	return step == SQLITE_DONE ? POS_OK : sq_fail(c, what);
}

static enum pos_err insert_tags(struct sq_conn *c, const char *user_id,
				int64_t seq, const char *const *tags, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		sqlite3_stmt *st = sq_stmt(c, ST_MEM_TAG_INSERT);
		if (!st)
			return POS_ERR_STORE;
		sq_bind_str(st, 1, user_id);
		sq_bind_str(st, 2, tags[i]);
		sqlite3_bind_int64(st, 3, seq);
		enum pos_err rc = step_done(c, st, "tag insert");
		if (rc)
			return rc;
	}
	return POS_OK;
}

/* The same, for the encryption layer's in-place sealing (sqlite_crypt.c). */
enum pos_err sq_insert_tags(struct sq_conn *c, const char *user_id, int64_t seq,
			    const char *const *tags, size_t n)
{
	return insert_tags(c, user_id, seq, tags, n);
}

/* Checks each related id is the user's (and not `self`), then links it. */
static enum pos_err insert_related(struct sq_conn *c, const struct pos_memory *m,
				   int64_t now, int index, struct pos_error *err)
{
	for (size_t j = 0; j < m->n_related; j++) {
		const char *rid = m->related[j];
		if (strcmp(rid, m->id) == 0)
			return pos_error_set(err, POS_ERR_INVALID_FIELD,
					     "related_memory_ids",
					     "a memory cannot be related to itself");
		int64_t seq = owned_seq(c, m->user_id, rid);
		if (seq < 0)
			return POS_ERR_STORE;
		if (seq == 0) {
			if (err)
				err->index = index;
			return pos_error_set(err, POS_ERR_INVALID_FIELD,
					     "related_memory_ids",
					     "related memory %s not found", rid);
		}
		sqlite3_stmt *st = sq_stmt(c, ST_REL_INSERT);
		if (!st)
			return POS_ERR_STORE;
		sq_bind_str(st, 1, m->id);
		sq_bind_str(st, 2, rid);
		sq_bind_str(st, 3, "related");
		sqlite3_bind_double(st, 4, 1.0);
		sqlite3_bind_int64(st, 5, now);
		enum pos_err rc = step_done(c, st, "relationship insert");
		if (rc)
			return rc;
	}
	return POS_OK;
}

static enum pos_err check_parent(struct sq_conn *c, const char *user_id,
				 const char *self, const char *parent, int index,
				 struct pos_error *err)
{
	if (!parent[0])
		return POS_OK;
	if (strcmp(parent, self) == 0)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "parent_memory_id",
				     "a memory cannot be its own parent");
	int64_t seq = owned_seq(c, user_id, parent);
	if (seq < 0)
		return POS_ERR_STORE;
	if (seq == 0) {
		if (err)
			err->index = index;
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "parent_memory_id",
				     "parent memory %s not found", parent);
	}
	return POS_OK;
}

enum pos_err sq_vec_put(struct sq_conn *c, int64_t seq, const char *user_id,
			const struct pos_vec *v)
{
	if (!v->q)
		return POS_OK;
	sqlite3_stmt *st = sq_stmt(c, ST_VEC_PUT);
	if (!st)
		return POS_ERR_STORE;
	sqlite3_bind_int64(st, 1, seq);
	sq_bind_str(st, 2, user_id);
	sq_bind_str(st, 3, v->model);
	sqlite3_bind_int(st, 4, (int)v->dim);
	sqlite3_bind_double(st, 5, v->scale);
	if (v->sealed) { /* encryption at rest: scale and q are inside */
		sqlite3_bind_double(st, 5, 0.0);
		sqlite3_bind_blob(st, 6, v->sealed, (int)v->sealed_len, SQLITE_STATIC);
	} else {
		sqlite3_bind_blob(st, 6, v->q, (int)v->dim, SQLITE_STATIC);
	}
	return step_done(c, st, "vector put");
}

/*
 * Batches skip the per-row triggers. SQLite's FTS5 (3.40) flushes its
 * pending terms at every statement's savepoint, so the AFTER INSERT
 * trigger writes one index segment per memory; with the connection's
 * triggers off during a batch's row inserts, and the three insert
 * triggers' work done set-wise afterwards (ST_BULK_*), the index gets one
 * segment per batch. Taken only when the schema's insert triggers on the
 * tables a batch writes are exactly these three (a migration that changes
 * one makes batches fall back to the triggers until this is updated).
 */
static const char *const insert_triggers[] = {
	"CREATE TRIGGER memories_fts_ai AFTER INSERT ON memories BEGIN INSERT INTO "
	"memories_fts(rowid, content, tags, context) VALUES (new.seq, new.content, new.tags, "
	"new.context); END",
	"CREATE TRIGGER memories_bytes_insert AFTER INSERT ON memories BEGIN UPDATE users SET "
	"bytes_used = bytes_used + length(CAST(new.content AS BLOB)) + length(CAST(new.metadata AS "
	"BLOB)) WHERE id = new.user_id; END",
	"CREATE TRIGGER memories_kw_ai AFTER INSERT ON memories BEGIN INSERT INTO "
	"memories_kw_log(seq, user_id) VALUES (new.seq, new.user_id); END",
};
#define N_INSERT_TRIGGERS (sizeof(insert_triggers) / sizeof(insert_triggers[0]))

static bool bulk_triggers_ok(struct sq_conn *c)
{
	if (c->bulk_triggers)
		return c->bulk_triggers > 0;
	sqlite3_stmt *st = NULL;
	int ok = -1;
	if (sqlite3_prepare_v2(c->db, "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND"
				      " tbl_name IN ('memories', 'memory_tags', 'memory_vectors',"
				      " 'memory_relationships') AND upper(sql) LIKE '% INSERT ON %'",
			       -1, &st, NULL) == SQLITE_OK) {
		unsigned seen = 0;
		bool other = false;
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *sql = (const char *)sqlite3_column_text(st, 0);
			size_t k = 0;
			while (sql && k < N_INSERT_TRIGGERS && strcmp(sql, insert_triggers[k]))
				k++;
			if (!sql || k == N_INSERT_TRIGGERS)
				other = true;
			else
				seen |= 1u << k;
		}
		ok = !other && seen == (1u << N_INSERT_TRIGGERS) - 1 ? 1 : -1;
	}
	sqlite3_finalize(st);
	c->bulk_triggers = ok;
	return ok > 0;
}

static void triggers_on(struct sq_conn *c, bool on)
{
	sqlite3_db_config(c->db, SQLITE_DBCONFIG_ENABLE_TRIGGER, on ? 1 : 0, (int *)NULL);
}

/* The batch's insert triggers, set-wise (triggers back on). */
static enum pos_err bulk_triggers(struct sq_conn *c, const struct pos_memory *m, size_t n)
{
	struct pos_buf b;
	struct pos_jw w;
	pos_buf_init(&b, 64u << 20);
	pos_jw_init(&w, &b);
	pos_jw_arr(&w);
	for (size_t i = 0; i < n; i++)
		pos_jw_int(&w, m[i].seq);
	pos_jw_arr_end(&w);
	enum pos_err rc = w.rc;
	static const enum sq_stmt ids[] = {ST_BULK_FTS, ST_BULK_BYTES, ST_BULK_KW};
	for (size_t k = 0; !rc && k < sizeof(ids) / sizeof(ids[0]); k++) {
		sqlite3_stmt *st = sq_stmt(c, ids[k]);
		if (!st) {
			rc = POS_ERR_STORE;
			break;
		}
		sqlite3_bind_text(st, 1, b.data, (int)b.len, SQLITE_STATIC);
		if (ids[k] == ST_BULK_BYTES)
			sq_bind_str(st, 2, m[0].user_id);
		rc = step_done(c, st, "memory insert triggers");
		sqlite3_clear_bindings(st);
	}
	pos_buf_free(&b);
	return rc;
}

enum pos_err sq_memory_insert(struct pos_store *base, struct pos_memory *m,
			      size_t n, struct pos_error *err)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c || n == 0)
		return c ? POS_OK : POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	bool bulk = n > 1 && bulk_triggers_ok(c);
	if (bulk)
		triggers_on(c, false);
	for (size_t i = 0; i < n && !rc; i++) {
		struct pos_memory *x = &m[i];
		if (strcmp(x->user_id, m[0].user_id) != 0)
			POS_BUG("memory_insert with mixed users");
		rc = check_parent(c, x->user_id, x->id, x->parent_id, (int)i, err);
		if (rc)
			break;
		sqlite3_stmt *st = sq_stmt(c, ST_MEM_INSERT);
		if (!st) {
			rc = POS_ERR_STORE;
			break;
		}
		sq_bind_str(st, 1, x->id);
		sq_bind_str(st, 2, x->user_id);
		sqlite3_bind_text(st, 3, x->content, (int)x->content_len, SQLITE_STATIC);
		sq_bind_str(st, 4, pos_mem_type_name(x->type));
		sq_bind_str(st, 5, pos_mem_layer_name(x->layer));
		sq_bind_str(st, 6, x->source);
		sqlite3_bind_int64(st, 7, x->created_at);
		sqlite3_bind_int64(st, 8, x->updated_at);
		sq_bind_time(st, 9, x->last_accessed_at);
		sq_bind_str(st, 10, x->parent_id[0] ? x->parent_id : NULL);
		sq_bind_str(st, 11, x->tags_json ? x->tags_json : "[]");
		sqlite3_bind_double(st, 12, x->importance);
		sqlite3_bind_int64(st, 13, x->access_count);
		sqlite3_bind_int(st, 14, x->is_encrypted);
		sq_bind_str(st, 15, x->shared_with_json ? x->shared_with_json : "[]");
		sq_bind_str(st, 16, x->metadata_json ? x->metadata_json : "{}");
		sq_bind_str(st, 17, x->attachments_json ? x->attachments_json : "[]");
		sq_bind_str(st, 18, x->external_id);
		sq_bind_str(st, 19, x->thread);
		sq_bind_str(st, 20, x->context);
		if (x->sealed)
			sqlite3_bind_blob(st, 21, x->sealed, (int)x->sealed_len, SQLITE_STATIC);
		sq_bind_str(st, 22, x->source_id);
		sq_bind_str(st, 23, x->sync_version);
		sqlite3_bind_int(st, 24, x->layer_locked);
		sqlite3_bind_int(st, 25, x->importance_set);
		rc = step_done(c, st, "memory insert");
		if (rc)
			break;
		int64_t seq = sqlite3_last_insert_rowid(c->db);
		x->seq = seq;
		rc = insert_tags(c, x->user_id, seq, x->tags, x->n_tags);
		if (!rc)
			rc = sq_vec_put(c, seq, x->user_id, &x->vec);
		if (!rc)
			rc = insert_related(c, x, x->updated_at, (int)i, err);
	}
	if (bulk) {
		triggers_on(c, true);
		if (!rc)
			rc = bulk_triggers(c, m, n);
	}
	if (!rc) {
		sqlite3_stmt *st = sq_stmt(c, ST_USER_COUNT_ADD);
		if (!st) {
			rc = POS_ERR_STORE;
		} else {
			sq_bind_str(st, 1, m[0].user_id);
			sqlite3_bind_int64(st, 2, (int64_t)n);
			rc = step_done(c, st, "memory count");
		}
	}
	return sq_end(s, c, rc, false);
}

enum pos_err sq_memory_get(struct pos_store *base, struct pos_arena *a,
			   const char *user_id, const char *id, bool touch,
			   int64_t now, struct pos_memory *out)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = sq_stmt(c, ST_MEM_GET);
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, id);
	sq_bind_str(st, 2, user_id);
	enum pos_err rc = POS_OK;
	/* The access is counted in memory (sqlite_access.c); the row read and
	 * the overlay of pending counts happen under the same shared lock. */
	sq_access_read_begin(s);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		rc = sq_read_memory(a, st, out);
	else
		rc = step == SQLITE_DONE ? POS_ERR_NOT_FOUND : sq_fail(c, "memory get");
	sqlite3_reset(st);
	if (!rc && touch) {
		int64_t pending, last;
		rc = sq_access_touch(s, out->id, now, &pending, &last);
		if (!rc) {
			out->access_count += pending;
			if (out->last_accessed_at == POS_TIME_NONE || last > out->last_accessed_at)
				out->last_accessed_at = last;
			/* the flush brings it back to active (SQ_REVIVABLE) */
			if ((out->layer == POS_LAYER_REFERENCE || out->layer == POS_LAYER_ARCHIVE) &&
			    !out->layer_locked && !out->pinned)
				out->layer = POS_LAYER_ACTIVE;
		}
	} else if (!rc) {
		sq_access_overlay(s, out);
	}
	sq_access_read_end(s);
	return rc;
}

/* ---- lists ---- */


enum { F_TYPE = 1, F_LAYER = 2, F_SOURCE = 4, F_TAG = 8, F_AFTER = 16, F_BEFORE = 32,
       F_REQUIRE = 64, F_EXCLUDE = 128, F_HIDE_CHAT = 256 };

static const char *const sort_sql[POS_SORT__COUNT] = {
	[POS_SORT_NEWEST] = " ORDER BY m.created_at DESC, m.seq DESC LIMIT ?8 OFFSET ?9",
	[POS_SORT_OLDEST] = " ORDER BY m.created_at ASC, m.seq ASC LIMIT ?8 OFFSET ?9",
	[POS_SORT_UPDATED] = " ORDER BY m.updated_at DESC, m.seq DESC LIMIT ?8 OFFSET ?9",
	[POS_SORT_IMPORTANCE] = " ORDER BY m.importance_score DESC, m.created_at DESC, m.seq DESC LIMIT ?8 OFFSET ?9",
	[POS_SORT_ACCESSED] = " ORDER BY m.last_accessed_at DESC NULLS LAST, m.created_at DESC, m.seq DESC LIMIT ?8 OFFSET ?9",
	[POS_SORT_ACCESS_COUNT] = " ORDER BY m.access_count DESC, m.created_at DESC, m.seq DESC LIMIT ?8 OFFSET ?9",
	[POS_SORT_CAPTURED] = " ORDER BY m.seq DESC LIMIT ?8 OFFSET ?9",
};

enum pos_err sq_build_conds(struct pos_buf *b, unsigned mask)
{
	enum pos_err rc = POS_OK;
	if (!rc && (mask & F_TYPE))
		rc = pos_buf_adds(b, " AND m.type = ?2");
	if (!rc && (mask & F_LAYER))
		rc = pos_buf_adds(b, " AND m.layer = ?3");
	if (!rc && (mask & F_SOURCE))
		rc = pos_buf_adds(b, " AND m.source IN (SELECT value FROM json_each(?4))");
	if (!rc && (mask & F_TAG))
		rc = pos_buf_adds(b, " AND m.seq IN (SELECT memory_seq FROM memory_tags"
				     " WHERE user_id = ?1 AND lower(tag) IN"
				     " (SELECT lower(value) FROM json_each(?5))"
				     " GROUP BY memory_seq HAVING count(DISTINCT lower(tag)) ="
				     " (SELECT count(DISTINCT lower(value)) FROM json_each(?5)))");
	if (!rc && (mask & F_AFTER))
		rc = pos_buf_adds(b, " AND m.created_at >= ?6");
	if (!rc && (mask & F_BEFORE))
		rc = pos_buf_adds(b, " AND m.created_at < ?7");
	/* Text constraints go through the index, so they follow its stemming
	 * and accent rules exactly as keyword matches do. */
	if (!rc && (mask & F_REQUIRE))
		rc = pos_buf_adds(b, " AND m.seq IN (SELECT rowid FROM memories_fts"
				     " WHERE memories_fts MATCH ?11)");
	if (!rc && (mask & F_EXCLUDE))
		rc = pos_buf_adds(b, " AND m.seq NOT IN (SELECT rowid FROM memories_fts"
				     " WHERE memories_fts MATCH ?12)");
	if (!rc && (mask & F_HIDE_CHAT))
		rc = pos_buf_adds(b, " AND NOT (m.type = 'conversation' AND m.source = 'chat')");
	return rc;
}

unsigned sq_filter_mask(const struct pos_memory_query *q)
{
	return (q->type >= 0 ? F_TYPE : 0) | (q->layer >= 0 ? F_LAYER : 0) |
	       (q->source ? F_SOURCE : 0) | (q->n_tags ? F_TAG : 0) |
	       (q->after != POS_TIME_NONE ? F_AFTER : 0) |
	       (q->before != POS_TIME_NONE ? F_BEFORE : 0) |
	       (q->fts_require ? F_REQUIRE : 0) | (q->fts_exclude ? F_EXCLUDE : 0) |
	       (q->hide_chat ? F_HIDE_CHAT : 0);
}

static sqlite3_stmt *list_stmt(struct sq_conn *c, unsigned mask, int sort,
			       bool count)
{
	if (count)
		return sq_cached_stmt(c, &c->list_count[mask],
				      "SELECT count(*) FROM memories m WHERE m.user_id = ?1",
				      mask, "");
	return sq_cached_stmt(c, &c->list_page[mask][sort],
			      "SELECT " SQ_MEM_COLS " FROM memories m WHERE m.user_id = ?1",
			      mask, sort_sql[sort]);
}

void sq_bind_filters(sqlite3_stmt *st, const struct pos_memory_query *q,
		     unsigned mask)
{
	sq_bind_str(st, 1, q->user_id);
	if (mask & F_TYPE)
		sq_bind_str(st, 2, pos_mem_type_name((enum pos_mem_type)q->type));
	if (mask & F_LAYER)
		sq_bind_str(st, 3, pos_mem_layer_name((enum pos_mem_layer)q->layer));
	if (mask & F_SOURCE) {
		/* one source, or the members of an alias, as a JSON array */
		const char *group = pos_source_alias_json(q->source);
		if (group) {
			sq_bind_str(st, 4, group);
		} else {
			struct pos_buf b;
			pos_buf_init(&b, 64 * 1024);
			struct pos_jw w;
			pos_jw_init(&w, &b);
			pos_jw_arr(&w);
			pos_jw_str(&w, q->source);
			pos_jw_arr_end(&w);
			if (!w.rc)
				sqlite3_bind_text(st, 4, b.data, (int)b.len, SQLITE_TRANSIENT);
			pos_buf_free(&b);
		}
	}
	if (mask & F_TAG) {
		struct pos_buf b;
		pos_buf_init(&b, 64 * 1024);
		struct pos_jw w;
		pos_jw_init(&w, &b);
		pos_jw_arr(&w);
		for (size_t i = 0; i < q->n_tags; i++)
			pos_jw_str(&w, q->tags[i]);
		pos_jw_arr_end(&w);
		if (!w.rc)
			sqlite3_bind_text(st, 5, b.data, (int)b.len, SQLITE_TRANSIENT);
		pos_buf_free(&b);
	}
	if (mask & F_AFTER)
		sqlite3_bind_int64(st, 6, q->after);
	if (mask & F_BEFORE)
		sqlite3_bind_int64(st, 7, q->before);
	if (mask & F_REQUIRE)
		sq_bind_str(st, 11, q->fts_require);
	if (mask & F_EXCLUDE)
		sq_bind_str(st, 12, q->fts_exclude);
}

enum pos_err sq_memory_list(struct pos_store *base, struct pos_arena *a,
			    const struct pos_memory_query *q,
			    struct pos_memory **out, size_t *n, int64_t *total)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	unsigned mask = sq_filter_mask(q);
	int sort = (unsigned)q->sort < POS_SORT__COUNT ? (int)q->sort : 0;
	*n = 0;
	*out = NULL;
	/* Orders by access need the pending counts in the rows. */
	if (sort == POS_SORT_ACCESSED || sort == POS_SORT_ACCESS_COUNT)
		sq_access_flush((struct sq_store *)base);
	sq_access_read_begin((struct sq_store *)base);
	/* Count and page in one read transaction so they agree. */
	if (sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return sq_fail(c, "begin read");
	enum pos_err rc = POS_OK;
	sqlite3_stmt *st = list_stmt(c, mask, sort, true);
	if (!st) {
		rc = POS_ERR_STORE;
		goto out;
	}
	sq_bind_filters(st, q, mask);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = sq_fail(c, "list count");
		sqlite3_reset(st);
		goto out;
	}
	*total = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (q->limit == 0 || (int64_t)q->offset >= *total)
		goto out;
	st = list_stmt(c, mask, sort, false);
	if (!st) {
		rc = POS_ERR_STORE;
		goto out;
	}
	sq_bind_filters(st, q, mask);
	sqlite3_bind_int64(st, 8, q->limit);
	sqlite3_bind_int64(st, 9, q->offset);
	struct pos_memory *v = pos_arena_alloc(a, q->limit * sizeof(*v));
	if (!v) {
		rc = POS_ERR_NOMEM;
		sqlite3_reset(st);
		goto out;
	}
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW && *n < q->limit) {
		rc = sq_read_memory(a, st, &v[*n]);
		if (!rc)
			sq_access_overlay((struct sq_store *)base, &v[*n]);
		if (rc)
			break;
		(*n)++;
	}
	if (!rc && step != SQLITE_DONE && step != SQLITE_ROW)
		rc = sq_fail(c, "list page");
	sqlite3_reset(st);
	*out = v;
out:
	sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
	sq_access_read_end((struct sq_store *)base);
	return rc;
}

/* ---- update ---- */

/* What counts as an edit of a memory (not of its bookkeeping). */
#define SQ_EDIT_BITS                                                            \
	(POS_PATCH_CONTENT | POS_PATCH_TYPE | POS_PATCH_TAGS | POS_PATCH_METADATA |  \
	 POS_PATCH_ATTACHMENTS)

static enum pos_err clear_related(struct sq_conn *c, const char *id,
				  const char *type)
{
	sqlite3_stmt *st = sq_stmt(c, ST_REL_CLEAR_FROM);
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, id);
	sq_bind_str(st, 2, type);
	enum pos_err rc = step_done(c, st, "relationship delete");
	if (rc)
		return rc;
	st = sq_stmt(c, ST_REL_CLEAR_TO);
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, id);
	sq_bind_str(st, 2, type);
	return step_done(c, st, "relationship delete");
}

enum pos_err sq_memory_update(struct pos_store *base, const char *user_id,
			      const char *id, const struct pos_memory_patch *p,
			      int64_t now, struct pos_error *err)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	const struct pos_memory *v = &p->v;
	struct pos_buf sql;
	pos_buf_init(&sql, 4096);
	sqlite3_stmt *st = NULL;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	int64_t seq = owned_seq(c, user_id, id);
	if (seq <= 0) {
		rc = seq < 0 ? POS_ERR_STORE : POS_ERR_NOT_FOUND;
		goto out;
	}
	if ((p->set & POS_PATCH_PARENT) &&
	    (rc = check_parent(c, user_id, id, v->parent_id, -1, err)))
		goto out;
	rc = pos_buf_adds(&sql, "UPDATE memories SET updated_at = ?1");
	static const struct {
		unsigned bit;
		const char *col;
	} cols[] = {
		{POS_PATCH_CONTENT, ", content = ?2"},
		{POS_PATCH_TYPE, ", type = ?3"},
		{POS_PATCH_LAYER, ", layer = ?4, layer_since = ?1"},
		{POS_PATCH_LAYER_LOCK, ", layer_locked = ?17"},
		{POS_PATCH_SOURCE, ", source = ?5"},
		{POS_PATCH_TAGS, ", tags = ?6"},
		{POS_PATCH_METADATA, ", metadata = ?7"},
		{POS_PATCH_ATTACHMENTS, ", attachments = ?8"},
		{POS_PATCH_IMPORTANCE, ", importance_score = ?9, importance_set = ?18"},
		{POS_PATCH_PARENT, ", parent_memory_id = ?10"},
		{POS_PATCH_SEALED, ", sealed = ?12, is_encrypted = ?13, context = ?14"},
		{POS_PATCH_SYNC_VERSION, ", sync_version = ?15"},
		{POS_PATCH_CREATED, ", created_at = ?16"},
	};
	for (size_t i = 0; !rc && i < sizeof(cols) / sizeof(cols[0]); i++)
		if (p->set & cols[i].bit)
			rc = pos_buf_adds(&sql, cols[i].col);
	/* An edit brings a reference or archived memory back to active
	 * (docs/LIFECYCLE.md), unless the edit sets the layer itself. */
	if (!rc && (p->set & SQ_EDIT_BITS) && !(p->set & POS_PATCH_LAYER))
		rc = pos_buf_adds(&sql, ", layer = CASE WHEN " SQ_REVIVABLE " THEN 'active'"
				  " ELSE layer END, layer_since = CASE WHEN " SQ_REVIVABLE
				  " THEN ?1 ELSE layer_since END");
	if (!rc)
		rc = pos_buf_adds(&sql, " WHERE seq = ?11");
	if (rc)
		goto out;
	if (sqlite3_prepare_v2(c->db, sql.data, -1, &st, NULL) != SQLITE_OK) {
		rc = sq_fail(c, "prepare update");
		goto out;
	}
	sqlite3_bind_int64(st, 1, now);
	if (p->set & POS_PATCH_CONTENT)
		sqlite3_bind_text(st, 2, v->content, (int)v->content_len, SQLITE_STATIC);
	if (p->set & POS_PATCH_TYPE)
		sq_bind_str(st, 3, pos_mem_type_name(v->type));
	if (p->set & POS_PATCH_LAYER)
		sq_bind_str(st, 4, pos_mem_layer_name(v->layer));
	if (p->set & POS_PATCH_SOURCE)
		sq_bind_str(st, 5, v->source);
	if (p->set & POS_PATCH_TAGS)
		sq_bind_str(st, 6, v->tags_json);
	if (p->set & POS_PATCH_METADATA)
		sq_bind_str(st, 7, v->metadata_json);
	if (p->set & POS_PATCH_ATTACHMENTS)
		sq_bind_str(st, 8, v->attachments_json);
	if (p->set & POS_PATCH_IMPORTANCE)
		sqlite3_bind_double(st, 9, v->importance);
	if (p->set & POS_PATCH_PARENT)
		sq_bind_str(st, 10, v->parent_id[0] ? v->parent_id : NULL);
	sqlite3_bind_int64(st, 11, seq);
	if (p->set & POS_PATCH_SEALED) {
		if (v->sealed)
			sqlite3_bind_blob(st, 12, v->sealed, (int)v->sealed_len, SQLITE_STATIC);
		sqlite3_bind_int(st, 13, v->is_encrypted);
		sq_bind_str(st, 14, v->context);
	}
	if (p->set & POS_PATCH_SYNC_VERSION)
		sq_bind_str(st, 15, v->sync_version);
	if (p->set & POS_PATCH_CREATED)
		sqlite3_bind_int64(st, 16, v->created_at);
	if (p->set & POS_PATCH_LAYER_LOCK)
		sqlite3_bind_int(st, 17, v->layer_locked);
	if (p->set & POS_PATCH_IMPORTANCE)
		sqlite3_bind_int(st, 18, v->importance_set);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = sq_fail(c, "memory update");
		goto out;
	}
	if (p->set & POS_PATCH_TAGS) {
		sqlite3_stmt *t = sq_stmt(c, ST_MEM_TAG_CLEAR);
		if (!t) {
			rc = POS_ERR_STORE;
			goto out;
		}
		sqlite3_bind_int64(t, 1, seq);
		if ((rc = step_done(c, t, "tag clear")) ||
		    (rc = insert_tags(c, user_id, seq, v->tags, v->n_tags)))
			goto out;
	}
	if (p->set & POS_PATCH_VECTOR) {
		if (v->vec.q) {
			rc = sq_vec_put(c, seq, user_id, &v->vec);
		} else {
			/* new content, vector to come: drop the stale one */
			sqlite3_stmt *d = sq_stmt(c, ST_VEC_DELETE);
			if (!d) {
				rc = POS_ERR_STORE;
			} else {
				sqlite3_bind_int64(d, 1, seq);
				rc = step_done(c, d, "vector delete");
			}
		}
		if (rc)
			goto out;
	}
	if (p->set & POS_PATCH_RELATED) {
		struct pos_memory self = *v;
		snprintf(self.id, sizeof(self.id), "%s", id);
		snprintf(self.user_id, sizeof(self.user_id), "%s", user_id);
		if ((rc = clear_related(c, id, "related")) ||
		    (rc = insert_related(c, &self, now, -1, err)))
			goto out;
	}
out:
	sqlite3_finalize(st);
	pos_buf_free(&sql);
	return sq_end(s, c, rc, false);
}

enum pos_err sq_memory_tag_add(struct pos_store *base, const char *user_id, const char *id,
			       const char *const *add, size_t n, size_t max, int64_t now,
			       size_t *added)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (added)
		*added = 0;
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
	struct pos_memory v;
	memset(&v, 0, sizeof(v));
	size_t k = 0;
	int64_t seq = 0;
	sqlite3_stmt *st = sq_stmt(c, ST_MEM_TAGS_READ);
	if (!st) {
		rc = POS_ERR_STORE;
		goto out;
	}
	sq_bind_str(st, 1, id);
	sq_bind_str(st, 2, user_id);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		seq = sqlite3_column_int64(st, 0);
		const char *tj = sq_col_str(a, st, 1, NULL);
		rc = pos_mem_tags_merge(a, tj, add, n, max, &v, &k);
	} else {
		rc = step == SQLITE_DONE ? POS_ERR_NOT_FOUND : sq_fail(c, "tags read");
	}
	sqlite3_reset(st);
	if (rc || k == 0)
		goto out;
	if (!(st = sq_stmt(c, ST_MEM_TAGS_SET))) {
		rc = POS_ERR_STORE;
		goto out;
	}
	sqlite3_bind_int64(st, 1, seq);
	sq_bind_str(st, 2, v.tags_json);
	sqlite3_bind_int64(st, 3, now);
	/* the new tags are the last k of the merged list */
	if (!(rc = step_done(c, st, "tags update")))
		rc = insert_tags(c, user_id, seq, v.tags + (v.n_tags - k), k);
	if (!rc && added)
		*added = k;
out:
	rc = sq_end(s, c, rc, false);
	pos_arena_destroy(a);
	return rc;
}

enum pos_err sq_memory_delete(struct pos_store *base, const char *user_id,
			      const char *id, int64_t *seq_out)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	int64_t seq = owned_seq(c, user_id, id);
	if (seq <= 0) {
		rc = seq < 0 ? POS_ERR_STORE : POS_ERR_NOT_FOUND;
		goto out;
	}
	if (seq_out)
		*seq_out = seq;
	if ((rc = clear_related(c, id, NULL)))
		goto out;
	sqlite3_stmt *st = sq_stmt(c, ST_MEM_ORPHAN_CHILDREN);
	if (!st) {
		rc = POS_ERR_STORE;
		goto out;
	}
	sq_bind_str(st, 1, id);
	if ((rc = step_done(c, st, "orphan children")))
		goto out;
	st = sq_stmt(c, ST_MEM_DELETE);
	if (!st) {
		rc = POS_ERR_STORE;
		goto out;
	}
	sqlite3_bind_int64(st, 1, seq);
	if ((rc = step_done(c, st, "memory delete")))
		goto out;
	st = sq_stmt(c, ST_USER_COUNT_ADD);
	if (!st) {
		rc = POS_ERR_STORE;
		goto out;
	}
	sq_bind_str(st, 1, user_id);
	sqlite3_bind_int64(st, 2, -1);
	rc = step_done(c, st, "memory count");
out:
	return sq_end(s, c, rc, false);
}

enum pos_err sq_memory_count_all(struct pos_store *base, int64_t *n)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = sq_stmt(c, ST_MEM_COUNT_ALL);
	if (!st)
		return POS_ERR_STORE;
	enum pos_err rc = POS_OK;
	if (sqlite3_step(st) == SQLITE_ROW)
		*n = sqlite3_column_int64(st, 0);
	else
		rc = sq_fail(c, "count");
	sqlite3_reset(st);
	return rc;
}

enum pos_err sq_max_seq(struct pos_store *base, int64_t *seq)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = sq_stmt(c, ST_MAX_SEQ);
	if (!st)
		return POS_ERR_STORE;
	enum pos_err rc = POS_OK;
	if (sqlite3_step(st) == SQLITE_ROW)
		*seq = sqlite3_column_int64(st, 0);
	else
		rc = sq_fail(c, "max seq");
	sqlite3_reset(st);
	return rc;
}
