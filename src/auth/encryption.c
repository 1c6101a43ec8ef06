/*
 * encryption.c — the encryption-at-rest service: key material life cycle
 * and the background pass (see encryption.h, docs/ENCRYPTION.md).
 */
#include "auth/encryption.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth.h"
#include "base/clock.h"
#include "base/log.h"
#include "crypto/crypto.h"
#include "jobs/jobs.h"
#include "search/engine.h"
#include "store/crypt_store.h"

#define RECOVERY_LABEL "personalos recovery key v1"
#define REFRESH_LABEL "personalos refresh token dek v1"
#define BATCH 64

static void ad_of(char *ad, size_t cap, const char *kind, const char *user_id)
{
	snprintf(ad, cap, "%s|%s", kind, user_id);
}

static bool parse_kdf(const char *kdf, unsigned long long *ops, unsigned long long *mem)
{
	if (!kdf || strncmp(kdf, "argon2id13:", 11) != 0)
		return false;
	char *end;
	errno = 0;
	*ops = strtoull(kdf + 11, &end, 10);
	if (errno || *end != ':')
		return false;
	*mem = strtoull(end + 1, &end, 10);
	return !errno && *end == '\0' && *ops > 0 && *mem > 0;
}

/* KEK of the user's password from the stored salt and parameters. */
static enum pos_err password_kek(const struct pos_user_crypt *uc, const char *pw,
				 size_t len, uint8_t kek[POS_KEK_SIZE])
{
	unsigned long long ops, mem;
	if (!uc->salt || uc->salt_len != POS_KDF_SALT_SIZE || !parse_kdf(uc->kdf, &ops, &mem))
		return POS_ERR_CORRUPT;
	return pos_kek_from_password(pw, len, uc->salt, ops, mem, kek);
}

enum pos_err pos_encsvc_init(struct pos_encsvc *svc, const struct pos_config *cfg)
{
	memset(svc, 0, sizeof(*svc));
	if (!(svc->kr = pos_keyring_new()))
		return POS_ERR_NOMEM;
	svc->kdf_ops = svc->pw_ops = cfg->pwhash_opslimit;
	svc->kdf_mem_kib = svc->pw_mem_kib = cfg->pwhash_memlimit_kib;
	svc->share_unlock = cfg->encryption_share_unlock;
	return POS_OK;
}

/* Queues the background pass that seals the user's plain memories. */
static void queue_seal(struct pos_encsvc *svc, const char *user_id)
{
	enum pos_err rc = svc->jobs ? pos_jobs_enqueue(svc->jobs, "encryption", user_id, NULL, 0,
							NULL)
				    : POS_ERR_UNAVAILABLE;
	if (rc)
		pos_error_log("crypt: cannot queue the sealing pass (%s); it runs at the next login",
			      pos_strerror(rc));
}

/* Expired or used refresh tokens must not keep a key wrap their secret
 * would still open: swept at start and then every SWEEP_US. */
#define SWEEP_US (600 * 1000000LL)

static void sweep(struct pos_encsvc *svc)
{
	int64_t n = 0;
	if (svc->store->keys->refresh_wraps_sweep(svc->store, pos_now_us(), &n))
		pos_error_log("crypt: sweeping refresh-token key wraps failed");
	else if (n)
		pos_info("crypt: dropped %lld key wraps of expired refresh tokens", (long long)n);
}

static void sweep_tick(void *ctx)
{
	sweep(ctx);
}

static enum pos_err seal_user(struct pos_encsvc *svc, const char *user_id,
			      struct pos_job_run *r, size_t *done);

/* The background pass of one user (kind "encryption"): seals what is still
 * plain, batch by batch, then turns the state to "on". Without the key
 * (not unlocked since the restart) it waits for the next login, which
 * queues it again. */
static enum pos_err run_seal(struct pos_job_run *r, void *ctx, const char *user_id,
			     const char *payload_json)
{
	(void)payload_json;
	struct pos_encsvc *svc = ctx;
	if (pos_keyring_state(svc->kr, user_id) != POS_KEYSTATE_SEALING)
		return pos_job_set_result(r, "{\"sealed\":0,\"waiting\":"
					     "\"nothing to seal now, or the key is locked until the next login\"}");
	size_t done = 0;
	enum pos_err rc = seal_user(svc, user_id, r, &done);
	char res[64];
	snprintf(res, sizeof(res), "{\"sealed\":%zu}", done);
	pos_job_set_result(r, res);
	return rc;
}

