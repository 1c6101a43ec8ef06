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
#include "assistant/timeq.h"
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
		{"m2", day("2026-11-01"), t2, strlen(t2), false, 0},
		{"m1", day("2026-11-20"), t1, strlen(t1), false, 0},
	};
	unsigned char cited[2] = {9, 9};
	struct pos_llm_request req = {.question = "When is my dentist appointment?", .docs = docs,
				      .n_docs = 2, .cited = cited};
	const char *out = NULL;
	size_t len = 0;
	assert_int_equal(pos_llm_builtin_answer(a, &req, &out, &len), POS_OK);
	/* it speaks to a person, not an operator */
	assert_non_null(strstr(out, "without a language model"));
	assert_null(strstr(out, "llm_url"));
	assert_null(strstr(out, "onfigure"));
	/* only the quoted memory is cited, and [n] counts only cited ones */
	assert_non_null(strstr(out, "- 2026-11-20 (Fri): The dentist appointment is on Friday at 10. [1]"));
	assert_int_equal(cited[0], 0);
	assert_int_equal(cited[1], 1);
	/* sentences that match nothing are left out */
	assert_null(strstr(out, "Bought milk"));
	assert_null(strstr(out, "Pancakes"));
	pos_arena_destroy(a);
}

static void builtin_matches_word_forms(void **state)
{
	struct pos_arena *a = pos_arena_new();
	const char *t = "We were gardening all weekend.";
	struct pos_llm_doc d = {"m", day("2026-05-02"), t, strlen(t), false, 0};
	const char *out = answer(a, "what about my garden?", &d, 1);
	assert_non_null(strstr(out, "gardening all weekend. [1]"));
	pos_arena_destroy(a);
}

static void builtin_falls_back_to_top_memories(void **state)
{
	struct pos_arena *a = pos_arena_new();
	const char *t = "Semantic neighbour without shared words.\nSecond line.";
	struct pos_llm_doc d = {"m", day("2026-01-02"), t, strlen(t), false, 0};
	const char *out = answer(a, "zzz qqq", &d, 1);
	assert_non_null(strstr(out, "- 2026-01-02 (Fri): Semantic neighbour without shared words. [1]"));
	assert_null(strstr(out, "Second line"));
	pos_arena_destroy(a);
}

static void builtin_without_memories_says_so(void **state)
{
	struct pos_arena *a = pos_arena_new();
	const char *out = answer(a, "anything?", NULL, 0);
	assert_non_null(strstr(out, "could not find anything about that in your notes"));
	assert_null(strstr(out, "language model is configured"));
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
	struct pos_llm_doc d = {"m", day("2026-01-02"), b.data, b.len, false, 0};
	const char *out = answer(a, "dentist", &d, 1);
	assert_non_null(strstr(out, "… [1]"));
	/* every byte sequence is whole: no lone continuation byte before "…" */
	const char *cut = strstr(out, "…");
	assert_true(((unsigned char)cut[-1] & 0xC0) != 0xC0);
	pos_buf_free(&b);
	pos_arena_destroy(a);
}

static void builtin_keeps_abbreviations_and_strips_markdown(void **state)
{
	struct pos_arena *a = pos_arena_new();
	const char *t = "## My **dentist**\n- My dentist is Dr. Ruiz on [Elm Street](https://x.org/e.s). "
			"She opens at 8 a.m. sharp.";
	struct pos_llm_doc d = {"m", day("2026-01-02"), t, strlen(t), false, 0};
	const char *out = answer(a, "Who is my dentist?", &d, 1);
	assert_non_null(strstr(out, "My dentist is Dr. Ruiz on Elm Street. [1]"));
	assert_null(strstr(out, "**"));
	assert_null(strstr(out, "##"));
	assert_null(strstr(out, "https://"));
	pos_arena_destroy(a);
}

static void builtin_dates_by_the_event_not_the_note(void **state)
{
	struct pos_arena *a = pos_arena_new();
	const char *t = "Dentist appointment on December 3 at 10:00.";
	struct pos_llm_doc d = {"m", day("2026-11-20"), t, strlen(t), true,
				day("2026-12-03T10:00:00Z")};
	const char *out = answer(a, "When is the dentist?", &d, 1);
	assert_non_null(strstr(out, "- 2026-12-03 (Thu) 10:00: Dentist appointment"));
	assert_null(strstr(out, "2026-11-20"));
	pos_arena_destroy(a);
}

