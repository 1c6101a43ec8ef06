/*
 * import.c — the import service (import.h): items from a reader become
 * memory records (validated here, since an import carries fields the API
 * never takes: updated_at, access_count, last_accessed_at), gathered into
 * batches written in one transaction each through the memory service.
 */
#include "export/import.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/thread.h"
#include "base/uuid.h"
#include "export/seal.h"
#include "export/zipw.h"

void pos_import_derive_id(const char *user_id, const char *key, char out[POS_UUID_SIZE])
{
	unsigned char h[16];
	crypto_generichash_state st;
	static const char domain[] = "personalos-import-v1";
	crypto_generichash_init(&st, NULL, 0, sizeof(h));
	crypto_generichash_update(&st, (const unsigned char *)domain, sizeof(domain));
	crypto_generichash_update(&st, (const unsigned char *)user_id, strlen(user_id) + 1);
	crypto_generichash_update(&st, (const unsigned char *)key, strlen(key));
	crypto_generichash_final(&st, h, sizeof(h));
	h[6] = (unsigned char)((h[6] & 0x0f) | 0x40); /* shaped as a v4 UUID */
	h[8] = (unsigned char)((h[8] & 0x3f) | 0x80);
	pos_uuid_from_bytes(h, out);
}

/* An item found invalid while a batch was gathered: reported (hooks
 * item_error) on the caller's thread once the gathering is joined. The
 * message is a literal of to_memory. */
struct late_error {
	uint64_t pos;
	const char *msg;
};

struct batch {
	struct pos_arena *a;
	struct pos_memory v[POS_IMPORT_BATCH];
	uint64_t pos[POS_IMPORT_BATCH];
	char orig[POS_IMPORT_BATCH][POS_UUID_SIZE]; /* the exported id ("" if none) */
	size_t n;
	int64_t bytes;
	struct late_error *errs; /* in the arena */
	size_t n_errs, cap_errs;
};

/*
 * Why a gathering (gather) stopped: the batch is full or its arena large
 * (FULL: gather on), an item that is not a memory came (PENDING: `item`
 * holds it), the file ended (END) or broke (BROKEN: rc and err).
 */
enum gather_end { G_FULL, G_PENDING, G_END, G_BROKEN };

struct run;
struct gathering {
	struct run *r;
	struct batch *b;
	enum gather_end end;
	struct pos_import_item item;
	enum pos_err rc;
	struct pos_error err;
	uint64_t items; /* items read */
};

struct run {
	const struct pos_memsvc *svc;
	struct pos_store *st;
	const char *user_id;
	const struct pos_import_hooks *h;
	struct pos_import_result *res;
	struct pos_import_reader *rd;
	struct batch bat[2]; /* one written while the next is gathered */
};

static void item_error(struct run *r, uint64_t pos, enum pos_err code, const char *msg)
{
	r->res->skipped++;
	if (r->h && r->h->item_error)
		r->h->item_error(r->h->ctx, pos, code, msg);
}

/* Whether the memory is in the account (called between batches). */
static bool exists(struct run *r, const char *id)
{
	struct pos_arena *a = pos_arena_new();
	struct pos_memory m;
	bool found = a && r->st->memories->memory_get(r->st, a, r->user_id, id, false, 0, &m) == POS_OK;
	pos_arena_destroy(a);
	return found;
}

/* The derived id of an exported memory id referenced by an item of the
 * PersonalOS formats; whether that memory is there is checked when the
 * batch is written (flush). */
static bool map_ref(struct run *r, const char *key, const char *old, char out[POS_UUID_SIZE])
{
	if (strncmp(key, "pos:", 4) != 0 || !old || strlen(old) > 64)
		return false;
	char k[80];
	snprintf(k, sizeof(k), "pos:%s", old);
	pos_import_derive_id(r->user_id, k, out);
	return true;
}

/* map_ref, and the memory is there now. */
static bool map_ref_there(struct run *r, const char *key, const char *old,
			  char out[POS_UUID_SIZE])
{
	return map_ref(r, key, old, out) && exists(r, out);
}

static const char *dump(struct pos_arena *a, const json_t *v, size_t max)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	const char *out = s && strlen(s) <= max ? pos_arena_strdup(a, s) : NULL;
	free(s);
	return out;
}

