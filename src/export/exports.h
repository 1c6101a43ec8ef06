/*
 * exports.h — export and import as jobs (jobs/jobs.h), for the API:
 *
 *   export.memories  writes <data>/exports/<user id>/<job id>.<ext> with
 *                    pos_export_write; its result is {file, format, items,
 *                    bytes, expires_at}; then queues export.expire
 *   export.expire    runs at expires_at and deletes the file
 *   import.file      reads <data>/imports/<user id>/<job id>.upload with
 *                    pos_import_run (per-item errors as the job's item
 *                    errors); the upload is deleted when the job ends
 *
 * Folders are 0700 and files 0600; names are made of the ids only, never
 * of user input. A status or download of an id that is not the caller's
 * is POS_ERR_NOT_FOUND, exactly like a missing one.
 *
 * Thread-safety: every function may be called from any thread.
 */
#ifndef POS_EXPORT_EXPORTS_H
#define POS_EXPORT_EXPORTS_H

#include <jansson.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/err.h"
#include "export/format.h"
#include "export/reader.h"
#include "memory/memory.h"

struct pos_jobs;
struct pos_exports;
struct pos_blob_reader;

struct pos_exports_config {
	const char *data_dir;
	int64_t expiry_us;          /* a finished export's file lives this long */
	/* the account's quotas, checked before each batch an import writes
	 * (import.h's hook); NULL: none */
	enum pos_err (*quota)(void *ctx, const char *user_id, int64_t memories, int64_t bytes,
			      struct pos_error *err);
	void *quota_ctx;
	/* opens an attachment of the user for a markdown export to carry
	 * (export.h's open_file); NULL: the zip holds no files */
	enum pos_err (*open_file)(void *files_ctx, struct pos_arena *a, const char *user_id,
				  const char *attachment_id, struct pos_blob_reader **rd,
				  uint64_t *size, int64_t *created_at);
	/* a Markdown import's attachment file for the imported memory
	 * (import.h's attach); NULL: the files are not read back */
	enum pos_err (*attach_file)(void *files_ctx, const char *user_id, const char *memory_id,
				    int fd, uint64_t len, const char *name, struct pos_error *err);
	void *files_ctx;
};

/* The service over `svc` and `jobs` (borrowed; they outlive it). Registers
 * its job kinds: call before pos_jobs_start. */
enum pos_err pos_exports_new(const struct pos_memsvc *svc, struct pos_jobs *jobs,
			     const struct pos_exports_config *cfg, struct pos_exports **out);
void pos_exports_free(struct pos_exports *x);

/* Validates an export request body (pos_export_request_parse) and queues
 * it; id_out gets the job id. A `passphrase` goes into the job's stored
 * payload only sealed under a server key (docs/EXPORT.md). */
enum pos_err pos_exports_start(struct pos_exports *x, struct pos_arena *a, const char *user_id,
			       const json_t *body, char id_out[POS_UUID_SIZE],
			       struct pos_error *err);

/* GET /api/export/status/{id}. Strings in `a`. */
struct pos_export_status {
	char id[POS_UUID_SIZE];
	const char *status;         /* queued | running | done | failed | expired */
	double progress;            /* 0..1 */
	uint64_t items, bytes;
	const char *format;
	int64_t created_at, expires_at; /* expires_at POS_TIME_NONE until done */
	const char *error;          /* NULL when none */
};
enum pos_err pos_exports_status(struct pos_exports *x, struct pos_arena *a, const char *user_id,
				const char *id, struct pos_export_status *out);

/*
 * Opens a finished export for download: *fd (the caller closes it), its
 * size, media type and a file name for Content-Disposition. NOT_FOUND for
 * another user's or an unknown id, POS_ERR_CONFLICT for one not done
 * (yet, or failed: the status says which), POS_ERR_EXPIRED past its
 * expiry (the file is deleted then, if the expire job has not yet).
 */
enum pos_err pos_exports_open(struct pos_exports *x, struct pos_arena *a, const char *user_id,
			      const char *id, int *fd, uint64_t *size, const char **mime,
			      const char **filename, struct pos_error *err);

/* Stores the upload (the first `len` bytes of the file `fd`, read from
 * offset 0 in chunks, never whole in memory; the caller keeps the fd) and
 * queues its import as `format`; id_out gets the job id. `passphrase`
 * (NULL: none) opens a sealed file. POS_ERR_INVALID_FIELD for an unknown
 * format or a passphrase not of 8 to 1024 bytes; POS_ERR_INVALID_REQUEST
 * for an empty upload; POS_ERR_IO when it cannot be stored (nothing is
 * left behind). */
enum pos_err pos_exports_import(struct pos_exports *x, const char *user_id, const char *format,
				const char *passphrase, int fd, uint64_t len,
				char id_out[POS_UUID_SIZE], struct pos_error *err);

#endif
