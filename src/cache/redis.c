/*
 * redis.c — the shared cache on hiredis (redis.h): URL parsing, a small
 * pool of blocking connections with short timeouts, a circuit breaker
 * that skips Redis for a moment after a failure, Lua scripts by SHA, and
 * one subscriber thread for pub/sub.
 */
#include "cache/redis.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <sodium.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"

#define SCRIPTS_MAX 16
#define LOG_EVERY_US 60000000
#define SUB_POLL_MS 200
#define SUB_BACKOFF_MAX_MS 5000

struct sub {
	char channel[POS_CACHE_CHANNEL_MAX + 1];
	pos_cache_msg_fn fn;
	void *ctx;
};

struct pos_cache {
	struct pos_cache_url url;
	unsigned timeout_ms;
	pthread_mutex_t lock;              /* the pool, the scripts */
	pthread_cond_t freed;
	redisContext *idle[POS_CACHE_POOL];
	int nidle, nopen;
	struct {
		const char *script;
		char sha[41];
	} scripts[SCRIPTS_MAX];
	int nscripts;
	_Atomic int64_t skip_until;        /* monotonic µs: Redis is not tried before */
	_Atomic int64_t logged_at;         /* monotonic µs of the last failure logged */
	atomic_bool up;
	/* pub/sub */
	pthread_mutex_t sub_lock;
	struct sub subs[POS_CACHE_CHANNELS_MAX];
	int nsubs;
	atomic_bool stop;
	bool started;
	pthread_t thread;
};

/* ---- URL ---- */

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Percent-decodes s[0..n) into out (cap bytes, NUL-terminated). */
static bool pct_decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int ch = (unsigned char)s[i];
		if (ch == '%') {
			if (i + 2 >= n)
				return false;
			int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
			if (h < 0 || l < 0)
				return false;
			ch = h * 16 + l;
			i += 2;
		}
		if (ch == 0 || o + 1 >= cap)
			return false;
		out[o++] = (char)ch;
	}
	out[o] = '\0';
	return true;
}

/* A decimal in [lo, hi] of s[0..n), n >= 1. */
static bool parse_int(const char *s, size_t n, int lo, int hi, int *out)
{
	if (n == 0 || n > 6)
		return false;
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

enum pos_err pos_cache_url_parse(const char *url, struct pos_cache_url *out,
				 struct pos_error *err)
{
	static const char scheme[] = "redis://";
	memset(out, 0, sizeof(*out));
	out->port = 6379;
	const char *why = "must be redis://[:PASSWORD@]HOST[:PORT][/DB]";
	if (!url || strncmp(url, scheme, sizeof(scheme) - 1) != 0)
		goto bad;
	const char *p = url + sizeof(scheme) - 1;
	const char *end = p + strlen(p);
	const char *slash = memchr(p, '/', (size_t)(end - p));
	const char *auth_end = NULL;
	for (const char *q = p; q < (slash ? slash : end); q++)
		if (*q == '@')
			auth_end = q; /* the last '@' before the path */
	if (auth_end) {
		const char *colon = memchr(p, ':', (size_t)(auth_end - p));
		if (!colon) {
			why = "the password goes after a colon: redis://:PASSWORD@HOST";
			goto bad;
		}
		if (!pct_decode(colon + 1, (size_t)(auth_end - colon - 1), out->password,
				sizeof(out->password))) {
			why = "the password is too long or badly percent-encoded";
			goto bad;
		}
		p = auth_end + 1;
	}
	const char *hend = slash ? slash : end;
	const char *port = NULL;
	size_t hlen;
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(hend - p));
		if (!rb)
			goto bad;
		hlen = (size_t)(rb - p - 1);
		if (hlen >= sizeof(out->host))
			goto bad;
		memcpy(out->host, p + 1, hlen);
		out->host[hlen] = '\0';
		if (rb + 1 < hend) {
			if (rb[1] != ':')
				goto bad;
			port = rb + 2;
		}
	} else {
		const char *colon = memchr(p, ':', (size_t)(hend - p));
		const char *he = colon ? colon : hend;
		hlen = (size_t)(he - p);
		if (hlen >= sizeof(out->host))
			goto bad;
		memcpy(out->host, p, hlen);
		out->host[hlen] = '\0';
		if (colon)
			port = colon + 1;
	}
	if (!out->host[0]) {
		why = "the host is missing";
		goto bad;
	}
	for (const char *h = out->host; *h; h++)
		if ((unsigned char)*h <= ' ' || *h == '/' || *h == '@' || *h == '?' || *h == '#') {
			why = "the host holds a character a host name cannot";
			goto bad;
		}
	if (port && !parse_int(port, (size_t)(hend - port), 1, 65535, &out->port)) {
		why = "the port must be 1 to 65535";
		goto bad;
	}
	if (slash && slash + 1 < end &&
	    !parse_int(slash + 1, (size_t)(end - slash - 1), 0, 15, &out->db)) {
		why = "the database must be a number 0 to 15";
		goto bad;
	}
	return POS_OK;
