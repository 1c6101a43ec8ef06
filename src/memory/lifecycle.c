/*
 * lifecycle.c — the layer policy and its run over one user's memories
 * (docs/LIFECYCLE.md). The policy is a pure function of a memory's facts
 * and a clock, so every transition is a data-driven unit test
 * (tests/unit/test_lifecycle.c); the run pages through the store.
 */
#include "memory/lifecycle.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "memory/importance.h"

#define DAY_US (86400LL * 1000000LL)
#define PAGE 1000
/* A recomputed importance is written when it moved at least this much. */
#define IMPORTANCE_EPSILON 0.01

static const struct {
	const char *key;
	size_t off;
	unsigned max;
} fields[] = {
	{"active_days", offsetof(struct pos_life_policy, active_days), POS_LIFE_DAYS_MAX},
	{"current_days", offsetof(struct pos_life_policy, current_days), POS_LIFE_DAYS_MAX},
	{"reference_accesses", offsetof(struct pos_life_policy, reference_accesses), 1000000},
	{"reference_days", offsetof(struct pos_life_policy, reference_days), POS_LIFE_DAYS_MAX},
	{"archive_days", offsetof(struct pos_life_policy, archive_days), POS_LIFE_DAYS_MAX},
};
#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))

void pos_life_policy_default(struct pos_life_policy *p)
{
	*p = (struct pos_life_policy){
		.active_days = POS_LIFE_ACTIVE_DAYS,
		.current_days = POS_LIFE_CURRENT_DAYS,
		.reference_accesses = POS_LIFE_REFERENCE_ACCESSES,
		.reference_days = POS_LIFE_REFERENCE_DAYS,
		.archive_days = POS_LIFE_ARCHIVE_DAYS,
	};
}

enum pos_err pos_life_policy_parse(const json_t *o, bool strict,
				   struct pos_life_policy *p, struct pos_error *err)
{
	if (!o || json_is_null(o))
		return POS_OK;
	if (!json_is_object(o))
		return strict ? pos_error_set(err, POS_ERR_INVALID_REQUEST, NULL,
					      "the lifecycle policy must be a JSON object")
			      : POS_OK;
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)o, key, v) {
		size_t i = 0;
		while (i < N_FIELDS && strcmp(fields[i].key, key) != 0)
			i++;
		if (i == N_FIELDS) {
			if (strict)
				return pos_error_set(err, POS_ERR_INVALID_FIELD, key,
						     "unknown lifecycle policy key");
			continue;
		}
		json_int_t n = json_is_integer(v) ? json_integer_value(v) : -1;
		if (n < 1 || n > (json_int_t)fields[i].max) {
			if (strict)
				return pos_error_set(err, POS_ERR_INVALID_FIELD, key,
						     "%s must be an integer from 1 to %u", key,
						     fields[i].max);
			continue;
		}
		*(unsigned *)((char *)p + fields[i].off) = (unsigned)n;
	}
	return POS_OK;
}

void pos_life_policy_json(struct pos_jw *w, const struct pos_life_policy *p)
{
	pos_jw_obj(w);
	for (size_t i = 0; i < N_FIELDS; i++)
		pos_jw_kint(w, fields[i].key, *(const unsigned *)((const char *)p + fields[i].off));
	pos_jw_obj_end(w);
}

static int64_t days(unsigned d)
{
	return (int64_t)d * DAY_US;
}

