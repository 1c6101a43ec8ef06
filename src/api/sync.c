/*
 * sync.c — the sync API: sources (list, create, show with recent runs,
 * delete keeping or removing their memories), manual start, status with
 * progress. Secrets are accepted in `config` and never shown again.
 */
#include "api/api.h"

#include <string.h>

#include "sync/sync.h"

static void reply_jw(struct pos_req *r, int status, struct pos_buf *b, enum pos_err rc)
{
	if (rc) {
		pos_buf_free(b);
		pos_reply_err(r, rc, NULL, rc == POS_ERR_NOT_FOUND ? "source not found" : NULL);
		return;
	}
	pos_reply_json(r, status, b);
}

static bool have_sync(struct pos_server *srv, struct pos_req *r)
{
	if (srv->app->sync)
		return true;
	pos_reply_err(r, POS_ERR_UNAVAILABLE, NULL, "sync is not running on this server");
	return false;
}

void pos_api_sync_sources_list(struct pos_server *srv, struct pos_req *r)
{
	if (!have_sync(srv, r))
		return;
	struct pos_buf b;
	pos_buf_init(&b, 16 * 1024 * 1024);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	enum pos_err rc = pos_sync_sources_json(srv->app->sync, r->arena, r->principal.user_id, &w);
	reply_jw(r, 200, &b, rc ? rc : w.rc);
}

void pos_api_sync_sources_create(struct pos_server *srv, struct pos_req *r)
{
	if (!have_sync(srv, r))
		return;
	json_t *body;
	if (!pos_req_json(r, &body))
		return;
	struct pos_error err;
	pos_error_clear(&err);
	struct pos_sync_source src;
	const int64_t add[POS_QUOTA__COUNT] = {[POS_QUOTA_SOURCES] = 1};
	if (pos_auth_quota_check(&srv->app->auth, r->arena, r->principal.user_id, add, &err)) {
		json_decref(body);
		pos_reply_error(r, &err);
		return;
	}
	enum pos_err rc = pos_sync_source_create(srv->app->sync, r->arena, r->principal.user_id,
						 body, true, &src, &err);
	json_decref(body);
	if (rc) {
		pos_reply_error(r, &err);
		return;
	}
	struct pos_buf b;
	pos_buf_init(&b, 1024 * 1024);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_sync_source_json(srv->app->sync, &w, &src);
	reply_jw(r, 201, &b, w.rc);
}

void pos_api_sync_sources_get(struct pos_server *srv, struct pos_req *r)
{
	if (!have_sync(srv, r))
		return;
	struct pos_buf b;
	pos_buf_init(&b, 16 * 1024 * 1024);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	enum pos_err rc = pos_sync_source_detail_json(srv->app->sync, r->arena, r->principal.user_id,
						      pos_req_path(r, 0), &w);
	reply_jw(r, 200, &b, rc ? rc : w.rc);
}

void pos_api_sync_sources_delete(struct pos_server *srv, struct pos_req *r)
{
	if (!have_sync(srv, r))
		return;
	const char *keep = pos_req_param(r, "keep_memories");
	bool k = true;
	if (keep && !strcmp(keep, "false"))
		k = false;
	else if (keep && strcmp(keep, "true")) {
		pos_reply_err(r, POS_ERR_INVALID_FIELD, "keep_memories",
			      "keep_memories must be true or false");
		return;
	}
	struct pos_error err;
	pos_error_clear(&err);
	if (pos_sync_source_remove(srv->app->sync, r->principal.user_id, pos_req_path(r, 0), k, &err))
		pos_reply_error(r, &err);
	else
		pos_reply_empty(r, 204);
}

void pos_api_sync_start(struct pos_server *srv, struct pos_req *r)
{
	if (!have_sync(srv, r))
		return;
	json_t *body = NULL;
	const char *sid = NULL;
	if (r->body.len) {
		if (!pos_req_json(r, &body))
			return;
		json_t *v = json_object_get(body, "source_id");
		if (v && !json_is_null(v)) {
			if (!json_is_string(v)) {
				json_decref(body);
				pos_reply_err(r, POS_ERR_INVALID_FIELD, "source_id",
					      "source_id must be a string");
				return;
			}
			sid = json_string_value(v);
		}
	}
	char job[POS_UUID_SIZE];
	struct pos_error err;
	pos_error_clear(&err);
	enum pos_err rc = pos_sync_start(srv->app->sync, r->principal.user_id, sid, job, &err);
	json_decref(body);
	if (rc) {
		pos_reply_error(r, &err);
		return;
	}
	struct pos_buf b;
	pos_buf_init(&b, 4096);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_jw_obj(&w);
	pos_jw_kstr(&w, "job_id", job);
	pos_jw_obj_end(&w);
	reply_jw(r, 202, &b, w.rc);
}

void pos_api_sync_status(struct pos_server *srv, struct pos_req *r)
{
	if (!have_sync(srv, r))
		return;
	struct pos_buf b;
	pos_buf_init(&b, 16 * 1024 * 1024);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	enum pos_err rc = pos_sync_status_json(srv->app->sync, r->arena, r->principal.user_id, &w);
	reply_jw(r, 200, &b, rc ? rc : w.rc);
}

void pos_api_sync_upload(struct pos_server *srv, struct pos_req *r)
{
	if (!have_sync(srv, r))
		return;
	unsigned long long cap = srv->cfg->sync_upload_max;
	if (r->body.len > cap) {
		char msg[128];
		snprintf(msg, sizeof(msg), "the upload is larger than sync_upload_max (%llu bytes)",
			 cap);
		pos_reply_err(r, POS_ERR_BODY_TOO_LARGE, NULL, msg);
		return;
	}
	struct pos_error err;
	pos_error_clear(&err);
	/* a new source, and at most the upload's bytes as memories */
	const int64_t add[POS_QUOTA__COUNT] = {[POS_QUOTA_SOURCES] = 1,
					       [POS_QUOTA_BYTES] = (int64_t)r->body.len};
	if (pos_auth_quota_check(&srv->app->auth, r->arena, r->principal.user_id, add, &err)) {
		pos_reply_error(r, &err);
		return;
	}
	struct pos_sync_source src;
	enum pos_err rc = pos_sync_upload(srv->app->sync, r->arena, r->principal.user_id,
					  pos_req_param(r, "kind"), pos_req_param(r, "name"),
					  r->body.data, r->body.len, &src, &err);
	if (rc) {
		pos_reply_error(r, &err);
		return;
	}
	struct pos_buf b;
	pos_buf_init(&b, 1024 * 1024);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_sync_source_json(srv->app->sync, &w, &src);
	reply_jw(r, 201, &b, w.rc);
}
