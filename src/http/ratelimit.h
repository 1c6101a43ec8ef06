/*
 * ratelimit.h — request rate limits and login lockout (docs/SECURITY.md).
 *
 * Policy and counters are separate. The policy (this module) decides which
 * bucket a request draws from — per client address, per user, and a
 * stricter one per address for the auth endpoints — and turns login
 * failures into a growing lockout per account and per address. The
 * counters live behind `struct pos_rl_backend`: the in-process backend
 * here (a fixed table of 4-way sets with a one-byte spinlock per set, so
 * a check costs a SipHash and an uncontended atomic), and with a shared
 * cache the Redis one (ratelimit_redis.c) that every instance draws from:
 * one Lua script call per operation, atomic in Redis, timed by Redis's
 * clock, falling back to the in-process backend while Redis is down.
 *
 * Keys are 64-bit SipHash values of (kind, identity) under a random
 * per-process key, so an attacker cannot aim collisions at someone else's
 * bucket; a table full of keys evicts the least recently touched entry of
 * a set, plain buckets before failure counts, which only ever forgets a
 * limit (never adds one).
 *
 * Thread-safety: every function may be called from any thread at once
 * after pos_rl_init; pos_rl_fini must run alone.
 */
#ifndef POS_HTTP_RATELIMIT_H
#define POS_HTTP_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "base/err.h"

/*
 * Counter storage. Every function is thread-safe and never fails the
 * request: a backend that cannot answer (Redis down) allows.
 *
 *  take    draws one token from bucket `key` (refilled at `rate` per
 *          second up to `burst`); true if there was one, else *wait_us
 *          is the time until there will be.
 *  locked  µs left of a lockout on `key`, 0 when none.
 *  fail    counts a failure on `key`; from the `threshold`-th failure on,
 *          locks the key for base_us × 2^(failures − threshold), at most
 *          max_us. Failures are forgotten max_us after the last one.
 *  clear   forgets `key`'s failures and lockout (a successful login).
 *  destroy frees the backend.
 */
struct pos_rl_backend;
struct pos_rl_backend_ops {
	bool (*take)(struct pos_rl_backend *b, uint64_t key, double rate,
		     double burst, int64_t now_us, int64_t *wait_us);
	int64_t (*locked)(struct pos_rl_backend *b, uint64_t key, int64_t now_us);
	void (*fail)(struct pos_rl_backend *b, uint64_t key, unsigned threshold,
		     int64_t base_us, int64_t max_us, int64_t now_us);
	void (*clear)(struct pos_rl_backend *b, uint64_t key);
	/* Atomically: if `key` is locked, returns the µs left and changes
	 * nothing; else counts one failure (as `fail`), sets *prev_until to
	 * the lock time it had before, and returns 0. */
	int64_t (*reserve)(struct pos_rl_backend *b, uint64_t key, unsigned threshold,
			   int64_t base_us, int64_t max_us, int64_t now_us,
			   int64_t *prev_until);
	/* Takes back one failure counted by `reserve`, and the lockout it
	 * set: the lock time goes back to `prev_until`. */
	void (*unfail)(struct pos_rl_backend *b, uint64_t key, int64_t prev_until);
	void (*destroy)(struct pos_rl_backend *b);
};
struct pos_rl_backend {
	const struct pos_rl_backend_ops *ops;
};

/* The in-process backend with about `slots` entries (rounded up to a
 * power of two, at least 64). NULL on OOM. */
struct pos_rl_backend *pos_rl_memory_new(size_t slots);

struct pos_cache;
/* The Redis backend over `cache` (borrowed; it must outlive the backend):
 * counters under `pos:rl:<key>`; every operation Redis cannot answer in
 * time goes to `fallback` (owned from here on). NULL on OOM (fallback
 * is then destroyed). */
struct pos_rl_backend *pos_rl_redis_new(struct pos_cache *cache,
					struct pos_rl_backend *fallback);

/* Which limit a check draws from. */
enum pos_rl_class {
	POS_RL_IP,      /* every request, per client address */
	POS_RL_USER,    /* every authenticated request, per user id */
	POS_RL_AUTH,    /* register, login, refresh: per client address */
};

