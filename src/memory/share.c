/*
 * share.c — the encryption check, recipient view, and search over shared
 * memories (share.h).
 */
#include "memory/share.h"

#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "search/query.h"

bool pos_share_owner_unlocked(const struct pos_memsvc *svc, const char *owner_id)
{
	const struct pos_store_keys *keys = svc->store->keys;
	return !keys || !keys->data_unlocked || keys->data_unlocked(svc->store, owner_id);
}

enum pos_err pos_share_check_encrypted(const struct pos_memsvc *svc,
				       const struct pos_memory *m,
				       struct pos_error *err)
{
	if (!m->is_encrypted || pos_share_owner_unlocked(svc, m->user_id))
		return POS_OK;
	return pos_error_set(err, POS_ERR_LOCKED, NULL,
			     "this memory is encrypted and your data is locked: "
			     "log in again to unlock it, then share");
}

enum pos_err pos_share_recipient_view(struct pos_arena *a, struct pos_memory *m,
				      const char *email)
{
	struct pos_buf b;
	pos_buf_init(&b, 1024);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_jw_arr(&w);
	pos_jw_str(&w, email ? email : "");
	pos_jw_arr_end(&w);
	const char *json = w.rc ? NULL : pos_arena_strndup(a, b.data, b.len);
	pos_buf_free(&b);
	if (!json)
		return POS_ERR_NOMEM;
	m->shared_with_json = json;
	m->parent_id[0] = '\0';
	m->related_json = "[]";
	m->n_related = 0;
	return POS_OK;
}

static bool has_tag(const char *tags_json, const char *tag)
{
	json_t *v = json_loads(tags_json, 0, NULL);
	bool found = false;
	size_t i;
	json_t *t;
	json_array_foreach(v, i, t) {
		if (json_is_string(t) && strcmp(json_string_value(t), tag) == 0) {
			found = true;
			break;
		}
	}
	json_decref(v);
	return found;
}

/* The list filters and those written in the query, applied to a row. */
static bool passes(const struct pos_memory *m, const struct pos_memory_query *f,
		   const struct pos_query *q)
{
	int type = q->type >= 0 ? q->type : f->type;
	int layer = q->layer >= 0 ? q->layer : f->layer;
	if (type >= 0 && (int)m->type != type)
		return false;
	if (layer >= 0 && (int)m->layer != layer)
		return false;
	if (f->source && strcmp(m->source, f->source) != 0)
		return false;
	if (q->source && strcmp(m->source, q->source) != 0)
		return false;
	if (f->after != POS_TIME_NONE && m->created_at < f->after)
		return false;
	if (q->after != POS_TIME_NONE && m->created_at < q->after)
		return false;
	if (f->before != POS_TIME_NONE && m->created_at >= f->before)
		return false;
	if (q->before != POS_TIME_NONE && m->created_at >= q->before)
		return false;
	for (size_t i = 0; i < f->n_tags; i++)
		if (!has_tag(m->tags_json, f->tags[i]))
			return false;
	for (size_t i = 0; i < q->n_tags; i++)
		if (!has_tag(m->tags_json, q->tags[i]))
			return false;
	return true;
}

enum pos_err pos_share_search(const struct pos_memsvc *svc, struct pos_arena *a,
			      const char *recipient_id, const char *query, size_t len,
			      const struct pos_memory_query *filters, unsigned want,
			      struct pos_memory **out, double **scores, size_t *n,
			      struct pos_error *err)
{
	*n = 0;
	*out = NULL;
	*scores = NULL;
	struct pos_query q;
	enum pos_err rc = pos_query_parse(a, query, len, &q, err);
	if (rc)
		return rc;
	const char *match = NULL;
	if ((rc = pos_query_fts_match(a, &q, true, &match)))
		return pos_error_set(err, rc, NULL, NULL);
	if (!match || !want)
		return POS_OK; /* filters only: "shared with me" lists them */
	/* Take more than wanted: the filters run on the rows afterwards. */
	unsigned take = want > 250 ? 1000 : want * 4;
	struct pos_memory *m = NULL;
	double *s = NULL;
	size_t got = 0;
	rc = svc->store->shares->shared_search(svc->store, a, recipient_id, match, take, &m, &s,
					    &got);
	if (rc)
		return pos_error_set(err, rc, NULL, NULL);
	size_t kept = 0;
	for (size_t i = 0; i < got && kept < want; i++) {
		if (!passes(&m[i], filters, &q))
			continue;
		m[kept] = m[i];
		s[kept] = s[i];
		kept++;
	}
	*out = m;
	*scores = s;
	*n = kept;
	return POS_OK;
}

