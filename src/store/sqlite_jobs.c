/*
 * sqlite_jobs.c — the jobs table: the persistent queue of the jobs service
 * (jobs/jobs.c; contracts in store.h). A few statements per job, not per
 * search: statements are prepared per call. Reads of one user's jobs are
 * scoped by user id.
 */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "store/sqlite_internal.h"

static sqlite3_stmt *prep(struct sq_conn *c, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
		sq_fail(c, "jobs prepare");
		return NULL;
	}
	return st;
}

static void copy_id(char *dst, sqlite3_stmt *st, int i)
{
	const unsigned char *v = sqlite3_column_text(st, i);
	snprintf(dst, POS_UUID_SIZE, "%s", v ? (const char *)v : "");
}

#define JOB_COLS "id, user_id, kind, payload, state, attempts, last_error, result," \
		 " next_run_at, created_at, updated_at, progress_done, progress_total," \
		 " item_errors, lease_until, dedupe_key"

static bool read_job(struct pos_arena *a, sqlite3_stmt *st, struct pos_job *j)
{
	copy_id(j->id, st, 0);
	copy_id(j->user_id, st, 1);
	j->kind = sq_col_str(a, st, 2, NULL);
	j->payload_json = sq_col_str(a, st, 3, NULL);
	j->state = sq_col_str(a, st, 4, NULL);
	j->attempts = sqlite3_column_int64(st, 5);
	j->last_error = sq_col_str(a, st, 6, NULL);
	j->result_json = sq_col_str(a, st, 7, NULL);
	j->next_run_at = sqlite3_column_int64(st, 8);
	j->created_at = sqlite3_column_int64(st, 9);
	j->updated_at = sqlite3_column_int64(st, 10);
	int64_t d = sqlite3_column_int64(st, 11), t = sqlite3_column_int64(st, 12);
	j->done = d > 0 ? (uint64_t)d : 0;
	j->total = t > 0 ? (uint64_t)t : 0;
	j->item_errors_json = sq_col_str(a, st, 13, NULL);
	j->lease_until = sqlite3_column_int64(st, 14);
	j->dedupe_key = sq_col_str(a, st, 15, NULL);
	return j->kind && j->payload_json && j->state;
}

/* Progress counts are stored as SQLite integers (signed 64-bit). */
static int64_t clamp_u64(uint64_t v)
{
	return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

/*
 * Runs one writing statement in a transaction: `bind` binds it, and with
 * `must_change` a statement that changed no row is POS_ERR_NOT_FOUND.
 */
static enum pos_err write_one(struct pos_store *base, const char *sql,
			      void (*bind)(sqlite3_stmt *, const void *), const void *arg,
			      bool must_change, const char *what)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	sqlite3_stmt *st = prep(c, sql);
	if (!st) {
		rc = POS_ERR_STORE;
	} else {
		bind(st, arg);
		int step = sqlite3_step(st);
		if (step == SQLITE_DONE)
			rc = POS_OK;
		else if (sqlite3_extended_errcode(c->db) == SQLITE_CONSTRAINT_UNIQUE)
			rc = POS_ERR_CONFLICT; /* the dedupe key of an active job */
		else
			rc = sq_fail(c, what);
		if (!rc && must_change && sqlite3_changes(c->db) == 0)
			rc = POS_ERR_NOT_FOUND;
		sqlite3_finalize(st);
	}
	return sq_end(s, c, rc, false);
}

static void bind_put(sqlite3_stmt *st, const void *arg)
{
	const struct pos_job *j = arg;
	sq_bind_str(st, 1, j->id);
	sq_bind_str(st, 2, j->user_id);
	sq_bind_str(st, 3, j->kind);
	sq_bind_str(st, 4, j->payload_json); /* NULL: "{}" on insert, unchanged on update */
	sq_bind_str(st, 5, j->state);
	sqlite3_bind_int64(st, 6, j->attempts);
	sq_bind_str(st, 7, j->last_error);
	sq_bind_str(st, 8, j->result_json);
	sqlite3_bind_int64(st, 9, j->next_run_at);
	sqlite3_bind_int64(st, 10, j->created_at);
	sqlite3_bind_int64(st, 11, j->updated_at);
	sqlite3_bind_int64(st, 12, clamp_u64(j->done));
	sqlite3_bind_int64(st, 13, clamp_u64(j->total));
	sq_bind_str(st, 14, j->item_errors_json);
	sqlite3_bind_int64(st, 15, j->lease_until);
	sq_bind_str(st, 16, j->dedupe_key);
}

enum pos_err sq_job_put(struct pos_store *base, const struct pos_job *j)
{
	return write_one(base, "INSERT INTO jobs(" JOB_COLS ") VALUES"
			       " (?1, ?2, ?3, COALESCE(?4, '{}'), ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
			       " ?15, ?16)",
			 bind_put, j, false, "job put");
}

