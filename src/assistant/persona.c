/*
 * persona.c — the user's AI persona (persona.h): its defaults, the
 * validation of a change, and the system prompt made from it.
 *
 * Each 0–10 trait maps to one of three concrete instructions (0–3, 4–6,
 * 7–10), stated with its value so a model (and a test) sees both; the
 * toggles, expertise areas and the user's own additions follow. The text is
 * plain English with no markup a model could mistake for a role change;
 * the user's additions are quoted as theirs.
 */
#include <jansson.h>
#include <string.h>

#include "assistant/persona.h"
#include "base/clock.h"

/* ---- the persona itself: defaults and validation ---- */

static const char default_persona[] =
	"{\"name\":\"Assistant\",\"formality\":5,\"verbosity\":5,\"humor\":3,"
	"\"proactivity\":5,\"use_emojis\":false,\"provide_suggestions\":true,"
	"\"ask_clarifying_questions\":true,\"expertise_areas\":[],"
	"\"system_prompt_additions\":\"\"}";

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

enum pos_err pos_persona_merge(struct pos_arena *ar, const char *current,
			       const json_t *patch, const char **out, struct pos_error *err)
{
	json_t *p = json_loads(default_persona, 0, NULL);
	json_t *cur = current ? json_loads(current, 0, NULL) : NULL;
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
	char *s = p ? json_dumps(p, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	const char *copy = s ? pos_arena_strdup(ar, s) : NULL;
	free(s);
	if (!copy) {
		rc = POS_ERR_NOMEM;
		goto out;
	}
	*out = copy;
out:
	json_decref(p);
	json_decref(cur);
	return rc;
}

/* ---- the system prompt ---- */

struct trait {
	const char *key, *label;
	const char *low, *mid, *high;
};

static const struct trait traits[] = {
	{"formality", "Formality",
	 "write casually, like a friend: contractions and plain words are fine.",
	 "use a friendly, professional tone.",
	 "write formally and precisely, with complete sentences and no slang."},
	{"verbosity", "Verbosity",
	 "keep answers very short: one to three sentences.",
	 "answer in a short paragraph unless more detail is asked for.",
	 "give thorough, detailed answers with explanations and examples."},
	{"humor", "Humor",
	 "stay serious; no jokes.",
	 "a light touch of humor is fine when it fits.",
	 "be playful and witty where it does not get in the way."},
	{"proactivity", "Proactivity",
	 "answer only what is asked.",
	 "point out directly relevant things the user may have missed.",
	 "proactively connect related memories, flag upcoming deadlines and "
	 "suggest next steps."},
};

static json_t *load_persona(const char *persona_json)
{
	json_t *p = json_loads(pos_persona_default_json(), 0, NULL);
	json_t *cur = persona_json ? json_loads(persona_json, 0, NULL) : NULL;
	if (p && json_is_object(cur))
		json_object_update_existing(p, cur);
	json_decref(cur);
	return p;
}

bool pos_persona_wants_suggestions(const char *persona_json)
{
	json_t *p = load_persona(persona_json);
	bool yes = !p || !json_is_false(json_object_get(p, "provide_suggestions"));
	json_decref(p);
	return yes;
}

static const char *str_or(json_t *o, const char *k, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s && *s ? s : dflt;
}

enum pos_err pos_persona_prompt(struct pos_arena *a, const char *persona_json,
				const char *user_name, int64_t now, struct pos_buf *out)
{
	json_t *p = load_persona(persona_json);
	if (!p)
		return POS_ERR_NOMEM;
	char day[40];
	pos_time_format(now, day, sizeof(day));
	day[10] = '\0';
	enum pos_err rc = pos_buf_addf(
		out,
		"You are %s, the personal assistant of %s inside PersonalOS, their "
		"private memory store. Today is %s (UTC).\n\nHow to write:\n",
		str_or(p, "name", "Assistant"), user_name && *user_name ? user_name : "the user",
		day);
	for (size_t i = 0; !rc && i < sizeof(traits) / sizeof(traits[0]); i++) {
		json_int_t v = json_integer_value(json_object_get(p, traits[i].key));
		const char *how = v <= 3 ? traits[i].low : v <= 6 ? traits[i].mid : traits[i].high;
		rc = pos_buf_addf(out, "- %s %lld/10: %s\n", traits[i].label, (long long)v, how);
	}
	if (!rc)
		rc = pos_buf_adds(out, json_is_true(json_object_get(p, "use_emojis"))
				       ? "- Emojis: you may use emojis where they fit.\n"
				       : "- Emojis: do not use emojis.\n");
	if (!rc)
		rc = pos_buf_adds(out, json_is_false(json_object_get(p, "provide_suggestions"))
				       ? "- Suggestions: do not add suggestions the user did not ask for.\n"
				       : "- Suggestions: when useful, end with one or two concrete "
					 "suggestions.\n");
	if (!rc)
		rc = pos_buf_adds(out, json_is_false(json_object_get(p, "ask_clarifying_questions"))
				       ? "- Clarifying questions: do not ask them; make a reasonable "
					 "assumption and say which.\n"
				       : "- Clarifying questions: if the request is ambiguous, ask one "
					 "short clarifying question.\n");
	json_t *areas = json_object_get(p, "expertise_areas");
	if (!rc && json_array_size(areas)) {
		rc = pos_buf_adds(out, "- Expertise: you are especially knowledgeable about ");
		size_t i;
		json_t *v;
		json_array_foreach(areas, i, v) {
			if (rc)
				break;
			rc = pos_buf_addf(out, "%s%s", i ? ", " : "", json_string_value(v));
		}
		if (!rc)
			rc = pos_buf_adds(out, ".\n");
	}
	const char *extra = str_or(p, "system_prompt_additions", NULL);
	if (!rc && extra)
		rc = pos_buf_addf(out, "\nAdditional instructions from the user:\n%s\n", extra);
	json_decref(p);
	(void)a;
	return rc;
}
