/*
 * sqlite_search.c — the reads behind search in the SQLite backend: FTS5
 * BM25 candidates under the same filters as lists, filtered seq sets for
 * the vector scan, hydration of candidate rows, and embedding storage.
 * Statements vary with the filter combination and are cached per
 * connection by filter mask.
 */
#include "store/sqlite_internal.h"
#include "store/sqlite_tok.h"

#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/strdist.h"

sqlite3_stmt *sq_cached_stmt(struct sq_conn *c, sqlite3_stmt **slot,
			     const char *head, unsigned mask, const char *tail)
{
	if (*slot) {
		sqlite3_reset(*slot);
		sqlite3_clear_bindings(*slot);
		return *slot;
	}
	struct pos_buf b;
	pos_buf_init(&b, 4096);
	enum pos_err rc = pos_buf_adds(&b, head);
	if (!rc)
		rc = sq_build_conds(&b, mask);
	if (!rc)
		rc = pos_buf_adds(&b, tail);
	if (!rc && sqlite3_prepare_v3(c->db, b.data, -1, SQLITE_PREPARE_PERSISTENT,
				      slot, NULL) != SQLITE_OK) {
		sq_fail(c, "prepare search");
		*slot = NULL;
	}
	pos_buf_free(&b);
	return *slot;
}

/*
 * Step 1 of a keyword search: FTS5's own top rows by BM25, with no join, so
 * the cost does not grow with a per-match row lookup. Returns rowids and
 * scores of at most `limit` matches (of every user).
 */
static enum pos_err fts_top(struct sq_conn *c, struct pos_arena *a, const char *match,
			    unsigned limit, struct pos_hit **out, size_t *n)
{
	sqlite3_stmt *st = sq_stmt(c, ST_FTS_TOP);
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, match);
	sqlite3_bind_int(st, 2, (int)limit);
	struct pos_hit *v = pos_arena_alloc(a, (limit ? limit : 1) * sizeof(*v));
	if (!v)
		return POS_ERR_NOMEM;
	*n = 0;
	int step;
	while (*n < limit && (step = sqlite3_step(st)) == SQLITE_ROW) {
		v[*n].seq = sqlite3_column_int64(st, 0);
		v[*n].score = -sqlite3_column_double(st, 1);
		(*n)++;
	}
	enum pos_err rc = step == SQLITE_DONE || step == SQLITE_ROW ? POS_OK
								     : sq_fail(c, "keyword top");
	sqlite3_reset(st);
	*out = v;
	return rc;
}

/* Step 2: which of `hits` are the user's and pass the filters, in order. */
static enum pos_err keep_users(struct sq_conn *c, struct pos_arena *a,
			       const struct pos_memory_query *q, struct pos_hit *hits,
			       size_t n, size_t *kept)
{
	unsigned mask = sq_filter_mask(q);
	sqlite3_stmt *st = NULL;
	struct pos_buf b, ids;
	pos_buf_init(&b, 4096);
	pos_buf_init(&ids, 64 * 1024 * 1024);
	enum pos_err rc = pos_buf_adds(&b, "SELECT m.seq FROM json_each(?9) j"
					   " CROSS JOIN memories m ON m.seq = j.value"
					   " WHERE m.user_id = ?1");
	if (!rc)
		rc = sq_build_conds(&b, mask);
	struct pos_jw w;
	pos_jw_init(&w, &ids);
	pos_jw_arr(&w);
	for (size_t i = 0; i < n; i++)
		pos_jw_int(&w, hits[i].seq);
	pos_jw_arr_end(&w);
	if (!rc)
		rc = w.rc;
	if (!rc && sqlite3_prepare_v2(c->db, b.data, -1, &st, NULL) != SQLITE_OK)
		rc = sq_fail(c, "prepare keep");
	/* A bitmap over the candidates' seq range marks the survivors. */
	int64_t lo = INT64_MAX, hi = INT64_MIN;
	for (size_t i = 0; i < n; i++) {
		lo = hits[i].seq < lo ? hits[i].seq : lo;
		hi = hits[i].seq > hi ? hits[i].seq : hi;
	}
	uint64_t *bits = NULL;
	if (!rc && n) {
		bits = pos_arena_zalloc(a, ((size_t)(hi - lo) / 64 + 1) * sizeof(*bits));
		if (!bits)
			rc = POS_ERR_NOMEM;
	}
	if (!rc) {
		sq_bind_filters(st, q, mask);
		sqlite3_bind_text(st, 9, ids.data, (int)ids.len, SQLITE_STATIC);
		int step;
		while ((step = sqlite3_step(st)) == SQLITE_ROW) {
			size_t off = (size_t)(sqlite3_column_int64(st, 0) - lo);
			bits[off / 64] |= 1ull << (off % 64);
		}
		if (step != SQLITE_DONE)
			rc = sq_fail(c, "keep");
	}
	*kept = 0;
	for (size_t i = 0; !rc && i < n; i++) {
		size_t off = (size_t)(hits[i].seq - lo);
		if (bits[off / 64] >> (off % 64) & 1)
			hits[(*kept)++] = hits[i];
	}
	sqlite3_finalize(st);
	pos_buf_free(&b);
	pos_buf_free(&ids);
	return rc;
}

