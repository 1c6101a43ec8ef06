/*
 * server.h — the HTTP server: libmicrohttpd (epoll, thread pool) driving a
 * declarative route table, and `struct pos_server`, the context every
 * handler gets (no mutable globals). The server builds no service: it is
 * handed a `struct pos_app` (app/app.h) and handlers reach services as
 * srv->app->... Life: pos_server_init, pos_server_start(app),
 * pos_server_drain, pos_server_stop (cli/serve.c).
 *
 * Request life: first callback → a `struct pos_req` with its own arena,
 * and for a known route everything the headers decide: rate limits, the
 * bearer token, its scope and a declared length over the limit; a refusal
 * of a request with a body is queued at once and the body never read;
 * body chunks → appended up to the route's limit (at most max_public_body
 * on routes without a token); last callback → a handler slot from
 * admission control (http/admission.h: run, wait parked, or 503), body
 * checks, handler,
 * response queued (on the first callback only for refusals with a body, so
 * keep-alive survives otherwise); completion → metrics, one log line, arena
 * freed.
 *
 * Handlers run on worker threads, one request at a time per thread; they
 * must answer through pos_reply* exactly once. Everything they allocate
 * from `r->arena` is freed after the response is sent.
 */
#ifndef POS_HTTP_SERVER_H
#define POS_HTTP_SERVER_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "app/app.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/config.h"
#include "http/admission.h"
#include "http/cors.h"
#include "http/metrics.h"
#include "http/ratelimit.h"
#include "http/stream.h"
#include "http/ws_hub.h"

struct pos_server;
struct pos_req;

typedef void (*pos_handler)(struct pos_server *srv, struct pos_req *r);

/* Who may call a route. */
enum pos_route_auth {
	POS_ROUTE_PUBLIC,     /* no token needed */
	POS_ROUTE_BEARER,     /* a session access token or a personal API token */
	POS_ROUTE_SESSION,    /* a session access token only (token management,
			       * logout: a leaked API token must not mint or
			       * revoke others) */
	POS_ROUTE_BEARER_SCOPED, /* like BEARER, but a read-scope token may
				  * call it whatever the method: the handler
				  * enforces the scope per operation (POST /mcp) */
};

/* The configured limit of a spooled body (pos_route.spool_limit). */
enum pos_spool_limit {
	POS_SPOOL_FILE = 0, /* file_max plus POS_SPOOL_SLACK for multipart framing */
	POS_SPOOL_IMPORT,   /* import_upload_max (an export file, as it is) */
};

struct pos_route {
	const char *method;   /* "GET", "POST", ... */
	const char *pattern;  /* "/api/memories/{id}": {x} matches one segment */
	pos_handler handler;
	enum pos_route_auth auth;
	size_t body_max;      /* bytes; 0 = no body accepted */
	const char *name;     /* "GET /api/memories/{id}" for metrics and logs */
	bool raw_body;        /* the body is bytes of any type (uploads), not JSON */
	/* files (issue 21): the body goes to an unlinked file in DATA/blobs,
	 * never memory (r->spool_fd, r->spool_len); its limit is the
	 * configured one `spool_limit` names, and body_max is ignored.
	 * Implies raw_body. */
	bool spool_body;
	enum pos_spool_limit spool_limit;
};

#define POS_SPOOL_SLACK (64 * 1024)

#define POS_MAX_PATH_PARAMS 4

