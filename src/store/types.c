/*
 * types.c — names of memory types and layers, as the API spells them.
 */
#include "store/store.h"

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
