/* Unit tests for src/store/crypt_store.c over the SQLite backend: what is
 * stored for an encrypted user, opening on read, LOCKED without the key,
 * DECRYPT for a tampered row, keyword search over tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/arena.h"
#include "base/clock.h"
#include "crypto/crypto.h"
#include "crypto/keyring.h"
#include "memory/memory.h"
#include "store/crypt_store.h"
#include "store/store.h"

struct fx {
	char dir[256];
	char db[300];
	struct pos_store *s;
	struct pos_keyring *kr;
	struct pos_arena *a;
	char user[POS_UUID_SIZE];
	char plain[POS_UUID_SIZE];
	uint8_t dek[POS_DEK_SIZE];
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
	pos_crypto_init();
	const char *base = getenv("POS_TEST_TMP");
	if (base)
		mkdir(base, 0700);
	snprintf(f->dir, sizeof(f->dir), "%s/cstore_XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->db, sizeof(f->db), "%s/personalos.db", f->dir);
	struct pos_error e;
	pos_error_clear(&e);
	struct pos_store *raw;
	if (pos_sqlite_open(f->dir, &raw, &e))
		return -1;
	f->kr = pos_keyring_new();
	if (!f->kr || pos_crypt_store_new(raw, f->kr, &f->s))
		return -1;
	f->a = pos_arena_new();
	make_user(f->s, "enc@example.org", f->user);
	make_user(f->s, "plain@example.org", f->plain);
	/* turn it on as the service does: key material stored, key cached */
	uint8_t salt[POS_KDF_SALT_SIZE] = {1}, wrap[POS_WRAP_SIZE] = {2};
	struct pos_user_crypt uc = {"on", salt, sizeof(salt), "argon2id13:1:8192",
				    wrap, sizeof(wrap), wrap, sizeof(wrap)};
	if (f->s->keys->crypt_put(f->s, f->user, &uc, NULL, "off"))
		return -1;
	pos_random(f->dek, sizeof(f->dek));
	if (pos_keyring_put(f->kr, f->user, f->dek))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	pos_arena_destroy(f->a);
	pos_store_close(f->s);
	pos_keyring_free(f->kr);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void new_memory(struct pos_memory *m, const char *user, const char *content,
		       const char **tags, size_t n_tags, const char *tags_json)
{
	memset(m, 0, sizeof(*m));
	assert_true(pos_uuid_new(m->id));
	snprintf(m->user_id, sizeof(m->user_id), "%s", user);
	m->content = content;
	m->content_len = strlen(content);
	m->type = POS_TYPE_NOTE;
	m->layer = POS_LAYER_ACTIVE;
	m->source = "api";
	m->tags = tags;
	m->n_tags = n_tags;
	m->tags_json = tags_json;
	m->metadata_json = "{\"room\":\"attic\"}";
	m->attachments_json = "[]";
	m->shared_with_json = "[]";
	m->importance = 0.5;
	m->created_at = m->updated_at = pos_now_us();
	m->last_accessed_at = POS_TIME_NONE;
}

/* Every stored text of a memory, concatenated, read with a connection of
 * our own. */
static char *raw_row(struct fx *f, const char *id)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db,
			 "SELECT content || tags || metadata || attachments || coalesce(context, '')"
			 " || coalesce((SELECT group_concat(tag) FROM memory_tags WHERE memory_seq = m.seq), '')"
			 " || hex(sealed) FROM memories m WHERE id = ?1", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	char *r = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return r;
}

static void sealed_on_disk_plain_on_read(void **state)
{
	struct fx *f = *state;
	const char *tags[] = {"Garden"};
	struct pos_memory m;
	new_memory(&m, f->user, "The rhubarb grows behind the greenhouse", tags, 1,
		   "[\"Garden\"]");
	assert_int_equal(f->s->memories->memory_insert(f->s, &m, 1, NULL), POS_OK);
	assert_true(m.is_encrypted);
	char *raw = raw_row(f, m.id);
	assert_null(strstr(raw, "rhubarb"));
	assert_null(strstr(raw, "greenhouse"));
	assert_null(strstr(raw, "Garden"));
	assert_null(strstr(raw, "attic"));
	free(raw);
	struct pos_memory got;
	assert_int_equal(f->s->memories->memory_get(f->s, f->a, f->user, m.id, false, 0, &got), POS_OK);
	assert_true(got.is_encrypted);
	assert_string_equal(got.content, "The rhubarb grows behind the greenhouse");
	assert_string_equal(got.tags_json, "[\"Garden\"]");
	assert_string_equal(got.metadata_json, "{\"room\":\"attic\"}");
	/* keyword search over tokens, stemmed like the index ("grow" ~ grows) */
	struct pos_memory_query q = {.user_id = f->user, .type = -1, .layer = -1,
				     .after = POS_TIME_NONE, .before = POS_TIME_NONE, .limit = 10};
	struct pos_hit *h;
	size_t n;
	assert_int_equal(f->s->memories->keyword_search(f->s, f->a, &q, "\"grow\"", &h, &n), POS_OK);
	assert_int_equal(n, 1);
	assert_int_equal(h[0].seq, m.seq);
	assert_int_equal(f->s->memories->keyword_search(f->s, f->a, &q, "\"greenhouse rhubarb\"", &h, &n),
			 POS_OK);
	assert_int_equal(n, 0); /* phrase order counts */
	/* the exact tag filter */
	const char *want[] = {"Garden"};
	q.tags = want;
	q.n_tags = 1;
	struct pos_memory *list;
	int64_t total;
	assert_int_equal(f->s->memories->memory_list(f->s, f->a, &q, &list, &n, &total), POS_OK);
	assert_int_equal(total, 1);
	assert_string_equal(list[0].content, "The rhubarb grows behind the greenhouse");
	/* a plain user's memory is stored as it is */
	struct pos_memory p;
	new_memory(&p, f->plain, "plain rhubarb", NULL, 0, "[]");
	assert_int_equal(f->s->memories->memory_insert(f->s, &p, 1, NULL), POS_OK);
	assert_false(p.is_encrypted);
	raw = raw_row(f, p.id);
	assert_non_null(strstr(raw, "plain rhubarb"));
	free(raw);
}

