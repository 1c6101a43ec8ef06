/*
 * zipw.c — the streaming zip writer (zipw.h): entries go straight to the
 * sink, their central directory records to a spool file that is copied
 * after the last entry, so memory stays flat however many entries there
 * are. zlib does the deflate and the CRC-32; the framing (PKWARE APPNOTE
 * 6.3.x: local headers, data descriptors, central directory, ZIP64 end
 * records) is written here.
 */
#include "export/zipw.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_DESCRIPTOR 0x08074b50u
#define SIG_END64 0x06064b50u
#define SIG_LOCATOR64 0x07064b50u
#define SIG_END 0x06054b50u

#define FLAG_DESCRIPTOR 0x0008u /* bit 3: sizes and CRC follow the data */
#define FLAG_UTF8 0x0800u       /* bit 11: the name is UTF-8 */
#define METHOD_STORE 0
#define METHOD_DEFLATE 8
#define VERSION_20 20            /* 2.0: deflate, folders */
#define VERSION_ZIP64 45         /* 4.5: ZIP64 */
#define MADE_BY_UNIX (3u << 8)   /* the external attributes hold a Unix mode */
#define MODE_FILE 0100644u
#define X_ZIP64 0x0001u
#define X_TIME 0x5455u           /* extended timestamp: Unix seconds */
#define MAX32 0xffffffffu
#define MAX16 0xffffu

#define CHUNK (64u << 10)        /* deflate output, spool writes, the copy */
#define ADD_MAX (1u << 30)       /* pos_zipw_add compresses in memory below this */
#define KEEP_MAX (4u << 20)      /* a larger compression buffer is freed after use */

/* What the central directory needs of one entry. */
struct entry {
	uint64_t off, csize, usize;
	uint32_t crc;
	uint16_t flags, method, version, dtime, ddate;
	int64_t unix_s; /* for the 0x5455 extra; -1: none */
};

struct pos_zipw {
	pos_zipw_write_fn write;
	void *ctx;
	int spool;
	uint64_t spooled;      /* directory bytes in the spool */
	/* the spool is enciphered (XChaCha20, a key per writer that never
	 * leaves memory): names carry a slug of each note's first line, and
	 * a sealed export promises no plaintext on disk */
	unsigned char key[crypto_stream_xchacha20_KEYBYTES];
	unsigned char nonce[crypto_stream_xchacha20_NONCEBYTES];
	uint64_t off, n;       /* bytes written, entries written */
	bool broken, finished;
	struct pos_buf cd;     /* directory records not yet in the spool */
	z_stream zs;
	bool zs_ready;
	unsigned char *cbuf;   /* pos_zipw_add: one entry's deflated data */
	size_t ccap;
	/* the open streamed entry */
	bool open;
	struct entry cur;
	struct pos_buf cur_name;
	unsigned char out[CHUNK];  /* deflate output; the directory's copy */
	size_t wlen;               /* bytes waiting in wbuf */
	unsigned char wbuf[CHUNK]; /* output gathered: one sink call per 64 KiB */
};

/* ---- little-endian fields ---- */

static unsigned char *le16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	return p + 2;
}

static unsigned char *le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
	return p + 4;
}

static unsigned char *le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
	return p + 8;
}

static uint32_t cap32(uint64_t v)
{
	return v >= MAX32 ? MAX32 : (uint32_t)v;
}

/* ---- output ---- */

static enum pos_err broken(struct pos_zipw *z, enum pos_err rc)
{
	if (rc && rc != POS_ERR_INVALID_FIELD)
		z->broken = true;
	return rc;
}

static enum pos_err out_flush(struct pos_zipw *z)
{
	if (!z->wlen)
		return POS_OK;
	if (z->write(z->ctx, z->wbuf, z->wlen))
		return broken(z, POS_ERR_IO);
	z->wlen = 0;
	return POS_OK;
}

/* Output, gathered in wbuf (headers and small entries are a few hundred
 * bytes: a sink call each would be a syscall each). */
