/*
 * fuzz_hitline.c — libFuzzer driver for the search-hit line finder
 * (src/files/hitline.c). The input is a query, a NUL byte, then a memory's
 * content; the first byte of the content picks a `file` memory (even) or a
 * note (odd). The memory has two attachments ("a.pdf", a PDF; "n.txt",
 * text), so "[file: n.txt]" sections and "[page N]" markers in the content
 * take part. It must never crash, read out of bounds, leak, or answer a
 * match that breaks the invariants checked below.
 *
 * Build (from the repository root; clang with libFuzzer):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c17 -D_GNU_SOURCE \
 *     -Isrc -include src/base/compat.h -o fuzz_hitline tests/fuzz/fuzz_hitline.c \
 *     src/files/hitline.c src/search/query.c src/base/alloc.c src/base/arena.c \
 *     src/base/buf.c src/base/clock.c src/base/config.c src/base/err.c \
 *     src/base/json.c src/base/log.c src/base/uuid.c src/store/types.c -ljansson -lm
 *
 * Run with the seeds in tests/data/hitline:
 *
 *   mkdir -p /tmp/fh-corpus
 *   ./fuzz_hitline -max_len=20000 -max_total_time=60 /tmp/fh-corpus tests/data/hitline
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "files/hitline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	if (!nul || nul == data + size - 1)
		return 0;
	size_t qlen = (size_t)(nul - data);
	const char *content = (const char *)nul + 1;
	size_t clen = size - qlen - 1;
	struct pos_arena *a = pos_arena_new();
	check(a != NULL);
	char *c = pos_arena_strndup(a, content, clen); /* NUL-terminated, as the store gives it */
	check(c != NULL);
	struct pos_memory m;
	memset(&m, 0, sizeof(m));
	m.type = (content[0] & 1) ? POS_TYPE_NOTE : POS_TYPE_FILE;
	m.content = c;
	m.content_len = strlen(c);
	m.attachments_json = "[{\"id\":\"11111111-1111-4111-8111-111111111111\",\"name\":\"a.pdf\","
			     "\"mime\":\"application/pdf\"},{\"id\":\"22222222-2222-4222-8222-"
			     "222222222222\",\"name\":\"n.txt\",\"mime\":\"text/plain\"}]";
	struct pos_hitline_needles nd;
	check(pos_hitline_prepare(a, (const char *)data, qlen, (content[0] & 2) != 0, &nd) == POS_OK);
	struct pos_hitline h;
	if (pos_hitline_find(a, &nd, &m, &h)) {
		check(h.attachment_id && h.name && h.line);
		size_t cps = 0;
		for (const char *p = h.line; *p; p++)
			cps += ((unsigned char)*p & 0xC0) != 0x80;
		check(cps <= POS_HITLINE_CHARS);
		check(strchr(h.line, '\n') == NULL);
		check(h.n_marks >= 1 && h.n_marks <= POS_HITLINE_MARKS);
		size_t prev = 0;
		for (size_t i = 0; i < h.n_marks; i++) {
			check(h.marks[i].start >= prev && h.marks[i].start < h.marks[i].end);
			check(h.marks[i].end <= cps);
			prev = h.marks[i].end;
		}
	}
	pos_arena_destroy(a);
	return 0;
}
