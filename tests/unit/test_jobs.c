/*
 * Unit tests for src/jobs/jobs.c: the jobs service over a real SQLite
 * store. Retries and backoff, deadlines, cancellation, restart (resume and
 * requeue), per-user isolation, the per-user queue bound, progress, results
 * and per-item errors, serial kinds, pruning, leases (a live one is never
 * taken, an expired one is requeued) and dedupe keys. No timing assertions: tests
 * wait for states (pos_jobs_wait, or polling with a generous bound), and
 * jobs that must block wait on a flag the test sets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/arena.h"
#include "base/clock.h"
#include "crypto/crypto.h"
#include "jobs/jobs.h"
#include "store/store.h"

#define WAIT_US (60LL * 1000000) /* a bound for "eventually", never reached when correct */

static const char *const ALICE = "0190a0a0-0000-7000-8000-00000000000a";
static const char *const BOB = "0190a0a0-0000-7000-8000-00000000000b";

/* What the test kinds do; one per fixture, the kinds' ctx. */
struct probe {
	atomic_int runs, started, saw_stop, fail_first; /* fail_first: transient failures to give */
	atomic_bool release;
	atomic_llong remaining;
};

struct fx {
	char dir[256];
	struct pos_store *s;
	struct pos_arena *a;
	struct pos_jobs *j;
	struct probe p;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	pos_crypto_init();
	const char *base = getenv("POS_TEST_TMP");
	if (base)
		mkdir(base, 0700);
	snprintf(f->dir, sizeof(f->dir), "%s/jobs_XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(f->dir))
		return -1;
	struct pos_error e;
	pos_error_clear(&e);
	if (pos_sqlite_open(f->dir, &f->s, &e))
		return -1;
	f->a = pos_arena_new();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	pos_jobs_free(f->j);
	pos_arena_destroy(f->a);
	pos_store_close(f->s);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* ---- kinds ---- */

/* Fails transiently `fail_first` times, then succeeds with a result. */
static enum pos_err run_flaky(struct pos_job_run *r, void *ctx, const char *user_id,
			      const char *payload)
{
	(void)user_id;
	struct probe *p = ctx;
	atomic_fetch_add(&p->runs, 1);
	if (atomic_fetch_sub(&p->fail_first, 1) > 0) {
		/* the next attempt starts where this one left off */
		char next[64];
		snprintf(next, sizeof(next), "{\"step\":%u}", pos_job_attempt(r));
		assert_int_equal(pos_job_set_payload(r, next), POS_OK);
		pos_job_set_error(r, "the provider is away");
		return POS_ERR_UNAVAILABLE;
	}
	char res[256];
	snprintf(res, sizeof(res), "{\"attempt\":%u,\"payload\":%s}", pos_job_attempt(r), payload);
	return pos_job_set_result(r, res);
}

static enum pos_err run_broken(struct pos_job_run *r, void *ctx, const char *user_id,
			       const char *payload)
{
	(void)r;
	(void)user_id;
	(void)payload;
	atomic_fetch_add(&((struct probe *)ctx)->runs, 1);
	return POS_ERR_INVALID_REQUEST;
}

/* Blocks until released or told to stop; records what it saw. */
static enum pos_err run_blocking(struct pos_job_run *r, void *ctx, const char *user_id,
				 const char *payload)
{
	(void)user_id;
	(void)payload;
	struct probe *p = ctx;
	atomic_fetch_add(&p->runs, 1);
	atomic_fetch_add(&p->started, 1);
	atomic_store(&p->remaining, pos_job_remaining_us(r));
	while (!atomic_load(&p->release) && !pos_job_should_stop(r))
		usleep(1000);
	if (pos_job_should_stop(r))
		atomic_fetch_add(&p->saw_stop, 1);
	return POS_OK;
}

/* Progress, per-item errors (more than are kept) and a result. */
static enum pos_err run_items(struct pos_job_run *r, void *ctx, const char *user_id,
			      const char *payload)
{
	(void)ctx;
	(void)user_id;
	(void)payload;
	for (uint64_t i = 0; i < 1200; i++) {
		assert_int_equal(pos_job_item_error(r, i, POS_ERR_INVALID_FIELD, "bad item"), POS_OK);
		pos_job_progress(r, i + 1, 1200);
	}
	assert_int_equal(pos_job_set_result(r, "not json"), POS_ERR_INVALID_JSON);
	return pos_job_set_result(r, "{\"imported\":0}");
}

static const struct pos_job_kind k_flaky = {
	.name = "test.flaky", .max_attempts = 5, .backoff_us = 1000, .run = run_flaky,
	.user_cancellable = true};
static const struct pos_job_kind k_flaky_short = {
	.name = "test.flaky_short", .max_attempts = 2, .backoff_us = 1000, .run = run_flaky};
static const struct pos_job_kind k_slow_retry = {
	.name = "test.slow_retry", .max_attempts = 3, .backoff_us = 3600LL * 1000000,
	.run = run_flaky, .user_cancellable = true};
static const struct pos_job_kind k_broken = {
	.name = "test.broken", .max_attempts = 5, .backoff_us = 1000, .run = run_broken};
static const struct pos_job_kind k_block = {
	.name = "test.block", .max_attempts = 3, .backoff_us = 1000, .run = run_blocking,
	.user_cancellable = true};
static const struct pos_job_kind k_deadline = {
	.name = "test.deadline", .max_attempts = 2, .backoff_us = 1000,
	.timeout_us = 20000, .run = run_blocking};
static const struct pos_job_kind k_serial = {
	.name = "test.serial", .max_attempts = 1, .serial_per_user = true,
	.run = run_blocking, .user_cancellable = true};
static const struct pos_job_kind k_items = {
	.name = "test.items", .max_attempts = 1, .run = run_items};

static struct pos_jobs *service_lease(struct fx *f, unsigned workers, size_t queue_max,
				      int64_t lease_us)
{
	struct pos_jobs_config cfg = {workers, queue_max, 3600LL * 1000000, lease_us};
	struct pos_jobs *j;
	assert_int_equal(pos_jobs_new(f->s, &cfg, &j), POS_OK);
	const struct pos_job_kind *kinds[] = {&k_flaky, &k_flaky_short, &k_slow_retry, &k_broken,
					      &k_block, &k_deadline, &k_serial, &k_items};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		assert_int_equal(pos_jobs_register(j, kinds[i], &f->p), POS_OK);
	return j;
}

static struct pos_jobs *service(struct fx *f, unsigned workers, size_t queue_max)
{
	return service_lease(f, workers, queue_max, 0);
}

static struct pos_job_info get(struct fx *f, const char *user, const char *id)
{
	struct pos_job_info info;
	assert_int_equal(pos_jobs_get(f->j, f->a, user, id, &info), POS_OK);
	return info;
}

static void wait_started(struct probe *p, int n)
{
	int64_t until = pos_mono_us() + WAIT_US;
	while (atomic_load(&p->started) < n && pos_mono_us() < until)
		usleep(1000);
	assert_true(atomic_load(&p->started) >= n);
}

/* ---- tests ---- */

static void registration_and_enqueue_checks(void **state)
{
	struct fx *f = *state;
	f->j = service(f, 2, 10);
	assert_int_equal(pos_jobs_register(f->j, &k_flaky, &f->p), POS_ERR_CONFLICT);
	struct pos_job_kind bad = k_flaky;
	bad.name = "Bad Name";
	assert_int_equal(pos_jobs_register(f->j, &bad, &f->p), POS_ERR_INVALID_REQUEST);
	assert_int_equal(pos_jobs_start(f->j), POS_OK);
	struct pos_job_kind late = k_flaky;
	late.name = "test.late";
	assert_int_equal(pos_jobs_register(f->j, &late, &f->p), POS_ERR_CONFLICT);
	char id[POS_UUID_SIZE];
	assert_int_equal(pos_jobs_enqueue(f->j, "test.nope", ALICE, NULL, 0, id), POS_ERR_NOT_FOUND);
	assert_int_equal(pos_jobs_enqueue(f->j, "test.flaky", ALICE, "[1]", 0, id),
			 POS_ERR_INVALID_JSON);
	size_t big = POS_JOB_PAYLOAD_MAX + 16;
	char *payload = malloc(big + 1);
	memset(payload, ' ', big);
	payload[0] = '{';
	payload[big - 1] = '}';
	payload[big] = '\0';
	assert_int_equal(pos_jobs_enqueue(f->j, "test.flaky", ALICE, payload, 0, id),
			 POS_ERR_CONTENT_TOO_LARGE);
	free(payload);
}

static void transient_failures_are_retried_then_done(void **state)
{
	struct fx *f = *state;
	atomic_store(&f->p.fail_first, 2);
	f->j = service(f, 2, 10);
	assert_int_equal(pos_jobs_start(f->j), POS_OK);
	char id[POS_UUID_SIZE];
	assert_int_equal(pos_jobs_enqueue(f->j, "test.flaky", ALICE, "{\"x\":1}", 0, id), POS_OK);
	assert_int_equal(pos_jobs_wait(f->j, id, WAIT_US), POS_OK);
	struct pos_job_info info = get(f, ALICE, id);
	assert_int_equal(info.state, POS_JOB_DONE);
	assert_int_equal(info.attempts, 3);
	assert_string_equal(info.result_json, "{\"attempt\":3,\"payload\":{\"step\":2}}");
	assert_null(info.error);
	assert_string_equal(info.kind, "test.flaky");
	uint64_t done, retried, failed;
	pos_jobs_counts(f->j, &done, &retried, &failed);
	assert_int_equal(done, 1);
	assert_int_equal(retried, 2);
	assert_int_equal(failed, 0);
}

static void attempts_run_out_and_the_job_fails(void **state)
{
	struct fx *f = *state;
	atomic_store(&f->p.fail_first, 100);
	f->j = service(f, 1, 10);
	assert_int_equal(pos_jobs_start(f->j), POS_OK);
	char id[POS_UUID_SIZE];
	assert_int_equal(pos_jobs_enqueue(f->j, "test.flaky_short", ALICE, NULL, 0, id), POS_OK);
	assert_int_equal(pos_jobs_wait(f->j, id, WAIT_US), POS_OK);
	struct pos_job_info info = get(f, ALICE, id);
	assert_int_equal(info.state, POS_JOB_FAILED);
	assert_int_equal(info.attempts, 2);
	assert_string_equal(info.error, "the provider is away");
	assert_int_equal(atomic_load(&f->p.runs), 2);
}

static void permanent_errors_fail_at_once(void **state)
{
	struct fx *f = *state;
	f->j = service(f, 1, 10);
	assert_int_equal(pos_jobs_start(f->j), POS_OK);
	char id[POS_UUID_SIZE];
	assert_int_equal(pos_jobs_enqueue(f->j, "test.broken", ALICE, NULL, 0, id), POS_OK);
	assert_int_equal(pos_jobs_wait(f->j, id, WAIT_US), POS_OK);
	struct pos_job_info info = get(f, ALICE, id);
	assert_int_equal(info.state, POS_JOB_FAILED);
	assert_int_equal(info.attempts, 1);
	assert_string_equal(info.error, pos_strerror(POS_ERR_INVALID_REQUEST));
}

static void retries_wait_for_their_backoff(void **state)
{
	struct fx *f = *state;
	atomic_store(&f->p.fail_first, 1);
	f->j = service(f, 1, 10);
	assert_int_equal(pos_jobs_start(f->j), POS_OK);
	char id[POS_UUID_SIZE];
	int64_t before = pos_now_us();
	assert_int_equal(pos_jobs_enqueue(f->j, "test.slow_retry", ALICE, NULL, 0, id), POS_OK);
	int64_t until = pos_mono_us() + WAIT_US;
	struct pos_job_info info;
	do {
		usleep(2000);
		info = get(f, ALICE, id);
	} while ((info.attempts < 1 || info.state != POS_JOB_QUEUED) && pos_mono_us() < until);
	assert_int_equal(info.state, POS_JOB_QUEUED);
	assert_int_equal(info.attempts, 1);
	assert_string_equal(info.error, "the provider is away");
	/* the first retry waits backoff_us (one hour) after the attempt */
	assert_true(info.run_after >= before + 3600LL * 1000000);
	assert_int_equal(pos_jobs_wait(f->j, id, 1000), POS_ERR_UNAVAILABLE);
	assert_int_equal(atomic_load(&f->p.runs), 1);
}

static void an_attempt_past_its_deadline_is_retried_then_failed(void **state)
{
	struct fx *f = *state;
	f->j = service(f, 1, 10);
	assert_int_equal(pos_jobs_start(f->j), POS_OK);
	char id[POS_UUID_SIZE];
	assert_int_equal(pos_jobs_enqueue(f->j, "test.deadline", ALICE, NULL, 0, id), POS_OK);
	assert_int_equal(pos_jobs_wait(f->j, id, WAIT_US), POS_OK);
	struct pos_job_info info = get(f, ALICE, id);
	assert_int_equal(info.state, POS_JOB_FAILED);
	assert_int_equal(info.attempts, 2);
	assert_non_null(strstr(info.error, "deadline"));
	assert_int_equal(atomic_load(&f->p.saw_stop), 2);
	assert_true(atomic_load(&f->p.remaining) <= 20000);
}

static void cancel_stops_a_running_job(void **state)
{
	struct fx *f = *state;
	f->j = service(f, 2, 10);
	assert_int_equal(pos_jobs_start(f->j), POS_OK);
	char id[POS_UUID_SIZE], queued[POS_UUID_SIZE], other[POS_UUID_SIZE];
	assert_int_equal(pos_jobs_enqueue(f->j, "test.block", ALICE, NULL, 0, id), POS_OK);
	wait_started(&f->p, 1);
	assert_int_equal(get(f, ALICE, id).state, POS_JOB_RUNNING);
	/* only the owner, and only cancellable kinds */
	assert_int_equal(pos_jobs_cancel(f->j, BOB, id), POS_ERR_NOT_FOUND);
	assert_int_equal(pos_jobs_cancel(f->j, ALICE, "not-an-id"), POS_ERR_NOT_FOUND);
	assert_int_equal(pos_jobs_cancel(f->j, ALICE, id), POS_OK);
	assert_int_equal(pos_jobs_wait(f->j, id, WAIT_US), POS_OK);
	int64_t until = pos_mono_us() + WAIT_US;
	while (atomic_load(&f->p.saw_stop) < 1 && pos_mono_us() < until)
		usleep(1000);
	assert_int_equal(atomic_load(&f->p.saw_stop), 1);
	struct pos_job_info info = get(f, ALICE, id);
	assert_int_equal(info.state, POS_JOB_CANCELLED);
	assert_int_equal(pos_jobs_cancel(f->j, ALICE, id), POS_ERR_CONFLICT);
	/* a queued job is cancelled before it ever runs */
	assert_int_equal(pos_jobs_enqueue(f->j, "test.block", ALICE, NULL,
					  pos_now_us() + 3600LL * 1000000, queued), POS_OK);
	assert_int_equal(pos_jobs_cancel(f->j, ALICE, queued), POS_OK);
	assert_int_equal(get(f, ALICE, queued).state, POS_JOB_CANCELLED);
	/* a kind that is not user_cancellable */
	assert_int_equal(pos_jobs_enqueue(f->j, "test.deadline", ALICE, NULL,
					  pos_now_us() + 3600LL * 1000000, other), POS_OK);
	assert_int_equal(pos_jobs_cancel(f->j, ALICE, other), POS_ERR_FORBIDDEN);
	assert_int_equal(atomic_load(&f->p.runs), 1);
}

static void restart_resumes_queued_and_requeues_running_jobs(void **state)
{
	struct fx *f = *state;
	f->j = service(f, 1, 10);
	assert_int_equal(pos_jobs_start(f->j), POS_OK);
	char running[POS_UUID_SIZE], queued[POS_UUID_SIZE];
	assert_int_equal(pos_jobs_enqueue(f->j, "test.block", ALICE, NULL, 0, running), POS_OK);
	wait_started(&f->p, 1);
	/* one worker: this one waits behind the running job */
	assert_int_equal(pos_jobs_enqueue(f->j, "test.flaky", ALICE, NULL, 0, queued), POS_OK);
	pos_jobs_free(f->j); /* shutdown: the running attempt is stopped and queued again */
	f->j = NULL;
	assert_int_equal(atomic_load(&f->p.saw_stop), 1);
	struct pos_job row;
	assert_int_equal(f->s->jobs->job_get(f->s, f->a, ALICE, running, &row), POS_OK);
	assert_string_equal(row.state, "queued");
	assert_int_equal(row.attempts, 0); /* a shutdown does not count */
	assert_int_equal(f->s->jobs->job_get(f->s, f->a, ALICE, queued, &row), POS_OK);
	assert_string_equal(row.state, "queued");

	/* A process that died under a job left it `running`, one attempt used. */
	int64_t now = pos_now_us();
	struct pos_job crashed = {.kind = "test.flaky", .payload_json = "{}", .state = "running",
				  .attempts = 1, .next_run_at = now, .created_at = now,
				  .updated_at = now};
	memcpy(crashed.id, "0190a0a0-0000-7000-8000-0000000000c1", POS_UUID_SIZE);
	memcpy(crashed.user_id, BOB, POS_UUID_SIZE);
	assert_int_equal(f->s->jobs->job_put(f->s, &crashed), POS_OK);

	atomic_store(&f->p.release, true);
	f->j = service(f, 1, 10);
	assert_int_equal(pos_jobs_start(f->j), POS_OK);
	assert_int_equal(pos_jobs_wait(f->j, running, WAIT_US), POS_OK);
	assert_int_equal(pos_jobs_wait(f->j, queued, WAIT_US), POS_OK);
	assert_int_equal(pos_jobs_wait(f->j, crashed.id, WAIT_US), POS_OK);
	assert_int_equal(get(f, ALICE, running).state, POS_JOB_DONE);
	assert_int_equal(get(f, ALICE, running).attempts, 1);
	assert_int_equal(get(f, ALICE, queued).state, POS_JOB_DONE);
	struct pos_job_info c = get(f, BOB, crashed.id);
	assert_int_equal(c.state, POS_JOB_DONE);
	assert_int_equal(c.attempts, 2); /* the interrupted attempt counts */
}

static void users_see_only_their_own_jobs(void **state)
{
	struct fx *f = *state;
	f->j = service(f, 1, 10);
	assert_int_equal(pos_jobs_start(f->j), POS_OK);
	char a1[POS_UUID_SIZE], a2[POS_UUID_SIZE], b1[POS_UUID_SIZE];
	int64_t later = pos_now_us() + 3600LL * 1000000;
	assert_int_equal(pos_jobs_enqueue(f->j, "test.flaky", ALICE, NULL, later, a1), POS_OK);
	assert_int_equal(pos_jobs_enqueue(f->j, "test.broken", ALICE, NULL, later, a2), POS_OK);
	assert_int_equal(pos_jobs_enqueue(f->j, "test.flaky", BOB, NULL, later, b1), POS_OK);
	struct pos_job_info info;
	assert_int_equal(pos_jobs_get(f->j, f->a, BOB, a1, &info), POS_ERR_NOT_FOUND);
	assert_int_equal(pos_jobs_get(f->j, f->a, ALICE, b1, &info), POS_ERR_NOT_FOUND);
	struct pos_job_info *v;
	size_t n;
	assert_int_equal(pos_jobs_list(f->j, f->a, ALICE, NULL, 10, &v, &n), POS_OK);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].id, a2); /* newest first */
	assert_string_equal(v[1].id, a1);
	assert_int_equal(pos_jobs_list(f->j, f->a, ALICE, "test.flaky", 10, &v, &n), POS_OK);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].id, a1);
	assert_int_equal(pos_jobs_list(f->j, f->a, ALICE, NULL, 1, &v, &n), POS_OK);
	assert_int_equal(n, 1);
	assert_int_equal(pos_jobs_list(f->j, f->a, BOB, NULL, 10, &v, &n), POS_OK);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].id, b1);
	assert_int_equal(v[0].state, POS_JOB_QUEUED);
}