enum pos_err sq_job_update(struct pos_store *base, const struct pos_job *j)
{
	return write_one(base, "UPDATE jobs SET payload = COALESCE(?4, payload), state = ?5,"
			       " attempts = ?6, last_error = ?7, result = ?8, next_run_at = ?9,"
			       " updated_at = ?11, progress_done = ?12, progress_total = ?13,"
			       " item_errors = ?14"
			       " WHERE id = ?1 AND user_id = ?2 AND kind = ?3"
			       " AND state = 'running'",
			 bind_put, j, true, "job update");
}

struct progress_args {
	const char *id;
	uint64_t done, total;
	int64_t now;
};

static void bind_progress(sqlite3_stmt *st, const void *arg)
{
	const struct progress_args *p = arg;
	sq_bind_str(st, 1, p->id);
	sqlite3_bind_int64(st, 2, clamp_u64(p->done));
	sqlite3_bind_int64(st, 3, clamp_u64(p->total));
	sqlite3_bind_int64(st, 4, p->now);
}

enum pos_err sq_job_progress(struct pos_store *base, const char *id, uint64_t done,
			     uint64_t total, int64_t now)
{
	struct progress_args p = {id, done, total, now};
	return write_one(base, "UPDATE jobs SET progress_done = ?2, progress_total = ?3,"
			       " updated_at = ?4 WHERE id = ?1 AND state = 'running'",
			 bind_progress, &p, true, "job progress");
}

enum pos_err sq_job_claim(struct pos_store *base, struct pos_arena *a, int64_t now,
			  int64_t lease_until, const char *kinds_json, const char *serial_json, struct pos_job *out)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	sqlite3_stmt *st = prep(c,
		"UPDATE jobs SET state = 'running', attempts = attempts + 1, updated_at = ?1,"
		" lease_until = ?4"
		" WHERE id = (SELECT q.id FROM jobs q"
		"  WHERE q.state = 'queued' AND q.next_run_at <= ?1"
		"  AND q.kind IN (SELECT value FROM json_each(?2))"
		"  AND NOT (q.kind IN (SELECT value FROM json_each(?3)) AND EXISTS"
		"   (SELECT 1 FROM jobs r WHERE r.state = 'running' AND r.kind = q.kind"
		"    AND r.user_id = q.user_id))"
		"  ORDER BY q.next_run_at, q.created_at LIMIT 1) RETURNING " JOB_COLS);
	if (!st) {
		rc = POS_ERR_STORE;
	} else {
		sqlite3_bind_int64(st, 1, now);
		sq_bind_str(st, 2, kinds_json ? kinds_json : "[]");
		sq_bind_str(st, 3, serial_json ? serial_json : "[]");
		sqlite3_bind_int64(st, 4, lease_until);
		int step = sqlite3_step(st);
		if (step == SQLITE_ROW)
			rc = read_job(a, st, out) ? POS_OK : POS_ERR_NOMEM;
		else if (step == SQLITE_DONE)
			rc = POS_ERR_NOT_FOUND;
		else
			rc = sq_fail(c, "job claim");
		if (step == SQLITE_ROW && sqlite3_step(st) != SQLITE_DONE && !rc)
			rc = sq_fail(c, "job claim");
		sqlite3_finalize(st);
	}
	/* NOT_FOUND changed nothing: commit the empty transaction anyway. */
	return sq_end(s, c, rc, rc == POS_ERR_NOT_FOUND);
}

enum pos_err sq_job_get(struct pos_store *base, struct pos_arena *a, const char *user_id,
			const char *id, struct pos_job *out)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	sqlite3_stmt *st = c ? prep(c, "SELECT " JOB_COLS " FROM jobs WHERE id = ?1"
					" AND (?2 IS NULL OR user_id = ?2)")
			     : NULL;
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, id);
	sq_bind_str(st, 2, user_id);
	enum pos_err rc = POS_ERR_NOT_FOUND;
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		rc = read_job(a, st, out) ? POS_OK : POS_ERR_NOMEM;
	else if (step != SQLITE_DONE)
		rc = sq_fail(c, "job get");
	sqlite3_finalize(st);
	return rc;
}

enum pos_err sq_job_list(struct pos_store *base, struct pos_arena *a, const char *user_id,
			 const char *kind, size_t limit, struct pos_job **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	sqlite3_stmt *st = c ? prep(c, "SELECT " JOB_COLS " FROM jobs WHERE user_id = ?1"
					" AND (?2 IS NULL OR kind = ?2)"
					" ORDER BY created_at DESC, id DESC LIMIT ?3")
			     : NULL;
	if (!st)
		return POS_ERR_STORE;
	struct pos_job *v = limit ? pos_arena_alloc(a, limit * sizeof(*v)) : NULL;
	enum pos_err rc = limit && !v ? POS_ERR_NOMEM : POS_OK;
	sq_bind_str(st, 1, user_id);
	sq_bind_str(st, 2, kind);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)limit);
	while (!rc && *n < limit) {
		int step = sqlite3_step(st);
		if (step == SQLITE_DONE)
			break;
		if (step != SQLITE_ROW) {
			rc = sq_fail(c, "job list");
			break;
		}
		memset(&v[*n], 0, sizeof(v[*n]));
		if (!read_job(a, st, &v[*n]))
			rc = POS_ERR_NOMEM;
		else
			(*n)++;
	}
	sqlite3_finalize(st);
	if (rc)
		*n = 0;
	else
		*out = v;
	return rc;
}

