/*
 * memory.c — validation of memory input and the memory operations.
 */
#include "memory/memory.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/uuid.h"
#include "events/bus.h"
#include "jobs/jobs.h"
#include "memory/autolink.h"

struct ctx {
	struct pos_arena *a;
	struct pos_error *err;
	int index;
};

static enum pos_err fail(struct ctx *c, enum pos_err code, const char *field,
			 const char *msg)
{
	pos_error_set(c->err, code, field, "%s%s", c->index >= 0 ? "item: " : "", msg);
	if (c->err)
		c->err->index = c->index;
	return code;
}

static bool has_control(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return true;
	return false;
}

static const char *dump(struct pos_arena *a, const json_t *v, size_t *len)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	if (!s)
		return NULL;
	size_t n = strlen(s);
	char *copy = pos_arena_strndup(a, s, n);
	free(s);
	if (len)
		*len = n;
	return copy;
}

static enum pos_err v_content(struct ctx *c, json_t *v, struct pos_memory *m)
{
	if (!json_is_string(v))
		return fail(c, POS_ERR_INVALID_FIELD, "content", "content must be a string");
	size_t n = json_string_length(v);
	const char *s = json_string_value(v);
	if (n > POS_CONTENT_MAX)
		return fail(c, POS_ERR_CONTENT_TOO_LARGE, "content",
			    "content must be at most 1 MiB");
	size_t i = 0;
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	if (i == n)
		return fail(c, POS_ERR_INVALID_FIELD, "content", "content must not be empty");
	m->content = s;
	m->content_len = n;
	return POS_OK;
}

static enum pos_err v_tags(struct ctx *c, json_t *v, struct pos_memory *m)
{
	if (!json_is_array(v))
		return fail(c, POS_ERR_INVALID_FIELD, "tags", "tags must be an array of strings");
	size_t n = json_array_size(v);
	if (n > POS_TAGS_MAX)
		return fail(c, POS_ERR_INVALID_FIELD, "tags", "at most 100 tags");
	const char **tags = pos_arena_alloc(c->a, (n ? n : 1) * sizeof(*tags));
	json_t *clean = json_array();
	if (!tags || !clean) {
		json_decref(clean);
		return POS_ERR_NOMEM;
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		json_t *t = json_array_get(v, i);
		if (!json_is_string(t) || json_string_length(t) == 0 ||
		    json_string_length(t) > POS_TAG_BYTES_MAX ||
		    has_control(json_string_value(t), json_string_length(t))) {
			json_decref(clean);
			return fail(c, POS_ERR_INVALID_FIELD, "tags",
				    "each tag must be a string of 1 to 128 bytes without control characters");
		}
		const char *s = json_string_value(t);
		bool dup = false;
		for (size_t j = 0; j < k && !dup; j++)
			dup = strcmp(tags[j], s) == 0;
		if (dup)
			continue;
		tags[k++] = s;
		json_array_append(clean, t);
	}
	m->tags = tags;
	m->n_tags = k;
	m->tags_json = dump(c->a, clean, NULL);
	json_decref(clean);
	return m->tags_json ? POS_OK : POS_ERR_NOMEM;
}

static enum pos_err v_blob(struct ctx *c, json_t *v, const char *field,
			   bool want_object, const char **out)
{
	if (want_object ? !json_is_object(v) : !json_is_array(v))
		return fail(c, POS_ERR_INVALID_FIELD, field,
			    want_object ? "must be an object" : "must be an array");
	if (!want_object) {
		size_t i;
		json_t *x;
		json_array_foreach(v, i, x) {
			if (!json_is_object(x))
				return fail(c, POS_ERR_INVALID_FIELD, field,
					    "attachments must be objects");
		}
	}
	if (pos_json_depth(v, POS_METADATA_MAX_DEPTH + 2) > POS_METADATA_MAX_DEPTH)
		return fail(c, POS_ERR_INVALID_FIELD, field, "nests deeper than 16 levels");
	size_t len = 0;
	*out = dump(c->a, v, &len);
	if (!*out)
		return POS_ERR_NOMEM;
	if (len > POS_METADATA_MAX_BYTES)
		return fail(c, POS_ERR_INVALID_FIELD, field, "larger than 64 KiB");
	return POS_OK;
}

static enum pos_err v_uuid(struct ctx *c, json_t *v, const char *field,
			   char out[POS_UUID_SIZE])
{
	if (!json_is_string(v) ||
	    !pos_uuid_valid(json_string_value(v), json_string_length(v), out))
		return fail(c, POS_ERR_INVALID_FIELD, field, "must be a UUID");
	return POS_OK;
}

static enum pos_err v_related(struct ctx *c, json_t *v, struct pos_memory *m)
{
	if (!json_is_array(v) || json_array_size(v) > POS_RELATED_MAX)
		return fail(c, POS_ERR_INVALID_FIELD, "related_memory_ids",
			    "related_memory_ids must be an array of at most 100 UUIDs");
	size_t n = json_array_size(v);
	m->related = pos_arena_alloc(c->a, (n ? n : 1) * POS_UUID_SIZE);
	if (!m->related)
		return POS_ERR_NOMEM;
	m->n_related = 0;
	for (size_t i = 0; i < n; i++) {
		char id[POS_UUID_SIZE];
		enum pos_err rc = v_uuid(c, json_array_get(v, i), "related_memory_ids", id);
		if (rc)
			return rc;
		bool dup = false;
		for (size_t j = 0; j < m->n_related && !dup; j++)
			dup = strcmp(m->related[j], id) == 0;
		if (!dup)
			memcpy(m->related[m->n_related++], id, POS_UUID_SIZE);
	}
	return POS_OK;
}

