/*
 * err.h — the one error enum of PersonalOS.
 *
 * Every fallible function returns an `enum pos_err` (POS_OK is 0, so
 * `if (rc) goto out;` works). Values are never renumbered: new ones go at the
 * end. One table maps each value to its HTTP status and a stable snake_case
 * code for JSON error bodies. `struct pos_error` carries the detail a client
 * sees (the offending field, the index of a bulk item, a human message).
 * Thread-safety: everything here is pure or writes only to caller memory.
 */
#ifndef POS_BASE_ERR_H
#define POS_BASE_ERR_H

#include <stdarg.h>

enum pos_err {
	POS_OK = 0,
	POS_ERR_NOMEM = 1,
	POS_ERR_INTERNAL = 2,
	POS_ERR_IO = 3,
	POS_ERR_STORE = 4,
	POS_ERR_INVALID_JSON = 5,
	POS_ERR_INVALID_REQUEST = 6,
	POS_ERR_UNAUTHORIZED = 7,
	POS_ERR_BAD_CREDENTIALS = 8,
	POS_ERR_BAD_TOKEN = 9,
	POS_ERR_NOT_FOUND = 10,
	POS_ERR_METHOD = 11,
	POS_ERR_CONFLICT = 12,
	POS_ERR_EMAIL_TAKEN = 13,
	POS_ERR_BODY_TOO_LARGE = 14,
	POS_ERR_CONTENT_TOO_LARGE = 15,
	POS_ERR_MEDIA_TYPE = 16,
	POS_ERR_MISSING_FIELD = 17,
	POS_ERR_INVALID_FIELD = 18,
	POS_ERR_WEAK_PASSWORD = 19,
	POS_ERR_INVALID_EMAIL = 20,
	POS_ERR_RATE_LIMITED = 21,
	POS_ERR_UNAVAILABLE = 22,
	POS_ERR_CORRUPT = 23,
	POS_ERR_USAGE = 24, /* command-line misuse; never reaches HTTP */
	POS_ERR_FORBIDDEN = 25, /* authenticated, but this credential may not */
	POS_ERR_BAD_GATEWAY = 26, /* an upstream (model, mail server) answered garbage */
	POS_ERR_LOCKED = 27, /* encrypted data not unlocked since the restart */
	POS_ERR_PRIVACY_TIER = 28, /* the user's privacy tier forbids the call */
	POS_ERR_DECRYPT = 29, /* stored ciphertext failed authentication */
	/* accounts (docs/SECURITY.md "Accounts, roles, registration, quotas") */
	POS_ERR_REGISTRATION_CLOSED = 30, /* registration = closed */
	POS_ERR_INVITE_REQUIRED = 31, /* registration = invite and no code given */
	POS_ERR_INVALID_INVITE = 32, /* unknown, used, expired or bound to another email */
	POS_ERR_QUOTA_EXCEEDED = 33, /* err->field names the quota */
	POS_ERR_BUSY = 34, /* the password-hash gate is full: retry later */
	POS_ERR_ACCOUNT_DISABLED = 35, /* an admin disabled the account */
	POS_ERR_LAST_ADMIN = 36, /* would leave the instance without an active admin */
	POS_ERR_NO_SPACE = 37, /* the disk (or quota) holding the data is full */
	POS_ERR_EXPIRED = 38, /* was there, and is gone for good (an export past its expiry) */
	POS_ERR__COUNT
};

/* Human text for an error value; never NULL. */
const char *pos_strerror(enum pos_err e);
/* Stable JSON `code` for an error value, e.g. "invalid_field"; never NULL. */
const char *pos_err_code(enum pos_err e);
/* HTTP status for an error value (500 for internal kinds). */
int pos_err_status(enum pos_err e);

/*
 * The detail of one failure, filled by the layer that knows it. `field` is
 * "" when no single field is at fault; `index` is -1 outside bulk requests.
 */
struct pos_error {
	enum pos_err code;
	int index;
	char field[64];
	char message[256];
};

/* Resets `e` to POS_OK with no detail. */
void pos_error_clear(struct pos_error *e);
/*
 * Records `code` with an optional `field` (NULL for none) and a printf-style
 * message (NULL uses pos_strerror). Returns `code` so callers can
 * `return pos_error_set(...)`. `e` may be NULL: then only returns `code`.
 */
enum pos_err pos_error_set(struct pos_error *e, enum pos_err code,
			   const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
