/*
 * graph.c — graph walk and stats of a user's memories.
 */
#include "memory/graph.h"

#include <string.h>

#include "base/clock.h"
#include "base/uuid.h"

struct idset {
	char (*ids)[POS_UUID_SIZE];
	size_t n, cap;
};

static bool idset_has(const struct idset *s, const char *id)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->ids[i], id) == 0)
			return true;
	return false;
}

static void idset_add(struct idset *s, const char *id)
{
	if (s->n < s->cap && !idset_has(s, id))
		memcpy(s->ids[s->n++], id, POS_UUID_SIZE);
}

/* The ids [from, to) of `s` as a JSON array, in the arena. */
static const char *ids_json(struct pos_arena *a, const struct idset *s,
			    size_t from, size_t to)
{
	struct pos_buf b;
	pos_buf_init(&b, 64 * 1024);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_jw_arr(&w);
	for (size_t i = from; i < to; i++)
		pos_jw_str(&w, s->ids[i]);
	pos_jw_arr_end(&w);
	const char *out = w.rc ? NULL : pos_arena_strndup(a, b.data, b.len);
	pos_buf_free(&b);
	return out;
}

enum pos_err pos_memory_graph(struct pos_store *s, struct pos_arena *a,
			      const char *user_id, const char *root,
			      unsigned depth, unsigned limit,
			      struct pos_graph *out, struct pos_error *err)
{
	memset(out, 0, sizeof(*out));
	struct idset set = {pos_arena_alloc(a, limit * POS_UUID_SIZE), 0, limit};
	if (!set.ids)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	enum pos_err rc;
	struct pos_graph_edge *e;
	size_t ne;
	const unsigned edge_cap = limit * 8;
	if (root) {
		char norm[POS_UUID_SIZE];
		if (!pos_uuid_valid(root, strlen(root), norm))
			return pos_error_set(err, POS_ERR_NOT_FOUND, NULL, "root memory not found");
		idset_add(&set, norm);
		size_t frontier = 0;
		for (unsigned d = 0; d < depth && frontier < set.n && set.n < limit; d++) {
			size_t end = set.n;
			const char *j = ids_json(a, &set, frontier, end);
			if (!j)
				return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
			if ((rc = s->memories->graph_edges(s, a, user_id, j, edge_cap, &e, &ne)))
				return pos_error_set(err, rc, NULL, NULL);
			for (size_t i = 0; i < ne; i++) {
				idset_add(&set, e[i].source);
				idset_add(&set, e[i].target);
			}
			frontier = end;
		}
		const char *all = ids_json(a, &set, 0, set.n);
		if (!all)
			return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
		if ((rc = s->memories->graph_nodes(s, a, user_id, all, limit, &out->nodes, &out->n_nodes)))
			return pos_error_set(err, rc, NULL, NULL);
		bool found = false;
		for (size_t i = 0; i < out->n_nodes && !found; i++)
			found = strcmp(out->nodes[i].id, norm) == 0;
		if (!found)
			return pos_error_set(err, POS_ERR_NOT_FOUND, NULL, "root memory not found");
	} else {
		if ((rc = s->memories->graph_nodes(s, a, user_id, NULL, limit, &out->nodes, &out->n_nodes)))
			return pos_error_set(err, rc, NULL, NULL);
	}
	/* Keep exactly the nodes that exist, then the edges among them. */
	set.n = 0;
	for (size_t i = 0; i < out->n_nodes; i++)
		idset_add(&set, out->nodes[i].id);
	if (!set.n)
		return POS_OK;
	const char *all = ids_json(a, &set, 0, set.n);
	if (!all)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	if ((rc = s->memories->graph_edges(s, a, user_id, all, edge_cap, &e, &ne)))
		return pos_error_set(err, rc, NULL, NULL);
	out->edges = e;
	for (size_t i = 0; i < ne; i++)
		if (idset_has(&set, e[i].source) && idset_has(&set, e[i].target))
			out->edges[out->n_edges++] = e[i];
	return POS_OK;
}

