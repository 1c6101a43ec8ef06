/*
 * Unit tests for src/memory/lifecycle (the layer policy) and
 * src/memory/importance. The policy cases are data-driven, one file per
 * case in tests/data/lifecycle/: keys `layer` (now), `expect`, and the
 * facts in days before a fixed clock — `created`, `updated`, `accessed`,
 * `since` (entered its layer; default: created) — plus `count`
 * (accesses), `locked`, `pinned`, `current` (0/1) and any policy key
 * (`active_days`, `archive_days`, ...) overriding the defaults.
 * test_query_plans checks that the lifecycle scan and the graph's edges
 * keep the indexes they were written for (EXPLAIN QUERY PLAN).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/clock.h"
#include "crypto/crypto.h"
#include "jobs/jobs.h"
#include "memory/memory.h"
#include "store/store.h"
#include "datacase.h"
#include "memory/importance.h"
#include "memory/lifecycle.h"
#include "store/sqlite_internal.h"

#define DAY (86400LL * 1000000LL)
/* the fixed clock of every case: 2026-12-01T00:00:00Z */
#define NOW 1796083200000000LL

static long num(const struct datacase *c, const char *key, long dflt)
{
	const char *v = datacase_get(c, key);
	return v ? strtol(v, NULL, 10) : dflt;
}

static void test_policy_cases(void **state)
{
	(void)state;
	struct datacases cs = datacase_load("POS_LIFECYCLE_CASES", "tests/data/lifecycle");
	assert_true(cs.n >= 20);
	for (size_t i = 0; i < cs.n; i++) {
		const struct datacase *c = &cs.v[i];
		struct pos_life_policy p;
		pos_life_policy_default(&p);
		json_t *pol = json_object();
		static const char *const keys[] = {"active_days", "current_days",
						   "reference_accesses", "reference_days",
						   "archive_days"};
		for (size_t k = 0; k < 5; k++)
			if (datacase_get(c, keys[k]))
				json_object_set_new(pol, keys[k], json_integer(num(c, keys[k], 0)));
		struct pos_error err;
		pos_error_clear(&err);
		assert_int_equal(pos_life_policy_parse(pol, true, &p, &err), POS_OK);
		json_decref(pol);
		struct pos_life_row r;
		memset(&r, 0, sizeof(r));
		int l = pos_mem_layer_parse(datacase_get(c, "layer"));
		assert_true(l >= 0);
		r.layer = (enum pos_mem_layer)l;
		r.created_at = NOW - num(c, "created", 0) * DAY;
		r.updated_at = datacase_get(c, "updated") ? NOW - num(c, "updated", 0) * DAY
							  : r.created_at;
		r.last_accessed_at = datacase_get(c, "accessed")
			? NOW - num(c, "accessed", 0) * DAY : POS_TIME_NONE;
		r.layer_since = datacase_get(c, "since") ? NOW - num(c, "since", 0) * DAY
							 : r.created_at;
		r.access_count = num(c, "count", 0);
		r.layer_locked = num(c, "locked", 0) != 0;
		r.pinned = num(c, "pinned", 0) != 0;
		enum pos_mem_layer got = pos_life_next(&p, &r, num(c, "current", 0) != 0, NOW);
		const char *want = datacase_get(c, "expect");
		if (!want || strcmp(pos_mem_layer_name(got), want) != 0)
			fail_msg("%s: expected %s, got %s", c->name, want ? want : "?",
				 pos_mem_layer_name(got));
	}
	datacase_free(&cs);
}

