/* Unit tests for src/search/vector: int8 quantization, blobs, and the exact
 * vector index (put, replace, remove, search, filter) on every scan kernel
 * this CPU has, checked against plain float and int8 scans. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "base/alloc.h"
#include "base/thread.h"
#include "search/kmeans.h"
#include "search/vector.h"

static const char *const kernels[] = {"avx512vnni", "avx2", "generic"};
#define NKERNELS (sizeof(kernels) / sizeof(*kernels))

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

/* a random unit vector (sum of uniforms, roughly Gaussian) */
static void random_unit(uint64_t *s, float *v, unsigned dim)
{
	double ss = 0;
	for (unsigned i = 0; i < dim; i++) {
		double x = 0;
		for (int j = 0; j < 4; j++)
			x += (double)(rng_next(s) >> 11) / 9007199254740992.0 - 0.5;
		v[i] = (float)x;
		ss += x * x;
	}
	for (unsigned i = 0; i < dim; i++)
		v[i] = (float)(v[i] / sqrt(ss));
}

/* ---- quantization and blobs --------------------------------------------- */

static void quantize_round_trip(void **state)
{
	uint64_t s = 1;
	float v[300], back[300];
	int8_t q[300];
	float scale;
	random_unit(&s, v, 300);
	pos_vec_quantize(v, 300, q, &scale);
	float mx = 0;
	for (int i = 0; i < 300; i++)
		mx = fmaxf(mx, fabsf(v[i]));
	assert_float_equal(scale, mx / 127, 1e-9);
	pos_vec_dequantize(q, 300, scale, back);
	bool has127 = false;
	for (int i = 0; i < 300; i++) {
		assert_true(q[i] >= -127 && q[i] <= 127);
		assert_true(fabsf(back[i] - v[i]) <= scale * 0.5f + 1e-7f);
		has127 = has127 || q[i] == 127 || q[i] == -127;
	}
	assert_true(has127);
	/* ties round away from zero */
	float t[4] = {1.0f, 0.5f / 127, -0.5f / 127, -1.0f};
	int8_t tq[4];
	pos_vec_quantize(t, 4, tq, &scale);
	assert_int_equal(tq[0], 127);
	assert_int_equal(tq[1], 1);
	assert_int_equal(tq[2], -1);
	assert_int_equal(tq[3], -127);
	/* zero and non-finite vectors give zeros and scale 0 */
	float z[8] = {0};
	int8_t zq[8];
	memset(zq, 5, sizeof(zq));
	pos_vec_quantize(z, 8, zq, &scale);
	assert_true(scale == 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(zq[i], 0);
	z[3] = INFINITY;
	pos_vec_quantize(z, 8, zq, &scale);
	assert_true(scale == 0);
}

static void blobs(void **state)
{
	assert_int_equal(pos_vec_stride(1), 64);
	assert_int_equal(pos_vec_stride(64), 64);
	assert_int_equal(pos_vec_stride(256), 256);
	assert_int_equal(pos_vec_stride(300), 320);
	assert_int_equal(pos_vec_blob_size(256), 256);
	int8_t q[5] = {1, -2, 127, -127, 0}, back[5];
	unsigned char blob[5];
	pos_vec_pack(q, 5, blob);
	assert_int_equal(pos_vec_unpack(blob, 5, 5, back), POS_OK);
	assert_memory_equal(q, back, 5);
	assert_int_equal(pos_vec_unpack(blob, 4, 5, back), POS_ERR_CORRUPT);
	assert_int_equal(pos_vec_unpack(blob, 5, 0, back), POS_ERR_CORRUPT);
	assert_int_equal(pos_vec_unpack(NULL, 5, 5, back), POS_ERR_CORRUPT);
	blob[0] = 0x80; /* -128 is read as -127 */
	assert_int_equal(pos_vec_unpack(blob, 5, 5, back), POS_OK);
	assert_int_equal(back[0], -127);
}

/* ---- index maintenance --------------------------------------------------- */

static void put_replace_remove(void **state)
{
	struct pos_vindex *ix = (void *)1;
	assert_int_equal(pos_vindex_new(0, &ix), POS_ERR_INVALID_REQUEST);
	assert_null(ix);
	assert_int_equal(pos_vindex_new(POS_VEC_MAX_DIM + 1, &ix),
			 POS_ERR_INVALID_REQUEST);
	assert_int_equal(pos_vindex_new(100, &ix), POS_OK);
	assert_int_equal(pos_vindex_dim(ix), 100);
	assert_int_equal(pos_vindex_count(ix), 0);
	assert_false(pos_vindex_contains(ix, 1));
	assert_int_equal(pos_vindex_remove(ix, 1), POS_ERR_NOT_FOUND);

	int8_t a[100], b[100], got[100];
	float sc;
	memset(a, 3, sizeof(a));
	memset(b, -7, sizeof(b));
	assert_int_equal(pos_vindex_put(ix, 42, a, 0.5f), POS_OK);
	assert_int_equal(pos_vindex_put(ix, -9, b, 0.25f), POS_OK);
	assert_int_equal(pos_vindex_count(ix), 2);
	assert_int_equal(pos_vindex_get(ix, 42, got, &sc), POS_OK);
	assert_memory_equal(got, a, sizeof(a));
	assert_true(sc == 0.5f);
	/* replace keeps the count */
	assert_int_equal(pos_vindex_put(ix, 42, b, 0.75f), POS_OK);
	assert_int_equal(pos_vindex_count(ix), 2);
	assert_int_equal(pos_vindex_get(ix, 42, got, &sc), POS_OK);
	assert_memory_equal(got, b, sizeof(b));
	assert_true(sc == 0.75f);
	assert_int_equal(pos_vindex_put(ix, 1, a, -1), POS_ERR_INVALID_REQUEST);
	assert_int_equal(pos_vindex_put(ix, 1, a, NAN), POS_ERR_INVALID_REQUEST);
	/* blobs */
	unsigned char blob[100];
	pos_vec_pack(a, 100, blob);
	assert_int_equal(pos_vindex_put_blob(ix, 7, blob, 99, 1), POS_ERR_CORRUPT);
	assert_int_equal(pos_vindex_put_blob(ix, 7, blob, 100, INFINITY),
			 POS_ERR_CORRUPT);
	assert_int_equal(pos_vindex_put_blob(ix, 7, blob, 100, 1), POS_OK);
	assert_int_equal(pos_vindex_count(ix), 3);
	/* remove */
	assert_int_equal(pos_vindex_remove(ix, 42), POS_OK);
	assert_int_equal(pos_vindex_remove(ix, 42), POS_ERR_NOT_FOUND);
	assert_false(pos_vindex_contains(ix, 42));
	assert_true(pos_vindex_contains(ix, -9));
	assert_true(pos_vindex_contains(ix, 7));
	assert_int_equal(pos_vindex_get(ix, 42, got, &sc), POS_ERR_NOT_FOUND);
	assert_int_equal(pos_vindex_get(ix, 7, got, &sc), POS_OK);
	assert_memory_equal(got, a, sizeof(a));
	assert_int_equal(pos_vindex_count(ix), 2);
	assert_true(pos_vindex_memory(ix) >= 2 * pos_vec_stride(100));
	pos_vindex_free(ix);
	pos_vindex_free(NULL);
}

static void oom_leaves_index_unchanged(void **state)
{
	struct pos_vindex *ix;
	assert_int_equal(pos_vindex_new(32, &ix), POS_OK);
	int8_t q[32] = {1};
	pos_alloc_fail_after(1);
	assert_int_equal(pos_vindex_put(ix, 1, q, 1), POS_ERR_NOMEM);
	pos_alloc_fail_after(0);
	assert_int_equal(pos_vindex_count(ix), 0);
	for (int64_t id = 0; id < 64; id++) /* fill the first block */
		assert_int_equal(pos_vindex_put(ix, id, q, 1), POS_OK);
	pos_alloc_fail_after(2);
	assert_int_equal(pos_vindex_put(ix, 64, q, 1), POS_ERR_NOMEM);
	pos_alloc_fail_after(0);
	assert_int_equal(pos_vindex_count(ix), 64);
	for (int64_t id = 0; id < 64; id++)
		assert_true(pos_vindex_contains(ix, id));
	assert_false(pos_vindex_contains(ix, 64));
	pos_vindex_free(ix);
}

/* Many random puts and removes against a shadow array: the id map, the
 * swap-with-last moves and the rows must stay consistent. */
static void churn_keeps_map_consistent(void **state)
{
	enum { DIM = 48, IDS = 3000 };
	struct pos_vindex *ix;
	assert_int_equal(pos_vindex_new(DIM, &ix), POS_OK);
	static int8_t shadow[IDS][DIM];
	static bool live[IDS];
	uint64_t s = 99;
	size_t nlive = 0;
	for (int step = 0; step < 40000; step++) {
		int id = (int)(rng_next(&s) % IDS);
		if (rng_next(&s) % 3 == 0) {
			enum pos_err rc = pos_vindex_remove(ix, id * 1000003LL);
			assert_int_equal(rc, live[id] ? POS_OK : POS_ERR_NOT_FOUND);
			nlive -= live[id];
			live[id] = false;
		} else {
			for (int d = 0; d < DIM; d++)
				shadow[id][d] = (int8_t)(rng_next(&s) % 255 - 127);
			assert_int_equal(pos_vindex_put(ix, id * 1000003LL,
							shadow[id], 1), POS_OK);
			nlive += !live[id];
			live[id] = true;
		}
	}
	assert_int_equal(pos_vindex_count(ix), nlive);
	for (int id = 0; id < IDS; id++) {
		int8_t got[DIM];
		float sc;
		enum pos_err rc = pos_vindex_get(ix, id * 1000003LL, got, &sc);
		assert_int_equal(rc, live[id] ? POS_OK : POS_ERR_NOT_FOUND);
		if (live[id])
			assert_memory_equal(got, shadow[id], DIM);
	}
	pos_vindex_free(ix);
}

/* ---- search ---------------------------------------------------------------- */

struct data {
	unsigned dim;
	size_t n;
	float *f;     /* n x dim unit vectors */
	int8_t *q;    /* quantized */
	float *scale;
	int64_t *ids;
};

static void make_data(struct data *d, unsigned dim, size_t n, uint64_t seed)
{
	d->dim = dim;
	d->n = n;
	d->f = pos_malloc(n * dim * sizeof(float));
	d->q = pos_malloc(n * dim);
	d->scale = pos_malloc(n * sizeof(float));
	d->ids = pos_malloc(n * sizeof(int64_t));
	assert_non_null(d->f);
	for (size_t i = 0; i < n; i++) {
		random_unit(&seed, d->f + i * dim, dim);
		pos_vec_quantize(d->f + i * dim, dim, d->q + i * dim,
				 &d->scale[i]);
		d->ids[i] = (int64_t)(i * 7 + 3);
	}
}

static void free_data(struct data *d)
{
	pos_free(d->f);
	pos_free(d->q);
	pos_free(d->scale);
	pos_free(d->ids);
}

static struct pos_vindex *index_of(const struct data *d)
{
	struct pos_vindex *ix;
	assert_int_equal(pos_vindex_new(d->dim, &ix), POS_OK);
	assert_int_equal(pos_vindex_reserve(ix, d->n), POS_OK);
	for (size_t i = 0; i < d->n; i++)
		assert_int_equal(pos_vindex_put(ix, d->ids[i], d->q + i * d->dim,
						d->scale[i]), POS_OK);
	return ix;
}

/* the exact int8 answer over the rows `keep` keeps (NULL: all), by brute
 * force: what every kernel must return */
static size_t int8_reference_keep(const struct data *d, const int8_t *q,
				  float qs, size_t k, pos_vec_keep_fn keep,
				  struct pos_vhit *out)
{
	size_t n = 0;
	for (size_t i = 0; i < d->n; i++) {
		if (keep && !keep(NULL, d->ids[i]))
			continue;
		int32_t dot = 0;
		for (unsigned j = 0; j < d->dim; j++)
			dot += q[j] * d->q[i * d->dim + j];
		float s = (float)dot * d->scale[i];
		/* insertion into out[0..n), best first, ties by id */
		size_t at = n < k ? n : k;
		while (at > 0 && (out[at - 1].score < s ||
				  (out[at - 1].score == s &&
				   out[at - 1].id > d->ids[i])))
			at--;
		if (at >= k)
			continue;
		size_t last = n < k ? n : k - 1;
		memmove(out + at + 1, out + at, (last - at) * sizeof(*out));
		out[at] = (struct pos_vhit){d->ids[i], s};
		if (n < k)
			n++;
	}
	for (size_t i = 0; i < n; i++)
		out[i].score *= qs;
	return n;
}

static size_t int8_reference(const struct data *d, const int8_t *q, float qs,
			     size_t k, struct pos_vhit *out)
{
	return int8_reference_keep(d, q, qs, k, NULL, out);
}

static void search_matches_references(void **state)
{
	static const unsigned dims[] = {256, 100, 64, 1};
	for (size_t di = 0; di < sizeof(dims) / sizeof(*dims); di++) {
		struct data d;
		make_data(&d, dims[di], 1500, 5 + di);
		struct pos_vindex *ix = index_of(&d);
		for (size_t kk = 0; kk < NKERNELS; kk++) {
			enum pos_err rc = pos_vindex_set_kernel(ix, kernels[kk]);
			if (rc == POS_ERR_UNAVAILABLE)
				continue;
			assert_int_equal(rc, POS_OK);
			assert_string_equal(pos_vindex_kernel(ix), kernels[kk]);
			uint64_t s = 77;
			size_t overlap = 0, total = 0;
			for (int qi = 0; qi < 20; qi++) {
				float qf[256];
				int8_t qq[256];
				float qs;
				random_unit(&s, qf, d.dim);
				pos_vec_quantize(qf, d.dim, qq, &qs);
				struct pos_vhit got[10], want[10], exact[10];
				size_t ng, nw, ne;
				assert_int_equal(pos_vindex_search(ix, qq, qs, 10, NULL,
								   NULL, got, &ng),
						 POS_OK);
				/* identical to the int8 brute force */
				nw = int8_reference(&d, qq, qs, 10, want);
				assert_int_equal(ng, nw);
				for (size_t i = 0; i < ng; i++) {
					assert_int_equal(got[i].id, want[i].id);
					assert_float_equal(got[i].score,
							   want[i].score, 1e-6);
				}
				/* close to the float answer */
				pos_vec_search_f32(d.f, d.ids, d.n, d.dim, qf, 10,
						   NULL, NULL, exact, &ne);
				assert_int_equal(ne, 10);
				for (size_t i = 0; i < ne; i++) {
					total++;
					for (size_t j = 0; j < ng; j++)
						if (got[j].id == exact[i].id) {
							overlap++;
							assert_float_equal(got[j].score,
									   exact[i].score, 0.02);
							break;
						}
				}
			}
			if (d.dim > 1) /* dim 1: everything ties */
				assert_true(overlap * 10 >= total * 9);
		}
		pos_vindex_free(ix);
		free_data(&d);
	}
}

static void top_k_order_and_ties(void **state)
{
	struct pos_vindex *ix;
	assert_int_equal(pos_vindex_new(16, &ix), POS_OK);
	int8_t v[16];
	for (int64_t id = 20; id >= 1; id--) {
		/* ids 1..20; score grows with id / 4, so ties in fours */
		memset(v, (int8_t)((id + 3) / 4), sizeof(v));
		assert_int_equal(pos_vindex_put(ix, id, v, 1), POS_OK);
	}
	int8_t q[16];
	memset(q, 1, sizeof(q));
	for (size_t kk = 0; kk < NKERNELS; kk++) {
		if (pos_vindex_set_kernel(ix, kernels[kk]) != POS_OK)
			continue;
		struct pos_vhit h[30];
		size_t n;
		assert_int_equal(pos_vindex_search(ix, q, 1, 6, NULL, NULL, h, &n),
				 POS_OK);
		assert_int_equal(n, 6);
		/* 17..20 score 80, then 13..16 score 64: ties by id ascending */
		static const int64_t want[6] = {17, 18, 19, 20, 13, 14};
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(h[i].id, want[i]);
			if (i)
				assert_true(h[i - 1].score >= h[i].score);
		}
		assert_float_equal(h[0].score, 16 * 5, 1e-4);
		/* k larger than the index */
		assert_int_equal(pos_vindex_search(ix, q, 1, 30, NULL, NULL, h, &n),
				 POS_OK);
		assert_int_equal(n, 20);
		assert_int_equal(h[19].id, 4);
		/* k = 0, zero query, bad scale */
		assert_int_equal(pos_vindex_search(ix, q, 1, 0, NULL, NULL, h, &n),
				 POS_OK);
		assert_int_equal(n, 0);
		assert_int_equal(pos_vindex_search(ix, q, 0, 5, NULL, NULL, h, &n),
				 POS_OK);
		assert_int_equal(n, 0);
		assert_int_equal(pos_vindex_search(ix, q, -1, 5, NULL, NULL, h, &n),
				 POS_ERR_INVALID_REQUEST);
	}
	assert_int_equal(pos_vindex_set_kernel(ix, "sse9"), POS_ERR_INVALID_REQUEST);
	pos_vindex_free(ix);
}

