/*
 * migrate_db.c — tables of a SQLite or PostgreSQL database for
 * `personalos migrate` (cli/migrate_db.h): catalogs, counts, row scans,
 * batched inserts and row checksums, over the sqlite3 API and libpq.
 */
#include "cli/migrate_db.h"

#include <ctype.h>
#include <endian.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "crypto/keyring.h"
#include "store/sqlite_tok.h"

struct mig_db {
	sqlite3 *sq;
	PGconn *pq;
};

struct mig_writer {
	struct mig_db *db;
	const struct mig_table *t;
	int batch, pending;
	sqlite3_stmt *st;          /* SQLite */
	/* PostgreSQL: the pending rows' parameters */
	char *sql_head;            /* INSERT INTO "t"("a",...) [OVERRIDING ...] VALUES */
	const char **pv;
	int *pl, *pf;
	char (*num)[32];
	struct pos_buf store;      /* copies of the pending rows' bytes */
	size_t *off;               /* offsets into store, one per parameter */
};

bool mig_is_pg(const char *where)
{
	return !strncmp(where, "postgres://", 11) || !strncmp(where, "postgresql://", 13);
}

bool mig_db_pg(const struct mig_db *db)
{
	return db->pq != NULL;
}

/* Catalog names are ours (lower-case words); anything else is refused
 * rather than quoted, so no name can break out of an identifier. */
static bool plain_name(const char *s)
{
	if (!s || !*s || strlen(s) >= MIG_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_'))
			return false;
	return true;
}

static void pg_error(struct mig_db *db, const char *what, PGresult *r)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	/* the primary message names objects and constraints, not values; the
	 * detail line (which may quote a row) is left out */
	fprintf(stderr, "personalos migrate: PostgreSQL: %s failed: %s (SQLSTATE %s)\n", what,
		msg ? msg : PQerrorMessage(db->pq), state ? state : "?");
}

int mig_db_open_sqlite(const char *path, bool readonly, struct mig_db **out)
{
	struct mig_db *db = pos_calloc(1, sizeof(*db));
	if (!db)
		return -1;
	int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
	if (sqlite3_open_v2(path, &db->sq, flags, NULL) != SQLITE_OK) {
		fprintf(stderr, "personalos migrate: cannot open %s: %s\n", path,
			db->sq ? sqlite3_errmsg(db->sq) : "out of memory");
		mig_db_close(db);
		return -1;
	}
	sqlite3_busy_timeout(db->sq, 10000);
	/* writes to memories reach the full-text index and its tokenizer */
	if (sq_tok_register(db->sq) != SQLITE_OK) {
		fprintf(stderr, "personalos migrate: cannot register the full-text tokenizer\n");
		mig_db_close(db);
		return -1;
	}
	if (!readonly && mig_db_exec(db, "PRAGMA foreign_keys = ON")) {
		mig_db_close(db);
		return -1;
	}
	*out = db;
	return 0;
}

int mig_db_open_pg(const char *url, struct mig_db **out)
{
	struct mig_db *db = pos_calloc(1, sizeof(*db));
	if (!db)
		return -1;
	db->pq = PQconnectdb(url);
	if (!db->pq || PQstatus(db->pq) != CONNECTION_OK) {
		/* libpq's message names host and port, not the password */
		fprintf(stderr, "personalos migrate: cannot connect to PostgreSQL: %s",
			db->pq ? PQerrorMessage(db->pq) : "out of memory\n");
		mig_db_close(db);
		return -1;
	}
	*out = db;
	return mig_db_exec(db, "SET client_min_messages = warning");
}

void mig_db_close(struct mig_db *db)
{
	if (!db)
		return;
	if (db->sq)
		sqlite3_close(db->sq);
	if (db->pq)
		PQfinish(db->pq);
	pos_free(db);
}

