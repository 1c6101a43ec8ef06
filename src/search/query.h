/*
 * query.h — the search query language: parsing what a user types into
 * GET /api/memories/search?q=... and turning it into an FTS5 MATCH
 * expression that cannot be hijacked.
 *
 * A query is free words, "exact phrases", -exclusions and key:value filters
 * (type: layer: tag: source: after: before:) in any order. The parser never
 * reports an error for odd punctuation: unbalanced quotes, stray dashes and
 * FTS5 operators (* ^ : NEAR AND OR NOT parentheses) are searched as words.
 * It fails only on input a person should fix: an empty or oversized query,
 * invalid UTF-8, an unknown type or layer, a bad date, conflicting filters.
 * docs/SEARCH-QUERY.md is the user-facing description; the rules below are
 * the contract and tests/data/query/ pins each of them with a case.
 *
 * Ownership: every pointer in a parsed `struct pos_query` and every match
 * expression is allocated in the caller's arena and lives as long as it; the
 * input buffer is not referenced after parsing returns.
 * Thread-safety: pure functions; only the arena passed in is written.
 */
#ifndef POS_SEARCH_QUERY_H
#define POS_SEARCH_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/err.h"

/* A query longer than this many bytes is refused (422, field "query"). */
#define POS_QUERY_MAX_BYTES 4096
/* Terms and phrases together beyond this are ignored; so are extra exclusions. */
#define POS_QUERY_MAX_ITEMS 64
/* More distinct tag: filters than this are refused (422, field "tag"). */
#define POS_QUERY_MAX_TAGS 16
/* pos_query_parse_ex flag: the query is being typed (search as you type). */
#define POS_QUERY_TYPING 1u
/* The word being typed matches as a prefix from this many bytes on. */
#define POS_QUERY_PREFIX_MIN 3

struct pos_query {
	/* Free words in the order typed, ASCII-lower-cased, duplicates removed.
	 * Not stemmed (FTS5's porter tokenizer does that). */
	const char **terms;
	size_t n_terms;
	/* Contents of "exact phrases": lower-cased, runs of white space made
	 * one space, trimmed, duplicates removed. Never empty strings. */
	const char **phrases;
	size_t n_phrases;
	/* -word and -"phrase", lower-cased like the above. */
	const char **excluded;
	size_t n_excluded;
	/* The words and phrases as typed (original case, quotes and filters
	 * removed), joined by single spaces: the text to embed. "" when none. */
	const char *text;
	int type;                   /* enum pos_mem_type, or -1 for any */
	int layer;                  /* enum pos_mem_layer, or -1 for any */
	/* tag: filters as typed; a memory must have them all (the store
	 * compares them ignoring ASCII case). */
	const char **tags;
	size_t n_tags;
	const char *source;         /* exact; NULL for any */
	int64_t after;              /* created_at >= after; POS_TIME_NONE: no bound */
	int64_t before;             /* created_at < before; POS_TIME_NONE: no bound */
	/* POS_QUERY_TYPING only: the word being typed (one of `terms`: the
	 * last token, a plain word of at least POS_QUERY_PREFIX_MIN bytes,
	 * with no white space after it), matched as a prefix; else NULL. */
	const char *prefix;
	/* POS_QUERY_TYPING only: filters left out because their value is not
	 * valid (yet), as typed ("after:2026-1"); at most POS_QUERY_MAX_TAGS. */
	const char **ignored;
	size_t n_ignored;
	/* Not set by the parser (NULL, 0): words the search engine adds as
	 * alternatives of the terms (search/expand.h). pos_query_fts_match
	 * OR-s them after the terms, so none is ever required. */
	const char **alts;
	size_t n_alts;
};

/*
 * Parses `len` bytes at `q` (need not be NUL-terminated; q may be NULL when
 * len is 0) into `*out`, allocating in `a`.
 *
 * Tokens are separated by white space: space, ASCII and C1 control
 * characters (NUL included), U+00A0, U+1680, U+2000–U+200B, U+2028, U+2029,
 * U+202F, U+205F, U+3000 and U+FEFF. Then, token by token:
 *  - `key:value` with key one of type, layer, tag, source, after, before
 *    (any case) is a filter. The value runs to the next white space, or is
 *    "quoted" (then it may hold spaces; it ends at the closing quote and is
 *    trimmed). Any other key (`http://x`, `foo:bar`) makes a word, and so
 *    does a known key with nothing after the colon (`tag:`); an empty
 *    quoted value (`tag:""`) is dropped.
 *      type:/layer: values are case-insensitive API names; an unknown one is
 *        POS_ERR_INVALID_FIELD, field "type"/"layer".
 *      after:/before: take YYYY-MM-DD (UTC midnight) or RFC 3339; anything
 *        else is POS_ERR_INVALID_FIELD, field "after"/"before". Repeats
 *        narrow the range (latest after, earliest before); a range with
 *        after >= before is POS_ERR_INVALID_FIELD, field "before".
 *      tag: repeats add up (all must match); more than POS_QUERY_MAX_TAGS
 *        distinct tags is POS_ERR_INVALID_FIELD, field "tag".
 *      type:, layer:, source: given twice with different values is
 *        POS_ERR_INVALID_FIELD naming the key (no memory has two types).
 *  - A token starting with `"` is a phrase up to the next `"` (which may be
 *    mid-token; what follows it starts a new token). With no closing quote
 *    anywhere after it, the quote is ignored and the rest of the query is
 *    read as ordinary words and filters (`-"x` excludes the word x). A `"`
 *    inside a word is part of it.
 *  - A token starting with `-` excludes the word or "phrase" after the dash.
 *    A token of dashes only (`-`, `--`) is dropped. A negated filter
 *    (`-tag:work`) is POS_ERR_INVALID_FIELD naming the key: it is not
 *    supported and would otherwise be silently misread.
 *  - Anything else is a word, kept whole: `c++`, `NEAR(a`, `a:b` and `*`
 *    are words; how they tokenize is FTS5's business.
 * Terms and phrases beyond POS_QUERY_MAX_ITEMS (together, distinct) are
 * ignored and left out of `text`; exclusions beyond it are ignored.
 *
 * A query of filters only, or of nothing but quotes and dashes (`"`, `-`,
 * `""`), is valid: n_terms = n_phrases = 0 and text is "", and the caller
 * lists by filters. Words of pure punctuation (`***`) are terms, so a
 * caller decides "nothing to search" from pos_query_fts_match's NULL, or
 * from an empty `text` for embedding.
 * The arrays (terms, phrases, excluded, tags) are non-NULL on success.
 *
 * Errors (with `err` filled; `*out` is then an empty query):
 *   POS_ERR_INVALID_FIELD, field "query": empty or white space only, more
 *     than POS_QUERY_MAX_BYTES bytes, or not valid UTF-8 (overlong forms and
 *     surrogates included);
 *   POS_ERR_INVALID_FIELD, field "type"/"layer"/"tag"/"source"/"after"/
 *     "before": as listed above;
 *   POS_ERR_NOMEM.
 */
