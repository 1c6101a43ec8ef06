/* Unit tests for src/store: the SQLite backend through the store vtable. */
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
#include <time.h>

#include "base/arena.h"
#include "base/clock.h"
#include "crypto/crypto.h"
#include "store/migrations.h"
#include "store/store.h"

struct fx {
	char dir[256];
	struct pos_store *s;
	struct pos_arena *a;
};

static void tmpdir(char *out, size_t cap)
{
	const char *base = getenv("POS_TEST_TMP");
	if (base)
		mkdir(base, 0700);
	snprintf(out, cap, "%s/store_XXXXXX", base ? base : "/tmp");
	assert_non_null(mkdtemp(out));
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	pos_crypto_init();
	tmpdir(f->dir, sizeof(f->dir));
	struct pos_error e;
	pos_error_clear(&e);
	if (pos_sqlite_open(f->dir, &f->s, &e))
		return -1;
	f->a = pos_arena_new();
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

static void new_memory(struct pos_memory *m, const char *user, const char *content)
{
	memset(m, 0, sizeof(*m));
	assert_true(pos_uuid_new(m->id));
	snprintf(m->user_id, sizeof(m->user_id), "%s", user);
	m->content = content;
	m->content_len = strlen(content);
	m->type = POS_TYPE_NOTE;
	m->layer = POS_LAYER_ACTIVE;
	m->source = "api";
	m->tags_json = "[]";
	m->metadata_json = "{}";
	m->attachments_json = "[]";
	m->shared_with_json = "[]";
	m->importance = 0.5;
	m->created_at = m->updated_at = pos_now_us();
	m->last_accessed_at = POS_TIME_NONE;
}

static void users_unique_email(void **state)
{
	struct fx *f = *state;
	char id[POS_UUID_SIZE];
	make_user(f->s, "a@example.org", id);
	struct pos_user u = {0};
	assert_true(pos_uuid_new(u.id));
	u.email = "a@example.org";
	u.password_hash = "x";
	u.privacy_tier = "local";
	u.plan = "free";
	u.persona_json = u.settings_json = "{}";
	assert_int_equal(f->s->accounts->user_register(f->s, &u, NULL, true, 0), POS_ERR_EMAIL_TAKEN);
	struct pos_user got;
	assert_int_equal(f->s->accounts->user_by_email(f->s, f->a, "a@example.org", &got), POS_OK);
	assert_string_equal(got.id, id);
	assert_int_equal(got.last_login_at, POS_TIME_NONE);
	assert_int_equal(f->s->accounts->user_by_email(f->s, f->a, "b@example.org", &got),
			 POS_ERR_NOT_FOUND);
}

static void refresh_rotation_and_reuse(void **state)
{
	struct fx *f = *state;
	char uid[POS_UUID_SIZE], sid[POS_UUID_SIZE], ou[POS_UUID_SIZE], os[POS_UUID_SIZE];
	make_user(f->s, "r@example.org", uid);
	assert_true(pos_uuid_new(sid));
	uint8_t h1[POS_HASH_SIZE], h2[POS_HASH_SIZE], h3[POS_HASH_SIZE];
	pos_hash(h1, "one", 3);
	pos_hash(h2, "two", 3);
	pos_hash(h3, "three", 5);
	int64_t now = pos_now_us();
	assert_int_equal(f->s->accounts->session_create(f->s, sid, uid, now, h1, now + 1000000000), POS_OK);
	assert_int_equal(f->s->accounts->session_check(f->s, sid, uid), POS_OK);
	assert_int_equal(f->s->accounts->refresh_rotate(f->s, h1, h2, now + 1000000000, now, ou, os), POS_OK);
	assert_string_equal(ou, uid);
	assert_string_equal(os, sid);
	/* h1 again: reuse — refused, and the family is revoked */
	assert_int_equal(f->s->accounts->refresh_rotate(f->s, h1, h3, now + 1000000000, now, ou, os),
			 POS_ERR_BAD_TOKEN);
	assert_int_equal(f->s->accounts->session_check(f->s, sid, uid), POS_ERR_NOT_FOUND);
	assert_int_equal(f->s->accounts->refresh_rotate(f->s, h2, h3, now + 1000000000, now, ou, os),
			 POS_ERR_BAD_TOKEN);
	/* unknown and expired tokens */
	assert_int_equal(f->s->accounts->refresh_rotate(f->s, h3, h1, now, now, ou, os), POS_ERR_BAD_TOKEN);
	char sid2[POS_UUID_SIZE];
	assert_true(pos_uuid_new(sid2));
	uint8_t h4[POS_HASH_SIZE];
	pos_hash(h4, "four", 4);
	assert_int_equal(f->s->accounts->session_create(f->s, sid2, uid, now, h4, now - 1), POS_OK);
	assert_int_equal(f->s->accounts->refresh_rotate(f->s, h4, h1, now + 10, now, ou, os), POS_ERR_BAD_TOKEN);
	/* another user's id does not pass the session check */
	char other[POS_UUID_SIZE];
	make_user(f->s, "o@example.org", other);
	assert_int_equal(f->s->accounts->session_check(f->s, sid2, other), POS_ERR_NOT_FOUND);
}

static void memory_crud_and_isolation(void **state)
{
	struct fx *f = *state;
	char a[POS_UUID_SIZE], b[POS_UUID_SIZE];
	make_user(f->s, "ma@example.org", a);
	make_user(f->s, "mb@example.org", b);
	struct pos_memory m[3];
	const char *tags[] = {"work", "urgent"};
	new_memory(&m[0], a, "first");
	m[0].tags = tags;
	m[0].n_tags = 2;
	m[0].tags_json = "[\"work\",\"urgent\"]";
	new_memory(&m[1], a, "second");
	new_memory(&m[2], a, "third");
	snprintf(m[2].parent_id, sizeof(m[2].parent_id), "%s", m[0].id);
	char rel[1][POS_UUID_SIZE];
	memcpy(rel[0], m[1].id, POS_UUID_SIZE);
	m[2].related = rel;
	m[2].n_related = 1;
	struct pos_error e;
	pos_error_clear(&e);
	assert_int_equal(f->s->memories->memory_insert(f->s, m, 3, &e), POS_OK);

	struct pos_memory got;
	assert_int_equal(f->s->memories->memory_get(f->s, f->a, a, m[2].id, true, 42, &got), POS_OK);
	assert_string_equal(got.content, "third");
	assert_int_equal(got.access_count, 1);
	assert_int_equal(got.last_accessed_at, 42);
	assert_string_equal(got.parent_id, m[0].id);
	assert_non_null(strstr(got.related_json, m[1].id));
	/* relationships read from both ends */
	assert_int_equal(f->s->memories->memory_get(f->s, f->a, a, m[1].id, false, 0, &got), POS_OK);
	assert_non_null(strstr(got.related_json, m[2].id));
	assert_int_equal(got.access_count, 0);
	/* user b sees nothing of a's */
	assert_int_equal(f->s->memories->memory_get(f->s, f->a, b, m[0].id, true, 1, &got), POS_ERR_NOT_FOUND);
	assert_int_equal(f->s->memories->memory_delete(f->s, b, m[0].id, NULL), POS_ERR_NOT_FOUND);
	struct pos_memory_patch p = {0};
	p.set = POS_PATCH_CONTENT;
	p.v.content = "hacked";
	p.v.content_len = 6;
	assert_int_equal(f->s->memories->memory_update(f->s, b, m[0].id, &p, 1, &e), POS_ERR_NOT_FOUND);

	/* list with a tag filter, for each user */
	struct pos_memory_query q = {.user_id = a, .type = -1, .layer = -1,
				     .after = POS_TIME_NONE, .before = POS_TIME_NONE,
				     .limit = 10, .tags = (const char *[]){"work"}, .n_tags = 1};
	struct pos_memory *v;
	size_t n;
	int64_t total;
	assert_int_equal(f->s->memories->memory_list(f->s, f->a, &q, &v, &n, &total), POS_OK);
	assert_int_equal(total, 1);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].content, "first");
	q.user_id = b;
	q.n_tags = 0;
	assert_int_equal(f->s->memories->memory_list(f->s, f->a, &q, &v, &n, &total), POS_OK);
	assert_int_equal(total, 0);

	/* update content and tags; the tag index follows */
	const char *newtags[] = {"home"};
	p.set = POS_PATCH_CONTENT | POS_PATCH_TAGS;
	p.v.content = "first, edited";
	p.v.content_len = strlen(p.v.content);
	p.v.tags = newtags;
	p.v.n_tags = 1;
	p.v.tags_json = "[\"home\"]";
	assert_int_equal(f->s->memories->memory_update(f->s, a, m[0].id, &p, 99, &e), POS_OK);
	q.user_id = a;
	q.tags = (const char *[]){"work"};
	q.n_tags = 1;
	assert_int_equal(f->s->memories->memory_list(f->s, f->a, &q, &v, &n, &total), POS_OK);
	assert_int_equal(total, 0);
	q.tags = (const char *[]){"home"};
	assert_int_equal(f->s->memories->memory_list(f->s, f->a, &q, &v, &n, &total), POS_OK);
	assert_int_equal(total, 1);
	assert_string_equal(v[0].content, "first, edited");
	assert_int_equal(v[0].updated_at, 99);

	/* delete the parent: the child loses its parent, counts follow */
	assert_int_equal(f->s->memories->memory_delete(f->s, a, m[0].id, NULL), POS_OK);
	assert_int_equal(f->s->memories->memory_get(f->s, f->a, a, m[2].id, false, 0, &got), POS_OK);
	assert_string_equal(got.parent_id, "");
	struct pos_user u;
	assert_int_equal(f->s->accounts->user_by_id(f->s, f->a, a, &u), POS_OK);
	assert_int_equal(u.memory_count, 2);
	struct pos_store_summary sum;
	assert_int_equal(f->s->ops->summary(f->s, true, &sum), POS_OK);
	assert_true(sum.integrity_ok);
}

