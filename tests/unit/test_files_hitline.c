/* Unit tests for src/files/hitline.c: the attachment, page and line a
 * search hit matched in — file memories with page markers, "[file: NAME]"
 * sections of other memories, word forms and phrases, long lines cut
 * around the match (UTF-8 intact, marks in code points), and no match in a
 * memory's own text, a file's name line, or without the attachment; the
 * per-search budget of text read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "files/hitline.h"

#define ATT_PDF "[{\"id\":\"a-pdf\",\"name\":\"report.pdf\",\"mime\":\"application/pdf\"}]"

static struct pos_memory mem(enum pos_mem_type type, const char *content, const char *atts)
{
	struct pos_memory m;
	memset(&m, 0, sizeof(m));
	m.type = type;
	m.content = content;
	m.content_len = strlen(content);
	m.attachments_json = atts;
	return m;
}

static bool find(struct pos_arena *a, const char *query, bool typing, const struct pos_memory *m,
		 struct pos_hitline *h)
{
	struct pos_hitline_needles nd;
	assert_int_equal(pos_hitline_prepare(a, query, strlen(query), typing, &nd), POS_OK);
	return pos_hitline_find(a, &nd, m, h);
}

/* The marked text of mark i (code points) as bytes of h->line. */
static void marked(const struct pos_hitline *h, size_t i, char *out, size_t cap)
{
	const char *s = h->line;
	size_t cp = 0, b = 0, start = SIZE_MAX, end = strlen(s);
	for (; s[b]; b++) {
		if (((unsigned char)s[b] & 0xC0) == 0x80)
			continue;
		if (cp == h->marks[i].start)
			start = b;
		if (cp == h->marks[i].end) {
			end = b;
			break;
		}
		cp++;
	}
	assert_true(start != SIZE_MAX && end - start < cap);
	memcpy(out, s + start, end - start);
	out[end - start] = '\0';
}

static void test_file_memory_page(void **state)
{
	(void)state;
	struct pos_arena *a = pos_arena_new();
	struct pos_memory m = mem(POS_TYPE_FILE,
				  "report.pdf\n\n[page 1]\nAnnual report, first page\n[page 2]\n"
				  "Second page of figures\n[page 3]\nThird\n[page 4]\n"
				  "The pelican migration budget was approved.\n",
				  ATT_PDF);
	struct pos_hitline h;
	assert_true(find(a, "Pelican budgets", false, &m, &h));
	assert_string_equal(h.attachment_id, "a-pdf");
	assert_string_equal(h.name, "report.pdf");
	assert_int_equal(h.page, 4);
	assert_string_equal(h.line, "The pelican migration budget was approved.");
	assert_int_equal(h.n_marks, 2);
	char buf[64];
	marked(&h, 0, buf, sizeof(buf));
	assert_string_equal(buf, "pelican");
	marked(&h, 1, buf, sizeof(buf));
	assert_string_equal(buf, "budget");
	/* a phrase; filters are not words */
	assert_true(find(a, "type:file \"PELICAN   migration\"", false, &m, &h));
	assert_int_equal(h.page, 4);
	assert_int_equal(h.n_marks, 1);
	marked(&h, 0, buf, sizeof(buf));
	assert_string_equal(buf, "pelican migration");
	/* the best line wins: two words on page 2 beat one on page 1 */
	assert_true(find(a, "figures second annual", false, &m, &h));
	assert_int_equal(h.page, 2);
	/* the word being typed matches as a prefix */
	assert_true(find(a, "pelic", true, &m, &h));
	assert_int_equal(h.page, 4);
	assert_false(find(a, "pelic", false, &m, &h));
	/* the name line is not the file's text */
	assert_false(find(a, "report.pdf", false, &m, &h));
	/* a word inside a longer one is not a match */
	assert_false(find(a, "pel grat", false, &m, &h));
	pos_arena_destroy(a);
}

static void test_one_page_and_unpaged(void **state)
{
	(void)state;
	struct pos_arena *a = pos_arena_new();
	struct pos_memory m = mem(POS_TYPE_FILE, "one.pdf\n\nA single walnut page", 
				  "[{\"id\":\"p\",\"name\":\"one.pdf\",\"mime\":\"application/pdf\"}]");
	struct pos_hitline h;
	assert_true(find(a, "walnut", false, &m, &h));
	assert_int_equal(h.page, 1);
	m = mem(POS_TYPE_FILE, "plan.txt\n\nday one: the ferry at nine",
		"[{\"id\":\"t\",\"name\":\"plan.txt\",\"mime\":\"text/plain\"}]");
	assert_true(find(a, "ferry", false, &m, &h));
	assert_int_equal(h.page, 0);
	assert_string_equal(h.attachment_id, "t");
	struct pos_buf b;
	pos_buf_init(&b, 4096);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_hitline_json(&w, &h);
	assert_int_equal(w.rc, POS_OK);
	assert_non_null(b.data);
	assert_non_null(strstr(b.data, "\"page\":null"));
	assert_non_null(strstr(b.data, "\"marks\":[[13,18]]"));
	pos_buf_free(&b);
	/* stop words alone still find the line; with other words they are left out */
	assert_true(find(a, "the", false, &m, &h));
	assert_true(find(a, "the ferry", false, &m, &h));
	assert_int_equal(h.n_marks, 1);
	pos_arena_destroy(a);
}