static void locked_without_the_key(void **state)
{
	struct fx *f = *state;
	struct pos_memory m;
	new_memory(&m, f->user, "locked away", NULL, 0, "[]");
	assert_int_equal(f->s->memories->memory_insert(f->s, &m, 1, NULL), POS_OK);
	assert_true(pos_keyring_evict(f->kr, f->user));
	struct pos_memory got;
	assert_int_equal(f->s->memories->memory_get(f->s, f->a, f->user, m.id, false, 0, &got),
			 POS_ERR_LOCKED);
	struct pos_memory m2;
	new_memory(&m2, f->user, "not while locked", NULL, 0, "[]");
	assert_int_equal(f->s->memories->memory_insert(f->s, &m2, 1, NULL), POS_ERR_LOCKED);
	int64_t seq;
	assert_int_equal(f->s->memories->memory_delete(f->s, f->user, m.id, &seq), POS_OK);
	/* the plain user is not affected */
	struct pos_memory p;
	new_memory(&p, f->plain, "still fine", NULL, 0, "[]");
	assert_int_equal(f->s->memories->memory_insert(f->s, &p, 1, NULL), POS_OK);
}

static void tampered_row_is_decrypt(void **state)
{
	struct fx *f = *state;
	struct pos_memory a, b;
	new_memory(&a, f->user, "first of two", NULL, 0, "[]");
	new_memory(&b, f->user, "second of two", NULL, 0, "[]");
	assert_int_equal(f->s->memories->memory_insert(f->s, &a, 1, NULL), POS_OK);
	assert_int_equal(f->s->memories->memory_insert(f->s, &b, 1, NULL), POS_OK);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	char sql[256];
	/* b gets a's ciphertext: bound to a's id, so it fails for b */
	snprintf(sql, sizeof(sql), "UPDATE memories SET sealed = (SELECT sealed FROM memories"
		 " WHERE id = '%s') WHERE id = '%s'", a.id, b.id);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	struct pos_memory got;
	assert_int_equal(f->s->memories->memory_get(f->s, f->a, f->user, b.id, false, 0, &got),
			 POS_ERR_DECRYPT);
	assert_int_equal(f->s->memories->memory_get(f->s, f->a, f->user, a.id, false, 0, &got), POS_OK);
	struct pos_memory_query q = {.user_id = f->user, .type = -1, .layer = -1,
				     .after = POS_TIME_NONE, .before = POS_TIME_NONE, .limit = 10};
	struct pos_memory *list;
	size_t n;
	int64_t total;
	assert_int_equal(f->s->memories->memory_list(f->s, f->a, &q, &list, &n, &total), POS_OK);
	assert_int_equal(n, 1);
	assert_int_equal(total, 1);
	assert_string_equal(list[0].id, a.id);
}

/* memory_tag_add (plugins' pos.memories.tag): a plain user's goes to the
 * SQLite op (merged, deduplicated, indexed, nothing written when nothing
 * is new); a sealed user's tags are merged in plaintext and sealed again,
 * and a tag filter finds the memory through the keyed-hash index. */
