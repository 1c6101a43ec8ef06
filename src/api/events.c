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

#include "api/api.h"
#include "base/alloc.h"
#include "events/bus.h"
#include "http/sse.h"

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
void pos_api_events_refuse(struct pos_req *r, enum pos_err rc);
void pos_api_events_refuse(struct pos_req *r, enum pos_err rc)
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
		pos_api_events_refuse(r, rc);
		return;
	}
	struct pos_pull *p = pos_reply_pull(r, 200, POS_SSE_TYPE, sse_pull, sse_free, c);
	if (p)
		atomic_store(&c->pull, p);
}
