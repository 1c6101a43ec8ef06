/*
 * ics.h — iCalendar (RFC 5545) text to `event` items, with libical.
 *
 * Shared by the ics_file, ics_url and caldav adapters. The text is split
 * into its VTIMEZONE and VEVENT blocks by a line scanner of ours (so every
 * event has a position — "event 12 (line 230)" — and a broken one is
 * skipped alone), each VEVENT is parsed by libical, and events are grouped
 * by UID so RECURRENCE-ID overrides replace the instances they name.
 * Recurring events (RRULE, RDATE, minus EXDATE) are expanded inside a
 * window; each instance is its own item with external_id "UID#<start>",
 * where <start> is the original instance start in RFC 3339 UTC (a date for
 * all-day events). A single event's external_id is its UID.
 *
 * Times: TZID parameters resolve against the file's VTIMEZONE blocks first,
 * then the system's Olson database (libical built-in zones); floating times
 * use the configured `timezone` (default UTC). All-day events are dates and
 * are reported at UTC midnight with metadata all_day = true.
 *
 * Version of an item: a hash of the raw VEVENT text without its DTSTAMP
 * line (which many servers rewrite on every export), combined with the
 * master's text for instances of a recurring event.
 *
 * Thread-safety: functions here keep no state of their own; libical's
 * built-in time zone cache is its own (locked in libical 3).
 */
#ifndef POS_SYNC_ICS_H
#define POS_SYNC_ICS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "sync/adapter.h"

#define POS_ICS_DEFAULT_PAST_DAYS 365
#define POS_ICS_DEFAULT_FUTURE_DAYS 365
#define POS_ICS_MAX_DAYS 3650
#define POS_ICS_DEFAULT_MAX_INSTANCES 1000
#define POS_ICS_MAX_INSTANCES 10000
#define POS_ICS_MAX_EVENT_BYTES (1u << 20)   /* one VEVENT block */
#define POS_ICS_MAX_CONTENT 65536            /* one item's text */
#define POS_ICS_MAX_FILE_BYTES (256u << 20)  /* an .ics file or download */

/* How recurring events are expanded. */
struct pos_ics_window {
	int64_t from_us;        /* instances starting at or after ... */
	int64_t until_us;       /* ... and before this */
	unsigned max_instances; /* per recurring event */
	char floating_tz[64];   /* Olson name for floating times; "" = UTC */
};

/*
 * Reads the window keys of an adapter config: expand_past_days,
 * expand_future_days (0..3650, default 365 each, relative to `now_us`),
 * or absolute expand_from / expand_until (RFC 3339), max_instances
 * (1..10000, default 1000), timezone (an Olson name). A bad value gives
 * POS_ERR_INVALID_FIELD naming the key.
 */
enum pos_err pos_ics_window_from_config(const json_t *config, int64_t now_us,
					struct pos_ics_window *w,
					struct pos_error *err);

/* What one import did. */
struct pos_ics_stats {
	uint64_t events;   /* VEVENT blocks seen */
	uint64_t items;    /* items upserted */
	uint64_t skipped;  /* blocks skipped as malformed */
};

/*
 * Transforms the iCalendar text data[0..len) and upserts every item
 * through `sink`. Malformed events go to sink->skip with their position,
 * prefixed with `where` when not NULL ("cal/x.ics: event 3 (line 40)").
 * When `ids` is not NULL, each upserted external_id is appended to it (a
 * JSON array). Does not call sink->complete. Returns the sink's fatal error,
 * POS_ERR_NOMEM, or POS_ERR_UNAVAILABLE when the sink says cancelled; text
 * that holds no VCALENDAR at all is POS_ERR_BAD_GATEWAY (garbage, e.g. an
 * HTML login page), unless it is empty.
 */
enum pos_err pos_ics_import(const char *data, size_t len,
			    const struct pos_ics_window *w, const char *where,
			    const struct pos_sync_sink *sink, json_t *ids,
			    struct pos_ics_stats *stats, struct pos_error *err);

/*
 * Parse-only pass over the same text (splitting, libical parsing, time
 * zone resolution and expansion, no items built): the bench baseline.
 * Returns the number of instances found.
 */
uint64_t pos_ics_parse_only(const char *data, size_t len,
			    const struct pos_ics_window *w);

/*
 * Turns err->field "path" into "config.path" (the field as the API body
 * names it); leaves "" and "config..." alone. Returns err->code.
 */
enum pos_err pos_ics_config_field(struct pos_error *err);

/* Hex of a 16-byte BLAKE2b hash of data (out needs 33 bytes). */
void pos_ics_hash_hex(const void *data, size_t len, char out[33]);

#endif
