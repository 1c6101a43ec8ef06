/*
 * memu.c — the MemU Cloud API v3 client (assistant/memu.h): request bodies
 * written with the streaming JSON writer, one transfer per call through the
 * one outbound client (net/http.h: operator trust, a small kept-alive pool), and lenient but careful reading of every
 * answer, since whatever MemU sends is untrusted input.
 */
#include "assistant/memu.h"

#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/json.h"
#include "net/http.h"

#ifndef POS_VERSION
#define POS_VERSION "dev"
#endif

#define MAX_URL 2048u
#define MAX_KEY 4096u
#define MAX_STATUS 64u
#define CONNECT_MS_CAP 5000L
#define POOL_SIZE 4

struct pos_memu {
	char *base;              /* base URL without trailing '/' */
	char *agent_id, *agent_name;
	long timeout_ms;
	char *headers[5];        /* NULL-terminated; read-only after creation */
	struct pos_http_pool *pool; /* kept-alive handles */
	atomic_llong retry_until;   /* monotonic µs: MemU's last Retry-After */
};

/* ---- small helpers ---- */

static void wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;
	while (n--)
		*v++ = 0;
}

/* Length of the well-formed UTF-8 sequence at p, 0 when there is none. */
static size_t utf8_seq(const unsigned char *p, size_t avail)
{
	unsigned char c = p[0];
	size_t need;
	if (c < 0x80)
		return 1;
	if (c < 0xC2)
		return 0;
	need = c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF5 ? 4 : 0;
	if (!need || avail < need)
		return 0;
	for (size_t i = 1; i < need; i++)
		if ((p[i] & 0xC0) != 0x80)
			return 0;
	if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0) ||
	    (c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90))
		return 0;
	return need;
}

static bool utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s);
	for (size_t i = 0; i < len;) {
		size_t k = utf8_seq(p + i, len - i);
		if (!k)
			return false;
		i += k;
	}
	return true;
}

