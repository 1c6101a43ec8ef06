/*
 * plugins.c — the plugins API (docs/PLUGINS.md): the catalog, the caller's
 * installs, install with explicit grants, settings and enable/disable,
 * removal, and running a user action. Thin: plugins/plugins.h does the work.
 */
#include "api/api.h"

#include <string.h>

#include "jobs/jobs.h"
#include "plugins/catalog.h"
#include "plugins/plugins.h"

static bool have_plugins(struct pos_server *srv, struct pos_req *r)
{
	if (srv->app->plugins)
		return true;
	pos_reply_err(r, POS_ERR_UNAVAILABLE, NULL, "plugins are not running on this server");
	return false;
}

/* Answers 200/201 with `v` (consumed), or the error. */
static void reply(struct pos_req *r, int status, json_t *v, enum pos_err rc,
		  const struct pos_error *err)
{
	if (rc) {
		json_decref(v);
		if (err && err->code)
			pos_reply_error(r, err);
		else
			pos_reply_err(r, rc, NULL, NULL);
		return;
	}
	struct pos_buf b;
	pos_buf_init(&b, 16 * 1024 * 1024);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_jw_json(&w, v);
	json_decref(v);
	if (w.rc) {
		pos_buf_free(&b);
		pos_reply_err(r, w.rc, NULL, NULL);
		return;
	}
	pos_reply_json(r, status, &b);
}

static void reply_list(struct pos_req *r, json_t *arr, enum pos_err rc, const struct pos_error *err)
{
	json_t *o = rc ? NULL : json_pack("{s:o}", "plugins", arr);
	if (!rc && !o)
		rc = POS_ERR_NOMEM;
	reply(r, 200, o, rc, err);
}

void pos_api_plugins_available(struct pos_server *srv, struct pos_req *r)
{
	if (!have_plugins(srv, r))
		return;
	json_t *arr = NULL;
	enum pos_err rc = pos_plugins_available(srv->app->plugins, &arr);
	reply_list(r, arr, rc, NULL);
}

void pos_api_plugins_list(struct pos_server *srv, struct pos_req *r)
{
	if (!have_plugins(srv, r))
		return;
	struct pos_error err;
	pos_error_clear(&err);
	json_t *arr = NULL;
	enum pos_err rc = pos_plugins_list(srv->app->plugins, r->principal.user_id, &arr, &err);
	reply_list(r, arr, rc, &err);
}

void pos_api_plugins_install(struct pos_server *srv, struct pos_req *r)
{
	if (!have_plugins(srv, r))
		return;
	json_t *body;
	if (!pos_req_json(r, &body))
		return;
	struct pos_error err;
	pos_error_clear(&err);
	json_t *out = NULL;
	enum pos_err rc = pos_plugins_install(srv->app->plugins, r->principal.user_id, body, &out, &err);
	json_decref(body);
	reply(r, 201, out, rc, &err);
}

void pos_api_plugins_update(struct pos_server *srv, struct pos_req *r)
{
	if (!have_plugins(srv, r))
		return;
	json_t *body;
	if (!pos_req_json(r, &body))
		return;
	struct pos_error err;
	pos_error_clear(&err);
	json_t *out = NULL;
	enum pos_err rc = pos_plugins_update(srv->app->plugins, r->principal.user_id, pos_req_path(r, 0),
					     body, &out, &err);
	json_decref(body);
	reply(r, 200, out, rc, &err);
}

void pos_api_plugins_delete(struct pos_server *srv, struct pos_req *r)
{
	if (!have_plugins(srv, r))
		return;
	struct pos_error err;
	pos_error_clear(&err);
	enum pos_err rc = pos_plugins_remove(srv->app->plugins, r->principal.user_id, pos_req_path(r, 0), &err);
	if (rc) {
		pos_reply_error(r, &err);
		return;
	}
	pos_reply_empty(r, 204);
}

