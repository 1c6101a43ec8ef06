/*
 * pg.c — the PostgreSQL backend (issue 18): opening, the connection pool,
 * migrations under an advisory lock, server keys and server state kept in
 * the database (shared by every instance), summary and compaction. The
 * domains live in pg_<domain>.c; the helpers in pg_util.c.
 *
 * Pool: `pool_size` slots, connected lazily on first loan; a borrower
 * waits up to 5 s for a free one. A connection given back with an open
 * transaction is rolled back; a broken one is made again.
 *
 * Migrations: schema_version(version, name, applied_at). Every start takes
 * pg_advisory_lock(PG_MIGRATE_LOCK) on one connection, applies what is
 * missing (each version in one transaction) and unlocks, so instances
 * starting together migrate once. Version 1 is every domain's DDL, in the
 * order core, accounts, keys, memories, chat, shares, jobs, sync,
 * plugins, files.
 *
 * Server keys: the table server_keys(name, value, created_at, sealed);
 * with a master key (the operator's master_key_file) values are sealed
 * under BLAKE2b(master secret) with the key's name as associated data, and
 * plain rows left by an instance without one are sealed on open.
 */
#include "store/pg_internal.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"
#include "crypto/crypto.h"
#include "crypto/keyfile.h"
#include "crypto/keyring.h"

/* "POS_MIGR" as a number: the advisory lock migrating instances take. */
#define PG_MIGRATE_LOCK 0x504F535F4D494752LL
#define PG_WAIT_S 5
#define PG_POOL_MAX 256

struct pg_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned size;
	struct pg_conn **conns;       /* NULL until first lent */
	bool *busy;
	char *conninfo;
};

/* Server keys read so far (they never change once made). */
#define KEY_CACHE 32
struct pg_keys {
	pthread_mutex_t mu;
	bool have_master;
	uint8_t master[32];
	unsigned n;
	struct {
		char name[64];
		size_t len;
		uint8_t key[POS_KEYFILE_KEY_MAX];
	} cache[KEY_CACHE];
};

/* ---- pool ---- */

struct pg_conn *pg_get(struct pos_store *base)
{
	struct pg_pool *p = ((struct pg_store *)base)->pool;
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += PG_WAIT_S;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		int pick = -1;
		for (unsigned i = 0; i < p->size; i++) {
			if (p->busy[i])
				continue;
			if (p->conns[i]) { /* a connected one first */
				pick = (int)i;
				break;
			}
			if (pick < 0)
				pick = (int)i;
		}
		if (pick >= 0) {
			p->busy[pick] = true;
			struct pg_conn *c = p->conns[pick];
			pthread_mutex_unlock(&p->mu);
			if (!c)
				c = pg_conn_open(p->conninfo, (unsigned)pick);
			else if (!pg_conn_usable(c)) {
				pg_conn_close(c);
				c = NULL;
			}
			pthread_mutex_lock(&p->mu);
			p->conns[pick] = c;
			if (!c) {
				p->busy[pick] = false;
				pthread_cond_signal(&p->cv);
			}
			pthread_mutex_unlock(&p->mu);
			return c;
		}
		if (pthread_cond_timedwait(&p->cv, &p->mu, &until) == ETIMEDOUT) {
			pthread_mutex_unlock(&p->mu);
			pos_error_log("store(pg): no free connection in %d s (pool of %u: see"
				      " store_pool)", PG_WAIT_S, p->size);
			return NULL;
		}
	}
}

void pg_put(struct pos_store *base, struct pg_conn *c)
{
	if (!c)
		return;
	struct pg_pool *p = ((struct pg_store *)base)->pool;
	unsigned slot = pg_conn_slot(c);
	if (!pg_conn_release(c)) {
		/* could not reconnect: the slot connects again on next loan */
		pg_conn_close(c);
		c = NULL;
	}
	pthread_mutex_lock(&p->mu);
	p->conns[slot] = c;
	p->busy[slot] = false;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static void pool_free(struct pg_pool *p)
{
	if (!p)
		return;
	for (unsigned i = 0; p->conns && i < p->size; i++)
		pg_conn_close(p->conns[i]);
	pos_free(p->conns);
	pos_free(p->busy);
	pos_free(p->conninfo);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	pos_free(p);
}

static struct pg_pool *pool_new(const char *url, unsigned size)
{
	struct pg_pool *p = pos_calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &ca);
	pthread_condattr_destroy(&ca);
	p->size = size;
	p->conns = pos_calloc(size, sizeof(*p->conns));
	p->busy = pos_calloc(size, sizeof(*p->busy));
	p->conninfo = pos_strdup(url);
	if (!p->conns || !p->busy || !p->conninfo) {
		pool_free(p);
		return NULL;
	}
	return p;
}

