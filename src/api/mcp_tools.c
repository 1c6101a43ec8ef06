/*
 * mcp_tools.c — what the MCP server offers: the tools (one table with
 * names, descriptions, JSON Schemas and scope), the resources (memory://{id}
 * and the persona) and the prompts ("recall", "remember"). Each is a thin
 * wrapper over the service the REST handler of the same operation calls,
 * so validation, limits and error codes are the REST API's. See mcp.h.
 */
#include "api/mcp.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "memory/graph.h"
#include "memory/memory.h"
#include "search/engine.h"

#define RECENT_DEFAULT 10
#define RESOURCES_LISTED 50
#define PROMPT_MEMORIES 10
#define PROMPT_SNIPPET 500
#define TITLE_BYTES 80

/* ---- arguments ---- */

/* A query parameter read from the tool's arguments object: strings as they
 * are, integers printed; another type yields "?" so the parser rejects it. */
struct args_ctx {
	struct pos_arena *a;
	const json_t *args;
};

static const char *arg_param(void *ctx, const char *name)
{
	struct args_ctx *c = ctx;
	const json_t *v = json_object_get(c->args, name);
	if (!v || json_is_null(v))
		return NULL;
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		char n[32];
		snprintf(n, sizeof(n), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return pos_arena_strdup(c->a, n);
	}
	return "?";
}

static enum pos_err arg_str(const json_t *args, const char *name, bool required,
			    const char **out, struct pos_error *err)
{
	const json_t *v = json_object_get(args, name);
	*out = NULL;
	if (!v || json_is_null(v)) {
		if (required)
			return pos_error_set(err, POS_ERR_MISSING_FIELD, name, "%s is required", name);
		return POS_OK;
	}
	if (!json_is_string(v) || !json_string_length(v))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, name,
				     "%s must be a non-empty string", name);
	*out = json_string_value(v);
	return POS_OK;
}

/* ---- tools ---- */

typedef enum pos_err (*tool_fn)(struct pos_mcp_call *c, const json_t *args,
				struct pos_jw *w, struct pos_error *err);

static const char *uid(struct pos_mcp_call *c)
{
	return c->r->principal.user_id;
}

static enum pos_err t_add(struct pos_mcp_call *c, const json_t *args, struct pos_jw *w,
			  struct pos_error *err)
{
	json_t *body = json_copy((json_t *)args); /* shallow: values borrowed */
	if (!body)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	if (!json_object_get(body, "source"))
		json_object_set_new(body, "source", json_string("mcp"));
	struct pos_memory m;
	enum pos_err rc = pos_memory_create(&c->srv->app->mem, c->r->arena, uid(c), body, &m, err);
	if (!rc)
		pos_memory_json(w, &m);
	json_decref(body);
	return rc;
}

static void write_page(struct pos_jw *w, const struct pos_memory *v, size_t n, int64_t total)
{
	pos_jw_obj(w);
	pos_jw_key(w, "memories");
	pos_jw_arr(w);
	for (size_t i = 0; i < n; i++)
		pos_memory_json(w, &v[i]);
	pos_jw_arr_end(w);
	pos_jw_kint(w, "total", total);
	pos_jw_obj_end(w);
}

static enum pos_err t_search(struct pos_mcp_call *c, const json_t *args, struct pos_jw *w,
			     struct pos_error *err)
{
	const char *query, *mode;
	enum pos_err rc;
	if ((rc = arg_str(args, "query", true, &query, err)) ||
	    (rc = arg_str(args, "mode", false, &mode, err)))
		return rc;
	struct pos_search_request req;
	memset(&req, 0, sizeof(req));
	req.user_id = uid(c);
	req.query = query;
	req.query_len = strlen(query);
	if (!mode || !strcmp(mode, "hybrid"))
		req.mode = POS_SEARCH_HYBRID;
	else if (!strcmp(mode, "keyword"))
		req.mode = POS_SEARCH_KEYWORD;
	else if (!strcmp(mode, "semantic"))
		req.mode = POS_SEARCH_SEMANTIC;
	else
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "mode",
				     "mode must be hybrid, keyword or semantic");
	struct args_ctx ac = {c->r->arena, args};
	if ((rc = pos_filters_parse(c->r->arena, arg_param, &ac, uid(c), &req.filters, err)))
		return rc;
	req.limit = json_object_get(args, "limit") ? req.filters.limit : RECENT_DEFAULT;
	req.offset = req.filters.offset;
	struct pos_search_result res;
	if ((rc = pos_search_run(c->srv->app->search, c->r->arena, &req, &res, err)))
		return rc;
	pos_jw_obj(w);
	pos_jw_key(w, "memories");
	pos_jw_arr(w);
	for (size_t i = 0; i < res.n; i++) {
		pos_jw_obj(w);
		pos_memory_json_fields(w, &res.hits[i].memory);
		pos_jw_key(w, "score");
		pos_jw_double(w, res.hits[i].rank.score);
		pos_jw_obj_end(w);
	}
	pos_jw_arr_end(w);
	pos_jw_kint(w, "total", res.total);
	pos_jw_obj_end(w);
	return POS_OK;
}

