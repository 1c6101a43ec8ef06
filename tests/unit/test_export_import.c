/*
 * Unit tests for the import service (src/export/import.c) over a real
 * SQLite store: the round trip (random memories with every field, a
 * conversation and the persona -> export -> import into a fresh account
 * -> export again: identical but for ids, which map), the same for jsonl
 * and the Markdown zip, re-import without duplicates, a foreign format,
 * invalid items reported by position, a broken file that writes nothing
 * of its batch; an import of several batches (read on a thread of its own
 * while the batch before is written) with every memory embedded as a
 * single write would embed it.
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

#include "base/clock.h"
#include "base/uuid.h"
#include "crypto/crypto.h"
#include "export/export.h"
#include "export/import.h"
#include "search/engine.h"

#define N_MEM 60

struct fx {
	char dir[256];
	struct pos_store *s;
	struct pos_memsvc svc;
	struct pos_arena *a;
	char alice[POS_UUID_SIZE];
	uint64_t errors[16];
	size_t n_errors;
};

static void make_user(struct pos_store *s, const char *email, char id[POS_UUID_SIZE])
{
	struct pos_user u = {0};
	assert_true(pos_uuid_new(u.id));
	u.email = email;
	u.password_hash = "x";
	u.privacy_tier = "local";
	u.plan = "free";
	u.persona_json = "{}";
	u.settings_json = "{}";
	u.created_at = pos_now_us();
	u.last_login_at = POS_TIME_NONE;
	assert_int_equal(s->accounts->user_register(s, &u, NULL, true, 0), POS_OK);
	memcpy(id, u.id, POS_UUID_SIZE);
}

/* Random memories with every field; each may relate to and descend from
 * earlier ones. */
