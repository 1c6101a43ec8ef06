/*
 * Unit tests for src/sync/ics.c and the ics_file adapter
 * (src/sync/ics_source.c), driven through a recording sink: the fixtures
 * in tests/data/sync/calendar (time zones with and without VTIMEZONE,
 * all-day, a weekly series with EXDATE, a moved and a cancelled instance,
 * malformed events), a changed file between runs, bounds, garbage, and the
 * real-world files of ../shared/data/ics when present. Runs from the
 * repository root (ctest sets the working directory).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "sync/adapter.h"
#include "sync/ics.h"
#include "sync_recorder.h"

#define FIX "tests/data/sync/calendar/"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *d = malloc((size_t)n + 1);
	assert_non_null(d);
	assert_int_equal(fread(d, 1, (size_t)n, f), (size_t)n);
	d[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return d;
}

static void window_2026(struct pos_ics_window *w)
{
	struct pos_error err;
	json_t *cfg = json_pack("{s:s, s:s}", "expand_from", "2026-01-01T00:00:00Z",
				"expand_until", "2026-12-31T00:00:00Z");
	assert_int_equal(pos_ics_window_from_config(cfg, pos_now_us(), w, &err), POS_OK);
	json_decref(cfg);
}

static void import_file(struct recorder *r, const char *path)
{
	struct pos_ics_window w;
	struct pos_error err;
	struct pos_ics_stats st = {0};
	size_t len;
	char *d = slurp(path, &len);
	assert_non_null(d);
	window_2026(&w);
	pos_error_clear(&err);
	assert_int_equal(pos_ics_import(d, len, &w, NULL, &r->sink, NULL, &st, &err), POS_OK);
	free(d);
}

static void test_fixture_items(void **state)
{
	(void)state;
	struct recorder r;
	rec_init(&r);
	import_file(&r, FIX "basic.ics");

	/* 1 + 1 + 1 single events, 4 of the weekly series, 3 daily runs. */
	if (json_object_size(r.items) != 10) {
		const char *k;
		json_t *v;
		json_object_foreach(r.items, k, v) print_message("item %s\n", k);
		size_t i;
		json_array_foreach(r.skips, i, v) print_message("skip %s\n", json_string_value(v));
	}
	assert_int_equal(json_object_size(r.items), 10);
	assert_int_equal(r.upserts, 10);

	/* TZID with a VTIMEZONE in the file: CET in March. */
	assert_string_equal(rec_meta(&r, "single-berlin@test", "start_time"), "2026-03-10T08:00:00Z");
	assert_string_equal(rec_meta(&r, "single-berlin@test", "end_time"), "2026-03-10T09:30:00Z");
	assert_string_equal(rec_meta(&r, "single-berlin@test", "event_id"), "single-berlin@test");
	assert_string_equal(rec_meta(&r, "single-berlin@test", "location"), "Praxis Dr. Weiss, Berlin");
	const char *c = rec_content(&r, "single-berlin@test");
	assert_non_null(strstr(c, "Event: Dentist appointment\n"));
	assert_non_null(strstr(c, "Time: 2026-03-10 09:00 – 10:30 (Europe/Berlin)"));
	assert_non_null(strstr(c, "Description: Bring the insurance card.\nAsk about the X-ray."));
	assert_non_null(strstr(c, "Location: Praxis Dr. Weiss, Berlin"));
	json_t *it = json_object_get(r.items, "single-berlin@test");
	assert_string_equal(json_string_value(json_object_get(it, "type")), "event");
	int64_t t;
	assert_true(pos_time_parse("2026-03-10T08:00:00Z", 20, false, &t));
	assert_int_equal(json_integer_value(json_object_get(it, "created_at_us")), t);
	assert_string_equal(json_string_value(json_array_get(json_object_get(it, "tags"), 0)), "health");

	/* TZID without a VTIMEZONE: the system's Olson zone, EDT in July. */
	assert_string_equal(rec_meta(&r, "single-newyork@test", "start_time"), "2026-07-01T18:00:00Z");
	c = rec_content(&r, "single-newyork@test");
	assert_non_null(strstr(c, "Attendees: Alice Smith <alice@example.com>, bob@example.com"));
	assert_non_null(strstr(c, "(America/New_York)"));

	/* All day, two days. */
	assert_string_equal(rec_meta(&r, "allday@test", "start_time"), "2026-05-01T00:00:00Z");
	assert_string_equal(rec_meta(&r, "allday@test", "end_time"), "2026-05-03T00:00:00Z");
	assert_non_null(strstr(rec_content(&r, "allday@test"), "Time: 2026-05-01 – 2026-05-02 (all day)"));
	assert_true(json_is_true(json_object_get(json_object_get(
		json_object_get(r.items, "allday@test"), "metadata"), "all_day")));

	/* Weekly: EXDATE drops the 16th, the 23rd moved, April 6 cancelled,
	 * March 30 is after the switch to summer time (08:00Z, not 09:00Z). */
	assert_non_null(json_object_get(r.items, "weekly@test#2026-03-02T09:00:00Z"));
	assert_non_null(json_object_get(r.items, "weekly@test#2026-03-09T09:00:00Z"));
	assert_null(json_object_get(r.items, "weekly@test#2026-03-16T09:00:00Z"));
	assert_string_equal(rec_meta(&r, "weekly@test#2026-03-23T09:00:00Z", "start_time"),
			    "2026-03-23T14:00:00Z");
	assert_non_null(strstr(rec_content(&r, "weekly@test#2026-03-23T09:00:00Z"),
			       "moved to the afternoon"));
	assert_non_null(json_object_get(r.items, "weekly@test#2026-03-30T08:00:00Z"));
	assert_null(json_object_get(r.items, "weekly@test#2026-04-06T08:00:00Z"));
	assert_null(json_object_get(r.items, "weekly@test"));

	/* Daily without end: only inside the window. */
	assert_non_null(json_object_get(r.items, "daily-utc@test#2026-12-30T07:00:00Z"));
	assert_null(json_object_get(r.items, "daily-utc@test#2026-12-31T07:00:00Z"));
	assert_string_equal(rec_meta(&r, "daily-utc@test#2026-12-28T07:00:00Z", "end_time"),
			    "2026-12-28T07:30:00Z");

	/* Malformed: skipped with position and reason, nothing else lost. */
	assert_int_equal(json_array_size(r.skips), 3);
	assert_non_null(rec_skip_with(&r, "event 7 (line 74): missing or invalid DTSTART"));
	assert_non_null(rec_skip_with(&r, "event 8 (line 79): missing or invalid DTSTART"));
	assert_non_null(rec_skip_with(&r, "event 9 (line 85): no END:VEVENT"));
	rec_free(&r);
}

