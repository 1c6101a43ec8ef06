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

/* The "new" job links what the user wrote after their cursor, moves the
 * cursor to the last seq, and leaves other users alone. */
static void new_job_walks_from_the_cursor(void **state)
{
	struct fx *f = *state;
	struct pos_memory a, b, c, d;
	const char *text = "{\"content\":\"Renew the car insurance with the new broker in May\"}";
	create(f, f->alice, text, &a);
	create(f, f->alice, text, &b);
	create(f, f->bob, text, &c);
	assert_int_equal(edges(f, f->alice, a.id, "duplicate", b.id, NULL), 0);
	assert_int_equal(pos_autolink_job_run(NULL, &f->svc, f->alice, "{\"new\":true}"), POS_OK);
	assert_int_equal(edges(f, f->alice, a.id, "duplicate", b.id, NULL), 1);
	assert_int_equal(edges(f, f->bob, c.id, "duplicate", NULL, NULL), 0);
	char name[96], want[32];
	const char *v = NULL;
	snprintf(name, sizeof(name), "autolink.cursor.%s", f->alice);
	assert_int_equal(f->s->ops->state_get(f->s, f->a, name, &v), POS_OK);
	snprintf(want, sizeof(want), "%lld", (long long)b.seq);
	assert_non_null(v);
	assert_string_equal(v, want);
	/* bob's own run links bob's memory only: alice's are not his */
	create(f, f->bob, text, &d);
	assert_int_equal(pos_autolink_job_run(NULL, &f->svc, f->bob, "{\"new\":true}"), POS_OK);
	assert_int_equal(edges(f, f->bob, c.id, "duplicate", d.id, NULL), 1);
	assert_int_equal(edges(f, f->bob, d.id, "duplicate", a.id, NULL), 0);
	/* a memory written after the cursor is linked by the next run */
	create(f, f->alice, text, &d);
	assert_int_equal(pos_autolink_job_run(NULL, &f->svc, f->alice, "{\"new\":true}"), POS_OK);
	assert_true(edges(f, f->alice, d.id, "duplicate", NULL, NULL) >= 1);
	assert_int_equal(f->s->ops->state_get(f->s, f->a, name, &v), POS_OK);
	snprintf(want, sizeof(want), "%lld", (long long)d.seq);
	assert_string_equal(v, want);
	/* nothing new: the cursor stays */
	assert_int_equal(pos_autolink_job_run(NULL, &f->svc, f->alice, "{\"new\":true}"), POS_OK);
	assert_int_equal(f->s->ops->state_get(f->s, f->a, name, &v), POS_OK);
	assert_string_equal(v, want);
	assert_int_equal(pos_autolink_job_run(NULL, &f->svc, f->alice, "{\"new\":1}"),
			 POS_ERR_INVALID_FIELD);
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

/* Exact neighbours by brute force over the store's vectors: (score, seq)
 * as the index ranks them (the int8 dot times the row's scale, ties by
 * seq), then times the query's scale. */
struct ref_hit {
	float s;
	int64_t seq;
};

static int ref_cmp(const void *a, const void *b)
{
	const struct ref_hit *x = a, *y = b;
	if (x->s != y->s)
		return x->s > y->s ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int8_t clamp8(int8_t v)
{
	return v == -128 ? -127 : v;
}

/* A bulk of memories over a 12-word vocabulary (near ties everywhere,
 * and some exact duplicates): the batch links each memory to exactly
 * the neighbours an exact scan finds, past the size where the search
 * would use its 4-bit first stage; the bulk's vectors entered the loaded
 * index (pos_vcache_put_many). */
static void batch_links_the_exact_neighbours(void **state)
{
	struct fx *f = *state;
	enum { N = 700 };
	static const char *const words[] = {"plumber", "invoice", "garden", "tomato",
					    "flight", "hotel", "budget", "report",
					    "novel", "recipe", "bread", "train"};
	/* one memory first, linked, so the user's index is loaded before the bulk */
	struct pos_memory first;
	create(f, f->alice, "{\"content\":\"plumber invoice garden tomato\"}", &first);
	struct pos_autolink_config cfg;
	pos_autolink_config_default(&cfg);
	struct pos_autolink_result res;
	assert_int_equal(pos_autolink_memory(&f->svc, f->alice, first.id, &cfg, &res), POS_OK);
	json_t *list = json_array();
	uint64_t r = 11;
	char text[200] = "";
	for (int i = 0; i < N; i++) {
		if (i % 50 != 49) { /* every 50th repeats the one before: exact ties */
			text[0] = '\0';
			for (int w = 0; w < 6; w++) {
				r = r * 6364136223846793005ull + 1442695040888963407ull;
				strcat(text, words[(r >> 33) % 12]);
				strcat(text, " ");
			}
		}
		json_array_append_new(list, json_pack("{s:s}", "content", text));
	}
	json_t *body = json_pack("{s:o}", "memories", list);
	struct pos_memory *m;
	size_t n;
	struct pos_error err;
	pos_error_clear(&err);
	assert_int_equal(pos_memory_bulk(&f->svc, f->a, f->alice, body, &m, &n, &err), POS_OK);
	json_decref(body);
	assert_int_equal(n, N);
	const char **ids = malloc(N * sizeof(*ids));
	for (int i = 0; i < N; i++)
		ids[i] = m[i].id;
	size_t linked = 0;
	assert_int_equal(pos_autolink_batch(&f->svc, f->alice, ids, N, &cfg, NULL, &linked), POS_OK);
	assert_int_equal(linked, N);
	/* the reference: every vector of alice (the bulk and `first`) */
	struct pos_vec *v = malloc((N + 1) * sizeof(*v));
	int64_t *seq = malloc((N + 1) * sizeof(*seq));
	for (int i = 0; i <= N; i++) {
		seq[i] = i < N ? m[i].seq : first.seq;
		assert_int_equal(f->s->memories->vector_get(f->s, f->a, f->alice, seq[i], &v[i]), POS_OK);
		assert_non_null(v[i].q);
	}
	struct ref_hit *h = malloc((N + 1) * sizeof(*h));
	size_t ties = 0, total = 0, checked = 0;
	for (int i = 0; i < N; i += 7) { /* every 7th memory: 100 of them */
		for (int j = 0; j <= N; j++) {
			int32_t dot = 0;
			for (unsigned d = 0; d < v[i].dim; d++)
				dot += clamp8(v[i].q[d]) * clamp8(v[j].q[d]);
			h[j] = (struct ref_hit){(float)dot * v[j].scale, seq[j]};
		}
		qsort(h, N + 1, sizeof(*h), ref_cmp);
		/* the (k + 1) best, then as links_from_hits: not itself, at
		 * the threshold or more, at most max_links */
		size_t want = 0;
		for (size_t j = 0; j < cfg.max_links + 1 && want < cfg.max_links; j++) {
			float fs = h[j].s * v[i].scale;
			double score = fs > 1.0f ? 1.0 : fs;
			if (h[j].seq == m[i].seq || score < cfg.related_min)
				continue;
			/* re-linking a memory replaces every auto link touching
			 * it, so a pair stays as the batch made it when its other
			 * end was linked earlier (a smaller seq: `first`, or
			 * before it in the batch) */
			want++;
			if (h[j].seq > m[i].seq)
				continue;
			for (int x = 0; x <= N; x++)
				if (seq[x] == h[j].seq)
					assert_int_equal(edges(f, f->alice, m[i].id,
							       score >= cfg.duplicate_min ? "duplicate" : "related",
							       x < N ? m[x].id : first.id, NULL), 1);
			checked++;
		}
		/* the search the batch makes finds exactly these (k + 1), scores
		 * and ties included */
		struct pos_hit got[POS_AUTOLINK_MAX + 1];
		size_t ng = 0;
		assert_int_equal(pos_search_similar(f->e, f->alice, &v[i], cfg.max_links + 1, got, &ng),
				 POS_OK);
		assert_int_equal(ng, cfg.max_links + 1);
		for (size_t j = 0; j < ng; j++) {
			float fs = h[j].s * v[i].scale;
			assert_int_equal(got[j].seq, h[j].seq);
			assert_true(got[j].score == (fs > 1.0f ? 1.0 : fs));
		}
		for (size_t j = 0; j < cfg.max_links + 1; j++)
			ties += h[j].s == h[j + 1].s;
		total += want;
	}
	assert_true(total > 300 && checked > 100);
	assert_true(ties > 0); /* equal scores among the best, ordered by seq */
	free(h);
	free(v);
	free(seq);
	free(ids);
}

static int creating_seen;
static void creating_count(void *ctx, const char *user_id, const struct pos_memory *v, size_t n,
			   json_t **add)
{
	(void)user_id;
	(void)v;
	(void)n;
	(void)add;
	creating_seen = atomic_load((atomic_int *)ctx);
}

/* A bulk counts itself in svc->bulk_writes while it runs; linking waits
 * for bulk writes only so long (a bulk that never ends does not stop it). */
static void bulk_writes_counted_and_given_way(void **state)
{
	struct fx *f = *state;
	atomic_int running;
	atomic_init(&running, 0);
	f->svc.bulk_writes = &running;
	f->svc.creating = creating_count;
	f->svc.creating_ctx = &running;
	json_t *body = json_loads("{\"memories\":[{\"content\":\"garden tomato bread\"},"
				  "{\"content\":\"garden tomato bread train\"}]}", 0, NULL);
	struct pos_memory *m;
	size_t n;
	struct pos_error err;
	pos_error_clear(&err);
	creating_seen = -1;
	assert_int_equal(pos_memory_bulk(&f->svc, f->a, f->alice, body, &m, &n, &err), POS_OK);
	json_decref(body);
	assert_int_equal(creating_seen, 1); /* counted while it ran */
	assert_int_equal(atomic_load(&running), 0);
	/* a bulk "running" forever: the batch still links, after its waits */
	atomic_store(&running, 1);
	struct pos_autolink_config cfg;
	pos_autolink_config_default(&cfg);
	/* two memories: the write transaction is cut between them for the
	 * bulk, both are linked */
	const char *ids[] = {m[0].id, m[1].id};
	size_t linked = 0;
	assert_int_equal(pos_autolink_batch(&f->svc, f->alice, ids, 2, &cfg, NULL, &linked), POS_OK);
	assert_int_equal(linked, 2);
	assert_int_equal(edges(f, f->alice, m[0].id, "related", m[1].id, NULL), 1);
	f->svc.bulk_writes = NULL;
	f->svc.creating = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(links_neighbours_and_duplicates, setup, teardown),
		cmocka_unit_test_setup_teardown(parents_from_threads_and_series, setup, teardown),
		cmocka_unit_test_setup_teardown(job_run_and_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(new_job_walks_from_the_cursor, setup, teardown),
		cmocka_unit_test_setup_teardown(batch_links_like_one_by_one, setup, teardown),
		cmocka_unit_test_setup_teardown(batch_links_the_exact_neighbours, setup, teardown),
		cmocka_unit_test_setup_teardown(bulk_writes_counted_and_given_way, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