static void the_queue_per_user_is_bounded(void **state)
{
	struct fx *f = *state;
	/* queued jobs of a kind another service runs count for that one only,
	 * and stay queued here */
	int64_t now = pos_now_us();
	for (int i = 0; i < 3; i++) {
		struct pos_job foreign = {.kind = "other.kind", .payload_json = "{}",
					  .state = "queued", .next_run_at = now, .created_at = now,
					  .updated_at = now};
		snprintf(foreign.id, sizeof(foreign.id), "0190a0a0-0000-7000-8000-0000000000e%d", i);
		memcpy(foreign.user_id, ALICE, POS_UUID_SIZE);
		assert_int_equal(f->s->jobs->job_put(f->s, &foreign), POS_OK);
	}
	f->j = service(f, 1, 2);
	char id[POS_UUID_SIZE];
	int64_t later = pos_now_us() + 3600LL * 1000000;
	/* queued before start: runs (here: is due) after it */
	assert_int_equal(pos_jobs_enqueue(f->j, "test.broken", BOB, NULL, 0, id), POS_OK);
	assert_int_equal(pos_jobs_start(f->j), POS_OK);
	assert_int_equal(pos_jobs_wait(f->j, id, WAIT_US), POS_OK);
	assert_int_equal(get(f, BOB, id).state, POS_JOB_FAILED);
	assert_int_equal(pos_jobs_enqueue(f->j, "test.flaky", ALICE, NULL, later, id), POS_OK);
	assert_int_equal(pos_jobs_enqueue(f->j, "test.flaky", ALICE, NULL, later, id), POS_OK);
	assert_int_equal(pos_jobs_enqueue(f->j, "test.flaky", ALICE, NULL, later, id), POS_ERR_BUSY);
	/* another user has a queue of their own */
	assert_int_equal(pos_jobs_enqueue(f->j, "test.flaky", BOB, NULL, later, id), POS_OK);
	/* a cancelled job frees its place */
	assert_int_equal(pos_jobs_cancel(f->j, ALICE, id), POS_ERR_NOT_FOUND);
	struct pos_job_info *v;
	size_t n;
	assert_int_equal(pos_jobs_list(f->j, f->a, ALICE, NULL, 10, &v, &n), POS_OK);
	assert_int_equal(pos_jobs_cancel(f->j, ALICE, v[0].id), POS_OK);
	assert_int_equal(pos_jobs_enqueue(f->j, "test.flaky", ALICE, NULL, later, id), POS_OK);
	struct pos_job row;
	assert_int_equal(f->s->jobs->job_get(f->s, f->a, ALICE, "0190a0a0-0000-7000-8000-0000000000e0",
					     &row), POS_OK);
	assert_string_equal(row.state, "queued");
}

