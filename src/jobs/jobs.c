/*
 * jobs.c — the jobs service (see jobs.h): a dispatcher thread claims due
 * jobs from the store's queue and hands each to a worker of a bounded
 * pool (pool.h), never more at once than there are workers; a worker runs
 * one attempt and writes its outcome back (done, queued again after a
 * backoff, failed, or left cancelled). The store is the queue: nothing is
 * lost in a restart, and a job left `running` by a dead process is queued
 * again once its lease ends (at start-up, and by the dispatcher of any
 * process on the same store).
 */
#include "jobs/jobs.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"
#include "events/bus.h"
#include "base/thread.h"
#include "jobs/pool.h"
#include "store/store.h"

#define KINDS_MAX 32
#define ITEM_ERRORS_MAX 1000
#define ERROR_MAX 512
#define BACKOFF_CAP_US (3600LL * 1000000)
#define PROGRESS_EVERY_US (250LL * 1000) /* progress reaches the store at most 4x/s */
#define PRUNE_EVERY_US (60LL * 1000000)
#define IDLE_POLL_US (500LL * 1000)      /* a retry coming due is noticed this late */

struct reg {
	const struct pos_job_kind *kind;
	void *ctx;
};

#define TICKERS_MAX 8

struct ticker {
	int64_t interval_us, next; /* next: monotonic us */
	void (*fn)(void *ctx);
	void *ctx;
};

struct pos_jobs {
	struct pos_store *store;
	struct pos_jobs_config cfg;
	struct reg kinds[KINDS_MAX];
	size_t n_kinds;
	struct ticker tickers[TICKERS_MAX];
	size_t n_tickers;
	char *kinds_json, *serial_json; /* names for the store's claim */
	struct pos_pool *pool;
	pthread_t dispatcher;
	bool started;
	_Atomic int64_t wall_high;  /* the latest wall clock seen by claims (due_now) */

	pthread_mutex_t mu;
	pthread_cond_t wake;     /* dispatcher: a job was queued or ended, or stop */
	pthread_cond_t finished; /* pos_jobs_wait: some attempt ended */
	bool stopping, kicked;
	unsigned inflight;
	struct pos_job_run *runs; /* attempts handed to the pool, under mu */
	atomic_ullong n_done, n_retried, n_failed;
};

struct pos_job_run {
	struct pos_jobs *jobs;
	const struct reg *reg;
	struct pos_arena *arena;    /* owns row's strings */
	struct pos_job row;         /* as claimed (attempts counts this one) */
	struct pos_pool_job *handle; /* the dispatcher's reference, under jobs->mu */
	struct pos_pool_job *pj;    /* the running attempt, for the run function */
	atomic_bool user_cancel;
	struct pos_job_run *next;

	pthread_mutex_t mu;         /* what follows */
	uint64_t done, total;
	int64_t progress_written;   /* monotonic us */
	char *result;
	char *payload_next;
	json_t *item_errors;
	char error[ERROR_MAX];
	int64_t retry_after_us;     /* the next retry waits at least this */
};

/* job.progress for the job's owner (docs/EVENTS.md); never fails the job. */
static void publish(struct pos_jobs *j, const struct pos_job *row, const char *state,
		    uint64_t done, uint64_t total)
{
	if (!j->cfg.events || !row->user_id[0])
		return;
	char buf[256];
	int k = snprintf(buf, sizeof(buf),
			 "{\"id\":\"%s\",\"kind\":\"%s\",\"state\":\"%s\",\"done\":%llu,"
			 "\"total\":%llu}",
			 row->id, row->kind, state, (unsigned long long)done,
			 (unsigned long long)total);
	if (k > 0 && (size_t)k < sizeof(buf))
		(void)pos_events_publish(j->cfg.events, row->user_id, "job.progress", buf);
}

const char *pos_job_state_name(enum pos_job_state s)
{
	switch (s) {
	case POS_JOB_QUEUED: return "queued";
	case POS_JOB_RUNNING: return "running";
	case POS_JOB_DONE: return "done";
	case POS_JOB_FAILED: return "failed";
	case POS_JOB_CANCELLED: return "cancelled";
	}
	return "queued";
}

