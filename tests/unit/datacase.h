/*
 * datacase.h — the loader for data-driven test cases (curl's tests/data,
 * jq's tests/jq.test): a directory of `*.case` files, one case per file,
 * input and expected output side by side. Used by test_query and
 * test_extract; each test documents its own keys.
 *
 * A case file is `key: value` lines (one space after the colon is dropped);
 * empty lines and lines starting with `#` are skipped; a key may repeat.
 * Values take the escapes \\ \t \n \r \0 \s (space) and \xHH. The `input`
 * key is required; `repeat: N` repeats the input N times. Any trouble with
 * the files fails the running cmocka test (fail_msg), so callers need no
 * error path. Cases come back sorted by file name.
 */
#ifndef POS_TEST_DATACASE_H
#define POS_TEST_DATACASE_H

#include <stddef.h>

#define DATACASE_MAX_KEYS 48

struct datacase {
	char name[256];            /* file name, e.g. 001-simple-words.case */
	char *input;               /* the input, repeated; NUL-terminated */
	size_t input_len;          /* may hold NULs (\0) */
	size_t n;                  /* lines in key/val */
	char *key[DATACASE_MAX_KEYS];
	char *val[DATACASE_MAX_KEYS]; /* unescaped, NUL-terminated */
	size_t val_len[DATACASE_MAX_KEYS];
};

struct datacases {
	struct datacase *v;
	size_t n;
};

/* Loads every `*.case` file of the directory named by environment variable
 * `env` if set and non-empty, else of `fallback` (relative to the working
 * directory). Free with datacase_free. */
struct datacases datacase_load(const char *env, const char *fallback);

/* The first value of `key` in `c`, or NULL. */
const char *datacase_get(const struct datacase *c, const char *key);

void datacase_free(struct datacases *cs);

#endif
