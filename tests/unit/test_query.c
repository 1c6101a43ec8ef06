/*
 * Unit tests for src/search/query: the data-driven cases in tests/data/query
 * (one file per case, input and expected parse side by side), the same
 * cases' MATCH expressions run through a real SQLite FTS5 table, hostile and
 * random input, allocation failure, and the tokenizer and stop-word tables.
 *
 * Case files (syntax and escapes in datacase.h): keys input (required),
 * repeat (the input is repeated that many times), then the expectations:
 * error (`<json code> <field>`), or terms, phrases, excluded, tags (lists
 * written `a | b`), type, layer, source, after, before (RFC 3339 UTC).
 * Those are compared exactly; a missing line means empty / any / none.
 * text, fts and fts-stop (the MATCH with stop words dropped; `(none)` for
 * NULL) are compared only when present. The directory is $POS_QUERY_CASES,
 * by default tests/data/query relative to the working directory (the repo
 * root).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/arena.h"
#include "base/clock.h"
#include "search/query.h"
#include "store/store.h"

#include "datacase.h"

static struct datacases load_cases(void)
{
	return datacase_load("POS_QUERY_CASES", "tests/data/query");
}

/* ---- checking one case --------------------------------------------------- */

static void join(char *out, size_t cap, const char **l, size_t n)
{
	size_t used = 0;
	out[0] = '\0';
	for (size_t i = 0; i < n && used < cap; i++) {
		int w = snprintf(out + used, cap - used, "%s%s", i ? " | " : "", l[i]);
		if (w > 0)
			used += (size_t)w;
	}
}

static int check(const struct datacase *c, const char *what, const char *want,
		 const char *got)
{
	if (strcmp(want, got) == 0)
		return 0;
	fprintf(stderr, "FAIL %s: %s\n  expected: [%s]\n  got:      [%s]\n",
		c->name, what, want, got);
	return 1;
}

/* Compares an always-checked field: an absent line means "". */
static int check_field(const struct datacase *c, const char *key, const char *got)
{
	const char *want = datacase_get(c, key);
	return check(c, key, want ? want : "", got);
}

static int check_time(const struct datacase *c, const char *key, int64_t t)
{
	char buf[POS_TIME_FMT_LEN] = "";
	if (t != POS_TIME_NONE)
		pos_time_format(t, buf, sizeof(buf));
	return check_field(c, key, buf);
}

static int check_fts(const struct datacase *c, struct pos_arena *a,
		     const struct pos_query *q, const char *key, bool stop)
{
	const char *want = datacase_get(c, key), *match;
	if (!want)
		return 0;
	if (pos_query_fts_match(a, q, stop, &match) != POS_OK)
		return check(c, key, want, "<error>");
	return check(c, key, want, match ? match : "(none)");
}

/* Runs one case; returns the number of mismatches (reported on stderr). */
static int run_case(const struct datacase *c)
{
	static char got[128 * 1024];
	struct pos_arena *a = pos_arena_new();
	struct pos_query q;
	struct pos_error err;
	int bad = 0;
	assert_non_null(a);
	pos_error_clear(&err);
	/* "typing: 1" parses as search-as-you-type (POS_QUERY_TYPING) */
	unsigned flags = datacase_get(c, "typing") ? POS_QUERY_TYPING : 0;
	enum pos_err rc = pos_query_parse_ex(a, c->input, c->input_len, flags, &q, &err);

	const char *want_err = datacase_get(c, "error");
	if (want_err || rc != POS_OK) {
		if (rc == POS_OK)
			snprintf(got, sizeof(got), "ok");
		else
			snprintf(got, sizeof(got), "%s %s", pos_err_code(rc), err.field);
		bad += check(c, "error", want_err ? want_err : "ok", got);
		if (rc != POS_OK && (err.code != rc || !err.message[0]))
			bad += check(c, "error detail", "set", "missing");
		pos_arena_destroy(a);
		return bad;
	}
	join(got, sizeof(got), q.terms, q.n_terms);
	bad += check_field(c, "terms", got);
	join(got, sizeof(got), q.phrases, q.n_phrases);
	bad += check_field(c, "phrases", got);
	join(got, sizeof(got), q.excluded, q.n_excluded);
	bad += check_field(c, "excluded", got);
	join(got, sizeof(got), q.tags, q.n_tags);
	bad += check_field(c, "tags", got);
	bad += check_field(c, "type", q.type < 0 ? "" : pos_mem_type_name(q.type));
	bad += check_field(c, "layer", q.layer < 0 ? "" : pos_mem_layer_name(q.layer));
	bad += check_field(c, "source", q.source ? q.source : "");
	bad += check_time(c, "after", q.after);
	bad += check_time(c, "before", q.before);
	if (datacase_get(c, "text"))
		bad += check_field(c, "text", q.text);
	bad += check_field(c, "prefix", q.prefix ? q.prefix : "");
	join(got, sizeof(got), q.ignored, q.n_ignored);
	bad += check_field(c, "ignored", got);
	bad += check_fts(c, a, &q, "fts", false);
	bad += check_fts(c, a, &q, "fts-stop", true);
	pos_arena_destroy(a);
	return bad;
}

