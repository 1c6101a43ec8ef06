/*
 * user.c — `personalos user add|list|passwd|disable|enable|delete`: account
 * administration straight on the data directory (works while the server
 * runs: SQLite WAL). The operator is trusted: the registration mode does
 * not apply, and `add --admin` makes an admin (docs/SECURITY.md).
 */
#include "cli/cli.h"

#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "auth/auth.h"
#include "cache/redis.h"
#include "base/arena.h"
#include "base/clock.h"
#include "crypto/crypto.h"
#include "store/store.h"
#include "store/open.h"

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

/* Reads a new password (twice on a terminal) into pw[PW_MAX]; 1 on failure
 * (reported). */
static int read_new_password(char *pw)
{
	char again[PW_MAX];
	int r = read_secret("Password: ", pw, PW_MAX);
	if (r == 0 && isatty(STDIN_FILENO)) {
		if (read_secret("Again: ", again, sizeof(again)) != 0 || strcmp(pw, again)) {
			fprintf(stderr, "personalos: the passwords do not match\n");
			pos_wipe(pw, PW_MAX);
			pos_wipe(again, sizeof(again));
			return 1;
		}
	}
	pos_wipe(again, sizeof(again));
	if (r != 0) {
		fprintf(stderr, "personalos: %s\n",
			r == -2 ? "the password is too long" : "no password given on standard input");
		pos_wipe(pw, PW_MAX);
		return 1;
	}
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
	if (pos_store_open(cfg, s, &err)) {
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
	bool admin = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--admin"))
			admin = true;
		else if (!strcmp(argv[i], "--name") && i + 1 < argc)
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
		fprintf(stderr, "usage: personalos user add EMAIL [--admin] [--name NAME] [--data DIR]\n");
		return 2;
	}
	char pw[PW_MAX];
	if (read_new_password(pw))
		return 1;
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
	} else {
		struct pos_register_opts opts = {NULL, admin ? "admin" : NULL, true};
		if (pos_auth_register(&auth, a, email, pw, strlen(pw), name, &opts, &u, NULL,
				      &err)) {
			fprintf(stderr, "personalos: %s\n", err.message);
			status = 1;
		} else {
			printf("created %s %s <%s>\n", u.role, u.id, u.email);
		}
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
	if (!a || s->accounts->user_list(s, a, &v, &n)) {
		fprintf(stderr, "personalos: cannot list users\n");
		status = 1;
	} else {
		printf("%-36s  %-32s  %-20s  %-8s  %-8s  %s\n", "ID", "EMAIL", "CREATED", "ROLE",
		       "STATE", "MEMORIES");
		for (size_t i = 0; i < n; i++) {
			char t[40];
			pos_time_format(v[i].created_at - v[i].created_at % 1000000, t, sizeof(t));
			printf("%-36s  %-32s  %-20s  %-8s  %-8s  %lld\n", v[i].id, v[i].email, t,
			       v[i].role, v[i].disabled_at != POS_TIME_NONE ? "disabled" : "active",
			       (long long)v[i].memory_count);
		}
	}
	pos_arena_destroy(a);
	pos_store_close(s);
	return status;
}

/* The account of `who` (an email or a user id) in the arena; 1 (reported)
 * when there is none. */
static int find_user(struct pos_store *s, struct pos_arena *a, const char *who,
		     struct pos_user *u)
{
	char norm[256];
	enum pos_err rc = s->accounts->user_by_id(s, a, who, u);
	if (rc == POS_ERR_NOT_FOUND &&
	    pos_auth_normalize_email(who, norm, sizeof(norm), NULL) == POS_OK)
		rc = s->accounts->user_by_email(s, a, norm, u);
	if (rc) {
		fprintf(stderr, "personalos: %s\n",
			rc == POS_ERR_NOT_FOUND ? "no such user" : pos_strerror(rc));
		return 1;
	}
	return 0;
}

/*
 * passwd, disable, enable, delete of one user (EMAIL or ID). passwd reads
 * the new password like add, and like a password change over the API
 * revokes the user's sessions and API tokens (encrypted accounts must use
 * the API: the data key is wrapped by the password).
 */
