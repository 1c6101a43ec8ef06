/*
 * sqlite_crypt.c — raw storage for encryption at rest in the SQLite
 * backend: per-user key material, the DEK wrapped per refresh token,
 * sealed rows and vectors as stored, the in-place rewrite of plain rows
 * into sealed ones (the background pass), and compaction (FTS merge + WAL
 * truncate) so replaced plaintext leaves the files. Nothing here sees a
 * key: sealing and opening happen in store/crypt_store.c.
 */
#include "store/sqlite_internal.h"

#include <string.h>

#include "base/log.h"

static const uint8_t *col_blob(struct pos_arena *a, sqlite3_stmt *st, int i, size_t *len)
{
	*len = 0;
	if (sqlite3_column_type(st, i) != SQLITE_BLOB)
		return NULL;
	int n = sqlite3_column_bytes(st, i);
	uint8_t *b = pos_arena_alloc(a, (size_t)n + 1);
	if (!b)
		return NULL;
	memcpy(b, sqlite3_column_blob(st, i), (size_t)n);
	*len = (size_t)n;
	return b;
}

/* Prepares `sql` on the calling thread's connection (finalize after). */
static sqlite3_stmt *prep(struct sq_conn *c, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
		sq_fail(c, "prepare crypt statement");
		return NULL;
	}
	return st;
}

enum pos_err sq_crypt_get(struct pos_store *base, struct pos_arena *a,
			  const char *user_id, struct pos_user_crypt *out)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = prep(c, "SELECT enc_state, enc_salt, enc_kdf, enc_pw_wrap,"
				   " enc_rk_wrap FROM users WHERE id = ?1");
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, user_id);
	memset(out, 0, sizeof(*out));
	enum pos_err rc = POS_OK;
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		out->state = sq_col_str(a, st, 0, NULL);
		out->salt = col_blob(a, st, 1, &out->salt_len);
		out->kdf = sq_col_str(a, st, 2, NULL);
		out->pw_wrap = col_blob(a, st, 3, &out->pw_wrap_len);
		out->rk_wrap = col_blob(a, st, 4, &out->rk_wrap_len);
		if (!out->state)
			rc = POS_ERR_NOMEM;
	} else {
		rc = step == SQLITE_DONE ? POS_ERR_NOT_FOUND : sq_fail(c, "crypt get");
	}
	sqlite3_finalize(st);
	return rc;
}

enum pos_err sq_crypt_put(struct pos_store *base, const char *user_id,
			  const struct pos_user_crypt *in, const char *password_hash,
			  const char *expect)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	sqlite3_stmt *st = prep(c, "UPDATE users SET enc_state = coalesce(?2, enc_state),"
				   " enc_salt = coalesce(?3, enc_salt), enc_kdf = coalesce(?4, enc_kdf),"
				   " enc_pw_wrap = coalesce(?5, enc_pw_wrap),"
				   " enc_rk_wrap = coalesce(?6, enc_rk_wrap),"
				   " password_hash = coalesce(?7, password_hash)"
				   " WHERE id = ?1 AND (?8 IS NULL OR enc_state = ?8)");
	if (!st) {
		rc = POS_ERR_STORE;
		goto out;
	}
	sq_bind_str(st, 1, user_id);
	sq_bind_str(st, 2, in->state);
	sqlite3_bind_blob(st, 3, in->salt, (int)in->salt_len, SQLITE_STATIC);
	sq_bind_str(st, 4, in->kdf);
	sqlite3_bind_blob(st, 5, in->pw_wrap, (int)in->pw_wrap_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 6, in->rk_wrap, (int)in->rk_wrap_len, SQLITE_STATIC);
	sq_bind_str(st, 7, password_hash);
	sq_bind_str(st, 8, expect);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = sq_fail(c, "crypt put");
	else if (sqlite3_changes(c->db) == 0)
		rc = expect ? POS_ERR_CONFLICT : POS_ERR_NOT_FOUND;
	sqlite3_finalize(st);
out:
	return sq_end(s, c, rc, false);
}

