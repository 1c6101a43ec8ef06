/*
 * Unit tests for src/memory/autolink: neighbours above the threshold,
 * duplicates, structural parents (threads, event series), re-linking,
 * isolation between users, and the job's run function. A real SQLite
 * store and search engine (built-in embedder) in a temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "base/arena.h"
#include "base/clock.h"
#include "crypto/crypto.h"
#include "memory/autolink.h"
#include "memory/memory.h"
#include "search/engine.h"
#include "store/store.h"

struct fx {
	char dir[256];
	struct pos_store *s;
	struct pos_search *e;
	struct pos_memsvc svc;
	struct pos_arena *a;
	char alice[POS_UUID_SIZE], bob[POS_UUID_SIZE];
};

static void make_user(struct pos_store *s, const char *email, char id[POS_UUID_SIZE])
{
	struct pos_user u = {0};
	assert_true(pos_uuid_new(u.id));
	u.email = email;
	u.password_hash = "x";
	u.privacy_tier = "local";
	u.plan = "free";
	u.persona_json = "{}";
	u.settings_json = "{}";
	u.created_at = pos_now_us();
	u.last_login_at = POS_TIME_NONE;
	assert_int_equal(s->accounts->user_register(s, &u, NULL, true, 0), POS_OK);
	memcpy(id, u.id, POS_UUID_SIZE);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	pos_crypto_init();
	const char *base = getenv("POS_TEST_TMP");
	if (base)
		mkdir(base, 0700);
	snprintf(f->dir, sizeof(f->dir), "%s/autolink_XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(f->dir))
		return -1;
	struct pos_error err;
	pos_error_clear(&err);
	if (pos_sqlite_open(f->dir, &f->s, &err))
		return -1;
	struct pos_search_config cfg;
	pos_search_config_default(&cfg);
	cfg.backfill = false;
	if (pos_search_new(f->s, &cfg, &f->e, &err))
		return -1;
	f->svc.store = f->s;
	f->svc.search = f->e;
	f->a = pos_arena_new();
	make_user(f->s, "alice@example.org", f->alice);
	make_user(f->s, "bob@example.org", f->bob);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	pos_arena_destroy(f->a);
	pos_search_free(f->e);
	pos_store_close(f->s);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void create(struct fx *f, const char *user, const char *body, struct pos_memory *out)
{
	json_t *j = json_loads(body, 0, NULL);
	assert_non_null(j);
	struct pos_error err;
	pos_error_clear(&err);
	assert_int_equal(pos_memory_create(&f->svc, f->a, user, j, out, &err), POS_OK);
	json_decref(j);
}

static void get(struct fx *f, const char *user, const char *id, struct pos_memory *out)
{
	assert_int_equal(f->s->memories->memory_get(f->s, f->a, user, id, false, 0, out), POS_OK);
}

/* The edges of `id` of `type` as the graph sees them. */
static size_t edges(struct fx *f, const char *user, const char *id, const char *type,
		    const char *other, double *strength)
{
	char ids[64];
	snprintf(ids, sizeof(ids), "[\"%s\"]", id);
	struct pos_graph_edge *e;
	size_t n, hits = 0;
	assert_int_equal(f->s->memories->graph_edges(f->s, f->a, user, ids, 100, &e, &n), POS_OK);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(e[i].type, type) &&
		    (!other || !strcmp(e[i].source, other) || !strcmp(e[i].target, other))) {
			hits++;
			if (strength)
				*strength = e[i].strength;
		}
	return hits;
}

