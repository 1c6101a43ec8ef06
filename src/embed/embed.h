/*
 * embed.h — embedders: turn a text into a fixed-size unit vector whose dot
 * product with another text's vector says how related the two are.
 *
 * An embedder is a `struct pos_embedder` with a table of operations, so a
 * remote (OpenAI-compatible) embedder can sit beside the built-in one. The
 * `model` string names the vector space: vectors made under different model
 * strings must never be compared (the store keeps it beside each vector and
 * re-embeds when it changes).
 *
 * The built-in embedder (builtin.c, docs/EMBEDDER.md) needs no download and
 * no network: it hashes word stems, character trigrams of the words and
 * adjacent word pairs into `dim` signed buckets. It is deterministic across
 * runs, machines and builds.
 *
 * Ownership: the caller owns the embedder and frees it with
 * pos_embed_free(); texts and output buffers are borrowed for the call.
 * Thread-safety: embed and embed_batch may be called on one embedder from
 * many threads at once; free must not race with them.
 */
#ifndef POS_EMBED_EMBED_H
#define POS_EMBED_EMBED_H

#include <stddef.h>

#include "base/err.h"

struct pos_embedder;

struct pos_embedder_ops {
	/*
	 * Writes e->dim floats to `out`: an L2-normalized vector, or all zeros
	 * when the text has no content (empty, only stop words or
	 * punctuation). POS_ERR_NOMEM; a remote embedder may also fail with
	 * POS_ERR_UNAVAILABLE or POS_ERR_IO.
	 */
	enum pos_err (*embed)(const struct pos_embedder *e, const char *text,
			      size_t len, float *out);
	/*
	 * Optional (NULL: pos_embed_batch loops over embed). Embeds n texts;
	 * out holds n * e->dim floats, row i for texts[i].
	 */
	enum pos_err (*embed_batch)(const struct pos_embedder *e,
				    const char *const *texts, const size_t *lens,
				    size_t n, float *out);
	/* Releases the embedder. */
	void (*free)(struct pos_embedder *e);
};

struct pos_embedder {
	const struct pos_embedder_ops *ops;
	char model[64]; /* e.g. "builtin-hash-v1-256" */
	unsigned dim;
};

/* Shorthands for e->ops->...; `text` may be NULL when len is 0. */
enum pos_err pos_embed(const struct pos_embedder *e, const char *text,
		       size_t len, float *out);
enum pos_err pos_embed_batch(const struct pos_embedder *e,
			     const char *const *texts, const size_t *lens,
			     size_t n, float *out);
/* Frees `e` (NULL is a no-op). */
void pos_embed_free(struct pos_embedder *e);

/* ---- the built-in hashing embedder ---------------------------------------- */

/* The dimensions the built-in embedder accepts. */
#define POS_EMBED_MIN_DIM 16u
#define POS_EMBED_MAX_DIM 4096u
/* Tokens of a text read by the built-in embedder; the rest is ignored. */
#define POS_EMBED_MAX_TOKENS 8192u

/*
 * The weights of the built-in embedder's features. pos_embed_builtin_new
 * uses the defaults (pos_embed_builtin_defaults); other weights give another
 * model string, so their vectors are never mixed with the defaults'.
 */
struct pos_embed_builtin_params {
	float word;    /* weight of a word stem, before TF damping (1.0) */
	float trigram; /* L2 weight of all character trigrams of a word */
	float bigram;  /* weight of an adjacent pair of stems */
	unsigned probes; /* buckets each feature is spread over: 1 or 2 */
};

/* The default weights (the ones measured in docs/EMBEDDER.md). */
void pos_embed_builtin_defaults(struct pos_embed_builtin_params *p);

/*
 * A built-in embedder of `dim` dimensions (POS_EMBED_MIN_DIM..
 * POS_EMBED_MAX_DIM; 256 is the default of the server), model
 * "builtin-hash-v1-<dim>". POS_ERR_INVALID_REQUEST for a dim out of range,
 * POS_ERR_NOMEM.
 */
enum pos_err pos_embed_builtin_new(unsigned dim, struct pos_embedder **out);

/*
 * Like pos_embed_builtin_new with explicit weights (NULL = defaults). When
 * they differ from the defaults the model string gets a suffix that
 * fingerprints them: "builtin-hash-v1-256-w1a2b3c4d".
 * POS_ERR_INVALID_REQUEST for a dim out of range, a negative or non-finite
 * weight, or probes not 1 or 2.
 */
enum pos_err pos_embed_builtin_new_params(
	unsigned dim, const struct pos_embed_builtin_params *p,
	struct pos_embedder **out);

/*
 * One weighted term for pos_embed_builtin_query: a stem as produced by
 * pos_token_next (embed/token.h), e.g. an expansion term of the
 * co-occurrence model (embed/cooc.h).
 */
struct pos_embed_term {
	const char *stem;
	size_t len;
	float weight;
};

/* A weight for a query stem, e.g. its IDF in the user's memories (>= 0). */
typedef float (*pos_embed_weight_fn)(void *ctx, const char *stem, size_t len);

/*
 * Builtin only: embeds a query `text` like pos_embed, except that each
 * stem's features are scaled by weight(ctx, stem, len) when `weight` is not
 * NULL, and that the stem features of the n `extra` terms, times their
 * weights, are added before normalizing. Vectors made this way are meant
 * to be compared with plain pos_embed vectors of documents: the weighting
 * is query-side only, so stored vectors never go stale when the user's
 * statistics change. `extra` may be NULL when n is 0.
 * POS_ERR_INVALID_REQUEST when `e` is not a built-in embedder.
 */
enum pos_err pos_embed_builtin_query(const struct pos_embedder *e,
				     const char *text, size_t len,
				     pos_embed_weight_fn weight, void *ctx,
				     const struct pos_embed_term *extra,
				     size_t n, float *out);

#endif
