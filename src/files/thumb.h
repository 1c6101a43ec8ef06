/*
 * thumb.h — small previews of attachments (issue 21): an image (PNG, JPEG,
 * TIFF, WebP, GIF) or the first page of a PDF, scaled by libvips to fit
 * POS_THUMB_SIDE pixels and encoded as PNG in memory.
 *
 * Like text extraction this parses hostile files, so the server runs it in
 * the confined extraction child (files/extract.h: pos_extract_spawn with
 * type "thumb:<type>"); pos_thumb_render is that child's work. libvips is
 * started on the first call (one worker thread, no cache, only the loaders
 * of the types above allowed, and the bytes must be of the sniffed type).
 * The pixel limit is checked from the image header (a PDF: its first page
 * at 72 dpi) before anything is decoded or rendered.
 *
 * Thread-safety: meant for one thread of a child process (or a test).
 */
#ifndef POS_FILES_THUMB_H
#define POS_FILES_THUMB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

#define POS_THUMB_SIDE 256                 /* longest side of a thumbnail */
#define POS_THUMB_MAX ((size_t)1 << 20)    /* bytes of one encoded thumbnail */

/* Whether a thumbnail can be made for the sniffed type `mime`. */
bool pos_thumb_supported(const char *mime);

/*
 * Renders the thumbnail of `data` (`len` bytes of sniffed type `mime`) as
 * a PNG into `out`. `max_pixels` bounds the source image (width x height)
 * and a PDF page rendered at 72 dpi. POS_ERR_CONTENT_TOO_LARGE past it,
 * POS_ERR_INVALID_FIELD for a file that cannot be read or a type without
 * thumbnails, POS_ERR_NOMEM; `err` says why.
 */
enum pos_err pos_thumb_render(const char *mime, const uint8_t *data, size_t len,
			      uint64_t max_pixels, struct pos_buf *out, struct pos_error *err);

#endif
