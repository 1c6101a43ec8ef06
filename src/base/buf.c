/*
 * buf.c — growable capped buffers and slices.
 */
#include "base/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"

struct pos_slice pos_slice_cstr(const char *s)
{
	return (struct pos_slice){s ? s : "", s ? strlen(s) : 0};
}

int pos_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool pos_slice_eq(struct pos_slice s, const char *lit)
{
	size_t n = strlen(lit);
	return s.len == n && memcmp(s.ptr, lit, n) == 0;
}

void pos_buf_init(struct pos_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void pos_buf_free(struct pos_buf *b)
{
	pos_free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void pos_buf_reset(struct pos_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

static enum pos_err grow(struct pos_buf *b, size_t extra)
{
	if (extra > b->max || b->len > b->max - extra)
		return POS_ERR_BODY_TOO_LARGE;
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return POS_OK;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > (size_t)-1 / 2 ? need : cap * 2;
	char *p = pos_realloc(b->data, cap);
	if (!p)
		return POS_ERR_NOMEM;
	b->data = p;
	b->cap = cap;
	return POS_OK;
}

enum pos_err pos_buf_add(struct pos_buf *b, const void *p, size_t n)
{
	enum pos_err rc = grow(b, n);
	if (rc)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return POS_OK;
}

enum pos_err pos_buf_adds(struct pos_buf *b, const char *s)
{
	return pos_buf_add(b, s, strlen(s));
}

enum pos_err pos_buf_addc(struct pos_buf *b, char c)
{
	return pos_buf_add(b, &c, 1);
}

enum pos_err pos_buf_addf(struct pos_buf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return POS_ERR_INTERNAL;
	if ((size_t)n < sizeof(small))
		return pos_buf_add(b, small, (size_t)n);
	enum pos_err rc = grow(b, (size_t)n);
	if (rc)
		return rc;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return POS_OK;
}

char *pos_buf_detach(struct pos_buf *b, size_t *len)
{
	char *p = b->data;
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}

size_t pos_utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	size_t n = max;
	while (n && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return n;
}
