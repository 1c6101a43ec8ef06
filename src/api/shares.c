/*
 * shares.c — sharing a memory with other users (docs/SECURITY.md):
 * POST /api/memories/{id}/share, DELETE /api/memories/{id}/share/{email},
 * and the recipient's side of GET /api/memories (?shared=with_me),
 * GET /api/memories/{id} and search (include_shared=true).
 *
 * Who gets what: the owner manages shares; a recipient reads, and is told
 * 403 forbidden when they try to change, delete or re-share (they can see
 * the memory, so a 404 would contradict the GET they just did); anyone
 * else gets 404, as for any memory that is not theirs.
 */
#include "api/api.h"

#include <string.h>

#include "base/clock.h"
#include "files/hitline.h"
#include "memory/share.h"

bool pos_api_shared_read(struct pos_server *srv, struct pos_req *r, const char *id)
{
	struct pos_memory m;
	struct pos_error err;
	pos_error_clear(&err);
	bool shared = false;
	if (pos_share_read(&srv->app->mem, r->arena, r->principal.user_id, id, &m, &shared,
			   &err) == POS_OK)
		pos_api_reply_memory(r, 200, &m);
	else if (shared)
		pos_reply_error(r, &err);
	return shared;
}

void pos_api_reply_not_owner(struct pos_server *srv, struct pos_req *r, const char *id,
			     const struct pos_error *err)
{
	struct pos_error e = *err;
	pos_share_explain_not_owner(&srv->app->mem, r->arena, r->principal.user_id, id, &e);
	pos_reply_error(r, &e);
}

void pos_api_memory_share(struct pos_server *srv, struct pos_req *r)
{
	json_t *body;
	if (!pos_req_json(r, &body))
		return;
	const char *id = pos_req_path(r, 0);
	struct pos_error err;
	pos_error_clear(&err);
	json_t *arr = json_object_get(body, "emails");
	size_t n = json_array_size(arr);
	const char **emails = NULL;
	if (!arr || json_is_null(arr)) {
		pos_reply_err(r, POS_ERR_MISSING_FIELD, "emails", "emails is required");
		goto out;
	}
	if (!json_is_array(arr) || n == 0 || n > POS_SHARE_EMAILS_MAX) {
		pos_reply_err(r, POS_ERR_INVALID_FIELD, "emails",
			      "emails must be an array of 1 to 100 email addresses");
		goto out;
	}
	emails = pos_arena_alloc(r->arena, n * sizeof(*emails));
	if (!emails) {
		pos_reply_err(r, POS_ERR_NOMEM, NULL, NULL);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(arr, i);
		char norm[256];
		struct pos_error nerr;
		if (!json_is_string(e) ||
		    pos_auth_normalize_email(json_string_value(e), norm, sizeof(norm), &nerr) ||
		    !(emails[i] = pos_arena_strdup(r->arena, norm))) {
			pos_error_set(&err, POS_ERR_INVALID_FIELD, "emails",
				      "emails[%zu] is not a valid email address", i);
			err.index = (int)i;
			pos_reply_error(r, &err);
			goto out;
		}
	}
	struct pos_memory m;
	if (pos_share_add(&srv->app->mem, r->arena, r->principal.user_id, id, emails, n, &m,
			  &err)) {
		pos_reply_error(r, &err);
		goto out;
	}
	pos_api_reply_memory(r, 200, &m);
out:
	json_decref(body);
}

void pos_api_memory_unshare(struct pos_server *srv, struct pos_req *r)
{
	const char *id = pos_req_path(r, 0);
	char norm[256];
	struct pos_error err;
	pos_error_clear(&err);
	if (pos_auth_normalize_email(pos_req_path(r, 1), norm, sizeof(norm), &err)) {
		pos_reply_err(r, POS_ERR_INVALID_FIELD, "email", "not a valid email address");
		return;
	}
	if (pos_share_remove(&srv->app->mem, r->arena, r->principal.user_id, id, norm, &err))
		pos_reply_error(r, &err);
	else
		pos_reply_empty(r, 204);
}