void pos_share_explain_not_owner(const struct pos_memsvc *svc, struct pos_arena *a,
				 const char *user_id, const char *id, struct pos_error *err)
{
	struct pos_memory m;
	if (err->code == POS_ERR_NOT_FOUND &&
	    svc->store->shares->shared_get(svc->store, a, user_id, id, &m) == POS_OK)
		pos_error_set(err, POS_ERR_FORBIDDEN, NULL,
			      "this memory is shared with you to read; only its owner may change it");
}

/* The owner's memory `id`, or the error for a caller who does not own it. */
static enum pos_err owned(const struct pos_memsvc *svc, struct pos_arena *a,
			  const char *owner_id, const char *id, struct pos_memory *m,
			  struct pos_error *err)
{
	enum pos_err rc = svc->store->memories->memory_get(svc->store, a, owner_id, id, false, 0, m);
	if (rc) {
		pos_error_set(err, rc, NULL, NULL);
		pos_share_explain_not_owner(svc, a, owner_id, id, err);
	}
	return rc;
}

enum pos_err pos_share_add(const struct pos_memsvc *svc, struct pos_arena *a,
			   const char *owner_id, const char *id,
			   const char *const *emails, size_t n, struct pos_memory *out,
			   struct pos_error *err)
{
	enum pos_err rc = owned(svc, a, owner_id, id, out, err);
	if (rc)
		return rc;
	if ((rc = pos_share_check_encrypted(svc, out, err)) ||
	    (rc = svc->store->shares->share_add(svc->store, owner_id, id, emails, n,
					     pos_now_us(), err))) {
		/* The store fills `err` for input errors only. */
		if (!err->code)
			pos_error_set(err, rc, NULL, NULL);
		return rc;
	}
	if ((rc = svc->store->memories->memory_get(svc->store, a, owner_id, id, false, 0, out)))
		pos_error_set(err, rc, NULL, NULL);
	return rc;
}

enum pos_err pos_share_remove(const struct pos_memsvc *svc, struct pos_arena *a,
			      const char *owner_id, const char *id, const char *email,
			      struct pos_error *err)
{
	struct pos_memory m;
	enum pos_err rc = owned(svc, a, owner_id, id, &m, err);
	if (rc)
		return rc;
	rc = svc->store->shares->share_remove(svc->store, owner_id, id, email);
	if (rc == POS_ERR_NOT_FOUND)
		pos_error_set(err, rc, NULL, "this memory is not shared with that email");
	else if (rc)
		pos_error_set(err, rc, NULL, NULL);
	return rc;
}

/* The recipient's email as they see it in shared_with. */
static enum pos_err recipient_email(const struct pos_memsvc *svc, struct pos_arena *a,
				    const char *recipient_id, const char **email,
				    struct pos_error *err)
{
	struct pos_user u;
	enum pos_err rc = svc->store->accounts->user_by_id(svc->store, a, recipient_id, &u);
	if (rc)
		return pos_error_set(err, rc == POS_ERR_NOT_FOUND ? POS_ERR_UNAUTHORIZED : rc,
				     NULL, NULL);
	*email = u.email;
	return POS_OK;
}

