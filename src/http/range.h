/*
 * range.h — the one `Range: bytes=` form downloads need (RFC 9110 §14):
 * a single range "bytes=A-B", "bytes=A-" or "bytes=-N" over a file of
 * known size. Several ranges, other units or a malformed header are
 * ignored (the whole file is sent, as the RFC allows). Pure function,
 * thread-safe.
 */
#ifndef POS_HTTP_RANGE_H
#define POS_HTTP_RANGE_H

#include <stdint.h>

/*
 * For `header` (may be NULL) over `size` bytes: 200 with off 0 and len
 * size (no usable range); 206 with the satisfiable part in off and len; 416
 * when the range starts at or past the end (or asks for the last 0 bytes).
 */
int pos_range_parse(const char *header, uint64_t size, uint64_t *off, uint64_t *len);

#endif