static enum pos_err t_get(struct pos_mcp_call *c, const json_t *args, struct pos_jw *w,
			  struct pos_error *err)
{
	const char *id;
	struct pos_memory m;
	enum pos_err rc;
	if ((rc = arg_str(args, "id", true, &id, err)) ||
	    (rc = pos_memory_get(&c->srv->app->mem, c->r->arena, uid(c), id, &m, err)))
		return rc;
	pos_memory_json(w, &m);
	return POS_OK;
}

static enum pos_err t_update(struct pos_mcp_call *c, const json_t *args, struct pos_jw *w,
			     struct pos_error *err)
{
	const char *id;
	enum pos_err rc;
	if ((rc = arg_str(args, "id", true, &id, err)))
		return rc;
	json_t *body = json_copy((json_t *)args);
	if (!body)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	json_object_del(body, "id");
	struct pos_memory m;
	rc = pos_memory_update(&c->srv->app->mem, c->r->arena, uid(c), id, body, &m, err);
	if (!rc)
		pos_memory_json(w, &m);
	json_decref(body);
	return rc;
}

static enum pos_err t_delete(struct pos_mcp_call *c, const json_t *args, struct pos_jw *w,
			     struct pos_error *err)
{
	const char *id;
	enum pos_err rc;
	if ((rc = arg_str(args, "id", true, &id, err)) ||
	    (rc = pos_memory_delete(&c->srv->app->mem, uid(c), id, err)))
		return rc;
	pos_jw_obj(w);
	pos_jw_kstr(w, "id", id);
	pos_jw_kbool(w, "deleted", true);
	pos_jw_obj_end(w);
	return POS_OK;
}

static enum pos_err t_recent(struct pos_mcp_call *c, const json_t *args, struct pos_jw *w,
			     struct pos_error *err)
{
	struct pos_memory_query q;
	struct args_ctx ac = {c->r->arena, args};
	enum pos_err rc = pos_filters_parse(c->r->arena, arg_param, &ac, uid(c), &q, err);
	if (rc)
		return rc;
	q.sort = POS_SORT_NEWEST;
	if (!json_object_get(args, "limit"))
		q.limit = RECENT_DEFAULT;
	struct pos_memory *v = NULL;
	size_t n = 0;
	int64_t total = 0;
	if ((rc = pos_memory_list(&c->srv->app->mem, c->r->arena, &q, &v, &n, &total)))
		return pos_error_set(err, rc, NULL, NULL);
	write_page(w, v, n, total);
	return POS_OK;
}

static void write_answer(struct pos_jw *w, const struct pos_chat_result *res)
{
	pos_jw_obj(w);
	pos_jw_key(w, "answer");
	pos_jw_strn(w, res->response, res->response_len);
	pos_jw_kstr(w, "conversation_id", res->conversation_id);
	pos_jw_key(w, "cited_memory_ids");
	pos_jw_arr(w);
	for (size_t i = 0; i < res->n_used; i++)
		pos_jw_str(w, res->memories_used[i]);
	pos_jw_arr_end(w);
	pos_jw_kstr(w, "model", res->model);
	pos_jw_obj_end(w);
}

/* Sentinel: the chat went to c->chat, to be run off the request thread. */
#define ASK_DEFERRED POS_ERR__COUNT

