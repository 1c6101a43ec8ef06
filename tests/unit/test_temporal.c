/* Unit tests for src/search/temporal.c: time phrases in search queries,
 * against a set clock (a table of cases: query, now, zone -> window, rest). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "base/arena.h"
#include "base/clock.h"
#include "search/temporal.h"

/* Thursday 14 May 2026, 10:00 UTC */
#define THU "2026-05-14T10:00:00Z"
/* Saturday 16 May 2026, 10:00 UTC */
#define SAT "2026-05-16T10:00:00Z"

struct wcase {
	const char *query, *now;
	int tz;
	const char *from, *to; /* NULL: no window */
	const char *rest;      /* the query left; NULL: the query itself */
};

static const struct wcase cases[] = {
	{"what did I eat yesterday", THU, 0, "2026-05-13", "2026-05-14", "what did I eat"},
	{"Yesterday", THU, 0, "2026-05-13", "2026-05-14", ""},
	{"dentist last week", THU, 0, "2026-05-04", "2026-05-11", "dentist"},
	{"the past week", THU, 0, "2026-05-07", "2026-05-15", "the"},
	{"this week", THU, 0, "2026-05-11", "2026-05-15", ""},
	{"in May", THU, 0, "2026-05-01", "2026-06-01", ""},
	{"trip in August", THU, 0, "2025-08-01", "2025-09-01", "trip"},
	{"last May", THU, 0, "2025-05-01", "2025-06-01", ""},
	{"March 2024 invoice", THU, 0, "2024-03-01", "2024-04-01", "invoice"},
	{"during sept", THU, 0, "2025-09-01", "2025-10-01", ""},
	{"two weeks ago dinner", THU, 0, "2026-04-27", "2026-05-04", "dinner"},
	{"3 days ago", THU, 0, "2026-05-11", "2026-05-12", ""},
	{"a couple of days ago", THU, 0, "2026-05-12", "2026-05-13", ""},
	{"a few weeks ago", THU, 0, "2026-04-20", "2026-04-27", ""},
	{"two months ago", THU, 0, "2026-03-01", "2026-04-01", ""},
	{"a year ago", THU, 0, "2025-01-01", "2026-01-01", ""},
	{"bills this month", THU, 0, "2026-05-01", "2026-05-15", "bills"},
	{"last month", THU, 0, "2026-04-01", "2026-05-01", ""},
	{"what happened on Tuesday?", THU, 0, "2026-05-12", "2026-05-13", "what happened?"},
	{"on Thursday", THU, 0, "2026-05-14", "2026-05-15", ""},
	{"last thursday", THU, 0, "2026-05-07", "2026-05-08", ""},
	{"friday run", THU, 0, "2026-05-08", "2026-05-09", "run"},
	{"this year", THU, 0, "2026-01-01", "2026-05-15", ""},
	{"last year", THU, 0, "2025-01-01", "2026-01-01", ""},
	{"notes in 2023", THU, 0, "2023-01-01", "2024-01-01", "notes"},
	{"today", THU, 0, "2026-05-14", "2026-05-15", ""},
	{"call tonight", THU, 0, "2026-05-14", "2026-05-15", "call"},
	{"last night", THU, 0, "2026-05-13", "2026-05-15", ""},
	{"recently", THU, 0, "2026-04-14", "2026-05-15", ""},
	{"last weekend", THU, 0, "2026-05-09", "2026-05-11", ""},
	{"last weekend", SAT, 0, "2026-05-09", "2026-05-11", ""},
	{"this weekend", SAT, 0, "2026-05-16", "2026-05-18", ""},
	/* the person's zone: 23:30 UTC is already the 15th at UTC+2 */
	{"yesterday", "2026-05-14T23:30:00Z", 120, "2026-05-13T22:00:00Z",
	 "2026-05-14T22:00:00Z", ""},
	{"yesterday", "2026-05-14T23:30:00Z", -600, "2026-05-13T10:00:00Z",
	 "2026-05-14T10:00:00Z", ""},
	/* the first phrase wins; the other stays a word */
	{"yesterday or today", THU, 0, "2026-05-13", "2026-05-14", "or today"},
	/* not phrases */
	{"\"last week\" meeting", THU, 0, NULL, NULL, NULL},
	{"tag:yesterday notes", THU, 0, NULL, NULL, NULL},
	{"after:2026-05-01 notes", THU, 0, NULL, NULL, NULL},
	{"may I help", THU, 0, NULL, NULL, NULL},
	{"march on", THU, 0, NULL, NULL, NULL},
	{"mayday weekday", THU, 0, NULL, NULL, NULL},
	{"the last one", THU, 0, NULL, NULL, NULL},
	{"2023 taxes", THU, 0, NULL, NULL, NULL},
	{"", THU, 0, NULL, NULL, NULL},
};

