/*
 * kwindex.c — one user's in-memory keyword index and its MaxScore top-k
 * (contract in kwindex.h).
 */
#include "store/kwindex.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

#define K1 1.2
#define B 0.75
#define NO_DOC UINT32_MAX
#define SEQ_EMPTY INT64_MIN
#define SEQ_GONE (INT64_MIN + 1)

static const float col_weight[POS_KW_COLUMNS] = {1.0f, 1.0f, 0.4f};

/* A posting carries its memory's length, and 0 there once the memory is
 * removed, so a top-k walking the lists never reads the memory's entry in
 * docs[]: a random read of a 24-byte entry among 100k per posting was
 * most of MaxScore's time (docs/BENCHMARKS.md, branch srch4). */
struct posting {
	uint32_t doc;
	float tf;               /* Σ column weight × occurrences */
	uint32_t dl;            /* the memory's tokens; 0: removed */
};

struct term {
	char *s;
	uint32_t len;
	uint32_t df;            /* live memories holding it */
	float max_tf;           /* over every posting ever added (a bound) */
	uint32_t min_dl;        /* likewise */
	struct posting *p;
	uint32_t np, cap;
};

struct doc {
	int64_t seq;
	uint32_t dl;            /* tokens, all columns */
	uint32_t nt;
	uint32_t *terms;        /* its distinct term ids; NULL when removed */
};

struct pos_kwindex {
	struct term *terms;
	uint32_t nterms, tcap;
	uint32_t *thash;        /* term id + 1; 0 empty */
	size_t thcap;
	struct doc *docs;
	uint32_t ndocs, dcap;
	int64_t *skey;          /* seq → doc */
	uint32_t *sval;
	size_t scap, sused;     /* sused counts tombstones too */
	uint32_t live;
	uint32_t dead;
	uint64_t total_dl;
	size_t bytes;
};

static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

static uint64_t hash_seq(int64_t seq)
{
	uint64_t h = (uint64_t)seq * 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 29);
}

enum pos_err pos_kwindex_new(struct pos_kwindex **out)
{
	struct pos_kwindex *x = pos_calloc(1, sizeof(*x));
	if (!x)
		return POS_ERR_NOMEM;
	*out = x;
	return POS_OK;
}

void pos_kwindex_free(struct pos_kwindex *x)
{
	if (!x)
		return;
	for (uint32_t i = 0; i < x->nterms; i++) {
		pos_free(x->terms[i].s);
		pos_free(x->terms[i].p);
	}
	for (uint32_t i = 0; i < x->ndocs; i++)
		pos_free(x->docs[i].terms);
	pos_free(x->terms);
	pos_free(x->thash);
	pos_free(x->docs);
	pos_free(x->skey);
	pos_free(x->sval);
	pos_free(x);
}

size_t pos_kwindex_docs(const struct pos_kwindex *x)
{
	return x->live;
}

size_t pos_kwindex_bytes(const struct pos_kwindex *x)
{
	return x->bytes + x->tcap * sizeof(struct term) + x->thcap * sizeof(uint32_t) +
	       x->dcap * sizeof(struct doc) + x->scap * (sizeof(int64_t) + sizeof(uint32_t));
}

/* ---- term dictionary ---- */

static uint32_t term_find(const struct pos_kwindex *x, const char *s, size_t n)
{
	if (!x->thcap)
		return NO_DOC;
	size_t mask = x->thcap - 1;
	for (size_t i = hash_bytes(s, n) & mask;; i = (i + 1) & mask) {
		uint32_t v = x->thash[i];
		if (!v)
			return NO_DOC;
		const struct term *t = &x->terms[v - 1];
		if (t->len == n && memcmp(t->s, s, n) == 0)
			return v - 1;
	}
}

static enum pos_err term_rehash(struct pos_kwindex *x, size_t cap)
{
	uint32_t *h = pos_calloc(cap, sizeof(*h));
	if (!h)
		return POS_ERR_NOMEM;
	for (uint32_t id = 0; id < x->nterms; id++) {
		size_t i = hash_bytes(x->terms[id].s, x->terms[id].len) & (cap - 1);
		while (h[i])
			i = (i + 1) & (cap - 1);
		h[i] = id + 1;
	}
	pos_free(x->thash);
	x->thash = h;
	x->thcap = cap;
	return POS_OK;
}

