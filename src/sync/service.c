/*
 * service.c — sync sources, sealed secrets, the schedule (a tick of the
 * jobs service), runs as `sync.run` jobs, and status. The sink (what
 * adapters write into) is in sink.c.
 */
#include "sync/sync_internal.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <sodium.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/thread.h"
#include "base/uuid.h"
#include "events/bus.h"
#include "net/egress.h"
#include "sync/mail.h"
#include "sync/upload.h"

#define JOBS_KEPT 64          /* finished jobs remembered for status */
#define SCHEDULE_EVERY_US 1000000 /* how often due sources are looked for */
#define BACKOFF_BASE_S 60
#define BACKOFF_MAX_S 86400

/* ---- secrets ---- */

static bool is_secret(const struct pos_sync_adapter *ad, const char *key)
{
	for (const char *const *k = ad->secret_keys; k && *k; k++)
		if (strcmp(*k, key) == 0)
			return true;
	return false;
}

/* Seals a JSON object: nonce || secretbox(json). Arena result. */
static enum pos_err seal(struct pos_sync *s, struct pos_arena *a, const json_t *obj,
			 const uint8_t **out, size_t *len)
{
	char *txt = json_dumps(obj, JSON_COMPACT);
	if (!txt)
		return POS_ERR_NOMEM;
	size_t n = strlen(txt);
	size_t total = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + n;
	uint8_t *buf = pos_arena_alloc(a, total);
	if (!buf) {
		sodium_memzero(txt, n);
		free(txt);
		return POS_ERR_NOMEM;
	}
	randombytes_buf(buf, crypto_secretbox_NONCEBYTES);
	crypto_secretbox_easy(buf + crypto_secretbox_NONCEBYTES, (const unsigned char *)txt,
			      n, buf, s->key);
	sodium_memzero(txt, n);
	free(txt);
	*out = buf;
	*len = total;
	return POS_OK;
}

/* Opens sealed secrets into a new JSON object. */
static json_t *unseal(struct pos_sync *s, const uint8_t *blob, size_t len)
{
	if (len < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
		return NULL;
	size_t n = len - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
	char *plain = pos_malloc(n + 1);
	if (!plain)
		return NULL;
	json_t *o = NULL;
	if (crypto_secretbox_open_easy((unsigned char *)plain, blob + crypto_secretbox_NONCEBYTES,
				       len - crypto_secretbox_NONCEBYTES, blob, s->key) == 0) {
		plain[n] = '\0';
		o = json_loadb(plain, n, 0, NULL);
	}
	sodium_memzero(plain, n + 1);
	pos_free(plain);
	return o;
}

/* The config an adapter runs with: stored config plus opened secrets. */
json_t *pos_sync_full_config(struct pos_sync *s, const struct pos_sync_source *src,
			     struct pos_error *err)
{
	json_t *cfg = json_loads(src->config_json, 0, NULL);
	if (!json_is_object(cfg)) {
		json_decref(cfg);
		pos_error_set(err, POS_ERR_CORRUPT, NULL, "stored config is not a JSON object");
		return NULL;
	}
	if (src->secrets) {
		json_t *sec = unseal(s, src->secrets, src->secrets_len);
		if (!json_is_object(sec)) {
			json_decref(sec);
			json_decref(cfg);
			pos_error_set(err, POS_ERR_DECRYPT, NULL,
				      "stored credentials cannot be decrypted (server key changed?)");
			return NULL;
		}
		json_object_update(cfg, sec);
		json_decref(sec);
	}
	return cfg;
}

/* ---- service ---- */

static struct pos_sync_job *sync_enqueue_run(struct pos_sync *s, const char *user_id,
					     const char *source_id, bool manual, enum pos_err *rc);
static enum pos_err run_job(struct pos_job_run *r, void *ctx, const char *user_id,
			    const char *payload_json);
static void schedule_tick(void *ctx);

enum pos_err pos_sync_new_opts(struct pos_store *store, const struct pos_memsvc *mem,
			       const struct pos_sync_opts *o, struct pos_sync **out,
			       struct pos_error *err)
{
	*out = NULL;
	if (sodium_init() < 0)
		return pos_error_set(err, POS_ERR_INTERNAL, NULL, "libsodium failed to initialise");
	pos_mail_init(); /* GMime, once before any thread parses */
	struct pos_sync *s = pos_calloc(1, sizeof(*s));
	if (!s)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	s->store = store;
	s->mem = *mem;
	/* One attempt: a failed run is retried by the source's own schedule
	 * (next_sync_at, with backoff), not by the jobs service. */
	s->run_kind = (struct pos_job_kind){
		.name = POS_SYNC_RUN_JOB,
		.max_attempts = 1,
		.timeout_us = (int64_t)(o->run_timeout_s ? o->run_timeout_s
						       : POS_SYNC_RUN_TIMEOUT_DEFAULT) * 1000000,
		.serial_per_user = true,
		.user_cancellable = true,
		.run = run_job,
	};
	pthread_mutex_init(&s->mu, NULL);
	enum pos_err rc = store->ops->server_key(store, "sync_secrets", s->key, sizeof(s->key));
	if (rc) {
		pos_sync_free(s);
		return pos_error_set(err, rc, NULL, "cannot load the sync secrets key");
	}
	if (o->scheduler) {
		if (!o->jobs ||
		    (rc = pos_jobs_register(o->jobs, &s->run_kind, s)) ||
		    (rc = pos_jobs_every(o->jobs, SCHEDULE_EVERY_US, schedule_tick, s))) {
			pos_sync_free(s);
			return pos_error_set(err, o->jobs ? rc : POS_ERR_INTERNAL, NULL,
					     "cannot set up the sync schedule on the jobs service");
		}
		s->jobsvc = o->jobs;
		s->has_scheduler = true;
	}
	*out = s;
	return POS_OK;
}

enum pos_err pos_sync_new(struct pos_store *store, const struct pos_memsvc *mem,
			  bool scheduler, struct pos_sync **out, struct pos_error *err)
{
	struct pos_sync_opts o = {scheduler, 0, 0, NULL};
	return pos_sync_new_opts(store, mem, &o, out, err);
}

enum pos_err pos_sync_set_egress(struct pos_sync *s, const char *allow,
				 struct pos_error *err)
{
	struct pos_egress *e;
	enum pos_err rc = pos_egress_new(allow, &e, err);
	if (rc)
		return rc;
	pos_egress_free(s->egress);
	s->egress = e;
	return POS_OK;
}

void pos_sync_set_file_root(struct pos_sync *s, const char *root)
{
	snprintf(s->file_root, sizeof(s->file_root), "%s", root ? root : "");
}

void pos_sync_set_data_dir(struct pos_sync *s, const char *data_dir)
{
	s->upload_dir[0] = '\0';
	if (data_dir && *data_dir)
		snprintf(s->upload_dir, sizeof(s->upload_dir), "%s/uploads", data_dir);
}

void pos_sync_set_operator(struct pos_sync *s, bool operator_mode)
{
	s->operator_mode = operator_mode;
}

void pos_sync_set_attach(struct pos_sync *s, pos_sync_attach_fn fn, void *ctx)
{
	s->attach = fn;
	s->attach_ctx = ctx;
}

bool pos_sync_config_is_upload(const json_t *config)
{
	return json_is_true(json_object_get(config, "upload"));
}

/*
 * A file source's config.path: for API users relative to their folder
 * (sync_file_root/<user id>/, or their upload folder), never absolute and
 * without "..". The operator (CLI) may name any path.
 */
static enum pos_err check_file_path(struct pos_sync *s, const struct pos_sync_adapter *ad,
				    const json_t *config, struct pos_error *err)
{
	if (!ad->files || s->operator_mode)
		return POS_OK;
	const char *path = json_string_value(json_object_get(config, "path"));
	const json_t *up = json_object_get(config, "upload");
	if (up && !json_is_boolean(up))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "config.upload",
				     "config.upload must be true or false");
	if (!json_is_true(up) && !s->file_root[0])
		return pos_error_set(err, POS_ERR_FORBIDDEN, "config.path",
				     "file sources by path are off on this server (sync_file_root "
				     "is not set): upload the file with POST /api/sync/uploads");
	if (!path || !pos_fsroot_rel_ok(path))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "config.path",
				     "config.path must be relative to your folder "
				     "(sync_file_root/<your user id>/), without \"..\"");
	return POS_OK;
}

