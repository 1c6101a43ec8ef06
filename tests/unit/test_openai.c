/*
 * Unit tests for src/embed/openai.c, the OpenAI-compatible remote embedder,
 * against tests/stubs/openai_stub.py: the test starts the stub itself
 * (python3 from PATH or $POS_PYTHON; run from the repository root, or name
 * the script in $POS_OPENAI_STUB), scripts its failures through /_stub/mode
 * and checks what it recorded. No timing assertions: requests are counted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/alloc.h"
#include "embed/openai.h"
#include "stub_proc.h"

#define STUB_DIM 16u
#define STUB_MODEL "stub-embed"

static struct pos_stub stub = {-1, ""};
static char stub_v1[80];   /* http://127.0.0.1:PORT/v1 */
#define stub_root (stub.root)

/* ---- the stub process ---- */

static int start_stub(void **state)
{
	/* The stub is on loopback: a proxy from the environment must not
	 * catch these requests. */
	setenv("NO_PROXY", "*", 1);
	setenv("no_proxy", "*", 1);
	if (pos_embed_openai_global_init())
		return -1;
	static const char *const extra[] = {"--dim", "16", NULL};
	if (pos_stub_start(&stub, "POS_OPENAI_STUB", "tests/stubs/openai_stub.py", extra))
		return -1;
	snprintf(stub_v1, sizeof(stub_v1), "%s/v1", stub.root);
	return 0;
}

static int stop_stub(void **state)
{
	pos_embed_openai_global_cleanup();
	return pos_stub_stop(&stub); /* it must stop cleanly on SIGTERM */
}

/* A request to the stub; returns the body (free it) and the status. */
static char *stub_http(const char *path, const char *post, long *status)
{
	return pos_stub_http(&stub, path, post, status);
}

static void stub_post(const char *path, const char *json)
{
	long status = 0;
	free(stub_http(path, json, &status));
	assert_int_equal(status, 200);
}

static void stub_mode(const char *json) { stub_post("/_stub/mode", json); }
static void stub_reset(void) { stub_post("/_stub/reset", "{}"); }

/* The recorded API requests (json_decref the array). */
static json_t *stub_requests(void)
{
	long status = 0;
	char *s = stub_http("/_stub/requests", NULL, &status);
	assert_int_equal(status, 200);
	json_t *v = json_loads(s, 0, NULL);
	free(s);
	assert_true(json_is_array(v));
	return v;
}

static size_t stub_count(void)
{
	json_t *r = stub_requests();
	size_t n = json_array_size(r);
	json_decref(r);
	return n;
}

/* A recorded header, looked up regardless of case; NULL when absent. */
static const char *header(json_t *req, const char *name)
{
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(req, "headers"), k, v)
		if (strcasecmp(k, name) == 0)
			return json_string_value(v);
	return NULL;
}

/* ---- helpers ---- */

static void config(struct pos_embed_openai_config *c)
{
	pos_embed_openai_config_default(c);
	c->base_url = stub_v1;
	c->model = STUB_MODEL;
	c->dim = STUB_DIM;
	c->backoff_ms = 5; /* keep retries quick */
}

static struct pos_embedder *make(const struct pos_embed_openai_config *c)
{
	struct pos_embedder *e = NULL;
	assert_int_equal(pos_embed_openai_new(c, &e), POS_OK);
	assert_non_null(e);
	return e;
}

static struct pos_embedder *make_default(void)
{
	struct pos_embed_openai_config c;
	config(&c);
	return make(&c);
}

static double norm(const float *v, unsigned dim)
{
	double s = 0;
	for (unsigned i = 0; i < dim; i++)
		s += (double)v[i] * v[i];
	return sqrt(s);
}

static void assert_rows_equal(const float *a, const float *b, unsigned dim)
{
	for (unsigned i = 0; i < dim; i++)
		assert_true(fabsf(a[i] - b[i]) < 1e-6f);
}

static bool reason_has(struct pos_embedder *e, const char *what)
{
	char why[256];
	pos_embed_openai_last_error(e, why, sizeof(why));
	if (!strstr(why, what)) {
		fprintf(stderr, "reason \"%s\" lacks \"%s\"\n", why, what);
		return false;
	}
	return true;
}

