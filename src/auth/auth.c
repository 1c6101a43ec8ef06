/*
 * auth.c — registration, login, token issue and verification.
 */
#include "auth/auth.h"
#include "auth/password_policy.h"

#include <ctype.h>
#include <string.h>
#include <unistd.h>

#include "assistant/persona.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/uuid.h"

#include <pthread.h>

#include "base/alloc.h"
#include "cache/redis.h"
#include <sodium.h>

#define ACCESS_PREFIX "pos_at."
#define REFRESH_PREFIX "pos_rt."
#define PAT_PREFIX "pos_pat."
#define INVITE_PREFIX "pos_inv."
/* A token's last use is written at most this often (µs). */
#define PAT_TOUCH_EVERY 60000000
#define TOKEN_VERSION 1
#define PAYLOAD_SIZE (1 + 16 + 16 + 8 + 8)

struct session_entry {
	char session_id[POS_UUID_SIZE];
	char user_id[POS_UUID_SIZE];
	int64_t valid_until; /* monotonic µs */
};

struct pos_session_cache {
	pthread_mutex_t lock[POS_SESSION_CACHE_STRIPES];
	struct session_entry slot[POS_SESSION_CACHE_SLOTS];
};

static size_t session_slot(const char *sid)
{
	uint64_t h = 1469598103934665603ull;
	for (; *sid; sid++)
		h = (h ^ (unsigned char)*sid) * 1099511628211ull;
	return (size_t)(h % POS_SESSION_CACHE_SLOTS);
}

static pthread_mutex_t *session_lock(struct pos_session_cache *c, size_t slot)
{
	return &c->lock[slot % POS_SESSION_CACHE_STRIPES];
}

static bool session_cached(struct pos_session_cache *c, const char *sid,
			   const char *uid)
{
	size_t i = session_slot(sid);
	pthread_mutex_lock(session_lock(c, i));
	const struct session_entry *e = &c->slot[i];
	bool hit = strcmp(e->session_id, sid) == 0 && strcmp(e->user_id, uid) == 0 &&
		   e->valid_until > pos_mono_us();
	pthread_mutex_unlock(session_lock(c, i));
	return hit;
}

static void session_remember(struct pos_session_cache *c, const char *sid,
			     const char *uid)
{
	size_t i = session_slot(sid);
	pthread_mutex_lock(session_lock(c, i));
	struct session_entry *e = &c->slot[i];
	memcpy(e->session_id, sid, POS_UUID_SIZE);
	memcpy(e->user_id, uid, POS_UUID_SIZE);
	e->valid_until = pos_mono_us() + POS_SESSION_CACHE_TTL_US;
	pthread_mutex_unlock(session_lock(c, i));
}

/* Drops every cached session of `uid` (revocation of all of them). */
static void session_forget_user(struct pos_session_cache *c, const char *uid)
{
	for (size_t i = 0; i < POS_SESSION_CACHE_SLOTS; i++) {
		pthread_mutex_lock(session_lock(c, i));
		if (strcmp(c->slot[i].user_id, uid) == 0)
			memset(&c->slot[i], 0, sizeof(c->slot[i]));
		pthread_mutex_unlock(session_lock(c, i));
	}
}

/* The password-hash gate (pos_auth_gate_enter). */
struct pos_pw_gate {
	pthread_mutex_t lock;
	pthread_cond_t freed;
	unsigned active, waiting;
	unsigned max_active, max_waiting;
};

static void session_forget(struct pos_session_cache *c, const char *sid)
{
	size_t i = session_slot(sid);
	pthread_mutex_lock(session_lock(c, i));
	if (strcmp(c->slot[i].session_id, sid) == 0)
		memset(&c->slot[i], 0, sizeof(c->slot[i]));
	pthread_mutex_unlock(session_lock(c, i));
}

/* ---- the shared token cache (pos_auth_use_cache) ---- */

#define TOKEN_KEY_SIZE 48
#define USER_SET_KEY_SIZE 64
#define SESSION_VALUE_SIZE (2 * POS_UUID_SIZE + 1)

/* SET the token's key, add it to the user's set (for revocation) —
 * unless a revocation of the session landed since this instance read the
 * store (the tombstones revoke_script leaves for as long as an entry
 * could live). ARGV[4] is the session id. */
static const char remember_script[] =
	"if redis.call('EXISTS', 'pos:rev:' .. ARGV[4]) == 1 then return 0 end\n"
	"local keep = redis.call('GET', KEYS[3])\n"
	"if keep and keep ~= ARGV[4] then return 0 end\n"
	"redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
	"redis.call('SADD', KEYS[2], ARGV[3])\n"
	"if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then\n"
	"  redis.call('PEXPIRE', KEYS[2], ARGV[2])\n"
	"end\n"
	"return 0\n";
