/*
 * mcp.c — the Model Context Protocol endpoint: JSON-RPC 2.0 over the
 * streamable HTTP transport (POST /mcp, one message per request, answered
 * with application/json; GET /mcp has no server stream: 405), the
 * lifecycle (initialize with version negotiation, notifications/initialized,
 * ping) and dispatch to the methods of mcp_tools.c. See mcp.h.
 */
#include "api/mcp.h"

#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/config.h"

#define POS_MCP_RESULT_MAX POS_RESPONSE_MAX

static bool version_supported(const char *v)
{
	return v && (!strcmp(v, POS_MCP_VERSION) || !strcmp(v, POS_MCP_VERSION_PREV));
}

/* ---- lifecycle ---- */

static int m_initialize(struct pos_mcp_call *c, struct pos_jw *w)
{
	const json_t *pv = c->params ? json_object_get(c->params, "protocolVersion") : NULL;
	if (!json_is_string(pv)) {
		c->rpc_code = POS_RPC_INVALID_PARAMS;
		c->rpc_message = "params.protocolVersion must be a string";
		return c->rpc_code;
	}
	const char *asked = json_string_value(pv);
	pos_jw_obj(w);
	pos_jw_kstr(w, "protocolVersion", version_supported(asked) ? asked : POS_MCP_VERSION);
	pos_jw_key(w, "capabilities");
	pos_jw_raw(w, "{\"tools\":{\"listChanged\":false},"
		      "\"resources\":{\"subscribe\":false,\"listChanged\":false},"
		      "\"prompts\":{\"listChanged\":false}}",
		   strlen("{\"tools\":{\"listChanged\":false},"
			  "\"resources\":{\"subscribe\":false,\"listChanged\":false},"
			  "\"prompts\":{\"listChanged\":false}}"));
	pos_jw_key(w, "serverInfo");
	pos_jw_obj(w);
	pos_jw_kstr(w, "name", "personalos");
	pos_jw_kstr(w, "title", "PersonalOS");
	pos_jw_kstr(w, "version", POS_VERSION);
	pos_jw_obj_end(w);
	pos_jw_kstr(w, "instructions",
		    "PersonalOS is the user's personal memory. Search it (search_memories, "
		    "list_recent) before answering questions about the user's life, notes, "
		    "mail or calendar; store what the user asks you to remember (add_memory); "
		    "ask the user's own assistant with `ask`. Cite memory ids.");
	pos_jw_obj_end(w);
	return 0;
}

static int m_ping(struct pos_mcp_call *c, struct pos_jw *w)
{
	(void)c;
	pos_jw_obj(w);
	pos_jw_obj_end(w);
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(struct pos_mcp_call *c, struct pos_jw *w);
} methods[] = {
	{"initialize", m_initialize},
	{"ping", m_ping},
	{"tools/list", pos_mcp_tools_list},
	{"tools/call", pos_mcp_tools_call},
	{"resources/list", pos_mcp_resources_list},
	{"resources/templates/list", pos_mcp_resource_templates_list},
	{"resources/read", pos_mcp_resources_read},
	{"prompts/list", pos_mcp_prompts_list},
	{"prompts/get", pos_mcp_prompts_get},
};

/* ---- JSON-RPC envelopes ---- */

static void rpc_open(struct pos_jw *w, const json_t *id)
{
	pos_jw_obj(w);
	pos_jw_kstr(w, "jsonrpc", "2.0");
	pos_jw_key(w, "id");
	if (id)
		pos_jw_json(w, id);
	else
		pos_jw_null(w);
}

static void reply_rpc_error(struct pos_req *r, int status, const json_t *id, int code,
			    const char *message)
{
	struct pos_buf b;
	pos_buf_init(&b, 64 * 1024);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	rpc_open(&w, id);
	pos_jw_key(&w, "error");
	pos_jw_obj(&w);
	pos_jw_kint(&w, "code", code);
	pos_jw_kstr(&w, "message", message);
	pos_jw_obj_end(&w);
	pos_jw_obj_end(&w);
	if (w.rc) {
		pos_buf_free(&b);
		pos_reply_err(r, w.rc, NULL, NULL);
		return;
	}
	pos_reply_json(r, status, &b);
}