static enum pos_job_state state_parse(const char *s)
{
	static const enum pos_job_state all[] = {POS_JOB_QUEUED, POS_JOB_RUNNING, POS_JOB_DONE,
						 POS_JOB_FAILED, POS_JOB_CANCELLED};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (!strcmp(s, pos_job_state_name(all[i])))
			return all[i];
	return POS_JOB_QUEUED; /* "pending" of rows older than migration 13 */
}

static bool finished_state(const char *s)
{
	return !strcmp(s, "done") || !strcmp(s, "failed") || !strcmp(s, "cancelled");
}

static const struct reg *find_kind(const struct pos_jobs *j, const char *name)
{
	for (size_t i = 0; i < j->n_kinds; i++)
		if (!strcmp(j->kinds[i].kind->name, name))
			return &j->kinds[i];
	return NULL;
}

static bool kind_name_ok(const char *n)
{
	size_t len = n ? strlen(n) : 0;
	if (!len || len > POS_JOB_KIND_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((n[i] >= 'a' && n[i] <= 'z') || n[i] == '_' || n[i] == '.'))
			return false;
	return true;
}

static bool transient(enum pos_err e)
{
	return e == POS_ERR_UNAVAILABLE || e == POS_ERR_BAD_GATEWAY || e == POS_ERR_IO ||
	       e == POS_ERR_STORE || e == POS_ERR_LOCKED;
}

/* The delay before attempt `attempt` + 1: backoff doubled per retry. */
static int64_t backoff(const struct pos_job_kind *k, unsigned attempt)
{
	int64_t d = k->backoff_us > 0 ? k->backoff_us : 1000000;
	for (unsigned i = 1; i < attempt && d < BACKOFF_CAP_US; i++)
		d *= 2;
	return d > BACKOFF_CAP_US ? BACKOFF_CAP_US : d;
}

enum pos_err pos_jobs_new(struct pos_store *store, const struct pos_jobs_config *cfg,
			  struct pos_jobs **out)
{
	*out = NULL;
	if (!store || !cfg || cfg->workers < 1 || cfg->workers > POS_POOL_WORKERS_MAX ||
	    cfg->queue_max < 1)
		return POS_ERR_INVALID_REQUEST;
	struct pos_jobs *j = pos_calloc(1, sizeof(*j));
	if (!j)
		return POS_ERR_NOMEM;
	j->store = store;
	j->cfg = *cfg;
	if (j->cfg.lease_us <= 0)
		j->cfg.lease_us = POS_JOBS_LEASE_DEFAULT_US;
	pthread_mutex_init(&j->mu, NULL);
	pos_cond_init_mono(&j->wake);     /* timed waits: base/thread.h */
	pos_cond_init_mono(&j->finished);
	*out = j;
	return POS_OK;
}

/* The registered names (all, or the serial_per_user ones) as a JSON array. */
static char *names_json(const struct pos_jobs *j, bool serial_only)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < j->n_kinds; i++)
		if (!serial_only || j->kinds[i].kind->serial_per_user)
			json_array_append_new(a, json_string(j->kinds[i].kind->name));
	char *s = a ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	char *copy = s ? pos_strdup(s) : NULL;
	free(s);
	return copy;
}

enum pos_err pos_jobs_register(struct pos_jobs *j, const struct pos_job_kind *kind, void *ctx)
{
	if (!kind || !kind->run || !kind_name_ok(kind->name) || kind->max_attempts < 1)
		return POS_ERR_INVALID_REQUEST;
	if (j->started)
		return POS_ERR_CONFLICT;
	if (find_kind(j, kind->name))
		return POS_ERR_CONFLICT;
	if (j->n_kinds == KINDS_MAX)
		return POS_ERR_INVALID_REQUEST;
	char *all = NULL, *serial = NULL;
	j->kinds[j->n_kinds++] = (struct reg){kind, ctx};
	if (!(all = names_json(j, false)) || !(serial = names_json(j, true))) {
		j->n_kinds--;
		pos_free(all);
		return POS_ERR_NOMEM;
	}
	pos_free(j->kinds_json);
	pos_free(j->serial_json);
	j->kinds_json = all;
	j->serial_json = serial;
	return POS_OK;
}