static void test_policy_parse(void **state)
{
	(void)state;
	struct pos_life_policy p;
	struct pos_error err;
	pos_life_policy_default(&p);
	assert_int_equal(p.active_days, 7);
	assert_int_equal(p.archive_days, 90);
	json_t *o = json_pack("{s:i}", "active_days", 0);
	pos_error_clear(&err);
	assert_int_equal(pos_life_policy_parse(o, true, &p, &err), POS_ERR_INVALID_FIELD);
	assert_string_equal(err.field, "active_days");
	/* stored values out of range are skipped, not errors */
	assert_int_equal(pos_life_policy_parse(o, false, &p, NULL), POS_OK);
	assert_int_equal(p.active_days, 7);
	json_decref(o);
	o = json_pack("{s:i}", "bogus", 3);
	pos_error_clear(&err);
	assert_int_equal(pos_life_policy_parse(o, true, &p, &err), POS_ERR_INVALID_FIELD);
	json_decref(o);
	o = json_pack("{s:i}", "archive_days", 4000);
	pos_error_clear(&err);
	assert_int_equal(pos_life_policy_parse(o, true, &p, &err), POS_ERR_INVALID_FIELD);
	json_decref(o);
	o = json_pack("{s:i,s:i}", "archive_days", 30, "reference_accesses", 5);
	assert_int_equal(pos_life_policy_parse(o, true, &p, NULL), POS_OK);
	assert_int_equal(p.archive_days, 30);
	assert_int_equal(p.reference_accesses, 5);
	json_decref(o);
}

static const struct {
	const char *text;
	unsigned sig;
} signal_cases[] = {
	{"buy milk", 0},
	{"This is IMPORTANT: call the bank", POS_SIG_IMPORTANT},
	{"urgent", POS_SIG_IMPORTANT},
	{"Rent is $1200 this month", POS_SIG_MONEY},
	{"it cost 40 EUR", POS_SIG_MONEY},
	{"the euro area", 0},
	{"dentist on 2026-11-24", POS_SIG_DATE},
	{"lunch next Tuesday", POS_SIG_DATE},
	{"My dentist is Dr. Ruiz", POS_SIG_PERSON},
	{"met with Ana Lopez about it", POS_SIG_PERSON},
	{"Deadline: pay $30 to Dr. Ruiz on March 3", POS_SIG_IMPORTANT | POS_SIG_MONEY |
						   POS_SIG_PERSON | POS_SIG_DATE},
};

static void test_signals(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(signal_cases) / sizeof(signal_cases[0]); i++) {
		unsigned got = pos_importance_signals(signal_cases[i].text,
						      strlen(signal_cases[i].text));
		if (got != signal_cases[i].sig)
			fail_msg("%s: signals %u, expected %u", signal_cases[i].text, got,
				 signal_cases[i].sig);
	}
	assert_int_equal(pos_importance_signals(NULL, 0), 0);
}

static struct pos_life_row row(enum pos_mem_type t, const char *text)
{
	struct pos_life_row r;
	memset(&r, 0, sizeof(r));
	r.type = t;
	r.rating = -1;
	r.created_at = r.updated_at = NOW;
	r.last_accessed_at = POS_TIME_NONE;
	r.content = text;
	r.content_len = strlen(text);
	return r;
}