static void bulk_is_all_or_nothing(void **state)
{
	struct fx *f = *state;
	char a[POS_UUID_SIZE], b[POS_UUID_SIZE];
	make_user(f->s, "bulk@example.org", a);
	make_user(f->s, "bulk2@example.org", b);
	struct pos_memory theirs;
	new_memory(&theirs, b, "b's memory");
	struct pos_error e;
	pos_error_clear(&e);
	assert_int_equal(f->s->memories->memory_insert(f->s, &theirs, 1, &e), POS_OK);
	struct pos_memory m[3];
	new_memory(&m[0], a, "one");
	new_memory(&m[1], a, "two");
	new_memory(&m[2], a, "three");
	/* item 2 names another user's memory as parent */
	snprintf(m[2].parent_id, sizeof(m[2].parent_id), "%s", theirs.id);
	assert_int_equal(f->s->memories->memory_insert(f->s, m, 3, &e), POS_ERR_INVALID_FIELD);
	assert_int_equal(e.index, 2);
	assert_string_equal(e.field, "parent_memory_id");
	struct pos_memory_query q = {.user_id = a, .type = -1, .layer = -1,
				     .after = POS_TIME_NONE, .before = POS_TIME_NONE,
				     .limit = 10};
	struct pos_memory *v;
	size_t n;
	int64_t total;
	assert_int_equal(f->s->memories->memory_list(f->s, f->a, &q, &v, &n, &total), POS_OK);
	assert_int_equal(total, 0);
	struct pos_user u;
	assert_int_equal(f->s->accounts->user_by_id(f->s, f->a, a, &u), POS_OK);
	assert_int_equal(u.memory_count, 0);
}

