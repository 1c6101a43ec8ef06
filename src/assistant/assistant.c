/*
 * assistant.c — the assistant service: start/stop, the job worker and its
 * retry policy, job JSON, and the privacy-tier view of the providers.
 */
#include "assistant/assistant.h"

#include <ctype.h>
#include <jansson.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "assistant/memu.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/log.h"
#include "base/url.h"
#include "base/uuid.h"

/* Retry n (1-based) waits 2^n seconds, at most ten minutes. */
static int64_t backoff_us(int64_t attempts)
{
	int64_t s = attempts >= 10 ? 600 : ((int64_t)1 << attempts);
	return (s > 600 ? 600 : s) * 1000000;
}

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

enum pos_err pos_job_enqueue(struct pos_assistant *as, const char *user_id,
			     const char *kind, const char *payload_json,
			     char job_id[POS_UUID_SIZE], struct pos_error *err)
{
	int64_t now = pos_now_us();
	struct pos_job j = {.kind = kind, .payload_json = payload_json, .state = "pending",
			    .next_run_at = now, .created_at = now, .updated_at = now};
	pos_uuid_new_v7(j.id, now);
	snprintf(j.user_id, sizeof(j.user_id), "%s", user_id);
	enum pos_err rc = as->store->jobs->job_put(as->store, &j);
	if (rc)
		return pos_error_set(err, rc, NULL, NULL);
	snprintf(job_id, POS_UUID_SIZE, "%s", j.id);
	pthread_mutex_lock(&as->lock);
	pthread_cond_signal(&as->wake);
	pthread_mutex_unlock(&as->lock);
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
	enum pos_err rc = pos_job_enqueue(as, user_id, "memorize", payload, id, err);
	if (!rc && !(*job_id = pos_arena_strdup(a, id)))
		rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	return rc;
}

enum pos_err pos_job_json(struct pos_assistant *as, struct pos_arena *a,
			  const char *user_id, const char *job_id, struct pos_jw *w,
			  struct pos_error *err)
{
	char norm[POS_UUID_SIZE];
	struct pos_job j;
	if (!pos_uuid_valid(job_id, strlen(job_id), norm) ||
	    as->store->jobs->job_get(as->store, a, user_id, norm, &j))
		return pos_error_set(err, POS_ERR_NOT_FOUND, NULL, "no such job");
	pos_jw_obj(w);
	pos_jw_kstr(w, "id", j.id);
	pos_jw_kstr(w, "kind", j.kind);
	pos_jw_kstr(w, "status", j.state);
	pos_jw_kint(w, "attempts", j.attempts);
	pos_jw_kstr(w, "last_error", j.last_error);
	pos_jw_key(w, "result");
	if (j.result_json)
		pos_jw_raw(w, j.result_json, strlen(j.result_json));
	else
		pos_jw_null(w);
	pos_jw_ktime(w, "created_at", j.created_at);
	pos_jw_ktime(w, "updated_at", j.updated_at);
	pos_jw_ktime(w, "next_run_at", j.next_run_at);
	pos_jw_obj_end(w);
	return POS_OK;
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

enum pos_err pos_job_run(struct pos_assistant *as, struct pos_arena *a,
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

/* Errors worth another try: the provider or MemU may come back. */
static bool retryable(enum pos_err e)
{
	return e == POS_ERR_UNAVAILABLE || e == POS_ERR_BAD_GATEWAY || e == POS_ERR_STORE ||
	       e == POS_ERR_NOMEM || e == POS_ERR_IO ||
	       e == POS_ERR_LOCKED; /* an encrypted user's data unlocks at login */
}

static void run_one(struct pos_assistant *as, struct pos_arena *a, struct pos_job *j)
{
	struct pos_error err;
	pos_error_clear(&err);
	const char *result = NULL;
	enum pos_err rc = pos_job_run(as, a, j, &result, &err);
	int64_t now = pos_now_us();
	j->updated_at = now;
	if (!rc) {
		j->state = "done";
		j->result_json = result;
		j->last_error = NULL;
		atomic_fetch_add(&as->jobs_done, 1);
	} else {
		j->last_error = pos_arena_strdup(a, err.message[0] ? err.message : pos_strerror(rc));
		if (retryable(rc) && j->attempts < POS_JOB_MAX_ATTEMPTS) {
			j->state = "pending";
			j->next_run_at = now + backoff_us(j->attempts);
			atomic_fetch_add(&as->jobs_retried, 1);
		} else {
			j->state = "failed";
			atomic_fetch_add(&as->jobs_failed, 1);
		}
		pos_warn("assistant: job %s (%s) attempt %lld: %s", j->id, j->kind,
			 (long long)j->attempts, j->last_error ? j->last_error : "failed");
	}
	if (as->store->jobs->job_update(as->store, j))
		pos_warn("assistant: cannot record job %s", j->id);
}

static void *worker(void *arg)
{
	struct pos_assistant *as = arg;
	while (!atomic_load(&as->stopping)) {
		struct pos_arena *a = pos_arena_new();
		struct pos_job j;
		enum pos_err rc = a ? as->store->jobs->job_claim(as->store, a, pos_now_us(), &j)
				    : POS_ERR_NOMEM;
		if (!rc)
			run_one(as, a, &j);
		pos_arena_destroy(a);
		if (!rc)
			continue;
		/* Nothing due: sleep until a job is queued, or a second passes
		 * (a retry may come due). */
		pthread_mutex_lock(&as->lock);
		if (!atomic_load(&as->stopping)) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&as->wake, &as->lock, &ts);
		}
		pthread_mutex_unlock(&as->lock);
	}
	return NULL;
}

enum pos_err pos_assistant_start(struct pos_assistant *as, const struct pos_config *cfg,
				 struct pos_store *store, const struct pos_memsvc *mem,
				 struct pos_error *err)
{
	memset(as, 0, sizeof(*as));
	as->cfg = cfg;
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
	}
	pthread_mutex_init(&as->lock, NULL);
	pthread_cond_init(&as->wake, NULL);
	if ((rc = store->jobs->jobs_requeue(store)) ||
	    pthread_create(&as->worker, NULL, worker, as) != 0) {
		pthread_cond_destroy(&as->wake);
		pthread_mutex_destroy(&as->lock);
		pos_memu_free(as->memu);
		pos_llm_free(as->llm);
		return pos_error_set(err, rc ? rc : POS_ERR_INTERNAL, NULL,
				     "cannot start the assistant's job worker");
	}
	as->worker_started = true;
	return POS_OK;
}

void pos_assistant_stop(struct pos_assistant *as)
{
	if (!as->llm)
		return;
	atomic_store(&as->stopping, true);
	if (as->worker_started) {
		pthread_mutex_lock(&as->lock);
		pthread_cond_broadcast(&as->wake);
		pthread_mutex_unlock(&as->lock);
		pthread_join(as->worker, NULL);
		as->worker_started = false;
	}
	/* Chats still calling a model see `stopping` through their cancel
	 * flag and finish with an error; wait for them (bounded). */
	for (int i = 0; i < 1000 && atomic_load(&as->active) > 0; i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	pthread_cond_destroy(&as->wake);
	pthread_mutex_destroy(&as->lock);
	pos_memu_free(as->memu);
	as->memu = NULL;
	pos_llm_free(as->llm);
	as->llm = NULL;
}