/* Deletes the user's cached tokens of session ARGV[2] ('one'), or of
 * every session but ARGV[2] ('allbut'); members are "SID KEY". */
static const char revoke_script[] =
	"local n = 0\n"
	"for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
	"  local sid, key = string.match(m, '^(%S+) (%S+)$')\n"
	"  if sid and ((ARGV[1] == 'one') == (sid == ARGV[2])) then\n"
	"    redis.call('DEL', key)\n"
	"    redis.call('SREM', KEYS[1], m)\n"
	"    n = n + 1\n"
	"  end\n"
	"end\n"
	"if ARGV[1] == 'one' then\n"
	"  redis.call('SET', 'pos:rev:' .. ARGV[2], '1', 'PX', ARGV[3])\n"
	"else\n"
	"  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])\n"
	"end\n"
	"return n\n";

/* The cache key of a token: a hash of it, never the token. */
static void token_key(const char *token, size_t len, char out[TOKEN_KEY_SIZE])
{
	uint8_t h[POS_HASH_SIZE];
	pos_hash(h, token, len);
	memcpy(out, "pos:tok:", 8);
	sodium_bin2hex(out + 8, TOKEN_KEY_SIZE - 8, h, 16);
}

static void user_set_key(const char *uid, char out[USER_SET_KEY_SIZE])
{
	snprintf(out, USER_SET_KEY_SIZE, "pos:utok:%s", uid);
}

/* POS_OK when the shared cache holds this token as verified for (uid,
 * sid), POS_ERR_NOT_FOUND when not, POS_ERR_UNAVAILABLE when it cannot say. */
static enum pos_err shared_cached(const struct pos_auth *a, const char *key, const char *uid,
				  const char *sid)
{
	char want[SESSION_VALUE_SIZE], got[SESSION_VALUE_SIZE];
	size_t n = 0;
	int w = snprintf(want, sizeof(want), "%s %s", uid, sid);
	enum pos_err rc = pos_cache_get(a->cache, key, got, sizeof(got), &n);
	if (rc)
		return rc;
	return (size_t)w == n && memcmp(want, got, n) == 0 ? POS_OK : POS_ERR_NOT_FOUND;
}

static void shared_remember(const struct pos_auth *a, const char *key, const char *uid,
			    const char *sid, int64_t expires_us)
{
	int64_t ttl = (expires_us - pos_now_us()) / 1000;
	if (ttl > POS_TOKEN_CACHE_TTL_MS)
		ttl = POS_TOKEN_CACHE_TTL_MS;
	if (ttl <= 0)
		return;
	char set[USER_SET_KEY_SIZE], keep[USER_SET_KEY_SIZE], val[SESSION_VALUE_SIZE],
		ttls[24], member[POS_UUID_SIZE + TOKEN_KEY_SIZE + 1];
	user_set_key(uid, set);
	snprintf(keep, sizeof(keep), "pos:ukeep:%s", uid);
	snprintf(val, sizeof(val), "%s %s", uid, sid);
	snprintf(ttls, sizeof(ttls), "%lld", (long long)ttl);
	snprintf(member, sizeof(member), "%s %s", sid, key);
	const char *argv[] = {key, set, keep, val, ttls, member, sid};
	int64_t out[POS_CACHE_REPLY_MAX];
	size_t n;
	(void)pos_cache_eval(a->cache, remember_script, 3, 7, argv, out, &n);
}

/* Deletes the shared entries of session `sid` of `uid` ("one"), or of
 * all its sessions but `sid` ("allbut"; sid "-" for none kept), and tells
 * every instance to drop them from its in-process cache. */
static void shared_revoke(const struct pos_auth *a, const char *mode, const char *uid,
			  const char *sid)
{
	if (!a->cache)
		return;
	char set[USER_SET_KEY_SIZE], keep[USER_SET_KEY_SIZE], ttl[16],
		msg[16 + 2 * POS_UUID_SIZE];
	user_set_key(uid, set);
	snprintf(keep, sizeof(keep), "pos:ukeep:%s", uid);
	snprintf(ttl, sizeof(ttl), "%d", POS_TOKEN_CACHE_TTL_MS + 1000);
	const char *argv[] = {set, keep, mode, sid, ttl};
	int64_t out[POS_CACHE_REPLY_MAX];
	size_t n;
	pos_cache_retry_now(a->cache); /* a revocation is worth a try even now */
	if (pos_cache_eval(a->cache, revoke_script, 2, 5, argv, out, &n))
		pos_warn("auth: a revocation could not reach the shared cache; other instances may accept the session up to %d s",
			 POS_TOKEN_CACHE_TTL_MS / 1000);
	int len = snprintf(msg, sizeof(msg), "%s %s %s", mode, uid, sid);
	(void)pos_cache_publish(a->cache, POS_AUTH_REVOKE_CHANNEL, msg, (size_t)len);
}