static void cases_parse_as_expected(void **state)
{
	struct datacases cs = load_cases();
	int bad = 0;
	assert_true(cs.n >= 30);
	for (size_t i = 0; i < cs.n; i++)
		bad += run_case(&cs.v[i]);
	datacase_free(&cs);
	if (bad)
		fail_msg("%d mismatches in the query cases (see above)", bad);
}

/* ---- the real FTS5 --------------------------------------------------------- */

static sqlite3 *fts_open(void)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	static const char *sql =
		"CREATE VIRTUAL TABLE t USING fts5(content, tags,"
		" tokenize='porter unicode61 remove_diacritics 2');"
		"INSERT INTO t(rowid, content, tags) VALUES"
		" (1, 'the NEAR operator takes a b and more', 'fts'),"
		" (2, 'meeting notes about project alpha', 'work'),"
		" (3, 'cancelled meeting', 'work'),"
		" (4, 'café naïve résumé', ''),"
		" (5, 'secret', 'content'),"
		" (6, 'content: secret', '');";
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("fts5 setup: %s", msg ? msg : "?");
	return db;
}

/*
 * Runs `match` on the table; returns the matching rowids ("2,3"), or NULL
 * with the SQLite message in `errbuf` when FTS5 rejects the expression.
 */
static const char *fts_run(sqlite3 *db, const char *match, char *errbuf, size_t cap)
{
	static char rows[256];
	sqlite3_stmt *st;
	size_t used = 0;
	rows[0] = '\0';
	assert_int_equal(sqlite3_prepare_v2(db,
		"SELECT rowid FROM t WHERE t MATCH ?1 ORDER BY rowid", -1, &st, NULL),
		SQLITE_OK);
	sqlite3_bind_text(st, 1, match, -1, SQLITE_STATIC);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int w = snprintf(rows + used, sizeof(rows) - used, "%s%lld", used ? "," : "",
				 (long long)sqlite3_column_int64(st, 0));
		if (w > 0 && (size_t)w < sizeof(rows) - used)
			used += (size_t)w;
	}
	if (rc != SQLITE_DONE) {
		snprintf(errbuf, cap, "%s", sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return NULL;
	}
	sqlite3_finalize(st);
	return rows;
}

/* Parses `q`; on success runs both MATCH variants. Returns failures. */
static int fts_accepts(sqlite3 *db, const char *label, const char *q, size_t len)
{
	struct pos_arena *a = pos_arena_new();
	struct pos_query pq;
	struct pos_error err;
	int bad = 0;
	assert_non_null(a);
	if (pos_query_parse(a, q, len, &pq, &err) == POS_OK) {
		for (int stop = 0; stop < 2; stop++) {
			const char *m;
			char msg[256];
			assert_int_equal(pos_query_fts_match(a, &pq, stop, &m), POS_OK);
			if (m && !fts_run(db, m, msg, sizeof(msg))) {
				fprintf(stderr, "FTS5 rejects %s: %s\n  match: %s\n", label, msg, m);
				bad++;
			}
		}
	}
	pos_arena_destroy(a);
	return bad;
}

static void cases_fts5_accepts_every_match(void **state)
{
	struct datacases cs = load_cases();
	sqlite3 *db = fts_open();
	int bad = 0;
	for (size_t i = 0; i < cs.n; i++)
		bad += fts_accepts(db, cs.v[i].name, cs.v[i].input, cs.v[i].input_len);
	sqlite3_close(db);
	datacase_free(&cs);
	assert_int_equal(bad, 0);
}

