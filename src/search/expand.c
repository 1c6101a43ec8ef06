/*
 * expand.c — picking WordNet alternatives for a keyword query (see
 * expand.h).
 */
#include "search/expand.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

static bool letter(char c)
{
	return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

static bool punct(char c)
{
	return (unsigned char)c < 0x80 && !letter(c) && !(c >= '0' && c <= '9');
}

/*
 * The word of a term: the term is letters, maybe with ASCII punctuation
 * around them and a possessive 's ("dance?", "(doctor)", "Caroline's"),
 * as the parser keeps a word whole. *n = 0 for anything else ("x-ray",
 * "c++" is a word of one letter, "café", "2024").
 */
static const char *core(const char *s, size_t len, size_t *n)
{
	size_t i = 0, j;
	*n = 0;
	while (i < len && punct(s[i]))
		i++;
	for (j = i; j < len && letter(s[j]); j++)
		;
	size_t end = j;
	if (j + 1 < len && s[j] == '\'' && (s[j + 1] | 0x20) == 's')
		j += 2;
	for (; j < len; j++)
		if (!punct(s[j]) || s[j] == '-' || s[j] == '+')
			return NULL;
	if (end - i < 2 || end - i > POS_WORDNET_WORD_MAX || (i > 0 && s[i - 1] == '-'))
		return NULL;
	*n = end - i;
	return s + i;
}

static bool taken(const struct pos_query *q, const struct pos_expand_alt *v, size_t n,
		  const char *w)
{
	for (size_t i = 0; i < q->n_terms; i++)
		if (strcmp(q->terms[i], w) == 0)
			return true;
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].word, w) == 0)
			return true;
	return false;
}

/* Whether the word at t (n bytes) is written with a capital in the text
 * typed, past its first word: a name ("John" is not a toilet, "Gina"). */
static bool capitalized(const char *text, const char *t, size_t n)
{
	if (!text)
		return false;
	size_t len = strlen(text), first = 0;
	while (first < len && text[first] != ' ')
		first++;
	for (size_t i = first; i + n <= len; i++) {
		if (i && letter(text[i - 1]))
			continue;
		if (strncasecmp(text + i, t, n) == 0 && (i + n == len || !letter(text[i + n])) &&
		    text[i] >= 'A' && text[i] <= 'Z')
			return true;
	}
	return false;
}

enum pos_err pos_expand_terms(const struct pos_wordnet *wn, struct pos_arena *a,
			      const struct pos_query *q, const struct pos_expand_limits *lim,
			      pos_expand_df_fn df, void *ctx, struct pos_expand_alt **alts,
			      size_t *n)
{
	*n = 0;
	size_t cap = lim->max_total ? lim->max_total : 1;
	struct pos_expand_alt *v = pos_arena_alloc(a, cap * sizeof(*v));
	*alts = v;
	if (!v)
		return POS_ERR_NOMEM;
	if (!wn)
		return POS_OK;
	size_t got = 0;
	for (size_t i = 0; i < q->n_terms && got < lim->max_total; i++) {
		size_t tl;
		const char *t = core(q->terms[i], strlen(q->terms[i]), &tl);
		if (q->terms[i] == q->prefix || !t || pos_query_is_stopword(t, tl) ||
		    capitalized(q->text, t, tl))
			continue;
		/* The word's own frequency: a word the user's memories hold
		 * more than term_df_max times is theirs and not expanded; the
		 * alternatives of a word in no memory stand in for it, at its
		 * weight (it finds nothing itself). With term_df_max set it is
		 * asked first (the pruning asked it already: a cache hit), so
		 * the user's own words cost no WordNet lookup. */
		struct pos_wordnet_word r[POS_EXPAND_TRIES];
		size_t nr = lim->term_df_max >= 0 ? 1
						   : pos_wordnet_related(wn, t, tl, r, POS_EXPAND_TRIES);
		int64_t own = 1;
		if (nr) {
			int64_t docs = 0;
			enum pos_err rc = df(ctx, q->terms[i], &own, &docs);
			if (rc) {
				*n = 0;
				return rc;
			}
			if (lim->term_df_max >= 0 && own > lim->term_df_max)
				continue;
			/* a common word is pruned from the match: so are its
			 * alternatives */
			double common = (double)docs * lim->df_share;
			if (own > 0 && (double)own > common && own > lim->df_floor)
				continue;
		}
		if (lim->term_df_max >= 0)
			nr = pos_wordnet_related(wn, t, tl, r, POS_EXPAND_TRIES);
		unsigned mine = 0;
		for (size_t k = 0; k < nr && got < lim->max_total; k++) {
			bool form = r[k].kind == POS_WORDNET_FORM;
			if ((!form && mine >= lim->per_term) ||
			    pos_query_is_stopword(r[k].w, r[k].len) || taken(q, v, got, r[k].w))
				continue;
			int64_t f = 0, docs = 0;
			enum pos_err rc = df(ctx, r[k].w, &f, &docs);
			if (rc) {
				*n = 0;
				return rc;
			}
			double limit = (double)docs * lim->df_share;
			if (limit < (double)lim->df_floor)
				limit = (double)lim->df_floor;
			if (f <= 0 || (double)f > limit)
				continue;
			const char *s = pos_arena_strndup(a, r[k].w, r[k].len);
			if (!s)
				return POS_ERR_NOMEM;
			v[got++] = (struct pos_expand_alt){s, !form && own > 0};
			mine += !form;
		}
	}
	*n = got;
	return POS_OK;
}
