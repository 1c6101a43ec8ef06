/*
 * routes.c — every endpoint of the server in one table. Order matters only
 * where patterns overlap: fixed paths come before "{id}".
 */
#include "api/api.h"

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)

#define PUBLIC POS_ROUTE_PUBLIC
#define BEARER POS_ROUTE_BEARER
#define SESSION POS_ROUTE_SESSION
#define SCOPED POS_ROUTE_BEARER_SCOPED

#define ROUTE(m, p, h, auth, limit) {m, p, h, auth, limit, m " " p, false, false, POS_SPOOL_FILE}
/* A route whose body is raw bytes of any Content-Type (uploads). */
#define RAW_ROUTE(m, p, h, auth, limit) {m, p, h, auth, limit, m " " p, true, false, POS_SPOOL_FILE}
/* An upload spooled to a file, never held in memory; `limit` names the
 * configured limit (http/server.h): POS_SPOOL_FILE (file_max plus
 * framing), POS_SPOOL_IMPORT (import_upload_max). */
#define SPOOL_ROUTE(m, p, h, auth, limit) {m, p, h, auth, 0, m " " p, true, true, limit}

const struct pos_route pos_api_routes[] = {
	ROUTE("GET", "/health", pos_api_health, PUBLIC, 0),
	ROUTE("GET", "/metrics", pos_api_metrics, PUBLIC, 0),
	ROUTE("GET", "/api/openapi.json", pos_api_openapi, PUBLIC, 0),

	ROUTE("POST", "/api/auth/register", pos_api_register, PUBLIC, 64 * KiB),
	ROUTE("POST", "/api/auth/login", pos_api_login, PUBLIC, 64 * KiB),
	ROUTE("POST", "/api/auth/refresh", pos_api_refresh, PUBLIC, 64 * KiB),
	ROUTE("POST", "/api/auth/logout", pos_api_logout, SESSION, 64 * KiB),
	ROUTE("GET", "/api/auth/me", pos_api_me, BEARER, 0),
	ROUTE("PATCH", "/api/auth/me", pos_api_me_update, BEARER, 256 * KiB),
	ROUTE("DELETE", "/api/auth/me", pos_api_me_delete, SESSION, 64 * KiB),
	ROUTE("POST", "/api/auth/tokens", pos_api_tokens_create, SESSION, 64 * KiB),
	ROUTE("GET", "/api/auth/tokens", pos_api_tokens_list, SESSION, 0),
	ROUTE("DELETE", "/api/auth/tokens/{id}", pos_api_tokens_delete, SESSION, 0),
	/* encryption at rest (docs/ENCRYPTION.md) */
	ROUTE("POST", "/api/auth/encryption", pos_api_encryption_enable, SESSION, 64 * KiB),
	ROUTE("POST", "/api/auth/encryption/recover", pos_api_encryption_recover, PUBLIC, 64 * KiB),
	ROUTE("POST", "/api/auth/password", pos_api_password_change, SESSION, 64 * KiB),

	ROUTE("POST", "/api/memories/bulk", pos_api_memory_bulk, BEARER, 32 * MiB),
	ROUTE("GET", "/api/memories/search", pos_api_memory_search, BEARER, 0),
	ROUTE("GET", "/api/memories/stats", pos_api_memory_stats, BEARER, 0),
	ROUTE("GET", "/api/memories/filters", pos_api_memory_filters, BEARER, 0),
	ROUTE("GET", "/api/memories/graph", pos_api_memory_graph, BEARER, 0),
	/* lifecycle (docs/LIFECYCLE.md) */
	ROUTE("GET", "/api/memories/categories", pos_api_memory_categories, BEARER, 0),
	ROUTE("POST", "/api/memories/lifecycle/run", pos_api_memory_lifecycle_run, BEARER, 4 * KiB),
	ROUTE("GET", "/api/memories/lifecycle/policy", pos_api_memory_lifecycle_policy_get, BEARER, 0),
	ROUTE("PUT", "/api/memories/lifecycle/policy", pos_api_memory_lifecycle_policy_put, BEARER, 4 * KiB),
	ROUTE("POST", "/api/memories/{id}/accessed", pos_api_memory_accessed, BEARER, 4 * KiB),
	ROUTE("POST", "/api/memories/{id}/merge", pos_api_memory_merge, BEARER, 64 * KiB),
	ROUTE("GET", "/api/memories", pos_api_memory_list, BEARER, 0),
	ROUTE("POST", "/api/memories", pos_api_memory_create, BEARER, 8 * MiB),
	ROUTE("GET", "/api/memories/{id}", pos_api_memory_get, BEARER, 0),
	ROUTE("PUT", "/api/memories/{id}", pos_api_memory_update, BEARER, 8 * MiB),
	ROUTE("DELETE", "/api/memories/{id}", pos_api_memory_delete, BEARER, 0),
	ROUTE("POST", "/api/memories/{id}/memorize", pos_api_memory_memorize, BEARER, 4 * KiB),

	/* the assistant */
	ROUTE("POST", "/api/chat/message", pos_api_chat_message, BEARER, 256 * KiB),
	ROUTE("GET", "/api/chat/history", pos_api_chat_history, BEARER, 0),
	ROUTE("POST", "/api/chat/suggestions", pos_api_chat_suggestions, BEARER, 64 * KiB),

	/* the jobs service: every background task (docs/ARCHITECTURE.md, "Jobs") */
	ROUTE("GET", "/api/jobs", pos_api_jobs_list, BEARER, 0),
	ROUTE("GET", "/api/jobs/{id}", pos_api_job_get, BEARER, 0),
	ROUTE("DELETE", "/api/jobs/{id}", pos_api_job_cancel, BEARER, 0),

	/* sync (docs/SYNC.md) */
	ROUTE("GET", "/api/sync/sources", pos_api_sync_sources_list, BEARER, 0),
	ROUTE("POST", "/api/sync/sources", pos_api_sync_sources_create, BEARER, 64 * KiB),
	ROUTE("GET", "/api/sync/sources/{id}", pos_api_sync_sources_get, BEARER, 0),
	ROUTE("DELETE", "/api/sync/sources/{id}", pos_api_sync_sources_delete, BEARER, 0),
	ROUTE("POST", "/api/sync/start", pos_api_sync_start, BEARER, 4 * KiB),
	ROUTE("GET", "/api/sync/status", pos_api_sync_status, BEARER, 0),
	/* sync uploads (files branch): the most sync_upload_max may be */
	RAW_ROUTE("POST", "/api/sync/uploads", pos_api_sync_upload, BEARER, 64 * MiB),

	/* export and import (issue 14, docs/EXPORT.md); /api/import: spooled
	 * to disk, never held in memory, at most import_upload_max bytes */
	ROUTE("POST", "/api/export/memories", pos_api_export_start, BEARER, 64 * KiB),
	ROUTE("GET", "/api/export/status/{id}", pos_api_export_status, BEARER, 0),
	ROUTE("GET", "/api/export/download/{id}", pos_api_export_download, BEARER, 0),
	SPOOL_ROUTE("POST", "/api/import", pos_api_import, BEARER, POS_SPOOL_IMPORT),

	/* live events (docs/EVENTS.md) */
	ROUTE("GET", "/api/events", pos_api_events_sse, BEARER, 0),
	/* the handler checks the token: a browser sends it as a subprotocol */
	ROUTE("GET", "/api/events/ws", pos_api_events_ws, PUBLIC, 0),

	/* Model Context Protocol, streamable HTTP (clients; docs/MCP.md) */
	ROUTE("POST", "/mcp", pos_api_mcp_post, SCOPED, 8 * MiB),
	ROUTE("GET", "/mcp", pos_api_mcp_get, BEARER, 0),

	/* sharing (docs/SECURITY.md) */
	ROUTE("POST", "/api/memories/{id}/share", pos_api_memory_share, BEARER, 64 * KiB),
	ROUTE("DELETE", "/api/memories/{id}/share/{email}", pos_api_memory_unshare, BEARER, 0),

	/* plugins (docs/PLUGINS.md) */
	ROUTE("GET", "/api/plugins/available", pos_api_plugins_available, BEARER, 0),
	ROUTE("POST", "/api/plugins/install", pos_api_plugins_install, BEARER, 64 * KiB),
	ROUTE("GET", "/api/plugins", pos_api_plugins_list, BEARER, 0),
	ROUTE("PATCH", "/api/plugins/{id}", pos_api_plugins_update, BEARER, 64 * KiB),
	ROUTE("DELETE", "/api/plugins/{id}", pos_api_plugins_delete, BEARER, 0),
	ROUTE("POST", "/api/plugins/{id}/actions", pos_api_plugins_action, BEARER, 64 * KiB),
	/* admin: packages into the catalog (limit: POS_CATALOG_PACKAGE_MAX) */
	RAW_ROUTE("POST", "/api/admin/plugins", pos_api_admin_plugins_upload, SESSION, 4 * MiB),
	ROUTE("POST", "/api/admin/plugins/refresh", pos_api_admin_plugins_refresh, SESSION, 4 * KiB),
	ROUTE("DELETE", "/api/admin/plugins/{id}", pos_api_admin_plugins_remove, SESSION, 0),
	/* files (issue 21; docs/FILES.md) */
	SPOOL_ROUTE("POST", "/api/files", pos_api_files_create, BEARER, POS_SPOOL_FILE),
	ROUTE("GET", "/api/files/limits", pos_api_files_limits, BEARER, 0),
	SPOOL_ROUTE("POST", "/api/memories/{id}/attachments", pos_api_attachments_create, BEARER, POS_SPOOL_FILE),
	ROUTE("GET", "/api/memories/{id}/attachments", pos_api_attachments_list, BEARER, 0),
	ROUTE("GET", "/api/attachments/{id}", pos_api_attachment_get, BEARER, 0),
	ROUTE("GET", "/api/attachments/{id}/thumbnail", pos_api_attachment_thumbnail, BEARER, 0),
	ROUTE("DELETE", "/api/attachments/{id}", pos_api_attachment_delete, BEARER, 0),

	/* accounts: admin only (docs/SECURITY.md) */
	ROUTE("GET", "/api/admin/users", pos_api_admin_users_list, SESSION, 0),
	ROUTE("PATCH", "/api/admin/users/{id}", pos_api_admin_users_update, SESSION, 64 * KiB),
	ROUTE("DELETE", "/api/admin/users/{id}", pos_api_admin_users_delete, SESSION, 0),
	ROUTE("POST", "/api/admin/invites", pos_api_admin_invites_create, SESSION, 64 * KiB),
	ROUTE("GET", "/api/admin/invites", pos_api_admin_invites_list, SESSION, 0),
	ROUTE("DELETE", "/api/admin/invites/{id}", pos_api_admin_invites_delete, SESSION, 0),
};

const size_t pos_api_routes_count = sizeof(pos_api_routes) / sizeof(pos_api_routes[0]);
