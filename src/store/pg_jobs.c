/*
 * pg_jobs.c — the jobs table on PostgreSQL: the persistent queue of the
 * jobs service (jobs/jobs.c; contracts in store.h), shared by every
 * instance on the database. A claim is one statement that locks the row it
 * takes with FOR UPDATE SKIP LOCKED, so two instances claiming at once get
 * two different jobs (or one gets none), never the same one; kinds serial
 * per user stay serial across instances (job_claim). Port of
 * sqlite_jobs.c: same columns, same semantics, same errors.
 */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "store/pg_internal.h"

/* The jobs table of SQLite after migration 18 (lease_until, dedupe_key). */
const char pg_ddl_jobs[] =
	/* no foreign key: a MemU delete job outlives the deleted account */
	"CREATE TABLE IF NOT EXISTS jobs ("
	" id text PRIMARY KEY,"
	" user_id text NOT NULL,"
	" kind text NOT NULL,"
	" payload text NOT NULL,"
	" state text NOT NULL,"
	" attempts bigint NOT NULL DEFAULT 0,"
	" last_error text,"
	" result text,"
	" next_run_at bigint NOT NULL,"
	" created_at bigint NOT NULL,"
	" updated_at bigint NOT NULL,"
	" progress_done bigint NOT NULL DEFAULT 0,"
	" progress_total bigint NOT NULL DEFAULT 0,"
	" item_errors text,"
	" lease_until bigint,"
	" dedupe_key text);"
	"CREATE INDEX IF NOT EXISTS jobs_due ON jobs(state, next_run_at);"
	"CREATE INDEX IF NOT EXISTS jobs_user ON jobs(user_id);"
	"CREATE INDEX IF NOT EXISTS jobs_user_created ON jobs(user_id, created_at);"
	"CREATE UNIQUE INDEX IF NOT EXISTS jobs_dedupe ON jobs(kind, dedupe_key)"
	" WHERE dedupe_key IS NOT NULL AND state IN ('queued', 'running');"
	"CREATE INDEX IF NOT EXISTS jobs_lease ON jobs(lease_until) WHERE state = 'running';";

#define JOB_COLS "id, user_id, kind, payload, state, attempts, last_error, result," \
		 " next_run_at, created_at, updated_at, progress_done, progress_total," \
		 " item_errors, lease_until, dedupe_key"

/* A JSON array of names as a set, for `x IN (...)`. */
#define NAMES(n) "(SELECT jsonb_array_elements_text(" n "::jsonb))"

PG_STMT(st_put, "INSERT INTO jobs(" JOB_COLS ") VALUES ($1, $2, $3, COALESCE($4::text, '{}'),"
		" $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)");
PG_STMT(st_update, "UPDATE jobs SET payload = COALESCE($4::text, payload), state = $5,"
		   " attempts = $6, last_error = $7, result = $8, next_run_at = $9,"
		   " updated_at = $10, progress_done = $11, progress_total = $12,"
		   " item_errors = $13"
		   " WHERE id = $1 AND user_id = $2 AND kind = $3 AND state = 'running'");
PG_STMT(st_progress, "UPDATE jobs SET progress_done = $2, progress_total = $3,"
		     " updated_at = $4 WHERE id = $1 AND state = 'running'");
/*
 * The claim: the subquery picks the oldest due job and locks it, skipping
 * rows another transaction holds; a row another instance claimed and
 * committed meanwhile fails the re-checked `state = 'queued'` and is not
 * taken.
 */
PG_STMT(st_claim,
	"UPDATE jobs SET state = 'running', attempts = attempts + 1, updated_at = $1,"
	" lease_until = $2"
	" WHERE id = (SELECT q.id FROM jobs q"
	"  WHERE q.state = 'queued' AND q.next_run_at <= $1"
	"  AND q.kind IN " NAMES("$3")
	"  AND NOT (q.kind IN " NAMES("$4") " AND EXISTS"
	"   (SELECT 1 FROM jobs r WHERE r.state = 'running' AND r.kind = q.kind"
	"    AND r.user_id = q.user_id))"
	"  ORDER BY q.next_run_at, q.created_at LIMIT 1"
	"  FOR UPDATE SKIP LOCKED)"
	" AND state = 'queued' RETURNING " JOB_COLS);
