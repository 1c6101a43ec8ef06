/*
 * ratelimit.c — token buckets and login lockout; the in-process counter
 * backend. See ratelimit.h for the contract and docs/SECURITY.md for the
 * defaults and their reasons.
 */
#include "http/ratelimit.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include "base/alloc.h"
#include "cache/redis.h"

#define WAYS 4

/* One key's state: a bucket, a failure count, or both (different kinds
 * of key never share an entry: the kind is hashed into the key). */
struct rl_entry {
	uint64_t key;          /* 0: empty */
	int64_t last_us;       /* last refill or failure */
	double tokens;
	uint32_t failures;
	int64_t locked_until;
};

struct rl_set {
	atomic_flag busy;
	struct rl_entry e[WAYS];
};

struct rl_memory {
	struct pos_rl_backend base;
	size_t nsets;          /* a power of two */
	struct rl_set *sets;
};

static void set_lock(struct rl_set *s)
{
	while (atomic_flag_test_and_set_explicit(&s->busy, memory_order_acquire))
		; /* held for a few dozen instructions: spin */
}

static void set_unlock(struct rl_set *s)
{
	atomic_flag_clear_explicit(&s->busy, memory_order_release);
}

/* The entry for `key` in its set, taking over the least recently touched
 * one when absent (*fresh tells). */
static struct rl_entry *find(struct rl_memory *m, uint64_t key, bool create,
			     struct rl_set **set, bool *fresh)
{
	struct rl_set *s = &m->sets[key & (m->nsets - 1)];
	set_lock(s);
	*set = s;
	*fresh = false;
	/* Evict an entry without failures before one with: a flood of new
	 * addresses (plain buckets) must not push a lockout out of the table
	 * while a set still holds a bucket it can drop instead. */
	struct rl_entry *victim = &s->e[0];
	for (int i = 0; i < WAYS; i++) {
		struct rl_entry *e = &s->e[i];
		if (e->key == key)
			return e;
		bool e_fail = e->failures != 0, v_fail = victim->failures != 0;
		if (e_fail < v_fail || (e_fail == v_fail && e->last_us < victim->last_us))
			victim = e;
	}
	if (!create)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	victim->key = key;
	*fresh = true;
	return victim;
}

static bool mem_take(struct pos_rl_backend *b, uint64_t key, double rate,
		     double burst, int64_t now, int64_t *wait_us)
{
	struct rl_memory *m = (struct rl_memory *)b;
	struct rl_set *s;
	bool fresh;
	struct rl_entry *e = find(m, key, true, &s, &fresh);
	if (fresh) {
		e->tokens = burst;
	} else if (now > e->last_us) {
		e->tokens += (double)(now - e->last_us) * rate / 1e6;
		if (e->tokens > burst)
			e->tokens = burst;
	}
	if (now > e->last_us || fresh)
		e->last_us = now;
	bool ok = e->tokens >= 1.0;
	if (ok)
		e->tokens -= 1.0;
	else
		*wait_us = (int64_t)ceil((1.0 - e->tokens) * 1e6 / rate);
	set_unlock(s);
	return ok;
}

static int64_t mem_locked(struct pos_rl_backend *b, uint64_t key, int64_t now)
{
	struct rl_memory *m = (struct rl_memory *)b;
	struct rl_set *s;
	bool fresh;
	struct rl_entry *e = find(m, key, false, &s, &fresh);
	int64_t left = e && e->locked_until > now ? e->locked_until - now : 0;
	set_unlock(s);
	return left;
}

/* Counts one failure in `e` (the set locked), locking it at `threshold`. */
static void count_failure(struct rl_entry *e, bool fresh, unsigned threshold,
			  int64_t base_us, int64_t max_us, int64_t now)
{
	if (!fresh && now - e->last_us > max_us)
		e->failures = 0; /* quiet long enough: start over */
	if (e->failures < UINT32_MAX)
		e->failures++;
	e->last_us = now;
	if (threshold && e->failures >= threshold) {
		unsigned shift = e->failures - threshold;
		int64_t d = base_us;
		while (shift-- && d < max_us)
			d *= 2;
		if (d > max_us)
			d = max_us;
		e->locked_until = now + d;
	}
}

static void mem_fail(struct pos_rl_backend *b, uint64_t key, unsigned threshold,
		     int64_t base_us, int64_t max_us, int64_t now)
{
	struct rl_memory *m = (struct rl_memory *)b;
	struct rl_set *s;
	bool fresh;
	struct rl_entry *e = find(m, key, true, &s, &fresh);
	count_failure(e, fresh, threshold, base_us, max_us, now);
	set_unlock(s);
}

