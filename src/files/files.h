/*
 * files.h — the files service (issue 21): attachments of memories, stored
 * as blobs (files/blob.h) of their owner, typed by sniffing their bytes
 * (libmagic; the client's Content-Type is never trusted), listed in the
 * memory's `attachments`, readable by the owner and by the users the memory
 * is shared with, and collected when nothing refers to them any more.
 * Text is extracted from them offline (files/extract.h) and, for a `file`
 * memory, becomes its searchable content with page markers; for any other
 * memory it follows the memory's own content as a "[file: NAME]" section.
 *
 * `struct pos_files` is owned by the server and set up once; its functions
 * are thread-safe (a mutex orders blob writes against garbage collection so
 * a blob being attached is never collected under it).
 */
#ifndef POS_FILES_FILES_H
#define POS_FILES_FILES_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/config.h"
#include "base/err.h"
#include "base/json.h"
#include "files/blob.h"
#include "store/store.h"

#define POS_FILE_NAME_MAX 255     /* bytes of an attachment's name */
#define POS_FILES_PER_MEMORY 100  /* attachments of one memory at most */
/* The name sync keeps an email's whole original under (its text is the
 * email memory already, so it is not extracted again). */
#define POS_FILES_ORIGINAL_EML "message.eml"

struct pos_memsvc;

struct pos_files {
	const struct pos_config *cfg;
	struct pos_store *store;       /* the encrypting store (borrowed) */
	struct pos_memsvc *mem;        /* to rewrite a file memory's content (borrowed) */
	struct pos_blobs blobs;
	pthread_mutex_t mu;            /* blob put + row insert vs collection */
	pthread_mutex_t magic_mu;      /* libmagic handles are not thread-safe */
	pthread_mutex_t text_mu;       /* read + rewrite of a memory's content by extraction */
	void *magic;                   /* magic_t, NULL when libmagic failed to load */
	struct pos_jobs *jobs;         /* borrowed; NULL: extraction in the request */
	bool inited;
};

/* Sets up the service; `cfg`, `store` and `mem` are borrowed. */
enum pos_err pos_files_init(struct pos_files *f, const struct pos_config *cfg,
			    struct pos_store *store, struct pos_memsvc *mem,
			    struct pos_error *err);
/* NULL-safe; only after pos_files_init succeeded or a zeroed struct. */
void pos_files_free(struct pos_files *f);

/*
 * Cleans an uploaded file name into `out` (at most POS_FILE_NAME_MAX
 * bytes, valid UTF-8 assumed checked by the caller): the last path
 * component, control characters and quotes replaced by '_', "file" when
 * nothing is left.
 */
void pos_files_clean_name(const char *in, char out[POS_FILE_NAME_MAX + 1]);

/*
 * The type to serve a file of sniffed type `mime` with: a small allow-list
 * of types browsers show safely (images but SVG, PDF, plain text, e-mail
 * messages, audio, video); everything else — HTML, SVG, XML, scripts — is
 * application/octet-stream.
 */
const char *pos_files_safe_type(const char *mime);

/*
 * Attaches `len` bytes of `fd` from `off` (pread) to the user's memory
 * `memory_id`, named `name` (cleaned here): the blob is stored (sealed for
 * an encrypted user), the attachment row added, the memory's attachments
 * list rewritten, and the text extracted (the attachment's text_status
 * says how that went; the attachment stays whatever happens there).
 * *out (arena) is the new attachment. The byte quota is the caller's to
 * check. Errors: POS_ERR_NOT_FOUND (not the user's memory),
 * POS_ERR_CONFLICT (the memory has POS_FILES_PER_MEMORY attachments),
 * POS_ERR_LOCKED, POS_ERR_IO, the store's; `err` says which.
 */
enum pos_err pos_files_attach(struct pos_files *f, struct pos_arena *a, const char *user_id,
			      const char *memory_id, int fd, uint64_t off, uint64_t len,
			      const char *name, struct pos_attachment *out,
			      struct pos_error *err);

