/*
 * export.c — the export service (export.h): parses what to export and
 * writes one user's data through a format writer, a batch of memories at
 * a time (each batch in its own arena). Relationships are found per batch
 * and parked in an unlinked temp file beside the export until the
 * memories are written, since every format puts them after the memories.
 */
#include "export/export.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/json.h"
#include "export/seal.h"
#include "export/zipw.h"
#include "files/blob.h"

static const char *const inc_names[] = {"memories",      "relationships", "conversations",
					"persona",       "settings",      "sync_sources"};
#define N_INC (sizeof(inc_names) / sizeof(inc_names[0]))

static const char *const filter_keys[] = {"type", "layer", "source", "tag", "after", "before"};

static enum pos_err parse_filters(struct pos_arena *a, const json_t *f,
				  struct pos_memory_query *q, struct pos_error *err)
{
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)f, key, v) {
		size_t k = 0;
		while (k < sizeof(filter_keys) / sizeof(filter_keys[0]) && strcmp(filter_keys[k], key))
			k++;
		if (k == sizeof(filter_keys) / sizeof(filter_keys[0]))
			return pos_error_set(err, POS_ERR_INVALID_FIELD, "filters",
					     "unknown filter (type, layer, source, tag, after, before)");
		if (json_is_null(v))
			continue;
		const char *s = json_string_value(v);
		if (!s || !*s)
			return pos_error_set(err, POS_ERR_INVALID_FIELD, "filters",
					     "a filter is a non-empty string");
		int64_t t;
		switch (k) {
		case 0:
			if ((q->type = pos_mem_type_parse(s)) < 0)
				return pos_error_set(err, POS_ERR_INVALID_FIELD, "filters", "unknown type");
			break;
		case 1:
			if ((q->layer = pos_mem_layer_parse(s)) < 0)
				return pos_error_set(err, POS_ERR_INVALID_FIELD, "filters", "unknown layer");
			break;
		case 2:
			q->source = pos_arena_strdup(a, s);
			break;
		case 3: {
			const char **tags = pos_arena_alloc(a, sizeof(*tags));
			if (!tags)
				return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
			tags[0] = pos_arena_strdup(a, s);
			q->tags = tags;
			q->n_tags = 1;
			break;
		}
		default:
			if (!pos_time_parse(s, strlen(s), true, &t))
				return pos_error_set(err, POS_ERR_INVALID_FIELD, "filters",
						     "after/before: an RFC 3339 time or a date");
			if (k == 4)
				q->after = t;
			else
				q->before = t;
			break;
		}
	}
	return POS_OK;
}

