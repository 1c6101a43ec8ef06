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
	*out = ix;
	return POS_OK;
}

void pos_vindex_free(struct pos_vindex *ix)
{
	if (!ix)
		return;
	pos_free(ix->rows_mem);
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
	int64_t *ids = pos_malloc(n * sizeof(*ids));
	float *scales = pos_malloc(n * sizeof(*scales));
	uint32_t *slots = scap != ix->slot_cap ? pos_calloc(scap, sizeof(*slots))
					       : NULL;
	if (!mem || !ids || !scales || (scap != ix->slot_cap && !slots)) {
		pos_free(mem);
		pos_free(ids);
		pos_free(scales);
		pos_free(slots);
		return POS_ERR_NOMEM;
	}
	int8_t *rows = (int8_t *)(((uintptr_t)mem + POS_VEC_ALIGN - 1) &
				  ~(uintptr_t)(POS_VEC_ALIGN - 1));
	if (ix->count) {
		memcpy(rows, ix->rows, ix->count * ix->stride);
		memcpy(ids, ix->ids, ix->count * sizeof(*ids));
		memcpy(scales, ix->scales, ix->count * sizeof(*scales));
	}
	pos_free(ix->rows_mem);
	pos_free(ix->ids);
	pos_free(ix->scales);
	ix->rows_mem = mem;
	ix->rows = rows;
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
		ix->ids[r] = ix->ids[last];
		ix->scales[r] = ix->scales[last];
		ix->slots[slot_find(ix, ix->ids[r])] = (uint32_t)r + 1;
	}
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