/* Versions are stable across imports and follow the text of the event. */
static void test_versions(void **state)
{
	(void)state;
	struct recorder a, b;
	rec_init(&a);
	rec_init(&b);
	import_file(&a, FIX "basic.ics");
	import_file(&b, FIX "changed.ics");
	json_t *x = json_object_get(a.items, "single-newyork@test");
	json_t *y = json_object_get(b.items, "single-newyork@test");
	assert_string_equal(json_string_value(json_object_get(x, "version")),
			    json_string_value(json_object_get(y, "version")));
	x = json_object_get(a.items, "single-berlin@test");
	y = json_object_get(b.items, "single-berlin@test");
	assert_string_not_equal(json_string_value(json_object_get(x, "version")),
				json_string_value(json_object_get(y, "version")));
	rec_free(&a);
	rec_free(&b);
}

static const char *tmpdir(void)
{
	const char *t = getenv("POS_TEST_TMP");
	static char dir[512];
	snprintf(dir, sizeof(dir), "%s/sync_ics.%d", t ? t : "/tmp", (int)getpid());
	mkdir(t ? t : "/tmp", 0700);
	mkdir(dir, 0700);
	return dir;
}

static void copy(const char *from, const char *to)
{
	size_t len;
	char *d = slurp(from, &len);
	assert_non_null(d);
	FILE *f = fopen(to, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(d, 1, len, f), len);
	fclose(f);
	free(d);
}