static int user_change(const char *cmd, int argc, char **argv, const struct pos_config *cfg)
{
	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: personalos user %s EMAIL|ID [--data DIR]\n", cmd);
		return 2;
	}
	char pw[PW_MAX];
	bool passwd = !strcmp(cmd, "passwd");
	if (passwd && read_new_password(pw))
		return 1;
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
	/* With instances sharing a cache, revocations reach their token
	 * caches too (a Redis that is down: they expire within 30 s). */
	struct pos_cache *cache = NULL;
	if (cfg->cache_url[0] &&
	    pos_cache_new(cfg->cache_url, cfg->cache_timeout_ms, &cache, &err) == POS_OK &&
	    pos_auth_use_cache(&auth, cache) != POS_OK) {
		pos_cache_free(cache);
		cache = NULL;
	}
	pos_error_clear(&err);
	int status = 1;
	enum pos_err rc = POS_OK;
	int64_t ns = 0, nt = 0;
	if (!a || find_user(s, a, argv[1], &u))
		goto out;
	if (passwd) {
		struct pos_user_crypt uc;
		char hash[POS_PWHASH_SIZE];
		if ((rc = pos_auth_check_password(pw, strlen(pw), &err))) {
			fprintf(stderr, "personalos: %s\n", err.message);
			goto out;
		}
		if ((rc = s->keys->crypt_get(s, a, u.id, &uc)))
			goto fail;
		if (strcmp(uc.state, "off") != 0) {
			fprintf(stderr, "personalos: the account is encrypted: change the password"
					" with the old one or the recovery key over the API\n");
			goto out;
		}
		struct pos_user_crypt nc = {0};
		if ((rc = pos_password_hash(pw, strlen(pw), auth.pwhash_ops, auth.pwhash_mem_kib,
					    hash)) ||
		    (rc = s->keys->crypt_put(s, u.id, &nc, hash, "off")))
			goto fail;
		pos_wipe(hash, sizeof(hash));
		if ((rc = pos_auth_revoke_user(&auth, u.id, NULL, true, &ns, &nt)))
			goto fail;
		printf("password changed for %s; revoked %lld sessions, %lld API tokens\n",
		       u.email, (long long)ns, (long long)nt);
	} else if (!strcmp(cmd, "delete")) {
		int64_t users = 0, admins = 0;
		if ((rc = s->accounts->user_counts(s, &users, &admins)))
			goto fail;
		if (!strcmp(u.role, "admin") && u.disabled_at == POS_TIME_NONE && admins <= 1 &&
		    users > 1) {
			rc = POS_ERR_LAST_ADMIN;
			goto fail;
		}
		if ((rc = s->accounts->user_delete(s, u.id, NULL)))
			goto fail;
		if (cache) /* the sessions went with the account: drop their checks */
			pos_auth_revoke_user(&auth, u.id, NULL, true, &ns, &nt);
		printf("deleted %s <%s>\n", u.id, u.email);
	} else {
		struct pos_user_admin_patch p = {0};
		p.set = POS_UADM_DISABLED;
		p.disabled = !strcmp(cmd, "disable");
		if ((rc = s->accounts->user_admin_update(s, u.id, &p, pos_now_us())))
			goto fail;
		if (p.disabled && (rc = pos_auth_revoke_user(&auth, u.id, NULL, false, &ns, &nt)))
			goto fail;
		printf("%s %s <%s>\n", p.disabled ? "disabled" : "enabled", u.id, u.email);
	}
	status = 0;
	goto out;
fail:
	fprintf(stderr, "personalos: %s\n", pos_strerror(rc));
out:
	pos_wipe(pw, sizeof(pw));
	pos_arena_destroy(a);
	pos_auth_fini(&auth);
	pos_cache_free(cache);
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
	static const char *const changes[] = {"passwd", "disable", "enable", "delete"};
	for (size_t i = 0; argc >= 2 && i < sizeof(changes) / sizeof(changes[0]); i++)
		if (!strcmp(argv[1], changes[i]))
			return user_change(changes[i], argc - 1, argv + 1, &cfg);
	fprintf(stderr, "usage: personalos user add|list|passwd|disable|enable|delete"
			" (see personalos user --help)\n");
	return 2;
}
