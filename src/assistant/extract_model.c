/*
 * extract_model.c — the model half of the extractor: the system prompt that
 * asks for a JSON object, and the strict validator of the answer. A model's
 * answer is untrusted upstream input: it is parsed with the request JSON
 * limits, every field is type-checked, dates must parse, sizes are capped,
 * and any fault refuses the whole answer (POS_ERR_BAD_GATEWAY) so a job never
 * stores half of it.
 */
#include "assistant/extract.h"

#include <stdbool.h>
#include <string.h>

#include "assistant/extract_internal.h"
#include "base/json.h"

static const char model_prompt[] =
	"You extract durable memories from a conversation between a user and an "
	"assistant. Read the conversation and answer with ONE JSON object and "
	"nothing else, of exactly this shape:\n"
	"{\"facts\":[{\"text\":\"...\"}],\n"
	" \"tasks\":[{\"text\":\"...\",\"due\":\"...\"}],\n"
	" \"events\":[{\"text\":\"...\",\"start\":\"...\",\"end\":\"...\",\"with\":\"...\"}],\n"
	" \"follow_ups\":[{\"text\":\"...\",\"due\":\"...\"}]}\n"
	"Rules:\n"
	"- facts: lasting facts about the user (name, family, home, work, "
	"preferences, health, birthdays), each one self-contained sentence.\n"
	"- tasks: things the user needs or wants to do; \"due\" only when a date or "
	"time was said.\n"
	"- events: appointments, meetings, calls, trips with a known start; "
	"\"start\" is required, \"end\" and \"with\" (the people involved) only "
	"when known.\n"
	"- follow_ups: things the user asked to be reminded of or must follow up "
	"on or get back to someone about; \"due\" only when known.\n"
	"- Only what the USER said about themselves or asked for; skip questions, "
	"hypotheticals, quoted text and the assistant's own suggestions.\n"
	"- Each \"text\" is one short, self-contained statement in the user's "
	"language (at most 300 characters) that makes sense without the "
	"conversation: name people and replace relative dates with absolute "
	"ones.\n"
	"- Dates are ISO 8601: \"2026-12-03\" for a day, "
	"\"2026-12-03T15:00:00+01:00\" for a time, with the user's UTC offset "
	"(given with the current date in the user message). Resolve \"tomorrow\", "
	"\"next Friday\" and the like against the current date.\n"
	"- Omit optional fields you do not know; never invent dates or people.\n"
	"- At most 20 items in total. Use empty arrays when there is nothing: "
	"{\"facts\":[],\"tasks\":[],\"events\":[],\"follow_ups\":[]}\n";

const char *pos_extract_model_prompt(void)
{
	return model_prompt;
}

/* ---- locating the object --------------------------------------------------- */

/*
 * End (one past the closer) of the balanced {...} or [...] starting at s[i];
 * 0 when a closer does not match, and len + 1 when the input ends first.
 */
static size_t balanced_end(const char *s, size_t len, size_t i)
{
	char open = s[i];
	size_t depth = 0;
	bool in_str = false;
	for (; i < len; i++) {
		char c = s[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			if (depth == 0)
				return 0;
			if (--depth == 0)
				return (c == '}') == (open == '{') ? i + 1 : 0;
		}
	}
	return len + 1;
}

/* ---- dates ------------------------------------------------------------------ */

static bool num(const char *s, size_t len, size_t at, size_t n, int *out)
{
	int v = 0;
	if (at + n > len)
		return false;
	for (size_t i = at; i < at + n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/*
 * ISO 8601 as models write it: YYYY-MM-DD, optionally followed by T (or t or
 * a space) HH:MM, optional :SS and fraction, optional Z or an offset
 * (+HH:MM, +HHMM, +HH). No offset means UTC; a bare date is UTC midnight.
 */
static bool parse_iso(const char *s, size_t len, int64_t *out)
{
	int y, mo, d, h = 0, mi = 0, se = 0;
	int64_t frac = 0, offset = 0;
	if (len < 10 || !num(s, len, 0, 4, &y) || s[4] != '-' || !num(s, len, 5, 2, &mo) ||
	    s[7] != '-' || !num(s, len, 8, 2, &d))
		return false;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > pos_extract_mdays(y, mo))
		return false;
	size_t i = 10;
	if (i < len) {
		if (s[i] != 'T' && s[i] != 't' && s[i] != ' ')
			return false;
		if (!num(s, len, i + 1, 2, &h) || i + 3 >= len || s[i + 3] != ':' ||
		    !num(s, len, i + 4, 2, &mi))
			return false;
		i += 6;
		if (i < len && s[i] == ':') {
			if (!num(s, len, i + 1, 2, &se))
				return false;
			i += 3;
			if (i < len && (s[i] == '.' || s[i] == ',')) {
				size_t start = ++i;
				int64_t scale = 100000;
				while (i < len && s[i] >= '0' && s[i] <= '9') {
					frac += (s[i] - '0') * scale;
					scale /= 10;
					i++;
				}
				if (i == start || i - start > 9)
					return false;
			}
		}
		if (h > 24 || mi > 59 || se > 60 || (h == 24 && (mi || se || frac)))
			return false;
		if (se == 60)
			se = 59;
		if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
			i++;
		} else if (i < len && (s[i] == '+' || s[i] == '-')) {
			int sign = s[i] == '-' ? -1 : 1, oh, om = 0;
			if (!num(s, len, i + 1, 2, &oh))
				return false;
			i += 3;
			if (i < len && s[i] == ':') {
				if (!num(s, len, i + 1, 2, &om))
					return false;
				i += 3;
			} else if (i < len) {
				if (!num(s, len, i, 2, &om))
					return false;
				i += 2;
			}
			if (oh > 18 || om > 59)
				return false;
			offset = sign * ((int64_t)oh * 3600 + om * 60);
		}
		if (i != len)
			return false;
	}
	int64_t secs = pos_extract_days(y, mo, d) * 86400 + (int64_t)h * 3600 + mi * 60 + se -
		       offset;
	*out = secs * 1000000 + frac;
	return true;
}

