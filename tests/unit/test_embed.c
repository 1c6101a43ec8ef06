/* Unit tests for src/embed: tokenizer, Porter stemmer, the built-in
 * embedder and the per-user co-occurrence model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "embed/cooc.h"
#include "embed/embed.h"
#include "embed/token.h"

#define DIM 256

/* ---- helpers --------------------------------------------------------------- */

static struct pos_embedder *builtin(void)
{
	struct pos_embedder *e = NULL;
	assert_int_equal(pos_embed_builtin_new(DIM, &e), POS_OK);
	return e;
}

static void embed_s(const struct pos_embedder *e, const char *s, float *v)
{
	assert_int_equal(pos_embed(e, s, strlen(s), v), POS_OK);
}

static float dot(const float *a, const float *b)
{
	float s = 0;
	for (int i = 0; i < DIM; i++)
		s += a[i] * b[i];
	return s;
}

static float cos_s(const struct pos_embedder *e, const char *a, const char *b)
{
	float va[DIM], vb[DIM];
	embed_s(e, a, va);
	embed_s(e, b, vb);
	return dot(va, vb);
}

static float norm(const float *v)
{
	return sqrtf(dot(v, v));
}

static bool all_zero(const float *v)
{
	for (int i = 0; i < DIM; i++)
		if (v[i] != 0)
			return false;
	return true;
}

/* "a b c" -> the stems, space-separated, into out */
static void stems(const char *text, char *out, size_t cap)
{
	struct pos_token_iter it;
	struct pos_token t;
	size_t n = 0;
	out[0] = '\0';
	pos_token_iter_init(&it, text, strlen(text));
	while (pos_token_next(&it, &t)) {
		int m = snprintf(out + n, cap - n, "%s%s", n ? " " : "", t.stem);
		assert_true(m > 0 && (size_t)m < cap - n);
		n += (size_t)m;
	}
}

/* ---- tokenizer --------------------------------------------------------------- */

