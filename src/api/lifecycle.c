/*
 * lifecycle.c — /api/memories/lifecycle/run and /policy: run the layer policy now, read
 * and change the caller's policy; POST /api/memories/{id}/accessed and
 * POST /api/memories/{id}/merge (docs/LIFECYCLE.md).
 */
#include "api/api.h"

#include "assistant/categories.h"
#include "base/clock.h"
#include "memory/lifecycle.h"
#include "memory/memory.h"
#include "memory/merge.h"

/* A route whose body is optional: none, or a JSON object (ignored); as
 * in api/chat.c. */
static bool optional_object(struct pos_req *r)
{
	if (!r->body.len)
		return true;
	json_t *body;
	if (!pos_req_json(r, &body))
		return false;
	json_decref(body);
	return true;
}

static void reply_policy(struct pos_req *r, const struct pos_life_policy *p)
{
	struct pos_buf b;
	pos_buf_init(&b, 4096);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_life_policy_json(&w, p);
	if (w.rc) {
		pos_buf_free(&b);
		pos_reply_err(r, w.rc, NULL, NULL);
		return;
	}
	pos_reply_json(r, 200, &b);
}

void pos_api_memory_lifecycle_run(struct pos_server *srv, struct pos_req *r)
{
	struct pos_life_result res;
	struct pos_error err;
	pos_error_clear(&err);
	if (!optional_object(r))
		return;
	if (pos_lifecycle_run(srv->app->store, r->principal.user_id, pos_now_us(), NULL, NULL,
			      &res, &err)) {
		pos_reply_error(r, &err);
		return;
	}
	struct pos_buf b;
	pos_buf_init(&b, 64 * 1024);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_life_result_json(&w, &res);
	if (w.rc) {
		pos_buf_free(&b);
		pos_reply_err(r, w.rc, NULL, NULL);
		return;
	}
	pos_reply_json(r, 200, &b);
}

void pos_api_memory_lifecycle_policy_get(struct pos_server *srv, struct pos_req *r)
{
	struct pos_life_policy p;
	struct pos_error err;
	pos_error_clear(&err);
	if (pos_lifecycle_policy_get(srv->app->store, r->arena, r->principal.user_id, &p, &err))
		pos_reply_error(r, &err);
	else
		reply_policy(r, &p);
}

void pos_api_memory_lifecycle_policy_put(struct pos_server *srv, struct pos_req *r)
{
	json_t *body;
	if (!pos_req_json(r, &body))
		return;
	struct pos_life_policy p;
	struct pos_error err;
	pos_error_clear(&err);
	if (pos_lifecycle_policy_put(srv->app->store, r->arena, r->principal.user_id, body, &p, &err))
		pos_reply_error(r, &err);
	else
		reply_policy(r, &p);
	json_decref(body);
}

void pos_api_memory_accessed(struct pos_server *srv, struct pos_req *r)
{
	struct pos_memory m;
	struct pos_error err;
	pos_error_clear(&err);
	if (!optional_object(r))
		return;
	/* reading it counts the access (write-behind, store/sqlite_access.c) */
	if (pos_memory_get(&srv->app->mem, r->arena, r->principal.user_id, pos_req_path(r, 0), &m,
			   &err))
		pos_reply_error(r, &err);
	else
		pos_reply_empty(r, 204);
}

void pos_api_memory_merge(struct pos_server *srv, struct pos_req *r)
{
	json_t *body;
	if (!pos_req_json(r, &body))
		return;
	struct pos_memory m;
	struct pos_error err;
	pos_error_clear(&err);
	if (pos_merge_memories(&srv->app->mem, r->arena, r->principal.user_id, pos_req_path(r, 0),
			       body, &m, &err)) {
		pos_reply_error(r, &err);
	} else {
		struct pos_buf b;
		pos_buf_init(&b, POS_RESPONSE_MAX);
		struct pos_jw w;
		pos_jw_init(&w, &b);
		pos_memory_json(&w, &m);
		if (w.rc) {
			pos_buf_free(&b);
			pos_reply_err(r, w.rc, NULL, NULL);
		} else {
			pos_reply_json(r, 200, &b);
		}
	}
	json_decref(body);
}

void pos_api_memory_categories(struct pos_server *srv, struct pos_req *r)
{
	struct pos_buf b;
	pos_buf_init(&b, 1024 * 1024);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	struct pos_error err;
	pos_error_clear(&err);
	enum pos_err rc = pos_categories_json(&srv->app->assistant, r->arena, r->principal.user_id,
					      &w, &err);
	if (rc) {
		pos_buf_free(&b);
		if (err.code)
			pos_reply_error(r, &err);
		else
			pos_reply_err(r, rc, NULL, NULL);
		return;
	}
	pos_reply_json(r, 200, &b);
}
