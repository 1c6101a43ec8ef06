/*
 * datacase.c — loads the data-driven test cases; see datacase.h.
 */
#include "datacase.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Unescapes s[0..n) into a new NUL-terminated heap string. */
static char *unescape(const char *s, size_t n, size_t *out_len)
{
	char *d = malloc(n + 1);
	size_t len = 0;
	assert_non_null(d);
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '\\' || i + 1 == n) {
			d[len++] = s[i];
			continue;
		}
		char c = s[++i];
		switch (c) {
		case 't': d[len++] = '\t'; break;
		case 'n': d[len++] = '\n'; break;
		case 'r': d[len++] = '\r'; break;
		case '0': d[len++] = '\0'; break;
		case 's': d[len++] = ' '; break;
		case 'x':
			if (i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
				d[len++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
				i += 2;
				break;
			}
			/* fall through */
		default:
			d[len++] = c;
			break;
		}
	}
	d[len] = '\0';
	*out_len = len;
	return d;
}

const char *datacase_get(const struct datacase *c, const char *key)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->key[i], key) == 0)
			return c->val[i];
	return NULL;
}

static void load_case(const char *dir, const char *name, struct datacase *c)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	static char data[64 * 1024];
	size_t size = fread(data, 1, sizeof(data) - 1, f);
	fclose(f);
	data[size] = '\0';

	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	long repeat = 1;
	for (char *line = data; line < data + size;) {
		char *nl = memchr(line, '\n', (size_t)(data + size - line));
		char *end = nl ? nl : data + size;
		char *next = nl ? nl + 1 : data + size;
		if (end > line && end[-1] == '\r')
			end--;
		if (end == line || line[0] == '#') {
			line = next;
			continue;
		}
		char *colon = memchr(line, ':', (size_t)(end - line));
		if (!colon)
			fail_msg("%s: line without a key: %.*s", name, (int)(end - line), line);
		char *v = colon + 1;
		if (v < end && *v == ' ')
			v++;
		if (c->n == DATACASE_MAX_KEYS)
			fail_msg("%s: too many lines", name);
		c->key[c->n] = strndup(line, (size_t)(colon - line));
		c->val[c->n] = unescape(v, (size_t)(end - v), &c->val_len[c->n]);
		if (strcmp(c->key[c->n], "repeat") == 0)
			repeat = strtol(c->val[c->n], NULL, 10);
		c->n++;
		line = next;
	}
	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->key[i], "input") != 0)
			continue;
		size_t one = c->val_len[i];
		c->input_len = one * (size_t)repeat;
		c->input = malloc(c->input_len + 1);
		assert_non_null(c->input);
		for (long r = 0; r < repeat; r++)
			memcpy(c->input + one * (size_t)r, c->val[i], one);
		c->input[c->input_len] = '\0';
	}
	if (!c->input)
		fail_msg("%s: no input: line", name);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(((const struct datacase *)a)->name,
		      ((const struct datacase *)b)->name);
}

struct datacases datacase_load(const char *env, const char *fallback)
{
	const char *dir = getenv(env);
	if (!dir || !*dir)
		dir = fallback;
	DIR *d = opendir(dir);
	if (!d)
		fail_msg("cannot open the case directory %s (set %s or run from the "
			 "repository root)", dir, env);
	struct datacases cs = {NULL, 0};
	size_t cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len < 6 || strcmp(e->d_name + len - 5, ".case") != 0)
			continue;
		if (cs.n == cap) {
			cap = cap ? cap * 2 : 64;
			cs.v = realloc(cs.v, cap * sizeof(*cs.v));
			assert_non_null(cs.v);
		}
		load_case(dir, e->d_name, &cs.v[cs.n++]);
	}
	closedir(d);
	if (!cs.n)
		fail_msg("no .case files in %s", dir);
	qsort(cs.v, cs.n, sizeof(*cs.v), cmp_names);
	return cs;
}

void datacase_free(struct datacases *cs)
{
	for (size_t i = 0; i < cs->n; i++) {
		for (size_t k = 0; k < cs->v[i].n; k++) {
			free(cs->v[i].key[k]);
			free(cs->v[i].val[k]);
		}
		free(cs->v[i].input);
	}
	free(cs->v);
	cs->v = NULL;
	cs->n = 0;
}
