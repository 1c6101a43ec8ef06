/* Unit tests for src/http: route pattern matching and the route table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "base/clock.h"
#include "http/admission.h"
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

/* ---- admission control: a recorder stands in for the connections ---- */

struct adm_log {
	int parked[8], woken[8];
	int n_parked, n_woken;
};

static struct adm_log adm_rec;

static void rec_park(void *ctx)
{
	adm_rec.parked[adm_rec.n_parked++] = *(int *)ctx;
}

static void rec_wake(void *ctx)
{
	adm_rec.woken[adm_rec.n_woken++] = *(int *)ctx;
}

/* Two slots, a queue of two: the fifth is refused; slots pass to the
 * waiters oldest first; a waiter that leaves the queue is skipped. */
static void admission_slots_and_queue(void **state)
{
	memset(&adm_rec, 0, sizeof(adm_rec));
	struct pos_admission a;
	assert_int_equal(pos_adm_init(&a, 2, 2, 600000, rec_park, rec_wake), 0);
	int id[6] = {0, 1, 2, 3, 4, 5};
	struct pos_adm_waiter w[6];
	memset(w, 0, sizeof(w));
	int64_t now = pos_mono_us();
	assert_int_equal(pos_adm_enter(&a, &w[0], &id[0], now), POS_ADM_RUN);
	assert_int_equal(pos_adm_enter(&a, &w[1], &id[1], now), POS_ADM_RUN);
	assert_int_equal(pos_adm_enter(&a, &w[2], &id[2], now), POS_ADM_WAIT);
	assert_int_equal(pos_adm_enter(&a, &w[3], &id[3], now), POS_ADM_WAIT);
	assert_int_equal(pos_adm_enter(&a, &w[4], &id[4], now), POS_ADM_FULL);
	assert_int_equal(adm_rec.n_parked, 2);
	assert_int_equal(adm_rec.parked[0], 2);
	assert_int_equal(adm_rec.parked[1], 3);
	struct pos_adm_stats st;
	pos_adm_stats(&a, &st);
	assert_int_equal(st.running, 2);
	assert_int_equal(st.queued, 2);
	assert_int_equal(st.rejected, 1);
	/* 2 gives up (its client went away): 3 is next in line. */
	pos_adm_release(&a, &w[2]);
	assert_int_equal(w[2].state, POS_ADM_DONE);
	pos_adm_release(&a, &w[0]);
	assert_int_equal(adm_rec.n_woken, 1);
	assert_int_equal(adm_rec.woken[0], 3);
	assert_int_equal(w[3].state, POS_ADM_RUNNING);
	pos_adm_release(&a, &w[0]); /* idempotent */
	pos_adm_stats(&a, &st);
	assert_int_equal(st.running, 2);
	assert_int_equal(st.queued, 0);
	assert_int_equal(st.waited, 1);
	/* With the queue empty a released slot is free again. */
	pos_adm_release(&a, &w[1]);
	pos_adm_release(&a, &w[3]);
	assert_int_equal(pos_adm_enter(&a, &w[5], &id[5], now), POS_ADM_RUN);
	pos_adm_release(&a, &w[5]);
	pos_adm_stats(&a, &st);
	assert_int_equal(st.running, 0);
	pos_adm_fini(&a);
}

/* A waiter past its wait is woken as expired by the sweeper; closing
 * wakes the rest and refuses newcomers. */
static void admission_expiry_and_close(void **state)
{
	memset(&adm_rec, 0, sizeof(adm_rec));
	struct pos_admission a;
	assert_int_equal(pos_adm_init(&a, 1, 4, 1, rec_park, rec_wake), 0);
	int id[4] = {0, 1, 2, 3};
	struct pos_adm_waiter w[4];
	memset(w, 0, sizeof(w));
	int64_t now = pos_mono_us();
	assert_int_equal(pos_adm_enter(&a, &w[0], &id[0], now), POS_ADM_RUN);
	/* Entered "long ago": its 1 ms wait is over when the sweeper looks. */
	assert_int_equal(pos_adm_enter(&a, &w[1], &id[1], now - 1000000), POS_ADM_WAIT);
	for (int i = 0; i < 5000 && adm_rec.n_woken == 0; i++) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	assert_int_equal(adm_rec.n_woken, 1);
	assert_int_equal(adm_rec.woken[0], 1);
	assert_int_equal(w[1].state, POS_ADM_EXPIRED);
	/* A fresh waiter with a far deadline, then close. */
	pos_adm_fini(&a);
	memset(&adm_rec, 0, sizeof(adm_rec));
	assert_int_equal(pos_adm_init(&a, 1, 4, 600000, rec_park, rec_wake), 0);
	memset(w, 0, sizeof(w));
	assert_int_equal(pos_adm_enter(&a, &w[0], &id[0], now), POS_ADM_RUN);
	assert_int_equal(pos_adm_enter(&a, &w[2], &id[2], now), POS_ADM_WAIT);
	pos_adm_close(&a);
	assert_int_equal(adm_rec.n_woken, 1);
	assert_int_equal(w[2].state, POS_ADM_EXPIRED);
	assert_int_equal(pos_adm_enter(&a, &w[3], &id[3], now), POS_ADM_FULL);
	pos_adm_release(&a, &w[0]);
	pos_adm_fini(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(patterns_match),
		cmocka_unit_test(route_table_is_consistent),
		cmocka_unit_test(byte_ranges),
		cmocka_unit_test(sse_frames),
		cmocka_unit_test(admission_slots_and_queue),
		cmocka_unit_test(admission_expiry_and_close),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
