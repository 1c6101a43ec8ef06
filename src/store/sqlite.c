/*
 * sqlite.c — the embedded SQLite backend: opening and migrating the
 * database, per-thread connections, server keys (kept in the key file
 * beside the database, crypto/keyfile.h), users and sessions.
 * Memories live in sqlite_memories.c.
 *
 * Concurrency: each thread gets its own connection (pthread key owned by
 * the store, not a global), so reads run in parallel under WAL; writes take
 * the store's write lock and an IMMEDIATE transaction, so in-process writers
 * queue on a mutex instead of spinning on SQLITE_BUSY. busy_timeout covers
 * other processes (the CLI) writing to the same file.
 */
#include "store/sqlite_internal.h"
#include "store/sqlite_tok.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"
#include "crypto/crypto.h"
#include "crypto/keyring.h"
#include "store/migrations.h"


/*
 * Logs a failed SQLite call and says what it means to the caller: a full
 * disk (SQLITE_FULL, or a write refused with ENOSPC, EDQUOT or EFBIG) is
 * POS_ERR_NO_SPACE (507), so clients see the cause and retry later;
 * anything else is POS_ERR_STORE.
 */
enum pos_err sq_fail(struct sq_conn *c, const char *what)
{
	int ext = c && c->db ? sqlite3_extended_errcode(c->db) : 0;
	int sys = c && c->db ? sqlite3_system_errno(c->db) : 0;
	pos_error_log("store: %s: %s (%d)", what,
		      c && c->db ? sqlite3_errmsg(c->db) : "no connection", ext);
	if ((ext & 0xff) == SQLITE_FULL ||
	    ((ext & 0xff) == SQLITE_IOERR && (sys == ENOSPC || sys == EDQUOT || sys == EFBIG)))
		return POS_ERR_NO_SPACE;
	return POS_ERR_STORE;
}

static void conn_free(struct sq_conn *c)
{
	/* Keep the planner's statistics current (cheap; SQLite decides what
	 * needs analysing). */
	sqlite3_exec(c->db, "PRAGMA optimize", NULL, NULL, NULL);
	sq_tokenizer_free(c);
	for (int i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(c->st[i]);
	for (int m = 0; m < (1 << SQ_FILTER_BITS); m++) {
		sqlite3_finalize(c->list_count[m]);
		sqlite3_finalize(c->keyword[m]);
		sqlite3_finalize(c->filter[m]);
		for (int s = 0; s < POS_SORT__COUNT; s++)
			sqlite3_finalize(c->list_page[m][s]);
	}
	sqlite3_close_v2(c->db);
	pos_free(c);
}

static void conn_unlink(struct sq_conn *c)
{
	struct sq_store *s = c->owner;
	pthread_mutex_lock(&s->conns_lock);
	if (c->prev)
		c->prev->next = c->next;
	else if (s->conns == c)
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&s->conns_lock);
}

/* Thread exit: the thread's connection goes with it. */
static void conn_destructor(void *p)
{
	struct sq_conn *c = p;
	conn_unlink(c);
	conn_free(c);
}

static int exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		pos_error_log("store: %s", msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
	}
	return rc;
}

