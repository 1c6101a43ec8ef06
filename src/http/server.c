/*
 * server.c — libmicrohttpd glue: request lifecycle, routing, auth and body
 * checks, responses, per-request log lines and metrics, graceful stop.
 */
#include "http/server.h"
#include "http/static.h"  /* the web app's files (pos_static_serve) */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>
#include <microhttpd.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/log.h"
#include "base/url.h"
#include "events/bus.h"
#include "jobs/pool.h"

#define ERROR_BODY_MAX 4096

/* Writes prefix + microseconds as milliseconds with 3 decimals ("1.234"),
 * without printf: this runs on every response. */
static void pos_format_ms(char *out, size_t cap, const char *prefix, int64_t us)
{
	char digits[24];
	size_t n = 0;
	uint64_t v = us > 0 ? (uint64_t)us : 0;
	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v || n < 4);
	size_t o = 0, plen = strlen(prefix);
	if (plen + n + 2 > cap)
		return;
	memcpy(out, prefix, plen);
	o = plen;
	for (size_t i = n; i > 0; i--) {
		out[o++] = digits[i - 1];
		if (i == 4)
			out[o++] = '.';
	}
	out[o] = '\0';
}

/* ---- routing ---- */

bool pos_route_match(const char *pattern, const char *path,
		     struct pos_arena *a, const char **params, size_t *n)
{
	const char *p = pattern, *s = path;
	*n = 0;
	while (*p && *s) {
		if (*p == '{') {
			const char *close = strchr(p, '}');
			const char *end = strchr(s, '/');
			if (!close)
				return false;
			if (!end)
				end = s + strlen(s);
			if (end == s || *n >= POS_MAX_PATH_PARAMS)
				return false;
			if (a) {
				params[*n] = pos_arena_strndup(a, s, (size_t)(end - s));
				if (!params[*n])
					return false;
			}
			(*n)++;
			p = close + 1;
			s = end;
			continue;
		}
		if (*p != *s)
			return false;
		p++;
		s++;
	}
	/* A single trailing slash on the request is tolerated. */
	if (*s == '/' && s[1] == '\0')
		s++;
	return *p == '\0' && *s == '\0';
}

/* Finds the route for method+path. If the path exists under other methods
 * only, sets *allow to their list. */
