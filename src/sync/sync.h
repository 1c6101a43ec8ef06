/*
 * sync.h — the sync service: configured sources (with sealed secrets), the
 * registry of adapters by kind, the sink that turns adapter items into
 * memories (upsert by user + source + external id, removals, skips with
 * positions), the schedule, run logs and status. Runs are `sync.run` jobs
 * of the jobs service (jobs/jobs.h); the schedule is its tick.
 *
 * Layering: sync sits beside the memory service (it writes through it, so
 * full-text and embeddings stay right) and below http/api/cli. The server
 * owns one `struct pos_sync` (pos_sync_new with the scheduler); the CLI makes
 * its own without a scheduler and runs a source on its own thread.
 *
 * Thread-safety: every function may be called from any thread. Runs happen
 * on the jobs service's workers (at most one per source, one per user at a
 * time), or on the caller's thread (pos_sync_run_now).
 */
#ifndef POS_SYNC_SYNC_H
#define POS_SYNC_SYNC_H

#include <jansson.h>
#include <stdbool.h>

#include "base/arena.h"
#include "base/err.h"
#include "base/json.h"
#include "memory/memory.h"
#include "store/store.h"
#include "sync/adapter.h"

#define POS_SYNC_NAME_MAX 128          /* bytes */
#define POS_SYNC_CONFIG_MAX (16 * 1024) /* bytes of config JSON */
#define POS_SYNC_INTERVAL_MIN 60       /* seconds; 0 = manual only */
#define POS_SYNC_INTERVAL_MAX (7 * 86400)
#define POS_SYNC_INTERVAL_DEFAULT 3600
#define POS_SYNC_SOURCES_MAX 100       /* per user */
#define POS_SYNC_EXTERNAL_ID_MAX 1024  /* bytes */
#define POS_SYNC_ERRORS_MAX 100        /* skip reports kept per run */

/* The adapters by kind: a NULL-terminated table (registry.c). */
extern const struct pos_sync_adapter *const pos_sync_adapters[];
/* The adapter of `kind`, or NULL when no such kind is linked. */
const struct pos_sync_adapter *pos_sync_adapter_find(const char *kind);

struct pos_sync;

#define POS_SYNC_WORKERS_DEFAULT 4
#define POS_SYNC_WORKERS_MAX 64
#define POS_SYNC_RUN_TIMEOUT_DEFAULT 600 /* seconds */
#define POS_SYNC_RUN_TIMEOUT_MAX 86400

/* The job kind of one run; payload {"source_id": "<uuid>"}. */
#define POS_SYNC_RUN_JOB "sync.run"

struct pos_jobs;

struct pos_sync_opts {
	bool scheduler;          /* register `sync.run` and the schedule on `jobs` */
	unsigned workers;        /* unused: runs share the jobs service's workers */
	unsigned run_timeout_s;  /* deadline of one run (0: default 600) */
	struct pos_jobs *jobs;   /* borrowed; required with `scheduler`, before
				  * pos_jobs_start; freed before this service */
};

/*
 * Makes the service over a store and memory service (borrowed for its
 * life). With o->scheduler, registers the job kind `sync.run` (one run of
 * a source, with a deadline, progress and cancellation) and a tick of the
 * jobs service that queues a run for every due source. Loads (or creates)
 * the server key that seals secrets.
 */
enum pos_err pos_sync_new_opts(struct pos_store *store, const struct pos_memsvc *mem,
			       const struct pos_sync_opts *o, struct pos_sync **out,
			       struct pos_error *err);
/* pos_sync_new_opts with the default workers and timeout. */
enum pos_err pos_sync_new(struct pos_store *store, const struct pos_memsvc *mem,
			  bool scheduler, struct pos_sync **out,
			  struct pos_error *err);
/*
 * File sources (mbox, maildir, ics_file, markdown_dir) of a user read
 * beneath `root`/<user id>/ (made 0700 on first use), their config.path
 * relative to it, opened with openat2 on every run (sync/fsroot.h). NULL
 * or "": file sources by path are refused (POS_ERR_FORBIDDEN); uploads
 * still work. Call before the first run.
 */
void pos_sync_set_file_root(struct pos_sync *s, const char *root);
/* Sets the egress allowlist (net/egress.h syntax) every network source is
 * held to; parsed here and owned by the service. POS_ERR_USAGE naming the
 * bad entry. Call before the first run. */
enum pos_err pos_sync_set_egress(struct pos_sync *s, const char *allow,
				 struct pos_error *err);
/* Uploads are stored under `data_dir`/uploads/<user id>/ (0700, files
 * 0600); sources with config.upload true read beneath that folder. */
void pos_sync_set_data_dir(struct pos_sync *s, const char *data_dir);
/* The operator's CLI: config.path may be any path, opened unconfined. */
void pos_sync_set_operator(struct pos_sync *s, bool operator_mode);
/*
 * Where an item's files (mail attachments, an email's original) go: the
 * hook stores `len` bytes named `name` as an attachment of the user's
 * memory `memory_id` (the server wires the files service here, with its
 * size limit and the byte quota; an attachment of the same name is
 * replaced). On an error `reason` (reason_len bytes) says why; the run
 * reports it and the memory stays. Without a hook (the CLI) files are kept
 * inline in the memory's attachments, base64, up to 8 MiB each. Call
 * before the first run; `ctx` is borrowed.
 */
