/*
 * pg_lifecycle.c — what the lifecycle job (memory/lifecycle.h), merges
 * (memory/merge.h) and auto-linking (memory/autolink.h) read and write in
 * the PostgreSQL backend; the same statements as sqlite_lifecycle.c, with
 * metadata read through pos_json (NULL for text that is not JSON).
 */
#include "store/pg_internal.h"

#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/uuid.h"

enum {
	L_SEQ, L_ID, L_TYPE, L_LAYER, L_CREATED, L_UPDATED, L_ACCESSED, L_SINCE,
	L_COUNT, L_IMPORTANCE, L_RATING, L_LOCKED, L_ISET, L_PINNED, L_OPEN,
	L_UPCOMING, L_DEGREE, L_TAGS, L_CONTENT
};

/* keyset paging along memories_user_created (user_id, created_at) */
PG_STMT(st_scan,
	"SELECT m.seq, m.id, m.type, m.layer, m.created_at, m.updated_at,"
	" m.last_accessed_at, coalesce(m.layer_since, m.created_at), m.access_count,"
	" m.importance_score,"
	" CASE WHEN jsonb_typeof(j.md -> 'rating') = 'number' THEN (j.md ->> 'rating')::float8"
	"  ELSE -1 END,"
	" m.layer_locked, m.importance_set, " PG_PINNED("m.metadata") ","
	" (m.type = 'action' AND m.is_encrypted = 0 AND j.md IS NOT NULL AND"
	"  NOT coalesce(j.md -> 'completed' IN ('true'::jsonb, '1'::jsonb), false) AND"
	"  coalesce(j.md ->> 'status', '') NOT IN ('done', 'completed', 'closed'))::int,"
	" (m.type = 'event' AND m.is_encrypted = 0 AND j.md IS NOT NULL AND"
	"  coalesce(j.md ->> 'start_time', '') COLLATE \"C\" >= $3::text COLLATE \"C\")::int,"
	" (SELECT count(*) FROM memory_relationships WHERE memory_id = m.id)"
	" + (SELECT count(*) FROM memory_relationships WHERE related_memory_id = m.id)"
	" + (SELECT count(*) FROM memories c WHERE c.parent_memory_id = m.id)"
	" + (m.parent_memory_id IS NOT NULL)::int,"
	" (SELECT coalesce(json_agg(tag), '[]')::text FROM memory_tags WHERE memory_seq = m.seq),"
	" CASE WHEN m.is_encrypted <> 0 THEN NULL ELSE substr(m.content, 1, 4096) END"
	" FROM memories m CROSS JOIN LATERAL (SELECT pos_json(m.metadata) AS md) j"
	" WHERE m.user_id = $1 AND (m.created_at, m.seq) > ($5, $2)"
	" ORDER BY m.created_at, m.seq LIMIT $4");

enum pos_err pg_lifecycle_scan(struct pos_store *s, struct pos_arena *a, const char *user_id,
			       int64_t after_created, int64_t after_seq, size_t max,
			       const char *now_rfc3339, struct pos_life_row **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	struct pos_life_row *v = pos_arena_zalloc(a, (max ? max : 1) * sizeof(*v));
	if (!v)
		return POS_ERR_NOMEM;
	struct pg_params p = {0};
	pg_p_text(&p, user_id);
	pg_p_i64(&p, after_seq);
	pg_p_text(&p, now_rfc3339);
	pg_p_i64(&p, (int64_t)max);
	pg_p_i64(&p, after_created);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, &st_scan, &p, &r);
	for (int i = 0; !rc && i < PQntuples(r) && *n < max; i++) {
		struct pos_life_row *x = &v[*n];
		x->seq = pg_i64(r, i, L_SEQ);
		snprintf(x->id, sizeof(x->id), "%s", PQgetvalue(r, i, L_ID));
		int ty = pos_mem_type_parse(PQgetvalue(r, i, L_TYPE));
		int la = pos_mem_layer_parse(PQgetvalue(r, i, L_LAYER));
		if (ty < 0 || la < 0) {
			rc = POS_ERR_CORRUPT;
			break;
		}
		x->type = (enum pos_mem_type)ty;
		x->layer = (enum pos_mem_layer)la;
		x->created_at = pg_i64(r, i, L_CREATED);
		x->updated_at = pg_i64(r, i, L_UPDATED);
		x->last_accessed_at = pg_isnull(r, i, L_ACCESSED) ? POS_TIME_NONE
								  : pg_i64(r, i, L_ACCESSED);
		x->layer_since = pg_i64(r, i, L_SINCE);
		x->access_count = pg_i64(r, i, L_COUNT);
		x->importance = pg_f64(r, i, L_IMPORTANCE);
		x->rating = pg_f64(r, i, L_RATING);
		x->layer_locked = pg_i64(r, i, L_LOCKED) != 0;
		x->importance_set = pg_i64(r, i, L_ISET) != 0;
		x->pinned = pg_i64(r, i, L_PINNED) != 0;
		x->open_action = pg_i64(r, i, L_OPEN) != 0;
		x->upcoming = pg_i64(r, i, L_UPCOMING) != 0;
		x->degree = pg_i64(r, i, L_DEGREE);
		x->tags_json = pg_text(a, r, i, L_TAGS);
		x->content = pg_text(a, r, i, L_CONTENT);
		x->content_len = x->content ? strlen(x->content) : 0;
		if (!x->tags_json) {
			rc = POS_ERR_NOMEM;
			break;
		}
		(*n)++;
	}
	PQclear(r);
	if (!rc)
		*out = v;
	else
		*n = 0;
	return rc;
}

