/*
 * crypto.h — the libsodium wrappers PersonalOS uses: password hashing,
 * random secrets, keyed MACs, one-way token hashes and base64url.
 *
 * pos_crypto_init() must succeed once before any other call (it is
 * idempotent and thread-safe). Everything else is thread-safe. Secrets pass
 * through caller buffers; functions that compare secrets do so in constant
 * time.
 */
#ifndef POS_CRYPTO_CRYPTO_H
#define POS_CRYPTO_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define POS_MAC_KEY_SIZE 32
#define POS_MAC_SIZE 32
#define POS_HASH_SIZE 32
#define POS_PWHASH_SIZE 128 /* crypto_pwhash_STRBYTES */

/* Initialises libsodium. POS_ERR_INTERNAL if it cannot. */
enum pos_err pos_crypto_init(void);

/*
 * Hashes `password` with Argon2id (random salt, parameters encoded in the
 * result) into `out` (POS_PWHASH_SIZE bytes). memlimit in KiB.
 * POS_ERR_NOMEM if the memory limit cannot be met.
 */
enum pos_err pos_password_hash(const char *password, size_t len,
			       unsigned long long opslimit,
			       unsigned long long memlimit_kib,
			       char out[POS_PWHASH_SIZE]);
/* True when `password` matches the encoded hash. Constant-time compare. */
bool pos_password_verify(const char *hash, const char *password, size_t len);

/* Fills n bytes with cryptographically secure randomness. */
void pos_random(void *p, size_t n);

/* MAC (HMAC-SHA-512-256) of msg under key. */
void pos_mac(uint8_t out[POS_MAC_SIZE], const void *msg, size_t len,
	     const uint8_t key[POS_MAC_KEY_SIZE]);
/* True when mac is the MAC of msg under key (constant time). */
bool pos_mac_verify(const uint8_t mac[POS_MAC_SIZE], const void *msg,
		    size_t len, const uint8_t key[POS_MAC_KEY_SIZE]);

/* Unkeyed BLAKE2b-256 of data: how token secrets are stored. */
void pos_hash(uint8_t out[POS_HASH_SIZE], const void *data, size_t len);

/* Constant-time equality of two n-byte buffers. */
bool pos_ct_equal(const void *a, const void *b, size_t n);

/* Wipes n bytes in a way the compiler cannot drop. */
void pos_wipe(void *p, size_t n);

/*
 * base64url without padding. Encode writes at most pos_b64_len(n)+1 bytes
 * (NUL included) and returns the length. Decode returns the decoded length
 * or -1 on bad input or if it would exceed `cap`.
 */
size_t pos_b64_len(size_t n);
size_t pos_b64_encode(char *out, size_t cap, const void *in, size_t n);
long pos_b64_decode(void *out, size_t cap, const char *in, size_t n);

#endif
