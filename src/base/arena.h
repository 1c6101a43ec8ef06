/*
 * arena.h — a region allocator with cleanup hooks (nginx pools, h2o).
 *
 * One arena per request: handlers allocate freely and never free; the
 * arena releases everything at once in pos_arena_destroy, after running the
 * cleanup hooks in reverse order of registration (statements, fds, locks).
 * Allocations are 16-byte aligned. Returns NULL on OOM. Not thread-safe.
 */
#ifndef POS_BASE_ARENA_H
#define POS_BASE_ARENA_H

#include <stddef.h>

struct pos_arena;

/* A new empty arena, or NULL on OOM. */
struct pos_arena *pos_arena_new(void);
/* Runs cleanups (last registered first), frees every block and the arena. */
void pos_arena_destroy(struct pos_arena *a);
/* n bytes of uninitialised, aligned memory, or NULL. */
void *pos_arena_alloc(struct pos_arena *a, size_t n);
/* n zeroed bytes, or NULL. */
void *pos_arena_zalloc(struct pos_arena *a, size_t n);
/* Copies of a string (NULL in gives NULL out). */
char *pos_arena_strdup(struct pos_arena *a, const char *s);
char *pos_arena_strndup(struct pos_arena *a, const char *s, size_t n);
/* Registers fn(arg) to run at destroy. Returns 0, or -1 on OOM (fn not run). */
int pos_arena_on_cleanup(struct pos_arena *a, void (*fn)(void *), void *arg);
/* Bytes handed out so far (for tests and metrics). */
size_t pos_arena_used(const struct pos_arena *a);

#endif