static const struct pos_job_kind kind_seal = {
	.name = "encryption", .max_attempts = 10, .backoff_us = 5000000,
	.serial_per_user = true, .user_cancellable = false, .run = run_seal};

enum pos_err pos_encsvc_start(struct pos_encsvc *svc, struct pos_store *store,
			      struct pos_search *search, struct pos_jobs *jobs)
{
	svc->store = store;
	svc->search = search;
	enum pos_err rc = pos_jobs_register(jobs, &kind_seal, svc);
	if (!rc)
		rc = pos_jobs_every(jobs, SWEEP_US, sweep_tick, svc);
	if (!rc)
		svc->jobs = jobs;
	return rc;
}

void pos_encsvc_fini(struct pos_encsvc *svc)
{
	svc->jobs = NULL;
	pos_keyring_free(svc->kr);
	svc->kr = NULL;
}

/* The other instances, if any, drop what they hold of the user's key. */
static void relay(struct pos_encsvc *svc, const char *user_id)
{
	if (svc->relay)
		svc->relay(svc->relay_ctx, user_id, NULL);
}

/* With encryption_share_unlock: the other instances take the key too. */
static void relay_unlock(struct pos_encsvc *svc, const char *user_id,
			 const uint8_t dek[POS_DEK_SIZE])
{
	if (svc->relay && svc->share_unlock)
		svc->relay(svc->relay_ctx, user_id, dek);
}

/* Caches the DEK and the user's state as stored. */
static enum pos_err unlock_with(struct pos_encsvc *svc, const char *user_id,
				const char *state, const uint8_t dek[POS_DEK_SIZE])
{
	enum pos_err rc = pos_keyring_put(svc->kr, user_id, dek);
	if (!rc)
		pos_keyring_set_state(svc->kr, user_id,
				      strcmp(state, "on") == 0 ? POS_KEYSTATE_SEALED
							       : POS_KEYSTATE_SEALING);
	if (!rc && strcmp(state, "on") != 0)
		queue_seal(svc, user_id);
	if (!rc)
		relay_unlock(svc, user_id, dek);
	return rc;
}

/* Wraps the DEK for a refresh token and stores it with the token's row. */
static void bind_refresh(struct pos_encsvc *svc, const char *user_id,
			 const uint8_t dek[POS_DEK_SIZE], const char *token)
{
	uint8_t kek[POS_KEK_SIZE], wrap[POS_WRAP_SIZE], hash[POS_HASH_SIZE];
	char ad[64];
	ad_of(ad, sizeof(ad), "rt", user_id);
	pos_kek_from_secret(REFRESH_LABEL, token, strlen(token), kek);
	pos_key_wrap(kek, ad, dek, wrap);
	pos_hash(hash, token, strlen(token));
	if (svc->store->keys->refresh_wrap_put(svc->store, hash, wrap, sizeof(wrap)))
		pos_error_log("crypt: cannot bind the data key to a refresh token");
	pos_wipe(kek, sizeof(kek));
}