enum pos_err sq_refresh_wrap_get(struct pos_store *base, struct pos_arena *a,
				 const uint8_t *hash, const uint8_t **wrap, size_t *len)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = prep(c, "SELECT dek_wrap FROM refresh_tokens WHERE hash = ?1");
	if (!st)
		return POS_ERR_STORE;
	sqlite3_bind_blob(st, 1, hash, 32, SQLITE_STATIC);
	*wrap = NULL;
	*len = 0;
	enum pos_err rc = POS_OK;
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		*wrap = col_blob(a, st, 0, len);
	else if (step != SQLITE_DONE)
		rc = sq_fail(c, "refresh wrap get");
	sqlite3_finalize(st);
	return rc;
}

enum pos_err sq_refresh_wrap_put(struct pos_store *base, const uint8_t *hash,
				 const uint8_t *wrap, size_t len)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	sqlite3_stmt *st = prep(c, "UPDATE refresh_tokens SET dek_wrap = ?2 WHERE hash = ?1");
	if (!st) {
		rc = POS_ERR_STORE;
	} else {
		sqlite3_bind_blob(st, 1, hash, 32, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, wrap, (int)len, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = sq_fail(c, "refresh wrap put");
		sqlite3_finalize(st);
	}
	return sq_end(s, c, rc, false);
}

enum pos_err sq_refresh_wraps_sweep(struct pos_store *base, int64_t now, int64_t *n)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	sqlite3_stmt *st = prep(c, "UPDATE refresh_tokens SET dek_wrap = NULL"
				   " WHERE dek_wrap IS NOT NULL AND (expires_at < ?1 OR used_at IS NOT NULL)");
	*n = 0;
	if (!st) {
		rc = POS_ERR_STORE;
	} else {
		sqlite3_bind_int64(st, 1, now);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = sq_fail(c, "refresh wrap sweep");
		else
			*n = sqlite3_changes(c->db);
		sqlite3_finalize(st);
	}
	return sq_end(s, c, rc, false);
}

enum pos_err sq_crypt_progress(struct pos_store *base, const char *user_id,
			       int64_t *sealed, int64_t *total)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = prep(c, "SELECT coalesce(sum(is_encrypted), 0), count(*)"
				   " FROM memories WHERE user_id = ?1");
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, user_id);
	enum pos_err rc = POS_OK;
	if (sqlite3_step(st) == SQLITE_ROW) {
		*sealed = sqlite3_column_int64(st, 0);
		*total = sqlite3_column_int64(st, 1);
	} else {
		rc = sq_fail(c, "crypt progress");
	}
	sqlite3_finalize(st);
	return rc;
}

enum pos_err sq_crypt_plain_batch(struct pos_store *base, struct pos_arena *a,
				  const char *user_id, int64_t after_seq, size_t max,
				  struct pos_memory **out, size_t *n)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	/* The vector follows SQ_MEM_COLS: model, dim, scale, vec. */
	sqlite3_stmt *st = prep(c, "SELECT " SQ_MEM_COLS ", v.model, v.dim, v.scale, v.vec"
				   " FROM memories m LEFT JOIN memory_vectors v ON v.memory_seq = m.seq"
				   " WHERE m.user_id = ?1 AND m.is_encrypted = 0 AND m.seq > ?2"
				   " ORDER BY m.seq LIMIT ?3");
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, user_id);
	sqlite3_bind_int64(st, 2, after_seq);
	sqlite3_bind_int64(st, 3, (int64_t)max);
	struct pos_memory *v = pos_arena_zalloc(a, (max ? max : 1) * sizeof(*v));
	enum pos_err rc = v ? POS_OK : POS_ERR_NOMEM;
	int step = SQLITE_DONE;
	*n = 0;
	while (!rc && *n < max && (step = sqlite3_step(st)) == SQLITE_ROW) {
		struct pos_memory *m = &v[*n];
		if ((rc = sq_read_memory(a, st, m)))
			break;
		int dim = sqlite3_column_int(st, SQ_MEM_NCOLS + 1);
		if (sqlite3_column_type(st, SQ_MEM_NCOLS + 3) == SQLITE_BLOB && dim > 0 &&
		    sqlite3_column_bytes(st, SQ_MEM_NCOLS + 3) == dim) {
			int8_t *q = pos_arena_alloc(a, (size_t)dim);
			m->vec.model = sq_col_str(a, st, SQ_MEM_NCOLS, NULL);
			if (!q || !m->vec.model) {
				rc = POS_ERR_NOMEM;
				break;
			}
			memcpy(q, sqlite3_column_blob(st, SQ_MEM_NCOLS + 3), (size_t)dim);
			m->vec.q = q;
			m->vec.dim = (unsigned)dim;
			m->vec.scale = (float)sqlite3_column_double(st, SQ_MEM_NCOLS + 2);
		}
		(*n)++;
	}
	if (!rc && step != SQLITE_DONE && step != SQLITE_ROW)
		rc = sq_fail(c, "crypt plain batch");
	sqlite3_finalize(st);
	*out = v;
	return rc;
}