static enum pos_err t_ask(struct pos_mcp_call *c, const json_t *args, struct pos_jw *w,
			  struct pos_error *err)
{
	const char *q, *conv;
	enum pos_err rc;
	if ((rc = arg_str(args, "question", true, &q, err)) ||
	    (rc = arg_str(args, "conversation_id", false, &conv, err)))
		return rc;
	struct pos_chat_input in = {
		.user_id = uid(c),
		.message = q,
		.message_len = strlen(q),
		.conversation_id = conv,
	};
	struct pos_chat *chat;
	if ((rc = pos_chat_prepare(&c->srv->app->assistant, &in, &chat, err)))
		return rc;
	if (!pos_chat_inline(chat)) {
		c->chat = chat;
		return ASK_DEFERRED;
	}
	struct pos_chat_result res;
	rc = pos_chat_run(chat, NULL, NULL, &res, err);
	if (!rc)
		write_answer(w, &res);
	pos_chat_free(chat);
	return rc;
}

/* Adds one id to a memory's related_memory_ids (idempotent). */
static enum pos_err t_link(struct pos_mcp_call *c, const json_t *args, struct pos_jw *w,
			   struct pos_error *err)
{
	const char *a, *b;
	struct pos_memory m, other;
	enum pos_err rc;
	if ((rc = arg_str(args, "memory_id", true, &a, err)) ||
	    (rc = arg_str(args, "related_memory_id", true, &b, err)))
		return rc;
	if (!strcmp(a, b))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "related_memory_id",
				     "a memory cannot be linked to itself");
	if ((rc = pos_memory_get(&c->srv->app->mem, c->r->arena, uid(c), b, &other, err)) ||
	    (rc = pos_memory_get(&c->srv->app->mem, c->r->arena, uid(c), a, &m, err)))
		return rc;
	json_t *ids = NULL;
	if (m.related_json)
		ids = json_loads(m.related_json, 0, NULL);
	if (!json_is_array(ids)) {
		json_decref(ids);
		ids = json_array();
		for (size_t i = 0; ids && i < m.n_related; i++)
			json_array_append_new(ids, json_string(m.related[i]));
	}
	json_t *body = json_object();
	if (!ids || !body) {
		json_decref(ids);
		json_decref(body);
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	}
	bool have = false;
	for (size_t i = 0; i < json_array_size(ids); i++)
		have = have || !strcmp(json_string_value(json_array_get(ids, i)) ?
				       json_string_value(json_array_get(ids, i)) : "", other.id);
	if (!have)
		json_array_append_new(ids, json_string(other.id));
	json_object_set_new(body, "related_memory_ids", ids);
	rc = pos_memory_update(&c->srv->app->mem, c->r->arena, uid(c), m.id, body, &m, err);
	if (!rc)
		pos_memory_json(w, &m);
	json_decref(body);
	return rc;
}

static enum pos_err t_stats(struct pos_mcp_call *c, const json_t *args, struct pos_jw *w,
			    struct pos_error *err)
{
	(void)args;
	return pos_memory_stats_json(c->srv->app->store, c->r->arena, uid(c), true, w, err);
}

#define TYPES "[\"conversation\",\"action\",\"note\",\"file\",\"event\",\"email\"]"
#define LAYERS "[\"active\",\"working\",\"reference\",\"archive\"]"
#define ID_PROP(d) "{\"type\":\"string\",\"format\":\"uuid\",\"description\":\"" d "\"}"
#define FIELDS                                                                       \
	"\"type\":{\"type\":\"string\",\"enum\":" TYPES "},"                         \
	"\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"maxItems\":100}," \
	"\"metadata\":{\"type\":\"object\"},"                                        \
	"\"importance_score\":{\"type\":\"number\",\"minimum\":0,\"maximum\":1},"      \
	"\"layer\":{\"type\":\"string\",\"enum\":" LAYERS "}"
