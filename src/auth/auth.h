/*
 * auth.h — accounts and sessions: register, log in, refresh, log out, and
 * the check of a bearer access token on every request. The token design is
 * in docs/TOKENS.md.
 *
 * A `struct pos_auth` is set up once by pos_auth_init and read-only after,
 * so all functions are thread-safe. User records come back in the caller's
 * arena. Errors: POS_ERR_INVALID_EMAIL, POS_ERR_WEAK_PASSWORD,
 * POS_ERR_EMAIL_TAKEN, POS_ERR_BAD_CREDENTIALS, POS_ERR_BAD_TOKEN,
 * POS_ERR_UNAUTHORIZED, and the store's.
 */
#ifndef POS_AUTH_AUTH_H
#define POS_AUTH_AUTH_H

#include <jansson.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/config.h"
#include "base/err.h"
#include "crypto/crypto.h"
#include "store/store.h"

#define POS_ACCESS_TOKEN_MAX 192
#define POS_REFRESH_TOKEN_MAX 64

/*
 * Sessions verified recently, so a request need not read the sessions
 * table: entries live POS_SESSION_CACHE_TTL_US and are evicted at once by
 * logout and by refresh-token reuse in this process. (Another process that
 * revokes a session is seen within the TTL — at once with a shared cache,
 * which tells every instance over pub/sub; see pos_auth_use_cache.)
 */
#define POS_SESSION_CACHE_SLOTS 4096
#define POS_SESSION_CACHE_STRIPES 16
#define POS_SESSION_CACHE_TTL_US 2000000

/* Positive checks of a session's access token kept in the shared cache:
 * at most this long, and never past the token's expiry. */
#define POS_TOKEN_CACHE_TTL_MS 30000
#define POS_AUTH_REVOKE_CHANNEL "pos:auth.revoke"

struct pos_session_cache;
struct pos_pw_gate;
struct pos_cache;

struct pos_auth {
	struct pos_store *store;
	struct pos_session_cache *sessions; /* owned; mutable behind const */
	struct pos_pw_gate *gate;           /* owned; mutable behind const */
	struct pos_cache *cache;            /* borrowed; NULL: in-process only */
	char registration[8];               /* config: open|invite|closed|"" */
	int64_t quota_default[POS_QUOTA__COUNT]; /* config; 0 = unlimited */
	uint8_t mac_key[POS_MAC_KEY_SIZE];
	int64_t access_ttl_us;
	int64_t refresh_ttl_us;
	unsigned long long pwhash_ops;
	unsigned long long pwhash_mem_kib;
};

struct pos_tokens {
	char access[POS_ACCESS_TOKEN_MAX];
	char refresh[POS_REFRESH_TOKEN_MAX];
	int64_t expires_in_s;
};

/* The identity behind a verified bearer token. */
struct pos_principal {
	char user_id[POS_UUID_SIZE];
	char session_id[POS_UUID_SIZE]; /* "" for a personal API token */
	bool personal;                  /* a personal API token, not a session */
	bool read_only;                 /* its scope is "read" */
};

#define POS_API_TOKEN_MAX 64
#define POS_API_TOKEN_NAME_MAX 100

/* Loads (or creates) the token key from the store and copies the limits. */
enum pos_err pos_auth_init(struct pos_auth *a, struct pos_store *s,
			   const struct pos_config *cfg, struct pos_error *err);
/* Wipes the key. */
void pos_auth_fini(struct pos_auth *a);
/*
 * Shares token checks through `cache` (borrowed; it must outlive `a`):
 * a verified session access token is remembered in Redis under a hash of
 * the token (never the token) for POS_TOKEN_CACHE_TTL_MS or until it
 * expires, so other instances skip the store. Redis is asked first; the
 * in-process cache stands in only while Redis cannot answer. Logout and
 * revocation delete those keys before they return, and publish on
 * POS_AUTH_REVOKE_CHANNEL, on which every instance drops the session from
 * its in-process cache. Call once after pos_auth_init and before
 * pos_cache_start.
 */
enum pos_err pos_auth_use_cache(struct pos_auth *a, struct pos_cache *cache);

/* How an account is created (pos_auth_register). */
struct pos_register_opts {
	const char *invite_code;  /* NULL: none given */
	const char *role;         /* "admin", "user", or NULL: admin if first */
	bool by_operator;         /* the CLI: the registration mode does not apply */
};

/*
 * Creates an account. `email` is normalized (trimmed, lower-cased);
 * `full_name` may be NULL; `opts` NULL is {NULL, NULL, false}. Unless by
 * the operator, the registration mode applies (pos_auth_registration):
 * closed is POS_ERR_REGISTRATION_CLOSED, invite needs a valid code
 * (POS_ERR_INVITE_REQUIRED, POS_ERR_INVALID_INVITE — checked before the
 * email, so a stranger cannot probe which emails have accounts); open
 * takes no code, but one given must be valid and is used up. With
 * `tokens` non-NULL, also starts a session (the account is logged in).
 */
enum pos_err pos_auth_register(const struct pos_auth *a, struct pos_arena *ar,
			       const char *email, const char *password,
			       size_t password_len, const char *full_name,
			       const struct pos_register_opts *opts,
			       struct pos_user *user, struct pos_tokens *tokens,
			       struct pos_error *err);
