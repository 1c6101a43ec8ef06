/*
 * http.c — the one outbound HTTP client: libcurl easy handles with the
 * egress check in the socket-open callback, redirects followed hop by hop,
 * caps, timeouts, cancellation and user-safe errors (see http.h).
 */
#include "net/http.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"

/* ---- the egress check ---- */

static unsigned sa_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

static curl_socket_t open_socket(void *clientp, curlsocktype purpose,
				 struct curl_sockaddr *a)
{
	struct pos_http_easy *e = clientp;
	const struct sockaddr *sa = &a->addr;
	bool ok = purpose == CURLSOCKTYPE_IPCXN &&
		  (sa->sa_family == AF_INET || sa->sa_family == AF_INET6);
	/* An operator's endpoint: its own host and port, wherever they are. */
	bool trusted = ok && e->trust == POS_NET_OPERATOR && e->port &&
		       sa_port(sa) == e->port;
	if (ok && !trusted && !pos_egress_allows(e->egress, e->host, sa)) {
		e->denied = true;
		pos_warn("egress: refused a connection to %.200s port %u (egress_allow)",
			 e->host, sa_port(sa));
		ok = false;
	}
	if (!ok)
		return CURL_SOCKET_BAD;
	return socket(a->family, a->socktype, a->protocol);
}

/* Options every handle gets, before the caller's. */
static void base_options(struct pos_http_easy *e, const char *protocols)
{
	CURL *h = e->curl;
	curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, e);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, protocols);
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, protocols);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	/* "" disables proxies even from the environment: the check must see
	 * the destination, not a proxy. */
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
}

/* ---- host and port of a URL ---- */

static bool url_target(const char *url, char *host, size_t cap, unsigned *port,
		       bool *https)
{
	CURLU *u = curl_url();
	char *h = NULL, *p = NULL, *s = NULL;
	bool ok = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
		  curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK &&
		  curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) == CURLUE_OK &&
		  curl_url_get(u, CURLUPART_SCHEME, &s, 0) == CURLUE_OK;
	if (ok) {
		const char *hv = h;
		size_t hl = strlen(hv);
		if (hl > 1 && hv[0] == '[' && hv[hl - 1] == ']') {
			hv++;
			hl -= 2;
		}
		ok = hl && hl < cap && strlen(p) <= 5;
		if (ok) {
			memcpy(host, hv, hl);
			host[hl] = '\0';
			*port = (unsigned)strtoul(p, NULL, 10);
			*https = strcasecmp(s, "https") == 0;
			ok = *https || strcasecmp(s, "http") == 0;
		}
	}
	curl_free(h);
	curl_free(p);
	curl_free(s);
	curl_url_cleanup(u);
	return ok;
}

bool pos_http_url_ok(const char *url)
{
	if (!url || (strncasecmp(url, "http://", 7) != 0 &&
		     strncasecmp(url, "https://", 8) != 0))
		return false;
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)url; *p; p++, n++)
		if (*p <= ' ' || *p == 0x7f)
			return false;
	if (n >= POS_HTTP_URL_MAX)
		return false;
	char host[256];
	unsigned port;
	bool https;
	return url_target(url, host, sizeof(host), &port, &https);
}

/* ---- errors ---- */

static enum pos_http_fail classify(CURLcode cc, const struct pos_http_easy *e)
{
	if (e->denied)
		return POS_HTTP_DENIED;
	switch (cc) {
	case CURLE_OK:
		return POS_HTTP_OK;
	case CURLE_OUT_OF_MEMORY:
		return POS_HTTP_NOMEM;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		return POS_HTTP_CONNECT;
	case CURLE_OPERATION_TIMEDOUT:
		return POS_HTTP_TIMEOUT;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_USE_SSL_FAILED:
		return POS_HTTP_TLS;
	default:
		return POS_HTTP_PROTOCOL;
	}
}

