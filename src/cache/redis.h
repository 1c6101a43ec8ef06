/*
 * redis.h — the shared cache: Redis through hiredis, for several
 * instances that must agree on rate limits, lockouts, token checks and
 * search-cache generations, and that pass events to each other (pub/sub).
 * The module is "the cache" (prefix pos_cache_); Redis is its one engine.
 *
 * Nothing here may hold a request up: every connection has a connect and
 * a command timeout (config `cache_timeout_ms`, default 50), and when Redis is down or slow
 * a call returns POS_ERR_UNAVAILABLE at once, so the caller falls back to
 * its in-process behaviour. After a failure the cache is skipped for
 * POS_CACHE_RETRY_MS before it is tried again, and the failure is logged
 * at most once a minute (never keys or values).
 *
 * The Redis address is operator configuration (`cache`), not user input,
 * so it is not subject to the egress policy (docs/SECURITY.md).
 *
 * Ownership: the cache owns its connections and its subscriber thread.
 * Thread-safety: every function but new/free/start/stop may be called from
 * any thread at once (a pool of connections behind one lock).
 */
#ifndef POS_CACHE_REDIS_H
#define POS_CACHE_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define POS_CACHE_TIMEOUT_MS 50         /* the default timeout */
#define POS_CACHE_TIMEOUT_MS_MAX 5000
#define POS_CACHE_RETRY_MS 1000
#define POS_CACHE_POOL 8
#define POS_CACHE_HOST_MAX 256
#define POS_CACHE_PASSWORD_MAX 256
/* Subscriptions and script replies are bounded. */
#define POS_CACHE_CHANNELS_MAX 16
#define POS_CACHE_CHANNEL_MAX 64
#define POS_CACHE_REPLY_MAX 8

/* A parsed `redis://[:password@]HOST[:PORT][/DB]` (also `redis://user:pw@`,
 * whose user part is ignored, and `[v6]` hosts). */
struct pos_cache_url {
	char host[POS_CACHE_HOST_MAX];
	char password[POS_CACHE_PASSWORD_MAX]; /* "" = none; percent-decoded */
	int port;                              /* default 6379 */
	int db;                                /* default 0, 0..15 */
};

/* Parses `url`: POS_ERR_USAGE with `err` naming the field "cache" when it
 * is not of the form above. */
enum pos_err pos_cache_url_parse(const char *url, struct pos_cache_url *out,
				 struct pos_error *err);

struct pos_cache;

/* Makes a cache for `url` (parsed as above) whose connects and commands
 * time out after `timeout_ms` (1..POS_CACHE_TIMEOUT_MS_MAX; 0 = the
 * default). Does not connect: a Redis that is down at start is tried
 * again on first use. */
enum pos_err pos_cache_new(const char *url, unsigned timeout_ms, struct pos_cache **out,
			   struct pos_error *err);
/* Lets the next call try Redis even within the pause after a failure:
 * for the rare writes that must not be skipped (revocations). */
void pos_cache_retry_now(struct pos_cache *c);
/* Stops the subscriber (if started) and frees. NULL is fine. */
void pos_cache_free(struct pos_cache *c);

/* Key and value primitives. Each returns POS_OK, POS_ERR_NOT_FOUND (get:
 * no such key) or POS_ERR_UNAVAILABLE (Redis down, slow or in error). */
/* Copies at most cap bytes of the value into buf, its length in *len. */
enum pos_err pos_cache_get(struct pos_cache *c, const char *key, void *buf, size_t cap,
			   size_t *len);
/* Sets `key` to val[0..len) for ttl_ms (> 0). */
enum pos_err pos_cache_set(struct pos_cache *c, const char *key, const void *val,
			   size_t len, int64_t ttl_ms);
enum pos_err pos_cache_del(struct pos_cache *c, const char *key);
/* INCR key; the new value in *out. */
enum pos_err pos_cache_incr(struct pos_cache *c, const char *key, int64_t *out);

/*
 * Runs a Lua script (EVALSHA, loading it on first use) with `nkeys` of
 * the `argc` arguments as keys. The reply must be an integer or an array
 * of at most POS_CACHE_REPLY_MAX integers: they go to out[], their count
 * to *n. `script` must be a string constant (it is cached by address).
 */
enum pos_err pos_cache_eval(struct pos_cache *c, const char *script, int nkeys, int argc,
			    const char *const *argv, int64_t *out, size_t *n);

/* Publishes msg[0..len) on `channel` (at most POS_CACHE_CHANNEL_MAX bytes). */
enum pos_err pos_cache_publish(struct pos_cache *c, const char *channel, const void *msg,
			       size_t len);

/*
 * Calls fn(ctx, msg, len) on the cache's subscriber thread for every
 * message published on `channel` (by any instance, this one included).
 * `fn` must be quick and must not call back into the cache's subscribe.
 * Register before pos_cache_start or after; at most
 * POS_CACHE_CHANNELS_MAX channels. POS_ERR_INVALID_FIELD past that.
 */
typedef void (*pos_cache_msg_fn)(void *ctx, const char *msg, size_t len);
enum pos_err pos_cache_subscribe(struct pos_cache *c, const char *channel,
				 pos_cache_msg_fn fn, void *ctx);

/* Starts the subscriber thread (it reconnects with backoff while Redis is
 * down). POS_ERR_INTERNAL when no thread. pos_cache_stop joins it. */
enum pos_err pos_cache_start(struct pos_cache *c);
void pos_cache_stop(struct pos_cache *c);

/* True while the last command reached Redis (for /health and tests). */
bool pos_cache_up(struct pos_cache *c);

#endif