static const char *const three[] = {"the cat sat on the mat",
				    "quarterly tax return due in April",
				    "call mum on sunday"};
static const size_t three_lens[] = {22, 33, 18};

static enum pos_err embed_three(struct pos_embedder *e, float *out)
{
	return pos_embed_batch(e, three, three_lens, 3, out);
}

/* ---- tests ---- */

static void batch_gives_normalized_vectors(void **state)
{
	stub_reset();
	struct pos_embedder *e = make_default();
	assert_true(pos_embed_is_openai(e));
	assert_string_equal(e->model, "openai:" STUB_MODEL);
	assert_int_equal(e->dim, STUB_DIM);
	float out[3 * STUB_DIM], again[STUB_DIM];
	assert_int_equal(embed_three(e, out), POS_OK);
	for (int i = 0; i < 3; i++)
		assert_true(fabs(norm(out + i * STUB_DIM, STUB_DIM) - 1.0) < 1e-5);
	assert_true(fabsf(out[0] - out[STUB_DIM]) > 1e-7f || fabsf(out[1] - out[STUB_DIM + 1]) > 1e-7f);
	/* Deterministic, and embed agrees with embed_batch. */
	assert_int_equal(pos_embed(e, three[1], three_lens[1], again), POS_OK);
	assert_rows_equal(again, out + STUB_DIM, STUB_DIM);
	assert_int_equal(stub_count(), 2);

	struct pos_embed_openai_stats st;
	pos_embed_openai_stats(e, &st);
	assert_int_equal(st.requests, 2);
	assert_int_equal(st.texts, 4);
	assert_int_equal(st.retries, 0);
	assert_int_equal(st.call_failures, 0);
	assert_int_equal(st.last_http_status, 200);
	assert_true(st.last_success_us > 0);
	assert_int_equal(st.last_failure_us, 0);
	assert_int_equal(st.retry_after_us, 0);
	pos_embed_free(e);
}

static void request_is_recorded_with_key(void **state)
{
	stub_reset();
	struct pos_embed_openai_config c;
	config(&c);
	c.api_key = "sk-test-123";
	char url[128]; /* a trailing slash is tolerated */
	snprintf(url, sizeof(url), "%s/", stub_v1);
	c.base_url = url;
	struct pos_embedder *e = make(&c);
	float out[3 * STUB_DIM];
	assert_int_equal(embed_three(e, out), POS_OK);
	pos_embed_free(e);

	json_t *r = stub_requests();
	assert_int_equal(json_array_size(r), 1);
	json_t *q = json_array_get(r, 0);
	assert_string_equal(json_string_value(json_object_get(q, "method")), "POST");
	assert_string_equal(json_string_value(json_object_get(q, "path")), "/v1/embeddings");
	assert_string_equal(header(q, "Authorization"), "Bearer sk-test-123");
	assert_string_equal(header(q, "Content-Type"), "application/json");
	assert_null(header(q, "Expect"));
	json_t *b = json_object_get(q, "body");
	assert_string_equal(json_string_value(json_object_get(b, "model")), STUB_MODEL);
	assert_string_equal(json_string_value(json_object_get(b, "encoding_format")), "float");
	json_t *in = json_object_get(b, "input");
	assert_int_equal(json_array_size(in), 3);
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(json_string_value(json_array_get(in, i)), three[i]);
	json_decref(r);

	/* Without a key: no Authorization header at all. */
	stub_reset();
	e = make_default();
	assert_int_equal(embed_three(e, out), POS_OK);
	pos_embed_free(e);
	r = stub_requests();
	assert_int_equal(json_array_size(r), 1);
	assert_null(header(json_array_get(r, 0), "Authorization"));
	json_decref(r);
}

