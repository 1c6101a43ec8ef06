/*
 * openai.c — the OpenAI-compatible remote embedder (embed/openai.h):
 * request bodies built with the streaming JSON writer, transfers through
 * the one outbound client (net/http.h, operator-trusted endpoint)
 * with a few immediate retries, and strict validation of every answer, since
 * whatever a provider sends is untrusted input.
 */
#include "embed/openai.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/json.h"
#include "net/http.h"

#ifndef POS_VERSION
#define POS_VERSION "dev"
#endif

#define DEFAULT_TIMEOUT_MS 30000u
#define DEFAULT_CONNECT_MS 5000u
#define DEFAULT_BATCH 64u
#define DEFAULT_RETRIES 2u
#define DEFAULT_BACKOFF_MS 200u
#define DEFAULT_INPUT_BYTES 32768u
#define MAX_BACKOFF_MS 60000u
#define MIN_INPUT_BYTES 16u
#define MAX_INPUT_BYTES (1u << 20)
#define MAX_URL 2048u
#define MAX_MODEL 256u
#define MAX_KEY 4096u
/* A request body grows past this only with its first text; then the batch
 * is cut, so a batch of long texts becomes several requests. */
#define BODY_SOFT_CAP (8u << 20)
/* Hard cap: one text is at most MAX_INPUT_BYTES, six-fold when escaped. */
#define BODY_MAX (64u << 20)
#define POOL_SIZE 4
#define REASON_CAP 256
#define NAP_STEP_MS 50

static const char PROBE_TEXT[] = "dimension probe";

struct openai {
	struct pos_embedder base; /* first: the ops cast back to this */
	char *url;                /* {base_url}/embeddings */
	char *model;              /* the model name as sent */
	char *headers[5];         /* NULL-terminated; read-only after creation */
	unsigned timeout_ms, connect_ms, max_batch, max_retries, backoff_ms;
	size_t max_input;
	_Atomic unsigned dim;     /* mirror of base.dim, for lock-free readers */
	atomic_bool cancelled;
	_Atomic int last_status;
	_Atomic uint64_t requests, request_failures, retries, texts, call_failures;
	pthread_mutex_t lock;     /* guards everything below, and base.dim */
	struct pos_http_pool *pool; /* kept-alive handles (net/http.h) */
	char reason[REASON_CAP];
	int64_t last_success_us, last_failure_us;
	int64_t not_before_us; /* from the latest Retry-After (pos_mono_us) */
};

static const struct pos_embedder_ops openai_ops;

static struct openai *from(const struct pos_embedder *e)
{
	/* Every embedder made here is heap memory we own; the const in the
	 * ops signature is the caller's promise, not the object's nature. */
	return (struct openai *)(uintptr_t)e;
}

/* ---- small helpers ---- */

/* Overwrites secrets so they do not linger in freed memory. */
static void wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;
	while (n--)
		*v++ = 0;
}

/*
 * Length of the well-formed UTF-8 sequence at p (1..4), or 0 when the
 * bytes there are not one (overlong forms, surrogates and code points past
 * U+10FFFF included, per RFC 3629).
 */
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

static bool utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < len;) {
		size_t k = utf8_seq(p + i, len - i);
		if (!k)
			return false;
		i += k;
	}
	return true;
}

/*
 * Makes a text fit to send: at most `cap` bytes of well-formed UTF-8, cut
 * between characters, invalid bytes replaced by U+FFFD. Points *out at the
 * text itself when it needed no change, else at scratch's data.
 */
static enum pos_err fit_text(const char *s, size_t len, size_t cap,
			     struct pos_buf *scratch, const char **out,
			     size_t *out_len)
{
	static const char replacement[] = "\xEF\xBF\xBD";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, used = 0;
	bool copied = false;
	enum pos_err rc = POS_OK;
	pos_buf_reset(scratch);
	while (i < len) {
		size_t k = utf8_seq(p + i, len - i);
		size_t add = k ? k : 3;
		if (used + add > cap)
			break;
		if (!k && !copied) {
			if ((rc = pos_buf_add(scratch, s, i)))
				return rc;
			copied = true;
		}
		if (!k)
			rc = pos_buf_add(scratch, replacement, 3);
		else if (copied)
			rc = pos_buf_add(scratch, s + i, k);
		if (rc)
			return rc;
		i += k ? k : 1;
		used += add;
	}
	*out = copied ? scratch->data : s;
	*out_len = copied ? scratch->len : i;
	return POS_OK;
}

