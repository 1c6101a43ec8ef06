/*
 * Unit tests for src/store/pg_jobs.c against a real PostgreSQL (issue 18):
 * two stores opened on one database stand for two instances. Many threads
 * of both claim from one queue at once and every job is claimed exactly
 * once (FOR UPDATE SKIP LOCKED); leases: a live one is never requeued, an
 * expired one is; dedupe keys allow one active job per (kind, key).
 *
 * The database comes from POS_TEST_PG_URL (a fresh, empty database): the
 * ctest entry runs this through `tests/api/pgserver.py run --db`, which
 * starts one. Without it the tests are skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/arena.h"
#include "base/clock.h"
#include "base/config.h"
#include "crypto/crypto.h"
#include "store/open.h"
#include "store/store.h"

#define JOBS 300
#define THREADS_PER_STORE 4
#define KINDS "[\"test.claim\"]"
#define LEASE_KINDS "[\"test.lease\"]"

static const char *const USERS[] = {"0190a0a0-0000-7000-8000-00000000000a",
				    "0190a0a0-0000-7000-8000-00000000000b",
				    "0190a0a0-0000-7000-8000-00000000000c"};

struct fx {
	char dir[256];
	struct pos_store *s[2]; /* two "instances" on one database */
	struct pos_arena *a;
};

