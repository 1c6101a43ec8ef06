/*
 * Unit tests for the assistant's pure parts: the offline responder
 * (src/llm/builtin.c) and the persona prompt (src/assistant/persona.c).
 * The chat flow, the OpenAI-compatible client and the jobs are tested
 * black-box in tests/api/test_chat.py against the model stand-in.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "assistant/assistant.h"
#include "base/buf.h"
#include "base/clock.h"
#include "llm/llm.h"

static int64_t day(const char *iso)
{
	int64_t t = 0;
	assert_true(pos_time_parse(iso, strlen(iso), true, &t));
	return t;
}

static const char *answer(struct pos_arena *a, const char *q,
			  const struct pos_llm_doc *docs, size_t n)
{
	struct pos_llm_request req = {.question = q, .docs = docs, .n_docs = n};
	const char *out = NULL;
	size_t len = 0;
	assert_int_equal(pos_llm_builtin_answer(a, &req, &out, &len), POS_OK);
	assert_int_equal(strlen(out), len);
	return out;
}

static void builtin_cites_matching_sentences_with_dates(void **state)
{
	struct pos_arena *a = pos_arena_new();
	const char *t1 = "Bought milk. The dentist appointment is on Friday at 10. Call mum.";
	const char *t2 = "Pancakes need flour and eggs.";
	struct pos_llm_doc docs[] = {
		{"m2", day("2026-11-01"), t2, strlen(t2)},
		{"m1", day("2026-11-20"), t1, strlen(t1)},
	};
	const char *out = answer(a, "When is my dentist appointment?", docs, 2);
	assert_non_null(strstr(out, "No language model is configured"));
	assert_non_null(strstr(out, "- 2026-11-20: The dentist appointment is on Friday at 10. [2]"));
	/* sentences that match nothing are left out */
	assert_null(strstr(out, "Bought milk"));
	assert_null(strstr(out, "Pancakes"));
	pos_arena_destroy(a);
}

static void builtin_matches_word_forms(void **state)
{
	struct pos_arena *a = pos_arena_new();
	const char *t = "We were gardening all weekend.";
	struct pos_llm_doc d = {"m", day("2026-05-02"), t, strlen(t)};
	const char *out = answer(a, "what about my garden?", &d, 1);
	assert_non_null(strstr(out, "gardening all weekend. [1]"));
	pos_arena_destroy(a);
}

static void builtin_falls_back_to_top_memories(void **state)
{
	struct pos_arena *a = pos_arena_new();
	const char *t = "Semantic neighbour without shared words.\nSecond line.";
	struct pos_llm_doc d = {"m", day("2026-01-02"), t, strlen(t)};
	const char *out = answer(a, "zzz qqq", &d, 1);
	assert_non_null(strstr(out, "- 2026-01-02: Semantic neighbour without shared words. [1]"));
	assert_null(strstr(out, "Second line"));
	pos_arena_destroy(a);
}

static void builtin_without_memories_says_so(void **state)
{
	struct pos_arena *a = pos_arena_new();
	const char *out = answer(a, "anything?", NULL, 0);
	assert_non_null(strstr(out, "No language model is configured"));
	assert_non_null(strstr(out, "none of your memories match"));
	pos_arena_destroy(a);
}

static void builtin_cuts_long_sentences_on_utf8_boundaries(void **state)
{
	struct pos_arena *a = pos_arena_new();
	struct pos_buf b;
	pos_buf_init(&b, 1 << 20);
	pos_buf_adds(&b, "dentist ");
	for (int i = 0; i < 400; i++)
		pos_buf_adds(&b, "é");
	struct pos_llm_doc d = {"m", day("2026-01-02"), b.data, b.len};
	const char *out = answer(a, "dentist", &d, 1);
	assert_non_null(strstr(out, "… [1]"));
	/* every byte sequence is whole: no lone continuation byte before "…" */
	const char *cut = strstr(out, "…");
	assert_true(((unsigned char)cut[-1] & 0xC0) != 0xC0);
	pos_buf_free(&b);
	pos_arena_destroy(a);
}

