/*
 * sqlite_shares.c — sharing in the SQLite backend: one memory_shares row
 * per (memory, recipient), and memories.shared_with re-derived from them
 * in the same transaction so the JSON column never disagrees. Reads of
 * shared memories always go to the table (no cache), so a revoked share
 * stops working with the next request.
 */
#include "store/sqlite_internal.h"

#include <string.h>

/* A memory can be shared with at most this many users. */
#define SHARES_PER_MEMORY_MAX 100

/* The recipients' emails: users shared with, and (accounts) addresses
 * still without an account, whose shares wait in pending_shares. */
static const char derive_sql[] =
	"UPDATE memories SET shared_with = coalesce((SELECT json_group_array(email) FROM"
	" (SELECT u.email AS email FROM memory_shares s JOIN users u ON u.id = s.recipient_id"
	"  WHERE s.memory_seq = ?1 UNION SELECT p.email FROM pending_shares p"
	"  WHERE p.memory_seq = ?1 ORDER BY 1)), '[]') WHERE seq = ?1";

/* Runs `sql` with up to three text binds and an int64 at ?4; returns the
 * first column of the first row as int64 in *out (0 when no row). */
static enum pos_err one_int(struct sq_conn *c, const char *sql, const char *a,
			    const char *b, const char *d, int64_t i4, int64_t *out)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
		return sq_fail(c, "prepare share");
	int np = sqlite3_bind_parameter_count(st);
	if (np >= 1)
		sq_bind_str(st, 1, a);
	if (np >= 2)
		sq_bind_str(st, 2, b);
	if (np >= 3)
		sq_bind_str(st, 3, d);
	if (np >= 4)
		sqlite3_bind_int64(st, 4, i4);
	int step = sqlite3_step(st);
	enum pos_err rc = POS_OK;
	if (out)
		*out = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		rc = sq_fail(c, "share");
	sqlite3_finalize(st);
	return rc;
}

static enum pos_err derive(struct sq_conn *c, int64_t seq)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c->db, derive_sql, -1, &st, NULL) != SQLITE_OK)
		return sq_fail(c, "prepare shared_with");
	sqlite3_bind_int64(st, 1, seq);
	int step = sqlite3_step(st);
	sqlite3_finalize(st);
	return step == SQLITE_DONE ? POS_OK : sq_fail(c, "shared_with");
}

