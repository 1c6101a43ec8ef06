/*
 * Unit tests for the PostgreSQL store core (src/store/pg*.c): migrations
 * under the advisory lock, server keys shared and sealed, server state,
 * accounts (registration, roles, tokens, sessions, refresh rotation,
 * invites, deletion), the keys domain and the memories' bulk insert (one
 * batch, all or nothing, the vocabulary kept per statement), through the store vtable against
 * a real server. Run by ctest through tests/api/pgserver.py, which starts
 * a throwaway PostgreSQL and sets POS_TEST_STORE (the server's URL) and
 * POS_TEST_PG_URL (a database); without them every test is skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/arena.h"
#include "base/clock.h"
#include "base/uuid.h"
#include "crypto/crypto.h"
#include "crypto/keyring.h"
#include "store/pg_internal.h"
#include "store/store.h"

/* A fresh database on the test server; its URL in url. Skips without one. */
static void fresh_db(char *url, size_t cap)
{
	const char *server = getenv("POS_TEST_STORE");
	const char *any = getenv("POS_TEST_PG_URL");
	if (!server || !any || !*server || !*any)
		skip();
	PGconn *db = PQconnectdb(any);
	assert_int_equal(PQstatus(db), CONNECTION_OK);
	char name[64], uid[POS_UUID_SIZE], sql[128];
	pos_uuid_new(uid);
	snprintf(name, sizeof(name), "pos_unit_%.8s", uid);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
	PGresult *r = PQexec(db, sql);
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	PQfinish(db);
	snprintf(url, cap, "%s%s", server, name);
}

/* The database every test may share (its rows scoped by unique emails). */
static void shared_db(char *url, size_t cap)
{
	const char *any = getenv("POS_TEST_PG_URL");
	if (!any || !*any)
		skip();
	snprintf(url, cap, "%s", any);
}

/* The first number `sql` answers on `url`. */
static long long scalar(const char *url, const char *sql)
{
	PGconn *db = PQconnectdb(url);
	assert_int_equal(PQstatus(db), CONNECTION_OK);
	PGresult *r = PQexec(db, sql);
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_true(PQntuples(r) > 0);
	long long v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	PQfinish(db);
	return v;
}

static struct pos_store *open_pg(const char *url, const char *master)
{
	struct pos_store *s = NULL;
	struct pos_error e;
	pos_error_clear(&e);
	enum pos_err rc = pos_pg_open(url, master, 4, &s, &e);
	if (rc)
		fail_msg("pos_pg_open: %s", e.message);
	return s;
}

/* ---- migrations ---- */

struct opener {
	const char *url;
	struct pos_store *s;
	enum pos_err rc;
};

static void *open_thread(void *arg)
{
	struct opener *o = arg;
	struct pos_error e;
	pos_error_clear(&e);
	o->rc = pos_pg_open(o->url, NULL, 2, &o->s, &e);
	return NULL;
}

#define PG_VERSIONS 4 /* the PostgreSQL store's migrations (src/store/pg.c) */

