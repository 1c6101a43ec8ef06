/*
 * Unit tests for the export formats (src/export/format.c): each writer is
 * fed the same memories and sections into a temp file, and the file is
 * read back with jansson / libarchive and checked field by field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "export/format.h"

static char path[512];

static int setup(void **state)
{
	(void)state;
	const char *t = getenv("POS_TEST_TMP");
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", t ? t : "/tmp");
	if (system(cmd) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/export_format.%d", t ? t : "/tmp", (int)getpid());
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

#define CONTENT "Café \"meeting\", notes\nline two, with = and ✓ 😀"

static void sample(struct pos_memory *m, int i)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->id, sizeof(m->id), "00000000-0000-4000-8000-%012d", i);
	snprintf(m->user_id, sizeof(m->user_id), "11111111-0000-4000-8000-000000000000");
	m->content = CONTENT;
	m->content_len = strlen(CONTENT);
	m->type = i % 2 ? POS_TYPE_EVENT : POS_TYPE_NOTE;
	m->layer = POS_LAYER_REFERENCE;
	m->source = "api";
	m->created_at = 1764000000123456LL + i;
	m->updated_at = 1764000100000000LL;
	m->last_accessed_at = INT64_MIN;
	m->tags_json = "[\"work\",\"über\"]";
	m->importance = 0.1 + i / 10.0;
	m->access_count = 7;
	m->shared_with_json = "[\"b@example.com\"]";
	m->metadata_json = "{\"k\":[1,2,{\"x\":null}]}";
	m->attachments_json = "[]";
	m->related_json = "[\"00000000-0000-4000-8000-000000000009\"]";
	m->external_id = i ? NULL : "ext-1";
}

static const char rel[] = "{\"memory_id\":\"a\",\"related_memory_id\":\"b\",\"type\":\"related\",\"strength\":0.5}";
static const char persona[] = "{\"name\":\"Ada\"}";

/* Writes two memories, one relationship and the persona in `fmt`. */
static void write_sample(enum pos_export_format fmt, enum pos_export_folders folders)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	struct pos_export_header h = {.user_id = "11111111-0000-4000-8000-000000000000",
				      .user_email = "a@example.com",
				      .exported_at = 1765000000000000LL,
				      .filters_json = "{\"type\":\"note\"}",
				      .include_json = "[\"memories\",\"relationships\",\"persona\"]"};
	struct pos_export_writer *w = NULL;
	assert_int_equal(pos_export_writer_open(fmt, fd, &h, folders, &w), POS_OK);
	struct pos_memory m;
	for (int i = 0; i < 2; i++) {
		sample(&m, i);
		assert_int_equal(pos_export_writer_memory(w, &m), POS_OK);
	}
	assert_int_equal(pos_export_writer_record(w, "relationships", rel, strlen(rel)), POS_OK);
	assert_int_equal(pos_export_writer_value(w, "persona", persona, strlen(persona)), POS_OK);
	uint64_t bytes = 0;
	assert_int_equal(pos_export_writer_finish(w, &bytes), POS_OK);
	assert_int_equal(pos_export_writer_items(w), 2);
	pos_export_writer_free(w);
	assert_int_equal((off_t)bytes, lseek(fd, 0, SEEK_END));
	close(fd);
}

static void check_memory(json_t *o, int i)
{
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "content")), CONTENT);
	assert_string_equal(json_string_value(json_object_get(o, "type")), i % 2 ? "event" : "note");
	assert_string_equal(json_string_value(json_object_get(o, "layer")), "reference");
	assert_string_equal(json_string_value(json_object_get(o, "created_at")),
			    i ? "2025-11-24T16:00:00.123457Z" : "2025-11-24T16:00:00.123456Z");
	assert_true(json_is_null(json_object_get(o, "last_accessed_at")));
	assert_string_equal(json_string_value(json_array_get(json_object_get(o, "tags"), 1)), "über");
	assert_true(json_real_value(json_object_get(o, "importance_score")) == 0.1 + i / 10.0);
	assert_int_equal(json_integer_value(json_object_get(o, "access_count")), 7);
	assert_true(json_is_true(json_object_get(o, "is_shared")));
	json_t *md = json_object_get(o, "metadata");
	assert_true(json_is_null(json_object_get(json_array_get(json_object_get(md, "k"), 2), "x")));
	assert_int_equal(json_array_size(json_object_get(o, "related_memory_ids")), 1);
	if (i == 0)
		assert_string_equal(json_string_value(json_object_get(o, "external_id")), "ext-1");
}

