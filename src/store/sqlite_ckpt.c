/*
 * sqlite_ckpt.c — the SQLite backend's WAL checkpointer (issue 14).
 *
 * By default SQLite checkpoints on the committing thread, right after a
 * commit that leaves the WAL above 1,000 frames: the writer that made the
 * commit copies the WAL into the database file and fsyncs it, while the
 * store's write lock (sq_begin/sq_end) is still held, so every other
 * writer waits too. At a million memories that was ~10 % of an import's
 * writing thread.
 *
 * Instead every connection gets a WAL hook (sqlite3_wal_hook, which
 * replaces the auto-checkpoint) that only kicks a ticker (base/thread.h)
 * once the WAL passes SQ_CKPT_SOFT_FRAMES; the ticker runs a PASSIVE
 * checkpoint on its own connection, on its own thread, while the writers
 * go on. A passive checkpoint never waits: it copies what no reader still
 * needs, and the next writer restarts the WAL from its beginning once all
 * of it is copied.
 *
 * The WAL stays bounded: when a steady stream of commits keeps the WAL
 * from ever being fully copied, the ticker sees the file pass
 * SQ_CKPT_LIMIT_BYTES and runs a TRUNCATE checkpoint holding the store's
 * write lock (writers of this process wait for it; SQLite's busy timeout
 * covers readers and other processes), which empties the file. And a
 * writer whose commit leaves the WAL above SQ_CKPT_HARD_FRAMES (the ticker
 * not keeping up) checkpoints itself, as SQLite's default would.
 *
 * Before the ticker runs (migrations at open) and after it stops, the hook
 * checkpoints on the committing thread like the default.
 */
#include "store/sqlite_internal.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "base/log.h"
#include "base/thread.h"

/* SQLite's own auto-checkpoint threshold: a commit leaving more frames
 * than this asks the checkpointer for a checkpoint. */
#define SQ_CKPT_SOFT_FRAMES 1000
/* A commit leaving more frames than this checkpoints on its own thread. */
#define SQ_CKPT_HARD_FRAMES 32768
/* The WAL file larger than this after a passive checkpoint: TRUNCATE. */
#define SQ_CKPT_LIMIT_BYTES (64ll << 20)
/* The ticker's period; it checkpoints only when a commit asked. */
#define SQ_CKPT_INTERVAL_US 1000000

static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct sq_store *s = arg;
	struct pos_ticker *t = atomic_load(&s->ckpt.ticker);
	if (frames >= SQ_CKPT_HARD_FRAMES || (!t && frames >= SQ_CKPT_SOFT_FRAMES)) {
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		return SQLITE_OK;
	}
	if (frames >= SQ_CKPT_SOFT_FRAMES) {
		atomic_store(&s->ckpt.wanted, true);
		pos_ticker_kick(t);
	}
	return SQLITE_OK;
}

void sq_ckpt_attach(struct sq_store *s, sqlite3 *db)
{
	sqlite3_wal_hook(db, wal_hook, s);
}

static long long wal_bytes(const struct sq_store *s)
{
	char path[PATH_MAX + 8];
	struct stat st;
	snprintf(path, sizeof(path), "%s-wal", s->path);
	return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

/* The ticker's call. */
static void ckpt_tick(void *arg)
{
	struct sq_store *s = arg;
	if (atomic_load(&s->ckpt.stopping))
		return; /* the last call, on the closing thread */
	if (!atomic_exchange(&s->ckpt.wanted, false))
		return; /* no commit asked for one */
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return;
	int log = 0, done = 0;
	int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
	if (rc != SQLITE_OK && rc != SQLITE_BUSY)
		sq_fail(c, "wal checkpoint");
	atomic_fetch_add(&s->ckpt.passive, 1);
	if (wal_bytes(s) <= SQ_CKPT_LIMIT_BYTES)
		return;
	pthread_mutex_lock(&s->write_lock);
	rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
	pthread_mutex_unlock(&s->write_lock);
	if (rc != SQLITE_OK && rc != SQLITE_BUSY)
		sq_fail(c, "wal checkpoint (truncate)");
	atomic_fetch_add(&s->ckpt.truncate, 1);
}

enum pos_err sq_ckpt_start(struct sq_store *s)
{
	struct pos_ticker *t = NULL;
	enum pos_err rc = pos_ticker_start(SQ_CKPT_INTERVAL_US, ckpt_tick, s, &t);
	if (!rc)
		atomic_store(&s->ckpt.ticker, t);
	return rc;
}

void sq_ckpt_stop(struct sq_store *s)
{
	struct pos_ticker *t = atomic_exchange(&s->ckpt.ticker, NULL);
	if (!t)
		return;
	atomic_store(&s->ckpt.stopping, true);
	pos_ticker_stop(t);
}