static void progress_result_and_item_errors_are_kept(void **state)
{
	struct fx *f = *state;
	f->j = service(f, 1, 10);
	assert_int_equal(pos_jobs_start(f->j), POS_OK);
	char id[POS_UUID_SIZE];
	assert_int_equal(pos_jobs_enqueue(f->j, "test.items", ALICE, "{\"keep\":1}", 0, id), POS_OK);
	assert_int_equal(pos_jobs_wait(f->j, id, WAIT_US), POS_OK);
	struct pos_job row;
	assert_int_equal(f->s->jobs->job_get(f->s, f->a, ALICE, id, &row), POS_OK);
	assert_string_equal(row.payload_json, "{\"keep\":1}"); /* not set_payload: unchanged */
	struct pos_job_info info = get(f, ALICE, id);
	assert_int_equal(info.state, POS_JOB_DONE);
	assert_int_equal(info.done, 1200);
	assert_int_equal(info.total, 1200);
	assert_string_equal(info.result_json, "{\"imported\":0}");
	assert_non_null(info.item_errors_json);
	assert_non_null(strstr(info.item_errors_json,
			       "{\"position\":999,\"code\":\"invalid_field\",\"message\":\"bad item\"}"));
	assert_null(strstr(info.item_errors_json, "\"position\":1000,")); /* capped at 1,000 */
}

