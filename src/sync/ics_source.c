/*
 * ics_source.c — the ics_file and ics_url adapters: a whole iCalendar file,
 * read from disk or downloaded, turned into event items by sync/ics.
 *
 * Both keep a cursor that lets an unchanged calendar cost nothing: ics_file
 * {size, mtime, hash, window}, ics_url {etag, hash, window} (the ETag is
 * sent back as If-None-Match; a 304 ends the run). `window` is the day the
 * recurrence window started on: when the days move on, the file is read
 * again so new instances of recurring events appear. A changed calendar
 * is imported in full and then sink->complete lets the framework remove
 * the events that are gone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "sync/adapter.h"
#include "sync/fetch.h"
#include "sync/ics.h"

#define DAY_US (86400LL * 1000000LL)

static const char *const ics_url_secrets[] = {"password", "token", NULL};

static enum pos_err check_str(const json_t *config, const char *key,
			      bool required, size_t max, struct pos_error *err)
{
	const json_t *v = json_object_get(config, key);
	if (!v || json_is_null(v)) {
		if (required)
			return pos_error_set(err, POS_ERR_INVALID_FIELD, key,
					     "%s is required", key);
		return POS_OK;
	}
	if (!json_is_string(v) || (required && json_string_length(v) == 0) ||
	    json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, key,
				     "%s must be a string of at most %zu bytes",
				     key, max);
	return POS_OK;
}

static const char *str_of(const json_t *config, const char *key)
{
	return json_string_value(json_object_get(config, key));
}

static enum pos_err window(const json_t *config, struct pos_ics_window *w,
			   struct pos_error *err)
{
	return pos_ics_window_from_config(config, pos_now_us(), w, err);
}

/* Imports text in full, then tells the framework the listing is complete. */
static enum pos_err import_all(const char *data, size_t len,
			       const struct pos_ics_window *w,
			       const struct pos_sync_sink *sink,
			       struct pos_error *err)
{
	struct pos_ics_stats st = {0};
	enum pos_err rc = pos_ics_import(data, len, w, NULL, sink, NULL, &st, err);
	if (rc)
		return rc;
	if (sink->complete)
		sink->complete(sink->ctx);
	return POS_OK;
}

static bool cursor_eq_str(const json_t *cursor, const char *key, const char *v)
{
	const char *c = json_string_value(json_object_get(cursor, key));
	return c && v && strcmp(c, v) == 0;
}

static bool cursor_eq_int(const json_t *cursor, const char *key, json_int_t v)
{
	const json_t *c = json_object_get(cursor, key);
	return json_is_integer(c) && json_integer_value(c) == v;
}

/* ---- ics_file ------------------------------------------------------------ */

static enum pos_err file_check(const json_t *config, struct pos_error *err)
{
	struct pos_ics_window w;
	if (!json_is_object(config))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "config",
				     "config must be an object");
	enum pos_err rc = check_str(config, "path", true, 4096, err);
	if (!rc)
		rc = window(config, &w, err);
	return rc;
}

/* Opens the calendar file (confined: sync/fsroot.h) and stats it. */
static enum pos_err open_file(const struct pos_fsroot *root, const char *path, int *fd,
			      struct stat *st, struct pos_error *err)
{
	enum pos_err rc = pos_fsroot_open(root, path, 0, fd, err);
	if (rc)
		return rc;
	if (fstat(*fd, st) != 0 || !S_ISREG(st->st_mode)) {
		close(*fd);
		*fd = -1;
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "path",
				     "path is not a regular file");
	}
	return POS_OK;
}

/* Reads the open regular file `fd` (at most the cap) into a buffer. */
static enum pos_err read_file(int fd, const struct stat *st,
			      struct pos_buf *out, struct pos_error *err)
{
	enum pos_err rc = POS_OK;
	if ((uint64_t)st->st_size > POS_ICS_MAX_FILE_BYTES) {
		rc = pos_error_set(err, POS_ERR_CONTENT_TOO_LARGE, "path",
				   "the calendar file is larger than %u bytes",
				   POS_ICS_MAX_FILE_BYTES);
		goto out;
	}
	pos_buf_init(out, POS_ICS_MAX_FILE_BYTES + 1);
	char chunk[65536];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = pos_error_set(err, POS_ERR_IO, "path",
					   "reading the calendar file: %s",
					   strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		rc = pos_buf_add(out, chunk, (size_t)n);
		if (rc) {
			rc = pos_error_set(err, POS_ERR_CONTENT_TOO_LARGE, "path",
					   "the calendar file is too large");
			goto out;
		}
	}
out:
	return rc;
}

static enum pos_err file_validate(const json_t *config, struct pos_error *err)
{
	enum pos_err rc = file_check(config, err);
	return rc ? pos_ics_config_field(err) : POS_OK;
}

static enum pos_err file_run(const json_t *config, const json_t *cursor,
			     json_t **cursor_out, const struct pos_sync_sink *sink,
			     struct pos_error *err)
{
	struct pos_ics_window w;
	struct pos_buf b = {0};
	struct stat st;
	char hash[33];
	enum pos_err rc = file_validate(config, err);
	if (rc)
		return rc;
	window(config, &w, err);
	json_int_t day = (json_int_t)(w.from_us / DAY_US);
	const char *path = str_of(config, "path");
	int fd = -1;

