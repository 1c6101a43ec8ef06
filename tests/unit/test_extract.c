/*
 * Unit tests for src/assistant/extract: the data-driven cases in
 * tests/data/extract (rule extraction and model-answer validation, input and
 * expected items side by side), limits, hostile and random input, and
 * allocation failure.
 *
 * Case files (syntax and escapes in datacase.h). Keys:
 *   mode     rules (default) or model
 *   input    the conversation text (rules) or the model's answer (model)
 *   repeat   the input is repeated that many times
 *   now      reference time, RFC 3339 (default 2026-11-24T09:30:00Z, a Tuesday)
 *   tz       the user's UTC offset in minutes (rules; default 0)
 *   max      item limit (default 50)
 *   item     one expected item: `kind | text | when | end | who`, where kind
 *            is fact, task, event or follow_up, when and end are RFC 3339
 *            UTC or `-`, who is a name or `-`; trailing fields may be left
 *            out (meaning `-`). Items are compared in order, and there must
 *            be exactly as many as listed (no item lines: none at all).
 *   error    (model) `<json code> <field>` expected, e.g.
 *            `bad_gateway tasks[0].due`; `bad_gateway -` for no field.
 * The directory is $POS_EXTRACT_CASES, by default tests/data/extract
 * relative to the working directory (the repository root).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assistant/extract.h"
#include "base/alloc.h"
#include "base/arena.h"
#include "base/clock.h"
#include "base/json.h"

#include "datacase.h"

/* ---- checking one case --------------------------------------------------- */

#define DEFAULT_NOW "2026-11-24T09:30:00Z"

static void fmt_time(int64_t t, char *buf, size_t cap)
{
	if (t == POS_TIME_NONE)
		snprintf(buf, cap, "-");
	else
		pos_time_format(t, buf, cap);
}

/* An item as a case line: `kind | text | when | end | who`. */
static void fmt_item(const struct pos_extract_item *it, char *out, size_t cap)
{
	char w[POS_TIME_FMT_LEN + 2], e[POS_TIME_FMT_LEN + 2];
	fmt_time(it->when_us, w, sizeof(w));
	fmt_time(it->end_us, e, sizeof(e));
	snprintf(out, cap, "%s | %s | %s | %s | %s", pos_extract_kind_name(it->kind), it->text,
		 w, e, it->who ? it->who : "-");
}

/* Normalises an expected item line: fills missing trailing fields with "-". */
static void norm_expected(const char *want, char *out, size_t cap)
{
	int bars = 0;
	for (const char *p = want; *p; p++)
		bars += *p == '|';
	size_t used = (size_t)snprintf(out, cap, "%s", want);
	for (; bars < 4 && used < cap; bars++)
		used += (size_t)snprintf(out + used, cap - used, " | -");
}

/* The whole result must be valid: texts clean, limits kept. */
static int check_invariants(const char *name, const char *input, size_t len,
			    const struct pos_extract_result *r, size_t max)
{
	int bad = 0;
	if (r->n > max || r->n > POS_EXTRACT_MAX_ITEMS) {
		fprintf(stderr, "FAIL %s: %zu items over the limit\n", name, r->n);
		bad++;
	}
	for (size_t i = 0; i < r->n; i++) {
		const struct pos_extract_item *it = &r->items[i];
		size_t tl = strlen(it->text);
		if (tl == 0 || tl > POS_EXTRACT_MAX_TEXT || it->text[0] == ' ' ||
		    it->text[tl - 1] == ' ' || strstr(it->text, "  ") ||
		    (it->who && (!it->who[0] || strlen(it->who) > POS_EXTRACT_MAX_WHO)) ||
		    (input && it->offset > len) ||
		    (int)it->kind < POS_EXTRACT_FACT || (int)it->kind > POS_EXTRACT_FOLLOWUP) {
			fprintf(stderr, "FAIL %s: item %zu breaks the contract\n", name, i);
			bad++;
		}
		/* no control characters, and valid UTF-8 (jansson checks) */
		for (const char *p = it->text; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7F)
				bad++;
		json_t *j = json_string(it->text);
		if (!j) {
			fprintf(stderr, "FAIL %s: item %zu text is not valid UTF-8\n", name, i);
			bad++;
		}
		json_decref(j);
		for (size_t k = 0; k < i; k++)
			if (r->items[k].kind == it->kind && r->items[k].when_us == it->when_us &&
			    strcasecmp(r->items[k].text, it->text) == 0) {
				fprintf(stderr, "FAIL %s: items %zu and %zu repeat\n", name, k, i);
				bad++;
			}
	}
	return bad;
}