/* The folder a user's file source reads beneath (see check_file_path). */
static enum pos_err file_root_of(struct pos_sync *s, const char *user_id, const json_t *config,
				 struct pos_fsroot *out, struct pos_error *err)
{
	out->fd = -1;
	if (pos_sync_config_is_upload(config)) {
		if (!s->upload_dir[0])
			return pos_error_set(err, POS_ERR_UNAVAILABLE, NULL,
					     "uploads are not available here");
		return pos_fsroot_open_user(s->upload_dir, user_id, true, out, err);
	}
	if (!s->file_root[0])
		return pos_error_set(err, POS_ERR_FORBIDDEN, "config.path",
				     "file sources by path are off on this server (sync_file_root "
				     "is not set)");
	return pos_fsroot_open_user(s->file_root, user_id, true, out, err);
}

void pos_sync_free(struct pos_sync *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	for (struct pos_sync_job *j = s->jobs; j; j = j->next)
		atomic_store(&j->cancel, true);
	pthread_mutex_unlock(&s->mu);
	struct pos_sync_job *j = s->jobs;
	while (j) {
		struct pos_sync_job *next = j->next;
		pos_free(j);
		j = next;
	}
	sodium_memzero(s->key, sizeof(s->key));
	pthread_mutex_destroy(&s->mu);
	pos_egress_free(s->egress);
	pos_free(s);
}

static bool has_control(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return true;
	return false;
}

enum pos_err pos_sync_source_create(struct pos_sync *s, struct pos_arena *a,
				    const char *user_id, const json_t *body,
				    bool schedule, struct pos_sync_source *out,
				    struct pos_error *err)
{
	if (!json_is_object(body))
		return pos_error_set(err, POS_ERR_INVALID_REQUEST, NULL,
				     "the body must be a JSON object");
	const json_t *v = json_object_get(body, "kind");
	if (!v)
		return pos_error_set(err, POS_ERR_MISSING_FIELD, "kind", "kind is required");
	const struct pos_sync_adapter *ad =
		json_is_string(v) ? pos_sync_adapter_find(json_string_value(v)) : NULL;
	if (!ad) {
		char kinds[256] = "";
		size_t k = 0;
		for (size_t i = 0; pos_sync_adapters[i]; i++)
			k += (size_t)snprintf(kinds + k, k < sizeof(kinds) ? sizeof(kinds) - k : 0,
					      "%s%s", i ? ", " : "", pos_sync_adapters[i]->kind);
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "kind",
				     "unknown kind; this server has: %s", kinds[0] ? kinds : "none");
	}
	const char *name = ad->kind;
	v = json_object_get(body, "name");
	if (v && !json_is_null(v)) {
		size_t n = json_string_length(v);
		if (!json_is_string(v) || n == 0 || n > POS_SYNC_NAME_MAX ||
		    has_control(json_string_value(v), n))
			return pos_error_set(err, POS_ERR_INVALID_FIELD, "name",
					     "name must be a string of 1 to %d bytes without control characters",
					     POS_SYNC_NAME_MAX);
		name = json_string_value(v);
	}
	int64_t interval = POS_SYNC_INTERVAL_DEFAULT;
	v = json_object_get(body, "interval_s");
	if (v && !json_is_null(v)) {
		if (!json_is_integer(v) ||
		    (json_integer_value(v) != 0 &&
		     (json_integer_value(v) < POS_SYNC_INTERVAL_MIN ||
		      json_integer_value(v) > POS_SYNC_INTERVAL_MAX)))
			return pos_error_set(err, POS_ERR_INVALID_FIELD, "interval_s",
					     "interval_s must be 0 (manual only) or an integer from %d to %d",
					     POS_SYNC_INTERVAL_MIN, POS_SYNC_INTERVAL_MAX);
		interval = json_integer_value(v);
	}
	const json_t *config = json_object_get(body, "config");
	if (!config)
		return pos_error_set(err, POS_ERR_MISSING_FIELD, "config", "config is required");
	if (!json_is_object(config))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "config", "config must be an object");
	if (pos_json_depth(config, 10) > 8)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "config", "config nests too deep");
	char *dumped = json_dumps(config, JSON_COMPACT);
	size_t dlen = dumped ? strlen(dumped) : 0;
	free(dumped);
	if (!dumped)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	if (dlen > POS_SYNC_CONFIG_MAX)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "config",
				     "config must be at most 16 KiB");
	enum pos_err rc = ad->validate ? ad->validate(config, err) : POS_OK;
	if (!rc)
		rc = check_file_path(s, ad, config, err);
	if (rc) {
		if (err && err->code == POS_OK)
			pos_error_set(err, rc, "config", NULL);
		return rc;
	}
	/* Count the user's sources. */
	struct pos_sync_source *list;
	size_t n;
	if ((rc = s->store->sync->sync_source_list(s->store, a, user_id, &list, &n)))
		return pos_error_set(err, rc, NULL, NULL);
	if (n >= POS_SYNC_SOURCES_MAX)
		return pos_error_set(err, POS_ERR_CONFLICT, NULL,
				     "at most %d sources per user", POS_SYNC_SOURCES_MAX);
	/* Split secrets from the plain config. */
	json_t *plain = json_object(), *secrets = json_object();
	if (!plain || !secrets) {
		json_decref(plain);
		json_decref(secrets);
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	}
	const char *key;
	json_t *val;
	json_object_foreach((json_t *)config, key, val) {
		if (is_secret(ad, key) && !json_is_null(val))
			json_object_set(secrets, key, val);
		else if (!is_secret(ad, key))
			json_object_set(plain, key, val);
	}
	memset(out, 0, sizeof(*out));
	int64_t now = pos_now_us();
	if (!pos_uuid_new_v7(out->id, now)) {
		json_decref(plain);
		json_decref(secrets);
		return pos_error_set(err, POS_ERR_INTERNAL, NULL, NULL);
	}
	snprintf(out->user_id, sizeof(out->user_id), "%s", user_id);
	out->kind = ad->kind;
	out->name = pos_arena_strdup(a, name);
	char *ptxt = json_dumps(plain, JSON_COMPACT | JSON_SORT_KEYS);
	out->config_json = ptxt ? pos_arena_strdup(a, ptxt) : NULL;
	free(ptxt);
	rc = POS_OK;
	if (json_object_size(secrets))
		rc = seal(s, a, secrets, &out->secrets, &out->secrets_len);
	json_decref(plain);
	json_decref(secrets);
	if (rc || !out->name || !out->config_json)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	out->interval_s = interval;
	out->status = "idle";
	out->last_sync_at = POS_TIME_NONE;
	out->next_sync_at = schedule ? now : POS_TIME_NONE;
	out->created_at = now;
	if ((rc = s->store->sync->sync_source_put(s->store, out, true)))
		return pos_error_set(err, rc, NULL, NULL);
	if (schedule && s->has_scheduler) {
		pthread_mutex_lock(&s->mu);
		/* the first run, now (if the queue is full: the schedule's tick) */
		(void)sync_enqueue_run(s, user_id, out->id, false, &rc);
		pthread_mutex_unlock(&s->mu);
	}
	return POS_OK;
}

