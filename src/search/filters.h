/*
 * filters.h — the list filters of the API (type, layer, source, tag,
 * after, before, include), sort, limit and offset, read from request
 * parameters into a `struct pos_memory_query`: the parameter side of the
 * query language (search/query.h reads the same filters written in the
 * search text). Used by memory lists, search and MCP tools.
 *
 * Pure functions: thread-safe; strings stay the caller's or go in the arena.
 */
#ifndef POS_SEARCH_FILTERS_H
#define POS_SEARCH_FILTERS_H

#include <stdbool.h>

#include "base/arena.h"
#include "base/err.h"
#include "store/store.h"

#define POS_LIST_LIMIT_DEFAULT 20
#define POS_LIST_LIMIT_MAX 200

/* Reads one query parameter by name; NULL when absent. */
typedef const char *(*pos_param_fn)(void *ctx, const char *name);

/*
 * The `include` parameter: absent or "" hides the assistant's saved
 * exchanges (*hide_chat = true); "conversations" shows them; anything
 * else is POS_ERR_INVALID_FIELD, field "include".
 */
enum pos_err pos_filters_include(const char *v, bool *hide_chat, struct pos_error *err);

/* Parses list filters, sort, limit and offset (limit over 200 clamps).
 * Chat exchanges are hidden (q->hide_chat) unless include=conversations
 * or type=conversation. `source` may be an alias (pos_source_alias_json).
 * Errors: POS_ERR_INVALID_FIELD naming the parameter, POS_ERR_NOMEM. */
enum pos_err pos_filters_parse(struct pos_arena *a, pos_param_fn param, void *ctx,
			       const char *user_id, struct pos_memory_query *q,
			       struct pos_error *err);

#endif
