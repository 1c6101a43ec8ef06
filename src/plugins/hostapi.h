/*
 * hostapi.h — the `pos` table a plugin sees: the only way its code reaches
 * anything outside its sandbox (issue 15, docs/PLUGINS.md "Host API").
 *
 * Version 2 of the table (pos.api_version = 2; each version only adds to the
 * one before, so a plugin written for 1 runs unchanged):
 *   pos.memories.search(query [, {limit = n}])  -> array of memories   memories:read
 *   pos.memories.list({after=, before=, type=, layer=, tag=, sort=, limit=})
 *                                               -> array of memories   memories:read
 *   pos.memories.get(id)                        -> memory | nil        memories:read
 *   pos.memories.create({content=, type=, tags=, metadata=}) -> memory memories:write
 *   pos.memories.update(id, fields)             -> memory | nil, err   memories:write
 *   pos.memories.tag(id, tag | {tags})          -> memory | nil, err   memories:write
 *   pos.http.get(url [, {headers = {...}}])     -> {status, body} | nil, err   http
 *   pos.http.post(url, body [, {content_type=, headers=}])               http
 *   pos.kv.get(key) -> string | nil;  pos.kv.set(key, string | nil)      kv
 *   pos.log(message) / pos.log(level, message)  (stored for the user, never the server log)
 *   pos.json.decode(text) -> value | nil, err;  pos.json.encode(value) -> text
 *   pos.settings()  -> the plugin's settings for this user (a fresh table)
 *   pos.now()       -> milliseconds since the epoch (integer)
 *   pos.text.words(s [, set]) -> array of s's distinct lower-cased words
 *                   (runs of ASCII letters and digits), in order; with
 *                   `set`, only those that are its keys (version 2)
 *
 * Every call is checked here against the permissions granted at install
 * before the host is asked: a missing permission raises a Lua error. HTTP
 * URLs must be http(s) to a host the manifest declares (exact name, case
 * insensitive; "host:port" pins the port); redirects are not followed. What
 * the host operation itself refuses comes back as `nil, message`.
 *
 * The operations (`struct pos_hostapi_ops`) are supplied by the plugin
 * manager, bound to one (plugin, user): this module never sees another
 * user's id, so a plugin cannot name one. Sizes are capped here before the
 * host is called (the POS_HOSTAPI_* limits).
 *
 * Thread-safety: as the sandbox (one thread at a time per sandbox).
 */
#ifndef POS_PLUGINS_HOSTAPI_H
#define POS_PLUGINS_HOSTAPI_H

#include <jansson.h>
#include <stddef.h>

#include "base/err.h"
#include "plugins/sandbox.h"

#define POS_HOSTAPI_VERSION 2
#define POS_HOSTAPI_KEY_MAX 128            /* bytes of a kv key */
#define POS_HOSTAPI_VALUE_MAX 65536        /* bytes of a kv value */
#define POS_HOSTAPI_QUERY_MAX 1024         /* bytes of a search query */
#define POS_HOSTAPI_SEARCH_LIMIT_MAX 50
#define POS_HOSTAPI_LOG_MAX 1024           /* bytes of a log line (longer is cut) */
#define POS_HOSTAPI_URL_MAX 2048
#define POS_HOSTAPI_HTTP_BODY_MAX 65536    /* bytes of a request body */
#define POS_HOSTAPI_HTTP_ANSWER_MAX (1u << 20) /* bytes of an answer */
#define POS_HOSTAPI_HTTP_TIMEOUT_MS 10000  /* also bounded by the call's deadline */
#define POS_HOSTAPI_HOSTS_MAX 16

/* Permissions, as named in manifests and install grants. */
enum pos_plugin_perm {
	POS_PERM_MEMORIES_READ = 1u << 0,  /* "memories:read" */
	POS_PERM_MEMORIES_WRITE = 1u << 1, /* "memories:write" */
	POS_PERM_HTTP = 1u << 2,           /* "http" */
	POS_PERM_KV = 1u << 3,             /* "kv" */
};