/* A revocation published by any instance: drop it from this one. */
static void on_revoke(void *ctx, const char *msg, size_t len)
{
	struct pos_auth *a = ctx;
	char buf[16 + 2 * POS_UUID_SIZE], mode[8], uid[POS_UUID_SIZE], sid[POS_UUID_SIZE];
	if (len >= sizeof(buf))
		return;
	memcpy(buf, msg, len);
	buf[len] = '\0';
	if (sscanf(buf, "%7s %36s %36s", mode, uid, sid) != 3)
		return;
	if (strcmp(mode, "one") == 0)
		session_forget(a->sessions, sid);
	else
		session_forget_user(a->sessions, uid);
}

enum pos_err pos_auth_use_cache(struct pos_auth *a, struct pos_cache *cache)
{
	enum pos_err rc = pos_cache_subscribe(cache, POS_AUTH_REVOKE_CHANNEL, on_revoke, a);
	if (!rc)
		a->cache = cache;
	return rc;
}

enum pos_err pos_auth_init(struct pos_auth *a, struct pos_store *s,
			   const struct pos_config *cfg, struct pos_error *err)
{
	memset(a, 0, sizeof(*a));
	a->sessions = pos_calloc(1, sizeof(*a->sessions));
	if (!a->sessions)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	for (int i = 0; i < POS_SESSION_CACHE_STRIPES; i++)
		pthread_mutex_init(&a->sessions->lock[i], NULL);
	a->gate = pos_calloc(1, sizeof(*a->gate));
	if (!a->gate)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	pthread_mutex_init(&a->gate->lock, NULL);
	pthread_cond_init(&a->gate->freed, NULL);
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	a->gate->max_active = cfg->argon2_concurrency ? cfg->argon2_concurrency
				: cores > 0 ? (unsigned)cores : 1;
	a->gate->max_waiting = cfg->argon2_queue;
	snprintf(a->registration, sizeof(a->registration), "%s", cfg->registration);
	a->quota_default[POS_QUOTA_MEMORIES] = cfg->quota_memories;
	a->quota_default[POS_QUOTA_BYTES] = cfg->quota_bytes;
	a->quota_default[POS_QUOTA_SOURCES] = cfg->quota_sources;
	a->quota_default[POS_QUOTA_TOKENS] = cfg->quota_tokens;
	a->store = s;
	a->access_ttl_us = cfg->access_token_ttl_s * 1000000;
	a->refresh_ttl_us = cfg->refresh_token_ttl_s * 1000000;
	a->pwhash_ops = cfg->pwhash_opslimit;
	a->pwhash_mem_kib = cfg->pwhash_memlimit_kib;
	enum pos_err rc = s->ops->server_key(s, "access_token_mac", a->mac_key,
					     sizeof(a->mac_key));
	if (rc)
		return pos_error_set(err, rc, NULL, "cannot load the token key");
	return POS_OK;
}

void pos_auth_fini(struct pos_auth *a)
{
	pos_wipe(a->mac_key, sizeof(a->mac_key));
	if (a->sessions) {
		for (int i = 0; i < POS_SESSION_CACHE_STRIPES; i++)
			pthread_mutex_destroy(&a->sessions->lock[i]);
		pos_free(a->sessions);
		a->sessions = NULL;
	}
	if (a->gate) {
		pthread_mutex_destroy(&a->gate->lock);
		pthread_cond_destroy(&a->gate->freed);
		pos_free(a->gate);
		a->gate = NULL;
	}
}

enum pos_err pos_auth_gate_enter(const struct pos_auth *a)
{
	struct pos_pw_gate *g = a->gate;
	pthread_mutex_lock(&g->lock);
	if (g->active >= g->max_active) {
		if (g->waiting >= g->max_waiting) {
			pthread_mutex_unlock(&g->lock);
			return POS_ERR_BUSY;
		}
		g->waiting++;
		while (g->active >= g->max_active)
			pthread_cond_wait(&g->freed, &g->lock);
		g->waiting--;
	}
	g->active++;
	pthread_mutex_unlock(&g->lock);
	return POS_OK;
}

void pos_auth_gate_leave(const struct pos_auth *a)
{
	struct pos_pw_gate *g = a->gate;
	pthread_mutex_lock(&g->lock);
	g->active--;
	pthread_cond_signal(&g->freed);
	pthread_mutex_unlock(&g->lock);
}

