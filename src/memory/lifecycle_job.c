/*
 * lifecycle_job.c — the lifecycle as a job kind of the jobs service
 * (jobs/jobs.h): `memory.lifecycle`, one per user, that runs the user's
 * policy (lifecycle.c) with progress, and the schedule, a tick of the
 * jobs service that keeps one run queued a day ahead for every user. Kept
 * apart from lifecycle.c so that the policy links without the jobs
 * service.
 */
#include "memory/lifecycle.h"

#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "jobs/jobs.h"

#define SCHEDULE_EVERY_US (3600LL * 1000000) /* a new account waits at most this */

static bool progress(void *ctx, int64_t done)
{
	struct pos_job_run *r = ctx;
	pos_job_progress(r, (uint64_t)done, 0);
	return pos_job_should_stop(r);
}

static enum pos_err run_lifecycle(struct pos_job_run *r, void *ctx, const char *user_id,
				  const char *payload_json)
{
	(void)payload_json;
	struct pos_lifecycle_jobs *lj = ctx;
	struct pos_life_result res;
	struct pos_error err;
	pos_error_clear(&err);
	enum pos_err rc = pos_lifecycle_run(lj->store, user_id, pos_now_us(), progress, r, &res,
					    &err);
	if (rc == POS_ERR_NOT_FOUND)
		return POS_OK; /* the account is gone */
	if (rc)
		return rc;
	pos_job_progress(r, (uint64_t)res.scanned, (uint64_t)res.scanned);
	struct pos_buf b;
	pos_buf_init(&b, 64 * 1024);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_life_result_json(&w, &res);
	if (!w.rc && b.data)
		rc = pos_job_set_result(r, b.data);
	pos_buf_free(&b);
	return rc;
}

static const struct pos_job_kind lifecycle_kind = {
	.name = POS_LIFECYCLE_JOB,
	.max_attempts = 3,
	.timeout_us = 600LL * 1000000LL,
	.backoff_us = 60LL * 1000000LL,
	.serial_per_user = true,
	.user_cancellable = false,
	.run = run_lifecycle,
};

/* The tick: every user without a run queued or running gets one,
 * interval_us from now. */
static void schedule_tick(void *ctx)
{
	struct pos_lifecycle_jobs *lj = ctx;
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return;
	struct pos_user *users;
	size_t n;
	if (lj->store->accounts->user_list(lj->store, a, &users, &n) == POS_OK) {
		for (size_t i = 0; i < n; i++) {
			struct pos_job_info *jobs;
			size_t nj;
			if (pos_jobs_list(lj->jobs, a, users[i].id, POS_LIFECYCLE_JOB, 1, &jobs, &nj))
				break;
			if (nj && (jobs[0].state == POS_JOB_QUEUED || jobs[0].state == POS_JOB_RUNNING))
				continue;
			/* one per user, also across instances sharing the store
			 * (POS_ERR_CONFLICT: another has it queued); POS_ERR_BUSY:
			 * that user's queue is full; the next tick either way */
			char key[16 + POS_UUID_SIZE];
			snprintf(key, sizeof(key), "lifecycle:%s", users[i].id);
			(void)pos_jobs_enqueue_unique(lj->jobs, POS_LIFECYCLE_JOB, users[i].id, key,
						      NULL, pos_now_us() + lj->interval_us, NULL);
		}
	}
	pos_arena_destroy(a);
}

enum pos_err pos_lifecycle_register(struct pos_lifecycle_jobs *lj)
{
	enum pos_err rc = pos_jobs_register(lj->jobs, &lifecycle_kind, lj);
	if (!rc && lj->interval_us > 0)
		rc = pos_jobs_every(lj->jobs, SCHEDULE_EVERY_US, schedule_tick, lj);
	return rc;
}