static void links_neighbours_and_duplicates(void **state)
{
	struct fx *f = *state;
	struct pos_memory a, dup, rel, far, bobs;
	create(f, f->alice, "{\"content\":\"The plumber fixes the kitchen sink leak on Thursday morning\"}", &a);
	create(f, f->alice, "{\"content\":\"The plumber fixes the kitchen sink leak on Thursday morning!\"}", &dup);
	create(f, f->alice, "{\"content\":\"Kitchen sink leak: the plumber wants cash\"}", &rel);
	create(f, f->alice, "{\"content\":\"Quantum chromodynamics lecture notes about gluons\"}", &far);
	create(f, f->bob, "{\"content\":\"The plumber fixes the kitchen sink leak on Thursday morning\"}", &bobs);
	struct pos_autolink_config cfg;
	pos_autolink_config_default(&cfg);
	struct pos_autolink_result res;
	assert_int_equal(pos_autolink_memory(&f->svc, f->alice, a.id, &cfg, &res), POS_OK);
	double st = 0;
	assert_int_equal(edges(f, f->alice, a.id, "duplicate", dup.id, &st), 1);
	assert_true(st >= 0.95 && st <= 1.0);
	assert_int_equal(edges(f, f->alice, a.id, "related", rel.id, &st), 1);
	assert_true(st >= 0.5 && st < 0.95);
	assert_int_equal(edges(f, f->alice, a.id, "related", far.id, NULL), 0);
	assert_int_equal(edges(f, f->alice, a.id, "duplicate", far.id, NULL), 0);
	assert_int_equal(res.duplicates, 1);
	assert_int_equal(res.related, 1);
	/* never across users */
	assert_int_equal(edges(f, f->alice, a.id, "duplicate", bobs.id, NULL), 0);
	assert_int_equal(edges(f, f->bob, bobs.id, "duplicate", NULL, NULL), 0);
	/* related links show in related_memory_ids, both ways */
	struct pos_memory got;
	get(f, f->alice, rel.id, &got);
	assert_non_null(strstr(got.related_json, a.id));
	/* a higher threshold links nothing */
	cfg.related_min = 1.01;
	assert_int_equal(pos_autolink_memory(&f->svc, f->alice, a.id, &cfg, &res), POS_OK);
	assert_int_equal(res.related + res.duplicates, 0);
	assert_int_equal(edges(f, f->alice, a.id, "related", rel.id, NULL), 0);
	/* re-linking replaces auto links but keeps those made by hand */
	json_t *p = json_pack("{s:[s]}", "related_memory_ids", far.id);
	struct pos_error err;
	pos_error_clear(&err);
	assert_int_equal(pos_memory_update(&f->svc, f->a, f->alice, a.id, p, &got, &err), POS_OK);
	json_decref(p);
	pos_autolink_config_default(&cfg);
	assert_int_equal(pos_autolink_memory(&f->svc, f->alice, a.id, &cfg, &res), POS_OK);
	assert_int_equal(edges(f, f->alice, a.id, "related", far.id, NULL), 1);
	assert_int_equal(edges(f, f->alice, a.id, "duplicate", dup.id, NULL), 1);
	/* max_links caps them */
	cfg.max_links = 1;
	assert_int_equal(pos_autolink_memory(&f->svc, f->alice, a.id, &cfg, &res), POS_OK);
	assert_int_equal(res.related + res.duplicates, 1);
}