static void test_json(void **state)
{
	(void)state;
	write_sample(POS_EXPORT_JSON, POS_EXPORT_BY_TYPE);
	json_error_t e;
	json_t *doc = json_load_file(path, 0, &e);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "format")), "personalos-export");
	assert_int_equal(json_integer_value(json_object_get(doc, "version")), POS_EXPORT_VERSION);
	assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "user"), "email")),
			    "a@example.com");
	json_t *mems = json_object_get(doc, "memories");
	assert_int_equal(json_array_size(mems), 2);
	check_memory(json_array_get(mems, 0), 0);
	check_memory(json_array_get(mems, 1), 1);
	assert_int_equal(json_array_size(json_object_get(doc, "relationships")), 1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "persona"), "name")),
			    "Ada");
	json_decref(doc);
}

static void test_json_empty(void **state)
{
	(void)state;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	struct pos_export_header h = {.user_id = "u", .user_email = "a@example.com"};
	struct pos_export_writer *w = NULL;
	assert_int_equal(pos_export_writer_open(POS_EXPORT_JSON, fd, &h, POS_EXPORT_BY_TYPE, &w), POS_OK);
	assert_int_equal(pos_export_writer_finish(w, NULL), POS_OK);
	pos_export_writer_free(w);
	close(fd);
	json_error_t e;
	json_t *doc = json_load_file(path, 0, &e);
	assert_non_null(doc);
	assert_int_equal(json_array_size(json_object_get(doc, "memories")), 0);
	json_decref(doc);
}

static void test_jsonl(void **state)
{
	(void)state;
	write_sample(POS_EXPORT_JSONL, POS_EXPORT_BY_TYPE);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	char *line = NULL;
	size_t cap = 0;
	const char *want[] = {"header", "memory", "memory", "relationship", "persona"};
	int n = 0;
	while (getline(&line, &cap, f) > 0) {
		assert_true(n < 5);
		json_error_t e;
		json_t *o = json_loads(line, 0, &e);
		assert_non_null(o);
		assert_string_equal(json_string_value(json_object_get(o, "record")), want[n]);
		if (n == 1 || n == 2)
			check_memory(json_object_get(o, "data"), n - 1);
		if (n == 0)
			assert_int_equal(json_integer_value(json_object_get(o, "version")), 1);
		json_decref(o);
		n++;
	}
	assert_int_equal(n, 5);
	free(line);
	fclose(f);
}

static void test_csv(void **state)
{
	(void)state;
	write_sample(POS_EXPORT_CSV, POS_EXPORT_BY_TYPE);
	FILE *f = fopen(path, "rb");
	char buf[4096];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	assert_true(strncmp(buf, "id,created_at,updated_at,type,layer,source,importance_score,tags,"
				 "content,metadata,attachments\r\n", 91) == 0);
	/* quotes doubled, the cell quoted because of the comma and newline */
	assert_non_null(strstr(buf, ",\"Café \"\"meeting\"\", notes\nline two, with = and ✓ 😀\","));
	assert_non_null(strstr(buf, "\"[\"\"work\"\",\"\"über\"\"]\""));
	assert_non_null(strstr(buf, "00000000-0000-4000-8000-000000000001,2025-11-24T16:00:00.123457Z,"));
	/* sections are not carried by csv */
	assert_null(strstr(buf, "Ada"));
}

