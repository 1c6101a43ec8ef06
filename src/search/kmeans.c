/*
 * kmeans.c — spherical k-means with k-means++ seeding and the choice of k
 * by mean silhouette (kmeans.h).
 */
#include "search/kmeans.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "base/alloc.h"
#include "base/clock.h"

static float dot(const float *a, const float *b, unsigned d)
{
	float s = 0;
	for (unsigned i = 0; i < d; i++)
		s += a[i] * b[i];
	return s;
}

static void normalize(float *c, unsigned d)
{
	float n = sqrtf(dot(c, c, d));
	if (n > 0)
		for (unsigned i = 0; i < d; i++)
			c[i] /= n;
}

/* splitmix64: a fixed-seed generator, the same on every machine */
static uint64_t next(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static double unit(uint64_t *s)
{
	return (double)(next(s) >> 11) / 9007199254740992.0;
}

/* The index of the centroid nearest to p (highest dot). */
static unsigned nearest(const float *p, const float *cent, unsigned k, unsigned dim, float *sim)
{
	unsigned best = 0;
	float bs = -2;
	for (unsigned c = 0; c < k; c++) {
		float s = dot(p, cent + (size_t)c * dim, dim);
		if (s > bs) {
			bs = s;
			best = c;
		}
	}
	if (sim)
		*sim = bs;
	return best;
}

/* One run for k: k-means++ seeds, then Lloyd iterations on the sphere.
 * far[] is n floats of work. */
static void run_k(const float *v, size_t n, unsigned dim, unsigned k, unsigned *assign,
		  float *cent, float *far)
{
	uint64_t seed = 0x5EED0000ull + k;
	size_t first = (size_t)(next(&seed) % n);
	memcpy(cent, v + first * dim, dim * sizeof(float));
	for (size_t i = 0; i < n; i++)
		far[i] = 1.0f - dot(v + i * dim, cent, dim);
	for (unsigned c = 1; c < k; c++) {
		double total = 0;
		for (size_t i = 0; i < n; i++)
			total += (double)far[i] * far[i];
		size_t pick = 0;
		if (total > 0) {
			double r = unit(&seed) * total;
			for (pick = 0; pick + 1 < n; pick++) {
				r -= (double)far[pick] * far[pick];
				if (r <= 0)
					break;
			}
		} else {
			pick = (size_t)(next(&seed) % n);
		}
		memcpy(cent + (size_t)c * dim, v + pick * dim, dim * sizeof(float));
		for (size_t i = 0; i < n; i++) {
			float d = 1.0f - dot(v + i * dim, cent + (size_t)c * dim, dim);
			if (d < far[i])
				far[i] = d;
		}
	}
	for (size_t i = 0; i < n; i++)
		assign[i] = UINT32_MAX;
	for (unsigned it = 0; it < POS_KMEANS_ITERS; it++) {
		bool changed = false;
		for (size_t i = 0; i < n; i++) {
			unsigned c = nearest(v + i * dim, cent, k, dim, &far[i]);
			if (c != assign[i]) {
				assign[i] = c;
				changed = true;
			}
		}
		if (!changed)
			break;
		memset(cent, 0, (size_t)k * dim * sizeof(float));
		for (size_t i = 0; i < n; i++) {
			float *c = cent + (size_t)assign[i] * dim;
			const float *p = v + i * dim;
			for (unsigned d = 0; d < dim; d++)
				c[d] += p[d];
		}
		for (unsigned c = 0; c < k; c++) {
			float *cc = cent + (size_t)c * dim;
			if (dot(cc, cc, dim) == 0) {
				/* an empty cluster takes the point farthest from its own */
				size_t worst = 0;
				for (size_t i = 1; i < n; i++)
					if (far[i] < far[worst])
						worst = i;
				memcpy(cc, v + worst * dim, dim * sizeof(float));
				far[worst] = 1;
			}
			normalize(cc, dim);
		}
	}
}

/* Mean silhouette over (at most POS_KMEANS_SIL_MAX) evenly spread points. */
static float silhouette(const float *v, size_t n, unsigned dim, unsigned k,
			const unsigned *assign, double *sum, size_t *cnt)
{
	size_t m = n < POS_KMEANS_SIL_MAX ? n : POS_KMEANS_SIL_MAX;
	double total = 0;
	for (size_t a = 0; a < m; a++) {
		size_t i = a * n / m;
		memset(sum, 0, k * sizeof(*sum));
		memset(cnt, 0, k * sizeof(*cnt));
		for (size_t b = 0; b < m; b++) {
			size_t j = b * n / m;
			if (j == i)
				continue;
			sum[assign[j]] += 1.0 - dot(v + i * dim, v + j * dim, dim);
			cnt[assign[j]]++;
		}
		unsigned own = assign[i];
		if (!cnt[own])
			continue; /* a singleton counts 0 */
		double in = sum[own] / (double)cnt[own], out = INFINITY;
		for (unsigned c = 0; c < k; c++)
			if (c != own && cnt[c] && sum[c] / (double)cnt[c] < out)
				out = sum[c] / (double)cnt[c];
		if (isinf(out))
			continue;
		double mx = in > out ? in : out;
		if (mx > 0)
			total += (out - in) / mx;
	}
	return (float)(total / (double)m);
}

/* Renumbers clusters by size, largest first (ties by first point). */
static void by_size(size_t n, unsigned dim, unsigned k, unsigned *assign, float *cent,
		    size_t *cnt, float *tmp)
{
	unsigned order[POS_KMEANS_K_MAX] = {0}, rank[POS_KMEANS_K_MAX] = {0};
	memset(cnt, 0, k * sizeof(*cnt));
	for (size_t i = 0; i < n; i++)
		cnt[assign[i]]++;
	for (unsigned c = 0; c < k; c++)
		order[c] = c;
	for (unsigned a = 1; a < k; a++)
		for (unsigned b = a; b > 0 && cnt[order[b]] > cnt[order[b - 1]]; b--) {
			unsigned t = order[b];
			order[b] = order[b - 1];
			order[b - 1] = t;
		}
	for (unsigned c = 0; c < k; c++)
		rank[order[c]] = c;
	for (size_t i = 0; i < n; i++)
		assign[i] = rank[assign[i]];
	memcpy(tmp, cent, (size_t)k * dim * sizeof(float));
	for (unsigned c = 0; c < k; c++)
		memcpy(cent + (size_t)c * dim, tmp + (size_t)order[c] * dim, dim * sizeof(float));
}

enum pos_err pos_kmeans_best(const float *v, size_t n, unsigned dim, unsigned k_max,
			     int64_t deadline_mono_us, unsigned *assign, float *centroids,
			     unsigned *k, float *silhouette_out)
{
	*k = 0;
	*silhouette_out = 0;
	if (k_max < 2 || k_max > POS_KMEANS_K_MAX || dim == 0)
		return POS_ERR_INVALID_REQUEST;
	if (n < 4) {
		memset(centroids, 0, dim * sizeof(float));
		for (size_t i = 0; i < n; i++) {
			assign[i] = 0;
			for (unsigned d = 0; d < dim; d++)
				centroids[d] += v[i * dim + d];
		}
		normalize(centroids, dim);
		*k = n ? 1 : 0;
		return POS_OK;
	}
	unsigned *a = pos_malloc(n * sizeof(*a));
	float *cent = pos_malloc((size_t)k_max * dim * sizeof(*cent));
	float *far = pos_malloc(n * sizeof(*far));
	double *sum = pos_malloc(k_max * sizeof(*sum));
	size_t *cnt = pos_malloc(k_max * sizeof(*cnt));
	enum pos_err rc = a && cent && far && sum && cnt ? POS_OK : POS_ERR_NOMEM;
	float best = -2;
	unsigned top = (size_t)k_max < n - 1 ? k_max : (unsigned)(n - 1);
	for (unsigned kk = 2; !rc && kk <= top; kk++) {
		if (kk > 2 && pos_mono_us() > deadline_mono_us)
			break;
		run_k(v, n, dim, kk, a, cent, far);
		float s = silhouette(v, n, dim, kk, a, sum, cnt);
		if (s > best) {
			best = s;
			*k = kk;
			memcpy(assign, a, n * sizeof(*a));
			memcpy(centroids, cent, (size_t)kk * dim * sizeof(*cent));
		}
	}
	if (!rc && *k) {
		by_size(n, dim, *k, assign, centroids, cnt, cent);
		*silhouette_out = best;
	}
	pos_free(a);
	pos_free(cent);
	pos_free(far);
	pos_free(sum);
	pos_free(cnt);
	return rc;
}
