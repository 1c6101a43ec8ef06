/*
 * sqlite_accounts.c — accounts in the SQLite backend (migration 12):
 * registration with its invite and first-admin rule in one transaction,
 * admin changes that can never leave the instance without an enabled
 * admin, usage counts for the quotas, revocation of everything a user
 * holds, and invite codes. These run rarely (admin actions, registration,
 * one usage read per quota-checked write), so statements are prepared per
 * call rather than kept in the connection's table.
 */
#include "store/sqlite_internal.h"

#include <string.h>

#include "base/alloc.h"
#include "crypto/crypto.h"

/* Prepares `sql`; NULL (logged) on failure. */
static sqlite3_stmt *prep(struct sq_conn *c, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
		sq_fail(c, "prepare (accounts)");
		sqlite3_finalize(st);
		return NULL;
	}
	return st;
}

/* Runs a statement to completion; *changes gets sqlite3_changes. */
static enum pos_err run(struct sq_conn *c, sqlite3_stmt *st, int64_t *changes)
{
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW)
		;
	enum pos_err rc = step == SQLITE_DONE ? POS_OK : sq_fail(c, "accounts");
	if (changes)
		*changes = sqlite3_changes(c->db);
	sqlite3_finalize(st);
	return rc;
}

/* The first column of the first row of `sql` bound to text ?1 (may be NULL). */
static enum pos_err one_int(struct sq_conn *c, const char *sql, const char *a1,
			    int64_t *out)
{
	sqlite3_stmt *st = prep(c, sql);
	if (!st)
		return POS_ERR_STORE;
	if (sqlite3_bind_parameter_count(st) >= 1)
		sq_bind_str(st, 1, a1);
	int step = sqlite3_step(st);
	enum pos_err rc = POS_OK;
	*out = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		rc = sq_fail(c, "accounts count");
	sqlite3_finalize(st);
	return rc;
}

static const char admins_sql[] =
	"SELECT count(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL";