enum pos_err pos_export_request_parse(struct pos_arena *a, const char *user_id,
				      const json_t *body, struct pos_export_request *out,
				      struct pos_error *err)
{
	memset(out, 0, sizeof(*out));
	out->q.user_id = user_id;
	out->q.type = -1;
	out->q.layer = -1;
	out->q.after = POS_TIME_NONE;
	out->q.before = POS_TIME_NONE;
	out->q.hide_chat = false; /* everything, the assistant's exchanges too */
	if (!json_is_object(body))
		return pos_error_set(err, POS_ERR_INVALID_REQUEST, NULL, "a JSON object is expected");
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)body, key, v) {
		if (strcmp(key, "format") && strcmp(key, "filters") && strcmp(key, "include") &&
		    strcmp(key, "folders") && strcmp(key, "passphrase"))
			return pos_error_set(err, POS_ERR_INVALID_FIELD, key, "unknown field");
	}
	json_t *f = json_object_get(body, "format");
	if (!f)
		return pos_error_set(err, POS_ERR_MISSING_FIELD, "format", "format is required");
	int fmt = pos_export_format_parse(json_string_value(f));
	if (fmt < 0)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "format",
				     "format: json, jsonl, markdown or csv");
	out->format = (enum pos_export_format)fmt;

	json_t *fo = json_object_get(body, "folders");
	if (fo && !json_is_null(fo)) {
		const char *s = json_string_value(fo);
		if (s && strcmp(s, "type") == 0)
			out->folders = POS_EXPORT_BY_TYPE;
		else if (s && strcmp(s, "date") == 0)
			out->folders = POS_EXPORT_BY_DATE;
		else
			return pos_error_set(err, POS_ERR_INVALID_FIELD, "folders", "folders: type or date");
	}

	json_t *pp = json_object_get(body, "passphrase");
	if (pp && !json_is_null(pp)) {
		size_t n = json_string_length(pp);
		if (!json_is_string(pp) || n < POS_SEAL_PASSPHRASE_MIN || n > POS_SEAL_PASSPHRASE_MAX)
			return pos_error_set(err, POS_ERR_INVALID_FIELD, "passphrase",
					     "passphrase: 8 to 1024 bytes");
		out->passphrase = pos_arena_strdup(a, json_string_value(pp));
	}

	json_t *inc = json_object_get(body, "include");
	if (!inc || json_is_null(inc)) {
		out->include = POS_EXPORT_INC_ALL;
	} else {
		if (!json_is_array(inc) || json_array_size(inc) > 16)
			return pos_error_set(err, POS_ERR_INVALID_FIELD, "include",
					     "include: an array of section names");
		size_t i;
		json_array_foreach(inc, i, v) {
			const char *s = json_string_value(v);
			size_t k = 0;
			while (s && k < N_INC && strcmp(inc_names[k], s))
				k++;
			if (!s || k == N_INC)
				return pos_error_set(err, POS_ERR_INVALID_FIELD, "include",
						     "unknown section (memories, relationships, "
						     "conversations, persona, settings, sync_sources)");
			out->include |= 1u << k;
		}
	}
	struct pos_buf b;
	struct pos_jw w;
	pos_buf_init(&b, 4096);
	pos_jw_init(&w, &b);
	pos_jw_arr(&w);
	for (size_t k = 0; k < N_INC; k++)
		if (out->include & (1u << k))
			pos_jw_str(&w, inc_names[k]);
	pos_jw_arr_end(&w);
	out->include_json = w.rc ? NULL : pos_arena_strdup(a, b.data);
	pos_buf_free(&b);

	json_t *fl = json_object_get(body, "filters");
	out->filters_json = "{}";
	if (fl && !json_is_null(fl)) {
		if (!json_is_object(fl))
			return pos_error_set(err, POS_ERR_INVALID_FIELD, "filters",
					     "filters: an object");
		enum pos_err rc = parse_filters(a, fl, &out->q, err);
		if (rc)
			return rc;
		char *s = json_dumps(fl, JSON_COMPACT | JSON_SORT_KEYS);
		out->filters_json = s ? pos_arena_strdup(a, s) : NULL;
		free(s);
	}
	if (!out->include_json || !out->filters_json)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	return POS_OK;
}

/* ---- writing ---- */

static bool stop(const struct pos_export_hooks *h)
{
	return h && h->should_stop && h->should_stop(h->ctx);
}

static void progress(const struct pos_export_hooks *h, uint64_t done, uint64_t total)
{
	if (h && h->progress)
		h->progress(h->ctx, done, total);
}

static enum pos_err edge_line(struct pos_buf *b, const char *source, const char *target,
			      const char *type, double strength, FILE *side)
{
	struct pos_jw w;
	pos_buf_reset(b);
	pos_jw_init(&w, b);
	pos_jw_obj(&w);
	pos_jw_kstr(&w, "memory_id", source);
	pos_jw_kstr(&w, "related_memory_id", target);
	pos_jw_kstr(&w, "type", type);
	pos_jw_key(&w, "strength");
	pos_jw_double(&w, strength);
	pos_jw_obj_end(&w);
	if (!w.rc && pos_buf_addc(b, '\n'))
		w.rc = POS_ERR_NOMEM;
	if (!w.rc && fwrite(b->data, 1, b->len, side) != b->len)
		w.rc = POS_ERR_IO;
	return w.rc;
}

/* Appends the batch's relationships to `side`: the rows whose source is
 * in the batch (so an edge between two batches is written once; one
 * indexed lookup per memory), then the parent links, which the memories
 * carry themselves. */
