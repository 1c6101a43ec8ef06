/*
 * auth.c — the /api/auth endpoints: register, login, refresh, logout, me.
 */
#include "api/api.h"

#include <string.h>

#include "base/clock.h"
#include "base/json.h"
#include "base/uuid.h"

/* With `enc` non-NULL, also the encryption state, and with `limit`
 * non-NULL the quotas and usage (GET /api/auth/me). */
static void write_user_enc(struct pos_jw *w, const struct pos_user *u,
			   const struct pos_assistant *as,
			   const struct pos_enc_status *enc,
			   const int64_t *limit, const struct pos_usage *use);

static void write_user(struct pos_jw *w, const struct pos_user *u,
		       const struct pos_assistant *as)
{
	write_user_enc(w, u, as, NULL, NULL, NULL);
}

void pos_api_write_quota(struct pos_jw *w, const int64_t *limit, const struct pos_usage *use)
{
	pos_jw_key(w, "quota");
	pos_jw_obj(w);
	for (int i = 0; i < POS_QUOTA__COUNT; i++)
		pos_jw_kint(w, pos_quota_name(i), limit[i]);
	pos_jw_obj_end(w);
	pos_jw_key(w, "usage");
	pos_jw_obj(w);
	for (int i = 0; i < POS_QUOTA__COUNT; i++)
		pos_jw_kint(w, pos_quota_name(i), use->n[i]);
	pos_jw_obj_end(w);
}

static void write_user_enc(struct pos_jw *w, const struct pos_user *u,
			   const struct pos_assistant *as,
			   const struct pos_enc_status *enc,
			   const int64_t *limit, const struct pos_usage *use)
{
	pos_jw_obj(w);
	pos_jw_kstr(w, "id", u->id);
	pos_jw_kstr(w, "email", u->email);
	pos_jw_kstr(w, "full_name", u->full_name);
	pos_jw_kstr(w, "avatar_url", u->avatar_url);
	pos_jw_kstr(w, "privacy_tier", u->privacy_tier);
	pos_jw_kstr(w, "plan", u->plan);
	pos_jw_key(w, "ai_persona");
	pos_jw_raw(w, u->persona_json, strlen(u->persona_json));
	pos_jw_key(w, "settings");
	pos_jw_raw(w, u->settings_json, strlen(u->settings_json));
	pos_jw_kint(w, "total_memories", u->memory_count);
	pos_jw_kstr(w, "role", u->role ? u->role : "user");
	pos_jw_ktime(w, "created_at", u->created_at);
	pos_jw_ktime(w, "last_login_at", u->last_login_at);
	/* what the privacy tier lets leave the machine (docs/ASSISTANT.md) */
	pos_jw_key(w, "privacy");
	pos_jw_obj(w);
	pos_privacy_json(as, u->privacy_tier, w);
	pos_jw_obj_end(w);
	if (enc) {
		pos_jw_key(w, "encryption");
		pos_jw_obj(w);
		pos_jw_kbool(w, "enabled", enc->enabled);
		pos_jw_kstr(w, "state", enc->state);
		pos_jw_kbool(w, "unlocked", enc->unlocked);
		pos_jw_kint(w, "progress", enc->progress);
		pos_jw_kint(w, "total", enc->total);
		pos_jw_obj_end(w);
	}
	if (limit && use)
		pos_api_write_quota(w, limit, use); /* accounts: 0 = unlimited */
	pos_jw_obj_end(w);
}

static void reply_buf(struct pos_req *r, int status, struct pos_buf *b,
		      enum pos_err rc)
{
	if (rc) {
		pos_buf_free(b);
		pos_reply_err(r, rc, NULL, NULL);
		return;
	}
	pos_reply_json(r, status, b);
}

static void reply_user(struct pos_req *r, const struct pos_user *u)
{
	const struct pos_assistant *as = &r->srv->app->assistant;
	struct pos_buf b;
	pos_buf_init(&b, 1024 * 1024);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	write_user(&w, u, as);
	reply_buf(r, 200, &b, w.rc);
}

static void reply_tokens(struct pos_req *r, int status, const struct pos_user *u,
			 const struct pos_tokens *t)
{
	struct pos_buf b;
	pos_buf_init(&b, 1024 * 1024);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_jw_obj(&w);
	pos_jw_key(&w, "user");
	write_user(&w, u, &r->srv->app->assistant);
	pos_jw_kstr(&w, "access_token", t->access);
	pos_jw_kstr(&w, "refresh_token", t->refresh);
	pos_jw_kstr(&w, "token_type", "bearer");
	pos_jw_kint(&w, "expires_in", t->expires_in_s);
	pos_jw_obj_end(&w);
	reply_buf(r, status, &b, w.rc);
}

