/*
 * importance.c — the computed importance of a memory; the weights are the
 * table in docs/LIFECYCLE.md and change only with it.
 */
#include "memory/importance.h"

#include <math.h>
#include <string.h>

#include "base/clock.h"

#define DAY_US (86400LL * 1000000LL)

static double type_base(enum pos_mem_type t)
{
	switch (t) {
	case POS_TYPE_ACTION: return 0.55;
	case POS_TYPE_EVENT: return 0.5;
	case POS_TYPE_NOTE: return 0.45;
	case POS_TYPE_EMAIL: return 0.4;
	case POS_TYPE_FILE: return 0.4;
	case POS_TYPE_CONVERSATION: return 0.3;
	default: return 0.4;
	}
}

static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
static char lower(char c) { return is_upper(c) ? (char)(c - 'A' + 'a') : c; }

/* Whether the word at t[i..i+wl) equals `w` ignoring case, as a whole word
 * (or, with `prefix`, as the start of one). */
static bool word_at(const char *t, size_t len, size_t i, const char *w, bool prefix)
{
	size_t wl = strlen(w);
	if (i + wl > len || (i > 0 && is_alpha(t[i - 1])))
		return false;
	for (size_t k = 0; k < wl; k++)
		if (lower(t[i + k]) != w[k])
			return false;
	return prefix || i + wl == len || !is_alpha(t[i + wl]);
}

static const char *const important_words[] = {
	"important", "urgent", "asap", "deadline", "critical", "never forget", NULL,
};
static const char *const date_words[] = {
	"january", "february", "march", "april", "june", "july", "august", "september",
	"october", "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug",
	"sep", "sept", "oct", "nov", "dec", "monday", "tuesday", "wednesday", "thursday",
	"friday", "saturday", "sunday", "tomorrow", "tonight", "next week", NULL,
};
static const char *const money_words[] = {
	"usd", "eur", "gbp", "dollars", "dollar", "euros", "euro", "pounds", NULL,
};
static const char *const person_titles[] = {"dr", "mr", "mrs", "ms", "prof", NULL};

static bool any_word(const char *t, size_t len, size_t i, const char *const *ws)
{
	for (size_t k = 0; ws[k]; k++)
		if (word_at(t, len, i, ws[k], false))
			return true;
	return false;
}

unsigned pos_importance_signals(const char *t, size_t len)
{
	unsigned sig = 0;
	if (!t)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = t[i];
		if (is_alpha(c) && (i == 0 || !is_alpha(t[i - 1]))) {
			if (any_word(t, len, i, important_words))
				sig |= POS_SIG_IMPORTANT;
			if (any_word(t, len, i, date_words))
				sig |= POS_SIG_DATE;
			if (any_word(t, len, i, money_words) && i >= 2 &&
			    (is_digit(t[i - 1]) || is_digit(t[i - 2])))
				sig |= POS_SIG_MONEY;
			/* a title before a name ("Dr. Ruiz", "Ms Lee") */
			for (size_t k = 0; person_titles[k]; k++) {
				size_t wl = strlen(person_titles[k]);
				if (word_at(t, len, i, person_titles[k], false)) {
					size_t j = i + wl;
					if (j < len && t[j] == '.')
						j++;
					if (j + 1 < len && t[j] == ' ' && is_upper(t[j + 1]))
						sig |= POS_SIG_PERSON;
				}
			}
			/* two capitalised words not starting a sentence ("with Ana Lopez") */
			if (is_upper(c) && i >= 2 && t[i - 1] == ' ' && t[i - 2] != '.' &&
			    t[i - 2] != '!' && t[i - 2] != '?' && t[i - 2] != '\n') {
				size_t j = i + 1;
				while (j < len && is_lower(t[j]))
					j++;
				if (j > i + 1 && j + 2 < len && t[j] == ' ' && is_upper(t[j + 1]) &&
				    is_lower(t[j + 2]))
					sig |= POS_SIG_PERSON;
			}
		}
		if ((c == '$' || (unsigned char)c == 0xA3) && i + 1 < len && is_digit(t[i + 1]))
			sig |= POS_SIG_MONEY;
		/* "€" is E2 82 AC in UTF-8 */
		if ((unsigned char)c == 0xE2 && i + 3 < len && (unsigned char)t[i + 1] == 0x82 &&
		    (unsigned char)t[i + 2] == 0xAC && is_digit(t[i + 3]))
			sig |= POS_SIG_MONEY;
		/* 2026-11-24, 24/11, 11/24/2026 */
		if (is_digit(c) && (i == 0 || !is_digit(t[i - 1]))) {
			size_t j = i;
			while (j < len && is_digit(t[j]))
				j++;
			size_t nd = j - i;
			if (j + 2 < len && (t[j] == '-' || t[j] == '/') && is_digit(t[j + 1]) &&
			    (nd == 4 || nd <= 2))
				sig |= POS_SIG_DATE;
		}
	}
	return sig;
}

double pos_importance_compute(const struct pos_life_row *r, int64_t now)
{
	double s = type_base(r->type);
	if (r->rating >= 1 && r->rating <= 5)
		s += 0.08 * (r->rating - 3);
	if (r->access_count > 0)
		s += 0.15 * fmin(1.0, log2(1.0 + (double)r->access_count) / log2(21.0));
	if (r->degree > 0)
		s += 0.1 * fmin(1.0, (double)r->degree / 5.0);
	unsigned sig = pos_importance_signals(r->content, r->content_len);
	if (sig & POS_SIG_DATE)
		s += 0.05;
	if (sig & POS_SIG_MONEY)
		s += 0.05;
	if (sig & POS_SIG_PERSON)
		s += 0.05;
	if (sig & POS_SIG_IMPORTANT)
		s += 0.15;
	int64_t used = r->created_at;
	if (r->updated_at > used)
		used = r->updated_at;
	if (r->last_accessed_at != POS_TIME_NONE && r->last_accessed_at > used)
		used = r->last_accessed_at;
	double idle_days = now > used ? (double)(now - used) / (double)DAY_US : 0.0;
	double decay = pow(0.5, idle_days / POS_IMPORTANCE_HALF_LIFE_DAYS);
	s *= 0.6 + 0.4 * decay;
	if (s < 0)
		s = 0;
	if (s > 1)
		s = 1;
	return round(s * 1000.0) / 1000.0;
}
