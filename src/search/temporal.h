/*
 * temporal.h — time phrases in search queries: "yesterday", "last week",
 * "in May", "two weeks ago", "this month", "on Tuesday", "when did ...".
 *
 * pos_temporal_find reads a query as typed, finds the first time phrase
 * outside "quotes", and returns the window it names (the past the person
 * is asking about, [from, to) in UTC microseconds) with the query text
 * that is left once the phrase is cut out. The search engine then ranks
 * memories dated in or near the window first (or, when nothing but the
 * phrase and stop words is left, lists the window). A question that asks
 * *when* something happened names no window; it is flagged, and memories
 * that mention a time (pos_temporal_mentions) rank a little higher.
 *
 * Everything is relative to `now_us` and `tz_offset_min` (the person's UTC
 * offset in minutes, clamped to ±18 h), so callers and tests set the clock.
 * Words are whole, any ASCII case. docs/SEARCH.md ("Time phrases") lists
 * what is understood.
 * Thread-safety: pure functions; only the arena passed in is written.
 */
#ifndef POS_SEARCH_TEMPORAL_H
#define POS_SEARCH_TEMPORAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/err.h"

struct pos_temporal {
	bool window;        /* a time phrase was found: from/to are set */
	int64_t from, to;   /* [from, to), UTC microseconds */
	bool asks_when;     /* "when did/was/is ...", "what date", "how long ago" */
	/* The query without the phrase (white space around it made one space),
	 * an arena string; the query itself (copied) when no phrase was cut. */
	const char *rest;
	size_t rest_len;
};

/*
 * Finds the time phrase in the `len` bytes at `q` (need not be
 * NUL-terminated; at most POS_QUERY_MAX_BYTES are read: a longer query is
 * the parser's to refuse). Text inside "double quotes" is never a phrase.
 * Errors: POS_ERR_NOMEM.
 */
enum pos_err pos_temporal_find(struct pos_arena *a, const char *q, size_t len, int64_t now_us,
			       int tz_offset_min, struct pos_temporal *out);

/*
 * True when the `len` bytes at `s` mention a time: a month or weekday
 * name, yesterday/today/tomorrow/tonight, last/next/this week (month,
 * year, weekend), "ago", or a year 1900–2099. Reads at most 4096 bytes.
 */
bool pos_temporal_mentions(const char *s, size_t len);

/*
 * The boost factor in [0, 1] of a memory dated `t` for window [from, to):
 * 1 inside; outside, halving with every window length (at least a day)
 * of distance.
 */
double pos_temporal_closeness(int64_t t, int64_t from, int64_t to);

#endif