static sqlite3 *open_db(const char *path)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
					 SQLITE_OPEN_NOMUTEX,
				 NULL);
	if (rc != SQLITE_OK) {
		pos_error_log("store: cannot open database: %s",
			      db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close_v2(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 10000);
	sqlite3_extended_result_codes(db, 1);
	if (exec(db, "PRAGMA journal_mode = WAL;"
		     "PRAGMA synchronous = NORMAL;"
		     "PRAGMA foreign_keys = ON;"
		     "PRAGMA temp_store = MEMORY;"
		     "PRAGMA cache_size = -16000;"
		     /* A write transaction keeps up to 64 MiB of changed
		      * pages before it spills them into the WAL (by default
		      * it spills once the 16 MB cache is full, and a page
		      * changed again before the commit is written twice): a
		      * batch of 1,000 memories into a large store changes
		      * more pages than the cache holds (issue 14). Pages
		      * beyond cache_size are freed at the commit. */
		     "PRAGMA cache_spill = 16384;"
		     /* No mmap: in WAL mode a connection that finds the
		      * database changed since its last read unmaps the whole
		      * file and faults every page back in, and the unmap
		      * takes the process's mmap lock, so each write stalled
		      * every searching thread (issue 20, docs/BENCHMARKS.md).
		      * Reads go through the page cache instead. */
		     "PRAGMA mmap_size = 0;"
		     /* Freed pages and cells are zeroed, so deleted or
		      * re-encrypted text does not linger in the file
		      * (docs/ENCRYPTION.md). */
		     "PRAGMA secure_delete = ON;") != SQLITE_OK) {
		sqlite3_close_v2(db);
		return NULL;
	}
	/* the full-text index's tokenizer (migration 22) */
	if (sq_tok_register(db) != SQLITE_OK) {
		pos_error_log("store: cannot register the full-text tokenizer");
		sqlite3_close_v2(db);
		return NULL;
	}
	return db;
}

struct sq_conn *sq_conn(struct sq_store *s)
{
	struct sq_conn *c = pthread_getspecific(s->key);
	if (c)
		return c;
	c = pos_calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->db = open_db(s->path);
	if (!c->db) {
		pos_free(c);
		return NULL;
	}
	c->owner = s;
	sq_ckpt_attach(s, c->db);
	pthread_mutex_lock(&s->conns_lock);
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	pthread_mutex_unlock(&s->conns_lock);
	pthread_setspecific(s->key, c);
	return c;
}

sqlite3_stmt *sq_stmt(struct sq_conn *c, enum sq_stmt id)
{
	sqlite3_stmt *st = c->st[id];
	if (!st) {
		if (sqlite3_prepare_v3(c->db, sq_stmt_sql[id], -1,
				       SQLITE_PREPARE_PERSISTENT, &st,
				       NULL) != SQLITE_OK) {
			sq_fail(c, "prepare");
			return NULL;
		}
		c->st[id] = st;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

enum pos_err sq_begin(struct sq_store *s, struct sq_conn *c)
{
	/* Inside a batch (sq_batch_begin) this thread holds the write lock
	 * and a transaction already: a savepoint keeps the write all or
	 * nothing. */
	if (c->batch)
		return sqlite3_exec(c->db, "SAVEPOINT sq_w", NULL, NULL, NULL) == SQLITE_OK
			       ? POS_OK
			       : sq_fail(c, "savepoint");
	pthread_mutex_lock(&s->write_lock);
	if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		enum pos_err rc = sq_fail(c, "begin");
		pthread_mutex_unlock(&s->write_lock);
		return rc;
	}
	return POS_OK;
}

enum pos_err sq_end(struct sq_store *s, struct sq_conn *c, enum pos_err rc,
		    bool commit_anyway)
{
	if (c->batch) {
		if (rc != POS_OK && !commit_anyway)
			sqlite3_exec(c->db, "ROLLBACK TO sq_w", NULL, NULL, NULL);
		if (sqlite3_exec(c->db, "RELEASE sq_w", NULL, NULL, NULL) != SQLITE_OK && !rc)
			rc = sq_fail(c, "release");
		return rc;
	}
	if (rc == POS_OK || commit_anyway) {
		if (sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
			rc = sq_fail(c, "commit");
			sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		}
	} else {
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	}
	pthread_mutex_unlock(&s->write_lock);
	return rc;
}

const char *sq_col_str(struct pos_arena *a, sqlite3_stmt *st, int i,
		       size_t *len)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	size_t n = (size_t)sqlite3_column_bytes(st, i);
	if (len)
		*len = n;
	if (!t)
		return NULL;
	return pos_arena_strndup(a, (const char *)t, n);
}

int64_t sq_col_time(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return POS_TIME_NONE;
	return sqlite3_column_int64(st, i);
}

int sq_bind_str(sqlite3_stmt *st, int i, const char *s)
{
	if (!s)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

int sq_bind_time(sqlite3_stmt *st, int i, int64_t t)
{
	if (t == POS_TIME_NONE)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_int64(st, i, t);
}

/* ---- migrations ---- */

int pos_store_schema_version(void)
{
	return pos_migrations[pos_migrations_count - 1].version;
}

static enum pos_err migrate(sqlite3 *db, struct pos_error *err)
{
	if (exec(db, "BEGIN IMMEDIATE") != SQLITE_OK)
		return pos_error_set(err, POS_ERR_STORE, NULL,
				     "cannot lock the database for migration");
	enum pos_err rc = POS_OK;
	sqlite3_stmt *st = NULL, *done = NULL;
	if (exec(db, "CREATE TABLE IF NOT EXISTS schema_migrations ("
		     " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
		     " applied_at INTEGER NOT NULL)") != SQLITE_OK) {
		rc = pos_error_set(err, POS_ERR_STORE, NULL,
				   "cannot create schema_migrations");
		goto out;
	}
	int have = 0;
	if (sqlite3_prepare_v2(db, "SELECT coalesce(max(version), 0) FROM schema_migrations",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rc = pos_error_set(err, POS_ERR_STORE, NULL,
				   "cannot read the schema version");
		goto out;
	}
	have = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	int newest = pos_store_schema_version();
	if (have > newest) {
		rc = pos_error_set(err, POS_ERR_STORE, NULL,
				   "the database has schema version %d, newer than "
				   "this build knows (%d): upgrade PersonalOS",
				   have, newest);
		goto out;
	}
	/* Every step not yet recorded, not only those above the newest: a
	 * numbered step added later than a higher one still runs. */
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM schema_migrations WHERE version = ?1",
			       -1, &done, NULL) != SQLITE_OK) {
		rc = pos_error_set(err, POS_ERR_STORE, NULL,
				   "cannot read the schema version");
		goto out;
	}
	for (size_t i = 0; i < pos_migrations_count; i++) {
		const struct pos_migration *m = &pos_migrations[i];
		sqlite3_reset(done);
		sqlite3_bind_int(done, 1, m->version);
		int applied = sqlite3_step(done);
		if (applied != SQLITE_ROW && applied != SQLITE_DONE) {
			rc = pos_error_set(err, POS_ERR_STORE, NULL,
					   "cannot read the schema version");
			break;
		}
		if (applied == SQLITE_ROW)
			continue;
		if (exec(db, m->sql) != SQLITE_OK) {
			rc = pos_error_set(err, POS_ERR_STORE, NULL,
					   "migration %d (%s) failed", m->version,
					   m->name);
			goto out;
		}
		if (sqlite3_prepare_v2(db, "INSERT INTO schema_migrations VALUES (?1, ?2, ?3)",
				       -1, &st, NULL) != SQLITE_OK) {
			rc = pos_error_set(err, POS_ERR_STORE, NULL,
					   "cannot record migration %d", m->version);
			goto out;
		}
		sqlite3_bind_int(st, 1, m->version);
		sqlite3_bind_text(st, 2, m->name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, pos_now_us());
		int step = sqlite3_step(st);
		sqlite3_finalize(st);
		st = NULL;
		if (step != SQLITE_DONE) {
			rc = pos_error_set(err, POS_ERR_STORE, NULL,
					   "cannot record migration %d", m->version);
			goto out;
		}
		if (have > 0)
			pos_info("store: migrated schema to version %d (%s)",
				 m->version, m->name);
	}
out:
	sqlite3_finalize(done);
	sqlite3_finalize(st);
	exec(db, rc ? "ROLLBACK" : "COMMIT");
	return rc;
}

/* ---- open / close ---- */

static void sq_close(struct pos_store *base)
{
	struct sq_store *s = (struct sq_store *)base;
	sq_access_stop(s);
	sq_ckpt_stop(s);
	pthread_setspecific(s->key, NULL);
	pthread_mutex_lock(&s->conns_lock);
	struct sq_conn *c = s->conns;
	s->conns = NULL;
	pthread_mutex_unlock(&s->conns_lock);
	while (c) {
		struct sq_conn *next = c->next;
		conn_free(c);
		c = next;
	}
	pthread_key_delete(s->key);
	pos_keyfile_close(s->keys);
	sq_kw_free(s);
	pthread_mutex_destroy(&s->write_lock);
	pthread_mutex_destroy(&s->conns_lock);
	pos_free(s);
}

/* The keys live in DATA/keys, not in the database (crypto/keyfile.h). */
static enum pos_err sq_server_key(struct pos_store *base, const char *name,
				  uint8_t *key, size_t len)
{
	struct sq_store *s = (struct sq_store *)base;
	return pos_keyfile_get(s->keys, name, key, len);
}

/* Runs one single-statement write under the write lock. */
static enum pos_err write_one(struct sq_store *s, struct sq_conn *c,
			      sqlite3_stmt *st, bool must_change)
{
	enum pos_err rc = POS_OK;
	int step = sqlite3_step(st);
	if (step != SQLITE_DONE)
		rc = sq_fail(c, "write");
	else if (must_change && sqlite3_changes(c->db) == 0)
		rc = POS_ERR_NOT_FOUND;
	sqlite3_reset(st);
	(void)s;
	return rc;
}

/* A refresh token's row (its hash only) for the session. */
static enum pos_err refresh_insert(struct sq_store *s, struct sq_conn *c,
				   const uint8_t hash[POS_HASH_SIZE], const char *session_id,
				   int64_t now, int64_t expires)
{
	sqlite3_stmt *st = sq_stmt(c, ST_REFRESH_INSERT);
	if (!st)
		return POS_ERR_STORE;
	sqlite3_bind_blob(st, 1, hash, POS_HASH_SIZE, SQLITE_STATIC);
	sq_bind_str(st, 2, session_id);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, expires);
	return write_one(s, c, st, false);
}