static enum pos_err fail_error(enum pos_http_fail f, const char *what,
			       size_t max_bytes, struct pos_error *err)
{
	switch (f) {
	case POS_HTTP_OK:
		return POS_OK;
	case POS_HTTP_DENIED:
		return pos_error_set(err, POS_ERR_FORBIDDEN, NULL,
				     "%s is not allowed by the server's egress policy", what);
	case POS_HTTP_CONNECT:
		return pos_error_set(err, POS_ERR_UNAVAILABLE, NULL,
				     "could not connect to %s", what);
	case POS_HTTP_TLS:
		return pos_error_set(err, POS_ERR_UNAVAILABLE, NULL,
				     "TLS failure with %s", what);
	case POS_HTTP_TIMEOUT:
		return pos_error_set(err, POS_ERR_UNAVAILABLE, NULL,
				     "%s did not answer in time", what);
	case POS_HTTP_TOO_BIG:
		return pos_error_set(err, POS_ERR_BAD_GATEWAY, NULL,
				     "%s answered more than %zu bytes", what, max_bytes);
	case POS_HTTP_CANCELLED:
		return pos_error_set(err, POS_ERR_UNAVAILABLE, NULL, "cancelled");
	case POS_HTTP_ABORTED:
		return pos_error_set(err, POS_ERR_BAD_GATEWAY, NULL,
				     "the answer of %s was not accepted", what);
	case POS_HTTP_REDIRECTS:
		return pos_error_set(err, POS_ERR_BAD_GATEWAY, NULL,
				     "%s redirected too often or to an unsupported URL", what);
	case POS_HTTP_NOMEM:
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	case POS_HTTP_PROTOCOL:
	default:
		return pos_error_set(err, POS_ERR_BAD_GATEWAY, NULL,
				     "no valid answer from %s", what);
	}
}

enum pos_err pos_http_easy_init(struct pos_http_easy *e, const char *host,
				unsigned port, const char *protocols,
				enum pos_net_trust trust,
				const struct pos_egress *egress,
				struct pos_error *err)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->host, sizeof(e->host), "%s", host ? host : "");
	e->port = port;
	e->trust = trust;
	e->egress = egress;
	e->curl = curl_easy_init();
	if (!e->curl)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	base_options(e, protocols);
	return POS_OK;
}

void pos_http_easy_cleanup(struct pos_http_easy *e)
{
	if (e->curl)
		curl_easy_cleanup(e->curl);
	e->curl = NULL;
}

enum pos_err pos_http_easy_fail(const struct pos_http_easy *e, CURLcode cc,
				const char *what, struct pos_error *err)
{
	pos_info("net: %.200s: curl error %d", e->host, (int)cc);
	if (cc == CURLE_LOGIN_DENIED && !e->denied)
		return pos_error_set(err, POS_ERR_BAD_CREDENTIALS, NULL,
				     "login to %s failed: wrong user, password or token", what);
	if (cc == CURLE_USE_SSL_FAILED)
		return pos_error_set(err, POS_ERR_UNAVAILABLE, NULL,
				     "%s does not offer STARTTLS", what);
	return fail_error(classify(cc, e), what, 0, err);
}

/* ---- the pool ---- */

struct pos_http_pool {
	pthread_mutex_t mu;
	unsigned size, n;
	CURL *idle[];
};

struct pos_http_pool *pos_http_pool_new(unsigned size)
{
	struct pos_http_pool *p = pos_calloc(1, sizeof(*p) + size * sizeof(CURL *));
	if (!p)
		return NULL;
	pthread_mutex_init(&p->mu, NULL);
	p->size = size;
	return p;
}

void pos_http_pool_free(struct pos_http_pool *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < p->n; i++)
		curl_easy_cleanup(p->idle[i]);
	pthread_mutex_destroy(&p->mu);
	pos_free(p);
}

static CURL *pool_get(struct pos_http_pool *p)
{
	CURL *h = NULL;
	if (p) {
		pthread_mutex_lock(&p->mu);
		if (p->n)
			h = p->idle[--p->n];
		pthread_mutex_unlock(&p->mu);
	}
	return h ? h : curl_easy_init();
}

/* Back to the pool; curl_easy_reset keeps the live connections. */
static void pool_put(struct pos_http_pool *p, CURL *h)
{
	if (!h)
		return;
	curl_easy_reset(h);
	if (p) {
		pthread_mutex_lock(&p->mu);
		if (p->n < p->size) {
			p->idle[p->n++] = h;
			h = NULL;
		}
		pthread_mutex_unlock(&p->mu);
	}
	if (h)
		curl_easy_cleanup(h);
}

/* ---- one exchange ---- */

struct xfer {
	const struct pos_http_req *req;
	struct pos_http_resp *resp;
	struct pos_http_easy e;
	size_t max;
	size_t got;              /* body bytes of the answer being delivered */
	bool follow;             /* this hop's 3xx will be followed */
	bool too_big, aborted, cancelled, late;
};