static void parents_from_threads_and_series(void **state)
{
	struct fx *f = *state;
	struct pos_memory m1, m2, m3, e1, e2, e3, other;
	create(f, f->alice, "{\"content\":\"Can we move the meeting?\",\"type\":\"email\","
	       "\"metadata\":{\"thread\":\"<t1@x>\"},\"created_at\":\"2026-11-01T10:00:00Z\"}", &m1);
	create(f, f->alice, "{\"content\":\"Sure, Tuesday works\",\"type\":\"email\","
	       "\"metadata\":{\"thread\":\"<t1@x>\"},\"created_at\":\"2026-11-01T11:00:00Z\"}", &m2);
	create(f, f->alice, "{\"content\":\"Great, see you then\",\"type\":\"email\","
	       "\"metadata\":{\"thread\":\"<t1@x>\"},\"created_at\":\"2026-11-01T12:00:00Z\"}", &m3);
	create(f, f->alice, "{\"content\":\"Yoga\",\"type\":\"event\",\"metadata\":{\"event_id\":\"y1\"},"
	       "\"created_at\":\"2026-11-02T10:00:00Z\"}", &e1);
	create(f, f->alice, "{\"content\":\"Yoga\",\"type\":\"event\",\"metadata\":{\"event_id\":\"y1\","
	       "\"recurrence_id\":\"2026-11-09T10:00:00Z\"},\"created_at\":\"2026-11-09T10:00:00Z\"}", &e2);
	create(f, f->alice, "{\"content\":\"Yoga\",\"type\":\"event\",\"metadata\":{\"event_id\":\"y1\","
	       "\"recurrence_id\":\"2026-11-16T10:00:00Z\"},\"created_at\":\"2026-11-16T10:00:00Z\"}", &e3);
	create(f, f->bob, "{\"content\":\"Re: meeting\",\"type\":\"email\","
	       "\"metadata\":{\"thread\":\"<t1@x>\"},\"created_at\":\"2026-11-01T13:00:00Z\"}", &other);
	struct pos_autolink_config cfg;
	pos_autolink_config_default(&cfg);
	cfg.max_links = 0; /* parents only */
	struct pos_autolink_result res;
	struct pos_memory got;
	assert_int_equal(pos_autolink_memory(&f->svc, f->alice, m1.id, &cfg, &res), POS_OK);
	assert_false(res.parent_set); /* the first of its thread */
	assert_int_equal(pos_autolink_memory(&f->svc, f->alice, m3.id, &cfg, &res), POS_OK);
	get(f, f->alice, m3.id, &got);
	assert_string_equal(got.parent_id, m2.id);
	assert_int_equal(pos_autolink_memory(&f->svc, f->alice, e3.id, &cfg, &res), POS_OK);
	get(f, f->alice, e3.id, &got);
	assert_string_equal(got.parent_id, e1.id);
	assert_int_equal(pos_autolink_memory(&f->svc, f->alice, e2.id, &cfg, &res), POS_OK);
	get(f, f->alice, e2.id, &got);
	assert_string_equal(got.parent_id, e1.id);
	/* a thread of another user's is not this user's */
	assert_int_equal(pos_autolink_memory(&f->svc, f->bob, other.id, &cfg, &res), POS_OK);
	assert_false(res.parent_set);
	/* a parent set by hand is kept */
	assert_int_equal(pos_autolink_memory(&f->svc, f->alice, m2.id, &cfg, &res), POS_OK);
	assert_int_equal(pos_autolink_memory(&f->svc, f->alice, m3.id, &cfg, &res), POS_OK);
	assert_false(res.parent_set);
	get(f, f->alice, m3.id, &got);
	assert_string_equal(got.parent_id, m2.id);
	/* updated_at is not touched by linking */
	assert_int_equal(got.updated_at, m3.updated_at);
}

static void job_run_and_errors(void **state)
{
	struct fx *f = *state;
	struct pos_memory a, b;
	create(f, f->alice, "{\"content\":\"Pay the electricity bill of March before the tenth\"}", &a);
	create(f, f->alice, "{\"content\":\"Pay the electricity bill of March before the tenth.\"}", &b);
	char payload[128];
	snprintf(payload, sizeof(payload), "{\"id\":\"%s\"}", b.id);
	assert_int_equal(pos_autolink_job_run(NULL, &f->svc, f->alice, payload), POS_OK);
	assert_int_equal(edges(f, f->alice, a.id, "duplicate", b.id, NULL), 1);
	/* another user's id, a deleted or unknown one: nothing to do */
	assert_int_equal(pos_autolink_job_run(NULL, &f->svc, f->bob, payload), POS_OK);
	assert_int_equal(pos_autolink_job_run(NULL, &f->svc, f->alice,
					      "{\"id\":\"00000000-0000-4000-8000-000000000000\"}"),
			 POS_OK);
	assert_int_equal(pos_autolink_job_run(NULL, &f->svc, f->alice, "{}"), POS_ERR_INVALID_FIELD);
	assert_int_equal(pos_autolink_job_run(NULL, &f->svc, f->alice, "not json"),
			 POS_ERR_INVALID_FIELD);
	struct pos_autolink_config cfg;
	struct pos_autolink_result res;
	pos_autolink_config_default(&cfg);
	assert_int_equal(pos_autolink_memory(&f->svc, f->alice, "nope", &cfg, &res),
			 POS_ERR_NOT_FOUND);
}

/* A batch links each of its memories as linking it alone does (one
 * neighbour search for all), skips ids that are malformed, unknown or
 * another user's, and the job takes {"ids": [...]}. */
