/*
 * extract_rules.c — the rule-based extractor: English trigger phrases,
 * dates and times, no model. docs/MEMORIZE.md is the user-facing list of
 * what is recognised; tests/data/extract/ pins each rule.
 *
 * How it works: the input (at most POS_EXTRACT_MAX_SCAN bytes) is first
 * normalised into a matching copy — ASCII lower-cased, typographic quotes
 * and apostrophes made ASCII, control bytes and invalid UTF-8 made spaces —
 * with a map from each byte back to its offset in the input, so that item
 * texts are always cut from the original. The copy is split into sentences;
 * in each, quoted passages are blanked so they match nothing, trigger
 * phrases ("I need to", "remind me to", "my X is") start clauses, and each
 * clause becomes at most one item. Text before the first trigger may be an
 * event ("lunch with Anna on Friday at noon"). Every loop advances by at
 * least one byte and looks at a bounded window, so the cost is linear in the
 * input.
 */
#include "assistant/extract.h"

#include <stdbool.h>
#include <string.h>

#include "assistant/extract_internal.h"

#define MASK '\x01' /* a byte inside a quotation: never part of a word */

struct ctx {
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

/* ---- characters and words ------------------------------------------------- */

static bool is_alpha(char c)
{
	return c >= 'a' && c <= 'z';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
	return is_alpha(c) || is_digit(c);
}

/* Word characters of the matching copy: letters, digits, apostrophe, and
 * every byte of a non-ASCII character. */
static bool is_wc(char c)
{
	return is_alnum(c) || c == '\'' || (unsigned char)c >= 0x80;
}

static bool is_sp(char c)
{
	return c == ' ' || c == '\t' || c == '\n';
}

/* End of the word of word characters at p (p itself when none). */
static size_t word_end(const struct ctx *c, size_t p, size_t lim)
{
	while (p < lim && is_wc(c->n[p]))
		p++;
	return p;
}

static size_t skip_sp(const struct ctx *c, size_t p, size_t lim)
{
	while (p < lim && is_sp(c->n[p]))
		p++;
	return p;
}

/* Does the word n[p..q) equal w? */
static bool weq(const struct ctx *c, size_t p, size_t q, const char *w)
{
	size_t l = strlen(w);
	return q - p == l && memcmp(c->n + p, w, l) == 0;
}

static bool win(const struct ctx *c, size_t p, size_t q, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		if (weq(c, p, q, list[i]))
			return true;
	return false;
}

/* Does the text at p start with s (s may end in a space or ':')? The match
 * must end at a word boundary. */
static bool starts(const struct ctx *c, size_t p, size_t lim, const char *s)
{
	size_t l = strlen(s);
	if (p + l > lim || memcmp(c->n + p, s, l) != 0)
		return false;
	char last = s[l - 1];
	return !is_wc(last) || p + l == lim || !is_wc(c->n[p + l]);
}

/* Start of the word ending just before p (skipping spaces), or p if none. */
static size_t prev_word(const struct ctx *c, size_t lo, size_t p, size_t *end)
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
static bool orig_cap(const struct ctx *c, size_t p)
{
	unsigned char o = (unsigned char)c->orig[c->map[p]];
	return (o >= 'A' && o <= 'Z') || o >= 0x80;
}

static const char *const weekdays[] = {"sunday", "monday", "tuesday", "wednesday",
				       "thursday", "friday", "saturday", NULL};
static const char *const wd_abbr[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};
static const char *const months[] = {"january", "february", "march", "april", "may",
				     "june", "july", "august", "september", "october",
				     "november", "december", NULL};
static const char *const mon_abbr[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
				       "aug", "sep", "oct", "nov", "dec", NULL};

/* Weekday (0 = Sunday) named by n[p..q), or -1. Abbreviations count only
 * when written with a capital ("Sat", not "sat"). */
static int weekday_of(const struct ctx *c, size_t p, size_t q)
{
	for (int i = 0; weekdays[i]; i++)
		if (weq(c, p, q, weekdays[i]))
			return i;
	if (!orig_cap(c, p))
		return -1;
	for (int i = 0; wd_abbr[i]; i++)
		if (weq(c, p, q, wd_abbr[i]))
			return i;
	if (weq(c, p, q, "tues"))
		return 2;
	if (weq(c, p, q, "thur") || weq(c, p, q, "thurs"))
		return 4;
	return -1;
}

/* Month (1-12) named by n[p..q), or 0. */
static int month_of(const struct ctx *c, size_t p, size_t q)
{
	for (int i = 0; months[i]; i++)
		if (weq(c, p, q, months[i]) || weq(c, p, q, mon_abbr[i]))
			return i + 1;
	if (weq(c, p, q, "sept"))
		return 9;
	return 0;
}

/* ---- dates and times ------------------------------------------------------ */

struct when {
	bool has_date, has_time, has_end, has_abs, past;
	int64_t date;          /* local days since the epoch */
	int h, mi, eh, emi;    /* start and end, 24 h */
	int default_h;         /* from morning/afternoon/evening/tonight, or -1 */
	bool pm_bias;          /* afternoon, evening, tonight */
	bool bare;             /* the start time had no am/pm */
	bool bare_end;
	int64_t abs_us;        /* "in 2 hours" */
};

/* Reads 1..maxd digits at p; returns the end or p when none/too many. */
static size_t read_num(const struct ctx *c, size_t p, size_t lim, size_t maxd, int *v)
{
	size_t q = p;
	int x = 0;
	while (q < lim && is_digit(c->n[q]) && q - p < maxd + 1) {
		x = x * 10 + (c->n[q] - '0');
		q++;
	}
	if (q == p || q - p > maxd || (q < lim && is_digit(c->n[q])))
		return p;
	*v = x;
	return q;
}

static bool valid_date(int64_t y, int m, int d)
{
	return y >= 1900 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 &&
	       d <= pos_extract_mdays(y, m);
}

/* The next (m, d) on or after today, in the local calendar; -1 if none. */
static int64_t next_md(const struct ctx *c, int m, int d)
{
	int64_t y;
	int tm, td;
	pos_extract_civil(c->today, &y, &tm, &td);
	if (m < tm || (m == tm && d < td))
		y++;
	for (int k = 0; k < 8 && !valid_date(y, m, d); k++)
		y++; /* February 29 waits for a leap year */
	return valid_date(y, m, d) ? pos_extract_days(y, m, d) : -1;
}

static void set_date(struct when *w, int64_t days)
{
	if (!w->has_date && days >= 0) {
		w->has_date = true;
		w->date = days;
	}
}

/*
 * A clock time at p: "3pm", "3 pm", "3 p.m.", "3:30", "3:30pm", "15:00",
 * "noon" and "midnight" are handled by the caller. Sets *mer to 1 (am),
 * 2 (pm) or 0, *colon when minutes were written. Returns the end or p.
 */
static size_t read_clock(const struct ctx *c, size_t p, size_t lim, int *h, int *mi,
			 int *mer, bool *colon, bool *lead0)
{
	int hh, mm = 0;
	size_t q = read_num(c, p, lim, 2, &hh);
	if (q == p)
		return p;
	*lead0 = q - p == 2 && c->n[p] == '0';
	*colon = false;
	if (q + 2 < lim && c->n[q] == ':' && is_digit(c->n[q + 1]) && is_digit(c->n[q + 2]) &&
	    (q + 3 == lim || !is_digit(c->n[q + 3]))) {
		mm = (c->n[q + 1] - '0') * 10 + (c->n[q + 2] - '0');
		q += 3;
		*colon = true;
	}
	*mer = 0;
	size_t r = q < lim && c->n[q] == ' ' ? q + 1 : q;
	if (r + 1 < lim && (c->n[r] == 'a' || c->n[r] == 'p')) {
		int m = c->n[r] == 'a' ? 1 : 2;
		size_t e = 0;
		if (c->n[r + 1] == 'm' && (r + 2 == lim || !is_wc(c->n[r + 2])))
			e = r + 2;
		else if (r + 3 < lim && c->n[r + 1] == '.' && c->n[r + 2] == 'm' &&
			 c->n[r + 3] == '.')
			e = r + 4;
		else if (r + 2 < lim && c->n[r + 1] == '.' && c->n[r + 2] == 'm' &&
			 (r + 3 == lim || !is_wc(c->n[r + 3])))
			e = r + 3;
		if (e) {
			*mer = m;
			q = e;
		}
	}
	if (q < lim && is_wc(c->n[q]))
		return p; /* "3rd", "10x", "3:30abc" */
	if (*mer) {
		if (hh < 1 || hh > 12 || mm > 59)
			return p;
		hh = hh % 12 + (*mer == 2 ? 12 : 0);
	} else if (hh > 23 || mm > 59) {
		return p;
	}
	*h = hh;
	*mi = mm;
	return q;
}

/* "in 3 days", "in a week", "in two hours": at p is the word after "in". */
static size_t read_in(const struct ctx *c, size_t p, size_t lim, struct when *w)
{
	static const char *const nums[] = {"a", "one", "two", "three", "four", "five", "six",
					   "seven", "eight", "nine", "ten", "eleven",
					   "twelve", NULL};
	int v = -1;
	size_t q = word_end(c, p, lim);
	if (q > p && is_digit(c->n[p])) {
		if (read_num(c, p, lim, 3, &v) != q)
			return p;
	} else {
		for (int i = 0; nums[i]; i++)
			if (weq(c, p, q, nums[i]))
				v = i == 0 ? 1 : i;
		if (weq(c, p, q, "an"))
			v = 1;
	}
	if (v < 0)
		return p;
	size_t u = skip_sp(c, q, lim), ue = word_end(c, u, lim);
	static const char *const mins[] = {"minute", "minutes", "min", "mins", NULL};
	static const char *const hours[] = {"hour", "hours", "hr", "hrs", NULL};
	if (win(c, u, ue, mins) || win(c, u, ue, hours)) {
		if (!w->has_abs && !w->has_date && !w->has_time) {
			w->has_abs = true;
			w->abs_us = c->now_us +
				    (int64_t)v * (win(c, u, ue, mins) ? 60 : 3600) * 1000000;
		}
		return ue;
	}
	if (weq(c, u, ue, "day") || weq(c, u, ue, "days"))
		set_date(w, c->today + v);
	else if (weq(c, u, ue, "week") || weq(c, u, ue, "weeks"))
		set_date(w, c->today + 7 * (int64_t)v);
	else if (weq(c, u, ue, "month") || weq(c, u, ue, "months")) {
		int64_t y;
		int m, d;
		pos_extract_civil(c->today, &y, &m, &d);
		int64_t mm = (int64_t)m - 1 + v;
		y += mm / 12;
		m = (int)(mm % 12) + 1;
		if (d > pos_extract_mdays(y, m))
			d = pos_extract_mdays(y, m);
		set_date(w, pos_extract_days(y, m, d));
	} else
		return p;
	return ue;
}

/* A range end after a time ending at q: "-4pm", "to 5", "until 17:00".
 * Returns its end (or q when there is none). */
static size_t range_end(const struct ctx *c, size_t q, size_t lim, int *eh, int *emi,
			int *emer, bool *ecolon, bool *elead0)
{
	size_t r = skip_sp(c, q, lim), re;
	if (r < lim && c->n[r] == '-') {
		re = r + 1;
	} else {
		static const char *const tos[] = {"to", "until", "till", "til", NULL};
		re = word_end(c, r, lim);
		if (!win(c, r, re, tos))
			return q;
	}
	re = skip_sp(c, re, lim);
	size_t e2 = read_clock(c, re, lim, eh, emi, emer, ecolon, elead0);
	return e2 == re ? q : e2;
}

/* A clock time at p, with an optional range end. A bare number is a time
 * only after at/around/from/by/until or when a range end has am/pm or
 * minutes ("10-11am"). */
static size_t time_at(const struct ctx *c, size_t lo, size_t p, size_t lim, struct when *w)
{
	int h, mi, mer, eh, emi, emer;
	bool colon, lead0, ecolon, elead0;
	size_t q = read_clock(c, p, lim, &h, &mi, &mer, &colon, &lead0);
	if (q == p)
		return p;
	size_t e2 = range_end(c, q, lim, &eh, &emi, &emer, &ecolon, &elead0);
	size_t pe, pw = prev_word(c, lo, p, &pe);
	static const char *const preps[] = {"at", "around", "from", "by", "til", "until", NULL};
	bool after_at = (pw < pe && win(c, pw, pe, preps)) || (pw == pe && pe > lo &&
							       c->n[pe - 1] == '@');
	if (!mer && !colon && !after_at && !(e2 > q && (emer || ecolon)))
		return p; /* a bare number is not a time */
	if (w->has_time)
		return e2;
	w->has_time = true;
	w->h = h;
	w->mi = mi;
	w->bare = !mer && !lead0;
	if (e2 == q)
		return q;
	w->has_end = true;
	w->eh = eh;
	w->emi = emi;
	w->bare_end = !emer && !elead0;
	if (!mer && emer == 2 && h < 12 && h + 12 <= eh) {
		w->h = h + 12; /* "3-4pm" */
		w->bare = false;
	} else if (!mer && emer) {
		w->bare = false; /* "10-11am" */
	}
	return e2;
}

/* Dates written with digits at p: 2026-12-03, 12/3, 12/3/2026, 3 December,
 * 3rd of Dec 2026. Returns the end, or p. */
static size_t digit_date_at(const struct ctx *c, size_t lo, size_t p, size_t lim,
			    struct when *w)
{
	int y, m, d;
	size_t q = read_num(c, p, lim, 4, &y);
	if (q == p + 4 && q + 6 <= lim && c->n[q] == '-' &&
	    read_num(c, q + 1, lim, 2, &m) == q + 3 && c->n[q + 3] == '-' &&
	    read_num(c, q + 4, lim, 2, &d) == q + 6) {
		size_t e = q + 6;
		if (valid_date(y, m, d) && (e == lim || !is_wc(c->n[e]) || c->n[e] == 't')) {
			set_date(w, pos_extract_days(y, m, d));
			if (e < lim && c->n[e] == 't') {
				size_t te = time_at(c, e + 1, e + 1, lim, w);
				if (te > e + 1)
					return te;
			}
			return e;
		}
		return p;
	}
	q = read_num(c, p, lim, 2, &m);
	if (q > p && q < lim && c->n[q] == '/') {
		size_t r = read_num(c, q + 1, lim, 2, &d);
		if (r == q + 1)
			return p;
		int64_t days = -1;
		if (r < lim && c->n[r] == '/') {
			size_t s = read_num(c, r + 1, lim, 4, &y);
			if (s - (r + 1) != 4 && s - (r + 1) != 2)
				return p;
			if (s - (r + 1) == 2)
				y += 2000;
			r = s;
			if (valid_date(y, m, d))
				days = pos_extract_days(y, m, d);
		} else if (m >= 1 && m <= 12 && d >= 1 && d <= 31) {
			days = next_md(c, m, d);
		}
		if (r < lim && (is_wc(c->n[r]) || c->n[r] == '/'))
			return p;
		set_date(w, days);
		return r;
	}
	/* 3 December, 3rd of December (2026) */
	q = read_num(c, p, lim, 2, &d);
	if (q == p)
		return p;
	size_t r = q;
	bool suffix = false;
	if (r + 2 <= lim && (memcmp(c->n + r, "st", 2) == 0 || memcmp(c->n + r, "nd", 2) == 0 ||
			     memcmp(c->n + r, "rd", 2) == 0 || memcmp(c->n + r, "th", 2) == 0)) {
		r += 2;
		suffix = true;
	}
	if (r < lim && is_wc(c->n[r]))
		return p;
	size_t after = r;
	r = skip_sp(c, r, lim);
	size_t re = word_end(c, r, lim);
	if (weq(c, r, re, "of")) {
		r = skip_sp(c, re, lim);
		re = word_end(c, r, lim);
	}
	m = month_of(c, r, re);
	if (!m) {
		/* "on the 5th": the next 5th of a month, from today on */
		static const char *const preps[] = {"on", "by", "until", "till", "before",
						    "after", NULL};
		size_t te, t = prev_word(c, lo, p, &te), pe, pw = prev_word(c, lo, t, &pe);
		if (suffix && d >= 1 && d <= 31 && weq(c, t, te, "the") && pw < pe &&
		    win(c, pw, pe, preps)) {
			int64_t ty;
			int tm, td;
			pos_extract_civil(c->today, &ty, &tm, &td);
			for (int k = 0; k < 12; k++) {
				int mm = (tm - 1 + k) % 12 + 1;
				int64_t yy = ty + (tm - 1 + k) / 12;
				if (d <= pos_extract_mdays(yy, mm) && (k > 0 || d >= td)) {
					set_date(w, pos_extract_days(yy, mm, d));
					break;
				}
			}
			return after;
		}
		return p;
	}
	if (re < lim && c->n[re] == '.')
		re++;
	size_t ys = re;
	if (ys < lim && c->n[ys] == ',')
		ys++;
	ys = skip_sp(c, ys, lim);
	size_t ye = read_num(c, ys, lim, 4, &y);
	if (ye == ys + 4 && (ye == lim || !is_wc(c->n[ye]))) {
		if (valid_date(y, m, d))
			set_date(w, pos_extract_days(y, m, d));
		return ye;
	}
	if (d >= 1 && d <= 31)
		set_date(w, next_md(c, m, d));
	return re;
}

/* Month name at p..q followed by a day: December 3, Dec. 3rd, 2026. */
static size_t month_date_at(const struct ctx *c, size_t p, size_t q, size_t lim,
			    struct when *w)
{
	int m = month_of(c, p, q), d, y;
	if (!m)
		return p;
	size_t r = q < lim && c->n[q] == '.' ? q + 1 : q;
	r = skip_sp(c, r, lim);
	size_t de = read_num(c, r, lim, 2, &d);
	if (de == r)
		return p;
	if (de + 2 <= lim &&
	    (memcmp(c->n + de, "st", 2) == 0 || memcmp(c->n + de, "nd", 2) == 0 ||
	     memcmp(c->n + de, "rd", 2) == 0 || memcmp(c->n + de, "th", 2) == 0))
		de += 2;
	if (de < lim && (is_wc(c->n[de]) || c->n[de] == ':'))
		return p;
	/* "May 3 pm" is a time, not May 3rd */
	size_t t = skip_sp(c, de, lim), te = word_end(c, t, lim);
	if (weq(c, t, te, "am") || weq(c, t, te, "pm"))
		return p;
	size_t ys = de < lim && c->n[de] == ',' ? de + 1 : de;
	ys = skip_sp(c, ys, lim);
	size_t ye = read_num(c, ys, lim, 4, &y);
	if (ye == ys + 4 && (ye == lim || !is_wc(c->n[ye]))) {
		if (valid_date(y, m, d))
			set_date(w, pos_extract_days(y, m, d));
		return ye;
	}
	if (d >= 1 && d <= 31)
		set_date(w, next_md(c, m, d));
	return de;
}

/* Days from today to weekday wd: strictly after today, or from today on
 * when `this`. */
static int64_t to_weekday(const struct ctx *c, int wd, bool this)
{
	int delta = (wd - c->wday + 7) % 7;
	if (delta == 0 && !this)
		delta = 7;
	return c->today + delta;
}

/* Scans n[lo..hi) for the first date, the first time and past markers. */
static void scan_when(const struct ctx *c, size_t lo, size_t hi, struct when *w)
{
	memset(w, 0, sizeof(*w));
	w->default_h = -1;
	for (size_t p = lo; p < hi;) {
		if (!is_alnum(c->n[p]) || (p > lo && is_wc(c->n[p - 1]))) {
			p++;
			continue;
		}
		size_t q = word_end(c, p, hi);
		if (is_digit(c->n[p])) {
			size_t e = digit_date_at(c, lo, p, hi, w);
			if (e == p)
				e = time_at(c, lo, p, hi, w);
			if (e == p) {
				/* "3 days ago" */
				size_t u = skip_sp(c, q, hi), ue = word_end(c, u, hi);
				size_t g = skip_sp(c, ue, hi), ge = word_end(c, g, hi);
				if (weq(c, g, ge, "ago"))
					w->past = true;
			}
			p = e > p ? e : q;
			continue;
		}
		size_t pe, pw = prev_word(c, lo, p, &pe);
		bool after_this = pw < pe && weq(c, pw, pe, "this");
		bool after_last = pw < pe && weq(c, pw, pe, "last");
		int wd, e;
		if (weq(c, p, q, "today")) {
			set_date(w, c->today);
		} else if (weq(c, p, q, "tonight")) {
			set_date(w, c->today);
			if (w->default_h < 0)
				w->default_h = 20;
			w->pm_bias = true;
		} else if (weq(c, p, q, "tomorrow") || weq(c, p, q, "tmrw") ||
			   weq(c, p, q, "tmr")) {
			size_t s2e, s2 = prev_word(c, lo, pw, &s2e);
			bool dat = pw < pe && weq(c, pw, pe, "after") && weq(c, s2, s2e, "day");
			set_date(w, c->today + (dat ? 2 : 1));
		} else if (weq(c, p, q, "yesterday") || weq(c, p, q, "ago")) {
			w->past = true;
		} else if (weq(c, p, q, "noon") || weq(c, p, q, "midday")) {
			if (!w->has_time) {
				w->has_time = true;
				w->h = 12;
				w->mi = 0;
			}
		} else if (weq(c, p, q, "midnight")) {
			if (!w->has_time) {
				w->has_time = true;
				w->h = 0;
				w->mi = 0;
			}
		} else if (weq(c, p, q, "morning")) {
			if (w->default_h < 0)
				w->default_h = 9;
		} else if (weq(c, p, q, "afternoon")) {
			if (w->default_h < 0)
				w->default_h = 14;
			w->pm_bias = true;
		} else if (weq(c, p, q, "evening") || weq(c, p, q, "night")) {
			if (after_last) {
				w->past = true;
			} else {
				if (w->default_h < 0)
					w->default_h = weq(c, p, q, "night") ? 20 : 18;
				w->pm_bias = true;
			}
		} else if ((wd = weekday_of(c, p, q)) >= 0) {
			if (after_last)
				w->past = true;
			else
				set_date(w, to_weekday(c, wd, after_this));
		} else if (weq(c, p, q, "weekend")) {
			if (after_last)
				w->past = true;
			else
				set_date(w, to_weekday(c, 6, true));
		} else if (weq(c, p, q, "week") || weq(c, p, q, "month") ||
			   weq(c, p, q, "year")) {
			bool next = pw < pe && weq(c, pw, pe, "next");
			if (after_last)
				w->past = true;
			else if (next && weq(c, p, q, "week"))
				set_date(w, c->today + 7 - (c->wday + 6) % 7);
			else if (next && weq(c, p, q, "month")) {
				int64_t y;
				int m, d;
				pos_extract_civil(c->today, &y, &m, &d);
				set_date(w, m == 12 ? pos_extract_days(y + 1, 1, 1)
						    : pos_extract_days(y, m + 1, 1));
			}
		} else if (weq(c, p, q, "in")) {
			size_t r = skip_sp(c, q, hi);
			size_t e2 = read_in(c, r, hi, w);
			if (e2 > r) {
				p = e2;
				continue;
			}
		} else if ((e = (int)month_of(c, p, q)) > 0) {
			size_t e2 = month_date_at(c, p, q, hi, w);
			if (e2 > p) {
				p = e2;
				continue;
			}
		}
		p = q;
	}
}

/* Resolves a scan to UTC microseconds (start and end). */
static void resolve(const struct ctx *c, const struct when *w, int64_t *start, int64_t *end)
{
	*start = POS_TIME_NONE;
	*end = POS_TIME_NONE;
	if (w->has_abs) {
		*start = w->abs_us;
		return;
	}
	int h = -1, mi = 0;
	if (w->has_time) {
		h = w->h;
		mi = w->mi;
		/* a bare "at 3" is afternoon; "tonight at 9" is 21:00 */
		if (w->bare && h >= 1 && h < 12 && (w->pm_bias || h <= 7))
			h += 12;
	} else if (w->default_h >= 0) {
		h = w->default_h;
	}
	if (!w->has_date && h < 0)
		return;
	int64_t day = w->has_date ? w->date : c->today;
	int64_t s = day * 86400 + (int64_t)(h < 0 ? 0 : h) * 3600 + mi * 60 - c->tz_s;
	if (!w->has_date && s * 1000000 <= c->now_us)
		s += 86400; /* a time alone that has passed today means tomorrow */
	*start = s * 1000000;
	if (w->has_end && w->has_time) {
		int eh = w->eh;
		if (w->bare_end && eh >= 1 && eh < 12 && (w->pm_bias || eh <= 7 || eh < h))
			eh += 12;
		int64_t e = (s - (int64_t)h * 3600 - mi * 60) + (int64_t)eh * 3600 + w->emi * 60;
		if (e <= s)
			e += 86400;
		*end = e * 1000000;
	}
}

/* ---- items ------------------------------------------------------------------ */

/* Trims n[*lo..*hi): spaces and list punctuation in front; spaces,
 * punctuation and dangling connectors ("and", "but") at the end. */
static void trim(const struct ctx *c, size_t *lo, size_t *hi)
{
	static const char *const conn[] = {"and", "but", "so", "then", "also", "or",
					   "plus", "because", NULL};
	size_t s = *lo, e = *hi;
	while (s < e && (is_sp(c->n[s]) || strchr(",;:-*#>)", c->n[s])))
		s++;
	for (;;) {
		size_t e0 = e;
		while (e > s && (is_sp(c->n[e - 1]) || strchr(",;:-!?(", c->n[e - 1])))
			e--;
		/* a final '.' goes, unless it ends "p.m." */
		while (e > s && c->n[e - 1] == '.' && !(e - s >= 3 && c->n[e - 3] == '.'))
			e--;
		size_t we, ws = prev_word(c, s, e, &we);
		if (we == e && ws < we && ws > s && win(c, ws, we, conn))
			e = ws;
		if (e == e0)
			break;
	}
	*lo = s;
	*hi = e;
}

/* The original text behind n[lo..hi), cleaned; "" when nothing is left. */
static const char *text_of(struct ctx *c, size_t lo, size_t hi, size_t cap, bool upper,
			   bool *nomem)
{
	bool too_long;
	trim(c, &lo, &hi);
	if (lo >= hi)
		return "";
	char *t = pos_extract_clean(c->a, c->orig + c->map[lo], c->map[hi] - c->map[lo], cap,
				    true, &too_long, nomem);
	if (t && upper && t[0] >= 'a' && t[0] <= 'z')
		t[0] = (char)(t[0] - 'a' + 'A');
	return t;
}

static const char *const name_stop[] = {
	"i", "i'm", "i'll", "i've", "today", "tomorrow", "tonight", "next", "this", "on",
	"at", "in", "about", "to", "for", "from", "by", "regarding", "re", "and", "around",
	"before", "after", "until", "till", "over", "via", "later", "soon", "asap", "when",
	"if", "so", "but", "or", "is", "are", "was", "will", "would", "to", "the", NULL};

/* Is n[p..q) a word that cannot be part of a name? */
static bool not_name(const struct ctx *c, size_t p, size_t q)
{
	return win(c, p, q, name_stop) || weekday_of(c, p, q) >= 0 || month_of(c, p, q) > 0;
}

/* A name-word at p: letters, apostrophes, hyphens and a title's dot. */
static size_t name_word_end(const struct ctx *c, size_t p, size_t lim)
{
	size_t q = p;
	while (q < lim && (is_wc(c->n[q]) || c->n[q] == '-'))
		q++;
	static const char *const titles[] = {"dr", "mr", "mrs", "ms", "prof", "st", NULL};
	if (q < lim && c->n[q] == '.' && win(c, p, q, titles))
		q++;
	return q;
}

/*
 * Who a clause is with, starting at p: a run of capitalised words ("Anna",
 * "Dr. Lee", "Anna and Bob"), or my/our/the/his/her/their and up to three
 * more words ("my parents"). Returns NULL when there is none.
 */
static const char *who_at(struct ctx *c, size_t p, size_t lim, bool *nomem)
{
	p = skip_sp(c, p, lim);
	size_t q = name_word_end(c, p, lim);
	if (q == p || c->n[p] == '\'' || c->n[p] == '-')
		return NULL;
	size_t end = p;
	static const char *const dets[] = {"my", "our", "the", "his", "her", "their", NULL};
	if (orig_cap(c, p) && !not_name(c, p, q)) {
		int words = 0;
		for (size_t r = p; words < 5;) {
			size_t re = name_word_end(c, r, lim);
			if (re == r || !orig_cap(c, r) || not_name(c, r, re))
				break;
			end = re;
			words++;
			size_t s = skip_sp(c, re, lim), se = word_end(c, s, lim);
			if (s < lim && c->n[s] == '&')
				se = s + 1;
			if (se > s && (weq(c, s, se, "and") || c->n[s] == '&')) {
				size_t t = skip_sp(c, se, lim), te = name_word_end(c, t, lim);
				if (te == t || !orig_cap(c, t) || not_name(c, t, te))
					break;
				r = t;
			} else if (s > re || s == lim) {
				r = s;
			} else {
				break;
			}
		}
	} else if (win(c, p, q, dets)) {
		end = q;
		size_t r = q;
		for (int words = 0; words < 3; words++) {
			size_t s = skip_sp(c, r, lim), se = word_end(c, s, lim);
			if (se == s || s == r || not_name(c, s, se))
				break;
			end = se;
			r = se;
		}
		if (end == q)
			return NULL;
	} else {
		return NULL;
	}
	if (end > p + 1 && c->n[end - 1] == 's' && c->n[end - 2] == '\'')
		end -= 2;
	bool too_long;
	char *t = pos_extract_clean(c->a, c->orig + c->map[p], c->map[end] - c->map[p],
				    POS_EXTRACT_MAX_WHO, true, &too_long, nomem);
	return t && t[0] ? t : NULL;
}

static const char *const event_nouns[] = {
	"meeting", "meet", "appointment", "appt", "lunch", "dinner", "breakfast", "brunch",
	"coffee", "drinks", "interview", "flight", "party", "conference", "class", "exam",
	"wedding", "concert", "presentation", "demo", "standup", "stand-up", "session",
	"webinar", "checkup", "check-up", "dentist", "doctor", "workshop", "seminar",
	"training", "sync", "reservation", "haircut", "call", NULL};

/* The first event word in n[lo..hi): its position, or hi. "call" counts only
 * as a noun: "a/the/phone/video call" or "call with". */
static size_t find_event(const struct ctx *c, size_t lo, size_t hi, size_t *wend)
{
	static const char *const call_before[] = {"a", "the", "phone", "video", "zoom",
						  "conference", "team", "sales", "our", "my",
						  NULL};
	for (size_t p = lo; p < hi; p++) {
		if (!is_alpha(c->n[p]) || (p > lo && is_wc(c->n[p - 1])))
			continue;
		size_t q = word_end(c, p, hi);
		if (q < hi && c->n[q] == '-' && q + 1 < hi && is_alpha(c->n[q + 1]))
			q = word_end(c, q + 1, hi); /* stand-up */
		if (win(c, p, q, event_nouns)) {
			if (weq(c, p, q, "call")) {
				size_t pe, pw = prev_word(c, lo, p, &pe);
				size_t n = skip_sp(c, q, hi), ne = word_end(c, n, hi);
				if (!(pw < pe && win(c, pw, pe, call_before)) && !weq(c, n, ne, "with")) {
					p = q;
					continue;
				}
			}
			*wend = q;
			return p;
		}
		p = q;
	}
	return hi;
}

/* Who an event is with: after "with", else a name right after meet(ing). */
static const char *event_who(struct ctx *c, size_t lo, size_t hi, size_t ev, size_t evend,
			     bool *nomem)
{
	for (size_t p = lo; p + 4 <= hi; p++) {
		if ((p == lo || !is_wc(c->n[p - 1])) && starts(c, p, hi, "with "))
			return who_at(c, p + 5, hi, nomem);
	}
	if (ev < hi && (weq(c, ev, evend, "meet") || weq(c, ev, evend, "meeting"))) {
		size_t s = skip_sp(c, evend, hi);
		if (s < hi && orig_cap(c, s))
			return who_at(c, s, hi, nomem);
	}
	return NULL;
}

/* An event in n[lo..hi): an event word and a date or time, no past marker. */
static enum pos_err try_event(struct ctx *c, size_t lo, size_t hi, size_t offset_at,
			      bool *made)
{
	size_t evend, ev = find_event(c, lo, hi, &evend);
	struct when w;
	int64_t start, end;
	bool nomem = false;
	*made = false;
	if (ev >= hi)
		return POS_OK;
	trim(c, &lo, &hi);
	offset_at = lo;
	scan_when(c, lo, hi, &w);
	resolve(c, &w, &start, &end);
	if (w.past || start == POS_TIME_NONE)
		return POS_OK;
	const char *text = text_of(c, lo, hi, POS_EXTRACT_MAX_TEXT, true, &nomem);
	const char *who = nomem ? NULL : event_who(c, lo, hi, ev, evend, &nomem);
	if (nomem)
		return POS_ERR_NOMEM;
	*made = text[0] != '\0';
	return pos_extract_add(&c->b, POS_EXTRACT_EVENT, text, start, end, who,
			       c->map[offset_at]);
}

/* Does n[lo..hi) hold an event word and a date or time? */
static bool has_event(const struct ctx *c, size_t lo, size_t hi)
{
	size_t evend;
	struct when w;
	int64_t start, end;
	if (find_event(c, lo, hi, &evend) >= hi)
		return false;
	scan_when(c, lo, hi, &w);
	resolve(c, &w, &start, &end);
	return !w.past && start != POS_TIME_NONE;
}

/*
 * Events in n[lo..hi), which may list several: "a dentist appointment on
 * Thursday at 2pm and lunch with Laura on Friday at noon". The text is cut
 * at "and", "," and ";" into pieces; a piece with an event word starts a new
 * event when the text before it already is a complete one. At most 16
 * pieces are looked at; the rest joins the last event.
 */
static enum pos_err events_in(struct ctx *c, size_t lo, size_t hi, bool *made)
{
	size_t cur = lo, piece = lo;
	int pieces = 0;
	bool one;
	enum pos_err rc;
	*made = false;
	for (size_t p = lo; p < hi && pieces < 16; p++) {
		size_t cut = 0, next = 0;
		if (c->n[p] == ',' || c->n[p] == ';') {
			cut = p;
			next = p + 1;
		} else if (is_alpha(c->n[p]) && (p == lo || !is_wc(c->n[p - 1]))) {
			size_t q = word_end(c, p, hi);
			if (weq(c, p, q, "and")) {
				cut = p;
				next = q;
			}
			p = q > p ? q - 1 : p;
		}
		if (!next)
			continue;
		/* the piece before this cut is [piece, cut) */
		pieces++;
		size_t evend;
		if (piece > cur && find_event(c, piece, cut, &evend) < cut &&
		    has_event(c, cur, piece)) {
			if ((rc = try_event(c, cur, piece, cur, &one)))
				return rc;
			*made |= one;
			cur = piece;
		}
		piece = next;
	}
	size_t evend;
	if (piece > cur && find_event(c, piece, hi, &evend) < hi && has_event(c, cur, piece) &&
	    has_event(c, piece, hi)) {
		if ((rc = try_event(c, cur, piece, cur, &one)))
			return rc;
		*made |= one;
		cur = piece;
	}
	rc = try_event(c, cur, hi, cur, &one);
	*made |= one;
	return rc;
}

/* ---- triggers ----------------------------------------------------------------- */

enum mode {
	M_STRIP,   /* the item is what follows the phrase: "I need to X" -> "X" */
	M_KEEP,    /* the item is the whole clause: "Follow up with Bob" */
	M_WILL,    /* "I'll X": a task only with a date or time */
	M_FACT,    /* a fact, whole clause; only at the start of a clause */
	M_MY,      /* "my X is Y": a fact (or an event with a date) */
	M_PREF,    /* "I like X": a fact unless X is "it", "you" ... */
};

struct trigger {
	const char *pat;
	enum pos_extract_kind kind;
	enum mode mode;
};

/* Longer phrases before their prefixes: the first match at a position wins. */
static const struct trigger triggers[] = {
	{"i need to ", POS_EXTRACT_TASK, M_STRIP},
	{"i have to ", POS_EXTRACT_TASK, M_STRIP},
	{"i have got to ", POS_EXTRACT_TASK, M_STRIP},
	{"i've got to ", POS_EXTRACT_TASK, M_STRIP},
	{"i gotta ", POS_EXTRACT_TASK, M_STRIP},
	{"i must ", POS_EXTRACT_TASK, M_STRIP},
	{"i should ", POS_EXTRACT_TASK, M_STRIP},
	{"i ought to ", POS_EXTRACT_TASK, M_STRIP},
	{"todo:", POS_EXTRACT_TASK, M_STRIP},
	{"to-do:", POS_EXTRACT_TASK, M_STRIP},
	{"to do:", POS_EXTRACT_TASK, M_STRIP},
	{"todo ", POS_EXTRACT_TASK, M_STRIP},
	{"remember to ", POS_EXTRACT_TASK, M_STRIP},
	{"i'll ", POS_EXTRACT_TASK, M_WILL},
	{"i will ", POS_EXTRACT_TASK, M_WILL},
	{"follow up", POS_EXTRACT_FOLLOWUP, M_KEEP},
	{"follow-up", POS_EXTRACT_FOLLOWUP, M_KEEP},
	{"followup", POS_EXTRACT_FOLLOWUP, M_KEEP},
	{"remind me to ", POS_EXTRACT_FOLLOWUP, M_STRIP},
	{"remind me about ", POS_EXTRACT_FOLLOWUP, M_STRIP},
	{"remind me that ", POS_EXTRACT_FOLLOWUP, M_STRIP},
	{"remind me ", POS_EXTRACT_FOLLOWUP, M_KEEP},
	{"get back to ", POS_EXTRACT_FOLLOWUP, M_KEEP},
	{"don't forget to ", POS_EXTRACT_FOLLOWUP, M_STRIP},
	{"don't forget about ", POS_EXTRACT_FOLLOWUP, M_STRIP},
	{"dont forget to ", POS_EXTRACT_FOLLOWUP, M_STRIP},
	{"do not forget to ", POS_EXTRACT_FOLLOWUP, M_STRIP},
	{"my ", POS_EXTRACT_FACT, M_MY},
	{"i am ", POS_EXTRACT_FACT, M_FACT},
	{"i'm ", POS_EXTRACT_FACT, M_FACT},
	{"i live in ", POS_EXTRACT_FACT, M_FACT},
	{"i work at ", POS_EXTRACT_FACT, M_FACT},
	{"i work as ", POS_EXTRACT_FACT, M_FACT},
	{"i work for ", POS_EXTRACT_FACT, M_FACT},
	{"i work in ", POS_EXTRACT_FACT, M_FACT},
	{"i like ", POS_EXTRACT_FACT, M_PREF},
	{"i love ", POS_EXTRACT_FACT, M_PREF},
	{"i prefer ", POS_EXTRACT_FACT, M_PREF},
	{"i enjoy ", POS_EXTRACT_FACT, M_PREF},
	{"i hate ", POS_EXTRACT_FACT, M_PREF},
	{"i dislike ", POS_EXTRACT_FACT, M_PREF},
	{"i don't like ", POS_EXTRACT_FACT, M_PREF},
	{"i was born ", POS_EXTRACT_FACT, M_FACT},
};
#define N_TRIGGERS (sizeof(triggers) / sizeof(triggers[0]))

/* Words after which a phrase does not state anything: "if I need to",
 * "what I need to", "do I have to". */
static const char *const blockers[] = {
	"if", "whether", "unless", "when", "what", "why", "how", "where", "who", "which",
	"do", "does", "did", "than", "whatever", "wonder", "asked", "said", "says", "told",
	"tells", "me", "he", "she", "they", "we", "you", NULL};

/* Words that start a clause ("... and I live in Rome"), and words that may
 * stand before a fact phrase at the start of one ("Oh, ...", "Yes my ..."). */
static const char *const connectors[] = {
	"and", "but", "also", "so", "btw", "then", "plus", "anyway", "actually", "because",
	"since", "fyi", NULL};
static const char *const interjections[] = {
	"oh", "well", "ok", "okay", "yes", "yeah", "no", "hi", "hello", "hey", NULL};

/* "I'm X" is a fact only for these X (or a capitalised word or a number). */
static const char *const iam_ok[] = {
	"a", "an", "from", "allergic", "vegetarian", "vegan", "married", "single",
	"divorced", "engaged", "widowed", "retired", "pregnant", "originally", "based",
	"left-handed", "right-handed", "lactose", "gluten", "diabetic", "colorblind",
	"into", "born", NULL};

/* "I'm a X" is no fact for these X. */
static const char *const a_not[] = {"bit", "little", "lot", "tad", NULL};

/* "I like X" is no fact for these X: the object is in the conversation. */
static const char *const like_not[] = {
	"it", "that", "this", "these", "those", "them", "you", "your", "him", "her", "how",
	"what", "when", "where", "which", NULL};

/* "my X is" is no fact for these X: conversation, not the user. */
static const char *const my_not[] = {
	"question", "point", "guess", "answer", "thought", "thoughts", "thinking",
	"understanding", "impression", "feeling", "take", "bad", "pleasure", "turn",
	"fault", "concern", "problem", "issue", "idea", "suggestion", "request", "reply",
	"response", "message", "comment", "apologies", NULL};

/* "I need to X" (and the other "I ..." task phrases) is no task for these X. */
static const char *const task_not[] = {
	"know", "say", "admit", "mention", "confess", "agree", "disagree", "warn", "thank",
	"ask", "tell", "apologize", "apologise", NULL};

/* "I'll X" is no task for these X. */
static const char *const will_not[] = {
	"be", "have", "probably", "maybe", "never", "not", "try", "think", "see", "let",
	"just", "tell", "take", "get", "need", "want", "miss", "bet", NULL};

/* Is p the start of a clause: the sentence start, after , ; : - ( " or a
 * connector ("and", "but"), or after up to three interjections that are? */
static bool clause_start(const struct ctx *c, size_t lo, size_t p)
{
	for (int k = 0; k < 4; k++) {
		size_t q = p;
		while (q > lo && is_sp(c->n[q - 1]))
			q--;
		if (q == lo || strchr(",;:-(\"", c->n[q - 1]) || c->n[q - 1] == '.')
			return true;
		size_t pe, pw = prev_word(c, lo, p, &pe);
		if (pw < pe && win(c, pw, pe, connectors))
			return true;
		if (!(pw < pe && win(c, pw, pe, interjections)))
			return false;
		p = pw;
	}
	return false;
}

/* Does the trigger t at p (body at b) apply here? */
static bool trigger_ok(const struct ctx *c, const struct trigger *t, size_t lo, size_t p,
		       size_t b, size_t hi)
{
	size_t pe, pw = prev_word(c, lo, p, &pe);
	if (pw < pe && win(c, pw, pe, blockers) && strncmp(t->pat, "remind me", 9) != 0)
		return false;
	size_t q = word_end(c, b, hi);
	switch (t->mode) {
	case M_FACT:
		if (!clause_start(c, lo, p))
			return false;
		if (strcmp(t->pat, "i am ") == 0 || strcmp(t->pat, "i'm ") == 0) {
			if (q == b)
				return false;
			if (weq(c, b, q, "a")) { /* "I'm a bit tired" */
				size_t s = skip_sp(c, q, hi), se = word_end(c, s, hi);
				return !win(c, s, se, a_not);
			}
			if (win(c, b, q, iam_ok) || is_digit(c->n[b]))
				return true;
			return orig_cap(c, b) && !not_name(c, b, q);
		}
		return q > b;
	case M_PREF:
		return clause_start(c, lo, p) && q > b && !win(c, b, q, like_not);
	case M_MY: {
		if (!clause_start(c, lo, p))
			return false;
		/* "my X is Y", "my X are Y" with X at most five words */
		if (win(c, b, q, my_not))
			return false;
		size_t r = b;
		for (int words = 0; words < 6 && r < hi; words++) {
			size_t s = skip_sp(c, r, hi), se = word_end(c, s, hi);
			if (se == s)
				return false;
			if (words > 0 && (weq(c, s, se, "is") || weq(c, s, se, "are"))) {
				size_t v = skip_sp(c, se, hi);
				return v < hi && is_wc(c->n[v]);
			}
			r = se;
		}
		return false;
	}
	case M_WILL:
		return q > b && !win(c, b, q, will_not);
	case M_KEEP:
		if (strcmp(t->pat, "get back to ") == 0) {
			static const char *const dets[] = {"my", "the", "our", NULL};
			return q > b && (orig_cap(c, b) || win(c, b, q, dets)) &&
			       !not_name(c, b, q);
		}
		if (strcmp(t->pat, "remind me ") == 0) {
			/* "remind me to" with nothing after it is no request */
			static const char *const longer[] = {"to", "about", "that", NULL};
			return q > b && !win(c, b, q, longer);
		}
		return true;
	case M_STRIP:
		if (t->pat[0] == 'i' && t->pat[1] == ' ' && win(c, b, q, task_not))
			return false;
		/* "I should have called" is a regret, not a task */
		if ((strcmp(t->pat, "i should ") == 0 || strcmp(t->pat, "i must ") == 0 ||
		     strcmp(t->pat, "i ought to ") == 0) && weq(c, b, q, "have"))
			return false;
		/* "todo" without a colon only starts a clause ("the todo list") */
		if (strcmp(t->pat, "todo ") == 0)
			return clause_start(c, lo, p);
		return true;
	}
	return false;
}

struct hit {
	size_t at, body;
	const struct trigger *t;
};

/* Is the sentence a question? Ends in '?', or starts "do I", "should we"... */
static bool is_question(const struct ctx *c, size_t lo, size_t hi)
{
	static const char *const aux[] = {"do", "does", "did", "should", "shall", "can",
					  "could", "would", "will", "is", "are", "am",
					  "have", "has", "must", "may", "was", "were", NULL};
	static const char *const subj[] = {"i", "you", "we", "he", "she", "they", "it",
					   "my", "there", NULL};
	size_t e = hi;
	while (e > lo && (is_sp(c->n[e - 1]) || c->n[e - 1] == '"' || c->n[e - 1] == ')'))
		e--;
	for (size_t k = e; k > lo && strchr("?!.", c->n[k - 1]); k--)
		if (c->n[k - 1] == '?')
			return true;
	size_t s = skip_sp(c, lo, hi), se = word_end(c, s, hi);
	size_t t = skip_sp(c, se, hi), te = word_end(c, t, hi);
	return win(c, s, se, aux) && win(c, t, te, subj);
}

/* Blanks quoted passages ("...", straight or typographic) of a line, their
 * punctuation included, so that they neither match nor split sentences. */
static void mask_quotes(struct ctx *c, size_t lo, size_t hi)
{
	for (size_t p = lo; p < hi; p++) {
		if (c->n[p] != '"')
			continue;
		size_t q = p + 1;
		while (q < hi && c->n[q] != '"')
			q++;
		if (q == hi)
			return;
		memset(c->n + p + 1, MASK, q - p - 1);
		p = q;
	}
}

/* Makes an item of the clause of hit h, ending at hi. */
static enum pos_err clause_item(struct ctx *c, const struct hit *h, size_t hi,
				const struct when *lead, size_t sent_lo)
{
	const struct trigger *t = h->t;
	struct when w;
	int64_t when, end;
	bool nomem = false;
	const char *text, *who = NULL;
	scan_when(c, h->at, hi, &w);
	resolve(c, &w, &when, &end);
	if (when == POS_TIME_NONE && lead && !w.past)
		resolve(c, lead, &when, &end);
	if (t->kind == POS_EXTRACT_FACT) {
		if (t->mode == M_MY) {
			size_t evend, ev = find_event(c, h->body, hi, &evend);
			if (ev < hi && when != POS_TIME_NONE && !w.past) {
				bool made;
				return try_event(c, h->at, hi, h->at, &made);
			}
		}
		text = text_of(c, h->at, hi, POS_EXTRACT_MAX_TEXT, true, &nomem);
		if (nomem)
			return POS_ERR_NOMEM;
		return pos_extract_add(&c->b, POS_EXTRACT_FACT, text, POS_TIME_NONE,
				       POS_TIME_NONE, NULL, c->map[h->at]);
	}
	if (t->mode == M_WILL && (when == POS_TIME_NONE || w.past))
		return POS_OK;
	(void)sent_lo;
	text = text_of(c, t->mode == M_KEEP ? h->at : h->body, hi, POS_EXTRACT_MAX_TEXT, true,
		       &nomem);
	if (!nomem && t->kind == POS_EXTRACT_FOLLOWUP) {
		if (starts(c, h->at, hi, "get back to "))
			who = who_at(c, h->body, hi, &nomem);
		else if (t->mode == M_KEEP && !starts(c, h->at, hi, "remind me ")) {
			size_t s = skip_sp(c, h->body, hi);
			if (starts(c, s, hi, "with "))
				who = who_at(c, s + 5, hi, &nomem);
		}
	}
	if (nomem)
		return POS_ERR_NOMEM;
	return pos_extract_add(&c->b, t->kind, text, when, POS_TIME_NONE, who, c->map[h->at]);
}

#define MAX_HITS 64

/* Finds up to MAX_HITS triggers in n[from..hi) of the sentence n[lo..hi). */
static size_t find_hits(const struct ctx *c, size_t lo, size_t from, size_t hi,
			bool question, struct hit *hits)
{
	size_t nh = 0, min_at = from;
	for (size_t p = from; p < hi && nh < MAX_HITS; p++) {
		if (!is_wc(c->n[p]) || (p > lo && is_wc(c->n[p - 1])) || p < min_at)
			continue;
		for (size_t k = 0; k < N_TRIGGERS; k++) {
			const struct trigger *t = &triggers[k];
			if (!starts(c, p, hi, t->pat))
				continue;
			size_t b = skip_sp(c, p + strlen(t->pat), hi);
			if (!trigger_ok(c, t, lo, p, b, hi))
				continue;
			if (question) {
				/* "Can you remind me to ...?" is a request, not a question */
				size_t pe, pw = prev_word(c, lo, p, &pe);
				if (strncmp(t->pat, "remind me", 9) != 0 || pw == pe ||
				    !(weq(c, pw, pe, "you") || weq(c, pw, pe, "please")))
					continue;
			}
			hits[nh++] = (struct hit){p, b, t};
			min_at = b;
			break;
		}
	}
	return nh;
}

static enum pos_err sentence(struct ctx *c, size_t lo, size_t hi)
{
	enum pos_err rc;
	bool question = is_question(c, lo, hi);
	struct hit hits[MAX_HITS];