static const struct pos_route *route_find(struct pos_server *srv, struct pos_req *r,
					  const char *method, const char *path,
					  size_t *index, const char **allow)
{
	/* Dispatch: the first route matching path and method. The table lists
	 * fixed paths before the {placeholder} routes they would match. */
	bool path_known = false;
	for (size_t i = 0; i < srv->n_routes; i++) {
		const struct pos_route *rt = &srv->routes[i];
		size_t n = 0;
		if (!pos_route_match(rt->pattern, path, NULL, NULL, &n))
			continue;
		path_known = true;
		if (strcmp(rt->method, method) == 0 ||
		    (strcmp(method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0)) {
			pos_route_match(rt->pattern, path, r->arena, r->path_params,
					&r->n_path_params);
			*index = i;
			return rt;
		}
	}
	if (!path_known)
		return NULL;
	/* 405: list the methods of the path. A fixed path shadows the
	 * {placeholder} routes it also matches. */
	bool fixed = false;
	for (size_t i = 0; i < srv->n_routes && !fixed; i++) {
		size_t n = 0;
		fixed = !strchr(srv->routes[i].pattern, '{') &&
			pos_route_match(srv->routes[i].pattern, path, NULL, NULL, &n);
	}
	struct pos_buf methods;
	pos_buf_init(&methods, 256);
	for (size_t i = 0; i < srv->n_routes; i++) {
		const struct pos_route *rt = &srv->routes[i];
		size_t n = 0;
		if ((fixed && strchr(rt->pattern, '{')) ||
		    !pos_route_match(rt->pattern, path, NULL, NULL, &n) ||
		    (methods.data && strstr(methods.data, rt->method)))
			continue;
		if (methods.len)
			pos_buf_adds(&methods, ", ");
		pos_buf_adds(&methods, rt->method);
	}
	if (methods.len)
		*allow = pos_arena_strdup(r->arena, methods.data);
	pos_buf_free(&methods);
	return NULL;
}

/* ---- handler helpers ---- */

const char *pos_req_param(struct pos_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *pos_req_param_cb(void *r, const char *name)
{
	return pos_req_param(r, name);
}

const char *pos_req_header(struct pos_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *pos_req_path(struct pos_req *r, size_t i)
{
	return i < r->n_path_params ? r->path_params[i] : "";
}

void pos_reply_typed(struct pos_req *r, int status, const char *type,
		     struct pos_buf *b)
{
	if (r->answered)
		POS_BUG("request answered twice");
	r->answered = true;
	r->status = status;
	r->resp_type = type;
	r->resp = pos_buf_detach(b, &r->resp_len);
}

bool pos_reply_reader(struct pos_req *r, int status, const char *type, uint64_t size,
		      long (*fn)(void *ctx, uint64_t pos, char *buf, size_t max),
		      void (*free_fn)(void *ctx), void *ctx)
{
	if (r->answered)
		POS_BUG("request answered twice");
	r->answered = true;
	r->status = status;
	r->resp_type = type;
	r->reader = fn;
	r->reader_free = free_fn;
	r->reader_ctx = ctx;
	r->reader_size = size;
	return true;
}

bool pos_reply_header(struct pos_req *r, const char *name, const char *value)
{
	for (size_t i = 0; i < 4; i++) {
		if (!r->extra_header[i][0]) {
			r->extra_header[i][0] = name;
			r->extra_header[i][1] = value;
			return true;
		}
	}
	return false;
}

/* libmicrohttpd's reader over ours: -1 becomes the end-with-error mark. */
struct reader_box {
	long (*fn)(void *ctx, uint64_t pos, char *buf, size_t max);
	void (*free_fn)(void *ctx);
	void *ctx;
};

static ssize_t reader_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct reader_box *b = cls;
	long n = b->fn(b->ctx, pos, buf, max);
	return n > 0 ? (ssize_t)n : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void reader_free_cb(void *cls)
{
	struct reader_box *b = cls;
	if (b->free_fn)
		b->free_fn(b->ctx);
	pos_free(b);
}

void pos_reply_json(struct pos_req *r, int status, struct pos_buf *b)
{
	pos_reply_typed(r, status, "application/json", b);
}

void pos_reply_empty(struct pos_req *r, int status)
{
	struct pos_buf b;
	pos_buf_init(&b, 0);
	pos_reply_typed(r, status, NULL, &b);
}

void pos_reply_error(struct pos_req *r, const struct pos_error *e)
{
	struct pos_buf b;
	pos_buf_init(&b, ERROR_BODY_MAX);
	struct pos_error copy = *e;
	int status = pos_err_status(e->code);
	/* Upstream failures keep their reason: it names the provider's fault
	 * (never a secret or content), and the user needs it. */
	if (status >= 500 && e->code != POS_ERR_UNAVAILABLE && e->code != POS_ERR_BAD_GATEWAY) {
		/* Internal detail stays in the log, not in the answer. */
		pos_error_log("%s %s: %s (%s)", r->method,
			      r->route ? r->route->name : "-", pos_strerror(e->code),
			      e->message);
		/* A full disk is the operator's to fix, and says so. */
		pos_error_set(&copy, e->code, NULL, "%s",
			      e->code == POS_ERR_NO_SPACE ? pos_strerror(e->code) : "internal error");
		copy.index = -1;
	}
	if (pos_json_error_body(&b, &copy) != POS_OK) {
		pos_buf_reset(&b);
		pos_buf_adds(&b, "{\"error\":{\"code\":\"internal_error\",\"message\":\"internal error\"}}");
		status = 500;
	}
	pos_reply_json(r, status, &b);
}

void pos_reply_rate_limited(struct pos_req *r, unsigned retry_s)
{
	r->retry_after = retry_s ? retry_s : 1;
	pos_reply_err(r, POS_ERR_RATE_LIMITED, NULL,
		      "too many requests: try again after Retry-After seconds");
}

void pos_reply_err(struct pos_req *r, enum pos_err code, const char *field,
		   const char *message)
{
	struct pos_error e;
	pos_error_clear(&e);
	if (message)
		pos_error_set(&e, code, field, "%s", message);
	else
		pos_error_set(&e, code, field, NULL);
	pos_reply_error(r, &e);
}

static bool is_json_type(const char *ct)
{
	if (!ct)
		return false;
	while (*ct == ' ')
		ct++;
	size_t n = strlen("application/json");
	if (strncasecmp(ct, "application/json", n) != 0)
		return false;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

bool pos_req_json(struct pos_req *r, json_t **out)
{
	struct pos_error e;
	pos_error_clear(&e);
	if (r->body.len == 0) {
		pos_reply_err(r, POS_ERR_INVALID_REQUEST, NULL, "a JSON body is required");
		return false;
	}
	json_t *v = pos_json_parse(r->body.data, r->body.len, &e);
	if (!v) {
		pos_reply_error(r, &e);
		return false;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		pos_reply_err(r, POS_ERR_INVALID_REQUEST, NULL,
			      "the body must be a JSON object");
		return false;
	}
	*out = v;
	return true;
}

void pos_req_defer(struct pos_req *r, void (*start)(void *ctx), void *ctx)
{
	if (r->answered || r->deferred)
		POS_BUG("deferring a request that is answered or deferred");
	r->deferred = true;
	r->defer_start = start;
	r->defer_ctx = ctx;
}

void pos_req_resume(struct pos_req *r)
{
	if (!r->answered)
		POS_BUG("resuming a request that has no answer");
	MHD_resume_connection(r->conn);
}

struct pos_stream *pos_reply_stream(struct pos_req *r, int status, const char *type)
{
	struct pos_stream *s = pos_stream_new(r->conn);
	if (!s) {
		pos_reply_err(r, POS_ERR_NOMEM, NULL, NULL);
		return NULL;
	}
	struct pos_buf empty;
	pos_buf_init(&empty, 0);
	pos_reply_typed(r, status, type, &empty);
	r->stream = s;
	return s;
}

struct pos_pull *pos_reply_pull(struct pos_req *r, int status, const char *type, pos_pull_fn fn,
				void (*free_fn)(void *ctx), void *ctx)
{
	struct pos_pull *p = pos_pull_new(r->conn, fn, free_fn, ctx);
	if (!p) {
		if (free_fn)
			free_fn(ctx);
		pos_reply_err(r, POS_ERR_NOMEM, NULL, NULL);
		return NULL;
	}
	struct pos_buf empty;
	pos_buf_init(&empty, 0);
	pos_reply_typed(r, status, type, &empty);
	r->pull = p;
	return p;
}

void pos_reply_ws(struct pos_req *r, const char *accept, const char *protocol,
		  struct pos_ws_conn *c)
{
	_Atomic(bool) *attached = pos_arena_alloc(r->arena, sizeof(*attached));
	if (!attached) {
		pos_ws_conn_abandon(c);
		pos_reply_err(r, POS_ERR_NOMEM, NULL, NULL);
		return;
	}
	atomic_init(attached, false);
	struct pos_buf empty;
	pos_buf_init(&empty, 0);
	pos_reply_typed(r, 101, NULL, &empty);
	r->ws = c;
	r->ws_attached = attached;
	pos_reply_header(r, "Upgrade", "websocket");
	pos_reply_header(r, "Sec-WebSocket-Accept", accept);
	if (protocol)
		pos_reply_header(r, "Sec-WebSocket-Protocol", protocol);
}

struct pos_ws_hub *pos_server_ws_hub(struct pos_server *srv)
{
	return srv->ws_hub;
}

/* libmicrohttpd hands over an upgraded socket. */
static void on_upgraded(void *cls, struct MHD_Connection *conn, void *req_cls,
			const char *extra_in, size_t extra_in_size, MHD_socket sock,
			struct MHD_UpgradeResponseHandle *urh)
{
	(void)conn;
	(void)cls;
	struct pos_req *r = req_cls;
	atomic_store(r->ws_attached, true);
	pos_ws_conn_attach(r->ws, sock, urh, extra_in, extra_in_size);
}

/* ---- request lifecycle ---- */

static bool authenticate(struct pos_server *srv, struct pos_req *r)
{
	const char *h = pos_req_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return false;
	const char *tok = h + 7;
	while (*tok == ' ')
		tok++;
	if (pos_auth_verify(&srv->app->auth, tok, strlen(tok), &r->principal) != POS_OK)
		return false;
	r->have_principal = true;
	return true;
}

/* ---- security hooks: rate limits, CORS preflight ---- */

/* register, login and refresh draw from the stricter auth limit. */
static bool is_auth_route(const struct pos_route *rt)
{
	return rt->auth == POS_ROUTE_PUBLIC && strcmp(rt->method, "POST") == 0 &&
	       strncmp(rt->pattern, "/api/auth/", 10) == 0;
}

/* True when the request was answered (429). */
static bool limit_address(struct pos_server *srv, struct pos_req *r)
{
	/* Every request counts against its address, unknown routes and
	 * preflights included: scanners and floods pay like everyone. */
	unsigned wait = pos_rl_check_client(&srv->rl, POS_RL_IP, &r->client, r->start_us);
	if (!wait && r->route && is_auth_route(r->route))
		wait = pos_rl_check_client(&srv->rl, POS_RL_AUTH, &r->client, r->start_us);
	if (wait) {
		pos_reply_rate_limited(r, wait);
		return true;
	}
	return false;
}

static bool limit_after_auth(struct pos_server *srv, struct pos_req *r)
{
	unsigned wait = pos_rl_check(&srv->rl, POS_RL_USER, r->principal.user_id,
				     strlen(r->principal.user_id), r->start_us);
	if (wait) {
		pos_reply_rate_limited(r, wait);
		return true;
	}
	return false;
}

/*
 * Everything about a routed request that the request line and headers
 * decide, run on the first callback before one body byte is read: the
 * address limits, draining, the token, the user's limit, the token's kind
 * and scope, and a declared length over the route's limit. True when the
 * request was answered. A stranger can therefore never make the server
 * buffer more than max_public_body (docs/SECURITY.md).
 */
static bool admit(struct pos_server *srv, struct pos_req *r)
{
	r->admitted = true;
	if (limit_address(srv, r))
		return true;
	if (atomic_load(&srv->draining)) {
		pos_reply_err(r, POS_ERR_UNAVAILABLE, NULL, "the server is shutting down");
		return true;
	}
	if (r->route->auth != POS_ROUTE_PUBLIC && !authenticate(srv, r)) {
		pos_reply_err(r, POS_ERR_UNAUTHORIZED, NULL, NULL);
		return true;
	}
	if (r->have_principal && limit_after_auth(srv, r))
		return true;
	if (r->route->auth == POS_ROUTE_SESSION && r->principal.personal) {
		pos_reply_err(r, POS_ERR_FORBIDDEN, NULL,
			      "this needs a signed-in session, not a personal API token");
		return true;
	}
	if (r->have_principal && r->principal.read_only && strcmp(r->route->method, "GET") != 0 &&
	    r->route->auth != POS_ROUTE_BEARER_SCOPED) {
		pos_reply_err(r, POS_ERR_FORBIDDEN, NULL, "this token has the read scope");
		return true;
	}
	if (r->body_too_large) {
		pos_reply_err(r, POS_ERR_BODY_TOO_LARGE, NULL, "the request body is too large for this route");
		return true;
	}
	if (r->route->spool_body && r->have_principal) {
		/* An upload the byte quota cannot take is refused from its
		 * declared length, before a byte is spooled (the handler checks
		 * the real size again). */
		const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		long long declared;
		if (cl && pos_parse_int(cl, 0, INT64_MAX, &declared)) {
			const int64_t add[POS_QUOTA__COUNT] = {
				[POS_QUOTA_BYTES] = declared > POS_SPOOL_SLACK ?
						    declared - POS_SPOOL_SLACK : 0};
			struct pos_error err;
			pos_error_clear(&err);
			if (pos_auth_quota_check(&srv->app->auth, r->arena, r->principal.user_id, add,
						 &err)) {
				pos_reply_error(r, &err);
				return true;
			}
		}
	}
	return false;
}

static void dispatch(struct pos_server *srv, struct pos_req *r)
{
	if (!r->route) {
		if (limit_address(srv, r))
			return;
		if (r->allow && strcmp(r->method, "OPTIONS") == 0) {
			/* A CORS preflight (or a plain OPTIONS): the path's methods. */
			r->preflight = true;
			pos_reply_empty(r, 204);
		} else if (r->allow) {
			pos_reply_err(r, POS_ERR_METHOD, NULL, NULL);
		} else {
			pos_reply_err(r, POS_ERR_NOT_FOUND, NULL, "no such route");
		}
		return;
	}
	if (!r->admitted && admit(srv, r))
		return;
	if (r->over_budget) {
		pos_reply_err(r, POS_ERR_UNAVAILABLE, NULL,
			      "the server is receiving too many request bodies: try again shortly");
		return;
	}
	if (r->body_too_large) {
		pos_reply_err(r, POS_ERR_BODY_TOO_LARGE, NULL, "the request body is too large for this route");
		return;
	}
	if (r->spool_failed) {
		pos_reply_err(r, POS_ERR_UNAVAILABLE, NULL, "the upload could not be stored: try again");
		return;
	}
	if (r->body.len && !r->route->raw_body &&
	    !is_json_type(pos_req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE))) {
		pos_reply_err(r, POS_ERR_MEDIA_TYPE, NULL, NULL);
		return;
	}
	r->route->handler(srv, r);
	if (!r->answered && !r->deferred)
		POS_BUG("handler %s did not answer", r->route->name);
}

static void free_cb(void *p)
{
	pos_free(p);
}

static enum MHD_Result queue(struct pos_req *r, int64_t handled_us)
{
	struct MHD_Response *resp;
	r->queued = true;
	if (r->stream) {
		resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096,
							 pos_stream_read, r->stream,
							 pos_stream_response_free);
		if (!resp) {
			pos_stream_abandon(r->stream);
			return MHD_NO;
		}
		MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	} else if (r->ws) {
		resp = MHD_create_response_for_upgrade(on_upgraded, r);
		if (!resp)
			return MHD_NO; /* on_completed abandons r->ws */
	} else if (r->pull) {
		resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, pos_pull_read,
							 r->pull, pos_pull_response_free);
		if (!resp) {
			pos_pull_response_free(r->pull);
			r->pull = NULL;
			return MHD_NO;
		}
		MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	} else if (r->reader) {
		struct reader_box *box = pos_malloc(sizeof(*box));
		if (box) {
			box->fn = r->reader;
			box->free_fn = r->reader_free;
			box->ctx = r->reader_ctx;
		}
		resp = box ? MHD_create_response_from_callback(r->reader_size, 65536, reader_cb,
							       box, reader_free_cb)
			   : NULL;
		if (!resp) {
			pos_free(box);
			if (r->reader_free)
				r->reader_free(r->reader_ctx);
		}
		r->reader = NULL;
		if (!resp)
			return MHD_NO;
	} else if (r->resp_len)
		resp = MHD_create_response_from_buffer_with_free_callback(
			r->resp_len, r->resp, free_cb);
	else
		resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	if (r->resp_len)
		r->resp = NULL; /* now owned by the response */
	if (r->resp_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->resp_type);
	char timing[48];
	pos_format_ms(timing, sizeof(timing), "app;dur=", handled_us);
	MHD_add_response_header(resp, "Server-Timing", timing);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	/* API answers are data, never documents to render or frame. */
	MHD_add_response_header(resp, "Content-Security-Policy",
				"default-src 'none'; frame-ancestors 'none'");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	for (size_t i = 0; i < 4 && r->extra_header[i][0]; i++)
		MHD_add_response_header(resp, r->extra_header[i][0], r->extra_header[i][1]);
	if ((r->status == 405 || r->preflight) && r->allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
	/* security: Retry-After and CORS */
	if ((r->status == 429 || r->status == 503) && r->retry_after) {
		char ra[16];
		snprintf(ra, sizeof(ra), "%u", r->retry_after);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
	}
	if (pos_cors_enabled(&r->srv->cors))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Origin");
	if (r->cors_origin) {
		MHD_add_response_header(resp, "Access-Control-Allow-Origin", r->cors_origin);
		if (r->preflight) {
			if (r->allow)
				MHD_add_response_header(resp, "Access-Control-Allow-Methods",
							r->allow);
			MHD_add_response_header(resp, "Access-Control-Allow-Headers",
						POS_CORS_ALLOW_HEADERS);
			MHD_add_response_header(resp, "Access-Control-Max-Age",
						POS_CORS_MAX_AGE);
		} else {
			MHD_add_response_header(resp, "Access-Control-Expose-Headers",
						POS_CORS_EXPOSE_HEADERS);
		}
	}
	enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* The body a route takes: routes without a token at most max_public_body. */
static size_t body_limit(const struct pos_config *cfg, const struct pos_route *rt)
{
	if (rt->spool_body)
		return rt->spool_limit == POS_SPOOL_IMPORT ? (size_t)cfg->import_upload_max
							   : (size_t)cfg->file_max + POS_SPOOL_SLACK;
	if (rt->auth == POS_ROUTE_PUBLIC && rt->body_max > cfg->max_public_body)
		return cfg->max_public_body;
	return rt->body_max;
}

/* 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. */
static bool is_loopback(const struct sockaddr *sa)
{
	if (!sa)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_LOOPBACK(a))
			return true;
		return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
	}
	return false;
}

/* True when the request says a body follows (a length above 0 or chunks). */
static bool announces_body(struct MHD_Connection *conn)
{
	if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
					MHD_HTTP_HEADER_TRANSFER_ENCODING))
		return true;
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	return cl && strcmp(cl, "0") != 0;
}

