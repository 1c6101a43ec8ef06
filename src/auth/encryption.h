/*
 * encryption.h — the encryption-at-rest service (docs/ENCRYPTION.md):
 * turning it on, unlocking a user's data key at login and at refresh,
 * locking at logout, password change (re-wraps the key only), recovery
 * with the recovery key, and the background pass that seals memories
 * written before encryption was turned on.
 *
 * `struct pos_encsvc` is owned by `struct pos_app`; it owns the keyring
 * (the only place data keys live) and a worker thread. All functions are
 * thread-safe. Errors: POS_ERR_BAD_CREDENTIALS (wrong password or recovery
 * key: nothing changes), POS_ERR_CONFLICT (already on), POS_ERR_WEAK_PASSWORD,
 * POS_ERR_DECRYPT (stored key material failed authentication), the store's.
 */
#ifndef POS_AUTH_ENCRYPTION_H
#define POS_AUTH_ENCRYPTION_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/config.h"
#include "base/err.h"
#include "crypto/keyring.h"
#include "store/store.h"

struct pos_search;

struct pos_jobs;
struct pos_job_run;

struct pos_encsvc {
	struct pos_store *store;       /* the encrypting store (borrowed) */
	struct pos_keyring *kr;        /* owned */
	struct pos_search *search;     /* borrowed: caches to forget on lock */
	unsigned long long kdf_ops, kdf_mem_kib;  /* Argon2id of the KEK */
	unsigned long long pw_ops, pw_mem_kib;    /* Argon2id of the login hash */
	struct pos_jobs *jobs;         /* borrowed: runs the sealing pass */
	/* With several instances (a shared cache): tells the others that
	 * what they hold of the user's key is stale, or (share_unlock) gives
	 * them the key just unlocked here (pos_encsvc_set_relay). */
	void (*relay)(void *ctx, const char *user_id, const uint8_t *dek);
	void *relay_ctx;
	bool share_unlock;             /* config encryption_share_unlock */
	/* What another service keeps of the user outside the rows (the files
	 * service's blobs: pos_encsvc_set_sealer), sealed by the pass. */
	enum pos_err (*seal_more)(void *ctx, const char *user_id, struct pos_job_run *r);
	void *seal_more_ctx;
};

struct pos_enc_status {
	bool enabled;
	const char *state;   /* "off" | "encrypting" | "on" */
	bool unlocked;
	int64_t progress;    /* memories sealed */
	int64_t total;       /* memories of the user */
};

/* Creates the keyring. The background pass is set up by pos_encsvc_start. */
enum pos_err pos_encsvc_init(struct pos_encsvc *svc, const struct pos_config *cfg);
/* The store and search engine to use (the store must be the encrypting
 * decorator over the keyring); registers the sealing pass (job kind
 * "encryption", queued per user when encryption is turned on and at each
 * unlock while state is "encrypting") and the sweep of expired refresh
 * tokens' key wraps (every ten minutes) with `jobs`, not started yet. */
enum pos_err pos_encsvc_start(struct pos_encsvc *svc, struct pos_store *store,
			      struct pos_search *search, struct pos_jobs *jobs);
/* Wipes every key; the jobs service is freed first. */
void pos_encsvc_fini(struct pos_encsvc *svc);

/*
 * Turns encryption on: checks the password, makes the data key, wraps it,
 * writes the key material, unlocks, and starts sealing existing memories.
 * `recovery_key` (POS_RECOVERY_KEY_MAX bytes) receives the recovery key,
 * shown once.
 */
enum pos_err pos_encsvc_enable(struct pos_encsvc *svc, const char *user_id,
			       const char *password, size_t len,
			       char recovery_key[POS_RECOVERY_KEY_MAX],
			       struct pos_error *err);

/* After a successful password login: unlocks the user's data (if on) and
 * binds the key to the new refresh token. Failures are logged, not fatal. */
void pos_encsvc_on_login(struct pos_encsvc *svc, const char *user_id,
			 const char *password, size_t len, const char *refresh_token);
/* After a successful refresh: unlocks from the old token's wrap (if any)
 * and re-wraps for the new token. Failures are logged, not fatal. */
void pos_encsvc_on_refresh(struct pos_encsvc *svc, const char *user_id,
			   const char *old_token, const char *new_token);
/* Locks the user's data: wipes the key and forgets the search caches,
 * here and (through the relay, if set) on every other instance. */
void pos_encsvc_lock(struct pos_encsvc *svc, const char *user_id);

/*
 * Several instances (docs/SCALING.md "Encryption lock"): `fn(ctx, user,
 * NULL)` is called after every change that must end the user's unlocked
 * state on the other instances: a lock (logout, account disabled or
 * deleted), a password change or recovery (this instance stays unlocked,
 * the others do not), turning encryption on (their cached "off" state is
 * stale); each other instance then calls pos_encsvc_forget. With
 * encryption_share_unlock on, `fn(ctx, user, dek)` follows every unlock
 * here (login, refresh, password change, recovery, turning it on) and the
 * others call pos_encsvc_adopt, so every instance answers alike. The app
 * publishes both (sealed: app.c). Set before the server takes requests;
 * NULL = single instance (no relay).
 */
void pos_encsvc_set_relay(struct pos_encsvc *svc,
			  void (*fn)(void *ctx, const char *user_id, const uint8_t *dek),
			  void *ctx);
/*
 * `fn` seals what a service keeps of the user outside the store's rows
 * (app.c: the files service's plain blobs). The pass calls it after the
 * memories and plugin data, before the state turns "on"; an error makes
 * the pass retry (the state stays "encrypting"). `r` is the pass's job
 * run (NULL when run directly), to poll pos_job_should_stop. Set before
 * the jobs start; NULL: nothing more.
 */
void pos_encsvc_set_sealer(struct pos_encsvc *svc,
			   enum pos_err (*fn)(void *ctx, const char *user_id,
					      struct pos_job_run *r),
			   void *ctx);
/* Another instance's relayed unlock (encryption_share_unlock): caches
 * `dek` with the user's state as stored; nothing when the store says
 * encryption is off or cannot say. Not relayed. */
void pos_encsvc_adopt(struct pos_encsvc *svc, const char *user_id,
		      const uint8_t dek[POS_DEK_SIZE]);
/* Another instance's relayed change: wipes the user's key, forgets the
 * plaintext caches (resident vectors, search results) and the cached
 * encryption state, so the next request reads the state again and answers
 * POS_ERR_LOCKED (423) until the user unlocks here. Not relayed. */
void pos_encsvc_forget(struct pos_encsvc *svc, const char *user_id);

/* Password change: checks the old one, stores the new hash and (if on)
 * the key re-wrapped, in one statement. */
enum pos_err pos_encsvc_change_password(struct pos_encsvc *svc, const char *user_id,
					const char *old_pw, size_t old_len,
					const char *new_pw, size_t new_len,
					struct pos_error *err);
/* Recovery: unwraps with the recovery key, sets the new password and
 * re-wraps under it; the data is unlocked after. */
enum pos_err pos_encsvc_recover(struct pos_encsvc *svc, const char *user_id,
				const char *recovery_key, size_t rk_len,
				const char *new_pw, size_t new_len,
				struct pos_error *err);

/* The user's encryption state for GET /api/auth/me. */
enum pos_err pos_encsvc_status(struct pos_encsvc *svc, struct pos_arena *a,
			       const char *user_id, struct pos_enc_status *out);

/* Runs the background pass for every unlocked user now (tests). Returns
 * the number of memories sealed. */
size_t pos_encsvc_work(struct pos_encsvc *svc);

#endif