#define FILTERS                                                                        \
	"\"type\":{\"type\":\"string\",\"enum\":" TYPES "},"                           \
	"\"layer\":{\"type\":\"string\",\"enum\":" LAYERS "},"                         \
	"\"tag\":{\"type\":\"string\",\"description\":\"only memories with this tag\"}," \
	"\"source\":{\"type\":\"string\"},"                                            \
	"\"after\":{\"type\":\"string\",\"description\":\"RFC 3339 time or YYYY-MM-DD\"}," \
	"\"before\":{\"type\":\"string\",\"description\":\"RFC 3339 time or YYYY-MM-DD\"}," \
	"\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":200,\"default\":10}"

static const struct tool {
	const char *name, *title, *description, *schema;
	bool read;      /* allowed to a read-scope token */
	tool_fn fn;
} tools[] = {
	{"add_memory", "Add a memory",
	 "Store a new memory (a note, an action, an event...) in the user's PersonalOS. "
	 "Returns the stored memory with its id.",
	 "{\"type\":\"object\",\"properties\":{"
	 "\"content\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":1048576,"
	 "\"description\":\"the text to remember\"}," FIELDS ","
	 "\"source\":{\"type\":\"string\",\"description\":\"where it came from (default mcp)\"}},"
	 "\"required\":[\"content\"]}",
	 false, t_add},
	{"search_memories", "Search memories",
	 "Search the user's memories by meaning and keywords (hybrid search). The query may "
	 "carry filters such as type:note or tag:work. Returns memories best first with a score.",
	 "{\"type\":\"object\",\"properties\":{"
	 "\"query\":{\"type\":\"string\",\"minLength\":1},"
	 "\"mode\":{\"type\":\"string\",\"enum\":[\"hybrid\",\"keyword\",\"semantic\"],\"default\":\"hybrid\"},"
	 FILTERS "},\"required\":[\"query\"]}",
	 true, t_search},
	{"get_memory", "Get a memory", "Read one memory by id.",
	 "{\"type\":\"object\",\"properties\":{\"id\":" ID_PROP("the memory's id") "},"
	 "\"required\":[\"id\"]}",
	 true, t_get},
	{"update_memory", "Update a memory",
	 "Change a memory's content, type, tags, metadata, importance or layer; fields left out "
	 "stay as they are.",
	 "{\"type\":\"object\",\"properties\":{\"id\":" ID_PROP("the memory's id") ","
	 "\"content\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":1048576}," FIELDS "},"
	 "\"required\":[\"id\"]}",
	 false, t_update},
	{"delete_memory", "Delete a memory", "Delete one memory by id, for good.",
	 "{\"type\":\"object\",\"properties\":{\"id\":" ID_PROP("the memory's id") "},"
	 "\"required\":[\"id\"]}",
	 false, t_delete},
	{"list_recent", "List recent memories",
	 "List the user's most recent memories, newest first, optionally filtered.",
	 "{\"type\":\"object\",\"properties\":{" FILTERS "}}",
	 true, t_recent},
	{"ask", "Ask the assistant",
	 "Ask the user's own PersonalOS assistant a question; it answers from the user's "
	 "memories, in the user's persona, and cites the memory ids it used.",
	 "{\"type\":\"object\",\"properties\":{"
	 "\"question\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":32768},"
	 "\"conversation_id\":{\"type\":\"string\",\"description\":\"continue this conversation\"}},"
	 "\"required\":[\"question\"]}",
	 false, t_ask},
	{"link_memories", "Link two memories",
	 "Record that two memories are related (adds related_memory_id to the memory's "
	 "related_memory_ids).",
	 "{\"type\":\"object\",\"properties\":{\"memory_id\":" ID_PROP("the memory to link from") ","
	 "\"related_memory_id\":" ID_PROP("the memory to link to") "},"
	 "\"required\":[\"memory_id\",\"related_memory_id\"]}",
	 false, t_link},
	{"get_stats", "Memory statistics",
	 "Counts of the user's memories by type and layer, average importance, oldest and newest.",
	 "{\"type\":\"object\",\"properties\":{}}",
	 true, t_stats},
};

#define N_TOOLS (sizeof(tools) / sizeof(tools[0]))