static void list_sorts_and_pages(void **state)
{
	struct fx *f = *state;
	char a[POS_UUID_SIZE];
	make_user(f->s, "sort@example.org", a);
	struct pos_memory m[5];
	const char *names[] = {"m0", "m1", "m2", "m3", "m4"};
	for (int i = 0; i < 5; i++) {
		new_memory(&m[i], a, names[i]);
		m[i].created_at = 1000 + i;
		m[i].importance = (i % 2) ? 0.9 : 0.1;
	}
	struct pos_error e;
	pos_error_clear(&e);
	assert_int_equal(f->s->memories->memory_insert(f->s, m, 5, &e), POS_OK);
	struct pos_memory_query q = {.user_id = a, .type = -1, .layer = -1,
				     .after = 1001, .before = POS_TIME_NONE,
				     .limit = 2, .offset = 1, .sort = POS_SORT_NEWEST};
	struct pos_memory *v;
	size_t n;
	int64_t total;
	assert_int_equal(f->s->memories->memory_list(f->s, f->a, &q, &v, &n, &total), POS_OK);
	assert_int_equal(total, 4); /* m1..m4 */
	assert_int_equal(n, 2);
	assert_string_equal(v[0].content, "m3");
	assert_string_equal(v[1].content, "m2");
	q.sort = POS_SORT_IMPORTANCE;
	q.offset = 0;
	q.after = POS_TIME_NONE;
	assert_int_equal(f->s->memories->memory_list(f->s, f->a, &q, &v, &n, &total), POS_OK);
	assert_string_equal(v[0].content, "m3");
	assert_string_equal(v[1].content, "m1");
	q.sort = POS_SORT_OLDEST;
	q.before = 1002;
	assert_int_equal(f->s->memories->memory_list(f->s, f->a, &q, &v, &n, &total), POS_OK);
	assert_int_equal(total, 2);
	assert_string_equal(v[0].content, "m0");
}

