/* Unit tests for src/base: buffers, arenas, time, UUIDs, JSON (config: test_config.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/thread.h"
#include "base/uuid.h"


static void buf_caps_and_keeps_content(void **state)
{
	struct pos_buf b;
	pos_buf_init(&b, 10);
	assert_int_equal(pos_buf_adds(&b, "hello"), POS_OK);
	assert_int_equal(pos_buf_addf(&b, "%d", 1234), POS_OK);
	assert_string_equal(b.data, "hello1234");
	/* over the cap: refused, content untouched */
	assert_int_equal(pos_buf_adds(&b, "xy"), POS_ERR_BODY_TOO_LARGE);
	assert_string_equal(b.data, "hello1234");
	assert_int_equal(pos_buf_addc(&b, '!'), POS_OK);
	assert_int_equal(b.len, 10);
	/* embedded NUL is kept */
	pos_buf_reset(&b);
	assert_int_equal(pos_buf_add(&b, "a\0b", 3), POS_OK);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, "a\0b", 3);
	pos_buf_free(&b);
}

static void buf_addf_long(void **state)
{
	struct pos_buf b;
	pos_buf_init(&b, 100000);
	char big[1000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(pos_buf_addf(&b, "<%s>", big), POS_OK);
	assert_int_equal(b.len, 1001);
	assert_int_equal(b.data[0], '<');
	assert_int_equal(b.data[1000], '>');
	pos_buf_free(&b);
}

static void buf_oom_leaves_buffer(void **state)
{
	struct pos_buf b;
	pos_buf_init(&b, 1 << 20);
	assert_int_equal(pos_buf_adds(&b, "abc"), POS_OK);
	pos_alloc_fail_after(1);
	char big[512];
	memset(big, 'y', sizeof(big));
	assert_int_equal(pos_buf_add(&b, big, sizeof(big)), POS_ERR_NOMEM);
	assert_string_equal(b.data, "abc");
	pos_alloc_fail_after(0);
	pos_buf_free(&b);
}

static int cleanup_calls;
static void count_cleanup(void *p)
{
	cleanup_calls += *(int *)p;
}

static void arena_allocates_and_cleans(void **state)
{
	struct pos_arena *a = pos_arena_new();
	assert_non_null(a);
	for (int i = 0; i < 1000; i++) {
		char *p = pos_arena_alloc(a, 100);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % 16, 0);
		memset(p, 1, 100);
	}
	char *big = pos_arena_alloc(a, 1 << 20); /* oversized block */
	assert_non_null(big);
	memset(big, 2, 1 << 20);
	char *s = pos_arena_strndup(a, "hello world", 5);
	assert_string_equal(s, "hello");
	static int one = 1, ten = 10;
	cleanup_calls = 0;
	assert_int_equal(pos_arena_on_cleanup(a, count_cleanup, &one), 0);
	assert_int_equal(pos_arena_on_cleanup(a, count_cleanup, &ten), 0);
	pos_arena_destroy(a);
	assert_int_equal(cleanup_calls, 11);
}

static void time_round_trips(void **state)
{
	int64_t t;
	char out[POS_TIME_FMT_LEN];
	assert_true(pos_time_parse("2026-11-24T09:30:00Z", 20, false, &t));
	pos_time_format(t, out, sizeof(out));
	assert_string_equal(out, "2026-11-24T09:30:00Z");
	assert_true(pos_time_parse("2026-11-24T11:30:00.5+02:00", 27, false, &t));
	pos_time_format(t, out, sizeof(out));
	assert_string_equal(out, "2026-11-24T09:30:00.500000Z");
	assert_true(pos_time_parse("1969-12-31T23:59:59Z", 20, false, &t));
	assert_int_equal(t, -1000000);
	pos_time_format(t, out, sizeof(out));
	assert_string_equal(out, "1969-12-31T23:59:59Z");
	assert_true(pos_time_parse("2024-02-29", 10, true, &t));
	assert_false(pos_time_parse("2024-02-29", 10, false, &t));
	assert_false(pos_time_parse("2023-02-29", 10, true, &t));
	assert_false(pos_time_parse("2026-13-01T00:00:00Z", 20, false, &t));
	assert_false(pos_time_parse("2026-11-24T24:00:00Z", 20, false, &t));
	assert_false(pos_time_parse("2026-11-24T09:30:00", 19, false, &t));
	assert_false(pos_time_parse("yesterday", 9, true, &t));
	assert_false(pos_time_parse("2026-11-24T09:30:00Zjunk", 24, false, &t));
}

