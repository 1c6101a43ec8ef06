/* Unit tests for src/store/kwindex.c: the MaxScore top-k equals the top-k
 * of scoring every matching memory (exact mode), both equal an independent
 * BM25 written here, and MaxScore scores fewer memories. Random corpora
 * and queries, fixed seeds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/kwindex.h"

#define MAXV 300
#define MAXD 1500
#define MAXL 24

struct model {
	int nv;
	char words[MAXV][16];
	/* per memory (by seq): tokens as word index and column; -1 len: absent */
	int len[MAXD];
	int word[MAXD][MAXL];
	int col[MAXD][MAXL];
	long order[MAXD];       /* when it was last put */
};

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(rng_state >> 33) % n;
}

/* Zipf-like: small ranks far more often. */
static int zipf(int nv)
{
	double u = (rnd(1000000) + 1) / 1000001.0;
	int r = (int)(pow((double)nv + 1, u)) - 1;
	return r < 0 ? 0 : r >= nv ? nv - 1 : r;
}

static void put(struct pos_kwindex *x, struct model *m, int seq, long when)
{
	struct pos_kwtoken t[MAXL];
	int n = 1 + (int)rnd(MAXL);
	for (int i = 0; i < n; i++) {
		m->word[seq][i] = zipf(m->nv);
		m->col[seq][i] = rnd(10) < 6 ? 0 : rnd(2) ? 1 : 2;
		t[i] = (struct pos_kwtoken){m->words[m->word[seq][i]],
					    strlen(m->words[m->word[seq][i]]),
					    (unsigned)m->col[seq][i]};
	}
	m->len[seq] = n;
	m->order[seq] = when;
	assert_int_equal(pos_kwindex_put(x, seq + 1, t, (size_t)n), POS_OK);
}

/* BM25 as FTS5 computes it, from the model alone: the statistics once per
 * query (stats), then one memory's score. */
struct stats {
	double N, avgdl, df[8];
};

static void naive_stats(const struct model *m, const int *q, int nq, struct stats *st)
{
	double tok = 0;
	st->N = 0;
	for (int i = 0; i < nq; i++)
		st->df[i] = 0;
	for (int d = 0; d < MAXD; d++) {
		if (m->len[d] < 0)
			continue;
		st->N++;
		tok += m->len[d];
		for (int i = 0; i < nq; i++) {
			int has = 0;
			for (int j = 0; j < m->len[d]; j++)
				has |= m->word[d][j] == q[i];
			st->df[i] += has;
		}
	}
	st->avgdl = st->N ? tok / st->N : 1;
}

static double naive(const struct model *m, const struct stats *st, int seq, const int *q,
		    int nq)
{
	static const double w[3] = {1.0, 1.0, 0.4};
	double s = 0;
	for (int i = 0; i < nq; i++) {
		double tf = 0;
		for (int j = 0; j < m->len[seq]; j++)
			if (m->word[seq][j] == q[i])
				tf += (float)w[m->col[seq][j]];
		if (!tf)
			continue;
		double idf = log((st->N - st->df[i] + 0.5) / (st->df[i] + 0.5));
		if (idf <= 0)
			idf = 1e-6;
		s += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * m->len[seq] / st->avgdl));
	}
	return s;
}

