/*
 * backfill.c — the `search.backfill` job kind: embeds a user's memories
 * that have no vector of the current model (an upgraded database, a
 * changed model: a re-embed; with a remote provider every new or edited
 * memory, so that no write waits on the network). One job per user, with
 * progress (vectors written / missing), cancellable, resumable (a retried
 * or restarted job starts its scan again; what it wrote stays written).
 *
 * Who queues them: a write stored without a vector (pos_search_written,
 * remote provider) when the user has no such job queued or running; a tick
 * of the jobs service, first at start and then every BACKFILL_TICK_*, for
 * every user with missing vectors. A failed attempt is retried by the
 * jobs service (1 s, doubling); a provider's Retry-After (up to 600 s)
 * holds every attempt back until then (an attempt in it ends at once).
 * Nothing is lost: the memory stays stored and keyword-searchable.
 */
#include "search/engine_internal.h"

#include <string.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"
#include "embed/openai.h"
#include "jobs/jobs.h"
#include "search/rcache.h"
#include "search/vcache.h"

#define BATCH 64
#define BACKOFF_MIN_MS 1000
#define RETRY_AFTER_MAX_MS 600000
#define BACKFILL_TICK_REMOTE_US (600LL * 1000000)  /* a missed wake-up, an exhausted job */
#define BACKFILL_TICK_BUILTIN_US (86400LL * 1000000) /* writes embed inline */
#define BACKFILL_ATTEMPTS 12 /* 1 s doubling: about 68 minutes of retries */

static void note_failure(struct pos_search *e, const char *what)
{
	atomic_fetch_add(&e->embed_failures, 1);
	char reason[120] = "";
	if (e->remote)
		pos_embed_openai_last_error(e->embedder, reason, sizeof(reason));
	pthread_mutex_lock(&e->lock);
	bool was_ok = e->provider_ok;
	e->provider_ok = false;
	snprintf(e->last_error, sizeof(e->last_error), "%s%s%s", what, reason[0] ? ": " : "",
		 reason);
	pthread_mutex_unlock(&e->lock);
	/* One line per change of state, not per retry (the reason never holds
	 * texts or the key). */
	if (was_ok)
		pos_warn("search: %s%s%s; memories stay keyword-searchable and are retried",
			 what, reason[0] ? ": " : "", reason);
}

static void note_success(struct pos_search *e)
{
	pthread_mutex_lock(&e->lock);
	bool was_ok = e->provider_ok;
	e->provider_ok = true;
	pthread_mutex_unlock(&e->lock);
	if (!was_ok && e->remote)
		pos_info("search: embedding provider is answering again");
}

/*
 * Embeds m[0..n) (content and context) into their .vec. A remote batch that
 * the provider refuses as a whole for one bad input (HTTP 400/413/422) is
 * retried one memory at a time; a memory refused alone is skipped (it stays
 * keyword-searchable) and counted.
 */
static enum pos_err embed_batch(struct pos_search *e, struct pos_arena *a,
				struct pos_memory *m, size_t n)
{
	if (!e->remote) {
		for (size_t i = 0; i < n; i++) {
			enum pos_err rc = pos_search_embed_ctx(e, a, m[i].content, m[i].content_len,
							       m[i].context,
							       m[i].context ? strlen(m[i].context) : 0,
							       &m[i].vec);
			if (rc)
				return rc;
		}
		return POS_OK;
	}
	unsigned dim = e->embedder->dim;
	const char **texts = pos_arena_alloc(a, 2 * n * sizeof(*texts));
	size_t *lens = pos_arena_alloc(a, 2 * n * sizeof(*lens));
	size_t *ctx_at = pos_arena_alloc(a, n * sizeof(*ctx_at));
	if (!texts || !lens || !ctx_at)
		return POS_ERR_NOMEM;
	size_t nt = 0;
	for (size_t i = 0; i < n; i++) {
		texts[nt] = m[i].content;
		lens[nt++] = m[i].content_len;
		ctx_at[i] = SIZE_MAX;
		if (m[i].context && *m[i].context) {
			ctx_at[i] = nt;
			texts[nt] = m[i].context;
			lens[nt++] = strlen(m[i].context);
		}
	}
	float *out = pos_arena_alloc(a, nt * dim * sizeof(*out));
	if (!out)
		return POS_ERR_NOMEM;
	enum pos_err rc = pos_embed_batch(e->embedder, texts, lens, nt, out);
	if (rc) {
		struct pos_embed_openai_stats st;
		pos_embed_openai_stats(e->embedder, &st);
		bool bad_input = st.last_http_status == 400 || st.last_http_status == 413 ||
				 st.last_http_status == 422;
		if (!bad_input || n == 1)
			return rc;
		for (size_t i = 0; i < n; i++) {
			if (embed_batch(e, a, &m[i], 1) != POS_OK) {
				memset(&m[i].vec, 0, sizeof(m[i].vec));
				m[i].seq = -m[i].seq; /* mark: skip this one */
			}
		}
		return POS_OK;
	}
	size_t row = 0; /* texts are content, then its context if any */
	for (size_t i = 0; i < n; i++) {
		float *v = out + row * dim;
		const float *cv = ctx_at[i] != SIZE_MAX ? out + ctx_at[i] * dim : NULL;
		row += ctx_at[i] != SIZE_MAX ? 2 : 1;
		if ((rc = pos_search_finish_vec(e, a, v, cv, &m[i].vec)))
			return rc;
	}
	return POS_OK;
}

