/*
 * assistant.c — the assistant service: start/stop, its job kinds on the
 * jobs service (memorize, MemU calls), and the privacy-tier view of the
 * providers.
 */
#include "assistant/assistant.h"

#include <ctype.h>
#include <jansson.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "assistant/clusters.h"
#include "assistant/memu.h"
#include "assistant/memu_sync.h"
#include "base/alloc.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/log.h"
#include "base/url.h"
#include "base/uuid.h"
#include "jobs/jobs.h"

void pos_privacy_json(const struct pos_assistant *as, const char *tier, struct pos_jw *w)
{
	bool embed_remote = as->cfg->embed_url[0] != '\0';
	bool embed_local = pos_url_is_local(as->cfg->embed_url, as->cfg->local_providers);
	bool local = !strcmp(tier, "local"), cloud = !strcmp(tier, "cloud");
	bool model_remote = !pos_llm_builtin(as->llm) && !as->llm_local;
	pos_jw_kstr(w, "tier", tier);
	pos_jw_key(w, "leaves_machine");
	pos_jw_obj(w);
	/* local: nothing to a remote provider; hybrid: the chat model may be
	 * remote, embeddings stay local; cloud: both, and MemU. */
	pos_jw_kbool(w, "chat_to_remote_model", model_remote && !local);
	pos_jw_kbool(w, "embeddings_to_remote_provider", embed_remote && !embed_local && cloud);
	pos_jw_kbool(w, "memu", as->memu && cloud);
	pos_jw_obj_end(w);
	pos_jw_key(w, "providers");
	pos_jw_obj(w);
	pos_jw_kstr(w, "chat", pos_llm_builtin(as->llm) ? "builtin"
			       : as->llm_local ? "local" : "remote");
	pos_jw_kstr(w, "embeddings", !embed_remote ? "builtin" : embed_local ? "local" : "remote");
	pos_jw_kstr(w, "memu", as->memu ? "remote" : "off");
	pos_jw_obj_end(w);
}

/* ---- jobs ---- */

enum pos_err pos_assistant_enqueue(struct pos_assistant *as, const char *user_id,
				   const char *kind, const char *payload_json,
				   char job_id[POS_UUID_SIZE], struct pos_error *err)
{
	enum pos_err rc = pos_jobs_enqueue(as->jobs, kind, user_id, payload_json, 0, job_id);
	if (rc)
		return pos_error_set(err, rc, NULL,
				     rc == POS_ERR_BUSY ? "too many jobs queued: try again later"
							: NULL);
	return POS_OK;
}

enum pos_err pos_memorize_enqueue(struct pos_assistant *as, struct pos_arena *a,
				  const char *user_id, const char *memory_id,
				  const char **job_id, struct pos_error *err)
{
	char norm[POS_UUID_SIZE];
	struct pos_memory m;
	if (!pos_uuid_valid(memory_id, strlen(memory_id), norm) ||
	    as->store->memories->memory_get(as->store, a, user_id, norm, false, 0, &m))
		return pos_error_set(err, POS_ERR_NOT_FOUND, NULL, "no such memory");
	char payload[128], id[POS_UUID_SIZE];
	snprintf(payload, sizeof(payload), "{\"memory_id\":\"%s\"}", norm);
	enum pos_err rc = pos_assistant_enqueue(as, user_id, "memorize", payload, id, err);
	if (!rc && !(*job_id = pos_arena_strdup(a, id)))
		rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	return rc;
}

static const char *payload_str(struct pos_arena *a, const char *payload, const char *key)
{
	json_t *v = json_loads(payload, 0, NULL);
	const char *s = json_string_value(json_object_get(v, key));
	const char *copy = s ? pos_arena_strdup(a, s) : NULL;
	json_decref(v);
	return copy;
}

