/*
 * exports.c — export and import as jobs (exports.h): the job kinds' run
 * functions and what the API asks of them (start, status, download,
 * upload). Files live under <data>/exports/<user id>/ and
 * <data>/imports/<user id>/, named by ids only.
 */
#include "export/exports.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/uuid.h"
#include "crypto/crypto.h"
#include "crypto/keyring.h"
#include "export/export.h"
#include "export/import.h"
#include "jobs/jobs.h"

#define KIND_EXPORT "export.memories"
#define KIND_EXPIRE "export.expire"
#define KIND_IMPORT "import.file"

struct pos_exports {
	struct pos_memsvc svc;
	struct pos_jobs *jobs;
	char data_dir[4096];
	int64_t expiry_us;
	enum pos_err (*quota)(void *ctx, const char *user_id, int64_t memories, int64_t bytes,
			      struct pos_error *err);
	void *quota_ctx;
	enum pos_err (*open_file)(void *files_ctx, struct pos_arena *a, const char *user_id,
				  const char *attachment_id, struct pos_blob_reader **rd,
				  uint64_t *size, int64_t *created_at);
	enum pos_err (*attach_file)(void *files_ctx, const char *user_id, const char *memory_id,
				    int fd, uint64_t len, const char *name, struct pos_error *err);
	void *files_ctx;
	/* seals a passphrase into a job's stored payload (server key
	 * "export_passphrase"), so it is never stored in the clear */
	uint8_t pass_key[32];
};

#define PASS_MIN 8
#define PASS_MAX 1024
#define PASS_MEMBER "passphrase_sealed"

/*
 * A passphrase travels to its job sealed under the server key (bound to
 * the user id) in the
 * payload's PASS_MEMBER (base64url): the jobs table holds no passphrase a
 * copy of the database alone would give away, and the job still runs on
 * whichever instance claims it, also after a restart.
 */
static enum pos_err seal_passphrase(const struct pos_exports *x, const char *user_id,
				    json_t *payload, const char *pass)
{
	size_t n = strlen(pass);
	uint8_t sealed[PASS_MAX + POS_SEAL_OVERHEAD];
	char text[2 * (PASS_MAX + POS_SEAL_OVERHEAD)];
	if (n < PASS_MIN || n > PASS_MAX)
		return POS_ERR_INVALID_FIELD;
	pos_seal(x->pass_key, user_id, strlen(user_id), pass, n, sealed);
	pos_b64_encode(text, sizeof(text), sealed, n + POS_SEAL_OVERHEAD);
	return json_object_set_new(payload, PASS_MEMBER, json_string(text)) ? POS_ERR_NOMEM
									     : POS_OK;
}

/* Takes PASS_MEMBER out of `payload` into `out` (NUL-terminated): 0 when
 * there is none, 1 when opened, -1 when it cannot be opened. */
static int open_passphrase(const struct pos_exports *x, const char *user_id, json_t *payload,
			   char out[PASS_MAX + 1])
{
	out[0] = '\0';
	const char *text = json_string_value(json_object_get(payload, PASS_MEMBER));
	if (!text)
		return 0;
	uint8_t sealed[PASS_MAX + POS_SEAL_OVERHEAD];
	long n = pos_b64_decode(sealed, sizeof(sealed), text, strlen(text));
	int ok = n >= (long)(POS_SEAL_OVERHEAD + PASS_MIN) &&
		 !pos_unseal(x->pass_key, user_id, strlen(user_id), sealed, (size_t)n,
			     (uint8_t *)out) ? 1 : -1;
	out[ok > 0 ? (size_t)n - POS_SEAL_OVERHEAD : 0] = '\0';
	json_object_del(payload, PASS_MEMBER);
	return ok;
}

static const char pass_lost[] = "the passphrase could not be opened (the server key changed):"
				" start again";