enum pos_err pos_sync_source_find_path(struct pos_sync *s, struct pos_arena *a,
				       const char *user_id, const char *kind,
				       const char *path, struct pos_sync_source *out)
{
	struct pos_sync_source *list;
	size_t n;
	enum pos_err rc = s->store->sync->sync_source_list(s->store, a, user_id, &list, &n);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(list[i].kind, kind) != 0)
			continue;
		json_t *cfg = json_loads(list[i].config_json, 0, NULL);
		const char *p = json_string_value(json_object_get(cfg, "path"));
		bool same = p && strcmp(p, path) == 0;
		json_decref(cfg);
		if (same) {
			*out = list[i];
			return POS_OK;
		}
	}
	return POS_ERR_NOT_FOUND;
}

/* ---- uploads ---- */

enum pos_err pos_sync_upload(struct pos_sync *s, struct pos_arena *a, const char *user_id,
			     const char *kind, const char *name, const void *data, size_t len,
			     struct pos_sync_source *out, struct pos_error *err)
{
	static const struct {
		const char *what, *kind, *ext, *dflt;
	} kinds[] = {
		{"mbox", "mbox", ".mbox", "uploaded mbox"},
		{"ics", "ics_file", ".ics", "uploaded calendar"},
		{"markdown_zip", "markdown_dir", "", "uploaded notes"},
	};
	size_t k = 0;
	while (k < sizeof(kinds) / sizeof(kinds[0]) && (!kind || strcmp(kind, kinds[k].what)))
		k++;
	if (k == sizeof(kinds) / sizeof(kinds[0]))
		return pos_error_set(err, kind ? POS_ERR_INVALID_FIELD : POS_ERR_MISSING_FIELD, "kind",
				     "kind must be mbox, ics or markdown_zip");
	if (!s->upload_dir[0])
		return pos_error_set(err, POS_ERR_UNAVAILABLE, NULL, "uploads are not available here");
	if (len == 0)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "body", "the upload is empty");
	if (name && (!*name || strlen(name) > POS_SYNC_NAME_MAX || has_control(name, strlen(name))))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "name",
				     "name must be 1 to %d bytes without control characters",
				     POS_SYNC_NAME_MAX);
	struct pos_sync_source *list;
	size_t n;
	enum pos_err rc = s->store->sync->sync_source_list(s->store, a, user_id, &list, &n);
	if (rc)
		return pos_error_set(err, rc, NULL, NULL);
	if (n >= POS_SYNC_SOURCES_MAX)
		return pos_error_set(err, POS_ERR_CONFLICT, NULL,
				     "at most %d sources per user", POS_SYNC_SOURCES_MAX);
	char id[POS_UUID_SIZE], file[POS_UUID_SIZE + 8];
	if (!pos_uuid_new_v7(id, pos_now_us()))
		return pos_error_set(err, POS_ERR_INTERNAL, NULL, NULL);
	snprintf(file, sizeof(file), "%s%s", id, kinds[k].ext);
	struct pos_fsroot root;
	if ((rc = pos_fsroot_open_user(s->upload_dir, user_id, true, &root, err)))
		return rc;
	size_t notes = 0;
	if (!strcmp(kinds[k].what, "markdown_zip"))
		rc = pos_upload_unzip(&root, file, data, len, &notes, err);
	else
		rc = pos_upload_write(&root, file, data, len, err);
	pos_fsroot_close(&root);
	if (rc)
		return rc;
	json_t *body = json_pack("{s:s,s:s,s:{s:s,s:b},s:i}", "kind", kinds[k].kind, "name",
				 name ? name : kinds[k].dflt, "config", "path", file, "upload", 1,
				 "interval_s", 0);
	if (!body)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	rc = pos_sync_source_create(s, a, user_id, body, true, out, err);
	json_decref(body);
	return rc;
}

/* ---- jobs ---- */

