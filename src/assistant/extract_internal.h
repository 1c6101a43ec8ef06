/*
 * extract_internal.h — what the parts of the extractor share: the result
 * builder (limits, text clean-up, de-duplication), civil-date arithmetic,
 * and the rule extractor's state and word helpers used by extract_rules.c
 * and extract_dates.c. Not part of the contract; see extract.h.
 */
#ifndef POS_ASSISTANT_EXTRACT_INTERNAL_H
#define POS_ASSISTANT_EXTRACT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "assistant/extract.h"
#include "base/arena.h"

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

/* ---- the rule extractor's shared state and text helpers ------------------ */

/*
 * One call of pos_extract_rules: the input, its normalised matching copy
 * (ASCII lower-cased, quotations and other speakers blanked) with a map back
 * to input offsets, and the reference date.
 */
struct pos_rules_ctx {
	struct pos_arena *a;
	const char *orig;
	char *n;      /* normalised copy */
	size_t *map;  /* n[i] came from orig[map[i]]; map[len] = end */
	size_t len;
	int64_t now_us;
	int64_t tz_s;          /* user's UTC offset in seconds */
	int64_t today;         /* the user's local date, days since the epoch */
	int wday;              /* of today, 0 = Sunday */
	struct pos_extract_builder b;
};

static inline bool is_alpha(char c)
{
	return c >= 'a' && c <= 'z';
}

static inline bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static inline bool is_alnum(char c)
{
	return is_alpha(c) || is_digit(c);
}

/* Word characters of the matching copy: letters, digits, apostrophe, and
 * every byte of a non-ASCII character. */
static inline bool is_wc(char c)
{
	return is_alnum(c) || c == '\'' || (unsigned char)c >= 0x80;
}

static inline bool is_sp(char c)
{
	return c == ' ' || c == '\t' || c == '\n';
}

/* End of the word of word characters at p (p itself when none). */
static inline size_t word_end(const struct pos_rules_ctx *c, size_t p, size_t lim)
{
	while (p < lim && is_wc(c->n[p]))
		p++;
	return p;
}

static inline size_t skip_sp(const struct pos_rules_ctx *c, size_t p, size_t lim)
{
	while (p < lim && is_sp(c->n[p]))
		p++;
	return p;
}

/* Does the word n[p..q) equal w? */
static inline bool weq(const struct pos_rules_ctx *c, size_t p, size_t q, const char *w)
{
	size_t l = strlen(w);
	return q - p == l && memcmp(c->n + p, w, l) == 0;
}

static inline bool win(const struct pos_rules_ctx *c, size_t p, size_t q, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		if (weq(c, p, q, list[i]))
			return true;
	return false;
}

/* Does the text at p start with s (s may end in a space or ':')? The match
 * must end at a word boundary. */
static inline bool starts(const struct pos_rules_ctx *c, size_t p, size_t lim, const char *s)
{
	size_t l = strlen(s);
	if (p + l > lim || memcmp(c->n + p, s, l) != 0)
		return false;
	char last = s[l - 1];
	return !is_wc(last) || p + l == lim || !is_wc(c->n[p + l]);
}

/* Start of the word ending just before p (skipping spaces), or p if none. */
static inline size_t prev_word(const struct pos_rules_ctx *c, size_t lo, size_t p, size_t *end)
{
	size_t q = p;
	while (q > lo && is_sp(c->n[q - 1]))
		q--;
	*end = q;
	while (q > lo && is_wc(c->n[q - 1]))
		q--;
	return q;
}

/* Is the original byte behind n[p] an ASCII capital or a non-ASCII letter? */
static inline bool orig_cap(const struct pos_rules_ctx *c, size_t p)
{
	unsigned char o = (unsigned char)c->orig[c->map[p]];
	return (o >= 'A' && o <= 'Z') || o >= 0x80;
}

/* What a clause says about time (extract_dates.c). */
struct pos_when {
	bool has_date, has_time, has_end, has_abs, past;
	int64_t date;          /* local days since the epoch */
	int h, mi, eh, emi;    /* start and end, 24 h */
	int default_h;         /* from morning/afternoon/evening/tonight, or -1 */
	bool pm_bias;          /* afternoon, evening, tonight */
	bool bare;             /* the start time had no am/pm */
	bool bare_end;
	int64_t abs_us;        /* "in 2 hours" */
};

/* Weekday (0 = Sunday) named by n[p..q), or -1. Abbreviations count only
 * when written with a capital ("Sat", not "sat"). */
int pos_extract_weekday(const struct pos_rules_ctx *c, size_t p, size_t q);
/* Month (1-12) named by n[p..q) (full or abbreviated), or 0. */
int pos_extract_month(const struct pos_rules_ctx *c, size_t p, size_t q);
/* Scans n[lo..hi) for the first date, the first time and past markers. */
void pos_extract_scan_when(const struct pos_rules_ctx *c, size_t lo, size_t hi,
			   struct pos_when *w);
/* Resolves a scan to UTC microseconds: start (POS_TIME_NONE when the clause
 * names no date or time) and end (POS_TIME_NONE without a range). */
void pos_extract_resolve(const struct pos_rules_ctx *c, const struct pos_when *w,
			 int64_t *start, int64_t *end);

#endif
