/*
 * vector.h — int8 quantization and exact nearest-neighbour search over one
 * user's vectors.
 *
 * At personal scale (10^3..10^6 memories) an exact scan of quantized
 * vectors is faster than building and querying an approximate index, and it
 * has perfect recall: a 256-dimension int8 row is 256 bytes, so a million
 * rows is a 256 MB sequential read that a SIMD loop does in about the time
 * the memory bus needs to deliver it (docs/EMBEDDER.md has the numbers).
 *
 * Quantization is symmetric per vector: scale = max|v| / 127 and
 * q[i] = round(v[i] / scale), so v ~ q * scale and the cosine of two unit
 * vectors is ~ dot(q1, q2) * scale1 * scale2. Values are in -127..127 (never
 * -128, which the SIMD kernels rely on; rows read from a blob are clamped).
 *
 * A `struct pos_vindex` holds rows of `dim` int8 values, each padded with
 * zeros to a multiple of POS_VEC_ALIGN bytes, in one contiguous array, with
 * parallel arrays of ids (memory sequence numbers) and scales, and a hash
 * map from id to row, so put and remove are O(1) (remove moves the last row
 * into the hole). Search is a blocked scan with the best kernel the CPU has
 * (AVX-512 VNNI, AVX2, or portable C) and a bounded min-heap for the top k.
 *
 * Persistence: a row is stored as a blob of exactly pos_vec_blob_size(dim)
 * bytes — the `dim` int8 values, no header — plus its scale, in the store's
 * memory_vectors table (memory_seq, model, dim, scale, vec). Loading is
 * pos_vindex_put_blob per row; nothing is re-embedded.
 *
 * Ownership: the caller owns the index (pos_vindex_free); vectors passed in
 * are copied. Thread-safety: none inside. Search, get, contains and the
 * getters only read the index and may run concurrently with each other;
 * put, remove, reserve and set_kernel write and need exclusive access (the
 * caller holds a per-user rwlock: read for search, write for changes).
 */
#ifndef POS_SEARCH_VECTOR_H
#define POS_SEARCH_VECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* Rows are padded to a multiple of this many bytes (and 64-byte aligned). */
#define POS_VEC_ALIGN 64u
/* Largest dimension accepted. */
#define POS_VEC_MAX_DIM 4096u

/* ---- quantization and blobs -------------------------------------------- */

/*
 * Quantizes dim floats to int8: *scale = max|v| / 127, q[i] =
 * round(v[i] / *scale). An all-zero (or non-finite) vector gives all-zero q
 * and *scale = 0. Deterministic (round half away from zero).
 */
void pos_vec_quantize(const float *v, unsigned dim, int8_t *q, float *scale);
/* v[i] = q[i] * scale. */
void pos_vec_dequantize(const int8_t *q, unsigned dim, float scale, float *v);
/* Bytes of one padded row: dim rounded up to POS_VEC_ALIGN. */
size_t pos_vec_stride(unsigned dim);

/* Bytes of the stored form of one vector: exactly `dim`. */
size_t pos_vec_blob_size(unsigned dim);
/* Writes the stored form of q (pos_vec_blob_size(dim) bytes) to blob. */
void pos_vec_pack(const int8_t *q, unsigned dim, void *blob);
/*
 * Reads a stored vector: POS_ERR_CORRUPT unless len == pos_vec_blob_size(dim)
 * and the dim is 1..POS_VEC_MAX_DIM. A -128 (never written by
 * pos_vec_quantize) is read as -127.
 */
enum pos_err pos_vec_unpack(const void *blob, size_t len, unsigned dim,
			    int8_t *q);

/* ---- the index ----------------------------------------------------------- */

struct pos_vindex;

/* One search result: a row's id and its approximate cosine to the query. */
struct pos_vhit {
	int64_t id;
	float score;
};

/*
 * A search filter: return false to leave `id` out. Called only for rows
 * whose score would put them in the current top k (so typically a few
 * times k calls, not once per row), from the searching thread.
 */
typedef bool (*pos_vec_keep_fn)(void *ctx, int64_t id);

/* An empty index of `dim` (1..POS_VEC_MAX_DIM) dimensions.
 * POS_ERR_INVALID_REQUEST, POS_ERR_NOMEM. */
enum pos_err pos_vindex_new(unsigned dim, struct pos_vindex **out);
/* Frees the index (NULL is a no-op). */
void pos_vindex_free(struct pos_vindex *ix);

