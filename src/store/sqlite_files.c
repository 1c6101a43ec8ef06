/*
 * sqlite_files.c — attachments and blob rows in the SQLite backend
 * (migration 14, issue 21). The blobs table holds one row per (user,
 * address); its triggers keep users.bytes_used in step. Attachments go
 * with their memory (ON DELETE CASCADE); the files service collects the
 * blobs they leave behind through blob_orphans and blob_forget.
 */
#include "store/sqlite_internal.h"

#include <string.h>

static void read_att(struct pos_arena *a, sqlite3_stmt *st, struct pos_attachment *out)
{
	memset(out, 0, sizeof(*out));
	const unsigned char *t;
	if ((t = sqlite3_column_text(st, 0)))
		snprintf(out->id, sizeof(out->id), "%s", (const char *)t);
	if ((t = sqlite3_column_text(st, 1)))
		snprintf(out->user_id, sizeof(out->user_id), "%s", (const char *)t);
	if ((t = sqlite3_column_text(st, 2)))
		snprintf(out->memory_id, sizeof(out->memory_id), "%s", (const char *)t);
	if ((t = sqlite3_column_text(st, 3)))
		snprintf(out->hash, sizeof(out->hash), "%s", (const char *)t);
	out->name = sq_col_str(a, st, 4, NULL);
	out->mime = sq_col_str(a, st, 5, NULL);
	out->bytes = sqlite3_column_int64(st, 6);
	out->created_at = sqlite3_column_int64(st, 7);
	out->text_status = sq_col_str(a, st, 8, NULL);
	out->text_error = sq_col_str(a, st, 9, NULL);
	out->text_pages = sqlite3_column_int64(st, 10);
	out->sealed = sqlite3_column_int(st, 11) != 0;
	if ((t = sqlite3_column_text(st, 12)))
		snprintf(out->thumb, sizeof(out->thumb), "%s", (const char *)t);
}

static enum pos_err step_done(struct sq_conn *c, sqlite3_stmt *st, const char *what)
{
	int r = sqlite3_step(st);
	sqlite3_reset(st);
	return r == SQLITE_DONE ? POS_OK : sq_fail(c, what);
}

enum pos_err sq_attachment_insert(struct pos_store *base, const struct pos_attachment *at)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	int64_t seq = 0;
	if (!(st = sq_stmt(c, ST_ATT_MEMORY_SEQ))) {
		rc = sq_fail(c, "prepare attachment");
		goto out;
	}
	sq_bind_str(st, 1, at->memory_id);
	sq_bind_str(st, 2, at->user_id);
	if (sqlite3_step(st) == SQLITE_ROW)
		seq = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (!seq) {
		rc = POS_ERR_NOT_FOUND;
		goto out;
	}
	if (!(st = sq_stmt(c, ST_BLOB_INSERT))) {
		rc = sq_fail(c, "prepare blob");
		goto out;
	}
	sq_bind_str(st, 1, at->user_id);
	sq_bind_str(st, 2, at->hash);
	sqlite3_bind_int64(st, 3, at->bytes);
	sqlite3_bind_int64(st, 4, at->created_at);
	if ((rc = step_done(c, st, "blob insert")))
		goto out;
	if (!(st = sq_stmt(c, ST_ATT_INSERT))) {
		rc = sq_fail(c, "prepare attachment insert");
		goto out;
	}
	sq_bind_str(st, 1, at->id);
	sq_bind_str(st, 2, at->user_id);
	sqlite3_bind_int64(st, 3, seq);
	sq_bind_str(st, 4, at->hash);
	sq_bind_str(st, 5, at->name);
	sq_bind_str(st, 6, at->mime);
	sqlite3_bind_int64(st, 7, at->bytes);
	sqlite3_bind_int64(st, 8, at->created_at);
	sq_bind_str(st, 9, at->text_status ? at->text_status : "pending");
	sq_bind_str(st, 10, at->text_error);
	sqlite3_bind_int64(st, 11, at->text_pages);
	sqlite3_bind_int(st, 12, at->sealed ? 1 : 0);
	rc = step_done(c, st, "attachment insert");
out:
	return sq_end(s, c, rc, false);
}

enum pos_err sq_attachment_get(struct pos_store *base, struct pos_arena *a, const char *user_id,
			       const char *id, struct pos_attachment *out)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = NULL;
	if (!(st = sq_stmt(c, ST_ATT_GET)))
		return sq_fail(c, "prepare attachment get");
	sq_bind_str(st, 1, id);
	sq_bind_str(st, 2, user_id);
	int r = sqlite3_step(st);
	enum pos_err rc = POS_OK;
	if (r == SQLITE_ROW)
		read_att(a, st, out);
	else if (r == SQLITE_DONE)
		rc = POS_ERR_NOT_FOUND;
	else
		rc = sq_fail(c, "attachment get");
	sqlite3_reset(st);
	return rc;
}

