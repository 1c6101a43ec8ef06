/*
 * engine.c — hybrid search and embedding upkeep on the write path; the
 * backfill job kind is in backfill.c.
 */
#include "search/engine.h"
#include "search/engine_internal.h"

#include <math.h>
#include <stdio.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/log.h"
#include "base/thread.h"
#include "search/expand.h"
#include "search/query.h"
#include "search/rcache.h"
#include "search/temporal.h"
#include "search/vcache.h"
#include "search/vector.h"
#include "search/wordnet.h"
#include "embed/openai.h"

/* Threads helping hybrid searches (vector scan beside BM25); a search
 * finding them all busy runs both sides itself. */
#define SEARCH_HELPERS 4
#define FILTER_SET_MAX 50000000
/* A query word is "common" when more memories than this share of the index
 * and this absolute floor contain it (docs/SEARCH.md). */
#define PRUNE_DF_FLOOR 2000
#define PRUNE_DF_SHARE 0.02
#define PRUNE_KEEP_RAREST 2


void pos_search_config_default(struct pos_search_config *c)
{
	memset(c, 0, sizeof(*c));
	pos_rank_weights_default(&c->weights);
	c->candidates = 200;
	c->embed_dim = 256;
	c->cache_entries = 1024;
	c->max_loaded_users = 64;
	c->vector_cache_bytes = (size_t)512 << 20;
	c->vector_wait_ms = 500;
	c->backfill = true;
	c->min_similarity = POS_SEARCH_MIN_SIMILARITY_DEFAULT;
	c->date_boost = 1.0;
	c->date_when = 0.1;
	c->expand_max_df = 0;
	c->thread_credit = 0.3;
}

const char *pos_search_model(const struct pos_search *e)
{
	return e->embedder->model;
}

struct pos_vcache *pos_search_vectors(struct pos_search *e)
{
	return atomic_load_explicit(&e->vectors, memory_order_acquire);
}

/* Mixes a memory's vector and its context's (weight POS_CONTEXT_WEIGHT),
 * normalizes, quantizes into `q` (dim bytes the caller has) and out;
 * false for a zero vector (out has no q then). */
static bool finish_into(struct pos_search *e, float *v, const float *ctx, int8_t *q,
			struct pos_vec *out)
{
	unsigned dim = e->embedder->dim;
	memset(out, 0, sizeof(*out));
	float n2 = 0;
	for (unsigned i = 0; i < dim; i++) {
		if (ctx)
			v[i] += POS_CONTEXT_WEIGHT * ctx[i];
		n2 += v[i] * v[i];
	}
	if (n2 == 0)
		return false; /* nothing to embed: no vector */
	float inv = 1.0f / sqrtf(n2);
	for (unsigned i = 0; i < dim; i++)
		v[i] *= inv;
	pos_vec_quantize(v, dim, q, &out->scale);
	out->q = q;
	out->dim = dim;
	out->model = e->embedder->model;
	return true;
}

/* finish_into with q in the arena. */
enum pos_err pos_search_finish_vec(struct pos_search *e, struct pos_arena *a, float *v,
			       const float *ctx, struct pos_vec *out)
{
	int8_t *q = pos_arena_alloc(a, e->embedder->dim);
	if (!q)
		return POS_ERR_NOMEM;
	finish_into(e, v, ctx, q, out);
	return POS_OK;
}

enum pos_err pos_search_embed(struct pos_search *e, struct pos_arena *a,
			      const char *text, size_t len, struct pos_vec *out)
{
	return pos_search_embed_ctx(e, a, text, len, NULL, 0, out);
}

enum pos_err pos_search_embed_ctx(struct pos_search *e, struct pos_arena *a,
				  const char *text, size_t len, const char *context,
				  size_t context_len, struct pos_vec *out)
{
	memset(out, 0, sizeof(*out));
	if (e->remote)
		return POS_OK; /* never on the request path: a backfill job embeds it */
	unsigned dim = e->embedder->dim;
	float *v = pos_arena_alloc(a, dim * sizeof(*v));
	float *cv = context && context_len ? pos_arena_alloc(a, dim * sizeof(*cv)) : NULL;
	if (!v || (context && context_len && !cv))
		return POS_ERR_NOMEM;
	enum pos_err rc = pos_embed(e->embedder, text, len, v);
	if (!rc && cv)
		rc = pos_embed(e->embedder, context, context_len, cv);
	return rc ? rc : pos_search_finish_vec(e, a, v, cv, out);
}

/* Texts a helper of pos_search_embed_many embeds at a time. */
#define EMBED_CHUNK 64

struct embed_many {
	struct pos_search *e;
	const struct pos_embed_input *in;
	struct pos_vec *out;
	size_t n;
	int8_t *q;      /* n * dim bytes */
	float *scratch; /* 2 * dim floats per chunk */
	_Atomic int rc;
};

static void embed_chunk(void *ctx, size_t chunk)
{
	struct embed_many *m = ctx;
	unsigned dim = m->e->embedder->dim;
	float *v = m->scratch + chunk * 2 * dim, *cv = v + dim;
	size_t end = (chunk + 1) * EMBED_CHUNK < m->n ? (chunk + 1) * EMBED_CHUNK : m->n;
	for (size_t i = chunk * EMBED_CHUNK; i < end && !atomic_load(&m->rc); i++) {
		const struct pos_embed_input *x = &m->in[i];
		bool with_ctx = x->context && x->context_len;
		enum pos_err rc = pos_embed(m->e->embedder, x->text, x->len, v);
		if (!rc && with_ctx)
			rc = pos_embed(m->e->embedder, x->context, x->context_len, cv);
		if (rc) {
			int none = POS_OK;
			atomic_compare_exchange_strong(&m->rc, &none, (int)rc);
			return;
		}
		finish_into(m->e, v, with_ctx ? cv : NULL, m->q + i * dim, &m->out[i]);
	}
}

enum pos_err pos_search_embed_many(struct pos_search *e, struct pos_arena *a,
				   const struct pos_embed_input *in, size_t n, struct pos_vec *out)
{
	memset(out, 0, n * sizeof(*out));
	if (e->remote || n == 0)
		return POS_OK; /* never on the request path: a backfill job embeds it */
	unsigned dim = e->embedder->dim;
	size_t chunks = (n + EMBED_CHUNK - 1) / EMBED_CHUNK;
	struct embed_many m = {e, in, out, n, pos_arena_alloc(a, n * dim),
			       pos_arena_alloc(a, chunks * 2 * dim * sizeof(float)), POS_OK};
	if (!m.q || !m.scratch)
		return POS_ERR_NOMEM;
	pos_parallel_for(e->helpers, chunks, embed_chunk, &m);
	return (enum pos_err)atomic_load(&m.rc);
}

void pos_search_set_shared(struct pos_search *e, const struct pos_search_shared *shared)
{
	e->shared = *shared;
}

/* After a write of the user: its cached results stop matching, here and
 * (shared) on every instance (engine_internal.h). */
void pos_search_bump(struct pos_search *e, const char *user_id)
{
	pos_rcache_bump(e->results, user_id);
	if (e->shared.bump && e->shared.bump(e->shared.ctx, user_id))
		atomic_store(&e->shared_lost, true);
}

