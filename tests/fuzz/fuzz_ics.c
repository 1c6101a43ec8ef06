/*
 * fuzz_ics.c — libFuzzer driver for the iCalendar import of the calendar
 * sync adapters (src/sync/ics.c: our line scanner that splits VTIMEZONE
 * and VEVENT blocks, then libical, time zones, recurrence expansion and
 * item building). Arbitrary bytes must never crash, leak or read out of
 * bounds; every item must carry an id, content and a version, and no more
 * items may come out than the window allows.
 *
 * Built and run for a few seconds by ctest when clang is installed, seeded
 * with tests/data/sync/calendar. For a longer run:
 *
 *   ./build/tests/fuzz_ics -max_total_time=600 -max_len=20000 \
 *     /tmp/fi-corpus tests/data/sync/calendar
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sync/ics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct count {
	unsigned long items;
};

static enum pos_err up(void *ctx, const struct pos_sync_item *it, struct pos_error *e)
{
	(void)e;
	if (!it->external_id || !it->external_id[0] || !it->content || !it->version ||
	    strlen(it->content) != it->content_len || it->content_len > POS_ICS_MAX_CONTENT)
		abort();
	((struct count *)ctx)->items++;
	return POS_OK;
}

static void skip(void *ctx, const char *p, const char *w)
{
	(void)ctx;
	if (!p || !w)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pos_ics_window w = {0};
	struct pos_error err;
	struct count c = {0};
	struct pos_sync_sink sink = {&c, up, NULL, skip, NULL, NULL, NULL, NULL, NULL};
	struct pos_ics_stats st = {0};
	/* 2026 and a small instance cap keep runs fast. */
	w.from_us = 1767225600LL * 1000000;
	w.until_us = w.from_us + 366LL * 86400 * 1000000;
	w.max_instances = 20;
	pos_error_clear(&err);
	enum pos_err rc = pos_ics_import((const char *)data, size, &w, "f", &sink, NULL, &st, &err);
	if (rc != POS_OK && rc != POS_ERR_BAD_GATEWAY && rc != POS_ERR_NOMEM)
		abort();
	if (c.items != st.items)
		abort();
	/* Each VEVENT yields at most max_instances + its RDATE/DTSTART extras. */
	if (st.items > (st.events + 1) * (w.max_instances + 70))
		abort();
	return 0;
}
