/*
 * files.c — files as memories (issue 21; docs/FILES.md): uploads spooled
 * to disk (raw body or multipart/form-data), attachments listed, served
 * with Range and a safe type, and deleted. The work is the files service's
 * (src/files); these handlers parse, check the quota, call it and render.
 */
#include "api/api.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/json.h"
#include "files/files.h"
#include "files/multipart.h"
#include "files/thumb.h"

static long spool_read(void *ctx, uint64_t off, void *buf, size_t n)
{
	int fd = *(int *)ctx;
	ssize_t r = pread(fd, buf, n, (off_t)off);
	return r < 0 ? -1 : (long)r;
}

/*
 * The uploaded file of the request: its range in the spool and its name.
 * A multipart/form-data body gives its first file part; a raw body is the
 * file, named by ?name= or Content-Disposition's filename (required).
 * Answers and returns false when there is none.
 */
static bool upload_of(struct pos_server *srv, struct pos_req *r, uint64_t *off, uint64_t *len,
		      const char **name)
{
	struct pos_error err;
	pos_error_clear(&err);
	if (r->spool_fd < 0 || r->spool_len == 0) {
		pos_reply_err(r, POS_ERR_INVALID_REQUEST, NULL, "the request has no file in its body");
		return false;
	}
	char boundary[72];
	const char *ct = pos_req_header(r, "Content-Type");
	if (pos_multipart_boundary(ct, boundary)) {
		char *nm = pos_arena_alloc(r->arena, POS_FILE_NAME_MAX + 1);
		if (!nm) {
			pos_reply_err(r, POS_ERR_NOMEM, NULL, NULL);
			return false;
		}
		if (pos_multipart_file(spool_read, &r->spool_fd, r->spool_len, boundary, off, len, nm,
				       POS_FILE_NAME_MAX + 1, &err)) {
			pos_reply_error(r, &err);
			return false;
		}
		*name = nm;
	} else {
		*off = 0;
		*len = r->spool_len;
		*name = pos_req_param(r, "name");
		if (!*name) {
			const char *cd = pos_req_header(r, "Content-Disposition");
			const char *fn = cd ? strcasestr(cd, "filename=") : NULL;
			if (fn) {
				fn += 9;
				char *nm = pos_arena_strdup(r->arena, fn + (*fn == '"'));
				if (nm) {
					nm[strcspn(nm, "\";")] = '\0';
					*name = nm;
				}
			}
		}
	}
	if (!*name || !**name) {
		/* a raw body without a name is most likely a client that meant
		 * to send JSON: refuse rather than keep it as a file */
		pos_reply_err(r, POS_ERR_MISSING_FIELD, "name",
			      "a raw upload needs a file name: ?name= or a Content-Disposition "
			      "filename");
		return false;
	}
	if (*len > srv->cfg->file_max) {
		char msg[128];
		snprintf(msg, sizeof(msg), "the file is larger than file_max (%llu bytes)",
			 srv->cfg->file_max);
		pos_reply_err(r, POS_ERR_BODY_TOO_LARGE, NULL, msg);
		return false;
	}
	const int64_t add[POS_QUOTA__COUNT] = {[POS_QUOTA_BYTES] = (int64_t)*len};
	if (pos_auth_quota_check(&srv->app->auth, r->arena, r->principal.user_id, add, &err)) {
		pos_reply_error(r, &err);
		return false;
	}
	return true;
}

static void reply_attachment(struct pos_req *r, int status, const struct pos_attachment *at)
{
	struct pos_buf b;
	pos_buf_init(&b, 64 * 1024);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_files_attachment_json(&w, at);
	if (w.rc) {
		pos_buf_free(&b);
		pos_reply_err(r, w.rc, NULL, NULL);
		return;
	}
	pos_reply_json(r, status, &b);
}

void pos_api_attachments_create(struct pos_server *srv, struct pos_req *r)
{
	uint64_t off, len;
	const char *name;
	struct pos_attachment at;
	struct pos_error err;
	pos_error_clear(&err);
	/* whose memory first: another user's is 404 whatever the body */
	struct pos_memory m;
	enum pos_err rc = pos_memory_peek(&srv->app->mem, r->arena, r->principal.user_id,
					  pos_req_path(r, 0), &m, &err);
	if (rc) {
		if (rc == POS_ERR_NOT_FOUND)
			pos_api_reply_not_owner(srv, r, pos_req_path(r, 0), &err);
		else
			pos_reply_error(r, &err);
		return;
	}
	if (!upload_of(srv, r, &off, &len, &name))
		return;
	if (pos_files_attach(&srv->app->files, r->arena, r->principal.user_id, pos_req_path(r, 0),
			     r->spool_fd, off, len, name, &at, &err)) {
		if (err.code == POS_ERR_NOT_FOUND)
			pos_api_reply_not_owner(srv, r, pos_req_path(r, 0), &err);
		else
			pos_reply_error(r, &err);
		return;
	}
	reply_attachment(r, 201, &at);
}