enum pos_err pos_auth_revoke_user(const struct pos_auth *a, const char *user_id,
				  const char *except_session, bool api_tokens,
				  int64_t *n_sessions, int64_t *n_tokens)
{
	enum pos_err rc = a->store->accounts->user_revoke_all(a->store, user_id, except_session,
							 api_tokens, pos_now_us(),
							 n_sessions, n_tokens);
	/* Even on failure: what was committed must stop working now. */
	session_forget_user(a->sessions, user_id);
	shared_revoke(a, "allbut", user_id, except_session ? except_session : "-");
	return rc;
}

const char *pos_quota_name(enum pos_quota q)
{
	static const char *const names[POS_QUOTA__COUNT] = {"memories", "bytes", "sources",
							    "tokens"};
	return (unsigned)q < POS_QUOTA__COUNT ? names[q] : "unknown";
}

void pos_auth_quota_limits(const struct pos_auth *a, const struct pos_user *u,
			   int64_t limit[POS_QUOTA__COUNT])
{
	for (int i = 0; i < POS_QUOTA__COUNT; i++)
		limit[i] = u->quota[i] >= 0 ? u->quota[i] : a->quota_default[i];
}

enum pos_err pos_auth_quota_check(const struct pos_auth *a, struct pos_arena *ar,
				  const char *user_id,
				  const int64_t add[POS_QUOTA__COUNT],
				  struct pos_error *err)
{
	struct pos_user u;
	struct pos_usage use;
	enum pos_err rc = a->store->accounts->user_by_id(a->store, ar, user_id, &u);
	if (!rc)
		rc = a->store->accounts->user_usage(a->store, user_id, &use);
	if (rc)
		return pos_error_set(err, rc == POS_ERR_NOT_FOUND ? POS_ERR_UNAUTHORIZED : rc,
				     NULL, NULL);
	int64_t limit[POS_QUOTA__COUNT];
	pos_auth_quota_limits(a, &u, limit);
	for (int i = 0; i < POS_QUOTA__COUNT; i++) {
		if (add[i] <= 0 || limit[i] <= 0)
			continue;
		if (add[i] > limit[i] || use.n[i] > limit[i] - add[i])
			return pos_error_set(err, POS_ERR_QUOTA_EXCEEDED, pos_quota_name(i),
					     "quota exceeded: %s (limit %lld, in use %lld, adding %lld)",
					     pos_quota_name(i), (long long)limit[i],
					     (long long)use.n[i], (long long)add[i]);
	}
	return POS_OK;
}

enum pos_err pos_auth_invite_create(const struct pos_auth *a, const char *created_by,
				    const char *email, int64_t ttl_s,
				    struct pos_invite *out, char *code,
				    struct pos_error *err)
{
	char norm[256];
	memset(out, 0, sizeof(*out));
	if (email) {
		enum pos_err rc = pos_auth_normalize_email(email, norm, sizeof(norm), err);
		if (rc)
			return rc;
		out->email = norm;
	}
	if (ttl_s < 1 || ttl_s > 90LL * 86400)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "expires_in",
				     "expires_in must be 1 to 7776000 seconds");
	if (!pos_uuid_new(out->id))
		return pos_error_set(err, POS_ERR_INTERNAL, NULL, NULL);
	snprintf(out->created_by, sizeof(out->created_by), "%s", created_by ? created_by : "");
	out->created_at = pos_now_us();
	out->expires_at = out->created_at + ttl_s * 1000000;
	out->used_at = POS_TIME_NONE;
	uint8_t raw[24], hash[POS_HASH_SIZE];
	pos_random(raw, sizeof(raw));
	size_t o = (size_t)snprintf(code, POS_INVITE_CODE_MAX, INVITE_PREFIX);
	pos_b64_encode(code + o, POS_INVITE_CODE_MAX - o, raw, sizeof(raw));
	pos_wipe(raw, sizeof(raw));
	pos_hash(hash, code, strlen(code));
	enum pos_err rc = a->store->accounts->invite_create(a->store, out, hash);
	out->email = NULL; /* `norm` is ours; the caller re-reads if it needs it */
	if (rc)
		return pos_error_set(err, rc, NULL, NULL);
	return POS_OK;
}

enum pos_err pos_auth_registration(const struct pos_auth *a, const char **mode)
{
	if (a->registration[0]) {
		*mode = a->registration;
		return POS_OK;
	}
	int64_t users = 0, admins = 0;
	enum pos_err rc = a->store->accounts->user_counts(a->store, &users, &admins);
	if (rc)
		return rc;
	*mode = users == 0 ? "open" : "invite";
	return POS_OK;
}

