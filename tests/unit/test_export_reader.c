/*
 * Unit tests for the import readers (src/export/reader.c, reader_zip.c):
 * the foreign exports in tests/data/import (ChatGPT, Claude, Keep,
 * Obsidian, CSV) in their real shapes, the PersonalOS formats read back
 * from what format.c writes (lossless), and bad input: a truncated zip, a
 * zip bomb, a path traversal entry, the wrong format, broken JSON at a
 * known item. Runs from the repository root; zips are made with python3.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export/format.h"
#include "export/reader.h"

static char dir[512];

static int setup(void **state)
{
	(void)state;
	const char *t = getenv("POS_TEST_TMP");
	if (t)
		mkdir(t, 0700);
	snprintf(dir, sizeof(dir), "%s/reader_XXXXXX", t ? t : "/tmp");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

struct items {
	json_t *v[64];
	enum pos_import_kind kind[64];
	size_t n;
	enum pos_err end;
	struct pos_error err;
};

static void read_all(enum pos_import_format fmt, const char *path, struct items *it)
{
	memset(it, 0, sizeof(*it));
	pos_error_clear(&it->err);
	struct pos_import_reader *r = NULL;
	it->end = pos_import_reader_open(fmt, path, &r, &it->err);
	if (it->end)
		return;
	struct pos_import_item item;
	while ((it->end = pos_import_reader_next(r, &item, &it->err)) == POS_OK) {
		assert_true(it->n < 64);
		assert_int_equal(item.position, it->n);
		it->kind[it->n] = item.kind;
		it->v[it->n++] = item.data;
	}
	pos_import_reader_free(r);
}

static void items_free(struct items *it)
{
	for (size_t i = 0; i < it->n; i++)
		json_decref(it->v[i]);
}

static const char *s(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));
	return v ? v : "";
}

static void chatgpt(void **state)
{
	(void)state;
	struct items it;
	read_all(POS_IMPORT_CHATGPT, "tests/data/import/chatgpt_conversations.json", &it);
	assert_int_equal(it.end, POS_ERR_NOT_FOUND);
	assert_int_equal(it.n, 2);
	json_t *m = it.v[0];
	assert_string_equal(s(m, "content"),
			    "Sourdough schedule\n\nUser: When should I feed my starter if I bake at "
			    "9am?\n\nAssistant: Feed it around 9pm the night before — about 12 hours "
			    "ahead.");
	assert_string_equal(s(m, "type"), "conversation");
	assert_string_equal(s(m, "source"), "chatgpt");
	assert_string_equal(s(m, "created_at"), "2024-12-05T12:00:00.123456Z");
	assert_string_equal(s(m, "key"), "chatgpt:6751a2b0-1c2d-8000-9e3f-0a1b2c3d4e5f");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "metadata"), "messages")),
			 2);
	assert_non_null(strstr(s(it.v[1], "content"), "Lisbon"));
	items_free(&it);
}

static void claude(void **state)
{
	(void)state;
	struct items it;
	read_all(POS_IMPORT_CLAUDE, "tests/data/import/claude_conversations.json", &it);
	assert_int_equal(it.end, POS_ERR_NOT_FOUND);
	assert_int_equal(it.n, 2);
	assert_string_equal(s(it.v[0], "content"),
			    "Garden planning\n\nUser: Which vegetables can I sow in March in a cold "
			    "frame?\n\nAssistant: Lettuce, radishes, spinach and spring onions do well.");
	assert_string_equal(s(it.v[0], "created_at"), "2024-12-05T10:15:30.123456Z");
	assert_string_equal(s(it.v[0], "key"), "claude:0f3c8a52-6d1e-4b7a-9c0d-2e5f7a8b9c01");
	/* the text only in content blocks, no title */
	assert_string_equal(s(it.v[1], "content"),
			    "User: Translate 'good morning' to Portuguese\n\nAssistant: Bom dia.");
	items_free(&it);
}

static void zip_dir(const char *from, const char *to)
{
	char cmd[4000];
	snprintf(cmd, sizeof(cmd), "cd '%s' && python3 -m zipfile -c '%s' .", from, to);
	assert_int_equal(system(cmd), 0);
}

