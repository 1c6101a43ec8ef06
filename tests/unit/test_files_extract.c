/* Unit tests for src/files/extract.c (in process, as the extraction child
 * runs it) and src/files/multipart.c: each sample of tests/data/files
 * yields its phrase, PDF pages are separated, and the hostile samples fail
 * with the limit that stops them. Run from the repository root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vips/vips.h>

#include "files/extract.h"
#include "files/files.h"
#include "files/multipart.h"
#include "files/thumb.h"

static const struct pos_extract_limits LIM = {
	.timeout_s = 30, .pages = 100, .pixels = 20000000, .memory_mib = 1024,
	.text_max = POS_EXTRACT_TEXT_MAX,
};

static uint8_t *slurp(const char *name, size_t *len)
{
	char path[256];
	snprintf(path, sizeof(path), "tests/data/files/%s", name);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *p = malloc((size_t)n + 1);
	assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return p;
}

static enum pos_err run(const char *name, const char *mime, struct pos_buf *out,
			unsigned *pages, struct pos_error *err)
{
	size_t len;
	uint8_t *data = slurp(name, &len);
	pos_buf_init(out, POS_EXTRACT_TEXT_MAX + 16);
	pos_error_clear(err);
	enum pos_err rc = pos_extract_text(&LIM, mime, data, len, out, pages, err);
	free(data);
	return rc;
}

static void expect_text(const char *name, const char *mime, const char *phrase)
{
	struct pos_buf out;
	unsigned pages;
	struct pos_error err;
	assert_int_equal(run(name, mime, &out, &pages, &err), POS_OK);
	assert_non_null(out.data);
	assert_non_null(memmem(out.data, out.len, phrase, strlen(phrase)));
	pos_buf_free(&out);
}

static void samples_give_their_phrases(void **state)
{
	expect_text("notes.docx",
		    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
		    "saffron greenhouse inspection");
	expect_text("letter.eml", "message/rfc822", "copper kettle auction close");
	expect_text("photo.jpg", "image/jpeg", "Taken: 2021:07:14");
	/* a PDF page that is only an image is rendered and OCR'd */
	expect_text("scanned.pdf", "application/pdf", "walnut bookshelf");
}

/* A message forwarded inside a mail (a message/rfc822 part): its text
 * follows the mail's own under "[forwarded: NAME]". */
static void forwarded_messages_are_read(void **state)
{
	(void)state;
	static const char fwd[] =
		"From: Ed <ed@example.org>\r\nSubject: Fwd: the lantern\r\n"
		"Date: Thu, 5 Mar 2026 08:00:00 +0000\r\nMessage-ID: <fwd-1@example.org>\r\n"
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
		"--b\r\nContent-Type: text/plain\r\n\r\nForwarding this one.\r\n"
		"--b\r\nContent-Type: message/rfc822\r\n\r\n"
		"From: Di <di@example.org>\r\nSubject: Where the lantern is\r\n"
		"Date: Wed, 4 Mar 2026 08:00:00 +0000\r\nMessage-ID: <lantern-1@example.org>\r\n\r\n"
		"The brass lantern waits in the attic.\r\n--b--\r\n";
	struct pos_buf out;
	unsigned pages;
	struct pos_error err;
	pos_error_clear(&err);
	pos_buf_init(&out, POS_EXTRACT_TEXT_MAX + 16);
	assert_int_equal(pos_extract_text(&LIM, "message/rfc822", (const uint8_t *)fwd,
					  sizeof(fwd) - 1, &out, &pages, &err),
			 POS_OK);
	assert_non_null(out.data);
	const char *own = memmem(out.data, out.len, "Forwarding this one.", 20);
	const char *mark = memmem(out.data, out.len, "[forwarded: Where the lantern is.eml]", 37);
	const char *inner = memmem(out.data, out.len, "brass lantern waits", 19);
	assert_non_null(own);
	assert_non_null(mark);
	assert_non_null(inner);
	assert_true(own < mark && mark < inner);
	pos_buf_free(&out);
}