enum pos_err sq_share_add(struct pos_store *base, const char *owner_id, const char *id,
			  const char *const *emails, size_t n, int64_t now,
			  struct pos_error *err)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	int64_t seq = 0, count = 0;
	if ((rc = one_int(c, "SELECT seq FROM memories WHERE id = ?1 AND user_id = ?2",
			  id, owner_id, NULL, 0, &seq)))
		goto out;
	if (!seq) {
		rc = POS_ERR_NOT_FOUND;
		goto out;
	}
	sqlite3_stmt *user = NULL, *ins = NULL, *pend = NULL;
	if (sqlite3_prepare_v2(c->db, "SELECT id FROM users WHERE email = ?1", -1, &user,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(c->db, "INSERT OR IGNORE INTO memory_shares"
				      "(memory_seq, recipient_id, owner_id, created_at)"
				      " VALUES (?1, ?2, ?3, ?4)", -1, &ins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(c->db, "INSERT OR IGNORE INTO pending_shares"
				      "(memory_seq, email, owner_id, created_at)"
				      " VALUES (?1, ?2, ?3, ?4)", -1, &pend, NULL) != SQLITE_OK) {
		rc = sq_fail(c, "prepare share add");
		sqlite3_finalize(user);
		sqlite3_finalize(ins);
		sqlite3_finalize(pend);
		goto out;
	}
	for (size_t i = 0; !rc && i < n; i++) {
		sqlite3_reset(user);
		sq_bind_str(user, 1, emails[i]);
		int step = sqlite3_step(user);
		if (step == SQLITE_DONE) {
			/* No account (yet): the share waits for one to be
			 * registered with this email, and the answer is the
			 * same as for a user (no account enumeration). */
			sqlite3_reset(pend);
			sqlite3_bind_int64(pend, 1, seq);
			sq_bind_str(pend, 2, emails[i]);
			sq_bind_str(pend, 3, owner_id);
			sqlite3_bind_int64(pend, 4, now);
			if (sqlite3_step(pend) != SQLITE_DONE)
				rc = sq_fail(c, "pending share insert");
			continue;
		}
		if (step != SQLITE_ROW) {
			rc = sq_fail(c, "share recipient");
			break;
		}
		const char *rid = (const char *)sqlite3_column_text(user, 0);
		if (!rid || strcmp(rid, owner_id) == 0) {
			rc = pos_error_set(err, POS_ERR_INVALID_FIELD, "emails",
					   "emails[%zu] is your own email", i);
			err->index = (int)i;
			break;
		}
		sqlite3_reset(ins);
		sqlite3_bind_int64(ins, 1, seq);
		sqlite3_bind_text(ins, 2, rid, -1, SQLITE_TRANSIENT);
		sq_bind_str(ins, 3, owner_id);
		sqlite3_bind_int64(ins, 4, now);
		if (sqlite3_step(ins) != SQLITE_DONE)
			rc = sq_fail(c, "share insert");
	}
	sqlite3_finalize(user);
	sqlite3_finalize(ins);
	sqlite3_finalize(pend);
	if (rc)
		goto out;
	if ((rc = one_int(c, "SELECT (SELECT count(*) FROM memory_shares WHERE memory_seq = ?4)"
			  " + (SELECT count(*) FROM pending_shares WHERE memory_seq = ?4)",
			  NULL, NULL, NULL, seq, &count)))
		goto out;
	if (count > SHARES_PER_MEMORY_MAX) {
		rc = pos_error_set(err, POS_ERR_INVALID_FIELD, "emails",
				   "a memory can be shared with at most %d users",
				   SHARES_PER_MEMORY_MAX);
		goto out;
	}
	rc = derive(c, seq);
out:
	return sq_end(s, c, rc, false);
}

enum pos_err sq_share_remove(struct pos_store *base, const char *owner_id,
			     const char *id, const char *email)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	int64_t seq = 0;
	if ((rc = one_int(c, "SELECT seq FROM memories WHERE id = ?1 AND user_id = ?2",
			  id, owner_id, NULL, 0, &seq)))
		goto out;
	if (!seq) {
		rc = POS_ERR_NOT_FOUND;
		goto out;
	}
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c->db, "DELETE FROM memory_shares WHERE memory_seq = ?1"
				      " AND recipient_id = (SELECT id FROM users WHERE email = ?2)",
			       -1, &st, NULL) != SQLITE_OK) {
		rc = sq_fail(c, "prepare share remove");
		goto out;
	}
	sqlite3_bind_int64(st, 1, seq);
	sq_bind_str(st, 2, email);
	int step = sqlite3_step(st);
	sqlite3_finalize(st);
	int64_t changed = step == SQLITE_DONE ? sqlite3_changes(c->db) : 0;
	/* or a share still waiting for an account with that email */
	if (step == SQLITE_DONE &&
	    sqlite3_prepare_v2(c->db, "DELETE FROM pending_shares WHERE memory_seq = ?1"
				      " AND email = ?2", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, seq);
		sq_bind_str(st, 2, email);
		step = sqlite3_step(st);
		sqlite3_finalize(st);
		changed += step == SQLITE_DONE ? sqlite3_changes(c->db) : 0;
	} else if (step == SQLITE_DONE) {
		step = SQLITE_ERROR;
	}
	if (step != SQLITE_DONE)
		rc = sq_fail(c, "share remove");
	else if (changed == 0)
		rc = POS_ERR_NOT_FOUND;
	else
		rc = derive(c, seq);
out:
	return sq_end(s, c, rc, false);
}

enum pos_err sq_shared_get(struct pos_store *base, struct pos_arena *a,
			   const char *recipient_id, const char *id,
			   struct pos_memory *out)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c->db, "SELECT " SQ_MEM_COLS " FROM memories m"
				      " JOIN memory_shares sh ON sh.memory_seq = m.seq"
				      " WHERE m.id = ?2 AND sh.recipient_id = ?1",
			       -1, &st, NULL) != SQLITE_OK)
		return sq_fail(c, "prepare shared get");
	sq_bind_str(st, 1, recipient_id);
	sq_bind_str(st, 2, id);
	sq_access_read_begin(s);
	int step = sqlite3_step(st);
	enum pos_err rc = POS_OK;
	if (step == SQLITE_ROW) {
		if (!(rc = sq_read_memory(a, st, out)))
			sq_access_overlay(s, out);
	} else {
		rc = step == SQLITE_DONE ? POS_ERR_NOT_FOUND : sq_fail(c, "shared get");
	}
	sq_access_read_end(s);
	sqlite3_finalize(st);
	return rc;
}

