/*
 * backup.c — `personalos backup DEST`: an online backup of the data
 * directory (store/store.h pos_sqlite_backup), safe while the server runs.
 */
#include "cli/cli.h"

#include <string.h>

#include "store/store.h"
#include "store/open.h"

int pos_cli_backup(int argc, char **argv)
{
	struct pos_config cfg;
	int rc = pos_cli_config(&argc, argv, &cfg, "see personalos backup --help\n");
	if (rc)
		return rc;
	const char *dest = NULL;
	for (int i = 1; i < argc; i++) {
		if (argv[i][0] == '-' || dest) {
			fprintf(stderr, "personalos backup: unexpected argument '%s'\n", argv[i]);
			return 2;
		}
		dest = argv[i];
	}
	if (!dest) {
		fprintf(stderr, "personalos backup: name the directory to write, see --help\n");
		return 2;
	}
	if (pos_store_is_pg(&cfg)) {
		fprintf(stderr, "personalos backup: the store is PostgreSQL: back it up with"
				" pg_dump (docs/OPERATIONS.md, \"PostgreSQL\"); this command copies"
				" the SQLite database only\n");
		return 2;
	}
	struct pos_error err;
	pos_error_clear(&err);
	if (pos_sqlite_backup(cfg.data_dir, dest, &err)) {
		fprintf(stderr, "personalos backup: %s\n", err.message);
		return 1;
	}
	printf("backup of %s written to %s (personalos.db and keys)\n", cfg.data_dir, dest);
	return 0;
}
