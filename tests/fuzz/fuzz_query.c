/*
 * fuzz_query.c — libFuzzer driver for the search query parser
 * (src/search/query.c): arbitrary bytes are parsed, and when that succeeds
 * both FTS5 MATCH variants are built. It must never crash, read out of
 * bounds, leak or break the invariants checked below.
 *
 * Build (from the repository root; clang with libFuzzer, i.e. the
 * libclang-rt-dev package on Debian):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c17 -D_GNU_SOURCE \
 *     -Isrc -include src/base/compat.h -o fuzz_query tests/fuzz/fuzz_query.c \
 *     src/search/query.c src/base/alloc.c src/base/arena.c src/base/err.c \
 *     src/base/clock.c src/store/types.c
 *
 * Run, seeding the corpus with the data-driven cases' inputs (the case
 * files themselves are fine seeds) and a dictionary of the syntax:
 *
 *   mkdir -p /tmp/fq-corpus
 *   ./fuzz_query -dict=tests/fuzz/query.dict -max_len=4200 -max_total_time=60 \
 *     /tmp/fq-corpus tests/data/query
 *
 * For a long run raise -max_total_time (seconds) or drop it and stop with
 * Ctrl-C; -jobs=N -workers=N runs N processes (the build machine has 2
 * cores). A crash leaves crash-<sha1> in the working directory; replay it
 * with ./fuzz_query crash-<sha1>.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/clock.h"
#include "search/query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

/* The FTS5 string grammar: "..." with "" inside, separated by operators. */
static void check_match(const char *m)
{
	bool in_str = false;
	int depth = 0;
	for (const char *p = m; *p; p++) {
		if (*p == '"') {
			if (in_str && p[1] == '"')
				p++;
			else
				in_str = !in_str;
		} else if (!in_str) {
			/* '*' only right after a string: the prefix form */
			check(strchr("()ANDORT ", *p) != NULL || (*p == '*' && p > m && p[-1] == '"'));
			depth += *p == '(';
			depth -= *p == ')';
			check(depth >= 0);
		}
	}
	check(!in_str && depth == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pos_arena *a = pos_arena_new();
	struct pos_query q;
	struct pos_error err;
	if (!a)
		return 0;
	for (unsigned flags = 0; flags <= POS_QUERY_TYPING; flags += POS_QUERY_TYPING) {
	pos_error_clear(&err);
	enum pos_err rc = pos_query_parse_ex(a, (const char *)data, size, flags, &q, &err);
	if (rc == POS_OK) {
		check(q.n_ignored <= POS_QUERY_MAX_TAGS);
		check(!q.prefix || (flags && strlen(q.prefix) >= POS_QUERY_PREFIX_MIN));
		check(size <= POS_QUERY_MAX_BYTES);
		check(q.n_terms + q.n_phrases <= POS_QUERY_MAX_ITEMS);
		check(q.n_excluded <= POS_QUERY_MAX_ITEMS);
		check(q.n_tags <= POS_QUERY_MAX_TAGS);
		check(strlen(q.text) <= size);
		check(q.after == POS_TIME_NONE || q.before == POS_TIME_NONE ||
		      q.after < q.before);
		for (size_t i = 0; i < q.n_terms; i++)
			check(q.terms[i][0] != '\0');
		for (size_t i = 0; i < q.n_phrases; i++)
			check(q.phrases[i][0] != '\0');
		for (int stop = 0; stop < 2; stop++) {
			const char *m;
			check(pos_query_fts_match(a, &q, stop, &m) == POS_OK);
			if (m)
				check_match(m);
		}
	} else {
		check(rc == POS_ERR_INVALID_FIELD && err.code == rc && err.field[0]);
		/* typing turns filter errors into ignored filters */
		check(!flags || !strcmp(err.field, "query") || !strcmp(err.field, "tag"));
	}
	}
	pos_arena_destroy(a);
	return 0;
}
