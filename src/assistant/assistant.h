/*
 * assistant.h — the AI assistant: persona chat over the user's memories,
 * suggestions, and the background jobs that memorize conversations and talk
 * to MemU Cloud (docs/ASSISTANT.md).
 *
 * A chat message goes through two phases so that no HTTP worker thread
 * waits on a model:
 *   1. pos_chat_prepare (on the request thread, milliseconds): validates,
 *      loads the persona, the conversation and its recent turns, retrieves
 *      the relevant memories (hybrid search, the query rewritten from the
 *      recent turns when the message leans on them), builds the prompt and
 *      checks the user's privacy tier against the provider;
 *   2. pos_chat_run (any thread): calls the model (streaming deltas to a
 *      callback when asked), then saves the exchange — a `conversation`
 *      memory (source `chat`) plus the two messages — and queues a
 *      memorize job. Nothing is saved when the model fails or the caller
 *      stops the stream.
 *
 * Jobs (memorize, MemU memorize and delete) live in the store's jobs table
 * and are run by one worker thread with exponential backoff, so they
 * survive restarts and never block a request.
 *
 * Thread-safety: everything here may be called from any thread once
 * pos_assistant_start has returned; pos_assistant_stop must not race with
 * anything else. Strings in results live in the given arena.
 */
#ifndef POS_ASSISTANT_ASSISTANT_H
#define POS_ASSISTANT_ASSISTANT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "assistant/persona.h"
#include "base/arena.h"
#include "base/config.h"
#include "base/err.h"
#include "llm/llm.h"
#include "memory/memory.h"
#include "search/engine.h"
#include "store/store.h"

struct pos_call;
struct pos_clusters;
struct pos_job_run;
struct pos_jobs;
struct pos_memu;
struct pos_memu_item;

#define POS_CHAT_MESSAGE_MAX (32 * 1024)   /* bytes of one user message */
#define POS_CHAT_TITLE_MAX 80
#define POS_CHAT_MAX_ACTIVE 64             /* model calls in flight */
#define POS_JOB_MAX_ATTEMPTS 6             /* memorize and MemU jobs */
#define POS_MEMU_TIMEOUT_MS 3000           /* a chat waits at most this for MemU */
#define POS_MEMU_QUIET_US (30LL * 1000000) /* then skips it this long */

struct pos_assistant {
	const struct pos_config *cfg;
	struct pos_store *store;
	const struct pos_memsvc *mem;
	struct pos_llm *llm;
	struct pos_memu *memu;        /* NULL when MemU is off */
	atomic_llong memu_quiet_until; /* monotonic µs: skip MemU in chats until */
	/* searches' own client, limited to 3/4 of memu_search_deadline_ms
	 * (assistant/memu_search.h); NULL when MemU is off */
	struct pos_memu *memu_search;
	atomic_llong memu_search_quiet_until;
	bool llm_local;               /* loopback or in local_providers */
	atomic_bool stopping;
	atomic_int active;            /* chats calling a model right now */
	struct pos_jobs *jobs;        /* memorize and MemU calls run there */
	/* Model calls a request waits for (chat, MCP ask) run as jobs of kind
	 * "chat" on a jobs service of their own, so a backlog of background
	 * work never delays an answer; `calls` maps a job's handle to its
	 * callback until a worker takes it. */
	struct pos_jobs *calls_jobs;
	pthread_mutex_t calls_mu;
	struct pos_call *calls;
	uint64_t calls_next;
	int64_t calls_epoch;          /* start time: handles of an earlier run never match */
	/* counters for /metrics */
	atomic_ullong chats, chat_failures;
	/* the local categories of meaning, cached per user (clusters.h) */
	struct pos_clusters *clusters;
};

/* Sets up the model provider (cfg->llm_*) and MemU when configured, and
 * registers the assistant's job kinds (memorize, memu_memorize,
 * memu_delete) with `jobs` (not started yet; borrowed, freed before
 * pos_assistant_stop). */
enum pos_err pos_assistant_start(struct pos_assistant *as, const struct pos_config *cfg,
				 struct pos_store *store, const struct pos_memsvc *mem,
				 struct pos_jobs *jobs, struct pos_error *err);
/* Asks model calls in flight (chats, memorize) to end now, with an error:
 * call before freeing the jobs service, whose workers wait for them. */
void pos_assistant_quiesce(struct pos_assistant *as);
/* Cancels model calls in flight, frees everything. */
void pos_assistant_stop(struct pos_assistant *as);

/* ---- chat ---- */

struct pos_chat_input {
	const char *user_id;
	const char *message;
	size_t message_len;
	const char *conversation_id;  /* NULL: start a new conversation */
};