static void fill(struct fx *f)
{
	static const char *words[] = {"café", "meeting", "🚀", "naïve", "über", "日本語", "\"q\"",
				      "line\nbreak", "tab\there", "plain"};
	static char ids[N_MEM][POS_UUID_SIZE];
	srand(42);
	for (int i = 0; i < N_MEM; i++) {
		char content[512], tags[256], md[256];
		int n = snprintf(content, sizeof(content), "memory %d:", i);
		for (int w = 0; w < 1 + rand() % 8; w++)
			n += snprintf(content + n, sizeof(content) - (size_t)n, " %s", words[rand() % 10]);
		const char *tagv[3];
		int nt = rand() % 3;
		int tn = snprintf(tags, sizeof(tags), "[");
		static const char *tagpool[] = {"work", "home", "ünï", "a b"};
		for (int t = 0; t < nt; t++) {
			tagv[t] = tagpool[(i + t) % 4];
			tn += snprintf(tags + tn, sizeof(tags) - (size_t)tn, "%s\"%s\"", t ? "," : "", tagv[t]);
		}
		snprintf(tags + tn, sizeof(tags) - (size_t)tn, "]");
		snprintf(md, sizeof(md), "{\"i\":%d,\"nested\":{\"a\":[1,2.5,true,null]},\"s\":\"%s\"}", i,
			 i % 2 ? "x" : "ÿ");
		struct pos_memory m;
		memset(&m, 0, sizeof(m));
		assert_true(pos_uuid_new(m.id));
		memcpy(m.user_id, f->alice, POS_UUID_SIZE);
		m.content = content;
		m.content_len = strlen(content);
		m.type = (enum pos_mem_type)(rand() % POS_TYPE__COUNT);
		m.layer = (enum pos_mem_layer)(rand() % POS_LAYER__COUNT);
		m.source = i % 3 ? "api" : "chat";
		m.tags_json = tags;
		m.tags = tagv;
		m.n_tags = (size_t)nt;
		m.metadata_json = md;
		m.attachments_json = i % 4 ? "[]" : "[{\"name\":\"scan.pdf\",\"bytes\":1234}]";
		m.shared_with_json = "[]";
		m.importance = (rand() % 1001) / 1000.0;
		m.access_count = rand() % 50;
		m.created_at = 1700000000000000LL + (int64_t)i * 86400000000LL + rand() % 1000000;
		m.updated_at = m.created_at + rand() % 100000000;
		m.last_accessed_at = i % 2 ? m.updated_at + 5 : POS_TIME_NONE;
		char ext[32];
		snprintf(ext, sizeof(ext), "ext-%d", i);
		m.external_id = i % 5 ? NULL : ext;
		char rel[2][POS_UUID_SIZE];
		if (i > 2 && i % 3 == 0) {
			memcpy(rel[0], ids[i - 1], POS_UUID_SIZE);
			memcpy(rel[1], ids[i - 3], POS_UUID_SIZE);
			m.related = rel;
			m.n_related = 2;
		}
		if (i > 0 && i % 7 == 0)
			memcpy(m.parent_id, ids[i - 2], POS_UUID_SIZE);
		struct pos_error e;
		pos_error_clear(&e);
		enum pos_err irc = f->s->memories->memory_insert(f->s, &m, 1, &e);
		if (irc)
			fail_msg("insert %d: %s (%s)", i, e.message, e.field);
		memcpy(ids[i], m.id, POS_UUID_SIZE);
	}
	struct pos_conversation c = {0};
	assert_true(pos_uuid_new(c.id));
	memcpy(c.user_id, f->alice, POS_UUID_SIZE);
	c.title = "Week plan ✓";
	c.created_at = c.updated_at = 1700000000000000LL;
	struct pos_chat_message msg[2] = {0};
	for (int i = 0; i < 2; i++) {
		assert_true(pos_uuid_new(msg[i].id));
		memcpy(msg[i].conversation_id, c.id, POS_UUID_SIZE);
		msg[i].role = i ? "assistant" : "user";
		msg[i].content = i ? "Here it is." : "Plan my week";
		msg[i].memories_used_json = "[]";
		msg[i].created_at = 1700000000000000LL + i;
	}
	memcpy(msg[1].memory_id, ids[5], POS_UUID_SIZE);
	assert_int_equal(f->s->chat->chat_append(f->s, &c, true, msg, 2), POS_OK);
	struct pos_user u;
	assert_int_equal(f->s->accounts->user_by_id(f->s, f->a, f->alice, &u), POS_OK);
	u.persona_json = "{\"name\":\"Ada\",\"style\":\"brief\"}";
	assert_int_equal(f->s->accounts->user_update_profile(f->s, &u), POS_OK);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	pos_crypto_init();
	const char *base = getenv("POS_TEST_TMP");
	if (base)
		mkdir(base, 0700);
	snprintf(f->dir, sizeof(f->dir), "%s/import_XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(f->dir))
		return -1;
	struct pos_error e;
	pos_error_clear(&e);
	if (pos_sqlite_open(f->dir, &f->s, &e))
		return -1;
	f->svc.store = f->s;
	f->a = pos_arena_new();
	make_user(f->s, "alice@example.org", f->alice);
	fill(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	pos_arena_destroy(f->a);
	pos_store_close(f->s);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void export_to(struct fx *f, const char *user, const char *body_text, const char *path)
{
	json_error_t je;
	json_t *body = json_loads(body_text, 0, &je);
	struct pos_export_request req;
	struct pos_error e;
	pos_error_clear(&e);
	assert_int_equal(pos_export_request_parse(f->a, user, body, &req, &e), POS_OK);
	json_decref(body);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(pos_export_write(f->s, user, &req, fd, NULL, NULL, &e), POS_OK);
	close(fd);
}

static void on_error(void *ctx, uint64_t pos, enum pos_err code, const char *msg)
{
	struct fx *f = ctx;
	if (f->n_errors < 16)
		f->errors[f->n_errors++] = pos;
}

static enum pos_err import(struct fx *f, const char *user, enum pos_import_format fmt,
			   const char *path, struct pos_import_result *res, struct pos_error *e)
{
	struct pos_import_hooks h = {.item_error = on_error, .ctx = f};
	pos_error_clear(e);
	f->n_errors = 0;
	return pos_import_run(&f->svc, user, fmt, path, NULL, &h, res, e);
}

/* The id a memory of `from` gets when imported into `to`. */
static void mapped(const char *to, const char *old, char out[POS_UUID_SIZE])
{
	char key[80];
	snprintf(key, sizeof(key), "pos:%s", old);
	pos_import_derive_id(to, key, out);
}

static const char *const same_fields[] = {
	"content", "type", "layer", "source", "created_at", "updated_at", "last_accessed_at",
	"tags", "importance_score", "access_count", "is_shared", "shared_with", "metadata",
	"attachments", "external_id",
};

/* Every memory of a's export is in b's, equal on every field, ids mapped. */
static void same_export(const char *pa, const char *pb, const char *to)
{
	json_error_t je;
	json_t *a = json_load_file(pa, 0, &je), *b = json_load_file(pb, 0, &je);
	assert_non_null(a);
	assert_non_null(b);
	json_t *ma = json_object_get(a, "memories"), *mb = json_object_get(b, "memories");
	assert_int_equal(json_array_size(ma), N_MEM);
	assert_int_equal(json_array_size(mb), N_MEM);
	for (size_t i = 0; i < N_MEM; i++) {
		json_t *x = json_array_get(ma, i), *y = NULL;
		char want[POS_UUID_SIZE];
		mapped(to, json_string_value(json_object_get(x, "id")), want);
		for (size_t k = 0; k < N_MEM && !y; k++)
			if (strcmp(json_string_value(json_object_get(json_array_get(mb, k), "id")), want) == 0)
				y = json_array_get(mb, k);
		if (!y)
			fail_msg("memory %zu not imported", i);
		for (size_t k = 0; k < sizeof(same_fields) / sizeof(same_fields[0]); k++)
			if (!json_equal(json_object_get(x, same_fields[k]), json_object_get(y, same_fields[k])))
				fail_msg("memory %zu differs in %s", i, same_fields[k]);
		const char *pa_id = json_string_value(json_object_get(x, "parent_memory_id"));
		const char *pb_id = json_string_value(json_object_get(y, "parent_memory_id"));
		if (pa_id) {
			mapped(to, pa_id, want);
			assert_non_null(pb_id);
			assert_string_equal(pb_id, want);
		} else {
			assert_null(pb_id);
		}
		json_t *ra = json_object_get(x, "related_memory_ids");
		json_t *rb = json_object_get(y, "related_memory_ids");
		assert_int_equal(json_array_size(ra), json_array_size(rb));
		size_t j;
		json_t *r;
		json_array_foreach(ra, j, r) {
			mapped(to, json_string_value(r), want);
			bool found = false;
			for (size_t k = 0; k < json_array_size(rb); k++)
				found |= strcmp(json_string_value(json_array_get(rb, k)), want) == 0;
			assert_true(found);
		}
	}
	assert_true(json_equal(json_object_get(a, "persona"), json_object_get(b, "persona")));
	{
		json_t *ca = json_array_get(json_object_get(a, "conversations"), 0);
		json_t *cb = json_array_get(json_object_get(b, "conversations"), 0);
		assert_non_null(cb);
		assert_true(json_equal(json_object_get(ca, "title"), json_object_get(cb, "title")));
		json_t *msgs = json_object_get(cb, "messages");
		assert_int_equal(json_array_size(msgs), 2);
		assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 1), "content")),
				    "Here it is.");
		assert_non_null(json_string_value(json_object_get(json_array_get(msgs, 1), "memory_id")));
	}
	json_decref(a);
	json_decref(b);
}

