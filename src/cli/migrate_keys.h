/*
 * migrate_keys.h — the server keys' part of `personalos migrate`
 * (cli/migrate.c): SQLite keeps them in the key file of the data directory
 * (crypto/keyfile.h), PostgreSQL in its table server_keys (store/pg.c).
 *
 * To PostgreSQL, every key of the key file is written as a plain row
 * (sealed = 0) inside the migration's transaction; when a master key is
 * configured the caller then opens the store once, which seals plain rows
 * (pos_store_open). From PostgreSQL, each key is read through the store
 * (which unseals it) and adopted into the key file; a key file that already
 * holds another value under the same name stops the migration.
 *
 * Errors are printed to stderr (never key bytes) and returned as -1.
 */
#ifndef POS_CLI_MIGRATE_KEYS_H
#define POS_CLI_MIGRATE_KEYS_H

#include "base/config.h"
#include "cli/migrate_db.h"

struct mig_keys_sides {
	const char *sqlite_dir;             /* the SQLite data directory */
	const struct pos_config *cfg;       /* master_key_file, store_pool */
	const char *pg_url;                 /* the PostgreSQL side */
	int moved;                          /* out: keys carried over */
};

/* Key file of ks->sqlite_dir → server_keys of `dst` (in its transaction). */
int mig_keys_to_pg(struct mig_db *dst, struct mig_keys_sides *ks);

/* server_keys of PostgreSQL (`src` for the list, the store to unseal) →
 * key file of ks->sqlite_dir. */
int mig_keys_from_pg(struct mig_db *src, struct mig_keys_sides *ks);

#endif
