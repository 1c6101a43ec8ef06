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

#define ROUTE(m, p, h, auth, limit) {m, p, h, auth, limit, m " " p}

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
	ROUTE("POST", "/api/auth/tokens", pos_api_tokens_create, SESSION, 64 * KiB),
	ROUTE("GET", "/api/auth/tokens", pos_api_tokens_list, SESSION, 0),
	ROUTE("DELETE", "/api/auth/tokens/{id}", pos_api_tokens_delete, SESSION, 0),

	ROUTE("POST", "/api/memories/bulk", pos_api_memory_bulk, BEARER, 32 * MiB),
	ROUTE("GET", "/api/memories/search", pos_api_memory_search, BEARER, 0),
	ROUTE("GET", "/api/memories/stats", pos_api_memory_stats, BEARER, 0),
	ROUTE("GET", "/api/memories/graph", pos_api_memory_graph, BEARER, 0),
	ROUTE("GET", "/api/memories", pos_api_memory_list, BEARER, 0),
	ROUTE("POST", "/api/memories", pos_api_memory_create, BEARER, 8 * MiB),
	ROUTE("GET", "/api/memories/{id}", pos_api_memory_get, BEARER, 0),
	ROUTE("PUT", "/api/memories/{id}", pos_api_memory_update, BEARER, 8 * MiB),
	ROUTE("DELETE", "/api/memories/{id}", pos_api_memory_delete, BEARER, 0),

	/* sharing (guard; docs/SECURITY.md) */
	ROUTE("POST", "/api/memories/{id}/share", pos_api_memory_share, BEARER, 64 * KiB),
	ROUTE("DELETE", "/api/memories/{id}/share/{email}", pos_api_memory_unshare, BEARER, 0),
};

const size_t pos_api_routes_count = sizeof(pos_api_routes) / sizeof(pos_api_routes[0]);
