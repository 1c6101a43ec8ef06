/*
 * ratelimit_bench.c — micro-benchmark of one rate-limit check (the work
 * every request does twice: per address, then per user) and of the login
 * lockout check, against a baseline of the same loop with the limiter
 * disabled, with 1 and 2 threads on distinct and on shared keys.
 *
 * Build (from the repository root; -O2 like RelWithDebInfo):
 *   cc -O2 -std=c17 -D_GNU_SOURCE -Isrc -include src/base/compat.h \
 *      bench/ratelimit_bench.c src/http/ratelimit.c src/base/config.c \
 *      src/base/alloc.c src/base/err.c src/base/clock.c -lsodium -lpthread \
 *      -lm -o /tmp/ratelimit_bench
 * Run:
 *   /tmp/ratelimit_bench [CHECKS_PER_THREAD]   (default 2000000)
 * Prints ns per check, median of 5 rounds, and the ratio to the disabled
 * baseline.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/config.h"
#include "http/ratelimit.h"

struct job {
	struct pos_ratelimit *rl;
	long long n;
	int tid;
	int mode; /* 0 ip distinct keys, 1 user same key, 2 login lock check */
	unsigned refused;
};

static void *run(void *arg)
{
	struct job *j = arg;
	struct pos_rl_client c = {{10, 0, 0, 0}, 4};
	const char *uid = "3f1c9a2e-7b4d-4e8a-9c61-0d2b5f7e8a13";
	int64_t now = pos_mono_us();
	for (long long i = 0; i < j->n; i++) {
		switch (j->mode) {
		case 0:
			c.addr[1] = (uint8_t)j->tid;
			c.addr[2] = (uint8_t)(i >> 8);
			c.addr[3] = (uint8_t)i;
			j->refused += pos_rl_check_client(j->rl, POS_RL_IP, &c, now + i) != 0;
			break;
		case 1:
			j->refused += pos_rl_check(j->rl, POS_RL_USER, uid, 36, now + i) != 0;
			break;
		default:
			j->refused += pos_rl_login_locked(j->rl, &c, "someone@example.com", now + i) != 0;
		}
	}
	return NULL;
}

static double measure(struct pos_ratelimit *rl, int threads, int mode, long long n)
{
	pthread_t th[8];
	struct job jobs[8];
	int64_t t0 = pos_mono_us();
	for (int t = 0; t < threads; t++) {
		jobs[t] = (struct job){rl, n, t, mode, 0};
		pthread_create(&th[t], NULL, run, &jobs[t]);
	}
	for (int t = 0; t < threads; t++)
		pthread_join(th[t], NULL);
	int64_t us = pos_mono_us() - t0;
	return (double)us * 1000.0 / (double)n; /* ns per check per thread */
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	long long n = 2000000;
	if (argc > 1 && !pos_parse_int(argv[1], 1, 1000000000, &n))
		return 2;
	struct pos_config cfg;
	pos_config_defaults(&cfg);
	cfg.rl_ip_rate = cfg.rl_user_rate = 10000000;
	cfg.rl_ip_burst = cfg.rl_user_burst = 10000000;
	struct pos_ratelimit on, off;
	if (pos_rl_init(&on, &cfg))
		return 1;
	cfg.rate_limit = false;
	if (pos_rl_init(&off, &cfg))
		return 1;
	static const char *names[] = {"per-address check, distinct keys",
				      "per-user check, one shared key",
				      "login lockout check"};
	printf("%-36s %8s %10s %10s %8s\n", "check", "threads", "on ns", "off ns", "ratio");
	for (int mode = 0; mode < 3; mode++) {
		for (int threads = 1; threads <= 2; threads++) {
			double a[5], b[5];
			for (int r = 0; r < 5; r++) {
				a[r] = measure(&on, threads, mode, n);
				b[r] = measure(&off, threads, mode, n);
			}
			qsort(a, 5, sizeof(double), cmp);
			qsort(b, 5, sizeof(double), cmp);
			printf("%-36s %8d %10.1f %10.1f %7.1fx\n", names[mode], threads, a[2], b[2],
			       b[2] > 0 ? a[2] / b[2] : 0.0);
		}
	}
	pos_rl_fini(&on);
	pos_rl_fini(&off);
	return 0;
}