static void batches_split_at_max_batch(void **state)
{
	stub_reset();
	enum { N = 150 };
	char buf[N][32];
	const char *texts[N];
	size_t lens[N];
	for (int i = 0; i < N; i++) {
		lens[i] = (size_t)snprintf(buf[i], sizeof(buf[i]), "memory number %d", i);
		texts[i] = buf[i];
	}
	struct pos_embedder *e = make_default();
	float *out = calloc(N * STUB_DIM, sizeof(*out));
	assert_non_null(out);
	assert_int_equal(pos_embed_batch(e, texts, lens, N, out), POS_OK);
	json_t *r = stub_requests();
	assert_int_equal(json_array_size(r), 3);
	size_t want[] = {64, 64, 22};
	for (size_t i = 0; i < 3; i++) {
		json_t *in = json_object_get(json_object_get(json_array_get(r, i), "body"), "input");
		assert_int_equal(json_array_size(in), want[i]);
	}
	/* The third request starts with text 128. */
	json_t *in3 = json_object_get(json_object_get(json_array_get(r, 2), "body"), "input");
	assert_string_equal(json_string_value(json_array_get(in3, 0)), "memory number 128");
	json_decref(r);
	/* Rows land where they belong. */
	float one[STUB_DIM];
	for (int i = 0; i < N; i += 37) {
		assert_int_equal(pos_embed(e, texts[i], lens[i], one), POS_OK);
		assert_rows_equal(one, out + (size_t)i * STUB_DIM, STUB_DIM);
	}
	free(out);
	pos_embed_free(e);
}

static void out_of_order_answer_is_mapped_by_index(void **state)
{
	stub_reset();
	struct pos_embedder *e = make_default();
	float a[3 * STUB_DIM], b[3 * STUB_DIM];
	assert_int_equal(embed_three(e, a), POS_OK);
	stub_mode("{\"mode\": \"reversed\"}");
	assert_int_equal(embed_three(e, b), POS_OK);
	assert_rows_equal(a, b, 3 * STUB_DIM);
	pos_embed_free(e);
}

static void down_fails_after_retries(void **state)
{
	stub_reset();
	stub_mode("{\"mode\": \"down\"}");
	struct pos_embedder *e = make_default(); /* max_retries 2 */
	float out[3 * STUB_DIM];
	assert_int_equal(embed_three(e, out), POS_ERR_UNAVAILABLE);
	assert_int_equal(stub_count(), 3);
	assert_true(reason_has(e, "HTTP 503"));
	struct pos_embed_openai_stats st;
	pos_embed_openai_stats(e, &st);
	assert_int_equal(st.requests, 3);
	assert_int_equal(st.retries, 2);
	assert_int_equal(st.request_failures, 3);
	assert_int_equal(st.call_failures, 1);
	assert_int_equal(st.texts, 0);
	assert_int_equal(st.last_http_status, 503);
	assert_true(st.last_failure_us > 0);
	pos_embed_free(e);
}

static void down_then_up_succeeds_within_retries(void **state)
{
	stub_reset();
	stub_mode("{\"mode\": \"down\", \"count\": 2}");
	struct pos_embedder *e = make_default();
	float out[3 * STUB_DIM];
	assert_int_equal(embed_three(e, out), POS_OK);
	assert_int_equal(stub_count(), 3);
	struct pos_embed_openai_stats st;
	pos_embed_openai_stats(e, &st);
	assert_int_equal(st.retries, 2);
	assert_int_equal(st.call_failures, 0);
	assert_int_equal(st.texts, 3);
	pos_embed_free(e);
}

