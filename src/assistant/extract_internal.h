/*
 * extract_internal.h — what the rule and model halves of the extractor
 * share: the result builder (limits, text clean-up, de-duplication) and
 * civil-date arithmetic. Not part of the contract; see extract.h.
 */
#ifndef POS_ASSISTANT_EXTRACT_INTERNAL_H
#define POS_ASSISTANT_EXTRACT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "assistant/extract.h"

struct pos_extract_builder {
	struct pos_arena *a;
	struct pos_extract_item *items;
	size_t n, cap, max;
};

void pos_extract_builder_init(struct pos_extract_builder *b, struct pos_arena *a,
			      size_t max);
bool pos_extract_builder_full(const struct pos_extract_builder *b);

/*
 * Cleans `s[0..n)` into a new arena string: invalid UTF-8 becomes U+FFFD,
 * control characters and Unicode spaces become spaces, white space is
 * collapsed and trimmed, and the result is cut at a character boundary to
 * at most `cap` bytes (when `cut`, otherwise *too_long is set and NULL is
 * returned for a longer text). Returns NULL with *nomem set on OOM, or ""
 * for nothing left.
 */
char *pos_extract_clean(struct pos_arena *a, const char *s, size_t n, size_t cap,
			bool cut, bool *too_long, bool *nomem);

/*
 * Adds an item whose strings are already clean (who may be NULL). Drops it
 * when text is empty or it repeats an earlier item, or when the builder is
 * full. Returns POS_OK or POS_ERR_NOMEM.
 */
enum pos_err pos_extract_add(struct pos_extract_builder *b, enum pos_extract_kind kind,
			     const char *text, int64_t when_us, int64_t end_us,
			     const char *who, size_t offset);

/*
 * Length of the valid UTF-8 sequence at s[0..n) (n >= 1) and its code point,
 * or 0 for an invalid one (overlong, surrogate, beyond U+10FFFF, truncated).
 */
size_t pos_extract_utf8(const unsigned char *s, size_t n, uint32_t *cp);

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
int64_t pos_extract_days(int64_t y, int m, int d);
void pos_extract_civil(int64_t days, int64_t *y, int *m, int *d);
/* Days in month m (1-12) of year y. */
int pos_extract_mdays(int64_t y, int m);

#endif