/*
 * Validates the fields present in `o` into `m`, setting `*set` bits. With
 * `create`, applies defaults and requires content.
 */
static enum pos_err validate(struct ctx *c, const json_t *o, bool create,
			     struct pos_memory *m, unsigned *set)
{
	json_t *v;
	enum pos_err rc;
	*set = 0;
	if (!json_is_object(o))
		return fail(c, c->index >= 0 ? POS_ERR_INVALID_FIELD : POS_ERR_INVALID_REQUEST,
			    c->index >= 0 ? "memories" : NULL,
			    "a memory must be a JSON object");
#define PRESENT(key) ((v = json_object_get(o, key)) && !json_is_null(v))
	if (PRESENT("content")) {
		if ((rc = v_content(c, v, m)))
			return rc;
		*set |= POS_PATCH_CONTENT;
	} else if (create || (v && json_is_null(v))) {
		return fail(c, create ? POS_ERR_MISSING_FIELD : POS_ERR_INVALID_FIELD,
			    "content", "content is required");
	}
	if (PRESENT("type")) {
		int t = pos_mem_type_parse(json_string_value(v));
		if (t < 0)
			return fail(c, POS_ERR_INVALID_FIELD, "type",
				    "type must be one of conversation, action, note, file, event, email");
		m->type = (enum pos_mem_type)t;
		*set |= POS_PATCH_TYPE;
	}
	if (PRESENT("layer")) {
		int l = pos_mem_layer_parse(json_string_value(v));
		if (l < 0)
			return fail(c, POS_ERR_INVALID_FIELD, "layer",
				    "layer must be one of active, working, reference, archive");
		m->layer = (enum pos_mem_layer)l;
		*set |= POS_PATCH_LAYER;
	}
	if (PRESENT("source")) {
		size_t n = json_string_length(v);
		if (!json_is_string(v) || n == 0 || n > 64 ||
		    has_control(json_string_value(v), n))
			return fail(c, POS_ERR_INVALID_FIELD, "source",
				    "source must be a string of 1 to 64 bytes");
		m->source = json_string_value(v);
		*set |= POS_PATCH_SOURCE;
	}
	if (PRESENT("tags")) {
		if ((rc = v_tags(c, v, m)))
			return rc;
		*set |= POS_PATCH_TAGS;
	}
	if (PRESENT("metadata")) {
		if ((rc = v_blob(c, v, "metadata", true, &m->metadata_json)))
			return rc;
		*set |= POS_PATCH_METADATA;
	}
	if (PRESENT("attachments")) {
		if ((rc = v_blob(c, v, "attachments", false, &m->attachments_json)))
			return rc;
		*set |= POS_PATCH_ATTACHMENTS;
	}
	if (PRESENT("importance_score")) {
		double d = json_number_value(v);
		if (!json_is_number(v) || !isfinite(d) || d < 0 || d > 1)
			return fail(c, POS_ERR_INVALID_FIELD, "importance_score",
				    "importance_score must be a number from 0 to 1");
		m->importance = d;
		*set |= POS_PATCH_IMPORTANCE;
	}
	if (PRESENT("layer_locked")) {
		if (!json_is_boolean(v))
			return fail(c, POS_ERR_INVALID_FIELD, "layer_locked",
				    "layer_locked must be true or false");
		m->layer_locked = json_is_true(v);
		*set |= POS_PATCH_LAYER_LOCK;
	}
	if ((v = json_object_get(o, "parent_memory_id"))) {
		if (json_is_null(v))
			m->parent_id[0] = '\0';
		else if ((rc = v_uuid(c, v, "parent_memory_id", m->parent_id)))
			return rc;
		*set |= POS_PATCH_PARENT;
	}
	if ((v = json_object_get(o, "related_memory_ids"))) {
		if (json_is_null(v))
			m->n_related = 0;
		else if ((rc = v_related(c, v, m)))
			return rc;
		*set |= POS_PATCH_RELATED;
	}
	if (create && PRESENT("created_at")) {
		if (!json_is_string(v) ||
		    !pos_time_parse(json_string_value(v), json_string_length(v), false,
				    &m->created_at))
			return fail(c, POS_ERR_INVALID_FIELD, "created_at",
				    "created_at must be an RFC 3339 timestamp");
	}
#undef PRESENT
	return POS_OK;
}

#define THREAD_CONTEXT_TURNS 2
#define THREAD_CONTEXT_MAX_BYTES 4096
#define THREAD_KEY_MAX_BYTES 256

/*
 * The thread a memory belongs to, from its metadata: "thread",
 * "thread_id", "conversation_id" or "session" (a string or an integer).
 * NULL when none.
 */
static const char *thread_key(struct pos_arena *a, const json_t *body)
{
	static const char *const keys[] = {"thread", "thread_id", "conversation_id", "session"};
	const json_t *meta = json_object_get(body, "metadata");
	if (!json_is_object(meta))
		return NULL;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const json_t *v = json_object_get(meta, keys[i]);
		char buf[32];
		if (json_is_string(v) && json_string_length(v) > 0 &&
		    json_string_length(v) <= THREAD_KEY_MAX_BYTES)
			return pos_arena_strdup(a, json_string_value(v));
		if (json_is_integer(v)) {
			snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
			return pos_arena_strdup(a, buf);
		}
	}
	return NULL;
}

