/*
 * sse.c — Server-Sent Events framing (sse.h).
 */
#include "http/sse.h"

#include <stdint.h>
#include <string.h>

#include "base/buf.h"
#include "http/server.h"

struct pos_stream *pos_sse_open(struct pos_req *r)
{
	return pos_reply_stream(r, 200, POS_SSE_TYPE);
}

enum pos_err pos_sse_frame(struct pos_buf *b, const char *event, const char *data,
			   size_t n)
{
	enum pos_err rc = POS_OK;
	if (event)
		rc = pos_buf_addf(b, "event: %s\n", event);
	/* A line break inside the data would end the field early: each line
	 * goes in its own `data:` field, which the client joins with "\n". */
	size_t at = 0;
	bool more = true;
	while (!rc && more) {
		const char *nl = n > at ? memchr(data + at, '\n', n - at) : NULL;
		size_t end = nl ? (size_t)(nl - data) : n;
		rc = pos_buf_adds(b, "data: ");
		if (!rc)
			rc = pos_buf_add(b, data + at, end - at);
		if (!rc)
			rc = pos_buf_adds(b, "\n");
		at = end + 1;
		more = nl != NULL;
	}
	if (!rc)
		rc = pos_buf_adds(b, "\n");
	return rc;
}

bool pos_sse_send(struct pos_stream *s, const char *event, const char *data, size_t n)
{
	struct pos_buf b;
	/* the cap: every line of data costs "data: " and "\n" at most */
	pos_buf_init(&b, n < SIZE_MAX / 8 ? 8 * n + 64 : SIZE_MAX);
	bool ok = pos_sse_frame(&b, event, data, n) == POS_OK &&
		  pos_stream_write(s, b.data, b.len);
	pos_buf_free(&b);
	return ok;
}

enum pos_err pos_sse_frame_id(struct pos_buf *b, const char *id, const char *event,
			      const char *data, size_t n)
{
	enum pos_err rc = POS_OK;
	if (id && *id)
		rc = pos_buf_addf(b, "id: %s\n", id);
	return rc ? rc : pos_sse_frame(b, event, data, n);
}
