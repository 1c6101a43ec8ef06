/*
 * pg_graph.c — aggregates (stats, series) and graph queries of the
 * PostgreSQL backend. Id sets arrive as JSON arrays and are expanded with
 * jsonb_array_elements_text, so each query is one statement whatever the
 * set size. JSON answers are built by the database, ready to embed.
 */
#include "store/pg_internal.h"

#include <stdio.h>
#include <string.h>

#include "base/clock.h"

/* $1 user, $4 hide chat (0/1) */
#define NOCHAT " AND NOT ($4::int = 1 AND type = 'conversation' AND source = 'chat')"
#define DAY(col) "to_char(to_timestamp((" col " / 1000000)::float8) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"

PG_STMT(st_stats,
	"SELECT"
	" (SELECT count(*) FROM memories WHERE user_id = $1" NOCHAT "),"
	" (SELECT coalesce(avg(importance_score), 0) FROM memories WHERE user_id = $1" NOCHAT "),"
	" (SELECT coalesce(sum(access_count), 0) FROM memories WHERE user_id = $1" NOCHAT "),"
	" (SELECT min(created_at) FROM memories WHERE user_id = $1" NOCHAT "),"
	" (SELECT max(created_at) FROM memories WHERE user_id = $1" NOCHAT "),"
	" (SELECT coalesce(json_object_agg(type, n), '{}')::text FROM"
	"   (SELECT type, count(*) AS n FROM memories WHERE user_id = $1" NOCHAT " GROUP BY type) x),"
	" (SELECT coalesce(json_object_agg(layer, n), '{}')::text FROM"
	"   (SELECT layer, count(*) AS n FROM memories WHERE user_id = $1" NOCHAT " GROUP BY layer) x),"
	" (SELECT coalesce(json_object_agg(source, n), '{}')::text FROM"
	"   (SELECT source, count(*) AS n FROM memories WHERE user_id = $1" NOCHAT " GROUP BY source) x),"
	" (SELECT coalesce(json_agg(json_build_object('date', d, 'count', n) ORDER BY d DESC), '[]')::text"
	"   FROM (SELECT " DAY("created_at") " AS d, count(*) AS n"
	"    FROM memories WHERE user_id = $1" NOCHAT " GROUP BY 1 ORDER BY 1 DESC LIMIT $2) x),"
	" (SELECT coalesce(json_agg(json_build_object('tag', tag, 'count', n)"
	"   ORDER BY n DESC, tag COLLATE \"C\"), '[]')::text FROM"
	"   (SELECT tag, count(*) AS n FROM memory_tags WHERE user_id = $1"
	"    AND NOT ($4::int = 1 AND memory_seq IN (SELECT seq FROM memories WHERE user_id = $1"
	"     AND type = 'conversation' AND source = 'chat'))"
	"    GROUP BY tag ORDER BY n DESC, tag COLLATE \"C\" LIMIT $3) x)");

/* $1 user, $2 limit, $3 hide chat (0/1): the top-tags part of st_stats
 * alone, from the tag index */
PG_STMT(st_tag_counts,
	"SELECT coalesce(json_agg(json_build_object('tag', tag, 'count', n)"
	"  ORDER BY n DESC, tag COLLATE \"C\"), '[]')::text FROM"
	" (SELECT tag, count(*) AS n FROM memory_tags WHERE user_id = $1"
	"  AND NOT ($3::int = 1 AND memory_seq IN (SELECT seq FROM memories WHERE user_id = $1"
	"   AND type = 'conversation' AND source = 'chat'))"
	"  GROUP BY tag ORDER BY n DESC, tag COLLATE \"C\" LIMIT $2) x");

enum pos_err pg_tag_counts(struct pos_store *s, struct pos_arena *a, const char *user_id,
			   unsigned limit, bool hide_chat, const char **json)
{
	struct pg_params p = {0};
	pg_p_text(&p, user_id);
	pg_p_i64(&p, limit);
	pg_p_i64(&p, hide_chat ? 1 : 0);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, &st_tag_counts, &p, &r);
	if (!rc && PQntuples(r) == 1)
		rc = (*json = pg_text(a, r, 0, 0)) ? POS_OK : POS_ERR_NOMEM;
	else if (!rc)
		rc = POS_ERR_STORE;
	PQclear(r);
	return rc;
}

