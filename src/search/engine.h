/*
 * engine.h — the search engine: hybrid keyword + semantic search over one
 * user's memories, and the embedding upkeep that writes need.
 *
 * A search parses the query (search/query.h), takes BM25 candidates from
 * the store's FTS5 index and nearest neighbours from the user's in-memory
 * int8 vector index (search/vcache.h) — under the same filters — fuses them
 * by reciprocal rank, boosts by recency, importance, layer and access
 * (search/fusion.h), and pages the result. Ranked lists are cached per
 * user until the user's next write (search/rcache.h).
 *
 * Writers call pos_search_embed before storing a memory (the built-in
 * embedder runs inline, in microseconds) and pos_search_written after the
 * store committed, which keeps the vector index and cache in step. A job
 * kind of the jobs service, `search.backfill` (backfill.c, one job per
 * user), embeds memories stored without a vector of the current model: an
 * upgraded database, a changed model, and — with a remote OpenAI-compatible
 * provider — every new memory, so that no write waits on the network. The
 * engine has no thread of its own but the fork-join pool of hybrid
 * searches (base/thread.h).
 *
 * Thread-safe: one engine serves every worker thread.
 */
#ifndef POS_SEARCH_ENGINE_H
#define POS_SEARCH_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/err.h"
#include "embed/embed.h"
#include "search/fusion.h"
#include "store/store.h"

enum pos_search_mode { POS_SEARCH_HYBRID, POS_SEARCH_KEYWORD, POS_SEARCH_SEMANTIC };

/* The relevance cutoff for candidates found by meaning alone (not by
 * keyword), docs/SEARCH.md: a cosine of at least the floor (config
 * search_min_similarity) and at least this share of the best candidate's. */
#define POS_SEARCH_MIN_SIMILARITY_DEFAULT 0.1
#define POS_SEARCH_RELATIVE_SIMILARITY 0.5

struct pos_search_config {
	struct pos_rank_weights weights;
	unsigned candidates;        /* per list (keyword, semantic) */
	unsigned embed_dim;         /* built-in embedder dimensions */
	unsigned cache_entries;     /* result cache slots; 0 disables */
	unsigned max_loaded_users;  /* vector indexes kept in memory */
	size_t vector_cache_bytes;  /* and at most these bytes of them (0: no bound) */
	/* How long a search waits for a user's vectors to load before it
	 * answers from keyword alone (vector_status "loading"). */
	unsigned vector_wait_ms;
	/* Vector search scans every int8 row (no two-stage scan). */
	bool vector_exact;
	bool backfill;              /* embed memories that lack a vector */
	/* An OpenAI-compatible /v1/embeddings provider instead of the
	 * built-in embedder (NULL/"": built-in). */
	const char *embed_url, *embed_model, *embed_api_key;
	unsigned embed_remote_dim;  /* 0: learn it from the provider */
	/* A candidate found by meaning alone (not by keyword) is a hit only
	 * when its cosine similarity to the query reaches this
	 * (docs/SEARCH.md, "Relevance cutoff"); 0 keeps every one. */
	double min_similarity;
	/* The provider runs on this machine (loopback or a configured local
	 * host). When false, only users whose privacy tier is `cloud` have
	 * their text sent to it; the others get keyword search (and their
	 * memories no remote vectors). */
	bool embed_local;
	/* Time phrases in queries (docs/SEARCH.md, "Time phrases"): a memory
	 * dated in the window a query names gains this much of boost (less
	 * with distance); one that mentions a time gains `date_when` when the
	 * query asks "when ...". */
	double date_boost, date_when;
	/* Query expansion (search/expand.h): WordNet's directory (NULL or
	 * "": none) and the weight of an alternative (0: off). */
	const char *wordnet_dir;
	double expand_weight;
	/* Only words typed that at most this many memories hold are expanded
	 * (0, the default: only words the user never wrote); negative: every
	 * word. */
	int64_t expand_max_df;
	/* Thread credit (search/fusion.h, pos_thread_credit): 0 = off. */
	double thread_credit;
};

void pos_search_config_default(struct pos_search_config *c);

struct pos_search;

/* Creates the engine (and its built-in embedder). */
enum pos_err pos_search_new(struct pos_store *s, const struct pos_search_config *cfg,
			    struct pos_search **out, struct pos_error *err);

/* The job kind that embeds a user's memories lacking a vector of the
 * current model; payload {}. */
#define POS_SEARCH_BACKFILL_JOB "search.backfill"
struct pos_jobs;
/* Registers `search.backfill` and its tick (first at start: every user
 * with missing vectors gets a job) on `jobs` (borrowed; freed before the
 * engine), before pos_jobs_start. Without it (tools, tests) nothing is
 * backfilled. Nothing is registered when cfg.backfill is off and the
 * embedder is built in. */
