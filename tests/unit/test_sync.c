/*
 * Unit tests for src/sync: the mail transform (GMime) on the fixtures of
 * tests/data/sync/mail, HTML to text, and the sink's upsert semantics with
 * a scripted adapter against a real store.
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
#include <unistd.h>

#include "base/arena.h"
#include "base/clock.h"
#include "base/uuid.h"
#include "crypto/crypto.h"
#include "store/store.h"
#include "sync/fsroot.h"
#include "sync/mail.h"
#include "sync/sync.h"

#define FIXTURES "tests/data/sync/mail/"

static char *slurp(const char *name, size_t *len)
{
	char path[512];
	snprintf(path, sizeof(path), FIXTURES "%s", name);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	char *buf = malloc(1 << 20);
	*len = fread(buf, 1, 1 << 20, f);
	fclose(f);
	return buf;
}

static void parse_ok(const char *name, struct pos_mail *m, size_t max_body)
{
	size_t len;
	char *raw = slurp(name, &len);
	char reason[128] = "";
	bool ok = pos_mail_parse(raw, len, max_body, NULL, m, reason, sizeof(reason));
	if (!ok)
		fail_msg("%s: %s", name, reason);
	m->raw = raw; /* freed by done() */
}

static void done(struct pos_mail *m)
{
	void *raw = (void *)m->raw;
	pos_mail_free(m);
	free(raw);
}

static const char *meta(const struct pos_mail *m, const char *k)
{
	return json_string_value(json_object_get(m->metadata, k));
}

static void test_rfc2047_headers(void **state)
{
	struct pos_mail m;
	parse_ok("rfc2047.eml", &m, POS_MAIL_BODY_DEFAULT);
	assert_string_equal(m.item.type, "email");
	assert_string_equal(m.item.external_id, "rfc2047-1@example.org");
	assert_non_null(strstr(m.content, "From: Jürgen Müller <juergen@example.org>\n"));
	assert_non_null(strstr(m.content, "Subject: Grüße aus Köln\n"));
	assert_non_null(strstr(m.content, "Date: Tue, 03 Nov 2026 10:15:00 +0100\n\n"));
	assert_non_null(strstr(m.content, "Das Wetter in Köln ist schön."));
	assert_string_equal(meta(&m, "subject"), "Grüße aus Köln");
	assert_string_equal(meta(&m, "sender"), "juergen@example.org");
	assert_string_equal(meta(&m, "email_id"), "rfc2047-1@example.org");
	/* 2026-11-03T09:15:00Z */
	assert_int_equal(m.item.created_at_us, INT64_C(1793697300) * 1000000);
	done(&m);
}

static void test_latin1_quoted_printable(void **state)
{
	struct pos_mail m;
	parse_ok("latin1.eml", &m, POS_MAIL_BODY_DEFAULT);
	assert_non_null(strstr(m.content, "Rendez-vous au café à midi"));
	assert_non_null(strstr(m.content, "Subject: Café plans"));
	done(&m);
}

static void test_nested_multipart_prefers_plain(void **state)
{
	struct pos_mail m;
	parse_ok("nested.eml", &m, POS_MAIL_BODY_DEFAULT);
	assert_non_null(strstr(m.content, "The budget meeting moved to Friday."));
	assert_null(strstr(m.content, "HTML version"));
	assert_null(strstr(m.content, "JVBER")); /* the PDF attachment is not body */
	assert_string_equal(meta(&m, "thread"), "thread-root@example.org");
	assert_null(m.item.attachment);
	done(&m);
}

static void test_html_only(void **state)
{
	struct pos_mail m;
	parse_ok("html_only.eml", &m, POS_MAIL_BODY_DEFAULT);
	assert_non_null(strstr(m.content, "The garden party is on Saturday & everyone's invited."));
	assert_non_null(strstr(m.content, "First item\nSecond item"));
	assert_null(strstr(m.content, "<p>"));
	assert_null(strstr(m.content, "alert"));
	assert_null(strstr(m.content, "color: red"));
	assert_null(strstr(m.content, "ignored title"));
	done(&m);
}

static void test_no_message_id_hashes(void **state)
{
	struct pos_mail a, b;
	parse_ok("noid.eml", &a, POS_MAIL_BODY_DEFAULT);
	parse_ok("noid.eml", &b, POS_MAIL_BODY_DEFAULT);
	assert_true(strncmp(a.item.external_id, "hash:", 5) == 0);
	assert_string_equal(a.item.external_id, b.item.external_id);
	assert_string_equal(a.item.version, b.item.version);
	done(&a);
	done(&b);
}