enum pos_err sq_attachment_list(struct pos_store *base, struct pos_arena *a, const char *user_id,
				const char *memory_id, struct pos_attachment **out, size_t *n)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	*out = NULL;
	*n = 0;
	if (!c)
		return POS_ERR_STORE;
	sqlite3_stmt *st = NULL;
	if (!(st = sq_stmt(c, ST_ATT_LIST)))
		return sq_fail(c, "prepare attachment list");
	sq_bind_str(st, 1, memory_id);
	sq_bind_str(st, 2, user_id);
	size_t cap = 0;
	enum pos_err rc = POS_OK;
	int r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct pos_attachment *na = pos_arena_alloc(a, ncap * sizeof(*na));
			if (!na) {
				rc = POS_ERR_NOMEM;
				break;
			}
			if (*n)
				memcpy(na, *out, *n * sizeof(*na));
			*out = na;
			cap = ncap;
		}
		read_att(a, st, &(*out)[(*n)++]);
	}
	if (!rc && r != SQLITE_DONE)
		rc = sq_fail(c, "attachment list");
	sqlite3_reset(st);
	return rc;
}

enum pos_err sq_attachment_delete(struct pos_store *base, const char *user_id, const char *id)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	if (!(st = sq_stmt(c, ST_ATT_DELETE))) {
		rc = sq_fail(c, "prepare attachment delete");
		goto out;
	}
	sq_bind_str(st, 1, id);
	sq_bind_str(st, 2, user_id);
	if ((rc = step_done(c, st, "attachment delete")))
		goto out;
	if (sqlite3_changes(c->db) == 0)
		rc = POS_ERR_NOT_FOUND;
out:
	return sq_end(s, c, rc, false);
}

enum pos_err sq_attachment_set_text(struct pos_store *base, const char *user_id, const char *id,
				    const char *status, const char *error, int64_t pages)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	if (!(st = sq_stmt(c, ST_ATT_SET_TEXT))) {
		rc = sq_fail(c, "prepare attachment text");
		goto out;
	}
	sq_bind_str(st, 1, id);
	sq_bind_str(st, 2, user_id);
	sq_bind_str(st, 3, status);
	sq_bind_str(st, 4, error);
	sqlite3_bind_int64(st, 5, pages);
	if ((rc = step_done(c, st, "attachment text")))
		goto out;
	if (sqlite3_changes(c->db) == 0)
		rc = POS_ERR_NOT_FOUND;
out:
	return sq_end(s, c, rc, false);
}

enum pos_err sq_attachment_set_thumb(struct pos_store *base, const char *user_id, const char *id,
				     const char *hash, int64_t bytes, int64_t now)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	if (hash && !(st = sq_stmt(c, ST_BLOB_INSERT))) {
		rc = sq_fail(c, "prepare blob");
		goto out;
	}
	if (hash) { /* NULL: none, no blob */
		sq_bind_str(st, 1, user_id);
		sq_bind_str(st, 2, hash);
		sqlite3_bind_int64(st, 3, bytes);
		sqlite3_bind_int64(st, 4, now);
		if ((rc = step_done(c, st, "blob insert")))
			goto out;
	}
	if (!(st = sq_stmt(c, ST_ATT_SET_THUMB))) {
		rc = sq_fail(c, "prepare attachment thumb");
		goto out;
	}
	sq_bind_str(st, 1, id);
	sq_bind_str(st, 2, user_id);
	sq_bind_str(st, 3, hash ? hash : POS_THUMB_NONE);
	if ((rc = step_done(c, st, "attachment thumb")))
		goto out;
	if (sqlite3_changes(c->db) == 0)
		rc = POS_ERR_NOT_FOUND;
out:
	return sq_end(s, c, rc, false);
}

enum pos_err sq_blob_orphans(struct pos_store *base, struct pos_arena *a, const char *user_id,
			     size_t max, struct pos_blob_ref **out, size_t *n)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	*out = NULL;
	*n = 0;
	if (!c)
		return POS_ERR_STORE;
	if (max == 0)
		return POS_OK;
	*out = pos_arena_alloc(a, max * sizeof(**out));
	if (!*out)
		return POS_ERR_NOMEM;
	sqlite3_stmt *st = NULL;
	if (!(st = sq_stmt(c, ST_BLOB_ORPHANS)))
		return sq_fail(c, "prepare blob orphans");
	sq_bind_str(st, 1, user_id);
	sqlite3_bind_int64(st, 2, (int64_t)max);
	int r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
		struct pos_blob_ref *b = &(*out)[(*n)++];
		snprintf(b->user_id, sizeof(b->user_id), "%s",
			 (const char *)sqlite3_column_text(st, 0));
		snprintf(b->hash, sizeof(b->hash), "%s", (const char *)sqlite3_column_text(st, 1));
	}
	enum pos_err rc = r == SQLITE_ROW || r == SQLITE_DONE ? POS_OK : sq_fail(c, "blob orphans");
	sqlite3_reset(st);
	return rc;
}

