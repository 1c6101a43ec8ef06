/*
 * vcache.c — per-user vector indexes: lazy load (on the caller's thread or
 * on the cache's loader thread), LRU bounds by users and by bytes, write
 * upkeep.
 *
 * Locks: the cache mutex (list, refs, last_used, bytes, resident, the load
 * queue) is taken before an entry's rwlock, never after: code holding an
 * entry's lock releases it before it takes the mutex.
 */
#include "search/vcache.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/arena.h"
#include "base/thread.h"
#include "base/clock.h"
#include "base/log.h"
#include "search/vector.h"

/* Users waiting for the loader thread; a search beyond it goes without
 * vectors and asks again next time. */
#define LOAD_QUEUE 64

struct ventry {
	char user_id[POS_UUID_SIZE];
	pthread_rwlock_t lock;      /* guards idx and loaded */
	struct pos_vindex *idx;
	bool loaded;
	unsigned refs;              /* under the cache mutex */
	int64_t last_used;          /* under the cache mutex */
	size_t bytes;               /* under the cache mutex: idx's size when last measured */
	bool resident;              /* under the cache mutex: loaded (as last known) */
	bool queued;                /* under the cache mutex: waiting for the loader */
	struct ventry *next;
};

struct pos_vcache {
	struct pos_store *store;
	char model[64];
	unsigned dim;
	unsigned max_users;
	size_t max_bytes;
	pthread_mutex_t mutex;      /* guards the list, the entries' counters, the queue */
	pthread_cond_t loaded;      /* a load finished */
	pthread_cond_t work;        /* the queue has work, or stop */
	struct ventry *head;
	size_t count;
	char queue[LOAD_QUEUE][POS_UUID_SIZE];
	size_t q_head, q_len;
	struct pos_thread *loader;      /* base/thread.h: started on first use, joined at free */
	bool loader_running, stop;
	/* how a search scans (vector.h): read-only after pos_vcache_set_exact */
	struct pos_vsearch_opts scan;
	struct pos_workers *helpers;    /* the scan's other cores, or NULL */
};

enum pos_err pos_vcache_new(struct pos_store *s, const char *model, unsigned dim,
			    unsigned max_users, size_t max_bytes, struct pos_vcache **out)
{
	struct pos_vcache *c = pos_calloc(1, sizeof(*c));
	if (!c)
		return POS_ERR_NOMEM;
	c->store = s;
	snprintf(c->model, sizeof(c->model), "%s", model);
	c->dim = dim;
	c->max_users = max_users ? max_users : 1;
	c->max_bytes = max_bytes;
	pthread_mutex_init(&c->mutex, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->loaded, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&c->work, NULL);
	/* a large user's scan uses every core (up to POS_VEC_MAX_PARTS):
	 * the caller's thread and cores - 1 helpers of its own, since the
	 * engine's pool may be running this very search */
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned parts = cores < 1 ? 1
			 : cores > (long)POS_VEC_MAX_PARTS ? POS_VEC_MAX_PARTS
							   : (unsigned)cores;
	c->scan = (struct pos_vsearch_opts){false, NULL, 1};
	if (parts > 1 && pos_workers_new(parts - 1, &c->helpers) == POS_OK)
		c->scan = (struct pos_vsearch_opts){false, c->helpers, parts};
	*out = c;
	return POS_OK;
}

void pos_vcache_set_exact(struct pos_vcache *c, bool exact)
{
	c->scan.exact = exact;
}

static void entry_free(struct ventry *e)
{
	pos_vindex_free(e->idx);
	pthread_rwlock_destroy(&e->lock);
	pos_free(e);
}

void pos_vcache_free(struct pos_vcache *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->mutex);
	c->stop = true;
	pthread_cond_broadcast(&c->work);
	pthread_mutex_unlock(&c->mutex);
	if (c->loader_running)
		pos_thread_join(c->loader);
	struct ventry *e = c->head;
	while (e) {
		struct ventry *next = e->next;
		entry_free(e);
		e = next;
	}
	pos_workers_free(c->helpers);
	pthread_cond_destroy(&c->work);
	pthread_cond_destroy(&c->loaded);
	pthread_mutex_destroy(&c->mutex);
	pos_free(c);
}

static struct ventry *find(struct pos_vcache *c, const char *user_id)
{
	for (struct ventry *e = c->head; e; e = e->next)
		if (strcmp(e->user_id, user_id) == 0)
			return e;
	return NULL;
}

