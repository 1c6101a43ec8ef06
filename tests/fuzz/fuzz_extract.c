/*
 * fuzz_extract.c — libFuzzer driver for the memorize extractor
 * (src/assistant/extract*.c): arbitrary bytes go through the rule-based
 * extractor (with a reference time and zone taken from the first bytes) and
 * through the model-answer validator. Neither may crash, read out of bounds
 * or leak, and every result must keep the contract checked below.
 *
 * Built and run for a few seconds by ctest (tests/CMakeLists.txt) when clang
 * is installed; the case files in tests/data/extract seed the corpus. For a
 * longer run:
 *
 *   mkdir -p /tmp/fx-corpus
 *   ./build/tests/fuzz_extract -max_total_time=600 -max_len=8192 \
 *     /tmp/fx-corpus tests/data/extract
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "assistant/extract.h"
#include "base/arena.h"
#include "base/clock.h"
#include "base/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

static void check_result(const struct pos_extract_result *r, size_t max, size_t len,
			 int rules)
{
	check(r->n <= max && r->n <= POS_EXTRACT_MAX_ITEMS);
	check(r->n == 0 || r->items != NULL);
	for (size_t i = 0; i < r->n; i++) {
		const struct pos_extract_item *it = &r->items[i];
		size_t tl = strlen(it->text);
		check(tl > 0 && tl <= POS_EXTRACT_MAX_TEXT);
		check(it->text[0] != ' ' && it->text[tl - 1] != ' ');
		for (size_t k = 0; k < tl; k++)
			check((unsigned char)it->text[k] >= 0x20 && it->text[k] != 0x7F);
		json_t *j = json_string(it->text); /* NULL for invalid UTF-8 */
		check(j != NULL);
		json_decref(j);
		if (it->who) {
			check(it->who[0] && strlen(it->who) <= POS_EXTRACT_MAX_WHO);
			j = json_string(it->who);
			check(j != NULL);
			json_decref(j);
		}
		check(it->kind >= POS_EXTRACT_FACT && it->kind <= POS_EXTRACT_FOLLOWUP);
		check(it->end_us == POS_TIME_NONE ||
		      (it->when_us != POS_TIME_NONE && it->end_us >= it->when_us));
		if (it->kind == POS_EXTRACT_EVENT)
			check(it->when_us != POS_TIME_NONE);
		if (it->kind == POS_EXTRACT_FACT)
			check(it->when_us == POS_TIME_NONE);
		if (rules)
			check(it->offset < len);
		else
			check(it->offset == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pos_arena *a = pos_arena_new();
	struct pos_extract_result r;
	struct pos_error err;
	if (!a)
		return 0;
	/* 2026-11-24T09:30:00Z, moved by up to ±2^15 hours; zone ±18 h */
	int64_t now = INT64_C(1795512600000000);
	int tz = 0;
	if (size >= 3) {
		now += (int64_t)(int16_t)(data[0] | data[1] << 8) * 3600 * INT64_C(1000000);
		tz = (int)data[2] * 9 - 1080;
	}
	size_t max = size ? 1 + data[size - 1] % 40 : 10;

	enum pos_err rc = pos_extract_rules(a, (const char *)data, size, now, tz, max, &r);
	check(rc == POS_OK);
	check_result(&r, max, size, 1);

	pos_error_clear(&err);
	rc = pos_extract_parse_model(a, (const char *)data, size, now, max, &r, &err);
	if (rc == POS_OK) {
		check_result(&r, max, size, 0);
	} else {
		check(rc == POS_ERR_BAD_GATEWAY && err.code == rc && err.message[0]);
		check(r.n == 0 && r.items == NULL);
	}
	pos_arena_destroy(a);
	return 0;
}