static void builtin_answers_a_time_window(void **state)
{
	struct pos_arena *a = pos_arena_new();
	const char *t1 = "Pancakes need flour and eggs.";
	const char *t2 = "Tax return deadline.";
	const char *t3 = "Dentist at 9:30.";
	const char *t4 = "Flight to Lisbon.";
	struct pos_llm_doc docs[] = {
		{"a", day("2026-11-01"), t1, strlen(t1), false, 0},
		{"b", day("2026-11-01"), t2, strlen(t2), true, day("2026-12-10")},
		{"c", day("2026-11-02"), t3, strlen(t3), true, day("2026-12-08T08:30:00Z")},
		{"d", day("2026-11-02"), t4, strlen(t4), true, day("2027-01-20")},
	};
	unsigned char cited[4] = {0};
	struct pos_llm_request req = {
		.question = "What do I have to do this week?", .docs = docs, .n_docs = 4,
		.window = true, .window_from = day("2026-12-07T00:00:00+01:00"),
		.window_to = day("2026-12-14T00:00:00+01:00"), .window_label = "the next seven days",
		.tz_offset_min = 60, .cited = cited};
	const char *out = NULL;
	size_t len = 0;
	assert_int_equal(pos_llm_builtin_answer(a, &req, &out, &len), POS_OK);
	assert_non_null(strstr(out, "for the next seven days"));
	/* soonest first, in the user's zone (UTC+1), cited in memory order */
	const char *dent = strstr(out, "- 2026-12-08 (Tue) 09:30: Dentist at 9:30. [2]");
	const char *tax = strstr(out, "- 2026-12-10 (Thu) 01:00: Tax return deadline. [1]");
	assert_non_null(dent);
	assert_non_null(tax);
	assert_true(dent < tax);
	assert_null(strstr(out, "Pancakes"));
	assert_null(strstr(out, "Lisbon"));
	assert_int_equal(cited[0] + cited[1] * 2 + cited[2] * 4 + cited[3] * 8, 6);
	/* nothing in the window: said plainly */
	req.window_from = day("2030-01-01");
	req.window_to = day("2030-01-02");
	req.window_label = "tomorrow";
	assert_int_equal(pos_llm_builtin_answer(a, &req, &out, &len), POS_OK);
	assert_non_null(strstr(out, "nothing in your notes dated tomorrow"));
	pos_arena_destroy(a);
}

static void timeq_windows(void **state)
{
	struct pos_timeq w;
	/* Sunday 2026-12-06 20:00 UTC = Monday 07 01:00 in UTC+5 */
	int64_t now = day("2026-12-06T20:00:00Z");
	assert_true(pos_timeq_window("What do I have to do this week?", now, 0, &w));
	assert_int_equal(w.from, day("2026-12-06"));
	assert_int_equal(w.to, day("2026-12-13"));
	assert_true(pos_timeq_window("what's TOMORROW", now, 0, &w));
	assert_int_equal(w.from, day("2026-12-07"));
	assert_int_equal(w.to, day("2026-12-08"));
	assert_string_equal(w.label, "tomorrow");
	assert_true(pos_timeq_window("anything today?", now, 300, &w));
	assert_int_equal(w.from, day("2026-12-07T00:00:00+05:00"));
	assert_true(pos_timeq_window("plans for next week", now, 0, &w));
	assert_int_equal(w.from, day("2026-12-07"));
	assert_int_equal(w.to, day("2026-12-14"));
	assert_true(pos_timeq_window("what's on this month", now, 0, &w));
	assert_int_equal(w.to, day("2027-01-01"));
	assert_false(pos_timeq_window("Who is my dentist?", now, 0, &w));
	assert_false(pos_timeq_window("the todays special", now, 0, &w));
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
		cmocka_unit_test(builtin_keeps_abbreviations_and_strips_markdown),
		cmocka_unit_test(builtin_dates_by_the_event_not_the_note),
		cmocka_unit_test(builtin_answers_a_time_window),
		cmocka_unit_test(timeq_windows),
		cmocka_unit_test(builtin_is_the_default_provider),
		cmocka_unit_test(bad_provider_configs_are_refused),
		cmocka_unit_test(persona_traits_become_instructions),
		cmocka_unit_test(persona_defaults_fill_gaps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