static void garbage_answers_fail_cleanly(void **state)
{
	static const struct {
		const char *mode, *reason;
	} cases[] = {
		{"garbage", "invalid JSON"},
		{"wrong_dim", "17-dimensional vectors, expected 16"},
		{"ragged", "17-dimensional vectors, expected 16"},
		{"bad_index", "index"},
		{"missing", "2 embeddings for 3 texts"},
		{"not_numbers", "not a finite number"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		stub_reset();
		char mode[128];
		snprintf(mode, sizeof(mode), "{\"mode\": \"%s\"}", cases[i].mode);
		stub_mode(mode);
		struct pos_embedder *e = make_default();
		float out[3 * STUB_DIM];
		assert_int_equal(embed_three(e, out), POS_ERR_UNAVAILABLE);
		assert_true(reason_has(e, cases[i].reason));
		/* A 200 with a bad body is not retried at once. */
		assert_int_equal(stub_count(), 1);
		struct pos_embed_openai_stats st;
		pos_embed_openai_stats(e, &st);
		assert_int_equal(st.request_failures, 1);
		assert_int_equal(st.call_failures, 1);
		pos_embed_free(e);
	}
}

static void unauthorized_gives_reason(void **state)
{
	stub_reset();
	stub_mode("{\"mode\": \"unauthorized\"}");
	struct pos_embed_openai_config c;
	config(&c);
	c.api_key = "sk-wrong";
	struct pos_embedder *e = make(&c);
	float out[3 * STUB_DIM];
	assert_int_equal(embed_three(e, out), POS_ERR_UNAVAILABLE);
	assert_true(reason_has(e, "provider rejected the API key"));
	assert_true(reason_has(e, "HTTP 401"));
	assert_int_equal(stub_count(), 1); /* never retried */
	/* The key never shows in the reason. */
	char why[256];
	pos_embed_openai_last_error(e, why, sizeof(why));
	assert_null(strstr(why, "sk-wrong"));
	/* A tiny buffer gets a cut, terminated copy. */
	assert_int_equal(pos_embed_openai_last_error(e, why, 9), 8);
	assert_string_equal(why, "provider");
	pos_embed_free(e);
}

static void rate_limit_honours_retry_after(void **state)
{
	stub_reset();
	/* Asked to wait an hour: give up now, the caller retries later. */
	stub_mode("{\"mode\": \"rate_limited\", \"retry_after\": \"3600\"}");
	struct pos_embedder *e = make_default();
	float out[3 * STUB_DIM];
	assert_int_equal(embed_three(e, out), POS_ERR_UNAVAILABLE);
	assert_int_equal(stub_count(), 1);
	assert_true(reason_has(e, "HTTP 429"));
	assert_true(reason_has(e, "wait 3600 s"));
	struct pos_embed_openai_stats st;
	pos_embed_openai_stats(e, &st);
	/* monotonic (a wall-clock jump moves no backoff): an hour from now */
	assert_true(st.retry_after_us > pos_mono_us() + 3000 * 1000000LL);

	stub_reset();
	stub_mode("{\"mode\": \"rate_limited\", \"retry_after\": \"0\", \"count\": 1}");
	assert_int_equal(embed_three(e, out), POS_OK);
	assert_int_equal(stub_count(), 2);
	pos_embed_free(e);
}

static void dropped_connection_is_retried(void **state)
{
	stub_reset();
	stub_mode("{\"mode\": \"disconnect\"}");
	struct pos_embedder *e = make_default();
	float out[3 * STUB_DIM];
	assert_int_equal(embed_three(e, out), POS_ERR_UNAVAILABLE);
	assert_int_equal(stub_count(), 3);
	assert_true(reason_has(e, "cannot reach the provider"));
	pos_embed_free(e);
}

static void slow_provider_times_out(void **state)
{
	stub_reset();
	stub_mode("{\"mode\": \"slow\", \"seconds\": 3}");
	struct pos_embed_openai_config c;
	config(&c);
	c.timeout_ms = 300;
	c.max_retries = 1;
	struct pos_embedder *e = make(&c);
	float out[3 * STUB_DIM];
	assert_int_equal(embed_three(e, out), POS_ERR_UNAVAILABLE);
	assert_true(reason_has(e, "timed out"));
	assert_int_equal(stub_count(), 2);
	pos_embed_free(e);
}

static void unreachable_provider(void **state)
{
	/* A port nobody listens on: bind one, then close it. */
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t alen = sizeof(a);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &alen), 0);
	close(s);
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1", ntohs(a.sin_port));

	struct pos_embed_openai_config c;
	config(&c);
	c.base_url = url;
	c.dim = 0;
	c.max_retries = 1;
	struct pos_embedder *e = make(&c); /* never blocks on the network */
	assert_int_equal(e->dim, 0);
	assert_int_equal(pos_embed_openai_probe(e), POS_ERR_UNAVAILABLE);
	assert_true(reason_has(e, "cannot reach the provider"));
	assert_int_equal(pos_embed_openai_dim(e), 0);
	struct pos_embed_openai_stats st;
	pos_embed_openai_stats(e, &st);
	assert_int_equal(st.requests, 2);
	assert_int_equal(st.retries, 1);
	pos_embed_free(e);
}

