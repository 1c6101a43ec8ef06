/*
 * pg_util.c — the PostgreSQL backend's plumbing (pg_internal.h): one
 * connection with its lazily prepared statements, parameter building,
 * running statements, transactions and result readers.
 *
 * Logging: a failed statement logs its name and SQLSTATE (and, for the
 * class-42 errors that are bugs in our SQL, the server's message, which
 * names tables and columns); never parameter values or row data.
 */
#include "store/pg_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/uuid.h"

/* Prepared statements a connection remembers (open addressing by the
 * address of the struct pg_stmt). More than that run unprepared. */
#define STMT_SLOTS 1024

struct pg_conn {
	PGconn *db;
	char *conninfo;               /* borrowed from the pool */
	unsigned slot;                /* index in the pool */
	unsigned n_prepared;
	const struct pg_stmt *prepared[STMT_SLOTS];
	char sqlstate[6];
};

/* Drops notices ("relation already exists, skipping") instead of printing
 * them on stderr. */
static void quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static PGconn *connect_db(const char *url)
{
	/* Ours first, the URL last: what the operator wrote wins. */
	static const char *const keys[] = {"application_name", "connect_timeout",
					   "client_encoding", "dbname", NULL};
	const char *vals[] = {"personalos", "10", "UTF8", url, NULL};
	PGconn *db = PQconnectdbParams(keys, vals, 1);
	if (!db)
		return NULL;
	if (PQstatus(db) != CONNECTION_OK) {
		/* libpq's message names host and port, never a password */
		const char *m = PQerrorMessage(db);
		size_t n = strcspn(m, "\n");
		pos_error_log("store(pg): cannot connect: %.*s", (int)n, m);
		PQfinish(db);
		return NULL;
	}
	PQsetNoticeProcessor(db, quiet, NULL);
	return db;
}

struct pg_conn *pg_conn_open(const char *conninfo, unsigned slot)
{
	struct pg_conn *c = pos_calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->conninfo = (char *)conninfo;
	c->slot = slot;
	c->db = connect_db(conninfo);
	if (!c->db) {
		pos_free(c);
		return NULL;
	}
	return c;
}

void pg_conn_close(struct pg_conn *c)
{
	if (!c)
		return;
	if (c->db)
		PQfinish(c->db);
	pos_free(c);
}

unsigned pg_conn_slot(const struct pg_conn *c)
{
	return c->slot;
}

PGconn *pg_conn_db(struct pg_conn *c)
{
	return c->db;
}

/* Reconnects (the server restarted, the socket broke): prepared
 * statements are gone with the old session. */
static bool conn_reset(struct pg_conn *c)
{
	memset(c->prepared, 0, sizeof(c->prepared));
	c->n_prepared = 0;
	if (c->db)
		PQfinish(c->db);
	c->db = connect_db(c->conninfo);
	return c->db != NULL;
}

bool pg_conn_release(struct pg_conn *c)
{
	if (c->db && PQstatus(c->db) == CONNECTION_OK &&
	    PQtransactionStatus(c->db) != PQTRANS_IDLE)
		pg_rollback(c);
	if (!c->db || PQstatus(c->db) != CONNECTION_OK ||
	    PQtransactionStatus(c->db) != PQTRANS_IDLE)
		return conn_reset(c);
	c->sqlstate[0] = '\0';
	return true;
}

bool pg_conn_usable(struct pg_conn *c)
{
	if (c->db && PQstatus(c->db) == CONNECTION_OK)
		return true;
	return conn_reset(c);
}

/* ---- parameters ---- */

static bool room(struct pg_params *p)
{
	if (p->n >= PG_MAX_PARAMS) {
		p->n = PG_MAX_PARAMS + 1; /* pg_run refuses */
		return false;
	}
	return true;
}

void pg_p_text(struct pg_params *p, const char *s)
{
	if (!room(p))
		return;
	p->v[p->n] = s;
	p->len[p->n] = 0;
	p->fmt[p->n] = 0;
	p->n++;
}

/* Sent in binary format: text's binary form is its bytes, so no copy is
 * needed to terminate it. The parameter's type must be text. */
void pg_p_textn(struct pg_params *p, const char *s, size_t n)
{
	if (!room(p))
		return;
	p->v[p->n] = s ? (n ? s : "") : NULL;
	p->len[p->n] = (int)n;
	p->fmt[p->n] = s ? 1 : 0;
	p->n++;
}

