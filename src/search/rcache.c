/*
 * rcache.c — result cache slots and user generations.
 */
#include "search/rcache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "base/alloc.h"
#include "base/uuid.h"

#define GEN_SLOTS 4096
#define STRIPES 32

struct entry {
	char user_id[POS_UUID_SIZE];
	char *key;
	uint64_t gen;
	struct pos_ranked *r;
	size_t n;
	int64_t total;
};

struct pos_rcache {
	size_t n_entries;
	struct entry *entries;
	pthread_mutex_t locks[STRIPES];
	_Atomic uint64_t gens[GEN_SLOTS];
	_Atomic uint64_t hits, misses;
};

static uint64_t fnv(const char *s, uint64_t h)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

struct pos_rcache *pos_rcache_new(size_t entries)
{
	struct pos_rcache *c = pos_calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->n_entries = entries;
	if (entries && !(c->entries = pos_calloc(entries, sizeof(*c->entries)))) {
		pos_free(c);
		return NULL;
	}
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_init(&c->locks[i], NULL);
	for (int i = 0; i < GEN_SLOTS; i++)
		atomic_init(&c->gens[i], 1);
	return c;
}

void pos_rcache_free(struct pos_rcache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_entries; i++) {
		pos_free(c->entries[i].key);
		pos_free(c->entries[i].r);
	}
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_destroy(&c->locks[i]);
	pos_free(c->entries);
	pos_free(c);
}

uint64_t pos_rcache_generation(struct pos_rcache *c, const char *user_id)
{
	return atomic_load(&c->gens[fnv(user_id, 1469598103934665603ull) % GEN_SLOTS]);
}

void pos_rcache_bump(struct pos_rcache *c, const char *user_id)
{
	atomic_fetch_add(&c->gens[fnv(user_id, 1469598103934665603ull) % GEN_SLOTS], 1);
}

static size_t slot_of(const struct pos_rcache *c, const char *user_id, const char *key)
{
	return (size_t)(fnv(key, fnv(user_id, 1469598103934665603ull)) % c->n_entries);
}

bool pos_rcache_get(struct pos_rcache *c, const char *user_id, const char *key,
		    uint64_t gen, struct pos_arena *a, struct pos_ranked **out,
		    size_t *n, int64_t *total)
{
	if (!c->n_entries)
		return false;
	size_t i = slot_of(c, user_id, key);
	pthread_mutex_t *lock = &c->locks[i % STRIPES];
	bool hit = false;
	pthread_mutex_lock(lock);
	struct entry *e = &c->entries[i];
	if (e->key && e->gen == gen && strcmp(e->user_id, user_id) == 0 &&
	    strcmp(e->key, key) == 0) {
		struct pos_ranked *copy = pos_arena_alloc(a, (e->n ? e->n : 1) * sizeof(*copy));
		if (copy) {
			memcpy(copy, e->r, e->n * sizeof(*copy));
			*out = copy;
			*n = e->n;
			*total = e->total;
			hit = true;
		}
	}
	pthread_mutex_unlock(lock);
	atomic_fetch_add(hit ? &c->hits : &c->misses, 1);
	return hit;
}

void pos_rcache_put(struct pos_rcache *c, const char *user_id, const char *key,
		    uint64_t gen, const struct pos_ranked *r, size_t n,
		    int64_t total)
{
	if (!c->n_entries)
		return;
	char *k = pos_strdup(key);
	struct pos_ranked *copy = pos_malloc((n ? n : 1) * sizeof(*copy));
	if (!k || !copy) {
		pos_free(k);
		pos_free(copy);
		return;
	}
	memcpy(copy, r, n * sizeof(*copy));
	size_t i = slot_of(c, user_id, key);
	pthread_mutex_t *lock = &c->locks[i % STRIPES];
	pthread_mutex_lock(lock);
	struct entry *e = &c->entries[i];
	char *old_key = e->key;
	struct pos_ranked *old_r = e->r;
	snprintf(e->user_id, sizeof(e->user_id), "%s", user_id);
	e->key = k;
	e->gen = gen;
	e->r = copy;
	e->n = n;
	e->total = total;
	pthread_mutex_unlock(lock);
	pos_free(old_key);
	pos_free(old_r);
}

void pos_rcache_stats(struct pos_rcache *c, uint64_t *hits, uint64_t *misses)
{
	*hits = atomic_load(&c->hits);
	*misses = atomic_load(&c->misses);
}

void pos_rcache_forget(struct pos_rcache *c, const char *user_id)
{
	pos_rcache_bump(c, user_id);
	for (size_t i = 0; i < c->n_entries; i++) {
		pthread_mutex_t *lock = &c->locks[i % STRIPES];
		pthread_mutex_lock(lock);
		struct entry *e = &c->entries[i];
		char *k = NULL;
		struct pos_ranked *r = NULL;
		if (e->key && strcmp(e->user_id, user_id) == 0) {
			k = e->key;
			r = e->r;
			e->key = NULL;
			e->r = NULL;
			e->n = 0;
		}
		pthread_mutex_unlock(lock);
		pos_free(k);
		pos_free(r);
	}
}

/* ---- the wire form (a shared cache) ---- */

#define WIRE_MAGIC 0x31525350u /* "PSR1" */

struct wire_head {
	uint32_t magic;
	uint32_t entry_size;
	uint64_t n;
	int64_t total;
};

size_t pos_rcache_encoded_size(size_t n)
{
	return sizeof(struct wire_head) + n * sizeof(struct pos_ranked);
}

void pos_rcache_encode(const struct pos_ranked *r, size_t n, int64_t total, void *out)
{
	struct wire_head h = {WIRE_MAGIC, (uint32_t)sizeof(struct pos_ranked), n, total};
	memcpy(out, &h, sizeof(h));
	if (n)
		memcpy((char *)out + sizeof(h), r, n * sizeof(*r));
}

bool pos_rcache_decode(const void *in, size_t len, size_t max_n, struct pos_arena *a,
		       struct pos_ranked **out, size_t *n, int64_t *total)
{
	struct wire_head h;
	if (len < sizeof(h))
		return false;
	memcpy(&h, in, sizeof(h));
	if (h.magic != WIRE_MAGIC || h.entry_size != sizeof(struct pos_ranked) ||
	    h.n > max_n || len != pos_rcache_encoded_size((size_t)h.n) || h.total < 0)
		return false;
	struct pos_ranked *r = pos_arena_alloc(a, (h.n ? h.n : 1) * sizeof(*r));
	if (!r)
		return false;
	if (h.n)
		memcpy(r, (const char *)in + sizeof(h), h.n * sizeof(*r));
	*out = r;
	*n = (size_t)h.n;
	*total = h.total;
	return true;
}
