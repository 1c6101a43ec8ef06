/*
 * encryption.c — the encryption-at-rest endpoints (docs/ENCRYPTION.md):
 * turn it on, change the password (re-wraps the data key), recover with the
 * recovery key.
 */
#include "api/api.h"

#include <string.h>

#include "base/json.h"
#include "crypto/crypto.h"

/* A string field of the body; answers 422 and returns NULL when it is
 * missing or not a string (unless `optional`, then NULL quietly). */
static const char *str_field(struct pos_req *r, json_t *body, const char *key,
			     size_t *len, bool optional)
{
	json_t *v = json_object_get(body, key);
	if ((!v || json_is_null(v)) && optional)
		return NULL;
	char msg[96];
	if (!v || json_is_null(v)) {
		snprintf(msg, sizeof(msg), "%s is required", key);
		pos_reply_err(r, POS_ERR_MISSING_FIELD, key, msg);
		return NULL;
	}
	if (!json_is_string(v)) {
		snprintf(msg, sizeof(msg), "%s must be a string", key);
		pos_reply_err(r, POS_ERR_INVALID_FIELD, key, msg);
		return NULL;
	}
	if (len)
		*len = json_string_length(v);
	return json_string_value(v);
}

static void reply_status(struct pos_server *srv, struct pos_req *r, int status,
			 const char *recovery_key)
{
	struct pos_enc_status st;
	enum pos_err rc = pos_encsvc_status(&srv->app->enc, r->arena, r->principal.user_id, &st);
	if (rc) {
		pos_reply_err(r, rc, NULL, NULL);
		return;
	}
	struct pos_buf b;
	pos_buf_init(&b, 64 * 1024);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_jw_obj(&w);
	if (recovery_key)
		pos_jw_kstr(&w, "recovery_key", recovery_key);
	pos_jw_key(&w, "encryption");
	pos_jw_obj(&w);
	pos_jw_kbool(&w, "enabled", st.enabled);
	pos_jw_kstr(&w, "state", st.state);
	pos_jw_kbool(&w, "unlocked", st.unlocked);
	pos_jw_kint(&w, "progress", st.progress);
	pos_jw_kint(&w, "total", st.total);
	pos_jw_obj_end(&w);
	pos_jw_obj_end(&w);
	if (w.rc) {
		pos_buf_free(&b);
		pos_reply_err(r, w.rc, NULL, NULL);
		return;
	}
	pos_reply_json(r, status, &b);
}

void pos_api_encryption_enable(struct pos_server *srv, struct pos_req *r)
{
	json_t *body;
	if (!pos_req_json(r, &body))
		return;
	size_t len = 0;
	const char *pw = str_field(r, body, "password", &len, false);
	struct pos_pw_attempt at;
	if (pw && pos_api_pw_begin_self(srv, r, &at)) {
		struct pos_error err;
		pos_error_clear(&err);
		char rk[POS_RECOVERY_KEY_MAX];
		enum pos_err rc = pos_encsvc_enable(&srv->app->enc, r->principal.user_id, pw, len, rk,
						    &err);
		pos_api_pw_end(srv, r, &at, rc != POS_ERR_BAD_CREDENTIALS);
		if (rc)
			pos_reply_error(r, &err);
		else
			reply_status(srv, r, 200, rk);
		pos_wipe(rk, sizeof(rk));
	}
	json_decref(body);
}

/* The optional revoke_api_tokens field (default true); false and an
 * answered 422 when it is not a boolean. */
static bool revoke_tokens_field(struct pos_req *r, json_t *body, bool *out)
{
	json_t *v = json_object_get(body, "revoke_api_tokens");
	*out = true;
	if (!v || json_is_null(v))
		return true;
	if (!json_is_boolean(v)) {
		pos_reply_err(r, POS_ERR_INVALID_FIELD, "revoke_api_tokens",
			      "revoke_api_tokens must be a boolean");
		return false;
	}
	*out = json_is_true(v);
	return true;
}

static void write_revoked(struct pos_jw *w, int64_t sessions, int64_t tokens)
{
	pos_jw_key(w, "revoked");
	pos_jw_obj(w);
	pos_jw_kint(w, "sessions", sessions);
	pos_jw_kint(w, "api_tokens", tokens);
	pos_jw_obj_end(w);
}

/*
 * POST /api/auth/password: checks the old password (a wrong one counts in
 * the lockout), re-wraps the data key, then revokes every OTHER session
 * with its refresh tokens and, unless revoke_api_tokens is false, every
 * API token; answers what was revoked.
 */
void pos_api_password_change(struct pos_server *srv, struct pos_req *r)
{
	json_t *body;
	if (!pos_req_json(r, &body))
		return;
	size_t ol = 0, nl = 0;
	bool revoke_tokens;
	const char *old_pw = str_field(r, body, "old_password", &ol, false);
	const char *new_pw = old_pw ? str_field(r, body, "new_password", &nl, false) : NULL;
	struct pos_pw_attempt at;
	if (!old_pw || !new_pw || !revoke_tokens_field(r, body, &revoke_tokens) ||
	    !pos_api_pw_begin_self(srv, r, &at))
		goto out;
	struct pos_error err;
	pos_error_clear(&err);
	enum pos_err rc = pos_encsvc_change_password(&srv->app->enc, r->principal.user_id, old_pw,
						     ol, new_pw, nl, &err);
	pos_api_pw_end(srv, r, &at, rc != POS_ERR_BAD_CREDENTIALS);
	if (rc) {
		pos_reply_error(r, &err);
		goto out;
	}
	int64_t ns = 0, nt = 0;
	const char *keep = r->principal.personal ? NULL : r->principal.session_id;
	if ((rc = pos_auth_revoke_user(&srv->app->auth, r->principal.user_id, keep, revoke_tokens,
				       &ns, &nt))) {
		pos_reply_err(r, rc, NULL, NULL);
		goto out;
	}
	struct pos_buf b;
	pos_buf_init(&b, 4096);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_jw_obj(&w);
	write_revoked(&w, ns, nt);
	pos_jw_obj_end(&w);
	if (w.rc) {
		pos_buf_free(&b);
		pos_reply_err(r, w.rc, NULL, NULL);
	} else {
		pos_reply_json(r, 200, &b);
	}
out:
	json_decref(body);
}

