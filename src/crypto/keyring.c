/*
 * keyring.c — key derivation, wrapping and sealing with libsodium, and the
 * per-user cache of unlocked data keys. See keyring.h for the hierarchy.
 */
#include "crypto/keyring.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "crypto/crypto.h"

#define KDF_CTX "posdek01" /* crypto_kdf context, 8 bytes */

void pos_userkeys_derive(const uint8_t dek[POS_DEK_SIZE], struct pos_userkeys *out)
{
	_Static_assert(POS_DEK_SIZE == crypto_kdf_KEYBYTES, "dek size");
	crypto_kdf_derive_from_key(out->enc, sizeof(out->enc), 1, KDF_CTX, dek);
	crypto_kdf_derive_from_key(out->tok, sizeof(out->tok), 2, KDF_CTX, dek);
}

enum pos_err pos_kek_from_password(const char *pw, size_t len,
				   const uint8_t salt[POS_KDF_SALT_SIZE],
				   unsigned long long ops, unsigned long long mem_kib,
				   uint8_t kek[POS_KEK_SIZE])
{
	_Static_assert(POS_KDF_SALT_SIZE == crypto_pwhash_SALTBYTES, "salt size");
	if (crypto_pwhash(kek, POS_KEK_SIZE, pw, len, salt, ops, (size_t)mem_kib * 1024,
			  crypto_pwhash_ALG_ARGON2ID13) != 0)
		return POS_ERR_NOMEM;
	return POS_OK;
}

void pos_kek_from_secret(const char *label, const void *secret, size_t len,
			 uint8_t kek[POS_KEK_SIZE])
{
	/* BLAKE2b keys are at most 64 bytes: longer secrets are hashed first. */
	uint8_t k[crypto_generichash_KEYBYTES_MAX];
	size_t klen = len;
	if (len > sizeof(k) || len < crypto_generichash_KEYBYTES_MIN) {
		crypto_generichash(k, 32, secret, len, NULL, 0);
		klen = 32;
	} else {
		memcpy(k, secret, len);
	}
	crypto_generichash(kek, POS_KEK_SIZE, (const uint8_t *)label, strlen(label), k, klen);
	sodium_memzero(k, sizeof(k));
}

void pos_key_wrap(const uint8_t kek[POS_KEK_SIZE], const char *ad,
		  const uint8_t dek[POS_DEK_SIZE], uint8_t out[POS_WRAP_SIZE])
{
	_Static_assert(POS_WRAP_SIZE == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES +
					POS_DEK_SIZE + crypto_aead_xchacha20poly1305_ietf_ABYTES,
		       "wrap size");
	randombytes_buf(out, 24);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + 24, NULL, dek, POS_DEK_SIZE,
						   (const uint8_t *)ad, strlen(ad), NULL,
						   out, kek);
}

enum pos_err pos_key_unwrap(const uint8_t kek[POS_KEK_SIZE], const char *ad,
			    const uint8_t *in, size_t len, uint8_t dek[POS_DEK_SIZE])
{
	if (!in || len != POS_WRAP_SIZE)
		return POS_ERR_DECRYPT;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(dek, NULL, NULL, in + 24, len - 24,
						       (const uint8_t *)ad, strlen(ad),
						       in, kek) != 0) {
		sodium_memzero(dek, POS_DEK_SIZE);
		return POS_ERR_DECRYPT;
	}
	return POS_OK;
}

void pos_seal(const uint8_t key[32], const void *ad, size_t adlen,
	      const void *pt, size_t len, uint8_t *out)
{
	out[0] = POS_SEAL_VERSION;
	randombytes_buf(out + 1, 24);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + 25, NULL, pt, len, ad, adlen,
						   NULL, out + 1, key);
}

enum pos_err pos_unseal(const uint8_t key[32], const void *ad, size_t adlen,
			const uint8_t *in, size_t len, uint8_t *out)
{
	if (!in || len < POS_SEAL_OVERHEAD || in[0] != POS_SEAL_VERSION)
		return POS_ERR_DECRYPT;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, in + 25, len - 25,
						       ad, adlen, in + 1, key) != 0) {
		sodium_memzero(out, len - POS_SEAL_OVERHEAD);
		return POS_ERR_DECRYPT;
	}
	return POS_OK;
}

