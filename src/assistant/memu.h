/*
 * memu.h — a client for the MemU Cloud API v3 (docs/MEMU.md), the hosted
 * memory layer the seed project used. PersonalOS stays the system of record;
 * when the user configures MemU, conversations are also memorized there,
 * chat retrieval merges MemU's items with local results, and deleting an
 * account deletes its MemU memories.
 *
 * Wire format (every request carries "Authorization: Bearer <api_key>" and,
 * when it has a body, "Content-Type: application/json"):
 *   POST {base}/api/v3/memory/memorize
 *        {user_id, agent_id, user_name?, agent_name,
 *         conversation: [{role, content}...] | conversation_text}
 *        -> {task_id, status, message}
 *   GET  {base}/api/v3/memory/memorize/status/{task_id}  -> {task_id, status, ...}
 *   POST {base}/api/v3/memory/retrieve   {user_id, agent_id, query}
 *        -> {categories: [...], items: [...], resources: [...], ...}
 *   POST {base}/api/v3/memory/categories {user_id, agent_id}
 *        -> {categories: [{name, ...}...]}  (a bare array is accepted too)
 *   POST {base}/api/v3/memory/delete     {user_id, agent_id}  -> any JSON
 * agent_id and agent_name come from the config, so one PersonalOS server is
 * one MemU agent and its users are MemU users (user_id = PersonalOS id).
 *
 * Each call is one HTTP request, no retries (the caller's job queue retries
 * with backoff), bounded by timeout_ms as a whole. Answers are untrusted:
 * at most POS_MEMU_MAX_RESPONSE bytes are read, parsed with base/json.h's
 * limits, and copied into the caller's arena; odd fields are skipped, never
 * trusted (see pos_memu_retrieve).
 *
 * Failures (err->message says why, and never holds the API key, the content
 * sent, or MemU's free-text messages, which may echo it):
 *   POS_ERR_INVALID_REQUEST  bad arguments or config (nothing was sent)
 *   POS_ERR_CONTENT_TOO_LARGE  the request body would pass
 *                            POS_MEMU_MAX_REQUEST (nothing was sent)
 *   POS_ERR_UNAVAILABLE      MemU unreachable, timed out, HTTP 5xx, 408 or
 *                            429: "MemU: HTTP 503", "MemU: timed out after
 *                            10000 ms", "MemU: cannot connect: ..."
 *   POS_ERR_BAD_GATEWAY      HTTP 401/403 ("MemU rejected the API key"),
 *                            another non-2xx ("MemU: HTTP 422 (conversation)"),
 *                            or a 2xx body that is not the expected JSON
 *   POS_ERR_NOT_FOUND        pos_memu_task_status only: MemU answered 404
 *   POS_ERR_NOMEM
 * Outputs are unspecified after a failure. The module logs nothing.
 *
 * libcurl must have been initialised once per process (main() does it via
 * pos_embed_openai_global_init) before the first call.
 *
 * Ownership: the config strings are copied (the key is wiped at free);
 * result strings live in the arena `a`. Thread-safety: one struct pos_memu
 * per server; every call may run on any number of threads at once (curl
 * handles come from a small mutex-guarded pool, so connections are reused).
 * pos_memu_free must not race with calls.
 */
#ifndef POS_ASSISTANT_MEMU_H
#define POS_ASSISTANT_MEMU_H

#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/err.h"

#define POS_MEMU_DEFAULT_BASE_URL "https://api.memu.so"
#define POS_MEMU_DEFAULT_AGENT_ID "personalos"
#define POS_MEMU_DEFAULT_AGENT_NAME "PersonalOS"
#define POS_MEMU_DEFAULT_TIMEOUT_MS 10000L
#define POS_MEMU_MAX_TIMEOUT_MS 600000L
/* The biggest answer read; a larger one fails with POS_ERR_BAD_GATEWAY. */
#define POS_MEMU_MAX_RESPONSE (8u << 20)
/* The biggest request body sent (a long conversation). */
#define POS_MEMU_MAX_REQUEST (4u << 20)
/* Longest user_id, user_name, agent_id, agent_name, role, task id (bytes). */
#define POS_MEMU_MAX_ID 256u

struct pos_memu_config {
	const char *base_url;    /* default "https://api.memu.so" */
	const char *api_key;     /* required */
	const char *agent_id;    /* default "personalos" */
	const char *agent_name;  /* default "PersonalOS" */
	long timeout_ms;         /* whole request; default 10000 */
};

struct pos_memu;             /* thread-safe; one per server */

/*
 * A new client in *out; never touches the network. NULL or "" strings and
 * timeout_ms 0 take the defaults above. POS_ERR_INVALID_REQUEST (message
 * names the field) when api_key is missing, base_url is not http(s)://host,
 * a string holds control bytes or invalid UTF-8 or is too long, or
 * timeout_ms is negative or above POS_MEMU_MAX_TIMEOUT_MS; POS_ERR_NOMEM.
 */
enum pos_err pos_memu_new(const struct pos_memu_config *cfg, struct pos_memu **out,
			  struct pos_error *err);
/* How long MemU last asked to be left alone: after an HTTP 429 or 503
 * whose Retry-After held delta-seconds (at most
 * POS_MEMU_RETRY_AFTER_MAX_S), the microseconds left of it; 0 when none
 * or over. Shared by every call of the client (one API key). */
