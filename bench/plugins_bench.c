/*
 * plugins_bench.c — what plugins cost (issue 15): (1) creating N memories
 * one by one with the auto-tagger installed (its on_memory_creating runs
 * in the memory service's creating stage before each insert, and any hook
 * job a create queues runs right after it, as a job worker would) against
 * creating them without plugins (no creating stage); (1b) the bulk path:
 * N memories in bulk batches of 100 (POST /api/memories/bulk's work) with
 * the creating stage and the batched hook jobs, against the same bulk
 * creates alone; both with pooled sandboxes (plugin_pool_max 32), R runs
 * each (default 5), interleaved, medians and their ratio printed (wall and
 * process CPU time); checks the auto-tagger did tag; (2) the overhead
 * on_query adds to a search: pos_plugins_write_answers with the weather
 * plugin installed (a query it does not answer, the common case) against
 * no plugin installed.
 *
 * Build (from the repository root, after building build/):
 *   cc -O2 -std=c17 -D_GNU_SOURCE -Isrc $(pkg-config --cflags lua5.4) \
 *      bench/plugins_bench.c build/libposcore.a \
 *      $(pkg-config --libs libmicrohttpd jansson sqlite3 libsodium libcurl \
 *        gmime-3.0 libical libxml-2.0 libarchive lua5.4) -lstemmer -lzxcvbn -lpthread -lm \
 *      -o /tmp/plugins_bench
 * Run:
 *   /tmp/plugins_bench [N [R [POOL [MODE]]]]   (default 500 memories, 5 runs,
 *       plugin_pool_max 32, 0 for a sandbox per call; on_query: N calls). MODE, for
 *       profiling one path alone: "stage" (the creating stage over one batch, again
 *       and again), "bulk-alone" or "bulk-with" (R bulk ingests of N memories).
 * Prints the median ms of each ingest, the slowdown, and on_query's p50 per call.
 */
#include <stdbool.h>
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

#include <time.h>

/* CPU time of the process, µs: on a shared machine wall time mostly
 * measures the other processes; both are printed. */
static int64_t cpu_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t last_cpu; /* CPU µs of the latest ingest */

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

/* The batched hook jobs pos_plugins_memory_batch / _event queued (payloads). */
struct queue {
	char *payload[64];
	size_t n;
};

/* Runs the queued jobs as a job worker would, then forgets them. */
static void run_queue(struct pos_plugins *p, struct queue *q, const char *uid)
{
	for (size_t i = 0; i < q->n; i++) {
		pos_plugins_job_run_for_test(p, uid, q->payload[i]);
		free(q->payload[i]);
	}
	q->n = 0;
}

/* N memories one by one (POST /api/memories's work); with p, the hook jobs
 * each create queues run right after it. */
static int64_t ingest(struct pos_memsvc *svc, struct pos_plugins *p, struct queue *q, const char *uid, long n)
{
	int64_t t0 = pos_mono_us(), c0 = cpu_us();
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
			pos_plugins_memory_event(p, uid, POS_HOOK_MEMORY_CREATED, m.id);
			run_queue(p, q, uid);
		}
		json_decref(body);
		pos_arena_destroy(a);
	}
	last_cpu = cpu_us() - c0;
	return pos_mono_us() - t0;
}

static enum pos_err capture(void *ctx, const char *kind, const char *user_id, const char *payload)
{
	(void)kind;
	(void)user_id;
	struct queue *q = ctx;
	if (q->n < 64)
		q->payload[q->n++] = strdup(payload);
	return POS_OK;
}

#define BATCH 100

/* N memories in bulk batches of BATCH; with p, each batch's hook job runs
 * right after it (as a job worker would). */