static bool ensure_index(struct pos_search *e)
{
	if (pos_search_vectors(e))
		return true;
	if (e->remote && pos_embed_openai_dim(e->embedder) == 0 &&
	    pos_embed_openai_probe(e->embedder) != POS_OK) {
		note_failure(e, "cannot reach the embedding provider");
		return false;
	}
	struct pos_vcache *vc = NULL;
	if (pos_vcache_new(e->store, e->embedder->model, e->embedder->dim,
			   e->cfg.max_loaded_users, e->cfg.vector_cache_bytes, &vc) != POS_OK)
		return false;
	pos_vcache_set_exact(vc, e->cfg.vector_exact);
	atomic_store_explicit(&e->vectors, vc, memory_order_release);
	return true;
}

/* ---- who has a job ---- */

/* The user's entry in e->busy, under e->lock; NULL if none. */
static struct pos_backfill_user *busy_find(struct pos_search *e, const char *user_id)
{
	for (size_t i = 0; i < e->n_busy; i++)
		if (strcmp(e->busy[i].id, user_id) == 0)
			return &e->busy[i];
	return NULL;
}

/* Adds the user as queued, under e->lock; false when out of memory. */
static bool busy_add(struct pos_search *e, const char *user_id)
{
	if (e->n_busy == e->cap_busy) {
		size_t cap = e->cap_busy ? e->cap_busy * 2 : 16;
		struct pos_backfill_user *b = pos_realloc(e->busy, cap * sizeof(*b));
		if (!b)
			return false;
		e->busy = b;
		e->cap_busy = cap;
	}
	struct pos_backfill_user *u = &e->busy[e->n_busy++];
	snprintf(u->id, sizeof(u->id), "%s", user_id);
	u->running = false;
	return true;
}

static void busy_remove(struct pos_search *e, const char *user_id)
{
	struct pos_backfill_user *u = busy_find(e, user_id);
	if (u)
		*u = e->busy[--e->n_busy];
}

/* Queues a job for the user unless one is queued or running. */
static void ensure_job(struct pos_search *e, const char *user_id)
{
	pthread_mutex_lock(&e->lock);
	bool queue = !busy_find(e, user_id) && busy_add(e, user_id);
	pthread_mutex_unlock(&e->lock);
	if (!queue)
		return;
	/* one per user, also across instances sharing the store */
	char key[16 + POS_UUID_SIZE];
	snprintf(key, sizeof(key), "backfill:%s", user_id);
	if (pos_jobs_enqueue_unique(e->jobs, POS_SEARCH_BACKFILL_JOB, user_id, key, NULL, 0,
				    NULL) != POS_OK) {
		/* the user's queue is full (the tick tries again), or another
		 * instance has the user's backfill queued or running */
		pthread_mutex_lock(&e->lock);
		busy_remove(e, user_id);
		pthread_mutex_unlock(&e->lock);
	}
}

