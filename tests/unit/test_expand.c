/*
 * Unit tests for src/search/wordnet.c and src/search/expand.c: WordNet's
 * related words (base forms, derived forms, synonyms of the first sense),
 * and the data-driven expansion cases in tests/data/expand.
 *
 * Case files (syntax in datacase.h): input is the query as typed;
 * `typing: 1` parses it as search as you type; `docs: N` is the index's
 * memory count (default 1000); each `df: word N` gives a word's document
 * frequency (a word not listed is in no memory); `per-term` and
 * `max-total` override the limits (3, 12). Expected: `expect` (the
 * alternatives, space-separated, in order, an irregular form — counted
 * as the word, not weighted — marked `=`; empty for none) and, when
 * present, `match` (pos_query_fts_match with stop words dropped).
 *
 * Needs WordNet 3.0 in /usr/share/wordnet (Debian wordnet-base, in
 * scripts/install-deps); skipped (77) without it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/arena.h"
#include "search/expand.h"
#include "search/query.h"
#include "search/wordnet.h"

#include "datacase.h"

#define WORDNET_DIR "/usr/share/wordnet"

static struct pos_wordnet *wn;

/* ---- WordNet itself ---- */

static void related_is(const char *word, const char *want)
{
	struct pos_wordnet_word r[8];
	size_t n = pos_wordnet_related(wn, word, strlen(word), r, 8);
	char got[512] = "";
	size_t used = 0;
	for (size_t i = 0; i < n; i++)
		used += (size_t)snprintf(got + used, sizeof(got) - used, "%s%s%s", i ? " " : "",
					 r[i].w, r[i].kind == POS_WORDNET_DERIVED ? "+"
						 : r[i].kind == POS_WORDNET_FORM ? "=" : "");
	if (strcmp(got, want) != 0)
		fail_msg("%s: expected [%s], got [%s]", word, want, got);
}

static void wordnet_related(void **state)
{
	(void)state;
	/* synonyms of the first sense; collocations and "Dr." left out */
	related_is("physician", "doctor doc md medico");
	/* derived forms (+) first */
	related_is("dermatologist", "dermatology+");
	related_is("adoption", "adopt+ acceptance acceptation espousal");
	/* inflected forms reduced first: a plural, an irregular verb, a case */
	related_is("physicians", "doctor doc md medico");
	related_is("ran", "run= runner+ running+");
	related_is("run", "ran= runner+ running+");
	related_is("children", "child= childly+ childhood+ kid youngster minor shaver nipper");
	related_is("go", "gone= went=");     /* two letters: forms only */
	related_is("kids", "child youngster minor shaver nipper tiddler tike tyke");
	related_is("Physician", "doctor doc md medico");
	/* the most frequent part of speech's synonyms only: "dog" is a
	 * noun (no one-word synonym), not the verb ("chase", "tail") */
	related_is("dog", "");  /* and not "dogged" (a stemmer's business) */
	/* not words of WordNet, or not words */
	related_is("zzqx", "");
	related_is("a", "");            /* under 2 letters */
	related_is("x-ray", "");
	related_is("caf\xc3\xa9", "");
	struct pos_wordnet_word r[2];
	assert_int_equal(pos_wordnet_related(wn, "physician", 9, r, 2), 2);
	assert_string_equal(r[1].w, "doc");
	assert_int_equal(pos_wordnet_related(wn, "physician", 9, r, 0), 0);
	assert_int_equal(pos_wordnet_related(NULL, "physician", 9, r, 2), 0);
}

static void wordnet_missing(void **state)
{
	(void)state;
	struct pos_wordnet *w = NULL;
	assert_int_equal(pos_wordnet_open("/nonexistent/wordnet", &w), POS_ERR_NOT_FOUND);
	assert_null(w);
	assert_int_equal(pos_wordnet_open("", &w), POS_ERR_NOT_FOUND);
	/* a directory without the files */
	assert_int_equal(pos_wordnet_open("/", &w), POS_ERR_NOT_FOUND);
	pos_wordnet_close(NULL);
}

/* ---- expansion cases ---- */

struct fake_index {
	const struct datacase *c;
	int64_t docs;
	unsigned calls;
	const struct pos_query *q;
	int64_t typed_df;       /* a word typed without a df line (key typed-df, default 1) */
};

static enum pos_err fake_df(void *ctx, const char *word, int64_t *df, int64_t *docs)
{
	struct fake_index *f = ctx;
	f->calls++;
	*df = 0;
	*docs = f->docs;
	for (size_t i = 0; f->q && i < f->q->n_terms; i++)
		if (strcmp(f->q->terms[i], word) == 0)
			*df = f->typed_df;
	size_t wl = strlen(word);
	for (size_t i = 0; i < f->c->n; i++) {
		const char *v = f->c->val[i];
		if (strcmp(f->c->key[i], "df") == 0 && strncmp(v, word, wl) == 0 && v[wl] == ' ')
			*df = strtoll(v + wl + 1, NULL, 10);
	}
	return POS_OK;
}

static enum pos_err failing_df(void *ctx, const char *word, int64_t *df, int64_t *docs)
{
	(void)ctx;
	(void)word;
	*df = *docs = 0;
	return POS_ERR_STORE;
}