static enum pos_err out(struct pos_zipw *z, const void *p, size_t n)
{
	if (!n)
		return POS_OK;
	z->off += n;
	if (z->wlen + n <= CHUNK) {
		memcpy(z->wbuf + z->wlen, p, n);
		z->wlen += n;
		return z->wlen == CHUNK ? out_flush(z) : POS_OK;
	}
	enum pos_err rc = out_flush(z);
	if (rc)
		return rc;
	if (n < CHUNK) {
		memcpy(z->wbuf, p, n);
		z->wlen = n;
		return POS_OK;
	}
	return z->write(z->ctx, p, n) ? broken(z, POS_ERR_IO) : POS_OK;
}

static enum pos_err fd_write(int fd, const unsigned char *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return POS_ERR_IO;
		}
		p += k;
		n -= (size_t)k;
	}
	return POS_OK;
}

/* XORs `n` bytes at spool offset `off` with the spool's key stream. */
static void spool_xor(const struct pos_zipw *z, unsigned char *p, size_t n, uint64_t off)
{
	size_t skip = (size_t)(off % 64); /* the stream's block is 64 bytes */
	if (skip && n) {
		unsigned char block[64] = {0};
		size_t k = 64 - skip < n ? 64 - skip : n;
		memcpy(block + skip, p, k);
		crypto_stream_xchacha20_xor_ic(block, block, 64, z->nonce, off / 64, z->key);
		memcpy(p, block + skip, k);
		sodium_memzero(block, sizeof(block));
		p += k;
		n -= k;
		off += k;
	}
	if (n)
		crypto_stream_xchacha20_xor_ic(p, p, n, z->nonce, off / 64, z->key);
}

static enum pos_err spool_flush(struct pos_zipw *z)
{
	if (!z->cd.len)
		return POS_OK;
	spool_xor(z, (unsigned char *)z->cd.data, z->cd.len, z->spooled);
	if (fd_write(z->spool, (const unsigned char *)z->cd.data, z->cd.len))
		return broken(z, POS_ERR_IO);
	z->spooled += z->cd.len;
	pos_buf_reset(&z->cd);
	return POS_OK;
}

int pos_zipw_spool(int near_fd)
{
	char link[64], dir[PATH_MAX];
	if (near_fd >= 0) {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", near_fd);
		ssize_t n = readlink(link, dir, sizeof(dir) - 1);
		if (n > 0 && dir[0] == '/') {
			dir[n] = '\0';
			char *slash = strrchr(dir, '/');
			*(slash == dir ? slash + 1 : slash) = '\0';
			int t = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
			if (t >= 0)
				return t;
		}
	}
	FILE *f = tmpfile();
	if (!f)
		return -1;
	int t = fcntl(fileno(f), F_DUPFD_CLOEXEC, 0);
	fclose(f);
	return t;
}

/* ---- names and times ---- */

/* Valid UTF-8 (no overlong forms, no surrogates, at most U+10FFFF). */
static bool utf8_ok(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned c = s[i];
		size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
		if (!k || i + k > n)
			return false;
		uint32_t cp = k == 1 ? c : k == 2 ? c & 0x1f : k == 3 ? c & 0x0f : c & 0x07;
		for (size_t j = 1; j < k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x80) || (k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k;
	}
	return true;
}

/* A relative path of non-empty components, none "." or "..", no '\\'. */
static bool name_ok(const char *name, size_t *len)
{
	size_t n = name ? strlen(name) : 0;
	if (!n || n > POS_ZIPW_NAME_MAX || !utf8_ok((const unsigned char *)name, n))
		return false;
	const char *c = name;
	for (;;) {
		const char *e = strchr(c, '/');
		size_t k = e ? (size_t)(e - c) : strlen(c);
		if (!k || (k == 1 && c[0] == '.') || (k == 2 && c[0] == '.' && c[1] == '.') ||
		    memchr(c, '\\', k))
			return false;
		if (!e)
			break;
		c = e + 1;
	}
	*len = n;
	return true;
}

