/*
 * pg_keys.c — raw storage for encryption at rest in the PostgreSQL
 * backend (struct pos_store_keys; a port of sqlite_crypt.c): per-user key
 * material, the data key wrapped per refresh token, sealed rows and
 * vectors as stored, the in-place rewrite of plain rows into sealed ones,
 * and the index's tokenizer. Nothing here sees a key: sealing and opening
 * happen in store/crypt_store.c.
 *
 * The columns live in other domains' tables: users and refresh_tokens
 * (pg_accounts.c), memories, memory_tags and memory_vectors (pgmem's
 * pg_memories.c), so this domain has no DDL of its own. The index is
 * memories.tsv, to_tsvector('pos_english') of content, tags and context
 * (pg_memories.c); index_terms tokenizes the same way.
 */
#include "store/pg_internal.h"

#include <string.h>

#include "base/log.h"

/* Nothing of its own: the key columns are created with their tables. */
const char pg_ddl_keys[] = "";

PG_STMT(st_crypt_get, "SELECT enc_state, enc_salt, enc_kdf, enc_pw_wrap, enc_rk_wrap"
		      " FROM users WHERE id = $1");
PG_STMT(st_crypt_put, "UPDATE users SET enc_state = coalesce($2::text, enc_state),"
		      " enc_salt = coalesce($3::bytea, enc_salt),"
		      " enc_kdf = coalesce($4::text, enc_kdf),"
		      " enc_pw_wrap = coalesce($5::bytea, enc_pw_wrap),"
		      " enc_rk_wrap = coalesce($6::bytea, enc_rk_wrap),"
		      " password_hash = coalesce($7::text, password_hash)"
		      " WHERE id = $1 AND ($8::text IS NULL OR enc_state = $8)");
PG_STMT(st_wrap_get, "SELECT dek_wrap FROM refresh_tokens WHERE hash = $1");
PG_STMT(st_wrap_put, "UPDATE refresh_tokens SET dek_wrap = $2 WHERE hash = $1");
PG_STMT(st_wrap_sweep, "UPDATE refresh_tokens SET dek_wrap = NULL WHERE dek_wrap IS NOT NULL"
		       " AND (expires_at < $1 OR used_at IS NOT NULL)");
PG_STMT(st_progress, "SELECT coalesce(sum(is_encrypted), 0), count(*) FROM memories"
		     " WHERE user_id = $1");
/* the tsvector column is generated: sealing the content re-indexes it
 * (the search tokens replace the plain terms) in the same statement */
PG_STMT(st_seal_row, "UPDATE memories SET content = $1, tags = $2, thread = $3, context = $4,"
		     " sealed = $5, metadata = '{}', attachments = '[]', is_encrypted = 1"
		     " WHERE seq = $6 AND updated_at = $7 AND is_encrypted = 0");
PG_STMT(st_seal_tags_clear, "DELETE FROM memory_tags WHERE memory_seq = $1");
PG_STMT(st_seal_tag, "INSERT INTO memory_tags(user_id, tag, memory_seq) VALUES ($1, $2, $3)"
		     " ON CONFLICT DO NOTHING");
PG_STMT(st_seal_vec, "UPDATE memory_vectors SET vec = $2, scale = 0 WHERE memory_seq = $1");
PG_STMT(st_vectors_raw, "SELECT v.memory_seq, v.dim, v.vec, m.id, v.scale"
			" FROM memory_vectors v JOIN memories m ON m.seq = v.memory_seq"
			" WHERE v.user_id = $1 AND v.model = $2");
PG_STMT(st_vector_raw, "SELECT v.model, v.dim, v.vec, m.id, v.scale FROM memory_vectors v"
		       " JOIN memories m ON m.seq = v.memory_seq"
		       " WHERE v.memory_seq = $1 AND m.user_id = $2");
PG_STMT(st_thread_tail, "SELECT id, is_encrypted, content, sealed FROM memories"
			" WHERE user_id = $1 AND thread = $2 ORDER BY seq DESC LIMIT $3");
/* each token's lexemes in the order of the text, as to_tsvector('pos_english')
 * would index them (stop words have none) */
PG_STMT(st_index_terms, "SELECT l FROM ts_debug('pos_english'::regconfig, $1::text)"
			" WITH ORDINALITY AS d(alias, description, token, dictionaries,"
			" dictionary, lexemes, ord), unnest(d.lexemes) AS l ORDER BY d.ord");