/* A database written by a version-1 build upgrades itself on open. */
static void migrates_from_v1(void **state)
{
	char dir[256], path[300];
	tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/personalos.db", dir);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, pos_migrations[0].sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
		"CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
		" applied_at INTEGER NOT NULL);"
		"INSERT INTO schema_migrations VALUES (1, 'core tables', 0);"
		"INSERT INTO users(id, email, password_hash, created_at, memory_count)"
		" VALUES ('11111111-1111-4111-8111-111111111111', 'old@example.org', 'x', 0, 1);"
		"INSERT INTO memories(id, user_id, content, type, layer, source, created_at,"
		" updated_at, tags) VALUES ('22222222-2222-4222-8222-222222222222',"
		" '11111111-1111-4111-8111-111111111111', 'old memory', 'note', 'active', 'api',"
		" 5, 5, '[\"legacy\",\"x\"]');",
		NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	struct pos_store *s;
	struct pos_error e;
	pos_error_clear(&e);
	assert_int_equal(pos_sqlite_open(dir, &s, &e), POS_OK);
	struct pos_store_summary sum;
	assert_int_equal(s->ops->summary(s, true, &sum), POS_OK);
	assert_int_equal(sum.schema_version, pos_store_schema_version());
	assert_true(sum.integrity_ok);
	struct pos_arena *a = pos_arena_new();
	struct pos_memory_query q = {.user_id = "11111111-1111-4111-8111-111111111111",
				     .type = -1, .layer = -1, .after = POS_TIME_NONE,
				     .before = POS_TIME_NONE, .limit = 10,
				     .tags = (const char *[]){"legacy"}, .n_tags = 1};
	struct pos_memory *v;
	size_t n;
	int64_t total;
	assert_int_equal(s->memories->memory_list(s, a, &q, &v, &n, &total), POS_OK);
	assert_int_equal(total, 1);
	assert_string_equal(v[0].content, "old memory");
	pos_arena_destroy(a);
	pos_store_close(s);

	/* a database from a newer build is refused, not damaged */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "INSERT INTO schema_migrations VALUES (999, 'future', 0)",
				      NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(pos_sqlite_open(dir, &s, &e), POS_ERR_STORE);
	assert_non_null(strstr(e.message, "newer"));
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void server_key_persists(void **state)
{
	struct fx *f = *state;
	uint8_t k1[32], k2[32];
	assert_int_equal(f->s->ops->server_key(f->s, "k", k1, sizeof(k1)), POS_OK);
	assert_int_equal(f->s->ops->server_key(f->s, "k", k2, sizeof(k2)), POS_OK);
	assert_memory_equal(k1, k2, sizeof(k1));
	assert_int_equal(f->s->ops->server_key(f->s, "k", k2, 16), POS_ERR_CORRUPT);
}

/* filter_seqs with chat_only: exactly the user's saved exchanges (type
 * conversation, source chat), in seq order, read through the partial index
 * of migration 17 (its statement names the index, so it fails without it). */
static void chat_only_seqs(void **state)
{
	struct fx *f = *state;
	char a[POS_UUID_SIZE], b[POS_UUID_SIZE];
	make_user(f->s, "ca@example.org", a);
	make_user(f->s, "cb@example.org", b);
	struct pos_memory m[6];
	new_memory(&m[0], a, "a note");
	new_memory(&m[1], a, "a chat exchange");
	m[1].type = POS_TYPE_CONVERSATION;
	m[1].source = "chat";
	new_memory(&m[2], a, "a conversation from elsewhere");
	m[2].type = POS_TYPE_CONVERSATION;
	new_memory(&m[3], a, "a note from chat");
	m[3].source = "chat";
	new_memory(&m[4], a, "another chat exchange");
	m[4].type = POS_TYPE_CONVERSATION;
	m[4].source = "chat";
	new_memory(&m[5], b, "b's chat exchange");
	m[5].type = POS_TYPE_CONVERSATION;
	m[5].source = "chat";
	struct pos_error e;
	pos_error_clear(&e);
	assert_int_equal(f->s->memories->memory_insert(f->s, m, 5, &e), POS_OK);
	assert_int_equal(f->s->memories->memory_insert(f->s, &m[5], 1, &e), POS_OK);
	struct pos_memory_query q = {.user_id = a, .type = -1, .layer = -1,
				     .after = POS_TIME_NONE, .before = POS_TIME_NONE,
				     .chat_only = true};
	int64_t *seqs = NULL;
	size_t n = 0;
	assert_int_equal(f->s->memories->filter_seqs(f->s, f->a, &q, 100, &seqs, &n), POS_OK);
	assert_int_equal(n, 2);
	assert_int_equal(seqs[0], m[1].seq);
	assert_int_equal(seqs[1], m[4].seq);
	/* the bound holds */
	assert_int_equal(f->s->memories->filter_seqs(f->s, f->a, &q, 1, &seqs, &n), POS_OK);
	assert_int_equal(n, 1);
	assert_int_equal(seqs[0], m[1].seq);
	/* the same set as the general filter over type and source */
	struct pos_memory_query g = {.user_id = a, .type = POS_TYPE_CONVERSATION, .layer = -1,
				     .source = "chat", .after = POS_TIME_NONE,
				     .before = POS_TIME_NONE};
	int64_t *gs = NULL;
	size_t gn = 0;
	assert_int_equal(f->s->memories->filter_seqs(f->s, f->a, &g, 100, &gs, &gn), POS_OK);
	assert_int_equal(gn, 2);
	assert_int_equal(gs[0], seqs[0]);
	/* a deleted exchange leaves the set */
	assert_int_equal(f->s->memories->memory_delete(f->s, a, m[1].id, NULL), POS_OK);
	assert_int_equal(f->s->memories->filter_seqs(f->s, f->a, &q, 100, &seqs, &n), POS_OK);
	assert_int_equal(n, 1);
	assert_int_equal(seqs[0], m[4].seq);
	q.user_id = b;
	assert_int_equal(f->s->memories->filter_seqs(f->s, f->a, &q, 100, &seqs, &n), POS_OK);
	assert_int_equal(n, 1);
	assert_int_equal(seqs[0], m[5].seq);
}

/* memories_rank_fields: for each seq, the fields a search's boosts read,
 * equal to the full read's (access counts not yet written included); rows
 * of another user, deleted rows and unknown seqs are not found; duplicated
 * seqs fill every position; the text is not read. */
static void rank_fields_match_full_rows(void **state)
{
	struct fx *f = *state;
	char a[POS_UUID_SIZE], b[POS_UUID_SIZE];
	make_user(f->s, "ra@example.org", a);
	make_user(f->s, "rb@example.org", b);
	struct pos_memory m[4];
	new_memory(&m[0], a, "first");
	m[0].importance = 0.9;
	m[0].layer = POS_LAYER_ARCHIVE;
	m[0].created_at = 1700000000000000;
	new_memory(&m[1], a, "second");
	m[1].type = POS_TYPE_EVENT;
	m[1].importance = 0.1;
	new_memory(&m[2], b, "b's");
	new_memory(&m[3], a, "deleted");
	struct pos_error e;
	pos_error_clear(&e);
	for (int i = 0; i < 4; i++)
		assert_int_equal(f->s->memories->memory_insert(f->s, &m[i], 1, &e), POS_OK);
	assert_int_equal(f->s->memories->memory_delete(f->s, a, m[3].id, NULL), POS_OK);
	/* two accesses pending in memory (written behind) */
	struct pos_memory got;
	for (int i = 0; i < 2; i++)
		assert_int_equal(f->s->memories->memory_get(f->s, f->a, a, m[1].id, true,
							     pos_now_us(), &got), POS_OK);
	assert_non_null(f->s->memories->memories_rank_fields);
	int64_t seqs[] = {m[1].seq, m[2].seq, m[0].seq, m[3].seq, 999999, m[1].seq};
	size_t n = sizeof(seqs) / sizeof(seqs[0]);
	struct pos_memory light[6], full[6];
	bool lok[6], fok[6];
	assert_int_equal(f->s->memories->memories_rank_fields(f->s, f->a, a, seqs, n, light, lok),
			 POS_OK);
	assert_int_equal(f->s->memories->memories_by_seq(f->s, f->a, a, seqs, n, full, fok),
			 POS_OK);
	bool want[6] = {true, false, true, false, false, true};
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(lok[i], want[i]);
		assert_int_equal(fok[i], want[i]);
		if (!want[i])
			continue;
		assert_int_equal(light[i].seq, seqs[i]);
		assert_string_equal(light[i].id, full[i].id);
		assert_int_equal(light[i].type, full[i].type);
		assert_int_equal(light[i].layer, full[i].layer);
		assert_int_equal(light[i].created_at, full[i].created_at);
		assert_true(light[i].importance == full[i].importance);
		assert_int_equal(light[i].access_count, full[i].access_count);
		assert_null(light[i].content);
	}
	assert_int_equal(light[0].access_count, 2);
	assert_int_equal(light[0].type, POS_TYPE_EVENT);
	assert_int_equal(light[2].layer, POS_LAYER_ARCHIVE);
	assert_int_equal(light[2].created_at, 1700000000000000);
	assert_true(light[2].importance > 0.89 && light[2].importance < 0.91);
}

