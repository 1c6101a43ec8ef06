/*
 * app.h — `struct pos_app`, the one object that owns the application's
 * services: the configuration (borrowed), the store behind its encryption
 * layer, the search engine, the memory service, authentication, the
 * assistant, the encryption-at-rest service and sync. pos_app_start builds
 * them in order with one failure path; pos_app_stop tears them down in
 * reverse, in one place. `personalos serve` (cli/serve.c) builds the app
 * and hands it to the HTTP server, which sees services only through it.
 *
 * Ownership: the app owns every service it holds; `cfg` is borrowed and
 * must outlive the app. The struct must not move once started (services
 * hold pointers into it, e.g. to `mem`). Start and stop are not
 * thread-safe; the services themselves are (see their headers).
 */
#ifndef POS_APP_APP_H
#define POS_APP_APP_H

#include "assistant/assistant.h"
#include "auth/accounts.h"
#include "auth/auth.h"
#include "auth/encryption.h"
#include "base/config.h"
#include "base/err.h"
#include "files/files.h"
#include "memory/lifecycle.h"
#include "memory/memory.h"
#include "search/engine.h"
#include "store/store.h"

struct pos_sync;
struct pos_jobs;
struct pos_exports;
struct pos_plugins;
struct pos_egress;
struct pos_cache;

/* With a shared cache, every write of a user is published on this
 * channel (the message: "<instance tag> <user id>") so other instances
 * drop what they hold of the user (resident vectors). */
#define POS_SEARCH_INVALIDATE_CHANNEL "pos:search.invalidate"
/* Live events of every instance, each message "<instance tag> <event JSON>". */
#define POS_EVENTS_CHANNEL "pos:events"
/* Encryption at rest: a user's key must be dropped by the other instances
 * (lock, password change, turning it on), "<instance tag> <user id>". */
#define POS_ENC_LOCK_CHANNEL "pos:crypt.lock"
#define POS_APP_INSTANCE_LEN 16
struct pos_events;

struct pos_app {
	const struct pos_config *cfg;   /* borrowed */
	/* the shared cache (cache/redis.h) when `cache` is configured, else
	 * NULL: first up, last down; its subscriber thread runs from
	 * pos_app_start to pos_app_stop */
	struct pos_cache *cache;
	/* the encrypting decorator over the backend (docs/ENCRYPTION.md):
	 * every service sees the store through it */
	struct pos_store *store;
	struct pos_search *search;
	struct pos_memsvc mem;          /* store + search, for the memory service */
	atomic_int bulk_writes;         /* mem.bulk_writes points here */
	struct pos_auth auth;
	struct pos_assistant assistant; /* chat, suggestions, memorize */
	struct pos_encsvc enc;          /* owns the keyring the store borrows */
	struct pos_sync *sync;          /* sync sources and scheduler */
	struct pos_accounts accounts;   /* over the services above */
	struct pos_jobs *jobs;          /* every background task (jobs/jobs.h) */
	struct pos_exports *exports;    /* export and import as jobs (export/exports.h) */
	struct pos_plugins *plugins;    /* sandboxed Lua plugins (docs/PLUGINS.md) */
	struct pos_egress *plugins_egress; /* the operator's egress_allow, for plugins */
	/* plugin_catalog_refresh_s: the timer's first call (at start) is
	 * skipped; written by the jobs' dispatcher thread only */
	bool catalog_ticked;
	struct pos_files files;         /* attachments and their blobs (docs/FILES.md) */
	struct pos_events *events;      /* live events to connected clients (docs/EVENTS.md) */
	/* this instance's random tag on the events it relays through the
	 * shared cache, so it drops its own when they come back */
	char instance[POS_APP_INSTANCE_LEN + 1];
	/* encryption_share_unlock: the server key unlocks are wrapped under
	 * on the shared cache (app.c); wiped at stop */
	uint8_t relay_key[32];
	struct pos_lifecycle_jobs lifecycle; /* the daily lifecycle runs (memory/lifecycle.h) */
};

/*
 * Opens the store under cfg->data_dir, loads keys and starts every
 * service. On failure everything already started is torn down, the app is
 * left zeroed and `err` says why (POS_ERR_USAGE for a bad setting, the
 * store's or the service's error otherwise).
 */
enum pos_err pos_app_start(struct pos_app *app, const struct pos_config *cfg,
			   struct pos_error *err);
/*
 * Stops work that holds client connections: model calls still running are
 * cancelled and answer their parked requests. Call it while the HTTP
 * server is still up, after it stopped taking new requests. Idempotent.
 */
void pos_app_quiesce(struct pos_app *app);
/* Stops and frees every service in reverse order and closes the store.
 * Safe on a zeroed or already stopped app. */
void pos_app_stop(struct pos_app *app);

#endif
