/*
 * Unit tests for src/base/sentence: data-driven cases from
 * tests/data/sentence/ (one file per case: optional "# comment" lines, the
 * input text, a line "----", then the expected sentences, one per line),
 * plus the abbreviation list.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/sentence.h"

#define CASE_DIR "tests/data/sentence"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = malloc(65536);
	size_t n = buf ? fread(buf, 1, 65535, f) : 0;
	fclose(f);
	if (buf)
		buf[n] = '\0';
	*len = n;
	return buf;
}

static void run_case(const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", CASE_DIR, name);
	size_t len;
	char *text = slurp(path, &len);
	assert_non_null(text);
	char *in = text;
	while (*in == '#') {
		char *nl = strchr(in, '\n');
		assert_non_null(nl);
		in = nl + 1;
	}
	char *sep = strstr(in, "\n----\n");
	assert_non_null(sep);
	size_t in_len = (size_t)(sep - in);
	char *want = sep + 6;
	size_t pos = 0, start, next;
	int count = 0;
	for (;;) {
		size_t end = pos_sentence_next(in, in_len, pos, &start, &next);
		if (end == start)
			break;
		char *nl = strchr(want, '\n');
		size_t wl = nl ? (size_t)(nl - want) : strlen(want);
		if (wl != end - start || memcmp(want, in + start, wl) != 0) {
			fprintf(stderr, "%s: sentence %d is \"%.*s\", expected \"%.*s\"\n", name,
				count + 1, (int)(end - start), in + start, (int)wl, want);
			fail();
		}
		want = nl ? nl + 1 : want + wl;
		pos = next;
		count++;
	}
	if (*want) {
		fprintf(stderr, "%s: missing sentence \"%s\"\n", name, want);
		fail();
	}
	free(text);
}

static void data_cases(void **state)
{
	DIR *d = opendir(CASE_DIR);
	assert_non_null(d);
	int cases = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n < 5 || strcmp(e->d_name + n - 4, ".txt") != 0)
			continue;
		run_case(e->d_name);
		cases++;
	}
	closedir(d);
	assert_true(cases >= 10);
}

static void abbreviation_list(void **state)
{
	assert_true(pos_sentence_is_abbrev("Dr", 2));
	assert_true(pos_sentence_is_abbrev("MRS", 3));
	assert_true(pos_sentence_is_abbrev("etc", 3));
	assert_false(pos_sentence_is_abbrev("street", 6));
	assert_false(pos_sentence_is_abbrev("d", 1));
}

static void empty_and_blank(void **state)
{
	size_t start, next;
	assert_int_equal(pos_sentence_next("", 0, 0, &start, &next), 0);
	size_t end = pos_sentence_next("  \n ", 4, 0, &start, &next);
	assert_int_equal(end, start);
	assert_int_equal(next, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(data_cases),
		cmocka_unit_test(abbreviation_list),
		cmocka_unit_test(empty_and_blank),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
