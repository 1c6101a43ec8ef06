/*
 * reader.h — the import formats (docs/EXPORT.md, "Import"): readers that
 * turn an uploaded file into a stream of items, one at a time, so a file
 * of any size is never held in memory (one item is).
 *
 *   json, jsonl   the PersonalOS export (format.h), version 1
 *   markdown      the PersonalOS Markdown zip (front matter as written by
 *                 format.c, read back losslessly)
 *   obsidian      a zip of a vault: *.md notes, front matter tags, title
 *                 and date, inline #tags
 *   chatgpt       ChatGPT's conversations.json (Settings > Data controls >
 *                 Export): one memory per conversation
 *   claude        Claude's conversations.json (Settings > Privacy > Export
 *                 data): one memory per conversation
 *   takeout-keep  Google Takeout's Keep folder: a zip of one JSON file per
 *                 note (other files are skipped), or one note's JSON
 *   csv           a header row naming the columns (content is required;
 *                 type, layer, source, tags, created_at, updated_at,
 *                 importance_score, metadata, title are read when present)
 *
 * Every memory item is a JSON object in the shape of the export's memory
 * (export-schema.json) plus "key": a stable string naming the item in its
 * source ("pos:<id>", "chatgpt:<conversation id>", "csv:<sha256>", ...),
 * from which the importer derives ids so a second import of the same file
 * finds what the first one made.
 *
 * Zips are checked before any entry is read with the caps of sync uploads
 * (sync/upload.h: entries, bytes per entry, total, ratio, no absolute or
 * ".." paths, no links or devices).
 *
 * Errors: POS_ERR_INVALID_JSON / POS_ERR_INVALID_FIELD (the file is not
 * what its format says, at item `err->index`, message saying where),
 * POS_ERR_CONTENT_TOO_LARGE (a zip cap, an item past POS_IMPORT_ITEM_MAX),
 * POS_ERR_IO, POS_ERR_NOMEM.
 *
 * Thread-safety: a reader has one owner at a time.
 */
#ifndef POS_EXPORT_READER_H
#define POS_EXPORT_READER_H

#include <jansson.h>
#include <stdint.h>

#include "base/err.h"

#define POS_IMPORT_ITEM_MAX (16u << 20) /* bytes of one item (a long conversation) */

enum pos_import_format {
	POS_IMPORT_JSON,
	POS_IMPORT_JSONL,
	POS_IMPORT_MARKDOWN,
	POS_IMPORT_OBSIDIAN,
	POS_IMPORT_CHATGPT,
	POS_IMPORT_CLAUDE,
	POS_IMPORT_KEEP,
	POS_IMPORT_CSV,
	POS_IMPORT__COUNT
};

/* "json", "jsonl", "markdown", "obsidian", "chatgpt", "claude",
 * "takeout-keep", "csv"; -1 when unknown. */
int pos_import_format_parse(const char *s);
const char *pos_import_format_name(enum pos_import_format f);

enum pos_import_kind {
	POS_IMPORT_MEMORY,
	POS_IMPORT_RELATIONSHIP,
	POS_IMPORT_CONVERSATION,
	POS_IMPORT_SYNC_SOURCE,
	POS_IMPORT_PERSONA,
	POS_IMPORT_SETTINGS,
	POS_IMPORT_PLUGIN_SETTINGS,
};

struct pos_import_item {
	enum pos_import_kind kind;
	uint64_t position;  /* 0-based, in the file's order (every kind counts) */
	json_t *data;       /* new reference: the caller json_decref's it */
};

struct pos_import_reader;

/* Opens `path` (the uploaded file) as `fmt`. Zip caps are checked here. */
enum pos_err pos_import_reader_open(enum pos_import_format fmt, const char *path,
				    struct pos_import_reader **out, struct pos_error *err);

/* The next item: POS_OK with *item filled, POS_ERR_NOT_FOUND at the end,
 * or an error with err->index the failing item's position. After an error
 * the reader only accepts free. */
enum pos_err pos_import_reader_next(struct pos_import_reader *r, struct pos_import_item *item,
				    struct pos_error *err);

/* Bytes of the file read so far and its size (for progress). */
void pos_import_reader_progress(const struct pos_import_reader *r, uint64_t *done,
				uint64_t *total);

void pos_import_reader_free(struct pos_import_reader *r);

#endif