static void maxscore_equals_exhaustive(void **state)
{
	(void)state;
	size_t fast_scored = 0, exact_scored = 0;
	for (int round = 0; round < 12; round++) {
		rng_state = 1000 + (uint64_t)round;
		static struct model m;
		m.nv = 5 + (int)rnd(MAXV - 5);
		for (int i = 0; i < m.nv; i++)
			snprintf(m.words[i], sizeof(m.words[i]), "w%d", i);
		int nd = 1 + (int)rnd(MAXD);
		for (int d = 0; d < MAXD; d++)
			m.len[d] = -1;
		struct pos_kwindex *x = NULL;
		assert_int_equal(pos_kwindex_new(&x), POS_OK);
		long when = 0;
		for (int d = 0; d < nd; d++)
			put(x, &m, d, when++);
		/* edits and deletions, enough to compact now and then */
		for (int e = (int)rnd((uint32_t)nd * 2); e > 0; e--) {
			int d = (int)rnd((uint32_t)nd);
			if (rnd(2)) {
				put(x, &m, d, when++);
			} else {
				assert_int_equal(pos_kwindex_remove(x, d + 1), POS_OK);
				m.len[d] = -1;
			}
		}
		size_t live = 0;
		for (int d = 0; d < nd; d++)
			live += m.len[d] >= 0;
		assert_int_equal(pos_kwindex_docs(x), live);
		/* each word's document frequency is the live memories holding
		 * it, after the edits and deletions (what the store reads for
		 * IDF and pruning instead of FTS5's vocabulary) */
		for (int w = 0; w < m.nv; w++) {
			size_t want = 0;
			for (int d = 0; d < MAXD; d++) {
				int has = 0;
				for (int i = 0; i < m.len[d]; i++)
					has |= m.word[d][i] == w;
				want += (size_t)has;
			}
			assert_int_equal(pos_kwindex_df(x, m.words[w], strlen(m.words[w])), want);
		}
		assert_int_equal(pos_kwindex_df(x, "nosuchword", 10), 0);
		for (int qi = 0; qi < 40; qi++) {
			int nq = 1 + (int)rnd(6), q[8];
			char unknown[] = "nosuchword";
			const char *terms[8];
			size_t lens[8];
			for (int i = 0; i < nq; i++) {
				q[i] = rnd(20) ? zipf(m.nv) : -1;
				terms[i] = q[i] < 0 ? unknown : m.words[q[i]];
				lens[i] = strlen(terms[i]);
			}
			size_t k = 1 + rnd(rnd(2) ? 10 : 60);
			struct pos_hit a[64], b[64];
			size_t na, nb, sa, sb;
			assert_int_equal(pos_kwindex_top(x, terms, lens, (size_t)nq, k, false, a, &na, &sa),
					 POS_OK);
			assert_int_equal(pos_kwindex_top(x, terms, lens, (size_t)nq, k, true, b, &nb, &sb),
					 POS_OK);
			fast_scored += sa;
			exact_scored += sb;
			/* the same ids in the same order, the same scores */
			assert_int_equal(na, nb);
			for (size_t i = 0; i < na; i++) {
				assert_int_equal(a[i].seq, b[i].seq);
				assert_true(a[i].score == b[i].score);
			}
			/* and BM25 right: each score is the naive one; no memory
			 * left out scores above the last one kept */
			size_t matching = 0;
			double best_out = -1;
			struct stats st;
			naive_stats(&m, q, nq, &st);
			for (int d = 0; d < MAXD; d++) {
				if (m.len[d] < 0)
					continue;
				double s = naive(&m, &st, d, q, nq);
				if (s <= 0)
					continue;
				matching++;
				int in = 0;
				for (size_t i = 0; i < na; i++)
					if (a[i].seq == d + 1) {
						in = 1;
						assert_true(fabs(a[i].score - s) <= 1e-6 * s);
					}
				if (!in && s > best_out)
					best_out = s;
			}
			assert_int_equal(na, matching < k ? matching : k);
			if (na)
				assert_true(best_out <= a[na - 1].score * (1 + 1e-6));
		}
		pos_kwindex_free(x);
	}
	/* the point of it: fewer memories scored than match */
	assert_true(fast_scored < exact_scored);
}

/* A very common word beside a rare one: the top 10 come from the rare
 * word's memories; the common word's memories are not all scored. */
static void common_word_is_not_scored_everywhere(void **state)
{
	(void)state;
	struct pos_kwindex *x = NULL;
	assert_int_equal(pos_kwindex_new(&x), POS_OK);
	for (int d = 0; d < 5000; d++) {
		struct pos_kwtoken t[3] = {{"meet", 4, 0}, {"room", 4, 0}, {"zebra", 5, 0}};
		assert_int_equal(pos_kwindex_put(x, d + 1, t, d % 100 == 0 ? 3 : 2), POS_OK);
	}
	const char *terms[] = {"meet", "zebra"};
	size_t lens[] = {4, 5}, n, scored, n2, scored2;
	struct pos_hit h[10], h2[10];
	assert_int_equal(pos_kwindex_top(x, terms, lens, 2, 10, false, h, &n, &scored), POS_OK);
	assert_int_equal(pos_kwindex_top(x, terms, lens, 2, 10, true, h2, &n2, &scored2), POS_OK);
	assert_int_equal(n, 10);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(h[i].seq, (int64_t)(i * 100 + 1)); /* zebra's, in order */
		assert_int_equal(h2[i].seq, h[i].seq);
	}
	assert_int_equal(scored2, 5000);
	assert_true(scored < 200);
	/* removing and re-adding keeps the answer right */
	assert_int_equal(pos_kwindex_remove(x, 1), POS_OK);
	assert_int_equal(pos_kwindex_top(x, terms, lens, 2, 10, false, h, &n, NULL), POS_OK);
	assert_int_equal(h[0].seq, 101);
	assert_int_equal(pos_kwindex_docs(x), 4999);
	pos_kwindex_free(x);
}

static void limits_are_checked(void **state)
{
	(void)state;
	struct pos_kwindex *x = NULL;
	assert_int_equal(pos_kwindex_new(&x), POS_OK);
	const char *terms[POS_KW_MAX_TERMS + 1];
	size_t lens[POS_KW_MAX_TERMS + 1], n;
	for (size_t i = 0; i <= POS_KW_MAX_TERMS; i++) {
		terms[i] = "a";
		lens[i] = 1;
	}
	struct pos_hit h[1];
	assert_int_equal(pos_kwindex_top(x, terms, lens, POS_KW_MAX_TERMS + 1, 1, false, h, &n,
					 NULL),
			 POS_ERR_INVALID_REQUEST);
	assert_int_equal(pos_kwindex_top(x, terms, lens, 1, 1, false, h, &n, NULL), POS_OK);
	assert_int_equal(n, 0);
	struct pos_kwtoken bad = {"a", 1, POS_KW_COLUMNS};
	assert_int_equal(pos_kwindex_put(x, 1, &bad, 1), POS_ERR_INVALID_REQUEST);
	assert_int_equal(pos_kwindex_docs(x), 0);
	pos_kwindex_free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(maxscore_equals_exhaustive),
		cmocka_unit_test(common_word_is_not_scored_everywhere),
		cmocka_unit_test(limits_are_checked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