static bool opt_time(const json_t *o, const char *k, int64_t *out)
{
	json_t *v = json_object_get(o, k);
	if (!v || json_is_null(v))
		return true;
	const char *s = json_string_value(v);
	return s && pos_time_parse(s, strlen(s), true, out);
}

/* Builds a memory of batch b from the item; a message (a literal) for
 * the item's error when it is invalid (NULL when fine). Touches neither
 * the store nor the hooks: it runs beside the writing of a batch. */
static const char *to_memory(struct run *r, struct batch *b, const json_t *o,
			     struct pos_memory *m)
{
	struct pos_arena *a = b->a;
	memset(m, 0, sizeof(*m));
	const char *key = json_string_value(json_object_get(o, "key"));
	if (!json_is_object(o) || !key)
		return "not a memory";
	pos_import_derive_id(r->user_id, key, m->id);
	snprintf(m->user_id, sizeof(m->user_id), "%s", r->user_id);
	json_t *c = json_object_get(o, "content");
	if (!json_is_string(c) || json_string_length(c) == 0)
		return "content: a non-empty string is required";
	if (json_string_length(c) > POS_CONTENT_MAX)
		return "content: larger than 1 MiB";
	m->content_len = json_string_length(c);
	m->content = pos_arena_strndup(a, json_string_value(c), m->content_len);
	const char *s;
	int k;
	m->type = POS_TYPE_NOTE;
	if ((s = json_string_value(json_object_get(o, "type"))) && (k = pos_mem_type_parse(s)) >= 0)
		m->type = (enum pos_mem_type)k;
	else if (json_object_get(o, "type") && !json_is_null(json_object_get(o, "type")))
		return "type: unknown";
	m->layer = POS_LAYER_ACTIVE;
	if ((s = json_string_value(json_object_get(o, "layer"))) && (k = pos_mem_layer_parse(s)) >= 0)
		m->layer = (enum pos_mem_layer)k;
	else if (json_object_get(o, "layer") && !json_is_null(json_object_get(o, "layer")))
		return "layer: unknown";
	s = json_string_value(json_object_get(o, "source"));
	if (s && (!*s || strlen(s) > 100))
		return "source: 1 to 100 bytes";
	m->source = pos_arena_strdup(a, s ? s : "import");
	int64_t now = pos_now_us();
	m->created_at = now;
	m->last_accessed_at = POS_TIME_NONE;
	if (!opt_time(o, "created_at", &m->created_at))
		return "created_at: an RFC 3339 time";
	m->updated_at = m->created_at;
	if (!opt_time(o, "updated_at", &m->updated_at))
		return "updated_at: an RFC 3339 time";
	if (!opt_time(o, "last_accessed_at", &m->last_accessed_at))
		return "last_accessed_at: an RFC 3339 time";
	json_t *tags = json_object_get(o, "tags");
	if (tags && !json_is_null(tags)) {
		if (!json_is_array(tags) || json_array_size(tags) > POS_TAGS_MAX)
			return "tags: an array of at most 100 strings";
		m->n_tags = json_array_size(tags);
		m->tags = pos_arena_alloc(a, (m->n_tags ? m->n_tags : 1) * sizeof(*m->tags));
		for (size_t i = 0; i < m->n_tags; i++) {
			json_t *t = json_array_get(tags, i);
			if (!json_is_string(t) || !json_string_length(t) ||
			    json_string_length(t) > POS_TAG_BYTES_MAX)
				return "tags: each 1 to 128 bytes";
			m->tags[i] = pos_arena_strdup(a, json_string_value(t));
		}
		m->tags_json = dump(a, tags, 1u << 20);
	}
	if (!m->tags_json)
		m->tags_json = "[]";
	m->importance = 0.5;
	json_t *imp = json_object_get(o, "importance_score");
	if (imp && !json_is_null(imp)) {
		if (!json_is_number(imp) || json_number_value(imp) < 0 || json_number_value(imp) > 1)
			return "importance_score: a number from 0 to 1";
		m->importance = json_number_value(imp);
	}
	json_t *ac = json_object_get(o, "access_count");
	if (ac && !json_is_null(ac)) {
		if (!json_is_integer(ac) || json_integer_value(ac) < 0)
			return "access_count: a whole number";
		m->access_count = json_integer_value(ac);
	}
	json_t *md = json_object_get(o, "metadata");
	m->metadata_json = "{}";
	if (md && !json_is_null(md)) {
		if (!json_is_object(md) || pos_json_depth(md, POS_METADATA_MAX_DEPTH + 1) >
						   POS_METADATA_MAX_DEPTH)
			return "metadata: an object, nested at most 16 deep";
		if (!(m->metadata_json = dump(a, md, POS_METADATA_MAX_BYTES)))
			return "metadata: larger than 64 KiB";
	}
	json_t *att = json_object_get(o, "attachments");
	m->attachments_json = "[]";
	if (att && !json_is_null(att)) {
		if (!json_is_array(att) || !(m->attachments_json = dump(a, att, POS_METADATA_MAX_BYTES)))
			return "attachments: an array of at most 64 KiB";
	}
	m->shared_with_json = "[]";
	/* A synced memory's external id is unique per sync source, which is
	 * not restored: kept only for memories that had no source. */
	s = json_string_value(json_object_get(o, "external_id"));
	if (json_is_string(json_object_get(o, "sync_source_id")))
		s = NULL;
	m->external_id = s && strlen(s) <= 1024 ? pos_arena_strdup(a, s) : NULL;