/* DOS date and time (UTC; 2-second steps), clamped to 1980..2107. */
static void dos_time(struct entry *e, int64_t mtime_us)
{
	e->dtime = 0;
	e->ddate = (1 << 5) | 1; /* 1980-01-01 */
	e->unix_s = -1;
	if (mtime_us == POS_TIME_NONE)
		return;
	int64_t s = mtime_us / 1000000 - (mtime_us % 1000000 < 0);
	if (s >= 0 && s <= INT32_MAX)
		e->unix_s = s;
	time_t t = (time_t)s;
	struct tm tm;
	if (!gmtime_r(&t, &tm) || tm.tm_year < 80)
		return;
	if (tm.tm_year > 207) {
		e->ddate = (uint16_t)((127 << 9) | (12 << 5) | 31);
		e->dtime = (uint16_t)((23 << 11) | (59 << 5) | 29);
		return;
	}
	e->ddate = (uint16_t)(((tm.tm_year - 80) << 9) | ((tm.tm_mon + 1) << 5) | tm.tm_mday);
	e->dtime = (uint16_t)((tm.tm_hour << 11) | (tm.tm_min << 5) | (tm.tm_sec / 2));
}

/* ---- records ---- */

/* The local header. A streamed entry's has no sizes yet: a ZIP64 extra
 * with zeros says its descriptor holds 64-bit sizes. */
static enum pos_err local_header(struct pos_zipw *z, const struct entry *e, const char *name,
				 size_t nlen, bool streamed)
{
	unsigned char h[30 + 20 + 9], *p = h;
	size_t extra = (streamed ? 20 : 0) + (e->unix_s >= 0 ? 9 : 0);
	p = le32(p, SIG_LOCAL);
	p = le16(p, e->version);
	p = le16(p, e->flags);
	p = le16(p, e->method);
	p = le16(p, e->dtime);
	p = le16(p, e->ddate);
	p = le32(p, streamed ? 0 : e->crc);
	p = le32(p, streamed ? MAX32 : (uint32_t)e->csize);
	p = le32(p, streamed ? MAX32 : (uint32_t)e->usize);
	p = le16(p, (unsigned)nlen);
	p = le16(p, (unsigned)extra);
	enum pos_err rc = out(z, h, 30);
	if (!rc)
		rc = out(z, name, nlen);
	p = h;
	if (streamed) {
		p = le16(p, X_ZIP64);
		p = le16(p, 16);
		p = le64(p, 0);
		p = le64(p, 0);
	}
	if (e->unix_s >= 0) {
		p = le16(p, X_TIME);
		p = le16(p, 5);
		*p++ = 1; /* the modification time is present */
		p = le32(p, (uint32_t)e->unix_s);
	}
	if (!rc)
		rc = out(z, h, (size_t)(p - h));
	return rc;
}

