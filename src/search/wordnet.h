/*
 * wordnet.h — related English words from WordNet 3.0's database files
 * (Debian `wordnet-base`, /usr/share/wordnet), for query expansion
 * (search/expand.h): "physician" ~ "doctor", "dermatologist" ~
 * "dermatology".
 *
 * The files are read in their documented format (wndb(5), morphy(7)):
 * `index.<pos>` (one line per lemma, sorted, so it is searched by
 * bisection), `data.<pos>` (one line per synset, found by its byte
 * offset) and `<pos>.exc` (irregular forms). They are mapped read-only
 * at open, nothing is parsed up front: a lookup costs a few bisections
 * and line reads of pages the kernel shares with every other process.
 * (Debian's `wordnet-dev` library keeps its state in globals and FILE
 * handles, which a multi-threaded server cannot share.)
 *
 * What "related" means (pos_wordnet_related), in this order:
 *  1. irregular forms, which no stemmer relates: the base of a form in an
 *     exception list ("ran" -> "run", "children" -> "child") and the
 *     listed forms of the word's base ("run" -> "ran", "buy" ->
 *     "bought");
 *  2. for each part of speech the word has, its first (most frequent)
 *     sense only — the other senses of a common word are where expansion
 *     goes wrong ("bank" of a river) — and of that sense the
 *     derivationally related forms of the word itself (WordNet pointer
 *     `+`: dermatologist -> dermatology, run -> runner), for the parts of
 *     speech seen in text (cntlist.rev);
 *  3. the other words of the first sense of the part of speech seen most
 *     often (physician -> doctor, doc, medico; "dog" is a noun first, so
 *     not "chase"), when that is a noun or an adjective: a verb's synset
 *     is a fine shade of meaning whose other words rarely say the same
 *     ("inspired" -> "animate").
 * Only single words of letters are returned (no collocations such as
 * "medical_doctor", no "Dr."), lower-cased, never the word itself nor,
 * but as an irregular form, its base form. A two-letter word ("go")
 * gets its irregular forms only.
 *
 * Thread-safety: a `struct pos_wordnet` is read-only after open; any
 * number of threads may look up at once.
 */
#ifndef POS_SEARCH_WORDNET_H
#define POS_SEARCH_WORDNET_H

#include <stddef.h>

#include "base/err.h"

/* Words longer than this are neither looked up nor returned. */
#define POS_WORDNET_WORD_MAX 32

enum pos_wordnet_kind {
	POS_WORDNET_FORM,       /* an irregular form or base: ran ~ run, child ~ children */
	POS_WORDNET_DERIVED,    /* a derived form: dermatologist ~ dermatology */
	POS_WORDNET_SYNONYM     /* another word of the first sense: physician ~ doctor */
};

struct pos_wordnet_word {
	char w[POS_WORDNET_WORD_MAX + 1];   /* NUL-terminated, lower case a-z */
	size_t len;
	enum pos_wordnet_kind kind;
};

struct pos_wordnet;

/*
 * Maps the database of directory `dir` (index.noun, data.noun, ... ;
 * the .exc files are optional). POS_ERR_NOT_FOUND when a index/data file
 * is missing or empty (WordNet not installed), POS_ERR_IO when one cannot
 * be mapped, POS_ERR_NOMEM. Free with pos_wordnet_close.
 */
enum pos_err pos_wordnet_open(const char *dir, struct pos_wordnet **out);
void pos_wordnet_close(struct pos_wordnet *wn);

/*
 * Up to `max` words related to the `len` bytes at `word` (ASCII letters,
 * any case; anything else, or fewer than 2 or more than
 * POS_WORDNET_WORD_MAX letters, finds nothing), in the order described
 * above, without duplicates. An inflected form is first reduced to its
 * base form as WordNet's morphy does (exception lists, then suffix
 * rules: "physicians" -> "physician", "ran" -> "run"). Returns how many
 * were written to `out`.
 */
size_t pos_wordnet_related(const struct pos_wordnet *wn, const char *word, size_t len,
			   struct pos_wordnet_word *out, size_t max);

#endif
