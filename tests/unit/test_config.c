/*
 * Unit tests for src/base/config.c: the option table itself (every row
 * round-trips, writes only its own field, enforces its range), and the
 * order of the sources: defaults, file, environment, flags.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"

static const struct pos_config_option *table(size_t *n)
{
	const struct pos_config_option *o = pos_config_options(n);
	assert_true(*n > 50);
	return o;
}

/* Unsets every variable the table reads, so the host's environment does
 * not leak into a test. */
static void clear_env(void)
{
	size_t n;
	const struct pos_config_option *o = table(&n);
	for (size_t i = 0; i < n; i++) {
		unsetenv(o[i].env);
		if (o[i].env2)
			unsetenv(o[i].env2);
	}
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	fclose(f);
}

static void table_is_consistent(void **state)
{
	size_t n;
	const struct pos_config_option *o = table(&n);
	for (size_t i = 0; i < n; i++) {
		assert_non_null(o[i].name);
		assert_non_null(o[i].env);
		assert_true(o[i].help && *o[i].help);
		assert_ptr_equal(pos_config_find(o[i].name), &o[i]);
		assert_true(o[i].offset + o[i].size <= sizeof(struct pos_config));
		if (o[i].kind != POS_CFG_LISTEN && o[i].kind != POS_CFG_PATH &&
		    o[i].kind != POS_CFG_STRING && o[i].kind != POS_CFG_BOOL)
			assert_true(o[i].min <= o[i].max);
		/* a documented default is the real one */
		if (o[i].def) {
			char want[160];
			snprintf(want, sizeof(want), "default %s", o[i].def);
			if (!strstr(o[i].help, want))
				fail_msg("help of %s does not say '%s'", o[i].name, want);
		}
		for (size_t j = 0; j < i; j++) {
			assert_true(strcmp(o[i].name, o[j].name) != 0);
			assert_true(strcmp(o[i].env, o[j].env) != 0);
			/* no two rows share a field */
			assert_true(o[i].offset + o[i].size <= o[j].offset ||
				    o[j].offset + o[j].size <= o[i].offset);
		}
	}
	assert_null(pos_config_find("bogus"));
}

/* The defaults the rest of the server was written against. */
static void defaults_unchanged(void **state)
{
	struct pos_config c;
	pos_config_defaults(&c);
	assert_string_equal(c.listen_host, "127.0.0.1");
	assert_int_equal(c.listen_port, 8420);
	assert_string_equal(c.data_dir, "./data");
	assert_string_equal(c.web_root, "./web/dist");
	assert_string_equal(c.sync_file_root, "");
	assert_int_equal(c.threads, 0);
	assert_int_equal(c.access_token_ttl_s, 900);
	assert_int_equal(c.refresh_token_ttl_s, 30LL * 86400);
	assert_int_equal(c.pwhash_opslimit, 4);
	assert_int_equal(c.pwhash_memlimit_kib, 65536);
	assert_true(c.log_requests);
	assert_int_equal(c.shutdown_grace_s, 10);
	assert_int_equal(c.embed_dim, 256);
	assert_int_equal(c.embed_remote_dim, 0);
	assert_string_equal(c.embed_url, "");
	assert_string_equal(c.llm_url, "");
	assert_int_equal(c.llm_timeout_s, 120);
	assert_int_equal(c.llm_connect_timeout_s, 5);
	assert_int_equal(c.llm_idle_timeout_s, 30);
	assert_int_equal(c.chat_context_tokens, 2000);
	assert_int_equal(c.chat_memories, 8);
	assert_int_equal(c.chat_history, 10);
	assert_string_equal(c.memu_api_key, "");
	assert_string_equal(c.memu_base_url, "");
	assert_int_equal(c.search_candidates, 200);
	assert_int_equal(c.search_cache_entries, 1024);
	assert_int_equal(c.search_loaded_users, 64);
	assert_true(c.search_weight_keyword == 1.0);
	assert_true(c.search_weight_semantic == 0.15);
	assert_true(c.search_rrf_k == 60);
	assert_true(c.search_boost_recency == 0.05);
	assert_true(c.search_recency_half_life_days == 90);
	assert_true(c.search_boost_importance == 0.05);
	assert_true(c.search_boost_layer == 0.05);
	assert_true(c.search_boost_access == 0.02);
	assert_true(c.rate_limit);
	assert_int_equal(c.rl_ip_rate, 200);
	assert_int_equal(c.rl_ip_burst, 1000);
	assert_int_equal(c.rl_user_rate, 100);
	assert_int_equal(c.rl_user_burst, 500);
	assert_int_equal(c.rl_auth_per_min, 60);
	assert_int_equal(c.rl_auth_burst, 30);
	assert_int_equal(c.login_fail_account, 5);
	assert_int_equal(c.login_fail_ip, 20);
	assert_int_equal(c.login_lockout_base_s, 30);
	assert_int_equal(c.login_lockout_max_s, 900);
	assert_int_equal(c.rl_slots, 65536);
	assert_false(c.trust_forwarded_for);
	assert_string_equal(c.cors_origins, "");
	assert_string_equal(c.tls_cert, "");
}

