/* Unit tests for src/crypto/keyring.c: the key hierarchy of encryption at
 * rest (wrap/unwrap, wrong password, wrong recovery key, tampering) and the
 * cache of unlocked keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ctype.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "base/thread.h"
#include "crypto/keyring.h"

static int setup(void **state)
{
	(void)state;
	return pos_crypto_init() == POS_OK ? 0 : -1;
}

static const char *const USER = "0190a4e2-0000-7000-8000-000000000001";

/* small Argon2id cost: the unit under test is the hierarchy, not Argon2 */
static void kek(const char *pw, const uint8_t salt[POS_KDF_SALT_SIZE], uint8_t out[POS_KEK_SIZE])
{
	assert_int_equal(pos_kek_from_password(pw, strlen(pw), salt, 1, 8192, out), POS_OK);
}

static void password_wrap_round_trip(void **state)
{
	(void)state;
	uint8_t dek[POS_DEK_SIZE], got[POS_DEK_SIZE], salt[POS_KDF_SALT_SIZE];
	uint8_t k[POS_KEK_SIZE], k2[POS_KEK_SIZE], wrap[POS_WRAP_SIZE];
	pos_random(dek, sizeof(dek));
	pos_random(salt, sizeof(salt));
	kek("correct horse battery", salt, k);
	pos_key_wrap(k, "pw|u1", dek, wrap);
	assert_int_equal(pos_key_unwrap(k, "pw|u1", wrap, sizeof(wrap), got), POS_OK);
	assert_memory_equal(dek, got, sizeof(dek));
	/* the same password derives the same KEK; another salt does not */
	kek("correct horse battery", salt, k2);
	assert_memory_equal(k, k2, sizeof(k));
	salt[0] ^= 1;
	kek("correct horse battery", salt, k2);
	assert_memory_not_equal(k, k2, sizeof(k));
	/* wrong password → DECRYPT, output wiped */
	salt[0] ^= 1;
	kek("correct horse batterz", salt, k2);
	memset(got, 0xAA, sizeof(got));
	assert_int_equal(pos_key_unwrap(k2, "pw|u1", wrap, sizeof(wrap), got), POS_ERR_DECRYPT);
	for (size_t i = 0; i < sizeof(got); i++)
		assert_int_equal(got[i], 0);
	/* another user's associated data → DECRYPT (wraps are not movable) */
	assert_int_equal(pos_key_unwrap(k, "pw|u2", wrap, sizeof(wrap), got), POS_ERR_DECRYPT);
	/* every byte of the wrap is authenticated */
	for (size_t i = 0; i < sizeof(wrap); i++) {
		wrap[i] ^= 0x80;
		assert_int_equal(pos_key_unwrap(k, "pw|u1", wrap, sizeof(wrap), got),
				 POS_ERR_DECRYPT);
		wrap[i] ^= 0x80;
	}
	assert_int_equal(pos_key_unwrap(k, "pw|u1", wrap, sizeof(wrap) - 1, got), POS_ERR_DECRYPT);
	assert_int_equal(pos_key_unwrap(k, "pw|u1", NULL, 0, got), POS_ERR_DECRYPT);
}

static void recovery_key_wrap(void **state)
{
	(void)state;
	char rk[POS_RECOVERY_KEY_MAX], rk2[POS_RECOVERY_KEY_MAX];
	pos_recovery_key_new(rk);
	pos_recovery_key_new(rk2);
	assert_true(strncmp(rk, "posrk_", 6) == 0);
	assert_int_equal(strlen(rk), 6 + 43);
	assert_string_not_equal(rk, rk2);
	uint8_t dek[POS_DEK_SIZE], got[POS_DEK_SIZE], k[POS_KEK_SIZE], k2[POS_KEK_SIZE];
	uint8_t wrap[POS_WRAP_SIZE];
	pos_random(dek, sizeof(dek));
	pos_kek_from_secret("recovery", rk, strlen(rk), k);
	pos_key_wrap(k, "rk|u1", dek, wrap);
	pos_kek_from_secret("recovery", rk, strlen(rk), k2);
	assert_int_equal(pos_key_unwrap(k2, "rk|u1", wrap, sizeof(wrap), got), POS_OK);
	assert_memory_equal(dek, got, sizeof(dek));
	/* wrong recovery key, or the right one under another label */
	pos_kek_from_secret("recovery", rk2, strlen(rk2), k2);
	assert_int_equal(pos_key_unwrap(k2, "rk|u1", wrap, sizeof(wrap), got), POS_ERR_DECRYPT);
	pos_kek_from_secret("refresh", rk, strlen(rk), k2);
	assert_int_equal(pos_key_unwrap(k2, "rk|u1", wrap, sizeof(wrap), got), POS_ERR_DECRYPT);
	/* the KEK of a token differs from its stored (unkeyed) hash */
	uint8_t h[POS_HASH_SIZE];
	pos_hash(h, rk, strlen(rk));
	assert_memory_not_equal(h, k, sizeof(h));
}

