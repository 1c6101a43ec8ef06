/*
 * sqlite_kw.c — the SQLite backend's in-memory keyword indexes, one per
 * recently searching user (store/kwindex.h), beside FTS5: built from the
 * user's rows on the first keyword search, kept in step through the log
 * of changed memories (migration 20) that every search reads first. They
 * answer the plain keyword query — an OR of single words — with the
 * MaxScore top-k; everything else (phrases, NOT, prefixes) stays with
 * FTS5. docs/SEARCH.md, "Keyword top-k".
 */
#include "store/sqlite_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "store/kwindex.h"

#define KW_USERS 8              /* indexes kept, least recently used out */
#define KW_USER_ID 64
#define KW_SHARED_TRIES 3      /* catch-ups before answering under the exclusive lock */
#define KW_LOADS 16             /* users loading at once; more wait */

struct kw_user {
	char id[KW_USER_ID];
	struct pos_kwindex *x;
	atomic_uint_fast64_t used;
};

#define DF_SLOTS 4096          /* cached document frequencies */
/* A count stays valid while fewer memories changed since it was taken than
 * 1/DF_SLACK of it (was 1/100): an IDF then moves by under 0.07, a frequent
 * word's long posting list is read again less often, and a word of under
 * DF_SLACK memories (a word just added among them) is counted again after
 * any change (docs/BENCHMARKS.md, branch srch3). */
#define DF_SLACK 16

struct df_entry {
	char *term;             /* NULL: empty */
	size_t len;
	int64_t df;
	int64_t pos;            /* the log's last id when it was counted */
};

struct sq_kw {
	pthread_rwlock_t lock;      /* searches shared; catch-up, installing a load exclusive */
	/* The users whose rows are being read into a new index (without
	 * `lock`, so the other users' searches and loads go on: a 10M user's
	 * load takes minutes, docs/SEARCH.md "Keyword top-k"); a second
	 * search of the same user waits for that load on `load_done`. */
	pthread_mutex_t load_lock;
	pthread_cond_t load_done;
	char loading[KW_LOADS][KW_USER_ID];
	int64_t pos;                /* log entries applied (to every index) */
	struct kw_user u[KW_USERS];
	atomic_uint_fast64_t tick;
	/* Document frequencies of the whole FTS5 index: fts5vocab counts
	 * them by reading the term's whole posting list, tens of ms for a
	 * word in most memories. One stays valid while fewer memories changed
	 * since it was counted than 1/DF_SLACK of it. */
	pthread_mutex_t df_lock;
	size_t df_used;
	struct df_entry df[DF_SLOTS];
};

enum pos_err sq_kw_new(struct sq_store *s)
{
	struct sq_kw *k = pos_calloc(1, sizeof(*k));
	if (!k)
		return POS_ERR_NOMEM;
	/* Writers first: a catch-up waits for the searches already running,
	 * not for every search that keeps arriving behind them (glibc's
	 * default prefers readers). Searches take it once, never recursively. */
	pthread_rwlockattr_t attr;
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&k->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	pthread_mutex_init(&k->df_lock, NULL);
	pthread_mutex_init(&k->load_lock, NULL);
	pthread_cond_init(&k->load_done, NULL);
	s->kw = k;
	return POS_OK;
}

static void df_clear(struct sq_kw *k)
{
	for (size_t i = 0; i < DF_SLOTS; i++) {
		pos_free(k->df[i].term);
		k->df[i].term = NULL;
	}
	k->df_used = 0;
}

void sq_kw_free(struct sq_store *s)
{
	struct sq_kw *k = s->kw;
	if (!k)
		return;
	for (size_t i = 0; i < KW_USERS; i++)
		pos_kwindex_free(k->u[i].x);
	df_clear(k);
	pthread_mutex_destroy(&k->df_lock);
	pthread_mutex_destroy(&k->load_lock);
	pthread_cond_destroy(&k->load_done);
	pthread_rwlock_destroy(&k->lock);
	pos_free(k);
	s->kw = NULL;
}

/* ---- tokens of a row ---- */

