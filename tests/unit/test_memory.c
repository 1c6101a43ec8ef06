/*
 * Unit tests for src/memory/memory.c: the memory service over a real SQLite
 * store in a temporary directory (no search engine: svc.search is NULL).
 * Every field is validated with the code and field the API reports, bulk
 * writes are all or nothing, every operation is scoped by the user, and
 * list parameters are parsed and clamped. The HTTP side is tested
 * black-box in tests/api/test_memories.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/arena.h"
#include "base/clock.h"
#include "crypto/crypto.h"
#include "memory/memory.h"
#include "store/store.h"

struct fx {
	char dir[256];
	struct pos_store *s;
	struct pos_memsvc svc;
	struct pos_arena *a;
	char alice[POS_UUID_SIZE], bob[POS_UUID_SIZE];
	struct pos_error err;
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

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	pos_crypto_init();
	const char *base = getenv("POS_TEST_TMP");
	if (base)
		mkdir(base, 0700);
	snprintf(f->dir, sizeof(f->dir), "%s/memory_XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(f->dir))
		return -1;
	pos_error_clear(&f->err);
	if (pos_sqlite_open(f->dir, &f->s, &f->err))
		return -1;
	f->svc.store = f->s;
	f->svc.search = NULL;
	f->a = pos_arena_new();
	make_user(f->s, "alice@example.org", f->alice);
	make_user(f->s, "bob@example.org", f->bob);
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

/* Creates a memory of `user` from JSON text; the result code. */
static enum pos_err create(struct fx *f, const char *user, const char *body,
			   struct pos_memory *out)
{
	json_error_t je;
	json_t *j = json_loads(body, JSON_DECODE_ANY, &je);
	assert_non_null(j);
	pos_error_clear(&f->err);
	struct pos_memory m;
	enum pos_err rc = pos_memory_create(&f->svc, f->a, user, j, out ? out : &m, &f->err);
	json_decref(j);
	return rc;
}

static int64_t stored(struct fx *f)
{
	int64_t n = -1;
	assert_int_equal(f->s->memories->memory_count_all(f->s, &n), POS_OK);
	return n;
}

static void every_field_is_validated(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *body;
		enum pos_err code;
		const char *field;
	} bad[] = {
		{"[1]", POS_ERR_INVALID_REQUEST, NULL},
		{"{}", POS_ERR_MISSING_FIELD, "content"},
		{"{\"content\": 5}", POS_ERR_INVALID_FIELD, "content"},
		{"{\"content\": \"\"}", POS_ERR_INVALID_FIELD, "content"},
		{"{\"content\": \"x\", \"type\": \"poem\"}", POS_ERR_INVALID_FIELD, "type"},
		{"{\"content\": \"x\", \"layer\": \"attic\"}", POS_ERR_INVALID_FIELD, "layer"},
		{"{\"content\": \"x\", \"source\": \"\"}", POS_ERR_INVALID_FIELD, "source"},
		{"{\"content\": \"x\", \"tags\": \"a\"}", POS_ERR_INVALID_FIELD, "tags"},
		{"{\"content\": \"x\", \"tags\": [1]}", POS_ERR_INVALID_FIELD, "tags"},
		{"{\"content\": \"x\", \"importance_score\": 1.5}", POS_ERR_INVALID_FIELD,
		 "importance_score"},
		{"{\"content\": \"x\", \"importance_score\": \"high\"}", POS_ERR_INVALID_FIELD,
		 "importance_score"},
		{"{\"content\": \"x\", \"metadata\": [1]}", POS_ERR_INVALID_FIELD, "metadata"},
		{"{\"content\": \"x\", \"parent_memory_id\": \"nope\"}", POS_ERR_INVALID_FIELD,
		 "parent_memory_id"},
		{"{\"content\": \"x\", \"related_memory_ids\": [\"nope\"]}", POS_ERR_INVALID_FIELD,
		 "related_memory_ids"},
		{"{\"content\": \"x\", \"created_at\": \"yesterday\"}", POS_ERR_INVALID_FIELD,
		 "created_at"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum pos_err rc = create(f, f->alice, bad[i].body, NULL);
		if (rc != bad[i].code)
			fail_msg("%s: got %d, want %d", bad[i].body, rc, bad[i].code);
		if (bad[i].field)
			assert_string_equal(f->err.field, bad[i].field);
	}
	assert_int_equal(stored(f), 0);
}

