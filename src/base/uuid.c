/*
 * uuid.c — UUID v4 generation and validation.
 */
#include "base/uuid.h"

#include "base/buf.h"

#include <errno.h>
#include <sys/random.h>

bool pos_random_bytes(void *p, size_t n)
{
	unsigned char *c = p;
	while (n) {
		ssize_t r = getrandom(c, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		c += r;
		n -= (size_t)r;
	}
	return true;
}

void pos_uuid_from_bytes(const unsigned char b[16], char out[POS_UUID_SIZE])
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 15];
	}
	out[o] = '\0';
}

void pos_uuid_to_bytes(const char *s, unsigned char out[16])
{
	size_t o = 0;
	for (size_t i = 0; i < POS_UUID_LEN && o < 16; i++) {
		if (s[i] == '-')
			continue;
		out[o++] = (unsigned char)(pos_hexval(s[i]) << 4 | pos_hexval(s[i + 1]));
		i++;
	}
}

bool pos_uuid_new(char out[POS_UUID_SIZE])
{
	unsigned char b[16];
	if (!pos_random_bytes(b, sizeof(b)))
		return false;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	pos_uuid_from_bytes(b, out);
	return true;
}

bool pos_uuid_valid(const char *s, size_t len, char norm[POS_UUID_SIZE])
{
	if (!s || len != POS_UUID_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return false;
		} else if (c >= 'A' && c <= 'F') {
			c = (char)(c - 'A' + 'a');
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			return false;
		}
		if (norm)
			norm[i] = c;
	}
	if (norm)
		norm[len] = '\0';
	return true;
}

bool pos_uuid_new_v7(char out[POS_UUID_SIZE], int64_t now_us)
{
	unsigned char b[16];
	if (!pos_random_bytes(b + 6, sizeof(b) - 6))
		return false;
	uint64_t ms = now_us > 0 ? (uint64_t)now_us / 1000 : 0;
	for (int i = 5; i >= 0; i--, ms >>= 8)
		b[i] = (unsigned char)(ms & 0xff);
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x70);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	pos_uuid_from_bytes(b, out);
	return true;
}
