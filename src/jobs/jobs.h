/*
 * jobs.h — the jobs service: every background task of PersonalOS is a job
 * (docs/ARCHITECTURE.md, "Jobs"). A job is a row in the store's `jobs`
 * table (kind, user, payload, state, attempts, run_after, progress, error,
 * result), run by a bounded pool of workers (jobs/pool.h), retried with
 * backoff, cancellable, bounded by a per-attempt deadline, and visible to
 * its owner at GET /api/jobs/{id}. Queued jobs survive a restart; a job
 * found `running` at start-up (the process died under it) is queued again
 * and counts that attempt.
 *
 * Kinds are a constant table per service: a service defines a
 * `static const struct pos_job_kind` and registers it once at start-up,
 * with the context its `run` needs (the service itself). Registration is
 * closed when pos_jobs_start runs; jobs of an unregistered kind found in
 * the table stay queued (a later binary may know them) and are reported
 * at start-up.
 *
 * A `run` function does one attempt. It polls pos_job_should_stop between
 * units of work (and bounds blocking waits by pos_job_remaining_us), reports
 * progress, and may leave a result (a JSON object shown at GET
 * /api/jobs/{id} as `result`) and per-item errors with their position. It
 * returns:
 *   POS_OK                   done;
 *   POS_ERR_UNAVAILABLE, POS_ERR_BAD_GATEWAY, POS_ERR_IO, POS_ERR_STORE,
 *   POS_ERR_LOCKED (an encrypted user's data unlocks at their next login)
 *                            transient: retried after a backoff while
 *                            attempts remain, then failed;
 *   any other error          failed at once (the message is kept).
 * A cancelled or expired attempt ends `cancelled` / is retried as
 * transient, whatever it returns. An attempt stopped by pos_jobs_free (a
 * shutdown) is queued again and does not count.
 *
 * Several processes may serve one store (issue 18): a claimed job holds a
 * lease (pos_jobs_config.lease_us) that its process renews while the
 * attempt runs; a job whose lease ended — its process died — is queued
 * again by any process, at start-up and periodically, and counts that
 * attempt. A live process's job is never taken from it (docs/JOBS.md).
 *
 * Thread-safety: every function may be called from any thread; `run`
 * functions are called on pool workers, several at once (of one kind too,
 * unless the kind sets `serial_per_user`).
 */
#ifndef POS_JOBS_JOBS_H
#define POS_JOBS_JOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/err.h"
#include "base/uuid.h"

struct pos_store;
struct pos_jobs;
struct pos_job_run;

#define POS_JOB_KIND_MAX 32      /* bytes of a kind name, NUL excluded */
#define POS_JOB_PAYLOAD_MAX 65536 /* bytes of a payload; bigger data lives elsewhere */

/* A job's state as stored and as shown by the API. */
enum pos_job_state {
	POS_JOB_QUEUED,    /* waiting for a worker or for run_after */
	POS_JOB_RUNNING,
	POS_JOB_DONE,
	POS_JOB_FAILED,
	POS_JOB_CANCELLED,
};

/* "queued" | "running" | "done" | "failed" | "cancelled". */
const char *pos_job_state_name(enum pos_job_state s);

struct pos_job_kind {
	const char *name;        /* stored in jobs.kind; [a-z_.]+, unique */
	unsigned max_attempts;   /* >= 1; 1 means no retry */
	int64_t timeout_us;      /* per attempt; 0: none */
	int64_t backoff_us;      /* first retry delay, doubled each retry (capped at 1 h) */
	bool serial_per_user;    /* at most one running job of this kind per user */
	bool user_cancellable;   /* DELETE /api/jobs/{id} may cancel it */
	enum pos_err (*run)(struct pos_job_run *r, void *ctx,
			    const char *user_id, const char *payload_json);
};

/* What GET /api/jobs/{id} shows; strings live in the caller's arena. */
struct pos_job_info {
	char id[POS_UUID_SIZE];
	char user_id[POS_UUID_SIZE];
	const char *kind;
	enum pos_job_state state;
	unsigned attempts;
	uint64_t done, total;       /* progress units; total 0: unknown */
	const char *error;          /* last error message, NULL if none */
	const char *result_json;    /* JSON object, NULL if none */
	const char *item_errors_json; /* JSON array of {position, code, message}, NULL if none */
	int64_t created_at, updated_at, run_after; /* microseconds since the epoch */
};

struct pos_jobs_config {
	unsigned workers;        /* pool size, 1..POS_POOL_WORKERS_MAX */
	size_t queue_max;        /* queued jobs per user beyond which enqueue answers POS_ERR_BUSY */
	int64_t keep_done_us;    /* finished jobs are deleted after this long */
	/* live events (docs/EVENTS.md), may be NULL: a job.progress event
	 * {id, kind, state, done, total} goes to the job's owner when an
	 * attempt starts, as progress is stored (at most a few times a
	 * second), and when it ends */
	struct pos_events *events;
	/* How long a claimed job stays its process's without a renewal; 0:
	 * POS_JOBS_LEASE_DEFAULT_US. Renewed every third of it. */
	int64_t lease_us;
};

#define POS_JOBS_LEASE_DEFAULT_US (60LL * 1000000)
#define POS_JOB_DEDUPE_KEY_MAX 200 /* bytes of a dedupe key */

/* A service over `store` (borrowed; must outlive it). Kinds are then
 * registered, then pos_jobs_start starts the workers and resumes queued
 * jobs. */