/* ---- validation --------------------------------------------------------------- */

#define CENTURY_US (INT64_C(36525) * 86400 * 1000000)

struct ctx {
	struct pos_arena *a;
	int64_t now_us;
	struct pos_error *err;
	char field[64];
};

/* Refuses the answer: "model answer: <field> <problem>". */
static enum pos_err bad(struct ctx *c, const char *problem)
{
	return pos_error_set(c->err, POS_ERR_BAD_GATEWAY, c->field[0] ? c->field : NULL,
			     "model answer: %s %s", c->field[0] ? c->field : "answer",
			     problem);
}

/* Reads an optional string member; sets *present. Wrong type is an error. */
static enum pos_err get_str(struct ctx *c, const json_t *o, const char *arr, size_t idx,
			    const char *key, const char **out, bool *present)
{
	json_t *v = json_object_get(o, key);
	snprintf(c->field, sizeof(c->field), "%s[%zu].%s", arr, idx, key);
	*present = false;
	*out = NULL;
	if (!v || json_is_null(v))
		return POS_OK;
	if (!json_is_string(v))
		return bad(c, "is not a string");
	*out = json_string_value(v);
	*present = true;
	return POS_OK;
}

static enum pos_err get_time(struct ctx *c, const json_t *o, const char *arr, size_t idx,
			     const char *key, bool required, int64_t *out)
{
	const char *s;
	bool present;
	enum pos_err rc = get_str(c, o, arr, idx, key, &s, &present);
	*out = POS_TIME_NONE;
	if (rc)
		return rc;
	if (!present)
		return required ? bad(c, "is missing") : POS_OK;
	size_t n = strlen(s);
	while (n && s[n - 1] == ' ')
		n--;
	while (n && *s == ' ') {
		s++;
		n--;
	}
	int64_t t;
	if (n == 0) /* "" for "unknown" is as good as leaving it out */
		return required ? bad(c, "is missing") : POS_OK;
	if (!parse_iso(s, n, &t))
		return bad(c, "is not an ISO 8601 date");
	if (t > c->now_us + CENTURY_US || t < c->now_us - CENTURY_US)
		return bad(c, "is more than 100 years away");
	*out = t;
	return POS_OK;
}

static const struct {
	const char *key;
	enum pos_extract_kind kind;
} arrays[] = {
	{"facts", POS_EXTRACT_FACT},
	{"tasks", POS_EXTRACT_TASK},
	{"events", POS_EXTRACT_EVENT},
	{"follow_ups", POS_EXTRACT_FOLLOWUP},
};

static enum pos_err convert_one(struct ctx *c, struct pos_extract_builder *b,
				const char *arr, enum pos_extract_kind kind, size_t idx,
				const json_t *o)
{
	enum pos_err rc;
	const char *text, *with = NULL;
	bool present, too_long, nomem;
	int64_t when = POS_TIME_NONE, end = POS_TIME_NONE;
	snprintf(c->field, sizeof(c->field), "%s[%zu]", arr, idx);
	if (!json_is_object(o))
		return bad(c, "is not an object");
	if ((rc = get_str(c, o, arr, idx, "text", &text, &present)))
		return rc;
	if (!present)
		return bad(c, "is missing");
	const char *clean = pos_extract_clean(c->a, text, strlen(text), POS_EXTRACT_MAX_TEXT,
					      false, &too_long, &nomem);
	if (nomem)
		return POS_ERR_NOMEM;
	if (too_long)
		return bad(c, "is longer than 1000 bytes");
	if (!clean[0])
		return bad(c, "is empty");
	if (kind == POS_EXTRACT_TASK || kind == POS_EXTRACT_FOLLOWUP) {
		if ((rc = get_time(c, o, arr, idx, "due", false, &when)))
			return rc;
	} else if (kind == POS_EXTRACT_EVENT) {
		if ((rc = get_time(c, o, arr, idx, "start", true, &when)) ||
		    (rc = get_time(c, o, arr, idx, "end", false, &end)))
			return rc;
		if (end != POS_TIME_NONE && end < when) {
			snprintf(c->field, sizeof(c->field), "%s[%zu].end", arr, idx);
			return bad(c, "is before the start");
		}
		const char *w;
		if ((rc = get_str(c, o, arr, idx, "with", &w, &present)))
			return rc;
		if (present) {
			with = pos_extract_clean(c->a, w, strlen(w), POS_EXTRACT_MAX_WHO, false,
						 &too_long, &nomem);
			if (nomem)
				return POS_ERR_NOMEM;
			if (too_long)
				return bad(c, "is longer than 200 bytes");
		}
	}
	return pos_extract_add(b, kind, clean, when, end, with, 0);
}

