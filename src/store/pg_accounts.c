/*
 * pg_accounts.c — accounts in the PostgreSQL backend (struct
 * pos_store_accounts): users, personal API tokens, sessions and their
 * refresh tokens, registration with its invite and first-admin rule,
 * admin changes, usage, revocation, invites, account deletion. A port of
 * sqlite.c's user/session/token part and sqlite_accounts.c, same
 * semantics and errors.
 *
 * Concurrency (several instances on one database): registration and admin
 * changes take a transaction-level advisory lock, so "the first account
 * is the admin" and "never zero enabled admins" hold across instances as
 * SQLite's write lock makes them hold in one; refresh rotation locks the
 * token's row (SELECT ... FOR UPDATE), so of two uses at once one rotates
 * and the other is seen as a replay.
 */
#include "store/pg_internal.h"

#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "crypto/crypto.h"

/* Advisory locks of this file ("POS_ACCT"), taken per transaction. */
#define ACCOUNTS_LOCK "SELECT pg_advisory_xact_lock(5787213827134259028)"

const char pg_ddl_accounts[] =
	/* users: the columns of SQLite migrations 1, 10 (enc_*) and 12 */
	"CREATE TABLE IF NOT EXISTS users ("
	" id text PRIMARY KEY,"
	" email text NOT NULL UNIQUE,"
	" password_hash text NOT NULL,"
	" full_name text,"
	" avatar_url text,"
	" privacy_tier text NOT NULL DEFAULT 'local',"
	" plan text NOT NULL DEFAULT 'free',"
	" persona text NOT NULL DEFAULT '{}',"
	" settings text NOT NULL DEFAULT '{}',"
	" memory_count bigint NOT NULL DEFAULT 0,"
	" created_at bigint NOT NULL,"
	" last_login_at bigint,"
	" enc_state text NOT NULL DEFAULT 'off',"
	" enc_salt bytea,"
	" enc_kdf text,"
	" enc_pw_wrap bytea,"
	" enc_rk_wrap bytea,"
	" role text NOT NULL DEFAULT 'user',"
	" disabled_at bigint,"
	" quota_memories bigint,"
	" quota_bytes bigint,"
	" quota_sources bigint,"
	" quota_tokens bigint,"
	" bytes_used bigint NOT NULL DEFAULT 0);"
	"CREATE TABLE IF NOT EXISTS sessions ("
	" id text PRIMARY KEY,"
	" user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	" created_at bigint NOT NULL,"
	" revoked_at bigint);"
	"CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user_id);"
	"CREATE TABLE IF NOT EXISTS refresh_tokens ("
	" hash bytea PRIMARY KEY,"
	" session_id text NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,"
	" created_at bigint NOT NULL,"
	" expires_at bigint NOT NULL,"
	" used_at bigint,"
	" dek_wrap bytea);"
	"CREATE INDEX IF NOT EXISTS refresh_tokens_session ON refresh_tokens(session_id);"
	"CREATE TABLE IF NOT EXISTS api_tokens ("
	" id text PRIMARY KEY,"
	" user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	" name text NOT NULL,"
	" scope text NOT NULL,"
	" hash bytea NOT NULL UNIQUE,"
	" created_at bigint NOT NULL,"
	" last_used_at bigint,"
	" revoked_at bigint);"
	"CREATE INDEX IF NOT EXISTS api_tokens_user ON api_tokens(user_id);"
	"CREATE TABLE IF NOT EXISTS invites ("
	" id text PRIMARY KEY,"
	" hash bytea NOT NULL UNIQUE,"
	" email text,"
	" created_by text,"
	" created_at bigint NOT NULL,"
	" expires_at bigint NOT NULL,"
	" used_at bigint,"
	" used_by text);"
	/* SQLite's trigger refresh_tokens_unwrap: a revoked session's tokens
	 * keep no key wrap their secret would still open */
	"CREATE OR REPLACE FUNCTION pos_refresh_tokens_unwrap() RETURNS trigger"
	" LANGUAGE plpgsql AS $$ BEGIN"
	" UPDATE refresh_tokens SET dek_wrap = NULL WHERE session_id = NEW.id"
	" AND dek_wrap IS NOT NULL; RETURN NULL; END $$;"
	"CREATE OR REPLACE TRIGGER refresh_tokens_unwrap AFTER UPDATE OF revoked_at ON sessions"
	" FOR EACH ROW WHEN (NEW.revoked_at IS NOT NULL)"
	" EXECUTE FUNCTION pos_refresh_tokens_unwrap();";