/* <data>/<what>/<user id>, made 0700 when missing. */
static enum pos_err user_dir(const struct pos_exports *x, const char *what, const char *user_id,
			     char *out, size_t cap)
{
	char norm[POS_UUID_SIZE];
	if (!pos_uuid_valid(user_id, strlen(user_id), norm))
		return POS_ERR_INTERNAL;
	snprintf(out, cap, "%s/%s", x->data_dir, what);
	if (mkdir(out, 0700) != 0 && errno != EEXIST)
		return POS_ERR_IO;
	snprintf(out, cap, "%s/%s/%s", x->data_dir, what, norm);
	if (mkdir(out, 0700) != 0 && errno != EEXIST)
		return POS_ERR_IO;
	return POS_OK;
}

/* ---- the job kinds ---- */

static void job_progress(void *ctx, uint64_t done, uint64_t total)
{
	pos_job_progress(ctx, done, total);
}

static bool job_stop(void *ctx)
{
	return pos_job_should_stop(ctx);
}

static bool transient(enum pos_err rc)
{
	return rc == POS_ERR_UNAVAILABLE || rc == POS_ERR_IO || rc == POS_ERR_STORE ||
	       rc == POS_ERR_LOCKED || rc == POS_ERR_BAD_GATEWAY;
}

static enum pos_err run_export(struct pos_job_run *r, void *ctx, const char *user_id,
			       const char *payload)
{
	struct pos_exports *x = ctx;
	struct pos_arena *a = pos_arena_new();
	struct pos_error err;
	pos_error_clear(&err);
	json_error_t je;
	json_t *body = json_loads(payload, 0, &je);
	struct pos_export_request req = {0};
	char dir[4200] = "", part[4400], final[4400], pass[PASS_MAX + 1] = "";
	int fd = -1;
	enum pos_err rc = a && body ? POS_OK : POS_ERR_NOMEM;
	int sealed = rc ? 0 : open_passphrase(x, user_id, body, pass);
	if (sealed < 0) {
		rc = POS_ERR_INVALID_FIELD;
		pos_error_set(&err, rc, "passphrase", pass_lost);
	}
	if (!rc)
		rc = pos_export_request_parse(a, user_id, body, &req, &err);
	if (!rc && sealed > 0)
		req.passphrase = pass;
	if (!rc)
		rc = user_dir(x, "exports", user_id, dir, sizeof(dir));
	const char *ext = rc ? "" : pos_export_format_ext(req.format);
	snprintf(part, sizeof(part), "%s/%s.%s.part", dir, pos_job_id(r), ext);
	snprintf(final, sizeof(final), "%s/%s.%s", dir, pos_job_id(r), ext);
	if (!rc) {
		fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
		rc = fd < 0 ? POS_ERR_IO : POS_OK;
	}
	struct pos_export_hooks h = {.progress = job_progress, .should_stop = job_stop, .ctx = r,
				     .open_file = x->open_file, .files_ctx = x->files_ctx};
	struct pos_export_result res = {0};
	if (!rc)
		rc = pos_export_write(x->svc.store, user_id, &req, fd, &h, &res, &err);
	if (!rc && fsync(fd) != 0)
		rc = POS_ERR_IO;
	if (fd >= 0)
		close(fd);
	if (!rc && rename(part, final) != 0)
		rc = POS_ERR_IO;
	if (rc) {
		unlink(part);
		if (err.message[0])
			pos_job_set_error(r, err.message);
		goto out;
	}
	int64_t expires = pos_now_us() + x->expiry_us;
	char when[POS_TIME_FMT_LEN], result[512], expire[160];
	pos_time_format(expires, when, sizeof(when));
	snprintf(result, sizeof(result),
		 "{\"file\":\"%s.%s\",\"format\":\"%s\",\"items\":%llu,\"bytes\":%llu,"
		 "\"expires_at\":\"%s\"}",
		 pos_job_id(r), ext, pos_export_format_name(req.format),
		 (unsigned long long)res.items, (unsigned long long)res.bytes, when);
	rc = pos_job_set_result(r, result);
	snprintf(expire, sizeof(expire), "{\"id\":\"%s\",\"ext\":\"%s\"}", pos_job_id(r), ext);
	/* the export is done either way: without its expire job (a full
	 * queue), status and download still delete the file once expired */
	if (!rc)
		pos_jobs_enqueue(x->jobs, KIND_EXPIRE, user_id, expire, expires, NULL);
out:
	pos_wipe(pass, sizeof(pass));
	json_decref(body);
	pos_arena_destroy(a);
	return rc;
}