struct filter {
	int calls;
};

static bool keep_odd_thousands(void *ctx, int64_t id)
{
	struct filter *f = ctx;
	f->calls++;
	return (id / 1000) % 2 == 1;
}

static void filter_callback(void **state)
{
	struct data d;
	make_data(&d, 64, 5000, 11);
	for (size_t i = 0; i < d.n; i++)
		d.ids[i] = (int64_t)i * 10; /* 100 ids per thousand */
	struct pos_vindex *ix = index_of(&d);
	uint64_t s = 3;
	float qf[64];
	random_unit(&s, qf, 64);
	struct filter f = {0};
	struct pos_vhit h[10], all[10];
	size_t n, na;
	assert_int_equal(pos_vindex_search_f32(ix, qf, 10, keep_odd_thousands, &f,
					       h, &n), POS_OK);
	assert_int_equal(n, 10);
	for (size_t i = 0; i < n; i++)
		assert_int_equal((h[i].id / 1000) % 2, 1);
	/* called for candidates only, far fewer than the rows */
	assert_true(f.calls >= 10);
	assert_true(f.calls < 500);
	/* the same as searching only the kept rows, then filtering */
	int64_t *ids = pos_malloc(d.n * sizeof(int64_t));
	float *rows = pos_malloc(d.n * 64 * sizeof(float));
	size_t nk = 0;
	for (size_t i = 0; i < d.n; i++)
		if ((d.ids[i] / 1000) % 2 == 1) {
			ids[nk] = d.ids[i];
			memcpy(rows + nk * 64, d.f + i * 64, 64 * sizeof(float));
			nk++;
		}
	pos_vec_search_f32(rows, ids, nk, 64, qf, 10, NULL, NULL, all, &na);
	size_t overlap = 0;
	for (size_t i = 0; i < na; i++)
		for (size_t j = 0; j < n; j++)
			overlap += all[i].id == h[j].id;
	assert_true(overlap >= 9);
	/* the float baseline takes the filter too */
	f.calls = 0;
	pos_vec_search_f32(d.f, d.ids, d.n, 64, qf, 10, keep_odd_thousands, &f,
			   all, &na);
	assert_int_equal(na, 10);
	for (size_t i = 0; i < na; i++)
		assert_int_equal((all[i].id / 1000) % 2, 1);
	pos_free(ids);
	pos_free(rows);
	pos_vindex_free(ix);
	free_data(&d);
}