static enum pos_err convert(struct ctx *c, const json_t *root, size_t max,
			    struct pos_extract_result *out)
{
	struct pos_extract_builder b;
	size_t total = 0;
	enum pos_err rc;
	pos_extract_builder_init(&b, c->a, max);
	c->field[0] = '\0';
	if (!json_is_object(root))
		return bad(c, "is not a JSON object");
	for (size_t k = 0; k < sizeof(arrays) / sizeof(arrays[0]); k++) {
		json_t *v = json_object_get(root, arrays[k].key);
		snprintf(c->field, sizeof(c->field), "%s", arrays[k].key);
		if (!v || json_is_null(v))
			continue;
		if (!json_is_array(v))
			return bad(c, "is not an array");
		total += json_array_size(v);
	}
	if (total > b.max) {
		return pos_error_set(c->err, POS_ERR_BAD_GATEWAY, NULL,
				     "model answer has too many items (%zu, at most %zu)",
				     total, b.max);
	}
	for (size_t k = 0; k < sizeof(arrays) / sizeof(arrays[0]); k++) {
		json_t *v = json_object_get(root, arrays[k].key), *o;
		size_t i;
		if (!v || json_is_null(v))
			continue;
		json_array_foreach(v, i, o) {
			if ((rc = convert_one(c, &b, arrays[k].key, arrays[k].kind, i, o)))
				return rc;
		}
	}
	out->items = b.items;
	out->n = b.n;
	return POS_OK;
}

enum pos_err pos_extract_parse_model(struct pos_arena *a, const char *answer,
				     size_t len, int64_t now_us, size_t max,
				     struct pos_extract_result *out,
				     struct pos_error *err)
{
	struct ctx c = {.a = a, .now_us = now_us, .err = err, .field = ""};
	out->items = NULL;
	out->n = 0;
	if (!answer)
		len = 0;
	if (len > POS_EXTRACT_MAX_ANSWER)
		return pos_error_set(err, POS_ERR_BAD_GATEWAY, NULL,
				     "model answer is longer than %u bytes",
				     POS_EXTRACT_MAX_ANSWER);
	/* The first balanced {...} that parses as JSON wins. A few false starts
	 * ("{name}" in prose) are skipped whole, never searched inside, so a
	 * broken or unclosed object is not replaced by one of its members; a
	 * JSON array before any object is refused. */
	json_t *root = NULL;
	bool saw_open = false;
	int tries = 0;
	for (size_t i = 0; i < len && tries < 16; i++) {
		if (answer[i] != '{' && answer[i] != '[')
			continue;
		size_t end = balanced_end(answer, len, i);
		saw_open |= answer[i] == '{';
		if (end > len)
			break;
		if (!end)
			continue;
		struct pos_error je;
		pos_error_clear(&je);
		json_t *v = pos_json_parse(answer + i, end - i, &je);
		if (answer[i] == '[') {
			/* an array of data, not "[1]" or "[see below]" in prose */
			bool array = v && json_array_size(v) &&
				     (json_is_object(json_array_get(v, 0)) ||
				      json_is_array(json_array_get(v, 0)));
			json_decref(v);
			if (array)
				return pos_error_set(err, POS_ERR_BAD_GATEWAY, NULL,
						     "model answer is a JSON array, not an object");
			i = end - 1;
			continue;
		}
		tries++;
		if (v && json_is_object(v)) {
			root = v;
			break;
		}
		json_decref(v);
		i = end - 1;
	}
	if (!root)
		return pos_error_set(err, POS_ERR_BAD_GATEWAY, NULL,
				     saw_open ? "model answer holds no valid JSON object"
					      : "model answer is not JSON: no object found");
	enum pos_err rc = convert(&c, root, max, out);
	json_decref(root);
	if (rc) {
		out->items = NULL;
		out->n = 0;
		if (rc != POS_ERR_NOMEM && rc != POS_ERR_BAD_GATEWAY)
			rc = POS_ERR_BAD_GATEWAY;
		if (rc == POS_ERR_NOMEM)
			pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	}
	return rc;
}