static void pdf_pages_are_separated(void **state)
{
	struct pos_buf out;
	unsigned pages;
	struct pos_error err;
	assert_int_equal(run("report.pdf", "application/pdf", &out, &pages, &err), POS_OK);
	assert_int_equal(pages, 4);
	/* the phrase is after the third page break */
	const char *p = out.data;
	for (int i = 0; i < 3; i++) {
		p = memchr(p, '\f', out.len - (size_t)(p - out.data));
		assert_non_null(p);
		p++;
	}
	assert_non_null(strstr(p, "pelican migration budget"));
	pos_buf_free(&out);
	/* the page limit */
	struct pos_extract_limits lim = LIM;
	lim.pages = 3;
	size_t len;
	uint8_t *data = slurp("report.pdf", &len);
	pos_buf_init(&out, 1 << 20);
	assert_int_equal(pos_extract_text(&lim, "application/pdf", data, len, &out, &pages, &err),
			 POS_ERR_CONTENT_TOO_LARGE);
	pos_buf_free(&out);
	free(data);
}

static void hostile_files_fail(void **state)
{
	struct pos_buf out;
	unsigned pages;
	struct pos_error err;
	assert_int_equal(run("bomb.docx", "application/zip", &out, &pages, &err),
			 POS_ERR_CONTENT_TOO_LARGE);
	assert_non_null(strstr(err.message, "zip bomb"));
	pos_buf_free(&out);
	assert_int_equal(run("truncated.pdf", "application/pdf", &out, &pages, &err),
			 POS_ERR_INVALID_FIELD);
	pos_buf_free(&out);
	assert_int_equal(run("truncated.png", "image/png", &out, &pages, &err),
			 POS_ERR_INVALID_FIELD);
	pos_buf_free(&out);
	/* the pixel limit is checked from the header */
	struct pos_extract_limits lim = LIM;
	lim.pixels = 1000;
	size_t len;
	uint8_t *data = slurp("screenshot.png", &len);
	pos_buf_init(&out, 1 << 20);
	assert_int_equal(pos_extract_text(&lim, "image/png", data, len, &out, &pages, &err),
			 POS_ERR_CONTENT_TOO_LARGE);
	assert_non_null(strstr(err.message, "pixels"));
	pos_buf_free(&out);
	free(data);
	/* unsupported types */
	pos_buf_init(&out, 16);
	assert_int_equal(pos_extract_text(&LIM, "application/x-executable", (const uint8_t *)"x", 1,
					  &out, &pages, &err), POS_ERR_INVALID_FIELD);
	pos_buf_free(&out);
}

static void text_is_capped_and_cleaned(void **state)
{
	struct pos_extract_limits lim = LIM;
	lim.text_max = 10;
	struct pos_buf out;
	unsigned pages;
	struct pos_error err;
	pos_buf_init(&out, 64);
	const char in[] = "ab\xff" "cd\0ef ghijklmnop";
	assert_int_equal(pos_extract_text(&lim, "text/plain", (const uint8_t *)in, sizeof(in) - 1,
					  &out, &pages, &err), POS_OK);
	assert_int_equal(out.len, 10);
	assert_memory_equal(out.data, "ab?cdef gh", 10);
	pos_buf_free(&out);
}

static void names_and_types(void **state)
{
	char out[POS_FILE_NAME_MAX + 1];
	pos_files_clean_name("../../etc/\"pass\"wd", out);
	assert_string_equal(out, "_pass_wd");
	pos_files_clean_name("C:\\Users\\me\\report.pdf", out);
	assert_string_equal(out, "report.pdf");
	pos_files_clean_name("..", out);
	assert_string_equal(out, "file");
	pos_files_clean_name("dir/", out);
	assert_string_equal(out, "file");
	assert_string_equal(pos_files_safe_type("image/png"), "image/png");
	assert_string_equal(pos_files_safe_type("text/html"), "application/octet-stream");
	assert_string_equal(pos_files_safe_type("image/svg+xml"), "application/octet-stream");
	assert_string_equal(pos_files_safe_type("text/plain"), "text/plain; charset=utf-8");
}

