/*
 * sqlite_lifecycle.c — what the lifecycle job (memory/lifecycle.h) reads
 * and writes in the SQLite backend: a page of a user's memories with the
 * facts its policy looks at, the tags touched lately, and the moves it
 * decided, written without touching updated_at (a move is not an edit).
 */
#include "store/sqlite_internal.h"

#include <string.h>

#include "base/uuid.h"

/* Content is read up to this many bytes for importance signals. */
#define LIFE_CONTENT_MAX 4096

enum {
	L_SEQ, L_ID, L_TYPE, L_LAYER, L_CREATED, L_UPDATED, L_ACCESSED, L_SINCE,
	L_COUNT, L_IMPORTANCE, L_RATING, L_LOCKED, L_ISET, L_PINNED, L_OPEN,
	L_UPCOMING, L_DEGREE, L_TAGS, L_CONTENT
};

static const char scan_sql[] =
	"SELECT m.seq, m.id, m.type, m.layer, m.created_at, m.updated_at,"
	" m.last_accessed_at, coalesce(m.layer_since, m.created_at), m.access_count,"
	" m.importance_score,"
	" CASE WHEN json_valid(m.metadata) AND json_type(m.metadata, '$.rating')"
	"  IN ('integer', 'real') THEN json_extract(m.metadata, '$.rating') ELSE -1 END,"
	" m.layer_locked, m.importance_set, " SQ_PINNED("m") ","
	" m.type = 'action' AND m.is_encrypted = 0 AND json_valid(m.metadata) AND"
	"  coalesce(json_extract(m.metadata, '$.completed'), 0) != 1 AND"
	"  coalesce(json_extract(m.metadata, '$.status'), '') NOT IN ('done', 'completed', 'closed'),"
	" m.type = 'event' AND m.is_encrypted = 0 AND json_valid(m.metadata) AND"
	"  coalesce(json_extract(m.metadata, '$.start_time'), '') >= ?3,"
	" (SELECT count(*) FROM memory_relationships WHERE memory_id = m.id)"
	" + (SELECT count(*) FROM memory_relationships WHERE related_memory_id = m.id)"
	" + (SELECT count(*) FROM memories c INDEXED BY memories_parent"
	"  WHERE c.parent_memory_id = m.id)"
	" + (m.parent_memory_id IS NOT NULL),"
	" (SELECT json_group_array(tag) FROM memory_tags WHERE memory_seq = m.seq),"
	" CASE WHEN m.is_encrypted THEN NULL ELSE substr(m.content, 1, 4096) END"
	/* keyset paging along memories_user_seq (migration 21): each page is
	 * an index range, never a sort, and its rows are read in the table's
	 * own (seq) order, so a page touches few table pages even when the
	 * database is far larger than the page cache */
	" FROM memories m INDEXED BY memories_user_seq WHERE m.user_id = ?1 AND m.seq > ?2"
	" ORDER BY m.seq LIMIT ?4";

const char *sq_lifecycle_scan_sql(void)
{
	return scan_sql;
}

enum pos_err sq_lifecycle_scan(struct pos_store *base, struct pos_arena *a,
			       const char *user_id, int64_t after_created, int64_t after_seq,
			       size_t max,
			       const char *now_rfc3339, struct pos_life_row **out,
			       size_t *n)
{
	struct sq_store *s = (struct sq_store *)base;
	*out = NULL;
	*n = 0;
	/* the policy counts accesses: the pending ones must be in the rows */
	sq_access_flush(s);
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c->db, scan_sql, -1, &st, NULL) != SQLITE_OK)
		return sq_fail(c, "prepare lifecycle scan");
	struct pos_life_row *v = pos_arena_zalloc(a, (max ? max : 1) * sizeof(*v));
	enum pos_err rc = v ? POS_OK : POS_ERR_NOMEM;
	sq_bind_str(st, 1, user_id);
	sqlite3_bind_int64(st, 2, after_seq);
	sq_bind_str(st, 3, now_rfc3339);
	sqlite3_bind_int64(st, 4, (int64_t)max);
	(void)after_created; /* the cursor is the seq alone here */
	int step = SQLITE_DONE;
	while (!rc && *n < max && (step = sqlite3_step(st)) == SQLITE_ROW) {
		struct pos_life_row *r = &v[*n];
		r->seq = sqlite3_column_int64(st, L_SEQ);
		const unsigned char *t = sqlite3_column_text(st, L_ID);
		snprintf(r->id, sizeof(r->id), "%s", t ? (const char *)t : "");
		int ty = pos_mem_type_parse((const char *)sqlite3_column_text(st, L_TYPE));
		int la = pos_mem_layer_parse((const char *)sqlite3_column_text(st, L_LAYER));
		if (ty < 0 || la < 0) {
			rc = POS_ERR_CORRUPT;
			break;
		}
		r->type = (enum pos_mem_type)ty;
		r->layer = (enum pos_mem_layer)la;
		r->created_at = sqlite3_column_int64(st, L_CREATED);
		r->updated_at = sqlite3_column_int64(st, L_UPDATED);
		r->last_accessed_at = sq_col_time(st, L_ACCESSED);
		r->layer_since = sqlite3_column_int64(st, L_SINCE);
		r->access_count = sqlite3_column_int64(st, L_COUNT);
		r->importance = sqlite3_column_double(st, L_IMPORTANCE);
		r->rating = sqlite3_column_double(st, L_RATING);
		r->layer_locked = sqlite3_column_int(st, L_LOCKED) != 0;
		r->importance_set = sqlite3_column_int(st, L_ISET) != 0;
		r->pinned = sqlite3_column_int(st, L_PINNED) != 0;
		r->open_action = sqlite3_column_int(st, L_OPEN) != 0;
		r->upcoming = sqlite3_column_int(st, L_UPCOMING) != 0;
		r->degree = sqlite3_column_int64(st, L_DEGREE);
		r->tags_json = sq_col_str(a, st, L_TAGS, NULL);
		r->content = sq_col_str(a, st, L_CONTENT, &r->content_len);
		if (!r->tags_json) {
			rc = POS_ERR_NOMEM;
			break;
		}
		(*n)++;
	}
	if (!rc && step != SQLITE_ROW && step != SQLITE_DONE)
		rc = sq_fail(c, "lifecycle scan");
	sqlite3_finalize(st);
	if (!rc)
		*out = v;
	else
		*n = 0;
	return rc;
}

