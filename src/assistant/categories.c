/*
 * categories.c — the user's categories from MemU, else from tags and
 * clusters of meaning (clusters.h).
 */
#include "assistant/categories.h"

#include <jansson.h>
#include <string.h>

#include "assistant/clusters.h"
#include "assistant/memu.h"
#include "base/clock.h"
#include "base/log.h"

/* MemU's category names; false (nothing written) when MemU cannot answer
 * now. *tried says whether MemU was asked. */
static bool from_memu(struct pos_assistant *as, struct pos_arena *a, const char *user_id,
		      const char *tier, struct pos_jw *w, bool *tried)
{
	*tried = false;
	if (!as->memu || !tier || strcmp(tier, "cloud") != 0)
		return false;
	if (pos_mono_us() < atomic_load(&as->memu_quiet_until))
		return false;
	*tried = true;
	const char **names = NULL;
	size_t n = 0;
	struct pos_error e;
	pos_error_clear(&e);
	if (pos_memu_categories(as->memu, a, user_id, &names, &n, &e) != POS_OK) {
		atomic_store(&as->memu_quiet_until, pos_mono_us() + POS_MEMU_QUIET_US);
		pos_warn("assistant: MemU categories failed: %s", e.message);
		return false;
	}
	pos_jw_obj(w);
	pos_jw_kstr(w, "source", "memu");
	pos_jw_key(w, "categories");
	pos_jw_arr(w);
	for (size_t i = 0; i < n; i++) {
		pos_jw_obj(w);
		pos_jw_kstr(w, "name", names[i]);
		pos_jw_obj_end(w);
	}
	pos_jw_arr_end(w);
	pos_jw_obj_end(w);
	return true;
}

enum pos_err pos_categories_json(struct pos_assistant *as, struct pos_arena *a,
				 const char *user_id, struct pos_jw *w, struct pos_error *err)
{
	struct pos_store *s = as->store;
	struct pos_user u;
	enum pos_err rc = s->accounts->user_by_id(s, a, user_id, &u);
	if (rc)
		return pos_error_set(err, rc, NULL, NULL);
	bool tried;
	if (from_memu(as, a, user_id, u.privacy_tier, w, &tried))
		return w->rc;
	/* the tag index alone, not the whole stats pass (docs/BENCHMARKS.md) */
	const char *top = NULL;
	if ((rc = s->memories->tag_counts(s, a, user_id, POS_CATEGORIES_LOCAL_MAX, true, &top)))
		return pos_error_set(err, rc, NULL, NULL);
	json_t *tags = json_loads(top, 0, NULL);
	pos_jw_obj(w);
	pos_jw_kstr(w, "source", "local");
	if (tried)
		pos_jw_kbool(w, "memu_unavailable", true);
	pos_jw_key(w, "categories");
	pos_jw_arr(w);
	size_t i;
	json_t *t;
	json_array_foreach(tags, i, t) {
		const char *name = json_string_value(json_object_get(t, "tag"));
		if (!name)
			continue;
		pos_jw_obj(w);
		pos_jw_kstr(w, "name", name);
		pos_jw_kint(w, "count", json_integer_value(json_object_get(t, "count")));
		pos_jw_kstr(w, "kind", "tag");
		pos_jw_obj_end(w);
	}
	json_decref(tags);
	bool pending = false;
	if (as->clusters && as->mem && as->mem->search &&
	    (rc = pos_clusters_json(as->clusters, as->mem->search, s, a, user_id, w, &pending)))
		return pos_error_set(err, rc, NULL, NULL);
	pos_jw_arr_end(w);
	if (pending)
		pos_jw_kbool(w, "clusters_pending", true);
	pos_jw_obj_end(w);
	return w->rc;
}