static enum pos_err run_expire(struct pos_job_run *r, void *ctx, const char *user_id,
			       const char *payload)
{
	struct pos_exports *x = ctx;
	json_error_t je;
	json_t *p = json_loads(payload, 0, &je);
	const char *id = json_string_value(json_object_get(p, "id"));
	int fmt = -1;
	const char *ext = json_string_value(json_object_get(p, "ext"));
	for (int f = 0; ext && f < POS_EXPORT__COUNT; f++)
		if (strcmp(ext, pos_export_format_ext((enum pos_export_format)f)) == 0)
			fmt = f;
	char norm[POS_UUID_SIZE], dir[4200], path[4400];
	enum pos_err rc = POS_OK;
	if (id && fmt >= 0 && pos_uuid_valid(id, strlen(id), norm) &&
	    !(rc = user_dir(x, "exports", user_id, dir, sizeof(dir)))) {
		snprintf(path, sizeof(path), "%s/%s.%s", dir, norm, ext);
		if (unlink(path) != 0 && errno != ENOENT)
			rc = POS_ERR_IO;
	}
	json_decref(p);
	return rc;
}

struct import_ctx {
	struct pos_job_run *r;
	struct pos_exports *x;
};

static enum pos_err import_quota(void *ctx, const char *user_id, int64_t memories, int64_t bytes,
				 struct pos_error *err)
{
	struct import_ctx *c = ctx;
	return c->x->quota ? c->x->quota(c->x->quota_ctx, user_id, memories, bytes, err) : POS_OK;
}

static enum pos_err import_attach(void *ctx, const char *user_id, const char *memory_id, int fd,
				  uint64_t len, const char *name, struct pos_error *err)
{
	struct import_ctx *c = ctx;
	return c->x->attach_file(c->x->files_ctx, user_id, memory_id, fd, len, name, err);
}

static void job_item_error(void *ctx, uint64_t pos, enum pos_err code, const char *msg)
{
	struct import_ctx *c = ctx;
	pos_job_item_error(c->r, pos, code, msg);
}

static void import_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct import_ctx *c = ctx;
	pos_job_progress(c->r, done, total);
}

static bool import_stop(void *ctx)
{
	struct import_ctx *c = ctx;
	return pos_job_should_stop(c->r);
}

static enum pos_err run_import(struct pos_job_run *r, void *ctx, const char *user_id,
			       const char *payload)
{
	struct pos_exports *x = ctx;
	json_error_t je;
	json_t *p = json_loads(payload, 0, &je);
	const char *file = json_string_value(json_object_get(p, "file"));
	int fmt = pos_import_format_parse(json_string_value(json_object_get(p, "format")));
	char norm[POS_UUID_SIZE], dir[4200], path[4400], pass[PASS_MAX + 1] = "";
	struct pos_error err;
	pos_error_clear(&err);
	enum pos_err rc = POS_OK;
	if (!file || strlen(file) < 36 || !pos_uuid_valid(file, 36, norm) || fmt < 0) {
		rc = POS_ERR_INVALID_REQUEST;
		goto out;
	}
	int sealed = open_passphrase(x, user_id, p, pass);
	if (sealed < 0) {
		pos_job_set_error(r, pass_lost);
		rc = POS_ERR_INVALID_FIELD;
		goto out;
	}
	if ((rc = user_dir(x, "imports", user_id, dir, sizeof(dir))))
		goto out;
	snprintf(path, sizeof(path), "%s/%s.upload", dir, norm);
	struct import_ctx c = {r, x};
	struct pos_import_hooks h = {.progress = import_progress, .should_stop = import_stop,
				     .item_error = job_item_error, .quota = import_quota,
				     .attach = x->attach_file ? import_attach : NULL, .ctx = &c};
	struct pos_import_result res;
	rc = pos_import_run(&x->svc, user_id, (enum pos_import_format)fmt, path,
			    sealed > 0 ? pass : NULL, &h, &res, &err);
	char result[512];
	snprintf(result, sizeof(result),
		 "{\"items\":%llu,\"added\":%llu,\"unchanged\":%llu,\"skipped\":%llu,"
		 "\"conversations\":%llu,\"persona\":%s,\"settings\":%s,\"files\":%llu}",
		 (unsigned long long)res.items, (unsigned long long)res.added,
		 (unsigned long long)res.unchanged, (unsigned long long)res.skipped,
		 (unsigned long long)res.conversations, res.persona ? "true" : "false",
		 res.settings ? "true" : "false", (unsigned long long)res.files);
	pos_job_set_result(r, result);
	if (rc && err.message[0])
		pos_job_set_error(r, err.message);
	if (rc && err.index >= 0)
		pos_job_item_error(r, (uint64_t)err.index, rc, err.message);
	/* kept for a retry of a transient failure; gone otherwise */
	if (!transient(rc))
		unlink(path);
out:
	pos_wipe(pass, sizeof(pass));
	json_decref(p);
	return rc;
}

