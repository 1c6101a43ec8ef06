/*
 * ws_hub.c — upgraded WebSocket connections served by one thread
 * (ws_hub.h).
 *
 * The thread waits on an epoll set: every attached socket, and an eventfd
 * that the other threads write when there is news (an attach, a bus
 * notify, the stop). Bus notifies only set the connection's `wake` flag
 * and poke the eventfd: they run under the bus's lock. Everything else
 * about a connection (its buffers, its socket) is touched by the hub's
 * thread only, so connections need no lock of their own.
 */
#include "http/ws_hub.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "events/bus.h"
#include "http/ws.h"

#define OUT_MAX (1024 * 1024)   /* bytes written ahead of a slow client */
#define OUT_FILL (256 * 1024)   /* pump no further than this */
#define IN_MAX (POS_WS_FRAME_MAX + POS_WS_HEADER_MAX)

struct pos_ws_conn {
	struct pos_ws_hub *hub;
	int fd;
	struct MHD_UpgradeResponseHandle *urh;
	struct pos_events_sub *sub;
	atomic_bool wake;
	bool closing;        /* a close frame is queued: flush, then finish */
	bool in_msg;         /* inside a fragmented data message */
	size_t msg_len;      /* its bytes so far */
	uint8_t *in;         /* IN_MAX bytes */
	size_t in_len;
	struct pos_buf out;
	size_t out_off;
	bool want_out;       /* EPOLLOUT armed */
	struct pos_ws_conn *next;
};

struct pos_ws_hub {
	int ep, efd;
	pthread_t thread;
	pthread_mutex_t mu;
	struct pos_ws_conn *attaching; /* under mu */
	bool stop;                     /* under mu */
	struct pos_ws_conn *conns;     /* the thread's */
};

static void poke(struct pos_ws_hub *hub)
{
	uint64_t one = 1;
	ssize_t n = write(hub->efd, &one, sizeof(one));
	(void)n; /* a full counter still wakes the thread */
}

struct pos_ws_conn *pos_ws_conn_new(struct pos_ws_hub *hub)
{
	struct pos_ws_conn *c = pos_calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->in = pos_malloc(IN_MAX);
	if (!c->in) {
		pos_free(c);
		return NULL;
	}
	c->hub = hub;
	c->fd = -1;
	atomic_init(&c->wake, true);
	pos_buf_init(&c->out, OUT_MAX);
	return c;
}

void pos_ws_conn_notify(void *ctx)
{
	struct pos_ws_conn *c = ctx;
	if (!atomic_exchange(&c->wake, true))
		poke(c->hub); /* before the attach too: harmless, the thread skips it */
}

void pos_ws_conn_set_sub(struct pos_ws_conn *c, struct pos_events_sub *sub)
{
	c->sub = sub;
}

static void conn_free(struct pos_ws_conn *c)
{
	pos_events_unsubscribe(c->sub); /* no notify after this */
	pos_buf_free(&c->out);
	pos_free(c->in);
	pos_free(c);
}

void pos_ws_conn_abandon(struct pos_ws_conn *c)
{
	if (c)
		conn_free(c);
}

void pos_ws_conn_attach(struct pos_ws_conn *c, MHD_socket sock,
			struct MHD_UpgradeResponseHandle *urh, const char *extra, size_t n)
{
	struct pos_ws_hub *hub = c->hub;
	c->urh = urh;
	if (n > IN_MAX)
		n = IN_MAX; /* more than a frame before any answer: it fails as too big */
	memcpy(c->in, extra, n);
	c->in_len = n;
	pthread_mutex_lock(&hub->mu);
	c->fd = sock;
	c->next = hub->attaching;
	hub->attaching = c;
	pthread_mutex_unlock(&hub->mu);
	poke(hub);
}

/* ---- the hub's thread ---- */

static void finish(struct pos_ws_hub *hub, struct pos_ws_conn *c)
{
	epoll_ctl(hub->ep, EPOLL_CTL_DEL, c->fd, NULL);
	for (struct pos_ws_conn **pp = &hub->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	/* libmicrohttpd closes the socket and ends the request */
	MHD_upgrade_action(c->urh, MHD_UPGRADE_ACTION_CLOSE);
	conn_free(c);
}

static void arm(struct pos_ws_hub *hub, struct pos_ws_conn *c, bool out)
{
	if (out == c->want_out)
		return;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (out ? EPOLLOUT : 0),
				 .data.ptr = c};
	epoll_ctl(hub->ep, EPOLL_CTL_MOD, c->fd, &ev);
	c->want_out = out;
}