static void batch_links_like_one_by_one(void **state)
{
	struct fx *f = *state;
	struct pos_memory m[6], bobs;
	static const char *const texts[] = {
		"{\"content\":\"The plumber fixes the kitchen sink leak on Thursday morning\"}",
		"{\"content\":\"The plumber fixes the kitchen sink leak on Thursday morning!\"}",
		"{\"content\":\"Kitchen sink leak: the plumber wants cash\"}",
		"{\"content\":\"Quantum chromodynamics lecture notes about gluons\"}",
		"{\"content\":\"Lecture notes on quantum chromodynamics and gluons, part two\"}",
		"{\"content\":\"Sure, Tuesday works\",\"type\":\"email\",\"metadata\":{\"thread\":\"<t9@x>\"}}",
	};
	for (int i = 0; i < 6; i++)
		create(f, f->alice, texts[i], &m[i]);
	struct pos_memory first;
	create(f, f->alice, "{\"content\":\"Can we move the meeting?\",\"type\":\"email\","
	       "\"metadata\":{\"thread\":\"<t9@x>\"},\"created_at\":\"2026-01-01T10:00:00Z\"}", &first);
	create(f, f->bob, texts[0], &bobs);
	struct pos_autolink_config cfg;
	pos_autolink_config_default(&cfg);
	/* one by one: what each should get */
	size_t want[6][2];
	struct pos_autolink_result res;
	for (int i = 0; i < 6; i++) {
		assert_int_equal(pos_autolink_memory(&f->svc, f->alice, m[i].id, &cfg, &res), POS_OK);
		want[i][0] = edges(f, f->alice, m[i].id, "related", NULL, NULL);
		want[i][1] = edges(f, f->alice, m[i].id, "duplicate", NULL, NULL);
	}
	assert_true(want[0][1] == 1 && want[2][0] >= 1 && want[4][0] >= 1);
	/* clear the auto links, then the batch (in another order, with junk) */
	for (int i = 0; i < 6; i++)
		assert_int_equal(f->s->memories->autolink_apply(f->s, f->alice, m[i].id, NULL, 0, "",
								pos_now_us()), POS_OK);
	assert_int_equal(edges(f, f->alice, m[0].id, "duplicate", NULL, NULL), 0);
	const char *ids[] = {m[5].id, "nope", m[3].id, bobs.id, m[0].id, m[1].id,
			     "00000000-0000-4000-8000-000000000000", m[2].id, m[4].id};
	size_t linked = 0;
	assert_int_equal(pos_autolink_batch(&f->svc, f->alice, ids, 9, &cfg, NULL, &linked), POS_OK);
	assert_int_equal(linked, 6);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(edges(f, f->alice, m[i].id, "related", NULL, NULL), want[i][0]);
		assert_int_equal(edges(f, f->alice, m[i].id, "duplicate", NULL, NULL), want[i][1]);
	}
	struct pos_memory got;
	get(f, f->alice, m[5].id, &got);
	assert_string_equal(got.parent_id, first.id);
	/* the batch sets thread parents too */
	struct pos_memory reply;
	create(f, f->alice, "{\"content\":\"Great, see you then\",\"type\":\"email\","
	       "\"metadata\":{\"thread\":\"<t9@x>\"}}", &reply);
	const char *rid = reply.id;
	assert_int_equal(pos_autolink_batch(&f->svc, f->alice, &rid, 1, &cfg, NULL, &linked), POS_OK);
	get(f, f->alice, reply.id, &got);
	assert_string_equal(got.parent_id, m[5].id); /* the batch sets thread parents too */
	/* bob's memory was not linked by alice's batch */
	assert_int_equal(edges(f, f->bob, bobs.id, "duplicate", NULL, NULL), 0);
	/* the job's payload: a list of ids; wrong shapes fail */
	for (int i = 0; i < 6; i++)
		assert_int_equal(f->s->memories->autolink_apply(f->s, f->alice, m[i].id, NULL, 0, "",
								pos_now_us()), POS_OK);
	char payload[256];
	snprintf(payload, sizeof(payload), "{\"ids\":[\"%s\",\"%s\",7]}", m[0].id, m[1].id);
	assert_int_equal(pos_autolink_job_run(NULL, &f->svc, f->alice, payload), POS_OK);
	assert_int_equal(edges(f, f->alice, m[0].id, "duplicate", m[1].id, NULL), 1);
	assert_int_equal(pos_autolink_job_run(NULL, &f->svc, f->alice, "{\"ids\":\"x\"}"),
			 POS_ERR_INVALID_FIELD);
	assert_int_equal(pos_autolink_batch(&f->svc, f->alice, ids, POS_AUTOLINK_BATCH_MAX + 1, &cfg,
					    NULL, &linked), POS_ERR_INVALID_REQUEST);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(links_neighbours_and_duplicates, setup, teardown),
		cmocka_unit_test_setup_teardown(parents_from_threads_and_series, setup, teardown),
		cmocka_unit_test_setup_teardown(job_run_and_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(batch_links_like_one_by_one, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
