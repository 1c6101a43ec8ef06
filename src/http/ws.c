/*
 * ws.c — the WebSocket codec (ws.h), RFC 6455 sections 4.2.2 and 5.
 */
#include "http/ws.h"

#include <nettle/sha1.h>
#include <sodium.h>
#include <string.h>

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

bool pos_ws_accept(const char *key, char out[POS_WS_ACCEPT_SIZE])
{
	unsigned char raw[18];
	size_t raw_len = 0;
	if (!key || strlen(key) != 24 ||
	    sodium_base642bin(raw, sizeof(raw), key, 24, NULL, &raw_len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    raw_len != 16)
		return false;
	struct sha1_ctx ctx;
	uint8_t digest[SHA1_DIGEST_SIZE];
	sha1_init(&ctx);
	sha1_update(&ctx, 24, (const uint8_t *)key);
	sha1_update(&ctx, sizeof(ws_guid) - 1, (const uint8_t *)ws_guid);
	sha1_digest(&ctx, SHA1_DIGEST_SIZE, digest);
	sodium_bin2base64(out, POS_WS_ACCEPT_SIZE, digest, sizeof(digest),
			  sodium_base64_VARIANT_ORIGINAL);
	return true;
}

static bool known_opcode(unsigned op)
{
	return op == POS_WS_CONT || op == POS_WS_TEXT || op == POS_WS_BINARY ||
	       op == POS_WS_CLOSE || op == POS_WS_PING || op == POS_WS_PONG;
}

enum pos_ws_parse pos_ws_parse(uint8_t *buf, size_t len, struct pos_ws_frame *f,
			       uint16_t *close_code)
{
	memset(f, 0, sizeof(*f));
	if (len < 2)
		return POS_WS_MORE;
	unsigned op = buf[0] & 0x0F;
	bool fin = buf[0] & 0x80;
	bool masked = buf[1] & 0x80;
	uint64_t plen = buf[1] & 0x7F;
	*close_code = POS_WS_CLOSE_PROTOCOL;
	/* no extension was negotiated: the reserved bits must be clear */
	if ((buf[0] & 0x70) || !known_opcode(op))
		return POS_WS_FAIL;
	if (!masked) /* 5.1: a client must mask every frame */
		return POS_WS_FAIL;
	bool control = op & 0x8;
	if (control && (!fin || plen > 125))
		return POS_WS_FAIL;
	size_t at = 2;
	if (plen == 126) {
		if (len < 4)
			return POS_WS_MORE;
		plen = ((uint64_t)buf[2] << 8) | buf[3];
		if (plen < 126) /* 5.2: the minimal number of bytes */
			return POS_WS_FAIL;
		at = 4;
	} else if (plen == 127) {
		if (len < 10)
			return POS_WS_MORE;
		if (buf[2] & 0x80) /* the most significant bit must be 0 */
			return POS_WS_FAIL;
		plen = 0;
		for (int i = 0; i < 8; i++)
			plen = (plen << 8) | buf[2 + i];
		if (plen <= 0xFFFF)
			return POS_WS_FAIL;
		at = 10;
	}
	if (plen > POS_WS_FRAME_MAX) {
		*close_code = POS_WS_CLOSE_TOO_BIG;
		return POS_WS_FAIL;
	}
	if (len < at + 4 + plen)
		return POS_WS_MORE;
	const uint8_t *mask = buf + at;
	uint8_t *p = buf + at + 4;
	for (size_t i = 0; i < plen; i++)
		p[i] ^= mask[i & 3];
	f->fin = fin;
	f->opcode = (enum pos_ws_opcode)op;
	f->payload = p;
	f->len = (size_t)plen;
	f->consumed = at + 4 + (size_t)plen;
	*close_code = 0;
	return POS_WS_OK;
}

enum pos_err pos_ws_write(struct pos_buf *b, enum pos_ws_opcode op, const void *payload,
			  size_t len)
{
	if ((op & 0x8) && len > 125)
		return POS_ERR_INVALID_FIELD;
	uint8_t h[10];
	size_t n = 2;
	h[0] = (uint8_t)(0x80 | (op & 0x0F));
	if (len < 126) {
		h[1] = (uint8_t)len;
	} else if (len <= 0xFFFF) {
		h[1] = 126;
		h[2] = (uint8_t)(len >> 8);
		h[3] = (uint8_t)len;
		n = 4;
	} else {
		h[1] = 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
		n = 10;
	}
	enum pos_err rc = pos_buf_add(b, h, n);
	if (!rc && len)
		rc = pos_buf_add(b, payload, len);
	return rc;
}

enum pos_err pos_ws_write_close(struct pos_buf *b, uint16_t code, const char *reason)
{
	uint8_t p[125];
	p[0] = (uint8_t)(code >> 8);
	p[1] = (uint8_t)code;
	size_t r = reason ? strlen(reason) : 0;
	if (r > sizeof(p) - 2)
		r = pos_utf8_cut(reason, r, sizeof(p) - 2);
	if (r)
		memcpy(p + 2, reason, r);
	return pos_ws_write(b, POS_WS_CLOSE, p, 2 + r);
}