/* Writes what is queued. False when the connection is finished. */
static bool flush(struct pos_ws_hub *hub, struct pos_ws_conn *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n = write(c->fd, c->out.data + c->out_off, c->out.len - c->out_off);
		if (n > 0) {
			c->out_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			arm(hub, c, true);
			return true;
		}
		finish(hub, c);
		return false;
	}
	pos_buf_reset(&c->out);
	c->out_off = 0;
	arm(hub, c, false);
	if (c->closing) {
		finish(hub, c);
		return false;
	}
	return true;
}

static void queue_close(struct pos_ws_conn *c, uint16_t code, const char *why)
{
	if (c->closing)
		return;
	c->closing = true;
	if (pos_ws_write_close(&c->out, code, why))
		c->out_off = c->out.len; /* no room: just end */
}

/* Moves what the bus has for the client into `out`. */
static void pump(struct pos_ws_conn *c)
{
	while (!c->closing && c->out.len - c->out_off < OUT_FILL) {
		struct pos_events_msg m;
		enum pos_events_next k = pos_events_next(c->sub, &m);
		if (k == POS_EVENTS_NONE)
			break;
		if (k == POS_EVENTS_END) {
			queue_close(c, POS_WS_CLOSE_GOING_AWAY, "the server is shutting down");
		} else if (k == POS_EVENTS_HEARTBEAT) {
			if (pos_ws_write(&c->out, POS_WS_PING, NULL, 0))
				queue_close(c, POS_WS_CLOSE_GOING_AWAY, "too slow");
		} else {
			enum pos_err rc = pos_ws_write(&c->out, POS_WS_TEXT, m.json, m.len);
			pos_free(m.json);
			if (rc)
				queue_close(c, POS_WS_CLOSE_GOING_AWAY, "too slow");
		}
	}
}

/* Acts on one client frame. */
static void on_frame(struct pos_ws_conn *c, const struct pos_ws_frame *f)
{
	switch (f->opcode) {
	case POS_WS_PING:
		if (pos_ws_write(&c->out, POS_WS_PONG, f->payload, f->len))
			queue_close(c, POS_WS_CLOSE_GOING_AWAY, "too slow");
		break;
	case POS_WS_PONG:
		break;
	case POS_WS_CLOSE:
		/* 5.5.1: answer with a close; echo a valid code, else 1000 */
		queue_close(c, POS_WS_CLOSE_NORMAL, NULL);
		break;
	case POS_WS_CONT:
		if (!c->in_msg) {
			queue_close(c, POS_WS_CLOSE_PROTOCOL, "continuation without a message");
			break;
		}
		/* fall through */
	case POS_WS_TEXT:
	case POS_WS_BINARY:
		if (f->opcode != POS_WS_CONT && c->in_msg) {
			queue_close(c, POS_WS_CLOSE_PROTOCOL, "a new message inside a message");
			break;
		}
		/* Nothing a client sends is acted on: messages are counted
		 * against the limit and dropped. */
		c->msg_len = (f->opcode == POS_WS_CONT ? c->msg_len : 0) + f->len;
		if (c->msg_len > POS_WS_FRAME_MAX) {
			queue_close(c, POS_WS_CLOSE_TOO_BIG, "message too big");
			break;
		}
		c->in_msg = !f->fin;
		break;
	}
}