enum pos_err pos_encsvc_enable(struct pos_encsvc *svc, const char *user_id,
			       const char *password, size_t len,
			       char recovery_key[POS_RECOVERY_KEY_MAX],
			       struct pos_error *err)
{
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	uint8_t dek[POS_DEK_SIZE], kek[POS_KEK_SIZE], rkek[POS_KEK_SIZE];
	uint8_t salt[POS_KDF_SALT_SIZE], pw_wrap[POS_WRAP_SIZE], rk_wrap[POS_WRAP_SIZE];
	char kdf[64], ad[64];
	struct pos_user u;
	struct pos_user_crypt uc;
	enum pos_err rc = svc->store->accounts->user_by_id(svc->store, a, user_id, &u);
	if (!rc)
		rc = svc->store->keys->crypt_get(svc->store, a, user_id, &uc);
	if (rc) {
		pos_error_set(err, rc, NULL, NULL);
		goto out;
	}
	if (len > 1024 || !pos_password_verify(u.password_hash, password, len)) {
		rc = pos_error_set(err, POS_ERR_BAD_CREDENTIALS, "password", "wrong password");
		goto out;
	}
	if (strcmp(uc.state, "off") != 0) {
		rc = pos_error_set(err, POS_ERR_CONFLICT, NULL, "encryption is already enabled");
		goto out;
	}
	pos_random(dek, sizeof(dek));
	pos_random(salt, sizeof(salt));
	if ((rc = pos_kek_from_password(password, len, salt, svc->kdf_ops, svc->kdf_mem_kib,
					kek))) {
		pos_error_set(err, rc, NULL, "cannot derive the key");
		goto out;
	}
	ad_of(ad, sizeof(ad), "pw", user_id);
	pos_key_wrap(kek, ad, dek, pw_wrap);
	pos_recovery_key_new(recovery_key);
	pos_kek_from_secret(RECOVERY_LABEL, recovery_key, strlen(recovery_key), rkek);
	ad_of(ad, sizeof(ad), "rk", user_id);
	pos_key_wrap(rkek, ad, dek, rk_wrap);
	snprintf(kdf, sizeof(kdf), "argon2id13:%llu:%llu", svc->kdf_ops, svc->kdf_mem_kib);
	struct pos_user_crypt nc = {"encrypting", salt, sizeof(salt), kdf, pw_wrap,
				    sizeof(pw_wrap), rk_wrap, sizeof(rk_wrap)};
	/* The key is cached first: from the moment the state is stored, every
	 * new write is sealed. A write that slips in between is plain and the
	 * background pass seals it. */
	if ((rc = pos_keyring_put(svc->kr, user_id, dek))) {
		pos_error_set(err, rc, NULL, NULL);
		goto out;
	}
	rc = svc->store->keys->crypt_put(svc->store, user_id, &nc, NULL, "off");
	if (rc) {
		pos_keyring_evict(svc->kr, user_id);
		pos_error_set(err, rc, NULL,
			      rc == POS_ERR_CONFLICT ? "encryption is already enabled" : NULL);
		goto out;
	}
	pos_keyring_set_state(svc->kr, user_id, POS_KEYSTATE_SEALING);
	pos_info("crypt: encryption enabled for a user; sealing existing memories");
	queue_seal(svc, user_id);
	relay(svc, user_id); /* the others' cached "off" is stale */
	relay_unlock(svc, user_id, dek);
out:
	pos_wipe(dek, sizeof(dek));
	pos_wipe(kek, sizeof(kek));
	pos_wipe(rkek, sizeof(rkek));
	if (rc)
		pos_wipe(recovery_key, POS_RECOVERY_KEY_MAX);
	pos_arena_destroy(a);
	return rc;
}

void pos_encsvc_on_login(struct pos_encsvc *svc, const char *user_id,
			 const char *password, size_t len, const char *refresh_token)
{
	struct pos_arena *a = pos_arena_new();
	struct pos_user_crypt uc;
	if (!a || svc->store->keys->crypt_get(svc->store, a, user_id, &uc) ||
	    strcmp(uc.state, "off") == 0) {
		pos_arena_destroy(a);
		return;
	}
	uint8_t dek[POS_DEK_SIZE], kek[POS_KEK_SIZE];
	char ad[64];
	if (!pos_keyring_get(svc->kr, user_id, NULL, dek)) {
		ad_of(ad, sizeof(ad), "pw", user_id);
		if (password_kek(&uc, password, len, kek) ||
		    pos_key_unwrap(kek, ad, uc.pw_wrap, uc.pw_wrap_len, dek)) {
			pos_error_log("crypt: the data key of user %s did not unwrap at login",
				      user_id);
			goto out;
		}
	}
	if (!unlock_with(svc, user_id, uc.state, dek) && refresh_token)
		bind_refresh(svc, user_id, dek, refresh_token);
out:
	pos_wipe(dek, sizeof(dek));
	pos_wipe(kek, sizeof(kek));
	pos_arena_destroy(a);
}

