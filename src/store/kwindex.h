/*
 * kwindex.h — one user's in-memory keyword index beside FTS5, and a top-k
 * that does not score every matching memory (docs/SEARCH.md, "Keyword
 * top-k").
 *
 * The index holds, per stemmed term, a posting list in insertion order
 * (memory, weighted term frequency), and per memory its token count. It
 * scores exactly like FTS5's bm25() with the column weights of
 * memories_fts (content 1.0, tags 1.0, context 0.4; k1 1.2, b 0.75), with
 * the statistics (memory count, average length, document frequencies) of
 * this user's memories only.
 *
 * pos_kwindex_top answers with MaxScore: query terms whose score bounds
 * together cannot lift a memory above the current k-th best are not
 * iterated, only probed for memories found through the others. It is
 * safe: the same top-k as scoring every matching memory (ties broken by
 * insertion order, earlier first). exact=true scores every matching
 * memory instead (the reference the property test compares with).
 *
 * Not thread-safe: the caller serializes writers against readers (the
 * SQLite store holds a read-write lock). A memory is identified by seq;
 * putting a seq again replaces it.
 */
#ifndef POS_STORE_KWINDEX_H
#define POS_STORE_KWINDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "store/store.h"

#define POS_KW_COLUMNS 3        /* content, tags, context */
/* query terms per search: up to 64 words and phrases, each with its stems
 * in other languages (store/sqlite_tok.h), and the query expansion's
 * alternatives and repeats (search/expand.h) */
#define POS_KW_MAX_TERMS 256

struct pos_kwindex;

/* One token of a memory: its bytes and the column it came from. */
struct pos_kwtoken {
	const char *s;
	size_t n;
	unsigned col;           /* < POS_KW_COLUMNS */
};

enum pos_err pos_kwindex_new(struct pos_kwindex **out);
void pos_kwindex_free(struct pos_kwindex *x);

/* Adds (or replaces) memory `seq` with its tokens, in any order. */
enum pos_err pos_kwindex_put(struct pos_kwindex *x, int64_t seq,
			     const struct pos_kwtoken *t, size_t n);
/* Removes memory `seq` (nothing when absent). */
enum pos_err pos_kwindex_remove(struct pos_kwindex *x, int64_t seq);

/*
 * The best `k` memories for the OR of `terms` (each a stemmed index term;
 * a term given twice counts twice, as FTS5 counts a repeated phrase),
 * best first, score = -bm25. *n receives how many (fewer when fewer
 * match). `scored` (may be NULL) receives how many memories were scored.
 * At most POS_KW_MAX_TERMS terms (POS_ERR_INVALID beyond).
 */
enum pos_err pos_kwindex_top(const struct pos_kwindex *x, const char *const *terms,
			     const size_t *lens, size_t nterms, size_t k, bool exact,
			     struct pos_hit *out, size_t *n, size_t *scored);

/* Memories holding the term (its document frequency; 0 when none). */
size_t pos_kwindex_df(const struct pos_kwindex *x, const char *term, size_t len);
/* Memories held; bytes used (approximate). */
size_t pos_kwindex_docs(const struct pos_kwindex *x);
size_t pos_kwindex_bytes(const struct pos_kwindex *x);

#endif