/* ---- migrations ---- */

/* The core's own tables, first in version 1. */
static const char ddl_core[] =
	/* as SQLite's server_keys, plus `sealed` (1: value sealed under the
	 * master key); SQLite keeps its keys in the key file instead */
	"CREATE TABLE IF NOT EXISTS server_keys ("
	" name text PRIMARY KEY,"
	" value bytea NOT NULL,"
	" created_at bigint NOT NULL,"
	" sealed bigint NOT NULL DEFAULT 0);"
	"CREATE TABLE IF NOT EXISTS server_state ("
	" name text PRIMARY KEY,"
	" value text NOT NULL,"
	" updated_at bigint NOT NULL);";

struct pg_migration {
	int version;
	const char *name;
	const char *const *ddl;       /* NULL-terminated, run in order */
};

static const char *const v1_ddl[] = {
	ddl_core, pg_ddl_accounts, pg_ddl_keys, pg_ddl_memories, pg_ddl_chat,
	pg_ddl_shares, pg_ddl_jobs, pg_ddl_sync, pg_ddl_plugins, pg_ddl_files, NULL,
};

static const char *const v2_ddl[] = {pg_ddl_memories_v2, NULL};
static const char *const v3_ddl[] = {pg_ddl_thumbs, NULL};
static const char *const v4_ddl[] = {pg_ddl_unthumbed, NULL};

static const struct pg_migration pg_migrations[] = {
	{1, "initial schema (every domain)", v1_ddl},
	{2, "memory vocabulary and bytes kept per statement", v2_ddl},
	{3, "files: thumbnails (SQLite's 19)", v3_ddl},
	{4, "files: index of attachments without a thumbnail (SQLite's 23)", v4_ddl},
};
#define PG_NEWEST ((int)(sizeof(pg_migrations) / sizeof(pg_migrations[0])))

PG_STMT(st_mig_have, "SELECT 1 FROM schema_version WHERE version = $1");
PG_STMT(st_mig_max, "SELECT coalesce(max(version), 0) FROM schema_version");
PG_STMT(st_mig_record, "INSERT INTO schema_version(version, name, applied_at)"
		       " VALUES ($1, $2, $3)");

static enum pos_err apply(struct pg_conn *c, const struct pg_migration *m,
			  struct pos_error *err)
{
	struct pg_params p = {0};
	PGresult *r = NULL;
	pg_p_i64(&p, m->version);
	enum pos_err rc = pg_run(c, &st_mig_have, &p, &r);
	bool done = !rc && pg_rows(r) > 0;
	PQclear(r);
	if (rc)
		return pos_error_set(err, rc, NULL, "cannot read the schema version");
	if (done)
		return POS_OK;
	if ((rc = pg_begin(c)))
		return pos_error_set(err, rc, NULL, "cannot begin migration %d", m->version);
	for (size_t i = 0; m->ddl[i]; i++) {
		if (!m->ddl[i][0])
			continue; /* a domain not written yet (pg_pending.c) */
		if ((rc = pg_exec(c, m->ddl[i]))) {
			pg_rollback(c);
			return pos_error_set(err, rc, NULL, "migration %d (%s) failed at part %zu",
					     m->version, m->name, i);
		}
	}
	struct pg_params q = {0};
	pg_p_i64(&q, m->version);
	pg_p_text(&q, m->name);
	pg_p_i64(&q, pos_now_us());
	if ((rc = pg_run(c, &st_mig_record, &q, NULL)) || (rc = pg_commit(c))) {
		pg_rollback(c);
		return pos_error_set(err, rc, NULL, "cannot record migration %d", m->version);
	}
	pos_info("store(pg): applied schema version %d (%s)", m->version, m->name);
	return POS_OK;
}