static bool keep_none(void *ctx, int64_t id)
{
	(void)ctx;
	(void)id;
	return false;
}

static void removed_rows_are_not_found(void **state)
{
	struct data d;
	make_data(&d, 256, 2000, 21);
	struct pos_vindex *ix = index_of(&d);
	/* every row finds itself first */
	for (size_t i = 0; i < d.n; i += 97) {
		struct pos_vhit h[1];
		size_t n;
		assert_int_equal(pos_vindex_search(ix, d.q + i * 256, d.scale[i], 1,
						   NULL, NULL, h, &n), POS_OK);
		assert_int_equal(n, 1);
		assert_int_equal(h[0].id, d.ids[i]);
		assert_float_equal(h[0].score, 1.0f, 0.02);
	}
	/* remove every other row: none of them is ever returned again, and the
	 * moved rows still find themselves */
	for (size_t i = 0; i < d.n; i += 2)
		assert_int_equal(pos_vindex_remove(ix, d.ids[i]), POS_OK);
	assert_int_equal(pos_vindex_count(ix), d.n / 2);
	for (size_t i = 0; i < d.n; i += 13) {
		struct pos_vhit h[5];
		size_t n;
		assert_int_equal(pos_vindex_search(ix, d.q + i * 256, d.scale[i], 5,
						   NULL, NULL, h, &n), POS_OK);
		assert_int_equal(n, 5);
		for (size_t j = 0; j < n; j++)
			assert_true(((h[j].id - 3) / 7) % 2 == 1);
		if (i % 2 == 1)
			assert_int_equal(h[0].id, d.ids[i]);
	}
	struct pos_vhit h[5];
	size_t n;
	assert_int_equal(pos_vindex_search(ix, d.q, d.scale[0], 5, keep_none, NULL,
					   h, &n), POS_OK);
	assert_int_equal(n, 0);
	pos_vindex_free(ix);
	free_data(&d);
}