/*
 * Runs statement `id` alone in a write transaction, binding the variadic
 * arguments by `fmt`: 's' a string (NULL binds NULL), 'I' an int64_t,
 * 'h' a POS_HASH_SIZE-byte hash.
 * With `must_change`, no row changed is POS_ERR_NOT_FOUND.
 */
static enum pos_err write_simple(struct pos_store *base, enum sq_stmt id,
				 bool must_change, const char *fmt, ...)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	sqlite3_stmt *st = sq_stmt(c, id);
	if (!st) {
		rc = POS_ERR_STORE;
	} else {
		va_list ap;
		va_start(ap, fmt);
		for (int i = 0; fmt[i]; i++) {
			if (fmt[i] == 's')
				sq_bind_str(st, i + 1, va_arg(ap, const char *));
			else if (fmt[i] == 'h')
				sqlite3_bind_blob(st, i + 1, va_arg(ap, const uint8_t *),
						  POS_HASH_SIZE, SQLITE_STATIC);
			else
				sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
		}
		va_end(ap);
		rc = write_one(s, c, st, must_change);
	}
	return sq_end(s, c, rc, false);
}

/* ---- server state ---- */

static enum pos_err sq_state_get(struct pos_store *base, struct pos_arena *a,
				 const char *name, const char **value)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = sq_stmt(c, ST_STATE_GET);
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, name);
	enum pos_err rc = POS_OK;
	*value = NULL;
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		if (!(*value = sq_col_str(a, st, 0, NULL)))
			rc = POS_ERR_NOMEM;
	} else if (step != SQLITE_DONE) {
		rc = sq_fail(c, "state get");
	}
	sqlite3_reset(st);
	return rc;
}

static enum pos_err sq_state_put(struct pos_store *base, const char *name,
				 const char *value)
{
	return write_simple(base, ST_STATE_PUT, false, "ssI", name, value, pos_now_us());
}

/* ---- personal API tokens ---- */

static void read_token(struct pos_arena *a, sqlite3_stmt *st, struct pos_api_token *t)
{
	const unsigned char *v = sqlite3_column_text(st, 0);
	snprintf(t->id, sizeof(t->id), "%s", v ? (const char *)v : "");
	v = sqlite3_column_text(st, 1);
	snprintf(t->user_id, sizeof(t->user_id), "%s", v ? (const char *)v : "");
	t->name = sq_col_str(a, st, 2, NULL);
	v = sqlite3_column_text(st, 3);
	t->read_only = v && strcmp((const char *)v, "read") == 0;
	t->created_at = sqlite3_column_int64(st, 4);
	t->last_used_at = sq_col_time(st, 5);
}

static enum pos_err sq_token_create(struct pos_store *base, const struct pos_api_token *t,
				    const uint8_t *hash)
{
	return write_simple(base, ST_TOKEN_INSERT, false, "sssshI", t->id, t->user_id, t->name,
			    t->read_only ? "read" : "write", hash, t->created_at);
}

static enum pos_err sq_token_list(struct pos_store *base, struct pos_arena *a,
				  const char *user_id, struct pos_api_token **out, size_t *n)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = sq_stmt(c, ST_TOKEN_LIST);
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, user_id);
	size_t cap = 8;
	struct pos_api_token *v = pos_arena_alloc(a, cap * sizeof(*v));
	enum pos_err rc = v ? POS_OK : POS_ERR_NOMEM;
	int step = SQLITE_DONE;
	*n = 0;
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			struct pos_api_token *nv = pos_arena_alloc(a, 2 * cap * sizeof(*v));
			if (!nv) {
				rc = POS_ERR_NOMEM;
				break;
			}
			memcpy(nv, v, cap * sizeof(*v));
			v = nv;
			cap *= 2;
		}
		read_token(a, st, &v[(*n)++]);
	}
	if (!rc && step != SQLITE_DONE)
		rc = sq_fail(c, "token list");
	sqlite3_reset(st);
	*out = v;
	return rc;
}

