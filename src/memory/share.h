/*
 * share.h — the rules of sharing that are not storage (docs/SECURITY.md):
 * whether an encrypted memory may be shared, what a recipient sees, and
 * keyword search over the memories shared with a user.
 *
 * The store keeps the shares (store.h share_* operations); the API layer
 * (api/shares.c) decides who may call what. Thread-safe; records in the
 * caller's arena.
 */
#ifndef POS_MEMORY_SHARE_H
#define POS_MEMORY_SHARE_H

#include <stdbool.h>

#include "memory/memory.h"

#define POS_SHARE_EMAILS_MAX 100

/*
 * True when `owner_id`'s data can be read now (the store's data_unlocked:
 * with encryption at rest, the owner's key is in memory; without it,
 * always), so the owner's encrypted memories can be shared and read on a
 * recipient's behalf.
 */
bool pos_share_owner_unlocked(const struct pos_memsvc *svc, const char *owner_id);

/* POS_ERR_LOCKED (with a message saying why) when `m` is encrypted and its
 * owner's data is not unlocked; POS_OK otherwise. */
enum pos_err pos_share_check_encrypted(const struct pos_memsvc *svc,
				       const struct pos_memory *m,
				       struct pos_error *err);

/*
 * Turns the owner's record into what a recipient may see: shared_with
 * holds only the recipient's email (other recipients are the owner's
 * business), and parent and related ids — memories the recipient cannot
 * read — are left out. `email` is borrowed; strings go in the arena.
 */
enum pos_err pos_share_recipient_view(struct pos_arena *a, struct pos_memory *m,
				      const char *email);

/*
 * Keyword search over the memories shared with `recipient_id`: the query
 * language of search/query.h (filters in the text and in `filters` apply),
 * best BM25 first, at most `want`. Errors: the parser's, the store's.
 */
enum pos_err pos_share_search(const struct pos_memsvc *svc, struct pos_arena *a,
			      const char *recipient_id, const char *query, size_t len,
			      const struct pos_memory_query *filters, unsigned want,
			      struct pos_memory **out, double **scores, size_t *n,
			      struct pos_error *err);

#endif