static void test_importance(void **state)
{
	(void)state;
	struct pos_life_row plain = row(POS_TYPE_NOTE, "buy milk");
	double base = pos_importance_compute(&plain, NOW);
	assert_true(base > 0 && base < 1);
	/* type */
	struct pos_life_row chat = row(POS_TYPE_CONVERSATION, "buy milk");
	assert_true(pos_importance_compute(&chat, NOW) < base);
	struct pos_life_row act = row(POS_TYPE_ACTION, "buy milk");
	assert_true(pos_importance_compute(&act, NOW) > base);
	/* rating, both ways */
	struct pos_life_row r = plain;
	r.rating = 5;
	assert_true(pos_importance_compute(&r, NOW) > base);
	r.rating = 1;
	assert_true(pos_importance_compute(&r, NOW) < base);
	/* access frequency, link degree, signals */
	r = plain;
	r.access_count = 10;
	r.last_accessed_at = NOW;
	assert_true(pos_importance_compute(&r, NOW) > base);
	r = plain;
	r.degree = 3;
	assert_true(pos_importance_compute(&r, NOW) > base);
	struct pos_life_row sig = row(POS_TYPE_NOTE, "important: pay Dr. Ruiz $80");
	assert_true(pos_importance_compute(&sig, NOW) > base + 0.2);
	/* decay: the same memory unused for a year counts less */
	r = plain;
	r.created_at = r.updated_at = NOW - 365 * DAY;
	double old = pos_importance_compute(&r, NOW);
	assert_true(old < base);
	assert_true(old > 0.6 * base - 0.001);
	/* recency of use brings it back */
	r.last_accessed_at = NOW;
	r.access_count = 1;
	assert_true(pos_importance_compute(&r, NOW) > base);
	/* bounded */
	r = sig;
	r.type = POS_TYPE_ACTION;
	r.rating = 5;
	r.access_count = 1000;
	r.last_accessed_at = NOW;
	r.degree = 50;
	double hi = pos_importance_compute(&r, NOW);
	assert_true(hi <= 1.0 && hi > 0.9);
}

/* The memory.lifecycle job kind runs a user's policy over their memories
 * and leaves the run's result and progress (lifecycle_job.c). */
static void test_lifecycle_job(void **state)
{
	(void)state;
	pos_crypto_init();
	const char *base = getenv("POS_TEST_TMP");
	if (base)
		mkdir(base, 0700);
	char dir[256];
	snprintf(dir, sizeof(dir), "%s/lifejob_XXXXXX", base ? base : "/tmp");
	assert_non_null(mkdtemp(dir));
	struct pos_error err;
	pos_error_clear(&err);
	struct pos_store *s = NULL;
	assert_int_equal(pos_sqlite_open(dir, &s, &err), POS_OK);
	struct pos_user u = {0};
	assert_true(pos_uuid_new(u.id));
	u.email = "life@example.org";
	u.password_hash = "x";
	u.privacy_tier = "local";
	u.plan = "free";
	u.persona_json = "{}";
	u.settings_json = "{}";
	u.created_at = pos_now_us();
	u.last_login_at = POS_TIME_NONE;
	assert_int_equal(s->accounts->user_register(s, &u, NULL, true, 0), POS_OK);
	struct pos_memsvc svc = {.store = s};
	struct pos_arena *a = pos_arena_new();
	const char *bodies[] = {"{\"content\":\"an old note\",\"created_at\":\"2020-01-02T03:04:05Z\"}",
				"{\"content\":\"a new note\"}"};
	for (size_t i = 0; i < 2; i++) {
		json_t *j = json_loads(bodies[i], 0, NULL);
		struct pos_memory m;
		assert_int_equal(pos_memory_create(&svc, a, u.id, j, &m, &err), POS_OK);
		json_decref(j);
	}
	struct pos_jobs_config jc = {.workers = 1, .queue_max = 100, .keep_done_us = 3600LL * 1000000};
	struct pos_jobs *jobs = NULL;
	assert_int_equal(pos_jobs_new(s, &jc, &jobs), POS_OK);
	struct pos_lifecycle_jobs lj = {s, jobs, 0}; /* no schedule: queued by hand */
	assert_int_equal(pos_lifecycle_register(&lj), POS_OK);
	char id[POS_UUID_SIZE];
	assert_int_equal(pos_jobs_enqueue(jobs, POS_LIFECYCLE_JOB, u.id, NULL, 0, id), POS_OK);
	assert_int_equal(pos_jobs_start(jobs), POS_OK);
	struct pos_job_info info = {0};
	for (int i = 0; i < 6000; i++) {
		assert_int_equal(pos_jobs_get(jobs, a, u.id, id, &info), POS_OK);
		if (info.state != POS_JOB_QUEUED && info.state != POS_JOB_RUNNING)
			break;
		usleep(10000);
	}
	assert_int_equal(info.state, POS_JOB_DONE);
	assert_string_equal(info.kind, POS_LIFECYCLE_JOB);
	assert_int_equal(info.done, 2);
	assert_int_equal(info.total, 2);
	assert_non_null(info.result_json);
	assert_non_null(strstr(info.result_json, "\"scanned\":2"));
	pos_jobs_free(jobs);
	pos_arena_destroy(a);
	pos_store_close(s);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* The plan of `sql` on `db`, its detail lines joined by " | ". */
static void query_plan(sqlite3 *db, const char *sql, char *out, size_t cap)
{
	char q[8192];
	snprintf(q, sizeof(q), "EXPLAIN QUERY PLAN %s", sql);
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
	size_t len = 0;
	out[0] = '\0';
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *d = (const char *)sqlite3_column_text(st, 3);
		int w = snprintf(out + len, cap - len, "%s | ", d ? d : "");
		assert_true(w > 0 && (size_t)w < cap - len);
		len += (size_t)w;
	}
	sqlite3_finalize(st);
}

