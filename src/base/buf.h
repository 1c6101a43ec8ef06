/*
 * buf.h — the two string types: an owning growable buffer with a size cap
 * (curl dynbuf, git strbuf) and a non-owning {ptr, len} slice (ngx_str_t).
 *
 * A `struct pos_buf` is held by value; its `data` moves when it grows, the
 * struct does not. `data` is always NUL-terminated after any successful
 * append (the NUL is not counted in `len`), but may hold NULs inside.
 * Appending past `max` fails with POS_ERR_BODY_TOO_LARGE and leaves the
 * buffer as it was. Not thread-safe: one owner at a time.
 */
#ifndef POS_BASE_BUF_H
#define POS_BASE_BUF_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

struct pos_slice {
	const char *ptr;
	size_t len;
};

#define POS_SLICE_LIT(s) ((struct pos_slice){(s), sizeof(s) - 1})

/* A slice over a NUL-terminated string (NULL gives the empty slice). */
struct pos_slice pos_slice_cstr(const char *s);
/* True when `s` equals the NUL-terminated `lit` byte for byte. */
bool pos_slice_eq(struct pos_slice s, const char *lit);

/* Value of an ASCII hex digit (either case), or -1. */
int pos_hexval(char c);

struct pos_buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max; /* the most `len` may ever reach */
};

/* The length of the longest prefix of s[0..len) of at most `max` bytes
 * that does not end inside a UTF-8 sequence (len itself when it fits). */
size_t pos_utf8_cut(const char *s, size_t len, size_t max);

/* Sets up an empty buffer that may grow to `max` bytes. Allocates nothing. */
void pos_buf_init(struct pos_buf *b, size_t max);
/* Frees the storage and leaves `b` empty (reusable). */
void pos_buf_free(struct pos_buf *b);
/* Empties the buffer, keeping its storage. */
void pos_buf_reset(struct pos_buf *b);
/* Appends n bytes. POS_ERR_BODY_TOO_LARGE past max, POS_ERR_NOMEM. */
enum pos_err pos_buf_add(struct pos_buf *b, const void *p, size_t n);
/* Appends a NUL-terminated string. */
enum pos_err pos_buf_adds(struct pos_buf *b, const char *s);
/* Appends one byte. */
enum pos_err pos_buf_addc(struct pos_buf *b, char c);
/* Appends printf-style formatted text. */
enum pos_err pos_buf_addf(struct pos_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/*
 * Hands the storage to the caller (free with pos_free) and leaves `b` empty.
 * Never NULL after a successful append; may be NULL for a buffer never
 * appended to.
 */
char *pos_buf_detach(struct pos_buf *b, size_t *len);

#endif
