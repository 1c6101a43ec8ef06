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
	const struct pos_store_ops *ops = svc->store->ops;
	return !ops->data_unlocked || ops->data_unlocked(svc->store, owner_id);
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
	rc = svc->store->ops->shared_search(svc->store, a, recipient_id, match, take, &m, &s,
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