#define USER_COLS                                                          \
	"id, email, password_hash, full_name, avatar_url, privacy_tier, plan," \
	" persona, settings, memory_count, created_at, last_login_at, role,"   \
	" disabled_at, quota_memories, quota_bytes, quota_sources, quota_tokens," \
	" bytes_used"

#define TOKEN_COLS "id, user_id, name, scope, created_at, last_used_at"

PG_STMT(st_user_by_email, "SELECT " USER_COLS " FROM users WHERE email = $1");
PG_STMT(st_user_by_id, "SELECT " USER_COLS " FROM users WHERE id = $1");
PG_STMT(st_user_list, "SELECT " USER_COLS " FROM users ORDER BY created_at, id");
PG_STMT(st_user_update, "UPDATE users SET full_name = $2, avatar_url = $3, privacy_tier = $4,"
			" persona = $5, settings = $6 WHERE id = $1");
PG_STMT(st_user_login, "UPDATE users SET last_login_at = $2 WHERE id = $1");
PG_STMT(st_token_insert, "INSERT INTO api_tokens(id, user_id, name, scope, hash, created_at)"
			 " VALUES ($1, $2, $3, $4, $5, $6)");
PG_STMT(st_token_list, "SELECT " TOKEN_COLS " FROM api_tokens"
		       " WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC, id");
PG_STMT(st_token_revoke, "UPDATE api_tokens SET revoked_at = $3"
			 " WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL");
/* a disabled account's tokens do not work */
PG_STMT(st_token_lookup, "SELECT t.id, t.user_id, t.name, t.scope, t.created_at, t.last_used_at"
			 " FROM api_tokens t JOIN users u ON u.id = t.user_id"
			 " WHERE t.hash = $1 AND t.revoked_at IS NULL AND u.disabled_at IS NULL");
PG_STMT(st_token_touch, "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1");
PG_STMT(st_session_insert, "INSERT INTO sessions(id, user_id, created_at) VALUES ($1, $2, $3)");
PG_STMT(st_session_get, "SELECT s.user_id, coalesce(s.revoked_at, u.disabled_at)"
			" FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1");
PG_STMT(st_session_revoke, "UPDATE sessions SET revoked_at = $2 WHERE id = $1"
			   " AND revoked_at IS NULL");
PG_STMT(st_refresh_insert, "INSERT INTO refresh_tokens(hash, session_id, created_at, expires_at)"
			   " VALUES ($1, $2, $3, $4)");
PG_STMT(st_refresh_lock, "SELECT r.session_id, r.expires_at, r.used_at, s.user_id,"
			 " coalesce(s.revoked_at, u.disabled_at)"
			 " FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id"
			 " JOIN users u ON u.id = s.user_id WHERE r.hash = $1 FOR UPDATE OF r");
PG_STMT(st_refresh_use, "UPDATE refresh_tokens SET used_at = $2 WHERE hash = $1");

/* ---- helpers ---- */

/* An ad-hoc statement's first number (0 when no row). */
static enum pos_err one_int(struct pg_conn *c, const char *sql, const struct pg_params *p,
			    int64_t *out)
{
	PGresult *r = NULL;
	enum pos_err rc = pg_run_sql(c, sql, p, &r);
	*out = !rc && pg_rows(r) > 0 ? pg_i64(r, 0, 0) : 0;
	PQclear(r);
	return rc;
}

static enum pos_err run_n(struct pg_conn *c, const char *sql, const struct pg_params *p,
			  int64_t *changes)
{
	PGresult *r = NULL;
	enum pos_err rc = pg_run_sql(c, sql, p, &r);
	if (changes)
		*changes = rc ? 0 : (int64_t)pg_affected(r);
	PQclear(r);
	return rc;
}

static enum pos_err read_user(struct pos_arena *a, PGresult *r, int row, struct pos_user *u)
{
	memset(u, 0, sizeof(*u));
	pg_uuid(u->id, r, row, 0);
	u->email = pg_text(a, r, row, 1);
	u->password_hash = pg_text(a, r, row, 2);
	u->full_name = pg_text(a, r, row, 3);
	u->avatar_url = pg_text(a, r, row, 4);
	u->privacy_tier = pg_text(a, r, row, 5);
	u->plan = pg_text(a, r, row, 6);
	u->persona_json = pg_text(a, r, row, 7);
	u->settings_json = pg_text(a, r, row, 8);
	u->memory_count = pg_i64(r, row, 9);
	u->created_at = pg_i64(r, row, 10);
	u->last_login_at = pg_time(r, row, 11);
	const char *role = pg_isnull(r, row, 12) ? "" : PQgetvalue(r, row, 12);
	u->role = strcmp(role, "admin") == 0 ? "admin" : "user";
	u->disabled_at = pg_time(r, row, 13);
	for (int i = 0; i < POS_QUOTA__COUNT; i++)
		u->quota[i] = pg_isnull(r, row, 14 + i) ? -1 : pg_i64(r, row, 14 + i);
	u->bytes_used = pg_i64(r, row, 18);
	if (!u->email || !u->password_hash || !u->privacy_tier || !u->plan ||
	    !u->persona_json || !u->settings_json)
		return POS_ERR_NOMEM;
	return POS_OK;
}

