/*
 * mcp.h — the Model Context Protocol (MCP) server: JSON-RPC 2.0 messages
 * as the MCP specification defines them, over the streamable HTTP
 * transport at POST /mcp (docs/MCP.md). The stdio transport is
 * `personalos mcp` (cli/), which relays each message to POST /mcp.
 *
 * Two files, one module: mcp.c is the protocol (message parsing, the
 * lifecycle and version negotiation, dispatch, the HTTP transport, the
 * deferred `ask` call); mcp_tools.c holds what the server offers — tools,
 * resources and prompts — each a thin wrapper over the services the REST
 * handlers use (memory/, search/, assistant/), so limits and errors are the
 * REST API's own.
 *
 * Protocol revisions: POS_MCP_VERSION (current) and POS_MCP_VERSION_PREV;
 * a client asking for another revision is answered with the current one
 * (the client then decides). JSON-RPC batches are refused (neither revision
 * has them). The server is stateless: no Mcp-Session-Id, no server-sent
 * stream (GET /mcp answers 405).
 *
 * Scope: a `read`-scope personal API token lists and may call only the
 * read tools (POS_MCP_TOOL_READ); a write tool called with it is a tool
 * error with code `forbidden`.
 *
 * Thread-safety: as the REST handlers; everything is allocated from the
 * request's arena unless said otherwise.
 */
#ifndef POS_API_MCP_H
#define POS_API_MCP_H

#include <jansson.h>

#include "api/api.h"
#include "assistant/assistant.h"
#include "base/json.h"

#define POS_MCP_VERSION "2025-11-25"
#define POS_MCP_VERSION_PREV "2025-06-18"

/* JSON-RPC error codes */
#define POS_RPC_PARSE_ERROR (-32700)
#define POS_RPC_INVALID_REQUEST (-32600)
#define POS_RPC_METHOD_NOT_FOUND (-32601)
#define POS_RPC_INVALID_PARAMS (-32602)
#define POS_RPC_INTERNAL (-32603)
#define POS_RPC_RESOURCE_NOT_FOUND (-32002)

/* The context of one JSON-RPC request (a method call with an id). */
struct pos_mcp_call {
	struct pos_server *srv;
	struct pos_req *r;          /* arena, principal */
	const json_t *params;       /* the params object, or NULL */
	/* set by a method that fails at the protocol level */
	int rpc_code;
	const char *rpc_message;
	/* set by tools/call "ask" when the model must run off the request
	 * thread: the caller owns it and must finish it (pos_mcp_ask_finish) */
	struct pos_chat *chat;
};

/*
 * Each method writes its `result` value into `w` and returns 0, or sets
 * c->rpc_code/rpc_message and returns that code (nothing written). Tool
 * failures are results (isError), not protocol errors.
 */
int pos_mcp_tools_list(struct pos_mcp_call *c, struct pos_jw *w);
int pos_mcp_tools_call(struct pos_mcp_call *c, struct pos_jw *w);
int pos_mcp_resources_list(struct pos_mcp_call *c, struct pos_jw *w);
int pos_mcp_resource_templates_list(struct pos_mcp_call *c, struct pos_jw *w);
int pos_mcp_resources_read(struct pos_mcp_call *c, struct pos_jw *w);
int pos_mcp_prompts_list(struct pos_mcp_call *c, struct pos_jw *w);
int pos_mcp_prompts_get(struct pos_mcp_call *c, struct pos_jw *w);

/*
 * Runs a chat that tools/call "ask" left in c->chat (any thread) and writes
 * the tool result into `w`. Frees the chat.
 */
void pos_mcp_ask_finish(struct pos_chat *chat, struct pos_jw *w);

/* Writes a tool result for a failure: isError, the API's error code. */
void pos_mcp_tool_error(struct pos_jw *w, const struct pos_error *e);

#endif