enum pos_err pos_query_parse(struct pos_arena *a, const char *q, size_t len,
			     struct pos_query *out, struct pos_error *err);

/*
 * pos_query_parse with flags. POS_QUERY_TYPING (search as you type):
 *  - q->prefix is set as described at its field;
 *  - a filter whose value is invalid, a conflicting repeat and a negated
 *    filter are not errors: they are left out (neither filter nor word)
 *    and listed in q->ignored, so `after:2026-1` or `type:to` typed
 *    halfway searches the rest;
 *  - an after:/before: range with after >= before drops the before:.
 * The query-level errors (empty, too long, bad UTF-8) stay errors.
 */
enum pos_err pos_query_parse_ex(struct pos_arena *a, const char *q, size_t len,
				unsigned flags, struct pos_query *out,
				struct pos_error *err);

/*
 * Builds the FTS5 MATCH expression for `q` into `*match` (arena string), or
 * sets *match = NULL when there is nothing to match.
 *
 * Every item becomes an FTS5 string: double-quoted with inner `"` doubled,
 * so no user text is ever FTS5 syntax. Items that FTS5's unicode61 tokenizer
 * would turn into no token at all (pure punctuation, see
 * pos_query_has_token) are dropped. Then, with T the terms, P the phrases
 * and X the exclusions:
 *   T only:      "t1" OR "t2" ...            (recall; BM25 ranks overlap)
 *   P only:      "p1" AND "p2" ...           (phrases are required)
 *   P and T:     "p1" AND ... AND ("p1" OR ... OR "t1" OR ...)
 *                (phrases required; terms only rank, none is required)
 *   X:           <above> NOT "x1"  or  (<above>) NOT ("x1" OR "x2" ...)
 *                only when there is a positive part: exclusions alone give
 *                NULL, and the caller that lists by filters must know that
 *                q->excluded was not applied.
 * When `drop_stopwords`, terms that are stop words (pos_query_is_stopword,
 * applied to each run of letters and digits of a term: "what's" is one)
 * are left out, unless that would leave neither terms nor phrases. Phrases
 * and exclusions keep their stop words.
 *
 * Returns POS_OK or POS_ERR_NOMEM (then *match is NULL).
 */
enum pos_err pos_query_fts_match(struct pos_arena *a, const struct pos_query *q,
				 bool drop_stopwords, const char **match);
/* q->alts (when there are terms to match) are more OR-ed words after the
 * terms: `"t1" OR "t2" OR "a1" ...`, inside the OR group when there are
 * phrases; they do not count as terms for the stop-word rule. */
/* With q->prefix set, that term is written ("w" OR "w"*) — the word as
 * FTS5 stems it, or any indexed token starting with it — and is never
 * dropped as a stop word. */

/*
 * True when the `n` bytes at `w` are, ignoring ASCII case, one of about 150
 * common English words (articles, pronouns, auxiliaries, prepositions, and
 * the question words what/when/where/which/who/whom/whose/why/how). The
 * word must be exact: no surrounding punctuation.
 */
bool pos_query_is_stopword(const char *w, size_t n);

/*
 * True when the `n` bytes at `s` (valid UTF-8) hold at least one run of
 * token characters and every run is a stop word: "What's" (what, s) and
 * "do?" are; "whatever", "café" and "?" are not.
 */
bool pos_query_only_stopwords(const char *s, size_t n);

/*
 * True when the `n` bytes at `s` (valid UTF-8) contain a character that
 * FTS5's unicode61 tokenizer keeps as part of a token. Conservative: only
 * ASCII, Latin-1 and the common punctuation, symbol and emoji blocks are
 * known separators, so a rare separator counts as a token character (the
 * item is then kept and merely matches nothing).
 */
bool pos_query_has_token(const char *s, size_t n);

#endif