	size_t nh = find_hits(c, lo, lo, hi, question, hits);
	if (question && nh == 0)
		return POS_OK;

	/* the text before the first trigger: an event, or a date for it */
	size_t lead_end = nh ? hits[0].at : hi;
	struct when lead;
	bool have_lead = false, made = false;
	if (!question) {
		if ((rc = events_in(c, lo, lead_end, &made)))
			return rc;
		if (!made && nh) {
			scan_when(c, lo, lead_end, &lead);
			have_lead = !lead.past;
		}
	}
	/* clause by clause; a sentence with more triggers than fit is taken in
	 * chunks, the last hit of a full chunk starting the next one */
	for (size_t i = 0; nh && !pos_extract_builder_full(&c->b);) {
		if (nh == MAX_HITS && i == MAX_HITS - 1) {
			size_t from = hits[i].at;
			nh = find_hits(c, lo, from, hi, question, hits);
			i = 0;
			continue;
		}
		size_t end = i + 1 < nh ? hits[i + 1].at : hi;
		if ((rc = clause_item(c, &hits[i], end, have_lead ? &lead : NULL, lo)))
			return rc;
		have_lead = false;
		if (++i == nh)
			break;
	}
	return POS_OK;
}

/* ---- normalising and splitting -------------------------------------------- */

static enum pos_err normalise(struct ctx *c, const char *in, size_t len)
{
	c->n = pos_arena_alloc(c->a, len + 1);
	c->map = pos_arena_alloc(c->a, (len + 1) * sizeof(*c->map));
	if (!c->n || !c->map)
		return POS_ERR_NOMEM;
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0;
	for (size_t i = 0; i < len;) {
		unsigned char b = s[i];
		if (b < 0x80) {
			char ch = (char)b;
			if (b >= 'A' && b <= 'Z')
				ch = (char)(b - 'A' + 'a');
			else if (b == '\n' || b == '\r')
				ch = '\n';
			else if (b < 0x20 || b == 0x7F)
				ch = ' ';
			c->n[o] = ch;
			c->map[o++] = i++;
			continue;
		}
		uint32_t cp;
		size_t k = pos_extract_utf8(s + i, len - i, &cp);
		char rep = 0;
		if (k == 0) {
			rep = ' ';
			k = 1;
		} else if (cp == 0x2018 || cp == 0x2019 || cp == 0x02BC) {
			rep = '\'';
		} else if (cp == 0x201C || cp == 0x201D || cp == 0x201E) {
			rep = '"';
		} else if (cp == 0x2013 || cp == 0x2014) {
			rep = '-';
		} else if (cp == 0x2026) {
			rep = '.';
		} else if (cp == 0x2028 || cp == 0x2029) {
			rep = '\n';
		} else if (cp <= 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200B) ||
			   cp == 0x202F || cp == 0x205F || cp == 0x3000 || cp == 0xFEFF) {
			rep = ' ';
		}
		if (rep) {
			c->n[o] = rep;
			c->map[o++] = i;
		} else {
			for (size_t j = 0; j < k; j++) {
				c->n[o] = (char)s[i + j];
				c->map[o++] = i + j;
			}
		}
		i += k;
	}
	c->n[o] = '\0';
	c->map[o] = len;
	c->len = o;
	return POS_OK;
}

