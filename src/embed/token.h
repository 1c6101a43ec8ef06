/*
 * token.h — the text analysis shared by the built-in embedder and the
 * co-occurrence model: normalization, word splitting, stop words, stemming.
 *
 * A text is read as UTF-8 (invalid bytes are separators, never an error).
 * Letters are lower-cased; Latin-1 and Latin Extended-A accents are folded to
 * ASCII ("Café" -> "cafe", "Straße" -> "strasse"); Greek and Cyrillic capitals
 * are lower-cased; every CJK ideograph, kana or Hangul syllable is a word of
 * its own (those scripts have no spaces; adjacent pairs then act as
 * character bigrams). Contractions lose their clitic ("don't" -> "do",
 * "Anna's" -> "anna"), English stop words are dropped, and what is left is
 * reduced by the Porter stemmer ("meetings" -> "meet", "running" -> "run").
 * Words longer than POS_TOKEN_MAX - 1 bytes are cut there. The result is the
 * same on every machine and run: no locale, no tables built at run time.
 *
 * Thread-safety: pure functions over caller memory.
 */
#ifndef POS_EMBED_TOKEN_H
#define POS_EMBED_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest token kept, NUL included. */
#define POS_TOKEN_MAX 32

/* Flags of a token (bits of pos_token_next's *flags). */
#define POS_TOKEN_DIGIT 1u /* contains a digit: no stemming, no n-grams */
#define POS_TOKEN_WIDE 2u  /* non-ASCII letters (not stemmed) */
#define POS_TOKEN_CJK 4u   /* one CJK / kana / Hangul character */

/* Iterator over a text; set up with pos_token_iter_init, holds no heap. */
struct pos_token_iter {
	const unsigned char *p;
	const unsigned char *end;
};

/* Starts reading `len` bytes at `text` (which need not be NUL-terminated). */
void pos_token_iter_init(struct pos_token_iter *it, const char *text,
			 size_t len);

/* One token: the normalized word and its stem (both NUL-terminated). */
struct pos_token {
	char word[POS_TOKEN_MAX]; /* lower-cased, folded, clitic removed */
	char stem[POS_TOKEN_MAX]; /* Porter stem of `word` (or `word` itself) */
	size_t word_len;
	size_t stem_len;
	unsigned flags; /* POS_TOKEN_* bits */
};

/*
 * Reads the next content token (stop words are skipped) into `t`. Returns
 * false at the end of the text, leaving `t` unspecified.
 */
bool pos_token_next(struct pos_token_iter *it, struct pos_token *t);

/* True when the lower-case ASCII word `w` (len bytes) is a stop word. */
bool pos_token_is_stop(const char *w, size_t len);

/*
 * Porter-stems the lower-case ASCII word in w[0..len) in place and returns
 * the new length (never longer). Words of 2 bytes or fewer are unchanged.
 */
size_t pos_token_stem(char *w, size_t len);

/* 64-bit hash of a byte string (FNV-1a, then a murmur3 finalizer), seeded. */
uint64_t pos_token_hash(const void *p, size_t len, uint64_t seed);

/* The murmur3 64-bit finalizer: a fast, well-mixing bijection. */
static inline uint64_t pos_token_mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

#endif