static void test_malformed_rejected(void **state)
{
	size_t len;
	char *raw = slurp("malformed.eml", &len);
	struct pos_mail m;
	char reason[128] = "";
	assert_false(pos_mail_parse(raw, len, POS_MAIL_BODY_DEFAULT, NULL, &m, reason,
				    sizeof(reason)));
	assert_true(reason[0] != '\0');
	assert_false(pos_mail_parse("\n\n", 2, POS_MAIL_BODY_DEFAULT, NULL, &m, reason,
				    sizeof(reason)));
	free(raw);
}

static void test_body_cut_keeps_original(void **state)
{
	char raw[8192];
	int n = snprintf(raw, sizeof(raw), "From: a@b.c\nSubject: long\nMessage-ID: <long@b.c>\n\n");
	for (int i = 0; i < 300; i++)
		n += snprintf(raw + n, sizeof(raw) - (size_t)n, "line %03d of text\n", i);
	struct pos_mail m;
	char reason[128];
	assert_true(pos_mail_parse(raw, (size_t)n, 1024, NULL, &m, reason, sizeof(reason)));
	assert_non_null(m.item.attachment);
	assert_int_equal(m.item.attachment_len, (size_t)n);
	assert_string_equal(m.item.attachment_type, "message/rfc822");
	assert_true(strlen(m.content) < 1024 + 200);
	assert_true(json_is_true(json_object_get(m.metadata, "body_truncated")));
	pos_mail_free(&m);
}

static void test_html_to_text(void **state)
{
	const char *h = "<div>a&lt;b &#233;&#x263A;</div><p>para</p>x<br>y&bogus; <!-- c -->z";
	size_t n;
	char *t = pos_html_to_text(h, strlen(h), &n);
	assert_string_equal(t, "a<b é☺\n\npara\n\nx\ny&bogus; z");
	free(t);
}

/* Random soup and mutated fixtures: no crash, bounded output, and every
 * message either parses into valid UTF-8 text or is rejected with a reason. */
static void test_parsers_survive_garbage(void **state)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	static const char alphabet[] = "<>/&#;x0123abcpPbrBRdiv!-- \n\r\"'=scriptyle";
	char buf[512];
	for (int it = 0; it < 4000; it++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		size_t n = (size_t)(x >> 33) % sizeof(buf);
		for (size_t i = 0; i < n; i++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			buf[i] = (x >> 40) % 5 == 0 ? (char)(x >> 48)
						   : alphabet[(x >> 33) % (sizeof(alphabet) - 1)];
		}
		size_t out_len = 0;
		char *t = pos_html_to_text(buf, n, &out_len);
		assert_non_null(t);
		assert_true(out_len <= 4 * n + 16);
		assert_int_equal(strlen(t) <= out_len, true);
		free(t);
	}
	const char *names[] = {"rfc2047.eml", "latin1.eml", "nested.eml", "html_only.eml"};
	for (size_t f = 0; f < sizeof(names) / sizeof(names[0]); f++) {
		size_t len;
		char *raw = slurp(names[f], &len);
		char *mut = malloc(len);
		for (int it = 0; it < 300; it++) {
			memcpy(mut, raw, len);
			for (int k = 0; k < 8; k++) {
				x = x * 6364136223846793005ULL + 1442695040888963407ULL;
				mut[(x >> 33) % len] = (char)(x >> 20);
			}
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			size_t cut = (size_t)(x >> 33) % (len + 1);
			struct pos_mail m;
			char reason[128] = "";
			if (pos_mail_parse(mut, cut, 1024, NULL, &m, reason, sizeof(reason))) {
				assert_non_null(m.item.external_id);
				assert_true(m.item.content_len > 0);
				pos_mail_free(&m);
			} else {
				assert_true(reason[0] != '\0');
			}
		}
		free(mut);
		free(raw);
	}
}

/* ---- the sink, with a scripted adapter ---- */

struct script {
	const struct pos_sync_item *items;
	size_t n;
	const char *const *removes;
	bool complete;
	const char *skip_pos;
};

static _Thread_local const struct script *cur;