/* Chat exchanges a plain search may read past before falling back to the
 * join (their own index, ST_CHAT_SEQS; docs/SEARCH.md, "Keyword top-k"). */
#define KEEP_CHAT_MAX 65536

static int cmp_seq(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* No filter but the hiding of chat exchanges (sq_filter_mask's others). */
static bool no_filters(const struct pos_memory_query *q)
{
	return q->type < 0 && q->layer < 0 && !q->source && !q->n_tags &&
	       q->after == POS_TIME_NONE && q->before == POS_TIME_NONE && !q->fts_require &&
	       !q->fts_exclude;
}

/*
 * Step 2 for the user's own index without filters: its hits are the
 * user's rows already (a per-user index, caught up with the change log
 * before it answered), so only the chat exchanges a filterless search
 * hides need leaving out — read through their partial index, at a cost
 * that follows the number of exchanges, not a row lookup per candidate
 * (which was a third of a hybrid search's CPU at 100k memories). A row
 * deleted after the catch-up is dropped where the hits are read.
 * *done false: too many exchanges, use keep_users.
 */
static enum pos_err keep_plain(struct sq_conn *c, struct pos_arena *a,
			       const struct pos_memory_query *q, struct pos_hit *hits,
			       size_t n, size_t *kept, bool *done)
{
	*done = false;
	*kept = n;
	if (!q->hide_chat) {
		*done = true;
		return POS_OK;
	}
	sqlite3_stmt *st = sq_stmt(c, ST_CHAT_SEQS);
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, q->user_id);
	sqlite3_bind_int64(st, 2, KEEP_CHAT_MAX + 1);
	size_t nc = 0, cap = 0;
	int64_t *chat = NULL;
	enum pos_err rc = POS_OK;
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (nc == cap) {
			size_t ncap = cap ? cap * 4 : 64;
			int64_t *v = pos_arena_alloc(a, ncap * sizeof(*v));
			if (!v) {
				rc = POS_ERR_NOMEM;
				break;
			}
			if (nc)
				memcpy(v, chat, nc * sizeof(*v));
			chat = v;
			cap = ncap;
		}
		chat[nc++] = sqlite3_column_int64(st, 0);
	}
	if (!rc && step != SQLITE_DONE)
		rc = sq_fail(c, "keep chat");
	sqlite3_reset(st);
	if (rc || nc > KEEP_CHAT_MAX)
		return rc;
	/* ST_CHAT_SEQS reads in seq order: a binary search each */
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!nc || !bsearch(&hits[i].seq, chat, nc, sizeof(*chat), cmp_seq))
			hits[k++] = hits[i];
	*kept = k;
	*done = true;
	return POS_OK;
}

