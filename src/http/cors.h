/*
 * cors.h — the CORS allow-list: which browser origins may call the API.
 *
 * Built once from config `cors_origins` (comma-separated, e.g.
 * "https://app.example.com, http://localhost:5173"; "*" allows any origin)
 * and read-only after, so thread-safe. An origin is compared exactly
 * (scheme, host and port, case-insensitively), as browsers send it. The
 * API authenticates with bearer tokens, never cookies, so credentials are
 * not allowed and a wildcard is answered as `*`. See docs/SECURITY.md.
 */
#ifndef POS_HTTP_CORS_H
#define POS_HTTP_CORS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

#define POS_CORS_MAX_ORIGINS 64
#define POS_CORS_ORIGIN_MAX 256
/* How long a browser may cache a preflight answer (seconds). */
#define POS_CORS_MAX_AGE "600"
#define POS_CORS_ALLOW_HEADERS "Authorization, Content-Type"
#define POS_CORS_EXPOSE_HEADERS "Retry-After, Server-Timing"

struct pos_cors {
	bool any;                     /* "*" was listed */
	size_t n;
	char origin[POS_CORS_MAX_ORIGINS][POS_CORS_ORIGIN_MAX];
};

/*
 * Parses the allow-list. Each entry must be scheme://host[:port] with
 * scheme http or https and no path, or "*". An empty list allows none.
 * POS_ERR_USAGE (field "cors_origins") naming the bad entry.
 */
enum pos_err pos_cors_parse(struct pos_cors *c, const char *list,
			    struct pos_error *err);

/* True when the list is not empty (answers then carry Vary: Origin). */
static inline bool pos_cors_enabled(const struct pos_cors *c)
{
	return c->any || c->n > 0;
}

/*
 * The Access-Control-Allow-Origin value for a request's Origin header:
 * "*" or the origin itself when allowed, NULL when not (or no header).
 */
const char *pos_cors_allow(const struct pos_cors *c, const char *origin);

#endif