void pos_encsvc_on_refresh(struct pos_encsvc *svc, const char *user_id,
			   const char *old_token, const char *new_token)
{
	struct pos_arena *a = pos_arena_new();
	struct pos_user_crypt uc;
	if (!a || svc->store->keys->crypt_get(svc->store, a, user_id, &uc) ||
	    strcmp(uc.state, "off") == 0) {
		pos_arena_destroy(a);
		return;
	}
	uint8_t dek[POS_DEK_SIZE], kek[POS_KEK_SIZE], hash[POS_HASH_SIZE];
	const uint8_t *wrap = NULL;
	size_t wlen = 0;
	char ad[64];
	pos_hash(hash, old_token, strlen(old_token));
	svc->store->keys->refresh_wrap_get(svc->store, a, hash, &wrap, &wlen);
	bool have = pos_keyring_get(svc->kr, user_id, NULL, dek);
	if (!have && wrap) {
		pos_kek_from_secret(REFRESH_LABEL, old_token, strlen(old_token), kek);
		ad_of(ad, sizeof(ad), "rt", user_id);
		have = pos_key_unwrap(kek, ad, wrap, wlen, dek) == POS_OK;
		if (!have)
			pos_error_log("crypt: a refresh-token key wrap of user %s did not open",
				      user_id);
	}
	/* The used token's wrap goes: it must not outlive its token. */
	if (wrap)
		svc->store->keys->refresh_wrap_put(svc->store, hash, NULL, 0);
	if (have && !unlock_with(svc, user_id, uc.state, dek))
		bind_refresh(svc, user_id, dek, new_token);
	pos_wipe(dek, sizeof(dek));
	pos_wipe(kek, sizeof(kek));
	pos_arena_destroy(a);
}

void pos_encsvc_lock(struct pos_encsvc *svc, const char *user_id)
{
	if (pos_keyring_evict(svc->kr, user_id) && svc->search)
		pos_search_forget_user(svc->search, user_id);
	relay(svc, user_id);
}

void pos_encsvc_set_sealer(struct pos_encsvc *svc,
			   enum pos_err (*fn)(void *ctx, const char *user_id,
					      struct pos_job_run *r),
			   void *ctx)
{
	svc->seal_more = fn;
	svc->seal_more_ctx = ctx;
}

void pos_encsvc_set_relay(struct pos_encsvc *svc,
			  void (*fn)(void *ctx, const char *user_id, const uint8_t *dek),
			  void *ctx)
{
	svc->relay = fn;
	svc->relay_ctx = ctx;
}

void pos_encsvc_adopt(struct pos_encsvc *svc, const char *user_id,
		      const uint8_t dek[POS_DEK_SIZE])
{
	struct pos_arena *a = pos_arena_new();
	struct pos_user_crypt uc;
	if (a && !svc->store->keys->crypt_get(svc->store, a, user_id, &uc) &&
	    strcmp(uc.state, "off") != 0 && !pos_keyring_put(svc->kr, user_id, dek))
		pos_keyring_set_state(svc->kr, user_id,
				      strcmp(uc.state, "on") == 0 ? POS_KEYSTATE_SEALED
								 : POS_KEYSTATE_SEALING);
	pos_arena_destroy(a);
}

void pos_encsvc_forget(struct pos_encsvc *svc, const char *user_id)
{
	bool had = pos_keyring_evict(svc->kr, user_id);
	/* read again from the store on next use: "off" may have become
	 * "encrypting" through another instance */
	pos_keyring_set_state(svc->kr, user_id, POS_KEYSTATE_UNKNOWN);
	if (had && svc->search)
		pos_search_forget_user(svc->search, user_id);
}