static enum pos_err sq_token_revoke(struct pos_store *base, const char *user_id,
				    const char *id, int64_t now)
{
	return write_simple(base, ST_TOKEN_REVOKE, true, "ssI", id, user_id, now);
}

static enum pos_err sq_token_touch(struct pos_store *base, const char *id, int64_t now)
{
	return write_simple(base, ST_TOKEN_TOUCH, false, "sI", id, now);
}

static enum pos_err sq_token_lookup(struct pos_store *base, const uint8_t *hash,
				    struct pos_api_token *out)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = sq_stmt(c, ST_TOKEN_LOOKUP);
	if (!st)
		return POS_ERR_STORE;
	sqlite3_bind_blob(st, 1, hash, POS_HASH_SIZE, SQLITE_STATIC);
	enum pos_err rc = POS_ERR_NOT_FOUND;
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		/* no arena here: the name is not needed to authenticate */
		const unsigned char *v = sqlite3_column_text(st, 0);
		snprintf(out->id, sizeof(out->id), "%s", v ? (const char *)v : "");
		v = sqlite3_column_text(st, 1);
		snprintf(out->user_id, sizeof(out->user_id), "%s", v ? (const char *)v : "");
		out->name = NULL;
		v = sqlite3_column_text(st, 3);
		out->read_only = v && strcmp((const char *)v, "read") == 0;
		out->created_at = sqlite3_column_int64(st, 4);
		out->last_used_at = sq_col_time(st, 5);
		rc = POS_OK;
	} else if (step != SQLITE_DONE) {
		rc = sq_fail(c, "token lookup");
	}
	sqlite3_reset(st);
	return rc;
}

/* ---- users ---- */

static void read_user(struct pos_arena *a, sqlite3_stmt *st, struct pos_user *u)
{
	const unsigned char *id = sqlite3_column_text(st, 0);
	snprintf(u->id, sizeof(u->id), "%s", id ? (const char *)id : "");
	u->email = sq_col_str(a, st, 1, NULL);
	u->password_hash = sq_col_str(a, st, 2, NULL);
	u->full_name = sq_col_str(a, st, 3, NULL);
	u->avatar_url = sq_col_str(a, st, 4, NULL);
	u->privacy_tier = sq_col_str(a, st, 5, NULL);
	u->plan = sq_col_str(a, st, 6, NULL);
	u->persona_json = sq_col_str(a, st, 7, NULL);
	u->settings_json = sq_col_str(a, st, 8, NULL);
	u->memory_count = sqlite3_column_int64(st, 9);
	u->created_at = sqlite3_column_int64(st, 10);
	u->last_login_at = sq_col_time(st, 11);
	const unsigned char *role = sqlite3_column_text(st, 12);
	u->role = role && strcmp((const char *)role, "admin") == 0 ? "admin" : "user";
	u->disabled_at = sq_col_time(st, 13);
	for (int i = 0; i < POS_QUOTA__COUNT; i++)
		u->quota[i] = sqlite3_column_type(st, 14 + i) == SQLITE_NULL
			? -1 : sqlite3_column_int64(st, 14 + i);
	u->bytes_used = sqlite3_column_int64(st, 18);
}

static bool user_complete(const struct pos_user *u)
{
	return u->email && u->password_hash && u->privacy_tier && u->plan &&
	       u->persona_json && u->settings_json;
}

static enum pos_err user_lookup(struct pos_store *base, struct pos_arena *a,
				enum sq_stmt id, const char *key,
				struct pos_user *out)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = sq_stmt(c, id);
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, key);
	enum pos_err rc = POS_OK;
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		read_user(a, st, out);
		if (!user_complete(out))
			rc = POS_ERR_NOMEM;
	} else if (step == SQLITE_DONE) {
		rc = POS_ERR_NOT_FOUND;
	} else {
		rc = sq_fail(c, "user lookup");
	}
	sqlite3_reset(st);
	return rc;
}

static enum pos_err sq_user_by_email(struct pos_store *s, struct pos_arena *a,
				     const char *email, struct pos_user *out)
{
	return user_lookup(s, a, ST_USER_BY_EMAIL, email, out);
}

static enum pos_err sq_user_by_id(struct pos_store *s, struct pos_arena *a,
				  const char *id, struct pos_user *out)
{
	return user_lookup(s, a, ST_USER_BY_ID, id, out);
}


static enum pos_err sq_user_update_profile(struct pos_store *base,
					   const struct pos_user *u)
{
	return write_simple(base, ST_USER_UPDATE, true, "ssssss", u->id, u->full_name,
			    u->avatar_url, u->privacy_tier, u->persona_json,
			    u->settings_json);
}

static enum pos_err sq_user_set_login(struct pos_store *base, const char *id,
				      int64_t at)
{
	return write_simple(base, ST_USER_LOGIN, true, "sI", id, at);
}

static enum pos_err sq_user_list(struct pos_store *base, struct pos_arena *a,
				 struct pos_user **out, size_t *n)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = sq_stmt(c, ST_USER_LIST);
	if (!st)
		return POS_ERR_STORE;
	size_t cap = 16, len = 0;
	struct pos_user *v = pos_arena_alloc(a, cap * sizeof(*v));
	enum pos_err rc = v ? POS_OK : POS_ERR_NOMEM;
	int step;
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
		if (len == cap) {
			struct pos_user *nv = pos_arena_alloc(a, 2 * cap * sizeof(*v));
			if (!nv) {
				rc = POS_ERR_NOMEM;
				break;
			}
			memcpy(nv, v, len * sizeof(*v));
			v = nv;
			cap *= 2;
		}
		read_user(a, st, &v[len++]);
	}
	if (!rc && step != SQLITE_DONE)
		rc = sq_fail(c, "user list");
	sqlite3_reset(st);
	*out = v;
	*n = len;
	return rc;
}