static void round_trip(struct fx *f, const char *fmt_name, enum pos_import_format fmt)
{
	char pa[400], px[400], pb[400], body[100], bob[POS_UUID_SIZE], email[64];
	snprintf(pa, sizeof(pa), "%s/a.json", f->dir);
	snprintf(px, sizeof(px), "%s/a.%s", f->dir, fmt_name);
	snprintf(pb, sizeof(pb), "%s/b.json", f->dir);
	snprintf(email, sizeof(email), "bob-%s@example.org", fmt_name);
	make_user(f->s, email, bob);
	export_to(f, f->alice, "{\"format\":\"json\"}", pa);
	snprintf(body, sizeof(body), "{\"format\":\"%s\"}", fmt_name);
	export_to(f, f->alice, body, px);
	struct pos_import_result res;
	struct pos_error e;
	assert_int_equal(import(f, bob, fmt, px, &res, &e), POS_OK);
	assert_int_equal(res.added, N_MEM);
	assert_true(res.persona);
	assert_int_equal(f->n_errors, 0);
	export_to(f, bob, "{\"format\":\"json\"}", pb);
	same_export(pa, pb, bob);

	/* again: nothing new */
	assert_int_equal(import(f, bob, fmt, px, &res, &e), POS_OK);
	assert_int_equal(res.added, 0);
	assert_int_equal(res.unchanged, N_MEM + 1); /* and the conversation */
	int64_t total = 0;
	struct pos_usage u;
	assert_int_equal(f->s->accounts->user_usage(f->s, bob, &u), POS_OK);
	total = u.n[POS_QUOTA_MEMORIES];
	assert_int_equal(total, N_MEM);

	/* what the store's triggers keep per memory, done set-wise for the
	 * import's batch: the same as alice's one-by-one writes */
	struct pos_user ua, ub;
	assert_int_equal(f->s->accounts->user_by_id(f->s, f->a, f->alice, &ua), POS_OK);
	assert_int_equal(f->s->accounts->user_by_id(f->s, f->a, bob, &ub), POS_OK);
	assert_true(ua.bytes_used > 0);
	assert_int_equal(ub.bytes_used, ua.bytes_used);
	static const char *const words[] = {"meeting", "plain", "memory"};
	for (size_t w = 0; w < 3; w++) {
		struct pos_hit *ha = NULL, *hb = NULL;
		size_t na = 0, nb = 0;
		struct pos_memory_query q = {.user_id = f->alice, .type = -1, .layer = -1,
					     .after = POS_TIME_NONE, .before = POS_TIME_NONE,
					     .limit = 1000};
		assert_int_equal(f->s->memories->keyword_search(f->s, f->a, &q, words[w], &ha, &na),
				 POS_OK);
		q.user_id = bob;
		assert_int_equal(f->s->memories->keyword_search(f->s, f->a, &q, words[w], &hb, &nb),
				 POS_OK);
		assert_true(na > 0);
		assert_int_equal(nb, na);
	}
}

