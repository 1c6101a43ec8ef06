/*
 * thumb.c — thumbnails of images and first PDF pages (thumb.h).
 */
#include "files/thumb.h"

#include <cairo.h>
#include <leptonica/allheaders.h>
#include <poppler.h>
#include <string.h>

bool pos_thumb_supported(const char *mime)
{
	if (!mime)
		return false;
	static const char *const ok[] = {"application/pdf", "image/png", "image/jpeg",
					 "image/tiff", "image/webp", "image/gif", "image/bmp",
					 "image/x-ms-bmp"};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(mime, ok[i]) == 0)
			return true;
	return false;
}

static cairo_status_t png_write(void *closure, const unsigned char *data, unsigned int length)
{
	return pos_buf_add(closure, data, length) == POS_OK ? CAIRO_STATUS_SUCCESS
							     : CAIRO_STATUS_WRITE_ERROR;
}

static enum pos_err encode(cairo_surface_t *surf, struct pos_buf *out, struct pos_error *err)
{
	cairo_surface_flush(surf);
	if (cairo_surface_write_to_png_stream(surf, png_write, out) != CAIRO_STATUS_SUCCESS)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, "cannot encode the thumbnail");
	return POS_OK;
}

/* The scale that fits w x h into POS_THUMB_SIDE (never above 1). */
static double fit(double w, double h)
{
	double s = POS_THUMB_SIDE / (w > h ? w : h);
	return s < 1 ? s : 1;
}

static enum pos_err pdf_thumb(const uint8_t *data, size_t len, uint64_t max_pixels,
			      struct pos_buf *out, struct pos_error *err)
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
	enum pos_err rc = POS_OK;
	PopplerPage *p = poppler_document_get_n_pages(doc) > 0 ? poppler_document_get_page(doc, 0)
							      : NULL;
	if (!p) {
		rc = pos_error_set(err, POS_ERR_INVALID_FIELD, NULL, "the PDF has no pages");
		goto out;
	}
	double pw, ph;
	poppler_page_get_size(p, &pw, &ph);
	if (!(pw >= 1 && ph >= 1) || pw > 20000 || ph > 20000 || pw * ph > (double)max_pixels) {
		rc = pos_error_set(err, POS_ERR_CONTENT_TOO_LARGE, NULL,
				   "the first page is larger than extract_pixels");
		goto out;
	}
	double s = fit(pw, ph);
	int w = (int)(pw * s + 0.5), h = (int)(ph * s + 0.5);
	cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w > 0 ? w : 1,
							   h > 0 ? h : 1);
	if (cairo_surface_status(surf) != CAIRO_STATUS_SUCCESS) {
		cairo_surface_destroy(surf);
		rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
		goto out;
	}
	cairo_t *cr = cairo_create(surf);
	cairo_set_source_rgb(cr, 1, 1, 1);
	cairo_paint(cr);
	cairo_scale(cr, s, s);
	poppler_page_render(p, cr);
	cairo_destroy(cr);
	rc = encode(surf, out, err);
	cairo_surface_destroy(surf);
out:
	if (p)
		g_object_unref(p);
	g_object_unref(doc);
	return rc;
}

static enum pos_err image_thumb(const uint8_t *data, size_t len, uint64_t max_pixels,
				struct pos_buf *out, struct pos_error *err)
{
	l_int32 w = 0, h = 0, bps = 0, spp = 0, fmt = 0;
	setMsgSeverity(L_SEVERITY_NONE);
	/* the header first: a 30k x 30k image is refused before decoding */
	if (pixReadHeaderMem(data, len, &fmt, &w, &h, &bps, &spp, NULL) != 0 || w <= 0 || h <= 0)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, NULL, "not a readable image");
	if ((uint64_t)w * (uint64_t)h > max_pixels)
		return pos_error_set(err, POS_ERR_CONTENT_TOO_LARGE, NULL,
				     "the image has more pixels than extract_pixels");
	PIX *pix = pixReadMem(data, len);
	if (!pix)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, NULL, "not a readable image");
	PIX *rgb = pixConvertTo32(pix);
	pixDestroy(&pix);
	double s = rgb ? fit(pixGetWidth(rgb), pixGetHeight(rgb)) : 1;
	PIX *small = rgb ? (s < 1 ? pixScale(rgb, (l_float32)s, (l_float32)s) : pixClone(rgb))
			 : NULL;
	pixDestroy(&rgb);
	if (!small)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	int tw = pixGetWidth(small), th = pixGetHeight(small);
	cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, tw, th);
	enum pos_err rc;
	if (cairo_surface_status(surf) != CAIRO_STATUS_SUCCESS) {
		rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	} else {
		cairo_surface_flush(surf);
		unsigned char *dst = cairo_image_surface_get_data(surf);
		int stride = cairo_image_surface_get_stride(surf);
		for (int y = 0; y < th; y++) {
			uint32_t *row = (uint32_t *)(void *)(dst + (size_t)y * stride);
			for (int x = 0; x < tw; x++) {
				l_int32 r = 0, g = 0, b = 0;
				l_uint32 v = 0;
				pixGetPixel(small, x, y, &v);
				extractRGBValues(v, &r, &g, &b);
				row[x] = ((uint32_t)r << 16) | ((uint32_t)g << 8) | (uint32_t)b;
			}
		}
		cairo_surface_mark_dirty(surf);
		rc = encode(surf, out, err);
	}
	cairo_surface_destroy(surf);
	pixDestroy(&small);
	return rc;
}

enum pos_err pos_thumb_render(const char *mime, const uint8_t *data, size_t len,
			      uint64_t max_pixels, struct pos_buf *out, struct pos_error *err)
{
	if (!pos_thumb_supported(mime))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, NULL, "no thumbnail for this type");
	if (strcmp(mime, "application/pdf") == 0)
		return pdf_thumb(data, len, max_pixels, out, err);
	return image_thumb(data, len, max_pixels, out, err);
}
