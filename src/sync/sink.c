/*
 * sink.c — what an adapter writes into during one run. Items are checked
 * (a bad one is skipped and reported with its position), buffered, and
 * written in batches: one lookup of the batch's external ids in this
 * source, one transaction for the new memories (through the memory
 * service, so full-text and embeddings follow), an update for each item
 * whose version changed, nothing for unchanged ones. Links become
 * relationships at the end of the run, when every target exists.
 */
#include "sync/sync_internal.h"

#include <sodium.h>
#include <string.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/uuid.h"

#define BATCH 256
#define BATCH_FILE_BYTES (64 * 1024 * 1024) /* files held before a flush */
#define ATTACHMENT_MAX (8 * 1024 * 1024) /* bigger originals are not kept */
#define THREAD_KEY_MAX 256
#define POSITION_MAX 200
#define REASON_MAX 300

struct pend {
	const char *ext, *type_name, *content, *metadata_json, *tags_json;
	const char *attachments_json, *version, *thread;
	size_t content_len;
	const char **tags;
	size_t n_tags;
	int64_t created;
	enum pos_mem_type type;
	json_t *links;                  /* own reference, or NULL */
	struct pos_sync_file *files;    /* copies (data pos_malloc'd), for the attach hook */
	size_t n_files;
};

struct link_req {
	char id[POS_UUID_SIZE];
	json_t *links;
};

struct run {
	struct pos_sync *s;
	const struct pos_sync_source *src;
	const struct pos_sync_run_opts *o;
	struct pos_sync_report *rep;
	struct pos_arena *ba;           /* the batch's strings */
	struct pend b[BATCH];
	size_t nb;
	size_t file_bytes;              /* bytes of the batch's files */
	char **seen;                    /* hash set of external ids */
	size_t seen_cap, seen_n;
	bool complete;
	json_t *errors;
	struct link_req *links;
	size_t n_links, cap_links;
	enum pos_err fatal;
	struct pos_error ferr;
};

/* ---- helpers ---- */

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static bool seen_has(const struct run *r, const char *ext)
{
	if (!r->seen_cap)
		return false;
	for (size_t i = hash_str(ext) & (r->seen_cap - 1);; i = (i + 1) & (r->seen_cap - 1)) {
		if (!r->seen[i])
			return false;
		if (strcmp(r->seen[i], ext) == 0)
			return true;
	}
}

static enum pos_err seen_add(struct run *r, const char *ext)
{
	if (seen_has(r, ext))
		return POS_OK;
	if ((r->seen_n + 1) * 2 > r->seen_cap) {
		size_t ncap = r->seen_cap ? r->seen_cap * 2 : 1024;
		char **v = pos_calloc(ncap, sizeof(*v));
		if (!v)
			return POS_ERR_NOMEM;
		for (size_t i = 0; i < r->seen_cap; i++) {
			if (!r->seen[i])
				continue;
			size_t j = hash_str(r->seen[i]) & (ncap - 1);
			while (v[j])
				j = (j + 1) & (ncap - 1);
			v[j] = r->seen[i];
		}
		pos_free(r->seen);
		r->seen = v;
		r->seen_cap = ncap;
	}
	char *copy = pos_strdup(ext);
	if (!copy)
		return POS_ERR_NOMEM;
	size_t j = hash_str(ext) & (r->seen_cap - 1);
	while (r->seen[j])
		j = (j + 1) & (r->seen_cap - 1);
	r->seen[j] = copy;
	r->seen_n++;
	return POS_OK;
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, size_t left)
{
	unsigned char c = p[0];
	if (c < 0x80)
		return 1;
	size_t n;
	uint32_t cp;
	if ((c & 0xe0) == 0xc0)
		n = 2, cp = c & 0x1f;
	else if ((c & 0xf0) == 0xe0)
		n = 3, cp = c & 0x0f;
	else if ((c & 0xf8) == 0xf0)
		n = 4, cp = c & 0x07;
	else
		return 0;
	if (n > left)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/*
 * A copy of s that is valid UTF-8 without NUL bytes (invalid sequences
 * become U+FFFD, NUL a space), cut to at most `max` bytes on a character
 * boundary. NULL when out of memory.
 */
static char *clean_text(struct pos_arena *a, const char *s, size_t n, size_t max,
			size_t *out_len)
{
	size_t cap = n * 3 + 1;
	if (cap > max + 4)
		cap = max + 4;
	char *o = pos_arena_alloc(a, cap);
	if (!o)
		return NULL;
	size_t k = 0;
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		size_t q = utf8_seq(p + i, n - i);
		const char *src = (const char *)p + i;
		size_t len = q;
		if (q == 0) {
			src = "\xef\xbf\xbd";
			len = 3;
			q = 1;
		} else if (p[i] == 0) {
			src = " ";
			len = 1;
		}
		if (k + len > max || k + len + 1 > cap)
			break;
		memcpy(o + k, src, len);
		k += len;
		i += q;
	}
	o[k] = '\0';
	*out_len = k;
	return o;
}