struct toks {
	struct pos_kwtoken *t;
	size_t n, cap;
	size_t *off;            /* into pool, until the pool stops moving */
	char *pool;
	size_t plen, pcap;
	unsigned col;
	enum pos_err rc;
};

static int on_tok(void *ctx, int flags, const char *tok, int n, int start, int end)
{
	(void)start;
	(void)end;
	struct toks *b = ctx;
	if (b->rc || (flags & FTS5_TOKEN_COLOCATED) || n <= 0)
		return SQLITE_OK;
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		struct pos_kwtoken *t = pos_realloc(b->t, cap * sizeof(*t));
		size_t *o = t ? pos_realloc(b->off, cap * sizeof(*o)) : NULL;
		if (t)
			b->t = t;
		if (!t || !o) {
			b->rc = POS_ERR_NOMEM;
			return SQLITE_OK;
		}
		b->off = o;
		b->cap = cap;
	}
	if (b->plen + (size_t)n > b->pcap) {
		size_t cap = b->pcap ? b->pcap : 1024;
		while (b->plen + (size_t)n > cap)
			cap *= 2;
		char *p = pos_realloc(b->pool, cap);
		if (!p) {
			b->rc = POS_ERR_NOMEM;
			return SQLITE_OK;
		}
		b->pool = p;
		b->pcap = cap;
	}
	memcpy(b->pool + b->plen, tok, (size_t)n);
	b->off[b->n] = b->plen;
	b->t[b->n++] = (struct pos_kwtoken){NULL, (size_t)n, b->col};
	b->plen += (size_t)n;
	return SQLITE_OK;
}

static void toks_free(struct toks *b)
{
	pos_free(b->t);
	pos_free(b->off);
	pos_free(b->pool);
}

/* Indexes one row: its three columns tokenized as memories_fts does. */
static enum pos_err index_row(struct sq_conn *c, struct pos_kwindex *x, int64_t seq,
			      sqlite3_stmt *st, int first_col, struct toks *b)
{
	const fts5_tokenizer *m = c->fts_tok_api;
	b->n = 0;
	b->plen = 0;
	b->rc = POS_OK;
	for (unsigned col = 0; col < POS_KW_COLUMNS; col++) {
		const char *text = (const char *)sqlite3_column_text(st, first_col + (int)col);
		int len = sqlite3_column_bytes(st, first_col + (int)col);
		if (!text || len <= 0)
			continue;
		b->col = col;
		if (m->xTokenize(c->fts_tok, b, FTS5_TOKENIZE_DOCUMENT, text, len, on_tok) !=
		    SQLITE_OK)
			return sq_fail(c, "keyword index tokenize");
		if (b->rc)
			return b->rc;
	}
	for (size_t i = 0; i < b->n; i++)
		b->t[i].s = b->pool + b->off[i];
	return pos_kwindex_put(x, seq, b->t, b->n);
}

/* ---- keeping in step ---- */

static struct kw_user *find_user(struct sq_kw *k, const char *user_id)
{
	for (size_t i = 0; i < KW_USERS; i++)
		if (k->u[i].x && strcmp(k->u[i].id, user_id) == 0)
			return &k->u[i];
	return NULL;
}

static void drop_all(struct sq_kw *k)
{
	for (size_t i = 0; i < KW_USERS; i++) {
		pos_kwindex_free(k->u[i].x);
		k->u[i].x = NULL;
	}
}

static enum pos_err log_bound(struct sq_conn *c, enum sq_stmt id, int64_t *v)
{
	sqlite3_stmt *st = sq_stmt(c, id);
	if (!st)
		return POS_ERR_STORE;
	enum pos_err rc = POS_OK;
	if (sqlite3_step(st) == SQLITE_ROW)
		*v = sqlite3_column_int64(st, 0);
	else
		rc = sq_fail(c, "keyword log");
	sqlite3_reset(st);
	return rc;
}

