/* Unit tests for src/http/ws.c, the WebSocket codec: the handshake's
 * accept key (RFC 6455's own example), client frames of every length
 * encoding, unmasking, partial input, each violation with its close code,
 * and the server's frames. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "base/buf.h"
#include "http/ws.h"

/* A masked client frame of `len` bytes of `fill` into out; its size. */
static size_t client_frame(uint8_t *out, uint8_t first, size_t len, uint8_t fill)
{
	static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
	size_t at = 0;
	out[at++] = first;
	if (len < 126) {
		out[at++] = (uint8_t)(0x80 | len);
	} else if (len <= 0xFFFF) {
		out[at++] = 0x80 | 126;
		out[at++] = (uint8_t)(len >> 8);
		out[at++] = (uint8_t)len;
	} else {
		out[at++] = 0x80 | 127;
		for (int i = 0; i < 8; i++)
			out[at++] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
	}
	memcpy(out + at, mask, 4);
	at += 4;
	for (size_t i = 0; i < len; i++)
		out[at + i] = fill ^ mask[i & 3];
	return at + len;
}

static void accept_key(void **state)
{
	(void)state;
	char out[POS_WS_ACCEPT_SIZE];
	/* RFC 6455, section 1.3 */
	assert_true(pos_ws_accept("dGhlIHNhbXBsZSBub25jZQ==", out));
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	assert_false(pos_ws_accept("short", out));
	assert_false(pos_ws_accept(NULL, out));
	assert_false(pos_ws_accept("!!!!!!!!!!!!!!!!!!!!!!!!", out));
	assert_false(pos_ws_accept("dGhlIHNhbXBsZSBub25jZXh4eA==", out)); /* 28 chars */
}

static void frames_of_each_length(void **state)
{
	(void)state;
	static uint8_t buf[POS_WS_FRAME_MAX + 64];
	const size_t lens[] = {0, 5, 125, 126, 65535, POS_WS_FRAME_MAX};
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t n = client_frame(buf, 0x81, lens[i], 'a');
		struct pos_ws_frame f;
		uint16_t code = 7;
		/* every strict prefix needs more */
		assert_int_equal(pos_ws_parse(buf, n - 1, &f, &code), POS_WS_MORE);
		n = client_frame(buf, 0x81, lens[i], 'a');
		assert_int_equal(pos_ws_parse(buf, n, &f, &code), POS_WS_OK);
		assert_true(f.fin);
		assert_int_equal(f.opcode, POS_WS_TEXT);
		assert_int_equal(f.len, lens[i]);
		assert_int_equal(f.consumed, n);
		for (size_t k = 0; k < f.len; k++)
			assert_int_equal(f.payload[k], 'a');
	}
}

static void violations(void **state)
{
	(void)state;
	static uint8_t buf[256];
	struct pos_ws_frame f;
	uint16_t code;
	/* unmasked */
	const uint8_t unmasked[] = {0x81, 0x02, 'h', 'i'};
	memcpy(buf, unmasked, sizeof(unmasked));
	assert_int_equal(pos_ws_parse(buf, sizeof(unmasked), &f, &code), POS_WS_FAIL);
	assert_int_equal(code, POS_WS_CLOSE_PROTOCOL);
	/* reserved bits, unknown opcodes */
	const uint8_t firsts[] = {0xC1, 0xA1, 0x91, 0x83, 0x8B};
	for (size_t i = 0; i < sizeof(firsts); i++) {
		size_t n = client_frame(buf, firsts[i], 1, 'x');
		assert_int_equal(pos_ws_parse(buf, n, &f, &code), POS_WS_FAIL);
		assert_int_equal(code, POS_WS_CLOSE_PROTOCOL);
	}
	/* a control frame fragmented or over 125 bytes */
	size_t n = client_frame(buf, 0x09, 1, 'x');
	assert_int_equal(pos_ws_parse(buf, n, &f, &code), POS_WS_FAIL);
	n = client_frame(buf, 0x89, 126, 'x');
	assert_int_equal(pos_ws_parse(buf, n, &f, &code), POS_WS_FAIL);
	assert_int_equal(code, POS_WS_CLOSE_PROTOCOL);
	/* a length not in its minimal form */
	const uint8_t loose16[] = {0x81, 0x80 | 126, 0x00, 0x05, 1, 2, 3, 4};
	memcpy(buf, loose16, sizeof(loose16));
	assert_int_equal(pos_ws_parse(buf, sizeof(loose16), &f, &code), POS_WS_FAIL);
	/* 64-bit length with the top bit set */
	const uint8_t top[] = {0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1};
	memcpy(buf, top, sizeof(top));
	assert_int_equal(pos_ws_parse(buf, sizeof(top), &f, &code), POS_WS_FAIL);
	assert_int_equal(code, POS_WS_CLOSE_PROTOCOL);
	/* too big: refused from the header alone, before the payload came */
	const uint8_t big[] = {0x82, 0x80 | 127, 0, 0, 0, 0, 0, 1, 0, 1};
	memcpy(buf, big, sizeof(big));
	assert_int_equal(pos_ws_parse(buf, sizeof(big), &f, &code), POS_WS_FAIL);
	assert_int_equal(code, POS_WS_CLOSE_TOO_BIG);
}

static void server_frames(void **state)
{
	(void)state;
	struct pos_buf b;
	pos_buf_init(&b, 1 << 20);
	assert_int_equal(pos_ws_write(&b, POS_WS_TEXT, "hey", 3), POS_OK);
	const uint8_t small[] = {0x81, 3, 'h', 'e', 'y'};
	assert_int_equal(b.len, sizeof(small));
	assert_memory_equal(b.data, small, sizeof(small));
	pos_buf_reset(&b);
	static char big[70000];
	memset(big, 'q', sizeof(big));
	assert_int_equal(pos_ws_write(&b, POS_WS_TEXT, big, 300), POS_OK);
	assert_int_equal((uint8_t)b.data[1], 126);
	assert_int_equal(b.len, 4 + 300);
	pos_buf_reset(&b);
	assert_int_equal(pos_ws_write(&b, POS_WS_BINARY, big, sizeof(big)), POS_OK);
	assert_int_equal((uint8_t)b.data[1], 127);
	assert_int_equal(b.len, 10 + sizeof(big));
	pos_buf_reset(&b);
	assert_int_equal(pos_ws_write(&b, POS_WS_PING, big, 126), POS_ERR_INVALID_FIELD);
	assert_int_equal(pos_ws_write_close(&b, POS_WS_CLOSE_TOO_BIG, "message too big"), POS_OK);
	assert_int_equal((uint8_t)b.data[0], 0x88);
	assert_int_equal((uint8_t)b.data[1], 2 + 15);
	assert_int_equal(((uint8_t)b.data[2] << 8) | (uint8_t)b.data[3], 1009);
	pos_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(accept_key),
		cmocka_unit_test(frames_of_each_length),
		cmocka_unit_test(violations),
		cmocka_unit_test(server_frames),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
