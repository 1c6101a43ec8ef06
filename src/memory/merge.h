/*
 * merge.h — merging duplicate memories into one (docs/LIFECYCLE.md,
 * "Merging duplicates").
 *
 * The kept memory takes the others' tags (up to POS_TAGS_MAX), their
 * metadata keys it lacks, their relationships and children, and their
 * access counts; its metadata gets `merged_from` (the merged ids, added to
 * any there). The others are then deleted. An audit row per merge is kept
 * in the store (memory_merges). Thread-safe.
 */
#ifndef POS_MEMORY_MERGE_H
#define POS_MEMORY_MERGE_H

#include <jansson.h>

#include "memory/memory.h"

/* Memories merged into one at most, per call. */
#define POS_MERGE_MAX 100

/*
 * Merges the memories of body `{"with": [ids]}` into `id`; `out` is the
 * kept memory afterwards. 404 (POS_ERR_NOT_FOUND) for an unknown or
 * foreign `id` or id in `with`; POS_ERR_INVALID_FIELD (field "with") for a
 * list that is not 1..POS_MERGE_MAX distinct UUIDs other than `id`;
 * POS_ERR_INVALID_FIELD "tags"/"metadata" when the merged values exceed
 * their limits (nothing changed then).
 */
enum pos_err pos_merge_memories(const struct pos_memsvc *svc, struct pos_arena *a,
				const char *user_id, const char *id, const json_t *body,
				struct pos_memory *out, struct pos_error *err);

#endif