/* ---- sessions ---- */

static enum pos_err sq_session_create(struct pos_store *base,
				      const char *session_id,
				      const char *user_id, int64_t now,
				      const uint8_t *refresh_hash,
				      int64_t refresh_expires)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	sqlite3_stmt *st = sq_stmt(c, ST_SESSION_INSERT);
	if (!st) {
		rc = POS_ERR_STORE;
		goto out;
	}
	sq_bind_str(st, 1, session_id);
	sq_bind_str(st, 2, user_id);
	sqlite3_bind_int64(st, 3, now);
	rc = write_one(s, c, st, false);
	if (rc)
		goto out;
	rc = refresh_insert(s, c, refresh_hash, session_id, now, refresh_expires);
out:
	return sq_end(s, c, rc, false);
}

static enum pos_err sq_session_check(struct pos_store *base,
				     const char *session_id,
				     const char *user_id)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = sq_stmt(c, ST_SESSION_GET);
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, session_id);
	enum pos_err rc = POS_ERR_NOT_FOUND;
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		const unsigned char *uid = sqlite3_column_text(st, 0);
		if (uid && strcmp((const char *)uid, user_id) == 0 &&
		    sqlite3_column_type(st, 1) == SQLITE_NULL)
			rc = POS_OK;
	} else if (step != SQLITE_DONE) {
		rc = sq_fail(c, "session lookup");
	}
	sqlite3_reset(st);
	return rc;
}

static enum pos_err sq_session_revoke(struct pos_store *base,
				      const char *session_id, int64_t now)
{
	return write_simple(base, ST_SESSION_REVOKE, false, "sI", session_id, now);
}

static enum pos_err sq_refresh_rotate(struct pos_store *base,
				      const uint8_t *old_hash,
				      const uint8_t *new_hash,
				      int64_t new_expires, int64_t now,
				      char user_id[POS_UUID_SIZE],
				      char session_id[POS_UUID_SIZE])
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	bool commit_anyway = false;
	sqlite3_stmt *st = sq_stmt(c, ST_REFRESH_GET);
	if (!st) {
		rc = POS_ERR_STORE;
		goto out;
	}
	sqlite3_bind_blob(st, 1, old_hash, POS_HASH_SIZE, SQLITE_STATIC);
	int step = sqlite3_step(st);
	if (step != SQLITE_ROW) {
		rc = step == SQLITE_DONE ? POS_ERR_BAD_TOKEN : sq_fail(c, "refresh lookup");
		sqlite3_reset(st);
		goto out;
	}
	const unsigned char *sid = sqlite3_column_text(st, 0);
	const unsigned char *uid = sqlite3_column_text(st, 3);
	snprintf(session_id, POS_UUID_SIZE, "%s", sid ? (const char *)sid : "");
	snprintf(user_id, POS_UUID_SIZE, "%s", uid ? (const char *)uid : "");
	int64_t expires = sqlite3_column_int64(st, 1);
	bool used = sqlite3_column_type(st, 2) != SQLITE_NULL;
	bool revoked = sqlite3_column_type(st, 4) != SQLITE_NULL;
	sqlite3_reset(st);
	if (used) {
		/* Replay of a rotated token: someone holds a copy. Revoke the
		 * whole family so neither holder can continue. */
		st = sq_stmt(c, ST_SESSION_REVOKE);
		if (!st) {
			rc = POS_ERR_STORE;
			goto out;
		}
		sq_bind_str(st, 1, session_id);
		sqlite3_bind_int64(st, 2, now);
		rc = write_one(s, c, st, false);
		if (!rc) {
			commit_anyway = true;
			rc = POS_ERR_BAD_TOKEN;
			pos_warn("auth: refresh token reuse; session revoked");
		}
		goto out;
	}
	if (revoked || expires <= now) {
		rc = POS_ERR_BAD_TOKEN;
		goto out;
	}
	st = sq_stmt(c, ST_REFRESH_USE);
	if (!st) {
		rc = POS_ERR_STORE;
		goto out;
	}
	sqlite3_bind_blob(st, 1, old_hash, POS_HASH_SIZE, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	rc = write_one(s, c, st, false);
	if (rc)
		goto out;
	rc = refresh_insert(s, c, new_hash, session_id, now, new_expires);
out:
	return sq_end(s, c, rc, commit_anyway);
}

/* ---- summary ---- */

static int64_t scalar(struct sq_conn *c, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/*
 * The derived indexes agree with the rows: the full-text index holds
 * exactly the memories' current text (FTS5's integrity-check against its
 * content table), and every stored vector belongs to an existing memory
 * of the same user and has the size its dimension says (plain, or sealed
 * for an encrypted user).
 */
static void check_indexes(struct sq_conn *c, struct pos_store_summary *out)
{
	int rc = sqlite3_exec(c->db, "INSERT INTO memories_fts(memories_fts, rank)"
				     " VALUES ('integrity-check', 1)", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		out->integrity_ok = false;
		snprintf(out->integrity_message, sizeof(out->integrity_message),
			 "the full-text index does not match the memories (%s):"
			 " restore from a backup (docs/OPERATIONS.md)",
			 sqlite3_errmsg(c->db));
		return;
	}
	char sql[400];
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM memory_vectors v LEFT JOIN memories m"
		 " ON m.seq = v.memory_seq WHERE m.seq IS NULL OR m.user_id != v.user_id"
		 " OR v.dim <= 0 OR (length(v.vec) != v.dim AND length(v.vec) != 4 + v.dim + %d)",
		 (int)POS_SEAL_OVERHEAD);
	int64_t bad = scalar(c, sql);
	if (bad != 0) {
		out->integrity_ok = false;
		snprintf(out->integrity_message, sizeof(out->integrity_message),
			 "%lld vector(s) disagree with their memories", (long long)bad);
	}
}

