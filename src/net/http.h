/*
 * http.h — the one outbound HTTP client (libcurl), with the egress policy.
 *
 * Every outbound connection of the server goes through this module: the
 * embeddings and chat providers, MemU, ICS feeds, CalDAV, the CLI's client
 * of a running server, and (pos_http_curl_new) the IMAP adapter. It owns the
 * things each caller used to get slightly different: timeouts (connect,
 * total, idle), a cap on the answer, cancellation and deadlines, redirects,
 * protocol limits, handle reuse, and the egress check.
 *
 * The egress check (net/egress.h) runs in curl's socket-open callback, on
 * the resolved address of every connection, redirects included, so neither
 * DNS rebinding nor a redirect can reach an address the policy refuses.
 * Redirects are followed here, hop by hop (not by curl), for GET and HEAD
 * only, never to another scheme than http(s); credentials are dropped when a
 * hop leaves the original scheme, host and port.
 *
 * Trust: POS_NET_USER destinations (anything a user supplies) must pass the
 * policy on every hop. POS_NET_OPERATOR destinations (llm_url, embed_url,
 * memu_base_url, the CLI's --server) are trusted: the exact host and port of
 * the request URL are allowed even when private or loopback; any other hop
 * is judged by the policy.
 *
 * Errors are safe to show to users: they name the host and what went wrong
 * ("could not connect to HOST", "HOST is not allowed by the server's egress
 * policy"), never curl's detail or the remote's bytes. A short line with
 * curl's code goes to the server log.
 *
 * libcurl must have been initialised (curl_global_init) before any thread
 * calls in. Thread-safety: pos_http_perform may be called from any thread;
 * a pool may be shared by threads; a request/response pair belongs to one.
 */
#ifndef POS_NET_HTTP_H
#define POS_NET_HTTP_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "net/egress.h"

#define POS_HTTP_CONNECT_MS_DEFAULT 10000
#define POS_HTTP_TIMEOUT_MS_DEFAULT 60000
#define POS_HTTP_MAX_BYTES_DEFAULT (8u << 20)
#define POS_HTTP_REDIRECTS_MAX 10
#define POS_HTTP_URL_MAX 2048

enum pos_net_trust {
	POS_NET_USER = 0,   /* user-supplied: every hop must pass the policy */
	POS_NET_OPERATOR,   /* operator-configured: its own host:port is trusted */
};

/* Why a request failed (resp->fail), for callers that retry or classify. */
enum pos_http_fail {
	POS_HTTP_OK = 0,
	POS_HTTP_DENIED,     /* the egress policy refused an address */
	POS_HTTP_CONNECT,    /* name not resolved, connection refused/failed */
	POS_HTTP_TLS,        /* handshake or certificate failure */
	POS_HTTP_TIMEOUT,    /* connect, total, idle timeout or the deadline */
	POS_HTTP_TOO_BIG,    /* the answer exceeded max_bytes */
	POS_HTTP_CANCELLED,  /* req->cancelled said so */
	POS_HTTP_ABORTED,    /* on_data returned false */
	POS_HTTP_PROTOCOL,   /* no valid HTTP answer, broken transfer */
	POS_HTTP_REDIRECTS,  /* more redirects than allowed, or a bad Location */
	POS_HTTP_NOMEM,
};

struct pos_http_req {
	const char *method;          /* NULL: GET, or POST when body is set */
	const char *url;             /* http:// or https:// */
	const char *const *headers;  /* NULL-terminated "Name: value", or NULL */
	const char *body;            /* request body, or NULL */
	size_t body_len;
	const char *user;            /* Basic/Digest credentials, or NULL */
	const char *password;
	const char *bearer;          /* Authorization: Bearer, or NULL */
	const char *ca_file;         /* extra CA bundle, or NULL */

	enum pos_net_trust trust;
	const struct pos_egress *egress; /* the operator's allowlist, or NULL */

	long connect_timeout_ms;     /* 0: POS_HTTP_CONNECT_MS_DEFAULT */
	long timeout_ms;             /* whole exchange; 0: POS_HTTP_TIMEOUT_MS_DEFAULT */
	long idle_timeout_s;         /* abort when silent this long; 0: off */
	int64_t deadline_us;         /* absolute (pos_mono_us: a wall-clock jump moves
				      * no deadline); 0: none */
	size_t max_bytes;            /* body cap; 0: POS_HTTP_MAX_BYTES_DEFAULT */
	unsigned max_redirects;      /* GET/HEAD only; capped at POS_HTTP_REDIRECTS_MAX */