/* Drops the least recently used unreferenced entry but `spare`; false when
 * there is none. Caller holds mutex. */
static bool evict_one(struct pos_vcache *c, const struct ventry *spare)
{
	struct ventry **victim = NULL;
	for (struct ventry **p = &c->head; *p; p = &(*p)->next)
		if (!(*p)->refs && !(*p)->queued && *p != spare &&
		    (!victim || (*p)->last_used < (*victim)->last_used))
			victim = p;
	if (!victim)
		return false;
	struct ventry *e = *victim;
	*victim = e->next;
	c->count--;
	entry_free(e);
	return true;
}

/* Enforces the byte bound, sparing `spare` (just loaded). Caller holds mutex. */
static void trim_bytes(struct pos_vcache *c, const struct ventry *spare)
{
	if (!c->max_bytes)
		return;
	for (;;) {
		size_t total = 0;
		for (struct ventry *e = c->head; e; e = e->next)
			total += e->bytes;
		if (total <= c->max_bytes || !evict_one(c, spare))
			return;
	}
}

/* The user's entry, referenced; created (unloaded) when `create`. Caller
 * holds mutex. */
/*
 * A user's lock prefers writers: a write (pos_vcache_put/remove) waits for
 * the scans already running, never for the stream of scans that keeps
 * arriving behind them (glibc's default prefers readers, and under a
 * steady search load a writer starved there while holding its HTTP
 * handler slot). Scans take the lock once, never recursively.
 */
static void init_lock(pthread_rwlock_t *l)
{
	pthread_rwlockattr_t attr;
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(l, &attr);
	pthread_rwlockattr_destroy(&attr);
}

static struct ventry *acquire_locked(struct pos_vcache *c, const char *user_id, bool create)
{
	struct ventry *e = find(c, user_id);
	if (!e && create) {
		while (c->count >= c->max_users && c->head)
			if (!evict_one(c, NULL))
				break; /* all in use: go over the bound for now */
		e = pos_calloc(1, sizeof(*e));
		if (e) {
			snprintf(e->user_id, sizeof(e->user_id), "%s", user_id);
			init_lock(&e->lock);
			e->next = c->head;
			c->head = e;
			c->count++;
		}
	}
	if (e) {
		e->refs++;
		e->last_used = pos_mono_us();
	}
	return e;
}

static struct ventry *acquire(struct pos_vcache *c, const char *user_id, bool create)
{
	pthread_mutex_lock(&c->mutex);
	struct ventry *e = acquire_locked(c, user_id, create);
	pthread_mutex_unlock(&c->mutex);
	return e;
}

static void release(struct pos_vcache *c, struct ventry *e)
{
	pthread_mutex_lock(&c->mutex);
	e->refs--;
	pthread_mutex_unlock(&c->mutex);
}

/* Records the entry's size and residency (its lock not held) and applies
 * the byte bound. */
static void account(struct pos_vcache *c, struct ventry *e, size_t bytes, bool resident)
{
	pthread_mutex_lock(&c->mutex);
	e->bytes = bytes;
	e->resident = resident;
	trim_bytes(c, e);
	pthread_cond_broadcast(&c->loaded);
	pthread_mutex_unlock(&c->mutex);
}

struct load_ctx {
	struct pos_vindex *idx;
	enum pos_err rc;
};

static void load_row(void *ctx, int64_t seq, float scale, const int8_t *q, unsigned dim)
{
	struct load_ctx *l = ctx;
	if (l->rc || dim != pos_vindex_dim(l->idx))
		return;
	l->rc = pos_vindex_put(l->idx, seq, q, scale);
}

/*
 * Sizes a new index for the user's memory count (a column of the user's
 * row) plus 1/32 for the writes that follow, before the load. Grown 1.5x
 * a time instead, a 10M-row index went through copies that held the old
 * and the new arrays at once (twice its size at the last one) and ended
 * with up to half its rows' worth of capacity unused, which the cache's
 * byte bound counts (docs/BENCHMARKS.md, "One instance at 1M and 10M").
 * A failure here only leaves the growth to the load.
 */