enum pos_err sq_keyword_search(struct pos_store *base, struct pos_arena *a,
			       const struct pos_memory_query *q, const char *match,
			       struct pos_hit **out, size_t *n)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	/*
	 * Fast path: FTS5's best 4×limit rows overall, then keep the user's
	 * that pass the filters. When that yields `limit` hits, they are the
	 * user's best (every better row was looked at). Otherwise — many
	 * users, or selective filters — fall back to the exact join below.
	 */
	unsigned wide = q->limit * 4;
	struct pos_hit *top = NULL;
	size_t ntop = 0, kept = 0;
	/*
	 * The user's own best from the in-memory index when it can answer
	 * this match (docs/SEARCH.md, "Keyword top-k"): `limit` first, as
	 * they are the user's, and 4×limit only when filters left too few;
	 * else FTS5's best 4×limit of every user.
	 */
	bool used = false;
	enum pos_err rc = POS_OK;
	unsigned asked = wide;
	for (unsigned want = q->limit; q->user_id && !rc && want; want = want < wide ? wide : 0) {
		asked = want;
		rc = sq_kw_top((struct sq_store *)base, c, a, q->user_id, match, want, &top, &ntop,
			       &used);
		bool done = false;
		if (!rc && used && no_filters(q))
			rc = keep_plain(c, a, q, top, ntop, &kept, &done);
		if (!rc && used && !done)
			rc = keep_users(c, a, q, top, ntop, &kept);
		if (rc || !used || kept >= q->limit || ntop < want)
			break;
	}
	if (!rc && !used) {
		asked = wide;
		rc = fts_top(c, a, match, wide, &top, &ntop);
		if (!rc)
			rc = keep_users(c, a, q, top, ntop, &kept);
	}
	if (rc)
		return rc;
	if (kept >= q->limit || ntop < asked) {
		*out = top;
		*n = kept < q->limit ? kept : q->limit;
		return POS_OK;
	}
	unsigned mask = sq_filter_mask(q);
	sqlite3_stmt *st = sq_cached_stmt(c, &c->keyword[mask],
		"SELECT memories_fts.rowid, bm25(memories_fts, 1.0, 1.0, 0.4) AS s"
		" FROM memories_fts CROSS JOIN memories m ON m.seq = memories_fts.rowid"
		" WHERE memories_fts MATCH ?10 AND m.user_id = ?1", mask,
		" ORDER BY s LIMIT ?8");
	if (!st)
		return POS_ERR_STORE;
	sq_bind_filters(st, q, mask);
	sq_bind_str(st, 10, match);
	sqlite3_bind_int(st, 8, (int)q->limit);
	*n = 0;
	struct pos_hit *v = pos_arena_alloc(a, (q->limit ? q->limit : 1) * sizeof(*v));
	if (!v)
		return POS_ERR_NOMEM;
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW && *n < q->limit) {
		v[*n].seq = sqlite3_column_int64(st, 0);
		v[*n].score = -sqlite3_column_double(st, 1);
		(*n)++;
	}
	if (step != SQLITE_DONE && step != SQLITE_ROW) {
		/* A MATCH syntax error would be our bug (the parser quotes
		 * everything), not the client's. */
		rc = sq_fail(c, "keyword search");
	}
	sqlite3_reset(st);
	*out = v;
	return rc;
}

