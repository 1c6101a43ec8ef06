/* Unit tests for src/cache/redis.c: the redis:// URL parser, and a cache
 * whose Redis is down (a closed port on 127.0.0.1) — every call answers
 * POS_ERR_UNAVAILABLE, and the Redis rate-limit backend then counts in its
 * in-process fallback; and against a real redis-server on 127.0.0.1 (skipped
 * when it is not installed): commands, scripts, pub/sub. Instances sharing
 * a Redis are tested black-box in tests/api/test_redis.py. */

extern char **environ;
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cache/redis.h"
#include "http/ratelimit.h"

static void url_parser(void **state)
{
	(void)state;
	struct pos_cache_url u;
	struct pos_error err = {0};
	assert_int_equal(pos_cache_url_parse("redis://127.0.0.1:6380", &u, &err), POS_OK);
	assert_string_equal(u.host, "127.0.0.1");
	assert_int_equal(u.port, 6380);
	assert_int_equal(u.db, 0);
	assert_string_equal(u.password, "");
	assert_int_equal(pos_cache_url_parse("redis://cache.internal", &u, &err), POS_OK);
	assert_string_equal(u.host, "cache.internal");
	assert_int_equal(u.port, 6379);
	assert_int_equal(pos_cache_url_parse("redis://:s3cr%40t@10.0.0.5:7000/3", &u, &err), POS_OK);
	assert_string_equal(u.password, "s3cr@t");
	assert_string_equal(u.host, "10.0.0.5");
	assert_int_equal(u.port, 7000);
	assert_int_equal(u.db, 3);
	assert_int_equal(pos_cache_url_parse("redis://default:pw@h:1/", &u, &err), POS_OK);
	assert_string_equal(u.password, "pw");
	assert_string_equal(u.host, "h");
	assert_int_equal(u.db, 0);
	assert_int_equal(pos_cache_url_parse("redis://[::1]:6390/15", &u, &err), POS_OK);
	assert_string_equal(u.host, "::1");
	assert_int_equal(u.port, 6390);
	assert_int_equal(u.db, 15);

	static const char *const bad[] = {
		"", "127.0.0.1:6379", "http://h:1", "redis://", "redis://:6379",
		"redis://h:0", "redis://h:65536", "redis://h:x", "redis://h:", "redis://h/16",
		"redis://h/x", "redis://pw@h", "redis://:%zz@h", "redis://:%4@h", "redis://[::1",
		"redis://[::1]x", "redis://h h:1", "redis://:a%00b@h",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pos_error e = {0};
		if (pos_cache_url_parse(bad[i], &u, &e) != POS_ERR_USAGE)
			fail_msg("accepted %s", bad[i]);
		assert_string_equal(e.field, "cache");
		assert_string_equal(u.host, "");
	}
	struct pos_cache *c = NULL;
	assert_int_equal(pos_cache_new("redis:/x", 0, &c, &err), POS_ERR_USAGE);
	assert_null(c);
	assert_int_equal(pos_cache_new("redis://h", POS_CACHE_TIMEOUT_MS_MAX + 1, &c, &err),
			 POS_ERR_USAGE);
	assert_null(c);
}

/* A loopback port nothing listens on. */
static int closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(a);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void redis_down(void **state)
{
	(void)state;
	char url[64];
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d", closed_port());
	struct pos_cache *c = NULL;
	struct pos_error err = {0};
	assert_int_equal(pos_cache_new(url, 0, &c, &err), POS_OK);
	assert_non_null(c);
	assert_int_equal(pos_cache_start(c), POS_OK); /* the subscriber retries quietly */
	char buf[8];
	size_t n = 0;
	int64_t v = 0, out[POS_CACHE_REPLY_MAX];
	assert_int_equal(pos_cache_get(c, "k", buf, sizeof(buf), &n), POS_ERR_UNAVAILABLE);
	assert_int_equal(pos_cache_set(c, "k", "v", 1, 1000), POS_ERR_UNAVAILABLE);
	assert_int_equal(pos_cache_incr(c, "k", &v), POS_ERR_UNAVAILABLE);
	assert_int_equal(pos_cache_del(c, "k"), POS_ERR_UNAVAILABLE);
	assert_int_equal(pos_cache_publish(c, "ch", "m", 1), POS_ERR_UNAVAILABLE);
	const char *argv[] = {"k"};
	assert_int_equal(pos_cache_eval(c, "return 1", 1, 1, argv, out, &n), POS_ERR_UNAVAILABLE);
	assert_false(pos_cache_up(c));

	/* the Redis rate-limit backend answers from its in-process fallback */
	struct pos_rl_backend *be = pos_rl_redis_new(c, pos_rl_memory_new(64));
	assert_non_null(be);
	int64_t wait = 0;
	for (int i = 0; i < 3; i++)
		assert_true(be->ops->take(be, 42, 1.0, 3.0, 1000000, &wait));
	assert_false(be->ops->take(be, 42, 1.0, 3.0, 1000000, &wait));
	assert_true(wait > 0);
	int64_t prev = 0;
	assert_int_equal(be->ops->reserve(be, 7, 1, 5000000, 10000000, 1000000, &prev), 0);
	assert_true(be->ops->locked(be, 7, 1000000) > 0);
	be->ops->clear(be, 7);
	assert_int_equal(be->ops->locked(be, 7, 1000000), 0);
	be->ops->destroy(be);
	pos_cache_free(c);
}