/* Reports a problem of the run at `position` in its errors, not counted
 * as a skipped item (an attachment that could not be kept). */
static void report(struct run *r, const char *position, const char *reason)
{
	if (!r->rep->first_skip[0])
		/* bounded parts: the message always fits (no truncation,
		 * which the Release build's -Werror=format-truncation refuses) */
		snprintf(r->rep->first_skip, sizeof(r->rep->first_skip), "%.60s: %.180s",
			 position ? position : "?", reason ? reason : "?");
	if (!r->errors || json_array_size(r->errors) >= POS_SYNC_ERRORS_MAX)
		return;
	size_t n;
	struct pos_arena *a = r->ba;
	const char *pos = clean_text(a, position ? position : "?", strlen(position ? position : "?"),
				     POSITION_MAX, &n);
	const char *why = clean_text(a, reason ? reason : "?", strlen(reason ? reason : "?"),
				     REASON_MAX, &n);
	json_t *e = json_pack("{s:s,s:s}", "position", pos ? pos : "?", "reason", why ? why : "?");
	if (e)
		json_array_append_new(r->errors, e);
}

static void add_error(struct run *r, const char *position, const char *reason)
{
	r->rep->skipped++;
	if (r->o->job)
		atomic_fetch_add(&r->o->job->skipped, 1);
	report(r, position, reason);
}

static void count(struct run *r, int64_t *field, atomic_uint_fast64_t *jf)
{
	(*field)++;
	if (r->o->job)
		atomic_fetch_add(jf, 1);
}

static const char *thread_of(struct pos_arena *a, const json_t *meta)
{
	static const char *const keys[] = {"thread", "thread_id", "conversation_id"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const json_t *v = json_object_get(meta, keys[i]);
		if (json_is_string(v) && json_string_length(v) > 0 &&
		    json_string_length(v) <= THREAD_KEY_MAX)
			return pos_arena_strdup(a, json_string_value(v));
	}
	return NULL;
}

/* The name the item's original is kept under. */
static const char *original_name(const struct pos_sync_item *it)
{
	return it->attachment_type && strcmp(it->attachment_type, "message/rfc822") == 0
		? "message.eml" : "original";
}

/* One inline attachment {type?, name, size, encoding, data} (or
 * truncated) appended to `arr`. */
static bool inline_one(json_t *arr, const char *type, const char *name, const void *data,
		       size_t len)
{
	json_t *o = json_object();
	if (!o)
		return false;
	if (type)
		json_object_set_new(o, "type", json_string(type));
	json_object_set_new(o, "name", json_string(name));
	json_object_set_new(o, "size", json_integer((json_int_t)len));
	if (len <= ATTACHMENT_MAX) {
		size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
		char *b64 = pos_malloc(cap);
		if (!b64) {
			json_decref(o);
			return false;
		}
		sodium_bin2base64(b64, cap, data, len, sodium_base64_VARIANT_ORIGINAL);
		json_object_set_new(o, "encoding", json_string("base64"));
		json_object_set_new(o, "data", json_string(b64));
		pos_free(b64);
	} else {
		json_object_set_new(o, "truncated", json_true());
	}
	return json_array_append_new(arr, o) == 0;
}

