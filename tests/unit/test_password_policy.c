/* Unit tests for src/auth/password_policy: the zxcvbn strength rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "auth/password_policy.h"

static enum pos_err check(const char *pw, int *score, struct pos_error *err)
{
	pos_error_clear(err);
	return pos_password_policy_check(pw, strlen(pw), score, err);
}

static void weak_passwords_are_refused(void **state)
{
	static const char *const weak[] = {
		"aaaaaaaaaa", "0123456789", "password123", "qwertyuiop",
		"abcdefghij", "Password1!", "whatever123", "recovered password",
	};
	for (size_t i = 0; i < sizeof(weak) / sizeof(weak[0]); i++) {
		struct pos_error err;
		int score = 9;
		assert_int_equal(check(weak[i], &score, &err), POS_ERR_WEAK_PASSWORD);
		assert_true(score >= 0 && score < POS_PASSWORD_MIN_SCORE);
		assert_string_equal(err.field, "password");
		assert_non_null(strstr(err.message, "too easy to guess"));
		assert_non_null(strstr(err.message, "of 4"));
	}
}

static void passphrases_pass(void **state)
{
	static const char *const ok[] = {
		"correct horse battery", "a brand new secret", "migration password 42",
		"long enough pw", "Tz8#qLm2vR", "open sesame please",
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct pos_error err;
		int score = -1;
		assert_int_equal(check(ok[i], &score, &err), POS_OK);
		assert_true(score >= POS_PASSWORD_MIN_SCORE && score <= 4);
	}
}

static void length_rules_come_first(void **state)
{
	struct pos_error err;
	int score = 9;
	/* nine characters, however random */
	assert_int_equal(check("Tz8#qLm2v", &score, &err), POS_ERR_WEAK_PASSWORD);
	assert_int_equal(score, -1);
	assert_non_null(strstr(err.message, "at least 10 characters"));
	/* ten characters of two bytes each count as ten */
	char big[POS_PASSWORD_MAX_BYTES + 2];
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(check(big, &score, &err), POS_ERR_WEAK_PASSWORD);
	assert_non_null(strstr(err.message, "at most 1024 bytes"));
}

static void hint_names_the_weakness(void **state)
{
	struct pos_error err;
	check("aaaaaaaaaaaa", NULL, &err);
	assert_non_null(strstr(err.message, "repeated"));
	check("1234567890", NULL, &err);
	assert_non_null(strstr(err.message, "sequences"));
}

static void long_inputs_are_scored_by_their_prefix(void **state)
{
	/* 1024 bytes: a repeat stays weak, a strong prefix stays strong */
	char buf[POS_PASSWORD_MAX_BYTES + 1];
	memset(buf, 'y', POS_PASSWORD_MAX_BYTES);
	buf[POS_PASSWORD_MAX_BYTES] = '\0';
	assert_true(pos_password_score(buf, strlen(buf)) < POS_PASSWORD_MIN_SCORE);
	memcpy(buf, "correct horse battery ", 22);
	struct pos_error err;
	assert_int_equal(check(buf, NULL, &err), POS_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(weak_passwords_are_refused),
		cmocka_unit_test(passphrases_pass),
		cmocka_unit_test(length_rules_come_first),
		cmocka_unit_test(hint_names_the_weakness),
		cmocka_unit_test(long_inputs_are_scored_by_their_prefix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