/* Short, well-formed, no control bytes; empty only when allowed. */
static bool clean_string(const char *s, size_t max, bool allow_empty)
{
	if (!s)
		return allow_empty;
	size_t n = strnlen(s, max + 1);
	if (n > max || (!n && !allow_empty) || !utf8_valid(s))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static bool blank(const char *s)
{
	for (; *s; s++)
		if (!strchr(" \t\r\n\f\v", *s))
			return false;
	return true;
}

/* 1..max printable ASCII bytes: safe in a log line, a URL or a header. */
static bool printable(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);
	if (!n || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return false;
	return true;
}

/* A short identifier from an error body, safe to repeat in a message. */
static bool is_ident(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 48)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

static bool good_url(const char *u)
{
	if (!clean_string(u, MAX_URL, false) || strchr(u, ' '))
		return false;
	size_t skip = strncasecmp(u, "http://", 7) == 0 ? 7
		    : strncasecmp(u, "https://", 8) == 0 ? 8 : 0;
	return skip && u[skip] && u[skip] != '/';
}

/* ---- one request ---- */

struct xfer {
	struct pos_buf *resp;
	enum pos_err write_rc;
	long retry_after_s;      /* Retry-After in seconds, -1: none */
};

/* Retry-After: delta-seconds only (an HTTP date counts as none). */
static void on_header(void *arg, const char *line, size_t n)
{
	struct xfer *x = arg;
	static const char name[] = "retry-after:";
	if (n >= 5 && !strncmp(line, "HTTP/", 5)) {
		x->retry_after_s = -1; /* a new answer */
		return;
	}
	if (n <= sizeof(name) - 1 || strncasecmp(line, name, sizeof(name) - 1))
		return;
	size_t i = sizeof(name) - 1;
	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	long v = 0;
	size_t digits = 0;
	for (; i < n && line[i] >= '0' && line[i] <= '9' && digits < 9; i++, digits++)
		v = v * 10 + (line[i] - '0');
	if (digits)
		x->retry_after_s = v > POS_MEMU_RETRY_AFTER_MAX_S ? POS_MEMU_RETRY_AFTER_MAX_S : v;
}

static bool on_data(void *arg, long status, const char *p, size_t n)
{
	struct xfer *x = arg;
	enum pos_err rc = pos_buf_add(x->resp, p, n);
	if (rc) {
		x->write_rc = rc; /* the size cap is net/http's max_bytes */
		return false;
	}
	return true;
}

/* " (name)" from an error body when it holds a safe identifier: FastAPI's
 * detail[0].loc (the field at fault), else error.code/type or code. */
static void error_ident(const struct pos_buf *resp, char *out, size_t cap)
{
	out[0] = '\0';
	if (!resp->len)
		return;
	json_t *root = pos_json_parse(resp->data, resp->len, NULL);
	const char *id = NULL;
	json_t *detail = json_object_get(root, "detail");
	json_t *loc = json_object_get(json_array_get(detail, 0), "loc");
	if (json_is_array(loc) && json_array_size(loc))
		id = json_string_value(json_array_get(loc, json_array_size(loc) - 1));
	json_t *e = json_object_get(root, "error");
	if (!is_ident(id) && json_is_object(e))
		id = json_string_value(json_object_get(e, "code"));
	if (!is_ident(id) && json_is_object(e))
		id = json_string_value(json_object_get(e, "type"));
	if (!is_ident(id))
		id = json_string_value(json_object_get(root, "code"));
	if (is_ident(id))
		snprintf(out, cap, " (%s)", id);
	json_decref(root);
}

/*
 * Sends one request (POST with `body`, or GET when body is NULL) to
 * {base}{path} and leaves a 2xx answer in resp. Every other outcome is
 * mapped to the error kinds of memu.h. `not_found` is what a 404 gives.
 */
static enum pos_err call(struct pos_memu *m, const char *path,
			 const struct pos_buf *body, struct pos_buf *resp,
			 enum pos_err not_found, struct pos_error *err)
{
	struct pos_buf url;
	pos_buf_init(&url, MAX_URL * 2);
	if (pos_buf_adds(&url, m->base) || pos_buf_adds(&url, path)) {
		pos_buf_free(&url);
		return pos_error_set(err, POS_ERR_NOMEM, NULL, "MemU: out of memory");
	}
	struct xfer x = {resp, POS_OK, -1};
	long connect_ms = m->timeout_ms < CONNECT_MS_CAP ? m->timeout_ms
							 : CONNECT_MS_CAP;
	pos_buf_reset(resp);
	struct pos_http_req req = {
		.method = body ? "POST" : "GET", .url = url.data,
		.headers = (const char *const *)m->headers,
		.body = body ? (body->data ? body->data : "") : NULL,
		.body_len = body ? body->len : 0,
		.trust = POS_NET_OPERATOR, /* memu_base_url is the operator's */
		.connect_timeout_ms = connect_ms, .timeout_ms = m->timeout_ms,
		.max_bytes = POS_MEMU_MAX_RESPONSE,
		.on_data = on_data, .on_header = on_header, .ctx = &x,
	};
	struct pos_http_resp hr;
	struct pos_error herr = {0};
	enum pos_err hrc = pos_http_perform(m->pool, &req, &hr, &herr);
	long status = hr.status;
	enum pos_http_fail fail = hr.fail;
	pos_http_resp_free(&hr);
	pos_buf_free(&url);

	if (fail == POS_HTTP_NOMEM || x.write_rc == POS_ERR_NOMEM)
		return pos_error_set(err, POS_ERR_NOMEM, NULL,
				     "MemU: out of memory reading the answer");
	if (fail == POS_HTTP_TOO_BIG || x.write_rc)
		return pos_error_set(err, POS_ERR_BAD_GATEWAY, NULL,
				     "MemU: answer larger than %u MiB",
				     POS_MEMU_MAX_RESPONSE >> 20);
	if (fail == POS_HTTP_TIMEOUT)
		return pos_error_set(err, POS_ERR_UNAVAILABLE, NULL,
				     "MemU: timed out after %ld ms", m->timeout_ms);
	if (hrc)
		return pos_error_set(err, POS_ERR_UNAVAILABLE, NULL,
				     "MemU: cannot reach the server: %.160s", herr.message);
	if (status >= 200 && status < 300)
		return POS_OK;

	char id[64];
	error_ident(resp, id, sizeof(id));
	if (status == 401 || status == 403)
		return pos_error_set(err, POS_ERR_BAD_GATEWAY, NULL,
				     "MemU rejected the API key (HTTP %ld)", status);
	if (status == 429 || status == 503)
		atomic_store(&m->retry_until,
			     x.retry_after_s > 0 ? pos_mono_us() + x.retry_after_s * 1000000LL : 0);
	if (status == 408 || status == 429 || status >= 500)
		return pos_error_set(err, POS_ERR_UNAVAILABLE, NULL, "MemU: HTTP %ld%s%s",
				     status, status == 429 ? " (rate limited)" : "", id);
	if (status == 404 && not_found == POS_ERR_NOT_FOUND)
		return pos_error_set(err, POS_ERR_NOT_FOUND, NULL,
				     "MemU: no such task (HTTP 404)");
	if (status >= 300 && status < 400)
		return pos_error_set(err, POS_ERR_BAD_GATEWAY, NULL,
				     "MemU: HTTP %ld: redirects are not followed, "
				     "check the base URL", status);
	return pos_error_set(err, POS_ERR_BAD_GATEWAY, NULL, "MemU: HTTP %ld%s", status, id);
}

/* The answer as JSON (a new reference), or NULL with BAD_GATEWAY set. */
static json_t *parse_answer(const struct pos_buf *resp, struct pos_error *err)
{
	json_t *root = resp->len ? pos_json_parse(resp->data, resp->len, NULL) : NULL;
	if (!root)
		pos_error_set(err, POS_ERR_BAD_GATEWAY, NULL,
			      "MemU: the answer is not JSON (is the base URL right?)");
	return root;
}

/* `root`, or its "data" member when root is an object holding none of
 * `keys` but a "data" object or array (some gateways wrap answers). */
static json_t *unwrap(json_t *root, const char *const *keys)
{
	if (!json_is_object(root))
		return root;
	for (; *keys; keys++)
		if (json_object_get(root, *keys))
			return root;
	json_t *d = json_object_get(root, "data");
	return json_is_object(d) || json_is_array(d) ? d : root;
}

/* Starts a body {"user_id":..,"agent_id":..., leaving the object open. */
static void body_start(struct pos_memu *m, struct pos_jw *w, struct pos_buf *b,
		       const char *user_id)
{
	pos_jw_init(w, b);
	pos_jw_obj(w);
	pos_jw_kstr(w, "user_id", user_id);
	pos_jw_kstr(w, "agent_id", m->agent_id);
}

static enum pos_err body_end(struct pos_jw *w, struct pos_error *err)
{
	pos_jw_obj_end(w);
	if (w->rc == POS_ERR_BODY_TOO_LARGE)
		return pos_error_set(err, POS_ERR_CONTENT_TOO_LARGE, NULL,
				     "MemU: the request would pass %u MiB",
				     POS_MEMU_MAX_REQUEST >> 20);
	if (w->rc)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, "MemU: out of memory");
	return POS_OK;
}