enum pos_err sq_user_register(struct pos_store *base, struct pos_user *u,
			      const uint8_t *invite_hash, bool by_operator, int64_t now)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	int64_t n = 0;
	sqlite3_stmt *st;
	bool vouched = by_operator;
	if (!u->role) {
		if ((rc = one_int(c, "SELECT count(*) FROM users", NULL, &n)))
			goto out;
		u->role = n == 0 ? "admin" : "user";
	}
	if (invite_hash) {
		/* an invite bound to this email vouches for it */
		if (!(st = prep(c, "SELECT count(*) FROM invites WHERE hash = ?1 AND email = ?2"))) {
			rc = POS_ERR_STORE;
			goto out;
		}
		sqlite3_bind_blob(st, 1, invite_hash, POS_HASH_SIZE, SQLITE_STATIC);
		sq_bind_str(st, 2, u->email);
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0)
			vouched = true;
		sqlite3_finalize(st);
		if (!(st = prep(c, "UPDATE invites SET used_at = ?2, used_by = ?3"
				   " WHERE hash = ?1 AND used_at IS NULL AND expires_at > ?2"
				   " AND (email IS NULL OR email = ?4)"))) {
			rc = POS_ERR_STORE;
			goto out;
		}
		sqlite3_bind_blob(st, 1, invite_hash, POS_HASH_SIZE, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now);
		sq_bind_str(st, 3, u->id);
		sq_bind_str(st, 4, u->email);
		if ((rc = run(c, st, &n)))
			goto out;
		if (n != 1) {
			rc = POS_ERR_INVALID_INVITE;
			goto out;
		}
	}
	if ((rc = one_int(c, "SELECT count(*) FROM users WHERE email = ?1", u->email, &n)))
		goto out;
	if (n) {
		rc = POS_ERR_EMAIL_TAKEN;
		goto out;
	}
	if (!(st = prep(c, "INSERT INTO users(id, email, password_hash, full_name, avatar_url,"
			   " privacy_tier, plan, persona, settings, memory_count, created_at,"
			   " last_login_at, role) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,0,?10,?11,?12)"))) {
		rc = POS_ERR_STORE;
		goto out;
	}
	sq_bind_str(st, 1, u->id);
	sq_bind_str(st, 2, u->email);
	sq_bind_str(st, 3, u->password_hash);
	sq_bind_str(st, 4, u->full_name);
	sq_bind_str(st, 5, u->avatar_url);
	sq_bind_str(st, 6, u->privacy_tier);
	sq_bind_str(st, 7, u->plan);
	sq_bind_str(st, 8, u->persona_json);
	sq_bind_str(st, 9, u->settings_json);
	sqlite3_bind_int64(st, 10, u->created_at);
	sq_bind_time(st, 11, u->last_login_at);
	sq_bind_str(st, 12, u->role);
	if (sqlite3_step(st) != SQLITE_DONE) {
		int ext = sqlite3_extended_errcode(c->db);
		rc = ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY
			? POS_ERR_EMAIL_TAKEN : sq_fail(c, "user insert");
	}
	sqlite3_finalize(st);
	if (rc)
		goto out;
	/*
	 * Shares made to this email before it had an account: they become
	 * real only when someone vouched for the email (the operator, or an
	 * invite bound to it) — with open registration or an unbound invite
	 * anyone could have picked it. Otherwise they are dropped, and the
	 * owners' shared_with no longer lists the email.
	 */
	if (vouched) {
		if (!(st = prep(c, "INSERT OR IGNORE INTO memory_shares(memory_seq, recipient_id,"
				   " owner_id, created_at) SELECT memory_seq, ?2, owner_id, created_at"
				   " FROM pending_shares WHERE email = ?1 AND owner_id != ?2"))) {
			rc = POS_ERR_STORE;
			goto out;
		}
		sq_bind_str(st, 1, u->email);
		sq_bind_str(st, 2, u->id);
		if ((rc = run(c, st, NULL)))
			goto out;
	} else {
		if (!(st = prep(c, "UPDATE memories SET shared_with = coalesce((SELECT"
				   " json_group_array(email) FROM (SELECT u.email AS email FROM"
				   " memory_shares s JOIN users u ON u.id = s.recipient_id"
				   " WHERE s.memory_seq = memories.seq UNION SELECT p.email FROM"
				   " pending_shares p WHERE p.memory_seq = memories.seq AND p.email != ?1"
				   " ORDER BY 1)), '[]') WHERE seq IN"
				   " (SELECT memory_seq FROM pending_shares WHERE email = ?1)"))) {
			rc = POS_ERR_STORE;
			goto out;
		}
		sq_bind_str(st, 1, u->email);
		if ((rc = run(c, st, NULL)))
			goto out;
	}
	if (!(st = prep(c, "DELETE FROM pending_shares WHERE email = ?1"))) {
		rc = POS_ERR_STORE;
		goto out;
	}
	sq_bind_str(st, 1, u->email);
	rc = run(c, st, NULL);
out:
	return sq_end(s, c, rc, false);
}

enum pos_err sq_user_counts(struct pos_store *base, int64_t *users, int64_t *admins)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = one_int(c, "SELECT count(*) FROM users", NULL, users);
	if (!rc)
		rc = one_int(c, admins_sql, NULL, admins);
	return rc;
}

