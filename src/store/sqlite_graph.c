/*
 * sqlite_graph.c — aggregates (stats) and graph queries of the SQLite
 * backend. Id sets arrive as JSON arrays and are expanded with json_each,
 * so each query is one prepared statement whatever the set size.
 */
#include "store/sqlite_internal.h"

#include <string.h>

#include "base/clock.h"

static const char stats_sql[] =
	"SELECT"
	" (SELECT count(*) FROM memories WHERE user_id = ?1 AND NOT (?4 AND type = 'conversation' AND source = 'chat')),"
	" (SELECT coalesce(avg(importance_score), 0) FROM memories WHERE user_id = ?1 AND NOT (?4 AND type = 'conversation' AND source = 'chat')),"
	" (SELECT coalesce(sum(access_count), 0) FROM memories WHERE user_id = ?1 AND NOT (?4 AND type = 'conversation' AND source = 'chat')),"
	" (SELECT min(created_at) FROM memories WHERE user_id = ?1 AND NOT (?4 AND type = 'conversation' AND source = 'chat')),"
	" (SELECT max(created_at) FROM memories WHERE user_id = ?1 AND NOT (?4 AND type = 'conversation' AND source = 'chat')),"
	" (SELECT coalesce(json_group_object(type, n), '{}') FROM"
	"   (SELECT type, count(*) AS n FROM memories WHERE user_id = ?1 AND NOT (?4 AND type = 'conversation' AND source = 'chat') GROUP BY type)),"
	" (SELECT coalesce(json_group_object(layer, n), '{}') FROM"
	"   (SELECT layer, count(*) AS n FROM memories WHERE user_id = ?1 AND NOT (?4 AND type = 'conversation' AND source = 'chat') GROUP BY layer)),"
	" (SELECT coalesce(json_group_object(source, n), '{}') FROM"
	"   (SELECT source, count(*) AS n FROM memories WHERE user_id = ?1 AND NOT (?4 AND type = 'conversation' AND source = 'chat') GROUP BY source)),"
	" (SELECT coalesce(json_group_array(json_object('date', d, 'count', n)), '[]') FROM"
	"   (SELECT date(created_at / 1000000, 'unixepoch') AS d, count(*) AS n"
	"    FROM memories WHERE user_id = ?1 AND NOT (?4 AND type = 'conversation' AND source = 'chat') GROUP BY d ORDER BY d DESC LIMIT ?2)),"
	" (SELECT coalesce(json_group_array(json_object('tag', tag, 'count', n)), '[]') FROM"
	"   (SELECT tag, count(*) AS n FROM memory_tags WHERE user_id = ?1"
	"    AND NOT (?4 AND memory_seq IN (SELECT seq FROM memories WHERE user_id = ?1"
	"     AND type = 'conversation' AND source = 'chat'))"
	"    GROUP BY tag ORDER BY n DESC, tag LIMIT ?3))";

/* The top-tags part of stats_sql alone: the tag index's (user_id, tag)
 * prefix, a covering scan in tag order, no row of memories read (chat
 * exchanges through the partial index memories_chat). */
static const char tag_counts_sql[] =
	"SELECT coalesce(json_group_array(json_object('tag', tag, 'count', n)), '[]') FROM"
	" (SELECT tag, count(*) AS n FROM memory_tags WHERE user_id = ?1"
	"  AND NOT (?3 AND memory_seq IN (SELECT seq FROM memories WHERE user_id = ?1"
	"   AND type = 'conversation' AND source = 'chat'))"
	"  GROUP BY tag ORDER BY n DESC, tag LIMIT ?2)";

static const char nodes_by_id_sql[] =
	"SELECT m.id, substr(m.content, 1, 120), m.type, m.layer FROM json_each(?2) j"
	" CROSS JOIN memories m ON m.id = j.value"
	" WHERE m.user_id = ?1 ORDER BY m.created_at DESC LIMIT ?3";

static const char nodes_recent_sql[] =
	"SELECT id, substr(content, 1, 120), type, layer FROM memories"
	" WHERE user_id = ?1 ORDER BY created_at DESC, seq DESC LIMIT ?3";