/* The job's payload with "task_id" set (NULL: removed), in the arena. */
static const char *with_task(struct pos_arena *a, const char *payload, const char *task_id)
{
	json_t *v = json_loads(payload, 0, NULL);
	if (!json_is_object(v)) {
		json_decref(v);
		v = json_object();
	}
	if (task_id)
		json_object_set_new(v, "task_id", json_string(task_id));
	else
		json_object_del(v, "task_id");
	char *s = json_dumps(v, JSON_COMPACT);
	json_decref(v);
	const char *copy = s ? pos_arena_strdup(a, s) : NULL;
	free(s);
	return copy;
}

/*
 * MemU: the exchange of a saved conversation memory goes up as text, then
 * the job follows MemU's task until SUCCESS or FAILURE. Each run does one
 * step: send (the task id goes into the payload), or ask the task's status.
 * Still processing counts as a retryable failure, so the job comes back
 * after its backoff; a failed task is sent again on the next run.
 */
static enum pos_err memu_memorize(struct pos_assistant *as, struct pos_arena *a,
				  struct pos_job *j, const char **result,
				  struct pos_error *err)
{
	const char *task = payload_str(a, j->payload_json, "task_id");
	const char *status = NULL;
	enum pos_err rc;
	if (!task) {
		const char *mid = payload_str(a, j->payload_json, "memory_id");
		struct pos_memory m;
		struct pos_user u;
		rc = mid ? as->store->memories->memory_get(as->store, a, j->user_id, mid, false, 0, &m)
			 : POS_ERR_NOT_FOUND;
		if (rc == POS_ERR_NOT_FOUND) {
			*result = "{\"skipped\":\"the memory is gone\"}";
			return POS_OK;
		}
		if (rc)
			return pos_error_set(err, rc, NULL, NULL); /* locked: later */
		if ((rc = as->store->accounts->user_by_id(as->store, a, j->user_id, &u)))
			return pos_error_set(err, rc, NULL, "no such user");
		if ((rc = pos_memu_memorize(as->memu, a, j->user_id, u.full_name, NULL, 0,
					    m.content, &task, &status, err)))
			return rc;
		if (!task) {
			*result = "{\"status\":\"accepted\"}";
			return POS_OK; /* nothing to follow */
		}
		j->payload_json = with_task(a, j->payload_json, task);
	} else if ((rc = pos_memu_task_status(as->memu, a, task, &status, err))) {
		return rc;
	}
	switch (pos_memu_status_kind(status)) {
	case POS_MEMU_TASK_DONE: {
		json_t *r = json_pack("{s:s, s:s?}", "task_id", task, "status", status);
		char *s = r ? json_dumps(r, JSON_COMPACT) : NULL;
		json_decref(r);
		*result = s ? pos_arena_strdup(a, s) : NULL;
		free(s);
		return *result ? POS_OK : pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	}
	case POS_MEMU_TASK_FAILED:
		j->payload_json = with_task(a, j->payload_json, NULL); /* send again */
		return pos_error_set(err, POS_ERR_BAD_GATEWAY, NULL, "MemU task %s failed", task);
	default:
		return pos_error_set(err, POS_ERR_UNAVAILABLE, NULL,
				     "MemU is still processing task %s", task);
	}
}

static enum pos_err job_run(struct pos_assistant *as, struct pos_arena *a,
			    struct pos_job *j, const char **result_json,
			    struct pos_error *err)
{
	if (!strcmp(j->kind, "memorize")) {
		const char *mid = payload_str(a, j->payload_json, "memory_id");
		if (!mid)
			return pos_error_set(err, POS_ERR_INVALID_REQUEST, NULL, "bad job payload");
		return pos_memorize_run(as, a, j->user_id, mid, result_json, err);
	}
	if (!strcmp(j->kind, "memu_memorize") || !strcmp(j->kind, "memu_delete")) {
		if (!as->memu)
			return pos_error_set(err, POS_ERR_UNAVAILABLE, NULL, "MemU is not configured");
		if (!strcmp(j->kind, "memu_delete")) {
			enum pos_err rc = pos_memu_delete(as->memu, j->user_id, err);
			if (!rc)
				*result_json = "{\"deleted\":true}";
			return rc;
		}
		return memu_memorize(as, a, j, result_json, err);
	}
	return pos_error_set(err, POS_ERR_INVALID_REQUEST, NULL, "unknown job kind");
}

