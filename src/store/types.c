/*
 * types.c — names of memory types and layers, as the API spells them.
 */
#include "store/store.h"

#include <string.h>

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
