/*
 * autolink.h — auto-linking: after a memory is created or changed, link it
 * to what it is about (docs/LIFECYCLE.md, "Auto-linking").
 *
 *  - its nearest neighbours by meaning with a cosine of at least
 *    `related_min` become `related` links, strength = the cosine (at most
 *    `max_links`);
 *  - a neighbour of the same type at `duplicate_min` or more is a
 *    `duplicate` instead (a candidate for POST /api/memories/{id}/merge);
 *  - its parent, when it has none, comes from structure: the memory before
 *    it in its thread (email replies, chat exchanges of one conversation),
 *    else the first occurrence of its event series. A note and the tasks
 *    extracted from it, and a chat exchange and its facts, are already
 *    parent and children (assistant/memorize.c).
 *
 * Re-linking a memory replaces the links auto-linking made before; links
 * made by hand stay. Runs as a job (`memory.autolink`, POS_AUTOLINK_JOB
 * below) that the memory service queues when config auto_link is on: new
 * memories (a create, a bulk, a sync run's or an import's inserts) by one
 * job per user that links everything written after the user's cursor
 * ({"new": true}), a content update by a job for that memory ({"ids":
 * [id]}), so however fast a user writes, their queue holds at most two
 * linking jobs for new memories (docs/LIFECYCLE.md).
 * Thread-safe.
 */
#ifndef POS_MEMORY_AUTOLINK_H
#define POS_MEMORY_AUTOLINK_H

#include "memory/memory.h"

struct pos_autolink_config {
	double related_min;     /* default 0.5 */
	double duplicate_min;   /* default 0.95 */
	unsigned max_links;     /* default 5, at most POS_AUTOLINK_MAX */
};
#define POS_AUTOLINK_MAX 50

void pos_autolink_config_default(struct pos_autolink_config *c);

struct pos_autolink_result {
	size_t related, duplicates;
	bool parent_set;
	char parent_id[POS_UUID_SIZE];
};

/*
 * Links the user's memory `id` (NOT_FOUND when it is not the user's).
 * Needs svc->search for neighbours (without it only the parent is
 * derived). Allocations are transient.
 */
enum pos_err pos_autolink_memory(const struct pos_memsvc *svc, const char *user_id,
				 const char *id, const struct pos_autolink_config *cfg,
				 struct pos_autolink_result *out);

/*
 * Links the user's memories ids[0..n) (n <= POS_AUTOLINK_BATCH_MAX) as
 * pos_autolink_memory does each, with one neighbour search for all of
 * them (pos_search_similar_many); ids that are malformed, not the user's
 * or deleted are skipped. `r` (may be NULL) gets progress and is polled
 * for a stop (then POS_ERR_UNAVAILABLE: the jobs service queues the rest
 * again). *linked (may be NULL): memories
 * linked. Allocations are transient.
 */
#define POS_AUTOLINK_BATCH_MAX 1000
struct pos_job_run;
enum pos_err pos_autolink_batch(const struct pos_memsvc *svc, const char *user_id,
				const char *const *ids, size_t n,
				const struct pos_autolink_config *cfg, struct pos_job_run *r,
				size_t *linked);

/* The job's kind name and its run function (jobs/jobs.h signature: `ctx`
 * is the struct pos_memsvc; the payload is {"new": true}: the user's
 * memories after their cursor (the server state "autolink.cursor.<user
 * id>", the last seq linked, moved after every page of
 * POS_AUTOLINK_BATCH_MAX; a user without one starts from their first
 * memory), or {"ids": [up to POS_AUTOLINK_BATCH_MAX memory ids]}, or
 * {"id": "<memory id>"} as queued by earlier versions). Memories deleted before the job runs are skipped,
 * not failed. The result is {"linked": n}. */
#define POS_AUTOLINK_JOB "memory.autolink"
/* when a "new" job is already queued or running, the next one waits this
 * long (coalescing the writes meanwhile) */
#define POS_AUTOLINK_NEXT_DELAY_US (1000LL * 1000)
enum pos_err pos_autolink_job_run(struct pos_job_run *r, void *ctx, const char *user_id,
				  const char *payload_json);
/* The kind to register (ctx: the struct pos_memsvc, which outlives the
 * jobs service); the app does when config auto_link is on. */
struct pos_job_kind;
extern const struct pos_job_kind pos_autolink_job_kind;

#endif