int pos_mcp_tools_list(struct pos_mcp_call *c, struct pos_jw *w)
{
	pos_jw_obj(w);
	pos_jw_key(w, "tools");
	pos_jw_arr(w);
	for (size_t i = 0; i < N_TOOLS; i++) {
		if (c->r->principal.read_only && !tools[i].read)
			continue;
		pos_jw_obj(w);
		pos_jw_kstr(w, "name", tools[i].name);
		pos_jw_kstr(w, "title", tools[i].title);
		pos_jw_kstr(w, "description", tools[i].description);
		pos_jw_key(w, "inputSchema");
		pos_jw_raw(w, tools[i].schema, strlen(tools[i].schema));
		pos_jw_key(w, "annotations");
		pos_jw_obj(w);
		pos_jw_kbool(w, "readOnlyHint", tools[i].read);
		pos_jw_kbool(w, "destructiveHint", !strcmp(tools[i].name, "delete_memory") ||
					      !strcmp(tools[i].name, "update_memory"));
		pos_jw_kbool(w, "openWorldHint", false);
		pos_jw_obj_end(w);
		pos_jw_obj_end(w);
	}
	pos_jw_arr_end(w);
	pos_jw_obj_end(w);
	return 0;
}

void pos_mcp_tool_error(struct pos_jw *w, const struct pos_error *e)
{
	const char *msg = e->message[0] ? e->message : pos_strerror(e->code);
	char text[400];
	snprintf(text, sizeof(text), "%s: %s", pos_err_code(e->code), msg);
	pos_jw_obj(w);
	pos_jw_key(w, "content");
	pos_jw_arr(w);
	pos_jw_obj(w);
	pos_jw_kstr(w, "type", "text");
	pos_jw_kstr(w, "text", text);
	pos_jw_obj_end(w);
	pos_jw_arr_end(w);
	pos_jw_key(w, "structuredContent");
	pos_jw_obj(w);
	pos_jw_key(w, "error");
	pos_jw_obj(w);
	pos_jw_kstr(w, "code", pos_err_code(e->code));
	pos_jw_kstr(w, "message", msg);
	if (e->field[0])
		pos_jw_kstr(w, "field", e->field);
	pos_jw_obj_end(w);
	pos_jw_obj_end(w);
	pos_jw_kbool(w, "isError", true);
	pos_jw_obj_end(w);
}

/* Wraps a tool's JSON answer: as text for every client, and structured. */
static void tool_ok(struct pos_jw *w, const struct pos_buf *json)
{
	pos_jw_obj(w);
	pos_jw_key(w, "content");
	pos_jw_arr(w);
	pos_jw_obj(w);
	pos_jw_kstr(w, "type", "text");
	pos_jw_key(w, "text");
	pos_jw_strn(w, json->data, json->len);
	pos_jw_obj_end(w);
	pos_jw_arr_end(w);
	pos_jw_key(w, "structuredContent");
	pos_jw_raw(w, json->data, json->len);
	pos_jw_kbool(w, "isError", false);
	pos_jw_obj_end(w);
}

int pos_mcp_tools_call(struct pos_mcp_call *c, struct pos_jw *w)
{
	const json_t *name = c->params ? json_object_get(c->params, "name") : NULL;
	const json_t *args = c->params ? json_object_get(c->params, "arguments") : NULL;
	if (!json_is_string(name)) {
		c->rpc_message = "params.name must be a string";
		return c->rpc_code = POS_RPC_INVALID_PARAMS;
	}
	const struct tool *t = NULL;
	for (size_t i = 0; i < N_TOOLS && !t; i++)
		if (!strcmp(tools[i].name, json_string_value(name)))
			t = &tools[i];
	if (!t) {
		c->rpc_message = "unknown tool";
		return c->rpc_code = POS_RPC_INVALID_PARAMS;
	}
	json_t *empty = NULL;
	if (!args || json_is_null(args))
		args = empty = json_object();
	struct pos_error err;
	pos_error_clear(&err);
	if (!json_is_object(args)) {
		pos_error_set(&err, POS_ERR_INVALID_FIELD, "arguments", "arguments must be an object");
		pos_mcp_tool_error(w, &err);
		goto out;
	}
	if (c->r->principal.read_only && !t->read) {
		pos_error_set(&err, POS_ERR_FORBIDDEN, NULL,
			      "this token has the read scope: %s needs a write token", t->name);
		pos_mcp_tool_error(w, &err);
		goto out;
	}
	struct pos_buf b;
	pos_buf_init(&b, POS_RESPONSE_MAX / 2);
	struct pos_jw tw;
	pos_jw_init(&tw, &b);
	enum pos_err rc = t->fn(c, args, &tw, &err);
	if (rc == ASK_DEFERRED) {
		pos_buf_free(&b);
		goto out;
	}
	if (!rc && tw.rc)
		pos_error_set(&err, rc = tw.rc, NULL, NULL);
	if (rc) {
		if (!err.code)
			pos_error_set(&err, rc, NULL, NULL);
		pos_mcp_tool_error(w, &err);
	} else {
		tool_ok(w, &b);
	}
	pos_buf_free(&b);
out:
	json_decref(empty);
	return 0;
}

