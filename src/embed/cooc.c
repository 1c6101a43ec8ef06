/*
 * cooc.c — per-user document frequencies and stem co-occurrence (PPMI).
 *
 * Stems are interned in a capped vocabulary (open addressing over ids);
 * pairs of stem ids that share a memory within `window` distinct stems are
 * counted in an open-addressed table keyed by (lo id, hi id). finish() turns
 * the counts into at most `neighbours` associated stems per stem, ranked by
 * PMI = ln(c(a,b) N / (df(a) df(b))) over memories, keeping only positive
 * values of pairs seen in at least `min_count` memories. Ties are broken by
 * stem id, so the result does not depend on hash-table order.
 */
#include "embed/cooc.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "embed/token.h"

#define SEED_VOCAB 0x2545f4914f6cdd1dULL
#define NONE UINT32_MAX
/* distinct stems of one memory (or one query) that are considered */
#define DOC_STEMS 256u
#define QUERY_STEMS 64u

struct pos_cooc {
	struct pos_cooc_params p;
	uint64_t docs;

	/* vocabulary: id -> stem bytes (POS_TOKEN_MAX each), length, df */
	uint32_t nvocab, vocab_cap;
	char *pool;
	uint8_t *len;
	uint32_t *df;
	uint32_t *vslot; /* hash slot -> id + 1, 0 = empty */
	uint32_t vslot_cap;

	/* pair counts: key (lo + 1) << 32 | (hi + 1), 0 = empty */
	uint64_t *pkey;
	uint32_t *pcount;
	uint32_t npairs, pcap;

	/* neighbour lists of the last finish, CSR over ids < nb_vocab */
	uint32_t nb_vocab;
	uint32_t *nb_start;
	uint32_t *nb_id;
	float *nb_w;
};

void pos_cooc_defaults(struct pos_cooc_params *p)
{
	p->max_vocab = 100000;
	p->max_pairs = 1000000;
	p->window = 8;
	p->min_count = 2;
	p->neighbours = 8;
}

enum pos_err pos_cooc_new(const struct pos_cooc_params *params,
			  struct pos_cooc **out)
{
	struct pos_cooc_params def;
	pos_cooc_defaults(&def);
	if (!params)
		params = &def;
	*out = NULL;
	if (params->max_vocab == 0 || params->max_pairs == 0 ||
	    params->window == 0 || params->neighbours == 0 ||
	    params->max_vocab > (1u << 30) || params->max_pairs > (1u << 30))
		return POS_ERR_INVALID_REQUEST;
	struct pos_cooc *m = pos_calloc(1, sizeof(*m));
	if (!m)
		return POS_ERR_NOMEM;
	m->p = *params;
	if (m->p.min_count == 0)
		m->p.min_count = 1;
	*out = m;
	return POS_OK;
}

static void free_neighbours(struct pos_cooc *m)
{
	pos_free(m->nb_start);
	pos_free(m->nb_id);
	pos_free(m->nb_w);
	m->nb_start = NULL;
	m->nb_id = NULL;
	m->nb_w = NULL;
	m->nb_vocab = 0;
}

void pos_cooc_free(struct pos_cooc *m)
{
	if (!m)
		return;
	pos_free(m->pool);
	pos_free(m->len);
	pos_free(m->df);
	pos_free(m->vslot);
	pos_free(m->pkey);
	pos_free(m->pcount);
	free_neighbours(m);
	pos_free(m);
}

uint64_t pos_cooc_docs(const struct pos_cooc *m)
{
	return m->docs;
}

size_t pos_cooc_vocab(const struct pos_cooc *m)
{
	return m->nvocab;
}

size_t pos_cooc_memory(const struct pos_cooc *m)
{
	size_t n = sizeof(*m);
	n += (size_t)m->vocab_cap * (POS_TOKEN_MAX + 1 + 4);
	n += (size_t)m->vslot_cap * 4;
	n += (size_t)m->pcap * 12;
	if (m->nb_start)
		n += ((size_t)m->nb_vocab + 1) * 4 +
		     (size_t)m->nb_start[m->nb_vocab] * 8;
	return n;
}

/* ---- vocabulary ---------------------------------------------------------- */

static const char *stem_of(const struct pos_cooc *m, uint32_t id)
{
	return m->pool + (size_t)id * POS_TOKEN_MAX;
}