static int64_t mem_reserve(struct pos_rl_backend *b, uint64_t key, unsigned threshold,
			   int64_t base_us, int64_t max_us, int64_t now, int64_t *prev_until)
{
	struct rl_memory *m = (struct rl_memory *)b;
	struct rl_set *s;
	bool fresh;
	struct rl_entry *e = find(m, key, true, &s, &fresh);
	int64_t left = e->locked_until > now ? e->locked_until - now : 0;
	*prev_until = e->locked_until;
	if (!left)
		count_failure(e, fresh, threshold, base_us, max_us, now);
	set_unlock(s);
	return left;
}

static void mem_unfail(struct pos_rl_backend *b, uint64_t key, int64_t prev_until)
{
	struct rl_memory *m = (struct rl_memory *)b;
	struct rl_set *s;
	bool fresh;
	struct rl_entry *e = find(m, key, false, &s, &fresh);
	if (e) {
		if (e->failures)
			e->failures--;
		/* only the lock this reservation set goes; a later one stays */
		if (e->locked_until > prev_until)
			e->locked_until = prev_until;
	}
	set_unlock(s);
}

static void mem_clear(struct pos_rl_backend *b, uint64_t key)
{
	struct rl_memory *m = (struct rl_memory *)b;
	struct rl_set *s;
	bool fresh;
	struct rl_entry *e = find(m, key, false, &s, &fresh);
	if (e) {
		e->failures = 0;
		e->locked_until = 0;
	}
	set_unlock(s);
}

static void mem_destroy(struct pos_rl_backend *b)
{
	struct rl_memory *m = (struct rl_memory *)b;
	if (!m)
		return;
	pos_free(m->sets);
	pos_free(m);
}

static const struct pos_rl_backend_ops memory_ops = {
	.take = mem_take, .locked = mem_locked, .fail = mem_fail, .clear = mem_clear,
	.reserve = mem_reserve, .unfail = mem_unfail, .destroy = mem_destroy,
};

struct pos_rl_backend *pos_rl_memory_new(size_t slots)
{
	size_t nsets = 16;
	while (nsets * WAYS < slots && nsets < ((size_t)1 << 24))
		nsets *= 2;
	struct rl_memory *m = pos_calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->base.ops = &memory_ops;
	m->nsets = nsets;
	m->sets = pos_calloc(nsets, sizeof(*m->sets));
	if (!m->sets) {
		pos_free(m);
		return NULL;
	}
	for (size_t i = 0; i < nsets; i++)
		atomic_flag_clear(&m->sets[i].busy);
	return &m->base;
}

/* ---- policy ---- */

enum key_kind { K_IP = 'i', K_USER = 'u', K_AUTH = 'a', K_FAIL_IP = 'f', K_FAIL_ACCT = 'e' };

#define SHARED_KEY "pos:rl:hkey"

/* With a cache: reads the instances' shared SipHash key, writing a random
 * one first when none is there (SET NX, so the first instance decides). */
static void fetch_shared_key(struct pos_ratelimit *rl)
{
	static const char script[] =
		"redis.call('SET', KEYS[1], ARGV[1], 'NX')\n"
		"local v = redis.call('GET', KEYS[1])\n"
		"local out = {}\n"
		"for i = 1, 4 do\n"
		"  out[i] = tonumber(string.sub(v, i * 8 - 7, i * 8), 16)\n"
		"end\n"
		"return out\n";
	uint8_t mine[16];
	char hex[33];
	randombytes_buf(mine, sizeof(mine));
	sodium_bin2hex(hex, sizeof(hex), mine, sizeof(mine));
	const char *argv[] = {SHARED_KEY, hex};
	int64_t out[POS_CACHE_REPLY_MAX];
	size_t n = 0;
	bool idle = false;
	if (!atomic_compare_exchange_strong(&rl->shared_fetching, &idle, true))
		return; /* another thread is at it */
	if (atomic_load(&rl->shared_ready) ||
	    pos_cache_eval(rl->cache, script, 1, 2, argv, out, &n) || n != 4) {
		atomic_store(&rl->shared_fetching, false);
		return;
	}
	for (int i = 0; i < 4; i++) {
		uint32_t w = (uint32_t)out[i];
		rl->shared_hkey[i * 4] = (uint8_t)(w >> 24);
		rl->shared_hkey[i * 4 + 1] = (uint8_t)(w >> 16);
		rl->shared_hkey[i * 4 + 2] = (uint8_t)(w >> 8);
		rl->shared_hkey[i * 4 + 3] = (uint8_t)w;
	}
	atomic_store_explicit(&rl->shared_ready, true, memory_order_release);
}