static struct pos_req *req_new(struct pos_server *srv, struct MHD_Connection *conn,
			       const char *url, const char *method)
{
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return NULL;
	struct pos_req *r = pos_arena_zalloc(a, sizeof(*r));
	if (!r) {
		pos_arena_destroy(a);
		return NULL;
	}
	r->srv = srv;
	r->conn = conn;
	r->arena = a;
	r->start_us = pos_mono_us();
	r->method = pos_arena_strdup(a, method);
	r->url = pos_arena_strdup(a, url);
	r->spool_fd = -1;
	r->route_index = srv->n_routes;
	r->route = route_find(srv, r, method, url, &r->route_index, &r->allow);
	/* security: who is asking, and from which web origin */
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	pos_rl_client_from_sockaddr(&r->client, ci ? ci->client_addr : NULL);
	r->peer_loopback = ci && is_loopback(ci->client_addr);
	if (srv->cfg->trust_forwarded_for) {
		const char *xff = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							      "X-Forwarded-For");
		pos_rl_client_from_forwarded(&r->client, xff);
		/* A proxy on this host makes every client look local: with a
		 * forwarded address the peer is whoever the proxy says. */
		if (xff)
			r->peer_loopback = false;
	}
	if (pos_cors_enabled(&srv->cors))
		r->cors_origin = pos_cors_allow(&srv->cors,
			MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin"));
	pos_buf_init(&r->body, r->route ? body_limit(srv->cfg, r->route) : 0);
	/* Refuse early on a declared length over the limit. */
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	long long declared;
	if (cl && pos_parse_int(cl, 0, INT64_MAX, &declared) &&
	    (size_t)declared > r->body.max)
		r->body_too_large = true;
	return r;
}