/* The lifecycle scan pages along memories_user_seq (migration 21) and
 * the graph finds children through memories_parent, whatever the
 * planner's statistics say: without the pins, a fresh database (no
 * statistics) makes SQLite answer the children query from
 * memories_user_seq, a scan of all the user's rows per id. Checked on a
 * fresh database and after statistics of one user owning every row. */
static void test_query_plans(void **state)
{
	(void)state;
	pos_crypto_init();
	const char *base = getenv("POS_TEST_TMP");
	if (base)
		mkdir(base, 0700);
	char dir[256], path[320];
	snprintf(dir, sizeof(dir), "%s/lifeplan_XXXXXX", base ? base : "/tmp");
	assert_non_null(mkdtemp(dir));
	struct pos_error err;
	pos_error_clear(&err);
	struct pos_store *s = NULL;
	assert_int_equal(pos_sqlite_open(dir, &s, &err), POS_OK);
	pos_store_close(s);
	snprintf(path, sizeof(path), "%s/personalos.db", dir);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	char plan[8192];
	for (int round = 0; round < 2; round++) {
		if (round == 1) {
			/* one user owns all 100,000 rows; 5 children per parent */
			assert_int_equal(sqlite3_exec(db,
				"ANALYZE;"
				"DELETE FROM sqlite_stat1 WHERE tbl = 'memories';"
				"INSERT INTO sqlite_stat1 VALUES"
				" ('memories', 'memories_user_seq', '100000 100000 1'),"
				" ('memories', 'memories_user_created', '100000 100000 1'),"
				" ('memories', 'memories_parent', '20000 5'),"
				" ('memories', 'sqlite_autoindex_memories_1', '100000 1');"
				"ANALYZE sqlite_schema;", NULL, NULL, NULL), SQLITE_OK);
		}
		query_plan(db, sq_graph_edges_sql(), plan, sizeof(plan));
		assert_non_null(strstr(plan, "USING INDEX memories_parent (parent_memory_id=?)"));
		assert_null(strstr(plan, "memories_user_seq"));
		assert_null(strstr(plan, "memories_user_created"));
		assert_null(strstr(plan, "SCAN m"));
		query_plan(db, sq_lifecycle_scan_sql(), plan, sizeof(plan));
		assert_non_null(strstr(plan, "SEARCH m USING INDEX memories_user_seq (user_id=? AND seq>?)"));
		assert_non_null(strstr(plan, "memories_parent (parent_memory_id=?)"));
		assert_null(strstr(plan, "TEMP B-TREE"));
	}
	sqlite3_close(db);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_cases),
		cmocka_unit_test(test_policy_parse),
		cmocka_unit_test(test_signals),
		cmocka_unit_test(test_importance),
		cmocka_unit_test(test_lifecycle_job),
		cmocka_unit_test(test_query_plans),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
