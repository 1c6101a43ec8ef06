/*
 * categories.h — GET /api/memories/categories: what a user's memories are
 * about, as named groups (docs/LIFECYCLE.md, "Categories").
 *
 * For a `cloud`-tier user with MemU configured, MemU's categories; when
 * MemU is off, the tier forbids it, or MemU fails (down, slow, 401, 429,
 * garbage: then chats and this skip MemU for POS_MEMU_QUIET_US), the local
 * equivalent: the user's most used tags with their counts (none for a user
 * whose tags are encrypted), then clusters of meaning over the user's
 * vectors (clusters.h). Thread-safe.
 */
#ifndef POS_ASSISTANT_CATEGORIES_H
#define POS_ASSISTANT_CATEGORIES_H

#include "assistant/assistant.h"
#include "base/json.h"

/* Local categories listed at most. */
#define POS_CATEGORIES_LOCAL_MAX 100

/* Writes {"source": "memu"|"local", "categories": [{name, count?,
 * description?, kind?: "tag"|"cluster", keywords?, member_ids?}],
 * "memu_unavailable"?: true, "clusters_pending"?: true}. */
enum pos_err pos_categories_json(struct pos_assistant *as, struct pos_arena *a,
				 const char *user_id, struct pos_jw *w, struct pos_error *err);

#endif