/* A value different from the default that the row accepts. */
static const char *other_value(const struct pos_config_option *o,
			       const struct pos_config *d, char *buf, size_t cap)
{
	switch (o->kind) {
	case POS_CFG_LISTEN:
		return "[::1]:1";
	case POS_CFG_PATH:
	case POS_CFG_STRING:
		if (o->choices) {      /* the first allowed word */
			const char *bar = strchr(o->choices, '|');
			size_t len = bar ? (size_t)(bar - o->choices) : strlen(o->choices);
			snprintf(buf, cap, "%.*s", (int)len, o->choices);
			return buf;
		}
		return "/some/where";
	case POS_CFG_BOOL:
		return *(const bool *)((const char *)d + o->offset) ? "off" : "on";
	default: {
		double def = o->def ? strtod(o->def, NULL) : 0;
		snprintf(buf, cap, "%lld", def == (double)o->min ? o->max : o->min);
		return buf;
	}
	}
}

/* Every row: get -> set gives the same bytes; a new value lands in the
 * row's own field and nowhere else. */
static void every_row_round_trips(void **state)
{
	size_t n;
	const struct pos_config_option *o = table(&n);
	struct pos_error e;
	pos_error_clear(&e);
	for (size_t i = 0; i < n; i++) {
		struct pos_config d, c;
		char text[4096], num[64];
		pos_config_defaults(&d);
		memcpy(&c, &d, sizeof(c));

		/* the default, written out and read back, is unchanged (an
		 * unset path, like sync_file_root, cannot be set to "") */
		assert_int_equal(pos_config_get(&d, o[i].name, text, sizeof(text), &e), POS_OK);
		if (o[i].kind != POS_CFG_PATH || *text) {
			assert_int_equal(pos_config_set(&c, o[i].name, text, "t", &e), POS_OK);
			assert_memory_equal(&c, &d, sizeof(c));
		}

		const char *v = other_value(&o[i], &d, num, sizeof(num));
		assert_int_equal(pos_config_set(&c, o[i].name, v, "t", &e), POS_OK);
		const unsigned char *a = (const unsigned char *)&c, *b = (const unsigned char *)&d;
		size_t changed = 0;
		for (size_t k = 0; k < sizeof(c); k++) {
			if (a[k] == b[k])
				continue;
			changed++;
			int own = k >= o[i].offset && k < o[i].offset + o[i].size;
			int port = o[i].kind == POS_CFG_LISTEN &&
				   k >= offsetof(struct pos_config, listen_port) &&
				   k < offsetof(struct pos_config, listen_port) + sizeof(unsigned);
			if (!own && !port)
				fail_msg("setting %s changed byte %zu outside its field",
					 o[i].name, k);
		}
		if (!changed)
			fail_msg("setting %s to %s changed nothing", o[i].name, v);
		assert_int_equal(pos_config_get(&c, o[i].name, text, sizeof(text), &e), POS_OK);
		if (o[i].kind != POS_CFG_DOUBLE)
			assert_string_equal(text, v);
		struct pos_config again;
		memcpy(&again, &d, sizeof(again));
		assert_int_equal(pos_config_set(&again, o[i].name, text, "t", &e), POS_OK);
		assert_memory_equal(&again, &c, sizeof(c));
	}
}

