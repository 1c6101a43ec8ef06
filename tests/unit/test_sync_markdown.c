/*
 * Unit tests for the markdown_dir adapter (src/sync/markdown.c) and its
 * parsers (src/sync/markdown_parse.c): the vault in tests/data/sync/notes
 * is copied to a temp dir and synced through a recording sink; then notes
 * are edited, added and deleted between runs, a symlink points outside,
 * a note is too large. Runs from the repository root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/clock.h"
#include "sync/adapter.h"
#include "sync/markdown_parse.h"
#include "sync_recorder.h"

static char vault[512];

static void put(const char *rel, const char *text)
{
	char p[1024];
	snprintf(p, sizeof(p), "%s/%s", vault, rel);
	FILE *f = fopen(p, "wb");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Moves a file's mtime so the adapter cannot miss a same-second edit. */
static void touch_back(const char *rel, long secs)
{
	char p[1024];
	struct timeval tv[2];
	snprintf(p, sizeof(p), "%s/%s", vault, rel);
	gettimeofday(&tv[0], NULL);
	tv[0].tv_sec -= secs;
	tv[1] = tv[0];
	assert_int_equal(utimes(p, tv), 0);
}

static int setup(void **state)
{
	(void)state;
	const char *t = getenv("POS_TEST_TMP");
	char cmd[2000];
	snprintf(vault, sizeof(vault), "%s/sync_md.%d", t ? t : "/tmp", (int)getpid());
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s' && cp -R tests/data/sync/notes/vault/. '%s'",
		 vault, vault, vault);
	return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", vault);
	return system(cmd) == 0 ? 0 : -1;
}

static json_t *links_of(struct recorder *r, const char *id)
{
	return json_object_get(json_object_get(r->items, id), "links");
}

static bool has_str(const json_t *arr, const char *s)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v) {
		if (strcmp(json_string_value(v), s) == 0)
			return true;
	}
	return false;
}