/* A required string field; answers 422 and returns NULL if absent/wrong. */
static const char *need_str(struct pos_req *r, json_t *body, const char *key,
			    size_t *len)
{
	json_t *v = json_object_get(body, key);
	if (!v || json_is_null(v)) {
		char msg[96];
		snprintf(msg, sizeof(msg), "%s is required", key);
		pos_reply_err(r, POS_ERR_MISSING_FIELD, key, msg);
		return NULL;
	}
	if (!json_is_string(v)) {
		char msg[96];
		snprintf(msg, sizeof(msg), "%s must be a string", key);
		pos_reply_err(r, POS_ERR_INVALID_FIELD, key, msg);
		return NULL;
	}
	if (len)
		*len = json_string_length(v);
	return json_string_value(v);
}

void pos_api_register(struct pos_server *srv, struct pos_req *r)
{
	json_t *body;
	if (!pos_req_json(r, &body))
		return;
	size_t pwlen = 0;
	const char *email, *password, *full_name = NULL;
	struct pos_register_opts opts = {0};
	struct pos_error err;
	pos_error_clear(&err);
	if (!(email = need_str(r, body, "email", NULL)) ||
	    !(password = need_str(r, body, "password", &pwlen)))
		goto out;
	if (pos_json_get_str(body, "full_name", &full_name, NULL, &err) ||
	    pos_json_get_str(body, "invite_code", &opts.invite_code, NULL, &err)) {
		pos_reply_error(r, &err);
		goto out;
	}
	struct pos_user u;
	struct pos_tokens t;
	if (pos_auth_gate_enter(&srv->app->auth)) {
		r->retry_after = 1;
		pos_reply_err(r, POS_ERR_BUSY, NULL, NULL);
		goto out;
	}
	enum pos_err rrc = pos_auth_register(&srv->app->auth, r->arena, email, password, pwlen,
					     full_name, &opts, &u, &t, &err);
	pos_auth_gate_leave(&srv->app->auth);
	if (rrc) {
		pos_reply_error(r, &err);
		goto out;
	}
	reply_tokens(r, 201, &u, &t);
	pos_wipe(&t, sizeof(t));
out:
	json_decref(body);
}

void pos_api_login(struct pos_server *srv, struct pos_req *r)
{
	json_t *body;
	if (!pos_req_json(r, &body))
		return;
	size_t pwlen = 0;
	const char *email, *password;
	struct pos_error err;
	pos_error_clear(&err);
	if (!(email = need_str(r, body, "email", NULL)) ||
	    !(password = need_str(r, body, "password", &pwlen)))
		goto out;
	struct pos_user u;
	struct pos_tokens t;
	/* Login lockout (docs/SECURITY.md): the attempt is reserved
	 * before any hashing (atomically), keyed by the normalized
	 * email so case games do not reset it. */
	struct pos_pw_attempt at;
	if (!pos_api_pw_begin(srv, r, email, false, &at))
		goto out;
	enum pos_err lrc = pos_auth_login(&srv->app->auth, r->arena, email, password, pwlen, &u, &t, &err);
	/* encryption at rest: the password unlocks the data key */
	if (!lrc)
		pos_encsvc_on_login(&srv->app->enc, u.id, password, pwlen, t.refresh);
	pos_api_pw_end(srv, r, &at, lrc != POS_ERR_BAD_CREDENTIALS);
	if (lrc) {
		pos_reply_error(r, &err);
		goto out;
	}
	reply_tokens(r, 200, &u, &t);
	pos_wipe(&t, sizeof(t));
out:
	json_decref(body);
}

void pos_api_refresh(struct pos_server *srv, struct pos_req *r)
{
	json_t *body;
	if (!pos_req_json(r, &body))
		return;
	const char *token = need_str(r, body, "refresh_token", NULL);
	if (token) {
		struct pos_error err;
		pos_error_clear(&err);
		struct pos_user u;
		struct pos_tokens t;
		if (pos_auth_refresh(&srv->app->auth, r->arena, token, &u, &t, &err)) {
			pos_reply_error(r, &err);
		} else {
			/* encryption at rest: the token's key wrap unlocks */
			pos_encsvc_on_refresh(&srv->app->enc, u.id, token, t.refresh);
			reply_tokens(r, 200, &u, &t);
		}
		pos_wipe(&t, sizeof(t));
	}
	json_decref(body);
}