/* The generation results of the user are stamped with: the local one,
 * mixed with the shared one when there is one. False when the shared
 * cache cannot answer: nothing is cached then (another instance's write
 * could not reach us). */
static bool generation(struct pos_search *e, const char *user_id, uint64_t *gen,
		       uint64_t *shared_gen)
{
	*gen = pos_rcache_generation(e->results, user_id);
	*shared_gen = 0;
	if (!e->shared.generation)
		return true;
	/* A write the other instances missed: retire every cached list once
	 * the cache answers again; nothing is cached until then. */
	if (atomic_load(&e->shared_lost)) {
		if (e->shared.bump_all(e->shared.ctx))
			return false;
		atomic_store(&e->shared_lost, false);
	}
	if (e->shared.generation(e->shared.ctx, user_id, shared_gen))
		return false;
	*gen += *shared_gen * 0x9E3779B97F4A7C15ull; /* either changing changes the stamp */
	return true;
}

/* Shared ranked lists: kept this long at most (a write retires them at
 * once by moving the generation; the TTL only bounds Redis's memory). */
#define SHARED_RESULTS_TTL_MS 300000
#define SHARED_KEY_MAX 128

/* The shared key of a request: no query text, only a hash of it. */
static void shared_key(char out[SHARED_KEY_MAX], const char *user_id, uint64_t gen,
		       const char *key)
{
	unsigned char h[16];
	char hex[33];
	crypto_generichash(h, sizeof(h), (const unsigned char *)key, strlen(key), NULL, 0);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	snprintf(out, SHARED_KEY_MAX, "pos:sr:%s:%llu:%s", user_id, (unsigned long long)gen,
		 hex);
}

/* The most entries a ranked list holds: both candidate lists, fused. */
static size_t shared_max_n(const struct pos_search *e)
{
	return 2 * (size_t)e->cfg.candidates;
}

static bool shared_get(struct pos_search *e, struct pos_arena *a, const char *user_id,
		       uint64_t gen, const char *key, struct pos_ranked **r, size_t *n,
		       int64_t *total)
{
	if (!e->shared.get)
		return false;
	char k[SHARED_KEY_MAX];
	shared_key(k, user_id, gen, key);
	size_t cap = pos_rcache_encoded_size(shared_max_n(e)), len = 0;
	void *buf = pos_arena_alloc(a, cap);
	return buf && e->shared.get(e->shared.ctx, k, buf, cap, &len) == POS_OK &&
	       pos_rcache_decode(buf, len, shared_max_n(e), a, r, n, total);
}

static void shared_put(struct pos_search *e, struct pos_arena *a, const char *user_id,
		       uint64_t gen, const char *key, const struct pos_ranked *r, size_t n,
		       int64_t total)
{
	if (!e->shared.put || n > shared_max_n(e))
		return;
	char k[SHARED_KEY_MAX];
	shared_key(k, user_id, gen, key);
	size_t len = pos_rcache_encoded_size(n);
	void *buf = pos_arena_alloc(a, len);
	if (!buf)
		return;
	pos_rcache_encode(r, n, total, buf);
	e->shared.put(e->shared.ctx, k, buf, len, SHARED_RESULTS_TTL_MS);
}

void pos_search_written(struct pos_search *e, const char *user_id, int64_t seq,
			const struct pos_vec *v, bool deleted)
{
	struct pos_vcache *vc = pos_search_vectors(e);
	if (deleted || (v && !v->q)) {
		if (vc)
			pos_vcache_remove(vc, user_id, seq);
	} else if (vc && v && v->model && strcmp(v->model, e->embedder->model) == 0) {
		pos_vcache_put(vc, user_id, seq, v->q, v->scale);
	}
	if (!deleted && (!v || !v->q) && e->remote)
		pos_search_backfill_kick(e, user_id); /* a backfill job embeds it */
	pos_search_bump(e, user_id);
}

void pos_search_written_batch(struct pos_search *e, const struct pos_memory *v, size_t n)
{
	if (!n)
		return;
	struct pos_vcache *vc = pos_search_vectors(e);
	bool kick = false;
	/* the vectors of a run of one user under one write lock of its index
	 * (pos_vcache_put_many), a step of PUT_STEP at a time */
	enum { PUT_STEP = 256 };
	int64_t seqs[PUT_STEP];
	const int8_t *qs[PUT_STEP];
	float scs[PUT_STEP];
	size_t np = 0;
	const char *owner = ""; /* set with the first vector put */
	for (size_t i = 0; i <= n; i++) {
		const struct pos_vec *x = i < n ? &v[i].vec : NULL;
		bool put = x && vc && x->q && x->model && strcmp(x->model, e->embedder->model) == 0;
		if (np && (i == n || np == PUT_STEP || (put && strcmp(owner, v[i].user_id) != 0))) {
			pos_vcache_put_many(vc, owner, np, seqs, qs, scs);
			np = 0;
		}
		if (i == n)
			break;
		if (put) {
			owner = v[i].user_id;
			seqs[np] = v[i].seq;
			qs[np] = x->q;
			scs[np++] = x->scale;
		}
		kick = kick || !x->q;
	}
	if (kick && e->remote)
		pos_search_backfill_kick(e, v[0].user_id); /* a backfill job embeds them */
	pos_search_bump(e, v[0].user_id);
}

uint64_t pos_search_generation(struct pos_search *e, const char *user_id)
{
	return pos_rcache_generation(e->results, user_id);
}

enum pos_err pos_search_sample(struct pos_search *e, struct pos_arena *a, const char *user_id,
			       size_t max, unsigned wait_ms, int64_t **seqs, float **vecs,
			       size_t *n, size_t *total, unsigned *dim)
{
	*seqs = NULL;
	*vecs = NULL;
	*n = *total = 0;
	*dim = 0;
	struct pos_vcache *vc = pos_search_vectors(e);
	if (!vc || !e->embedder)
		return POS_ERR_UNAVAILABLE;
	unsigned d = e->embedder->dim;
	enum pos_err rc = pos_vcache_prepare(vc, user_id, wait_ms);
	if (rc)
		return rc;
	size_t cap = max ? max : 1;
	*seqs = pos_arena_alloc(a, cap * sizeof(**seqs));
	*vecs = pos_arena_alloc(a, cap * d * sizeof(**vecs));
	if (!*seqs || !*vecs)
		return POS_ERR_NOMEM;
	rc = pos_vcache_sample(vc, user_id, max, *seqs, *vecs, n, total);
	if (!rc)
		*dim = d;
	return rc;
}

void pos_search_invalidate_user(struct pos_search *e, const char *user_id)
{
	pos_search_forget_user(e, user_id);
}

void pos_search_forget_user(struct pos_search *e, const char *user_id)
{
	struct pos_vcache *vc = pos_search_vectors(e);
	if (vc)
		pos_vcache_forget(vc, user_id);
	pos_rcache_forget(e->results, user_id);
}

/* Whether the user's text may go to the embedding provider: always with the
 * built-in embedder or a local provider; else only for the `cloud` tier. */