unsigned pos_vindex_dim(const struct pos_vindex *ix);
/* Rows held. */
size_t pos_vindex_count(const struct pos_vindex *ix);
/* Heap bytes held (rows, codes, columns, ids, scales, map), capacity
 * included: about 660 B a row at dim 256. */
size_t pos_vindex_memory(const struct pos_vindex *ix);
/* Makes room for n rows in all, so that loading n rows allocates once. */
enum pos_err pos_vindex_reserve(struct pos_vindex *ix, size_t n);

/*
 * Sets the vector of `id`: replaces its row if present, appends one if not.
 * q holds dim values in -127..127 (a -128 is clamped). POS_ERR_NOMEM leaves
 * the index as it was; POS_ERR_INVALID_REQUEST for a negative or
 * non-finite scale.
 */
enum pos_err pos_vindex_put(struct pos_vindex *ix, int64_t id,
			    const int8_t *q, float scale);
/* Quantizes dim floats and puts them. */
enum pos_err pos_vindex_put_f32(struct pos_vindex *ix, int64_t id,
				const float *v);
/* Puts a stored blob (see pos_vec_unpack; POS_ERR_CORRUPT on a bad size or
 * a scale that is negative or not finite). */
enum pos_err pos_vindex_put_blob(struct pos_vindex *ix, int64_t id,
				 const void *blob, size_t len, float scale);
/* Removes the row of `id`: POS_OK, or POS_ERR_NOT_FOUND. */
enum pos_err pos_vindex_remove(struct pos_vindex *ix, int64_t id);
/* True when `id` has a row. */
bool pos_vindex_contains(const struct pos_vindex *ix, int64_t id);
/* Copies row number i (0..count-1, in no particular order: a removal
 * moves the last row into the gap), its id, values and scale:
 * POS_ERR_NOT_FOUND when i >= count. */
enum pos_err pos_vindex_row(const struct pos_vindex *ix, size_t i, int64_t *id,
			    int8_t *q, float *scale);
/* Copies the row of `id` (dim values) and its scale: POS_ERR_NOT_FOUND. */
enum pos_err pos_vindex_get(const struct pos_vindex *ix, int64_t id,
			    int8_t *q, float *scale);

/*
 * The (at most) k rows most similar to the query q (dim int8 values, scale
 * qscale), best first, written to out[0..*n); out needs room for k hits.
 * score = dot(q, row) * qscale * row scale (the cosine for unit vectors).
 * Equal scores are ordered by id, ascending, so results are reproducible.
 * `keep` (NULL = keep all) filters rows. A query with qscale 0 (no content)
 * matches nothing: *n = 0. POS_ERR_INVALID_REQUEST for a negative or
 * non-finite qscale. Never allocates.
 */
enum pos_err pos_vindex_search(const struct pos_vindex *ix, const int8_t *q,
			       float qscale, size_t k, pos_vec_keep_fn keep,
			       void *ctx, struct pos_vhit *out, size_t *n);
/*
 * The two-stage scan (docs/SEARCH.md, "Two-stage scan"). Every row also has
 * a 4-bit code (c = round(v * 7 / 127) per dimension, dim / 2 bytes padded
 * to 64: 128 bytes at dim 256). The first stage scans the codes, half the
 * bytes of the int8 rows, and keeps the best pos_vec_rerank_count(k) rows;
 * the second computes their exact int8 scores and keeps the best k. Rows
 * the first stage misses are the only difference from the exact scan, so
 * the scores returned are exact int8 scores and recall@k against the exact
 * scan is what bench/vector_bench.c measures.
 */
#define POS_VEC_RERANK_MIN 256u  /* rows re-ranked beyond ... */
#define POS_VEC_RERANK_PER_K 2u  /* ... this many per result asked for */
/*
 * The column scan (search/vcols.h, docs/SEARCH.md "Column scan"): every
 * row's values are also kept by dimension pair (+256 B a row at dim
 * 256), and a query with at most npairs / POS_VEC_COLS_SHARE non-zero
 * pairs — the built-in embedder's short queries — is scored from those
 * pairs' columns alone: the exact int8 scores of pos_vindex_search (the
 * same hits, scores and order), at a cost that follows the query's
 * non-zero pairs rather than the dimension. Denser queries (a remote
 * embedder's, a long question) take the two-stage scan. Indexes under
 * POS_VEC_COLS_MIN rows keep the row scans.
 */
#define POS_VEC_COLS_SHARE 3u
#define POS_VEC_COLS_MIN 1024u
/* Rows from which a column scan is split over the cores (its cost per row
 * is a fraction of the row scans', docs/BENCHMARKS.md, branch srch4). */