static enum pos_err term_get(struct pos_kwindex *x, const char *s, size_t n, uint32_t *id)
{
	if ((*id = term_find(x, s, n)) != NO_DOC)
		return POS_OK;
	if (n > UINT32_MAX / 2)
		return POS_ERR_INVALID_REQUEST;
	enum pos_err rc;
	if ((x->nterms + 1) * 2 > x->thcap &&
	    (rc = term_rehash(x, x->thcap ? x->thcap * 2 : 1024)))
		return rc;
	if (x->nterms == x->tcap) {
		uint32_t cap = x->tcap ? x->tcap * 2 : 512;
		struct term *t = pos_realloc(x->terms, cap * sizeof(*t));
		if (!t)
			return POS_ERR_NOMEM;
		x->terms = t;
		x->tcap = cap;
	}
	char *copy = pos_strndup(s, n);
	if (!copy)
		return POS_ERR_NOMEM;
	struct term *t = &x->terms[x->nterms];
	*t = (struct term){copy, (uint32_t)n, 0, 0, UINT32_MAX, NULL, 0, 0};
	x->bytes += n + 1;
	size_t i = hash_bytes(s, n) & (x->thcap - 1);
	while (x->thash[i])
		i = (i + 1) & (x->thcap - 1);
	x->thash[i] = x->nterms + 1;
	*id = x->nterms++;
	return POS_OK;
}

/* ---- seq map ---- */

static size_t seq_slot(const struct pos_kwindex *x, int64_t seq)
{
	size_t mask = x->scap - 1;
	for (size_t i = hash_seq(seq) & mask;; i = (i + 1) & mask)
		if (x->skey[i] == seq || x->skey[i] == SEQ_EMPTY)
			return i;
}

static uint32_t seq_doc(const struct pos_kwindex *x, int64_t seq)
{
	if (!x->scap)
		return NO_DOC;
	size_t i = seq_slot(x, seq);
	return x->skey[i] == seq ? x->sval[i] : NO_DOC;
}

static enum pos_err seq_rehash(struct pos_kwindex *x, size_t cap)
{
	int64_t *k = pos_malloc(cap * sizeof(*k));
	uint32_t *v = pos_malloc(cap * sizeof(*v));
	if (!k || !v) {
		pos_free(k);
		pos_free(v);
		return POS_ERR_NOMEM;
	}
	for (size_t i = 0; i < cap; i++)
		k[i] = SEQ_EMPTY;
	struct pos_kwindex tmp = *x;
	tmp.skey = k;
	tmp.sval = v;
	tmp.scap = cap;
	tmp.sused = 0;
	for (size_t i = 0; i < x->scap; i++) {
		if (x->skey[i] == SEQ_EMPTY || x->skey[i] == SEQ_GONE)
			continue;
		size_t j = seq_slot(&tmp, x->skey[i]);
		k[j] = x->skey[i];
		v[j] = x->sval[i];
		tmp.sused++;
	}
	pos_free(x->skey);
	pos_free(x->sval);
	x->skey = k;
	x->sval = v;
	x->scap = cap;
	x->sused = tmp.sused;
	return POS_OK;
}

static enum pos_err seq_set(struct pos_kwindex *x, int64_t seq, uint32_t doc)
{
	enum pos_err rc;
	if ((x->sused + 1) * 10 > x->scap * 7) {
		size_t cap = x->scap ? x->scap : 1024;
		while ((size_t)(x->live + 1) * 4 > cap)
			cap *= 2;
		if ((rc = seq_rehash(x, cap)))
			return rc;
	}
	size_t i = seq_slot(x, seq);
	if (x->skey[i] == SEQ_EMPTY)
		x->sused++;
	x->skey[i] = seq;
	x->sval[i] = doc;
	return POS_OK;
}

static void seq_unset(struct pos_kwindex *x, int64_t seq)
{
	if (!x->scap)
		return;
	size_t i = seq_slot(x, seq);
	if (x->skey[i] == seq)
		x->skey[i] = SEQ_GONE;
}

/* ---- writes ---- */

size_t pos_kwindex_df(const struct pos_kwindex *x, const char *term, size_t len)
{
	uint32_t id = term_find(x, term, len);
	return id == NO_DOC ? 0 : x->terms[id].df;
}