/*
 * The attachments JSON of a new memory. With an attach hook (the server)
 * "[]": the files are stored as blobs after the memory is written. Without
 * one (the CLI's import) the original and the files are kept inline,
 * base64, as before; the server moves them into blobs when it starts
 * (pos_files_adopt_inline).
 */
static const char *attachments_of(struct pos_arena *a, const struct pos_sync *s,
				  const struct pos_sync_item *it)
{
	bool orig = it->attachment && it->attachment_len;
	if (s->attach || (!orig && !it->n_files))
		return "[]";
	json_t *arr = json_array();
	if (!arr)
		return NULL;
	bool ok = !orig || inline_one(arr, it->attachment_type ? it->attachment_type
							       : "application/octet-stream",
				      original_name(it), it->attachment, it->attachment_len);
	for (size_t i = 0; ok && i < it->n_files && i < POS_SYNC_FILES_MAX; i++)
		ok = inline_one(arr, NULL, it->files[i].name, it->files[i].data, it->files[i].len);
	if (!ok) {
		json_decref(arr);
		return NULL;
	}
	char *txt = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	const char *out = txt ? pos_arena_strdup(a, txt) : NULL;
	free(txt);
	return out;
}

/* ---- batch ---- */

/* Stores the item's files as attachments of memory `id` through the hook;
 * one that cannot be kept (too large, over quota) is reported, the memory
 * stays. */
static void attach_files(struct run *r, const struct pend *p, const char *id)
{
	for (size_t i = 0; i < p->n_files; i++) {
		char why[200] = "";
		const struct pos_sync_file *f = &p->files[i];
		if (r->s->attach(r->s->attach_ctx, r->src->user_id, id, f->name, f->data, f->len,
				 why, sizeof(why)) == POS_OK)
			continue;
		char msg[REASON_MAX];
		snprintf(msg, sizeof(msg), "attachment %.100s not kept: %.150s", f->name,
			 why[0] ? why : "error");
		report(r, p->ext, msg);
	}
}

static void batch_reset(struct run *r)
{
	for (size_t i = 0; i < r->nb; i++) {
		json_decref(r->b[i].links);
		for (size_t j = 0; j < r->b[i].n_files; j++)
			pos_free((void *)r->b[i].files[j].data);
	}
	r->nb = 0;
	r->file_bytes = 0;
	pos_arena_destroy(r->ba);
	r->ba = pos_arena_new();
}

static enum pos_err note_links(struct run *r, const char *id, json_t *links)
{
	if (!links)
		return POS_OK;
	if (r->n_links == r->cap_links) {
		size_t ncap = r->cap_links ? r->cap_links * 2 : 64;
		struct link_req *v = pos_realloc(r->links, ncap * sizeof(*v));
		if (!v)
			return POS_ERR_NOMEM;
		r->links = v;
		r->cap_links = ncap;
	}
	struct link_req *l = &r->links[r->n_links++];
	memcpy(l->id, id, POS_UUID_SIZE);
	l->links = json_incref(links);
	return POS_OK;
}