enum pos_err sq_tag_touches(struct pos_store *base, struct pos_arena *a,
			    const char *user_id, int64_t since,
			    struct pos_tag_touch **out, size_t *n)
{
	struct sq_store *s = (struct sq_store *)base;
	*out = NULL;
	*n = 0;
	sq_access_flush(s);
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	/* For each tag the two latest touches at or after `since`. */
	static const char sql[] =
		"SELECT tag, seq, touched FROM (SELECT t.tag AS tag, m.seq AS seq, "
		" max(m.created_at, m.updated_at, coalesce(m.last_accessed_at, 0)) AS touched,"
		" row_number() OVER (PARTITION BY t.tag ORDER BY"
		"  max(m.created_at, m.updated_at, coalesce(m.last_accessed_at, 0)) DESC, m.seq DESC) AS rn"
		" FROM memory_tags t JOIN memories m ON m.seq = t.memory_seq"
		" WHERE t.user_id = ?1 AND"
		"  max(m.created_at, m.updated_at, coalesce(m.last_accessed_at, 0)) >= ?2)"
		" WHERE rn <= 2 ORDER BY tag, rn";
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
		return sq_fail(c, "prepare tag touches");
	sq_bind_str(st, 1, user_id);
	sqlite3_bind_int64(st, 2, since);
	size_t cap = 0;
	struct pos_tag_touch *v = NULL;
	enum pos_err rc = POS_OK;
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *tag = (const char *)sqlite3_column_text(st, 0);
		int64_t seq = sqlite3_column_int64(st, 1), at = sqlite3_column_int64(st, 2);
		if (!tag)
			continue;
		if (*n && strcmp(v[*n - 1].tag, tag) == 0) {
			v[*n - 1].t2 = at; /* the second row of the same tag */
			continue;
		}
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct pos_tag_touch *nv = pos_arena_alloc(a, ncap * sizeof(*nv));
			if (!nv) {
				rc = POS_ERR_NOMEM;
				break;
			}
			if (*n)
				memcpy(nv, v, *n * sizeof(*nv));
			v = nv;
			cap = ncap;
		}
		v[*n] = (struct pos_tag_touch){pos_arena_strdup(a, tag), seq, at, 0};
		if (!v[*n].tag) {
			rc = POS_ERR_NOMEM;
			break;
		}
		(*n)++;
	}
	if (!rc && step != SQLITE_DONE)
		rc = sq_fail(c, "tag touches");
	sqlite3_finalize(st);
	if (!rc)
		*out = v;
	else
		*n = 0;
	return rc;
}

