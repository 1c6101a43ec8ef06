/*
 * graph.c — graph walk and stats of a user's memories.
 */
#include "memory/graph.h"

#include <jansson.h>
#include <stdio.h>
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

static const char *const edge_names[POS_EDGE__COUNT] = {
	[POS_EDGE_RELATED] = "related", [POS_EDGE_DUPLICATE] = "duplicate",
	[POS_EDGE_PARENT] = "parent", [POS_EDGE_MENTIONS] = "mentions",
};

enum pos_err pos_graph_types_parse(const char *types, struct pos_graph_filter *f,
				   struct pos_error *err)
{
	f->types = 0;
	for (const char *p = types; p && *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		int t = -1;
		if (len == 0 || (end && !end[1]))
			return pos_error_set(err, POS_ERR_INVALID_FIELD, "types",
					     "types must be a comma-separated list without empty items");
		for (int i = 0; i < POS_EDGE__COUNT; i++)
			if (strlen(edge_names[i]) == len && !strncmp(edge_names[i], p, len))
				t = i;
		if (t < 0)
			return pos_error_set(err, POS_ERR_INVALID_FIELD, "types",
					     "types must list related, duplicate, parent, mentions");
		f->types |= 1u << t;
		p = end ? end + 1 : p + len;
	}
	return POS_OK;
}

/* Whether an edge passes the filter ("child" edges are parent links seen
 * from the other end). */
static bool edge_ok(const struct pos_graph_filter *f, const struct pos_graph_edge *e)
{
	if (!f)
		return true;
	if (e->strength < f->min_strength)
		return false;
	if (!f->types)
		return true;
	for (int i = 0; i < POS_EDGE__COUNT; i++)
		if (!strcmp(e->type, edge_names[i]) ||
		    (i == POS_EDGE_PARENT && !strcmp(e->type, "child")))
			return (f->types >> i) & 1u;
	return false;
}

enum pos_err pos_memory_graph(struct pos_store *s, struct pos_arena *a,
			      const char *user_id, const char *root,
			      unsigned depth, unsigned limit,
			      const struct pos_graph_filter *filter,
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
				if (!edge_ok(filter, &e[i]))
					continue;
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
		if (idset_has(&set, e[i].source) && idset_has(&set, e[i].target) &&
		    edge_ok(filter, &e[i]))
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
	struct pos_memory_series se;
	int64_t since = pos_now_us() - (int64_t)POS_STATS_SERIES_DAYS * 86400 * 1000000;
	/* from midnight UTC, so the first day is whole */
	since -= since % (86400LL * 1000000LL);
	if ((rc = s->memories->memory_series(s, a, user_id, since, hide_chat, &se)))
		return pos_error_set(err, rc, NULL, NULL);
	pos_jw_key(w, "series");
	pos_jw_obj(w);
	pos_jw_kint(w, "days", POS_STATS_SERIES_DAYS);
	pos_jw_key(w, "by_type");
	pos_jw_raw(w, se.by_type_json, strlen(se.by_type_json));
	pos_jw_key(w, "by_layer");
	pos_jw_raw(w, se.by_layer_json, strlen(se.by_layer_json));
	pos_jw_key(w, "by_source");
	pos_jw_raw(w, se.by_source_json, strlen(se.by_source_json));
	pos_jw_key(w, "sync");
	pos_jw_raw(w, se.sync_json, strlen(se.sync_json));
	pos_jw_obj_end(w);
	/* distributions: every bucket, in order, zeros included */
	json_t *imp = json_loads(se.importance_json, 0, NULL);
	json_t *acc = json_loads(se.access_json, 0, NULL);
	pos_jw_key(w, "importance_distribution");
	pos_jw_arr(w);
	for (int i = 0; i < 10; i++) {
		char k[4];
		snprintf(k, sizeof(k), "%d", i);
		pos_jw_obj(w);
		pos_jw_key(w, "from");
		pos_jw_double(w, i / 10.0);
		pos_jw_key(w, "to");
		pos_jw_double(w, (i + 1) / 10.0);
		pos_jw_kint(w, "count", json_integer_value(json_object_get(imp, k)));
		pos_jw_obj_end(w);
	}
	pos_jw_arr_end(w);
	static const char *const abuckets[] = {"0", "1", "2-4", "5-9", "10+"};
	pos_jw_key(w, "access_distribution");
	pos_jw_arr(w);
	for (size_t i = 0; i < sizeof(abuckets) / sizeof(abuckets[0]); i++) {
		pos_jw_obj(w);
		pos_jw_kstr(w, "accesses", abuckets[i]);
		pos_jw_kint(w, "count", json_integer_value(json_object_get(acc, abuckets[i])));
		pos_jw_obj_end(w);
	}
	pos_jw_arr_end(w);
	json_decref(imp);
	json_decref(acc);
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
