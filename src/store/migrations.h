/*
 * migrations.h — the numbered schema migrations of the SQLite store.
 *
 * Migration i (1-based) turns a version i-1 database into version i. They
 * are applied in order, all pending ones in one transaction, when the store
 * opens; `schema_migrations` records each with its time. A migration is
 * never edited after release: a change is a new migration.
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
