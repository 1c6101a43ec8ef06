/*
 * share.h — the rules of sharing that are not storage (docs/SECURITY.md):
 * whether an encrypted memory may be shared, what a recipient sees, and
 * keyword search over the memories shared with a user.
 *
 * The sharing service: the owner shares and unshares, a recipient reads,
 * lists and searches what was shared with them. The store keeps the shares
 * (store.h share_* operations); the API layer (api/shares.c) parses and
 * renders. Who gets what: the owner manages shares; a recipient reads, and
 * is told POS_ERR_FORBIDDEN when they try to change, delete or re-share;
 * anyone else gets POS_ERR_NOT_FOUND, as for any memory not theirs.
 * Thread-safe; records in the caller's arena. Functions that take `err`
 * fill it on every failure.
 */
#ifndef POS_MEMORY_SHARE_H
#define POS_MEMORY_SHARE_H

#include <stdbool.h>

#include "memory/memory.h"
#include "search/engine.h"

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

/*
 * For a failed owner-only call on memory `id` by `user_id`: when `err` is
 * POS_ERR_NOT_FOUND and the memory is shared with the user, turns it into
 * POS_ERR_FORBIDDEN (they can see it, so a 404 would contradict the read
 * they just did). Otherwise leaves `err` as it is.
 */
void pos_share_explain_not_owner(const struct pos_memsvc *svc, struct pos_arena *a,
				 const char *user_id, const char *id, struct pos_error *err);

/*
 * Shares the owner's memory `id` with `n` normalized emails (at most
 * POS_SHARE_EMAILS_MAX) and returns the memory as stored after. Errors:
 * not the owner's (see pos_share_explain_not_owner), POS_ERR_LOCKED for an
 * encrypted memory whose owner is locked, the store's input errors.
 */
enum pos_err pos_share_add(const struct pos_memsvc *svc, struct pos_arena *a,
			   const char *owner_id, const char *id,
			   const char *const *emails, size_t n, struct pos_memory *out,
			   struct pos_error *err);

/* Stops sharing the owner's memory `id` with the normalized `email`.
 * POS_ERR_NOT_FOUND when it is not shared with that email; not the
 * owner's: see pos_share_explain_not_owner. */
enum pos_err pos_share_remove(const struct pos_memsvc *svc, struct pos_arena *a,
			      const char *owner_id, const char *id, const char *email,
			      struct pos_error *err);

/*
 * The memory `id` as `recipient_id` sees it. *shared says whether it is
 * shared with them at all: when false, the store's error is returned (the
 * caller answers as for any memory not theirs). When true, errors are
 * POS_ERR_LOCKED (the owner's encrypted data is locked), POS_ERR_DECRYPT,
 * POS_ERR_UNAUTHORIZED (the recipient's account is gone), the store's.
 */
enum pos_err pos_share_read(const struct pos_memsvc *svc, struct pos_arena *a,
			    const char *recipient_id, const char *id,
			    struct pos_memory *out, bool *shared, struct pos_error *err);

/* A page of the memories shared with `recipient_id`, newest first, as
 * they see them, and their total. Errors as pos_share_read's. */
enum pos_err pos_share_list(const struct pos_memsvc *svc, struct pos_arena *a,
			    const char *recipient_id, unsigned limit, unsigned offset,
			    struct pos_memory **out, size_t *n, int64_t *total,
			    struct pos_error *err);

/* One hit of pos_share_search_with_own. */
struct pos_share_hit {
	const struct pos_memory *memory;
	double score;
};

struct pos_share_search_result {
	struct pos_share_hit *hits;
	size_t n;
	int64_t total;               /* own candidates + shared matches */
	size_t shared;               /* shared matches */
	double took_ms;              /* of the own search */
};

/* The largest offset pos_share_search_with_own takes. */
#define POS_SHARE_SEARCH_OFFSET_MAX 10000

/*
 * A search over the user's own memories (the search engine, hybrid and
 * cached) and the keyword matches among those shared with them (fresh from
 * the store every time, so a revoked share disappears at once), merged by
 * score (search/fusion.h pos_fuse_merge); the page req->offset,
 * req->limit is cut from the merge. Errors: POS_ERR_INVALID_FIELD (offset
 * over POS_SHARE_SEARCH_OFFSET_MAX, the query), the engine's, the store's.
 */
enum pos_err pos_share_search_with_own(const struct pos_memsvc *svc, struct pos_arena *a,
				       const struct pos_search_request *req,
				       struct pos_share_search_result *out,
				       struct pos_error *err);

#endif
