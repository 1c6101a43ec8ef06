/*
 * api.h — the HTTP API of PersonalOS: one file per resource, and the route
 * table (routes.c) that lists every endpoint with its method, path, handler,
 * auth need and body limit. docs/openapi.yaml documents the same table; a
 * test checks they agree.
 */
#ifndef POS_API_API_H
#define POS_API_API_H

#include "http/server.h"

extern const struct pos_route pos_api_routes[];
extern const size_t pos_api_routes_count;

/* system.c */
void pos_api_health(struct pos_server *srv, struct pos_req *r);
void pos_api_metrics(struct pos_server *srv, struct pos_req *r);
void pos_api_openapi(struct pos_server *srv, struct pos_req *r);

/* auth.c */
void pos_api_register(struct pos_server *srv, struct pos_req *r);
void pos_api_login(struct pos_server *srv, struct pos_req *r);
void pos_api_refresh(struct pos_server *srv, struct pos_req *r);
void pos_api_logout(struct pos_server *srv, struct pos_req *r);
void pos_api_me(struct pos_server *srv, struct pos_req *r);
void pos_api_me_update(struct pos_server *srv, struct pos_req *r);
void pos_api_me_delete(struct pos_server *srv, struct pos_req *r);
void pos_api_tokens_create(struct pos_server *srv, struct pos_req *r);
void pos_api_tokens_list(struct pos_server *srv, struct pos_req *r);
void pos_api_tokens_delete(struct pos_server *srv, struct pos_req *r);

/* encryption.c — encryption at rest (docs/ENCRYPTION.md) */
void pos_api_encryption_enable(struct pos_server *srv, struct pos_req *r);
void pos_api_encryption_recover(struct pos_server *srv, struct pos_req *r);
void pos_api_password_change(struct pos_server *srv, struct pos_req *r);

/* memories.c */
void pos_api_memory_create(struct pos_server *srv, struct pos_req *r);
void pos_api_memory_bulk(struct pos_server *srv, struct pos_req *r);
void pos_api_memory_list(struct pos_server *srv, struct pos_req *r);
void pos_api_memory_get(struct pos_server *srv, struct pos_req *r);
void pos_api_memory_update(struct pos_server *srv, struct pos_req *r);
void pos_api_memory_delete(struct pos_server *srv, struct pos_req *r);
void pos_api_memory_stats(struct pos_server *srv, struct pos_req *r);
void pos_api_memory_graph(struct pos_server *srv, struct pos_req *r);

/* search.c */
void pos_api_memory_search(struct pos_server *srv, struct pos_req *r);

/* chat.c */
void pos_api_chat_message(struct pos_server *srv, struct pos_req *r);
void pos_api_chat_history(struct pos_server *srv, struct pos_req *r);
void pos_api_chat_suggestions(struct pos_server *srv, struct pos_req *r);
void pos_api_memory_memorize(struct pos_server *srv, struct pos_req *r);
void pos_api_job_get(struct pos_server *srv, struct pos_req *r);
/* sync.c (branch sync) */
void pos_api_sync_sources_list(struct pos_server *srv, struct pos_req *r);
void pos_api_sync_sources_create(struct pos_server *srv, struct pos_req *r);
void pos_api_sync_sources_get(struct pos_server *srv, struct pos_req *r);
void pos_api_sync_sources_delete(struct pos_server *srv, struct pos_req *r);
void pos_api_sync_start(struct pos_server *srv, struct pos_req *r);
void pos_api_sync_status(struct pos_server *srv, struct pos_req *r);
/* shares.c (guard): sharing, and the recipient's side of the memory routes */
void pos_api_memory_share(struct pos_server *srv, struct pos_req *r);
void pos_api_memory_unshare(struct pos_server *srv, struct pos_req *r);
/* Answers GET /api/memories/{id} for a memory shared with the caller;
 * false (nothing answered) when it is not. */
bool pos_api_shared_read(struct pos_server *srv, struct pos_req *r, const char *id);
/* Answers a failed owner-only call on memory `id`: 403 when the memory is
 * shared with the caller, else `err` as it is. */
void pos_api_reply_not_owner(struct pos_server *srv, struct pos_req *r, const char *id,
			     const struct pos_error *err);
/* GET /api/memories?shared=with_me: a page of what others shared. */
void pos_api_memory_list_shared(struct pos_server *srv, struct pos_req *r,
				const struct pos_memory_query *q);

/* GET /api/memories/search?include_shared=true: the caller's results and
 * the keyword matches among memories shared with them, merged by score. */
void pos_api_search_with_shared(struct pos_server *srv, struct pos_req *r,
				struct pos_search_request *req);

/* mcp.c (clients): the Model Context Protocol endpoint (docs/MCP.md) */
void pos_api_mcp_post(struct pos_server *srv, struct pos_req *r);
void pos_api_mcp_get(struct pos_server *srv, struct pos_req *r);

/* Response bodies are capped at this size (a page of 200 1 MiB memories). */
#define POS_RESPONSE_MAX ((size_t)256 * 1024 * 1024)

#endif
