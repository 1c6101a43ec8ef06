/*
 * Unit tests for src/plugins/plugins (the manager) over a real SQLite
 * store: installs, the memory hooks queued as jobs and run by the job's
 * function, isolation between users, failure counting and auto-disable,
 * uninstall removing kv data. Runs from the repository root (catalogs
 * plugins/ and tests/data/plugins/).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "base/clock.h"
#include "crypto/crypto.h"
#include "memory/memory.h"
#include "plugins/plugins.h"
#include "store/store.h"

struct fx {
	char dir[256];
	struct pos_store *s;
	struct pos_memsvc svc;
	char alice[POS_UUID_SIZE], bob[POS_UUID_SIZE];
	json_t *queued; /* [{kind, user, payload}] */
};

static enum pos_err capture(void *ctx, const char *kind, const char *user, const char *payload)
{
	struct fx *f = ctx;
	json_array_append_new(f->queued, json_pack("{s:s, s:s, s:s}", "kind", kind, "user", user,
						   "payload", payload));
	return POS_OK;
}

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
	pos_crypto_init();
	const char *base = getenv("POS_TEST_TMP");
	if (base)
		mkdir(base, 0700);
	snprintf(f->dir, sizeof(f->dir), "%s/plugins_XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(f->dir))
		return -1;
	struct pos_error err;
	if (pos_sqlite_open(f->dir, &f->s, &err))
		return -1;
	f->svc.store = f->s;
	make_user(f->s, "alice@example.org", f->alice);
	make_user(f->s, "bob@example.org", f->bob);
	f->queued = json_array();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	pos_store_close(f->s);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	json_decref(f->queued);
	free(f);
	return 0;
}

static struct pos_plugins *manager(struct fx *f, const char *dir)
{
	struct pos_plugins_config cfg = {.dir = dir, .store = f->s, .mem = &f->svc,
					 .max_failures = 3, .enqueue = capture, .enqueue_ctx = f};
	struct pos_plugins *p = NULL;
	assert_int_equal(pos_plugins_new(&cfg, &p), POS_OK);
	return p;
}

static void install(struct pos_plugins *p, const char *user, const char *json)
{
	json_t *body = json_loads(json, 0, NULL);
	json_t *out = NULL;
	struct pos_error err;
	pos_error_clear(&err);
	if (pos_plugins_install(p, user, body, &out, &err))
		fail_msg("install %s: %s", json, err.message);
	json_decref(out);
	json_decref(body);
}

static void create(struct fx *f, const char *user, const char *json, char id[POS_UUID_SIZE])
{
	struct pos_arena *a = pos_arena_new();
	json_t *body = json_loads(json, 0, NULL);
	struct pos_memory m;
	struct pos_error err;
	assert_int_equal(pos_memory_create(&f->svc, a, user, body, &m, &err), POS_OK);
	memcpy(id, m.id, POS_UUID_SIZE);
	json_decref(body);
	pos_arena_destroy(a);
}

/* Runs every queued job through the job kind's function, then forgets them. */
static void run_jobs(struct fx *f, struct pos_plugins *p)
{
	size_t i;
	json_t *j;
	json_array_foreach(f->queued, i, j) {
		assert_string_equal(json_string_value(json_object_get(j, "kind")), POS_PLUGINS_JOB_KIND);
		assert_int_equal(pos_plugins_job_run_for_test(p, json_string_value(json_object_get(j, "user")),
							      json_string_value(json_object_get(j, "payload"))),
				 POS_OK);
	}
	json_array_clear(f->queued);
}

static json_t *tags_of(struct fx *f, const char *user, const char *id)
{
	struct pos_arena *a = pos_arena_new();
	struct pos_memory m;
	assert_int_equal(f->s->memories->memory_get(f->s, a, user, id, false, 0, &m), POS_OK);
	json_t *t = json_loads(m.tags_json ? m.tags_json : "[]", 0, NULL);
	pos_arena_destroy(a);
	return t;
}