static void porter_stems_classic_examples(void **state)
{
	static const char *const cases[][2] = {
		{"caresses", "caress"}, {"ponies", "poni"}, {"ties", "ti"},
		{"cats", "cat"}, {"feed", "feed"}, {"agreed", "agre"},
		{"plastered", "plaster"}, {"motoring", "motor"}, {"sing", "sing"},
		{"hopping", "hop"}, {"hoping", "hope"}, {"falling", "fall"},
		{"hissing", "hiss"}, {"filing", "file"}, {"happy", "happi"},
		{"sky", "sky"}, {"relational", "relat"},
		{"generalization", "gener"}, {"running", "run"},
		{"runs", "run"}, {"meetings", "meet"}, {"meeting", "meet"},
		{"adoption", "adopt"}, {"effective", "effect"},
		{"goodness", "good"}, {"hopeful", "hope"}, {"rate", "rate"},
		{"cease", "ceas"}, {"controll", "control"}, {"roll", "roll"},
		{"digitizer", "digit"}, {"electrical", "electr"},
		{"sensibiliti", "sensibl"}, {"is", "is"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char w[POS_TOKEN_MAX];
		size_t n = strlen(cases[i][0]);
		memcpy(w, cases[i][0], n);
		n = pos_token_stem(w, n);
		w[n] = '\0';
		assert_string_equal(w, cases[i][1]);
	}
}

static void tokenizer_normalizes(void **state)
{
	char out[512];
	stems("Running RUNS, the Meetings!", out, sizeof(out));
	assert_string_equal(out, "run run meet");
	/* accents folded, ß -> ss, typographic apostrophe, clitics dropped */
	stems("Café Straße naïve Anna's don’t we'll can't", out, sizeof(out));
	assert_string_equal(out, "cafe strass naiv anna");
	/* numbers kept whole, single letters dropped, 1 digit kept */
	stems("x 2023 7 e-mail", out, sizeof(out));
	assert_string_equal(out, "2023 7 mail");
	/* Cyrillic lower-cased, CJK split per character */
	stems("ПРИВЕТ мир 東京", out, sizeof(out));
	assert_string_equal(out, "привет мир 東 京");
	/* invalid UTF-8 is a separator, never an error */
	stems("abc\xff\xfe" "def \xc3", out, sizeof(out));
	assert_string_equal(out, "abc def");
	/* long words are cut, not overflowed */
	stems("supercalifragilisticexpialidociousnesses", out, sizeof(out));
	assert_true(strlen(out) < POS_TOKEN_MAX);
}

static void stop_words(void **state)
{
	assert_true(pos_token_is_stop("the", 3));
	assert_true(pos_token_is_stop("yourselves", 10));
	assert_false(pos_token_is_stop("garden", 6));
	assert_false(pos_token_is_stop("", 0));
	char out[64];
	stems("the and of to it was", out, sizeof(out));
	assert_string_equal(out, "");
}

/* ---- the built-in embedder ---------------------------------------------------- */

static void builtin_model_and_errors(void **state)
{
	struct pos_embedder *e = builtin();
	assert_string_equal(e->model, "builtin-hash-v1-256");
	assert_int_equal(e->dim, DIM);
	pos_embed_free(e);

	struct pos_embedder *x = (void *)1;
	assert_int_equal(pos_embed_builtin_new(8, &x), POS_ERR_INVALID_REQUEST);
	assert_null(x);
	assert_int_equal(pos_embed_builtin_new(POS_EMBED_MAX_DIM + 1, &x),
			 POS_ERR_INVALID_REQUEST);
	struct pos_embed_builtin_params p;
	pos_embed_builtin_defaults(&p);
	p.probes = 3;
	assert_int_equal(pos_embed_builtin_new_params(DIM, &p, &x),
			 POS_ERR_INVALID_REQUEST);
	p.probes = 1;
	p.trigram = -1;
	assert_int_equal(pos_embed_builtin_new_params(DIM, &p, &x),
			 POS_ERR_INVALID_REQUEST);
	/* other weights: another model string, stable */
	p.trigram = 0.25f;
	assert_int_equal(pos_embed_builtin_new_params(DIM, &p, &x), POS_OK);
	assert_true(strncmp(x->model, "builtin-hash-v1-256-w", 21) == 0);
	assert_int_equal(strlen(x->model), 29);
	struct pos_embedder *y;
	assert_int_equal(pos_embed_builtin_new_params(DIM, &p, &y), POS_OK);
	assert_string_equal(x->model, y->model);
	pos_embed_free(x);
	pos_embed_free(y);
	pos_embed_free(NULL);

	pos_alloc_fail_after(1);
	assert_int_equal(pos_embed_builtin_new(DIM, &x), POS_ERR_NOMEM);
	pos_alloc_fail_after(0);
}

static void builtin_is_deterministic(void **state)
{
	struct pos_embedder *a = builtin(), *b = builtin();
	const char *t = "Dinner with Maria at the Italian restaurant on Friday";
	float va[DIM], vb[DIM], vc[DIM];
	embed_s(a, t, va);
	embed_s(b, t, vb);
	embed_s(a, t, vc);
	assert_memory_equal(va, vb, sizeof(va));
	assert_memory_equal(va, vc, sizeof(va));
	/* pinned: a change here changes the model, so bump "v1" in its name
	 * (stored vectors would silently stop matching new queries) */
	long sig = 0, milli = 0;
	for (int i = 0; i < DIM; i++) {
		if (va[i] != 0)
			sig += (va[i] > 0 ? 1 : -1) * (i + 1);
		milli += lrintf(va[i] * 1000) * (i % 7 + 1);
	}
	assert_int_equal(sig, -662);
	assert_int_equal(milli, -4412);
	/* not NUL-terminated input: only len bytes are read */
	char buf[8] = {'g', 'a', 'r', 'd', 'e', 'n', 'X', 'Y'};
	float g1[DIM], g2[DIM];
	assert_int_equal(pos_embed(a, buf, 6, g1), POS_OK);
	embed_s(a, "garden", g2);
	assert_memory_equal(g1, g2, sizeof(g1));
	pos_embed_free(a);
	pos_embed_free(b);
}

static void builtin_normalizes_and_empty_is_zero(void **state)
{
	struct pos_embedder *e = builtin();
	float v[DIM];
	embed_s(e, "Pick up the dry cleaning before six", v);
	assert_float_equal(norm(v), 1.0f, 1e-5);
	embed_s(e, "a", v);
	assert_true(all_zero(v));
	const char *empties[] = {"", "   ", "the of and", "!!! ... ???", "\xff"};
	for (size_t i = 0; i < sizeof(empties) / sizeof(*empties); i++) {
		embed_s(e, empties[i], v);
		assert_true(all_zero(v));
	}
	assert_int_equal(pos_embed(e, NULL, 0, v), POS_OK);
	assert_true(all_zero(v));
	/* a huge text is read up to the token cap and still normalized */
	size_t big = 1 << 20;
	char *s = pos_malloc(big);
	assert_non_null(s);
	for (size_t i = 0; i < big; i++)
		s[i] = (char)("abcdefgh "[i % 9]);
	assert_int_equal(pos_embed(e, s, big, v), POS_OK);
	assert_float_equal(norm(v), 1.0f, 1e-5);
	pos_free(s);
	pos_embed_free(e);
}

static void builtin_variants_beat_unrelated(void **state)
{
	struct pos_embedder *e = builtin();
	static const char *const related[][2] = {
		{"running", "runs"},         {"Meeting", "meetings"},
		{"restaurant", "restuarant"}, {"accommodation", "acommodation"},
		{"photographs", "photograph"}, {"Café", "cafe"},
		{"definitely", "definately"},
	};
	static const char *const others[] = {
		"banana", "tuesday", "guitar", "invoice", "mountain",
		"doctor", "keyboard", "river", "birthday", "spreadsheet",
	};
	for (size_t i = 0; i < sizeof(related) / sizeof(related[0]); i++) {
		float r = cos_s(e, related[i][0], related[i][1]);
		for (size_t j = 0; j < sizeof(others) / sizeof(*others); j++) {
			float u = cos_s(e, related[i][0], others[j]);
			if (!(r > u + 0.15f))
				fail_msg("%s/%s %.3f vs %s %.3f", related[i][0],
					 related[i][1], r, others[j], u);
		}
	}
	/* in sentences too */
	float same = cos_s(e, "booked a table at the restaurant",
			   "table booking at a restuarant");
	float diff = cos_s(e, "booked a table at the restaurant",
			   "the guitar lesson moved to Monday");
	assert_true(same > diff + 0.3f);
	pos_embed_free(e);
}

static void batch_matches_single(void **state)
{
	struct pos_embedder *e = builtin();
	const char *texts[] = {"one apple", "", "two pears and a plum"};
	size_t lens[] = {9, 0, 20};
	float out[3 * DIM], one[DIM];
	assert_int_equal(pos_embed_batch(e, texts, lens, 3, out), POS_OK);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pos_embed(e, texts[i], lens[i], one), POS_OK);
		assert_memory_equal(out + i * DIM, one, sizeof(one));
	}
	pos_embed_free(e);
}