static void nap_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

struct inbox {
	atomic_int n;
	char last[64];
	size_t len;
};

static void on_msg(void *ctx, const char *msg, size_t len)
{
	struct inbox *in = ctx;
	if (len <= sizeof(in->last)) {
		memcpy(in->last, msg, len);
		in->len = len;
	}
	atomic_fetch_add(&in->n, 1);
}

static const char counter_script[] =
	"local v = redis.call('INCRBY', KEYS[1], ARGV[1])\n"
	"return {v, tonumber(ARGV[1])}\n";

struct live {
	pid_t pid;
	int port;
};

/* A redis-server child on a free loopback port, without persistence. */
static int live_start(void **state)
{
	static struct live l;
	const char *bin = "/usr/bin/redis-server";
	l.pid = 0;
	*state = &l;
	if (access(bin, X_OK) != 0)
		return 0; /* the test skips */
	l.port = closed_port();
	char ports[16];
	snprintf(ports, sizeof(ports), "%d", l.port);
	char *argv[] = {(char *)bin, "--bind", "127.0.0.1", "--port", ports, "--save", "",
			"--appendonly", "no", "--dir", "/tmp", "--loglevel", "warning", NULL};
	return posix_spawn(&l.pid, bin, NULL, NULL, argv, environ) == 0 ? 0 : -1;
}

static int live_stop(void **state)
{
	struct live *l = *state;
	if (l->pid > 0) {
		kill(l->pid, SIGTERM);
		waitpid(l->pid, NULL, 0);
	}
	return 0;
}

static void live_redis(void **state)
{
	struct live *l = *state;
	if (l->pid <= 0)
		skip();
	char url[64];
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d/2", l->port);
	struct pos_cache *c = NULL;
	struct pos_error err = {0};
	assert_int_equal(pos_cache_new(url, 1000, &c, &err), POS_OK);
	struct inbox in = {0};
	assert_int_equal(pos_cache_subscribe(c, "t:chan", on_msg, &in), POS_OK);
	assert_int_equal(pos_cache_start(c), POS_OK);
	bool up = false;
	for (int i = 0; i < 100 && !up; i++) { /* until it listens */
		pos_cache_retry_now(c);
		up = pos_cache_set(c, "t:k", "v\0w", 3, 60000) == POS_OK;
		if (!up)
			nap_ms(50);
	}
	assert_true(up);
	assert_true(pos_cache_up(c));
	char buf[8];
	size_t n = 0;
	assert_int_equal(pos_cache_get(c, "t:k", buf, sizeof(buf), &n), POS_OK);
	assert_int_equal(n, 3);
	assert_memory_equal(buf, "v\0w", 3);
	assert_int_equal(pos_cache_get(c, "t:none", buf, sizeof(buf), &n), POS_ERR_NOT_FOUND);
	int64_t v = 0, out[POS_CACHE_REPLY_MAX];
	assert_int_equal(pos_cache_incr(c, "t:n", &v), POS_OK);
	assert_int_equal(pos_cache_incr(c, "t:n", &v), POS_OK);
	assert_int_equal(v, 2);
	assert_int_equal(pos_cache_del(c, "t:k"), POS_OK);
	assert_int_equal(pos_cache_get(c, "t:k", buf, sizeof(buf), &n), POS_ERR_NOT_FOUND);
	const char *args[] = {"t:n", "40"};
	assert_int_equal(pos_cache_eval(c, counter_script, 1, 2, args, out, &n), POS_OK);
	assert_int_equal(n, 2);
	assert_int_equal(out[0], 42);
	assert_int_equal(out[1], 40);
	const char *args2[] = {"t:n", "1"}; /* now by its SHA */
	assert_int_equal(pos_cache_eval(c, counter_script, 1, 2, args2, out, &n), POS_OK);
	assert_int_equal(out[0], 43);
	/* an error in a script is an answer, not an outage */
	assert_int_equal(pos_cache_eval(c, "return redis.call('NOPE')", 0, 0, NULL, out, &n),
			 POS_ERR_UNAVAILABLE);
	assert_true(pos_cache_up(c));

	/* pub/sub: the subscriber is up once a publish reaches it */
	for (int i = 0; i < 200 && !atomic_load(&in.n); i++) {
		assert_int_equal(pos_cache_publish(c, "t:chan", "hello\0x", 7), POS_OK);
		nap_ms(25);
	}
	assert_true(atomic_load(&in.n) > 0);
	assert_int_equal(in.len, 7);
	assert_memory_equal(in.last, "hello\0x", 7);
	assert_int_equal(pos_cache_publish(c, "t:other", "x", 1), POS_OK);

	pos_cache_free(c); /* joins the subscriber */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(url_parser),
		cmocka_unit_test(redis_down),
		cmocka_unit_test_setup_teardown(live_redis, live_start, live_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
