/*
 * autolink.c — links a memory to its nearest neighbours, its duplicates
 * and its structural parent (autolink.h).
 */
#include "memory/autolink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/uuid.h"
#include "jobs/jobs.h"

void pos_autolink_config_default(struct pos_autolink_config *c)
{
	*c = (struct pos_autolink_config){.related_min = 0.5, .duplicate_min = 0.95,
					  .max_links = 5};
}

/* The links of memory m from its neighbours hits[0..nh) (best first,
 * possibly m itself) into links[0..*nl); counts into out. */
static enum pos_err links_from_hits(struct pos_store *s, struct pos_arena *a, const char *user_id,
				    const struct pos_memory *m, const struct pos_hit *hits, size_t nh,
				    const struct pos_autolink_config *cfg, unsigned k,
				    struct pos_autolink *links, size_t *nl,
				    struct pos_autolink_result *out)
{
	int64_t seqs[POS_AUTOLINK_MAX + 1];
	size_t ns = 0;
	*nl = 0;
	for (size_t i = 0; i < nh && ns < POS_AUTOLINK_MAX + 1; i++)
		if (hits[i].seq != m->seq && hits[i].score >= cfg->related_min)
			seqs[ns++] = hits[i].seq;
	if (!ns)
		return POS_OK;
	char (*nid)[POS_UUID_SIZE] = pos_arena_alloc(a, ns * sizeof(*nid));
	int *ntype = pos_arena_alloc(a, ns * sizeof(*ntype));
	bool *found = pos_arena_alloc(a, ns * sizeof(*found));
	if (!nid || !ntype || !found)
		return POS_ERR_NOMEM;
	enum pos_err rc;
	if (s->memories->memory_keys_by_seq) {
		/* ids and types only: no neighbour's content is read */
		rc = s->memories->memory_keys_by_seq(s, user_id, seqs, ns, nid, ntype, found);
	} else {
		struct pos_memory *nb = pos_arena_alloc(a, ns * sizeof(*nb));
		if (!nb)
			return POS_ERR_NOMEM;
		rc = s->memories->memories_by_seq(s, a, user_id, seqs, ns, nb, found);
		for (size_t i = 0; !rc && i < ns; i++)
			if (found[i]) {
				memcpy(nid[i], nb[i].id, POS_UUID_SIZE);
				ntype[i] = nb[i].type;
			}
	}
	if (rc)
		return rc;
	size_t h = 0;
	for (size_t i = 0; i < ns && *nl < k; i++) {
		while (hits[h].seq != seqs[i])
			h++;
		if (!found[i])
			continue;
		bool dup = hits[h].score >= cfg->duplicate_min && ntype[i] == (int)m->type;
		memcpy(links[*nl].target, nid[i], POS_UUID_SIZE);
		links[*nl].type = dup ? "duplicate" : "related";
		links[*nl].strength = hits[h].score;
		(*nl)++;
		if (dup)
			out->duplicates++;
		else
			out->related++;
	}
	return POS_OK;
}

/* Stores the links of m and its structural parent. */
static enum pos_err apply_links(struct pos_store *s, const char *user_id,
				const struct pos_memory *m, const struct pos_autolink *links,
				size_t nl, struct pos_autolink_result *out)
{
	char parent[POS_UUID_SIZE] = "";
	enum pos_err rc;
	if (!m->parent_id[0] && (rc = s->memories->autolink_parent(s, user_id, m->seq, parent)))
		return rc;
	if ((rc = s->memories->autolink_apply(s, user_id, m->id, links, nl, parent, pos_now_us())))
		return rc;
	if (parent[0]) {
		out->parent_set = true;
		memcpy(out->parent_id, parent, POS_UUID_SIZE);
	}
	return POS_OK;
}

/* Memories whose links one store transaction writes: a unit of work. */
#define AUTOLINK_TX 64
/* Memories a neighbour search takes at once (a chunk of the vector
 * scan, POS_VEC_MANY_CHUNK). */
#define AUTOLINK_SEARCH_STEP 16
/* Giving way to bulk writes: polled every 2 ms, for at most 1 s a wait. */
#define AUTOLINK_GIVE_WAY_STEP_US 2000
#define AUTOLINK_GIVE_WAY_MAX_US 1000000

