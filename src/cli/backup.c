/*
 * backup.c — `personalos backup DEST`: an online backup of the data
 * directory (store/store.h pos_sqlite_backup), safe while the server runs;
 * `personalos restore SRC`: that backup back into the data directory
 * (pos_sqlite_restore), checked whole before anything is replaced.
 */
#include "cli/cli.h"

#include <limits.h>
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

int pos_cli_restore(int argc, char **argv)
{
	struct pos_config cfg;
	int rc = pos_cli_config(&argc, argv, &cfg, "see personalos restore --help\n");
	if (rc)
		return rc;
	const char *src = NULL;
	for (int i = 1; i < argc; i++) {
		if (argv[i][0] == '-' || src) {
			fprintf(stderr, "personalos restore: unexpected argument '%s'\n", argv[i]);
			return 2;
		}
		src = argv[i];
	}
	if (!src) {
		fprintf(stderr, "personalos restore: name the backup directory, see --help\n");
		return 2;
	}
	struct pos_error err;
	pos_error_clear(&err);
	char aside[PATH_MAX];
	if (pos_sqlite_restore(src, cfg.data_dir, cfg.master_key_file, aside, sizeof(aside),
			       &err)) {
		fprintf(stderr, "personalos restore: %s\n", err.message);
		return 1;
	}
	printf("restored %s into %s; the data it replaced is in %s (delete it once the\n"
	       "restored server looks right; `personalos doctor --full` checks it)\n",
	       src, cfg.data_dir, aside);
	return 0;
}