static void serial_kinds_run_one_at_a_time_per_user(void **state)
{
	struct fx *f = *state;
	f->j = service(f, 3, 10);
	assert_int_equal(pos_jobs_start(f->j), POS_OK);
	char first[POS_UUID_SIZE], second[POS_UUID_SIZE], bobs[POS_UUID_SIZE], other[POS_UUID_SIZE];
	assert_int_equal(pos_jobs_enqueue(f->j, "test.serial", ALICE, NULL, 0, first), POS_OK);
	wait_started(&f->p, 1);
	assert_int_equal(pos_jobs_enqueue(f->j, "test.serial", ALICE, NULL, 0, second), POS_OK);
	assert_int_equal(pos_jobs_enqueue(f->j, "test.serial", BOB, NULL, 0, bobs), POS_OK);
	wait_started(&f->p, 2); /* Bob's, on another worker */
	assert_int_equal(get(f, BOB, bobs).state, POS_JOB_RUNNING);
	/* a job that ends proves the dispatcher has looked at the queue again */
	assert_int_equal(pos_jobs_enqueue(f->j, "test.broken", ALICE, NULL, 0, other), POS_OK);
	assert_int_equal(pos_jobs_wait(f->j, other, WAIT_US), POS_OK);
	assert_int_equal(get(f, ALICE, second).state, POS_JOB_QUEUED);
	assert_int_equal(atomic_load(&f->p.started), 2);
	atomic_store(&f->p.release, true);
	assert_int_equal(pos_jobs_wait(f->j, second, WAIT_US), POS_OK);
	assert_int_equal(get(f, ALICE, second).state, POS_JOB_DONE);
}

