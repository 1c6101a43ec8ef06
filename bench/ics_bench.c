/*
 * ics_bench.c — iCalendar import speed of src/sync/ics.c, against a
 * baseline measured in the same run.
 *
 *   ics_bench gen N PATH     writes a calendar of N VEVENTs to PATH: 90 %
 *                            single events (TZID Europe/Berlin with its
 *                            VTIMEZONE, attendees, description, location),
 *                            10 % weekly series of 5 (one EXDATE, one
 *                            RECURRENCE-ID override), all in 2026-2027.
 *   ics_bench run PATH [R]   R runs (default 9) of each, one thread:
 *                            parse-only — split, libical parse, time zones,
 *                            recurrence expansion, no items (the baseline);
 *                            transform — the same plus each item's text,
 *                            metadata, version hash and a sink call (a sink
 *                            that only counts).
 *                            Prints the median and p99 (nearest rank) of
 *                            the run times, events/s and items/s, and the
 *                            transform/parse-only time ratio.
 *
 * Build and run with bench/ics_bench.py (it also times the end-to-end
 * `personalos import ics` into a fresh data directory).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "sync/adapter.h"
#include "sync/ics.h"

static const char TZ[] =
	"BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\n"
	"TZOFFSETTO:+0200\r\nTZNAME:CEST\r\nDTSTART:19700329T020000\r\n"
	"RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\nBEGIN:STANDARD\r\n"
	"TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\nDTSTART:19701025T030000\r\n"
	"RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n";

static int gen(long n, const char *path)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return 1;
	fputs("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//PersonalOS//bench//EN\r\n", f);
	fputs(TZ, f);
	unsigned seed = 42;
	for (long i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		int day = (int)(seed >> 8) % 600; /* days after 2026-01-01 */
		struct tm tm = {.tm_year = 126, .tm_mon = 0, .tm_mday = 1 + day,
				.tm_hour = 8 + (int)(seed % 10)};
		timegm(&tm);
		char dt[32];
		strftime(dt, sizeof(dt), "%Y%m%dT%H%M%S", &tm);
		bool series = i % 10 == 9;
		fprintf(f, "BEGIN:VEVENT\r\nUID:bench-%ld@personalos\r\nDTSTAMP:20260101T000000Z\r\n"
			   "DTSTART;TZID=Europe/Berlin:%s\r\nDURATION:PT1H\r\n"
			   "SUMMARY:Meeting %ld about the quarterly plan\r\n"
			   "DESCRIPTION:Agenda: review the numbers\\, decide next steps\\, "
			   "assign owners. Bring the report.\r\n"
			   "LOCATION:Room %ld\\, Building B\r\n"
			   "ATTENDEE;CN=Alice Example:mailto:alice@example.com\r\n"
			   "ATTENDEE;CN=Bob Example:mailto:bob@example.com\r\n",
			i, dt, i, i % 40);
		if (series) {
			struct tm ex = tm;
			ex.tm_mday += 14;
			timegm(&ex);
			char exs[32];
			strftime(exs, sizeof(exs), "%Y%m%dT%H%M%S", &ex);
			fprintf(f, "RRULE:FREQ=WEEKLY;COUNT=5\r\nEXDATE;TZID=Europe/Berlin:%s\r\n", exs);
		}
		fputs("END:VEVENT\r\n", f);
		if (series) {
			struct tm ov = tm;
			ov.tm_mday += 7;
			timegm(&ov);
			char ovs[32];
			strftime(ovs, sizeof(ovs), "%Y%m%dT%H%M%S", &ov);
			ov.tm_hour += 2;
			timegm(&ov);
			char ovn[32];
			strftime(ovn, sizeof(ovn), "%Y%m%dT%H%M%S", &ov);
			fprintf(f, "BEGIN:VEVENT\r\nUID:bench-%ld@personalos\r\n"
				   "RECURRENCE-ID;TZID=Europe/Berlin:%s\r\n"
				   "DTSTART;TZID=Europe/Berlin:%s\r\nDURATION:PT1H\r\n"
				   "SUMMARY:Meeting %ld (moved)\r\nEND:VEVENT\r\n", i, ovs, ovn, i);
		}
	}
	fputs("END:VCALENDAR\r\n", f);
	return fclose(f) != 0;
}

