/*
 * cooc.h — what one user's own memories teach about their words: how rare
 * each stem is (IDF) and which stems keep company (co-occurrence).
 *
 * The built-in embedder knows nothing about meaning beyond spelling. This
 * model is learned from the user's texts, on the user's machine, with no
 * download: document frequencies give a query-side IDF weight (so "Caroline"
 * in a question about Caroline's many conversations counts less than
 * "adoption"), and positive pointwise mutual information (PPMI) between
 * stems that share a memory gives a few associated stems per stem
 * ("guitar" -> "play", "band", "song") to expand a query with. Both only
 * reweight or extend the query (pos_embed_builtin_query): stored document
 * vectors never depend on the model, so they never go stale.
 *
 * Life cycle: pos_cooc_new, pos_cooc_add for each memory (pos_cooc_remove
 * when one is deleted or before its update is re-added), pos_cooc_finish,
 * then pos_cooc_idf / pos_cooc_expand. More adds may follow a finish; the
 * neighbour lists are those of the last finish until the next one, and IDF
 * always reflects the current counts. The vocabulary and the pair table are
 * capped (struct pos_cooc_params), so memory stays bounded whatever the
 * input: past the caps new stems and pairs are ignored, deterministically.
 *
 * Ownership: the caller owns the model (pos_cooc_free). Terms returned by
 * pos_cooc_expand point into the model and stay valid until the next
 * pos_cooc_add, pos_cooc_remove, pos_cooc_finish or pos_cooc_free.
 * Thread-safety: pos_cooc_add, pos_cooc_remove and pos_cooc_finish need
 * exclusive access (a writer lock); pos_cooc_idf, pos_cooc_expand and the
 * getters only read and may run concurrently with each other.
 */
#ifndef POS_EMBED_COOC_H
#define POS_EMBED_COOC_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "embed/embed.h"

struct pos_cooc;

struct pos_cooc_params {
	uint32_t max_vocab;  /* distinct stems kept (default 100,000) */
	uint32_t max_pairs;  /* distinct stem pairs counted (default 1,000,000) */
	uint32_t window;     /* pairs are formed between the first occurrences
			      * of distinct stems at most this far apart in a
			      * memory (default 8) */
	uint32_t min_count;  /* memories a pair must share to count (default 2) */
	uint32_t neighbours; /* associated stems kept per stem (default 8) */
};

/* The defaults above. */
void pos_cooc_defaults(struct pos_cooc_params *p);

/* An empty model; params NULL = defaults. POS_ERR_INVALID_REQUEST for a
 * zero cap or window, POS_ERR_NOMEM. */
enum pos_err pos_cooc_new(const struct pos_cooc_params *params,
			  struct pos_cooc **out);
/* Frees the model (NULL is a no-op). */
void pos_cooc_free(struct pos_cooc *m);

/* Counts one memory's text. POS_ERR_NOMEM leaves the counts consistent
 * (that memory is then counted partly). */
enum pos_err pos_cooc_add(struct pos_cooc *m, const char *text, size_t len);
/* Uncounts a text given to pos_cooc_add before (counts never go below 0). */
void pos_cooc_remove(struct pos_cooc *m, const char *text, size_t len);
/* Rebuilds the neighbour lists from the current counts. POS_ERR_NOMEM
 * keeps the previous lists. */
enum pos_err pos_cooc_finish(struct pos_cooc *m);

/* Memories counted (adds minus removes). */
uint64_t pos_cooc_docs(const struct pos_cooc *m);
/* Distinct stems known. */
size_t pos_cooc_vocab(const struct pos_cooc *m);
/* Bytes of heap the model holds. */
size_t pos_cooc_memory(const struct pos_cooc *m);

/*
 * The BM25 IDF of a stem, ln(1 + (N - df + 0.5) / (df + 0.5)), over the
 * memories counted; a stem never seen gets the IDF of df = 0. `m` is a
 * `const struct pos_cooc *` passed as void * so that this function can be
 * given to pos_embed_builtin_query as its weight function directly.
 */
float pos_cooc_idf(void *m, const char *stem, size_t len);

/*
 * Finds up to `cap` stems associated with the query `text` that are not in
 * it, written to out[] with weights: for each candidate b, the sum over the
 * query stems a of idf(a) * ppmi(a, b) / max_b' ppmi(a, b'), times `alpha`.
 * Strongest first; ties by stem bytes. Returns the count (0 before the
 * first pos_cooc_finish). Pass the result to pos_embed_builtin_query.
 */
size_t pos_cooc_expand(const struct pos_cooc *m, const char *text, size_t len,
		       float alpha, struct pos_embed_term *out, size_t cap);

#endif