static void seal_round_trip_and_tamper(void **state)
{
	(void)state;
	uint8_t dek[POS_DEK_SIZE];
	struct pos_userkeys uk, uk2;
	pos_random(dek, sizeof(dek));
	pos_userkeys_derive(dek, &uk);
	pos_userkeys_derive(dek, &uk2);
	assert_memory_equal(&uk, &uk2, sizeof(uk));
	assert_memory_not_equal(uk.enc, uk.tok, sizeof(uk.enc));
	const char pt[] = "the spare key is under the flowerpot";
	uint8_t ct[sizeof(pt) + POS_SEAL_OVERHEAD], ct2[sizeof(ct)], out[sizeof(pt)];
	pos_seal(uk.enc, "m|id1", 5, pt, sizeof(pt), ct);
	pos_seal(uk.enc, "m|id1", 5, pt, sizeof(pt), ct2);
	assert_memory_not_equal(ct, ct2, sizeof(ct)); /* random nonces */
	assert_null(memmem(ct, sizeof(ct), "flowerpot", 9));
	assert_int_equal(pos_unseal(uk.enc, "m|id1", 5, ct, sizeof(ct), out), POS_OK);
	assert_memory_equal(out, pt, sizeof(pt));
	/* another row's id: a ciphertext cannot be moved between rows */
	assert_int_equal(pos_unseal(uk.enc, "m|id2", 5, ct, sizeof(ct), out), POS_ERR_DECRYPT);
	/* another key */
	uint8_t other[POS_DEK_SIZE];
	struct pos_userkeys ok;
	pos_random(other, sizeof(other));
	pos_userkeys_derive(other, &ok);
	assert_int_equal(pos_unseal(ok.enc, "m|id1", 5, ct, sizeof(ct), out), POS_ERR_DECRYPT);
	/* any flipped bit: version, nonce, ciphertext, tag */
	for (size_t i = 0; i < sizeof(ct); i++) {
		ct[i] ^= 0x01;
		assert_int_equal(pos_unseal(uk.enc, "m|id1", 5, ct, sizeof(ct), out),
				 POS_ERR_DECRYPT);
		ct[i] ^= 0x01;
	}
	/* truncated, or shorter than the overhead */
	assert_int_equal(pos_unseal(uk.enc, "m|id1", 5, ct, sizeof(ct) - 1, out), POS_ERR_DECRYPT);
	assert_int_equal(pos_unseal(uk.enc, "m|id1", 5, ct, POS_SEAL_OVERHEAD - 1, out),
			 POS_ERR_DECRYPT);
	/* empty plaintext works */
	uint8_t e[POS_SEAL_OVERHEAD];
	pos_seal(uk.enc, "x", 1, "", 0, e);
	assert_int_equal(pos_unseal(uk.enc, "x", 1, e, sizeof(e), out), POS_OK);
}

static void search_tokens(void **state)
{
	(void)state;
	uint8_t a[32], b[32];
	pos_random(a, sizeof(a));
	pos_random(b, sizeof(b));
	char t1[POS_TOKEN_HEX + 1], t2[POS_TOKEN_HEX + 1], t3[POS_TOKEN_HEX + 1];
	pos_search_token(a, "run", 3, t1);
	pos_search_token(a, "run", 3, t2);
	pos_search_token(b, "run", 3, t3);
	assert_string_equal(t1, t2);      /* equality survives: that is the point */
	assert_string_not_equal(t1, t3);  /* but only under one user's key */
	assert_int_equal(strlen(t1), POS_TOKEN_HEX);
	for (size_t i = 0; i < POS_TOKEN_HEX; i++)
		assert_true(isdigit((unsigned char)t1[i])); /* never stemmed */
	pos_search_token(a, "runs", 4, t2);
	assert_string_not_equal(t1, t2);
}

