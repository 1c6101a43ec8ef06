/*
 * extract.c — the in-process extractors of extract.h, by type: text,
 * HTML, e-mail, office documents (zip + XML), PDF and images. Runs in the
 * extraction child (extract_spawn.c) or a unit test, never in the server.
 */
#include "files/extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <libexif/exif-data.h>
#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <cairo.h>
#include <poppler.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <tesseract/capi.h>
#include <leptonica/allheaders.h>

#include "sync/mail.h"

struct sink {
	struct pos_buf *out;
	size_t max;
	bool full;
};

/* Appends valid UTF-8 from s (invalid bytes and NULs become '?' or go). */
static void put(struct sink *k, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < n && !k->full;) {
		unsigned char c = p[i];
		size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
		bool ok = len > 0 && i + len <= n;
		for (size_t j = 1; ok && j < len; j++)
			ok = (p[i + j] & 0xC0) == 0x80;
		if (!ok) {
			len = 1;
			c = '?';
		}
		if (k->out->len + len > k->max) {
			k->full = true;
			return;
		}
		if (c == 0) {
			i++;
			continue;
		}
		if (pos_buf_add(k->out, ok ? (const char *)p + i : "?", ok ? len : 1) != POS_OK) {
			k->full = true;
			return;
		}
		i += len;
	}
}

static void puts_k(struct sink *k, const char *s)
{
	put(k, s, strlen(s));
}

bool pos_extract_supported(const char *mime)
{
	static const char *const types[] = {
		"text/plain", "text/markdown", "text/csv", "text/html", "message/rfc822",
		"application/pdf", "image/png", "image/jpeg", "image/tiff", "image/webp",
		"image/gif", "image/bmp", "application/zip",
		"application/vnd.openxmlformats-officedocument.wordprocessingml.document",
		"application/vnd.openxmlformats-officedocument.presentationml.presentation",
		"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
		"application/vnd.oasis.opendocument.text",
		"application/vnd.oasis.opendocument.presentation",
		"application/vnd.oasis.opendocument.spreadsheet",
		"text/calendar",
	};
	if (!mime)
		return false;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(mime, types[i]) == 0)
			return true;
	return false;
}

/* ---- HTML and XML ---------------------------------------------------- */

static void html_text(struct sink *k, const uint8_t *data, size_t len)
{
	size_t n = 0;
	char *t = pos_html_to_text((const char *)data, len, &n);
	if (t) {
		put(k, t, n);
		free(t);
	}
}

