/*
 * kmeans.h — spherical k-means over unit vectors (cosine similarity), to
 * group a user's memories by meaning (assistant/clusters.c, the local
 * categories of docs/LIFECYCLE.md).
 *
 * pos_kmeans_best tries k = 2..k_max: each run is seeded with k-means++
 * from a fixed seed (the same input gives the same clusters on every run
 * and machine) and iterated at most POS_KMEANS_ITERS times; the k kept is
 * the one with the best mean silhouette (cosine distance) measured on at
 * most POS_KMEANS_SIL_MAX points. It stops trying larger k once the
 * deadline passes, keeping the best so far (k = 2 is always tried). Cost:
 * O(k_max² · n · dim · iterations) for the runs plus O(sil² · dim) a k.
 *
 * Ownership: the caller's buffers; work memory through base/alloc.h.
 * Thread-safety: pure over the caller's memory.
 */
#ifndef POS_SEARCH_KMEANS_H
#define POS_SEARCH_KMEANS_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define POS_KMEANS_ITERS 25
#define POS_KMEANS_SIL_MAX 400
#define POS_KMEANS_K_MAX 32

/*
 * Clusters the n vectors v[i * dim ..] (unit length; zero vectors join
 * cluster 0): assign[i] gets point i's cluster (0..*k-1), centroids (room
 * for k_max * dim floats) the unit centroids, *k the count kept and
 * *silhouette its mean silhouette (-1..1). Clusters are numbered by size,
 * largest first. n < 4 gives one cluster. POS_ERR_INVALID_REQUEST for
 * k_max outside 2..POS_KMEANS_K_MAX or dim 0; POS_ERR_NOMEM.
 */
enum pos_err pos_kmeans_best(const float *v, size_t n, unsigned dim, unsigned k_max,
			     int64_t deadline_mono_us, unsigned *assign, float *centroids,
			     unsigned *k, float *silhouette);

#endif