static void test_memory_created_hook_as_job(void **state)
{
	struct fx *f = *state;
	struct pos_plugins *p = manager(f, "tests/data/plugins");
	install(p, f->alice, "{\"id\":\"probe\",\"grant\":[\"memories:read\",\"memories:write\"],"
			     "\"settings\":{\"label\":\"fitness\"}}");
	char id[POS_UUID_SIZE], bob_id[POS_UUID_SIZE];
	create(f, f->alice, "{\"content\":\"leg day at the gym\"}", id);
	create(f, f->bob, "{\"content\":\"gym with friends\"}", bob_id);
	pos_plugins_memory_event(p, f->alice, POS_HOOK_MEMORY_CREATED, id);
	pos_plugins_memory_event(p, f->bob, POS_HOOK_MEMORY_CREATED, bob_id); /* no install: nothing */
	pos_plugins_memory_event(p, f->alice, POS_HOOK_QUERY, id);            /* no catalog plugin: nothing */
	assert_int_equal(json_array_size(f->queued), 1);
	run_jobs(f, p);
	json_t *list = NULL;
	struct pos_error err;
	assert_int_equal(pos_plugins_list(p, f->alice, &list, &err), POS_OK);
	const char *le = json_string_value(json_object_get(json_array_get(list, 0), "last_error"));
	if (le)
		fail_msg("probe failed: %s", le);
	json_decref(list);
	json_t *t = tags_of(f, f->alice, id);
	char *s = json_dumps(t, JSON_COMPACT);
	assert_string_equal(s, "[\"fitness\"]");
	free(s);
	json_decref(t);
	t = tags_of(f, f->bob, bob_id);
	assert_int_equal(json_array_size(t), 0);
	json_decref(t);
	/* A job for a memory that is gone, or of another user, does nothing. */
	char payload[200];
	snprintf(payload, sizeof(payload), "{\"plugin\":\"probe\",\"hook\":\"on_memory_created\",\"memory_id\":\"%s\"}",
		 bob_id);
	assert_int_equal(pos_plugins_job_run_for_test(p, f->alice, payload), POS_OK);
	t = tags_of(f, f->bob, bob_id);
	assert_int_equal(json_array_size(t), 0);
	json_decref(t);
	assert_int_equal(pos_plugins_job_run_for_test(p, f->alice, "{\"plugin\":\"x\"}"), POS_ERR_INVALID_FIELD);
	pos_plugins_free(p);
}

/* ---- on_memory_creating: tags before the insert ---- */

static void creating_cb(void *ctx, const char *user, const struct pos_memory *v, size_t n, json_t **add)
{
	pos_plugins_memory_creating(ctx, user, v, n, add);
}

static void assert_tags(struct fx *f, const char *user, const char *id, const char *want)
{
	json_t *t = tags_of(f, user, id);
	char *s = json_dumps(t, JSON_COMPACT);
	assert_string_equal(s, want);
	free(s);
	json_decref(t);
}

