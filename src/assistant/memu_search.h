/*
 * memu_search.h — MemU's `retrieve` as the search engine's third retriever
 * (docs/SEARCH.md, "MemU"), for `cloud`-tier users when MemU is on.
 *
 * A search asks MemU with the query's free text, through a client of its
 * own whose whole-request limit is config memu_search_deadline_ms, so a
 * slow MemU costs a search at most that. Each item MemU returns is mapped
 * back to one of the user's own memories by a keyword search of its text
 * among that user's memories (never anyone else's: the search is scoped by
 * the user id, and MemU's ids are never trusted); items that match none
 * are dropped. After MemU failed or timed out, searches skip it for
 * POS_MEMU_SEARCH_QUIET_US (and while a Retry-After lasts).
 */
#ifndef POS_ASSISTANT_MEMU_SEARCH_H
#define POS_ASSISTANT_MEMU_SEARCH_H

#include "assistant/assistant.h"

#define POS_MEMU_SEARCH_QUIET_US (10LL * 1000000)
#define POS_MEMU_SEARCH_DEADLINE_MS_DEFAULT 300

/* Fills `x` (fn and ctx) when the user's searches get MemU: MemU on and
 * `tier` "cloud". */
bool pos_memu_search_extra(struct pos_assistant *as, const char *tier,
			   struct pos_search_extra *x);

/* The pos_search_extra function (ctx: the struct pos_assistant). Status
 * words: "used", "timeout", "unavailable", "rate_limited",
 * "recently_failed", "error". */
const char *pos_memu_search_retrieve(void *ctx, const char *user_id, const char *query,
				     size_t max, struct pos_hit *out, size_t *n);

#endif