static void test_vault_runs(void **state)
{
	(void)state;
	struct recorder r;
	struct pos_error err;
	json_t *cur = NULL, *next = NULL;
	json_t *cfg = json_pack("{s:s}", "path", vault);
	rec_init(&r);
	assert_int_equal(pos_sync_markdown_dir.validate(cfg, &err), POS_OK);
	assert_int_equal(pos_sync_markdown_dir.run(cfg, NULL, &cur, &r.sink, &err), POS_OK);

	/* Six notes; .obsidian and notes.txt are not. */
	assert_int_equal(json_object_size(r.items), 6);
	assert_int_equal(r.completes, 1);
	assert_null(json_object_get(r.items, ".obsidian/workspace.md"));
	json_t *home = json_object_get(r.items, "Home.md");
	assert_non_null(home);
	assert_string_equal(json_string_value(json_object_get(home, "type")), "note");
	assert_string_equal(rec_meta(&r, "Home.md", "title"), "Home base");
	assert_string_equal(rec_meta(&r, "Home.md", "date"), "2026-02-01T00:00:00Z");
	const char *c = rec_content(&r, "Home.md");
	assert_true(strncmp(c, "# Home base\n", 12) == 0);
	assert_null(strstr(c, "aliases")); /* front matter is not content */

	json_t *tags = json_object_get(home, "tags");
	assert_int_equal(json_array_size(tags), 3);
	assert_true(has_str(tags, "personal") && has_str(tags, "planning") && has_str(tags, "idea"));

	/* Links: path, name (shortest path), heading cut, alias cut; the
	 * missing note is left out. */
	json_t *l = links_of(&r, "Home.md");
	assert_int_equal(json_array_size(l), 3);
	assert_true(has_str(l, "Projects/Alpha.md"));
	assert_true(has_str(l, "Projects/Beta.md"));
	assert_true(has_str(l, "Gamma.md"));
	/* Links are undirected: a note also carries the notes linking to it. */
	l = links_of(&r, "Projects/Alpha.md");
	assert_int_equal(json_array_size(l), 3);
	assert_true(has_str(l, "Home.md") && has_str(l, "Projects/Beta.md") &&
		    has_str(l, "Archive/Gamma.md"));
	assert_int_equal(json_array_size(links_of(&r, "Projects/Beta.md")), 2);
	assert_true(has_str(links_of(&r, "Archive/Gamma.md"), "Projects/Alpha.md"));
	/* Gamma's [[gamma]] is itself: only Home's link remains. */
	assert_int_equal(json_array_size(links_of(&r, "Gamma.md")), 1);

	/* List-form tags with '#', created: with a time. */
	json_t *alpha = json_object_get(r.items, "Projects/Alpha.md");
	assert_true(has_str(json_object_get(alpha, "tags"), "work"));
	assert_true(has_str(json_object_get(alpha, "tags"), "project"));
	int64_t t;
	assert_true(pos_time_parse("2026-01-15T09:30:00Z", 20, false, &t));
	assert_int_equal(json_integer_value(json_object_get(alpha, "created_at_us")), t);
	/* No front matter: the title is the file name. */
	assert_true(strncmp(rec_content(&r, "Projects/Beta.md"), "# Beta\n\nBeta has", 16) == 0);
	/* Unclosed front matter is body text. */
	assert_non_null(strstr(rec_content(&r, "Broken.md"), "never closed"));

	/* Second run, nothing changed: nothing upserted, nothing removed. */
	rec_new_run(&r);
	assert_int_equal(pos_sync_markdown_dir.run(cfg, cur, &next, &r.sink, &err), POS_OK);
	assert_int_equal(r.upserts, 0);
	assert_int_equal(r.completes, 0);
	json_decref(cur);
	cur = next;

	/* One note edited: only it is read and upserted. */
	put("Projects/Alpha.md", "---\ntags: [project]\n---\nAlpha, now with a plan. [[Gamma]]\n");
	touch_back("Projects/Alpha.md", 5);
	rec_new_run(&r);
	assert_int_equal(pos_sync_markdown_dir.run(cfg, cur, &next, &r.sink, &err), POS_OK);
	assert_int_equal(r.upserts, 1);
	assert_non_null(strstr(rec_content(&r, "Projects/Alpha.md"), "now with a plan"));
	assert_true(has_str(links_of(&r, "Projects/Alpha.md"), "Gamma.md"));
	json_decref(cur);
	cur = next;

	/* Beta deleted, Delta added: a full pass, Beta removed, Home's link
	 * to Beta gone, Delta links resolved. */
	char p[1024];
	snprintf(p, sizeof(p), "%s/Projects/Beta.md", vault);
	assert_int_equal(unlink(p), 0);
	put("Delta.md", "Delta points at [[Home|home]] and [[Beta]].\n");
	rec_new_run(&r);
	assert_int_equal(pos_sync_markdown_dir.run(cfg, cur, &next, &r.sink, &err), POS_OK);
	assert_int_equal(r.completes, 1);
	assert_null(json_object_get(r.items, "Projects/Beta.md"));
	assert_non_null(json_object_get(r.items, "Delta.md"));
	assert_int_equal(json_object_size(r.items), 6);
	assert_false(has_str(links_of(&r, "Home.md"), "Projects/Beta.md"));
	assert_int_equal(json_array_size(links_of(&r, "Delta.md")), 1);
	/* Delta new; Home, Alpha and Gamma changed relations (Gamma got
	 * Alpha's link of the incremental run above). */
	assert_int_equal(r.changed, 4);
	json_decref(cur);
	cur = next;

	/* A symlink out of the vault and a note over the size cap are
	 * skipped and reported by path. */
	snprintf(p, sizeof(p), "%s/evil.md", vault);
	assert_int_equal(symlink("/etc/hostname", p), 0);
	char *big = malloc(3000);
	memset(big, 'x', 2999);
	big[2999] = '\0';
	put("Big.md", big);
	free(big);
	json_object_set_new(cfg, "max_file_bytes", json_integer(2000));
	rec_new_run(&r);
	assert_int_equal(pos_sync_markdown_dir.run(cfg, cur, &next, &r.sink, &err), POS_OK);
	assert_null(json_object_get(r.items, "evil.md"));
	assert_null(json_object_get(r.items, "Big.md"));
	assert_non_null(rec_skip_with(&r, "evil.md: symbolic link"));
	assert_non_null(rec_skip_with(&r, "Big.md: larger than max_file_bytes"));
	json_decref(cur);
	json_decref(next);

	/* A folder that is not there. */
	json_object_set_new(cfg, "path", json_string("/nonexistent/vault"));
	next = NULL;
	assert_int_equal(pos_sync_markdown_dir.run(cfg, NULL, &next, &r.sink, &err), POS_ERR_NOT_FOUND);
	assert_string_equal(err.field, "path");
	json_decref(cfg);
	rec_free(&r);
}