enum pos_err pos_search_register_jobs(struct pos_search *e, struct pos_jobs *jobs);
/* At shutdown, before the jobs service stops: a provider call in flight
 * ends now (and every later one fails). NULL is fine. */
void pos_search_quiesce(struct pos_search *e);
/* Frees everything; the jobs service is gone by then. */
void pos_search_free(struct pos_search *e);

/* The ranking weights the engine fuses and boosts with (its config's). */
const struct pos_rank_weights *pos_search_weights(const struct pos_search *e);
/* The embedding model in use, e.g. "builtin-hash-v1-256". */
const char *pos_search_model(const struct pos_search *e);

/*
 * Embeds `text` and quantizes it into out (storage in the arena), ready for
 * the store. An empty text gives out->q = NULL (no vector).
 */
enum pos_err pos_search_embed(struct pos_search *e, struct pos_arena *a,
			      const char *text, size_t len, struct pos_vec *out);

/*
 * Like pos_search_embed for a memory with thread context: the vector is
 * embed(text) + POS_CONTEXT_WEIGHT × embed(context), normalized. The
 * context may be NULL.
 */
#define POS_CONTEXT_WEIGHT 0.4f
enum pos_err pos_search_embed_ctx(struct pos_search *e, struct pos_arena *a,
				  const char *text, size_t len, const char *context,
				  size_t context_len, struct pos_vec *out);

/*
 * pos_search_embed_ctx for n texts at once, into out[0..n): the texts are
 * embedded on the engine's fork-join pool and the caller's thread (both
 * cores of a small machine), in chunks. Storage in the arena (used on the
 * caller's thread only). The first error stops the rest and is returned.
 */
struct pos_embed_input {
	const char *text;
	size_t len;
	const char *context; /* NULL: none */
	size_t context_len;
};
enum pos_err pos_search_embed_many(struct pos_search *e, struct pos_arena *a,
				   const struct pos_embed_input *in, size_t n, struct pos_vec *out);

/* After a committed write of the user's memory `seq`: `v` is its new
 * vector (NULL: unchanged), `deleted` when it is gone. */
void pos_search_written(struct pos_search *e, const char *user_id, int64_t seq,
			const struct pos_vec *v, bool deleted);
/* pos_search_written for n memories just created together (one user's,
 * v[i].vec their vectors): the cached results are retired once. */
void pos_search_written_batch(struct pos_search *e, const struct pos_memory *v, size_t n);

/*
 * The `k` memories of the user nearest to `v` by cosine (the in-memory
 * index, loaded first if needed), best first, into out[0..*n): seq and
 * cosine in score, by the exact scan (every int8 row, ties by seq). For
 * auto-linking (memory/autolink.h); no filters, no boosts. *n is 0 when `v` has no vector or the index is not ready.
 */
enum pos_err pos_search_similar(struct pos_search *e, const char *user_id,
				const struct pos_vec *v, unsigned k, struct pos_hit *out,
				size_t *n);

/*
 * pos_search_similar for nq vectors v[0..nq) at once (auto-linking a
 * batch): the hits of v[i] go to out[i*k ..] and their number to n[i] (0
 * for a vector of another model or none), each exactly what
 * pos_search_similar gives v[i]. One pass over the index per few queries
 * instead of one per query (vcache.h pos_vcache_search_many).
 */
enum pos_err pos_search_similar_many(struct pos_search *e, const char *user_id,
				     const struct pos_vec *v, size_t nq, unsigned k,
				     struct pos_hit *out, size_t *n);

/*
 * Several instances (a shared cache, app/app.c): `generation` reads the
 * user's shared write generation (POS_OK, else the shared cache cannot
 * answer) and `bump` advances it on every write of the user and tells the
 * other instances. Cached results are then stamped with the shared
 * generation too, so a write through any instance invalidates the cached
 * results of every instance, and (with get/put) a list one instance ranked
 * serves the others; while `generation` fails nothing is cached or served
 * from the cache. Set once, before the engine serves searches.
 */
struct pos_search_shared {
	enum pos_err (*generation)(void *ctx, const char *user_id, uint64_t *gen);
	enum pos_err (*bump)(void *ctx, const char *user_id);
	/* Moves every user's generation at once: the engine calls it when
	 * the cache is back after a `bump` failed (a write other instances
	 * did not hear of). */
	enum pos_err (*bump_all)(void *ctx);
	/* Optional: ranked lists shared by the instances, under keys the
	 * engine makes from (user, shared generation, a hash of the request —
	 * never its text): `get` copies at most cap bytes and is POS_OK on a
	 * hit; `put` keeps the bytes ttl_ms. */
	enum pos_err (*get)(void *ctx, const char *key, void *buf, size_t cap, size_t *len);
	void (*put)(void *ctx, const char *key, const void *val, size_t len, int64_t ttl_ms);
	void *ctx;
};
void pos_search_set_shared(struct pos_search *e, const struct pos_search_shared *shared);
/* Another instance wrote the user's memories (events layer): drops what
 * this one holds of the user (vector index, cached results), reloaded on
 * the next search. The same as pos_search_forget_user. */
