/*
 * sentence.h — splitting plain text into sentences, for the offline
 * responder and anything else that quotes a sentence out of a memory.
 *
 * A sentence ends at a line break, or at '.', '!' or '?' (a run of them, and
 * the closing quotes and brackets right after, belong to it) that is
 * followed by white space or the end of the text. A '.' does not end one:
 *  - inside a token: "3.5", "example.com", "https://x.org/a.b?c=d";
 *  - after an abbreviation from POS_SENTENCE_ABBREVIATIONS (titles such as
 *    "Dr.", "Mrs.", "Prof."; "e.g.", "i.e.", "etc.", "vs.", "approx.",
 *    "No.", months and weekdays), compared ignoring case, except that
 *    "etc." ends a sentence when the next word starts with a capital;
 *  - after a dotted abbreviation, a letter after a '.': "a.m.", "U.S.";
 *  - after a single capital letter, an initial: "J. R. R. Tolkien".
 * tests/data/sentence/ pins each rule with a case.
 *
 * Byte-oriented; UTF-8 passes through unchanged (only ASCII is inspected).
 * Thread-safety: pure functions.
 */
#ifndef POS_BASE_SENTENCE_H
#define POS_BASE_SENTENCE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The sentence that starts at or after s[from] (leading white space
 * skipped): *start is its first byte, the return value one past its last
 * (trailing white space excluded). *next is where to look for the one
 * after it. Returns *start (an empty sentence) only at the end of the text.
 */
size_t pos_sentence_next(const char *s, size_t len, size_t from, size_t *start,
			 size_t *next);

/* True when the n bytes at w (letters, no dot) are an abbreviation that a
 * '.' follows without ending the sentence ("dr", "eg" is not: "e.g." is
 * caught as a dotted abbreviation). */
bool pos_sentence_is_abbrev(const char *w, size_t n);

#endif
