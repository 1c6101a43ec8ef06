/*
 * memory.h — the memory service: turns API input into validated memory
 * records, calls the store, and renders memories as JSON.
 *
 * Every function is scoped by `user_id` (the authenticated caller). Records
 * and strings come back in the caller's arena; JSON inputs are borrowed and
 * must outlive the use of the records built from them. Thread-safe.
 * Validation failures set `err` (code, field, and for bulk the index) as
 * docs/API-DECISIONS.md lists them.
 */
#ifndef POS_MEMORY_MEMORY_H
#define POS_MEMORY_MEMORY_H

#include <jansson.h>
#include <stdatomic.h>

#include "base/arena.h"
#include "base/err.h"
#include "base/json.h"
#include "search/engine.h"
#include "search/filters.h"
#include "store/store.h"

struct pos_events;

#define POS_CONTENT_MAX (1024 * 1024)
#define POS_BULK_MAX 1000
#define POS_TAGS_MAX 100
#define POS_TAG_BYTES_MAX 128
#define POS_METADATA_MAX_BYTES (64 * 1024)
#define POS_METADATA_MAX_DEPTH 16
#define POS_RELATED_MAX 100

/* What the memory operations work with. `search` may be NULL (tools that
 * only read or write rows): then no embeddings are made. `events` may be
 * NULL: then no live event is published (docs/EVENTS.md); with it, every
 * create, update and delete publishes memory.created|updated|deleted with
 * the memory's id, type, layer and updated_at (never its content). */
struct pos_jobs;
struct pos_memsvc {
	struct pos_store *store;
	struct pos_search *search;
	struct pos_events *events;
	struct pos_jobs *jobs;   /* set: a memory.autolink job for every created
				  * or re-written memory (config auto_link) */
	/* set: told the ids of each batch of memories created together (bulk
	 * create, import, a sync run's inserts; not single creates) after they
	 * are stored, one call per run of one user's ids (plugins' batched
	 * on_memory_created, plugins.h pos_plugins_memory_batch). */
	void (*created_batch)(void *ctx, const char *user_id, const char *const *ids, size_t n);
	void *created_ctx;
	/* Set: asked, before memories are stored (single create, bulk,
	 * import, a sync run's inserts; one call per run of one user's
	 * memories), for tags to add to them (plugins' on_memory_creating,
	 * plugins.h pos_plugins_memory_creating). v[0..n) are validated and
	 * not yet stored (read only); the callback may set add[i] (NULL on
	 * entry) to a new reference to a JSON array of strings, which are
	 * checked like a memory's own tags (bad ones dropped, at most
	 * POS_TAGS_MAX in all) and stored with the row. Runs on the writer's
	 * thread before the insert's transaction; it never fails the write. */
	void (*creating)(void *ctx, const char *user_id, const struct pos_memory *v, size_t n,
			 json_t **add);
	void *creating_ctx;
	/* Set: told after every committed create (once per call, with the
	 * user) and delete, for copies of the user's memories kept elsewhere
	 * (MemU, assistant/memu_sync.h). Runs on the writer's thread: quick,
	 * and it never fails the write. */
	void (*written)(void *ctx, const char *user_id, bool deleted);
	void *written_ctx;
	/* Set: how many bulk writes run now (pos_memory_bulk and
	 * pos_memory_insert_records count themselves in it while they run);
	 * auto-linking gives way to them between its units of work
	 * (memory/autolink.h), so ingest is not slowed by the linking it
	 * queued. */
	atomic_int *bulk_writes;
};

/* Creates one memory from a POST /api/memories body; `out` is the stored record. */
enum pos_err pos_memory_create(const struct pos_memsvc *svc, struct pos_arena *a,
			       const char *user_id, const json_t *body,
			       struct pos_memory *out, struct pos_error *err);

/* Creates every memory of a bulk body, all or nothing. ids in order. */
enum pos_err pos_memory_bulk(const struct pos_memsvc *svc, struct pos_arena *a,
			     const char *user_id, const json_t *body,
			     struct pos_memory **out, size_t *n,
			     struct pos_error *err);

