/*
 * engine_internal.h — the search engine's state, shared by engine.c
 * (searches, inline embedding) and backfill.c (the `search.backfill` job
 * kind). Not for use outside src/search.
 */
#ifndef POS_SEARCH_ENGINE_INTERNAL_H
#define POS_SEARCH_ENGINE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "search/engine.h"

struct pos_jobs;
struct pos_vcache;
struct pos_rcache;
struct pos_workers;

/* A user with a backfill job queued or running (backfill.c). */
struct pos_backfill_user {
	char id[POS_UUID_SIZE];
	bool running;               /* else queued */
};

/* After a write of the user: drops its cached results here and, with a
 * shared cache, on every instance (engine.c). */
void pos_search_bump(struct pos_search *e, const char *user_id);

struct pos_search {
	struct pos_store *store;
	struct pos_search_config cfg;
	struct pos_embedder *embedder;
	bool remote;                    /* an OpenAI-compatible provider */
	struct pos_vcache *_Atomic vectors; /* NULL until the dimension is known */
	struct pos_rcache *results;
	struct pos_search_shared shared; /* all NULL: one instance */
	atomic_bool shared_lost;        /* a write's bump did not reach the cache */
	struct pos_workers *helpers;    /* fork-join pool of hybrid searches */
	struct pos_wordnet *wordnet;    /* query expansion; NULL: none */
	struct pos_jobs *jobs;          /* borrowed; NULL until pos_search_register_jobs */
	pthread_mutex_t lock;           /* guards the fields below */
	struct pos_backfill_user *busy; /* users with a backfill job, unordered */
	size_t n_busy, cap_busy;
	uint64_t writes;                /* writes stored without a vector so far */
	char last_error[160];
	bool provider_ok;               /* the last attempt succeeded */
	int64_t not_before_us;          /* Retry-After: no attempt before this (monotonic) */
	_Atomic uint64_t embedded, searches, embed_failures, query_embed_failures, skipped;
};

/* The vector index, NULL until the dimension is known. */
struct pos_vcache *pos_search_vectors(struct pos_search *e);
/* Mixes a memory's vector and its context's, normalizes, quantizes into
 * out (arena storage). A zero vector: no q. */
enum pos_err pos_search_finish_vec(struct pos_search *e, struct pos_arena *a, float *v,
				   const float *ctx, struct pos_vec *out);
/* Whether the user's text may go to the embedding provider. */
bool pos_search_may_send(struct pos_search *e, struct pos_arena *a, const char *user_id);
/* A write stored without a vector (remote provider): makes sure the user
 * has a backfill job (backfill.c). */
void pos_search_backfill_kick(struct pos_search *e, const char *user_id);
/* Frees the backfill bookkeeping (backfill.c). */
void pos_search_backfill_free(struct pos_search *e);

#endif
