/*
 * vector.c — int8 quantization, the per-user exact vector index and its SIMD
 * scan kernels.
 *
 * The scan computes dot products a block of rows at a time into an int32
 * array (the kernel), then turns them into scores and offers them to a
 * bounded min-heap kept in the caller's output array. Kernels:
 *   avx512vnni  VPDPBUSD multiplies unsigned by signed bytes, so each row
 *               byte is biased to r + 128 (an XOR with 0x80) and the
 *               constant 128 * sum(q) is subtracted afterwards;
 *   avx2        VPMADDUBSW on |q| and sign(r, q) (exact: |q| <= 127 so a
 *               pair sum stays within int16), then VPMADDWD to int32;
 *   generic     a plain C loop that compilers vectorize at -O3.
 * The x86 kernels are compiled with target attributes and chosen at run
 * time, so one binary runs on any x86-64.
 */
#include "search/vector.h"

#include <math.h>
#include <string.h>

#include "base/alloc.h"
#include "base/thread.h"
#include "search/vcols.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define POS_VEC_X86 1
#include <immintrin.h>
#endif

/* rows per kernel call: 256 rows x 256 B = 64 KiB, fits L2 */
#define BLOCK 256u

typedef void (*dot_fn)(const int8_t *rows, size_t stride, size_t n,
		       const int8_t *q, const int8_t *qabs, int32_t *out);

struct kernel {
	const char *name;
	dot_fn fn;
	bool biased; /* result includes 128 * sum(q) */
};

/*
 * The first stage's kernel: dot products of 4-bit codes (unsigned nibbles
 * u = c + 8, c in -7..7) with the query rearranged to match the nibbles
 * (qlo for low nibbles, qhi for high ones). The result includes
 * 8 * sum(q), which the caller subtracts.
 */
typedef void (*dot4_fn)(const uint8_t *codes, size_t cstride, size_t n,
			const int8_t *qlo, const int8_t *qhi, int32_t *out);

/*
 * A scan's filter of a block: the rows j of [0, n) whose score
 * (float)(dots[j] - bias) * sc[j] is at least `bar`, in order, into rows[]
 * (returns their number). The scores are computed as the scalar loops do
 * (an int subtraction, a conversion, one multiplication), so they are bit
 * for bit the same, and the callers test each row passed again with their
 * own rule (above the bar; or a tie broken by id): the filter only skips
 * rows those rules would skip. Most rows of a long scan fail the bar, and
 * the vector form tests eight at once instead of one branch a row.
 */
typedef size_t (*pass4_fn)(const int32_t *dots, size_t n, int32_t bias,
			   const float *sc, float bar, uint16_t *rows);

struct kernel4 {
	const char *name;
	dot4_fn fn;
	pass4_fn pass;
};

struct pos_vindex {
	unsigned dim;
	size_t stride;
	size_t count, cap;
	int8_t *rows; /* 64-byte aligned inside rows_mem */
	void *rows_mem;
	int64_t *ids;
	float *scales;
	uint32_t *slots; /* id hash slot -> row + 1, 0 = empty */
	size_t slot_cap; /* power of two, >= 2 * cap */
	const struct kernel *kern;
	/* the 4-bit codes of the first stage: cstride bytes a row */
	size_t cstride;
	uint8_t *codes; /* 64-byte aligned inside codes_mem */
	void *codes_mem;
	const struct kernel4 *kern4;
	/* the same int8 values by dimension pair (search/vcols.h), for
	 * sparse queries: cap rounded up to POS_VCOLS_ROWS rows, zeros
	 * past count */
	size_t npairs;
	int8_t *cols;
	pos_vcols_fn colsfn;
};

/* ---- kernels ------------------------------------------------------------- */

static void dot_generic(const int8_t *rows, size_t stride, size_t n,
			const int8_t *q, const int8_t *qabs, int32_t *out)
{
	(void)qabs;
	for (size_t r = 0; r < n; r++) {
		const int8_t *a = rows + r * stride;
		int32_t s = 0;
		/* a fixed-count inner loop: GCC's -O2 cost model vectorizes
		 * only loops that need no scalar epilogue */
		for (size_t c = 0; c < stride; c += POS_VEC_ALIGN)
			for (size_t i = 0; i < POS_VEC_ALIGN; i++)
				s += (int16_t)a[c + i] * (int16_t)q[c + i];
		out[r] = s;
	}
}

#ifdef POS_VEC_X86
__attribute__((target("avx2"))) static inline int32_t
hsum256(__m256i v)
{
	__m128i s = _mm_add_epi32(_mm256_castsi256_si128(v),
				  _mm256_extracti128_si256(v, 1));
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
	return _mm_cvtsi128_si32(s);
}

__attribute__((target("avx2"))) static void
dot_avx2(const int8_t *rows, size_t stride, size_t n, const int8_t *q,
	 const int8_t *qabs, int32_t *out)
{
	const __m256i ones = _mm256_set1_epi16(1);
	size_t r = 0;
	/* four rows at a time share the query loads */
	for (; r + 4 <= n; r += 4) {
		const int8_t *a = rows + r * stride;
		__m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
		for (size_t i = 0; i < stride; i += 32) {
			__m256i qs = _mm256_load_si256((const __m256i *)(q + i));
			__m256i qa = _mm256_load_si256((const __m256i *)(qabs + i));
			__m256i x0 = _mm256_load_si256((const __m256i *)(a + i));
			__m256i x1 = _mm256_load_si256(
				(const __m256i *)(a + stride + i));
			__m256i x2 = _mm256_load_si256(
				(const __m256i *)(a + 2 * stride + i));
			__m256i x3 = _mm256_load_si256(
				(const __m256i *)(a + 3 * stride + i));
			s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(
				_mm256_maddubs_epi16(qa, _mm256_sign_epi8(x0, qs)), ones));
			s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(
				_mm256_maddubs_epi16(qa, _mm256_sign_epi8(x1, qs)), ones));
			s2 = _mm256_add_epi32(s2, _mm256_madd_epi16(
				_mm256_maddubs_epi16(qa, _mm256_sign_epi8(x2, qs)), ones));
			s3 = _mm256_add_epi32(s3, _mm256_madd_epi16(
				_mm256_maddubs_epi16(qa, _mm256_sign_epi8(x3, qs)), ones));
		}
		out[r] = hsum256(s0);
		out[r + 1] = hsum256(s1);
		out[r + 2] = hsum256(s2);
		out[r + 3] = hsum256(s3);
	}
	for (; r < n; r++) {
		const int8_t *a = rows + r * stride;
		__m256i s0 = _mm256_setzero_si256();
		for (size_t i = 0; i < stride; i += 32) {
			__m256i qs = _mm256_load_si256((const __m256i *)(q + i));
			__m256i qa = _mm256_load_si256((const __m256i *)(qabs + i));
			__m256i x0 = _mm256_load_si256((const __m256i *)(a + i));
			s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(
				_mm256_maddubs_epi16(qa, _mm256_sign_epi8(x0, qs)), ones));
		}
		out[r] = hsum256(s0);
	}
}

#define AVX512_TARGET "avx512f,avx512bw,avx512vnni"

