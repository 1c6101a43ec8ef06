/*
 * cli.h — the `personalos` command line: one table of subcommands (serve,
 * user, doctor, import, version, help), each with its usage text and runner.
 * Runners return the process exit status: 0 success, 1 failure, 2 usage.
 */
#ifndef POS_CLI_CLI_H
#define POS_CLI_CLI_H

#include <stdio.h>

#include "base/config.h"

struct pos_cli_cmd {
	const char *name;
	const char *summary;
	const char *usage;   /* printed by `personalos NAME --help` */
	int (*run)(int argc, char **argv);
};

/* Dispatches argv[1] through the table. */
int pos_cli_main(int argc, char **argv);

/*
 * Shared option parsing for subcommands: builds the configuration from
 * defaults, the file of --config FILE (or PERSONALOS_CONFIG), the
 * environment, then the option table's flags (--data, --listen, --web; see
 * pos_config_load_flags), later wins. --config and those flags are
 * consumed; other arguments are left in argv[1..*argc). Prints the problem
 * and returns 2 on a bad option, else 0.
 */
int pos_cli_config(int *argc, char **argv, struct pos_config *cfg,
		   const char *usage);

/* True when argv holds -h or --help. */
int pos_cli_wants_help(int argc, char **argv);

int pos_cli_serve(int argc, char **argv);
int pos_cli_user(int argc, char **argv);
int pos_cli_doctor(int argc, char **argv);
int pos_cli_backup(int argc, char **argv);
int pos_cli_restore(int argc, char **argv);
/* Checks that every blob the attachment rows of the SQLite database
 * `db_path` refer to is in the blobs folder `blobs_dir` with its size
 * (backup.c; used by restore and doctor). *refs gets how many rows were
 * checked, *missing how many failed, `first` (may be NULL) a line about the
 * first. -1 with `first` set when the database cannot be read, else 0. */
int pos_cli_check_blobs(const char *db_path, const char *blobs_dir, unsigned long long *refs,
			unsigned long long *missing, char *first, size_t first_cap);
int pos_cli_gendoc(int argc, char **argv);

/* `git describe` of the source tree at build time (build/git_commit.c). */
extern const char pos_git_commit[];

/* The subcommand table (for gendoc's personalos(1)) and its length. */
const struct pos_cli_cmd *pos_cli_commands(size_t *n);
int pos_cli_import(int argc, char **argv); /* sync */
/* export.c (issue 14): export and import files of an account */
int pos_cli_export(int argc, char **argv);
/* `personalos import [FORMAT] FILE`: `format` NULL guesses it. */
int pos_cli_import_file(const struct pos_config *cfg, const char *format, const char *path,
			const char *email, const char *passphrase_file);
/* client.c (clients): commands that talk to a running server */
int pos_cli_add(int argc, char **argv);
int pos_cli_search(int argc, char **argv);
int pos_cli_chat(int argc, char **argv);
int pos_cli_login(int argc, char **argv);
int pos_cli_mcp(int argc, char **argv);
/* personalos import files DIR: uploads each file to a running server
 * (client.c; issue 21). argv[0] is "files". */
int pos_cli_import_files(int argc, char **argv);
/* migrate.c (issue 18): `personalos migrate --from SRC --to DST`, a whole
 * store between SQLite and PostgreSQL, verified before it commits */
int pos_cli_migrate(int argc, char **argv);
/* plugin.c (issue 15): `personalos plugin list|install|remove|run-hook`,
 * a user's plugins in the data directory, offline */
int pos_cli_plugin(int argc, char **argv);

#endif
