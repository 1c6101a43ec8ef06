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
#include "memory/share.h"

static void reply_memory_view(struct pos_req *r, int status, const struct pos_memory *m)
{
	struct pos_buf b;
	pos_buf_init(&b, POS_RESPONSE_MAX);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_memory_json(&w, m);
	if (w.rc) {
		pos_buf_free(&b);
		pos_reply_err(r, w.rc, NULL, NULL);
		return;
	}
	pos_reply_json(r, status, &b);
}

/* The caller's email as the recipient sees it in shared_with; NULL on a
 * store failure (answered). */
static const char *caller_email(struct pos_server *srv, struct pos_req *r)
{
	struct pos_user u;
	enum pos_err rc = srv->app->store->ops->user_by_id(srv->app->store, r->arena,
						      r->principal.user_id, &u);
	if (rc) {
		pos_reply_err(r, rc == POS_ERR_NOT_FOUND ? POS_ERR_UNAUTHORIZED : rc, NULL, NULL);
		return NULL;
	}
	return u.email;
}

bool pos_api_shared_read(struct pos_server *srv, struct pos_req *r, const char *id)
{
	struct pos_memory m;
	enum pos_err grc = srv->app->store->ops->shared_get(srv->app->store, r->arena,
						       r->principal.user_id, id, &m);
	if (grc == POS_ERR_LOCKED || grc == POS_ERR_DECRYPT) {
		/* shared with the caller, but the owner's encrypted data is
		 * locked (or its ciphertext is bad): say so, serve nothing */
		pos_reply_err(r, grc, NULL, grc == POS_ERR_LOCKED
			      ? "this memory is encrypted and its owner's data is locked"
			      : NULL);
		return true;
	}
	if (grc)
		return false;
	const char *email = caller_email(srv, r);
	if (!email)
		return true;
	enum pos_err rc = pos_share_recipient_view(r->arena, &m, email);
	if (rc)
		pos_reply_err(r, rc, NULL, NULL);
	else
		reply_memory_view(r, 200, &m);
	return true;
}

void pos_api_reply_not_owner(struct pos_server *srv, struct pos_req *r, const char *id,
			     const struct pos_error *err)
{
	struct pos_memory m;
	if (err->code == POS_ERR_NOT_FOUND &&
	    srv->app->store->ops->shared_get(srv->app->store, r->arena, r->principal.user_id, id, &m) ==
		    POS_OK) {
		pos_reply_err(r, POS_ERR_FORBIDDEN, NULL,
			      "this memory is shared with you to read; only its owner may change it");
		return;
	}
	pos_reply_error(r, err);
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
	enum pos_err rc = srv->app->store->ops->memory_get(srv->app->store, r->arena, r->principal.user_id,
						      id, false, 0, &m);
	if (rc) {
		pos_error_set(&err, rc, NULL, NULL);
		pos_api_reply_not_owner(srv, r, id, &err);
		goto out;
	}
	if ((rc = pos_share_check_encrypted(&srv->app->mem, &m, &err)) ||
	    (rc = srv->app->store->ops->share_add(srv->app->store, r->principal.user_id, id, emails, n,
					     pos_now_us(), &err))) {
		/* The store fills `err` for input errors only. */
		if (!err.code)
			pos_error_set(&err, rc, NULL, NULL);
		pos_reply_error(r, &err);
		goto out;
	}
	if ((rc = srv->app->store->ops->memory_get(srv->app->store, r->arena, r->principal.user_id, id,
					      false, 0, &m))) {
		pos_reply_err(r, rc, NULL, NULL);
		goto out;
	}
	reply_memory_view(r, 200, &m);
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
	struct pos_memory m;
	enum pos_err rc = srv->app->store->ops->memory_get(srv->app->store, r->arena, r->principal.user_id,
						      id, false, 0, &m);
	if (rc) {
		pos_error_set(&err, rc, NULL, NULL);
		pos_api_reply_not_owner(srv, r, id, &err);
		return;
	}
	rc = srv->app->store->ops->share_remove(srv->app->store, r->principal.user_id, id, norm);
	if (rc == POS_ERR_NOT_FOUND)
		pos_reply_err(r, rc, NULL, "this memory is not shared with that email");
	else if (rc)
		pos_reply_err(r, rc, NULL, NULL);
	else
		pos_reply_empty(r, 204);
}

