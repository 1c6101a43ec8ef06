/*
 * memorize.c — the memorize job: facts, tasks, events and follow-ups
 * extracted from one memory become memories of their own, linked to it.
 *
 * Extraction: the configured model with a JSON prompt (validated whole by
 * pos_extract_parse_model; an invalid answer fails the job, which retries),
 * or the rule-based extractor when no model is configured or the user's
 * privacy tier keeps content on the machine.
 *
 * Deduplication before anything is written: an item whose text equals an
 * existing memory's (case and spacing ignored), or whose vector is within
 * POS_MEMORIZE_NEAR of one, is not stored again; the existing memory gets a
 * relationship to the source instead. New items are written in one bulk
 * insert (all or nothing), each with parent_memory_id = the source and a
 * `related` relationship to it.
 */
#include <ctype.h>
#include <jansson.h>
#include <string.h>

#include "assistant/assistant.h"
#include "assistant/extract.h"
#include "base/clock.h"
#include "base/log.h"

#define POS_MEMORIZE_MAX_ITEMS 32
#define POS_MEMORIZE_NEAR 0.92   /* cosine at or above which two texts are one */

/* Equal ignoring ASCII case and runs of white space. */
static bool same_text(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t i = 0, j = 0;
	for (;;) {
		while (i < alen && isspace((unsigned char)a[i]))
			i++;
		while (j < blen && isspace((unsigned char)b[j]))
			j++;
		if (i == alen || j == blen)
			return i == alen && j == blen;
		bool sa = i > 0 && isspace((unsigned char)a[i - 1]);
		bool sb = j > 0 && isspace((unsigned char)b[j - 1]);
		if ((sa != sb && i > 0 && j > 0) ||
		    tolower((unsigned char)a[i]) != tolower((unsigned char)b[j]))
			return false;
		i++;
		j++;
	}
}

/* An existing memory that already says `text`, or NULL. */
static const struct pos_memory *find_duplicate(struct pos_assistant *as, struct pos_arena *a,
					       const char *user_id, const char *source_id,
					       const char *text)
{
	if (!as->mem->search)
		return NULL;
	for (int pass = 0; pass < 2; pass++) {
		struct pos_search_request req = {
			.user_id = user_id, .query = text, .query_len = strlen(text),
			.mode = pass == 0 ? POS_SEARCH_KEYWORD : POS_SEARCH_SEMANTIC,
			.filters = {.user_id = user_id, .type = -1, .layer = -1,
				    .after = POS_TIME_NONE, .before = POS_TIME_NONE},
			.limit = 5};
		struct pos_search_result res;
		struct pos_error e;
		pos_error_clear(&e);
		if (pos_search_run(as->mem->search, a, &req, &res, &e) != POS_OK)
			continue;
		for (size_t i = 0; i < res.n; i++) {
			const struct pos_memory *m = &res.hits[i].memory;
			if (!strcmp(m->id, source_id) || m->type == POS_TYPE_CONVERSATION)
				continue;
			if (pass == 0 ? same_text(m->content, m->content_len, text, strlen(text))
				      : res.hits[i].rank.vec_score >= POS_MEMORIZE_NEAR)
				return m;
		}
	}
	return NULL;
}

/* Adds a `related` link from an existing memory to the source. */
static enum pos_err link_existing(struct pos_assistant *as, struct pos_arena *a,
				  const char *user_id, const struct pos_memory *m,
				  const char *source_id)
{
	struct pos_memory cur;
	enum pos_err rc = as->store->memories->memory_get(as->store, a, user_id, m->id, false, 0, &cur);
	if (rc)
		return rc;
	json_t *rel = json_loads(cur.related_json ? cur.related_json : "[]", 0, NULL);
	if (!json_is_array(rel)) {
		json_decref(rel);
		rel = json_array();
	}
	size_t i;
	json_t *v;
	json_array_foreach(rel, i, v) {
		if (json_is_string(v) && !strcmp(json_string_value(v), source_id)) {
			json_decref(rel);
			return POS_OK; /* already linked */
		}
	}
	if (json_array_size(rel) >= POS_RELATED_MAX) {
		json_decref(rel);
		return POS_OK; /* full: the duplicate stays unlinked rather than fail */
	}
	json_array_append_new(rel, json_string(source_id));
	json_t *patch = json_pack("{s:o}", "related_memory_ids", rel);
	struct pos_error e;
	pos_error_clear(&e);
	struct pos_memory out;
	rc = patch ? pos_memory_update(as->mem, a, user_id, m->id, patch, &out, &e) : POS_ERR_NOMEM;
	json_decref(patch);
	return rc;
}