#define POS_VEC_COLS_PARALLEL_MIN 262144u

/* Which scan pos_vindex_search_ex runs for query q (dim values) and k:
 * "columns", "codes" (two stages) or "exact". */
const char *pos_vindex_scan_mode(const struct pos_vindex *ix, const int8_t *q,
				 size_t k, bool exact);

/* Rows below which a scan stays on one thread. */
#define POS_VEC_PARALLEL_MIN 65536u
#define POS_VEC_MAX_PARTS 8u

struct pos_workers;

struct pos_vsearch_opts {
	bool exact;                  /* scan every int8 row (no first stage) */
	struct pos_workers *workers; /* a fork-join pool, or NULL */
	unsigned parts;              /* split a large scan in this many (<= 8) */
};

/* POS_VEC_RERANK_MIN + POS_VEC_RERANK_PER_K * k: 276 for k = 10, 656
 * for the 200 a hybrid search asks for (capped near SIZE_MAX). Was 8 per
 * k (1,856 rows for 200): recall@200 against the exact scan stays at
 * 0.9998-1.0000 with 2 (docs/BENCHMARKS.md), at a third of the re-rank. */
size_t pos_vec_rerank_count(size_t k);

/*
 * pos_vindex_search with options: the column scan for a sparse query
 * (above), else the two-stage scan unless o->exact (or
 * the index has fewer than twice the rows re-ranked), on o->parts threads
 * of o->workers when the index has POS_VEC_PARALLEL_MIN rows or more. The
 * exact mode returns exactly what pos_vindex_search returns. `keep` may be
 * called from the pool's threads, concurrently: it must only read. Same
 * ordering and scores as pos_vindex_search; allocates the candidate heaps
 * (POS_ERR_NOMEM).
 */
enum pos_err pos_vindex_search_ex(const struct pos_vindex *ix, const int8_t *q,
				  float qscale, size_t k, pos_vec_keep_fn keep,
				  void *ctx, const struct pos_vsearch_opts *o,
				  struct pos_vhit *out, size_t *n);

/*
 * Several queries at once (auto-linking a batch, memory/autolink.h):
 * query i is qs[i] (dim int8 values) with scale qscales[i]; its (at most)
 * k best rows go to out[i*k ..] and their number to n[i]. Each query gets
 * exactly what pos_vindex_search_ex gives it with one part and no filter
 * (in the exact mode: what pos_vindex_search gives it). Each block of
 * codes (or, exact, of int8 rows) is read once for up to
 * POS_VEC_MANY_CHUNK queries, while it is in the core's cache, so a batch
 * costs about one pass over memory per chunk rather than one per query;
 * the chunks run on o->workers. POS_ERR_INVALID_REQUEST for a negative or
 * non-finite scale; allocates (POS_ERR_NOMEM).
 */
#define POS_VEC_MANY_CHUNK 16u
enum pos_err pos_vindex_search_many(const struct pos_vindex *ix, size_t nq,
				    const int8_t *const *qs, const float *qscales, size_t k,
				    const struct pos_vsearch_opts *o, struct pos_vhit *out,
				    size_t *n);

/* Quantizes the float query q (dim values) and searches with it. */
enum pos_err pos_vindex_search_f32(const struct pos_vindex *ix,
				   const float *q, size_t k,
				   pos_vec_keep_fn keep, void *ctx,
				   struct pos_vhit *out, size_t *n);

/* The scan kernel in use: "avx512vnni", "avx2" or "generic". */
const char *pos_vindex_kernel(const struct pos_vindex *ix);
/*
 * Chooses the scan kernel by name (for tests and benchmarks; new indexes
 * pick the fastest the CPU supports). POS_ERR_UNAVAILABLE when this CPU or
 * build lacks it, POS_ERR_INVALID_REQUEST for an unknown name.
 */
enum pos_err pos_vindex_set_kernel(struct pos_vindex *ix, const char *name);

/* ---- the float32 baseline ------------------------------------------------ */

/*
 * Exact top-k by dot product over n float rows of dim values (row-major,
 * no padding), with ids[i] the id of row i; same ordering, filter and
 * output rules as pos_vindex_search. The benchmark's baseline for the int8
 * index, and a reference for tests. Never allocates.
 */
void pos_vec_search_f32(const float *rows, const int64_t *ids, size_t n,
			unsigned dim, const float *q, size_t k,
			pos_vec_keep_fn keep, void *ctx, struct pos_vhit *out,
			size_t *nout);

#endif
