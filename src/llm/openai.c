/*
 * openai.c — the OpenAI-compatible chat provider: POST {base}/chat/completions
 * through the one outbound client (net/http.h), streamed (SSE) or not, and the provider table of llm.h.
 */
#include "llm/llm.h"
#include "net/http.h"

#include <jansson.h>
#include <string.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/json.h"

struct pos_llm {
	bool builtin;
	char *url;          /* base, no trailing slash */
	char *endpoint;     /* base + "/chat/completions" */
	char *model;
	char *auth_header;  /* "Authorization: Bearer ..." or NULL */
	char name[192];
	unsigned timeout_s, connect_timeout_s, idle_timeout_s;
};

static char *dup_or_null(const char *s)
{
	return s ? pos_strdup(s) : NULL;
}

enum pos_err pos_llm_new(const struct pos_llm_config *cfg, struct pos_llm **out,
			 struct pos_error *err)
{
	struct pos_llm *l = pos_calloc(1, sizeof(*l));
	if (!l)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	if (!cfg->url || !cfg->url[0]) {
		l->builtin = true;
		snprintf(l->name, sizeof(l->name), "builtin");
		l->url = pos_strdup("");
		*out = l;
		return l->url ? POS_OK : (pos_llm_free(l), pos_error_set(err, POS_ERR_NOMEM, NULL, NULL));
	}
	if (strncmp(cfg->url, "http://", 7) != 0 && strncmp(cfg->url, "https://", 8) != 0) {
		pos_free(l);
		return pos_error_set(err, POS_ERR_USAGE, "llm_url",
				     "llm_url must start with http:// or https://");
	}
	if (!cfg->model || !cfg->model[0]) {
		pos_free(l);
		return pos_error_set(err, POS_ERR_USAGE, "llm_model",
				     "llm_url is set: llm_model is required too");
	}
	l->url = pos_strdup(cfg->url);
	l->model = dup_or_null(cfg->model);
	if (l->url) {
		size_t n = strlen(l->url);
		while (n && l->url[n - 1] == '/')
			l->url[--n] = '\0';
		size_t cap = n + sizeof("/chat/completions");
		l->endpoint = pos_malloc(cap);
		if (l->endpoint)
			snprintf(l->endpoint, cap, "%s/chat/completions", l->url);
	}
	if (cfg->api_key && cfg->api_key[0]) {
		size_t cap = strlen(cfg->api_key) + sizeof("Authorization: Bearer ");
		l->auth_header = pos_malloc(cap);
		if (l->auth_header)
			snprintf(l->auth_header, cap, "Authorization: Bearer %s", cfg->api_key);
	}
	if (!l->url || !l->model || !l->endpoint ||
	    (cfg->api_key && cfg->api_key[0] && !l->auth_header)) {
		pos_llm_free(l);
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	}
	snprintf(l->name, sizeof(l->name), "openai:%.150s", cfg->model);
	l->timeout_s = cfg->timeout_s ? cfg->timeout_s : 120;
	l->connect_timeout_s = cfg->connect_timeout_s ? cfg->connect_timeout_s : 5;
	l->idle_timeout_s = cfg->idle_timeout_s ? cfg->idle_timeout_s : 30;
	*out = l;
	return POS_OK;
}

void pos_llm_free(struct pos_llm *l)
{
	if (!l)
		return;
	if (l->auth_header) {
		explicit_bzero(l->auth_header, strlen(l->auth_header));
		pos_free(l->auth_header);
	}
	pos_free(l->url);
	pos_free(l->endpoint);
	pos_free(l->model);
	pos_free(l);
}

bool pos_llm_builtin(const struct pos_llm *l)
{
	return l->builtin;
}

const char *pos_llm_name(const struct pos_llm *l)
{
	return l->name;
}

/* ---- the request body ---- */

static char *request_body(const struct pos_llm *l, const struct pos_llm_request *req,
			  bool stream)
{
	json_t *msgs = json_array();
	for (size_t i = 0; msgs && i < req->n_msgs; i++) {
		json_t *m = json_pack("{s:s, s:s}", "role", req->msgs[i].role,
				      "content", req->msgs[i].content ? req->msgs[i].content : "");
		if (!m || json_array_append_new(msgs, m) != 0) {
			json_decref(msgs);
			return NULL;
		}
	}
	json_t *body = msgs ? json_pack("{s:s, s:o, s:b}", "model", l->model,
					"messages", msgs, "stream", stream) : NULL;
	if (!body)
		return NULL;
	if (req->temperature >= 0)
		json_object_set_new(body, "temperature", json_real(req->temperature));
	if (req->max_tokens)
		json_object_set_new(body, "max_tokens", json_integer(req->max_tokens));
	if (req->json)
		json_object_set_new(body, "response_format",
				    json_pack("{s:s}", "type", "json_object"));
	char *s = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	return s;
}

/* ---- one exchange ---- */