/* Document frequencies (IDF, common-word pruning) read from the keyword
 * index of a store's only user equal FTS5's vocabulary counts, after
 * edits and deletions; once another user has memories, every user's
 * count is the whole store's again. */
static void term_frequency_from_keyword_index(void **state)
{
	struct fx *f = *state;
	char a[POS_UUID_SIZE], b[POS_UUID_SIZE];
	make_user(f->s, "dfa@example.org", a);
	static const char *texts[] = {"alpha beta", "alpha gamma", "alpha", "delta alpha",
				      "beta"};
	struct pos_memory m[6];
	struct pos_error e;
	pos_error_clear(&e);
	for (int i = 0; i < 5; i++) {
		new_memory(&m[i], a, texts[i]);
		assert_int_equal(f->s->memories->memory_insert(f->s, &m[i], 1, &e), POS_OK);
	}
	assert_int_equal(f->s->memories->memory_delete(f->s, a, m[3].id, NULL), POS_OK);
	/* a keyword search loads (and catches up) the user's index */
	struct pos_memory_query q = {.user_id = a, .type = -1, .layer = -1,
				     .after = POS_TIME_NONE, .before = POS_TIME_NONE,
				     .limit = 10};
	struct pos_hit *hits;
	size_t nh;
	assert_int_equal(f->s->memories->keyword_search(f->s, f->a, &q, "\"alpha\"", &hits, &nh),
			 POS_OK);
	assert_int_equal(nh, 3);
	int64_t df = -1, docs = -1;
	assert_int_equal(f->s->memories->term_frequency(f->s, "alpha", &df, &docs), POS_OK);
	assert_int_equal(df, 3);
	assert_int_equal(docs, 4);
	assert_int_equal(f->s->memories->term_frequency(f->s, "betas", &df, &docs), POS_OK);
	assert_int_equal(df, 2);
	assert_int_equal(f->s->memories->term_frequency(f->s, "nosuchword", &df, &docs), POS_OK);
	assert_int_equal(df, 0);
	/* a write: the next count sees it (words of under 16 memories are
	 * counted again after any write), with no keyword search between */
	new_memory(&m[3], a, "alpha zeta");
	assert_int_equal(f->s->memories->memory_insert(f->s, &m[3], 1, &e), POS_OK);
	assert_int_equal(f->s->memories->stem_frequency(f->s, "zeta", 4, &df), POS_OK);
	assert_int_equal(df, 1);
	assert_int_equal(f->s->memories->term_frequency(f->s, "alpha", &df, &docs), POS_OK);
	assert_int_equal(df, 4);
	assert_int_equal(docs, 5);
	assert_int_equal(f->s->memories->memory_delete(f->s, a, m[0].id, NULL), POS_OK);
	assert_int_equal(f->s->memories->stem_frequency(f->s, "beta", 4, &df), POS_OK);
	assert_int_equal(df, 1);
	/* another user's memory: the store's count, not the index's */
	make_user(f->s, "dfb@example.org", b);
	new_memory(&m[5], b, "alpha omega");
	assert_int_equal(f->s->memories->memory_insert(f->s, &m[5], 1, &e), POS_OK);
	assert_int_equal(f->s->memories->keyword_search(f->s, f->a, &q, "\"omega\"", &hits, &nh),
			 POS_OK);
	assert_int_equal(nh, 0);
	assert_int_equal(f->s->memories->term_frequency(f->s, "omega", &df, &docs), POS_OK);
	assert_int_equal(df, 1);
	assert_int_equal(docs, 5);
	assert_int_equal(f->s->memories->term_frequency(f->s, "alpha", &df, &docs), POS_OK);
	assert_int_equal(df, 4);
}