int mig_db_exec(struct mig_db *db, const char *sql)
{
	if (db->sq) {
		char *msg = NULL;
		if (sqlite3_exec(db->sq, sql, NULL, NULL, &msg) != SQLITE_OK) {
			fprintf(stderr, "personalos migrate: SQLite: %s: %s\n", sql,
				msg ? msg : sqlite3_errmsg(db->sq));
			sqlite3_free(msg);
			return -1;
		}
		return 0;
	}
	PGresult *r = PQexec(db->pq, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
	if (!ok)
		pg_error(db, sql, r);
	PQclear(r);
	return ok ? 0 : -1;
}

/* A one-row, one-column query with one text parameter; NULL on failure. */
static PGresult *pg_query1(struct mig_db *db, const char *sql, const char *p1, const char *p2)
{
	const char *pv[2] = {p1, p2};
	PGresult *r = PQexecParams(db->pq, sql, p2 ? 2 : (p1 ? 1 : 0), NULL, pv, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		pg_error(db, "a catalog query", r);
		PQclear(r);
		return NULL;
	}
	return r;
}

int mig_db_tables(struct mig_db *db, char names[][MIG_NAME_MAX], int cap, int *n)
{
	*n = 0;
	if (db->sq) {
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(db->sq,
				       "SELECT name FROM pragma_table_list WHERE schema = 'main'"
				       " AND type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
				       " ORDER BY name",
				       -1, &st, NULL) != SQLITE_OK) {
			fprintf(stderr, "personalos migrate: SQLite: %s\n", sqlite3_errmsg(db->sq));
			return -1;
		}
		while (sqlite3_step(st) == SQLITE_ROW && *n < cap) {
			const char *s = (const char *)sqlite3_column_text(st, 0);
			if (plain_name(s))
				snprintf(names[(*n)++], MIG_NAME_MAX, "%s", s);
		}
		sqlite3_finalize(st);
		return 0;
	}
	PGresult *r = pg_query1(db,
				"SELECT table_name FROM information_schema.tables"
				" WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
				" ORDER BY table_name",
				NULL, NULL);
	if (!r)
		return -1;
	for (int i = 0; i < PQntuples(r) && *n < cap; i++)
		if (plain_name(PQgetvalue(r, i, 0)))
			snprintf(names[(*n)++], MIG_NAME_MAX, "%s", PQgetvalue(r, i, 0));
	PQclear(r);
	return 0;
}

int mig_db_has_table(struct mig_db *db, const char *name, bool *out)
{
	char names[MIG_MAX_TABLES][MIG_NAME_MAX];
	int n;
	*out = false;
	if (mig_db_tables(db, names, MIG_MAX_TABLES, &n))
		return -1;
	for (int i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			*out = true;
	return 0;
}

static enum mig_kind sqlite_kind(const char *decl)
{
	if (!decl)
		return MIG_TEXT;
	if (strcasestr(decl, "INT"))
		return MIG_INT;
	if (strcasestr(decl, "REAL") || strcasestr(decl, "DOUB") || strcasestr(decl, "FLOA"))
		return MIG_FLOAT;
	if (strcasestr(decl, "BLOB"))
		return MIG_BLOB;
	return MIG_TEXT;
}

static enum mig_kind pg_kind(const char *udt)
{
	static const struct { const char *udt; enum mig_kind k; } map[] = {
		{"int2", MIG_INT},    {"int4", MIG_INT},     {"int8", MIG_INT},
		{"float4", MIG_FLOAT}, {"float8", MIG_FLOAT}, {"bytea", MIG_BLOB},
		{"bool", MIG_BOOL},
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(udt, map[i].udt))
			return map[i].k;
	return MIG_TEXT; /* text, varchar; other types are read as ::text */
}

int mig_db_columns(struct mig_db *db, const char *name, struct mig_col *cols, int cap, int *n)
{
	*n = 0;
	if (!plain_name(name))
		return -1;
	if (db->sq) {
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(db->sq, "SELECT name, type FROM pragma_table_info(?1) ORDER BY cid",
				       -1, &st, NULL) != SQLITE_OK)
			return -1;
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		int rc = 0;
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *c = (const char *)sqlite3_column_text(st, 0);
			if (*n >= cap || !plain_name(c)) {
				fprintf(stderr, "personalos migrate: table %s: unexpected column\n", name);
				rc = -1;
				break;
			}
			snprintf(cols[*n].name, MIG_NAME_MAX, "%s", c);
			cols[*n].kind = sqlite_kind((const char *)sqlite3_column_text(st, 1));
			cols[*n].identity = false;
			(*n)++;
		}
		sqlite3_finalize(st);
		return rc;
	}
	PGresult *r = pg_query1(db,
				"SELECT column_name, udt_name, is_identity = 'YES' OR"
				" coalesce(column_default, '') LIKE 'nextval(%'"
				" FROM information_schema.columns WHERE table_schema = current_schema()"
				" AND table_name = $1 AND is_generated = 'NEVER' ORDER BY ordinal_position",
				name, NULL);
	if (!r)
		return -1;
	int rc = 0;
	for (int i = 0; i < PQntuples(r); i++) {
		if (*n >= cap || !plain_name(PQgetvalue(r, i, 0))) {
			fprintf(stderr, "personalos migrate: table %s: unexpected column\n", name);
			rc = -1;
			break;
		}
		snprintf(cols[*n].name, MIG_NAME_MAX, "%s", PQgetvalue(r, i, 0));
		cols[*n].kind = pg_kind(PQgetvalue(r, i, 1));
		cols[*n].identity = PQgetvalue(r, i, 2)[0] == 't';
		(*n)++;
	}
	PQclear(r);
	return rc;
}