struct xfer {
	bool stream;
	pos_llm_delta_fn on_delta;
	void *ctx;
	const atomic_bool *cancel;
	struct pos_buf raw;     /* non-stream body, or a stream's partial line */
	struct pos_buf answer;
	bool done;              /* "[DONE]" seen */
	bool stopped;           /* the caller asked to stop */
	bool http_error;        /* status >= 400: collect the body, parse nothing */
	enum pos_err rc;
	char reason[200];
};

static void fail(struct xfer *x, enum pos_err rc, const char *reason)
{
	if (x->rc)
		return;
	x->rc = rc;
	snprintf(x->reason, sizeof(x->reason), "%s", reason);
}

/* One "data:" payload of a stream. */
static void stream_event(struct xfer *x, const char *data, size_t len)
{
	if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
		x->done = true;
		return;
	}
	json_error_t je;
	json_t *v = json_loadb(data, len, 0, &je);
	if (!json_is_object(v)) {
		json_decref(v);
		fail(x, POS_ERR_BAD_GATEWAY, "the model provider streamed a chunk that is not JSON");
		return;
	}
	if (json_object_get(v, "error")) {
		json_decref(v);
		fail(x, POS_ERR_BAD_GATEWAY, "the model provider streamed an error");
		return;
	}
	json_t *choices = json_object_get(v, "choices");
	json_t *c0 = json_array_get(choices, 0);
	json_t *delta = json_object_get(c0, "delta");
	json_t *content = json_object_get(delta, "content");
	if (!json_is_array(choices)) {
		json_decref(v);
		fail(x, POS_ERR_BAD_GATEWAY, "the model provider streamed a chunk without choices");
		return;
	}
	if (json_is_string(content) && json_string_length(content)) {
		const char *t = json_string_value(content);
		size_t n = json_string_length(content);
		if (pos_buf_add(&x->answer, t, n) != POS_OK)
			fail(x, POS_ERR_BAD_GATEWAY, "the model's answer is too long");
		else if (x->on_delta && !x->on_delta(x->ctx, t, n))
			x->stopped = true;
	}
	json_decref(v);
}

/* Splits streamed bytes into lines; keeps a partial line for next time. */
static void stream_bytes(struct xfer *x, const char *p, size_t n)
{
	if (pos_buf_add(&x->raw, p, n) != POS_OK) {
		fail(x, POS_ERR_BAD_GATEWAY, "the model provider sent an over-long line");
		return;
	}
	size_t start = 0;
	for (size_t i = 0; i < x->raw.len && !x->rc && !x->stopped; i++) {
		if (x->raw.data[i] != '\n')
			continue;
		size_t end = i;
		if (end > start && x->raw.data[end - 1] == '\r')
			end--;
		const char *line = x->raw.data + start;
		size_t ll = end - start;
		start = i + 1;
		if (ll >= 5 && memcmp(line, "data:", 5) == 0) {
			line += 5;
			ll -= 5;
			while (ll && *line == ' ') {
				line++;
				ll--;
			}
			if (x->done)
				continue; /* anything after [DONE] is ignored */
			stream_event(x, line, ll);
		}
		/* other fields (event:, id:, comments) carry nothing we use */
	}
	memmove(x->raw.data, x->raw.data + start, x->raw.len - start);
	x->raw.len -= start;
}

static bool on_data(void *ud, long status, const char *p, size_t n)
{
	struct xfer *x = ud;
	if (status >= 400)
		x->http_error = true;
	if (!x->stream || x->http_error) {
		if (pos_buf_add(&x->raw, p, n) != POS_OK) {
			fail(x, POS_ERR_BAD_GATEWAY, "the model's answer is too long");
			return false;
		}
		return true;
	}
	stream_bytes(x, p, n);
	return !(x->rc || x->stopped);
}

static bool on_cancel(void *ud)
{
	struct xfer *x = ud;
	if (x->cancel && atomic_load(x->cancel)) {
		x->stopped = true;
		return true;
	}
	return false;
}

/* The answer of a non-streamed call. */
static void parse_whole(struct xfer *x)
{
	json_error_t je;
	json_t *v = json_loadb(x->raw.data ? x->raw.data : "", x->raw.len, 0, &je);
	json_t *content = json_object_get(
		json_object_get(json_array_get(json_object_get(v, "choices"), 0), "message"),
		"content");
	if (!json_is_object(v))
		fail(x, POS_ERR_BAD_GATEWAY, "the model provider answered something that is not JSON");
	else if (!json_is_string(content))
		fail(x, POS_ERR_BAD_GATEWAY, "the model provider's answer has no choices[0].message.content");
	else if (pos_buf_add(&x->answer, json_string_value(content),
			     json_string_length(content)) != POS_OK)
		fail(x, POS_ERR_BAD_GATEWAY, "the model's answer is too long");
	json_decref(v);
}

static void http_failure(struct xfer *x, long status)
{
	char reason[120];
	if (status == 401 || status == 403)
		snprintf(reason, sizeof(reason),
			 "the model provider rejected the API key (HTTP %ld)", status);
	else if (status == 404)
		snprintf(reason, sizeof(reason),
			 "the model provider has no such model or endpoint (HTTP 404)");
	else
		snprintf(reason, sizeof(reason), "the model provider answered HTTP %ld", status);
	fail(x, status >= 500 || status == 429 || status == 408 ? POS_ERR_UNAVAILABLE
								: POS_ERR_BAD_GATEWAY,
	     reason);
}