struct pos_req {
	struct pos_server *srv;
	struct MHD_Connection *conn;
	struct pos_arena *arena;
	const struct pos_route *route;  /* NULL if none matched */
	size_t route_index;
	const char *method;
	const char *url;
	const char *path_params[POS_MAX_PATH_PARAMS];
	size_t n_path_params;
	struct pos_buf body;
	bool body_too_large;
	bool started;
	bool have_principal;
	struct pos_principal principal;
	int64_t start_us;
	/* the response */
	int status;
	char *resp;
	size_t resp_len;
	const char *resp_type;
	const char *allow;        /* Allow header for 405 */
	bool answered;
	/* a deferred answer (pos_req_defer) and a streamed body */
	void (*defer_start)(void *ctx);
	void *defer_ctx;
	bool deferred, queued;
	struct pos_stream *stream;
	struct pos_pull *pull;        /* a pulled body (pos_reply_pull) */
	struct pos_ws_conn *ws;       /* a WebSocket upgrade (pos_reply_ws) */
	_Atomic(bool) *ws_attached;   /* set by the upgrade (arena) */
	/* ---- security: client identity, 429, CORS ---- */
	struct pos_rl_client client;  /* for per-address limits */
	unsigned retry_after;         /* seconds, sent as Retry-After with 429 */
	const char *cors_origin;      /* Access-Control-Allow-Origin, NULL: none */
	bool preflight;               /* an answered CORS preflight (OPTIONS) */
	/* ---- limits before authentication (docs/SECURITY.md) ---- */
	bool admitted;                /* header checks done (admit in server.c) */
	bool peer_loopback;           /* socket peer is loopback, no forwarded-for */
	bool over_budget;             /* bodies held by the server over max_body_memory */
	size_t body_counted;          /* bytes of this body in srv->body_bytes */
	/* ---- files (issue 21): a spooled body (route spool_body) ---- */
	int spool_fd;                 /* -1 when none (no body yet); closed with the arena */
	uint64_t spool_len;           /* bytes written to it */
	bool spool_failed;            /* the spool could not be written: 503 */
	/* ---- files (issue 21): a body read on demand (pos_reply_reader) ---- */
	long (*reader)(void *ctx, uint64_t pos, char *buf, size_t max);
	void (*reader_free)(void *ctx);
	void *reader_ctx;
	uint64_t reader_size;
	const char *extra_header[4][2]; /* name, value (arena or static); NULL: none */
	/* ---- admission control (http/admission.h) ---- */
	struct pos_adm_waiter adm;    /* its handler slot or place in the queue */
	bool adm_parked;              /* suspended in the queue, comes back once */
	bool offloaded;               /* its handler runs on srv->handlers (suspended) */
	bool counted;                 /* in srv->inflight: began before the drain */
};

struct pos_pool; /* jobs/pool.h */

struct pos_server {
	const struct pos_config *cfg;
	/* the services (app/app.h), borrowed: handlers reach every service
	 * through it; set by pos_server_start */
	struct pos_app *app;
	struct pos_metrics metrics;
	const struct pos_route *routes;
	size_t n_routes;
	struct MHD_Daemon *daemon;
	int64_t started_us;
	unsigned port;                /* the bound port (useful with :0) */
	atomic_bool draining;
	atomic_long inflight;         /* requests that began before the drain, not yet completed */
	atomic_llong body_bytes;      /* request body bytes held, all requests */
	const char **route_names;
	/* ---- security: rate limits and CORS allow-list ---- */
	struct pos_ratelimit rl;
	struct pos_cors cors;
	char *tls_pem[2];             /* certificate and key text, or NULL */
	struct pos_ws_hub *ws_hub;    /* upgraded WebSocket connections (http/ws_hub.h) */
	/* ---- admission control (http/admission.h): on when cfg->admission ---- */
	struct pos_admission adm;
	bool adm_on;
	/* Handlers that hold a slot run here, max_inflight threads, never on
	 * libmicrohttpd's workers: a slow handler must not stop its worker
	 * from reading, queueing and refusing the other connections it owns
	 * (docs/OPERATIONS.md, "Admission control"). NULL when admission is
	 * off: handlers then run on the workers. */
	struct pos_pool *handlers;
};

/*
 * Checks the server's own settings (CORS list, TLS files, rate limits) and
 * sets up its metrics; opens nothing and starts no thread, so a bad
 * setting stops the start before the app is built. The config and route
 * table are borrowed for the server's life. On failure sets `err` and
 * leaves nothing to free.
 */
enum pos_err pos_server_init(struct pos_server *srv, const struct pos_config *cfg,
			     const struct pos_route *routes, size_t n_routes,
			     struct pos_error *err);
/*
 * Starts listening, handing requests to the routes with `app`'s services
 * (borrowed: it must outlive the server). On failure sets `err`; the
 * caller still calls pos_server_stop.
 */
enum pos_err pos_server_start(struct pos_server *srv, struct pos_app *app,
			      struct pos_error *err);
/*
 * New requests get 503 from here on, and so do those waiting in the
 * admission queue, at once; waits for the requests that began before it
 * to finish (up to the configured grace), never for those that began
 * after. The daemon keeps running, so
 * deferred answers (model calls) can still be delivered: stop those next
 * (pos_app_quiesce), then call pos_server_stop. Idempotent.
 */
void pos_server_drain(struct pos_server *srv);
/*
 * Drains (if not done yet), stops the daemon and frees what
 * pos_server_init set up. Safe after a failed pos_server_start. The app
 * is not touched.
 */
void pos_server_stop(struct pos_server *srv);

/* ---- for handlers ---- */

/* Query-string parameter (decoded) or NULL. */
const char *pos_req_param(struct pos_req *r, const char *name);
/* pos_req_param with the request as a void context (for parsers that take
 * a parameter callback). */