enum pos_err sq_crypt_seal_rows(struct pos_store *base, const struct pos_memory *m,
				size_t n)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	/* The FTS update trigger removes the plain terms and indexes the
	 * tokens in the same transaction. */
	sqlite3_stmt *up = prep(c, "UPDATE memories SET content = ?1, tags = ?2, thread = ?3,"
				   " context = ?4, sealed = ?5, metadata = '{}', attachments = '[]',"
				   " is_encrypted = 1 WHERE seq = ?6 AND updated_at = ?7"
				   " AND is_encrypted = 0");
	sqlite3_stmt *tags = prep(c, "DELETE FROM memory_tags WHERE memory_seq = ?1");
	sqlite3_stmt *vec = prep(c, "UPDATE memory_vectors SET vec = ?2, scale = 0"
				    " WHERE memory_seq = ?1");
	if (!up || !tags || !vec)
		rc = POS_ERR_STORE;
	for (size_t i = 0; !rc && i < n; i++) {
		const struct pos_memory *x = &m[i];
		sqlite3_reset(up);
		sqlite3_bind_text(up, 1, x->content, (int)x->content_len, SQLITE_STATIC);
		sq_bind_str(up, 2, x->tags_json);
		sq_bind_str(up, 3, x->thread);
		sq_bind_str(up, 4, x->context);
		sqlite3_bind_blob(up, 5, x->sealed, (int)x->sealed_len, SQLITE_STATIC);
		sqlite3_bind_int64(up, 6, x->seq);
		sqlite3_bind_int64(up, 7, x->updated_at);
		if (sqlite3_step(up) != SQLITE_DONE) {
			rc = sq_fail(c, "seal row");
			break;
		}
		if (sqlite3_changes(c->db) == 0)
			continue; /* changed meanwhile: the next pass takes it */
		sqlite3_reset(tags);
		sqlite3_bind_int64(tags, 1, x->seq);
		if (sqlite3_step(tags) != SQLITE_DONE) {
			rc = sq_fail(c, "seal tags");
			break;
		}
		if ((rc = sq_insert_tags(c, x->user_id, x->seq, x->tags, x->n_tags)))
			break;
		if (x->vec.sealed) {
			sqlite3_reset(vec);
			sqlite3_bind_int64(vec, 1, x->seq);
			sqlite3_bind_blob(vec, 2, x->vec.sealed, (int)x->vec.sealed_len,
					  SQLITE_STATIC);
			if (sqlite3_step(vec) != SQLITE_DONE)
				rc = sq_fail(c, "seal vector");
		}
	}
	sqlite3_finalize(up);
	sqlite3_finalize(tags);
	sqlite3_finalize(vec);
	return sq_end(s, c, rc, false);
}

enum pos_err sq_crypt_vectors_load(struct pos_store *base, const char *user_id,
				   const char *model,
				   void (*fn)(void *ctx, int64_t seq, const char *id,
					      unsigned dim, float scale,
					      const uint8_t *blob, size_t len),
				   void *ctx)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = prep(c, "SELECT v.memory_seq, v.dim, v.vec, m.id, v.scale"
				   " FROM memory_vectors v JOIN memories m ON m.seq = v.memory_seq"
				   " WHERE v.user_id = ?1 AND v.model = ?2");
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, user_id);
	sq_bind_str(st, 2, model);
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		int dim = sqlite3_column_int(st, 1);
		if (dim <= 0)
			continue;
		const unsigned char *id = sqlite3_column_text(st, 3);
		fn(ctx, sqlite3_column_int64(st, 0), id ? (const char *)id : "", (unsigned)dim,
		   (float)sqlite3_column_double(st, 4), sqlite3_column_blob(st, 2),
		   (size_t)sqlite3_column_bytes(st, 2));
	}
	enum pos_err rc = step == SQLITE_DONE ? POS_OK : sq_fail(c, "crypt vectors load");
	sqlite3_finalize(st);
	return rc;
}

