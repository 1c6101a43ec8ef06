/*
 * plugins_bench.c — what plugins cost (issue 15): (1) creating N memories
 * with the auto-tagger's on_memory_created run for each (the work its job
 * does) against creating them alone, in the same run; (2) the overhead
 * on_query adds to a search: pos_plugins_write_answers with the weather
 * plugin installed (a query it does not answer, the common case) against
 * no plugin installed.
 *
 * Build (from the repository root, after building build/):
 *   cc -O2 -std=c17 -D_GNU_SOURCE -Isrc $(pkg-config --cflags lua5.4) \
 *      bench/plugins_bench.c build/libposcore.a \
 *      $(pkg-config --libs libmicrohttpd jansson sqlite3 libsodium libcurl \
 *        gmime-3.0 libical libxml-2.0 libarchive lua5.4) -lzxcvbn -lpthread -lm \
 *      -o /tmp/plugins_bench
 * Run:
 *   /tmp/plugins_bench [N]   (default 2000 memories; on_query: 2000 calls)
 * Prints ms for each ingest, the slowdown, and on_query's p50 per call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/clock.h"
#include "base/json.h"
#include "crypto/crypto.h"
#include "memory/memory.h"
#include "plugins/plugins.h"
#include "store/store.h"

static int cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void user(struct pos_store *s, const char *email, char id[POS_UUID_SIZE])
{
	struct pos_user u = {0};
	pos_uuid_new(u.id);
	u.email = email;
	u.password_hash = "x";
	u.privacy_tier = "local";
	u.plan = "free";
	u.persona_json = "{}";
	u.settings_json = "{}";
	u.created_at = pos_now_us();
	u.last_login_at = POS_TIME_NONE;
	if (s->accounts->user_register(s, &u, NULL, true, 0)) {
		fprintf(stderr, "cannot add a user\n");
		exit(1);
	}
	memcpy(id, u.id, POS_UUID_SIZE);
}

static const char *const TEXTS[] = {
	"Standup meeting about the release deadline, then lunch with Ada",
	"Gym session: legs and 5 km on the treadmill",
	"Doctor appointment moved to Friday, remember to bring the results",
	"Read a paper on vector search and quantization for the project",
};

static int64_t ingest(struct pos_memsvc *svc, struct pos_plugins *p, const char *uid, long n)
{
	int64_t t0 = pos_mono_us();
	for (long i = 0; i < n; i++) {
		struct pos_arena *a = pos_arena_new();
		json_t *body = json_pack("{s:s, s:[s]}", "content", TEXTS[i % 4], "tags", i % 7 ? "misc" : "work");
		struct pos_memory m;
		struct pos_error err;
		if (pos_memory_create(svc, a, uid, body, &m, &err)) {
			fprintf(stderr, "create: %s\n", err.message);
			exit(1);
		}
		if (p) {
			char payload[200];
			snprintf(payload, sizeof(payload),
				 "{\"plugin\":\"auto-tagger\",\"hook\":\"on_memory_created\",\"memory_id\":\"%s\"}", m.id);
			pos_plugins_job_run_for_test(p, uid, payload);
		}
		json_decref(body);
		pos_arena_destroy(a);
	}
	return pos_mono_us() - t0;
}

static int64_t query_p50(struct pos_plugins *p, const char *uid, long n)
{
	int64_t *t = calloc((size_t)n, sizeof(*t));
	for (long i = 0; i < n; i++) {
		struct pos_buf b;
		pos_buf_init(&b, 1 << 20);
		struct pos_jw w;
		pos_jw_init(&w, &b);
		pos_jw_obj(&w);
		int64_t t0 = pos_mono_us();
		pos_plugins_write_answers(p, &w, uid, "standup notes release", 21);
		t[i] = pos_mono_us() - t0;
		pos_jw_obj_end(&w);
		pos_buf_free(&b);
	}
	qsort(t, (size_t)n, sizeof(*t), cmp);
	int64_t r = t[n / 2];
	free(t);
	return r;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 2000;
	pos_crypto_init();
	char dir[] = "/tmp/plugins_bench_XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	struct pos_store *s;
	struct pos_error err;
	if (pos_sqlite_open(dir, &s, &err)) {
		fprintf(stderr, "%s\n", err.message);
		return 1;
	}
	struct pos_memsvc svc = {.store = s};
	char base_uid[POS_UUID_SIZE], plug_uid[POS_UUID_SIZE];
	user(s, "base@example.org", base_uid);
	user(s, "plug@example.org", plug_uid);
	struct pos_plugins_config cfg = {.dir = "plugins", .store = s, .mem = &svc};
	struct pos_plugins *p;
	if (pos_plugins_new(&cfg, &p))
		return 1;
	json_t *body = json_loads("{\"id\":\"auto-tagger\",\"grant\":[\"memories:read\",\"memories:write\",\"kv\"],"
				  "\"settings\":{\"rules\":\"work: meeting, deadline; health: gym, doctor\"}}",
				  0, NULL);
	json_t *out = NULL;
	if (pos_plugins_install(p, plug_uid, body, &out, &err)) {
		fprintf(stderr, "install: %s\n", err.message);
		return 1;
	}
	json_decref(out);
	json_decref(body);
	int64_t base = ingest(&svc, NULL, base_uid, n);
	int64_t with = ingest(&svc, p, plug_uid, n);
	printf("ingest %ld memories: %.1f ms alone, %.1f ms with auto-tagger (+%.0f %%)\n", n,
	       (double)base / 1000, (double)with / 1000, 100.0 * ((double)with - (double)base) / (double)base);
	int64_t q0 = query_p50(p, base_uid, n);
	body = json_loads("{\"id\":\"weather\",\"grant\":[\"memories:read\",\"memories:write\",\"http\",\"kv\"]}", 0, NULL);
	if (pos_plugins_install(p, base_uid, body, &out, &err)) {
		fprintf(stderr, "install: %s\n", err.message);
		return 1;
	}
	json_decref(out);
	json_decref(body);
	int64_t q1 = query_p50(p, base_uid, n);
	printf("on_query per search, p50: %lld us without plugins, %lld us with weather installed\n",
	       (long long)q0, (long long)q1);
	pos_plugins_free(p);
	pos_store_close(s);
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}
