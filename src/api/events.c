/*
 * events.c — GET /api/events: the caller's live events as Server-Sent
 * Events (docs/EVENTS.md). The handler subscribes the connection to the
 * event bus (events/bus.h) and answers with a pulled body: each time the
 * client can take more, the bus's queue is turned into SSE frames; when it
 * is empty the connection is parked until the bus has something (an
 * event, a keep-alive tick, the server draining).
 */
#include <stdatomic.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "base/alloc.h"
#include "events/bus.h"
#include "http/sse.h"
#include "http/ws.h"
#include "http/ws_hub.h"

#define LAST_ID_MAX 24          /* bytes of a Last-Event-ID we read */
#define PENDING_MAX (256 * 1024) /* SSE bytes formatted ahead of the client */

struct sse_conn {
	struct pos_events_sub *sub;
	_Atomic(struct pos_pull *) pull;
	struct pos_buf out;  /* formatted, not yet handed to the server */
	size_t off;
	bool ended;
};

/* Bus notify: under the bus's lock, so only a wake. */
static void sse_notify(void *ctx)
{
	struct sse_conn *c = ctx;
	struct pos_pull *p = atomic_load(&c->pull);
	if (p)
		pos_pull_wake(p);
}

/* Formats what the bus has into c->out. */
static void sse_fill(struct sse_conn *c)
{
	while (!c->ended && c->out.len < PENDING_MAX / 2) {
		struct pos_events_msg m;
		enum pos_events_next k = pos_events_next(c->sub, &m);
		if (k == POS_EVENTS_NONE)
			break;
		if (k == POS_EVENTS_END) {
			c->ended = true;
		} else if (k == POS_EVENTS_HEARTBEAT) {
			if (pos_buf_adds(&c->out, ": keep-alive\n\n"))
				c->ended = true;
		} else {
			if (pos_sse_frame_id(&c->out, m.id, m.type, m.json, m.len))
				c->ended = true;
			pos_free(m.json);
		}
	}
}

static long sse_pull(void *ctx, char *buf, size_t max)
{
	struct sse_conn *c = ctx;
	if (c->off == c->out.len) {
		pos_buf_reset(&c->out);
		c->off = 0;
		sse_fill(c);
	}
	size_t avail = c->out.len - c->off;
	if (!avail)
		return c->ended ? -1 : 0;
	size_t k = avail < max ? avail : max;
	memcpy(buf, c->out.data + c->off, k);
	c->off += k;
	return (long)k;
}

static void sse_free(void *ctx)
{
	struct sse_conn *c = ctx;
	pos_events_unsubscribe(c->sub); /* no notify after this */
	pos_buf_free(&c->out);
	pos_free(c);
}

/* The client's last event id: the Last-Event-ID header (EventSource sends
 * it when it reconnects) or ?last_event_id=. NULL when too long. */
static const char *last_event_id(struct pos_req *r)
{
	const char *id = pos_req_header(r, "Last-Event-ID");
	if (!id)
		id = pos_req_param(r, "last_event_id");
	return id && strlen(id) <= LAST_ID_MAX ? id : NULL;
}

/* Answers a refused subscription: 429 at the user's limit, 503 at the
 * server's or while it drains. */
static void refuse(struct pos_req *r, enum pos_err rc)
{
	if (rc == POS_ERR_RATE_LIMITED)
		pos_reply_rate_limited(r, 5);
	else if (rc == POS_ERR_UNAVAILABLE)
		pos_reply_err(r, rc, NULL, "too many event streams are open on this server");
	else
		pos_reply_err(r, rc, NULL, NULL);
}

void pos_api_events_sse(struct pos_server *srv, struct pos_req *r)
{
	/* A stream never ends: only a client that asks for one gets it
	 * (EventSource always does), like POST /api/chat/message. */
	const char *accept = pos_req_header(r, "Accept");
	if (!accept || !strstr(accept, POS_SSE_TYPE)) {
		pos_reply_err(r, POS_ERR_INVALID_REQUEST, NULL,
			      "this is an event stream: send Accept: text/event-stream");
		return;
	}
	const char *raw = pos_req_header(r, "Last-Event-ID");
	if (!raw)
		raw = pos_req_param(r, "last_event_id");
	const char *last = last_event_id(r);
	if (raw && !last) {
		pos_reply_err(r, POS_ERR_INVALID_FIELD, "last_event_id", "last_event_id is too long");
		return;
	}
	struct sse_conn *c = pos_calloc(1, sizeof(*c));
	if (!c) {
		pos_reply_err(r, POS_ERR_NOMEM, NULL, NULL);
		return;
	}
	pos_buf_init(&c->out, PENDING_MAX + POS_EVENTS_DATA_MAX * 8);
	atomic_init(&c->pull, NULL);
	enum pos_err rc = pos_events_subscribe(srv->app->events, r->principal.user_id, last,
					       sse_notify, c, &c->sub);
	/* the first bytes: the client's reconnect delay (ms) */
	if (!rc)
		rc = pos_buf_adds(&c->out, "retry: 3000\n\n");
	if (rc) {
		if (c->sub)
			pos_events_unsubscribe(c->sub);
		pos_buf_free(&c->out);
		pos_free(c);
		refuse(r, rc);
		return;
	}
	struct pos_pull *p = pos_reply_pull(r, 200, POS_SSE_TYPE, sse_pull, sse_free, c);
	if (p)
		atomic_store(&c->pull, p);
}

