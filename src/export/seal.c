/*
 * seal.c — sealed exports (seal.h): Argon2id + secretstream, chunked.
 */
#include "export/seal.h"

#include <errno.h>
#include <sodium.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"

static const char magic[8] = {'P', 'O', 'S', 'S', 'E', 'A', 'L', '1'};
#define HEADER_LEN (8 + crypto_pwhash_SALTBYTES + 8 + crypto_secretstream_xchacha20poly1305_HEADERBYTES)

struct pos_seal {
	int fd;
	crypto_secretstream_xchacha20poly1305_state st;
	unsigned char plain[POS_SEAL_CHUNK];
	size_t n;
	unsigned char cipher[4 + POS_SEAL_CHUNK + crypto_secretstream_xchacha20poly1305_ABYTES];
	bool broken;
};

static enum pos_err write_all(int fd, const void *p, size_t n)
{
	const unsigned char *c = p;
	while (n) {
		ssize_t k = write(fd, c, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return POS_ERR_IO;
		c += k;
		n -= (size_t)k;
	}
	return POS_OK;
}

static bool read_all(int fd, void *p, size_t n)
{
	unsigned char *c = p;
	while (n) {
		ssize_t k = read(fd, c, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		c += k;
		n -= (size_t)k;
	}
	return true;
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool derive(unsigned char key[crypto_secretstream_xchacha20poly1305_KEYBYTES],
		   const char *pass, const unsigned char *salt, uint32_t ops, uint32_t mem_kib)
{
	return crypto_pwhash(key, crypto_secretstream_xchacha20poly1305_KEYBYTES, pass, strlen(pass),
			     salt, ops, (size_t)mem_kib * 1024, crypto_pwhash_ALG_ARGON2ID13) == 0;
}

enum pos_err pos_seal_begin(int fd, const char *passphrase, struct pos_seal **out)
{
	if (sodium_init() < 0)
		return POS_ERR_INTERNAL;
	struct pos_seal *s = pos_calloc(1, sizeof(*s));
	if (!s)
		return POS_ERR_NOMEM;
	s->fd = fd;
	unsigned char hdr[HEADER_LEN], key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
	memcpy(hdr, magic, 8);
	unsigned char *salt = hdr + 8;
	randombytes_buf(salt, crypto_pwhash_SALTBYTES);
	uint32_t ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
	uint32_t mem = (uint32_t)(crypto_pwhash_MEMLIMIT_INTERACTIVE / 1024);
	put32(hdr + 8 + crypto_pwhash_SALTBYTES, ops);
	put32(hdr + 12 + crypto_pwhash_SALTBYTES, mem);
	enum pos_err rc = derive(key, passphrase, salt, ops, mem) ? POS_OK : POS_ERR_NOMEM;
	if (!rc)
		crypto_secretstream_xchacha20poly1305_init_push(&s->st, hdr + 16 + crypto_pwhash_SALTBYTES,
								key);
	sodium_memzero(key, sizeof(key));
	if (!rc)
		rc = write_all(fd, hdr, sizeof(hdr));
	if (rc) {
		pos_seal_free(s);
		return rc;
	}
	*out = s;
	return POS_OK;
}

static enum pos_err push(struct pos_seal *s, unsigned char tag)
{
	unsigned long long clen = 0;
	crypto_secretstream_xchacha20poly1305_push(&s->st, s->cipher + 4, &clen, s->plain, s->n,
						   NULL, 0, tag);
	put32(s->cipher, (uint32_t)clen);
	s->n = 0;
	enum pos_err rc = write_all(s->fd, s->cipher, 4 + (size_t)clen);
	if (rc)
		s->broken = true;
	return rc;
}

enum pos_err pos_seal_write(void *ctx, const void *p, size_t n)
{
	struct pos_seal *s = ctx;
	const unsigned char *c = p;
	if (s->broken)
		return POS_ERR_IO;
	while (n) {
		size_t k = POS_SEAL_CHUNK - s->n < n ? POS_SEAL_CHUNK - s->n : n;
		memcpy(s->plain + s->n, c, k);
		s->n += k;
		c += k;
		n -= k;
		/* a full chunk waits for more: the last one must carry FINAL */
		if (n && s->n == POS_SEAL_CHUNK) {
			enum pos_err rc = push(s, crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
			if (rc)
				return rc;
		}
	}
	return POS_OK;
}

enum pos_err pos_seal_end(struct pos_seal *s)
{
	if (s->broken)
		return POS_ERR_IO;
	return push(s, crypto_secretstream_xchacha20poly1305_TAG_FINAL);
}

void pos_seal_free(struct pos_seal *s)
{
	if (!s)
		return;
	sodium_memzero(s, sizeof(*s));
	pos_free(s);
}

bool pos_seal_is_sealed(int fd)
{
	char head[8];
	return pread(fd, head, 8, 0) == 8 && memcmp(head, magic, 8) == 0;
}

enum pos_err pos_seal_open(int in, int out, const char *passphrase, struct pos_error *err)
{
	if (sodium_init() < 0)
		return pos_error_set(err, POS_ERR_INTERNAL, NULL, NULL);
	unsigned char hdr[HEADER_LEN], key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
	if (!read_all(in, hdr, sizeof(hdr)) || memcmp(hdr, magic, 8) != 0)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "file", "not a sealed export");
	uint32_t ops = get32(hdr + 8 + crypto_pwhash_SALTBYTES);
	uint32_t mem = get32(hdr + 12 + crypto_pwhash_SALTBYTES);
	if (ops < crypto_pwhash_OPSLIMIT_MIN || ops > 10 || mem < 8 ||
	    (uint64_t)mem * 1024 > POS_SEAL_MEMLIMIT_MAX)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "file",
				     "the sealed export asks for key derivation limits this server refuses");
	if (!derive(key, passphrase ? passphrase : "", hdr + 8, ops, mem))
		return pos_error_set(err, POS_ERR_NOMEM, NULL, "cannot derive the key");
	crypto_secretstream_xchacha20poly1305_state st;
	int bad = crypto_secretstream_xchacha20poly1305_init_pull(&st, hdr + 16 + crypto_pwhash_SALTBYTES,
								  key);
	sodium_memzero(key, sizeof(key));
	enum pos_err rc = bad ? POS_ERR_DECRYPT : POS_OK;
	size_t cap = POS_SEAL_CHUNK + crypto_secretstream_xchacha20poly1305_ABYTES;
	unsigned char *cipher = pos_malloc(cap), *plain = pos_malloc(POS_SEAL_CHUNK);
	if (!cipher || !plain)
		rc = POS_ERR_NOMEM;
	unsigned char tag = 0;
	while (!rc && tag != crypto_secretstream_xchacha20poly1305_TAG_FINAL) {
		unsigned char lb[4];
		uint32_t clen;
		unsigned long long plen;
		if (!read_all(in, lb, 4) || (clen = get32(lb)) > cap ||
		    clen < crypto_secretstream_xchacha20poly1305_ABYTES || !read_all(in, cipher, clen) ||
		    crypto_secretstream_xchacha20poly1305_pull(&st, plain, &plen, &tag, cipher, clen,
							       NULL, 0) != 0) {
			rc = POS_ERR_DECRYPT;
			break;
		}
		rc = write_all(out, plain, (size_t)plen);
	}
	if (!rc) { /* nothing may follow the last chunk */
		unsigned char extra;
		if (read(in, &extra, 1) != 0)
			rc = POS_ERR_DECRYPT;
	}
	if (plain)
		sodium_memzero(plain, POS_SEAL_CHUNK);
	pos_free(cipher);
	pos_free(plain);
	if (rc == POS_ERR_DECRYPT)
		return pos_error_set(err, rc, "passphrase",
				     "wrong passphrase, or the sealed export is damaged or cut short");
	return rc ? pos_error_set(err, rc, NULL, NULL) : POS_OK;
}
