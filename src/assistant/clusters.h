/*
 * clusters.h — the local categories of meaning: a user's memories grouped
 * by their vectors (search/kmeans.h), each group named by the keywords its
 * members share (docs/LIFECYCLE.md, "Categories").
 *
 * Bounded: at most POS_CLUSTERS_SAMPLE vectors of the user, spread evenly
 * over the in-memory vector index (search/engine.h pos_search_sample), at
 * most POS_CLUSTERS_K clusters, k chosen within POS_CLUSTERS_DEADLINE_MS.
 * When the user's vector index is not resident within
 * POS_CLUSTERS_WAIT_MS, the answer says so (pending) and the load goes on.
 * A result is cached per user, stamped with the user's write generation
 * (pos_search_generation): any write of the user, or POS_CLUSTERS_TTL_US,
 * retires it; at most POS_CLUSTERS_CACHE users are kept, least recently
 * computed out first.
 *
 * Thread-safety: all functions may be called concurrently.
 */
#ifndef POS_ASSISTANT_CLUSTERS_H
#define POS_ASSISTANT_CLUSTERS_H

#include <stdbool.h>

#include "base/arena.h"
#include "base/err.h"
#include "base/json.h"
#include "search/engine.h"
#include "store/store.h"

#define POS_CLUSTERS_SAMPLE 2000
#define POS_CLUSTERS_K 8
#define POS_CLUSTERS_DEADLINE_MS 2000
#define POS_CLUSTERS_WAIT_MS 2000
#define POS_CLUSTERS_TTL_US (600LL * 1000000)
#define POS_CLUSTERS_CACHE 64
#define POS_CLUSTERS_MEMBERS 5  /* member ids listed a cluster */
#define POS_CLUSTERS_KEYWORDS 3 /* keywords naming a cluster */

struct pos_clusters;

/* An empty cache. POS_ERR_NOMEM. */
enum pos_err pos_clusters_new(struct pos_clusters **out);
/* Frees it (NULL is a no-op). */
void pos_clusters_free(struct pos_clusters *c);

/*
 * Writes one JSON object per cluster of the user's memories into the
 * array open in `w`: {"name": "oven, recipe, flour", "kind": "cluster",
 * "count": n, "keywords": [...], "member_ids": [...]} (count: members in
 * the sample, scaled to all of the user's vectors). *pending is true when
 * the vectors were not ready (nothing written; ask again later). Only the
 * user's own memories are read. POS_ERR_NOMEM, store errors.
 */
enum pos_err pos_clusters_json(struct pos_clusters *c, struct pos_search *e,
			       struct pos_store *s, struct pos_arena *a, const char *user_id,
			       struct pos_jw *w, bool *pending);

#endif