static void json_round_trip(void **state)
{
	round_trip(*state, "json", POS_IMPORT_JSON);
}

static void jsonl_round_trip(void **state)
{
	round_trip(*state, "jsonl", POS_IMPORT_JSONL);
}

static void markdown_round_trip(void **state)
{
	round_trip(*state, "markdown", POS_IMPORT_MARKDOWN);
}

static void foreign_and_invalid(void **state)
{
	struct fx *f = *state;
	char carol[POS_UUID_SIZE], p[400];
	make_user(f->s, "carol@example.org", carol);
	struct pos_import_result res;
	struct pos_error e;
	assert_int_equal(import(f, carol, POS_IMPORT_CHATGPT,
				"tests/data/import/chatgpt_conversations.json", &res, &e),
			 POS_OK);
	assert_int_equal(res.added, 2);
	assert_int_equal(import(f, carol, POS_IMPORT_CHATGPT,
				"tests/data/import/chatgpt_conversations.json", &res, &e),
			 POS_OK);
	assert_int_equal(res.added, 0);
	assert_int_equal(res.unchanged, 2);

	/* an account's own export into itself: all there already */
	snprintf(p, sizeof(p), "%s/own.json", f->dir);
	export_to(f, f->alice, "{\"format\":\"json\"}", p);
	assert_int_equal(import(f, f->alice, POS_IMPORT_JSON, p, &res, &e), POS_OK);
	assert_int_equal(res.added, 0);
	assert_int_equal(res.unchanged, N_MEM + 1);
	assert_int_equal(res.conversations, 0);

	/* invalid items are skipped and named by position; the rest is written */
	snprintf(p, sizeof(p), "%s/bad.csv", f->dir);
	FILE *fp = fopen(p, "w");
	fputs("content,type,importance_score\nfine,note,0.5\n,note,\nalso fine,bogus,\n"
	      "too important,note,7\nlast,event,1\n",
	      fp);
	fclose(fp);
	assert_int_equal(import(f, carol, POS_IMPORT_CSV, p, &res, &e), POS_OK);
	assert_int_equal(res.added, 2);
	assert_int_equal(f->n_errors, 3);
	assert_int_equal(f->errors[0], 1);
	assert_int_equal(f->errors[1], 2);
	assert_int_equal(f->errors[2], 3);
}