static void keep(void **state)
{
	(void)state;
	char zip[600], cwd[400];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(zip, sizeof(zip), "%s/keep.zip", dir);
	char from[600];
	snprintf(from, sizeof(from), "%s/tests/data/import/keep", cwd);
	zip_dir(from, zip);
	struct items it;
	read_all(POS_IMPORT_KEEP, zip, &it);
	assert_int_equal(it.end, POS_ERR_NOT_FOUND);
	assert_int_equal(it.n, 2); /* the trashed note and the other files are left out */
	for (size_t i = 0; i < 2; i++) {
		json_t *m = it.v[i];
		assert_string_equal(s(m, "source"), "google_keep");
		if (strncmp(s(m, "content"), "Groceries", 9) == 0) {
			assert_string_equal(s(m, "content"), "Groceries\n\n- [ ] oat milk\n- [x] lemons");
			assert_string_equal(s(m, "created_at"), "2024-12-03T04:26:40Z");
			assert_string_equal(json_string_value(json_array_get(json_object_get(m, "tags"), 1)),
					    "shopping");
			assert_string_equal(s(m, "key"), "keep:Groceries.json");
		} else {
			assert_string_equal(s(m, "content"),
					    "Book ideas\n\nA detective who only solves crimes by smell.");
			assert_string_equal(s(m, "layer"), "archive");
		}
	}
	items_free(&it);
	/* one note's JSON, not zipped */
	read_all(POS_IMPORT_KEEP, "tests/data/import/keep/Takeout/Keep/Groceries.json", &it);
	assert_int_equal(it.end, POS_ERR_NOT_FOUND);
	assert_int_equal(it.n, 1);
	items_free(&it);
}

static void obsidian(void **state)
{
	(void)state;
	char zip[600], cwd[400], from[600];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(zip, sizeof(zip), "%s/vault.zip", dir);
	snprintf(from, sizeof(from), "%s/tests/data/import/obsidian/vault", cwd);
	zip_dir(from, zip);
	struct items it;
	read_all(POS_IMPORT_OBSIDIAN, zip, &it);
	assert_int_equal(it.end, POS_ERR_NOT_FOUND);
	assert_int_equal(it.n, 2);
	for (size_t i = 0; i < 2; i++) {
		json_t *m = it.v[i], *md = json_object_get(m, "metadata");
		if (strcmp(s(md, "path"), "Recipes.md") == 0) {
			assert_string_equal(s(md, "title"), "Recipes to try");
			assert_int_equal(json_array_size(json_object_get(m, "tags")), 3);
			assert_string_equal(s(m, "created_at"), "2024-11-30T00:00:00Z");
			assert_true(strncmp(s(m, "content"), "# Recipes\n", 10) == 0);
		} else {
			assert_string_equal(s(md, "path"), "Daily/2024-12-01.md");
			assert_string_equal(s(md, "title"), "2024-12-01");
			assert_string_equal(s(m, "key"), "obsidian:Daily/2024-12-01.md");
		}
	}
	items_free(&it);
}

static void csv(void **state)
{
	(void)state;
	struct items it, again;
	read_all(POS_IMPORT_CSV, "tests/data/import/memories.csv", &it);
	assert_int_equal(it.end, POS_ERR_NOT_FOUND);
	assert_int_equal(it.n, 3);
	assert_string_equal(s(it.v[0], "content"), "Call the dentist, reschedule to Friday");
	assert_string_equal(s(it.v[0], "type"), "action");
	assert_string_equal(json_string_value(json_array_get(json_object_get(it.v[0], "tags"), 1)),
			    "errands");
	assert_true(json_real_value(json_object_get(it.v[0], "importance_score")) == 0.8);
	assert_string_equal(s(it.v[1], "content"), "A quote: \"simple is better than complex\"");
	assert_string_equal(json_string_value(json_array_get(json_object_get(it.v[1], "tags"), 0)),
			    "quotes");
	assert_string_equal(s(it.v[2], "content"), "Multi-line\nnote ✓");
	assert_true(strncmp(s(it.v[2], "key"), "csv:", 4) == 0);
	/* the same file gives the same keys: a re-import finds its memories */
	read_all(POS_IMPORT_CSV, "tests/data/import/memories.csv", &again);
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(s(it.v[i], "key"), s(again.v[i], "key"));
	assert_string_not_equal(s(it.v[0], "key"), s(it.v[1], "key"));
	items_free(&it);
	items_free(&again);
}

/* ---- the PersonalOS formats, written by format.c and read back ---- */

