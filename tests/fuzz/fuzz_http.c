/*
 * fuzz_http.c — libFuzzer driver for the hand-written parsers behind the
 * HTTP server, linked against the whole server (everything but main):
 *
 *   0  the route matcher, with every pattern of the real route table and
 *      with a pattern taken from the input itself;
 *   1  request body decoding and memory-create / bulk / update validation
 *      (through a store that keeps nothing), and the JSON the memory
 *      renders to, which must read back;
 *   2  list and search query parameters (a=b&c=d) as the list parser sees
 *      them;
 *   3  the config file parser (lines of key = value, comments);
 *   4  the CORS allow-list parser and origin matching;
 *   5  X-Forwarded-For parsing for the rate limiter, and the limiter's
 *      buckets and lockout fed with fuzzed identities;
 *   6  the recipient view of a shared memory.
 *
 * The first input byte picks the target. Each must refuse bad input with
 * an error, never crash, leak or read out of bounds.
 *
 * Built and run for a few seconds by ctest (tests/CMakeLists.txt) when
 * clang is installed. For a longer run:
 *
 *   ./build/tests/fuzz_http -max_total_time=600 -max_len=65536 /tmp/fh-corpus
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "api/api.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/json.h"
#include "http/cors.h"
#include "http/ratelimit.h"
#include "http/server.h"
#include "memory/memory.h"
#include "memory/share.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- a store that keeps nothing ---- */

static enum pos_err fake_insert(struct pos_store *s, struct pos_memory *m, size_t n,
				struct pos_error *err)
{
	for (size_t i = 0; i < n; i++)
		m[i].seq = (int64_t)i + 1;
	return POS_OK;
}

static enum pos_err fake_get(struct pos_store *s, struct pos_arena *a, const char *user_id,
			     const char *id, bool touch, int64_t now, struct pos_memory *out)
{
	return POS_ERR_NOT_FOUND;
}

static enum pos_err fake_update(struct pos_store *s, const char *user_id, const char *id,
				const struct pos_memory_patch *p, int64_t now,
				struct pos_error *err)
{
	return POS_OK;
}

static enum pos_err fake_tail(struct pos_store *s, struct pos_arena *a, const char *user_id,
			      const char *thread, size_t max, const char **out, size_t *n)
{
	*n = 0;
	return POS_OK;
}

static const struct pos_store_memories fake_memories = {
	.memory_insert = fake_insert,
	.memory_get = fake_get,
	.memory_update = fake_update,
	.thread_tail = fake_tail,
};

#define USER "3f1c9a2e-7b4d-4e8a-9c61-0d2b5f7e8a13"

/* The rendered memory must be JSON that reads back as an object. */
static void check_render(const struct pos_memory *m)
{
	struct pos_buf b;
	pos_buf_init(&b, 64u << 20);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_memory_json(&w, m);
	if (!w.rc) {
		json_t *back = json_loadb(b.data, b.len, 0, NULL);
		if (!json_is_object(back))
			abort();
		json_decref(back);
	}
	pos_buf_free(&b);
}

static void fuzz_body(const char *s, size_t n)
{
	struct pos_store store = {.memories = &fake_memories};
	struct pos_memsvc svc = {.store = &store};
	struct pos_error e;
	pos_error_clear(&e);
	json_t *v = pos_json_parse(s, n, &e);
	if (!v) {
		if (e.code != POS_ERR_INVALID_JSON)
			abort();
		return;
	}
	struct pos_arena *a = pos_arena_new();
	if (!a)
		abort();
	if (json_is_object(v)) {
		struct pos_memory m;
		pos_error_clear(&e);
		if (pos_memory_create(&svc, a, USER, v, &m, &e) == POS_OK)
			check_render(&m);
		else if (pos_err_status(e.code) >= 500 && e.code != POS_ERR_NOMEM)
			abort(); /* input must never be a server error */
		struct pos_memory *many;
		size_t cnt;
		pos_error_clear(&e);
		if (pos_memory_bulk(&svc, a, USER, v, &many, &cnt, &e) == POS_OK) {
			for (size_t i = 0; i < cnt && i < 4; i++)
				check_render(&many[i]);
		}
		pos_error_clear(&e);
		pos_memory_update(&svc, a, USER, USER, v, &m, &e);
	}
	pos_arena_destroy(a);
	json_decref(v);
}

/* ---- query parameters ---- */

struct params {
	char *keys[16], *vals[16];
	size_t n;
};

static const char *param(void *ctx, const char *name)
{
	struct params *p = ctx;
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->keys[i], name) == 0)
			return p->vals[i];
	return NULL;
}

static void fuzz_params(char *z)
{
	struct params p = {0};
	for (char *save = z; save && p.n < 16;) {
		char *amp = strchr(save, '&');
		if (amp)
			*amp = '\0';
		char *eq = strchr(save, '=');
		if (eq) {
			*eq = '\0';
			p.keys[p.n] = save;
			p.vals[p.n] = eq + 1;
			p.n++;
		}
		save = amp ? amp + 1 : NULL;
	}
	struct pos_arena *a = pos_arena_new();
	if (!a)
		abort();
	struct pos_memory_query q;
	struct pos_error e;
	pos_error_clear(&e);
	if (pos_filters_parse(a, param, &p, USER, &q, &e) == POS_OK &&
	    (q.limit < 1 || q.limit > POS_LIST_LIMIT_MAX))
		abort();
	pos_arena_destroy(a);
}