void pos_search_backfill_kick(struct pos_search *e, const char *user_id)
{
	if (!e->jobs)
		return;
	pthread_mutex_lock(&e->lock);
	e->writes++; /* a running job of this user scans once more */
	pthread_mutex_unlock(&e->lock);
	ensure_job(e, user_id);
}

void pos_search_backfill_free(struct pos_search *e)
{
	pos_free(e->busy);
	e->busy = NULL;
	e->n_busy = e->cap_busy = 0;
}

/* ---- the job ---- */

/* After a failure: a provider's Retry-After (up to 600 s) holds every
 * attempt back until then; otherwise the jobs service's backoff (1 s,
 * doubling) spaces the retries. */
static void back_off(struct pos_search *e)
{
	if (!e->remote)
		return;
	struct pos_embed_openai_stats st;
	pos_embed_openai_stats(e->embedder, &st);
	int64_t wait_ms = (st.retry_after_us - pos_mono_us()) / 1000; /* both monotonic */
	if (wait_ms <= 0)
		return;
	if (wait_ms > RETRY_AFTER_MAX_MS)
		wait_ms = RETRY_AFTER_MAX_MS;
	pthread_mutex_lock(&e->lock);
	e->not_before_us = pos_mono_us() + wait_ms * 1000;
	pthread_mutex_unlock(&e->lock);
}

static bool backing_off(struct pos_search *e)
{
	pthread_mutex_lock(&e->lock);
	bool b = pos_mono_us() < e->not_before_us;
	pthread_mutex_unlock(&e->lock);
	return b;
}

/* Embeds and stores one batch of the user's memories after `*after`;
 * *n_out gets how many were read, *written how many vectors were stored. */
static enum pos_err one_batch(struct pos_search *e, const char *user_id, int64_t *after,
			      size_t *n_out, uint64_t *written)
{
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return POS_ERR_NOMEM;
	struct pos_memory *m = NULL;
	size_t n = 0;
	enum pos_err rc = e->store->memories->vectors_missing(e->store, a, e->embedder->model,
							     user_id, *after, BATCH, &m, &n);
	/* Locked (encrypted) memories come with a negative seq: not sent. */
	struct pos_memory *send = n ? pos_arena_alloc(a, n * sizeof(*send)) : NULL;
	size_t k = 0;
	for (size_t i = 0; !rc && send && i < n; i++)
		if (m[i].seq > 0)
			send[k++] = m[i];
	if (!rc && n && !send)
		rc = POS_ERR_NOMEM;
	if (!rc && k)
		rc = embed_batch(e, a, send, k);
	if (!rc && n) {
		int64_t last = *after;
		for (size_t i = 0; i < n; i++) {
			int64_t seq = m[i].seq < 0 ? -m[i].seq : m[i].seq;
			last = seq > last ? seq : last;
			atomic_fetch_add(&e->skipped, m[i].seq < 0);
		}
		/* refused alone (negative seq) or nothing to embed (no q): skipped */
		size_t keep = 0;
		for (size_t i = 0; i < k; i++) {
			atomic_fetch_add(&e->skipped, send[i].seq < 0);
			if (send[i].seq > 0 && send[i].vec.q)
				send[keep++] = send[i];
		}
		rc = keep ? e->store->memories->vectors_put(e->store, send, keep) : POS_OK;
		if (!rc) {
			struct pos_vcache *vc = pos_search_vectors(e);
			for (size_t i = 0; i < keep; i++)
				pos_vcache_put(vc, send[i].user_id, send[i].seq, send[i].vec.q,
					       send[i].vec.scale);
			if (keep)
				pos_search_bump(e, user_id);
			atomic_fetch_add(&e->embedded, keep);
			*written += keep;
			*after = last;
		}
	}
	pos_arena_destroy(a);
	*n_out = n;
	return rc;
}

/* Ends the user's bookkeeping unless writes came in since `seen` (then the
 * caller scans again); true when the job is over. */
static bool finish_unless_written(struct pos_search *e, const char *user_id, uint64_t *seen)
{
	pthread_mutex_lock(&e->lock);
	bool over = e->writes == *seen;
	if (over)
		busy_remove(e, user_id);
	*seen = e->writes;
	pthread_mutex_unlock(&e->lock);
	return over;
}

