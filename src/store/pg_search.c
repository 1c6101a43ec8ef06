/*
 * pg_search.c — the reads behind search in the PostgreSQL backend:
 * keyword candidates from the `tsv` GIN index ranked by BM25 computed from
 * the vocabulary table (docs/SEARCH.md, PostgreSQL), document frequencies
 * and near stems, filtered seq sets for the vector scan, hydration of
 * candidate rows, thread tails and embedding storage (bytea).
 */
#include "store/pg_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/strdist.h"

/* Embeddings read per round trip when loading a user's index. */
#define VEC_PAGE 4096

/*
 * BM25 (k1 = 1.2, b = 0.75) over the query's stems, as FTS5's bm25(): idf
 * from memory_terms (every user's memories, like FTS5's statistics), the
 * term frequency from the tsvector's positions (weight B, the thread
 * context, counting 0.4 as bm25(memories_fts, 1, 1, 0.4) does), the
 * document length in distinct stems against the average. PostgreSQL finds
 * the matches through the GIN index; the scoring runs here over each
 * match's tsvector text, which costs far less than doing it in SQL.
 */
#define BM25_K1 1.2
#define BM25_B 0.75
#define MAX_QTERMS 64

PG_STMT(st_query_terms,
	"SELECT w.x, coalesce(t.df, 0), tot.docs, tot.lexemes"
	" FROM (SELECT DISTINCT unnest(tsvector_to_array(to_tsvector('pos_english'::regconfig, $1))))"
	" AS w(x) LEFT JOIN memory_terms t ON t.term = w.x COLLATE \"C\","
	" memory_terms_total tot WHERE tot.id = 1");

struct qterm {
	const char *lex;
	size_t len;
	double idf;
};

struct scored {
	int64_t seq;
	double score;
};

static int cmp_scored(const void *x, const void *y)
{
	const struct scored *a = x, *b = y;
	if (a->score != b->score)
		return a->score > b->score ? -1 : 1;
	return a->seq > b->seq ? -1 : a->seq < b->seq;
}

/* The BM25 score of one tsvector text ('lex':1A,2B 'other':3 ...). */
static double bm25_of(const char *t, double len, double avgdl, const struct qterm *q,
		      size_t nq)
{
	double score = 0;
	char lex[256];
	while (*t) {
		while (*t == ' ')
			t++;
		if (*t != '\'')
			break;
		size_t n = 0;
		bool fits = true;
		for (t++; *t; t++) {
			if (*t == '\'' && t[1] == '\'')
				t++;
			else if (*t == '\'')
				break;
			else if (*t == '\\' && t[1])
				t++;
			if (n + 1 < sizeof(lex))
				lex[n++] = *t;
			else
				fits = false;
		}
		if (*t == '\'')
			t++;
		double tf = 0;
		if (*t == ':') {
			for (t++; *t && *t != ' ';) {
				while (*t >= '0' && *t <= '9')
					t++;
				tf += *t == 'B' ? 0.4 : 1.0;
				while (*t && *t != ',' && *t != ' ')
					t++;
				if (*t == ',')
					t++;
			}
		} else {
			tf = 1;
		}
		for (size_t i = 0; fits && i < nq; i++) {
			if (q[i].len == n && memcmp(q[i].lex, lex, n) == 0) {
				score += q[i].idf * tf * (BM25_K1 + 1) /
					 (tf + BM25_K1 * (1 - BM25_B + BM25_B * len / avgdl));
				break;
			}
		}
	}
	return score;
}

/* The query's stems with their idf, and the average document length. */
static enum pos_err query_terms(struct pg_conn *c, struct pos_arena *a, const char *words,
				struct qterm **out, size_t *n, double *avgdl)
{
	*n = 0;
	*avgdl = 1;
	struct pg_params p = {0};
	pg_p_text(&p, words);
	PGresult *r = NULL;
	enum pos_err rc = pg_run(c, &st_query_terms, &p, &r);
	int rows = rc ? 0 : PQntuples(r);
	if (rows > MAX_QTERMS)
		rows = MAX_QTERMS;
	struct qterm *v = pos_arena_alloc(a, (size_t)(rows ? rows : 1) * sizeof(*v));
	if (!rc && !v)
		rc = POS_ERR_NOMEM;
	for (int i = 0; !rc && i < rows; i++) {
		double docs = (double)pg_i64(r, i, 2), df = (double)pg_i64(r, i, 1);
		if (docs < 1)
			docs = 1;
		double lexemes = (double)pg_i64(r, i, 3);
		*avgdl = lexemes / docs > 1 ? lexemes / docs : 1;
		if (df <= 0)
			continue; /* in no memory: contributes nothing */
		if (!(v[*n].lex = pg_text(a, r, i, 0))) {
			rc = POS_ERR_NOMEM;
			break;
		}
		v[*n].len = strlen(v[*n].lex);
		v[*n].idf = log(1.0 + (docs - df + 0.5) / (df + 0.5));
		(*n)++;
	}
	PQclear(r);
	*out = v;
	return rc;
}

