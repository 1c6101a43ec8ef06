/*
 * seal.h — exports sealed under a passphrase (docs/EXPORT.md, "Sealed
 * exports"): libsodium's secretstream (XChaCha20-Poly1305) under a key
 * derived from the passphrase with Argon2id, written as a stream so the
 * plaintext never reaches the disk on export.
 *
 * File: "POSSEAL1", salt (16 bytes), Argon2id opslimit and memlimit (KiB),
 * both 32-bit big-endian, the secretstream header (24 bytes), then chunks:
 * a 32-bit big-endian length and that many bytes of ciphertext (at most
 * POS_SEAL_CHUNK of plaintext each); the last chunk carries the FINAL tag,
 * so a truncated file is detected.
 *
 * Errors: POS_ERR_IO, POS_ERR_NOMEM; opening: POS_ERR_DECRYPT for a wrong
 * passphrase or a damaged or truncated file, POS_ERR_INVALID_FIELD for a
 * file that is not sealed or asks for more than POS_SEAL_MEMLIMIT_MAX.
 *
 * Thread-safety: a sealing stream has one owner at a time.
 */
#ifndef POS_EXPORT_SEAL_H
#define POS_EXPORT_SEAL_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

#define POS_SEAL_CHUNK 65536
#define POS_SEAL_PASSPHRASE_MIN 8
#define POS_SEAL_PASSPHRASE_MAX 1024
#define POS_SEAL_MEMLIMIT_MAX (1024u << 20) /* refused above, on open */

struct pos_seal;

/* Starts a sealed file on `fd` (borrowed): derives the key (Argon2id,
 * libsodium's interactive limits) and writes the header. */
enum pos_err pos_seal_begin(int fd, const char *passphrase, struct pos_seal **out);
/* A pos_export_sink write function: `ctx` is the struct pos_seal. */
enum pos_err pos_seal_write(void *ctx, const void *p, size_t n);
/* Writes the last chunk. */
enum pos_err pos_seal_end(struct pos_seal *s);
/* Wipes the key and frees; NULL is fine. */
void pos_seal_free(struct pos_seal *s);

/* True when the file at `fd` starts with the sealed magic (pread). */
bool pos_seal_is_sealed(int fd);

/* Decrypts the sealed file `in` into `out` (both borrowed, out at its
 * current position). On failure `out` may hold a part: the caller drops
 * it. */
enum pos_err pos_seal_open(int in, int out, const char *passphrase, struct pos_error *err);

#endif