/* The registration mode in force: the configured one, else "open" while
 * no account exists and "invite" after. */
enum pos_err pos_auth_registration(const struct pos_auth *a, const char **mode);
/* Checks the password and starts a session. Same error for an unknown
 * email and a wrong password, after the same amount of hashing work. */
enum pos_err pos_auth_login(const struct pos_auth *a, struct pos_arena *ar,
			    const char *email, const char *password,
			    size_t password_len, struct pos_user *user,
			    struct pos_tokens *tokens, struct pos_error *err);
/* Rotates a refresh token into a new pair (see store refresh_rotate). */
enum pos_err pos_auth_refresh(const struct pos_auth *a, struct pos_arena *ar,
			      const char *refresh_token, struct pos_user *user,
			      struct pos_tokens *tokens, struct pos_error *err);
/* Checks the password of an existing user (re-authentication before a
 * destructive step): POS_ERR_BAD_CREDENTIALS when wrong. */
enum pos_err pos_auth_check_password_of(const struct pos_auth *a, struct pos_arena *ar,
					const char *user_id, const char *password,
					size_t password_len, struct pos_error *err);
/* Starts a new session for an existing user (after recovery): fills
 * `user` and `tokens`. */
enum pos_err pos_auth_new_session(const struct pos_auth *a, struct pos_arena *ar,
				  const char *user_id, struct pos_user *user,
				  struct pos_tokens *tokens, struct pos_error *err);
/* Revokes the session: its access and refresh tokens stop working. */
enum pos_err pos_auth_logout(const struct pos_auth *a,
			     const struct pos_principal *p);
/* Verifies a bearer access token: format, MAC, expiry, live session. */
enum pos_err pos_auth_verify(const struct pos_auth *a, const char *token,
			     size_t len, struct pos_principal *out);

/*
 * Personal API tokens (docs/TOKENS.md): `pos_pat.` + 32 random bytes,
 * stored as a BLAKE2b hash, shown once in `secret` (POS_API_TOKEN_MAX
 * bytes). Name 1–100 bytes; scope read or write.
 */
enum pos_err pos_auth_token_create(const struct pos_auth *a, const char *user_id,
				   const char *name, bool read_only,
				   struct pos_api_token *out, char *secret,
				   struct pos_error *err);

/* ---- accounts (docs/SECURITY.md "Accounts, roles, registration, quotas") ---- */

/*
 * The password-hash gate: at most `argon2_concurrency` Argon2 computations
 * at once and `argon2_queue` callers waiting. pos_auth_gate_enter returns
 * POS_OK (the caller must pos_auth_gate_leave) or POS_ERR_BUSY at once when
 * the queue is full. Thread-safe.
 */
enum pos_err pos_auth_gate_enter(const struct pos_auth *a);
void pos_auth_gate_leave(const struct pos_auth *a);

/* Revokes every session of the user but `except_session` (NULL: all),
 * and with `api_tokens` every API token; drops them from the session
 * cache so they fail at once. Counts revoked in *n_sessions, *n_tokens. */
enum pos_err pos_auth_revoke_user(const struct pos_auth *a, const char *user_id,
				  const char *except_session, bool api_tokens,
				  int64_t *n_sessions, int64_t *n_tokens);

/* The quota limits in force for `u` (its overrides, else the defaults;
 * 0 = unlimited). */
void pos_auth_quota_limits(const struct pos_auth *a, const struct pos_user *u,
			   int64_t limit[POS_QUOTA__COUNT]);
/* The name of a quota: "memories", "bytes", "sources", "tokens". */
const char *pos_quota_name(enum pos_quota q);
/*
 * Checks that adding add[q] to each quota of the user stays within its
 * limit, before the write: POS_ERR_QUOTA_EXCEEDED with err->field the
 * quota's name. (Concurrent writes of one user may overshoot by a batch.)
 */
enum pos_err pos_auth_quota_check(const struct pos_auth *a, struct pos_arena *ar,
				  const char *user_id,
				  const int64_t add[POS_QUOTA__COUNT],
				  struct pos_error *err);

#define POS_INVITE_CODE_MAX 64
/*
 * Creates an invite valid `ttl_s` seconds (1 s – 90 days), optionally
 * bound to `email` (normalized; NULL: any). The code (`pos_inv.` + 24
 * random bytes) is written to `code` (POS_INVITE_CODE_MAX bytes), shown
 * once, and stored only as a hash.
 */
enum pos_err pos_auth_invite_create(const struct pos_auth *a, const char *created_by,
				    const char *email, int64_t ttl_s,
				    struct pos_invite *out, char *code,
				    struct pos_error *err);

/* Email normalization and the password rule, exposed for tests and CLI. */
enum pos_err pos_auth_normalize_email(const char *in, char *out, size_t cap,
				      struct pos_error *err);
enum pos_err pos_auth_check_password(const char *pw, size_t len,
				     struct pos_error *err);

/* ---- profile (profile.c) ---- */

/*
 * Applies a PATCH /api/auth/me body to `user` (loaded by the caller) and
 * saves it. Validates every field; on failure nothing is saved and `err`
 * names the field (e.g. "ai_persona.humor").
 */
enum pos_err pos_profile_update(const struct pos_auth *a, struct pos_arena *ar,
				struct pos_user *user, const json_t *patch,
				struct pos_error *err);

#endif
