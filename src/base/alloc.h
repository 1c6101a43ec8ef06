/*
 * alloc.h — the one allocator entry point (after Redis zmalloc, lua_Alloc).
 *
 * All heap memory of PersonalOS goes through these, so it can be counted and
 * failed on purpose in tests. They return NULL on failure (never abort) —
 * callers turn that into POS_ERR_NOMEM. pos_free(NULL) is a no-op.
 * Thread-safe.
 */
#ifndef POS_BASE_ALLOC_H
#define POS_BASE_ALLOC_H

#include <stddef.h>

void *pos_malloc(size_t n);
void *pos_calloc(size_t count, size_t size);
void *pos_realloc(void *p, size_t n);
void pos_free(void *p);
/* Returns a heap copy of `s` (NULL on OOM or when s is NULL). */
char *pos_strdup(const char *s);
/* Returns a NUL-terminated heap copy of the first n bytes of s. */
char *pos_strndup(const char *s, size_t n);

/*
 * Test hook: make the n-th allocation from now fail in the calling thread
 * (n = 0 disables). Per thread, so parallel tests do not interfere.
 */
void pos_alloc_fail_after(long n);

#endif
