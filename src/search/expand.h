/*
 * expand.h — query expansion with WordNet: the words of a keyword query
 * gain a bounded number of related words (search/wordnet.h) as weighted
 * alternatives, so "physician" also finds a memory about a doctor and
 * "dermatologist" one about dermatology, offline (docs/SEARCH.md, "Query
 * expansion").
 *
 * pos_expand_terms picks the alternatives; the engine OR-s them into the
 * keyword match after the words typed (pos_query.alts), where synonyms
 * and derived forms count `search_expand_weight` of a typed word and
 * irregular forms ("ran" for "run", which no stemmer relates) count as
 * the word itself: BM25 counts a string given twice twice, so the words
 * typed and the irregular forms are written round(1 / weight) times.
 * Bounds, so expansion neither blows up the top-k cost nor drowns the
 * words typed:
 *  - only plain words of letters are expanded (punctuation around them
 *    and a possessive 's aside): not stop words, not names (a word
 *    written with a capital past the query's first word: "John" is not
 *    a "toilet"), not the word being typed (prefix), not phrases (a
 *    phrase stays exact) and not exclusions;
 *  - an alternative must be in the index (df > 0: one in no memory can
 *    only cost) and not common (df at most the pruning limit, `df_limit`):
 *    a common word costs the most to score and says the least;
 *  - at most `per_term` synonyms and derived forms a word, the first
 *    WordNet gives (derived forms, then synonyms of the most frequent
 *    sense), besides its irregular forms, and `max_total` alternatives a
 *    query; at most POS_EXPAND_TRIES candidates of a word are looked up
 *    in the index;
 *  - with `term_df_max` ≥ 0, only the words typed that at most that many
 *    memories hold (0: none — a word the user never wrote, where the
 *    words typed cannot find anything and an alternative can only help);
 *    the word's own document frequency is one more lookup;
 *  - a word typed that is common (df above the pruning limit) is not
 *    expanded: the engine prunes it from the match (docs/SEARCH.md);
 *  - the alternatives of a word typed that no memory holds count as the
 *    word itself (not weighted): the word finds nothing, so they stand in
 *    for it rather than beside it ("what did the physician say" must not
 *    rank "says" above "doctor").
 *
 * Thread-safety: pure given a thread-safe `df` callback.
 */
#ifndef POS_SEARCH_EXPAND_H
#define POS_SEARCH_EXPAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/err.h"
#include "search/query.h"
#include "search/wordnet.h"

#define POS_EXPAND_PER_TERM 3
#define POS_EXPAND_MAX_TOTAL 12
#define POS_EXPAND_TRIES 6
/* The words typed count at most this many times an alternative's weight
 * (search_expand_weight down to 1/4). */
#define POS_EXPAND_MAX_REPEAT 4

/* Document frequency of a word as the index stems it, and the number of
 * indexed memories (the store's term_frequency). */
typedef enum pos_err (*pos_expand_df_fn)(void *ctx, const char *word, int64_t *df,
					 int64_t *docs);

struct pos_expand_limits {
	unsigned per_term, max_total;
	double df_share;            /* an alternative's df at most max(floor, share × docs) */
	int64_t df_floor;
	/* Only words typed found in at most this many memories are expanded
	 * (0: only words in no memory, the user's vocabulary gaps); negative:
	 * every word. A zero-initialised struct therefore expands only
	 * absent words: set -1 for all. */
	int64_t term_df_max;
};

struct pos_expand_alt {
	const char *word;       /* lower case, arena string */
	bool weighted;          /* false: as good as the word typed — an irregular
				 * form, or any alternative of a word in no memory */
};

/*
 * The alternatives of q's terms into *alts (arena array) and *n, in term
 * order; *alts is non-NULL on success. None repeats a term of q or
 * another alternative. A failing `df` call is returned (and *n is 0).
 * POS_ERR_NOMEM.
 */
enum pos_err pos_expand_terms(const struct pos_wordnet *wn, struct pos_arena *a,
			      const struct pos_query *q, const struct pos_expand_limits *lim,
			      pos_expand_df_fn df, void *ctx, struct pos_expand_alt **alts,
			      size_t *n);

#endif