static bool block_name(const char *name)
{
	static const char *const names[] = {"p", "h", "si", "tr", "br", "row", "title",
					    "sp", "list-item", "tab"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

static void xml_walk(struct sink *k, xmlNode *n, unsigned depth)
{
	for (; n && !k->full; n = n->next) {
		if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
			if (n->content)
				puts_k(k, (const char *)n->content);
		} else if (n->type == XML_ELEMENT_NODE && depth < 256) {
			xml_walk(k, n->children, depth + 1);
			const char *name = (const char *)n->name;
			if (strcmp(name, "tab") == 0)
				puts_k(k, "\t");
			else if (block_name(name))
				puts_k(k, "\n");
			else if (strcmp(name, "c") == 0 || strcmp(name, "table-cell") == 0)
				puts_k(k, " ");
		}
	}
}

/* Text of an XML part; false when it is not well-formed. Entities are not
 * substituted and nothing is fetched (no XML_PARSE_NOENT, XML_PARSE_NONET;
 * libxml2's own amplification limits stay on without XML_PARSE_HUGE). */
static bool xml_text(struct sink *k, const char *data, size_t len)
{
	if (len > INT32_MAX)
		return false;
	xmlDoc *doc = xmlReadMemory(data, (int)len, "part.xml", NULL,
				    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
				    XML_PARSE_NOBLANKS);
	if (!doc)
		return false;
	xml_walk(k, xmlDocGetRootElement(doc), 0);
	xmlFreeDoc(doc);
	return true;
}

/* ---- office documents (zip + XML) ------------------------------------ */

struct part {
	char *data;
	size_t len;
	long order;      /* slide/sheet number for sorting */
};

static int part_cmp(const void *a, const void *b)
{
	const struct part *x = a, *y = b;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Whether an entry holds text we read, and its order among pages. */
static bool wanted_entry(const char *name, long *order)
{
	*order = 0;
	if (strcmp(name, "word/document.xml") == 0 || strcmp(name, "content.xml") == 0 ||
	    strcmp(name, "xl/sharedStrings.xml") == 0)
		return true;
	const char *pre = "ppt/slides/slide";
	size_t pl = strlen(pre);
	if (strncmp(name, pre, pl) == 0) {
		char *end;
		long v = strtol(name + pl, &end, 10);
		if (end != name + pl && strcmp(end, ".xml") == 0 && v >= 0) {
			*order = v;
			return true;
		}
	}
	return false;
}

static enum pos_err office_text(const struct pos_extract_limits *lim, struct sink *k,
				const uint8_t *data, size_t len, unsigned *pages,
				struct pos_error *err)
{
	struct archive *ar = archive_read_new();
	if (!ar)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	archive_read_support_format_zip(ar);
	enum pos_err rc = POS_OK;
	struct part parts[512];
	size_t nparts = 0;
	uint64_t total = 0, entries = 0;
	if (archive_read_open_memory(ar, data, len) != ARCHIVE_OK) {
		rc = pos_error_set(err, POS_ERR_INVALID_FIELD, NULL, "not a readable zip archive");
		goto out;
	}
	struct archive_entry *e;
	int r;
	while ((r = archive_read_next_header(ar, &e)) == ARCHIVE_OK) {
		if (++entries > POS_EXTRACT_ZIP_ENTRIES) {
			rc = pos_error_set(err, POS_ERR_CONTENT_TOO_LARGE, NULL,
					   "the archive has more than %d entries",
					   POS_EXTRACT_ZIP_ENTRIES);
			goto out;
		}
		const char *name = archive_entry_pathname(e);
		long order;
		bool want = name && wanted_entry(name, &order) && nparts < 512;
		struct pos_buf b;
		pos_buf_init(&b, (size_t)POS_EXTRACT_ZIP_TOTAL);
		char chunk[65536];
		for (;;) {
			la_ssize_t got = archive_read_data(ar, chunk, sizeof(chunk));
			if (got < 0) {
				pos_buf_free(&b);
				rc = pos_error_set(err, POS_ERR_INVALID_FIELD, NULL,
						   "a damaged entry in the archive");
				goto out;
			}
			if (got == 0)
				break;
			total += (uint64_t)got;
			/* the decompression limits count every entry read */
			if (total > POS_EXTRACT_ZIP_TOTAL ||
			    (total > (1u << 20) && total / POS_EXTRACT_ZIP_RATIO > len)) {
				pos_buf_free(&b);
				rc = pos_error_set(err, POS_ERR_CONTENT_TOO_LARGE, NULL,
						   "the archive unpacks to more than %d times its size"
						   " or %llu bytes (a zip bomb?)",
						   POS_EXTRACT_ZIP_RATIO,
						   (unsigned long long)POS_EXTRACT_ZIP_TOTAL);
				goto out;
			}
			if (want && pos_buf_add(&b, chunk, (size_t)got) != POS_OK) {
				pos_buf_free(&b);
				rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
				goto out;
			}
		}
		if (want) {
			parts[nparts].data = b.data;
			parts[nparts].len = b.len;
			parts[nparts].order = order;
			nparts++;
		} else {
			pos_buf_free(&b);
		}
	}
	if (r != ARCHIVE_EOF) {
		rc = pos_error_set(err, POS_ERR_INVALID_FIELD, NULL, "a damaged zip archive");
		goto out;
	}
	if (nparts == 0) {
		rc = pos_error_set(err, POS_ERR_INVALID_FIELD, NULL,
				   "no document text in this archive");
		goto out;
	}
	qsort(parts, nparts, sizeof(parts[0]), part_cmp);
	*pages = 0;
	for (size_t i = 0; i < nparts && !k->full; i++) {
		if (i)
			puts_k(k, "\f");
		if (!xml_text(k, parts[i].data ? parts[i].data : "", parts[i].len)) {
			rc = pos_error_set(err, POS_ERR_INVALID_FIELD, NULL,
					   "a document part is not well-formed XML");
			goto out;
		}
		(*pages)++;
	}
	(void)lim;
out:
	for (size_t i = 0; i < nparts; i++)
		free(parts[i].data);
	archive_read_free(ar);
	return rc;
}

/* ---- e-mail ------------------------------------------------------------ */

#define FORWARD_DEPTH 4 /* forwarded messages inside forwarded messages read */

/* The message's text, then each message forwarded in it (a message/rfc822
 * part) under "[forwarded: NAME]", to FORWARD_DEPTH levels. */
static enum pos_err eml_text_at(struct sink *k, const uint8_t *data, size_t len, int depth,
				struct pos_error *err)
{
	struct pos_mail m;
	char reason[128];
	if (!pos_mail_parse((const char *)data, len, POS_MAIL_BODY_MAX, NULL, &m, reason,
			    sizeof(reason)))
		return depth ? POS_OK /* an unreadable inner message adds nothing */
			     : pos_error_set(err, POS_ERR_INVALID_FIELD, NULL,
					     "not a readable message: %s", reason);
	puts_k(k, m.content ? m.content : "");
	enum pos_err rc = POS_OK;
	for (size_t i = 0; !rc && depth < FORWARD_DEPTH && i < m.n_files; i++) {
		if (!m.forwarded[i])
			continue;
		puts_k(k, "\n\n[forwarded: ");
		puts_k(k, m.files[i].name);
		puts_k(k, "]\n");
		rc = eml_text_at(k, m.files[i].data, m.files[i].len, depth + 1, err);
	}
	pos_mail_free(&m);
	return rc;
}

static enum pos_err eml_text(struct sink *k, const uint8_t *data, size_t len,
			     struct pos_error *err)
{
	pos_mail_init();
	return eml_text_at(k, data, len, 0, err);
}

/* ---- OCR --------------------------------------------------------------- */

/* Tesseract over pixels (`bpp` bytes each, rows `stride` bytes apart), or
 * over a leptonica image when `pix` is given. */
static enum pos_err ocr(struct sink *k, const unsigned char *px, int w, int h, int bpp,
			int stride, PIX *pix, struct pos_error *err)
{
	enum pos_err rc = POS_OK;
	TessBaseAPI *api = TessBaseAPICreate();
	if (!api || TessBaseAPIInit3(api, NULL, "eng") != 0) {
		rc = pos_error_set(err, POS_ERR_UNAVAILABLE, NULL,
				   "OCR is not available (tesseract-ocr-eng missing?)");
		goto out;
	}
	if (pix)
		TessBaseAPISetImage2(api, pix);
	else
		TessBaseAPISetImage(api, px, w, h, bpp, stride);
	char *t = TessBaseAPIGetUTF8Text(api);
	if (t) {
		puts_k(k, t);
		TessDeleteText(t);
	}
out:
	if (api) {
		TessBaseAPIEnd(api);
		TessBaseAPIDelete(api);
	}
	return rc;
}

/* ---- PDF --------------------------------------------------------------- */

/* Pages of a PDF without a text layer that are rendered and OCR'd, at most
 * (OCR takes about a second a page). */
#define PDF_OCR_PAGES 20
#define PDF_OCR_DPI 200.0

static bool blank(const char *t)
{
	size_t n = 0;
	for (; *t; t++)
		n += (unsigned char)*t > ' ';
	return n < 3;
}

/* A page that is only an image (a scan): render it and OCR it. */
static enum pos_err pdf_page_ocr(const struct pos_extract_limits *lim, struct sink *k,
				 PopplerPage *p, struct pos_error *err)
{
	double pw, ph;
	poppler_page_get_size(p, &pw, &ph);
	double scale = PDF_OCR_DPI / 72.0;
	int w = (int)(pw * scale), h = (int)(ph * scale);
	if (w <= 0 || h <= 0 || w > 20000 || h > 20000 || (uint64_t)w * (uint64_t)h > lim->pixels)
		return pos_error_set(err, POS_ERR_CONTENT_TOO_LARGE, NULL,
				     "a scanned page is larger than extract_pixels");
	cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
	if (cairo_surface_status(surf) != CAIRO_STATUS_SUCCESS) {
		cairo_surface_destroy(surf);
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	}
	cairo_t *cr = cairo_create(surf);
	cairo_set_source_rgb(cr, 1, 1, 1);
	cairo_paint(cr);
	cairo_scale(cr, scale, scale);
	poppler_page_render(p, cr);
	cairo_destroy(cr);
	cairo_surface_flush(surf);
	/* to 8-bit grey: Tesseract reads 4-byte pixels as RGBA, cairo's are xRGB */
	unsigned char *grey = malloc((size_t)w * (size_t)h);
	enum pos_err rc;
	if (!grey) {
		rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	} else {
		const unsigned char *src = cairo_image_surface_get_data(surf);
		int stride = cairo_image_surface_get_stride(surf);
		for (int y = 0; y < h; y++) {
			const uint32_t *row = (const uint32_t *)(const void *)(src + (size_t)y * stride);
			for (int x = 0; x < w; x++) {
				uint32_t v = row[x];
				grey[(size_t)y * w + x] = (unsigned char)((((v >> 16) & 0xff) +
									   ((v >> 8) & 0xff) +
									   (v & 0xff)) / 3);
			}
		}
		rc = ocr(k, grey, w, h, 1, w, NULL, err);
		free(grey);
	}
	cairo_surface_destroy(surf);
	return rc;
}

static enum pos_err pdf_text(const struct pos_extract_limits *lim, struct sink *k,
			     const uint8_t *data, size_t len, unsigned *pages,
			     struct pos_error *err)
{
	GBytes *bytes = g_bytes_new_static(data, len);
	GError *gerr = NULL;
	PopplerDocument *doc = poppler_document_new_from_bytes(bytes, NULL, &gerr);
	g_bytes_unref(bytes);
	if (!doc) {
		if (gerr)
			g_error_free(gerr);
		return pos_error_set(err, POS_ERR_INVALID_FIELD, NULL, "not a readable PDF");
	}
	int n = poppler_document_get_n_pages(doc);
	enum pos_err rc = POS_OK;
	if (n < 0 || (unsigned)n > lim->pages) {
		rc = pos_error_set(err, POS_ERR_CONTENT_TOO_LARGE, NULL,
				   "the PDF has more than %u pages (extract_pages)", lim->pages);
		goto out;
	}
	*pages = 0;
	unsigned ocr_pages = 0;
	for (int i = 0; i < n && !k->full; i++) {
		if (i)
			puts_k(k, "\f");
		PopplerPage *p = poppler_document_get_page(doc, i);
		if (p) {
			char *t = poppler_page_get_text(p);
			if (t && !blank(t)) {
				puts_k(k, t);
			} else if (ocr_pages < PDF_OCR_PAGES) {
				ocr_pages++;
				rc = pdf_page_ocr(lim, k, p, err);
			}
			g_free(t);
			g_object_unref(p);
			if (rc)
				goto out;
		}
		(*pages)++;
	}
out:
	g_object_unref(doc);
	return rc;
}

/* ---- images ------------------------------------------------------------ */

/* "Taken: 2024:05:17 10:11:12" from the EXIF DateTimeOriginal, if any. */
static void exif_date(struct sink *k, const uint8_t *data, size_t len)
{
	if (len > UINT32_MAX)
		return;
	ExifData *ed = exif_data_new_from_data(data, (unsigned)len);
	if (!ed)
		return;
	ExifEntry *e = exif_content_get_entry(ed->ifd[EXIF_IFD_EXIF], EXIF_TAG_DATE_TIME_ORIGINAL);
	if (!e)
		e = exif_content_get_entry(ed->ifd[EXIF_IFD_0], EXIF_TAG_DATE_TIME);
	if (e) {
		char v[64];
		exif_entry_get_value(e, v, sizeof(v));
		if (v[0]) {
			puts_k(k, "Taken: ");
			puts_k(k, v);
			puts_k(k, "\n");
		}
	}
	exif_data_unref(ed);
}

static enum pos_err image_text(const struct pos_extract_limits *lim, struct sink *k,
			       const uint8_t *data, size_t len, struct pos_error *err)
{
	l_int32 w = 0, h = 0, bps = 0, spp = 0, fmt = 0;
	setMsgSeverity(L_SEVERITY_NONE);
	/* the header first: a 30k x 30k image is refused before decoding */
	if (pixReadHeaderMem(data, len, &fmt, &w, &h, &bps, &spp, NULL) != 0 || w <= 0 || h <= 0)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, NULL, "not a readable image");
	if ((uint64_t)w * (uint64_t)h > lim->pixels)
		return pos_error_set(err, POS_ERR_CONTENT_TOO_LARGE, NULL,
				     "the image has %lld pixels, more than extract_pixels (%llu)",
				     (long long)w * h, (unsigned long long)lim->pixels);
	exif_date(k, data, len);
	PIX *pix = pixReadMem(data, len);
	if (!pix)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, NULL, "not a readable image");
	enum pos_err rc = ocr(k, NULL, 0, 0, 0, 0, pix, err);
	pixDestroy(&pix);
	return rc;
}