/* Drops the postings of removed memories and numbers the rest densely. */
static enum pos_err compact(struct pos_kwindex *x)
{
	uint32_t *map = pos_malloc((x->ndocs ? x->ndocs : 1) * sizeof(*map));
	if (!map)
		return POS_ERR_NOMEM;
	uint32_t n = 0;
	for (uint32_t d = 0; d < x->ndocs; d++) {
		map[d] = x->docs[d].terms ? n : NO_DOC;
		if (map[d] != NO_DOC)
			x->docs[n++] = x->docs[d];
	}
	for (uint32_t t = 0; t < x->nterms; t++) {
		struct term *tm = &x->terms[t];
		uint32_t k = 0;
		for (uint32_t i = 0; i < tm->np; i++)
			if (map[tm->p[i].doc] != NO_DOC)
				tm->p[k++] = (struct posting){map[tm->p[i].doc], tm->p[i].tf,
							      tm->p[i].dl};
		x->bytes -= (size_t)(tm->np - k) * sizeof(struct posting);
		tm->np = k;
	}
	pos_free(map);
	x->ndocs = n;
	x->dead = 0;
	/* the map again, with the new numbers */
	for (size_t i = 0; i < x->scap; i++)
		x->skey[i] = SEQ_EMPTY;
	x->sused = 0;
	for (uint32_t d = 0; d < n; d++) {
		size_t i = seq_slot(x, x->docs[d].seq);
		x->skey[i] = x->docs[d].seq;
		x->sval[i] = d;
		x->sused++;
	}
	return POS_OK;
}

static void doc_drop(struct pos_kwindex *x, uint32_t d)
{
	struct doc *dc = &x->docs[d];
	for (uint32_t i = 0; i < dc->nt; i++) {
		struct term *tm = &x->terms[dc->terms[i]];
		tm->df--;
		/* the lists are in doc order: its posting by binary search */
		uint32_t lo = 0, hi = tm->np;
		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;
			if (tm->p[mid].doc < d)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < tm->np && tm->p[lo].doc == d)
			tm->p[lo].dl = 0;
	}
	x->live--;
	x->total_dl -= dc->dl;
	x->bytes -= dc->nt * sizeof(uint32_t);
	pos_free(dc->terms);
	dc->terms = NULL; /* removed (a live memory always has the array) */
	dc->nt = 0;
	x->dead++;
}

enum pos_err pos_kwindex_remove(struct pos_kwindex *x, int64_t seq)
{
	uint32_t d = seq_doc(x, seq);
	if (d == NO_DOC)
		return POS_OK;
	doc_drop(x, d);
	seq_unset(x, seq);
	if (x->dead > 1024 && x->dead > x->live)
		return compact(x);
	return POS_OK;
}

struct tokterm {
	uint32_t id;
	float w;
};