/* Joins up to THREAD_CONTEXT_TURNS texts (oldest first), capped in size. */
static const char *join_context(struct pos_arena *a, const char *const *newest_first,
				const size_t *lens, size_t n)
{
	if (!n)
		return NULL;
	struct pos_buf b;
	pos_buf_init(&b, THREAD_CONTEXT_MAX_BYTES);
	for (size_t i = n; i-- > 0;) {
		size_t len = lens[i];
		size_t room = THREAD_CONTEXT_MAX_BYTES - b.len - (b.len ? 1 : 0);
		if (len > room) {
			len = room;
			/* cut on a UTF-8 boundary */
			while (len && ((unsigned char)newest_first[i][len] & 0xc0) == 0x80)
				len--;
		}
		if (b.len)
			pos_buf_addc(&b, ' ');
		pos_buf_add(&b, newest_first[i], len);
	}
	const char *out = b.len ? pos_arena_strndup(a, b.data, b.len) : NULL;
	pos_buf_free(&b);
	return out;
}

/*
 * Sets the thread context of v[i]: the memories just before it in its
 * thread — earlier items of the same request first, then the store.
 */
static enum pos_err thread_context(const struct pos_memsvc *svc, struct pos_arena *a,
				   struct pos_memory *v, size_t i)
{
	struct pos_memory *m = &v[i];
	if (!m->thread)
		return POS_OK;
	const char *texts[THREAD_CONTEXT_TURNS];
	size_t lens[THREAD_CONTEXT_TURNS], n = 0;
	for (size_t j = i; j-- > 0 && n < THREAD_CONTEXT_TURNS;) {
		if (v[j].thread && strcmp(v[j].thread, m->thread) == 0) {
			texts[n] = v[j].content;
			lens[n++] = v[j].content_len;
		}
	}
	if (n < THREAD_CONTEXT_TURNS) {
		const char *more[THREAD_CONTEXT_TURNS];
		size_t got = 0;
		enum pos_err rc = svc->store->memories->thread_tail(svc->store, a, m->user_id, m->thread,
							     THREAD_CONTEXT_TURNS - n, more, &got);
		if (rc)
			return rc;
		for (size_t k = 0; k < got; k++) {
			texts[n] = more[k];
			lens[n++] = strlen(more[k]);
		}
	}
	m->context = join_context(a, texts, lens, n);
	return POS_OK;
}

/*
 * The task fields of an `action` memory's metadata (docs/ASSISTANT.md,
 * "Tasks"): `completed` a boolean, `due` an RFC 3339 time or a date
 * YYYY-MM-DD, `remind_at` an RFC 3339 time (the web app's reminder); each
 * may be null or absent.
 */
static enum pos_err check_task_metadata(struct ctx *c, const char *metadata_json)
{
	json_t *md = json_loads(metadata_json ? metadata_json : "{}", 0, NULL);
	enum pos_err rc = POS_OK;
	json_t *v;
	if (json_is_object(md)) {
		if ((v = json_object_get(md, "completed")) && !json_is_null(v) && !json_is_boolean(v))
			rc = fail(c, POS_ERR_INVALID_FIELD, "metadata.completed",
				  "metadata.completed of a task must be true or false");
		int64_t t;
		if (!rc && (v = json_object_get(md, "due")) && !json_is_null(v) &&
		    (!json_is_string(v) ||
		     !pos_time_parse(json_string_value(v), json_string_length(v), true, &t)))
			rc = fail(c, POS_ERR_INVALID_FIELD, "metadata.due",
				  "metadata.due of a task must be an RFC 3339 time or a date YYYY-MM-DD");
		if (!rc && (v = json_object_get(md, "remind_at")) && !json_is_null(v) &&
		    (!json_is_string(v) ||
		     !pos_time_parse(json_string_value(v), json_string_length(v), false, &t)))
			rc = fail(c, POS_ERR_INVALID_FIELD, "metadata.remind_at",
				  "metadata.remind_at of a task must be an RFC 3339 time");
	}
	json_decref(md);
	return rc;
}

static enum pos_err prepare_new(struct ctx *c, const char *user_id,
				const json_t *o, int64_t now,
				struct pos_memory *m)
{
	memset(m, 0, sizeof(*m));
	m->type = POS_TYPE_NOTE;
	m->layer = POS_LAYER_ACTIVE;
	m->source = "api";
	m->tags_json = "[]";
	m->metadata_json = "{}";
	m->attachments_json = "[]";
	m->shared_with_json = "[]";
	m->importance = 0.5;
	m->created_at = POS_TIME_NONE;
	m->last_accessed_at = POS_TIME_NONE;
	unsigned set;
	enum pos_err rc = validate(c, o, true, m, &set);
	/* A layer or importance other than the default is the user's choice,
	 * which the lifecycle job respects (docs/LIFECYCLE.md); clients that
	 * always send the defaults (the web app) choose nothing. */
	if (!(set & POS_PATCH_LAYER_LOCK))
		m->layer_locked = (set & POS_PATCH_LAYER) && m->layer != POS_LAYER_ACTIVE;
	m->importance_set = (set & POS_PATCH_IMPORTANCE) && m->importance != 0.5;
	if (!rc && m->type == POS_TYPE_ACTION)
		rc = check_task_metadata(c, m->metadata_json);
	if (rc)
		return rc;
	if (!pos_uuid_new_v7(m->id, now))
		return POS_ERR_INTERNAL;
	snprintf(m->user_id, sizeof(m->user_id), "%s", user_id);
	/* An imported memory (created_at given) was last changed when it was
	 * made, which the lifecycle's "unused for N days" relies on. */
	if (m->created_at == POS_TIME_NONE)
		m->created_at = now;
	m->updated_at = m->created_at;
	m->thread = thread_key(c->a, o);
	return POS_OK;
}