/* New salt and wrap of `dek` under `pw`, into nc (buffers the caller's). */
static enum pos_err rewrap(struct pos_encsvc *svc, const char *user_id,
			   const uint8_t dek[POS_DEK_SIZE], const char *pw, size_t len,
			   uint8_t salt[POS_KDF_SALT_SIZE], uint8_t wrap[POS_WRAP_SIZE],
			   char kdf[64], struct pos_user_crypt *nc)
{
	uint8_t kek[POS_KEK_SIZE];
	char ad[64];
	pos_random(salt, POS_KDF_SALT_SIZE);
	enum pos_err rc = pos_kek_from_password(pw, len, salt, svc->kdf_ops, svc->kdf_mem_kib, kek);
	if (rc)
		return rc;
	ad_of(ad, sizeof(ad), "pw", user_id);
	pos_key_wrap(kek, ad, dek, wrap);
	pos_wipe(kek, sizeof(kek));
	snprintf(kdf, 64, "argon2id13:%llu:%llu", svc->kdf_ops, svc->kdf_mem_kib);
	nc->salt = salt;
	nc->salt_len = POS_KDF_SALT_SIZE;
	nc->kdf = kdf;
	nc->pw_wrap = wrap;
	nc->pw_wrap_len = POS_WRAP_SIZE;
	return POS_OK;
}

enum pos_err pos_encsvc_change_password(struct pos_encsvc *svc, const char *user_id,
					const char *old_pw, size_t old_len,
					const char *new_pw, size_t new_len,
					struct pos_error *err)
{
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	uint8_t dek[POS_DEK_SIZE], kek[POS_KEK_SIZE], salt[POS_KDF_SALT_SIZE];
	uint8_t wrap[POS_WRAP_SIZE];
	char kdf[64], ad[64], hash[POS_PWHASH_SIZE];
	struct pos_user u;
	struct pos_user_crypt uc;
	enum pos_err rc = svc->store->accounts->user_by_id(svc->store, a, user_id, &u);
	if (!rc)
		rc = svc->store->keys->crypt_get(svc->store, a, user_id, &uc);
	if (rc) {
		pos_error_set(err, rc, NULL, NULL);
		goto out;
	}
	if (old_len > 1024 || !pos_password_verify(u.password_hash, old_pw, old_len)) {
		rc = pos_error_set(err, POS_ERR_BAD_CREDENTIALS, "old_password", "wrong password");
		goto out;
	}
	if ((rc = pos_auth_check_password(new_pw, new_len, err))) {
		snprintf(err->field, sizeof(err->field), "new_password");
		goto out;
	}
	if ((rc = pos_password_hash(new_pw, new_len, svc->pw_ops, svc->pw_mem_kib, hash))) {
		pos_error_set(err, rc, NULL, "cannot hash the password");
		goto out;
	}
	/* Only what changes is written: the state may move (encrypting → on)
	 * meanwhile, and must not be undone. */
	struct pos_user_crypt nc = {0};
	const char *expect = NULL;
	if (strcmp(uc.state, "off") == 0) {
		expect = "off"; /* a concurrent enable wins; this answers 409 */
	} else {
		/* Only the wrap changes: the data key, and so every sealed row,
		 * stays as it is. */
		ad_of(ad, sizeof(ad), "pw", user_id);
		if ((rc = password_kek(&uc, old_pw, old_len, kek)) ||
		    (rc = pos_key_unwrap(kek, ad, uc.pw_wrap, uc.pw_wrap_len, dek))) {
			pos_error_log("crypt: the data key of user %s did not unwrap", user_id);
			pos_error_set(err, POS_ERR_DECRYPT, NULL, NULL);
			goto out;
		}
		if ((rc = rewrap(svc, user_id, dek, new_pw, new_len, salt, wrap, kdf, &nc))) {
			pos_error_set(err, rc, NULL, NULL);
			goto out;
		}
	}
	if ((rc = svc->store->keys->crypt_put(svc->store, user_id, &nc, hash, expect))) {
		pos_error_set(err, rc, NULL, NULL);
		goto out;
	}
	if (strcmp(uc.state, "off") != 0) {
		/* unlocked here, where the password was given; the others
		 * lock, or take the key when unlocks are shared */
		if (!svc->share_unlock)
			relay(svc, user_id);
		unlock_with(svc, user_id, uc.state, dek);
	}
out:
	pos_wipe(dek, sizeof(dek));
	pos_wipe(kek, sizeof(kek));
	pos_wipe(hash, sizeof(hash));
	pos_arena_destroy(a);
	return rc;
}