enum pos_err sq_filter_seqs(struct pos_store *base, struct pos_arena *a,
			    const struct pos_memory_query *q, size_t max,
			    int64_t **out, size_t *n)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st, *walk = NULL;
	if (q->chat_only) {
		if (!(st = sq_stmt(c, ST_CHAT_SEQS)))
			return POS_ERR_STORE;
		sq_bind_str(st, 1, q->user_id);
		sqlite3_bind_int64(st, 2, (int64_t)max);
	} else {
		unsigned mask = sq_filter_mask(q);
		if (q->seq_walk) {
			/* `+` keeps the planner off the user's index (whose
			 * order is created_at): the rowid range, in order */
			struct pos_buf b;
			pos_buf_init(&b, 4096);
			enum pos_err brc = pos_buf_adds(&b, "SELECT m.seq FROM memories m"
						       " WHERE +m.user_id = ?1 AND m.seq > ?13");
			if (!brc)
				brc = sq_build_conds(&b, mask);
			if (!brc)
				brc = pos_buf_adds(&b, " ORDER BY m.seq LIMIT ?8");
			walk = NULL;
			if (!brc && sqlite3_prepare_v2(c->db, b.data, -1, &walk, NULL) != SQLITE_OK) {
				sq_fail(c, "prepare seq walk");
				walk = NULL;
			}
			pos_buf_free(&b);
			st = walk;
		} else {
			st = sq_cached_stmt(c, &c->filter[mask],
				"SELECT m.seq FROM memories m WHERE m.user_id = ?1 AND m.seq > ?13",
				mask, " ORDER BY m.seq LIMIT ?8");
		}
		if (!st)
			return POS_ERR_STORE;
		sq_bind_filters(st, q, mask);
		sqlite3_bind_int64(st, 8, (int64_t)max);
		sqlite3_bind_int64(st, 13, q->after_seq);
	}
	size_t cap = 1024;
	int64_t *v = pos_arena_alloc(a, cap * sizeof(*v));
	enum pos_err rc = v ? POS_OK : POS_ERR_NOMEM;
	int step = SQLITE_DONE;
	*n = 0;
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			int64_t *nv = pos_arena_alloc(a, 2 * cap * sizeof(*v));
			if (!nv) {
				rc = POS_ERR_NOMEM;
				break;
			}
			memcpy(nv, v, cap * sizeof(*v));
			v = nv;
			cap *= 2;
		}
		v[(*n)++] = sqlite3_column_int64(st, 0);
	}
	if (!rc && step != SQLITE_DONE)
		rc = sq_fail(c, "filter seqs");
	sqlite3_reset(st);
	sqlite3_finalize(walk);
	*out = v;
	return rc;
}

struct pos_idx {
	int64_t seq;
	size_t i;
};