static uint64_t hkey(struct pos_ratelimit *rl, char kind, const void *id,
		     size_t len)
{
	const uint8_t *key = rl->hkey;
	if (rl->cache) {
		/* racing fetches write the same bytes (Redis holds one key) */
		if (!atomic_load_explicit(&rl->shared_ready, memory_order_acquire))
			fetch_shared_key(rl);
		if (atomic_load_explicit(&rl->shared_ready, memory_order_acquire))
			key = rl->shared_hkey;
	}
	unsigned char buf[256 + 1];
	if (len > sizeof(buf) - 1)
		len = sizeof(buf) - 1;
	buf[0] = (unsigned char)kind;
	memcpy(buf + 1, id, len);
	unsigned char out[crypto_shorthash_BYTES];
	crypto_shorthash(out, buf, len + 1, key);
	uint64_t k;
	memcpy(&k, out, sizeof(k));
	return k ? k : 1; /* 0 marks an empty entry */
}

enum pos_err pos_rl_init(struct pos_ratelimit *rl, const struct pos_config *cfg)
{
	memset(rl, 0, sizeof(*rl));
	rl->enabled = cfg->rate_limit;
	rl->rate[POS_RL_IP] = cfg->rl_ip_rate;
	rl->burst[POS_RL_IP] = cfg->rl_ip_burst;
	rl->rate[POS_RL_USER] = cfg->rl_user_rate;
	rl->burst[POS_RL_USER] = cfg->rl_user_burst;
	rl->rate[POS_RL_AUTH] = cfg->rl_auth_per_min / 60.0;
	rl->burst[POS_RL_AUTH] = cfg->rl_auth_burst;
	rl->fail_account = cfg->login_fail_account;
	rl->fail_ip = cfg->login_fail_ip;
	rl->lockout_base_us = (int64_t)cfg->login_lockout_base_s * 1000000;
	rl->lockout_max_us = (int64_t)cfg->login_lockout_max_s * 1000000;
	if (rl->lockout_max_us < rl->lockout_base_us)
		rl->lockout_max_us = rl->lockout_base_us;
	randombytes_buf(rl->hkey, sizeof(rl->hkey));
	rl->be = pos_rl_memory_new(cfg->rl_slots);
	return rl->be ? POS_OK : POS_ERR_NOMEM;
}

enum pos_err pos_rl_use_cache(struct pos_ratelimit *rl, struct pos_cache *cache)
{
	struct pos_rl_backend *be = pos_rl_redis_new(cache, rl->be);
	rl->be = be;
	if (!be)
		return POS_ERR_NOMEM;
	rl->cache = cache;
	return POS_OK;
}

void pos_rl_fini(struct pos_ratelimit *rl)
{
	if (rl->be)
		rl->be->ops->destroy(rl->be);
	rl->be = NULL;
}

void pos_rl_client_from_sockaddr(struct pos_rl_client *c, const void *sa)
{
	memset(c, 0, sizeof(*c));
	if (!sa)
		return;
	sa_family_t fam;
	memcpy(&fam, (const char *)sa + offsetof(struct sockaddr, sa_family), sizeof(fam));
	if (fam == AF_INET) {
		struct sockaddr_in in;
		memcpy(&in, sa, sizeof(in));
		memcpy(c->addr, &in.sin_addr, 4);
		c->len = 4;
	} else if (fam == AF_INET6) {
		struct sockaddr_in6 in6;
		memcpy(&in6, sa, sizeof(in6));
		if (IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr)) {
			memcpy(c->addr, in6.sin6_addr.s6_addr + 12, 4);
			c->len = 4;
		} else {
			memcpy(c->addr, in6.sin6_addr.s6_addr, 8);
			c->len = 8;
		}
	}
}

bool pos_rl_client_from_forwarded(struct pos_rl_client *c, const char *xff)
{
	if (!xff)
		return false;
	/* The right-most element: the address our proxy saw. */
	const char *end = xff + strlen(xff);
	while (end > xff && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	const char *start = end;
	while (start > xff && start[-1] != ',')
		start--;
	while (start < end && (*start == ' ' || *start == '\t'))
		start++;
	size_t n = (size_t)(end - start);
	char buf[INET6_ADDRSTRLEN + 1];
	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, start, n);
	buf[n] = '\0';
	uint8_t a[16];
	if (inet_pton(AF_INET, buf, a) == 1) {
		memset(c, 0, sizeof(*c));
		memcpy(c->addr, a, 4);
		c->len = 4;
		return true;
	}
	if (inet_pton(AF_INET6, buf, a) == 1) {
		memset(c, 0, sizeof(*c));
		static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		if (memcmp(a, mapped, 12) == 0) {
			memcpy(c->addr, a + 12, 4);
			c->len = 4;
		} else {
			memcpy(c->addr, a, 8);
			c->len = 8;
		}
		return true;
	}
	return false;
}