/* The id of a stem, or NONE. */
static uint32_t vocab_find(const struct pos_cooc *m, const char *s, size_t n)
{
	if (!m->vslot_cap)
		return NONE;
	uint32_t mask = m->vslot_cap - 1;
	uint32_t i = (uint32_t)pos_token_hash(s, n, SEED_VOCAB) & mask;
	for (; m->vslot[i]; i = (i + 1) & mask) {
		uint32_t id = m->vslot[i] - 1;
		if (m->len[id] == n && memcmp(stem_of(m, id), s, n) == 0)
			return id;
	}
	return NONE;
}

static void vslot_insert(struct pos_cooc *m, uint32_t id)
{
	uint32_t mask = m->vslot_cap - 1;
	uint32_t i = (uint32_t)pos_token_hash(stem_of(m, id), m->len[id],
					      SEED_VOCAB) & mask;
	while (m->vslot[i])
		i = (i + 1) & mask;
	m->vslot[i] = id + 1;
}

static enum pos_err vocab_grow(struct pos_cooc *m)
{
	uint32_t cap = m->vocab_cap ? m->vocab_cap * 2 : 1024;
	if (cap > m->p.max_vocab)
		cap = m->p.max_vocab;
	char *pool = pos_realloc(m->pool, (size_t)cap * POS_TOKEN_MAX);
	if (!pool)
		return POS_ERR_NOMEM;
	m->pool = pool;
	uint8_t *len = pos_realloc(m->len, cap);
	if (!len)
		return POS_ERR_NOMEM;
	m->len = len;
	uint32_t *df = pos_realloc(m->df, (size_t)cap * 4);
	if (!df)
		return POS_ERR_NOMEM;
	m->df = df;
	m->vocab_cap = cap;
	/* slots at most half full */
	uint32_t scap = m->vslot_cap ? m->vslot_cap : 2048;
	while (scap < 2 * cap)
		scap *= 2;
	if (scap != m->vslot_cap) {
		uint32_t *slots = pos_calloc(scap, 4);
		if (!slots)
			return POS_ERR_NOMEM;
		pos_free(m->vslot);
		m->vslot = slots;
		m->vslot_cap = scap;
		for (uint32_t id = 0; id < m->nvocab; id++)
			vslot_insert(m, id);
	}
	return POS_OK;
}

/* The id of a stem, interned if new; NONE when the vocabulary is full. */
static uint32_t vocab_intern(struct pos_cooc *m, const char *s, size_t n,
			     enum pos_err *rc)
{
	uint32_t id = vocab_find(m, s, n);
	if (id != NONE || m->nvocab >= m->p.max_vocab)
		return id;
	if (m->nvocab == m->vocab_cap && (*rc = vocab_grow(m)) != POS_OK)
		return NONE;
	id = m->nvocab++;
	memcpy(m->pool + (size_t)id * POS_TOKEN_MAX, s, n);
	m->len[id] = (uint8_t)n;
	m->df[id] = 0;
	vslot_insert(m, id);
	return id;
}

/* ---- pairs --------------------------------------------------------------- */

static uint64_t pair_key(uint32_t a, uint32_t b)
{
	uint32_t lo = a < b ? a : b, hi = a < b ? b : a;
	return ((uint64_t)lo + 1) << 32 | ((uint64_t)hi + 1);
}

/* The slot of key, or of the empty slot where it would go. */
static uint32_t pair_slot(const struct pos_cooc *m, uint64_t key)
{
	uint32_t mask = m->pcap - 1;
	uint32_t i = (uint32_t)pos_token_mix(key) & mask;
	while (m->pkey[i] && m->pkey[i] != key)
		i = (i + 1) & mask;
	return i;
}

static enum pos_err pairs_grow(struct pos_cooc *m)
{
	uint32_t cap = m->pcap ? m->pcap * 2 : 4096;
	uint64_t *keys = pos_calloc(cap, sizeof(*keys));
	uint32_t *counts = pos_malloc((size_t)cap * sizeof(*counts));
	if (!keys || !counts) {
		pos_free(keys);
		pos_free(counts);
		return POS_ERR_NOMEM;
	}
	uint64_t *ok = m->pkey;
	uint32_t *oc = m->pcount, ocap = m->pcap;
	m->pkey = keys;
	m->pcount = counts;
	m->pcap = cap;
	for (uint32_t i = 0; i < ocap; i++) {
		if (!ok[i])
			continue;
		uint32_t s = pair_slot(m, ok[i]);
		m->pkey[s] = ok[i];
		m->pcount[s] = oc[i];
	}
	pos_free(ok);
	pos_free(oc);
	return POS_OK;
}