/* Each branch starts from the id list and uses an index per id. */
static const char edges_sql[] =
	"SELECT r.memory_id, r.related_memory_id, r.relationship_type, r.strength"
	" FROM json_each(?2) j CROSS JOIN memory_relationships r ON r.memory_id = j.value"
	" CROSS JOIN memories m ON m.id = r.memory_id WHERE m.user_id = ?1"
	" UNION"
	" SELECT r.memory_id, r.related_memory_id, r.relationship_type, r.strength"
	" FROM json_each(?2) j CROSS JOIN memory_relationships r ON r.related_memory_id = j.value"
	" CROSS JOIN memories m ON m.id = r.memory_id WHERE m.user_id = ?1"
	" UNION"
	" SELECT m.id, m.parent_memory_id, 'parent', 1.0"
	" FROM json_each(?2) j CROSS JOIN memories m ON m.id = j.value"
	" WHERE m.user_id = ?1 AND m.parent_memory_id IS NOT NULL"
	" UNION"
	" SELECT m.id, m.parent_memory_id, 'parent', 1.0"
	/* pinned: with a user_id index the planner may otherwise scan all
	 * of the user's rows per id (docs/BENCHMARKS.md, issue 16) */
	" FROM json_each(?2) j CROSS JOIN memories m INDEXED BY memories_parent"
	" ON m.parent_memory_id = j.value"
	" WHERE m.user_id = ?1"
	" LIMIT ?3";

const char *sq_graph_edges_sql(void)
{
	return edges_sql;
}

/* Prepares a one-off statement (these routes are not hot). */
static sqlite3_stmt *prepare(struct sq_conn *c, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
		sq_fail(c, "prepare");
		return NULL;
	}
	return st;
}

enum pos_err sq_memory_stats(struct pos_store *base, struct pos_arena *a,
			     const char *user_id, unsigned days, unsigned tags,
			     bool hide_chat, struct pos_memory_stats *out)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = prepare(c, stats_sql);
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, user_id);
	sqlite3_bind_int(st, 2, (int)days);
	sqlite3_bind_int(st, 3, (int)tags);
	sqlite3_bind_int(st, 4, hide_chat ? 1 : 0);
	enum pos_err rc = POS_OK;
	if (sqlite3_step(st) == SQLITE_ROW) {
		out->total = sqlite3_column_int64(st, 0);
		out->importance_avg = sqlite3_column_double(st, 1);
		out->accesses = sqlite3_column_int64(st, 2);
		out->oldest = sq_col_time(st, 3);
		out->newest = sq_col_time(st, 4);
		out->by_type_json = sq_col_str(a, st, 5, NULL);
		out->by_layer_json = sq_col_str(a, st, 6, NULL);
		out->by_source_json = sq_col_str(a, st, 7, NULL);
		out->per_day_json = sq_col_str(a, st, 8, NULL);
		out->top_tags_json = sq_col_str(a, st, 9, NULL);
		if (!out->by_type_json || !out->by_layer_json || !out->by_source_json ||
		    !out->per_day_json || !out->top_tags_json)
			rc = POS_ERR_NOMEM;
	} else {
		rc = sq_fail(c, "stats");
	}
	sqlite3_finalize(st);
	return rc;
}

enum pos_err sq_tag_counts(struct pos_store *base, struct pos_arena *a, const char *user_id,
			   unsigned limit, bool hide_chat, const char **json)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = prepare(c, tag_counts_sql);
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, user_id);
	sqlite3_bind_int(st, 2, (int)limit);
	sqlite3_bind_int(st, 3, hide_chat ? 1 : 0);
	enum pos_err rc = POS_OK;
	if (sqlite3_step(st) == SQLITE_ROW)
		rc = (*json = sq_col_str(a, st, 0, NULL)) ? POS_OK : POS_ERR_NOMEM;
	else
		rc = sq_fail(c, "tag counts");
	sqlite3_finalize(st);
	return rc;
}