static void uuid_generate_and_validate(void **state)
{
	char a[POS_UUID_SIZE], b[POS_UUID_SIZE], norm[POS_UUID_SIZE];
	assert_true(pos_uuid_new(a));
	assert_true(pos_uuid_new(b));
	assert_string_not_equal(a, b);
	assert_int_equal(strlen(a), 36);
	assert_int_equal(a[14], '4');
	assert_true(pos_uuid_valid(a, 36, NULL));
	assert_true(pos_uuid_valid("ABCDEF01-2345-4789-8bcd-ef0123456789", 36, norm));
	assert_string_equal(norm, "abcdef01-2345-4789-8bcd-ef0123456789");
	assert_false(pos_uuid_valid("abcdef01-2345-4789-8bcd-ef012345678", 35, NULL));
	assert_false(pos_uuid_valid("abcdef01x2345-4789-8bcd-ef0123456789", 36, NULL));
	assert_false(pos_uuid_valid("ghijkl01-2345-4789-8bcd-ef0123456789", 36, NULL));
	/* v7: version nibble 7, and later ids sort after earlier ones */
	char v1[POS_UUID_SIZE], v2[POS_UUID_SIZE];
	assert_true(pos_uuid_new_v7(v1, 1700000000000000));
	assert_true(pos_uuid_new_v7(v2, 1700000000001000));
	assert_int_equal(v1[14], '7');
	assert_true(pos_uuid_valid(v1, 36, NULL));
	assert_true(strcmp(v1, v2) < 0);
	assert_memory_equal(v1, "018bcfe5-6800", 13);
	unsigned char bytes[16];
	pos_uuid_to_bytes(a, bytes);
	pos_uuid_from_bytes(bytes, norm);
	assert_string_equal(a, norm);
}

static void json_parse_limits(void **state)
{
	struct pos_error e;
	pos_error_clear(&e);
	json_t *v = pos_json_parse("{\"a\":[1,2]}", 11, &e);
	assert_non_null(v);
	assert_int_equal(pos_json_depth(v, 100), 2);
	json_decref(v);
	assert_null(pos_json_parse("{\"a\":", 5, &e));
	assert_int_equal(e.code, POS_ERR_INVALID_JSON);
	assert_null(pos_json_parse("\"a\\u0000b\"", 10, &e));
	assert_null(pos_json_parse("\"\xff\"", 3, &e));
	char deep[200];
	memset(deep, '[', 100);
	memset(deep + 100, ']', 100);
	assert_null(pos_json_parse(deep, 200, &e));
	assert_int_equal(e.code, POS_ERR_INVALID_JSON);
	/* brackets inside strings do not count as nesting */
	char s[210] = "\"";
	memset(s + 1, '[', 200);
	s[201] = '"';
	v = pos_json_parse(s, 202, &e);
	assert_non_null(v);
	json_decref(v);
}

static void json_writer_output(void **state)
{
	struct pos_buf b;
	pos_buf_init(&b, 4096);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_jw_obj(&w);
	pos_jw_kstr(&w, "s", "a\"b\\c\n\x01");
	pos_jw_kint(&w, "i", -42);
	pos_jw_key(&w, "d");
	pos_jw_double(&w, 0.7);
	pos_jw_key(&w, "one");
	pos_jw_double(&w, 1.0);
	pos_jw_key(&w, "arr");
	pos_jw_arr(&w);
	pos_jw_bool(&w, true);
	pos_jw_null(&w);
	pos_jw_raw(&w, "{\"x\":1}", 7);
	pos_jw_arr_end(&w);
	pos_jw_ktime(&w, "t", POS_TIME_NONE);
	pos_jw_obj_end(&w);
	assert_int_equal(w.rc, POS_OK);
	assert_string_equal(b.data,
		"{\"s\":\"a\\\"b\\\\c\\n\\u0001\",\"i\":-42,\"d\":0.7,\"one\":1.0,"
		"\"arr\":[true,null,{\"x\":1}],\"t\":null}");
	/* what we write, jansson reads back */
	json_error_t je;
	json_t *v = json_loads(b.data, 0, &je);
	assert_non_null(v);
	json_decref(v);
	pos_buf_free(&b);
}

