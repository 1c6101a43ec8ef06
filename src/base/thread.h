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

#include <stdint.h>

#include "base/err.h"

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