bool pos_search_may_send(struct pos_search *e, struct pos_arena *a, const char *user_id)
{
	if (!e->remote || e->cfg.embed_local)
		return true;
	struct pos_user u;
	if (e->store->accounts->user_by_id(e->store, a, user_id, &u) != POS_OK)
		return false;
	return u.privacy_tier && strcmp(u.privacy_tier, "cloud") == 0;
}

enum pos_err pos_search_new(struct pos_store *s, const struct pos_search_config *cfg,
			    struct pos_search **out, struct pos_error *err)
{
	struct pos_search *e = pos_calloc(1, sizeof(*e));
	if (!e)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	e->store = s;
	e->cfg = *cfg;
	e->provider_ok = true;
	atomic_init(&e->vectors, NULL);
	pthread_mutex_init(&e->lock, NULL);
	enum pos_err rc;
	if (cfg->embed_url && *cfg->embed_url) {
		struct pos_embed_openai_config oc;
		pos_embed_openai_config_default(&oc);
		oc.base_url = cfg->embed_url;
		oc.model = cfg->embed_model;
		oc.api_key = cfg->embed_api_key;
		oc.dim = cfg->embed_remote_dim;
		rc = pos_embed_openai_new(&oc, &e->embedder);
		if (rc) {
			pos_search_free(e);
			return pos_error_set(err, rc, "embed_url",
					     "bad embedding provider settings (embed_url, embed_model)");
		}
		e->remote = true;
	} else {
		rc = pos_embed_builtin_new(cfg->embed_dim, &e->embedder);
		if (rc) {
			pos_search_free(e);
			return pos_error_set(err, rc, "embed_dim", "cannot create the built-in embedder");
		}
		struct pos_vcache *vc = NULL;
		if ((rc = pos_vcache_new(s, e->embedder->model, e->embedder->dim,
					 cfg->max_loaded_users, cfg->vector_cache_bytes, &vc))) {
			pos_search_free(e);
			return pos_error_set(err, rc, NULL, "cannot create the vector index");
		}
		pos_vcache_set_exact(vc, cfg->vector_exact);
		atomic_store(&e->vectors, vc);
	}
	if (!(e->results = pos_rcache_new(cfg->cache_entries))) {
		pos_search_free(e);
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	}
	if ((rc = pos_workers_new(SEARCH_HELPERS, &e->helpers))) {
		pos_search_free(e);
		return pos_error_set(err, rc, NULL, "cannot start the search helpers");
	}
	if (cfg->expand_weight > 0 && cfg->wordnet_dir && *cfg->wordnet_dir) {
		/* WordNet missing is not fatal: search works, unexpanded */
		if ((rc = pos_wordnet_open(cfg->wordnet_dir, &e->wordnet)))
			pos_warn("search: no query expansion: WordNet not readable in %s (%s)",
				 cfg->wordnet_dir, pos_strerror(rc));
	}
	*out = e;
	return POS_OK;
}

void pos_search_quiesce(struct pos_search *e)
{
	if (e && e->remote)
		pos_embed_openai_cancel(e->embedder); /* a call in flight ends now */
}

void pos_search_free(struct pos_search *e)
{
	if (!e)
		return;
	pos_search_backfill_free(e);
	pos_workers_free(e->helpers);
	pos_rcache_free(e->results);
	pos_vcache_free(pos_search_vectors(e));
	pos_embed_free(e->embedder);
	pos_wordnet_close(e->wordnet);
	pthread_mutex_destroy(&e->lock);
	pos_free(e);
}

void pos_search_stats(struct pos_search *e, struct pos_search_stats *out)
{
	memset(out, 0, sizeof(*out));
	pos_rcache_stats(e->results, &out->cache_hits, &out->cache_misses);
	if (pos_search_vectors(e))
		pos_vcache_usage(pos_search_vectors(e), &out->index_bytes, &out->index_users);
	out->backfilled = atomic_load(&e->embedded);
	out->searches = atomic_load(&e->searches);
	out->embed_failures = atomic_load(&e->embed_failures);
	out->query_embed_failures = atomic_load(&e->query_embed_failures);
	out->embed_skipped = atomic_load(&e->skipped);
	out->remote = e->remote;
	pthread_mutex_lock(&e->lock);
	out->provider_ok = e->provider_ok;
	snprintf(out->last_error, sizeof(out->last_error), "%s", e->last_error);
	pthread_mutex_unlock(&e->lock);
}

/* ---- filters ---- */

/* Combines parameter filters with those written in the query text. */
static enum pos_err merge_filters(struct pos_arena *a, const struct pos_memory_query *p,
				  const struct pos_query *q, struct pos_memory_query *f,
				  struct pos_error *err)
{
	*f = *p;
	if (q->type == POS_TYPE_CONVERSATION)
		f->hide_chat = false; /* asked for by type:conversation */
	if (q->type >= 0) {
		if (f->type >= 0 && f->type != q->type)
			return pos_error_set(err, POS_ERR_INVALID_FIELD, "type",
					     "type given twice with different values");
		f->type = q->type;
	}
	if (q->layer >= 0) {
		if (f->layer >= 0 && f->layer != q->layer)
			return pos_error_set(err, POS_ERR_INVALID_FIELD, "layer",
					     "layer given twice with different values");
		f->layer = q->layer;
	}
	if (q->source) {
		if (f->source && strcasecmp(f->source, q->source) != 0)
			return pos_error_set(err, POS_ERR_INVALID_FIELD, "source",
					     "source given twice with different values");
		f->source = q->source;
	}
	if (q->after != POS_TIME_NONE && (f->after == POS_TIME_NONE || q->after > f->after))
		f->after = q->after;
	if (q->before != POS_TIME_NONE && (f->before == POS_TIME_NONE || q->before < f->before))
		f->before = q->before;
	if (q->n_tags) {
		const char **tags = pos_arena_alloc(a, (p->n_tags + q->n_tags) * sizeof(*tags));
		if (!tags)
			return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
		size_t n = 0;
		for (size_t i = 0; i < p->n_tags + q->n_tags; i++) {
			const char *t = i < p->n_tags ? p->tags[i] : q->tags[i - p->n_tags];
			bool dup = false;
			for (size_t j = 0; j < n && !dup; j++)
				dup = strcasecmp(tags[j], t) == 0; /* tags match ignoring case */
			if (!dup)
				tags[n++] = t;
		}
		if (n > POS_QUERY_MAX_TAGS)
			return pos_error_set(err, POS_ERR_INVALID_FIELD, "tag",
					     "at most %d distinct tags", POS_QUERY_MAX_TAGS);
		f->tags = tags;
		f->n_tags = n;
	}
	if (f->after != POS_TIME_NONE && f->before != POS_TIME_NONE && f->after >= f->before)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "before",
				     "before must be later than after");
	return POS_OK;
}

static bool has_filters(const struct pos_memory_query *f)
{
	return f->type >= 0 || f->layer >= 0 || f->source || f->n_tags ||
	       f->after != POS_TIME_NONE || f->before != POS_TIME_NONE ||
	       f->fts_require || f->fts_exclude;
}

/* The seqs passing the filters, as a bitmap over [base, base + nbits). */
struct keepset {
	int64_t base;
	uint64_t *bits;
	size_t nbits;
};