static void test_sections(void **state)
{
	(void)state;
	struct pos_arena *a = pos_arena_new();
	struct pos_memory m = mem(POS_TYPE_NOTE,
				  "Trip notes about the harbour\n\n[file: plan.txt]\nday one: ferry\n"
				  "day two: harbour tour\n\n[file: deck.pptx]\n[page 1]\nIntro\n[page 2]\n"
				  "Harbour budget",
				  "[{\"id\":\"old\",\"name\":\"plan.txt\",\"mime\":\"text/plain\"},"
				  "{\"id\":\"p1\",\"name\":\"plan.txt\",\"mime\":\"text/plain\"},"
				  "{\"id\":\"d1\",\"name\":\"deck.pptx\",\"mime\":\"application/zip\"}]");
	struct pos_hitline h;
	assert_true(find(a, "harbour tour", false, &m, &h));
	assert_string_equal(h.attachment_id, "p1"); /* the newest of that name */
	assert_string_equal(h.name, "plan.txt");
	assert_string_equal(h.line, "day two: harbour tour");
	assert_int_equal(h.page, 0);
	assert_true(find(a, "harbour budget", false, &m, &h));
	assert_string_equal(h.attachment_id, "d1");
	assert_int_equal(h.page, 2);
	/* only in the memory's own text: no file match */
	assert_false(find(a, "notes", false, &m, &h));
	/* no such attachment any more: no match */
	m.attachments_json = "[{\"id\":\"d1\",\"name\":\"deck.pptx\",\"mime\":\"application/zip\"}]";
	assert_false(find(a, "ferry", false, &m, &h));
	m.attachments_json = "[]";
	assert_false(find(a, "budget", false, &m, &h));
	m.attachments_json = NULL;
	assert_false(find(a, "budget", false, &m, &h));
	pos_arena_destroy(a);
}

static void test_long_line_cut(void **state)
{
	(void)state;
	struct pos_arena *a = pos_arena_new();
	char content[4096];
	size_t o = (size_t)snprintf(content, sizeof(content), "long.txt\n\n");
	for (int i = 0; i < 60; i++)
		o += (size_t)snprintf(content + o, sizeof(content) - o, "caf\xC3\xA9 word%d ", i);
	o += (size_t)snprintf(content + o, sizeof(content) - o, "the quokka sleeps ");
	for (int i = 0; i < 60; i++)
		o += (size_t)snprintf(content + o, sizeof(content) - o, "r\xC3\xA9sum\xC3\xA9 %d ", i);
	struct pos_memory m = mem(POS_TYPE_FILE, content,
				  "[{\"id\":\"l\",\"name\":\"long.txt\",\"mime\":\"text/plain\"}]");
	struct pos_hitline h;
	assert_true(find(a, "quokka", false, &m, &h));
	size_t cps = 0;
	for (const char *p = h.line; *p; p++)
		cps += ((unsigned char)*p & 0xC0) != 0x80;
	assert_true(cps <= POS_HITLINE_CHARS);
	assert_true(cps > POS_HITLINE_CHARS - 20);
	assert_memory_equal(h.line, "\xE2\x80\xA6", 3);
	assert_memory_equal(h.line + strlen(h.line) - 3, "\xE2\x80\xA6", 3);
	/* the cut starts at a word, and never inside a UTF-8 sequence */
	assert_true(h.line[3] != ' ');
	assert_true(((unsigned char)h.line[3] & 0xC0) != 0x80);
	assert_int_equal(h.n_marks, 1);
	char buf[64];
	marked(&h, 0, buf, sizeof(buf));
	assert_string_equal(buf, "quokka");
	assert_true(h.marks[0].start > 20 && h.marks[0].start < 80);
	pos_arena_destroy(a);
}

static void test_no_words(void **state)
{
	(void)state;
	struct pos_arena *a = pos_arena_new();
	struct pos_memory m = mem(POS_TYPE_FILE, "x.pdf\n\nsome text", ATT_PDF);
	struct pos_hitline h;
	assert_false(find(a, "type:file", false, &m, &h));
	assert_false(find(a, "***", false, &m, &h));
	assert_false(find(a, "-text", false, &m, &h));
	struct pos_hitline_needles nd;
	assert_int_equal(pos_hitline_prepare(a, "\xFF", 1, false, &nd), POS_OK);
	assert_int_equal(nd.n, 0);
	/* a search reads at most POS_HITLINE_BUDGET bytes of text for its matches */
	assert_int_equal(pos_hitline_prepare(a, "text", 4, false, &nd), POS_OK);
	assert_int_equal(nd.budget, POS_HITLINE_BUDGET);
	nd.budget = m.content_len + 3;
	assert_true(pos_hitline_find(a, &nd, &m, &h));
	assert_int_equal(nd.budget, 3);
	assert_false(pos_hitline_find(a, &nd, &m, &h));
	assert_int_equal(nd.budget, 0);
	pos_arena_destroy(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_memory_page),
		cmocka_unit_test(test_one_page_and_unpaged),
		cmocka_unit_test(test_sections),
		cmocka_unit_test(test_long_line_cut),
		cmocka_unit_test(test_no_words),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
