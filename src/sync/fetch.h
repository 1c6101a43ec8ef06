/*
 * fetch.h — one HTTP exchange for the calendar adapters (ics_url, caldav):
 * a method, a URL, optional Basic/Digest credentials or a bearer token,
 * extra headers and a body; the answer's status, ETag and a body capped in
 * size. A thin layer over the one outbound client (net/http.h): the URL is
 * user-supplied (POS_NET_USER), held to the sink's egress policy on every
 * connection; only http and https; redirects followed (at most
 * POS_FETCH_REDIRECTS) for GET only, credentials never sent to another
 * origin; the run's cancellation stops the transfer.
 *
 * Thread-safe: every call has its own handle.
 */
#ifndef POS_SYNC_FETCH_H
#define POS_SYNC_FETCH_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"
#include "net/http.h"
#include "sync/adapter.h"

#define POS_FETCH_TIMEOUT_S 60
#define POS_FETCH_REDIRECTS 5

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
	const struct pos_sync_sink *sink; /* egress policy and cancellation; NULL:
					   * public addresses, no cancellation */
};

struct pos_fetch_resp {
	long status;                 /* HTTP status */
	struct pos_buf body;
	char etag[256];              /* "" when none */
	char effective_url[POS_HTTP_URL_MAX]; /* after redirects */
};

/*
 * Performs the exchange. Any HTTP status is POS_OK (the caller judges it).
 * Errors (messages name the host, never the credentials, curl's detail or
 * the remote's bytes): POS_ERR_FORBIDDEN when the egress policy refuses the
 * address; POS_ERR_UNAVAILABLE when the host cannot be reached, TLS fails,
 * the exchange times out or the run is cancelled; POS_ERR_BAD_GATEWAY when
 * the answer is larger than max_bytes or no valid HTTP;
 * POS_ERR_INVALID_FIELD (field "url") for a URL that is not http(s).
 * `resp` must be freed with pos_fetch_resp_free in all cases.
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