void pos_mcp_ask_finish(struct pos_chat *chat, struct pos_jw *w)
{
	struct pos_chat_result res;
	struct pos_error err;
	pos_error_clear(&err);
	enum pos_err rc = pos_chat_run(chat, NULL, NULL, &res, &err);
	if (rc) {
		if (!err.code)
			pos_error_set(&err, rc, NULL, NULL);
		pos_mcp_tool_error(w, &err);
	} else {
		struct pos_buf b;
		pos_buf_init(&b, POS_RESPONSE_MAX / 2);
		struct pos_jw tw;
		pos_jw_init(&tw, &b);
		write_answer(&tw, &res);
		if (tw.rc) {
			pos_error_set(&err, tw.rc, NULL, NULL);
			pos_mcp_tool_error(w, &err);
		} else {
			tool_ok(w, &b);
		}
		pos_buf_free(&b);
	}
	pos_chat_free(chat);
}

/* ---- resources ---- */

#define PERSONA_URI "personalos://persona"

int pos_mcp_resources_list(struct pos_mcp_call *c, struct pos_jw *w)
{
	struct pos_memory_query q;
	memset(&q, 0, sizeof(q));
	q.user_id = uid(c);
	q.type = q.layer = -1;
	q.after = q.before = POS_TIME_NONE;
	q.sort = POS_SORT_NEWEST;
	q.limit = RESOURCES_LISTED;
	struct pos_memory *v = NULL;
	size_t n = 0;
	int64_t total = 0;
	enum pos_err rc = pos_memory_list(&c->srv->app->mem, c->r->arena, &q, &v,
							  &n, &total);
	if (rc) {
		c->rpc_message = pos_strerror(rc);
		return c->rpc_code = POS_RPC_INTERNAL;
	}
	pos_jw_obj(w);
	pos_jw_key(w, "resources");
	pos_jw_arr(w);
	pos_jw_obj(w);
	pos_jw_kstr(w, "uri", PERSONA_URI);
	pos_jw_kstr(w, "name", "persona");
	pos_jw_kstr(w, "title", "The assistant's persona");
	pos_jw_kstr(w, "mimeType", "application/json");
	pos_jw_obj_end(w);
	for (size_t i = 0; i < n; i++) {
		char uri[64];
		snprintf(uri, sizeof(uri), "memory://%s", v[i].id);
		pos_jw_obj(w);
		pos_jw_kstr(w, "uri", uri);
		pos_jw_kstr(w, "name", v[i].id);
		pos_jw_key(w, "title");
		if (v[i].is_encrypted || !v[i].content)
			pos_jw_str(w, "(encrypted memory)");
		else
			pos_jw_strn(w, v[i].content,
				    pos_utf8_cut(v[i].content, v[i].content_len, TITLE_BYTES));
		pos_jw_kstr(w, "mimeType", "application/json");
		pos_jw_obj_end(w);
	}
	pos_jw_arr_end(w);
	pos_jw_obj_end(w);
	return 0;
}

int pos_mcp_resource_templates_list(struct pos_mcp_call *c, struct pos_jw *w)
{
	(void)c;
	pos_jw_obj(w);
	pos_jw_key(w, "resourceTemplates");
	pos_jw_arr(w);
	pos_jw_obj(w);
	pos_jw_kstr(w, "uriTemplate", "memory://{id}");
	pos_jw_kstr(w, "name", "memory");
	pos_jw_kstr(w, "title", "A memory by id");
	pos_jw_kstr(w, "mimeType", "application/json");
	pos_jw_obj_end(w);
	pos_jw_arr_end(w);
	pos_jw_obj_end(w);
	return 0;
}