static enum pos_err pg_crypt_get(struct pos_store *s, struct pos_arena *a, const char *user_id,
				 struct pos_user_crypt *out)
{
	memset(out, 0, sizeof(*out));
	struct pg_params p = {0};
	pg_p_text(&p, user_id);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, &st_crypt_get, &p, &r);
	if (!rc && pg_rows(r) == 0)
		rc = POS_ERR_NOT_FOUND;
	if (!rc) {
		out->state = pg_text(a, r, 0, 0);
		out->kdf = pg_text(a, r, 0, 2);
		if (!out->state)
			rc = POS_ERR_NOMEM;
	}
	if (!rc)
		rc = pg_bytes(a, r, 0, 1, &out->salt, &out->salt_len);
	if (!rc)
		rc = pg_bytes(a, r, 0, 3, &out->pw_wrap, &out->pw_wrap_len);
	if (!rc)
		rc = pg_bytes(a, r, 0, 4, &out->rk_wrap, &out->rk_wrap_len);
	PQclear(r);
	return rc;
}

static enum pos_err pg_crypt_put(struct pos_store *s, const char *user_id,
				 const struct pos_user_crypt *in, const char *password_hash,
				 const char *expect)
{
	struct pg_params p = {0};
	pg_p_text(&p, user_id);
	pg_p_text(&p, in->state);
	pg_p_bytes(&p, in->salt, in->salt_len);
	pg_p_text(&p, in->kdf);
	pg_p_bytes(&p, in->pw_wrap, in->pw_wrap_len);
	pg_p_bytes(&p, in->rk_wrap, in->rk_wrap_len);
	pg_p_text(&p, password_hash);
	pg_p_text(&p, expect);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, &st_crypt_put, &p, &r);
	if (!rc && pg_affected(r) == 0)
		rc = expect ? POS_ERR_CONFLICT : POS_ERR_NOT_FOUND;
	PQclear(r);
	return rc;
}

static enum pos_err pg_refresh_wrap_get(struct pos_store *s, struct pos_arena *a,
					const uint8_t *hash, const uint8_t **wrap, size_t *len)
{
	*wrap = NULL;
	*len = 0;
	struct pg_params p = {0};
	pg_p_bytes(&p, hash, 32);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, &st_wrap_get, &p, &r);
	if (!rc && pg_rows(r) > 0)
		rc = pg_bytes(a, r, 0, 0, wrap, len);
	PQclear(r);
	return rc;
}

static enum pos_err pg_refresh_wrap_put(struct pos_store *s, const uint8_t *hash,
					const uint8_t *wrap, size_t len)
{
	struct pg_params p = {0};
	pg_p_bytes(&p, hash, 32);
	pg_p_bytes(&p, wrap, len);
	enum pos_err rc = pg_do(s, &st_wrap_put, &p, NULL);
	return rc;
}

static enum pos_err pg_refresh_wraps_sweep(struct pos_store *s, int64_t now, int64_t *n)
{
	*n = 0;
	struct pg_params p = {0};
	pg_p_i64(&p, now);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, &st_wrap_sweep, &p, &r);
	if (!rc)
		*n = (int64_t)pg_affected(r);
	PQclear(r);
	return rc;
}

static enum pos_err pg_crypt_progress(struct pos_store *s, const char *user_id,
				      int64_t *sealed, int64_t *total)
{
	*sealed = *total = 0;
	struct pg_params p = {0};
	pg_p_text(&p, user_id);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, &st_progress, &p, &r);
	if (!rc && pg_rows(r) > 0) {
		*sealed = pg_i64(r, 0, 0);
		*total = pg_i64(r, 0, 1);
	}
	PQclear(r);
	return rc;
}

#ifdef PG_MEM_COLS
/* Up to `max` of the user's plain memories after `after_seq`, each with
 * its embedding (the vector follows PG_MEM_COLS: model, dim, scale, vec). */
PG_STMT(st_plain_batch, "SELECT " PG_MEM_COLS ", v.model, v.dim, v.scale, v.vec"
			" FROM memories m LEFT JOIN memory_vectors v ON v.memory_seq = m.seq"
			" WHERE m.user_id = $1 AND m.is_encrypted = 0 AND m.seq > $2"
			" ORDER BY m.seq LIMIT $3");