/* Reads one memory and counts the access. A malformed id is NOT_FOUND. */
enum pos_err pos_memory_get(const struct pos_memsvc *svc, struct pos_arena *a,
			    const char *user_id, const char *id,
			    struct pos_memory *out, struct pos_error *err);

/* Reads one memory without counting an access (a check of ownership before
 * other work, e.g. an upload to it). A malformed id is NOT_FOUND. */
enum pos_err pos_memory_peek(const struct pos_memsvc *svc, struct pos_arena *a,
			     const char *user_id, const char *id,
			     struct pos_memory *out, struct pos_error *err);

/*
 * Adds tags (`tags`: a JSON array of strings, checked like a memory's) to
 * one of the user's memories, keeping the ones it has (plugins'
 * pos.memories.tag): the store's cheap memory_tag_add, no re-validation of
 * the rest. *added: how many were new (0 writes nothing). With `out`, the
 * memory as stored is read back. POS_ERR_INVALID_FIELD (field "tags") past
 * POS_TAGS_MAX; a malformed or another user's id is NOT_FOUND.
 */
enum pos_err pos_memory_tag(const struct pos_memsvc *svc, struct pos_arena *a,
			    const char *user_id, const char *id, const json_t *tags,
			    size_t *added, struct pos_memory *out, struct pos_error *err);

/* Applies a partial update (PUT body) and returns the memory as stored. */
enum pos_err pos_memory_update(const struct pos_memsvc *svc, struct pos_arena *a,
			       const char *user_id, const char *id,
			       const json_t *body, struct pos_memory *out,
			       struct pos_error *err);

enum pos_err pos_memory_delete(const struct pos_memsvc *svc, const char *user_id,
			       const char *id, struct pos_error *err);

/* A page of the user's memories (q->user_id) and their total. */
enum pos_err pos_memory_list(const struct pos_memsvc *svc, struct pos_arena *a,
			     const struct pos_memory_query *q, struct pos_memory **out,
			     size_t *n, int64_t *total);
/* The stored vector of the user's memory `seq` (out->q NULL: none). */
enum pos_err pos_memory_vector(const struct pos_memsvc *svc, struct pos_arena *a,
			       const char *user_id, int64_t seq, struct pos_vec *out);
/* Memories stored, all users (for /metrics). */
enum pos_err pos_memory_count_all(const struct pos_memsvc *svc, int64_t *out);

/* ---- for the sync framework (src/sync) ----
 * Inserts n records the caller built and validated (id, user, fields; the
 * user the same for all), in one transaction: thread context and embeddings
 * are filled in here, like for API writes (a vector already made, its
 * model set, is kept). */
enum pos_err pos_memory_insert_records(const struct pos_memsvc *svc,
				       struct pos_arena *a, struct pos_memory *v,
				       size_t n, struct pos_error *err);
/* Embeds records ahead of pos_memory_insert_records, which then keeps
 * the vectors made here: those without a thread (a thread's context
 * needs the store, so they are embedded at insert). Touches neither the
 * store nor the callbacks, so it may run on another thread than the
 * insert (the import reads and embeds the next batch while one is
 * written). */
enum pos_err pos_memory_embed_records(const struct pos_memsvc *svc, struct pos_arena *a,
				      struct pos_memory *v, size_t n);
/* Applies a patch the caller built (a new content is embedded here). */
enum pos_err pos_memory_patch_record(const struct pos_memsvc *svc,
				     struct pos_arena *a, const char *user_id,
				     const char *id, struct pos_memory_patch *p,
				     struct pos_error *err);

/* Writes a memory as the API's JSON object. */
void pos_memory_json(struct pos_jw *w, const struct pos_memory *m);
/* Writes the memory's fields into an object the caller opened (and closes),
 * so it can add its own (a search score). */
void pos_memory_json_fields(struct pos_jw *w, const struct pos_memory *m);

#endif
