/*
 * sqlite_access.c — write-behind access counting for the SQLite backend.
 *
 * `GET /api/memories/{id}` counts an access. Doing that as an UPDATE per
 * read would put every read behind the single writer; instead accesses
 * accumulate in a small in-memory table and a ticker (base/thread.h) writes them in
 * one transaction every FLUSH_INTERVAL_MS (or sooner when the table fills).
 *
 * Answers stay exact: readers overlay the pending counts on the rows they
 * read. To make "row read + overlay" atomic against a flush (which moves
 * counts from the table into the rows), readers hold `flush_lock` shared and
 * the flusher holds it exclusively while it commits and clears the table.
 * `table_lock` guards the table itself among concurrent readers.
 * On close the flusher writes whatever is pending before the store closes.
 */
#include "store/sqlite_internal.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/thread.h"

#define FLUSH_INTERVAL_MS 200
#define FLUSH_SOON_ENTRIES 512

struct access_entry {
	char id[POS_UUID_SIZE]; /* "" = empty slot */
	int64_t count;
	int64_t last_at;
};

static uint64_t hash_id(const char *id)
{
	uint64_t h = 1469598103934665603ull;
	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 1099511628211ull;
	return h;
}

/* Slot for id (existing or the empty one to fill). Table never full:
 * it grows at 50% load. */
static struct access_entry *slot(struct sq_access *t, const char *id)
{
	size_t mask = t->cap - 1;
	size_t i = (size_t)hash_id(id) & mask;
	while (t->slots[i].id[0] && strcmp(t->slots[i].id, id) != 0)
		i = (i + 1) & mask;
	return &t->slots[i];
}

static int grow(struct sq_access *t)
{
	size_t ncap = t->cap ? t->cap * 2 : 1024;
	struct access_entry *old = t->slots;
	size_t ocap = t->cap;
	struct access_entry *n = pos_calloc(ncap, sizeof(*n));
	if (!n)
		return -1;
	t->slots = n;
	t->cap = ncap;
	for (size_t i = 0; i < ocap; i++)
		if (old[i].id[0])
			*slot(t, old[i].id) = old[i];
	pos_free(old);
	return 0;
}

/* True when this thread is in a batch (sq_batch_begin), which holds the
 * flush lock shared for its whole length: its reads take it no more (a
 * second shared lock behind a waiting flusher would deadlock). */
static bool in_batch(struct sq_store *s)
{
	const struct sq_conn *c = pthread_getspecific(s->key);
	return c && c->batch;
}

void sq_access_read_begin(struct sq_store *s)
{
	if (!in_batch(s))
		pthread_rwlock_rdlock(&s->access.flush_lock);
}

void sq_access_read_end(struct sq_store *s)
{
	if (!in_batch(s))
		pthread_rwlock_unlock(&s->access.flush_lock);
}

enum pos_err sq_access_touch(struct sq_store *s, const char *id, int64_t now,
			     int64_t *pending, int64_t *last_at)
{
	struct sq_access *t = &s->access;
	enum pos_err rc = POS_OK;
	pthread_mutex_lock(&t->table_lock);
	if ((t->used + 1) * 2 > t->cap && grow(t) != 0) {
		rc = POS_ERR_NOMEM;
		goto out;
	}
	struct access_entry *e = slot(t, id);
	if (!e->id[0]) {
		memcpy(e->id, id, POS_UUID_SIZE);
		e->count = 0;
		e->last_at = POS_TIME_NONE;
		t->used++;
	}
	e->count++;
	if (now > e->last_at)
		e->last_at = now;
	*pending = e->count;
	*last_at = e->last_at;
	if (t->used >= FLUSH_SOON_ENTRIES && t->ticker)
		pos_ticker_kick(t->ticker);
out:
	pthread_mutex_unlock(&t->table_lock);
	return rc;
}

void sq_access_overlay(struct sq_store *s, struct pos_memory *m)
{
	struct sq_access *t = &s->access;
	pthread_mutex_lock(&t->table_lock);
	if (t->used) {
		struct access_entry *e = slot(t, m->id);
		if (e->id[0]) {
			m->access_count += e->count;
			if (m->last_accessed_at == POS_TIME_NONE || e->last_at > m->last_accessed_at)
				m->last_accessed_at = e->last_at;
		}
	}
	pthread_mutex_unlock(&t->table_lock);
}

/* Writes every pending count in one transaction and empties the table.
 * Caller holds flush_lock exclusively. */
static void flush_locked(struct sq_store *s)
{
	struct sq_access *t = &s->access;
	pthread_mutex_lock(&t->table_lock);
	size_t used = t->used;
	pthread_mutex_unlock(&t->table_lock);
	if (!used)
		return;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return; /* keep the counts; try again next round */
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return;
	/* No reader runs now (we hold flush_lock), so the table is ours. An
	 * id deleted meanwhile simply updates no row. */
	for (size_t i = 0; !rc && i < t->cap; i++) {
		struct access_entry *e = &t->slots[i];
		if (!e->id[0])
			continue;
		sqlite3_stmt *st = sq_stmt(c, ST_MEM_ACCESS_ADD);
		if (!st) {
			rc = POS_ERR_STORE;
			break;
		}
		sqlite3_bind_text(st, 1, e->id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, e->count);
		sqlite3_bind_int64(st, 3, e->last_at);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = sq_fail(c, "access flush");
		sqlite3_reset(st);
	}
	rc = sq_end(s, c, rc, false);
	if (rc == POS_OK) {
		memset(t->slots, 0, t->cap * sizeof(*t->slots));
		t->used = 0;
	}
}

void sq_access_flush(struct sq_store *s)
{
	if (in_batch(s)) /* pending counts wait for the next flush */
		return;
	pthread_rwlock_wrlock(&s->access.flush_lock);
	flush_locked(s);
	pthread_rwlock_unlock(&s->access.flush_lock);
}

/* The ticker's call: writes what is pending (a last time at stop). */
static void flush_tick(void *arg)
{
	struct sq_store *s = arg;
	struct sq_access *t = &s->access;
	pthread_mutex_lock(&t->table_lock);
	bool pending = t->used > 0;
	pthread_mutex_unlock(&t->table_lock);
	if (pending)
		sq_access_flush(s);
}

enum pos_err sq_access_start(struct sq_store *s)
{
	struct sq_access *t = &s->access;
	/* Writer preference: a steady stream of readers must not starve the
	 * flusher (glibc's default prefers readers). */
	pthread_rwlockattr_t attr;
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&t->flush_lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	pthread_mutex_init(&t->table_lock, NULL);
	t->inited = true;
	if (grow(t) != 0)
		return POS_ERR_NOMEM;
	return pos_ticker_start((int64_t)FLUSH_INTERVAL_MS * 1000, flush_tick, s, &t->ticker);
}

void sq_access_stop(struct sq_store *s)
{
	struct sq_access *t = &s->access;
	if (!t->inited)
		return;
	pos_ticker_stop(t->ticker); /* flushes what is pending */
	t->ticker = NULL;
	pos_free(t->slots);
	t->slots = NULL;
	t->cap = t->used = 0;
	pthread_mutex_destroy(&t->table_lock);
	pthread_rwlock_destroy(&t->flush_lock);
	t->inited = false;
}