/* POST /api/plugins/{id}/actions {action, params?}: on_user_action. */
void pos_api_plugins_action(struct pos_server *srv, struct pos_req *r)
{
	if (!have_plugins(srv, r))
		return;
	struct pos_error err;
	pos_error_clear(&err);
	if (pos_plugins_installed(srv->app->plugins, r->principal.user_id, pos_req_path(r, 0), &err)) {
		pos_reply_error(r, &err);
		return;
	}
	json_t *body;
	if (!pos_req_json(r, &body))
		return;
	json_t *action = json_object_get(body, "action");
	json_t *params = json_object_get(body, "params");
	json_t *out = NULL;
	enum pos_err rc;
	if (!json_is_string(action) || json_string_length(action) == 0 || json_string_length(action) > 64) {
		rc = pos_error_set(&err, POS_ERR_INVALID_FIELD, "action", "action must be a string of 1..64 bytes");
	} else if (params && !json_is_object(params)) {
		rc = pos_error_set(&err, POS_ERR_INVALID_FIELD, "params", "params must be an object");
	} else {
		json_t *ev = json_pack("{s:O, s:o}", "action", action, "params",
				       params ? json_incref(params) : json_object());
		json_t *res = NULL;
		rc = ev ? pos_plugins_run(srv->app->plugins, r->principal.user_id, pos_req_path(r, 0),
					  POS_HOOK_USER_ACTION, ev, &res, &err)
			: POS_ERR_NOMEM;
		json_decref(ev);
		if (!rc && !(out = json_pack("{s:o}", "result", res ? res : json_null())))
			rc = POS_ERR_NOMEM;
	}
	json_decref(body);
	reply(r, 200, out, rc, &err);
}

/* ---- admin: packages (docs/PLUGINS.md "Packages") ----------------------- */

void pos_api_admin_plugins_upload(struct pos_server *srv, struct pos_req *r)
{
	if (!have_plugins(srv, r) || !pos_api_admin_only(srv, r))
		return;
	if (r->body.len == 0) {
		pos_reply_err(r, POS_ERR_MISSING_FIELD, "package",
			      "send the package (.tar.gz) as the request body");
		return;
	}
	if (r->body.len > POS_CATALOG_PACKAGE_MAX) {
		pos_reply_err(r, POS_ERR_BODY_TOO_LARGE, "package", "the package is too large");
		return;
	}
	struct pos_error err;
	pos_error_clear(&err);
	json_t *entry = NULL;
	enum pos_err rc = pos_plugins_upload(srv->app->plugins, r->body.data, r->body.len, &entry, &err);
	json_t *o = rc ? NULL : json_pack("{s:o}", "plugin", entry);
	if (!rc && !o)
		rc = POS_ERR_NOMEM;
	reply(r, 201, o, rc, &err);
}

/* DELETE /api/admin/plugins/{id}[?version=]: an uploaded or catalog
 * package leaves the catalog and the data folder. */
void pos_api_admin_plugins_remove(struct pos_server *srv, struct pos_req *r)
{
	if (!have_plugins(srv, r) || !pos_api_admin_only(srv, r))
		return;
	const char *version = pos_req_param(r, "version");
	if (version && (!*version || strlen(version) > 32)) {
		pos_reply_err(r, POS_ERR_INVALID_FIELD, "version", "version must be 1 to 32 bytes");
		return;
	}
	struct pos_error err;
	pos_error_clear(&err);
	if (pos_plugins_remove_package(srv->app->plugins, pos_req_path(r, 0), version, &err)) {
		pos_reply_error(r, &err);
		return;
	}
	pos_reply_empty(r, 204);
}

void pos_api_admin_plugins_refresh(struct pos_server *srv, struct pos_req *r)
{
	if (!have_plugins(srv, r) || !pos_api_admin_only(srv, r))
		return;
	if (!pos_plugins_have_catalogs(srv->app->plugins)) {
		pos_reply_err(r, POS_ERR_NOT_FOUND, NULL, "no remote plugin catalog is configured");
		return;
	}
	char id[POS_UUID_SIZE];
	enum pos_err rc = pos_jobs_enqueue_unique(srv->app->jobs, POS_PLUGINS_CATALOG_JOB_KIND,
						  r->principal.user_id, POS_PLUGINS_CATALOG_JOB_KIND,
						  NULL, 0, id);
	if (rc) {
		pos_reply_err(r, rc, NULL,
			      rc == POS_ERR_CONFLICT ? "a refresh of the catalogs is running" : NULL);
		return;
	}
	json_t *o = json_pack("{s:s, s:s}", "job_id", id, "status", "queued");
	reply(r, 202, o, o ? POS_OK : POS_ERR_NOMEM, NULL);
}