/* A file broken at item 40: the batch being gathered is not written. */
static void broken_file(void **state)
{
	struct fx *f = *state;
	char dave[POS_UUID_SIZE], p[400];
	make_user(f->s, "dave@example.org", dave);
	snprintf(p, sizeof(p), "%s/a.jsonl", f->dir);
	export_to(f, f->alice, "{\"format\":\"jsonl\"}", p);
	FILE *fp = fopen(p, "r+b");
	char *line = NULL;
	size_t cap = 0;
	long at = 0;
	for (int i = 0; i < 41 && getline(&line, &cap, fp) > 0; i++)
		at = ftell(fp);
	free(line);
	fclose(fp);
	assert_int_equal(truncate(p, at + 30), 0); /* inside memory 40 */
	struct pos_import_result res;
	struct pos_error e;
	assert_int_equal(import(f, dave, POS_IMPORT_JSONL, p, &res, &e), POS_ERR_INVALID_JSON);
	assert_int_equal(e.index, 40);
	assert_int_equal(res.added, 0);
	struct pos_usage u;
	assert_int_equal(f->s->accounts->user_usage(f->s, dave, &u), POS_OK);
	assert_int_equal(u.n[POS_QUOTA_MEMORIES], 0);
}

/* A jsonl export of n memories ("memory <i> about ..."), positions 0..n-1;
 * the items at bad[] are invalid (even: an unknown type, odd: empty
 * content). */
static void write_many(const char *path, int n, const int *bad, size_t n_bad)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp, "{\"record\":\"header\",\"format\":\"personalos-export\",\"version\":1}\n");
	for (int i = 0; i < n; i++) {
		bool b = false;
		for (size_t k = 0; k < n_bad; k++)
			b = b || bad[k] == i;
		char content[96];
		snprintf(content, sizeof(content), "memory %d about gardens, invoices and travel", i);
		fprintf(fp,
			"{\"record\":\"memory\",\"data\":{\"id\":\"00000000-0000-4000-8000-%012d\","
			"\"content\":\"%s\",\"type\":\"%s\",\"tags\":[\"t%d\"],"
			"\"created_at\":\"2026-01-01T00:00:00Z\"}}\n",
			i, b && i % 2 ? "" : content, b && i % 2 == 0 ? "bogus" : "note", i % 7);
	}
	fclose(fp);
}

/* The stored vector of imported memory `i` of write_many is the one a
 * single write of its content gets. */
static void assert_embedded(struct fx *f, struct pos_search *se, const char *user, int i)
{
	char old[40], id[POS_UUID_SIZE], content[96];
	snprintf(old, sizeof(old), "00000000-0000-4000-8000-%012d", i);
	mapped(user, old, id);
	struct pos_memory m;
	assert_int_equal(f->s->memories->memory_get(f->s, f->a, user, id, false, 0, &m), POS_OK);
	snprintf(content, sizeof(content), "memory %d about gardens, invoices and travel", i);
	assert_string_equal(m.content, content);
	struct pos_vec got, want;
	assert_int_equal(f->s->memories->vector_get(f->s, f->a, user, m.seq, &got), POS_OK);
	assert_int_equal(pos_search_embed(se, f->a, content, strlen(content), &want), POS_OK);
	assert_non_null(got.q);
	assert_int_equal(got.dim, want.dim);
	assert_memory_equal(got.q, want.q, want.dim);
	assert_true(got.scale == want.scale);
}