static void migrates_once_when_started_together(void **state)
{
	(void)state;
	char url[512];
	fresh_db(url, sizeof(url));
	struct opener o[4];
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		o[i] = (struct opener){.url = url};
		assert_int_equal(pthread_create(&t[i], NULL, open_thread, &o[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(o[i].rc, POS_OK);
	}
	/* each version once: 1 (every domain), 2 (vocabulary per statement), 3 (thumbnails) */
	assert_int_equal(scalar(url, "SELECT count(*) FROM schema_version"), PG_VERSIONS);
	assert_int_equal(scalar(url, "SELECT max(version) FROM schema_version"), PG_VERSIONS);
	struct pos_store_summary sum;
	assert_int_equal(o[0].s->ops->summary(o[0].s, false, &sum), POS_OK);
	assert_int_equal(sum.schema_version, PG_VERSIONS);
	assert_int_equal(sum.users, 0);
	for (int i = 0; i < 4; i++)
		pos_store_close(o[i].s);
	/* and a restart applies nothing again */
	struct pos_store *s = open_pg(url, NULL);
	pos_store_close(s);
	assert_int_equal(scalar(url, "SELECT count(*) FROM schema_version"), PG_VERSIONS);
}

static void bad_url_is_an_operator_error(void **state)
{
	(void)state;
	if (!getenv("POS_TEST_STORE"))
		skip();
	struct pos_store *s = NULL;
	struct pos_error e;
	pos_error_clear(&e);
	/* a port nothing listens on (connection refused, nothing leaves the host) */
	enum pos_err rc = pos_pg_open("postgres://u:secretpw@127.0.0.1:1/x", NULL, 2, &s, &e);
	assert_int_equal(rc, POS_ERR_STORE);
	assert_null(s);
	assert_null(strstr(e.message, "secretpw")); /* the password is never shown */
	assert_non_null(strstr(e.message, "127.0.0.1:1"));
	assert_int_equal(pos_pg_open("postgres://127.0.0.1:1/x", NULL, 0, &s, &e), POS_ERR_USAGE);
}

/* ---- server keys and state ---- */

static void master_file(char *path, size_t cap)
{
	const char *base = getenv("POS_TEST_TMP");
	if (base)
		mkdir(base, 0700);
	snprintf(path, cap, "%s/pgmaster_XXXXXX", base ? base : "/tmp");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char secret[] = "0123456789abcdef0123456789abcdef-test-master\n";
	assert_int_equal(write(fd, secret, sizeof(secret) - 1), (ssize_t)(sizeof(secret) - 1));
	close(fd);
}

static void server_keys_are_shared_and_sealed(void **state)
{
	(void)state;
	char url[512], master[300];
	fresh_db(url, sizeof(url));
	master_file(master, sizeof(master));
	struct pos_store *a = open_pg(url, master), *b = open_pg(url, master);
	uint8_t k1[32], k2[32], k3[32];
	assert_int_equal(a->ops->server_key(a, "test_key", k1, sizeof(k1)), POS_OK);
	assert_int_equal(b->ops->server_key(b, "test_key", k2, sizeof(k2)), POS_OK);
	assert_memory_equal(k1, k2, sizeof(k1));
	/* the row holds the sealed value, not the key */
	assert_int_equal(scalar(url, "SELECT sealed FROM server_keys WHERE name = 'test_key'"), 1);
	assert_int_equal(scalar(url, "SELECT octet_length(value) FROM server_keys"
				     " WHERE name = 'test_key'"),
			 32 + POS_SEAL_OVERHEAD);
	/* another length for the same name is refused */
	uint8_t short_key[16];
	assert_int_equal(a->ops->server_key(a, "test_key", short_key, sizeof(short_key)),
			 POS_ERR_CORRUPT);
	pos_store_close(a);
	pos_store_close(b);
	/* without the master key the database does not open */
	struct pos_store *c = NULL;
	struct pos_error e;
	pos_error_clear(&e);
	assert_int_equal(pos_pg_open(url, NULL, 2, &c, &e), POS_ERR_USAGE);
	assert_string_equal(e.field, "master_key_file");

	/* a plain key made without a master key is sealed once one is given */
	char url2[512];
	fresh_db(url2, sizeof(url2));
	struct pos_store *p = open_pg(url2, NULL);
	assert_int_equal(p->ops->server_key(p, "plain_key", k1, sizeof(k1)), POS_OK);
	pos_store_close(p);
	assert_int_equal(scalar(url2, "SELECT sealed FROM server_keys WHERE name = 'plain_key'"), 0);
	p = open_pg(url2, master);
	assert_int_equal(scalar(url2, "SELECT sealed FROM server_keys WHERE name = 'plain_key'"), 1);
	assert_int_equal(p->ops->server_key(p, "plain_key", k3, sizeof(k3)), POS_OK);
	assert_memory_equal(k1, k3, sizeof(k1));
	pos_store_close(p);
	unlink(master);
}

static void server_state_round_trips(void **state)
{
	(void)state;
	char url[512];
	shared_db(url, sizeof(url));
	struct pos_store *s = open_pg(url, NULL);
	struct pos_arena *a = pos_arena_new();
	const char *v = "x";
	assert_int_equal(s->ops->state_get(s, a, "cursor", &v), POS_OK);
	assert_null(v);
	assert_int_equal(s->ops->state_put(s, "cursor", "41"), POS_OK);
	assert_int_equal(s->ops->state_put(s, "cursor", "42"), POS_OK);
	assert_int_equal(s->ops->state_get(s, a, "cursor", &v), POS_OK);
	assert_string_equal(v, "42");
	assert_int_equal(s->ops->compact(s), POS_OK);
	pos_arena_destroy(a);
	pos_store_close(s);
}

static void reconnects_after_the_server_drops_connections(void **state)
{
	(void)state;
	char url[512];
	shared_db(url, sizeof(url));
	struct pos_store *s = open_pg(url, NULL);
	struct pos_arena *a = pos_arena_new();
	const char *v = NULL;
	assert_int_equal(s->ops->state_put(s, "reconnect", "1"), POS_OK);
	/* what a database restart does to the pool's idle connections */
	PGconn *db = PQconnectdb(url);
	assert_int_equal(PQstatus(db), CONNECTION_OK);
	PGresult *r = PQexec(db, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
				 " WHERE datname = current_database() AND pid <> pg_backend_pid()"
				 " AND application_name = 'personalos'");
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_true(strtoll(PQgetvalue(r, 0, 0), NULL, 10) >= 1);
	PQclear(r);
	PQfinish(db);
	/* the next statements find their connection broken, connect again
	 * and run (a statement outside a transaction is retried once) */
	for (int i = 0; i < 6; i++) {
		assert_int_equal(s->ops->state_get(s, a, "reconnect", &v), POS_OK);
		assert_string_equal(v, "1");
	}
	assert_int_equal(s->ops->state_put(s, "reconnect", "2"), POS_OK);
	assert_int_equal(s->ops->state_get(s, a, "reconnect", &v), POS_OK);
	assert_string_equal(v, "2");
	/* a session that lost its prepared statements (a pooler's reset)
	 * prepares them again */
	struct pg_conn *c = pg_get(s);
	assert_non_null(c);
	PQclear(PQexec(pg_conn_db(c), "DEALLOCATE ALL"));
	pg_put(s, c);
	assert_int_equal(s->ops->state_get(s, a, "reconnect", &v), POS_OK);
	assert_string_equal(v, "2");
	pos_arena_destroy(a);
	pos_store_close(s);
}

/* ---- accounts ---- */

static void make_user(struct pos_user *u, const char *email)
{
	memset(u, 0, sizeof(*u));
	pos_uuid_new(u->id);
	u->email = email;
	u->password_hash = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g";
	u->privacy_tier = "local";
	u->plan = "free";
	u->persona_json = "{}";
	u->settings_json = "{}";
	u->created_at = pos_now_us();
	u->last_login_at = POS_TIME_NONE;
}

static void registration_roles_and_admin_rules(void **state)
{
	(void)state;
	char url[512];
	fresh_db(url, sizeof(url));
	struct pos_store *s = open_pg(url, NULL);
	struct pos_arena *a = pos_arena_new();
	int64_t now = pos_now_us();
	struct pos_user u1, u2, dup;
	make_user(&u1, "first@example.com");
	make_user(&u2, "second@example.com");
	u2.created_at = u1.created_at + 1; /* the list's order: created_at, then the random id */
	assert_int_equal(s->accounts->user_register(s, &u1, NULL, false, now), POS_OK);
	assert_string_equal(u1.role, "admin"); /* the first account */
	assert_int_equal(s->accounts->user_register(s, &u2, NULL, false, now), POS_OK);
	assert_string_equal(u2.role, "user");
	make_user(&dup, "first@example.com");
	assert_int_equal(s->accounts->user_register(s, &dup, NULL, false, now),
			 POS_ERR_EMAIL_TAKEN);

	struct pos_user got;
	assert_int_equal(s->accounts->user_by_email(s, a, "second@example.com", &got), POS_OK);
	assert_string_equal(got.id, u2.id);
	assert_string_equal(got.role, "user");
	assert_int_equal(got.last_login_at, POS_TIME_NONE);
	assert_int_equal(got.quota[POS_QUOTA_MEMORIES], -1);
	assert_int_equal(s->accounts->user_by_id(s, a, "00000000-0000-4000-8000-000000000000",
						 &got), POS_ERR_NOT_FOUND);
	got.full_name = "Second Person";
	assert_int_equal(s->accounts->user_update_profile(s, &got), POS_OK);
	assert_int_equal(s->accounts->user_set_login(s, u2.id, now), POS_OK);
	assert_int_equal(s->accounts->user_by_id(s, a, u2.id, &got), POS_OK);
	assert_string_equal(got.full_name, "Second Person");
	assert_int_equal(got.last_login_at, now);

	int64_t users = 0, admins = 0;
	assert_int_equal(s->accounts->user_counts(s, &users, &admins), POS_OK);
	assert_int_equal(users, 2);
	assert_int_equal(admins, 1);
	/* the last enabled admin cannot be demoted or disabled */
	struct pos_user_admin_patch p = {.set = POS_UADM_ROLE, .role = "user"};
	assert_int_equal(s->accounts->user_admin_update(s, u1.id, &p, now), POS_ERR_LAST_ADMIN);
	struct pos_user_admin_patch d = {.set = POS_UADM_DISABLED, .disabled = true};
	assert_int_equal(s->accounts->user_admin_update(s, u1.id, &d, now), POS_ERR_LAST_ADMIN);
	assert_int_equal(s->accounts->user_by_id(s, a, u1.id, &got), POS_OK);
	assert_string_equal(got.role, "admin");
	assert_int_equal(got.disabled_at, POS_TIME_NONE);
	struct pos_user_admin_patch up = {.set = POS_UADM_ROLE | POS_UADM_QUOTA, .role = "admin"};
	up.quota_set[POS_QUOTA_TOKENS] = true;
	up.quota[POS_QUOTA_TOKENS] = 3;
	assert_int_equal(s->accounts->user_admin_update(s, u2.id, &up, now), POS_OK);
	assert_int_equal(s->accounts->user_admin_update(s, u1.id, &p, now), POS_OK);
	assert_int_equal(s->accounts->user_by_id(s, a, u2.id, &got), POS_OK);
	assert_int_equal(got.quota[POS_QUOTA_TOKENS], 3);
	assert_int_equal(s->accounts->user_admin_update(s, "nope", &p, now), POS_ERR_NOT_FOUND);

	struct pos_user *list = NULL;
	size_t n = 0;
	assert_int_equal(s->accounts->user_list(s, a, &list, &n), POS_OK);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].id, u1.id);

	struct pos_usage use;
	assert_int_equal(s->accounts->user_usage(s, u2.id, &use), POS_OK);
	assert_int_equal(use.n[POS_QUOTA_MEMORIES], 0);
	assert_int_equal(s->accounts->user_usage(s, "nope", &use), POS_ERR_NOT_FOUND);

	assert_int_equal(s->accounts->user_delete(s, u1.id, NULL), POS_OK);
	assert_int_equal(s->accounts->user_delete(s, u1.id, NULL), POS_ERR_NOT_FOUND);
	assert_int_equal(s->accounts->user_by_id(s, a, u1.id, &got), POS_ERR_NOT_FOUND);
	pos_arena_destroy(a);
	pos_store_close(s);
}