static enum pos_err check_user(const char *user_id, struct pos_error *err)
{
	if (!clean_string(user_id, POS_MEMU_MAX_ID, false))
		return pos_error_set(err, POS_ERR_INVALID_REQUEST, "user_id",
				     "MemU: user_id must be 1..%u bytes of text",
				     POS_MEMU_MAX_ID);
	return POS_OK;
}

static enum pos_err check_args(struct pos_memu *m, struct pos_arena *a,
			       struct pos_error *err)
{
	if (!m || !a)
		return pos_error_set(err, POS_ERR_INVALID_REQUEST, NULL,
				     "MemU: no client or arena");
	return POS_OK;
}

static char *arena_copy(struct pos_arena *a, const char *s, enum pos_err *rc)
{
	char *c = pos_arena_strdup(a, s);
	if (!c)
		*rc = POS_ERR_NOMEM;
	return c;
}

/* ---- public ---- */

int64_t pos_memu_retry_after_us(struct pos_memu *m)
{
	int64_t left = atomic_load(&m->retry_until) - pos_mono_us();
	return left > 0 ? left : 0;
}

enum pos_err pos_memu_new(const struct pos_memu_config *cfg, struct pos_memu **out,
			  struct pos_error *err)
{
	*out = NULL;
	if (!cfg)
		return pos_error_set(err, POS_ERR_INVALID_REQUEST, NULL, "MemU: no config");
	const char *base = cfg->base_url && cfg->base_url[0] ? cfg->base_url
							     : POS_MEMU_DEFAULT_BASE_URL;
	const char *agent_id = cfg->agent_id && cfg->agent_id[0]
			       ? cfg->agent_id : POS_MEMU_DEFAULT_AGENT_ID;
	const char *agent_name = cfg->agent_name && cfg->agent_name[0]
				 ? cfg->agent_name : POS_MEMU_DEFAULT_AGENT_NAME;
	if (!clean_string(cfg->api_key, MAX_KEY, false) || strchr(cfg->api_key, ' '))
		return pos_error_set(err, POS_ERR_INVALID_REQUEST, "api_key",
				     "MemU: the API key is missing or malformed");
	if (!good_url(base))
		return pos_error_set(err, POS_ERR_INVALID_REQUEST, "base_url",
				     "MemU: the base URL must be http(s)://host[:port][/path]");
	if (!clean_string(agent_id, POS_MEMU_MAX_ID, false))
		return pos_error_set(err, POS_ERR_INVALID_REQUEST, "agent_id",
				     "MemU: agent_id must be 1..%u bytes of text",
				     POS_MEMU_MAX_ID);
	if (!clean_string(agent_name, POS_MEMU_MAX_ID, false))
		return pos_error_set(err, POS_ERR_INVALID_REQUEST, "agent_name",
				     "MemU: agent_name must be 1..%u bytes of text",
				     POS_MEMU_MAX_ID);
	if (cfg->timeout_ms < 0 || cfg->timeout_ms > POS_MEMU_MAX_TIMEOUT_MS)
		return pos_error_set(err, POS_ERR_INVALID_REQUEST, "timeout_ms",
				     "MemU: timeout_ms must be 0..%ld",
				     POS_MEMU_MAX_TIMEOUT_MS);

