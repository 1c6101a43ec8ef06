/*
 * fuzz_sentence.c — libFuzzer driver for the sentence splitter
 * (src/base/sentence.c), which reads every memory the offline responder
 * quotes. Arbitrary bytes are split: it must never crash or read out of
 * bounds, always advance, and return sentences inside the input without
 * leading or trailing white space.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c17 -D_GNU_SOURCE \
 *     -Isrc -include src/base/compat.h -o fuzz_sentence \
 *     tests/fuzz/fuzz_sentence.c src/base/sentence.c
 *   ./fuzz_sentence -max_total_time=60 /tmp/fs-corpus tests/data/sentence
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/sentence.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

static int space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	size_t pos = 0, start, next, rounds = 0;
	for (;;) {
		size_t end = pos_sentence_next(s, size, pos, &start, &next);
		check(start >= pos && start <= end && end <= size && next <= size);
		if (end == start) {
			check(next >= pos);
			if (next >= size || start >= size)
				break;
		} else {
			check(!space(s[start]) && !space(s[end - 1]));
		}
		check(next > pos || next == size);
		if (next == pos)
			break;
		pos = next;
		check(++rounds <= size + 1);
	}
	return 0;
}
