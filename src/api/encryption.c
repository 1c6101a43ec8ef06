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
	enum pos_err rc = pos_encsvc_status(&srv->enc, r->arena, r->principal.user_id, &st);
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
	if (pw) {
		struct pos_error err;
		pos_error_clear(&err);
		char rk[POS_RECOVERY_KEY_MAX];
		if (pos_encsvc_enable(&srv->enc, r->principal.user_id, pw, len, rk, &err))
			pos_reply_error(r, &err);
		else
			reply_status(srv, r, 200, rk);
		pos_wipe(rk, sizeof(rk));
	}
	json_decref(body);
}

void pos_api_password_change(struct pos_server *srv, struct pos_req *r)
{
	json_t *body;
	if (!pos_req_json(r, &body))
		return;
	size_t ol = 0, nl = 0;
	const char *old_pw = str_field(r, body, "old_password", &ol, false);
	const char *new_pw = old_pw ? str_field(r, body, "new_password", &nl, false) : NULL;
	if (old_pw && new_pw) {
		struct pos_error err;
		pos_error_clear(&err);
		if (pos_encsvc_change_password(&srv->enc, r->principal.user_id, old_pw, ol,
					       new_pw, nl, &err))
			pos_reply_error(r, &err);
		else
			pos_reply_empty(r, 204);
	}
	json_decref(body);
}

void pos_api_encryption_recover(struct pos_server *srv, struct pos_req *r)
{
	json_t *body;
	if (!pos_req_json(r, &body))
		return;
	size_t rl = 0, nl = 0;
	struct pos_error err;
	pos_error_clear(&err);
	const char *email = str_field(r, body, "email", NULL, true);
	if (!email && json_object_get(body, "email") && !json_is_null(json_object_get(body, "email"))) {
		pos_reply_err(r, POS_ERR_INVALID_FIELD, "email", "email must be a string");
		goto out;
	}
	const char *rk = str_field(r, body, "recovery_key", &rl, false);
	const char *new_pw = rk ? str_field(r, body, "new_password", &nl, false) : NULL;
	if (!rk || !new_pw)
		goto out;
	/* Who: the email given, else the bearer token of a live session. */
	char user_id[POS_UUID_SIZE] = "";
	if (email) {
		char norm[256];
		struct pos_user u;
		if (pos_auth_normalize_email(email, norm, sizeof(norm), NULL) == POS_OK &&
		    srv->store->ops->user_by_email(srv->store, r->arena, norm, &u) == POS_OK)
			snprintf(user_id, sizeof(user_id), "%s", u.id);
	} else {
		const char *h = pos_req_header(r, "Authorization");
		struct pos_principal p;
		if (h && strncmp(h, "Bearer ", 7) == 0 &&
		    pos_auth_verify(&srv->auth, h + 7, strlen(h + 7), &p) == POS_OK)
			snprintf(user_id, sizeof(user_id), "%s", p.user_id);
		else {
			pos_reply_err(r, POS_ERR_MISSING_FIELD, "email", "email is required");
			goto out;
		}
	}
	if (!user_id[0]) {
		pos_reply_err(r, POS_ERR_BAD_CREDENTIALS, "recovery_key", "wrong recovery key");
		goto out;
	}
	if (pos_encsvc_recover(&srv->enc, user_id, rk, rl, new_pw, nl, &err)) {
		pos_reply_error(r, &err);
		goto out;
	}
	snprintf(r->principal.user_id, sizeof(r->principal.user_id), "%s", user_id);
	reply_status(srv, r, 200, NULL);
out:
	json_decref(body);
}