static void test_markdown(void **state)
{
	(void)state;
	for (int by = 0; by < 2; by++) {
		write_sample(POS_EXPORT_MARKDOWN, by ? POS_EXPORT_BY_DATE : POS_EXPORT_BY_TYPE);
		struct archive *a = archive_read_new();
		archive_read_support_format_zip(a);
		assert_int_equal(archive_read_open_filename(a, path, 10240), ARCHIVE_OK);
		struct archive_entry *e;
		int notes = 0, side = 0;
		while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
			const char *name = archive_entry_pathname(e);
			char data[8192];
			la_ssize_t k = archive_read_data(a, data, sizeof(data) - 1);
			assert_true(k >= 0);
			data[k] = '\0';
			if (strncmp(name, "_personalos/", 12) == 0) {
				json_error_t je;
				json_t *o = json_loads(data, 0, &je);
				assert_non_null(o);
				json_decref(o);
				side++;
				continue;
			}
			const char *want = by ? "2025/11/Caf-meeting-notes-00000000-0000-4000-8000-00000000000"
					      : "note/Caf-meeting-notes-00000000-0000-4000-8000-000000000000.md";
			if (by || notes == 0)
				assert_true(strncmp(name, want, strlen(want)) == 0);
			assert_true(strncmp(data, "---\nid: \"00000000-0000-4000-8000-00000000000", 44) == 0);
			assert_non_null(strstr(data, "\ntags: [\"work\",\"über\"]\n"));
			assert_non_null(strstr(data, "\nmetadata: {\"k\":[1,2,{\"x\":null}]}\n"));
			/* the content follows the front matter byte for byte */
			const char *body = strstr(data, "\n---\n");
			assert_non_null(body);
			assert_string_equal(body + 5, CONTENT);
			notes++;
		}
		assert_int_equal(notes, 2);
		assert_int_equal(side, 3); /* export.json, relationships.json, persona.json */
		archive_read_free(a);
	}
}

static void test_order(void **state)
{
	(void)state;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	struct pos_export_header h = {.user_id = "u", .user_email = "a@example.com"};
	struct pos_export_writer *w = NULL;
	assert_int_equal(pos_export_writer_open(POS_EXPORT_JSON, fd, &h, POS_EXPORT_BY_TYPE, &w), POS_OK);
	assert_int_equal(pos_export_writer_record(w, "nope", "{}", 2), POS_ERR_INVALID_FIELD);
	assert_int_equal(pos_export_writer_value(w, "persona", "{}", 2), POS_OK);
	struct pos_memory m;
	sample(&m, 0);
	/* a memory after the values is a caller's bug, and the writer stays broken */
	assert_int_equal(pos_export_writer_memory(w, &m), POS_ERR_INTERNAL);
	assert_int_equal(pos_export_writer_finish(w, NULL), POS_ERR_IO);
	pos_export_writer_free(w);
	close(fd);
	assert_int_equal(pos_export_format_parse("markdown"), POS_EXPORT_MARKDOWN);
	assert_int_equal(pos_export_format_parse("xml"), -1);
	assert_string_equal(pos_export_format_ext(POS_EXPORT_MARKDOWN), "zip");
}

/* Hostile contents never make a path that leaves the archive's folder:
 * names are ours (folder, slug, id), checked by libarchive's reader and by
 * Python's zipfile, whose every CRC must hold too. */
static void test_markdown_names(void **state)
{
	(void)state;
	static const char *const contents[] = {
		"../../etc/passwd\nsecond line", "/etc/shadow", "..\\..\\windows\\system32",
		"", "\n\n", "....//....//x", "Zürich 東京 ✓ report", "a/./b/../c", "%2e%2e%2f",
		"-- -- --", "COM1", "\x01\x02\x7f"};
	for (int by = 0; by < 2; by++) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		struct pos_export_header h = {.user_id = "u", .user_email = "a@example.com",
					      .exported_at = 1765000000000000LL};
		struct pos_export_writer *w = NULL;
		assert_int_equal(pos_export_writer_open(POS_EXPORT_MARKDOWN, fd, &h,
							by ? POS_EXPORT_BY_DATE : POS_EXPORT_BY_TYPE, &w),
				 POS_OK);
		size_t n = sizeof(contents) / sizeof(contents[0]);
		for (size_t i = 0; i < n; i++) {
			struct pos_memory m;
			sample(&m, (int)i);
			m.content = contents[i];
			m.content_len = strlen(contents[i]);
			m.created_at = i % 2 ? INT64_MIN : -86400000000LL * (int64_t)i; /* none, 1969 */
			assert_int_equal(pos_export_writer_memory(w, &m), POS_OK);
		}
		assert_int_equal(pos_export_writer_finish(w, NULL), POS_OK);
		pos_export_writer_free(w);
		close(fd);
		struct archive *a = archive_read_new();
		archive_read_support_format_zip(a);
		assert_int_equal(archive_read_open_filename(a, path, 10240), ARCHIVE_OK);
		struct archive_entry *e;
		size_t notes = 0;
		while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
			const char *name = archive_entry_pathname(e);
			assert_true(name[0] != '/');
			assert_null(strstr(name, ".."));
			assert_null(strchr(name, '\\'));
			assert_null(strstr(name, "//"));
			notes += strncmp(name, "_personalos/", 12) != 0;
		}
		assert_int_equal(notes, n);
		archive_read_free(a);
		char cmd[1200];
		snprintf(cmd, sizeof(cmd),
			 "python3 -c 'import sys, zipfile\n"
			 "z = zipfile.ZipFile(sys.argv[1])\n"
			 "assert z.testzip() is None\n"
			 "assert len(z.namelist()) == %zu\n"
			 "assert all(\"..\" not in n and not n.startswith(\"/\") for n in z.namelist())\n"
			 "' '%s'",
			 n + 1, path);
		assert_int_equal(system(cmd), 0);
	}
}