/*
 * pos_files_attach for `len` bytes in memory (sync's mail attachments):
 * with `replace`, the memory's earlier attachments of the same (cleaned)
 * name are deleted once the new one is stored. The byte quota and the
 * size limit are the caller's to check.
 */
enum pos_err pos_files_attach_mem(struct pos_files *f, struct pos_arena *a, const char *user_id,
				  const char *memory_id, const void *data, size_t len,
				  const char *name, bool replace, struct pos_attachment *out,
				  struct pos_error *err);

/*
 * Opens attachment `id` for `caller_id`: its owner, or a user the memory is
 * shared with. NOT_FOUND for anyone else (never 403). *rd must be closed
 * with pos_blob_close; *size is the file's size.
 */
enum pos_err pos_files_open(struct pos_files *f, struct pos_arena *a, const char *caller_id,
			    const char *id, struct pos_attachment *att,
			    struct pos_blob_reader **rd, uint64_t *size);

/*
 * The thumbnail (a PNG of at most 256 px a side, files/thumb.h) of
 * attachment `id` for `caller_id` (who may open it, as pos_files_open),
 * made by the confined extraction child from the image or the PDF's first
 * page, into `out` (give it POS_THUMB_MAX). NOT_FOUND when there is no such
 * attachment for the caller, or no thumbnail (another type, a file that
 * cannot be read or is over extract_pixels).
 */
enum pos_err pos_files_thumbnail(struct pos_files *f, struct pos_arena *a, const char *caller_id,
				 const char *id, struct pos_buf *out);

/* The attachments of the user's memory, oldest first, names and types
 * opened for an encrypted user (POS_ERR_LOCKED while locked). */
enum pos_err pos_files_list(struct pos_files *f, struct pos_arena *a, const char *user_id,
			    const char *memory_id, struct pos_attachment **out, size_t *n);

/* Deletes the user's attachment (owner only: NOT_FOUND otherwise), updates
 * the memory's list and collects the blob if nothing else refers to it. */
enum pos_err pos_files_delete(struct pos_files *f, const char *user_id, const char *id);

/* Deletes the blobs of `user_id` (NULL: every user) that no attachment
 * refers to, e.g. after a memory was deleted; *n (may be NULL) gets how
 * many. */
enum pos_err pos_files_collect(struct pos_files *f, const char *user_id, size_t *n);

/*
 * Extracts the text of the user's attachment `attachment_id` again (or for
 * the first time) and records the outcome on it (text_status, text_error,
 * text_pages); for a `file` memory the text becomes its content after the
 * name line. POS_OK even when the extraction failed (that is recorded);
 * errors are the store's, NOT_FOUND, LOCKED.
 */
enum pos_err pos_files_extract_attachment(struct pos_files *f, const char *user_id,
					  const char *attachment_id);

/*
 * The job kind "files.extract" (jobs/jobs.h), payload {"attachment_id"},
 * whose ctx is the struct pos_files: pos_files_extract_attachment on a
 * worker of the jobs service.
 */
struct pos_job_kind;
struct pos_jobs;
extern const struct pos_job_kind pos_files_extract_kind;
/* Registers files.extract on `jobs` (borrowed, freed before the files
 * service), before pos_jobs_start; from then on an upload answers at once
 * with text_status "pending" and a job extracts the text. Without it (the
 * CLI) the text is extracted in the upload call. */
enum pos_err pos_files_register_jobs(struct pos_files *f, struct pos_jobs *jobs);

/*
 * Moves the attachments sync kept inline in a memory row before issue 21
 * (base64 in `attachments`, up to 8 MiB each; also what the CLI's import
 * writes) into the blob store as attachment rows, then rewrites the row's
 * list from them; their text is extracted like any attachment. Idempotent
 * (a row without inline data is left alone; an attachment of the same name
 * and size made by an interrupted pass is not made twice). No quota check:
 * the bytes were the user's already. *moved (may be NULL) counts new rows.
 */
enum pos_err pos_files_adopt_inline(struct pos_files *f, const char *user_id,
				    const char *memory_id, size_t *moved);
