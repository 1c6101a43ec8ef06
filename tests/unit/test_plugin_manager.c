/*
 * Unit tests for src/plugins/plugins (the manager) over a real SQLite
 * store: installs, the memory hooks queued as jobs and run by the job's
 * function, isolation between users, failure counting and auto-disable,
 * uninstall removing kv data. Runs from the repository root (catalogs
 * plugins/ and tests/data/plugins/).
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
	struct pos_plugins *p = manager(f, "plugins");
	install(p, f->alice, "{\"id\":\"auto-tagger\",\"grant\":[\"memories:read\",\"memories:write\",\"kv\"],"
			     "\"settings\":{\"rules\":\"fitness: gym\"}}");
	char id[POS_UUID_SIZE], bob_id[POS_UUID_SIZE];
	create(f, f->alice, "{\"content\":\"leg day at the gym\"}", id);
	create(f, f->bob, "{\"content\":\"gym with friends\"}", bob_id);
	pos_plugins_memory_event(p, f->alice, POS_HOOK_MEMORY_CREATED, id);
	pos_plugins_memory_event(p, f->bob, POS_HOOK_MEMORY_CREATED, bob_id); /* no install: nothing */
	pos_plugins_memory_event(p, f->alice, POS_HOOK_USER_ACTION, id);      /* no catalog plugin: nothing */
	assert_int_equal(json_array_size(f->queued), 1);
	run_jobs(f, p);
	json_t *list = NULL;
	struct pos_error err;
	assert_int_equal(pos_plugins_list(p, f->alice, &list, &err), POS_OK);
	const char *le = json_string_value(json_object_get(json_array_get(list, 0), "last_error"));
	if (le)
		fail_msg("auto-tagger failed: %s", le);
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
	snprintf(payload, sizeof(payload), "{\"plugin\":\"auto-tagger\",\"hook\":\"on_memory_created\",\"memory_id\":\"%s\"}",
		 bob_id);
	assert_int_equal(pos_plugins_job_run_for_test(p, f->alice, payload), POS_OK);
	t = tags_of(f, f->bob, bob_id);
	assert_int_equal(json_array_size(t), 0);
	json_decref(t);
	assert_int_equal(pos_plugins_job_run_for_test(p, f->alice, "{\"plugin\":\"x\"}"), POS_ERR_INVALID_FIELD);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_memory_created_hook_as_job, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failures_disable, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
