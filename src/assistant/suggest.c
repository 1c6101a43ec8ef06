/*
 * suggest.c — proactive suggestions: events in the next 7 days, pending
 * tasks, and follow-ups the user mentioned and has not closed.
 *
 *  - event:     an `event` memory whose metadata.start_time falls within
 *               [now, now + 7 days];
 *  - task:      an `action` memory whose metadata.completed is not true;
 *  - follow_up: an `action` memory with metadata.follow_up, or a recent
 *               note/conversation memory saying "follow up", "remind me",
 *               "get back to" or "don't forget" that is not closed
 *               (metadata.completed or metadata.closed true) and has not
 *               already been memorized into an action of its own.
 * Phrased by the model when one is configured and the tier allows it (one
 * JSON call, validated; any failure falls back), templated otherwise.
 * Empty when the persona turns suggestions off.
 */
#include <ctype.h>
#include <jansson.h>
#include <string.h>

#include "assistant/assistant.h"
#include "base/clock.h"
#include "base/json.h"

#define SCAN_MAX 200
#define SUGGESTIONS_MAX 10
#define WEEK_US (7LL * 86400 * 1000000)
#define SNIPPET 120

enum kind { K_EVENT, K_TASK, K_FOLLOW };
static const char *const kind_name[] = {"event", "task", "follow_up"};

struct sug {
	enum kind kind;
	const struct pos_memory *m;
	int64_t when;
	const char *text;
};

static enum pos_err list(struct pos_assistant *as, struct pos_arena *a, const char *user_id,
			 int type, int64_t after, int64_t before,
			 struct pos_memory **out, size_t *n)
{
	struct pos_memory_query q = {.user_id = user_id, .type = type, .layer = -1,
				     .after = after, .before = before,
				     .sort = POS_SORT_NEWEST, .limit = SCAN_MAX};
	int64_t total;
	return as->store->memories->memory_list(as->store, a, &q, out, n, &total);
}

static json_t *meta(const struct pos_memory *m)
{
	json_t *v = json_loads(m->metadata_json ? m->metadata_json : "{}", 0, NULL);
	if (!json_is_object(v)) {
		json_decref(v);
		return NULL;
	}
	return v;
}

static bool closed(json_t *md)
{
	return json_is_true(json_object_get(md, "completed")) ||
	       json_is_true(json_object_get(md, "closed"));
}

static bool mentions_follow_up(const char *s, size_t n)
{
	static const char *const phrases[] = {"follow up", "follow-up", "remind me",
					      "get back to", "don't forget", "do not forget",
					      "dont forget"};
	for (size_t p = 0; p < sizeof(phrases) / sizeof(phrases[0]); p++) {
		size_t k = strlen(phrases[p]);
		for (size_t i = 0; i + k <= n; i++)
			if (!strncasecmp(s + i, phrases[p], k))
				return true;
	}
	return false;
}

/* The first line of a memory, cut to SNIPPET bytes on a UTF-8 boundary. */
static const char *snippet(struct pos_arena *a, const struct pos_memory *m)
{
	const char *s = m->content;
	return pos_arena_strndup(a, s, pos_utf8_cut(s, strcspn(s, "\r\n"), SNIPPET));
}

static const char *templated(struct pos_arena *a, const struct sug *s)
{
	char when[40] = "";
	if (s->when != POS_TIME_NONE) {
		pos_time_format(s->when, when, sizeof(when));
		when[16] = '\0';
		when[10] = ' ';
	}
	const char *snip = snippet(a, s->m);
	size_t cap = strlen(snip ? snip : "") + 96;
	char *out = pos_arena_alloc(a, cap);
	if (!out || !snip)
		return NULL;
	switch (s->kind) {
	case K_EVENT:
		snprintf(out, cap, "Coming up %s UTC: %s", when, snip);
		break;
	case K_TASK:
		if (*when)
			snprintf(out, cap, "Pending task (due %s UTC): %s", when, snip);
		else
			snprintf(out, cap, "Pending task: %s", snip);
		break;
	case K_FOLLOW:
		snprintf(out, cap, "Follow up: %s", snip);
		break;
	}
	return out;
}

static int cmp_when(const void *x, const void *y)
{
	const struct sug *a = x, *b = y;
	if (a->kind != b->kind)
		return (int)a->kind - (int)b->kind;
	if (a->when != b->when) {
		if (a->when == POS_TIME_NONE)
			return 1;
		if (b->when == POS_TIME_NONE)
			return -1;
		return a->when < b->when ? -1 : 1;
	}
	return 0;
}

static int64_t meta_time(json_t *md, const char *key)
{
	const char *s = json_string_value(json_object_get(md, key));
	int64_t t;
	return s && pos_time_parse(s, strlen(s), true, &t) ? t : POS_TIME_NONE;
}