	/* Optional: body bytes of the final answer go here instead of
	 * resp->body (which then stays empty); false stops the transfer
	 * (POS_HTTP_ABORTED; the caller has set its own reason). max_bytes
	 * still caps the total. */
	bool (*on_data)(void *ctx, long status, const char *p, size_t n);
	/* Optional: each header line of each answer, "\r\n" included; a line
	 * starting "HTTP/" starts a new answer (redirect, 100 Continue). */
	void (*on_header)(void *ctx, const char *line, size_t n);
	/* Optional: polled during the transfer; true stops it. */
	bool (*cancelled)(void *ctx);
	void *ctx;
};

struct pos_http_resp {
	long status;                 /* HTTP status of the last answer, 0: none */
	struct pos_buf body;         /* NUL-terminated (not counted in len) */
	enum pos_http_fail fail;
	char url[POS_HTTP_URL_MAX];  /* the last hop's URL */
	char host[256];              /* the last hop's host, for messages */
};

/* A small set of idle easy handles whose connections are kept alive. */
struct pos_http_pool;

/* A pool keeping up to `size` idle handles; NULL when out of memory. */
struct pos_http_pool *pos_http_pool_new(unsigned size);
/* Frees the pool and its idle handles; NULL is fine. No request may be
 * running on it. */
void pos_http_pool_free(struct pos_http_pool *p);

/*
 * Performs one exchange (following redirects as allowed). `pool` may be
 * NULL (a fresh handle). Any HTTP status is POS_OK: the caller judges it.
 * Errors, with a message safe for users in `err` and resp->fail set:
 * POS_ERR_FORBIDDEN (DENIED), POS_ERR_UNAVAILABLE (CONNECT, TLS, TIMEOUT,
 * CANCELLED), POS_ERR_BAD_GATEWAY (TOO_BIG, PROTOCOL, REDIRECTS, ABORTED),
 * POS_ERR_INVALID_FIELD (field "url") for a URL that is not http(s),
 * POS_ERR_NOMEM. `resp` must be freed with pos_http_resp_free in all cases.
 */
enum pos_err pos_http_perform(struct pos_http_pool *pool,
			      const struct pos_http_req *req,
			      struct pos_http_resp *resp, struct pos_error *err);

void pos_http_resp_free(struct pos_http_resp *resp);

/* True when url is http:// or https:// with a host, no spaces or control
 * characters, and shorter than POS_HTTP_URL_MAX. */
bool pos_http_url_ok(const char *url);

/* ---- a raw curl handle, for adapters that drive curl themselves ---- */

/* A curl easy handle with the egress check and protocol limits set. */
struct pos_http_easy {
	CURL *curl;
	/* internal */
	const struct pos_egress *egress;
	enum pos_net_trust trust;
	char host[256];
	unsigned port;
	bool denied;
};

/*
 * Makes `e->curl` for a connection to `host`:`port` with `protocols`
 * (e.g. "imap,imaps"; also the only redirect protocols): the socket-open
 * callback applies the policy, proxies from the environment are not used,
 * signals are off. The caller sets the URL and the rest, and must keep `e`
 * at a fixed address while the handle is used. Errors: POS_ERR_NOMEM.
 */
enum pos_err pos_http_easy_init(struct pos_http_easy *e, const char *host,
				unsigned port, const char *protocols,
				enum pos_net_trust trust,
				const struct pos_egress *egress,
				struct pos_error *err);
void pos_http_easy_cleanup(struct pos_http_easy *e);

/*
 * Maps a failed curl result on `e` to a user-safe error naming `what`
 * (e.g. "IMAP server mail.example.org"), logs curl's code server-side, and
 * returns the pos_err (as pos_http_perform does). LOGIN_DENIED gives
 * POS_ERR_BAD_CREDENTIALS.
 */
enum pos_err pos_http_easy_fail(const struct pos_http_easy *e, CURLcode cc,
				const char *what, struct pos_error *err);

#endif