enum pos_err sq_shared_list(struct pos_store *base, struct pos_arena *a,
			    const char *recipient_id, unsigned limit, unsigned offset,
			    struct pos_memory **out, size_t *n, int64_t *total)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	*n = 0;
	*out = NULL;
	*total = 0;
	if (sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return sq_fail(c, "begin read");
	enum pos_err rc = one_int(c, "SELECT count(*) FROM memory_shares WHERE recipient_id = ?1",
				  recipient_id, NULL, NULL, 0, total);
	sqlite3_stmt *st = NULL;
	if (rc || !limit || (int64_t)offset >= *total)
		goto out;
	if (sqlite3_prepare_v2(c->db, "SELECT " SQ_MEM_COLS " FROM memory_shares sh"
				      " CROSS JOIN memories m ON m.seq = sh.memory_seq"
				      " WHERE sh.recipient_id = ?1"
				      " ORDER BY m.created_at DESC, m.seq DESC LIMIT ?2 OFFSET ?3",
			       -1, &st, NULL) != SQLITE_OK) {
		rc = sq_fail(c, "prepare shared list");
		goto out;
	}
	sq_bind_str(st, 1, recipient_id);
	sqlite3_bind_int64(st, 2, limit);
	sqlite3_bind_int64(st, 3, offset);
	struct pos_memory *v = pos_arena_alloc(a, limit * sizeof(*v));
	if (!v) {
		rc = POS_ERR_NOMEM;
		goto out;
	}
	sq_access_read_begin(s);
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW && *n < limit) {
		if ((rc = sq_read_memory(a, st, &v[*n])))
			break;
		sq_access_overlay(s, &v[*n]);
		(*n)++;
	}
	if (!rc && step != SQLITE_DONE && step != SQLITE_ROW)
		rc = sq_fail(c, "shared list");
	sq_access_read_end(s);
	*out = v;
out:
	sqlite3_finalize(st);
	sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
	return rc;
}

enum pos_err sq_shared_search(struct pos_store *base, struct pos_arena *a,
			      const char *recipient_id, const char *match,
			      unsigned limit, struct pos_memory **out,
			      double **scores, size_t *n)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	*n = 0;
	struct pos_memory *v = pos_arena_alloc(a, (limit ? limit : 1) * sizeof(*v));
	double *sc = pos_arena_alloc(a, (limit ? limit : 1) * sizeof(*sc));
	if (!v || !sc)
		return POS_ERR_NOMEM;
	*out = v;
	*scores = sc;
	sqlite3_stmt *st = NULL;
	/* The recipient's shares drive the join: each is one rowid probe of
	 * the full-text index, whatever the size of other users' data. */
	if (sqlite3_prepare_v2(c->db, "SELECT " SQ_MEM_COLS ", bm25(memories_fts, 1.0, 1.0, 0.4) AS s"
				      " FROM memory_shares sh"
				      " CROSS JOIN memories_fts ON memories_fts.rowid = sh.memory_seq"
				      " CROSS JOIN memories m ON m.seq = sh.memory_seq"
				      " WHERE sh.recipient_id = ?1 AND memories_fts MATCH ?2"
				      " ORDER BY s LIMIT ?3",
			       -1, &st, NULL) != SQLITE_OK)
		return sq_fail(c, "prepare shared search");
	sq_bind_str(st, 1, recipient_id);
	sq_bind_str(st, 2, match);
	sqlite3_bind_int64(st, 3, limit);
	int score_col = sqlite3_column_count(st) - 1;
	enum pos_err rc = POS_OK;
	sq_access_read_begin(s);
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW && *n < limit) {
		if ((rc = sq_read_memory(a, st, &v[*n])))
			break;
		sq_access_overlay(s, &v[*n]);
		sc[*n] = -sqlite3_column_double(st, score_col);
		(*n)++;
	}
	if (!rc && step != SQLITE_DONE && step != SQLITE_ROW)
		rc = sq_fail(c, "shared search");
	sq_access_read_end(s);
	sqlite3_finalize(st);
	return rc;
}