static int run_case(const struct datacase *c)
{
	static char got[4096], want[4096];
	const char *mode = datacase_get(c, "mode");
	const char *now_s = datacase_get(c, "now");
	const char *tz_s = datacase_get(c, "tz");
	const char *max_s = datacase_get(c, "max");
	const char *want_err = datacase_get(c, "error");
	bool model = mode && strcmp(mode, "model") == 0;
	int64_t now;
	int bad = 0;
	if (!now_s)
		now_s = DEFAULT_NOW;
	if (!pos_time_parse(now_s, strlen(now_s), false, &now))
		fail_msg("%s: bad now: %s", c->name, now_s);
	int tz = tz_s ? (int)strtol(tz_s, NULL, 10) : 0;
	size_t max = max_s ? (size_t)strtoul(max_s, NULL, 10) : 50;

	struct pos_arena *a = pos_arena_new();
	struct pos_extract_result r;
	struct pos_error err;
	enum pos_err rc;
	assert_non_null(a);
	pos_error_clear(&err);
	if (model)
		rc = pos_extract_parse_model(a, c->input, c->input_len, now, max, &r, &err);
	else
		rc = pos_extract_rules(a, c->input, c->input_len, now, tz, max, &r);

	if (want_err || rc != POS_OK) {
		if (rc == POS_OK)
			snprintf(got, sizeof(got), "ok");
		else
			snprintf(got, sizeof(got), "%s %s", pos_err_code(rc),
				 err.field[0] ? err.field : "-");
		if (strcmp(got, want_err ? want_err : "ok") != 0) {
			fprintf(stderr, "FAIL %s: error\n  expected: [%s]\n  got:      [%s] (%s)\n",
				c->name, want_err ? want_err : "ok", got, err.message);
			bad++;
		}
		if (rc != POS_OK && (err.code != rc || !err.message[0] || r.n != 0 || r.items)) {
			fprintf(stderr, "FAIL %s: error detail missing or output not empty\n",
				c->name);
			bad++;
		}
		pos_arena_destroy(a);
		return bad;
	}
	bad += check_invariants(c->name, c->input, c->input_len, &r, max);
	size_t k = 0;
	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->key[i], "item") != 0)
			continue;
		norm_expected(c->val[i], want, sizeof(want));
		if (k < r.n)
			fmt_item(&r.items[k], got, sizeof(got));
		else
			snprintf(got, sizeof(got), "(none)");
		if (strcmp(want, got) != 0) {
			fprintf(stderr, "FAIL %s: item %zu\n  expected: [%s]\n  got:      [%s]\n",
				c->name, k, want, got);
			bad++;
		}
		k++;
	}
	for (; k < r.n; k++) {
		fmt_item(&r.items[k], got, sizeof(got));
		fprintf(stderr, "FAIL %s: unexpected item %zu: [%s]\n", c->name, k, got);
		bad++;
	}
	pos_arena_destroy(a);
	return bad;
}

static void cases_extract_as_expected(void **state)
{
	struct datacases cs = datacase_load("POS_EXTRACT_CASES", "tests/data/extract");
	int bad = 0;
	assert_true(cs.n >= 40);
	for (size_t i = 0; i < cs.n; i++)
		bad += run_case(&cs.v[i]);
	datacase_free(&cs);
	if (bad)
		fail_msg("%d mismatches in the extract cases (see above)", bad);
}

/* ---- direct calls ------------------------------------------------------------ */

static int64_t t_now(void)
{
	int64_t now;
	assert_true(pos_time_parse(DEFAULT_NOW, strlen(DEFAULT_NOW), false, &now));
	return now;
}

