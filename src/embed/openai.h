/*
 * openai.h — a remote embedder that speaks the OpenAI /v1/embeddings wire
 * format, so PersonalOS can use OpenAI, Ollama, a llama.cpp server, vLLM or
 * any other server that implements it (docs/EMBEDDINGS-PROVIDER.md).
 *
 * It is a `struct pos_embedder` (embed/embed.h) whose embed and embed_batch
 * send POST {base_url}/embeddings with {"model", "input": [texts...],
 * "encoding_format": "float"}, validate the answer strictly and L2-normalize
 * each vector. Texts are sent at most `max_batch` per request, each cut to
 * `max_input_bytes` on a UTF-8 boundary (invalid UTF-8 becomes U+FFFD).
 * Empty and whitespace-only texts are never sent: their rows are all zeros,
 * as embed.h asks. A failed request is retried a few times at once (5xx,
 * 408, 429 and network errors, with exponential backoff that honours
 * Retry-After); anything longer-term is the caller's job: these calls block
 * on the network, so they belong on a background job thread, never on a
 * request path.
 *
 * The model string is "openai:<model>" (cut to 63 bytes), so its vectors are
 * never mixed with the built-in embedder's or another model's.
 *
 * Dimension. The constructor never touches the network. When the config
 * gives no `dim`, e->dim stays 0 until pos_embed_openai_probe() succeeds
 * (one request embedding "dimension probe"); until then embed and
 * embed_batch fail with POS_ERR_UNAVAILABLE and write nothing, because the
 * caller sizes `out` from e->dim. The dimension is set at most once and
 * never changes afterwards; a provider that later answers with another
 * length is an error. The intended use: the embedding job thread calls
 * probe before its first batch (retrying later while it fails), and the
 * engine reads e->dim after probe returned POS_OK, on that thread or after
 * synchronising with it (pos_embed_openai_dim() may be read from anywhere).
 *
 * Failures. Every error is POS_ERR_UNAVAILABLE (or POS_ERR_NOMEM) with a
 * short reason kept for pos_embed_openai_last_error(): "provider rejected
 * the API key (HTTP 401)", "provider answered HTTP 503", "timed out ...",
 * "provider answered invalid JSON", "provider returned 17-dimensional
 * vectors, expected 16". Reasons never hold texts, the API key or the
 * provider's free-text messages (which may echo input). The module itself
 * logs nothing; `out` is unspecified after a failed call.
 *
 * Process-wide set-up: libcurl needs curl_global_init() once, before any
 * thread uses it. main() calls pos_embed_openai_global_init() once at
 * start-up, before creating threads, and pos_embed_openai_global_cleanup()
 * at exit; it is the one process-wide initialisation of PersonalOS.
 *
 * Ownership: strings in the config are copied; the caller owns the embedder
 * and frees it with pos_embed_free() (the API key is wiped from memory).
 * Thread-safety: embed, embed_batch, probe, last_error, stats and cancel may
 * be called from any number of threads at once (each call uses its own
 * curl handle from a small mutex-guarded pool, so connections are reused).
 * pos_embed_free must not race with them.
 */
#ifndef POS_EMBED_OPENAI_H
#define POS_EMBED_OPENAI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "embed/embed.h"

/* Limits of the configuration (values past them are refused). */
#define POS_EMBED_OPENAI_MAX_DIM 16384u
#define POS_EMBED_OPENAI_MAX_BATCH 2048u
#define POS_EMBED_OPENAI_MAX_RETRIES 10u
#define POS_EMBED_OPENAI_MAX_TIMEOUT_MS 600000u
/* The longest Retry-After honoured inside a call; a provider asking for
 * more makes the call fail at once (the caller retries later). */
#define POS_EMBED_OPENAI_MAX_RETRY_WAIT_MS 10000u
/* The biggest response body read (larger: the request fails). */
#define POS_EMBED_OPENAI_MAX_RESPONSE (64u << 20)