static void limits_are_checked(void **state)
{
	struct fx *f = *state;
	/* content: 1 MiB is fine, one byte more is 413 */
	size_t n = POS_CONTENT_MAX + 1;
	char *big = malloc(n + 1);
	assert_non_null(big);
	memset(big, 'a', n);
	big[n] = '\0';
	json_t *j = json_pack("{s:s}", "content", big);
	struct pos_memory m;
	pos_error_clear(&f->err);
	assert_int_equal(pos_memory_create(&f->svc, f->a, f->alice, j, &m, &f->err),
			 POS_ERR_CONTENT_TOO_LARGE);
	json_decref(j);
	free(big);
	/* 101 tags, and a tag over 128 bytes */
	json_t *tags = json_array();
	for (int i = 0; i <= POS_TAGS_MAX; i++) {
		char t[16];
		snprintf(t, sizeof(t), "t%d", i);
		json_array_append_new(tags, json_string(t));
	}
	j = json_pack("{s:s, s:o}", "content", "x", "tags", tags);
	assert_int_equal(pos_memory_create(&f->svc, f->a, f->alice, j, &m, &f->err),
			 POS_ERR_INVALID_FIELD);
	assert_string_equal(f->err.field, "tags");
	json_decref(j);
	char longtag[POS_TAG_BYTES_MAX + 2];
	memset(longtag, 'x', sizeof(longtag) - 1);
	longtag[sizeof(longtag) - 1] = '\0';
	j = json_pack("{s:s, s:[s]}", "content", "x", "tags", longtag);
	assert_int_equal(pos_memory_create(&f->svc, f->a, f->alice, j, &m, &f->err),
			 POS_ERR_INVALID_FIELD);
	json_decref(j);
	/* metadata nested 17 deep */
	char deep[256];
	size_t at = (size_t)snprintf(deep, sizeof(deep), "{\"content\":\"x\",\"metadata\":");
	for (int i = 0; i < 17; i++)
		at += (size_t)snprintf(deep + at, sizeof(deep) - at, "{\"a\":");
	at += (size_t)snprintf(deep + at, sizeof(deep) - at, "1");
	for (int i = 0; i < 18; i++)
		at += (size_t)snprintf(deep + at, sizeof(deep) - at, "}");
	assert_true(at < sizeof(deep));
	assert_int_equal(create(f, f->alice, deep, NULL), POS_ERR_INVALID_FIELD);
	assert_string_equal(f->err.field, "metadata");
	assert_int_equal(stored(f), 0);
}

static void scoped_by_user(void **state)
{
	struct fx *f = *state;
	struct pos_memory m, got;
	assert_int_equal(create(f, f->alice,
				"{\"content\": \"hello\", \"type\": \"note\", \"tags\": [\"Books\"]}",
				&m), POS_OK);
	char norm[POS_UUID_SIZE];
	assert_true(pos_uuid_valid(m.id, strlen(m.id), norm));
	assert_int_equal(pos_memory_get(&f->svc, f->a, f->alice, m.id, &got, &f->err), POS_OK);
	assert_int_equal(got.content_len, 5);
	assert_memory_equal(got.content, "hello", 5);
	assert_int_equal(got.type, POS_TYPE_NOTE);
	/* another user's memory is NOT_FOUND, like a missing or malformed id */
	assert_int_equal(pos_memory_get(&f->svc, f->a, f->bob, m.id, &got, &f->err),
			 POS_ERR_NOT_FOUND);
	assert_int_equal(pos_memory_get(&f->svc, f->a, f->alice, "not-a-uuid", &got, &f->err),
			 POS_ERR_NOT_FOUND);
	assert_int_equal(pos_memory_delete(&f->svc, f->bob, m.id, &f->err), POS_ERR_NOT_FOUND);
	json_t *patch = json_pack("{s:s}", "layer", "archive");
	assert_int_equal(pos_memory_update(&f->svc, f->a, f->bob, m.id, patch, &got, &f->err),
			 POS_ERR_NOT_FOUND);
	/* bob may not link to alice's memory */
	char body[200];
	snprintf(body, sizeof(body), "{\"content\": \"x\", \"related_memory_ids\": [\"%s\"]}", m.id);
	assert_int_equal(create(f, f->bob, body, NULL), POS_ERR_INVALID_FIELD);
	assert_string_equal(f->err.field, "related_memory_ids");
	assert_int_equal(stored(f), 1);

	/* the owner's partial update changes only what it names */
	assert_int_equal(pos_memory_update(&f->svc, f->a, f->alice, m.id, patch, &got, &f->err),
			 POS_OK);
	json_decref(patch);
	assert_int_equal(got.layer, POS_LAYER_ARCHIVE);
	assert_memory_equal(got.content, "hello", 5);
	patch = json_loads("{\"content\": null}", 0, NULL);
	assert_int_equal(pos_memory_update(&f->svc, f->a, f->alice, m.id, patch, &got, &f->err),
			 POS_ERR_INVALID_FIELD);
	json_decref(patch);
	assert_int_equal(pos_memory_delete(&f->svc, f->alice, m.id, &f->err), POS_OK);
	assert_int_equal(pos_memory_get(&f->svc, f->a, f->alice, m.id, &got, &f->err),
			 POS_ERR_NOT_FOUND);
	assert_int_equal(pos_memory_delete(&f->svc, f->alice, m.id, &f->err), POS_ERR_NOT_FOUND);
	assert_int_equal(stored(f), 0);
}