	struct pos_memu *m = pos_calloc(1, sizeof(*m));
	if (!m)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, "MemU: out of memory");
	m->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : POS_MEMU_DEFAULT_TIMEOUT_MS;
	size_t blen = strlen(base);
	while (blen && base[blen - 1] == '/')
		blen--;
	struct pos_buf b;
	pos_buf_init(&b, MAX_KEY + 64);
	if (!(m->base = pos_strndup(base, blen)) ||
	    !(m->agent_id = pos_strdup(agent_id)) ||
	    !(m->agent_name = pos_strdup(agent_name)))
		goto fail;
	static const char *const fixed[] = {
		"Content-Type: application/json",
		"Accept: application/json",
		"Expect:", /* no 100-continue round trip */
	};
	size_t nh = 0;
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (!(m->headers[nh++] = pos_strdup(fixed[i])))
			goto fail;
	if (pos_buf_addf(&b, "Authorization: Bearer %s", cfg->api_key) ||
	    !(m->headers[nh++] = pos_strdup(b.data)))
		goto fail;
	wipe(b.data, b.len);
	pos_buf_free(&b);
	if (!(m->pool = pos_http_pool_new(POOL_SIZE)))
		goto fail;
	*out = m;
	return POS_OK;
fail:
	if (b.data)
		wipe(b.data, b.len);
	pos_buf_free(&b);
	pos_memu_free(m);
	return pos_error_set(err, POS_ERR_NOMEM, NULL, "MemU: out of memory");
}

void pos_memu_free(struct pos_memu *m)
{
	if (!m)
		return;
	pos_http_pool_free(m->pool);
	for (size_t i = 0; m->headers[i]; i++) {
		wipe(m->headers[i], strlen(m->headers[i]));
		pos_free(m->headers[i]);
	}
	pos_free(m->base);
	pos_free(m->agent_id);
	pos_free(m->agent_name);
	pos_free(m);
}

/* A task id from an answer: a printable string or an integer, in `a`. */
static const char *task_id_of(struct pos_arena *a, json_t *v, enum pos_err *rc)
{
	if (json_is_integer(v)) {
		char num[32];
		snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
		return arena_copy(a, num, rc);
	}
	const char *s = json_string_value(v);
	return s && printable(s, POS_MEMU_MAX_ID) ? arena_copy(a, s, rc) : NULL;
}