static void sample(struct pos_memory *m, int i)
{
	static const char *contents[] = {"brackets }]{[ in a string, a \\ and a \"",
					 "Ünïcode ✓ 😀, \"quotes\"\nand\r\nnewlines\n---\nx",
					 "---\nlooks like front matter\n---\n"};
	memset(m, 0, sizeof(*m));
	snprintf(m->id, sizeof(m->id), "00000000-0000-4000-8000-%012d", i);
	m->content = contents[i % 3];
	m->content_len = strlen(m->content);
	m->type = (enum pos_mem_type)(i % POS_TYPE__COUNT);
	m->layer = (enum pos_mem_layer)(i % POS_LAYER__COUNT);
	m->source = i % 2 ? "chatgpt" : "api";
	m->created_at = 1764000000123456LL + i * 1000001LL;
	m->updated_at = 1764000100000000LL + i;
	m->last_accessed_at = i % 2 ? 1764000200000007LL : INT64_MIN;
	m->tags_json = i % 2 ? "[\"a b\",\"ü\"]" : "[]";
	m->importance = 1.0 / (i + 3);
	m->access_count = i;
	m->shared_with_json = "[]";
	m->metadata_json = i % 2 ? "{\"k\":{\"deep\":[1.5,true,null,\"\\u0000x\"]}}" : "{}";
	m->attachments_json = "[{\"name\":\"a.png\",\"size\":3}]";
	m->related_json = i ? "[\"00000000-0000-4000-8000-000000000000\"]" : "[]";
	if (i == 2)
		snprintf(m->parent_id, sizeof(m->parent_id), "00000000-0000-4000-8000-000000000001");
	m->external_id = i == 1 ? "ext-1" : NULL;
}

static void write_file(enum pos_export_format fmt, const char *path, int n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	struct pos_export_header h = {.user_id = "u", .user_email = "a@example.com",
				      .exported_at = 1765000000000000LL};
	struct pos_export_writer *w = NULL;
	assert_int_equal(pos_export_writer_open(fmt, fd, &h, POS_EXPORT_BY_TYPE, &w), POS_OK);
	struct pos_memory m;
	for (int i = 0; i < n; i++) {
		sample(&m, i);
		assert_int_equal(pos_export_writer_memory(w, &m), POS_OK);
	}
	static const char rel[] = "{\"memory_id\":\"x\",\"related_memory_id\":\"y\",\"type\":\"mentions\"}";
	assert_int_equal(pos_export_writer_record(w, "relationships", rel, strlen(rel)), POS_OK);
	assert_int_equal(pos_export_writer_value(w, "persona", "{\"p\":1}", 7), POS_OK);
	assert_int_equal(pos_export_writer_finish(w, NULL), POS_OK);
	pos_export_writer_free(w);
	close(fd);
}

static const char *const lossless_fields[] = {
	"id", "content", "type", "layer", "source", "created_at", "updated_at", "last_accessed_at",
	"parent_memory_id", "related_memory_ids", "tags", "importance_score", "access_count",
	"shared_with", "metadata", "attachments", "external_id",
};

static void round_trip(void **state)
{
	(void)state;
	char pj[600], pl[600], pm[600];
	snprintf(pj, sizeof(pj), "%s/x.json", dir);
	snprintf(pl, sizeof(pl), "%s/x.jsonl", dir);
	snprintf(pm, sizeof(pm), "%s/x.zip", dir);
	write_file(POS_EXPORT_JSON, pj, 6);
	write_file(POS_EXPORT_JSONL, pl, 6);
	write_file(POS_EXPORT_MARKDOWN, pm, 6);
	struct items j, l, md;
	read_all(POS_IMPORT_JSON, pj, &j);
	read_all(POS_IMPORT_JSONL, pl, &l);
	read_all(POS_IMPORT_MARKDOWN, pm, &md);
	assert_int_equal(j.end, POS_ERR_NOT_FOUND);
	assert_int_equal(l.end, POS_ERR_NOT_FOUND);
	assert_int_equal(md.end, POS_ERR_NOT_FOUND);
	assert_int_equal(j.n, 8);
	assert_int_equal(l.n, 8);
	assert_int_equal(md.n, 8);
	assert_int_equal(j.kind[6], POS_IMPORT_RELATIONSHIP);
	assert_int_equal(j.kind[7], POS_IMPORT_PERSONA);
	assert_int_equal(l.kind[7], POS_IMPORT_PERSONA);
	for (int i = 0; i < 6; i++) {
		json_t *a = j.v[i];
		assert_int_equal(j.kind[i], POS_IMPORT_MEMORY);
		struct pos_memory m;
		sample(&m, i);
		assert_string_equal(s(a, "content"), m.content);
		assert_string_equal(s(a, "key"), s(l.v[i], "key"));
		/* the zip's order is the writer's order too */
		assert_int_equal(md.kind[i], POS_IMPORT_MEMORY);
		for (size_t k = 0; k < sizeof(lossless_fields) / sizeof(lossless_fields[0]); k++) {
			const char *f = lossless_fields[k];
			json_t *x = json_object_get(a, f);
			if (!json_equal(x, json_object_get(l.v[i], f)))
				fail_msg("jsonl differs in %s of memory %d", f, i);
			json_t *y = json_object_get(md.v[i], f);
			if (!(json_equal(x, y) || (json_is_null(x) && !y)))
				fail_msg("markdown differs in %s of memory %d", f, i);
		}
	}
	assert_true(json_equal(j.v[7], md.v[7]));
	items_free(&j);
	items_free(&l);
	items_free(&md);
}