static void contents(struct pos_jw *w, const char *uri, const char *json, size_t n)
{
	pos_jw_obj(w);
	pos_jw_key(w, "contents");
	pos_jw_arr(w);
	pos_jw_obj(w);
	pos_jw_kstr(w, "uri", uri);
	pos_jw_kstr(w, "mimeType", "application/json");
	pos_jw_key(w, "text");
	pos_jw_strn(w, json, n);
	pos_jw_obj_end(w);
	pos_jw_arr_end(w);
	pos_jw_obj_end(w);
}

int pos_mcp_resources_read(struct pos_mcp_call *c, struct pos_jw *w)
{
	const json_t *u = c->params ? json_object_get(c->params, "uri") : NULL;
	if (!json_is_string(u)) {
		c->rpc_message = "params.uri must be a string";
		return c->rpc_code = POS_RPC_INVALID_PARAMS;
	}
	const char *uri = json_string_value(u);
	if (!strcmp(uri, PERSONA_URI)) {
		struct pos_user user;
		if (pos_accounts_get(&c->srv->app->accounts, c->r->arena, uid(c), &user)) {
			c->rpc_message = "resource not found";
			return c->rpc_code = POS_RPC_RESOURCE_NOT_FOUND;
		}
		const char *p = user.persona_json ? user.persona_json : "{}";
		contents(w, uri, p, strlen(p));
		return 0;
	}
	struct pos_memory m;
	struct pos_error err;
	pos_error_clear(&err);
	if (strncmp(uri, "memory://", 9) != 0 ||
	    pos_memory_get(&c->srv->app->mem, c->r->arena, uid(c), uri + 9, &m, &err)) {
		c->rpc_message = "resource not found";
		return c->rpc_code = POS_RPC_RESOURCE_NOT_FOUND;
	}
	struct pos_buf b;
	pos_buf_init(&b, POS_RESPONSE_MAX / 2);
	struct pos_jw mw;
	pos_jw_init(&mw, &b);
	pos_memory_json(&mw, &m);
	if (mw.rc) {
		pos_buf_free(&b);
		c->rpc_message = pos_strerror(mw.rc);
		return c->rpc_code = POS_RPC_INTERNAL;
	}
	contents(w, uri, b.data, b.len);
	pos_buf_free(&b);
	return 0;
}

/* ---- prompts ---- */

int pos_mcp_prompts_list(struct pos_mcp_call *c, struct pos_jw *w)
{
	(void)c;
	static const char list[] =
		"{\"prompts\":["
		"{\"name\":\"recall\",\"title\":\"Recall a topic\","
		"\"description\":\"What my memory holds about a topic, with the memories found, "
		"for the model to summarise with citations.\","
		"\"arguments\":[{\"name\":\"topic\",\"description\":\"what to recall\","
		"\"required\":true}]},"
		"{\"name\":\"remember\",\"title\":\"Remember something\","
		"\"description\":\"Ask the model to store a piece of text as a memory.\","
		"\"arguments\":[{\"name\":\"text\",\"description\":\"what to remember\","
		"\"required\":true}]}]}";
	pos_jw_raw(w, list, sizeof(list) - 1);
	return 0;
}

static void prompt_message(struct pos_jw *w, const char *description, const char *text,
			   size_t n)
{
	pos_jw_obj(w);
	pos_jw_kstr(w, "description", description);
	pos_jw_key(w, "messages");
	pos_jw_arr(w);
	pos_jw_obj(w);
	pos_jw_kstr(w, "role", "user");
	pos_jw_key(w, "content");
	pos_jw_obj(w);
	pos_jw_kstr(w, "type", "text");
	pos_jw_key(w, "text");
	pos_jw_strn(w, text, n);
	pos_jw_obj_end(w);
	pos_jw_obj_end(w);
	pos_jw_arr_end(w);
	pos_jw_obj_end(w);
}