/* ?url= of an upload: where the client found the file (kept in
 * metadata.url, never fetched by the server): http(s), at most
 * POS_FILE_URL_MAX bytes, no spaces or control characters. */
#define POS_FILE_URL_MAX 2048
static bool url_ok(const char *u)
{
	size_t n = strlen(u);
	if (n == 0 || n > POS_FILE_URL_MAX)
		return false;
	if (strncasecmp(u, "http://", 7) != 0 && strncasecmp(u, "https://", 8) != 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)u[i] <= 0x20 || u[i] == 0x7f)
			return false;
	return true;
}

/* ?source= of an upload: a short lower-case word (default "upload"). */
static bool source_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      s[i] == '_' || s[i] == '.'))
			return false;
	return true;
}

void pos_api_files_create(struct pos_server *srv, struct pos_req *r)
{
	uint64_t off, len;
	const char *name;
	/* the clients' fields first (cheap, before the quota and the work) */
	const char *url = pos_req_param(r, "url");
	const char *source = pos_req_param(r, "source");
	if (url && *url && !url_ok(url)) {
		pos_reply_err(r, POS_ERR_INVALID_FIELD, "url",
			      "url must be an http(s) URL of at most 2048 bytes");
		return;
	}
	if (source && *source && !source_ok(source)) {
		pos_reply_err(r, POS_ERR_INVALID_FIELD, "source",
			      "source must be 1-32 characters of a-z, 0-9, '-', '_' or '.'");
		return;
	}
	if (!upload_of(srv, r, &off, &len, &name))
		return;
	char clean[POS_FILE_NAME_MAX + 1];
	pos_files_clean_name(name, clean);
	struct pos_error err;
	pos_error_clear(&err);
	const int64_t add[POS_QUOTA__COUNT] = {[POS_QUOTA_MEMORIES] = 1};
	if (pos_auth_quota_check(&srv->app->auth, r->arena, r->principal.user_id, add, &err)) {
		pos_reply_error(r, &err);
		return;
	}
	json_t *body = json_pack("{s:s, s:s, s:s}", "content", clean, "type", "file", "source",
				 source && *source ? source : "upload");
	if (body && url && *url)
		json_object_set_new(body, "metadata", json_pack("{s:s}", "url", url));
	const char *tags = pos_req_param(r, "tags");
	if (body && tags && *tags) {
		json_t *arr = json_array();
		char *t = pos_arena_strdup(r->arena, tags);
		for (char *p = t; p && *p;) {
			char *comma = strchr(p, ',');
			if (comma)
				*comma = '\0';
			if (*p)
				json_array_append_new(arr, json_string(p));
			p = comma ? comma + 1 : NULL;
		}
		json_object_set_new(body, "tags", arr);
	}
	if (!body) {
		pos_reply_err(r, POS_ERR_NOMEM, NULL, NULL);
		return;
	}
	struct pos_memory m;
	enum pos_err rc = pos_memory_create(&srv->app->mem, r->arena, r->principal.user_id, body, &m,
					    &err);
	json_decref(body);
	if (rc) {
		pos_reply_error(r, &err);
		return;
	}
	struct pos_attachment at;
	if (pos_files_attach(&srv->app->files, r->arena, r->principal.user_id, m.id, r->spool_fd, off,
			     len, name, &at, &err)) {
		/* no file, no file memory */
		struct pos_error e2;
		pos_error_clear(&e2);
		(void)pos_memory_delete(&srv->app->mem, r->principal.user_id, m.id, &e2);
		pos_reply_error(r, &err);
		return;
	}
	pos_error_clear(&err);
	if (pos_memory_get(&srv->app->mem, r->arena, r->principal.user_id, m.id, &m, &err)) {
		pos_reply_error(r, &err);
		return;
	}
	struct pos_buf b;
	pos_buf_init(&b, 4 * 1024 * 1024);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_memory_json(&w, &m);
	if (w.rc) {
		pos_buf_free(&b);
		pos_reply_err(r, w.rc, NULL, NULL);
		return;
	}
	pos_reply_json(r, 201, &b);
}

