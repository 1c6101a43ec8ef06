/*
 * vcache.c — per-user vector indexes: lazy load, LRU bound, write upkeep.
 */
#include "search/vcache.h"

#include <pthread.h>
#include <string.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"
#include "search/vector.h"

struct ventry {
	char user_id[POS_UUID_SIZE];
	pthread_rwlock_t lock;      /* guards idx and loaded */
	struct pos_vindex *idx;
	bool loaded;
	unsigned refs;              /* under the cache mutex */
	int64_t last_used;          /* under the cache mutex */
	struct ventry *next;
};

struct pos_vcache {
	struct pos_store *store;
	char model[64];
	unsigned dim;
	unsigned max_users;
	pthread_mutex_t mutex;      /* guards the list, refs, last_used */
	struct ventry *head;
	size_t count;
};

enum pos_err pos_vcache_new(struct pos_store *s, const char *model, unsigned dim,
			    unsigned max_users, struct pos_vcache **out)
{
	struct pos_vcache *c = pos_calloc(1, sizeof(*c));
	if (!c)
		return POS_ERR_NOMEM;
	c->store = s;
	snprintf(c->model, sizeof(c->model), "%s", model);
	c->dim = dim;
	c->max_users = max_users ? max_users : 1;
	pthread_mutex_init(&c->mutex, NULL);
	*out = c;
	return POS_OK;
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
	struct ventry *e = c->head;
	while (e) {
		struct ventry *next = e->next;
		entry_free(e);
		e = next;
	}
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

/* Drops the least recently used unreferenced entry. Caller holds mutex. */
static void evict_one(struct pos_vcache *c)
{
	struct ventry **victim = NULL;
	for (struct ventry **p = &c->head; *p; p = &(*p)->next)
		if (!(*p)->refs && (!victim || (*p)->last_used < (*victim)->last_used))
			victim = p;
	if (!victim)
		return;
	struct ventry *e = *victim;
	*victim = e->next;
	c->count--;
	entry_free(e);
}

/* The user's entry, referenced; created (unloaded) when `create`. */
static struct ventry *acquire(struct pos_vcache *c, const char *user_id, bool create)
{
	pthread_mutex_lock(&c->mutex);
	struct ventry *e = find(c, user_id);
	if (!e && create) {
		while (c->count >= c->max_users && c->head) {
			size_t before = c->count;
			evict_one(c);
			if (c->count == before)
				break; /* all in use: go over the bound for now */
		}
		e = pos_calloc(1, sizeof(*e));
		if (e) {
			snprintf(e->user_id, sizeof(e->user_id), "%s", user_id);
			pthread_rwlock_init(&e->lock, NULL);
			e->next = c->head;
			c->head = e;
			c->count++;
		}
	}
	if (e) {
		e->refs++;
		e->last_used = pos_mono_us();
	}
	pthread_mutex_unlock(&c->mutex);
	return e;
}

static void release(struct pos_vcache *c, struct ventry *e)
{
	pthread_mutex_lock(&c->mutex);
	e->refs--;
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

/* Loads the entry's index if needed. Caller holds the write lock. */
static enum pos_err load(struct pos_vcache *c, struct ventry *e)
{
	if (e->loaded)
		return POS_OK;
	struct load_ctx l = {NULL, POS_OK};
	enum pos_err rc = pos_vindex_new(c->dim, &l.idx);
	if (rc)
		return rc;
	int64_t t0 = pos_mono_us();
	rc = c->store->memories->vectors_load(c->store, e->user_id, c->model, load_row, &l);
	if (!rc)
		rc = l.rc;
	if (rc) {
		pos_vindex_free(l.idx);
		return rc;
	}
	e->idx = l.idx;
	e->loaded = true;
	size_t n = pos_vindex_count(l.idx);
	if (n >= 10000)
		pos_info("search: loaded %zu vectors of one user in %.1f ms", n,
			 (double)(pos_mono_us() - t0) / 1000.0);
	return POS_OK;
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
		pthread_rwlock_wrlock(&e->lock);
		rc = load(c, e);
		pthread_rwlock_unlock(&e->lock);
		if (rc) {
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
		rc = pos_vindex_search(e->idx, q, qscale, k, keep, ctx, hits, &got);
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

void pos_vcache_put(struct pos_vcache *c, const char *user_id, int64_t seq,
		    const int8_t *q, float scale)
{
	struct ventry *e = acquire(c, user_id, false);
	if (!e)
		return; /* not loaded: the next load reads it from the store */
	pthread_rwlock_wrlock(&e->lock);
	if (e->loaded && pos_vindex_put(e->idx, seq, q, scale) != POS_OK) {
		/* Out of memory: drop the index so the next search reloads it
		 * whole rather than search an index that misses a row. */
		pos_vindex_free(e->idx);
		e->idx = NULL;
		e->loaded = false;
	}
	pthread_rwlock_unlock(&e->lock);
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
		pthread_rwlock_rdlock(&e->lock);
		if (e->loaded) {
			*bytes += pos_vindex_memory(e->idx);
			(*users)++;
		}
		pthread_rwlock_unlock(&e->lock);
	}
	pthread_mutex_unlock(&c->mutex);
}

void pos_vcache_forget(struct pos_vcache *c, const char *user_id)
{
	pthread_mutex_lock(&c->mutex);
	for (struct ventry **p = &c->head; *p; p = &(*p)->next) {
		struct ventry *e = *p;
		if (strcmp(e->user_id, user_id) != 0)
			continue;
		if (e->refs) {
			/* in use by a search right now: empty it instead */
			pthread_rwlock_wrlock(&e->lock);
			pos_vindex_free(e->idx);
			e->idx = NULL;
			e->loaded = false;
			pthread_rwlock_unlock(&e->lock);
		} else {
			*p = e->next;
			c->count--;
			entry_free(e);
		}
		break;
	}
	pthread_mutex_unlock(&c->mutex);
}