static void hostile_input_is_text(void **state)
{
	static const char *hostile[] = {
		"\"", "*", "NEAR(a b)", "NEAR(\"a\" \"b\", 3)", "^x", "a:b", "(", ")",
		"AND OR NOT", "a AND", "OR", "NOT x", "x NOT", "-", "--", "\"a\" \"",
		"x*", "{content tags}: x", "content:secret", "tags : work", "+", "a + b",
		"\"\"\"", "'", "\\", "a\"b", "-\"x", ".", "a.b", "\"\"\"\"\"\"", "^",
		"* OR *", "\"NEAR\"", "NEAR", "col:", ":", "a:", ":a", "-:", "-*",
		"(a OR b) AND c", "\"unbalanced", "x -\"", "AND", "\"a\"\"b\"",
		"- - -", "\"-\"", "-\"-\"", "\x01\x02", "tag:x -", "NOT -x",
	};
	sqlite3 *db = fts_open();
	int bad = 0;
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++)
		bad += fts_accepts(db, hostile[i], hostile[i], strlen(hostile[i]));
	assert_int_equal(bad, 0);
	sqlite3_close(db);
}

/* The MATCH expression of q, searched: the rowids found. */
static const char *search(sqlite3 *db, struct pos_arena *a, const char *q, bool stop)
{
	struct pos_query pq;
	struct pos_error err;
	const char *m;
	char msg[256];
	assert_int_equal(pos_query_parse(a, q, strlen(q), &pq, &err), POS_OK);
	assert_int_equal(pos_query_fts_match(a, &pq, stop, &m), POS_OK);
	if (!m)
		return "(none)";
	const char *rows = fts_run(db, m, msg, sizeof(msg));
	if (!rows)
		fail_msg("FTS5 rejects %s: %s", m, msg);
	return pos_arena_strdup(a, rows);
}

static void fts5_semantics(void **state)
{
	sqlite3 *db = fts_open();
	struct pos_arena *a = pos_arena_new();
	/* operators are words: NEAR(a b) finds the words near, a, b */
	assert_string_equal(search(db, a, "NEAR(a b)", false), "1");
	assert_string_equal(search(db, a, "operator AND nothing", false), "1");
	/* no column filter: content:secret is the phrase "content secret" */
	assert_string_equal(search(db, a, "content:secret", false), "6");
	/* terms are OR-ed, exclusions remove, phrases are required */
	assert_string_equal(search(db, a, "meeting alpha", false), "2,3");
	assert_string_equal(search(db, a, "meeting -cancelled", false), "2");
	assert_string_equal(search(db, a, "meeting -\"cancelled meeting\"", false), "2");
	assert_string_equal(search(db, a, "\"project alpha\" meeting", false), "2");
	assert_string_equal(search(db, a, "\"alpha project\" meeting", false), "");
	assert_string_equal(search(db, a, "\"project alpha\" cancelled", false), "2");
	/* porter stems and diacritics fold inside FTS5, not in the parser */
	assert_string_equal(search(db, a, "meetings", false), "2,3");
	assert_string_equal(search(db, a, "CAFE resume", false), "4");
	/* stop words dropped: "the" no longer finds the NEAR document */
	assert_string_equal(search(db, a, "the meeting", false), "1,2,3");
	assert_string_equal(search(db, a, "the meeting", true), "2,3");
	assert_string_equal(search(db, a, "what about", true), "2");
	/* filters and punctuation only: nothing for FTS5 to match */
	assert_string_equal(search(db, a, "type:note ***", false), "(none)");
	pos_arena_destroy(a);
	sqlite3_close(db);
}