/* Whether the job of a record not started yet is still queued (or
 * starting) at the jobs service: DELETE /api/jobs/{id} may have cancelled
 * it, and then it never runs. */
static bool still_queued(struct pos_sync *s, const struct pos_sync_job *j)
{
	struct pos_arena *a = s->jobsvc ? pos_arena_new() : NULL;
	if (!a)
		return true;
	struct pos_job_info info;
	bool alive = pos_jobs_get(s->jobsvc, a, j->user_id, j->id, &info) == POS_OK &&
		     (info.state == POS_JOB_QUEUED || info.state == POS_JOB_RUNNING);
	pos_arena_destroy(a);
	return alive;
}

/* An active (queued or running) job of the source, under s->mu. A record
 * whose job was cancelled before it started is closed here. */
static struct pos_sync_job *active_job(struct pos_sync *s, const char *source_id)
{
	for (struct pos_sync_job *j = s->jobs; j; j = j->next) {
		if (j->state == SYNC_JOB_DONE || strcmp(j->source_id, source_id) != 0)
			continue;
		if (j->state == SYNC_JOB_QUEUED && !j->dispatched && !still_queued(s, j)) {
			j->state = SYNC_JOB_DONE;
			j->finished_at = pos_now_us();
			snprintf(j->status, sizeof(j->status), "cancelled");
			continue;
		}
		return j;
	}
	return NULL;
}

/* Drops finished jobs beyond JOBS_KEPT (newest are first), under s->mu. */
static void trim_jobs(struct pos_sync *s)
{
	size_t done = 0;
	struct pos_sync_job **pp = &s->jobs;
	while (*pp) {
		struct pos_sync_job *j = *pp;
		if (j->state == SYNC_JOB_DONE && ++done > JOBS_KEPT) {
			*pp = j->next;
			pos_free(j);
		} else {
			pp = &j->next;
		}
	}
}

/* Being deleted (now, or by its worker when its run stops); under s->mu.
 * Such a source is gone as far as the API is concerned. */
static bool deleting(struct pos_sync *s, const char *source_id)
{
	for (size_t i = 0; i < s->n_deleting; i++)
		if (strcmp(s->deleting[i], source_id) == 0)
			return true;
	struct pos_sync_job *j = active_job(s, source_id);
	return j && j->delete_after;
}

static bool hidden(struct pos_sync *s, const char *source_id)
{
	pthread_mutex_lock(&s->mu);
	bool h = deleting(s, source_id);
	pthread_mutex_unlock(&s->mu);
	return h;
}

/*
 * Queues a `sync.run` job for the source unless one is active (queued or
 * running), and returns the active or new record; under s->mu. NULL with
 * *rc set when the jobs service refuses (POS_ERR_BUSY: the user's queue is
 * full).
 */
static struct pos_sync_job *sync_enqueue_run(struct pos_sync *s, const char *user_id,
					     const char *source_id, bool manual, enum pos_err *rc)
{
	/* One run of a source at a time, also across instances sharing the
	 * store: the job's dedupe key is the source id (POS_ERR_CONFLICT
	 * while another instance has one queued or running). */
	*rc = POS_OK;
	struct pos_sync_job *j = active_job(s, source_id);
	if (j)
		return j;
	if (!(j = pos_calloc(1, sizeof(*j)))) {
		*rc = POS_ERR_NOMEM;
		return NULL;
	}
	char payload[64 + POS_UUID_SIZE];
	snprintf(payload, sizeof(payload), "{\"source_id\":\"%s\"}", source_id);
	/* The run waits for s->mu, held here, so it finds the record linked. */
	char key[16 + POS_UUID_SIZE];
	snprintf(key, sizeof(key), "sync:%s", source_id);
	if ((*rc = pos_jobs_enqueue_unique(s->jobsvc, POS_SYNC_RUN_JOB, user_id, key, payload, 0,
					   j->id))) {
		pos_free(j);
		return NULL;
	}
	snprintf(j->user_id, sizeof(j->user_id), "%s", user_id);
	snprintf(j->source_id, sizeof(j->source_id), "%s", source_id);
	j->owner = s;
	j->state = SYNC_JOB_QUEUED;
	j->manual = manual;
	j->queued_at = pos_now_us();
	atomic_init(&j->cancel, false);
	atomic_init(&j->done, 0);
	atomic_init(&j->total, 0);
	atomic_init(&j->added, 0);
	atomic_init(&j->updated, 0);
	atomic_init(&j->unchanged, 0);
	atomic_init(&j->removed, 0);
	atomic_init(&j->skipped, 0);
	snprintf(j->status, sizeof(j->status), "queued");
	j->next = s->jobs;
	s->jobs = j;
	trim_jobs(s);
	return j;
}

enum pos_err pos_sync_start(struct pos_sync *s, const char *user_id,
			    const char *source_id, char job_id[POS_UUID_SIZE],
			    struct pos_error *err)
{
	if (!s->has_scheduler)
		return pos_error_set(err, POS_ERR_UNAVAILABLE, NULL, "no sync scheduler runs here");
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	struct pos_sync_source *list = NULL, one;
	size_t n = 0;
	enum pos_err rc;
	if (source_id) {
		char norm[POS_UUID_SIZE];
		rc = pos_uuid_valid(source_id, strlen(source_id), norm)
			? s->store->sync->sync_source_get(s->store, a, user_id, norm, &one)
			: POS_ERR_NOT_FOUND;
		list = &one;
		n = 1;
	} else {
		rc = s->store->sync->sync_source_list(s->store, a, user_id, &list, &n);
	}
	if (!rc && source_id && hidden(s, one.id))
		rc = POS_ERR_NOT_FOUND;
	if (rc) {
		pos_arena_destroy(a);
		return pos_error_set(err, rc, NULL, rc == POS_ERR_NOT_FOUND ? "source not found" : NULL);
	}
	if (n == 0) {
		pos_arena_destroy(a);
		return pos_error_set(err, POS_ERR_NOT_FOUND, NULL, "no sources to sync");
	}
	job_id[0] = '\0';
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < n && !rc; i++) {
		if (deleting(s, list[i].id))
			continue;
		struct pos_sync_job *j = sync_enqueue_run(s, user_id, list[i].id, true, &rc);
		if (j && !job_id[0])
			memcpy(job_id, j->id, POS_UUID_SIZE);
	}
	pthread_mutex_unlock(&s->mu);
	pos_arena_destroy(a);
	if (!rc && !job_id[0])
		rc = POS_ERR_NOT_FOUND;
	return rc ? pos_error_set(err, rc, NULL, NULL) : POS_OK;
}

