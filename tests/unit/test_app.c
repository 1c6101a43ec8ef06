/* test_app.c — struct pos_app: built in one place, torn down in one place,
 * and a failed start leaves nothing behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app/app.h"
#include "base/clock.h"
#include "crypto/crypto.h"
#include "embed/openai.h"
#include "files/files.h"
#include "memory/memory.h"

static void tmpdir(char *out, size_t cap)
{
	const char *base = getenv("POS_TEST_TMP");
	if (base)
		mkdir(base, 0700);
	snprintf(out, cap, "%s/app_XXXXXX", base ? base : "/tmp");
	assert_non_null(mkdtemp(out));
}

static bool all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* Every service is built and wired to the same store; stop zeroes it all. */
static void starts_and_stops(void **state)
{
	(void)state;
	struct pos_config cfg;
	pos_config_defaults(&cfg);
	tmpdir(cfg.data_dir, sizeof(cfg.data_dir));
	struct pos_app app;
	struct pos_error err;
	pos_error_clear(&err);
	assert_int_equal(pos_app_start(&app, &cfg, &err), POS_OK);
	assert_ptr_equal(app.cfg, &cfg);
	assert_non_null(app.store);
	assert_non_null(app.search);
	assert_non_null(app.sync);
	assert_non_null(app.store->crypt); /* the encryption layer is on top */
	assert_ptr_equal(app.mem.store, app.store);
	assert_ptr_equal(app.mem.search, app.search);
	assert_ptr_equal(app.accounts.store, app.store);
	assert_ptr_equal(app.accounts.search, app.search);
	pos_app_quiesce(&app);
	pos_app_quiesce(&app); /* idempotent */
	pos_app_stop(&app);
	assert_true(all_zero(&app, sizeof(app)));
	pos_app_stop(&app); /* safe when stopped */
}

/* A bad setting fails the start before the store is opened. */
static void bad_setting_opens_nothing(void **state)
{
	(void)state;
	struct pos_config cfg;
	pos_config_defaults(&cfg);
	tmpdir(cfg.data_dir, sizeof(cfg.data_dir));
	snprintf(cfg.embed_url, sizeof(cfg.embed_url), "http://127.0.0.1:9/v1");
	cfg.embed_model[0] = '\0';
	struct pos_app app;
	struct pos_error err;
	pos_error_clear(&err);
	assert_int_equal(pos_app_start(&app, &cfg, &err), POS_ERR_USAGE);
	assert_string_equal(err.field, "embed_model");
	assert_true(all_zero(&app, sizeof(app)));
	char db[sizeof(cfg.data_dir) + 32];
	snprintf(db, sizeof(db), "%s/personalos.db", cfg.data_dir);
	struct stat st;
	assert_int_not_equal(stat(db, &st), 0);
}

/* A store that cannot open fails the start with everything torn down. */
static void store_failure_tears_down(void **state)
{
	(void)state;
	struct pos_config cfg;
	pos_config_defaults(&cfg);
	char dir[256];
	tmpdir(dir, sizeof(dir));
	/* a file where the data directory should be */
	snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s/file", dir);
	FILE *f = fopen(cfg.data_dir, "w");
	assert_non_null(f);
	fclose(f);
	struct pos_app app;
	struct pos_error err;
	pos_error_clear(&err);
	assert_int_not_equal(pos_app_start(&app, &cfg, &err), POS_OK);
	assert_int_not_equal(err.code, POS_OK);
	assert_true(all_zero(&app, sizeof(app)));
}

/* Stops at its `*limit`-th question (counting down). */
static bool stop_at(void *ctx)
{
	unsigned *left = ctx;
	return *left == 0 || --*left == 0;
}

/* The start-up pass over a user's mail (files.adopt) stops between pages
 * when asked, saying where it stopped, and a pass from there finishes: a
 * shutdown does not wait for a pass over a large store, and the job's
 * checkpoint is not lost (docs/OPERATIONS.md, "Stopping"). */
static void adoption_pass_stops_between_pages_and_resumes(void **state)
{
	(void)state;
	struct pos_config cfg;
	pos_config_defaults(&cfg);
	tmpdir(cfg.data_dir, sizeof(cfg.data_dir));
	struct pos_app app;
	struct pos_error err;
	pos_error_clear(&err);
	assert_int_equal(pos_app_start(&app, &cfg, &err), POS_OK);
	struct pos_user u = {0};
	assert_true(pos_uuid_new(u.id));
	u.email = "mail@example.org";
	u.password_hash = "x";
	u.privacy_tier = "local";
	u.plan = "free";
	u.persona_json = "{}";
	u.settings_json = "{}";
	u.created_at = pos_now_us();
	u.last_login_at = POS_TIME_NONE;
	assert_int_equal(app.store->accounts->user_register(app.store, &u, NULL, true, 0), POS_OK);
	json_t *list = json_array();
	for (int i = 0; i < 450; i++) {
		char text[64];
		snprintf(text, sizeof(text), "a letter about the garden, number %d", i);
		json_array_append_new(list, json_pack("{s:s, s:s}", "content", text, "type", "email"));
	}
	json_t *body = json_pack("{s:o}", "memories", list);
	struct pos_arena *a = pos_arena_new();
	struct pos_memory *made;
	size_t n;
	assert_int_equal(pos_memory_bulk(&app.mem, a, u.id, body, &made, &n, &err), POS_OK);
	assert_int_equal(n, 450);
	int64_t seq200 = made[199].seq, seq450 = made[449].seq;
	assert_true(seq200 > 0 && seq450 > seq200);
	json_decref(body);
	pos_arena_destroy(a);
	/* asked to stop before the second page: one page done */
	int64_t after = 0;
	unsigned left = 2;
	assert_int_equal(pos_files_adopt_user(&app.files, u.id, &after, stop_at, &left, NULL),
			 POS_ERR_UNAVAILABLE);
	assert_int_equal(after, seq200);
	/* from there, to the end */
	assert_int_equal(pos_files_adopt_user(&app.files, u.id, &after, NULL, NULL, NULL), POS_OK);
	assert_int_equal(after, seq450);
	/* asked at once: nothing read, the place kept */
	after = 0;
	left = 1;
	assert_int_equal(pos_files_adopt_user(&app.files, u.id, &after, stop_at, &left, NULL),
			 POS_ERR_UNAVAILABLE);
	assert_int_equal(after, 0);
	pos_app_quiesce(&app);
	pos_app_stop(&app);
}

int main(void)
{
	if (pos_crypto_init() || pos_embed_openai_global_init())
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(starts_and_stops),
		cmocka_unit_test(bad_setting_opens_nothing),
		cmocka_unit_test(store_failure_tears_down),
		cmocka_unit_test(adoption_pass_stops_between_pages_and_resumes),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	pos_embed_openai_global_cleanup();
	return rc;
}