/* ---- the two-stage scan and the exact mode ------------------------------ */

/* a filter that only reads, as one called from several threads must */
static bool keep_third(void *ctx, int64_t id)
{
	(void)ctx;
	return id % 3 == 0;
}

/*
 * Property: the exact mode returns exactly the exhaustive int8 top-k (ids,
 * order, scores), on every kernel, on one thread and split across a pool,
 * with and without a filter, below and above the size that goes parallel.
 */
static void exact_mode_is_exhaustive(void **state)
{
	(void)state;
	struct pos_workers *w;
	assert_int_equal(pos_workers_new(1, &w), POS_OK);
	static const size_t sizes[] = {700, POS_VEC_PARALLEL_MIN + 300};
	static const size_t ks[] = {1, 10, 50};
	for (size_t si = 0; si < sizeof(sizes) / sizeof(*sizes); si++) {
		struct data d;
		make_data(&d, 64, sizes[si], 40 + si);
		struct pos_vindex *ix = index_of(&d);
		uint64_t s = 5;
		for (int qi = 0; qi < 3; qi++) {
			float qf[64];
			int8_t qq[64];
			float qs;
			random_unit(&s, qf, 64);
			pos_vec_quantize(qf, 64, qq, &qs);
			for (size_t ki = 0; ki < sizeof(ks) / sizeof(*ks); ki++)
			for (int filtered = 0; filtered < 2; filtered++) {
				size_t k = ks[ki];
				pos_vec_keep_fn keep = filtered ? keep_third : NULL;
				struct pos_vhit want[50], got[50];
				size_t nw = int8_reference_keep(&d, qq, qs, k, keep, want);
				assert_int_equal(nw, k);
				for (size_t kk = 0; kk < NKERNELS; kk++) {
					if (pos_vindex_set_kernel(ix, kernels[kk]) != POS_OK)
						continue;
					for (int pool = 0; pool < 2; pool++) {
						struct pos_vsearch_opts o = {
							true, pool ? w : NULL, pool ? 2 : 1};
						size_t ng;
						assert_int_equal(pos_vindex_search_ex(
							ix, qq, qs, k, keep, NULL, &o, got, &ng),
							POS_OK);
						assert_int_equal(ng, nw);
						for (size_t i = 0; i < ng; i++) {
							assert_int_equal(got[i].id, want[i].id);
							assert_float_equal(got[i].score,
									   want[i].score, 1e-6);
						}
					}
				}
			}
		}
		pos_vindex_free(ix);
		free_data(&d);
	}
	pos_workers_free(w);
}