static void error_body_shape(void **state)
{
	struct pos_error e;
	pos_error_clear(&e);
	pos_error_set(&e, POS_ERR_INVALID_FIELD, "tags", "too %s", "many");
	e.index = 3;
	struct pos_buf b;
	pos_buf_init(&b, 1024);
	assert_int_equal(pos_json_error_body(&b, &e), POS_OK);
	assert_string_equal(b.data, "{\"error\":{\"code\":\"invalid_field\",\"message\":"
				    "\"too many\",\"field\":\"tags\",\"index\":3}}");
	assert_int_equal(pos_err_status(POS_ERR_INVALID_FIELD), 422);
	assert_int_equal(pos_err_status(POS_ERR_BODY_TOO_LARGE), 413);
	assert_int_equal(pos_err_status(POS_ERR_STORE), 500);
	pos_buf_free(&b);
}

static void count_call(void *ctx)
{
	atomic_fetch_add((atomic_int *)ctx, 1);
}

/* A kick calls at once (the interval is an hour); stop calls a last time. */
static void ticker_kick_and_stop(void **state)
{
	(void)state;
	atomic_int calls;
	atomic_init(&calls, 0);
	struct pos_ticker *t;
	assert_int_equal(pos_ticker_start(0, count_call, &calls, &t), POS_ERR_INVALID_REQUEST);
	assert_int_equal(pos_ticker_start(3600LL * 1000000, count_call, &calls, &t), POS_OK);
	pos_ticker_kick(t);
	for (int i = 0; i < 60000 && atomic_load(&calls) < 1; i++)
		usleep(1000);
	assert_int_equal(atomic_load(&calls), 1);
	pos_ticker_stop(t);
	assert_int_equal(atomic_load(&calls), 2);
	pos_ticker_stop(NULL);
}

/* Items of one call: each counted once; item 0 waits (bounded) for item 1
 * to have started, which happens only if they run at once. */
struct pf_ctx {
	atomic_int ran[64];
	atomic_int one_started;
	atomic_int met;
};

static void pf_item(void *ctx, size_t i)
{
	struct pf_ctx *c = ctx;
	atomic_fetch_add(&c->ran[i], 1);
	if (i == 1)
		atomic_store(&c->one_started, 1);
	if (i == 0) {
		for (int k = 0; k < 10000 && !atomic_load(&c->one_started); k++)
			usleep(1000);
		atomic_store(&c->met, atomic_load(&c->one_started));
	}
}

static void *pf_caller(void *arg)
{
	struct pos_workers *w = ((void **)arg)[0];
	struct pf_ctx *c = ((void **)arg)[1];
	pos_parallel_for(w, 64, pf_item, c);
	return NULL;
}

/* Every item runs exactly once, also with several callers at once; two
 * items of a call run at the same time; NULL pool runs them in line. */
static void parallel_for_runs_each_item_once(void **state)
{
	(void)state;
	struct pos_workers *w;
	assert_int_equal(pos_workers_new(0, &w), POS_ERR_INVALID_REQUEST);
	assert_int_equal(pos_workers_new(2, &w), POS_OK);
	static struct pf_ctx c[3];
	memset(c, 0, sizeof(c));
	pthread_t th[2];
	void *args[2][2] = {{w, &c[0]}, {w, &c[1]}};
	for (int t = 0; t < 2; t++)
		assert_int_equal(pthread_create(&th[t], NULL, pf_caller, args[t]), 0);
	pos_parallel_for(w, 2, pf_item, &c[2]);
	for (int t = 0; t < 2; t++)
		pthread_join(th[t], NULL);
	for (int k = 0; k < 2; k++)
		for (int i = 0; i < 64; i++)
			assert_int_equal(atomic_load(&c[k].ran[i]), 1);
	assert_int_equal(atomic_load(&c[2].ran[0]), 1);
	assert_int_equal(atomic_load(&c[2].ran[1]), 1);
	assert_int_equal(atomic_load(&c[2].met), 1);
	pos_workers_free(w);
	struct pf_ctx inline_c;
	memset(&inline_c, 0, sizeof(inline_c));
	atomic_store(&inline_c.one_started, 1); /* in line, 0 runs first: do not wait */
	pos_parallel_for(NULL, 3, pf_item, &inline_c);
	assert_int_equal(atomic_load(&inline_c.ran[2]), 1);
	pos_workers_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(buf_caps_and_keeps_content),
		cmocka_unit_test(buf_addf_long),
		cmocka_unit_test(buf_oom_leaves_buffer),
		cmocka_unit_test(arena_allocates_and_cleans),
		cmocka_unit_test(time_round_trips),
		cmocka_unit_test(uuid_generate_and_validate),
		cmocka_unit_test(json_parse_limits),
		cmocka_unit_test(json_writer_output),
		cmocka_unit_test(error_body_shape),
		cmocka_unit_test(ticker_kick_and_stop),
		cmocka_unit_test(parallel_for_runs_each_item_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