__attribute__((target(AVX512_TARGET))) static void
dot_avx512vnni(const int8_t *rows, size_t stride, size_t n, const int8_t *q,
	       const int8_t *qabs, int32_t *out)
{
	(void)qabs;
	const __m512i bias = _mm512_set1_epi8((char)0x80);
	size_t r = 0;
	for (; r + 4 <= n; r += 4) {
		const int8_t *a = rows + r * stride;
		__m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0;
		for (size_t i = 0; i < stride; i += 64) {
			__m512i qs = _mm512_load_si512((const void *)(q + i));
			__m512i x0 = _mm512_load_si512((const void *)(a + i));
			__m512i x1 = _mm512_load_si512((const void *)(a + stride + i));
			__m512i x2 = _mm512_load_si512(
				(const void *)(a + 2 * stride + i));
			__m512i x3 = _mm512_load_si512(
				(const void *)(a + 3 * stride + i));
			s0 = _mm512_dpbusd_epi32(s0, _mm512_xor_si512(x0, bias), qs);
			s1 = _mm512_dpbusd_epi32(s1, _mm512_xor_si512(x1, bias), qs);
			s2 = _mm512_dpbusd_epi32(s2, _mm512_xor_si512(x2, bias), qs);
			s3 = _mm512_dpbusd_epi32(s3, _mm512_xor_si512(x3, bias), qs);
		}
		out[r] = _mm512_reduce_add_epi32(s0);
		out[r + 1] = _mm512_reduce_add_epi32(s1);
		out[r + 2] = _mm512_reduce_add_epi32(s2);
		out[r + 3] = _mm512_reduce_add_epi32(s3);
	}
	for (; r < n; r++) {
		const int8_t *a = rows + r * stride;
		__m512i s0 = _mm512_setzero_si512();
		for (size_t i = 0; i < stride; i += 64) {
			__m512i qs = _mm512_load_si512((const void *)(q + i));
			__m512i x0 = _mm512_load_si512((const void *)(a + i));
			s0 = _mm512_dpbusd_epi32(s0, _mm512_xor_si512(x0, bias), qs);
		}
		out[r] = _mm512_reduce_add_epi32(s0);
	}
}
#endif


/* ---- 4-bit kernels -------------------------------------------------------- */

/*
 * Code layout: byte j of the 32-byte chunk c holds dimension 64c + j in its
 * low nibble and 64c + 32 + j in its high one, so the SIMD kernels unpack a
 * register with one AND and one shift; qlo[b]/qhi[b] are the query values
 * of the two dimensions of code byte b.
 */
static void dot4_generic(const uint8_t *codes, size_t cstride, size_t n,
			 const int8_t *qlo, const int8_t *qhi, int32_t *out)
{
	for (size_t r = 0; r < n; r++) {
		const uint8_t *a = codes + r * cstride;
		int32_t s = 0;
		for (size_t c = 0; c < cstride; c += POS_VEC_ALIGN)
			for (size_t i = 0; i < POS_VEC_ALIGN; i++)
				s += (int16_t)(a[c + i] & 15) * qlo[c + i] +
				     (int16_t)(a[c + i] >> 4) * qhi[c + i];
		out[r] = s;
	}
}

static size_t pass4_generic(const int32_t *dots, size_t n, int32_t bias,
			    const float *sc, float bar, uint16_t *rows)
{
	size_t k = 0;
	for (size_t j = 0; j < n; j++)
		if ((float)(dots[j] - bias) * sc[j] >= bar)
			rows[k++] = (uint16_t)j;
	return k;
}

#ifdef POS_VEC_X86
__attribute__((target("avx2"))) static size_t
pass4_avx2(const int32_t *dots, size_t n, int32_t bias, const float *sc,
	   float bar, uint16_t *rows)
{
	const __m256i b = _mm256_set1_epi32(bias);
	const __m256 bv = _mm256_set1_ps(bar);
	size_t k = 0, j = 0;
	for (; j + 8 <= n; j += 8) {
		__m256i d = _mm256_loadu_si256((const __m256i *)(dots + j));
		__m256 s = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(d, b)),
					 _mm256_loadu_ps(sc + j));
		unsigned mask = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(s, bv, _CMP_GE_OQ));
		while (mask) {
			rows[k++] = (uint16_t)(j + (unsigned)__builtin_ctz(mask));
			mask &= mask - 1;
		}
	}
	for (; j < n; j++)
		if ((float)(dots[j] - bias) * sc[j] >= bar)
			rows[k++] = (uint16_t)j;
	return k;
}

__attribute__((target("avx2"))) static void
dot4_avx2(const uint8_t *codes, size_t cstride, size_t n, const int8_t *qlo,
	  const int8_t *qhi, int32_t *out)
{
	const __m256i ones = _mm256_set1_epi16(1);
	const __m256i low = _mm256_set1_epi8(15);
	size_t r = 0;
	for (; r + 2 <= n; r += 2) {
		const uint8_t *a = codes + r * cstride;
		__m256i s0 = _mm256_setzero_si256(), s1 = s0;
		for (size_t i = 0; i < cstride; i += 32) {
			__m256i ql = _mm256_load_si256((const __m256i *)(qlo + i));
			__m256i qh = _mm256_load_si256((const __m256i *)(qhi + i));
			__m256i x0 = _mm256_load_si256((const __m256i *)(a + i));
			__m256i x1 = _mm256_load_si256((const __m256i *)(a + cstride + i));
			/* nibble * q <= 15 * 127 * 2 per pair: no int16 overflow */
			__m256i p0 = _mm256_add_epi16(
				_mm256_maddubs_epi16(_mm256_and_si256(x0, low), ql),
				_mm256_maddubs_epi16(
					_mm256_and_si256(_mm256_srli_epi16(x0, 4), low), qh));
			__m256i p1 = _mm256_add_epi16(
				_mm256_maddubs_epi16(_mm256_and_si256(x1, low), ql),
				_mm256_maddubs_epi16(
					_mm256_and_si256(_mm256_srli_epi16(x1, 4), low), qh));
			s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(p0, ones));
			s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(p1, ones));
		}
		out[r] = hsum256(s0);
		out[r + 1] = hsum256(s1);
	}
	if (r < n)
		dot4_generic(codes + r * cstride, cstride, n - r, qlo, qhi, out + r);
}

__attribute__((target(AVX512_TARGET))) static void
dot4_avx512vnni(const uint8_t *codes, size_t cstride, size_t n,
		const int8_t *qlo, const int8_t *qhi, int32_t *out)
{
	const __m512i low = _mm512_set1_epi8(15);
	size_t r = 0;
	for (; r + 4 <= n; r += 4) {
		const uint8_t *a = codes + r * cstride;
		__m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0;
		for (size_t i = 0; i < cstride; i += 64) {
			__m512i ql = _mm512_load_si512((const void *)(qlo + i));
			__m512i qh = _mm512_load_si512((const void *)(qhi + i));
#define DOT4_ROW(S, X)                                                         \
	do {                                                                   \
		__m512i x_ = (X);                                              \
		S = _mm512_dpbusd_epi32(S, _mm512_and_si512(x_, low), ql);      \
		S = _mm512_dpbusd_epi32(                                       \
			S, _mm512_and_si512(_mm512_srli_epi16(x_, 4), low), qh); \
	} while (0)
			DOT4_ROW(s0, _mm512_load_si512((const void *)(a + i)));
			DOT4_ROW(s1, _mm512_load_si512((const void *)(a + cstride + i)));
			DOT4_ROW(s2, _mm512_load_si512((const void *)(a + 2 * cstride + i)));
			DOT4_ROW(s3, _mm512_load_si512((const void *)(a + 3 * cstride + i)));
#undef DOT4_ROW
		}
		out[r] = _mm512_reduce_add_epi32(s0);
		out[r + 1] = _mm512_reduce_add_epi32(s1);
		out[r + 2] = _mm512_reduce_add_epi32(s2);
		out[r + 3] = _mm512_reduce_add_epi32(s3);
	}
	if (r < n)
		dot4_generic(codes + r * cstride, cstride, n - r, qlo, qhi, out + r);
}
#endif

