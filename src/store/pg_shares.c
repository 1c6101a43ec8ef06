/*
 * pg_shares.c — sharing on PostgreSQL (store.h "shares"; port of
 * sqlite_shares.c): one memory_shares row per (memory, recipient), and
 * memories.shared_with re-derived from them in the same transaction so the
 * JSON column never disagrees. A change locks the memory row first, so two
 * instances sharing one memory at once cannot pass its limit together.
 * Reads of shared memories always go to the table (no cache), so a revoked
 * share stops working with the next request. Memory rows are read with
 * pgmem's reader (pg_read_memory, pg_internal.h).
 */
#include <string.h>

#include "store/pg_internal.h"

/* A memory can be shared with at most this many users. */
#define SHARES_PER_MEMORY_MAX 100

/*
 * SQLite's migration 11 and the pending_shares table of migration 12 (it
 * references memories, so it is created here, after them, rather than
 * with the accounts).
 */
const char pg_ddl_shares[] =
	"CREATE TABLE IF NOT EXISTS memory_shares ("
	" memory_seq bigint NOT NULL REFERENCES memories(seq) ON DELETE CASCADE,"
	" recipient_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	" owner_id text NOT NULL,"
	" created_at bigint NOT NULL,"
	" PRIMARY KEY (memory_seq, recipient_id));"
	"CREATE INDEX IF NOT EXISTS memory_shares_recipient"
	" ON memory_shares(recipient_id, memory_seq);"
	"CREATE TABLE IF NOT EXISTS pending_shares ("
	" memory_seq bigint NOT NULL REFERENCES memories(seq) ON DELETE CASCADE,"
	" email text NOT NULL,"
	" owner_id text NOT NULL,"
	" created_at bigint NOT NULL,"
	" PRIMARY KEY (memory_seq, email));"
	"CREATE INDEX IF NOT EXISTS pending_shares_email ON pending_shares(email);";

/* The owner's memory, locked for the rest of the transaction. */
PG_STMT(st_owned, "SELECT seq FROM memories WHERE id = $1 AND user_id = $2 FOR UPDATE");
PG_STMT(st_user, "SELECT id FROM users WHERE email = $1");
PG_STMT(st_share_ins, "INSERT INTO memory_shares(memory_seq, recipient_id, owner_id, created_at)"
		      " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING");
PG_STMT(st_pending_ins, "INSERT INTO pending_shares(memory_seq, email, owner_id, created_at)"
			" VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING");
PG_STMT(st_count, "SELECT (SELECT count(*) FROM memory_shares WHERE memory_seq = $1)"
		  " + (SELECT count(*) FROM pending_shares WHERE memory_seq = $1)");
/* The recipients' emails: users shared with, and addresses still without
 * an account (pending_shares); compact JSON, sorted, as SQLite writes it. */
PG_STMT(st_derive, "UPDATE memories SET shared_with = coalesce((SELECT '[' ||"
		   " string_agg(to_json(e.email)::text, ',' ORDER BY e.email) || ']' FROM"
		   " (SELECT u.email AS email FROM memory_shares s JOIN users u"
		   "  ON u.id = s.recipient_id WHERE s.memory_seq = $1"
		   "  UNION SELECT p.email FROM pending_shares p WHERE p.memory_seq = $1) e),"
		   " '[]') WHERE seq = $1");
PG_STMT(st_share_del, "DELETE FROM memory_shares WHERE memory_seq = $1"
		      " AND recipient_id = (SELECT id FROM users WHERE email = $2)");
PG_STMT(st_pending_del, "DELETE FROM pending_shares WHERE memory_seq = $1 AND email = $2");
PG_STMT(st_shared_get, "SELECT " PG_MEM_COLS " FROM memories m"
		       " JOIN memory_shares sh ON sh.memory_seq = m.seq"
		       " WHERE m.id = $2 AND sh.recipient_id = $1");
PG_STMT(st_shared_count, "SELECT count(*) FROM memory_shares WHERE recipient_id = $1");
PG_STMT(st_shared_page, "SELECT " PG_MEM_COLS " FROM memory_shares sh"
			" JOIN memories m ON m.seq = sh.memory_seq WHERE sh.recipient_id = $1"
			" ORDER BY m.created_at DESC, m.seq DESC LIMIT $2 OFFSET $3");

