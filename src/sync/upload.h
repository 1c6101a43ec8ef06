/*
 * upload.h — files users upload for sync (an mbox, an .ics calendar, a zip
 * of Markdown notes): stored under <data>/uploads/<user id>/ (folder 0700,
 * files 0600) and then synced like any file source, read through
 * sync/fsroot.h beneath that folder. Internal to src/sync; the service's
 * entry point is pos_sync_upload (sync.h).
 *
 * Zips are unpacked with libarchive under caps checked before anything is
 * written (a first pass reads every entry): at most POS_UPLOAD_ZIP_ENTRIES
 * entries, POS_UPLOAD_ZIP_ENTRY_MAX bytes per entry and
 * POS_UPLOAD_ZIP_TOTAL_MAX in all once uncompressed, and no more than
 * POS_UPLOAD_ZIP_RATIO times the zip's own size; no absolute paths, no
 * "..", no symbolic or hard links, no devices. Only *.md files are kept.
 *
 * Thread-safety: no shared state.
 */
#ifndef POS_SYNC_UPLOAD_H
#define POS_SYNC_UPLOAD_H

#include <stddef.h>

#include "base/err.h"
#include "sync/fsroot.h"

#define POS_UPLOAD_ZIP_ENTRIES 10000
#define POS_UPLOAD_ZIP_ENTRY_MAX (16u << 20)   /* a note: markdown_dir's own cap */
#define POS_UPLOAD_ZIP_TOTAL_MAX (256u << 20)
#define POS_UPLOAD_ZIP_RATIO 100               /* uncompressed / compressed */

/*
 * Writes `data` to the new file `name` (one component) beneath `dir`,
 * mode 0600, never over an existing file or through a link.
 */
enum pos_err pos_upload_write(const struct pos_fsroot *dir, const char *name,
			      const void *data, size_t len, struct pos_error *err);

/*
 * Unpacks the zip `data` into the new folder `name` beneath `dir` (0700),
 * keeping the *.md files. Refusals, before anything is written:
 * POS_ERR_INVALID_FIELD (not a zip, a bad path, a link or device entry),
 * POS_ERR_CONTENT_TOO_LARGE (a cap above). *kept gets the notes written.
 */
enum pos_err pos_upload_unzip(const struct pos_fsroot *dir, const char *name,
			      const void *data, size_t len, size_t *kept,
			      struct pos_error *err);

/*
 * Only the checks of pos_upload_unzip, nothing written: every entry and
 * byte of the zip `data` is looked at against the caps above (for other
 * readers of uploaded zips: export/reader.c). Same refusals.
 */
enum pos_err pos_upload_zip_check(const void *data, size_t len, struct pos_error *err);

#endif
