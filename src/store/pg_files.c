/*
 * pg_files.c — attachments and blob rows on PostgreSQL (store.h "files";
 * port of sqlite_files.c). The blobs table holds one row per (user,
 * address); a trigger keeps users.bytes_used in step, as SQLite's do.
 * Attachments go with their memory (ON DELETE CASCADE); the files service
 * collects the blobs they leave behind through blob_orphans and
 * blob_forget.
 *
 * Several instances: adding an attachment locks its blob row (an upsert)
 * and forgetting a blob locks it before checking for attachments in a
 * later statement, so a blob that gains an attachment concurrently is
 * never dropped (SQLite's single writer gave this for free).
 */
#include <stdio.h>
#include <string.h>

#include "store/pg_internal.h"

/* The tables of SQLite's migration 14; its two triggers are one function. */
const char pg_ddl_files[] =
	"CREATE TABLE IF NOT EXISTS blobs ("
	" user_id text NOT NULL,"
	" hash text NOT NULL,"
	" bytes bigint NOT NULL,"
	" created_at bigint NOT NULL,"
	" PRIMARY KEY (user_id, hash));"
	"CREATE TABLE IF NOT EXISTS attachments ("
	" id text PRIMARY KEY,"
	" user_id text NOT NULL,"
	" memory_seq bigint NOT NULL REFERENCES memories(seq) ON DELETE CASCADE,"
	" hash text NOT NULL,"
	" name text NOT NULL,"
	" mime text NOT NULL,"
	" bytes bigint NOT NULL,"
	" created_at bigint NOT NULL,"
	" text_status text NOT NULL DEFAULT 'pending',"
	" text_error text,"
	" text_pages bigint NOT NULL DEFAULT 0,"
	" sealed bigint NOT NULL DEFAULT 0);"
	"CREATE INDEX IF NOT EXISTS attachments_memory ON attachments(memory_seq);"
	"CREATE INDEX IF NOT EXISTS attachments_blob ON attachments(user_id, hash);"
	"CREATE OR REPLACE FUNCTION pos_blobs_bytes() RETURNS trigger LANGUAGE plpgsql AS $$"
	" BEGIN"
	"  IF TG_OP = 'INSERT' THEN"
	"   UPDATE users SET bytes_used = bytes_used + NEW.bytes WHERE id = NEW.user_id;"
	"  ELSE"
	"   UPDATE users SET bytes_used = bytes_used - OLD.bytes WHERE id = OLD.user_id;"
	"  END IF;"
	"  RETURN NULL;"
	" END $$;"
	"CREATE OR REPLACE TRIGGER blobs_bytes AFTER INSERT OR DELETE ON blobs"
	" FOR EACH ROW EXECUTE FUNCTION pos_blobs_bytes();";

#define ATT_COLS                                                                   \
	"a.id, a.user_id, m.id, a.hash, a.name, a.mime, a.bytes, a.created_at,"    \
	" a.text_status, a.text_error, a.text_pages, a.sealed, a.thumb"

/* Migration 2 of the PostgreSQL store (SQLite's 19): thumbnails. */
const char pg_ddl_thumbs[] =
	"ALTER TABLE attachments ADD COLUMN IF NOT EXISTS thumb text;"
	"CREATE INDEX IF NOT EXISTS attachments_thumb ON attachments(user_id, thumb)"
	" WHERE thumb IS NOT NULL;";

PG_STMT(st_mem_seq, "SELECT seq FROM memories WHERE id = $1 AND user_id = $2");
/* DO UPDATE (to itself) rather than DO NOTHING: it locks the row. */
PG_STMT(st_blob_put, "INSERT INTO blobs(user_id, hash, bytes, created_at)"
		     " VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, hash)"
		     " DO UPDATE SET bytes = blobs.bytes");
PG_STMT(st_att_insert, "INSERT INTO attachments(id, user_id, memory_seq, hash, name, mime,"
		       " bytes, created_at, text_status, text_error, text_pages, sealed)"
		       " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)");
PG_STMT(st_att_get, "SELECT " ATT_COLS " FROM attachments a JOIN memories m"
		    " ON m.seq = a.memory_seq WHERE a.id = $1"
		    " AND ($2::text IS NULL OR a.user_id = $2::text)");
PG_STMT(st_att_list, "SELECT " ATT_COLS " FROM attachments a JOIN memories m"
		     " ON m.seq = a.memory_seq WHERE m.id = $1 AND a.user_id = $2"
		     " ORDER BY a.created_at, a.id");
PG_STMT(st_att_delete, "DELETE FROM attachments WHERE id = $1 AND user_id = $2");
PG_STMT(st_att_text, "UPDATE attachments SET text_status = $3, text_error = $4,"
		     " text_pages = $5 WHERE id = $1 AND user_id = $2");