static const struct pos_job_kind kind_export = {
	.name = KIND_EXPORT,
	.max_attempts = 3,
	.timeout_us = 6 * 3600 * 1000000LL,
	.backoff_us = 10 * 1000000LL,
	.serial_per_user = true,
	.user_cancellable = true,
	.run = run_export,
};

static const struct pos_job_kind kind_expire = {
	.name = KIND_EXPIRE,
	.max_attempts = 5,
	.timeout_us = 60 * 1000000LL,
	.backoff_us = 60 * 1000000LL,
	.run = run_expire,
};

static const struct pos_job_kind kind_import = {
	.name = KIND_IMPORT,
	.max_attempts = 3,
	.timeout_us = 6 * 3600 * 1000000LL,
	.backoff_us = 10 * 1000000LL,
	.serial_per_user = true,
	.user_cancellable = true,
	.run = run_import,
};

enum pos_err pos_exports_new(const struct pos_memsvc *svc, struct pos_jobs *jobs,
			     const struct pos_exports_config *cfg, struct pos_exports **out)
{
	struct pos_exports *x = pos_calloc(1, sizeof(*x));
	if (!x)
		return POS_ERR_NOMEM;
	x->svc = *svc;
	x->jobs = jobs;
	snprintf(x->data_dir, sizeof(x->data_dir), "%s", cfg->data_dir);
	x->expiry_us = cfg->expiry_us;
	x->quota = cfg->quota;
	x->quota_ctx = cfg->quota_ctx;
	x->open_file = cfg->open_file;
	x->attach_file = cfg->attach_file;
	x->files_ctx = cfg->files_ctx;
	struct pos_store *st = svc->store;
	enum pos_err rc = st->ops->server_key(st, "export_passphrase", x->pass_key,
					      sizeof(x->pass_key));
	if (!rc)
		rc = pos_jobs_register(jobs, &kind_export, x);
	if (!rc)
		rc = pos_jobs_register(jobs, &kind_expire, x);
	if (!rc)
		rc = pos_jobs_register(jobs, &kind_import, x);
	if (rc) {
		pos_free(x);
		return rc;
	}
	*out = x;
	return POS_OK;
}

void pos_exports_free(struct pos_exports *x)
{
	if (x)
		pos_wipe(x->pass_key, sizeof(x->pass_key));
	pos_free(x);
}