static int cmp_idx(const void *x, const void *y)
{
	const struct pos_idx *a = x, *b = y;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* What ranking reads of a row of ST_RANK_FIELDS (sq_memories_rank_fields). */
static enum pos_err read_rank_fields(struct pos_arena *a, sqlite3_stmt *st,
				     struct pos_memory *m)
{
	memset(m, 0, sizeof(*m));
	m->seq = sqlite3_column_int64(st, 0);
	const unsigned char *t = sqlite3_column_text(st, 1);
	snprintf(m->id, sizeof(m->id), "%s", t ? (const char *)t : "");
	int ty = pos_mem_type_parse((const char *)sqlite3_column_text(st, 2));
	int la = pos_mem_layer_parse((const char *)sqlite3_column_text(st, 3));
	if (ty < 0 || la < 0) {
		pos_error_log("store: memory row with unknown type or layer");
		return POS_ERR_CORRUPT;
	}
	m->type = (enum pos_mem_type)ty;
	m->layer = (enum pos_mem_layer)la;
	m->created_at = sqlite3_column_int64(st, 4);
	m->last_accessed_at = POS_TIME_NONE;
	m->importance = sqlite3_column_double(st, 5);
	m->access_count = sqlite3_column_int64(st, 6);
	m->thread = sq_col_str(a, st, 7, NULL); /* thread credit */
	return POS_OK;
}

/* Reads the user's rows with the given seqs through statement `id`
 * (?1 the user, ?2 the seqs as a JSON array), each row by `read`, into
 * out[i] for seqs[i]. */
static enum pos_err by_seq(struct sq_store *s, struct pos_arena *a, const char *user_id,
			   const int64_t *seqs, size_t n, struct pos_memory *out, bool *found,
			   enum sq_stmt id,
			   enum pos_err (*read)(struct pos_arena *a, sqlite3_stmt *st,
						struct pos_memory *m))
{
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	memset(found, 0, n * sizeof(*found));
	if (!n)
		return POS_OK;
	struct pos_buf ids;
	pos_buf_init(&ids, 64 * 1024 * 1024);
	struct pos_jw w;
	pos_jw_init(&w, &ids);
	pos_jw_arr(&w);
	for (size_t i = 0; i < n; i++)
		pos_jw_int(&w, seqs[i]);
	pos_jw_arr_end(&w);
	struct pos_idx *order = pos_arena_alloc(a, n * sizeof(*order));
	if (w.rc || !order) {
		pos_buf_free(&ids);
		return POS_ERR_NOMEM;
	}
	for (size_t i = 0; i < n; i++)
		order[i] = (struct pos_idx){seqs[i], i};
	qsort(order, n, sizeof(*order), cmp_idx);
	enum pos_err rc = POS_OK;
	/* One cached statement: every search hydrates its candidates, and
	 * parsing the statement each time was about a quarter of the
	 * hydration's CPU. */
	sqlite3_stmt *st = sq_stmt(c, id);
	if (!st) {
		pos_buf_free(&ids);
		return POS_ERR_STORE;
	}
	sq_bind_str(st, 1, user_id);
	sqlite3_bind_text(st, 2, ids.data, (int)ids.len, SQLITE_STATIC);
	sq_access_read_begin(s);
	int step;
	struct pos_memory m;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = read(a, st, &m)))
			break;
		sq_access_overlay(s, &m);
		struct pos_idx key = {m.seq, 0};
		struct pos_idx *hit = bsearch(&key, order, n, sizeof(*order), cmp_idx);
		/* Duplicated seqs in the input: fill every position. */
		while (hit && hit > order && hit[-1].seq == m.seq)
			hit--;
		for (; hit && hit < order + n && hit->seq == m.seq; hit++) {
			out[hit->i] = m;
			found[hit->i] = true;
		}
	}
	if (!rc && step != SQLITE_DONE)
		rc = sq_fail(c, "hydrate");
	sq_access_read_end(s);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st); /* ids.data is freed below */
	pos_buf_free(&ids);
	return rc;
}

enum pos_err sq_memories_by_seq(struct pos_store *base, struct pos_arena *a,
				const char *user_id, const int64_t *seqs, size_t n,
				struct pos_memory *out, bool *found)
{
	return by_seq((struct sq_store *)base, a, user_id, seqs, n, out, found, ST_HYDRATE,
		      sq_read_memory);
}

enum pos_err sq_memories_rank_fields(struct pos_store *base, struct pos_arena *a,
				     const char *user_id, const int64_t *seqs, size_t n,
				     struct pos_memory *out, bool *found)
{
	return by_seq((struct sq_store *)base, a, user_id, seqs, n, out, found, ST_RANK_FIELDS,
		      read_rank_fields);
}

enum pos_err sq_vectors_load(struct pos_store *base, const char *user_id,
			     const char *model,
			     void (*fn)(void *ctx, int64_t seq, float scale,
					const int8_t *q, unsigned dim),
			     void *ctx)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c->db, "SELECT memory_seq, scale, vec, dim FROM memory_vectors"
				      " WHERE user_id = ?1 AND model = ?2",
			       -1, &st, NULL) != SQLITE_OK)
		return sq_fail(c, "prepare vectors");
	sq_bind_str(st, 1, user_id);
	sq_bind_str(st, 2, model);
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		int dim = sqlite3_column_int(st, 3);
		if (dim <= 0 || sqlite3_column_bytes(st, 2) != dim)
			continue; /* damaged row: skip; the backfill rewrites it */
		fn(ctx, sqlite3_column_int64(st, 0), (float)sqlite3_column_double(st, 1),
		   sqlite3_column_blob(st, 2), (unsigned)dim);
	}
	enum pos_err rc = step == SQLITE_DONE ? POS_OK : sq_fail(c, "vectors load");
	sqlite3_finalize(st);
	return rc;
}

