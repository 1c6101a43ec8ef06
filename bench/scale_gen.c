/*
 * scale_gen.c — writes a large store for bench/scale_drill.py (issue 20):
 * memories of the small-vocabulary Zipf corpus of bench/search_bench.py
 * (--corpus zipf), embedded with the built-in embedder, straight through
 * libposcore's batched insert (the write path of POST /api/memories/bulk,
 * without HTTP), and the same texts into a plain SQLite FTS5 table (the
 * drill's "FTS5 BM25 alone" baseline).
 *
 *   scale_gen DATA_DIR FTS_DB VOCAB_FILE EMAIL N SEED [MARK]
 *
 * EMAIL is an account the server already registered in DATA_DIR (the drill
 * registers it over HTTP, so it can log in). N memories of 8-20 words drawn
 * by a Zipf law (s = 1) from the words of VOCAB_FILE (one a line, rank
 * order), first letter capitalized, a full stop, the first word as tag,
 * type note, source "bench", dated over 2023-2025 in the order written,
 * time-ordered ids. MARK (optional) is a
 * word put in every memory: the drill gives the other accounts one, and
 * checks the measured account never finds it. FTS_DB "-": no FTS5 table.
 * Prints progress and the rate to stdout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <sqlite3.h>

#include "base/arena.h"
#include "base/clock.h"
#include "base/uuid.h"
#include "crypto/crypto.h"
#include "search/engine.h"
#include "store/store.h"

#define BATCH 5000
#define MAXW 400

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double rnd01(void)
{
	return (double)(rnd() >> 11) / 9007199254740992.0;
}

static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int fts_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "fts5: %s: %s\n", sql, msg ? msg : "?");
		sqlite3_free(msg);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 7 || argc > 8) {
		fprintf(stderr, "usage: scale_gen DATA_DIR FTS_DB VOCAB_FILE EMAIL N SEED [MARK]\n");
		return 2;
	}
	const char *dir = argv[1], *fts_path = argv[2], *vocab_path = argv[3], *email = argv[4];
	long n = strtol(argv[5], NULL, 10);
	rng_state = strtoull(argv[6], NULL, 10);
	const char *mark = argc == 8 ? argv[7] : NULL;

	static char vocab[MAXW][32];
	static double cum[MAXW];
	int nw = 0;
	FILE *vf = fopen(vocab_path, "r");
	if (!vf) {
		perror(vocab_path);
		return 1;
	}
	while (nw < MAXW && fgets(vocab[nw], sizeof(vocab[nw]), vf)) {
		vocab[nw][strcspn(vocab[nw], "\r\n")] = 0;
		if (vocab[nw][0])
			nw++;
	}
	fclose(vf);
	double acc = 0;
	for (int r = 0; r < nw; r++)
		cum[r] = acc += 1.0 / (double)(r + 1);

	struct pos_store *st;
	struct pos_error e;
	pos_error_clear(&e);
	if (pos_crypto_init() || pos_sqlite_open(dir, &st, &e)) {
		fprintf(stderr, "cannot open %s: %s\n", dir, e.message);
		return 1;
	}
	struct pos_arena *ua = pos_arena_new();
	struct pos_user u;
	if (st->accounts->user_by_email(st, ua, email, &u)) {
		fprintf(stderr, "no account %s in %s\n", email, dir);
		return 1;
	}
	struct pos_search_config cfg;
	struct pos_search *eng = NULL;
	pos_search_config_default(&cfg);
	cfg.backfill = false;
	if (pos_search_new(st, &cfg, &eng, &e)) {
		fprintf(stderr, "search engine: %s\n", e.message);
		return 1;
	}

	sqlite3 *fts = NULL;
	sqlite3_stmt *fins = NULL;
	if (strcmp(fts_path, "-") != 0) {
		if (sqlite3_open(fts_path, &fts) != SQLITE_OK ||
		    fts_exec(fts, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
				  "CREATE VIRTUAL TABLE IF NOT EXISTS docs USING fts5(content,"
				  " tokenize='porter unicode61 remove_diacritics 2');") ||
		    sqlite3_prepare_v2(fts, "INSERT INTO docs(content) VALUES (?)", -1, &fins, NULL)) {
			fprintf(stderr, "fts5 %s: %s\n", fts_path, fts ? sqlite3_errmsg(fts) : "?");
			return 1;
		}
	}

	static struct pos_memory m[BATCH];
	static struct pos_embed_input in[BATCH];
	static struct pos_vec vec[BATCH];
	static char content[BATCH][32 * 22 + 40], tagj[BATCH][48];
	static const char *tags[BATCH][1];
	const int64_t start = 1672531200000000LL;           /* 2023-01-01 */
	const int64_t span = 3LL * 365 * 86400 * 1000000LL; /* three years */
	int64_t t0 = pos_mono_us(), tlast = t0;
	double c0 = cpu_s();
	for (long at = 0; at < n; at += BATCH) {
		size_t k = n - at < BATCH ? (size_t)(n - at) : BATCH;
		struct pos_arena *a = pos_arena_new();
		for (size_t i = 0; i < k; i++) {
			int words = 8 + (int)(rnd() % 13), len = 0, first = -1;
			for (int w = 0; w < words; w++) {
				double x = rnd01() * cum[nw - 1];
				int lo = 0, hi = nw - 1;
				while (lo < hi) {
					int mid = (lo + hi) / 2;
					if (cum[mid] < x)
						lo = mid + 1;
					else
						hi = mid;
				}
				if (first < 0)
					first = lo;
				len += snprintf(content[i] + len, sizeof(content[i]) - (size_t)len, "%s%s",
						w ? " " : "", vocab[lo]);
			}
			if (mark)
				len += snprintf(content[i] + len, sizeof(content[i]) - (size_t)len, " %s",
						mark);
			len += snprintf(content[i] + len, sizeof(content[i]) - (size_t)len, ".");
			if (content[i][0] >= 'a' && content[i][0] <= 'z')
				content[i][0] = (char)(content[i][0] - 'a' + 'A');
			tags[i][0] = vocab[first];
			snprintf(tagj[i], sizeof(tagj[i]), "[\"%s\"]", vocab[first]);
			in[i] = (struct pos_embed_input){content[i], (size_t)len, NULL, 0};
			memset(&m[i], 0, sizeof(m[i]));
			/* time-ordered ids (a UUIDv7 layout: a big-endian counter,
			 * then random bits), memories dated in the order written,
			 * as a real store's grow: random v4 ids made every batch
			 * rewrite a random leaf page of the id index per memory,
			 * 14 KB written per memory at 1M and slowing as it grew */
			unsigned char b[16];
			uint64_t ctr = (uint64_t)(start / 1000) + (uint64_t)(at + (long)i), r = rnd();
			for (int j = 0; j < 8; j++) {
				b[j] = (unsigned char)(ctr >> (56 - 8 * j));
				b[8 + j] = (unsigned char)(r >> (8 * j));
			}
			b[6] = (unsigned char)(0x70 | (b[6] & 0x0f));
			b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));
			pos_uuid_from_bytes(b, m[i].id);
			memcpy(m[i].user_id, u.id, POS_UUID_SIZE);
			m[i].content = content[i];
			m[i].content_len = (size_t)len;
			m[i].type = POS_TYPE_NOTE;
			m[i].layer = POS_LAYER_WORKING;
			m[i].source = "bench";
			m[i].tags = tags[i];
			m[i].n_tags = 1;
			m[i].tags_json = tagj[i];
			m[i].metadata_json = "{}";
			m[i].attachments_json = "[]";
			m[i].shared_with_json = "[]";
			m[i].importance = 0.5;
			m[i].created_at = m[i].updated_at =
				start + (int64_t)((double)span * ((double)(at + (long)i) + rnd01()) /
						  (double)n);
			m[i].last_accessed_at = POS_TIME_NONE;
		}
		if (pos_search_embed_many(eng, a, in, k, vec)) {
			fprintf(stderr, "embed failed\n");
			return 1;
		}
		for (size_t i = 0; i < k; i++)
			m[i].vec = vec[i];
		if (st->memories->memory_insert(st, m, k, &e)) {
			fprintf(stderr, "insert: %s\n", e.message);
			return 1;
		}
		pos_arena_destroy(a);
		if (fts) {
			fts_exec(fts, "BEGIN");
			for (size_t i = 0; i < k; i++) {
				sqlite3_bind_text(fins, 1, content[i], (int)m[i].content_len,
						  SQLITE_STATIC);
				if (sqlite3_step(fins) != SQLITE_DONE) {
					fprintf(stderr, "fts5 insert: %s\n", sqlite3_errmsg(fts));
					return 1;
				}
				sqlite3_reset(fins);
			}
			fts_exec(fts, "COMMIT");
		}
		int64_t now = pos_mono_us();
		if (now - tlast > 30000000 || at + (long)k >= n) {
			tlast = now;
			printf("  %ld of %ld memories, %.0f s, %.0f memories/s\n", at + (long)k, n,
			       (double)(now - t0) / 1e6, (double)(at + (long)k) * 1e6 / (double)(now - t0));
			fflush(stdout);
		}
	}
	double s = (double)(pos_mono_us() - t0) / 1e6, cpu = cpu_s() - c0;
	printf("generated %ld memories for %s: %.1f s, %.0f memories/s; CPU %.1f s\n", n, email, s,
	       (double)n / s, cpu);
	if (fts) {
		sqlite3_finalize(fins);
		sqlite3_close(fts);
	}
	pos_search_free(eng);
	pos_arena_destroy(ua);
	pos_store_close(st);
	return 0;
}