enum pos_err sq_user_admin_update(struct pos_store *base, const char *user_id,
				  const struct pos_user_admin_patch *p, int64_t now)
{
	static const char *const quota_sql[POS_QUOTA__COUNT] = {
		"UPDATE users SET quota_memories = ?2 WHERE id = ?1",
		"UPDATE users SET quota_bytes = ?2 WHERE id = ?1",
		"UPDATE users SET quota_sources = ?2 WHERE id = ?1",
		"UPDATE users SET quota_tokens = ?2 WHERE id = ?1",
	};
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	int64_t n = 0;
	sqlite3_stmt *st;
	if ((rc = one_int(c, "SELECT count(*) FROM users WHERE id = ?1", user_id, &n)))
		goto out;
	if (!n) {
		rc = POS_ERR_NOT_FOUND;
		goto out;
	}
	if (p->set & POS_UADM_ROLE) {
		if (!(st = prep(c, "UPDATE users SET role = ?2 WHERE id = ?1"))) {
			rc = POS_ERR_STORE;
			goto out;
		}
		sq_bind_str(st, 1, user_id);
		sq_bind_str(st, 2, p->role);
		if ((rc = run(c, st, NULL)))
			goto out;
	}
	if (p->set & POS_UADM_DISABLED) {
		/* keeps the first disabling time when already disabled */
		if (!(st = prep(c, p->disabled
				? "UPDATE users SET disabled_at = coalesce(disabled_at, ?2) WHERE id = ?1"
				: "UPDATE users SET disabled_at = NULL WHERE id = ?1 AND ?2 = ?2"))) {
			rc = POS_ERR_STORE;
			goto out;
		}
		sq_bind_str(st, 1, user_id);
		sqlite3_bind_int64(st, 2, now);
		if ((rc = run(c, st, NULL)))
			goto out;
	}
	for (int i = 0; (p->set & POS_UADM_QUOTA) && i < POS_QUOTA__COUNT; i++) {
		if (!p->quota_set[i])
			continue;
		if (!(st = prep(c, quota_sql[i]))) {
			rc = POS_ERR_STORE;
			goto out;
		}
		sq_bind_str(st, 1, user_id);
		if (p->quota[i] < 0)
			sqlite3_bind_null(st, 2);
		else
			sqlite3_bind_int64(st, 2, p->quota[i]);
		if ((rc = run(c, st, NULL)))
			goto out;
	}
	if ((rc = one_int(c, admins_sql, NULL, &n)))
		goto out;
	if (n == 0)
		rc = POS_ERR_LAST_ADMIN;
out:
	return sq_end(s, c, rc, false);
}

enum pos_err sq_user_usage(struct pos_store *base, const char *user_id,
			   struct pos_usage *out)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	memset(out, 0, sizeof(*out));
	sqlite3_stmt *st = prep(c,
		"SELECT memory_count, bytes_used,"
		" (SELECT count(*) FROM sync_sources WHERE user_id = ?1),"
		" (SELECT count(*) FROM api_tokens WHERE user_id = ?1 AND revoked_at IS NULL)"
		" FROM users WHERE id = ?1");
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, user_id);
	int step = sqlite3_step(st);
	enum pos_err rc = POS_OK;
	if (step == SQLITE_ROW) {
		for (int i = 0; i < POS_QUOTA__COUNT; i++)
			out->n[i] = sqlite3_column_int64(st, i);
	} else {
		rc = step == SQLITE_DONE ? POS_ERR_NOT_FOUND : sq_fail(c, "usage");
	}
	sqlite3_finalize(st);
	return rc;
}

enum pos_err sq_user_revoke_all(struct pos_store *base, const char *user_id,
				const char *except_session, bool api_tokens, int64_t now,
				int64_t *n_sessions, int64_t *n_tokens)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	*n_sessions = *n_tokens = 0;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	/* Revoking a session ends its refresh tokens too (refresh_rotate
	 * refuses a revoked session; the crypt trigger drops key wraps). */
	sqlite3_stmt *st = prep(c, "UPDATE sessions SET revoked_at = ?2 WHERE user_id = ?1"
				   " AND revoked_at IS NULL AND (?3 IS NULL OR id != ?3)");
	if (!st) {
		rc = POS_ERR_STORE;
		goto out;
	}
	sq_bind_str(st, 1, user_id);
	sqlite3_bind_int64(st, 2, now);
	sq_bind_str(st, 3, except_session && *except_session ? except_session : NULL);
	if ((rc = run(c, st, n_sessions)) || !api_tokens)
		goto out;
	if (!(st = prep(c, "UPDATE api_tokens SET revoked_at = ?2 WHERE user_id = ?1"
			   " AND revoked_at IS NULL"))) {
		rc = POS_ERR_STORE;
		goto out;
	}
	sq_bind_str(st, 1, user_id);
	sqlite3_bind_int64(st, 2, now);
	rc = run(c, st, n_tokens);
