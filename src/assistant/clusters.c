/*
 * clusters.c — a user's memories grouped by meaning, named by keywords,
 * cached per user (clusters.h).
 */
#include "assistant/clusters.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "embed/token.h"
#include "search/kmeans.h"

/* Bytes of a memory's content read for keywords. */
#define CONTENT_MAX 2000
/* Slots of the keyword table (a power of two); new words stop at 3/4. */
#define TABLE 32768u

struct cluster {
	char name[POS_CLUSTERS_KEYWORDS * (POS_TOKEN_MAX + 2)];
	char kw[POS_CLUSTERS_KEYWORDS][POS_TOKEN_MAX];
	unsigned nkw;
	int64_t count;
	char members[POS_CLUSTERS_MEMBERS][POS_UUID_SIZE];
	unsigned nmem;
};

struct centry {
	char user_id[POS_UUID_SIZE];
	uint64_t gen;
	int64_t at; /* monotonic µs of the computation; 0: empty slot */
	unsigned n;
	struct cluster v[POS_CLUSTERS_K];
};

struct pos_clusters {
	pthread_mutex_t mu;
	struct centry e[POS_CLUSTERS_CACHE];
};

enum pos_err pos_clusters_new(struct pos_clusters **out)
{
	struct pos_clusters *c = pos_calloc(1, sizeof(*c));
	if (!c)
		return POS_ERR_NOMEM;
	pthread_mutex_init(&c->mu, NULL);
	*out = c;
	return POS_OK;
}

void pos_clusters_free(struct pos_clusters *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->mu);
	pos_free(c);
}

/* ---- keywords ---- */

struct word {
	char stem[POS_TOKEN_MAX];
	char word[POS_TOKEN_MAX]; /* the first form seen, shown in labels */
	uint32_t df;              /* sampled memories holding it */
	uint32_t dfc[POS_CLUSTERS_K];
	uint32_t last;            /* the last memory counted (index + 1) */
};

struct table {
	struct word *w;
	size_t used;
};

static struct word *lookup(struct table *t, const struct pos_token *tok)
{
	uint64_t h = pos_token_hash(tok->stem, tok->stem_len, 16);
	for (size_t i = 0; i < TABLE; i++) {
		struct word *w = &t->w[(h + i) & (TABLE - 1)];
		if (!w->stem[0]) {
			if (t->used >= TABLE / 4 * 3)
				return NULL; /* full enough: new words are not counted */
			snprintf(w->stem, sizeof(w->stem), "%s", tok->stem);
			snprintf(w->word, sizeof(w->word), "%s", tok->word);
			t->used++;
			return w;
		}
		if (strcmp(w->stem, tok->stem) == 0)
			return w;
	}
	return NULL;
}

static void count_words(struct table *t, const char *text, size_t len, uint32_t doc,
			unsigned cluster)
{
	struct pos_token_iter it;
	struct pos_token tok;
	pos_token_iter_init(&it, text, len < CONTENT_MAX ? len : CONTENT_MAX);
	while (pos_token_next(&it, &tok)) {
		if ((tok.flags & POS_TOKEN_DIGIT) || tok.word_len < 3)
			continue;
		struct word *w = lookup(t, &tok);
		if (!w || w->last == doc)
			continue;
		w->last = doc;
		w->df++;
		w->dfc[cluster]++;
	}
}

/* The cluster's keywords: words most of its members hold and few others
 * do, (members holding it / size) · log(n / holders), held by at least
 * two members. */
static void keywords(const struct table *t, unsigned c, size_t size, size_t n,
		     struct cluster *out)
{
	double best[POS_CLUSTERS_KEYWORDS] = {0};
	const struct word *pick[POS_CLUSTERS_KEYWORDS] = {0};
	for (size_t i = 0; i < TABLE; i++) {
		const struct word *w = &t->w[i];
		if (!w->stem[0] || w->dfc[c] < 2)
			continue;
		double s = (double)w->dfc[c] / (double)size * log((double)n / (double)w->df);
		if (s <= 0)
			continue;
		for (unsigned k = 0; k < POS_CLUSTERS_KEYWORDS; k++) {
			/* ties: the alphabetically first, so labels are stable */
			if (s > best[k] || (s == best[k] && pick[k] && strcmp(w->word, pick[k]->word) < 0)) {
				for (unsigned m = POS_CLUSTERS_KEYWORDS - 1; m > k; m--) {
					best[m] = best[m - 1];
					pick[m] = pick[m - 1];
				}
				best[k] = s;
				pick[k] = w;
				break;
			}
		}
	}
	out->nkw = 0;
	out->name[0] = '\0';
	size_t len = 0;
	for (unsigned k = 0; k < POS_CLUSTERS_KEYWORDS && pick[k]; k++) {
		snprintf(out->kw[out->nkw++], POS_TOKEN_MAX, "%s", pick[k]->word);
		int wr = snprintf(out->name + len, sizeof(out->name) - len, "%s%s", k ? ", " : "",
				  pick[k]->word);
		if (wr > 0 && (size_t)wr < sizeof(out->name) - len)
			len += (size_t)wr;
	}
	if (!out->nkw)
		snprintf(out->name, sizeof(out->name), "cluster %u", c + 1);
}

/* ---- the computation ---- */

static float dotf(const float *a, const float *b, unsigned d)
{
	float s = 0;
	for (unsigned i = 0; i < d; i++)
		s += a[i] * b[i];
	return s;
}