/* False for an empty or whitespace-only text: it is not sent. */
static bool has_content(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		switch (s[i]) {
		case ' ': case '\t': case '\n': case '\r': case '\f': case '\v':
			continue;
		default:
			return true;
		}
	}
	return false;
}

/* A short identifier a provider put in its error body, safe to repeat. */
static bool is_ident(const char *s)
{
	size_t n = strlen(s);
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

/* Sleeps ms milliseconds in short steps; false when cancelled meanwhile. */
static bool nap(struct openai *o, unsigned long ms)
{
	int64_t end = pos_mono_us() + (int64_t)ms * 1000;
	for (;;) {
		if (atomic_load(&o->cancelled))
			return false;
		int64_t left = end - pos_mono_us();
		if (left <= 0)
			return true;
		if (left > NAP_STEP_MS * 1000)
			left = NAP_STEP_MS * 1000;
		struct timespec ts = {0, (long)left * 1000};
		nanosleep(&ts, NULL);
	}
}

/* ---- one transfer ---- */

struct xfer {
	struct openai *o;
	struct pos_buf *resp;
	bool nomem;             /* the answer could not be kept */
	long retry_after_ms;    /* -1: the provider did not say */
};

static bool on_data(void *arg, long status, const char *p, size_t n)
{
	struct xfer *x = arg;
	if (pos_buf_add(x->resp, p, n)) {
		x->nomem = true; /* the size cap is net/http's max_bytes */
		return false;
	}
	return true;
}

/*
 * Reads a decimal number (capped at 10^9) that fills s[0..len), or that
 * starts it when `prefix` (then "1.5" reads 1). False when there is none.
 */
static bool read_digits(const char *s, size_t len, bool prefix, long *out)
{
	long v = 0;
	size_t i = 0;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
		v = v >= 100000000L ? 1000000000L : v * 10 + (s[i] - '0');
	*out = v;
	return i > 0 && (prefix || i == len);
}

/*
 * Picks Retry-After (seconds or an HTTP date) and the retry-after-ms that
 * OpenAI and Azure send, which wins when both are there.
 */
static void on_header(void *arg, const char *p, size_t len)
{
	struct xfer *x = arg;
	static const char ra[] = "retry-after:", ra_ms[] = "retry-after-ms:";
	const char *v = NULL;
	bool ms = false;
	if (len > sizeof(ra_ms) - 1 && strncasecmp(p, ra_ms, sizeof(ra_ms) - 1) == 0) {
		v = p + sizeof(ra_ms) - 1;
		ms = true;
	} else if (len > sizeof(ra) - 1 && strncasecmp(p, ra, sizeof(ra) - 1) == 0) {
		v = p + sizeof(ra) - 1;
	}
	if (!v)
		return;
	size_t vlen = len - (size_t)(v - p);
	while (vlen && (*v == ' ' || *v == '\t'))
		v++, vlen--;
	while (vlen && strchr(" \t\r\n", v[vlen - 1]))
		vlen--;
	long num;
	if (ms) {
		if (read_digits(v, vlen, true, &num))
			x->retry_after_ms = num;
	} else if (x->retry_after_ms < 0) {
		if (read_digits(v, vlen, false, &num)) {
			x->retry_after_ms = num > 100000L ? 100000000L : num * 1000;
		} else if (vlen < 64) {
			char date[64];
			memcpy(date, v, vlen);
			date[vlen] = '\0';
			time_t t = curl_getdate(date, NULL);
			if (t != (time_t)-1) {
				time_t now = time(NULL);
				x->retry_after_ms = t <= now ? 0
					: (t - now > 100000 ? 100000000L : (long)(t - now) * 1000);
			}
		}
	}
}

static bool cancelled(void *arg)
{
	struct xfer *x = arg;
	return atomic_load(&x->o->cancelled);
}

static bool transient(enum pos_http_fail f)
{
	return f == POS_HTTP_CONNECT || f == POS_HTTP_TIMEOUT ||
	       f == POS_HTTP_PROTOCOL || f == POS_HTTP_TLS;
}

/* " (code)" from an OpenAI-style error body, when it holds a safe one. */
static void error_ident(const struct pos_buf *resp, char *out, size_t cap)
{
	out[0] = '\0';
	if (!resp->len)
		return;
	json_t *root = pos_json_parse(resp->data, resp->len, NULL);
	json_t *err = root ? json_object_get(root, "error") : NULL;
	const char *id = NULL;
	if (json_is_object(err)) {
		id = json_string_value(json_object_get(err, "code"));
		if (!id || !is_ident(id))
			id = json_string_value(json_object_get(err, "type"));
	}
	if (id && is_ident(id))
		snprintf(out, cap, " (%s)", id);
	json_decref(root);
}

/*
 * One POST of `body`. On failure fills `why`, and sets *retry when trying
 * again soon may help and *wait_ms to what the provider asked for (-1:
 * nothing). The answer of a 2xx is left in resp.
 */
static enum pos_err attempt(struct openai *o, const struct pos_buf *body,
			    struct pos_buf *resp, bool *retry, long *wait_ms,
			    char *why)
{
	*retry = false;
	*wait_ms = -1;
	struct xfer x = {o, resp, false, -1};
	struct pos_http_resp hr;
	struct pos_error herr = {0};
	struct pos_http_req req = {
		.method = "POST", .url = o->url, .headers = (const char *const *)o->headers,
		.body = body->data ? body->data : "", .body_len = body->len,
		.trust = POS_NET_OPERATOR, /* embed_url is the operator's */
		.connect_timeout_ms = (long)o->connect_ms, .timeout_ms = (long)o->timeout_ms,
		.max_bytes = resp->max,
		.on_data = on_data, .on_header = on_header, .cancelled = cancelled,
		.ctx = &x,
	};
	pos_buf_reset(resp);
	enum pos_err hrc = pos_http_perform(o->pool, &req, &hr, &herr);
	long status = hr.status;
	enum pos_http_fail fail = hr.fail;
	pos_http_resp_free(&hr);
	atomic_fetch_add(&o->requests, 1);
	if (status && !fail)
		atomic_store(&o->last_status, (int)status);

	if (fail == POS_HTTP_CANCELLED) {
		snprintf(why, REASON_CAP, "cancelled");
		return POS_ERR_UNAVAILABLE;
	}
	if (fail == POS_HTTP_NOMEM || x.nomem) {
		snprintf(why, REASON_CAP, "out of memory reading the answer");
		return POS_ERR_NOMEM;
	}
	if (fail == POS_HTTP_TOO_BIG) {
		snprintf(why, REASON_CAP, "provider answer is larger than %u MiB",
			 POS_EMBED_OPENAI_MAX_RESPONSE >> 20);
		return POS_ERR_UNAVAILABLE;
	}
	if (hrc) {
		*retry = transient(fail);
		if (fail == POS_HTTP_TIMEOUT)
			snprintf(why, REASON_CAP, "provider timed out (%u ms)",
				 o->timeout_ms);
		else
			snprintf(why, REASON_CAP, "cannot reach the provider: %.200s",
				 herr.message);
		return POS_ERR_UNAVAILABLE;
	}
	if (status >= 200 && status < 300)
		return POS_OK;

	char id[64];
	error_ident(resp, id, sizeof(id));
	*wait_ms = x.retry_after_ms;
	if (x.retry_after_ms >= 0) {
		int64_t until = pos_mono_us() + (int64_t)x.retry_after_ms * 1000;
		pthread_mutex_lock(&o->lock);
		if (until > o->not_before_us)
			o->not_before_us = until;
		pthread_mutex_unlock(&o->lock);
	}
	if (status == 401 || status == 403) {
		snprintf(why, REASON_CAP, "provider rejected the API key (HTTP %ld)%s",
			 status, id);
	} else if (status == 408 || status == 429 || status >= 500) {
		*retry = true;
		snprintf(why, REASON_CAP, "provider answered HTTP %ld%s%s", status,
			 status == 429 ? " (rate limited)" : "", id);
	} else if (status == 404) {
		snprintf(why, REASON_CAP, "provider answered HTTP 404%s: check that "
			 "the base URL ends in /v1 and the model exists", id);
	} else if (status >= 300 && status < 400) {
		snprintf(why, REASON_CAP, "provider answered HTTP %ld: redirects "
			 "are not followed, check the base URL", status);
	} else {
		snprintf(why, REASON_CAP, "provider answered HTTP %ld%s", status, id);
	}
	return POS_ERR_UNAVAILABLE;
}

/* POSTs `body`, retrying at once a few times when that may help. */
static enum pos_err request(struct openai *o, const struct pos_buf *body,
			    struct pos_buf *resp, char *why)
{
	for (unsigned n = 0;; n++) {
		if (atomic_load(&o->cancelled)) {
			snprintf(why, REASON_CAP, "cancelled");
			return POS_ERR_UNAVAILABLE;
		}
		bool retry;
		long wait_ms;
		enum pos_err rc = attempt(o, body, resp, &retry, &wait_ms, why);
		if (!rc)
			return POS_OK;
		atomic_fetch_add(&o->request_failures, 1);
		if (!retry || n >= o->max_retries)
			return rc;
		if (wait_ms > (long)POS_EMBED_OPENAI_MAX_RETRY_WAIT_MS) {
			size_t len = strlen(why);
			snprintf(why + len, REASON_CAP - len,
				 "; it asks to wait %ld s", wait_ms / 1000);
			return rc;
		}
		unsigned long delay = (unsigned long)o->backoff_ms << n;
		if (delay > POS_EMBED_OPENAI_MAX_RETRY_WAIT_MS)
			delay = POS_EMBED_OPENAI_MAX_RETRY_WAIT_MS;
		if (wait_ms > 0 && (unsigned long)wait_ms > delay)
			delay = (unsigned long)wait_ms;
		if (!nap(o, delay)) {
			snprintf(why, REASON_CAP, "cancelled");
			return POS_ERR_UNAVAILABLE;
		}
		atomic_fetch_add(&o->retries, 1);
	}
}

/* ---- request bodies and answers ---- */

static void body_start(struct pos_jw *w, struct pos_buf *body, const char *model)
{
	pos_buf_reset(body);
	pos_jw_init(w, body);
	pos_jw_obj(w);
	pos_jw_kstr(w, "model", model);
	pos_jw_key(w, "input");
	pos_jw_arr(w);
}

static enum pos_err body_end(struct pos_jw *w)
{
	pos_jw_arr_end(w);
	pos_jw_kstr(w, "encoding_format", "float");
	pos_jw_obj_end(w);
	return w->rc;
}

/*
 * Writes the request for the texts picked by idx[0..n) — as many as fit in
 * one request — and says in *taken how many it holds.
 */
static enum pos_err build_body(struct openai *o, struct pos_buf *body,
			       struct pos_buf *scratch, const char *const *texts,
			       const size_t *lens, const size_t *idx, size_t n,
			       size_t *taken)
{
	struct pos_jw w;
	size_t k = 0;
	body_start(&w, body, o->model);
	while (k < n && k < o->max_batch && (k == 0 || body->len < BODY_SOFT_CAP)) {
		const char *s;
		size_t len;
		enum pos_err rc = fit_text(texts[idx[k]], lens[idx[k]], o->max_input,
					   scratch, &s, &len);
		if (rc)
			return rc;
		pos_jw_strn(&w, s, len);
		k++;
	}
	*taken = k;
	return body_end(&w);
}

/*
 * Checks an answer for n inputs and, when `out` is not NULL, writes the
 * normalized vector of input j to row rows[j] of out. `dim` 0 accepts any
 * length up to the limit (all the same) and reports it in *seen.
 */
static enum pos_err parse_answer(const struct pos_buf *resp, size_t n,
				 unsigned dim, float *out, const size_t *rows,
				 unsigned *seen, char *why)
{
	enum pos_err rc = POS_ERR_UNAVAILABLE;
	bool *done = NULL;
	size_t len = 0;
	json_t *root = resp->len ? pos_json_parse(resp->data, resp->len, NULL) : NULL;
	if (!root) {
		snprintf(why, REASON_CAP, "provider answered invalid JSON "
			 "(is the base URL right?)");
		return POS_ERR_UNAVAILABLE;
	}
	json_t *data = json_object_get(root, "data");
	if (!json_is_array(data)) {
		snprintf(why, REASON_CAP, "provider answer has no \"data\" array");
		goto out;
	}
	if (json_array_size(data) != n) {
		snprintf(why, REASON_CAP, "provider returned %zu embeddings for %zu texts",
			 json_array_size(data), n);
		goto out;
	}
	if (!(done = pos_calloc(n ? n : 1, sizeof(*done)))) {
		rc = POS_ERR_NOMEM;
		snprintf(why, REASON_CAP, "out of memory");
		goto out;
	}
	size_t i;
	json_t *item;
	json_array_foreach(data, i, item) {
		json_t *ix = json_object_get(item, "index");
		json_t *emb = json_object_get(item, "embedding");
		if (!json_is_integer(ix) || json_integer_value(ix) < 0 ||
		    (json_int_t)n <= json_integer_value(ix) ||
		    done[json_integer_value(ix)]) {
			snprintf(why, REASON_CAP, "provider answer has a missing, "
				 "repeated or out-of-range index");
			goto out;
		}
		size_t at = (size_t)json_integer_value(ix);
		done[at] = true;
		if (!json_is_array(emb)) {
			snprintf(why, REASON_CAP, "provider answer has an embedding "
				 "that is not an array of numbers");
			goto out;
		}
		size_t l = json_array_size(emb);
		if (dim && l != dim) {
			snprintf(why, REASON_CAP, "provider returned %zu-dimensional "
				 "vectors, expected %u", l, dim);
			goto out;
		}
		if (!dim && (l == 0 || l > POS_EMBED_OPENAI_MAX_DIM ||
			     (len && l != len))) {
			snprintf(why, REASON_CAP, "provider returned vectors of %zu "
				 "dimensions (%s)", l, len && l != len
				 ? "lengths differ" : "out of range");
			goto out;
		}
		len = l;
		double norm = 0;
		size_t j;
		json_t *x;
		json_array_foreach(emb, j, x) {
			double v = json_number_value(x);
			if (!json_is_number(x) || !isfinite(v) || fabs(v) > FLT_MAX) {
				snprintf(why, REASON_CAP, "provider answer has an "
					 "embedding value that is not a finite number");
				goto out;
			}
			norm += v * v;
		}
		if (!out)
			continue;
		float *row = out + rows[at] * (size_t)dim;
		double scale = norm > 0 ? 1.0 / sqrt(norm) : 0;
		json_array_foreach(emb, j, x)
			row[j] = (float)(json_number_value(x) * scale);
	}
	if (seen)
		*seen = (unsigned)len;
	rc = POS_OK;
out:
	pos_free(done);
	json_decref(root);
	return rc;
}

/* Records how a call ended, for last_error and the stats. */
static void finish(struct openai *o, enum pos_err rc, const char *why,
		   bool talked)
{
	if (!rc && !talked)
		return;
	int64_t now = pos_now_us();
	pthread_mutex_lock(&o->lock);
	if (rc) {
		snprintf(o->reason, sizeof(o->reason), "%s",
			 why[0] ? why : pos_strerror(rc));
		o->last_failure_us = now;
	} else {
		o->last_success_us = now;
	}
	pthread_mutex_unlock(&o->lock);
	if (rc)
		atomic_fetch_add(&o->call_failures, 1);
}

/* Only NOMEM and UNAVAILABLE leave this module. */
static enum pos_err outward(enum pos_err rc)
{
	return rc == POS_OK || rc == POS_ERR_NOMEM ? rc : POS_ERR_UNAVAILABLE;
}

/* ---- the embedder operations ---- */

static enum pos_err openai_embed_batch(const struct pos_embedder *e,
				       const char *const *texts, const size_t *lens,
				       size_t n, float *out)
{
	struct openai *o = from(e);
	char why[REASON_CAP] = "";
	enum pos_err rc = POS_OK;
	bool talked = false;
	size_t *idx = NULL, m = 0;
	struct pos_buf body, scratch, resp;
	pos_buf_init(&body, BODY_MAX);
	pos_buf_init(&scratch, MAX_INPUT_BYTES);
	pos_buf_init(&resp, POS_EMBED_OPENAI_MAX_RESPONSE);
	unsigned dim = atomic_load(&o->dim);
	if (atomic_load(&o->cancelled)) {
		snprintf(why, REASON_CAP, "cancelled");
		rc = POS_ERR_UNAVAILABLE;
		goto out;
	}
	if (!dim) {
		snprintf(why, REASON_CAP, "the embedding dimension is not known "
			 "yet: the provider was never probed successfully");
		rc = POS_ERR_UNAVAILABLE;
		goto out;
	}
	if (n == 0)
		goto out;
	if (n > SIZE_MAX / sizeof(*idx) || !(idx = pos_malloc(n * sizeof(*idx)))) {
		rc = POS_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (has_content(texts[i], lens[i]))
			idx[m++] = i;
		else
			memset(out + i * (size_t)dim, 0, dim * sizeof(*out));
	}
	for (size_t done = 0; done < m;) {
		size_t k;
		if ((rc = build_body(o, &body, &scratch, texts, lens, idx + done,
				     m - done, &k))) {
			snprintf(why, REASON_CAP, "cannot build the request");
			goto out;
		}
		talked = true;
		if ((rc = request(o, &body, &resp, why)))
			goto out;
		if ((rc = parse_answer(&resp, k, dim, out, idx + done, NULL, why))) {
			atomic_fetch_add(&o->request_failures, 1);
			goto out;
		}
		atomic_fetch_add(&o->texts, k);
		done += k;
	}
out:
	rc = outward(rc);
	finish(o, rc, why, talked);
	pos_free(idx);
	pos_buf_free(&body);
	pos_buf_free(&scratch);
	pos_buf_free(&resp);
	return rc;
}

static enum pos_err openai_embed(const struct pos_embedder *e, const char *text,
				 size_t len, float *out)
{
	const char *texts[1] = {text ? text : ""};
	size_t lens[1] = {text ? len : 0};
	return openai_embed_batch(e, texts, lens, 1, out);
}

static void openai_free(struct pos_embedder *e)
{
	struct openai *o = from(e);
	pos_http_pool_free(o->pool);
	for (size_t i = 0; o->headers[i]; i++) {
		wipe(o->headers[i], strlen(o->headers[i]));
		pos_free(o->headers[i]);
	}
	pos_free(o->url);
	pos_free(o->model);
	pthread_mutex_destroy(&o->lock);
	pos_free(o);
}

static const struct pos_embedder_ops openai_ops = {
	.embed = openai_embed,
	.embed_batch = openai_embed_batch,
	.free = openai_free,
};

/* ---- public ---- */

void pos_embed_openai_config_default(struct pos_embed_openai_config *c)
{
	memset(c, 0, sizeof(*c));
	c->timeout_ms = DEFAULT_TIMEOUT_MS;
	c->connect_timeout_ms = DEFAULT_CONNECT_MS;
	c->max_batch = DEFAULT_BATCH;
	c->max_retries = DEFAULT_RETRIES;
	c->backoff_ms = DEFAULT_BACKOFF_MS;
	c->max_input_bytes = DEFAULT_INPUT_BYTES;
}

enum pos_err pos_embed_openai_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? POS_OK
								 : POS_ERR_INTERNAL;
}

