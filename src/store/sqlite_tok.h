/*
 * sqlite_tok.h — the "pos" FTS5 tokenizer: words in the language they are
 * written in, and CJK text split so that a phrase inside a sentence is
 * found.
 *
 * It wraps FTS5's unicode61 (remove_diacritics 2), so words break exactly
 * where they did. Then, per token:
 *  - a run of CJK characters (Han, kana, Hangul) becomes its overlapping
 *    bigrams (one character alone stays a unigram): unicode61 keeps a whole
 *    unspaced sentence as one token, so "東京タワー" could never be found
 *    inside "私は東京タワーに行きました"; bigrams make it a phrase query of
 *    four tokens that matches anywhere;
 *  - any other token is stemmed: by FTS5's own porter stemmer in an English
 *    text (the index of an English memory is exactly what it was), by
 *    libstemmer's Snowball stemmer of the text's language otherwise
 *    (German, French, Spanish, Italian, Portuguese, Dutch). The language
 *    of a document is guessed from its stop words (sq_tok_language): a
 *    pure function of the text, so the index's deletes re-tokenize alike.
 *  - In a query the language is not guessed (two words say little): each
 *    word gives its porter stem, and the other languages' stems as FTS5
 *    colocated alternatives (an OR), so "Häuser" finds a German "Haus"
 *    and "houses" an English "house".
 * Every reader of the index tokenizes through this one tokenizer (the
 * keyword index, document frequencies, encrypted users' terms), so they
 * agree by construction. docs/SEARCH.md, "Languages".
 *
 * Thread-safety: sq_tok_register per connection; an FTS5 tokenizer
 * instance belongs to its connection (one thread at a time).
 */
#ifndef POS_STORE_SQLITE_TOK_H
#define POS_STORE_SQLITE_TOK_H

#include <sqlite3.h>
#include <stddef.h>

/* The name the tokenizer is registered under ("pos"). */
#define SQ_TOK_NAME "pos"

/* Registers the tokenizer on `db`. SQLITE_OK or an SQLite error code. */
int sq_tok_register(sqlite3 *db);

/* Languages the tokenizer tells apart; SQ_LANG_EN is the default. */
enum sq_lang {
	SQ_LANG_EN, SQ_LANG_DE, SQ_LANG_FR, SQ_LANG_ES, SQ_LANG_IT, SQ_LANG_PT, SQ_LANG_NL,
	SQ_LANG__COUNT
};

/*
 * The language of `n` bytes of text (at most its first 200 words read):
 * the language with the most stop-word hits, English on a tie; another
 * language needs at least one hit and more than English's.
 */
enum sq_lang sq_tok_language(const char *text, size_t n);

#endif