bad:
	memset(out, 0, sizeof(*out));
	return pos_error_set(err, POS_ERR_USAGE, "cache", "%s", why);
}

/* ---- connections ---- */

static void failed(struct pos_cache *c, const char *what)
{
	int64_t now = pos_mono_us();
	atomic_store(&c->skip_until, now + (int64_t)POS_CACHE_RETRY_MS * 1000);
	atomic_store(&c->up, false);
	/* The idle connections went the same way (a restarted Redis): close
	 * them, so the first calls after the pause do not each fail once. */
	redisContext *drop[POS_CACHE_POOL];
	pthread_mutex_lock(&c->lock);
	int ndrop = c->nidle;
	memcpy(drop, c->idle, (size_t)ndrop * sizeof(drop[0]));
	c->nidle = 0;
	c->nopen -= ndrop;
	pthread_cond_broadcast(&c->freed);
	pthread_mutex_unlock(&c->lock);
	for (int i = 0; i < ndrop; i++)
		redisFree(drop[i]);
	int64_t last = atomic_load(&c->logged_at);
	if ((last == 0 || now - last >= LOG_EVERY_US) &&
	    atomic_compare_exchange_strong(&c->logged_at, &last, now))
		pos_warn("cache: redis at %s:%d unavailable (%s); falling back to in-process limits and caches",
			 c->url.host, c->url.port, what);
}

static redisContext *dial(struct pos_cache *c, const char **why)
{
	struct timeval tv = {(time_t)(c->timeout_ms / 1000),
			     (suseconds_t)(c->timeout_ms % 1000) * 1000};
	redisContext *ctx = redisConnectWithTimeout(c->url.host, c->url.port, tv);
	if (!ctx) {
		*why = "out of memory";
		return NULL;
	}
	if (ctx->err || redisSetTimeout(ctx, tv) != REDIS_OK) {
		*why = "cannot connect";
		goto fail;
	}
	if (c->url.password[0]) {
		redisReply *r = redisCommand(ctx, "AUTH %s", c->url.password);
		bool ok = r && r->type != REDIS_REPLY_ERROR;
		if (r)
			freeReplyObject(r);
		if (!ok) {
			*why = "authentication refused";
			goto fail;
		}
	}
	if (c->url.db) {
		redisReply *r = redisCommand(ctx, "SELECT %d", c->url.db);
		bool ok = r && r->type != REDIS_REPLY_ERROR;
		if (r)
			freeReplyObject(r);
		if (!ok) {
			*why = "cannot select the database";
			goto fail;
		}
	}
	return ctx;
fail:
	redisFree(ctx);
	return NULL;
}

/* A connection from the pool (or a new one), NULL when Redis is being
 * skipped, the pool stays busy past the timeout, or the connect fails. */
static redisContext *acquire(struct pos_cache *c)
{
	if (pos_mono_us() < atomic_load(&c->skip_until))
		return NULL;
	pthread_mutex_lock(&c->lock);
	if (!c->nidle && c->nopen >= POS_CACHE_POOL) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)(c->timeout_ms / 1000);
		ts.tv_nsec += (long)(c->timeout_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (!c->nidle && c->nopen >= POS_CACHE_POOL)
			if (pthread_cond_timedwait(&c->freed, &c->lock, &ts) == ETIMEDOUT)
				break;
	}
	if (c->nidle) {
		redisContext *ctx = c->idle[--c->nidle];
		pthread_mutex_unlock(&c->lock);
		return ctx;
	}
	if (c->nopen >= POS_CACHE_POOL) {
		pthread_mutex_unlock(&c->lock);
		return NULL; /* busy: this call falls back, Redis is not marked down */
	}
	c->nopen++;
	pthread_mutex_unlock(&c->lock);
	const char *why = NULL;
	redisContext *ctx = dial(c, &why);
	if (!ctx) {
		pthread_mutex_lock(&c->lock);
		c->nopen--;
		pthread_cond_signal(&c->freed);
		pthread_mutex_unlock(&c->lock);
		failed(c, why);
	}
	return ctx;
}

