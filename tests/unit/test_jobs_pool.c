/*
 * Unit tests for src/jobs/pool.c: bounded workers and queue, every accepted
 * job called once, cancellation, deadlines, progress, shutdown. No timing
 * assertions: jobs block on a gate the test opens, and deadlines are only
 * checked to have passed (a job waits for expiry, however long it takes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "jobs/pool.h"

/* A gate jobs wait at until the test opens it. */
struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool open;
	atomic_int started, finished, saw_cancel, saw_expired;
};

static void gate_init(struct gate *g)
{
	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
}

static void gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->open = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

static void gate_free(struct gate *g)
{
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
}

/* Waits for the gate (or for cancellation, polled the way a job should). */
static void gated_job(struct pos_pool_job *j, void *arg)
{
	struct gate *g = arg;
	atomic_fetch_add(&g->started, 1);
	pthread_mutex_lock(&g->mu);
	while (!g->open && !pos_pool_job_should_stop(j)) {
		pthread_mutex_unlock(&g->mu);
		usleep(1000);
		pthread_mutex_lock(&g->mu);
	}
	pthread_mutex_unlock(&g->mu);
	if (pos_pool_job_cancelled(j))
		atomic_fetch_add(&g->saw_cancel, 1);
	pos_pool_job_set_progress(j, 3, 3);
	atomic_fetch_add(&g->finished, 1);
}

static void wait_started(struct gate *g, int n)
{
	while (atomic_load(&g->started) < n)
		usleep(1000);
}

static void bad_sizes_are_refused(void **state)
{
	(void)state;
	struct pos_pool *p;
	assert_int_equal(pos_pool_new(0, 4, &p), POS_ERR_INVALID_REQUEST);
	assert_null(p);
	assert_int_equal(pos_pool_new(POS_POOL_WORKERS_MAX + 1, 4, &p), POS_ERR_INVALID_REQUEST);
	assert_int_equal(pos_pool_new(2, 0, &p), POS_ERR_INVALID_REQUEST);
	pos_pool_free(NULL);
}

/* Two workers run two jobs at once; a full queue refuses the next. */
static void workers_and_queue_are_bounded(void **state)
{
	(void)state;
	struct gate g;
	gate_init(&g);
	struct pos_pool *p;
	assert_int_equal(pos_pool_new(2, 2, &p), POS_OK);
	struct pos_pool_job *h[4];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pos_pool_submit(p, gated_job, &g, 0, &h[i]), POS_OK);
	wait_started(&g, 2); /* both workers busy: the next two wait in the queue */
	for (int i = 2; i < 4; i++)
		assert_int_equal(pos_pool_submit(p, gated_job, &g, 0, &h[i]), POS_OK);
	assert_int_equal(pos_pool_running(p), 2);
	assert_int_equal(pos_pool_queued(p), 2);
	assert_int_equal(atomic_load(&g.started), 2);
	/* the queue is full: refused, the function is not called */
	assert_int_equal(pos_pool_submit(p, gated_job, &g, 0, NULL), POS_ERR_UNAVAILABLE);
	assert_int_equal(pos_pool_job_state(h[3]), POS_POOL_JOB_QUEUED);
	gate_open(&g);
	for (int i = 0; i < 4; i++) {
		pos_pool_job_wait(h[i]);
		assert_int_equal(pos_pool_job_state(h[i]), POS_POOL_JOB_DONE);
		uint64_t d, t;
		pos_pool_job_progress(h[i], &d, &t);
		assert_int_equal(d, 3);
		assert_int_equal(t, 3);
		pos_pool_job_release(h[i]);
	}
	assert_int_equal(atomic_load(&g.finished), 4);
	assert_int_equal(atomic_load(&g.saw_cancel), 0);
	pos_pool_free(p);
	gate_free(&g);
}

/* A cancelled job stops at its next check; the others are untouched, and
 * one blocked job does not hold up the rest of the pool. */
static void cancel_stops_one_job_only(void **state)
{
	(void)state;
	struct gate g, other;
	gate_init(&g);
	gate_init(&other);
	struct pos_pool *p;
	assert_int_equal(pos_pool_new(2, 8, &p), POS_OK);
	struct pos_pool_job *stuck, *fine;
	assert_int_equal(pos_pool_submit(p, gated_job, &g, 0, &stuck), POS_OK);
	wait_started(&g, 1);
	other.open = true;
	for (int i = 0; i < 5; i++) {
		assert_int_equal(pos_pool_submit(p, gated_job, &other, 0, &fine), POS_OK);
		pos_pool_job_wait(fine);
		pos_pool_job_release(fine);
	}
	assert_int_equal(atomic_load(&other.finished), 5);
	assert_int_equal(pos_pool_job_state(stuck), POS_POOL_JOB_RUNNING);
	assert_false(pos_pool_job_should_stop(stuck));
	pos_pool_job_cancel(stuck);
	pos_pool_job_wait(stuck);
	assert_true(pos_pool_job_cancelled(stuck));
	assert_int_equal(atomic_load(&g.saw_cancel), 1);
	pos_pool_job_release(stuck);
	pos_pool_free(p);
	gate_free(&g);
	gate_free(&other);
}

/* A deadline counts from the start and ends the wait by itself. */
static void deadline_expires(void **state)
{
	(void)state;
	struct gate g;
	gate_init(&g);
	struct pos_pool *p;
	assert_int_equal(pos_pool_new(1, 4, &p), POS_OK);
	struct pos_pool_job *h;
	assert_int_equal(pos_pool_submit(p, gated_job, &g, 20000, &h), POS_OK);
	pos_pool_job_wait(h); /* returns only because the deadline passed */
	assert_true(pos_pool_job_expired(h));
	assert_false(pos_pool_job_cancelled(h));
	assert_true(pos_pool_job_should_stop(h));
	assert_int_equal(pos_pool_job_remaining_us(h), 0);
	pos_pool_job_release(h);
	/* without a deadline: never expired */
	g.open = true;
	assert_int_equal(pos_pool_submit(p, gated_job, &g, 0, &h), POS_OK);
	pos_pool_job_wait(h);
	assert_false(pos_pool_job_expired(h));
	assert_int_equal(pos_pool_job_remaining_us(h), INT64_MAX);
	pos_pool_job_release(h);
	pos_pool_free(p);
	gate_free(&g);
}

/* Freeing the pool cancels running and queued jobs and still calls each
 * accepted job once, so it can free its argument. */
static void free_cancels_and_calls_every_job(void **state)
{
	(void)state;
	struct gate g;
	gate_init(&g);
	struct pos_pool *p;
	assert_int_equal(pos_pool_new(1, 8, &p), POS_OK);
	struct pos_pool_job *first;
	assert_int_equal(pos_pool_submit(p, gated_job, &g, 0, &first), POS_OK);
	wait_started(&g, 1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pos_pool_submit(p, gated_job, &g, 0, NULL), POS_OK);
	pos_pool_free(p); /* the gate is never opened */
	assert_int_equal(atomic_load(&g.finished), 4);
	assert_int_equal(atomic_load(&g.saw_cancel), 4);
	/* the caller's handle outlives the pool */
	assert_int_equal(pos_pool_job_state(first), POS_POOL_JOB_DONE);
	assert_true(pos_pool_job_cancelled(first));
	pos_pool_job_release(first);
	gate_free(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bad_sizes_are_refused),
		cmocka_unit_test(workers_and_queue_are_bounded),
		cmocka_unit_test(cancel_stops_one_job_only),
		cmocka_unit_test(deadline_expires),
		cmocka_unit_test(free_cancels_and_calls_every_job),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