static enum pos_err batch_edges(struct pos_store *st, struct pos_arena *a, const char *user_id,
				const struct pos_memory *m, const bool *found, size_t n, FILE *side)
{
	struct pos_buf b;
	struct pos_jw w;
	pos_buf_init(&b, 1u << 20);
	pos_jw_init(&w, &b);
	pos_jw_arr(&w);
	for (size_t i = 0; i < n; i++)
		if (found[i])
			pos_jw_int(&w, m[i].seq);
	pos_jw_arr_end(&w);
	enum pos_err rc = w.rc;
	struct pos_graph_edge *e = NULL;
	size_t ne = 0;
	if (!rc)
		rc = st->memories->relationships_from(st, a, user_id, b.data,
						 (unsigned)(n * POS_EXPORT_EDGES_PER_MEMORY), &e, &ne);
	for (size_t i = 0; !rc && i < ne; i++)
		rc = edge_line(&b, e[i].source, e[i].target, e[i].type, e[i].strength, side);
	for (size_t i = 0; !rc && i < n; i++)
		if (found[i] && m[i].parent_id[0])
			rc = edge_line(&b, m[i].id, m[i].parent_id, "parent", 1.0, side);
	pos_buf_free(&b);
	return rc;
}

static enum pos_err blob_read(void *ctx, uint64_t off, void *buf, size_t n, size_t *got)
{
	return pos_blob_read(ctx, off, buf, n, got);
}

/* The attachment files of the memory just written (markdown), streamed
 * into the zip one by one. */
static enum pos_err write_files(const char *user_id, struct pos_export_writer *w,
				const struct pos_export_hooks *hooks, struct pos_error *err)
{
	if (!hooks || !hooks->open_file)
		return POS_OK;
	enum pos_err rc = POS_OK;
	const char *id;
	for (size_t i = 0; !rc && (id = pos_export_writer_file_id(w, i)); i++) {
		struct pos_arena *a = pos_arena_new();
		if (!a)
			return POS_ERR_NOMEM;
		struct pos_blob_reader *rd = NULL;
		uint64_t size = 0;
		int64_t created = POS_TIME_NONE;
		rc = hooks->open_file(hooks->files_ctx, a, user_id, id, &rd, &size, &created);
		if (rc == POS_ERR_NOT_FOUND) {
			rc = POS_OK; /* its blob is gone: the path in the note dangles */
		} else if (rc) {
			pos_error_set(err, rc, NULL, "cannot read an attachment: %s", pos_strerror(rc));
		} else {
			rc = pos_export_writer_file(w, i, size, blob_read, rd, created);
			if (rc)
				pos_error_set(err, rc, NULL, "cannot copy an attachment: %s",
					      pos_strerror(rc));
		}
		pos_blob_close(rd);
		pos_arena_destroy(a);
	}
	return rc;
}

static enum pos_err write_memories(struct pos_store *st, const char *user_id,
				   const struct pos_export_request *req,
				   struct pos_export_writer *w, FILE *side,
				   const struct pos_export_hooks *hooks, struct pos_error *err)
{
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return POS_ERR_NOMEM;
	struct pos_memory_query q = req->q;
	q.user_id = user_id;
	int64_t *seqs = NULL;
	size_t n = 0;
	enum pos_err rc = st->memories->filter_seqs(st, a, &q, POS_EXPORT_ITEMS_MAX + 1, &seqs, &n);
	if (!rc && n > POS_EXPORT_ITEMS_MAX)
		rc = pos_error_set(err, POS_ERR_CONTENT_TOO_LARGE, NULL,
				   "more than %d memories: export with filters", POS_EXPORT_ITEMS_MAX);
	progress(hooks, 0, n);
	for (size_t at = 0; !rc && at < n; at += POS_EXPORT_BATCH) {
		if (stop(hooks)) {
			rc = POS_ERR_UNAVAILABLE;
			break;
		}
		size_t k = n - at < POS_EXPORT_BATCH ? n - at : POS_EXPORT_BATCH;
		struct pos_arena *b = pos_arena_new();
		struct pos_memory *m = b ? pos_arena_zalloc(b, k * sizeof(*m)) : NULL;
		bool *found = b ? pos_arena_zalloc(b, k * sizeof(*found)) : NULL;
		rc = m && found ? POS_OK : POS_ERR_NOMEM;
		if (!rc)
			rc = st->memories->memories_by_seq(st, b, user_id, seqs + at, k, m, found);
		for (size_t i = 0; !rc && i < k && (req->include & POS_EXPORT_INC_MEMORIES); i++)
			if (found[i] && !(rc = pos_export_writer_memory(w, &m[i])))
				rc = write_files(user_id, w, hooks, err);
		if (!rc && side)
			rc = batch_edges(st, b, user_id, m, found, k, side);
		pos_arena_destroy(b);
		progress(hooks, at + k, n);
	}
	pos_arena_destroy(a);
	return rc;
}

