/*
 * memories.c — /api/memories: create, bulk, list, get, update, delete.
 */
#include "api/api.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "memory/graph.h"
#include "memory/memory.h"
#include "plugins/plugins.h"

void pos_api_reply_memory(struct pos_req *r, int status, const struct pos_memory *m)
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

/* The bytes a new memory adds to the quota: its content and metadata as
 * sent (the store counts what it keeps the same way). */
static int64_t memory_bytes(const json_t *item)
{
	int64_t n = 0;
	const json_t *c = json_object_get(item, "content");
	if (json_is_string(c))
		n += (int64_t)json_string_length(c);
	const json_t *md = json_object_get(item, "metadata");
	n += md && !json_is_null(md) ? (int64_t)json_dumpb(md, NULL, 0, JSON_COMPACT) : 2;
	return n;
}

/* The quotas checked before a create of `n` memories (accounts). */
static bool quota_ok(struct pos_server *srv, struct pos_req *r, const json_t *items,
		     size_t n, bool single)
{
	int64_t add[POS_QUOTA__COUNT] = {0};
	add[POS_QUOTA_MEMORIES] = (int64_t)n;
	for (size_t i = 0; i < n; i++)
		add[POS_QUOTA_BYTES] += memory_bytes(single ? items : json_array_get(items, i));
	struct pos_error err;
	pos_error_clear(&err);
	if (pos_auth_quota_check(&srv->app->auth, r->arena, r->principal.user_id, add, &err)) {
		pos_reply_error(r, &err);
		return false;
	}
	return true;
}

void pos_api_memory_create(struct pos_server *srv, struct pos_req *r)
{
	json_t *body;
	if (!pos_req_json(r, &body))
		return;
	struct pos_memory m;
	struct pos_error err;
	pos_error_clear(&err);
	if (!quota_ok(srv, r, body, 1, true))
		; /* answered: 413 quota_exceeded */
	else if (pos_memory_create(&srv->app->mem, r->arena, r->principal.user_id, body, &m, &err))
		pos_reply_error(r, &err);
	else {
		pos_api_reply_memory(r, 201, &m);
		pos_plugins_memory_event(srv->app->plugins, r->principal.user_id, POS_HOOK_MEMORY_CREATED, m.id);
	}
	json_decref(body);
}

void pos_api_memory_bulk(struct pos_server *srv, struct pos_req *r)
{
	json_t *body;
	if (!pos_req_json(r, &body))
		return;
	struct pos_memory *v;
	size_t n = 0;
	struct pos_error err;
	pos_error_clear(&err);
	/* the whole batch is checked before anything is inserted */
	json_t *list = json_object_get(body, "memories");
	if (json_is_array(list) && json_array_size(list) <= POS_BULK_MAX &&
	    !quota_ok(srv, r, list, json_array_size(list), false))
		; /* answered: 413 quota_exceeded */
	else if (pos_memory_bulk(&srv->app->mem, r->arena, r->principal.user_id, body, &v, &n, &err)) {
		pos_reply_error(r, &err);
	} else {
		struct pos_buf b;
		pos_buf_init(&b, POS_RESPONSE_MAX);
		struct pos_jw w;
		pos_jw_init(&w, &b);
		pos_jw_obj(&w);
		pos_jw_kint(&w, "created", (int64_t)n);
		pos_jw_key(&w, "ids");
		pos_jw_arr(&w);
		for (size_t i = 0; i < n; i++)
			pos_jw_str(&w, v[i].id);
		pos_jw_arr_end(&w);
		pos_jw_obj_end(&w);
		if (w.rc) {
			pos_buf_free(&b);
			pos_reply_err(r, w.rc, NULL, NULL);
		} else {
			pos_reply_json(r, 201, &b);
		}
	}
	json_decref(body);
}