static void tag_add_plain_and_sealed(void **state)
{
	struct fx *f = *state;
	const char *who[2] = {f->plain, f->user};
	for (int k = 0; k < 2; k++) {
		const char *t0[] = {"alpha"};
		struct pos_memory m;
		new_memory(&m, who[k], "tagging chandelierwort", t0, 1, "[\"alpha\"]");
		struct pos_error e;
		pos_error_clear(&e);
		assert_int_equal(f->s->memories->memory_insert(f->s, &m, 1, &e), POS_OK);
		const char *add[] = {"beta", "alpha", "gammazork"};
		size_t added = 99;
		assert_int_equal(f->s->memories->memory_tag_add(f->s, who[k], m.id, add, 3, 100,
								pos_now_us(), &added), POS_OK);
		assert_int_equal(added, 2);
		struct pos_memory got;
		assert_int_equal(f->s->memories->memory_get(f->s, f->a, who[k], m.id, false, 0, &got),
				 POS_OK);
		assert_string_equal(got.tags_json, "[\"alpha\",\"beta\",\"gammazork\"]");
		/* nothing new: nothing written */
		assert_int_equal(f->s->memories->memory_tag_add(f->s, who[k], m.id, add, 2, 100,
								pos_now_us(), &added), POS_OK);
		assert_int_equal(added, 0);
		/* past the cap; another user's id */
		const char *more[] = {"delta"};
		assert_int_equal(f->s->memories->memory_tag_add(f->s, who[k], m.id, more, 1, 3,
								pos_now_us(), &added),
				 POS_ERR_INVALID_FIELD);
		assert_int_equal(f->s->memories->memory_tag_add(f->s, who[1 - k], m.id, more, 1, 100,
								pos_now_us(), &added),
				 POS_ERR_NOT_FOUND);
		/* the tag index has the new tag */
		struct pos_memory_query q;
		memset(&q, 0, sizeof(q));
		q.user_id = who[k];
		q.type = q.layer = -1;
		q.after = q.before = POS_TIME_NONE;
		const char *want[] = {"gammazork"};
		q.tags = want;
		q.n_tags = 1;
		q.limit = 10;
		struct pos_memory *v = NULL;
		size_t n = 0;
		int64_t total = 0;
		assert_int_equal(f->s->memories->memory_list(f->s, f->a, &q, &v, &n, &total), POS_OK);
		assert_int_equal(n, 1);
		assert_string_equal(v[0].id, m.id);
		/* sealed: the new tag is not on disk in plaintext */
		char *raw = raw_row(f, m.id);
		if (k == 1)
			assert_null(strstr(raw, "gammazork"));
		else
			assert_non_null(strstr(raw, "gammazork"));
		free(raw);
	}
}

/* The memory service's creating stage (plugins' on_memory_creating): a
 * tag it adds before the insert is stored with the row, sealed for an
 * encrypted user (keyed hash in the index, no plaintext on disk) and found
 * by a tag filter, like the user's own. */
static void add_gammazork(void *ctx, const char *user_id, const struct pos_memory *v, size_t n,
			  json_t **add)
{
	(void)ctx;
	(void)user_id;
	(void)v;
	for (size_t i = 0; i < n; i++)
		add[i] = json_pack("[s, s, i]", "gammazork", "own", 7); /* dup and non-string dropped */
}

static void creating_tags_sealed(void **state)
{
	struct fx *f = *state;
	struct pos_memsvc svc = {.store = f->s, .creating = add_gammazork};
	json_t *body = json_loads("{\"memories\":[{\"content\":\"one chandelierwort\",\"tags\":[\"own\"]},"
				  "{\"content\":\"two chandelierwort\"}]}", 0, NULL);
	struct pos_memory *v = NULL;
	size_t n = 0;
	struct pos_error e;
	pos_error_clear(&e);
	assert_int_equal(pos_memory_bulk(&svc, f->a, f->user, body, &v, &n, &e), POS_OK);
	assert_int_equal(n, 2);
	struct pos_memory got;
	assert_int_equal(f->s->memories->memory_get(f->s, f->a, f->user, v[0].id, false, 0, &got), POS_OK);
	assert_string_equal(got.tags_json, "[\"own\",\"gammazork\"]");
	assert_int_equal(f->s->memories->memory_get(f->s, f->a, f->user, v[1].id, false, 0, &got), POS_OK);
	assert_string_equal(got.tags_json, "[\"gammazork\",\"own\"]");
	char *raw = raw_row(f, v[1].id);
	assert_null(strstr(raw, "gammazork"));
	free(raw);
	struct pos_memory_query q;
	memset(&q, 0, sizeof(q));
	q.user_id = f->user;
	q.type = q.layer = -1;
	q.after = q.before = POS_TIME_NONE;
	const char *want[] = {"gammazork"};
	q.tags = want;
	q.n_tags = 1;
	q.limit = 10;
	struct pos_memory *list = NULL;
	size_t nl = 0;
	int64_t total = 0;
	assert_int_equal(f->s->memories->memory_list(f->s, f->a, &q, &list, &nl, &total), POS_OK);
	assert_int_equal(nl, 2);
	json_decref(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(sealed_on_disk_plain_on_read, setup, teardown),
		cmocka_unit_test_setup_teardown(locked_without_the_key, setup, teardown),
		cmocka_unit_test_setup_teardown(tampered_row_is_decrypt, setup, teardown),
		cmocka_unit_test_setup_teardown(tag_add_plain_and_sealed, setup, teardown),
		cmocka_unit_test_setup_teardown(creating_tags_sealed, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
