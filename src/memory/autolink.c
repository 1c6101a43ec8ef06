/*
 * autolink.c — links a memory to its nearest neighbours, its duplicates
 * and its structural parent (autolink.h).
 */
#include "memory/autolink.h"

#include <string.h>

#include "base/clock.h"
#include "base/uuid.h"
#include "jobs/jobs.h"

void pos_autolink_config_default(struct pos_autolink_config *c)
{
	*c = (struct pos_autolink_config){.related_min = 0.5, .duplicate_min = 0.95,
					  .max_links = 5};
}

enum pos_err pos_autolink_memory(const struct pos_memsvc *svc, const char *user_id,
				 const char *id, const struct pos_autolink_config *cfg,
				 struct pos_autolink_result *out)
{
	struct pos_store *s = svc->store;
	memset(out, 0, sizeof(*out));
	char norm[POS_UUID_SIZE];
	if (!pos_uuid_valid(id, strlen(id), norm))
		return POS_ERR_NOT_FOUND;
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return POS_ERR_NOMEM;
	unsigned k = cfg->max_links > POS_AUTOLINK_MAX ? POS_AUTOLINK_MAX : cfg->max_links;
	struct pos_autolink links[POS_AUTOLINK_MAX];
	size_t nl = 0;
	struct pos_memory m;
	enum pos_err rc = s->memories->memory_get(s, a, user_id, norm, false, 0, &m);
	if (rc)
		goto out;
	if (svc->search && k) {
		struct pos_vec v;
		if ((rc = s->memories->vector_get(s, a, user_id, m.seq, &v)))
			goto out;
		struct pos_hit hits[POS_AUTOLINK_MAX + 1];
		size_t nh = 0;
		if (v.q && (rc = pos_search_similar(svc->search, user_id, &v, k + 1, hits, &nh)))
			goto out;
		int64_t seqs[POS_AUTOLINK_MAX + 1];
		size_t ns = 0;
		for (size_t i = 0; i < nh; i++)
			if (hits[i].seq != m.seq && hits[i].score >= cfg->related_min)
				seqs[ns++] = hits[i].seq;
		if (ns) {
			struct pos_memory *nb = pos_arena_alloc(a, ns * sizeof(*nb));
			bool *found = pos_arena_alloc(a, ns * sizeof(*found));
			if (!nb || !found) {
				rc = POS_ERR_NOMEM;
				goto out;
			}
			if ((rc = s->memories->memories_by_seq(s, a, user_id, seqs, ns, nb, found)))
				goto out;
			size_t h = 0;
			for (size_t i = 0; i < ns && nl < k; i++) {
				while (hits[h].seq != seqs[i])
					h++;
				if (!found[i])
					continue;
				bool dup = hits[h].score >= cfg->duplicate_min && nb[i].type == m.type;
				memcpy(links[nl].target, nb[i].id, POS_UUID_SIZE);
				links[nl].type = dup ? "duplicate" : "related";
				links[nl].strength = hits[h].score;
				nl++;
				if (dup)
					out->duplicates++;
				else
					out->related++;
			}
		}
	}
	char parent[POS_UUID_SIZE] = "";
	if (!m.parent_id[0] && (rc = s->memories->autolink_parent(s, user_id, m.seq, parent)))
		goto out;
	if ((rc = s->memories->autolink_apply(s, user_id, norm, links, nl, parent, pos_now_us())))
		goto out;
	if (parent[0]) {
		out->parent_set = true;
		memcpy(out->parent_id, parent, POS_UUID_SIZE);
	}
out:
	pos_arena_destroy(a);
	return rc;
}

enum pos_err pos_autolink_job_run(struct pos_job_run *r, void *ctx, const char *user_id,
				  const char *payload_json)
{
	(void)r; /* one memory: short, no progress to report */
	const struct pos_memsvc *svc = ctx;
	json_t *p = json_loads(payload_json ? payload_json : "{}", 0, NULL);
	const char *id = json_string_value(json_object_get(p, "id"));
	enum pos_err rc = POS_ERR_INVALID_FIELD;
	if (id) {
		struct pos_autolink_config cfg;
		struct pos_autolink_result res;
		pos_autolink_config_default(&cfg);
		rc = pos_autolink_memory(svc, user_id, id, &cfg, &res);
		if (rc == POS_ERR_NOT_FOUND)
			rc = POS_OK; /* deleted since: nothing to link */
	}
	json_decref(p);
	return rc;
}

const struct pos_job_kind pos_autolink_job_kind = {
	.name = POS_AUTOLINK_JOB,
	.max_attempts = 3,
	.timeout_us = 60LL * 1000000,
	.backoff_us = 5LL * 1000000,
	.serial_per_user = false,
	.user_cancellable = true,
	.run = pos_autolink_job_run,
};