struct thread_arg {
	const struct pos_embedder *e;
	float first[DIM];
	bool same;
};

static void *embed_many(void *p)
{
	struct thread_arg *a = p;
	const char *t = "Call the plumber about the leaking kitchen tap";
	float v[DIM];
	a->same = true;
	pos_embed(a->e, t, strlen(t), a->first);
	for (int i = 0; i < 2000; i++) {
		pos_embed(a->e, t, strlen(t), v);
		a->same = a->same && memcmp(v, a->first, sizeof(v)) == 0;
	}
	return NULL;
}

static void embed_from_many_threads(void **state)
{
	struct pos_embedder *e = builtin();
	struct thread_arg a[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		a[i].e = e;
		assert_int_equal(pthread_create(&th[i], NULL, embed_many, &a[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_true(a[i].same);
		assert_memory_equal(a[i].first, a[0].first, sizeof(a[0].first));
	}
	pos_embed_free(e);
}

static float idf_guitar_low(void *ctx, const char *stem, size_t len)
{
	(void)ctx;
	return len == 6 && memcmp(stem, "guitar", 6) == 0 ? 0.0f : 1.0f;
}

static void query_weights_and_extra_terms(void **state)
{
	struct pos_embedder *e = builtin();
	float q[DIM], plain[DIM], doc[DIM];
	const char *qs = "guitar lessons";
	/* no weight function and no extras: the same as pos_embed */
	assert_int_equal(pos_embed_builtin_query(e, qs, strlen(qs), NULL, NULL,
						 NULL, 0, q), POS_OK);
	embed_s(e, qs, plain);
	assert_memory_equal(q, plain, sizeof(q));
	/* weight 0 removes a stem's features */
	assert_int_equal(pos_embed_builtin_query(e, qs, strlen(qs),
						 idf_guitar_low, NULL, NULL,
						 0, q), POS_OK);
	embed_s(e, "guitar", doc);
	assert_true(dot(q, doc) < 0.15f);
	/* an extra term pulls the query toward texts that have it */
	embed_s(e, "band rehearsal tonight", doc);
	float before = dot(plain, doc);
	struct pos_embed_term x = {"band", 4, 1.0f};
	assert_int_equal(pos_embed_builtin_query(e, qs, strlen(qs), NULL, NULL,
						 &x, 1, q), POS_OK);
	assert_float_equal(norm(q), 1.0f, 1e-5);
	assert_true(dot(q, doc) > before + 0.1f);
	/* only the built-in embedder */
	struct pos_embedder fake = *e;
	struct pos_embedder_ops ops = *e->ops;
	fake.ops = &ops;
	assert_int_equal(pos_embed_builtin_query(&fake, qs, 3, NULL, NULL, NULL,
						 0, q), POS_ERR_INVALID_REQUEST);
	pos_embed_free(e);
}

/* ---- co-occurrence ---------------------------------------------------------- */

static const char *const corpus[] = {
	"Played guitar with the band at rehearsal",
	"Band rehearsal moved to Thursday, bring the guitar",
	"New strings for my guitar before the band gig",
	"The band gig went great, guitar solo was fun",
	"Dentist appointment on Monday morning",
	"Dentist said to floss more, next appointment in June",
	"Bought apples and bread",
	"Bread and apples again, also milk",
	"Monday morning meeting with the team",
	"Team meeting notes: ship on Friday",
};

static struct pos_cooc *corpus_model(void)
{
	struct pos_cooc *m;
	assert_int_equal(pos_cooc_new(NULL, &m), POS_OK);
	for (size_t i = 0; i < sizeof(corpus) / sizeof(*corpus); i++)
		assert_int_equal(pos_cooc_add(m, corpus[i], strlen(corpus[i])),
				 POS_OK);
	assert_int_equal(pos_cooc_finish(m), POS_OK);
	return m;
}

static bool has_term(const struct pos_embed_term *t, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].len == strlen(s) && memcmp(t[i].stem, s, t[i].len) == 0)
			return true;
	return false;
}

static void cooc_idf_and_expansion(void **state)
{
	struct pos_cooc *m = corpus_model();
	assert_int_equal(pos_cooc_docs(m), 10);
	assert_true(pos_cooc_vocab(m) > 20);
	assert_true(pos_cooc_memory(m) > 0);
	/* rarer stems weigh more; unknown stems weigh most */
	float guitar = pos_cooc_idf(m, "guitar", 6);
	float dentist = pos_cooc_idf(m, "dentist", 7);
	float milk = pos_cooc_idf(m, "milk", 4);
	float never = pos_cooc_idf(m, "zebra", 5);
	assert_true(guitar < dentist);
	assert_true(dentist < milk);
	assert_true(milk <= never);

	struct pos_embed_term t[8];
	size_t n = pos_cooc_expand(m, "guitar", 6, 1.0f, t, 8);
	assert_true(n > 0);
	assert_true(has_term(t, n, "band"));
	assert_false(has_term(t, n, "guitar")); /* not the query's own stem */
	assert_false(has_term(t, n, "dentist"));
	for (size_t i = 1; i < n; i++)
		assert_true(t[i - 1].weight >= t[i].weight);
	n = pos_cooc_expand(m, "dentist", 7, 1.0f, t, 8);
	assert_true(has_term(t, n, "appoint"));
	/* alpha scales; cap bounds */
	struct pos_embed_term h[8];
	size_t nh = pos_cooc_expand(m, "dentist", 7, 0.5f, h, 1);
	assert_int_equal(nh, 1);
	assert_float_equal(h[0].weight, 0.5f * t[0].weight, 1e-6);
	assert_int_equal(pos_cooc_expand(m, "", 0, 1, t, 8), 0);
	assert_int_equal(pos_cooc_expand(m, "zebra", 5, 1, t, 8), 0);

	/* expansion brings a related memory closer */
	struct pos_embedder *e = builtin();
	float q0[DIM], q1[DIM], doc[DIM];
	const char *qs = "dentist";
	n = pos_cooc_expand(m, qs, strlen(qs), 0.5f, t, 8);
	pos_embed_builtin_query(e, qs, strlen(qs), pos_cooc_idf, m, NULL, 0, q0);
	pos_embed_builtin_query(e, qs, strlen(qs), pos_cooc_idf, m, t, n, q1);
	embed_s(e, "appointment next week", doc);
	assert_true(dot(q1, doc) > dot(q0, doc));
	pos_embed_free(e);
	pos_cooc_free(m);
}

static void cooc_is_deterministic_and_removable(void **state)
{
	struct pos_cooc *a = corpus_model(), *b = corpus_model();
	struct pos_embed_term ta[8], tb[8];
	size_t na = pos_cooc_expand(a, "band", 4, 1, ta, 8);
	size_t nb = pos_cooc_expand(b, "band", 4, 1, tb, 8);
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++) {
		assert_int_equal(ta[i].len, tb[i].len);
		assert_memory_equal(ta[i].stem, tb[i].stem, ta[i].len);
		assert_true(ta[i].weight == tb[i].weight);
	}
	/* removing the guitar memories undoes their counts */
	float before = pos_cooc_idf(a, "guitar", 6);
	for (int i = 0; i < 4; i++)
		pos_cooc_remove(a, corpus[i], strlen(corpus[i]));
	assert_int_equal(pos_cooc_docs(a), 6);
	assert_true(pos_cooc_idf(a, "guitar", 6) > before);
	assert_int_equal(pos_cooc_finish(a), POS_OK);
	assert_int_equal(pos_cooc_expand(a, "guitar", 6, 1, ta, 8), 0);
	pos_cooc_free(a);
	pos_cooc_free(b);
	pos_cooc_free(NULL);
}

