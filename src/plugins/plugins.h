/*
 * plugins.h — the plugin manager (issue 15, docs/PLUGINS.md): the catalog
 * of packages under `plugins_dir`, each user's installs (with the
 * permissions they granted and their settings), and running a plugin's
 * hook for a user in a fresh sandbox bound to that user only.
 *
 * A hook call never fails the caller's request: its outcome is recorded on
 * the install (status, last error, consecutive failures) and after
 * `max_failures` failures in a row the install is disabled with its last
 * error visible. What a plugin logs is stored for its user, never written
 * to the server log.
 *
 * A call runs in a sandbox built for its (plugin, user) from the
 * plugin's code, the user's grants and settings; with `pool_max` set, the
 * sandbox is kept after a clean call (its globals reset to what the
 * plugin's code defined) and reused by the next call of the same (plugin,
 * user, grants, settings) — see plugins/sbpool.h. A failed call's sandbox
 * is freed; update and remove discard the pair's sandboxes. Calls for
 * different users or plugins never share a sandbox.
 *
 * Thread-safety: after pos_plugins_new, every function may be called from
 * any thread at once (the catalog is immutable; state is in the store).
 */
#ifndef POS_PLUGINS_PLUGINS_H
#define POS_PLUGINS_PLUGINS_H

#include <jansson.h>
#include <stdbool.h>

#include "base/arena.h"
#include "base/err.h"
#include "plugins/manifest.h"

struct pos_store;
struct pos_memsvc;
struct pos_egress;
struct pos_http_pool;
struct pos_plugins;

#define POS_PLUGINS_CATALOG_MAX 256
#define POS_PLUGINS_KV_QUOTA_DEFAULT (1u << 20)
#define POS_PLUGINS_MAX_FAILURES_DEFAULT 5
#define POS_PLUGINS_QUERY_BUDGET_US 50000
#define POS_PLUGINS_LOG_KEEP 200

/* Queues a background job (jobs/jobs.h pos_jobs_enqueue, bound by whoever
 * wires the services): kind, user, payload JSON object. */
typedef enum pos_err (*pos_plugins_enqueue_fn)(void *ctx, const char *kind, const char *user_id,
					       const char *payload_json);

struct pos_plugins_config {
	const char *dir;                 /* catalog folder; NULL or "": empty catalog */
	struct pos_store *store;         /* borrowed */
	const struct pos_memsvc *mem;    /* borrowed: memory operations for plugins */
	const struct pos_egress *egress; /* borrowed, may be NULL */
	size_t kv_quota;                 /* bytes per plugin per user; 0: default */
	unsigned max_failures;           /* 0: default */
	size_t mem_max;                  /* sandbox memory cap; 0: sandbox default */
	int64_t hook_budget_us;          /* 0: sandbox default */
	int64_t query_budget_us;         /* 0: POS_PLUGINS_QUERY_BUDGET_US */
	size_t pool_max;                 /* idle sandboxes kept for reuse; 0: none */
	size_t pool_mem;                 /* their bytes in all; 0: sbpool default */
	/* How memory hooks leave the request path; NULL: they do not run
	 * (until the jobs service is wired, see docs/PLUGINS.md). */
	pos_plugins_enqueue_fn enqueue;
	void *enqueue_ctx;
	/* Packages (catalog.h): .tar.gz packages are unpacked into
	 * <data_dir>/plugins (NULL: no archives, uploads or remote
	 * catalogs); the remote catalogs' index URLs and the ed25519 keys
	 * their packages must be signed with (config plugin_catalogs,
	 * plugin_trusted_keys). */
	const char *data_dir;
	const char *pkg_root; /* set by pos_plugins_new from data_dir */
	const char *catalogs;
	const char *trusted_keys;
};

/* Loads the catalog from cfg->dir (one folder or ID-VERSION.tar.gz per
 * package, each with a valid plugin.json and its main file; archives are
 * unpacked into cfg->pkg_root; invalid packages are skipped with a log
 * line naming them), then the packages unpacked in cfg->pkg_root before.
 * POS_ERR_NOMEM; POS_ERR_INVALID_FIELD for bad trusted keys; a missing
 * folder is an empty catalog. The catalog grows at run time (uploads,
 * remote catalogs); a package of an id already there supersedes it for
 * new calls. */
enum pos_err pos_plugins_new(const struct pos_plugins_config *cfg, struct pos_plugins **out);
void pos_plugins_free(struct pos_plugins *p);