	char ref[POS_UUID_SIZE];
	if (map_ref(r, key, json_string_value(json_object_get(o, "parent_memory_id")), ref) &&
	    strcmp(ref, m->id) != 0)
		memcpy(m->parent_id, ref, POS_UUID_SIZE);
	json_t *rel = json_object_get(o, "related_memory_ids");
	size_t nrel = json_is_array(rel) ? json_array_size(rel) : 0;
	if (nrel > POS_RELATED_MAX)
		nrel = POS_RELATED_MAX;
	if (nrel) {
		m->related = pos_arena_alloc(a, nrel * sizeof(*m->related));
		for (size_t i = 0; m->related && i < nrel; i++)
			if (map_ref(r, key, json_string_value(json_array_get(rel, i)), ref) &&
			    strcmp(ref, m->id) != 0)
				memcpy(m->related[m->n_related++], ref, POS_UUID_SIZE);
	}
	if (!m->content || !m->source || !m->tags_json || (m->n_tags && !m->tags))
		return "out of memory";
	return NULL;
}

/* A batch whose arena passes this is written early (two batches are
 * alive at once: one written, one gathered). */
#define POS_IMPORT_ARENA_MAX (32u << 20)

/* A set of ids (pointers borrowed) for one batch: open addressing, at
 * least twice as many slots as ids it will hold, so it never fills. */
struct idset {
	size_t mask;
	const char **slot;
};

static bool set_init(struct idset *s, size_t max_ids)
{
	size_t n = 64;
	while (n < 2 * max_ids + 2)
		n *= 2;
	s->mask = n - 1;
	s->slot = pos_calloc(n, sizeof(*s->slot));
	return s->slot != NULL;
}

static size_t id_hash(const struct idset *s, const char *id)
{
	uint32_t h = 2166136261u;
	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h & s->mask;
}

static bool set_has(const struct idset *s, const char *id)
{
	for (size_t i = id_hash(s, id); s->slot[i]; i = (i + 1) & s->mask)
		if (strcmp(s->slot[i], id) == 0)
			return true;
	return false;
}

static void set_add(struct idset *s, const char *id)
{
	size_t i = id_hash(s, id);
	while (s->slot[i] && strcmp(s->slot[i], id) != 0)
		i = (i + 1) & s->mask;
	s->slot[i] = id;
}

/*
 * Which of the batch's ids, exported ids and references are in the
 * account already (one query), then: memories there are `unchanged`;
 * a reference is kept when its memory is there or earlier in the batch
 * (the insert checks them in order), else dropped.
 */