enum pos_err sq_vectors_missing_count(struct pos_store *base, const char *model,
				      const char *user_id, int64_t *n)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	*n = 0;
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c->db,
			       "SELECT count(*) FROM memories m"
			       " LEFT JOIN memory_vectors v ON v.memory_seq = m.seq"
			       " WHERE m.user_id = ?2 AND (v.memory_seq IS NULL OR v.model != ?1)",
			       -1, &st, NULL) != SQLITE_OK)
		return sq_fail(c, "prepare vectors missing count");
	sq_bind_str(st, 1, model);
	sq_bind_str(st, 2, user_id);
	enum pos_err rc = POS_OK;
	if (sqlite3_step(st) == SQLITE_ROW)
		*n = sqlite3_column_int64(st, 0);
	else
		rc = sq_fail(c, "vectors missing count");
	sqlite3_finalize(st);
	return rc;
}

enum pos_err sq_vectors_missing(struct pos_store *base, struct pos_arena *a,
				const char *model, const char *user_id, int64_t after_seq,
				size_t max, struct pos_memory **out, size_t *n)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c->db,
			       "SELECT m.seq, m.user_id, m.content, m.context, m.updated_at FROM memories m"
			       " LEFT JOIN memory_vectors v ON v.memory_seq = m.seq"
			       " WHERE m.seq > ?2 AND (v.memory_seq IS NULL OR v.model != ?1)"
			       " AND (?4 IS NULL OR m.user_id = ?4)"
			       " ORDER BY m.seq LIMIT ?3",
			       -1, &st, NULL) != SQLITE_OK)
		return sq_fail(c, "prepare vectors missing");
	sq_bind_str(st, 1, model);
	if (user_id)
		sq_bind_str(st, 4, user_id);
	sqlite3_bind_int64(st, 2, after_seq);
	sqlite3_bind_int64(st, 3, (int64_t)max);
	struct pos_memory *v = pos_arena_zalloc(a, (max ? max : 1) * sizeof(*v));
	enum pos_err rc = v ? POS_OK : POS_ERR_NOMEM;
	int step = SQLITE_DONE;
	*n = 0;
	while (!rc && *n < max && (step = sqlite3_step(st)) == SQLITE_ROW) {
		struct pos_memory *m = &v[*n];
		m->seq = sqlite3_column_int64(st, 0);
		const unsigned char *u = sqlite3_column_text(st, 1);
		snprintf(m->user_id, sizeof(m->user_id), "%s", u ? (const char *)u : "");
		m->content = sq_col_str(a, st, 2, &m->content_len);
		m->context = sq_col_str(a, st, 3, NULL);
		m->updated_at = sqlite3_column_int64(st, 4);
		if (!m->content)
			rc = POS_ERR_NOMEM;
		(*n)++;
	}
	if (!rc && step != SQLITE_DONE && step != SQLITE_ROW)
		rc = sq_fail(c, "vectors missing");
	sqlite3_finalize(st);
	*out = v;
	return rc;
}

enum pos_err sq_vectors_put(struct pos_store *base, const struct pos_memory *m,
			    size_t n)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	for (size_t i = 0; i < n && !rc; i++) {
		/* Deleted or edited since it was read: skip it (an edit left it
		 * without a vector, so its new text comes round again). */
		sqlite3_stmt *chk = sq_stmt(c, ST_MEM_SEQ_EXISTS);
		if (!chk) {
			rc = POS_ERR_STORE;
			break;
		}
		sqlite3_bind_int64(chk, 1, m[i].seq);
		sqlite3_bind_int64(chk, 2, m[i].updated_at);
		int exists = sqlite3_step(chk) == SQLITE_ROW;
		sqlite3_reset(chk);
		if (exists)
			rc = sq_vec_put(c, m[i].seq, m[i].user_id, &m[i].vec);
	}
	return sq_end(s, c, rc, false);
}