/* Answers {"jsonrpc","id","result": <res>} (takes res's storage). */
static void reply_rpc_result(struct pos_req *r, const json_t *id, struct pos_buf *res)
{
	struct pos_buf b;
	pos_buf_init(&b, POS_MCP_RESULT_MAX);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	rpc_open(&w, id);
	pos_jw_key(&w, "result");
	pos_jw_raw(&w, res->data, res->len);
	pos_jw_obj_end(&w);
	pos_buf_free(res);
	if (w.rc) {
		pos_buf_free(&b);
		reply_rpc_error(r, 200, id, POS_RPC_INTERNAL, pos_strerror(w.rc));
		return;
	}
	pos_reply_json(r, 200, &b);
}

/* ---- the deferred `ask` (a real model: no worker thread waits on it) ---- */

struct ask_job {
	struct pos_req *r;
	struct pos_chat *chat;
	json_t *id;       /* a copy owned by the job */
	struct pos_assistant *as;
	char user_id[POS_UUID_SIZE];
};

static void ask_end(struct ask_job *j)
{
	pos_req_resume(j->r);
	json_decref(j->id);
	pos_free(j);
}

/* The model call, on a jobs worker (run NULL: it cannot run any more). */
static void ask_call(void *ctx, struct pos_job_run *run)
{
	struct ask_job *j = ctx;
	if (!run) {
		pos_chat_free(j->chat);
		reply_rpc_error(j->r, 200, j->id, POS_RPC_INTERNAL, "the server is stopping");
		ask_end(j);
		return;
	}
	struct pos_buf res;
	pos_buf_init(&res, POS_MCP_RESULT_MAX);
	struct pos_jw w;
	pos_jw_init(&w, &res);
	pos_mcp_ask_finish(j->chat, &w);
	if (w.rc) {
		pos_buf_free(&res);
		reply_rpc_error(j->r, 200, j->id, POS_RPC_INTERNAL, pos_strerror(w.rc));
	} else {
		reply_rpc_result(j->r, j->id, &res);
	}
	ask_end(j);
}

/* Once the connection is parked: the call becomes a job of kind "chat"
 * (bounded; a full queue answers at once). */
static void ask_start(void *ctx)
{
	struct ask_job *j = ctx;
	enum pos_err rc = pos_assistant_call(j->as, j->user_id, ask_call, j, NULL);
	if (rc) {
		pos_chat_free(j->chat);
		reply_rpc_error(j->r, 200, j->id, POS_RPC_INTERNAL,
				rc == POS_ERR_BUSY ? "too many model calls in flight: try again"
						   : pos_strerror(rc));
		ask_end(j);
	}
}

static void defer_ask(struct pos_server *srv, struct pos_req *r, const json_t *id,
		      struct pos_chat *chat)
{
	struct ask_job *j = pos_calloc(1, sizeof(*j));
	json_t *copy = json_deep_copy(id);
	if (!j || !copy) {
		pos_free(j);
		json_decref(copy);
		pos_chat_free(chat);
		reply_rpc_error(r, 200, id, POS_RPC_INTERNAL, pos_strerror(POS_ERR_NOMEM));
		return;
	}
	*j = (struct ask_job){.r = r, .chat = chat, .id = copy, .as = &srv->app->assistant};
	snprintf(j->user_id, sizeof(j->user_id), "%s", r->principal.user_id);
	pos_req_defer(r, ask_start, j);
}

/* ---- the transport ---- */

/* Runs one request message (it has a method and an id). */
static void run_request(struct pos_server *srv, struct pos_req *r, const json_t *msg,
			const char *method, const json_t *id)
{
	size_t i, n = sizeof(methods) / sizeof(methods[0]);
	for (i = 0; i < n; i++)
		if (!strcmp(methods[i].name, method))
			break;
	if (i == n) {
		reply_rpc_error(r, 200, id, POS_RPC_METHOD_NOT_FOUND, "method not found");
		return;
	}
	const json_t *params = json_object_get(msg, "params");
	if (params && !json_is_object(params)) {
		reply_rpc_error(r, 200, id, POS_RPC_INVALID_PARAMS, "params must be an object");
		return;
	}
	struct pos_mcp_call c = {.srv = srv, .r = r, .params = params};
	struct pos_buf res;
	pos_buf_init(&res, POS_MCP_RESULT_MAX);
	struct pos_jw w;
	pos_jw_init(&w, &res);
	int code = methods[i].fn(&c, &w);
	if (c.chat) {
		pos_buf_free(&res);
		defer_ask(srv, r, id, c.chat);
		return;
	}
	if (code) {
		pos_buf_free(&res);
		reply_rpc_error(r, 200, id, code, c.rpc_message ? c.rpc_message : "invalid params");
		return;
	}
	if (w.rc) {
		pos_buf_free(&res);
		reply_rpc_error(r, 200, id, POS_RPC_INTERNAL, pos_strerror(w.rc));
		return;
	}
	reply_rpc_result(r, id, &res);
}