static enum pos_err sq_summary(struct pos_store *base, bool full_check,
			       struct pos_store_summary *out)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	memset(out, 0, sizeof(*out));
	out->users = scalar(c, "SELECT count(*) FROM users");
	out->memories = scalar(c, "SELECT count(*) FROM memories");
	out->relationships = scalar(c, "SELECT count(*) FROM memory_relationships");
	out->sessions_active = scalar(c, "SELECT count(*) FROM sessions WHERE revoked_at IS NULL");
	out->schema_version = scalar(c, "SELECT max(version) FROM schema_migrations");
	out->db_bytes = scalar(c, "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()");
	out->wal_checkpoints = atomic_load(&((struct sq_store *)base)->ckpt.passive) +
			       atomic_load(&((struct sq_store *)base)->ckpt.truncate);
	sqlite3_stmt *st = NULL;
	out->integrity_ok = false;
	const char *sql = full_check ? "PRAGMA integrity_check" : "PRAGMA quick_check";
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);
		snprintf(out->integrity_message, sizeof(out->integrity_message),
			 "%s", t ? (const char *)t : "");
		out->integrity_ok = t && strcmp((const char *)t, "ok") == 0;
	}
	sqlite3_finalize(st);
	/* Every memory's tag rows and counters must agree with the memories. */
	int64_t bad_counts = scalar(c,
		"SELECT count(*) FROM users u WHERE u.memory_count !="
		" (SELECT count(*) FROM memories m WHERE m.user_id = u.id)");
	if (out->integrity_ok && bad_counts != 0) {
		out->integrity_ok = false;
		snprintf(out->integrity_message, sizeof(out->integrity_message),
			 "%lld user(s) with a wrong memory count", (long long)bad_counts);
	}
	int64_t fk = scalar(c, "SELECT count(*) FROM pragma_foreign_key_check");
	if (out->integrity_ok && fk != 0) {
		out->integrity_ok = false;
		snprintf(out->integrity_message, sizeof(out->integrity_message),
			 "%lld foreign key violation(s)", (long long)fk);
	}
	if (out->integrity_ok)
		check_indexes(c, out);
	return POS_OK;
}

/* ops->batch_begin/batch_end: one transaction for this thread's writes. */
static enum pos_err sq_batch_begin(struct pos_store *base)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	if (c->batch)
		return POS_ERR_CONFLICT;
	/* Lock order as a flush's: the flush lock (shared: the access
	 * counter's flusher waits for the batch), then the write lock. */
	pthread_rwlock_rdlock(&s->access.flush_lock);
	enum pos_err rc = sq_begin(s, c);
	if (!rc)
		c->batch = true;
	else
		pthread_rwlock_unlock(&s->access.flush_lock);
	return rc;
}

static enum pos_err sq_batch_end(struct pos_store *base)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c || !c->batch)
		return POS_ERR_CONFLICT;
	c->batch = false;
	enum pos_err rc = sq_end(s, c, POS_OK, false);
	pthread_rwlock_unlock(&s->access.flush_lock);
	return rc;
}

static const struct pos_store_ops sq_ops = {
	.batch_begin = sq_batch_begin,
	.batch_end = sq_batch_end,
	.close = sq_close,
	.server_key = sq_server_key,
	.state_get = sq_state_get,
	.state_put = sq_state_put,
	.summary = sq_summary,
	.compact = sq_compact,
};

static const struct pos_store_accounts sq_accounts = {
	.token_create = sq_token_create,
	.token_list = sq_token_list,
	.token_revoke = sq_token_revoke,
	.token_lookup = sq_token_lookup,
	.token_touch = sq_token_touch,
	.user_by_email = sq_user_by_email,
	.user_by_id = sq_user_by_id,
	.user_update_profile = sq_user_update_profile,
	.user_set_login = sq_user_set_login,
	.user_list = sq_user_list,
	.session_create = sq_session_create,
	.session_check = sq_session_check,
	.session_revoke = sq_session_revoke,
	.refresh_rotate = sq_refresh_rotate,
	.user_delete = sq_user_delete,
	.user_register = sq_user_register,
	.user_counts = sq_user_counts,
	.user_admin_update = sq_user_admin_update,
	.user_usage = sq_user_usage,
	.user_revoke_all = sq_user_revoke_all,
	.invite_create = sq_invite_create,
	.invite_list = sq_invite_list,
	.invite_delete = sq_invite_delete,
	.invite_valid = sq_invite_valid,
};

