/*
 * blob.c — the content-addressed blob store (blob.h): hashing while
 * copying into a temporary file, sealing in independent chunks, and the
 * atomic rename that makes a blob appear whole or not at all.
 */
#include "files/blob.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/fcopy.h"
#include "base/uuid.h"
#include "crypto/crypto.h"

#define MAGIC "POSB"
#define HDR_LEN (4 + 1 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
#define TAG_LEN crypto_aead_xchacha20poly1305_ietf_ABYTES
#define SEALED_CHUNK (POS_BLOB_CHUNK + TAG_LEN)

void pos_blob_key_derive(const struct pos_userkeys *k, struct pos_blob_key *out)
{
	static const char enc_label[] = "personalos blob enc v1";
	static const char id_label[] = "personalos blob id v1";
	crypto_generichash(out->enc, sizeof(out->enc), (const uint8_t *)enc_label,
			   sizeof(enc_label) - 1, k->enc, sizeof(k->enc));
	crypto_generichash(out->id, sizeof(out->id), (const uint8_t *)id_label,
			   sizeof(id_label) - 1, k->tok, sizeof(k->tok));
}

static bool user_ok(const char *user_id)
{
	char norm[POS_UUID_SIZE];
	return user_id && pos_uuid_valid(user_id, strlen(user_id), norm) &&
	       strcmp(norm, user_id) == 0;
}

bool pos_blob_hash_valid(const char *hex)
{
	if (!hex)
		return false;
	size_t i;
	for (i = 0; hex[i]; i++) {
		char c = hex[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return i == POS_BLOB_HASH_HEX - 1;
}

static enum pos_err mkdir_p(const char *path)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return POS_OK;
	return POS_ERR_IO;
}

enum pos_err pos_blobs_init(struct pos_blobs *b, const char *data_dir, struct pos_error *err)
{
	if ((size_t)snprintf(b->dir, sizeof(b->dir), "%s/blobs", data_dir) >= sizeof(b->dir))
		return pos_error_set(err, POS_ERR_IO, NULL, "data directory path too long");
	if (mkdir_p(b->dir))
		return pos_error_set(err, POS_ERR_IO, NULL, "cannot create %s: %s", b->dir,
				     strerror(errno));
	return POS_OK;
}

/* <dir>/<user> and, with hash, <dir>/<user>/<hh> and the blob's path. */
static enum pos_err paths(const struct pos_blobs *b, const char *user_id, const char *hash,
			  char user_dir[PATH_MAX], char sub[PATH_MAX], char file[PATH_MAX])
{
	if (!user_ok(user_id))
		return POS_ERR_INVALID_REQUEST;
	if ((size_t)snprintf(user_dir, PATH_MAX, "%s/%s", b->dir, user_id) >= PATH_MAX)
		return POS_ERR_IO;
	if (!hash)
		return POS_OK;
	if (!pos_blob_hash_valid(hash))
		return POS_ERR_NOT_FOUND;
	if ((size_t)snprintf(sub, PATH_MAX, "%s/%.2s", user_dir, hash) >= PATH_MAX ||
	    (size_t)snprintf(file, PATH_MAX, "%s/%s", sub, hash + 2) >= PATH_MAX)
		return POS_ERR_IO;
	return POS_OK;
}

static void nonce_for(uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES],
		      const uint8_t *base, uint64_t idx)
{
	memcpy(nonce, base, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	for (int i = 0; i < 8; i++)
		nonce[16 + i] ^= (uint8_t)(idx >> (8 * i));
}

static void chunk_ad(uint8_t ad[9], uint64_t idx, bool last)
{
	for (int i = 0; i < 8; i++)
		ad[i] = (uint8_t)(idx >> (8 * i));
	ad[8] = last ? 1 : 0;
}

static enum pos_err write_all(int fd, const void *p, size_t n)
{
	const uint8_t *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return POS_ERR_IO;
		}
		c += w;
		n -= (size_t)w;
	}
	return POS_OK;
}