static enum pos_err compute(struct pos_search *e, struct pos_store *s, struct pos_arena *a,
			    const char *user_id, struct centry *out, bool *pending)
{
	int64_t *seqs;
	float *vecs;
	size_t n, total;
	unsigned dim;
	out->n = 0;
	enum pos_err rc = pos_search_sample(e, a, user_id, POS_CLUSTERS_SAMPLE,
					    POS_CLUSTERS_WAIT_MS, &seqs, &vecs, &n, &total, &dim);
	if (rc == POS_ERR_UNAVAILABLE) {
		*pending = true;
		return POS_OK;
	}
	if (rc || n < 4)
		return rc;
	unsigned *assign = pos_arena_alloc(a, n * sizeof(*assign));
	float *cent = pos_arena_alloc(a, (size_t)POS_CLUSTERS_K * dim * sizeof(*cent));
	struct pos_memory *mems = pos_arena_zalloc(a, n * sizeof(*mems));
	bool *found = pos_arena_zalloc(a, n * sizeof(*found));
	struct table t = {pos_arena_zalloc(a, TABLE * sizeof(struct word)), 0};
	if (!assign || !cent || !mems || !found || !t.w)
		return POS_ERR_NOMEM;
	unsigned k;
	float sil;
	rc = pos_kmeans_best(vecs, n, dim, POS_CLUSTERS_K,
			     pos_mono_us() + POS_CLUSTERS_DEADLINE_MS * 1000LL, assign, cent, &k,
			     &sil);
	if (!rc)
		rc = s->memories->memories_by_seq(s, a, user_id, seqs, n, mems, found);
	if (rc)
		return rc;
	size_t size[POS_CLUSTERS_K] = {0};
	for (size_t i = 0; i < n; i++) {
		size[assign[i]]++;
		/* sealed content (encryption at rest) is never read for words */
		if (found[i] && !mems[i].is_encrypted && mems[i].content)
			count_words(&t, mems[i].content, mems[i].content_len, (uint32_t)(i + 1),
				    assign[i]);
	}
	for (unsigned c = 0; c < k; c++) {
		if (size[c] < 2)
			continue; /* a lone memory is not a category */
		struct cluster *cl = &out->v[out->n];
		memset(cl, 0, sizeof(*cl));
		keywords(&t, c, size[c], n, cl);
		cl->count = (int64_t)llround((double)size[c] * (double)total / (double)n);
		/* members: the nearest to the centroid first */
		float sim[POS_CLUSTERS_MEMBERS];
		for (size_t i = 0; i < n; i++) {
			if (assign[i] != c || !found[i])
				continue;
			float v = dotf(vecs + i * dim, cent + (size_t)c * dim, dim);
			unsigned at = cl->nmem;
			while (at > 0 && v > sim[at - 1])
				at--;
			if (at >= POS_CLUSTERS_MEMBERS)
				continue;
			unsigned last = cl->nmem < POS_CLUSTERS_MEMBERS ? cl->nmem : POS_CLUSTERS_MEMBERS - 1;
			for (unsigned m = last; m > at; m--) {
				sim[m] = sim[m - 1];
				memcpy(cl->members[m], cl->members[m - 1], POS_UUID_SIZE);
			}
			sim[at] = v;
			snprintf(cl->members[at], POS_UUID_SIZE, "%s", mems[i].id);
			if (cl->nmem < POS_CLUSTERS_MEMBERS)
				cl->nmem++;
		}
		out->n++;
	}
	return POS_OK;
}

static void render(struct pos_jw *w, const struct centry *e)
{
	for (unsigned i = 0; i < e->n; i++) {
		const struct cluster *c = &e->v[i];
		pos_jw_obj(w);
		pos_jw_kstr(w, "name", c->name);
		pos_jw_kint(w, "count", c->count);
		pos_jw_kstr(w, "kind", "cluster");
		pos_jw_key(w, "keywords");
		pos_jw_arr(w);
		for (unsigned k = 0; k < c->nkw; k++)
			pos_jw_str(w, c->kw[k]);
		pos_jw_arr_end(w);
		pos_jw_key(w, "member_ids");
		pos_jw_arr(w);
		for (unsigned m = 0; m < c->nmem; m++)
			pos_jw_str(w, c->members[m]);
		pos_jw_arr_end(w);
		pos_jw_obj_end(w);
	}
}

enum pos_err pos_clusters_json(struct pos_clusters *c, struct pos_search *e,
			       struct pos_store *s, struct pos_arena *a, const char *user_id,
			       struct pos_jw *w, bool *pending)
{
	*pending = false;
	uint64_t gen = pos_search_generation(e, user_id);
	int64_t now = pos_mono_us();
	struct centry *hit = pos_arena_alloc(a, sizeof(*hit));
	if (!hit)
		return POS_ERR_NOMEM;
	bool cached = false;
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < POS_CLUSTERS_CACHE; i++) {
		struct centry *ce = &c->e[i];
		if (ce->at && strcmp(ce->user_id, user_id) == 0 && ce->gen == gen &&
		    now - ce->at < POS_CLUSTERS_TTL_US) {
			*hit = *ce;
			cached = true;
			break;
		}
	}
	pthread_mutex_unlock(&c->mu);
	if (!cached) {
		memset(hit, 0, sizeof(*hit));
		enum pos_err rc = compute(e, s, a, user_id, hit, pending);
		if (rc)
			return rc;
		if (!*pending) {
			snprintf(hit->user_id, sizeof(hit->user_id), "%s", user_id);
			hit->gen = gen; /* a write during the computation retires it */
			hit->at = now ? now : 1;
			pthread_mutex_lock(&c->mu);
			size_t slot = 0;
			for (size_t i = 0; i < POS_CLUSTERS_CACHE; i++) {
				if (strcmp(c->e[i].user_id, user_id) == 0 || !c->e[i].at) {
					slot = i;
					break;
				}
				if (c->e[i].at < c->e[slot].at)
					slot = i;
			}
			c->e[slot] = *hit;
			pthread_mutex_unlock(&c->mu);
		}
	}
	render(w, hit);
	return w->rc;
}