/* Stops at its second call: after the first batch is written. */
static int stop_calls;
static bool stop_second(void *ctx)
{
	(void)ctx;
	return ++stop_calls >= 2;
}

/* More than two batches: the next batch is read while one is written.
 * Every memory is written once and embedded; invalid items in any batch
 * are reported in file order; re-importing adds nothing; a file broken in
 * the third batch keeps the first two and nothing of the third. */
static void many_batches(void **state)
{
	struct fx *f = *state;
	enum { N = 2 * POS_IMPORT_BATCH + 2000 };
	static const int bad[] = {4, POS_IMPORT_BATCH + 2003};
	char gus[POS_UUID_SIZE], hal[POS_UUID_SIZE], p[400];
	make_user(f->s, "gus@example.org", gus);
	make_user(f->s, "hal@example.org", hal);
	snprintf(p, sizeof(p), "%s/many.jsonl", f->dir);
	write_many(p, N, bad, 2);
	struct pos_search_config cfg;
	pos_search_config_default(&cfg);
	cfg.backfill = false;
	struct pos_search *se = NULL;
	struct pos_error e;
	pos_error_clear(&e);
	assert_int_equal(pos_search_new(f->s, &cfg, &se, &e), POS_OK);
	f->svc.search = se;

	struct pos_import_result res;
	assert_int_equal(import(f, gus, POS_IMPORT_JSONL, p, &res, &e), POS_OK);
	assert_int_equal(res.items, N);
	assert_int_equal(res.added, N - 2);
	assert_int_equal(res.skipped, 2);
	assert_int_equal(f->n_errors, 2);
	assert_int_equal(f->errors[0], bad[0]);
	assert_int_equal(f->errors[1], bad[1]);
	struct pos_usage u;
	assert_int_equal(f->s->accounts->user_usage(f->s, gus, &u), POS_OK);
	assert_int_equal(u.n[POS_QUOTA_MEMORIES], N - 2);
	static const int probe[] = {0, 5, POS_IMPORT_BATCH - 1, POS_IMPORT_BATCH + 1,
				    POS_IMPORT_BATCH + 2004, N - 1};
	for (size_t k = 0; k < sizeof(probe) / sizeof(probe[0]); k++)
		assert_embedded(f, se, gus, probe[k]);

	assert_int_equal(import(f, gus, POS_IMPORT_JSONL, p, &res, &e), POS_OK);
	assert_int_equal(res.added, 0);
	assert_int_equal(res.unchanged, N - 2);
	assert_int_equal(f->s->accounts->user_usage(f->s, gus, &u), POS_OK);
	assert_int_equal(u.n[POS_QUOTA_MEMORIES], N - 2);

	/* cut inside the line of memory 2 * BATCH + 500 */
	FILE *fp = fopen(p, "r+b");
	char *line = NULL;
	size_t cap = 0;
	long at = 0;
	for (int i = 0; i < 2 * POS_IMPORT_BATCH + 501 && getline(&line, &cap, fp) > 0; i++)
		at = ftell(fp);
	free(line);
	fclose(fp);
	assert_int_equal(truncate(p, at + 30), 0);
	assert_int_equal(import(f, hal, POS_IMPORT_JSONL, p, &res, &e), POS_ERR_INVALID_JSON);
	assert_int_equal(e.index, 2 * POS_IMPORT_BATCH + 500);
	/* the two full batches before the break: 2 * BATCH valid memories
	 * (positions 0 .. 2 * BATCH + 1, two of them invalid) */
	assert_int_equal(res.added, 2 * POS_IMPORT_BATCH);
	assert_int_equal(f->s->accounts->user_usage(f->s, hal, &u), POS_OK);
	assert_int_equal(u.n[POS_QUOTA_MEMORIES], 2 * POS_IMPORT_BATCH);
	assert_embedded(f, se, hal, 2 * POS_IMPORT_BATCH + 1);

	/* stopped between batches: the batch written stays, the one read
	 * ahead is not written */
	char ivy[POS_UUID_SIZE];
	make_user(f->s, "ivy@example.org", ivy);
	stop_calls = 0;
	struct pos_import_hooks h = {.should_stop = stop_second, .ctx = f};
	pos_error_clear(&e);
	assert_int_equal(pos_import_run(&f->svc, ivy, POS_IMPORT_JSONL, p, NULL, &h, &res, &e),
			 POS_ERR_UNAVAILABLE);
	assert_int_equal(res.added, POS_IMPORT_BATCH);
	assert_int_equal(f->s->accounts->user_usage(f->s, ivy, &u), POS_OK);
	assert_int_equal(u.n[POS_QUOTA_MEMORIES], POS_IMPORT_BATCH);
	f->svc.search = NULL;
	pos_search_free(se);
}

