/*
 * format.h — the export file formats (docs/EXPORT.md), as streaming
 * writers: records go in one at a time and out to a file descriptor, so an
 * export of any size is never held in memory (at most one memory and a
 * small output buffer are).
 *
 *   json      the lossless PersonalOS format: one JSON document,
 *             {"format":"personalos-export","version":1,...,"memories":[...],
 *             "relationships":[...], "conversations":[...], ...}, one record
 *             per line inside its array; docs/export-schema.json.
 *   jsonl     the same records, one JSON object per line, each naming its
 *             kind in "record" (the first line is the header).
 *   markdown  a zip of Markdown files with YAML front matter, one per
 *             memory, in folders by type or by date (YYYY/MM); the other
 *             sections as JSON files under _personalos/. Readable as an
 *             Obsidian vault. Written by export/zipw.h: its memory does
 *             not grow with the number of files (the zip's directory is
 *             spooled to an unlinked temp file beside the export: in the
 *             folder of the fd's file, or of `near_fd`'s for a sink).
 *   csv       memories only, RFC 4180, a header row.
 *
 * Order of calls: open, memories, then the array sections (each one's
 * records together, in any order of sections), then the single values,
 * then finish. A call out of that order is POS_ERR_INTERNAL (a bug in the
 * caller). A format that cannot carry a section (csv: all but memories)
 * skips it silently.
 *
 * Records are written as given: the caller passes plain (decrypted)
 * memories and JSON that is already valid (from the store).
 *
 * Errors: POS_ERR_IO (a write failed: disk full; or no temp file for the
 * zip's directory), POS_ERR_NOMEM, POS_ERR_CONTENT_TOO_LARGE (one record
 * of a section larger than 64 MiB as text), POS_ERR_INVALID_FIELD
 * (unknown section name).
 * After an error the writer only accepts pos_export_writer_free.
 *
 * Thread-safety: a writer has one owner at a time.
 */
#ifndef POS_EXPORT_FORMAT_H
#define POS_EXPORT_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "store/store.h"

#define POS_EXPORT_VERSION 1

enum pos_export_format {
	POS_EXPORT_JSON,
	POS_EXPORT_JSONL,
	POS_EXPORT_MARKDOWN,
	POS_EXPORT_CSV,
	POS_EXPORT__COUNT
};

/* Markdown folders: by type ("note/") or by creation month ("2026/11/"). */
enum pos_export_folders { POS_EXPORT_BY_TYPE, POS_EXPORT_BY_DATE };

/* "json" | "jsonl" | "markdown" | "csv"; parse gives -1 when unknown. */
const char *pos_export_format_name(enum pos_export_format f);
int pos_export_format_parse(const char *s);
/* File name extension ("json", "jsonl", "zip", "csv") and media type. */
const char *pos_export_format_ext(enum pos_export_format f);
const char *pos_export_format_mime(enum pos_export_format f);

/* What the header says; strings borrowed for the open call. */
struct pos_export_header {
	const char *user_id;
	const char *user_email;
	int64_t exported_at;        /* microseconds since the epoch */
	const char *filters_json;   /* the filters applied, a JSON object, or NULL */
	const char *include_json;   /* the sections included, a JSON array, or NULL */
};

struct pos_export_writer;

/* Where the bytes go: write all `n` bytes or fail (POS_ERR_IO). */
struct pos_export_sink {
	enum pos_err (*write)(void *ctx, const void *p, size_t n);
	void *ctx;
};

/* A writer of `fmt` onto `fd` (borrowed: the caller closes it after
 * free). */
enum pos_err pos_export_writer_open(enum pos_export_format fmt, int fd,
				    const struct pos_export_header *hdr,
				    enum pos_export_folders folders,
				    struct pos_export_writer **out);
/* The same onto a sink (copied; its ctx is borrowed): e.g. export/seal.h.
 * `near_fd` (borrowed; -1: TMPDIR) is a file in the folder that takes the
 * markdown zip's spooled directory: the export's own file. */
enum pos_err pos_export_writer_open_sink(enum pos_export_format fmt,
					 const struct pos_export_sink *sink, int near_fd,
					 const struct pos_export_header *hdr,
					 enum pos_export_folders folders,
					 struct pos_export_writer **out);

/* One memory, plain. Its related ids come from m->related_json when set,
 * else m->related. */
enum pos_err pos_export_writer_memory(struct pos_export_writer *w, const struct pos_memory *m);

/*
 * Markdown only, right after pos_export_writer_memory: the attachments of
 * that memory whose bytes go beside its note, as `path` in its front
 * matter says (FOLDER/SLUG-ID.files/NAME, docs/EXPORT.md). file_id gives
 * the id of the i-th (NULL past the last, and for the other formats);
 * file streams its `size` bytes into the zip, read 64 KiB at a time
 * through `read` (never whole in memory). A read error fails the writer
 * with it; a file shorter than `size` is POS_ERR_IO.
 */
typedef enum pos_err (*pos_export_read_fn)(void *ctx, uint64_t off, void *buf, size_t n,
					   size_t *got);
const char *pos_export_writer_file_id(const struct pos_export_writer *w, size_t i);
enum pos_err pos_export_writer_file(struct pos_export_writer *w, size_t i, uint64_t size,
				    pos_export_read_fn read, void *ctx, int64_t mtime_us);

/* One record (a JSON object, `len` bytes) of an array section:
 * "relationships", "conversations" or "sync_sources". */
enum pos_err pos_export_writer_record(struct pos_export_writer *w, const char *section,
				      const char *json, size_t len);

/* A single value (any JSON, `len` bytes): "persona", "settings" or
 * "plugin_settings". */
enum pos_err pos_export_writer_value(struct pos_export_writer *w, const char *key,
				     const char *json, size_t len);

/* Ends the file (closing brackets, the zip's directory) and flushes;
 * *bytes (may be NULL) gets the file's size. */
enum pos_err pos_export_writer_finish(struct pos_export_writer *w, uint64_t *bytes);

/* Bytes written so far and memories written (for progress). */
uint64_t pos_export_writer_bytes(const struct pos_export_writer *w);
uint64_t pos_export_writer_items(const struct pos_export_writer *w);

/* Frees; NULL is fine. Does not close the fd. */
void pos_export_writer_free(struct pos_export_writer *w);

#endif