static void builtin_is_the_default_provider(void **state)
{
	struct pos_arena *a = pos_arena_new();
	struct pos_llm *l;
	struct pos_error err;
	struct pos_llm_config cfg = {0};
	assert_int_equal(pos_llm_new(&cfg, &l, &err), POS_OK);
	assert_true(pos_llm_builtin(l));
	assert_string_equal(pos_llm_name(l), "builtin");
	pos_llm_free(l);
	pos_arena_destroy(a);
}

static void bad_provider_configs_are_refused(void **state)
{
	struct pos_llm *l = NULL;
	struct pos_error err;
	struct pos_llm_config no_model = {.url = "http://127.0.0.1:1/v1"};
	assert_int_equal(pos_llm_new(&no_model, &l, &err), POS_ERR_USAGE);
	assert_string_equal(err.field, "llm_model");
	struct pos_llm_config bad_scheme = {.url = "ftp://x/v1", .model = "m"};
	assert_int_equal(pos_llm_new(&bad_scheme, &l, &err), POS_ERR_USAGE);
	assert_string_equal(err.field, "llm_url");
}

static const char *prompt(struct pos_arena *a, const char *persona)
{
	struct pos_buf b;
	pos_buf_init(&b, 1 << 20);
	assert_int_equal(pos_persona_prompt(a, persona, "Ada", day("2026-11-24"), &b), POS_OK);
	char *s = pos_arena_strndup(a, b.data, b.len);
	pos_buf_free(&b);
	return s;
}

static void persona_traits_become_instructions(void **state)
{
	struct pos_arena *a = pos_arena_new();
	const char *p = prompt(a, "{\"name\":\"Jarvis\",\"formality\":10,\"verbosity\":0,"
				  "\"humor\":5,\"proactivity\":7,\"use_emojis\":true,"
				  "\"provide_suggestions\":false,\"ask_clarifying_questions\":false,"
				  "\"expertise_areas\":[\"tax\",\"sailing\"],"
				  "\"system_prompt_additions\":\"Answer in German.\"}");
	assert_non_null(strstr(p, "You are Jarvis, the personal assistant of Ada"));
	assert_non_null(strstr(p, "Today is 2026-11-24"));
	assert_non_null(strstr(p, "Formality 10/10: write formally"));
	assert_non_null(strstr(p, "Verbosity 0/10: keep answers very short"));
	assert_non_null(strstr(p, "Humor 5/10: a light touch of humor"));
	assert_non_null(strstr(p, "Proactivity 7/10: proactively connect"));
	assert_non_null(strstr(p, "you may use emojis"));
	assert_non_null(strstr(p, "do not add suggestions"));
	assert_non_null(strstr(p, "do not ask them"));
	assert_non_null(strstr(p, "knowledgeable about tax, sailing."));
	assert_non_null(strstr(p, "Additional instructions from the user:\nAnswer in German."));
	pos_arena_destroy(a);
}

static void persona_defaults_fill_gaps(void **state)
{
	struct pos_arena *a = pos_arena_new();
	const char *p = prompt(a, "{\"humor\":0}");
	assert_non_null(strstr(p, "You are Assistant"));
	assert_non_null(strstr(p, "Humor 0/10: stay serious"));
	assert_non_null(strstr(p, "Formality 5/10: use a friendly, professional tone."));
	assert_non_null(strstr(p, "do not use emojis"));
	assert_null(strstr(p, "Additional instructions"));
	/* a broken stored persona falls back to the defaults */
	p = prompt(a, "not json");
	assert_non_null(strstr(p, "You are Assistant"));
	assert_true(pos_persona_wants_suggestions("{}"));
	assert_false(pos_persona_wants_suggestions("{\"provide_suggestions\":false}"));
	pos_arena_destroy(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(builtin_cites_matching_sentences_with_dates),
		cmocka_unit_test(builtin_matches_word_forms),
		cmocka_unit_test(builtin_falls_back_to_top_memories),
		cmocka_unit_test(builtin_without_memories_says_so),
		cmocka_unit_test(builtin_cuts_long_sentences_on_utf8_boundaries),
		cmocka_unit_test(builtin_is_the_default_provider),
		cmocka_unit_test(bad_provider_configs_are_refused),
		cmocka_unit_test(persona_traits_become_instructions),
		cmocka_unit_test(persona_defaults_fill_gaps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