static unsigned wait_s(int64_t us)
{
	int64_t s = (us + 999999) / 1000000;
	return s < 1 ? 1 : s > 86400 ? 86400 : (unsigned)s;
}

unsigned pos_rl_check(struct pos_ratelimit *rl, enum pos_rl_class cls,
		      const void *id, size_t len, int64_t now_us)
{
	if (!rl->enabled || !rl->be || (unsigned)cls > POS_RL_AUTH || rl->rate[cls] <= 0)
		return 0;
	static const char kinds[] = {K_IP, K_USER, K_AUTH};
	uint64_t k = hkey(rl, kinds[cls], id, len);
	int64_t wait = 0;
	if (rl->be->ops->take(rl->be, k, rl->rate[cls], rl->burst[cls], now_us, &wait))
		return 0;
	return wait_s(wait);
}

unsigned pos_rl_login_locked(struct pos_ratelimit *rl, const struct pos_rl_client *c,
			     const char *email, int64_t now_us)
{
	if (!rl->enabled || !rl->be)
		return 0;
	int64_t left = 0;
	if (rl->fail_account && email)
		left = rl->be->ops->locked(rl->be, hkey(rl, K_FAIL_ACCT, email, strlen(email)),
					   now_us);
	if (rl->fail_ip && c->len) {
		int64_t l2 = rl->be->ops->locked(rl->be, hkey(rl, K_FAIL_IP, c->addr, c->len),
						 now_us);
		if (l2 > left)
			left = l2;
	}
	return left > 0 ? wait_s(left) : 0;
}

void pos_rl_login_result(struct pos_ratelimit *rl, const struct pos_rl_client *c,
			 const char *email, bool ok, int64_t now_us)
{
	if (!rl->enabled || !rl->be)
		return;
	uint64_t acct = email ? hkey(rl, K_FAIL_ACCT, email, strlen(email)) : 0;
	if (ok) {
		if (acct)
			rl->be->ops->clear(rl->be, acct);
		return;
	}
	if (acct && rl->fail_account)
		rl->be->ops->fail(rl->be, acct, rl->fail_account, rl->lockout_base_us,
				  rl->lockout_max_us, now_us);
	if (c->len && rl->fail_ip)
		rl->be->ops->fail(rl->be, hkey(rl, K_FAIL_IP, c->addr, c->len), rl->fail_ip,
				  rl->lockout_base_us, rl->lockout_max_us, now_us);
}

unsigned pos_rl_login_reserve(struct pos_ratelimit *rl, const struct pos_rl_client *c,
			      const char *email, int64_t now_us,
			      struct pos_rl_reservation *res)
{
	memset(res, 0, sizeof(*res));
	if (!rl->enabled || !rl->be)
		return 0;
	uint64_t acct = email && rl->fail_account
		? hkey(rl, K_FAIL_ACCT, email, strlen(email)) : 0;
	int64_t left = 0, acct_prev = 0;
	if (acct)
		left = rl->be->ops->reserve(rl->be, acct, rl->fail_account, rl->lockout_base_us,
					    rl->lockout_max_us, now_us, &acct_prev);
	if (left)
		return wait_s(left);
	if (c->len && rl->fail_ip) {
		left = rl->be->ops->reserve(rl->be, hkey(rl, K_FAIL_IP, c->addr, c->len),
					    rl->fail_ip, rl->lockout_base_us,
					    rl->lockout_max_us, now_us, &res->ip_prev_until);
		if (left) {
			if (acct)
				rl->be->ops->unfail(rl->be, acct, acct_prev);
			return wait_s(left);
		}
		res->ip = true;
	}
	return 0;
}

void pos_rl_login_release(struct pos_ratelimit *rl, const struct pos_rl_client *c,
			  const char *email, const struct pos_rl_reservation *res, bool ok)
{
	if (!rl->enabled || !rl->be || !ok)
		return;
	if (email && rl->fail_account)
		rl->be->ops->clear(rl->be, hkey(rl, K_FAIL_ACCT, email, strlen(email)));
	if (res->ip && c->len)
		rl->be->ops->unfail(rl->be, hkey(rl, K_FAIL_IP, c->addr, c->len),
				    res->ip_prev_until);
}
