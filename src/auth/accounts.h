/*
 * accounts.h — the accounts service: reading accounts, their usage, API
 * tokens and invites for the API, and the one way an account is changed by
 * an admin or deleted (sessions ended, the data key wiped, cached search
 * state forgotten, MemU's copy deleted by a job that outlives the account).
 * Handlers call these instead of the store.
 *
 * `struct pos_accounts` is a set of borrowed pointers, filled once by the
 * app (app/app.h) and read-only after; every function is thread-safe.
 * Records go in the caller's arena. Errors: POS_ERR_NOT_FOUND for an
 * unknown id, the store's; functions that take `err` fill it on failure.
 */
#ifndef POS_AUTH_ACCOUNTS_H
#define POS_AUTH_ACCOUNTS_H

#include "assistant/assistant.h"
#include "auth/auth.h"
#include "auth/encryption.h"
#include "base/arena.h"
#include "base/err.h"
#include "search/engine.h"
#include "store/store.h"

struct pos_accounts {
	struct pos_store *store;
	const struct pos_auth *auth;
	struct pos_encsvc *enc;
	struct pos_search *search;
	struct pos_assistant *assistant;  /* MemU's copy: the memu_delete job */
};

/* The account `user_id`. */
enum pos_err pos_accounts_get(const struct pos_accounts *acc, struct pos_arena *a,
			      const char *user_id, struct pos_user *out);
/* The account with the normalized `email`. */
enum pos_err pos_accounts_by_email(const struct pos_accounts *acc, struct pos_arena *a,
				   const char *email, struct pos_user *out);
/* What the user holds now (quotas). */
enum pos_err pos_accounts_usage(const struct pos_accounts *acc, const char *user_id,
				struct pos_usage *out);
/* Every account, oldest first. */
enum pos_err pos_accounts_list(const struct pos_accounts *acc, struct pos_arena *a,
			       struct pos_user **out, size_t *n);
/* Number of accounts, and of enabled admins. */
enum pos_err pos_accounts_counts(const struct pos_accounts *acc, int64_t *users,
				 int64_t *admins);

/*
 * Applies an admin patch to `user_id` and returns the account after. A
 * disabled account's sessions end now (its API tokens are refused while
 * it stays disabled) and its data key is wiped. Errors: NOT_FOUND,
 * POS_ERR_LAST_ADMIN (nothing changed), the store's.
 */
enum pos_err pos_accounts_admin_update(const struct pos_accounts *acc, struct pos_arena *a,
				       const char *user_id,
				       const struct pos_user_admin_patch *p,
				       struct pos_user *out);

/*
 * Deletes the account and everything in it, for good: when MemU is on, a
 * memu_delete job (kept by the store) deletes MemU's copy later; then the
 * data key is wiped and the search engine forgets the user. Sessions and
 * tokens go with the account. `err` is filled on failure.
 */
enum pos_err pos_accounts_delete(const struct pos_accounts *acc, const char *user_id,
				 struct pos_error *err);

/* The user's live API tokens, newest first. */
enum pos_err pos_accounts_tokens(const struct pos_accounts *acc, struct pos_arena *a,
				 const char *user_id, struct pos_api_token **out, size_t *n);
/* Revokes the user's API token `id`: NOT_FOUND when not theirs or gone. */
enum pos_err pos_accounts_token_revoke(const struct pos_accounts *acc, const char *user_id,
				       const char *id);

/* Invites, newest first; deleting one: NOT_FOUND when unknown. */
enum pos_err pos_accounts_invites(const struct pos_accounts *acc, struct pos_arena *a,
				  struct pos_invite **out, size_t *n);
enum pos_err pos_accounts_invite_delete(const struct pos_accounts *acc, const char *id);

#endif