/* Reads exactly n bytes at off from fd, or from `mem` when fd < 0. */
static enum pos_err read_in(int fd, const uint8_t *mem, uint64_t off, void *buf, size_t n)
{
	if (fd < 0) {
		memcpy(buf, mem + off, n);
		return POS_OK;
	}
	uint8_t *p = buf;
	while (n) {
		ssize_t r = pread(fd, p, n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return POS_ERR_IO;
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return POS_OK;
}

/* Hashes the input (keyed for sealed blobs): the blob's address. */
static enum pos_err hash_input(const struct pos_blob_key *key, int fd, const uint8_t *mem,
			       uint64_t off, uint64_t len, uint8_t *buf,
			       char hex[POS_BLOB_HASH_HEX])
{
	crypto_generichash_state st;
	crypto_generichash_init(&st, key ? key->id : NULL, key ? sizeof(key->id) : 0, 32);
	for (uint64_t done = 0; done < len;) {
		size_t n = len - done > POS_BLOB_CHUNK ? POS_BLOB_CHUNK : (size_t)(len - done);
		enum pos_err rc = read_in(fd, mem, off + done, buf, n);
		if (rc)
			return rc;
		crypto_generichash_update(&st, buf, n);
		done += n;
	}
	uint8_t h[32];
	crypto_generichash_final(&st, h, sizeof(h));
	sodium_bin2hex(hex, POS_BLOB_HASH_HEX, h, sizeof(h));
	return POS_OK;
}

/* Copies (and seals) the input into the open file `out`. */
static enum pos_err copy_input(const struct pos_blob_key *key, int fd, const uint8_t *mem,
			       uint64_t off, uint64_t len, uint8_t *buf, uint8_t *sealed,
			       int out)
{
	enum pos_err rc;
	uint8_t base[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
	if (key) {
		uint8_t hdr[HDR_LEN];
		memcpy(hdr, MAGIC, 4);
		hdr[4] = 1;
		pos_random(base, sizeof(base));
		memcpy(hdr + 5, base, sizeof(base));
		if ((rc = write_all(out, hdr, sizeof(hdr))))
			return rc;
	}
	uint64_t idx = 0, done = 0;
	do {
		size_t n = len - done > POS_BLOB_CHUNK ? POS_BLOB_CHUNK : (size_t)(len - done);
		if ((rc = read_in(fd, mem, off + done, buf, n)))
			return rc;
		done += n;
		if (!key) {
			if ((rc = write_all(out, buf, n)))
				return rc;
			continue;
		}
		/* The last chunk is the one that is not full, so a full final
		 * chunk is followed by an empty one. */
		bool last = n < POS_BLOB_CHUNK;
		uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES], ad[9];
		nonce_for(nonce, base, idx);
		chunk_ad(ad, idx, last);
		unsigned long long clen;
		crypto_aead_xchacha20poly1305_ietf_encrypt(sealed, &clen, buf, n, ad, sizeof(ad),
							   NULL, nonce, key->enc);
		if ((rc = write_all(out, sealed, (size_t)clen)))
			return rc;
		idx++;
		if (last)
			break;
	} while (key || done < len);
	return POS_OK;
}

static enum pos_err put(const struct pos_blobs *b, const char *user_id,
			const struct pos_blob_key *key, int fd, const uint8_t *mem, uint64_t off,
			uint64_t len, char hash[POS_BLOB_HASH_HEX], bool *created)
{
	char user_dir[PATH_MAX], sub[PATH_MAX], file[PATH_MAX], tmp[PATH_MAX];
	enum pos_err rc;
	int out = -1;
	bool tmp_made = false;
	*created = false;
	uint8_t *buf = pos_malloc(POS_BLOB_CHUNK + SEALED_CHUNK);
	if (!buf)
		return POS_ERR_NOMEM;
	if ((rc = paths(b, user_id, NULL, user_dir, sub, file)))
		goto out;
	if ((rc = hash_input(key, fd, mem, off, len, buf, hash)))
		goto out;
	if ((rc = paths(b, user_id, hash, user_dir, sub, file)))
		goto out;
	struct stat st;
	if (stat(file, &st) == 0)
		goto out; /* the user has these bytes already */
	if ((rc = mkdir_p(user_dir)) || (rc = mkdir_p(sub)))
		goto out;
	char rnd[POS_UUID_SIZE];
	if (!pos_uuid_new(rnd)) {
		rc = POS_ERR_INTERNAL;
		goto out;
	}
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.tmp-%s", user_dir, rnd) >= sizeof(tmp)) {
		rc = POS_ERR_IO;
		goto out;
	}
	out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (out < 0) {
		rc = POS_ERR_IO;
		goto out;
	}
	tmp_made = true;
	if ((rc = copy_input(key, fd, mem, off, len, buf, buf + POS_BLOB_CHUNK, out)))
		goto out;
	if (fsync(out) != 0 || close(out) != 0) {
		out = -1;
		rc = POS_ERR_IO;
		goto out;
	}
	out = -1;
	if (rename(tmp, file) != 0) {
		rc = POS_ERR_IO;
		goto out;
	}
	tmp_made = false;
	int dfd = open(sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	*created = true;
out:
	if (out >= 0)
		close(out);
	if (tmp_made)
		unlink(tmp);
	pos_free(buf);
	return rc;
}

enum pos_err pos_blob_put_fd(const struct pos_blobs *b, const char *user_id,
			     const struct pos_blob_key *key, int fd, uint64_t off, uint64_t len,
			     char hash[POS_BLOB_HASH_HEX], bool *created)
{
	if (fd < 0)
		return POS_ERR_IO;
	return put(b, user_id, key, fd, NULL, off, len, hash, created);
}

enum pos_err pos_blob_put_mem(const struct pos_blobs *b, const char *user_id,
			      const struct pos_blob_key *key, const void *data, size_t len,
			      char hash[POS_BLOB_HASH_HEX], bool *created)
{
	return put(b, user_id, key, -1, data ? data : "", 0, len, hash, created);
}

enum pos_err pos_blob_reseal(const struct pos_blobs *b, const char *user_id,
			     const char *plain_hash, const struct pos_blob_key *key,
			     char hash[POS_BLOB_HASH_HEX], uint64_t *size, bool *created)
{
	char user_dir[PATH_MAX], sub[PATH_MAX], file[PATH_MAX];
	*size = 0;
	if (!key)
		return POS_ERR_INVALID_REQUEST;
	enum pos_err rc = paths(b, user_id, plain_hash, user_dir, sub, file);
	if (rc)
		return rc == POS_ERR_INVALID_REQUEST ? POS_ERR_NOT_FOUND : rc;
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? POS_ERR_NOT_FOUND : POS_ERR_IO;
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return POS_ERR_IO;
	}
	rc = put(b, user_id, key, fd, NULL, 0, (uint64_t)st.st_size, hash, created);
	close(fd);
	if (!rc)
		*size = (uint64_t)st.st_size;
	return rc;
}

struct pos_blob_reader {
	int fd;
	bool sealed;
	struct pos_blob_key key;
	uint8_t base[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
	uint64_t size;           /* plaintext */
	uint64_t chunks;         /* sealed: number of chunks */
	int64_t cur;             /* index of the chunk in plain, -1: none */
	size_t cur_len;
	uint8_t plain[POS_BLOB_CHUNK];
	uint8_t sealed_buf[SEALED_CHUNK];
};

static enum pos_err load_chunk(struct pos_blob_reader *rd, uint64_t idx)
{
	if ((int64_t)idx == rd->cur)
		return POS_OK;
	uint64_t pos = HDR_LEN + idx * (uint64_t)SEALED_CHUNK;
	bool last = idx + 1 == rd->chunks;
	size_t clen = last ? (size_t)(rd->size - idx * POS_BLOB_CHUNK) + TAG_LEN : SEALED_CHUNK;
	enum pos_err rc = read_in(rd->fd, NULL, pos, rd->sealed_buf, clen);
	if (rc)
		return rc;
	uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES], ad[9];
	nonce_for(nonce, rd->base, idx);
	chunk_ad(ad, idx, last);
	unsigned long long plen;
	rd->cur = -1;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(rd->plain, &plen, NULL, rd->sealed_buf,
						       clen, ad, sizeof(ad), nonce,
						       rd->key.enc) != 0)
		return POS_ERR_DECRYPT;
	rd->cur = (int64_t)idx;
	rd->cur_len = (size_t)plen;
	return POS_OK;
}