enum pos_err pos_jobs_new(struct pos_store *store, const struct pos_jobs_config *cfg,
			  struct pos_jobs **out);
/* Before pos_jobs_start only. POS_ERR_CONFLICT for a name already taken. */
enum pos_err pos_jobs_register(struct pos_jobs *j, const struct pos_job_kind *kind, void *ctx);
/* Calls fn(ctx) every `interval_us` (at least 1 s), the first time at
 * start, on the service's dispatcher thread: for short periodic upkeep (a
 * sweep of expired rows), never for long work (queue a job for that).
 * Before pos_jobs_start only; at most 8 per service. */
enum pos_err pos_jobs_every(struct pos_jobs *j, int64_t interval_us, void (*fn)(void *ctx),
			    void *ctx);
enum pos_err pos_jobs_start(struct pos_jobs *j);
/* Cancels running attempts (they are queued again for the next start),
 * waits for the workers and frees. NULL is fine. */
void pos_jobs_free(struct pos_jobs *j);

/*
 * Queues a job of `kind` for `user_id` with `payload_json` (a JSON object,
 * copied; NULL means "{}") to run no earlier than `run_after` (microseconds
 * since the epoch; 0: now). `id_out` (may be NULL) gets the job id.
 * POS_ERR_NOT_FOUND for an unknown kind, POS_ERR_CONTENT_TOO_LARGE past
 * POS_JOB_PAYLOAD_MAX, POS_ERR_INVALID_JSON for a payload that is not a
 * JSON object, POS_ERR_BUSY when the user has queue_max jobs of this
 * service's kinds queued. Jobs queued before pos_jobs_start run after it.
 */
enum pos_err pos_jobs_enqueue(struct pos_jobs *j, const char *kind, const char *user_id,
			      const char *payload_json, int64_t run_after,
			      char id_out[POS_UUID_SIZE]);

/*
 * pos_jobs_enqueue with a dedupe key (1..POS_JOB_DEDUPE_KEY_MAX bytes, else
 * POS_ERR_INVALID_REQUEST): POS_ERR_CONFLICT, and nothing queued, while a
 * job of `kind` with the same key is queued or running in any process of
 * the store. Work that must run once at a time across instances (one sync
 * source) is queued this way.
 */
enum pos_err pos_jobs_enqueue_unique(struct pos_jobs *j, const char *kind, const char *user_id,
				     const char *key, const char *payload_json, int64_t run_after,
				     char id_out[POS_UUID_SIZE]);

/* The job `id` if `user_id` owns it, else POS_ERR_NOT_FOUND (never reveals
 * other users' jobs). */
enum pos_err pos_jobs_get(struct pos_jobs *j, struct pos_arena *a, const char *user_id,
			  const char *id, struct pos_job_info *out);

/* The user's jobs, newest first, at most `limit`, optionally of one kind. */
enum pos_err pos_jobs_list(struct pos_jobs *j, struct pos_arena *a, const char *user_id,
			   const char *kind, size_t limit, struct pos_job_info **out,
			   size_t *n_out);

/* Cancels a queued or running job the user owns. POS_ERR_NOT_FOUND if not
 * theirs, POS_ERR_CONFLICT once finished, POS_ERR_FORBIDDEN for a kind that
 * is not user_cancellable. */
enum pos_err pos_jobs_cancel(struct pos_jobs *j, const char *user_id, const char *id);

/* Counts since start (for /metrics): attempts that ended done, were
 * retried, failed for good. */
void pos_jobs_counts(struct pos_jobs *j, uint64_t *done, uint64_t *retried, uint64_t *failed);

/* Waits until the job has finished or `timeout_us` passed (POS_ERR_UNAVAILABLE);
 * for handlers that answer synchronously when the work is short (chat). */
enum pos_err pos_jobs_wait(struct pos_jobs *j, const char *id, int64_t timeout_us);

/* Inside run. */
bool pos_job_should_stop(const struct pos_job_run *r);
int64_t pos_job_remaining_us(const struct pos_job_run *r);
const char *pos_job_id(const struct pos_job_run *r);
unsigned pos_job_attempt(const struct pos_job_run *r); /* 1 for the first */
/* Progress in units (total 0: unknown); written to the store at most a few
 * times a second. */
void pos_job_progress(struct pos_job_run *r, uint64_t done, uint64_t total);
/* The job's result, a JSON object (copied); the last call wins. */
enum pos_err pos_job_set_result(struct pos_job_run *r, const char *json);
/* The message kept with a failed attempt (copied, at most 512 bytes;
 * the last call wins); without one the error's pos_strerror text is kept.
 * Never put secrets or memory content in it: GET /api/jobs shows it. */
void pos_job_set_error(struct pos_job_run *r, const char *message);
/* Replaces the payload the job's next attempt gets (a JSON object,
 * copied), for kinds that move a multi-step protocol forward (MemU's task
 * id). Written with the attempt's outcome. */
enum pos_err pos_job_set_payload(struct pos_job_run *r, const char *json);
/* When this attempt ends in a retry, the next attempt waits at least
 * `delay_us` (capped at 1 h) instead of only the kind's backoff: for a
 * service that said when to come back (HTTP 429 Retry-After). The last
 * call wins; 0 clears it. */
void pos_job_retry_after(struct pos_job_run *r, int64_t delay_us);
/* Records a failed item at `position` (0-based, in the input's order) with
 * an error code and message; kept up to 1,000 per job. */
enum pos_err pos_job_item_error(struct pos_job_run *r, uint64_t position, enum pos_err code,
				const char *message);

#endif