struct pos_ratelimit {
	bool enabled;
	double rate[3], burst[3];         /* by enum pos_rl_class */
	unsigned fail_account, fail_ip;   /* failures before a lockout */
	int64_t lockout_base_us, lockout_max_us;
	uint8_t hkey[16];                 /* SipHash key, random per process */
	struct pos_rl_backend *be;        /* owned */
	/* with a shared cache: the SipHash key every instance uses, read
	 * from (or first written to) Redis; until then keys use hkey and
	 * land in the in-process fallback */
	struct pos_cache *cache;          /* borrowed */
	uint8_t shared_hkey[16];
	_Atomic bool shared_ready, shared_fetching;
};

/* Reads the limits from the config and makes the in-process backend.
 * POS_ERR_NOMEM on failure. */
enum pos_err pos_rl_init(struct pos_ratelimit *rl, const struct pos_config *cfg);
/* Moves the counters to the shared cache (borrowed: it must outlive
 * rl): buckets and lockouts are then shared by every instance on the
 * same Redis. Call once, before any check. POS_ERR_NOMEM. */
enum pos_err pos_rl_use_cache(struct pos_ratelimit *rl, struct pos_cache *cache);
void pos_rl_fini(struct pos_ratelimit *rl);

/*
 * A client identity for the per-address limits: the address bytes (4 for
 * IPv4; 8 for IPv6, whose /64 is what one client usually holds).
 */
struct pos_rl_client {
	uint8_t addr[16];
	uint8_t len;                      /* 0: unknown (never limited) */
};

/* From a socket address (AF_INET / AF_INET6; v4-mapped v6 counts as v4). */
void pos_rl_client_from_sockaddr(struct pos_rl_client *c, const void *sa);
/*
 * From the right-most address of an X-Forwarded-For header (the one the
 * nearest proxy appended). False, leaving `c` unchanged, when the header
 * holds no valid address there.
 */
bool pos_rl_client_from_forwarded(struct pos_rl_client *c, const char *xff);

/*
 * Draws one request from the limit of `cls` for `id` (a client for IP and
 * AUTH, a NUL-terminated user id for USER). Returns 0 when allowed, else
 * the seconds to wait (>= 1) for Retry-After. Always 0 when disabled.
 */
unsigned pos_rl_check(struct pos_ratelimit *rl, enum pos_rl_class cls,
		      const void *id, size_t len, int64_t now_us);
static inline unsigned pos_rl_check_client(struct pos_ratelimit *rl,
					   enum pos_rl_class cls,
					   const struct pos_rl_client *c,
					   int64_t now_us)
{
	return c->len ? pos_rl_check(rl, cls, c->addr, c->len, now_us) : 0;
}

/*
 * Login lockout. pos_rl_login_locked: seconds until `email` (normalized)
 * or the client may try again, 0 when neither is locked.
 * pos_rl_login_result: records the outcome of a password check — a failure
 * counts against both, a success clears the account only (an attacker
 * with an account of their own must not be able to wash the address's
 * failures away by logging in to it between guesses).
 */
unsigned pos_rl_login_locked(struct pos_ratelimit *rl, const struct pos_rl_client *c,
			     const char *email, int64_t now_us);
void pos_rl_login_result(struct pos_ratelimit *rl, const struct pos_rl_client *c,
			 const char *email, bool ok, int64_t now_us);

/*
 * The lockout decided atomically (accounts): every password or recovery
 * key check reserves its attempt BEFORE the expensive work, by counting it
 * as a failure up front for the account (`email`, normalized; NULL: none)
 * and the client. Returns the seconds to wait (nothing counted) when
 * either is locked, else 0. Parallel guesses therefore never evaluate more
 * than the limit. pos_rl_login_release then settles the attempt: on
 * success it clears the account and takes the client's failure back; on a
 * failure it keeps both. Call release exactly once after a 0 from reserve.
 */
struct pos_rl_reservation {
	bool ip;                 /* the client's failure was counted */
	int64_t ip_prev_until;   /* its lock time before */
};
unsigned pos_rl_login_reserve(struct pos_ratelimit *rl, const struct pos_rl_client *c,
			      const char *email, int64_t now_us,
			      struct pos_rl_reservation *res);
void pos_rl_login_release(struct pos_ratelimit *rl, const struct pos_rl_client *c,
			  const char *email, const struct pos_rl_reservation *res, bool ok);

#endif
