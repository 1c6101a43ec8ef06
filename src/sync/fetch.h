/*
 * fetch.h — one HTTP exchange for the calendar adapters (ics_url, caldav),
 * with libcurl: a method, a URL, optional Basic/Digest credentials or a
 * bearer token, extra headers and a body; the answer's status, ETag and a
 * body capped in size. Only http and https, redirects followed for GET and
 * PROPFIND/REPORT only within http(s), credentials never sent to another
 * host after a redirect (libcurl's default).
 *
 * libcurl must have been initialised (curl_global_init) before any thread
 * calls in; the server does that at start-up. Thread-safe otherwise: every
 * call has its own easy handle.
 */
#ifndef POS_SYNC_FETCH_H
#define POS_SYNC_FETCH_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"

#define POS_FETCH_TIMEOUT_S 60

struct pos_fetch_req {
	const char *method;          /* "GET", "PROPFIND", "REPORT", "PUT", ... */
	const char *url;
	const char *user;            /* NULL: no credentials */
	const char *password;
	const char *token;           /* OAuth2 bearer token, or NULL */
	const char *const *headers;  /* NULL-terminated "Name: value", or NULL */
	const char *body;            /* request body, or NULL */
	size_t body_len;
	size_t max_bytes;            /* cap on the answer's body */
	long timeout_s;              /* 0: POS_FETCH_TIMEOUT_S */
	/* Polled from curl's progress callback (about once a second and on
	 * every transfer): true aborts the request ("sync cancelled", for a
	 * deleted source or a run past its deadline). NULL: never. */
	bool (*cancelled)(void *ctx);
	void *cancel_ctx;
};

struct pos_fetch_resp {
	long status;                 /* HTTP status */
	struct pos_buf body;
	char etag[256];              /* "" when none */
	char effective_url[1024];    /* after redirects */
};

/*
 * Performs the exchange. Any HTTP status is POS_OK (the caller judges it).
 * Errors: POS_ERR_UNAVAILABLE when the host cannot be reached, TLS fails or
 * the exchange times out (the message says which and names the host, never
 * the credentials); POS_ERR_BAD_GATEWAY when the answer is larger than
 * max_bytes; POS_ERR_INVALID_FIELD (field "url") for a URL that is not
 * http(s). `resp` must be freed with pos_fetch_resp_free in all cases.
 */
enum pos_err pos_fetch(const struct pos_fetch_req *req,
		       struct pos_fetch_resp *resp, struct pos_error *err);

void pos_fetch_resp_free(struct pos_fetch_resp *resp);

/*
 * Maps a failing HTTP status to an error with a message naming `what`:
 * 401 POS_ERR_BAD_CREDENTIALS ("authentication failed"), 403
 * POS_ERR_FORBIDDEN, 404
 * POS_ERR_NOT_FOUND, 5xx POS_ERR_UNAVAILABLE, anything else
 * POS_ERR_BAD_GATEWAY.
 */
enum pos_err pos_fetch_status_err(long status, const char *what,
				  struct pos_error *err);

/* True when url starts with http:// or https:// and has no spaces or
 * control characters. */
bool pos_fetch_url_ok(const char *url);

#endif
