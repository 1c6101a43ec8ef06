/*
 * arena.c — bump allocation in a chain of blocks. Large requests get a block
 * of their own so a 1 MiB body does not waste a doubling.
 */
#include "base/arena.h"

#include <stdint.h>
#include <string.h>

#include "base/alloc.h"

#define ARENA_ALIGN 16
#define ARENA_FIRST 4096
#define ARENA_BLOCK_MAX (64 * 1024)

struct block {
	struct block *next;
	size_t size, used;
	_Alignas(ARENA_ALIGN) unsigned char mem[];
};

struct cleanup {
	struct cleanup *next;
	void (*fn)(void *);
	void *arg;
};

struct pos_arena {
	struct block *head;
	struct cleanup *cleanups;
	size_t next_size;
	size_t used;
};

struct pos_arena *pos_arena_new(void)
{
	struct pos_arena *a = pos_calloc(1, sizeof(*a));
	if (a)
		a->next_size = ARENA_FIRST;
	return a;
}

void pos_arena_destroy(struct pos_arena *a)
{
	if (!a)
		return;
	for (struct cleanup *c = a->cleanups; c; c = c->next)
		c->fn(c->arg);
	struct block *b = a->head;
	while (b) {
		struct block *next = b->next;
		pos_free(b);
		b = next;
	}
	pos_free(a);
}

void *pos_arena_alloc(struct pos_arena *a, size_t n)
{
	if (n > SIZE_MAX - ARENA_ALIGN)
		return NULL;
	n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (!n)
		n = ARENA_ALIGN;
	struct block *b = a->head;
	if (!b || b->size - b->used < n) {
		size_t size = a->next_size;
		if (size < n)
			size = n;
		struct block *nb = pos_malloc(sizeof(*nb) + size);
		if (!nb)
			return NULL;
		nb->size = size;
		nb->used = 0;
		if (b && n > a->next_size) {
			/* Oversized: keep the current block as the bump target. */
			nb->next = b->next;
			b->next = nb;
		} else {
			nb->next = b;
			a->head = nb;
			if (a->next_size < ARENA_BLOCK_MAX)
				a->next_size *= 2;
		}
		b = nb;
	}
	void *p = b->mem + b->used;
	b->used += n;
	a->used += n;
	return p;
}

void *pos_arena_zalloc(struct pos_arena *a, size_t n)
{
	void *p = pos_arena_alloc(a, n);
	if (p)
		memset(p, 0, n);
	return p;
}

char *pos_arena_strndup(struct pos_arena *a, const char *s, size_t n)
{
	if (!s)
		return NULL;
	char *d = pos_arena_alloc(a, n + 1);
	if (!d)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

char *pos_arena_strdup(struct pos_arena *a, const char *s)
{
	return s ? pos_arena_strndup(a, s, strlen(s)) : NULL;
}

int pos_arena_on_cleanup(struct pos_arena *a, void (*fn)(void *), void *arg)
{
	struct cleanup *c = pos_arena_alloc(a, sizeof(*c));
	if (!c)
		return -1;
	c->fn = fn;
	c->arg = arg;
	c->next = a->cleanups;
	a->cleanups = c;
	return 0;
}

size_t pos_arena_used(const struct pos_arena *a)
{
	return a->used;
}