enum pos_err pg_keyword_search(struct pos_store *s, struct pos_arena *a,
			       const struct pos_memory_query *q, const char *match,
			       struct pos_hit **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	const char *words = pg_match_words(a, match);
	if (!words)
		return POS_ERR_NOMEM;
	/* the matches: the tsquery computed once (materialized), then the
	 * GIN index; the scoring needs each one's tsvector */
	struct pg_sql sql;
	pg_sql_init(&sql, a);
	pg_sql_add(&sql, "WITH qq AS MATERIALIZED (SELECT ");
	pg_sql_tsquery(&sql, match);
	pg_sql_add(&sql, " AS tq) SELECT m.seq, length(m.tsv), m.tsv::text FROM memories m, qq"
			 " WHERE m.user_id = ");
	pg_sql_text(&sql, q->user_id);
	pg_sql_filters(&sql, q);
	pg_sql_add(&sql, " AND m.tsv @@ qq.tq");
	struct pg_conn *c = pg_get(s);
	if (!c) {
		pg_sql_free(&sql);
		return POS_ERR_STORE;
	}
	struct qterm *qt = NULL;
	size_t nq = 0;
	double avgdl = 1;
	PGresult *r = NULL;
	enum pos_err rc = query_terms(c, a, words, &qt, &nq, &avgdl);
	if (!rc)
		rc = pg_sql_run(c, &sql, &r);
	pg_put(s, c);
	pg_sql_free(&sql);
	int rows = rc ? 0 : PQntuples(r);
	struct scored *v = pos_arena_alloc(a, (size_t)(rows ? rows : 1) * sizeof(*v));
	if (!rc && !v)
		rc = POS_ERR_NOMEM;
	for (int i = 0; !rc && i < rows; i++) {
		v[i].seq = pg_i64(r, i, 0);
		v[i].score = bm25_of(PQgetvalue(r, i, 2), (double)pg_i64(r, i, 1), avgdl, qt, nq);
	}
	PQclear(r);
	if (rc)
		return rc;
	qsort(v, (size_t)rows, sizeof(*v), cmp_scored);
	size_t take = (size_t)rows < q->limit ? (size_t)rows : q->limit;
	struct pos_hit *h = pos_arena_alloc(a, (take ? take : 1) * sizeof(*h));
	if (!h)
		return POS_ERR_NOMEM;
	for (size_t i = 0; i < take; i++)
		h[i] = (struct pos_hit){v[i].seq, v[i].score};
	*out = h;
	*n = take;
	return POS_OK;
}

PG_STMT(st_term_df,
	"SELECT coalesce(min(coalesce(t.df, 0)), 0) FROM unnest(tsvector_to_array("
	"to_tsvector('pos_english'::regconfig, $1))) AS w(x)"
	" LEFT JOIN memory_terms t ON t.term = w.x COLLATE \"C\"");
PG_STMT(st_stem_df, "SELECT df FROM memory_terms WHERE term = $1::text COLLATE \"C\"");
PG_STMT(st_stem_range,
	"SELECT term FROM memory_terms WHERE term >= $1::text COLLATE \"C\""
	" AND term < $2::text COLLATE \"C\" AND df > 0 ORDER BY term LIMIT $3");

enum pos_err pg_term_frequency(struct pos_store *s, const char *word, int64_t *df,
			       int64_t *docs)
{
	struct pg_params p = {0};
	pg_p_text(&p, word);
	enum pos_err rc = pg_do_i64(s, &st_term_df, &p, df);
	if (!rc && docs)
		rc = pg_memory_count_all(s, docs);
	return rc;
}

enum pos_err pg_stem_frequency(struct pos_store *s, const char *stem, size_t len, int64_t *df)
{
	struct pg_params p = {0};
	pg_p_textn(&p, stem, len);
	return pg_do_i64(s, &st_stem_df, &p, df);
}