/* What a client shows before an upload (the PWA share page, the
 * extension): the per-file limit and the caller's byte quota and usage. */
void pos_api_files_limits(struct pos_server *srv, struct pos_req *r)
{
	struct pos_user u;
	struct pos_usage use;
	enum pos_err rc = pos_accounts_get(&srv->app->accounts, r->arena, r->principal.user_id,
					   &u);
	if (!rc)
		rc = pos_accounts_usage(&srv->app->accounts, u.id, &use);
	if (rc) {
		pos_reply_err(r, rc == POS_ERR_NOT_FOUND ? POS_ERR_UNAUTHORIZED : rc, NULL, NULL);
		return;
	}
	int64_t limit[POS_QUOTA__COUNT];
	pos_auth_quota_limits(&srv->app->auth, &u, limit);
	struct pos_buf b;
	pos_buf_init(&b, 4096);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_jw_obj(&w);
	pos_jw_kint(&w, "file_max", (int64_t)srv->cfg->file_max);
	pos_jw_kint(&w, "quota_bytes", limit[POS_QUOTA_BYTES]); /* 0: unlimited */
	pos_jw_kint(&w, "used_bytes", use.n[POS_QUOTA_BYTES]);
	pos_jw_obj_end(&w);
	if (w.rc) {
		pos_buf_free(&b);
		pos_reply_err(r, w.rc, NULL, NULL);
		return;
	}
	pos_reply_json(r, 200, &b);
}

void pos_api_attachments_list(struct pos_server *srv, struct pos_req *r)
{
	struct pos_attachment *list;
	size_t n;
	const char *id = pos_req_path(r, 0);
	struct pos_memory m;
	struct pos_error err;
	pos_error_clear(&err);
	enum pos_err rc = pos_memory_peek(&srv->app->mem, r->arena, r->principal.user_id, id, &m,
					  &err);
	if (!rc && (rc = pos_files_list(&srv->app->files, r->arena, r->principal.user_id, id,
					&list, &n)))
		pos_error_set(&err, rc, NULL, rc == POS_ERR_NOT_FOUND ? "memory not found" : NULL);
	if (rc) {
		pos_reply_error(r, &err);
		return;
	}
	struct pos_buf b;
	pos_buf_init(&b, 4 * 1024 * 1024);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_jw_obj(&w);
	pos_jw_key(&w, "attachments");
	pos_jw_arr(&w);
	for (size_t i = 0; i < n; i++)
		pos_files_attachment_json(&w, &list[i]);
	pos_jw_arr_end(&w);
	pos_jw_obj_end(&w);
	if (w.rc) {
		pos_buf_free(&b);
		pos_reply_err(r, w.rc, NULL, NULL);
		return;
	}
	pos_reply_json(r, 200, &b);
}

/* ---- download --------------------------------------------------------- */

struct dl {
	struct pos_blob_reader *rd;
	uint64_t start;     /* first byte served */
};

static long dl_read(void *ctx, uint64_t pos, char *buf, size_t max)
{
	struct dl *d = ctx;
	size_t got;
	if (pos_blob_read(d->rd, d->start + pos, buf, max, &got) || got == 0)
		return -1;
	return (long)got;
}

static void dl_free(void *ctx)
{
	struct dl *d = ctx;
	pos_blob_close(d->rd);
	pos_free(d);
}

/*
 * One byte range "bytes=a-b", "bytes=a-" or "bytes=-n" of a `size`-byte
 * file into [*first, *last]. 0: no usable header (serve all), 1: a range,
 * -1: unsatisfiable (416).
 */
