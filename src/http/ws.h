/*
 * ws.h — the WebSocket codec (RFC 6455) for the server's side: the
 * handshake's accept key, a parser of client frames with the limits the
 * server enforces, and the writer of server frames. Pure functions over
 * buffers: the I/O lives in http/ws_hub.c.
 *
 * Limits (docs/EVENTS.md): a client frame carries at most POS_WS_FRAME_MAX
 * payload bytes (1009 "message too big" beyond), client frames must be
 * masked, reserved bits must be clear, opcodes must be known, control
 * frames must be whole and at most 125 bytes (1002 "protocol error"
 * otherwise). A message of several frames is limited the same as a frame
 * by the caller.
 *
 * Thread-safety: no state; safe anywhere.
 */
#ifndef POS_HTTP_WS_H
#define POS_HTTP_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

#define POS_WS_FRAME_MAX (64 * 1024) /* payload bytes of one client frame */
#define POS_WS_HEADER_MAX 14         /* bytes of a frame header, mask included */
#define POS_WS_ACCEPT_SIZE 29        /* base64 of a SHA-1, NUL included */

enum pos_ws_opcode {
	POS_WS_CONT = 0x0,
	POS_WS_TEXT = 0x1,
	POS_WS_BINARY = 0x2,
	POS_WS_CLOSE = 0x8,
	POS_WS_PING = 0x9,
	POS_WS_PONG = 0xA,
};

/* Close codes the server sends. */
enum pos_ws_close {
	POS_WS_CLOSE_NORMAL = 1000,
	POS_WS_CLOSE_GOING_AWAY = 1001,
	POS_WS_CLOSE_PROTOCOL = 1002,
	POS_WS_CLOSE_TOO_BIG = 1009,
	POS_WS_CLOSE_POLICY = 1008,
};

/*
 * The Sec-WebSocket-Accept value for a client's Sec-WebSocket-Key (the
 * key must be the base64 of 16 bytes: 24 characters). False for a bad
 * key. SHA-1 from nettle (as the handshake requires; no security rests on
 * it).
 */
bool pos_ws_accept(const char *key, char out[POS_WS_ACCEPT_SIZE]);

struct pos_ws_frame {
	bool fin;
	enum pos_ws_opcode opcode;
	uint8_t *payload;  /* inside the parsed buffer, unmasked in place */
	size_t len;
	size_t consumed;   /* bytes of the buffer this frame took */
};

enum pos_ws_parse {
	POS_WS_OK,        /* a frame in `f` */
	POS_WS_MORE,      /* the buffer holds no whole frame yet */
	POS_WS_FAIL,      /* a violation: close with *close_code */
};

/*
 * Parses one client frame at the start of buf[0..len), unmasking its
 * payload in place. POS_WS_MORE needs more bytes (never when a header
 * already announces too much: that fails at once), POS_WS_FAIL sets
 * *close_code (1002 or 1009).
 */
enum pos_ws_parse pos_ws_parse(uint8_t *buf, size_t len, struct pos_ws_frame *f,
			       uint16_t *close_code);

/* Appends one unmasked server frame (FIN set). POS_ERR_INVALID_FIELD for
 * a control frame over 125 bytes; the buffer's errors otherwise. */
enum pos_err pos_ws_write(struct pos_buf *b, enum pos_ws_opcode op, const void *payload,
			  size_t len);
/* Appends a close frame with `code` and a short reason (cut to fit). */
enum pos_err pos_ws_write_close(struct pos_buf *b, uint16_t code, const char *reason);

#endif
