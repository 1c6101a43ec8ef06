/*
 * thread.h — a periodic ticker: one thread that calls a function every
 * interval, sooner when kicked, and a last time when stopped. For upkeep
 * below the jobs service (the store's access-count write-behind), where
 * jobs/ cannot be used because it sits above the store; everything else
 * that runs in the background is a job (jobs/jobs.h).
 *
 * Thread-safety: pos_ticker_kick may be called from any thread, also while
 * holding locks `fn` takes (it only signals). pos_ticker_stop is called
 * once, not from `fn`.
 */
#ifndef POS_BASE_THREAD_H
#define POS_BASE_THREAD_H

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

#endif