static void finished_jobs_are_pruned_after_keep_done(void **state)
{
	struct fx *f = *state;
	int64_t now = pos_now_us();
	struct pos_job old = {.kind = "test.flaky", .payload_json = "{}", .state = "done",
			      .attempts = 1, .next_run_at = 1, .created_at = 1,
			      .updated_at = now - 7200LL * 1000000};
	memcpy(old.id, "0190a0a0-0000-7000-8000-0000000000d1", POS_UUID_SIZE);
	memcpy(old.user_id, ALICE, POS_UUID_SIZE);
	assert_int_equal(f->s->jobs->job_put(f->s, &old), POS_OK);
	struct pos_job fresh = old;
	fresh.updated_at = now;
	memcpy(fresh.id, "0190a0a0-0000-7000-8000-0000000000d2", POS_UUID_SIZE);
	assert_int_equal(f->s->jobs->job_put(f->s, &fresh), POS_OK);
	f->j = service(f, 1, 10); /* keep_done: one hour */
	assert_int_equal(pos_jobs_start(f->j), POS_OK);
	struct pos_job_info info;
	int64_t until = pos_mono_us() + WAIT_US;
	while (pos_jobs_get(f->j, f->a, ALICE, old.id, &info) == POS_OK && pos_mono_us() < until)
		usleep(2000);
	assert_int_equal(pos_jobs_get(f->j, f->a, ALICE, old.id, &info), POS_ERR_NOT_FOUND);
	assert_int_equal(pos_jobs_get(f->j, f->a, ALICE, fresh.id, &info), POS_OK);
}