/* filter_seqs with after_seq (and seq_walk, the MemU upload's cursor walk,
 * assistant/memu_sync.c): the user's memories written after a seq, in write
 * order, never another user's, the other filters still applied. */
static void seqs_after_a_cursor(void **state)
{
	struct fx *f = *state;
	char a[POS_UUID_SIZE], b[POS_UUID_SIZE];
	make_user(f->s, "wa@example.org", a);
	make_user(f->s, "wb@example.org", b);
	struct pos_memory m[5];
	new_memory(&m[0], a, "first");
	new_memory(&m[1], b, "b's");
	new_memory(&m[2], a, "second");
	new_memory(&m[3], a, "a chat exchange");
	m[3].type = POS_TYPE_CONVERSATION;
	m[3].source = "chat";
	new_memory(&m[4], a, "third");
	struct pos_error e;
	pos_error_clear(&e);
	for (int i = 0; i < 5; i++)
		assert_int_equal(f->s->memories->memory_insert(f->s, &m[i], 1, &e), POS_OK);
	for (int walk = 0; walk < 2; walk++) {
		struct pos_memory_query q = {.user_id = a, .type = -1, .layer = -1,
					     .after = POS_TIME_NONE, .before = POS_TIME_NONE,
					     .hide_chat = true, .after_seq = m[0].seq,
					     .seq_walk = walk == 1};
		int64_t *seqs = NULL;
		size_t n = 0;
		assert_int_equal(f->s->memories->filter_seqs(f->s, f->a, &q, 100, &seqs, &n), POS_OK);
		assert_int_equal(n, 2);
		assert_int_equal(seqs[0], m[2].seq);
		assert_int_equal(seqs[1], m[4].seq);
		q.after_seq = m[2].seq;
		assert_int_equal(f->s->memories->filter_seqs(f->s, f->a, &q, 1, &seqs, &n), POS_OK);
		assert_int_equal(n, 1);
		assert_int_equal(seqs[0], m[4].seq);
		q.after_seq = m[4].seq;
		assert_int_equal(f->s->memories->filter_seqs(f->s, f->a, &q, 100, &seqs, &n), POS_OK);
		assert_int_equal(n, 0);
		q.after_seq = 0; /* no bound */
		assert_int_equal(f->s->memories->filter_seqs(f->s, f->a, &q, 100, &seqs, &n), POS_OK);
		assert_int_equal(n, 3);
	}
}