/* Random queries over an alphabet of operators, quotes and filters. */
static void random_queries_fts5_accepts(void **state)
{
	static const char *parts[] = {
		"\"", "\"", "-", "*", "^", ":", "(", ")", "NEAR", "AND", "OR", "NOT",
		"a", "b", "meeting", "what", "the", "tag:", "type:note", "layer:",
		"after:", "2026-01-01", "source:", "x", " ", " ", " ", "\t", "é",
		"😀", "東京", "+", "{", "}", ",", ".", "'", "\\", "--", "café",
	};
	sqlite3 *db = fts_open();
	uint64_t seed = 0x9E3779B97F4A7C15u;
	char q[512];
	int bad = 0;
	for (int iter = 0; iter < 20000; iter++) {
		size_t len = 0;
		seed = seed * 6364136223846793005u + 1442695040888963407u;
		int parts_n = (int)((seed >> 33) % 24) + 1;
		for (int k = 0; k < parts_n; k++) {
			seed = seed * 6364136223846793005u + 1442695040888963407u;
			const char *p = parts[(seed >> 33) % (sizeof(parts) / sizeof(parts[0]))];
			size_t pl = strlen(p);
			if (len + pl >= sizeof(q))
				break;
			memcpy(q + len, p, pl);
			len += pl;
		}
		q[len] = '\0';
		bad += fts_accepts(db, q, q, len);
		if (bad > 10)
			break;
	}
	sqlite3_close(db);
	assert_int_equal(bad, 0);
}

/* The most items FTS5 will ever see: 64 terms and 64 exclusions. */
static void limits(void **state)
{
	char q[POS_QUERY_MAX_BYTES + 1];
	size_t len = 0;
	for (int i = 0; i < 70; i++)
		len += (size_t)snprintf(q + len, sizeof(q) - len, "w%d -x%d ", i, i);
	struct pos_arena *a = pos_arena_new();
	struct pos_query pq;
	struct pos_error err;
	assert_int_equal(pos_query_parse(a, q, len, &pq, &err), POS_OK);
	assert_int_equal(pq.n_terms, POS_QUERY_MAX_ITEMS);
	assert_int_equal(pq.n_excluded, POS_QUERY_MAX_ITEMS);
	assert_string_equal(pq.terms[63], "w63");
	assert_null(strstr(pq.text, "w64"));
	sqlite3 *db = fts_open();
	assert_int_equal(fts_accepts(db, "limits", q, len), 0);

	/* terms and phrases share the limit; duplicates do not count */
	len = 0;
	for (int i = 0; i < 63; i++)
		len += (size_t)snprintf(q + len, sizeof(q) - len, "w%d w%d ", i, i);
	len += (size_t)snprintf(q + len, sizeof(q) - len, "\"p one\" \"p two\" w0");
	assert_int_equal(pos_query_parse(a, q, len, &pq, &err), POS_OK);
	assert_int_equal(pq.n_terms, 63);
	assert_int_equal(pq.n_phrases, 1);
	assert_string_equal(pq.phrases[0], "p one");
	assert_null(strstr(pq.text, "p two"));
	assert_int_equal(fts_accepts(db, "limits", q, len), 0);

	/* exactly 4096 bytes is fine; text never outgrows the input */
	memset(q, '"', POS_QUERY_MAX_BYTES);
	assert_int_equal(pos_query_parse(a, q, POS_QUERY_MAX_BYTES, &pq, &err), POS_OK);
	assert_int_equal(pq.n_phrases, 0);
	for (size_t i = 0; i < POS_QUERY_MAX_BYTES; i++)
		q[i] = i % 3 == 2 ? ' ' : (i % 3 ? '"' : 'a' + (char)(i % 26));
	assert_int_equal(pos_query_parse(a, q, POS_QUERY_MAX_BYTES, &pq, &err), POS_OK);
	assert_true(strlen(pq.text) <= POS_QUERY_MAX_BYTES);
	assert_int_equal(pos_query_parse(a, q, POS_QUERY_MAX_BYTES + 1, &pq, &err),
			 POS_ERR_INVALID_FIELD);
	assert_string_equal(err.field, "query");
	sqlite3_close(db);
	pos_arena_destroy(a);
}