#define TOUCHED "greatest(m.created_at, m.updated_at, coalesce(m.last_accessed_at, 0))"

/* For each tag the two latest touches at or after `since`. */
PG_STMT(st_tag_touches,
	"SELECT tag, seq, touched FROM (SELECT t.tag AS tag, m.seq AS seq, " TOUCHED " AS touched,"
	" row_number() OVER (PARTITION BY t.tag ORDER BY " TOUCHED " DESC, m.seq DESC) AS rn"
	" FROM memory_tags t JOIN memories m ON m.seq = t.memory_seq"
	" WHERE t.user_id = $1 AND " TOUCHED " >= $2) x"
	" WHERE rn <= 2 ORDER BY tag COLLATE \"C\", rn");

enum pos_err pg_tag_touches(struct pos_store *s, struct pos_arena *a, const char *user_id,
			    int64_t since, struct pos_tag_touch **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	struct pg_params p = {0};
	pg_p_text(&p, user_id);
	pg_p_i64(&p, since);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, &st_tag_touches, &p, &r);
	int rows = rc ? 0 : PQntuples(r);
	struct pos_tag_touch *v = pos_arena_alloc(a, (size_t)(rows ? rows : 1) * sizeof(*v));
	if (!rc && !v)
		rc = POS_ERR_NOMEM;
	for (int i = 0; !rc && i < rows; i++) {
		const char *tag = PQgetvalue(r, i, 0);
		int64_t seq = pg_i64(r, i, 1), at = pg_i64(r, i, 2);
		if (*n && strcmp(v[*n - 1].tag, tag) == 0) {
			v[*n - 1].t2 = at; /* the second row of the same tag */
			continue;
		}
		v[*n] = (struct pos_tag_touch){pos_arena_strdup(a, tag), seq, at, 0};
		if (!v[*n].tag)
			rc = POS_ERR_NOMEM;
		else
			(*n)++;
	}
	PQclear(r);
	if (!rc)
		*out = v;
	else
		*n = 0;
	return rc;
}

/* A memory locked or pinned since the scan keeps its layer. */
PG_STMT(st_life_apply,
	"UPDATE memories SET"
	" layer = CASE WHEN $3::text IS NOT NULL AND layer_locked = 0 AND "
	PG_PINNED("metadata") " = 0 THEN $3::text ELSE layer END,"
	" layer_since = CASE WHEN $3::text IS NOT NULL AND layer_locked = 0 AND "
	PG_PINNED("metadata") " = 0 AND layer <> $3::text THEN $5::bigint ELSE layer_since END,"
	" importance_score = CASE WHEN $4::float8 IS NOT NULL AND importance_set = 0"
	"  THEN $4::float8 ELSE importance_score END"
	" WHERE seq = $1 AND user_id = $2");

