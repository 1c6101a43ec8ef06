/*
 * export.h — the export service: what to export (a request parsed from
 * POST /api/export/memories or from a job's payload, which is the same
 * JSON) and writing one user's export to a file descriptor through the
 * format writers (export/format.h), page by page, so memory use does not
 * grow with the number of memories.
 *
 * Sections (`include`): memories, relationships, conversations, persona,
 * settings, sync_sources (their definitions without secrets). Filters are
 * the list filters of GET /api/memories (type, layer, source, tag, after,
 * before) and apply to memories and relationships.
 *
 * Encrypted users: memories are read through the store's crypt layer,
 * which decrypts them; a locked user's export fails with POS_ERR_LOCKED
 * before anything is written.
 *
 * Thread-safety: the functions keep no state; several exports may run at
 * once.
 */
#ifndef POS_EXPORT_EXPORT_H
#define POS_EXPORT_EXPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/err.h"
#include "export/format.h"
#include "store/store.h"

#define POS_EXPORT_BATCH 256          /* memories read per store call */
#define POS_EXPORT_ITEMS_MAX 10000000 /* memories in one export */
#define POS_EXPORT_MESSAGES_MAX 100000 /* messages per conversation */
#define POS_EXPORT_EDGES_PER_MEMORY 128 /* relationships read per memory of a batch */

enum {
	POS_EXPORT_INC_MEMORIES = 1 << 0,
	POS_EXPORT_INC_RELATIONSHIPS = 1 << 1,
	POS_EXPORT_INC_CONVERSATIONS = 1 << 2,
	POS_EXPORT_INC_PERSONA = 1 << 3,
	POS_EXPORT_INC_SETTINGS = 1 << 4,
	POS_EXPORT_INC_SYNC_SOURCES = 1 << 5,
	POS_EXPORT_INC_ALL = (1 << 6) - 1,
};

struct pos_export_request {
	enum pos_export_format format;
	enum pos_export_folders folders;
	unsigned include;              /* POS_EXPORT_INC_* bits */
	struct pos_memory_query q;     /* filters; user_id set, limit/offset unused */
	const char *filters_json;      /* the filters as given (arena), "{}" when none */
	const char *passphrase;        /* seals the file (export/seal.h), NULL: plain */
	const char *include_json;      /* the section names (arena) */
};

/*
 * Parses {format, filters?, include?, folders?, passphrase?} (`folders`:
 * "type" | "date", markdown only; `passphrase`: 8 to 1024 bytes, seals
 * the file). Unknown keys of `filters` or names in `include`
 * and bad values are POS_ERR_INVALID_FIELD naming the field; a missing
 * format is POS_ERR_MISSING_FIELD. `include` defaults to every section.
 * Strings live in `a`; `body` may be released afterwards.
 */
enum pos_err pos_export_request_parse(struct pos_arena *a, const char *user_id,
				      const json_t *body, struct pos_export_request *out,
				      struct pos_error *err);

struct pos_blob_reader;

/*
 * Progress and cancellation hooks (both optional), and the opener of
 * attachments (optional): with it, a markdown export carries each
 * memory's attachment files beside its note (docs/EXPORT.md), opened for
 * the owner `user_id` (decrypted for an encrypted user) and read with
 * pos_blob_read, closed with pos_blob_close. An attachment it says
 * POS_ERR_NOT_FOUND for is left out (its blob is gone); any other error
 * fails the export.
 */
struct pos_export_hooks {
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	bool (*should_stop)(void *ctx);
	void *ctx;
	enum pos_err (*open_file)(void *files_ctx, struct pos_arena *a, const char *user_id,
				  const char *attachment_id, struct pos_blob_reader **rd,
				  uint64_t *size, int64_t *created_at);
	void *files_ctx;
};

/* What was written. */
struct pos_export_result {
	uint64_t items, bytes;
};

/*
 * Writes user `user_id`'s export as `req` asks onto `fd` (borrowed).
 * POS_ERR_LOCKED for an encrypted user whose key is not in memory,
 * POS_ERR_CONTENT_TOO_LARGE past POS_EXPORT_ITEMS_MAX memories,
 * POS_ERR_UNAVAILABLE when should_stop said so, POS_ERR_IO, POS_ERR_STORE.
 * On failure the file holds a partial export the caller must delete.
 */
enum pos_err pos_export_write(struct pos_store *st, const char *user_id,
			      const struct pos_export_request *req, int fd,
			      const struct pos_export_hooks *hooks,
			      struct pos_export_result *res, struct pos_error *err);

#endif
