/*
 * search.c — GET /api/memories/search.
 */
#include "api/api.h"

#include <string.h>

#include "app/app.h"
#include "assistant/memu_search.h"
#include "assistant/timeq.h"
#include "files/hitline.h"
#include "memory/memory.h"
#include "plugins/plugins.h"
#include "search/engine.h"
#include "search/temporal.h"

static void write_explain(struct pos_jw *w, const struct pos_ranked *r)
{
	pos_jw_key(w, "explain");
	pos_jw_obj(w);
	pos_jw_key(w, "keyword");
	if (r->kw_rank) {
		pos_jw_obj(w);
		pos_jw_kint(w, "rank", r->kw_rank);
		pos_jw_key(w, "bm25");
		pos_jw_double(w, r->kw_score);
		pos_jw_obj_end(w);
	} else {
		pos_jw_null(w);
	}
	pos_jw_key(w, "semantic");
	if (r->vec_rank) {
		pos_jw_obj(w);
		pos_jw_kint(w, "rank", r->vec_rank);
		pos_jw_key(w, "cosine");
		pos_jw_double(w, r->vec_score);
		pos_jw_obj_end(w);
	} else {
		pos_jw_null(w);
	}
	if (r->memu_rank) { /* only when MemU's list took part */
		pos_jw_key(w, "memu");
		pos_jw_obj(w);
		pos_jw_kint(w, "rank", r->memu_rank);
		pos_jw_key(w, "score");
		pos_jw_double(w, r->memu_score);
		pos_jw_obj_end(w);
	}
	pos_jw_key(w, "rrf");
	pos_jw_double(w, r->rrf);
	pos_jw_key(w, "boosts");
	pos_jw_obj(w);
	pos_jw_key(w, "recency");
	pos_jw_double(w, r->b_recency);
	pos_jw_key(w, "importance");
	pos_jw_double(w, r->b_importance);
	pos_jw_key(w, "layer");
	pos_jw_double(w, r->b_layer);
	pos_jw_key(w, "access");
	pos_jw_double(w, r->b_access);
	pos_jw_key(w, "date");
	pos_jw_double(w, r->b_date);
	pos_jw_obj_end(w);
	pos_jw_obj_end(w);
}

