/*
 * export_bench.c — export and import speed and memory of src/export, with
 * baselines measured in the same run (issue 14, docs/BENCHMARKS.md).
 *
 *   export_bench gen DIR N          a store in DIR with one account of N
 *                                   memories (~200-byte contents, tags,
 *                                   metadata), inserted in batches of 1,000
 *                                   through the store (the write path of
 *                                   POST /api/memories/bulk): the insert
 *                                   baseline, memories/s printed
 *   export_bench export DIR FMT OUT writes the account's export; prints
 *                                   memories/s, bytes and the RSS growth
 *                                   (VmHWM at the end - VmRSS before)
 *   export_bench import DIR FMT IN [noembed]
 *                                   imports IN into a new account of DIR,
 *                                   embedding every memory with the
 *                                   built-in embedder (a search engine is
 *                                   attached, as in the server; "noembed":
 *                                   none); prints memories/s and the RSS
 *                                   growth
 *   export_bench bulk DIR IN [noembed]
 *                                   the import's baseline: the memories of
 *                                   the json export IN, read with the same
 *                                   reader, sent through pos_memory_bulk
 *                                   (the handler of POST /api/memories/bulk
 *                                   without HTTP) in bodies of 1,000 into a
 *                                   new account of DIR, embedded the same
 *                                   way; prints memories/s
 *
 * Build and run with bench/export_bench.py.
 */
#include <fcntl.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/uuid.h"
#include "crypto/crypto.h"
#include "export/export.h"
#include "export/import.h"
#include "export/reader.h"
#include "search/engine.h"

static long status_kib(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	size_t n = strlen(key);
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, key, n) == 0)
			v = strtol(line + n + 1, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

/* The peak of RssAnon (heap and stacks, not the database pages SQLite
 * maps: mmap_size is 256 MiB, and those pages count in VmRSS), sampled at
 * every progress report. */
static long anon_peak;

static void sample(void *ctx, uint64_t done, uint64_t total)
{
	long v = status_kib("RssAnon:");
	if (v > anon_peak)
		anon_peak = v;
}

/* This process's CPU time (user + system), seconds: on a machine shared
 * with other work, the wall time measures the scheduler; CPU time what
 * the code costs. */
static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* The CPU time of the calling thread alone: for the import, the writing
 * side of its pipeline (the critical path; reading and embedding run on
 * other threads). */
static double thread_cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_THREAD, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int open_store(const char *dir, struct pos_store **st)
{
	struct pos_error e;
	pos_error_clear(&e);
	if (pos_crypto_init() || pos_sqlite_open(dir, st, &e)) {
		fprintf(stderr, "cannot open %s: %s\n", dir, e.message);
		return 1;
	}
	return 0;
}

static int new_user(struct pos_store *st, const char *email, char id[POS_UUID_SIZE])
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
	if (st->accounts->user_register(st, &u, NULL, true, 0))
		return 1;
	memcpy(id, u.id, POS_UUID_SIZE);
	return 0;
}

static const char *words[] = {"meeting", "project", "garden", "invoice", "travel", "recipe",
			      "doctor", "birthday", "review", "design", "budget", "music",
			      "running", "book", "café", "über", "family", "deadline"};

static int gen(const char *dir, long n)
{
	struct pos_store *st;
	char uid[POS_UUID_SIZE];
	if (open_store(dir, &st) || new_user(st, "bench@example.org", uid))
		return 1;
	static struct pos_memory m[1000];
	static char content[1000][256], md[1000][96];
	static const char *tags[1000][2];
	srand(1);
	int64_t t0 = pos_mono_us();
	double c0 = cpu_s();
	for (long at = 0; at < n; at += 1000) {
		size_t k = n - at < 1000 ? (size_t)(n - at) : 1000;
		for (size_t i = 0; i < k; i++) {
			int len = 0;
			for (int w = 0; w < 26; w++)
				len += snprintf(content[i] + len, sizeof(content[i]) - (size_t)len, "%s ",
						words[rand() % 18]);
			snprintf(md[i], sizeof(md[i]), "{\"n\":%ld,\"where\":\"room %d\"}", at + (long)i,
				 rand() % 50);
			memset(&m[i], 0, sizeof(m[i]));
			pos_uuid_new(m[i].id);
			memcpy(m[i].user_id, uid, POS_UUID_SIZE);
			m[i].content = content[i];
			m[i].content_len = (size_t)len;
			m[i].type = (enum pos_mem_type)(rand() % POS_TYPE__COUNT);
			m[i].layer = (enum pos_mem_layer)(rand() % POS_LAYER__COUNT);
			m[i].source = "api";
			tags[i][0] = words[rand() % 18];
			tags[i][1] = "bench";
			m[i].tags = tags[i];
			m[i].n_tags = 2;
			m[i].tags_json = "[\"x\",\"bench\"]";
			m[i].metadata_json = md[i];
			m[i].attachments_json = "[]";
			m[i].shared_with_json = "[]";
			m[i].importance = (rand() % 100) / 100.0;
			m[i].created_at = m[i].updated_at = 1700000000000000LL + (at + (long)i) * 1000000LL;
			m[i].last_accessed_at = POS_TIME_NONE;
		}
		struct pos_error e;
		pos_error_clear(&e);
		if (st->memories->memory_insert(st, m, k, &e)) {
			fprintf(stderr, "insert: %s\n", e.message);
			return 1;
		}
	}
	double s = (double)(pos_mono_us() - t0) / 1e6, cpu = cpu_s() - c0;
	printf("insert %ld memories (batches of 1000, the bulk write path): %.2f s, %.0f memories/s;"
	       " CPU %.2f s, %.0f memories per CPU-second\n",
	       n, s, (double)n / s, cpu, (double)n / cpu);
	pos_store_close(st);
	return 0;
}