void pos_search_token(const uint8_t tok[32], const char *term, size_t len,
		    char out[POS_TOKEN_HEX + 1])
{
	uint8_t h[16];
	crypto_generichash(h, sizeof(h), (const uint8_t *)term, len, tok, 32);
	/* 64 bits as 20 decimal digits (fixed width): digits are never
	 * stemmed or folded by the FTS5 tokenizer. */
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | h[i];
	snprintf(out, POS_TOKEN_HEX + 1, "%020llu", (unsigned long long)v);
	sodium_memzero(h, sizeof(h));
}

void pos_recovery_key_new(char out[POS_RECOVERY_KEY_MAX])
{
	uint8_t k[32];
	randombytes_buf(k, sizeof(k));
	size_t o = (size_t)snprintf(out, POS_RECOVERY_KEY_MAX, "posrk_");
	pos_b64_encode(out + o, POS_RECOVERY_KEY_MAX - o, k, sizeof(k));
	sodium_memzero(k, sizeof(k));
}

/* ---- cache ---- */

#define KR_BUCKETS 256

struct kr_secret {
	uint8_t dek[POS_DEK_SIZE];
	struct pos_userkeys keys;
};

struct kr_entry {
	char user_id[POS_UUID_SIZE];
	enum pos_keystate state;
	struct kr_secret *secret;   /* sodium_malloc'd; NULL when locked */
	bool waited;                /* an arrival was awaited since the state was loaded */
	struct kr_entry *next;
};

struct pos_keyring {
	pthread_mutex_t mu;
	pthread_cond_t arrived;     /* broadcast by every put */
	int64_t arrival_wait_us;    /* 0: never wait for a key */
	struct kr_entry *b[KR_BUCKETS];
};

static unsigned bucket(const char *id)
{
	unsigned h = 2166136261u;
	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h % KR_BUCKETS;
}

static struct kr_entry *find(struct pos_keyring *kr, const char *id, bool create)
{
	unsigned i = bucket(id);
	for (struct kr_entry *e = kr->b[i]; e; e = e->next)
		if (strcmp(e->user_id, id) == 0)
			return e;
	if (!create)
		return NULL;
	struct kr_entry *e = pos_calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	snprintf(e->user_id, sizeof(e->user_id), "%s", id);
	e->next = kr->b[i];
	kr->b[i] = e;
	return e;
}

static void secret_free(struct kr_entry *e)
{
	if (e->secret) {
		sodium_memzero(e->secret, sizeof(*e->secret));
		sodium_free(e->secret); /* also wipes and munlocks */
		e->secret = NULL;
	}
}

struct pos_keyring *pos_keyring_new(void)
{
	struct pos_keyring *kr = pos_calloc(1, sizeof(*kr));
	if (!kr)
		return NULL;
	pthread_mutex_init(&kr->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&kr->arrived, &ca);
	pthread_condattr_destroy(&ca);
	return kr;
}

void pos_keyring_free(struct pos_keyring *kr)
{
	if (!kr)
		return;
	for (unsigned i = 0; i < KR_BUCKETS; i++) {
		struct kr_entry *e = kr->b[i];
		while (e) {
			struct kr_entry *n = e->next;
			secret_free(e);
			pos_free(e);
			e = n;
		}
	}
	pthread_cond_destroy(&kr->arrived);
	pthread_mutex_destroy(&kr->mu);
	pos_free(kr);
}

enum pos_keystate pos_keyring_state(struct pos_keyring *kr, const char *user_id)
{
	pthread_mutex_lock(&kr->mu);
	struct kr_entry *e = find(kr, user_id, false);
	enum pos_keystate st = e ? e->state : POS_KEYSTATE_UNKNOWN;
	pthread_mutex_unlock(&kr->mu);
	return st;
}

