/* Unit tests for src/crypto: hashing, MACs, base64url, passwords. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "crypto/crypto.h"

static int setup(void **state)
{
	return pos_crypto_init() == POS_OK ? 0 : -1;
}

static void b64_round_trip(void **state)
{
	unsigned char in[33], out[40];
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 37);
	char enc[64];
	size_t n = pos_b64_encode(enc, sizeof(enc), in, sizeof(in));
	assert_int_equal(n, pos_b64_len(sizeof(in)));
	assert_null(strpbrk(enc, "+/="));
	assert_int_equal(pos_b64_decode(out, sizeof(out), enc, n), (long)sizeof(in));
	assert_memory_equal(in, out, sizeof(in));
	assert_int_equal(pos_b64_decode(out, sizeof(out), "a*b", 3), -1);
	assert_int_equal(pos_b64_decode(out, 4, enc, n), -1); /* too small */
	assert_int_equal(pos_b64_encode(enc, 10, in, sizeof(in)), 0);
}

static void mac_detects_tampering(void **state)
{
	uint8_t key[POS_MAC_KEY_SIZE], other[POS_MAC_KEY_SIZE], mac[POS_MAC_SIZE];
	pos_random(key, sizeof(key));
	pos_random(other, sizeof(other));
	char msg[] = "user=1;exp=2";
	pos_mac(mac, msg, strlen(msg), key);
	assert_true(pos_mac_verify(mac, msg, strlen(msg), key));
	assert_false(pos_mac_verify(mac, msg, strlen(msg), other));
	msg[5] = '2';
	assert_false(pos_mac_verify(mac, msg, strlen(msg), key));
}

static void hash_is_stable(void **state)
{
	uint8_t a[POS_HASH_SIZE], b[POS_HASH_SIZE], c[POS_HASH_SIZE];
	pos_hash(a, "token", 5);
	pos_hash(b, "token", 5);
	pos_hash(c, "tokem", 5);
	assert_true(pos_ct_equal(a, b, sizeof(a)));
	assert_false(pos_ct_equal(a, c, sizeof(a)));
}

static void password_hash_verifies(void **state)
{
	char h[POS_PWHASH_SIZE], h2[POS_PWHASH_SIZE];
	const char *pw = "correct horse battery";
	/* small cost: the unit under test is the wrapper, not Argon2 */
	assert_int_equal(pos_password_hash(pw, strlen(pw), 1, 8192, h), POS_OK);
	assert_non_null(strstr(h, "$argon2id$"));
	assert_true(pos_password_verify(h, pw, strlen(pw)));
	assert_false(pos_password_verify(h, "correct horse batterz", strlen(pw)));
	assert_int_equal(pos_password_hash(pw, strlen(pw), 1, 8192, h2), POS_OK);
	assert_string_not_equal(h, h2); /* random salt per hash */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(b64_round_trip),
		cmocka_unit_test(mac_detects_tampering),
		cmocka_unit_test(hash_is_stable),
		cmocka_unit_test(password_hash_verifies),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