enum pos_err pg_memory_stats(struct pos_store *s, struct pos_arena *a, const char *user_id,
			     unsigned days, unsigned tags, bool hide_chat,
			     struct pos_memory_stats *out)
{
	struct pg_params p = {0};
	pg_p_text(&p, user_id);
	pg_p_i64(&p, days);
	pg_p_i64(&p, tags);
	pg_p_i64(&p, hide_chat ? 1 : 0);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, &st_stats, &p, &r);
	if (!rc && PQntuples(r) == 1) {
		out->total = pg_i64(r, 0, 0);
		out->importance_avg = pg_f64(r, 0, 1);
		out->accesses = pg_i64(r, 0, 2);
		out->oldest = pg_isnull(r, 0, 3) ? POS_TIME_NONE : pg_i64(r, 0, 3);
		out->newest = pg_isnull(r, 0, 4) ? POS_TIME_NONE : pg_i64(r, 0, 4);
		out->by_type_json = pg_text(a, r, 0, 5);
		out->by_layer_json = pg_text(a, r, 0, 6);
		out->by_source_json = pg_text(a, r, 0, 7);
		out->per_day_json = pg_text(a, r, 0, 8);
		out->top_tags_json = pg_text(a, r, 0, 9);
		if (!out->by_type_json || !out->by_layer_json || !out->by_source_json ||
		    !out->per_day_json || !out->top_tags_json)
			rc = POS_ERR_NOMEM;
	} else if (!rc) {
		rc = POS_ERR_STORE;
	}
	PQclear(r);
	return rc;
}

/* $1 user, $2 since, $3 hide chat (0/1) */
#define SWHERE " WHERE user_id = $1 AND NOT ($3::int = 1 AND type = 'conversation' AND source = 'chat')"
#define SERIES_BY(col)                                                          \
	"(SELECT coalesce(json_agg(json_build_object('date', d, 'counts', c) ORDER BY d), '[]')::text" \
	" FROM (SELECT d, json_object_agg(k, n) AS c FROM"                        \
	" (SELECT " DAY("created_at") " AS d, " col " AS k, count(*) AS n"         \
	"  FROM memories" SWHERE " AND created_at >= $2 GROUP BY 1, 2) x GROUP BY d) y)"

PG_STMT(st_series,
	"SELECT " SERIES_BY("type") ", " SERIES_BY("layer") ", " SERIES_BY("source") ","
	" (SELECT coalesce(json_object_agg(b, n), '{}')::text FROM (SELECT"
	"  least(9, greatest(0, trunc(importance_score * 10)::int))::text AS b,"
	"  count(*) AS n FROM memories" SWHERE " GROUP BY 1) x),"
	" (SELECT coalesce(json_object_agg(b, n), '{}')::text FROM (SELECT CASE"
	"  WHEN access_count <= 1 THEN greatest(access_count, 0)::text"
	"  WHEN access_count <= 4 THEN '2-4' WHEN access_count <= 9 THEN '5-9'"
	"  ELSE '10+' END AS b, count(*) AS n FROM memories" SWHERE " GROUP BY 1) x),"
	" (SELECT coalesce(json_agg(json_build_object('date', d, 'items', n) ORDER BY d), '[]')::text"
	"  FROM (SELECT " DAY("started_at") " AS d, sum(added + updated) AS n"
	"   FROM sync_logs WHERE user_id = $1 AND started_at >= $2 GROUP BY 1) x)");

enum pos_err pg_memory_series(struct pos_store *s, struct pos_arena *a, const char *user_id,
			      int64_t since, bool hide_chat, struct pos_memory_series *out)
{
	struct pg_params p = {0};
	pg_p_text(&p, user_id);
	pg_p_i64(&p, since);
	pg_p_i64(&p, hide_chat ? 1 : 0);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, &st_series, &p, &r);
	if (!rc && PQntuples(r) == 1) {
		const char **f[] = {&out->by_type_json, &out->by_layer_json, &out->by_source_json,
				    &out->importance_json, &out->access_json, &out->sync_json};
		for (int i = 0; i < 6 && !rc; i++)
			if (!(*f[i] = pg_text(a, r, 0, i)))
				rc = POS_ERR_NOMEM;
	} else if (!rc) {
		rc = POS_ERR_STORE;
	}
	PQclear(r);
	return rc;
}

PG_STMT(st_nodes_by_id,
	"SELECT m.id, substr(m.content, 1, 120), m.type, m.layer FROM memories m"
	" WHERE m.user_id = $1 AND m.id IN (SELECT jsonb_array_elements_text($2::jsonb))"
	" ORDER BY m.created_at DESC LIMIT $3");
PG_STMT(st_nodes_recent,
	"SELECT id, substr(content, 1, 120), type, layer FROM memories"
	" WHERE user_id = $1 AND $2::text IS NULL ORDER BY created_at DESC, seq DESC LIMIT $3");

