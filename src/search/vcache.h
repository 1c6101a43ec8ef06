/*
 * vcache.h — the in-memory vector indexes, one per user, loaded lazily from
 * the store on the user's first semantic search and kept in step with
 * writes (pos_vcache_put/remove) afterwards.
 *
 * At most `max_users` indexes stay loaded; the least recently used one is
 * dropped (and reloaded when needed). Thread-safety: all functions may be
 * called concurrently; a user's index is read under a shared lock and
 * changed under an exclusive one; a load holds the exclusive lock, so a
 * write that lands during a load waits and then applies (put is
 * idempotent), and none is lost.
 */
#ifndef POS_SEARCH_VCACHE_H
#define POS_SEARCH_VCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "store/store.h"

struct pos_vcache;

/* Indexes of vectors made by `model` with `dim` components. */
enum pos_err pos_vcache_new(struct pos_store *s, const char *model, unsigned dim,
			    unsigned max_users, struct pos_vcache **out);
void pos_vcache_free(struct pos_vcache *c);

/*
 * The k nearest of the user's vectors to the quantized query (cosine,
 * best first) into out[0..*n); `keep(ctx, seq)` filters when not NULL.
 */
enum pos_err pos_vcache_search(struct pos_vcache *c, const char *user_id,
			       const int8_t *q, float qscale, unsigned k,
			       bool (*keep)(void *ctx, int64_t seq), void *ctx,
			       struct pos_hit *out, size_t *n);
/* Adds or replaces the vector of `seq` if the user's index is loaded. */
void pos_vcache_put(struct pos_vcache *c, const char *user_id, int64_t seq,
		    const int8_t *q, float scale);
/* Drops `seq` from the user's index if loaded. */
void pos_vcache_remove(struct pos_vcache *c, const char *user_id, int64_t seq);
/* Drops the user's whole index from memory (it reloads on next use). */
void pos_vcache_forget(struct pos_vcache *c, const char *user_id);
/* Bytes held by loaded indexes, and how many users are loaded. */
void pos_vcache_usage(struct pos_vcache *c, size_t *bytes, size_t *users);

#endif