static void count_tick(void *ctx)
{
	atomic_fetch_add(&((struct probe *)ctx)->runs, 1);
}

static void tickers_run_from_the_start(void **state)
{
	struct fx *f = *state;
	f->j = service(f, 1, 10);
	assert_int_equal(pos_jobs_every(f->j, 1000, count_tick, &f->p), POS_ERR_INVALID_REQUEST);
	assert_int_equal(pos_jobs_every(f->j, 3600LL * 1000000, count_tick, &f->p), POS_OK);
	assert_int_equal(pos_jobs_start(f->j), POS_OK);
	assert_int_equal(pos_jobs_every(f->j, 3600LL * 1000000, count_tick, &f->p), POS_ERR_CONFLICT);
	int64_t until = pos_mono_us() + WAIT_US;
	while (atomic_load(&f->p.runs) < 1 && pos_mono_us() < until)
		usleep(1000);
	assert_int_equal(atomic_load(&f->p.runs), 1); /* once at start; the next in an hour */
}

/* A job row as another process would have left it. */
static struct pos_job stray(const char *id, const char *state, int64_t lease_until)
{
	int64_t now = pos_now_us();
	struct pos_job j = {.kind = "test.flaky", .payload_json = "{}", .state = state,
			    .attempts = 1, .next_run_at = now, .created_at = now,
			    .updated_at = now, .lease_until = lease_until};
	memcpy(j.id, id, POS_UUID_SIZE);
	memcpy(j.user_id, BOB, POS_UUID_SIZE);
	return j;
}