/*
 * One attempt of a job of the assistant's kinds, on a jobs worker. The
 * jobs service retries what is transient (a model or MemU away, data
 * locked until the user logs in) with its backoff.
 */
static enum pos_err run_kind(struct pos_job_run *r, void *ctx, const char *kind,
			     const char *user_id, const char *payload_json)
{
	struct pos_assistant *as = ctx;
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return POS_ERR_NOMEM;
	struct pos_error err;
	pos_error_clear(&err);
	struct pos_job j = {.kind = kind, .payload_json = payload_json};
	snprintf(j.user_id, sizeof(j.user_id), "%s", user_id);
	snprintf(j.id, sizeof(j.id), "%s", pos_job_id(r));
	const char *result = NULL;
	enum pos_err rc = job_run(as, a, &j, &result, &err);
	if (j.payload_json != payload_json && j.payload_json)
		pos_job_set_payload(r, j.payload_json); /* MemU's task id, or none */
	if (!rc && result)
		rc = pos_job_set_result(r, result);
	if (rc)
		pos_job_set_error(r, err.message[0] ? err.message : pos_strerror(rc));
	pos_arena_destroy(a);
	return rc;
}

static enum pos_err run_memorize(struct pos_job_run *r, void *ctx, const char *user_id,
				 const char *payload_json)
{
	return run_kind(r, ctx, "memorize", user_id, payload_json);
}

static enum pos_err run_memu_memorize(struct pos_job_run *r, void *ctx, const char *user_id,
				      const char *payload_json)
{
	return run_kind(r, ctx, "memu_memorize", user_id, payload_json);
}

static enum pos_err run_memu_delete(struct pos_job_run *r, void *ctx, const char *user_id,
				    const char *payload_json)
{
	return run_kind(r, ctx, "memu_delete", user_id, payload_json);
}

/* Retries wait 2 s, 4 s, 8 s...; an attempt is bounded by the model's and
 * MemU's own timeouts, and by ten minutes. */
static const struct pos_job_kind kind_memorize = {
	.name = "memorize", .max_attempts = POS_JOB_MAX_ATTEMPTS,
	.timeout_us = 600LL * 1000000, .backoff_us = 2000000,
	.user_cancellable = true, .run = run_memorize};
static const struct pos_job_kind kind_memu_memorize = {
	.name = "memu_memorize", .max_attempts = POS_JOB_MAX_ATTEMPTS,
	.timeout_us = 600LL * 1000000, .backoff_us = 2000000,
	.user_cancellable = true, .run = run_memu_memorize};
/* The account is gone: nobody can cancel it. */
static const struct pos_job_kind kind_memu_delete = {
	.name = "memu_delete", .max_attempts = POS_JOB_MAX_ATTEMPTS,
	.timeout_us = 600LL * 1000000, .backoff_us = 2000000,
	.user_cancellable = false, .run = run_memu_delete};

/* ---- model calls a request waits for (kind "chat") ---- */

struct pos_call {
	uint64_t handle;
	pos_chat_call_fn fn;
	void *ctx;
	struct pos_call *next;
};

static struct pos_call *call_take(struct pos_assistant *as, uint64_t handle)
{
	pthread_mutex_lock(&as->calls_mu);
	struct pos_call *c = NULL;
	for (struct pos_call **pp = &as->calls; *pp; pp = &(*pp)->next)
		if ((*pp)->handle == handle) {
			c = *pp;
			*pp = c->next;
			break;
		}
	pthread_mutex_unlock(&as->calls_mu);
	return c;
}