void pos_embed_openai_global_cleanup(void)
{
	curl_global_cleanup();
}

/* Non-empty (unless allow_empty), short, well-formed, no control bytes. */
static bool clean_string(const char *s, size_t max, bool allow_empty)
{
	if (!s)
		return allow_empty;
	size_t n = strnlen(s, max + 1);
	if (n > max || (!n && !allow_empty) || !utf8_valid(s, n))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
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

bool pos_embed_is_openai(const struct pos_embedder *e)
{
	return e && e->ops == &openai_ops;
}

enum pos_err pos_embed_openai_new(const struct pos_embed_openai_config *cfg,
				  struct pos_embedder **out)
{
	*out = NULL;
	if (!cfg || !good_url(cfg->base_url) ||
	    !clean_string(cfg->model, MAX_MODEL, false) ||
	    !clean_string(cfg->api_key, MAX_KEY, true) ||
	    cfg->dim > POS_EMBED_OPENAI_MAX_DIM ||
	    cfg->max_batch > POS_EMBED_OPENAI_MAX_BATCH ||
	    cfg->max_retries > POS_EMBED_OPENAI_MAX_RETRIES ||
	    cfg->timeout_ms > POS_EMBED_OPENAI_MAX_TIMEOUT_MS ||
	    cfg->connect_timeout_ms > POS_EMBED_OPENAI_MAX_TIMEOUT_MS ||
	    cfg->backoff_ms > MAX_BACKOFF_MS ||
	    (cfg->max_input_bytes &&
	     (cfg->max_input_bytes < MIN_INPUT_BYTES ||
	      cfg->max_input_bytes > MAX_INPUT_BYTES)))
		return POS_ERR_INVALID_REQUEST;

	enum pos_err rc = POS_ERR_NOMEM;
	struct pos_buf b;
	pos_buf_init(&b, MAX_URL + MAX_KEY + 64);
	struct openai *o = pos_calloc(1, sizeof(*o));
	if (!o)
		return POS_ERR_NOMEM;
	pthread_mutex_init(&o->lock, NULL);
	o->base.ops = &openai_ops;
	o->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
	o->connect_ms = cfg->connect_timeout_ms ? cfg->connect_timeout_ms
						: DEFAULT_CONNECT_MS;
	o->max_batch = cfg->max_batch ? cfg->max_batch : DEFAULT_BATCH;
	o->max_retries = cfg->max_retries;
	o->backoff_ms = cfg->backoff_ms ? cfg->backoff_ms : DEFAULT_BACKOFF_MS;
	o->max_input = cfg->max_input_bytes ? cfg->max_input_bytes
					    : DEFAULT_INPUT_BYTES;
	o->base.dim = cfg->dim;
	atomic_store(&o->dim, cfg->dim);

	/* "openai:<model>", cut to the field between two characters. */
	size_t mlen = strlen(cfg->model), room = sizeof(o->base.model) - 1 - 7;
	if (mlen > room) {
		mlen = room;
		while (mlen && ((unsigned char)cfg->model[mlen] & 0xC0) == 0x80)
			mlen--;
	}
	memcpy(o->base.model, "openai:", 7);
	memcpy(o->base.model + 7, cfg->model, mlen);
	o->base.model[7 + mlen] = '\0';

	size_t ulen = strlen(cfg->base_url);
	while (ulen && cfg->base_url[ulen - 1] == '/')
		ulen--;
	if (pos_buf_add(&b, cfg->base_url, ulen) || pos_buf_adds(&b, "/embeddings") ||
	    !(o->url = pos_buf_detach(&b, NULL)) || !(o->model = pos_strdup(cfg->model)))
		goto fail;

	static const char *const fixed[] = {
		"Content-Type: application/json",
		"Accept: application/json",
		"Expect:", /* no 100-continue round trip before large bodies */
	};
	size_t nh = 0;
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (!(o->headers[nh++] = pos_strdup(fixed[i])))
			goto fail;
	if (cfg->api_key && cfg->api_key[0]) {
		if (pos_buf_addf(&b, "Authorization: Bearer %s", cfg->api_key) ||
		    !(o->headers[nh++] = pos_strdup(b.data))) {
			if (b.data)
				wipe(b.data, b.len);
			goto fail;
		}
		wipe(b.data, b.len);
	}
	if (!(o->pool = pos_http_pool_new(POOL_SIZE)))
		goto fail;
	pos_buf_free(&b);
	*out = &o->base;
	return POS_OK;
fail:
	if (b.data)
		wipe(b.data, b.len);
	pos_buf_free(&b);
	openai_free(&o->base);
	return rc;
}

enum pos_err pos_embed_openai_probe(struct pos_embedder *e)
{
	if (!pos_embed_is_openai(e))
		return POS_ERR_INVALID_REQUEST;
	struct openai *o = from(e);
	if (atomic_load(&o->dim))
		return POS_OK;
	char why[REASON_CAP] = "";
	bool talked = false;
	unsigned dim = 0;
	struct pos_jw w;
	struct pos_buf body, resp;
	pos_buf_init(&body, BODY_MAX);
	pos_buf_init(&resp, POS_EMBED_OPENAI_MAX_RESPONSE);
	enum pos_err rc = POS_ERR_UNAVAILABLE;
	if (atomic_load(&o->cancelled)) {
		snprintf(why, REASON_CAP, "cancelled");
		goto out;
	}
	body_start(&w, &body, o->model);
	pos_jw_str(&w, PROBE_TEXT);
	if ((rc = body_end(&w)))
		goto out;
	talked = true;
	if ((rc = request(o, &body, &resp, why)))
		goto out;
	if ((rc = parse_answer(&resp, 1, 0, NULL, NULL, &dim, why))) {
		atomic_fetch_add(&o->request_failures, 1);
		goto out;
	}
	pthread_mutex_lock(&o->lock);
	if (!atomic_load(&o->dim)) {
		o->base.dim = dim;
		atomic_store(&o->dim, dim);
	} else if (atomic_load(&o->dim) != dim) {
		snprintf(why, REASON_CAP, "provider returned %u-dimensional vectors, "
			 "expected %u", dim, atomic_load(&o->dim));
		rc = POS_ERR_UNAVAILABLE;
	}
	pthread_mutex_unlock(&o->lock);
out:
	rc = outward(rc);
	finish(o, rc, why, talked);
	pos_buf_free(&body);
	pos_buf_free(&resp);
	return rc;
}

unsigned pos_embed_openai_dim(const struct pos_embedder *e)
{
	return pos_embed_is_openai(e) ? atomic_load(&from(e)->dim) : 0;
}

size_t pos_embed_openai_last_error(const struct pos_embedder *e, char *buf,
				   size_t cap)
{
	if (!cap)
		return 0;
	buf[0] = '\0';
	if (!pos_embed_is_openai(e))
		return 0;
	struct openai *o = from(e);
	pthread_mutex_lock(&o->lock);
	size_t n = strlen(o->reason);
	if (n > cap - 1)
		n = cap - 1;
	memcpy(buf, o->reason, n);
	buf[n] = '\0';
	pthread_mutex_unlock(&o->lock);
	return n;
}

void pos_embed_openai_stats(const struct pos_embedder *e,
			    struct pos_embed_openai_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!pos_embed_is_openai(e))
		return;
	struct openai *o = from(e);
	out->requests = atomic_load(&o->requests);
	out->request_failures = atomic_load(&o->request_failures);
	out->retries = atomic_load(&o->retries);
	out->texts = atomic_load(&o->texts);
	out->call_failures = atomic_load(&o->call_failures);
	out->last_http_status = atomic_load(&o->last_status);
	pthread_mutex_lock(&o->lock);
	out->last_success_us = o->last_success_us;
	out->last_failure_us = o->last_failure_us;
	out->retry_after_us = o->not_before_us;
	pthread_mutex_unlock(&o->lock);
}

void pos_embed_openai_cancel(struct pos_embedder *e)
{
	if (pos_embed_is_openai(e))
		atomic_store(&from(e)->cancelled, true);
}