/* Re-reads memory seq into the loaded index of `u` (or removes it). */
static enum pos_err refresh(struct sq_conn *c, struct kw_user *u, int64_t seq, struct toks *b)
{
	sqlite3_stmt *st = sq_stmt(c, ST_KW_ROW);
	if (!st)
		return POS_ERR_STORE;
	sqlite3_bind_int64(st, 1, seq);
	enum pos_err rc = POS_OK;
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		const char *owner = (const char *)sqlite3_column_text(st, 0);
		if (owner && strcmp(owner, u->id) == 0)
			rc = index_row(c, u->x, seq, st, 1, b);
		else
			rc = pos_kwindex_remove(u->x, seq);
	} else if (step == SQLITE_DONE) {
		rc = pos_kwindex_remove(u->x, seq);
	} else {
		rc = sq_fail(c, "keyword row");
	}
	sqlite3_reset(st);
	return rc;
}

/* Applies the log up to `upto` to every loaded index. Exclusive lock held. */
static enum pos_err catch_up(struct sq_conn *c, struct sq_kw *k, int64_t upto,
			     struct toks *b)
{
	bool any = false;
	for (size_t i = 0; i < KW_USERS; i++)
		any |= k->u[i].x != NULL;
	int64_t lo = 0;
	enum pos_err rc = POS_OK;
	if (upto < k->pos) {
		drop_all(k); /* the log began again (a restored database) */
	} else if (any && upto > k->pos) {
		if ((rc = log_bound(c, ST_KW_LOG_MIN, &lo)))
			return rc;
		if (lo > k->pos + 1) {
			drop_all(k); /* entries trimmed before they were applied */
		} else {
			sqlite3_stmt *st = sq_stmt(c, ST_KW_LOG_READ);
			if (!st)
				return POS_ERR_STORE;
			sqlite3_bind_int64(st, 1, k->pos);
			sqlite3_bind_int64(st, 2, upto);
			/* Collect first: refresh reads with another statement. */
			size_t n = 0, cap = 0;
			struct { int64_t seq; struct kw_user *u; } *v = NULL;
			int step;
			while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
				const char *uid = (const char *)sqlite3_column_text(st, 1);
				struct kw_user *u = uid ? find_user(k, uid) : NULL;
				if (!u)
					continue;
				if (n == cap) {
					cap = cap ? cap * 2 : 64;
					void *nv = pos_realloc(v, cap * sizeof(*v));
					if (!nv) {
						rc = POS_ERR_NOMEM;
						break;
					}
					v = nv;
				}
				v[n].seq = sqlite3_column_int64(st, 0);
				v[n++].u = u;
			}
			if (!rc && step != SQLITE_DONE)
				rc = sq_fail(c, "keyword log read");
			sqlite3_reset(st);
			for (size_t i = 0; !rc && i < n; i++)
				rc = refresh(c, v[i].u, v[i].seq, b);
			pos_free(v);
			if (rc) {
				drop_all(k); /* half applied: start again */
				k->pos = 0;
				return rc;
			}
		}
	}
	k->pos = upto;
	return POS_OK;
}

/* Reads the user's rows into a new index (*out). Touches nothing shared. */
static enum pos_err build_user(struct sq_conn *c, const char *user_id, struct toks *b,
			       struct pos_kwindex **out)
{
	*out = NULL;
	struct pos_kwindex *x = NULL;
	enum pos_err rc = pos_kwindex_new(&x);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c->db, "SELECT seq, content, tags, context FROM memories"
				      " WHERE user_id = ?1",
			       -1, &st, NULL) != SQLITE_OK) {
		pos_kwindex_free(x);
		return sq_fail(c, "prepare keyword load");
	}
	sq_bind_str(st, 1, user_id);
	int step;
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW)
		rc = index_row(c, x, sqlite3_column_int64(st, 0), st, 1, b);
	if (!rc && step != SQLITE_DONE)
		rc = sq_fail(c, "keyword load");
	sqlite3_finalize(st);
	if (rc) {
		pos_kwindex_free(x);
		return rc;
	}
	*out = x;
	return POS_OK;
}

/* Puts x in a free slot, else the least recently used one's. Exclusive
 * lock held. */