static void test_creating_stage(void **state)
{
	struct fx *f = *state;
	struct pos_plugins *p = manager(f, "plugins");
	f->svc.creating = creating_cb;
	f->svc.creating_ctx = p;
	install(p, f->alice, "{\"id\":\"auto-tagger\",\"grant\":[\"memories:read\",\"memories:write\",\"kv\"],"
			     "\"settings\":{\"rules\":\"fitness: gym\"}}");
	/* A bulk create: the tags are stored with the rows, no job queued. */
	struct pos_arena *a = pos_arena_new();
	json_t *body = json_loads("{\"memories\":[{\"content\":\"gym at six\",\"tags\":[\"morning\"]},"
				  "{\"content\":\"a quiet day\"},{\"content\":\"the gym again\"}]}", 0, NULL);
	struct pos_memory *v = NULL;
	size_t n = 0;
	struct pos_error err;
	assert_int_equal(pos_memory_bulk(&f->svc, a, f->alice, body, &v, &n, &err), POS_OK);
	assert_int_equal(n, 3);
	assert_tags(f, f->alice, v[0].id, "[\"morning\",\"fitness\"]");
	assert_tags(f, f->alice, v[1].id, "[]");
	assert_tags(f, f->alice, v[2].id, "[\"fitness\"]");
	assert_int_equal(json_array_size(f->queued), 0);
	/* The tag index has them too (a tag filter finds the rows). */
	struct pos_memory_query q;
	memset(&q, 0, sizeof(q));
	q.type = q.layer = -1;
	q.after = q.before = POS_TIME_NONE;
	q.user_id = f->alice;
	const char *want[] = {"fitness"};
	q.tags = want;
	q.n_tags = 1;
	q.limit = 10;
	struct pos_memory *got = NULL;
	size_t ng = 0;
	int64_t total = 0;
	assert_int_equal(pos_memory_list(&f->svc, a, &q, &got, &ng, &total), POS_OK);
	assert_int_equal(ng, 2);
	json_decref(body);
	pos_arena_destroy(a);
	/* A single create too, with the vocabulary learned from the bulk
	 * ("morning"); another user's memories are not touched. */
	char id[POS_UUID_SIZE];
	create(f, f->alice, "{\"content\":\"a morning at the gym\"}", id);
	assert_tags(f, f->alice, id, "[\"morning\",\"fitness\"]");
	create(f, f->bob, "{\"content\":\"gym with friends\"}", id);
	assert_tags(f, f->bob, id, "[]");
	/* Disabled: no tags. */
	json_t *patch = json_loads("{\"enabled\":false}", 0, NULL), *out = NULL;
	assert_int_equal(pos_plugins_update(p, f->alice, "auto-tagger", patch, &out, &err), POS_OK);
	json_decref(patch);
	json_decref(out);
	create(f, f->alice, "{\"content\":\"gym\"}", id);
	assert_tags(f, f->alice, id, "[]");
	f->svc.creating = NULL;
	pos_plugins_free(p);
}

/* The memories of one bulk share the event tables (overwritten per
 * memory): each call still sees only its own memory's fields, whatever
 * the call before it did to the event. */
static void test_creating_batch_events(void **state)
{
	struct fx *f = *state;
	struct pos_plugins *p = manager(f, "tests/data/plugins");
	f->svc.creating = creating_cb;
	f->svc.creating_ctx = p;
	install(p, f->alice, "{\"id\":\"probe\",\"grant\":[\"memories:read\",\"memories:write\"]}");
	for (int round = 0; round < 2; round++) { /* the second in a pooled state */
		struct pos_arena *a = pos_arena_new();
		json_t *body = json_loads(
			"{\"memories\":[{\"content\":\"creating batch one\",\"tags\":[\"a\"],\"metadata\":{\"k\":\"v1\"}},"
			"{\"content\":\"creating batch two\"},"
			"{\"content\":\"creating batch three\",\"tags\":[\"b\",\"c\"],\"metadata\":{\"k\":\"v3\"}}]}",
			0, NULL);
		struct pos_memory *v = NULL;
		size_t n = 0;
		struct pos_error err;
		assert_int_equal(pos_memory_bulk(&f->svc, a, f->alice, body, &v, &n, &err), POS_OK);
		assert_int_equal(n, 3);
		assert_tags(f, f->alice, v[0].id, "[\"a\",\"c=one\",\"n=1\",\"meta=v1\",\"id=new\",\"q=\\\"one\\\"\\\\\u00e9\"]");
		assert_tags(f, f->alice, v[1].id, "[\"c=two\",\"n=0\",\"meta=nil\",\"id=new\",\"q=\\\"two\\\"\\\\\u00e9\"]");
		assert_tags(f, f->alice, v[2].id, "[\"b\",\"c\",\"c=three\",\"n=2\",\"meta=v3\",\"id=new\",\"q=\\\"three\\\"\\\\\u00e9\"]");
		assert_int_equal(v[1].type, POS_TYPE_NOTE);
		json_decref(body);
		pos_arena_destroy(a);
	}
	json_t *list = NULL;
	struct pos_error err;
	assert_int_equal(pos_plugins_list(p, f->alice, &list, &err), POS_OK);
	assert_null(json_string_value(json_object_get(json_array_get(list, 0), "last_error")));
	json_decref(list);
	f->svc.creating = NULL;
	pos_plugins_free(p);
}