static enum pos_err resolve(struct run *r, struct batch *b)
{
	struct pos_buf q;
	struct pos_jw w;
	size_t count = 0;
	pos_buf_init(&q, 64u << 20);
	pos_jw_init(&w, &q);
	pos_jw_arr(&w);
	for (size_t i = 0; i < b->n; i++) {
		struct pos_memory *m = &b->v[i];
		pos_jw_str(&w, m->id);
		count++;
		if (b->orig[i][0]) {
			pos_jw_str(&w, b->orig[i]);
			count++;
		}
		if (m->parent_id[0]) {
			pos_jw_str(&w, m->parent_id);
			count++;
		}
		for (size_t k = 0; k < m->n_related; k++, count++)
			pos_jw_str(&w, m->related[k]);
	}
	pos_jw_arr_end(&w);
	struct pos_graph_node *nodes = NULL;
	size_t nn = 0;
	enum pos_err rc = w.rc;
	if (!rc)
		rc = r->st->memories->graph_nodes(r->st, b->a, r->user_id, q.data, (unsigned)count, &nodes,
					     &nn);
	pos_buf_free(&q);
	struct idset there_s = {0}, kept_s = {0}, *there = &there_s, *kept = &kept_s;
	if (!rc && (!set_init(there, nn) || !set_init(kept, b->n)))
		rc = POS_ERR_NOMEM;
	for (size_t i = 0; !rc && i < nn; i++)
		set_add(there, nodes[i].id);
	size_t out = 0;
	for (size_t i = 0; !rc && i < b->n; i++) {
		struct pos_memory *m = &b->v[i];
		if (set_has(there, m->id) || (b->orig[i][0] && set_has(there, b->orig[i])) ||
		    set_has(kept, m->id)) {
			r->res->unchanged++;
			continue;
		}
		if (m->parent_id[0] && !set_has(there, m->parent_id) && !set_has(kept, m->parent_id))
			m->parent_id[0] = '\0';
		size_t k2 = 0;
		for (size_t k = 0; k < m->n_related; k++)
			if (set_has(there, m->related[k]) || set_has(kept, m->related[k]))
				memcpy(m->related[k2++], m->related[k], POS_UUID_SIZE);
		m->n_related = k2;
		if (out != i) {
			b->v[out] = *m;
			b->pos[out] = b->pos[i];
		}
		set_add(kept, b->v[out].id); /* points into the batch, stable now */
		out++;
	}
	pos_free(there_s.slot);
	pos_free(kept_s.slot);
	if (!rc)
		b->n = out;
	return rc;
}

/* Writes batch b (resolve, quota, insert) and empties it. */
static enum pos_err flush(struct run *r, struct batch *b, struct pos_error *err)
{
	enum pos_err rc = b->n ? resolve(r, b) : POS_OK;
	if (rc) {
		pos_error_set(err, rc, NULL, NULL);
	} else if (b->n && r->h && r->h->quota) {
		rc = r->h->quota(r->h->ctx, r->user_id, (int64_t)b->n, b->bytes, err);
	}
	while (!rc && b->n) {
		struct pos_error e;
		pos_error_clear(&e);
		rc = pos_memory_insert_records(r->svc, b->a, b->v, b->n, &e);
		if (rc == POS_ERR_INVALID_FIELD && e.index >= 0 && (size_t)e.index < b->n) {
			/* one bad reference: drop that item, write the rest */
			size_t i = (size_t)e.index;
			item_error(r, b->pos[i], rc, e.message);
			memmove(&b->v[i], &b->v[i + 1], (b->n - i - 1) * sizeof(b->v[0]));
			memmove(&b->pos[i], &b->pos[i + 1], (b->n - i - 1) * sizeof(b->pos[0]));
			b->n--;
			rc = POS_OK;
			continue;
		}
		if (rc) {
			if (err)
				*err = e;
			break;
		}
		r->res->added += b->n;
		break;
	}
	pos_arena_destroy(b->a);
	b->a = NULL;
	b->n = 0;
	b->bytes = 0;
	b->errs = NULL;
	b->n_errs = b->cap_errs = 0;
	return rc;
}

/* Empties batch b without writing it. */
static void drop(struct batch *b)
{
	pos_arena_destroy(b->a);
	b->a = NULL;
	b->n = 0;
	b->bytes = 0;
	b->errs = NULL;
	b->n_errs = b->cap_errs = 0;
}

/* Reports the invalid items gathering found in b (on the caller's thread). */
static void report_late(struct run *r, struct batch *b)
{
	for (size_t i = 0; i < b->n_errs; i++)
		item_error(r, b->errs[i].pos, POS_ERR_INVALID_FIELD, b->errs[i].msg);
	b->n_errs = 0;
}