/* ---- bad input ---- */

static void wrong_format(void **state)
{
	(void)state;
	struct items it;
	read_all(POS_IMPORT_JSON, "tests/data/import/chatgpt_conversations.json", &it);
	assert_int_equal(it.end, POS_ERR_INVALID_JSON);
	assert_int_equal(it.n, 0);
	read_all(POS_IMPORT_CHATGPT, "tests/data/import/claude_conversations.json", &it);
	assert_int_equal(it.end, POS_ERR_INVALID_FIELD);
	assert_int_equal(it.err.index, 0);
	read_all(POS_IMPORT_JSONL, "tests/data/import/memories.csv", &it);
	assert_int_not_equal(it.end, POS_ERR_NOT_FOUND);
	read_all(POS_IMPORT_MARKDOWN, "tests/data/import/memories.csv", &it);
	assert_int_equal(it.end, POS_ERR_INVALID_FIELD);
	read_all(POS_IMPORT_CSV, "tests/data/import/keep/Takeout/Keep/Labels.txt", &it);
	assert_int_equal(it.end, POS_ERR_INVALID_FIELD);
	assert_non_null(strstr(it.err.message, "content column"));
}

/* Broken JSON inside the sixth memory: items 0..4 come out, then the
 * error names item 5 (lines: header, "memories":[, then one per memory). */
static void broken_at_item(void **state)
{
	(void)state;
	char p[600];
	snprintf(p, sizeof(p), "%s/broken.json", dir);
	write_file(POS_EXPORT_JSON, p, 12);
	/* cut the document inside the sixth memory */
	FILE *f = fopen(p, "r+b");
	char *line = NULL;
	size_t cap = 0;
	long at = 0;
	for (int i = 0; i < 7 && getline(&line, &cap, f) > 0; i++)
		at = ftell(f);
	free(line);
	fclose(f);
	assert_int_equal(truncate(p, at + 40), 0);
	struct items it;
	read_all(POS_IMPORT_JSON, p, &it);
	assert_int_equal(it.end, POS_ERR_INVALID_JSON);
	assert_int_equal(it.n, 5);
	assert_int_equal(it.err.index, 5);
	assert_non_null(strstr(it.err.message, "item 5"));
	items_free(&it);
}

static void zips(void **state)
{
	(void)state;
	char cmd[2000], p[600];
	struct items it;
	/* truncated */
	snprintf(p, sizeof(p), "%s/x.zip", dir);
	write_file(POS_EXPORT_MARKDOWN, p, 6);
	struct stat sb;
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(truncate(p, sb.st_size / 2), 0);
	read_all(POS_IMPORT_MARKDOWN, p, &it);
	assert_int_equal(it.end, POS_ERR_INVALID_FIELD);
	assert_int_equal(it.n, 0);
	/* a bomb: 20 MiB of zeros in a zip of some KiB (the ratio cap) */
	snprintf(p, sizeof(p), "%s/bomb.zip", dir);
	snprintf(cmd, sizeof(cmd),
		 "python3 -c \"import zipfile,sys; z=zipfile.ZipFile(sys.argv[1],'w',zipfile.ZIP_DEFLATED);"
		 " z.writestr('a.md', b'0'*(20<<20)); z.close()\" '%s'", p);
	assert_int_equal(system(cmd), 0);
	read_all(POS_IMPORT_OBSIDIAN, p, &it);
	assert_int_equal(it.end, POS_ERR_CONTENT_TOO_LARGE);
	assert_int_equal(it.n, 0);
	/* path traversal */
	snprintf(p, sizeof(p), "%s/evil.zip", dir);
	snprintf(cmd, sizeof(cmd),
		 "python3 -c \"import zipfile,sys; z=zipfile.ZipFile(sys.argv[1],'w');"
		 " z.writestr('ok.md', 'fine'); z.writestr('../evil.md', 'x'); z.close()\" '%s'", p);
	assert_int_equal(system(cmd), 0);
	read_all(POS_IMPORT_OBSIDIAN, p, &it);
	assert_int_equal(it.end, POS_ERR_INVALID_FIELD);
	assert_int_equal(it.n, 0);
	assert_non_null(strstr(it.err.message, ".."));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(chatgpt),      cmocka_unit_test(claude),
		cmocka_unit_test(keep),         cmocka_unit_test(obsidian),
		cmocka_unit_test(csv),          cmocka_unit_test(round_trip),
		cmocka_unit_test(wrong_format), cmocka_unit_test(broken_at_item),
		cmocka_unit_test(zips),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