static void dimension_is_probed(void **state)
{
	stub_reset();
	struct pos_embed_openai_config c;
	config(&c);
	c.dim = 0;
	struct pos_embedder *e = make(&c);
	assert_int_equal(e->dim, 0);
	float out[3 * STUB_DIM];
	/* Unknown dimension: refused without a request. */
	assert_int_equal(embed_three(e, out), POS_ERR_UNAVAILABLE);
	assert_true(reason_has(e, "dimension is not known"));
	assert_int_equal(stub_count(), 0);

	assert_int_equal(pos_embed_openai_probe(e), POS_OK);
	assert_int_equal(e->dim, STUB_DIM);
	assert_int_equal(pos_embed_openai_dim(e), STUB_DIM);
	assert_int_equal(pos_embed_openai_probe(e), POS_OK); /* no new request */
	json_t *r = stub_requests();
	assert_int_equal(json_array_size(r), 1);
	json_t *in = json_object_get(json_object_get(json_array_get(r, 0), "body"), "input");
	assert_int_equal(json_array_size(in), 1);
	assert_string_equal(json_string_value(json_array_get(in, 0)), "dimension probe");
	json_decref(r);
	assert_int_equal(embed_three(e, out), POS_OK);

	/* A provider that changes its dimension later is refused. */
	stub_mode("{\"mode\": \"wrong_dim\"}");
	assert_int_equal(embed_three(e, out), POS_ERR_UNAVAILABLE);
	pos_embed_free(e);

	/* A probe that gets garbage learns nothing. */
	stub_reset();
	stub_mode("{\"mode\": \"garbage\"}");
	e = make(&c);
	assert_int_equal(pos_embed_openai_probe(e), POS_ERR_UNAVAILABLE);
	assert_int_equal(e->dim, 0);
	pos_embed_free(e);
}

static void configured_dimension_must_match(void **state)
{
	stub_reset();
	struct pos_embed_openai_config c;
	config(&c);
	c.dim = 8;
	struct pos_embedder *e = make(&c);
	float out[3 * 8];
	assert_int_equal(embed_three(e, out), POS_ERR_UNAVAILABLE);
	assert_true(reason_has(e, "16-dimensional vectors, expected 8"));
	pos_embed_free(e);
}

static void empty_texts_are_not_sent(void **state)
{
	stub_reset();
	struct pos_embedder *e = make_default();
	const char *texts[] = {"", "hello world", " \n\t "};
	size_t lens[] = {0, 11, 4};
	float out[3 * STUB_DIM];
	memset(out, 0xff, sizeof(out));
	assert_int_equal(pos_embed_batch(e, texts, lens, 3, out), POS_OK);
	for (unsigned i = 0; i < STUB_DIM; i++) {
		assert_true(out[i] == 0.0f);
		assert_true(out[2 * STUB_DIM + i] == 0.0f);
	}
	assert_true(fabs(norm(out + STUB_DIM, STUB_DIM) - 1.0) < 1e-5);
	json_t *r = stub_requests();
	assert_int_equal(json_array_size(r), 1);
	json_t *in = json_object_get(json_object_get(json_array_get(r, 0), "body"), "input");
	assert_int_equal(json_array_size(in), 1);
	assert_string_equal(json_string_value(json_array_get(in, 0)), "hello world");
	json_decref(r);

	/* Nothing to send: no request, zeros, success. NULL text with len 0. */
	stub_reset();
	assert_int_equal(pos_embed(e, NULL, 0, out), POS_OK);
	assert_true(out[0] == 0.0f);
	assert_int_equal(pos_embed_batch(e, texts, lens, 0, out), POS_OK);
	assert_int_equal(stub_count(), 0);
	pos_embed_free(e);
}