static enum pos_err migrate(struct pg_conn *c, struct pos_error *err)
{
	char lock[96];
	snprintf(lock, sizeof(lock), "SELECT pg_advisory_lock(%lld)", (long long)PG_MIGRATE_LOCK);
	if (pg_exec(c, lock))
		return pos_error_set(err, POS_ERR_STORE, NULL,
				     "cannot take the migration lock on the database");
	enum pos_err rc = pg_exec(c, "CREATE TABLE IF NOT EXISTS schema_version ("
				     " version bigint PRIMARY KEY, name text NOT NULL,"
				     " applied_at bigint NOT NULL)");
	if (rc) {
		pos_error_set(err, rc, NULL, "cannot create schema_version");
		goto out;
	}
	PGresult *r = NULL;
	if ((rc = pg_run(c, &st_mig_max, NULL, &r))) {
		pos_error_set(err, rc, NULL, "cannot read the schema version");
		goto out;
	}
	int64_t have = pg_i64(r, 0, 0);
	PQclear(r);
	if (have > PG_NEWEST) {
		rc = pos_error_set(err, POS_ERR_STORE, NULL,
				   "the database has schema version %lld, newer than this"
				   " build knows (%d): upgrade PersonalOS",
				   (long long)have, PG_NEWEST);
		goto out;
	}
	for (int i = 0; i < PG_NEWEST && !rc; i++)
		rc = apply(c, &pg_migrations[i], err);
out:
	snprintf(lock, sizeof(lock), "SELECT pg_advisory_unlock(%lld)", (long long)PG_MIGRATE_LOCK);
	pg_exec(c, lock);
	return rc;
}

/* ---- server keys ---- */

PG_STMT(st_key_get, "SELECT value, sealed FROM server_keys WHERE name = $1");
PG_STMT(st_key_add, "INSERT INTO server_keys(name, value, created_at, sealed)"
		    " VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING");
PG_STMT(st_key_plain, "SELECT name, value FROM server_keys WHERE sealed = 0");
PG_STMT(st_key_seal, "UPDATE server_keys SET value = $2, sealed = 1"
		     " WHERE name = $1 AND sealed = 0");
PG_STMT(st_key_any_sealed, "SELECT 1 FROM server_keys WHERE sealed = 1 LIMIT 1");

#define KEY_AD "personalos-server-key:"

static void key_ad(const char *name, char *ad, size_t cap)
{
	snprintf(ad, cap, KEY_AD "%s", name);
}

/* Reads key `name` from the row set `r` into key (len bytes). */
static enum pos_err key_decode(struct pg_keys *k, struct pos_arena *a, PGresult *r,
			       const char *name, uint8_t *key, size_t len)
{
	const uint8_t *v = NULL;
	size_t n = 0;
	enum pos_err rc = pg_bytes(a, r, 0, 0, &v, &n);
	if (rc)
		return rc;
	if (pg_i64(r, 0, 1)) {
		if (!k->have_master) {
			pos_error_log("store(pg): server key %s is sealed and no master_key_file"
				      " is set", name);
			return POS_ERR_DECRYPT;
		}
		if (n != len + POS_SEAL_OVERHEAD)
			return POS_ERR_CORRUPT;
		char ad[128];
		key_ad(name, ad, sizeof(ad));
		return pos_unseal(k->master, ad, strlen(ad), v, n, key);
	}
	if (n != len)
		return POS_ERR_CORRUPT;
	memcpy(key, v, len);
	return POS_OK;
}