static size_t count_memories(struct fx *f, const char *user)
{
	struct pos_arena *a = pos_arena_new();
	struct pos_memory_query q;
	memset(&q, 0, sizeof(q));
	q.type = q.layer = -1;
	q.after = q.before = POS_TIME_NONE;
	q.user_id = user;
	q.limit = 100;
	struct pos_memory *got = NULL;
	size_t n = 0;
	int64_t total = 0;
	assert_int_equal(pos_memory_list(&f->svc, a, &q, &got, &n, &total), POS_OK);
	pos_arena_destroy(a);
	return n;
}

static void test_creating_refusals(void **state)
{
	struct fx *f = *state;
	struct pos_plugins *p = manager(f, "tests/data/plugins");
	f->svc.creating = creating_cb;
	f->svc.creating_ctx = p;
	install(p, f->alice, "{\"id\":\"probe\",\"grant\":[\"memories:read\",\"memories:write\"]}");
	/* Writes and search are refused in the stage (no memory created
	 * from inside a create); bad tags the plugin returns are dropped. */
	char id[POS_UUID_SIZE];
	create(f, f->alice, "{\"content\":\"creating one\"}", id);
	assert_tags(f, f->alice, id, "[\"probed\",\"create-refused\",\"tag-refused\",\"search-refused\"]");
	assert_int_equal(count_memories(f, f->alice), 1);
	/* A failing plugin: the memory is stored without its tags, the
	 * failure is recorded. */
	create(f, f->alice, "{\"content\":\"creating boom\"}", id);
	assert_tags(f, f->alice, id, "[]");
	json_t *list = NULL;
	struct pos_error err;
	assert_int_equal(pos_plugins_list(p, f->alice, &list, &err), POS_OK);
	json_t *c = json_array_get(list, 0);
	assert_int_equal(json_integer_value(json_object_get(c, "failures")), 1);
	assert_non_null(strstr(json_string_value(json_object_get(c, "last_error")), "boom before the insert"));
	json_decref(list);
	/* The event is the memory as it will be stored (a Lua table made
	 * from the record): its fields, tags and metadata. */
	create(f, f->alice, "{\"content\":\"creating event\",\"tags\":[\"a\",\"b\"],"
			    "\"metadata\":{\"k\":\"v\"}}", id);
	assert_tags(f, f->alice, id, "[\"a\",\"b\",\"type=note\",\"layer=active\",\"source=api\","
				     "\"tags=a+b\",\"meta=v\",\"id=ok\",\"at=ok\",\"importance=0.5\",\"n=2\"]");
	/* Content it does not handle: nothing added. */
	create(f, f->alice, "{\"content\":\"plain\",\"tags\":[\"mine\"]}", id);
	assert_tags(f, f->alice, id, "[\"mine\"]");
	f->svc.creating = NULL;
	pos_plugins_free(p);
}