static enum pos_err flush(struct run *r)
{
	if (r->fatal)
		return r->fatal;
	if (!r->nb || !r->ba)
		return r->ba ? POS_OK : POS_ERR_NOMEM;
	struct pos_sync *s = r->s;
	struct pos_arena *a = r->ba;
	const char *uid = r->src->user_id;
	const char **ext = pos_arena_alloc(a, r->nb * sizeof(*ext));
	struct pos_sync_ref *refs = pos_arena_alloc(a, r->nb * sizeof(*refs));
	struct pos_memory *ins = pos_arena_alloc(a, r->nb * sizeof(*ins));
	if (!ext || !refs || !ins)
		return r->fatal = pos_error_set(&r->ferr, POS_ERR_NOMEM, NULL, NULL);
	for (size_t i = 0; i < r->nb; i++)
		ext[i] = r->b[i].ext;
	enum pos_err rc = s->store->sync->sync_refs_lookup(s->store, a, uid, r->src->id,
							  ext, r->nb, refs);
	if (rc)
		return r->fatal = pos_error_set(&r->ferr, rc, NULL, "store lookup failed");
	int64_t now = pos_now_us();
	size_t ni = 0;
	for (size_t i = 0; i < r->nb; i++) {
		struct pend *p = &r->b[i];
		if (refs[i].found) {
			if (p->version && refs[i].version && strcmp(p->version, refs[i].version) == 0) {
				count(r, &r->rep->unchanged, r->o->job ? &r->o->job->unchanged : NULL);
				continue;
			}
			struct pos_memory_patch patch;
			memset(&patch, 0, sizeof(patch));
			patch.set = POS_PATCH_CONTENT | POS_PATCH_TYPE | POS_PATCH_TAGS |
				    POS_PATCH_METADATA | POS_PATCH_SYNC_VERSION | POS_PATCH_CREATED;
			/* with the hook the files service keeps the list */
			if (!s->attach)
				patch.set |= POS_PATCH_ATTACHMENTS;
			patch.v.content = p->content;
			patch.v.content_len = p->content_len;
			patch.v.type = p->type;
			patch.v.tags = p->tags;
			patch.v.n_tags = p->n_tags;
			patch.v.tags_json = p->tags_json;
			patch.v.metadata_json = p->metadata_json;
			patch.v.attachments_json = p->attachments_json;
			patch.v.sync_version = p->version;
			patch.v.created_at = p->created;
			struct pos_error e;
			pos_error_clear(&e);
			rc = pos_memory_patch_record(&s->mem, a, uid, refs[i].id, &patch, &e);
			if (rc == POS_ERR_NOT_FOUND)
				continue; /* deleted meanwhile: the next run adds it */
			if (rc) {
				r->ferr = e;
				return r->fatal = rc;
			}
			count(r, &r->rep->updated, r->o->job ? &r->o->job->updated : NULL);
			if (s->attach)
				attach_files(r, p, refs[i].id);
			if ((rc = note_links(r, refs[i].id, p->links)))
				return r->fatal = pos_error_set(&r->ferr, rc, NULL, NULL);
			continue;
		}
		struct pos_memory *m = &ins[ni++];
		memset(m, 0, sizeof(*m));
		if (!pos_uuid_new_v7(m->id, now))
			return r->fatal = pos_error_set(&r->ferr, POS_ERR_INTERNAL, NULL, NULL);
		memcpy(m->user_id, uid, POS_UUID_SIZE);
		m->content = p->content;
		m->content_len = p->content_len;
		m->type = p->type;
		m->layer = POS_LAYER_ACTIVE;
		m->source = r->src->kind;
		m->created_at = p->created;
		m->updated_at = now;
		m->last_accessed_at = POS_TIME_NONE;
		m->tags = p->tags;
		m->n_tags = p->n_tags;
		m->tags_json = p->tags_json;
		m->importance = 0.5;
		m->shared_with_json = "[]";
		m->metadata_json = p->metadata_json;
		m->attachments_json = p->attachments_json;
		m->external_id = p->ext;
		m->thread = p->thread;
		m->source_id = r->src->id;
		m->sync_version = p->version;
	}
	if (ni) {
		struct pos_error e;
		pos_error_clear(&e);
		rc = pos_memory_insert_records(&s->mem, a, ins, ni, &e);
		if (rc) {
			r->ferr = e;
			return r->fatal = rc;
		}
		size_t k = 0;
		for (size_t i = 0; i < r->nb; i++) {
			if (refs[i].found)
				continue;
			count(r, &r->rep->added, r->o->job ? &r->o->job->added : NULL);
			if (s->attach)
				attach_files(r, &r->b[i], ins[k].id);
			if ((rc = note_links(r, ins[k].id, r->b[i].links)))
				return r->fatal = pos_error_set(&r->ferr, rc, NULL, NULL);
			k++;
		}
	}
	batch_reset(r);
	return r->ba ? POS_OK : (r->fatal = POS_ERR_NOMEM);
}

