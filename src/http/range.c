/*
 * range.c — parsing of a single byte range (range.h).
 */
#include "http/range.h"

#include <stdbool.h>
#include <string.h>

/* Digits at *p into *v (no sign, no overflow past 2^63); false if none. */
static bool number(const char **p, uint64_t *v)
{
	const char *s = *p;
	uint64_t x = 0;
	if (*s < '0' || *s > '9')
		return false;
	while (*s >= '0' && *s <= '9') {
		if (x > (UINT64_MAX >> 1) / 10)
			return false;
		x = x * 10 + (uint64_t)(*s++ - '0');
	}
	*p = s;
	*v = x;
	return true;
}

int pos_range_parse(const char *header, uint64_t size, uint64_t *off, uint64_t *len)
{
	*off = 0;
	*len = size;
	if (!header || strncmp(header, "bytes=", 6) != 0)
		return 200;
	const char *p = header + 6;
	while (*p == ' ')
		p++;
	uint64_t a = 0, b = 0;
	bool has_a = number(&p, &a);
	if (*p++ != '-')
		return 200;
	bool has_b = number(&p, &b);
	while (*p == ' ')
		p++;
	if (*p != '\0' || (!has_a && !has_b)) /* several ranges, or junk */
		return 200;
	if (!has_a) { /* the last b bytes */
		if (b == 0 || size == 0)
			return 416;
		*off = b >= size ? 0 : size - b;
		*len = size - *off;
		return 206;
	}
	if (has_b && b < a)
		return 200;
	if (a >= size)
		return 416;
	*off = a;
	*len = (has_b && b < size - 1 ? b : size - 1) - a + 1;
	return 206;
}