void pos_api_memory_list_shared(struct pos_server *srv, struct pos_req *r,
				const struct pos_memory_query *q)
{
	struct pos_memory *v = NULL;
	size_t n = 0;
	int64_t total = 0;
	struct pos_error err;
	pos_error_clear(&err);
	if (pos_share_list(&srv->app->mem, r->arena, r->principal.user_id, q->limit, q->offset,
			   &v, &n, &total, &err)) {
		pos_reply_error(r, &err);
		return;
	}
	struct pos_buf b;
	pos_buf_init(&b, POS_RESPONSE_MAX);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_jw_obj(&w);
	pos_jw_key(&w, "memories");
	pos_jw_arr(&w);
	for (size_t i = 0; i < n; i++)
		pos_memory_json(&w, &v[i]);
	pos_jw_arr_end(&w);
	pos_jw_kint(&w, "total", total);
	pos_jw_kint(&w, "limit", q->limit);
	pos_jw_kint(&w, "offset", q->offset);
	pos_jw_kbool(&w, "has_more", (int64_t)q->offset + (int64_t)n < total);
	pos_jw_obj_end(&w);
	if (w.rc) {
		pos_buf_free(&b);
		pos_reply_err(r, w.rc, NULL, NULL);
		return;
	}
	pos_reply_json(r, 200, &b);
}

/* The merge itself is the sharing service's (pos_share_search_with_own). */
void pos_api_search_with_shared(struct pos_server *srv, struct pos_req *r,
				struct pos_search_request *req)
{
	struct pos_error err;
	pos_error_clear(&err);
	struct pos_share_search_result res;
	if (pos_share_search_with_own(&srv->app->mem, r->arena, req, &res, &err)) {
		pos_reply_error(r, &err);
		return;
	}
	/* where in a file each hit matched (files/hitline.h): from the hit's
	 * own content, which the caller may read */
	struct pos_hitline_needles nd;
	if (pos_hitline_prepare(r->arena, req->query, req->query_len, req->typing, &nd)) {
		pos_reply_err(r, POS_ERR_NOMEM, NULL, NULL);
		return;
	}
	struct pos_buf b;
	pos_buf_init(&b, POS_RESPONSE_MAX);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_jw_obj(&w);
	pos_jw_key(&w, "memories");
	pos_jw_arr(&w);
	for (size_t i = 0; i < res.n; i++) {
		pos_jw_obj(&w);
		pos_memory_json_fields(&w, res.hits[i].memory);
		pos_jw_key(&w, "score");
		pos_jw_double(&w, res.hits[i].score);
		struct pos_hitline hl;
		if (pos_hitline_find(r->arena, &nd, res.hits[i].memory, &hl)) {
			pos_jw_key(&w, "match");
			pos_hitline_json(&w, &hl);
		}
		pos_jw_obj_end(&w);
	}
	pos_jw_arr_end(&w);
	pos_jw_kint(&w, "total", res.total);
	pos_jw_kint(&w, "limit", req->limit);
	pos_jw_kint(&w, "offset", req->offset);
	pos_jw_kbool(&w, "has_more", (int64_t)req->offset + (int64_t)res.n < res.total);
	pos_jw_kstr(&w, "mode", req->mode == POS_SEARCH_KEYWORD ? "keyword"
				: req->mode == POS_SEARCH_SEMANTIC ? "semantic" : "hybrid");
	pos_jw_kint(&w, "shared", (int64_t)res.shared);
	pos_jw_key(&w, "took_ms");
	pos_jw_double(&w, res.took_ms);
	pos_jw_obj_end(&w);
	if (w.rc) {
		pos_buf_free(&b);
		pos_reply_err(r, w.rc, NULL, NULL);
		return;
	}
	pos_reply_json(r, 200, &b);
}