#define POS_MEMU_RETRY_AFTER_MAX_S 3600L
int64_t pos_memu_retry_after_us(struct pos_memu *m);

/* Frees the client (NULL is fine). */
void pos_memu_free(struct pos_memu *m);

/* One turn of a conversation: role ("user", "assistant", ...) and content,
 * both non-NULL valid UTF-8, role non-empty. */
struct pos_memu_turn { const char *role; const char *content; };

/*
 * POST /api/v3/memory/memorize {user_id, agent_id, user_name, agent_name,
 * conversation:[{role,content}]} (or conversation_text when n == 0 and text
 * given) → {task_id, status, message}.
 *
 * user_id is required; user_name NULL or "" leaves the field out. With
 * n > 0 the turns are sent and `text` is ignored; with n == 0 `text` must
 * be a non-empty string. (MemU documents a minimum of three turns for
 * `conversation`; send shorter exchanges as text.) On success *task_id is
 * MemU's task id (non-empty; an integer id is turned into its decimal
 * text) and *status its status, "PENDING" when the answer has none; both
 * live in `a`. An answer without a usable task_id is POS_ERR_BAD_GATEWAY.
 */
enum pos_err pos_memu_memorize(struct pos_memu *m, struct pos_arena *a,
			       const char *user_id, const char *user_name,
			       const struct pos_memu_turn *turns, size_t n,
			       const char *text, const char **task_id,
			       const char **status, struct pos_error *err);

/*
 * GET /api/v3/memory/memorize/status/{task_id} → status string (PENDING,
 * PROCESSING, SUCCESS, FAILURE, ...). The task id is percent-encoded in the
 * path. *status is the answer's "status" as sent (1..64 printable ASCII
 * bytes, else POS_ERR_BAD_GATEWAY), in `a`; classify it with
 * pos_memu_status_kind. POS_ERR_NOT_FOUND when MemU answers 404.
 */
enum pos_err pos_memu_task_status(struct pos_memu *m, struct pos_arena *a,
				  const char *task_id, const char **status,
				  struct pos_error *err);

/* Where a task is, from its status string (case-insensitive): SUCCESS,
 * COMPLETED, COMPLETE, DONE → DONE; FAILURE, FAILED, ERROR, REVOKED,
 * CANCELLED, CANCELED → FAILED; anything else (PENDING, PROCESSING,
 * STARTED, RETRY, NULL, unknown) → PENDING. Pure; not a network call. */
enum pos_memu_task_state {
	POS_MEMU_TASK_PENDING = 0,
	POS_MEMU_TASK_DONE = 1,
	POS_MEMU_TASK_FAILED = 2,
};
enum pos_memu_task_state pos_memu_status_kind(const char *status);

/* One memory MemU returned. text is never NULL or empty; id and category
 * are NULL when the answer had none; kind is a static string. */
struct pos_memu_item {
	const char *id;
	const char *text;
	const char *category;
	const char *kind; /* "item", "category", "resource" */
	double score;
};

/*
 * POST /api/v3/memory/retrieve {user_id, agent_id, query} → categories,
 * items, resources, parsed leniently (missing or odd-typed fields skipped,
 * several plausible text field names accepted: "memory", "content",
 * "summary", "text", "description", "name") into one flat list, best first,
 * at most `max`.
 *
 * Details (docs/MEMU.md): an entry that is an object gives its text from
 * the first of those names that holds a non-blank string (categories prefer
 * "summary", resources "caption"), a bare string is its own text, anything
 * else or an entry without text is skipped. id: "id" (string or integer).
 * category: "category_name", "category" (string, or object with "name"),
 * else "memory_type" for items, "name" for categories and "modality" for
 * resources. score: the first
 * finite number of "score", "similarity", "relevance", "relevance_score";
 * entries without one get 0. Order: score descending; ties keep items
 * before categories before resources, each in MemU's order. A root that is
 * an array is read as items; a root object holding only "data" is looked
 * into once. A root that is neither an object nor an array is
 * POS_ERR_BAD_GATEWAY; an object without any of the lists gives n = 0.
 * user_id and query are required (query non-empty). max 0 gives n = 0
 * without a request. *items (in `a`, NULL when n == 0) holds *n entries.
 */
enum pos_err pos_memu_retrieve(struct pos_memu *m, struct pos_arena *a,
			       const char *user_id, const char *query, size_t max,
			       struct pos_memu_item **items, size_t *n,
			       struct pos_error *err);

/*
 * POST /api/v3/memory/categories {user_id, agent_id} → category names.
 * Accepts {categories: [...]}, a bare array, or {data: either}; entries
 * that are strings, or objects with a non-blank string "name" (else
 * "title"), give a name; others are skipped. *names (in `a`, NULL when
 * n == 0) holds *n strings in MemU's order.
 */
enum pos_err pos_memu_categories(struct pos_memu *m, struct pos_arena *a,
				 const char *user_id, const char ***names, size_t *n,
				 struct pos_error *err);

/*
 * POST /api/v3/memory/delete {user_id, agent_id}: forgets everything MemU
 * holds for this user under this agent. Any 2xx answer that is empty or
 * JSON (MemU answers a bare string) is success.
 */
enum pos_err pos_memu_delete(struct pos_memu *m, const char *user_id,
			     struct pos_error *err);

#endif
