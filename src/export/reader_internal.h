/*
 * reader_internal.h — shared between the import readers: reader.c (the
 * dispatch, the PersonalOS json/jsonl, csv and the chat exports) and
 * reader_zip.c (the zip formats: markdown, obsidian, takeout-keep).
 */
#ifndef POS_EXPORT_READER_INTERNAL_H
#define POS_EXPORT_READER_INTERNAL_H

#include <stdbool.h>
#include <stdio.h>

#include "base/buf.h"
#include "export/reader.h"

struct archive;

struct pos_import_reader {
	enum pos_import_format fmt;
	FILE *f;
	uint64_t size;
	uint64_t pos;              /* position of the next item */
	bool broken;
	/* json document / top-level arrays */
	int state;
	bool first;
	enum pos_import_kind arr_kind;
	/* csv */
	char **cols;
	size_t n_cols;
	/* zips: the file mapped, an archive over it, a side array being emitted */
	void *map;
	size_t map_len;
	struct archive *zip;
	json_t *pending;           /* array of items of pending_kind */
	enum pos_import_kind pending_kind;
	size_t pending_at;
	uint64_t zip_done;
};

/* Stable hex digest (32 bytes of BLAKE2b as 64 hex digits) of data. */
void pos_import_digest(const void *data, size_t len, char out[65]);

/* Sets item to a memory {key, ...}; consumes `mem`. */
void pos_import_emit(struct pos_import_reader *r, struct pos_import_item *item,
		     enum pos_import_kind kind, json_t *data);

/* Microseconds since the epoch as an RFC 3339 JSON string (new ref). */
json_t *pos_import_time(int64_t us);

/* reader_zip.c */
enum pos_err pos_import_zip_open(struct pos_import_reader *r, struct pos_error *err);
enum pos_err pos_import_zip_next(struct pos_import_reader *r, struct pos_import_item *item,
				 struct pos_error *err);
/* A Keep note's JSON as a memory, or NULL when it is no note (or trashed). */
json_t *pos_import_keep_note(const json_t *note, const char *name);
void pos_import_zip_free(struct pos_import_reader *r);

#endif
