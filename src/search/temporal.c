/*
 * temporal.c — time phrases in search queries (see temporal.h).
 *
 * The query is cut into words (runs of ASCII letters and digits) with their
 * byte spans; a word inside "quotes" or touching a ':' (a filter such as
 * after:2026-05-01) cannot be part of a phrase. The patterns are tried at
 * every word, left to right; the first that matches wins.
 */
#include "search/temporal.h"

#include <ctype.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#include "base/clock.h"
#include "search/query.h"

#define DAY_US INT64_C(86400000000)
#define MAX_WORDS 256
#define WORD_MAX 15

struct word {
	size_t start, end;  /* byte span in the query */
	char low[WORD_MAX + 1]; /* lower-cased; "" when longer than WORD_MAX */
	bool blocked;       /* quoted or part of a filter */
};

/* The first day of month m (1-based, may run outside 1..12) of year y. */
static int64_t month_start(int64_t y, int m)
{
	while (m < 1)
		m += 12, y--;
	while (m > 12)
		m -= 12, y++;
	return pos_days_from_civil(y, m, 1);
}

static const char *const MONTHS[12] = {"january", "february", "march", "april",
				       "may", "june", "july", "august",
				       "september", "october", "november", "december"};
static const char *const WDAYS[7] = {"sunday", "monday", "tuesday", "wednesday",
				     "thursday", "friday", "saturday"};

/* 1..12 for a month name or its usual abbreviation ("sept" too), else 0. */
static int month_of(const char *w)
{
	size_t n = strlen(w);
	for (int i = 0; i < 12; i++) {
		if (!strcmp(w, MONTHS[i]))
			return i + 1;
		/* "may" is its own abbreviation; "mar" and "jun" are fine */
		if (n == 3 && !strncmp(w, MONTHS[i], 3))
			return i + 1;
	}
	return !strcmp(w, "sept") ? 9 : 0;
}

static int wday_of(const char *w)
{
	size_t n = strlen(w);
	for (int i = 0; i < 7; i++)
		if (!strcmp(w, WDAYS[i]) || (n == 3 && !strncmp(w, WDAYS[i], 3) &&
					     strcmp(w, "sun") && strcmp(w, "sat") &&
					     strcmp(w, "wed")))
			return i;
	return -1;
}

/* A count: digits 1..999, a/an/one..twelve; 0 when not a count. */
static int count_of(const char *w)
{
	static const char *const NUM[] = {"one", "two", "three", "four", "five", "six",
					  "seven", "eight", "nine", "ten", "eleven", "twelve"};
	if (!strcmp(w, "a") || !strcmp(w, "an"))
		return 1;
	for (int i = 0; i < 12; i++)
		if (!strcmp(w, NUM[i]))
			return i + 1;
	size_t n = strlen(w);
	if (n == 0 || n > 3)
		return 0;
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)w[i]))
			return 0;
		v = v * 10 + (w[i] - '0');
	}
	return v;
}

/* A year 1900..2099 written as four digits, else 0. */
static int year_of(const char *w)
{
	if (strlen(w) != 4)
		return 0;
	for (int i = 0; i < 4; i++)
		if (!isdigit((unsigned char)w[i]))
			return 0;
	int y = (w[0] - '0') * 1000 + (w[1] - '0') * 100 + (w[2] - '0') * 10 + (w[3] - '0');
	return y >= 1900 && y <= 2099 ? y : 0;
}

/* day/days -> 'd', week(s) -> 'w', month(s) -> 'm', year(s) -> 'y', else 0 */
static char unit_of(const char *w)
{
	static const struct {
		const char *s;
		char u;
	} U[] = {{"day", 'd'}, {"days", 'd'}, {"week", 'w'}, {"weeks", 'w'},
		 {"month", 'm'}, {"months", 'm'}, {"year", 'y'}, {"years", 'y'}};
	for (size_t i = 0; i < sizeof(U) / sizeof(U[0]); i++)
		if (!strcmp(w, U[i].s))
			return U[i].u;
	return 0;
}

