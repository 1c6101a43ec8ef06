/* Unit tests for src/http/ratelimit.c and src/http/cors.c: bucket refill
 * and Retry-After, the lockout's doubling and cap, forgetting, address
 * parsing, and the CORS allow-list. Time is passed in, so no sleeping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "base/config.h"
#include "http/cors.h"
#include "http/ratelimit.h"

#define S 1000000LL /* µs per second */

static void config(struct pos_config *c)
{
	pos_config_defaults(c);
	c->rl_ip_rate = 2;
	c->rl_ip_burst = 3;
	c->rl_user_rate = 1;
	c->rl_user_burst = 1;
	c->login_fail_account = 3;
	c->login_fail_ip = 5;
	c->login_lockout_base_s = 10;
	c->login_lockout_max_s = 35;
	c->rl_slots = 64;
}

static void bucket_burst_refill_retry_after(void **state)
{
	struct pos_config c;
	config(&c);
	struct pos_ratelimit rl;
	assert_int_equal(pos_rl_init(&rl, &c), POS_OK);
	struct pos_rl_client a = {{192, 0, 2, 1}, 4}, b = {{192, 0, 2, 2}, 4};
	int64_t t = 100 * S;
	for (int i = 0; i < 3; i++)
		assert_int_equal(pos_rl_check_client(&rl, POS_RL_IP, &a, t), 0);
	/* Empty: 2 per second refill, so the next token is 0.5 s away -> 1 s. */
	assert_int_equal(pos_rl_check_client(&rl, POS_RL_IP, &a, t), 1);
	/* Another address has its own bucket. */
	assert_int_equal(pos_rl_check_client(&rl, POS_RL_IP, &b, t), 0);
	/* Half a second later one token is back, and only one. */
	assert_int_equal(pos_rl_check_client(&rl, POS_RL_IP, &a, t + S / 2), 0);
	assert_int_not_equal(pos_rl_check_client(&rl, POS_RL_IP, &a, t + S / 2), 0);
	/* Never more than the burst after a long pause. */
	t += 1000 * S;
	for (int i = 0; i < 3; i++)
		assert_int_equal(pos_rl_check_client(&rl, POS_RL_IP, &a, t), 0);
	assert_int_not_equal(pos_rl_check_client(&rl, POS_RL_IP, &a, t), 0);
	/* The user limit is separate from the address limit. */
	assert_int_equal(pos_rl_check(&rl, POS_RL_USER, "u1", 2, t), 0);
	assert_int_equal(pos_rl_check(&rl, POS_RL_USER, "u1", 2, t), 1);
	assert_int_equal(pos_rl_check(&rl, POS_RL_USER, "u2", 2, t), 0);
	/* An unknown address is never limited. */
	struct pos_rl_client none = {{0}, 0};
	for (int i = 0; i < 10; i++)
		assert_int_equal(pos_rl_check_client(&rl, POS_RL_IP, &none, t), 0);
	pos_rl_fini(&rl);
}

static void lockout_doubles_caps_and_resets(void **state)
{
	struct pos_config c;
	config(&c);
	struct pos_ratelimit rl;
	assert_int_equal(pos_rl_init(&rl, &c), POS_OK);
	struct pos_rl_client ip = {{198, 51, 100, 7}, 4};
	int64_t t = 10 * S;
	const char *acct = "a@example.com";
	for (int i = 0; i < 2; i++) {
		pos_rl_login_result(&rl, &ip, acct, false, t);
		assert_int_equal(pos_rl_login_locked(&rl, &ip, acct, t), 0);
	}
	pos_rl_login_result(&rl, &ip, acct, false, t); /* third: 10 s */
	assert_int_equal(pos_rl_login_locked(&rl, &ip, acct, t), 10);
	assert_int_equal(pos_rl_login_locked(&rl, &ip, "b@example.com", t), 0);
	t += 10 * S;
	assert_int_equal(pos_rl_login_locked(&rl, &ip, acct, t), 0);
	pos_rl_login_result(&rl, &ip, acct, false, t); /* fourth: 20 s */
	assert_int_equal(pos_rl_login_locked(&rl, &ip, acct, t), 20);
	t += 20 * S;
	pos_rl_login_result(&rl, &ip, acct, false, t); /* fifth: 40 s, capped at 35;
							* and the address's 5th */
	assert_int_equal(pos_rl_login_locked(&rl, &ip, acct, t), 35);
	assert_int_equal(pos_rl_login_locked(&rl, &ip, "b@example.com", t), 10);
	struct pos_rl_client other = {{198, 51, 100, 8}, 4};
	assert_int_equal(pos_rl_login_locked(&rl, &other, "b@example.com", t), 0);
	/* Success clears the account (not the address). */
	t += 35 * S;
	pos_rl_login_result(&rl, &other, acct, true, t);
	pos_rl_login_result(&rl, &other, acct, false, t);
	assert_int_equal(pos_rl_login_locked(&rl, &other, acct, t), 0);
	/* Failures are forgotten after a quiet lockout_max. */
	t += 36 * S;
	pos_rl_login_result(&rl, &other, acct, false, t);
	pos_rl_login_result(&rl, &other, acct, false, t);
	assert_int_equal(pos_rl_login_locked(&rl, &other, acct, t), 0);
	pos_rl_fini(&rl);

	/* Disabled: nothing is ever refused. */
	c.rate_limit = false;
	assert_int_equal(pos_rl_init(&rl, &c), POS_OK);
	for (int i = 0; i < 20; i++) {
		pos_rl_login_result(&rl, &ip, acct, false, t);
		assert_int_equal(pos_rl_check_client(&rl, POS_RL_AUTH, &ip, t), 0);
	}
	assert_int_equal(pos_rl_login_locked(&rl, &ip, acct, t), 0);
	pos_rl_fini(&rl);
}