struct pos_embed_openai_config {
	const char *base_url;   /* "http[s]://host[:port]/v1"; a trailing '/' is fine */
	const char *model;      /* required, e.g. "text-embedding-3-small" */
	const char *api_key;    /* NULL or "": no Authorization header */
	unsigned dim;           /* 0: learn it with pos_embed_openai_probe */
	unsigned timeout_ms;    /* whole request, per attempt; 0 = 30000 */
	unsigned connect_timeout_ms; /* 0 = 5000 */
	unsigned max_batch;     /* texts per request; 0 = 64 */
	unsigned max_retries;   /* immediate retries, taken as given (0 = none);
				   pos_embed_openai_config_default sets 2 */
	unsigned backoff_ms;    /* wait before the first retry, doubled each
				   time; 0 = 200 */
	size_t max_input_bytes; /* each text is cut to this (16 .. 1 MiB);
				   0 = 32768 */
};

/* Fills `c` with the defaults above and NULL strings. */
void pos_embed_openai_config_default(struct pos_embed_openai_config *c);

/*
 * Initialises libcurl for the whole process. Call once from main() before
 * any thread starts (not thread-safe, like curl_global_init).
 * POS_ERR_INTERNAL when libcurl cannot start.
 */
enum pos_err pos_embed_openai_global_init(void);
/* Undoes pos_embed_openai_global_init, at exit after every embedder is freed. */
void pos_embed_openai_global_cleanup(void);

/*
 * A new remote embedder in *out. Never touches the network.
 * POS_ERR_INVALID_REQUEST when base_url does not start with http:// or
 * https:// or holds spaces or control bytes, when model is missing, when a
 * string holds control bytes (no header injection), or when a number is
 * past the limits above; POS_ERR_NOMEM; POS_ERR_INTERNAL if libcurl fails.
 */
enum pos_err pos_embed_openai_new(const struct pos_embed_openai_config *cfg,
				  struct pos_embedder **out);

/* True when `e` was made by pos_embed_openai_new (NULL: false). */
bool pos_embed_is_openai(const struct pos_embedder *e);

/*
 * Learns the dimension when it is not known yet: embeds "dimension probe"
 * (with the usual immediate retries) and sets e->dim from the answer.
 * POS_OK at once, without a request, when the dimension is already known.
 * POS_ERR_UNAVAILABLE (reason in last_error) when the provider is down or
 * answers something unusable, including a dimension above
 * POS_EMBED_OPENAI_MAX_DIM; POS_ERR_NOMEM.
 */
enum pos_err pos_embed_openai_probe(struct pos_embedder *e);

/* The dimension, 0 while unknown. Safe to call from any thread. */
unsigned pos_embed_openai_dim(const struct pos_embedder *e);

/*
 * Copies the reason of the most recent failure, NUL-terminated and cut to
 * cap - 1 bytes, into buf ("" when nothing failed yet; a later success
 * does not clear it: compare the times in the stats). Returns the length
 * copied. cap 0 copies nothing.
 */
size_t pos_embed_openai_last_error(const struct pos_embedder *e, char *buf,
				   size_t cap);

/* Counters since creation, for /metrics. Each field is read atomically. */
struct pos_embed_openai_stats {
	uint64_t requests;         /* HTTP requests sent, retries included */
	uint64_t request_failures; /* requests that gave no usable answer */
	uint64_t retries;          /* requests that were immediate retries */
	uint64_t texts;            /* texts the provider embedded */
	uint64_t call_failures;    /* embed/embed_batch/probe calls that failed */
	int64_t last_success_us;   /* wall clock (base/clock.h); 0 = never */
	int64_t last_failure_us;   /* 0 = never */
	int64_t retry_after_us;    /* monotonic (pos_mono_us) before which the provider asked
				      not to be called again (Retry-After on
				      an error answer); 0 = it never asked */
	int last_http_status;      /* of the latest answered request; 0 = none */
};
void pos_embed_openai_stats(const struct pos_embedder *e,
			    struct pos_embed_openai_stats *out);

/*
 * Makes in-flight and later calls fail fast with POS_ERR_UNAVAILABLE
 * ("cancelled"): a transfer notices within about a second, a backoff wait
 * within 50 ms. For shutdown, before joining the job thread and freeing.
 * Sticky; thread-safe.
 */
void pos_embed_openai_cancel(struct pos_embedder *e);

#endif
