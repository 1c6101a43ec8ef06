/*
 * ratelimit_redis.c — the rate-limit counters in Redis, shared by every
 * instance (ratelimit.h, `pos_rl_redis_new`). Each operation is one call
 * of one Lua script, so a check-and-update is atomic however many
 * instances race; time is Redis's own clock (TIME), so instances whose
 * clocks differ still agree. Semantics are those of the in-process
 * backend in ratelimit.c, field for field. Keys expire once they hold
 * nothing worth keeping. Whatever Redis cannot answer in time goes to the
 * in-process fallback: limits then hold per instance until Redis is back.
 */
#include "http/ratelimit.h"

#include <inttypes.h>
#include <stdio.h>

#include "base/alloc.h"
#include "cache/redis.h"

/* KEYS[1] the counter; ARGV[1] the operation, then its arguments (µs).
 * Times are written with %d: Lua 5.1 turns a number into text with 14
 * digits, which would round µs since the epoch. */
static const char rl_script[] =
	"local k = KEYS[1]\n"
	"local op = ARGV[1]\n"
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
	"if op == 'take' then\n"
	"  local rate, burst = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
	"  local v = redis.call('HMGET', k, 'tok', 'last')\n"
	"  local tok, last = tonumber(v[1]), tonumber(v[2])\n"
	"  if not tok then tok = burst; last = now end\n"
	"  if now > last then\n"
	"    tok = math.min(burst, tok + (now - last) * rate / 1e6); last = now\n"
	"  end\n"
	"  local ok, wait = 0, 0\n"
	"  if tok >= 1 then tok = tok - 1; ok = 1\n"
	"  else wait = math.ceil((1 - tok) * 1e6 / rate) end\n"
	"  redis.call('HSET', k, 'tok', string.format('%.17g', tok),\n"
	"                   'last', string.format('%d', last))\n"
	"  redis.call('PEXPIRE', k, math.ceil(burst / rate * 1000) + 1000)\n"
	"  return {ok, wait}\n"
	"end\n"
	"local v = redis.call('HMGET', k, 'f', 'fl', 'u')\n"
	"local f, fl, u = tonumber(v[1]) or 0, tonumber(v[2]) or 0, tonumber(v[3]) or 0\n"
	"local function count(thr, base, max)\n"
	"  if f > 0 and now - fl > max then f = 0 end\n"
	"  f = f + 1\n"
	"  if thr > 0 and f >= thr then\n"
	"    local d, shift = base, f - thr\n"
	"    while shift > 0 and d < max do d = d * 2; shift = shift - 1 end\n"
	"    if d > max then d = max end\n"
	"    u = now + d\n"
	"  end\n"
	"  redis.call('HSET', k, 'f', f, 'fl', string.format('%d', now),\n"
	"             'u', string.format('%d', u))\n"
	"  redis.call('PEXPIRE', k, math.ceil((math.max(u - now, 0) + max) / 1000) + 1000)\n"
	"end\n"
	"if op == 'locked' then\n"
	"  if u > now then return u - now end\n"
	"  return 0\n"
	"elseif op == 'fail' then\n"
	"  count(tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))\n"
	"  return 0\n"
	"elseif op == 'reserve' then\n"
	"  if u > now then return {u - now, u} end\n"
	"  local prev = u\n"
	"  count(tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))\n"
	"  return {0, prev}\n"
	"elseif op == 'unfail' then\n"
	"  if redis.call('EXISTS', k) == 1 then\n"
	"    local prev = tonumber(ARGV[2])\n"
	"    if f > 0 then f = f - 1 end\n"
	"    if u > prev then u = prev end\n"
	"    redis.call('HSET', k, 'f', f, 'u', string.format('%d', u))\n"
	"  end\n"
	"  return 0\n"
	"elseif op == 'clear' then\n"
	"  if redis.call('EXISTS', k) == 1 then redis.call('HSET', k, 'f', 0, 'u', 0) end\n"
	"  return 0\n"
	"end\n"
	"return redis.error_reply('unknown operation')\n";

struct rl_redis {
	struct pos_rl_backend base;
	struct pos_cache *cache;      /* borrowed */
	struct pos_rl_backend *fb;    /* owned: the in-process fallback */
};

static void key_name(char out[32], uint64_t key)
{
	snprintf(out, 32, "pos:rl:%016" PRIx64, key);
}

