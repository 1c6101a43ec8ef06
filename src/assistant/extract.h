/*
 * extract.h — turning a conversation into memories of their own: facts,
 * tasks, events and follow-ups ("Memorize", docs/ASSISTANT.md).
 *
 * Two pure front ends produce the same result type:
 *  - pos_extract_rules(): a rule-based extractor for English, used when no
 *    language model is configured. docs/MEMORIZE.md lists exactly what it
 *    recognises (phrases, dates, times) and tests/data/extract/ pins each
 *    rule with a case.
 *  - pos_extract_model_prompt() + pos_extract_parse_model(): the system
 *    prompt asking a model for a JSON object, and the validator that turns
 *    the model's answer into items or refuses it whole.
 * Neither touches the store or the network: the job queue, deduplication
 * against existing memories and storage live in the caller.
 *
 * Ownership: every pointer in a result (the item array and each string) is
 * allocated in the caller's arena and lives as long as it; the input is not
 * referenced after return. Every string is valid UTF-8 without control
 * characters, trimmed, runs of white space collapsed to one space.
 * Thread-safety: pure functions; only the arena passed in is written.
 */
#ifndef POS_ASSISTANT_EXTRACT_H
#define POS_ASSISTANT_EXTRACT_H

#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/clock.h"
#include "base/err.h"

/* Rules look at no more than the first this many bytes of the input. */
#define POS_EXTRACT_MAX_SCAN (256u * 1024u)
/* An item's text is at most this many bytes (rules cut longer clauses at a
 * character boundary; a model answer with a longer text is refused). */
#define POS_EXTRACT_MAX_TEXT 1000
/* A `who` is at most this many bytes. */
#define POS_EXTRACT_MAX_WHO 200
/* `max` is clamped to this many items. */
#define POS_EXTRACT_MAX_ITEMS 256
/* A model answer longer than this many bytes is refused. */
#define POS_EXTRACT_MAX_ANSWER (256u * 1024u)

enum pos_extract_kind {
	POS_EXTRACT_FACT,
	POS_EXTRACT_TASK,
	POS_EXTRACT_EVENT,
	POS_EXTRACT_FOLLOWUP
};

struct pos_extract_item {
	enum pos_extract_kind kind;
	const char *text;      /* one self-contained statement, trimmed, <= 1000 bytes */
	int64_t when_us;       /* event start or task/follow-up due time; POS_TIME_NONE if none */
	int64_t end_us;        /* event end; POS_TIME_NONE if none */
	const char *who;       /* "meeting with Anna" -> "Anna"; NULL if none */
	size_t offset;         /* byte offset in the input where it was found (rules) or 0 */
};

struct pos_extract_result {
	struct pos_extract_item *items;
	size_t n;
};

/* "fact", "task", "event", "follow_up" ("?" for a value out of range). */
const char *pos_extract_kind_name(enum pos_extract_kind k);

/*
 * Rule-based extractor, used when no model is configured. Reads `len` bytes
 * at `text` (need not be NUL-terminated, may hold NULs and invalid UTF-8;
 * NULL is fine when len is 0), of which only the first POS_EXTRACT_MAX_SCAN
 * are looked at. `now_us` is the reference time for relative dates;
 * `tz_offset_min` the user's UTC offset in minutes (east positive, clamped
 * to ±18 h). Dates and times are read in the user's zone and returned as UTC
 * microseconds. At most `max` items (clamped to POS_EXTRACT_MAX_ITEMS), in
 * the order found; an item equal to an earlier one (same kind, same text
 * ignoring ASCII case, same when_us) is dropped. Never fails on odd text:
 * returns POS_OK, or POS_ERR_NOMEM with `*out` empty.
 */
enum pos_err pos_extract_rules(struct pos_arena *a, const char *text, size_t len,
			       int64_t now_us, int tz_offset_min, size_t max,
			       struct pos_extract_result *out);

/*
 * The first date (or "in 2 hours"-style instant) the text names, with the
 * rules' date reading (docs/MEMORIZE.md) relative to `now_us` in the zone
 * `tz_offset_min`, sentence by sentence, whether or not the sentence makes
 * an item: "Bring the bike to the shop tomorrow." gives tomorrow. A time
 * without a date does not count. POS_TIME_NONE when none (or out of
 * memory). Used to date a memory by what it is about.
 */
int64_t pos_extract_first_date(struct pos_arena *a, const char *text, size_t len,
			       int64_t now_us, int tz_offset_min);

/*
 * The system prompt that asks a model to answer a JSON object
 * {"facts":[{"text"}], "tasks":[{"text","due"?}],
 *  "events":[{"text","start","end"?,"with"?}], "follow_ups":[{"text","due"?}]}
 * with ISO 8601 dates. A static string; the caller sends the conversation
 * (and the user's current date, time and zone) as the user message.
 */
const char *pos_extract_model_prompt(void);

/*
 * Validates a model's answer and converts it. The answer may be wrapped in
 * ```json fences or have prose around the object: the first balanced JSON
 * object in it is used. Rules (docs/MEMORIZE.md): the four keys are optional
 * arrays (absent or null = empty; other keys are ignored); each element is
 * an object whose "text" is a non-empty string of at most
 * POS_EXTRACT_MAX_TEXT bytes; "due", "start", "end" are ISO 8601 dates
 * ("2026-12-03") or date-times with optional seconds and offset (no offset
 * means UTC) within 100 years of `now_us`, or null; an event needs "start",
 * and "end" must not be before it; "with" is a string of at most
 * POS_EXTRACT_MAX_WHO bytes or null. More than `max` items (clamped to
 * POS_EXTRACT_MAX_ITEMS) in total is invalid; exact repeats are dropped.
 * Anything invalid -> POS_ERR_BAD_GATEWAY with `err` naming the offending
 * part (err->field like "tasks[2].due"; the message never quotes the
 * answer's content), and *out left empty: nothing partial. POS_ERR_NOMEM
 * on allocation failure. `err` may be NULL.
 */
enum pos_err pos_extract_parse_model(struct pos_arena *a, const char *answer,
				     size_t len, int64_t now_us, size_t max,
				     struct pos_extract_result *out,
				     struct pos_error *err);

#endif
