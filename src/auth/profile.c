/*
 * profile.c — PATCH /api/auth/me: profile fields, settings and the AI
 * persona (assistant/persona.h validates it), validated field by field.
 */
#include "auth/auth.h"

#include <string.h>

#include "assistant/persona.h"
#include "base/json.h"

#define SETTINGS_MAX_BYTES (64 * 1024)

static char *dump(struct pos_arena *ar, const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!s)
		return NULL;
	char *copy = pos_arena_strdup(ar, s);
	free(s);
	return copy;
}

static enum pos_err merge_settings(struct pos_arena *ar, struct pos_user *u,
				   const json_t *patch, struct pos_error *err)
{
	if (json_is_null(patch)) {
		u->settings_json = "{}";
		return POS_OK;
	}
	if (!json_is_object(patch))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "settings",
				     "settings must be an object");
	json_t *cur = json_loads(u->settings_json, 0, NULL);
	if (!json_is_object(cur)) {
		json_decref(cur);
		cur = json_object();
	}
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)patch, k, v) {
		if (json_is_null(v))
			json_object_del(cur, k);
		else
			json_object_set(cur, k, v);
	}
	enum pos_err rc = POS_OK;
	char *s = dump(ar, cur);
	if (!s)
		rc = POS_ERR_NOMEM;
	else if (strlen(s) > SETTINGS_MAX_BYTES || pos_json_depth(cur, 17) > 16)
		rc = pos_error_set(err, POS_ERR_INVALID_FIELD, "settings",
				   "settings must be at most 64 KiB and 16 levels deep");
	else
		u->settings_json = s;
	json_decref(cur);
	return rc;
}

enum pos_err pos_profile_update(const struct pos_auth *a, struct pos_arena *ar,
				struct pos_user *u, const json_t *patch,
				struct pos_error *err)
{
	json_t *v;
	enum pos_err rc;
	if ((v = json_object_get(patch, "full_name"))) {
		if (json_is_null(v))
			u->full_name = NULL;
		else if (!json_is_string(v) || json_string_length(v) > 200)
			return pos_error_set(err, POS_ERR_INVALID_FIELD, "full_name",
					     "full_name must be a string of at most 200 bytes");
		else
			u->full_name = json_string_value(v);
	}
	if ((v = json_object_get(patch, "avatar_url"))) {
		const char *s = json_string_value(v);
		if (json_is_null(v))
			u->avatar_url = NULL;
		else if (!s || json_string_length(v) > 2048 ||
			 (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0) ||
			 strpbrk(s, " \t\r\n\"<>"))
			return pos_error_set(err, POS_ERR_INVALID_FIELD, "avatar_url",
					     "avatar_url must be an http(s) URL of at most 2048 bytes");
		else
			u->avatar_url = s;
	}
	if ((v = json_object_get(patch, "privacy_tier"))) {
		const char *s = json_string_value(v);
		if (!s || (strcmp(s, "cloud") && strcmp(s, "hybrid") && strcmp(s, "local")))
			return pos_error_set(err, POS_ERR_INVALID_FIELD, "privacy_tier",
					     "privacy_tier must be cloud, hybrid or local");
		u->privacy_tier = s;
	}
	if ((v = json_object_get(patch, "settings")) &&
	    (rc = merge_settings(ar, u, v, err)))
		return rc;
	if ((v = json_object_get(patch, "ai_persona")) &&
	    (rc = pos_persona_merge(ar, u->persona_json, v, &u->persona_json, err)))
		return rc;
	rc = a->store->accounts->user_update_profile(a->store, u);
	if (rc)
		return pos_error_set(err, rc, NULL, NULL);
	return POS_OK;
}