/* Embeds a new memory (content, and its thread context at a lower weight)
 * when an engine is there. */
static enum pos_err embed(const struct pos_memsvc *svc, struct pos_arena *a,
			  struct pos_memory *m)
{
	if (!svc->search)
		return POS_OK;
	return pos_search_embed_ctx(svc->search, a, m->content, m->content_len,
				    m->context, m->context ? strlen(m->context) : 0,
				    &m->vec);
}

/* Embeds the records of v[0..n) that `pick` selects, all at once
 * (pos_search_embed_many: on both cores). */
static enum pos_err embed_all(const struct pos_memsvc *svc, struct pos_arena *a,
			      struct pos_memory *v, size_t n, bool (*pick)(const struct pos_memory *))
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += pick(&v[i]);
	if (!svc->search || !k)
		return POS_OK;
	struct pos_embed_input *in = pos_arena_alloc(a, k * sizeof(*in));
	struct pos_vec *out = pos_arena_alloc(a, k * sizeof(*out));
	size_t *at = pos_arena_alloc(a, k * sizeof(*at));
	if (!in || !out || !at)
		return POS_ERR_NOMEM;
	k = 0;
	for (size_t i = 0; i < n; i++)
		if (pick(&v[i])) {
			at[k] = i;
			in[k++] = (struct pos_embed_input){v[i].content, v[i].content_len, v[i].context,
							   v[i].context ? strlen(v[i].context) : 0};
		}
	enum pos_err rc = pos_search_embed_many(svc->search, a, in, k, out);
	for (size_t j = 0; !rc && j < k; j++)
		v[at[j]].vec = out[j];
	return rc;
}

/* Not embedded yet (pos_memory_embed_records leaves a made vector's
 * model set; a text without content gets no vector and is tried again). */
static bool unembedded(const struct pos_memory *m)
{
	return !m->vec.model;
}

static bool unembedded_unthreaded(const struct pos_memory *m)
{
	return !m->vec.model && !m->thread;
}

/* Fills in the thread context of v[0..n) and embeds them all at once. */
static enum pos_err prepare_batch(const struct pos_memsvc *svc, struct pos_arena *a,
				  struct pos_memory *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		enum pos_err rc = thread_context(svc, a, v, i);
		if (rc)
			return rc;
	}
	if (n == 1 && unembedded(&v[0]))
		return embed(svc, a, &v[0]);
	return embed_all(svc, a, v, n, unembedded);
}

enum pos_err pos_memory_embed_records(const struct pos_memsvc *svc, struct pos_arena *a,
				      struct pos_memory *v, size_t n)
{
	return embed_all(svc, a, v, n, unembedded_unthreaded);
}

/* Tells the user's live clients (docs/EVENTS.md): ids and small fields
 * only, never content. A failure to publish never fails the write. */
static void publish(const struct pos_memsvc *svc, const char *type, const char *user_id,
		    const struct pos_memory *m, const char *id)
{
	if (!svc->events)
		return;
	char buf[256];
	char ts[40] = "";
	if (m)
		pos_time_format(m->updated_at, ts, sizeof(ts));
	int k = m ? snprintf(buf, sizeof(buf),
			     "{\"id\":\"%s\",\"type\":\"%s\",\"layer\":\"%s\",\"updated_at\":\"%s\"}",
			     m->id, pos_mem_type_name(m->type), pos_mem_layer_name(m->layer), ts)
		  : snprintf(buf, sizeof(buf), "{\"id\":\"%s\"}", id);
	if (k > 0 && (size_t)k < sizeof(buf))
		(void)pos_events_publish(svc->events, user_id, type, buf);
}

/* With auto_link on, a content update queues the linking of that memory
 * (best effort: a full queue skips it, the memory is stored either way). */
static void queue_autolink(const struct pos_memsvc *svc, const char *user_id, const char *id)
{
	char payload[64];
	if (!svc->jobs)
		return;
	snprintf(payload, sizeof(payload), "{\"ids\":[\"%s\"]}", id);
	(void)pos_jobs_enqueue(svc->jobs, POS_AUTOLINK_JOB, user_id, payload, 0, NULL);
}

/*
 * With auto_link on, new memories (a create, a bulk, a sync run's or an
 * import's inserts) are linked by the user's "new" job, which walks their
 * memories after a cursor (autolink.c): one queued job per user however
 * many writes, so linking never fills the user's job queue. The first key
 * is taken when none is queued or running; when one is (CONFLICT), it may
 * be running and past these rows already, so the second key queues one a
 * moment later (coalescing the writes until then). Two keys suffice: the
 * kind runs one job per user at a time, so when both are taken one of
 * them is queued and will see these rows.
 */
static void queue_autolink_new(const struct pos_memsvc *svc, const char *user_id)
{
	char key[32 + POS_UUID_SIZE];
	if (!svc->jobs)
		return;
	snprintf(key, sizeof(key), POS_AUTOLINK_JOB ":%s", user_id);
	enum pos_err rc = pos_jobs_enqueue_unique(svc->jobs, POS_AUTOLINK_JOB, user_id, key,
						  "{\"new\":true}", 0, NULL);
	if (rc == POS_ERR_CONFLICT) {
		snprintf(key, sizeof(key), POS_AUTOLINK_JOB ".next:%s", user_id);
		(void)pos_jobs_enqueue_unique(svc->jobs, POS_AUTOLINK_JOB, user_id, key,
					      "{\"new\":true}",
					      pos_now_us() + POS_AUTOLINK_NEXT_DELAY_US, NULL);
	}
}