/* Returns a connection; a broken one (`ok` false) is closed. */
static void release(struct pos_cache *c, redisContext *ctx, bool ok)
{
	if (!ok || ctx->err) {
		redisFree(ctx);
		ctx = NULL;
	}
	pthread_mutex_lock(&c->lock);
	if (ctx)
		c->idle[c->nidle++] = ctx;
	else
		c->nopen--;
	pthread_cond_signal(&c->freed);
	pthread_mutex_unlock(&c->lock);
}

/* Runs one command; the reply (never an error reply unless `errors_ok`)
 * or NULL when Redis could not answer (the connection is then dropped
 * and the cache skipped for a moment). */
static redisReply *command(struct pos_cache *c, int argc, const char **argv,
			   const size_t *lens, bool errors_ok)
{
	redisContext *ctx = acquire(c);
	if (!ctx)
		return NULL;
	redisReply *r = redisCommandArgv(ctx, argc, argv, lens);
	if (!r) {
		release(c, ctx, false);
		failed(c, "no answer in time");
		return NULL;
	}
	release(c, ctx, true);
	atomic_store(&c->up, true);
	if (r->type == REDIS_REPLY_ERROR && !errors_ok) {
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

enum pos_err pos_cache_new(const char *url, unsigned timeout_ms, struct pos_cache **out,
			   struct pos_error *err)
{
	*out = NULL;
	if (timeout_ms > POS_CACHE_TIMEOUT_MS_MAX)
		return pos_error_set(err, POS_ERR_USAGE, "cache_timeout_ms", "at most %d",
				     POS_CACHE_TIMEOUT_MS_MAX);
	struct pos_cache_url u;
	enum pos_err rc = pos_cache_url_parse(url, &u, err);
	if (rc)
		return rc;
	struct pos_cache *c = pos_calloc(1, sizeof(*c));
	if (!c)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	c->url = u;
	c->timeout_ms = timeout_ms ? timeout_ms : POS_CACHE_TIMEOUT_MS;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->freed, NULL);
	pthread_mutex_init(&c->sub_lock, NULL);
	*out = c;
	return POS_OK;
}

void pos_cache_free(struct pos_cache *c)
{
	if (!c)
		return;
	pos_cache_stop(c);
	for (int i = 0; i < c->nidle; i++)
		redisFree(c->idle[i]);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->freed);
	pthread_mutex_destroy(&c->sub_lock);
	sodium_memzero(c->url.password, sizeof(c->url.password));
	pos_free(c);
}

void pos_cache_retry_now(struct pos_cache *c)
{
	atomic_store(&c->skip_until, 0);
}

bool pos_cache_up(struct pos_cache *c)
{
	return c && atomic_load(&c->up);
}

enum pos_err pos_cache_get(struct pos_cache *c, const char *key, void *buf, size_t cap,
			   size_t *len)
{
	const char *argv[] = {"GET", key};
	redisReply *r = command(c, 2, argv, NULL, false);
	if (!r)
		return POS_ERR_UNAVAILABLE;
	enum pos_err rc = POS_OK;
	if (r->type == REDIS_REPLY_NIL) {
		rc = POS_ERR_NOT_FOUND;
	} else if (r->type == REDIS_REPLY_STRING) {
		size_t n = r->len < cap ? r->len : cap;
		memcpy(buf, r->str, n);
		*len = n;
	} else {
		rc = POS_ERR_UNAVAILABLE;
	}
	freeReplyObject(r);
	return rc;
}

enum pos_err pos_cache_set(struct pos_cache *c, const char *key, const void *val,
			   size_t len, int64_t ttl_ms)
{
	char ttl[24];
	snprintf(ttl, sizeof(ttl), "%lld", (long long)(ttl_ms > 0 ? ttl_ms : 1));
	const char *argv[] = {"SET", key, val, "PX", ttl};
	size_t lens[] = {3, strlen(key), len, 2, strlen(ttl)};
	redisReply *r = command(c, 5, argv, lens, false);
	if (!r)
		return POS_ERR_UNAVAILABLE;
	freeReplyObject(r);
	return POS_OK;
}

enum pos_err pos_cache_del(struct pos_cache *c, const char *key)
{
	const char *argv[] = {"DEL", key};
	redisReply *r = command(c, 2, argv, NULL, false);
	if (!r)
		return POS_ERR_UNAVAILABLE;
	freeReplyObject(r);
	return POS_OK;
}

