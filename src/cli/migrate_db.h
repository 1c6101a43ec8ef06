/*
 * migrate_db.h — the table-level side of `personalos migrate` (cli/migrate.c):
 * one SQLite database (sqlite3 API) or one PostgreSQL database (libpq),
 * seen as named tables of typed columns that can be counted, read row by
 * row, checksummed and written in batches. It does not go through the
 * store's vtables on purpose: the copy is of tables, not of records, and
 * the PostgreSQL schema mirrors SQLite's tables and columns
 * (docs/DEPLOY.md, "Moving a store between SQLite and PostgreSQL").
 *
 * Values are normalised by the column's kind, which comes from the
 * PostgreSQL catalog (bigint → INT, double precision → FLOAT, bytea → BLOB,
 * boolean → BOOL, anything else TEXT), so that a row reads the same from
 * either side and its checksum compares.
 *
 * Ownership: a struct mig_db is owned by its opener and closed with
 * mig_db_close. Row values handed to callbacks are borrowed for the call.
 * Errors are printed to stderr (never with row values) and returned as
 * -1; 0 is success. Not thread-safe: one thread drives a migration.
 */
#ifndef POS_CLI_MIGRATE_DB_H
#define POS_CLI_MIGRATE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIG_NAME_MAX 64
#define MIG_MAX_COLS 64
#define MIG_MAX_DEPS 16
#define MIG_MAX_TABLES 96

enum mig_kind { MIG_INT, MIG_FLOAT, MIG_TEXT, MIG_BLOB, MIG_BOOL };

struct mig_col {
	char name[MIG_NAME_MAX];
	enum mig_kind kind;
	bool identity;      /* PostgreSQL: identity/serial (its sequence is reset) */
};

struct mig_table {
	char name[MIG_NAME_MAX];
	int ncols;
	struct mig_col cols[MIG_MAX_COLS];
	int ndeps;          /* tables this one's foreign keys point at */
	char deps[MIG_MAX_DEPS][MIG_NAME_MAX];
	int64_t src_rows, dst_rows;
	uint64_t src_sum[4], dst_sum[4];
};

/* One value of a row, normalised by its column's kind. */
struct mig_val {
	bool null;
	int64_t i;          /* MIG_INT, MIG_BOOL (0/1) */
	double f;           /* MIG_FLOAT */
	const void *p;      /* MIG_TEXT, MIG_BLOB: bytes (not NUL-terminated) */
	size_t n;
};

struct mig_db;

/* "sqlite:DIR" or "postgres://..."/"postgresql://...": which kind. */
bool mig_is_pg(const char *where);

/* Opens an existing SQLite file read-only (`readonly`) or read-write, or
 * connects to PostgreSQL with the URL. */
int mig_db_open_sqlite(const char *path, bool readonly, struct mig_db **out);
int mig_db_open_pg(const char *url, struct mig_db **out);
void mig_db_close(struct mig_db *db);
bool mig_db_pg(const struct mig_db *db);

/* Runs SQL without results (BEGIN, COMMIT, SET ...). */
int mig_db_exec(struct mig_db *db, const char *sql);

/* Whether the database has a base table `name`; *out set. */
int mig_db_has_table(struct mig_db *db, const char *name, bool *out);

/*
 * Fills `names` with the database's base tables (SQLite: ordinary tables,
 * no virtual, shadow or sqlite_ tables; PostgreSQL: the current schema),
 * at most `cap`. *n receives the count.
 */
int mig_db_tables(struct mig_db *db, char names[][MIG_NAME_MAX], int cap, int *n);

/*
 * Columns of `name` as the database declares them, in order: SQLite gives
 * the names and MIG_TEXT-less kinds from the declared type; PostgreSQL the
 * names, kinds and identity flags, generated columns left out. *n receives
 * the count (0 when no such table).
 */
int mig_db_columns(struct mig_db *db, const char *name, struct mig_col *cols, int cap,
		   int *n);

/* SQLite: the tables `t`'s foreign keys refer to, into t->deps. */
int mig_db_deps(struct mig_db *db, struct mig_table *t);

/* SELECT count(*) of a table. */
int mig_db_count(struct mig_db *db, const char *name, int64_t *out);

/*
 * Reads every row of `t` (its cols, in order), calling fn(ctx, vals) for
 * each; stops with fn's nonzero return. PostgreSQL reads through a cursor
 * in batches of `batch` rows.
 */
int mig_db_scan(struct mig_db *db, const struct mig_table *t, int batch,
		int (*fn)(void *ctx, const struct mig_val *vals), void *ctx);

/*
 * Writes rows of `t`: mig_db_put adds one row to the pending batch and
 * sends the batch when it holds `batch` rows; mig_db_flush sends the rest.
 * SQLite inserts row by row through one prepared statement.
 */
struct mig_writer;
int mig_writer_open(struct mig_db *db, const struct mig_table *t, int batch,
		    struct mig_writer **out);
int mig_writer_put(struct mig_writer *w, const struct mig_val *vals);
int mig_writer_flush(struct mig_writer *w);
void mig_writer_close(struct mig_writer *w);

/* UPDATE `t` SET every column but the first = row WHERE first = row[0]. */
int mig_db_update_row(struct mig_db *db, const struct mig_table *t,
		      const struct mig_val *vals);

/* PostgreSQL: moves each identity/serial sequence of `t` past its max. */
int mig_db_reset_sequences(struct mig_db *db, const struct mig_table *t);

/* DELETE FROM a table (rows a fresh server wrote in the destination). */
int mig_db_clear(struct mig_db *db, const char *name);

/* PostgreSQL server_keys: deletes the row of `name`; lists the names and
 * the key lengths (a sealed value's overhead taken off). */
int mig_db_delete_key(struct mig_db *db, const char *name);
int mig_db_key_list(struct mig_db *db, char names[][MIG_NAME_MAX], size_t *lens, int cap,
		    int *n);

/* Adds the normalised row to a per-table order-independent checksum
 * (BLAKE2b-256 of the row, summed lane by lane modulo 2^64). */
void mig_row_sum(const struct mig_table *t, const struct mig_val *vals, uint64_t sum[4]);

#endif