static void write_token(struct pos_jw *w, const struct pos_api_token *t, const char *secret)
{
	pos_jw_obj(w);
	pos_jw_kstr(w, "id", t->id);
	pos_jw_kstr(w, "name", t->name);
	pos_jw_kstr(w, "scope", t->read_only ? "read" : "write");
	if (secret)
		pos_jw_kstr(w, "token", secret);
	pos_jw_ktime(w, "created_at", t->created_at);
	pos_jw_ktime(w, "last_used_at", t->last_used_at);
	pos_jw_obj_end(w);
}

void pos_api_tokens_create(struct pos_server *srv, struct pos_req *r)
{
	json_t *body;
	if (!pos_req_json(r, &body))
		return;
	const char *name = need_str(r, body, "name", NULL);
	const char *scope = "read";
	struct pos_error err;
	pos_error_clear(&err);
	if (!name)
		goto out;
	if (pos_json_get_str(body, "scope", &scope, NULL, &err)) {
		pos_reply_error(r, &err);
		goto out;
	}
	if (strcmp(scope, "read") && strcmp(scope, "write")) {
		pos_reply_err(r, POS_ERR_INVALID_FIELD, "scope", "scope must be read or write");
		goto out;
	}
	struct pos_api_token t;
	char secret[POS_API_TOKEN_MAX];
	const int64_t add[POS_QUOTA__COUNT] = {[POS_QUOTA_TOKENS] = 1};
	if (pos_auth_quota_check(&srv->app->auth, r->arena, r->principal.user_id, add, &err)) {
		pos_reply_error(r, &err);
		goto out;
	}
	if (pos_auth_token_create(&srv->app->auth, r->principal.user_id, name,
				  strcmp(scope, "read") == 0, &t, secret, &err)) {
		pos_reply_error(r, &err);
		goto out;
	}
	struct pos_buf b;
	pos_buf_init(&b, 64 * 1024);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	write_token(&w, &t, secret);
	pos_wipe(secret, sizeof(secret));
	reply_buf(r, 201, &b, w.rc);
out:
	json_decref(body);
}

void pos_api_tokens_list(struct pos_server *srv, struct pos_req *r)
{
	struct pos_api_token *v = NULL;
	size_t n = 0;
	enum pos_err rc = pos_accounts_tokens(&srv->app->accounts, r->arena,
						    r->principal.user_id, &v, &n);
	if (rc) {
		pos_reply_err(r, rc, NULL, NULL);
		return;
	}
	struct pos_buf b;
	pos_buf_init(&b, 16 * 1024 * 1024);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_jw_obj(&w);
	pos_jw_key(&w, "tokens");
	pos_jw_arr(&w);
	for (size_t i = 0; i < n; i++)
		write_token(&w, &v[i], NULL);
	pos_jw_arr_end(&w);
	pos_jw_obj_end(&w);
	reply_buf(r, 200, &b, w.rc);
}

void pos_api_tokens_delete(struct pos_server *srv, struct pos_req *r)
{
	char id[POS_UUID_SIZE];
	const char *raw = pos_req_path(r, 0);
	enum pos_err rc = pos_uuid_valid(raw, strlen(raw), id)
		? pos_accounts_token_revoke(&srv->app->accounts, r->principal.user_id, id)
		: POS_ERR_NOT_FOUND;
	if (rc)
		pos_reply_err(r, rc, NULL, rc == POS_ERR_NOT_FOUND ? "token not found" : NULL);
	else
		pos_reply_empty(r, 204);
}

void pos_api_logout(struct pos_server *srv, struct pos_req *r)
{
	enum pos_err rc = pos_auth_logout(&srv->app->auth, &r->principal);
	if (rc) {
		pos_reply_err(r, rc, NULL, NULL);
	} else {
		pos_encsvc_lock(&srv->app->enc, r->principal.user_id); /* encryption at rest */
		pos_reply_empty(r, 204);
	}
}

void pos_api_me(struct pos_server *srv, struct pos_req *r)
{
	struct pos_user u;
	enum pos_err rc = pos_accounts_get(&srv->app->accounts, r->arena,
						     r->principal.user_id, &u);
	if (rc) {
		pos_reply_err(r, rc == POS_ERR_NOT_FOUND ? POS_ERR_UNAUTHORIZED : rc,
			      NULL, NULL);
		return;
	}
	struct pos_enc_status enc;
	struct pos_usage use;
	if ((rc = pos_encsvc_status(&srv->app->enc, r->arena, u.id, &enc)) ||
	    (rc = pos_accounts_usage(&srv->app->accounts, u.id, &use))) {
		pos_reply_err(r, rc, NULL, NULL);
		return;
	}
	int64_t limit[POS_QUOTA__COUNT];
	pos_auth_quota_limits(&srv->app->auth, &u, limit);
	struct pos_buf b;
	pos_buf_init(&b, 1024 * 1024);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	write_user_enc(&w, &u, &srv->app->assistant, &enc, limit, &use);
	reply_buf(r, 200, &b, w.rc);
}

