/*
 * export.c — the export and import endpoints (docs/EXPORT.md): thin
 * handlers over the export service as jobs (export/exports.h).
 *
 *   POST /api/export/memories        202 {id, status}
 *   GET  /api/export/status/{id}     200 the status
 *   GET  /api/export/download/{id}   the file (Range), 404 others', 410 expired
 *   POST /api/import?format=F        202 {job_id, status}; progress and
 *                                    per-item errors at GET /api/jobs/{id}
 */
#include "api/api.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/json.h"
#include "export/exports.h"
#include "http/range.h"

static bool have_exports(struct pos_server *srv, struct pos_req *r)
{
	if (srv->app->exports)
		return true;
	pos_reply_err(r, POS_ERR_UNAVAILABLE, NULL, "export is not running on this server");
	return false;
}

static void reply_queued(struct pos_req *r, const char *key, const char *id)
{
	struct pos_buf b;
	pos_buf_init(&b, 4096);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_jw_obj(&w);
	pos_jw_kstr(&w, key, id);
	pos_jw_kstr(&w, "status", "queued");
	pos_jw_obj_end(&w);
	pos_reply_json(r, 202, &b);
}

void pos_api_export_start(struct pos_server *srv, struct pos_req *r)
{
	if (!have_exports(srv, r))
		return;
	json_t *body;
	if (!pos_req_json(r, &body))
		return;
	struct pos_error err;
	pos_error_clear(&err);
	char id[POS_UUID_SIZE];
	enum pos_err rc = pos_exports_start(srv->app->exports, r->arena, r->principal.user_id, body, id,
					    &err);
	json_decref(body);
	if (rc) {
		pos_reply_error(r, &err);
		return;
	}
	reply_queued(r, "id", id);
}

void pos_api_export_status(struct pos_server *srv, struct pos_req *r)
{
	if (!have_exports(srv, r))
		return;
	struct pos_export_status s;
	enum pos_err rc = pos_exports_status(srv->app->exports, r->arena, r->principal.user_id,
					     pos_req_path(r, 0), &s);
	if (rc) {
		pos_reply_err(r, rc, NULL, rc == POS_ERR_NOT_FOUND ? "export not found" : NULL);
		return;
	}
	struct pos_buf b;
	pos_buf_init(&b, 16384);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_jw_obj(&w);
	pos_jw_kstr(&w, "id", s.id);
	pos_jw_kstr(&w, "status", s.status);
	pos_jw_key(&w, "progress");
	pos_jw_double(&w, s.progress);
	pos_jw_kint(&w, "items", (int64_t)s.items);
	pos_jw_kint(&w, "bytes", (int64_t)s.bytes);
	pos_jw_kstr(&w, "format", s.format);
	pos_jw_ktime(&w, "created_at", s.created_at);
	pos_jw_ktime(&w, "expires_at", s.expires_at);
	if (s.error)
		pos_jw_kstr(&w, "error", s.error);
	pos_jw_obj_end(&w);
	if (w.rc) {
		pos_buf_free(&b);
		pos_reply_err(r, w.rc, NULL, NULL);
		return;
	}
	pos_reply_json(r, 200, &b);
}

/* An export file read on demand from `off` (pos_reply_reader). */
struct export_dl {
	int fd;
	uint64_t off;
};

static long export_read(void *ctx, uint64_t pos, char *buf, size_t max)
{
	struct export_dl *d = ctx;
	ssize_t n;
	do
		n = pread(d->fd, buf, max, (off_t)(d->off + pos));
	while (n < 0 && errno == EINTR);
	return n > 0 ? (long)n : -1; /* a file cut short ends the answer */
}

static void export_dl_free(void *ctx)
{
	struct export_dl *d = ctx;
	close(d->fd);
	pos_free(d);
}