struct mem {
	const char *p;
	size_t n;
};

/* The width and height of a PNG from its IHDR. */
static void png_size(const struct pos_buf *b, uint32_t *w, uint32_t *h)
{
	assert_true(b->len > 24);
	assert_memory_equal(b->data, "\x89PNG\r\n\x1a\n", 8);
	const unsigned char *p = (const unsigned char *)b->data + 16;
	*w = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	*h = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
}

static void thumbnails(void **state)
{
	(void)state;
	static const struct {
		const char *name, *mime;
		uint32_t w, h; /* 0: only "fits in 256" */
	} cases[] = {{"screenshot.png", "image/png", 256, 40},
		     {"photo.jpg", "image/jpeg", 64, 48},
		     {"report.pdf", "application/pdf", 0, 0}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len;
		uint8_t *data = slurp(cases[i].name, &len);
		struct pos_buf out;
		pos_buf_init(&out, POS_THUMB_MAX);
		struct pos_error err;
		pos_error_clear(&err);
		assert_int_equal(pos_thumb_render(cases[i].mime, data, len, LIM.pixels, &out, &err),
				 POS_OK);
		uint32_t w, h;
		png_size(&out, &w, &h);
		if (cases[i].w) {
			assert_int_equal(w, cases[i].w);
			assert_int_equal(h, cases[i].h);
		}
		assert_true(w > 0 && w <= POS_THUMB_SIDE && h > 0 && h <= POS_THUMB_SIDE);
		/* over the pixel limit: refused before decoding */
		pos_buf_free(&out);
		pos_buf_init(&out, POS_THUMB_MAX);
		assert_int_equal(pos_thumb_render(cases[i].mime, data, len, 100, &out, &err),
				 POS_ERR_CONTENT_TOO_LARGE);
		assert_int_equal(out.len, 0);
		pos_buf_free(&out);
		free(data);
	}
	struct pos_buf out;
	pos_buf_init(&out, POS_THUMB_MAX);
	struct pos_error err;
	pos_error_clear(&err);
	assert_false(pos_thumb_supported("text/plain"));
	assert_false(pos_thumb_supported("image/svg+xml"));
	assert_int_equal(pos_thumb_render("text/plain", (const uint8_t *)"x", 1, LIM.pixels, &out, &err),
			 POS_ERR_INVALID_FIELD);
	assert_false(pos_thumb_supported("image/bmp")); /* libvips reads BMP only through ImageMagick */
	size_t len;
	uint8_t *data = slurp("truncated.png", &len);
	assert_int_equal(pos_thumb_render("image/png", data, len, LIM.pixels, &out, &err),
			 POS_ERR_INVALID_FIELD);
	assert_int_equal(out.len, 0);
	free(data);
	/* the bytes must be of the sniffed type: a PNG called a JPEG is refused */
	data = slurp("screenshot.png", &len);
	assert_int_equal(pos_thumb_render("image/jpeg", data, len, LIM.pixels, &out, &err),
			 POS_ERR_INVALID_FIELD);
	assert_int_equal(out.len, 0);
	free(data);
	pos_buf_free(&out);
}