/* ---- GET /api/events/ws ---- */

#define WS_PROTOCOL "personalos"
#define WS_BEARER_PREFIX "bearer."

/* True when the comma-separated header `h` holds `token` (no case). */
static bool header_has(const char *h, const char *token)
{
	size_t n = strlen(token);
	while (h && *h) {
		while (*h == ' ' || *h == '\t' || *h == ',')
			h++;
		const char *end = strchr(h, ',');
		size_t len = end ? (size_t)(end - h) : strlen(h);
		while (len && (h[len - 1] == ' ' || h[len - 1] == '\t'))
			len--;
		if (len == n && strncasecmp(h, token, n) == 0)
			return true;
		h = end;
	}
	return false;
}

/* The token a browser offers as the subprotocol "bearer.<token>" (browsers
 * cannot set an Authorization header on a WebSocket), copied to the arena. */
static const char *protocol_token(struct pos_req *r, const char *h)
{
	while (h && *h) {
		while (*h == ' ' || *h == '\t' || *h == ',')
			h++;
		const char *end = strchr(h, ',');
		size_t len = end ? (size_t)(end - h) : strlen(h);
		while (len && (h[len - 1] == ' ' || h[len - 1] == '\t'))
			len--;
		size_t p = sizeof(WS_BEARER_PREFIX) - 1;
		if (len > p && strncmp(h, WS_BEARER_PREFIX, p) == 0)
			return pos_arena_strndup(r->arena, h + p, len - p);
		h = end;
	}
	return NULL;
}

/* A browser's Origin must be this server or one of cors_origins: a page
 * elsewhere must not open a stream with a token it got hold of. */
static bool origin_ok(struct pos_req *r)
{
	const char *origin = pos_req_header(r, "Origin");
	if (!origin || r->cors_origin)
		return true;
	const char *host = pos_req_header(r, "Host");
	const char *o = strstr(origin, "://");
	return host && o && strcasecmp(o + 3, host) == 0;
}

void pos_api_events_ws(struct pos_server *srv, struct pos_req *r)
{
	const char *upgrade = pos_req_header(r, "Upgrade");
	const char *connection = pos_req_header(r, "Connection");
	const char *version = pos_req_header(r, "Sec-WebSocket-Version");
	const char *key = pos_req_header(r, "Sec-WebSocket-Key");
	const char *protocols = pos_req_header(r, "Sec-WebSocket-Protocol");
	/* The same tokens as every call: the Authorization header, or the
	 * subprotocol "bearer.<token>" from a browser. */
	const char *h = pos_req_header(r, "Authorization");
	const char *tok = NULL;
	if (h && strncasecmp(h, "Bearer ", 7) == 0)
		for (tok = h + 7; *tok == ' '; tok++)
			;
	else
		tok = protocol_token(r, protocols);
	struct pos_principal who;
	if (!tok || pos_auth_verify(&srv->app->auth, tok, strlen(tok), &who) != POS_OK) {
		pos_reply_err(r, POS_ERR_UNAUTHORIZED, NULL, NULL);
		return;
	}
	r->principal = who;
	r->have_principal = true;
	/* the user's request budget, as the server applies it to routes
	 * that need a token (this one checks its token itself) */
	unsigned wait = pos_rl_check(&srv->rl, POS_RL_USER, who.user_id, strlen(who.user_id),
				     r->start_us);
	if (wait) {
		pos_reply_rate_limited(r, wait);
		return;
	}
	if (!origin_ok(r)) {
		pos_reply_err(r, POS_ERR_FORBIDDEN, NULL, "this Origin may not open event streams");
		return;
	}
	if (!header_has(upgrade, "websocket") || !header_has(connection, "upgrade")) {
		pos_reply_err(r, POS_ERR_INVALID_REQUEST, NULL,
			      "this is a WebSocket endpoint: send an Upgrade: websocket handshake");
		return;
	}
	if (!version || strcmp(version, "13") != 0) {
		pos_reply_header(r, "Sec-WebSocket-Version", "13");
		pos_reply_err(r, POS_ERR_INVALID_REQUEST, NULL, "Sec-WebSocket-Version must be 13");
		return;
	}
	char *accept = pos_arena_alloc(r->arena, POS_WS_ACCEPT_SIZE);
	if (!accept || !pos_ws_accept(key, accept)) {
		pos_reply_err(r, POS_ERR_INVALID_REQUEST, NULL, "bad Sec-WebSocket-Key");
		return;
	}
	const char *raw = pos_req_param(r, "last_event_id");
	if (raw && strlen(raw) > LAST_ID_MAX) {
		pos_reply_err(r, POS_ERR_INVALID_FIELD, "last_event_id", "last_event_id is too long");
		return;
	}
	struct pos_ws_conn *c = pos_ws_conn_new(pos_server_ws_hub(srv));
	if (!c) {
		pos_reply_err(r, POS_ERR_NOMEM, NULL, NULL);
		return;
	}
	struct pos_events_sub *sub = NULL;
	enum pos_err rc = pos_events_subscribe(srv->app->events, who.user_id, raw,
					       pos_ws_conn_notify, c, &sub);
	if (rc) {
		pos_ws_conn_abandon(c);
		refuse(r, rc);
		return;
	}
	pos_ws_conn_set_sub(c, sub);
	pos_reply_ws(r, accept, header_has(protocols, WS_PROTOCOL) ? WS_PROTOCOL : NULL, c);
}