static enum pos_err remote_complete(struct pos_llm *l, struct pos_arena *a,
				    const struct pos_llm_request *req,
				    pos_llm_delta_fn on_delta, void *ctx,
				    const char **answer, size_t *len,
				    struct pos_error *err)
{
	bool stream = on_delta != NULL;
	char *body = request_body(l, req, stream);
	if (!body)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	struct xfer x = {.stream = stream, .on_delta = on_delta,
			 .ctx = ctx, .cancel = req->cancel};
	pos_buf_init(&x.raw, POS_LLM_ANSWER_MAX * 2);
	pos_buf_init(&x.answer, POS_LLM_ANSWER_MAX);
	const char *hdr[4] = {"Content-Type: application/json",
			      stream ? "Accept: text/event-stream" : "Accept: application/json",
			      l->auth_header, NULL};
	struct pos_http_req hreq = {
		.method = "POST", .url = l->endpoint, .headers = hdr,
		.body = body, .body_len = strlen(body),
		.trust = POS_NET_OPERATOR, /* llm_url is the operator's */
		.connect_timeout_ms = (long)l->connect_timeout_s * 1000,
		.timeout_ms = (long)l->timeout_s * 1000,
		.idle_timeout_s = (long)l->idle_timeout_s,
		/* a stream carries the answer several times over in its framing */
		.max_bytes = POS_LLM_ANSWER_MAX * 64,
		.on_data = on_data, .cancelled = on_cancel, .ctx = &x,
	};
	struct pos_http_resp hresp;
	struct pos_error herr = {0};
	pos_http_perform(NULL, &hreq, &hresp, &herr);
	long status = hresp.status;
	enum pos_http_fail hf = hresp.fail;
	pos_http_resp_free(&hresp);
	if (x.stopped && !x.rc) {
		fail(&x, POS_ERR_CONFLICT, "cancelled");
	} else if (x.rc) {
		/* a parse failure stopped the transfer: keep its reason */
	} else if (hf == POS_HTTP_TIMEOUT) {
		char reason[120];
		snprintf(reason, sizeof(reason), "the model provider timed out (%s)",
			 x.answer.len || x.raw.len ? "it went silent mid-answer" : "no answer");
		fail(&x, POS_ERR_UNAVAILABLE, reason);
	} else if (hf && status < 400) {
		/* herr names the host and what failed, never curl's detail */
		char reason[200];
		if (x.answer.len)
			snprintf(reason, sizeof(reason), "the model provider's stream broke off: %.150s",
				 herr.message);
		else
			snprintf(reason, sizeof(reason), "cannot reach the model provider: %.150s",
				 herr.message);
		fail(&x, x.answer.len ? POS_ERR_BAD_GATEWAY : POS_ERR_UNAVAILABLE, reason);
	} else if (status >= 400 || x.http_error) {
		http_failure(&x, status);
	} else if (status < 200 || status > 299) {
		http_failure(&x, status);
	} else if (stream) {
		if (x.raw.len)
			stream_bytes(&x, "\n", 1); /* a last line without newline */
		if (!x.rc && !x.done)
			fail(&x, POS_ERR_BAD_GATEWAY,
			     "the model provider's stream ended before [DONE]");
	} else {
		parse_whole(&x);
	}
	free(body);
	enum pos_err rc = x.rc;
	if (!rc) {
		char *s = pos_arena_alloc(a, x.answer.len + 1);
		if (!s) {
			rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
		} else {
			if (x.answer.len)
				memcpy(s, x.answer.data, x.answer.len);
			s[x.answer.len] = '\0';
			*answer = s;
			*len = x.answer.len;
		}
	} else {
		pos_error_set(err, rc, NULL, "%s", x.reason);
	}
	pos_buf_free(&x.raw);
	pos_buf_free(&x.answer);
	return rc;
}

enum pos_err pos_llm_complete(struct pos_llm *l, struct pos_arena *a,
			      const struct pos_llm_request *req,
			      pos_llm_delta_fn on_delta, void *ctx,
			      const char **answer, size_t *len,
			      struct pos_error *err)
{
	if (!l->builtin)
		return remote_complete(l, a, req, on_delta, ctx, answer, len, err);
	enum pos_err rc = pos_llm_builtin_answer(a, req, answer, len);
	if (rc)
		return pos_error_set(err, rc, NULL, NULL);
	if (on_delta) {
		/* Hand the answer over line by line, like a stream would. */
		const char *p = *answer, *end = *answer + *len;
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			const char *stop = nl ? nl + 1 : end;
			if (!on_delta(ctx, p, (size_t)(stop - p)))
				return pos_error_set(err, POS_ERR_CONFLICT, NULL, "cancelled");
			p = stop;
		}
	}
	return POS_OK;
}
