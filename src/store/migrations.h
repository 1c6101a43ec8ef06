/*
 * migrations.h — the numbered schema migrations of the SQLite store.
 *
 * Migrations are listed in ascending version order; numbers may have gaps
 * (a number may be taken by a step still being written). Every step whose version is not yet recorded
 * in `schema_migrations` is applied in order, all pending ones in one
 * transaction, when the store opens; each is recorded with its time. A
 * migration is never edited after release: a change is a new migration.
 */
#ifndef POS_STORE_MIGRATIONS_H
#define POS_STORE_MIGRATIONS_H

#include <stddef.h>

struct pos_migration {
	int version;
	const char *name;
	const char *sql;
};

extern const struct pos_migration pos_migrations[];
extern const size_t pos_migrations_count;

#endif
