/*
 * stream.c — response bodies produced by another thread while the client
 * reads them (Server-Sent Events for the assistant).
 *
 * A stream is a byte queue between one producer thread and libmicrohttpd's
 * content reader. When the queue is empty the reader suspends the
 * connection (libmicrohttpd allows that from a content reader), so no
 * worker thread waits on a slow model; the producer's next write resumes
 * it. One mutex orders both sides: suspend and resume are only called under
 * it, so a resume can never come before the suspend it answers.
 *
 * Two references: the producer's (dropped by pos_stream_close) and the
 * response's (dropped when libmicrohttpd destroys the response, also when
 * the client went away). Whichever is last frees the stream.
 */
#include "http/stream.h"

#include <pthread.h>
#include <string.h>

#include "base/alloc.h"
#include "base/buf.h"

/* More than this unread means the client stopped reading: treat as gone. */
#define STREAM_BACKLOG_MAX ((size_t)8 * 1024 * 1024)

struct pos_stream {
	pthread_mutex_t lock;
	struct MHD_Connection *conn;
	struct pos_buf pending;   /* written, not yet read */
	size_t read_off;          /* bytes of `pending` already handed out */
	int refs;
	bool closed;              /* the producer is done */
	bool gone;                /* the client left, or read too slowly */
	bool suspended;           /* the reader suspended the connection */
};

struct pos_stream *pos_stream_new(struct MHD_Connection *conn)
{
	struct pos_stream *s = pos_calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	s->conn = conn;
	pos_buf_init(&s->pending, STREAM_BACKLOG_MAX);
	s->refs = 2;
	return s;
}

static void unref_locked(struct pos_stream *s)
{
	if (--s->refs > 0) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_destroy(&s->lock);
	pos_buf_free(&s->pending);
	pos_free(s);
}

/* Wakes the reader if it suspended the connection. Under the lock. */
static void wake_locked(struct pos_stream *s)
{
	if (s->suspended) {
		s->suspended = false;
		MHD_resume_connection(s->conn);
	}
}

bool pos_stream_write(struct pos_stream *s, const void *data, size_t len)
{
	pthread_mutex_lock(&s->lock);
	bool ok = !s->gone;
	if (ok && len) {
		/* Compact what the reader has consumed before growing. */
		if (s->read_off && s->read_off == s->pending.len) {
			s->pending.len = 0;
			s->read_off = 0;
		}
		if (pos_buf_add(&s->pending, data, len) != POS_OK) {
			s->gone = true;
			ok = false;
		}
		wake_locked(s);
	}
	pthread_mutex_unlock(&s->lock);
	return ok;
}

void pos_stream_close(struct pos_stream *s)
{
	pthread_mutex_lock(&s->lock);
	s->closed = true;
	wake_locked(s);
	unref_locked(s);
}

ssize_t pos_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct pos_stream *s = cls;
	pthread_mutex_lock(&s->lock);
	size_t avail = s->pending.len - s->read_off;
	ssize_t n;
	if (avail) {
		size_t k = avail < max ? avail : max;
		memcpy(buf, s->pending.data + s->read_off, k);
		s->read_off += k;
		if (s->read_off == s->pending.len) {
			s->pending.len = 0;
			s->read_off = 0;
		}
		n = (ssize_t)k;
	} else if (s->closed || s->gone) {
		n = MHD_CONTENT_READER_END_OF_STREAM;
	} else {
		/* Nothing yet: park the connection until the producer writes. */
		s->suspended = true;
		MHD_suspend_connection(s->conn);
		n = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}

void pos_stream_response_free(void *cls)
{
	struct pos_stream *s = cls;
	pthread_mutex_lock(&s->lock);
	s->gone = true;
	unref_locked(s);
}

void pos_stream_abandon(struct pos_stream *s)
{
	pos_stream_response_free(s);
}

/* ---- pulled bodies ----
 * The same suspend/resume protocol in the other direction: the reader asks
 * the producer's fn for bytes and parks the connection when there are
 * none. `pending` records a wake that came while fn ran (unlocked, so fn
 * may take its own locks while wakes hold theirs), so the reader asks
 * again instead of parking past it. */

struct pos_pull {
	pthread_mutex_t lock;
	struct MHD_Connection *conn;
	pos_pull_fn fn;
	void (*free_fn)(void *ctx);
	void *ctx;
	bool pending;
	bool suspended;
};

struct pos_pull *pos_pull_new(struct MHD_Connection *conn, pos_pull_fn fn,
			      void (*free_fn)(void *ctx), void *ctx)
{
	struct pos_pull *p = pos_calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	pthread_mutex_init(&p->lock, NULL);
	p->conn = conn;
	p->fn = fn;
	p->free_fn = free_fn;
	p->ctx = ctx;
	return p;
}

void pos_pull_wake(struct pos_pull *p)
{
	pthread_mutex_lock(&p->lock);
	p->pending = true;
	if (p->suspended) {
		p->suspended = false;
		MHD_resume_connection(p->conn);
	}
	pthread_mutex_unlock(&p->lock);
}

ssize_t pos_pull_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct pos_pull *p = cls;
	(void)pos;
	for (;;) {
		pthread_mutex_lock(&p->lock);
		p->pending = false;
		pthread_mutex_unlock(&p->lock);
		long n = p->fn(p->ctx, buf, max);
		if (n > 0)
			return (ssize_t)n;
		if (n < 0)
			return MHD_CONTENT_READER_END_OF_STREAM;
		pthread_mutex_lock(&p->lock);
		if (p->pending) {
			pthread_mutex_unlock(&p->lock);
			continue;
		}
		p->suspended = true;
		MHD_suspend_connection(p->conn);
		pthread_mutex_unlock(&p->lock);
		return 0;
	}
}

void pos_pull_response_free(void *cls)
{
	struct pos_pull *p = cls;
	if (p->free_fn)
		p->free_fn(p->ctx); /* no wake after this */
	pthread_mutex_destroy(&p->lock);
	pos_free(p);
}