	rc = open_file(sink->root, path, &fd, &st, err);
	if (rc)
		return rc;
	if (cursor &&
	    cursor_eq_int(cursor, "size", (json_int_t)st.st_size) &&
	    cursor_eq_int(cursor, "mtime", (json_int_t)st.st_mtime) &&
	    cursor_eq_int(cursor, "window", day)) {
		close(fd);
		*cursor_out = json_deep_copy(cursor);
		return *cursor_out ? POS_OK : pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	}
	rc = read_file(fd, &st, &b, err);
	close(fd);
	if (rc)
		goto out;
	pos_ics_hash_hex(b.data, b.len, hash);
	if (!(cursor && cursor_eq_str(cursor, "hash", hash) &&
	      cursor_eq_int(cursor, "window", day))) {
		rc = pos_buf_addc(&b, '\0');
		if (rc) {
			rc = pos_error_set(err, rc, NULL, NULL);
			goto out;
		}
		rc = import_all(b.data, b.len - 1, &w, sink, err);
		if (rc)
			goto out;
	}
	*cursor_out = json_pack("{s:I, s:I, s:s, s:I}", "size", (json_int_t)st.st_size,
				"mtime", (json_int_t)st.st_mtime, "hash", hash,
				"window", day);
	if (!*cursor_out)
		rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
out:
	pos_buf_free(&b);
	return rc;
}

const struct pos_sync_adapter pos_sync_ics_file = {
	.kind = "ics_file",
	.files = true,
	.secret_keys = NULL,
	.validate = file_validate,
	.run = file_run,
};

/* ---- ics_url ------------------------------------------------------------- */

static enum pos_err url_check(const json_t *config, struct pos_error *err)
{
	struct pos_ics_window w;
	if (!json_is_object(config))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "config",
				     "config must be an object");
	enum pos_err rc = check_str(config, "url", true, 2000, err);
	if (!rc) {
		const char *u = str_of(config, "url");
		if (!pos_fetch_url_ok(u) && strncasecmp(u, "webcal://", 9) != 0)
			rc = pos_error_set(err, POS_ERR_INVALID_FIELD, "url",
					   "url must be an http://, https:// or "
					   "webcal:// URL");
	}
	if (!rc)
		rc = check_str(config, "user", false, 256, err);
	if (!rc)
		rc = check_str(config, "password", false, 1024, err);
	if (!rc)
		rc = check_str(config, "token", false, 8192, err);
	if (!rc)
		rc = window(config, &w, err);
	return rc;
}

static enum pos_err url_validate(const json_t *config, struct pos_error *err)
{
	enum pos_err rc = url_check(config, err);
	return rc ? pos_ics_config_field(err) : POS_OK;
}

static enum pos_err url_run(const json_t *config, const json_t *cursor,
			    json_t **cursor_out, const struct pos_sync_sink *sink,
			    struct pos_error *err)
{
	struct pos_ics_window w;
	struct pos_fetch_resp resp = {0};
	char url[2100], inm[300], hash[33];
	const char *headers[3] = {"Accept: text/calendar, */*;q=0.5", NULL, NULL};
	enum pos_err rc = url_validate(config, err);
	if (rc)
		return rc;
	window(config, &w, err);
	json_int_t day = (json_int_t)(w.from_us / DAY_US);
	const char *u = str_of(config, "url");
	if (strncasecmp(u, "webcal://", 9) == 0)
		snprintf(url, sizeof(url), "https://%s", u + 9);
	else
		snprintf(url, sizeof(url), "%s", u);

	const char *etag = json_string_value(json_object_get(cursor, "etag"));
	bool same_window = cursor && cursor_eq_int(cursor, "window", day);
	if (etag && *etag && same_window && strlen(etag) < 256) {
		snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
		headers[1] = inm;
	}
	struct pos_fetch_req req = {
		.method = "GET", .url = url,
		.user = str_of(config, "user"), .password = str_of(config, "password"),
		.token = str_of(config, "token"), .headers = headers,
		.max_bytes = POS_ICS_MAX_FILE_BYTES, .sink = sink,
	};
	rc = pos_fetch(&req, &resp, err);
	if (rc)
		goto out;
	if (resp.status == 304) {
		*cursor_out = json_deep_copy(cursor);
		goto done;
	}
	if (resp.status != 200) {
		rc = pos_fetch_status_err(resp.status, "the calendar URL", err);
		goto out;
	}
	pos_ics_hash_hex(resp.body.data, resp.body.len, hash);
	if (!(cursor && cursor_eq_str(cursor, "hash", hash) && same_window)) {
		rc = import_all(resp.body.data, resp.body.len, &w, sink, err);
		if (rc)
			goto out;
	}
	*cursor_out = json_pack("{s:s, s:s, s:I}", "etag", resp.etag, "hash", hash,
				"window", day);
done:
	if (!*cursor_out)
		rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
out:
	pos_fetch_resp_free(&resp);
	return rc;
}

const struct pos_sync_adapter pos_sync_ics_url = {
	.kind = "ics_url",
	.secret_keys = ics_url_secrets,
	.validate = url_validate,
	.run = url_run,
};