static enum pos_err pair_add(struct pos_cooc *m, uint32_t a, uint32_t b)
{
	uint64_t key = pair_key(a, b);
	if (m->pcap) {
		uint32_t s = pair_slot(m, key);
		if (m->pkey[s]) {
			if (m->pcount[s] < UINT32_MAX)
				m->pcount[s]++;
			return POS_OK;
		}
	}
	if (m->npairs >= m->p.max_pairs)
		return POS_OK;
	if ((uint64_t)(m->npairs + 1) * 2 > m->pcap) {
		enum pos_err rc = pairs_grow(m);
		if (rc)
			return rc;
	}
	uint32_t s = pair_slot(m, key);
	m->pkey[s] = key;
	m->pcount[s] = 1;
	m->npairs++;
	return POS_OK;
}

static void pair_sub(struct pos_cooc *m, uint32_t a, uint32_t b)
{
	if (!m->pcap)
		return;
	uint32_t s = pair_slot(m, pair_key(a, b));
	if (m->pkey[s] && m->pcount[s] > 0)
		m->pcount[s]--;
}

/* ---- documents ----------------------------------------------------------- */

/*
 * The ids of the distinct stems of a text in order of first occurrence (at
 * most `cap`). With `intern` (which must be m), new stems join the
 * vocabulary; with NULL, unknown stems are skipped and m is only read.
 */
static size_t doc_stems(const struct pos_cooc *m, struct pos_cooc *intern,
			const char *text, size_t len, uint32_t *ids,
			size_t cap, enum pos_err *rc)
{
	struct pos_token_iter it;
	struct pos_token t;
	size_t n = 0;
	pos_token_iter_init(&it, text, len);
	for (unsigned ntok = 0; n < cap && ntok < POS_EMBED_MAX_TOKENS &&
				pos_token_next(&it, &t); ntok++) {
		uint32_t id = intern
			? vocab_intern(intern, t.stem, t.stem_len, rc)
			: vocab_find(m, t.stem, t.stem_len);
		if (*rc)
			return n;
		if (id == NONE)
			continue;
		bool seen = false;
		for (size_t i = 0; i < n && !seen; i++)
			seen = ids[i] == id;
		if (!seen)
			ids[n++] = id;
	}
	return n;
}

enum pos_err pos_cooc_add(struct pos_cooc *m, const char *text, size_t len)
{
	uint32_t ids[DOC_STEMS];
	enum pos_err rc = POS_OK;
	size_t n = doc_stems(m, m, text, len, ids, DOC_STEMS, &rc);
	m->docs++;
	for (size_t i = 0; i < n; i++)
		m->df[ids[i]]++;
	for (size_t i = 0; i < n && !rc; i++)
		for (size_t j = i + 1; j < n && j - i <= m->p.window && !rc;
		     j++)
			rc = pair_add(m, ids[i], ids[j]);
	return rc;
}

void pos_cooc_remove(struct pos_cooc *m, const char *text, size_t len)
{
	uint32_t ids[DOC_STEMS];
	enum pos_err rc = POS_OK;
	size_t n = doc_stems(m, NULL, text, len, ids, DOC_STEMS, &rc);
	if (m->docs)
		m->docs--;
	for (size_t i = 0; i < n; i++)
		if (m->df[ids[i]])
			m->df[ids[i]]--;
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n && j - i <= m->p.window; j++)
			pair_sub(m, ids[i], ids[j]);
}

/* ---- neighbours ---------------------------------------------------------- */

/* Inserts (id, w) into the list top[0..*n) kept sorted by w desc, id asc. */
static void top_insert(uint32_t *top_id, float *top_w, uint32_t *n,
		       uint32_t k, uint32_t id, float w)
{
	uint32_t i = *n;
	if (i == k) {
		if (w < top_w[k - 1] || (w == top_w[k - 1] && id > top_id[k - 1]))
			return;
		i = k - 1;
	} else {
		(*n)++;
	}
	while (i > 0 && (top_w[i - 1] < w ||
			 (top_w[i - 1] == w && top_id[i - 1] > id))) {
		top_w[i] = top_w[i - 1];
		top_id[i] = top_id[i - 1];
		i--;
	}
	top_w[i] = w;
	top_id[i] = id;
}

