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
void pos_api_memory_filters(struct pos_server *srv, struct pos_req *r);
void pos_api_memory_graph(struct pos_server *srv, struct pos_req *r);
/* lifecycle.c (docs/LIFECYCLE.md) */
void pos_api_memory_lifecycle_run(struct pos_server *srv, struct pos_req *r);
void pos_api_memory_lifecycle_policy_get(struct pos_server *srv, struct pos_req *r);
void pos_api_memory_lifecycle_policy_put(struct pos_server *srv, struct pos_req *r);
void pos_api_memory_accessed(struct pos_server *srv, struct pos_req *r);
void pos_api_memory_merge(struct pos_server *srv, struct pos_req *r);
void pos_api_memory_categories(struct pos_server *srv, struct pos_req *r);

/* Answers with one memory as the API renders it (memory.h's
 * pos_memory_json); used by the memory and sharing routes. */
void pos_api_reply_memory(struct pos_req *r, int status, const struct pos_memory *m);

/* search.c */
void pos_api_memory_search(struct pos_server *srv, struct pos_req *r);

/* chat.c */
void pos_api_chat_message(struct pos_server *srv, struct pos_req *r);
void pos_api_chat_history(struct pos_server *srv, struct pos_req *r);
void pos_api_chat_suggestions(struct pos_server *srv, struct pos_req *r);
void pos_api_memory_memorize(struct pos_server *srv, struct pos_req *r);
/* jobs.c */
void pos_api_job_get(struct pos_server *srv, struct pos_req *r);
void pos_api_jobs_list(struct pos_server *srv, struct pos_req *r);
void pos_api_job_cancel(struct pos_server *srv, struct pos_req *r);
struct pos_job_info;
/* One job as JSON: {id, kind, state, status, attempts, progress {done,
 * total}, last_error, result, item_errors, created_at, updated_at,
 * run_after, next_run_at}; for endpoints that show the job they started. */
void pos_api_job_json(struct pos_jw *w, const struct pos_job_info *j);
/* sync.c */
void pos_api_sync_sources_list(struct pos_server *srv, struct pos_req *r);
void pos_api_sync_sources_create(struct pos_server *srv, struct pos_req *r);
void pos_api_sync_sources_get(struct pos_server *srv, struct pos_req *r);
void pos_api_sync_sources_delete(struct pos_server *srv, struct pos_req *r);
void pos_api_sync_start(struct pos_server *srv, struct pos_req *r);
void pos_api_sync_status(struct pos_server *srv, struct pos_req *r);
void pos_api_sync_upload(struct pos_server *srv, struct pos_req *r);
/* export.c: export and import (issue 14, docs/EXPORT.md) */
void pos_api_export_start(struct pos_server *srv, struct pos_req *r);
void pos_api_export_status(struct pos_server *srv, struct pos_req *r);
void pos_api_export_download(struct pos_server *srv, struct pos_req *r);
void pos_api_import(struct pos_server *srv, struct pos_req *r);
/* shares.c: sharing, and the recipient's side of the memory routes */
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

/* files.c — files as memories (issue 21; docs/FILES.md) */
void pos_api_files_create(struct pos_server *srv, struct pos_req *r);
void pos_api_files_limits(struct pos_server *srv, struct pos_req *r);
void pos_api_attachments_create(struct pos_server *srv, struct pos_req *r);
void pos_api_attachments_list(struct pos_server *srv, struct pos_req *r);
void pos_api_attachment_get(struct pos_server *srv, struct pos_req *r);
void pos_api_attachment_thumbnail(struct pos_server *srv, struct pos_req *r);
void pos_api_attachment_delete(struct pos_server *srv, struct pos_req *r);
/* mcp.c (clients): the Model Context Protocol endpoint (docs/MCP.md) */
/* live events (docs/EVENTS.md) */
void pos_api_events_sse(struct pos_server *srv, struct pos_req *r);
void pos_api_events_ws(struct pos_server *srv, struct pos_req *r);

void pos_api_mcp_post(struct pos_server *srv, struct pos_req *r);
void pos_api_mcp_get(struct pos_server *srv, struct pos_req *r);

/* plugins.c (docs/PLUGINS.md) */
void pos_api_plugins_available(struct pos_server *srv, struct pos_req *r);
void pos_api_plugins_list(struct pos_server *srv, struct pos_req *r);
void pos_api_plugins_install(struct pos_server *srv, struct pos_req *r);
void pos_api_plugins_update(struct pos_server *srv, struct pos_req *r);
void pos_api_plugins_delete(struct pos_server *srv, struct pos_req *r);
void pos_api_plugins_action(struct pos_server *srv, struct pos_req *r);
/* admin: add a package, refresh the remote catalogs (docs/PLUGINS.md "Packages") */
void pos_api_admin_plugins_upload(struct pos_server *srv, struct pos_req *r);
void pos_api_admin_plugins_refresh(struct pos_server *srv, struct pos_req *r);
void pos_api_admin_plugins_remove(struct pos_server *srv, struct pos_req *r);
/* admin.c: true when the caller is an enabled admin; else answers 403 */
bool pos_api_admin_only(struct pos_server *srv, struct pos_req *r);

/* Response bodies are capped at this size (a page of 200 1 MiB memories). */
/* ---- accounts (admin.c; docs/SECURITY.md) ---- */
void pos_api_admin_users_list(struct pos_server *srv, struct pos_req *r);
void pos_api_admin_users_update(struct pos_server *srv, struct pos_req *r);
void pos_api_admin_users_delete(struct pos_server *srv, struct pos_req *r);
void pos_api_admin_invites_create(struct pos_server *srv, struct pos_req *r);
void pos_api_admin_invites_list(struct pos_server *srv, struct pos_req *r);
void pos_api_admin_invites_delete(struct pos_server *srv, struct pos_req *r);

/*
 * A password (or recovery key) check, bracketed (auth.c): pos_api_pw_begin
 * takes a place in the password-hash gate (503 busy with Retry-After when
 * full), draws from the auth rate limit when `charge` (routes the server
 * does not already charge), and reserves the attempt in the lockout of
 * `email` (raw; NULL: only the client's) — 429 when locked. It answers the
 * request and returns false when the check must not run. After a true,
 * call pos_api_pw_end exactly once with whether the secret was right.
 */
struct pos_pw_attempt {
	char acct[256];
	bool have_acct;
	struct pos_rl_reservation res;
};
bool pos_api_pw_begin(struct pos_server *srv, struct pos_req *r, const char *email,
		      bool charge, struct pos_pw_attempt *at);
void pos_api_pw_end(struct pos_server *srv, struct pos_req *r,
		    const struct pos_pw_attempt *at, bool ok);
/* Writes "quota" and "usage" objects (keys memories, bytes, sources,
 * tokens; a quota of 0 is unlimited) into the open object of `w`. */
void pos_api_write_quota(struct pos_jw *w, const int64_t *limit, const struct pos_usage *use);
/* pos_api_pw_begin for the signed-in user's own account. */
bool pos_api_pw_begin_self(struct pos_server *srv, struct pos_req *r,
			   struct pos_pw_attempt *at);

#define POS_RESPONSE_MAX ((size_t)256 * 1024 * 1024)

#endif