struct rotator {
	struct pos_store *s;
	const uint8_t *old_hash;
	uint8_t new_hash[32];
	enum pos_err rc;
};

static void *rotate_thread(void *arg)
{
	struct rotator *r = arg;
	char uid[POS_UUID_SIZE], sid[POS_UUID_SIZE];
	int64_t now = pos_now_us();
	r->rc = r->s->accounts->refresh_rotate(r->s, r->old_hash, r->new_hash, now + 60000000,
					       now, uid, sid);
	return NULL;
}

static void tokens_sessions_and_refresh_rotation(void **state)
{
	(void)state;
	char url[512];
	shared_db(url, sizeof(url));
	struct pos_store *s = open_pg(url, NULL);
	struct pos_arena *a = pos_arena_new();
	int64_t now = pos_now_us();
	struct pos_user u;
	make_user(&u, "tokens@example.com");
	assert_int_equal(s->accounts->user_register(s, &u, NULL, true, now), POS_OK);

	/* personal API tokens */
	struct pos_api_token t = {.name = "cli", .read_only = true, .created_at = now};
	pos_uuid_new(t.id);
	snprintf(t.user_id, sizeof(t.user_id), "%s", u.id);
	uint8_t th[32];
	pos_random(th, sizeof(th));
	assert_int_equal(s->accounts->token_create(s, &t, th), POS_OK);
	struct pos_api_token got;
	assert_int_equal(s->accounts->token_lookup(s, th, &got), POS_OK);
	assert_string_equal(got.id, t.id);
	assert_true(got.read_only);
	assert_int_equal(got.last_used_at, POS_TIME_NONE);
	assert_int_equal(s->accounts->token_touch(s, t.id, now + 1), POS_OK);
	struct pos_api_token *list = NULL;
	size_t n = 0;
	assert_int_equal(s->accounts->token_list(s, a, u.id, &list, &n), POS_OK);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].name, "cli");
	assert_int_equal(list[0].last_used_at, now + 1);
	assert_int_equal(s->accounts->token_revoke(s, "someone-else", t.id, now), POS_ERR_NOT_FOUND);
	assert_int_equal(s->accounts->token_revoke(s, u.id, t.id, now), POS_OK);
	assert_int_equal(s->accounts->token_revoke(s, u.id, t.id, now), POS_ERR_NOT_FOUND);
	assert_int_equal(s->accounts->token_lookup(s, th, &got), POS_ERR_NOT_FOUND);

	/* sessions and rotation */
	char sid[POS_UUID_SIZE], ruid[POS_UUID_SIZE], rsid[POS_UUID_SIZE];
	pos_uuid_new(sid);
	uint8_t h1[32], h2[32], h3[32];
	pos_random(h1, 32);
	pos_random(h2, 32);
	pos_random(h3, 32);
	assert_int_equal(s->accounts->session_create(s, sid, u.id, now, h1, now + 60000000),
			 POS_OK);
	assert_int_equal(s->accounts->session_check(s, sid, u.id), POS_OK);
	assert_int_equal(s->accounts->session_check(s, sid, "another"), POS_ERR_NOT_FOUND);
	assert_int_equal(s->accounts->refresh_rotate(s, h1, h2, now + 60000000, now, ruid, rsid),
			 POS_OK);
	assert_string_equal(ruid, u.id);
	assert_string_equal(rsid, sid);
	/* the key wrap of a token goes with its session's revocation */
	assert_int_equal(s->keys->refresh_wrap_put(s, h2, (const uint8_t *)"wrapped", 7), POS_OK);
	const uint8_t *wrap = NULL;
	size_t wlen = 0;
	assert_int_equal(s->keys->refresh_wrap_get(s, a, h2, &wrap, &wlen), POS_OK);
	assert_int_equal(wlen, 7);
	assert_memory_equal(wrap, "wrapped", 7);
	/* replaying the used token revokes the whole session */
	assert_int_equal(s->accounts->refresh_rotate(s, h1, h3, now + 60000000, now, ruid, rsid),
			 POS_ERR_BAD_TOKEN);
	assert_int_equal(s->accounts->session_check(s, sid, u.id), POS_ERR_NOT_FOUND);
	assert_int_equal(s->accounts->refresh_rotate(s, h2, h3, now + 60000000, now, ruid, rsid),
			 POS_ERR_BAD_TOKEN);
	assert_int_equal(s->keys->refresh_wrap_get(s, a, h2, &wrap, &wlen), POS_OK);
	assert_null(wrap);
	/* unknown and expired tokens */
	uint8_t unknown[32] = {1};
	assert_int_equal(s->accounts->refresh_rotate(s, unknown, h3, now, now, ruid, rsid),
			 POS_ERR_BAD_TOKEN);
	char sid2[POS_UUID_SIZE];
	pos_uuid_new(sid2);
	uint8_t e1[32];
	pos_random(e1, 32);
	assert_int_equal(s->accounts->session_create(s, sid2, u.id, now, e1, now - 1), POS_OK);
	assert_int_equal(s->accounts->refresh_rotate(s, e1, h3, now + 1, now, ruid, rsid),
			 POS_ERR_BAD_TOKEN);

	/* two uses of one token at once: exactly one rotates */
	char sid3[POS_UUID_SIZE];
	pos_uuid_new(sid3);
	uint8_t r1[32];
	pos_random(r1, 32);
	assert_int_equal(s->accounts->session_create(s, sid3, u.id, now, r1, now + 60000000),
			 POS_OK);
	struct rotator rot[4];
	pthread_t th4[4];
	for (int i = 0; i < 4; i++) {
		rot[i] = (struct rotator){.s = s, .old_hash = r1};
		pos_random(rot[i].new_hash, 32);
		assert_int_equal(pthread_create(&th4[i], NULL, rotate_thread, &rot[i]), 0);
	}
	int ok = 0;
	for (int i = 0; i < 4; i++) {
		pthread_join(th4[i], NULL);
		if (rot[i].rc == POS_OK)
			ok++;
		else
			assert_int_equal(rot[i].rc, POS_ERR_BAD_TOKEN);
	}
	assert_int_equal(ok, 1);

	/* revoke everything but one session */
	char keep[POS_UUID_SIZE], other[POS_UUID_SIZE];
	pos_uuid_new(keep);
	pos_uuid_new(other);
	uint8_t k1[32], k2[32];
	pos_random(k1, 32);
	pos_random(k2, 32);
	assert_int_equal(s->accounts->session_create(s, keep, u.id, now, k1, now + 60000000), POS_OK);
	assert_int_equal(s->accounts->session_create(s, other, u.id, now, k2, now + 60000000), POS_OK);
	int64_t ns = 0, nt = 0;
	assert_int_equal(s->accounts->user_revoke_all(s, u.id, keep, true, now, &ns, &nt), POS_OK);
	assert_int_equal(ns, 2); /* `other` and the session of the expired token */
	assert_int_equal(nt, 0);
	assert_int_equal(s->accounts->session_check(s, keep, u.id), POS_OK);
	assert_int_equal(s->accounts->session_check(s, other, u.id), POS_ERR_NOT_FOUND);
	assert_int_equal(s->accounts->session_revoke(s, keep, now), POS_OK);
	assert_int_equal(s->accounts->session_check(s, keep, u.id), POS_ERR_NOT_FOUND);
	int64_t swept = -1;
	assert_int_equal(s->keys->refresh_wraps_sweep(s, now, &swept), POS_OK);
	assert_true(swept >= 0);
	pos_arena_destroy(a);
	pos_store_close(s);
}