static void test_failures_disable(void **state)
{
	struct fx *f = *state;
	struct pos_plugins *p = manager(f, "tests/data/plugins");
	install(p, f->alice, "{\"id\":\"crasher\",\"grant\":[]}");
	char id[POS_UUID_SIZE];
	create(f, f->alice, "{\"content\":\"x\"}", id);
	for (int i = 0; i < 2; i++)
		pos_plugins_memory_event(p, f->alice, POS_HOOK_MEMORY_CREATED, id);
	pos_plugins_memory_event(p, f->alice, POS_HOOK_MEMORY_ACCESSED, id);
	assert_int_equal(json_array_size(f->queued), 3);
	run_jobs(f, p);
	json_t *list = NULL;
	struct pos_error err;
	assert_int_equal(pos_plugins_list(p, f->alice, &list, &err), POS_OK);
	json_t *c = json_array_get(list, 0);
	assert_string_equal(json_string_value(json_object_get(c, "status")), "disabled");
	assert_false(json_is_true(json_object_get(c, "enabled")));
	assert_non_null(strstr(json_string_value(json_object_get(c, "last_error")), "time budget"));
	json_decref(list);
	/* Disabled: no more jobs queued for it. */
	pos_plugins_memory_event(p, f->alice, POS_HOOK_MEMORY_CREATED, id);
	assert_int_equal(json_array_size(f->queued), 0);
	/* An unknown catalog folder is an empty catalog. */
	struct pos_plugins *q = manager(f, "no/such/dir");
	json_t *avail = NULL;
	assert_int_equal(pos_plugins_available(q, &avail), POS_OK);
	assert_int_equal(json_array_size(avail), 0);
	json_decref(avail);
	pos_plugins_free(q);
	pos_plugins_free(p);
}

/* ---- pooled sandboxes and batched hooks ---- */

static struct pos_plugins *pooled(struct fx *f, size_t pool_max)
{
	struct pos_plugins_config cfg = {.dir = "tests/data/plugins", .store = f->s, .mem = &f->svc,
					 .max_failures = 3, .mem_max = 2u << 20, .pool_max = pool_max,
					 .enqueue = capture, .enqueue_ctx = f};
	struct pos_plugins *p = NULL;
	assert_int_equal(pos_plugins_new(&cfg, &p), POS_OK);
	return p;
}

/* Runs probe's on_user_action(action) for user; the result (new ref). */
static json_t *act(struct pos_plugins *p, const char *user, const char *action)
{
	json_t *ev = json_pack("{s:s}", "action", action);
	json_t *res = NULL;
	struct pos_error err;
	pos_error_clear(&err);
	if (pos_plugins_run(p, user, "probe", POS_HOOK_USER_ACTION, ev, &res, &err))
		fail_msg("probe %s: %s", action, err.message);
	json_decref(ev);
	return res;
}

static long long calls_of(json_t *r)
{
	return (long long)json_integer_value(json_object_get(r, "calls"));
}

static size_t idle_states(struct pos_plugins *p)
{
	size_t n = 0, bytes = 0;
	pos_plugins_pool_stats(p, &n, &bytes);
	return n;
}

