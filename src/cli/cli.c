/*
 * cli.c — the subcommand table, shared option parsing, help and version.
 */
#include "cli/cli.h"

#include <jansson.h>
#include <microhttpd.h>
#include <sodium.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>

#include "base/err.h"
#include "files/extract.h"

static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

#define CLIENT_HELP                                                             \
	"\n"                                                                    \
	"The server is --server URL, else PERSONALOS_URL, else the login file,\n" \
	"else http://127.0.0.1:8420; the token --token, else PERSONALOS_TOKEN,\n"  \
	"else the login file (see `personalos login`).\n"

static const struct pos_cli_cmd commands[] = {
	{"serve", "run the HTTP server",
	 "usage: personalos serve [--listen HOST:PORT] [--data DIR] [--web DIR] [--config FILE]\n"
	 "\n"
	 "Serves the PersonalOS API and the web app (the build in --web DIR,\n"
	 "default ./web/dist) until SIGINT/SIGTERM, then answers new and queued\n"
	 "requests 503, lets running ones finish (shutdown_grace), stops the jobs\n"
	 "at their next check and closes the store (docs/OPERATIONS.md, \"Stopping\").\n"
	 "\n"
	 "A public instance (docs/SECURITY.md, README \"Running a public instance\"):\n"
	 "the first account to register becomes admin, then registration needs an\n"
	 "invite (registration = invite); run behind a TLS proxy with\n"
	 "trust_forwarded_for = on and max_connections_per_ip = 0 (the proxy caps\n"
	 "connections); keep sync_file_root unset or a directory of its own;\n"
	 "list in egress_allow only the local servers users may reach; keep a\n"
	 "master_key_file outside the data directory; leave /metrics on loopback\n"
	 "or set metrics_token.\n",
	 pos_cli_serve},
	{"user", "manage accounts: user add|list|passwd|disable|enable|delete",
	 "usage: personalos user add EMAIL [--admin] [--name NAME] [--data DIR]\n"
	 "       personalos user list [--data DIR]\n"
	 "       personalos user passwd|disable|enable|delete EMAIL|ID [--data DIR]\n"
	 "\n"
	 "add      creates an account; the password is read from standard input\n"
	 "         (one line), or prompted for twice without echo on a terminal.\n"
	 "         --admin gives it the admin role (the first account always is).\n"
	 "         The registration mode does not apply: the operator may add anyone.\n"
	 "list     prints every account: id, email, created, role, state, memories.\n"
	 "passwd   sets a new password (read like add) and revokes the account's\n"
	 "         sessions, refresh tokens and API tokens (not for encrypted\n"
	 "         accounts: use the API with the old password or recovery key).\n"
	 "disable  the account can no longer log in or refresh, and its sessions\n"
	 "         and API tokens stop working at once; enable undoes it.\n"
	 "delete   deletes the account and everything in it, for good.\n"
	 "The last enabled admin cannot be disabled or deleted.\n",
	 pos_cli_user},
	{"doctor", "check the store's integrity and print a summary",
	 "usage: personalos doctor [--full] [--data DIR]\n"
	 "\n"
	 "Opens the store (applying pending migrations), runs SQLite's\n"
	 "quick_check (integrity_check with --full), checks counters and foreign\n"
	 "keys, that the full-text index holds exactly the memories' text and that\n"
	 "every vector belongs to a memory of its user, that every attachment's\n"
	 "file is in DATA/blobs (SQLite), and prints counts. Exit\n"
	 "status 0 when healthy, 1 otherwise (with the steps to restore a backup).\n",
	 pos_cli_doctor},
	{"backup", "online backup of the data directory: backup DEST_DIR",
	 "usage: personalos backup DEST_DIR [--data DIR]\n"
	 "\n"
	 "Writes a consistent copy of the database (SQLite's online backup: the\n"
	 "server may keep running and writing) and the key file into DEST_DIR\n"
	 "(created 0700; it must not hold a backup yet), then checks the copy.\n"
	 "Then copies the uploaded files (DATA/blobs, every blob; fsynced, never\n"
	 "hard links) into DEST_DIR/blobs: after the database, so every file the\n"
	 "copy's rows refer to is there. SQLite only (PostgreSQL: pg_dump, then\n"
	 "copy DATA/blobs). To restore it: personalos restore DEST_DIR (with the\n"
	 "server stopped).\n"
	 "A master_key_file is not copied: keep it (and its own backup) apart.\n",
	 pos_cli_backup},
	{"restore", "restore a backup into the data directory: restore SRC_DIR",
	 "usage: personalos restore SRC_DIR [--data DIR]\n"
	 "\n"
	 "Checks the backup in SRC_DIR whole first (SQLite's full integrity_check,\n"
	 "a schema this build opens, a key file that opens with master_key_file,\n"
	 "every uploaded file an attachment refers to in SRC_DIR/blobs at its size)\n"
	 "and changes nothing if any check fails. Refuses while a server has the\n"
	 "data directory's database open: stop it first. Then moves the current\n"
	 "database, key file and blobs into DATA/before-restore-<UTC time> (never\n"
	 "deleted: remove it once the restored server looks right) and copies the\n"
	 "backup in (the files staged in DATA/blobs.restoring first).\n"
	 "Exit status 0 when restored, 1 when refused, 2 on a usage error.\n",
	 pos_cli_restore},
	{"gendoc", "print generated packaging files: gendoc env|conf|man1|man5",
	 "usage: personalos gendoc env|conf|man1|man5\n"
	 "\n"
	 "Prints a file generated from the option and command tables, so it never\n"
	 "drifts from the code: env  .env.example (every PERSONALOS_* variable),\n"
	 "conf  an example personalos.conf, man1  the personalos(1) man page,\n"
	 "man5  the personalos.conf(5) man page. make install and the checked-in\n"
	 ".env.example and packaging/personalos.conf.example use it.\n",
	 pos_cli_gendoc},
	/* sync (docs/SYNC.md) */
	{"import", "import mail, calendars or notes: import mbox|maildir|ics|markdown PATH",
	 "usage: personalos import mbox|maildir|ics|markdown PATH [--data DIR] [--user EMAIL]\n"
	 "       personalos import KIND PATH --server URL --token TOKEN\n"
	 "       personalos import [--format F] [F] FILE [--data DIR] [--user EMAIL]\n"
	 "                         [--passphrase-file FILE]\n"
	 "\n"
	 "Imports an mbox file, a Maildir, an .ics file or a folder of Markdown notes\n"
	 "as memories. PATH becomes a sync source of the user (kind mbox, maildir,\n"
	 "ics_file or markdown_dir, manual only), so importing the same PATH again\n"
	 "adds only what is new and never duplicates; malformed items are skipped and\n"
	 "reported with their position.\n"
	 "\n"
	 "Without --server the data directory is written directly (--user may be left\n"
	 "out when there is one account); embeddings follow when the server next runs.\n"
	 "With --server (token also from PERSONALOS_TOKEN) the running server does the\n"
	 "import through /api/sync as that user: PATH is then relative to the user's\n"
	 "folder on the server (sync_file_root/<user id>/), as for any API user.\n"
	 "A progress bar is drawn on a terminal; a summary ends the run. Exit status\n"
	 "0 when the import ran (skipped items included), 1 when it failed.\n"
	 "\n"
	 "FILE (the third form) is an export to read into the account\n"
	 "(docs/EXPORT.md): F is json, jsonl, markdown (the zip), obsidian (a zip\n"
	 "of a vault), chatgpt or claude (conversations.json), takeout-keep (the\n"
	 "Takeout zip) or csv, guessed from the file when left out. Importing the\n"
	 "same file again adds nothing; invalid items are skipped and named.\n"
	 "\n"
	 "personalos import files DIR [--tags a,b] [--server URL] [--token TOKEN]\n"
	 "uploads every regular file below DIR (hidden files and links skipped) to\n"
	 "a running server as file memories, like `add --file` (POST /api/files):\n"
	 "one line of progress per file on standard error, what was added on\n"
	 "standard output; exit status 1 when any failed (docs/FILES.md).\n",
	 pos_cli_import},
	/* export and import (issue 14, docs/EXPORT.md) */
	{"export", "export an account's memories to a file: export --format F -o FILE",
	 "usage: personalos export [--user EMAIL] --format json|jsonl|markdown|csv -o FILE\n"
	 "                         [--include memories,relationships,conversations,persona,\n"
	 "                          settings,sync_sources] [--folders type|date] [--data DIR]\n"
	 "                         [--seal] [--passphrase-file FILE]\n"
	 "\n"
	 "Writes the account's export (docs/EXPORT.md) from the data directory,\n"
	 "streamed, with a progress bar on a terminal; FILE is made 0600. json is\n"
	 "the lossless PersonalOS format; `personalos import FILE` reads it back.\n"
	 "markdown puts each memory's attachment files beside its note.\n"
	 "Sync sources are written without their secrets. Encrypted accounts are\n"
	 "refused: use the API after logging in. --user may be left out when the\n"
	 "instance has one account.\n"
	 "--seal seals the file under a passphrase (Argon2id + XChaCha20-Poly1305),\n"
	 "read from the first line of --passphrase-file or PERSONALOS_EXPORT_PASSPHRASE\n"
	 "(never from the command line); `personalos import` opens it the same way.\n",
	 pos_cli_export},
	/* clients (issue 17): talk to a running server (PERSONALOS_URL/TOKEN,
	 * --server/--token, or the file `personalos login` writes) */
	{"add", "add a memory to a running server: add TEXT|-",
	 "usage: personalos add TEXT|- [--type TYPE] [--tags a,b] [--json]\n"
	 "       personalos add --file PATH [--tags a,b] [--json]\n"
	 "                      [--server URL] [--token TOKEN]\n"
	 "\n"
	 "Adds TEXT (or standard input with -) as a memory, source \"cli\", and\n"
	 "prints its id (the whole memory with --json). TYPE is note (default),\n"
	 "conversation, action, file, event or email. With --file, uploads the\n"
	 "file as a file memory (POST /api/files) whose text the server finds\n"
	 "offline (docs/FILES.md).\n"
	 CLIENT_HELP,
	 pos_cli_add},
	{"search", "search the memories of a running server",
	 "usage: personalos search QUERY [--limit N] [--mode hybrid|keyword|semantic] [--json]\n"
	 "                         [--server URL] [--token TOKEN]\n"
	 "\n"
	 "Prints the best matches as a table (id, type, created, score, content),\n"
	 "or the API's JSON answer with --json. The query may carry filters\n"
	 "(type:note, tag:work, after:2026-01-01). Default limit 10.\n"
	 CLIENT_HELP,
	 pos_cli_search},
	{"chat", "talk with the assistant of a running server",
	 "usage: personalos chat [MESSAGE] [--conversation ID] [--server URL] [--token TOKEN]\n"
	 "\n"
	 "With MESSAGE: one question, the answer streamed as it is written. Without:\n"
	 "an interactive chat reading lines from standard input; the conversation\n"
	 "carries on from turn to turn (--conversation ID resumes an old one).\n"
	 "/history prints the conversation so far, /new starts another, /quit ends.\n"
	 CLIENT_HELP,
	 pos_cli_chat},
	{"login", "save a server URL and a personal API token for the client commands",
	 "usage: personalos login [--server URL] --token TOKEN\n"
	 "       personalos login [--server URL] --email EMAIL [--scope read|write]\n"
	 "\n"
	 "With --token: checks the token against the server and saves it. With\n"
	 "--email: reads the password (standard input, or prompted without echo),\n"
	 "signs in and creates a personal API token (scope write unless --scope\n"
	 "read) named after this host. Writes URL and token to\n"
	 "$XDG_CONFIG_HOME/personalos/client.conf (else ~/.config/personalos/),\n"
	 "mode 0600; add, search, chat and mcp read it.\n",
	 pos_cli_login},
	{"mcp", "serve the Model Context Protocol on stdio, relaying to a running server",
	 "usage: personalos mcp [--server URL] [--token TOKEN]\n"
	 "\n"
	 "The stdio transport of MCP (docs/MCP.md): reads one JSON-RPC message a\n"
	 "line from standard input, relays it to POST /mcp of the server, writes\n"
	 "the answer as one line to standard output. Logs go to standard error.\n"
	 "Configure it in Claude Desktop, Cursor or VS Code as the command\n"
	 "`personalos mcp` with PERSONALOS_URL and PERSONALOS_TOKEN in its env.\n"
	 CLIENT_HELP,
	 pos_cli_mcp},
	/* scale out (issue 18, docs/DEPLOY.md) */
	{"migrate", "copy a whole store between SQLite and PostgreSQL, verified",
	 "usage: personalos migrate --from sqlite:DIR --to postgres://USER@HOST[:PORT]/DB\n"
	 "       personalos migrate --from postgres://... --to sqlite:DIR\n"
	 "                         [--batch N] [--config FILE]\n"
	 "\n"
	 "Copies every table of the store (users, memories, tags, relations, vectors,\n"
	 "chat, jobs, sync sources, shares, plugins, files' records) to the other\n"
	 "backend, parents before children, N rows a batch (default 500, at most\n"
	 "10000), in one transaction on the destination. The destination's schema\n"
	 "is made or upgraded first; it must hold no users (a new database or data\n"
	 "directory). The source is first brought to this build's schema (as a\n"
	 "server start would), then read in one snapshot; a server may keep\n"
	 "running on it, but what it writes meanwhile is not copied.\n"
	 "\n"
	 "Progress goes to standard error (table, rows done / total). Before\n"
	 "committing, every table is read back from the destination and compared\n"
	 "with the source: row count and a checksum of the rows (BLAKE2b of each\n"
	 "row's values, summed, so order does not matter). The comparison is printed;\n"
	 "on any difference nothing is written and the exit status is 1.\n"
	 "\n"
	 "The server keys move with the data: from DIR/keys into PostgreSQL's\n"
	 "server_keys table (sealed under master_key_file when the configuration\n"
	 "or PERSONALOS_MASTER_KEY_FILE sets one), or back into DIR/keys.\n"
	 "Uploaded files stay in the data directory's blobs/:\n"
	 "give the PostgreSQL instances that directory (or a copy of blobs/).\n"
	 "Keep the database password out of the URL (~/.pgpass or PGPASSWORD).\n",
	 pos_cli_migrate},
	/* plugins (issue 15, docs/PLUGINS.md "Developing a plugin") */
	{"plugin", "a user's plugins, offline: plugin list|install|remove|run-hook",
	 "usage: personalos plugin list [--user EMAIL] [--dir PATH] [--data DIR]\n"
	 "       personalos plugin install ID --user EMAIL [--grant p1,p2] [--settings JSON]\n"
	 "                                [--dir PATH] [--data DIR]\n"
	 "       personalos plugin remove ID --user EMAIL [--data DIR]\n"
	 "       personalos plugin run-hook HOOK --plugin ID --user EMAIL\n"
	 "                                [--memory ID | --json EVENT] [--dir PATH] [--data DIR]\n"
	 "\n"
	 "Works on the data directory directly (stop the server or use a copy), for\n"
	 "developing and trying plugins. The catalog is --dir PATH, a folder of\n"
	 "packages or one package's folder (its parent is read), else plugins_dir.\n"
	 "list      the catalog as JSON; with --user, that user's installs (status,\n"
	 "          last error, failures, granted permissions, settings, logs).\n"
	 "install   installs ID for the user granting --grant (exactly the\n"
	 "          permissions the plugin asks for), with optional --settings.\n"
	 "remove    uninstalls it; its kv data and logs go too.\n"
	 "run-hook  runs HOOK (on_memory_created, on_memory_accessed, on_query,\n"
	 "          on_user_action, on_memory_creating) of the user's install in\n"
	 "          its sandbox, with the event {memory} of --memory ID or the\n"
	 "          object --json EVENT (e.g.\n"
	 "          '{\"query\":\"weather in Oslo\"}', '{\"action\":\"digest\"}'), and\n"
	 "          prints {\"result\": ...}. The outcome counts like a server call.\n"
	 "Exit status 0 on success, 1 when it failed (the plugin's error on\n"
	 "standard error), 2 on a usage error.\n",
	 pos_cli_plugin},
	{"version", "print the version and library versions",
	 "usage: personalos version\n", cmd_version},
	{"help", "list commands, or show one command's help",
	 "usage: personalos help [COMMAND]\n", cmd_help},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

const struct pos_cli_cmd *pos_cli_commands(size_t *n)
{
	*n = N_COMMANDS;
	return commands;
}

static const struct pos_cli_cmd *find(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void overview(FILE *out)
{
	fprintf(out,
		"PersonalOS %s — a self-hosted personal memory server.\n\n"
		"usage: personalos COMMAND [OPTIONS]\n\nCommands:\n",
		POS_VERSION);
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out,
		"\nCommon options:\n"
		"  --data DIR        data directory (default ./data)\n"
		"  --config FILE     config file of `key = value` lines\n"
		"  -h, --help        help for a command\n\n");
	pos_config_print_help(out);
}

static int cmd_help(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--help") && strcmp(argv[1], "-h")) {
		const struct pos_cli_cmd *c = find(argv[1]);
		if (!c) {
			fprintf(stderr, "personalos: unknown command '%s'\n", argv[1]);
			return 2;
		}
		fputs(c->usage, stdout);
		return 0;
	}
	overview(stdout);
	return 0;
}