static int64_t at(const char *s)
{
	int64_t t = 0;
	assert_true(pos_time_parse(s, strlen(s), true, &t));
	return t;
}

static void windows_from_phrases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct wcase *c = &cases[i];
		struct pos_arena *a = pos_arena_new();
		struct pos_temporal t;
		assert_int_equal(pos_temporal_find(a, c->query, strlen(c->query), at(c->now),
						   c->tz, &t), POS_OK);
		char what[256];
		snprintf(what, sizeof(what), "case %zu: \"%s\" at %s", i, c->query, c->now);
		if (!c->from) {
			if (t.window)
				fail_msg("%s: unexpected window", what);
			assert_string_equal(t.rest, c->query);
		} else {
			if (!t.window)
				fail_msg("%s: no window", what);
			if (t.from != at(c->from) || t.to != at(c->to)) {
				char f[POS_TIME_FMT_LEN], e[POS_TIME_FMT_LEN];
				pos_time_format(t.from, f, sizeof(f));
				pos_time_format(t.to, e, sizeof(e));
				fail_msg("%s: window %s..%s", what, f, e);
			}
			if (strcmp(t.rest, c->rest) != 0)
				fail_msg("%s: rest \"%s\"", what, t.rest);
			assert_int_equal(t.rest_len, strlen(c->rest));
		}
		pos_arena_destroy(a);
	}
}

static void questions_asking_when(void **state)
{
	(void)state;
	static const struct {
		const char *q;
		bool when;
	} qs[] = {
		{"When did Caroline go to the support group?", true},
		{"what date is the party", true},
		{"How long ago was her birthday?", true},
		{"which year did we move", true},
		{"dinner with Ana", false},
		{"\"when\" lyrics", false},
	};
	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		struct pos_arena *a = pos_arena_new();
		struct pos_temporal t;
		assert_int_equal(pos_temporal_find(a, qs[i].q, strlen(qs[i].q), at(THU), 0, &t),
				 POS_OK);
		if (t.asks_when != qs[i].when)
			fail_msg("\"%s\": asks_when %d", qs[i].q, t.asks_when);
		assert_false(t.window);
		pos_arena_destroy(a);
	}
}

static void texts_mentioning_a_time(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		bool yes;
	} ts[] = {
		{"I went there yesterday!", true},
		{"Back in 2022 I painted a sunrise", true},
		{"Last Friday was fun", true},
		{"see you next week", true},
		{"two years ago", true},
		{"the August heat", true},
		{"We had a great time", false},
		{"I may go, Mar", false},
		{"call 12345 now", false},
		{"", false},
	};
	for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++)
		if (pos_temporal_mentions(ts[i].s, strlen(ts[i].s)) != ts[i].yes)
			fail_msg("\"%s\": expected %d", ts[i].s, ts[i].yes);
}

static void closeness_halves_per_window(void **state)
{
	(void)state;
	int64_t from = at("2026-05-04"), to = at("2026-05-11");
	assert_true(pos_temporal_closeness(at("2026-05-05"), from, to) == 1.0);
	double week_after = pos_temporal_closeness(at("2026-05-18"), from, to);
	assert_true(week_after > 0.49 && week_after < 0.51);
	double two_weeks_before = pos_temporal_closeness(at("2026-04-20"), from, to);
	assert_true(two_weeks_before > 0.24 && two_weeks_before < 0.26);
	/* a window shorter than a day decays per day */
	int64_t d = at("2026-05-04T01:00:00Z");
	double next_day = pos_temporal_closeness(at("2026-05-05T01:00:00Z"), d, d + 1000000);
	assert_true(next_day > 0.49 && next_day < 0.51);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(windows_from_phrases),
		cmocka_unit_test(questions_asking_when),
		cmocka_unit_test(texts_mentioning_a_time),
		cmocka_unit_test(closeness_halves_per_window),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
