/*
 * adapter.h — the contract between the sync framework (sources, scheduler,
 * status, sync log, CLI import) and one kind of source (imap, caldav,
 * ics_url, ics_file, mbox, maildir, markdown_dir).
 *
 * An adapter knows a protocol or a file format and nothing of the store: it
 * fetches what changed since its cursor, transforms each item into memory
 * fields, and hands them to a sink the framework provides. The framework
 * owns deduplication (external_id unique per user and source), updates,
 * removals, progress, logging and credentials.
 *
 * Adapters are stateless tables of functions; all run state lives in the
 * arguments. `run` is called on a sync worker thread, never two runs of the
 * same source at once.
 */
#ifndef POS_SYNC_ADAPTER_H
#define POS_SYNC_ADAPTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "sync/fsroot.h"

struct pos_egress;

/* One item from a source, already transformed (docs/SYNC.md, "What a memory looks like"). */
/* A file that came with an item (a mail attachment): stored by the sink
 * as a blob attached to the item's memory when the server wired an
 * attach hook (pos_sync_set_attach), dropped otherwise. */
struct pos_sync_file {
	const char *name;           /* as the source named it (cleaned later) */
	const void *data;
	size_t len;
};

#define POS_SYNC_FILES_MAX 32       /* files of one item at most */

struct pos_sync_item {
	const char *external_id;    /* stable within the source: Message-ID,
				     * event UID (+ RECURRENCE-ID), relative path */
	const char *type;           /* "email", "event", "note", ... */
	const char *content;        /* UTF-8 text, content_len bytes */
	size_t content_len;
	const json_t *metadata;     /* borrowed object, or NULL */
	const json_t *tags;         /* borrowed array of strings, or NULL */
	int64_t created_at_us;      /* the item's own time (Date:, DTSTART,
				     * front matter, mtime); 0 = now */
	const char *version;        /* ETag, hash, ...: an upsert whose version
				     * equals the stored one changes nothing */
	const json_t *links;        /* borrowed array of external_ids this item
				     * refers to ([[wiki links]]), or NULL */
	const void *attachment;     /* the full original (an email's RFC 822
				     * message when the body was cut), or NULL */
	size_t attachment_len;
	const char *attachment_type; /* e.g. "message/rfc822" */
	const struct pos_sync_file *files; /* borrowed, n_files of them */
	size_t n_files;
};

/* What the framework offers an adapter during one run. */
struct pos_sync_sink {
	void *ctx;
	/* Inserts or updates the memory of one item. An error here other than
	 * POS_ERR_INVALID/INVALID_FIELD is fatal for the run (return it). */
	enum pos_err (*upsert)(void *ctx, const struct pos_sync_item *item,
			       struct pos_error *err);
	/* Removes the memory of an item the source no longer has. */
	enum pos_err (*remove)(void *ctx, const char *external_id,
			       struct pos_error *err);
	/* A malformed item was skipped: `position` names where ("message 17",
	 * "line 230", "notes/a.md"), `reason` why. The run goes on. */
	void (*skip)(void *ctx, const char *position, const char *reason);
	/* Progress: `done` of `total` items (total 0 when unknown). */
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	/* Full listing: the adapter has upserted every item the source holds,
	 * so the framework removes this source's memories not seen in the run. */
	void (*complete)(void *ctx);
	/* True when the run should stop early (shutdown, source deleted, past
	 * the run's deadline). Poll it between items and while waiting. */
	bool (*cancelled)(void *ctx);
	/* The server's egress allowlist for outbound connections (net/egress.h,
	 * NULL: public addresses only). Every connection an adapter opens goes
	 * through net/http.h as POS_NET_USER with this policy. */
	const struct pos_egress *egress;
	/* File kinds: the directory config.path is relative to; every open
	 * goes through sync/fsroot.h with it. NULL: unconfined (the operator's
	 * CLI, unit tests). Borrowed for the run. */
	const struct pos_fsroot *root;
};

struct pos_sync_adapter {
	const char *kind;                 /* "imap", "ics_file", ... */
	/* Config keys holding secrets: stored encrypted, never returned. */
	const char *const *secret_keys;   /* NULL-terminated, or NULL */
	/* Checks the `config` object of POST /api/sync/sources; on failure sets
	 * POS_ERR_INVALID_FIELD naming the key. */
	enum pos_err (*validate)(const json_t *config, struct pos_error *err);
	/* One run: fetches what is new since `cursor` (NULL on the first run),
	 * emits through `sink`, and on success sets *cursor_out (a new
	 * reference) for the next run. Unreachable server, TLS or auth failure:
	 * an error naming the reason (POS_ERR_UNAVAILABLE, POS_ERR_AUTH, ...). */
	enum pos_err (*run)(const json_t *config, const json_t *cursor,
			    json_t **cursor_out, const struct pos_sync_sink *sink,
			    struct pos_error *err);
	/* Reads config.path from disk: confined per user (sync/fsroot.h). */
	bool files;
};

/* The adapters, each in its own file under src/sync/. */
extern const struct pos_sync_adapter pos_sync_imap;
extern const struct pos_sync_adapter pos_sync_mbox;
extern const struct pos_sync_adapter pos_sync_maildir;
extern const struct pos_sync_adapter pos_sync_caldav;
extern const struct pos_sync_adapter pos_sync_ics_url;
extern const struct pos_sync_adapter pos_sync_ics_file;
extern const struct pos_sync_adapter pos_sync_markdown_dir;

#endif