enum pos_err pos_exports_start(struct pos_exports *x, struct pos_arena *a, const char *user_id,
			       const json_t *body, char id_out[POS_UUID_SIZE],
			       struct pos_error *err)
{
	struct pos_export_request req;
	enum pos_err rc = pos_export_request_parse(a, user_id, body, &req, err);
	if (rc)
		return rc;
	struct pos_store *st = x->svc.store;
	if (st->keys->data_unlocked && !st->keys->data_unlocked(st, user_id))
		return pos_error_set(err, POS_ERR_LOCKED, NULL,
				     "encrypted data is locked: log in again to export it");
	/* the payload is stored in the jobs table: the passphrase only sealed */
	json_t *copy = json_deep_copy(body);
	if (copy && req.passphrase) {
		json_object_del(copy, "passphrase");
		if (seal_passphrase(x, user_id, copy, req.passphrase)) {
			json_decref(copy);
			copy = NULL;
		}
	}
	char *payload = copy ? json_dumps(copy, JSON_COMPACT) : NULL;
	json_decref(copy);
	if (!payload)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	rc = pos_jobs_enqueue(x->jobs, KIND_EXPORT, user_id, payload, 0, id_out);
	free(payload);
	return rc ? pos_error_set(err, rc, NULL, NULL) : POS_OK;
}

enum pos_err pos_exports_status(struct pos_exports *x, struct pos_arena *a, const char *user_id,
				const char *id, struct pos_export_status *out)
{
	memset(out, 0, sizeof(*out));
	char norm[POS_UUID_SIZE];
	if (!id || !pos_uuid_valid(id, strlen(id), norm))
		return POS_ERR_NOT_FOUND;
	struct pos_job_info info;
	enum pos_err rc = pos_jobs_get(x->jobs, a, user_id, norm, &info);
	if (rc)
		return rc;
	if (!info.kind || strcmp(info.kind, KIND_EXPORT) != 0)
		return POS_ERR_NOT_FOUND;
	memcpy(out->id, info.id, POS_UUID_SIZE);
	out->created_at = info.created_at;
	out->expires_at = POS_TIME_NONE;
	out->error = info.error;
	out->progress = info.total ? (double)info.done / (double)info.total : 0;
	switch (info.state) {
	case POS_JOB_QUEUED:
		out->status = "queued";
		break;
	case POS_JOB_RUNNING:
		out->status = "running";
		break;
	case POS_JOB_DONE:
		out->status = "done";
		out->progress = 1;
		break;
	default:
		out->status = "failed";
		break;
	}
	json_error_t je;
	json_t *res = info.result_json ? json_loads(info.result_json, 0, &je) : NULL;
	if (res) {
		out->items = (uint64_t)json_integer_value(json_object_get(res, "items"));
		out->bytes = (uint64_t)json_integer_value(json_object_get(res, "bytes"));
		const char *f = json_string_value(json_object_get(res, "format"));
		out->format = f ? pos_arena_strdup(a, f) : NULL;
		const char *e = json_string_value(json_object_get(res, "expires_at"));
		int64_t t;
		if (e && pos_time_parse(e, strlen(e), false, &t))
			out->expires_at = t;
		json_decref(res);
	}
	if (info.state == POS_JOB_DONE && out->expires_at != POS_TIME_NONE &&
	    pos_now_us() >= out->expires_at)
		out->status = "expired";
	return POS_OK;
}