void pos_api_memory_list(struct pos_server *srv, struct pos_req *r)
{
	struct pos_memory_query q;
	struct pos_error err;
	pos_error_clear(&err);
	if (pos_filters_parse(r->arena, pos_req_param_cb, r, r->principal.user_id, &q, &err)) {
		pos_reply_error(r, &err);
		return;
	}
	/* sharing: ?shared=with_me lists what others shared */
	const char *shared = pos_req_param(r, "shared");
	if (shared) {
		if (strcmp(shared, "with_me") != 0)
			pos_reply_err(r, POS_ERR_INVALID_FIELD, "shared", "shared must be with_me");
		else
			pos_api_memory_list_shared(srv, r, &q);
		return;
	}
	struct pos_memory *v = NULL;
	size_t n = 0;
	int64_t total = 0;
	enum pos_err rc = pos_memory_list(&srv->app->mem, r->arena, &q, &v, &n, &total);
	if (rc) {
		pos_reply_err(r, rc, NULL, NULL);
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
	pos_jw_kint(&w, "limit", q.limit);
	pos_jw_kint(&w, "offset", q.offset);
	pos_jw_kbool(&w, "has_more", (int64_t)q.offset + (int64_t)n < total);
	pos_jw_obj_end(&w);
	if (w.rc) {
		pos_buf_free(&b);
		pos_reply_err(r, w.rc, NULL, NULL);
		return;
	}
	pos_reply_json(r, 200, &b);
}

/* ?include=embedding: the stored vector, dequantized, and its model. */
static bool wants_embedding(struct pos_req *r)
{
	const char *inc = pos_req_param(r, "include");
	return inc && strstr(inc, "embedding");
}

void pos_api_memory_get(struct pos_server *srv, struct pos_req *r)
{
	struct pos_memory m;
	struct pos_error err;
	pos_error_clear(&err);
	if (pos_memory_get(&srv->app->mem, r->arena, r->principal.user_id,
			   pos_req_path(r, 0), &m, &err)) {
		/* sharing: a memory shared with the caller */
		if (err.code != POS_ERR_NOT_FOUND || !pos_api_shared_read(srv, r, pos_req_path(r, 0)))
			pos_reply_error(r, &err);
		return;
	}
	pos_plugins_memory_event(srv->app->plugins, r->principal.user_id, POS_HOOK_MEMORY_ACCESSED, m.id);
	if (!wants_embedding(r)) {
		pos_api_reply_memory(r, 200, &m);
		return;
	}
	struct pos_vec v;
	enum pos_err rc = pos_memory_vector(&srv->app->mem, r->arena, r->principal.user_id,
						     m.seq, &v);
	if (rc) {
		pos_reply_err(r, rc, NULL, NULL);
		return;
	}
	struct pos_buf b;
	pos_buf_init(&b, POS_RESPONSE_MAX);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_jw_obj(&w);
	pos_memory_json_fields(&w, &m);
	pos_jw_key(&w, "embedding");
	if (v.q) {
		pos_jw_arr(&w);
		for (unsigned i = 0; i < v.dim; i++)
			pos_jw_double(&w, (double)((float)v.q[i] * v.scale));
		pos_jw_arr_end(&w);
	} else {
		pos_jw_null(&w); /* not embedded yet (remote provider) */
	}
	pos_jw_kstr(&w, "embedding_model", v.q ? v.model : NULL);
	pos_jw_obj_end(&w);
	if (w.rc) {
		pos_buf_free(&b);
		pos_reply_err(r, w.rc, NULL, NULL);
		return;
	}
	pos_reply_json(r, 200, &b);
}

void pos_api_memory_update(struct pos_server *srv, struct pos_req *r)
{
	json_t *body;
	if (!pos_req_json(r, &body))
		return;
	struct pos_memory m;
	struct pos_error err;
	pos_error_clear(&err);
	if (pos_memory_update(&srv->app->mem, r->arena, r->principal.user_id,
			      pos_req_path(r, 0), body, &m, &err))
		pos_api_reply_not_owner(srv, r, pos_req_path(r, 0), &err);
	else
		pos_api_reply_memory(r, 200, &m);
	json_decref(body);
}

void pos_api_memory_delete(struct pos_server *srv, struct pos_req *r)
{
	struct pos_error err;
	pos_error_clear(&err);
	if (pos_memory_delete(&srv->app->mem, r->principal.user_id, pos_req_path(r, 0), &err))
		pos_api_reply_not_owner(srv, r, pos_req_path(r, 0), &err);
	else {
		/* files: the memory's attachments went with it; their blobs go now */
		(void)pos_files_collect(&srv->app->files, r->principal.user_id, NULL);
		pos_reply_empty(r, 204);
	}
}

static void reply_writer(struct pos_req *r, struct pos_buf *b, enum pos_err rc,
			 const struct pos_error *err)
{
	if (rc) {
		pos_buf_free(b);
		if (err && err->code)
			pos_reply_error(r, err);
		else
			pos_reply_err(r, rc, NULL, NULL);
		return;
	}
	pos_reply_json(r, 200, b);
}

void pos_api_memory_stats(struct pos_server *srv, struct pos_req *r)
{
	struct pos_buf b;
	pos_buf_init(&b, 4 * 1024 * 1024);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	struct pos_error err;
	pos_error_clear(&err);
	bool hide_chat;
	enum pos_err rc = pos_filters_include(pos_req_param(r, "include"), &hide_chat, &err);
	if (!rc)
		rc = pos_memory_stats_json(srv->app->store, r->arena, r->principal.user_id,
					   hide_chat, &w, &err);
	reply_writer(r, &b, rc, &err);
}

void pos_api_memory_filters(struct pos_server *srv, struct pos_req *r)
{
	struct pos_buf b;
	pos_buf_init(&b, 4 * 1024 * 1024);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	struct pos_error err;
	pos_error_clear(&err);
	enum pos_err rc = pos_memory_filters_json(srv->app->store, r->arena, r->principal.user_id,
						  &w, &err);
	reply_writer(r, &b, rc, &err);
}

/* An optional integer query parameter in [min, max]; 422 when malformed. */
static bool int_param(struct pos_req *r, const char *name, long long min,
		      long long max, unsigned *out)
{
	const char *v = pos_req_param(r, name);
	long long n;
	if (!v)
		return true;
	if (!pos_parse_int(v, min, LLONG_MAX, &n)) {
		char msg[96];
		snprintf(msg, sizeof(msg), "%s must be an integer >= %lld", name, min);
		pos_reply_err(r, POS_ERR_INVALID_FIELD, name, msg);
		return false;
	}
	*out = (unsigned)(n > max ? max : n);
	return true;
}

void pos_api_memory_graph(struct pos_server *srv, struct pos_req *r)
{
	unsigned depth = POS_GRAPH_DEPTH_DEFAULT, limit = POS_GRAPH_LIMIT_DEFAULT;
	if (!int_param(r, "depth", 0, POS_GRAPH_DEPTH_MAX, &depth) ||
	    !int_param(r, "limit", 1, POS_GRAPH_LIMIT_MAX, &limit))
		return;
	const char *root = pos_req_param(r, "root");
	if (root && !*root)
		root = NULL;
	struct pos_graph g;
	struct pos_graph_filter f = {0, 0.0};
	struct pos_error err;
	pos_error_clear(&err);
	const char *ms = pos_req_param(r, "min_strength");
	if (ms && *ms) {
		char *end;
		f.min_strength = strtod(ms, &end);
		if (*end || !(f.min_strength >= 0 && f.min_strength <= 1)) {
			pos_reply_err(r, POS_ERR_INVALID_FIELD, "min_strength",
				      "min_strength must be a number from 0 to 1");
			return;
		}
	}
	if (pos_graph_types_parse(pos_req_param(r, "types"), &f, &err) ||
	    pos_memory_graph(srv->app->store, r->arena, r->principal.user_id, root, depth,
			     limit, &f, &g, &err)) {
		pos_reply_error(r, &err);
		return;
	}
	struct pos_buf b;
	pos_buf_init(&b, POS_RESPONSE_MAX);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_graph_json(&w, &g);
	reply_writer(r, &b, w.rc, NULL);
}