enum pos_err pos_encsvc_recover(struct pos_encsvc *svc, const char *user_id,
				const char *recovery_key, size_t rk_len,
				const char *new_pw, size_t new_len,
				struct pos_error *err)
{
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	uint8_t dek[POS_DEK_SIZE], kek[POS_KEK_SIZE], salt[POS_KDF_SALT_SIZE];
	uint8_t wrap[POS_WRAP_SIZE];
	char kdf[64], ad[64], hash[POS_PWHASH_SIZE];
	struct pos_user_crypt uc;
	memset(dek, 0, sizeof(dek));
	memset(kek, 0, sizeof(kek));
	memset(hash, 0, sizeof(hash));
	enum pos_err rc = svc->store->keys->crypt_get(svc->store, a, user_id, &uc);
	if (rc) {
		/* unknown account: the same answer as a wrong key */
		rc = pos_error_set(err, rc == POS_ERR_NOT_FOUND ? POS_ERR_BAD_CREDENTIALS : rc,
				   NULL, NULL);
		goto out;
	}
	if (strcmp(uc.state, "off") == 0) {
		rc = pos_error_set(err, POS_ERR_CONFLICT, NULL, "encryption is not enabled");
		goto out;
	}
	ad_of(ad, sizeof(ad), "rk", user_id);
	pos_kek_from_secret(RECOVERY_LABEL, recovery_key, rk_len, kek);
	if (rk_len > 256 || pos_key_unwrap(kek, ad, uc.rk_wrap, uc.rk_wrap_len, dek)) {
		rc = pos_error_set(err, POS_ERR_BAD_CREDENTIALS, "recovery_key",
				   "wrong recovery key");
		goto out;
	}
	if ((rc = pos_auth_check_password(new_pw, new_len, err))) {
		snprintf(err->field, sizeof(err->field), "new_password");
		goto out;
	}
	struct pos_user_crypt nc = {0}; /* only the password wrap changes */
	if ((rc = pos_password_hash(new_pw, new_len, svc->pw_ops, svc->pw_mem_kib, hash)) ||
	    (rc = rewrap(svc, user_id, dek, new_pw, new_len, salt, wrap, kdf, &nc)) ||
	    (rc = svc->store->keys->crypt_put(svc->store, user_id, &nc, hash, NULL))) {
		pos_error_set(err, rc, NULL, NULL);
		goto out;
	}
	if (!svc->share_unlock)
		relay(svc, user_id); /* unlocked here only, where the recovery key was given */
	unlock_with(svc, user_id, uc.state, dek);
out:
	pos_wipe(dek, sizeof(dek));
	pos_wipe(kek, sizeof(kek));
	pos_wipe(hash, sizeof(hash));
	pos_arena_destroy(a);
	return rc;
}

enum pos_err pos_encsvc_status(struct pos_encsvc *svc, struct pos_arena *a,
			       const char *user_id, struct pos_enc_status *out)
{
	memset(out, 0, sizeof(*out));
	struct pos_user_crypt uc;
	enum pos_err rc = svc->store->keys->crypt_get(svc->store, a, user_id, &uc);
	if (rc)
		return rc;
	out->state = uc.state;
	out->enabled = strcmp(uc.state, "off") != 0;
	out->unlocked = out->enabled && pos_keyring_get(svc->kr, user_id, NULL, NULL);
	if (out->enabled)
		rc = svc->store->keys->crypt_progress(svc->store, user_id, &out->progress,
						     &out->total);
	return rc;
}

/* ---- the background pass ---- */

/* The tags of a row as an array (arena). */
static enum pos_err parse_tags(struct pos_arena *a, struct pos_memory *m)
{
	m->tags = NULL;
	m->n_tags = 0;
	json_t *j = json_loads(m->tags_json ? m->tags_json : "[]", 0, NULL);
	if (!json_is_array(j)) {
		json_decref(j);
		return POS_OK;
	}
	size_t n = json_array_size(j);
	const char **t = pos_arena_alloc(a, (n ? n : 1) * sizeof(*t));
	enum pos_err rc = t ? POS_OK : POS_ERR_NOMEM;
	for (size_t i = 0; !rc && i < n; i++) {
		const char *s = json_string_value(json_array_get(j, i));
		if (s && !(t[m->n_tags++] = pos_arena_strdup(a, s)))
			rc = POS_ERR_NOMEM;
	}
	m->tags = t;
	json_decref(j);
	return rc;
}