enum pos_err pos_exports_open(struct pos_exports *x, struct pos_arena *a, const char *user_id,
			      const char *id, int *fd, uint64_t *size, const char **mime,
			      const char **filename, struct pos_error *err)
{
	struct pos_export_status s;
	enum pos_err rc = pos_exports_status(x, a, user_id, id, &s);
	if (rc)
		return pos_error_set(err, rc, NULL, NULL);
	int fmt = pos_export_format_parse(s.format);
	char dir[4200], path[4400];
	if (strcmp(s.status, "done") && strcmp(s.status, "expired"))
		return pos_error_set(err, POS_ERR_CONFLICT, NULL, "the export is %s", s.status);
	if (fmt < 0 || (rc = user_dir(x, "exports", user_id, dir, sizeof(dir))))
		return pos_error_set(err, rc ? rc : POS_ERR_INTERNAL, NULL, NULL);
	snprintf(path, sizeof(path), "%s/%s.%s", dir, s.id,
		 pos_export_format_ext((enum pos_export_format)fmt));
	if (strcmp(s.status, "expired") == 0) {
		unlink(path);
		return pos_error_set(err, POS_ERR_EXPIRED, NULL, "the export has expired");
	}
	*fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat sb;
	if (*fd < 0 || fstat(*fd, &sb) != 0) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return pos_error_set(err, POS_ERR_EXPIRED, NULL, "the export file is gone");
	}
	*size = (uint64_t)sb.st_size;
	*mime = pos_export_format_mime((enum pos_export_format)fmt);
	char day[POS_TIME_FMT_LEN];
	pos_time_format(s.created_at, day, sizeof(day));
	day[10] = '\0';
	char name[80];
	snprintf(name, sizeof(name), "personalos-export-%s.%s", day,
		 pos_export_format_ext((enum pos_export_format)fmt));
	*filename = pos_arena_strdup(a, name);
	return POS_OK;
}

/* Copies the first len bytes of `in` (from offset 0) to `out`: in the
 * kernel where it can (copy_file_range), else through a small buffer. */
static bool copy_upload(int in, int out, uint64_t len)
{
	loff_t off_in = 0;
	bool kernel = true;
	char buf[64 * 1024];
	while ((uint64_t)off_in < len) {
		uint64_t left = len - (uint64_t)off_in;
		size_t want = left > (1u << 30) ? (1u << 30) : (size_t)left;
		ssize_t k;
		if (kernel) {
			k = copy_file_range(in, &off_in, out, NULL, want, 0);
			if (k < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
				      errno == EOPNOTSUPP)) {
				kernel = false;
				continue;
			}
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
				return false;
			continue;
		}
		k = pread(in, buf, want < sizeof(buf) ? want : sizeof(buf), off_in);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		for (ssize_t done = 0; done < k;) {
			ssize_t w = write(out, buf + done, (size_t)(k - done));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return false;
			done += w;
		}
		off_in += k;
	}
	return true;
}

enum pos_err pos_exports_import(struct pos_exports *x, const char *user_id, const char *format,
				const char *passphrase, int in, uint64_t len,
				char id_out[POS_UUID_SIZE], struct pos_error *err)
{
	if (pos_import_format_parse(format) < 0)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "format",
				     "format: json, jsonl, markdown, obsidian, chatgpt, claude, "
				     "takeout-keep or csv");
	if (passphrase && (strlen(passphrase) < PASS_MIN || strlen(passphrase) > PASS_MAX))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "passphrase",
				     "passphrase: 8 to 1024 bytes");
	if (!len || in < 0)
		return pos_error_set(err, POS_ERR_INVALID_REQUEST, NULL, "the upload is empty");
	char dir[4200], path[4400], name[POS_UUID_SIZE];
	enum pos_err rc = user_dir(x, "imports", user_id, dir, sizeof(dir));
	if (rc || !pos_uuid_new(name))
		return pos_error_set(err, POS_ERR_IO, NULL, "cannot store the upload");
	snprintf(path, sizeof(path), "%s/%s.upload", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return pos_error_set(err, POS_ERR_IO, NULL, "cannot store the upload");
	bool ok = copy_upload(in, fd, len) && fsync(fd) == 0;
	close(fd);
	if (!ok) {
		unlink(path);
		return pos_error_set(err, POS_ERR_IO, NULL, "cannot store the upload");
	}
	json_t *payload = json_pack("{s:s,s:s}", "format", format, "file", name);
	if (payload && passphrase && seal_passphrase(x, user_id, payload, passphrase)) {
		json_decref(payload);
		payload = NULL;
	}
	char *text = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
	json_decref(payload);
	rc = text ? pos_jobs_enqueue(x->jobs, KIND_IMPORT, user_id, text, 0, id_out) : POS_ERR_NOMEM;
	free(text);
	if (rc) {
		unlink(path);
		return pos_error_set(err, rc, NULL, NULL);
	}
	return POS_OK;
}