static struct kw_user *install_user(struct sq_kw *k, const char *user_id,
				    struct pos_kwindex *x)
{
	struct kw_user *slot = NULL;
	for (size_t i = 0; i < KW_USERS && !slot; i++)
		if (!k->u[i].x)
			slot = &k->u[i];
	for (size_t i = 0; i < KW_USERS && !slot; i++) /* full: the least recent */
		if (!slot || atomic_load(&k->u[i].used) < atomic_load(&slot->used))
			slot = &k->u[i];
	pos_kwindex_free(slot->x);
	snprintf(slot->id, sizeof(slot->id), "%s", user_id);
	slot->x = x;
	return slot;
}

static enum pos_err load_user(struct sq_conn *c, struct sq_kw *k, const char *user_id,
			      struct toks *b, struct kw_user **out)
{
	struct pos_kwindex *x = NULL;
	enum pos_err rc = build_user(c, user_id, b, &x);
	if (!rc)
		*out = install_user(k, user_id, x);
	return rc;
}

/*
 * Brings x, read from a snapshot that holds every log entry up to `from`,
 * up to k->pos: the user's entries in (from, k->pos] are read again (an
 * entry already in the snapshot is read again to the same state).
 * *ok is false when the log no longer holds them (or began again): x is
 * then not usable. Exclusive lock held.
 */
static enum pos_err catch_up_one(struct sq_conn *c, struct sq_kw *k, const char *user_id,
				 struct pos_kwindex *x, int64_t from, struct toks *b, bool *ok)
{
	*ok = false;
	if (from > k->pos)
		return POS_OK;
	if (from == k->pos) {
		*ok = true;
		return POS_OK;
	}
	int64_t lo = 0;
	enum pos_err rc = log_bound(c, ST_KW_LOG_MIN, &lo);
	if (rc || lo > from + 1)
		return rc;
	sqlite3_stmt *st = sq_stmt(c, ST_KW_LOG_READ);
	if (!st)
		return POS_ERR_STORE;
	sqlite3_bind_int64(st, 1, from);
	sqlite3_bind_int64(st, 2, k->pos);
	/* Collect first: refresh reads with another statement. */
	int64_t *v = NULL;
	size_t n = 0, cap = 0;
	int step;
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *uid = (const char *)sqlite3_column_text(st, 1);
		if (!uid || strcmp(uid, user_id) != 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			int64_t *nv = pos_realloc(v, cap * sizeof(*v));
			if (!nv) {
				rc = POS_ERR_NOMEM;
				break;
			}
			v = nv;
		}
		v[n++] = sqlite3_column_int64(st, 0);
	}
	if (!rc && step != SQLITE_DONE)
		rc = sq_fail(c, "keyword log read");
	sqlite3_reset(st);
	struct kw_user tmp;
	memset(&tmp, 0, sizeof(tmp));
	snprintf(tmp.id, sizeof(tmp.id), "%s", user_id);
	tmp.x = x;
	for (size_t i = 0; !rc && i < n; i++)
		rc = refresh(c, &tmp, v[i], b);
	pos_free(v);
	*ok = !rc;
	return rc;
}

static bool loading_user(const struct sq_kw *k, const char *user_id, size_t *free_at)
{
	bool busy = false;
	*free_at = KW_LOADS;
	for (size_t i = 0; i < KW_LOADS; i++) {
		if (!k->loading[i][0])
			*free_at = *free_at < KW_LOADS ? *free_at : i;
		else if (strcmp(k->loading[i], user_id) == 0)
			busy = true;
	}
	return busy;
}

/* Claims the user's load: false (after waiting for it to end) when
 * another search was loading it, so the caller looks again. */
