/*
 * admin.c — the /api/admin endpoints (docs/SECURITY.md "Accounts, roles,
 * registration, quotas"): list users with their usage, disable/enable,
 * change role and quotas, delete; create, list and delete invite codes.
 * Every handler first checks that the caller's account has the admin role
 * (403 forbidden otherwise); the routes need a signed-in session, never a
 * personal API token. No change may leave the server without an enabled
 * admin (409 last_admin).
 */
#include "api/api.h"

#include <string.h>

#include "base/clock.h"
#include "base/json.h"
#include "base/uuid.h"

#define INVITE_TTL_DEFAULT_S (7LL * 86400)
#define QUOTA_MAX 1000000000000000LL

/* True when the caller is an enabled admin; else answers 403. */
static bool admin_only(struct pos_server *srv, struct pos_req *r)
{
	struct pos_user me;
	enum pos_err rc = pos_accounts_get(&srv->app->accounts, r->arena,
						     r->principal.user_id, &me);
	if (rc) {
		pos_reply_err(r, rc == POS_ERR_NOT_FOUND ? POS_ERR_UNAUTHORIZED : rc, NULL, NULL);
		return false;
	}
	if (strcmp(me.role, "admin") != 0 || me.disabled_at != POS_TIME_NONE) {
		pos_reply_err(r, POS_ERR_FORBIDDEN, NULL, "this needs the admin role");
		return false;
	}
	return true;
}

/* For the other admin endpoints (api.h). */
bool pos_api_admin_only(struct pos_server *srv, struct pos_req *r)
{
	return admin_only(srv, r);
}

/* The {id} path parameter as a user or invite id; answers 404 if malformed. */
static bool path_id(struct pos_req *r, char id[POS_UUID_SIZE], const char *what)
{
	const char *raw = pos_req_path(r, 0);
	if (raw && pos_uuid_valid(raw, strlen(raw), id))
		return true;
	pos_reply_err(r, POS_ERR_NOT_FOUND, NULL, what);
	return false;
}

static void reply_jw(struct pos_req *r, int status, struct pos_buf *b, enum pos_err rc)
{
	if (rc) {
		pos_buf_free(b);
		pos_reply_err(r, rc, NULL, NULL);
		return;
	}
	pos_reply_json(r, status, b);
}

static enum pos_err write_user(struct pos_server *srv, struct pos_jw *w,
			       const struct pos_user *u)
{
	struct pos_usage use;
	enum pos_err rc = pos_accounts_usage(&srv->app->accounts, u->id, &use);
	if (rc)
		return rc;
	int64_t limit[POS_QUOTA__COUNT];
	pos_auth_quota_limits(&srv->app->auth, u, limit);
	pos_jw_obj(w);
	pos_jw_kstr(w, "id", u->id);
	pos_jw_kstr(w, "email", u->email);
	pos_jw_kstr(w, "full_name", u->full_name);
	pos_jw_kstr(w, "role", u->role);
	pos_jw_kbool(w, "disabled", u->disabled_at != POS_TIME_NONE);
	pos_jw_ktime(w, "disabled_at", u->disabled_at);
	pos_jw_ktime(w, "created_at", u->created_at);
	pos_jw_ktime(w, "last_login_at", u->last_login_at);
	pos_api_write_quota(w, limit, &use);
	/* which quotas are this user's own (the rest: server defaults) */
	pos_jw_key(w, "quota_overrides");
	pos_jw_obj(w);
	for (int i = 0; i < POS_QUOTA__COUNT; i++)
		if (u->quota[i] >= 0)
			pos_jw_kint(w, pos_quota_name(i), u->quota[i]);
	pos_jw_obj_end(w);
	pos_jw_obj_end(w);
	return POS_OK;
}

void pos_api_admin_users_list(struct pos_server *srv, struct pos_req *r)
{
	if (!admin_only(srv, r))
		return;
	struct pos_user *v = NULL;
	size_t n = 0;
	enum pos_err rc = pos_accounts_list(&srv->app->accounts, r->arena, &v, &n);
	if (rc) {
		pos_reply_err(r, rc, NULL, NULL);
		return;
	}
	struct pos_buf b;
	pos_buf_init(&b, POS_RESPONSE_MAX);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_jw_obj(&w);
	pos_jw_key(&w, "users");
	pos_jw_arr(&w);
	for (size_t i = 0; i < n && !rc; i++)
		rc = write_user(srv, &w, &v[i]);
	pos_jw_arr_end(&w);
	pos_jw_obj_end(&w);
	reply_jw(r, 200, &b, rc ? rc : w.rc);
}

