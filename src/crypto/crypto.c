/*
 * crypto.c — thin, checked calls into libsodium.
 */
#include "crypto/crypto.h"

#include <sodium.h>
#include <string.h>

enum pos_err pos_crypto_init(void)
{
	return sodium_init() < 0 ? POS_ERR_INTERNAL : POS_OK;
}

enum pos_err pos_password_hash(const char *password, size_t len,
			       unsigned long long opslimit,
			       unsigned long long memlimit_kib,
			       char out[POS_PWHASH_SIZE])
{
	_Static_assert(POS_PWHASH_SIZE == crypto_pwhash_STRBYTES, "pwhash size");
	if (crypto_pwhash_str_alg(out, password, len, opslimit,
				  (size_t)memlimit_kib * 1024,
				  crypto_pwhash_ALG_ARGON2ID13) != 0)
		return POS_ERR_NOMEM;
	return POS_OK;
}

bool pos_password_verify(const char *hash, const char *password, size_t len)
{
	return crypto_pwhash_str_verify(hash, password, len) == 0;
}

void pos_random(void *p, size_t n)
{
	randombytes_buf(p, n);
}

void pos_mac(uint8_t out[POS_MAC_SIZE], const void *msg, size_t len,
	     const uint8_t key[POS_MAC_KEY_SIZE])
{
	_Static_assert(POS_MAC_SIZE == crypto_auth_BYTES, "mac size");
	_Static_assert(POS_MAC_KEY_SIZE == crypto_auth_KEYBYTES, "mac key size");
	crypto_auth(out, msg, len, key);
}

bool pos_mac_verify(const uint8_t mac[POS_MAC_SIZE], const void *msg,
		    size_t len, const uint8_t key[POS_MAC_KEY_SIZE])
{
	return crypto_auth_verify(mac, msg, len, key) == 0;
}

void pos_hash(uint8_t out[POS_HASH_SIZE], const void *data, size_t len)
{
	crypto_generichash(out, POS_HASH_SIZE, data, len, NULL, 0);
}

bool pos_ct_equal(const void *a, const void *b, size_t n)
{
	return sodium_memcmp(a, b, n) == 0;
}

void pos_wipe(void *p, size_t n)
{
	sodium_memzero(p, n);
}

size_t pos_b64_len(size_t n)
{
	return sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING) - 1;
}

size_t pos_b64_encode(char *out, size_t cap, const void *in, size_t n)
{
	if (cap < pos_b64_len(n) + 1)
		return 0;
	sodium_bin2base64(out, cap, in, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return strlen(out);
}

long pos_b64_decode(void *out, size_t cap, const char *in, size_t n)
{
	size_t got = 0;
	const char *end = NULL;
	if (sodium_base642bin(out, cap, in, n, NULL, &got, &end,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return -1;
	if (end != in + n)
		return -1;
	return (long)got;
}