static unsigned links_wanted(const struct pos_autolink_config *cfg)
{
	return cfg->max_links > POS_AUTOLINK_MAX ? POS_AUTOLINK_MAX : cfg->max_links;
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
	unsigned k = links_wanted(cfg);
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
		if ((rc = links_from_hits(s, a, user_id, &m, hits, nh, cfg, k, links, &nl, out)))
			goto out;
	}
	rc = apply_links(s, user_id, &m, links, nl, out);
out:
	pos_arena_destroy(a);
	return rc;
}

/* Waits while bulk writes run (svc->bulk_writes), AUTOLINK_GIVE_WAY_STEP_US
 * at a time, at most AUTOLINK_GIVE_WAY_MAX_US, so that a stream of bulks
 * still lets a unit of linking through now and then; stops waiting when
 * the job is asked to stop. */
static void give_way(const struct pos_memsvc *svc, struct pos_job_run *r)
{
	if (!svc->bulk_writes)
		return;
	int64_t until = pos_mono_us() + AUTOLINK_GIVE_WAY_MAX_US;
	while (atomic_load(svc->bulk_writes) > 0 && pos_mono_us() < until &&
	       !(r && pos_job_should_stop(r))) {
		struct timespec ts = {0, AUTOLINK_GIVE_WAY_STEP_US * 1000L};
		nanosleep(&ts, NULL);
	}
}

enum pos_err pos_autolink_batch(const struct pos_memsvc *svc, const char *user_id,
				const char *const *ids, size_t n,
				const struct pos_autolink_config *cfg, struct pos_job_run *r,
				size_t *linked)
{
	struct pos_store *s = svc->store;
	if (linked)
		*linked = 0;
	if (n == 0)
		return POS_OK;
	if (n > POS_AUTOLINK_BATCH_MAX)
		return POS_ERR_INVALID_REQUEST;
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return POS_ERR_NOMEM;
	unsigned k = links_wanted(cfg);
	enum pos_err rc = POS_OK;
	struct pos_memory *m = pos_arena_alloc(a, n * sizeof(*m));
	struct pos_vec *v = pos_arena_alloc(a, n * sizeof(*v));
	bool *ok = pos_arena_zalloc(a, n * sizeof(*ok));
	struct pos_hit *hits = pos_arena_alloc(a, n * (size_t)(k + 1) * sizeof(*hits));
	size_t *nh = pos_arena_zalloc(a, n * sizeof(*nh));
	struct pos_autolink *links = pos_arena_alloc(a, AUTOLINK_TX * POS_AUTOLINK_MAX * sizeof(*links));
	size_t nl[AUTOLINK_TX];
	if (!m || !v || !ok || !hits || !nh || !links) {
		rc = POS_ERR_NOMEM;
		goto out;
	}
	/* AUTOLINK_TX memories a unit: their rows and vectors, one neighbour
	 * search for them all, their links, then one store transaction (the
	 * store's batch, when it has one) for the writes; between units the
	 * job gives way to bulk writes running (the ingest it follows) */
	for (size_t at = 0; at < n; at += AUTOLINK_TX) {
		size_t cnt = n - at < AUTOLINK_TX ? n - at : AUTOLINK_TX;
		if (r && pos_job_should_stop(r)) {
			rc = POS_ERR_UNAVAILABLE; /* the jobs service queues it again */
			goto out;
		}
		give_way(svc, r);
		for (size_t i = at; i < at + cnt; i++) {
			char norm[POS_UUID_SIZE];
			memset(&v[i], 0, sizeof(v[i]));
			if (!ids[i] || !pos_uuid_valid(ids[i], strlen(ids[i]), norm))
				continue;
			rc = s->memories->memory_get(s, a, user_id, norm, false, 0, &m[i]);
			if (rc == POS_ERR_NOT_FOUND) {
				rc = POS_OK; /* deleted since, or not the user's */
				continue;
			}
			if (!rc && svc->search && k)
				rc = s->memories->vector_get(s, a, user_id, m[i].seq, &v[i]);
			if (rc)
				goto out;
			ok[i] = true;
		}
		/* the search AUTOLINK_SEARCH_STEP memories at a time, giving way
		 * between steps: at 100,000 rows a unit's whole search takes a
		 * tenth of a second, longer than a bulk of 1,000 */
		for (size_t q = at; svc->search && k && q < at + cnt; q += AUTOLINK_SEARCH_STEP) {
			size_t qn = at + cnt - q < AUTOLINK_SEARCH_STEP ? at + cnt - q
									: AUTOLINK_SEARCH_STEP;
			if (q > at)
				give_way(svc, r);
			if ((rc = pos_search_similar_many(svc->search, user_id, v + q, qn, k + 1,
							  hits + q * (size_t)(k + 1), nh + q)))
				goto out;
		}
		struct pos_autolink_result res;
		for (size_t j = 0; j < cnt; j++) {
			size_t i = at + j;
			nl[j] = 0;
			if (ok[i] && (rc = links_from_hits(s, a, user_id, &m[i],
							   hits + i * (size_t)(k + 1), nh[i], cfg, k,
							   links + j * POS_AUTOLINK_MAX, &nl[j], &res)))
				goto out;
		}
		give_way(svc, r);
		bool tx = s->ops->batch_begin && s->ops->batch_begin(s) == POS_OK;
		for (size_t j = 0; !rc && j < cnt; j++) {
			size_t i = at + j;
			if (!ok[i])
				continue;
			if (tx && j && svc->bulk_writes && atomic_load(svc->bulk_writes) > 0) {
				/* a bulk came: commit what is written and let it
				 * have the writer, then go on in a new transaction */
				tx = false;
				if ((rc = s->ops->batch_end(s)))
					break;
				give_way(svc, r);
				tx = s->ops->batch_begin(s) == POS_OK;
			}
			memset(&res, 0, sizeof(res));
			rc = apply_links(s, user_id, &m[i], links + j * POS_AUTOLINK_MAX, nl[j], &res);
			if (rc == POS_ERR_NOT_FOUND)
				rc = POS_OK; /* deleted meanwhile */
			else if (!rc && linked)
				(*linked)++;
		}
		if (tx) {
			enum pos_err e = s->ops->batch_end(s);
			if (!rc)
				rc = e;
		}
		if (rc)
			goto out;
		if (r)
			pos_job_progress(r, at + cnt, n);
	}
out:
	pos_arena_destroy(a);
	return rc;
}