/* Seals every plain memory of the user; returns how many. */
/* Seals the user's plain memories; *done counts them. `r` (NULL: none) is
 * polled between batches. */
static enum pos_err seal_user(struct pos_encsvc *svc, const char *user_id,
			      struct pos_job_run *r, size_t *done_out)
{
	struct pos_userkeys k;
	*done_out = 0;
	if (!pos_keyring_get(svc->kr, user_id, &k, NULL))
		return POS_OK;
	size_t done = 0;
	int64_t after = 0;
	enum pos_err rc = POS_OK;
	for (;;) {
		struct pos_arena *a = pos_arena_new();
		if (!a)
			break;
		struct pos_memory *m = NULL;
		size_t n = 0;
		rc = svc->store->keys->crypt_plain_batch(svc->store, a, user_id, after, BATCH, &m, &n);
		for (size_t i = 0; !rc && i < n; i++) {
			after = m[i].seq;
			if (!(rc = parse_tags(a, &m[i])))
				rc = pos_crypt_seal_memory(svc->store, &k, a, &m[i]);
		}
		if (!rc && n)
			rc = svc->store->keys->crypt_seal_rows(svc->store, m, n);
		pos_arena_destroy(a);
		if (rc || n == 0)
			break;
		done += n;
		*done_out = done;
		if (r)
			pos_job_progress(r, done, 0);
		/* let the lock go between batches; stop quickly on shutdown */
		if (r && pos_job_should_stop(r))
			break;
	}
	/* then the plugins' kv values and log lines written while plain */
	if (!rc && !(r && pos_job_should_stop(r))) {
		size_t kv = 0;
		rc = pos_crypt_seal_plugin_data(svc->store, &k, user_id, &kv);
	}
	pos_wipe(&k, sizeof(k));
	/* then the files stored while plain (the blob store's) */
	if (!rc && svc->seal_more && !(r && pos_job_should_stop(r)))
		rc = svc->seal_more(svc->seal_more_ctx, user_id, r);
	if (rc) {
		pos_error_log("crypt: sealing the memories of user %s failed (%s); retrying",
			      user_id, pos_strerror(rc));
		return rc;
	}
	if (r && pos_job_should_stop(r))
		return POS_OK; /* the next attempt goes on */
	int64_t sealed = 0, total = -1;
	struct pos_arena *a = pos_arena_new();
	struct pos_user_crypt uc;
	if (a && !svc->store->keys->crypt_progress(svc->store, user_id, &sealed, &total) &&
	    sealed == total && !svc->store->keys->crypt_get(svc->store, a, user_id, &uc) &&
	    strcmp(uc.state, "encrypting") == 0) {
		struct pos_user_crypt nc = {.state = "on"}; /* the rest is kept */
		if (!svc->store->keys->crypt_put(svc->store, user_id, &nc, NULL, "encrypting")) {
			pos_keyring_set_state(svc->kr, user_id, POS_KEYSTATE_SEALED);
			/* Merge the index and truncate the WAL, so the replaced
			 * plaintext leaves the files. */
			if (svc->store->ops->compact(svc->store))
				pos_error_log("crypt: compaction after sealing failed");
			pos_info("crypt: all memories of a user are sealed (%lld)",
				 (long long)total);
		}
	}
	pos_arena_destroy(a);
	return POS_OK;
}

size_t pos_encsvc_work(struct pos_encsvc *svc)
{
	char ids[64][POS_UUID_SIZE];
	size_t n = pos_keyring_unlocked(svc->kr, ids, 64), done = 0;
	for (size_t i = 0; i < n; i++)
		if (pos_keyring_state(svc->kr, ids[i]) == POS_KEYSTATE_SEALING) {
			size_t d = 0;
			seal_user(svc, ids[i], NULL, &d);
			done += d;
		}
	return done;
}