/* ---- the sink callbacks ---- */

/* Past the run's deadline (sync_run_timeout)? */
static bool run_expired(const struct run *r)
{
	return r->o->job && r->o->job->jr && pos_job_remaining_us(r->o->job->jr) == 0;
}

static bool sink_cancelled(void *ctx)
{
	struct run *r = ctx;
	if (r->o->job && atomic_load(&r->o->job->cancel))
		return true;
	if (r->o->job && r->o->job->jr && pos_job_should_stop(r->o->job->jr))
		return true;
	bool stop;
	pthread_mutex_lock(&r->s->mu);
	stop = r->s->stop;
	pthread_mutex_unlock(&r->s->mu);
	return stop;
}

static void sink_skip(void *ctx, const char *position, const char *reason)
{
	add_error(ctx, position, reason);
}

static enum pos_err skip_item(struct run *r, const struct pos_sync_item *it,
			      const char *reason, struct pos_error *err)
{
	char pos[POSITION_MAX];
	snprintf(pos, sizeof(pos), "%s", it->external_id ? it->external_id : "item");
	add_error(r, pos, reason);
	return pos_error_set(err, POS_ERR_INVALID_FIELD, NULL, "%s", reason);
}

static enum pos_err sink_upsert(void *ctx, const struct pos_sync_item *it,
				struct pos_error *err)
{
	struct run *r = ctx;
	if (r->fatal) {
		if (err)
			*err = r->ferr;
		return r->fatal;
	}
	if (sink_cancelled(r))
		return pos_error_set(err, POS_ERR_UNAVAILABLE, NULL, "sync cancelled");
	size_t elen = it->external_id ? strlen(it->external_id) : 0;
	if (!elen || elen > POS_SYNC_EXTERNAL_ID_MAX)
		return skip_item(r, it, "external id missing or longer than 1024 bytes", err);
	int ty = it->type ? pos_mem_type_parse(it->type) : -1;
	if (ty < 0)
		return skip_item(r, it, "unknown memory type", err);
	if (!it->content)
		return skip_item(r, it, "no content", err);
	if (it->metadata && !json_is_object(it->metadata))
		return skip_item(r, it, "metadata is not an object", err);
	/* The same item twice in one batch: write the first before the second. */
	for (size_t i = 0; i < r->nb; i++)
		if (strcmp(r->b[i].ext, it->external_id) == 0) {
			enum pos_err rc = flush(r);
			if (rc) {
				if (err)
					*err = r->ferr;
				return rc;
			}
			break;
		}
	struct pos_arena *a = r->ba;
	struct pend *p = &r->b[r->nb];
	memset(p, 0, sizeof(*p));
	size_t n;
	p->ext = clean_text(a, it->external_id, elen, POS_SYNC_EXTERNAL_ID_MAX, &n);
	p->content = clean_text(a, it->content, it->content_len, POS_CONTENT_MAX, &p->content_len);
	if (!p->ext || !p->content)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	bool blank = true;
	for (size_t i = 0; i < p->content_len && blank; i++)
		blank = p->content[i] == ' ' || p->content[i] == '\n' || p->content[i] == '\r' ||
			p->content[i] == '\t';
	if (blank)
		return skip_item(r, it, "empty content", err);
	p->type = (enum pos_mem_type)ty;
	p->created = it->created_at_us > 0 ? it->created_at_us : pos_now_us();
	p->version = it->version ? pos_arena_strdup(a, it->version) : NULL;
	p->metadata_json = "{}";
	if (it->metadata) {
		char *m = json_dumps(it->metadata, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (!m)
			return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
		size_t ml = strlen(m);
		p->metadata_json = ml <= POS_METADATA_MAX_BYTES ? pos_arena_strndup(a, m, ml) : NULL;
		free(m);
		if (ml > POS_METADATA_MAX_BYTES)
			return skip_item(r, it, "metadata larger than 64 KiB", err);
		p->thread = thread_of(a, it->metadata);
	}
	/* Tags: strings of 1..128 bytes without control characters; others dropped. */
	json_t *clean = json_array();
	size_t nt = json_array_size(it->tags);
	p->tags = pos_arena_alloc(a, (nt ? nt : 1) * sizeof(*p->tags));
	if (!clean || !p->tags) {
		json_decref(clean);
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	}
	for (size_t i = 0; i < nt && p->n_tags < POS_TAGS_MAX; i++) {
		const json_t *t = json_array_get(it->tags, i);
		const char *ts = json_string_value(t);
		size_t tl = json_string_length(t);
		if (!ts || !tl || tl > POS_TAG_BYTES_MAX)
			continue;
		bool bad = false, dup = false;
		for (size_t j = 0; j < tl && !bad; j++)
			bad = (unsigned char)ts[j] < 0x20 || ts[j] == 0x7f;
		for (size_t j = 0; j < p->n_tags && !dup; j++)
			dup = strcmp(p->tags[j], ts) == 0;
		if (bad || dup)
			continue;
		p->tags[p->n_tags++] = pos_arena_strdup(a, ts);
		json_array_append(clean, (json_t *)t);
	}
	char *tj = json_dumps(clean, JSON_COMPACT);
	json_decref(clean);
	p->tags_json = tj ? pos_arena_strdup(a, tj) : NULL;
	free(tj);
	p->attachments_json = attachments_of(a, r->s, it);
	if (!p->metadata_json || !p->tags_json || !p->attachments_json ||
	    (it->version && !p->version))
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	if (json_is_array(it->links) && json_array_size(it->links))
		p->links = json_deep_copy(it->links);
	if (seen_add(r, p->ext))
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	if (r->s->attach && ((it->attachment && it->attachment_len) || it->n_files)) {
		/* copies of the files, written after the memory (attach_files) */
		size_t nf = (it->n_files < POS_SYNC_FILES_MAX ? it->n_files : POS_SYNC_FILES_MAX) + 1;
		p->files = pos_arena_alloc(a, nf * sizeof(*p->files));
		if (!p->files) {
			json_decref(p->links);
			return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
		}
		struct pos_sync_file all[POS_SYNC_FILES_MAX + 1];
		size_t na = 0;
		if (it->attachment && it->attachment_len)
			all[na++] = (struct pos_sync_file){original_name(it), it->attachment,
							   it->attachment_len};
		for (size_t i = 0; i < it->n_files && na < nf; i++)
			all[na++] = it->files[i];
		for (size_t i = 0; i < na; i++) {
			void *d = pos_malloc(all[i].len ? all[i].len : 1);
			const char *nm = pos_arena_strdup(a, all[i].name ? all[i].name : "attachment");
			if (!d || !nm) {
				pos_free(d);
				for (size_t j = 0; j < p->n_files; j++)
					pos_free((void *)p->files[j].data);
				json_decref(p->links);
				return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
			}
			if (all[i].len)
				memcpy(d, all[i].data, all[i].len);
			p->files[p->n_files++] = (struct pos_sync_file){nm, d, all[i].len};
			r->file_bytes += all[i].len;
		}
	}
	r->nb++;
	if ((r->nb == BATCH || r->file_bytes > BATCH_FILE_BYTES) && flush(r)) {
		if (err)
			*err = r->ferr;
		return r->fatal;
	}
	return POS_OK;
}

static enum pos_err sink_remove(void *ctx, const char *external_id, struct pos_error *err)
{
	struct run *r = ctx;
	if (flush(r)) {
		if (err)
			*err = r->ferr;
		return r->fatal;
	}
	if (!external_id || !*external_id)
		return POS_OK;
	struct pos_sync_ref ref;
	enum pos_err rc = r->s->store->sync->sync_refs_lookup(r->s->store, r->ba, r->src->user_id,
							     r->src->id, &external_id, 1, &ref);
	if (rc)
		return pos_error_set(err, rc, NULL, "store lookup failed");
	if (!ref.found)
		return POS_OK;
	struct pos_error e;
	rc = pos_memory_delete(&r->s->mem, r->src->user_id, ref.id, &e);
	if (rc == POS_ERR_NOT_FOUND)
		return POS_OK;
	if (rc) {
		if (err)
			*err = e;
		return rc;
	}
	count(r, &r->rep->removed, r->o->job ? &r->o->job->removed : NULL);
	return POS_OK;
}

static void sink_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct run *r = ctx;
	if (r->o->job) {
		atomic_store(&r->o->job->done, done);
		atomic_store(&r->o->job->total, total);
	}
	if (r->o->progress)
		r->o->progress(r->o->ctx, done, total);
}