static void empty_and_null_input(void **state)
{
	struct pos_arena *a = pos_arena_new();
	struct pos_extract_result r = {(void *)1, 7};
	struct pos_error err;
	assert_int_equal(pos_extract_rules(a, NULL, 0, t_now(), 0, 10, &r), POS_OK);
	assert_int_equal(r.n, 0);
	assert_int_equal(pos_extract_rules(a, NULL, 100, t_now(), 0, 10, &r), POS_OK);
	assert_int_equal(r.n, 0);
	assert_int_equal(pos_extract_rules(a, "I need to x", 11, t_now(), 0, 0, &r), POS_OK);
	assert_int_equal(r.n, 0);
	/* the input need not be NUL-terminated: only len bytes are read */
	assert_int_equal(pos_extract_rules(a, "I need to buy milk.XXXX", 18, t_now(), 0, 10, &r),
			 POS_OK);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.items[0].text, "Buy milk");
	r.n = 7;
	assert_int_equal(pos_extract_parse_model(a, NULL, 0, t_now(), 10, &r, &err),
			 POS_ERR_BAD_GATEWAY);
	assert_int_equal(r.n, 0);
	assert_null(r.items);
	/* err may be NULL */
	assert_int_equal(pos_extract_parse_model(a, "nope", 4, t_now(), 10, &r, NULL),
			 POS_ERR_BAD_GATEWAY);
	assert_int_equal(pos_extract_parse_model(a, "{}", 2, t_now(), 10, &r, NULL), POS_OK);
	assert_int_equal(r.n, 0);
	pos_arena_destroy(a);
}

/* max is clamped; the items kept are the first ones; offsets point at them. */
static void limits_and_offsets(void **state)
{
	struct pos_arena *a = pos_arena_new();
	struct pos_extract_result r;
	size_t cap = 400 * 40, len = 0;
	char *s = malloc(cap);
	assert_non_null(s);
	for (int i = 0; i < 400; i++)
		len += (size_t)snprintf(s + len, cap - len, "TODO: item %d. ", i);
	assert_int_equal(pos_extract_rules(a, s, len, t_now(), 0, 100000, &r), POS_OK);
	assert_int_equal(r.n, POS_EXTRACT_MAX_ITEMS);
	assert_string_equal(r.items[0].text, "Item 0");
	assert_string_equal(r.items[255].text, "Item 255");
	for (size_t i = 0; i < r.n; i++)
		assert_memory_equal(s + r.items[i].offset, "TODO:", 5);
	assert_int_equal(pos_extract_rules(a, s, len, t_now(), 0, 3, &r), POS_OK);
	assert_int_equal(r.n, 3);

	/* one sentence with more trigger phrases than one pass holds */
	len = 0;
	for (int i = 0; i < 150; i++)
		len += (size_t)snprintf(s + len, cap - len, "remind me to call %d and ", i);
	assert_int_equal(pos_extract_rules(a, s, len, t_now(), 0, 200, &r), POS_OK);
	assert_int_equal(r.n, 150);
	assert_string_equal(r.items[63].text, "Call 63");
	assert_string_equal(r.items[149].text, "Call 149");
	free(s);

	/* a long clause is cut to 1000 bytes at a character boundary */
	cap = 5000;
	s = malloc(cap);
	assert_non_null(s);
	len = (size_t)snprintf(s, cap, "I need to ");
	while (len + 3 < cap - 1)
		len += (size_t)snprintf(s + len, cap - len, "\xc3\xa9 ");
	assert_int_equal(pos_extract_rules(a, s, len, t_now(), 0, 5, &r), POS_OK);
	assert_int_equal(r.n, 1);
	assert_true(strlen(r.items[0].text) <= POS_EXTRACT_MAX_TEXT);
	assert_true(strlen(r.items[0].text) > 900);
	json_t *j = json_string(r.items[0].text);
	assert_non_null(j);
	json_decref(j);
	free(s);
	pos_arena_destroy(a);
}