/* Migration 4 (SQLite's 23): the thumbnail backfill's index. */
const char pg_ddl_unthumbed[] =
	"CREATE INDEX IF NOT EXISTS attachments_unthumbed ON attachments(user_id, id)"
	" WHERE thumb IS NULL;";
PG_STMT(st_att_thumb, "UPDATE attachments SET thumb = $3 WHERE id = $1 AND user_id = $2");
PG_STMT(st_att_unthumbed, "SELECT " ATT_COLS " FROM attachments a JOIN memories m"
			  " ON m.seq = a.memory_seq WHERE a.user_id = $1 AND a.thumb IS NULL"
			  " AND a.id > $2 ORDER BY a.id LIMIT $3");
PG_STMT(st_att_plain, "SELECT " ATT_COLS " FROM attachments a JOIN memories m"
		      " ON m.seq = a.memory_seq WHERE a.user_id = $1 AND a.sealed = 0"
		      " AND a.id > $2 ORDER BY a.id LIMIT $3");
PG_STMT(st_att_reseal, "UPDATE attachments SET hash = $3, name = $4, mime = $5, thumb = $6,"
		       " sealed = 1 WHERE id = $1 AND user_id = $2 AND sealed = 0 AND hash = $7"
		       " AND coalesce(thumb, '') = $8");
PG_STMT(st_orphans, "SELECT b.user_id, b.hash FROM blobs b WHERE ($1::text IS NULL OR"
		    " b.user_id = $1::text) AND NOT EXISTS (SELECT 1 FROM attachments a"
		    " WHERE a.user_id = b.user_id AND a.hash = b.hash) AND NOT EXISTS"
		    " (SELECT 1 FROM attachments a WHERE a.user_id = b.user_id"
		    " AND a.thumb = b.hash) LIMIT $2");
PG_STMT(st_blob_lock, "SELECT 1 FROM blobs WHERE user_id = $1 AND hash = $2 FOR UPDATE");
PG_STMT(st_blob_forget, "DELETE FROM blobs WHERE user_id = $1 AND hash = $2 AND NOT EXISTS"
			" (SELECT 1 FROM attachments WHERE user_id = $1 AND hash = $2) AND NOT EXISTS"
			" (SELECT 1 FROM attachments WHERE user_id = $1 AND thumb = $2)");

static void read_att(struct pos_arena *a, PGresult *r, int row, struct pos_attachment *out)
{
	memset(out, 0, sizeof(*out));
	pg_uuid(out->id, r, row, 0);
	pg_uuid(out->user_id, r, row, 1);
	pg_uuid(out->memory_id, r, row, 2);
	if (!pg_isnull(r, row, 3))
		snprintf(out->hash, sizeof(out->hash), "%s", PQgetvalue(r, row, 3));
	out->name = pg_text(a, r, row, 4);
	out->mime = pg_text(a, r, row, 5);
	out->bytes = pg_i64(r, row, 6);
	out->created_at = pg_i64(r, row, 7);
	out->text_status = pg_text(a, r, row, 8);
	out->text_error = pg_text(a, r, row, 9);
	out->text_pages = pg_i64(r, row, 10);
	out->sealed = pg_i64(r, row, 11) != 0;
	if (!pg_isnull(r, row, 12))
		snprintf(out->thumb, sizeof(out->thumb), "%s", PQgetvalue(r, row, 12));
}

static enum pos_err attachment_insert(struct pos_store *s, const struct pos_attachment *at)
{
	struct pg_conn *c = pg_get(s);
	if (!c)
		return POS_ERR_STORE;
	PGresult *r = NULL;
	enum pos_err rc = pg_begin(c);
	if (rc)
		goto out;
	struct pg_params p = {0};
	pg_p_text(&p, at->memory_id);
	pg_p_text(&p, at->user_id);
	if ((rc = pg_run(c, &st_mem_seq, &p, &r)))
		goto out;
	int64_t seq = pg_rows(r) > 0 ? pg_i64(r, 0, 0) : 0;
	if (!seq) {
		rc = POS_ERR_NOT_FOUND;
		goto out;
	}
	struct pg_params b = {0};
	pg_p_text(&b, at->user_id);
	pg_p_text(&b, at->hash);
	pg_p_i64(&b, at->bytes);
	pg_p_i64(&b, at->created_at);
	if ((rc = pg_run(c, &st_blob_put, &b, NULL)))
		goto out;
	struct pg_params v = {0};
	pg_p_text(&v, at->id);
	pg_p_text(&v, at->user_id);
	pg_p_i64(&v, seq);
	pg_p_text(&v, at->hash);
	pg_p_text(&v, at->name);
	pg_p_text(&v, at->mime);
	pg_p_i64(&v, at->bytes);
	pg_p_i64(&v, at->created_at);
	pg_p_text(&v, at->text_status ? at->text_status : "pending");
	pg_p_text(&v, at->text_error);
	pg_p_i64(&v, at->text_pages);
	pg_p_i64(&v, at->sealed ? 1 : 0);
	if ((rc = pg_run(c, &st_att_insert, &v, NULL)))
		goto out;
	rc = pg_commit(c);
out:
	PQclear(r);
	pg_put(s, c);
	return rc;
}