/* Parses a PATCH body into `p`; answers 422 and returns false when bad. */
static bool parse_patch(struct pos_req *r, json_t *body, struct pos_user_admin_patch *p)
{
	memset(p, 0, sizeof(*p));
	json_t *v;
	if ((v = json_object_get(body, "disabled")) && !json_is_null(v)) {
		if (!json_is_boolean(v)) {
			pos_reply_err(r, POS_ERR_INVALID_FIELD, "disabled", "disabled must be a boolean");
			return false;
		}
		p->set |= POS_UADM_DISABLED;
		p->disabled = json_is_true(v);
	}
	if ((v = json_object_get(body, "role")) && !json_is_null(v)) {
		const char *role = json_is_string(v) ? json_string_value(v) : "";
		if (strcmp(role, "admin") && strcmp(role, "user")) {
			pos_reply_err(r, POS_ERR_INVALID_FIELD, "role", "role must be admin or user");
			return false;
		}
		p->set |= POS_UADM_ROLE;
		p->role = role;
	}
	if ((v = json_object_get(body, "quota")) && !json_is_null(v)) {
		if (!json_is_object(v)) {
			pos_reply_err(r, POS_ERR_INVALID_FIELD, "quota",
				      "quota must be an object of memories, bytes, sources, tokens");
			return false;
		}
		const char *key;
		json_t *q;
		json_object_foreach(v, key, q) {
			int i = 0;
			while (i < POS_QUOTA__COUNT && strcmp(key, pos_quota_name(i)))
				i++;
			char field[64];
			snprintf(field, sizeof(field), "quota.%.40s", key);
			if (i == POS_QUOTA__COUNT) {
				pos_reply_err(r, POS_ERR_INVALID_FIELD, field,
					      "quota keys are memories, bytes, sources, tokens");
				return false;
			}
			if (!json_is_null(q) && (!json_is_integer(q) || json_integer_value(q) < 0 ||
						 json_integer_value(q) > QUOTA_MAX)) {
				pos_reply_err(r, POS_ERR_INVALID_FIELD, field,
					      "a quota is an integer from 0 (unlimited) to 10^15,"
					      " or null for the server default");
				return false;
			}
			p->set |= POS_UADM_QUOTA;
			p->quota_set[i] = true;
			p->quota[i] = json_is_null(q) ? -1 : json_integer_value(q);
		}
	}
	if (!p->set) {
		pos_reply_err(r, POS_ERR_MISSING_FIELD, NULL,
			      "give at least one of disabled, role, quota");
		return false;
	}
	return true;
}

void pos_api_admin_users_update(struct pos_server *srv, struct pos_req *r)
{
	if (!admin_only(srv, r))
		return;
	char id[POS_UUID_SIZE];
	if (!path_id(r, id, "user not found"))
		return;
	json_t *body;
	if (!pos_req_json(r, &body))
		return;
	struct pos_user_admin_patch p;
	if (!parse_patch(r, body, &p))
		goto out;
	struct pos_user u;
	enum pos_err rc = pos_accounts_admin_update(&srv->app->accounts, r->arena, id, &p, &u);
	if (rc) {
		pos_reply_err(r, rc, NULL, rc == POS_ERR_NOT_FOUND ? "user not found" : NULL);
		goto out;
	}
	struct pos_buf b;
	pos_buf_init(&b, 64 * 1024);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	rc = write_user(srv, &w, &u);
	reply_jw(r, 200, &b, rc ? rc : w.rc);
out:
	json_decref(body);
}

void pos_api_admin_users_delete(struct pos_server *srv, struct pos_req *r)
{
	if (!admin_only(srv, r))
		return;
	char id[POS_UUID_SIZE];
	if (!path_id(r, id, "user not found"))
		return;
	struct pos_user u;
	int64_t users = 0, admins = 0;
	enum pos_err rc = pos_accounts_get(&srv->app->accounts, r->arena, id, &u);
	if (!rc)
		rc = pos_accounts_counts(&srv->app->accounts, &users, &admins);
	if (rc) {
		pos_reply_err(r, rc, NULL, rc == POS_ERR_NOT_FOUND ? "user not found" : NULL);
		return;
	}
	if (strcmp(u.role, "admin") == 0 && u.disabled_at == POS_TIME_NONE && admins <= 1) {
		pos_reply_err(r, POS_ERR_LAST_ADMIN, NULL, NULL);
		return;
	}
	struct pos_error err;
	pos_error_clear(&err);
	int64_t ns, nt;
	pos_auth_revoke_user(&srv->app->auth, id, NULL, true, &ns, &nt);
	if ((rc = pos_accounts_delete(&srv->app->accounts, id, &err))) {
		pos_reply_err(r, rc, NULL, NULL);
		return;
	}
	pos_reply_empty(r, 204);
}

