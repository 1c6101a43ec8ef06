/*
 * pool.h — a bounded pool of worker threads for background jobs: the seed
 * of the jobs subsystem (docs/ARCHITECTURE.md, issue 13). Sync runs use it
 * today; imports, exports and plugins are meant to follow.
 *
 * A pool has a fixed number of workers and a bounded queue. A job is a
 * function and an argument; it gets a handle through which it polls for
 * cancellation and its deadline, and reports progress. The pool never
 * kills a job: a job that must stop early notices at its next check
 * (between items, in I/O waits, from curl's progress callback) and
 * returns. Deadlines count from the moment a worker starts the job.
 *
 * Ownership: every job that pos_pool_submit accepted is called exactly
 * once, even when the pool is freed first (then already cancelled), so the
 * job function owns `arg` and frees it. Handles are reference counted: the
 * pool holds one while the job is queued or running, pos_pool_submit's
 * caller one more when it asked for the handle (release it).
 *
 * Thread-safety: every function may be called from any thread; a handle
 * may be used by several threads at once.
 */
#ifndef POS_JOBS_POOL_H
#define POS_JOBS_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define POS_POOL_WORKERS_MAX 64

struct pos_pool;
struct pos_pool_job;

enum pos_pool_job_state {
	POS_POOL_JOB_QUEUED,
	POS_POOL_JOB_RUNNING,
	POS_POOL_JOB_DONE,
};

/* The work of one job; `job` is valid for the call. */
typedef void (*pos_pool_fn)(struct pos_pool_job *job, void *arg);

/*
 * Starts `workers` threads (1..POS_POOL_WORKERS_MAX) with a queue of at
 * most `queue_max` (>= 1) waiting jobs. POS_ERR_INVALID_REQUEST for
 * out-of-range sizes, POS_ERR_NOMEM/POS_ERR_INTERNAL when memory or
 * threads are lacking (nothing is left running then).
 */
enum pos_err pos_pool_new(unsigned workers, size_t queue_max, struct pos_pool **out);

/*
 * Cancels every queued and running job, waits for the running ones to
 * return, calls the queued ones (cancelled: they only clean up) and frees
 * the pool. Handles still held stay valid until released. NULL is fine.
 */
void pos_pool_free(struct pos_pool *p);

/*
 * Queues fn(job, arg). `timeout_us` > 0 gives the job a deadline that many
 * microseconds after it starts; 0 means none. With `out`, *out gets a
 * handle (release with pos_pool_job_release). POS_ERR_UNAVAILABLE when the
 * queue is full or the pool is being freed: then fn is NOT called and the
 * caller keeps `arg`.
 */
enum pos_err pos_pool_submit(struct pos_pool *p, pos_pool_fn fn, void *arg,
			     int64_t timeout_us, struct pos_pool_job **out);

/* Jobs waiting for a worker / being run now (a snapshot). */
size_t pos_pool_queued(struct pos_pool *p);
size_t pos_pool_running(struct pos_pool *p);

/* Asks the job to stop; it notices at its next pos_pool_job_should_stop. */
void pos_pool_job_cancel(struct pos_pool_job *j);
/* True once cancelled (by pos_pool_job_cancel or the pool being freed). */
bool pos_pool_job_cancelled(const struct pos_pool_job *j);
/* True once the job runs past its deadline. */
bool pos_pool_job_expired(const struct pos_pool_job *j);
/* cancelled || expired: what a job polls between units of work. */
bool pos_pool_job_should_stop(const struct pos_pool_job *j);
/* Microseconds until the deadline (INT64_MAX without one, 0 once past),
 * for a job bounding a blocking wait. */
int64_t pos_pool_job_remaining_us(const struct pos_pool_job *j);

/* Progress as `done` of `total` units (total 0: unknown); set by the job. */
void pos_pool_job_set_progress(struct pos_pool_job *j, uint64_t done, uint64_t total);
void pos_pool_job_progress(const struct pos_pool_job *j, uint64_t *done, uint64_t *total);

enum pos_pool_job_state pos_pool_job_state(const struct pos_pool_job *j);
/* Blocks until the job has returned. Only while its pool lives, and not
 * from inside a job of the same pool (it may wait forever). */
void pos_pool_job_wait(struct pos_pool_job *j);
/* Drops the caller's reference. NULL is fine. */
void pos_pool_job_release(struct pos_pool_job *j);

#endif