static int cmd_version(int argc, char **argv)
{
	if (pos_cli_wants_help(argc, argv)) {
		fputs(find("version")->usage, stdout);
		return 0;
	}
	printf("personalos %s (commit %s; sqlite %s, libmicrohttpd %s, jansson %s, libsodium %s)\n",
	       POS_VERSION, pos_git_commit, sqlite3_libversion(), MHD_get_version(), JANSSON_VERSION,
	       sodium_version_string());
	return 0;
}

int pos_cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return 1;
	return 0;
}

/* Takes the value of --name VALUE or --name=VALUE at argv[*i]. */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);
	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] == '\0' && *i + 1 < argc)
		return argv[++*i];
	return NULL;
}

int pos_cli_config(int *argc, char **argv, struct pos_config *cfg,
		   const char *usage)
{
	struct pos_error err;
	pos_error_clear(&err);
	/* Every file a command makes (database, WAL, key file, blobs, logs
	 * of a sync) is the server's alone: 0600 files, 0700 directories
	 * (docs/SECURITY.md, "Keys and file permissions"). */
	umask(077);
	pos_config_defaults(cfg);
	const char *config_file = getenv("PERSONALOS_CONFIG");
	int out = 1;
	for (int i = 1; i < *argc; i++) {
		const char *v;
		if ((v = opt_value(*argc, argv, &i, "--config"))) {
			config_file = v;
		} else if (!strcmp(argv[i], "--config")) {
			fprintf(stderr, "personalos: %s needs a value\n%s", argv[i], usage);
			return 2;
		} else {
			argv[out++] = argv[i];
		}
	}
	*argc = out;
	argv[out] = NULL;
	/* later wins: file, then environment, then the table's flags */
	if (config_file && pos_config_load_file(cfg, config_file, &err))
		goto bad;
	if (pos_config_load_env(cfg, &err))
		goto bad;
	if (pos_config_load_flags(cfg, argc, argv, &err))
		goto bad;
	return 0;
bad:
	fprintf(stderr, "personalos: %s\n", err.message);
	return 2;
}

int pos_cli_main(int argc, char **argv)
{
	if (argc < 2) {
		overview(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return cmd_help(1, argv);
	if (!strcmp(argv[1], "--version"))
		return cmd_version(1, argv);
	/* the server's text-extraction child (files/extract.h), not listed */
	if (!strcmp(argv[1], "extract-text"))
		return pos_extract_child_main(argc, argv);
	const struct pos_cli_cmd *c = find(argv[1]);
	if (!c) {
		fprintf(stderr, "personalos: unknown command '%s' (see personalos --help)\n",
			argv[1]);
		return 2;
	}
	if (pos_cli_wants_help(argc - 1, argv + 1) && c->run != cmd_help) {
		fputs(c->usage, stdout);
		if (c->run == pos_cli_serve) {
			fputc('\n', stdout);
			pos_config_print_help(stdout);
		}
		return 0;
	}
	return c->run(argc - 1, argv + 1);
}
