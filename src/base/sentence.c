/*
 * sentence.c — sentence boundaries that keep "Dr. Ruiz", "3.5" and URLs whole.
 */
#include "base/sentence.h"

#include <string.h>
#include <strings.h>

/* Words after which a '.' is an abbreviation's, not a full stop. */
static const char *const abbreviations[] = {
	"mr", "mrs", "ms", "mx", "dr", "prof", "st", "jr", "sr", "rev", "gen",
	"capt", "col", "lt", "sgt", "hon", "vs", "etc", "approx", "no", "nos",
	"ca", "cf", "al", "fig", "vol", "dept", "est", "inc", "ltd", "co", "corp",
	"ave", "rd", "blvd", "mt", "jan", "feb", "mar", "apr", "jun", "jul", "aug",
	"sep", "sept", "oct", "nov", "dec", "mon", "tue", "tues", "wed", "thu",
	"thur", "thurs", "fri", "sat", "sun",
};

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

static bool is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_closer(unsigned char c)
{
	return c == '"' || c == '\'' || c == ')' || c == ']';
}

bool pos_sentence_is_abbrev(const char *w, size_t n)
{
	for (size_t i = 0; i < sizeof(abbreviations) / sizeof(abbreviations[0]); i++)
		if (strlen(abbreviations[i]) == n && strncasecmp(abbreviations[i], w, n) == 0)
			return true;
	return false;
}

/* Does the '.' at s[p] (followed by white space or the end) end a
 * sentence that began at lo? */
static bool full_stop(const char *s, size_t len, size_t lo, size_t p)
{
	size_t q = p;
	while (q > lo && is_alpha((unsigned char)s[q - 1]))
		q--;
	size_t wl = p - q;
	if (wl == 0)
		return true; /* "the 31st." ends; "(see above)." too */
	if (q > lo && s[q - 1] >= '0' && s[q - 1] <= '9')
		return true; /* "the 31st." is no street */
	if (q > lo && s[q - 1] == '.' && wl <= 2)
		return false; /* a.m., e.g., U.S. */
	if (wl == 1 && s[q] >= 'A' && s[q] <= 'Z' && (q == lo || !is_alpha((unsigned char)s[q - 1])))
		return false; /* an initial: J. R. R. Tolkien */
	if (!pos_sentence_is_abbrev(s + q, wl))
		return true;
	if (wl == 3 && strncasecmp(s + q, "etc", 3) == 0) {
		size_t r = p + 1;
		while (r < len && is_space((unsigned char)s[r]) && s[r] != '\n')
			r++;
		return r < len && s[r] >= 'A' && s[r] <= 'Z';
	}
	return false;
}

size_t pos_sentence_next(const char *s, size_t len, size_t from, size_t *start,
			 size_t *next)
{
	size_t p = from;
	while (p < len && is_space((unsigned char)s[p]))
		p++;
	*start = p;
	size_t lo = p;
	while (p < len) {
		unsigned char c = (unsigned char)s[p];
		if (c == '\n') {
			size_t end = p;
			while (end > lo && is_space((unsigned char)s[end - 1]))
				end--;
			*next = p + 1;
			return end;
		}
		if (c == '.' || c == '!' || c == '?') {
			size_t q = p;
			while (q < len && (s[q] == '.' || s[q] == '!' || s[q] == '?'))
				q++;
			size_t e = q;
			while (e < len && is_closer((unsigned char)s[e]))
				e++;
			bool boundary = e == len || is_space((unsigned char)s[e]);
			/* a run like "..." or "?!" always ends; one '.' is checked */
			if (boundary && (q - p > 1 || c != '.' || full_stop(s, len, lo, p))) {
				*next = e;
				return e;
			}
			p = q;
			continue;
		}
		p++;
	}
	size_t end = len;
	while (end > lo && is_space((unsigned char)s[end - 1]))
		end--;
	*next = len;
	return end;
}
