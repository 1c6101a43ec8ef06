/*
 * graph.h — the memory graph and stats views of one user's memories.
 *
 * Graph: without a root, the newest `limit` memories and the edges among
 * them; with a root, a breadth-first walk over relationships and parent
 * links up to `depth` hops, stopping at `limit` nodes. Edges are returned
 * only between returned nodes. Results live in the caller's arena.
 * Thread-safe.
 */
#ifndef POS_MEMORY_GRAPH_H
#define POS_MEMORY_GRAPH_H

#include "base/json.h"
#include "store/store.h"

#define POS_GRAPH_LIMIT_DEFAULT 100
#define POS_GRAPH_LIMIT_MAX 500
#define POS_GRAPH_DEPTH_DEFAULT 2
#define POS_GRAPH_DEPTH_MAX 5

struct pos_graph {
	struct pos_graph_node *nodes;
	size_t n_nodes;
	struct pos_graph_edge *edges;
	size_t n_edges;
};

/* Which edges a graph walks and answers: edge types (a mask of
 * 1 << enum pos_graph_edge_type; 0: all) and the least strength. */
enum pos_graph_edge_type {
	POS_EDGE_RELATED, POS_EDGE_DUPLICATE, POS_EDGE_PARENT, POS_EDGE_MENTIONS,
	POS_EDGE__COUNT
};
struct pos_graph_filter {
	unsigned types;
	double min_strength;
};

/* Parses `types` ("related,parent"; NULL or "": all) into f->types;
 * POS_ERR_INVALID_FIELD (field "types") for an unknown type. */
enum pos_err pos_graph_types_parse(const char *types, struct pos_graph_filter *f,
				   struct pos_error *err);

/* root may be NULL; filter may be NULL (every edge). A malformed or
 * unknown root is POS_ERR_NOT_FOUND. */
enum pos_err pos_memory_graph(struct pos_store *s, struct pos_arena *a,
			      const char *user_id, const char *root,
			      unsigned depth, unsigned limit,
			      const struct pos_graph_filter *filter,
			      struct pos_graph *out, struct pos_error *err);
void pos_graph_json(struct pos_jw *w, const struct pos_graph *g);

/*
 * Writes the object of GET /api/memories/filters: what the filters of the
 * query language accept, for autocomplete — the keys, the types and
 * layers, the user's sources with counts, the source aliases with their
 * members, and the user's POS_FILTER_TAGS_MAX most used tags with counts
 * (none for an encrypted user: tags are sealed). The assistant's saved
 * exchanges are not counted.
 */
#define POS_FILTER_TAGS_MAX 200
enum pos_err pos_memory_filters_json(struct pos_store *s, struct pos_arena *a,
				     const char *user_id, struct pos_jw *w,
				     struct pos_error *err);

/* Days of the stats' time series (`series`). */
#define POS_STATS_SERIES_DAYS 90

/* Writes the stats object of GET /api/memories/stats. */
enum pos_err pos_memory_stats_json(struct pos_store *s, struct pos_arena *a,
				   const char *user_id, bool hide_chat, struct pos_jw *w,
				   struct pos_error *err);

#endif