/* The fast path: recall@k against the exhaustive top-k of at least 0.99,
 * for k = 10 and for the 200 a hybrid search asks for (re-ranking
 * pos_vec_rerank_count(k) rows), on one thread and on two, and every
 * score it returns is the exact int8 score of that row (the second stage
 * re-ranks with the int8 rows). */
static void two_stage_recall(void **state)
{
	(void)state;
	struct pos_workers *w;
	assert_int_equal(pos_workers_new(1, &w), POS_OK);
	struct data d;
	make_data(&d, 256, 4000, 21);
	struct pos_vindex *ix = index_of(&d);
	static const size_t ks[] = {10, 200};
	assert_true(d.n > 2 * pos_vec_rerank_count(200)); /* two stages run */
	for (size_t kk = 0; kk < NKERNELS * 2; kk++) {
		size_t k = ks[kk % 2];
		if (pos_vindex_set_kernel(ix, kernels[kk / 2]) != POS_OK)
			continue;
		uint64_t s = 99;
		size_t hit = 0, total = 0;
		for (int qi = 0; qi < 20; qi++) {
			float qf[256];
			int8_t qq[256];
			float qs;
			random_unit(&s, qf, 256);
			pos_vec_quantize(qf, 256, qq, &qs);
			struct pos_vhit want[200], got[200];
			size_t nw = int8_reference(&d, qq, qs, k, want);
			struct pos_vsearch_opts o = {false, qi % 2 ? w : NULL, 2};
			size_t ng;
			assert_int_equal(pos_vindex_search_ex(ix, qq, qs, k, NULL,
							      NULL, &o, got, &ng),
					 POS_OK);
			assert_int_equal(ng, nw);
			for (size_t i = 0; i < ng; i++) {
				size_t r = (size_t)(got[i].id - 3) / 7;
				int32_t dot = 0;
				for (unsigned j = 0; j < 256; j++)
					dot += qq[j] * d.q[r * 256 + j];
				assert_float_equal(got[i].score,
						   (float)dot * d.scale[r] * qs, 1e-6);
				if (i)
					assert_true(got[i].score <= got[i - 1].score);
				for (size_t j = 0; j < nw; j++)
					hit += got[i].id == want[j].id;
			}
			total += nw;
		}
		assert_true((double)hit >= 0.99 * (double)total);
	}
	pos_vindex_free(ix);
	free_data(&d);
	pos_workers_free(w);
}