static enum pos_err run_call(struct pos_job_run *r, void *ctx, const char *user_id,
			     const char *payload_json)
{
	(void)user_id;
	struct pos_assistant *as = ctx;
	json_t *v = json_loads(payload_json, 0, NULL);
	json_int_t h = json_integer_value(json_object_get(v, "handle"));
	bool ours = json_integer_value(json_object_get(v, "epoch")) == as->calls_epoch;
	json_decref(v);
	struct pos_call *c = ours && h > 0 ? call_take(as, (uint64_t)h) : NULL;
	if (!c) {
		/* queued before a restart: its request is gone */
		pos_job_set_error(r, "the request that started this call has gone");
		return POS_ERR_NOT_FOUND;
	}
	c->fn(c->ctx, r);
	pos_free(c);
	return POS_OK;
}

/* A client stops a call by closing its connection; the model's own
 * timeouts bound an attempt. */
static const struct pos_job_kind kind_chat = {
	.name = "chat", .max_attempts = 1, .run = run_call};

enum pos_err pos_assistant_call(struct pos_assistant *as, const char *user_id,
				pos_chat_call_fn fn, void *ctx, char job_id[POS_UUID_SIZE])
{
	if (atomic_load(&as->stopping) || !as->calls_jobs)
		return POS_ERR_UNAVAILABLE;
	struct pos_call *c = pos_calloc(1, sizeof(*c));
	if (!c)
		return POS_ERR_NOMEM;
	c->fn = fn;
	c->ctx = ctx;
	pthread_mutex_lock(&as->calls_mu);
	c->handle = ++as->calls_next;
	c->next = as->calls;
	as->calls = c;
	pthread_mutex_unlock(&as->calls_mu);
	char payload[96];
	snprintf(payload, sizeof(payload), "{\"handle\":%llu,\"epoch\":%lld}",
		 (unsigned long long)c->handle, (long long)as->calls_epoch);
	enum pos_err rc = pos_jobs_enqueue(as->calls_jobs, "chat", user_id, payload, 0, job_id);
	if (rc && (c = call_take(as, c->handle))) /* not taken: fn is not called */
		pos_free(c);
	return rc;
}

/* Answers every call no worker took (stopping). */
static void calls_drain(struct pos_assistant *as)
{
	for (;;) {
		pthread_mutex_lock(&as->calls_mu);
		struct pos_call *c = as->calls;
		if (c)
			as->calls = c->next;
		pthread_mutex_unlock(&as->calls_mu);
		if (!c)
			break;
		c->fn(c->ctx, NULL);
		pos_free(c);
	}
}

static enum pos_err calls_start(struct pos_assistant *as, const struct pos_config *cfg)
{
	struct pos_jobs_config jc = {POS_CHAT_CALL_WORKERS, POS_CHAT_CALL_QUEUE_MAX,
				     (int64_t)(cfg->jobs_keep_done_s ? cfg->jobs_keep_done_s : 3600) *
				     1000000, NULL,
				     (int64_t)cfg->job_lease_s * 1000000};
	as->calls_epoch = pos_now_us();
	enum pos_err rc = pos_jobs_new(as->store, &jc, &as->calls_jobs);
	if (!rc && (rc = pos_jobs_register(as->calls_jobs, &kind_chat, as)) == POS_OK)
		rc = pos_jobs_start(as->calls_jobs);
	if (rc) {
		pos_jobs_free(as->calls_jobs);
		as->calls_jobs = NULL;
	}
	return rc;
}