/* Only the first 256 KiB are scanned; a trigger beyond is not seen. */
static void scan_cap(void **state)
{
	size_t len = POS_EXTRACT_MAX_SCAN + 4096;
	char *s = malloc(len);
	assert_non_null(s);
	memset(s, 'x', len);
	for (size_t i = 80; i < len; i += 81)
		s[i] = ' ';
	memcpy(s, "Remind me to start. ", 20);
	memcpy(s + POS_EXTRACT_MAX_SCAN - 30, ". Remind me to middle. ", 23);
	memcpy(s + POS_EXTRACT_MAX_SCAN + 100, ". Remind me to end. ", 20);
	struct pos_arena *a = pos_arena_new();
	struct pos_extract_result r;
	assert_int_equal(pos_extract_rules(a, s, len, t_now(), 0, 10, &r), POS_OK);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.items[0].text, "Start");
	assert_string_equal(r.items[1].text, "Middle");
	pos_arena_destroy(a);
	free(s);
}

/* NUL bytes, invalid UTF-8 and control bytes never crash and never leak
 * into an item's text. */
static void hostile_bytes(void **state)
{
	static const char s[] = "I need to buy \xff\xfe milk\0 and \x01 eggs tomorrow. "
				"Remind me to call \xc3\x28 Anna\xe2\x82. "
				"TODO:\0\0\0. My \xed\xa0\x80 name is \xf4\x90\x80\x80 Bob";
	struct pos_arena *a = pos_arena_new();
	struct pos_extract_result r;
	assert_int_equal(pos_extract_rules(a, s, sizeof(s) - 1, t_now(), 0, 10, &r), POS_OK);
	assert_int_equal(check_invariants("hostile", s, sizeof(s) - 1, &r, 10), 0);
	assert_true(r.n >= 2);
	assert_int_equal(r.items[0].kind, POS_EXTRACT_TASK);
	assert_non_null(strstr(r.items[0].text, "\xEF\xBF\xBD"));
	pos_arena_destroy(a);
}

/* Random text over an alphabet of trigger phrases, dates and junk: the
 * invariants hold for both functions. */
static void random_text(void **state)
{
	static const char *parts[] = {
		"I need to ", "remind me to ", "my ", " is ", "I'm ", "meeting with ",
		"Anna ", "on Friday ", "at 3pm ", "3:30 ", "tomorrow ", "12/3 ", "2026-12-03 ",
		"December 3 ", "in 3 days ", "next week ", "noon ", "-", ". ", "? ", "\"", "\n",
		"{", "}", "[", "]", "\"facts\":", "\"text\":\"x\"", ",", "\xff", "\0", "é",
		"follow up with ", "get back to ", "TODO: ", "lunch ", "with ", "and ", "1",
		"pm", "at ", "to ", "until ", "I'll ", "last ", "yesterday ", "Dr. ", "'s ",
	};
	uint64_t seed = 0x9E3779B97F4A7C15u;
	char q[512];
	int bad = 0;
	for (int iter = 0; iter < 20000 && bad == 0; iter++) {
		size_t len = 0;
		seed = seed * 6364136223846793005u + 1442695040888963407u;
		int n = (int)((seed >> 33) % 30) + 1;
		for (int k = 0; k < n; k++) {
			seed = seed * 6364136223846793005u + 1442695040888963407u;
			const char *p = parts[(seed >> 33) % (sizeof(parts) / sizeof(parts[0]))];
			size_t pl = *p ? strlen(p) : 1;
			if (len + pl >= sizeof(q))
				break;
			memcpy(q + len, p, pl);
			len += pl;
		}
		struct pos_arena *a = pos_arena_new();
		struct pos_extract_result r;
		struct pos_error err;
		int tz = (int)((seed >> 20) % 1500) - 750;
		assert_int_equal(pos_extract_rules(a, q, len, t_now(), tz, 20, &r), POS_OK);
		bad += check_invariants("random rules", q, len, &r, 20);
		enum pos_err rc = pos_extract_parse_model(a, q, len, t_now(), 20, &r, &err);
		if (rc == POS_OK)
			bad += check_invariants("random model", NULL, 0, &r, 20);
		else if (rc != POS_ERR_BAD_GATEWAY || r.n != 0 || err.code != rc)
			bad++;
		pos_arena_destroy(a);
		if (bad)
			fprintf(stderr, "input: %.*s\n", (int)len, q);
	}
	assert_int_equal(bad, 0);
}