static const struct kernel4 kernels4[] = {
#ifdef POS_VEC_X86
	{"avx512vnni", dot4_avx512vnni, pass4_avx2},
	{"avx2", dot4_avx2, pass4_avx2},
#endif
	{"generic", dot4_generic, pass4_generic},
};

/* The 4-bit kernel of the same family as the int8 one. */
static const struct kernel4 *kernel4_for(const char *name)
{
	for (size_t i = 0; i < sizeof(kernels4) / sizeof(kernels4[0]); i++)
		if (strcmp(kernels4[i].name, name) == 0)
			return &kernels4[i];
	return &kernels4[sizeof(kernels4) / sizeof(kernels4[0]) - 1];
}

static const struct kernel kernels[] = {
#ifdef POS_VEC_X86
	{"avx512vnni", dot_avx512vnni, true},
	{"avx2", dot_avx2, false},
#endif
	{"generic", dot_generic, false},
};

static bool kernel_supported(const struct kernel *k)
{
#ifdef POS_VEC_X86
	if (k->fn == dot_avx512vnni)
		return __builtin_cpu_supports("avx512f") &&
		       __builtin_cpu_supports("avx512bw") &&
		       __builtin_cpu_supports("avx512vnni");
	if (k->fn == dot_avx2)
		return __builtin_cpu_supports("avx2");
#endif
	(void)k;
	return true;
}

static const struct kernel *best_kernel(void)
{
	for (size_t i = 0; i < sizeof(kernels) / sizeof(kernels[0]); i++)
		if (kernel_supported(&kernels[i]))
			return &kernels[i];
	return &kernels[sizeof(kernels) / sizeof(kernels[0]) - 1];
}

/* ---- quantization and blobs ---------------------------------------------- */

void pos_vec_quantize(const float *v, unsigned dim, int8_t *q, float *scale)
{
	float mx = 0;
	for (unsigned i = 0; i < dim; i++) {
		float a = fabsf(v[i]);
		if (a > mx)
			mx = a;
	}
	if (!(mx > 0) || !isfinite(mx)) {
		memset(q, 0, dim);
		*scale = 0;
		return;
	}
	float inv = 127.0f / mx;
	for (unsigned i = 0; i < dim; i++) {
		/* round half away from zero without a libm call */
		float x = v[i] * inv;
		x += x < 0 ? -0.5f : 0.5f;
		q[i] = (int8_t)(x >= 127 ? 127 : x <= -127 ? -127 : (int)x);
	}
	*scale = mx / 127.0f;
}

void pos_vec_dequantize(const int8_t *q, unsigned dim, float scale, float *v)
{
	for (unsigned i = 0; i < dim; i++)
		v[i] = (float)q[i] * scale;
}

size_t pos_vec_stride(unsigned dim)
{
	return ((size_t)dim + POS_VEC_ALIGN - 1) / POS_VEC_ALIGN * POS_VEC_ALIGN;
}

size_t pos_vec_blob_size(unsigned dim)
{
	return dim;
}

void pos_vec_pack(const int8_t *q, unsigned dim, void *blob)
{
	memcpy(blob, q, dim);
}

/* Copies dim values, turning -128 into -127. */
static void copy_clamped(int8_t *dst, const int8_t *src, unsigned dim)
{
	for (unsigned i = 0; i < dim; i++)
		dst[i] = src[i] == -128 ? -127 : src[i];
}

enum pos_err pos_vec_unpack(const void *blob, size_t len, unsigned dim,
			    int8_t *q)
{
	if (dim == 0 || dim > POS_VEC_MAX_DIM || len != pos_vec_blob_size(dim) ||
	    !blob)
		return POS_ERR_CORRUPT;
	copy_clamped(q, blob, dim);
	return POS_OK;
}

/* The 4-bit code of an int8 row (see the layout at the 4-bit kernels):
 * c = round(v * 7 / 127) in -7..7, stored as c + 8; padding codes are 8
 * (zero), so they add nothing. */
static void encode4(const int8_t *row, unsigned dim, size_t cstride,
		    uint8_t *code)
{
	memset(code, 0x88, cstride);
	for (unsigned d = 0; d < dim; d++) {
		int v = row[d];
		int c = (v * 7 + (v < 0 ? -63 : 63)) / 127;
		size_t b = (size_t)d / 64 * 32 + d % 32;
		if (d % 64 < 32)
			code[b] = (uint8_t)((code[b] & 0xF0) | (c + 8));
		else
			code[b] = (uint8_t)((code[b] & 0x0F) | ((c + 8) << 4));
	}
}

/* ---- the id map ---------------------------------------------------------- */

static size_t slot_home(const struct pos_vindex *ix, int64_t id)
{
	uint64_t h = (uint64_t)id;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (size_t)h & (ix->slot_cap - 1);
}

/* The slot holding id, or the empty slot where it would go. */
static size_t slot_find(const struct pos_vindex *ix, int64_t id)
{
	size_t mask = ix->slot_cap - 1;
	size_t i = slot_home(ix, id);
	while (ix->slots[i] && ix->ids[ix->slots[i] - 1] != id)
		i = (i + 1) & mask;
	return i;
}

/* Empties slot i, moving later members of its cluster back (no tombstones). */
static void slot_delete(struct pos_vindex *ix, size_t i)
{
	size_t mask = ix->slot_cap - 1;
	size_t j = i;
	for (;;) {
		j = (j + 1) & mask;
		if (!ix->slots[j])
			break;
		size_t k = slot_home(ix, ix->ids[ix->slots[j] - 1]);
		/* move j to i unless its home lies cyclically in (i, j] */
		bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
		if (!stays) {
			ix->slots[i] = ix->slots[j];
			i = j;
		}
	}
	ix->slots[i] = 0;
}

/* ---- the index ----------------------------------------------------------- */

/* Rows the columns have room for: cap rounded up to whole blocks. */
static size_t cols_cap(size_t rows)
{
	return (rows + POS_VCOLS_ROWS - 1) / POS_VCOLS_ROWS * POS_VCOLS_ROWS;
}

enum pos_err pos_vindex_new(unsigned dim, struct pos_vindex **out)
{
	*out = NULL;
	if (dim == 0 || dim > POS_VEC_MAX_DIM)
		return POS_ERR_INVALID_REQUEST;
	struct pos_vindex *ix = pos_calloc(1, sizeof(*ix));
	if (!ix)
		return POS_ERR_NOMEM;
	ix->dim = dim;
	ix->stride = pos_vec_stride(dim);
	ix->kern = best_kernel();
	ix->cstride = (ix->stride / 2 + POS_VEC_ALIGN - 1) / POS_VEC_ALIGN *
		      POS_VEC_ALIGN;
	ix->kern4 = kernel4_for(ix->kern->name);
	ix->npairs = ix->stride / 2;
	ix->colsfn = pos_vcols_kernel(ix->kern->name);
	*out = ix;
	return POS_OK;
}

void pos_vindex_free(struct pos_vindex *ix)
{
	if (!ix)
		return;
	pos_free(ix->rows_mem);
	pos_free(ix->codes_mem);
	pos_free(ix->cols);
	pos_free(ix->ids);
	pos_free(ix->scales);
	pos_free(ix->slots);
	pos_free(ix);
}