enum pos_err pos_memu_memorize(struct pos_memu *m, struct pos_arena *a,
			       const char *user_id, const char *user_name,
			       const struct pos_memu_turn *turns, size_t n,
			       const char *text, const char **task_id,
			       const char **status, struct pos_error *err)
{
	enum pos_err rc;
	if ((rc = check_args(m, a, err)) || (rc = check_user(user_id, err)))
		return rc;
	if (user_name && !clean_string(user_name, POS_MEMU_MAX_ID, true))
		return pos_error_set(err, POS_ERR_INVALID_REQUEST, "user_name",
				     "MemU: user_name must be at most %u bytes of text",
				     POS_MEMU_MAX_ID);
	if (n && !turns)
		return pos_error_set(err, POS_ERR_INVALID_REQUEST, "conversation",
				     "MemU: no turns");
	for (size_t i = 0; i < n; i++) {
		if (!clean_string(turns[i].role, POS_MEMU_MAX_ID, false))
			return pos_error_set(err, POS_ERR_INVALID_REQUEST, "role",
					     "MemU: turn %zu has no valid role", i);
		if (!turns[i].content || !utf8_valid(turns[i].content))
			return pos_error_set(err, POS_ERR_INVALID_REQUEST, "content",
					     "MemU: turn %zu has no valid UTF-8 content", i);
	}
	if (!n && (!text || !text[0] || blank(text) || !utf8_valid(text)))
		return pos_error_set(err, POS_ERR_INVALID_REQUEST, "conversation_text",
				     "MemU: nothing to memorize (no turns and no "
				     "valid UTF-8 text)");

	struct pos_buf body, resp;
	struct pos_jw w;
	json_t *root = NULL;
	pos_buf_init(&body, POS_MEMU_MAX_REQUEST);
	pos_buf_init(&resp, POS_MEMU_MAX_RESPONSE);
	body_start(m, &w, &body, user_id);
	if (user_name && user_name[0])
		pos_jw_kstr(&w, "user_name", user_name);
	pos_jw_kstr(&w, "agent_name", m->agent_name);
	if (n) {
		pos_jw_key(&w, "conversation");
		pos_jw_arr(&w);
		for (size_t i = 0; i < n; i++) {
			pos_jw_obj(&w);
			pos_jw_kstr(&w, "role", turns[i].role);
			pos_jw_kstr(&w, "content", turns[i].content);
			pos_jw_obj_end(&w);
		}
		pos_jw_arr_end(&w);
	} else {
		pos_jw_kstr(&w, "conversation_text", text);
	}
	if ((rc = body_end(&w, err)) ||
	    (rc = call(m, "/api/v3/memory/memorize", &body, &resp, POS_ERR_BAD_GATEWAY, err)))
		goto out;
	if (!(root = parse_answer(&resp, err))) {
		rc = POS_ERR_BAD_GATEWAY;
		goto out;
	}
	static const char *const keys[] = {"task_id", NULL};
	json_t *o = unwrap(root, keys);
	const char *tid = task_id_of(a, json_object_get(o, "task_id"), &rc);
	if (rc) {
		pos_error_set(err, rc, NULL, "MemU: out of memory");
		goto out;
	}
	if (!tid) {
		rc = pos_error_set(err, POS_ERR_BAD_GATEWAY, NULL,
				   "MemU: the memorize answer has no usable task_id");
		goto out;
	}
	const char *st = json_string_value(json_object_get(o, "status"));
	st = st && printable(st, MAX_STATUS) ? arena_copy(a, st, &rc) : "PENDING";
	if (rc) {
		pos_error_set(err, rc, NULL, "MemU: out of memory");
		goto out;
	}
	*task_id = tid;
	*status = st;
out:
	json_decref(root);
	pos_buf_free(&body);
	pos_buf_free(&resp);
	return rc;
}

