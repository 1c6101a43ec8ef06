/*
 * vector_bench.c — micro-benchmark of the built-in embedder and the exact
 * int8 vector scan, and the embedder's vector-only recall on LoCoMo.
 *
 * Build (from the repository root; -O2 like the project's RelWithDebInfo):
 *   cc -O2 -std=c17 -D_GNU_SOURCE -Isrc -include src/base/compat.h \
 *      bench/vector_bench.c src/embed/embed.c src/embed/builtin.c \
 *      src/embed/token.c src/embed/cooc.c src/search/vector.c \
 *      src/search/vcols.c src/base/alloc.c src/base/err.c src/base/thread.c -ljansson -lm \
 *      -lpthread -o /tmp/vector_bench
 * Run:
 *   /tmp/vector_bench embed [N]          texts/s of pos_embed, one thread
 *   /tmp/vector_bench cooc [N]           co-occurrence model: build time, size
 *   /tmp/vector_bench scan [ROWS...]     ms per query, int8 kernels vs f32
 *                                        (default 100000 1000000, dim 256)
 *   /tmp/vector_bench two [gauss|text] [ROWS...]
 *                                        the default scan (columns for a
 *                                        sparse query, else two stages) vs
 *                                        the exact int8 scan, 1 and 2
 *                                        cores, recall@10
 *                                        (default text 100000 1000000)
 *   /tmp/vector_bench locomo [PATH]      R@5/10/25 of vector-only search
 *                                        (default ../shared/data/locomo-dev.json)
 * Everything but `two`'s 2-core rows is single-threaded and seeded: two runs do the same work.
 */
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "embed/cooc.h"
#include "embed/embed.h"
#include "search/vector.h"
#include "base/thread.h"

#define DIM 256u
#define QUERIES 51
#define K 10

/* CPU time of this thread: what a query costs, whatever else the machine
 * runs (wall time on a shared machine adds other programs' time slices) */
static double cpu_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* xorshift64*: a seeded generator, the same on every machine */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static double rng_unit(uint64_t *s)
{
	return (double)(rng_next(s) >> 11) / 9007199254740992.0;
}