static size_t split(const char *q, size_t len, struct word *w)
{
	size_t n = 0;
	bool quoted = false;
	for (size_t i = 0; i < len && n < MAX_WORDS;) {
		unsigned char c = (unsigned char)q[i];
		if (c == '"') {
			quoted = !quoted;
			i++;
			continue;
		}
		if (!isalnum(c)) {
			i++;
			continue;
		}
		size_t s = i;
		while (i < len && isalnum((unsigned char)q[i]))
			i++;
		struct word *x = &w[n++];
		x->start = s;
		x->end = i;
		x->low[0] = '\0';
		if (i - s <= WORD_MAX) {
			for (size_t k = s; k < i; k++)
				x->low[k - s] = (char)tolower((unsigned char)q[k]);
			x->low[i - s] = '\0';
		}
		/* a word touching a ':' or a non-ASCII byte is not a plain word */
		x->blocked = quoted || (s > 0 && (q[s - 1] == ':' || (unsigned char)q[s - 1] >= 0x80)) ||
			     (i < len && (q[i] == ':' || (unsigned char)q[i] >= 0x80));
	}
	return n;
}

static bool is(const struct word *w, size_t n, size_t i, const char *s)
{
	return i < n && !w[i].blocked && !strcmp(w[i].low, s);
}

/* Words i..j-1 may form one phrase: none blocked, only white space or
 * commas between them. */
static bool plain_run(const char *q, const struct word *w, size_t i, size_t j)
{
	for (size_t k = i; k < j; k++) {
		if (w[k].blocked)
			return false;
		if (k + 1 < j)
			for (size_t b = w[k].end; b < w[k + 1].start; b++)
				if (q[b] != ' ' && q[b] != ',' && q[b] != '\t')
					return false;
	}
	return true;
}

struct ctx {
	int64_t today, y;
	int m, d, wday;
};

/*
 * Tries the patterns at word i. On a match sets [*from, *to) in local days
 * and *end to the word after the phrase, and returns true.
 */