static void table_full_of_keys_still_works(void **state)
{
	struct pos_config c;
	config(&c);
	struct pos_ratelimit rl;
	assert_int_equal(pos_rl_init(&rl, &c), POS_OK);
	/* Far more keys than slots: evictions, no failure, a fresh key is
	 * always allowed. */
	struct pos_rl_client ip = {{198, 51, 100, 7}, 4};
	for (int i = 0; i < 3; i++)
		pos_rl_login_result(&rl, &ip, "a@example.com", false, 5 * S);
	assert_int_equal(pos_rl_login_locked(&rl, &ip, "a@example.com", 5 * S), 10);
	for (unsigned i = 0; i < 10000; i++) {
		struct pos_rl_client k = {{10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i}, 4};
		assert_int_equal(pos_rl_check_client(&rl, POS_RL_IP, &k, 5 * S + i), 0);
	}
	/* The flood of plain buckets did not evict the lockout. */
	assert_int_equal(pos_rl_login_locked(&rl, &ip, "a@example.com", 6 * S), 9);
	pos_rl_fini(&rl);
}

static void addresses(void **state)
{
	struct pos_rl_client c;
	assert_true(pos_rl_client_from_forwarded(&c, "203.0.113.9, 198.51.100.2"));
	assert_int_equal(c.len, 4);
	assert_int_equal(c.addr[3], 2);
	assert_true(pos_rl_client_from_forwarded(&c, " 2001:db8:1:2:3:4:5:6 "));
	assert_int_equal(c.len, 8); /* the /64 */
	assert_int_equal(c.addr[7], 2);
	assert_true(pos_rl_client_from_forwarded(&c, "::ffff:192.0.2.4"));
	assert_int_equal(c.len, 4);
	assert_int_equal(c.addr[3], 4);
	struct pos_rl_client keep = {{1, 2, 3, 4}, 4};
	const char *bad[] = {"", ",", "1.2.3.4,", "unknown", "1.2.3.4.5", "999.1.1.1",
			     "1.2.3.4, x", NULL};
	for (int i = 0; bad[i]; i++) {
		c = keep;
		assert_false(pos_rl_client_from_forwarded(&c, bad[i]));
		assert_memory_equal(&c, &keep, sizeof(c));
	}
	assert_false(pos_rl_client_from_forwarded(&c, NULL));
	struct sockaddr_in6 s6;
	memset(&s6, 0, sizeof(s6));
	s6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "::ffff:10.1.2.3", &s6.sin6_addr);
	pos_rl_client_from_sockaddr(&c, &s6);
	assert_int_equal(c.len, 4);
	assert_int_equal(c.addr[0], 10);
	struct sockaddr_in s4;
	memset(&s4, 0, sizeof(s4));
	s4.sin_family = AF_INET;
	inet_pton(AF_INET, "127.0.0.1", &s4.sin_addr);
	pos_rl_client_from_sockaddr(&c, &s4);
	assert_int_equal(c.len, 4);
	assert_int_equal(c.addr[0], 127);
}

static void cors_list(void **state)
{
	static struct pos_cors c;
	struct pos_error e;
	assert_int_equal(pos_cors_parse(&c, "", &e), POS_OK);
	assert_false(pos_cors_enabled(&c));
	assert_null(pos_cors_allow(&c, "https://a.example"));
	assert_int_equal(pos_cors_parse(&c, " https://App.example.com ,http://localhost:5173,"
					    "http://[::1]:8080", &e), POS_OK);
	assert_true(pos_cors_enabled(&c));
	assert_string_equal(pos_cors_allow(&c, "https://app.example.com"), "https://App.example.com");
	assert_non_null(pos_cors_allow(&c, "http://localhost:5173"));
	assert_non_null(pos_cors_allow(&c, "http://[::1]:8080"));
	assert_null(pos_cors_allow(&c, "http://localhost:5174"));
	assert_null(pos_cors_allow(&c, "https://app.example.com.evil.com"));
	assert_null(pos_cors_allow(&c, "null"));
	assert_null(pos_cors_allow(&c, NULL));
	const char *bad[] = {"app.example.com", "https://a.example/", "ftp://a.example",
			     "https://a.example/path", "https://", "https://a b", "https://a:x",
			     "https://a:123456", NULL};
	for (int i = 0; bad[i]; i++) {
		assert_int_equal(pos_cors_parse(&c, bad[i], &e), POS_ERR_USAGE);
		assert_string_equal(e.field, "cors_origins");
	}
	assert_int_equal(pos_cors_parse(&c, "*", &e), POS_OK);
	assert_string_equal(pos_cors_allow(&c, "https://anything.example"), "*");
}

