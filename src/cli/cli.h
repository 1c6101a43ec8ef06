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
int pos_cli_import(int argc, char **argv);
/* client.c (clients): commands that talk to a running server */
int pos_cli_add(int argc, char **argv);
int pos_cli_search(int argc, char **argv);
int pos_cli_chat(int argc, char **argv);
int pos_cli_login(int argc, char **argv);
int pos_cli_mcp(int argc, char **argv);

#endif
