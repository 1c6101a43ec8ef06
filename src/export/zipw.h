/*
 * zipw.h — a streaming zip writer whose memory does not grow with the
 * number of entries: the Markdown zip export (format.h) of any size.
 *
 * A zip ends with its central directory, one record per entry, so a writer
 * that streams has to keep those records somewhere until the last entry is
 * written. libarchive's writer keeps them in memory (~190 bytes a file);
 * this one appends them to a spool file (an unlinked temp file beside the
 * export, pos_zipw_spool) and copies it to the output at the end. The
 * spool is enciphered with a random key the writer keeps in memory only
 * (XChaCha20): the names hold a slug of each note's first line, and a
 * sealed export (export/seal.h) must put no plaintext on disk. Memory
 * is one entry's compressed data (pos_zipw_add), the deflate state and
 * three 64 KiB buffers, whatever the number of entries.
 *
 * The format (PKWARE APPNOTE 6.3.x): each entry is a local header, the
 * data, raw deflate (zlib) or stored when deflate would not make it
 * smaller, CRC-32; names are UTF-8 (flag bit 11); the modification time
 * is a DOS time (UTC) plus the extended-timestamp extra field (0x5455,
 * Unix seconds); the central directory records a Unix mode of 0644. ZIP64
 * records are written when they are needed: more than 65,534 entries, or
 * an offset, a size or the directory at or past 4 GiB. Entries of
 * pos_zipw_add have their sizes in the local header; streamed entries
 * (pos_zipw_begin) are deflated, with a ZIP64 data descriptor after the
 * data. The output is written strictly in order (no seeks), so it may be
 * a pipe or a sealing sink (export/seal.h).
 *
 * Names are ours, never a user's: a name that is empty, longer than
 * POS_ZIPW_NAME_MAX, absolute, with a backslash, a NUL, a "." or ".."
 * component or an empty component is refused (POS_ERR_INVALID_FIELD), so
 * an archive this writes never unpacks outside its folder.
 *
 * Errors: POS_ERR_IO (the sink or the spool failed: disk full),
 * POS_ERR_NOMEM, POS_ERR_INVALID_FIELD (a bad name), POS_ERR_INTERNAL
 * (calls out of order: an add or finish while a streamed entry is open).
 * After an error other than INVALID_FIELD the writer only accepts free.
 *
 * Thread-safety: a writer has one owner at a time.
 */
#ifndef POS_EXPORT_ZIPW_H
#define POS_EXPORT_ZIPW_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define POS_ZIPW_NAME_MAX 4096 /* bytes of one entry's name */

/* Where the archive's bytes go: write all `n` bytes or fail (POS_ERR_IO). */
typedef enum pos_err (*pos_zipw_write_fn)(void *ctx, const void *p, size_t n);

struct pos_zipw;

/*
 * A new, unlinked, read-write temp file in the folder of the file open on
 * `near_fd` (found through /proc/self/fd; O_TMPFILE), or in TMPDIR when
 * `near_fd` is -1 or not a file in a folder (a pipe). The caller owns the
 * returned fd; -1 on failure. Nothing is ever created at a path a user
 * chose, and nothing is left behind: the file has no name.
 */
int pos_zipw_spool(int near_fd);

/*
 * A writer onto `wr(ctx, ...)` (ctx borrowed), spooling its directory
 * to `spool_fd` (an empty read-write file, e.g. from pos_zipw_spool),
 * which the writer owns from this call on, on success or failure: free
 * closes it. `level` is zlib's (0–9, or -1 for its default).
 */
enum pos_err pos_zipw_open(pos_zipw_write_fn wr, void *ctx, int spool_fd, int level,
			   struct pos_zipw **out);

/*
 * One whole file: `name` (UTF-8, '/' between folders), `len` bytes of
 * `data` (NULL when len is 0), modified at `mtime_us` (microseconds since
 * the epoch; POS_TIME_NONE or a time before 1980 gives 1980-01-01). The
 * data is compressed in memory first, so the local header carries the
 * sizes and the CRC.
 */
enum pos_err pos_zipw_add(struct pos_zipw *z, const char *name, const void *data, size_t len,
			  int64_t mtime_us);

/* A file of unknown size, streamed: begin, any number of writes, end. One
 * streamed entry is open at a time. */
enum pos_err pos_zipw_begin(struct pos_zipw *z, const char *name, int64_t mtime_us);
enum pos_err pos_zipw_write(struct pos_zipw *z, const void *p, size_t n);
enum pos_err pos_zipw_end(struct pos_zipw *z);

/* Writes the central directory and the end records. The output is a
 * complete zip after it returns POS_OK. */
enum pos_err pos_zipw_finish(struct pos_zipw *z);

/* Bytes of the archive so far (up to 64 KiB of them wait in a buffer
 * until the next 64 KiB or finish); entries written so far. */
uint64_t pos_zipw_bytes(const struct pos_zipw *z);
uint64_t pos_zipw_entries(const struct pos_zipw *z);

/* Frees the writer and closes the spool; NULL is fine. An unfinished
 * archive is left as it is (the caller deletes it). */
void pos_zipw_free(struct pos_zipw *z);

#endif