/* Removes the source (and, unless keep, its memories); no run is active. */
static enum pos_err delete_now(struct pos_sync *s, const char *user_id, const char *id,
			       bool keep_memories)
{
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return POS_ERR_NOMEM;
	enum pos_err rc = POS_OK;
	if (!keep_memories) {
		struct pos_sync_ref *refs;
		size_t n;
		rc = s->store->sync->sync_refs_list(s->store, a, user_id, id, &refs, &n);
		for (size_t i = 0; !rc && i < n; i++) {
			struct pos_error e;
			enum pos_err drc = pos_memory_delete(&s->mem, user_id, refs[i].id, &e);
			if (drc && drc != POS_ERR_NOT_FOUND)
				rc = drc;
		}
	}
	if (!rc)
		rc = s->store->sync->sync_source_delete(s->store, user_id, id);
	pos_arena_destroy(a);
	return rc;
}

enum pos_err pos_sync_source_remove(struct pos_sync *s, const char *user_id,
				    const char *id, bool keep_memories,
				    struct pos_error *err)
{
	char norm[POS_UUID_SIZE];
	if (!pos_uuid_valid(id, strlen(id), norm))
		return pos_error_set(err, POS_ERR_NOT_FOUND, NULL, "source not found");
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	struct pos_sync_source src;
	enum pos_err rc = s->store->sync->sync_source_get(s->store, a, user_id, norm, &src);
	pos_arena_destroy(a);
	if (rc)
		return pos_error_set(err, rc, NULL, rc == POS_ERR_NOT_FOUND ? "source not found" : NULL);
	pthread_mutex_lock(&s->mu);
	if (deleting(s, norm)) {
		pthread_mutex_unlock(&s->mu);
		return pos_error_set(err, POS_ERR_NOT_FOUND, NULL, "source not found");
	}
	struct pos_sync_job *j = active_job(s, norm);
	char queued_job[POS_UUID_SIZE] = "";
	if (j && !j->dispatched) {
		/* only queued: its job ends at once when it starts */
		atomic_store(&j->cancel, true);
		j->state = SYNC_JOB_DONE;
		snprintf(j->status, sizeof(j->status), "cancelled");
		memcpy(queued_job, j->id, POS_UUID_SIZE);
		j = NULL;
	}
	if (j) {
		/* handed to a worker: cancel it and let the worker delete when
		 * the run stops (no write of the run can follow the delete) */
		atomic_store(&j->cancel, true);
		j->delete_after = true;
		j->keep_memories = keep_memories;
		pthread_mutex_unlock(&s->mu);
		return POS_OK;
	}
	if (s->n_deleting == sizeof(s->deleting) / sizeof(s->deleting[0])) {
		pthread_mutex_unlock(&s->mu);
		return pos_error_set(err, POS_ERR_RATE_LIMITED, NULL,
				     "too many sources are being deleted; try again");
	}
	memcpy(s->deleting[s->n_deleting++], norm, POS_UUID_SIZE);
	pthread_mutex_unlock(&s->mu);
	if (queued_job[0])
		(void)pos_jobs_cancel(s->jobsvc, user_id, queued_job); /* shown cancelled */
	rc = delete_now(s, user_id, norm, keep_memories);
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < s->n_deleting; i++)
		if (strcmp(s->deleting[i], norm) == 0) {
			memmove(s->deleting[i], s->deleting[s->n_deleting - 1], POS_UUID_SIZE);
			s->n_deleting--;
			break;
		}
	pthread_mutex_unlock(&s->mu);
	return rc ? pos_error_set(err, rc, NULL, rc == POS_ERR_NOT_FOUND ? "source not found" : NULL)
		  : POS_OK;
}

/* ---- running a source ---- */

static int64_t backoff_s(int64_t interval, int64_t failures)
{
	int64_t b = BACKOFF_BASE_S;
	for (int64_t i = 1; i < failures && b < BACKOFF_MAX_S; i++)
		b *= 2;
	if (interval > 0 && b > interval && failures <= 1)
		b = interval;
	return b > BACKOFF_MAX_S ? BACKOFF_MAX_S : b;
}

/* sync.status for the source's owner (docs/EVENTS.md): ids, status and
 * counts, never an item's content or a message. */
static void publish_status(struct pos_sync *s, const struct pos_sync_source *src,
			   const struct pos_sync_report *rep)
{
	if (!s->mem.events)
		return;
	char buf[256];
	int k = snprintf(buf, sizeof(buf),
			 "{\"id\":\"%s\",\"kind\":\"%s\",\"status\":\"%s\",\"added\":%lld,"
			 "\"updated\":%lld}",
			 src->id, src->kind, src->status, rep ? (long long)rep->added : 0LL,
			 rep ? (long long)rep->updated : 0LL);
	if (k > 0 && (size_t)k < sizeof(buf))
		(void)pos_events_publish(s->mem.events, src->user_id, "sync.status", buf);
}

/*
 * One run of `src_id` for `job` (may be NULL) with optional progress
 * callback: status "running", the adapter, the sink's finish, then status,
 * cursor, backoff and a log row.
 */