/* ---- dispatch ---------------------------------------------------------- */

static bool is_office(const char *mime)
{
	return strncmp(mime, "application/vnd.openxmlformats-officedocument.", 46) == 0 ||
	       strncmp(mime, "application/vnd.oasis.opendocument.", 35) == 0 ||
	       strcmp(mime, "application/zip") == 0;
}

enum pos_err pos_extract_text(const struct pos_extract_limits *lim, const char *mime,
			      const uint8_t *data, size_t len, struct pos_buf *out,
			      unsigned *pages, struct pos_error *err)
{
	struct sink k = {.out = out, .max = lim->text_max};
	*pages = 1;
	if (!mime || !pos_extract_supported(mime))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, NULL,
				     "no text extractor for this type");
	if (strncmp(mime, "text/", 5) == 0 && strcmp(mime, "text/html") != 0) {
		put(&k, (const char *)data, len);
		return POS_OK;
	}
	if (strcmp(mime, "text/html") == 0) {
		html_text(&k, data, len);
		return POS_OK;
	}
	if (strcmp(mime, "message/rfc822") == 0)
		return eml_text(&k, data, len, err);
	if (strcmp(mime, "application/pdf") == 0)
		return pdf_text(lim, &k, data, len, pages, err);
	if (strncmp(mime, "image/", 6) == 0)
		return image_text(lim, &k, data, len, err);
	if (is_office(mime))
		return office_text(lim, &k, data, len, pages, err);
	return pos_error_set(err, POS_ERR_INVALID_FIELD, NULL, "no text extractor for this type");
}