enum pos_mem_layer pos_life_next(const struct pos_life_policy *p,
				 const struct pos_life_row *r, bool current,
				 int64_t now)
{
	enum pos_mem_layer l = r->layer;
	if (r->layer_locked || r->pinned)
		return l;
	int64_t accessed = r->last_accessed_at;
	int64_t touched = r->updated_at;
	if (accessed != POS_TIME_NONE && accessed > touched)
		touched = accessed;
	/* reference and archive come back when accessed after they went
	 * there; the store does this at once on access and on edit (an edit
	 * is not told apart here from a change of bookkeeping such as
	 * layer_locked, which also moves updated_at) */
	if ((l == POS_LAYER_REFERENCE || l == POS_LAYER_ARCHIVE) && accessed != POS_TIME_NONE &&
	    accessed > r->layer_since)
		return POS_LAYER_ACTIVE;
	int64_t used = touched > r->created_at ? touched : r->created_at;
	bool frequent = r->access_count >= (int64_t)p->reference_accesses &&
			accessed != POS_TIME_NONE && now - accessed <= days(p->reference_days);
	bool unused = now - used >= days(p->archive_days);
	switch (l) {
	case POS_LAYER_ACTIVE:
		if (now - r->layer_since < days(p->active_days))
			return l;
		/* an active memory past its days is placed anew */
		__attribute__((fallthrough));
	case POS_LAYER_WORKING:
		if (current)
			return POS_LAYER_WORKING;
		if (frequent)
			return POS_LAYER_REFERENCE;
		if (unused)
			return POS_LAYER_ARCHIVE;
		return POS_LAYER_ACTIVE; /* working that is no longer current */
	case POS_LAYER_REFERENCE:
		return unused ? POS_LAYER_ARCHIVE : l;
	case POS_LAYER_ARCHIVE:
	default:
		return l;
	}
}

/* ---- the run ---- */

static int touch_cmp(const void *k, const void *e)
{
	return strcmp((const char *)k, ((const struct pos_tag_touch *)e)->tag);
}

/* Whether a tag of `r` was touched since the window began by a memory
 * other than `r` (the touches list holds only touches in the window). */
static bool tag_current(const struct pos_life_row *r, const struct pos_tag_touch *t,
			size_t nt)
{
	if (!nt || !r->tags_json || strcmp(r->tags_json, "[]") == 0)
		return false;
	json_t *tags = json_loads(r->tags_json, 0, NULL);
	bool cur = false;
	size_t i;
	json_t *v;
	json_array_foreach(tags, i, v) {
		const char *tag = json_string_value(v);
		if (!tag)
			continue;
		const struct pos_tag_touch *e = bsearch(tag, t, nt, sizeof(*t), touch_cmp);
		if (e && (e->seq1 != r->seq || e->t2 != 0)) {
			cur = true;
			break;
		}
	}
	json_decref(tags);
	return cur;
}

static enum pos_err load_policy(struct pos_store *s, struct pos_arena *a, const char *user_id,
				struct pos_user *u, struct pos_life_policy *p,
				struct pos_error *err)
{
	pos_life_policy_default(p);
	enum pos_err rc = s->accounts->user_by_id(s, a, user_id, u);
	if (rc)
		return pos_error_set(err, rc, NULL, NULL);
	json_t *settings = json_loads(u->settings_json ? u->settings_json : "{}", 0, NULL);
	pos_life_policy_parse(json_object_get(settings, "lifecycle"), false, p, NULL);
	json_decref(settings);
	return POS_OK;
}