/*
 * pos_files_adopt_inline over the user's email memories in write order,
 * 200 at a time after the seq *after_seq (in: 0 for all; out: the last one
 * done), a page read along the user's index (the pass costs its rows, not
 * the square of them). `stop` (may be NULL) is asked before each page: when
 * it says true the pass ends there, POS_ERR_UNAVAILABLE, and *after_seq is
 * the place to resume from (a job's checkpoint on shutdown).
 */
enum pos_err pos_files_adopt_user(struct pos_files *f, const char *user_id, int64_t *after_seq,
				  bool (*stop)(void *ctx), void *ctx, size_t *moved);
/* The job kind "files.adopt" (payload {} or {"after_seq": N}, the checkpoint
 * a stopped attempt leaves): pos_files_adopt_user for the job's user,
 * stopping between pages when the job must stop; registered by
 * pos_files_register_jobs. */
extern const struct pos_job_kind pos_files_adopt_kind;
/* Queues files.adopt for every user with email memories (once: a queued
 * one is not doubled); the server calls it at start-up, after registering
 * the kinds. */
enum pos_err pos_files_adopt_start(struct pos_files *f);

/*
 * Thumbnail backfill: makes the thumbnails of the user's attachments that
 * never had one tried (made before SQLite migration 19, or whose
 * extraction job has not run), 50 at a time by id, as the
 * extraction job does (stored as blobs, sealed for an encrypted user); a
 * type without thumbnails or a file that cannot be previewed is recorded
 * as having none. Idempotent and resumable (only untried ones are read; a
 * thumbnail that failed for a reason that may pass is tried on the next
 * pass). *made (may be NULL) counts thumbnails stored. POS_ERR_LOCKED
 * while an encrypted user's data is locked; the store's errors.
 */
enum pos_err pos_files_thumbs_user(struct pos_files *f, const char *user_id,
				   bool (*stop)(void *ctx), void *ctx, size_t *made);
/* The job kind "files.thumbs" (payload {}): pos_files_thumbs_user for the
 * job's user, stopping between thumbnails when the job must stop (`stop`,
 * may be NULL: then POS_ERR_UNAVAILABLE; the next pass goes on from the
 * untried ones); registered by pos_files_register_jobs. */
extern const struct pos_job_kind pos_files_thumbs_kind;
/* Queues files.thumbs for every user with an attachment never given a
 * thumbnail (once: a queued one is not doubled); the server calls it at
 * start-up, after registering the kinds. */
enum pos_err pos_files_thumbs_start(struct pos_files *f);

/*
 * The files' share of the encryption pass (docs/ENCRYPTION.md): when the
 * user's data is encrypted (state encrypting or on, key unlocked), seals
 * the attachments stored while it was not — each plain file (and its
 * thumbnail) copied into a sealed blob, streamed, the row re-pointed at it
 * with its name and type sealed, in one transaction — and then removes the
 * plain files nothing refers to any more. 50 at a time by id; `r` (NULL:
 * none) is polled between files. *count (may be NULL) counts attachments
 * sealed. POS_OK with nothing done for a user without encryption;
 * POS_ERR_LOCKED while the data is locked; POS_ERR_UNAVAILABLE when a
 * row changed meanwhile (left plain for the next attempt); POS_ERR_IO, the
 * store's. A plain file that is missing is skipped (logged).
 */
struct pos_job_run;
enum pos_err pos_files_seal_user(struct pos_files *f, const char *user_id,
				 struct pos_job_run *r, size_t *count);
/* The job kind "files.seal" (payload {}): pos_files_seal_user for the
 * job's user; registered by pos_files_register_jobs. */
extern const struct pos_job_kind pos_files_seal_kind;
/* Queues files.seal for every encrypted user who still has attachments
 * stored before their encryption was on (once: a queued one is not
 * doubled); the server calls it at start-up, after registering the kinds.
 * The job waits while the user's data is locked (retried). */
enum pos_err pos_files_seal_start(struct pos_files *f);

/* Writes an attachment as the API shows it (an object) into `w`. */
void pos_files_attachment_json(struct pos_jw *w, const struct pos_attachment *at);

#endif