enum pos_err pos_auth_normalize_email(const char *in, char *out, size_t cap,
				      struct pos_error *err)
{
	while (*in == ' ' || *in == '\t')
		in++;
	size_t n = strlen(in);
	while (n && (in[n - 1] == ' ' || in[n - 1] == '\t'))
		n--;
	if (n == 0 || n > 254 || n + 1 > cap)
		goto bad;
	size_t at = n, ats = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == ',' ||
		    c == ';' || c == '"' || c == '\\')
			goto bad;
		if (c == '@') {
			ats++;
			at = i;
		}
		out[i] = (char)(c < 0x80 ? tolower(c) : c);
	}
	out[n] = '\0';
	if (ats != 1 || at == 0 || at > 64 || at + 1 >= n)
		goto bad;
	const char *domain = out + at + 1;
	const char *dot = strchr(domain, '.');
	if (!dot || domain[0] == '.' || out[n - 1] == '.' || strstr(domain, ".."))
		goto bad;
	return POS_OK;
bad:
	return pos_error_set(err, POS_ERR_INVALID_EMAIL, "email",
			     "not a valid email address");
}

enum pos_err pos_auth_check_password(const char *pw, size_t len,
				     struct pos_error *err)
{
	return pos_password_policy_check(pw, len, NULL, err);
}

static void put64(unsigned char *p, int64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)(v & 0xff);
}

static int64_t get64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return (int64_t)v;
}

static enum pos_err issue(const struct pos_auth *a, const char *user_id,
			  const char *session_id, int64_t now,
			  struct pos_tokens *t)
{
	unsigned char payload[PAYLOAD_SIZE];
	payload[0] = TOKEN_VERSION;
	pos_uuid_to_bytes(user_id, payload + 1);
	pos_uuid_to_bytes(session_id, payload + 17);
	put64(payload + 33, now);
	put64(payload + 41, now + a->access_ttl_us);
	uint8_t mac[POS_MAC_SIZE];
	pos_mac(mac, payload, sizeof(payload), a->mac_key);
	size_t o = (size_t)snprintf(t->access, sizeof(t->access), ACCESS_PREFIX);
	o += pos_b64_encode(t->access + o, sizeof(t->access) - o, payload, sizeof(payload));
	t->access[o++] = '.';
	o += pos_b64_encode(t->access + o, sizeof(t->access) - o, mac, sizeof(mac));
	if (o >= sizeof(t->access))
		return POS_ERR_INTERNAL;
	t->expires_in_s = a->access_ttl_us / 1000000;
	return POS_OK;
}

static void new_refresh(struct pos_tokens *t, uint8_t hash[POS_HASH_SIZE])
{
	uint8_t secret[32];
	pos_random(secret, sizeof(secret));
	size_t o = (size_t)snprintf(t->refresh, sizeof(t->refresh), REFRESH_PREFIX);
	pos_b64_encode(t->refresh + o, sizeof(t->refresh) - o, secret, sizeof(secret));
	pos_wipe(secret, sizeof(secret));
	pos_hash(hash, t->refresh, strlen(t->refresh));
}

static enum pos_err start_session(const struct pos_auth *a, const char *user_id,
				  int64_t now, struct pos_tokens *t)
{
	char sid[POS_UUID_SIZE];
	uint8_t hash[POS_HASH_SIZE];
	if (!pos_uuid_new(sid))
		return POS_ERR_INTERNAL;
	new_refresh(t, hash);
	enum pos_err rc = a->store->accounts->session_create(a->store, sid, user_id, now, hash,
						   now + a->refresh_ttl_us);
	if (rc)
		return rc;
	return issue(a, user_id, sid, now, t);
}

