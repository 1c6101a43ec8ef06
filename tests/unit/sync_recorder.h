/*
 * sync_recorder.h — a recording pos_sync_sink for the adapter unit tests:
 * it keeps what the framework would store (external_id -> item as JSON),
 * applies removals and, on complete(), drops what the run did not touch,
 * like the real sink does. Header-only, included by one test file each.
 */
#ifndef POS_TEST_SYNC_RECORDER_H
#define POS_TEST_SYNC_RECORDER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "sync/adapter.h"

struct recorder {
	json_t *items;   /* external_id -> {type, content, version, metadata, tags, links, created_at_us} */
	json_t *seen;    /* external_ids upserted in the current run */
	json_t *skips;   /* ["position: reason", ...] this run */
	unsigned upserts, changed, removes, completes;
	struct pos_sync_sink sink;
};

static enum pos_err rec_upsert(void *ctx, const struct pos_sync_item *it,
			       struct pos_error *err)
{
	struct recorder *r = ctx;
	(void)err;
	json_t *o = json_pack("{s:s, s:s%, s:s?, s:I}", "type", it->type,
			      "content", it->content, it->content_len,
			      "version", it->version,
			      "created_at_us", (json_int_t)it->created_at_us);
	if (!o)
		return POS_ERR_NOMEM;
	if (it->metadata)
		json_object_set_new(o, "metadata", json_deep_copy(it->metadata));
	if (it->tags)
		json_object_set_new(o, "tags", json_deep_copy(it->tags));
	if (it->links)
		json_object_set_new(o, "links", json_deep_copy(it->links));
	json_t *old = json_object_get(r->items, it->external_id);
	const char *ov = old ? json_string_value(json_object_get(old, "version")) : NULL;
	if (!old || !ov || !it->version || strcmp(ov, it->version) != 0)
		r->changed++;
	if (json_object_get(r->seen, it->external_id))
		fprintf(stderr, "duplicate external_id in one run: %s\n", it->external_id);
	json_object_set_new(r->seen, it->external_id, json_true());
	json_object_set_new(r->items, it->external_id, o);
	r->upserts++;
	return POS_OK;
}

static enum pos_err rec_remove(void *ctx, const char *id, struct pos_error *err)
{
	struct recorder *r = ctx;
	(void)err;
	json_object_del(r->items, id);
	r->removes++;
	return POS_OK;
}

static void rec_skip(void *ctx, const char *pos, const char *why)
{
	struct recorder *r = ctx;
	char line[600];
	snprintf(line, sizeof(line), "%s: %s", pos, why);
	json_array_append_new(r->skips, json_string(line));
}

static void rec_progress(void *ctx, uint64_t done, uint64_t total)
{
	(void)ctx;
	(void)done;
	(void)total;
}

static void rec_complete(void *ctx)
{
	struct recorder *r = ctx;
	const char *k;
	json_t *v, *tmp;
	json_object_foreach_safe(r->items, tmp, k, v) {
		(void)v;
		if (!json_object_get(r->seen, k)) {
			json_object_del(r->items, k);
			r->removes++;
		}
	}
	r->completes++;
}

static bool rec_cancelled(void *ctx)
{
	(void)ctx;
	return false;
}

static void rec_init(struct recorder *r)
{
	memset(r, 0, sizeof(*r));
	r->items = json_object();
	r->seen = json_object();
	r->skips = json_array();
	r->sink = (struct pos_sync_sink){r, rec_upsert, rec_remove, rec_skip,
					 rec_progress, rec_complete, rec_cancelled,
					 NULL /* egress: public addresses only */,
					 NULL /* unconfined: the tests name absolute paths */};
}

/* Starts a new run: forgets the per-run counters, keeps the items. */
static void rec_new_run(struct recorder *r)
{
	json_object_clear(r->seen);
	json_array_clear(r->skips);
	r->upserts = r->changed = r->removes = r->completes = 0;
}

static void rec_free(struct recorder *r)
{
	json_decref(r->items);
	json_decref(r->seen);
	json_decref(r->skips);
}

/* The skip line mentioning `needle`, or NULL. */
static __attribute__((unused)) const char *rec_skip_with(const struct recorder *r, const char *needle)
{
	size_t i;
	json_t *v;
	json_array_foreach(r->skips, i, v) {
		if (strstr(json_string_value(v), needle))
			return json_string_value(v);
	}
	return NULL;
}

static __attribute__((unused)) const char *rec_meta(const struct recorder *r, const char *id,
			    const char *key)
{
	json_t *it = json_object_get(r->items, id);
	return json_string_value(json_object_get(json_object_get(it, "metadata"), key));
}

static __attribute__((unused)) const char *rec_content(const struct recorder *r, const char *id)
{
	return json_string_value(json_object_get(json_object_get(r->items, id), "content"));
}

#endif