/* A prepared chat, owning its own arena (freed by pos_chat_free). */
struct pos_chat;

/*
 * Phase 1. Errors: POS_ERR_MISSING_FIELD / INVALID_FIELD (empty message),
 * POS_ERR_CONTENT_TOO_LARGE (over 32 KiB), POS_ERR_NOT_FOUND (unknown or
 * someone else's conversation), POS_ERR_PRIVACY_TIER (the provider is not
 * local and the user's tier is `local`), POS_ERR_UNAVAILABLE (too many
 * chats in flight, or stopping).
 */
enum pos_err pos_chat_prepare(struct pos_assistant *as, const struct pos_chat_input *in,
			      struct pos_chat **out, struct pos_error *err);
/* True when the model is the built-in responder (fast: run inline). */
bool pos_chat_inline(const struct pos_chat *c);

struct pos_chat_result {
	const char *response;
	size_t response_len;
	const char *conversation_id;
	const char **memories_used;   /* ids, best first */
	size_t n_used;
	size_t context_size;          /* memories placed in the prompt */
	size_t context_tokens;        /* their estimated tokens */
	const char *memory_id;        /* the saved exchange */
	const char *model;            /* "builtin" or "openai:<model>" */
	/* MemU items merged into the context (origin "memu") */
	const struct pos_memu_item *memu_items;
	size_t n_memu;
};

/* Phase 2: the model call and the save. Results live in the chat's arena. */
enum pos_err pos_chat_run(struct pos_chat *c, pos_llm_delta_fn on_delta, void *ctx,
			  struct pos_chat_result *out, struct pos_error *err);
void pos_chat_free(struct pos_chat *c);

/*
 * A model call a request waits for (a chat message to a real model, an MCP
 * ask), run as a job of kind "chat" owned by `user_id`, bounded: at most
 * POS_CHAT_CALL_WORKERS at once, POS_CHAT_CALL_QUEUE_MAX queued per user.
 * On POS_OK `fn(ctx, run)` is called exactly once: on a jobs worker with
 * the attempt, or with run NULL when the call can no longer run (the
 * assistant stops first), when it only answers with an error and cleans
 * up. On an error fn is never called: POS_ERR_BUSY (answer 503 with
 * Retry-After), POS_ERR_UNAVAILABLE (stopping). `job_id` (may be NULL)
 * gets the job's id.
 */
#define POS_CHAT_CALL_WORKERS 16
#define POS_CHAT_CALL_QUEUE_MAX 8
typedef void (*pos_chat_call_fn)(void *ctx, struct pos_job_run *run);
enum pos_err pos_assistant_call(struct pos_assistant *as, const char *user_id,
				pos_chat_call_fn fn, void *ctx, char job_id[POS_UUID_SIZE]);

/* ---- history ---- */

/* Writes {conversations: [...], total, limit, offset, has_more}, or with a
 * conversation id {conversation, messages: [...]}. */
enum pos_err pos_chat_history_json(struct pos_assistant *as, struct pos_arena *a,
				   const char *user_id, const char *conversation_id,
				   unsigned limit, unsigned offset, struct pos_jw *w,
				   struct pos_error *err);

/* ---- suggestions ---- */

/* Writes {suggestions: [{text, kind, memory_ids}], ...} for the user. */
enum pos_err pos_suggestions_json(struct pos_assistant *as, struct pos_arena *a,
				  const char *user_id, int64_t now, struct pos_jw *w,
				  struct pos_error *err);

/* ---- jobs ---- */

/* Queues a memorize job for one of the user's memories; *job_id receives
 * its id (arena). POS_ERR_NOT_FOUND when the memory is not the user's. */
enum pos_err pos_memorize_enqueue(struct pos_assistant *as, struct pos_arena *a,
				  const char *user_id, const char *memory_id,
				  const char **job_id, struct pos_error *err);
/* Queues a job of one of the assistant's kinds with a JSON payload on the
 * jobs service. POS_ERR_BUSY when the user has too many queued. */
enum pos_err pos_assistant_enqueue(struct pos_assistant *as, const char *user_id,
				   const char *kind, const char *payload_json,
				   char job_id[POS_UUID_SIZE], struct pos_error *err);

/* ---- privacy ---- */

/* What the user's tier lets leave the machine, given this server's
 * providers: written as the members of an open JSON object. */
void pos_privacy_json(const struct pos_assistant *as, const char *tier, struct pos_jw *w);

/* ---- internals shared by the assistant's files ---- */

enum pos_err pos_memorize_run(struct pos_assistant *as, struct pos_arena *a,
			      const char *user_id, const char *memory_id,
			      const char **result_json, struct pos_error *err);

#endif