static bool keep_fn(void *ctx, int64_t seq)
{
	const struct keepset *k = ctx;
	if (seq < k->base || (size_t)(seq - k->base) >= k->nbits)
		return false;
	size_t i = (size_t)(seq - k->base);
	return (k->bits[i / 64] >> (i % 64)) & 1;
}

static enum pos_err build_keepset(struct pos_search *e, struct pos_arena *a,
				  const struct pos_memory_query *f, struct keepset *k)
{
	int64_t *seqs = NULL;
	size_t n = 0;
	enum pos_err rc = e->store->memories->filter_seqs(e->store, a, f, FILTER_SET_MAX, &seqs, &n);
	if (rc)
		return rc;
	memset(k, 0, sizeof(*k));
	if (!n)
		return POS_OK;
	k->base = seqs[0];
	k->nbits = (size_t)(seqs[n - 1] - seqs[0]) + 1;
	k->bits = pos_arena_zalloc(a, (k->nbits + 63) / 64 * sizeof(uint64_t));
	if (!k->bits)
		return POS_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		size_t b = (size_t)(seqs[i] - k->base);
		k->bits[b / 64] |= 1ull << (b % 64);
	}
	return POS_OK;
}

/* ---- search ---- */

/* Appends `item` as an FTS5 string ("..." with inner quotes doubled). */
static enum pos_err fts_quote(struct pos_buf *b, const char *item)
{
	enum pos_err rc = pos_buf_addc(b, '"');
	for (const char *p = item; !rc && *p; p++)
		rc = *p == '"' ? pos_buf_adds(b, "\"\"") : pos_buf_addc(b, *p);
	return rc ? rc : pos_buf_addc(b, '"');
}

/* Joins the items that make a token with `op` into an FTS5 expression
 * (in the arena); NULL when none does. */
static enum pos_err fts_join(struct pos_arena *a, const char *const *items, size_t n,
			     const char *op, const char **out)
{
	struct pos_buf b;
	pos_buf_init(&b, 64 * 1024);
	enum pos_err rc = POS_OK;
	for (size_t i = 0; !rc && i < n; i++) {
		if (!pos_query_has_token(items[i], strlen(items[i])))
			continue;
		if (b.len)
			rc = pos_buf_adds(&b, op);
		if (!rc)
			rc = fts_quote(&b, items[i]);
	}
	*out = NULL;
	if (!rc && b.len && !(*out = pos_arena_strndup(a, b.data, b.len)))
		rc = POS_ERR_NOMEM;
	pos_buf_free(&b);
	return rc;
}

/*
 * Required phrases and excluded words become filters over the full-text
 * index, so they hold for every result whichever engine found it — and for
 * a query of exclusions alone, which lists everything but them.
 */
static enum pos_err text_filters(struct pos_arena *a, const struct pos_query *q,
				 struct pos_memory_query *f)
{
	enum pos_err rc = fts_join(a, q->phrases, q->n_phrases, " AND ", &f->fts_require);
	if (!rc)
		rc = fts_join(a, q->excluded, q->n_excluded, " OR ", &f->fts_exclude);
	return rc;
}

static enum pos_err cache_key(struct pos_arena *a, const struct pos_search_request *req,
			      const struct pos_memory_query *f, const struct pos_temporal *tq,
			      const char **out)
{
	struct pos_buf b;
	pos_buf_init(&b, 64 * 1024);
	enum pos_err rc = pos_buf_addf(&b, "m%d|t%d|l%d|a%lld|b%lld|h%d|p%d|s%s|", (int)req->mode,
				       f->type, f->layer, (long long)f->after,
				       (long long)f->before, f->hide_chat ? 1 : 0,
				       req->typing ? 1 : 0, f->source ? f->source : "");
	/* the window moves with the clock: "yesterday" is another day tomorrow */
	if (!rc && tq->window)
		rc = pos_buf_addf(&b, "w%lld-%lld|", (long long)tq->from, (long long)tq->to);
	for (size_t i = 0; !rc && i < f->n_tags; i++)
		rc = pos_buf_addf(&b, "t:%s|", f->tags[i]);
	if (!rc)
		rc = pos_buf_add(&b, req->query, req->query_len);
	*out = rc ? NULL : pos_arena_strndup(a, b.data, b.len);
	pos_buf_free(&b);
	return rc ? rc : (*out ? POS_OK : POS_ERR_NOMEM);
}

/* Filters only, no text: the newest memories passing them. */
static enum pos_err run_list(struct pos_search *e, struct pos_arena *a,
			     const struct pos_search_request *req,
			     const struct pos_memory_query *f,
			     struct pos_search_result *out)
{
	struct pos_memory_query q = *f;
	q.user_id = req->user_id;
	q.sort = POS_SORT_NEWEST;
	q.limit = req->limit;
	q.offset = req->offset;
	struct pos_memory *m = NULL;
	size_t n = 0;
	enum pos_err rc = e->store->memories->memory_list(e->store, a, &q, &m, &n, &out->total);
	if (rc)
		return rc;
	out->hits = pos_arena_zalloc(a, (n ? n : 1) * sizeof(*out->hits));
	if (!out->hits)
		return POS_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		out->hits[i].memory = m[i];
		out->hits[i].rank.seq = m[i].seq;
	}
	out->n = n;
	return POS_OK;
}

/*
 * Query pruning by document frequency: BM25 must score every memory that
 * matches any OR-ed word, and words found in a large share of the index
 * (dynamic stop words) cost the most while telling the least. They are left
 * out when rarer words carry the query; if every word is common, the
 * PRUNE_KEEP_RAREST rarest stay. Phrases are never pruned. `kept` is a copy
 * of q with the surviving terms.
 */
static enum pos_err prune_common(struct pos_search *e, struct pos_arena *a,
				 const char *user_id, const struct pos_query *q,
				 struct pos_query *kept)
{
	*kept = *q;
	if (q->n_terms < 2)
		return POS_OK;
	int64_t *df = pos_arena_alloc(a, q->n_terms * sizeof(*df));
	const char **terms = pos_arena_alloc(a, q->n_terms * sizeof(*terms));
	if (!df || !terms)
		return POS_ERR_NOMEM;
	int64_t docs = 0;
	for (size_t i = 0; i < q->n_terms; i++) {
		/* An encrypted user's words are counted as their tokens
		 * (docs/ENCRYPTION.md). The memory count once, with the first
		 * word (a query each; they were 4 % of a search's CPU). */
		int64_t *dp = i ? NULL : &docs;
		enum pos_err rc = e->store->keys->user_term_frequency
			? e->store->keys->user_term_frequency(e->store, user_id, q->terms[i], &df[i], dp)
			: e->store->memories->term_frequency(e->store, q->terms[i], &df[i], dp);
		if (rc)
			return rc;
	}
	double limit = (double)docs * PRUNE_DF_SHARE;
	if (limit < PRUNE_DF_FLOOR)
		limit = PRUNE_DF_FLOOR;
	/* Words in no memory (typos) carry nothing: they neither count as
	 * the rare words that justify pruning nor need to stay. */
	size_t n = 0;
	for (size_t i = 0; i < q->n_terms; i++)
		if ((df[i] > 0 && (double)df[i] <= limit) || q->terms[i] == q->prefix)
			terms[n++] = q->terms[i];
	if (n == 0 || (n == 1 && q->prefix && terms[0] == q->prefix)) {
		/* all common (or unknown): keep the rarest few known ones */
		for (size_t k = 0; k < PRUNE_KEEP_RAREST; k++) {
			size_t best = SIZE_MAX;
			for (size_t i = 0; i < q->n_terms; i++) {
				bool taken = false;
				for (size_t j = 0; j < n && !taken; j++)
					taken = terms[j] == q->terms[i];
				if (!taken && df[i] > 0 && (best == SIZE_MAX || df[i] < df[best]))
					best = i;
			}
			if (best == SIZE_MAX)
				break;
			terms[n++] = q->terms[best];
		}
		if (n == 0)
			return POS_OK; /* nothing known: leave the query as it is */
	}
	if (n == q->n_terms)
		return POS_OK;
	kept->terms = terms;
	kept->n_terms = n;
	return POS_OK;
}

