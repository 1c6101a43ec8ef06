/*
 * vcache.h — the in-memory vector indexes, one per user, loaded lazily from
 * the store on the user's first semantic search and kept in step with
 * writes (pos_vcache_put/remove) afterwards.
 *
 * Two bounds, least recently used first out: at most `max_users` indexes,
 * and at most `max_bytes` of them (0: no byte bound). An index in use is
 * never dropped (the bound is passed for that moment instead). A load
 * runs either on the caller's thread (pos_vcache_search) or on the cache's
 * own loader thread (pos_vcache_prepare), so a search can answer without
 * the vectors while a large index loads (docs/SEARCH.md, "Resident
 * vectors").
 *
 * Thread-safety: all functions may be called concurrently; a user's index
 * is read under a shared lock and changed under an exclusive one; a load
 * holds the exclusive lock, so a write that lands during a load waits and
 * then applies (put is idempotent), and none is lost.
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
			    unsigned max_users, size_t max_bytes, struct pos_vcache **out);
/* Stops the loader thread (after its current load) and frees everything. */
void pos_vcache_free(struct pos_vcache *c);

/*
 * How searches scan: the two-stage scan (vector.h) by default, every int8
 * row when `exact`. A large index is scanned on every core (the cache's
 * own helper threads). Call before the first search.
 */
void pos_vcache_set_exact(struct pos_vcache *c, bool exact);

/*
 * Makes sure the user's index is resident without loading it on this
 * thread: POS_OK when it is (or became so within `wait_ms`); otherwise its
 * load is queued for the loader thread (started on first use) and the
 * answer is POS_ERR_UNAVAILABLE — search without vectors this time.
 */
enum pos_err pos_vcache_prepare(struct pos_vcache *c, const char *user_id, unsigned wait_ms);

/*
 * The k nearest of the user's vectors to the quantized query (cosine,
 * best first) into out[0..*n); `keep(ctx, seq)` filters when not NULL (it
 * may run on several threads at once: it must only read).
 * Loads the user's index first on this thread when it is not resident.
 */
enum pos_err pos_vcache_search(struct pos_vcache *c, const char *user_id,
			       const int8_t *q, float qscale, unsigned k,
			       bool (*keep)(void *ctx, int64_t seq), void *ctx,
			       struct pos_hit *out, size_t *n);
/*
 * pos_vcache_search for nq queries at once, without a filter and always
 * exact (every int8 row, whatever the cache's scan mode): query i is
 * qs[i] with scale qscales[i], its hits go to out[i*k ..], their number
 * to n[i] (pos_vindex_search_many). The index is read-locked for
 * POS_VCACHE_MANY_STEP queries at a time, so the user's writes wait for
 * one step, never for the whole batch, and the scan runs on the calling
 * thread alone (background work leaves the other cores to searches).
 * Loads the index first on this thread when it is not resident.
 */
#define POS_VCACHE_MANY_STEP 16u /* one chunk of pos_vindex_search_many */
enum pos_err pos_vcache_search_many(struct pos_vcache *c, const char *user_id, size_t nq,
				    const int8_t *const *qs, const float *qscales, unsigned k,
				    struct pos_hit *out, size_t *n);
/*
 * Up to `max` of the user's vectors spread evenly over the resident index
 * (every count/max-th row): their seqs into seqs[0..*n) and their values,
 * dequantized, into vecs (row i at vecs + i * dim); *total is the index's
 * size. POS_ERR_UNAVAILABLE when the index is not resident (nothing is
 * loaded here: pos_vcache_prepare first).
 */
enum pos_err pos_vcache_sample(struct pos_vcache *c, const char *user_id, size_t max,
			       int64_t *seqs, float *vecs, size_t *n, size_t *total);
/* Adds or replaces the vector of `seq` if the user's index is loaded. */
void pos_vcache_put(struct pos_vcache *c, const char *user_id, int64_t seq,
		    const int8_t *q, float scale);
/*
 * pos_vcache_put for n vectors of one user (a bulk write): seqs[i] with
 * qs[i] and qscales[i], under one write lock, so a bulk waits for a
 * running search step (pos_vcache_search_many) once, not once a vector.
 */
void pos_vcache_put_many(struct pos_vcache *c, const char *user_id, size_t n,
			 const int64_t *seqs, const int8_t *const *qs, const float *qscales);
/* Drops `seq` from the user's index if loaded. */
void pos_vcache_remove(struct pos_vcache *c, const char *user_id, int64_t seq);
/* Drops the user's whole index from memory (it reloads on next use). */
void pos_vcache_forget(struct pos_vcache *c, const char *user_id);
/* Bytes held by loaded indexes, and how many users are loaded. */
void pos_vcache_usage(struct pos_vcache *c, size_t *bytes, size_t *users);
/* Whether the user's index is loaded now. */
bool pos_vcache_resident(struct pos_vcache *c, const char *user_id);

#endif
