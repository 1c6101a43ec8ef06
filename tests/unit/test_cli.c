/*
 * Unit tests for src/cli/cli.c: the shared option parsing of subcommands
 * (pos_cli_config: --config, the environment and the table's flags, in
 * that order) and the dispatch table's exit statuses. The subcommands
 * themselves are tested black-box in tests/api/test_cli.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"
#include "cli/cli.h"

static void clear_env(void)
{
	size_t n;
	const struct pos_config_option *o = pos_config_options(&n);
	for (size_t i = 0; i < n; i++) {
		unsetenv(o[i].env);
		if (o[i].env2)
			unsetenv(o[i].env2);
	}
	unsetenv("PERSONALOS_CONFIG");
}

/* A config file with `text`; its path is written to `path`. */
static void config_file(char *path, const char *text)
{
	snprintf(path, 64, "/tmp/pos_cli_XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void file_then_env_then_flags(void **state)
{
	clear_env();
	char path[64];
	config_file(path, "data = /from/file\nthreads = 3\nlisten = 10.0.0.1:1\n");
	setenv("PERSONALOS_DATA", "/from/env", 1);
	setenv("PERSONALOS_THREADS", "5", 1);
	char *argv[] = {"serve", "--config", path, "keep", "--data=/from/flag", "--x",
			NULL};
	int argc = 6;
	struct pos_config c;
	assert_int_equal(pos_cli_config(&argc, argv, &c, "usage\n"), 0);
	assert_string_equal(c.data_dir, "/from/flag");  /* flag over env */
	assert_int_equal(c.threads, 5);                 /* env over file */
	assert_string_equal(c.listen_host, "10.0.0.1"); /* file over default */
	assert_int_equal(c.listen_port, 1);
	assert_int_equal(c.chat_history, 10);           /* the default */
	/* --config and the flags are consumed, the rest kept in order */
	assert_int_equal(argc, 3);
	assert_string_equal(argv[1], "keep");
	assert_string_equal(argv[2], "--x");
	assert_null(argv[3]);
	unlink(path);
	clear_env();
}

static void config_from_the_environment(void **state)
{
	clear_env();
	char env_file[64], flag_file[64];
	config_file(env_file, "threads = 7\n");
	config_file(flag_file, "threads = 9\n");
	setenv("PERSONALOS_CONFIG", env_file, 1);
	struct pos_config c;
	char *a1[] = {"doctor", NULL};
	int n1 = 1;
	assert_int_equal(pos_cli_config(&n1, a1, &c, "usage\n"), 0);
	assert_int_equal(c.threads, 7);
	/* --config wins over PERSONALOS_CONFIG */
	char *a2[] = {"doctor", "--config", flag_file, NULL};
	int n2 = 3;
	assert_int_equal(pos_cli_config(&n2, a2, &c, "usage\n"), 0);
	assert_int_equal(c.threads, 9);
	assert_int_equal(n2, 1);
	unlink(env_file);
	unlink(flag_file);
	clear_env();
}

static void bad_options_are_usage_errors(void **state)
{
	clear_env();
	struct pos_config c;
	char *a1[] = {"serve", "--config", NULL};
	int n1 = 2;
	assert_int_equal(pos_cli_config(&n1, a1, &c, "usage\n"), 2);
	char *a2[] = {"serve", "--listen", NULL};
	int n2 = 2;
	assert_int_equal(pos_cli_config(&n2, a2, &c, "usage\n"), 2);
	char *a3[] = {"serve", "--listen", "no-port", NULL};
	int n3 = 3;
	assert_int_equal(pos_cli_config(&n3, a3, &c, "usage\n"), 2);
	char *a4[] = {"serve", "--config", "/nonexistent/personalos.conf", NULL};
	int n4 = 3;
	assert_int_equal(pos_cli_config(&n4, a4, &c, "usage\n"), 2);
	char path[64];
	config_file(path, "no_such_key = 1\n");
	char *a5[] = {"serve", "--config", path, NULL};
	int n5 = 3;
	assert_int_equal(pos_cli_config(&n5, a5, &c, "usage\n"), 2);
	unlink(path);
	setenv("PERSONALOS_EMBED_DIM", "1", 1); /* below its range */
	char *a6[] = {"serve", NULL};
	int n6 = 1;
	assert_int_equal(pos_cli_config(&n6, a6, &c, "usage\n"), 2);
	clear_env();
}

static int run(int argc, ...)
{
	char *argv[8];
	va_list ap;
	va_start(ap, argc);
	for (int i = 0; i < argc; i++)
		argv[i] = va_arg(ap, char *);
	va_end(ap);
	argv[argc] = NULL;
	return pos_cli_main(argc, argv);
}

static void dispatch_exit_statuses(void **state)
{
	assert_int_equal(run(1, "personalos"), 2);
	assert_int_equal(run(2, "personalos", "no-such-command"), 2);
	assert_int_equal(run(2, "personalos", "--help"), 0);
	assert_int_equal(run(2, "personalos", "help"), 0);
	assert_int_equal(run(3, "personalos", "help", "serve"), 0);
	assert_int_equal(run(3, "personalos", "help", "nope"), 2);
	assert_int_equal(run(2, "personalos", "version"), 0);
	/* --help on a command prints its usage and runs nothing */
	assert_int_equal(run(3, "personalos", "serve", "--help"), 0);
	assert_int_equal(run(3, "personalos", "doctor", "-h"), 0);
}

static void wants_help(void **state)
{
	char *yes[] = {"serve", "--data", "d", "-h", NULL};
	char *no[] = {"serve", "--data", "--helpful", NULL};
	assert_true(pos_cli_wants_help(4, yes));
	assert_false(pos_cli_wants_help(3, no));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(file_then_env_then_flags),
		cmocka_unit_test(config_from_the_environment),
		cmocka_unit_test(bad_options_are_usage_errors),
		cmocka_unit_test(dispatch_exit_statuses),
		cmocka_unit_test(wants_help),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