/* queue_autolink_new for each user of v[0..n) (runs of one user). */
static void queue_autolink_records(const struct pos_memsvc *svc, const struct pos_memory *v,
				   size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (i == 0 || strcmp(v[i].user_id, v[i - 1].user_id) != 0)
			queue_autolink_new(svc, v[i].user_id);
}

/* True when t is a tag v_tags would take: a string of 1 to
 * POS_TAG_BYTES_MAX bytes without control characters. */
static bool good_tag(const json_t *t)
{
	return json_is_string(t) && json_string_length(t) > 0 &&
	       json_string_length(t) <= POS_TAG_BYTES_MAX &&
	       !has_control(json_string_value(t), json_string_length(t));
}

/* Adds the tags of `add` (a JSON array a creating stage gave) to m, checked
 * like the memory's own (v_tags): bad ones dropped, duplicates skipped, at
 * most POS_TAGS_MAX in all. m's list and JSON (both from v_tags) are
 * extended in place: the new tags are appended to the list and their JSON
 * text (jansson's, as v_tags writes it) spliced in before the closing
 * bracket, so nothing is parsed again. Copies into the arena; best effort:
 * on running out of memory m keeps its own tags. */
static void add_tags(struct pos_arena *a, struct pos_memory *m, const json_t *add)
{
	const char *old = m->tags_json ? m->tags_json : "[]";
	size_t old_len = strlen(old);
	/* Only a list and JSON that v_tags made together (or none) are
	 * extended; prepare_new never makes anything else. */
	if (old_len < 2 || old[old_len - 1] != ']' || (m->n_tags == 0 && strcmp(old, "[]") != 0))
		return;
	size_t n_add = json_array_size(add);
	if (n_add == 0 || m->n_tags >= POS_TAGS_MAX)
		return;
	size_t cap = m->n_tags + n_add < POS_TAGS_MAX ? m->n_tags + n_add : POS_TAGS_MAX;
	const char **tags = pos_arena_alloc(a, cap * sizeof(*tags));
	/* Each added tag's JSON is at most 6 bytes an input byte (\u00XX) plus
	 * the quotes and a comma. */
	size_t room = old_len + n_add * (POS_TAG_BYTES_MAX * 6 + 3) + 1;
	char *json = tags ? pos_arena_alloc(a, room) : NULL;
	if (!json)
		return;
	if (m->n_tags)
		memcpy(tags, m->tags, m->n_tags * sizeof(*tags));
	size_t k = m->n_tags;
	size_t at = old_len - 1; /* the closing bracket's place */
	memcpy(json, old, at);
	size_t i;
	json_t *t;
	json_array_foreach(add, i, t) {
		if (k >= cap)
			break;
		if (!good_tag(t))
			continue;
		const char *sv = json_string_value(t);
		bool dup = false;
		for (size_t j = 0; j < k && !dup; j++)
			dup = strcmp(tags[j], sv) == 0;
		if (dup)
			continue;
		char *copy = pos_arena_strdup(a, sv);
		if (!copy)
			return;
		if (k > 0)
			json[at++] = ',';
		size_t w = json_dumpb(t, json + at, room - at - 2, JSON_ENCODE_ANY | JSON_COMPACT);
		if (w == 0 || w > room - at - 2)
			return;
		at += w;
		tags[k++] = copy;
	}
	if (k == m->n_tags)
		return;
	json[at++] = ']';
	json[at] = '\0';
	m->tags = tags;
	m->n_tags = k;
	m->tags_json = json;
}

/* The creating stage (svc->creating) over v[0..n) in runs of one user. */
static void creating(const struct pos_memsvc *svc, struct pos_arena *a, struct pos_memory *v,
		     size_t n)
{
	if (!svc->creating || n == 0)
		return;
	json_t **add = pos_calloc(n, sizeof(*add));
	if (!add)
		return;
	for (size_t start = 0, i = 1; i <= n; i++) {
		if (i < n && strcmp(v[i].user_id, v[start].user_id) == 0)
			continue;
		svc->creating(svc->creating_ctx, v[start].user_id, v + start, i - start, add + start);
		start = i;
	}
	for (size_t i = 0; i < n; i++) {
		if (add[i])
			add_tags(a, &v[i], add[i]);
		json_decref(add[i]);
	}
	pos_free(add);
}

/* Tells created_batch about v[0..n) in runs of one user (best effort: a
 * failure to queue never fails the write). */
static void created_batch(const struct pos_memsvc *svc, const struct pos_memory *v, size_t n)
{
	if (!svc->created_batch || n == 0)
		return;
	const char **ids = pos_malloc(n * sizeof(*ids));
	if (!ids)
		return;
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && strcmp(v[i].user_id, v[start].user_id) == 0) {
			ids[i] = v[i].id;
			continue;
		}
		svc->created_batch(svc->created_ctx, v[start].user_id, ids + start, i - start);
		if (i < n) {
			ids[i] = v[i].id;
			start = i;
		}
	}
	pos_free(ids);
}

static void tell_written(const struct pos_memsvc *svc, const char *user_id, bool deleted)
{
	if (svc->written)
		svc->written(svc->written_ctx, user_id, deleted);
}