static const char *const type_of[] = {
	[POS_EXTRACT_FACT] = "note",
	[POS_EXTRACT_TASK] = "action",
	[POS_EXTRACT_EVENT] = "event",
	[POS_EXTRACT_FOLLOWUP] = "action",
};

static json_t *time_json(int64_t t)
{
	char buf[40];
	if (t == POS_TIME_NONE)
		return json_null();
	pos_time_format(t, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *item_memory(const struct pos_extract_item *it, const char *source_id)
{
	json_t *meta = json_pack("{s:s, s:s}", "extracted_from", source_id,
				 "kind", pos_extract_kind_name(it->kind));
	if (!meta)
		return NULL;
	switch (it->kind) {
	case POS_EXTRACT_TASK:
	case POS_EXTRACT_FOLLOWUP:
		json_object_set_new(meta, "completed", json_false());
		if (it->kind == POS_EXTRACT_FOLLOWUP)
			json_object_set_new(meta, "follow_up", json_true());
		if (it->when_us != POS_TIME_NONE)
			json_object_set_new(meta, "due", time_json(it->when_us));
		break;
	case POS_EXTRACT_EVENT:
		json_object_set_new(meta, "start_time", time_json(it->when_us));
		if (it->end_us != POS_TIME_NONE)
			json_object_set_new(meta, "end_time", time_json(it->end_us));
		break;
	case POS_EXTRACT_FACT:
		break;
	}
	if (it->who)
		json_object_set_new(meta, "with", json_string(it->who));
	return json_pack("{s:s, s:s, s:s, s:s, s:[s], s:[s,s], s:o}",
			 "content", it->text, "type", type_of[it->kind], "source", "memorize",
			 "parent_memory_id", source_id, "related_memory_ids", source_id,
			 "tags", "memorized", pos_extract_kind_name(it->kind), "metadata", meta);
}

/* The user's UTC offset in minutes from settings.tz_offset_minutes (what
 * the web app stores), so "tomorrow at 9" means their 9; 0 when unset. */
static int user_tz_offset(const char *settings_json)
{
	json_t *s = json_loads(settings_json ? settings_json : "{}", 0, NULL);
	json_t *v = json_object_get(s, "tz_offset_minutes");
	int off = json_is_integer(v) && json_integer_value(v) >= -18 * 60 &&
			  json_integer_value(v) <= 18 * 60
		  ? (int)json_integer_value(v) : 0;
	json_decref(s);
	return off;
}

/* The model's extraction: JSON prompt, validated whole. */
static enum pos_err model_extract(struct pos_assistant *as, struct pos_arena *a,
				  const struct pos_memory *m, int64_t now,
				  struct pos_extract_result *res, struct pos_error *err)
{
	char day[40];
	pos_time_format(now, day, sizeof(day));
	struct pos_buf user;
	pos_buf_init(&user, POS_CONTENT_MAX + 256);
	enum pos_err rc = pos_buf_addf(&user, "Current date and time: %s (UTC).\n\nText:\n", day);
	if (!rc)
		rc = pos_buf_add(&user, m->content, m->content_len);
	const char *text = rc ? NULL : pos_arena_strndup(a, user.data, user.len);
	pos_buf_free(&user);
	if (!text)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	struct pos_llm_msg msgs[2] = {{"system", pos_extract_model_prompt()}, {"user", text}};
	struct pos_llm_request req = {.msgs = msgs, .n_msgs = 2, .question = text,
				      .temperature = 0, .json = true,
				      .cancel = &as->stopping};
	const char *answer;
	size_t len;
	if ((rc = pos_llm_complete(as->llm, a, &req, NULL, NULL, &answer, &len, err)))
		return rc;
	return pos_extract_parse_model(a, answer, len, now, POS_MEMORIZE_MAX_ITEMS, res, err);
}

enum pos_err pos_memorize_run(struct pos_assistant *as, struct pos_arena *a,
			      const char *user_id, const char *memory_id,
			      const char **result_json, struct pos_error *err)
{
	struct pos_memory src;
	struct pos_user u;
	if (as->store->memories->memory_get(as->store, a, user_id, memory_id, false, 0, &src))
		return pos_error_set(err, POS_ERR_NOT_FOUND, NULL, "the memory is gone");
	if (as->store->accounts->user_by_id(as->store, a, user_id, &u))
		return pos_error_set(err, POS_ERR_NOT_FOUND, NULL, "no such user");
	int64_t now = pos_now_us();
	struct pos_extract_result res = {0};
	bool use_model = !pos_llm_builtin(as->llm) &&
			 (as->llm_local || strcmp(u.privacy_tier ? u.privacy_tier : "local", "local"));
	enum pos_err rc;
	if (use_model)
		rc = model_extract(as, a, &src, now, &res, err);
	else if ((rc = pos_extract_rules(a, src.content, src.content_len, now,
					 user_tz_offset(u.settings_json),
					 POS_MEMORIZE_MAX_ITEMS, &res)))
		pos_error_set(err, rc, NULL, NULL);
	if (rc)
		return rc;
	json_t *created = json_array(), *linked = json_array(), *items = json_array();
	json_t *bulk = json_pack("{s:o}", "memories", items);
	if (!created || !linked || !bulk) {
		json_decref(created);
		json_decref(linked);
		json_decref(bulk);
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	}
	/* Decide first, write after: duplicates get links, the rest one bulk. */
	const struct pos_memory **dups = pos_arena_zalloc(a, (res.n + 1) * sizeof(*dups));
	size_t n_dups = 0;
	for (size_t i = 0; dups && i < res.n; i++) {
		const struct pos_memory *d = find_duplicate(as, a, user_id, src.id, res.items[i].text);
		if (d) {
			dups[n_dups++] = d;
			continue;
		}
		json_t *mj = item_memory(&res.items[i], src.id);
		if (!mj || json_array_append_new(items, mj)) {
			rc = POS_ERR_NOMEM;
			break;
		}
	}
	if (!dups)
		rc = POS_ERR_NOMEM;
	struct pos_memory *made = NULL;
	size_t n_made = 0;
	if (!rc && json_array_size(items))
		rc = pos_memory_bulk(as->mem, a, user_id, bulk, &made, &n_made, err);
	for (size_t i = 0; !rc && i < n_made; i++)
		json_array_append_new(created, json_string(made[i].id));
	for (size_t i = 0; !rc && i < n_dups; i++) {
		if ((rc = link_existing(as, a, user_id, dups[i], src.id)))
			pos_error_set(err, rc, NULL, "cannot link a duplicate");
		else
			json_array_append_new(linked, json_string(dups[i]->id));
	}
	json_decref(bulk);
	if (rc) {
		json_decref(created);
		json_decref(linked);
		return err->code ? rc : pos_error_set(err, rc, NULL, NULL);
	}
	json_t *r = json_pack("{s:o, s:o, s:s, s:i}", "created", created, "linked", linked,
			      "extractor", use_model ? "model" : "rules", "found", (int)res.n);
	char *s = r ? json_dumps(r, JSON_COMPACT) : NULL;
	json_decref(r);
	*result_json = s ? pos_arena_strdup(a, s) : NULL;
	free(s);
	return *result_json ? POS_OK : pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
}