enum pos_err pg_stem_near(struct pos_store *s, const char *stem, size_t len, bool *near)
{
	*near = false;
	if (len < 4 || len > 64 || (unsigned char)stem[1] == 0xff)
		return POS_OK;
	/* the terms starting with the same two bytes (C collation: bytes) */
	char lo[3] = {stem[0], stem[1], '\0'}, hi[3] = {stem[0], (char)(stem[1] + 1), '\0'};
	struct pg_params p = {0};
	pg_p_textn(&p, lo, 2);
	pg_p_textn(&p, hi, 2);
	pg_p_i64(&p, POS_STEM_NEAR_SCAN);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, &st_stem_range, &p, &r);
	size_t max = len >= 7 ? 2 : 1;
	for (int i = 0; !rc && !*near && i < PQntuples(r); i++) {
		const char *t = PQgetvalue(r, i, 0);
		size_t tl = (size_t)PQgetlength(r, i, 0);
		size_t common = tl < len ? tl : len;
		if (common >= 4 && memcmp(t, stem, common) == 0)
			*near = true; /* photo / photograph, meetng / meet */
		else if (pos_osa_distance(stem, len, t, tl, max) <= max)
			*near = true; /* restuar / restaur */
	}
	PQclear(r);
	return rc;
}

PG_STMT(st_chat_seqs,
	"SELECT seq FROM memories WHERE user_id = $1 AND type = 'conversation'"
	" AND source = 'chat' ORDER BY seq LIMIT $2");

enum pos_err pg_filter_seqs(struct pos_store *s, struct pos_arena *a,
			    const struct pos_memory_query *q, size_t max, int64_t **out,
			    size_t *n)
{
	*out = NULL;
	*n = 0;
	struct pg_conn *c = pg_get(s);
	if (!c)
		return POS_ERR_STORE;
	PGresult *r = NULL;
	enum pos_err rc;
	if (q->chat_only) {
		struct pg_params p = {0};
		pg_p_text(&p, q->user_id);
		pg_p_i64(&p, (int64_t)max);
		rc = pg_run(c, &st_chat_seqs, &p, &r);
	} else {
		struct pg_sql sql;
		pg_sql_init(&sql, a);
		pg_sql_add(&sql, "SELECT m.seq FROM memories m WHERE m.user_id = ");
		pg_sql_text(&sql, q->user_id);
		pg_sql_filters(&sql, q);
		if (q->after_seq > 0) {
			pg_sql_add(&sql, " AND m.seq > ");
			pg_sql_i64(&sql, q->after_seq);
		}
		pg_sql_add(&sql, " ORDER BY m.seq LIMIT ");
		pg_sql_i64(&sql, (int64_t)max);
		rc = pg_sql_run(c, &sql, &r);
		pg_sql_free(&sql);
	}
	pg_put(s, c);
	int rows = rc ? 0 : PQntuples(r);
	int64_t *v = pos_arena_alloc(a, (size_t)(rows ? rows : 1) * sizeof(*v));
	if (!rc && !v)
		rc = POS_ERR_NOMEM;
	for (int i = 0; !rc && i < rows && (size_t)i < max; i++)
		v[(*n)++] = pg_i64(r, i, 0);
	PQclear(r);
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

PG_STMT(st_by_seq,
	"SELECT " PG_MEM_COLS " FROM memories m WHERE m.user_id = $1"
	" AND m.seq = ANY($2::bigint[])");

enum pos_err pg_memories_by_seq(struct pos_store *s, struct pos_arena *a,
				const char *user_id, const int64_t *seqs, size_t n,
				struct pos_memory *out, bool *found)
{
	memset(found, 0, n * sizeof(*found));
	if (!n)
		return POS_OK;
	const char *arr = pg_i64_array(a, seqs, n);
	struct pos_idx *order = pos_arena_alloc(a, n * sizeof(*order));
	if (!arr || !order)
		return POS_ERR_NOMEM;
	for (size_t i = 0; i < n; i++)
		order[i] = (struct pos_idx){seqs[i], i};
	qsort(order, n, sizeof(*order), cmp_idx);
	struct pg_params p = {0};
	pg_p_text(&p, user_id);
	pg_p_text(&p, arr);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, &st_by_seq, &p, &r);
	struct pos_memory m;
	for (int row = 0; !rc && row < PQntuples(r); row++) {
		if ((rc = pg_read_memory(a, r, row, 0, &m)))
			break;
		struct pos_idx key = {m.seq, 0};
		struct pos_idx *hit = bsearch(&key, order, n, sizeof(*order), cmp_idx);
		/* duplicated seqs in the input: fill every position */
		while (hit && hit > order && hit[-1].seq == m.seq)
			hit--;
		for (; hit && hit < order + n && hit->seq == m.seq; hit++) {
			out[hit->i] = m;
			found[hit->i] = true;
		}
	}
	PQclear(r);
	return rc;
}