unsigned pos_vindex_dim(const struct pos_vindex *ix)
{
	return ix->dim;
}

size_t pos_vindex_count(const struct pos_vindex *ix)
{
	return ix->count;
}

size_t pos_vindex_memory(const struct pos_vindex *ix)
{
	size_t n = sizeof(*ix);
	if (ix->rows_mem)
		n += ix->cap * ix->stride + POS_VEC_ALIGN;
	if (ix->codes_mem)
		n += ix->cap * ix->cstride + POS_VEC_ALIGN;
	if (ix->cols)
		n += pos_vcols_bytes(ix->npairs, cols_cap(ix->cap));
	n += ix->cap * (sizeof(*ix->ids) + sizeof(*ix->scales));
	n += ix->slot_cap * sizeof(*ix->slots);
	return n;
}

enum pos_err pos_vindex_reserve(struct pos_vindex *ix, size_t n)
{
	if (n <= ix->cap)
		return POS_OK;
	if (n > UINT32_MAX - 1 || n > SIZE_MAX / 4 / ix->stride)
		return POS_ERR_NOMEM;
	size_t scap = ix->slot_cap ? ix->slot_cap : 16;
	while (scap < 2 * n)
		scap *= 2;
	void *mem = pos_malloc(n * ix->stride + POS_VEC_ALIGN);
	void *cmem = pos_malloc(n * ix->cstride + POS_VEC_ALIGN);
	/* zeros: rows past count add nothing to a block's scan */
	int8_t *cols = pos_calloc(cols_cap(n), pos_vcols_bytes(ix->npairs, 1));
	int64_t *ids = pos_malloc(n * sizeof(*ids));
	float *scales = pos_malloc(n * sizeof(*scales));
	uint32_t *slots = scap != ix->slot_cap ? pos_calloc(scap, sizeof(*slots))
					       : NULL;
	if (!mem || !cmem || !cols || !ids || !scales || (scap != ix->slot_cap && !slots)) {
		pos_free(mem);
		pos_free(cmem);
		pos_free(cols);
		pos_free(ids);
		pos_free(scales);
		pos_free(slots);
		return POS_ERR_NOMEM;
	}
	int8_t *rows = (int8_t *)(((uintptr_t)mem + POS_VEC_ALIGN - 1) &
				  ~(uintptr_t)(POS_VEC_ALIGN - 1));
	uint8_t *codes = (uint8_t *)(((uintptr_t)cmem + POS_VEC_ALIGN - 1) &
				     ~(uintptr_t)(POS_VEC_ALIGN - 1));
	if (ix->count) {
		memcpy(rows, ix->rows, ix->count * ix->stride);
		memcpy(codes, ix->codes, ix->count * ix->cstride);
		pos_vcols_move(cols, cols_cap(n), ix->cols, cols_cap(ix->cap), ix->npairs,
			       ix->count);
		memcpy(ids, ix->ids, ix->count * sizeof(*ids));
		memcpy(scales, ix->scales, ix->count * sizeof(*scales));
	}
	pos_free(ix->rows_mem);
	pos_free(ix->codes_mem);
	pos_free(ix->cols);
	pos_free(ix->ids);
	pos_free(ix->scales);
	ix->cols = cols;
	ix->rows_mem = mem;
	ix->rows = rows;
	ix->codes_mem = cmem;
	ix->codes = codes;
	ix->ids = ids;
	ix->scales = scales;
	ix->cap = n;
	if (slots) {
		pos_free(ix->slots);
		ix->slots = slots;
		ix->slot_cap = scap;
		for (size_t r = 0; r < ix->count; r++)
			ix->slots[slot_find(ix, ix->ids[r])] = (uint32_t)r + 1;
	}
	return POS_OK;
}

enum pos_err pos_vindex_put(struct pos_vindex *ix, int64_t id,
			    const int8_t *q, float scale)
{
	if (!(scale >= 0) || !isfinite(scale))
		return POS_ERR_INVALID_REQUEST;
	size_t s = ix->slot_cap ? slot_find(ix, id) : 0;
	size_t r;
	if (ix->slot_cap && ix->slots[s]) {
		r = ix->slots[s] - 1;
	} else {
		if (ix->count == ix->cap) {
			size_t n = ix->cap ? ix->cap + ix->cap / 2 : 64;
			enum pos_err rc = pos_vindex_reserve(ix, n);
			if (rc)
				return rc;
		}
		r = ix->count++;
		ix->ids[r] = id;
		ix->slots[slot_find(ix, id)] = (uint32_t)r + 1;
	}
	int8_t *row = ix->rows + r * ix->stride;
	copy_clamped(row, q, ix->dim);
	memset(row + ix->dim, 0, ix->stride - ix->dim);
	encode4(row, ix->dim, ix->cstride, ix->codes + r * ix->cstride);
	pos_vcols_set_row(ix->cols, ix->npairs, cols_cap(ix->cap), r, row);
	ix->scales[r] = scale;
	return POS_OK;
}

enum pos_err pos_vindex_put_f32(struct pos_vindex *ix, int64_t id,
				const float *v)
{
	int8_t q[POS_VEC_MAX_DIM];
	float scale;
	pos_vec_quantize(v, ix->dim, q, &scale);
	return pos_vindex_put(ix, id, q, scale);
}

enum pos_err pos_vindex_put_blob(struct pos_vindex *ix, int64_t id,
				 const void *blob, size_t len, float scale)
{
	int8_t q[POS_VEC_MAX_DIM];
	enum pos_err rc = pos_vec_unpack(blob, len, ix->dim, q);
	if (rc)
		return rc;
	if (!(scale >= 0) || !isfinite(scale))
		return POS_ERR_CORRUPT;
	return pos_vindex_put(ix, id, q, scale);
}

enum pos_err pos_vindex_remove(struct pos_vindex *ix, int64_t id)
{
	if (!ix->count)
		return POS_ERR_NOT_FOUND;
	size_t s = slot_find(ix, id);
	if (!ix->slots[s])
		return POS_ERR_NOT_FOUND;
	size_t r = ix->slots[s] - 1, last = ix->count - 1;
	slot_delete(ix, s);
	if (r != last) {
		memcpy(ix->rows + r * ix->stride, ix->rows + last * ix->stride,
		       ix->stride);
		memcpy(ix->codes + r * ix->cstride,
		       ix->codes + last * ix->cstride, ix->cstride);
		pos_vcols_copy_row(ix->cols, ix->npairs, cols_cap(ix->cap), r, last);
		ix->ids[r] = ix->ids[last];
		ix->scales[r] = ix->scales[last];
		ix->slots[slot_find(ix, ix->ids[r])] = (uint32_t)r + 1;
	}
	pos_vcols_clear_row(ix->cols, ix->npairs, cols_cap(ix->cap), last);
	ix->count--;
	return POS_OK;
}

bool pos_vindex_contains(const struct pos_vindex *ix, int64_t id)
{
	return ix->count && ix->slots[slot_find(ix, id)] != 0;
}

enum pos_err pos_vindex_get(const struct pos_vindex *ix, int64_t id,
			    int8_t *q, float *scale)
{
	if (!ix->count)
		return POS_ERR_NOT_FOUND;
	uint32_t slot = ix->slots[slot_find(ix, id)];
	if (!slot)
		return POS_ERR_NOT_FOUND;
	memcpy(q, ix->rows + (size_t)(slot - 1) * ix->stride, ix->dim);
	*scale = ix->scales[slot - 1];
	return POS_OK;
}