enum pos_err sq_lifecycle_apply(struct pos_store *base, const char *user_id,
				const struct pos_life_change *v, size_t n, int64_t now)
{
	struct sq_store *s = (struct sq_store *)base;
	if (n == 0)
		return POS_OK;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	/* A memory locked or pinned since the scan keeps its layer. */
	static const char sql[] =
		"UPDATE memories SET"
		" layer = CASE WHEN ?3 IS NOT NULL AND layer_locked = 0 AND NOT " SQ_PINNED("memories")
		"  THEN ?3 ELSE layer END,"
		" layer_since = CASE WHEN ?3 IS NOT NULL AND layer_locked = 0 AND NOT "
		SQ_PINNED("memories") " AND layer != ?3 THEN ?5 ELSE layer_since END,"
		" importance_score = CASE WHEN ?4 IS NOT NULL AND importance_set = 0 THEN ?4"
		"  ELSE importance_score END"
		" WHERE seq = ?1 AND user_id = ?2";
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
		return sq_fail(c, "prepare lifecycle apply");
	enum pos_err rc = sq_begin(s, c);
	if (rc) {
		sqlite3_finalize(st);
		return rc;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		sqlite3_bind_int64(st, 1, v[i].seq);
		sq_bind_str(st, 2, user_id);
		if (v[i].layer >= 0 && v[i].layer < POS_LAYER__COUNT)
			sq_bind_str(st, 3, pos_mem_layer_name((enum pos_mem_layer)v[i].layer));
		else
			sqlite3_bind_null(st, 3);
		if (v[i].importance >= 0)
			sqlite3_bind_double(st, 4, v[i].importance);
		else
			sqlite3_bind_null(st, 4);
		sqlite3_bind_int64(st, 5, now);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = sq_fail(c, "lifecycle apply");
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
	sqlite3_finalize(st);
	return sq_end(s, c, rc, false);
}

/* ---- merge (memory/merge.h) ---- */

/* Each statement binds ?1 user, ?2 kept id, ?3 the merged ids (JSON). */
static const char *const merge_sql[] = {
	/* relationships from and to the merged memories, now the kept one's
	 * (never to itself nor to another merged memory) */
	"INSERT OR IGNORE INTO memory_relationships"
	"(memory_id, related_memory_id, relationship_type, strength, created_at)"
	" SELECT ?2, r.related_memory_id, r.relationship_type, r.strength, r.created_at"
	" FROM memory_relationships r WHERE r.memory_id IN (SELECT value FROM json_each(?3))"
	" AND r.related_memory_id != ?2"
	" AND r.related_memory_id NOT IN (SELECT value FROM json_each(?3))",
	"INSERT OR IGNORE INTO memory_relationships"
	"(memory_id, related_memory_id, relationship_type, strength, created_at)"
	" SELECT r.memory_id, ?2, r.relationship_type, r.strength, r.created_at"
	" FROM memory_relationships r WHERE r.related_memory_id IN (SELECT value FROM json_each(?3))"
	" AND r.memory_id != ?2 AND r.memory_id NOT IN (SELECT value FROM json_each(?3))",
	"UPDATE memories INDEXED BY memories_parent SET parent_memory_id = ?2"
	" WHERE user_id = ?1 AND id != ?2"
	" AND parent_memory_id IN (SELECT value FROM json_each(?3))",
	"UPDATE memories SET"
	" access_count = access_count + (SELECT coalesce(sum(access_count), 0) FROM memories"
	"  WHERE user_id = ?1 AND id IN (SELECT value FROM json_each(?3))),"
	" last_accessed_at = nullif(max(coalesce(last_accessed_at, 0),"
	"  coalesce((SELECT max(last_accessed_at) FROM memories WHERE user_id = ?1"
	"  AND id IN (SELECT value FROM json_each(?3))), 0)), 0)"
	" WHERE user_id = ?1 AND id = ?2",
};

enum pos_err sq_memory_merge_move(struct pos_store *base, const char *user_id,
				  const char *kept_id, const char *ids_json,
				  const char *detail_json, int64_t now)
{
	struct sq_store *s = (struct sq_store *)base;
	/* the pending access counts of the merged memories must be in rows */
	sq_access_flush(s);
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	char id[POS_UUID_SIZE];
	if (!pos_uuid_new_v7(id, now))
		return POS_ERR_INTERNAL;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	for (size_t i = 0; !rc && i < sizeof(merge_sql) / sizeof(merge_sql[0]); i++) {
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(c->db, merge_sql[i], -1, &st, NULL) != SQLITE_OK) {
			rc = sq_fail(c, "prepare merge");
			break;
		}
		sq_bind_str(st, 1, user_id);
		sq_bind_str(st, 2, kept_id);
		sq_bind_str(st, 3, ids_json);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = sq_fail(c, "merge");
		sqlite3_finalize(st);
	}
	if (!rc) {
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(c->db,
				       "INSERT INTO memory_merges(id, user_id, kept_id, merged_ids,"
				       " detail, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
				       -1, &st, NULL) != SQLITE_OK) {
			rc = sq_fail(c, "prepare merge audit");
		} else {
			sq_bind_str(st, 1, id);
			sq_bind_str(st, 2, user_id);
			sq_bind_str(st, 3, kept_id);
			sq_bind_str(st, 4, ids_json);
			sq_bind_str(st, 5, detail_json);
			sqlite3_bind_int64(st, 6, now);
			if (sqlite3_step(st) != SQLITE_DONE)
				rc = sq_fail(c, "merge audit");
			sqlite3_finalize(st);
		}
	}
	return sq_end(s, c, rc, false);
}