static void bulk_is_all_or_nothing(void **state)
{
	struct fx *f = *state;
	json_t *body = json_loads("{\"memories\": [{\"content\": \"one\"}, {\"content\": \"\"},"
				  " {\"content\": \"three\"}]}", 0, NULL);
	assert_non_null(body);
	struct pos_memory *v = NULL;
	size_t n = 0;
	pos_error_clear(&f->err);
	assert_int_equal(pos_memory_bulk(&f->svc, f->a, f->alice, body, &v, &n, &f->err),
			 POS_ERR_INVALID_FIELD);
	assert_int_equal(f->err.index, 1);
	assert_string_equal(f->err.field, "content");
	assert_int_equal(stored(f), 0);
	json_decref(body);

	body = json_loads("{\"memories\": [{\"content\": \"one\"}, {\"content\": \"two\"}]}", 0,
			  NULL);
	assert_int_equal(pos_memory_bulk(&f->svc, f->a, f->alice, body, &v, &n, &f->err), POS_OK);
	assert_int_equal(n, 2);
	assert_memory_equal(v[1].content, "two", 3);
	assert_int_equal(stored(f), 2);
	json_decref(body);

	body = json_loads("{\"memories\": []}", 0, NULL);
	assert_int_not_equal(pos_memory_bulk(&f->svc, f->a, f->alice, body, &v, &n, &f->err),
			     POS_OK);
	json_decref(body);
	body = json_loads("{}", 0, NULL);
	assert_int_equal(pos_memory_bulk(&f->svc, f->a, f->alice, body, &v, &n, &f->err),
			 POS_ERR_MISSING_FIELD);
	json_decref(body);
}

struct params {
	const char *k[4], *v[4];
};

static const char *param(void *ctx, const char *name)
{
	const struct params *p = ctx;
	for (int i = 0; i < 4 && p->k[i]; i++)
		if (!strcmp(p->k[i], name))
			return p->v[i];
	return NULL;
}

static void list_parameters(void **state)
{
	struct fx *f = *state;
	struct pos_memory_query q;
	struct params p = {{"limit", "sort", "type", NULL}, {"500", "oldest", "email", NULL}};
	assert_int_equal(pos_filters_parse(f->a, param, &p, f->alice, &q, &f->err), POS_OK);
	assert_int_equal(q.limit, POS_LIST_LIMIT_MAX);
	assert_int_equal(q.type, POS_TYPE_EMAIL);
	assert_int_equal(q.layer, -1);
	struct params none = {{NULL}, {NULL}};
	assert_int_equal(pos_filters_parse(f->a, param, &none, f->alice, &q, &f->err), POS_OK);
	assert_int_equal(q.limit, POS_LIST_LIMIT_DEFAULT);
	static const struct {
		const char *k, *v, *field;
	} bad[] = {
		{"limit", "0", "limit"},   {"limit", "ten", "limit"}, {"offset", "-1", "offset"},
		{"sort", "random", "sort"}, {"type", "poem", "type"}, {"layer", "attic", "layer"},
		{"after", "soon", "after"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct params b = {{bad[i].k, NULL}, {bad[i].v, NULL}};
		pos_error_clear(&f->err);
		if (pos_filters_parse(f->a, param, &b, f->alice, &q, &f->err) != POS_ERR_INVALID_FIELD)
			fail_msg("%s=%s was accepted", bad[i].k, bad[i].v);
		assert_string_equal(f->err.field, bad[i].field);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(every_field_is_validated, setup, teardown),
		cmocka_unit_test_setup_teardown(limits_are_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(scoped_by_user, setup, teardown),
		cmocka_unit_test_setup_teardown(bulk_is_all_or_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(list_parameters, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