enum pos_err pos_memory_create(const struct pos_memsvc *svc, struct pos_arena *a,
			       const char *user_id, const json_t *body,
			       struct pos_memory *out, struct pos_error *err)
{
	struct pos_store *s = svc->store;
	struct ctx c = {a, err, -1};
	enum pos_err rc = prepare_new(&c, user_id, body, pos_now_us(), out);
	if (!rc)
		creating(svc, a, out, 1);
	if (!rc)
		rc = thread_context(svc, a, out, 0);
	if (!rc)
		rc = embed(svc, a, out);
	if (rc)
		return rc == POS_ERR_NOMEM ? pos_error_set(err, rc, NULL, NULL) : rc;
	rc = s->memories->memory_insert(s, out, 1, err);
	if (rc) {
		if (err && err->code != rc)
			pos_error_set(err, rc, NULL, NULL);
		if (err)
			err->index = -1;
		return rc;
	}
	if (svc->search)
		pos_search_written(svc->search, user_id, out->seq, &out->vec, false);
	publish(svc, "memory.created", user_id, out, NULL);
	queue_autolink_new(svc, user_id);
	tell_written(svc, user_id, false);
	return POS_OK;
}

/* Counts a bulk write in svc->bulk_writes while it runs (+1 / -1). */
static void bulk_running(const struct pos_memsvc *svc, int d)
{
	if (svc->bulk_writes)
		atomic_fetch_add(svc->bulk_writes, d);
}

static enum pos_err bulk_write(const struct pos_memsvc *svc, struct pos_arena *a,
			       const char *user_id, const json_t *body,
			       struct pos_memory **out, size_t *n, struct pos_error *err);

enum pos_err pos_memory_bulk(const struct pos_memsvc *svc, struct pos_arena *a,
			     const char *user_id, const json_t *body,
			     struct pos_memory **out, size_t *n,
			     struct pos_error *err)
{
	bulk_running(svc, 1);
	enum pos_err rc = bulk_write(svc, a, user_id, body, out, n, err);
	bulk_running(svc, -1);
	return rc;
}

static enum pos_err bulk_write(const struct pos_memsvc *svc, struct pos_arena *a,
			       const char *user_id, const json_t *body,
			       struct pos_memory **out, size_t *n, struct pos_error *err)
{
	if (!json_is_object(body))
		return pos_error_set(err, POS_ERR_INVALID_REQUEST, NULL,
				     "the body must be a JSON object");
	json_t *list = json_object_get(body, "memories");
	if (!list)
		return pos_error_set(err, POS_ERR_MISSING_FIELD, "memories",
				     "memories is required");
	size_t count = json_array_size(list);
	if (!json_is_array(list) || count == 0 || count > POS_BULK_MAX)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "memories",
				     "memories must be an array of 1 to 1000 memories");
	struct pos_memory *v = pos_arena_alloc(a, count * sizeof(*v));
	if (!v)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	struct pos_store *s = svc->store;
	int64_t now = pos_now_us();
	for (size_t i = 0; i < count; i++) {
		struct ctx c = {a, err, (int)i};
		enum pos_err rc = prepare_new(&c, user_id, json_array_get(list, i), now, &v[i]);
		if (rc)
			return rc == POS_ERR_NOMEM ? pos_error_set(err, rc, NULL, NULL) : rc;
	}
	creating(svc, a, v, count);
	enum pos_err rc = prepare_batch(svc, a, v, count);
	if (rc)
		return pos_error_set(err, rc, NULL, NULL);
	rc = s->memories->memory_insert(s, v, count, err);
	if (rc && err && err->code != rc)
		pos_error_set(err, rc, NULL, NULL);
	if (!rc && svc->search)
		pos_search_written_batch(svc->search, v, count);
	if (!rc)
		for (size_t i = 0; i < count; i++)
			publish(svc, "memory.created", user_id, &v[i], NULL);
	if (!rc)
		queue_autolink_records(svc, v, count);
	if (!rc) {
		created_batch(svc, v, count);
		tell_written(svc, user_id, false);
	}
	*out = v;
	*n = count;
	return rc;
}

enum pos_err pos_memory_get(const struct pos_memsvc *svc, struct pos_arena *a,
			    const char *user_id, const char *id,
			    struct pos_memory *out, struct pos_error *err)
{
	struct pos_store *s = svc->store;
	char norm[POS_UUID_SIZE];
	if (!pos_uuid_valid(id, strlen(id), norm))
		return pos_error_set(err, POS_ERR_NOT_FOUND, NULL, "memory not found");
	enum pos_err rc = s->memories->memory_get(s, a, user_id, norm, true, pos_now_us(), out);
	if (rc)
		return pos_error_set(err, rc, NULL,
				     rc == POS_ERR_NOT_FOUND ? "memory not found" : NULL);
	return POS_OK;
}

enum pos_err pos_memory_peek(const struct pos_memsvc *svc, struct pos_arena *a,
			     const char *user_id, const char *id,
			     struct pos_memory *out, struct pos_error *err)
{
	struct pos_store *s = svc->store;
	char norm[POS_UUID_SIZE];
	if (!pos_uuid_valid(id, strlen(id), norm))
		return pos_error_set(err, POS_ERR_NOT_FOUND, NULL, "memory not found");
	enum pos_err rc = s->memories->memory_get(s, a, user_id, norm, false, 0, out);
	if (rc)
		return pos_error_set(err, rc, NULL,
				     rc == POS_ERR_NOT_FOUND ? "memory not found" : NULL);
	return POS_OK;
}