enum pos_err pos_cooc_finish(struct pos_cooc *m)
{
	uint32_t V = m->nvocab, K = m->p.neighbours;
	uint32_t *cnt = pos_calloc((size_t)V + 1, sizeof(*cnt));
	uint32_t *tid = pos_malloc(((size_t)V * K + 1) * sizeof(*tid));
	float *tw = pos_malloc(((size_t)V * K + 1) * sizeof(*tw));
	uint32_t *start = pos_malloc(((size_t)V + 1) * sizeof(*start));
	enum pos_err rc = POS_ERR_NOMEM;
	if (!cnt || !tid || !tw || !start)
		goto out;
	double N = (double)m->docs;
	for (uint32_t s = 0; s < m->pcap; s++) {
		uint64_t key = m->pkey[s];
		uint32_t c = m->pcount ? m->pcount[s] : 0;
		if (!key || c < m->p.min_count)
			continue;
		uint32_t a = (uint32_t)(key >> 32) - 1;
		uint32_t b = (uint32_t)key - 1;
		if (!m->df[a] || !m->df[b])
			continue;
		double pmi = log((double)c * N / ((double)m->df[a] * m->df[b]));
		if (!(pmi > 0))
			continue;
		top_insert(tid + (size_t)a * K, tw + (size_t)a * K, &cnt[a], K, b,
			   (float)pmi);
		top_insert(tid + (size_t)b * K, tw + (size_t)b * K, &cnt[b], K, a,
			   (float)pmi);
	}
	/* compact to CSR, weights relative to each stem's strongest */
	uint32_t at = 0;
	for (uint32_t a = 0; a < V; a++) {
		start[a] = at;
		float top = cnt[a] ? tw[(size_t)a * K] : 1;
		for (uint32_t i = 0; i < cnt[a]; i++, at++) {
			tid[at] = tid[(size_t)a * K + i];
			tw[at] = tw[(size_t)a * K + i] / top;
		}
	}
	start[V] = at;
	free_neighbours(m);
	m->nb_vocab = V;
	m->nb_start = start;
	m->nb_id = tid;
	m->nb_w = tw;
	start = NULL;
	tid = NULL;
	tw = NULL;
	rc = POS_OK;
out:
	pos_free(cnt);
	pos_free(tid);
	pos_free(tw);
	pos_free(start);
	return rc;
}

/* ---- queries ------------------------------------------------------------- */

static float idf_of(const struct pos_cooc *m, uint32_t id)
{
	double N = (double)m->docs;
	double df = id == NONE ? 0 : (double)m->df[id];
	if (df > N)
		df = N;
	return (float)log(1 + (N - df + 0.5) / (df + 0.5));
}

float pos_cooc_idf(void *model, const char *stem, size_t len)
{
	const struct pos_cooc *m = model;
	return idf_of(m, vocab_find(m, stem, len));
}

struct cand {
	uint32_t id;
	float w;
	const struct pos_cooc *m;
};

static int cand_cmp(const void *pa, const void *pb)
{
	const struct cand *a = pa, *b = pb;
	if (a->w != b->w)
		return a->w > b->w ? -1 : 1;
	const struct pos_cooc *m = a->m;
	size_t la = m->len[a->id], lb = m->len[b->id];
	int c = memcmp(stem_of(m, a->id), stem_of(m, b->id),
		       la < lb ? la : lb);
	if (c)
		return c;
	return la < lb ? -1 : la > lb;
}

size_t pos_cooc_expand(const struct pos_cooc *m, const char *text, size_t len,
		       float alpha, struct pos_embed_term *out, size_t cap)
{
	if (!m->nb_start || cap == 0)
		return 0;
	uint32_t q[QUERY_STEMS];
	enum pos_err rc = POS_OK;
	size_t nq = doc_stems(m, NULL, text, len, q, QUERY_STEMS, &rc);
	struct cand c[QUERY_STEMS * 16];
	size_t nc = 0;
	for (size_t i = 0; i < nq; i++) {
		if (q[i] >= m->nb_vocab)
			continue;
		float idf = idf_of(m, q[i]);
		for (uint32_t j = m->nb_start[q[i]]; j < m->nb_start[q[i] + 1];
		     j++) {
			uint32_t b = m->nb_id[j];
			bool in_query = false;
			for (size_t k = 0; k < nq && !in_query; k++)
				in_query = q[k] == b;
			if (in_query)
				continue;
			size_t k = 0;
			while (k < nc && c[k].id != b)
				k++;
			if (k == nc) {
				if (nc == sizeof(c) / sizeof(c[0]))
					continue;
				c[nc++] = (struct cand){b, 0, m};
			}
			c[k].w += idf * m->nb_w[j];
		}
	}
	/* cppcheck-suppress uninitvar ; c[0..nc) were all written above */
	qsort(c, nc, sizeof(c[0]), cand_cmp);
	size_t n = nc < cap ? nc : cap;
	for (size_t i = 0; i < n; i++) {
		out[i].stem = stem_of(m, c[i].id);
		out[i].len = m->len[c[i].id];
		out[i].weight = alpha * c[i].w;
	}
	return n;
}