/* The seq of the owner's memory `id`, locked; 0 when it is not theirs. */
static enum pos_err owned_seq(struct pg_conn *c, const char *owner_id, const char *id,
			      int64_t *seq)
{
	struct pg_params p = {0};
	pg_p_text(&p, id);
	pg_p_text(&p, owner_id);
	PGresult *r = NULL;
	enum pos_err rc = pg_run(c, &st_owned, &p, &r);
	*seq = !rc && pg_rows(r) > 0 ? pg_i64(r, 0, 0) : 0;
	PQclear(r);
	return rc;
}

static enum pos_err derive(struct pg_conn *c, int64_t seq)
{
	struct pg_params p = {0};
	pg_p_i64(&p, seq);
	return pg_run_n(c, &st_derive, &p, NULL);
}

static enum pos_err share_add(struct pos_store *s, const char *owner_id, const char *id,
			      const char *const *emails, size_t n, int64_t now,
			      struct pos_error *err)
{
	struct pg_conn *c = pg_get(s);
	if (!c)
		return POS_ERR_STORE;
	PGresult *r = NULL;
	int64_t seq = 0;
	enum pos_err rc = pg_begin(c);
	if (rc || (rc = owned_seq(c, owner_id, id, &seq)))
		goto out;
	if (!seq) {
		rc = POS_ERR_NOT_FOUND;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct pg_params u = {0};
		pg_p_text(&u, emails[i]);
		if ((rc = pg_run(c, &st_user, &u, &r)))
			goto out;
		struct pg_params p = {0};
		pg_p_i64(&p, seq);
		if (pg_rows(r) < 1) {
			/* No account (yet): the share waits for one to be
			 * registered with this email, and the answer is the
			 * same as for a user (no account enumeration). */
			pg_p_text(&p, emails[i]);
			pg_p_text(&p, owner_id);
			pg_p_i64(&p, now);
			PQclear(r);
			r = NULL;
			if ((rc = pg_run_n(c, &st_pending_ins, &p, NULL)))
				goto out;
			continue;
		}
		const char *rid = PQgetvalue(r, 0, 0);
		if (!strcmp(rid, owner_id)) {
			rc = pos_error_set(err, POS_ERR_INVALID_FIELD, "emails",
					   "emails[%zu] is your own email", i);
			err->index = (int)i;
			goto out;
		}
		pg_p_text(&p, rid);
		pg_p_text(&p, owner_id);
		pg_p_i64(&p, now);
		rc = pg_run_n(c, &st_share_ins, &p, NULL);
		PQclear(r); /* after the run: rid points into it */
		r = NULL;
		if (rc)
			goto out;
	}
	struct pg_params q = {0};
	pg_p_i64(&q, seq);
	if ((rc = pg_run(c, &st_count, &q, &r)))
		goto out;
	if (pg_rows(r) > 0 && pg_i64(r, 0, 0) > SHARES_PER_MEMORY_MAX) {
		rc = pos_error_set(err, POS_ERR_INVALID_FIELD, "emails",
				   "a memory can be shared with at most %d users",
				   SHARES_PER_MEMORY_MAX);
		goto out;
	}
	if ((rc = derive(c, seq)))
		goto out;
	rc = pg_commit(c);
out:
	PQclear(r);
	pg_put(s, c); /* rolls back what is open */
	return rc;
}

static enum pos_err share_remove(struct pos_store *s, const char *owner_id, const char *id,
				 const char *email)
{
	struct pg_conn *c = pg_get(s);
	if (!c)
		return POS_ERR_STORE;
	int64_t seq = 0;
	enum pos_err rc = pg_begin(c);
	if (rc || (rc = owned_seq(c, owner_id, id, &seq)))
		goto out;
	if (!seq) {
		rc = POS_ERR_NOT_FOUND;
		goto out;
	}
	struct pg_params p = {0};
	pg_p_i64(&p, seq);
	pg_p_text(&p, email);
	uint64_t a = 0, b = 0;
	/* a user's share, or one still waiting for an account with that email */
	if ((rc = pg_run_n(c, &st_share_del, &p, &a)) || (rc = pg_run_n(c, &st_pending_del, &p, &b)))
		goto out;
	if (a + b == 0) {
		rc = POS_ERR_NOT_FOUND;
		goto out;
	}
	if ((rc = derive(c, seq)))
		goto out;
	rc = pg_commit(c);
out:
	pg_put(s, c);
	return rc;
}

