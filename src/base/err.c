/*
 * err.c — the table behind enum pos_err: status, stable code and text.
 */
#include "base/err.h"

#include <stdio.h>
#include <string.h>

static const struct {
	int status;
	const char *code;
	const char *text;
} err_table[POS_ERR__COUNT] = {
	[POS_OK] = {200, "ok", "success"},
	[POS_ERR_NOMEM] = {500, "internal_error", "out of memory"},
	[POS_ERR_INTERNAL] = {500, "internal_error", "internal error"},
	[POS_ERR_IO] = {500, "internal_error", "input/output error"},
	[POS_ERR_STORE] = {500, "internal_error", "storage error"},
	[POS_ERR_INVALID_JSON] = {400, "invalid_json", "the body is not valid JSON"},
	[POS_ERR_INVALID_REQUEST] = {400, "invalid_request", "malformed request"},
	[POS_ERR_UNAUTHORIZED] = {401, "unauthorized", "missing or invalid access token"},
	[POS_ERR_BAD_CREDENTIALS] = {401, "invalid_credentials", "wrong email or password"},
	[POS_ERR_BAD_TOKEN] = {401, "invalid_token", "invalid, expired or used refresh token"},
	[POS_ERR_NOT_FOUND] = {404, "not_found", "not found"},
	[POS_ERR_METHOD] = {405, "method_not_allowed", "method not allowed"},
	[POS_ERR_CONFLICT] = {409, "conflict", "conflict"},
	[POS_ERR_EMAIL_TAKEN] = {409, "email_taken", "an account with this email exists"},
	[POS_ERR_BODY_TOO_LARGE] = {413, "body_too_large", "request body too large"},
	[POS_ERR_CONTENT_TOO_LARGE] = {413, "content_too_large", "content too large"},
	[POS_ERR_MEDIA_TYPE] = {415, "unsupported_media_type", "the body must be application/json"},
	[POS_ERR_MISSING_FIELD] = {422, "missing_field", "a required field is missing"},
	[POS_ERR_INVALID_FIELD] = {422, "invalid_field", "a field has an invalid value"},
	[POS_ERR_WEAK_PASSWORD] = {422, "weak_password", "the password is too short or too easy to guess"},
	[POS_ERR_INVALID_EMAIL] = {422, "invalid_email", "not a valid email address"},
	[POS_ERR_RATE_LIMITED] = {429, "rate_limited", "too many requests"},
	[POS_ERR_UNAVAILABLE] = {503, "unavailable", "service unavailable"},
	[POS_ERR_CORRUPT] = {500, "internal_error", "stored data failed a consistency check"},
	[POS_ERR_USAGE] = {400, "invalid_request", "usage error"},
	[POS_ERR_FORBIDDEN] = {403, "forbidden", "this token may not do that"},
	[POS_ERR_BAD_GATEWAY] = {502, "bad_gateway", "an upstream service answered with something unusable"},
	[POS_ERR_LOCKED] = {423, "data_locked", "encrypted data is locked: log in again to unlock it"},
	[POS_ERR_PRIVACY_TIER] = {403, "privacy_tier", "your privacy tier does not allow sending this off the machine"},
	[POS_ERR_DECRYPT] = {500, "integrity_error", "stored data failed authentication and was not served"},
	[POS_ERR_REGISTRATION_CLOSED] = {403, "registration_closed", "registration is closed on this server"},
	[POS_ERR_INVITE_REQUIRED] = {403, "invite_required", "registration needs an invite code from an admin"},
	[POS_ERR_INVALID_INVITE] = {403, "invalid_invite", "the invite code is unknown, used, expired or for another email"},
	[POS_ERR_QUOTA_EXCEEDED] = {413, "quota_exceeded", "a quota of this account would be exceeded"},
	[POS_ERR_BUSY] = {503, "busy", "the server is busy: try again after Retry-After seconds"},
	[POS_ERR_ACCOUNT_DISABLED] = {403, "account_disabled", "this account is disabled"},
	[POS_ERR_LAST_ADMIN] = {409, "last_admin", "this would leave the server without an active admin"},
	[POS_ERR_NO_SPACE] = {507, "insufficient_storage", "the server's disk is full: nothing was written, try again later"},
	[POS_ERR_EXPIRED] = {410, "expired", "this has expired and is gone"},
};

static int valid(enum pos_err e)
{
	return (int)e >= 0 && e < POS_ERR__COUNT;
}

const char *pos_strerror(enum pos_err e)
{
	return valid(e) ? err_table[e].text : "unknown error";
}

const char *pos_err_code(enum pos_err e)
{
	return valid(e) ? err_table[e].code : "internal_error";
}

int pos_err_status(enum pos_err e)
{
	return valid(e) ? err_table[e].status : 500;
}

void pos_error_clear(struct pos_error *e)
{
	e->code = POS_OK;
	e->index = -1;
	e->field[0] = '\0';
	e->message[0] = '\0';
}

enum pos_err pos_error_set(struct pos_error *e, enum pos_err code,
			   const char *field, const char *fmt, ...)
{
	if (!e)
		return code;
	e->code = code;
	snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(e->message, sizeof(e->message), fmt, ap);
		va_end(ap);
	} else {
		snprintf(e->message, sizeof(e->message), "%s", pos_strerror(code));
	}
	return code;
}
