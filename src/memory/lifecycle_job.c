/*
 * lifecycle_job.c — the lifecycle as a job kind of the jobs service
 * (jobs/jobs.h): `memory.lifecycle`, one per user, that runs the user's
 * policy (lifecycle.c) with progress and queues its own next run, and the
 * start-up step that makes sure every user has one queued. Kept apart from
 * lifecycle.c so that the policy links without the jobs service.
 */
#include "memory/lifecycle.h"

#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "jobs/jobs.h"

static bool progress(void *ctx, int64_t done)
{
	struct pos_job_run *r = ctx;
	pos_job_progress(r, (uint64_t)done, 0);
	return pos_job_should_stop(r);
}

enum pos_err pos_lifecycle_job_run(struct pos_job_run *r, void *ctx, const char *user_id,
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
	if (!rc) {
		struct pos_buf b;
		pos_buf_init(&b, 64 * 1024);
		struct pos_jw w;
		pos_jw_init(&w, &b);
		pos_life_result_json(&w, &res);
		if (!w.rc && b.data)
			pos_job_set_result(r, b.data);
		pos_buf_free(&b);
	}
	/* the next run, whatever this one did (a failed attempt is retried
	 * by the jobs service; this is the schedule) */
	if (lj->interval_us > 0)
		pos_jobs_enqueue(lj->jobs, POS_LIFECYCLE_JOB, user_id, NULL,
				 pos_now_us() + lj->interval_us, NULL);
	return rc;
}

const struct pos_job_kind pos_lifecycle_job_kind = {
	.name = POS_LIFECYCLE_JOB,
	.max_attempts = 3,
	.timeout_us = 600LL * 1000000LL,
	.backoff_us = 60LL * 1000000LL,
	.serial_per_user = true,
	.user_cancellable = false,
	.run = pos_lifecycle_job_run,
};

enum pos_err pos_lifecycle_schedule(struct pos_lifecycle_jobs *lj)
{
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return POS_ERR_NOMEM;
	struct pos_user *users;
	size_t n;
	enum pos_err rc = lj->store->ops->user_list(lj->store, a, &users, &n);
	for (size_t i = 0; !rc && i < n; i++) {
		struct pos_job_info *jobs;
		size_t nj;
		rc = pos_jobs_list(lj->jobs, a, users[i].id, POS_LIFECYCLE_JOB, 1, &jobs, &nj);
		if (rc)
			break;
		if (nj && (jobs[0].state == POS_JOB_QUEUED || jobs[0].state == POS_JOB_RUNNING))
			continue;
		rc = pos_jobs_enqueue(lj->jobs, POS_LIFECYCLE_JOB, users[i].id, NULL,
				      pos_now_us() + lj->interval_us, NULL);
		if (rc == POS_ERR_BUSY)
			rc = POS_OK; /* that user's queue is full: next start */
	}
	pos_arena_destroy(a);
	return rc;
}