static bool is_redirect(long status)
{
	return status == 301 || status == 302 || status == 303 ||
	       status == 307 || status == 308;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * n;
	long status = 0;
	curl_easy_getinfo(x->e.curl, CURLINFO_RESPONSE_CODE, &status);
	if (x->follow && is_redirect(status))
		return len; /* the body of a redirect we follow: dropped */
	if (len > x->max - x->got) {
		x->too_big = true;
		return 0;
	}
	x->got += len;
	if (x->req->on_data) {
		if (!x->req->on_data(x->req->ctx, status, p, len)) {
			x->aborted = true;
			return 0;
		}
		return len;
	}
	if (pos_buf_add(&x->resp->body, p, len)) {
		x->too_big = true;
		return 0;
	}
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	if (x->req->on_header)
		x->req->on_header(x->req->ctx, p, size * n);
	return size * n;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut,
		       curl_off_t un)
{
	struct xfer *x = ud;
	if (x->req->cancelled && x->req->cancelled(x->req->ctx)) {
		x->cancelled = true;
		return 1;
	}
	if (x->req->deadline_us && pos_mono_us() >= x->req->deadline_us) {
		x->late = true;
		return 1;
	}
	return 0;
}

/* A slist of the caller's headers, without credentials when `cross`. */
static enum pos_err build_headers(const char *const *in, bool cross,
				  struct curl_slist **out)
{
	*out = NULL;
	for (const char *const *p = in; p && *p; p++) {
		if (cross && (strncasecmp(*p, "Authorization:", 14) == 0 ||
			      strncasecmp(*p, "Cookie:", 7) == 0 ||
			      strncasecmp(*p, "Proxy-Authorization:", 20) == 0))
			continue;
		struct curl_slist *n = curl_slist_append(*out, *p);
		if (!n) {
			curl_slist_free_all(*out);
			*out = NULL;
			return POS_ERR_NOMEM;
		}
		*out = n;
	}
	return POS_OK;
}

/* Sets the options of one hop to `url`; `cross`: it left the origin. */
static enum pos_err hop_options(struct xfer *x, const char *url, bool cross,
				int64_t started, struct curl_slist **hdrs)
{
	const struct pos_http_req *req = x->req;
	CURL *h = x->e.curl;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_slist_free_all(*hdrs);
	if (build_headers(req->headers, cross, hdrs))
		return POS_ERR_NOMEM;
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
	if (!cross && req->bearer && *req->bearer) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
		curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, req->bearer);
	} else if (!cross && req->user && *req->user) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC | CURLAUTH_DIGEST);
		curl_easy_setopt(h, CURLOPT_USERNAME, req->user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, req->password ? req->password : "");
	} else {
		curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, NULL);
		curl_easy_setopt(h, CURLOPT_USERNAME, NULL);
		curl_easy_setopt(h, CURLOPT_PASSWORD, NULL);
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
	}
	long total = req->timeout_ms ? req->timeout_ms : POS_HTTP_TIMEOUT_MS_DEFAULT;
	int64_t now = pos_mono_us();
	int64_t left_ms = total - (now - started) / 1000;
	if (req->deadline_us) {
		int64_t dl = (req->deadline_us - now) / 1000;
		if (dl < left_ms)
			left_ms = dl;
	}
	if (left_ms < 1)
		left_ms = 1;
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)left_ms);
	return POS_OK;
}

enum pos_err pos_http_perform(struct pos_http_pool *pool,
			      const struct pos_http_req *req,
			      struct pos_http_resp *resp, struct pos_error *err)
{
	struct xfer x = {.req = req, .resp = resp};
	struct curl_slist *hdrs = NULL;
	enum pos_err rc = POS_OK;
	char origin_host[256];
	unsigned origin_port = 0;
	bool origin_https = false;

