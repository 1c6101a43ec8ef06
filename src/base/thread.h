/*
 * thread.h — the two thread helpers below the jobs service.
 *
 * A periodic ticker: one thread that calls a function every interval,
 * sooner when kicked, and a last time when stopped. For upkeep below the
 * jobs service (the store's access-count write-behind), where jobs/ cannot
 * be used because it sits above the store; everything else that runs in
 * the background is a job (jobs/jobs.h).
 *
 * A fork-join pool: a fixed set of threads, owned by whoever made it (the
 * search engine), that helps a caller run the items of one call at once;
 * pos_parallel_for returns when every item has run, so nothing outlives
 * the call. The caller runs items too: when every pool thread is busy
 * with other callers, a call still completes on the caller's thread alone.
 *
 * Thread-safety: pos_ticker_kick may be called from any thread, also while
 * holding locks `fn` takes (it only signals). pos_ticker_stop is called
 * once, not from `fn`. pos_parallel_for may be called from any number of
 * threads at once; pos_workers_free once, when no call is in progress.
 */
#ifndef POS_BASE_THREAD_H
#define POS_BASE_THREAD_H

#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "base/err.h"

/*
 * Timed waits on the monotonic clock (issue 19, clock jumps): a condition
 * set up by pos_cond_init_mono times pthread_cond_timedwait on
 * CLOCK_MONOTONIC, so setting the wall clock back an hour neither makes a
 * one-second wait last an hour nor ends it early. Returns 0 or an errno.
 */
int pos_cond_init_mono(pthread_cond_t *c);
/* The CLOCK_MONOTONIC time `after_us` from now, for a timed wait on such a
 * condition. */
struct timespec pos_mono_deadline(int64_t after_us);
/* The same for an absolute pos_mono_us time. */
struct timespec pos_mono_timespec(int64_t at_us);

struct pos_ticker;

/* Starts a thread calling fn(ctx) every `interval_us` (> 0). POS_ERR_NOMEM
 * or POS_ERR_INTERNAL (no thread) leave nothing running. */
enum pos_err pos_ticker_start(int64_t interval_us, void (*fn)(void *ctx), void *ctx,
			      struct pos_ticker **out);
/* Asks for a call as soon as possible (calls do not pile up). */
void pos_ticker_kick(struct pos_ticker *t);
/* Stops the thread, calls fn(ctx) one last time on the caller's thread,
 * and frees. NULL is fine. */
void pos_ticker_stop(struct pos_ticker *t);

struct pos_workers;

#define POS_WORKERS_MAX 64

/* Starts `n` threads (1..POS_WORKERS_MAX). POS_ERR_INVALID_REQUEST,
 * POS_ERR_NOMEM or POS_ERR_INTERNAL (no thread) leave nothing running. */
enum pos_err pos_workers_new(unsigned n, struct pos_workers **out);
/* Calls fn(ctx, i) for every i in [0, n), on the pool's threads and the
 * caller's, and returns when all have returned. `w` NULL runs them all on
 * the caller's thread. fn must not call pos_parallel_for on the same pool. */
void pos_parallel_for(struct pos_workers *w, size_t n, void (*fn)(void *ctx, size_t i),
		      void *ctx);
/* Joins the threads and frees. NULL is fine. */
void pos_workers_free(struct pos_workers *w);

/*
 * A long-lived service thread its owner starts and joins (never detached),
 * for a loop that blocks where a ticker does not fit (the shared cache's
 * pub/sub subscriber on its socket, the vector cache's loader on its
 * queue). `fn` must return once the owner has
 * told it to stop by its own means.
 */
struct pos_thread;
enum pos_err pos_thread_start(void *(*fn)(void *arg), void *arg, struct pos_thread **out);
/* Waits for fn to return and frees. NULL is fine. */
void pos_thread_join(struct pos_thread *t);

#endif
