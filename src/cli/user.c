/*
 * user.c — `personalos user add|list`: account administration straight on
 * the data directory (works while the server runs: SQLite WAL).
 */
#include "cli/cli.h"

#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "auth/auth.h"
#include "base/arena.h"
#include "base/clock.h"
#include "crypto/crypto.h"
#include "store/store.h"

#define PW_MAX 1100

/* Reads one line into buf, without echo when stdin is a terminal. */
static int read_secret(const char *prompt, char *buf, size_t cap)
{
	bool tty = isatty(STDIN_FILENO);
	struct termios old, quiet;
	if (tty) {
		fputs(prompt, stderr);
		fflush(stderr);
		tcgetattr(STDIN_FILENO, &old);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	char *got = fgets(buf, (int)cap, stdin);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (!got)
		return -1;
	size_t n = strlen(buf);
	if (n && buf[n - 1] != '\n' && !feof(stdin))
		return -2; /* longer than the buffer */
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return 0;
}

static int open_all(const struct pos_config *cfg, struct pos_store **s,
		    struct pos_auth *auth)
{
	struct pos_error err;
	pos_error_clear(&err);
	if (pos_crypto_init()) {
		fprintf(stderr, "personalos: libsodium failed to initialise\n");
		return 1;
	}
	if (pos_sqlite_open_keyed(cfg->data_dir, cfg->master_key_file, s, &err)) {
		fprintf(stderr, "personalos: %s\n", err.message);
		return 1;
	}
	if (auth && pos_auth_init(auth, *s, cfg, &err)) {
		fprintf(stderr, "personalos: %s\n", err.message);
		pos_store_close(*s);
		return 1;
	}
	return 0;
}

static int user_add(int argc, char **argv, const struct pos_config *cfg)
{
	const char *email = NULL, *name = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--name") && i + 1 < argc)
			name = argv[++i];
		else if (!strncmp(argv[i], "--name=", 7))
			name = argv[i] + 7;
		else if (!email && argv[i][0] != '-')
			email = argv[i];
		else {
			fprintf(stderr, "personalos user add: unexpected argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (!email) {
		fprintf(stderr, "usage: personalos user add EMAIL [--name NAME] [--data DIR]\n");
		return 2;
	}
	char pw[PW_MAX], again[PW_MAX];
	int r = read_secret("Password: ", pw, sizeof(pw));
	if (r == 0 && isatty(STDIN_FILENO)) {
		if (read_secret("Again: ", again, sizeof(again)) != 0 || strcmp(pw, again)) {
			fprintf(stderr, "personalos: the passwords do not match\n");
			pos_wipe(pw, sizeof(pw));
			return 1;
		}
	}
	pos_wipe(again, sizeof(again));
	if (r != 0) {
		fprintf(stderr, "personalos: %s\n",
			r == -2 ? "the password is too long" : "no password given on standard input");
		pos_wipe(pw, sizeof(pw));
		return 1;
	}
	struct pos_store *s;
	struct pos_auth auth;
	if (open_all(cfg, &s, &auth)) {
		pos_wipe(pw, sizeof(pw));
		return 1;
	}
	struct pos_arena *a = pos_arena_new();
	struct pos_user u;
	struct pos_error err;
	pos_error_clear(&err);
	int status = 0;
	if (!a) {
		status = 1;
	} else if (pos_auth_register(&auth, a, email, pw, strlen(pw), name, &u, NULL, &err)) {
		fprintf(stderr, "personalos: %s\n", err.message);
		status = 1;
	} else {
		printf("created user %s <%s>\n", u.id, u.email);
	}
	pos_wipe(pw, sizeof(pw));
	pos_arena_destroy(a);
	pos_auth_fini(&auth);
	pos_store_close(s);
	return status;
}

static int user_list(const struct pos_config *cfg)
{
	struct pos_store *s;
	if (open_all(cfg, &s, NULL))
		return 1;
	struct pos_arena *a = pos_arena_new();
	struct pos_user *v = NULL;
	size_t n = 0;
	int status = 0;
	if (!a || s->ops->user_list(s, a, &v, &n)) {
		fprintf(stderr, "personalos: cannot list users\n");
		status = 1;
	} else {
		printf("%-36s  %-32s  %-20s  %s\n", "ID", "EMAIL", "CREATED", "MEMORIES");
		for (size_t i = 0; i < n; i++) {
			char t[40];
			pos_time_format(v[i].created_at - v[i].created_at % 1000000, t, sizeof(t));
			printf("%-36s  %-32s  %-20s  %lld\n", v[i].id, v[i].email, t,
			       (long long)v[i].memory_count);
		}
	}
	pos_arena_destroy(a);
	pos_store_close(s);
	return status;
}

int pos_cli_user(int argc, char **argv)
{
	struct pos_config cfg;
	int rc = pos_cli_config(&argc, argv, &cfg, "see personalos user --help\n");
	if (rc)
		return rc;
	if (argc >= 2 && !strcmp(argv[1], "add"))
		return user_add(argc - 1, argv + 1, &cfg);
	if (argc == 2 && !strcmp(argv[1], "list"))
		return user_list(&cfg);
	fprintf(stderr, "usage: personalos user add EMAIL | personalos user list\n");
	return 2;
}