enum pos_err pg_lifecycle_apply(struct pos_store *s, const char *user_id,
				const struct pos_life_change *v, size_t n, int64_t now)
{
	if (n == 0)
		return POS_OK;
	struct pg_conn *c = pg_get(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = pg_begin(c);
	bool open = !rc;
	for (size_t i = 0; i < n && !rc; i++) {
		struct pg_params p = {0};
		pg_p_i64(&p, v[i].seq);
		pg_p_text(&p, user_id);
		pg_p_text(&p, v[i].layer >= 0 && v[i].layer < POS_LAYER__COUNT
				      ? pos_mem_layer_name((enum pos_mem_layer)v[i].layer)
				      : NULL);
		if (v[i].importance >= 0)
			pg_p_f64(&p, v[i].importance);
		else
			pg_p_null(&p);
		pg_p_i64(&p, now);
		rc = pg_run(c, &st_life_apply, &p, NULL);
	}
	if (!rc) {
		rc = pg_commit(c);
		open = false;
	}
	if (open)
		pg_rollback(c);
	pg_put(s, c);
	return rc;
}

/* ---- merge (memory/merge.h) ---- */

#define MERGED "(SELECT jsonb_array_elements_text($3::jsonb))"

/* Each binds $1 user, $2 kept id, $3 the merged ids (JSON). */
PG_STMT(st_merge_from,
	"INSERT INTO memory_relationships"
	"(memory_id, related_memory_id, relationship_type, strength, created_at)"
	" SELECT $2::text, r.related_memory_id, r.relationship_type, r.strength, r.created_at"
	" FROM memory_relationships r WHERE $1::text IS NOT NULL AND r.memory_id IN " MERGED
	" AND r.related_memory_id <> $2::text AND r.related_memory_id NOT IN " MERGED
	" ON CONFLICT DO NOTHING");
PG_STMT(st_merge_to,
	"INSERT INTO memory_relationships"
	"(memory_id, related_memory_id, relationship_type, strength, created_at)"
	" SELECT r.memory_id, $2::text, r.relationship_type, r.strength, r.created_at"
	" FROM memory_relationships r WHERE $1::text IS NOT NULL AND r.related_memory_id IN " MERGED
	" AND r.memory_id <> $2::text AND r.memory_id NOT IN " MERGED
	" ON CONFLICT DO NOTHING");
PG_STMT(st_merge_children,
	"UPDATE memories SET parent_memory_id = $2 WHERE user_id = $1 AND id <> $2"
	" AND parent_memory_id IN " MERGED);
PG_STMT(st_merge_access,
	"UPDATE memories SET"
	" access_count = access_count + (SELECT coalesce(sum(access_count), 0) FROM memories"
	"  WHERE user_id = $1 AND id IN " MERGED "),"
	" last_accessed_at = nullif(greatest(coalesce(last_accessed_at, 0),"
	"  coalesce((SELECT max(last_accessed_at) FROM memories WHERE user_id = $1"
	"  AND id IN " MERGED "), 0)), 0)"
	" WHERE user_id = $1 AND id = $2");
PG_STMT(st_merge_audit,
	"INSERT INTO memory_merges(id, user_id, kept_id, merged_ids, detail, created_at)"
	" VALUES ($1, $2, $3, $4, $5, $6)");

enum pos_err pg_memory_merge_move(struct pos_store *s, const char *user_id,
				  const char *kept_id, const char *ids_json,
				  const char *detail_json, int64_t now)
{
	char id[POS_UUID_SIZE];
	if (!pos_uuid_new_v7(id, now))
		return POS_ERR_INTERNAL;
	struct pg_conn *c = pg_get(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = pg_begin(c);
	bool open = !rc;
	const struct pg_stmt *steps[] = {&st_merge_from, &st_merge_to, &st_merge_children,
					 &st_merge_access};
	for (size_t i = 0; !rc && i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct pg_params p = {0};
		pg_p_text(&p, user_id);
		pg_p_text(&p, kept_id);
		pg_p_text(&p, ids_json);
		rc = pg_run(c, steps[i], &p, NULL);
	}
	if (!rc) {
		struct pg_params p = {0};
		pg_p_text(&p, id);
		pg_p_text(&p, user_id);
		pg_p_text(&p, kept_id);
		pg_p_text(&p, ids_json);
		pg_p_text(&p, detail_json);
		pg_p_i64(&p, now);
		rc = pg_run(c, &st_merge_audit, &p, NULL);
	}
	if (!rc) {
		rc = pg_commit(c);
		open = false;
	}
	if (open)
		pg_rollback(c);
	pg_put(s, c);
	return rc;
}

/* ---- auto-linking (memory/autolink.h) ---- */

/* the memory before it in its thread (index memories_thread), else the
 * first occurrence of its event series */
PG_STMT(st_parent_thread,
	"SELECT p.id FROM memories m JOIN memories p ON p.user_id = m.user_id"
	" AND p.thread = m.thread AND p.seq <> m.seq"
	" AND (p.created_at < m.created_at OR (p.created_at = m.created_at AND p.seq < m.seq))"
	" WHERE m.seq = $1 AND m.user_id = $2 AND m.thread IS NOT NULL"
	" ORDER BY p.created_at DESC, p.seq DESC LIMIT 1");
PG_STMT(st_parent_event,
	"SELECT p.id FROM memories m JOIN memories p ON p.user_id = m.user_id"
	" AND p.type = 'event' AND p.seq <> m.seq"
	" AND pos_json(p.metadata) -> 'event_id' = pos_json(m.metadata) -> 'event_id'"
	" AND (p.created_at < m.created_at OR (p.created_at = m.created_at AND p.seq < m.seq))"
	" WHERE m.seq = $1 AND m.user_id = $2 AND m.type = 'event'"
	" AND pos_json(m.metadata) -> 'event_id' IS NOT NULL"
	" AND pos_json(m.metadata) -> 'event_id' <> 'null'::jsonb"
	" ORDER BY p.created_at, p.seq LIMIT 1");

enum pos_err pg_autolink_parent(struct pos_store *s, const char *user_id, int64_t seq,
				char parent_id[POS_UUID_SIZE])
{
	parent_id[0] = '\0';
	const struct pg_stmt *steps[] = {&st_parent_thread, &st_parent_event};
	enum pos_err rc = POS_OK;
	for (size_t i = 0; !rc && !parent_id[0] && i < 2; i++) {
		struct pg_params p = {0};
		pg_p_i64(&p, seq);
		pg_p_text(&p, user_id);
		PGresult *r = NULL;
		if (!(rc = pg_do(s, steps[i], &p, &r)) && PQntuples(r))
			snprintf(parent_id, POS_UUID_SIZE, "%s", PQgetvalue(r, 0, 0));
		PQclear(r);
	}
	return rc;
}

PG_STMT(st_link_owner, "SELECT 1 FROM memories WHERE id = $1 AND user_id = $2");
PG_STMT(st_link_clear,
	"DELETE FROM memory_relationships WHERE auto = 1"
	" AND (memory_id = $1 OR related_memory_id = $1)");
/* one row per pair, the smaller id first (bytewise, like SQLite's min); a
 * link made by hand (same pair and type) wins */
PG_STMT(st_link_insert,
	"INSERT INTO memory_relationships"
	"(memory_id, related_memory_id, relationship_type, strength, created_at, auto)"
	" SELECT least($1::text COLLATE \"C\", $3::text COLLATE \"C\"),"
	" greatest($1::text COLLATE \"C\", $3::text COLLATE \"C\"), $4::text, $5::float8, $6::bigint, 1"
	" WHERE $1::text <> $3::text AND EXISTS (SELECT 1 FROM memories WHERE id = $3::text"
	" AND user_id = $2::text) ON CONFLICT DO NOTHING");
PG_STMT(st_link_parent,
	"UPDATE memories SET parent_memory_id = $3 WHERE id = $1 AND user_id = $2"
	" AND parent_memory_id IS NULL AND $3 <> $1"
	" AND EXISTS (SELECT 1 FROM memories WHERE id = $3 AND user_id = $2)");

enum pos_err pg_autolink_apply(struct pos_store *s, const char *user_id, const char *id,
			       const struct pos_autolink *v, size_t n, const char *parent_id,
			       int64_t now)
{
	struct pg_conn *c = pg_get(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = pg_begin(c);
	bool open = !rc;
	if (!rc) {
		struct pg_params p = {0};
		pg_p_text(&p, id);
		pg_p_text(&p, user_id);
		PGresult *r = NULL;
		if (!(rc = pg_run(c, &st_link_owner, &p, &r)) && PQntuples(r) == 0)
			rc = POS_ERR_NOT_FOUND;
		PQclear(r);
	}
	if (!rc) {
		struct pg_params p = {0};
		pg_p_text(&p, id);
		rc = pg_run(c, &st_link_clear, &p, NULL);
	}
	for (size_t i = 0; !rc && i < n; i++) {
		struct pg_params p = {0};
		pg_p_text(&p, id);
		pg_p_text(&p, user_id);
		pg_p_text(&p, v[i].target);
		pg_p_text(&p, v[i].type);
		pg_p_f64(&p, v[i].strength);
		pg_p_i64(&p, now);
		rc = pg_run(c, &st_link_insert, &p, NULL);
	}
	if (!rc && parent_id && parent_id[0]) {
		struct pg_params p = {0};
		pg_p_text(&p, id);
		pg_p_text(&p, user_id);
		pg_p_text(&p, parent_id);
		rc = pg_run(c, &st_link_parent, &p, NULL);
	}
	if (!rc) {
		rc = pg_commit(c);
		open = false;
	}
	if (open)
		pg_rollback(c);
	pg_put(s, c);
	return rc;
}
