/*
 * fuzz_ws.c — libFuzzer driver for the WebSocket frame parser
 * (src/http/ws.c), which reads every byte a WebSocket client sends, and for
 * the event bus's remote delivery (src/events/bus.c), which reads what
 * other instances relay. The input is parsed as a stream of client frames
 * the way the hub does: every frame must lie inside the input, respect the
 * limits, and a failure must name 1002 or 1009; then the input is handed
 * to pos_events_deliver_remote, which must drop or deliver it without
 * crashing; then its first 24 bytes are tried as a handshake key.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c17 -D_GNU_SOURCE \
 *     -Isrc -include src/base/compat.h -o fuzz_ws tests/fuzz/fuzz_ws.c \
 *     src/http/ws.c src/events/bus.c src/base/{alloc,arena,buf,clock,config,err,json,log,uuid}.c \
 *     src/store/types.c -lnettle -lsodium -ljansson -lm
 *   ./fuzz_ws -max_total_time=60 /tmp/ws-corpus tests/data/ws
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "events/bus.h"
#include "http/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

static void notify(void *ctx)
{
	(void)ctx;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	size_t at = 0;
	while (at < size) {
		struct pos_ws_frame f;
		uint16_t code = 0;
		enum pos_ws_parse p = pos_ws_parse(buf + at, size - at, &f, &code);
		if (p == POS_WS_MORE)
			break;
		if (p == POS_WS_FAIL) {
			check(code == POS_WS_CLOSE_PROTOCOL || code == POS_WS_CLOSE_TOO_BIG);
			break;
		}
		check(f.consumed >= 6 && f.consumed <= size - at);
		check(f.len <= POS_WS_FRAME_MAX);
		check(f.payload >= buf + at && f.payload + f.len == buf + at + f.consumed);
		check(!(f.opcode & 0x8) || (f.len <= 125 && f.fin));
		/* what a server would answer round-trips through the writer */
		struct pos_buf out;
		pos_buf_init(&out, 2 * POS_WS_FRAME_MAX);
		if (!(f.opcode & 0x8) || f.len <= 125)
			check(pos_ws_write(&out, f.opcode, f.payload, f.len) == POS_OK);
		pos_buf_free(&out);
		at += f.consumed;
	}
	free(buf);

	static struct pos_events *bus;
	static struct pos_events_sub *sub;
	if (!bus) {
		struct pos_events_config cfg = {8, 8, 4, 16, 0};
		check(pos_events_new(&cfg, &bus) == POS_OK);
		check(pos_events_subscribe(bus, "0190a3b2-0000-7000-8000-00000000000a", NULL,
					   notify, NULL, &sub) == POS_OK);
	}
	pos_events_deliver_remote(bus, (const char *)data, size);
	struct pos_events_msg m;
	while (pos_events_next(sub, &m) == POS_EVENTS_EVENT)
		pos_free(m.json);

	char key[25], accept[POS_WS_ACCEPT_SIZE];
	size_t k = size < 24 ? size : 24;
	memcpy(key, data, k);
	key[k] = '\0';
	if (pos_ws_accept(key, accept))
		check(strlen(accept) == 28);
	return 0;
}