enum pos_err sq_graph_nodes(struct pos_store *base, struct pos_arena *a,
			    const char *user_id, const char *ids_json,
			    unsigned limit, struct pos_graph_node **out, size_t *n)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = prepare(c, ids_json ? nodes_by_id_sql : nodes_recent_sql);
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, user_id);
	if (ids_json)
		sq_bind_str(st, 2, ids_json);
	sqlite3_bind_int(st, 3, (int)limit);
	struct pos_graph_node *v = pos_arena_alloc(a, (limit ? limit : 1) * sizeof(*v));
	enum pos_err rc = v ? POS_OK : POS_ERR_NOMEM;
	int step = SQLITE_DONE;
	*n = 0;
	while (!rc && *n < limit && (step = sqlite3_step(st)) == SQLITE_ROW) {
		struct pos_graph_node *g = &v[*n];
		const unsigned char *t = sqlite3_column_text(st, 0);
		snprintf(g->id, sizeof(g->id), "%s", t ? (const char *)t : "");
		g->label = sq_col_str(a, st, 1, NULL);
		int ty = pos_mem_type_parse((const char *)sqlite3_column_text(st, 2));
		int la = pos_mem_layer_parse((const char *)sqlite3_column_text(st, 3));
		if (!g->label)
			rc = POS_ERR_NOMEM;
		g->type = ty < 0 ? POS_TYPE_NOTE : (enum pos_mem_type)ty;
		g->layer = la < 0 ? POS_LAYER_ACTIVE : (enum pos_mem_layer)la;
		(*n)++;
	}
	if (!rc && step != SQLITE_DONE && step != SQLITE_ROW)
		rc = sq_fail(c, "graph nodes");
	sqlite3_finalize(st);
	*out = v;
	return rc;
}

enum pos_err sq_graph_edges(struct pos_store *base, struct pos_arena *a,
			    const char *user_id, const char *ids_json,
			    unsigned limit, struct pos_graph_edge **out, size_t *n)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = prepare(c, edges_sql);
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, user_id);
	sq_bind_str(st, 2, ids_json);
	sqlite3_bind_int(st, 3, (int)limit);
	struct pos_graph_edge *v = pos_arena_alloc(a, (limit ? limit : 1) * sizeof(*v));
	enum pos_err rc = v ? POS_OK : POS_ERR_NOMEM;
	int step = SQLITE_DONE;
	*n = 0;
	while (!rc && *n < limit && (step = sqlite3_step(st)) == SQLITE_ROW) {
		struct pos_graph_edge *e = &v[*n];
		const unsigned char *s0 = sqlite3_column_text(st, 0);
		const unsigned char *s1 = sqlite3_column_text(st, 1);
		snprintf(e->source, sizeof(e->source), "%s", s0 ? (const char *)s0 : "");
		snprintf(e->target, sizeof(e->target), "%s", s1 ? (const char *)s1 : "");
		e->type = sq_col_str(a, st, 2, NULL);
		e->strength = sqlite3_column_double(st, 3);
		if (!e->type)
			rc = POS_ERR_NOMEM;
		(*n)++;
	}
	if (!rc && step != SQLITE_DONE && step != SQLITE_ROW)
		rc = sq_fail(c, "graph edges");
	sqlite3_finalize(st);
	*out = v;
	return rc;
}