	memset(resp, 0, sizeof(*resp));
	x.max = req->max_bytes ? req->max_bytes : POS_HTTP_MAX_BYTES_DEFAULT;
	pos_buf_init(&resp->body, x.max + 1);
	if (!pos_http_url_ok(req->url) ||
	    !url_target(req->url, origin_host, sizeof(origin_host), &origin_port,
			&origin_https))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "url",
				     "url must be an http:// or https:// URL");
	snprintf(resp->url, sizeof(resp->url), "%s", req->url);
	snprintf(resp->host, sizeof(resp->host), "%s", origin_host);

	x.e.curl = pool_get(pool);
	if (!x.e.curl)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	x.e.egress = req->egress;
	x.e.trust = req->trust;
	snprintf(x.e.host, sizeof(x.e.host), "%s", origin_host);
	x.e.port = origin_port;
	base_options(&x.e, "http,https");

	CURL *h = x.e.curl;
	const char *method = req->method ? req->method : req->body ? "POST" : "GET";
	bool getlike = !strcmp(method, "GET") || !strcmp(method, "HEAD");
	if (!strcmp(method, "HEAD"))
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (req->body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	} else if (!strcmp(method, "POST")) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
	}
	curl_easy_setopt(h, CURLOPT_USERAGENT, "PersonalOS/" POS_VERSION);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
			 req->connect_timeout_ms ? req->connect_timeout_ms
						 : (long)POS_HTTP_CONNECT_MS_DEFAULT);
	if (req->idle_timeout_s > 0) {
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, req->idle_timeout_s);
	}
	if (req->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, req->ca_file);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);

	unsigned max_redirs = req->max_redirects < POS_HTTP_REDIRECTS_MAX
		? req->max_redirects : POS_HTTP_REDIRECTS_MAX;
	int64_t started = pos_mono_us();
	char url[POS_HTTP_URL_MAX];
	snprintf(url, sizeof(url), "%s", req->url);
	bool cross = false;
	for (unsigned hop = 0;; hop++) {
		x.follow = getlike && hop < max_redirs;
		x.got = 0;
		pos_buf_reset(&resp->body);
		if (hop_options(&x, url, cross, started, &hdrs)) {
			resp->fail = POS_HTTP_NOMEM;
			break;
		}
		CURLcode cc = curl_easy_perform(h);
		resp->status = 0;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
		if (cc != CURLE_OK) {
			resp->fail = x.too_big ? POS_HTTP_TOO_BIG
				: x.aborted ? POS_HTTP_ABORTED
				: x.cancelled ? POS_HTTP_CANCELLED
				: x.late ? POS_HTTP_TIMEOUT
				: classify(cc, &x.e);
			if (resp->fail != POS_HTTP_DENIED && resp->fail != POS_HTTP_ABORTED &&
			    resp->fail != POS_HTTP_CANCELLED)
				pos_info("net: %.200s: curl error %d", x.e.host, (int)cc);
			break;
		}
		if (!(x.follow && is_redirect(resp->status)))
			break;
		char *loc = NULL;
		curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &loc);
		char nhost[256];
		unsigned nport;
		bool nhttps;
		if (!loc || !pos_http_url_ok(loc) ||
		    !url_target(loc, nhost, sizeof(nhost), &nport, &nhttps)) {
			resp->fail = POS_HTTP_REDIRECTS;
			break;
		}
		snprintf(url, sizeof(url), "%s", loc);
		snprintf(resp->url, sizeof(resp->url), "%s", url);
		snprintf(resp->host, sizeof(resp->host), "%s", nhost);
		cross = cross || nport != origin_port || nhttps != origin_https ||
			strcasecmp(nhost, origin_host) != 0;
		snprintf(x.e.host, sizeof(x.e.host), "%s", nhost);
		/* Operator trust covers the configured endpoint only. */
		x.e.port = cross ? 0 : origin_port;
	}
	if (!resp->fail && !x.follow && getlike && max_redirs &&
	    is_redirect(resp->status))
		resp->fail = POS_HTTP_REDIRECTS; /* ran out of hops */
	if (resp->fail) {
		rc = fail_error(resp->fail, resp->host, x.max, err);
	} else if (!req->on_data && pos_buf_addc(&resp->body, '\0') == POS_OK) {
		resp->body.len--;
	} else if (!req->on_data) {
		rc = fail_error(resp->fail = POS_HTTP_TOO_BIG, resp->host, x.max, err);
	}
	curl_slist_free_all(hdrs);
	/* a handle that was refused or failed is not kept for reuse */
	if (resp->fail)
		curl_easy_cleanup(h);
	else
		pool_put(pool, h);
	return rc;
}

void pos_http_resp_free(struct pos_http_resp *resp)
{
	pos_buf_free(&resp->body);
}