/* Adds one memory item to batch b (b->a is there); false: out of memory. */
static bool gather_memory(struct run *r, struct batch *b, const struct pos_import_item *it)
{
	struct pos_memory *m = &b->v[b->n];
	const char *why = to_memory(r, b, it->data, m);
	if (why) {
		if (b->n_errs == b->cap_errs) {
			size_t cap = b->cap_errs ? 2 * b->cap_errs : 64;
			struct late_error *e = pos_arena_alloc(b->a, cap * sizeof(*e));
			if (!e)
				return false;
			if (b->n_errs)
				memcpy(e, b->errs, b->n_errs * sizeof(*e));
			b->errs = e;
			b->cap_errs = cap;
		}
		b->errs[b->n_errs++] = (struct late_error){it->position, why};
		return true;
	}
	/* already imported, or (the PersonalOS formats) the very memory
	 * exported from this account: found when the batch is written */
	const char *key = json_string_value(json_object_get(it->data, "key"));
	const char *orig = json_string_value(json_object_get(it->data, "id"));
	b->orig[b->n][0] = '\0';
	if (strncmp(key, "pos:", 4) == 0 && orig && !pos_uuid_valid(orig, strlen(orig), b->orig[b->n]))
		b->orig[b->n][0] = '\0';
	b->pos[b->n++] = it->position;
	b->bytes += (int64_t)(m->content_len + strlen(m->metadata_json));
	return true;
}

/*
 * Reads memory items into the empty batch g->b until it is full (or its
 * arena large: what skipped items took stays there until the batch is
 * written), an item of another kind comes, or the file ends or breaks.
 * Touches the reader, the batch and g only: it runs on its own thread
 * while the batch before is written.
 */
static void gather(struct gathering *g)
{
	struct run *r = g->r;
	struct batch *b = g->b;
	g->end = G_FULL;
	g->rc = POS_OK;
	g->items = 0;
	pos_error_clear(&g->err);
	if (!b->a && !(b->a = pos_arena_new())) {
		g->end = G_BROKEN;
		g->rc = pos_error_set(&g->err, POS_ERR_NOMEM, NULL, NULL);
		return;
	}
	while (b->n < POS_IMPORT_BATCH && pos_arena_used(b->a) <= POS_IMPORT_ARENA_MAX) {
		struct pos_import_item it;
		enum pos_err rc = pos_import_reader_next(r->rd, &it, &g->err);
		if (rc == POS_ERR_NOT_FOUND) {
			g->end = G_END;
			return;
		}
		if (rc) {
			g->end = G_BROKEN;
			g->rc = rc;
			return;
		}
		g->items++;
		if (it.kind != POS_IMPORT_MEMORY) {
			g->item = it;
			g->end = G_PENDING;
			return;
		}
		bool ok = gather_memory(r, b, &it);
		json_decref(it.data);
		if (!ok) {
			g->end = G_BROKEN;
			g->rc = pos_error_set(&g->err, POS_ERR_NOMEM, NULL, NULL);
			return;
		}
	}
}

/* gather, then the batch's embeddings (a batch that broke is not written:
 * none). */
static void gather_embed(struct gathering *g)
{
	gather(g);
	if (g->end == G_BROKEN || !g->b->n)
		return;
	enum pos_err rc = pos_memory_embed_records(g->r->svc, g->b->a, g->b->v, g->b->n);
	if (rc) {
		g->end = G_BROKEN;
		g->rc = pos_error_set(&g->err, rc, NULL, NULL);
	}
}

static void *gather_main(void *arg)
{
	gather_embed(arg);
	return NULL;
}