enum pos_err sq_thread_tail(struct pos_store *base, struct pos_arena *a,
			    const char *user_id, const char *thread, size_t max,
			    const char **out, size_t *n)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = sq_stmt(c, ST_THREAD_TAIL);
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, user_id);
	sq_bind_str(st, 2, thread);
	sqlite3_bind_int64(st, 3, (int64_t)max);
	enum pos_err rc = POS_OK;
	int step;
	*n = 0;
	while (*n < max && (step = sqlite3_step(st)) == SQLITE_ROW) {
		if (!(out[*n] = sq_col_str(a, st, 0, NULL))) {
			rc = POS_ERR_NOMEM;
			break;
		}
		(*n)++;
	}
	sqlite3_reset(st);
	return rc;
}

/* ---- document frequencies ---- */

static fts5_api *fts5_api_of(sqlite3 *db)
{
	fts5_api *api = NULL;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
		sqlite3_step(st);
	}
	sqlite3_finalize(st);
	return api;
}

/* The tokenizer of memories_fts, created once per connection. */
enum pos_err sq_tokenizer(struct sq_conn *c)
{
	if (c->fts_tok)
		return POS_OK;
	fts5_api *api = fts5_api_of(c->db);
	if (!api)
		return sq_fail(c, "fts5 api");
	void *ud = NULL;
	fts5_tokenizer t;
	if (api->xFindTokenizer(api, SQ_TOK_NAME, &ud, &t) != SQLITE_OK)
		return sq_fail(c, "fts5 tokenizer");
	Fts5Tokenizer *tok = NULL;
	if (t.xCreate(ud, NULL, 0, &tok) != SQLITE_OK)
		return sq_fail(c, "fts5 tokenizer create");
	/* Keep the method table with the instance. */
	fts5_tokenizer *m = pos_malloc(sizeof(*m));
	if (!m) {
		t.xDelete(tok);
		return POS_ERR_NOMEM;
	}
	*m = t;
	c->fts_tok = tok;
	c->fts_tok_api = m;
	return POS_OK;
}

void sq_tokenizer_free(struct sq_conn *c)
{
	if (c->fts_tok) {
		const fts5_tokenizer *m = c->fts_tok_api;
		m->xDelete(c->fts_tok);
		pos_free((void *)m);
		c->fts_tok = NULL;
		c->fts_tok_api = NULL;
	}
}

struct df_ctx {
	struct sq_conn *c;
	int64_t min_df;
	bool any;
	enum pos_err rc;
};

static int on_token(void *ctx, int flags, const char *tok, int n, int start, int end)
{
	struct df_ctx *d = ctx;
	if (d->rc || (flags & FTS5_TOKEN_COLOCATED))
		return SQLITE_OK;
	int64_t df = 0;
	enum pos_err rc = sq_kw_df(d->c->owner, d->c, tok, (size_t)n, &df);
	if (rc)
		d->rc = rc;
	if (!d->any || df < d->min_df)
		d->min_df = df;
	d->any = true;
	return SQLITE_OK;
}

enum pos_err sq_term_frequency(struct pos_store *base, const char *word,
			       int64_t *df, int64_t *docs)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_tokenizer(c);
	if (rc)
		return rc;
	const fts5_tokenizer *m = c->fts_tok_api;
	struct df_ctx d = {c, 0, false, POS_OK};
	m->xTokenize(c->fts_tok, &d, FTS5_TOKENIZE_QUERY, word, (int)strlen(word), on_token);
	if (d.rc)
		return d.rc;
	*df = d.any ? d.min_df : 0;
	return docs ? sq_memory_count_all(base, docs) : POS_OK;
}