static enum pos_err pg_server_key(struct pos_store *base, const char *name, uint8_t *key,
				  size_t len)
{
	struct pg_keys *k = ((struct pg_store *)base)->keys;
	if (!name || !name[0] || strlen(name) >= sizeof(k->cache[0].name) || len == 0 ||
	    len > POS_KEYFILE_KEY_MAX)
		return POS_ERR_INVALID_REQUEST;
	pthread_mutex_lock(&k->mu);
	for (unsigned i = 0; i < k->n; i++) {
		if (strcmp(k->cache[i].name, name) == 0) {
			enum pos_err rc = k->cache[i].len == len ? POS_OK : POS_ERR_CORRUPT;
			if (!rc)
				memcpy(key, k->cache[i].key, len);
			pthread_mutex_unlock(&k->mu);
			return rc;
		}
	}
	pthread_mutex_unlock(&k->mu);

	struct pos_arena *a = pos_arena_new();
	struct pg_conn *c = a ? pg_get(base) : NULL;
	if (!c) {
		pos_arena_destroy(a);
		return a ? POS_ERR_STORE : POS_ERR_NOMEM;
	}
	enum pos_err rc = POS_OK;
	PGresult *r = NULL;
	for (int round = 0; round < 2; round++) {
		struct pg_params p = {0};
		pg_p_text(&p, name);
		if ((rc = pg_run(c, &st_key_get, &p, &r)))
			goto out;
		if (pg_rows(r) > 0)
			break;
		PQclear(r);
		r = NULL;
		if (round == 1) {
			rc = POS_ERR_STORE;
			goto out;
		}
		/* absent: make it; another instance may make it at the same
		 * time, and the row that landed first is everyone's */
		uint8_t fresh[POS_KEYFILE_KEY_MAX], sealed[POS_KEYFILE_KEY_MAX + POS_SEAL_OVERHEAD];
		pos_random(fresh, len);
		struct pg_params q = {0};
		pg_p_text(&q, name);
		if (k->have_master) {
			char ad[128];
			key_ad(name, ad, sizeof(ad));
			pos_seal(k->master, ad, strlen(ad), fresh, len, sealed);
			pg_p_bytes(&q, sealed, len + POS_SEAL_OVERHEAD);
		} else {
			pg_p_bytes(&q, fresh, len);
		}
		pg_p_i64(&q, pos_now_us());
		pg_p_i64(&q, k->have_master ? 1 : 0);
		rc = pg_run(c, &st_key_add, &q, NULL);
		pos_wipe(fresh, sizeof(fresh));
		if (rc)
			goto out;
	}
	if ((rc = key_decode(k, a, r, name, key, len)))
		goto out;
	pthread_mutex_lock(&k->mu);
	if (k->n < KEY_CACHE) {
		snprintf(k->cache[k->n].name, sizeof(k->cache[0].name), "%s", name);
		k->cache[k->n].len = len;
		memcpy(k->cache[k->n].key, key, len);
		k->n++;
	}
	pthread_mutex_unlock(&k->mu);
out:
	if (r) {
		/* the value's bytes in libpq's buffer: wipe before freeing */
		if (pg_rows(r) > 0 && !pg_isnull(r, 0, 0))
			pos_wipe(PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0));
		PQclear(r);
	}
	pg_put(base, c);
	pos_arena_destroy(a);
	return rc;
}

/* On open: with a master key, seal the plain rows an instance without one
 * left; without one, refuse a database whose keys are sealed. */
static enum pos_err keys_check(struct pg_store *s, struct pg_conn *c, struct pos_error *err)
{
	struct pg_keys *k = s->keys;
	PGresult *r = NULL;
	enum pos_err rc;
	if (!k->have_master) {
		if ((rc = pg_run(c, &st_key_any_sealed, NULL, &r)))
			return pos_error_set(err, rc, NULL, "cannot read server_keys");
		bool sealed = pg_rows(r) > 0;
		PQclear(r);
		if (sealed)
			return pos_error_set(err, POS_ERR_USAGE, "master_key_file",
					     "the server keys in the database are sealed: set"
					     " master_key_file to the secret the other instances use");
		return POS_OK;
	}
	if ((rc = pg_run(c, &st_key_plain, NULL, &r)))
		return pos_error_set(err, rc, NULL, "cannot read server_keys");
	struct pos_arena *a = pos_arena_new();
	if (!a) {
		PQclear(r);
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	}
	int moved = 0;
	for (int i = 0; i < pg_rows(r) && !rc; i++) {
		const char *name = pg_text(a, r, i, 0);
		const uint8_t *v = NULL;
		size_t n = 0;
		if (!name || (rc = pg_bytes(a, r, i, 1, &v, &n)))
			break;
		if (n == 0 || n > POS_KEYFILE_KEY_MAX)
			continue;
		uint8_t sealed[POS_KEYFILE_KEY_MAX + POS_SEAL_OVERHEAD];
		char ad[128];
		key_ad(name, ad, sizeof(ad));
		pos_seal(k->master, ad, strlen(ad), v, n, sealed);
		pos_wipe((void *)v, n);
		struct pg_params p = {0};
		pg_p_text(&p, name);
		pg_p_bytes(&p, sealed, n + POS_SEAL_OVERHEAD);
		rc = pg_run(c, &st_key_seal, &p, NULL);
		moved++;
	}
	PQclear(r);
	pos_arena_destroy(a);
	if (rc)
		return pos_error_set(err, rc, NULL, "cannot seal the server keys");
	if (moved)
		pos_info("store(pg): sealed %d server key(s) under the master key", moved);
	return POS_OK;
}