static void test_ics_file_runs(void **state)
{
	(void)state;
	struct recorder r;
	struct pos_error err;
	char path[600];
	json_t *cur = NULL, *next = NULL;
	snprintf(path, sizeof(path), "%s/cal.ics", tmpdir());
	copy(FIX "basic.ics", path);
	json_t *cfg = json_pack("{s:s, s:s, s:s}", "path", path,
				"expand_from", "2026-01-01T00:00:00Z",
				"expand_until", "2026-12-31T00:00:00Z");
	rec_init(&r);
	assert_int_equal(pos_sync_ics_file.validate(cfg, &err), POS_OK);

	assert_int_equal(pos_sync_ics_file.run(cfg, NULL, &cur, &r.sink, &err), POS_OK);
	assert_int_equal(json_object_size(r.items), 10);
	assert_int_equal(r.completes, 1);
	assert_non_null(json_object_get(cur, "hash"));
	assert_true(json_is_integer(json_object_get(cur, "size")));

	/* Unchanged: nothing to do. */
	rec_new_run(&r);
	assert_int_equal(pos_sync_ics_file.run(cfg, cur, &next, &r.sink, &err), POS_OK);
	assert_int_equal(r.upserts, 0);
	assert_int_equal(r.completes, 0);
	assert_int_equal(json_object_size(r.items), 10);
	json_decref(cur);
	cur = next;

	/* Changed: the dentist moved, the trip was deleted. */
	copy(FIX "changed.ics", path);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	json_object_set_new(cur, "mtime", json_integer(1)); /* same-second writes */
	rec_new_run(&r);
	assert_int_equal(pos_sync_ics_file.run(cfg, cur, &next, &r.sink, &err), POS_OK);
	assert_int_equal(r.completes, 1);
	assert_int_equal(r.changed, 1);
	assert_int_equal(json_object_size(r.items), 9);
	assert_null(json_object_get(r.items, "allday@test"));
	assert_string_equal(rec_meta(&r, "single-berlin@test", "start_time"), "2026-03-11T08:00:00Z");
	assert_non_null(strstr(rec_content(&r, "single-berlin@test"), "(rescheduled)"));
	json_decref(cur);
	cur = next;

	/* Same bytes, new mtime: read, hash equal, no import. */
	json_object_set_new(cur, "mtime", json_integer(2));
	rec_new_run(&r);
	assert_int_equal(pos_sync_ics_file.run(cfg, cur, &next, &r.sink, &err), POS_OK);
	assert_int_equal(r.upserts, 0);
	json_decref(cur);
	json_decref(next);

	/* A missing file is an error naming the path, and loses nothing. */
	unlink(path);
	rec_new_run(&r);
	next = NULL;
	assert_int_equal(pos_sync_ics_file.run(cfg, NULL, &next, &r.sink, &err), POS_ERR_NOT_FOUND);
	assert_string_equal(err.field, "path");
	assert_null(next);
	assert_int_equal(json_object_size(r.items), 9);
	json_decref(cfg);
	rec_free(&r);
}