static bool match_at(const char *q, const struct word *w, size_t n, size_t i,
		     const struct ctx *c, int64_t *from, int64_t *to, size_t *end)
{
	const char *a = w[i].low;
	const char *b = i + 1 < n ? w[i + 1].low : "";
	if (w[i].blocked)
		return false;
	if (!strcmp(a, "today") || !strcmp(a, "tonight")) {
		*from = c->today, *to = c->today + 1, *end = i + 1;
		return true;
	}
	if (!strcmp(a, "this") && (!strcmp(b, "morning") || !strcmp(b, "afternoon") ||
				   !strcmp(b, "evening")) && plain_run(q, w, i, i + 2)) {
		*from = c->today, *to = c->today + 1, *end = i + 2;
		return true;
	}
	if (!strcmp(a, "yesterday")) {
		*from = c->today - 1, *to = c->today, *end = i + 1;
		return true;
	}
	if (!strcmp(a, "last") && !strcmp(b, "night") && plain_run(q, w, i, i + 2)) {
		*from = c->today - 1, *to = c->today + 1, *end = i + 2;
		return true;
	}
	if (!strcmp(a, "recently") || !strcmp(a, "lately")) {
		*from = c->today - 30, *to = c->today + 1, *end = i + 1;
		return true;
	}
	/* N units ago; "a couple of days ago", "a few weeks ago" */
	{
		size_t k = i;
		int cnt = count_of(a);
		if (cnt == 1 && (is(w, n, i + 1, "couple") || is(w, n, i + 1, "few"))) {
			cnt = is(w, n, i + 1, "couple") ? 2 : 3;
			k = is(w, n, i + 2, "of") ? i + 2 : i + 1;
		} else if (!strcmp(a, "few") || !strcmp(a, "several")) {
			cnt = 3;
		}
		char u = k + 1 < n ? unit_of(w[k + 1].low) : 0;
		if (cnt > 0 && u && is(w, n, k + 2, "ago") && plain_run(q, w, i, k + 3)) {
			*end = k + 3;
			if (u == 'd') {
				*from = c->today - cnt, *to = *from + 1;
			} else if (u == 'w') {
				*from = c->today - 7 * (int64_t)cnt - 3, *to = *from + 7;
			} else if (u == 'm') {
				*from = month_start(c->y, c->m - cnt);
				*to = month_start(c->y, c->m - cnt + 1);
			} else {
				*from = pos_days_from_civil(c->y - cnt, 1, 1);
				*to = pos_days_from_civil(c->y - cnt + 1, 1, 1);
			}
			return true;
		}
	}
	int64_t monday = c->today - (c->wday + 6) % 7;
	bool last = !strcmp(a, "last") || !strcmp(a, "past") || !strcmp(a, "previous");
	bool this = !strcmp(a, "this");
	if ((last || this) && plain_run(q, w, i, i + 2)) {
		*end = i + 2;
		if (!strcmp(b, "week")) {
			if (this)
				*from = monday, *to = c->today + 1;
			else if (!strcmp(a, "past"))
				*from = c->today - 7, *to = c->today + 1;
			else
				*from = monday - 7, *to = monday;
			return true;
		}
		if (!strcmp(b, "weekend")) {
			/* the latest Saturday–Sunday that has begun; "last" one
			 * before that when today is in a weekend */
			int64_t sat = c->today - (c->wday + 1) % 7;
			if (last && (c->wday == 6 || c->wday == 0))
				sat -= 7;
			*from = sat, *to = sat + 2;
			return true;
		}
		if (!strcmp(b, "month")) {
			int64_t first = month_start(c->y, c->m);
			if (this)
				*from = first, *to = c->today + 1;
			else if (!strcmp(a, "past"))
				*from = c->today - 30, *to = c->today + 1;
			else
				*from = month_start(c->y, c->m - 1), *to = first;
			return true;
		}
		if (!strcmp(b, "year")) {
			int64_t first = pos_days_from_civil(c->y, 1, 1);
			if (this)
				*from = first, *to = c->today + 1;
			else if (!strcmp(a, "past"))
				*from = c->today - 365, *to = c->today + 1;
			else
				*from = pos_days_from_civil(c->y - 1, 1, 1), *to = first;
			return true;
		}
	}
	/* [in|during|last|this|on] <month> [<year>], <month> <year>,
	 * in|during <year> */
	bool lead = last || this || !strcmp(a, "in") || !strcmp(a, "during") ||
		    !strcmp(a, "on") || !strcmp(a, "since");
	size_t k = lead ? i + 1 : i;
	if (k < n && !w[k].blocked) {
		int mon = month_of(w[k].low);
		int yr = k + 1 < n && plain_run(q, w, k, k + 2) ? year_of(w[k + 1].low) : 0;
		if (mon && (lead || yr) && plain_run(q, w, i, k + 1) && strcmp(a, "on")) {
			int64_t y = yr ? yr : (mon <= c->m ? c->y : c->y - 1);
			if (!yr && last && mon == c->m)
				y--; /* "last May" in May: a year ago */
			*from = month_start(y, mon);
			*to = month_start(y, mon + 1);
			if (!strcmp(a, "since"))
				*to = c->today + 1;
			*end = yr ? k + 2 : k + 1;
			return true;
		}
		int yo = year_of(w[k].low);
		if (yo && lead && !last && !this && strcmp(a, "on") && plain_run(q, w, i, k + 1)) {
			*from = pos_days_from_civil(yo, 1, 1);
			*to = !strcmp(a, "since") ? c->today + 1 : pos_days_from_civil(yo + 1, 1, 1);
			*end = k + 1;
			return true;
		}
		/* [on|last|this] <weekday>: the latest one before today ("on"
		 * and a bare name: today when it is that day) */
		int wd = wday_of(w[k].low);
		if (wd >= 0 && (k == i || !strcmp(a, "on") || last || this) &&
		    plain_run(q, w, i, k + 1) && strcmp(a, "in") && strcmp(a, "during") &&
		    strcmp(a, "since")) {
			int back = (c->wday - wd + 7) % 7;
			if (back == 0 && (last || this))
				back = last ? 7 : 0;
			*from = c->today - back, *to = *from + 1;
			*end = k + 1;
			return true;
		}
	}
	return false;
}

static bool asks_when(const struct word *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (w[i].blocked)
			continue;
		if (!strcmp(w[i].low, "when"))
			return true;
		if (!strcmp(w[i].low, "what") || !strcmp(w[i].low, "which"))
			if (is(w, n, i + 1, "date") || is(w, n, i + 1, "day") ||
			    is(w, n, i + 1, "year") || is(w, n, i + 1, "month") ||
			    is(w, n, i + 1, "time"))
				return true;
		if (!strcmp(w[i].low, "how") && is(w, n, i + 1, "long"))
			return true;
	}
	return false;
}