static bool keep_even(void *ctx, int64_t id)
{
	(void)ctx;
	return (id / 7) % 2 == 0;
}

/* A sparse query (the built-in embedder's short queries) is scored from
 * its non-zero pairs' columns: exactly the exact scan's hits, scores and
 * order, on every kernel, with a filter, after rows were replaced and
 * removed (a removal moves the last row's columns), at an odd dimension;
 * a dense query keeps the two-stage scan. */
static void column_scan_is_exact(void **state)
{
	(void)state;
	static const unsigned dims[] = {256, 100};
	for (size_t di = 0; di < 2; di++) {
		unsigned dim = dims[di];
		struct data d;
		make_data(&d, dim, 3000, 41 + di);
		struct pos_vindex *ix = index_of(&d);
		/* churn: replace every 5th row, remove every 11th */
		uint64_t s = 5;
		for (size_t i = 0; i < d.n; i += 5) {
			random_unit(&s, d.f + i * dim, dim);
			pos_vec_quantize(d.f + i * dim, dim, d.q + i * dim, &d.scale[i]);
			assert_int_equal(pos_vindex_put(ix, d.ids[i], d.q + i * dim, d.scale[i]),
					 POS_OK);
		}
		size_t kept = 0;
		for (size_t i = 0; i < d.n; i++) {
			if (i % 11 == 3) {
				assert_int_equal(pos_vindex_remove(ix, d.ids[i]), POS_OK);
				continue;
			}
			memmove(d.q + kept * dim, d.q + i * dim, dim);
			d.scale[kept] = d.scale[i];
			d.ids[kept++] = d.ids[i];
		}
		d.n = kept;
		assert_true(d.n >= POS_VEC_COLS_MIN);
		for (size_t kk = 0; kk < NKERNELS; kk++) {
			if (pos_vindex_set_kernel(ix, kernels[kk]) != POS_OK)
				continue;
			for (int qi = 0; qi < 24; qi++) {
				int8_t qq[256] = {0};
				/* 1..dim/9 non-zero values anywhere, some at full scale */
				size_t nz = 1 + rng_next(&s) % (dim / 9);
				for (size_t z = 0; z < nz; z++) {
					int v = (int)(rng_next(&s) % 255) - 127;
					qq[rng_next(&s) % dim] = (int8_t)(z % 3 ? v : (v < 0 ? -127 : 127));
				}
				float qs = 0.004f;
				size_t k = qi % 2 ? 10 : 200;
				assert_string_equal(pos_vindex_scan_mode(ix, qq, k, false), "columns");
				assert_string_equal(pos_vindex_scan_mode(ix, qq, k, true), "exact");
				pos_vec_keep_fn keep = qi % 3 == 2 ? keep_even : NULL;
				struct pos_vhit want[200], got[200];
				size_t nw = int8_reference_keep(&d, qq, qs, k, keep, want), ng;
				struct pos_vsearch_opts o = {false, NULL, 1};
				assert_int_equal(pos_vindex_search_ex(ix, qq, qs, k, keep, NULL, &o,
								      got, &ng),
						 POS_OK);
				assert_int_equal(ng, nw);
				for (size_t i = 0; i < ng; i++) {
					assert_int_equal(got[i].id, want[i].id);
					assert_true(got[i].score == want[i].score);
				}
			}
			/* a dense query: two stages */
			float qf[256];
			int8_t qq[256];
			float qs;
			random_unit(&s, qf, dim);
			pos_vec_quantize(qf, dim, qq, &qs);
			assert_string_equal(pos_vindex_scan_mode(ix, qq, 10, false), "codes");
		}
		pos_vindex_free(ix);
		free_data(&d);
	}
}

/* Many queries at once give each query exactly what the single search
 * with one part gives it (auto-linking a batch), with and without the
 * pool, on every kernel; a query without content finds nothing; a small
 * index (no first stage) too; a bad scale is refused. */