enum pos_err pos_memory_update(const struct pos_memsvc *svc, struct pos_arena *a,
			       const char *user_id, const char *id,
			       const json_t *body, struct pos_memory *out,
			       struct pos_error *err)
{
	struct pos_store *s = svc->store;
	char norm[POS_UUID_SIZE];
	if (!pos_uuid_valid(id, strlen(id), norm))
		return pos_error_set(err, POS_ERR_NOT_FOUND, NULL, "memory not found");
	struct pos_memory_patch p;
	memset(&p, 0, sizeof(p));
	struct ctx c = {a, err, -1};
	enum pos_err rc = validate(&c, body, false, &p.v, &p.set);
	/* A layer set by hand stays (docs/LIFECYCLE.md) unless the body says
	 * layer_locked: false; an importance set by hand is the user's. */
	if ((p.set & POS_PATCH_LAYER) && !(p.set & POS_PATCH_LAYER_LOCK)) {
		p.v.layer_locked = true;
		p.set |= POS_PATCH_LAYER_LOCK;
	}
	p.v.importance_set = true;
	if (!rc && (p.set & (POS_PATCH_METADATA | POS_PATCH_TYPE))) {
		/* the task fields hold for what the memory will be */
		struct pos_memory cur;
		bool action = (p.set & POS_PATCH_TYPE) && p.v.type == POS_TYPE_ACTION;
		const char *md = (p.set & POS_PATCH_METADATA) ? p.v.metadata_json : NULL;
		if (!(p.set & POS_PATCH_TYPE) || !md) {
			rc = s->memories->memory_get(s, a, user_id, norm, false, 0, &cur);
			if (rc == POS_ERR_NOT_FOUND)
				return pos_error_set(err, rc, NULL, "memory not found");
			if (rc)
				return pos_error_set(err, rc, NULL, NULL);
			if (!(p.set & POS_PATCH_TYPE))
				action = cur.type == POS_TYPE_ACTION;
			if (!md)
				md = cur.metadata_json;
		}
		if (action)
			rc = check_task_metadata(&c, md);
	}
	if (rc)
		return rc == POS_ERR_NOMEM ? pos_error_set(err, rc, NULL, NULL) : rc;
	if ((p.set & POS_PATCH_CONTENT) && svc->search) {
		if ((rc = embed(svc, a, &p.v)))
			return pos_error_set(err, rc, NULL, NULL);
		p.set |= POS_PATCH_VECTOR;
	}
	rc = s->memories->memory_update(s, user_id, norm, &p, pos_now_us(), err);
	if (rc) {
		if (err && err->code != rc)
			pos_error_set(err, rc, NULL,
				      rc == POS_ERR_NOT_FOUND ? "memory not found" : NULL);
		return rc;
	}
	rc = s->memories->memory_get(s, a, user_id, norm, false, 0, out);
	if (rc)
		return pos_error_set(err, rc, NULL, NULL);
	if (svc->search)
		pos_search_written(svc->search, user_id, out->seq,
				   (p.set & POS_PATCH_VECTOR) ? &p.v.vec : NULL, false);
	publish(svc, "memory.updated", user_id, out, NULL);
	if (p.set & POS_PATCH_CONTENT)
		queue_autolink(svc, user_id, out->id);
	return POS_OK;
}

enum pos_err pos_memory_tag(const struct pos_memsvc *svc, struct pos_arena *a,
			    const char *user_id, const char *id, const json_t *tags,
			    size_t *added, struct pos_memory *out, struct pos_error *err)
{
	struct pos_store *s = svc->store;
	char norm[POS_UUID_SIZE];
	size_t k = 0;
	if (added)
		*added = 0;
	if (!pos_uuid_valid(id, strlen(id), norm))
		return pos_error_set(err, POS_ERR_NOT_FOUND, NULL, "memory not found");
	struct pos_memory v;
	memset(&v, 0, sizeof(v));
	struct ctx c = {a, err, -1};
	enum pos_err rc = v_tags(&c, (json_t *)tags, &v);
	if (rc)
		return rc == POS_ERR_NOMEM ? pos_error_set(err, rc, NULL, NULL) : rc;
	rc = s->memories->memory_tag_add(s, user_id, norm, v.tags, v.n_tags, POS_TAGS_MAX,
					 pos_now_us(), &k);
	if (rc == POS_ERR_INVALID_FIELD)
		return pos_error_set(err, rc, "tags", "at most 100 tags");
	if (rc)
		return pos_error_set(err, rc, NULL, rc == POS_ERR_NOT_FOUND ? "memory not found" : NULL);
	if (added)
		*added = k;
	struct pos_memory m;
	memset(&m, 0, sizeof(m));
	struct pos_memory *mp = out ? out : &m;
	if ((out || (k && (svc->events || svc->search))) &&
	    (rc = s->memories->memory_get(s, a, user_id, norm, false, 0, mp)))
		return pos_error_set(err, rc, NULL, NULL);
	if (k && svc->search)
		pos_search_written(svc->search, user_id, mp->seq, NULL, false);
	if (k)
		publish(svc, "memory.updated", user_id, mp, NULL);
	return POS_OK;
}

enum pos_err pos_memory_delete(const struct pos_memsvc *svc, const char *user_id,
			       const char *id, struct pos_error *err)
{
	char norm[POS_UUID_SIZE];
	if (!pos_uuid_valid(id, strlen(id), norm))
		return pos_error_set(err, POS_ERR_NOT_FOUND, NULL, "memory not found");
	int64_t seq = 0;
	enum pos_err rc = svc->store->memories->memory_delete(svc->store, user_id, norm, &seq);
	if (rc)
		return pos_error_set(err, rc, NULL,
				     rc == POS_ERR_NOT_FOUND ? "memory not found" : NULL);
	if (svc->search)
		pos_search_written(svc->search, user_id, seq, NULL, true);
	publish(svc, "memory.deleted", user_id, NULL, norm);
	tell_written(svc, user_id, true);
	return POS_OK;
}

/* ---- for the sync framework ---- */

static enum pos_err insert_records(const struct pos_memsvc *svc, struct pos_arena *a,
				   struct pos_memory *v, size_t n, struct pos_error *err);