static enum pos_err scripted_run(const json_t *config, const json_t *cursor,
				 json_t **cursor_out, const struct pos_sync_sink *sink,
				 struct pos_error *err)
{
	for (size_t i = 0; i < cur->n; i++) {
		struct pos_error e;
		enum pos_err rc = sink->upsert(sink->ctx, &cur->items[i], &e);
		if (rc && rc != POS_ERR_INVALID_FIELD)
			return rc;
		sink->progress(sink->ctx, i + 1, cur->n);
	}
	for (const char *const *r = cur->removes; r && *r; r++)
		sink->remove(sink->ctx, *r, err);
	if (cur->skip_pos)
		(sink->skip)(sink->ctx, cur->skip_pos, "broken"); /* cmocka has a skip() macro */
	if (cur->complete)
		sink->complete(sink->ctx);
	*cursor_out = json_pack("{s:i}", "n", (int)cur->n);
	return POS_OK;
}

static const struct pos_sync_adapter scripted = {"test", NULL, NULL, scripted_run, false};

struct fx {
	char dir[256];
	struct pos_store *s;
	struct pos_arena *a;
	struct pos_sync *sync;
	struct pos_memsvc mem;
	struct pos_sync_source src;
	char user[POS_UUID_SIZE];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	pos_crypto_init();
	const char *base = getenv("POS_TEST_TMP");
	if (base)
		mkdir(base, 0700);
	snprintf(f->dir, sizeof(f->dir), "%s/sync_XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(f->dir))
		return -1;
	struct pos_error e;
	pos_error_clear(&e);
	if (pos_sqlite_open(f->dir, &f->s, &e))
		return -1;
	f->a = pos_arena_new();
	struct pos_user u;
	memset(&u, 0, sizeof(u));
	pos_uuid_new(u.id);
	u.email = "sync@example.org";
	u.password_hash = "x";
	u.privacy_tier = "local";
	u.plan = "free";
	u.persona_json = "{}";
	u.settings_json = "{}";
	u.created_at = pos_now_us();
	u.last_login_at = POS_TIME_NONE;
	if (f->s->accounts->user_register(f->s, &u, NULL, true, 0))
		return -1;
	memcpy(f->user, u.id, POS_UUID_SIZE);
	f->mem.store = f->s;
	f->mem.search = NULL;
	if (pos_sync_new(f->s, &f->mem, false, &f->sync, &e))
		return -1;
	memset(&f->src, 0, sizeof(f->src));
	pos_uuid_new(f->src.id);
	memcpy(f->src.user_id, u.id, POS_UUID_SIZE);
	f->src.kind = "test";
	f->src.name = "test";
	f->src.config_json = "{}";
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	pos_sync_free(f->sync);
	pos_arena_destroy(f->a);
	pos_store_close(f->s);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void run(struct fx *f, const struct script *sc, struct pos_sync_report *rep)
{
	cur = sc;
	json_t *cfg = json_object(), *out = NULL;
	struct pos_error e;
	pos_error_clear(&e);
	assert_int_equal(pos_sync_run_adapter(f->sync, &scripted, &f->src, cfg, NULL, &out, rep, &e),
			 POS_OK);
	json_decref(cfg);
	json_decref(out);
}

static int64_t count_source(struct fx *f)
{
	struct pos_sync_ref *refs;
	size_t n;
	assert_int_equal(f->s->sync->sync_refs_list(f->s, f->a, f->user, f->src.id, &refs, &n), POS_OK);
	return (int64_t)n;
}

static void find(struct fx *f, const char *ext, struct pos_memory *m)
{
	struct pos_sync_ref r;
	assert_int_equal(f->s->sync->sync_refs_lookup(f->s, f->a, f->user, f->src.id, &ext, 1, &r),
			 POS_OK);
	assert_true(r.found);
	assert_int_equal(f->s->memories->memory_get(f->s, f->a, f->user, r.id, false, 0, m), POS_OK);
}

/* A mail's attachments are decoded into item.files (name and bytes), the
 * body part is not one of them. */
static void test_mail_attachments_are_files(void **state)
{
	(void)state;
	static const char raw[] =
		"From: a@example.org\r\nSubject: s\r\nMessage-ID: <att-1@x>\r\n"
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n"
		"--B\r\nContent-Type: text/plain\r\n\r\nthe body\r\n"
		"--B\r\nContent-Type: application/octet-stream; name=\"a.bin\"\r\n"
		"Content-Disposition: attachment; filename=\"a.bin\"\r\n"
		"Content-Transfer-Encoding: base64\r\n\r\naGVsbG8gZmlsZQ==\r\n"
		"--B\r\nContent-Type: text/plain; name=\"notes.txt\"\r\n\r\nnamed text\r\n"
		"--B--\r\n";
	struct pos_mail m;
	char reason[128] = "";
	assert_true(pos_mail_parse(raw, sizeof(raw) - 1, POS_MAIL_BODY_DEFAULT, NULL, &m, reason,
				   sizeof(reason)));
	assert_int_equal(m.item.n_files, 2);
	assert_ptr_equal(m.item.files, m.files);
	assert_string_equal(m.files[0].name, "a.bin");
	assert_int_equal(m.files[0].len, 10);
	assert_memory_equal(m.files[0].data, "hello file", 10);
	assert_string_equal(m.files[1].name, "notes.txt");
	assert_non_null(strstr(m.item.content, "the body"));
	assert_null(strstr(m.item.content, "hello file"));
	pos_mail_free(&m);
}

#define ITEM(ext, text, ver) {ext, "event", text, sizeof(text) - 1, NULL, NULL, 0, ver, \
			      NULL, NULL, 0, NULL, NULL, 0}

static void test_sink_upsert_semantics(void **state)
{
	struct fx *f = *state;
	struct pos_sync_report rep;
	struct pos_sync_item v1[] = {ITEM("a", "alpha one", "1"), ITEM("b", "beta one", "1"),
				     ITEM("c", "gamma one", "1")};
	struct script s1 = {v1, 3, NULL, true, NULL};
	run(f, &s1, &rep);
	assert_int_equal(rep.added, 3);
	assert_int_equal(count_source(f), 3);
	/* same versions: nothing written */
	run(f, &s1, &rep);
	assert_int_equal(rep.added, 0);
	assert_int_equal(rep.unchanged, 3);
	assert_int_equal(count_source(f), 3);
	/* b changed, c gone (complete), d new */
	struct pos_sync_item v2[] = {ITEM("a", "alpha one", "1"), ITEM("b", "beta two", "2"),
				     ITEM("d", "delta one", "1")};
	struct script s2 = {v2, 3, NULL, true, NULL};
	run(f, &s2, &rep);
	assert_int_equal(rep.added, 1);
	assert_int_equal(rep.updated, 1);
	assert_int_equal(rep.unchanged, 1);
	assert_int_equal(rep.removed, 1);
	assert_int_equal(count_source(f), 3);
	struct pos_memory m;
	find(f, "b", &m);
	assert_string_equal(m.content, "beta two");
	assert_int_equal(m.type, POS_TYPE_EVENT);
	assert_string_equal(m.source, "test");
	/* explicit remove, without complete */
	const char *rm[] = {"a", NULL};
	struct script s3 = {NULL, 0, rm, false, NULL};
	run(f, &s3, &rep);
	assert_int_equal(rep.removed, 1);
	assert_int_equal(count_source(f), 2);
}

/* The attach hook gets each file of an item after its memory is written;
 * one it refuses is reported and the memory stays; without a hook the
 * files are kept inline (base64). */
struct hook_calls {
	int n;
	char memory_id[POS_UUID_SIZE];
	char names[4][32];
};

static enum pos_err record_attach(void *ctx, const char *user_id, const char *memory_id,
				  const char *name, const void *data, size_t len, char *reason,
				  size_t reason_len)
{
	struct hook_calls *h = ctx;
	(void)user_id;
	(void)data;
	(void)len;
	snprintf(h->memory_id, sizeof(h->memory_id), "%s", memory_id);
	if (h->n < 4)
		snprintf(h->names[h->n], sizeof(h->names[0]), "%s", name);
	h->n++;
	if (strcmp(name, "big.bin") == 0) {
		snprintf(reason, reason_len, "larger than file_max");
		return POS_ERR_BODY_TOO_LARGE;
	}
	return POS_OK;
}

static void test_sink_attach_hook(void **state)
{
	struct fx *f = *state;
	struct pos_sync_report rep;
	static const struct pos_sync_file files[] = {{"a.txt", "hello", 5}, {"big.bin", "xx", 2}};
	struct pos_sync_item v[] = {ITEM("m1", "mail one", "1")};
	v[0].files = files;
	v[0].n_files = 2;
	struct script sc = {v, 1, NULL, false, NULL};
	/* without a hook: inline, base64 */
	run(f, &sc, &rep);
	struct pos_memory m;
	find(f, "m1", &m);
	assert_non_null(strstr(m.attachments_json, "\"name\":\"a.txt\""));
	assert_non_null(strstr(m.attachments_json, "aGVsbG8=")); /* "hello" */
	/* with one: the memory's list is left to the hook, each file handed over */
	struct hook_calls h = {0};
	pos_sync_set_attach(f->sync, record_attach, &h);
	struct pos_sync_item v2[] = {ITEM("m2", "mail two", "1")};
	v2[0].files = files;
	v2[0].n_files = 2;
	struct script sc2 = {v2, 1, NULL, false, NULL};
	run(f, &sc2, &rep);
	pos_sync_set_attach(f->sync, NULL, NULL);
	assert_int_equal(rep.added, 1);
	assert_int_equal(rep.skipped, 0); /* the memory landed */
	assert_int_equal(h.n, 2);
	assert_string_equal(h.names[0], "a.txt");
	assert_string_equal(h.names[1], "big.bin");
	assert_non_null(strstr(rep.first_skip, "big.bin not kept: larger than file_max"));
	find(f, "m2", &m);
	assert_string_equal(m.id, h.memory_id);
	assert_string_equal(m.attachments_json, "[]");
}

static void test_sink_skips_bad_items(void **state)
{
	struct fx *f = *state;
	struct pos_sync_report rep;
	struct pos_sync_item v[] = {ITEM("ok", "fine", "1"), ITEM("", "no id", "1"),
				    ITEM("blank", "  \n ", "1"),
				    {"badtype", "nonsense", "x", 1, NULL, NULL, 0, NULL, NULL, NULL, 0, NULL, NULL, 0},
				    ITEM("bad-utf8", "caf\xe9", "1")};
	struct script s = {v, 5, NULL, false, "line 7"};
	run(f, &s, &rep);
	assert_int_equal(rep.added, 2);
	assert_int_equal(rep.skipped, 4); /* "", blank, badtype, and the adapter's own */
	struct pos_memory m;
	find(f, "bad-utf8", &m);
	assert_string_equal(m.content, "caf\xef\xbf\xbd");
}

static void test_sink_duplicates_in_one_run(void **state)
{
	struct fx *f = *state;
	struct pos_sync_report rep;
	struct pos_sync_item v[] = {ITEM("x", "first", "1"), ITEM("x", "second", "2")};
	struct script s = {v, 2, NULL, false, NULL};
	run(f, &s, &rep);
	assert_int_equal(count_source(f), 1);
	struct pos_memory m;
	find(f, "x", &m);
	assert_string_equal(m.content, "second");
}

static void test_sink_links_become_relationships(void **state)
{
	struct fx *f = *state;
	struct pos_sync_report rep;
	json_t *links = json_pack("[s,s]", "b.md", "missing.md");
	struct pos_sync_item v[] = {
		{"a.md", "note", "links to b", 10, NULL, NULL, 0, "1", links, NULL, 0, NULL, NULL, 0},
		{"b.md", "note", "target", 6, NULL, NULL, 0, "1", NULL, NULL, 0, NULL, NULL, 0},
	};
	struct script s = {v, 2, NULL, false, NULL};
	run(f, &s, &rep);
	struct pos_memory a, b;
	find(f, "a.md", &a);
	find(f, "b.md", &b);
	char want[64];
	snprintf(want, sizeof(want), "[\"%s\"]", b.id);
	assert_string_equal(a.related_json, want);
	json_decref(links);
}

static void test_sources_validate_and_seal(void **state)
{
	struct fx *f = *state;
	struct pos_error e;
	struct pos_sync_source out;
	const char *bad[] = {
		"{\"kind\":\"nope\",\"config\":{}}",
		"{\"kind\":\"mbox\",\"config\":{}}",
		"{\"kind\":\"mbox\",\"config\":{\"path\":\"relative\"}}",
		"{\"kind\":\"mbox\",\"config\":{\"path\":\"/x\"},\"interval_s\":5}",
		"{\"kind\":\"mbox\",\"config\":{\"path\":\"/x\"},\"name\":\"\"}",
		"{\"kind\":\"imap\",\"config\":{\"host\":\"h\",\"user\":\"u\"}}",
		"{\"kind\":\"imap\",\"config\":{\"host\":\"h\",\"user\":\"u\",\"password\":\"p\",\"tls\":\"x\"}}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *b = json_loads(bad[i], 0, NULL);
		pos_error_clear(&e);
		assert_int_not_equal(pos_sync_source_create(f->sync, f->a, f->user, b, false, &out, &e),
				     POS_OK);
		assert_true(e.message[0] != '\0');
		json_decref(b);
	}
	json_t *b = json_loads("{\"kind\":\"imap\",\"name\":\"m\",\"config\":{\"host\":\"h\","
			       "\"user\":\"u\",\"password\":\"hunter2-secret\"}}", 0, NULL);
	pos_error_clear(&e);
	assert_int_equal(pos_sync_source_create(f->sync, f->a, f->user, b, false, &out, &e), POS_OK);
	json_decref(b);
	assert_null(strstr(out.config_json, "hunter2"));
	assert_non_null(out.secrets);
	assert_null(memmem(out.secrets, out.secrets_len, "hunter2", 7));
	struct pos_sync_source got;
	assert_int_equal(f->s->sync->sync_source_get(f->s, f->a, f->user, out.id, &got), POS_OK);
	assert_null(strstr(got.config_json, "hunter2"));
	/* another user's id is not found */
	char other[POS_UUID_SIZE];
	pos_uuid_new(other);
	assert_int_equal(f->s->sync->sync_source_get(f->s, f->a, other, out.id, &got),
			 POS_ERR_NOT_FOUND);
}

/* sync/fsroot.c: relative paths only; links, "..", /proc never followed. */
static void test_fsroot_confines(void **state)
{
	(void)state;
	assert_true(pos_fsroot_rel_ok("a.mbox"));
	assert_true(pos_fsroot_rel_ok("mail/a.mbox"));
	const char *bad[] = {"", "/etc/passwd", "../x", "a/../../x", "./x", "a//b", "a/.",
			     "a\nb", "/proc/self/fd/3"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(pos_fsroot_rel_ok(bad[i]));
	const char *base = getenv("POS_TEST_TMP");
	char dir[512], path[600], other[600];
	if (base)
		mkdir(base, 0700);
	snprintf(dir, sizeof(dir), "%s/fsroot_XXXXXX", base ? base : "/tmp");
	assert_non_null(mkdtemp(dir));
	struct pos_fsroot r;
	struct pos_error e;
	pos_error_clear(&e);
	assert_int_equal(pos_fsroot_open_user(dir, "u1", true, &r, &e), POS_OK);
	struct stat st;
	snprintf(path, sizeof(path), "%s/u1", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/u1/in.txt", dir);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("mine", fp);
	fclose(fp);
	snprintf(other, sizeof(other), "%s/secret.txt", dir);
	fp = fopen(other, "w");
	assert_non_null(fp);
	fclose(fp);
	snprintf(path, sizeof(path), "%s/u1/link.txt", dir);
	assert_int_equal(symlink(other, path), 0);
	snprintf(path, sizeof(path), "%s/u1/proc", dir);
	assert_int_equal(symlink("/proc/self/fd", path), 0);
	int fd;
	assert_int_equal(pos_fsroot_open(&r, "in.txt", 0, &fd, &e), POS_OK);
	close(fd);
	assert_int_equal(pos_fsroot_open(&r, "link.txt", 0, &fd, &e), POS_ERR_FORBIDDEN);
	assert_int_equal(pos_fsroot_open(&r, "proc/3", 0, &fd, &e), POS_ERR_FORBIDDEN);
	assert_int_equal(pos_fsroot_open(&r, "../secret.txt", 0, &fd, &e), POS_ERR_INVALID_FIELD);
	assert_int_equal(pos_fsroot_open(&r, other, 0, &fd, &e), POS_ERR_INVALID_FIELD);
	assert_int_equal(pos_fsroot_open(&r, "nope", 0, &fd, &e), POS_ERR_NOT_FOUND);
	/* unconfined (the operator): any path */
	assert_int_equal(pos_fsroot_open(NULL, other, 0, &fd, &e), POS_OK);
	close(fd);
	pos_fsroot_close(&r);
	pos_fsroot_close(&r); /* twice is fine */
}

int main(void)
{
	pos_crypto_init();
	pos_mail_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fsroot_confines),
		cmocka_unit_test(test_rfc2047_headers),
		cmocka_unit_test(test_latin1_quoted_printable),
		cmocka_unit_test(test_nested_multipart_prefers_plain),
		cmocka_unit_test(test_html_only),
		cmocka_unit_test(test_no_message_id_hashes),
		cmocka_unit_test(test_malformed_rejected),
		cmocka_unit_test(test_body_cut_keeps_original),
		cmocka_unit_test(test_mail_attachments_are_files),
		cmocka_unit_test(test_html_to_text),
		cmocka_unit_test(test_parsers_survive_garbage),
		cmocka_unit_test_setup_teardown(test_sink_upsert_semantics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sink_attach_hook, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sink_skips_bad_items, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sink_duplicates_in_one_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sink_links_become_relationships, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sources_validate_and_seal, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