static int64_t ingest_bulk(struct pos_memsvc *svc, struct pos_plugins *p, struct queue *q,
			   const char *uid, long n)
{
	int64_t t0 = pos_mono_us(), c0 = cpu_us();
	for (long at = 0; at < n; at += BATCH) {
		long k = n - at < BATCH ? n - at : BATCH;
		struct pos_arena *a = pos_arena_new();
		json_t *list = json_array();
		for (long i = 0; i < k; i++)
			json_array_append_new(list, json_pack("{s:s, s:[s]}", "content", TEXTS[(at + i) % 4],
							      "tags", (at + i) % 7 ? "misc" : "work"));
		json_t *body = json_pack("{s:o}", "memories", list);
		struct pos_memory *v = NULL;
		size_t got = 0;
		struct pos_error err;
		if (pos_memory_bulk(svc, a, uid, body, &v, &got, &err)) {
			fprintf(stderr, "bulk: %s\n", err.message);
			exit(1);
		}
		if (p) {
			const char *ids[BATCH];
			for (size_t i = 0; i < got; i++)
				ids[i] = v[i].id;
			pos_plugins_memory_batch(p, uid, POS_HOOK_MEMORY_CREATED, ids, got);
			run_queue(p, q, uid);
		}
		json_decref(body);
		pos_arena_destroy(a);
	}
	last_cpu = cpu_us() - c0;
	return pos_mono_us() - t0;
}

static int64_t median(int64_t *v, int n);

static void creating_cb(void *ctx, const char *user_id, const struct pos_memory *v, size_t n,
			json_t **add)
{
	pos_plugins_memory_creating(ctx, user_id, v, n, add);
}

/* The creating stage alone (the plugin's own cost, no insert): CPU µs
 * per memory, median of `runs` passes of `loops` bulks of one batch of
 * BATCH memories (made by a bulk create, so the records are the ones a
 * bulk insert hands the stage). */
static double stage_us(struct pos_memsvc *svc, struct pos_plugins *p, const char *base_uid,
		       const char *plug_uid, int runs, int loops)
{
	struct pos_arena *a = pos_arena_new();
	json_t *list = json_array();
	for (long i = 0; i < BATCH; i++)
		json_array_append_new(list, json_pack("{s:s, s:[s]}", "content", TEXTS[i % 4], "tags",
						      i % 7 ? "misc" : "work"));
	json_t *body = json_pack("{s:o}", "memories", list);
	struct pos_memory *v = NULL;
	size_t got = 0;
	struct pos_error err;
	if (pos_memory_bulk(svc, a, base_uid, body, &v, &got, &err)) {
		fprintf(stderr, "bulk: %s\n", err.message);
		exit(1);
	}
	int64_t t[50];
	size_t tagged = 0;
	for (int r = 0; r < runs; r++) {
		int64_t c0 = cpu_us();
		for (int l = 0; l < loops; l++) {
			json_t *add[BATCH] = {0};
			pos_plugins_memory_creating(p, plug_uid, v, got, add);
			for (size_t i = 0; i < got; i++) {
				tagged += add[i] != NULL;
				json_decref(add[i]);
			}
		}
		t[r] = cpu_us() - c0;
	}
	pos_arena_destroy(a);
	json_decref(body); /* the records borrow its strings */
	if (tagged < (size_t)runs * (size_t)loops * got / 2) {
		fprintf(stderr, "the creating stage did not tag (%zu)\n", tagged);
		exit(1);
	}
	return (double)median(t, runs) / ((double)loops * (double)got);
}