static void texts_are_cut_and_cleaned(void **state)
{
	stub_reset();
	/* 40000 "é" (2 bytes) and 20000 "€" (3 bytes): cut to 32768 bytes
	 * between characters; an invalid byte becomes U+FFFD. */
	size_t l1 = 80000, l2 = 60000;
	char *t1 = malloc(l1), *t2 = malloc(l2);
	assert_non_null(t1);
	assert_non_null(t2);
	for (size_t i = 0; i < l1; i += 2)
		memcpy(t1 + i, "\xc3\xa9", 2);
	for (size_t i = 0; i < l2; i += 3)
		memcpy(t2 + i, "\xe2\x82\xac", 3);
	const char *texts[] = {t1, t2, "ab\xff" "cd", "x\xe2\x82"};
	size_t lens[] = {l1, l2, 5, 3};
	struct pos_embedder *e = make_default();
	float out[4 * STUB_DIM];
	assert_int_equal(pos_embed_batch(e, texts, lens, 4, out), POS_OK);
	json_t *r = stub_requests();
	json_t *in = json_object_get(json_object_get(json_array_get(r, 0), "body"), "input");
	assert_int_equal(json_array_size(in), 4);
	assert_int_equal(json_string_length(json_array_get(in, 0)), 32768);
	assert_int_equal(json_string_length(json_array_get(in, 1)), 32766);
	assert_memory_equal(json_string_value(json_array_get(in, 1)), t2, 32766);
	assert_string_equal(json_string_value(json_array_get(in, 2)), "ab\xef\xbf\xbd" "cd");
	assert_string_equal(json_string_value(json_array_get(in, 3)),
			    "x\xef\xbf\xbd\xef\xbf\xbd");
	json_decref(r);
	free(t1);
	free(t2);
	pos_embed_free(e);
}

static void bad_configs_are_refused(void **state)
{
	struct pos_embed_openai_config c;
	struct pos_embedder *e = (struct pos_embedder *)&c;
	const char *bad_urls[] = {NULL, "", "ftp://x/v1", "127.0.0.1:11434/v1", "http://",
				  "http:///v1", "http://a b/v1", "http://x/v1\r\nX: y"};
	for (size_t i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++) {
		config(&c);
		c.base_url = bad_urls[i];
		assert_int_equal(pos_embed_openai_new(&c, &e), POS_ERR_INVALID_REQUEST);
		assert_null(e);
	}
	config(&c);
	c.model = NULL;
	assert_int_equal(pos_embed_openai_new(&c, &e), POS_ERR_INVALID_REQUEST);
	config(&c);
	c.model = "";
	assert_int_equal(pos_embed_openai_new(&c, &e), POS_ERR_INVALID_REQUEST);
	config(&c);
	c.api_key = "sk-1\r\nX-Evil: 1"; /* header injection */
	assert_int_equal(pos_embed_openai_new(&c, &e), POS_ERR_INVALID_REQUEST);
	config(&c);
	c.dim = POS_EMBED_OPENAI_MAX_DIM + 1;
	assert_int_equal(pos_embed_openai_new(&c, &e), POS_ERR_INVALID_REQUEST);
	config(&c);
	c.max_batch = POS_EMBED_OPENAI_MAX_BATCH + 1;
	assert_int_equal(pos_embed_openai_new(&c, &e), POS_ERR_INVALID_REQUEST);
	config(&c);
	c.max_retries = POS_EMBED_OPENAI_MAX_RETRIES + 1;
	assert_int_equal(pos_embed_openai_new(&c, &e), POS_ERR_INVALID_REQUEST);
	config(&c);
	c.max_input_bytes = 3;
	assert_int_equal(pos_embed_openai_new(&c, &e), POS_ERR_INVALID_REQUEST);

	/* Accepted: https, upper-case scheme, an empty key, a long model
	 * name (the model string is cut to 63 bytes). */
	config(&c);
	c.base_url = "HTTPS://api.example.com/v1";
	c.api_key = "";
	c.model = "a-very-long-model-name-that-goes-on-and-on-and-on-and-on-and-on-forever";
	assert_int_equal(pos_embed_openai_new(&c, &e), POS_OK);
	assert_int_equal(strlen(e->model), 63);
	assert_memory_equal(e->model, "openai:a-very-long", 18);
	pos_embed_free(e);
	assert_false(pos_embed_is_openai(NULL));
	struct pos_embedder *b = NULL;
	assert_int_equal(pos_embed_builtin_new(64, &b), POS_OK);
	assert_false(pos_embed_is_openai(b));
	assert_int_equal(pos_embed_openai_probe(b), POS_ERR_INVALID_REQUEST);
	pos_embed_free(b);
}

