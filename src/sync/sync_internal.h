/*
 * sync_internal.h — shared between the files of src/sync (service, sink).
 * Not for use elsewhere.
 */
#ifndef POS_SYNC_SYNC_INTERNAL_H
#define POS_SYNC_SYNC_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "jobs/jobs.h"
#include "sync/sync.h"

/* A run's state as the sync status shows it (the jobs service has its own). */
enum pos_sync_job_state { SYNC_JOB_QUEUED, SYNC_JOB_RUNNING, SYNC_JOB_DONE };

/* One requested or scheduled run, as GET /api/sync/status shows it; lives
 * in s->jobs (newest first). Its id is the id of its `sync.run` job of the
 * jobs service, which runs it. */
struct pos_sync_job {
	char id[POS_UUID_SIZE];
	char user_id[POS_UUID_SIZE];
	char source_id[POS_UUID_SIZE];
	enum pos_sync_job_state state; /* under s->mu */
	bool manual;
	int64_t queued_at, started_at, finished_at;
	char status[16];            /* queued | running | ok | error | cancelled */
	char error[256];
	atomic_bool cancel;
	atomic_uint_fast64_t done, total, added, updated, unchanged, removed, skipped;
	struct pos_sync *owner;
	bool dispatched;            /* its job's attempt has started; under s->mu */
	bool delete_after;          /* the source was deleted meanwhile: the
				     * worker removes it when the run stops */
	bool keep_memories;         /* ... keeping its memories */
	struct pos_job_run *jr;     /* while running: deadline and cancel;
				     * only the run touches it */
	struct pos_sync_job *next;
};

struct pos_sync {
	struct pos_store *store;
	struct pos_memsvc mem;
	uint8_t key[32];             /* seals secrets (server key "sync_secrets") */
	pthread_mutex_t mu;          /* guards jobs, deleting, stop */
	struct pos_sync_job *jobs;
	char deleting[16][POS_UUID_SIZE];
	size_t n_deleting;
	bool stop, has_scheduler, startup_done;
	struct pos_jobs *jobsvc;     /* borrowed: runs `sync.run` (with a scheduler) */
	struct pos_job_kind run_kind; /* `sync.run`, its deadline from the options */
	char file_root[4096];        /* users' folders are <file_root>/<user id>;
				      * "" = file sources by path refused */
	char upload_dir[4096];       /* <data>/uploads: <upload_dir>/<user id>/ */
	bool operator_mode;          /* the CLI: paths unconfined */
	struct pos_egress *egress;   /* owned; NULL = public addresses only */
	pos_sync_attach_fn attach;   /* NULL: files kept inline (sync.h) */
	void *attach_ctx;
};

struct pos_sync_run_opts {
	struct pos_sync_job *job;   /* NULL outside the scheduler */
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *ctx;
	const struct pos_fsroot *root; /* file kinds: confined root, or NULL */
};

/* The stored config with the secrets opened (new reference), or NULL. */
json_t *pos_sync_full_config(struct pos_sync *s, const struct pos_sync_source *src,
			     struct pos_error *err);
/* Runs the adapter into a sink for `src` (sink.c). */
enum pos_err pos_sync_sink_run(struct pos_sync *s, const struct pos_sync_adapter *ad,
			       const struct pos_sync_source *src, const json_t *config,
			       const json_t *cursor, json_t **cursor_out,
			       const struct pos_sync_run_opts *o,
			       struct pos_sync_report *rep, struct pos_error *err);
enum pos_err pos_sync_run_source(struct pos_sync *s, const char *user_id,
				 const char *src_id, struct pos_sync_job *job,
				 void (*progress)(void *, uint64_t, uint64_t), void *pctx,
				 struct pos_sync_report *rep, struct pos_error *err);

#endif