struct counter {
	unsigned long items, bytes;
};

static enum pos_err c_upsert(void *ctx, const struct pos_sync_item *it, struct pos_error *e)
{
	struct counter *c = ctx;
	(void)e;
	c->items++;
	c->bytes += it->content_len;
	return POS_OK;
}

static enum pos_err c_remove(void *ctx, const char *id, struct pos_error *e)
{
	(void)ctx;
	(void)id;
	(void)e;
	return POS_OK;
}

static void c_skip(void *ctx, const char *p, const char *w)
{
	(void)ctx;
	fprintf(stderr, "skip %s: %s\n", p, w);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double rank(double *v, int n, double q)
{
	int k = (int)(q * n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

static int run(const char *path, int reps)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return 1;
	fseek(f, 0, SEEK_END);
	long len = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *d = malloc((size_t)len + 1);
	if (!d || fread(d, 1, (size_t)len, f) != (size_t)len)
		return 1;
	d[len] = '\0';
	fclose(f);

	unsigned long events = 0;
	for (const char *p = d; (p = strstr(p, "BEGIN:VEVENT")); p++)
		events++;

	struct pos_ics_window w;
	struct pos_error err;
	json_t *cfg = json_pack("{s:s, s:s}", "expand_from", "2025-06-01T00:00:00Z",
				"expand_until", "2028-01-01T00:00:00Z");
	if (pos_ics_window_from_config(cfg, pos_now_us(), &w, &err))
		return 1;
	json_decref(cfg);

	double *tp = calloc((size_t)reps, sizeof(double));
	double *tt = calloc((size_t)reps, sizeof(double));
	unsigned long items = 0, inst = 0;
	for (int r = 0; r < reps; r++) {
		int64_t t0 = pos_mono_us();
		inst = pos_ics_parse_only(d, (size_t)len, &w);
		int64_t t1 = pos_mono_us();
		struct counter c = {0};
		struct pos_sync_sink sink = {&c, c_upsert, c_remove, c_skip, NULL, NULL, NULL};
		if (pos_ics_import(d, (size_t)len, &w, NULL, &sink, NULL, NULL, &err)) {
			fprintf(stderr, "import failed: %s\n", err.message);
			return 1;
		}
		int64_t t2 = pos_mono_us();
		tp[r] = (double)(t1 - t0) / 1e6;
		tt[r] = (double)(t2 - t1) / 1e6;
		items = c.items;
	}
	qsort(tp, (size_t)reps, sizeof(double), cmp_d);
	qsort(tt, (size_t)reps, sizeof(double), cmp_d);
	double mp = rank(tp, reps, 0.5), mt = rank(tt, reps, 0.5);
	printf("file: %ld bytes, %lu VEVENTs, %lu items (instances %lu), %d runs\n",
	       len, events, items, inst, reps);
	printf("parse-only (baseline): median %.1f ms  p99 %.1f ms  %.0f events/s  %.0f items/s\n",
	       mp * 1e3, rank(tp, reps, 0.99) * 1e3, events / mp, inst / mp);
	printf("transform:             median %.1f ms  p99 %.1f ms  %.0f events/s  %.0f items/s\n",
	       mt * 1e3, rank(tt, reps, 0.99) * 1e3, events / mt, items / mt);
	printf("ratio transform/parse-only (median time): %.2f\n", mt / mp);
	free(tp);
	free(tt);
	free(d);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "gen") == 0)
		return gen(strtol(argv[2], NULL, 10), argv[3]);
	if (argc >= 3 && strcmp(argv[1], "run") == 0)
		return run(argv[2], argc >= 4 ? (int)strtol(argv[3], NULL, 10) : 9);
	fprintf(stderr, "usage: ics_bench gen N PATH | ics_bench run PATH [RUNS]\n");
	return 2;
}