PG_STMT(st_thread_tail,
	"SELECT content FROM memories WHERE user_id = $1 AND thread = $2"
	" ORDER BY seq DESC LIMIT $3");

enum pos_err pg_thread_tail(struct pos_store *s, struct pos_arena *a, const char *user_id,
			    const char *thread, size_t max, const char **out, size_t *n)
{
	*n = 0;
	struct pg_params p = {0};
	pg_p_text(&p, user_id);
	pg_p_text(&p, thread);
	pg_p_i64(&p, (int64_t)max);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, &st_thread_tail, &p, &r);
	for (int i = 0; !rc && i < PQntuples(r) && *n < max; i++) {
		if (!(out[*n] = pg_text(a, r, i, 0)))
			rc = POS_ERR_NOMEM;
		else
			(*n)++;
	}
	PQclear(r);
	return rc;
}

PG_STMT(st_vec_get,
	"SELECT v.model, v.dim, v.scale, v.vec FROM memory_vectors v"
	" JOIN memories m ON m.seq = v.memory_seq WHERE v.memory_seq = $1 AND m.user_id = $2");

enum pos_err pg_vector_get(struct pos_store *s, struct pos_arena *a, const char *user_id,
			   int64_t seq, struct pos_vec *out)
{
	memset(out, 0, sizeof(*out));
	struct pg_params p = {0};
	pg_p_i64(&p, seq);
	pg_p_text(&p, user_id);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, &st_vec_get, &p, &r);
	if (!rc && PQntuples(r)) {
		int64_t dim = pg_i64(r, 0, 1);
		const uint8_t *b = NULL;
		size_t len = 0;
		rc = pg_bytes(a, r, 0, 3, &b, &len);
		if (!rc && dim > 0 && len == (size_t)dim) {
			out->model = pg_text(a, r, 0, 0);
			if (!out->model) {
				rc = POS_ERR_NOMEM;
			} else {
				out->q = (const int8_t *)b;
				out->dim = (unsigned)dim;
				out->scale = (float)pg_f64(r, 0, 2);
			}
		}
	}
	PQclear(r);
	return rc;
}

PG_STMT(st_vec_page,
	"SELECT memory_seq, scale, vec, dim FROM memory_vectors"
	" WHERE user_id = $1 AND model = $2 AND memory_seq > $3 ORDER BY memory_seq LIMIT $4");

enum pos_err pg_vectors_load(struct pos_store *s, const char *user_id, const char *model,
			     void (*fn)(void *ctx, int64_t seq, float scale, const int8_t *q,
					unsigned dim),
			     void *ctx)
{
	struct pos_arena *a = pos_arena_new();
	enum pos_err rc = a ? POS_OK : POS_ERR_NOMEM;
	int64_t after = 0;
	/* pages in seq order, so no page holds every vector at once */
	for (int rows = VEC_PAGE; !rc && rows == VEC_PAGE;) {
		struct pg_params p = {0};
		pg_p_text(&p, user_id);
		pg_p_text(&p, model);
		pg_p_i64(&p, after);
		pg_p_i64(&p, VEC_PAGE);
		PGresult *r = NULL;
		if ((rc = pg_do(s, &st_vec_page, &p, &r)))
			break;
		rows = PQntuples(r);
		for (int i = 0; !rc && i < rows; i++) {
			int64_t seq = pg_i64(r, i, 0), dim = pg_i64(r, i, 3);
			const uint8_t *b = NULL;
			size_t len = 0;
			after = seq;
			if ((rc = pg_bytes(a, r, i, 2, &b, &len)))
				break;
			if (dim <= 0 || len != (size_t)dim)
				continue; /* damaged or sealed: skip; the backfill rewrites it */
			fn(ctx, seq, (float)pg_f64(r, i, 1), (const int8_t *)b, (unsigned)dim);
		}
		PQclear(r);
		pos_arena_destroy(a);
		a = pos_arena_new();
		if (!rc && !a)
			rc = POS_ERR_NOMEM;
	}
	pos_arena_destroy(a);
	return rc;
}