static void keyring_cache(void **state)
{
	(void)state;
	struct pos_keyring *kr = pos_keyring_new();
	assert_non_null(kr);
	assert_int_equal(pos_keyring_state(kr, USER), POS_KEYSTATE_UNKNOWN);
	pos_keyring_set_state(kr, USER, POS_KEYSTATE_PLAIN);
	assert_int_equal(pos_keyring_state(kr, USER), POS_KEYSTATE_PLAIN);
	struct pos_userkeys k;
	uint8_t dek[POS_DEK_SIZE], got[POS_DEK_SIZE];
	assert_false(pos_keyring_get(kr, USER, &k, NULL));
	pos_random(dek, sizeof(dek));
	assert_int_equal(pos_keyring_put(kr, USER, dek), POS_OK);
	assert_int_equal(pos_keyring_state(kr, USER), POS_KEYSTATE_SEALED);
	assert_true(pos_keyring_get(kr, USER, &k, got));
	assert_memory_equal(dek, got, sizeof(dek));
	struct pos_userkeys want;
	pos_userkeys_derive(dek, &want);
	assert_memory_equal(&want, &k, sizeof(k));
	char ids[4][POS_UUID_SIZE];
	assert_int_equal(pos_keyring_unlocked(kr, ids, 4), 1);
	assert_string_equal(ids[0], USER);
	/* a sealing user stays sealing when its key is cached again */
	pos_keyring_set_state(kr, USER, POS_KEYSTATE_SEALING);
	assert_int_equal(pos_keyring_put(kr, USER, dek), POS_OK);
	assert_int_equal(pos_keyring_state(kr, USER), POS_KEYSTATE_SEALING);
	/* eviction drops the key, keeps the state */
	assert_true(pos_keyring_evict(kr, USER));
	assert_false(pos_keyring_evict(kr, USER));
	assert_false(pos_keyring_get(kr, USER, &k, got));
	assert_int_equal(pos_keyring_unlocked(kr, ids, 4), 0);
	assert_int_equal(pos_keyring_state(kr, USER), POS_KEYSTATE_SEALING);
	assert_false(pos_keyring_get(kr, "someone else", NULL, NULL));
	pos_keyring_free(kr);
	pos_keyring_free(NULL);
}

struct arrival {
	struct pos_keyring *kr;
	uint8_t dek[POS_DEK_SIZE];
};

static void *put_later(void *arg)
{
	struct arrival *x = arg;
	struct timespec ts = {0, 20 * 1000 * 1000};
	nanosleep(&ts, NULL);
	(void)pos_keyring_put(x->kr, USER, x->dek);
	return NULL;
}

/* A key relayed by another instance arrives after the request that needs
 * it: get_arriving waits for it, once per load of the state. */
static void keyring_arrival_wait(void **state)
{
	(void)state;
	struct arrival x = {.kr = pos_keyring_new()};
	assert_non_null(x.kr);
	pos_random(x.dek, sizeof(x.dek));
	struct pos_userkeys k, want;
	pos_userkeys_derive(x.dek, &want);
	pos_keyring_set_state(x.kr, USER, POS_KEYSTATE_SEALING);
	/* no wait set: locked at once */
	assert_false(pos_keyring_get_arriving(x.kr, USER, &k));
	/* a generous wait (a hang detector, not a timing claim): the key put
	 * by another thread meanwhile is returned */
	pos_keyring_set_arrival_wait(x.kr, 60 * INT64_C(1000000));
	struct pos_thread *t = NULL;
	assert_int_equal(pos_thread_start(put_later, &x, &t), POS_OK);
	assert_true(pos_keyring_get_arriving(x.kr, USER, &k));
	assert_memory_equal(&want, &k, sizeof(k));
	pos_thread_join(t);
	/* once waited for, a locked user is answered at once (no put comes:
	 * a second wait would hang the test for a minute) */
	assert_true(pos_keyring_evict(x.kr, USER));
	assert_false(pos_keyring_get_arriving(x.kr, USER, &k));
	/* a fresh load of the state re-arms the wait */
	pos_keyring_set_state(x.kr, USER, POS_KEYSTATE_UNKNOWN);
	pos_keyring_set_state(x.kr, USER, POS_KEYSTATE_SEALED);
	pos_keyring_set_arrival_wait(x.kr, 1000);
	assert_false(pos_keyring_get_arriving(x.kr, USER, &k)); /* waited, none came */
	assert_int_equal(pos_keyring_put(x.kr, USER, x.dek), POS_OK);
	assert_true(pos_keyring_get_arriving(x.kr, USER, &k));
	pos_keyring_free(x.kr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(password_wrap_round_trip),
		cmocka_unit_test(recovery_key_wrap),
		cmocka_unit_test(seal_round_trip_and_tamper),
		cmocka_unit_test(search_tokens),
		cmocka_unit_test(keyring_cache),
		cmocka_unit_test(keyring_arrival_wait),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