static enum pos_err copy_side(struct pos_export_writer *w, FILE *side)
{
	if (fflush(side) || fseek(side, 0, SEEK_SET))
		return POS_ERR_IO;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	enum pos_err rc = POS_OK;
	while (!rc && (len = getline(&line, &cap, side)) > 0) {
		if (line[len - 1] == '\n')
			len--;
		rc = pos_export_writer_record(w, "relationships", line, (size_t)len);
	}
	free(line);
	if (!rc && ferror(side))
		rc = POS_ERR_IO;
	return rc;
}

static enum pos_err write_conversations(struct pos_store *st, const char *user_id,
					struct pos_export_writer *w,
					const struct pos_export_hooks *hooks)
{
	enum pos_err rc = POS_OK;
	for (unsigned off = 0;; off += 100) {
		if (stop(hooks))
			return POS_ERR_UNAVAILABLE;
		struct pos_arena *a = pos_arena_new();
		if (!a)
			return POS_ERR_NOMEM;
		struct pos_conversation *c = NULL;
		size_t n = 0;
		int64_t total = 0;
		rc = st->chat->conversation_list(st, a, user_id, 100, off, &c, &n, &total);
		struct pos_buf b;
		pos_buf_init(&b, 256u << 20);
		for (size_t i = 0; !rc && i < n; i++) {
			struct pos_chat_message *msg = NULL;
			size_t nm = 0;
			int64_t lim = c[i].message_count;
			if (lim > POS_EXPORT_MESSAGES_MAX)
				lim = POS_EXPORT_MESSAGES_MAX;
			if (lim > 0)
				rc = st->chat->messages_list(st, a, user_id, c[i].id, (unsigned)lim, &msg, &nm);
			struct pos_jw j;
			pos_buf_reset(&b);
			pos_jw_init(&j, &b);
			pos_jw_obj(&j);
			pos_jw_kstr(&j, "id", c[i].id);
			pos_jw_kstr(&j, "title", c[i].title);
			pos_jw_ktime(&j, "created_at", c[i].created_at);
			pos_jw_ktime(&j, "updated_at", c[i].updated_at);
			pos_jw_key(&j, "messages");
			pos_jw_arr(&j);
			for (size_t k = 0; k < nm; k++) {
				pos_jw_obj(&j);
				pos_jw_kstr(&j, "id", msg[k].id);
				pos_jw_kstr(&j, "role", msg[k].role);
				pos_jw_kstr(&j, "content", msg[k].content);
				pos_jw_key(&j, "memories_used");
				const char *mu = msg[k].memories_used_json;
				pos_jw_raw(&j, mu && *mu ? mu : "[]", mu && *mu ? strlen(mu) : 2);
				pos_jw_kstr(&j, "memory_id", msg[k].memory_id[0] ? msg[k].memory_id : NULL);
				pos_jw_ktime(&j, "created_at", msg[k].created_at);
				pos_jw_obj_end(&j);
			}
			pos_jw_arr_end(&j);
			pos_jw_obj_end(&j);
			if (!rc)
				rc = j.rc;
			if (!rc)
				rc = pos_export_writer_record(w, "conversations", b.data, b.len);
		}
		pos_buf_free(&b);
		pos_arena_destroy(a);
		if (rc || n < 100)
			return rc;
	}
}

static enum pos_err write_sources(struct pos_store *st, const char *user_id,
				  struct pos_export_writer *w)
{
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return POS_ERR_NOMEM;
	struct pos_sync_source *s = NULL;
	size_t n = 0;
	enum pos_err rc = st->sync->sync_source_list(st, a, user_id, &s, &n);
	struct pos_buf b;
	pos_buf_init(&b, 1u << 20);
	for (size_t i = 0; !rc && i < n; i++) {
		struct pos_jw j;
		pos_buf_reset(&b);
		pos_jw_init(&j, &b);
		pos_jw_obj(&j);
		pos_jw_kstr(&j, "id", s[i].id);
		pos_jw_kstr(&j, "kind", s[i].kind);
		pos_jw_kstr(&j, "name", s[i].name);
		/* config_json never holds the secrets: they live sealed apart */
		pos_jw_key(&j, "config");
		const char *cfg = s[i].config_json && *s[i].config_json ? s[i].config_json : "{}";
		pos_jw_raw(&j, cfg, strlen(cfg));
		pos_jw_kint(&j, "interval_s", s[i].interval_s);
		pos_jw_kbool(&j, "has_secrets", s[i].secrets != NULL);
		pos_jw_ktime(&j, "created_at", s[i].created_at);
		pos_jw_obj_end(&j);
		rc = j.rc ? j.rc : pos_export_writer_record(w, "sync_sources", b.data, b.len);
	}
	pos_buf_free(&b);
	pos_arena_destroy(a);
	return rc;
}