/* The catalog: an array of {id, name, version, description, author, hooks,
 * permissions, hosts, settings} (new reference). */
enum pos_err pos_plugins_available(struct pos_plugins *p, json_t **out);

/* The user's installs: an array of {id, name, version, enabled, status,
 * last_error, failures, permissions, settings, hooks, logs, installed_at}. */
enum pos_err pos_plugins_list(struct pos_plugins *p, const char *user_id, json_t **out,
			      struct pos_error *err);

/*
 * Installs catalog entry body.id for the user. body: {id, version?,
 * settings?, grant: [permission names]}. NOT_FOUND for an unknown id or
 * version; INVALID_FIELD (field "grant") when a permission the plugin asks
 * for is not granted or an unknown one is; CONFLICT when installed
 * already. *out: the install as pos_plugins_list shows it.
 */
enum pos_err pos_plugins_install(struct pos_plugins *p, const char *user_id, json_t *body,
				 json_t **out, struct pos_error *err);
/* body: {enabled?, settings?}. Re-enabling resets failures. NOT_FOUND. */
enum pos_err pos_plugins_update(struct pos_plugins *p, const char *user_id, const char *id,
				json_t *body, json_t **out, struct pos_error *err);
/* Removes the install, its kv data and logs. NOT_FOUND. */
enum pos_err pos_plugins_remove(struct pos_plugins *p, const char *user_id, const char *id,
				struct pos_error *err);

/* POS_OK when the user has plugin `id` installed, else POS_ERR_NOT_FOUND
 * (err says so): handlers check it before reading a body. */
enum pos_err pos_plugins_installed(struct pos_plugins *p, const char *user_id, const char *id,
				   struct pos_error *err);

/*
 * Runs `hook` (POS_HOOK_*) of the user's install `id` with `event`
 * (borrowed) under the hook budget and records the outcome. *result (may
 * be NULL) gets the hook's return value. NOT_FOUND when not installed or
 * it does not handle the hook; CONFLICT when disabled; INVALID_REQUEST
 * (message: the plugin's error) when the plugin failed.
 */
enum pos_err pos_plugins_run(struct pos_plugins *p, const char *user_id, const char *id,
			     unsigned hook, json_t *event, json_t **result, struct pos_error *err);

/*
 * Runs the hook in every enabled install of the user that handles it and
 * returns their non-null results as [{plugin, result}] (new reference,
 * never NULL on POS_OK). Failing plugins are recorded and skipped, never
 * an error. For on_query the budget is query_budget_us per plugin.
 */
enum pos_err pos_plugins_emit(struct pos_plugins *p, const char *user_id, unsigned hook,
			      json_t *event, json_t **results);

/*
 * The memory hooks (on_memory_created, on_memory_accessed), off the request
 * path: queues one job of kind POS_PLUGINS_JOB_KIND per enabled install of
 * the user that handles `hook`, with payload {plugin, hook, memory_id}.
 * Cheap when no catalog plugin handles the hook (no store access). NULL
 * `p` or no enqueue function: nothing. Never fails the caller.
 */
#define POS_PLUGINS_JOB_KIND "plugin.hook"
void pos_plugins_memory_event(struct pos_plugins *p, const char *user_id, unsigned hook,
			      const char *memory_id);

/*
 * The same for a batch of created memories (bulk create, import, a sync
 * run): one job per POS_PLUGINS_BATCH_MAX ids with payload {hook,
 * memory_ids, plugins} naming the user's enabled installs that handle the
 * hook; the job runs the hook per memory and plugin, in order, each
 * plugin's calls in one reused sandbox. A memory that fails counts as a
 * failure of that plugin as a single job's would; the others still run.
 */
#define POS_PLUGINS_BATCH_MAX 1000
void pos_plugins_memory_batch(struct pos_plugins *p, const char *user_id, unsigned hook,
			      const char *const *memory_ids, size_t n);