static int cmp_tokterm(const void *a, const void *b)
{
	const struct tokterm *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

enum pos_err pos_kwindex_put(struct pos_kwindex *x, int64_t seq,
			     const struct pos_kwtoken *t, size_t n)
{
	if (seq == SEQ_EMPTY || seq == SEQ_GONE || n > UINT32_MAX / 2)
		return POS_ERR_INVALID_REQUEST;
	for (size_t i = 0; i < n; i++)
		if (t[i].col >= POS_KW_COLUMNS)
			return POS_ERR_INVALID_REQUEST;
	enum pos_err rc = pos_kwindex_remove(x, seq);
	if (rc)
		return rc;
	if (x->ndocs == NO_DOC - 1)
		return POS_ERR_INVALID_REQUEST;
	struct tokterm *tt = pos_malloc((n ? n : 1) * sizeof(*tt));
	if (!tt)
		return POS_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		if ((rc = term_get(x, t[i].s, t[i].n, &tt[i].id)))
			goto out;
		tt[i].w = col_weight[t[i].col];
	}
	qsort(tt, n, sizeof(*tt), cmp_tokterm);
	size_t nd = 0;
	for (size_t i = 0; i < n; i++) {
		if (nd && tt[nd - 1].id == tt[i].id)
			tt[nd - 1].w += tt[i].w;
		else
			tt[nd++] = tt[i];
	}
	if (x->ndocs == x->dcap) {
		uint32_t cap = x->dcap ? x->dcap * 2 : 1024;
		struct doc *dv = pos_realloc(x->docs, cap * sizeof(*dv));
		if (!dv) {
			rc = POS_ERR_NOMEM;
			goto out;
		}
		x->docs = dv;
		x->dcap = cap;
	}
	uint32_t *ids = pos_malloc((nd ? nd : 1) * sizeof(*ids));
	if (!ids) {
		rc = POS_ERR_NOMEM;
		goto out;
	}
	/* Postings first (each may grow); the memory counts once all fit. */
	uint32_t d = x->ndocs;
	for (size_t i = 0; i < nd; i++) {
		struct term *tm = &x->terms[tt[i].id];
		if (tm->np == tm->cap) {
			uint32_t cap = tm->cap ? tm->cap * 2 : 4;
			struct posting *p = pos_realloc(tm->p, cap * sizeof(*p));
			if (!p) {
				/* undo the postings added so far */
				for (size_t j = 0; j < i; j++)
					x->terms[tt[j].id].np--;
				pos_free(ids);
				rc = POS_ERR_NOMEM;
				goto out;
			}
			x->bytes += (size_t)(cap - tm->cap) * sizeof(*p);
			tm->p = p;
			tm->cap = cap;
		}
		tm->p[tm->np++] = (struct posting){d, tt[i].w, (uint32_t)n};
		ids[i] = tt[i].id;
	}
	if ((rc = seq_set(x, seq, d))) {
		for (size_t j = 0; j < nd; j++)
			x->terms[tt[j].id].np--;
		pos_free(ids);
		goto out;
	}
	for (size_t i = 0; i < nd; i++) {
		struct term *tm = &x->terms[tt[i].id];
		tm->df++;
		if (tt[i].w > tm->max_tf)
			tm->max_tf = tt[i].w;
		if ((uint32_t)n < tm->min_dl)
			tm->min_dl = (uint32_t)n;
	}
	x->docs[d] = (struct doc){seq, (uint32_t)n, (uint32_t)nd, ids};
	x->ndocs++;
	x->live++;
	x->total_dl += n;
	x->bytes += nd * sizeof(uint32_t);
out:
	pos_free(tt);
	return rc;
}

/* ---- top-k ---- */

struct qterm {
	const struct term *t;
	double idf;             /* × how often the query names it */
	double ub;              /* bound of its score in any memory */
	uint32_t cur;
};

struct cand {
	double score;
	uint32_t doc;
};

/* a ranks below b: lower score, or the same score and inserted later */
static bool worse(struct cand a, struct cand b)
{
	return a.score < b.score || (a.score == b.score && a.doc > b.doc);
}

struct heap {
	struct cand *v;
	size_t n, k;
};

static void heap_down(struct heap *h, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < h->n && worse(h->v[l], h->v[m]))
			m = l;
		if (r < h->n && worse(h->v[r], h->v[m]))
			m = r;
		if (m == i)
			return;
		struct cand t = h->v[i];
		h->v[i] = h->v[m];
		h->v[m] = t;
		i = m;
	}
}

/* Offers c; returns whether it is kept. */
static bool heap_offer(struct heap *h, struct cand c)
{
	if (h->n < h->k) {
		size_t i = h->n++;
		h->v[i] = c;
		while (i && worse(h->v[i], h->v[(i - 1) / 2])) {
			struct cand t = h->v[i];
			h->v[i] = h->v[(i - 1) / 2];
			h->v[(i - 1) / 2] = t;
			i = (i - 1) / 2;
		}
		return true;
	}
	if (!worse(h->v[0], c))
		return false;
	h->v[0] = c;
	heap_down(h, 0);
	return true;
}

static double tf_part(double tf, double dl, double avgdl)
{
	return tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * dl / avgdl));
}

/* The score of memory d, the terms summed in query order (the same in both
 * ways of answering, so their scores are identical). */
static double doc_score(const struct qterm *q, const float *tf, size_t m, double dl,
			double avgdl)
{
	double s = 0;
	for (size_t i = 0; i < m; i++)
		if (tf[i] > 0)
			s += q[i].idf * tf_part(tf[i], dl, avgdl);
	return s;
}

