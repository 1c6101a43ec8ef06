/*
 * auth.c — registration, login, token issue and verification.
 */
#include "auth/auth.h"
#include "auth/password_policy.h"

#include <ctype.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/uuid.h"

#include <pthread.h>

#include "base/alloc.h"

#define ACCESS_PREFIX "pos_at."
#define REFRESH_PREFIX "pos_rt."
#define PAT_PREFIX "pos_pat."
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

static void session_forget(struct pos_session_cache *c, const char *sid)
{
	size_t i = session_slot(sid);
	pthread_mutex_lock(session_lock(c, i));
	if (strcmp(c->slot[i].session_id, sid) == 0)
		memset(&c->slot[i], 0, sizeof(c->slot[i]));
	pthread_mutex_unlock(session_lock(c, i));
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
	enum pos_err rc = a->store->ops->session_create(a->store, sid, user_id, now, hash,
						   now + a->refresh_ttl_us);
	if (rc)
		return rc;
	return issue(a, user_id, sid, now, t);
}

enum pos_err pos_auth_register(const struct pos_auth *a, struct pos_arena *ar,
			       const char *email, const char *password,
			       size_t password_len, const char *full_name,
			       struct pos_user *user, struct pos_tokens *tokens,
			       struct pos_error *err)
{
	char norm[256];
	char hash[POS_PWHASH_SIZE];
	enum pos_err rc = pos_auth_normalize_email(email, norm, sizeof(norm), err);
	if (rc)
		return rc;
	if ((rc = pos_auth_check_password(password, password_len, err)))
		return rc;
	if (full_name && strlen(full_name) > 200)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "full_name",
				     "full_name must be at most 200 bytes");
	/* Cheap duplicate check before the expensive hash. */
	struct pos_user existing;
	rc = a->store->ops->user_by_email(a->store, ar, norm, &existing);
	if (rc == POS_OK)
		return pos_error_set(err, POS_ERR_EMAIL_TAKEN, "email", NULL);
	if (rc != POS_ERR_NOT_FOUND)
		return pos_error_set(err, rc, NULL, NULL);
	if ((rc = pos_password_hash(password, password_len, a->pwhash_ops,
				    a->pwhash_mem_kib, hash)))
		return pos_error_set(err, rc, NULL, "cannot hash the password");
	int64_t now = pos_now_us();
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
	pos_wipe(hash, sizeof(hash));
	if (!user->email || !user->password_hash || (full_name && !user->full_name))
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	if ((rc = a->store->ops->user_create(a->store, user)))
		return pos_error_set(err, rc, rc == POS_ERR_EMAIL_TAKEN ? "email" : NULL, NULL);
	if (tokens && (rc = start_session(a, user->id, now, tokens)))
		return pos_error_set(err, rc, NULL, NULL);
	return POS_OK;
}

enum pos_err pos_auth_check_password_of(const struct pos_auth *a, struct pos_arena *ar,
					const char *user_id, const char *password,
					size_t password_len, struct pos_error *err)
{
	struct pos_user user;
	enum pos_err rc = a->store->ops->user_by_id(a->store, ar, user_id, &user);
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
		rc = a->store->ops->user_by_email(a->store, ar, norm, user);
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
	int64_t now = pos_now_us();
	if ((rc = a->store->ops->user_set_login(a->store, user->id, now)))
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
	enum pos_err rc = a->store->ops->refresh_rotate(a->store, old_hash, new_hash,
						   now + a->refresh_ttl_us, now,
						   p.user_id, p.session_id);
	/* A reused token revokes its session in the store: drop it here too. */
	if (rc == POS_ERR_BAD_TOKEN && p.session_id[0])
		session_forget(a->sessions, p.session_id);
	if (rc)
		return pos_error_set(err, rc, rc == POS_ERR_BAD_TOKEN ? "refresh_token" : NULL,
				     NULL);
	if ((rc = a->store->ops->user_by_id(a->store, ar, p.user_id, user)))
		return pos_error_set(err, rc == POS_ERR_NOT_FOUND ? POS_ERR_BAD_TOKEN : rc,
				     NULL, NULL);
	if ((rc = issue(a, p.user_id, p.session_id, now, tokens)))
		return pos_error_set(err, rc, NULL, NULL);
	return POS_OK;
}

enum pos_err pos_auth_logout(const struct pos_auth *a,
			     const struct pos_principal *p)
{
	enum pos_err rc = a->store->ops->session_revoke(a->store, p->session_id,
						    pos_now_us());
	session_forget(a->sessions, p->session_id);
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
	enum pos_err rc = a->store->ops->token_create(a->store, out, hash);
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
	enum pos_err rc = a->store->ops->token_lookup(a->store, hash, &t);
	if (rc)
		return rc == POS_ERR_NOT_FOUND ? POS_ERR_UNAUTHORIZED : rc;
	memset(out, 0, sizeof(*out));
	memcpy(out->user_id, t.user_id, POS_UUID_SIZE);
	out->personal = true;
	out->read_only = t.read_only;
	int64_t now = pos_now_us();
	if (t.last_used_at == POS_TIME_NONE || now - t.last_used_at > PAT_TOUCH_EVERY)
		a->store->ops->token_touch(a->store, t.id, now);
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
	if (get64(payload + 41) <= pos_now_us())
		return POS_ERR_UNAUTHORIZED;
	pos_uuid_from_bytes(payload + 1, out->user_id);
	pos_uuid_from_bytes(payload + 17, out->session_id);
	if (session_cached(a->sessions, out->session_id, out->user_id))
		return POS_OK;
	enum pos_err rc = a->store->ops->session_check(a->store, out->session_id,
						  out->user_id);
	if (rc == POS_ERR_NOT_FOUND)
		return POS_ERR_UNAUTHORIZED;
	if (rc == POS_OK)
		session_remember(a->sessions, out->session_id, out->user_id);
	return rc;
}