static int export(const char *dir, const char *fmt, const char *out)
{
	struct pos_store *st;
	if (open_store(dir, &st))
		return 1;
	struct pos_arena *a = pos_arena_new();
	struct pos_user u;
	if (st->accounts->user_by_email(st, a, "bench@example.org", &u))
		return 1;
	char body_text[64];
	snprintf(body_text, sizeof(body_text), "{\"format\":\"%s\"}", fmt);
	json_error_t je;
	json_t *body = json_loads(body_text, 0, &je);
	struct pos_export_request req;
	struct pos_error e;
	pos_error_clear(&e);
	if (pos_export_request_parse(a, u.id, body, &req, &e))
		return 1;
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	long rss0 = status_kib("VmRSS:");
	int64_t t0 = pos_mono_us();
	double c0 = cpu_s();
	struct pos_export_result res = {0};
	long anon0 = anon_peak = status_kib("RssAnon:");
	struct pos_export_hooks h = {.progress = sample};
	if (pos_export_write(st, u.id, &req, fd, &h, &res, &e)) {
		fprintf(stderr, "export: %s\n", e.message);
		return 1;
	}
	double s = (double)(pos_mono_us() - t0) / 1e6, cpu = cpu_s() - c0;
	long hwm = status_kib("VmHWM:");
	close(fd);
	sample(NULL, 0, 0);
	printf("export %s: %llu memories, %llu bytes in %.2f s: %.0f memories/s; CPU %.2f s, %.0f "
	       "memories per CPU-second; RSS growth %.1f MiB "
	       "(heap %.1f MiB, the rest mapped database pages)\n",
	       fmt, (unsigned long long)res.items, (unsigned long long)res.bytes, s,
	       (double)res.items / s, cpu, (double)res.items / cpu, (double)(hwm - rss0) / 1024.0,
	       (double)(anon_peak - anon0) / 1024.0);
	json_decref(body);
	pos_arena_destroy(a);
	pos_store_close(st);
	return 0;
}

/* The search engine the server attaches to the memory service: writes
 * embed with its built-in embedder. */
static struct pos_search *engine(struct pos_store *st, bool embed)
{
	if (!embed)
		return NULL;
	struct pos_search_config cfg;
	struct pos_search *e = NULL;
	struct pos_error err;
	pos_error_clear(&err);
	pos_search_config_default(&cfg);
	cfg.backfill = false;
	if (pos_search_new(st, &cfg, &e, &err)) {
		fprintf(stderr, "search engine: %s\n", err.message);
		exit(1);
	}
	return e;
}

