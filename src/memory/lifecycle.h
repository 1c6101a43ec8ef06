/*
 * lifecycle.h — memory layers that move by themselves (docs/LIFECYCLE.md).
 *
 * A pure policy — pos_life_next() decides the layer a memory belongs in
 * from its facts, the user's policy and a clock the caller passes — and
 * the run that applies it to one user's memories (pos_lifecycle_run),
 * recomputing computed importances (memory/importance.h) on the way.
 * Pinned memories (metadata.pinned) and layers the user chose
 * (layer_locked) never move. The policy is per user, kept in the user's
 * settings under "lifecycle"; missing keys take the defaults below.
 *
 * Thread-safe: no state; the run may go on beside API writes (a memory
 * locked or edited meanwhile is respected by the store's apply).
 */
#ifndef POS_MEMORY_LIFECYCLE_H
#define POS_MEMORY_LIFECYCLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/err.h"
#include "base/json.h"
#include "store/store.h"

/* Defaults (docs/LIFECYCLE.md). */
#define POS_LIFE_ACTIVE_DAYS 7
#define POS_LIFE_CURRENT_DAYS 30
#define POS_LIFE_REFERENCE_ACCESSES 3
#define POS_LIFE_REFERENCE_DAYS 90
#define POS_LIFE_ARCHIVE_DAYS 90
/* Every day count is 1..POS_LIFE_DAYS_MAX, the access count 1..1,000,000. */
#define POS_LIFE_DAYS_MAX 3650

struct pos_life_policy {
	unsigned active_days;        /* a memory stays active this long after entering it */
	unsigned current_days;       /* a tag touched this recently is current */
	unsigned reference_accesses; /* accessed at least this often ... */
	unsigned reference_days;     /* ... and last within this many days: reference */
	unsigned archive_days;       /* not used this long: archive */
};

void pos_life_policy_default(struct pos_life_policy *p);

/*
 * Reads a policy object ({"active_days": 7, ...}; NULL or absent keys keep
 * the defaults). With `strict`, an unknown key or a value out of range is
 * POS_ERR_INVALID_FIELD naming the key (what a client sent); without, such
 * values are skipped (what was stored).
 */
enum pos_err pos_life_policy_parse(const json_t *o, bool strict,
				   struct pos_life_policy *p, struct pos_error *err);
void pos_life_policy_json(struct pos_jw *w, const struct pos_life_policy *p);

/*
 * The layer memory `r` belongs in at `now` (microseconds) under `p`;
 * `current` says whether it belongs to something current (a tag touched
 * by another memory within current_days, an open action, an upcoming
 * event). Pure.
 */
enum pos_mem_layer pos_life_next(const struct pos_life_policy *p,
				 const struct pos_life_row *r, bool current,
				 int64_t now);

/* What a run did: moved[from][to] memories, importances recomputed. */
struct pos_life_result {
	int64_t moved[POS_LAYER__COUNT][POS_LAYER__COUNT];
	int64_t scanned, importance_changed;
};

/* Called between pages with the memories seen so far; a true return stops
 * the run (POS_ERR_CANCELLED). NULL: none. */
typedef bool (*pos_life_progress_fn)(void *ctx, int64_t done);

/*
 * Applies the user's policy (from settings; defaults when none) to every
 * memory of `user_id` at `now`, page by page, and recomputes the computed
 * importances. Allocations are transient (the run's own arenas).
 */
enum pos_err pos_lifecycle_run(struct pos_store *s, const char *user_id, int64_t now,
			       pos_life_progress_fn progress, void *ctx,
			       struct pos_life_result *out, struct pos_error *err);

/* Writes {"moved": {"active->working": n, ...}, "scanned": n,
 * "importance_changed": n}; only moves that happened are listed. */
void pos_life_result_json(struct pos_jw *w, const struct pos_life_result *r);

/* The user's policy (GET) and its update with the keys of `body` (PUT;
 * strict, stored in settings.lifecycle), which `out` receives. */
enum pos_err pos_lifecycle_policy_get(struct pos_store *s, struct pos_arena *a,
				      const char *user_id, struct pos_life_policy *out,
				      struct pos_error *err);
enum pos_err pos_lifecycle_policy_put(struct pos_store *s, struct pos_arena *a,
				      const char *user_id, const json_t *body,
				      struct pos_life_policy *out, struct pos_error *err);

/* ---- the job (lifecycle_job.c) ---- */

/* The kind's name; payload {}. */
#define POS_LIFECYCLE_JOB "memory.lifecycle"
#define POS_LIFECYCLE_INTERVAL_US (86400LL * 1000000) /* a user's runs, a day apart */
struct pos_jobs;

/* What the job kind needs; owned by the app, outliving the jobs service. */
struct pos_lifecycle_jobs {
	struct pos_store *store; /* borrowed */
	struct pos_jobs *jobs;   /* borrowed */
	int64_t interval_us;     /* between a user's runs; 0: no schedule */
};

/*
 * Registers `memory.lifecycle` (one attempt runs the user's policy with
 * progress — memories seen — and leaves the run's result JSON, as the
 * endpoint answers it) and, with interval_us > 0, its schedule: a tick of
 * the jobs service (at start, then hourly) that queues a run interval_us
 * ahead for every user who has none queued or running. Before
 * pos_jobs_start.
 */
enum pos_err pos_lifecycle_register(struct pos_lifecycle_jobs *lj);

#endif