static int run_case(const struct datacase *c)
{
	struct pos_arena *a = pos_arena_new();
	assert_non_null(a);
	struct pos_query q;
	struct pos_error err = {0};
	const char *typing = datacase_get(c, "typing");
	unsigned flags = typing && strcmp(typing, "1") == 0 ? POS_QUERY_TYPING : 0;
	if (pos_query_parse_ex(a, c->input, c->input_len, flags, &q, &err) != POS_OK)
		fail_msg("%s: the query does not parse", c->name);
	const char *docs = datacase_get(c, "docs");
	const char *pt = datacase_get(c, "per-term"), *mt = datacase_get(c, "max-total");
	const char *tm = datacase_get(c, "term-df-max");
	const char *td = datacase_get(c, "typed-df");
	struct fake_index f = {c, docs ? strtoll(docs, NULL, 10) : 1000, 0, &q,
			       td ? strtoll(td, NULL, 10) : 1};
	struct pos_expand_limits lim = {pt ? (unsigned)atoi(pt) : POS_EXPAND_PER_TERM,
					mt ? (unsigned)atoi(mt) : POS_EXPAND_MAX_TOTAL, 0.02, 2000,
					tm ? strtoll(tm, NULL, 10) : -1};
	struct pos_expand_alt *alts = NULL;
	size_t n = 0;
	assert_int_equal(pos_expand_terms(wn, a, &q, &lim, fake_df, &f, &alts, &n), POS_OK);
	assert_non_null(alts);
	int failed = 0;
	char got[1024] = "";
	size_t used = 0;
	const char **words = pos_arena_alloc(a, (n + 1) * sizeof(*words));
	for (size_t i = 0; i < n; i++) {
		words[i] = alts[i].word;
		used += (size_t)snprintf(got + used, sizeof(got) - used, "%s%s%s", i ? " " : "",
					 alts[i].word, alts[i].weighted ? "" : "=");
	}
	const char *want = datacase_get(c, "expect");
	if (strcmp(want ? want : "", got) != 0) {
		fprintf(stderr, "FAIL %s: expect\n  expected: [%s]\n  got:      [%s]\n", c->name,
			want ? want : "", got);
		failed = 1;
	}
	/* the index is asked about a bounded number of words */
	if (f.calls > q.n_terms * (POS_EXPAND_TRIES + 1)) {
		fprintf(stderr, "FAIL %s: %u lookups\n", c->name, f.calls);
		failed = 1;
	}
	const char *wm = datacase_get(c, "match");
	if (wm) {
		q.alts = words;
		q.n_alts = n;
		const char *m = NULL;
		assert_int_equal(pos_query_fts_match(a, &q, true, &m), POS_OK);
		if (strcmp(wm, m ? m : "(none)") != 0) {
			fprintf(stderr, "FAIL %s: match\n  expected: [%s]\n  got:      [%s]\n", c->name,
				wm, m ? m : "(none)");
			failed = 1;
		}
	}
	pos_arena_destroy(a);
	return failed;
}

static void expand_cases(void **state)
{
	(void)state;
	struct datacases cs = datacase_load("POS_EXPAND_CASES", "tests/data/expand");
	assert_true(cs.n >= 10);
	int failed = 0;
	for (size_t i = 0; i < cs.n; i++)
		failed += run_case(&cs.v[i]);
	datacase_free(&cs);
	if (failed)
		fail_msg("%d expansion case(s) failed", failed);
}

static void expand_errors(void **state)
{
	(void)state;
	struct pos_arena *a = pos_arena_new();
	struct pos_query q;
	struct pos_error err = {0};
	assert_int_equal(pos_query_parse(a, "physician", 9, &q, &err), POS_OK);
	struct pos_expand_limits lim = {3, 12, 0.02, 2000, -1};
	struct pos_expand_alt *alts = NULL;
	size_t n = 7;
	/* the index failing is the search failing */
	assert_int_equal(pos_expand_terms(wn, a, &q, &lim, failing_df, NULL, &alts, &n),
			 POS_ERR_STORE);
	assert_int_equal(n, 0);
	/* also when it fails on the word typed (term_df_max's lookup) */
	lim.term_df_max = 0;
	n = 7;
	assert_int_equal(pos_expand_terms(wn, a, &q, &lim, failing_df, NULL, &alts, &n),
			 POS_ERR_STORE);
	assert_int_equal(n, 0);
	lim.term_df_max = -1;
	/* no WordNet: nothing, and no lookups */
	assert_int_equal(pos_expand_terms(NULL, a, &q, &lim, failing_df, NULL, &alts, &n), POS_OK);
	assert_int_equal(n, 0);
	assert_non_null(alts);
	pos_arena_destroy(a);
}

int main(void)
{
	if (access(WORDNET_DIR "/index.noun", R_OK) != 0) {
		fprintf(stderr, "skipped: WordNet is not installed in " WORDNET_DIR "\n");
		return 77;
	}
	if (pos_wordnet_open(WORDNET_DIR, &wn) != POS_OK) {
		fprintf(stderr, "cannot open WordNet in " WORDNET_DIR "\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(wordnet_related),
		cmocka_unit_test(wordnet_missing),
		cmocka_unit_test(expand_cases),
		cmocka_unit_test(expand_errors),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	pos_wordnet_close(wn);
	return rc;
}