static void test_pool_reuse_isolated(void **state)
{
	struct fx *f = *state;
	struct pos_plugins *p = pooled(f, 8);
	const char *grant = "{\"id\":\"probe\",\"grant\":[\"memories:read\",\"memories:write\"]}";
	install(p, f->alice, grant);
	install(p, f->bob, grant);
	json_t *r = act(p, f->alice, "a1");
	assert_int_equal(calls_of(r), 1);
	assert_null(json_object_get(r, "global_before"));
	json_decref(r);
	assert_int_equal(idle_states(p), 1);
	/* The same sandbox again (its module counter went on), but the global
	 * the first call set is gone. */
	r = act(p, f->alice, "a2");
	assert_int_equal(calls_of(r), 2);
	assert_null(json_object_get(r, "global_before"));
	assert_string_equal(json_string_value(json_object_get(r, "mark_before")), "a1");
	json_decref(r);
	/* Another user never gets alice's sandbox. */
	r = act(p, f->bob, "b1");
	assert_int_equal(calls_of(r), 1);
	assert_null(json_object_get(r, "global_before"));
	assert_null(json_object_get(r, "mark_before"));
	json_decref(r);
	assert_int_equal(idle_states(p), 2);
	/* A settings change: a new sandbox with the new settings. */
	json_t *body = json_loads("{\"settings\":{\"label\":\"seen\"}}", 0, NULL);
	json_t *out = NULL;
	struct pos_error err;
	assert_int_equal(pos_plugins_update(p, f->alice, "probe", body, &out, &err), POS_OK);
	json_decref(out);
	json_decref(body);
	assert_int_equal(idle_states(p), 1); /* alice's was dropped */
	r = act(p, f->alice, "a3");
	assert_int_equal(calls_of(r), 1);
	assert_string_equal(json_string_value(json_object_get(r, "label")), "seen");
	assert_null(json_object_get(r, "mark_before"));
	json_decref(r);
	/* A failed call's sandbox is not kept: the next call starts afresh. */
	char id[POS_UUID_SIZE];
	create(f, f->alice, "{\"content\":\"boom here\"}", id);
	char payload[200];
	snprintf(payload, sizeof(payload), "{\"plugin\":\"probe\",\"hook\":\"on_memory_created\",\"memory_id\":\"%s\"}", id);
	assert_int_equal(pos_plugins_job_run_for_test(p, f->alice, payload), POS_OK);
	r = act(p, f->alice, "a4");
	assert_int_equal(calls_of(r), 1);
	json_decref(r);
	/* A sandbox that hit its memory cap is discarded too. */
	r = act(p, f->alice, "a5");
	assert_int_equal(calls_of(r), 2);
	json_decref(r);
	create(f, f->alice, "{\"content\":\"a bomb\"}", id);
	snprintf(payload, sizeof(payload), "{\"plugin\":\"probe\",\"hook\":\"on_memory_created\",\"memory_id\":\"%s\"}", id);
	assert_int_equal(pos_plugins_job_run_for_test(p, f->alice, payload), POS_OK);
	json_t *list = NULL;
	assert_int_equal(pos_plugins_list(p, f->alice, &list, &err), POS_OK);
	assert_non_null(strstr(json_string_value(json_object_get(json_array_get(list, 0), "last_error")),
			       "memory limit"));
	json_decref(list);
	r = act(p, f->alice, "a6");
	assert_int_equal(calls_of(r), 1);
	json_decref(r);
	/* Uninstall drops the pair's sandboxes. */
	assert_int_equal(idle_states(p), 2);
	assert_int_equal(pos_plugins_remove(p, f->bob, "probe", &err), POS_OK);
	assert_int_equal(idle_states(p), 1);
	pos_plugins_free(p);
	/* Pooling off: every call builds its own sandbox. */
	p = pooled(f, 0);
	r = act(p, f->alice, "c1");
	assert_int_equal(calls_of(r), 1);
	json_decref(r);
	r = act(p, f->alice, "c2");
	assert_int_equal(calls_of(r), 1);
	json_decref(r);
	assert_int_equal(idle_states(p), 0);
	pos_plugins_free(p);
}

struct racer {
	struct pos_plugins *p;
	const char *user;
	int bad;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	for (int i = 0; i < 40; i++) {
		json_t *ev = json_pack("{s:s}", "action", r->user);
		json_t *res = NULL;
		struct pos_error err;
		pos_error_clear(&err);
		if (pos_plugins_run(r->p, r->user, "probe", POS_HOOK_USER_ACTION, ev, &res, &err) ||
		    json_object_get(res, "global_before") ||
		    /* a reused sandbox never saw another user's call */
		    (json_is_string(json_object_get(res, "mark_before")) &&
		     strcmp(json_string_value(json_object_get(res, "mark_before")), r->user) != 0))
			r->bad++;
		json_decref(res);
		json_decref(ev);
	}
	return NULL;
}

/* Job workers run hooks at once: the pool hands a sandbox to one call at a
 * time and never across users. */
static void test_pool_threads(void **state)
{
	struct fx *f = *state;
	struct pos_plugins *p = pooled(f, 3);
	const char *grant = "{\"id\":\"probe\",\"grant\":[\"memories:read\",\"memories:write\"]}";
	install(p, f->alice, grant);
	install(p, f->bob, grant);
	struct racer rs[4] = {{p, f->alice, 0}, {p, f->bob, 0}, {p, f->alice, 0}, {p, f->bob, 0}};
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, race, &rs[i]), 0);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(rs[i].bad, 0);
	}
	assert_true(idle_states(p) <= 3);
	pos_plugins_free(p);
}