static enum pos_err shared_get(struct pos_store *s, struct pos_arena *a,
			       const char *recipient_id, const char *id,
			       struct pos_memory *out)
{
	struct pg_params p = {0};
	pg_p_text(&p, recipient_id);
	pg_p_text(&p, id);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, &st_shared_get, &p, &r);
	if (!rc)
		rc = pg_rows(r) < 1 ? POS_ERR_NOT_FOUND : pg_read_memory(a, r, 0, 0, out);
	PQclear(r);
	return rc;
}

static enum pos_err shared_list(struct pos_store *s, struct pos_arena *a,
				const char *recipient_id, unsigned limit, unsigned offset,
				struct pos_memory **out, size_t *n, int64_t *total)
{
	*n = 0;
	*out = NULL;
	*total = 0;
	struct pg_conn *c = pg_get(s);
	if (!c)
		return POS_ERR_STORE;
	PGresult *r = NULL;
	/* the count and the page from one snapshot */
	enum pos_err rc = pg_begin(c);
	if (rc || (rc = pg_exec(c, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")))
		goto out;
	struct pg_params p = {0};
	pg_p_text(&p, recipient_id);
	if ((rc = pg_run(c, &st_shared_count, &p, &r)))
		goto out;
	*total = pg_rows(r) > 0 ? pg_i64(r, 0, 0) : 0;
	PQclear(r);
	r = NULL;
	if (!limit || (int64_t)offset >= *total)
		goto done;
	pg_p_i64(&p, limit);
	pg_p_i64(&p, offset);
	if ((rc = pg_run(c, &st_shared_page, &p, &r)))
		goto out;
	struct pos_memory *v = pos_arena_alloc(a, limit * sizeof(*v));
	if (!v) {
		rc = POS_ERR_NOMEM;
		goto out;
	}
	for (int i = 0; i < pg_rows(r) && *n < limit; i++) {
		if ((rc = pg_read_memory(a, r, i, 0, &v[*n])))
			goto out;
		(*n)++;
	}
	*out = v;
done:
	rc = pg_commit(c);
out:
	PQclear(r);
	pg_put(s, c);
	return rc;
}

/*
 * Ranking: ts_rank_cd of the memory's tsvector against the query (higher
 * is better), where SQLite gives -bm25. The sharing service fuses these
 * hits with the recipient's own by rank (pos_share_search_with_own), so
 * only their order matters.
 */
static enum pos_err shared_search(struct pos_store *s, struct pos_arena *a,
				  const char *recipient_id, const char *match, unsigned limit,
				  struct pos_memory **out, double **scores, size_t *n)
{
	*n = 0;
	struct pos_memory *v = pos_arena_alloc(a, (limit ? limit : 1) * sizeof(*v));
	double *sc = pos_arena_alloc(a, (limit ? limit : 1) * sizeof(*sc));
	if (!v || !sc)
		return POS_ERR_NOMEM;
	*out = v;
	*scores = sc;
	struct pg_sql sql;
	pg_sql_init(&sql, a);
	pg_sql_add(&sql, "SELECT " PG_MEM_COLS ", ts_rank_cd(m.tsv, qq.tq) AS s"
			 " FROM memory_shares sh JOIN memories m ON m.seq = sh.memory_seq,"
			 " (SELECT ");
	pg_sql_tsquery(&sql, match);
	pg_sql_add(&sql, " AS tq) qq WHERE sh.recipient_id = ");
	pg_sql_text(&sql, recipient_id);
	pg_sql_add(&sql, " AND m.tsv @@ qq.tq ORDER BY s DESC, m.seq DESC LIMIT ");
	pg_sql_i64(&sql, limit);
	struct pg_conn *c = pg_get(s);
	if (!c) {
		pg_sql_free(&sql);
		return POS_ERR_STORE;
	}
	PGresult *r = NULL;
	enum pos_err rc = pg_sql_run(c, &sql, &r);
	pg_put(s, c);
	pg_sql_free(&sql);
	for (int i = 0; !rc && i < pg_rows(r) && *n < limit; i++) {
		if ((rc = pg_read_memory(a, r, i, 0, &v[*n])))
			break;
		sc[*n] = pg_f64(r, i, PG_MEM_NCOLS);
		(*n)++;
	}
	PQclear(r);
	return rc;
}

const struct pos_store_shares pg_shares_ops = {
	.share_add = share_add,
	.share_remove = share_remove,
	.shared_get = shared_get,
	.shared_list = shared_list,
	.shared_search = shared_search,
};
