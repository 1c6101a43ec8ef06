/*
 * pg_internal.h — shared between the files of the PostgreSQL backend
 * (src/store/pg*.c): the connection pool, prepared statements, parameter
 * building, running statements, transactions and reading results. Not for
 * use outside src/store/pg*.c and src/store/open.c.
 *
 * Each domain file (pg_accounts.c, pg_memories.c, ...) defines its vtable
 * as a global const `pg_<domain>_ops` and its DDL as `pg_ddl_<domain>[]`;
 * pg.c wires them into the store and runs the DDL as schema version 1.
 *
 * Usage:
 *   PG_STMT(st_user_by_id, "SELECT ... FROM users WHERE id = $1");
 *   struct pg_conn *c = pg_get(s);
 *   if (!c) return POS_ERR_STORE;
 *   struct pg_params p = {0};
 *   pg_p_text(&p, id);
 *   PGresult *r = NULL;
 *   enum pos_err rc = pg_run(c, &st_user_by_id, &p, &r);
 *   ... pg_text(a, r, 0, 0) ...
 *   PQclear(r);
 *   pg_put(s, c);
 *
 * Thread-safety: pg_get/pg_put from any thread; a borrowed connection is
 * the borrower's alone until it is given back.
 */
#ifndef POS_STORE_PG_INTERNAL_H
#define POS_STORE_PG_INTERNAL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/err.h"
#include "store/store.h"

struct pg_pool;
struct pg_keys;

struct pg_store {                /* the backend; base first */
	struct pos_store base;
	/* pool, conninfo, server-key state: pg.c's business */
	struct pg_pool *pool;
	struct pg_keys *keys;
};

struct pg_conn;                  /* one pooled connection */

/* Borrows a connection from the pool (waits up to 5 s; NULL + logged when
 * none). Always give it back with pg_put, on every path. */
struct pg_conn *pg_get(struct pos_store *s);
void pg_put(struct pos_store *s, struct pg_conn *c);

/* A statement prepared once per connection (lazily, on first use): declare
 * them file-static: PG_STMT(st_user_by_id, "SELECT ... WHERE id = $1");
 * The statement is known by the address of its struct; `name` is only for
 * log lines. */
struct pg_stmt { const char *name; const char *sql; };
#define PG_STMT(var, text) static const struct pg_stmt var = { #var, text }

/* Parameters, all sent as text except bytes (binary). Up to PG_MAX_PARAMS
 * (more are ignored and make pg_run fail, logged). Zero-initialise. */
#define PG_MAX_PARAMS 40
struct pg_params {
	int n;
	const char *v[PG_MAX_PARAMS];
	int len[PG_MAX_PARAMS], fmt[PG_MAX_PARAMS];
	char num[PG_MAX_PARAMS][32];     /* storage for numbers */
};
void pg_p_text(struct pg_params *p, const char *s);        /* NULL → SQL NULL */
void pg_p_textn(struct pg_params *p, const char *s, size_t n); /* not NUL-terminated */
void pg_p_i64(struct pg_params *p, int64_t v);
void pg_p_f64(struct pg_params *p, double v);
void pg_p_bytes(struct pg_params *p, const void *b, size_t n); /* NULL → SQL NULL */
void pg_p_null(struct pg_params *p);

/* Runs a prepared statement / an ad-hoc SQL text (dynamic filters). Results
 * are text format. *out (may be NULL when the caller wants no rows) must be
 * PQclear'ed. Returns POS_OK or POS_ERR_STORE (logged: statement name +
 * SQLSTATE, never values). A caller that expects a unique violation checks
 * pg_last_sqlstate(c) == "23505" and maps it (e.g. POS_ERR_EMAIL_TAKEN). */
enum pos_err pg_run(struct pg_conn *c, const struct pg_stmt *st,
		    const struct pg_params *p, PGresult **out);
enum pos_err pg_run_sql(struct pg_conn *c, const char *sql,
			const struct pg_params *p, PGresult **out);
const char *pg_last_sqlstate(struct pg_conn *c);   /* "" when none */
uint64_t pg_affected(PGresult *r);                 /* PQcmdTuples as a number */

/* Transactions (BEGIN / COMMIT / ROLLBACK); pg_put rolls back an open one. */
enum pos_err pg_begin(struct pg_conn *c);
enum pos_err pg_commit(struct pg_conn *c);
void pg_rollback(struct pg_conn *c);

/* Readers (row r, column i): text copied into the arena (NULL for SQL NULL),
 * numbers parsed (0 for NULL), bytea decoded into the arena. */
const char *pg_text(struct pos_arena *a, PGresult *res, int r, int i);
int64_t pg_i64(PGresult *res, int r, int i);
double pg_f64(PGresult *res, int r, int i);
bool pg_isnull(PGresult *res, int r, int i);
enum pos_err pg_bytes(struct pos_arena *a, PGresult *res, int r, int i,
		      const uint8_t **out, size_t *len);

extern const char pg_ddl_accounts[], pg_ddl_keys[], pg_ddl_memories[],
	pg_ddl_chat[], pg_ddl_shares[], pg_ddl_jobs[], pg_ddl_sync[],
	pg_ddl_plugins[], pg_ddl_files[];
extern const struct pos_store_accounts pg_accounts_ops;
extern const struct pos_store_memories pg_memories_ops;
extern const struct pos_store_chat pg_chat_ops;
extern const struct pos_store_jobs pg_jobs_ops;
extern const struct pos_store_sync pg_sync_ops;
extern const struct pos_store_shares pg_shares_ops;
extern const struct pos_store_keys pg_keys_ops;
extern const struct pos_store_plugins pg_plugins_ops;
extern const struct pos_store_files pg_files_ops;

/* ---- pgcore helpers (added; the API above stays as it is) ---- */

/* Column i as a time: POS_TIME_NONE for SQL NULL. */
int64_t pg_time(PGresult *res, int r, int i);
/* A time parameter: POS_TIME_NONE sends SQL NULL. */
void pg_p_time(struct pg_params *p, int64_t t);
/* Copies column i (a UUID as text) into dst (POS_UUID_SIZE); "" for NULL. */
void pg_uuid(char dst[POS_UUID_SIZE], PGresult *res, int r, int i);
/* Rows of a result (0 for NULL). */
int pg_rows(PGresult *res);
/* Runs `sql` (no parameters, may hold several statements). */
enum pos_err pg_exec(struct pg_conn *c, const char *sql);

/* The pool's side of a connection (pg.c): open one for pool slot `slot`
 * (NULL, logged, when the server cannot be reached); close; its slot;
 * make it ready to lend again after use (rolls back an open transaction,
 * reconnects a broken one: false when that failed); make sure it is
 * connected before lending it (false when it cannot be); its PGconn. */
struct pg_conn *pg_conn_open(const char *conninfo, unsigned slot);
void pg_conn_close(struct pg_conn *c);
unsigned pg_conn_slot(const struct pg_conn *c);
bool pg_conn_release(struct pg_conn *c);
bool pg_conn_usable(struct pg_conn *c);
PGconn *pg_conn_db(struct pg_conn *c);

/* ---- pgmem: memory-row reader (pg_memrow.c), declarations below ---- */

#endif