/* IDF of a query stem from the full-text index, for the query embedding. */
struct idf_ctx {
	struct pos_search *e;
	int64_t docs;
	bool known;         /* some query word is in the index */
};

static float idf_weight(void *ctx, const char *stem, size_t len)
{
	struct idf_ctx *c = ctx;
	int64_t df = 0;
	if (c->docs <= 0 || c->e->store->memories->stem_frequency(c->e->store, stem, len, &df))
		return 1.0f;
	if (df > 0) {
		c->known = true;
	} else if (!c->known && c->e->store->memories->stem_near) {
		/* a typo or another form of a word the index holds */
		bool near = false;
		if (!c->e->store->memories->stem_near(c->e->store, stem, len, &near) && near)
			c->known = true;
	}
	/* BM25's IDF, floored so a word seen everywhere still counts a little */
	double idf = log(((double)c->docs - (double)df + 0.5) / ((double)df + 0.5) + 1.0);
	return (float)(idf < 0.1 ? 0.1 : idf);
}

/*
 * The query's vector: like a memory's, except each word is weighted by its
 * rarity in the index (query side only, so stored vectors never go stale
 * when the statistics move).
 */
/* Whether some query word is in the user's own index: for an encrypted
 * user the shared vocabulary holds keyed tokens, not stems (their words
 * are counted as their tokens, docs/ENCRYPTION.md). */
static bool user_knows_a_word(struct pos_search *e, const char *user_id,
			      const struct pos_query *pq)
{
	if (!e->store->keys->user_term_frequency)
		return false;
	for (size_t i = 0; i < pq->n_terms; i++) {
		int64_t df = 0, docs = 0;
		if (!e->store->keys->user_term_frequency(e->store, user_id, pq->terms[i], &df,
							&docs) && df > 0)
			return true;
	}
	return false;
}

static enum pos_err embed_query(struct pos_search *e, struct pos_arena *a,
				const char *user_id, const struct pos_query *pq,
				struct pos_vec *out, bool *failed)
{
	const char *text = pq->text;
	*failed = false;
	bool known = true;
	memset(out, 0, sizeof(*out));
	unsigned dim = e->embedder->dim;
	float *v = pos_arena_alloc(a, dim * sizeof(*v));
	int8_t *q = pos_arena_alloc(a, dim);
	if (!v || !q)
		return POS_ERR_NOMEM;
	enum pos_err rc;
	if (e->remote) {
		/* A search may wait on the provider (it is the point of asking);
		 * if it is down, or the user's tier keeps their text here, the
		 * search goes on by keyword alone. */
		if (!pos_search_may_send(e, a, user_id)) {
			*failed = true;
			return POS_OK;
		}
		if (!e->embedder->dim || pos_embed(e->embedder, text, strlen(text), v) != POS_OK) {
			atomic_fetch_add(&e->query_embed_failures, 1);
			*failed = true;
			return POS_OK;
		}
	} else {
		struct idf_ctx ctx = {e, 0, false};
		rc = e->store->memories->memory_count_all(e->store, &ctx.docs);
		if (!rc)
			rc = pos_embed_builtin_query(e->embedder, text, strlen(text), idf_weight,
						     &ctx, NULL, 0, v);
		if (rc)
			return rc;
		/* The built-in embedder knows a word only from the index: a
		 * query of words no memory holds (a typo, a nonsense word) is
		 * hash noise, which must not find anything by "meaning". */
		known = ctx.known || ctx.docs <= 0 || user_knows_a_word(e, user_id, pq);
	}
	if (!known)
		return POS_OK;
	float norm = 0;
	for (unsigned i = 0; i < dim; i++)
		norm += v[i] * v[i];
	if (norm == 0)
		return POS_OK;
	pos_vec_quantize(v, dim, q, &out->scale);
	out->q = q;
	out->dim = dim;
	out->model = e->embedder->model;
	return POS_OK;
}

/* The vector scan of a hybrid search, run beside the keyword search. It
 * touches only the in-memory index (and the store once, if the user's index
 * must be loaded first). */
struct scan_job {
	struct pos_vcache *vc;
	const char *user_id;
	struct pos_vec qv;
	unsigned k;
	bool filtered;
	bool exclude;               /* keep = the seqs NOT in the set */
	struct keepset *keep;
	struct pos_hit *out;
	size_t n;
	enum pos_err rc;
};

static bool drop_fn(void *ctx, int64_t seq)
{
	return !keep_fn(ctx, seq);
}

static void run_scan(struct scan_job *j)
{
	j->rc = pos_vcache_search(j->vc, j->user_id, j->qv.q, j->qv.scale, j->k,
				  j->filtered ? keep_fn : j->exclude ? drop_fn : NULL,
				  j->keep, j->out, &j->n);
}

/* The user's chat exchanges, as a set to leave out of a vector scan that
 * has no other filter (then no keep-bitmap over every memory is built).
 * Read through their own index: its cost follows the number of exchanges,
 * not of memories, and a write does not make it re-read every row. */
static enum pos_err chat_set(struct pos_search *e, struct pos_arena *a,
			     const char *user_id, struct keepset *k)
{
	struct pos_memory_query q = {.user_id = user_id, .type = -1, .layer = -1,
				     .after = POS_TIME_NONE, .before = POS_TIME_NONE,
				     .chat_only = true};
	return build_keepset(e, a, &q, k);
}

/* Drops candidates found by meaning alone whose similarity is below the
 * floor or below POS_SEARCH_RELATIVE_SIMILARITY of the best candidate's;
 * keeps the order. Returns how many remain. */
static size_t relevance_cutoff(struct pos_ranked *r, size_t n, double min_similarity)
{
	double best = 0;
	for (size_t i = 0; i < n; i++)
		if (r[i].vec_rank && r[i].vec_score > best)
			best = r[i].vec_score;
	double cut = best * POS_SEARCH_RELATIVE_SIMILARITY;
	if (cut < min_similarity)
		cut = min_similarity;
	size_t kept = 0;
	for (size_t i = 0; i < n; i++)
		if (r[i].kw_rank || r[i].memu_rank || r[i].vec_score >= cut)
			r[kept++] = r[i];
	return kept;
}

/* The two sides of a hybrid search's candidates: 0 the vector scan, 1 the
 * keyword search (BM25). */