/* The entry's central directory record, to the spool. */
static enum pos_err central_record(struct pos_zipw *z, const struct entry *e, const char *name,
				   size_t nlen)
{
	unsigned char h[46], x[4 + 24 + 9], *p = x;
	bool big_u = e->usize >= MAX32, big_c = e->csize >= MAX32, big_o = e->off >= MAX32;
	if (big_u || big_c || big_o) {
		p = le16(p, X_ZIP64);
		p = le16(p, (unsigned)(8 * (big_u + big_c + big_o)));
		if (big_u)
			p = le64(p, e->usize);
		if (big_c)
			p = le64(p, e->csize);
		if (big_o)
			p = le64(p, e->off);
	}
	if (e->unix_s >= 0) {
		p = le16(p, X_TIME);
		p = le16(p, 5);
		*p++ = 1;
		p = le32(p, (uint32_t)e->unix_s);
	}
	unsigned version = big_u || big_c || big_o ? VERSION_ZIP64 : e->version;
	unsigned char *q = h;
	q = le32(q, SIG_CENTRAL);
	q = le16(q, MADE_BY_UNIX | version);
	q = le16(q, version);
	q = le16(q, e->flags);
	q = le16(q, e->method);
	q = le16(q, e->dtime);
	q = le16(q, e->ddate);
	q = le32(q, e->crc);
	q = le32(q, cap32(e->csize));
	q = le32(q, cap32(e->usize));
	q = le16(q, (unsigned)nlen);
	q = le16(q, (unsigned)(p - x));
	q = le16(q, 0);  /* comment */
	q = le16(q, 0);  /* disk */
	q = le16(q, 0);  /* internal attributes */
	q = le32(q, MODE_FILE << 16);
	le32(q, cap32(e->off));
	enum pos_err rc = pos_buf_add(&z->cd, h, sizeof(h));
	if (!rc)
		rc = pos_buf_add(&z->cd, name, nlen);
	if (!rc)
		rc = pos_buf_add(&z->cd, x, (size_t)(p - x));
	if (rc)
		return broken(z, rc == POS_ERR_BODY_TOO_LARGE ? POS_ERR_INTERNAL : rc);
	z->n++;
	return z->cd.len >= CHUNK ? spool_flush(z) : POS_OK;
}

/* ---- the writer ---- */

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
	(void)opaque;
	return pos_calloc(items, size);
}

static void z_free(voidpf opaque, voidpf p)
{
	(void)opaque;
	pos_free(p);
}

