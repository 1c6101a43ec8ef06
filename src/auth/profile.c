/*
 * profile.c — PATCH /api/auth/me: profile fields, settings and the AI
 * persona (the seed's AIPersona), validated field by field.
 */
#include "auth/auth.h"

#include <string.h>

#include "base/json.h"

static const char default_persona[] =
	"{\"name\":\"Assistant\",\"formality\":5,\"verbosity\":5,\"humor\":3,"
	"\"proactivity\":5,\"use_emojis\":false,\"provide_suggestions\":true,"
	"\"ask_clarifying_questions\":true,\"expertise_areas\":[],"
	"\"system_prompt_additions\":\"\"}";

#define SETTINGS_MAX_BYTES (64 * 1024)

const char *pos_persona_default_json(void)
{
	return default_persona;
}

static const char *const int_traits[] = {"formality", "verbosity", "humor",
					 "proactivity"};
static const char *const bool_traits[] = {"use_emojis", "provide_suggestions",
					  "ask_clarifying_questions"};

static enum pos_err bad(struct pos_error *err, const char *key, const char *msg)
{
	char field[64];
	snprintf(field, sizeof(field), "ai_persona.%s", key);
	return pos_error_set(err, POS_ERR_INVALID_FIELD, field, "%s %s", field, msg);
}

/* Validates and copies one persona field into `p`. Unknown keys: ignored. */
static enum pos_err persona_set(json_t *p, const char *key, json_t *v,
				struct pos_error *err)
{
	for (size_t i = 0; i < sizeof(int_traits) / sizeof(int_traits[0]); i++) {
		if (strcmp(key, int_traits[i]) != 0)
			continue;
		if (!json_is_integer(v) && !(json_is_real(v) &&
					     json_real_value(v) == (double)(long long)json_real_value(v)))
			return bad(err, key, "must be an integer from 0 to 10");
		json_int_t n = json_is_integer(v) ? json_integer_value(v)
						  : (json_int_t)json_real_value(v);
		if (n < 0 || n > 10)
			return bad(err, key, "must be an integer from 0 to 10");
		json_object_set_new(p, key, json_integer(n));
		return POS_OK;
	}
	for (size_t i = 0; i < sizeof(bool_traits) / sizeof(bool_traits[0]); i++) {
		if (strcmp(key, bool_traits[i]) != 0)
			continue;
		if (!json_is_boolean(v))
			return bad(err, key, "must be true or false");
		json_object_set(p, key, v);
		return POS_OK;
	}
	if (!strcmp(key, "name")) {
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > 100)
			return bad(err, key, "must be a string of 1 to 100 bytes");
		json_object_set(p, key, v);
	} else if (!strcmp(key, "system_prompt_additions")) {
		if (!json_is_string(v) || json_string_length(v) > 4000)
			return bad(err, key, "must be a string of at most 4000 bytes");
		json_object_set(p, key, v);
	} else if (!strcmp(key, "expertise_areas")) {
		if (!json_is_array(v) || json_array_size(v) > 50)
			return bad(err, key, "must be an array of at most 50 strings");
		size_t i;
		json_t *s;
		json_array_foreach(v, i, s) {
			if (!json_is_string(s) || json_string_length(s) == 0 ||
			    json_string_length(s) > 100)
				return bad(err, key, "items must be strings of 1 to 100 bytes");
		}
		json_object_set(p, key, v);
	}
	return POS_OK;
}

static char *dump(struct pos_arena *ar, const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!s)
		return NULL;
	char *copy = pos_arena_strdup(ar, s);
	free(s);
	return copy;
}

static enum pos_err merge_persona(struct pos_arena *ar, struct pos_user *u,
				  const json_t *patch, struct pos_error *err)
{
	json_t *p = json_loads(default_persona, 0, NULL);
	json_t *cur = json_loads(u->persona_json, 0, NULL);
	enum pos_err rc = POS_OK;
	if (!p) {
		rc = POS_ERR_NOMEM;
		goto out;
	}
	if (json_is_object(cur))
		json_object_update_existing(p, cur);
	if (json_is_null(patch)) {
		/* null resets to the defaults */
		json_decref(p);
		p = json_loads(default_persona, 0, NULL);
	} else if (!json_is_object(patch)) {
		rc = pos_error_set(err, POS_ERR_INVALID_FIELD, "ai_persona",
				   "ai_persona must be an object");
		goto out;
	} else {
		const char *k;
		json_t *v;
		json_object_foreach((json_t *)patch, k, v) {
			if ((rc = persona_set(p, k, v, err)))
				goto out;
		}
	}
	const char *s = p ? dump(ar, p) : NULL;
	if (!s) {
		rc = POS_ERR_NOMEM;
		goto out;
	}
	u->persona_json = s;
out:
	json_decref(p);
	json_decref(cur);
	return rc;
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
	    (rc = merge_persona(ar, u, v, err)))
		return rc;
	rc = a->store->ops->user_update_profile(a->store, u);
	if (rc)
		return pos_error_set(err, rc, NULL, NULL);
	return POS_OK;
}