static enum pos_err add_conversation(struct run *r, const struct pos_import_item *it)
{
	const json_t *o = it->data;
	const char *old = json_string_value(json_object_get(o, "id"));
	json_t *msgs = json_object_get(o, "messages");
	if (!old || strlen(old) > 64 || !json_is_array(msgs) || json_array_size(msgs) > 100000) {
		item_error(r, it->position, POS_ERR_INVALID_FIELD,
			   "a conversation needs an id and at most 100,000 messages");
		return POS_OK;
	}
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return POS_ERR_NOMEM;
	char key[96];
	struct pos_conversation c = {0};
	snprintf(key, sizeof(key), "conversation:%s", old);
	pos_import_derive_id(r->user_id, key, c.id);
	snprintf(c.user_id, sizeof(c.user_id), "%s", r->user_id);
	struct pos_conversation got;
	char norm[POS_UUID_SIZE];
	enum pos_err rc = r->st->chat->conversation_get(r->st, a, r->user_id, c.id, &got);
	if (rc == POS_ERR_NOT_FOUND && pos_uuid_valid(old, strlen(old), norm))
		rc = r->st->chat->conversation_get(r->st, a, r->user_id, norm, &got); /* this account's own */
	if (rc != POS_ERR_NOT_FOUND) {
		if (!rc)
			r->res->unchanged++;
		pos_arena_destroy(a);
		return rc == POS_ERR_STORE ? rc : POS_OK;
	}
	rc = POS_OK;
	const char *title = json_string_value(json_object_get(o, "title"));
	c.title = title ? title : "";
	c.created_at = c.updated_at = pos_now_us();
	opt_time(o, "created_at", &c.created_at);
	opt_time(o, "updated_at", &c.updated_at);
	size_t n = json_array_size(msgs);
	struct pos_chat_message *m = pos_arena_zalloc(a, (n ? n : 1) * sizeof(*m));
	size_t k = 0;
	for (size_t i = 0; m && i < n; i++) {
		json_t *x = json_array_get(msgs, i);
		const char *role = json_string_value(json_object_get(x, "role"));
		const char *content = json_string_value(json_object_get(x, "content"));
		const char *mid = json_string_value(json_object_get(x, "id"));
		if (!role || (strcmp(role, "user") && strcmp(role, "assistant")) || !content)
			continue;
		snprintf(key, sizeof(key), "message:%.64s:%zu", mid ? mid : old, i);
		pos_import_derive_id(r->user_id, key, m[k].id);
		memcpy(m[k].conversation_id, c.id, POS_UUID_SIZE);
		m[k].role = role;
		m[k].content = content;
		m[k].memories_used_json = "[]";
		m[k].created_at = c.created_at;
		opt_time(x, "created_at", &m[k].created_at);
		char ref[POS_UUID_SIZE];
		if (map_ref_there(r, "pos:", json_string_value(json_object_get(x, "memory_id")), ref))
			memcpy(m[k].memory_id, ref, POS_UUID_SIZE);
		k++;
	}
	rc = m ? r->st->chat->chat_append(r->st, &c, true, m, k) : POS_ERR_NOMEM;
	if (!rc)
		r->res->conversations++;
	pos_arena_destroy(a);
	return rc;
}

static enum pos_err set_profile(struct run *r, const struct pos_import_item *it)
{
	if (!json_is_object(it->data)) {
		item_error(r, it->position, POS_ERR_INVALID_FIELD, "persona and settings are objects");
		return POS_OK;
	}
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return POS_ERR_NOMEM;
	struct pos_user u;
	enum pos_err rc = r->st->accounts->user_by_id(r->st, a, r->user_id, &u);
	const char *json = rc ? NULL : dump(a, it->data, POS_METADATA_MAX_BYTES);
	if (!rc && !json) {
		item_error(r, it->position, POS_ERR_CONTENT_TOO_LARGE, "larger than 64 KiB");
	} else if (!rc) {
		if (it->kind == POS_IMPORT_PERSONA)
			u.persona_json = json;
		else
			u.settings_json = json;
		rc = r->st->accounts->user_update_profile(r->st, &u);
		if (!rc && it->kind == POS_IMPORT_PERSONA)
			r->res->persona = true;
		else if (!rc)
			r->res->settings = true;
	}
	pos_arena_destroy(a);
	return rc;
}

/* An item that is not a memory (the memories before it are written). */
static enum pos_err add_item(struct run *r, const struct pos_import_item *it)
{
	const char *type;
	switch (it->kind) {
	case POS_IMPORT_CONVERSATION:
		return add_conversation(r, it);
	case POS_IMPORT_PERSONA:
	case POS_IMPORT_SETTINGS:
		return set_profile(r, it);
	case POS_IMPORT_RELATIONSHIP:
		/* related and parent links travel with the memories */
		type = json_string_value(json_object_get(it->data, "type"));
		if (!type || (strcmp(type, "related") && strcmp(type, "parent") && strcmp(type, "child")))
			r->res->skipped++;
		return POS_OK;
	case POS_IMPORT_SYNC_SOURCE:
		item_error(r, it->position, POS_ERR_INVALID_FIELD,
			   "sync sources are not imported: add them again with their secrets");
		return POS_OK;
	default:
		r->res->skipped++;
		return POS_OK;
	}
}

/* A sealed file opened into an unlinked temp file in the same folder;
 * *plain_fd (>= 0) then names it, to be closed by the caller. */