static const struct pos_store_memories sq_memories = {
	.memory_insert = sq_memory_insert,
	.memory_get = sq_memory_get,
	.memory_list = sq_memory_list,
	.memory_update = sq_memory_update,
	.memory_delete = sq_memory_delete,
	.memory_tag_add = sq_memory_tag_add,
	.memory_count_all = sq_memory_count_all,
	.max_seq = sq_max_seq,
	.memory_stats = sq_memory_stats,
	.tag_counts = sq_tag_counts,
	.graph_nodes = sq_graph_nodes,
	.graph_edges = sq_graph_edges,
	.relationships_from = sq_relationships_from,
	.keyword_search = sq_keyword_search,
	.filter_seqs = sq_filter_seqs,
	.term_frequency = sq_term_frequency,
	.stem_frequency = sq_stem_frequency,
	.stem_near = sq_stem_near,
	.memories_by_seq = sq_memories_by_seq,
	.memories_rank_fields = sq_memories_rank_fields,
	.thread_tail = sq_thread_tail,
	.vector_get = sq_vector_get,
	.vectors_load = sq_vectors_load,
	.vectors_missing = sq_vectors_missing,
	.vectors_missing_count = sq_vectors_missing_count,
	.vectors_put = sq_vectors_put,
	.lifecycle_scan = sq_lifecycle_scan,
	.tag_touches = sq_tag_touches,
	.lifecycle_apply = sq_lifecycle_apply,
	.memory_merge_move = sq_memory_merge_move,
	.autolink_parent = sq_autolink_parent,
	.memory_keys_by_seq = sq_memory_keys_by_seq,
	.memory_series = sq_memory_series,
	.autolink_apply = sq_autolink_apply,
};

static const struct pos_store_chat sq_chat = {
	.conversation_get = sq_conversation_get,
	.conversation_list = sq_conversation_list,
	.chat_append = sq_chat_append,
	.messages_list = sq_messages_list,
};

static const struct pos_store_jobs sq_jobs = {
	.job_put = sq_job_put,
	.job_claim = sq_job_claim,
	.job_update = sq_job_update,
	.job_progress = sq_job_progress,
	.job_get = sq_job_get,
	.job_list = sq_job_list,
	.job_cancel = sq_job_cancel,
	.jobs_renew = sq_jobs_renew,
	.jobs_requeue = sq_jobs_requeue,
	.jobs_queued = sq_jobs_queued,
	.jobs_prune = sq_jobs_prune,
};

static const struct pos_store_sync sq_sync = {
	.sync_source_put = sq_sync_source_put,
	.sync_source_get = sq_sync_source_get,
	.sync_source_list = sq_sync_source_list,
	.sync_source_delete = sq_sync_source_delete,
	.sync_log_add = sq_sync_log_add,
	.sync_log_list = sq_sync_log_list,
	.sync_refs_lookup = sq_sync_refs_lookup,
	.sync_refs_list = sq_sync_refs_list,
};

static const struct pos_store_shares sq_shares = {
	.share_add = sq_share_add,
	.share_remove = sq_share_remove,
	.shared_get = sq_shared_get,
	.shared_list = sq_shared_list,
	.shared_search = sq_shared_search,
};

static const struct pos_store_keys sq_keys = {
	.crypt_get = sq_crypt_get,
	.crypt_put = sq_crypt_put,
	.refresh_wrap_get = sq_refresh_wrap_get,
	.refresh_wrap_put = sq_refresh_wrap_put,
	.refresh_wraps_sweep = sq_refresh_wraps_sweep,
	.crypt_progress = sq_crypt_progress,
	.crypt_plain_batch = sq_crypt_plain_batch,
	.crypt_seal_rows = sq_crypt_seal_rows,
	.crypt_vectors_load = sq_crypt_vectors_load,
	.crypt_vector_raw = sq_crypt_vector_raw,
	.crypt_thread_tail = sq_crypt_thread_tail,
	.index_terms = sq_index_terms,
};

static const struct pos_store_plugins sq_plugins = {
	.plugin_put = sq_plugin_put,
	.plugin_get = sq_plugin_get,
	.plugin_list = sq_plugin_list,
	.plugin_delete = sq_plugin_delete,
	.plugin_outcome = sq_plugin_outcome,
	.plugin_kv_get = sq_plugin_kv_get,
	.plugin_kv_put = sq_plugin_kv_put,
	.plugin_log_add = sq_plugin_log_add,
	.plugin_log_list = sq_plugin_log_list,
	.plugin_data_rewrite = sq_plugin_data_rewrite,
};

static const struct pos_store_files sq_files = {
	.attachment_insert = sq_attachment_insert,
	.attachment_get = sq_attachment_get,
	.attachment_list = sq_attachment_list,
	.attachment_delete = sq_attachment_delete,
	.attachment_set_text = sq_attachment_set_text,
	.attachment_set_thumb = sq_attachment_set_thumb,
	.blob_orphans = sq_blob_orphans,
	.blob_forget = sq_blob_forget,
	.attachment_unthumbed = sq_attachment_unthumbed,
	.attachment_plain = sq_attachment_plain,
	.attachment_reseal = sq_attachment_reseal,
};

/*
 * Database files are the server's alone: the data directory 0700, the
 * database and its WAL and shared-memory files 0600 (SQLite gives the WAL
 * and SHM files it creates the database file's mode). Applied on every
 * open, so an instance made by an older build is tightened too.
 */
static void tighten_modes(const char *dir, const char *db_path)
{
	/* Not fatal: a directory owned by another account (a mounted volume)
	 * cannot be chmodded by us, and refusing to start would be worse than
	 * the warning. */
	if (chmod(dir, 0700) != 0)
		pos_warn("store: cannot make the data directory %s mode 0700: %s", dir,
			 strerror(errno));
	static const char *const suffix[] = {"", "-wal", "-shm"};
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		char p[PATH_MAX + 8];
		snprintf(p, sizeof(p), "%s%s", db_path, suffix[i]);
		if (chmod(p, 0600) != 0 && errno != ENOENT)
			pos_warn("store: cannot make %s mode 0600: %s", p, strerror(errno));
	}
}

/*
 * Builds before the key file kept the server keys in the table server_keys.
 * Each row is copied into the key file (saved before anything is deleted,
 * so a crash in between loses nothing: the next start finds the key in the
 * file and only deletes the row), then the rows are deleted with
 * secure_delete on (the cells are zeroed) and the WAL is checkpointed and
 * truncated, so no copy of a key stays in the database files.
 */
