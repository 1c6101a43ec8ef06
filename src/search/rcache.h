/*
 * rcache.h — the per-user search result cache.
 *
 * Entries hold a ranked candidate list keyed by (user, request key) and
 * stamped with the user's write generation at fill time. Any write of the
 * user bumps the generation (pos_rcache_bump), so every older entry of that
 * user stops matching at once — no scan, no stale answer. Generations live
 * in a fixed table of slots hashed by user id: two users sharing a slot
 * only invalidate each other more often. Fixed memory; thread-safe (striped
 * locks).
 */
#ifndef POS_SEARCH_RCACHE_H
#define POS_SEARCH_RCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/err.h"
#include "search/fusion.h"

struct pos_rcache;

/* A cache of `entries` slots (0 disables caching). NULL on OOM. */
struct pos_rcache *pos_rcache_new(size_t entries);
void pos_rcache_free(struct pos_rcache *c);

/* The user's current write generation. */
uint64_t pos_rcache_generation(struct pos_rcache *c, const char *user_id);
/* Invalidates every cached result of the user. */
void pos_rcache_bump(struct pos_rcache *c, const char *user_id);

/*
 * Copies a cached list into the arena when (user, key) is cached with
 * generation `gen`. Returns false on a miss.
 */
bool pos_rcache_get(struct pos_rcache *c, const char *user_id, const char *key,
		    uint64_t gen, struct pos_arena *a, struct pos_ranked **out,
		    size_t *n, int64_t *total);
/* Stores a copy of r[0..n) for (user, key) at generation `gen`. */
void pos_rcache_put(struct pos_rcache *c, const char *user_id, const char *key,
		    uint64_t gen, const struct pos_ranked *r, size_t n,
		    int64_t total);

/* Drops every cached entry of the user and bumps its generation (when
 * its data locks, docs/ENCRYPTION.md: nothing of it outlives the lock). */
void pos_rcache_forget(struct pos_rcache *c, const char *user_id);

/*
 * The wire form of a cached list, for a cache shared by several instances
 * (engine.h, pos_search_shared): a header (format, entry size, count,
 * total) and the entries. pos_rcache_encoded_size is its length for n
 * entries. pos_rcache_decode copies the list into the arena and is false
 * for anything that is not exactly one list of at most `max_n` entries
 * written by this build (a rolling upgrade reads another build's as a miss).
 */
size_t pos_rcache_encoded_size(size_t n);
void pos_rcache_encode(const struct pos_ranked *r, size_t n, int64_t total, void *out);
bool pos_rcache_decode(const void *in, size_t len, size_t max_n, struct pos_arena *a,
		       struct pos_ranked **out, size_t *n, int64_t *total);

/* Hits and misses since start (for /metrics). */
void pos_rcache_stats(struct pos_rcache *c, uint64_t *hits, uint64_t *misses);

#endif