enum pos_err pos_blob_open(const struct pos_blobs *b, const char *user_id,
			   const struct pos_blob_key *key, const char *hash,
			   struct pos_blob_reader **out, uint64_t *size)
{
	char user_dir[PATH_MAX], sub[PATH_MAX], file[PATH_MAX];
	*out = NULL;
	enum pos_err rc = paths(b, user_id, hash, user_dir, sub, file);
	if (rc)
		return rc == POS_ERR_INVALID_REQUEST ? POS_ERR_NOT_FOUND : rc;
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? POS_ERR_NOT_FOUND : POS_ERR_IO;
	struct pos_blob_reader *rd = pos_malloc(sizeof(*rd));
	if (!rd) {
		close(fd);
		return POS_ERR_NOMEM;
	}
	memset(rd, 0, offsetof(struct pos_blob_reader, plain));
	rd->fd = fd;
	rd->cur = -1;
	struct stat st;
	if (fstat(fd, &st) != 0) {
		rc = POS_ERR_IO;
		goto fail;
	}
	if (!key) {
		rd->size = (uint64_t)st.st_size;
	} else {
		rd->sealed = true;
		rd->key = *key;
		uint8_t hdr[HDR_LEN];
		uint64_t fsz = (uint64_t)st.st_size;
		if (fsz < HDR_LEN + TAG_LEN || read_in(fd, NULL, 0, hdr, sizeof(hdr)) ||
		    memcmp(hdr, MAGIC, 4) != 0 || hdr[4] != 1) {
			rc = POS_ERR_DECRYPT;
			goto fail;
		}
		memcpy(rd->base, hdr + 5, sizeof(rd->base));
		uint64_t body = fsz - HDR_LEN;
		/* every chunk but the last is full; the last has a tag and
		 * fewer than POS_BLOB_CHUNK bytes */
		rd->chunks = body / SEALED_CHUNK + 1;
		uint64_t tail = body % SEALED_CHUNK;
		if (tail < TAG_LEN) {
			rc = POS_ERR_DECRYPT;
			goto fail;
		}
		rd->size = (rd->chunks - 1) * POS_BLOB_CHUNK + (tail - TAG_LEN);
		/* authenticate the last chunk now: a truncated file fails here */
		if ((rc = load_chunk(rd, rd->chunks - 1)))
			goto fail;
	}
	*size = rd->size;
	*out = rd;
	return POS_OK;
fail:
	pos_blob_close(rd);
	return rc;
}