void pg_p_i64(struct pg_params *p, int64_t v)
{
	if (!room(p))
		return;
	snprintf(p->num[p->n], sizeof(p->num[0]), "%" PRId64, v);
	pg_p_text(p, p->num[p->n]);
}

void pg_p_f64(struct pg_params *p, double v)
{
	if (!room(p))
		return;
	if (isnan(v))
		snprintf(p->num[p->n], sizeof(p->num[0]), "NaN");
	else if (isinf(v))
		snprintf(p->num[p->n], sizeof(p->num[0]), "%s", v > 0 ? "Infinity" : "-Infinity");
	else
		snprintf(p->num[p->n], sizeof(p->num[0]), "%.17g", v);
	pg_p_text(p, p->num[p->n]);
}

void pg_p_bytes(struct pg_params *p, const void *b, size_t n)
{
	if (!room(p))
		return;
	p->v[p->n] = b ? (n ? (const char *)b : "") : NULL;
	p->len[p->n] = (int)n;
	p->fmt[p->n] = b ? 1 : 0;
	p->n++;
}

void pg_p_null(struct pg_params *p)
{
	pg_p_text(p, NULL);
}

void pg_p_time(struct pg_params *p, int64_t t)
{
	if (t == POS_TIME_NONE)
		pg_p_null(p);
	else
		pg_p_i64(p, t);
}

/* ---- running ---- */

static size_t stmt_hash(const struct pg_stmt *st)
{
	uintptr_t h = (uintptr_t)st;
	h ^= h >> 17;
	h *= (uintptr_t)0x9E3779B97F4A7C15ull;
	return (size_t)(h >> 7) % STMT_SLOTS;
}

static void log_failure(struct pg_conn *c, const char *what, PGresult *r)
{
	const char *state = c->sqlstate[0] ? c->sqlstate : "-----";
	/* an expected outcome the caller maps (unique violation) */
	enum pos_log_level lvl = strcmp(state, "23505") == 0 ? POS_LOG_DEBUG : POS_LOG_ERROR;
	const char *cons = r ? PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME) : NULL;
	if (strncmp(state, "42", 2) == 0 && r) {
		/* our SQL is wrong: the message names objects, not data */
		const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
		pos_log(lvl, "store(pg): %s: SQLSTATE %s: %s", what, state, m ? m : "");
	} else if (cons) {
		pos_log(lvl, "store(pg): %s: SQLSTATE %s (constraint %s)", what, state, cons);
	} else if (!c->db || PQstatus(c->db) != CONNECTION_OK) {
		pos_log(lvl, "store(pg): %s: the connection to the server was lost", what);
	} else {
		pos_log(lvl, "store(pg): %s: SQLSTATE %s", what, state);
	}
}

/*
 * The server-side name of `st` on `c` ("s<slot>"), preparing it first when
 * new. *name "" when the cache is full (run unprepared). POS_ERR_STORE when
 * the prepare fails (logged).
 */
static enum pos_err prepared_name(struct pg_conn *c, const struct pg_stmt *st,
				  const struct pg_params *p, char name[16])
{
	size_t i = stmt_hash(st);
	for (size_t k = 0; k < STMT_SLOTS; k++, i = (i + 1) % STMT_SLOTS) {
		if (c->prepared[i] == st) {
			snprintf(name, 16, "s%zu", i);
			return POS_OK;
		}
		if (!c->prepared[i])
			break;
	}
	if (c->prepared[i] || c->n_prepared >= STMT_SLOTS * 3 / 4) {
		name[0] = '\0';
		return POS_OK;
	}
	snprintf(name, 16, "s%zu", i);
	PGresult *r = PQprepare(c->db, name, st->sql, p ? p->n : 0, NULL);
	enum pos_err rc = POS_OK;
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
		snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", state ? state : "");
		if (strncmp(c->sqlstate, "42", 2) == 0)
			log_failure(c, st->name, r);
		rc = POS_ERR_STORE;
	} else {
		c->prepared[i] = st;
		c->n_prepared++;
	}
	PQclear(r);
	(void)p;
	return rc;
}