/* ---- one attempt ---- */

static void run_free(struct pos_job_run *r)
{
	if (!r)
		return;
	pthread_mutex_destroy(&r->mu);
	json_decref(r->item_errors);
	pos_free(r->result);
	pos_free(r->payload_next);
	pos_arena_destroy(r->arena);
	pos_free(r);
}

/* Writes the attempt's outcome to the store; the caller then unlinks it. */
static void record(struct pos_job_run *r, enum pos_err rc, bool shutdown, bool user_cancel,
		   bool expired)
{
	struct pos_jobs *j = r->jobs;
	const struct pos_job_kind *k = r->reg->kind;
	struct pos_job *row = &r->row;
	int64_t now = pos_now_us();
	if (user_cancel)
		return; /* the store says `cancelled` already */
	pthread_mutex_lock(&r->mu);
	char *items = r->item_errors && json_array_size(r->item_errors)
			      ? json_dumps(r->item_errors, JSON_COMPACT)
			      : NULL;
	row->item_errors_json = items;
	row->result_json = r->result;
	row->payload_json = r->payload_next; /* NULL: unchanged */
	row->done = r->done;
	row->total = r->total;
	row->updated_at = now;
	const char *why = r->error[0] ? r->error : pos_strerror(rc);
	if (shutdown) {
		/* Not this job's fault: it runs again at the next start. */
		row->state = "queued";
		row->attempts = row->attempts > 0 ? row->attempts - 1 : 0;
		row->next_run_at = now;
		row->last_error = NULL;
	} else if (!rc && !expired) {
		row->state = "done";
		row->last_error = NULL;
		atomic_fetch_add(&j->n_done, 1);
	} else {
		if (expired)
			why = "the attempt ran past its deadline";
		row->last_error = why;
		if ((expired || transient(rc)) && row->attempts < (int64_t)k->max_attempts) {
			row->state = "queued";
			int64_t wait = backoff(k, (unsigned)row->attempts);
			if (r->retry_after_us > wait)
				wait = r->retry_after_us;
			row->next_run_at = now + wait;
			atomic_fetch_add(&j->n_retried, 1);
		} else {
			row->state = "failed";
			atomic_fetch_add(&j->n_failed, 1);
		}
		pos_warn("jobs: %s job %s attempt %lld: %s", k->name, row->id,
			 (long long)row->attempts, why);
	}
	enum pos_err w = j->store->jobs->job_update(j->store, row);
	if (w && w != POS_ERR_NOT_FOUND) /* NOT_FOUND: cancelled meanwhile */
		pos_warn("jobs: cannot record job %s: %s", row->id, pos_strerror(w));
	else if (!w)
		publish(j, row, row->state, row->done, row->total);
	pthread_mutex_unlock(&r->mu);
	free(items);
}