int mig_db_deps(struct mig_db *db, struct mig_table *t)
{
	t->ndeps = 0;
	if (!db->sq)
		return 0;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db->sq, "SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?1)",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW && t->ndeps < MIG_MAX_DEPS) {
		const char *d = (const char *)sqlite3_column_text(st, 0);
		if (plain_name(d) && strcmp(d, t->name))
			snprintf(t->deps[t->ndeps++], MIG_NAME_MAX, "%s", d);
	}
	sqlite3_finalize(st);
	return 0;
}

int mig_db_count(struct mig_db *db, const char *name, int64_t *out)
{
	char sql[128];
	if (!plain_name(name))
		return -1;
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"%s\"", name);
	if (db->sq) {
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(db->sq, sql, -1, &st, NULL) != SQLITE_OK) {
			fprintf(stderr, "personalos migrate: SQLite: %s\n", sqlite3_errmsg(db->sq));
			return -1;
		}
		int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -1;
		*out = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		return rc;
	}
	PGresult *r = pg_query1(db, sql, NULL, NULL);
	if (!r)
		return -1;
	*out = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return 0;
}

/* "SELECT "a", "b"::text, ... FROM "t"" (non-native kinds read as text). */
static int select_sql(const struct mig_table *t, bool pg, struct pos_buf *b)
{
	int rc = pos_buf_adds(b, "SELECT ");
	for (int i = 0; i < t->ncols && !rc; i++)
		rc = pos_buf_addf(b, "%s\"%s\"%s", i ? ", " : "", t->cols[i].name,
				     pg && t->cols[i].kind == MIG_TEXT ? "::text" : "");
	if (!rc)
		rc = pos_buf_addf(b, " FROM \"%s\"", t->name);
	return rc ? -1 : 0;
}

static void sqlite_vals(sqlite3_stmt *st, const struct mig_table *t, struct mig_val *v)
{
	for (int i = 0; i < t->ncols; i++) {
		memset(&v[i], 0, sizeof(v[i]));
		if (sqlite3_column_type(st, i) == SQLITE_NULL) {
			v[i].null = true;
			continue;
		}
		switch (t->cols[i].kind) {
		case MIG_INT:
			v[i].i = sqlite3_column_int64(st, i);
			break;
		case MIG_BOOL:
			v[i].i = sqlite3_column_int64(st, i) != 0;
			break;
		case MIG_FLOAT:
			v[i].f = sqlite3_column_double(st, i);
			break;
		case MIG_BLOB:
			v[i].p = sqlite3_column_blob(st, i);
			v[i].n = (size_t)sqlite3_column_bytes(st, i);
			break;
		case MIG_TEXT:
			v[i].p = sqlite3_column_text(st, i);
			v[i].n = (size_t)sqlite3_column_bytes(st, i);
			break;
		}
		if (!v[i].p && (t->cols[i].kind == MIG_BLOB || t->cols[i].kind == MIG_TEXT))
			v[i].p = ""; /* an empty blob */
	}
}

static uint64_t be64(const char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return be64toh(v);
}