static int64_t median(int64_t *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
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
	long n = argc > 1 ? atol(argv[1]) : 500;
	int runs = argc > 2 ? (int)atol(argv[2]) : 5;
	long pool = argc > 3 ? atol(argv[3]) : 32; /* plugin_pool_max; 0: a sandbox per call */
	if (n < 1 || runs < 1 || runs > 50)
		return 2;
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
	/* The baseline: a server without plugins (no creating stage at all);
	 * with: the server's wiring, on_memory_creating before each insert. */
	struct pos_memsvc svc = {.store = s};
	struct pos_memsvc svc_p = {.store = s, .creating = creating_cb};
	char base_uid[POS_UUID_SIZE], plug_uid[POS_UUID_SIZE];
	user(s, "base@example.org", base_uid);
	user(s, "plug@example.org", plug_uid);
	struct queue q = {.n = 0};
	struct pos_plugins_config cfg = {.dir = "plugins", .store = s, .mem = &svc, .pool_max = (size_t)(pool < 0 ? 0 : pool),
					 .enqueue = capture, .enqueue_ctx = &q};
	struct pos_plugins *p;
	if (pos_plugins_new(&cfg, &p))
		return 1;
	svc_p.creating_ctx = p;
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
	if (argc > 4 && strcmp(argv[4], "stage") == 0) { /* the creating stage only (profiling) */
		printf("creating stage alone: %.2f us CPU per memory\n",
		       stage_us(&svc, p, base_uid, plug_uid, runs, (int)(n / BATCH > 0 ? n / BATCH : 1)));
		pos_plugins_free(p);
		pos_store_close(s);
		return 0;
	}
	if (argc > 4 && strncmp(argv[4], "bulk-", 5) == 0) { /* one bulk path only (profiling) */
		bool with = strcmp(argv[4], "bulk-with") == 0;
		for (int r = 0; r < runs; r++)
			ingest_bulk(with ? &svc_p : &svc, with ? p : NULL, &q, with ? plug_uid : base_uid, n);
		printf("%s: %.2f us CPU per memory (last run)\n", argv[4], (double)last_cpu / (double)n);
		pos_plugins_free(p);
		pos_store_close(s);
		return 0;
	}
	int64_t b1[50], w1[50], bb[50], wb[50], cb1[50], cw1[50], cbb[50], cwb[50];
	for (int r = 0; r < runs; r++) { /* interleaved: the same machine state for both */
		b1[r] = ingest(&svc, NULL, &q, base_uid, n);
		cb1[r] = last_cpu;
		w1[r] = ingest(&svc_p, p, &q, plug_uid, n);
		cw1[r] = last_cpu;
		bb[r] = ingest_bulk(&svc, NULL, &q, base_uid, n);
		cbb[r] = last_cpu;
		wb[r] = ingest_bulk(&svc_p, p, &q, plug_uid, n);
		cwb[r] = last_cpu;
	}
	{ /* the auto-tagger did tag (rules: gym, doctor -> health) */
		struct pos_arena *a = pos_arena_new();
		struct pos_memory_query mq;
		memset(&mq, 0, sizeof(mq));
		mq.type = mq.layer = -1;
		mq.after = mq.before = POS_TIME_NONE;
		mq.user_id = plug_uid;
		const char *want[] = {"health"};
		mq.tags = want;
		mq.n_tags = 1;
		mq.limit = 1;
		struct pos_memory *mv = NULL;
		size_t mn = 0;
		int64_t total = 0;
		if (pos_memory_list(&svc, a, &mq, &mv, &mn, &total) || total < n / 2) {
			fprintf(stderr, "the auto-tagger did not tag (%lld tagged health)\n", (long long)total);
			return 1;
		}
		printf("memories the auto-tagger tagged \"health\": %lld of %ld\n", (long long)total, 2 * n * runs);
		pos_arena_destroy(a);
	}
	printf("CPU time, medians: one by one %.1f ms alone, %.1f ms with (ratio %.2f); "
	       "bulk %.1f ms alone, %.1f ms with (ratio %.2f)\n",
	       (double)median(cb1, runs) / 1000, (double)median(cw1, runs) / 1000,
	       (double)median(cw1, runs) / (double)median(cb1, runs), (double)median(cbb, runs) / 1000,
	       (double)median(cwb, runs) / 1000, (double)median(cwb, runs) / (double)median(cbb, runs));
	printf("creating stage alone (the auto-tagger's own cost, no insert): %.2f us CPU per memory; "
	       "a bulk insert alone: %.2f us CPU per memory\n",
	       stage_us(&svc, p, base_uid, plug_uid, runs, (int)(n / BATCH > 0 ? n / BATCH : 1)),
	       (double)median(cbb, runs) / (double)n);
	int64_t base = median(b1, runs), with = median(w1, runs);
	printf("one by one, %ld memories, median of %d: %.1f ms alone, %.1f ms with auto-tagger "
	       "(ratio %.2f, +%.0f %%)\n",
	       n, runs, (double)base / 1000, (double)with / 1000, (double)with / (double)base,
	       100.0 * ((double)with - (double)base) / (double)base);
	base = median(bb, runs);
	with = median(wb, runs);
	printf("bulk of %d, %ld memories, median of %d: %.1f ms alone, %.1f ms with auto-tagger "
	       "(ratio %.2f, +%.0f %%)\n",
	       BATCH, n, runs, (double)base / 1000, (double)with / 1000, (double)with / (double)base,
	       100.0 * ((double)with - (double)base) / (double)base);
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