enum pos_err pos_lifecycle_run(struct pos_store *s, const char *user_id, int64_t now,
			       pos_life_progress_fn progress, void *ctx,
			       struct pos_life_result *out, struct pos_error *err)
{
	memset(out, 0, sizeof(*out));
	struct pos_arena *base = pos_arena_new();
	if (!base)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	struct pos_life_policy p;
	struct pos_user u;
	struct pos_tag_touch *touches = NULL;
	size_t nt = 0;
	char now_s[40];
	pos_time_format(now, now_s, sizeof(now_s));
	enum pos_err rc = load_policy(s, base, user_id, &u, &p, err);
	if (!rc && (rc = s->memories->tag_touches(s, base, user_id, now - days(p.current_days),
					     &touches, &nt)))
		pos_error_set(err, rc, NULL, NULL);
	int64_t after = 0, after_created = INT64_MIN;
	while (!rc) {
		struct pos_arena *a = pos_arena_new();
		if (!a) {
			rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
			break;
		}
		struct pos_life_row *rows;
		size_t n;
		struct pos_life_change *ch = pos_arena_alloc(a, PAGE * sizeof(*ch));
		size_t nch = 0;
		rc = ch ? s->memories->lifecycle_scan(s, a, user_id, after_created, after, PAGE, now_s,
						 &rows, &n)
			: POS_ERR_NOMEM;
		if (rc) {
			pos_error_set(err, rc, NULL, NULL);
			pos_arena_destroy(a);
			break;
		}
		for (size_t i = 0; i < n; i++) {
			const struct pos_life_row *r = &rows[i];
			bool current = r->open_action || r->upcoming || tag_current(r, touches, nt);
			enum pos_mem_layer to = pos_life_next(&p, r, current, now);
			double imp = -1;
			if (!r->importance_set) {
				double v = pos_importance_compute(r, now);
				if (fabs(v - r->importance) >= IMPORTANCE_EPSILON) {
					imp = v;
					out->importance_changed++;
				}
			}
			if (to != r->layer)
				out->moved[r->layer][to]++;
			if (to != r->layer || imp >= 0)
				ch[nch++] = (struct pos_life_change){
					r->seq, to != r->layer ? (int)to : -1, imp};
		}
		out->scanned += (int64_t)n;
		if (nch && (rc = s->memories->lifecycle_apply(s, user_id, ch, nch, now)))
			pos_error_set(err, rc, NULL, NULL);
		if (n) {
			after = rows[n - 1].seq;
			after_created = rows[n - 1].created_at;
		}
		pos_arena_destroy(a);
		if (rc || n < PAGE)
			break;
		if (progress && progress(ctx, out->scanned))
			rc = pos_error_set(err, POS_ERR_UNAVAILABLE, NULL, "the run was stopped");
	}
	pos_arena_destroy(base);
	return rc;
}

void pos_life_result_json(struct pos_jw *w, const struct pos_life_result *r)
{
	pos_jw_obj(w);
	pos_jw_key(w, "moved");
	pos_jw_obj(w);
	for (int f = 0; f < POS_LAYER__COUNT; f++)
		for (int t = 0; t < POS_LAYER__COUNT; t++)
			if (r->moved[f][t]) {
				char k[48];
				snprintf(k, sizeof(k), "%s->%s", pos_mem_layer_name((enum pos_mem_layer)f),
					 pos_mem_layer_name((enum pos_mem_layer)t));
				pos_jw_kint(w, k, r->moved[f][t]);
			}
	pos_jw_obj_end(w);
	pos_jw_kint(w, "scanned", r->scanned);
	pos_jw_kint(w, "importance_changed", r->importance_changed);
	pos_jw_obj_end(w);
}

enum pos_err pos_lifecycle_policy_get(struct pos_store *s, struct pos_arena *a,
				      const char *user_id, struct pos_life_policy *out,
				      struct pos_error *err)
{
	struct pos_user u;
	return load_policy(s, a, user_id, &u, out, err);
}

enum pos_err pos_lifecycle_policy_put(struct pos_store *s, struct pos_arena *a,
				      const char *user_id, const json_t *body,
				      struct pos_life_policy *out, struct pos_error *err)
{
	struct pos_user u;
	enum pos_err rc = load_policy(s, a, user_id, &u, out, err);
	if (rc)
		return rc;
	if (!json_is_object(body))
		return pos_error_set(err, POS_ERR_INVALID_REQUEST, NULL,
				     "the body must be a JSON object");
	if ((rc = pos_life_policy_parse(body, true, out, err)))
		return rc;
	json_t *settings = json_loads(u.settings_json ? u.settings_json : "{}", 0, NULL);
	if (!json_is_object(settings)) {
		json_decref(settings);
		settings = json_object();
	}
	json_t *pol = json_object();
	for (size_t i = 0; i < N_FIELDS; i++)
		json_object_set_new(pol, fields[i].key,
				    json_integer(*(unsigned *)((char *)out + fields[i].off)));
	json_object_set_new(settings, "lifecycle", pol);
	char *txt = json_dumps(settings, JSON_COMPACT);
	json_decref(settings);
	if (!txt)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	u.settings_json = pos_arena_strdup(a, txt);
	free(txt);
	if (!u.settings_json)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	if ((rc = s->accounts->user_update_profile(s, &u)))
		return pos_error_set(err, rc, NULL, NULL);
	return POS_OK;
}