/* A binary-format PostgreSQL value into `v` by the column's kind. */
static void pg_val(PGresult *r, int row, int i, const struct mig_col *c, struct mig_val *v)
{
	memset(v, 0, sizeof(*v));
	if (PQgetisnull(r, row, i)) {
		v->null = true;
		return;
	}
	const char *p = PQgetvalue(r, row, i);
	int len = PQgetlength(r, row, i);
	switch (c->kind) {
	case MIG_INT:
		if (len == 8) {
			v->i = (int64_t)be64(p);
		} else if (len == 4) {
			uint32_t x;
			memcpy(&x, p, 4);
			v->i = (int32_t)be32toh(x);
		} else if (len == 2) {
			uint16_t x;
			memcpy(&x, p, 2);
			v->i = (int16_t)be16toh(x);
		}
		break;
	case MIG_BOOL:
		v->i = len > 0 && p[0] != 0;
		break;
	case MIG_FLOAT:
		if (len == 8) {
			uint64_t x = be64(p);
			memcpy(&v->f, &x, 8);
		} else if (len == 4) {
			uint32_t x;
			float f;
			memcpy(&x, p, 4);
			x = be32toh(x);
			memcpy(&f, &x, 4);
			v->f = f;
		}
		break;
	case MIG_BLOB:
	case MIG_TEXT:
		v->p = p;
		v->n = (size_t)len;
		break;
	}
}

int mig_db_scan(struct mig_db *db, const struct mig_table *t, int batch,
		int (*fn)(void *ctx, const struct mig_val *vals), void *ctx)
{
	struct pos_buf sql;
	struct mig_val vals[MIG_MAX_COLS];
	int rc = -1;
	pos_buf_init(&sql, 1 << 20);
	if (select_sql(t, db->pq != NULL, &sql))
		goto out;
	if (db->sq) {
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(db->sq, sql.data, -1, &st, NULL) != SQLITE_OK) {
			fprintf(stderr, "personalos migrate: SQLite: reading %s: %s\n", t->name,
				sqlite3_errmsg(db->sq));
			goto out;
		}
		int step;
		rc = 0;
		while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
			sqlite_vals(st, t, vals);
			rc = fn(ctx, vals);
		}
		if (!rc && step != SQLITE_DONE) {
			fprintf(stderr, "personalos migrate: SQLite: reading %s: %s\n", t->name,
				sqlite3_errmsg(db->sq));
			rc = -1;
		}
		sqlite3_finalize(st);
		goto out;
	}
	/* a cursor (the caller holds a transaction), binary results */
	struct pos_buf decl;
	pos_buf_init(&decl, 1 << 20);
	if (pos_buf_addf(&decl, "DECLARE pos_migrate_cur NO SCROLL CURSOR FOR %s",
			    sql.data) ||
	    mig_db_exec(db, decl.data)) {
		pos_buf_free(&decl);
		goto out;
	}
	pos_buf_free(&decl);
	char fetch[64];
	snprintf(fetch, sizeof(fetch), "FETCH FORWARD %d FROM pos_migrate_cur", batch);
	rc = 0;
	while (!rc) {
		PGresult *r = PQexecParams(db->pq, fetch, 0, NULL, NULL, NULL, NULL, 1);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			pg_error(db, "reading a table", r);
			PQclear(r);
			rc = -1;
			break;
		}
		int nt = PQntuples(r);
		for (int row = 0; row < nt && !rc; row++) {
			for (int i = 0; i < t->ncols; i++)
				pg_val(r, row, i, &t->cols[i], &vals[i]);
			rc = fn(ctx, vals);
		}
		PQclear(r);
		if (nt < batch)
			break;
	}
	if (mig_db_exec(db, "CLOSE pos_migrate_cur"))
		rc = -1;
out:
	pos_buf_free(&sql);
	return rc;
}

static int insert_head(const struct mig_table *t, bool pg, struct pos_buf *b)
{
	bool identity = false;
	int rc = pos_buf_addf(b, "INSERT INTO \"%s\" (", t->name);
	for (int i = 0; i < t->ncols && !rc; i++) {
		rc = pos_buf_addf(b, "%s\"%s\"", i ? ", " : "", t->cols[i].name);
		identity |= t->cols[i].identity;
	}
	if (!rc)
		rc = pos_buf_adds(b, pg && identity ? ") OVERRIDING SYSTEM VALUE VALUES "
							  : ") VALUES ");
	return rc ? -1 : 0;
}