static bool claim_load(struct sq_kw *k, const char *user_id, size_t *slot)
{
	size_t free_at;
	pthread_mutex_lock(&k->load_lock);
	if (loading_user(k, user_id, &free_at)) {
		while (loading_user(k, user_id, &free_at))
			pthread_cond_wait(&k->load_done, &k->load_lock);
		pthread_mutex_unlock(&k->load_lock);
		return false;
	}
	while (free_at == KW_LOADS) {
		pthread_cond_wait(&k->load_done, &k->load_lock);
		if (loading_user(k, user_id, &free_at)) { /* another search took it */
			while (loading_user(k, user_id, &free_at))
				pthread_cond_wait(&k->load_done, &k->load_lock);
			pthread_mutex_unlock(&k->load_lock);
			return false;
		}
	}
	snprintf(k->loading[free_at], KW_USER_ID, "%s", user_id);
	*slot = free_at;
	pthread_mutex_unlock(&k->load_lock);
	return true;
}

static void release_load(struct sq_kw *k, size_t slot)
{
	pthread_mutex_lock(&k->load_lock);
	k->loading[slot][0] = 0;
	pthread_cond_broadcast(&k->load_done);
	pthread_mutex_unlock(&k->load_lock);
}

/*
 * Loads the user's index without holding k->lock while the rows are read
 * (the other users' searches, loads and the writes' catch-ups go on),
 * then installs it under the exclusive lock after catching it up with the
 * writes made meanwhile. A search that waited for another one's load of
 * the same user returns and looks again. Nothing is installed when the
 * log lost the entries meanwhile (the caller then loads under the lock).
 */
static enum pos_err load_unlocked(struct sq_conn *c, struct sq_kw *k, const char *user_id)
{
	size_t claim = 0;
	if (!claim_load(k, user_id, &claim))
		return POS_OK;
	pthread_rwlock_rdlock(&k->lock);
	bool have = find_user(k, user_id) != NULL;
	pthread_rwlock_unlock(&k->lock);
	enum pos_err rc = POS_OK;
	struct toks b = {0};
	struct pos_kwindex *x = NULL;
	int64_t from = 0;
	if (!have && !(rc = log_bound(c, ST_KW_LOG_MAX, &from)) &&
	    !(rc = build_user(c, user_id, &b, &x))) {
		pthread_rwlock_wrlock(&k->lock);
		int64_t upto = 0;
		bool ok = false;
		rc = log_bound(c, ST_KW_LOG_MAX, &upto);
		if (!rc && upto != k->pos)
			rc = catch_up(c, k, upto, &b);
		if (!rc)
			rc = catch_up_one(c, k, user_id, x, from, &b, &ok);
		if (!rc && ok && !find_user(k, user_id)) {
			atomic_store(&install_user(k, user_id, x)->used,
				     atomic_fetch_add(&k->tick, 1) + 1);
			x = NULL;
		}
		pthread_rwlock_unlock(&k->lock);
	}
	pos_kwindex_free(x);
	toks_free(&b);
	release_load(k, claim);
	return rc;
}

/* ---- the query ---- */

/*
 * The words of a match that is only `"w1" OR "w2" ...` (what the query
 * parser writes for free words, docs/SEARCH.md), each stemmed by the
 * index's tokenizer; false for anything else.
 */
struct qwords {
	const char *t[POS_KW_MAX_TERMS];
	size_t len[POS_KW_MAX_TERMS];
	size_t n;
	int got;                /* tokens of the current quoted word */
	size_t alt;             /* its alternatives (other languages' stems) */
	struct pos_arena *a;
	bool nomem;
};

static int on_qtok(void *ctx, int flags, const char *tok, int n, int start, int end)
{
	(void)start;
	(void)end;
	struct qwords *w = ctx;
	if (n <= 0)
		return SQLITE_OK;
	/* a word's stems in other languages (store/sqlite_tok.h) are more
	 * OR-ed terms, as FTS5 reads them */
	size_t at = w->n;
	if (flags & FTS5_TOKEN_COLOCATED) {
		if (w->got != 1 || w->n + 1 + w->alt >= POS_KW_MAX_TERMS)
			return SQLITE_OK;
		at = w->n + 1 + w->alt++;
	} else if (w->got++ || w->n == POS_KW_MAX_TERMS) {
		return SQLITE_OK;
	}
	char *s = pos_arena_alloc(w->a, (size_t)n);
	if (!s) {
		w->nomem = true;
		return SQLITE_OK;
	}
	memcpy(s, tok, (size_t)n);
	w->t[at] = s;
	w->len[at] = (size_t)n;
	return SQLITE_OK;
}

