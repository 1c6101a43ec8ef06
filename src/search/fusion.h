/*
 * fusion.h — ranking: reciprocal-rank fusion of keyword and vector
 * candidates, then multiplicative boosts for recency, importance, layer and
 * access count. Pure functions over caller memory; thread-safe.
 *
 * score = rrf_norm × (1 + recency + importance + layer + access), where
 * rrf_norm = Σ w_list / (k + rank_list) over the lists a memory is in
 * (keyword, semantic, and MemU's retrieval when the search has it),
 * divided by its maximum (rank 1 in every active list), so 0 < rrf_norm ≤ 1;
 * and each boost is its weight times a feature:
 *   recency    w × 2^(−age_days / half_life_days)             in [0, w]
 *   importance w × (importance − 0.5) × 2                     in [−w, w]
 *   layer      w × {active 0, working −0.25, reference −0.5, archive −1}
 *   access     w × min(1, ln(1 + access_count) / ln(101))    in [0, w]
 * Boosts are small multipliers, so they reorder memories whose fused
 * ranks are close and never lift a weak match above a strong one. Thread
 * credit (pos_thread_credit) then adds a share of the best score of
 * another candidate in the same thread.
 * docs/SEARCH.md documents the defaults and how they were chosen.
 */
#ifndef POS_SEARCH_FUSION_H
#define POS_SEARCH_FUSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct pos_rank_weights {
	double keyword, semantic;       /* list weights in the fusion */
	double memu;                    /* MemU's list, when a search has one */
	double rrf_k;                   /* the k of 1/(k + rank) */
	double recency, half_life_days;
	double importance, layer, access;
};

void pos_rank_weights_default(struct pos_rank_weights *w);

/* One candidate after fusion; ranks are 1-based, 0 = not in that list. */
struct pos_ranked {
	int64_t seq;
	unsigned kw_rank, vec_rank, memu_rank;
	double kw_score;    /* -bm25 */
	double vec_score;   /* cosine */
	double memu_score;  /* MemU's own score */
	double rrf;         /* normalized, (0, 1] */
	double boost;       /* the multiplier minus one */
	double b_recency, b_importance, b_layer, b_access;
	double b_date;      /* time phrase (engine.c, search/temporal.h) */
	double score;       /* final */
	int32_t row;        /* engine-internal: index of the hydrated row */
};

/*
 * Fuses keyword hits `kw` (best first) and vector hits `vec` (best first)
 * into `out` (capacity nk + nv), sorted by rrf descending, ties by seq
 * descending (newer first). Returns the number of distinct candidates.
 * A list with weight 0 or no hits does not count toward the maximum.
 */
size_t pos_fuse(const struct pos_rank_weights *w, const struct pos_hit *kw,
		size_t nk, const struct pos_hit *vec, size_t nv,
		struct pos_ranked *out);
/* The same with a third list, MemU's hits `mu` (best first, weight
 * w->memu); `out` has room for nk + nv + nm. */
size_t pos_fuse3(const struct pos_rank_weights *w, const struct pos_hit *kw, size_t nk,
		 const struct pos_hit *vec, size_t nv, const struct pos_hit *mu, size_t nm,
		 struct pos_ranked *out);

/* Applies the boosts of memory `m` (at time `now`) to r, setting score. */
void pos_boost(const struct pos_rank_weights *w, const struct pos_memory *m,
	       int64_t now, struct pos_ranked *r);

/* One candidate's thread for pos_thread_credit (caller's scratch). */
struct pos_thread_item {
	const char *thread;     /* NULL or "": in no thread */
	size_t index;           /* into r */
	double score;
};

/*
 * Thread credit: each candidate r[i] whose thread (thread[i]) another
 * candidate shares gains w × the best score among the others of its
 * thread (scores as they are before any credit). Evidence of a question
 * clusters in a conversation's session: a turn next to a strong match
 * of the same thread is likelier relevant than its own words say.
 * `scratch` has room for n items. Does not sort.
 */
void pos_thread_credit(double w, struct pos_ranked *r, size_t n, const char *const *thread,
		       struct pos_thread_item *scratch);

/* Sorts by final score descending (ties: rrf, then seq descending). */
void pos_rank_sort(struct pos_ranked *r, size_t n);

/* One place of a page merged from two ranked lists (pos_fuse_merge). */
struct pos_fused_item {
	size_t index;       /* into the list it came from */
	bool other;         /* from the second list */
	double score;
};

/*
 * Merges a fused, ranked list (scores descending, `own_scores[i]`) with
 * `n_other` keyword-only hits in rank order, each scored like a
 * keyword-only hit of the fusion: w->keyword / (w->rrf_k + rank); on a tie
 * the first list goes first. Skips the first `offset` places and writes at
 * most `limit` into `out` (room for `limit`); returns how many.
 */
size_t pos_fuse_merge(const struct pos_rank_weights *w, const double *own_scores,
		      size_t n_own, size_t n_other, unsigned offset, unsigned limit,
		      struct pos_fused_item *out);

#endif