static void invites_are_single_use(void **state)
{
	(void)state;
	char url[512];
	shared_db(url, sizeof(url));
	struct pos_store *s = open_pg(url, NULL);
	struct pos_arena *a = pos_arena_new();
	int64_t now = pos_now_us();
	struct pos_user admin;
	make_user(&admin, "admin@example.com");
	assert_int_equal(s->accounts->user_register(s, &admin, NULL, true, now), POS_OK);
	struct pos_invite inv = {.email = "bound@example.com", .created_at = now,
				 .expires_at = now + 3600000000LL, .used_at = POS_TIME_NONE};
	pos_uuid_new(inv.id);
	snprintf(inv.created_by, sizeof(inv.created_by), "%s", admin.id);
	uint8_t h[32];
	pos_random(h, 32);
	assert_int_equal(s->accounts->invite_create(s, &inv, h), POS_OK);
	assert_int_equal(s->accounts->invite_valid(s, h, "bound@example.com", now), POS_OK);
	assert_int_equal(s->accounts->invite_valid(s, h, "other@example.com", now),
			 POS_ERR_INVALID_INVITE);
	struct pos_user other, bound, again;
	make_user(&other, "other@example.com");
	assert_int_equal(s->accounts->user_register(s, &other, h, false, now),
			 POS_ERR_INVALID_INVITE);
	make_user(&bound, "bound@example.com");
	assert_int_equal(s->accounts->user_register(s, &bound, h, false, now), POS_OK);
	assert_string_equal(bound.role, "user");
	make_user(&again, "again@example.com");
	assert_int_equal(s->accounts->user_register(s, &again, h, false, now),
			 POS_ERR_INVALID_INVITE);
	struct pos_invite *list = NULL;
	size_t n = 0;
	assert_int_equal(s->accounts->invite_list(s, a, &list, &n), POS_OK);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].used_by, bound.id);
	assert_string_equal(list[0].created_by, admin.id);
	assert_true(list[0].used_at != POS_TIME_NONE);
	assert_int_equal(s->accounts->invite_delete(s, inv.id), POS_OK);
	assert_int_equal(s->accounts->invite_delete(s, inv.id), POS_ERR_NOT_FOUND);
	pos_arena_destroy(a);
	pos_store_close(s);
}