static int parse_range(const char *h, uint64_t size, uint64_t *first, uint64_t *last)
{
	if (!h || strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
		return 0;
	const char *p = h + 6;
	const char *dash = strchr(p, '-');
	if (!dash)
		return 0;
	long long a = -1, b = -1;
	char num[24];
	size_t al = (size_t)(dash - p), bl = strlen(dash + 1);
	if (al >= sizeof(num) || bl >= sizeof(num))
		return 0;
	if (al) {
		memcpy(num, p, al);
		num[al] = '\0';
		if (!pos_parse_int(num, 0, INT64_MAX, &a))
			return 0;
	}
	if (bl && !pos_parse_int(dash + 1, 0, INT64_MAX, &b))
		return 0;
	if (a < 0 && b < 0)
		return 0;
	if (size == 0)
		return -1;
	if (a < 0) { /* the last b bytes */
		if (b == 0)
			return -1;
		*first = (uint64_t)b >= size ? 0 : size - (uint64_t)b;
		*last = size - 1;
		return 1;
	}
	if ((uint64_t)a >= size)
		return -1;
	*first = (uint64_t)a;
	*last = b < 0 || (uint64_t)b >= size ? size - 1 : (uint64_t)b;
	return b >= 0 && b < a ? 0 : 1;
}

/* The Content-Disposition value: attachment, the name as ASCII fallback
 * and as RFC 5987 UTF-8. */
static const char *disposition(struct pos_arena *a, const char *name)
{
	size_t n = strlen(name);
	struct pos_buf b;
	pos_buf_init(&b, 4 * n + 128);
	(void)pos_buf_add(&b, "attachment; filename=\"", 22);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		char o = c < 0x20 || c >= 0x7f || c == '"' || c == '\\' ? '_' : (char)c;
		(void)pos_buf_add(&b, &o, 1);
	}
	(void)pos_buf_add(&b, "\"; filename*=UTF-8''", 20);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		char enc[4];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '-' || c == '_') {
			enc[0] = (char)c;
			(void)pos_buf_add(&b, enc, 1);
		} else {
			snprintf(enc, sizeof(enc), "%%%02X", c);
			(void)pos_buf_add(&b, enc, 3);
		}
	}
	const char *out = b.data ? pos_arena_strndup(a, b.data, b.len) : "attachment";
	pos_buf_free(&b);
	return out ? out : "attachment";
}

void pos_api_attachment_get(struct pos_server *srv, struct pos_req *r)
{
	struct pos_attachment at;
	struct pos_blob_reader *rd = NULL;
	uint64_t size;
	enum pos_err rc = pos_files_open(&srv->app->files, r->arena, r->principal.user_id,
					 pos_req_path(r, 0), &at, &rd, &size);
	if (rc) {
		pos_reply_err(r, rc, NULL, rc == POS_ERR_NOT_FOUND ? "no such attachment" : NULL);
		return;
	}
	uint64_t first = 0, last = size ? size - 1 : 0;
	int range = parse_range(pos_req_header(r, "Range"), size, &first, &last);
	pos_reply_header(r, "Content-Disposition", disposition(r->arena, at.name));
	pos_reply_header(r, "Accept-Ranges", "bytes");
	if (range < 0) {
		pos_blob_close(rd);
		char *cr = pos_arena_alloc(r->arena, 48);
		if (cr) {
			snprintf(cr, 48, "bytes */%" PRIu64, size);
			pos_reply_header(r, "Content-Range", cr);
		}
		pos_reply_err(r, POS_ERR_INVALID_REQUEST, "range", "the range is outside the file");
		r->status = 416;
		return;
	}
	const char *type = pos_files_safe_type(at.mime);
	if (size == 0) {
		pos_blob_close(rd);
		struct pos_buf b;
		pos_buf_init(&b, 1);
		pos_reply_typed(r, 200, type, &b);
		return;
	}
	if (range > 0) {
		char *cr = pos_arena_alloc(r->arena, 80);
		if (cr) {
			snprintf(cr, 80, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first, last, size);
			pos_reply_header(r, "Content-Range", cr);
		}
	}
	/* not the arena's: the response may outlive the request's arena */
	struct dl *d = pos_malloc(sizeof(*d));
	if (!d) {
		pos_blob_close(rd);
		pos_reply_err(r, POS_ERR_NOMEM, NULL, NULL);
		return;
	}
	d->rd = rd;
	d->start = first;
	pos_reply_reader(r, range > 0 ? 206 : 200, type, last - first + 1, dl_read, dl_free, d);
}

void pos_api_attachment_thumbnail(struct pos_server *srv, struct pos_req *r)
{
	struct pos_buf b;
	pos_buf_init(&b, POS_THUMB_MAX);
	enum pos_err rc = pos_files_thumbnail(&srv->app->files, r->arena, r->principal.user_id,
					      pos_req_path(r, 0), &b);
	if (rc) {
		pos_buf_free(&b);
		pos_reply_err(r, rc, NULL, rc == POS_ERR_NOT_FOUND ? "no thumbnail" : NULL);
		return;
	}
	pos_reply_typed(r, 200, "image/png", &b);
}

void pos_api_attachment_delete(struct pos_server *srv, struct pos_req *r)
{
	enum pos_err rc = pos_files_delete(&srv->app->files, r->principal.user_id, pos_req_path(r, 0));
	if (rc) {
		pos_reply_err(r, rc, NULL, rc == POS_ERR_NOT_FOUND ? "no such attachment" : NULL);
		return;
	}
	pos_reply_empty(r, 204);
}