static void sink_complete(void *ctx)
{
	((struct run *)ctx)->complete = true;
}

/* Removes this source's memories the run did not see. */
static enum pos_err remove_unseen(struct run *r)
{
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return POS_ERR_NOMEM;
	struct pos_sync_ref *refs;
	size_t n;
	enum pos_err rc = r->s->store->sync->sync_refs_list(r->s->store, a, r->src->user_id,
							   r->src->id, &refs, &n);
	for (size_t i = 0; !rc && i < n; i++) {
		if (!refs[i].external_id || seen_has(r, refs[i].external_id))
			continue;
		struct pos_error e;
		enum pos_err drc = pos_memory_delete(&r->s->mem, r->src->user_id, refs[i].id, &e);
		if (!drc)
			count(r, &r->rep->removed, r->o->job ? &r->o->job->removed : NULL);
		else if (drc != POS_ERR_NOT_FOUND)
			rc = drc;
	}
	pos_arena_destroy(a);
	return rc;
}

/* Turns the links of written items into relationships. */
static enum pos_err resolve_links(struct run *r)
{
	enum pos_err rc = POS_OK;
	for (size_t i = 0; !rc && i < r->n_links; i++) {
		struct pos_arena *a = pos_arena_new();
		if (!a)
			return POS_ERR_NOMEM;
		json_t *links = r->links[i].links;
		size_t n = json_array_size(links);
		if (n > POS_RELATED_MAX)
			n = POS_RELATED_MAX;
		const char **ext = pos_arena_alloc(a, (n ? n : 1) * sizeof(*ext));
		struct pos_sync_ref *refs = pos_arena_alloc(a, (n ? n : 1) * sizeof(*refs));
		struct pos_memory_patch p;
		memset(&p, 0, sizeof(p));
		p.v.related = pos_arena_alloc(a, (n ? n : 1) * POS_UUID_SIZE);
		if (!ext || !refs || !p.v.related) {
			pos_arena_destroy(a);
			return POS_ERR_NOMEM;
		}
		size_t k = 0;
		for (size_t j = 0; j < n; j++)
			if (json_is_string(json_array_get(links, j)))
				ext[k++] = json_string_value(json_array_get(links, j));
		rc = r->s->store->sync->sync_refs_lookup(r->s->store, a, r->src->user_id,
							r->src->id, ext, k, refs);
		for (size_t j = 0; !rc && j < k; j++) {
			if (!refs[j].found || strcmp(refs[j].id, r->links[i].id) == 0)
				continue;
			bool dup = false;
			for (size_t q = 0; q < p.v.n_related && !dup; q++)
				dup = strcmp(p.v.related[q], refs[j].id) == 0;
			if (!dup)
				memcpy(p.v.related[p.v.n_related++], refs[j].id, POS_UUID_SIZE);
		}
		if (!rc) {
			p.set = POS_PATCH_RELATED;
			struct pos_error e;
			enum pos_err prc = pos_memory_patch_record(&r->s->mem, a, r->src->user_id,
								   r->links[i].id, &p, &e);
			if (prc && prc != POS_ERR_NOT_FOUND && prc != POS_ERR_INVALID_FIELD)
				rc = prc;
		}
		pos_arena_destroy(a);
	}
	return rc;
}