/* ---- keys ---- */

struct terms {
	char got[8][32];
	int n;
};

static void add_term(void *ctx, const char *term, size_t n)
{
	struct terms *t = ctx;
	if (t->n < 8)
		snprintf(t->got[t->n++], sizeof(t->got[0]), "%.*s", (int)n, term);
}

static void key_material_and_index_terms(void **state)
{
	(void)state;
	char url[512];
	shared_db(url, sizeof(url));
	struct pos_store *s = open_pg(url, NULL);
	struct pos_arena *a = pos_arena_new();
	int64_t now = pos_now_us();
	struct pos_user u;
	make_user(&u, "crypt@example.com");
	assert_int_equal(s->accounts->user_register(s, &u, NULL, true, now), POS_OK);
	struct pos_user_crypt c;
	assert_int_equal(s->keys->crypt_get(s, a, u.id, &c), POS_OK);
	assert_string_equal(c.state, "off");
	assert_null(c.salt);
	assert_int_equal(s->keys->crypt_get(s, a, "nope", &c), POS_ERR_NOT_FOUND);
	uint8_t salt[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0};
	struct pos_user_crypt in = {.state = "encrypting", .salt = salt, .salt_len = sizeof(salt),
				    .kdf = "argon2id13:2:65536"};
	assert_int_equal(s->keys->crypt_put(s, u.id, &in, "newhash", "off"), POS_OK);
	assert_int_equal(s->keys->crypt_put(s, u.id, &in, NULL, "off"), POS_ERR_CONFLICT);
	struct pos_user_crypt keep = {0}; /* NULL fields keep their values */
	assert_int_equal(s->keys->crypt_put(s, u.id, &keep, NULL, NULL), POS_OK);
	assert_int_equal(s->keys->crypt_get(s, a, u.id, &c), POS_OK);
	assert_string_equal(c.state, "encrypting");
	assert_string_equal(c.kdf, "argon2id13:2:65536");
	assert_int_equal(c.salt_len, sizeof(salt));
	assert_memory_equal(c.salt, salt, sizeof(salt)); /* bytes with NULs survive */
	struct pos_user got;
	assert_int_equal(s->accounts->user_by_id(s, a, u.id, &got), POS_OK);
	assert_string_equal(got.password_hash, "newhash");

	/* tokenized and stemmed like the index (pos_english): stop words stay,
	 * as in SQLite's FTS5 index */
	struct terms t = {0};
	const char text[] = "The running dogs";
	assert_int_equal(s->keys->index_terms(s, text, strlen(text), add_term, &t), POS_OK);
	assert_int_equal(t.n, 3);
	assert_string_equal(t.got[0], "the");
	assert_string_equal(t.got[1], "run");
	assert_string_equal(t.got[2], "dog");
	pos_arena_destroy(a);
	pos_store_close(s);
}


