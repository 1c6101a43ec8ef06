/*
 * fuzz_multipart.c — libFuzzer driver for src/files/multipart.c: the first
 * byte is the boundary's length n (1..70), the next n bytes the boundary,
 * the rest the body. A found part must lie inside the body.
 * Long run: ./build/tests/fuzz_multipart -max_total_time=600
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "files/multipart.h"

struct mem {
	const uint8_t *p;
	size_t n;
};

static long mem_read(void *ctx, uint64_t off, void *buf, size_t n)
{
	struct mem *m = ctx;
	if (off >= m->n)
		return 0;
	if (n > m->n - off)
		n = (size_t)(m->n - off);
	memcpy(buf, m->p + off, n);
	return (long)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t bl = data[0] % 71;
	if (bl == 0 || 1 + bl > size)
		return 0;
	char b[72];
	memcpy(b, data + 1, bl);
	b[bl] = '\0';
	if (strlen(b) != bl)
		return 0;
	struct mem m = {data + 1 + bl, size - 1 - bl};
	uint64_t off, n;
	char name[64];
	if (pos_multipart_file(mem_read, &m, m.n, b, &off, &n, name, sizeof(name), NULL) == POS_OK) {
		if (off > m.n || n > m.n - off)
			abort();
		if (strlen(name) >= sizeof(name))
			abort();
	}
	char ct[128];
	char out[72];
	size_t cl = size < sizeof(ct) - 1 ? size : sizeof(ct) - 1;
	memcpy(ct, data, cl);
	ct[cl] = '\0';
	(void)pos_multipart_boundary(ct, out);
	return 0;
}
