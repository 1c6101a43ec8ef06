/*
 * Unit tests for src/llm: the offline responder's selection rules
 * (builtin.c) and pos_llm_complete over it (streamed line by line, stopped
 * by the caller), and the provider's name. More responder cases are in
 * test_assistant.c; the OpenAI-compatible client is tested against the
 * stand-in in test_openai.c and tests/api/test_chat.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/clock.h"
#include "llm/llm.h"

static int64_t day(const char *iso)
{
	int64_t t = 0;
	assert_true(pos_time_parse(iso, strlen(iso), true, &t));
	return t;
}

static size_t count(const char *s, const char *needle)
{
	size_t n = 0;
	for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

static const char *answer(struct pos_arena *a, const char *q,
			  const struct pos_llm_doc *docs, size_t n)
{
	struct pos_llm_request req = {.question = q, .docs = docs, .n_docs = n};
	const char *out = NULL;
	size_t len = 0;
	assert_int_equal(pos_llm_builtin_answer(a, &req, &out, &len), POS_OK);
	return out;
}

static void at_most_five_sentences(void **state)
{
	struct pos_arena *a = pos_arena_new();
	const char *t = "Tea one. Tea two. Tea three. Tea four. Tea five. Tea six. Tea seven.";
	struct pos_llm_doc d = {"m", day("2026-03-04"), t, strlen(t), false, 0};
	const char *out = answer(a, "tea", &d, 1);
	assert_int_equal(count(out, "\n- 2026-03-04 (Wed): Tea"), 5);
	assert_non_null(strstr(out, "Tea one. [1]"));
	assert_null(strstr(out, "Tea six"));
	pos_arena_destroy(a);
}

/* Sentences keep the order of the memories, whatever scored best. */
static void citations_follow_memory_order(void **state)
{
	struct pos_arena *a = pos_arena_new();
	const char *t1 = "The boat is blue.";
	const char *t2 = "The boat trip with Anna was in June.";
	struct pos_llm_doc docs[] = {
		{"a", day("2026-01-01"), t1, strlen(t1), false, 0},
		{"b", day("2026-06-30"), t2, strlen(t2), false, 0},
	};
	const char *out = answer(a, "boat trip Anna", docs, 2);
	const char *first = strstr(out, "The boat is blue. [1]");
	const char *second = strstr(out, "with Anna was in June. [2]");
	assert_non_null(first);
	assert_non_null(second);
	assert_true(first < second);
	pos_arena_destroy(a);
}

/* Stop words and words under three letters are not terms; a term matches a
 * longer word only when they share four letters or more. */
static void what_counts_as_a_match(void **state)
{
	struct pos_arena *a = pos_arena_new();
	const char *t = "The carpet is new. My car is red.";
	struct pos_llm_doc d = {"m", day("2026-02-02"), t, strlen(t), false, 0};
	const char *out = answer(a, "what is the car", &d, 1);
	assert_non_null(strstr(out, "My car is red. [1]"));
	assert_null(strstr(out, "carpet"));
	/* only stop words: nothing matches, the first sentence stands in */
	out = answer(a, "what is the", &d, 1);
	assert_non_null(strstr(out, "The carpet is new. [1]"));
	assert_null(strstr(out, "My car"));
	pos_arena_destroy(a);
}

/* Without a word match, the first sentence of at most three memories. */
static void fallback_takes_three_memories(void **state)
{
	struct pos_arena *a = pos_arena_new();
	const char *t[] = {"Alpha first. Alpha second.", "Beta first.", "Gamma first.",
			   "Delta first."};
	struct pos_llm_doc docs[4];
	for (int i = 0; i < 4; i++)
		docs[i] = (struct pos_llm_doc){"m", day("2026-01-05"), t[i], strlen(t[i]), false, 0};
	const char *out = answer(a, "zzzz", docs, 4);
	assert_non_null(strstr(out, "Alpha first. [1]"));
	assert_non_null(strstr(out, "Beta first. [2]"));
	assert_non_null(strstr(out, "Gamma first. [3]"));
	assert_null(strstr(out, "Delta"));
	assert_null(strstr(out, "Alpha second"));
	pos_arena_destroy(a);
}

struct pieces {
	struct pos_buf all;
	size_t n;
	size_t stop_after; /* 0 = never stop */
};

static bool collect(void *ctx, const char *text, size_t len)
{
	struct pieces *p = ctx;
	assert_true(len > 0);
	/* every piece but the last is one whole line */
	assert_null(memchr(text, '\n', len - 1));
	assert_int_equal(pos_buf_add(&p->all, text, len), POS_OK);
	p->n++;
	return !p->stop_after || p->n < p->stop_after;
}

static void complete_streams_the_builtin_answer(void **state)
{
	struct pos_arena *a = pos_arena_new();
	struct pos_llm *l;
	struct pos_error err;
	struct pos_llm_config cfg = {0};
	assert_int_equal(pos_llm_new(&cfg, &l, &err), POS_OK);
	const char *t = "Piano lesson on Monday. Piano tuning in May.";
	struct pos_llm_doc d = {"m", day("2026-04-01"), t, strlen(t), false, 0};
	struct pos_llm_request req = {.question = "piano", .docs = &d, .n_docs = 1};
	struct pieces p = {.n = 0};
	pos_buf_init(&p.all, 1 << 20);
	const char *out = NULL;
	size_t len = 0;
	assert_int_equal(pos_llm_complete(l, a, &req, collect, &p, &out, &len, &err), POS_OK);
	assert_int_equal(p.all.len, len);
	assert_memory_equal(p.all.data, out, len);
	assert_int_equal(p.n, count(out, "\n") + (out[len - 1] != '\n'));
	assert_true(p.n >= 4);

	/* the caller going away stops the answer */
	struct pieces q = {.n = 0, .stop_after = 2};
	pos_buf_init(&q.all, 1 << 20);
	assert_int_equal(pos_llm_complete(l, a, &req, collect, &q, &out, &len, &err),
			 POS_ERR_CONFLICT);
	assert_string_equal(err.message, "cancelled");
	assert_int_equal(q.n, 2);

	/* without a callback the answer comes in one piece */
	assert_int_equal(pos_llm_complete(l, a, &req, NULL, NULL, &out, &len, &err), POS_OK);
	assert_memory_equal(p.all.data, out, len);
	pos_buf_free(&p.all);
	pos_buf_free(&q.all);
	pos_llm_free(l);
	pos_arena_destroy(a);
}

static void remote_provider_is_named_by_its_model(void **state)
{
	struct pos_llm *l;
	struct pos_error err;
	struct pos_llm_config cfg = {.url = "http://127.0.0.1:9/v1", .model = "llama3.1"};
	assert_int_equal(pos_llm_new(&cfg, &l, &err), POS_OK);
	assert_false(pos_llm_builtin(l));
	assert_string_equal(pos_llm_name(l), "openai:llama3.1");
	pos_llm_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(at_most_five_sentences),
		cmocka_unit_test(citations_follow_memory_order),
		cmocka_unit_test(what_counts_as_a_match),
		cmocka_unit_test(fallback_takes_three_memories),
		cmocka_unit_test(complete_streams_the_builtin_answer),
		cmocka_unit_test(remote_provider_is_named_by_its_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