/* ---- memories: the bulk insert is one batch ---- */

/* The vocabulary and totals the triggers keep, against a recount from the
 * index itself: 0 when they agree. */
static long long vocabulary_drift(const char *url)
{
	return scalar(url, "SELECT count(*) FROM ("
			   "(SELECT term, df FROM memory_terms WHERE df <> 0"
			   " EXCEPT SELECT w, count(*) FROM memories, unnest(tsvector_to_array(tsv)) w"
			   " GROUP BY w)"
			   " UNION ALL"
			   " (SELECT w, count(*) FROM memories, unnest(tsvector_to_array(tsv)) w GROUP BY w"
			   " EXCEPT SELECT term, df FROM memory_terms WHERE df <> 0)) x") +
	       scalar(url, "SELECT count(*) FROM memory_terms_total WHERE"
			   " docs <> (SELECT count(*) FROM memories) OR lexemes <>"
			   " (SELECT coalesce(sum(length(tsv)), 0) FROM memories)") +
	       scalar(url, "SELECT count(*) FROM users u WHERE bytes_used <> (SELECT"
			   " coalesce(sum(octet_length(content) + octet_length(metadata)), 0)"
			   " FROM memories WHERE user_id = u.id)");
}

#define BULK_N 1000

/* plugin_data_rewrite (the encryption pass's sealing of plugin data):
 * every kv value and log line of the user is offered; replaced ones are
 * stored, the others and other users' are not touched. */
static bool upper_plain(void *ctx, struct pos_arena *a, char kind, const char *plugin_id,
			const char *key, const char *text, size_t len, const char **out,
			size_t *out_len)
{
	(void)ctx;
	(void)plugin_id;
	if (kind == 'k' && strcmp(key, "skip") == 0)
		return false;
	char *t = pos_arena_alloc(a, len + 2);
	t[0] = kind;
	memcpy(t + 1, text, len);
	t[len + 1] = '\0';
	*out = t;
	*out_len = len + 1;
	return true;
}

static void plugin_data_rewritten(void **state)
{
	(void)state;
	char url[512];
	fresh_db(url, sizeof(url));
	struct pos_store *s = open_pg(url, NULL);
	struct pos_arena *a = pos_arena_new();
	int64_t now = pos_now_us();
	struct pos_user u, o;
	make_user(&u, "kv@example.com");
	make_user(&o, "kv-other@example.com");
	assert_int_equal(s->accounts->user_register(s, &u, NULL, false, now), POS_OK);
	assert_int_equal(s->accounts->user_register(s, &o, NULL, false, now), POS_OK);
	assert_int_equal(s->plugins->plugin_kv_put(s, u.id, "p", "a", "one", 3, 1 << 20), POS_OK);
	assert_int_equal(s->plugins->plugin_kv_put(s, u.id, "p", "skip", "two", 3, 1 << 20), POS_OK);
	assert_int_equal(s->plugins->plugin_kv_put(s, o.id, "p", "a", "three", 5, 1 << 20), POS_OK);
	assert_int_equal(s->plugins->plugin_log_add(s, u.id, "p", "info", "line", 4, now, 10), POS_OK);
	size_t n = 0;
	assert_int_equal(s->plugins->plugin_data_rewrite(s, u.id, upper_plain, NULL, &n), POS_OK);
	assert_int_equal(n, 2);
	const char *v = NULL;
	size_t len = 0;
	assert_int_equal(s->plugins->plugin_kv_get(s, a, u.id, "p", "a", &v, &len), POS_OK);
	assert_string_equal(v, "kone");
	assert_int_equal(s->plugins->plugin_kv_get(s, a, u.id, "p", "skip", &v, &len), POS_OK);
	assert_string_equal(v, "two");
	assert_int_equal(s->plugins->plugin_kv_get(s, a, o.id, "p", "a", &v, &len), POS_OK);
	assert_string_equal(v, "three");
	struct pos_plugin_log *lv = NULL;
	assert_int_equal(s->plugins->plugin_log_list(s, a, u.id, "p", 10, &lv, &n), POS_OK);
	assert_int_equal(n, 1);
	assert_string_equal(lv[0].message, "lline");
	pos_arena_destroy(a);
	pos_store_close(s);
}