static void run_main(struct pos_pool_job *pj, void *arg)
{
	struct pos_job_run *r = arg;
	struct pos_jobs *j = r->jobs;
	r->pj = pj;
	enum pos_err rc = POS_ERR_UNAVAILABLE;
	if (!pos_pool_job_cancelled(pj) && !atomic_load(&r->user_cancel))
		rc = r->reg->kind->run(r, r->reg->ctx, r->row.user_id, r->row.payload_json);
	bool user_cancel = atomic_load(&r->user_cancel);
	bool shutdown = !user_cancel && pos_pool_job_cancelled(pj);
	record(r, rc, shutdown, user_cancel, !user_cancel && !shutdown && pos_pool_job_expired(pj));
	pthread_mutex_lock(&j->mu);
	for (struct pos_job_run **pp = &j->runs; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	j->inflight--;
	j->kicked = true;
	pthread_cond_signal(&j->wake);
	pthread_cond_broadcast(&j->finished);
	struct pos_pool_job *h = r->handle;
	pthread_mutex_unlock(&j->mu);
	pos_pool_job_release(h);
	r->pj = NULL;
	run_free(r);
}

/* ---- the dispatcher ---- */

/*
 * The wall clock for deciding what is due, never going back (issue 19,
 * clock jumps): after the clock is set back, a job queued before stays due
 * instead of waiting for the clock to catch up with its next_run_at. Jobs
 * queued after the jump are due at the new, earlier time, so they run too.
 */
static int64_t due_now(struct pos_jobs *j)
{
	int64_t now = pos_now_us();
	int64_t high = atomic_load(&j->wall_high);
	while (now > high && !atomic_compare_exchange_weak(&j->wall_high, &high, now))
		;
	return now > high ? now : high;
}

/* Claims one due job and hands it to the pool. Called with j->mu held
 * (released around the store). False when there was nothing to start. */
static bool dispatch_one(struct pos_jobs *j)
{
	pthread_mutex_unlock(&j->mu);
	struct pos_job_run *r = pos_calloc(1, sizeof(*r));
	struct pos_arena *a = r ? pos_arena_new() : NULL;
	/* due by the never-going-back clock (clock jumps); the lease by the
	 * wall clock the other instances read */
	int64_t due = due_now(j), lease_until = pos_now_us() + j->cfg.lease_us;
	enum pos_err rc = a ? j->store->jobs->job_claim(j->store, a, due, lease_until,
							j->kinds_json, j->serial_json, &r->row)
			    : POS_ERR_NOMEM;
	const struct reg *reg = rc ? NULL : find_kind(j, r->row.kind);
	/* our writes of this attempt stop counting if another process
	 * claims the job again (our lease ended) */
	if (!rc)
		r->row.claim_attempts = r->row.attempts;
	if (!rc && !reg)
		rc = POS_ERR_INTERNAL; /* the claim only takes registered kinds */
	if (!rc && r->row.attempts > (int64_t)reg->kind->max_attempts) {
		/* Requeued at start-up after too many interrupted attempts. */
		r->row.state = "failed";
		r->row.last_error = "interrupted too many times";
		r->row.attempts--;
		r->row.updated_at = pos_now_us();
		r->row.payload_json = NULL;
		j->store->jobs->job_update(j->store, &r->row);
		atomic_fetch_add(&j->n_failed, 1);
		pos_arena_destroy(a);
		pos_free(r);
		pthread_mutex_lock(&j->mu);
		return true;
	}
	if (rc) {
		if (rc != POS_ERR_NOT_FOUND)
			pos_warn("jobs: cannot claim a job: %s", pos_strerror(rc));
		pos_arena_destroy(a);
		pos_free(r);
		pthread_mutex_lock(&j->mu);
		return false;
	}
	r->jobs = j;
	r->reg = reg;
	r->arena = a;
	pthread_mutex_init(&r->mu, NULL);
	atomic_init(&r->user_cancel, false);
	pthread_mutex_lock(&j->mu);
	/* Under mu, so that a cancel finds the handle once the run is listed. */
	rc = pos_pool_submit(j->pool, run_main, r, reg->kind->timeout_us, &r->handle);
	if (rc) {
		/* The pool is being freed: give the job back. */
		r->row.state = "queued";
		r->row.attempts--;
		r->row.payload_json = NULL;
		r->row.updated_at = pos_now_us();
		j->store->jobs->job_update(j->store, &r->row);
		run_free(r);
		return false;
	}
	r->next = j->runs;
	j->runs = r;
	j->inflight++;
	publish(j, &r->row, "running", r->row.done, r->row.total);
	return true;
}

enum pos_err pos_jobs_every(struct pos_jobs *j, int64_t interval_us, void (*fn)(void *ctx),
			    void *ctx)
{
	if (!fn || interval_us < 1000000)
		return POS_ERR_INVALID_REQUEST;
	if (j->started || j->n_tickers == TICKERS_MAX)
		return POS_ERR_CONFLICT;
	j->tickers[j->n_tickers++] = (struct ticker){interval_us, 0, fn, ctx};
	return POS_OK;
}

/* Runs the tickers that are due; called with j->mu held (released around them). */
static void tick(struct pos_jobs *j)
{
	for (size_t i = 0; i < j->n_tickers && !j->stopping; i++) {
		struct ticker *t = &j->tickers[i];
		if (pos_mono_us() < t->next)
			continue;
		pthread_mutex_unlock(&j->mu);
		t->fn(t->ctx);
		t->next = pos_mono_us() + t->interval_us;
		pthread_mutex_lock(&j->mu);
	}
}

/*
 * Leases (several processes on one store): renews the lease of every
 * attempt this process runs, then queues again the jobs whose lease ended
 * (a dead process's). Called with j->mu held (released around the store).
 */
static void leases(struct pos_jobs *j)
{
	json_t *ids = json_array();
	for (struct pos_job_run *r = j->runs; ids && r; r = r->next)
		json_array_append_new(ids, json_string(r->row.id));
	pthread_mutex_unlock(&j->mu);
	char *text = ids && json_array_size(ids) ? json_dumps(ids, JSON_COMPACT) : NULL;
	json_decref(ids);
	int64_t now = pos_now_us();
	enum pos_err rc = text ? j->store->jobs->jobs_renew(j->store, text, now + j->cfg.lease_us)
			       : POS_OK;
	free(text);
	if (rc)
		pos_warn("jobs: cannot renew the leases: %s", pos_strerror(rc));
	int64_t n = 0;
	rc = j->store->jobs->jobs_requeue(j->store, j->kinds_json, now, &n);
	if (rc)
		pos_warn("jobs: cannot requeue expired jobs: %s", pos_strerror(rc));
	else if (n)
		pos_info("jobs: %lld job(s) of an instance that stopped renewing queued again",
			 (long long)n);
	pthread_mutex_lock(&j->mu);
}

static void *dispatcher_main(void *arg)
{
	struct pos_jobs *j = arg;
	int64_t next_prune = 0;
	int64_t next_lease = pos_mono_us() + j->cfg.lease_us / 3;
	pthread_mutex_lock(&j->mu);
	while (!j->stopping) {
		j->kicked = false;
		tick(j);
		if (pos_mono_us() >= next_lease) {
			leases(j);
			next_lease = pos_mono_us() + j->cfg.lease_us / 3;
		}
		if (pos_mono_us() >= next_prune) {
			pthread_mutex_unlock(&j->mu);
			if (j->cfg.keep_done_us > 0)
				j->store->jobs->jobs_prune(j->store, pos_now_us() - j->cfg.keep_done_us);
			next_prune = pos_mono_us() + PRUNE_EVERY_US;
			pthread_mutex_lock(&j->mu);
		}
		while (!j->stopping && j->inflight < j->cfg.workers && dispatch_one(j))
			;
		if (j->stopping || j->kicked)
			continue;
		struct timespec ts = pos_mono_deadline(IDLE_POLL_US);
		pthread_cond_timedwait(&j->wake, &j->mu, &ts);
	}
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

enum pos_err pos_jobs_start(struct pos_jobs *j)
{
	if (j->started)
		return POS_ERR_CONFLICT;
	if (!j->kinds_json || !j->serial_json)
		return POS_ERR_INVALID_REQUEST; /* no kind registered */
	/* Only our kinds: another service over the same store may be running
	 * its own. */
	int64_t n = 0;
	enum pos_err rc = j->store->jobs->jobs_requeue(j->store, j->kinds_json, pos_now_us(), &n);
	if (rc)
		return rc;
	if (n)
		pos_info("jobs: %lld interrupted job(s) queued again", (long long)n);
	if ((rc = pos_pool_new(j->cfg.workers, j->cfg.workers, &j->pool)))
		return rc;
	j->started = true; /* registration is closed */
	if (pthread_create(&j->dispatcher, NULL, dispatcher_main, j) != 0) {
		pos_pool_free(j->pool);
		j->pool = NULL;
		return POS_ERR_INTERNAL;
	}
	return POS_OK;
}

void pos_jobs_free(struct pos_jobs *j)
{
	if (!j)
		return;
	if (j->pool) {
		pthread_mutex_lock(&j->mu);
		j->stopping = true;
		pthread_cond_broadcast(&j->wake);
		pthread_mutex_unlock(&j->mu);
		pthread_join(j->dispatcher, NULL);
		/* Cancels the running attempts; run_main queues them again. */
		pos_pool_free(j->pool);
	}
	pthread_cond_destroy(&j->finished);
	pthread_cond_destroy(&j->wake);
	pthread_mutex_destroy(&j->mu);
	pos_free(j->kinds_json);
	pos_free(j->serial_json);
	pos_free(j);
}

/* ---- the API of the service ---- */

static void kick(struct pos_jobs *j)
{
	pthread_mutex_lock(&j->mu);
	j->kicked = true;
	pthread_cond_signal(&j->wake);
	pthread_mutex_unlock(&j->mu);
}

static enum pos_err enqueue(struct pos_jobs *j, const char *kind, const char *user_id,
			    const char *key, const char *payload_json, int64_t run_after,
			    char id_out[POS_UUID_SIZE])
{
	if (!kind || !find_kind(j, kind))
		return POS_ERR_NOT_FOUND;
	if (!user_id || !pos_uuid_valid(user_id, strlen(user_id), NULL))
		return POS_ERR_INVALID_REQUEST;
	const char *payload = payload_json ? payload_json : "{}";
	if (strlen(payload) > POS_JOB_PAYLOAD_MAX)
		return POS_ERR_CONTENT_TOO_LARGE;
	json_t *v = json_loads(payload, 0, NULL);
	bool object = json_is_object(v);
	json_decref(v);
	if (!object)
		return POS_ERR_INVALID_JSON;
	size_t queued = 0;
	/* this service's kinds only: another over the same store counts its own */
	enum pos_err rc = j->store->jobs->jobs_queued(j->store, user_id, j->kinds_json, &queued);
	if (rc)
		return rc;
	if (queued >= j->cfg.queue_max)
		return POS_ERR_BUSY;
	int64_t now = pos_now_us();
	struct pos_job row = {.kind = kind, .payload_json = payload, .state = "queued",
			      .next_run_at = run_after > now ? run_after : now,
			      .created_at = now, .updated_at = now, .dedupe_key = key};
	if (!pos_uuid_new_v7(row.id, now))
		return POS_ERR_INTERNAL;
	snprintf(row.user_id, sizeof(row.user_id), "%s", user_id);
	if ((rc = j->store->jobs->job_put(j->store, &row)))
		return rc;
	if (id_out)
		memcpy(id_out, row.id, POS_UUID_SIZE);
	kick(j);
	return POS_OK;
}

enum pos_err pos_jobs_enqueue(struct pos_jobs *j, const char *kind, const char *user_id,
			      const char *payload_json, int64_t run_after,
			      char id_out[POS_UUID_SIZE])
{
	return enqueue(j, kind, user_id, NULL, payload_json, run_after, id_out);
}

enum pos_err pos_jobs_enqueue_unique(struct pos_jobs *j, const char *kind, const char *user_id,
				     const char *key, const char *payload_json, int64_t run_after,
				     char id_out[POS_UUID_SIZE])
{
	size_t len = key ? strlen(key) : 0;
	if (!len || len > POS_JOB_DEDUPE_KEY_MAX)
		return POS_ERR_INVALID_REQUEST;
	return enqueue(j, kind, user_id, key, payload_json, run_after, id_out);
}

static void to_info(const struct pos_job *row, struct pos_job_info *out)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->id, row->id, POS_UUID_SIZE);
	memcpy(out->user_id, row->user_id, POS_UUID_SIZE);
	out->kind = row->kind;
	out->state = state_parse(row->state);
	out->attempts = row->attempts > 0 ? (unsigned)row->attempts : 0;
	out->done = row->done;
	out->total = row->total;
	out->error = row->last_error;
	out->result_json = row->result_json;
	out->item_errors_json = row->item_errors_json;
	out->created_at = row->created_at;
	out->updated_at = row->updated_at;
	out->run_after = row->next_run_at;
}