static int prompt_arg(struct pos_mcp_call *c, const char *name, const char **out)
{
	const json_t *args = c->params ? json_object_get(c->params, "arguments") : NULL;
	const json_t *v = json_is_object(args) ? json_object_get(args, name) : NULL;
	if (!json_is_string(v) || !json_string_length(v) ||
	    json_string_length(v) > POS_CONTENT_MAX) {
		c->rpc_message = !strcmp(name, "topic") ? "arguments.topic is required (a string)"
							: "arguments.text is required (a string)";
		return c->rpc_code = POS_RPC_INVALID_PARAMS;
	}
	*out = json_string_value(v);
	return 0;
}

static int prompt_recall(struct pos_mcp_call *c, struct pos_jw *w)
{
	const char *topic;
	if (prompt_arg(c, "topic", &topic))
		return c->rpc_code;
	struct pos_search_request req;
	memset(&req, 0, sizeof(req));
	req.user_id = uid(c);
	req.query = topic;
	req.query_len = strlen(topic);
	req.mode = POS_SEARCH_HYBRID;
	req.filters.user_id = uid(c);
	req.filters.type = req.filters.layer = -1;
	req.filters.after = req.filters.before = POS_TIME_NONE;
	req.limit = PROMPT_MEMORIES;
	struct pos_search_result res;
	struct pos_error err;
	pos_error_clear(&err);
	if (pos_search_run(c->srv->app->search, c->r->arena, &req, &res, &err)) {
		c->rpc_message = err.message[0] ? pos_arena_strdup(c->r->arena, err.message)
						: pos_strerror(err.code);
		return c->rpc_code = POS_RPC_INVALID_PARAMS;
	}
	struct pos_buf t;
	pos_buf_init(&t, 2 * POS_CONTENT_MAX);
	enum pos_err rc = pos_buf_addf(&t, "Here is what my personal memory (PersonalOS) holds "
					   "about \"%s\":\n\n", topic);
	for (size_t i = 0; !rc && i < res.n; i++) {
		const struct pos_memory *m = &res.hits[i].memory;
		size_t cut = m->content ? pos_utf8_cut(m->content, m->content_len, PROMPT_SNIPPET) : 0;
		rc = pos_buf_addf(&t, "- [memory %s, %s] %.*s%s\n", m->id, pos_mem_type_name(m->type),
				  (int)cut, m->content ? m->content : "",
				  cut < m->content_len ? "…" : "");
	}
	if (!rc && !res.n)
		rc = pos_buf_adds(&t, "(no memory matches)\n");
	if (!rc)
		rc = pos_buf_adds(&t, "\nUsing only these memories, recall and summarise what I "
				      "know about it. Cite the memory ids you rely on; say so when "
				      "the memories do not answer.");
	if (rc) {
		pos_buf_free(&t);
		c->rpc_message = pos_strerror(rc);
		return c->rpc_code = POS_RPC_INTERNAL;
	}
	prompt_message(w, "What my memory holds about a topic", t.data, t.len);
	pos_buf_free(&t);
	return 0;
}

static int prompt_remember(struct pos_mcp_call *c, struct pos_jw *w)
{
	const char *text;
	if (prompt_arg(c, "text", &text))
		return c->rpc_code;
	struct pos_buf t;
	pos_buf_init(&t, 2 * POS_CONTENT_MAX);
	enum pos_err rc = pos_buf_addf(&t, "Please remember this for me: store it in PersonalOS "
					   "with the add_memory tool, choosing a fitting type and "
					   "a few tags, then tell me its id.\n\n%s", text);
	if (rc) {
		pos_buf_free(&t);
		c->rpc_message = pos_strerror(rc);
		return c->rpc_code = POS_RPC_INTERNAL;
	}
	prompt_message(w, "Store a piece of text as a memory", t.data, t.len);
	pos_buf_free(&t);
	return 0;
}

int pos_mcp_prompts_get(struct pos_mcp_call *c, struct pos_jw *w)
{
	const json_t *name = c->params ? json_object_get(c->params, "name") : NULL;
	if (json_is_string(name) && !strcmp(json_string_value(name), "recall"))
		return prompt_recall(c, w);
	if (json_is_string(name) && !strcmp(json_string_value(name), "remember"))
		return prompt_remember(c, w);
	c->rpc_message = "unknown prompt";
	return c->rpc_code = POS_RPC_INVALID_PARAMS;
}