enum pos_err pos_share_read(const struct pos_memsvc *svc, struct pos_arena *a,
			    const char *recipient_id, const char *id,
			    struct pos_memory *out, bool *shared, struct pos_error *err)
{
	enum pos_err rc = svc->store->shares->shared_get(svc->store, a, recipient_id, id, out);
	*shared = !rc || rc == POS_ERR_LOCKED || rc == POS_ERR_DECRYPT;
	if (rc == POS_ERR_LOCKED)
		/* shared with the caller, but the owner's encrypted data is
		 * locked: say so, serve nothing */
		return pos_error_set(err, rc, NULL,
				     "this memory is encrypted and its owner's data is locked");
	if (rc)
		return pos_error_set(err, rc, NULL, NULL);
	const char *email = NULL;
	if ((rc = recipient_email(svc, a, recipient_id, &email, err)))
		return rc;
	if ((rc = pos_share_recipient_view(a, out, email)))
		pos_error_set(err, rc, NULL, NULL);
	return rc;
}

enum pos_err pos_share_list(const struct pos_memsvc *svc, struct pos_arena *a,
			    const char *recipient_id, unsigned limit, unsigned offset,
			    struct pos_memory **out, size_t *n, int64_t *total,
			    struct pos_error *err)
{
	enum pos_err rc = svc->store->shares->shared_list(svc->store, a, recipient_id, limit,
						       offset, out, n, total);
	if (rc)
		return pos_error_set(err, rc, NULL, NULL);
	const char *email = "";
	if (*n && (rc = recipient_email(svc, a, recipient_id, &email, err)))
		return rc;
	for (size_t i = 0; i < *n; i++)
		if ((rc = pos_share_recipient_view(a, &(*out)[i], email)))
			return pos_error_set(err, rc, NULL, NULL);
	return POS_OK;
}

enum pos_err pos_share_search_with_own(const struct pos_memsvc *svc, struct pos_arena *a,
				       const struct pos_search_request *req,
				       struct pos_share_search_result *out,
				       struct pos_error *err)
{
	memset(out, 0, sizeof(*out));
	if (req->offset > POS_SHARE_SEARCH_OFFSET_MAX)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "offset",
				     "with include_shared, offset is at most 10000");
	/* Both lists are taken up to offset + limit, then merged. */
	struct pos_search_request own_req = *req;
	own_req.offset = 0;
	own_req.limit = req->offset + req->limit;
	struct pos_search_result own;
	enum pos_err rc = pos_search_run(svc->search, a, &own_req, &own, err);
	if (rc)
		return rc;
	struct pos_memory *sm = NULL;
	double *ss = NULL;
	size_t ns = 0;
	if ((rc = pos_share_search(svc, a, req->user_id, req->query, req->query_len,
				   &req->filters, own_req.limit, &sm, &ss, &ns, err)))
		return rc;
	const char *email = "";
	if (ns && (rc = recipient_email(svc, a, req->user_id, &email, err)))
		return rc;
	double *scores = pos_arena_alloc(a, (own.n ? own.n : 1) * sizeof(*scores));
	struct pos_fused_item *page =
		pos_arena_alloc(a, (req->limit ? req->limit : 1) * sizeof(*page));
	out->hits = pos_arena_alloc(a, (req->limit ? req->limit : 1) * sizeof(*out->hits));
	if (!scores || !page || !out->hits)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	for (size_t i = 0; i < own.n; i++)
		scores[i] = own.hits[i].rank.score;
	size_t n = pos_fuse_merge(pos_search_weights(svc->search), scores, own.n, ns,
				  req->offset, req->limit, page);
	for (size_t i = 0; i < n; i++) {
		struct pos_memory *m = page[i].other ? &sm[page[i].index]
						     : &own.hits[page[i].index].memory;
		if (page[i].other && (rc = pos_share_recipient_view(a, m, email)))
			return pos_error_set(err, rc, NULL, NULL);
		out->hits[i].memory = m;
		out->hits[i].score = page[i].score;
	}
	out->n = n;
	out->total = own.total + (int64_t)ns;
	out->shared = ns;
	out->took_ms = own.took_ms;
	return POS_OK;
}
