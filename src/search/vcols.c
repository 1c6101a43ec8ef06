/*
 * vcols.c — the column layout of an int8 vector index and its scan
 * kernels (see vcols.h). The AVX2 kernel multiplies |q| by sign(row, q)
 * with VPMADDUBSW, as the row-major kernel does, so a pair's sum is exact
 * in int16, and widens to int32 when the next pair could overflow.
 */
#include "search/vcols.h"

#include <string.h>

#define PREFETCH_BYTES 1024u /* 16 blocks of 32 rows ahead in a column */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define POS_VCOLS_X86 1
#include <immintrin.h>
#endif


size_t pos_vcols_bytes(size_t npairs, size_t cap)
{
	return npairs * cap * 2;
}

void pos_vcols_set_row(int8_t *cols, size_t npairs, size_t cap, size_t r, const int8_t *row)
{
	for (size_t p = 0; p < npairs; p++) {
		cols[p * cap * 2 + r * 2] = row[2 * p];
		cols[p * cap * 2 + r * 2 + 1] = row[2 * p + 1];
	}
}

void pos_vcols_clear_row(int8_t *cols, size_t npairs, size_t cap, size_t r)
{
	for (size_t p = 0; p < npairs; p++)
		cols[p * cap * 2 + r * 2] = cols[p * cap * 2 + r * 2 + 1] = 0;
}

void pos_vcols_copy_row(int8_t *cols, size_t npairs, size_t cap, size_t dst, size_t src)
{
	for (size_t p = 0; p < npairs; p++) {
		cols[p * cap * 2 + dst * 2] = cols[p * cap * 2 + src * 2];
		cols[p * cap * 2 + dst * 2 + 1] = cols[p * cap * 2 + src * 2 + 1];
	}
}

void pos_vcols_move(int8_t *to, size_t to_cap, const int8_t *from, size_t from_cap,
		    size_t npairs, size_t rows)
{
	for (size_t p = 0; p < npairs; p++)
		memcpy(to + p * to_cap * 2, from + p * from_cap * 2, rows * 2);
}

size_t pos_vcols_prepare(const int8_t *qp, size_t npairs, struct pos_vcols_query *cq)
{
	size_t n = 0;
	int sum = 0;
	for (size_t p = 0; p < npairs && p < POS_VCOLS_MAX_PAIRS; p++) {
		int a = qp[2 * p], b = qp[2 * p + 1];
		if (!a && !b)
			continue;
		int aa = a < 0 ? -a : a, ab = b < 0 ? -b : b;
		if (n && sum + aa + ab > 258)
			cq->flush[n - 1] = 1; /* widen before this pair */
		if (n && cq->flush[n - 1])
			sum = 0;
		sum += aa + ab;
		cq->pair[n] = (uint16_t)p;
		cq->qa[n] = (uint16_t)(aa | ab << 8);
		cq->qs[n] = (uint16_t)((uint8_t)a | (uint8_t)b << 8);
		cq->flush[n] = 0;
		n++;
	}
	if (n)
		cq->flush[n - 1] = 1;
	cq->n = n;
	return n;
}

static void dots_generic(const int8_t *cols, size_t cap, size_t first, size_t nblocks,
			 const struct pos_vcols_query *cq, int32_t *out)
{
	for (size_t b = 0; b < nblocks; b++) {
		int32_t *o = out + b * POS_VCOLS_ROWS;
		memset(o, 0, POS_VCOLS_ROWS * sizeof(*o));
		for (size_t i = 0; i < cq->n; i++) {
			const int8_t *s = cols + (size_t)cq->pair[i] * cap * 2 +
					  (first + b * POS_VCOLS_ROWS) * 2;
			int q0 = (int8_t)(cq->qs[i] & 0xFF), q1 = (int8_t)(cq->qs[i] >> 8);
			for (size_t j = 0; j < POS_VCOLS_ROWS; j++)
				o[j] += q0 * s[2 * j] + q1 * s[2 * j + 1];
		}
	}
}

#ifdef POS_VCOLS_X86
__attribute__((target("avx2"))) static void
dots_avx2(const int8_t *cols, size_t cap, size_t first, size_t nblocks,
	  const struct pos_vcols_query *cq, int32_t *out)
{
	for (size_t b = 0; b < nblocks; b++) {
		const int8_t *blk = cols + (first + b * POS_VCOLS_ROWS) * 2;
		__m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
		__m256i s0 = a0, s1 = a0; /* int16 sums: rows 0..15, 16..31 */
		for (size_t i = 0; i < cq->n; i++) {
			const int8_t *seg = blk + (size_t)cq->pair[i] * cap * 2;
			/* a query's 20-odd columns are more streams than the
			 * hardware prefetchers follow at once: ask for this
			 * column's line PREFETCH_BYTES ahead (a prefetch never
			 * faults, past the end included) */
			_mm_prefetch((const char *)seg + PREFETCH_BYTES, _MM_HINT_T0);
			__m256i qa = _mm256_set1_epi16((short)cq->qa[i]);
			__m256i qs = _mm256_set1_epi16((short)cq->qs[i]);
			__m256i x0 = _mm256_loadu_si256((const __m256i *)seg);
			__m256i x1 = _mm256_loadu_si256((const __m256i *)(seg + 32));
			/* |q| * sign(r, q): a pair <= 2 * 127 * 127, exact */
			s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(qa, _mm256_sign_epi8(x0, qs)));
			s1 = _mm256_add_epi16(s1, _mm256_maddubs_epi16(qa, _mm256_sign_epi8(x1, qs)));
			if (!cq->flush[i])
				continue;
			a0 = _mm256_add_epi32(a0, _mm256_cvtepi16_epi32(_mm256_castsi256_si128(s0)));
			a1 = _mm256_add_epi32(a1, _mm256_cvtepi16_epi32(_mm256_extracti128_si256(s0, 1)));
			a2 = _mm256_add_epi32(a2, _mm256_cvtepi16_epi32(_mm256_castsi256_si128(s1)));
			a3 = _mm256_add_epi32(a3, _mm256_cvtepi16_epi32(_mm256_extracti128_si256(s1, 1)));
			s0 = s1 = _mm256_setzero_si256();
		}
		int32_t *o = out + b * POS_VCOLS_ROWS;
		_mm256_storeu_si256((__m256i *)o, a0);
		_mm256_storeu_si256((__m256i *)(o + 8), a1);
		_mm256_storeu_si256((__m256i *)(o + 16), a2);
		_mm256_storeu_si256((__m256i *)(o + 24), a3);
	}
}
#endif

pos_vcols_fn pos_vcols_kernel(const char *family)
{
#ifdef POS_VCOLS_X86
	if ((strcmp(family, "avx2") == 0 || strcmp(family, "avx512vnni") == 0) &&
	    __builtin_cpu_supports("avx2"))
		return dots_avx2;
#endif
	(void)family;
	return dots_generic;
}