/* reads from a string of repeated bytes (a file of 200 KiB: several chunks) */
static enum pos_err pattern_read(void *ctx, uint64_t off, void *buf, size_t n, size_t *got)
{
	uint64_t size = *(const uint64_t *)ctx;
	size_t k = off >= size ? 0 : (size - off < n ? (size_t)(size - off) : n);
	for (size_t i = 0; i < k; i++)
		((unsigned char *)buf)[i] = (unsigned char)((off + i) * 7 + 3);
	*got = k;
	return POS_OK;
}

/* Attachment files beside their note: hostile names never leave the
 * note's .files/ folder, ids not of our shape are not copied, a name
 * given twice is told apart, the bytes come back whole, and the front
 * matter's `path` is where they are. */
static void test_markdown_files(void **state)
{
	(void)state;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	struct pos_export_header h = {.user_id = "u", .exported_at = 1765000000000000LL};
	struct pos_export_writer *w = NULL;
	assert_int_equal(pos_export_writer_open(POS_EXPORT_MARKDOWN, fd, &h, POS_EXPORT_BY_TYPE, &w),
			 POS_OK);
	struct pos_memory m;
	sample(&m, 0);
	m.attachments_json =
		"[{\"id\":\"aaaaaaaa-0000-4000-8000-000000000001\",\"name\":\"../../etc/passwd\"},"
		"{\"id\":\"aaaaaaaa-0000-4000-8000-000000000002\",\"name\":\"..\"},"
		"{\"id\":\"aaaaaaaa-0000-4000-8000-000000000003\",\"name\":\"a\\\\b\\u0001c\"},"
		"{\"id\":\"aaaaaaaa-0000-4000-8000-000000000004\",\"name\":\"file\"},"
		"{\"id\":\"../../x\",\"name\":\"evil\"},{\"name\":\"no id\"},7]";
	assert_int_equal(pos_export_writer_memory(w, &m), POS_OK);
	uint64_t size = 200 * 1024;
	size_t n = 0;
	for (const char *id; (id = pos_export_writer_file_id(w, n)); n++)
		assert_int_equal(pos_export_writer_file(w, n, size, pattern_read, &size, m.updated_at),
				 POS_OK);
	assert_int_equal(n, 4);
	assert_null(pos_export_writer_file_id(w, 4));
	assert_int_equal(pos_export_writer_finish(w, NULL), POS_OK);
	pos_export_writer_free(w);
	close(fd);
	char cmd[2400];
	snprintf(cmd, sizeof(cmd),
		 "python3 -c 'import sys, zipfile, json\n"
		 "z = zipfile.ZipFile(sys.argv[1])\n"
		 "assert z.testzip() is None\n"
		 "names = z.namelist()\n"
		 "assert all(\"..\" not in n.split(\"/\") and \"\\\\\" not in n for n in names), names\n"
		 "note = [n for n in names if n.endswith(\".md\")][0]\n"
		 "fm = [l for l in z.read(note).decode().split(\"\\n\") if l.startswith(\"attachments: \")][0]\n"
		 "atts = [a for a in json.loads(fm[13:]) if isinstance(a, dict) and \"path\" in a]\n"
		 "assert len(atts) == 4, atts\n"
		 "want = bytes(((i * 7 + 3) & 255) for i in range(200 * 1024))\n"
		 "base = note[:-3].split(\"/\")[1]\n"
		 "paths = set()\n"
		 "for a in atts:\n"
		 "  assert a[\"path\"].startswith(base + \".files/\"), a\n"
		 "  assert a[\"path\"].count(\"/\") == 1, a\n"
		 "  assert z.read(\"note/\" + a[\"path\"]) == want\n"
		 "  paths.add(a[\"path\"])\n"
		 "assert len(paths) == 4, sorted(paths)\n"
		 "assert base + \".files/aaaaaaaa-0000-4000-8000-000000000004-file\" in paths, paths\n"
		 "assert len(names) == 1 + 1 + 4, names\n"
		 "' '%s'",
		 path);
	assert_int_equal(system(cmd), 0);
}