static enum pos_err parse_match(struct sq_conn *c, struct pos_arena *a, const char *match,
				struct qwords *w, bool *ok)
{
	*ok = false;
	const fts5_tokenizer *m = c->fts_tok_api;
	w->n = 0;
	w->a = a;
	w->nomem = false;
	char buf[256];
	const char *p = match;
	for (;;) {
		if (*p != '"')
			return POS_OK;
		size_t len = 0;
		for (p++;; p++) {
			if (!*p)
				return POS_OK;
			if (*p == '"') {
				if (p[1] != '"')
					break;
				p++;
			}
			if (len + 1 >= sizeof(buf))
				return POS_OK;
			buf[len++] = *p;
		}
		p++;
		if (w->n == POS_KW_MAX_TERMS)
			return POS_OK;
		w->got = 0;
		w->alt = 0;
		if (m->xTokenize(c->fts_tok, w, FTS5_TOKENIZE_QUERY, buf, (int)len, on_qtok) !=
		    SQLITE_OK)
			return sq_fail(c, "keyword query tokenize");
		if (w->nomem)
			return POS_ERR_NOMEM;
		if (w->got != 1)
			return POS_OK; /* a phrase of several tokens, or none */
		w->n += 1 + w->alt;
		if (!*p)
			break;
		if (strncmp(p, " OR ", 4) != 0)
			return POS_OK;
		p += 4;
	}
	*ok = w->n > 0;
	return POS_OK;
}

enum pos_err sq_kw_top(struct sq_store *s, struct sq_conn *c, struct pos_arena *a,
		       const char *user_id, const char *match, unsigned limit,
		       struct pos_hit **out, size_t *n, bool *used)
{
	*used = false;
	*n = 0;
	struct sq_kw *k = s->kw;
	if (!k || !user_id || strlen(user_id) >= KW_USER_ID || !limit)
		return POS_OK;
	enum pos_err rc = sq_tokenizer(c);
	if (rc)
		return rc;
	struct qwords w;
	bool ok;
	if ((rc = parse_match(c, a, match, &w, &ok)) || !ok)
		return rc;
	struct pos_hit *v = pos_arena_alloc(a, limit * sizeof(*v));
	if (!v)
		return POS_ERR_NOMEM;
	int64_t upto = 0;
	if ((rc = log_bound(c, ST_KW_LOG_MAX, &upto)))
		return rc;
	/* In step and loaded: the top-k under the shared lock. Else catch up
	 * (and load) under the exclusive one and take the shared one again,
	 * so that the searches that queued behind a write's catch-up then
	 * rank side by side, not one after another under the exclusive lock.
	 * The last try answers under the exclusive lock (another user's load
	 * evicting this one every time cannot keep it waiting). */
	struct kw_user *u = NULL;
	for (unsigned tries = 0;; tries++) {
		pthread_rwlock_rdlock(&k->lock);
		u = find_user(k, user_id);
		if (u && upto <= k->pos)
			break;
		pthread_rwlock_unlock(&k->lock);
		if (!u && tries + 1 < KW_SHARED_TRIES) {
			/* not loaded: read it without the lock, then look again */
			if ((rc = load_unlocked(c, k, user_id)))
				return rc;
			continue;
		}
		pthread_rwlock_wrlock(&k->lock);
		struct toks b = {0};
		/* again under the lock: another search may have caught up */
		rc = log_bound(c, ST_KW_LOG_MAX, &upto);
		if (!rc && upto != k->pos)
			rc = catch_up(c, k, upto, &b);
		if (!rc && !(u = find_user(k, user_id)))
			rc = load_user(c, k, user_id, &b, &u);
		toks_free(&b);
		if (rc || tries + 1 >= KW_SHARED_TRIES)
			break;
		pthread_rwlock_unlock(&k->lock);
	}
	if (!rc) {
		atomic_store(&u->used, atomic_fetch_add(&k->tick, 1) + 1);
		rc = pos_kwindex_top(u->x, w.t, w.len, w.n, limit, false, v, n, NULL);
	}
	pthread_rwlock_unlock(&k->lock);
	if (!rc) {
		*out = v;
		*used = true;
	}
	return rc;
}