/* One key for all claimers of the database ('jobs' in ASCII). */
PG_STMT(st_claim_lock, "SELECT pg_advisory_xact_lock(1785688691)");
PG_STMT(st_get, "SELECT " JOB_COLS " FROM jobs WHERE id = $1"
		" AND ($2::text IS NULL OR user_id = $2::text)");
PG_STMT(st_list, "SELECT " JOB_COLS " FROM jobs WHERE user_id = $1"
		 " AND ($2::text IS NULL OR kind = $2::text)"
		 " ORDER BY created_at DESC, id DESC LIMIT $3");
PG_STMT(st_cancel, "UPDATE jobs SET state = 'cancelled', updated_at = $3,"
		   " last_error = 'cancelled' WHERE id = $1 AND user_id = $2"
		   " AND state IN ('queued', 'running')");
PG_STMT(st_exists, "SELECT 1 FROM jobs WHERE id = $1 AND user_id = $2");
PG_STMT(st_renew, "UPDATE jobs SET lease_until = $2 WHERE state = 'running'"
		  " AND id IN " NAMES("$1"));
/* A lease still running is a live instance's: never taken from it. */
PG_STMT(st_requeue, "UPDATE jobs SET state = 'queued', lease_until = NULL"
		    " WHERE state = 'running' AND coalesce(lease_until, 0) < $2"
		    " AND kind IN " NAMES("$1"));
PG_STMT(st_queued, "SELECT count(*) FROM jobs WHERE user_id = $1 AND state = 'queued'"
		   " AND kind IN " NAMES("$2"));
PG_STMT(st_prune, "DELETE FROM jobs WHERE state IN ('done', 'failed', 'cancelled')"
		  " AND updated_at < $1");

static bool read_job(struct pos_arena *a, PGresult *r, int row, struct pos_job *j)
{
	memset(j, 0, sizeof(*j));
	pg_uuid(j->id, r, row, 0);
	pg_uuid(j->user_id, r, row, 1);
	j->kind = pg_text(a, r, row, 2);
	j->payload_json = pg_text(a, r, row, 3);
	j->state = pg_text(a, r, row, 4);
	j->attempts = pg_i64(r, row, 5);
	j->last_error = pg_text(a, r, row, 6);
	j->result_json = pg_text(a, r, row, 7);
	j->next_run_at = pg_i64(r, row, 8);
	j->created_at = pg_i64(r, row, 9);
	j->updated_at = pg_i64(r, row, 10);
	int64_t d = pg_i64(r, row, 11), t = pg_i64(r, row, 12);
	j->done = d > 0 ? (uint64_t)d : 0;
	j->total = t > 0 ? (uint64_t)t : 0;
	j->item_errors_json = pg_text(a, r, row, 13);
	j->lease_until = pg_i64(r, row, 14);
	j->dedupe_key = pg_text(a, r, row, 15);
	return j->kind && j->payload_json && j->state;
}