/* Reads and handles client frames. False when the connection is finished. */
static bool on_readable(struct pos_ws_hub *hub, struct pos_ws_conn *c)
{
	for (;;) {
		size_t used = 0;
		while (!c->closing) {
			struct pos_ws_frame f;
			uint16_t code = 0;
			enum pos_ws_parse p = pos_ws_parse(c->in + used, c->in_len - used, &f, &code);
			if (p == POS_WS_MORE)
				break;
			if (p == POS_WS_FAIL) {
				queue_close(c, code, code == POS_WS_CLOSE_TOO_BIG ? "frame too big"
										  : "protocol error");
				break;
			}
			on_frame(c, &f);
			used += f.consumed;
		}
		if (c->closing)
			return flush(hub, c);
		memmove(c->in, c->in + used, c->in_len - used);
		c->in_len -= used;
		if (c->in_len == IN_MAX) { /* cannot happen: a whole frame fits */
			queue_close(c, POS_WS_CLOSE_TOO_BIG, "frame too big");
			return flush(hub, c);
		}
		ssize_t n = read(c->fd, c->in + c->in_len, IN_MAX - c->in_len);
		if (n > 0) {
			c->in_len += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return flush(hub, c);
		finish(hub, c); /* the client closed or the socket failed */
		return false;
	}
}

static void take_attached(struct pos_ws_hub *hub)
{
	pthread_mutex_lock(&hub->mu);
	struct pos_ws_conn *list = hub->attaching;
	hub->attaching = NULL;
	pthread_mutex_unlock(&hub->mu);
	while (list) {
		struct pos_ws_conn *c = list;
		list = c->next;
		int fl = fcntl(c->fd, F_GETFL);
		struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
		c->next = hub->conns;
		hub->conns = c;
		if (fl < 0 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
		    epoll_ctl(hub->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
			finish(hub, c);
			continue;
		}
		atomic_store(&c->wake, false);
		pump(c);
		(void)on_readable(hub, c);
	}
}

static void wake_all(struct pos_ws_hub *hub)
{
	struct pos_ws_conn *c = hub->conns;
	while (c) {
		struct pos_ws_conn *next = c->next; /* c may be finished */
		if (atomic_exchange(&c->wake, false) && !c->closing) {
			pump(c);
			flush(hub, c);
		}
		c = next;
	}
}

static void *hub_main(void *arg)
{
	struct pos_ws_hub *hub = arg;
	struct epoll_event evs[64];
	for (;;) {
		int n = epoll_wait(hub->ep, evs, 64, -1);
		if (n < 0 && errno != EINTR) {
			pos_error_log("websocket: epoll_wait: %s", strerror(errno));
			break;
		}
		bool poked = false;
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == NULL) {
				uint64_t v;
				ssize_t k = read(hub->efd, &v, sizeof(v));
				(void)k;
				poked = true;
				continue;
			}
			struct pos_ws_conn *c = evs[i].data.ptr;
			/* finished earlier in this round? then it is gone from the list */
			bool live = false;
			for (struct pos_ws_conn *x = hub->conns; x; x = x->next)
				if (x == c) {
					live = true;
					break;
				}
			if (!live)
				continue;
			if (evs[i].events & EPOLLOUT) {
				if (!flush(hub, c))
					continue;
				pump(c);
				if (!flush(hub, c))
					continue;
			}
			if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
				on_readable(hub, c);
		}
		if (poked) {
			take_attached(hub);
			wake_all(hub);
			pthread_mutex_lock(&hub->mu);
			bool stop = hub->stop;
			pthread_mutex_unlock(&hub->mu);
			if (stop)
				break;
		}
	}
	/* The server stops: every connection is told, best effort, and closed. */
	take_attached(hub);
	while (hub->conns) {
		struct pos_ws_conn *c = hub->conns;
		if (!c->closing) {
			queue_close(c, POS_WS_CLOSE_GOING_AWAY, "the server is shutting down");
			if (c->out_off < c->out.len) {
				ssize_t k = write(c->fd, c->out.data + c->out_off,
						  c->out.len - c->out_off);
				(void)k;
			}
		}
		finish(hub, c);
	}
	return NULL;
}

enum pos_err pos_ws_hub_new(struct pos_ws_hub **out)
{
	*out = NULL;
	struct pos_ws_hub *hub = pos_calloc(1, sizeof(*hub));
	if (!hub)
		return POS_ERR_NOMEM;
	hub->ep = epoll_create1(EPOLL_CLOEXEC);
	hub->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	if (hub->ep < 0 || hub->efd < 0 || epoll_ctl(hub->ep, EPOLL_CTL_ADD, hub->efd, &ev) < 0)
		goto fail;
	pthread_mutex_init(&hub->mu, NULL);
	if (pthread_create(&hub->thread, NULL, hub_main, hub) != 0) {
		pthread_mutex_destroy(&hub->mu);
		goto fail;
	}
	*out = hub;
	return POS_OK;
fail:
	if (hub->ep >= 0)
		close(hub->ep);
	if (hub->efd >= 0)
		close(hub->efd);
	pos_free(hub);
	return POS_ERR_IO;
}

void pos_ws_hub_free(struct pos_ws_hub *hub)
{
	if (!hub)
		return;
	pthread_mutex_lock(&hub->mu);
	hub->stop = true;
	pthread_mutex_unlock(&hub->mu);
	poke(hub);
	pthread_join(hub->thread, NULL);
	pthread_mutex_destroy(&hub->mu);
	close(hub->ep);
	close(hub->efd);
	pos_free(hub);
}