static enum pos_err run_backfill(struct pos_job_run *r, void *ctx, const char *user_id,
				 const char *payload_json)
{
	(void)payload_json;
	struct pos_search *e = ctx;
	pthread_mutex_lock(&e->lock);
	struct pos_backfill_user *u = busy_find(e, user_id);
	if (!u && busy_add(e, user_id)) /* queued before a restart */
		u = &e->busy[e->n_busy - 1];
	if (u)
		u->running = true;
	uint64_t seen = e->writes;
	pthread_mutex_unlock(&e->lock);
	enum pos_err rc = POS_OK;
	struct pos_arena *a = pos_arena_new();
	if (!a)
		rc = POS_ERR_NOMEM;
	bool allowed = !rc && pos_search_may_send(e, a, user_id);
	pos_arena_destroy(a);
	int64_t missing = 0;
	if (!rc && allowed)
		rc = e->store->memories->vectors_missing_count(e->store, e->embedder->model, user_id,
							      &missing);
	uint64_t done = 0, total = missing > 0 ? (uint64_t)missing : 0;
	pos_job_progress(r, 0, total);
	int64_t after = 0;
	while (!rc && allowed) {
		if (pos_job_should_stop(r)) {
			rc = POS_ERR_UNAVAILABLE;
			break;
		}
		if (backing_off(e) || !ensure_index(e)) {
			rc = POS_ERR_UNAVAILABLE; /* retried by the jobs service */
			pos_job_set_error(r, "the embedding provider is failing or asked to wait");
			break;
		}
		size_t n = 0;
		rc = one_batch(e, user_id, &after, &n, &done);
		if (rc) {
			note_failure(e, "embedding failed");
			back_off(e);
			pos_job_set_error(r, "embedding failed; retried");
			rc = POS_ERR_UNAVAILABLE;
			break;
		}
		if (n)
			note_success(e);
		pos_job_progress(r, done, done > total ? (total = done) : total);
		if (n < BATCH) {
			if (finish_unless_written(e, user_id, &seen))
				return POS_OK;
			after = 0; /* an edit may sit below the cursor: scan again */
		}
	}
	/* The job ends here unless the jobs service retries it. */
	bool retried = rc == POS_ERR_UNAVAILABLE && !pos_job_should_stop(r) &&
		       pos_job_attempt(r) < BACKFILL_ATTEMPTS;
	pthread_mutex_lock(&e->lock);
	if (retried) {
		u = busy_find(e, user_id);
		if (u)
			u->running = false;
	} else {
		busy_remove(e, user_id);
	}
	pthread_mutex_unlock(&e->lock);
	return rc;
}

static const struct pos_job_kind backfill_kind = {
	.name = POS_SEARCH_BACKFILL_JOB,
	.max_attempts = BACKFILL_ATTEMPTS,
	.timeout_us = 0,  /* resumable: a long backfill may take its time */
	.backoff_us = BACKOFF_MIN_MS * 1000LL,
	.serial_per_user = true,
	.user_cancellable = true,
	.run = run_backfill,
};

/* The tick: a job for every user with missing vectors (a changed model,
 * an upgraded database, a wake-up lost with the process, a job that ran
 * out of attempts). Users whose text may not go to the provider have none. */
static void backfill_tick(void *ctx)
{
	struct pos_search *e = ctx;
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return;
	struct pos_user *users = NULL;
	size_t n = 0;
	if (e->store->accounts->user_list(e->store, a, &users, &n) == POS_OK) {
		for (size_t i = 0; i < n; i++) {
			int64_t missing = 0;
			if (e->store->memories->vectors_missing_count(e->store, e->embedder->model,
								       users[i].id, &missing) ||
			    missing == 0 || !pos_search_may_send(e, a, users[i].id))
				continue;
			ensure_job(e, users[i].id);
		}
	}
	pos_arena_destroy(a);
}

enum pos_err pos_search_register_jobs(struct pos_search *e, struct pos_jobs *jobs)
{
	if (!e->cfg.backfill && !e->remote)
		return POS_OK;
	enum pos_err rc = pos_jobs_register(jobs, &backfill_kind, e);
	if (!rc)
		rc = pos_jobs_every(jobs, e->remote ? BACKFILL_TICK_REMOTE_US : BACKFILL_TICK_BUILTIN_US,
				    backfill_tick, e);
	if (!rc)
		e->jobs = jobs;
	return rc;
}