/* The user's link cursor: the last seq linked by a "new" run (0: none). */
static void cursor_name(char *out, size_t cap, const char *user_id)
{
	snprintf(out, cap, "autolink.cursor.%s", user_id);
}

static enum pos_err cursor_load(struct pos_store *s, struct pos_arena *a, const char *user_id,
				int64_t *cursor)
{
	char name[96];
	const char *v = NULL;
	cursor_name(name, sizeof(name), user_id);
	*cursor = 0;
	enum pos_err rc = s->ops->state_get(s, a, name, &v);
	if (!rc && v) {
		long long c = strtoll(v, NULL, 10);
		*cursor = c > 0 ? c : 0;
	}
	return rc;
}

static enum pos_err cursor_save(struct pos_store *s, const char *user_id, int64_t cursor)
{
	char name[96], v[32];
	cursor_name(name, sizeof(name), user_id);
	snprintf(v, sizeof(v), "%lld", (long long)cursor);
	return s->ops->state_put(s, name, v);
}

/* Links the user's memories written after their cursor, a page of
 * POS_AUTOLINK_BATCH_MAX at a time, moving the cursor after each page, until
 * none is left. A stop leaves the cursor at the last whole page. */
static enum pos_err link_new(const struct pos_memsvc *svc, struct pos_job_run *r,
			     const char *user_id, const struct pos_autolink_config *cfg,
			     size_t *linked)
{
	struct pos_store *s = svc->store;
	enum pos_err rc = POS_OK;
	while (!rc) {
		struct pos_arena *a = pos_arena_new();
		if (!a)
			return POS_ERR_NOMEM;
		int64_t cursor, *seqs = NULL;
		size_t n = 0;
		struct pos_memory_query q = {.user_id = user_id, .type = -1, .layer = -1,
					     .after = POS_TIME_NONE, .before = POS_TIME_NONE,
					     .seq_walk = true};
		if (!(rc = cursor_load(s, a, user_id, &cursor))) {
			q.after_seq = cursor;
			rc = s->memories->filter_seqs(s, a, &q, POS_AUTOLINK_BATCH_MAX, &seqs, &n);
		}
		if (rc || n == 0) {
			pos_arena_destroy(a);
			return rc;
		}
		char(*idv)[POS_UUID_SIZE] = pos_arena_alloc(a, n * sizeof(*idv));
		const char **ids = pos_arena_alloc(a, n * sizeof(*ids));
		bool *found = pos_arena_zalloc(a, n * sizeof(*found));
		int *types = pos_arena_alloc(a, n * sizeof(*types));
		size_t k = 0, done = 0;
		if (!idv || !ids || !found || !types)
			rc = POS_ERR_NOMEM;
		else if (s->memories->memory_keys_by_seq)
			rc = s->memories->memory_keys_by_seq(s, user_id, seqs, n, idv, types, found);
		else {
			struct pos_memory *m = pos_arena_alloc(a, n * sizeof(*m));
			rc = m ? s->memories->memories_by_seq(s, a, user_id, seqs, n, m, found)
			       : POS_ERR_NOMEM;
			for (size_t i = 0; !rc && i < n; i++)
				if (found[i])
					memcpy(idv[i], m[i].id, POS_UUID_SIZE);
		}
		for (size_t i = 0; !rc && i < n; i++)
			if (found[i])
				ids[k++] = idv[i];
		if (!rc)
			rc = pos_autolink_batch(svc, user_id, ids, k, cfg, r, &done);
		if (!rc)
			rc = cursor_save(s, user_id, seqs[n - 1]);
		*linked += done;
		pos_arena_destroy(a);
	}
	return rc;
}