struct rank_sides {
	struct pos_search *e;
	struct pos_arena *a;        /* used by the keyword side only */
	const struct pos_search_request *req;
	const struct pos_query *pq;
	const struct pos_memory_query *f;
	struct scan_job *scan;
	bool keyword;
	unsigned k;
	struct pos_hit *kw;
	size_t nk;
	enum pos_err rc;
};

struct rank_from {
	struct rank_sides *s;
	size_t first;               /* the side item 0 is */
};

/* Document frequency for the expansion, counted as pruning counts it. */
struct df_ctx {
	struct pos_search *e;
	const char *user_id;
};

static enum pos_err expand_df(void *ctx, const char *word, int64_t *df, int64_t *docs)
{
	struct df_ctx *c = ctx;
	struct pos_store *st = c->e->store;
	return st->keys->user_term_frequency
		? st->keys->user_term_frequency(st, c->user_id, word, df, docs)
		: st->memories->term_frequency(st, word, df, docs);
}

/*
 * The keyword match with WordNet's alternatives (search/expand.h). BM25
 * counts a string given twice twice, in FTS5 and in the in-memory index
 * alike, so a weight w of the alternatives is written as the words typed
 * (and irregular forms, as good as they) repeated round(1 / w) times
 * (at most POS_EXPAND_MAX_REPEAT) beside each synonym or derived form once.
 */
static enum pos_err expand_query(struct rank_sides *s, const struct pos_query *typed,
				 struct pos_query *q)
{
	struct pos_expand_limits lim = {POS_EXPAND_PER_TERM, POS_EXPAND_MAX_TOTAL,
					PRUNE_DF_SHARE, PRUNE_DF_FLOOR, s->e->cfg.expand_max_df};
	struct df_ctx dc = {s->e, s->req->user_id};
	struct pos_expand_alt *alt = NULL;
	size_t n = 0;
	enum pos_err rc = pos_expand_terms(s->e->wordnet, s->a, typed, &lim, expand_df, &dc, &alt,
					   &n);
	if (rc || !n)
		return rc;
	unsigned r = (unsigned)lround(1.0 / s->e->cfg.expand_weight);
	r = r < 1 ? 1 : r > POS_EXPAND_MAX_REPEAT ? POS_EXPAND_MAX_REPEAT : r;
	const char **terms = pos_arena_alloc(s->a, (q->n_terms * r + 1) * sizeof(*terms));
	const char **alts = pos_arena_alloc(s->a, (n * r + 1) * sizeof(*alts));
	if (!terms || !alts)
		return POS_ERR_NOMEM;
	size_t nt = 0, na = 0;
	for (size_t i = 0; i < q->n_terms; i++)
		for (unsigned k = 0; k < r; k++)
			terms[nt++] = q->terms[i];
	for (size_t i = 0; i < n; i++)
		for (unsigned k = 0; k < (alt[i].weighted ? 1u : r); k++)
			alts[na++] = alt[i].word;
	q->terms = terms;
	q->n_terms = nt;
	q->alts = alts;
	q->n_alts = na;
	return POS_OK;
}

static void keyword_side(struct rank_sides *s)
{
	const char *match = NULL;
	struct pos_query pruned;
	enum pos_err rc = prune_common(s->e, s->a, s->req->user_id, s->pq, &pruned);
	/* The words typed are expanded before pruning, which drops the
	 * words in no memory: those are the ones whose alternatives matter
	 * most (the alternatives are capped below the pruning limit). */
	if (!rc && s->e->wordnet && s->e->cfg.expand_weight > 0)
		rc = expand_query(s, s->pq, &pruned);
	if (!rc)
		rc = pos_query_fts_match(s->a, &pruned, true, &match);
	if (!rc && match) {
		struct pos_memory_query q = *s->f;
		q.user_id = s->req->user_id;
		q.limit = s->k;
		rc = s->e->store->memories->keyword_search(s->e->store, s->a, &q, match, &s->kw,
							   &s->nk);
	}
	s->rc = rc;
}

static void rank_side(void *ctx, size_t i)
{
	struct rank_from *from = ctx;
	if (from->first + i == 0)
		run_scan(from->s->scan);
	else
		keyword_side(from->s);
}

/* The third retriever (req->extra), on a thread of its own. */
struct extra_job {
	const struct pos_search_extra *x;
	const char *user_id, *query;
	struct pos_hit *out;
	size_t n;
	const char *status;
};

static void *extra_main(void *p)
{
	struct extra_job *j = p;
	j->status = j->x->fn(j->x->ctx, j->user_id, j->query, POS_SEARCH_EXTRA_MAX, j->out, &j->n);
	if (j->n > POS_SEARCH_EXTRA_MAX)
		j->n = POS_SEARCH_EXTRA_MAX;
	return NULL;
}

/* The time phrase's boost (search/temporal.h), added to pos_boost's. */
static void date_boost(const struct pos_search_config *c, const struct pos_temporal *tq,
		       const struct pos_memory *m, struct pos_ranked *r)
{
	double b = 0;
	if (tq->window)
		b = c->date_boost * pos_temporal_closeness(m->created_at, tq->from, tq->to);
	else if (tq->asks_when && c->date_when > 0 && pos_temporal_mentions(m->content, m->content_len))
		b = c->date_when;
	if (b == 0)
		return;
	r->b_date = b;
	r->boost += b;
	r->score = r->rrf * (1.0 + r->boost);
}