enum pos_err pos_jobs_get(struct pos_jobs *j, struct pos_arena *a, const char *user_id,
			  const char *id, struct pos_job_info *out)
{
	char norm[POS_UUID_SIZE];
	struct pos_job row;
	if (!user_id || !id || !pos_uuid_valid(id, strlen(id), norm))
		return POS_ERR_NOT_FOUND;
	enum pos_err rc = j->store->jobs->job_get(j->store, a, user_id, norm, &row);
	if (!rc)
		to_info(&row, out);
	return rc;
}

enum pos_err pos_jobs_list(struct pos_jobs *j, struct pos_arena *a, const char *user_id,
			   const char *kind, size_t limit, struct pos_job_info **out,
			   size_t *n_out)
{
	*out = NULL;
	*n_out = 0;
	struct pos_job *rows;
	size_t n;
	enum pos_err rc = j->store->jobs->job_list(j->store, a, user_id, kind, limit, &rows, &n);
	if (rc || !n)
		return rc;
	struct pos_job_info *v = pos_arena_alloc(a, n * sizeof(*v));
	if (!v)
		return POS_ERR_NOMEM;
	for (size_t i = 0; i < n; i++)
		to_info(&rows[i], &v[i]);
	*out = v;
	*n_out = n;
	return POS_OK;
}

