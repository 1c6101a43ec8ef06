/*
 * llm.h — chat model providers for the assistant.
 *
 * Two kinds behind one interface:
 *  - "openai": any server speaking OpenAI's POST {base}/chat/completions
 *    (OpenAI, Ollama, llama.cpp server, vLLM, LM Studio), streamed with
 *    Server-Sent Events ("data: {...}" chunks, then "data: [DONE]") or not;
 *  - "builtin": the offline responder, used when no provider is configured.
 *    It answers from the retrieved memories given in the request: the
 *    sentences that best match the question (for a time question, the
 *    memories dated in its window, soonest first), dated by what they are
 *    about, Markdown stripped, each citing its memory as [n] where n counts
 *    only the memories it quotes; and it tells the person that the answer
 *    is drawn from their notes without a language model.
 *
 * Failures (the reason never holds prompt text, answers or the API key):
 *  - POS_ERR_UNAVAILABLE: cannot connect, timed out, HTTP 5xx or 429;
 *  - POS_ERR_BAD_GATEWAY: the provider answered something unusable (not
 *    JSON, no choices, an error object, HTTP 4xx such as a rejected key or
 *    an unknown model), or a stream that ended without "[DONE]";
 *  - POS_ERR_CONFLICT with message "cancelled": the caller's delta callback
 *    returned false, or `cancel` was set (shutdown).
 * On any failure the partial answer is not returned: callers save nothing.
 *
 * Thread-safety: one `struct pos_llm` serves any number of threads at once;
 * each call makes its own transfer (net/http.h). Strings in the config are copied.
 */
#ifndef POS_LLM_LLM_H
#define POS_LLM_LLM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/err.h"

struct pos_llm_config {
	const char *url;        /* base URL ending in /v1; NULL or "" = builtin */
	const char *model;      /* required with url */
	const char *api_key;    /* optional bearer token */
	unsigned timeout_s;     /* whole answer */
	unsigned connect_timeout_s;
	unsigned idle_timeout_s; /* no bytes for this long = timed out */
};

struct pos_llm_msg {
	const char *role;       /* "system", "user", "assistant" */
	const char *content;
};

/* A retrieved memory, for the builtin responder (others ignore it: the
 * memories reach a model through the system prompt). */
struct pos_llm_doc {
	const char *id;
	int64_t created_at;     /* microseconds */
	const char *text;
	size_t len;
	bool has_when;          /* `when` is set: */
	int64_t when;           /* what it is about: event start, due date, a date in it */
};

struct pos_llm_request {
	const struct pos_llm_msg *msgs;
	size_t n_msgs;
	const char *question;   /* the user's message (builtin) */
	const struct pos_llm_doc *docs;
	size_t n_docs;
	double temperature;     /* < 0: the provider's default */
	unsigned max_tokens;    /* 0: the provider's default */
	bool json;              /* ask for a JSON object answer */
	const atomic_bool *cancel; /* optional: set = stop now */
	/* builtin: a time question's window [window_from, window_to), named
	 * window_label ("tomorrow"); dates are shown in the user's zone. */
	bool window;
	int64_t window_from, window_to;
	const char *window_label;
	int tz_offset_min;
	/* builtin, optional: n_docs flags, set for each memory the answer
	 * quotes (its [n] counts only those, in order). */
	unsigned char *cited;
};

/* Receives each piece of the answer as it arrives. Return false to stop
 * (the client went away). */
typedef bool (*pos_llm_delta_fn)(void *ctx, const char *text, size_t len);

struct pos_llm;

enum pos_err pos_llm_new(const struct pos_llm_config *cfg, struct pos_llm **out,
			 struct pos_error *err);
void pos_llm_free(struct pos_llm *l);

/* True for the offline responder. */
bool pos_llm_builtin(const struct pos_llm *l);
/* "builtin" or "openai:<model>". */
const char *pos_llm_name(const struct pos_llm *l);

/*
 * Runs one completion. With `on_delta` the answer is streamed (pieces go to
 * on_delta as they arrive); without, it is fetched in one piece. Either
 * way the whole answer lands in *answer (NUL-terminated, in `a`).
 */
enum pos_err pos_llm_complete(struct pos_llm *l, struct pos_arena *a,
			      const struct pos_llm_request *req,
			      pos_llm_delta_fn on_delta, void *ctx,
			      const char **answer, size_t *len,
			      struct pos_error *err);

/* The builtin responder on its own (also used by pos_llm_complete). */
enum pos_err pos_llm_builtin_answer(struct pos_arena *a,
				    const struct pos_llm_request *req,
				    const char **answer, size_t *len);

/* Answers bigger than this are cut off as an error (BAD_GATEWAY). */
#define POS_LLM_ANSWER_MAX ((size_t)1 << 20)

#endif