static void reserve_for(struct pos_vcache *c, const char *user_id, struct pos_vindex *idx)
{
	struct pos_arena *a = pos_arena_new();
	struct pos_user u;
	if (a && c->store->accounts && c->store->accounts->user_by_id &&
	    !c->store->accounts->user_by_id(c->store, a, user_id, &u) &&
	    u.memory_count > 0 && (uint64_t)u.memory_count < UINT32_MAX / 2)
		(void)pos_vindex_reserve(idx, (size_t)u.memory_count +
						  (size_t)u.memory_count / 32 + 64);
	pos_arena_destroy(a);
}

/* Loads the entry's index if needed. Caller holds the write lock; *bytes
 * receives its size. */
static enum pos_err load(struct pos_vcache *c, struct ventry *e, size_t *bytes)
{
	if (e->loaded) {
		*bytes = pos_vindex_memory(e->idx);
		return POS_OK;
	}
	struct load_ctx l = {NULL, POS_OK};
	enum pos_err rc = pos_vindex_new(c->dim, &l.idx);
	if (rc)
		return rc;
	int64_t t0 = pos_mono_us();
	reserve_for(c, e->user_id, l.idx);
	rc = c->store->memories->vectors_load(c->store, e->user_id, c->model, load_row, &l);
	if (!rc)
		rc = l.rc;
	if (rc) {
		pos_vindex_free(l.idx);
		return rc;
	}
	e->idx = l.idx;
	e->loaded = true;
	*bytes = pos_vindex_memory(l.idx);
	size_t n = pos_vindex_count(l.idx);
	if (n >= 10000)
		pos_info("search: loaded %zu vectors of one user in %.1f ms", n,
			 (double)(pos_mono_us() - t0) / 1000.0);
	return POS_OK;
}

/* Loads e on this thread (no lock held on entry); returns with none. */
static enum pos_err load_now(struct pos_vcache *c, struct ventry *e)
{
	size_t bytes = 0;
	pthread_rwlock_wrlock(&e->lock);
	enum pos_err rc = load(c, e, &bytes);
	pthread_rwlock_unlock(&e->lock);
	if (!rc)
		account(c, e, bytes, true);
	return rc;
}

static void *loader_main(void *arg)
{
	struct pos_vcache *c = arg;
	pthread_mutex_lock(&c->mutex);
	for (;;) {
		while (!c->stop && !c->q_len)
			pthread_cond_wait(&c->work, &c->mutex);
		if (c->stop)
			break;
		char user[POS_UUID_SIZE];
		memcpy(user, c->queue[c->q_head], sizeof(user));
		c->q_head = (c->q_head + 1) % LOAD_QUEUE;
		c->q_len--;
		struct ventry *e = acquire_locked(c, user, true);
		if (e)
			e->queued = false;
		pthread_mutex_unlock(&c->mutex);
		if (e) {
			if (load_now(c, e) != POS_OK)
				pos_warn("search: loading a user's vectors failed; the next search retries");
			release(c, e);
		}
		pthread_mutex_lock(&c->mutex);
		pthread_cond_broadcast(&c->loaded); /* failed loads wake waiters too */
	}
	pthread_mutex_unlock(&c->mutex);
	return NULL;
}