typedef enum pos_err (*pos_sync_attach_fn)(void *ctx, const char *user_id,
					   const char *memory_id, const char *name,
					   const void *data, size_t len, char *reason,
					   size_t reason_len);
void pos_sync_set_attach(struct pos_sync *s, pos_sync_attach_fn fn, void *ctx);
/* True when a source config reads from the user's upload folder. */
bool pos_sync_config_is_upload(const json_t *config);
/* Cancels a running sync, stops the scheduler, frees. NULL is fine. */
void pos_sync_free(struct pos_sync *s);

/*
 * Creates a source from a POST /api/sync/sources body {kind, name, config,
 * interval_s}: validates everything (the adapter checks its config), seals
 * the secret config keys, and schedules a first run now when `schedule`.
 */
enum pos_err pos_sync_source_create(struct pos_sync *s, struct pos_arena *a,
				    const char *user_id, const json_t *body,
				    bool schedule, struct pos_sync_source *out,
				    struct pos_error *err);
/*
 * Stores an upload of the user and makes it a source synced at once:
 * `kind` "mbox" (an mbox file), "ics" (a calendar) or "markdown_zip" (a
 * zip of Markdown notes, unpacked under caps: sync/upload.h), `name` the
 * source's name (NULL: a default). The bytes go to <data>/uploads/<user
 * id>/ (0600) and the source (kind mbox, ics_file or markdown_dir, config
 * {"path": stored name, "upload": true}, manual only) reads them there.
 * The caller checks the size cap (sync_upload_max). Errors: 422 for a bad
 * kind, name or archive, 413 for a zip over its caps, 409 at the sources
 * limit.
 */
enum pos_err pos_sync_upload(struct pos_sync *s, struct pos_arena *a, const char *user_id,
			     const char *kind, const char *name, const void *data, size_t len,
			     struct pos_sync_source *out, struct pos_error *err);
/* Finds the user's source of `kind` whose config has "path" == path. */
enum pos_err pos_sync_source_find_path(struct pos_sync *s, struct pos_arena *a,
				       const char *user_id, const char *kind,
				       const char *path, struct pos_sync_source *out);
/*
 * Deletes a source, keeping or removing the memories it made. Never waits
 * for a run: a running sync is cancelled and the source disappears from
 * the API at once; the run stops at its next check, writes nothing more,
 * and its worker then removes the source (and memories). NOT_FOUND if it
 * is not the user's.
 */
enum pos_err pos_sync_source_remove(struct pos_sync *s, const char *user_id,
				    const char *id, bool keep_memories,
				    struct pos_error *err);

/* A source as the API shows it (never its secrets: only their names). */
void pos_sync_source_json(struct pos_sync *s, struct pos_jw *w,
			  const struct pos_sync_source *src);
/* {"sources": [...]} of the user. */
enum pos_err pos_sync_sources_json(struct pos_sync *s, struct pos_arena *a,
				   const char *user_id, struct pos_jw *w);
/* One source with its last runs: {..., "logs": [...]}. */
enum pos_err pos_sync_source_detail_json(struct pos_sync *s, struct pos_arena *a,
					 const char *user_id, const char *id,
					 struct pos_jw *w);
/* {"sources": [{..., running, job_id, progress, last_run}], "jobs": [...]}. */
enum pos_err pos_sync_status_json(struct pos_sync *s, struct pos_arena *a,
				  const char *user_id, struct pos_jw *w);

/*
 * Queues a run of one source (or, source_id NULL, of each of the user's
 * sources). A source already queued or running keeps its job. job_id gets
 * the (first) job's id. UNAVAILABLE without a scheduler.
 */
enum pos_err pos_sync_start(struct pos_sync *s, const char *user_id,
			    const char *source_id, char job_id[POS_UUID_SIZE],
			    struct pos_error *err);

/* What one run did. */
struct pos_sync_report {
	int64_t added, updated, unchanged, removed, skipped;
	int64_t duration_us;
	char status[16];            /* ok | error | cancelled */
	char error[256];            /* when status is error */
	char first_skip[256];       /* "position: reason" of the first skip */
	char *errors_json;          /* internal: the skip list while logging */
};

/*
 * Runs the user's source now on the calling thread (the CLI), calling
 * `progress` as items go. The run is logged and the source's status and
 * cursor updated as for scheduled runs.
 */
enum pos_err pos_sync_run_now(struct pos_sync *s, const char *user_id,
			      const char *source_id,
			      void (*progress)(void *ctx, uint64_t done, uint64_t total),
			      void *ctx, struct pos_sync_report *rep,
			      struct pos_error *err);

/*
 * Runs `ad` (which need not be registered: tests) for source `src` with the
 * given config (secrets included); no status or log is written. For unit
 * tests of the sink.
 */
enum pos_err pos_sync_run_adapter(struct pos_sync *s, const struct pos_sync_adapter *ad,
				  const struct pos_sync_source *src, const json_t *config,
				  const json_t *cursor, json_t **cursor_out,
				  struct pos_sync_report *rep, struct pos_error *err);

#endif