/* One script call: the reply in out[], false when Redis did not answer. */
static bool run(struct rl_redis *r, uint64_t key, const char *op, int nargs,
		const int64_t *args, double rate, double burst, int64_t *out, size_t want)
{
	char name[32], a[3][32];
	const char *argv[5] = {name, op};
	key_name(name, key);
	int argc = 2;
	if (rate > 0) { /* take */
		snprintf(a[0], sizeof(a[0]), "%.17g", rate);
		snprintf(a[1], sizeof(a[1]), "%.17g", burst);
		argv[argc++] = a[0];
		argv[argc++] = a[1];
	}
	for (int i = 0; i < nargs; i++) {
		snprintf(a[i], sizeof(a[i]), "%" PRId64, args[i]);
		argv[argc++] = a[i];
	}
	size_t n = 0;
	int64_t reply[POS_CACHE_REPLY_MAX];
	if (pos_cache_eval(r->cache, rl_script, 1, argc, argv, reply, &n) || n != want)
		return false;
	for (size_t i = 0; i < n; i++)
		out[i] = reply[i];
	return true;
}

static bool rd_take(struct pos_rl_backend *b, uint64_t key, double rate, double burst,
		    int64_t now, int64_t *wait_us)
{
	struct rl_redis *r = (struct rl_redis *)b;
	int64_t out[2];
	if (!run(r, key, "take", 0, NULL, rate, burst, out, 2))
		return r->fb->ops->take(r->fb, key, rate, burst, now, wait_us);
	if (!out[0])
		*wait_us = out[1];
	return out[0] != 0;
}

static int64_t rd_locked(struct pos_rl_backend *b, uint64_t key, int64_t now)
{
	struct rl_redis *r = (struct rl_redis *)b;
	int64_t out[1];
	if (!run(r, key, "locked", 0, NULL, 0, 0, out, 1))
		return r->fb->ops->locked(r->fb, key, now);
	return out[0];
}

static void rd_fail(struct pos_rl_backend *b, uint64_t key, unsigned threshold,
		    int64_t base_us, int64_t max_us, int64_t now)
{
	struct rl_redis *r = (struct rl_redis *)b;
	int64_t args[3] = {threshold, base_us, max_us}, out[1];
	if (!run(r, key, "fail", 3, args, 0, 0, out, 1))
		r->fb->ops->fail(r->fb, key, threshold, base_us, max_us, now);
}

static void rd_clear(struct pos_rl_backend *b, uint64_t key)
{
	struct rl_redis *r = (struct rl_redis *)b;
	int64_t out[1];
	if (!run(r, key, "clear", 0, NULL, 0, 0, out, 1))
		r->fb->ops->clear(r->fb, key);
}

static int64_t rd_reserve(struct pos_rl_backend *b, uint64_t key, unsigned threshold,
			  int64_t base_us, int64_t max_us, int64_t now, int64_t *prev_until)
{
	struct rl_redis *r = (struct rl_redis *)b;
	int64_t args[3] = {threshold, base_us, max_us}, out[2];
	if (!run(r, key, "reserve", 3, args, 0, 0, out, 2))
		return r->fb->ops->reserve(r->fb, key, threshold, base_us, max_us, now,
					   prev_until);
	*prev_until = out[1];
	return out[0];
}

static void rd_unfail(struct pos_rl_backend *b, uint64_t key, int64_t prev_until)
{
	struct rl_redis *r = (struct rl_redis *)b;
	int64_t args[1] = {prev_until}, out[1];
	if (!run(r, key, "unfail", 1, args, 0, 0, out, 1))
		r->fb->ops->unfail(r->fb, key, prev_until);
}

static void rd_destroy(struct pos_rl_backend *b)
{
	struct rl_redis *r = (struct rl_redis *)b;
	if (!r)
		return;
	if (r->fb)
		r->fb->ops->destroy(r->fb);
	pos_free(r);
}

static const struct pos_rl_backend_ops redis_ops = {
	.take = rd_take, .locked = rd_locked, .fail = rd_fail, .clear = rd_clear,
	.reserve = rd_reserve, .unfail = rd_unfail, .destroy = rd_destroy,
};

struct pos_rl_backend *pos_rl_redis_new(struct pos_cache *cache,
					struct pos_rl_backend *fallback)
{
	struct rl_redis *r = pos_calloc(1, sizeof(*r));
	if (!r) {
		if (fallback)
			fallback->ops->destroy(fallback);
		return NULL;
	}
	r->base.ops = &redis_ops;
	r->cache = cache;
	r->fb = fallback;
	return &r->base;
}