static enum pos_err attachment_get(struct pos_store *s, struct pos_arena *a,
				   const char *user_id, const char *id,
				   struct pos_attachment *out)
{
	struct pg_params p = {0};
	pg_p_text(&p, id);
	pg_p_text(&p, user_id);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, &st_att_get, &p, &r);
	if (!rc) {
		if (pg_rows(r) < 1)
			rc = POS_ERR_NOT_FOUND;
		else
			read_att(a, r, 0, out);
	}
	PQclear(r);
	return rc;
}

static enum pos_err attachment_list(struct pos_store *s, struct pos_arena *a,
				    const char *user_id, const char *memory_id,
				    struct pos_attachment **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	struct pg_params p = {0};
	pg_p_text(&p, memory_id);
	pg_p_text(&p, user_id);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, &st_att_list, &p, &r);
	if (rc)
		return rc;
	int rows = pg_rows(r);
	struct pos_attachment *v = rows ? pos_arena_alloc(a, (size_t)rows * sizeof(*v)) : NULL;
	if (rows && !v)
		rc = POS_ERR_NOMEM;
	for (int i = 0; !rc && i < rows; i++)
		read_att(a, r, i, &v[i]);
	PQclear(r);
	if (!rc) {
		*out = v;
		*n = (size_t)rows;
	}
	return rc;
}

static enum pos_err attachment_delete(struct pos_store *s, const char *user_id, const char *id)
{
	struct pg_params p = {0};
	pg_p_text(&p, id);
	pg_p_text(&p, user_id);
	return pg_do_write(s, &st_att_delete, &p, true);
}

static enum pos_err attachment_set_text(struct pos_store *s, const char *user_id,
					const char *id, const char *status, const char *error,
					int64_t pages)
{
	struct pg_params p = {0};
	pg_p_text(&p, id);
	pg_p_text(&p, user_id);
	pg_p_text(&p, status);
	pg_p_text(&p, error);
	pg_p_i64(&p, pages);
	return pg_do_write(s, &st_att_text, &p, true);
}

static enum pos_err attachment_set_thumb(struct pos_store *s, const char *user_id,
					 const char *id, const char *hash, int64_t bytes,
					 int64_t now)
{
	struct pg_conn *c = pg_get(s);
	if (!c)
		return POS_ERR_STORE;
	PGresult *r = NULL;
	enum pos_err rc = pg_begin(c);
	if (rc)
		goto out;
	struct pg_params b = {0};
	pg_p_text(&b, user_id);
	pg_p_text(&b, hash);
	pg_p_i64(&b, bytes);
	pg_p_i64(&b, now);
	if (hash && (rc = pg_run(c, &st_blob_put, &b, NULL))) /* NULL: none, no blob */
		goto out;
	struct pg_params p = {0};
	pg_p_text(&p, id);
	pg_p_text(&p, user_id);
	pg_p_text(&p, hash ? hash : POS_THUMB_NONE);
	if ((rc = pg_run(c, &st_att_thumb, &p, &r)))
		goto out;
	if (pg_affected(r) == 0) {
		rc = POS_ERR_NOT_FOUND;
		goto out;
	}
	rc = pg_commit(c);
out:
	PQclear(r);
	pg_put(s, c);
	return rc;
}

static enum pos_err blob_orphans(struct pos_store *s, struct pos_arena *a, const char *user_id,
				 size_t max, struct pos_blob_ref **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (max == 0)
		return POS_OK;
	*out = pos_arena_alloc(a, max * sizeof(**out));
	if (!*out)
		return POS_ERR_NOMEM;
	struct pg_params p = {0};
	pg_p_text(&p, user_id);
	pg_p_i64(&p, (int64_t)max);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, &st_orphans, &p, &r);
	for (int i = 0; !rc && i < pg_rows(r) && *n < max; i++) {
		struct pos_blob_ref *b = &(*out)[(*n)++];
		pg_uuid(b->user_id, r, i, 0);
		snprintf(b->hash, sizeof(b->hash), "%s", PQgetvalue(r, i, 1));
	}
	PQclear(r);
	return rc;
}