enum pos_err pos_vindex_row(const struct pos_vindex *ix, size_t i, int64_t *id,
			    int8_t *q, float *scale)
{
	if (i >= ix->count)
		return POS_ERR_NOT_FOUND;
	*id = ix->ids[i];
	memcpy(q, ix->rows + i * ix->stride, ix->dim);
	*scale = ix->scales[i];
	return POS_OK;
}

const char *pos_vindex_kernel(const struct pos_vindex *ix)
{
	return ix->kern->name;
}

enum pos_err pos_vindex_set_kernel(struct pos_vindex *ix, const char *name)
{
	for (size_t i = 0; i < sizeof(kernels) / sizeof(kernels[0]); i++) {
		if (strcmp(kernels[i].name, name) != 0)
			continue;
		if (!kernel_supported(&kernels[i]))
			return POS_ERR_UNAVAILABLE;
		ix->kern = &kernels[i];
		ix->kern4 = kernel4_for(name);
		ix->colsfn = pos_vcols_kernel(name);
		return POS_OK;
	}
	if (strcmp(name, "avx2") == 0 || strcmp(name, "avx512vnni") == 0)
		return POS_ERR_UNAVAILABLE; /* not built for this CPU family */
	return POS_ERR_INVALID_REQUEST;
}

/* ---- top-k --------------------------------------------------------------- */

/* a ranks below b: lower score, or equal score and larger id */
static inline bool worse(float sa, int64_t ia, float sb, int64_t ib)
{
	return sa < sb || (sa == sb && ia > ib);
}

/* A min-heap (worst at h[0]) of at most k hits, kept in the output array. */
struct topk {
	struct pos_vhit *h;
	size_t n, k;
};