out:
	return sq_end(s, c, rc, false);
}

enum pos_err sq_invite_create(struct pos_store *base, const struct pos_invite *inv,
			      const uint8_t *hash)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	sqlite3_stmt *st = prep(c, "INSERT INTO invites(id, hash, email, created_by,"
				   " created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
	if (!st) {
		rc = POS_ERR_STORE;
		goto out;
	}
	sq_bind_str(st, 1, inv->id);
	sqlite3_bind_blob(st, 2, hash, POS_HASH_SIZE, SQLITE_STATIC);
	sq_bind_str(st, 3, inv->email);
	sq_bind_str(st, 4, inv->created_by[0] ? inv->created_by : NULL);
	sqlite3_bind_int64(st, 5, inv->created_at);
	sqlite3_bind_int64(st, 6, inv->expires_at);
	rc = run(c, st, NULL);
out:
	return sq_end(s, c, rc, false);
}

enum pos_err sq_invite_list(struct pos_store *base, struct pos_arena *a,
			    struct pos_invite **out, size_t *n)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	*out = NULL;
	*n = 0;
	sqlite3_stmt *st = prep(c, "SELECT id, email, created_by, created_at, expires_at,"
				   " used_at, used_by FROM invites ORDER BY created_at DESC, id"
				   " LIMIT 10000");
	if (!st)
		return POS_ERR_STORE;
	size_t cap = 16, len = 0;
	struct pos_invite *v = pos_arena_alloc(a, cap * sizeof(*v));
	enum pos_err rc = v ? POS_OK : POS_ERR_NOMEM;
	int step = SQLITE_DONE;
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
		if (len == cap) {
			struct pos_invite *nv = pos_arena_alloc(a, 2 * cap * sizeof(*v));
			if (!nv) {
				rc = POS_ERR_NOMEM;
				break;
			}
			memcpy(nv, v, len * sizeof(*v));
			v = nv;
			cap *= 2;
		}
		struct pos_invite *e = &v[len++];
		memset(e, 0, sizeof(*e));
		const unsigned char *t = sqlite3_column_text(st, 0);
		snprintf(e->id, sizeof(e->id), "%s", t ? (const char *)t : "");
		e->email = sq_col_str(a, st, 1, NULL);
		t = sqlite3_column_text(st, 2);
		snprintf(e->created_by, sizeof(e->created_by), "%s", t ? (const char *)t : "");
		e->created_at = sqlite3_column_int64(st, 3);
		e->expires_at = sqlite3_column_int64(st, 4);
		e->used_at = sq_col_time(st, 5);
		e->used_by = sq_col_str(a, st, 6, NULL);
	}
	if (!rc && step != SQLITE_DONE)
		rc = sq_fail(c, "invite list");
	sqlite3_finalize(st);
	*out = v;
	*n = len;
	return rc;
}

enum pos_err sq_invite_delete(struct pos_store *base, const char *id)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	int64_t n = 0;
	sqlite3_stmt *st = prep(c, "DELETE FROM invites WHERE id = ?1");
	if (!st) {
		rc = POS_ERR_STORE;
		goto out;
	}
	sq_bind_str(st, 1, id);
	if (!(rc = run(c, st, &n)) && n == 0)
		rc = POS_ERR_NOT_FOUND;
out:
	return sq_end(s, c, rc, false);
}

enum pos_err sq_invite_valid(struct pos_store *base, const uint8_t *hash,
			     const char *email, int64_t now)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = prep(c, "SELECT 1 FROM invites WHERE hash = ?1 AND used_at IS NULL"
				   " AND expires_at > ?2 AND (email IS NULL OR email = ?3)");
	if (!st)
		return POS_ERR_STORE;
	sqlite3_bind_blob(st, 1, hash, POS_HASH_SIZE, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	sq_bind_str(st, 3, email);
	int step = sqlite3_step(st);
	enum pos_err rc = step == SQLITE_ROW ? POS_OK
		: step == SQLITE_DONE ? POS_ERR_INVALID_INVITE : sq_fail(c, "invite check");
	sqlite3_finalize(st);
	return rc;
}