static enum pos_err run(struct pg_conn *c, const struct pg_stmt *st, const char *sql,
			const char *what, const struct pg_params *p, PGresult **out)
{
	if (out)
		*out = NULL;
	c->sqlstate[0] = '\0';
	int n = p ? p->n : 0;
	if (n > PG_MAX_PARAMS) {
		pos_error_log("store(pg): %s: more than %d parameters", what, PG_MAX_PARAMS);
		return POS_ERR_STORE;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		if (!c->db && !conn_reset(c))
			return POS_ERR_STORE;
		bool idle = PQtransactionStatus(c->db) == PQTRANS_IDLE;
		PGresult *r = NULL;
		char name[16] = "";
		enum pos_err rc = st ? prepared_name(c, st, p, name) : POS_OK;
		if (!rc) {
			const char *const *v = p ? p->v : NULL;
			const int *len = p ? p->len : NULL, *fmt = p ? p->fmt : NULL;
			if (name[0])
				r = PQexecPrepared(c->db, name, n, v, len, fmt, 0);
			else
				r = PQexecParams(c->db, st ? st->sql : sql, n, NULL, v, len, fmt, 0);
			ExecStatusType s = PQresultStatus(r);
			if (r && (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)) {
				if (out)
					*out = r;
				else
					PQclear(r);
				return POS_OK;
			}
			const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
			snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", state ? state : "");
		}
		/* Prepared statements the session lost (26000: a pooler
		 * reset it) or whose plan a schema change made stale (0A000)
		 * are prepared again, once, outside a transaction. */
		if (attempt == 0 && idle && name[0] && PQstatus(c->db) == CONNECTION_OK &&
		    (strcmp(c->sqlstate, "26000") == 0 || strcmp(c->sqlstate, "0A000") == 0)) {
			PQclear(r);
			PQclear(PQexec(c->db, "DEALLOCATE ALL"));
			memset(c->prepared, 0, sizeof(c->prepared));
			c->n_prepared = 0;
			continue;
		}
		/* A connection that broke between statements (a server
		 * restart) is made again and the statement retried once,
		 * unless a transaction was open (its work is gone). */
		if (attempt == 0 && idle && PQstatus(c->db) != CONNECTION_OK) {
			PQclear(r);
			if (!conn_reset(c)) {
				log_failure(c, what, NULL);
				return POS_ERR_STORE;
			}
			continue;
		}
		log_failure(c, what, r);
		PQclear(r);
		return POS_ERR_STORE;
	}
	return POS_ERR_STORE;
}

enum pos_err pg_run(struct pg_conn *c, const struct pg_stmt *st,
		    const struct pg_params *p, PGresult **out)
{
	return run(c, st, NULL, st->name, p, out);
}

enum pos_err pg_run_sql(struct pg_conn *c, const char *sql,
			const struct pg_params *p, PGresult **out)
{
	return run(c, NULL, sql, "ad-hoc statement", p, out);
}

enum pos_err pg_exec(struct pg_conn *c, const char *sql)
{
	c->sqlstate[0] = '\0';
	if (!c->db && !conn_reset(c))
		return POS_ERR_STORE;
	PGresult *r = PQexec(c->db, sql);
	ExecStatusType s = PQresultStatus(r);
	/* (a text of comments only is an empty query: nothing to do) */
	if (r && (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK || s == PGRES_EMPTY_QUERY)) {
		PQclear(r);
		return POS_OK;
	}
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", state ? state : "");
	log_failure(c, "exec", r);
	PQclear(r);
	return POS_ERR_STORE;
}

const char *pg_last_sqlstate(struct pg_conn *c)
{
	return c ? c->sqlstate : "";
}

uint64_t pg_affected(PGresult *r)
{
	const char *t = r ? PQcmdTuples(r) : NULL;
	if (!t || !*t)
		return 0;
	return strtoull(t, NULL, 10);
}

/* ---- transactions ---- */

enum pos_err pg_begin(struct pg_conn *c)
{
	if (!c->db && !conn_reset(c))
		return POS_ERR_STORE;
	/* a connection that broke while idle is made again before BEGIN */
	if (PQstatus(c->db) != CONNECTION_OK && !conn_reset(c))
		return POS_ERR_STORE;
	return pg_exec(c, "BEGIN");
}