static void direct_parse(void **state)
{
	struct pos_arena *a = pos_arena_new();
	struct pos_query q;
	struct pos_error err;
	const char *s = "Budget type:note \"Q3 plan\" -draft tag:work";
	assert_int_equal(pos_query_parse(a, s, strlen(s), &q, &err), POS_OK);
	assert_int_equal(q.n_terms, 1);
	assert_string_equal(q.terms[0], "budget");
	assert_string_equal(q.phrases[0], "q3 plan");
	assert_string_equal(q.excluded[0], "draft");
	assert_string_equal(q.text, "Budget Q3 plan");
	assert_int_equal(q.type, POS_TYPE_NOTE);
	assert_int_equal(q.layer, -1);
	assert_string_equal(q.tags[0], "work");
	assert_null(q.source);
	assert_true(q.after == POS_TIME_NONE && q.before == POS_TIME_NONE);

	/* the input need not be NUL-terminated; NULL with length 0 is empty */
	assert_int_equal(pos_query_parse(a, "abcdef", 3, &q, &err), POS_OK);
	assert_string_equal(q.terms[0], "abc");
	assert_int_equal(pos_query_parse(a, NULL, 0, &q, &err), POS_ERR_INVALID_FIELD);
	assert_string_equal(err.field, "query");
	/* on error the output is an empty query */
	assert_int_equal(pos_query_parse(a, "x type:bogus", 12, &q, &err),
			 POS_ERR_INVALID_FIELD);
	assert_int_equal(q.n_terms, 0);
	assert_string_equal(q.text, "");
	assert_int_equal(q.type, -1);
	assert_non_null(strstr(err.message, "note"));
	pos_arena_destroy(a);
}

/* Error messages quote user text; a clipped quote must stay valid UTF-8. */
static void error_messages_stay_utf8(void **state)
{
	struct pos_arena *a = pos_arena_new();
	struct pos_query q, q2;
	struct pos_error err, err2;
	char s[256];
	size_t len = (size_t)snprintf(s, sizeof(s), "type:");
	for (int i = 0; i < 30; i++)
		len += (size_t)snprintf(s + len, sizeof(s) - len, "é");
	assert_int_equal(pos_query_parse(a, s, len, &q, &err), POS_ERR_INVALID_FIELD);
	assert_string_equal(err.field, "type");
	/* the parser itself is the UTF-8 validator */
	assert_int_equal(pos_query_parse(a, err.message, strlen(err.message), &q2, &err2),
			 POS_OK);
	len = (size_t)snprintf(s, sizeof(s), "after:x");
	for (int i = 0; i < 30; i++)
		len += (size_t)snprintf(s + len, sizeof(s) - len, "€");
	assert_int_equal(pos_query_parse(a, s, len, &q, &err), POS_ERR_INVALID_FIELD);
	assert_string_equal(err.field, "after");
	assert_int_equal(pos_query_parse(a, err.message, strlen(err.message), &q2, &err2),
			 POS_OK);
	pos_arena_destroy(a);
}

/* Every allocation may fail: the result is POS_ERR_NOMEM, never a crash. */
static void allocation_failures(void **state)
{
	const char *s = "what did \"Alice say\" about tag:work the -budget type:note x y z";
	bool ok = false;
	for (long n = 1; n < 200 && !ok; n++) {
		struct pos_arena *a = pos_arena_new();
		struct pos_query q;
		struct pos_error err;
		const char *m = NULL;
		assert_non_null(a);
		pos_alloc_fail_after(n);
		enum pos_err rc = pos_query_parse(a, s, strlen(s), &q, &err);
		if (rc == POS_OK)
			rc = pos_query_fts_match(a, &q, true, &m);
		pos_alloc_fail_after(0);
		if (rc == POS_OK)
			ok = m != NULL;
		else
			assert_int_equal(rc, POS_ERR_NOMEM);
		pos_arena_destroy(a);
	}
	assert_true(ok);
}

/* ---- tables against the real tokenizer ------------------------------------ */

