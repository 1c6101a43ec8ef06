/*
 * merge.c — merging duplicates: the memory service reads and rewrites the
 * kept memory (so tags and metadata go through validation and, for an
 * encrypted user, the crypt layer), the store moves relationships,
 * children and access counts in one transaction, then the merged memories
 * are deleted like any other.
 */
#include "memory/merge.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/clock.h"
#include "base/uuid.h"

/* Adds the tags of `tags_json` missing from `into` (compared ignoring
 * ASCII case), up to POS_TAGS_MAX; returns how many were added. */
static int add_tags(json_t *into, const char *tags_json)
{
	json_t *t = json_loads(tags_json ? tags_json : "[]", 0, NULL);
	int added = 0;
	size_t i, k;
	json_t *v, *w;
	json_array_foreach(t, i, v) {
		if (!json_is_string(v) || json_array_size(into) >= POS_TAGS_MAX)
			continue;
		bool have = false;
		json_array_foreach(into, k, w)
			if (strcasecmp(json_string_value(w), json_string_value(v)) == 0)
				have = true;
		if (!have) {
			json_array_append(into, v);
			added++;
		}
	}
	json_decref(t);
	return added;
}

enum pos_err pos_merge_memories(const struct pos_memsvc *svc, struct pos_arena *a,
				const char *user_id, const char *id, const json_t *body,
				struct pos_memory *out, struct pos_error *err)
{
	struct pos_store *s = svc->store;
	char kept_id[POS_UUID_SIZE];
	if (!pos_uuid_valid(id, strlen(id), kept_id))
		return pos_error_set(err, POS_ERR_NOT_FOUND, NULL, "memory not found");
	/* another user's memory is 404 whatever the body says */
	struct pos_memory kept;
	enum pos_err rc = s->memories->memory_get(s, a, user_id, kept_id, false, 0, &kept);
	if (rc)
		return pos_error_set(err, rc, NULL, rc == POS_ERR_NOT_FOUND ? "memory not found" : NULL);
	if (!json_is_object(body))
		return pos_error_set(err, POS_ERR_INVALID_REQUEST, NULL,
				     "the body must be a JSON object");
	const json_t *with = json_object_get(body, "with");
	size_t n = json_array_size(with);
	if (!json_is_array(with) || n == 0 || n > POS_MERGE_MAX)
		return pos_error_set(err, with ? POS_ERR_INVALID_FIELD : POS_ERR_MISSING_FIELD,
				     "with", "with must be an array of 1 to %d memory ids",
				     POS_MERGE_MAX);
	char (*ids)[POS_UUID_SIZE] = pos_arena_alloc(a, n * POS_UUID_SIZE);
	if (!ids)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	for (size_t i = 0; i < n; i++) {
		const json_t *v = json_array_get(with, i);
		const char *str = json_string_value(v);
		if (!str || !pos_uuid_valid(str, strlen(str), ids[i]))
			return pos_error_set(err, POS_ERR_INVALID_FIELD, "with",
					     "with must hold memory ids (UUIDs)");
		if (strcmp(ids[i], kept_id) == 0)
			return pos_error_set(err, POS_ERR_INVALID_FIELD, "with",
					     "a memory cannot be merged into itself");
		for (size_t k = 0; k < i; k++)
			if (strcmp(ids[k], ids[i]) == 0)
				return pos_error_set(err, POS_ERR_INVALID_FIELD, "with",
						     "with names a memory twice");
	}
	json_t *tags = json_loads(kept.tags_json, 0, NULL);
	json_t *meta = json_loads(kept.metadata_json, 0, NULL);
	json_t *merged = json_array();
	json_t *detail = json_pack("{s:[]}", "merged");
	json_t *patch = json_object();
	if (!json_is_array(tags) || !json_is_object(meta) || !merged || !detail || !patch) {
		rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
		goto out;
	}
	int tags_added = 0;
	double importance = kept.importance;
	bool importance_up = false;
	for (size_t i = 0; i < n; i++) {
		struct pos_memory m;
		if ((rc = s->memories->memory_get(s, a, user_id, ids[i], false, 0, &m))) {
			pos_error_set(err, rc, NULL,
				      rc == POS_ERR_NOT_FOUND ? "a memory to merge was not found" : NULL);
			goto out;
		}
		tags_added += add_tags(tags, m.tags_json);
		json_t *mm = json_loads(m.metadata_json, 0, NULL);
		if (json_is_object(mm))
			json_object_update_missing(meta, mm);
		json_decref(mm);
		if (m.importance_set && m.importance > importance) {
			importance = m.importance;
			importance_up = true;
		}
		json_array_append_new(merged, json_string(ids[i]));
		char created[40];
		pos_time_format(m.created_at, created, sizeof(created));
		json_array_append_new(json_object_get(detail, "merged"),
				      json_pack("{s:s,s:s,s:s,s:s,s:I}", "id", ids[i], "type",
						pos_mem_type_name(m.type), "source", m.source,
						"created_at", created, "access_count",
						(json_int_t)m.access_count));
	}
	/* merged_from: what was merged into this memory, over every merge */
	json_t *from = json_object_get(meta, "merged_from");
	if (!json_is_array(from)) {
		from = json_array();
		json_object_set_new(meta, "merged_from", from);
	}
	json_array_extend(from, merged);
	json_object_set(patch, "tags", tags);
	json_object_set(patch, "metadata", meta);
	if (importance_up)
		json_object_set_new(patch, "importance_score", json_real(importance));
	json_object_set_new(detail, "tags_added", json_integer(tags_added));
	/* validate and write the kept memory first: a merge that would break
	 * a limit changes nothing */
	if ((rc = pos_memory_update(svc, a, user_id, kept_id, patch, out, err)))
		goto out;
	char *ids_txt = json_dumps(merged, JSON_COMPACT);
	char *detail_txt = json_dumps(detail, JSON_COMPACT);
	if (!ids_txt || !detail_txt)
		rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	else if ((rc = s->memories->memory_merge_move(s, user_id, kept_id, ids_txt, detail_txt,
						 pos_now_us())))
		pos_error_set(err, rc, NULL, NULL);
	free(ids_txt);
	free(detail_txt);
	for (size_t i = 0; !rc && i < n; i++) {
		rc = pos_memory_delete(svc, user_id, ids[i], err);
		if (rc == POS_ERR_NOT_FOUND) /* deleted meanwhile: nothing left to merge */
			rc = POS_OK;
	}
	if (!rc && (rc = s->memories->memory_get(s, a, user_id, kept_id, false, 0, out)))
		pos_error_set(err, rc, NULL, NULL);
out:
	json_decref(tags);
	json_decref(meta);
	json_decref(merged);
	json_decref(detail);
	json_decref(patch);
	return rc;
}