enum pos_err pos_autolink_job_run(struct pos_job_run *r, void *ctx, const char *user_id,
				  const char *payload_json)
{
	const struct pos_memsvc *svc = ctx;
	json_t *p = json_loads(payload_json ? payload_json : "{}", 0, NULL);
	json_t *list = json_object_get(p, "ids");
	const char *one = json_string_value(json_object_get(p, "id"));
	enum pos_err rc = POS_ERR_INVALID_FIELD;
	const char *ids[POS_AUTOLINK_BATCH_MAX];
	size_t n = 0;
	bool fresh = json_is_true(json_object_get(p, "new")) && !list && !one;
	if (fresh) {
		rc = POS_OK;
	} else if (json_is_array(list) && json_array_size(list) <= POS_AUTOLINK_BATCH_MAX) {
		size_t i;
		json_t *x;
		rc = POS_OK;
		json_array_foreach(list, i, x)
			if (json_is_string(x))
				ids[n++] = json_string_value(x);
	} else if (!list && one) {
		rc = POS_OK;
		ids[n++] = one;
	}
	if (!rc) {
		struct pos_autolink_config cfg;
		size_t linked = 0;
		pos_autolink_config_default(&cfg);
		rc = fresh ? link_new(svc, r, user_id, &cfg, &linked)
			   : pos_autolink_batch(svc, user_id, ids, n, &cfg, r, &linked);
		char res[64];
		snprintf(res, sizeof(res), "{\"linked\":%zu}", linked);
		if (!rc && r)
			(void)pos_job_set_result(r, res);
	}
	json_decref(p);
	return rc;
}

const struct pos_job_kind pos_autolink_job_kind = {
	.name = POS_AUTOLINK_JOB,
	.max_attempts = 3,
	.timeout_us = 600LL * 1000000, /* a batch of 1,000 at a million memories */
	.backoff_us = 5LL * 1000000,
	/* one batch of a user at a time: concurrent batches would only
	 * contend for the same rows and the writer */
	.serial_per_user = true,
	.user_cancellable = true,
	.run = pos_autolink_job_run,
};