static void test_batch_job(void **state)
{
	struct fx *f = *state;
	struct pos_plugins *p = pooled(f, 0); /* the batch holds its sandbox itself */
	install(p, f->alice, "{\"id\":\"probe\",\"grant\":[\"memories:read\",\"memories:write\"]}");
	/* A bulk create: one job for the batch, naming the plugin. */
	struct pos_arena *a = pos_arena_new();
	json_t *body = json_loads("{\"memories\":[{\"content\":\"one\"},{\"content\":\"boom two\"},"
				  "{\"content\":\"three\"}]}", 0, NULL);
	struct pos_memory *v = NULL;
	size_t n = 0;
	struct pos_error err;
	assert_int_equal(pos_memory_bulk(&f->svc, a, f->alice, body, &v, &n, &err), POS_OK);
	assert_int_equal(n, 3);
	const char *ids[3] = {v[0].id, v[1].id, v[2].id};
	pos_plugins_memory_batch(p, f->alice, POS_HOOK_MEMORY_CREATED, ids, 3);
	pos_plugins_memory_batch(p, f->bob, POS_HOOK_MEMORY_CREATED, ids, 3); /* no install */
	assert_int_equal(json_array_size(f->queued), 1);
	json_t *pl = json_loads(json_string_value(json_object_get(json_array_get(f->queued, 0), "payload")), 0, NULL);
	assert_int_equal(json_array_size(json_object_get(pl, "memory_ids")), 3);
	assert_string_equal(json_string_value(json_array_get(json_object_get(pl, "plugins"), 0)), "probe");
	json_decref(pl);
	run_jobs(f, p);
	/* The failing memory is counted; the others were still tagged. */
	for (int i = 0; i < 3; i++) {
		json_t *t = tags_of(f, f->alice, ids[i]);
		assert_int_equal(json_array_size(t), i == 1 ? 0 : 1);
		json_decref(t);
	}
	json_t *list = NULL;
	assert_int_equal(pos_plugins_list(p, f->alice, &list, &err), POS_OK);
	json_t *c = json_array_get(list, 0);
	assert_int_equal(json_integer_value(json_object_get(c, "failures")), 0); /* reset by the later success */
	assert_non_null(strstr(json_string_value(json_object_get(c, "last_error")), "boom on purpose"));
	json_decref(list);
	/* Too many ids in one job: refused. */
	json_t *many = json_array();
	for (int i = 0; i <= POS_PLUGINS_BATCH_MAX; i++)
		json_array_append_new(many, json_string(ids[0]));
	json_t *big = json_pack("{s:s, s:o, s:[s]}", "hook", "on_memory_created", "memory_ids", many,
				"plugins", "probe");
	char *text = json_dumps(big, JSON_COMPACT);
	assert_int_equal(pos_plugins_job_run_for_test(p, f->alice, text), POS_ERR_INVALID_FIELD);
	free(text);
	json_decref(big);
	/* 2,500 ids: three jobs of at most 1,000. */
	const char **lots = calloc(2500, sizeof(*lots));
	for (int i = 0; i < 2500; i++)
		lots[i] = ids[0];
	pos_plugins_memory_batch(p, f->alice, POS_HOOK_MEMORY_CREATED, lots, 2500);
	free(lots);
	assert_int_equal(json_array_size(f->queued), 3);
	json_array_clear(f->queued);
	json_decref(body);
	pos_arena_destroy(a);
	pos_plugins_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_memory_created_hook_as_job, setup, teardown),
		cmocka_unit_test_setup_teardown(test_creating_stage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_creating_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_creating_batch_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failures_disable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_reuse_isolated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_job, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_threads, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
