/*
 * extract.h — text from files, offline (issue 21): plain text, Markdown,
 * CSV, HTML (libxml2), PDF (poppler-glib, page by page), DOCX/ODT/PPTX/XLSX
 * (libarchive + libxml2), e-mail (.eml, GMime) and images (Tesseract OCR,
 * with the EXIF date from libexif).
 *
 * Parsing hostile files is done in a child process: pos_extract_spawn
 * runs `personalos extract-text TYPE` (the running binary, /proc/self/exe)
 * with the plaintext on its standard input (a memfd, so an encrypted
 * user's file never touches the disk in clear), under rlimits (address
 * space, CPU, no files written, few descriptors) and a wall-clock limit
 * after which it is killed. The child calls pos_extract_text, which keeps
 * page, pixel, entry-count and decompression-ratio limits itself.
 *
 * Output: UTF-8 text, pages separated by '\f' in the child's output;
 * pos_extract_spawn turns that into "[page N]" markers when there is more
 * than one page, so a search match shows the page it came from.
 *
 * Thread-safety: pos_extract_spawn may run on many threads at once; the
 * in-process pos_extract_text is meant for one thread of a child process
 * (or a test).
 */
#ifndef POS_FILES_EXTRACT_H
#define POS_FILES_EXTRACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "files/blob.h"

/* Bytes of text kept from one file: a memory's content is at most 1 MiB. */
#define POS_EXTRACT_TEXT_MAX ((size_t)1000 * 1000)
#define POS_EXTRACT_ZIP_ENTRIES 5000
#define POS_EXTRACT_ZIP_TOTAL ((uint64_t)256 << 20) /* bytes unpacked, all entries */
#define POS_EXTRACT_ZIP_RATIO 100                  /* unpacked / packed */

struct pos_extract_limits {
	unsigned timeout_s;     /* wall clock of the child */
	unsigned pages;         /* PDF pages read at most */
	uint64_t pixels;        /* width x height of an image at most */
	unsigned memory_mib;    /* RLIMIT_AS of the child */
	size_t text_max;        /* bytes of text kept */
};

/* Whether there is an extractor for the sniffed type `mime`. */
bool pos_extract_supported(const char *mime);

/*
 * Extracts the text of `data` (`len` bytes of sniffed type `mime`) into
 * `out`, pages separated by '\f', at most lim->text_max bytes (the rest is
 * dropped); *pages gets the pages read (1 for a file without pages).
 * POS_ERR_CONTENT_TOO_LARGE past a limit (pages, pixels, zip entries or
 * ratio), POS_ERR_INVALID_FIELD for a file that cannot be parsed or an
 * unsupported type, POS_ERR_NOMEM; `err` says why.
 */
enum pos_err pos_extract_text(const struct pos_extract_limits *lim, const char *mime,
			      const uint8_t *data, size_t len, struct pos_buf *out,
			      unsigned *pages, struct pos_error *err);

/*
 * pos_extract_text in a child process, over the `size` bytes of blob `rd`.
 * POS_ERR_UNAVAILABLE when the child was killed (time, memory, CPU) or
 * could not start, else as pos_extract_text.
 */
enum pos_err pos_extract_spawn(const struct pos_extract_limits *lim, const char *mime,
			       struct pos_blob_reader *rd, uint64_t size, struct pos_buf *out,
			       unsigned *pages, struct pos_error *err);

/*
 * The thumbnail of the blob (files/thumb.h) made by the same confined
 * child (`personalos extract-text thumb:TYPE ...`): a PNG of at most
 * POS_THUMB_SIDE pixels a side into `out` (give it POS_THUMB_MAX). Errors
 * as pos_extract_spawn; POS_ERR_INVALID_FIELD for a type without one.
 */
enum pos_err pos_extract_thumbnail(const struct pos_extract_limits *lim, const char *mime,
				   struct pos_blob_reader *rd, uint64_t size, struct pos_buf *out,
				   struct pos_error *err);
/* The child's main: `personalos extract-text TYPE PAGES PIXELS TEXT_MAX`,
 * the file on standard input; TYPE "thumb:<type>" writes a PNG thumbnail
 * instead of text. Exit 0 with the text on standard output, else
 * 2 (a limit), 3 (cannot parse), 4 (other) with a message as the last
 * line on standard error (a library's warnings may come before it; the
 * server reports that line). */
int pos_extract_child_main(int argc, char **argv);

#endif