static void cooc_caps_and_errors(void **state)
{
	struct pos_cooc *m = (void *)1;
	struct pos_cooc_params p;
	pos_cooc_defaults(&p);
	p.window = 0;
	assert_int_equal(pos_cooc_new(&p, &m), POS_ERR_INVALID_REQUEST);
	assert_null(m);
	pos_cooc_defaults(&p);
	p.max_vocab = 5;
	p.max_pairs = 3;
	assert_int_equal(pos_cooc_new(&p, &m), POS_OK);
	for (size_t i = 0; i < sizeof(corpus) / sizeof(*corpus); i++)
		assert_int_equal(pos_cooc_add(m, corpus[i], strlen(corpus[i])),
				 POS_OK);
	assert_int_equal(pos_cooc_vocab(m), 5);
	assert_int_equal(pos_cooc_finish(m), POS_OK);
	pos_cooc_free(m);

	/* out of memory on the first growth */
	assert_int_equal(pos_cooc_new(NULL, &m), POS_OK);
	pos_alloc_fail_after(1);
	assert_int_equal(pos_cooc_add(m, corpus[0], strlen(corpus[0])),
			 POS_ERR_NOMEM);
	pos_alloc_fail_after(0);
	assert_int_equal(pos_cooc_add(m, corpus[0], strlen(corpus[0])), POS_OK);
	pos_alloc_fail_after(1);
	assert_int_equal(pos_cooc_finish(m), POS_ERR_NOMEM);
	pos_alloc_fail_after(0);
	struct pos_embed_term t[4];
	assert_int_equal(pos_cooc_expand(m, "guitar", 6, 1, t, 4), 0);
	pos_cooc_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(porter_stems_classic_examples),
		cmocka_unit_test(tokenizer_normalizes),
		cmocka_unit_test(stop_words),
		cmocka_unit_test(builtin_model_and_errors),
		cmocka_unit_test(builtin_is_deterministic),
		cmocka_unit_test(builtin_normalizes_and_empty_is_zero),
		cmocka_unit_test(builtin_variants_beat_unrelated),
		cmocka_unit_test(batch_matches_single),
		cmocka_unit_test(embed_from_many_threads),
		cmocka_unit_test(query_weights_and_extra_terms),
		cmocka_unit_test(cooc_idf_and_expansion),
		cmocka_unit_test(cooc_is_deterministic_and_removable),
		cmocka_unit_test(cooc_caps_and_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