/* ---- cached document frequencies ---- */

static uint64_t df_hash(const char *t, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)t[i];
		h *= 1099511628211ull;
	}
	return h;
}

/* The slot of term (its entry, or the empty slot where it goes). */
static struct df_entry *df_slot(struct sq_kw *k, const char *t, size_t n)
{
	for (size_t i = df_hash(t, n) % DF_SLOTS;; i = (i + 1) % DF_SLOTS) {
		struct df_entry *e = &k->df[i];
		if (!e->term || (e->len == n && memcmp(e->term, t, n) == 0))
			return e;
	}
}

/*
 * The document frequency from a loaded keyword index that holds every
 * memory of the store (one user's store: the common case) and is in step
 * with the log at `pos`: then its count is the FTS5 index's, read in
 * O(1) where fts5vocab reads the term's whole posting list (tens of ms
 * for a word in most of 100k memories, the first time a word is asked
 * after a start or after enough writes; docs/BENCHMARKS.md, branch
 * srch4). False when no index answers.
 */
static bool index_df(struct sq_store *s, struct sq_kw *k, const char *term, size_t n,
		     int64_t pos, int64_t *df)
{
	int64_t all = 0;
	if (sq_memory_count_all((struct pos_store *)s, &all) != POS_OK || all <= 0)
		return false;
	bool found = false;
	pthread_rwlock_rdlock(&k->lock);
	for (size_t i = 0; i < KW_USERS && !found && k->pos == pos; i++) {
		if (k->u[i].x && (int64_t)pos_kwindex_docs(k->u[i].x) == all) {
			*df = (int64_t)pos_kwindex_df(k->u[i].x, term, n);
			found = true;
		}
	}
	pthread_rwlock_unlock(&k->lock);
	return found;
}

enum pos_err sq_kw_df(struct sq_store *s, struct sq_conn *c, const char *term, size_t n,
		      int64_t *df)
{
	struct sq_kw *k = s->kw;
	*df = 0;
	int64_t pos = -1;
	enum pos_err rc = k ? log_bound(c, ST_KW_LOG_MAX, &pos) : POS_OK;
	if (rc)
		return rc;
	if (k) {
		pthread_mutex_lock(&k->df_lock);
		struct df_entry *e = df_slot(k, term, n);
		bool hit = e->term && pos >= e->pos && (pos - e->pos) * DF_SLACK <= e->df;
		if (hit)
			*df = e->df;
		pthread_mutex_unlock(&k->df_lock);
		if (hit)
			return POS_OK;
	}
	/* from the keyword index, else FTS5's vocabulary; cached alike (the
	 * index's answer costs a count of the memories and its lock) */
	if (!k || !index_df(s, k, term, n, pos, df)) {
		sqlite3_stmt *st = sq_stmt(c, ST_VOCAB_DF);
		if (!st)
			return POS_ERR_STORE;
		sqlite3_bind_text(st, 1, term, (int)n, SQLITE_STATIC);
		int step = sqlite3_step(st);
		if (step == SQLITE_ROW)
			*df = sqlite3_column_int64(st, 0);
		else if (step != SQLITE_DONE)
			rc = sq_fail(c, "vocabulary");
		sqlite3_reset(st);
	}
	if (rc || !k)
		return rc;
	pthread_mutex_lock(&k->df_lock);
	struct df_entry *e = df_slot(k, term, n);
	if (!e->term && k->df_used * 4 >= DF_SLOTS * 3) {
		df_clear(k); /* full enough: start again */
		e = df_slot(k, term, n);
	}
	if (!e->term && (e->term = pos_strndup(term, n))) {
		e->len = n;
		k->df_used++;
	}
	if (e->term) {
		e->df = *df;
		e->pos = pos;
	}
	pthread_mutex_unlock(&k->df_lock);
	return POS_OK;
}