static void read_token(struct pos_arena *a, PGresult *r, int row, struct pos_api_token *t)
{
	memset(t, 0, sizeof(*t));
	pg_uuid(t->id, r, row, 0);
	pg_uuid(t->user_id, r, row, 1);
	t->name = a ? pg_text(a, r, row, 2) : NULL;
	t->read_only = !pg_isnull(r, row, 3) && strcmp(PQgetvalue(r, row, 3), "read") == 0;
	t->created_at = pg_i64(r, row, 4);
	t->last_used_at = pg_time(r, row, 5);
}

/* ---- users ---- */

static enum pos_err user_lookup(struct pos_store *s, struct pos_arena *a,
				const struct pg_stmt *st, const char *key, struct pos_user *out)
{
	struct pg_params p = {0};
	pg_p_text(&p, key);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, st, &p, &r);
	if (!rc)
		rc = pg_rows(r) > 0 ? read_user(a, r, 0, out) : POS_ERR_NOT_FOUND;
	PQclear(r);
	return rc;
}

static enum pos_err pg_user_by_email(struct pos_store *s, struct pos_arena *a,
				     const char *email, struct pos_user *out)
{
	return user_lookup(s, a, &st_user_by_email, email, out);
}

static enum pos_err pg_user_by_id(struct pos_store *s, struct pos_arena *a, const char *id,
				  struct pos_user *out)
{
	return user_lookup(s, a, &st_user_by_id, id, out);
}

static enum pos_err pg_user_update_profile(struct pos_store *s, const struct pos_user *u)
{
	struct pg_params p = {0};
	pg_p_text(&p, u->id);
	pg_p_text(&p, u->full_name);
	pg_p_text(&p, u->avatar_url);
	pg_p_text(&p, u->privacy_tier);
	pg_p_text(&p, u->persona_json);
	pg_p_text(&p, u->settings_json);
	return pg_do_write(s, &st_user_update, &p, true);
}

static enum pos_err pg_user_set_login(struct pos_store *s, const char *id, int64_t at)
{
	struct pg_params p = {0};
	pg_p_text(&p, id);
	pg_p_i64(&p, at);
	return pg_do_write(s, &st_user_login, &p, true);
}

static enum pos_err pg_user_list(struct pos_store *s, struct pos_arena *a,
				 struct pos_user **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, &st_user_list, NULL, &r);
	int rows = pg_rows(r);
	struct pos_user *v = NULL;
	if (!rc && !(v = pos_arena_zalloc(a, (size_t)(rows ? rows : 1) * sizeof(*v))))
		rc = POS_ERR_NOMEM;
	for (int i = 0; !rc && i < rows; i++)
		rc = read_user(a, r, i, &v[i]);
	PQclear(r);
	if (!rc) {
		*out = v;
		*n = (size_t)rows;
	}
	return rc;
}

/* ---- personal API tokens ---- */

static enum pos_err pg_token_create(struct pos_store *s, const struct pos_api_token *t,
				    const uint8_t *hash)
{
	struct pg_params p = {0};
	pg_p_text(&p, t->id);
	pg_p_text(&p, t->user_id);
	pg_p_text(&p, t->name);
	pg_p_text(&p, t->read_only ? "read" : "write");
	pg_p_bytes(&p, hash, POS_HASH_SIZE);
	pg_p_i64(&p, t->created_at);
	return pg_do_write(s, &st_token_insert, &p, false);
}

static enum pos_err pg_token_list(struct pos_store *s, struct pos_arena *a, const char *user_id,
				  struct pos_api_token **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	struct pg_params p = {0};
	pg_p_text(&p, user_id);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, &st_token_list, &p, &r);
	int rows = pg_rows(r);
	struct pos_api_token *v = NULL;
	if (!rc && !(v = pos_arena_zalloc(a, (size_t)(rows ? rows : 1) * sizeof(*v))))
		rc = POS_ERR_NOMEM;
	for (int i = 0; !rc && i < rows; i++)
		read_token(a, r, i, &v[i]);
	PQclear(r);
	if (!rc) {
		*out = v;
		*n = (size_t)rows;
	}
	return rc;
}