enum pos_err pos_auth_register(const struct pos_auth *a, struct pos_arena *ar,
			       const char *email, const char *password,
			       size_t password_len, const char *full_name,
			       const struct pos_register_opts *opts,
			       struct pos_user *user, struct pos_tokens *tokens,
			       struct pos_error *err)
{
	static const struct pos_register_opts none = {0};
	if (!opts)
		opts = &none;
	char norm[256];
	char hash[POS_PWHASH_SIZE];
	uint8_t invite_hash[POS_HASH_SIZE];
	bool invited = false;
	enum pos_err rc;
	if (!opts->by_operator) {
		const char *mode;
		if ((rc = pos_auth_registration(a, &mode)))
			return pos_error_set(err, rc, NULL, NULL);
		if (strcmp(mode, "closed") == 0)
			return pos_error_set(err, POS_ERR_REGISTRATION_CLOSED, NULL, NULL);
		const char *code = opts->invite_code;
		size_t clen = code ? strlen(code) : 0;
		/* open: an invite is optional, but one given must be valid (an
		 * invite bound to the email vouches for it: pending shares) */
		if (strcmp(mode, "invite") == 0 || clen) {
			if (!clen)
				return pos_error_set(err, POS_ERR_INVITE_REQUIRED, "invite_code", NULL);
			if (clen >= POS_INVITE_CODE_MAX)
				return pos_error_set(err, POS_ERR_INVALID_INVITE, "invite_code", NULL);
			pos_hash(invite_hash, code, clen);
			invited = true;
		}
	}
	if ((rc = pos_auth_normalize_email(email, norm, sizeof(norm), err)))
		return rc;
	if ((rc = pos_auth_check_password(password, password_len, err)))
		return rc;
	if (full_name && strlen(full_name) > 200)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "full_name",
				     "full_name must be at most 200 bytes");
	/* Cheap checks before the expensive hash. With an invite, its
	 * validity is checked before the email, so only an invited person
	 * learns that an email is taken. */
	int64_t now = pos_now_us();
	if (invited && (rc = a->store->accounts->invite_valid(a->store, invite_hash, norm, now)))
		return pos_error_set(err, rc, rc == POS_ERR_INVALID_INVITE ? "invite_code" : NULL,
				     NULL);
	struct pos_user existing;
	if (!invited) {
		rc = a->store->accounts->user_by_email(a->store, ar, norm, &existing);
		if (rc == POS_OK)
			return pos_error_set(err, POS_ERR_EMAIL_TAKEN, "email", NULL);
		if (rc != POS_ERR_NOT_FOUND)
			return pos_error_set(err, rc, NULL, NULL);
	}
	if ((rc = pos_password_hash(password, password_len, a->pwhash_ops,
				    a->pwhash_mem_kib, hash)))
		return pos_error_set(err, rc, NULL, "cannot hash the password");
	memset(user, 0, sizeof(*user));
	if (!pos_uuid_new(user->id))
		return pos_error_set(err, POS_ERR_INTERNAL, NULL, NULL);
	user->email = pos_arena_strdup(ar, norm);
	user->password_hash = pos_arena_strdup(ar, hash);
	user->full_name = full_name ? pos_arena_strdup(ar, full_name) : NULL;
	user->avatar_url = NULL;
	user->privacy_tier = "local";
	user->plan = "free";
	user->persona_json = pos_persona_default_json();
	user->settings_json = "{}";
	user->memory_count = 0;
	user->created_at = now;
	user->last_login_at = tokens ? now : POS_TIME_NONE;
	user->role = opts->role;
	user->disabled_at = POS_TIME_NONE;
	for (int i = 0; i < POS_QUOTA__COUNT; i++)
		user->quota[i] = -1;
	pos_wipe(hash, sizeof(hash));
	if (!user->email || !user->password_hash || (full_name && !user->full_name))
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	if ((rc = a->store->accounts->user_register(a->store, user, invited ? invite_hash : NULL,
					       opts->by_operator, now)))
		return pos_error_set(err, rc, rc == POS_ERR_EMAIL_TAKEN ? "email"
				     : rc == POS_ERR_INVALID_INVITE ? "invite_code" : NULL, NULL);
	if (tokens && (rc = start_session(a, user->id, now, tokens)))
		return pos_error_set(err, rc, NULL, NULL);
	return POS_OK;
}

enum pos_err pos_auth_check_password_of(const struct pos_auth *a, struct pos_arena *ar,
					const char *user_id, const char *password,
					size_t password_len, struct pos_error *err)
{
	struct pos_user user;
	enum pos_err rc = a->store->accounts->user_by_id(a->store, ar, user_id, &user);
	if (rc)
		return pos_error_set(err, rc, NULL, NULL);
	if (password_len > 1024 ||
	    !pos_password_verify(user.password_hash, password, password_len))
		return pos_error_set(err, POS_ERR_BAD_CREDENTIALS, "password", "wrong password");
	return POS_OK;
}

enum pos_err pos_auth_login(const struct pos_auth *a, struct pos_arena *ar,
			    const char *email, const char *password,
			    size_t password_len, struct pos_user *user,
			    struct pos_tokens *tokens, struct pos_error *err)
{
	char norm[256];
	enum pos_err rc;
	bool ok = false;
	if (pos_auth_normalize_email(email, norm, sizeof(norm), NULL) == POS_OK &&
	    password_len <= 1024) {
		rc = a->store->accounts->user_by_email(a->store, ar, norm, user);
		if (rc == POS_OK) {
			ok = pos_password_verify(user->password_hash, password, password_len);
		} else if (rc == POS_ERR_NOT_FOUND) {
			/* Spend the same work as a real check, so response time
			 * does not tell which emails have accounts. */
			char dummy[POS_PWHASH_SIZE];
			pos_password_hash(password, password_len, a->pwhash_ops,
					  a->pwhash_mem_kib, dummy);
		} else {
			return pos_error_set(err, rc, NULL, NULL);
		}
	}
	if (!ok)
		return pos_error_set(err, POS_ERR_BAD_CREDENTIALS, NULL, NULL);
	/* Said only to someone who knows the password. */
	if (user->disabled_at != POS_TIME_NONE)
		return pos_error_set(err, POS_ERR_ACCOUNT_DISABLED, NULL, NULL);
	int64_t now = pos_now_us();
	if ((rc = a->store->accounts->user_set_login(a->store, user->id, now)))
		return pos_error_set(err, rc, NULL, NULL);
	user->last_login_at = now;
	if ((rc = start_session(a, user->id, now, tokens)))
		return pos_error_set(err, rc, NULL, NULL);
	return POS_OK;
}