enum pos_err pos_assistant_start(struct pos_assistant *as, const struct pos_config *cfg,
				 struct pos_store *store, const struct pos_memsvc *mem,
				 struct pos_jobs *jobs, struct pos_error *err)
{
	memset(as, 0, sizeof(*as));
	as->cfg = cfg;
	as->jobs = jobs;
	as->store = store;
	as->mem = mem;
	atomic_init(&as->stopping, false);
	atomic_init(&as->active, 0);
	struct pos_llm_config lc = {
		.url = cfg->llm_url, .model = cfg->llm_model, .api_key = cfg->llm_api_key,
		.timeout_s = cfg->llm_timeout_s, .connect_timeout_s = cfg->llm_connect_timeout_s,
		.idle_timeout_s = cfg->llm_idle_timeout_s};
	enum pos_err rc = pos_llm_new(&lc, &as->llm, err);
	if (rc)
		return rc;
	as->llm_local = pos_url_is_local(cfg->llm_url, cfg->local_providers);
	if (cfg->memu_api_key[0]) {
		struct pos_memu_config mc = {
			.base_url = cfg->memu_base_url[0] ? cfg->memu_base_url : NULL,
			.api_key = cfg->memu_api_key,
			.agent_id = cfg->memu_agent_id[0] ? cfg->memu_agent_id : NULL,
			.agent_name = cfg->memu_agent_name[0] ? cfg->memu_agent_name : NULL,
			.timeout_ms = POS_MEMU_TIMEOUT_MS};
		if ((rc = pos_memu_new(&mc, &as->memu, err))) {
			pos_llm_free(as->llm);
			return rc;
		}
		unsigned dl = cfg->memu_search_deadline_ms ? cfg->memu_search_deadline_ms : 300;
		mc.timeout_ms = dl * 3 / 4 > 10 ? (long)(dl * 3 / 4) : 10;
		if ((rc = pos_memu_new(&mc, &as->memu_search, err))) {
			pos_memu_free(as->memu);
			as->memu = NULL;
			pos_llm_free(as->llm);
			return rc;
		}
	}
	if ((rc = pos_jobs_register(jobs, &kind_memorize, as)) ||
	    (rc = pos_jobs_register(jobs, &kind_memu_memorize, as)) ||
	    (rc = pos_jobs_register(jobs, &kind_memu_delete, as)) ||
	    (rc = pos_memu_sync_register(as, jobs))) {
		pos_memu_free(as->memu);
		as->memu = NULL;
		pos_memu_free(as->memu_search);
		as->memu_search = NULL;
		pos_llm_free(as->llm);
		as->llm = NULL;
		return pos_error_set(err, rc, NULL, "cannot register the assistant's jobs");
	}
	pthread_mutex_init(&as->calls_mu, NULL);
	if ((rc = calls_start(as, cfg))) {
		pthread_mutex_destroy(&as->calls_mu);
		pos_memu_free(as->memu);
		as->memu = NULL;
		pos_memu_free(as->memu_search);
		as->memu_search = NULL;
		pos_llm_free(as->llm);
		as->llm = NULL;
		return pos_error_set(err, rc, NULL, "cannot start the assistant's model calls");
	}
	if ((rc = pos_clusters_new(&as->clusters))) {
		pos_assistant_stop(as);
		return pos_error_set(err, rc, NULL, NULL);
	}
	return POS_OK;
}

void pos_assistant_quiesce(struct pos_assistant *as)
{
	atomic_store(&as->stopping, true);
}

void pos_assistant_stop(struct pos_assistant *as)
{
	if (!as->llm)
		return;
	atomic_store(&as->stopping, true);
	/* Calls running see `stopping` through their cancel flag and finish
	 * with an error; the queued ones are answered here. */
	pos_jobs_free(as->calls_jobs);
	as->calls_jobs = NULL;
	calls_drain(as);
	pthread_mutex_destroy(&as->calls_mu);
	/* Inline chats still calling a model: wait for them (bounded). */
	for (int i = 0; i < 1000 && atomic_load(&as->active) > 0; i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	pos_memu_free(as->memu);
	as->memu = NULL;
	pos_memu_free(as->memu_search);
	as->memu_search = NULL;
	pos_llm_free(as->llm);
	as->llm = NULL;
	pos_clusters_free(as->clusters);
	as->clusters = NULL;
}
