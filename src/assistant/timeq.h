/*
 * timeq.h — time questions for the assistant: "What do I have to do this
 * week?", "what's tomorrow?". Finds the window a question asks about, the
 * date each memory is about (an event's start, a task's due date, or a date
 * written in its text), and the memories dated within a window, so that the
 * answer — from a model or the offline responder — lists what falls in it,
 * by the date of the thing, not the date it was written down.
 *
 * Dates are read in the user's zone: `tz_offset_min` is their UTC offset
 * in minutes (settings.tz_offset_minutes), clamped to ±18 h.
 * docs/ASSISTANT.md ("Time questions") lists the phrases understood.
 * Thread-safety: pure functions, but pos_timeq_collect reads the store.
 */
#ifndef POS_ASSISTANT_TIMEQ_H
#define POS_ASSISTANT_TIMEQ_H

#include <stdbool.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/err.h"
#include "store/store.h"

struct pos_assistant;

/* The window a question names, [from, to) in UTC microseconds. */
struct pos_timeq {
	int64_t from, to;
	const char *label;      /* "today", "this week", ... (static) */
};

/* The user's UTC offset in minutes from a settings JSON object's
 * tz_offset_minutes; 0 when unset or out of range. */
int pos_timeq_tz(const char *settings_json);

/*
 * True when `question` names a time window relative to `now_us` (today,
 * tonight, tomorrow, yesterday, this/next/last week, the week ahead, the
 * weekend, this/next month, upcoming / coming up / soon), filling *out.
 * Whole words, any case.
 */
bool pos_timeq_window(const char *question, int64_t now_us, int tz_offset_min,
		      struct pos_timeq *out);

/*
 * When memory `m` is about: metadata.start_time, else metadata.due, else
 * (an event without them) its created_at, else the first date or time
 * named in its text, read relative to when it was written (its
 * created_at: "tomorrow" in a note of Monday is Tuesday). POS_TIME_NONE
 * when none.
 */
int64_t pos_timeq_when(struct pos_arena *a, const struct pos_memory *m, int tz_offset_min);

/*
 * The user's memories dated within w (per pos_timeq_when), soonest first,
 * at most `cap`: events whose start falls in it, and among the
 * POS_TIMEQ_SCAN most recently stored memories those dated in it —
 * completed tasks and the assistant's own exchanges left out. *whens
 * receives each one's date. Errors: the store's.
 */
#define POS_TIMEQ_SCAN 500
enum pos_err pos_timeq_collect(struct pos_store *s, struct pos_arena *a, const char *user_id,
			       int tz_offset_min, const struct pos_timeq *w, size_t cap,
			       struct pos_memory **out, int64_t **whens, size_t *n);

#endif