/*
 * POST /api/auth/encryption/recover. An unknown email, an account without
 * encryption and a wrong key all answer the same 401 (no enumeration),
 * and each counts in the lockout of the email given. On success every
 * session and refresh token of the account is revoked (there is no
 * "current" one: the caller proved only the recovery key), API tokens too
 * unless revoke_api_tokens is false, and a new session is returned.
 */
void pos_api_encryption_recover(struct pos_server *srv, struct pos_req *r)
{
	json_t *body;
	if (!pos_req_json(r, &body))
		return;
	size_t rl = 0, nl = 0;
	bool revoke_tokens;
	struct pos_error err;
	pos_error_clear(&err);
	const char *email = str_field(r, body, "email", NULL, true);
	if (!email && json_object_get(body, "email") && !json_is_null(json_object_get(body, "email"))) {
		pos_reply_err(r, POS_ERR_INVALID_FIELD, "email", "email must be a string");
		goto out;
	}
	const char *rk = str_field(r, body, "recovery_key", &rl, false);
	const char *new_pw = rk ? str_field(r, body, "new_password", &nl, false) : NULL;
	if (!rk || !new_pw || !revoke_tokens_field(r, body, &revoke_tokens))
		goto out;
	/* Who: the email given, else the bearer token of a live session. */
	char user_id[POS_UUID_SIZE] = "";
	struct pos_user u;
	if (email) {
		char norm[256];
		if (pos_auth_normalize_email(email, norm, sizeof(norm), NULL) == POS_OK &&
		    pos_accounts_by_email(&srv->app->accounts, r->arena, norm, &u) == POS_OK)
			snprintf(user_id, sizeof(user_id), "%s", u.id);
	} else {
		const char *h = pos_req_header(r, "Authorization");
		struct pos_principal p;
		if (h && strncmp(h, "Bearer ", 7) == 0 &&
		    pos_auth_verify(&srv->app->auth, h + 7, strlen(h + 7), &p) == POS_OK &&
		    pos_accounts_get(&srv->app->accounts, r->arena, p.user_id, &u) == POS_OK) {
			snprintf(user_id, sizeof(user_id), "%s", p.user_id);
			email = u.email;
		} else {
			pos_reply_err(r, POS_ERR_MISSING_FIELD, "email", "email is required");
			goto out;
		}
	}
	struct pos_pw_attempt at;
	if (!pos_api_pw_begin(srv, r, email, false, &at))
		goto out;
	enum pos_err rc = POS_ERR_BAD_CREDENTIALS;
	if (user_id[0])
		rc = pos_encsvc_recover(&srv->app->enc, user_id, rk, rl, new_pw, nl, &err);
	/* an unknown account: the same answer as a wrong key */
	if (rc == POS_ERR_BAD_CREDENTIALS || rc == POS_ERR_CONFLICT) {
		rc = POS_ERR_BAD_CREDENTIALS;
		pos_error_set(&err, rc, "recovery_key", "wrong recovery key");
	}
	pos_api_pw_end(srv, r, &at, rc != POS_ERR_BAD_CREDENTIALS);
	if (rc) {
		pos_reply_error(r, &err);
		goto out;
	}
	int64_t ns = 0, nt = 0;
	struct pos_tokens t;
	if ((rc = pos_auth_revoke_user(&srv->app->auth, user_id, NULL, revoke_tokens, &ns, &nt)) ||
	    (rc = pos_auth_new_session(&srv->app->auth, r->arena, user_id, &u, &t, &err))) {
		pos_reply_err(r, rc, NULL, NULL);
		goto out;
	}
	/* the new session's refresh token unlocks after a restart */
	pos_encsvc_on_login(&srv->app->enc, user_id, new_pw, nl, t.refresh);
	snprintf(r->principal.user_id, sizeof(r->principal.user_id), "%s", user_id);
	struct pos_enc_status st;
	if ((rc = pos_encsvc_status(&srv->app->enc, r->arena, user_id, &st))) {
		pos_wipe(&t, sizeof(t));
		pos_reply_err(r, rc, NULL, NULL);
		goto out;
	}
	struct pos_buf b;
	pos_buf_init(&b, 64 * 1024);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_jw_obj(&w);
	pos_jw_key(&w, "encryption");
	pos_jw_obj(&w);
	pos_jw_kbool(&w, "enabled", st.enabled);
	pos_jw_kstr(&w, "state", st.state);
	pos_jw_kbool(&w, "unlocked", st.unlocked);
	pos_jw_kint(&w, "progress", st.progress);
	pos_jw_kint(&w, "total", st.total);
	pos_jw_obj_end(&w);
	write_revoked(&w, ns, nt);
	pos_jw_kstr(&w, "access_token", t.access);
	pos_jw_kstr(&w, "refresh_token", t.refresh);
	pos_jw_kstr(&w, "token_type", "bearer");
	pos_jw_kint(&w, "expires_in", t.expires_in_s);
	pos_jw_obj_end(&w);
	pos_wipe(&t, sizeof(t));
	if (w.rc) {
		pos_buf_free(&b);
		pos_reply_err(r, w.rc, NULL, NULL);
	} else {
		pos_reply_json(r, 200, &b);
	}
out:
	json_decref(body);
}