/* Progress counts are stored as bigint (signed 64-bit). */
static int64_t clamp_u64(uint64_t v)
{
	return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

/*
 * Runs one statement on a borrowed connection; *affected (may be NULL)
 * receives the rows it changed, *out (may be NULL) its rows. A unique
 * violation is POS_ERR_CONFLICT (the dedupe key of an active job).
 */
static enum pos_err run1(struct pos_store *s, const struct pg_stmt *st,
			 const struct pg_params *p, uint64_t *affected, PGresult **out)
{
	struct pg_conn *c = pg_get(s);
	if (!c)
		return POS_ERR_STORE;
	PGresult *r = NULL;
	enum pos_err rc = pg_run(c, st, p, &r);
	if (rc && !strcmp(pg_last_sqlstate(c), "23505"))
		rc = POS_ERR_CONFLICT;
	if (!rc && affected)
		*affected = pg_affected(r);
	if (!rc && out) {
		*out = r;
		r = NULL;
	}
	PQclear(r);
	pg_put(s, c);
	return rc;
}

static void params_job(struct pg_params *p, const struct pos_job *j, bool insert)
{
	pg_p_text(p, j->id);
	pg_p_text(p, j->user_id);
	pg_p_text(p, j->kind);
	pg_p_text(p, j->payload_json); /* NULL: "{}" on insert, unchanged on update */
	pg_p_text(p, j->state);
	pg_p_i64(p, j->attempts);
	pg_p_text(p, j->last_error);
	pg_p_text(p, j->result_json);
	pg_p_i64(p, j->next_run_at);
	if (insert)
		pg_p_i64(p, j->created_at);
	pg_p_i64(p, j->updated_at);
	pg_p_i64(p, clamp_u64(j->done));
	pg_p_i64(p, clamp_u64(j->total));
	pg_p_text(p, j->item_errors_json);
	if (insert) {
		pg_p_i64(p, j->lease_until);
		pg_p_text(p, j->dedupe_key);
	}
}

static enum pos_err job_put(struct pos_store *s, const struct pos_job *j)
{
	struct pg_params p = {0};
	params_job(&p, j, true);
	return run1(s, &st_put, &p, NULL, NULL);
}

static enum pos_err job_update(struct pos_store *s, const struct pos_job *j)
{
	struct pg_params p = {0};
	params_job(&p, j, false);
	uint64_t n = 0;
	enum pos_err rc = run1(s, &st_update, &p, &n, NULL);
	return !rc && n == 0 ? POS_ERR_NOT_FOUND : rc;
}

static enum pos_err job_progress(struct pos_store *s, const char *id, uint64_t done,
				 uint64_t total, int64_t now)
{
	struct pg_params p = {0};
	pg_p_text(&p, id);
	pg_p_i64(&p, clamp_u64(done));
	pg_p_i64(&p, clamp_u64(total));
	pg_p_i64(&p, now);
	uint64_t n = 0;
	enum pos_err rc = run1(s, &st_progress, &p, &n, NULL);
	return !rc && n == 0 ? POS_ERR_NOT_FOUND : rc;
}

/* The first row of a result as a job: NOT_FOUND when there is none. */
static enum pos_err one_job(struct pos_arena *a, PGresult *r, struct pos_job *out)
{
	if (pg_rows(r) < 1)
		return POS_ERR_NOT_FOUND;
	return read_job(a, r, 0, out) ? POS_OK : POS_ERR_NOMEM;
}

/*
 * With serial kinds the claim runs after taking a transaction-scoped
 * advisory lock that every claimer of the database takes: the check "no
 * other running job of this kind for the user" then sees what a claim of
 * another instance just committed (it is a new statement, so a new
 * snapshot). Claims are a few per second per instance; the lock costs
 * nothing next to the jobs they start.
 */
static enum pos_err job_claim(struct pos_store *s, struct pos_arena *a, int64_t now,
			      int64_t lease_until, const char *kinds_json,
			      const char *serial_json, struct pos_job *out)
{
	struct pg_params p = {0};
	pg_p_i64(&p, now);
	pg_p_i64(&p, lease_until);
	pg_p_text(&p, kinds_json ? kinds_json : "[]");
	pg_p_text(&p, serial_json ? serial_json : "[]");
	bool serial = serial_json && strcmp(serial_json, "[]") != 0;
	struct pg_conn *c = pg_get(s);
	if (!c)
		return POS_ERR_STORE;
	PGresult *r = NULL;
	enum pos_err rc = POS_OK;
	struct pg_params none = {0};
	if (serial && (!(rc = pg_begin(c))))
		rc = pg_run(c, &st_claim_lock, &none, NULL);
	if (!rc)
		rc = pg_run(c, &st_claim, &p, &r);
	if (!rc && serial)
		rc = pg_commit(c);
	if (!rc)
		rc = one_job(a, r, out);
	PQclear(r);
	pg_put(s, c); /* rolls back what is open */
	return rc;
}

static enum pos_err job_get(struct pos_store *s, struct pos_arena *a, const char *user_id,
			    const char *id, struct pos_job *out)
{
	struct pg_params p = {0};
	pg_p_text(&p, id);
	pg_p_text(&p, user_id);
	PGresult *r = NULL;
	enum pos_err rc = run1(s, &st_get, &p, NULL, &r);
	if (!rc)
		rc = one_job(a, r, out);
	PQclear(r);
	return rc;
}

static enum pos_err job_list(struct pos_store *s, struct pos_arena *a, const char *user_id,
			     const char *kind, size_t limit, struct pos_job **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	struct pg_params p = {0};
	pg_p_text(&p, user_id);
	pg_p_text(&p, kind);
	pg_p_i64(&p, (int64_t)limit);
	PGresult *r = NULL;
	enum pos_err rc = run1(s, &st_list, &p, NULL, &r);
	if (rc)
		return rc;
	int rows = pg_rows(r);
	struct pos_job *v = rows ? pos_arena_zalloc(a, (size_t)rows * sizeof(*v)) : NULL;
	if (rows && !v)
		rc = POS_ERR_NOMEM;
	for (int i = 0; !rc && i < rows; i++)
		if (!read_job(a, r, i, &v[i]))
			rc = POS_ERR_NOMEM;
	PQclear(r);
	if (!rc) {
		*out = v;
		*n = (size_t)rows;
	}
	return rc;
}

static enum pos_err job_cancel(struct pos_store *s, const char *user_id, const char *id,
			       int64_t now)
{
	struct pg_params p = {0};
	pg_p_text(&p, id);
	pg_p_text(&p, user_id);
	pg_p_i64(&p, now);
	uint64_t n = 0;
	enum pos_err rc = run1(s, &st_cancel, &p, &n, NULL);
	if (rc || n)
		return rc;
	/* finished (conflict) or not the user's (not found) */
	struct pg_params q = {0};
	pg_p_text(&q, id);
	pg_p_text(&q, user_id);
	PGresult *r = NULL;
	rc = run1(s, &st_exists, &q, NULL, &r);
	if (!rc)
		rc = pg_rows(r) ? POS_ERR_CONFLICT : POS_ERR_NOT_FOUND;
	PQclear(r);
	return rc;
}

static enum pos_err jobs_renew(struct pos_store *s, const char *ids_json, int64_t lease_until)
{
	struct pg_params p = {0};
	pg_p_text(&p, ids_json ? ids_json : "[]");
	pg_p_i64(&p, lease_until);
	return run1(s, &st_renew, &p, NULL, NULL);
}

static enum pos_err jobs_requeue(struct pos_store *s, const char *kinds_json, int64_t now,
				 int64_t *n)
{
	if (n)
		*n = 0;
	struct pg_params p = {0};
	pg_p_text(&p, kinds_json ? kinds_json : "[]");
	pg_p_i64(&p, now);
	uint64_t changed = 0;
	enum pos_err rc = run1(s, &st_requeue, &p, &changed, NULL);
	if (!rc && n)
		*n = (int64_t)changed;
	return rc;
}

static enum pos_err jobs_queued(struct pos_store *s, const char *user_id,
				const char *kinds_json, size_t *n)
{
	*n = 0;
	struct pg_params p = {0};
	pg_p_text(&p, user_id);
	pg_p_text(&p, kinds_json ? kinds_json : "[]");
	PGresult *r = NULL;
	enum pos_err rc = run1(s, &st_queued, &p, NULL, &r);
	if (!rc && pg_rows(r) > 0)
		*n = (size_t)pg_i64(r, 0, 0);
	PQclear(r);
	return rc;
}

static enum pos_err jobs_prune(struct pos_store *s, int64_t before)
{
	struct pg_params p = {0};
	pg_p_i64(&p, before);
	return run1(s, &st_prune, &p, NULL, NULL);
}

const struct pos_store_jobs pg_jobs_ops = {
	.job_put = job_put,
	.job_claim = job_claim,
	.job_update = job_update,
	.job_progress = job_progress,
	.job_get = job_get,
	.job_list = job_list,
	.job_cancel = job_cancel,
	.jobs_renew = jobs_renew,
	.jobs_requeue = jobs_requeue,
	.jobs_queued = jobs_queued,
	.jobs_prune = jobs_prune,
};
