/*
 * fuzz_parsers.c — libFuzzer driver for the hand-written parsers of
 * src/base: request JSON decoding with its nesting limit (and the writer
 * that re-emits what was read), RFC 3339 times, UUIDs, listen addresses and
 * integers. Each must refuse bad input with an error, never crash, leak or
 * read out of bounds. Round trips are checked where they exist.
 *
 * Built and run for a few seconds by ctest (tests/CMakeLists.txt) when
 * clang is installed. For a longer run:
 *
 *   ./build/tests/fuzz_parsers -max_total_time=600 -max_len=65536 /tmp/fp-corpus
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/config.h"
#include "base/json.h"
#include "base/uuid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct pos_error e;
	pos_error_clear(&e);

	/* JSON in, then out again through the writer: what we accept we can
	 * write, and the writer's output reads back. */
	json_t *v = pos_json_parse(s, size, &e);
	if (v) {
		if (pos_json_depth(v, POS_JSON_MAX_DEPTH + 2) > POS_JSON_MAX_DEPTH)
			abort();
		struct pos_buf b;
		pos_buf_init(&b, 64u << 20);
		struct pos_jw w;
		pos_jw_init(&w, &b);
		pos_jw_json(&w, v);
		if (!w.rc) {
			json_t *back = json_loadb(b.data, b.len, JSON_DECODE_ANY, NULL);
			if (!back || !json_equal(v, back))
				abort();
			json_decref(back);
		}
		pos_buf_free(&b);
		json_decref(v);
	} else if (e.code != POS_ERR_INVALID_JSON) {
		abort();
	}

	/* RFC 3339: a parsed time formats to a string that parses back to it. */
	int64_t t;
	if (pos_time_parse(s, size, true, &t)) {
		char out[POS_TIME_FMT_LEN];
		size_t n = pos_time_format(t, out, sizeof(out));
		int64_t again;
		if (!pos_time_parse(out, n, false, &again) || again != t)
			abort();
	}

	/* UUIDs: validation and normalization agree. */
	char norm[POS_UUID_SIZE];
	if (pos_uuid_valid(s, size, norm) && !pos_uuid_valid(norm, strlen(norm), NULL))
		abort();

	/* NUL-terminated parsers. */
	char *z = malloc(size + 1);
	if (!z)
		return 0;
	memcpy(z, data, size);
	z[size] = '\0';
	char host[256];
	unsigned port;
	if (pos_parse_listen(z, host, sizeof(host), &port) && port > 65535)
		abort();
	long long i;
	if (pos_parse_int(z, -5, 5, &i) && (i < -5 || i > 5))
		abort();
	free(z);
	return 0;
}