enum pos_err pos_blob_read(struct pos_blob_reader *rd, uint64_t off, void *buf, size_t n,
			   size_t *got)
{
	*got = 0;
	if (off >= rd->size || n == 0)
		return POS_OK;
	if (n > rd->size - off)
		n = (size_t)(rd->size - off);
	if (!rd->sealed) {
		ssize_t r;
		do
			r = pread(rd->fd, buf, n, (off_t)off);
		while (r < 0 && errno == EINTR);
		if (r < 0)
			return POS_ERR_IO;
		*got = (size_t)r;
		return POS_OK;
	}
	uint8_t *p = buf;
	while (n) {
		uint64_t idx = off / POS_BLOB_CHUNK;
		size_t in = (size_t)(off % POS_BLOB_CHUNK);
		enum pos_err rc = load_chunk(rd, idx);
		if (rc)
			return rc;
		if (in >= rd->cur_len)
			break;
		size_t take = rd->cur_len - in < n ? rd->cur_len - in : n;
		memcpy(p, rd->plain + in, take);
		p += take;
		n -= take;
		off += take;
		*got += take;
	}
	return POS_OK;
}

void pos_blob_close(struct pos_blob_reader *rd)
{
	if (!rd)
		return;
	if (rd->fd >= 0)
		close(rd->fd);
	pos_wipe(rd, sizeof(*rd));
	pos_free(rd);
}