enum pos_err pos_sync_run_source(struct pos_sync *s, const char *user_id,
				 const char *src_id, struct pos_sync_job *job,
				 void (*progress)(void *, uint64_t, uint64_t), void *pctx,
				 struct pos_sync_report *rep, struct pos_error *err)
{
	memset(rep, 0, sizeof(*rep));
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	struct pos_sync_source src;
	enum pos_err rc = s->store->sync->sync_source_get(s->store, a, user_id, src_id, &src);
	if (rc) {
		pos_arena_destroy(a);
		return pos_error_set(err, rc, NULL, rc == POS_ERR_NOT_FOUND ? "source not found" : NULL);
	}
	const struct pos_sync_adapter *ad = pos_sync_adapter_find(src.kind);
	int64_t started = pos_now_us();
	int64_t started_mono = pos_mono_us(); /* the duration survives a clock jump */
	struct pos_error rerr;
	pos_error_clear(&rerr);
	json_t *config = NULL, *cursor = NULL, *cursor_out = NULL;
	if (!ad)
		rc = pos_error_set(&rerr, POS_ERR_UNAVAILABLE, "kind",
				   "kind %s is not available in this build", src.kind);
	else
		config = pos_sync_full_config(s, &src, &rerr);
	if (!rc && !config)
		rc = rerr.code ? rerr.code : POS_ERR_CORRUPT;
	if (!rc && src.cursor_json)
		cursor = json_loads(src.cursor_json, 0, NULL);
	/* File kinds read beneath the user's folder, opened afresh each run. */
	struct pos_fsroot root = {-1};
	bool confined = !rc && ad->files && !s->operator_mode;
	if (confined)
		rc = file_root_of(s, user_id, config, &root, &rerr);
	if (!rc) {
		src.status = "running";
		src.error_message = NULL;
		s->store->sync->sync_source_put(s->store, &src, false);
		publish_status(s, &src, NULL);
		struct pos_sync_run_opts o = {job, progress, pctx, confined ? &root : NULL};
		rc = pos_sync_sink_run(s, ad, &src, config, cursor, &cursor_out, &o, rep, &rerr);
	} else {
		snprintf(rep->status, sizeof(rep->status), "error");
		snprintf(rep->error, sizeof(rep->error), "%s", rerr.message);
	}
	pos_fsroot_close(&root);
	json_decref(config);
	json_decref(cursor);
	int64_t now = pos_now_us();
	rep->duration_us = pos_mono_us() - started_mono;
	/* Status, cursor, schedule. */
	bool cancelled = strcmp(rep->status, "cancelled") == 0;
	if (!rc) {
		char *c = cursor_out ? json_dumps(cursor_out, JSON_COMPACT) : NULL;
		if (c)
			src.cursor_json = pos_arena_strdup(a, c);
		free(c);
		src.status = "ok";
		src.error_message = NULL;
		src.failures = 0;
		src.last_sync_at = now;
		src.items_synced += rep->added + rep->updated;
		src.next_sync_at = src.interval_s > 0 ? now + src.interval_s * 1000000 : POS_TIME_NONE;
	} else if (cancelled) {
		src.status = "idle";
		src.items_synced += rep->added + rep->updated;
		src.next_sync_at = src.interval_s > 0 ? now + src.interval_s * 1000000 : POS_TIME_NONE;
	} else {
		src.status = "error";
		src.error_message = rep->error;
		src.failures++;
		src.items_synced += rep->added + rep->updated;
		src.next_sync_at = now + backoff_s(src.interval_s, src.failures) * 1000000;
	}
	json_decref(cursor_out);
	/* The run's log row first, then the source's final status: a reader
	 * that sees "ok" or "error" also finds the run as last_run. */
	struct pos_sync_log log;
	memset(&log, 0, sizeof(log));
	pos_uuid_new_v7(log.id, now);
	memcpy(log.source_id, src.id, POS_UUID_SIZE);
	memcpy(log.user_id, src.user_id, POS_UUID_SIZE);
	log.started_at = started;
	log.duration_us = rep->duration_us;
	log.status = rep->status;
	log.added = rep->added;
	log.updated = rep->updated;
	log.unchanged = rep->unchanged;
	log.removed = rep->removed;
	log.skipped = rep->skipped;
	log.errors_json = rep->errors_json ? rep->errors_json : "[]";
	log.error_message = rc && !cancelled ? rep->error : NULL;
	s->store->sync->sync_log_add(s->store, &log);
	s->store->sync->sync_source_put(s->store, &src, false);
	publish_status(s, &src, rep);
	free(rep->errors_json);
	rep->errors_json = NULL;
	pos_arena_destroy(a);
	if (rc) {
		if (err)
			*err = rerr;
		if (err && err->code == POS_OK)
			pos_error_set(err, rc, NULL, "%s", rep->error);
	}
	return rc;
}

enum pos_err pos_sync_run_now(struct pos_sync *s, const char *user_id,
			      const char *source_id,
			      void (*progress)(void *ctx, uint64_t done, uint64_t total),
			      void *ctx, struct pos_sync_report *rep,
			      struct pos_error *err)
{
	return pos_sync_run_source(s, user_id, source_id, NULL, progress, ctx, rep, err);
}

/* ---- the schedule and the runs ---- */

/* The jobs service's tick: queues every due source. */
static void schedule_tick(void *ctx)
{
	struct pos_sync *s = ctx;
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return;
	struct pos_sync_source *list;
	size_t n;
	if (s->store->sync->sync_source_list(s->store, a, NULL, &list, &n) == POS_OK) {
		int64_t now = pos_now_us();
		pthread_mutex_lock(&s->mu);
		for (size_t i = 0; i < n && !s->stop; i++) {
			bool due = list[i].next_sync_at != POS_TIME_NONE && list[i].next_sync_at <= now;
			/* A last run "in the future" means the wall clock went
			 * back since: its next time, reckoned from that run, is
			 * too far away now. Run it, which reckons the schedule
			 * from the new clock (issue 19, clock jumps). */
			if (list[i].next_sync_at != POS_TIME_NONE &&
			    list[i].last_sync_at != POS_TIME_NONE && list[i].last_sync_at > now)
				due = true;
			/* a run cut short by a crash or restart */
			if (!s->startup_done && (!strcmp(list[i].status, "running") ||
						 !strcmp(list[i].status, "queued")))
				due = true;
			enum pos_err rc;
			if (due && !deleting(s, list[i].id))
				(void)sync_enqueue_run(s, list[i].user_id, list[i].id, false, &rc);
		}
		s->startup_done = true;
		pthread_mutex_unlock(&s->mu);
	}
	pos_arena_destroy(a);
}

/* The record of job `id`, under s->mu. */
static struct pos_sync_job *find_job(struct pos_sync *s, const char *id)
{
	for (struct pos_sync_job *j = s->jobs; j; j = j->next)
		if (strcmp(j->id, id) == 0)
			return j;
	return NULL;
}

/* A record for a job queued before a restart (the records live in memory),
 * under s->mu; NULL when the source has another active run or is going. */
static struct pos_sync_job *adopt(struct pos_sync *s, const char *id, const char *user_id,
				  const char *source_id)
{
	if (active_job(s, source_id) || deleting(s, source_id))
		return NULL;
	struct pos_sync_job *j = pos_calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	snprintf(j->id, sizeof(j->id), "%s", id);
	snprintf(j->user_id, sizeof(j->user_id), "%s", user_id);
	snprintf(j->source_id, sizeof(j->source_id), "%s", source_id);
	j->owner = s;
	j->state = SYNC_JOB_QUEUED;
	j->queued_at = pos_now_us();
	atomic_init(&j->cancel, false);
	snprintf(j->status, sizeof(j->status), "queued");
	j->next = s->jobs;
	s->jobs = j;
	trim_jobs(s);
	return j;
}