void pos_api_memory_search(struct pos_server *srv, struct pos_req *r)
{
	struct pos_error err;
	pos_error_clear(&err);
	const char *query = pos_req_param(r, "query");
	if (!query)
		query = pos_req_param(r, "q");
	if (!query) {
		pos_reply_err(r, POS_ERR_MISSING_FIELD, "query", "query is required");
		return;
	}
	struct pos_search_request req;
	memset(&req, 0, sizeof(req));
	req.user_id = r->principal.user_id;
	req.query = query;
	req.query_len = strlen(query);
	const char *mode = pos_req_param(r, "mode");
	if (!mode || !*mode || !strcmp(mode, "hybrid"))
		req.mode = POS_SEARCH_HYBRID;
	else if (!strcmp(mode, "keyword"))
		req.mode = POS_SEARCH_KEYWORD;
	else if (!strcmp(mode, "semantic"))
		req.mode = POS_SEARCH_SEMANTIC;
	else {
		pos_reply_err(r, POS_ERR_INVALID_FIELD, "mode",
			      "mode must be hybrid, keyword or semantic");
		return;
	}
	/* The list parser reads filters, limit (clamped to 200) and offset. */
	if (pos_filters_parse(r->arena, pos_req_param_cb, r, r->principal.user_id,
				   &req.filters, &err)) {
		pos_reply_error(r, &err);
		return;
	}
	req.limit = req.filters.limit;
	req.offset = req.filters.offset;
	/* prefix=1: the query is being typed (docs/SEARCH-QUERY.md) */
	const char *pf = pos_req_param(r, "prefix");
	if (pf && *pf) {
		if (!strcmp(pf, "1") || !strcmp(pf, "true"))
			req.typing = true;
		else if (strcmp(pf, "0") != 0 && strcmp(pf, "false") != 0) {
			pos_reply_err(r, POS_ERR_INVALID_FIELD, "prefix",
				      "prefix must be true or false");
			return;
		}
	}
	const char *ex = pos_req_param(r, "explain");
	bool explain = ex && (!strcmp(ex, "1") || !strcmp(ex, "true"));
	/* sharing: include_shared=true adds memories shared with the caller */
	const char *inc = pos_req_param(r, "include_shared");
	if (inc && strcmp(inc, "false") != 0 && strcmp(inc, "0") != 0) {
		if (strcmp(inc, "true") != 0 && strcmp(inc, "1") != 0)
			pos_reply_err(r, POS_ERR_INVALID_FIELD, "include_shared",
				      "include_shared must be true or false");
		else
			pos_api_search_with_shared(srv, r, &req);
		return;
	}
	/* MemU as a third retriever for cloud-tier users (docs/SEARCH.md) */
	struct pos_search_extra memu;
	struct pos_user u;
	bool have_user = false;
	if (srv->app->assistant.memu_search && !req.typing &&
	    srv->app->store->accounts->user_by_id(srv->app->store, r->arena, req.user_id, &u) ==
		    POS_OK) {
		have_user = true;
		if (pos_memu_search_extra(&srv->app->assistant, u.privacy_tier, &memu))
			req.extra = &memu;
	}
	/* A time phrase ("yesterday") is read in the person's zone
	 * (settings.tz_offset_minutes); the account is read only then. */
	struct pos_temporal tq;
	if (!req.typing &&
	    pos_temporal_find(r->arena, req.query, req.query_len, 0, 0, &tq) == POS_OK &&
	    tq.window &&
	    (have_user || srv->app->store->accounts->user_by_id(srv->app->store, r->arena,
								 req.user_id, &u) == POS_OK))
		req.tz_offset_min = pos_timeq_tz(u.settings_json);
	struct pos_search_result res;
	if (pos_search_run(srv->app->search, r->arena, &req, &res, &err)) {
		pos_reply_error(r, &err);
		return;
	}
	/* where in a file each hit matched (files/hitline.h) */
	struct pos_hitline_needles nd;
	if (pos_hitline_prepare(r->arena, req.query, req.query_len, req.typing, &nd)) {
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
		pos_memory_json_fields(&w, &res.hits[i].memory);
		pos_jw_key(&w, "score");
		pos_jw_double(&w, res.hits[i].rank.score);
		struct pos_hitline hl;
		if (pos_hitline_find(r->arena, &nd, &res.hits[i].memory, &hl)) {
			pos_jw_key(&w, "match");
			pos_hitline_json(&w, &hl);
		}
		if (explain)
			write_explain(&w, &res.hits[i].rank);
		pos_jw_obj_end(&w);
	}
	pos_jw_arr_end(&w);
	pos_jw_kint(&w, "total", res.total);
	pos_jw_kint(&w, "limit", req.limit);
	pos_jw_kint(&w, "offset", req.offset);
	pos_jw_kbool(&w, "has_more", (int64_t)req.offset + (int64_t)res.n < res.total);
	pos_jw_kstr(&w, "mode", req.mode == POS_SEARCH_KEYWORD ? "keyword"
			       : req.mode == POS_SEARCH_SEMANTIC ? "semantic" : "hybrid");
	pos_jw_key(&w, "took_ms");
	pos_jw_double(&w, res.took_ms);
	if (res.vector_status) /* "loading": keyword only while vectors load */
		pos_jw_kstr(&w, "vector_status", res.vector_status);
	if (req.extra) {
		/* MemU applies to this user: say whether it took part */
		pos_jw_key(&w, "memu");
		pos_jw_obj(&w);
		bool asked = res.extra_status != NULL;
		bool used = asked && !strcmp(res.extra_status, "used");
		pos_jw_kstr(&w, "status", used ? "used" : "skipped");
		if (!used)
			pos_jw_kstr(&w, "reason", asked ? res.extra_status
						  : req.mode == POS_SEARCH_KEYWORD ? "keyword_mode"
						  : "no_query_text");
		pos_jw_kint(&w, "hits", (int64_t)res.extra_hits);
		pos_jw_obj_end(&w);
	}
	if (req.typing) {
		pos_jw_key(&w, "ignored_filters");
		pos_jw_arr(&w);
		for (size_t i = 0; i < res.n_ignored; i++)
			pos_jw_str(&w, res.ignored[i]);
		pos_jw_arr_end(&w);
	}
	if (!req.typing && req.offset == 0) /* plugins: on_query answers */
		pos_plugins_write_answers(srv->app->plugins, &w, r->principal.user_id, req.query, req.query_len);
	pos_jw_obj_end(&w);
	if (w.rc) {
		pos_buf_free(&b);
		pos_reply_err(r, w.rc, NULL, NULL);
		return;
	}
	pos_reply_json(r, 200, &b);
}