/* WebP, TIFF and GIF (made here by libvips' own savers) have thumbnails too. */
static void thumbnails_of_other_formats(void **state)
{
	(void)state;
	assert_int_equal(VIPS_INIT("test"), 0);
	static const struct {
		const char *suffix, *mime;
	} cases[] = {{".webp", "image/webp"}, {".tif", "image/tiff"}, {".gif", "image/gif"}};
	VipsImage *im = NULL;
	assert_int_equal(vips_black(&im, 600, 300, "bands", 3, NULL), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		void *buf = NULL;
		size_t len = 0;
		assert_int_equal(vips_image_write_to_buffer(im, cases[i].suffix, &buf, &len, NULL), 0);
		struct pos_buf out;
		pos_buf_init(&out, POS_THUMB_MAX);
		struct pos_error err;
		pos_error_clear(&err);
		assert_int_equal(pos_thumb_render(cases[i].mime, buf, len, LIM.pixels, &out, &err),
				 POS_OK);
		uint32_t w, h;
		png_size(&out, &w, &h);
		assert_int_equal(w, 256);
		assert_int_equal(h, 128);
		pos_buf_free(&out);
		/* over the pixel limit from the header */
		pos_buf_init(&out, POS_THUMB_MAX);
		assert_int_equal(pos_thumb_render(cases[i].mime, buf, len, 600 * 300 - 1, &out, &err),
				 POS_ERR_CONTENT_TOO_LARGE);
		pos_buf_free(&out);
		g_free(buf);
	}
	g_object_unref(im);
}

static long mem_read(void *ctx, uint64_t off, void *buf, size_t n)
{
	struct mem *m = ctx;
	if (off >= m->n)
		return 0;
	if (n > m->n - off)
		n = (size_t)(m->n - off);
	memcpy(buf, m->p + off, n);
	return (long)n;
}

static void multipart_finds_the_file(void **state)
{
	char b[72];
	assert_true(pos_multipart_boundary("multipart/form-data; boundary=\"a b\"", b));
	assert_string_equal(b, "a b");
	assert_true(pos_multipart_boundary("multipart/form-data;boundary=XyZ; charset=x", b));
	assert_string_equal(b, "XyZ");
	assert_false(pos_multipart_boundary("application/json", b));
	assert_false(pos_multipart_boundary("multipart/form-data", b));
	const char body[] = "preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"n\"\r\n\r\n"
			    "v\r\n--XyZ\r\nContent-Disposition: form-data; name=\"f\"; "
			    "filename=\"a\\\"b.txt\"\r\n\r\nline1\r\n--XyZx\r\n--XyZ--\r\n";
	struct mem m = {body, sizeof(body) - 1};
	uint64_t off, n;
	char name[64];
	assert_int_equal(pos_multipart_file(mem_read, &m, m.n, "XyZ", &off, &n, name, sizeof(name),
					    NULL), POS_OK);
	assert_string_equal(name, "a\"b.txt");
	assert_int_equal(n, strlen("line1\r\n--XyZx"));
	assert_memory_equal(body + off, "line1\r\n--XyZx", n);
	const char nofile[] = "--XyZ\r\nContent-Disposition: form-data; name=\"n\"\r\n\r\nv\r\n--XyZ--";
	struct mem m2 = {nofile, sizeof(nofile) - 1};
	assert_int_equal(pos_multipart_file(mem_read, &m2, m2.n, "XyZ", &off, &n, name,
					    sizeof(name), NULL), POS_ERR_INVALID_REQUEST);
	const char unterminated[] = "--XyZ\r\nContent-Disposition: form-data; filename=\"x\"\r\n\r\nabc";
	struct mem m3 = {unterminated, sizeof(unterminated) - 1};
	assert_int_equal(pos_multipart_file(mem_read, &m3, m3.n, "XyZ", &off, &n, name,
					    sizeof(name), NULL), POS_ERR_INVALID_REQUEST);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(samples_give_their_phrases),
		cmocka_unit_test(pdf_pages_are_separated),
		cmocka_unit_test(hostile_files_fail),
		cmocka_unit_test(text_is_capped_and_cleaned),
		cmocka_unit_test(names_and_types),
		cmocka_unit_test(multipart_finds_the_file),
		cmocka_unit_test(thumbnails),
		cmocka_unit_test(forwarded_messages_are_read),
		cmocka_unit_test(thumbnails_of_other_formats),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