void pos_keyring_set_state(struct pos_keyring *kr, const char *user_id,
			   enum pos_keystate st)
{
	pthread_mutex_lock(&kr->mu);
	struct kr_entry *e = find(kr, user_id, true);
	if (e) {
		e->state = st;
		if (st == POS_KEYSTATE_UNKNOWN)
			e->waited = false; /* the next load may await an arrival again */
	}
	pthread_mutex_unlock(&kr->mu);
}

enum pos_err pos_keyring_put(struct pos_keyring *kr, const char *user_id,
			     const uint8_t dek[POS_DEK_SIZE])
{
	enum pos_err rc = POS_OK;
	pthread_mutex_lock(&kr->mu);
	struct kr_entry *e = find(kr, user_id, true);
	if (!e) {
		rc = POS_ERR_NOMEM;
	} else {
		if (!e->secret)
			e->secret = sodium_malloc(sizeof(*e->secret));
		if (!e->secret) {
			rc = POS_ERR_NOMEM;
		} else {
			memcpy(e->secret->dek, dek, POS_DEK_SIZE);
			pos_userkeys_derive(dek, &e->secret->keys);
			if (e->state != POS_KEYSTATE_SEALING)
				e->state = POS_KEYSTATE_SEALED;
		}
	}
	pthread_cond_broadcast(&kr->arrived);
	pthread_mutex_unlock(&kr->mu);
	return rc;
}

bool pos_keyring_get(struct pos_keyring *kr, const char *user_id,
		     struct pos_userkeys *keys, uint8_t *dek)
{
	bool ok = false;
	pthread_mutex_lock(&kr->mu);
	struct kr_entry *e = find(kr, user_id, false);
	if (e && e->secret) {
		if (keys)
			*keys = e->secret->keys;
		if (dek)
			memcpy(dek, e->secret->dek, POS_DEK_SIZE);
		ok = true;
	}
	pthread_mutex_unlock(&kr->mu);
	return ok;
}

void pos_keyring_set_arrival_wait(struct pos_keyring *kr, int64_t us)
{
	pthread_mutex_lock(&kr->mu);
	kr->arrival_wait_us = us > 0 ? us : 0;
	pthread_mutex_unlock(&kr->mu);
}

bool pos_keyring_get_arriving(struct pos_keyring *kr, const char *user_id,
			      struct pos_userkeys *keys)
{
	bool ok = false;
	pthread_mutex_lock(&kr->mu);
	struct kr_entry *e = find(kr, user_id, false);
	if (e && !e->secret && !e->waited && kr->arrival_wait_us > 0) {
		e->waited = true;
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		int64_t ns = until.tv_nsec + (kr->arrival_wait_us % 1000000) * 1000;
		until.tv_sec += (time_t)(kr->arrival_wait_us / 1000000 + ns / 1000000000);
		until.tv_nsec = (long)(ns % 1000000000);
		/* entries are never freed while the keyring lives: e stays valid */
		while (!e->secret &&
		       pthread_cond_timedwait(&kr->arrived, &kr->mu, &until) == 0)
			;
	}
	if (e && e->secret) {
		if (keys)
			*keys = e->secret->keys;
		ok = true;
	}
	pthread_mutex_unlock(&kr->mu);
	return ok;
}

bool pos_keyring_evict(struct pos_keyring *kr, const char *user_id)
{
	pthread_mutex_lock(&kr->mu);
	struct kr_entry *e = find(kr, user_id, false);
	bool had = e && e->secret;
	if (e)
		secret_free(e);
	pthread_mutex_unlock(&kr->mu);
	return had;
}

size_t pos_keyring_unlocked(struct pos_keyring *kr, char (*ids)[POS_UUID_SIZE], size_t max)
{
	size_t n = 0;
	pthread_mutex_lock(&kr->mu);
	for (unsigned i = 0; i < KR_BUCKETS && n < max; i++)
		for (struct kr_entry *e = kr->b[i]; e && n < max; e = e->next)
			if (e->secret)
				snprintf(ids[n++], POS_UUID_SIZE, "%s", e->user_id);
	pthread_mutex_unlock(&kr->mu);
	return n;
}
