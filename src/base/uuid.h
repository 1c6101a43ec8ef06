/*
 * uuid.h — random (version 4) UUIDs in their canonical text form,
 * lower-case and hyphenated: "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".
 * Thread-safe (randomness from getrandom(2)).
 */
#ifndef POS_BASE_UUID_H
#define POS_BASE_UUID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POS_UUID_LEN 36
#define POS_UUID_SIZE (POS_UUID_LEN + 1)

/* Writes a fresh v4 UUID and its NUL into out. Returns false if the kernel
 * random source fails (never in practice). */
bool pos_uuid_new(char out[POS_UUID_SIZE]);
/*
 * Writes a fresh version 7 UUID (RFC 9562): 48 bits of Unix milliseconds,
 * then randomness. Ids made later sort later, so B-tree inserts land at the
 * right edge of the index instead of all over it.
 */
bool pos_uuid_new_v7(char out[POS_UUID_SIZE], int64_t now_us);
/*
 * True when s[0..len) is a canonical UUID (any version, hex digits of either
 * case). When `norm` is not NULL, writes the lower-cased form there.
 */
bool pos_uuid_valid(const char *s, size_t len, char norm[POS_UUID_SIZE]);

/* Canonical text (validated by the caller) to 16 bytes, and back. */
void pos_uuid_to_bytes(const char *s, unsigned char out[16]);
void pos_uuid_from_bytes(const unsigned char in[16], char out[POS_UUID_SIZE]);

/* Fills n bytes from the kernel's random source. False on failure. */
bool pos_random_bytes(void *p, size_t n);

#endif