static void search_many_matches_single(void **state)
{
	(void)state;
	struct pos_workers *w;
	assert_int_equal(pos_workers_new(1, &w), POS_OK);
	struct data d;
	make_data(&d, 256, 3000, 33);
	struct pos_vindex *ix = index_of(&d);
	struct data small;
	make_data(&small, 256, 100, 34);
	struct pos_vindex *six = index_of(&small);
	enum { NQ = 37, K = 6 };
	int8_t qq[NQ][256];
	float qs[NQ];
	const int8_t *qp[NQ];
	uint64_t s = 7;
	for (int i = 0; i < NQ; i++) {
		float qf[256];
		random_unit(&s, qf, 256);
		pos_vec_quantize(qf, 256, qq[i], &qs[i]);
		qp[i] = qq[i];
	}
	qs[5] = 0; /* no content */
	for (size_t kk = 0; kk < NKERNELS * 4; kk++) {
		struct pos_vindex *x = kk % 2 ? six : ix;
		if (pos_vindex_set_kernel(x, kernels[kk / 4]) != POS_OK)
			continue;
		struct pos_vsearch_opts one = {false, NULL, 1};
		struct pos_vsearch_opts o = {false, (kk / 2) % 2 ? w : NULL, 2};
		struct pos_vhit got[NQ * K], want[K];
		size_t ng[NQ], nw;
		assert_int_equal(pos_vindex_search_many(x, NQ, qp, qs, K, &o, got, ng), POS_OK);
		for (int i = 0; i < NQ; i++) {
			assert_int_equal(pos_vindex_search_ex(x, qq[i], qs[i], K, NULL, NULL, &one,
							      want, &nw), POS_OK);
			assert_int_equal(ng[i], nw);
			assert_int_equal(ng[i], i == 5 ? 0 : K);
			for (size_t j = 0; j < nw; j++) {
				assert_int_equal(got[i * K + j].id, want[j].id);
				assert_float_equal(got[i * K + j].score, want[j].score, 0);
			}
		}
		/* the exact mode: what the plain (exact) search gives */
		struct pos_vsearch_opts ex = {true, (kk / 2) % 2 ? w : NULL, 2};
		assert_int_equal(pos_vindex_search_many(x, NQ, qp, qs, K, &ex, got, ng), POS_OK);
		for (int i = 0; i < NQ; i++) {
			assert_int_equal(pos_vindex_search(x, qq[i], qs[i], K, NULL, NULL, want, &nw),
					 POS_OK);
			assert_int_equal(ng[i], nw);
			for (size_t j = 0; j < nw; j++) {
				assert_int_equal(got[i * K + j].id, want[j].id);
				assert_true(got[i * K + j].score == want[j].score);
			}
		}
	}
	struct pos_vsearch_opts one = {false, NULL, 1};
	struct pos_vhit h[K];
	size_t n1 = 9;
	float bad = -1;
	assert_int_equal(pos_vindex_search_many(ix, 1, qp, &bad, K, &one, h, &n1),
			 POS_ERR_INVALID_REQUEST);
	assert_int_equal(pos_vindex_search_many(ix, 0, qp, qs, K, &one, h, &n1), POS_OK);
	pos_vindex_free(ix);
	pos_vindex_free(six);
	free_data(&d);
	free_data(&small);
	pos_workers_free(w);
}

/* The first stage is real and the exact mode bypasses it: rows whose 4-bit
 * codes tie with a better row, placed before it, fill the candidate set,
 * so the fast path misses the best row and the exact mode finds it. */
static void exact_mode_skips_the_codes(void **state)
{
	(void)state;
	struct pos_vindex *ix;
	assert_int_equal(pos_vindex_new(64, &ix), POS_OK);
	int8_t row[64] = {0};
	row[0] = 127;
	row[1] = 4; /* code round(4 * 7 / 127) = 0 */
	for (int64_t id = 1; id <= 1000; id++)
		assert_int_equal(pos_vindex_put(ix, id, row, 1), POS_OK);
	row[1] = 9; /* code 0 too, but a higher int8 score */
	assert_int_equal(pos_vindex_put(ix, 5000, row, 1), POS_OK);
	int8_t q[64] = {0};
	q[1] = 127;
	struct pos_vhit h[1];
	size_t n;
	struct pos_vsearch_opts fast = {false, NULL, 1}, exact = {true, NULL, 1};
	assert_int_equal(pos_vindex_search_ex(ix, q, 1, 1, NULL, NULL, &fast, h, &n),
			 POS_OK);
	assert_int_equal(n, 1);
	assert_true(h[0].id <= 1000);
	assert_float_equal(h[0].score, 4 * 127, 1e-3);
	assert_int_equal(pos_vindex_search_ex(ix, q, 1, 1, NULL, NULL, &exact, h, &n),
			 POS_OK);
	assert_int_equal(n, 1);
	assert_int_equal(h[0].id, 5000);
	assert_float_equal(h[0].score, 9 * 127, 1e-3);
	/* the plain search is the exact one */
	assert_int_equal(pos_vindex_search(ix, q, 1, 1, NULL, NULL, h, &n), POS_OK);
	assert_int_equal(h[0].id, 5000);
	/* and so is many queries' exact mode, ties after it by id; the
	 * fast mode of many queries misses it as the single one does */
	const int8_t *qs[2] = {q, q};
	float sc[2] = {1, 1};
	struct pos_vhit hm[6];
	size_t nm[2];
	assert_int_equal(pos_vindex_search_many(ix, 2, qs, sc, 3, &exact, hm, nm), POS_OK);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(nm[i], 3);
		assert_int_equal(hm[i * 3].id, 5000);
		assert_int_equal(hm[i * 3 + 1].id, 1);
		assert_int_equal(hm[i * 3 + 2].id, 2);
	}
	assert_int_equal(pos_vindex_search_many(ix, 1, qs, sc, 1, &fast, hm, nm), POS_OK);
	assert_true(hm[0].id <= 1000);
	pos_vindex_free(ix);
}