static enum pos_err pg_crypt_plain_batch(struct pos_store *s, struct pos_arena *a,
					 const char *user_id, int64_t after_seq, size_t max,
					 struct pos_memory **out, size_t *n)
{
	*n = 0;
	*out = pos_arena_zalloc(a, (max ? max : 1) * sizeof(**out));
	if (!*out)
		return POS_ERR_NOMEM;
	struct pg_params p = {0};
	pg_p_text(&p, user_id);
	pg_p_i64(&p, after_seq);
	pg_p_i64(&p, (int64_t)max);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, &st_plain_batch, &p, &r);
	for (int i = 0; !rc && i < pg_rows(r) && *n < max; i++) {
		struct pos_memory *m = &(*out)[*n];
		if ((rc = pg_read_memory(a, r, i, 0, m)))
			break;
		int64_t dim = pg_i64(r, i, PG_MEM_NCOLS + 1);
		const uint8_t *q = NULL;
		size_t qlen = 0;
		if ((rc = pg_bytes(a, r, i, PG_MEM_NCOLS + 3, &q, &qlen)))
			break;
		if (q && dim > 0 && qlen == (size_t)dim) {
			m->vec.model = pg_text(a, r, i, PG_MEM_NCOLS);
			if (!m->vec.model) {
				rc = POS_ERR_NOMEM;
				break;
			}
			m->vec.q = (const int8_t *)q;
			m->vec.dim = (unsigned)dim;
			m->vec.scale = (float)pg_f64(r, i, PG_MEM_NCOLS + 2);
		}
		(*n)++;
	}
	PQclear(r);
	return rc;
}
#else
/* A build without the memories domain (pg_pending.c stands in for it). */
static enum pos_err pg_crypt_plain_batch(struct pos_store *s, struct pos_arena *a,
					 const char *user_id, int64_t after_seq, size_t max,
					 struct pos_memory **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	pos_error_log("store(pg): crypt_plain_batch needs the memories domain");
	return POS_ERR_INTERNAL;
}
#endif

static enum pos_err pg_crypt_seal_rows(struct pos_store *s, const struct pos_memory *m,
				       size_t n)
{
	struct pg_conn *c = pg_get(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = pg_begin(c);
	for (size_t i = 0; !rc && i < n; i++) {
		const struct pos_memory *x = &m[i];
		struct pg_params p = {0};
		pg_p_textn(&p, x->content, x->content_len);
		pg_p_text(&p, x->tags_json);
		pg_p_text(&p, x->thread);
		pg_p_text(&p, x->context);
		pg_p_bytes(&p, x->sealed, x->sealed_len);
		pg_p_i64(&p, x->seq);
		pg_p_i64(&p, x->updated_at);
		PGresult *r = NULL;
		if ((rc = pg_run(c, &st_seal_row, &p, &r)))
			break;
		uint64_t changed = pg_affected(r);
		PQclear(r);
		if (changed == 0)
			continue; /* changed meanwhile: the next pass takes it */
		struct pg_params t = {0};
		pg_p_i64(&t, x->seq);
		if ((rc = pg_run(c, &st_seal_tags_clear, &t, NULL)))
			break;
		for (size_t k = 0; !rc && k < x->n_tags; k++) {
			struct pg_params g = {0};
			pg_p_text(&g, x->user_id);
			pg_p_text(&g, x->tags[k]);
			pg_p_i64(&g, x->seq);
			rc = pg_run(c, &st_seal_tag, &g, NULL);
		}
		if (!rc && x->vec.sealed) {
			struct pg_params v = {0};
			pg_p_i64(&v, x->seq);
			pg_p_bytes(&v, x->vec.sealed, x->vec.sealed_len);
			rc = pg_run(c, &st_seal_vec, &v, NULL);
		}
	}
	if (!rc)
		rc = pg_commit(c);
	pg_put(s, c); /* rolls back what did not commit */
	return rc;
}

static enum pos_err pg_crypt_vectors_load(struct pos_store *s, const char *user_id,
					  const char *model,
					  void (*fn)(void *ctx, int64_t seq, const char *id,
						     unsigned dim, float scale,
						     const uint8_t *blob, size_t len),
					  void *ctx)
{
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return POS_ERR_NOMEM;
	struct pg_conn *c = pg_get(s);
	if (!c) {
		pos_arena_destroy(a);
		return POS_ERR_STORE;
	}
	struct pg_params p = {0};
	pg_p_text(&p, user_id);
	pg_p_text(&p, model);
	PGresult *r = NULL;
	enum pos_err rc = pg_run(c, &st_vectors_raw, &p, &r);
	pg_put(s, c); /* the rows are ours: no connection held during the calls */
	for (int i = 0; !rc && i < pg_rows(r); i++) {
		int64_t dim = pg_i64(r, i, 1);
		if (dim <= 0)
			continue;
		const uint8_t *blob = NULL;
		size_t len = 0;
		if ((rc = pg_bytes(a, r, i, 2, &blob, &len)))
			break;
		const char *id = pg_isnull(r, i, 3) ? "" : PQgetvalue(r, i, 3);
		fn(ctx, pg_i64(r, i, 0), id, (unsigned)dim, (float)pg_f64(r, i, 4),
		   blob ? blob : (const uint8_t *)"", len);
		/* one decoded blob at a time: keep the arena small */
		if (i % 256 == 255) {
			pos_arena_destroy(a);
			if (!(a = pos_arena_new()))
				rc = POS_ERR_NOMEM;
		}
	}
	PQclear(r);
	pos_arena_destroy(a);
	return rc;
}

static enum pos_err pg_crypt_vector_raw(struct pos_store *s, struct pos_arena *a,
					const char *user_id, int64_t seq,
					char id[POS_UUID_SIZE], struct pos_vec *out)
{
	memset(out, 0, sizeof(*out));
	id[0] = '\0';
	struct pg_params p = {0};
	pg_p_i64(&p, seq);
	pg_p_text(&p, user_id);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, &st_vector_raw, &p, &r);
	if (!rc && pg_rows(r) > 0) {
		out->model = pg_text(a, r, 0, 0);
		out->dim = (unsigned)pg_i64(r, 0, 1);
		out->scale = (float)pg_f64(r, 0, 4);
		pg_uuid(id, r, 0, 3);
		if (!(rc = pg_bytes(a, r, 0, 2, &out->sealed, &out->sealed_len)) &&
		    (!out->model || !out->sealed))
			rc = POS_ERR_NOMEM;
	}
	PQclear(r);
	return rc;
}