enum pos_err pg_commit(struct pg_conn *c)
{
	if (!c->db)
		return POS_ERR_STORE;
	PGresult *r = PQexec(c->db, "COMMIT");
	/* COMMIT of a failed transaction "succeeds" saying ROLLBACK */
	bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK &&
		  strcmp(PQcmdStatus(r), "COMMIT") == 0;
	if (!ok) {
		const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
		snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", state ? state : "");
		log_failure(c, "commit", r);
	}
	PQclear(r);
	if (!ok && PQtransactionStatus(c->db) != PQTRANS_IDLE)
		pg_rollback(c);
	return ok ? POS_OK : POS_ERR_STORE;
}

void pg_rollback(struct pg_conn *c)
{
	if (!c->db || PQstatus(c->db) != CONNECTION_OK ||
	    PQtransactionStatus(c->db) == PQTRANS_IDLE)
		return;
	PQclear(PQexec(c->db, "ROLLBACK"));
}

/* ---- readers ---- */

int pg_rows(PGresult *res)
{
	return res ? PQntuples(res) : 0;
}

bool pg_isnull(PGresult *res, int r, int i)
{
	return !res || r >= PQntuples(res) || i >= PQnfields(res) || PQgetisnull(res, r, i);
}

const char *pg_text(struct pos_arena *a, PGresult *res, int r, int i)
{
	if (pg_isnull(res, r, i))
		return NULL;
	return pos_arena_strndup(a, PQgetvalue(res, r, i), (size_t)PQgetlength(res, r, i));
}

int64_t pg_i64(PGresult *res, int r, int i)
{
	if (pg_isnull(res, r, i))
		return 0;
	const char *v = PQgetvalue(res, r, i);
	if (v[0] == 't')
		return 1; /* a boolean */
	if (v[0] == 'f')
		return 0;
	return strtoll(v, NULL, 10);
}

int64_t pg_time(PGresult *res, int r, int i)
{
	if (pg_isnull(res, r, i))
		return POS_TIME_NONE;
	return pg_i64(res, r, i);
}

double pg_f64(PGresult *res, int r, int i)
{
	if (pg_isnull(res, r, i))
		return 0;
	return strtod(PQgetvalue(res, r, i), NULL);
}