static void cancel_fails_fast(void **state)
{
	stub_reset();
	struct pos_embedder *e = make_default();
	pos_embed_openai_cancel(e);
	float out[3 * STUB_DIM];
	assert_int_equal(embed_three(e, out), POS_ERR_UNAVAILABLE);
	assert_true(reason_has(e, "cancelled"));
	assert_int_equal(stub_count(), 0);
	pos_embed_free(e);
}

/* Out of memory anywhere in our code: POS_ERR_NOMEM, never a crash or leak. */
static void out_of_memory_is_reported(void **state)
{
	stub_reset();
	struct pos_embed_openai_config c;
	config(&c);
	c.api_key = "sk-test";
	int failed = 0;
	for (long n = 1; n <= 12; n++) {
		struct pos_embedder *e = NULL;
		pos_alloc_fail_after(n);
		enum pos_err rc = pos_embed_openai_new(&c, &e);
		pos_alloc_fail_after(0);
		assert_true(rc == POS_OK || rc == POS_ERR_NOMEM);
		if (rc) {
			assert_null(e);
			failed++;
			continue;
		}
		pos_embed_free(e);
	}
	assert_true(failed > 0);
	struct pos_embedder *e = make(&c);
	float out[3 * STUB_DIM];
	failed = 0;
	for (long n = 1; n <= 12; n++) {
		pos_alloc_fail_after(n);
		enum pos_err rc = embed_three(e, out);
		pos_alloc_fail_after(0);
		assert_true(rc == POS_OK || rc == POS_ERR_NOMEM);
		failed += rc != POS_OK;
	}
	assert_true(failed > 0);
	assert_int_equal(embed_three(e, out), POS_OK);
	pos_embed_free(e);
}

struct slow_call {
	struct pos_embedder *e;
	enum pos_err rc;
};

static void *slow_call_main(void *arg)
{
	struct slow_call *c = arg;
	float out[3 * STUB_DIM];
	c->rc = embed_three(c->e, out);
	return NULL;
}

static void cancel_interrupts_a_request(void **state)
{
	stub_reset();
	/* Without the cancel the call would succeed after 5 s. */
	stub_mode("{\"mode\": \"slow\", \"seconds\": 5}");
	struct pos_embed_openai_config c;
	config(&c);
	c.max_retries = 0;
	struct slow_call call = {make(&c), POS_OK};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, slow_call_main, &call), 0);
	struct timespec ts = {0, 200 * 1000 * 1000};
	nanosleep(&ts, NULL);
	pos_embed_openai_cancel(call.e);
	pthread_join(t, NULL);
	assert_int_equal(call.rc, POS_ERR_UNAVAILABLE);
	assert_true(reason_has(call.e, "cancelled"));
	pos_embed_free(call.e);
}

struct worker {
	struct pos_embedder *e;
	int failures;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	float out[3 * STUB_DIM];
	for (int i = 0; i < 10; i++)
		if (embed_three(w->e, out) ||
		    fabs(norm(out + 2 * STUB_DIM, STUB_DIM) - 1.0) > 1e-5)
			w->failures++;
	return NULL;
}

static void many_threads_share_one_embedder(void **state)
{
	stub_reset();
	struct pos_embedder *e = make_default();
	enum { T = 4 };
	pthread_t th[T];
	struct worker w[T];
	for (int i = 0; i < T; i++) {
		w[i] = (struct worker){e, 0};
		assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < T; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].failures, 0);
	}
	struct pos_embed_openai_stats st;
	pos_embed_openai_stats(e, &st);
	assert_int_equal(st.requests, T * 10);
	assert_int_equal(st.texts, T * 10 * 3);
	assert_int_equal(stub_count(), T * 10);
	pos_embed_free(e);
}