static void write_invite(struct pos_jw *w, const struct pos_invite *inv, const char *code,
			 int64_t now)
{
	pos_jw_obj(w);
	pos_jw_kstr(w, "id", inv->id);
	if (code)
		pos_jw_kstr(w, "code", code);
	pos_jw_kstr(w, "email", inv->email);
	pos_jw_kstr(w, "status", inv->used_at != POS_TIME_NONE ? "used"
				 : inv->expires_at <= now ? "expired" : "unused");
	pos_jw_ktime(w, "created_at", inv->created_at);
	pos_jw_ktime(w, "expires_at", inv->expires_at);
	pos_jw_ktime(w, "used_at", inv->used_at);
	pos_jw_kstr(w, "used_by", inv->used_by);
	pos_jw_obj_end(w);
}

void pos_api_admin_invites_create(struct pos_server *srv, struct pos_req *r)
{
	if (!admin_only(srv, r))
		return;
	json_t *body;
	if (!pos_req_json(r, &body))
		return;
	struct pos_error err;
	pos_error_clear(&err);
	const char *email = NULL;
	int64_t ttl = INVITE_TTL_DEFAULT_S;
	json_t *v = json_object_get(body, "expires_in");
	if (pos_json_get_str(body, "email", &email, NULL, &err)) {
		pos_reply_error(r, &err);
		goto out;
	}
	if (v && !json_is_null(v)) {
		if (!json_is_integer(v)) {
			pos_reply_err(r, POS_ERR_INVALID_FIELD, "expires_in",
				      "expires_in must be an integer number of seconds");
			goto out;
		}
		ttl = json_integer_value(v);
	}
	struct pos_invite inv;
	char code[POS_INVITE_CODE_MAX];
	if (pos_auth_invite_create(&srv->app->auth, r->principal.user_id, email, ttl, &inv, code,
				   &err)) {
		pos_reply_error(r, &err);
		goto out;
	}
	char norm[256];
	if (email && pos_auth_normalize_email(email, norm, sizeof(norm), NULL) == POS_OK)
		inv.email = norm;
	struct pos_buf b;
	pos_buf_init(&b, 64 * 1024);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	write_invite(&w, &inv, code, pos_now_us());
	pos_wipe(code, sizeof(code));
	reply_jw(r, 201, &b, w.rc);
out:
	json_decref(body);
}

void pos_api_admin_invites_list(struct pos_server *srv, struct pos_req *r)
{
	if (!admin_only(srv, r))
		return;
	struct pos_invite *v = NULL;
	size_t n = 0;
	enum pos_err rc = pos_accounts_invites(&srv->app->accounts, r->arena, &v, &n);
	if (rc) {
		pos_reply_err(r, rc, NULL, NULL);
		return;
	}
	int64_t now = pos_now_us();
	struct pos_buf b;
	pos_buf_init(&b, 64 * 1024 * 1024);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_jw_obj(&w);
	pos_jw_key(&w, "invites");
	pos_jw_arr(&w);
	for (size_t i = 0; i < n; i++)
		write_invite(&w, &v[i], NULL, now);
	pos_jw_arr_end(&w);
	pos_jw_obj_end(&w);
	reply_jw(r, 200, &b, w.rc);
}

void pos_api_admin_invites_delete(struct pos_server *srv, struct pos_req *r)
{
	if (!admin_only(srv, r))
		return;
	char id[POS_UUID_SIZE];
	if (!path_id(r, id, "invite not found"))
		return;
	enum pos_err rc = pos_accounts_invite_delete(&srv->app->accounts, id);
	if (rc)
		pos_reply_err(r, rc, NULL, rc == POS_ERR_NOT_FOUND ? "invite not found" : NULL);
	else
		pos_reply_empty(r, 204);
}