static size_t utf8_encode(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/*
 * Every code point that pos_query_has_token calls a separator must be one
 * for FTS5 unicode61 (remove_diacritics 2): "a<cp>a" gives exactly the
 * token "a" twice. And ASCII letters and digits are token characters.
 */
static void separators_match_fts5(void **state)
{
	sqlite3 *db;
	sqlite3_stmt *ins, *chk;
	char *msg = NULL;
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	if (sqlite3_exec(db,
		"CREATE VIRTUAL TABLE s USING fts5(c,"
		" tokenize='porter unicode61 remove_diacritics 2');"
		"CREATE VIRTUAL TABLE v USING fts5vocab(s, 'instance');"
		"BEGIN", NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s", msg);
	assert_int_equal(sqlite3_prepare_v2(db,
		"INSERT INTO s(rowid, c) VALUES (?1, ?2)", -1, &ins, NULL), SQLITE_OK);
	size_t claimed = 0;
	for (uint32_t cp = 0; cp < 0x110000; cp++) {
		char one[4], doc[8];
		if (cp >= 0xD800 && cp <= 0xDFFF)
			continue;
		size_t n = utf8_encode(cp, one);
		bool tok = pos_query_has_token(one, n);
		if (cp < 0x80) {
			bool alnum = (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') ||
				     (cp >= 'A' && cp <= 'Z');
			assert_int_equal(tok, alnum);
		}
		if (tok)
			continue;
		claimed++;
		doc[0] = 'a';
		memcpy(doc + 1, one, n);
		doc[n + 1] = 'a';
		sqlite3_bind_int64(ins, 1, (sqlite3_int64)cp + 1);
		sqlite3_bind_text(ins, 2, doc, (int)n + 2, SQLITE_STATIC);
		assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
		sqlite3_reset(ins);
	}
	sqlite3_finalize(ins);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	assert_true(claimed > 1000);
	assert_int_equal(sqlite3_prepare_v2(db,
		"SELECT doc - 1 FROM v GROUP BY doc"
		" HAVING count(*) != 2 OR min(term) != 'a' OR max(term) != 'a'"
		" UNION ALL SELECT rowid - 1 FROM s WHERE rowid NOT IN (SELECT doc FROM v)",
		-1, &chk, NULL), SQLITE_OK);
	int wrong = 0;
	while (sqlite3_step(chk) == SQLITE_ROW) {
		fprintf(stderr, "U+%04llX is a token character for FTS5\n",
			(long long)sqlite3_column_int64(chk, 0));
		wrong++;
	}
	sqlite3_finalize(chk);
	sqlite3_close(db);
	assert_int_equal(wrong, 0);
	assert_false(pos_query_has_token("", 0));
	assert_false(pos_query_has_token("—…«»😀", strlen("—…«»😀")));
	assert_true(pos_query_has_token("东", strlen("东")));
}

/*
 * The stop-word list in docs/SEARCH-QUERY.md (between the stopwords
 * markers) is the one the code uses: every word there is found, which also
 * proves the table is sorted for its binary search.
 */
static void stopwords_match_docs(void **state)
{
	assert_true(pos_query_is_stopword("What", 4));
	assert_true(pos_query_is_stopword("HOW", 3));
	assert_true(pos_query_is_stopword("yourselves", 10));
	assert_true(pos_query_is_stopword("a", 1));
	assert_false(pos_query_is_stopword("whatever", 8));
	assert_false(pos_query_is_stopword("", 0));
	assert_false(pos_query_is_stopword("what?", 5));
	assert_false(pos_query_is_stopword("budget", 6));
	assert_false(pos_query_is_stopword("may", 3));
	assert_false(pos_query_is_stopword("the\0x", 5));

	const char *dir = getenv("POS_QUERY_DOCS");
	char path[1024];
	snprintf(path, sizeof(path), "%s", dir && *dir ? dir : "docs/SEARCH-QUERY.md");
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	static char doc[256 * 1024];
	size_t n = fread(doc, 1, sizeof(doc) - 1, f);
	fclose(f);
	doc[n] = '\0';
	char *start = strstr(doc, "<!-- stopwords -->");
	char *end = start ? strstr(start, "<!-- /stopwords -->") : NULL;
	assert_non_null(end);
	int words = 0, missing = 0;
	for (char *p = start + strlen("<!-- stopwords -->"); p < end;) {
		while (p < end && !(*p >= 'a' && *p <= 'z'))
			p++;
		char *w = p;
		while (p < end && *p >= 'a' && *p <= 'z')
			p++;
		if (p == w)
			continue;
		words++;
		if (!pos_query_is_stopword(w, (size_t)(p - w))) {
			fprintf(stderr, "documented stop word not found: %.*s\n", (int)(p - w), w);
			missing++;
		}
	}
	assert_int_equal(missing, 0);
	assert_true(words >= 150);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cases_parse_as_expected),
		cmocka_unit_test(cases_fts5_accepts_every_match),
		cmocka_unit_test(hostile_input_is_text),
		cmocka_unit_test(fts5_semantics),
		cmocka_unit_test(random_queries_fts5_accepts),
		cmocka_unit_test(limits),
		cmocka_unit_test(direct_parse),
		cmocka_unit_test(error_messages_stay_utf8),
		cmocka_unit_test(allocation_failures),
		cmocka_unit_test(separators_match_fts5),
		cmocka_unit_test(stopwords_match_docs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
