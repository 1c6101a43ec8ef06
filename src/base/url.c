/*
 * url.c — where a provider URL points, for privacy tiers.
 */
#include "base/url.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* The host of an http(s) URL, lower-cased, without brackets or port. */
static bool url_host(const char *url, char *out, size_t cap)
{
	const char *p = strstr(url, "://");
	if (!p)
		return false;
	p += 3;
	const char *at = NULL;
	for (const char *q = p; *q && *q != '/' && *q != '?' && *q != '#'; q++)
		if (*q == '@')
			at = q;
	if (at)
		p = at + 1;
	size_t n = 0;
	if (*p == '[') {
		p++;
		while (p[n] && p[n] != ']')
			n++;
	} else {
		while (p[n] && p[n] != ':' && p[n] != '/' && p[n] != '?' && p[n] != '#')
			n++;
	}
	if (!n || n >= cap)
		return false;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)p[i]);
	out[n] = '\0';
	return true;
}

/* Loopback, or a host named in the comma-separated `list`. */
bool pos_url_is_local(const char *url, const char *list)
{
	char host[256];
	if (!url || !*url)
		return true; /* built-in: nothing leaves */
	if (!url_host(url, host, sizeof(host)))
		return false;
	if (!strcmp(host, "localhost") || !strcmp(host, "::1") ||
	    !strncmp(host, "127.", 4))
		return true;
	for (const char *p = list ? list : ""; *p;) {
		while (*p == ',' || *p == ' ')
			p++;
		size_t n = strcspn(p, ", ");
		if (n && n == strlen(host) && !strncasecmp(p, host, n))
			return true;
		p += n;
	}
	return false;
}