static int bulk(const char *dir, const char *in, bool embed)
{
	struct pos_store *st;
	char uid[POS_UUID_SIZE], email[64];
	snprintf(email, sizeof(email), "bulk-%lld@example.org", (long long)pos_now_us());
	if (open_store(dir, &st) || new_user(st, email, uid))
		return 1;
	struct pos_memsvc svc = {.store = st, .search = engine(st, embed)};
	struct pos_error e;
	pos_error_clear(&e);
	struct pos_import_reader *rd;
	int64_t t0 = pos_mono_us();
	double c0 = cpu_s(), w0 = thread_cpu_s();
	if (pos_import_reader_open(POS_IMPORT_JSON, in, &rd, &e)) {
		fprintf(stderr, "bulk: %s\n", e.message);
		return 1;
	}
	static const char *const keys[] = {"content", "type", "layer", "source", "tags",
					   "importance_score", "metadata", "attachments",
					   "created_at"};
	json_t *body = json_object(), *list = json_array();
	json_object_set_new(body, "memories", list);
	uint64_t added = 0;
	struct pos_import_item it;
	enum pos_err rc;
	while ((rc = pos_import_reader_next(rd, &it, &e)) == POS_OK || rc == POS_ERR_NOT_FOUND) {
		if (rc == POS_OK && it.kind == POS_IMPORT_MEMORY) {
			json_t *o = json_object();
			for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
				json_t *v = json_object_get(it.data, keys[k]);
				if (v && !json_is_null(v))
					json_object_set(o, keys[k], v);
			}
			json_array_append_new(list, o);
		}
		if (rc == POS_OK)
			json_decref(it.data);
		if (json_array_size(list) == POS_BULK_MAX || (rc && json_array_size(list))) {
			struct pos_arena *a = pos_arena_new();
			struct pos_memory *out;
			size_t n;
			if (pos_memory_bulk(&svc, a, uid, body, &out, &n, &e)) {
				fprintf(stderr, "bulk: %s\n", e.message);
				return 1;
			}
			added += n;
			pos_arena_destroy(a);
			json_array_clear(list);
		}
		if (rc)
			break;
	}
	if (rc != POS_ERR_NOT_FOUND) {
		fprintf(stderr, "bulk: %s\n", e.message);
		return 1;
	}
	double s = (double)(pos_mono_us() - t0) / 1e6, cpu = cpu_s() - c0, wcpu = thread_cpu_s() - w0;
	printf("baseline pos_memory_bulk (POST /api/memories/bulk without HTTP, 1,000 a body%s): "
	       "%llu added in %.2f s: %.0f memories/s; CPU %.2f s, %.0f memories per CPU-second; "
	       "calling thread CPU %.2f s, %.0f memories per second of it\n",
	       embed ? ", embedded" : ", no embeddings", (unsigned long long)added, s,
	       (double)added / s, cpu, (double)added / cpu, wcpu, (double)added / wcpu);
	pos_import_reader_free(rd);
	json_decref(body);
	pos_search_free(svc.search);
	pos_store_close(st);
	return 0;
}

static int import(const char *dir, const char *fmt, const char *in, bool embed)
{
	struct pos_store *st;
	char uid[POS_UUID_SIZE], email[64];
	snprintf(email, sizeof(email), "import-%lld@example.org", (long long)pos_now_us());
	if (open_store(dir, &st) || new_user(st, email, uid))
		return 1;
	struct pos_memsvc svc = {.store = st, .search = engine(st, embed)};
	struct pos_import_result res;
	struct pos_error e;
	pos_error_clear(&e);
	long rss0 = status_kib("VmRSS:");
	long anon0 = anon_peak = status_kib("RssAnon:");
	struct pos_import_hooks h = {.progress = sample};
	int64_t t0 = pos_mono_us();
	double c0 = cpu_s(), w0 = thread_cpu_s();
	if (pos_import_run(&svc, uid, (enum pos_import_format)pos_import_format_parse(fmt), in, NULL,
			   &h, &res, &e)) {
		fprintf(stderr, "import: %s\n", e.message);
		return 1;
	}
	double s = (double)(pos_mono_us() - t0) / 1e6, cpu = cpu_s() - c0, wcpu = thread_cpu_s() - w0;
	long hwm = status_kib("VmHWM:");
	sample(NULL, 0, 0);
	printf("import %s (%s): %llu added in %.2f s: %.0f memories/s; CPU %.2f s, %.0f memories per "
	       "CPU-second; writing thread CPU %.2f s, %.0f memories per second of it; "
	       "RSS growth %.1f MiB (heap %.1f MiB)\n",
	       fmt, embed ? "embedded" : "no embeddings", (unsigned long long)res.added, s, (double)res.added / s, cpu,
	       (double)res.added / cpu, wcpu, (double)res.added / wcpu,
	       (double)(hwm - rss0) / 1024.0, (double)(anon_peak - anon0) / 1024.0);
	pos_search_free(svc.search);
	pos_store_close(st);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "gen"))
		return gen(argv[2], strtol(argv[3], NULL, 10));
	if (argc == 5 && !strcmp(argv[1], "export"))
		return export(argv[2], argv[3], argv[4]);
	bool embed = !(argc > 2 && !strcmp(argv[argc - 1], "noembed"));
	if (!embed)
		argc--;
	if (argc == 5 && !strcmp(argv[1], "import"))
		return import(argv[2], argv[3], argv[4], embed);
	if (argc == 4 && !strcmp(argv[1], "bulk"))
		return bulk(argv[2], argv[3], embed);
	fprintf(stderr, "usage: export_bench gen DIR N | export DIR FMT OUT | import DIR FMT IN "
			"[noembed] | bulk DIR IN [noembed]\n");
	return 2;
}