enum pos_err pos_cache_incr(struct pos_cache *c, const char *key, int64_t *out)
{
	const char *argv[] = {"INCR", key};
	redisReply *r = command(c, 2, argv, NULL, false);
	if (!r)
		return POS_ERR_UNAVAILABLE;
	enum pos_err rc = r->type == REDIS_REPLY_INTEGER ? POS_OK : POS_ERR_UNAVAILABLE;
	if (!rc)
		*out = r->integer;
	freeReplyObject(r);
	return rc;
}

/* The SHA of a loaded script (copied to sha), or "" when not loaded. */
static void script_sha(struct pos_cache *c, const char *script, char sha[41])
{
	sha[0] = '\0';
	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < c->nscripts; i++)
		if (c->scripts[i].script == script)
			memcpy(sha, c->scripts[i].sha, 41);
	pthread_mutex_unlock(&c->lock);
}

static enum pos_err script_load(struct pos_cache *c, const char *script, char sha[41])
{
	const char *argv[] = {"SCRIPT", "LOAD", script};
	redisReply *r = command(c, 3, argv, NULL, false);
	if (!r)
		return POS_ERR_UNAVAILABLE;
	bool ok = r->type == REDIS_REPLY_STRING && r->len == 40;
	if (ok) {
		memcpy(sha, r->str, 40);
		sha[40] = '\0';
		pthread_mutex_lock(&c->lock);
		int i = 0;
		while (i < c->nscripts && c->scripts[i].script != script)
			i++;
		if (i < SCRIPTS_MAX) {
			c->scripts[i].script = script;
			memcpy(c->scripts[i].sha, sha, 41);
			if (i == c->nscripts)
				c->nscripts++;
		}
		pthread_mutex_unlock(&c->lock);
	}
	freeReplyObject(r);
	return ok ? POS_OK : POS_ERR_UNAVAILABLE;
}

enum pos_err pos_cache_eval(struct pos_cache *c, const char *script, int nkeys, int argc,
			    const char *const *argv, int64_t *out, size_t *n)
{
	*n = 0;
	if (argc < 0 || argc > 14 || nkeys < 0 || nkeys > argc)
		return POS_ERR_INVALID_FIELD;
	char sha[41], nk[12];
	script_sha(c, script, sha);
	enum pos_err rc;
	if (!sha[0] && (rc = script_load(c, script, sha)))
		return rc;
	snprintf(nk, sizeof(nk), "%d", nkeys);
	const char *av[17] = {"EVALSHA", sha, nk};
	for (int i = 0; i < argc; i++)
		av[3 + i] = argv[i];
	redisReply *r = command(c, 3 + argc, av, NULL, true);
	if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
		freeReplyObject(r); /* Redis restarted or flushed: load it again */
		if ((rc = script_load(c, script, sha)))
			return rc;
		r = command(c, 3 + argc, av, NULL, true);
	}
	if (!r)
		return POS_ERR_UNAVAILABLE;
	rc = POS_OK;
	if (r->type == REDIS_REPLY_INTEGER) {
		out[0] = r->integer;
		*n = 1;
	} else if (r->type == REDIS_REPLY_ARRAY && r->elements <= POS_CACHE_REPLY_MAX) {
		for (size_t i = 0; i < r->elements; i++) {
			if (r->element[i]->type != REDIS_REPLY_INTEGER) {
				rc = POS_ERR_UNAVAILABLE;
				break;
			}
			out[i] = r->element[i]->integer;
		}
		if (!rc)
			*n = r->elements;
	} else {
		if (r->type == REDIS_REPLY_ERROR)
			pos_warn("cache: a script failed in redis");
		rc = POS_ERR_UNAVAILABLE;
	}
	freeReplyObject(r);
	return rc;
}

enum pos_err pos_cache_publish(struct pos_cache *c, const char *channel, const void *msg,
			       size_t len)
{
	if (strlen(channel) > POS_CACHE_CHANNEL_MAX)
		return POS_ERR_INVALID_FIELD;
	const char *argv[] = {"PUBLISH", channel, msg};
	size_t lens[] = {7, strlen(channel), len};
	redisReply *r = command(c, 3, argv, lens, false);
	if (!r)
		return POS_ERR_UNAVAILABLE;
	freeReplyObject(r);
	return POS_OK;
}

/* ---- the subscriber thread ---- */