enum pos_err pos_memory_insert_records(const struct pos_memsvc *svc,
				       struct pos_arena *a, struct pos_memory *v,
				       size_t n, struct pos_error *err)
{
	if (!n)
		return POS_OK;
	bulk_running(svc, 1);
	enum pos_err rc = insert_records(svc, a, v, n, err);
	bulk_running(svc, -1);
	return rc;
}

static enum pos_err insert_records(const struct pos_memsvc *svc, struct pos_arena *a,
				   struct pos_memory *v, size_t n, struct pos_error *err)
{
	creating(svc, a, v, n);
	enum pos_err rc = prepare_batch(svc, a, v, n);
	if (rc)
		return pos_error_set(err, rc, NULL, NULL);
	rc = svc->store->memories->memory_insert(svc->store, v, n, err);
	if (rc) {
		if (err && err->code != rc)
			pos_error_set(err, rc, NULL, NULL);
		return rc;
	}
	if (svc->search)
		pos_search_written_batch(svc->search, v, n);
	for (size_t i = 0; i < n; i++)
		publish(svc, "memory.created", v[i].user_id, &v[i], NULL);
	queue_autolink_records(svc, v, n);
	created_batch(svc, v, n);
	tell_written(svc, v[0].user_id, false);
	return POS_OK;
}

enum pos_err pos_memory_patch_record(const struct pos_memsvc *svc,
				     struct pos_arena *a, const char *user_id,
				     const char *id, struct pos_memory_patch *p,
				     struct pos_error *err)
{
	enum pos_err rc;
	if ((p->set & POS_PATCH_CONTENT) && svc->search) {
		if ((rc = embed(svc, a, &p->v)))
			return pos_error_set(err, rc, NULL, NULL);
		p->set |= POS_PATCH_VECTOR;
	}
	rc = svc->store->memories->memory_update(svc->store, user_id, id, p, pos_now_us(), err);
	if (rc) {
		if (err && err->code != rc)
			pos_error_set(err, rc, NULL, NULL);
		return rc;
	}
	if (svc->search || svc->events) {
		struct pos_memory m;
		rc = svc->store->memories->memory_get(svc->store, a, user_id, id, false, 0, &m);
		if (!rc && svc->search)
			pos_search_written(svc->search, user_id, m.seq,
					   (p->set & POS_PATCH_VECTOR) ? &p->v.vec : NULL, false);
		if (!rc)
			publish(svc, "memory.updated", user_id, &m, NULL);
	}
	if (p->set & POS_PATCH_CONTENT)
		queue_autolink(svc, user_id, id);
	return POS_OK;
}

void pos_memory_json(struct pos_jw *w, const struct pos_memory *m)
{
	pos_jw_obj(w);
	pos_memory_json_fields(w, m);
	pos_jw_obj_end(w);
}

void pos_memory_json_fields(struct pos_jw *w, const struct pos_memory *m)
{
	pos_jw_kstr(w, "id", m->id);
	pos_jw_kstr(w, "user_id", m->user_id);
	pos_jw_key(w, "content");
	pos_jw_strn(w, m->content, m->content_len);
	pos_jw_kstr(w, "type", pos_mem_type_name(m->type));
	pos_jw_kstr(w, "layer", pos_mem_layer_name(m->layer));
	pos_jw_kstr(w, "source", m->source);
	pos_jw_ktime(w, "created_at", m->created_at);
	pos_jw_ktime(w, "updated_at", m->updated_at);
	pos_jw_ktime(w, "last_accessed_at", m->last_accessed_at);
	pos_jw_key(w, "related_memory_ids");
	if (m->related_json) {
		pos_jw_raw(w, m->related_json, strlen(m->related_json));
	} else {
		pos_jw_arr(w);
		for (size_t i = 0; i < m->n_related; i++)
			pos_jw_str(w, m->related[i]);
		pos_jw_arr_end(w);
	}
	pos_jw_kstr(w, "parent_memory_id", m->parent_id[0] ? m->parent_id : NULL);
	pos_jw_key(w, "tags");
	pos_jw_raw(w, m->tags_json, strlen(m->tags_json));
	pos_jw_key(w, "importance_score");
	pos_jw_double(w, m->importance);
	pos_jw_kbool(w, "importance_set", m->importance_set);
	pos_jw_kbool(w, "layer_locked", m->layer_locked);
	pos_jw_kint(w, "access_count", m->access_count);
	pos_jw_kbool(w, "is_encrypted", m->is_encrypted);
	pos_jw_kbool(w, "is_shared", strcmp(m->shared_with_json, "[]") != 0);
	pos_jw_key(w, "shared_with");
	pos_jw_raw(w, m->shared_with_json, strlen(m->shared_with_json));
	pos_jw_key(w, "metadata");
	pos_jw_raw(w, m->metadata_json, strlen(m->metadata_json));
	pos_jw_key(w, "attachments");
	pos_jw_raw(w, m->attachments_json, strlen(m->attachments_json));
}

enum pos_err pos_memory_list(const struct pos_memsvc *svc, struct pos_arena *a,
			     const struct pos_memory_query *q, struct pos_memory **out,
			     size_t *n, int64_t *total)
{
	return svc->store->memories->memory_list(svc->store, a, q, out, n, total);
}

enum pos_err pos_memory_vector(const struct pos_memsvc *svc, struct pos_arena *a,
			       const char *user_id, int64_t seq, struct pos_vec *out)
{
	return svc->store->memories->vector_get(svc->store, a, user_id, seq, out);
}

enum pos_err pos_memory_count_all(const struct pos_memsvc *svc, int64_t *out)
{
	return svc->store->memories->memory_count_all(svc->store, out);
}