static enum pos_err blob_forget(struct pos_store *s, const char *user_id, const char *hash,
				bool *dropped)
{
	*dropped = false;
	struct pg_conn *c = pg_get(s);
	if (!c)
		return POS_ERR_STORE;
	PGresult *r = NULL;
	struct pg_params p = {0};
	pg_p_text(&p, user_id);
	pg_p_text(&p, hash);
	enum pos_err rc = pg_begin(c);
	if (rc)
		goto out;
	/* Waits for an attachment being added to this blob; the check that
	 * follows is a new statement, so it sees that attachment. */
	if ((rc = pg_run(c, &st_blob_lock, &p, NULL)) || (rc = pg_run(c, &st_blob_forget, &p, &r)))
		goto out;
	bool gone = pg_affected(r) > 0;
	if ((rc = pg_commit(c)))
		goto out;
	*dropped = gone;
out:
	PQclear(r);
	pg_put(s, c);
	return rc;
}

/* One page of the user's attachments after after_id from the listing
 * statement st (id order, at most max). */
static enum pos_err att_page(struct pos_store *s, const struct pg_stmt *st, struct pos_arena *a,
			     const char *user_id, const char *after_id, size_t max,
			     struct pos_attachment **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (max == 0)
		return POS_OK;
	struct pg_params p = {0};
	pg_p_text(&p, user_id);
	pg_p_text(&p, after_id);
	pg_p_i64(&p, (int64_t)max);
	PGresult *r = NULL;
	enum pos_err rc = pg_do(s, st, &p, &r);
	if (rc)
		return rc;
	int rows = pg_rows(r);
	struct pos_attachment *v = rows ? pos_arena_alloc(a, (size_t)rows * sizeof(*v)) : NULL;
	if (rows && !v)
		rc = POS_ERR_NOMEM;
	for (int i = 0; !rc && i < rows; i++)
		read_att(a, r, i, &v[i]);
	PQclear(r);
	if (!rc) {
		*out = v;
		*n = (size_t)rows;
	}
	return rc;
}

static enum pos_err attachment_unthumbed(struct pos_store *s, struct pos_arena *a,
					 const char *user_id, const char *after_id, size_t max,
					 struct pos_attachment **out, size_t *n)
{
	return att_page(s, &st_att_unthumbed, a, user_id, after_id, max, out, n);
}

static enum pos_err attachment_plain(struct pos_store *s, struct pos_arena *a,
				     const char *user_id, const char *after_id, size_t max,
				     struct pos_attachment **out, size_t *n)
{
	return att_page(s, &st_att_plain, a, user_id, after_id, max, out, n);
}

static enum pos_err attachment_reseal(struct pos_store *s, const struct pos_attachment *at,
				      int64_t thumb_bytes, const char *old_hash,
				      const char *old_thumb, int64_t now)
{
	struct pg_conn *c = pg_get(s);
	if (!c)
		return POS_ERR_STORE;
	PGresult *r = NULL;
	enum pos_err rc = pg_begin(c);
	if (rc)
		goto out;
	struct pg_params b = {0};
	pg_p_text(&b, at->user_id);
	pg_p_text(&b, at->hash);
	pg_p_i64(&b, at->bytes);
	pg_p_i64(&b, now);
	if ((rc = pg_run(c, &st_blob_put, &b, NULL)))
		goto out;
	if (at->thumb[0] && strcmp(at->thumb, POS_THUMB_NONE) != 0) {
		struct pg_params t = {0};
		pg_p_text(&t, at->user_id);
		pg_p_text(&t, at->thumb);
		pg_p_i64(&t, thumb_bytes);
		pg_p_i64(&t, now);
		if ((rc = pg_run(c, &st_blob_put, &t, NULL)))
			goto out;
	}
	struct pg_params p = {0};
	pg_p_text(&p, at->id);
	pg_p_text(&p, at->user_id);
	pg_p_text(&p, at->hash);
	pg_p_text(&p, at->name);
	pg_p_text(&p, at->mime);
	pg_p_text(&p, at->thumb[0] ? at->thumb : NULL);
	pg_p_text(&p, old_hash);
	pg_p_text(&p, old_thumb ? old_thumb : "");
	if ((rc = pg_run(c, &st_att_reseal, &p, &r)))
		goto out;
	if (pg_affected(r) == 0) {
		rc = POS_ERR_CONFLICT;
		goto out;
	}
	rc = pg_commit(c);
out:
	PQclear(r);
	pg_put(s, c);
	return rc;
}

const struct pos_store_files pg_files_ops = {
	.attachment_insert = attachment_insert,
	.attachment_get = attachment_get,
	.attachment_list = attachment_list,
	.attachment_delete = attachment_delete,
	.attachment_set_text = attachment_set_text,
	.attachment_set_thumb = attachment_set_thumb,
	.blob_orphans = blob_orphans,
	.blob_forget = blob_forget,
	.attachment_unthumbed = attachment_unthumbed,
	.attachment_plain = attachment_plain,
	.attachment_reseal = attachment_reseal,
};