enum pos_err pos_jobs_cancel(struct pos_jobs *j, const char *user_id, const char *id)
{
	char norm[POS_UUID_SIZE];
	if (!user_id || !id || !pos_uuid_valid(id, strlen(id), norm))
		return POS_ERR_NOT_FOUND;
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return POS_ERR_NOMEM;
	struct pos_job row;
	enum pos_err rc = j->store->jobs->job_get(j->store, a, user_id, norm, &row);
	if (!rc) {
		const struct reg *reg = find_kind(j, row.kind);
		if (finished_state(row.state))
			rc = POS_ERR_CONFLICT;
		else if (!reg || !reg->kind->user_cancellable)
			rc = POS_ERR_FORBIDDEN;
	}
	pos_arena_destroy(a);
	if (!rc)
		rc = j->store->jobs->job_cancel(j->store, user_id, norm, pos_now_us());
	if (rc)
		return rc;
	pthread_mutex_lock(&j->mu);
	for (struct pos_job_run *r = j->runs; r; r = r->next)
		if (!strcmp(r->row.id, norm)) {
			atomic_store(&r->user_cancel, true);
			pos_pool_job_cancel(r->handle);
		}
	pthread_cond_broadcast(&j->finished);
	pthread_mutex_unlock(&j->mu);
	return POS_OK;
}