static float rng_gauss(uint64_t *s)
{
	double u = rng_unit(s) + 1e-12, v = rng_unit(s);
	return (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* median and p99 of n samples (sorts them) */
static void stats(double *v, int n, double *p50, double *p99)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	*p50 = v[n / 2];
	int i = (int)ceil(0.99 * n) - 1;
	*p99 = v[i < 0 ? 0 : i];
}

/* ---- embed --------------------------------------------------------------- */

static const char *const words[] = {
	"Meeting", "with", "Anna", "about", "the", "garden", "project", "on",
	"Tuesday", "remember", "to", "buy", "milk", "and", "eggs", "dentist",
	"appointment", "at", "3pm", "call", "mom", "birthday", "party",
	"ideas", "for", "Sam's", "running", "shoes", "restaurant", "booking",
	"Friday", "evening", "read", "chapter", "book", "club", "flight",
	"to", "Berlin", "hotel", "confirmation", "pay", "electricity", "bill",
	"yoga", "class", "cancelled", "new", "recipe", "pasta", "tomatoes",
	"basil", "weekend", "hiking", "trip", "mountains", "weather",
	"forecast", "rain", "project", "deadline", "report", "draft",
	"review", "comments", "from", "manager", "I", "felt", "really",
	"happy", "today", "because", "kids", "painted", "sunrise", "lake",
	"adoption", "agency", "interview", "went", "well", "guitar",
	"lessons", "started", "learning", "Spanish", "café", "naïve",
	"2023", "email", "Jon", "his", "dance", "studio", "opening",
};

static void bench_embed(size_t n)
{
	struct pos_embedder *e;
	if (pos_embed_builtin_new(DIM, &e)) {
		fprintf(stderr, "embedder\n");
		exit(1);
	}
	/* n texts of 6..20 words, built up front so only embedding is timed */
	char **texts = malloc(n * sizeof(*texts));
	size_t *lens = malloc(n * sizeof(*lens));
	uint64_t s = 42;
	size_t total = 0;
	for (size_t i = 0; i < n; i++) {
		char buf[512];
		size_t len = 0;
		int nw = 6 + (int)(rng_next(&s) % 15);
		for (int w = 0; w < nw; w++) {
			const char *x = words[rng_next(&s) %
					      (sizeof(words) / sizeof(*words))];
			int m = snprintf(buf + len, sizeof(buf) - len, "%s%s",
					 w ? " " : "", x);
			len += (size_t)m;
		}
		texts[i] = malloc(len + 1);
		memcpy(texts[i], buf, len + 1);
		lens[i] = len;
		total += len;
	}
	float *out = malloc(DIM * sizeof(float));
	double best = 1e30;
	for (int round = 0; round < 3; round++) {
		double t0 = now_ms();
		for (size_t i = 0; i < n; i++)
			pos_embed(e, texts[i], lens[i], out);
		double dt = now_ms() - t0;
		if (dt < best)
			best = dt;
	}
	printf("embed %s: %zu texts (avg %.0f bytes) in %.1f ms: %.0f texts/s, "
	       "%.2f us/text\n",
	       e->model, n, (double)total / (double)n, best,
	       (double)n / best * 1e3, best * 1e3 / (double)n);
	for (size_t i = 0; i < n; i++)
		free(texts[i]);
	free(texts);
	free(lens);
	free(out);
	pos_embed_free(e);
}

/* A pseudo-word for a Zipf-distributed id over `vocab` words: a user's
 * vocabulary is large and skewed, which is what sizes the pair table. */
static size_t zipf_word(uint64_t *s, unsigned vocab, char *out)
{
	static const char *const syl[] = {
		"ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "ba",
		"do", "fi", "gu", "ha", "je", "pi", "qo", "wu", "xe", "yo",
	};
	/* inverse of the CDF of a 1/rank law, approximately */
	double u = rng_unit(s);
	unsigned id = (unsigned)(exp(u * log((double)vocab + 1)) - 1);
	size_t n = 0;
	do {
		memcpy(out + n, syl[id % 20], 2);
		n += 2;
		id /= 20;
	} while (id);
	out[n] = '\0';
	return n;
}

static void bench_cooc(size_t n)
{
	uint64_t s = 9;
	struct pos_cooc *m;
	pos_cooc_new(NULL, &m);
	double t_add = 0;
	for (size_t i = 0; i < n; i++) {
		char buf[512], w[32];
		size_t len = 0;
		int nw = 6 + (int)(rng_next(&s) % 25);
		for (int j = 0; j < nw; j++) {
			size_t wl = zipf_word(&s, 50000, w);
			buf[len++] = ' ';
			memcpy(buf + len, w, wl);
			len += wl;
		}
		double t0 = now_ms();
		pos_cooc_add(m, buf, len);
		t_add += now_ms() - t0;
	}
	double t0 = now_ms();
	pos_cooc_finish(m);
	double t_fin = now_ms() - t0;
	struct pos_embed_term t[8];
	t0 = now_ms();
	size_t nx = 0;
	for (int i = 0; i < 1000; i++)
		nx += pos_cooc_expand(m, "kalo mine ruza tivo", 19, 0.5f, t, 8);
	double t_exp = (now_ms() - t0) / 1000;
	printf("cooc: %zu texts (6-30 Zipf words over 50k) counted in %.0f ms "
	       "(%.1f us/text), finish %.0f ms, vocab %zu, %.1f MB; expand "
	       "%.1f us (%zu terms)\n",
	       n, t_add, t_add * 1e3 / (double)n, t_fin, pos_cooc_vocab(m),
	       (double)pos_cooc_memory(m) / 1e6, t_exp * 1e3, nx / 1000);
	pos_cooc_free(m);
}

/* ---- scan ---------------------------------------------------------------- */

static void random_unit(uint64_t *s, float *v, unsigned dim)
{
	double ss = 0;
	for (unsigned i = 0; i < dim; i++) {
		v[i] = rng_gauss(s);
		ss += (double)v[i] * v[i];
	}
	for (unsigned i = 0; i < dim; i++)
		v[i] = (float)(v[i] / sqrt(ss));
}

static void bench_scan(size_t rows)
{
	uint64_t s = 7;
	float *f = malloc(rows * DIM * sizeof(float));
	int64_t *ids = malloc(rows * sizeof(int64_t));
	struct pos_vindex *ix;
	if (!f || !ids || pos_vindex_new(DIM, &ix)) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	for (size_t r = 0; r < rows; r++) {
		/* queries are near rows: a row plus noise, so top-k is real */
		random_unit(&s, f + r * DIM, DIM);
		ids[r] = (int64_t)r + 1;
	}
	double t0 = now_ms();
	pos_vindex_reserve(ix, rows);
	for (size_t r = 0; r < rows; r++)
		pos_vindex_put_f32(ix, ids[r], f + r * DIM);
	double load = now_ms() - t0;
	printf("scan %zu x %u: load %.0f ms, int8 index %.1f MB, f32 rows %.1f MB\n",
	       rows, DIM, load, (double)pos_vindex_memory(ix) / 1e6,
	       (double)rows * DIM * 4 / 1e6);

	float q[QUERIES][DIM];
	for (int i = 0; i < QUERIES; i++) {
		const float *base = f + (rng_next(&s) % rows) * DIM;
		float noise[DIM];
		random_unit(&s, noise, DIM);
		for (unsigned d = 0; d < DIM; d++)
			q[i][d] = base[d] + 0.8f * noise[d];
	}

	struct pos_vhit exact[QUERIES][K];
	size_t nexact[QUERIES];
	double tf[QUERIES], p50f, p99f;
	for (int i = 0; i < QUERIES; i++) {
		double a = now_ms();
		pos_vec_search_f32(f, ids, rows, DIM, q[i], K, NULL, NULL,
				   exact[i], &nexact[i]);
		tf[i] = now_ms() - a;
	}
	stats(tf, QUERIES, &p50f, &p99f);
	printf("  f32 scan        p50 %7.2f ms  p99 %7.2f ms\n", p50f, p99f);

	static const char *const kern[] = {"avx512vnni", "avx2", "generic"};
	for (size_t kk = 0; kk < sizeof(kern) / sizeof(*kern); kk++) {
		if (pos_vindex_set_kernel(ix, kern[kk]) != POS_OK) {
			printf("  int8 %-10s  (not available on this CPU)\n",
			       kern[kk]);
			continue;
		}
		double ti[QUERIES], p50, p99;
		size_t hit = 0, want = 0;
		for (int i = 0; i < QUERIES; i++) {
			struct pos_vhit h[K];
			size_t nh;
			double a = now_ms();
			pos_vindex_search_f32(ix, q[i], K, NULL, NULL, h, &nh);
			ti[i] = now_ms() - a;
			for (size_t x = 0; x < nexact[i]; x++, want++)
				for (size_t y = 0; y < nh; y++)
					if (h[y].id == exact[i][x].id) {
						hit++;
						break;
					}
		}
		stats(ti, QUERIES, &p50, &p99);
		printf("  int8 %-10s  p50 %7.2f ms  p99 %7.2f ms  "
		       "(%.1fx f32, %.2f GB/s)  recall@%d vs f32 %.3f\n",
		       kern[kk], p50, p99, p50f / p50,
		       (double)rows * pos_vec_stride(DIM) / p50 / 1e6, K,
		       (double)hit / (double)want);
	}
	pos_vindex_free(ix);
	free(f);
	free(ids);
}

/* ---- two-stage scan ------------------------------------------------------ */

/* A corpus for the two-stage scan: "gauss" (random unit rows, queries a row
 * plus noise) or "text" (the built-in embedder's vectors of texts of 6-20
 * words over the small vocabulary above, queries of 2-5 words: few
 * distinct words, so many near ties, the hard case for a first stage). */
static void make_corpus(const char *kind, size_t rows, struct pos_vindex *ix,
			float (*q)[DIM])
{
	uint64_t s = 7;
	float v[DIM];
	struct pos_embedder *e = NULL;
	bool text = !strcmp(kind, "text");
	if (text && pos_embed_builtin_new(DIM, &e)) {
		fprintf(stderr, "embedder\n");
		exit(1);
	}
	const size_t nw_all = sizeof(words) / sizeof(*words);
	for (size_t r = 0; r < rows + QUERIES; r++) {
		if (text) {
			char buf[512];
			size_t len = 0;
			int nw = r < rows ? 6 + (int)(rng_next(&s) % 15)
					  : 2 + (int)(rng_next(&s) % 4);
			for (int w = 0; w < nw; w++)
				len += (size_t)snprintf(buf + len, sizeof(buf) - len,
							"%s%s", w ? " " : "",
							words[rng_next(&s) % nw_all]);
			pos_embed(e, buf, len, v);
		} else if (r < rows) {
			random_unit(&s, v, DIM);
		} else {
			int8_t row[DIM];
			float sc, noise[DIM];
			pos_vindex_get(ix, (int64_t)(rng_next(&s) % rows) + 1, row, &sc);
			random_unit(&s, noise, DIM);
			for (unsigned d = 0; d < DIM; d++)
				v[d] = (float)row[d] * sc + 0.8f * noise[d];
		}
		if (r < rows)
			pos_vindex_put_f32(ix, (int64_t)r + 1, v);
		else
			memcpy(q[r - rows], v, sizeof(v));
	}
	pos_embed_free(e);
}

/* ms per query and recall@k against the exact int8 scan, for k = 10 and
 * for k = 200 (what a hybrid search's vector half asks for: the default
 * search_candidates) */
static void bench_two(const char *kind, size_t rows)
{
	enum { KMAX = 200 };
	struct pos_vindex *ix;
	struct pos_workers *w;
	if (pos_vindex_new(DIM, &ix) || pos_workers_new(1, &w)) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	static float q[QUERIES][DIM];
	double t0 = now_ms();
	pos_vindex_reserve(ix, rows);
	make_corpus(kind, rows, ix, q);
	printf("two-stage %s %zu x %u: built in %.0f ms, index %.1f MB "
	       "(%.0f B/row), kernel %s\n",
	       kind, rows, DIM, now_ms() - t0, (double)pos_vindex_memory(ix) / 1e6,
	       (double)pos_vindex_memory(ix) / (double)rows, pos_vindex_kernel(ix));
	static struct pos_vhit exact[QUERIES][KMAX], h[KMAX];
	size_t nexact[QUERIES];
	static const struct {
		const char *name;
		struct pos_vsearch_opts o;
	} modes[] = {
		{"exact int8, 1 core ", {true, NULL, 1}},
		{"exact int8, 2 cores", {true, NULL, 2}},
		{"default,    1 core ", {false, NULL, 1}},
		{"default,    2 cores", {false, NULL, 2}},
	};
	static const size_t ks[] = {K, KMAX};
	for (size_t ki = 0; ki < sizeof(ks) / sizeof(*ks); ki++) {
		size_t k = ks[ki];
		size_t ncols = 0;
		for (int i = 0; i < QUERIES; i++) {
			int8_t qq[DIM];
			float qs;
			pos_vec_quantize(q[i], DIM, qq, &qs);
			ncols += strcmp(pos_vindex_scan_mode(ix, qq, k, false), "columns") == 0;
		}
		printf(" k=%zu (two-stage re-ranks %zu rows; the default scan takes the "
		       "columns for %zu of %d queries)\n",
		       k, pos_vec_rerank_count(k), ncols, QUERIES);
		double base = 0;
		for (size_t m = 0; m < sizeof(modes) / sizeof(*modes); m++) {
			struct pos_vsearch_opts o = modes[m].o;
			o.workers = o.parts > 1 ? w : NULL;
			double ti[QUERIES], tc[QUERIES], p50, p99, c50, c99;
			size_t hit = 0, want = 0;
			for (int i = 0; i < QUERIES; i++) {
				size_t nh;
				int8_t qq[DIM];
				float qs;
				pos_vec_quantize(q[i], DIM, qq, &qs);
				double a = now_ms(), c = cpu_ms();
				pos_vindex_search_ex(ix, qq, qs, k, NULL, NULL, &o, h, &nh);
				tc[i] = cpu_ms() - c;
				ti[i] = now_ms() - a;
				if (m == 0) {
					memcpy(exact[i], h, nh * sizeof(*h));
					nexact[i] = nh;
				}
				for (size_t x = 0; x < nexact[i]; x++, want++)
					for (size_t y = 0; y < nh; y++)
						if (h[y].id == exact[i][x].id) {
							hit++;
							break;
						}
			}
			stats(ti, QUERIES, &p50, &p99);
			stats(tc, QUERIES, &c50, &c99);
			if (m == 0)
				base = c50;
			/* cpu: the calling thread's (a 2-core scan's other half
			 * runs on the pool); wall: as a caller waits for it */
			printf("  %s  cpu p50 %6.2f p99 %6.2f ms (%5.2fx exact)  "
			       "wall p50 %6.2f p99 %6.2f ms  recall@%zu %.4f\n",
			       modes[m].name, c50, c99, base / c50, p50, p99, k,
			       want ? (double)hit / (double)want : 1.0);
		}
	}
	pos_workers_free(w);
	pos_vindex_free(ix);
}

/* ---- LoCoMo -------------------------------------------------------------- */

struct turn {
	char id[16];
	char *text;
};

static int valid_evidence(const char *s)
{
	/* D<n>:<n> */
	if (!s || s[0] != 'D' || s[1] < '0' || s[1] > '9')
		return 0;
	s++;
	while (*s >= '0' && *s <= '9')
		s++;
	if (*s++ != ':' || *s < '0' || *s > '9')
		return 0;
	while (*s >= '0' && *s <= '9')
		s++;
	return *s == '\0';
}

enum variant { PLAIN, IDF, IDF_EXPAND, NVARIANT };
static const char *const variant_name[] = {
	"plain query", "query x IDF", "query x IDF + cooc expansion"};

static void bench_locomo(const char *path)
{
	json_error_t jerr;
	json_t *root = json_load_file(path, 0, &jerr);
	if (!root) {
		printf("locomo: %s not readable, skipped\n", path);
		return;
	}
	struct pos_embedder *e;
	pos_embed_builtin_new(DIM, &e);
	static const int ks[3] = {5, 10, 25};
	double rsum[NVARIANT][2][3] = {{{0}}};
	int nq = 0;
	double t_build = 0;
	size_t ci;
	json_t *conv;
	json_array_foreach(root, ci, conv) {
		json_t *c = json_object_get(conv, "conversation");
		struct turn *T = NULL;
		size_t nt = 0, cap = 0;
		for (int sn = 1; sn < 100; sn++) {
			char key[32];
			snprintf(key, sizeof(key), "session_%d", sn);
			json_t *ses = json_object_get(c, key);
			size_t ti;
			json_t *t;
			json_array_foreach(ses, ti, t) {
				if (nt == cap) {
					cap = cap ? cap * 2 : 256;
					T = realloc(T, cap * sizeof(*T));
				}
				const char *sp = json_string_value(json_object_get(t, "speaker"));
				const char *tx = json_string_value(json_object_get(t, "text"));
				const char *bc = json_string_value(json_object_get(t, "blip_caption"));
				char buf[8192];
				int m = snprintf(buf, sizeof(buf), "%s: %s", sp ? sp : "",
						 tx ? tx : "");
				if (bc && m > 0 && (size_t)m < sizeof(buf))
					snprintf(buf + m, sizeof(buf) - (size_t)m,
						 " [shared a photo: %s]", bc);
				snprintf(T[nt].id, sizeof(T[nt].id), "%s",
					 json_string_value(json_object_get(t, "dia_id")));
				T[nt].text = strdup(buf);
				nt++;
			}
		}
		/* the user's memories: vectors in an int8 index and as floats,
		 * and the co-occurrence model learned from them */
		double t0 = now_ms();
		struct pos_vindex *ix;
		struct pos_cooc *cm;
		pos_vindex_new(DIM, &ix);
		pos_cooc_new(NULL, &cm);
		float *F = malloc(nt * DIM * sizeof(float));
		int64_t *ids = malloc(nt * sizeof(int64_t));
		for (size_t i = 0; i < nt; i++) {
			pos_embed(e, T[i].text, strlen(T[i].text), F + i * DIM);
			ids[i] = (int64_t)i;
			pos_vindex_put_f32(ix, ids[i], F + i * DIM);
			pos_cooc_add(cm, T[i].text, strlen(T[i].text));
		}
		pos_cooc_finish(cm);
		t_build += now_ms() - t0;

		size_t qi;
		json_t *qa;
		json_array_foreach(json_object_get(conv, "qa"), qi, qa) {
			const char *ev[64];
			int ne = 0;
			size_t ei;
			json_t *x;
			json_array_foreach(json_object_get(qa, "evidence"), ei, x) {
				const char *sv = json_string_value(x);
				if (valid_evidence(sv) && ne < 64)
					ev[ne++] = sv;
			}
			if (!ne)
				continue;
			const char *qs = json_string_value(json_object_get(qa, "question"));
			size_t ql = strlen(qs);
			for (int v = 0; v < NVARIANT; v++) {
				float qv[DIM];
				struct pos_embed_term xt[8];
				size_t nx = 0;
				if (v == PLAIN) {
					pos_embed(e, qs, ql, qv);
				} else {
					if (v == IDF_EXPAND)
						nx = pos_cooc_expand(cm, qs, ql, 0.5f, xt, 8);
					pos_embed_builtin_query(e, qs, ql, pos_cooc_idf, cm,
								xt, nx, qv);
				}
				for (int quant = 0; quant < 2; quant++) {
					struct pos_vhit h[25];
					size_t nh;
					if (quant)
						pos_vindex_search_f32(ix, qv, 25, NULL, NULL, h, &nh);
					else
						pos_vec_search_f32(F, ids, nt, DIM, qv, 25, NULL,
								   NULL, h, &nh);
					for (int kk = 0; kk < 3; kk++) {
						int hit = 0;
						for (int j = 0; j < ne; j++)
							for (size_t r = 0; r < nh && (int)r < ks[kk]; r++)
								if (!strcmp(T[h[r].id].id, ev[j])) {
									hit++;
									break;
								}
						rsum[v][quant][kk] += (double)hit / ne;
					}
				}
			}
			nq++;
		}
		for (size_t i = 0; i < nt; i++)
			free(T[i].text);
		free(T);
		free(F);
		free(ids);
		pos_vindex_free(ix);
		pos_cooc_free(cm);
	}
	printf("locomo %s, %d questions, vector-only retrieval over turns "
	       "(\"speaker: text [photo caption]\"), build %.0f ms\n",
	       e->model, nq, t_build);
	for (int v = 0; v < NVARIANT; v++)
		for (int quant = 0; quant < 2; quant++)
			printf("  %-30s %-5s R@5 %5.1f  R@10 %5.1f  R@25 %5.1f\n",
			       variant_name[v], quant ? "int8" : "f32",
			       100 * rsum[v][quant][0] / nq,
			       100 * rsum[v][quant][1] / nq,
			       100 * rsum[v][quant][2] / nq);
	pos_embed_free(e);
	json_decref(root);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "all";
	if (!strcmp(mode, "embed") || !strcmp(mode, "all"))
		bench_embed(argc > 2 && !strcmp(mode, "embed")
				    ? (size_t)strtoul(argv[2], NULL, 10)
				    : 200000);
	if (!strcmp(mode, "cooc") || !strcmp(mode, "all"))
		bench_cooc(argc > 2 && !strcmp(mode, "cooc")
				   ? (size_t)strtoul(argv[2], NULL, 10)
				   : 100000);
	if (!strcmp(mode, "scan") || !strcmp(mode, "all")) {
		if (argc > 2 && !strcmp(mode, "scan"))
			for (int i = 2; i < argc; i++)
				bench_scan((size_t)strtoul(argv[i], NULL, 10));
		else {
			bench_scan(100000);
			bench_scan(1000000);
		}
	}
	if (!strcmp(mode, "two")) {
		/* two [gauss|text] [ROWS...] */
		const char *kind = argc > 2 ? argv[2] : "text";
		if (argc > 3)
			for (int i = 3; i < argc; i++)
				bench_two(kind, (size_t)strtoul(argv[i], NULL, 10));
		else {
			bench_two(kind, 100000);
			bench_two(kind, 1000000);
		}
	}
	if (!strcmp(mode, "locomo") || !strcmp(mode, "all"))
		bench_locomo(argc > 2 && !strcmp(mode, "locomo")
				     ? argv[2]
				     : "../shared/data/locomo-dev.json");
	return 0;
}