enum pos_err pos_blob_remove(const struct pos_blobs *b, const char *user_id, const char *hash)
{
	char user_dir[PATH_MAX], sub[PATH_MAX], file[PATH_MAX];
	enum pos_err rc = paths(b, user_id, hash, user_dir, sub, file);
	if (rc)
		return rc == POS_ERR_NOT_FOUND ? POS_OK : rc;
	if (unlink(file) != 0 && errno != ENOENT)
		return POS_ERR_IO;
	(void)rmdir(sub); /* only when empty */
	return POS_OK;
}

enum pos_err pos_blob_remove_user(const struct pos_blobs *b, const char *user_id)
{
	char user_dir[PATH_MAX], sub[PATH_MAX], file[PATH_MAX];
	enum pos_err rc = paths(b, user_id, NULL, user_dir, sub, file);
	if (rc)
		return rc;
	DIR *d = opendir(user_dir);
	if (!d)
		return errno == ENOENT ? POS_OK : POS_ERR_IO;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", user_dir, e->d_name) >= sizeof(sub))
			continue;
		DIR *s = opendir(sub);
		if (s) {
			struct dirent *f;
			while ((f = readdir(s))) {
				if (f->d_name[0] == '.')
					continue;
				if ((size_t)snprintf(file, sizeof(file), "%s/%s", sub, f->d_name) <
				    sizeof(file))
					unlink(file);
			}
			closedir(s);
			rmdir(sub);
		} else {
			unlink(sub);
		}
	}
	closedir(d);
	return rmdir(user_dir) == 0 || errno == ENOENT ? POS_OK : POS_ERR_IO;
}

int64_t pos_blob_disk_size(const struct pos_blobs *b, const char *user_id, const char *hash)
{
	char user_dir[PATH_MAX], sub[PATH_MAX], file[PATH_MAX];
	struct stat st;
	if (paths(b, user_id, hash, user_dir, sub, file) || stat(file, &st) != 0)
		return -1;
	return (int64_t)st.st_size;
}

uint64_t pos_blob_stored_size(uint64_t plain, bool sealed)
{
	if (!sealed)
		return plain;
	/* header, the full chunks, and a last chunk that is not full */
	return HDR_LEN + (plain / POS_BLOB_CHUNK) * (uint64_t)SEALED_CHUNK +
	       plain % POS_BLOB_CHUNK + TAG_LEN;
}

static bool hex_name(const char *s, size_t len)
{
	size_t i;
	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == len;
}

static void sync_dir(const char *dir)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
}

/* Copies one blob file; *gone when it vanished before it was opened. */
static enum pos_err copy_blob_file(const char *from, const char *to, uint64_t *bytes,
				   bool *gone, struct pos_error *err)
{
	*gone = false;
	int in = open(from, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (in < 0) {
		if (errno == ENOENT) {
			*gone = true;
			return POS_OK;
		}
		return pos_error_set(err, POS_ERR_IO, NULL, "cannot read %s: %s", from,
				     strerror(errno));
	}
	struct stat st;
	enum pos_err rc = POS_OK;
	if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode))
		*gone = true; /* not a regular file: not a blob */
	else
		rc = pos_fcopy(in, from, to, bytes, err);
	close(in);
	return rc;
}