enum pos_err pos_temporal_find(struct pos_arena *a, const char *q, size_t len, int64_t now_us,
			       int tz_offset_min, struct pos_temporal *out)
{
	memset(out, 0, sizeof(*out));
	if (!q)
		len = 0;
	if (len > POS_QUERY_MAX_BYTES)
		len = POS_QUERY_MAX_BYTES;
	struct word *w = pos_arena_alloc(a, MAX_WORDS * sizeof(*w));
	if (!w)
		return POS_ERR_NOMEM;
	size_t n = split(q, len, w);
	if (tz_offset_min > 18 * 60 || tz_offset_min < -18 * 60)
		tz_offset_min = 0;
	int64_t tz_us = (int64_t)tz_offset_min * 60 * 1000000;
	int64_t local = now_us + tz_us;
	struct ctx c;
	c.today = local / DAY_US - (local % DAY_US < 0);
	c.wday = (int)(((c.today % 7) + 11) % 7); /* 0 = Sunday; 1970-01-01 a Thursday */
	pos_civil_from_days(c.today, &c.y, &c.m, &c.d);
	out->asks_when = asks_when(w, n);
	size_t cut_from = 0, cut_to = 0;
	for (size_t i = 0; i < n; i++) {
		int64_t from, to;
		size_t end;
		if (match_at(q, w, n, i, &c, &from, &to, &end)) {
			out->window = true;
			out->from = from * DAY_US - tz_us;
			out->to = to * DAY_US - tz_us;
			cut_from = w[i].start;
			cut_to = w[end - 1].end;
			break;
		}
	}
	char *rest = pos_arena_alloc(a, len + 2);
	if (!rest)
		return POS_ERR_NOMEM;
	size_t r = 0;
	if (!out->window) {
		if (len)
			memcpy(rest, q, len);
		r = len;
	} else {
		while (cut_from > 0 && q[cut_from - 1] == ' ')
			cut_from--;
		while (cut_to < len && q[cut_to] == ' ')
			cut_to++;
		memcpy(rest, q, cut_from);
		r = cut_from;
		/* one space between what was before and after, unless what
		 * follows is punctuation ("on Tuesday?" leaves "?") */
		unsigned char nx = cut_to < len ? (unsigned char)q[cut_to] : 0;
		if (r && nx && (isalnum(nx) || nx == '"' || nx == '-' || nx >= 0x80))
			rest[r++] = ' ';
		memcpy(rest + r, q + cut_to, len - cut_to);
		r += len - cut_to;
	}
	rest[r] = '\0';
	out->rest = rest;
	out->rest_len = r;
	return POS_OK;
}

bool pos_temporal_mentions(const char *s, size_t len)
{
	static const char *const WORDS[] = {"yesterday", "today", "tomorrow", "tonight", "ago",
					    "weekend", "recently", "lately"};
	if (!s)
		return false;
	if (len > 4096)
		len = 4096;
	char prev[WORD_MAX + 1] = "";
	for (size_t i = 0; i < len;) {
		if (!isalnum((unsigned char)s[i])) {
			i++;
			continue;
		}
		size_t st = i;
		while (i < len && isalnum((unsigned char)s[i]))
			i++;
		size_t n = i - st;
		if (n > WORD_MAX) {
			prev[0] = '\0';
			continue;
		}
		char lw[WORD_MAX + 1];
		for (size_t k = 0; k < n; k++)
			lw[k] = (char)tolower((unsigned char)s[st + k]);
		lw[n] = '\0';
		if (year_of(lw) || (n > 3 && (month_of(lw) || wday_of(lw) >= 0)))
			return true;
		for (size_t k = 0; k < sizeof(WORDS) / sizeof(WORDS[0]); k++)
			if (!strcmp(lw, WORDS[k]))
				return true;
		if ((!strcmp(prev, "last") || !strcmp(prev, "next") || !strcmp(prev, "this")) &&
		    (!strcmp(lw, "week") || !strcmp(lw, "month") || !strcmp(lw, "year") ||
		     !strcmp(lw, "night")))
			return true;
		memcpy(prev, lw, n + 1);
	}
	return false;
}

double pos_temporal_closeness(int64_t t, int64_t from, int64_t to)
{
	if (t >= from && t < to)
		return 1.0;
	double span = (double)(to - from);
	if (span < (double)DAY_US)
		span = (double)DAY_US;
	double dist = t < from ? (double)(from - t) : (double)(t - to);
	return exp2(-dist / span);
}
