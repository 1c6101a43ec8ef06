/*
 * vcols.h — the column layout of an int8 vector index, and its scan
 * (docs/SEARCH.md, "Column scan").
 *
 * The built-in embedder's query vectors are sparse: a query of two to
 * five words sets about 20 of 256 dimensions (docs/BENCHMARKS.md). A
 * row-major scan reads every byte of every row whatever the query; in
 * this layout the rows' values are stored dimension pair by dimension
 * pair, so a scan reads only the pairs where the query is not zero and
 * computes each row's exact int8 dot product from them (the zeros of the
 * query add nothing). The cost follows the query's non-zero pairs, not
 * the dimension, and the scores are the exact int8 scores: no second
 * stage, recall 1 against the exact scan by construction.
 *
 * Layout: pair-major. For an index with room for `cap` rows (a multiple
 * of POS_VCOLS_ROWS), pair p's column is cap * 2 bytes at p * cap * 2:
 * bytes 2r and 2r + 1 are row r's values at dimensions 2p and 2p + 1.
 * A scan reads each of the query's columns from start to end, so the
 * hardware's stream prefetchers see one sequential stream per pair (a
 * block-major layout, segments of a block side by side, left them
 * guessing and the scan waiting on memory). Rows past the index's count
 * are kept zero.
 *
 * Ownership: the caller owns every array. Thread-safety: the functions
 * keep no state; the scan only reads.
 */
#ifndef POS_SEARCH_VCOLS_H
#define POS_SEARCH_VCOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POS_VCOLS_ROWS 32u
/* Largest number of pairs (POS_VEC_MAX_DIM / 2). */
#define POS_VCOLS_MAX_PAIRS 2048u

/* Bytes of the columns of cap rows. */
size_t pos_vcols_bytes(size_t npairs, size_t cap);
/* Writes row r's 2 * npairs values (row, padded with zeros). */
void pos_vcols_set_row(int8_t *cols, size_t npairs, size_t cap, size_t r, const int8_t *row);
/* Sets row r's values to zero. */
void pos_vcols_clear_row(int8_t *cols, size_t npairs, size_t cap, size_t r);
/* Copies row src's values to row dst. */
void pos_vcols_copy_row(int8_t *cols, size_t npairs, size_t cap, size_t dst, size_t src);
/* Copies the first `rows` rows of columns `from` (room for from_cap rows)
 * to `to` (room for to_cap >= rows). */
void pos_vcols_move(int8_t *to, size_t to_cap, const int8_t *from, size_t from_cap,
		    size_t npairs, size_t rows);

/*
 * A query in the form the scan takes: its non-zero pairs, in order.
 * flush[i] says that after pair i the kernel's int16 sums must be
 * widened to int32: a pair adds at most 127 * (|q0| + |q1|) to a row's
 * int16 sum, so pairs are summed in int16 while their |q| total stays
 * within 258 (127 * 258 < 32768).
 */
struct pos_vcols_query {
	size_t n;
	uint16_t pair[POS_VCOLS_MAX_PAIRS];
	uint16_t qa[POS_VCOLS_MAX_PAIRS];  /* |q| of dims 2p, 2p + 1 as bytes */
	uint16_t qs[POS_VCOLS_MAX_PAIRS];  /* q of dims 2p, 2p + 1 as bytes */
	uint8_t flush[POS_VCOLS_MAX_PAIRS];
};

/* Fills cq from the query qp (2 * npairs values, -127..127). Returns
 * cq->n, the pairs with a non-zero value. */
size_t pos_vcols_prepare(const int8_t *qp, size_t npairs, struct pos_vcols_query *cq);

/*
 * Exact dot products with the query of rows first .. first + nblocks *
 * POS_VCOLS_ROWS - 1 (first a multiple of POS_VCOLS_ROWS) of columns with
 * room for cap rows: out[j] for row first + j (rows past the index's
 * count read the zeros the caller keeps there).
 */
typedef void (*pos_vcols_fn)(const int8_t *cols, size_t cap, size_t first, size_t nblocks,
			     const struct pos_vcols_query *cq, int32_t *out);

/* The kernel for a CPU family ("avx512vnni" and "avx2" take the AVX2
 * kernel when this CPU has AVX2; anything else the portable one). */
pos_vcols_fn pos_vcols_kernel(const char *family);

#endif