enum pos_err pos_blob_copy_tree(const char *from, const char *to, uint64_t *copied,
				uint64_t *bytes, struct pos_error *err)
{
	*copied = 0;
	*bytes = 0;
	if (mkdir(to, 0700) != 0)
		return pos_error_set(err, errno == EEXIST ? POS_ERR_CONFLICT : POS_ERR_IO, NULL,
				     "cannot create %s: %s", to, strerror(errno));
	DIR *d = opendir(from);
	if (!d) {
		if (errno == ENOENT)
			return POS_OK; /* no blobs yet */
		return pos_error_set(err, POS_ERR_IO, NULL, "cannot read %s: %s", from,
				     strerror(errno));
	}
	enum pos_err rc = POS_OK;
	struct dirent *u;
	while (!rc && (u = readdir(d))) {
		if (!user_ok(u->d_name))
			continue; /* ".", "..", anything not a user's folder */
		char fu[PATH_MAX], tu[PATH_MAX];
		if ((size_t)snprintf(fu, sizeof(fu), "%s/%s", from, u->d_name) >= sizeof(fu) ||
		    (size_t)snprintf(tu, sizeof(tu), "%s/%s", to, u->d_name) >= sizeof(tu)) {
			rc = pos_error_set(err, POS_ERR_IO, NULL, "path too long");
			break;
		}
		DIR *ud = opendir(fu);
		if (!ud)
			continue; /* the user's folder went (account deleted) */
		if (mkdir(tu, 0700) != 0) {
			rc = pos_error_set(err, POS_ERR_IO, NULL, "cannot create %s: %s", tu,
					   strerror(errno));
			closedir(ud);
			break;
		}
		struct dirent *h;
		while (!rc && (h = readdir(ud))) {
			if (!hex_name(h->d_name, 2))
				continue; /* ".tmp-*" files of puts in flight */
			char fh[PATH_MAX], th[PATH_MAX];
			if ((size_t)snprintf(fh, sizeof(fh), "%s/%s", fu, h->d_name) >= sizeof(fh) ||
			    (size_t)snprintf(th, sizeof(th), "%s/%s", tu, h->d_name) >= sizeof(th)) {
				rc = pos_error_set(err, POS_ERR_IO, NULL, "path too long");
				break;
			}
			DIR *hd = opendir(fh);
			if (!hd)
				continue;
			if (mkdir(th, 0700) != 0) {
				rc = pos_error_set(err, POS_ERR_IO, NULL, "cannot create %s: %s",
						   th, strerror(errno));
				closedir(hd);
				break;
			}
			struct dirent *f;
			while (!rc && (f = readdir(hd))) {
				if (!hex_name(f->d_name, POS_BLOB_HASH_HEX - 3))
					continue;
				char ff[PATH_MAX], tf[PATH_MAX];
				if ((size_t)snprintf(ff, sizeof(ff), "%s/%s", fh, f->d_name) >=
					    sizeof(ff) ||
				    (size_t)snprintf(tf, sizeof(tf), "%s/%s", th, f->d_name) >=
					    sizeof(tf)) {
					rc = pos_error_set(err, POS_ERR_IO, NULL, "path too long");
					break;
				}
				bool gone;
				rc = copy_blob_file(ff, tf, bytes, &gone, err);
				if (!rc && !gone)
					(*copied)++;
			}
			closedir(hd);
			sync_dir(th);
		}
		closedir(ud);
		sync_dir(tu);
	}
	closedir(d);
	sync_dir(to);
	return rc;
}

void pos_blob_remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *u;
	while ((u = readdir(d))) {
		if (!user_ok(u->d_name))
			continue;
		char fu[PATH_MAX];
		if ((size_t)snprintf(fu, sizeof(fu), "%s/%s", dir, u->d_name) >= sizeof(fu))
			continue;
		DIR *ud = opendir(fu);
		if (!ud)
			continue;
		struct dirent *h;
		while ((h = readdir(ud))) {
			if (!hex_name(h->d_name, 2))
				continue;
			char fh[PATH_MAX];
			if ((size_t)snprintf(fh, sizeof(fh), "%s/%s", fu, h->d_name) >= sizeof(fh))
				continue;
			DIR *hd = opendir(fh);
			if (!hd)
				continue;
			struct dirent *f;
			while ((f = readdir(hd))) {
				char ff[PATH_MAX];
				if (hex_name(f->d_name, POS_BLOB_HASH_HEX - 3) &&
				    (size_t)snprintf(ff, sizeof(ff), "%s/%s", fh, f->d_name) <
					    sizeof(ff))
					unlink(ff);
			}
			closedir(hd);
			rmdir(fh);
		}
		closedir(ud);
		rmdir(fu);
	}
	closedir(d);
	rmdir(dir);
}