static enum pos_err write_value(struct pos_export_writer *w, const char *key, const char *json)
{
	const char *v = json && *json ? json : "{}";
	return pos_export_writer_value(w, key, v, strlen(v));
}

enum pos_err pos_export_write(struct pos_store *st, const char *user_id,
			      const struct pos_export_request *req, int fd,
			      const struct pos_export_hooks *hooks,
			      struct pos_export_result *res, struct pos_error *err)
{
	if (st->keys->data_unlocked && !st->keys->data_unlocked(st, user_id))
		return pos_error_set(err, POS_ERR_LOCKED, NULL,
				     "encrypted data is locked: log in again to export it");
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return POS_ERR_NOMEM;
	struct pos_export_writer *w = NULL;
	struct pos_seal *seal = NULL;
	FILE *side = NULL;
	struct pos_user u;
	enum pos_err rc = st->accounts->user_by_id(st, a, user_id, &u);
	if (rc)
		goto out;
	struct pos_export_header h = {.user_id = user_id,
				      .user_email = u.email,
				      .exported_at = pos_now_us(),
				      .filters_json = req->filters_json,
				      .include_json = req->include_json};
	if (req->passphrase) {
		if ((rc = pos_seal_begin(fd, req->passphrase, &seal)))
			goto out;
		struct pos_export_sink sink = {pos_seal_write, seal};
		rc = pos_export_writer_open_sink(req->format, &sink, fd, &h, req->folders, &w);
	} else {
		rc = pos_export_writer_open(req->format, fd, &h, req->folders, &w);
	}
	if (rc)
		goto out;
	if ((req->include & POS_EXPORT_INC_RELATIONSHIPS) && req->format != POS_EXPORT_CSV) {
		int sfd = pos_zipw_spool(fd); /* unlinked, beside the export */
		side = sfd >= 0 ? fdopen(sfd, "w+") : NULL;
		if (!side) {
			if (sfd >= 0)
				close(sfd);
			rc = POS_ERR_IO;
			goto out;
		}
		setvbuf(side, NULL, _IOFBF, 1u << 20); /* stdio's own, freed by fclose */
	}
	if (req->include & (POS_EXPORT_INC_MEMORIES | POS_EXPORT_INC_RELATIONSHIPS)) {
		rc = write_memories(st, user_id, req, w, side, hooks, err);
		if (rc)
			goto out;
	}
	if (side && (rc = copy_side(w, side)))
		goto out;
	if (req->format != POS_EXPORT_CSV) {
		if ((req->include & POS_EXPORT_INC_CONVERSATIONS) &&
		    (rc = write_conversations(st, user_id, w, hooks)))
			goto out;
		if ((req->include & POS_EXPORT_INC_SYNC_SOURCES) && (rc = write_sources(st, user_id, w)))
			goto out;
		if ((req->include & POS_EXPORT_INC_PERSONA) &&
		    (rc = write_value(w, "persona", u.persona_json)))
			goto out;
		if ((req->include & POS_EXPORT_INC_SETTINGS) &&
		    (rc = write_value(w, "settings", u.settings_json)))
			goto out;
	}
	uint64_t bytes = 0;
	rc = pos_export_writer_finish(w, &bytes);
	if (!rc && seal) {
		off_t end;
		rc = pos_seal_end(seal);
		if (!rc && (end = lseek(fd, 0, SEEK_CUR)) >= 0)
			bytes = (uint64_t)end;
	}
	if (!rc && res) {
		res->items = pos_export_writer_items(w);
		res->bytes = bytes;
	}
out:
	if (rc && err && err->code == POS_OK)
		pos_error_set(err, rc, NULL, NULL);
	if (side)
		fclose(side);
	pos_export_writer_free(w);
	pos_seal_free(seal);
	pos_arena_destroy(a);
	return rc;
}
