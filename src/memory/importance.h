/*
 * importance.h — a memory's computed importance (docs/LIFECYCLE.md,
 * "Importance"): a base by type, the user's rating, how often and how
 * lately it was used, how linked it is, and signals in its text (dates,
 * money, people, words like "important"), decaying with time unused.
 * A value the user set is never replaced (the caller checks
 * importance_set). Pure and thread-safe.
 */
#ifndef POS_MEMORY_IMPORTANCE_H
#define POS_MEMORY_IMPORTANCE_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* Half-life of the decay, in days without use. */
#define POS_IMPORTANCE_HALF_LIFE_DAYS 180

/* Signals found in a text, as bits. */
enum {
	POS_SIG_DATE = 1,
	POS_SIG_MONEY = 2,
	POS_SIG_PERSON = 4,
	POS_SIG_IMPORTANT = 8,
};

/* The signals of `text` (len bytes; NULL: none). */
unsigned pos_importance_signals(const char *text, size_t len);

/* The importance of `r` at `now`, in [0, 1], rounded to 0.001. */
double pos_importance_compute(const struct pos_life_row *r, int64_t now);

#endif