void pos_jobs_counts(struct pos_jobs *j, uint64_t *done, uint64_t *retried, uint64_t *failed)
{
	*done = atomic_load(&j->n_done);
	*retried = atomic_load(&j->n_retried);
	*failed = atomic_load(&j->n_failed);
}

enum pos_err pos_jobs_wait(struct pos_jobs *j, const char *id, int64_t timeout_us)
{
	char norm[POS_UUID_SIZE];
	if (!id || !pos_uuid_valid(id, strlen(id), norm))
		return POS_ERR_NOT_FOUND;
	int64_t deadline = pos_mono_us() + (timeout_us > 0 ? timeout_us : 0);
	for (;;) {
		struct pos_arena *a = pos_arena_new();
		if (!a)
			return POS_ERR_NOMEM;
		struct pos_job row;
		enum pos_err rc = j->store->jobs->job_get(j->store, a, NULL, norm, &row);
		bool over = !rc && finished_state(row.state);
		pos_arena_destroy(a);
		if (rc || over)
			return rc;
		int64_t left = deadline - pos_mono_us();
		if (left <= 0)
			return POS_ERR_UNAVAILABLE;
		if (left > 100000)
			left = 100000; /* an attempt of another process ends unannounced */
		struct timespec ts = pos_mono_deadline(left);
		pthread_mutex_lock(&j->mu);
		pthread_cond_timedwait(&j->finished, &j->mu, &ts);
		pthread_mutex_unlock(&j->mu);
	}
}

/* ---- inside run ---- */