static enum pos_err pg_token_revoke(struct pos_store *s, const char *user_id, const char *id,
				    int64_t now)
{
	struct pg_params p = {0};
	pg_p_text(&p, id);
	pg_p_text(&p, user_id);
	pg_p_i64(&p, now);
	return pg_do_write(s, &st_token_revoke, &p, true);
}

static enum pos_err pg_token_lookup(struct pos_store *s, const uint8_t *hash,
				    struct pos_api_token *out)
{
	struct pg_params p = {0};
	pg_p_bytes(&p, hash, POS_HASH_SIZE);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, &st_token_lookup, &p, &r);
	if (!rc && pg_rows(r) == 0)
		rc = POS_ERR_NOT_FOUND;
	if (!rc)
		read_token(NULL, r, 0, out); /* no arena: the name is not needed */
	PQclear(r);
	return rc;
}

static enum pos_err pg_token_touch(struct pos_store *s, const char *id, int64_t now)
{
	struct pg_params p = {0};
	pg_p_text(&p, id);
	pg_p_i64(&p, now);
	return pg_do_write(s, &st_token_touch, &p, false);
}

/* ---- sessions ---- */

static enum pos_err pg_session_create(struct pos_store *s, const char *session_id,
				      const char *user_id, int64_t now,
				      const uint8_t *refresh_hash, int64_t refresh_expires)
{
	struct pg_conn *c = pg_get(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = pg_begin(c);
	if (rc)
		goto out;
	struct pg_params p = {0};
	pg_p_text(&p, session_id);
	pg_p_text(&p, user_id);
	pg_p_i64(&p, now);
	if ((rc = pg_run(c, &st_session_insert, &p, NULL)))
		goto out;
	struct pg_params q = {0};
	pg_p_bytes(&q, refresh_hash, POS_HASH_SIZE);
	pg_p_text(&q, session_id);
	pg_p_i64(&q, now);
	pg_p_i64(&q, refresh_expires);
	if (!(rc = pg_run(c, &st_refresh_insert, &q, NULL)))
		rc = pg_commit(c);
out:
	pg_put(s, c); /* rolls back what did not commit */
	return rc;
}

static enum pos_err pg_session_check(struct pos_store *s, const char *session_id,
				     const char *user_id)
{
	struct pg_params p = {0};
	pg_p_text(&p, session_id);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, &st_session_get, &p, &r);
	if (!rc) {
		bool ok = pg_rows(r) > 0 && !pg_isnull(r, 0, 0) &&
			  strcmp(PQgetvalue(r, 0, 0), user_id) == 0 && pg_isnull(r, 0, 1);
		rc = ok ? POS_OK : POS_ERR_NOT_FOUND;
	}
	PQclear(r);
	return rc;
}

static enum pos_err pg_session_revoke(struct pos_store *s, const char *session_id, int64_t now)
{
	struct pg_params p = {0};
	pg_p_text(&p, session_id);
	pg_p_i64(&p, now);
	return pg_do_write(s, &st_session_revoke, &p, false);
}

static enum pos_err pg_refresh_rotate(struct pos_store *s, const uint8_t *old_hash,
				      const uint8_t *new_hash, int64_t new_expires, int64_t now,
				      char user_id[POS_UUID_SIZE], char session_id[POS_UUID_SIZE])
{
	struct pg_conn *c = pg_get(s);
	if (!c)
		return POS_ERR_STORE;
	PGresult *r = NULL;
	enum pos_err rc = pg_begin(c);
	if (rc)
		goto out;
	struct pg_params p = {0};
	pg_p_bytes(&p, old_hash, POS_HASH_SIZE);
	/* the row stays locked until the end: a second use waits here and
	 * then sees this one's used_at */
	if ((rc = pg_run(c, &st_refresh_lock, &p, &r)))
		goto out;
	if (pg_rows(r) == 0) {
		rc = POS_ERR_BAD_TOKEN;
		goto out;
	}
	pg_uuid(session_id, r, 0, 0);
	pg_uuid(user_id, r, 0, 3);
	int64_t expires = pg_i64(r, 0, 1);
	bool used = !pg_isnull(r, 0, 2);
	bool revoked = !pg_isnull(r, 0, 4);
	if (used) {
		/* Replay of a rotated token: someone holds a copy. Revoke the
		 * whole family so neither holder can continue. */
		struct pg_params q = {0};
		pg_p_text(&q, session_id);
		pg_p_i64(&q, now);
		if (!(rc = pg_run(c, &st_session_revoke, &q, NULL)) && !(rc = pg_commit(c))) {
			rc = POS_ERR_BAD_TOKEN;
			pos_warn("auth: refresh token reuse; session revoked");
		}
		goto out;
	}
	if (revoked || expires <= now) {
		rc = POS_ERR_BAD_TOKEN;
		goto out;
	}
	struct pg_params u = {0};
	pg_p_bytes(&u, old_hash, POS_HASH_SIZE);
	pg_p_i64(&u, now);
	if ((rc = pg_run(c, &st_refresh_use, &u, NULL)))
		goto out;
	struct pg_params ins = {0};
	pg_p_bytes(&ins, new_hash, POS_HASH_SIZE);
	pg_p_text(&ins, session_id);
	pg_p_i64(&ins, now);
	pg_p_i64(&ins, new_expires);
	if (!(rc = pg_run(c, &st_refresh_insert, &ins, NULL)))
		rc = pg_commit(c);
out:
	PQclear(r);
	pg_put(s, c);
	return rc;
}