static enum pos_err rank(struct pos_search *e, struct pos_arena *a,
			 const struct pos_search_request *req, const struct pos_query *pq,
			 const struct pos_memory_query *f, struct pos_ranked **out,
			 size_t *n_out, struct pos_memory **mems, size_t *n_mems,
			 bool *degraded, const char **vstatus, struct extra_job *xj,
			 const struct pos_temporal *tq)
{
	*degraded = false;
	*vstatus = NULL;
	const unsigned k = e->cfg.candidates;
	struct pos_hit *kw = NULL, *vec = NULL;
	size_t nk = 0, nv = 0;
	enum pos_err rc = POS_OK;
	/* Prepare the semantic side (query vector, filter bitmap) first. */
	struct scan_job job = {0};
	struct keepset keep = {0};
	struct pos_vcache *vc = pos_search_vectors(e);
	bool keyword = req->mode != POS_SEARCH_SEMANTIC;
	if (req->mode != POS_SEARCH_KEYWORD && !vc && e->remote)
		*degraded = true; /* the provider has not answered yet */
	if (req->mode != POS_SEARCH_KEYWORD && vc && pq->text && *pq->text) {
		bool failed;
		if ((rc = embed_query(e, a, req->user_id, pq, &job.qv, &failed)))
			return rc;
		*degraded = failed;
		job.filtered = has_filters(f);
		if (job.qv.q && job.filtered && (rc = build_keepset(e, a, f, &keep)))
			return rc;
		if (job.qv.q && !job.filtered && f->hide_chat) {
			if ((rc = chat_set(e, a, req->user_id, &keep)))
				return rc;
			job.exclude = keep.nbits > 0;
		}
		if (job.qv.q && (!job.filtered || keep.nbits)) {
			/* not resident: answer by keyword now, the load runs on
			 * the cache's loader thread (docs/SEARCH.md) */
			if (pos_vcache_prepare(vc, req->user_id, e->cfg.vector_wait_ms) != POS_OK) {
				*vstatus = "loading";
				*degraded = true;
			} else {
				*vstatus = "ready";
				job.vc = vc;
				job.user_id = req->user_id;
				job.k = k;
				job.keep = &keep;
				if (!(job.out = pos_arena_alloc(a, k * sizeof(*job.out))))
					return POS_ERR_NOMEM;
			}
		}
	}
	/* Without a query vector (the provider is down), semantic mode answers
	 * by keyword rather than with nothing. */
	if (*degraded)
		keyword = true;
	/* Hybrid: the vector scan and BM25 at once, on the engine's fork-join
	 * pool (base/thread.h); either alone on this thread. */
	/* The third retriever runs meanwhile, bounded by its own deadline. */
	pthread_t xt;
	bool x_run = false, x_thread = false;
	if (req->extra && pq->text && *pq->text && req->mode != POS_SEARCH_KEYWORD) {
		*xj = (struct extra_job){req->extra, req->user_id, pq->text,
					 pos_arena_alloc(a, POS_SEARCH_EXTRA_MAX * sizeof(struct pos_hit)),
					 0, NULL};
		if (!xj->out)
			return POS_ERR_NOMEM;
		x_run = true;
		x_thread = pthread_create(&xt, NULL, extra_main, xj) == 0;
	}
	struct rank_sides sides = {e, a, req, pq, f, &job, keyword, k, NULL, 0, POS_OK};
	size_t first = job.vc ? 0 : 1, last = keyword ? 2 : 1;
	if (first < last)
		pos_parallel_for(last - first == 2 ? e->helpers : NULL, last - first, rank_side,
				 &(struct rank_from){&sides, first});
	if (x_thread)
		pthread_join(xt, NULL);
	else if (x_run)
		extra_main(xj);
	kw = sides.kw;
	nk = sides.nk;
	rc = sides.rc;
	if (rc)
		return rc;
	if (job.vc) {
		if (job.rc)
			return job.rc;
		vec = job.out;
		nv = job.n;
	}
	size_t nm = xj->n;
	struct pos_ranked *r = pos_arena_alloc(a, (nk + nv + nm ? nk + nv + nm : 1) * sizeof(*r));
	if (!r)
		return POS_ERR_NOMEM;
	size_t n = pos_fuse3(&e->cfg.weights, kw, nk, vec, nv, xj->out, nm, r);
	/* With a required phrase every candidate holds it: none is found by
	 * meaning alone. */
	if (!f->fts_require)
		n = relevance_cutoff(r, n, e->cfg.min_similarity);
	/* Boost the candidates that can reach the requested page, then rank
	 * them by final score; hydrating them now also serves the page. */
	size_t c = (size_t)req->offset + req->limit;
	if (c < 100)
		c = 100;
	if (c > n)
		c = n;
	int64_t *seqs = pos_arena_alloc(a, (c ? c : 1) * sizeof(*seqs));
	struct pos_memory *m = pos_arena_alloc(a, (c ? c : 1) * sizeof(*m));
	bool *ok = pos_arena_alloc(a, (c ? c : 1) * sizeof(*ok));
	if (!seqs || !m || !ok)
		return POS_ERR_NOMEM;
	for (size_t i = 0; i < c; i++)
		seqs[i] = r[i].seq;
	/* The boosts read a few fields of each candidate; only the page is
	 * shown, and read whole, by the caller (the full rows of 100
	 * candidates were a tenth of a hybrid search's CPU). A "when"
	 * question's boost reads the text: then every candidate is read whole. */
	bool light = e->store->memories->memories_rank_fields &&
		     !(tq->asks_when && !tq->window && e->cfg.date_when > 0);
	if ((rc = light ? e->store->memories->memories_rank_fields(e->store, a, req->user_id,
								   seqs, c, m, ok)
			: e->store->memories->memories_by_seq(e->store, a, req->user_id, seqs,
							      c, m, ok)))
		return rc;
	int64_t now = pos_now_us();
	size_t kept = 0;
	for (size_t i = 0; i < c; i++) {
		if (!ok[i])
			continue; /* deleted since the candidates were taken */
		pos_boost(&e->cfg.weights, &m[i], now, &r[i]);
		date_boost(&e->cfg, tq, &m[i], &r[i]);
		r[i].row = (int32_t)i;
		r[kept++] = r[i];
	}
	if (e->cfg.thread_credit > 0 && kept > 1) {
		const char **th = pos_arena_alloc(a, kept * sizeof(*th));
		struct pos_thread_item *tmp = pos_arena_alloc(a, kept * sizeof(*tmp));
		if (!th || !tmp)
			return POS_ERR_NOMEM;
		for (size_t i = 0; i < kept; i++)
			th[i] = m[r[i].row].thread;
		pos_thread_credit(e->cfg.thread_credit, r, kept, th, tmp);
	}
	pos_rank_sort(r, kept);
	struct pos_memory *sorted = NULL;
	if (!light) {
		if (!(sorted = pos_arena_alloc(a, (kept ? kept : 1) * sizeof(*sorted))))
			return POS_ERR_NOMEM;
		for (size_t i = 0; i < kept; i++)
			sorted[i] = m[r[i].row];
	}
	/* Candidates past `c` keep their fused order, after the boosted ones. */
	for (size_t i = c; i < n; i++)
		r[kept + (i - c)] = r[i];
	*out = r;
	*n_out = kept + (n - c);
	*mems = sorted;
	*n_mems = light ? 0 : kept; /* r[0..n_mems) have their rows in sorted[] */
	return POS_OK;
}

/*
 * With a time phrase found in the query: re-reads the query without it
 * into *pq. When no word but stop words is left (and no phrase), the
 * search lists the window instead: *list_window is set and pq has no
 * words. Errors: the parser's (the rest parses as the query did).
 */
static enum pos_err temporal_query(struct pos_arena *a, const struct pos_temporal *tq,
				   struct pos_query *pq, bool *list_window, struct pos_error *err)
{
	*list_window = false;
	if (!tq->window)
		return POS_OK;
	struct pos_query rest;
	bool blank = true;
	for (size_t i = 0; i < tq->rest_len && blank; i++)
		blank = tq->rest[i] == ' ' || tq->rest[i] == '\t';
	if (!blank) {
		enum pos_err rc = pos_query_parse_ex(a, tq->rest, tq->rest_len, 0, &rest, err);
		if (rc)
			return rc;
		*pq = rest;
	}
	bool words = false;
	for (size_t i = 0; i < pq->n_terms && !words && !blank; i++)
		words = !pos_query_only_stopwords(pq->terms[i], strlen(pq->terms[i])) &&
			pos_query_has_token(pq->terms[i], strlen(pq->terms[i]));
	if (!words && (blank || !pq->n_phrases)) {
		pq->n_terms = 0;
		pq->n_phrases = 0;
		pq->text = "";
		*list_window = true;
	}
	return POS_OK;
}