/* ---- config file ---- */

static void fuzz_config(const uint8_t *d, size_t n)
{
	char path[] = "/tmp/pos-fuzz-config-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return;
	if (write(fd, d, n) != (ssize_t)n) {
		close(fd);
		unlink(path);
		return;
	}
	close(fd);
	struct pos_config c;
	pos_config_defaults(&c);
	struct pos_error e;
	pos_error_clear(&e);
	if (pos_config_load_file(&c, path, &e) != POS_OK && e.code != POS_ERR_USAGE &&
	    e.code != POS_ERR_IO)
		abort();
	unlink(path);
	/* Whatever was accepted is a config the server could start with. */
	if (c.listen_port > 65535 || !memchr(c.cors_origins, '\0', sizeof(c.cors_origins)))
		abort();
	struct pos_cors cors;
	pos_cors_parse(&cors, c.cors_origins, &e);
}

/* ---- CORS, forwarded-for, buckets ---- */

static void fuzz_cors(char *z)
{
	char *nl = strchr(z, '\n');
	const char *origin = "https://a.example";
	if (nl) {
		*nl = '\0';
		origin = nl + 1;
	}
	static struct pos_cors c; /* 16 KiB: not on the fuzzer's stack */
	struct pos_error e;
	pos_error_clear(&e);
	if (pos_cors_parse(&c, z, &e) != POS_OK) {
		if (e.code != POS_ERR_USAGE)
			abort();
		return;
	}
	const char *allow = pos_cors_allow(&c, origin);
	if (allow && strcmp(allow, "*") != 0 && strcasecmp(allow, origin) != 0)
		abort();
}

static void fuzz_limits(const char *z, const uint8_t *d, size_t n)
{
	struct pos_rl_client c = {0};
	if (pos_rl_client_from_forwarded(&c, z) && c.len != 4 && c.len != 8)
		abort();
	struct pos_config cfg;
	pos_config_defaults(&cfg);
	cfg.rl_slots = 64;
	cfg.login_fail_account = 2;
	cfg.login_lockout_base_s = 1;
	struct pos_ratelimit rl;
	if (pos_rl_init(&rl, &cfg) != POS_OK)
		abort();
	int64_t now = 1000000;
	for (size_t i = 0; i + 4 <= n && i < 256; i += 4) {
		now += d[i] * 1000;
		switch (d[i + 1] % 4) {
		case 0:
			pos_rl_check(&rl, (enum pos_rl_class)(d[i + 2] % 3), d + i, 4, now);
			break;
		case 1:
			pos_rl_login_result(&rl, &c, z, d[i + 2] & 1, now);
			break;
		case 2:
			if (pos_rl_login_locked(&rl, &c, z, now) > 86400)
				abort();
			break;
		default:
			pos_rl_check_client(&rl, POS_RL_AUTH, &c, now);
		}
	}
	pos_rl_fini(&rl);
}

/* ---- routes ---- */

static void fuzz_route(char *z)
{
	struct pos_arena *a = pos_arena_new();
	if (!a)
		abort();
	const char *params[POS_MAX_PATH_PARAMS];
	size_t n;
	for (size_t i = 0; i < pos_api_routes_count; i++) {
		if (pos_route_match(pos_api_routes[i].pattern, z, a, params, &n)) {
			if (n > POS_MAX_PATH_PARAMS)
				abort();
			for (size_t j = 0; j < n; j++)
				if (!*params[j] || strchr(params[j], '/'))
					abort();
		}
	}
	/* A pattern from the input: "pattern\npath". */
	char *nl = strchr(z, '\n');
	if (nl) {
		*nl = '\0';
		if (pos_route_match(z, nl + 1, a, params, &n) && n > POS_MAX_PATH_PARAMS)
			abort();
	}
	pos_arena_destroy(a);
}

static void fuzz_view(const char *z)
{
	/* Emails come from the users table: valid UTF-8 (bodies are checked). */
	json_t *utf8 = json_string(z);
	if (!utf8)
		return;
	json_decref(utf8);
	struct pos_arena *a = pos_arena_new();
	if (!a)
		abort();
	struct pos_memory m;
	memset(&m, 0, sizeof(m));
	m.content = "x";
	m.source = "api";
	m.tags_json = "[]";
	m.shared_with_json = "[\"a@example.com\",\"b@example.com\"]";
	m.metadata_json = "{}";
	m.attachments_json = "[]";
	m.related_json = "[\"" USER "\"]";
	memcpy(m.parent_id, USER, sizeof(USER));
	if (pos_share_recipient_view(a, &m, z) == POS_OK) {
		if (m.parent_id[0] || strcmp(m.related_json, "[]") != 0)
			abort();
		check_render(&m);
	}
	pos_arena_destroy(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned which = data[0] % 7;
	data++;
	size--;
	char *z = malloc(size + 1);
	if (!z)
		return 0;
	memcpy(z, data, size);
	z[size] = '\0';
	switch (which) {
	case 0:
		fuzz_route(z);
		break;
	case 1:
		fuzz_body((const char *)data, size);
		break;
	case 2:
		fuzz_params(z);
		break;
	case 3:
		fuzz_config(data, size);
		break;
	case 4:
		fuzz_cors(z);
		break;
	case 5:
		fuzz_limits(z, data, size);
		break;
	default:
		fuzz_view(z);
	}
	free(z);
	return 0;
}