enum pos_err sq_crypt_vector_raw(struct pos_store *base, struct pos_arena *a,
				 const char *user_id, int64_t seq, char id[POS_UUID_SIZE],
				 struct pos_vec *out)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = prep(c, "SELECT v.model, v.dim, v.vec, m.id, v.scale FROM memory_vectors v"
				   " JOIN memories m ON m.seq = v.memory_seq"
				   " WHERE v.memory_seq = ?1 AND m.user_id = ?2");
	if (!st)
		return POS_ERR_STORE;
	sqlite3_bind_int64(st, 1, seq);
	sq_bind_str(st, 2, user_id);
	memset(out, 0, sizeof(*out));
	id[0] = '\0';
	enum pos_err rc = POS_OK;
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		out->model = sq_col_str(a, st, 0, NULL);
		out->dim = (unsigned)sqlite3_column_int(st, 1);
		out->sealed = col_blob(a, st, 2, &out->sealed_len);
		out->scale = (float)sqlite3_column_double(st, 4);
		const unsigned char *t = sqlite3_column_text(st, 3);
		snprintf(id, POS_UUID_SIZE, "%s", t ? (const char *)t : "");
		if (!out->model || !out->sealed)
			rc = POS_ERR_NOMEM;
	} else if (step != SQLITE_DONE) {
		rc = sq_fail(c, "crypt vector get");
	}
	sqlite3_finalize(st);
	return rc;
}

enum pos_err sq_crypt_thread_tail(struct pos_store *base, struct pos_arena *a,
				  const char *user_id, const char *thread, size_t max,
				  struct pos_memory **out, size_t *n)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = prep(c, "SELECT id, is_encrypted, content, sealed FROM memories"
				   " WHERE user_id = ?1 AND thread = ?2 ORDER BY seq DESC LIMIT ?3");
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, user_id);
	sq_bind_str(st, 2, thread);
	sqlite3_bind_int64(st, 3, (int64_t)max);
	struct pos_memory *v = pos_arena_zalloc(a, (max ? max : 1) * sizeof(*v));
	enum pos_err rc = v ? POS_OK : POS_ERR_NOMEM;
	int step = SQLITE_DONE;
	*n = 0;
	while (!rc && *n < max && (step = sqlite3_step(st)) == SQLITE_ROW) {
		struct pos_memory *m = &v[*n];
		const unsigned char *t = sqlite3_column_text(st, 0);
		snprintf(m->id, sizeof(m->id), "%s", t ? (const char *)t : "");
		snprintf(m->user_id, sizeof(m->user_id), "%s", user_id);
		m->is_encrypted = sqlite3_column_int(st, 1) != 0;
		m->content = sq_col_str(a, st, 2, &m->content_len);
		m->sealed = col_blob(a, st, 3, &m->sealed_len);
		if (!m->content)
			rc = POS_ERR_NOMEM;
		(*n)++;
	}
	if (!rc && step != SQLITE_DONE && step != SQLITE_ROW)
		rc = sq_fail(c, "crypt thread tail");
	sqlite3_finalize(st);
	*out = v;
	return rc;
}

enum pos_err sq_compact(struct pos_store *base)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	/* Pending access counts are written first, so the checkpoint takes
	 * everything. */
	sq_access_flush(s);
	pthread_mutex_lock(&s->write_lock);
	enum pos_err rc = POS_OK;
	/* 'optimize' merges every FTS5 segment into one, dropping deleted
	 * terms; secure_delete zeroes the pages it frees. */
	if (sqlite3_exec(c->db, "INSERT INTO memories_fts(memories_fts) VALUES ('optimize')",
			 NULL, NULL, NULL) != SQLITE_OK)
		rc = sq_fail(c, "fts optimize");
	int log = 0, ckpt = 0;
	if (!rc && sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
					     &log, &ckpt) != SQLITE_OK)
		rc = sq_fail(c, "wal checkpoint");
	pthread_mutex_unlock(&s->write_lock);
	return rc;
}
