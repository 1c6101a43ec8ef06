/*
 * sbpool.h — idle plugin sandboxes kept for reuse (issue 15: "one
 * lua_State per (plugin, user) or a pool of them").
 *
 * Building a sandbox (state, libraries, host API, the plugin's code) costs
 * about 0.1 ms, more than most hook calls. The plugin manager takes a
 * state for a (plugin, user) from here, runs its call, and gives it back
 * only after a clean call; the pool keeps at most `max_states` idle
 * states holding at most `mem_max` bytes in all, evicting the least
 * recently returned first.
 *
 * A state is keyed by (plugin, user, stamp): the stamp is the caller's
 * digest of everything the state was built from (the plugin's version and
 * code, the user's grants and settings), so a state built before a change
 * is never handed out after it. pos_sbpool_drop discards a (plugin, user)
 * pair's states (update, disable, uninstall); a state taken before a drop
 * is freed when it comes back, not kept.
 *
 * Isolation: a state only ever runs one plugin's code for one user with
 * one set of grants and settings, so what survives between its calls
 * (module-level tables the plugin keeps; its globals are reset, see
 * pos_sandbox_reset) is that user's data seen by that plugin already.
 *
 * Thread-safety: every function may be called from any thread; a taken
 * state belongs to the taker until it is put back or freed.
 */
#ifndef POS_PLUGINS_SBPOOL_H
#define POS_PLUGINS_SBPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "plugins/sandbox.h"

#define POS_SBPOOL_MAX_DEFAULT 32
#define POS_SBPOOL_MEM_DEFAULT (64u << 20)
#define POS_SBPOOL_KEY_MAX 64 /* bytes of a plugin or user id */

struct pos_sbpool;

/* Frees one state and what the caller attached to it (aux). */
typedef void (*pos_sbpool_free_fn)(struct pos_sandbox *sb, void *aux);

/* max_states 0: keep none (every put frees); mem_max 0: default. */
enum pos_err pos_sbpool_new(size_t max_states, size_t mem_max, pos_sbpool_free_fn free_fn,
			    struct pos_sbpool **out);
/* Frees every idle state; NULL is fine. No state may be out. */
void pos_sbpool_free(struct pos_sbpool *pool);

/* An idle state for the key, removed from the pool (NULL: none; build
 * one). *aux gets what was put with it; *ticket is for pos_sbpool_put. */
struct pos_sandbox *pos_sbpool_take(struct pos_sbpool *pool, const char *plugin,
				    const char *user, uint64_t stamp, void **aux,
				    uint64_t *ticket);
/* The ticket to put back a state built by the caller (take it before
 * building, so a drop meanwhile is seen). */
uint64_t pos_sbpool_ticket(struct pos_sbpool *pool);
/* Gives back a state after a clean call. Freed instead when pooling is
 * off, the key is too long, a drop of its pair (or all) happened since
 * `ticket`, or the state holds more than a quarter of the pool's bytes;
 * evicts the oldest idle states past the bounds. */
void pos_sbpool_put(struct pos_sbpool *pool, const char *plugin, const char *user,
		    uint64_t stamp, uint64_t ticket, struct pos_sandbox *sb, void *aux);
/* Discards the idle states of (plugin, user); NULL user: of every user;
 * NULL plugin: every state. */
void pos_sbpool_drop(struct pos_sbpool *pool, const char *plugin, const char *user);

/* Idle states and their bytes (tests, stats). */
void pos_sbpool_stats(struct pos_sbpool *pool, size_t *states, size_t *bytes);

#endif
