/*
 * cors.c — parsing and matching of the CORS allow-list (cors.h).
 */
#include "http/cors.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* scheme://host[:port], nothing after: the form browsers send in Origin. */
static bool valid_origin(const char *s, size_t n)
{
	size_t p;
	if (n > 7 && strncasecmp(s, "http://", 7) == 0)
		p = 7;
	else if (n > 8 && strncasecmp(s, "https://", 8) == 0)
		p = 8;
	else
		return false;
	size_t host = p;
	bool bracket = s[p] == '[';
	for (; p < n; p++) {
		unsigned char ch = (unsigned char)s[p];
		if (bracket) {
			if (ch == ']') {
				bracket = false;
				continue;
			}
			if (!isxdigit(ch) && ch != ':' && ch != '.' && ch != '[')
				return false;
			continue;
		}
		if (ch == ':')
			break;
		if (!isalnum(ch) && ch != '-' && ch != '.' && ch != '[')
			return false;
	}
	if (bracket || p == host)
		return false;
	if (p < n) { /* :port */
		size_t digits = 0;
		for (p++; p < n; p++, digits++)
			if (!isdigit((unsigned char)s[p]))
				return false;
		if (digits == 0 || digits > 5)
			return false;
	}
	return true;
}

enum pos_err pos_cors_parse(struct pos_cors *c, const char *list,
			    struct pos_error *err)
{
	memset(c, 0, sizeof(*c));
	const char *p = list ? list : "";
	while (*p) {
		const char *end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		const char *a = p, *b = end;
		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		size_t n = (size_t)(b - a);
		if (n == 1 && *a == '*') {
			c->any = true;
		} else if (n) {
			if (n >= POS_CORS_ORIGIN_MAX || !valid_origin(a, n))
				return pos_error_set(err, POS_ERR_USAGE, "cors_origins",
						     "cors_origins: '%.*s' is not an origin "
						     "(scheme://host[:port], no path)",
						     (int)(n > 80 ? 80 : n), a);
			if (c->n == POS_CORS_MAX_ORIGINS)
				return pos_error_set(err, POS_ERR_USAGE, "cors_origins",
						     "cors_origins: at most %d origins",
						     POS_CORS_MAX_ORIGINS);
			memcpy(c->origin[c->n], a, n);
			c->origin[c->n][n] = '\0';
			c->n++;
		}
		p = *end ? end + 1 : end;
	}
	return POS_OK;
}

const char *pos_cors_allow(const struct pos_cors *c, const char *origin)
{
	if (!origin || !*origin)
		return NULL;
	if (c->any)
		return "*";
	for (size_t i = 0; i < c->n; i++)
		if (strcasecmp(c->origin[i], origin) == 0)
			return c->origin[i];
	return NULL;
}