/*
 * In a transcript only the user's words count: a line starting with
 * "Assistant:", "AI:", "Bot:", "Chatbot:", "Model:" or "System:" and the
 * lines after it, up to a line starting with "User:", "Human:" or "Me:", are
 * blanked (newlines kept).
 */
static void mask_other_turns(struct ctx *c)
{
	static const char *const others[] = {"assistant", "ai", "bot", "chatbot", "model",
					     "system", NULL};
	static const char *const users[] = {"user", "human", "me", NULL};
	bool skipping = false;
	for (size_t p = 0; p < c->len; p++) {
		if (p > 0 && c->n[p - 1] != '\n')
			continue;
		size_t s = p;
		while (s < c->len && (c->n[s] == ' ' || c->n[s] == '\t'))
			s++;
		size_t e = word_end(c, s, c->len);
		if (e > s && e < c->len && c->n[e] == ':') {
			if (win(c, s, e, others))
				skipping = true;
			else if (win(c, s, e, users))
				skipping = false;
		}
		if (!skipping)
			continue;
		while (p < c->len && c->n[p] != '\n')
			c->n[p++] = MASK;
	}
}

/* Does the '.' at p end a sentence? Not after "Dr", an initial or "p.m". */
static bool full_stop(const struct ctx *c, size_t lo, size_t p)
{
	static const char *const abbr[] = {"mr", "mrs", "ms", "dr", "st", "prof", "jr", "sr",
					   "vs", "etc", "approx", "no", "ca", "cf", "jan", "feb",
					   "mar", "apr", "jun", "jul", "aug", "sep", "sept",
					   "oct", "nov", "dec", "mon", "tue", "tues", "wed",
					   "thu", "thur", "thurs", "fri", "sat", "sun", NULL};
	if (p + 1 < c->len && !is_sp(c->n[p + 1]) && c->n[p + 1] != '"' && c->n[p + 1] != ')' &&
	    c->n[p + 1] != '.')
		return false; /* 3.5, example.com */
	size_t q = p;
	while (q > lo && is_alpha(c->n[q - 1]))
		q--;
	if (p - q == 1 && q > lo && c->n[q - 1] == '.')
		return false; /* a.m. p.m. e.g. i.e. U.S. */
	if (q > lo && is_digit(c->n[q - 1]))
		return true; /* "the 31st." is no street */
	return !win(c, q, p, abbr);
}