/* ---- account deletion ---- */

static enum pos_err pg_user_delete(struct pos_store *s, const char *user_id,
				   const char *keep_job_kind)
{
	struct pg_conn *c = pg_get(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = pg_begin(c);
	if (rc)
		goto out;
	struct pg_params p = {0};
	pg_p_text(&p, user_id);
	/* the tables of other domains, when this build has them (pg_pending.c) */
	if (pg_ddl_memories[0] &&
	    /* relationships carry no foreign key: they go by hand */
	    (rc = run_n(c, "DELETE FROM memory_relationships WHERE memory_id IN"
			   " (SELECT id FROM memories WHERE user_id = $1) OR related_memory_id IN"
			   " (SELECT id FROM memories WHERE user_id = $1)", &p, NULL)))
		goto out;
	if (pg_ddl_jobs[0]) {
		struct pg_params q = {0};
		pg_p_text(&q, user_id);
		pg_p_text(&q, keep_job_kind);
		if ((rc = run_n(c, "DELETE FROM jobs WHERE user_id = $1"
				   " AND kind IS DISTINCT FROM $2::text", &q, NULL)))
			goto out;
	}
	/* cascades: memories (their tags, vectors), sessions, refresh and
	 * API tokens, conversations, sources, plugins */
	int64_t n = 0;
	if ((rc = run_n(c, "DELETE FROM users WHERE id = $1", &p, &n)))
		goto out;
	rc = n == 0 ? POS_ERR_NOT_FOUND : pg_commit(c);
out:
	pg_put(s, c);
	return rc;
}

/* ---- registration, admin, usage (sqlite_accounts.c) ---- */

static const char admins_sql[] =
	"SELECT count(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL";

/* Shares made to u's email before it had an account (shares domain). */
static enum pos_err pending_shares(struct pg_conn *c, const struct pos_user *u, bool vouched)
{
	if (!pg_ddl_shares[0])
		return POS_OK; /* this build has no shares yet (pg_pending.c) */
	struct pg_params p = {0};
	pg_p_text(&p, u->email);
	pg_p_text(&p, u->id);
	enum pos_err rc;
	/*
	 * They become real only when someone vouched for the email (the
	 * operator, or an invite bound to it) — with open registration or an
	 * unbound invite anyone could have picked it. Otherwise they are
	 * dropped, and the owners' shared_with no longer lists the email.
	 */
	if (vouched)
		rc = run_n(c, "INSERT INTO memory_shares(memory_seq, recipient_id, owner_id,"
			      " created_at) SELECT memory_seq, $2, owner_id, created_at"
			      " FROM pending_shares WHERE email = $1 AND owner_id != $2"
			      " ON CONFLICT DO NOTHING", &p, NULL);
	else
		rc = run_n(c, "UPDATE memories m SET shared_with = coalesce((SELECT"
			      " json_agg(e ORDER BY e)::text FROM (SELECT u.email AS e FROM"
			      " memory_shares s JOIN users u ON u.id = s.recipient_id"
			      " WHERE s.memory_seq = m.seq UNION SELECT p.email FROM"
			      " pending_shares p WHERE p.memory_seq = m.seq AND p.email != $1) x),"
			      " '[]') WHERE m.seq IN"
			      " (SELECT memory_seq FROM pending_shares WHERE email = $1)"
			      " AND $2::text IS NOT NULL", &p, NULL);
	if (rc)
		return rc;
	struct pg_params q = {0};
	pg_p_text(&q, u->email);
	return run_n(c, "DELETE FROM pending_shares WHERE email = $1", &q, NULL);
}

static enum pos_err pg_user_register(struct pos_store *s, struct pos_user *u,
				     const uint8_t *invite_hash, bool by_operator, int64_t now)
{
	struct pg_conn *c = pg_get(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = pg_begin(c);
	if (rc || (rc = pg_exec(c, ACCOUNTS_LOCK)))
		goto out;
	int64_t n = 0;
	bool vouched = by_operator;
	if (!u->role) {
		if ((rc = one_int(c, "SELECT count(*) FROM users", NULL, &n)))
			goto out;
		u->role = n == 0 ? "admin" : "user";
	}
	if (invite_hash) {
		/* an invite bound to this email vouches for it */
		struct pg_params p = {0};
		pg_p_bytes(&p, invite_hash, POS_HASH_SIZE);
		pg_p_text(&p, u->email);
		if ((rc = one_int(c, "SELECT count(*) FROM invites WHERE hash = $1 AND email = $2",
				  &p, &n)))
			goto out;
		if (n > 0)
			vouched = true;
		struct pg_params q = {0};
		pg_p_bytes(&q, invite_hash, POS_HASH_SIZE);
		pg_p_i64(&q, now);
		pg_p_text(&q, u->id);
		pg_p_text(&q, u->email);
		if ((rc = run_n(c, "UPDATE invites SET used_at = $2, used_by = $3"
				   " WHERE hash = $1 AND used_at IS NULL AND expires_at > $2"
				   " AND (email IS NULL OR email = $4)", &q, &n)))
			goto out;
		if (n != 1) {
			rc = POS_ERR_INVALID_INVITE;
			goto out;
		}
	}
	struct pg_params e = {0};
	pg_p_text(&e, u->email);
	if ((rc = one_int(c, "SELECT count(*) FROM users WHERE email = $1", &e, &n)))
		goto out;
	if (n) {
		rc = POS_ERR_EMAIL_TAKEN;
		goto out;
	}
	struct pg_params p = {0};
	pg_p_text(&p, u->id);
	pg_p_text(&p, u->email);
	pg_p_text(&p, u->password_hash);
	pg_p_text(&p, u->full_name);
	pg_p_text(&p, u->avatar_url);
	pg_p_text(&p, u->privacy_tier);
	pg_p_text(&p, u->plan);
	pg_p_text(&p, u->persona_json);
	pg_p_text(&p, u->settings_json);
	pg_p_i64(&p, u->created_at);
	pg_p_time(&p, u->last_login_at);
	pg_p_text(&p, u->role);
	if ((rc = run_n(c, "INSERT INTO users(id, email, password_hash, full_name, avatar_url,"
			   " privacy_tier, plan, persona, settings, memory_count, created_at,"
			   " last_login_at, role) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,0,$10,$11,$12)",
			&p, NULL))) {
		if (strcmp(pg_last_sqlstate(c), "23505") == 0)
			rc = POS_ERR_EMAIL_TAKEN;
		goto out;
	}
	if (!(rc = pending_shares(c, u, vouched)))
		rc = pg_commit(c);
out:
	pg_put(s, c);
	return rc;
}

static enum pos_err pg_user_counts(struct pos_store *s, int64_t *users, int64_t *admins)
{
	struct pg_conn *c = pg_get(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = one_int(c, "SELECT count(*) FROM users", NULL, users);
	if (!rc)
		rc = one_int(c, admins_sql, NULL, admins);
	pg_put(s, c);
	return rc;
}

static enum pos_err pg_user_admin_update(struct pos_store *s, const char *user_id,
					 const struct pos_user_admin_patch *p, int64_t now)
{
	static const char *const quota_sql[POS_QUOTA__COUNT] = {
		"UPDATE users SET quota_memories = $2 WHERE id = $1",
		"UPDATE users SET quota_bytes = $2 WHERE id = $1",
		"UPDATE users SET quota_sources = $2 WHERE id = $1",
		"UPDATE users SET quota_tokens = $2 WHERE id = $1",
	};
	struct pg_conn *c = pg_get(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = pg_begin(c);
	/* one admin change at a time across instances: the count at the end
	 * sees every other change */
	if (rc || (rc = pg_exec(c, ACCOUNTS_LOCK)))
		goto out;
	int64_t n = 0;
	struct pg_params id = {0};
	pg_p_text(&id, user_id);
	if ((rc = one_int(c, "SELECT count(*) FROM users WHERE id = $1", &id, &n)))
		goto out;
	if (!n) {
		rc = POS_ERR_NOT_FOUND;
		goto out;
	}
	if (p->set & POS_UADM_ROLE) {
		struct pg_params q = {0};
		pg_p_text(&q, user_id);
		pg_p_text(&q, p->role);
		if ((rc = run_n(c, "UPDATE users SET role = $2 WHERE id = $1", &q, NULL)))
			goto out;
	}
	if (p->set & POS_UADM_DISABLED) {
		struct pg_params q = {0};
		pg_p_text(&q, user_id);
		if (p->disabled) {
			/* keeps the first disabling time when already disabled */
			pg_p_i64(&q, now);
			rc = run_n(c, "UPDATE users SET disabled_at = coalesce(disabled_at, $2)"
				      " WHERE id = $1", &q, NULL);
		} else {
			rc = run_n(c, "UPDATE users SET disabled_at = NULL WHERE id = $1", &q, NULL);
		}
		if (rc)
			goto out;
	}
	for (int i = 0; (p->set & POS_UADM_QUOTA) && i < POS_QUOTA__COUNT; i++) {
		if (!p->quota_set[i])
			continue;
		struct pg_params q = {0};
		pg_p_text(&q, user_id);
		if (p->quota[i] < 0)
			pg_p_null(&q);
		else
			pg_p_i64(&q, p->quota[i]);
		if ((rc = run_n(c, quota_sql[i], &q, NULL)))
			goto out;
	}
	if ((rc = one_int(c, admins_sql, NULL, &n)))
		goto out;
	rc = n == 0 ? POS_ERR_LAST_ADMIN : pg_commit(c);
out:
	pg_put(s, c);
	return rc;
}

static enum pos_err pg_user_usage(struct pos_store *s, const char *user_id,
				  struct pos_usage *out)
{
	memset(out, 0, sizeof(*out));
	struct pg_conn *c = pg_get(s);
	if (!c)
		return POS_ERR_STORE;
	struct pg_params p = {0};
	pg_p_text(&p, user_id);
	PGresult *r = NULL;
	/* sync_sources is the sync domain's (absent while pg_pending.c
	 * stands in for it) */
	enum pos_err rc = pg_run_sql(c, pg_ddl_sync[0]
		? "SELECT memory_count, bytes_used,"
		  " (SELECT count(*) FROM sync_sources WHERE user_id = $1),"
		  " (SELECT count(*) FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL)"
		  " FROM users WHERE id = $1"
		: "SELECT memory_count, bytes_used, 0,"
		  " (SELECT count(*) FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL)"
		  " FROM users WHERE id = $1", &p, &r);
	if (!rc && pg_rows(r) == 0)
		rc = POS_ERR_NOT_FOUND;
	for (int i = 0; !rc && i < POS_QUOTA__COUNT; i++)
		out->n[i] = pg_i64(r, 0, i);
	PQclear(r);
	pg_put(s, c);
	return rc;
}

static enum pos_err pg_user_revoke_all(struct pos_store *s, const char *user_id,
				       const char *except_session, bool api_tokens, int64_t now,
				       int64_t *n_sessions, int64_t *n_tokens)
{
	*n_sessions = *n_tokens = 0;
	struct pg_conn *c = pg_get(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = pg_begin(c);
	if (rc)
		goto out;
	/* Revoking a session ends its refresh tokens too (refresh_rotate
	 * refuses a revoked session; the trigger drops key wraps). */
	struct pg_params p = {0};
	pg_p_text(&p, user_id);
	pg_p_i64(&p, now);
	pg_p_text(&p, except_session && *except_session ? except_session : NULL);
	if ((rc = run_n(c, "UPDATE sessions SET revoked_at = $2 WHERE user_id = $1"
			   " AND revoked_at IS NULL AND ($3::text IS NULL OR id != $3)",
			&p, n_sessions)))
		goto out;
	if (api_tokens) {
		struct pg_params q = {0};
		pg_p_text(&q, user_id);
		pg_p_i64(&q, now);
		if ((rc = run_n(c, "UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1"
				   " AND revoked_at IS NULL", &q, n_tokens)))
			goto out;
	}
	rc = pg_commit(c);
out:
	if (rc)
		*n_sessions = *n_tokens = 0;
	pg_put(s, c);
	return rc;
}

/* ---- invites ---- */

static enum pos_err pg_invite_create(struct pos_store *s, const struct pos_invite *inv,
				     const uint8_t *hash)
{
	struct pg_conn *c = pg_get(s);
	if (!c)
		return POS_ERR_STORE;
	struct pg_params p = {0};
	pg_p_text(&p, inv->id);
	pg_p_bytes(&p, hash, POS_HASH_SIZE);
	pg_p_text(&p, inv->email);
	pg_p_text(&p, inv->created_by[0] ? inv->created_by : NULL);
	pg_p_i64(&p, inv->created_at);
	pg_p_i64(&p, inv->expires_at);
	enum pos_err rc = run_n(c, "INSERT INTO invites(id, hash, email, created_by, created_at,"
				   " expires_at) VALUES ($1, $2, $3, $4, $5, $6)", &p, NULL);
	pg_put(s, c);
	return rc;
}

static enum pos_err pg_invite_list(struct pos_store *s, struct pos_arena *a,
				   struct pos_invite **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	struct pg_conn *c = pg_get(s);
	if (!c)
		return POS_ERR_STORE;
	PGresult *r = NULL;
	enum pos_err rc = pg_run_sql(c, "SELECT id, email, created_by, created_at, expires_at,"
					" used_at, used_by FROM invites ORDER BY created_at DESC, id"
					" LIMIT 10000", NULL, &r);
	int rows = pg_rows(r);
	struct pos_invite *v = NULL;
	if (!rc && !(v = pos_arena_zalloc(a, (size_t)(rows ? rows : 1) * sizeof(*v))))
		rc = POS_ERR_NOMEM;
	for (int i = 0; !rc && i < rows; i++) {
		struct pos_invite *e = &v[i];
		pg_uuid(e->id, r, i, 0);
		e->email = pg_text(a, r, i, 1);
		pg_uuid(e->created_by, r, i, 2);
		e->created_at = pg_i64(r, i, 3);
		e->expires_at = pg_i64(r, i, 4);
		e->used_at = pg_time(r, i, 5);
		e->used_by = pg_text(a, r, i, 6);
	}
	PQclear(r);
	pg_put(s, c);
	if (!rc) {
		*out = v;
		*n = (size_t)rows;
	}
	return rc;
}

static enum pos_err pg_invite_delete(struct pos_store *s, const char *id)
{
	struct pg_conn *c = pg_get(s);
	if (!c)
		return POS_ERR_STORE;
	struct pg_params p = {0};
	pg_p_text(&p, id);
	int64_t n = 0;
	enum pos_err rc = run_n(c, "DELETE FROM invites WHERE id = $1", &p, &n);
	if (!rc && n == 0)
		rc = POS_ERR_NOT_FOUND;
	pg_put(s, c);
	return rc;
}

static enum pos_err pg_invite_valid(struct pos_store *s, const uint8_t *hash,
				    const char *email, int64_t now)
{
	struct pg_conn *c = pg_get(s);
	if (!c)
		return POS_ERR_STORE;
	struct pg_params p = {0};
	pg_p_bytes(&p, hash, POS_HASH_SIZE);
	pg_p_i64(&p, now);
	pg_p_text(&p, email);
	PGresult *r = NULL;
	enum pos_err rc = pg_run_sql(c, "SELECT 1 FROM invites WHERE hash = $1 AND used_at IS NULL"
					" AND expires_at > $2 AND (email IS NULL OR email = $3)",
				     &p, &r);
	if (!rc && pg_rows(r) == 0)
		rc = POS_ERR_INVALID_INVITE;
	PQclear(r);
	pg_put(s, c);
	return rc;
}

const struct pos_store_accounts pg_accounts_ops = {
	.user_by_email = pg_user_by_email,
	.user_by_id = pg_user_by_id,
	.user_update_profile = pg_user_update_profile,
	.user_set_login = pg_user_set_login,
	.user_list = pg_user_list,
	.token_create = pg_token_create,
	.token_list = pg_token_list,
	.token_revoke = pg_token_revoke,
	.token_lookup = pg_token_lookup,
	.token_touch = pg_token_touch,
	.session_create = pg_session_create,
	.session_check = pg_session_check,
	.session_revoke = pg_session_revoke,
	.refresh_rotate = pg_refresh_rotate,
	.user_delete = pg_user_delete,
	.user_register = pg_user_register,
	.user_counts = pg_user_counts,
	.user_admin_update = pg_user_admin_update,
	.user_usage = pg_user_usage,
	.user_revoke_all = pg_user_revoke_all,
	.invite_create = pg_invite_create,
	.invite_list = pg_invite_list,
	.invite_delete = pg_invite_delete,
	.invite_valid = pg_invite_valid,
};
