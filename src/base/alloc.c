/*
 * alloc.c — the allocator entry point. Plain libc underneath; the only
 * state is a per-thread fault-injection countdown used by unit tests.
 */
#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

static _Thread_local long fail_countdown;

static int should_fail(void)
{
	if (fail_countdown <= 0)
		return 0;
	return --fail_countdown == 0;
}

void pos_alloc_fail_after(long n)
{
	fail_countdown = n;
}

void *pos_malloc(size_t n)
{
	if (should_fail())
		return NULL;
	return malloc(n ? n : 1);
}

void *pos_calloc(size_t count, size_t size)
{
	if (should_fail())
		return NULL;
	return calloc(count ? count : 1, size ? size : 1);
}

void *pos_realloc(void *p, size_t n)
{
	if (should_fail())
		return NULL;
	return realloc(p, n ? n : 1);
}

void pos_free(void *p)
{
	free(p);
}

char *pos_strndup(const char *s, size_t n)
{
	if (!s)
		return NULL;
	char *d = pos_malloc(n + 1);
	if (!d)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

char *pos_strdup(const char *s)
{
	return s ? pos_strndup(s, strlen(s)) : NULL;
}