/* ---- auto-linking (memory/autolink.h) ---- */

enum pos_err sq_autolink_parent(struct pos_store *base, const char *user_id, int64_t seq,
				char parent_id[POS_UUID_SIZE])
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	parent_id[0] = '\0';
	if (!c)
		return POS_ERR_STORE;
	/* cached statements (sqlite.c): linking a bulk asks this per memory */
	static const enum sq_stmt ids[] = {ST_AL_PARENT_THREAD, ST_AL_PARENT_SERIES};
	enum pos_err rc = POS_OK;
	for (size_t i = 0; !rc && !parent_id[0] && i < sizeof(ids) / sizeof(ids[0]); i++) {
		sqlite3_stmt *st = sq_stmt(c, ids[i]);
		if (!st)
			return POS_ERR_STORE;
		sqlite3_bind_int64(st, 1, seq);
		sq_bind_str(st, 2, user_id);
		int step = sqlite3_step(st);
		if (step == SQLITE_ROW) {
			const unsigned char *t = sqlite3_column_text(st, 0);
			snprintf(parent_id, POS_UUID_SIZE, "%s", t ? (const char *)t : "");
		} else if (step != SQLITE_DONE) {
			rc = sq_fail(c, "autolink parent");
		}
		sqlite3_reset(st);
	}
	return rc;
}

enum pos_err sq_memory_keys_by_seq(struct pos_store *base, const char *user_id,
				   const int64_t *seqs, size_t n, char (*ids)[POS_UUID_SIZE],
				   int *types, bool *found)
{
	struct sq_conn *c = sq_conn((struct sq_store *)base);
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = sq_stmt(c, ST_AL_KEY);
	if (!st)
		return POS_ERR_STORE;
	enum pos_err rc = POS_OK;
	for (size_t i = 0; !rc && i < n; i++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, seqs[i]);
		sq_bind_str(st, 2, user_id);
		int step = sqlite3_step(st);
		found[i] = step == SQLITE_ROW;
		if (found[i]) {
			const unsigned char *t = sqlite3_column_text(st, 0);
			snprintf(ids[i], POS_UUID_SIZE, "%s", t ? (const char *)t : "");
			types[i] = pos_mem_type_parse((const char *)sqlite3_column_text(st, 1));
		} else if (step != SQLITE_DONE) {
			rc = sq_fail(c, "memory keys");
		}
	}
	sqlite3_reset(st);
	return rc;
}

/* Steps a cached write statement to its end and resets it. */
static enum pos_err al_step(struct sq_conn *c, sqlite3_stmt *st, const char *what)
{
	enum pos_err rc = sqlite3_step(st) == SQLITE_DONE ? POS_OK : sq_fail(c, what);
	sqlite3_reset(st);
	return rc;
}

enum pos_err sq_autolink_apply(struct pos_store *base, const char *user_id, const char *id,
			       const struct pos_autolink *v, size_t n, const char *parent_id,
			       int64_t now)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	/* cached statements (sqlite.c): linking a bulk applies this per memory */
	sqlite3_stmt *own = sq_stmt(c, ST_AL_OWNER), *clear = sq_stmt(c, ST_AL_CLEAR),
		     *ins = sq_stmt(c, ST_AL_INSERT), *par = sq_stmt(c, ST_AL_SET_PARENT);
	if (!own || !clear || !ins || !par)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	sq_bind_str(own, 1, id);
	sq_bind_str(own, 2, user_id);
	int step = sqlite3_step(own);
	if (step != SQLITE_ROW)
		rc = step == SQLITE_DONE ? POS_ERR_NOT_FOUND : sq_fail(c, "autolink owner");
	sqlite3_reset(own);
	if (!rc) {
		sq_bind_str(clear, 1, id);
		rc = al_step(c, clear, "autolink clear");
	}
	for (size_t i = 0; !rc && i < n; i++) {
		sq_bind_str(ins, 1, id);
		sq_bind_str(ins, 2, user_id);
		sq_bind_str(ins, 3, v[i].target);
		sq_bind_str(ins, 4, v[i].type);
		sqlite3_bind_double(ins, 5, v[i].strength);
		sqlite3_bind_int64(ins, 6, now);
		rc = al_step(c, ins, "autolink insert");
	}
	if (!rc && parent_id && parent_id[0]) {
		sq_bind_str(par, 1, id);
		sq_bind_str(par, 2, user_id);
		sq_bind_str(par, 3, parent_id);
		rc = al_step(c, par, "autolink parent");
	}
	return sq_end(s, c, rc, false);
}