enum pos_err pg_graph_nodes(struct pos_store *s, struct pos_arena *a, const char *user_id,
			    const char *ids_json, unsigned limit, struct pos_graph_node **out,
			    size_t *n)
{
	*n = 0;
	struct pos_graph_node *v = pos_arena_alloc(a, (limit ? limit : 1) * sizeof(*v));
	*out = v;
	if (!v)
		return POS_ERR_NOMEM;
	struct pg_params p = {0};
	pg_p_text(&p, user_id);
	pg_p_text(&p, ids_json);
	pg_p_i64(&p, limit);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, ids_json ? &st_nodes_by_id : &st_nodes_recent, &p, &r);
	for (int i = 0; !rc && i < PQntuples(r) && *n < limit; i++) {
		struct pos_graph_node *g = &v[*n];
		snprintf(g->id, sizeof(g->id), "%s", PQgetvalue(r, i, 0));
		g->label = pg_text(a, r, i, 1);
		int ty = pos_mem_type_parse(PQgetvalue(r, i, 2));
		int la = pos_mem_layer_parse(PQgetvalue(r, i, 3));
		g->type = ty < 0 ? POS_TYPE_NOTE : (enum pos_mem_type)ty;
		g->layer = la < 0 ? POS_LAYER_ACTIVE : (enum pos_mem_layer)la;
		if (!g->label)
			rc = POS_ERR_NOMEM;
		else
			(*n)++;
	}
	PQclear(r);
	return rc;
}

PG_STMT(st_edges,
	"WITH ids AS (SELECT jsonb_array_elements_text($2::jsonb) AS id)"
	" SELECT r.memory_id, r.related_memory_id, r.relationship_type, r.strength"
	" FROM ids JOIN memory_relationships r ON r.memory_id = ids.id"
	" JOIN memories m ON m.id = r.memory_id WHERE m.user_id = $1"
	" UNION"
	" SELECT r.memory_id, r.related_memory_id, r.relationship_type, r.strength"
	" FROM ids JOIN memory_relationships r ON r.related_memory_id = ids.id"
	" JOIN memories m ON m.id = r.memory_id WHERE m.user_id = $1"
	" UNION"
	" SELECT m.id, m.parent_memory_id, 'parent', 1.0"
	" FROM ids JOIN memories m ON m.id = ids.id"
	" WHERE m.user_id = $1 AND m.parent_memory_id IS NOT NULL"
	" UNION"
	" SELECT m.id, m.parent_memory_id, 'parent', 1.0"
	" FROM ids JOIN memories m ON m.parent_memory_id = ids.id"
	" WHERE m.user_id = $1"
	" LIMIT $3");

enum pos_err pg_graph_edges(struct pos_store *s, struct pos_arena *a, const char *user_id,
			    const char *ids_json, unsigned limit, struct pos_graph_edge **out,
			    size_t *n)
{
	*n = 0;
	struct pos_graph_edge *v = pos_arena_alloc(a, (limit ? limit : 1) * sizeof(*v));
	*out = v;
	if (!v)
		return POS_ERR_NOMEM;
	struct pg_params p = {0};
	pg_p_text(&p, user_id);
	pg_p_text(&p, ids_json ? ids_json : "[]");
	pg_p_i64(&p, limit);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, &st_edges, &p, &r);
	for (int i = 0; !rc && i < PQntuples(r) && *n < limit; i++) {
		struct pos_graph_edge *e = &v[*n];
		snprintf(e->source, sizeof(e->source), "%s", PQgetvalue(r, i, 0));
		snprintf(e->target, sizeof(e->target), "%s", PQgetvalue(r, i, 1));
		e->type = pg_text(a, r, i, 2);
		e->strength = pg_f64(r, i, 3);
		if (!e->type)
			rc = POS_ERR_NOMEM;
		else
			(*n)++;
	}
	PQclear(r);
	return rc;
}

PG_STMT(st_rel_from,
	"SELECT r.memory_id, r.related_memory_id, r.relationship_type, r.strength"
	" FROM jsonb_array_elements_text($2::jsonb) AS ids(seq)"
	" JOIN memories m ON m.seq = ids.seq::bigint"
	" JOIN memory_relationships r ON r.memory_id = m.id"
	" WHERE m.user_id = $1 LIMIT $3");

enum pos_err pg_relationships_from(struct pos_store *s, struct pos_arena *a, const char *user_id,
				   const char *seqs_json, unsigned limit,
				   struct pos_graph_edge **out, size_t *n)
{
	*n = 0;
	*out = NULL;
	struct pg_params p = {0};
	pg_p_text(&p, user_id);
	pg_p_text(&p, seqs_json ? seqs_json : "[]");
	pg_p_i64(&p, limit);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, &st_rel_from, &p, &r);
	int rows = rc ? 0 : PQntuples(r);
	struct pos_graph_edge *v = rows ? pos_arena_alloc(a, (size_t)rows * sizeof(*v)) : NULL;
	if (rows && !v)
		rc = POS_ERR_NOMEM;
	for (int i = 0; !rc && i < rows && *n < limit; i++) {
		struct pos_graph_edge *e = &v[*n];
		snprintf(e->source, sizeof(e->source), "%s", PQgetvalue(r, i, 0));
		snprintf(e->target, sizeof(e->target), "%s", PQgetvalue(r, i, 1));
		e->type = pg_text(a, r, i, 2);
		e->strength = pg_f64(r, i, 3);
		if (!e->type)
			rc = POS_ERR_NOMEM;
		else
			(*n)++;
	}
	PQclear(r);
	*out = v;
	return rc;
}