/* ---- server state ---- */

PG_STMT(st_state_get, "SELECT value FROM server_state WHERE name = $1");
PG_STMT(st_state_put, "INSERT INTO server_state(name, value, updated_at) VALUES ($1, $2, $3)"
		      " ON CONFLICT (name) DO UPDATE SET value = excluded.value,"
		      " updated_at = excluded.updated_at");

static enum pos_err pg_state_get(struct pos_store *base, struct pos_arena *a, const char *name,
				 const char **value)
{
	*value = NULL;
	struct pg_conn *c = pg_get(base);
	if (!c)
		return POS_ERR_STORE;
	struct pg_params p = {0};
	pg_p_text(&p, name);
	PGresult *r = NULL;
	enum pos_err rc = pg_run(c, &st_state_get, &p, &r);
	if (!rc && pg_rows(r) > 0 && !(*value = pg_text(a, r, 0, 0)))
		rc = POS_ERR_NOMEM;
	PQclear(r);
	pg_put(base, c);
	return rc;
}

static enum pos_err pg_state_put(struct pos_store *base, const char *name, const char *value)
{
	struct pg_conn *c = pg_get(base);
	if (!c)
		return POS_ERR_STORE;
	struct pg_params p = {0};
	pg_p_text(&p, name);
	pg_p_text(&p, value);
	pg_p_i64(&p, pos_now_us());
	enum pos_err rc = pg_run(c, &st_state_put, &p, NULL);
	pg_put(base, c);
	return rc;
}

/* ---- summary, compact, close ---- */

/* One number from `sql`; -1 when it fails (a missing table: a domain not
 * in this build). */
static int64_t scalar(struct pg_conn *c, const char *sql)
{
	PGresult *r = NULL;
	int64_t v = -1;
	if (!pg_run_sql(c, sql, NULL, &r) && pg_rows(r) > 0)
		v = pg_i64(r, 0, 0);
	PQclear(r);
	return v;
}

static void check(struct pos_store_summary *out, int64_t bad, const char *what)
{
	if (!out->integrity_ok || bad == 0)
		return;
	out->integrity_ok = false;
	if (bad < 0)
		snprintf(out->integrity_message, sizeof(out->integrity_message),
			 "cannot check %s", what);
	else
		snprintf(out->integrity_message, sizeof(out->integrity_message),
			 "%lld %s", (long long)bad, what);
}

static enum pos_err pg_summary(struct pos_store *base, bool full_check,
			       struct pos_store_summary *out)
{
	memset(out, 0, sizeof(*out));
	struct pg_conn *c = pg_get(base);
	if (!c)
		return POS_ERR_STORE;
	out->users = scalar(c, "SELECT count(*) FROM users");
	out->memories = scalar(c, "SELECT count(*) FROM memories");
	out->relationships = scalar(c, "SELECT count(*) FROM memory_relationships");
	out->sessions_active = scalar(c, "SELECT count(*) FROM sessions WHERE revoked_at IS NULL");
	out->schema_version = scalar(c, "SELECT max(version) FROM schema_version");
	out->db_bytes = scalar(c, "SELECT pg_database_size(current_database())");
	/* PostgreSQL checks its own pages (checksums, WAL); what is checked
	 * here is that the rows agree with each other. */
	out->integrity_ok = true;
	snprintf(out->integrity_message, sizeof(out->integrity_message), "ok");
	check(out, scalar(c, "SELECT count(*) FROM users u WHERE u.memory_count !="
			     " (SELECT count(*) FROM memories m WHERE m.user_id = u.id)"),
	      "user(s) with a wrong memory count");
	if (full_check) {
		char sql[400];
		snprintf(sql, sizeof(sql),
			 "SELECT count(*) FROM memory_vectors v LEFT JOIN memories m"
			 " ON m.seq = v.memory_seq WHERE m.seq IS NULL OR m.user_id != v.user_id"
			 " OR v.dim <= 0 OR (octet_length(v.vec) != v.dim AND"
			 " octet_length(v.vec) != 4 + v.dim + %d)",
			 (int)POS_SEAL_OVERHEAD);
		check(out, scalar(c, sql), "vector(s) disagree with their memories");
	}
	pg_put(base, c);
	return POS_OK;
}

