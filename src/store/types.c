/*
 * types.c — names of memory types and layers, as the API spells them;
 * merging tags for the backends' memory_tag_add.
 */
#include "store/store.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const type_names[POS_TYPE__COUNT] = {
	"conversation", "action", "note", "file", "event", "email",
};

static const char *const layer_names[POS_LAYER__COUNT] = {
	"active", "working", "reference", "archive",
};

const char *pos_mem_type_name(enum pos_mem_type t)
{
	return (unsigned)t < POS_TYPE__COUNT ? type_names[t] : "note";
}

const char *pos_mem_layer_name(enum pos_mem_layer l)
{
	return (unsigned)l < POS_LAYER__COUNT ? layer_names[l] : "active";
}

int pos_mem_type_parse(const char *s)
{
	for (int i = 0; s && i < POS_TYPE__COUNT; i++)
		if (strcmp(s, type_names[i]) == 0)
			return i;
	return -1;
}

int pos_mem_layer_parse(const char *s)
{
	for (int i = 0; s && i < POS_LAYER__COUNT; i++)
		if (strcmp(s, layer_names[i]) == 0)
			return i;
	return -1;
}

static const struct {
	const char *name, *members;
} source_aliases[] = {
	{"calendar", "[\"calendar\",\"ics_file\",\"ics_url\",\"caldav\"]"},
	{"email", "[\"email\",\"imap\",\"mbox\",\"maildir\"]"},
	{"mail", "[\"mail\",\"imap\",\"mbox\",\"maildir\"]"},
	{"notes", "[\"notes\",\"markdown_dir\"]"},
};

const char *const pos_source_aliases[] = {"calendar", "email", "mail", "notes", NULL};

const char *pos_source_alias_json(const char *name)
{
	for (size_t i = 0; name && i < sizeof(source_aliases) / sizeof(source_aliases[0]); i++)
		if (strcasecmp(name, source_aliases[i].name) == 0)
			return source_aliases[i].members;
	return NULL;
}

enum pos_err pos_mem_tags_merge(struct pos_arena *a, const char *tags_json,
				const char *const *add, size_t n, size_t max,
				struct pos_memory *out, size_t *added)
{
	*added = 0;
	json_t *cur = json_loads(tags_json ? tags_json : "[]", JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_array(cur)) {
		json_decref(cur);
		return POS_ERR_CORRUPT;
	}
	size_t have = json_array_size(cur);
	const char **tags = pos_arena_alloc(a, (have + n + 1) * sizeof(*tags));
	enum pos_err rc = tags ? POS_OK : POS_ERR_NOMEM;
	size_t k = 0;
	for (size_t i = 0; !rc && i < have; i++) {
		const char *t = json_string_value(json_array_get(cur, i));
		if (t && !(tags[k++] = pos_arena_strdup(a, t)))
			rc = POS_ERR_NOMEM;
	}
	for (size_t i = 0; !rc && i < n; i++) {
		bool dup = false;
		for (size_t j = 0; j < k && !dup; j++)
			dup = strcmp(tags[j], add[i]) == 0;
		if (dup)
			continue;
		if (k >= max) {
			rc = POS_ERR_INVALID_FIELD;
			break;
		}
		if (json_array_append_new(cur, json_string(add[i]))) {
			rc = POS_ERR_INVALID_FIELD; /* not UTF-8 */
			break;
		}
		tags[k++] = add[i];
		++*added;
	}
	char *text = rc ? NULL : json_dumps(cur, JSON_COMPACT);
	if (!rc && !text)
		rc = POS_ERR_NOMEM;
	if (!rc && !(out->tags_json = pos_arena_strdup(a, text)))
		rc = POS_ERR_NOMEM;
	free(text);
	json_decref(cur);
	if (rc)
		return rc;
	out->tags = tags;
	out->n_tags = k;
	return POS_OK;
}
