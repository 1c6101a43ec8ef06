/*
 * import.h — the import service: reads an uploaded file with a reader
 * (export/reader.h) and writes what it holds into one user's account.
 *
 * Memories are written in batches of POS_IMPORT_BATCH, each batch in one
 * transaction (all or nothing; the store indexes a batch set-wise), with
 * embeddings made as for any write, a batch's at once on the search
 * engine's pool (pos_memory_embed_records);
 * which of a batch's memories and references are there already is one
 * query per batch. While a batch is written on the caller's thread, the
 * next one is read, checked and embedded on a thread of its own (joined
 * before the call goes on, so nothing outlives it); the hooks are called
 * on the caller's thread only, `progress` and `should_stop` once per
 * batch.
 * Each memory's id is derived from the user and the item's key
 * (BLAKE2b, shaped as a UUID), so importing the same file again finds
 * the memories it made and skips them ("unchanged"); references between
 * imported memories (parent, related) are mapped the same way, and a
 * reference to a memory that is not there (yet) is dropped: a related
 * link is restored from its other end, which lists it too.
 *
 * An invalid item (empty content, an unknown type, a field of the wrong
 * shape) is skipped and reported with its position; the rest goes on. A
 * file that breaks (malformed JSON at item N, a damaged zip) stops the
 * import there: the batches before it stay written, the batch being
 * gathered is not, and the error names the position. After fixing the
 * file, importing it again completes it without duplicates.
 *
 * Also written: conversations (new ids derived the same way, skipped when
 * there), sync source definitions (manual only, no secrets: they are
 * entered again), persona and settings (replaced). Relationship records
 * of type `related` are carried by the memories themselves; other types
 * are not restored yet (counted as skipped). Shares are not restored.
 * A Markdown zip's attachment files (FOLDER/SLUG-ID.files/NAME, beside
 * the note of memory ID, docs/EXPORT.md) are attached to the imported
 * memory through hooks->attach, in a second pass over the zip once the
 * memories are written, each spooled to an unlinked temp file (never
 * whole in memory).
 *
 * Thread-safety: no shared state; the store and memory service are.
 */
#ifndef POS_EXPORT_IMPORT_H
#define POS_EXPORT_IMPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "export/reader.h"
#include "memory/memory.h"

#define POS_IMPORT_BATCH 5000 /* one transaction, one lookup query */

struct pos_import_hooks {
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	bool (*should_stop)(void *ctx);
	/* an item skipped at `position`, with why (no memory content in it) */
	void (*item_error)(void *ctx, uint64_t position, enum pos_err code, const char *message);
	/* POS_OK when the user may add `memories` memories of `bytes`, else
	 * POS_ERR_QUOTA_EXCEEDED with err set; NULL: no quota */
	enum pos_err (*quota)(void *ctx, const char *user_id, int64_t memories, int64_t bytes,
			      struct pos_error *err);
	/* Markdown zip: attaches the file `name` (`len` bytes of `fd` from
	 * offset 0) to the user's imported memory `memory_id`; POS_OK also
	 * when it is there already (same name and size). NOT_FOUND (no such
	 * memory) ignores the file; CONTENT_TOO_LARGE, QUOTA_EXCEEDED,
	 * INVALID_FIELD and CONFLICT (the memory's files are full) skip it
	 * with an item error; any other error stops the import. NULL: the
	 * files are not read back. */
	enum pos_err (*attach)(void *ctx, const char *user_id, const char *memory_id, int fd,
			       uint64_t len, const char *name, struct pos_error *err);
	void *ctx;
};

struct pos_import_result {
	uint64_t items;          /* items read */
	uint64_t added;          /* memories written */
	uint64_t unchanged;      /* memories already there (an earlier import) */
	uint64_t skipped;        /* invalid items and records not restored */
	uint64_t conversations, sync_sources;
	bool persona, settings;
	uint64_t files;          /* Markdown zip: attachment files read back */
};

/* The id an imported item of `key` gets in `user_id`'s account. */
void pos_import_derive_id(const char *user_id, const char *key, char out[POS_UUID_SIZE]);

/*
 * Imports `path` (format `fmt`) into `user_id`'s account. A sealed file
 * (export/seal.h) is opened with `passphrase` into an unlinked temp file
 * beside `path` first (POS_ERR_INVALID_FIELD, field passphrase, when none
 * is given; POS_ERR_DECRYPT when it is wrong). POS_ERR_LOCKED
 * for an encrypted user who is locked; reader errors (reader.h) with
 * err->index the position; POS_ERR_QUOTA_EXCEEDED; POS_ERR_UNAVAILABLE
 * when should_stop said so; POS_ERR_STORE. `res` is filled in any case
 * with what was done.
 */
enum pos_err pos_import_run(const struct pos_memsvc *svc, const char *user_id,
			    enum pos_import_format fmt, const char *path, const char *passphrase,
			    const struct pos_import_hooks *hooks, struct pos_import_result *res,
			    struct pos_error *err);

#endif
