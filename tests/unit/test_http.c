/* Unit tests for src/http: route pattern matching and the route table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "api/api.h"
#include "http/range.h"
#include "http/server.h"
#include "http/sse.h"

static void patterns_match(void **state)
{
	struct pos_arena *a = pos_arena_new();
	const char *p[POS_MAX_PATH_PARAMS];
	size_t n;
	assert_true(pos_route_match("/health", "/health", a, p, &n));
	assert_int_equal(n, 0);
	assert_true(pos_route_match("/health", "/health/", a, p, &n));
	assert_false(pos_route_match("/health", "/healthz", a, p, &n));
	assert_false(pos_route_match("/health", "/", a, p, &n));
	assert_true(pos_route_match("/api/memories/{id}", "/api/memories/abc", a, p, &n));
	assert_int_equal(n, 1);
	assert_string_equal(p[0], "abc");
	assert_false(pos_route_match("/api/memories/{id}", "/api/memories/", a, p, &n));
	assert_false(pos_route_match("/api/memories/{id}", "/api/memories/a/b", a, p, &n));
	assert_true(pos_route_match("/a/{x}/b/{y}", "/a/1/b/2", a, p, &n));
	assert_int_equal(n, 2);
	assert_string_equal(p[1], "2");
	pos_arena_destroy(a);
}

/* Every route has a name "METHOD PATTERN", and fixed paths come before the
 * {id} routes that would shadow them. */
static void route_table_is_consistent(void **state)
{
	for (size_t i = 0; i < pos_api_routes_count; i++) {
		const struct pos_route *r = &pos_api_routes[i];
		char name[256];
		snprintf(name, sizeof(name), "%s %s", r->method, r->pattern);
		assert_string_equal(name, r->name);
		assert_non_null(r->handler);
		for (size_t j = 0; j < i; j++) {
			const struct pos_route *earlier = &pos_api_routes[j];
			size_t n;
			if (strcmp(earlier->method, r->method) == 0 && !strchr(r->pattern, '{'))
				assert_false(pos_route_match(earlier->pattern, r->pattern, NULL, NULL, &n));
		}
	}
}

/* Range for export downloads (http/range.c): one range, else the whole. */
static void byte_ranges(void **state)
{
	(void)state;
	static const struct {
		const char *h;
		uint64_t size;
		int status;
		uint64_t off, len;
	} cases[] = {
		{NULL, 100, 200, 0, 100},
		{"bytes=0-9", 100, 206, 0, 10},
		{"bytes=90-", 100, 206, 90, 10},
		{"bytes=90-500", 100, 206, 90, 10},
		{"bytes=-30", 100, 206, 70, 30},
		{"bytes=-300", 100, 206, 0, 100},
		{"bytes=99-99", 100, 206, 99, 1},
		{"bytes=100-", 100, 416, 0, 100},
		{"bytes=-0", 100, 416, 0, 100},
		{"bytes=0-", 0, 416, 0, 0},
		{"bytes=5-2", 100, 200, 0, 100},
		{"bytes=0-1,5-6", 100, 200, 0, 100},
		{"items=0-1", 100, 200, 0, 100},
		{"bytes=x-1", 100, 200, 0, 100},
		{"bytes=-", 100, 200, 0, 100},
		{"bytes=99999999999999999999-", 100, 200, 0, 100},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t off = 7, len = 7;
		int st = pos_range_parse(cases[i].h, cases[i].size, &off, &len);
		if (st != cases[i].status || (st != 416 && (off != cases[i].off || len != cases[i].len)))
			fail_msg("case %zu (%s): %d %llu+%llu", i, cases[i].h ? cases[i].h : "-", st,
				 (unsigned long long)off, (unsigned long long)len);
	}
}

/* Server-Sent Events framing: event line, one data field per line. */
static void sse_frames(void **state)
{
	(void)state;
	struct pos_buf b;
	pos_buf_init(&b, 4096);
	assert_int_equal(pos_sse_frame(&b, NULL, "{\"delta\":\"hi\"}", 14), POS_OK);
	assert_int_equal(b.len, strlen("data: {\"delta\":\"hi\"}\n\n"));
	assert_memory_equal(b.data, "data: {\"delta\":\"hi\"}\n\n", b.len);
	pos_buf_reset(&b);
	assert_int_equal(pos_sse_frame(&b, "error", "a\nb\n", 4), POS_OK);
	const char *want = "event: error\ndata: a\ndata: b\ndata: \n\n";
	assert_int_equal(b.len, strlen(want));
	assert_memory_equal(b.data, want, b.len);
	pos_buf_reset(&b);
	assert_int_equal(pos_sse_frame(&b, NULL, "", 0), POS_OK);
	assert_int_equal(b.len, strlen("data: \n\n"));
	assert_memory_equal(b.data, "data: \n\n", b.len);
	pos_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(patterns_match),
		cmocka_unit_test(route_table_is_consistent),
		cmocka_unit_test(byte_ranges),
		cmocka_unit_test(sse_frames),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