enum pos_err pos_memu_task_status(struct pos_memu *m, struct pos_arena *a,
				  const char *task_id, const char **status,
				  struct pos_error *err)
{
	enum pos_err rc;
	if ((rc = check_args(m, a, err)))
		return rc;
	if (!clean_string(task_id, POS_MEMU_MAX_ID, false))
		return pos_error_set(err, POS_ERR_INVALID_REQUEST, "task_id",
				     "MemU: task_id must be 1..%u bytes of text",
				     POS_MEMU_MAX_ID);
	struct pos_buf path, resp;
	json_t *root = NULL;
	pos_buf_init(&path, MAX_URL);
	pos_buf_init(&resp, POS_MEMU_MAX_RESPONSE);
	/* The id came from MemU: escape it so it stays one path segment. */
	char *esc = curl_easy_escape(NULL, task_id, 0);
	if (!esc || pos_buf_adds(&path, "/api/v3/memory/memorize/status/") ||
	    pos_buf_adds(&path, esc)) {
		rc = pos_error_set(err, POS_ERR_NOMEM, NULL, "MemU: out of memory");
		goto out;
	}
	if ((rc = call(m, path.data, NULL, &resp, POS_ERR_NOT_FOUND, err)))
		goto out;
	if (!(root = parse_answer(&resp, err))) {
		rc = POS_ERR_BAD_GATEWAY;
		goto out;
	}
	static const char *const keys[] = {"status", NULL};
	const char *st = json_string_value(json_object_get(unwrap(root, keys), "status"));
	if (!st || !printable(st, MAX_STATUS)) {
		rc = pos_error_set(err, POS_ERR_BAD_GATEWAY, NULL,
				   "MemU: the task status answer has no usable status");
		goto out;
	}
	if (!(*status = arena_copy(a, st, &rc)))
		pos_error_set(err, rc, NULL, "MemU: out of memory");
out:
	curl_free(esc);
	json_decref(root);
	pos_buf_free(&path);
	pos_buf_free(&resp);
	return rc;
}

enum pos_memu_task_state pos_memu_status_kind(const char *status)
{
	static const char *const done[] = {"SUCCESS", "COMPLETED", "COMPLETE", "DONE"};
	static const char *const failed[] = {"FAILURE", "FAILED", "ERROR", "REVOKED",
					     "CANCELLED", "CANCELED"};
	if (!status)
		return POS_MEMU_TASK_PENDING;
	for (size_t i = 0; i < sizeof(done) / sizeof(done[0]); i++)
		if (!strcasecmp(status, done[i]))
			return POS_MEMU_TASK_DONE;
	for (size_t i = 0; i < sizeof(failed) / sizeof(failed[0]); i++)
		if (!strcasecmp(status, failed[i]))
			return POS_MEMU_TASK_FAILED;
	return POS_MEMU_TASK_PENDING;
}

/* ---- retrieve ---- */

enum kind { K_ITEM, K_CATEGORY, K_RESOURCE, K__COUNT };

static const char *const KIND_NAME[K__COUNT] = {"item", "category", "resource"};
/* NULL-terminated for unwrap(). */
static const char *const LIST_NAME[K__COUNT + 1] = {"items", "categories",
						     "resources", NULL};

/* Text fields tried in order, per kind. */
static const char *const TEXT_KEYS[K__COUNT][8] = {
	{"memory", "content", "summary", "text", "description", "name", NULL},
	{"summary", "content", "description", "text", "memory", "name", NULL},
	{"caption", "content", "summary", "text", "description", "memory", "name", NULL},
};
/* The field that names the category when no category_name/category does. */
static const char *const CAT_FALLBACK[K__COUNT] = {"memory_type", "name", "modality"};

struct found {
	json_t *entry;    /* borrowed from the parsed answer */
	const char *text; /* borrowed */
	enum kind kind;
	size_t pos;       /* index in MemU's list */
	double score;
};

static const char *nonblank_str(json_t *v)
{
	const char *s = json_string_value(v);
	return s && !blank(s) ? s : NULL;
}

static const char *entry_text(json_t *e, enum kind k)
{
	if (json_is_string(e))
		return nonblank_str(e);
	if (!json_is_object(e))
		return NULL;
	for (const char *const *key = TEXT_KEYS[k]; *key; key++) {
		const char *s = nonblank_str(json_object_get(e, *key));
		if (s)
			return s;
	}
	return NULL;
}

static double entry_score(json_t *e)
{
	static const char *const keys[] = {"score", "similarity", "relevance",
					   "relevance_score"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *v = json_object_get(e, keys[i]);
		if (json_is_number(v) && isfinite(json_number_value(v)))
			return json_number_value(v);
	}
	return 0;
}