static void ranges_are_enforced(void **state)
{
	size_t n;
	const struct pos_config_option *o = table(&n);
	struct pos_error e;
	pos_error_clear(&e);
	struct pos_config c;
	pos_config_defaults(&c);
	for (size_t i = 0; i < n; i++) {
		char v[64];
		const char *key = o[i].name;
		switch (o[i].kind) {
		case POS_CFG_UINT:
		case POS_CFG_I64:
		case POS_CFG_ULL:
		case POS_CFG_DOUBLE:
			snprintf(v, sizeof(v), "%lld", o[i].min);
			assert_int_equal(pos_config_set(&c, key, v, "t", &e), POS_OK);
			snprintf(v, sizeof(v), "%lld", o[i].max);
			assert_int_equal(pos_config_set(&c, key, v, "t", &e), POS_OK);
			snprintf(v, sizeof(v), "%lld", o[i].max + 1);
			assert_int_equal(pos_config_set(&c, key, v, "t", &e), POS_ERR_USAGE);
			snprintf(v, sizeof(v), "%lld", o[i].min - 1);
			assert_int_equal(pos_config_set(&c, key, v, "t", &e), POS_ERR_USAGE);
			assert_non_null(strstr(e.message, key));
			assert_int_equal(pos_config_set(&c, key, "", "t", &e), POS_ERR_USAGE);
			assert_int_equal(pos_config_set(&c, key, "12x", "t", &e), POS_ERR_USAGE);
			break;
		case POS_CFG_BOOL:
			assert_int_equal(pos_config_set(&c, key, "maybe", "t", &e), POS_ERR_USAGE);
			break;
		case POS_CFG_PATH:
			assert_int_equal(pos_config_set(&c, key, "", "t", &e), POS_ERR_USAGE);
			/* fall through: and no longer than the field */
		case POS_CFG_STRING: {
			if (o[i].choices) {
				/* only the listed words, or empty */
				assert_int_equal(pos_config_set(&c, key, "other", "t", &e), POS_ERR_USAGE);
				assert_non_null(strstr(e.message, o[i].choices));
				assert_int_equal(pos_config_set(&c, key, "", "t", &e), POS_OK);
				break;
			}
			char *big = malloc(o[i].size + 1);
			assert_non_null(big);
			memset(big, 'a', o[i].size);
			big[o[i].size] = '\0';
			assert_int_equal(pos_config_set(&c, key, big, "t", &e), POS_ERR_USAGE);
			big[o[i].size - 1] = '\0';
			assert_int_equal(pos_config_set(&c, key, big, "t", &e), POS_OK);
			free(big);
			break;
		}
		case POS_CFG_LISTEN:
			assert_int_equal(pos_config_set(&c, key, "nope", "t", &e), POS_ERR_USAGE);
			assert_int_equal(pos_config_set(&c, key, "h:65536", "t", &e), POS_ERR_USAGE);
			break;
		}
	}
	/* a rejected value leaves the old one */
	assert_int_equal(pos_config_set(&c, "threads", "7", "t", &e), POS_OK);
	assert_int_equal(pos_config_set(&c, "threads", "1000", "t", &e), POS_ERR_USAGE);
	assert_int_equal(c.threads, 7);
	assert_int_equal(pos_config_set(&c, "bogus", "1", "t", &e), POS_ERR_USAGE);
}

static void config_file_lines(void **state)
{
	struct pos_config c;
	struct pos_error e;
	pos_error_clear(&e);
	pos_config_defaults(&c);
	assert_int_equal(pos_config_set(&c, "listen", "0.0.0.0:9000", "t", &e), POS_OK);
	assert_string_equal(c.listen_host, "0.0.0.0");
	assert_int_equal(c.listen_port, 9000);
	assert_int_equal(pos_config_set(&c, "listen", "[::1]:80", "t", &e), POS_OK);
	assert_string_equal(c.listen_host, "::1");
	assert_int_equal(pos_config_set(&c, "log_requests", "off", "t", &e), POS_OK);
	assert_false(c.log_requests);
	char path[] = "/tmp/pos_config_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	write_file(path, "# comment\n access_token_ttl = 60 \n\nthreads=3 # trailing\n");
	assert_int_equal(pos_config_load_file(&c, path, &e), POS_OK);
	assert_int_equal(c.access_token_ttl_s, 60);
	assert_int_equal(c.threads, 3);
	write_file(path, "threads = 2\njunk\n");
	assert_int_equal(pos_config_load_file(&c, path, &e), POS_ERR_USAGE);
	assert_non_null(strstr(e.message, ":2"));
	write_file(path, "threads = 9999\n");
	assert_int_equal(pos_config_load_file(&c, path, &e), POS_ERR_USAGE);
	assert_non_null(strstr(e.message, "threads must be an integer in 0..256"));
	unlink(path);
	assert_int_equal(pos_config_load_file(&c, path, &e), POS_ERR_IO);
}