const char *pos_req_param_cb(void *r, const char *name);
/* Request header or NULL. */
const char *pos_req_header(struct pos_req *r, const char *name);
/* Path parameter i ({...} in order), NUL-terminated, in the arena. */
const char *pos_req_path(struct pos_req *r, size_t i);
/*
 * Parses the body as a JSON object (a new reference into *out). On failure
 * answers the request (400/415) and returns false.
 */
bool pos_req_json(struct pos_req *r, json_t **out);

/* Answers with `status` and the JSON in `b` (takes its storage). */
void pos_reply_json(struct pos_req *r, int status, struct pos_buf *b);
/* Answers with a body of the given type (takes `b`'s storage). */
void pos_reply_typed(struct pos_req *r, int status, const char *type,
		     struct pos_buf *b);
/* Answers with no body (204). */
void pos_reply_empty(struct pos_req *r, int status);
/* Answers 429 rate_limited with Retry-After: `retry_s` seconds. */
void pos_reply_rate_limited(struct pos_req *r, unsigned retry_s);
/* Answers with the error body for `e`. */
void pos_reply_error(struct pos_req *r, const struct pos_error *e);
/* Shorthand: code + optional field + message (NULL for the default text). */
void pos_reply_err(struct pos_req *r, enum pos_err code, const char *field,
		   const char *message);

/*
 * Deferred answers, for handlers that wait on something slow (a language
 * model). Instead of answering, the handler calls pos_req_defer with a
 * start function; once the handler has returned, the server parks the
 * connection (no worker thread waits) and calls start(ctx), which hands the
 * work to another thread. That thread answers with pos_reply_* or
 * pos_reply_stream and then calls pos_req_resume; after that it must not
 * touch the request.
 */
void pos_req_defer(struct pos_req *r, void (*start)(void *ctx), void *ctx);
void pos_req_resume(struct pos_req *r);
/*
 * Answers with a body written by the caller over time (e.g. Server-Sent
 * Events): see http/stream.h for writing and closing it. Returns NULL on
 * NOMEM, having answered with an error instead. The caller owns one
 * reference, released by pos_stream_close.
 */
struct pos_stream *pos_reply_stream(struct pos_req *r, int status, const char *type);

/*
 * Answers 101 Switching Protocols to a WebSocket handshake: `accept` is
 * the Sec-WebSocket-Accept value, `protocol` (may be NULL) the
 * Sec-WebSocket-Protocol chosen (both static or in the arena). Once the
 * answer is sent the socket goes to `c` (http/ws_hub.h); if it never is,
 * `c` is abandoned. The request owns `c` from this call.
 */
void pos_reply_ws(struct pos_req *r, const char *accept, const char *protocol,
		  struct pos_ws_conn *c);
/* The server's WebSocket hub, for pos_ws_conn_new. */
struct pos_ws_hub *pos_server_ws_hub(struct pos_server *srv);

/*
 * Answers with a body of unknown length pulled from fn as the client reads
 * (live events; see pos_pull_fn in http/stream.h for fn's contract). The
 * pull is returned for pos_pull_wake. NULL on NOMEM, having called
 * free_fn(ctx) and answered with an error instead.
 */
struct pos_pull *pos_reply_pull(struct pos_req *r, int status, const char *type, pos_pull_fn fn,
				void (*free_fn)(void *ctx), void *ctx);

/*
 * Answers with a body of `size` bytes read on demand by `fn` (downloads):
 * fn(ctx, pos, buf, max) returns the bytes it put in buf (> 0), or -1 on
 * a failure (the connection is then closed). `free_fn(ctx)` runs once when
 * the response is done, whether or not it was sent; also when this returns
 * false (NOMEM), after which the request has been answered with an error.
 */
bool pos_reply_reader(struct pos_req *r, int status, const char *type, uint64_t size,
		      long (*fn)(void *ctx, uint64_t pos, char *buf, size_t max),
		      void (*free_fn)(void *ctx), void *ctx);
/* Adds a response header (at most 4; name and value must outlive the
 * request: static or the request's arena). False when full. */
bool pos_reply_header(struct pos_req *r, const char *name, const char *value);

/*
 * True when the socket peer is a loopback address and no X-Forwarded-For
 * header counts (trust_forwarded_for on and the header present means a
 * proxy on this host speaks for someone else).
 */
static inline bool pos_req_from_loopback(const struct pos_req *r)
{
	return r->peer_loopback;
}

/* Matches `path` against a pattern, filling params; exposed for tests. */
bool pos_route_match(const char *pattern, const char *path,
		     struct pos_arena *a, const char **params, size_t *n);

#endif