/* pos_vindex_row walks every row once, with its id and values. */
static void rows_by_number(void **state)
{
	(void)state;
	struct pos_vindex *ix = NULL;
	assert_int_equal(pos_vindex_new(8, &ix), POS_OK);
	int8_t q[8], got[8];
	for (int id = 1; id <= 5; id++) {
		memset(q, id, sizeof(q));
		assert_int_equal(pos_vindex_put(ix, id * 10, q, 0.5f), POS_OK);
	}
	int64_t seen = 0, id;
	float scale;
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(pos_vindex_row(ix, i, &id, got, &scale), POS_OK);
		assert_int_equal(got[0], id / 10);
		assert_true(scale == 0.5f);
		seen += id;
	}
	assert_int_equal(seen, 150);
	assert_int_equal(pos_vindex_row(ix, 5, &id, got, &scale), POS_ERR_NOT_FOUND);
	pos_vindex_free(ix);
}

/* Points around three directions: k-means finds the three groups, names
 * them by size, and the same input gives the same answer. */
static void kmeans_finds_groups(void **state)
{
	(void)state;
	enum { DIM = 16, N = 60 };
	static float v[N * DIM];
	unsigned assign[N], again[N], k = 0, k2 = 0;
	float cent[8 * DIM], sil, sil2;
	uint64_t s = 42;
	for (size_t i = 0; i < N; i++) {
		/* groups of 30, 20 and 10 points around axes 0, 5 and 10 */
		unsigned g = i < 30 ? 0 : i < 50 ? 1 : 2;
		float *p = v + i * DIM, n = 0;
		for (unsigned d = 0; d < DIM; d++) {
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			p[d] = (float)((s >> 40) % 1000) / 5000.0f; /* noise up to 0.2 */
		}
		p[g * 5] += 1.0f;
		for (unsigned d = 0; d < DIM; d++)
			n += p[d] * p[d];
		for (unsigned d = 0; d < DIM; d++)
			p[d] /= sqrtf(n);
	}
	assert_int_equal(pos_kmeans_best(v, N, DIM, 8, INT64_MAX, assign, cent, &k, &sil), POS_OK);
	assert_int_equal(k, 3);
	assert_true(sil > 0.5f);
	for (size_t i = 0; i < N; i++)
		assert_int_equal(assign[i], i < 30 ? 0u : i < 50 ? 1u : 2u);
	assert_true(cent[0] > 0.9f && cent[DIM + 5] > 0.9f && cent[2 * DIM + 10] > 0.9f);
	assert_int_equal(pos_kmeans_best(v, N, DIM, 8, INT64_MAX, again, cent, &k2, &sil2), POS_OK);
	assert_int_equal(k2, k);
	assert_memory_equal(assign, again, sizeof(assign));
	/* a deadline already passed still tries k = 2 */
	assert_int_equal(pos_kmeans_best(v, N, DIM, 8, 0, assign, cent, &k, &sil), POS_OK);
	assert_int_equal(k, 2);
	/* too few points: one group; bad bounds refused */
	assert_int_equal(pos_kmeans_best(v, 3, DIM, 8, INT64_MAX, assign, cent, &k, &sil), POS_OK);
	assert_int_equal(k, 1);
	assert_int_equal(pos_kmeans_best(v, N, DIM, 1, INT64_MAX, assign, cent, &k, &sil),
			 POS_ERR_INVALID_REQUEST);
	assert_int_equal(pos_kmeans_best(v, N, DIM, POS_KMEANS_K_MAX + 1, INT64_MAX, assign, cent,
					 &k, &sil), POS_ERR_INVALID_REQUEST);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(quantize_round_trip),
		cmocka_unit_test(blobs),
		cmocka_unit_test(put_replace_remove),
		cmocka_unit_test(oom_leaves_index_unchanged),
		cmocka_unit_test(churn_keeps_map_consistent),
		cmocka_unit_test(search_matches_references),
		cmocka_unit_test(top_k_order_and_ties),
		cmocka_unit_test(filter_callback),
		cmocka_unit_test(removed_rows_are_not_found),
		cmocka_unit_test(exact_mode_is_exhaustive),
		cmocka_unit_test(two_stage_recall),
		cmocka_unit_test(column_scan_is_exact),
		cmocka_unit_test(search_many_matches_single),
		cmocka_unit_test(exact_mode_skips_the_codes),
		cmocka_unit_test(rows_by_number),
		cmocka_unit_test(kmeans_finds_groups),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
