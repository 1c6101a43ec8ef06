/*
 * static.h — serves the web app (the Vite build in `web/dist`) at `/`.
 *
 * The server asks this module about every GET or HEAD that matched no API
 * route. Paths under /api stay with the router (an unknown /api/... is the
 * usual JSON 404). Anything else is looked up under the configured
 * `web_root` directory:
 *   - an existing regular file is sent (precompressed `FILE.gz` instead when
 *     the client accepts gzip), with its content type, a weak ETag, and
 *     `immutable` caching under /assets/ (Vite's content-hashed names) or
 *     `no-cache` for everything else (index.html, sw.js, the manifest);
 *   - a path whose last segment has no dot, asked for by a browser (Accept
 *     names text/html), gets index.html: the app's client-side routes;
 *   - anything else is left to the router (JSON 404).
 * Paths with `.`-segments, dot-files, backslashes, `%` or control bytes are
 * refused, and the resolved file must lie inside the real web root (no
 * escape through symlinks). App responses carry their own
 * Content-Security-Policy (no inline scripts, same-origin only) instead of
 * the API's `default-src 'none'`.
 *
 * Thread-safe: no state; each call opens, checks and hands off one file.
 */
#ifndef POS_HTTP_STATIC_H
#define POS_HTTP_STATIC_H

#include <stdbool.h>

struct pos_server;
struct pos_req;

/* The policy sent with every file of the web app. */
#define POS_STATIC_CSP                                                        \
	"default-src 'self'; script-src 'self'; style-src 'self'; "           \
	"img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; "   \
	"manifest-src 'self'; worker-src 'self'; object-src 'none'; "         \
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

/*
 * Tries to answer `r` (no route matched it) with a file of the web app.
 * Returns true when it queued a response, with libmicrohttpd's result in
 * *mhd_ret, and marks the request answered (status, type) for the log and
 * metrics. Returns false, touching nothing, when the request is not for
 * the app or no file fits; the caller then answers as usual.
 */
bool pos_static_serve(struct pos_server *srv, struct pos_req *r, int *mhd_ret);

/* Content type for a file name by its extension; never NULL. Exposed for
 * tests. */
const char *pos_static_type(const char *name);

/* True if `path` (a URL path starting with '/') is safe to map onto the
 * web root: no dot-segments or dot-files, no '\\', '%' or control bytes.
 * Exposed for tests. */
bool pos_static_path_ok(const char *path);

#endif