static const char *entry_category(json_t *e, enum kind k)
{
	const char *s = nonblank_str(json_object_get(e, "category_name"));
	json_t *c = json_object_get(e, "category");
	if (!s)
		s = json_is_object(c) ? nonblank_str(json_object_get(c, "name"))
				      : nonblank_str(c);
	if (!s)
		s = nonblank_str(json_object_get(e, CAT_FALLBACK[k]));
	return s;
}

static int by_rank(const void *pa, const void *pb)
{
	const struct found *x = pa, *y = pb;
	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Turns the chosen entries into items in `a`. */
static enum pos_err emit(struct pos_arena *a, const struct found *f, size_t n,
			 struct pos_memu_item **items)
{
	struct pos_memu_item *out = pos_arena_zalloc(a, n * sizeof(*out));
	if (!out)
		return POS_ERR_NOMEM;
	enum pos_err rc = POS_OK;
	for (size_t i = 0; i < n; i++) {
		json_t *e = f[i].entry;
		out[i].kind = KIND_NAME[f[i].kind];
		out[i].score = f[i].score;
		out[i].text = arena_copy(a, f[i].text, &rc);
		if (json_is_object(e)) {
			json_t *id = json_object_get(e, "id");
			if (json_is_integer(id)) {
				char num[32];
				snprintf(num, sizeof(num), "%lld",
					 (long long)json_integer_value(id));
				out[i].id = arena_copy(a, num, &rc);
			} else if (nonblank_str(id)) {
				out[i].id = arena_copy(a, json_string_value(id), &rc);
			}
			const char *cat = entry_category(e, f[i].kind);
			if (cat)
				out[i].category = arena_copy(a, cat, &rc);
		}
		if (rc)
			return rc;
	}
	*items = out;
	return POS_OK;
}

enum pos_err pos_memu_retrieve(struct pos_memu *m, struct pos_arena *a,
			       const char *user_id, const char *query, size_t max,
			       struct pos_memu_item **items, size_t *n,
			       struct pos_error *err)
{
	enum pos_err rc;
	*items = NULL;
	*n = 0;
	if ((rc = check_args(m, a, err)) || (rc = check_user(user_id, err)))
		return rc;
	if (!query || blank(query) || !utf8_valid(query))
		return pos_error_set(err, POS_ERR_INVALID_REQUEST, "query",
				     "MemU: the query must be non-empty UTF-8 text");
	if (!max)
		return POS_OK;

	struct pos_buf body, resp;
	struct pos_jw w;
	json_t *root = NULL;
	struct found *f = NULL;
	pos_buf_init(&body, POS_MEMU_MAX_REQUEST);
	pos_buf_init(&resp, POS_MEMU_MAX_RESPONSE);
	body_start(m, &w, &body, user_id);
	pos_jw_kstr(&w, "query", query);
	if ((rc = body_end(&w, err)) ||
	    (rc = call(m, "/api/v3/memory/retrieve", &body, &resp, POS_ERR_BAD_GATEWAY, err)))
		goto out;
	if (!(root = parse_answer(&resp, err))) {
		rc = POS_ERR_BAD_GATEWAY;
		goto out;
	}
	json_t *lists[K__COUNT] = {NULL, NULL, NULL};
	json_t *o = unwrap(root, LIST_NAME);
	if (json_is_array(o)) {
		lists[K_ITEM] = o;
	} else if (json_is_object(o)) {
		for (int k = 0; k < K__COUNT; k++)
			if (json_is_array(json_object_get(o, LIST_NAME[k])))
				lists[k] = json_object_get(o, LIST_NAME[k]);
	} else {
		rc = pos_error_set(err, POS_ERR_BAD_GATEWAY, NULL,
				   "MemU: the retrieve answer is not an object");
		goto out;
	}
	size_t total = 0;
	for (int k = 0; k < K__COUNT; k++)
		total += json_array_size(lists[k]);
	if (!total)
		goto out;
	if (!(f = pos_malloc(total * sizeof(*f)))) {
		rc = pos_error_set(err, POS_ERR_NOMEM, NULL, "MemU: out of memory");
		goto out;
	}
	size_t got = 0;
	for (int k = 0; k < K__COUNT; k++) {
		size_t i;
		json_t *e;
		json_array_foreach(lists[k], i, e) {
			const char *text = entry_text(e, (enum kind)k);
			if (!text)
				continue;
			f[got++] = (struct found){e, text, (enum kind)k, i,
						  json_is_object(e) ? entry_score(e) : 0};
		}
	}
	qsort(f, got, sizeof(*f), by_rank);
	if (got > max)
		got = max;
	if (got && (rc = emit(a, f, got, items))) {
		*items = NULL;
		pos_error_set(err, rc, NULL, "MemU: out of memory");
		goto out;
	}
	*n = got;
out:
	pos_free(f);
	json_decref(root);
	pos_buf_free(&body);
	pos_buf_free(&resp);
	return rc;
}

/* ---- categories and delete ---- */

enum pos_err pos_memu_categories(struct pos_memu *m, struct pos_arena *a,
				 const char *user_id, const char ***names, size_t *n,
				 struct pos_error *err)
{
	enum pos_err rc;
	*names = NULL;
	*n = 0;
	if ((rc = check_args(m, a, err)) || (rc = check_user(user_id, err)))
		return rc;
	struct pos_buf body, resp;
	struct pos_jw w;
	json_t *root = NULL;
	pos_buf_init(&body, POS_MEMU_MAX_REQUEST);
	pos_buf_init(&resp, POS_MEMU_MAX_RESPONSE);
	body_start(m, &w, &body, user_id);
	if ((rc = body_end(&w, err)) ||
	    (rc = call(m, "/api/v3/memory/categories", &body, &resp, POS_ERR_BAD_GATEWAY, err)))
		goto out;
	if (!(root = parse_answer(&resp, err))) {
		rc = POS_ERR_BAD_GATEWAY;
		goto out;
	}
	static const char *const keys[] = {"categories", NULL};
	json_t *o = unwrap(root, keys);
	json_t *list = json_is_array(o) ? o : json_object_get(o, "categories");
	if (!json_is_array(o) && !json_is_object(o)) {
		rc = pos_error_set(err, POS_ERR_BAD_GATEWAY, NULL,
				   "MemU: the categories answer is not an object");
		goto out;
	}
	size_t total = json_array_size(list); /* 0 when not an array */
	if (!total)
		goto out;
	const char **out = pos_arena_alloc(a, total * sizeof(*out));
	if (!out) {
		rc = pos_error_set(err, POS_ERR_NOMEM, NULL, "MemU: out of memory");
		goto out;
	}
	size_t got = 0, i;
	json_t *e;
	json_array_foreach(list, i, e) {
		const char *s = nonblank_str(e);
		if (!s && json_is_object(e)) {
			s = nonblank_str(json_object_get(e, "name"));
			if (!s)
				s = nonblank_str(json_object_get(e, "title"));
		}
		if (!s)
			continue;
		if (!(out[got++] = arena_copy(a, s, &rc))) {
			pos_error_set(err, rc, NULL, "MemU: out of memory");
			goto out;
		}
	}
	if (got) {
		*names = out;
		*n = got;
	}
out:
	json_decref(root);
	pos_buf_free(&body);
	pos_buf_free(&resp);
	return rc;
}

enum pos_err pos_memu_delete(struct pos_memu *m, const char *user_id,
			     struct pos_error *err)
{
	enum pos_err rc;
	if (!m)
		return pos_error_set(err, POS_ERR_INVALID_REQUEST, NULL, "MemU: no client");
	if ((rc = check_user(user_id, err)))
		return rc;
	struct pos_buf body, resp;
	struct pos_jw w;
	pos_buf_init(&body, POS_MEMU_MAX_REQUEST);
	pos_buf_init(&resp, POS_MEMU_MAX_RESPONSE);
	body_start(m, &w, &body, user_id);
	if ((rc = body_end(&w, err)) ||
	    (rc = call(m, "/api/v3/memory/delete", &body, &resp, POS_ERR_BAD_GATEWAY, err)))
		goto out;
	bool empty = true;
	for (size_t i = 0; i < resp.len && empty; i++)
		empty = strchr(" \t\r\n", resp.data[i]) && resp.data[i];
	json_t *root = empty ? NULL : parse_answer(&resp, err);
	if (!empty && !root)
		rc = POS_ERR_BAD_GATEWAY;
	json_decref(root);
out:
	pos_buf_free(&body);
	pos_buf_free(&resp);
	return rc;
}