void pos_search_invalidate_user(struct pos_search *e, const char *user_id);

/* The user's local write generation: it moves on every write of the user
 * through this instance and when the user's cached data is forgotten, so
 * a value derived from the user's memories and stamped with it is stale
 * once it differs (assistant/clusters.c). */
uint64_t pos_search_generation(struct pos_search *e, const char *user_id);

/*
 * Up to `max` of the user's vectors, spread evenly over the in-memory
 * index, for clustering: seqs and vectors (dim floats each, unit length
 * up to int8 rounding) in the arena; *total is how many vectors the user
 * has. Loads the index on the cache's loader thread, waiting at most
 * wait_ms: POS_ERR_UNAVAILABLE when it is not resident by then (the load
 * goes on; ask again later) or there is no vector index yet.
 */
enum pos_err pos_search_sample(struct pos_search *e, struct pos_arena *a, const char *user_id,
			       size_t max, unsigned wait_ms, int64_t **seqs, float **vecs,
			       size_t *n, size_t *total, unsigned *dim);

/* Forgets everything cached of the user (vector index, cached results):
 * called when the user's encrypted data locks, or the account is deleted. */
void pos_search_forget_user(struct pos_search *e, const char *user_id);

/*
 * A third retriever next to keyword and vector (MemU, docs/SEARCH.md):
 * `fn` runs on a thread of its own while the local lists are ranked, with
 * the query's free text; it fills out[0..*n) (room for `max`) with seqs of
 * the user's own memories, best first, and returns a static status word:
 * "used", or why nothing came ("timeout", "unavailable", ...). It bounds
 * its own time (the engine waits for it). Thread-safe.
 */
struct pos_search_extra {
	const char *(*fn)(void *ctx, const char *user_id, const char *query, size_t max,
			  struct pos_hit *out, size_t *n);
	void *ctx;
};
#define POS_SEARCH_EXTRA_MAX 20   /* hits taken from the third retriever */

struct pos_search_request {
	const char *user_id;
	const char *query;           /* raw text, may carry filters */
	size_t query_len;
	enum pos_search_mode mode;
	struct pos_memory_query filters; /* from parameters; limit/offset/sort ignored */
	unsigned limit, offset;
	/* Search as you type (POS_QUERY_TYPING): the last word also matches
	 * as a prefix, and filters not (yet) valid are ignored, not errors. */
	bool typing;
	/* NULL: none. A search with one is neither served from nor kept in
	 * the result cache (the third list changes on its own). */
	const struct pos_search_extra *extra;
	/* The person's UTC offset in minutes, for time phrases ("yesterday"
	 * starts at their midnight); 0: UTC. */
	int tz_offset_min;
	/* The caller has read the query's time phrase itself (the
	 * assistant's time questions): the words are searched as written. */
	bool no_time_phrases;
};

struct pos_search_hit {
	struct pos_memory memory;
	struct pos_ranked rank;
};

struct pos_search_result {
	struct pos_search_hit *hits;
	size_t n;
	int64_t total;               /* candidates found (capped) */
	double took_ms;
	bool cached;
	/* "ready": the semantic half ran; "loading": the user's vectors were
	 * not resident yet, the answer is keyword only and a load runs;
	 * NULL: no semantic half asked for (keyword mode) or possible */
	const char *vector_status;
	/* with req->extra and a text query: its status word ("used", ...) and
	 * how many of its hits were fused; NULL otherwise */
	const char *extra_status;
	size_t extra_hits;
	/* typing only: the filters left out as not yet valid, as typed */
	const char *const *ignored;
	size_t n_ignored;
};

/* Runs a search. Errors: POS_ERR_INVALID_FIELD (query, filters), store's. */
enum pos_err pos_search_run(struct pos_search *e, struct pos_arena *a,
			    const struct pos_search_request *req,
			    struct pos_search_result *out, struct pos_error *err);

/* Counters for /metrics: cache hits/misses, vectors loaded, backfilled. */
struct pos_search_stats {
	uint64_t cache_hits, cache_misses;
	size_t index_bytes, index_users;
	uint64_t backfilled;         /* vectors written by backfill jobs */
	uint64_t searches;
	uint64_t embed_failures;     /* backfill batches that failed (retried) */
	uint64_t query_embed_failures; /* searches that fell back to keyword */
	uint64_t embed_skipped;      /* memories the provider refused alone */
	bool remote;
	bool provider_ok;            /* the last embedding attempt succeeded */
	char last_error[160];        /* the last failure, kept after recovery */
};
void pos_search_stats(struct pos_search *e, struct pos_search_stats *out);

#endif