PG_STMT(st_vec_missing,
	"SELECT m.seq, m.user_id, m.content, m.context, m.updated_at FROM memories m"
	" LEFT JOIN memory_vectors v ON v.memory_seq = m.seq"
	" WHERE m.seq > $2 AND (v.memory_seq IS NULL OR v.model <> $1)"
	" AND ($4::text IS NULL OR m.user_id = $4)"
	" ORDER BY m.seq LIMIT $3");

PG_STMT(st_vec_missing_count,
	"SELECT count(*) FROM memories m"
	" LEFT JOIN memory_vectors v ON v.memory_seq = m.seq"
	" WHERE m.user_id = $2 AND (v.memory_seq IS NULL OR v.model <> $1)");

enum pos_err pg_vectors_missing_count(struct pos_store *s, const char *model,
				      const char *user_id, int64_t *n)
{
	*n = 0;
	struct pg_params p = {0};
	pg_p_text(&p, model);
	pg_p_text(&p, user_id);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, &st_vec_missing_count, &p, &r);
	if (!rc && PQntuples(r) == 1)
		*n = pg_i64(r, 0, 0);
	PQclear(r);
	return rc;
}

enum pos_err pg_vectors_missing(struct pos_store *s, struct pos_arena *a, const char *model,
				const char *user_id, int64_t after_seq, size_t max,
				struct pos_memory **out, size_t *n)
{
	*n = 0;
	struct pos_memory *v = pos_arena_zalloc(a, (max ? max : 1) * sizeof(*v));
	*out = v;
	if (!v)
		return POS_ERR_NOMEM;
	struct pg_params p = {0};
	pg_p_text(&p, model);
	pg_p_i64(&p, after_seq);
	pg_p_i64(&p, (int64_t)max);
	pg_p_text(&p, user_id); /* NULL: any user */
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, &st_vec_missing, &p, &r);
	for (int i = 0; !rc && i < PQntuples(r) && *n < max; i++) {
		struct pos_memory *m = &v[*n];
		m->seq = pg_i64(r, i, 0);
		snprintf(m->user_id, sizeof(m->user_id), "%s", PQgetvalue(r, i, 1));
		m->content = pg_text(a, r, i, 2);
		m->content_len = m->content ? strlen(m->content) : 0;
		m->context = pg_text(a, r, i, 3);
		m->updated_at = pg_i64(r, i, 4);
		if (!m->content)
			rc = POS_ERR_NOMEM;
		else
			(*n)++;
	}
	PQclear(r);
	return rc;
}

/* One statement for the batch: rows whose memory is gone or changed since
 * it was read (updated_at) are dropped by the join; a seq given twice
 * keeps its last vector, as one-by-one writes would. */
PG_STMT(st_vectors_put,
	"INSERT INTO memory_vectors(memory_seq, user_id, model, dim, scale, vec)"
	" SELECT DISTINCT ON (x.s) x.s, x.u, x.mo, x.d, x.sc, decode(x.v, 'hex')"
	" FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::bigint[],"
	" $6::float8[], $7::text[]) WITH ORDINALITY AS x(s, upd, u, mo, d, sc, v, ord)"
	" JOIN memories m ON m.seq = x.s AND m.updated_at = x.upd"
	" ORDER BY x.s, x.ord DESC"
	" ON CONFLICT (memory_seq) DO UPDATE SET user_id = EXCLUDED.user_id,"
	" model = EXCLUDED.model, dim = EXCLUDED.dim, scale = EXCLUDED.scale, vec = EXCLUDED.vec");

enum pos_err pg_vectors_put(struct pos_store *s, const struct pos_memory *m, size_t n)
{
	struct pg_col col[7];
	for (size_t k = 0; k < 7; k++)
		pg_col_init(&col[k]);
	for (size_t i = 0; i < n; i++) {
		const struct pos_vec *v = &m[i].vec;
		if (!v->q)
			continue;
		pg_col_i64(&col[0], m[i].seq);
		pg_col_i64(&col[1], m[i].updated_at);
		pg_col_text(&col[2], m[i].user_id);
		pg_vec_cols(&col[3], v);
	}
	enum pos_err rc = POS_OK;
	struct pg_params p = {0};
	for (size_t k = 0; k < 7 && !rc; k++) {
		const char *lit = pg_col_done(&col[k]);
		if (!lit)
			rc = col[k].rc;
		pg_p_text(&p, lit);
	}
	if (!rc && col[0].n) /* one statement: atomic on its own */
		rc = pg_do(s, &st_vectors_put, &p, NULL);
	for (size_t k = 0; k < 7; k++)
		pg_col_free(&col[k]);
	return rc;
}