static void job_progress(void *ctx, uint64_t done, uint64_t total)
{
	pos_job_progress(ctx, done, total);
}

/* The source id of a `sync.run` payload {"source_id": "<uuid>"}. */
static bool payload_source(const char *payload_json, char out[POS_UUID_SIZE])
{
	json_t *p = json_loads(payload_json ? payload_json : "{}", 0, NULL);
	const char *id = json_string_value(json_object_get(p, "source_id"));
	bool ok = id && pos_uuid_valid(id, strlen(id), out);
	json_decref(p);
	return ok;
}

/*
 * `sync.run`: one run of a source on a worker of the jobs service, with
 * progress (items), the kind's deadline (sync_run_timeout) and
 * cancellation (DELETE /api/jobs/{id}, or the source's removal). A job
 * whose record says it must not run (cancelled before it started, or a
 * duplicate of an active run) ends at once.
 */
static enum pos_err run_job(struct pos_job_run *r, void *ctx, const char *user_id,
			    const char *payload_json)
{
	struct pos_sync *s = ctx;
	char source_id[POS_UUID_SIZE];
	if (!payload_source(payload_json, source_id))
		return POS_ERR_INVALID_FIELD;
	pthread_mutex_lock(&s->mu);
	struct pos_sync_job *j = find_job(s, pos_job_id(r));
	if (!j)
		j = adopt(s, pos_job_id(r), user_id, source_id);
	bool run = j && j->state == SYNC_JOB_QUEUED && !j->dispatched &&
		   !atomic_load(&j->cancel) && !s->stop;
	if (run) {
		j->dispatched = true;
		j->state = SYNC_JOB_RUNNING;
		j->started_at = pos_now_us();
		snprintf(j->status, sizeof(j->status), "running");
		j->jr = r;
	}
	pthread_mutex_unlock(&s->mu);
	if (!run)
		return POS_OK;
	struct pos_sync_report rep;
	struct pos_error err;
	pos_error_clear(&err);
	enum pos_err rc = pos_sync_run_source(s, j->user_id, j->source_id, j, job_progress, r,
					      &rep, &err);
	pthread_mutex_lock(&s->mu);
	bool del = j->delete_after;
	pthread_mutex_unlock(&s->mu);
	if (del) {
		enum pos_err drc = delete_now(s, j->user_id, j->source_id, j->keep_memories);
		if (drc)
			pos_warn("sync: removing a deleted source failed: %s", pos_strerror(drc));
	}
	pthread_mutex_lock(&s->mu);
	j->jr = NULL;
	j->finished_at = pos_now_us();
	snprintf(j->status, sizeof(j->status), "%s", rep.status[0] ? rep.status : "error");
	snprintf(j->error, sizeof(j->error), "%s", rep.error);
	j->state = SYNC_JOB_DONE;
	pthread_mutex_unlock(&s->mu);
	if (!rc || strcmp(rep.status, "cancelled") == 0)
		return POS_OK;
	/* the run's error as its sync log has it (no secrets, no content) */
	if (rep.error[0])
		pos_job_set_error(r, rep.error);
	return rc;
}

/* ---- JSON ---- */

/* The names of the secrets the source has (their values never leave). */
static void secret_names(struct pos_sync *s, struct pos_jw *w,
			 const struct pos_sync_source *src)
{
	pos_jw_key(w, "secrets");
	pos_jw_arr(w);
	json_t *sec = src->secrets ? unseal(s, src->secrets, src->secrets_len) : NULL;
	const char *k;
	json_t *v;
	json_object_foreach(sec, k, v) {
		(void)v;
		pos_jw_str(w, k);
	}
	json_decref(sec); /* values are wiped by nobody: jansson owns them */
	pos_jw_arr_end(w);
}

void pos_sync_source_json(struct pos_sync *s, struct pos_jw *w,
			  const struct pos_sync_source *src)
{
	pos_jw_obj(w);
	pos_jw_kstr(w, "id", src->id);
	pos_jw_kstr(w, "kind", src->kind);
	pos_jw_kstr(w, "name", src->name);
	pos_jw_key(w, "config");
	pos_jw_raw(w, src->config_json, strlen(src->config_json));
	secret_names(s, w, src);
	pos_jw_kint(w, "interval_s", src->interval_s);
	pos_jw_kstr(w, "status", src->status);
	pos_jw_key(w, "cursor");
	if (src->cursor_json)
		pos_jw_raw(w, src->cursor_json, strlen(src->cursor_json));
	else
		pos_jw_null(w);
	pos_jw_ktime(w, "last_sync_at", src->last_sync_at);
	pos_jw_ktime(w, "next_sync_at", src->next_sync_at);
	pos_jw_kint(w, "items_synced", src->items_synced);
	pos_jw_kstr(w, "error_message", src->error_message);
	pos_jw_kint(w, "failures", src->failures);
	pos_jw_ktime(w, "created_at", src->created_at);
	pos_jw_obj_end(w);
}

enum pos_err pos_sync_sources_json(struct pos_sync *s, struct pos_arena *a,
				   const char *user_id, struct pos_jw *w)
{
	struct pos_sync_source *list;
	size_t n;
	enum pos_err rc = s->store->sync->sync_source_list(s->store, a, user_id, &list, &n);
	if (rc)
		return rc;
	pos_jw_obj(w);
	pos_jw_key(w, "sources");
	pos_jw_arr(w);
	for (size_t i = 0; i < n; i++)
		if (!hidden(s, list[i].id))
			pos_sync_source_json(s, w, &list[i]);
	pos_jw_arr_end(w);
	pos_jw_obj_end(w);
	return POS_OK;
}

static void log_json(struct pos_jw *w, const struct pos_sync_log *l)
{
	pos_jw_obj(w);
	pos_jw_kstr(w, "id", l->id);
	pos_jw_ktime(w, "started_at", l->started_at);
	pos_jw_kint(w, "duration_ms", l->duration_us / 1000);
	pos_jw_kstr(w, "status", l->status);
	pos_jw_kint(w, "added", l->added);
	pos_jw_kint(w, "updated", l->updated);
	pos_jw_kint(w, "unchanged", l->unchanged);
	pos_jw_kint(w, "removed", l->removed);
	pos_jw_kint(w, "skipped", l->skipped);
	pos_jw_key(w, "errors");
	pos_jw_raw(w, l->errors_json, strlen(l->errors_json));
	pos_jw_kstr(w, "error_message", l->error_message);
	pos_jw_obj_end(w);
}

