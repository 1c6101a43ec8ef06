/*
 * fuzz_markdown.c — libFuzzer driver for the hand-written Markdown note
 * parsers of the markdown_dir adapter (src/sync/markdown_parse.c): front
 * matter, inline #tags and [[wiki links]]. Arbitrary bytes must never
 * crash, read out of bounds or break the bounds checked below.
 *
 * Built and run for a few seconds by ctest (tests/CMakeLists.txt) when
 * clang is installed, seeded with the vault in tests/data/sync/notes. For
 * a longer run:
 *
 *   ./build/tests/fuzz_markdown -max_total_time=600 -max_len=70000 \
 *     /tmp/fm-corpus tests/data/sync/notes/vault
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sync/markdown_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

static bool on_link(const char *t, size_t n, void *ud)
{
	const char *base = ((const char **)ud)[0];
	const char *end = ((const char **)ud)[1];
	check(n > 0 && n <= POS_MDP_MAX_LINK);
	check(t >= base && t + n <= end);
	check(!memchr(t, '\n', n) && !memchr(t, '|', n) && !memchr(t, '#', n));
	check(t[0] != ' ' && t[n - 1] != ' ');
	return true;
}

static void check_tags(const struct pos_mdp_note *n)
{
	check(n->n_tags <= POS_MDP_MAX_TAGS);
	for (size_t i = 0; i < n->n_tags; i++) {
		size_t l = strlen(n->tags[i]);
		check(l > 0 && l <= POS_MDP_MAX_TAG);
		for (size_t j = 0; j < l; j++)
			check((unsigned char)n->tags[i][j] > ' ');
		for (size_t j = 0; j < i; j++)
			check(strcmp(n->tags[i], n->tags[j]) != 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct pos_mdp_note *n = malloc(sizeof(*n));
	if (!n)
		return 0;
	pos_mdp_front_matter(s, size, n);
	check(n->body_off <= size);
	check(strlen(n->title) <= POS_MDP_MAX_TITLE);
	check_tags(n);
	pos_mdp_inline_tags(s + n->body_off, size - n->body_off, n);
	check_tags(n);
	const char *bounds[2] = {s, s + size};
	pos_mdp_links(s, size, on_link, bounds);
	free(n);
	return 0;
}