static void a_live_lease_is_kept_and_an_expired_one_requeued_at_start(void **state)
{
	struct fx *f = *state;
	int64_t now = pos_now_us();
	/* another instance is running this one and renews its lease */
	struct pos_job live = stray("0190a0a0-0000-7000-8000-0000000000e1", "running",
				    now + 3600LL * 1000000);
	/* this one's instance died: its lease ran out */
	struct pos_job dead = stray("0190a0a0-0000-7000-8000-0000000000e2", "running", now - 1);
	assert_int_equal(f->s->jobs->job_put(f->s, &live), POS_OK);
	assert_int_equal(f->s->jobs->job_put(f->s, &dead), POS_OK);
	f->j = service(f, 2, 10);
	assert_int_equal(pos_jobs_start(f->j), POS_OK);
	assert_int_equal(pos_jobs_wait(f->j, dead.id, WAIT_US), POS_OK);
	struct pos_job_info d = get(f, BOB, dead.id);
	assert_int_equal(d.state, POS_JOB_DONE);
	assert_int_equal(d.attempts, 2); /* the dead instance's attempt counts */
	struct pos_job_info l = get(f, BOB, live.id);
	assert_int_equal(l.state, POS_JOB_RUNNING);
	assert_int_equal(l.attempts, 1);
	assert_int_equal(atomic_load(&f->p.runs), 1); /* only the dead one ran here */
	/* the store op itself: nothing live is requeued, even of our kinds */
	int64_t n = -1;
	assert_int_equal(f->s->jobs->jobs_requeue(f->s, "[\"test.flaky\"]", pos_now_us(), &n),
			 POS_OK);
	assert_int_equal(n, 0);
}

static void the_dispatcher_requeues_expired_leases_while_running(void **state)
{
	struct fx *f = *state;
	f->j = service_lease(f, 1, 10, 3LL * 1000000); /* checked every second */
	assert_int_equal(pos_jobs_start(f->j), POS_OK);
	/* an instance dies after this one started: found by the periodic check */
	struct pos_job dead = stray("0190a0a0-0000-7000-8000-0000000000e3", "running",
				    pos_now_us() - 1);
	assert_int_equal(f->s->jobs->job_put(f->s, &dead), POS_OK);
	assert_int_equal(pos_jobs_wait(f->j, dead.id, WAIT_US), POS_OK);
	assert_int_equal(get(f, BOB, dead.id).state, POS_JOB_DONE);
	assert_int_equal(get(f, BOB, dead.id).attempts, 2);
}

static void a_running_attempt_renews_its_lease(void **state)
{
	struct fx *f = *state;
	f->j = service_lease(f, 1, 10, 3LL * 1000000);
	assert_int_equal(pos_jobs_start(f->j), POS_OK);
	char id[POS_UUID_SIZE];
	assert_int_equal(pos_jobs_enqueue(f->j, "test.block", ALICE, NULL, 0, id), POS_OK);
	wait_started(&f->p, 1);
	struct pos_job row;
	assert_int_equal(f->s->jobs->job_get(f->s, f->a, ALICE, id, &row), POS_OK);
	assert_string_equal(row.state, "running");
	int64_t first = row.lease_until;
	assert_true(first > row.updated_at); /* claimed with a lease ahead */
	/* Wait until the first lease has run out: the job must still be this
	 * instance's, its lease renewed, and a requeue (any instance's) must
	 * leave it alone. */
	int64_t until = pos_mono_us() + WAIT_US;
	while (pos_now_us() <= first + 1000000 && pos_mono_us() < until)
		usleep(10000);
	assert_int_equal(f->s->jobs->job_get(f->s, f->a, ALICE, id, &row), POS_OK);
	assert_true(row.lease_until > first);
	int64_t n = -1;
	assert_int_equal(f->s->jobs->jobs_requeue(f->s, "[\"test.block\"]", pos_now_us(), &n),
			 POS_OK);
	assert_int_equal(n, 0);
	assert_int_equal(get(f, ALICE, id).state, POS_JOB_RUNNING);
	assert_int_equal(atomic_load(&f->p.started), 1);
	atomic_store(&f->p.release, true);
	assert_int_equal(pos_jobs_wait(f->j, id, WAIT_US), POS_OK);
	assert_int_equal(get(f, ALICE, id).state, POS_JOB_DONE);
	assert_int_equal(get(f, ALICE, id).attempts, 1);
}