enum pos_err sq_stem_near(struct pos_store *base, const char *stem, size_t len, bool *near)
{
	*near = false;
	if (len < 4 || len > 64)
		return POS_OK;
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = sq_stmt(c, ST_VOCAB_RANGE);
	if (!st)
		return POS_ERR_STORE;
	char lo[3] = {stem[0], stem[1], '\0'}, hi[3] = {stem[0], (char)(stem[1] + 1), '\0'};
	if ((unsigned char)stem[1] == 0xff)
		return POS_OK;
	sqlite3_bind_text(st, 1, lo, 2, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, hi, 2, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, POS_STEM_NEAR_SCAN);
	size_t max = len >= 7 ? 2 : 1;
	int step;
	while (!*near && (step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);
		size_t tl = (size_t)sqlite3_column_bytes(st, 0);
		if (!t)
			continue;
		size_t common = tl < len ? tl : len;
		if (common >= 4 && memcmp(t, stem, common) == 0)
			*near = true; /* photo / photograph, meetng / meet */
		else if (pos_osa_distance(stem, len, t, tl, max) <= max)
			*near = true; /* restuar / restaur */
	}
	enum pos_err rc = POS_OK;
	if (!*near && step != SQLITE_DONE)
		rc = sq_fail(c, "vocabulary range");
	sqlite3_reset(st);
	return rc;
}

enum pos_err sq_stem_frequency(struct pos_store *base, const char *stem, size_t len,
			       int64_t *df)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	return sq_kw_df((struct sq_store *)base, c, stem, len, df);
}

enum pos_err sq_vector_get(struct pos_store *base, struct pos_arena *a,
			   const char *user_id, int64_t seq, struct pos_vec *out)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = sq_stmt(c, ST_VEC_GET);
	if (!st)
		return POS_ERR_STORE;
	sqlite3_bind_int64(st, 1, seq);
	sq_bind_str(st, 2, user_id);
	memset(out, 0, sizeof(*out));
	enum pos_err rc = POS_OK;
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		int dim = sqlite3_column_int(st, 1);
		if (dim > 0 && sqlite3_column_bytes(st, 3) == dim) {
			int8_t *q = pos_arena_alloc(a, (size_t)dim);
			out->model = sq_col_str(a, st, 0, NULL);
			if (!q || !out->model) {
				rc = POS_ERR_NOMEM;
			} else {
				memcpy(q, sqlite3_column_blob(st, 3), (size_t)dim);
				out->q = q;
				out->dim = (unsigned)dim;
				out->scale = (float)sqlite3_column_double(st, 2);
			}
		}
	} else if (step != SQLITE_DONE) {
		rc = sq_fail(c, "vector get");
	}
	sqlite3_reset(st);
	return rc;
}

/* ---- encryption at rest: the index terms of a text (docs/ENCRYPTION.md) */

struct terms_ctx {
	void (*fn)(void *ctx, const char *term, size_t n);
	void *ctx;
};

static int on_term(void *ctx, int flags, const char *tok, int n, int start, int end)
{
	(void)start;
	(void)end;
	struct terms_ctx *t = ctx;
	if (!(flags & FTS5_TOKEN_COLOCATED) && n > 0)
		t->fn(t->ctx, tok, (size_t)n);
	return SQLITE_OK;
}

enum pos_err sq_index_terms(struct pos_store *base, const char *text, size_t len,
			    void (*fn)(void *ctx, const char *term, size_t n), void *ctx)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_tokenizer(c);
	if (rc)
		return rc;
	if (!len)
		return POS_OK;
	const fts5_tokenizer *m = c->fts_tok_api;
	struct terms_ctx t = {fn, ctx};
	if (m->xTokenize(c->fts_tok, &t, FTS5_TOKENIZE_DOCUMENT, text, (int)len, on_term) !=
	    SQLITE_OK)
		return sq_fail(c, "tokenize");
	return POS_OK;
}