/* Every allocation may fail: the result is POS_ERR_NOMEM with nothing
 * partial, never a crash. */
static void allocation_failures(void **state)
{
	const char *s = "I need to buy milk tomorrow. Lunch with Anna on Friday at noon. "
			"My sister is Eva. Remind me to call Bob.";
	const char *m = "```json\n{\"facts\":[{\"text\":\"a\"}],\"tasks\":[{\"text\":\"b\","
			"\"due\":\"2026-12-03\"}],\"events\":[{\"text\":\"c\",\"start\":"
			"\"2026-12-03T10:00:00Z\",\"with\":\"Anna\"}]}\n```";
	bool ok_rules = false, ok_model = false;
	for (long n = 1; n < 400 && !(ok_rules && ok_model); n++) {
		struct pos_arena *a = pos_arena_new();
		struct pos_extract_result r;
		struct pos_error err;
		assert_non_null(a);
		pos_alloc_fail_after(n);
		enum pos_err rc = pos_extract_rules(a, s, strlen(s), t_now(), 0, 10, &r);
		pos_alloc_fail_after(0);
		if (rc == POS_OK)
			ok_rules = r.n == 4;
		else
			assert_true(rc == POS_ERR_NOMEM && r.n == 0);
		pos_alloc_fail_after(n);
		rc = pos_extract_parse_model(a, m, strlen(m), t_now(), 10, &r, &err);
		pos_alloc_fail_after(0);
		if (rc == POS_OK)
			ok_model = r.n == 3;
		else
			assert_true((rc == POS_ERR_NOMEM || rc == POS_ERR_BAD_GATEWAY) && r.n == 0);
		pos_arena_destroy(a);
	}
	assert_true(ok_rules);
	assert_true(ok_model);
}

/* The prompt names every key the validator reads. */
static void prompt_names_the_schema(void **state)
{
	const char *p = pos_extract_model_prompt();
	static const char *keys[] = {"\"facts\"", "\"tasks\"", "\"events\"", "\"follow_ups\"",
				     "\"text\"", "\"due\"", "\"start\"", "\"end\"", "\"with\"",
				     "ISO 8601"};
	assert_non_null(p);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_non_null(strstr(p, keys[i]));
	assert_string_equal(pos_extract_kind_name(POS_EXTRACT_FOLLOWUP), "follow_up");
	assert_string_equal(pos_extract_kind_name((enum pos_extract_kind)42), "?");
}

/* Error messages name the place, never quote the answer's content. */
static void model_errors_do_not_quote(void **state)
{
	const char *m = "{\"tasks\":[{\"text\":\"secret plan\",\"due\":\"SECRETDATE\"}]}";
	struct pos_arena *a = pos_arena_new();
	struct pos_extract_result r;
	struct pos_error err;
	assert_int_equal(pos_extract_parse_model(a, m, strlen(m), t_now(), 10, &r, &err),
			 POS_ERR_BAD_GATEWAY);
	assert_string_equal(err.field, "tasks[0].due");
	assert_null(strstr(err.message, "SECRET"));
	assert_null(strstr(err.message, "secret"));
	assert_non_null(strstr(err.message, "tasks[0].due"));
	/* over the answer cap */
	size_t len = POS_EXTRACT_MAX_ANSWER + 1;
	char *big = malloc(len);
	assert_non_null(big);
	memset(big, ' ', len);
	memcpy(big, "{}", 2);
	assert_int_equal(pos_extract_parse_model(a, big, len, t_now(), 10, &r, &err),
			 POS_ERR_BAD_GATEWAY);
	assert_int_equal(pos_extract_parse_model(a, big, len - 1, t_now(), 10, &r, &err),
			 POS_OK);
	free(big);
	pos_arena_destroy(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cases_extract_as_expected),
		cmocka_unit_test(empty_and_null_input),
		cmocka_unit_test(limits_and_offsets),
		cmocka_unit_test(scan_cap),
		cmocka_unit_test(hostile_bytes),
		cmocka_unit_test(random_text),
		cmocka_unit_test(allocation_failures),
		cmocka_unit_test(prompt_names_the_schema),
		cmocka_unit_test(model_errors_do_not_quote),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