static int setup(void **state)
{
	const char *url = getenv("POS_TEST_PG_URL");
	if (!url || !*url) {
		*state = NULL;
		return 0;
	}
	struct fx *f = calloc(1, sizeof(*f));
	pos_crypto_init();
	const char *base = getenv("POS_TEST_TMP");
	if (base)
		mkdir(base, 0700);
	snprintf(f->dir, sizeof(f->dir), "%s/pgjobs_XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(f->dir))
		return -1;
	for (int i = 0; i < 2; i++) {
		struct pos_config cfg;
		pos_config_defaults(&cfg);
		snprintf(cfg.store, sizeof(cfg.store), "%s", url);
		snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", f->dir);
		cfg.store_pool = THREADS_PER_STORE;
		struct pos_error e;
		pos_error_clear(&e);
		if (pos_store_open(&cfg, &f->s[i], &e)) {
			fprintf(stderr, "cannot open %s: %s\n", url, e.message);
			return -1;
		}
	}
	f->a = pos_arena_new();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	if (!f)
		return 0;
	/* the next test starts from an empty queue */
	f->s[0]->jobs->jobs_prune(f->s[0], INT64_MAX);
	for (int i = 0; i < 2; i++)
		pos_store_close(f->s[i]);
	pos_arena_destroy(f->a);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

#define NEED_PG(f)                                                             \
	do {                                                                   \
		if (!(f))                                                      \
			skip();                                                \
	} while (0)

static struct pos_job job(int i, const char *state, int64_t lease_until)
{
	int64_t now = pos_now_us();
	/* the jobs of the second test are of their own kind: the first
	 * leaves its jobs running in the shared database */
	struct pos_job j = {.kind = i < JOBS ? "test.claim" : "test.lease", .payload_json = "{}", .state = state,
			    .next_run_at = now - 1000, .created_at = now, .updated_at = now,
			    .lease_until = lease_until};
	snprintf(j.id, sizeof(j.id), "0190a0a0-0000-7000-8000-%012d", i);
	memcpy(j.user_id, USERS[i % 3], POS_UUID_SIZE);
	return j;
}

struct claimer {
	struct pos_store *s;
	char (*ids)[POS_UUID_SIZE];
	size_t n;
	int64_t max_attempts;
	enum pos_err last;
};

static void *claim_all(void *arg)
{
	struct claimer *c = arg;
	struct pos_arena *a = pos_arena_new();
	for (;;) {
		struct pos_job j;
		int64_t now = pos_now_us();
		enum pos_err rc = c->s->jobs->job_claim(c->s, a, now, now + 60000000, KINDS, "[]", &j);
		if (rc) {
			c->last = rc;
			break;
		}
		memcpy(c->ids[c->n++], j.id, POS_UUID_SIZE);
		if (j.attempts > c->max_attempts)
			c->max_attempts = j.attempts;
	}
	pos_arena_destroy(a);
	return NULL;
}

static int by_id(const void *x, const void *y)
{
	return strcmp(x, y);
}

static void two_instances_never_claim_one_job_twice(void **state)
{
	struct fx *f = *state;
	NEED_PG(f);
	for (int i = 0; i < JOBS; i++) {
		struct pos_job j = job(i, "queued", 0);
		assert_int_equal(f->s[i % 2]->jobs->job_put(f->s[i % 2], &j), POS_OK);
	}
	struct claimer c[2 * THREADS_PER_STORE];
	pthread_t t[2 * THREADS_PER_STORE];
	for (int i = 0; i < 2 * THREADS_PER_STORE; i++) {
		c[i] = (struct claimer){.s = f->s[i % 2], .ids = calloc(JOBS, POS_UUID_SIZE)};
		assert_int_equal(pthread_create(&t[i], NULL, claim_all, &c[i]), 0);
	}
	char(*all)[POS_UUID_SIZE] = calloc(JOBS + 1, POS_UUID_SIZE);
	size_t n = 0;
	for (int i = 0; i < 2 * THREADS_PER_STORE; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(c[i].last, POS_ERR_NOT_FOUND); /* the queue ran dry */
		assert_true(c[i].n == 0 || c[i].max_attempts == 1); /* claimed once each */
		assert_true(n + c[i].n <= JOBS);
		memcpy(all[n], c[i].ids, c[i].n * POS_UUID_SIZE);
		n += c[i].n;
		free(c[i].ids);
	}
	assert_int_equal(n, JOBS); /* every job claimed ... */
	qsort(all, n, POS_UUID_SIZE, by_id);
	for (size_t i = 1; i < n; i++)
		assert_string_not_equal(all[i - 1], all[i]); /* ... exactly once */
	free(all);
	/* and each is running, claimed once */
	struct pos_job row;
	struct pos_job one = job(7, "queued", 0);
	assert_int_equal(f->s[1]->jobs->job_get(f->s[1], f->a, NULL, one.id, &row), POS_OK);
	assert_string_equal(row.state, "running");
	assert_int_equal(row.attempts, 1);
	assert_true(row.lease_until > row.updated_at);
}

static void leases_dedupe_and_updates_on_postgres(void **state)
{
	struct fx *f = *state;
	NEED_PG(f);
	struct pos_store *a = f->s[0], *b = f->s[1];
	int64_t now = pos_now_us();
	struct pos_job live = job(1001, "running", now + 3600LL * 1000000);
	struct pos_job dead = job(1002, "running", now - 1);
	struct pos_job none = job(1003, "running", 0); /* a row from before leases */
	assert_int_equal(a->jobs->job_put(a, &live), POS_OK);
	assert_int_equal(a->jobs->job_put(a, &dead), POS_OK);
	assert_int_equal(a->jobs->job_put(a, &none), POS_OK);
	int64_t n = -1;
	assert_int_equal(b->jobs->jobs_requeue(b, "[\"other.kind\"]", now, &n), POS_OK);
	assert_int_equal(n, 0); /* not our kind */
	assert_int_equal(b->jobs->jobs_requeue(b, LEASE_KINDS, now, &n), POS_OK);
	assert_int_equal(n, 2);
	struct pos_job row;
	assert_int_equal(b->jobs->job_get(b, f->a, USERS[1001 % 3], live.id, &row), POS_OK);
	assert_string_equal(row.state, "running");
	assert_int_equal(b->jobs->job_get(b, f->a, NULL, dead.id, &row), POS_OK);
	assert_string_equal(row.state, "queued");
	/* another user's job is not found */
	assert_int_equal(b->jobs->job_get(b, f->a, USERS[(1002 + 1) % 3], dead.id, &row),
			 POS_ERR_NOT_FOUND);

	/* renewing keeps a lease alive past its first end */
	assert_int_equal(a->jobs->jobs_renew(a, "[\"0190a0a0-0000-7000-8000-000000001001\"]",
					     now + 7200LL * 1000000), POS_OK);
	assert_int_equal(a->jobs->job_get(a, f->a, NULL, live.id, &row), POS_OK);
	assert_int_equal(row.lease_until, now + 7200LL * 1000000);
	assert_int_equal(b->jobs->jobs_requeue(b, LEASE_KINDS, now + 3601LL * 1000000, &n), POS_OK);
	assert_int_equal(n, 0);

	/* dedupe keys: one active job per (kind, key), in either instance */
	struct pos_job k1 = job(1004, "queued", 0), k2 = job(1005, "queued", 0);
	k1.dedupe_key = k2.dedupe_key = "source:1";
	assert_int_equal(a->jobs->job_put(a, &k1), POS_OK);
	assert_int_equal(b->jobs->job_put(b, &k2), POS_ERR_CONFLICT);
	k2.kind = "test.other";
	assert_int_equal(b->jobs->job_put(b, &k2), POS_OK);
	assert_int_equal(b->jobs->job_cancel(b, k1.user_id, k1.id, now), POS_OK);
	assert_int_equal(b->jobs->job_cancel(b, k1.user_id, k1.id, now), POS_ERR_CONFLICT);
	assert_int_equal(b->jobs->job_cancel(b, USERS[0], "0190a0a0-0000-7000-8000-000000009999",
					     now), POS_ERR_NOT_FOUND);
	struct pos_job k3 = job(1006, "queued", 0);
	k3.dedupe_key = "source:1";
	assert_int_equal(a->jobs->job_put(a, &k3), POS_OK); /* k1 finished: free again */
	assert_int_equal(a->jobs->job_get(a, f->a, NULL, k3.id, &row), POS_OK);
	assert_string_equal(row.dedupe_key, "source:1");

	/* claim, progress, update: only while running */
	struct pos_job got;
	assert_int_equal(a->jobs->job_claim(a, f->a, now, now + 1000, LEASE_KINDS, "[]", &got), POS_OK);
	assert_int_equal(a->jobs->job_progress(a, got.id, 3, 10, now), POS_OK);
	got.state = "done";
	got.done = 10;
	got.total = 10;
	got.result_json = "{\"ok\":true}";
	got.payload_json = NULL; /* unchanged */
	assert_int_equal(a->jobs->job_update(a, &got), POS_OK);
	assert_int_equal(a->jobs->job_update(a, &got), POS_ERR_NOT_FOUND);
	assert_int_equal(a->jobs->job_progress(a, got.id, 4, 10, now), POS_ERR_NOT_FOUND);
	assert_int_equal(a->jobs->job_get(a, f->a, NULL, got.id, &row), POS_OK);
	assert_string_equal(row.result_json, "{\"ok\":true}");
	assert_string_equal(row.payload_json, "{}");
	assert_int_equal(row.done, 10);
	size_t queued = 0;
	assert_int_equal(a->jobs->jobs_queued(a, USERS[1005 % 3], "[\"test.other\"]", &queued),
			 POS_OK);
	assert_int_equal(queued, 1);
	struct pos_job *list;
	size_t ln;
	assert_int_equal(a->jobs->job_list(a, f->a, USERS[1005 % 3], "test.other", 10, &list, &ln),
			 POS_OK);
	assert_int_equal(ln, 1);
	assert_string_equal(list[0].id, k2.id);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(two_instances_never_claim_one_job_twice),
		T(leases_dedupe_and_updates_on_postgres),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
