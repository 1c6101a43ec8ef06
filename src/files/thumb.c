/*
 * thumb.c — thumbnails of images and first PDF pages with libvips
 * (thumb.h).
 *
 * libvips is started lazily, once per process (the extraction child, or a
 * test), with one worker thread, no operation cache, its loaders of
 * untrusted formats blocked, and then every loader blocked but the few
 * this module needs. Its PDF loader is poppler, the library the text
 * extractor already runs over the same bytes in the same confined child,
 * so it is let through explicitly.
 */
#include "files/thumb.h"

#include <string.h>
#include <vips/vips.h>

/* The sniffed types with thumbnails and the loader (class name prefix)
 * each must be read by: the bytes' own format is checked against the
 * sniffed type, never left to libvips to pick among all it knows. */
static const struct {
	const char *mime, *loader;
} kinds[] = {
	{"application/pdf", "VipsForeignLoadPdf"}, {"image/png", "VipsForeignLoadPng"},
	{"image/jpeg", "VipsForeignLoadJpeg"},     {"image/tiff", "VipsForeignLoadTiff"},
	{"image/webp", "VipsForeignLoadWebp"},     {"image/gif", "VipsForeignLoadNsgif"},
};

static const char *loader_of(const char *mime)
{
	for (size_t i = 0; mime && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(mime, kinds[i].mime) == 0)
			return kinds[i].loader;
	return NULL;
}

bool pos_thumb_supported(const char *mime)
{
	return loader_of(mime) != NULL;
}

static void quiet(const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer data)
{
	(void)domain, (void)level, (void)msg, (void)data;
}

/* Starts libvips once (vips_init does nothing the second time, and the
 * settings below are the same every time). */
static bool vips_ready(void)
{
	if (VIPS_INIT("personalos") != 0)
		return false;
	/* warnings would end up before the child's own error line */
	g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO,
			  quiet, NULL);
	vips_concurrency_set(1);
	vips_cache_set_max(0);
	vips_block_untrusted_set(TRUE);
	vips_operation_block_set("VipsForeignLoad", TRUE);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		vips_operation_block_set(kinds[i].loader, FALSE);
	return true;
}

enum pos_err pos_thumb_render(const char *mime, const uint8_t *data, size_t len,
			      uint64_t max_pixels, struct pos_buf *out, struct pos_error *err)
{
	const char *want = loader_of(mime);
	if (!want)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, NULL, "no thumbnail for this type");
	if (!vips_ready())
		return pos_error_set(err, POS_ERR_UNAVAILABLE, NULL, "libvips cannot start");
	vips_error_clear();
	bool pdf = strcmp(mime, "application/pdf") == 0;
	const char *kind = pdf ? "PDF" : "image";
	const char *found = len ? vips_foreign_find_load_buffer(data, len) : NULL;
	if (!found || strncmp(found, want, strlen(want)) != 0) {
		vips_error_clear();
		return pos_error_set(err, POS_ERR_INVALID_FIELD, NULL, "not a readable %s", kind);
	}
	/* the header first (a PDF's first page at 72 dpi): a 30k x 30k image
	 * is refused before a pixel is decoded */
	VipsImage *head = vips_image_new_from_buffer(data, len, "", "access",
						     VIPS_ACCESS_SEQUENTIAL, NULL);
	if (!head) {
		vips_error_clear();
		return pos_error_set(err, POS_ERR_INVALID_FIELD, NULL, "not a readable %s", kind);
	}
	uint64_t w = (uint64_t)vips_image_get_width(head), h = (uint64_t)vips_image_get_height(head);
	g_object_unref(head);
	if (w == 0 || h == 0 || w * h > max_pixels)
		return pos_error_set(err, POS_ERR_CONTENT_TOO_LARGE, NULL,
				     pdf ? "the first page is larger than extract_pixels"
					 : "the image has more pixels than extract_pixels");
	VipsImage *t = NULL;
	/* shrink-on-load where the format has it (JPEG, WebP, PDF); a
	 * truncated file fails rather than giving half a picture (the loader's
	 * own option: 8.14's thumbnail does not pass its fail_on to it) */
	if (vips_thumbnail_buffer((void *)data, len, &t, POS_THUMB_SIDE, "height", POS_THUMB_SIDE,
				  "size", VIPS_SIZE_DOWN, "option_string", "fail_on=truncated",
				  NULL)) {
		vips_error_clear();
		return pos_error_set(err, POS_ERR_INVALID_FIELD, NULL, "not a readable %s", kind);
	}
	if (pdf && vips_image_hasalpha(t)) { /* a page is shown on white */
		VipsImage *flat = NULL;
		VipsArrayDouble *white = vips_array_double_newv(1, 255.0);
		int r = vips_flatten(t, &flat, "background", white, NULL);
		vips_area_unref(VIPS_AREA(white));
		g_object_unref(t);
		if (r) {
			vips_error_clear();
			return pos_error_set(err, POS_ERR_NOMEM, NULL, "cannot flatten the page");
		}
		t = flat;
	}
	void *png = NULL;
	size_t plen = 0;
	int r = vips_pngsave_buffer(t, &png, &plen, NULL);
	g_object_unref(t);
	enum pos_err rc = POS_OK;
	if (r || !png)
		rc = pos_error_set(err, POS_ERR_INVALID_FIELD, NULL, "not a readable %s", kind);
	else if (pos_buf_add(out, png, plen) != POS_OK)
		rc = pos_error_set(err, POS_ERR_NOMEM, NULL, "the thumbnail is too large");
	g_free(png);
	vips_error_clear();
	return rc;
}