/* Accounts: the attempt is reserved before the work, so however many
 * checks run at once, at most the limit are evaluated; success gives the
 * reservation back. */
static void reserve_counts_before_the_work(void **state)
{
	struct pos_config c;
	config(&c);
	struct pos_ratelimit rl;
	assert_int_equal(pos_rl_init(&rl, &c), POS_OK);
	struct pos_rl_client ip = {{203, 0, 113, 9}, 4};
	struct pos_rl_reservation res;
	int64_t t = 50 * S;
	const char *acct = "p@example.com";
	/* 25 reservations "in flight" (none settled yet): 3 pass, the rest wait */
	int passed = 0;
	for (int i = 0; i < 25; i++)
		if (pos_rl_login_reserve(&rl, &ip, acct, t, &res) == 0)
			passed++;
	assert_int_equal(passed, 3);
	assert_int_equal(pos_rl_login_locked(&rl, &ip, acct, t), 10);
	/* a refused reservation counted nothing against the address: it has
	 * 3 of its 5, so another account may still try twice */
	assert_int_equal(pos_rl_login_reserve(&rl, &ip, "q@example.com", t, &res), 0);
	assert_int_equal(pos_rl_login_reserve(&rl, &ip, "r@example.com", t, &res), 0);
	assert_int_not_equal(pos_rl_login_reserve(&rl, &ip, "s@example.com", t, &res), 0);
	/* success: the account is cleared, the address gets its failure back */
	struct pos_rl_client ip2 = {{203, 0, 113, 10}, 4};
	const char *b = "ok@example.com";
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pos_rl_login_reserve(&rl, &ip2, b, t, &res), 0);
		pos_rl_login_release(&rl, &ip2, b, &res, false);
	}
	assert_int_equal(pos_rl_login_reserve(&rl, &ip2, b, t, &res), 0);
	pos_rl_login_release(&rl, &ip2, b, &res, true);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pos_rl_login_reserve(&rl, &ip2, b, t, &res), 0);
	assert_int_equal(pos_rl_login_locked(&rl, &ip2, b, t), 0);
	assert_int_equal(pos_rl_login_reserve(&rl, &ip2, b, t, &res), 0); /* third: locks */
	assert_int_not_equal(pos_rl_login_locked(&rl, &ip2, b, t), 0);
	/* an address past its limit whose lockout ran out: a correct login
	 * from it must not lock it again for everyone behind it */
	struct pos_rl_client ip3 = {{203, 0, 113, 11}, 4};
	for (int i = 0; i < 5; i++) {
		char e[32];
		snprintf(e, sizeof(e), "x%d@example.com", i);
		assert_int_equal(pos_rl_login_reserve(&rl, &ip3, e, t, &res), 0);
		pos_rl_login_release(&rl, &ip3, e, &res, false);
	}
	assert_int_not_equal(pos_rl_login_locked(&rl, &ip3, NULL, t), 0);
	t += 11 * S; /* the first lockout (10 s) is over */
	assert_int_equal(pos_rl_login_locked(&rl, &ip3, NULL, t), 0);
	assert_int_equal(pos_rl_login_reserve(&rl, &ip3, "good@example.com", t, &res), 0);
	pos_rl_login_release(&rl, &ip3, "good@example.com", &res, true);
	assert_int_equal(pos_rl_login_locked(&rl, &ip3, NULL, t), 0);
	/* ... while a wrong guess still locks it again, for longer */
	assert_int_equal(pos_rl_login_reserve(&rl, &ip3, "bad@example.com", t, &res), 0);
	pos_rl_login_release(&rl, &ip3, "bad@example.com", &res, false);
	assert_int_equal(pos_rl_login_locked(&rl, &ip3, NULL, t), 20);
	pos_rl_fini(&rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bucket_burst_refill_retry_after),
		cmocka_unit_test(lockout_doubles_caps_and_resets),
		cmocka_unit_test(reserve_counts_before_the_work),
		cmocka_unit_test(table_full_of_keys_still_works),
		cmocka_unit_test(addresses),
		cmocka_unit_test(cors_list),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
