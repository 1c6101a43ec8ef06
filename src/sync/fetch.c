/*
 * fetch.c — one libcurl exchange for the calendar adapters (see fetch.h).
 */
#include "sync/fetch.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct sink_ctx {
	struct pos_fetch_resp *resp;
	bool too_big;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct sink_ctx *s = ud;
	size_t len = size * n;
	if (pos_buf_add(&s->resp->body, p, len)) {
		s->too_big = true;
		return 0;
	}
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct sink_ctx *s = ud;
	size_t len = size * n;
	if (len > 5 && strncasecmp(p, "ETag:", 5) == 0) {
		const char *v = p + 5;
		size_t vl = len - 5;
		while (vl && (*v == ' ' || *v == '\t'))
			v++, vl--;
		while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' ||
			      v[vl - 1] == ' '))
			vl--;
		if (vl < sizeof(s->resp->etag)) {
			memcpy(s->resp->etag, v, vl);
			s->resp->etag[vl] = '\0';
		}
	} else if (len >= 5 && strncasecmp(p, "HTTP/", 5) == 0) {
		s->resp->etag[0] = '\0'; /* a new response (redirect, 100) */
	}
	return len;
}

bool pos_fetch_url_ok(const char *url)
{
	if (!url || (strncasecmp(url, "http://", 7) != 0 &&
		     strncasecmp(url, "https://", 8) != 0))
		return false;
	for (const unsigned char *p = (const unsigned char *)url; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			return false;
	return strlen(url) < 2048;
}

static void host_of(const char *url, char *out, size_t cap)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	const char *at = strchr(p, '@');
	const char *slash = strchr(p, '/');
	if (at && (!slash || at < slash))
		p = at + 1; /* never echo user:password@ */
	size_t n = strcspn(p, "/?#");
	snprintf(out, cap, "%.*s", (int)(n < 200 ? n : 200), p);
}

/* Aborts the transfer once the caller's run is cancelled or out of time. */
static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	const struct pos_fetch_req *req = ud;
	return req->cancelled(req->cancel_ctx) ? 1 : 0;
}

enum pos_err pos_fetch(const struct pos_fetch_req *req,
		       struct pos_fetch_resp *resp, struct pos_error *err)
{
	struct curl_slist *hdrs = NULL;
	struct sink_ctx sc = {resp, false};
	enum pos_err rc = POS_OK;
	char host[256], errbuf[CURL_ERROR_SIZE] = "";

	memset(resp, 0, sizeof(*resp));
	pos_buf_init(&resp->body, req->max_bytes ? req->max_bytes : (64u << 20));
	if (!pos_fetch_url_ok(req->url))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "url",
				     "url must be an http:// or https:// URL");
	host_of(req->url, host, sizeof(host));
	CURL *h = curl_easy_init();
	if (!h)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	for (const char *const *p = req->headers; p && *p; p++) {
		struct curl_slist *n = curl_slist_append(hdrs, *p);
		if (!n) {
			rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
			goto out;
		}
		hdrs = n;
	}
	curl_easy_setopt(h, CURLOPT_URL, req->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "PersonalOS/" POS_VERSION);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 15L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT,
			 req->timeout_s ? req->timeout_s : (long)POS_FETCH_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	if (!req->method || strcmp(req->method, "GET") == 0) {
		curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
	} else {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
	}
	if (req->body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)req->body_len);
	}
	if (req->token && *req->token) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
		curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, req->token);
	} else if (req->user && *req->user) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC | CURLAUTH_DIGEST);
		curl_easy_setopt(h, CURLOPT_USERNAME, req->user);
		curl_easy_setopt(h, CURLOPT_PASSWORD,
				 req->password ? req->password : "");
	}
	if (hdrs)
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &sc);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &sc);

	if (req->cancelled) {
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)req);
	}
	CURLcode cc = curl_easy_perform(h);
	if (cc == CURLE_ABORTED_BY_CALLBACK) {
		rc = pos_error_set(err, POS_ERR_UNAVAILABLE, NULL, "sync cancelled");
		goto out;
	}
	if (sc.too_big) {
		rc = pos_error_set(err, POS_ERR_BAD_GATEWAY, NULL,
				   "%s answered more than %zu bytes", host,
				   resp->body.max);
		goto out;
	}
	if (cc != CURLE_OK) {
		const char *kind = "cannot reach";
		if (cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_PEER_FAILED_VERIFICATION ||
		    cc == CURLE_SSL_CERTPROBLEM || cc == CURLE_SSL_CACERT_BADFILE)
			kind = "TLS failure with";
		else if (cc == CURLE_OPERATION_TIMEDOUT)
			kind = "timed out talking to";
		else if (cc == CURLE_GOT_NOTHING || cc == CURLE_WEIRD_SERVER_REPLY ||
			 cc == CURLE_RECV_ERROR)
			kind = "no valid HTTP answer from";
		rc = pos_error_set(err, POS_ERR_UNAVAILABLE, NULL, "%s %s: %s",
				   kind, host,
				   errbuf[0] ? errbuf : curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
	char *eff = NULL;
	curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &eff);
	if (eff)
		snprintf(resp->effective_url, sizeof(resp->effective_url), "%s", eff);
	/* The body is text for every caller: keep it NUL-terminated. */
	if (pos_buf_addc(&resp->body, '\0')) {
		rc = pos_error_set(err, POS_ERR_BAD_GATEWAY, NULL,
				   "%s answered too much", host);
		goto out;
	}
	resp->body.len--;
out:
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
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
