/*
 * filters.c — list filters, sort and paging from request parameters
 * (filters.h).
 */
#include "search/filters.h"

#include <stdlib.h>
#include <string.h>

#include "base/clock.h"

static const struct {
	const char *name;
	enum pos_sort sort;
} sorts[] = {
	{"newest", POS_SORT_NEWEST},      {"-created_at", POS_SORT_NEWEST},
	{"oldest", POS_SORT_OLDEST},      {"created_at", POS_SORT_OLDEST},
	{"updated", POS_SORT_UPDATED},    {"-updated_at", POS_SORT_UPDATED},
	{"importance", POS_SORT_IMPORTANCE}, {"-importance_score", POS_SORT_IMPORTANCE},
	{"accessed", POS_SORT_ACCESSED},  {"-last_accessed_at", POS_SORT_ACCESSED},
	{"access_count", POS_SORT_ACCESS_COUNT}, {"-access_count", POS_SORT_ACCESS_COUNT},
	{"captured", POS_SORT_CAPTURED},
};

static enum pos_err parse_uint(const char *v, const char *name, long long min,
			       long long *out, struct pos_error *err)
{
	char *end;
	long long n = strtoll(v, &end, 10);
	if (!*v || *end || n < min)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, name,
				     "%s must be an integer >= %lld", name, min);
	*out = n;
	return POS_OK;
}

enum pos_err pos_filters_include(const char *v, bool *hide_chat,
				      struct pos_error *err)
{
	*hide_chat = true;
	if (!v || !*v)
		return POS_OK;
	if (strcmp(v, "conversations") != 0)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "include",
				     "include must be conversations");
	*hide_chat = false;
	return POS_OK;
}

enum pos_err pos_filters_parse(struct pos_arena *a, pos_param_fn param, void *ctx,
			       const char *user_id, struct pos_memory_query *q,
			       struct pos_error *err)
{
	memset(q, 0, sizeof(*q));
	q->user_id = user_id;
	q->type = q->layer = -1;
	q->after = q->before = POS_TIME_NONE;
	q->sort = POS_SORT_NEWEST;
	q->limit = POS_LIST_LIMIT_DEFAULT;
	const char *v;
	enum pos_err rc;
	if ((v = param(ctx, "type")) && *v && (q->type = pos_mem_type_parse(v)) < 0)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "type", "unknown type");
	if ((v = param(ctx, "layer")) && *v && (q->layer = pos_mem_layer_parse(v)) < 0)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "layer", "unknown layer");
	if ((v = param(ctx, "source")) && *v)
		q->source = v;
	if ((v = param(ctx, "tag")) && *v) {
		q->tags = pos_arena_alloc(a, sizeof(*q->tags));
		if (!q->tags)
			return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
		((const char **)q->tags)[0] = v;
		q->n_tags = 1;
	}
	if ((v = param(ctx, "after")) && *v &&
	    !pos_time_parse(v, strlen(v), true, &q->after))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "after",
				     "after must be an RFC 3339 time or YYYY-MM-DD");
	if ((v = param(ctx, "before")) && *v &&
	    !pos_time_parse(v, strlen(v), true, &q->before))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "before",
				     "before must be an RFC 3339 time or YYYY-MM-DD");
	if ((v = param(ctx, "sort")) && *v) {
		size_t i;
		for (i = 0; i < sizeof(sorts) / sizeof(sorts[0]); i++)
			if (!strcmp(v, sorts[i].name))
				break;
		if (i == sizeof(sorts) / sizeof(sorts[0]))
			return pos_error_set(err, POS_ERR_INVALID_FIELD, "sort",
					     "sort must be newest, oldest, updated, importance, accessed, access_count or captured");
		q->sort = sorts[i].sort;
	}
	/* The assistant's saved exchanges stay out of lists, search and stats
	 * unless asked for (docs/ASSISTANT.md, "Conversations"). */
	if ((rc = pos_filters_include(param(ctx, "include"), &q->hide_chat, err)))
		return rc;
	if (q->type == POS_TYPE_CONVERSATION)
		q->hide_chat = false;
	long long n = 0;
	if ((v = param(ctx, "limit"))) {
		if ((rc = parse_uint(v, "limit", 1, &n, err)))
			return rc;
		q->limit = n > POS_LIST_LIMIT_MAX ? POS_LIST_LIMIT_MAX : (unsigned)n;
	}
	if ((v = param(ctx, "offset"))) {
		if ((rc = parse_uint(v, "offset", 0, &n, err)))
			return rc;
		if (n > 100000000)
			n = 100000000;
		q->offset = (unsigned)n;
	}
	return POS_OK;
}