int mig_writer_open(struct mig_db *db, const struct mig_table *t, int batch,
		    struct mig_writer **out)
{
	struct mig_writer *w = pos_calloc(1, sizeof(*w));
	struct pos_buf sql;
	pos_buf_init(&sql, 1 << 20);
	if (!w)
		return -1;
	w->db = db;
	w->t = t;
	/* PostgreSQL takes at most 65535 parameters in one statement */
	w->batch = batch;
	if (db->pq && t->ncols * w->batch > 65535)
		w->batch = 65535 / t->ncols;
	if (insert_head(t, db->pq != NULL, &sql))
		goto fail;
	if (db->sq) {
		for (int i = 0; i < t->ncols; i++)
			if (pos_buf_addf(&sql, "%s?%d", i ? ", " : "(", i + 1))
				goto fail;
		if (pos_buf_adds(&sql, ")") ||
		    sqlite3_prepare_v2(db->sq, sql.data, -1, &w->st, NULL) != SQLITE_OK) {
			fprintf(stderr, "personalos migrate: SQLite: writing %s: %s\n", t->name,
				sqlite3_errmsg(db->sq));
			goto fail;
		}
	} else {
		size_t np = (size_t)t->ncols * (size_t)w->batch;
		w->sql_head = pos_strdup(sql.data);
		w->pv = pos_calloc(np, sizeof(*w->pv));
		w->pl = pos_calloc(np, sizeof(*w->pl));
		w->pf = pos_calloc(np, sizeof(*w->pf));
		w->num = pos_calloc(np, sizeof(*w->num));
		w->off = pos_calloc(np, sizeof(*w->off));
		pos_buf_init(&w->store, SIZE_MAX / 4);
		if (!w->sql_head || !w->pv || !w->pl || !w->pf || !w->num || !w->off)
			goto fail;
	}
	pos_buf_free(&sql);
	*out = w;
	return 0;
fail:
	pos_buf_free(&sql);
	mig_writer_close(w);
	return -1;
}

static int sqlite_put(struct mig_writer *w, const struct mig_val *v)
{
	sqlite3_stmt *st = w->st;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	for (int i = 0; i < w->t->ncols; i++) {
		if (v[i].null)
			continue;
		switch (w->t->cols[i].kind) {
		case MIG_INT:
		case MIG_BOOL:
			sqlite3_bind_int64(st, i + 1, v[i].i);
			break;
		case MIG_FLOAT:
			sqlite3_bind_double(st, i + 1, v[i].f);
			break;
		case MIG_BLOB:
			sqlite3_bind_blob64(st, i + 1, v[i].p, v[i].n, SQLITE_STATIC);
			break;
		case MIG_TEXT:
			sqlite3_bind_text64(st, i + 1, v[i].p, v[i].n, SQLITE_STATIC, SQLITE_UTF8);
			break;
		}
	}
	if (sqlite3_step(st) != SQLITE_DONE) {
		fprintf(stderr, "personalos migrate: SQLite: writing %s: %s\n", w->t->name,
			sqlite3_errmsg(sqlite3_db_handle(st)));
		return -1;
	}
	return 0;
}

int mig_writer_put(struct mig_writer *w, const struct mig_val *v)
{
	if (w->st)
		return sqlite_put(w, v);
	int base = w->pending * w->t->ncols;
	for (int i = 0; i < w->t->ncols; i++) {
		int k = base + i;
		w->pf[k] = 0;
		w->off[k] = SIZE_MAX;
		if (v[i].null)
			continue;
		switch (w->t->cols[i].kind) {
		case MIG_INT:
			snprintf(w->num[k], sizeof(w->num[k]), "%" PRId64, v[i].i);
			break;
		case MIG_BOOL:
			snprintf(w->num[k], sizeof(w->num[k]), "%s", v[i].i ? "t" : "f");
			break;
		case MIG_FLOAT:
			snprintf(w->num[k], sizeof(w->num[k]), "%.17g", v[i].f);
			break;
		case MIG_BLOB:
		case MIG_TEXT:
			/* text goes as text, bytes as binary; both copied, since
			 * the row is borrowed only for this call */
			w->pf[k] = w->t->cols[i].kind == MIG_BLOB;
			w->off[k] = w->store.len;
			w->pl[k] = (int)v[i].n;
			if (pos_buf_add(&w->store, v[i].p, v[i].n) ||
			    pos_buf_add(&w->store, "", 1))
				return -1;
			break;
		}
	}
	if (++w->pending >= w->batch)
		return mig_writer_flush(w);
	return 0;
}