void pos_graph_json(struct pos_jw *w, const struct pos_graph *g)
{
	pos_jw_obj(w);
	pos_jw_key(w, "nodes");
	pos_jw_arr(w);
	for (size_t i = 0; i < g->n_nodes; i++) {
		pos_jw_obj(w);
		pos_jw_kstr(w, "id", g->nodes[i].id);
		pos_jw_kstr(w, "label", g->nodes[i].label);
		pos_jw_kstr(w, "type", pos_mem_type_name(g->nodes[i].type));
		pos_jw_kstr(w, "layer", pos_mem_layer_name(g->nodes[i].layer));
		pos_jw_obj_end(w);
	}
	pos_jw_arr_end(w);
	pos_jw_key(w, "edges");
	pos_jw_arr(w);
	for (size_t i = 0; i < g->n_edges; i++) {
		pos_jw_obj(w);
		pos_jw_kstr(w, "source", g->edges[i].source);
		pos_jw_kstr(w, "target", g->edges[i].target);
		pos_jw_kstr(w, "type", g->edges[i].type);
		pos_jw_key(w, "strength");
		pos_jw_double(w, g->edges[i].strength);
		pos_jw_obj_end(w);
	}
	pos_jw_arr_end(w);
	pos_jw_obj_end(w);
}

/* Writes `json` (an object of counts) with every name of `names` present. */
static void counts_with_zeros(struct pos_jw *w, const char *json,
			      const char *(*name)(int), int n)
{
	json_t *o = json_loads(json, 0, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		o = json_object();
	}
	for (int i = 0; i < n; i++)
		if (!json_object_get(o, name(i)))
			json_object_set_new(o, name(i), json_integer(0));
	pos_jw_json(w, o);
	json_decref(o);
}

static const char *type_name(int i) { return pos_mem_type_name((enum pos_mem_type)i); }
static const char *layer_name(int i) { return pos_mem_layer_name((enum pos_mem_layer)i); }

enum pos_err pos_memory_stats_json(struct pos_store *s, struct pos_arena *a,
				   const char *user_id, bool hide_chat, struct pos_jw *w,
				   struct pos_error *err)
{
	struct pos_memory_stats st;
	enum pos_err rc = s->memories->memory_stats(s, a, user_id, 366, 20, hide_chat, &st);
	if (rc)
		return pos_error_set(err, rc, NULL, NULL);
	pos_jw_obj(w);
	pos_jw_kint(w, "total", st.total);
	pos_jw_key(w, "by_type");
	counts_with_zeros(w, st.by_type_json, type_name, POS_TYPE__COUNT);
	pos_jw_key(w, "by_layer");
	counts_with_zeros(w, st.by_layer_json, layer_name, POS_LAYER__COUNT);
	pos_jw_key(w, "by_source");
	pos_jw_raw(w, st.by_source_json, strlen(st.by_source_json));
	pos_jw_key(w, "per_day");
	pos_jw_raw(w, st.per_day_json, strlen(st.per_day_json));
	pos_jw_key(w, "top_tags");
	pos_jw_raw(w, st.top_tags_json, strlen(st.top_tags_json));
	pos_jw_key(w, "average_importance");
	pos_jw_double(w, st.importance_avg);
	pos_jw_ktime(w, "oldest_memory_at", st.oldest);
	pos_jw_ktime(w, "newest_memory_at", st.newest);
	pos_jw_obj_end(w);
	return w->rc;
}

enum pos_err pos_memory_filters_json(struct pos_store *s, struct pos_arena *a,
				     const char *user_id, struct pos_jw *w,
				     struct pos_error *err)
{
	struct pos_memory_stats st;
	enum pos_err rc = s->memories->memory_stats(s, a, user_id, 0, POS_FILTER_TAGS_MAX, true, &st);
	if (rc)
		return pos_error_set(err, rc, NULL, NULL);
	pos_jw_obj(w);
	pos_jw_key(w, "keys");
	pos_jw_arr(w);
	static const char *const keys[] = {"type", "layer", "tag", "source", "after", "before"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		pos_jw_str(w, keys[i]);
	pos_jw_arr_end(w);
	pos_jw_key(w, "types");
	pos_jw_arr(w);
	for (int i = 0; i < POS_TYPE__COUNT; i++)
		pos_jw_str(w, type_name(i));
	pos_jw_arr_end(w);
	pos_jw_key(w, "layers");
	pos_jw_arr(w);
	for (int i = 0; i < POS_LAYER__COUNT; i++)
		pos_jw_str(w, layer_name(i));
	pos_jw_arr_end(w);
	pos_jw_key(w, "sources");
	pos_jw_raw(w, st.by_source_json, strlen(st.by_source_json));
	pos_jw_key(w, "source_aliases");
	pos_jw_obj(w);
	for (size_t i = 0; pos_source_aliases[i]; i++) {
		const char *members = pos_source_alias_json(pos_source_aliases[i]);
		pos_jw_key(w, pos_source_aliases[i]);
		pos_jw_raw(w, members, strlen(members));
	}
	pos_jw_obj_end(w);
	pos_jw_key(w, "tags");
	pos_jw_raw(w, st.top_tags_json, strlen(st.top_tags_json));
	pos_jw_obj_end(w);
	return w->rc;
}