/*
 * on_memory_creating, inline, before memories are stored (the memory
 * service's creating stage, memory.h): for each enabled install of the
 * user that handles it and was granted memories:write, runs the hook on
 * v[0] .. v[n-1] in order in one reused sandbox, each call with the
 * on_query budget (query_budget_us) and at most
 * POS_PLUGINS_CREATING_BATCH_US per plugin for the whole batch (the
 * memories after that get none of its tags). A hook returns nil or
 * {tags = "t" | {"t", ...}}: those strings (at most
 * POS_PLUGINS_CREATING_TAGS per plugin and memory) are appended to add[i]
 * (made when NULL; new reference for the caller), which the memory
 * service checks and stores with the row. In the hook, pos.memories
 * create/update/tag/search and pos.http return nil and an error (reads,
 * kv and logs work; kv writes share one transaction per plugin and
 * batch). Failures are recorded like any hook's. Cheap when no catalog
 * plugin handles the hook (no store access). Never fails the caller.
 */
struct pos_memory;
#define POS_PLUGINS_CREATING_TAGS 20
#define POS_PLUGINS_CREATING_BATCH_US 2000000
void pos_plugins_memory_creating(struct pos_plugins *p, const char *user_id,
				 const struct pos_memory *v, size_t n, json_t **add);

/* Idle pooled sandboxes and their bytes (tests, stats). */
void pos_plugins_pool_stats(struct pos_plugins *p, size_t *states, size_t *bytes);
/* Discards the pooled sandboxes of plugin `id` for every user (NULL: all
 * plugins): whoever changes a package in the catalog calls it. A new
 * version or code is never reused anyway (the pool key has both). */
void pos_plugins_pool_drop(struct pos_plugins *p, const char *id);

/* The job kind that runs those hooks; register it with the manager as ctx
 * (pos_jobs_register(jobs, &pos_plugins_job_kind, plugins)). One attempt:
 * a failing plugin is recorded on its install, not retried. */
struct pos_job_kind;
extern const struct pos_job_kind pos_plugins_job_kind;
/* Runs that job's function directly (unit tests; no jobs service needed). */
enum pos_err pos_plugins_job_run_for_test(struct pos_plugins *p, const char *user_id,
					  const char *payload_json);

/*
 * For search answers: runs on_query of the user's enabled plugins for
 * `query` (len bytes; skipped past POS_PLUGINS_QUERY_MAX) and writes
 * "plugin_answers": [{plugin, answer}] into the open object of `w` when at
 * least one plugin answered (an answer is the string `answer` of the
 * hook's result, cut to POS_PLUGINS_ANSWER_MAX bytes). NULL `p` writes
 * nothing. Never fails the search.
 */
struct pos_jw;
#define POS_PLUGINS_QUERY_MAX 1024
#define POS_PLUGINS_ANSWER_MAX 1000
void pos_plugins_write_answers(struct pos_plugins *p, struct pos_jw *w, const char *user_id,
			       const char *query, size_t len);

/*
 * Adds the .tar.gz package `data` (len bytes, an admin's upload) to the
 * catalog, checked like any package (catalog.h) and unpacked into
 * cfg->pkg_root. *out: its catalog entry. CONTENT_TOO_LARGE,
 * INVALID_FIELD / INVALID_JSON (field "package" or the manifest's),
 * CONFLICT (that id and version is in the catalog), UNAVAILABLE (no
 * pkg_root).
 */
enum pos_err pos_plugins_upload(struct pos_plugins *p, const void *data, size_t len,
				json_t **out, struct pos_error *err);

/*
 * Removes package `id` (all its versions, or `version`) that an upload or a
 * remote catalog added: from the catalog and from <data_dir>/plugins/.
 * Users' installs stay, inert ("status": "removed", their kv and logs
 * kept) until the package is added again or they remove the install.
 * POS_ERR_NOT_FOUND when no such package is in the catalog,
 * POS_ERR_CONFLICT (field "id") for a bundled one (plugins_dir).
 */
enum pos_err pos_plugins_remove_package(struct pos_plugins *p, const char *id,
					const char *version, struct pos_error *err);

/* The job kind that refreshes the remote catalogs (catalog.h
 * pos_catalog_refresh); its result is the refresh report. Register it
 * with the manager as ctx. UNAVAILABLE when no catalog is configured. */
#define POS_PLUGINS_CATALOG_JOB_KIND "plugin.catalog"
extern const struct pos_job_kind pos_plugins_catalog_job_kind;
/* True when remote catalogs are configured. */
bool pos_plugins_have_catalogs(const struct pos_plugins *p);
/* Runs one refresh now (unit tests and the job); *report: new reference. */
enum pos_err pos_plugins_refresh(struct pos_plugins *p, bool (*stop)(void *ctx), void *stop_ctx,
				 json_t **report, struct pos_error *err);

#endif