/*
 * Counts n more body bytes of `r` against max_body_memory. False (and the
 * request's bytes given back) when the server would then hold more.
 */
static bool take_budget(struct pos_server *srv, struct pos_req *r, size_t n)
{
	long long cap = (long long)srv->cfg->max_body_memory_mib * 1024 * 1024;
	long long total = atomic_fetch_add(&srv->body_bytes, (long long)n) + (long long)n;
	r->body_counted += n;
	if (total <= cap)
		return true;
	atomic_fetch_sub(&srv->body_bytes, (long long)r->body_counted);
	r->body_counted = 0;
	return false;
}

static void spool_close(void *p)
{
	struct pos_req *r = p;
	if (r->spool_fd >= 0)
		close(r->spool_fd);
	r->spool_fd = -1;
}

/*
 * Appends a body chunk of a spool_body route to its file (an unlinked
 * temporary file in DATA/blobs, made on the first chunk). False when the
 * body is over the limit (body_too_large) or cannot be written
 * (spool_failed); the rest of the body is then read and dropped.
 */
static bool spool_add(struct pos_server *srv, struct pos_req *r, const char *data, size_t n)
{
	if (r->spool_len + n > r->body.max) {
		r->body_too_large = true;
		spool_close(r);
		return false;
	}
	if (r->spool_fd < 0) {
		char path[PATH_MAX];
		if ((size_t)snprintf(path, sizeof(path), "%s/blobs/.spool-XXXXXX",
				     srv->cfg->data_dir) >= sizeof(path))
			goto fail;
		int fd = mkostemp(path, O_CLOEXEC);
		if (fd < 0)
			goto fail;
		unlink(path);
		r->spool_fd = fd;
		if (pos_arena_on_cleanup(r->arena, spool_close, r) != 0) {
			spool_close(r);
			goto fail;
		}
	}
	while (n) {
		ssize_t w = write(r->spool_fd, data, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto fail;
		data += w;
		n -= (size_t)w;
		r->spool_len += (uint64_t)w;
	}
	return true;
fail:
	r->spool_failed = true;
	return false;
}

/* ---- admission control (http/admission.h) ---- */

/* /health and /metrics never wait for a slot: they are cheap, and the
 * operator needs them most when the server is busy. Register, login and
 * refresh neither: they have their own bounded gate (the password hash,
 * argon2_concurrency and argon2_queue, answering 503 busy) and the auth
 * rate limit, and a queue wait on top would only expire them. Files of the
 * web app and unknown paths never reach the check either. */
static bool needs_slot(const struct pos_server *srv, const struct pos_req *r)
{
	return srv->adm_on && r->route && !is_auth_route(r->route) &&
	       strcmp(r->route->pattern, "/health") != 0 &&
	       strcmp(r->route->pattern, "/metrics") != 0;
}

static void refuse_busy(struct pos_req *r)
{
	r->retry_after = 1;
	pos_reply_err(r, POS_ERR_UNAVAILABLE, NULL, "the server is busy: try again shortly");
}

static void adm_release(struct pos_server *srv, struct pos_req *r)
{
	if (srv->adm_on)
		pos_adm_release(&srv->adm, &r->adm);
}

static void adm_park(void *ctx)
{
	MHD_suspend_connection(((struct pos_req *)ctx)->conn);
}

static void adm_wake(void *ctx)
{
	MHD_resume_connection(((struct pos_req *)ctx)->conn);
}

/* The handler of an offloaded request, on a handler thread (or, when the
 * pool cannot take it, on the worker), its connection suspended: the
 * answer is made, the slot given back and the connection resumed, and the
 * worker queues the answer when it comes back (on_request). A deferred
 * answer keeps the connection suspended until pos_req_resume. Cancelled
 * (the server stops): refused, never left suspended. */
static void handle_offloaded(struct pos_server *srv, struct pos_req *r, bool cancelled)
{
	if (cancelled) {
		pos_reply_err(r, POS_ERR_UNAVAILABLE, NULL, "the server is shutting down");
	} else {
		dispatch(srv, r);
		if (r->deferred && !r->answered) {
			r->defer_start(r->defer_ctx);
			return;
		}
	}
	adm_release(srv, r); /* the next waiter starts while this answer goes out */
	MHD_resume_connection(r->conn);
}

static void handler_job(struct pos_pool_job *job, void *arg)
{
	struct pos_req *r = arg;
	handle_offloaded(r->srv, r, pos_pool_job_cancelled(job));
}

/* Runs the handler of a request that holds a slot (or needs none), or
 * refuses one whose wait ran out; the slot is given back once the answer
 * is queued (a deferred answer: once it comes back). A request holding a
 * slot runs on the handler pool, its connection suspended meanwhile. */
static enum MHD_Result run(struct pos_server *srv, struct pos_req *r)
{
	if (r->adm.state == POS_ADM_EXPIRED) {
		if (atomic_load(&srv->draining)) /* flushed by the drain */
			pos_reply_err(r, POS_ERR_UNAVAILABLE, NULL, "the server is shutting down");
		else
			refuse_busy(r);
		return queue(r, pos_mono_us() - r->start_us);
	}
	if (srv->handlers && r->adm.state == POS_ADM_RUNNING) {
		/* Suspended before it is handed over: the resume can only
		 * follow the suspend. */
		r->offloaded = true;
		MHD_suspend_connection(r->conn);
		if (pos_pool_submit(srv->handlers, handler_job, r, 0, NULL) != POS_OK)
			handle_offloaded(srv, r, false); /* here, as without the pool */
		return MHD_YES;
	}
	dispatch(srv, r);
	if (r->deferred && !r->answered) {
		/* Park first, then start: the resume can only follow the suspend. */
		MHD_suspend_connection(r->conn);
		r->defer_start(r->defer_ctx);
		return MHD_YES;
	}
	adm_release(srv, r);
	return queue(r, pos_mono_us() - r->start_us);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct pos_server *srv = cls;
	struct pos_req *r = *con_cls;
	if (!r) {
		r = req_new(srv, conn, url, method);
		if (!r)
			return MHD_NO;
		/* Counted first, then the drain flag read (pos_server_drain does
		 * the opposite): either the drain waits for this request, or
		 * the request sees the drain and is refused in admit(). A
		 * request that began after SIGTERM is never waited for, so
		 * clients that keep sending cannot hold the stop up. */
		atomic_fetch_add(&srv->inflight, 1);
		r->counted = true;
		if (atomic_load(&srv->draining)) {
			atomic_fetch_sub(&srv->inflight, 1);
			r->counted = false;
		}
		*con_cls = r;
		/* Limits, token and declared length are checked from the
		 * headers, before any body byte is read. */
		if (r->route ? !admit(srv, r) : !r->body_too_large)
			return MHD_YES;
		if (!r->answered) /* no route, and a body it cannot take */
			dispatch(srv, r);
		/* Refused. Without a body the answer waits for the last call,
		 * which keeps the connection alive; with one it goes now, and
		 * libmicrohttpd closes the connection instead of reading bytes
		 * we would throw away. */
		if (!r->body_too_large && !announces_body(conn))
			return MHD_YES;
		r->started = true;
		return queue(r, pos_mono_us() - r->start_us);
	}
	if (*upload_data_size && r->route && r->route->spool_body) {
		if (!r->answered && !r->body_too_large && !r->spool_failed &&
		    !spool_add(srv, r, upload_data, *upload_data_size) && !r->have_principal)
			return MHD_NO;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (!r->answered && !r->body_too_large && !r->over_budget &&
		    !take_budget(srv, r, *upload_data_size)) {
			/* Too many bodies held at once, all clients together:
			 * this one is dropped (503 at its end). */
			r->over_budget = true;
			pos_buf_free(&r->body);
			if (!r->have_principal)
				return MHD_NO;
		}
		if (!r->answered && !r->body_too_large && !r->over_budget &&
		    pos_buf_add(&r->body, upload_data, *upload_data_size) != POS_OK) {
			r->body_too_large = true;
			pos_buf_free(&r->body);
			atomic_fetch_sub(&srv->body_bytes, (long long)r->body_counted);
			r->body_counted = 0;
			/* Without a token, more than the route takes and no
			 * declared length (chunks): close rather than read the
			 * rest for nothing. libmicrohttpd cannot queue an answer
			 * in the middle of a body. */
			if (!r->have_principal)
				return MHD_NO;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->started) {
		if (r->adm_parked) {
			/* Back from the admission queue: a slot, or waited too long. */
			r->adm_parked = false;
			return run(srv, r);
		}
		if (r->offloaded) {
			/* Back from the handler pool (or its deferred answer). */
			r->offloaded = false;
			adm_release(srv, r);
			return queue(r, pos_mono_us() - r->start_us);
		}
		/* A deferred request comes back here once resumed. */
		if (r->deferred && r->answered && !r->queued) {
			adm_release(srv, r);
			return queue(r, pos_mono_us() - r->start_us);
		}
		return MHD_YES;
	}
	r->started = true;
	if (r->answered) /* refused from its headers on the first call */
		return queue(r, pos_mono_us() - r->start_us);
	int sret; /* no API route: maybe a file of the web app (http/static.c) */
	if (!r->route && !r->allow && pos_static_serve(srv, r, &sret))
		return (enum MHD_Result)sret;
	if (needs_slot(srv, r)) {
		/* Admission control: only once the whole body is in, so a slow
		 * upload holds no slot. */
		switch (pos_adm_enter(&srv->adm, &r->adm, r, pos_mono_us())) {
		case POS_ADM_WAIT:
			r->adm_parked = true; /* suspended; comes back above */
			return MHD_YES;
		case POS_ADM_FULL:
			refuse_busy(r);
			return queue(r, pos_mono_us() - r->start_us);
		case POS_ADM_RUN:
			break;
		}
	}
	return run(srv, r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct pos_server *srv = cls;
	struct pos_req *r = *con_cls;
	if (!r)
		return;
	*con_cls = NULL;
	adm_release(srv, r); /* gone while queued or holding a slot */
	int64_t dur = pos_mono_us() - r->start_us;
	int status = r->answered ? r->status : 499; /* client went away */
	pos_metrics_record(&srv->metrics, r->route_index, status, dur);
	if (srv->cfg->log_requests)
		pos_info("http %s %s %d %.3fms user=%s", r->method,
			 r->route ? r->route->name + strlen(r->route->method) + 1 : "-",
			 status, (double)dur / 1000.0,
			 r->have_principal ? r->principal.user_id : "-");
	if (r->stream && !r->queued)
		pos_stream_abandon(r->stream); /* the response never took it */
	if (r->pull && !r->queued)
		pos_pull_response_free(r->pull); /* likewise */
	if (r->ws && !atomic_load(r->ws_attached))
		pos_ws_conn_abandon(r->ws); /* no upgrade happened */
	if (r->reader && r->reader_free)
		r->reader_free(r->reader_ctx); /* likewise a download's reader */
	pos_free(r->resp);
	pos_buf_free(&r->body);
	atomic_fetch_sub(&srv->body_bytes, (long long)r->body_counted);
	bool counted = r->counted;
	pos_arena_destroy(r->arena);
	if (counted)
		atomic_fetch_sub(&srv->inflight, 1);
}

/* ---- start / stop ---- */

/*
 * Decodes %HH in paths and query arguments like libmicrohttpd's default,
 * except %00: a NUL would cut the C string short and route
 * "/api/memories/%00" to "/api/memories". It is kept as the literal "%00",
 * which then matches nothing it should not.
 */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		int hi, lo;
		if (r[0] == '%' && (hi = pos_hexval(r[1])) >= 0 && (lo = pos_hexval(r[2])) >= 0 &&
		    (hi | lo) != 0) {
			*w++ = (char)(hi << 4 | lo);
			r += 2;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

static enum pos_err resolve(const struct pos_config *cfg, struct sockaddr_storage *ss,
			    socklen_t *len, bool *v6, struct pos_error *err)
{
	struct addrinfo hints = {0}, *res = NULL;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	char port[8];
	snprintf(port, sizeof(port), "%u", cfg->listen_port);
	int gai = getaddrinfo(cfg->listen_host, port, &hints, &res);
	if (gai != 0 || !res)
		return pos_error_set(err, POS_ERR_USAGE, "listen",
				     "cannot resolve listen address %s: %s",
				     cfg->listen_host, gai_strerror(gai));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	*v6 = res->ai_family == AF_INET6;
	freeaddrinfo(res);
	return POS_OK;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	pos_warn("http: %s", msg);
}

/* ---- TLS ---- */

#define TLS_FILE_MAX (1024 * 1024)

static void tls_free(char *cert, char *key)
{
	pos_free(cert);
	if (key) {
		pos_wipe(key, strlen(key));
		pos_free(key);
	}
}

static enum pos_err read_pem(const char *path, const char *what, char **out,
			     struct pos_error *err)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return pos_error_set(err, POS_ERR_IO, what, "cannot read %s %s: %s", what,
				     path, strerror(errno));
	char *buf = pos_malloc(TLS_FILE_MAX + 1);
	size_t n = buf ? fread(buf, 1, TLS_FILE_MAX + 1, f) : 0;
	fclose(f);
	if (!buf)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	if (n == 0 || n > TLS_FILE_MAX || memchr(buf, '\0', n)) {
		pos_wipe(buf, n);
		pos_free(buf);
		return pos_error_set(err, POS_ERR_USAGE, what, "%s %s is empty, too large "
				     "or not PEM text", what, path);
	}
	buf[n] = '\0';
	*out = buf;
	return POS_OK;
}

static enum pos_err load_tls(const struct pos_config *cfg, char **cert, char **key,
			     struct pos_error *err)
{
	*cert = *key = NULL;
	if (!cfg->tls_cert[0] && !cfg->tls_key[0])
		return POS_OK;
	if (!cfg->tls_cert[0] || !cfg->tls_key[0])
		return pos_error_set(err, POS_ERR_USAGE, cfg->tls_cert[0] ? "tls_key" : "tls_cert",
				     "tls_cert and tls_key go together");
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		return pos_error_set(err, POS_ERR_USAGE, "tls_cert",
				     "this libmicrohttpd has no TLS support: use a "
				     "reverse proxy (docs/DEPLOY.md)");
	enum pos_err rc = read_pem(cfg->tls_cert, "tls_cert", cert, err);
	if (!rc && (rc = read_pem(cfg->tls_key, "tls_key", key, err))) {
		tls_free(*cert, NULL);
		*cert = NULL;
	}
	return rc;
}

enum pos_err pos_server_init(struct pos_server *srv, const struct pos_config *cfg,
			     const struct pos_route *routes, size_t n_routes,
			     struct pos_error *err)
{
	memset(srv, 0, sizeof(*srv));
	srv->cfg = cfg;
	srv->routes = routes;
	srv->n_routes = n_routes;
	srv->started_us = pos_mono_us(); /* uptime: a wall-clock jump moves nothing */
	atomic_init(&srv->draining, false);
	atomic_init(&srv->inflight, 0);
	atomic_init(&srv->body_bytes, 0);
	/* security: limits, CORS list and TLS files first — a bad
	 * setting stops the start before anything is opened. */
	enum pos_err rc = pos_cors_parse(&srv->cors, cfg->cors_origins, err);
	if (!rc)
		rc = load_tls(cfg, &srv->tls_pem[0], &srv->tls_pem[1], err);
	if (!rc && pos_rl_init(&srv->rl, cfg) != POS_OK)
		rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	if (rc)
		goto out;
	srv->route_names = pos_calloc(n_routes ? n_routes : 1, sizeof(*srv->route_names));
	if (!srv->route_names) {
		rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
		goto out;
	}
	for (size_t i = 0; i < n_routes; i++)
		srv->route_names[i] = routes[i].name;
	if (pos_metrics_init(&srv->metrics, srv->route_names, n_routes) != 0)
		rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
out:
	if (rc)
		pos_server_stop(srv);
	return rc;
}

enum pos_err pos_server_start(struct pos_server *srv, struct pos_app *app,
			      struct pos_error *err)
{
	const struct pos_config *cfg = srv->cfg;
	char *tls_cert = srv->tls_pem[0], *tls_key = srv->tls_pem[1];
	enum pos_err rc;
	srv->app = app;
	/* several instances: the limits live in the shared cache */
	if (app->cache && (rc = pos_rl_use_cache(&srv->rl, app->cache))) {
		pos_error_set(err, rc, NULL, NULL);
		goto fail;
	}
	struct sockaddr_storage ss;
	socklen_t sslen;
	bool v6 = false;
	if ((rc = resolve(cfg, &ss, &sslen, &v6, err)))
		goto fail;
	if ((rc = pos_ws_hub_new(&srv->ws_hub))) {
		pos_error_set(err, rc, NULL, "cannot start the WebSocket thread");
		goto fail;
	}
	/* Twice the cores, at least 4: a request can block on the store's
	 * single writer or on fsync, and the other threads keep parsing,
	 * embedding and reading meanwhile (measured in docs/BENCHMARKS.md). */
	unsigned threads = cfg->threads;
	if (!threads) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? 2 * (unsigned)n : 4;
		if (threads < 4)
			threads = 4;
	}
	if (cfg->admission) {
		/* One slot fewer than the workers by default (the slots'
		 * handlers run on their own threads, below, so the workers
		 * only read, queue, refuse and write; docs/OPERATIONS.md,
		 * "Admission control"). */
		unsigned inflight = cfg->max_inflight ? cfg->max_inflight
						      : (threads > 1 ? threads - 1 : 1);
		if (pos_adm_init(&srv->adm, inflight, cfg->max_queue, cfg->queue_wait_ms,
				 adm_park, adm_wake) != 0) {
			rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
			goto fail;
		}
		srv->adm_on = true;
		/* The handlers' threads: one per slot (at most 64), so a
		 * handler with a slot never waits for a thread; the queue is
		 * slack for a slot passed on while its last handler is still
		 * returning. */
		unsigned hthreads = inflight < POS_POOL_WORKERS_MAX ? inflight : POS_POOL_WORKERS_MAX;
		if ((rc = pos_pool_new(hthreads, (size_t)inflight * 2, &srv->handlers))) {
			pos_error_set(err, rc, NULL, "cannot start the handler threads");
			goto fail;
		}
	}
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_TURBO |
			 MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE |
			 MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0) |
			 (tls_cert ? MHD_USE_TLS : 0);
	/* security: with TLS the key and certificate come first; an
	 * MHD_OPTION_END there ends the list for plain HTTP. */
	struct MHD_OptionItem tls_opts[] = {
		{tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, tls_cert},
		{MHD_OPTION_HTTPS_MEM_KEY, 0, tls_key},
		{MHD_OPTION_END, 0, NULL},
	};
	srv->daemon = MHD_start_daemon(
		flags, (uint16_t)cfg->listen_port, NULL, NULL, on_request, srv,
		MHD_OPTION_ARRAY, tls_opts,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_THREAD_POOL_SIZE, threads,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
		/* security (docs/SECURITY.md, "Request limits before
		 * authentication"): the idle timeout applies to every read
		 * and write, headers and body included, so a client that
		 * trickles bytes holds one connection at most this long per
		 * silent gap, and at most max_connections_per_ip at once. */
		MHD_OPTION_CONNECTION_TIMEOUT, cfg->connection_timeout_s,
		MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->max_connections_per_ip,
		MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
		/* Per-connection pool for headers; MHD clears it per request, so
		 * smaller is faster. Bodies stream into our own buffer. */
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(16 * 1024),
		MHD_OPTION_END);
	if (!srv->daemon) {
		rc = pos_error_set(err, POS_ERR_IO, "listen",
				   "cannot listen on %s:%u (in use, or not permitted)",
				   cfg->listen_host, cfg->listen_port);
		goto fail;
	}
	const union MHD_DaemonInfo *info =
		MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : cfg->listen_port;
	return POS_OK;
fail:
	return rc;
}

void pos_server_drain(struct pos_server *srv)
{
	if (!srv->daemon || atomic_load(&srv->draining))
		return;
	/* New requests get 503 from here on (dispatch checks `draining`).
	 * The listen socket is not quiesced: MHD_quiesce_daemon on an epoll
	 * daemon with a thread pool races with the workers' own removal of
	 * the listen socket and can abort the process (an open libmicrohttpd
	 * defect, seen here once in a test run); MHD_stop_daemon closes it.
	 * Set before `inflight` is read (on_request counts, then reads): the
	 * wait below is for the requests that began before it only. */
	atomic_store(&srv->draining, true);
	if (srv->app)
		pos_events_close(srv->app->events); /* live event streams end */
	if (srv->adm_on)
		pos_adm_flush(&srv->adm); /* the queued get 503 now */
	int64_t deadline = pos_mono_us() + (int64_t)srv->cfg->shutdown_grace_s * 1000000;
	while (atomic_load(&srv->inflight) > 0 && pos_mono_us() < deadline)
		usleep(10000);
}

void pos_server_stop(struct pos_server *srv)
{
	pos_server_drain(srv);
	/* upgraded sockets are closed before the daemon stops */
	pos_ws_hub_free(srv->ws_hub);
	srv->ws_hub = NULL;
	if (srv->adm_on)
		pos_adm_close(&srv->adm); /* no wake after the daemon is gone */
	/* Running handlers finish, queued ones are refused: every offloaded
	 * connection is resumed before the daemon stops. */
	pos_pool_free(srv->handlers);
	srv->handlers = NULL;
	if (srv->daemon)
		MHD_stop_daemon(srv->daemon);
	srv->daemon = NULL;
	if (srv->adm_on)
		pos_adm_fini(&srv->adm);
	srv->adm_on = false;
	pos_rl_fini(&srv->rl);
	tls_free(srv->tls_pem[0], srv->tls_pem[1]);
	srv->tls_pem[0] = srv->tls_pem[1] = NULL;
	pos_metrics_fini(&srv->metrics);
	pos_free(srv->route_names);
	srv->route_names = NULL;
	srv->app = NULL;
}