/* defaults < file < environment < flags */
static void sources_in_order(void **state)
{
	clear_env();
	struct pos_config c;
	struct pos_error e;
	pos_error_clear(&e);
	pos_config_defaults(&c);
	char path[] = "/tmp/pos_config_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	write_file(path, "data = /from/file\nthreads = 3\nlisten = 10.0.0.1:1\n"
			 "chat_history = 4\n");
	assert_int_equal(pos_config_load_file(&c, path, &e), POS_OK);
	unlink(path);
	setenv("PERSONALOS_DATA", "/from/env", 1);
	setenv("PERSONALOS_THREADS", "5", 1);
	assert_int_equal(pos_config_load_env(&c, &e), POS_OK);
	assert_string_equal(c.data_dir, "/from/env");
	assert_int_equal(c.threads, 5);
	assert_int_equal(c.chat_history, 4);     /* the file's, no variable */

	char *argv[] = {"serve", "--data", "/from/flag", "keep", "--web=/w",
			"--other", NULL};
	int argc = 6;
	assert_int_equal(pos_config_load_flags(&c, &argc, argv, &e), POS_OK);
	assert_string_equal(c.data_dir, "/from/flag");
	assert_string_equal(c.web_root, "/w");
	assert_string_equal(c.listen_host, "10.0.0.1");  /* the file's */
	assert_int_equal(c.threads, 5);                  /* the environment's */
	assert_int_equal(argc, 3);
	assert_string_equal(argv[0], "serve");
	assert_string_equal(argv[1], "keep");
	assert_string_equal(argv[2], "--other");
	assert_null(argv[3]);

	/* a bad variable names itself */
	setenv("PERSONALOS_THREADS", "many", 1);
	assert_int_equal(pos_config_load_env(&c, &e), POS_ERR_USAGE);
	assert_non_null(strstr(e.message, "PERSONALOS_THREADS"));
	clear_env();
}

static void flags_need_good_values(void **state)
{
	struct pos_config c;
	struct pos_error e;
	pos_error_clear(&e);
	pos_config_defaults(&c);
	char *a1[] = {"serve", "--listen", NULL};
	int n1 = 2;
	assert_int_equal(pos_config_load_flags(&c, &n1, a1, &e), POS_ERR_USAGE);
	assert_non_null(strstr(e.message, "--listen needs a value"));
	char *a2[] = {"serve", "--listen=nope", NULL};
	int n2 = 2;
	assert_int_equal(pos_config_load_flags(&c, &n2, a2, &e), POS_ERR_USAGE);
	assert_non_null(strstr(e.message, "--listen"));
	char *a3[] = {"serve", "--listen", "[::1]:9", NULL};
	int n3 = 3;
	assert_int_equal(pos_config_load_flags(&c, &n3, a3, &e), POS_OK);
	assert_string_equal(c.listen_host, "::1");
	assert_int_equal(c.listen_port, 9);
	assert_int_equal(n3, 1);
}

/* MEMU_API_KEY, or MemU's own MEMUU_API_KEY when it is unset. */
static void second_env_name(void **state)
{
	clear_env();
	struct pos_config c;
	struct pos_error e;
	pos_error_clear(&e);
	pos_config_defaults(&c);
	setenv("MEMUU_API_KEY", "second", 1);
	assert_int_equal(pos_config_load_env(&c, &e), POS_OK);
	assert_string_equal(c.memu_api_key, "second");
	setenv("MEMU_API_KEY", "first", 1);
	assert_int_equal(pos_config_load_env(&c, &e), POS_OK);
	assert_string_equal(c.memu_api_key, "first");
	clear_env();
}

static void help_lists_every_row(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	pos_config_print_help(f);
	fclose(f);
	size_t n;
	const struct pos_config_option *o = table(&n);
	for (size_t i = 0; i < n; i++) {
		assert_non_null(strstr(text, o[i].name));
		assert_non_null(strstr(text, o[i].env));
		assert_non_null(strstr(text, o[i].help));
		if (o[i].flag) {
			char want[64];
			snprintf(want, sizeof(want), "; flag %s\n", o[i].flag);
			assert_non_null(strstr(text, want));
		}
	}
	assert_non_null(strstr(text, "; flag --web\n"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(table_is_consistent),
		cmocka_unit_test(defaults_unchanged),
		cmocka_unit_test(every_row_round_trips),
		cmocka_unit_test(ranges_are_enforced),
		cmocka_unit_test(config_file_lines),
		cmocka_unit_test(sources_in_order),
		cmocka_unit_test(flags_need_good_values),
		cmocka_unit_test(second_env_name),
		cmocka_unit_test(help_lists_every_row),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