void pos_api_me_update(struct pos_server *srv, struct pos_req *r)
{
	json_t *body;
	if (!pos_req_json(r, &body))
		return;
	struct pos_user u;
	struct pos_error err;
	pos_error_clear(&err);
	enum pos_err rc = pos_accounts_get(&srv->app->accounts, r->arena,
						     r->principal.user_id, &u);
	if (rc)
		pos_reply_err(r, rc == POS_ERR_NOT_FOUND ? POS_ERR_UNAUTHORIZED : rc,
			      NULL, NULL);
	else if (pos_profile_update(&srv->app->auth, r->arena, &u, body, &err))
		pos_reply_error(r, &err);
	else
		reply_user(r, &u);
	json_decref(body);
}

/*
 * DELETE /api/auth/me {password}: the account and everything in it, for
 * good. MemU's copy (if MemU is on) is deleted by a job that outlives the
 * account and retries until MemU answers.
 */
void pos_api_me_delete(struct pos_server *srv, struct pos_req *r)
{
	json_t *body;
	if (!pos_req_json(r, &body))
		return;
	struct pos_error err;
	pos_error_clear(&err);
	json_t *pw = json_object_get(body, "password");
	const char *uid = r->principal.user_id;
	struct pos_pw_attempt at;
	if (!json_is_string(pw)) {
		pos_reply_err(r, POS_ERR_MISSING_FIELD, "password",
			      "password is required to delete the account");
		goto out;
	}
	if (!pos_api_pw_begin_self(srv, r, &at))
		goto out; /* answered: busy or locked out */
	enum pos_err rc = pos_auth_check_password_of(&srv->app->auth, r->arena, uid,
						     json_string_value(pw),
						     json_string_length(pw), &err);
	pos_api_pw_end(srv, r, &at, rc != POS_ERR_BAD_CREDENTIALS);
	if (rc) {
		pos_reply_error(r, &err);
		goto out;
	}
	if (pos_accounts_delete(&srv->app->accounts, uid, &err)) {
		pos_reply_error(r, &err);
		goto out;
	}
	pos_auth_logout(&srv->app->auth, &r->principal);
	pos_reply_empty(r, 204);
out:
	json_decref(body);
}

/* ---- the password-check bracket (api.h) ---- */

bool pos_api_pw_begin(struct pos_server *srv, struct pos_req *r, const char *email,
		      bool charge, struct pos_pw_attempt *at)
{
	memset(at, 0, sizeof(*at));
	if (email && pos_auth_normalize_email(email, at->acct, sizeof(at->acct), NULL) == POS_OK)
		at->have_acct = true;
	unsigned wait = charge
		? pos_rl_check_client(&srv->rl, POS_RL_AUTH, &r->client, pos_mono_us()) : 0;
	if (wait) {
		pos_reply_rate_limited(r, wait);
		return false;
	}
	if (pos_auth_gate_enter(&srv->app->auth)) {
		r->retry_after = 1;
		pos_reply_err(r, POS_ERR_BUSY, NULL, NULL);
		return false;
	}
	wait = pos_rl_login_reserve(&srv->rl, &r->client, at->have_acct ? at->acct : NULL,
				    pos_mono_us(), &at->res);
	if (wait) {
		pos_auth_gate_leave(&srv->app->auth);
		pos_reply_rate_limited(r, wait);
		return false;
	}
	return true;
}

void pos_api_pw_end(struct pos_server *srv, struct pos_req *r,
		    const struct pos_pw_attempt *at, bool ok)
{
	pos_rl_login_release(&srv->rl, &r->client, at->have_acct ? at->acct : NULL, &at->res,
			     ok);
	pos_auth_gate_leave(&srv->app->auth);
}

bool pos_api_pw_begin_self(struct pos_server *srv, struct pos_req *r,
			   struct pos_pw_attempt *at)
{
	struct pos_user u;
	enum pos_err rc = pos_accounts_get(&srv->app->accounts, r->arena,
						     r->principal.user_id, &u);
	if (rc) {
		pos_reply_err(r, rc == POS_ERR_NOT_FOUND ? POS_ERR_UNAUTHORIZED : rc, NULL, NULL);
		return false;
	}
	return pos_api_pw_begin(srv, r, u.email, true, at);
}
