/*
 * fetch.c — one exchange for the calendar adapters over net/http (see fetch.h).
 */
#include "sync/fetch.h"

#include "net/http.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

struct fetch_ctx {
	struct pos_fetch_resp *resp;
	const struct pos_sync_sink *sink;
};

/* Keeps the ETag of the last answer (a redirect or 100 starts a new one). */
static void on_header(void *ud, const char *p, size_t len)
{
	struct pos_fetch_resp *resp = ((struct fetch_ctx *)ud)->resp;
	if (len > 5 && strncasecmp(p, "ETag:", 5) == 0) {
		const char *v = p + 5;
		size_t vl = len - 5;
		while (vl && (*v == ' ' || *v == '\t'))
			v++, vl--;
		while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' ||
			      v[vl - 1] == ' '))
			vl--;
		if (vl < sizeof(resp->etag)) {
			memcpy(resp->etag, v, vl);
			resp->etag[vl] = '\0';
		}
	} else if (len >= 5 && strncasecmp(p, "HTTP/", 5) == 0) {
		resp->etag[0] = '\0';
	}
}

static bool run_cancelled(void *ud)
{
	const struct pos_sync_sink *sink = ((struct fetch_ctx *)ud)->sink;
	return sink && sink->cancelled && sink->cancelled(sink->ctx);
}

bool pos_fetch_url_ok(const char *url)
{
	return pos_http_url_ok(url);
}

enum pos_err pos_fetch(const struct pos_fetch_req *req,
		       struct pos_fetch_resp *resp, struct pos_error *err)
{
	const char *method = req->method ? req->method : "GET";
	struct fetch_ctx fc = {resp, req->sink};
	struct pos_http_resp hr;
	memset(resp, 0, sizeof(*resp));
	struct pos_http_req h = {
		.method = method, .url = req->url, .headers = req->headers,
		.body = req->body, .body_len = req->body_len,
		.user = req->user, .password = req->password, .bearer = req->token,
		.trust = POS_NET_USER,
		.egress = req->sink ? req->sink->egress : NULL,
		.connect_timeout_ms = 15000,
		.timeout_ms = (req->timeout_s ? req->timeout_s : POS_FETCH_TIMEOUT_S) * 1000L,
		.max_bytes = req->max_bytes ? req->max_bytes : (64u << 20),
		.max_redirects = strcmp(method, "GET") == 0 ? POS_FETCH_REDIRECTS : 0,
		.on_header = on_header,
		.cancelled = run_cancelled,
		.ctx = &fc,
	};
	enum pos_err rc = pos_http_perform(NULL, &h, &hr, err);
	/* the body moves over: its buffer handle is copied, not its bytes */
	resp->body = hr.body;
	resp->status = hr.status;
	snprintf(resp->effective_url, sizeof(resp->effective_url), "%s", hr.url);
	return rc;
}

void pos_fetch_resp_free(struct pos_fetch_resp *resp)
{
	pos_buf_free(&resp->body);
}

enum pos_err pos_fetch_status_err(long status, const char *what,
				  struct pos_error *err)
{
	if (status == 401)
		return pos_error_set(err, POS_ERR_BAD_CREDENTIALS, NULL,
				     "authentication failed at %s (HTTP 401): "
				     "check the user and password", what);
	if (status == 403)
		return pos_error_set(err, POS_ERR_FORBIDDEN, NULL,
				     "access to %s denied (HTTP 403)", what);
	if (status == 404)
		return pos_error_set(err, POS_ERR_NOT_FOUND, NULL,
				     "%s not found (HTTP 404)", what);
	if (status >= 500)
		return pos_error_set(err, POS_ERR_UNAVAILABLE, NULL,
				     "%s failed with HTTP %ld", what, status);
	return pos_error_set(err, POS_ERR_BAD_GATEWAY, NULL,
			     "%s answered HTTP %ld", what, status);
}