enum pos_err pos_cache_subscribe(struct pos_cache *c, const char *channel,
				 pos_cache_msg_fn fn, void *ctx)
{
	size_t n = strlen(channel);
	if (!n || n > POS_CACHE_CHANNEL_MAX)
		return POS_ERR_INVALID_FIELD;
	pthread_mutex_lock(&c->sub_lock);
	enum pos_err rc = POS_OK;
	if (c->nsubs >= POS_CACHE_CHANNELS_MAX) {
		rc = POS_ERR_INVALID_FIELD;
	} else {
		struct sub *s = &c->subs[c->nsubs];
		memcpy(s->channel, channel, n + 1);
		s->fn = fn;
		s->ctx = ctx;
		c->nsubs++;
	}
	pthread_mutex_unlock(&c->sub_lock);
	return rc;
}

static void dispatch(struct pos_cache *c, const redisReply *r)
{
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
	    r->element[0]->type != REDIS_REPLY_STRING || strcmp(r->element[0]->str, "message") ||
	    r->element[1]->type != REDIS_REPLY_STRING || r->element[2]->type != REDIS_REPLY_STRING)
		return; /* subscribe confirmations */
	struct sub hit[POS_CACHE_CHANNELS_MAX];
	int nhit = 0;
	pthread_mutex_lock(&c->sub_lock);
	for (int i = 0; i < c->nsubs; i++)
		if (strcmp(c->subs[i].channel, r->element[1]->str) == 0)
			hit[nhit++] = c->subs[i];
	pthread_mutex_unlock(&c->sub_lock);
	for (int i = 0; i < nhit; i++)
		hit[i].fn(hit[i].ctx, r->element[2]->str, r->element[2]->len);
}

/* Sends SUBSCRIBE for subs[*done..nsubs); false when the link broke. */
static bool subscribe_new(struct pos_cache *c, redisContext *ctx, int *done)
{
	pthread_mutex_lock(&c->sub_lock);
	int n = c->nsubs;
	char names[POS_CACHE_CHANNELS_MAX][POS_CACHE_CHANNEL_MAX + 1];
	for (int i = *done; i < n; i++)
		memcpy(names[i], c->subs[i].channel, sizeof(names[i]));
	pthread_mutex_unlock(&c->sub_lock);
	if (*done == n)
		return true;
	for (int i = *done; i < n; i++)
		if (redisAppendCommand(ctx, "SUBSCRIBE %s", names[i]) != REDIS_OK)
			return false;
	int written = 0;
	while (!written)
		if (redisBufferWrite(ctx, &written) != REDIS_OK)
			return false;
	*done = n;
	return true;
}

/* Sleeps ms in short steps, false when asked to stop. */
static bool nap(struct pos_cache *c, int ms)
{
	while (ms > 0 && !atomic_load(&c->stop)) {
		int step = ms < 100 ? ms : 100;
		struct timespec ts = {0, step * 1000000L};
		nanosleep(&ts, NULL);
		ms -= step;
	}
	return !atomic_load(&c->stop);
}

static void *subscriber(void *arg)
{
	struct pos_cache *c = arg;
	int backoff = 100;
	while (!atomic_load(&c->stop)) {
		const char *why = NULL;
		redisContext *ctx = dial(c, &why);
		if (!ctx) {
			if (!nap(c, backoff))
				break;
			backoff = backoff * 2 > SUB_BACKOFF_MAX_MS ? SUB_BACKOFF_MAX_MS : backoff * 2;
			continue;
		}
		backoff = 100;
		int done = 0;
		bool ok = true;
		while (ok && !atomic_load(&c->stop)) {
			if (!subscribe_new(c, ctx, &done)) {
				ok = false;
				break;
			}
			void *rep = NULL;
			while (redisReaderGetReply(ctx->reader, &rep) == REDIS_OK && rep) {
				dispatch(c, rep);
				freeReplyObject(rep);
				rep = NULL;
			}
			struct pollfd pfd = {.fd = ctx->fd, .events = POLLIN};
			int pr = poll(&pfd, 1, SUB_POLL_MS);
			if (pr < 0 && errno != EINTR)
				ok = false;
			else if (pr > 0 && redisBufferRead(ctx) != REDIS_OK)
				ok = false;
		}
		redisFree(ctx);
		if (!ok && !nap(c, backoff))
			break;
	}
	return NULL;
}

enum pos_err pos_cache_start(struct pos_cache *c)
{
	if (c->started)
		return POS_OK;
	atomic_store(&c->stop, false);
	if (pthread_create(&c->thread, NULL, subscriber, c) != 0)
		return POS_ERR_INTERNAL;
	c->started = true;
	return POS_OK;
}

void pos_cache_stop(struct pos_cache *c)
{
	if (!c || !c->started)
		return;
	atomic_store(&c->stop, true);
	pthread_join(c->thread, NULL);
	c->started = false;
}
