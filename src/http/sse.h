/*
 * sse.h — Server-Sent Events framing over a streamed response
 * (http/stream.h): the one place that writes `event:` and `data:` lines, so
 * handlers hand over a JSON text and an optional event name.
 *
 * Thread-safety: as pos_stream_write (any one producer thread).
 */
#ifndef POS_HTTP_SSE_H
#define POS_HTTP_SSE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"
#include "http/stream.h"

struct pos_req;

/* The MIME type of an event stream. */
#define POS_SSE_TYPE "text/event-stream"

/*
 * Answers `r` with status 200 and an event stream (pos_reply_stream).
 * NULL on NOMEM, having answered with an error instead; the caller owns
 * one reference, released by pos_stream_close.
 */
struct pos_stream *pos_sse_open(struct pos_req *r);
/*
 * Writes one event: an `event: NAME` line when `event` is not NULL, then
 * `data` (n bytes) as `data:` lines (one per line of `data`), then a blank
 * line. False when the client has gone or on NOMEM: the producer should
 * stop.
 */
bool pos_sse_send(struct pos_stream *s, const char *event, const char *data, size_t n);
/* The bytes pos_sse_send writes, appended to `b` (exposed for tests).
 * POS_ERR_NOMEM (or the buffer's cap error) leaves `b` partly written. */
enum pos_err pos_sse_frame(struct pos_buf *b, const char *event, const char *data,
			   size_t n);

/* pos_sse_frame with an `id: ID` line first when `id` is not NULL or
 * empty (the client sends it back as Last-Event-ID when it reconnects). */
enum pos_err pos_sse_frame_id(struct pos_buf *b, const char *id, const char *event,
			      const char *data, size_t n);

#endif