int mig_writer_flush(struct mig_writer *w)
{
	if (w->st || !w->pending)
		return 0;
	int nc = w->t->ncols, np = w->pending * nc;
	struct pos_buf sql;
	int rc = -1;
	pos_buf_init(&sql, SIZE_MAX / 4);
	if (pos_buf_adds(&sql, w->sql_head))
		goto out;
	for (int r = 0; r < w->pending; r++)
		for (int i = 0; i < nc; i++)
			if (pos_buf_addf(&sql, "%s$%d%s", i ? ", " : (r ? ", (" : "("),
					    r * nc + i + 1, i == nc - 1 ? ")" : ""))
				goto out;
	const char *base = w->store.data;
	for (int k = 0; k < np; k++) {
		int col = k % nc;
		if (w->off[k] != SIZE_MAX)
			w->pv[k] = base + w->off[k];
		else if (w->num[k][0] && !(w->t->cols[col].kind == MIG_TEXT ||
					   w->t->cols[col].kind == MIG_BLOB))
			w->pv[k] = w->num[k];
		else
			w->pv[k] = NULL;
	}
	PGresult *res = PQexecParams(w->db->pq, sql.data, np, NULL, w->pv, w->pl,
				     w->pf, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		char what[128];
		snprintf(what, sizeof(what), "writing %s", w->t->name);
		pg_error(w->db, what, res);
	} else {
		rc = 0;
	}
	PQclear(res);
out:
	pos_buf_free(&sql);
	w->pending = 0;
	pos_buf_reset(&w->store);
	for (int k = 0; k < np; k++)
		w->num[k][0] = '\0';
	return rc;
}

void mig_writer_close(struct mig_writer *w)
{
	if (!w)
		return;
	if (w->st)
		sqlite3_finalize(w->st);
	pos_free(w->sql_head);
	pos_free(w->pv);
	pos_free(w->pl);
	pos_free(w->pf);
	pos_free(w->num);
	pos_free(w->off);
	pos_buf_free(&w->store);
	pos_free(w);
}

int mig_db_update_row(struct mig_db *db, const struct mig_table *t, const struct mig_val *v)
{
	/* one row: a writer of one with an UPDATE instead */
	struct pos_buf sql;
	int rc = -1;
	pos_buf_init(&sql, 1 << 20);
	if (pos_buf_addf(&sql, "UPDATE \"%s\" SET ", t->name))
		goto out;
	for (int i = 1; i < t->ncols; i++)
		if (pos_buf_addf(&sql, "%s\"%s\" = %s%d", i > 1 ? ", " : "", t->cols[i].name,
				    db->sq ? "?" : "$", i + 1))
			goto out;
	if (pos_buf_addf(&sql, " WHERE \"%s\" = %s1", t->cols[0].name, db->sq ? "?" : "$"))
		goto out;
	if (db->sq) {
		struct mig_writer w = {.db = db, .t = t, .batch = 1};
		if (sqlite3_prepare_v2(db->sq, sql.data, -1, &w.st, NULL) != SQLITE_OK) {
			fprintf(stderr, "personalos migrate: SQLite: %s\n", sqlite3_errmsg(db->sq));
			goto out;
		}
		rc = sqlite_put(&w, v);
		sqlite3_finalize(w.st);
		goto out;
	}
	const char *pv[MIG_MAX_COLS];
	int pl[MIG_MAX_COLS], pf[MIG_MAX_COLS];
	char num[MIG_MAX_COLS][32];
	for (int i = 0; i < t->ncols; i++) {
		pv[i] = NULL;
		pl[i] = 0;
		pf[i] = 0;
		if (v[i].null)
			continue;
		switch (t->cols[i].kind) {
		case MIG_INT:
			snprintf(num[i], sizeof(num[i]), "%" PRId64, v[i].i);
			pv[i] = num[i];
			break;
		case MIG_BOOL:
			pv[i] = v[i].i ? "t" : "f";
			break;
		case MIG_FLOAT:
			snprintf(num[i], sizeof(num[i]), "%.17g", v[i].f);
			pv[i] = num[i];
			break;
		case MIG_BLOB:
		case MIG_TEXT:
			pv[i] = v[i].p;
			pl[i] = (int)v[i].n;
			pf[i] = t->cols[i].kind == MIG_BLOB;
			break;
		}
	}
	/* text parameters must be NUL-terminated for libpq: copy them */
	char *copies[MIG_MAX_COLS] = {0};
	for (int i = 0; i < t->ncols; i++) {
		if (pv[i] && t->cols[i].kind == MIG_TEXT) {
			copies[i] = pos_malloc(v[i].n + 1);
			if (!copies[i])
				goto free_copies;
			memcpy(copies[i], v[i].p, v[i].n);
			copies[i][v[i].n] = '\0';
			pv[i] = copies[i];
		}
	}
	PGresult *r = PQexecParams(db->pq, sql.data, t->ncols, NULL, pv, pl, pf, 0);
	if (PQresultStatus(r) == PGRES_COMMAND_OK)
		rc = 0;
	else
		pg_error(db, "rewriting a row", r);
	PQclear(r);
free_copies:
	for (int i = 0; i < t->ncols; i++)
		pos_free(copies[i]);
out:
	pos_buf_free(&sql);
	return rc;
}

