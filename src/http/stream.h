/*
 * stream.h — a response body written by a producer thread while the client
 * reads it (see stream.c for the suspend/resume protocol). Handlers get one
 * from pos_reply_stream (server.h); the functions below the line are the
 * server's side and not for handlers.
 */
#ifndef POS_HTTP_STREAM_H
#define POS_HTTP_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <microhttpd.h>

struct pos_stream;

/* Appends bytes for the client. False when the client has gone (or stopped
 * reading): the producer should stop. Thread-safe. */
bool pos_stream_write(struct pos_stream *s, const void *data, size_t len);
/* Ends the body and drops the producer's reference; `s` is gone after. */
void pos_stream_close(struct pos_stream *s);

/*
 * A pulled body: the server asks fn(ctx, buf, max) for bytes whenever the
 * client can take more. fn returns the bytes it put in buf (> 0), 0 when
 * it has nothing now (the connection is parked, no thread waits, until
 * pos_pull_wake), or -1 to end the body. Made by pos_reply_pull
 * (server.h); ctx is freed by the free_fn given there, once, when the
 * response is gone (after which no read runs).
 */
struct pos_pull;
typedef long (*pos_pull_fn)(void *ctx, char *buf, size_t max);
/* Something new to read: unparks the connection. Any thread; must not be
 * called once free_fn has run (unregister from the waker there). */
void pos_pull_wake(struct pos_pull *p);

/* ---- the server's side ---- */

/* A stream for `conn` with two references (producer, response). */
struct pos_stream *pos_stream_new(struct MHD_Connection *conn);
/* libmicrohttpd content reader and response free callback for a stream. */
ssize_t pos_stream_read(void *cls, uint64_t pos, char *buf, size_t max);
void pos_stream_response_free(void *cls);
/* Drops the response's reference when no response could be made. */
void pos_stream_abandon(struct pos_stream *s);

struct pos_pull *pos_pull_new(struct MHD_Connection *conn, pos_pull_fn fn,
			      void (*free_fn)(void *ctx), void *ctx);
/* libmicrohttpd content reader and response free callback for a pull;
 * the free callback is also how the server drops a pull no response took. */
ssize_t pos_pull_read(void *cls, uint64_t pos, char *buf, size_t max);
void pos_pull_response_free(void *cls);

#endif