enum pos_err pos_extract_rules(struct pos_arena *a, const char *text, size_t len,
			       int64_t now_us, int tz_offset_min, size_t max,
			       struct pos_extract_result *out)
{
	struct ctx c = {.a = a, .orig = text, .now_us = now_us};
	enum pos_err rc;
	out->items = NULL;
	out->n = 0;
	if (!text)
		len = 0;
	if (len > POS_EXTRACT_MAX_SCAN)
		len = POS_EXTRACT_MAX_SCAN;
	if (tz_offset_min > 18 * 60)
		tz_offset_min = 18 * 60;
	if (tz_offset_min < -18 * 60)
		tz_offset_min = -18 * 60;
	/* keep the arithmetic far from overflow: years 1900..9999 */
	if (now_us < INT64_C(-2208988800000000))
		now_us = INT64_C(-2208988800000000);
	if (now_us > INT64_C(253402300799000000))
		now_us = INT64_C(253402300799000000);
	c.now_us = now_us;
	c.tz_s = (int64_t)tz_offset_min * 60;
	int64_t local = now_us / 1000000 - (now_us % 1000000 < 0) + c.tz_s;
	c.today = local / 86400 - (local % 86400 < 0);
	c.wday = (int)(((c.today % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
	pos_extract_builder_init(&c.b, a, max);
	if (c.b.max == 0)
		return POS_OK;
	if ((rc = normalise(&c, text ? text : "", len)))
		return rc;
	mask_other_turns(&c);
	for (size_t p = 0, line = 0; p <= c.len; p++) {
		if (p == c.len || c.n[p] == '\n') {
			mask_quotes(&c, line, p);
			line = p + 1;
		}
	}

	size_t lo = 0, p = 0;
	while (!pos_extract_builder_full(&c.b)) {
		size_t end, next;
		if (p >= c.len) {
			if (c.len > lo && (rc = sentence(&c, lo, c.len)))
				goto fail;
			break;
		}
		if (c.n[p] == '\n') {
			end = p;
			next = p + 1;
		} else if (c.n[p] == '!' || c.n[p] == '?' ||
			   (c.n[p] == '.' && full_stop(&c, lo, p))) {
			size_t q = p;
			while (q < c.len && (c.n[q] == '!' || c.n[q] == '?' || c.n[q] == '.'))
				q++;
			end = next = q;
		} else {
			p++;
			continue;
		}
		if (end > lo && (rc = sentence(&c, lo, end)))
			goto fail;
		lo = p = next;
	}
	out->items = c.b.items;
	out->n = c.b.n;
	return POS_OK;
fail:
	out->items = NULL;
	out->n = 0;
	return rc;
}