static enum pos_err unseal(const char *path, const char *passphrase, int *plain_fd,
			   struct pos_error *err)
{
	*plain_fd = -1;
	int in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return pos_error_set(err, POS_ERR_IO, NULL, "cannot open the upload");
	enum pos_err rc = POS_OK;
	if (pos_seal_is_sealed(in)) {
		if (!passphrase || !*passphrase) {
			rc = pos_error_set(err, POS_ERR_INVALID_FIELD, "passphrase",
					   "the file is sealed: a passphrase is needed");
		} else {
			char dir[4096];
			snprintf(dir, sizeof(dir), "%s", path);
			char *slash = strrchr(dir, '/');
			if (slash)
				*(slash == dir ? slash + 1 : slash) = '\0';
			int t = open(slash ? dir : ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
			rc = t < 0 ? pos_error_set(err, POS_ERR_IO, NULL, "cannot open the upload")
				   : pos_seal_open(in, t, passphrase, err);
			if (rc && t >= 0)
				close(t);
			else if (!rc)
				*plain_fd = t;
		}
	}
	close(in);
	return rc;
}

/* FOLDER/SLUG-ID.files/NAME: ID into `id` and NAME's start, or false. */
static bool files_entry(const char *path, char id[POS_UUID_SIZE], const char **name)
{
	const char *dot = strstr(path, ".files/");
	if (!dot)
		return false;
	const char *nm = dot + 7;
	if (!*nm || strchr(nm, '/') || dot - path < 36)
		return false;
	if (!pos_uuid_valid(dot - 36, 36, id))
		return false;
	*name = nm;
	return true;
}

/*
 * The second pass over a Markdown zip: each FOLDER/SLUG-ID.files/NAME
 * spooled to an unlinked temp file and attached to the memory imported
 * from note ID (its derived id).
 */
static enum pos_err import_files(const char *user_id, const char *path,
				 const struct pos_import_hooks *h, struct pos_import_result *res,
				 struct pos_error *err)
{
	struct archive *z = archive_read_new();
	if (!z)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	archive_read_support_format_zip(z);
	archive_read_support_filter_none(z);
	enum pos_err rc = POS_OK;
	if (archive_read_open_filename(z, path, 65536) != ARCHIVE_OK) {
		archive_read_free(z);
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "file", "the upload is not a zip file");
	}
	struct archive_entry *e;
	uint64_t position = 0;
	while (!rc && archive_read_next_header(z, &e) == ARCHIVE_OK) {
		position++;
		const char *p = archive_entry_pathname(e), *name;
		char id[POS_UUID_SIZE], key[80], mid[POS_UUID_SIZE];
		if (archive_entry_filetype(e) != AE_IFREG || !p || !files_entry(p, id, &name))
			continue;
		if (h->should_stop && h->should_stop(h->ctx)) {
			rc = pos_error_set(err, POS_ERR_UNAVAILABLE, NULL, "the import was stopped");
			break;
		}
		json_t *utf8 = json_string(name); /* NULL: not UTF-8 text */
		if (!utf8) {
			res->skipped++;
			if (h->item_error)
				h->item_error(h->ctx, position, POS_ERR_INVALID_FIELD,
					      "an attachment's name is not UTF-8 text");
			continue;
		}
		json_decref(utf8);
		snprintf(key, sizeof(key), "pos:%s", id);
		pos_import_derive_id(user_id, key, mid);
		int fd = pos_zipw_spool(-1);
		if (fd < 0) {
			rc = pos_error_set(err, POS_ERR_IO, NULL, "cannot spool an attachment");
			break;
		}
		uint64_t len = 0;
		const void *blk;
		size_t bn;
		la_int64_t off;
		int dr;
		while ((dr = archive_read_data_block(z, &blk, &bn, &off)) == ARCHIVE_OK) {
			if (pwrite(fd, blk, bn, (off_t)len) != (ssize_t)bn) {
				rc = pos_error_set(err, POS_ERR_IO, NULL, "cannot spool an attachment");
				break;
			}
			len += bn;
		}
		if (!rc && dr != ARCHIVE_EOF)
			rc = pos_error_set(err, POS_ERR_INVALID_FIELD, "file",
					   "zip entry %s cannot be read", p);
		if (!rc) {
			struct pos_error e2;
			pos_error_clear(&e2);
			enum pos_err ar = h->attach(h->ctx, user_id, mid, fd, len, name, &e2);
			if (ar == POS_ERR_NOT_FOUND) {
				/* no memory from note ID: nothing to attach it to */
			} else if (ar == POS_ERR_CONTENT_TOO_LARGE || ar == POS_ERR_QUOTA_EXCEEDED ||
				   ar == POS_ERR_INVALID_FIELD || ar == POS_ERR_CONFLICT) {
				res->skipped++;
				if (h->item_error)
					h->item_error(h->ctx, position, ar,
						      e2.message[0] ? e2.message : pos_strerror(ar));
			} else if (ar) {
				rc = ar;
				if (err)
					*err = e2;
			} else {
				res->files++;
			}
		}
		close(fd);
	}
	archive_read_free(z);
	return rc;
}