/* One model call to phrase the templated lines; false keeps the templates. */
static bool phrase_with_model(struct pos_assistant *as, struct pos_arena *a,
			      struct sug *s, size_t n)
{
	json_t *lines = json_array();
	for (size_t i = 0; lines && i < n; i++)
		json_array_append_new(lines, json_string(s[i].text));
	char *list_text = lines ? json_dumps(lines, JSON_COMPACT) : NULL;
	json_decref(lines);
	if (!list_text)
		return false;
	char *user = pos_arena_strdup(a, list_text);
	free(list_text);
	struct pos_llm_msg msgs[2] = {
		{"system", "Rewrite each item of the JSON array the user sends as one short, "
			   "friendly suggestion for them, keeping dates and names. Answer only "
			   "a JSON object {\"suggestions\": [strings]} with the same number of "
			   "items in the same order."},
		{"user", user}};
	struct pos_llm_request req = {.msgs = msgs, .n_msgs = 2, .question = user,
				      .temperature = 0.3, .json = true, .cancel = &as->stopping};
	const char *answer;
	size_t len;
	struct pos_error e;
	pos_error_clear(&e);
	if (!user || pos_llm_complete(as->llm, a, &req, NULL, NULL, &answer, &len, &e))
		return false;
	json_t *v = json_loadb(answer, len, 0, NULL);
	json_t *arr = json_object_get(v, "suggestions");
	bool ok = json_is_array(arr) && json_array_size(arr) == n;
	for (size_t i = 0; ok && i < n; i++) {
		json_t *t = json_array_get(arr, i);
		ok = json_is_string(t) && json_string_length(t) > 0 && json_string_length(t) <= 500;
	}
	for (size_t i = 0; ok && i < n; i++)
		s[i].text = pos_arena_strdup(a, json_string_value(json_array_get(arr, i)));
	json_decref(v);
	return ok;
}

enum pos_err pos_suggestions_json(struct pos_assistant *as, struct pos_arena *a,
				  const char *user_id, int64_t now, struct pos_jw *w,
				  struct pos_error *err)
{
	struct pos_user u;
	enum pos_err rc = as->store->accounts->user_by_id(as->store, a, user_id, &u);
	if (rc)
		return pos_error_set(err, rc, NULL, NULL);
	bool enabled = pos_persona_wants_suggestions(u.persona_json);
	struct sug *s = pos_arena_zalloc(a, 3 * SCAN_MAX * sizeof(*s));
	if (!s)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	size_t n = 0;
	struct pos_memory *acts = NULL, *evs = NULL, *evs2 = NULL, *notes = NULL;
	size_t n_acts = 0, n_evs = 0, n_evs2 = 0, n_notes = 0;
	if (enabled &&
	    ((rc = list(as, a, user_id, POS_TYPE_ACTION, POS_TIME_NONE, POS_TIME_NONE, &acts, &n_acts)) ||
	     /* synced events are dated by their start; memorized ones by creation */
	     (rc = list(as, a, user_id, POS_TYPE_EVENT, now - 86400000000LL, now + WEEK_US, &evs, &n_evs)) ||
	     (rc = list(as, a, user_id, POS_TYPE_EVENT, POS_TIME_NONE, POS_TIME_NONE, &evs2, &n_evs2)) ||
	     (rc = list(as, a, user_id, -1, POS_TIME_NONE, POS_TIME_NONE, &notes, &n_notes))))
		return pos_error_set(err, rc, NULL, NULL);
	for (size_t i = 0; i < n_acts; i++) {
		json_t *md = meta(&acts[i]);
		if (!closed(md))
			s[n++] = (struct sug){
				json_is_true(json_object_get(md, "follow_up")) ? K_FOLLOW : K_TASK,
				&acts[i], meta_time(md, "due"), NULL};
		json_decref(md);
	}
	for (int pass = 0; pass < 2; pass++) {
		struct pos_memory *e = pass ? evs2 : evs;
		size_t ne = pass ? n_evs2 : n_evs;
		for (size_t i = 0; i < ne; i++) {
			bool seen = false;
			for (size_t k = 0; k < n && !seen; k++)
				seen = !strcmp(s[k].m->id, e[i].id);
			json_t *md = meta(&e[i]);
			int64_t start = meta_time(md, "start_time");
			json_decref(md);
			if (!seen && start != POS_TIME_NONE && start >= now && start <= now + WEEK_US)
				s[n++] = (struct sug){K_EVENT, &e[i], start, NULL};
		}
	}
	for (size_t i = 0; i < n_notes; i++) {
		const struct pos_memory *m = &notes[i];
		if (m->type == POS_TYPE_ACTION || m->type == POS_TYPE_EVENT ||
		    !mentions_follow_up(m->content, m->content_len))
			continue;
		bool handled = false;
		for (size_t k = 0; k < n_acts && !handled; k++)
			handled = !strcmp(acts[k].parent_id, m->id);
		json_t *md = meta(m);
		if (!handled && !closed(md))
			s[n++] = (struct sug){K_FOLLOW, m, POS_TIME_NONE, NULL};
		json_decref(md);
	}
	qsort(s, n, sizeof(*s), cmp_when);
	if (n > SUGGESTIONS_MAX)
		n = SUGGESTIONS_MAX;
	for (size_t i = 0; i < n; i++)
		if (!(s[i].text = templated(a, &s[i])))
			return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	bool phrased = false;
	if (n && !pos_llm_builtin(as->llm) &&
	    (as->llm_local || strcmp(u.privacy_tier ? u.privacy_tier : "local", "local")))
		phrased = phrase_with_model(as, a, s, n);
	pos_jw_obj(w);
	pos_jw_key(w, "suggestions");
	pos_jw_arr(w);
	for (size_t i = 0; i < n; i++) {
		pos_jw_obj(w);
		pos_jw_kstr(w, "text", s[i].text);
		pos_jw_kstr(w, "kind", kind_name[s[i].kind]);
		pos_jw_key(w, "memory_ids");
		pos_jw_arr(w);
		pos_jw_str(w, s[i].m->id);
		pos_jw_arr_end(w);
		if (s[i].when != POS_TIME_NONE)
			pos_jw_ktime(w, "when", s[i].when);
		pos_jw_obj_end(w);
	}
	pos_jw_arr_end(w);
	pos_jw_kbool(w, "enabled", enabled);
	pos_jw_kstr(w, "phrased_by", phrased ? pos_llm_name(as->llm) : "template");
	pos_jw_obj_end(w);
	return POS_OK;
}