enum pos_err pos_zipw_open(pos_zipw_write_fn wr, void *ctx, int spool_fd, int level,
			   struct pos_zipw **outp)
{
	if (!wr || spool_fd < 0 || level < -1 || level > 9) {
		if (spool_fd >= 0)
			close(spool_fd);
		return POS_ERR_INTERNAL;
	}
	struct pos_zipw *z = sodium_init() < 0 ? NULL : pos_calloc(1, sizeof(*z));
	if (!z) {
		close(spool_fd);
		return POS_ERR_NOMEM;
	}
	crypto_stream_xchacha20_keygen(z->key);
	randombytes_buf(z->nonce, sizeof(z->nonce));
	z->write = wr;
	z->ctx = ctx;
	z->spool = spool_fd;
	pos_buf_init(&z->cd, 2 * CHUNK + 2 * POS_ZIPW_NAME_MAX);
	pos_buf_init(&z->cur_name, POS_ZIPW_NAME_MAX);
	z->zs.zalloc = z_alloc;
	z->zs.zfree = z_free;
	int zr = deflateInit2(&z->zs, level, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
	if (zr != Z_OK) {
		pos_zipw_free(z);
		return zr == Z_MEM_ERROR ? POS_ERR_NOMEM : POS_ERR_INTERNAL;
	}
	z->zs_ready = true;
	*outp = z;
	return POS_OK;
}

static enum pos_err usable(const struct pos_zipw *z)
{
	if (z->broken)
		return POS_ERR_IO;
	return z->finished ? POS_ERR_INTERNAL : POS_OK;
}

/* Deflates `n` (< ADD_MAX) bytes into z->cbuf; *clen gets the size. */
static enum pos_err deflate_whole(struct pos_zipw *z, const void *data, size_t n, size_t *clen)
{
	size_t need = deflateBound(&z->zs, (uLong)n);
	if (need > z->ccap) {
		unsigned char *p = pos_realloc(z->cbuf, need);
		if (!p)
			return POS_ERR_NOMEM;
		z->cbuf = p;
		z->ccap = need;
	}
	if (deflateReset(&z->zs) != Z_OK)
		return POS_ERR_INTERNAL;
	z->zs.next_in = (Bytef *)(uintptr_t)data;
	z->zs.avail_in = (uInt)n;
	z->zs.next_out = z->cbuf;
	z->zs.avail_out = (uInt)need;
	if (deflate(&z->zs, Z_FINISH) != Z_STREAM_END)
		return POS_ERR_INTERNAL; /* deflateBound is an upper bound */
	*clen = need - z->zs.avail_out;
	return POS_OK;
}

enum pos_err pos_zipw_add(struct pos_zipw *z, const char *name, const void *data, size_t len,
			  int64_t mtime_us)
{
	enum pos_err rc = usable(z);
	if (rc)
		return rc;
	if (z->open)
		return broken(z, POS_ERR_INTERNAL);
	size_t nlen;
	if (!name_ok(name, &nlen) || (len && !data))
		return POS_ERR_INVALID_FIELD;
	if (len >= ADD_MAX) {
		/* too large to hold compressed beside the data: stream it */
		rc = pos_zipw_begin(z, name, mtime_us);
		if (!rc)
			rc = pos_zipw_write(z, data, len);
		if (!rc)
			rc = pos_zipw_end(z);
		return rc;
	}
	struct entry e = {.off = z->off, .usize = len, .flags = FLAG_UTF8, .version = VERSION_20};
	dos_time(&e, mtime_us);
	e.crc = (uint32_t)crc32_z(0L, data, len);
	size_t clen = 0;
	if (len && (rc = deflate_whole(z, data, len, &clen)))
		return broken(z, rc);
	const void *body = data;
	if (len && clen < len) {
		e.method = METHOD_DEFLATE;
		e.csize = clen;
		body = z->cbuf;
	} else {
		e.method = METHOD_STORE;
		e.csize = len;
	}
	rc = local_header(z, &e, name, nlen, false);
	if (!rc)
		rc = out(z, body, (size_t)e.csize);
	if (z->ccap > KEEP_MAX) {
		pos_free(z->cbuf);
		z->cbuf = NULL;
		z->ccap = 0;
	}
	if (!rc)
		rc = central_record(z, &e, name, nlen);
	return rc;
}

enum pos_err pos_zipw_begin(struct pos_zipw *z, const char *name, int64_t mtime_us)
{
	enum pos_err rc = usable(z);
	if (rc)
		return rc;
	if (z->open)
		return broken(z, POS_ERR_INTERNAL);
	size_t nlen;
	if (!name_ok(name, &nlen))
		return POS_ERR_INVALID_FIELD;
	pos_buf_reset(&z->cur_name);
	if ((rc = pos_buf_add(&z->cur_name, name, nlen)))
		return broken(z, rc);
	struct entry e = {.off = z->off,
			  .flags = FLAG_UTF8 | FLAG_DESCRIPTOR,
			  .method = METHOD_DEFLATE,
			  .version = VERSION_ZIP64};
	dos_time(&e, mtime_us);
	e.crc = (uint32_t)crc32_z(0L, NULL, 0);
	if (deflateReset(&z->zs) != Z_OK)
		return broken(z, POS_ERR_INTERNAL);
	if ((rc = local_header(z, &e, name, nlen, true)))
		return rc;
	z->cur = e;
	z->open = true;
	return POS_OK;
}

/* Runs deflate over the pending input with `flush`, writing what comes out. */
static enum pos_err pump(struct pos_zipw *z, int flush)
{
	for (;;) {
		z->zs.next_out = z->out;
		z->zs.avail_out = CHUNK;
		int zr = deflate(&z->zs, flush);
		if (zr == Z_STREAM_ERROR)
			return broken(z, POS_ERR_INTERNAL);
		size_t k = CHUNK - z->zs.avail_out;
		enum pos_err rc = out(z, z->out, k);
		if (rc)
			return rc;
		z->cur.csize += k;
		if (flush == Z_FINISH ? zr == Z_STREAM_END : z->zs.avail_out != 0)
			return POS_OK;
	}
}

enum pos_err pos_zipw_write(struct pos_zipw *z, const void *p, size_t n)
{
	enum pos_err rc = usable(z);
	if (rc)
		return rc;
	if (!z->open)
		return broken(z, POS_ERR_INTERNAL);
	const unsigned char *s = p;
	while (n) {
		size_t k = n < ADD_MAX ? n : ADD_MAX;
		z->cur.crc = (uint32_t)crc32_z(z->cur.crc, s, k);
		z->cur.usize += k;
		z->zs.next_in = (Bytef *)(uintptr_t)s;
		z->zs.avail_in = (uInt)k;
		if ((rc = pump(z, Z_NO_FLUSH)))
			return rc;
		s += k;
		n -= k;
	}
	return POS_OK;
}

enum pos_err pos_zipw_end(struct pos_zipw *z)
{
	enum pos_err rc = usable(z);
	if (rc)
		return rc;
	if (!z->open)
		return broken(z, POS_ERR_INTERNAL);
	z->zs.next_in = NULL;
	z->zs.avail_in = 0;
	if ((rc = pump(z, Z_FINISH)))
		return rc;
	unsigned char d[24], *p = d;
	p = le32(p, SIG_DESCRIPTOR);
	p = le32(p, z->cur.crc);
	p = le64(p, z->cur.csize);
	le64(p, z->cur.usize);
	if ((rc = out(z, d, sizeof(d))))
		return rc;
	z->open = false;
	return central_record(z, &z->cur, z->cur_name.data, z->cur_name.len);
}

enum pos_err pos_zipw_finish(struct pos_zipw *z)
{
	enum pos_err rc = usable(z);
	if (rc)
		return rc;
	if (z->open)
		return broken(z, POS_ERR_INTERNAL);
	if ((rc = spool_flush(z)))
		return rc;
	/* the directory, copied from the spool */
	uint64_t cd_off = z->off, cd_size = z->spooled;
	for (uint64_t at = 0; at < cd_size;) {
		size_t want = cd_size - at < CHUNK ? (size_t)(cd_size - at) : CHUNK;
		ssize_t k = pread(z->spool, z->out, want, (off_t)at);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return broken(z, POS_ERR_IO);
		spool_xor(z, z->out, (size_t)k, at);
		if ((rc = out(z, z->out, (size_t)k)))
			return rc;
		at += (uint64_t)k;
	}
	unsigned char h[56 + 20 + 22], *p = h;
	if (z->n >= MAX16 || cd_off >= MAX32 || cd_size >= MAX32) {
		uint64_t end64 = z->off;
		p = le32(p, SIG_END64);
		p = le64(p, 44); /* the record's size after this field */
		p = le16(p, MADE_BY_UNIX | VERSION_ZIP64);
		p = le16(p, VERSION_ZIP64);
		p = le32(p, 0); /* this disk */
		p = le32(p, 0); /* the directory's disk */
		p = le64(p, z->n);
		p = le64(p, z->n);
		p = le64(p, cd_size);
		p = le64(p, cd_off);
		p = le32(p, SIG_LOCATOR64);
		p = le32(p, 0);
		p = le64(p, end64);
		p = le32(p, 1); /* disks */
	}
	p = le32(p, SIG_END);
	p = le16(p, 0);
	p = le16(p, 0);
	p = le16(p, z->n >= MAX16 ? MAX16 : (unsigned)z->n);
	p = le16(p, z->n >= MAX16 ? MAX16 : (unsigned)z->n);
	p = le32(p, cap32(cd_size));
	p = le32(p, cap32(cd_off));
	p = le16(p, 0); /* comment */
	if ((rc = out(z, h, (size_t)(p - h))) || (rc = out_flush(z)))
		return rc;
	z->finished = true;
	return POS_OK;
}

uint64_t pos_zipw_bytes(const struct pos_zipw *z)
{
	return z->off;
}

uint64_t pos_zipw_entries(const struct pos_zipw *z)
{
	return z->n;
}

void pos_zipw_free(struct pos_zipw *z)
{
	if (!z)
		return;
	if (z->zs_ready)
		deflateEnd(&z->zs);
	if (z->spool >= 0)
		close(z->spool);
	pos_buf_free(&z->cd);
	pos_buf_free(&z->cur_name);
	pos_free(z->cbuf);
	sodium_memzero(z->key, sizeof(z->key));
	pos_free(z);
}