enum pos_err pos_import_run(const struct pos_memsvc *svc, const char *user_id,
			    enum pos_import_format fmt, const char *path, const char *passphrase,
			    const struct pos_import_hooks *hooks, struct pos_import_result *res,
			    struct pos_error *err)
{
	memset(res, 0, sizeof(*res));
	struct pos_store *st = svc->store;
	if (st->keys->data_unlocked && !st->keys->data_unlocked(st, user_id))
		return pos_error_set(err, POS_ERR_LOCKED, NULL,
				     "encrypted data is locked: log in again to import");
	struct run *r = pos_calloc(1, sizeof(*r));
	if (!r)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	r->svc = svc;
	r->st = st;
	r->user_id = user_id;
	r->h = hooks;
	r->res = res;
	int plain = -1;
	char plain_path[64];
	enum pos_err rc = unseal(path, passphrase, &plain, err);
	if (!rc && plain >= 0) {
		snprintf(plain_path, sizeof(plain_path), "/proc/self/fd/%d", plain);
		path = plain_path;
	}
	if (!rc)
		rc = pos_import_reader_open(fmt, path, &r->rd, err);
	/*
	 * A pipeline of two: while batch `cur` is written here (resolve, one
	 * transaction), the next is read, checked and embedded on a thread
	 * of its own (gather_embed: JSON, fields, derived ids, vectors on the
	 * search engine's pool). Hooks are called on this thread only.
	 */
	struct batch *cur = &r->bat[0], *next = &r->bat[1];
	struct gathering g = {.r = r, .b = cur}, gn = {.r = r, .b = next};
	if (!rc) {
		gather_embed(&g);
		res->items += g.items;
	}
	while (!rc) {
		report_late(r, cur);
		if (g.end == G_BROKEN) { /* the batch being gathered is not written */
			rc = g.rc;
			if (err)
				*err = g.err;
			break;
		}
		if (hooks && hooks->should_stop && hooks->should_stop(hooks->ctx)) {
			rc = pos_error_set(err, POS_ERR_UNAVAILABLE, NULL, "the import was stopped");
			break;
		}
		struct pos_thread *t = NULL;
		bool ahead = g.end == G_FULL;
		gn.end = G_FULL;
		gn.items = 0;
		if (ahead && pos_thread_start(gather_main, &gn, &t))
			t = NULL; /* no thread: gathered after the write */
		rc = flush(r, cur, err);
		if (ahead && t)
			pos_thread_join(t);
		else if (ahead && !rc)
			gather_embed(&gn);
		if (ahead)
			res->items += gn.items;
		if (!rc && hooks && hooks->progress) {
			uint64_t done, total;
			pos_import_reader_progress(r->rd, &done, &total);
			hooks->progress(hooks->ctx, done, total);
		}
		if (rc)
			break;
		if (ahead) {
			struct batch *x = cur;
			cur = next;
			next = x;
			g = gn; /* its pending item, if any, is g's now */
			gn.b = next;
			gn.end = G_FULL;
			continue;
		}
		if (g.end == G_END)
			break;
		/* G_PENDING: an item that may refer to the memories written */
		rc = add_item(r, &g.item);
		json_decref(g.item.data);
		g.end = G_END;
		if (!rc) {
			g.b = cur;
			gather_embed(&g);
			res->items += g.items;
		}
	}
	if (!rc && fmt == POS_IMPORT_MARKDOWN && hooks && hooks->attach)
		rc = import_files(user_id, path, hooks, res, err);
	if (g.end == G_PENDING) /* an error came before its turn */
		json_decref(g.item.data);
	if (gn.end == G_PENDING)
		json_decref(gn.item.data);
	drop(&r->bat[0]); /* a batch left by an error is not written */
	drop(&r->bat[1]);
	pos_import_reader_free(r->rd);
	if (plain >= 0)
		close(plain);
	pos_free(r);
	return rc;
}