void pos_api_export_download(struct pos_server *srv, struct pos_req *r)
{
	if (!have_exports(srv, r))
		return;
	struct pos_error err;
	pos_error_clear(&err);
	int fd = -1;
	uint64_t size = 0, off, len;
	const char *mime, *name;
	enum pos_err rc = pos_exports_open(srv->app->exports, r->arena, r->principal.user_id,
					   pos_req_path(r, 0), &fd, &size, &mime, &name, &err);
	if (rc) {
		if (rc == POS_ERR_NOT_FOUND)
			pos_error_set(&err, rc, NULL, "export not found");
		pos_reply_error(r, &err);
		return;
	}
	int st = pos_range_parse(pos_req_header(r, "Range"), size, &off, &len);
	if (st == 416) {
		close(fd);
		pos_reply_err(r, POS_ERR_INVALID_REQUEST, "Range", "the range is past the end");
		r->status = 416;
		return;
	}
	char *disp = pos_arena_alloc(r->arena, 160), *range = NULL;
	if (disp) {
		snprintf(disp, 160, "attachment; filename=\"%s\"", name);
		pos_reply_header(r, "Content-Disposition", disp);
	}
	if (st == 206 && (range = pos_arena_alloc(r->arena, 80))) {
		snprintf(range, 80, "bytes %llu-%llu/%llu", (unsigned long long)off,
			 (unsigned long long)(off + len - 1), (unsigned long long)size);
		pos_reply_header(r, "Content-Range", range);
	}
	pos_reply_header(r, "Accept-Ranges", "bytes");
	if (len == 0) {
		close(fd);
		struct pos_buf b;
		pos_buf_init(&b, 1);
		pos_reply_typed(r, st, mime, &b);
		return;
	}
	/* not the arena's: the response may outlive the request's arena */
	struct export_dl *d = pos_malloc(sizeof(*d));
	if (!d) {
		close(fd);
		pos_reply_err(r, POS_ERR_NOMEM, NULL, NULL);
		return;
	}
	d->fd = fd;
	d->off = off;
	pos_reply_reader(r, st, mime, len, export_read, export_dl_free, d);
}

void pos_api_import(struct pos_server *srv, struct pos_req *r)
{
	if (!have_exports(srv, r))
		return;
	/* the body is spooled to an unlinked file (IMPORT_ROUTE): the server
	 * refused it with 413 past import_upload_max before this; the file
	 * goes with the request, whatever the answer */
	unsigned long long cap = srv->cfg->import_upload_max;
	if (r->spool_len > cap) {
		char msg[128];
		snprintf(msg, sizeof(msg), "the upload is larger than import_upload_max (%llu bytes)",
			 cap);
		pos_reply_err(r, POS_ERR_BODY_TOO_LARGE, NULL, msg);
		return;
	}
	const char *format = pos_req_param(r, "format");
	if (!format || !*format) {
		pos_reply_err(r, POS_ERR_MISSING_FIELD, "format",
			      "format is required (?format=json|jsonl|markdown|obsidian|chatgpt|"
			      "claude|takeout-keep|csv)");
		return;
	}
	struct pos_error err;
	pos_error_clear(&err);
	/* at most the upload's bytes as memories */
	const int64_t add[POS_QUOTA__COUNT] = {[POS_QUOTA_BYTES] = (int64_t)r->spool_len};
	if (pos_auth_quota_check(&srv->app->auth, r->arena, r->principal.user_id, add, &err)) {
		pos_reply_error(r, &err);
		return;
	}
	char id[POS_UUID_SIZE];
	/* a sealed export's passphrase: a header, never the query string
	 * (which access logs and proxies keep) */
	const char *pass = pos_req_header(r, "X-Passphrase");
	enum pos_err rc = pos_exports_import(srv->app->exports, r->principal.user_id, format,
					     pass && *pass ? pass : NULL, r->spool_fd, r->spool_len,
					     id, &err);
	if (rc) {
		pos_reply_error(r, &err);
		return;
	}
	reply_queued(r, "job_id", id);
}