int mig_db_reset_sequences(struct mig_db *db, const struct mig_table *t)
{
	if (!db->pq)
		return 0;
	for (int i = 0; i < t->ncols; i++) {
		if (!t->cols[i].identity)
			continue;
		char sql[512];
		snprintf(sql, sizeof(sql),
			 "SELECT setval(pg_get_serial_sequence('\"%s\"', '%s'),"
			 " coalesce(max(\"%s\"), 1), max(\"%s\") IS NOT NULL) FROM \"%s\"",
			 t->name, t->cols[i].name, t->cols[i].name, t->cols[i].name, t->name);
		if (mig_db_exec(db, sql))
			return -1;
	}
	return 0;
}

int mig_db_clear(struct mig_db *db, const char *name)
{
	char sql[128];
	if (!plain_name(name))
		return -1;
	snprintf(sql, sizeof(sql), "DELETE FROM \"%s\"", name);
	return mig_db_exec(db, sql);
}

void mig_row_sum(const struct mig_table *t, const struct mig_val *v, uint64_t sum[4])
{
	crypto_generichash_state h;
	uint8_t out[32];
	crypto_generichash_init(&h, NULL, 0, sizeof(out));
	for (int i = 0; i < t->ncols; i++) {
		uint8_t tag;
		uint64_t x;
		if (v[i].null) {
			tag = 'N';
			crypto_generichash_update(&h, &tag, 1);
			continue;
		}
		switch (t->cols[i].kind) {
		case MIG_INT:
		case MIG_BOOL:
			tag = 'I';
			x = htole64((uint64_t)v[i].i);
			crypto_generichash_update(&h, &tag, 1);
			crypto_generichash_update(&h, (const uint8_t *)&x, 8);
			break;
		case MIG_FLOAT:
			tag = 'F';
			memcpy(&x, &v[i].f, 8);
			x = htole64(x);
			crypto_generichash_update(&h, &tag, 1);
			crypto_generichash_update(&h, (const uint8_t *)&x, 8);
			break;
		case MIG_BLOB:
		case MIG_TEXT:
			tag = 'S';
			x = htole64((uint64_t)v[i].n);
			crypto_generichash_update(&h, &tag, 1);
			crypto_generichash_update(&h, (const uint8_t *)&x, 8);
			crypto_generichash_update(&h, v[i].p, v[i].n);
			break;
		}
	}
	crypto_generichash_final(&h, out, sizeof(out));
	for (int k = 0; k < 4; k++) {
		uint64_t lane;
		memcpy(&lane, out + 8 * k, 8);
		sum[k] += le64toh(lane);
	}
}

int mig_db_delete_key(struct mig_db *db, const char *name)
{
	const char *pv[1] = {name};
	PGresult *r = PQexecParams(db->pq, "DELETE FROM server_keys WHERE name = $1", 1, NULL, pv,
				   NULL, NULL, 0);
	int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
	if (rc)
		pg_error(db, "replacing a server key", r);
	PQclear(r);
	return rc;
}

int mig_db_key_list(struct mig_db *db, char names[][MIG_NAME_MAX], size_t *lens, int cap,
		    int *n)
{
	*n = 0;
	PGresult *r = pg_query1(db,
				"SELECT name, octet_length(value), sealed FROM server_keys ORDER BY name",
				NULL, NULL);
	if (!r)
		return -1;
	for (int i = 0; i < PQntuples(r) && *n < cap; i++) {
		long long len = strtoll(PQgetvalue(r, i, 1), NULL, 10);
		if (strtoll(PQgetvalue(r, i, 2), NULL, 10))
			len -= POS_SEAL_OVERHEAD;
		snprintf(names[*n], MIG_NAME_MAX, "%s", PQgetvalue(r, i, 0));
		lens[(*n)++] = len > 0 ? (size_t)len : 0;
	}
	PQclear(r);
	return 0;
}