enum pos_err sq_relationships_from(struct pos_store *base, struct pos_arena *a,
				    const char *user_id, const char *seqs_json,
				    unsigned limit, struct pos_graph_edge **out, size_t *n)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	*out = NULL;
	*n = 0;
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = sq_stmt(c, ST_REL_FROM);
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, user_id);
	sq_bind_str(st, 2, seqs_json);
	sqlite3_bind_int64(st, 3, (int64_t)limit);
	/* grown as rows come: most memories have none */
	size_t cap = 0;
	struct pos_graph_edge *v = NULL;
	enum pos_err rc = POS_OK;
	int step = SQLITE_DONE;
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			size_t ncap = cap ? 2 * cap : 64;
			struct pos_graph_edge *nv = pos_arena_alloc(a, ncap * sizeof(*nv));
			if (!nv) {
				rc = POS_ERR_NOMEM;
				break;
			}
			if (*n)
				memcpy(nv, v, *n * sizeof(*nv));
			v = nv;
			cap = ncap;
		}
		struct pos_graph_edge *e = &v[*n];
		const unsigned char *s0 = sqlite3_column_text(st, 0);
		const unsigned char *s1 = sqlite3_column_text(st, 1);
		snprintf(e->source, sizeof(e->source), "%s", s0 ? (const char *)s0 : "");
		snprintf(e->target, sizeof(e->target), "%s", s1 ? (const char *)s1 : "");
		e->type = sq_col_str(a, st, 2, NULL);
		e->strength = sqlite3_column_double(st, 3);
		if (!e->type)
			rc = POS_ERR_NOMEM;
		(*n)++;
	}
	if (!rc && step != SQLITE_DONE)
		rc = sq_fail(c, "relationships from");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	*out = v;
	return rc;
}

/* ?1 user, ?2 since, ?3 hide chat. */
#define SERIES_WHERE " WHERE user_id = ?1 AND NOT (?3 AND type = 'conversation' AND source = 'chat')"
#define SERIES_BY(col)                                                          \
	"(SELECT coalesce(json_group_array(json_object('date', d, 'counts', json(c))), '[]')" \
	" FROM (SELECT d, json_group_object(k, n) AS c FROM"                      \
	" (SELECT date(created_at / 1000000, 'unixepoch') AS d, " col " AS k, count(*) AS n" \
	"  FROM memories" SERIES_WHERE " AND created_at >= ?2 GROUP BY d, k)"     \
	" GROUP BY d ORDER BY d))"

static const char series_sql[] =
	"SELECT " SERIES_BY("type") ", " SERIES_BY("layer") ", " SERIES_BY("source") ","
	" (SELECT coalesce(json_group_object(b, n), '{}') FROM (SELECT"
	"  CAST(min(9, max(0, CAST(importance_score * 10 AS INTEGER))) AS TEXT) AS b,"
	"  count(*) AS n FROM memories" SERIES_WHERE " GROUP BY b)),"
	" (SELECT coalesce(json_group_object(b, n), '{}') FROM (SELECT CASE"
	"  WHEN access_count <= 1 THEN CAST(max(access_count, 0) AS TEXT)"
	"  WHEN access_count <= 4 THEN '2-4' WHEN access_count <= 9 THEN '5-9'"
	"  ELSE '10+' END AS b, count(*) AS n FROM memories" SERIES_WHERE " GROUP BY b)),"
	" (SELECT coalesce(json_group_array(json_object('date', d, 'items', n)), '[]') FROM"
	"  (SELECT date(started_at / 1000000, 'unixepoch') AS d, sum(added + updated) AS n"
	"   FROM sync_logs WHERE user_id = ?1 AND started_at >= ?2 GROUP BY d ORDER BY d))";

enum pos_err sq_memory_series(struct pos_store *base, struct pos_arena *a,
			      const char *user_id, int64_t since, bool hide_chat,
			      struct pos_memory_series *out)
{
	/* the access distribution counts the pending accesses too */
	sq_access_flush((struct sq_store *)base);
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = prepare(c, series_sql);
	if (!st)
		return POS_ERR_STORE;
	sq_bind_str(st, 1, user_id);
	sqlite3_bind_int64(st, 2, since);
	sqlite3_bind_int(st, 3, hide_chat ? 1 : 0);
	enum pos_err rc = POS_OK;
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char **f[] = {&out->by_type_json, &out->by_layer_json, &out->by_source_json,
				    &out->importance_json, &out->access_json, &out->sync_json};
		for (int i = 0; i < 6 && !rc; i++)
			if (!(*f[i] = sq_col_str(a, st, i, NULL)))
				rc = POS_ERR_NOMEM;
	} else {
		rc = sq_fail(c, "series");
	}
	sqlite3_finalize(st);
	return rc;
}