/* A sealed export: nothing readable in the file, the right passphrase
 * imports it whole, a wrong or missing one and a cut file write nothing. */
static void sealed(void **state)
{
	struct fx *f = *state;
	char erin[POS_UUID_SIZE], p[400], cut[400], cmd[2400];
	make_user(f->s, "erin@example.org", erin);
	snprintf(p, sizeof(p), "%s/sealed.jsonl", f->dir);
	export_to(f, f->alice, "{\"format\":\"jsonl\",\"passphrase\":\"open sesame 42\"}", p);
	snprintf(cmd, sizeof(cmd), "grep -q -e memory -e personalos-export '%s'", p);
	assert_int_not_equal(system(cmd), 0);
	struct pos_import_result res;
	struct pos_error e;
	struct pos_import_hooks h = {.item_error = on_error, .ctx = f};
	pos_error_clear(&e);
	assert_int_equal(pos_import_run(&f->svc, erin, POS_IMPORT_JSONL, p, NULL, &h, &res, &e),
			 POS_ERR_INVALID_FIELD);
	assert_string_equal(e.field, "passphrase");
	pos_error_clear(&e);
	assert_int_equal(pos_import_run(&f->svc, erin, POS_IMPORT_JSONL, p, "wrong one 42", &h, &res, &e),
			 POS_ERR_DECRYPT);
	/* cut short: the FINAL chunk is missing */
	snprintf(cut, sizeof(cut), "%s/cut.jsonl", f->dir);
	snprintf(cmd, sizeof(cmd), "head -c $(( $(stat -c %%s '%s') - 100 )) '%s' > '%s'", p, p, cut);
	assert_int_equal(system(cmd), 0);
	pos_error_clear(&e);
	assert_int_equal(pos_import_run(&f->svc, erin, POS_IMPORT_JSONL, cut, "open sesame 42", &h, &res,
					&e),
			 POS_ERR_DECRYPT);
	struct pos_usage u;
	assert_int_equal(f->s->accounts->user_usage(f->s, erin, &u), POS_OK);
	assert_int_equal(u.n[POS_QUOTA_MEMORIES], 0);
	pos_error_clear(&e);
	assert_int_equal(pos_import_run(&f->svc, erin, POS_IMPORT_JSONL, p, "open sesame 42", &h, &res,
					&e),
			 POS_OK);
	assert_int_equal(res.added, N_MEM);
	/* the markdown zip sealed too (the zip writer writes through the seal) */
	snprintf(p, sizeof(p), "%s/sealed.zip", f->dir);
	export_to(f, f->alice, "{\"format\":\"markdown\",\"passphrase\":\"open sesame 42\"}", p);
	assert_int_equal(pos_import_run(&f->svc, erin, POS_IMPORT_MARKDOWN, p, "open sesame 42", &h, &res,
					&e),
			 POS_OK);
	assert_int_equal(res.unchanged, N_MEM + 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(json_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(jsonl_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(markdown_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(foreign_and_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(broken_file, setup, teardown),
		cmocka_unit_test_setup_teardown(many_batches, setup, teardown),
		cmocka_unit_test_setup_teardown(sealed, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