/* The chat half of the stub is for the assistant; check its wire format. */
static void stub_speaks_openai_chat(void **state)
{
	stub_reset();
	long status = 0;
	char *s = stub_http("/v1/chat/completions",
			    "{\"model\": \"stub-chat\", \"messages\": [{\"role\": \"user\", "
			    "\"content\": \"hello there\"}]}", &status);
	assert_int_equal(status, 200);
	json_t *v = json_loads(s, 0, NULL);
	assert_non_null(v);
	assert_string_equal(json_string_value(json_object_get(v, "object")), "chat.completion");
	json_t *ch = json_array_get(json_object_get(v, "choices"), 0);
	assert_string_equal(json_string_value(json_object_get(ch, "finish_reason")), "stop");
	json_t *msg = json_object_get(ch, "message");
	assert_string_equal(json_string_value(json_object_get(msg, "role")), "assistant");
	assert_string_equal(json_string_value(json_object_get(msg, "content")),
			    "Stub reply to: hello there");
	assert_true(json_is_integer(json_object_get(json_object_get(v, "usage"), "total_tokens")));
	json_decref(v);
	free(s);

	s = stub_http("/v1/chat/completions",
		      "{\"model\": \"stub-chat\", \"stream\": true, \"messages\": "
		      "[{\"role\": \"user\", \"content\": \"hello there\"}]}", &status);
	assert_int_equal(status, 200);
	/* Events "data: {...}\n\n", the last with finish_reason "stop", then
	 * "data: [DONE]". The deltas add up to the reply. */
	char text[256] = "";
	const char *finish = NULL;
	size_t events = 0;
	char *p = s;
	bool done = false;
	while (*p) {
		char *end = strstr(p, "\n\n");
		assert_non_null(end);
		*end = '\0';
		assert_memory_equal(p, "data: ", 6);
		assert_false(done);
		if (strcmp(p + 6, "[DONE]") == 0) {
			done = true;
		} else {
			json_t *c = json_loads(p + 6, 0, NULL);
			assert_non_null(c);
			assert_string_equal(json_string_value(json_object_get(c, "object")),
					    "chat.completion.chunk");
			json_t *c0 = json_array_get(json_object_get(c, "choices"), 0);
			const char *piece = json_string_value(
				json_object_get(json_object_get(c0, "delta"), "content"));
			if (piece)
				snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s", piece);
			finish = json_string_value(json_object_get(c0, "finish_reason"));
			assert_true(finish == NULL || strcmp(finish, "stop") == 0);
			if (finish)
				assert_true(json_object_size(json_object_get(c0, "delta")) == 0);
			json_decref(c);
			events++;
		}
		p = end + 2;
	}
	assert_true(done);
	assert_true(events >= 3);
	assert_string_equal(text, "Stub reply to: hello there");
	free(s);
	/* Chat requests are recorded too. */
	assert_int_equal(stub_count(), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(batch_gives_normalized_vectors),
		cmocka_unit_test(request_is_recorded_with_key),
		cmocka_unit_test(batches_split_at_max_batch),
		cmocka_unit_test(out_of_order_answer_is_mapped_by_index),
		cmocka_unit_test(down_fails_after_retries),
		cmocka_unit_test(down_then_up_succeeds_within_retries),
		cmocka_unit_test(garbage_answers_fail_cleanly),
		cmocka_unit_test(unauthorized_gives_reason),
		cmocka_unit_test(rate_limit_honours_retry_after),
		cmocka_unit_test(dropped_connection_is_retried),
		cmocka_unit_test(slow_provider_times_out),
		cmocka_unit_test(unreachable_provider),
		cmocka_unit_test(dimension_is_probed),
		cmocka_unit_test(configured_dimension_must_match),
		cmocka_unit_test(empty_texts_are_not_sent),
		cmocka_unit_test(texts_are_cut_and_cleaned),
		cmocka_unit_test(bad_configs_are_refused),
		cmocka_unit_test(out_of_memory_is_reported),
		cmocka_unit_test(cancel_fails_fast),
		cmocka_unit_test(cancel_interrupts_a_request),
		cmocka_unit_test(many_threads_share_one_embedder),
		cmocka_unit_test(stub_speaks_openai_chat),
	};
	return cmocka_run_group_tests(tests, start_stub, stop_stub);
}