/* A commit that leaves the WAL above 1,000 frames is checkpointed by the
 * store's checkpointer thread (sqlite_ckpt.c), not by the committing
 * thread: the count of its checkpoints goes up, and the rows are there. */
static void wal_checkpointed_in_background(void **state)
{
	struct fx *f = *state;
	char a[POS_UUID_SIZE];
	make_user(f->s, "wal@example.org", a);
	struct pos_store_summary sum;
	assert_int_equal(f->s->ops->summary(f->s, false, &sum), POS_OK);
	assert_int_equal(sum.wal_checkpoints, 0);
	enum { N = 600, LEN = 8000 };
	struct pos_memory *m = calloc(N, sizeof(*m));
	char *text = malloc((size_t)N * LEN);
	assert_non_null(m);
	assert_non_null(text);
	for (size_t i = 0; i < N; i++) {
		char *t = text + i * LEN;
		size_t len = 0;
		while (len + 16 < LEN)
			len += (size_t)snprintf(t + len, LEN - len, "w%zu ", (i * 7919 + len) % 100003);
		new_memory(&m[i], a, t);
	}
	struct pos_error e;
	pos_error_clear(&e);
	/* ~5 MB of rows and index: well above 1,000 frames of 4 KiB */
	assert_int_equal(f->s->memories->memory_insert(f->s, m, N, &e), POS_OK);
	/* the checkpointer was kicked by the commit; give it up to 30 s */
	for (int i = 0; i < 300; i++) {
		assert_int_equal(f->s->ops->summary(f->s, false, &sum), POS_OK);
		if (sum.wal_checkpoints > 0)
			break;
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	assert_true(sum.wal_checkpoints > 0);
	assert_int_equal(sum.memories, N);
	assert_true(sum.integrity_ok);
	free(text);
	free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(users_unique_email, setup, teardown),
		cmocka_unit_test_setup_teardown(refresh_rotation_and_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(memory_crud_and_isolation, setup, teardown),
		cmocka_unit_test_setup_teardown(bulk_is_all_or_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(list_sorts_and_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(chat_only_seqs, setup, teardown),
		cmocka_unit_test_setup_teardown(rank_fields_match_full_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(term_frequency_from_keyword_index, setup, teardown),
		cmocka_unit_test_setup_teardown(seqs_after_a_cursor, setup, teardown),
		cmocka_unit_test_setup_teardown(server_key_persists, setup, teardown),
		cmocka_unit_test_setup_teardown(wal_checkpointed_in_background, setup, teardown),
		cmocka_unit_test(migrates_from_v1),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