/* First posting of t at or after cursor `from` whose doc is >= d. */
static uint32_t seek(const struct term *t, uint32_t from, uint32_t d)
{
	uint32_t step = 1, lo = from, hi = from;
	while (hi < t->np && t->p[hi].doc < d) {
		lo = hi + 1;
		hi += step;
		step *= 2;
	}
	if (hi > t->np)
		hi = t->np;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (t->p[mid].doc < d)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int cmp_cand(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	return worse(*x, *y) ? 1 : worse(*y, *x) ? -1 : 0;
}

static bool live_doc(const struct pos_kwindex *x, uint32_t d)
{
	return x->docs[d].terms != NULL;
}

/* Scores every memory holding a query term. */
static size_t top_exhaustive(const struct pos_kwindex *x, struct qterm *q, size_t m,
			     double avgdl, struct heap *h, float *tf)
{
	size_t scored = 0;
	for (;;) {
		uint32_t d = NO_DOC;
		for (size_t i = 0; i < m; i++)
			if (q[i].cur < q[i].t->np && q[i].t->p[q[i].cur].doc < d)
				d = q[i].t->p[q[i].cur].doc;
		if (d == NO_DOC)
			break;
		uint32_t dl = 0;
		for (size_t i = 0; i < m; i++) {
			tf[i] = 0;
			if (q[i].cur < q[i].t->np && q[i].t->p[q[i].cur].doc == d) {
				dl = q[i].t->p[q[i].cur].dl;
				tf[i] = q[i].t->p[q[i].cur++].tf;
			}
		}
		if (!dl)
			continue; /* removed */
		scored++;
		heap_offer(h, (struct cand){doc_score(q, tf, m, dl, avgdl), d});
	}
	return scored;
}

static double first_floor(const struct pos_kwindex *x, const struct qterm *q, size_t m,
			  size_t lead, double avgdl, size_t k, float *tf, size_t *scored)
{
	const struct term *t = q[lead].t;
	double floor = INFINITY;
	size_t got = 0;
	for (uint32_t i = 0; i < t->np && got < k; i++) {
		uint32_t d = t->p[i].doc;
		if (!live_doc(x, d))
			continue;
		for (size_t j = 0; j < m; j++) {
			uint32_t c = seek(q[j].t, 0, d);
			tf[j] = c < q[j].t->np && q[j].t->p[c].doc == d ? q[j].t->p[c].tf : 0;
		}
		double s = doc_score(q, tf, m, x->docs[d].dl, avgdl);
		floor = s < floor ? s : floor;
		got++;
	}
	*scored += got;
	return got == k ? floor : -INFINITY;
}

/*
 * MaxScore (Turtle and Flood): terms by ascending bound; the longest
 * prefix whose bounds sum to at most the k-th best score so far is
 * "non-essential": a memory holding only those terms cannot enter, so
 * memories are drawn from the other lists only, and the non-essential
 * lists are probed (by galloping search) for the memories drawn.
 */
static size_t top_maxscore(const struct pos_kwindex *x, struct qterm *q, size_t m,
			   double avgdl, struct heap *h, float *tf)
{
	size_t ord[POS_KW_MAX_TERMS];
	double cum[POS_KW_MAX_TERMS];
	for (size_t i = 0; i < m; i++)
		ord[i] = i;
	for (size_t i = 1; i < m; i++) /* insertion sort by bound */
		for (size_t j = i; j && q[ord[j]].ub < q[ord[j - 1]].ub; j--) {
			size_t t = ord[j];
			ord[j] = ord[j - 1];
			ord[j - 1] = t;
		}
	for (size_t i = 0; i < m; i++)
		cum[i] = q[ord[i]].ub + (i ? cum[i - 1] : 0);
	size_t p = 0, scored = 0;
	double theta = -INFINITY;
	/* A first bound: the k-th best of the first k memories of the term of
	 * highest bound, each scored in full. Every memory of the final top-k
	 * scores at least that, so one whose bound is below it is out. */
	double floor = first_floor(x, q, m, ord[m - 1], avgdl, h->k, tf, &scored);
	while (p < m && cum[p] * (1 + 1e-9) < floor)
		p++;
	for (;;) {
		uint32_t d = NO_DOC;
		for (size_t j = p; j < m; j++) {
			const struct qterm *qt = &q[ord[j]];
			if (qt->cur < qt->t->np && qt->t->p[qt->cur].doc < d)
				d = qt->t->p[qt->cur].doc;
		}
		if (d == NO_DOC)
			break;
		double ess = 0;
		for (size_t i = 0; i < m; i++)
			tf[i] = 0;
		uint32_t dl = 0;
		for (size_t j = p; j < m; j++) {
			struct qterm *qt = &q[ord[j]];
			if (qt->cur < qt->t->np && qt->t->p[qt->cur].doc == d) {
				dl = qt->t->p[qt->cur].dl;
				tf[ord[j]] = qt->t->p[qt->cur++].tf;
				ess += qt->idf * tf_part(tf[ord[j]], dl, avgdl);
			}
		}
		if (!dl)
			continue; /* removed */
		/* Probe the non-essential lists, highest bound first, while the
		 * memory can still beat the k-th best. */
		bool may = h->n < h->k;
		double bound = ess + (p ? cum[p - 1] : 0);
		for (size_t j = p; j-- > 0;) {
			if ((!may && bound * (1 + 1e-9) <= theta) || bound * (1 + 1e-9) < floor)
				break;
			struct qterm *qt = &q[ord[j]];
			bound -= qt->ub;
			qt->cur = seek(qt->t, qt->cur, d);
			if (qt->cur < qt->t->np && qt->t->p[qt->cur].doc == d) {
				tf[ord[j]] = qt->t->p[qt->cur].tf;
				bound += qt->idf * tf_part(tf[ord[j]], dl, avgdl);
			}
		}
		if ((!may && bound * (1 + 1e-9) <= theta) || bound * (1 + 1e-9) < floor)
			continue;
		/* Some non-essential lists may be unprobed here only when the
		 * bound already ruled the memory out, so tf is complete. */
		scored++;
		double s = doc_score(q, tf, m, dl, avgdl);
		if (heap_offer(h, (struct cand){s, d}) && h->n == h->k) {
			theta = h->v[0].score;
			while (p < m && cum[p] * (1 + 1e-9) < (theta > floor ? theta : floor))
				p++;
		}
	}
	return scored;
}

enum pos_err pos_kwindex_top(const struct pos_kwindex *x, const char *const *terms,
			     const size_t *lens, size_t nterms, size_t k, bool exact,
			     struct pos_hit *out, size_t *n, size_t *scored)
{
	*n = 0;
	if (scored)
		*scored = 0;
	if (nterms > POS_KW_MAX_TERMS)
		return POS_ERR_INVALID_REQUEST;
	if (!k || !nterms || !x->live)
		return POS_OK;
	struct qterm q[POS_KW_MAX_TERMS] = {0};
	size_t m = 0;
	double N = x->live, avgdl = (double)x->total_dl / N;
	if (avgdl <= 0)
		avgdl = 1;
	for (size_t i = 0; i < nterms; i++) {
		uint32_t id = term_find(x, terms[i], lens[i]);
		if (id == NO_DOC || !x->terms[id].df)
			continue;
		const struct term *t = &x->terms[id];
		double df = t->df;
		double idf = log((N - df + 0.5) / (df + 0.5));
		if (idf <= 0.0)
			idf = 1e-6; /* as FTS5's bm25 */
		size_t j = 0;
		while (j < m && q[j].t != t)
			j++;
		if (j == m)
			q[m++] = (struct qterm){t, 0, 0, 0};
		q[j].idf += idf;
	}
	if (!m)
		return POS_OK;
	for (size_t i = 0; i < m; i++)
		q[i].ub = q[i].idf * tf_part(q[i].t->max_tf, q[i].t->min_dl, avgdl);
	struct cand *hv = pos_malloc(k * sizeof(*hv));
	if (!hv)
		return POS_ERR_NOMEM;
	struct heap h = {hv, 0, k};
	float tf[POS_KW_MAX_TERMS];
	size_t sc = exact ? top_exhaustive(x, q, m, avgdl, &h, tf)
			  : top_maxscore(x, q, m, avgdl, &h, tf);
	qsort(h.v, h.n, sizeof(*h.v), cmp_cand);
	for (size_t i = 0; i < h.n; i++)
		out[i] = (struct pos_hit){x->docs[h.v[i].doc].seq, h.v[i].score};
	*n = h.n;
	if (scored)
		*scored = sc;
	pos_free(hv);
	return POS_OK;
}