/* VACUUM marks the space of deleted and rewritten rows (plaintext an
 * encryption pass replaced) for reuse and refreshes the planner's
 * statistics; VACUUM FULL, which rewrites the files, is the operator's
 * (docs/OPERATIONS.md: it locks the tables). */
static enum pos_err pg_compact(struct pos_store *base)
{
	struct pg_conn *c = pg_get(base);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = pg_exec(c, "VACUUM (ANALYZE)");
	pg_put(base, c);
	return rc;
}

static void pg_close(struct pos_store *base)
{
	struct pg_store *s = (struct pg_store *)base;
	pool_free(s->pool);
	if (s->keys) {
		pthread_mutex_destroy(&s->keys->mu);
		pos_wipe(s->keys, sizeof(*s->keys));
		pos_free(s->keys);
	}
	pos_free(s);
}

static const struct pos_store_ops pg_ops = {
	.close = pg_close,
	.server_key = pg_server_key,
	.state_get = pg_state_get,
	.state_put = pg_state_put,
	.summary = pg_summary,
	.compact = pg_compact,
};

/* The URL without its password, for messages. */
static void redact(const char *url, char *out, size_t cap)
{
	const char *scheme = strstr(url, "://");
	const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
	const char *colon = scheme ? strchr(scheme + 3, ':') : NULL;
	if (at && colon && colon < at)
		snprintf(out, cap, "%.*s:***%s", (int)(colon - url), url, at);
	else
		snprintf(out, cap, "%s", url);
}

enum pos_err pos_pg_open(const char *url, const char *master_key_file, unsigned pool_size,
			 struct pos_store **out, struct pos_error *err)
{
	if (pool_size == 0 || pool_size > PG_POOL_MAX)
		return pos_error_set(err, POS_ERR_USAGE, "store_pool",
				     "store_pool must be 1..%d", PG_POOL_MAX);
	struct pg_store *s = pos_calloc(1, sizeof(*s));
	if (!s)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	s->base.ops = &pg_ops;
	s->base.accounts = &pg_accounts_ops;
	s->base.memories = &pg_memories_ops;
	s->base.chat = &pg_chat_ops;
	s->base.jobs = &pg_jobs_ops;
	s->base.sync = &pg_sync_ops;
	s->base.shares = &pg_shares_ops;
	s->base.keys = &pg_keys_ops;
	s->base.plugins = &pg_plugins_ops;
	s->base.files = &pg_files_ops;
	s->keys = pos_calloc(1, sizeof(*s->keys));
	s->pool = pool_new(url, pool_size);
	if (!s->keys || !s->pool) {
		pos_free(s->keys);
		pool_free(s->pool);
		pos_free(s);
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	}
	pthread_mutex_init(&s->keys->mu, NULL);
	enum pos_err rc = POS_OK;
	if (master_key_file && master_key_file[0] &&
	    !(rc = pos_keyfile_master(master_key_file, s->keys->master, err)))
		s->keys->have_master = true;
	if (rc) {
		pg_close(&s->base);
		return rc;
	}
	struct pg_conn *c = pg_get(&s->base);
	if (!c) {
		char shown[512];
		redact(url, shown, sizeof(shown));
		pg_close(&s->base);
		return pos_error_set(err, POS_ERR_STORE, "store",
				     "cannot connect to PostgreSQL at %s (see the log)", shown);
	}
	rc = migrate(c, err);
	if (!rc)
		rc = keys_check(s, c, err);
	pg_put(&s->base, c);
	if (rc) {
		pg_close(&s->base);
		return rc;
	}
	*out = &s->base;
	return POS_OK;
}