void pg_uuid(char dst[POS_UUID_SIZE], PGresult *res, int r, int i)
{
	if (pg_isnull(res, r, i)) {
		dst[0] = '\0';
		return;
	}
	snprintf(dst, POS_UUID_SIZE, "%s", PQgetvalue(res, r, i));
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

enum pos_err pg_bytes(struct pos_arena *a, PGresult *res, int r, int i,
		      const uint8_t **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	if (pg_isnull(res, r, i))
		return POS_OK;
	const char *v = PQgetvalue(res, r, i);
	size_t n = (size_t)PQgetlength(res, r, i);
	if (n >= 2 && v[0] == '\\' && v[1] == 'x') {
		size_t m = (n - 2) / 2;
		uint8_t *b = pos_arena_alloc(a, m ? m : 1);
		if (!b)
			return POS_ERR_NOMEM;
		for (size_t k = 0; k < m; k++) {
			int hi = hexval(v[2 + 2 * k]), lo = hexval(v[3 + 2 * k]);
			if (hi < 0 || lo < 0)
				return POS_ERR_STORE;
			b[k] = (uint8_t)(hi << 4 | lo);
		}
		*out = b;
		*len = m;
		return POS_OK;
	}
	/* the old "escape" output format */
	size_t m = 0;
	unsigned char *u = PQunescapeBytea((const unsigned char *)v, &m);
	if (!u)
		return POS_ERR_NOMEM;
	uint8_t *b = pos_arena_alloc(a, m ? m : 1);
	if (b) {
		memcpy(b, u, m);
		*out = b;
		*len = m;
	}
	PQfreemem(u);
	return b ? POS_OK : POS_ERR_NOMEM;
}

/* ---- batch columns ---- */

/* A batch's SQL text may be large (1,000 memories of up to the content
 * limit); the request limits bound it long before this. */
#define PG_COL_MAX ((size_t)512 << 20)

void pg_col_init(struct pg_col *c)
{
	pos_buf_init(&c->b, PG_COL_MAX);
	c->n = 0;
	c->rc = pos_buf_addc(&c->b, '{');
}

void pg_col_free(struct pg_col *c)
{
	pos_buf_free(&c->b);
}

/* The separator before element n. */
static bool col_next(struct pg_col *c)
{
	if (c->rc)
		return false;
	if (c->n++)
		c->rc = pos_buf_addc(&c->b, ',');
	return !c->rc;
}

void pg_col_textn(struct pg_col *c, const char *s, size_t n)
{
	if (!col_next(c))
		return;
	if (!s) {
		c->rc = pos_buf_adds(&c->b, "NULL");
		return;
	}
	if (memchr(s, 0, n)) { /* text cannot hold NUL: the single path failed too */
		c->rc = POS_ERR_STORE;
		return;
	}
	c->rc = pos_buf_addc(&c->b, '"');
	size_t from = 0;
	for (size_t i = 0; !c->rc && i < n; i++) {
		if (s[i] != '"' && s[i] != '\\')
			continue;
		if (!(c->rc = pos_buf_add(&c->b, s + from, i - from)))
			c->rc = pos_buf_addc(&c->b, '\\');
		from = i;
	}
	if (!c->rc)
		c->rc = pos_buf_add(&c->b, s + from, n - from);
	if (!c->rc)
		c->rc = pos_buf_addc(&c->b, '"');
}

void pg_col_text(struct pg_col *c, const char *s)
{
	pg_col_textn(c, s, s ? strlen(s) : 0);
}

void pg_col_i64(struct pg_col *c, int64_t v)
{
	if (col_next(c))
		c->rc = pos_buf_addf(&c->b, "%lld", (long long)v);
}

void pg_col_time(struct pg_col *c, int64_t t)
{
	if (t == POS_TIME_NONE)
		pg_col_text(c, NULL);
	else
		pg_col_i64(c, t);
}

void pg_col_f64(struct pg_col *c, double v)
{
	if (!col_next(c))
		return;
	if (isnan(v))
		c->rc = pos_buf_adds(&c->b, "NaN");
	else if (isinf(v))
		c->rc = pos_buf_adds(&c->b, v > 0 ? "Infinity" : "-Infinity");
	else
		c->rc = pos_buf_addf(&c->b, "%.17g", v);
}

void pg_col_hex(struct pg_col *c, const void *b, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	if (!col_next(c))
		return;
	if (!b) {
		c->rc = pos_buf_adds(&c->b, "NULL");
		return;
	}
	const uint8_t *p = b;
	c->rc = pos_buf_addc(&c->b, '"');
	for (size_t i = 0; !c->rc && i < n; i++) {
		char h[2] = {digits[p[i] >> 4], digits[p[i] & 15]};
		c->rc = pos_buf_add(&c->b, h, 2);
	}
	if (!c->rc)
		c->rc = pos_buf_addc(&c->b, '"');
}

const char *pg_col_done(struct pg_col *c)
{
	if (!c->rc)
		c->rc = pos_buf_addc(&c->b, '}');
	return c->rc ? NULL : c->b.data;
}

/* ---- one statement on a borrowed connection ---- */

enum pos_err pg_do(struct pos_store *s, const struct pg_stmt *st, const struct pg_params *p,
		   PGresult **out)
{
	struct pg_conn *c = pg_get(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = pg_run(c, st, p, out);
	pg_put(s, c);
	return rc;
}

enum pos_err pg_do_write(struct pos_store *s, const struct pg_stmt *st,
			 const struct pg_params *p, bool must_change)
{
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, st, p, &r);
	if (!rc && must_change && pg_affected(r) == 0)
		rc = POS_ERR_NOT_FOUND;
	PQclear(r);
	return rc;
}

enum pos_err pg_do_i64(struct pos_store *s, const struct pg_stmt *st,
		       const struct pg_params *p, int64_t *v)
{
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, st, p, &r);
	*v = !rc && pg_rows(r) > 0 ? pg_i64(r, 0, 0) : 0;
	PQclear(r);
	return rc;
}

enum pos_err pg_run_n(struct pg_conn *c, const struct pg_stmt *st, const struct pg_params *p,
		      uint64_t *n)
{
	PGresult *r = NULL;
	enum pos_err rc = pg_run(c, st, p, &r);
	if (n)
		*n = rc ? 0 : pg_affected(r);
	PQclear(r);
	return rc;
}
