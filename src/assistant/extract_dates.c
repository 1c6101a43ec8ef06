/*
 * extract_dates.c — dates and times for the rule-based extractor: "tomorrow
 * at 3pm", "next Tuesday", "December 3", "12/3", "in 2 hours", "3-4pm". A
 * clause is scanned for its first date, first time (with an optional range
 * end) and past markers; the result is resolved in the user's zone to UTC.
 * docs/MEMORIZE.md lists every form; tests/data/extract/ pins them.
 */
#include "assistant/extract.h"

#include <stdbool.h>
#include <string.h>

#include "assistant/extract_internal.h"

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
int pos_extract_weekday(const struct pos_rules_ctx *c, size_t p, size_t q)
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
int pos_extract_month(const struct pos_rules_ctx *c, size_t p, size_t q)
{
	for (int i = 0; months[i]; i++)
		if (weq(c, p, q, months[i]) || weq(c, p, q, mon_abbr[i]))
			return i + 1;
	if (weq(c, p, q, "sept"))
		return 9;
	return 0;
}

/* Reads 1..maxd digits at p; returns the end or p when none/too many. */
static size_t read_num(const struct pos_rules_ctx *c, size_t p, size_t lim, size_t maxd, int *v)
{
	size_t q = p;
	int x = 0;
	*v = 0; /* defined on every path, also when nothing is read */
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
static int64_t next_md(const struct pos_rules_ctx *c, int m, int d)
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

static void set_date(struct pos_when *w, int64_t days)
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
static size_t read_clock(const struct pos_rules_ctx *c, size_t p, size_t lim, int *h, int *mi,
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
static size_t read_in(const struct pos_rules_ctx *c, size_t p, size_t lim, struct pos_when *w)
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
		int m = 0, d = 0;
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
static size_t range_end(const struct pos_rules_ctx *c, size_t q, size_t lim, int *eh, int *emi,
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
static size_t time_at(const struct pos_rules_ctx *c, size_t lo, size_t p, size_t lim, struct pos_when *w)
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
static size_t digit_date_at(const struct pos_rules_ctx *c, size_t lo, size_t p, size_t lim,
			    struct pos_when *w)
{
	int y = 0, m = 0, d = 0;
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
	m = pos_extract_month(c, r, re);
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
static size_t month_date_at(const struct pos_rules_ctx *c, size_t p, size_t q, size_t lim,
			    struct pos_when *w)
{
	int m = pos_extract_month(c, p, q), d, y;
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
static int64_t to_weekday(const struct pos_rules_ctx *c, int wd, bool this)
{
	int delta = (wd - c->wday + 7) % 7;
	if (delta == 0 && !this)
		delta = 7;
	return c->today + delta;
}

/* Scans n[lo..hi) for the first date, the first time and past markers. */
void pos_extract_scan_when(const struct pos_rules_ctx *c, size_t lo, size_t hi, struct pos_when *w)
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
		} else if (weq(c, p, q, "yesterday") || weq(c, p, q, "ago") ||
			   weq(c, p, q, "had") || weq(c, p, q, "went") || weq(c, p, q, "met")) {
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
		} else if ((wd = pos_extract_weekday(c, p, q)) >= 0) {
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
				int m = 0, d = 0;
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
		} else if ((e = (int)pos_extract_month(c, p, q)) > 0) {
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
void pos_extract_resolve(const struct pos_rules_ctx *c, const struct pos_when *w, int64_t *start, int64_t *end)
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
