/*
 * multipart.h — finding the file in a multipart/form-data upload
 * (RFC 7578) without holding it in memory: the body is read through a
 * pread-like callback (a spooled request body), and the answer is the
 * range of the first part that carries a filename, with that name.
 *
 * Limits: a boundary of 1..70 characters, part headers of at most
 * POS_MULTIPART_HEADERS_MAX bytes, at most POS_MULTIPART_PARTS parts
 * looked at. Anything else is POS_ERR_INVALID_REQUEST.
 *
 * Thread-safety: no shared state.
 */
#ifndef POS_FILES_MULTIPART_H
#define POS_FILES_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define POS_MULTIPART_HEADERS_MAX 8192
#define POS_MULTIPART_PARTS 32

/* Reads up to n bytes at off; returns the count (0 at the end) or -1. */
typedef long (*pos_multipart_read_fn)(void *ctx, uint64_t off, void *buf, size_t n);

/*
 * The boundary of a Content-Type header value "multipart/form-data;
 * boundary=..." into `out` (NUL-terminated); false when the type is not
 * multipart/form-data or the boundary is missing or malformed.
 */
bool pos_multipart_boundary(const char *content_type, char out[72]);

/*
 * In the `len`-byte body, the first part with a filename: its bytes are
 * [*off, *off + *n) and its name goes to `name` (NUL-terminated, cut to
 * `name_cap` - 1 bytes). POS_ERR_INVALID_REQUEST (with `err`) when the
 * body is malformed or has no file part.
 */
enum pos_err pos_multipart_file(pos_multipart_read_fn rd, void *ctx, uint64_t len,
				const char *boundary, uint64_t *off, uint64_t *n, char *name,
				size_t name_cap, struct pos_error *err);

#endif