enum pos_err pos_vcache_prepare(struct pos_vcache *c, const char *user_id, unsigned wait_ms)
{
	pthread_mutex_lock(&c->mutex);
	struct ventry *e = find(c, user_id);
	if (e && e->resident) {
		e->last_used = pos_mono_us();
		pthread_mutex_unlock(&c->mutex);
		return POS_OK;
	}
	enum pos_err rc = POS_ERR_UNAVAILABLE;
	if (!c->loader_running && !c->stop &&
	    pos_thread_start(loader_main, c, &c->loader) == POS_OK)
		c->loader_running = true;
	bool queued = false;
	for (size_t i = 0; i < c->q_len; i++)
		queued |= strcmp(c->queue[(c->q_head + i) % LOAD_QUEUE], user_id) == 0;
	if (!queued && c->loader_running && c->q_len < LOAD_QUEUE) {
		snprintf(c->queue[(c->q_head + c->q_len) % LOAD_QUEUE], POS_UUID_SIZE, "%s",
			 user_id);
		c->q_len++;
		if (e)
			e->queued = true;
		pthread_cond_signal(&c->work);
	}
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += wait_ms / 1000;
	until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	for (;;) {
		e = find(c, user_id);
		if (e && e->resident) {
			rc = POS_OK;
			break;
		}
		if (!wait_ms || !c->loader_running ||
		    pthread_cond_timedwait(&c->loaded, &c->mutex, &until) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&c->mutex);
	return rc;
}

enum pos_err pos_vcache_search(struct pos_vcache *c, const char *user_id,
			       const int8_t *q, float qscale, unsigned k,
			       bool (*keep)(void *ctx, int64_t seq), void *ctx,
			       struct pos_hit *out, size_t *n)
{
	*n = 0;
	struct ventry *e = acquire(c, user_id, true);
	if (!e)
		return POS_ERR_NOMEM;
	enum pos_err rc = POS_OK;
	pthread_rwlock_rdlock(&e->lock);
	if (!e->loaded) {
		pthread_rwlock_unlock(&e->lock);
		if ((rc = load_now(c, e))) {
			release(c, e);
			return rc;
		}
		pthread_rwlock_rdlock(&e->lock);
	}
	struct pos_vhit *hits = pos_malloc((k ? k : 1) * sizeof(*hits));
	size_t got = 0;
	if (!hits)
		rc = POS_ERR_NOMEM;
	else if (e->loaded) /* pos_vcache_forget may have emptied it meanwhile */
		rc = pos_vindex_search_ex(e->idx, q, qscale, k, keep, ctx, &c->scan,
					  hits, &got);
	pthread_rwlock_unlock(&e->lock);
	release(c, e);
	for (size_t i = 0; !rc && i < got; i++) {
		out[i].seq = hits[i].id;
		/* int8 rounding can lift a self-match a hair over 1 */
		out[i].score = hits[i].score > 1.0f ? 1.0 : hits[i].score;
	}
	if (!rc)
		*n = got;
	pos_free(hits);
	return rc;
}

enum pos_err pos_vcache_search_many(struct pos_vcache *c, const char *user_id, size_t nq,
				    const int8_t *const *qs, const float *qscales, unsigned k,
				    struct pos_hit *out, size_t *n)
{
	for (size_t i = 0; i < nq; i++)
		n[i] = 0;
	if (nq == 0 || k == 0)
		return POS_OK;
	struct ventry *e = acquire(c, user_id, true);
	if (!e)
		return POS_ERR_NOMEM;
	enum pos_err rc = POS_OK;
	pthread_rwlock_rdlock(&e->lock);
	bool loaded = e->loaded;
	pthread_rwlock_unlock(&e->lock);
	if (!loaded && (rc = load_now(c, e))) {
		release(c, e);
		return rc;
	}
	size_t step = nq < POS_VCACHE_MANY_STEP ? nq : POS_VCACHE_MANY_STEP;
	struct pos_vhit *hits = pos_malloc(step * k * sizeof(*hits));
	if (!hits)
		rc = POS_ERR_NOMEM;
	/* background work (auto-linking): on this thread only, leaving the
	 * other cores to the searches and writes it runs beside; every int8
	 * row, so the neighbours are the exact scan's (a block of rows read
	 * once for several queries costs about what the first stage did) */
	struct pos_vsearch_opts one = {true, NULL, 1};
	/* a step at a time, so writers of the user wait for one step only */
	for (size_t at = 0; !rc && at < nq; at += step) {
		size_t cnt = nq - at < step ? nq - at : step;
		pthread_rwlock_rdlock(&e->lock);
		if (e->loaded) /* pos_vcache_forget may have emptied it meanwhile */
			rc = pos_vindex_search_many(e->idx, cnt, qs + at, qscales + at, k, &one,
						    hits, n + at);
		pthread_rwlock_unlock(&e->lock);
		for (size_t q = 0; !rc && q < cnt; q++)
			for (size_t i = 0; i < n[at + q]; i++) {
				struct pos_vhit *h = &hits[q * k + i];
				out[(at + q) * k + i].seq = h->id;
				out[(at + q) * k + i].score = h->score > 1.0f ? 1.0 : h->score;
			}
	}
	release(c, e);
	pos_free(hits);
	if (rc)
		for (size_t i = 0; i < nq; i++)
			n[i] = 0;
	return rc;
}

enum pos_err pos_vcache_sample(struct pos_vcache *c, const char *user_id, size_t max,
			       int64_t *seqs, float *vecs, size_t *n, size_t *total)
{
	*n = 0;
	*total = 0;
	struct ventry *e = acquire(c, user_id, false);
	if (!e)
		return POS_ERR_UNAVAILABLE;
	enum pos_err rc = POS_OK;
	int8_t *q = pos_malloc(c->dim ? c->dim : 1);
	if (!q) {
		release(c, e);
		return POS_ERR_NOMEM;
	}
	pthread_rwlock_rdlock(&e->lock);
	if (!e->loaded) {
		rc = POS_ERR_UNAVAILABLE;
	} else {
		size_t count = pos_vindex_count(e->idx);
		size_t take = count < max ? count : max;
		*total = count;
		for (size_t i = 0; !rc && i < take; i++) {
			/* evenly spread: row floor(i * count / take) */
			size_t row = i * count / take; /* i < max: no overflow */
			float scale;
			rc = pos_vindex_row(e->idx, row, &seqs[i], q, &scale);
			if (!rc)
				pos_vec_dequantize(q, c->dim, scale, vecs + i * c->dim);
		}
		if (!rc)
			*n = take;
	}
	pthread_rwlock_unlock(&e->lock);
	release(c, e);
	pos_free(q);
	return rc;
}

void pos_vcache_put(struct pos_vcache *c, const char *user_id, int64_t seq,
		    const int8_t *q, float scale)
{
	pos_vcache_put_many(c, user_id, 1, &seq, &q, &scale);
}

void pos_vcache_put_many(struct pos_vcache *c, const char *user_id, size_t n,
			 const int64_t *seqs, const int8_t *const *qs, const float *qscales)
{
	if (n == 0)
		return;
	struct ventry *e = acquire(c, user_id, false);
	if (!e)
		return; /* not loaded: the next load reads it from the store */
	pthread_rwlock_wrlock(&e->lock);
	bool was = e->loaded;
	for (size_t i = 0; e->loaded && i < n; i++)
		if (pos_vindex_put(e->idx, seqs[i], qs[i], qscales[i]) != POS_OK) {
			/* Out of memory: drop the index so the next search
			 * reloads it whole rather than search an index that
			 * misses a row. */
			pos_vindex_free(e->idx);
			e->idx = NULL;
			e->loaded = false;
		}
	size_t bytes = e->loaded ? pos_vindex_memory(e->idx) : 0;
	bool loaded = e->loaded;
	pthread_rwlock_unlock(&e->lock);
	if (was)
		account(c, e, bytes, loaded);
	release(c, e);
}

void pos_vcache_remove(struct pos_vcache *c, const char *user_id, int64_t seq)
{
	struct ventry *e = acquire(c, user_id, false);
	if (!e)
		return;
	pthread_rwlock_wrlock(&e->lock);
	if (e->loaded)
		pos_vindex_remove(e->idx, seq);
	pthread_rwlock_unlock(&e->lock);
	release(c, e);
}

void pos_vcache_usage(struct pos_vcache *c, size_t *bytes, size_t *users)
{
	*bytes = 0;
	*users = 0;
	pthread_mutex_lock(&c->mutex);
	for (struct ventry *e = c->head; e; e = e->next) {
		if (e->resident) {
			*bytes += e->bytes;
			(*users)++;
		}
	}
	pthread_mutex_unlock(&c->mutex);
}

bool pos_vcache_resident(struct pos_vcache *c, const char *user_id)
{
	pthread_mutex_lock(&c->mutex);
	struct ventry *e = find(c, user_id);
	bool r = e && e->resident;
	pthread_mutex_unlock(&c->mutex);
	return r;
}

void pos_vcache_forget(struct pos_vcache *c, const char *user_id)
{
	pthread_mutex_lock(&c->mutex);
	for (struct ventry **p = &c->head; *p; p = &(*p)->next) {
		struct ventry *e = *p;
		if (strcmp(e->user_id, user_id) != 0)
			continue;
		if (e->refs || e->queued) {
			/* in use by a search or the loader right now: empty it
			 * instead, its lock taken without the mutex held */
			e->resident = false;
			e->bytes = 0;
			e->refs++; /* kept alive while its lock is taken */
			pthread_mutex_unlock(&c->mutex);
			pthread_rwlock_wrlock(&e->lock);
			pos_vindex_free(e->idx);
			e->idx = NULL;
			e->loaded = false;
			pthread_rwlock_unlock(&e->lock);
			release(c, e);
			return;
		}
		*p = e->next;
		c->count--;
		entry_free(e);
		break;
	}
	pthread_mutex_unlock(&c->mutex);
}