static void bulk_of_1000_is_all_or_nothing(void **state)
{
	(void)state;
	char url[512];
	fresh_db(url, sizeof(url));
	struct pos_store *s = open_pg(url, NULL);
	struct pos_arena *a = pos_arena_new();
	int64_t now = pos_now_us();
	struct pos_user u;
	make_user(&u, "bulk@example.com");
	assert_int_equal(s->accounts->user_register(s, &u, NULL, false, now), POS_OK);
	static const char *const tags[] = {"pg", "bulk"};
	static const int8_t q[4] = {1, -2, 3, -4};
	char (*rel)[POS_UUID_SIZE] = pos_arena_alloc(a, POS_UUID_SIZE);
	struct pos_memory *m = pos_arena_alloc(a, BULK_N * sizeof(*m));
	assert_non_null(m);
	for (int i = 0; i < BULK_N; i++) {
		struct pos_memory *x = &m[i];
		memset(x, 0, sizeof(*x));
		pos_uuid_new(x->id);
		memcpy(x->user_id, u.id, POS_UUID_SIZE);
		char text[128];
		int n = snprintf(text, sizeof(text), "note %d about \"quoted\" word%d and back\\slash {x,y}",
				 i, i % 7);
		x->content = pos_arena_strndup(a, text, (size_t)n);
		x->content_len = (size_t)n;
		x->type = POS_TYPE_NOTE;
		x->layer = POS_LAYER_ACTIVE;
		x->source = "api";
		x->created_at = x->updated_at = now + i;
		x->last_accessed_at = POS_TIME_NONE;
		x->tags_json = "[\"pg\",\"bulk\"]";
		x->tags = (const char **)tags;
		x->n_tags = 2;
		x->importance = 0.5;
		x->shared_with_json = "[]";
		x->metadata_json = i == 3 ? "{\"k\": null}" : "{}";
		x->attachments_json = "[]";
	}
	m[0].vec = (struct pos_vec){.model = "unit-4", .dim = 4, .scale = 0.25f, .q = q};
	memcpy(m[5].parent_id, m[2].id, POS_UUID_SIZE);   /* earlier in the batch */
	memcpy(rel[0], m[3].id, POS_UUID_SIZE);
	m[7].related = rel;
	m[7].n_related = 1;
	/* a parent that does not exist, at position 700: nothing is written */
	pos_uuid_new(m[700].parent_id);
	struct pos_error e;
	pos_error_clear(&e);
	assert_int_equal(s->memories->memory_insert(s, m, BULK_N, &e), POS_ERR_INVALID_FIELD);
	assert_int_equal(e.index, 700);
	assert_string_equal(e.field, "parent_memory_id");
	assert_int_equal(m[0].seq, 0);
	assert_int_equal(scalar(url, "SELECT count(*) FROM memories"), 0);
	assert_int_equal(scalar(url, "SELECT count(*) FROM memory_tags"), 0);
	assert_int_equal(scalar(url, "SELECT count(*) FROM memory_vectors"), 0);
	assert_int_equal(scalar(url, "SELECT memory_count FROM users"), 0);
	assert_int_equal(vocabulary_drift(url), 0);
	/* a parent later in the batch is not known yet (as one by one) */
	memcpy(m[700].parent_id, m[701].id, POS_UUID_SIZE);
	pos_error_clear(&e);
	assert_int_equal(s->memories->memory_insert(s, m, BULK_N, &e), POS_ERR_INVALID_FIELD);
	assert_int_equal(e.index, 700);
	assert_int_equal(scalar(url, "SELECT count(*) FROM memories"), 0);

	m[700].parent_id[0] = '\0';
	pos_error_clear(&e);
	assert_int_equal(s->memories->memory_insert(s, m, BULK_N, &e), POS_OK);
	for (int i = 1; i < BULK_N; i++)
		assert_true(m[i].seq > m[i - 1].seq); /* in the batch's order */
	assert_int_equal(scalar(url, "SELECT count(*) FROM memories"), BULK_N);
	assert_int_equal(scalar(url, "SELECT count(*) FROM memory_tags"), 2 * BULK_N);
	assert_int_equal(scalar(url, "SELECT count(*) FROM memory_vectors"), 1);
	assert_int_equal(scalar(url, "SELECT count(*) FROM memory_relationships"), 1);
	assert_int_equal(scalar(url, "SELECT memory_count FROM users"), BULK_N);
	assert_true(scalar(url, "SELECT bytes_used FROM users") > 0);
	assert_int_equal(vocabulary_drift(url), 0);
	struct pos_memory got;
	assert_int_equal(s->memories->memory_get(s, a, u.id, m[5].id, false, now, &got), POS_OK);
	assert_string_equal(got.content, m[5].content);  /* quotes, backslash, braces */
	assert_string_equal(got.parent_id, m[2].id);
	assert_int_equal(got.seq, m[5].seq);
	assert_int_equal(s->memories->memory_get(s, a, u.id, m[3].id, false, now, &got), POS_OK);
	assert_string_equal(got.metadata_json, "{\"k\": null}");
	struct pos_vec v;
	assert_int_equal(s->memories->vector_get(s, a, u.id, m[0].seq, &v), POS_OK);
	assert_int_equal(v.dim, 4);
	assert_memory_equal(v.q, q, 4);
	assert_true(v.scale == 0.25f);
	/* memory_tag_add (plugins' tag path): merged, indexed, capped, scoped */
	static const char *const more[] = {"bulk", "tagged"};
	size_t added = 0;
	assert_int_equal(s->memories->memory_tag_add(s, u.id, m[9].id, more, 2, 100, now, &added),
			 POS_OK);
	assert_int_equal(added, 1);
	assert_int_equal(s->memories->memory_get(s, a, u.id, m[9].id, false, now, &got), POS_OK);
	assert_string_equal(got.tags_json, "[\"pg\",\"bulk\",\"tagged\"]");
	assert_int_equal(scalar(url, "SELECT count(*) FROM memory_tags WHERE tag = 'tagged'"), 1);
	assert_int_equal(s->memories->memory_tag_add(s, u.id, m[9].id, more, 2, 100, now, &added),
			 POS_OK);
	assert_int_equal(added, 0);
	static const char *const extra[] = {"one-too-many"};
	assert_int_equal(s->memories->memory_tag_add(s, u.id, m[9].id, extra, 1, 3, now, &added),
			 POS_ERR_INVALID_FIELD);
	char nobody[POS_UUID_SIZE];
	pos_uuid_new(nobody);
	assert_int_equal(s->memories->memory_tag_add(s, nobody, m[9].id, extra, 1, 100, now, &added),
			 POS_ERR_NOT_FOUND);

	/* a bulk referring to the stored ones; a related id of another
	 * memory's own: reported by position */
	struct pos_memory two[2];
	memcpy(two, &m[0], sizeof(two));
	pos_uuid_new(two[0].id);
	pos_uuid_new(two[1].id);
	two[0].vec = (struct pos_vec){0};
	memcpy(two[0].parent_id, m[999].id, POS_UUID_SIZE);
	two[1].related = rel;
	memcpy(rel[0], two[1].id, POS_UUID_SIZE);
	two[1].n_related = 1;
	pos_error_clear(&e);
	assert_int_equal(s->memories->memory_insert(s, two, 2, &e), POS_ERR_INVALID_FIELD);
	assert_int_equal(e.index, 1);
	assert_string_equal(e.field, "related_memory_ids");
	two[1].n_related = 0;
	assert_int_equal(s->memories->memory_insert(s, two, 2, &e), POS_OK);
	assert_int_equal(scalar(url, "SELECT count(*) FROM memories"), BULK_N + 2);

	/* vectors_put is one statement too: a memory changed since it was read
	 * is skipped, a stored vector replaced */
	struct pos_memory vp[3];
	memcpy(vp, &m[1], sizeof(vp));           /* m[1], m[2], m[3] */
	static const int8_t q2[4] = {4, 3, 2, 1};
	for (int i = 0; i < 3; i++)
		vp[i].vec = (struct pos_vec){.model = "unit-4", .dim = 4, .scale = 0.5f, .q = q2};
	vp[1].updated_at -= 1;                   /* stale read */
	vp[2].seq = m[0].seq;                    /* replaces m[0]'s */
	vp[2].updated_at = m[0].updated_at;
	assert_int_equal(s->memories->vectors_put(s, vp, 3), POS_OK);
	assert_int_equal(scalar(url, "SELECT count(*) FROM memory_vectors"), 2);
	assert_int_equal(s->memories->vector_get(s, a, u.id, m[1].seq, &v), POS_OK);
	assert_memory_equal(v.q, q2, 4);
	assert_int_equal(s->memories->vector_get(s, a, u.id, m[0].seq, &v), POS_OK);
	assert_memory_equal(v.q, q2, 4);
	assert_true(v.scale == 0.5f);
	assert_int_equal(s->memories->vector_get(s, a, u.id, m[2].seq, &v), POS_OK);
	assert_null(v.q); /* none: its write was skipped */

	/* deletes keep the vocabulary per statement too */
	int64_t seq = 0;
	assert_int_equal(s->memories->memory_delete(s, u.id, m[10].id, &seq), POS_OK);
	assert_int_equal(seq, m[10].seq);
	assert_int_equal(vocabulary_drift(url), 0);
	assert_int_equal(s->accounts->user_delete(s, u.id, NULL), POS_OK);
	assert_int_equal(scalar(url, "SELECT count(*) FROM memories"), 0);
	assert_int_equal(scalar(url, "SELECT docs FROM memory_terms_total"), 0);
	assert_int_equal(vocabulary_drift(url), 0);
	pos_arena_destroy(a);
	pos_store_close(s);
}

int main(void)
{
	pos_crypto_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(migrates_once_when_started_together),
		cmocka_unit_test(bad_url_is_an_operator_error),
		cmocka_unit_test(server_keys_are_shared_and_sealed),
		cmocka_unit_test(server_state_round_trips),
		cmocka_unit_test(reconnects_after_the_server_drops_connections),
		cmocka_unit_test(registration_roles_and_admin_rules),
		cmocka_unit_test(tokens_sessions_and_refresh_rotation),
		cmocka_unit_test(invites_are_single_use),
		cmocka_unit_test(key_material_and_index_terms),
		cmocka_unit_test(bulk_of_1000_is_all_or_nothing),
		cmocka_unit_test(plugin_data_rewritten),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