static enum pos_err pg_crypt_thread_tail(struct pos_store *s, struct pos_arena *a,
					 const char *user_id, const char *thread, size_t max,
					 struct pos_memory **out, size_t *n)
{
	*n = 0;
	*out = pos_arena_zalloc(a, (max ? max : 1) * sizeof(**out));
	if (!*out)
		return POS_ERR_NOMEM;
	struct pg_params p = {0};
	pg_p_text(&p, user_id);
	pg_p_text(&p, thread);
	pg_p_i64(&p, (int64_t)max);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, &st_thread_tail, &p, &r);
	for (int i = 0; !rc && i < pg_rows(r) && *n < max; i++) {
		struct pos_memory *m = &(*out)[*n];
		pg_uuid(m->id, r, i, 0);
		snprintf(m->user_id, sizeof(m->user_id), "%s", user_id);
		m->is_encrypted = pg_i64(r, i, 1) != 0;
		m->content = pg_text(a, r, i, 2);
		m->content_len = m->content ? strlen(m->content) : 0;
		if (!m->content)
			rc = POS_ERR_NOMEM;
		else
			rc = pg_bytes(a, r, i, 3, &m->sealed, &m->sealed_len);
		(*n)++;
	}
	PQclear(r);
	return rc;
}

static enum pos_err pg_index_terms(struct pos_store *s, const char *text, size_t len,
				   void (*fn)(void *ctx, const char *term, size_t n), void *ctx)
{
	struct pg_params p = {0};
	pg_p_textn(&p, text ? text : "", text ? len : 0);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, &st_index_terms, &p, &r);
	for (int i = 0; !rc && i < pg_rows(r); i++) {
		if (pg_isnull(r, i, 0))
			continue;
		fn(ctx, PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0));
	}
	PQclear(r);
	return rc;
}

const struct pos_store_keys pg_keys_ops = {
	.crypt_get = pg_crypt_get,
	.crypt_put = pg_crypt_put,
	.refresh_wrap_get = pg_refresh_wrap_get,
	.refresh_wrap_put = pg_refresh_wrap_put,
	.refresh_wraps_sweep = pg_refresh_wraps_sweep,
	.crypt_progress = pg_crypt_progress,
	.crypt_plain_batch = pg_crypt_plain_batch,
	.crypt_seal_rows = pg_crypt_seal_rows,
	.crypt_vectors_load = pg_crypt_vectors_load,
	.crypt_vector_raw = pg_crypt_vector_raw,
	.crypt_thread_tail = pg_crypt_thread_tail,
	.index_terms = pg_index_terms,
};