enum pos_err pos_sync_source_detail_json(struct pos_sync *s, struct pos_arena *a,
					 const char *user_id, const char *id,
					 struct pos_jw *w)
{
	char norm[POS_UUID_SIZE];
	if (!pos_uuid_valid(id, strlen(id), norm))
		return POS_ERR_NOT_FOUND;
	struct pos_sync_source src;
	enum pos_err rc = s->store->sync->sync_source_get(s->store, a, user_id, norm, &src);
	if (rc)
		return rc;
	if (hidden(s, norm))
		return POS_ERR_NOT_FOUND;
	struct pos_sync_log *logs;
	size_t n;
	if ((rc = s->store->sync->sync_log_list(s->store, a, user_id, norm, 10, &logs, &n)))
		return rc;
	struct pos_buf tmp;
	pos_buf_init(&tmp, 1024 * 1024);
	struct pos_jw sw;
	pos_jw_init(&sw, &tmp);
	pos_sync_source_json(s, &sw, &src);
	/* reopen the object: drop its closing brace and append the logs */
	if (!sw.rc && tmp.len && tmp.data[tmp.len - 1] == '}') {
		pos_jw_raw(w, tmp.data, tmp.len - 1);
		struct pos_buf rest;
		pos_buf_init(&rest, 4 * 1024 * 1024);
		struct pos_jw lw;
		pos_jw_init(&lw, &rest);
		pos_jw_arr(&lw);
		for (size_t i = 0; i < n; i++)
			log_json(&lw, &logs[i]);
		pos_jw_arr_end(&lw);
		pos_buf_adds(w->b, ",\"logs\":");
		pos_buf_add(w->b, rest.data, rest.len);
		pos_buf_addc(w->b, '}');
		pos_buf_free(&rest);
	} else {
		rc = POS_ERR_NOMEM;
	}
	pos_buf_free(&tmp);
	return rc;
}

static void job_json(struct pos_jw *w, const struct pos_sync_job *j)
{
	pos_jw_obj(w);
	pos_jw_kstr(w, "id", j->id);
	pos_jw_kstr(w, "source_id", j->source_id);
	pos_jw_kstr(w, "state", j->state == SYNC_JOB_QUEUED ? "queued"
			       : j->state == SYNC_JOB_RUNNING ? "running" : "done");
	pos_jw_kstr(w, "status", j->status);
	pos_jw_kbool(w, "manual", j->manual);
	pos_jw_ktime(w, "queued_at", j->queued_at);
	pos_jw_ktime(w, "started_at", j->started_at ? j->started_at : POS_TIME_NONE);
	pos_jw_ktime(w, "finished_at", j->finished_at ? j->finished_at : POS_TIME_NONE);
	pos_jw_key(w, "progress");
	pos_jw_obj(w);
	pos_jw_kint(w, "done", (int64_t)atomic_load(&j->done));
	pos_jw_kint(w, "total", (int64_t)atomic_load(&j->total));
	pos_jw_kint(w, "added", (int64_t)atomic_load(&j->added));
	pos_jw_kint(w, "updated", (int64_t)atomic_load(&j->updated));
	pos_jw_kint(w, "unchanged", (int64_t)atomic_load(&j->unchanged));
	pos_jw_kint(w, "removed", (int64_t)atomic_load(&j->removed));
	pos_jw_kint(w, "skipped", (int64_t)atomic_load(&j->skipped));
	pos_jw_obj_end(w);
	pos_jw_kstr(w, "error_message", j->error[0] ? j->error : NULL);
	pos_jw_obj_end(w);
}

enum pos_err pos_sync_status_json(struct pos_sync *s, struct pos_arena *a,
				  const char *user_id, struct pos_jw *w)
{
	struct pos_sync_source *list;
	size_t n;
	enum pos_err rc = s->store->sync->sync_source_list(s->store, a, user_id, &list, &n);
	if (rc)
		return rc;
	pos_jw_obj(w);
	pos_jw_kbool(w, "scheduler", s->has_scheduler);
	pos_jw_key(w, "sources");
	pos_jw_arr(w);
	for (size_t i = 0; i < n; i++) {
		const struct pos_sync_source *src = &list[i];
		if (hidden(s, src->id))
			continue;
		pthread_mutex_lock(&s->mu);
		bool active = active_job(s, src->id) != NULL;
		pthread_mutex_unlock(&s->mu);
		/* Without a job now, any run has ended and its row is final (it
		 * is written before the job goes): read it again, so a run that
		 * started and ended after the list was read shows its status
		 * with its last run. */
		struct pos_sync_source fresh;
		if (!active &&
		    s->store->sync->sync_source_get(s->store, a, user_id, src->id, &fresh) == POS_OK)
			src = &fresh;
		struct pos_sync_log *logs;
		size_t nl = 0;
		s->store->sync->sync_log_list(s->store, a, user_id, src->id, 1, &logs, &nl);
		pos_jw_obj(w);
		pos_jw_kstr(w, "id", src->id);
		pos_jw_kstr(w, "kind", src->kind);
		pos_jw_kstr(w, "name", src->name);
		pos_jw_kstr(w, "status", src->status);
		pos_jw_ktime(w, "last_sync_at", src->last_sync_at);
		pos_jw_ktime(w, "next_sync_at", src->next_sync_at);
		pos_jw_kint(w, "items_synced", src->items_synced);
		pos_jw_kstr(w, "error_message", src->error_message);
		pos_jw_kint(w, "failures", src->failures);
		pthread_mutex_lock(&s->mu);
		struct pos_sync_job *j = active_job(s, src->id);
		pos_jw_kbool(w, "running", j && j->state == SYNC_JOB_RUNNING);
		pos_jw_key(w, "job");
		if (j)
			job_json(w, j);
		else
			pos_jw_null(w);
		pthread_mutex_unlock(&s->mu);
		pos_jw_key(w, "last_run");
		if (nl)
			log_json(w, &logs[0]);
		else
			pos_jw_null(w);
		pos_jw_obj_end(w);
	}
	pos_jw_arr_end(w);
	pos_jw_key(w, "jobs");
	pos_jw_arr(w);
	pthread_mutex_lock(&s->mu);
	for (struct pos_sync_job *j = s->jobs; j; j = j->next)
		if (strcmp(j->user_id, user_id) == 0)
			job_json(w, j);
	pthread_mutex_unlock(&s->mu);
	pos_jw_arr_end(w);
	pos_jw_obj_end(w);
	return POS_OK;
}