enum pos_err sq_job_cancel(struct pos_store *base, const char *user_id, const char *id,
			   int64_t now)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	sqlite3_stmt *st = prep(c, "UPDATE jobs SET state = 'cancelled', updated_at = ?3,"
				   " last_error = 'cancelled' WHERE id = ?1 AND user_id = ?2"
				   " AND state IN ('queued', 'running')");
	if (!st) {
		rc = POS_ERR_STORE;
	} else {
		sq_bind_str(st, 1, id);
		sq_bind_str(st, 2, user_id);
		sqlite3_bind_int64(st, 3, now);
		rc = sqlite3_step(st) == SQLITE_DONE ? POS_OK : sq_fail(c, "job cancel");
		bool changed = sqlite3_changes(c->db) > 0;
		sqlite3_finalize(st);
		if (!rc && !changed) {
			/* finished (conflict) or not the user's (not found) */
			st = prep(c, "SELECT 1 FROM jobs WHERE id = ?1 AND user_id = ?2");
			if (!st) {
				rc = POS_ERR_STORE;
			} else {
				sq_bind_str(st, 1, id);
				sq_bind_str(st, 2, user_id);
				int step = sqlite3_step(st);
				rc = step == SQLITE_ROW    ? POS_ERR_CONFLICT
				     : step == SQLITE_DONE ? POS_ERR_NOT_FOUND
							   : sq_fail(c, "job cancel");
				sqlite3_finalize(st);
			}
		}
	}
	return sq_end(s, c, rc, false);
}

struct renew_args {
	const char *json;
	int64_t t;
};

static void bind_renew(sqlite3_stmt *st, const void *arg)
{
	const struct renew_args *r = arg;
	sq_bind_str(st, 1, r->json ? r->json : "[]");
	sqlite3_bind_int64(st, 2, r->t);
}

enum pos_err sq_jobs_renew(struct pos_store *base, const char *ids_json, int64_t lease_until)
{
	struct renew_args r = {ids_json, lease_until};
	return write_one(base, "UPDATE jobs SET lease_until = ?2 WHERE state = 'running'"
			       " AND id IN (SELECT value FROM json_each(?1))",
			 bind_renew, &r, false, "jobs renew");
}

enum pos_err sq_jobs_requeue(struct pos_store *base, const char *kinds_json, int64_t now,
			     int64_t *n)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (n)
		*n = 0;
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	/* A lease still running is a live process's: never taken from it. */
	sqlite3_stmt *st = prep(c, "UPDATE jobs SET state = 'queued', lease_until = NULL"
				   " WHERE state = 'running' AND coalesce(lease_until, 0) < ?2"
				   " AND kind IN (SELECT value FROM json_each(?1))");
	if (!st) {
		rc = POS_ERR_STORE;
	} else {
		sq_bind_str(st, 1, kinds_json ? kinds_json : "[]");
		sqlite3_bind_int64(st, 2, now);
		rc = sqlite3_step(st) == SQLITE_DONE ? POS_OK : sq_fail(c, "jobs requeue");
		if (!rc && n)
			*n = sqlite3_changes(c->db);
		sqlite3_finalize(st);
	}
	return sq_end(s, c, rc, false);
}

enum pos_err sq_jobs_queued(struct pos_store *base, const char *user_id, const char *kinds_json,
			    size_t *n)
{
	*n = 0;
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	sqlite3_stmt *st = c ? prep(c, "SELECT count(*) FROM jobs WHERE user_id = ?1"
					" AND state = 'queued'"
					" AND kind IN (SELECT value FROM json_each(?2))")
			     : NULL;
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, user_id);
	sq_bind_str(st, 2, kinds_json ? kinds_json : "[]");
	enum pos_err rc = POS_OK;
	if (sqlite3_step(st) == SQLITE_ROW)
		*n = (size_t)sqlite3_column_int64(st, 0);
	else
		rc = sq_fail(c, "jobs queued");
	sqlite3_finalize(st);
	return rc;
}

static void bind_time(sqlite3_stmt *st, const void *arg)
{
	sqlite3_bind_int64(st, 1, *(const int64_t *)arg);
}

enum pos_err sq_jobs_prune(struct pos_store *base, int64_t before)
{
	return write_one(base, "DELETE FROM jobs WHERE state IN ('done', 'failed', 'cancelled')"
			       " AND updated_at < ?1",
			 bind_time, &before, false, "jobs prune");
}