/*
 * DNS rebinding (the MCP transport rules): a request a browser sends must
 * come from an origin the operator allowed (cors_origins) or from the
 * server's own. Clients that are not browsers send no Origin.
 */
static bool origin_ok(struct pos_req *r)
{
	const char *o = pos_req_header(r, "Origin");
	if (!o || r->cors_origin)
		return true;
	const char *host = pos_req_header(r, "Host");
	const char *p = !strncmp(o, "http://", 7) ? o + 7 : !strncmp(o, "https://", 8) ? o + 8 : NULL;
	return host && p && !strcasecmp(p, host);
}

void pos_api_mcp_post(struct pos_server *srv, struct pos_req *r)
{
	if (!origin_ok(r)) {
		pos_reply_err(r, POS_ERR_FORBIDDEN, NULL, "this Origin may not call /mcp");
		return;
	}
	const char *hv = pos_req_header(r, "MCP-Protocol-Version");
	if (hv && !version_supported(hv)) {
		pos_reply_err(r, POS_ERR_INVALID_REQUEST, "MCP-Protocol-Version",
			      "unsupported MCP-Protocol-Version (this server speaks "
			      POS_MCP_VERSION " and " POS_MCP_VERSION_PREV ")");
		return;
	}
	struct pos_error err;
	pos_error_clear(&err);
	json_t *msg = r->body.len ? pos_json_parse(r->body.data, r->body.len, &err) : NULL;
	if (!msg) {
		reply_rpc_error(r, 400, NULL, POS_RPC_PARSE_ERROR, "the body is not JSON");
		return;
	}
	if (json_is_array(msg)) {
		reply_rpc_error(r, 400, NULL, POS_RPC_INVALID_REQUEST,
				"JSON-RPC batches are not supported");
		goto out;
	}
	const json_t *id = json_is_object(msg) ? json_object_get(msg, "id") : NULL;
	if (id && !json_is_string(id) && !json_is_integer(id))
		id = NULL;
	const json_t *ver = json_object_get(msg, "jsonrpc");
	if (!json_is_object(msg) || !json_is_string(ver) || strcmp(json_string_value(ver), "2.0")) {
		reply_rpc_error(r, 400, id, POS_RPC_INVALID_REQUEST,
				"not a JSON-RPC 2.0 message");
		goto out;
	}
	const json_t *method = json_object_get(msg, "method");
	if (!method) {
		/* a response to a request of ours: we send none, so accept it */
		if (json_object_get(msg, "result") || json_object_get(msg, "error"))
			pos_reply_empty(r, 202);
		else
			reply_rpc_error(r, 400, id, POS_RPC_INVALID_REQUEST,
					"a message needs a method, a result or an error");
		goto out;
	}
	if (!json_is_string(method)) {
		reply_rpc_error(r, 400, id, POS_RPC_INVALID_REQUEST, "method must be a string");
		goto out;
	}
	if (!json_object_get(msg, "id")) {
		/* a notification (notifications/initialized, cancelled, ...) */
		pos_reply_empty(r, 202);
		goto out;
	}
	if (!id) {
		reply_rpc_error(r, 400, NULL, POS_RPC_INVALID_REQUEST,
				"id must be a string or an integer");
		goto out;
	}
	run_request(srv, r, msg, json_string_value(method), id);
out:
	json_decref(msg);
}

void pos_api_mcp_get(struct pos_server *srv, struct pos_req *r)
{
	(void)srv;
	r->allow = "POST";
	pos_reply_err(r, POS_ERR_METHOD, NULL,
		      "this MCP server has no server-sent stream: POST messages to /mcp");
}