bool pos_job_should_stop(const struct pos_job_run *r)
{
	return atomic_load(&r->user_cancel) || pos_pool_job_should_stop(r->pj);
}

int64_t pos_job_remaining_us(const struct pos_job_run *r)
{
	return pos_pool_job_remaining_us(r->pj);
}

const char *pos_job_id(const struct pos_job_run *r)
{
	return r->row.id;
}

unsigned pos_job_attempt(const struct pos_job_run *r)
{
	return r->row.attempts > 0 ? (unsigned)r->row.attempts : 1;
}

void pos_job_progress(struct pos_job_run *r, uint64_t done, uint64_t total)
{
	pthread_mutex_lock(&r->mu);
	r->done = done;
	r->total = total;
	int64_t now = pos_mono_us();
	bool write = now - r->progress_written >= PROGRESS_EVERY_US;
	if (write)
		r->progress_written = now;
	pthread_mutex_unlock(&r->mu);
	pos_pool_job_set_progress(r->pj, done, total);
	if (write) {
		r->jobs->store->jobs->job_progress(r->jobs->store, r->row.id, done, total,
						   pos_now_us());
		publish(r->jobs, &r->row, "running", done, total);
	}
}

/* A copy of `json` if it is a JSON object of at most POS_JOB_PAYLOAD_MAX. */
static enum pos_err object_copy(const char *json, char **out)
{
	if (!json)
		return POS_ERR_INVALID_REQUEST;
	if (strlen(json) > POS_JOB_PAYLOAD_MAX)
		return POS_ERR_CONTENT_TOO_LARGE;
	json_t *v = json_loads(json, 0, NULL);
	bool object = json_is_object(v);
	json_decref(v);
	if (!object)
		return POS_ERR_INVALID_JSON;
	return (*out = pos_strdup(json)) ? POS_OK : POS_ERR_NOMEM;
}

enum pos_err pos_job_set_result(struct pos_job_run *r, const char *json)
{
	char *copy = NULL;
	enum pos_err rc = object_copy(json, &copy);
	if (rc)
		return rc;
	pthread_mutex_lock(&r->mu);
	pos_free(r->result);
	r->result = copy;
	pthread_mutex_unlock(&r->mu);
	return POS_OK;
}

enum pos_err pos_job_set_payload(struct pos_job_run *r, const char *json)
{
	char *copy = NULL;
	enum pos_err rc = object_copy(json, &copy);
	if (rc)
		return rc;
	pthread_mutex_lock(&r->mu);
	pos_free(r->payload_next);
	r->payload_next = copy;
	pthread_mutex_unlock(&r->mu);
	return POS_OK;
}

void pos_job_set_error(struct pos_job_run *r, const char *message)
{
	pthread_mutex_lock(&r->mu);
	snprintf(r->error, sizeof(r->error), "%s", message ? message : "");
	pthread_mutex_unlock(&r->mu);
}

void pos_job_retry_after(struct pos_job_run *r, int64_t delay_us)
{
	pthread_mutex_lock(&r->mu);
	r->retry_after_us = delay_us < 0 ? 0 : delay_us > BACKOFF_CAP_US ? BACKOFF_CAP_US : delay_us;
	pthread_mutex_unlock(&r->mu);
}

enum pos_err pos_job_item_error(struct pos_job_run *r, uint64_t position, enum pos_err code,
				const char *message)
{
	enum pos_err rc = POS_OK;
	pthread_mutex_lock(&r->mu);
	if (!r->item_errors)
		r->item_errors = json_array();
	if (!r->item_errors) {
		rc = POS_ERR_NOMEM;
	} else if (json_array_size(r->item_errors) < ITEM_ERRORS_MAX) {
		char msg[ERROR_MAX];
		snprintf(msg, sizeof(msg), "%s", message ? message : pos_strerror(code));
		json_t *e = json_pack("{s:I, s:s, s:s}", "position", (json_int_t)position, "code",
				      pos_err_code(code), "message", msg);
		if (!e || json_array_append_new(r->item_errors, e))
			rc = POS_ERR_NOMEM;
	}
	pthread_mutex_unlock(&r->mu);
	return rc;
}