/* A side section of many records is streamed into its file (not held in
 * memory): 20,000 relationships come back whole. */
static void test_markdown_long_section(void **state)
{
	(void)state;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	struct pos_export_header h = {.user_id = "u", .user_email = "a@example.com",
				      .exported_at = 1765000000000000LL};
	struct pos_export_writer *w = NULL;
	assert_int_equal(pos_export_writer_open(POS_EXPORT_MARKDOWN, fd, &h, POS_EXPORT_BY_TYPE, &w),
			 POS_OK);
	char r[200];
	for (int i = 0; i < 20000; i++) {
		int k = snprintf(r, sizeof(r),
				 "{\"memory_id\":\"00000000-0000-4000-8000-%012d\",\"related_memory_id\":"
				 "\"b\",\"type\":\"related\",\"strength\":0.5}",
				 i);
		assert_int_equal(pos_export_writer_record(w, "relationships", r, (size_t)k), POS_OK);
	}
	assert_int_equal(pos_export_writer_record(w, "conversations", "{\"id\":\"c\"}", 10), POS_OK);
	assert_int_equal(pos_export_writer_value(w, "settings", "{}", 2), POS_OK);
	uint64_t bytes = 0;
	assert_int_equal(pos_export_writer_finish(w, &bytes), POS_OK);
	pos_export_writer_free(w);
	assert_int_equal((off_t)bytes, lseek(fd, 0, SEEK_END));
	close(fd);
	char cmd[1200];
	snprintf(cmd, sizeof(cmd),
		 "python3 -c 'import sys, zipfile, json\n"
		 "z = zipfile.ZipFile(sys.argv[1])\n"
		 "assert z.testzip() is None\n"
		 "r = json.loads(z.read(\"_personalos/relationships.json\"))\n"
		 "assert len(r) == 20000 and r[19999][\"memory_id\"].endswith(\"19999\")\n"
		 "assert json.loads(z.read(\"_personalos/conversations.json\")) == [{\"id\": \"c\"}]\n"
		 "assert z.getinfo(\"_personalos/settings.json\").date_time[0] == 2025\n"
		 "' '%s'",
		 path);
	assert_int_equal(system(cmd), 0);
}

/* A write error (a closed fd: disk gone) is POS_ERR_IO, not a crash. */
static void test_write_error(void **state)
{
	(void)state;
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	close(fds[0]);
	signal(SIGPIPE, SIG_IGN);
	struct pos_export_header h = {.user_id = "u", .user_email = "a@example.com"};
	struct pos_export_writer *w = NULL;
	assert_int_equal(pos_export_writer_open(POS_EXPORT_JSONL, fds[1], &h, POS_EXPORT_BY_TYPE, &w),
			 POS_OK);
	assert_int_equal(pos_export_writer_finish(w, NULL), POS_ERR_IO);
	pos_export_writer_free(w);
	close(fds[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json),      cmocka_unit_test(test_json_empty),
		cmocka_unit_test(test_jsonl),     cmocka_unit_test(test_csv),
		cmocka_unit_test(test_markdown),  cmocka_unit_test(test_order),
		cmocka_unit_test(test_write_error),
		cmocka_unit_test(test_markdown_names), cmocka_unit_test(test_markdown_long_section),
		cmocka_unit_test(test_markdown_files),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