static void heap_sift_down(struct pos_vhit *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		if (l < n && worse(h[l].score, h[l].id, h[m].score, h[m].id))
			m = l;
		if (l + 1 < n &&
		    worse(h[l + 1].score, h[l + 1].id, h[m].score, h[m].id))
			m = l + 1;
		if (m == i)
			return;
		struct pos_vhit t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

/* True when a hit (s, id) would enter the heap now. */
static inline bool topk_wants(const struct topk *t, float s, int64_t id)
{
	return t->n < t->k || worse(t->h[0].score, t->h[0].id, s, id);
}

static void topk_push(struct topk *t, float s, int64_t id)
{
	if (t->n < t->k) {
		size_t i = t->n++;
		t->h[i] = (struct pos_vhit){id, s};
		while (i > 0) {
			size_t p = (i - 1) / 2;
			if (!worse(t->h[i].score, t->h[i].id, t->h[p].score,
				   t->h[p].id))
				break;
			struct pos_vhit x = t->h[i];
			t->h[i] = t->h[p];
			t->h[p] = x;
			i = p;
		}
		return;
	}
	t->h[0] = (struct pos_vhit){id, s};
	heap_sift_down(t->h, t->n, 0);
}

/* Sorts the heap best first (heap sort: pop the worst to the end). */
static void topk_finish(struct topk *t)
{
	for (size_t n = t->n; n > 1; n--) {
		struct pos_vhit x = t->h[0];
		t->h[0] = t->h[n - 1];
		t->h[n - 1] = x;
		heap_sift_down(t->h, n - 1, 0);
	}
}

/* ---- search -------------------------------------------------------------- */

enum pos_err pos_vindex_search(const struct pos_vindex *ix, const int8_t *q,
			       float qscale, size_t k, pos_vec_keep_fn keep,
			       void *ctx, struct pos_vhit *out, size_t *n)
{
	*n = 0;
	if (!(qscale >= 0) || !isfinite(qscale))
		return POS_ERR_INVALID_REQUEST;
	if (qscale == 0 || k == 0 || ix->count == 0)
		return POS_OK;
	_Alignas(64) int8_t qp[POS_VEC_MAX_DIM];
	_Alignas(64) int8_t qa[POS_VEC_MAX_DIM];
	int32_t dots[BLOCK];
	copy_clamped(qp, q, ix->dim);
	memset(qp + ix->dim, 0, ix->stride - ix->dim);
	int32_t bias = 0;
	for (size_t i = 0; i < ix->stride; i++) {
		qa[i] = (int8_t)(qp[i] < 0 ? -qp[i] : qp[i]);
		bias += qp[i];
	}
	bias = ix->kern->biased ? bias * 128 : 0;

	struct topk t = {out, 0, k};
	for (size_t base = 0; base < ix->count; base += BLOCK) {
		size_t nb = ix->count - base < BLOCK ? ix->count - base : BLOCK;
		ix->kern->fn(ix->rows + base * ix->stride, ix->stride, nb, qp,
			     qa, dots);
		const float *sc = ix->scales + base;
		const int64_t *ids = ix->ids + base;
		for (size_t j = 0; j < nb; j++) {
			float s = (float)(dots[j] - bias) * sc[j];
			if (!topk_wants(&t, s, ids[j]))
				continue;
			if (keep && !keep(ctx, ids[j]))
				continue;
			topk_push(&t, s, ids[j]);
		}
	}
	topk_finish(&t);
	for (size_t i = 0; i < t.n; i++)
		out[i].score *= qscale;
	*n = t.n;
	return POS_OK;
}

/* The query in the forms the kernels take. */
struct vquery {
	_Alignas(64) int8_t qp[POS_VEC_MAX_DIM];  /* padded with zeros */
	_Alignas(64) int8_t qa[POS_VEC_MAX_DIM];  /* |qp| */
	_Alignas(64) int8_t qlo[POS_VEC_MAX_DIM / 2 + POS_VEC_ALIGN];
	_Alignas(64) int8_t qhi[POS_VEC_MAX_DIM / 2 + POS_VEC_ALIGN];
	int32_t bias;  /* subtracted from an int8 kernel's dot */
	int32_t bias4; /* subtracted from a 4-bit kernel's dot: 8 * sum(q) */
};

static void vquery_init(const struct pos_vindex *ix, const int8_t *q,
			bool codes, struct vquery *v)
{
	copy_clamped(v->qp, q, ix->dim);
	memset(v->qp + ix->dim, 0, ix->stride - ix->dim);
	int32_t sum = 0;
	for (size_t i = 0; i < ix->stride; i++) {
		v->qa[i] = (int8_t)(v->qp[i] < 0 ? -v->qp[i] : v->qp[i]);
		sum += v->qp[i];
	}
	v->bias = ix->kern->biased ? sum * 128 : 0;
	v->bias4 = sum * 8;
	if (!codes)
		return;
	memset(v->qlo, 0, ix->cstride);
	memset(v->qhi, 0, ix->cstride);
	for (size_t d = 0; d < ix->dim; d++) {
		size_t b = d / 64 * 32 + d % 32;
		if (d % 64 < 32)
			v->qlo[b] = v->qp[d];
		else
			v->qhi[b] = v->qp[d];
	}
}

/* A first-stage candidate: a row and its approximate score. */
struct cand {
	float s;
	uint32_t row;
};

/*
 * Moves the m best of c[0..n) (by score, ties in any order) to c[0..m):
 * a quickselect, so the first stage costs O(rows) comparisons of floats
 * rather than a heap's O(log m) sifts per candidate.
 */
static void select_best(struct cand *c, size_t n, size_t m)
{
	size_t lo = 0, hi = n; /* c[0..lo) beat c[lo..hi), which beat c[hi..n) */
	while (lo < m && m < hi) {
		float pivot = c[lo + (hi - lo) / 2].s;
		/* three ways: [lo, lt) > pivot, [lt, i) == pivot, [gt, hi) < pivot */
		size_t lt = lo, i = lo, gt = hi;
		while (i < gt) {
			struct cand x = c[i];
			if (x.s > pivot) {
				c[i++] = c[lt];
				c[lt++] = x;
			} else if (x.s < pivot) {
				c[i] = c[--gt];
				c[gt] = x;
			} else {
				i++;
			}
		}
		if (m <= lt)
			hi = lt;
		else if (m >= gt)
			lo = gt;
		else
			return; /* the m-th best is among the equals */
	}
}

/* One part of a scan: rows [from, to) into its own bounded heap (exact
 * scan) or candidate buffer (first stage). */
struct vpart {
	const struct pos_vindex *ix;
	const struct vquery *v;
	bool codes; /* first stage: 4-bit codes into cand */
	const struct pos_vcols_query *cq; /* set: exact scores by columns */
	pos_vec_keep_fn keep;
	void *ctx;
	size_t from, to;
	struct topk t;
	struct cand *cand; /* room for 2m */
	size_t m, nc;
	float bar; /* first stage: the m-th best so far (-INFINITY at first) */
};

static void scan_exact(struct vpart *p)
{
	const struct pos_vindex *ix = p->ix;
	const struct vquery *v = p->v;
	int32_t dots[BLOCK];
	for (size_t base = p->from; base < p->to; base += BLOCK) {
		size_t nb = p->to - base < BLOCK ? p->to - base : BLOCK;
		ix->kern->fn(ix->rows + base * ix->stride, ix->stride, nb, v->qp,
			     v->qa, dots);
		const float *sc = ix->scales + base;
		const int64_t *ids = ix->ids + base;
		for (size_t j = 0; j < nb; j++) {
			float s = (float)(dots[j] - v->bias) * sc[j];
			if (!topk_wants(&p->t, s, ids[j]))
				continue;
			if (p->keep && !p->keep(p->ctx, ids[j]))
				continue;
			topk_push(&p->t, s, ids[j]);
		}
	}
}

/* The first stage over rows [from, to): rows scoring above the m-th best
 * so far go to a buffer of 2m; when it fills, the best m stay and the
 * m-th's score becomes the bar. May be called again for the next rows
 * (pos_vindex_search_many); scan_codes_end leaves the best m (or fewer)
 * in cand[0..nc). */
static void scan_codes(struct vpart *p)
{
	const struct pos_vindex *ix = p->ix;
	const struct vquery *v = p->v;
	int32_t dots[BLOCK];
	uint16_t pass[BLOCK];
	float bar = p->bar;
	size_t nc = p->nc;
	for (size_t base = p->from; base < p->to; base += BLOCK) {
		size_t nb = p->to - base < BLOCK ? p->to - base : BLOCK;
		ix->kern4->fn(ix->codes + base * ix->cstride, ix->cstride, nb,
			      v->qlo, v->qhi, dots);
		const float *sc = ix->scales + base;
		/* the rows above the bar as it was at the block's start; the
		 * bar only rises, so testing them again against the bar of the
		 * moment gives the rows, in the order, the plain loop took */
		size_t np = ix->kern4->pass(dots, nb, v->bias4, sc, bar, pass);
		for (size_t x = 0; x < np; x++) {
			size_t j = pass[x];
			float s = (float)(dots[j] - v->bias4) * sc[j];
			if (!(s > bar))
				continue;
			if (p->keep && !p->keep(p->ctx, ix->ids[base + j]))
				continue;
			p->cand[nc++] = (struct cand){s, (uint32_t)(base + j)};
			if (nc == 2 * p->m) {
				select_best(p->cand, nc, p->m);
				nc = p->m;
				bar = p->cand[0].s;
				for (size_t i = 1; i < nc; i++)
					if (p->cand[i].s < bar)
						bar = p->cand[i].s;
			}
		}
	}
	p->bar = bar;
	p->nc = nc;
}

static void scan_codes_end(struct vpart *p)
{
	if (p->nc > p->m) {
		select_best(p->cand, p->nc, p->m);
		p->nc = p->m;
	}
}

/* The second stage for one part's candidates: their exact int8 scores
 * into t. */
static void rerank(const struct pos_vindex *ix, const struct vquery *v,
		   const struct vpart *p, struct topk *t)
{
	for (size_t j = 0; j < p->nc; j++) {
		size_t r = p->cand[j].row;
		int32_t dot;
		ix->kern->fn(ix->rows + r * ix->stride, ix->stride, 1, v->qp, v->qa, &dot);
		float s = (float)(dot - v->bias) * ix->scales[r];
		if (topk_wants(t, s, ix->ids[r]))
			topk_push(t, s, ix->ids[r]);
	}
}

/* The column scan of rows [from, to) (from a multiple of BLOCK) into the
 * part's heap: scan_exact's rule on the same exact int8 scores. */
/* a beats b in the exact scan's order: higher score, then lower id */
static inline bool cand_beats(const struct pos_vindex *ix, struct cand a, struct cand b)
{
	return a.s > b.s || (a.s == b.s && ix->ids[a.row] < ix->ids[b.row]);
}

/*
 * Moves the m best of c[0..n) in the exact scan's order (score, then id:
 * a total order, ids being unique) to c[0..m): a quickselect, so the
 * column scan's top k costs about a comparison per candidate rather than
 * a heap's sifts (those were a third of its time at k = 200).
 */
static void select_exact(const struct pos_vindex *ix, struct cand *c, size_t n, size_t m)
{
	size_t lo = 0, hi = n;
	while (lo < m && m < hi && hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		struct cand pv = c[mid];
		c[mid] = c[hi - 1];
		c[hi - 1] = pv;
		size_t st = lo;
		for (size_t i = lo; i + 1 < hi; i++) {
			if (cand_beats(ix, c[i], pv)) {
				struct cand x = c[i];
				c[i] = c[st];
				c[st++] = x;
			}
		}
		c[hi - 1] = c[st];
		c[st] = pv; /* c[lo..st) beat it, c(st..hi) do not */
		if (st == m || st + 1 == m)
			return;
		if (st > m)
			hi = st;
		else
			lo = st + 1;
	}
}

/* The column scan of rows [from, to) (from a multiple of BLOCK): the rows
 * that beat the k-th best so far go to a buffer of 2k; when it fills, the
 * best k stay (select_exact) and the k-th becomes the bar. The scores are
 * the exact int8 scores and the order the exact scan's, so the k best
 * left in cand[0..nc) are the exact scan's k best of these rows. */
static void scan_cols(struct vpart *p)
{
	const struct pos_vindex *ix = p->ix;
	int32_t dots[BLOCK];
	uint16_t pass[BLOCK];
	size_t cap = cols_cap(ix->cap);
	size_t nc = 0, m = p->m;
	struct cand bar = {-INFINITY, 0};
	bool full = false; /* bar set: rows must beat it */
	for (size_t base = p->from; base < p->to; base += BLOCK) {
		size_t nb = p->to - base < BLOCK ? p->to - base : BLOCK;
		ix->colsfn(ix->cols, cap, base, cols_cap(nb) / POS_VCOLS_ROWS, p->cq, dots);
		const float *sc = ix->scales + base;
		size_t np = ix->kern4->pass(dots, nb, 0, sc, bar.s, pass);
		for (size_t x = 0; x < np; x++) {
			struct cand c = {(float)dots[pass[x]] * sc[pass[x]],
					 (uint32_t)(base + pass[x])};
			if (full && !cand_beats(ix, c, bar))
				continue;
			if (p->keep && !p->keep(p->ctx, ix->ids[c.row]))
				continue;
			p->cand[nc++] = c;
			if (nc == 2 * m) {
				select_exact(ix, p->cand, nc, m);
				nc = m;
				bar = p->cand[0];
				for (size_t i = 1; i < nc; i++)
					if (cand_beats(ix, bar, p->cand[i]))
						bar = p->cand[i];
				full = true;
			}
		}
	}
	if (nc > m) {
		select_exact(ix, p->cand, nc, m);
		nc = m;
	}
	p->nc = nc;
}

static void scan_part(struct vpart *p)
{
	if (p->cq) {
		scan_cols(p);
	} else if (p->codes) {
		scan_codes(p);
		scan_codes_end(p);
	} else
		scan_exact(p);
}

static void scan_part_fn(void *ctx, size_t i)
{
	scan_part((struct vpart *)ctx + i);
}

/* The query's non-zero dimension pairs (clamped as vquery_init does). */
static size_t active_pairs(const struct pos_vindex *ix, const int8_t *q)
{
	size_t n = 0;
	for (size_t p = 0; p < ix->npairs; p++) {
		size_t d = 2 * p;
		n += (d < ix->dim && q[d]) || (d + 1 < ix->dim && q[d + 1]);
	}
	return n;
}

/* The column scan reads a row's active pairs (2 bytes each, at about
 * 1.5x the work per byte of the 4-bit first stage, which reads
 * stride / 2 bytes and then re-ranks): worth it up to a quarter of the
 * pairs, and only where the index is large enough for the scan to
 * matter. */
static bool cols_worth(const struct pos_vindex *ix, const int8_t *q)
{
	return ix->count >= POS_VEC_COLS_MIN &&
	       active_pairs(ix, q) * POS_VEC_COLS_SHARE <= ix->npairs;
}

const char *pos_vindex_scan_mode(const struct pos_vindex *ix, const int8_t *q,
				 size_t k, bool exact)
{
	if (exact)
		return "exact";
	if (cols_worth(ix, q))
		return "columns";
	return ix->count > 2 * pos_vec_rerank_count(k) ? "codes" : "exact";
}

size_t pos_vec_rerank_count(size_t k)
{
	if (k > (SIZE_MAX - POS_VEC_RERANK_MIN) / POS_VEC_RERANK_PER_K)
		return SIZE_MAX / 2;
	return POS_VEC_RERANK_MIN + POS_VEC_RERANK_PER_K * k;
}

enum pos_err pos_vindex_search_ex(const struct pos_vindex *ix, const int8_t *q,
				  float qscale, size_t k, pos_vec_keep_fn keep,
				  void *ctx, const struct pos_vsearch_opts *o,
				  struct pos_vhit *out, size_t *n)
{
	*n = 0;
	if (!(qscale >= 0) || !isfinite(qscale))
		return POS_ERR_INVALID_REQUEST;
	if (qscale == 0 || k == 0 || ix->count == 0)
		return POS_OK;
	size_t m = pos_vec_rerank_count(k);
	/* a sparse query: exact scores from its pairs' columns; else two
	 * stages where the codes leave out most rows */
	struct pos_vcols_query *cq = NULL;
	if (!o->exact && cols_worth(ix, q)) {
		if (!(cq = pos_malloc(sizeof(*cq))))
			return POS_ERR_NOMEM;
	}
	bool codes = !cq && !o->exact && ix->count > 2 * m;
	if (!codes)
		m = k;
	size_t parts = 1;
	/* a column scan reads a few pairs of each row: worth a second thread
	 * (a wake-up, and on a loaded machine a wait for a core) only at
	 * POS_VEC_COLS_PARALLEL_MIN rows */
	if (o->workers && o->parts > 1 &&
	    ix->count >= (cq ? POS_VEC_COLS_PARALLEL_MIN : POS_VEC_PARALLEL_MIN))
		parts = o->parts < POS_VEC_MAX_PARTS ? o->parts : POS_VEC_MAX_PARTS;
	struct vquery vq; /* ~12 KiB: the kernels want it 64-byte aligned */
	struct vquery *v = &vq;
	/* exact: a heap of k per part; codes: a buffer of 2m candidates */
	size_t each = codes || cq ? 2 * m * sizeof(struct cand) : m * sizeof(struct pos_vhit);
	void *bufs = each > SIZE_MAX / parts ? NULL : pos_malloc(parts * each);
	if (!bufs) {
		pos_free(cq);
		return POS_ERR_NOMEM;
	}
	vquery_init(ix, q, codes, v);
	if (cq)
		pos_vcols_prepare(v->qp, ix->npairs, cq);
	struct vpart part[POS_VEC_MAX_PARTS] = {0};
	size_t per = (ix->count + parts - 1) / parts;
	per = (per + BLOCK - 1) / BLOCK * BLOCK;
	for (size_t i = 0; i < parts; i++) {
		size_t from = i * per < ix->count ? i * per : ix->count;
		size_t to = from + per < ix->count ? from + per : ix->count;
		char *buf = (char *)bufs + i * each;
		part[i] = (struct vpart){ix, v, codes, cq, keep, ctx, from, to,
					 {(struct pos_vhit *)buf, 0, m},
					 (struct cand *)buf, m, 0, -INFINITY};
	}
	if (parts > 1)
		pos_parallel_for(o->workers, parts, scan_part_fn, part);
	else
		scan_part(&part[0]);

	struct topk t = {out, 0, k};
	for (size_t i = 0; i < parts; i++) {
		if (codes) {
			rerank(ix, v, &part[i], &t);
			continue;
		}
		if (cq) {
			for (size_t j = 0; j < part[i].nc; j++) {
				struct cand c = part[i].cand[j];
				if (topk_wants(&t, c.s, ix->ids[c.row]))
					topk_push(&t, c.s, ix->ids[c.row]);
			}
			continue;
		}
		for (size_t j = 0; j < part[i].t.n; j++) {
			struct pos_vhit h = part[i].t.h[j];
			if (topk_wants(&t, h.score, h.id))
				topk_push(&t, h.score, h.id);
		}
	}
	topk_finish(&t);
	for (size_t i = 0; i < t.n; i++)
		out[i].score *= qscale;
	*n = t.n;
	pos_free(bufs);
	pos_free(cq);
	return POS_OK;
}

/* pos_vindex_search_many: chunk `c` of the queries, block by block of
 * rows (a block is read from memory once for the chunk, then from the
 * core's cache): the first stage of each query then its second, or, in
 * the exact mode, each query's int8 scan into its own heap. */
struct many {
	const struct pos_vindex *ix;
	size_t nq, k, m;
	bool codes;
	const int8_t *const *qs;
	const float *qscales;
	struct vquery *vq;  /* nq, 64-byte aligned */
	struct cand *cand;  /* 2m per query (first stage) */
	struct pos_vhit *out;
	size_t *n;
};

/* One block of int8 rows [base, base + nb) into the heap t of query v:
 * scan_exact's rule, the rows below the heap's worst skipped eight at a
 * time first. */
static void exact_block(const struct pos_vindex *ix, const struct vquery *v, size_t base,
			size_t nb, struct topk *t)
{
	int32_t dots[BLOCK];
	uint16_t pass[BLOCK];
	ix->kern->fn(ix->rows + base * ix->stride, ix->stride, nb, v->qp, v->qa, dots);
	const float *sc = ix->scales + base;
	const int64_t *ids = ix->ids + base;
	float bar = t->n < t->k ? -INFINITY : t->h[0].score;
	size_t np = ix->kern4->pass(dots, nb, v->bias, sc, bar, pass);
	for (size_t x = 0; x < np; x++) {
		size_t j = pass[x];
		float s = (float)(dots[j] - v->bias) * sc[j];
		if (topk_wants(t, s, ids[j]))
			topk_push(t, s, ids[j]);
	}
}

static void many_chunk(void *ctx, size_t c)
{
	const struct many *w = ctx;
	const struct pos_vindex *ix = w->ix;
	size_t first = c * POS_VEC_MANY_CHUNK;
	size_t last = first + POS_VEC_MANY_CHUNK < w->nq ? first + POS_VEC_MANY_CHUNK : w->nq;
	struct vpart p[POS_VEC_MANY_CHUNK];
	struct topk t[POS_VEC_MANY_CHUNK];
	for (size_t q = first; q < last; q++) {
		vquery_init(ix, w->qs[q], w->codes, &w->vq[q]);
		p[q - first] = (struct vpart){ix, &w->vq[q], true, NULL, NULL, NULL, 0, 0, {0},
					      w->codes ? w->cand + q * 2 * w->m : NULL, w->m, 0,
					      -INFINITY};
		t[q - first] = (struct topk){w->out + q * w->k, 0, w->k};
	}
	for (size_t base = 0; base < ix->count; base += BLOCK) {
		size_t to = ix->count - base < BLOCK ? ix->count : base + BLOCK;
		for (size_t q = first; q < last; q++) {
			if (w->qscales[q] == 0)
				continue;
			if (!w->codes) {
				exact_block(ix, &w->vq[q], base, to - base, &t[q - first]);
				continue;
			}
			p[q - first].from = base;
			p[q - first].to = to;
			scan_codes(&p[q - first]);
		}
	}
	for (size_t q = first; q < last; q++) {
		struct topk *tq = &t[q - first];
		if (w->qscales[q] != 0 && w->codes) {
			scan_codes_end(&p[q - first]);
			rerank(ix, &w->vq[q], &p[q - first], tq);
		}
		topk_finish(tq);
		for (size_t i = 0; i < tq->n; i++)
			tq->h[i].score *= w->qscales[q];
		w->n[q] = tq->n;
	}
}

enum pos_err pos_vindex_search_many(const struct pos_vindex *ix, size_t nq,
				    const int8_t *const *qs, const float *qscales, size_t k,
				    const struct pos_vsearch_opts *o, struct pos_vhit *out,
				    size_t *n)
{
	for (size_t q = 0; q < nq; q++) {
		n[q] = 0;
		if (!(qscales[q] >= 0) || !isfinite(qscales[q]))
			return POS_ERR_INVALID_REQUEST;
	}
	if (nq == 0 || k == 0 || ix->count == 0)
		return POS_OK;
	size_t m = pos_vec_rerank_count(k);
	/* as pos_vindex_search_ex: the first stage only where the codes
	 * leave out most rows, else every int8 row */
	bool codes = !o->exact && ix->count > 2 * m;
	if (nq > SIZE_MAX / 2 / sizeof(struct vquery) / (2 * m))
		return POS_ERR_NOMEM;
	void *vq_mem = pos_malloc(nq * sizeof(struct vquery) + 64);
	struct cand *cand = codes ? pos_malloc(nq * 2 * m * sizeof(*cand)) : NULL;
	if (!vq_mem || (codes && !cand)) {
		pos_free(vq_mem);
		pos_free(cand);
		return POS_ERR_NOMEM;
	}
	struct many w = {ix, nq, k, m, codes, qs, qscales,
			 (struct vquery *)(((uintptr_t)vq_mem + 63) & ~(uintptr_t)63), cand, out, n};
	size_t chunks = (nq + POS_VEC_MANY_CHUNK - 1) / POS_VEC_MANY_CHUNK;
	if (o->workers && o->parts > 1 && chunks > 1)
		pos_parallel_for(o->workers, chunks, many_chunk, &w);
	else
		for (size_t c = 0; c < chunks; c++)
			many_chunk(&w, c);
	pos_free(vq_mem);
	pos_free(cand);
	return POS_OK;
}

enum pos_err pos_vindex_search_f32(const struct pos_vindex *ix,
				   const float *q, size_t k,
				   pos_vec_keep_fn keep, void *ctx,
				   struct pos_vhit *out, size_t *n)
{
	int8_t qq[POS_VEC_MAX_DIM];
	float scale;
	pos_vec_quantize(q, ix->dim, qq, &scale);
	return pos_vindex_search(ix, qq, scale, k, keep, ctx, out, n);
}

/* ---- the float32 baseline -------------------------------------------------- */

/* Eight independent partial sums, so the loop vectorizes without
 * reassociating a single float sum (which -ffast-math would need). */
static float dot_f32(const float *a, const float *b, unsigned dim)
{
	float acc[16] = {0};
	unsigned i = 0;
	for (; i + 16 <= dim; i += 16)
		for (unsigned j = 0; j < 16; j++)
			acc[j] += a[i + j] * b[i + j];
	float s = 0;
	for (; i < dim; i++)
		s += a[i] * b[i];
	for (unsigned j = 0; j < 16; j++)
		s += acc[j];
	return s;
}

#ifdef POS_VEC_X86
/* The same with AVX2 and FMA, so that the baseline is a fair one. */
__attribute__((target("avx2,fma"))) static float
dot_f32_avx2(const float *a, const float *b, unsigned dim)
{
	__m256 s0 = _mm256_setzero_ps(), s1 = s0;
	unsigned i = 0;
	for (; i + 16 <= dim; i += 16) {
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i),
				     _mm256_loadu_ps(b + i), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8),
				     _mm256_loadu_ps(b + i + 8), s1);
	}
	s0 = _mm256_add_ps(s0, s1);
	__m128 h = _mm_add_ps(_mm256_castps256_ps128(s0),
			      _mm256_extractf128_ps(s0, 1));
	h = _mm_add_ps(h, _mm_movehl_ps(h, h));
	h = _mm_add_ss(h, _mm_movehdup_ps(h));
	float s = _mm_cvtss_f32(h);
	for (; i < dim; i++)
		s += a[i] * b[i];
	return s;
}
#endif

void pos_vec_search_f32(const float *rows, const int64_t *ids, size_t n,
			unsigned dim, const float *q, size_t k,
			pos_vec_keep_fn keep, void *ctx, struct pos_vhit *out,
			size_t *nout)
{
	struct topk t = {out, 0, k};
	float (*dot)(const float *, const float *, unsigned) = dot_f32;
#ifdef POS_VEC_X86
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		dot = dot_f32_avx2;
#endif
	*nout = 0;
	if (k == 0)
		return;
	for (size_t r = 0; r < n; r++) {
		float s = dot(rows + r * dim, q, dim);
		if (!topk_wants(&t, s, ids[r]))
			continue;
		if (keep && !keep(ctx, ids[r]))
			continue;
		topk_push(&t, s, ids[r]);
	}
	topk_finish(&t);
	*nout = t.n;
}