static void test_validate(void **state)
{
	(void)state;
	struct pos_error err;
	const char *bad[][2] = {
		{"{}", "path"},
		{"{\"path\": \"\"}", "path"},
		{"{\"path\": \"/v\", \"max_depth\": 0}", "max_depth"},
		{"{\"path\": \"/v\", \"max_files\": \"many\"}", "max_files"},
		{"{\"path\": \"/v\", \"max_file_bytes\": 999999999}", "max_file_bytes"},
		{"{\"path\": \"/v\", \"inline_tags\": \"yes\"}", "inline_tags"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *cfg = json_loads(bad[i][0], 0, NULL);
		assert_int_equal(pos_sync_markdown_dir.validate(cfg, &err), POS_ERR_INVALID_FIELD);
		assert_string_equal(err.field + 7, bad[i][1]);
		assert_true(strncmp(err.field, "config.", 7) == 0);
		json_decref(cfg);
	}
	assert_null(pos_sync_markdown_dir.secret_keys);
}

static bool collect(const char *t, size_t n, void *ud)
{
	json_array_append_new(ud, json_stringn(t, n));
	return true;
}

static void test_parsers(void **state)
{
	(void)state;
	struct pos_mdp_note n;
	const char *fm = "\xEF\xBB\xBF---\r\ntags: a, #b c\r\nTitle: 'Quoted'\r\n"
			 "date: \"2026-03-01T10:00:00+01:00\"\r\ncreated: 2020-01-01\r\n...\r\nbody";
	pos_mdp_front_matter(fm, strlen(fm), &n);
	assert_int_equal(n.n_tags, 3);
	assert_string_equal(n.tags[1], "b");
	assert_string_equal(n.title, "Quoted");
	assert_true(n.has_date);
	int64_t t;
	assert_true(pos_time_parse("2026-03-01T09:00:00Z", 20, false, &t));
	assert_int_equal(n.date_us, t);
	assert_string_equal(fm + n.body_off, "body");

	/* Not front matter: no fence at the top, or never closed. */
	pos_mdp_front_matter("text\n---\ntags: [x]\n---\n", 24, &n);
	assert_int_equal(n.body_off, 0);
	assert_int_equal(n.n_tags, 0);

	/* Inline tags: not in code, not numbers, not headings, deduplicated. */
	memset(&n, 0, sizeof(n));
	const char *body = "# Heading\n#a and #b/c, `#code` #1 x#y #a\n```\n#fenced\n```\n(#p)";
	pos_mdp_inline_tags(body, strlen(body), &n);
	assert_int_equal(n.n_tags, 3);
	assert_string_equal(n.tags[0], "a");
	assert_string_equal(n.tags[1], "b/c");
	assert_string_equal(n.tags[2], "p");

	/* Links: alias, heading, embed, unclosed, empty, multi-line. */
	json_t *a = json_array();
	const char *lk = "[[One|alias]] ![[Two#h]] [[ Three ]] [[]] [[#only]] [[Four\nx]] [[Five";
	pos_mdp_links(lk, strlen(lk), collect, a);
	assert_int_equal(json_array_size(a), 3);
	assert_string_equal(json_string_value(json_array_get(a, 0)), "One");
	assert_string_equal(json_string_value(json_array_get(a, 1)), "Two");
	assert_string_equal(json_string_value(json_array_get(a, 2)), "Three");
	json_decref(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_vault_runs, setup, teardown),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_parsers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