static void dedupe_keys_allow_one_active_job_per_key(void **state)
{
	struct fx *f = *state;
	f->j = service(f, 1, 10);
	assert_int_equal(pos_jobs_start(f->j), POS_OK);
	char a[POS_UUID_SIZE], b[POS_UUID_SIZE], c[POS_UUID_SIZE], d[POS_UUID_SIZE];
	assert_int_equal(pos_jobs_enqueue_unique(f->j, "test.block", ALICE, "source:1", NULL, 0, a),
			 POS_OK);
	wait_started(&f->p, 1); /* running, still active */
	assert_int_equal(pos_jobs_enqueue_unique(f->j, "test.block", ALICE, "source:1", NULL, 0, b),
			 POS_ERR_CONFLICT);
	/* queued counts as active too */
	int64_t later = pos_now_us() + 3600LL * 1000000;
	assert_int_equal(pos_jobs_enqueue_unique(f->j, "test.slow_retry", ALICE, "source:1", NULL,
						 later, c), POS_OK); /* another kind */
	assert_int_equal(pos_jobs_enqueue_unique(f->j, "test.slow_retry", BOB, "source:1", NULL,
						 later, d), POS_ERR_CONFLICT);
	assert_int_equal(pos_jobs_enqueue_unique(f->j, "test.block", ALICE, "source:2", NULL,
						 later, b), POS_OK); /* another key */
	assert_int_equal(pos_jobs_cancel(f->j, ALICE, b), POS_OK);
	/* keys are checked */
	assert_int_equal(pos_jobs_enqueue_unique(f->j, "test.block", ALICE, "", NULL, 0, b),
			 POS_ERR_INVALID_REQUEST);
	char big[POS_JOB_DEDUPE_KEY_MAX + 2];
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(pos_jobs_enqueue_unique(f->j, "test.block", ALICE, big, NULL, 0, b),
			 POS_ERR_INVALID_REQUEST);
	/* once the job has finished, the key is free again */
	atomic_store(&f->p.release, true);
	assert_int_equal(pos_jobs_wait(f->j, a, WAIT_US), POS_OK);
	assert_int_equal(pos_jobs_enqueue_unique(f->j, "test.block", ALICE, "source:1", NULL, 0, b),
			 POS_OK);
	assert_int_equal(pos_jobs_wait(f->j, b, WAIT_US), POS_OK);
	assert_int_equal(get(f, ALICE, b).state, POS_JOB_DONE);
	struct pos_job row;
	assert_int_equal(f->s->jobs->job_get(f->s, f->a, ALICE, b, &row), POS_OK);
	assert_string_equal(row.dedupe_key, "source:1");
	/* keys without one are never in conflict */
	assert_int_equal(pos_jobs_enqueue(f->j, "test.block", ALICE, NULL, later, c), POS_OK);
	assert_int_equal(pos_jobs_enqueue(f->j, "test.block", ALICE, NULL, later, d), POS_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(registration_and_enqueue_checks),
		T(transient_failures_are_retried_then_done),
		T(attempts_run_out_and_the_job_fails),
		T(permanent_errors_fail_at_once),
		T(retries_wait_for_their_backoff),
		T(an_attempt_past_its_deadline_is_retried_then_failed),
		T(cancel_stops_a_running_job),
		T(restart_resumes_queued_and_requeues_running_jobs),
		T(users_see_only_their_own_jobs),
		T(the_queue_per_user_is_bounded),
		T(progress_result_and_item_errors_are_kept),
		T(serial_kinds_run_one_at_a_time_per_user),
		T(finished_jobs_are_pruned_after_keep_done),
		T(tickers_run_from_the_start),
		T(a_live_lease_is_kept_and_an_expired_one_requeued_at_start),
		T(the_dispatcher_requeues_expired_leases_while_running),
		T(a_running_attempt_renews_its_lease),
		T(dedupe_keys_allow_one_active_job_per_key),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
