/*
 * memu_sync.h — every memory of a `cloud`-tier user goes to MemU, and a
 * deletion there too (docs/MEMU.md, "Every memory goes to MemU").
 *
 * The backlog is not a queue of its own: it is the user's memories after
 * a cursor (the store's write order, `seq`) kept in the store's server
 * state as `memu.sync.<user id>` = {"cursor": N, "rebuilt": "<stamp>"}.
 * A write (any source: API, bulk, import, sync, files) calls
 * pos_memu_sync_written, which queues one job of kind `memu.memorize` per
 * user (dedupe key `memu.memorize:<user id>`, serial per user, so at most
 * one is queued and one runs), a moment later so that a burst of writes
 * goes up in few calls. A run sends the memories after the cursor in
 * batches (one memorize call each, `conversation_text` with one line per
 * memory), moving the cursor after every accepted batch, until none is
 * left. Chat exchanges (memorized through the `memu_memorize` job with
 * their roles) and the items extracted from a memory (source `memorize`)
 * are not sent again.
 *
 * Backpressure: a batch holds at most POS_MEMU_SYNC_BATCH_MAX memories
 * and POS_MEMU_SYNC_BATCH_BYTES; it halves after a call slower than
 * POS_MEMU_SYNC_SLOW_MS and grows back after fast ones. An error ends the
 * run and the jobs service retries it with backoff; after HTTP 429 or 503
 * with Retry-After, no earlier than MemU asked.
 *
 * MemU can only forget a user's memories all at once, so deleting a memory
 * stamps `memu.deleted.<user id>`; the next run (queued like a write) asks
 * MemU to delete the user's memories, sets the cursor back to 0 and sends
 * every memory left. Deletions are sent whatever the user's tier is now.
 *
 * A sweep every POS_MEMU_SYNC_SWEEP_US queues a run for every user with
 * memories not sent or a deletion not handled (a write that landed while
 * a run was finishing).
 */
#ifndef POS_ASSISTANT_MEMU_SYNC_H
#define POS_ASSISTANT_MEMU_SYNC_H

#include <stdbool.h>

#include "assistant/assistant.h"

#define POS_MEMU_SYNC_JOB "memu.memorize"
#define POS_MEMU_SYNC_BATCH_MAX 32u
#define POS_MEMU_SYNC_BATCH_BYTES (256u * 1024)
#define POS_MEMU_SYNC_SLOW_MS 2000
#define POS_MEMU_SYNC_DELAY_US (500LL * 1000)
#define POS_MEMU_SYNC_SWEEP_US (300LL * 1000000)

/* Registers the job kind and the sweep on `jobs` (before pos_jobs_start);
 * `as` outlives the jobs service. */
enum pos_err pos_memu_sync_register(struct pos_assistant *as, struct pos_jobs *jobs);

/* The memory service's `written` hook (ctx: the struct pos_assistant):
 * queues the user's run when MemU is on and the user is `cloud`-tier (or,
 * for a deletion, was and had memories sent). Never fails. */
void pos_memu_sync_written(void *ctx, const char *user_id, bool deleted);

#endif