enum pos_err pos_auth_refresh(const struct pos_auth *a, struct pos_arena *ar,
			      const char *refresh_token, struct pos_user *user,
			      struct pos_tokens *tokens, struct pos_error *err)
{
	size_t len = strlen(refresh_token);
	if (len < sizeof(REFRESH_PREFIX) || len >= POS_REFRESH_TOKEN_MAX ||
	    memcmp(refresh_token, REFRESH_PREFIX, sizeof(REFRESH_PREFIX) - 1) != 0)
		return pos_error_set(err, POS_ERR_BAD_TOKEN, "refresh_token", NULL);
	uint8_t old_hash[POS_HASH_SIZE], new_hash[POS_HASH_SIZE];
	pos_hash(old_hash, refresh_token, len);
	new_refresh(tokens, new_hash);
	int64_t now = pos_now_us();
	struct pos_principal p;
	p.session_id[0] = '\0';
	enum pos_err rc = a->store->accounts->refresh_rotate(a->store, old_hash, new_hash,
						   now + a->refresh_ttl_us, now,
						   p.user_id, p.session_id);
	/* A reused token revokes its session in the store: drop it here too. */
	if (rc == POS_ERR_BAD_TOKEN && p.session_id[0]) {
		session_forget(a->sessions, p.session_id);
		if (p.user_id[0])
			shared_revoke(a, "one", p.user_id, p.session_id);
	}
	if (rc)
		return pos_error_set(err, rc, rc == POS_ERR_BAD_TOKEN ? "refresh_token" : NULL,
				     NULL);
	if ((rc = a->store->accounts->user_by_id(a->store, ar, p.user_id, user)))
		return pos_error_set(err, rc == POS_ERR_NOT_FOUND ? POS_ERR_BAD_TOKEN : rc,
				     NULL, NULL);
	if ((rc = issue(a, p.user_id, p.session_id, now, tokens)))
		return pos_error_set(err, rc, NULL, NULL);
	return POS_OK;
}

enum pos_err pos_auth_new_session(const struct pos_auth *a, struct pos_arena *ar,
				  const char *user_id, struct pos_user *user,
				  struct pos_tokens *tokens, struct pos_error *err)
{
	enum pos_err rc = a->store->accounts->user_by_id(a->store, ar, user_id, user);
	if (!rc && user->disabled_at != POS_TIME_NONE)
		rc = POS_ERR_ACCOUNT_DISABLED;
	if (!rc)
		rc = start_session(a, user_id, pos_now_us(), tokens);
	return rc ? pos_error_set(err, rc, NULL, NULL) : POS_OK;
}

enum pos_err pos_auth_logout(const struct pos_auth *a,
			     const struct pos_principal *p)
{
	enum pos_err rc = a->store->accounts->session_revoke(a->store, p->session_id,
						    pos_now_us());
	session_forget(a->sessions, p->session_id);
	shared_revoke(a, "one", p->user_id, p->session_id);
	return rc;
}

enum pos_err pos_auth_token_create(const struct pos_auth *a, const char *user_id,
				   const char *name, bool read_only,
				   struct pos_api_token *out, char *secret,
				   struct pos_error *err)
{
	size_t nlen = name ? strlen(name) : 0;
	if (!nlen || nlen > POS_API_TOKEN_NAME_MAX)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "name",
				     "name must be a string of 1 to 100 bytes");
	for (size_t i = 0; i < nlen; i++)
		if ((unsigned char)name[i] < 0x20)
			return pos_error_set(err, POS_ERR_INVALID_FIELD, "name",
					     "name must not hold control characters");
	memset(out, 0, sizeof(*out));
	if (!pos_uuid_new(out->id))
		return pos_error_set(err, POS_ERR_INTERNAL, NULL, NULL);
	snprintf(out->user_id, sizeof(out->user_id), "%s", user_id);
	out->name = name;
	out->read_only = read_only;
	out->created_at = pos_now_us();
	out->last_used_at = POS_TIME_NONE;
	uint8_t raw[32], hash[POS_HASH_SIZE];
	pos_random(raw, sizeof(raw));
	size_t o = (size_t)snprintf(secret, POS_API_TOKEN_MAX, PAT_PREFIX);
	pos_b64_encode(secret + o, POS_API_TOKEN_MAX - o, raw, sizeof(raw));
	pos_wipe(raw, sizeof(raw));
	pos_hash(hash, secret, strlen(secret));
	enum pos_err rc = a->store->accounts->token_create(a->store, out, hash);
	return rc ? pos_error_set(err, rc, NULL, NULL) : POS_OK;
}