/* The bit for a permission name, 0 when unknown. */
unsigned pos_hostapi_perm(const char *name);
/* The name of one permission bit, NULL when not exactly one known bit. */
const char *pos_hostapi_perm_name(unsigned bit);

struct pos_hostapi_http {
	const char *method;  /* "GET" | "POST" */
	const char *url;     /* already checked against the declared hosts */
	const char *body;    /* POST only */
	size_t body_len;
	const char *content_type;
	int64_t deadline_us; /* pos_mono_us clock; the call's deadline */
};

/*
 * What the host does for the plugin. Each returns POS_OK with `*out` a new
 * reference (NULL allowed where noted), or an error with a message in `err`
 * that is shown to the plugin. `ctx` is the manager's (plugin, user) binding.
 */
struct pos_hostapi_ops {
	enum pos_err (*mem_search)(void *ctx, const char *query, size_t limit, json_t **out,
				   struct pos_error *err);
	/* filters: an object of strings named like GET /api/memories's
	 * parameters (after, before, type, layer, source, tag, sort, limit). */
	enum pos_err (*mem_list)(void *ctx, json_t *filters, json_t **out, struct pos_error *err);
	/* POS_ERR_NOT_FOUND when the id is not the user's. */
	enum pos_err (*mem_get)(void *ctx, const char *id, json_t **out, struct pos_error *err);
	enum pos_err (*mem_create)(void *ctx, json_t *fields, json_t **out, struct pos_error *err);
	enum pos_err (*mem_update)(void *ctx, const char *id, json_t *fields, json_t **out,
				   struct pos_error *err);
	/* Adds `tags` (a JSON array) to the memory's own; *out the memory as
	 * stored. May be NULL: then tag() is mem_get + mem_update. */
	enum pos_err (*mem_tag)(void *ctx, const char *id, json_t *tags, json_t **out,
				struct pos_error *err);
	/* out: {status, body} */
	enum pos_err (*http)(void *ctx, const struct pos_hostapi_http *req, json_t **out,
			     struct pos_error *err);
	/* *out: a JSON string, or NULL when the key is absent. */
	enum pos_err (*kv_get)(void *ctx, const char *key, json_t **out, struct pos_error *err);
	/* value NULL deletes. POS_ERR_QUOTA_EXCEEDED past the plugin's quota. */
	enum pos_err (*kv_set)(void *ctx, const char *key, const char *value, size_t len,
			       struct pos_error *err);
	void (*log)(void *ctx, const char *level, const char *msg, size_t len);
};

struct pos_hostapi_grant {
	unsigned perms;                   /* POS_PERM_* granted by the user */
	const char *const *hosts;         /* declared hosts ("name" or "name:port") */
	size_t n_hosts;                   /* <= POS_HOSTAPI_HOSTS_MAX */
};

/*
 * Installs the `pos` table into `sb` (before the plugin's code is loaded),
 * bound to `ops`/`ctx` (borrowed; must outlive the sandbox) and a copy of
 * `grant`. Uses the sandbox's user pointer. POS_ERR_NOMEM.
 */
enum pos_err pos_hostapi_install(struct pos_sandbox *sb, const struct pos_hostapi_ops *ops,
				 void *ctx, const struct pos_hostapi_grant *grant);
/* Replaces the settings pos.settings() returns (borrowed JSON object,
 * copied; NULL: {}). POS_ERR_NOMEM. */
enum pos_err pos_hostapi_set_settings(struct pos_sandbox *sb, json_t *settings);
/* Frees what pos_hostapi_install attached; call before pos_sandbox_free. */
void pos_hostapi_release(struct pos_sandbox *sb);

/* True when `url` is http(s) and its host (and port) matches one of the
 * grant's declared hosts. Exposed for tests. */
bool pos_hostapi_url_allowed(const struct pos_hostapi_grant *g, const char *url);

#endif