static void test_validate(void **state)
{
	(void)state;
	struct pos_error err;
	struct {
		const char *json;
		const char *field;
	} bad[] = {
		{"{}", "path"},
		{"{\"path\": 5}", "path"},
		{"{\"path\": \"x.ics\", \"expand_past_days\": -1}", "expand_past_days"},
		{"{\"path\": \"x.ics\", \"expand_future_days\": 99999}", "expand_future_days"},
		{"{\"path\": \"x.ics\", \"max_instances\": 0}", "max_instances"},
		{"{\"path\": \"x.ics\", \"expand_from\": \"yesterday\"}", "expand_from"},
		{"{\"path\": \"x.ics\", \"timezone\": \"Mars/Olympus\"}", "timezone"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *cfg = json_loads(bad[i].json, 0, NULL);
		assert_non_null(cfg);
		pos_error_clear(&err);
		assert_int_equal(pos_sync_ics_file.validate(cfg, &err), POS_ERR_INVALID_FIELD);
		assert_string_equal(err.field + 7, bad[i].field);
		assert_true(strncmp(err.field, "config.", 7) == 0);
		json_decref(cfg);
	}
	json_t *ok = json_pack("{s:s, s:i, s:s}", "path", "/x.ics", "expand_future_days", 30,
			       "timezone", "Europe/Berlin");
	assert_int_equal(pos_sync_ics_file.validate(ok, &err), POS_OK);
	json_decref(ok);

	json_t *u = json_pack("{s:s}", "url", "ftp://example.com/x.ics");
	assert_int_equal(pos_sync_ics_url.validate(u, &err), POS_ERR_INVALID_FIELD);
	assert_string_equal(err.field, "config.url");
	json_decref(u);
	u = json_pack("{s:s, s:i}", "url", "https://example.com/x.ics", "password", 3);
	assert_int_equal(pos_sync_ics_url.validate(u, &err), POS_ERR_INVALID_FIELD);
	assert_string_equal(err.field, "config.password");
	json_decref(u);
	assert_string_equal(pos_sync_ics_url.secret_keys[0], "password");
}

static void test_garbage_and_bounds(void **state)
{
	(void)state;
	struct recorder r;
	struct pos_ics_window w;
	struct pos_error err;
	rec_init(&r);
	window_2026(&w);
	const char *html = "<html><body>Please log in</body></html>";
	assert_int_equal(pos_ics_import(html, strlen(html), &w, NULL, &r.sink, NULL, NULL, &err),
			 POS_ERR_BAD_GATEWAY);
	assert_int_equal(pos_ics_import("", 0, &w, NULL, &r.sink, NULL, NULL, &err), POS_OK);

	/* An endless daily series gives at most max_instances items and says so. */
	const char *daily = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:d\r\n"
			    "DTSTART:20000101T080000Z\r\nRRULE:FREQ=HOURLY\r\n"
			    "SUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
	w.max_instances = 50;
	json_t *ids = json_array();
	assert_int_equal(pos_ics_import(daily, strlen(daily), &w, "feed", &r.sink, ids, NULL, &err), POS_OK);
	assert_int_equal(json_array_size(ids), 50);
	assert_non_null(rec_skip_with(&r, "feed: event 1 (line 2): more than 50 instances"));
	json_decref(ids);

	/* Rules libical would loop on for minutes are refused and reported;
	 * a VTIMEZONE stepping every second is dropped (the event stays). */
	const char *slow = "BEGIN:VCALENDAR\r\nBEGIN:VTIMEZONE\r\nTZID:X\r\nBEGIN:STANDARD\r\n"
			   "DTSTART:19700101T000000\r\nRRULE:FREQ=SECONDLY\r\nTZOFFSETFROM:+0100\r\n"
			   "TZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
			   "BEGIN:VEVENT\r\nUID:tz\r\nDTSTART;TZID=X:20260101T100000\r\nSUMMARY:x\r\nEND:VEVENT\r\n"
			   "BEGIN:VEVENT\r\nUID:m\r\nDTSTART:20260101T100000Z\r\n"
			   "RRULE:FREQ=MINUTELY\r\nSUMMARY:x\r\nEND:VEVENT\r\n"
			   "BEGIN:VEVENT\r\nUID:f\r\nDTSTART:20260101T100000Z\r\n"
			   "RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30\r\nSUMMARY:x\r\nEND:VEVENT\r\n"
			   "END:VCALENDAR\r\n";
	w.max_instances = 1000;
	ids = json_array();
	assert_int_equal(pos_ics_import(slow, strlen(slow), &w, NULL, &r.sink, ids, NULL, &err), POS_OK);
	assert_int_equal(json_array_size(ids), 1);
	assert_string_equal(json_string_value(json_array_get(ids, 0)), "tz");
	assert_non_null(rec_skip_with(&r, "event 2 (line 16): RRULE not expanded: more often than hourly"));
	assert_non_null(rec_skip_with(&r, "event 3 (line 22): RRULE not expanded: no such day"));
	json_decref(ids);

	/* NUL bytes, binary junk and an unfinished calendar are survived. */
	char junk[4096];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)((i * 7919u) & 0xff);
	memcpy(junk, "BEGIN:VCALENDAR\nBEGIN:VEVENT\n", 29);
	assert_int_equal(pos_ics_import(junk, sizeof(junk), &w, NULL, &r.sink, NULL, NULL, &err), POS_OK);
	rec_free(&r);
}

/* Real-world files from other projects, when the shared data is here. */
static void test_shared_data(void **state)
{
	(void)state;
	const char *dir = "../shared/data/ics";
	DIR *d = opendir(dir);
	if (!d) {
		print_message("SKIP: %s absent (see /work/shared/data/README.md)\n", dir);
		skip();
	}
	struct dirent *de;
	int files = 0;
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		if (n < 5 || strcmp(de->d_name + n - 4, ".ics") != 0)
			continue;
		char path[1024];
		size_t len;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		char *data = slurp(path, &len);
		assert_non_null(data);
		struct recorder r;
		struct pos_ics_window w;
		struct pos_error err;
		json_t *cfg = json_pack("{s:s, s:s}", "expand_from", "2012-01-01T00:00:00Z",
					"expand_until", "2030-01-01T00:00:00Z");
		assert_int_equal(pos_ics_window_from_config(cfg, pos_now_us(), &w, &err), POS_OK);
		rec_init(&r);
		assert_int_equal(pos_ics_import(data, len, &w, de->d_name, &r.sink, NULL, NULL, &err), POS_OK);
		print_message("%s: %zu items, %zu skipped\n", de->d_name,
			      json_object_size(r.items), json_array_size(r.skips));
		assert_true(json_object_size(r.items) > 0);
		const char *k;
		json_t *v;
		json_object_foreach(r.items, k, v) {
			assert_non_null(strstr(json_string_value(json_object_get(v, "content")), "Event: "));
			assert_non_null(rec_meta(&r, k, "start_time"));
		}
		rec_free(&r);
		json_decref(cfg);
		free(data);
		files++;
	}
	closedir(d);
	assert_true(files > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixture_items),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_ics_file_runs),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_garbage_and_bounds),
		cmocka_unit_test(test_shared_data),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
