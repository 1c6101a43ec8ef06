/*
 * keyring.h — the key hierarchy of encryption at rest, and the in-memory
 * cache of unlocked data keys (docs/ENCRYPTION.md).
 *
 * Hierarchy: a random 32-byte data key (DEK) per user encrypts that user's
 * memories (XChaCha20-Poly1305, associated data = the memory id). The DEK is
 * stored only wrapped: under a key derived with Argon2id from the password
 * (random per-user salt), under a key derived from the recovery key, and
 * under a key derived from each live refresh token. Two subkeys come from
 * the DEK with BLAKE2b-KDF: `enc` (AEAD of rows and vectors) and `tok`
 * (keyed hash of search tokens, tags and thread keys).
 *
 * The keyring maps user id → {encryption state, DEK if unlocked}. DEKs live
 * in sodium_malloc'd (guarded, mlock'ed where the limit allows) memory and
 * are wiped on eviction and on free. Thread-safe (one mutex); callers get
 * copies of keys in their own buffers and wipe them with pos_wipe().
 */
#ifndef POS_CRYPTO_KEYRING_H
#define POS_CRYPTO_KEYRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/uuid.h"

#define POS_DEK_SIZE 32
#define POS_KEK_SIZE 32
#define POS_KDF_SALT_SIZE 16                   /* crypto_pwhash_SALTBYTES */
#define POS_WRAP_SIZE (24 + POS_DEK_SIZE + 16)  /* nonce | ct | tag */
#define POS_SEAL_OVERHEAD (1 + 24 + 16)         /* version | nonce | tag */
#define POS_SEAL_VERSION 1
#define POS_TOKEN_HEX 20                       /* chars of one search token */
#define POS_RECOVERY_KEY_MAX 64                /* "posrk_" + base64url(32) + NUL */

/* The subkeys of one DEK. */
struct pos_userkeys {
	uint8_t enc[32];   /* AEAD key of rows and vectors */
	uint8_t tok[32];   /* keyed hash of search tokens, tags, thread keys */
};

/* Derives both subkeys from a DEK. */
void pos_userkeys_derive(const uint8_t dek[POS_DEK_SIZE], struct pos_userkeys *out);

/*
 * KEK from a password with Argon2id (`ops`, `mem_kib`), the user's salt.
 * POS_ERR_NOMEM when the memory limit cannot be met.
 */
enum pos_err pos_kek_from_password(const char *pw, size_t len,
				   const uint8_t salt[POS_KDF_SALT_SIZE],
				   unsigned long long ops, unsigned long long mem_kib,
				   uint8_t kek[POS_KEK_SIZE]);
/*
 * KEK from a high-entropy secret (a recovery key, a refresh token):
 * BLAKE2b keyed by the secret over a fixed `label`, so it differs from the
 * unkeyed hash under which tokens are stored.
 */
void pos_kek_from_secret(const char *label, const void *secret, size_t len,
			 uint8_t kek[POS_KEK_SIZE]);

/* Wraps dek under kek into out (POS_WRAP_SIZE bytes); `ad` binds it (e.g.
 * "pw|<user id>"). */
void pos_key_wrap(const uint8_t kek[POS_KEK_SIZE], const char *ad,
		  const uint8_t dek[POS_DEK_SIZE], uint8_t out[POS_WRAP_SIZE]);
/* Unwraps; POS_ERR_DECRYPT when the kek or ad is wrong or `in` was altered. */
enum pos_err pos_key_unwrap(const uint8_t kek[POS_KEK_SIZE], const char *ad,
			    const uint8_t *in, size_t len, uint8_t dek[POS_DEK_SIZE]);

/*
 * Seals len bytes of pt into out (len + POS_SEAL_OVERHEAD bytes) with a
 * random nonce; `ad` (adlen bytes) is authenticated, not stored.
 */
void pos_seal(const uint8_t key[32], const void *ad, size_t adlen,
	      const void *pt, size_t len, uint8_t *out);
/*
 * Opens a sealed blob into out (len - POS_SEAL_OVERHEAD bytes; the caller
 * sizes it). POS_ERR_DECRYPT on any failure: wrong key, other ad, altered
 * bytes, unknown version, too short.
 */
enum pos_err pos_unseal(const uint8_t key[32], const void *ad, size_t adlen,
			const uint8_t *in, size_t len, uint8_t *out);

/*
 * The search token of one index term: HMAC (BLAKE2b keyed by `tok`) of the
 * term, as POS_TOKEN_HEX decimal digits plus NUL. Digits only, so FTS5's
 * porter stemmer and unicode61 leave it exactly as written.
 */
void pos_search_token(const uint8_t tok[32], const char *term, size_t len,
		    char out[POS_TOKEN_HEX + 1]);

/* A fresh recovery key as text ("posrk_" + base64url of 32 random bytes). */
void pos_recovery_key_new(char out[POS_RECOVERY_KEY_MAX]);

/* ---- the cache of unlocked keys ---- */

enum pos_keystate {
	POS_KEYSTATE_UNKNOWN = 0, /* not looked up since start */
	POS_KEYSTATE_PLAIN,       /* encryption is off for the user */
	POS_KEYSTATE_SEALED,      /* on: every memory is sealed */
	POS_KEYSTATE_SEALING,     /* being turned on: some memories are still plain */
};

struct pos_keyring;

/* NULL on OOM. */
struct pos_keyring *pos_keyring_new(void);
/* Wipes and frees every key. NULL is a no-op. */
void pos_keyring_free(struct pos_keyring *kr);

/* The user's cached state (UNKNOWN until set). */
enum pos_keystate pos_keyring_state(struct pos_keyring *kr, const char *user_id);
void pos_keyring_set_state(struct pos_keyring *kr, const char *user_id,
			   enum pos_keystate st);
/* Caches the user's DEK (a PLAIN or UNKNOWN state becomes SEALED).
 * POS_ERR_NOMEM on OOM. */
enum pos_err pos_keyring_put(struct pos_keyring *kr, const char *user_id,
			     const uint8_t dek[POS_DEK_SIZE]);
/* Copies the user's subkeys (and DEK if `dek` is non-NULL); false when
 * locked. The caller wipes the copies. */
bool pos_keyring_get(struct pos_keyring *kr, const char *user_id,
		     struct pos_userkeys *keys, uint8_t *dek);
/*
 * Several instances sharing unlocks (encryption_share_unlock): a key put
 * by another instance arrives over the cache's pub/sub a moment after that
 * instance answered, and a client's next request may reach this instance
 * first. With a wait set (us > 0), pos_keyring_get_arriving waits up to
 * that long for a locked user's key to arrive, once per load of the
 * user's state (a set_state to UNKNOWN re-arms it), so a user who is
 * really locked pays it once, not per request. 0 (the default): no wait.
 */
void pos_keyring_set_arrival_wait(struct pos_keyring *kr, int64_t us);
/* pos_keyring_get for the subkeys, waiting as above when locked. */
bool pos_keyring_get_arriving(struct pos_keyring *kr, const char *user_id,
			      struct pos_userkeys *keys);
/* Wipes and drops the user's DEK (the state stays). True if there was one. */
bool pos_keyring_evict(struct pos_keyring *kr, const char *user_id);
/* Up to `max` ids of users whose keys are cached; returns the count. */
size_t pos_keyring_unlocked(struct pos_keyring *kr, char (*ids)[POS_UUID_SIZE], size_t max);

#endif