enum pos_err pos_search_run(struct pos_search *e, struct pos_arena *a,
			    const struct pos_search_request *req,
			    struct pos_search_result *out, struct pos_error *err)
{
	int64_t t0 = pos_mono_us();
	memset(out, 0, sizeof(*out));
	atomic_fetch_add(&e->searches, 1);
	struct pos_query pq;
	enum pos_err rc = pos_query_parse_ex(a, req->query, req->query_len,
					     req->typing ? POS_QUERY_TYPING : 0, &pq, err);
	if (rc)
		return rc;
	out->ignored = pq.ignored;
	out->n_ignored = pq.n_ignored;
	/* A time phrase ("last week", "in May") leaves the words and becomes
	 * a window (docs/SEARCH.md, "Time phrases"); not while typing. */
	struct pos_temporal tq = {0};
	bool in_window = false;
	if (!req->typing && !req->no_time_phrases) {
		if ((rc = pos_temporal_find(a, req->query, req->query_len, pos_now_us(),
					    req->tz_offset_min, &tq)))
			return pos_error_set(err, rc, NULL, NULL);
		if ((rc = temporal_query(a, &tq, &pq, &in_window, err)))
			return rc;
	}
	struct pos_memory_query f;
	if ((rc = merge_filters(a, &req->filters, &pq, &f, err)))
		return rc;
	f.user_id = req->user_id;
	if ((rc = text_filters(a, &pq, &f)))
		return pos_error_set(err, rc, NULL, NULL);
	if (in_window) {
		/* nothing but the phrase: list the window (an empty range
		 * lists nothing) */
		if (f.after == POS_TIME_NONE || tq.from > f.after)
			f.after = tq.from;
		if (f.before == POS_TIME_NONE || tq.to < f.before)
			f.before = tq.to;
	}
	if (!pq.n_terms && !pq.n_phrases) {
		rc = run_list(e, a, req, &f, out);
		out->took_ms = (double)(pos_mono_us() - t0) / 1000.0;
		return rc ? pos_error_set(err, rc, NULL, NULL) : POS_OK;
	}
	const char *key;
	if ((rc = cache_key(a, req, &f, &tq, &key)))
		return pos_error_set(err, rc, NULL, NULL);
	uint64_t gen = 0, shared_gen = 0;
	/* a third list changes on its own: neither cached nor served cached */
	bool cacheable = !(req->extra && req->mode != POS_SEARCH_KEYWORD) &&
			 generation(e, req->user_id, &gen, &shared_gen);
	struct pos_ranked *r = NULL;
	size_t n = 0;
	struct pos_memory *m = NULL;
	bool *ok = NULL;
	size_t hydrated = 0; /* r[0..hydrated) have their rows in m[] */
	out->cached = cacheable &&
		      pos_rcache_get(e->results, req->user_id, key, gen, a, &r, &n, &out->total);
	if (!out->cached && cacheable &&
	    shared_get(e, a, req->user_id, shared_gen, key, &r, &n, &out->total)) {
		out->cached = true; /* ranked by another instance */
		pos_rcache_put(e->results, req->user_id, key, gen, r, n, out->total);
	}
	if (!out->cached) {
		bool degraded;
		struct extra_job xj = {0};
		if ((rc = rank(e, a, req, &pq, &f, &r, &n, &m, &hydrated, &degraded,
			       &out->vector_status, &xj, &tq)))
			return pos_error_set(err, rc, NULL, NULL);
		out->extra_status = xj.status;
		for (size_t i = 0; i < n; i++)
			out->extra_hits += r[i].memu_rank != 0;
		out->total = (int64_t)n;
		/* A result made without its semantic half is not kept: the next
		 * search may have the provider back. */
		if (!degraded && cacheable) {
			pos_rcache_put(e->results, req->user_id, key, gen, r, n, out->total);
			shared_put(e, a, req->user_id, shared_gen, key, r, n, out->total);
		}
	}
	size_t from = req->offset < n ? req->offset : n;
	size_t to = from + req->limit < n ? from + req->limit : n;
	out->hits = pos_arena_zalloc(a, (to > from ? to - from : 1) * sizeof(*out->hits));
	if (!out->hits)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	if (to > from && to > hydrated) {
		/* Served from the cache, or past the boosted prefix: read the
		 * page's rows now. */
		size_t cnt = to - from;
		int64_t *seqs = pos_arena_alloc(a, cnt * sizeof(*seqs));
		m = pos_arena_alloc(a, cnt * sizeof(*m));
		ok = pos_arena_alloc(a, cnt * sizeof(*ok));
		if (!seqs || !m || !ok)
			return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
		for (size_t i = 0; i < cnt; i++)
			seqs[i] = r[from + i].seq;
		if ((rc = e->store->memories->memories_by_seq(e->store, a, req->user_id, seqs, cnt, m, ok)))
			return pos_error_set(err, rc, NULL, NULL);
		for (size_t i = 0; i < cnt; i++) {
			if (!ok[i])
				continue;
			out->hits[out->n].memory = m[i];
			out->hits[out->n].rank = r[from + i];
			out->n++;
		}
	} else {
		for (size_t i = from; i < to; i++) {
			out->hits[out->n].memory = m[i];
			out->hits[out->n].rank = r[i];
			out->n++;
		}
	}
	out->took_ms = (double)(pos_mono_us() - t0) / 1000.0;
	return POS_OK;
}

enum pos_err pos_search_similar(struct pos_search *e, const char *user_id,
				const struct pos_vec *v, unsigned k, struct pos_hit *out,
				size_t *n)
{
	/* the batch's path for one: the same exact neighbours either way */
	return pos_search_similar_many(e, user_id, v, 1, k, out, n);
}

enum pos_err pos_search_similar_many(struct pos_search *e, const char *user_id,
				     const struct pos_vec *v, size_t nq, unsigned k,
				     struct pos_hit *out, size_t *n)
{
	for (size_t i = 0; i < nq; i++)
		n[i] = 0;
	struct pos_vcache *vc = pos_search_vectors(e);
	if (!vc || k == 0 || nq == 0)
		return POS_OK;
	const int8_t **qs = pos_malloc(nq * sizeof(*qs));
	float *sc = pos_malloc(nq * sizeof(*sc));
	size_t *got = pos_malloc(nq * sizeof(*got));
	size_t *at = pos_malloc(nq * sizeof(*at));
	enum pos_err rc = qs && sc && got && at ? POS_OK : POS_ERR_NOMEM;
	size_t m = 0;
	/* only the queries with a vector of this model; the others find none */
	for (size_t i = 0; !rc && i < nq; i++)
		if (v[i].q && v[i].dim == e->embedder->dim) {
			qs[m] = v[i].q;
			sc[m] = v[i].scale;
			at[m++] = i;
		}
	struct pos_hit *hits = NULL;
	if (!rc && m && !(hits = pos_malloc(m * k * sizeof(*hits))))
		rc = POS_ERR_NOMEM;
	if (!rc && m)
		rc = pos_vcache_search_many(vc, user_id, m, qs, sc, k, hits, got);
	for (size_t j = 0; !rc && j < m; j++) {
		memcpy(out + at[j] * k, hits + j * k, got[j] * sizeof(*hits));
		n[at[j]] = got[j];
	}
	pos_free(hits);
	pos_free(qs);
	pos_free(sc);
	pos_free(got);
	pos_free(at);
	return rc;
}

const struct pos_rank_weights *pos_search_weights(const struct pos_search *e)
{
	return &e->cfg.weights;
}