static enum pos_err move_keys(struct sq_store *s, sqlite3 *db, const char *keys_path,
			      struct pos_error *err)
{
	sqlite3_stmt *st = NULL;
	enum pos_err rc = POS_OK;
	int moved = 0;
	if (sqlite3_prepare_v2(db, "SELECT name, value FROM server_keys", -1, &st, NULL) !=
	    SQLITE_OK)
		return pos_error_set(err, POS_ERR_STORE, NULL, "cannot read server_keys: %s",
				     sqlite3_errmsg(db));
	int step;
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const uint8_t *key = sqlite3_column_blob(st, 1);
		int len = sqlite3_column_bytes(st, 1);
		if (!name || !key || len <= 0 || len > POS_KEYFILE_KEY_MAX)
			continue; /* not a key we could ever have used: dropped */
		rc = pos_keyfile_adopt(s->keys, name, key, (size_t)len);
		if (rc)
			pos_error_set(err, rc, NULL, "cannot move server key %s to the key file",
				      name);
		moved++;
	}
	sqlite3_finalize(st);
	if (rc)
		return rc;
	if (step != SQLITE_DONE)
		return pos_error_set(err, POS_ERR_STORE, NULL, "cannot read server_keys: %s",
				     sqlite3_errmsg(db));
	if (exec(db, "DELETE FROM server_keys") != SQLITE_OK ||
	    exec(db, "PRAGMA wal_checkpoint(TRUNCATE)") != SQLITE_OK)
		return pos_error_set(err, POS_ERR_STORE, NULL,
				     "cannot remove the server keys from the database");
	if (moved)
		pos_info("store: moved %d server key(s) from the database to %s", moved,
			 keys_path);
	return POS_OK;
}

enum pos_err pos_sqlite_open(const char *dir, struct pos_store **out,
			     struct pos_error *err)
{
	return pos_sqlite_open_keyed(dir, NULL, out, err);
}

enum pos_err pos_sqlite_open_keyed(const char *dir, const char *master_key_file,
				   struct pos_store **out, struct pos_error *err)
{
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return pos_error_set(err, POS_ERR_IO, NULL,
				     "cannot create data directory %s: %s", dir,
				     strerror(errno));
	char blobs[PATH_MAX];
	if ((size_t)snprintf(blobs, sizeof(blobs), "%s/blobs", dir) >= sizeof(blobs))
		return pos_error_set(err, POS_ERR_IO, NULL, "data path too long");
	if (mkdir(blobs, 0700) != 0 && errno != EEXIST)
		return pos_error_set(err, POS_ERR_IO, NULL,
				     "cannot create %s: %s", blobs, strerror(errno));
	char keys[PATH_MAX];
	if ((size_t)snprintf(keys, sizeof(keys), "%s/%s", dir, POS_KEYFILE_NAME) >=
	    sizeof(keys))
		return pos_error_set(err, POS_ERR_IO, NULL, "data path too long");
	/* A read-only directory (a read-only mount, a full-disk remount, wrong
	 * owner) would only show later as "unable to open database file". */
	if (access(dir, W_OK | X_OK) != 0)
		return pos_error_set(err, POS_ERR_IO, NULL,
				     "the data directory %s is not writable (%s): the server"
				     " writes its database there; check the mount and owner",
				     dir, strerror(errno));
	/* Memory statistics take a process-wide mutex on every allocation;
	 * we do not read them. Only effective before SQLite initialises, and
	 * harmless (SQLITE_MISUSE) after. */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	struct sq_store *s = pos_calloc(1, sizeof(*s));
	if (!s)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	s->base.ops = &sq_ops;
	s->base.accounts = &sq_accounts;
	s->base.memories = &sq_memories;
	s->base.chat = &sq_chat;
	s->base.jobs = &sq_jobs;
	s->base.sync = &sq_sync;
	s->base.shares = &sq_shares;
	s->base.keys = &sq_keys;
	s->base.plugins = &sq_plugins;
	s->base.files = &sq_files;
	if ((size_t)snprintf(s->path, sizeof(s->path), "%s/personalos.db", dir) >=
	    sizeof(s->path)) {
		pos_free(s);
		return pos_error_set(err, POS_ERR_IO, NULL, "data path too long");
	}
	enum pos_err rc = pos_keyfile_open(keys, master_key_file, &s->keys, err);
	if (rc) {
		pos_free(s);
		return rc;
	}
	pthread_mutex_init(&s->write_lock, NULL);
	pthread_mutex_init(&s->conns_lock, NULL);
	if (pthread_key_create(&s->key, conn_destructor) != 0) {
		pthread_mutex_destroy(&s->write_lock);
		pthread_mutex_destroy(&s->conns_lock);
		pos_keyfile_close(s->keys);
		pos_free(s);
		return pos_error_set(err, POS_ERR_INTERNAL, NULL, "pthread_key_create failed");
	}
	if ((rc = sq_kw_new(s))) {
		sq_close(&s->base);
		return pos_error_set(err, rc, NULL, NULL);
	}
	struct sq_conn *c = sq_conn(s);
	if (!c) {
		sq_close(&s->base);
		return pos_error_set(err, POS_ERR_STORE, NULL,
				     "cannot open the database in %s", dir);
	}
	tighten_modes(dir, s->path);
	pthread_mutex_lock(&s->write_lock);
	rc = migrate(c->db, err);
	if (!rc)
		rc = move_keys(s, c->db, keys, err);
	pthread_mutex_unlock(&s->write_lock);
	if (!rc && (rc = sq_access_start(s)))
		pos_error_set(err, rc, NULL, "cannot start the access counter");
	if (!rc && (rc = sq_ckpt_start(s)))
		pos_error_set(err, rc, NULL, "cannot start the WAL checkpointer");
	if (rc) {
		sq_close(&s->base);
		return rc;
	}
	*out = &s->base;
	return POS_OK;
}