enum pos_err pos_sync_sink_run(struct pos_sync *s, const struct pos_sync_adapter *ad,
			       const struct pos_sync_source *src, const json_t *config,
			       const json_t *cursor, json_t **cursor_out,
			       const struct pos_sync_run_opts *o,
			       struct pos_sync_report *rep, struct pos_error *err)
{
	struct run *r = pos_calloc(1, sizeof(*r));
	if (!r)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	r->s = s;
	r->src = src;
	r->o = o;
	r->rep = rep;
	r->ba = pos_arena_new();
	r->errors = json_array();
	struct pos_sync_sink sink = {
		.ctx = r,
		.upsert = sink_upsert,
		.remove = sink_remove,
		.skip = sink_skip,
		.progress = sink_progress,
		.complete = sink_complete,
		.cancelled = sink_cancelled,
		.egress = s->egress,
		.root = o->root,
	};
	enum pos_err rc = POS_OK;
	if (!r->ba || !r->errors)
		rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	*cursor_out = NULL;
	if (!rc)
		rc = ad->run(config, cursor, cursor_out, &sink, err);
	/* What was fetched is kept even when the run failed. */
	enum pos_err frc = flush(r);
	if (!rc && frc) {
		rc = frc;
		if (err)
			*err = r->ferr;
	}
	/* Out of time: an error of the run (kept: what was written so far). */
	bool expired = run_expired(r) && !(r->o->job && atomic_load(&r->o->job->cancel));
	if (expired) {
		json_decref(*cursor_out);
		*cursor_out = NULL;
		rc = pos_error_set(err, POS_ERR_UNAVAILABLE, NULL,
				   "the run took longer than sync_run_timeout (%lld s) and was stopped",
				   (long long)(s->run_kind.timeout_us / 1000000));
	}
	bool cancelled = !expired && sink_cancelled(r);
	if (!rc && r->complete && !cancelled)
		rc = remove_unseen(r);
	if (!cancelled && !expired) {
		enum pos_err lrc = resolve_links(r);
		if (!rc && lrc)
			rc = pos_error_set(err, lrc, NULL, "linking items failed");
	}
	if (rc) {
		json_decref(*cursor_out);
		*cursor_out = NULL;
	}
	snprintf(rep->status, sizeof(rep->status), "%s",
		 cancelled ? "cancelled" : rc ? "error" : "ok");
	if (rc && err)
		snprintf(rep->error, sizeof(rep->error), "%s",
			 err->message[0] ? err->message : pos_strerror(rc));
	rep->errors_json = r->errors ? json_dumps(r->errors, JSON_COMPACT) : NULL;
	if (cancelled && !rc)
		rc = pos_error_set(err, POS_ERR_UNAVAILABLE, NULL, "sync cancelled");
	/* free */
	batch_reset(r);
	pos_arena_destroy(r->ba);
	for (size_t i = 0; i < r->seen_cap; i++)
		pos_free(r->seen[i]);
	pos_free(r->seen);
	for (size_t i = 0; i < r->n_links; i++)
		json_decref(r->links[i].links);
	pos_free(r->links);
	json_decref(r->errors);
	pos_free(r);
	return rc;
}

enum pos_err pos_sync_run_adapter(struct pos_sync *s, const struct pos_sync_adapter *ad,
				  const struct pos_sync_source *src, const json_t *config,
				  const json_t *cursor, json_t **cursor_out,
				  struct pos_sync_report *rep, struct pos_error *err)
{
	memset(rep, 0, sizeof(*rep));
	struct pos_sync_run_opts o = {NULL, NULL, NULL, NULL};
	enum pos_err rc = pos_sync_sink_run(s, ad, src, config, cursor, cursor_out, &o, rep, err);
	free(rep->errors_json);
	rep->errors_json = NULL;
	return rc;
}