/* A personal API token: one indexed lookup by its hash. */
static enum pos_err verify_pat(const struct pos_auth *a, const char *token, size_t len,
			       struct pos_principal *out)
{
	if (len >= POS_API_TOKEN_MAX)
		return POS_ERR_UNAUTHORIZED;
	uint8_t hash[POS_HASH_SIZE];
	pos_hash(hash, token, len);
	struct pos_api_token t;
	enum pos_err rc = a->store->accounts->token_lookup(a->store, hash, &t);
	if (rc)
		return rc == POS_ERR_NOT_FOUND ? POS_ERR_UNAUTHORIZED : rc;
	memset(out, 0, sizeof(*out));
	memcpy(out->user_id, t.user_id, POS_UUID_SIZE);
	out->personal = true;
	out->read_only = t.read_only;
	int64_t now = pos_now_us();
	if (t.last_used_at == POS_TIME_NONE || now - t.last_used_at > PAT_TOUCH_EVERY)
		a->store->accounts->token_touch(a->store, t.id, now);
	return POS_OK;
}

enum pos_err pos_auth_verify(const struct pos_auth *a, const char *token,
			     size_t len, struct pos_principal *out)
{
	if (len > sizeof(PAT_PREFIX) - 1 &&
	    memcmp(token, PAT_PREFIX, sizeof(PAT_PREFIX) - 1) == 0)
		return verify_pat(a, token, len, out);
	out->personal = false;
	out->read_only = false;
	const size_t plen = sizeof(ACCESS_PREFIX) - 1;
	if (len <= plen || len >= POS_ACCESS_TOKEN_MAX ||
	    memcmp(token, ACCESS_PREFIX, plen) != 0)
		return POS_ERR_UNAUTHORIZED;
	const char *body = token + plen;
	const char *dot = memchr(body, '.', len - plen);
	if (!dot)
		return POS_ERR_UNAUTHORIZED;
	unsigned char payload[PAYLOAD_SIZE + 1];
	uint8_t mac[POS_MAC_SIZE + 1];
	long pn = pos_b64_decode(payload, sizeof(payload), body, (size_t)(dot - body));
	long mn = pos_b64_decode(mac, sizeof(mac), dot + 1,
				 len - plen - (size_t)(dot - body) - 1);
	if (pn != PAYLOAD_SIZE || mn != POS_MAC_SIZE || payload[0] != TOKEN_VERSION)
		return POS_ERR_UNAUTHORIZED;
	if (!pos_mac_verify(mac, payload, PAYLOAD_SIZE, a->mac_key))
		return POS_ERR_UNAUTHORIZED;
	int64_t expires = get64(payload + 41);
	if (expires <= pos_now_us())
		return POS_ERR_UNAUTHORIZED;
	pos_uuid_from_bytes(payload + 1, out->user_id);
	pos_uuid_from_bytes(payload + 17, out->session_id);
	/* With a shared cache, it decides (a revocation on any instance
	 * deletes its entry before the revoking request answers); this
	 * process's cache only stands in while Redis cannot answer. */
	char key[TOKEN_KEY_SIZE];
	enum pos_err shared = POS_ERR_UNAVAILABLE;
	if (a->cache) {
		token_key(token, len, key);
		shared = shared_cached(a, key, out->user_id, out->session_id);
		if (shared == POS_OK)
			return POS_OK;
	}
	if (shared == POS_ERR_UNAVAILABLE &&
	    session_cached(a->sessions, out->session_id, out->user_id))
		return POS_OK;
	enum pos_err rc = a->store->accounts->session_check(a->store, out->session_id,
						  out->user_id);
	if (rc == POS_ERR_NOT_FOUND)
		return POS_ERR_UNAUTHORIZED;
	if (rc == POS_OK) {
		session_remember(a->sessions, out->session_id, out->user_id);
		if (shared == POS_ERR_NOT_FOUND)
			shared_remember(a, key, out->user_id, out->session_id, expires);
	}
	return rc;
}