enum pos_err sq_blob_forget(struct pos_store *base, const char *user_id, const char *hash,
			    bool *dropped)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	*dropped = false;
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	if (!(st = sq_stmt(c, ST_BLOB_FORGET))) {
		rc = sq_fail(c, "prepare blob forget");
		goto out;
	}
	sq_bind_str(st, 1, user_id);
	sq_bind_str(st, 2, hash);
	if ((rc = step_done(c, st, "blob forget")))
		goto out;
	*dropped = sqlite3_changes(c->db) > 0;
out:
	return sq_end(s, c, rc, false);
}

/* One page of the user's attachments after after_id from the listing
 * statement `which` (id order, at most max). */
static enum pos_err att_page(struct pos_store *base, enum sq_stmt which, const char *what,
			     struct pos_arena *a, const char *user_id, const char *after_id,
			     size_t max, struct pos_attachment **out, size_t *n)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	*out = NULL;
	*n = 0;
	if (!c)
		return POS_ERR_STORE;
	if (max == 0)
		return POS_OK;
	*out = pos_arena_alloc(a, max * sizeof(**out));
	if (!*out)
		return POS_ERR_NOMEM;
	sqlite3_stmt *st = sq_stmt(c, which);
	if (!st)
		return sq_fail(c, what);
	sq_bind_str(st, 1, user_id);
	sq_bind_str(st, 2, after_id);
	sqlite3_bind_int64(st, 3, (int64_t)max);
	int r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW && *n < max)
		read_att(a, st, &(*out)[(*n)++]);
	enum pos_err rc = r == SQLITE_ROW || r == SQLITE_DONE ? POS_OK : sq_fail(c, what);
	sqlite3_reset(st);
	return rc;
}

enum pos_err sq_attachment_unthumbed(struct pos_store *base, struct pos_arena *a, const char *user_id,
				     const char *after_id, size_t max,
				     struct pos_attachment **out, size_t *n)
{
	return att_page(base, ST_ATT_UNTHUMBED, "attachments without thumbnail", a, user_id,
			after_id, max, out, n);
}

enum pos_err sq_attachment_plain(struct pos_store *base, struct pos_arena *a, const char *user_id,
				 const char *after_id, size_t max, struct pos_attachment **out,
				 size_t *n)
{
	return att_page(base, ST_ATT_PLAIN, "plain attachments", a, user_id, after_id, max, out, n);
}

static enum pos_err blob_row(struct sq_conn *c, const char *user_id, const char *hash,
			     int64_t bytes, int64_t now)
{
	sqlite3_stmt *st = sq_stmt(c, ST_BLOB_INSERT);
	if (!st)
		return sq_fail(c, "prepare blob");
	sq_bind_str(st, 1, user_id);
	sq_bind_str(st, 2, hash);
	sqlite3_bind_int64(st, 3, bytes);
	sqlite3_bind_int64(st, 4, now);
	return step_done(c, st, "blob insert");
}

enum pos_err sq_attachment_reseal(struct pos_store *base, const struct pos_attachment *at,
				  int64_t thumb_bytes, const char *old_hash, const char *old_thumb,
				  int64_t now)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c = sq_conn(s);
	if (!c)
		return POS_ERR_STORE;
	enum pos_err rc = sq_begin(s, c);
	if (rc)
		return rc;
	bool thumb_blob = at->thumb[0] && strcmp(at->thumb, POS_THUMB_NONE) != 0;
	if ((rc = blob_row(c, at->user_id, at->hash, at->bytes, now)) ||
	    (thumb_blob && (rc = blob_row(c, at->user_id, at->thumb, thumb_bytes, now))))
		goto out;
	sqlite3_stmt *st = sq_stmt(c, ST_ATT_RESEAL);
	if (!st) {
		rc = sq_fail(c, "prepare attachment reseal");
		goto out;
	}
	sq_bind_str(st, 1, at->id);
	sq_bind_str(st, 2, at->user_id);
	sq_bind_str(st, 3, at->hash);
	sq_bind_str(st, 4, at->name);
	sq_bind_str(st, 5, at->mime);
	sq_bind_str(st, 6, at->thumb[0] ? at->thumb : NULL);
	sq_bind_str(st, 7, old_hash);
	sq_bind_str(st, 8, old_thumb ? old_thumb : "");
	if ((rc = step_done(c, st, "attachment reseal")))
		goto out;
	if (sqlite3_changes(c->db) == 0)
		rc = POS_ERR_CONFLICT;
out:
	return sq_end(s, c, rc, false);
}