void pos_api_memory_list_shared(struct pos_server *srv, struct pos_req *r,
				const struct pos_memory_query *q)
{
	struct pos_memory *v = NULL;
	size_t n = 0;
	int64_t total = 0;
	enum pos_err rc = srv->app->store->ops->shared_list(srv->app->store, r->arena, r->principal.user_id,
						       q->limit, q->offset, &v, &n, &total);
	if (rc) {
		pos_reply_err(r, rc, NULL, NULL);
		return;
	}
	const char *email = n ? caller_email(srv, r) : "";
	if (!email)
		return;
	struct pos_buf b;
	pos_buf_init(&b, POS_RESPONSE_MAX);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_jw_obj(&w);
	pos_jw_key(&w, "memories");
	pos_jw_arr(&w);
	for (size_t i = 0; i < n && !rc; i++) {
		rc = pos_share_recipient_view(r->arena, &v[i], email);
		if (!rc)
			pos_memory_json(&w, &v[i]);
	}
	pos_jw_arr_end(&w);
	pos_jw_kint(&w, "total", total);
	pos_jw_kint(&w, "limit", q->limit);
	pos_jw_kint(&w, "offset", q->offset);
	pos_jw_kbool(&w, "has_more", (int64_t)q->offset + (int64_t)n < total);
	pos_jw_obj_end(&w);
	if (rc || w.rc) {
		pos_buf_free(&b);
		pos_reply_err(r, rc ? rc : w.rc, NULL, NULL);
		return;
	}
	pos_reply_json(r, 200, &b);
}

/*
 * Own results come from the search engine as usual (hybrid, cached);
 * shared ones by keyword only, fresh from the store on every call (so a
 * revoked share disappears at once), scored like a keyword-only hit of the
 * fusion: weight_keyword / (rrf_k + rank). Both lists are taken up to
 * offset + limit, merged by score, and the page is cut from the merge.
 */
void pos_api_search_with_shared(struct pos_server *srv, struct pos_req *r,
				struct pos_search_request *req)
{
	struct pos_error err;
	pos_error_clear(&err);
	unsigned offset = req->offset, limit = req->limit;
	if (offset > 10000) {
		pos_reply_err(r, POS_ERR_INVALID_FIELD, "offset",
			      "with include_shared, offset is at most 10000");
		return;
	}
	unsigned want = offset + limit;
	req->offset = 0;
	req->limit = want;
	struct pos_search_result own;
	if (pos_search_run(srv->app->search, r->arena, req, &own, &err)) {
		pos_reply_error(r, &err);
		return;
	}
	struct pos_memory *sm = NULL;
	double *ss = NULL;
	size_t ns = 0;
	if (pos_share_search(&srv->app->mem, r->arena, r->principal.user_id, req->query,
			     req->query_len, &req->filters, want, &sm, &ss, &ns, &err)) {
		pos_reply_error(r, &err);
		return;
	}
	const char *email = ns ? caller_email(srv, r) : "";
	if (!email)
		return;
	double k = srv->cfg->search_rrf_k, wk = srv->cfg->search_weight_keyword;
	struct pos_buf b;
	pos_buf_init(&b, POS_RESPONSE_MAX);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_jw_obj(&w);
	pos_jw_key(&w, "memories");
	pos_jw_arr(&w);
	size_t i = 0, j = 0, pos = 0, shown = 0;
	enum pos_err rc = POS_OK;
	while ((i < own.n || j < ns) && shown < limit && !rc) {
		double so = i < own.n ? own.hits[i].rank.score : -1e300;
		double sh = j < ns ? wk / (k + (double)(j + 1)) : -1e300;
		bool take_own = so >= sh;
		if (pos++ < offset) {
			take_own ? i++ : j++;
			continue;
		}
		pos_jw_obj(&w);
		if (take_own) {
			pos_memory_json_fields(&w, &own.hits[i].memory);
			pos_jw_key(&w, "score");
			pos_jw_double(&w, so);
			i++;
		} else {
			rc = pos_share_recipient_view(r->arena, &sm[j], email);
			pos_memory_json_fields(&w, &sm[j]);
			pos_jw_key(&w, "score");
			pos_jw_double(&w, sh);
			j++;
		}
		pos_jw_obj_end(&w);
		shown++;
	}
	pos_jw_arr_end(&w);
	int64_t total = own.total + (int64_t)ns;
	pos_jw_kint(&w, "total", total);
	pos_jw_kint(&w, "limit", limit);
	pos_jw_kint(&w, "offset", offset);
	pos_jw_kbool(&w, "has_more", (int64_t)offset + (int64_t)shown < total);
	pos_jw_kstr(&w, "mode", req->mode == POS_SEARCH_KEYWORD ? "keyword"
				: req->mode == POS_SEARCH_SEMANTIC ? "semantic" : "hybrid");
	pos_jw_kint(&w, "shared", (int64_t)ns);
	pos_jw_key(&w, "took_ms");
	pos_jw_double(&w, own.took_ms);
	pos_jw_obj_end(&w);
	if (rc || w.rc) {
		pos_buf_free(&b);
		pos_reply_err(r, rc ? rc : w.rc, NULL, NULL);
		return;
	}
	pos_reply_json(r, 200, &b);
}
