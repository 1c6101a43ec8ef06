/*
 * format.c — the export file formats as streaming writers (format.h,
 * docs/EXPORT.md). Text formats are built in a small buffer that is
 * flushed to the fd past POS_FLUSH_AT bytes; the markdown zip goes through
 * our streaming zip writer (zipw.h), one entry per memory, so only one
 * memory's file is ever in memory, the side sections are streamed into
 * their entries, and the zip's directory waits in a spool file.
 */
#include "export/format.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/uuid.h"
#include "export/zipw.h"

#include <jansson.h>

#define POS_FLUSH_AT (1u << 20) /* large writes: one syscall per MiB */
#define POS_RECORD_MAX (64u << 20) /* one record as text (1 MiB content, escaped) */
#define MD_NAME_MAX 255 /* bytes of an attachment's name in the zip (files.h's limit) */
#define POS_FILE_CHUNK (64u << 10) /* markdown: attachment bytes per read */
#define POS_SECTION_CHUNK (64u << 10) /* markdown: side section bytes per deflate call */
#define POS_ZIP_LEVEL 6 /* zlib's default; level 1 saved only ~10% of the CPU on short notes */

enum phase { PH_MEMORIES, PH_RECORDS, PH_VALUES, PH_DONE, PH_BROKEN };

static const char *const sections[] = {"relationships", "conversations", "sync_sources"};
static const char *const singular[] = {"relationship", "conversation", "sync_source"};
static const char *const values[] = {"persona", "settings", "plugin_settings"};
#define N_SECTIONS (sizeof(sections) / sizeof(sections[0]))
#define N_VALUES (sizeof(values) / sizeof(values[0]))

struct pos_export_writer {
	enum pos_export_format fmt;
	enum pos_export_folders folders;
	int fd;
	struct pos_export_sink sink;
	enum phase phase;
	int section;            /* index in sections[] while PH_RECORDS, -1 before */
	unsigned done_sections; /* bit per section already closed */
	unsigned done_values;   /* bit per value written */
	uint64_t in_section;    /* records in the open array */
	uint64_t items, bytes;
	struct pos_buf out;     /* text formats: pending output; markdown: one file */
	struct pos_buf sec;     /* markdown: the open side section's pending bytes */
	struct pos_zipw *zip;
	int64_t exported_at;    /* markdown: the side files' time */
	json_t *files;          /* markdown: [[id, path], ...] of the last memory's
				 * attachments, their zip paths */
	char *chunk;            /* markdown: POS_FILE_CHUNK bytes of a file being copied */
};

static const char *const fmt_names[] = {"json", "jsonl", "markdown", "csv"};
static const char *const fmt_exts[] = {"json", "jsonl", "zip", "csv"};
static const char *const fmt_mimes[] = {"application/json", "application/x-ndjson",
					"application/zip", "text/csv; charset=utf-8"};

const char *pos_export_format_name(enum pos_export_format f)
{
	return (unsigned)f < POS_EXPORT__COUNT ? fmt_names[f] : "?";
}

int pos_export_format_parse(const char *s)
{
	for (int i = 0; s && i < POS_EXPORT__COUNT; i++)
		if (strcmp(s, fmt_names[i]) == 0)
			return i;
	return -1;
}

const char *pos_export_format_ext(enum pos_export_format f)
{
	return (unsigned)f < POS_EXPORT__COUNT ? fmt_exts[f] : "bin";
}

const char *pos_export_format_mime(enum pos_export_format f)
{
	return (unsigned)f < POS_EXPORT__COUNT ? fmt_mimes[f] : "application/octet-stream";
}

/* ---- output ---- */

static enum pos_err write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return POS_ERR_IO;
		}
		p += k;
		n -= (size_t)k;
	}
	return POS_OK;
}

static enum pos_err flush(struct pos_export_writer *w, bool force)
{
	if (!w->out.len || (!force && w->out.len < POS_FLUSH_AT))
		return POS_OK;
	enum pos_err rc = w->sink.write(w->sink.ctx, w->out.data, w->out.len);
	if (rc)
		return rc;
	w->bytes += w->out.len;
	pos_buf_reset(&w->out);
	return POS_OK;
}

static enum pos_err fail(struct pos_export_writer *w, enum pos_err rc)
{
	if (rc)
		w->phase = PH_BROKEN;
	return rc;
}

static enum pos_err fd_sink(void *ctx, const void *p, size_t n)
{
	return write_all(*(const int *)ctx, p, n);
}

/* ---- one memory as JSON fields (json, jsonl, markdown's sections) ---- */

static void raw_or(struct pos_jw *j, const char *json, const char *dflt)
{
	const char *v = json && *json ? json : dflt;
	pos_jw_raw(j, v, strlen(v));
}

static void memory_fields(struct pos_jw *j, const struct pos_memory *m)
{
	pos_jw_kstr(j, "id", m->id);
	pos_jw_key(j, "content");
	pos_jw_strn(j, m->content ? m->content : "", m->content ? m->content_len : 0);
	pos_jw_kstr(j, "type", pos_mem_type_name(m->type));
	pos_jw_kstr(j, "layer", pos_mem_layer_name(m->layer));
	pos_jw_kstr(j, "source", m->source);
	pos_jw_ktime(j, "created_at", m->created_at);
	pos_jw_ktime(j, "updated_at", m->updated_at);
	pos_jw_ktime(j, "last_accessed_at", m->last_accessed_at);
	pos_jw_kstr(j, "parent_memory_id", m->parent_id[0] ? m->parent_id : NULL);
	pos_jw_key(j, "related_memory_ids");
	if (m->related_json) {
		raw_or(j, m->related_json, "[]");
	} else {
		pos_jw_arr(j);
		for (size_t i = 0; i < m->n_related; i++)
			pos_jw_str(j, m->related[i]);
		pos_jw_arr_end(j);
	}
	pos_jw_key(j, "tags");
	raw_or(j, m->tags_json, "[]");
	pos_jw_key(j, "importance_score");
	pos_jw_double(j, m->importance);
	pos_jw_kint(j, "access_count", m->access_count);
	bool shared = m->shared_with_json && strcmp(m->shared_with_json, "[]") != 0;
	pos_jw_kbool(j, "is_shared", shared);
	pos_jw_key(j, "shared_with");
	raw_or(j, m->shared_with_json, "[]");
	pos_jw_key(j, "metadata");
	raw_or(j, m->metadata_json, "{}");
	pos_jw_key(j, "attachments");
	raw_or(j, m->attachments_json, "[]");
	pos_jw_kstr(j, "external_id", m->external_id);
	pos_jw_kstr(j, "sync_source_id", m->source_id);
}

static void header_fields(struct pos_jw *j, const struct pos_export_header *h,
			  enum pos_export_format fmt)
{
	pos_jw_kstr(j, "format", "personalos-export");
	pos_jw_kint(j, "version", POS_EXPORT_VERSION);
	pos_jw_kstr(j, "layout", pos_export_format_name(fmt));
	pos_jw_ktime(j, "exported_at", h->exported_at);
	pos_jw_key(j, "user");
	pos_jw_obj(j);
	pos_jw_kstr(j, "id", h->user_id);
	pos_jw_kstr(j, "email", h->user_email);
	pos_jw_obj_end(j);
	pos_jw_key(j, "filters");
	raw_or(j, h->filters_json, "{}");
	pos_jw_key(j, "include");
	raw_or(j, h->include_json, "[]");
}

/* ---- csv ---- */

static enum pos_err csv_cell(struct pos_buf *b, const char *s, size_t n, bool last)
{
	enum pos_err rc = POS_OK;
	bool quote = false;
	for (size_t i = 0; i < n && !quote; i++)
		quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
	if (quote) {
		rc = pos_buf_addc(b, '"');
		size_t from = 0;
		for (size_t i = 0; !rc && i < n; i++) {
			if (s[i] != '"')
				continue;
			rc = pos_buf_add(b, s + from, i + 1 - from);
			if (!rc)
				rc = pos_buf_addc(b, '"');
			from = i + 1;
		}
		if (!rc)
			rc = pos_buf_add(b, s + from, n - from);
		if (!rc)
			rc = pos_buf_addc(b, '"');
	} else {
		rc = pos_buf_add(b, s, n);
	}
	if (!rc)
		rc = last ? pos_buf_add(b, "\r\n", 2) : pos_buf_addc(b, ',');
	return rc;
}

static enum pos_err csv_str(struct pos_buf *b, const char *s, bool last)
{
	return csv_cell(b, s ? s : "", s ? strlen(s) : 0, last);
}

static enum pos_err csv_time(struct pos_buf *b, int64_t t, bool last)
{
	char tmp[POS_TIME_FMT_LEN] = "";
	size_t n = t == POS_TIME_NONE ? 0 : pos_time_format(t, tmp, sizeof(tmp));
	return csv_cell(b, tmp, n, last);
}

static const char csv_header[] = "id,created_at,updated_at,type,layer,source,importance_score,"
				 "tags,content,metadata,attachments\r\n";

static enum pos_err csv_memory(struct pos_buf *b, const struct pos_memory *m)
{
	char num[40];
	enum pos_err rc = csv_str(b, m->id, false);
	if (!rc)
		rc = csv_time(b, m->created_at, false);
	if (!rc)
		rc = csv_time(b, m->updated_at, false);
	if (!rc)
		rc = csv_str(b, pos_mem_type_name(m->type), false);
	if (!rc)
		rc = csv_str(b, pos_mem_layer_name(m->layer), false);
	if (!rc)
		rc = csv_str(b, m->source, false);
	if (!rc) {
		snprintf(num, sizeof(num), "%.17g", m->importance);
		rc = csv_str(b, num, false);
	}
	if (!rc)
		rc = csv_str(b, m->tags_json ? m->tags_json : "[]", false);
	if (!rc)
		rc = csv_cell(b, m->content ? m->content : "", m->content ? m->content_len : 0, false);
	if (!rc)
		rc = csv_str(b, m->metadata_json ? m->metadata_json : "{}", false);
	if (!rc)
		rc = csv_str(b, m->attachments_json ? m->attachments_json : "[]", true);
	return rc;
}

/* ---- markdown zip ---- */

static enum pos_err zip_entry(struct pos_export_writer *w, const char *path, const char *data,
			      size_t len, int64_t mtime_us)
{
	enum pos_err rc = pos_zipw_add(w->zip, path, data, len, mtime_us);
	w->bytes = pos_zipw_bytes(w->zip);
	return rc == POS_ERR_INVALID_FIELD ? POS_ERR_INTERNAL : rc; /* paths are ours */
}

/* The open side section's pending bytes into its zip entry. */
static enum pos_err md_flush_section(struct pos_export_writer *w, bool force)
{
	if (!w->sec.len || (!force && w->sec.len < POS_SECTION_CHUNK))
		return POS_OK;
	enum pos_err rc = pos_zipw_write(w->zip, w->sec.data, w->sec.len);
	pos_buf_reset(&w->sec);
	w->bytes = pos_zipw_bytes(w->zip);
	return rc;
}

/* A file-name-safe slug of the first line: ASCII letters, digits and
 * '-', at most 60 bytes; "memory" when nothing is left. */
static void slug(const char *s, size_t n, char *out, size_t cap)
{
	size_t k = 0;
	bool dash = false;
	for (size_t i = 0; i < n && s[i] != '\n' && k + 1 < cap && k < 60; i++) {
		unsigned char c = (unsigned char)s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (ok) {
			out[k++] = (char)c;
			dash = false;
		} else if (!dash && k) {
			out[k++] = '-';
			dash = true;
		}
	}
	while (k && out[k - 1] == '-')
		k--;
	if (!k) {
		snprintf(out, cap, "memory");
		return;
	}
	out[k] = '\0';
}

static void yaml_str(struct pos_jw *j, struct pos_buf *b, const char *key, const char *s)
{
	pos_buf_adds(b, key);
	pos_buf_add(b, ": ", 2);
	pos_jw_init(j, b);
	pos_jw_str(j, s);
	pos_buf_addc(b, '\n');
}

static void yaml_raw(struct pos_buf *b, const char *key, const char *json, const char *dflt)
{
	pos_buf_adds(b, key);
	pos_buf_add(b, ": ", 2);
	pos_buf_adds(b, json && *json ? json : dflt);
	pos_buf_addc(b, '\n');
}

static void yaml_time(struct pos_jw *j, struct pos_buf *b, const char *key, int64_t t)
{
	pos_buf_adds(b, key);
	pos_buf_add(b, ": ", 2);
	pos_jw_init(j, b);
	pos_jw_time(j, t);
	pos_buf_addc(b, '\n');
}

/* The note's path without ".md": FOLDER/SLUG-ID. */
static void note_base(const struct pos_export_writer *w, const struct pos_memory *m,
		      const char *name, char *out, size_t cap)
{
	if (w->folders == POS_EXPORT_BY_DATE && m->created_at != POS_TIME_NONE) {
		time_t t = (time_t)(m->created_at / 1000000 - (m->created_at % 1000000 < 0));
		struct tm tm;
		gmtime_r(&t, &tm);
		snprintf(out, cap, "%04d/%02d/%s-%s", tm.tm_year + 1900, tm.tm_mon + 1, name, m->id);
	} else {
		snprintf(out, cap, "%s/%s-%s", pos_mem_type_name(m->type), name, m->id);
	}
}

/* An attachment's name as a zip path component: '/', '\\' and control
 * bytes become '_', "." and ".." and "" become "file", at most
 * MD_NAME_MAX bytes. */
static void file_component(const char *in, char out[MD_NAME_MAX + 1])
{
	size_t k = 0;
	for (; in[k] && k < MD_NAME_MAX; k++) {
		unsigned char c = (unsigned char)in[k];
		out[k] = (c < 0x20 || c == 0x7f || c == '/' || c == '\\') ? '_' : (char)c;
	}
	/* never cut a UTF-8 sequence in two */
	if (((unsigned char)in[k] & 0xc0) == 0x80) {
		while (k && ((unsigned char)out[k - 1] & 0xc0) == 0x80)
			k--;
		if (k)
			k--;
	}
	out[k] = '\0';
	if (!k || !strcmp(out, ".") || !strcmp(out, ".."))
		snprintf(out, MD_NAME_MAX + 1, "file");
}

/*
 * Markdown: the memory's attachments (its `attachments` JSON) with a
 * "path" each, relative to the note's folder: SLUG-ID.files/NAME (a
 * second attachment of the same name is ATTACHMENT-ID-NAME). Remembers
 * [id, full zip path] of each in w->files for pos_export_writer_file.
 * Returns the rewritten JSON (malloc) or NULL to keep the list as it is
 * (not an array of objects with an id and a name: nothing is copied).
 */
static char *md_attachments(struct pos_export_writer *w, const struct pos_memory *m,
			    const char *name)
{
	json_decref(w->files);
	w->files = NULL;
	if (!m->attachments_json || !strchr(m->attachments_json, '{'))
		return NULL;
	json_t *arr = json_loads(m->attachments_json, 0, NULL);
	json_t *files = json_array();
	char base[200], comp[MD_NAME_MAX + 1], rel[MD_NAME_MAX + 300],
		full[MD_NAME_MAX + 300];
	note_base(w, m, name, base, sizeof(base));
	const char *leaf = strrchr(base, '/');
	leaf = leaf ? leaf + 1 : base;
	size_t i;
	json_t *o;
	if (json_is_array(arr) && files)
		json_array_foreach(arr, i, o) {
			const char *id = json_string_value(json_object_get(o, "id"));
			const char *nm = json_string_value(json_object_get(o, "name"));
			char idn[POS_UUID_SIZE];
			/* an imported list is anyone's text: only ids of our shape */
			if (!json_is_object(o) || !id || !nm || !pos_uuid_valid(id, strlen(id), idn))
				continue;
			file_component(nm, comp);
			snprintf(rel, sizeof(rel), "%s.files/%s", leaf, comp);
			/* the same name twice in one memory: the id tells them apart */
			size_t k;
			json_t *f;
			json_array_foreach(files, k, f) {
				if (!strcmp(json_string_value(json_array_get(f, 2)), rel)) {
					snprintf(rel, sizeof(rel), "%s.files/%.40s-%s", leaf, id, comp);
					break;
				}
			}
			snprintf(full, sizeof(full), "%s.files/%s", base, rel + strlen(leaf) + 7);
			json_object_set_new(o, "path", json_string(rel));
			json_array_append_new(files, json_pack("[sss]", id, full, rel));
		}
	char *out = json_array_size(files) ? json_dumps(arr, JSON_COMPACT) : NULL;
	json_decref(arr);
	if (out)
		w->files = files;
	else
		json_decref(files);
	return out;
}

static enum pos_err md_memory(struct pos_export_writer *w, const struct pos_memory *m)
{
	struct pos_buf *b = &w->out;
	struct pos_jw j;
	char num[40];
	pos_buf_reset(b);
	pos_buf_add(b, "---\n", 4);
	yaml_str(&j, b, "id", m->id);
	yaml_str(&j, b, "type", pos_mem_type_name(m->type));
	yaml_str(&j, b, "layer", pos_mem_layer_name(m->layer));
	yaml_str(&j, b, "source", m->source);
	yaml_time(&j, b, "created", m->created_at);
	yaml_time(&j, b, "updated", m->updated_at);
	yaml_time(&j, b, "last_accessed", m->last_accessed_at);
	snprintf(num, sizeof(num), "%.17g", m->importance);
	yaml_raw(b, "importance", num, "0");
	pos_buf_addf(b, "access_count: %lld\n", (long long)m->access_count);
	yaml_raw(b, "tags", m->tags_json, "[]");
	yaml_str(&j, b, "parent", m->parent_id[0] ? m->parent_id : NULL);
	if (m->related_json) {
		yaml_raw(b, "related", m->related_json, "[]");
	} else {
		pos_buf_adds(b, "related: ");
		pos_jw_init(&j, b);
		pos_jw_arr(&j);
		for (size_t i = 0; i < m->n_related; i++)
			pos_jw_str(&j, m->related[i]);
		pos_jw_arr_end(&j);
		pos_buf_addc(b, '\n');
	}
	yaml_raw(b, "shared_with", m->shared_with_json, "[]");
	yaml_raw(b, "metadata", m->metadata_json, "{}");
	char name[80], base[200], path[200 + MD_NAME_MAX + 16];
	slug(m->content ? m->content : "", m->content ? m->content_len : 0, name, sizeof(name));
	char *atts = md_attachments(w, m, name);
	yaml_raw(b, "attachments", atts ? atts : m->attachments_json, "[]");
	free(atts);
	yaml_str(&j, b, "external_id", m->external_id);
	pos_buf_add(b, "---\n", 4);
	enum pos_err rc = pos_buf_add(b, m->content ? m->content : "", m->content ? m->content_len : 0);
	if (rc)
		return rc;

	note_base(w, m, name, base, sizeof(base));
	snprintf(path, sizeof(path), "%s.md", base);
	return zip_entry(w, path, b->data, b->len, m->updated_at);
}

static enum pos_err md_close_section(struct pos_export_writer *w)
{
	if (w->section < 0)
		return POS_OK;
	enum pos_err rc = pos_buf_add(&w->sec, "\n]\n", 3);
	if (!rc)
		rc = md_flush_section(w, true);
	if (!rc)
		rc = pos_zipw_end(w->zip);
	w->bytes = pos_zipw_bytes(w->zip);
	return rc;
}

/* Starts side section `s`'s file, _personalos/NAME.json. */
static enum pos_err md_open_section(struct pos_export_writer *w, int s)
{
	char path[80];
	snprintf(path, sizeof(path), "_personalos/%s.json", sections[s]);
	enum pos_err rc = pos_zipw_begin(w->zip, path, w->exported_at);
	if (rc == POS_ERR_INVALID_FIELD)
		rc = POS_ERR_INTERNAL;
	if (!rc)
		rc = pos_buf_addc(&w->sec, '[');
	return rc;
}

/* ---- the writer ---- */

static enum pos_err open_common(enum pos_export_format fmt, const struct pos_export_sink *sink,
				int fd, int near_fd, const struct pos_export_header *hdr,
				enum pos_export_folders folders, struct pos_export_writer **out);

enum pos_err pos_export_writer_open(enum pos_export_format fmt, int fd,
				    const struct pos_export_header *hdr,
				    enum pos_export_folders folders,
				    struct pos_export_writer **out)
{
	if (fd < 0)
		return POS_ERR_INTERNAL;
	struct pos_export_sink sink = {fd_sink, NULL}; /* ctx: the writer's fd */
	return open_common(fmt, &sink, fd, fd, hdr, folders, out);
}

enum pos_err pos_export_writer_open_sink(enum pos_export_format fmt,
					 const struct pos_export_sink *sink, int near_fd,
					 const struct pos_export_header *hdr,
					 enum pos_export_folders folders,
					 struct pos_export_writer **out)
{
	if (!sink || !sink->write || !sink->ctx)
		return POS_ERR_INTERNAL;
	return open_common(fmt, sink, -1, near_fd, hdr, folders, out);
}

static enum pos_err open_common(enum pos_export_format fmt, const struct pos_export_sink *sink,
				int fd, int near_fd, const struct pos_export_header *hdr,
				enum pos_export_folders folders, struct pos_export_writer **out)
{
	if ((unsigned)fmt >= POS_EXPORT__COUNT || !hdr)
		return POS_ERR_INTERNAL;
	struct pos_export_writer *w = pos_calloc(1, sizeof(*w));
	if (!w)
		return POS_ERR_NOMEM;
	w->fmt = fmt;
	w->folders = folders;
	w->fd = fd;
	w->sink = *sink;
	if (!w->sink.ctx)
		w->sink.ctx = &w->fd;
	w->section = -1;
	pos_buf_init(&w->out, POS_RECORD_MAX);
	pos_buf_init(&w->sec, POS_RECORD_MAX + POS_SECTION_CHUNK + 16);
	w->exported_at = hdr->exported_at;
	struct pos_jw j;
	pos_jw_init(&j, &w->out);
	enum pos_err rc = POS_OK;
	switch (fmt) {
	case POS_EXPORT_JSON:
		pos_jw_obj(&j);
		header_fields(&j, hdr, fmt);
		rc = j.rc;
		/* the object stays open: the arrays follow */
		if (!rc)
			rc = pos_buf_adds(&w->out, ",\n\"memories\":[");
		break;
	case POS_EXPORT_JSONL:
		pos_jw_obj(&j);
		pos_jw_kstr(&j, "record", "header");
		header_fields(&j, hdr, fmt);
		pos_jw_obj_end(&j);
		rc = j.rc ? j.rc : pos_buf_addc(&w->out, '\n');
		break;
	case POS_EXPORT_CSV:
		rc = pos_buf_adds(&w->out, csv_header);
		break;
	case POS_EXPORT_MARKDOWN:
		{
			/* the zip's directory waits beside the export, never in memory */
			int spool = pos_zipw_spool(near_fd);
			rc = spool < 0 ? POS_ERR_IO
				       : pos_zipw_open(w->sink.write, w->sink.ctx, spool, POS_ZIP_LEVEL,
						       &w->zip);
		}
		if (rc)
			break;
		pos_jw_obj(&j);
		header_fields(&j, hdr, fmt);
		pos_jw_obj_end(&j);
		rc = j.rc;
		if (!rc)
			rc = zip_entry(w, "_personalos/export.json", w->out.data, w->out.len,
				       hdr->exported_at);
		pos_buf_reset(&w->out);
		break;
	default:
		break;
	}
	if (!rc)
		rc = flush(w, false);
	if (rc) {
		pos_export_writer_free(w);
		return rc;
	}
	*out = w;
	return POS_OK;
}

enum pos_err pos_export_writer_memory(struct pos_export_writer *w, const struct pos_memory *m)
{
	if (w->phase == PH_BROKEN)
		return POS_ERR_IO;
	if (w->phase != PH_MEMORIES)
		return fail(w, POS_ERR_INTERNAL);
	struct pos_jw j;
	enum pos_err rc = POS_OK;
	switch (w->fmt) {
	case POS_EXPORT_JSON:
		rc = pos_buf_adds(&w->out, w->in_section ? ",\n" : "\n");
		pos_jw_init(&j, &w->out);
		pos_jw_obj(&j);
		memory_fields(&j, m);
		pos_jw_obj_end(&j);
		if (!rc)
			rc = j.rc;
		break;
	case POS_EXPORT_JSONL:
		pos_jw_init(&j, &w->out);
		pos_jw_obj(&j);
		pos_jw_kstr(&j, "record", "memory");
		pos_jw_key(&j, "data");
		pos_jw_obj(&j);
		memory_fields(&j, m);
		pos_jw_obj_end(&j);
		pos_jw_obj_end(&j);
		rc = j.rc ? j.rc : pos_buf_addc(&w->out, '\n');
		break;
	case POS_EXPORT_CSV:
		rc = csv_memory(&w->out, m);
		break;
	case POS_EXPORT_MARKDOWN:
		rc = md_memory(w, m);
		break;
	default:
		break;
	}
	if (!rc && w->fmt != POS_EXPORT_MARKDOWN)
		rc = flush(w, false);
	if (rc)
		return fail(w, rc);
	w->in_section++;
	w->items++;
	return POS_OK;
}

static int index_of(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; s && i < n; i++)
		if (strcmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

/* Closes the open array of the json document. */
static enum pos_err json_close_array(struct pos_export_writer *w)
{
	return pos_buf_adds(&w->out, w->in_section ? "\n]" : "]");
}

enum pos_err pos_export_writer_record(struct pos_export_writer *w, const char *section,
				      const char *json, size_t len)
{
	if (w->phase == PH_BROKEN)
		return POS_ERR_IO;
	int s = index_of(sections, N_SECTIONS, section);
	if (s < 0)
		return POS_ERR_INVALID_FIELD;
	if (w->phase > PH_RECORDS || (w->done_sections & (1u << s)))
		return fail(w, POS_ERR_INTERNAL);
	enum pos_err rc = POS_OK;
	bool change = w->phase == PH_MEMORIES || w->section != s;
	if (change) {
		if (w->fmt == POS_EXPORT_JSON) {
			rc = json_close_array(w);
			if (!rc)
				rc = pos_buf_addf(&w->out, ",\n\"%s\":[", sections[s]);
		} else if (w->fmt == POS_EXPORT_MARKDOWN) {
			rc = md_close_section(w);
			if (!rc)
				rc = md_open_section(w, s);
		}
		if (w->section >= 0)
			w->done_sections |= 1u << w->section;
		w->phase = PH_RECORDS;
		w->section = s;
		w->in_section = 0;
	}
	switch (w->fmt) {
	case POS_EXPORT_JSON:
		if (!rc)
			rc = pos_buf_adds(&w->out, w->in_section ? ",\n" : "\n");
		if (!rc)
			rc = pos_buf_add(&w->out, json, len);
		break;
	case POS_EXPORT_JSONL:
		if (!rc)
			rc = pos_buf_addf(&w->out, "{\"record\":\"%s\",\"data\":", singular[s]);
		if (!rc)
			rc = pos_buf_add(&w->out, json, len);
		if (!rc)
			rc = pos_buf_add(&w->out, "}\n", 2);
		break;
	case POS_EXPORT_MARKDOWN:
		if (!rc)
			rc = pos_buf_adds(&w->sec, w->in_section ? ",\n" : "\n");
		if (!rc)
			rc = pos_buf_add(&w->sec, json, len);
		if (rc == POS_ERR_BODY_TOO_LARGE)
			rc = POS_ERR_CONTENT_TOO_LARGE;
		if (!rc)
			rc = md_flush_section(w, false);
		break;
	default:
		break;
	}
	if (!rc)
		rc = flush(w, false);
	if (rc)
		return fail(w, rc);
	w->in_section++;
	return POS_OK;
}

/* Leaves the memories or records phase for the values (or the end). */
static enum pos_err end_arrays(struct pos_export_writer *w)
{
	enum pos_err rc = POS_OK;
	if (w->phase > PH_RECORDS)
		return POS_OK;
	if (w->fmt == POS_EXPORT_JSON)
		rc = json_close_array(w);
	else if (w->fmt == POS_EXPORT_MARKDOWN)
		rc = md_close_section(w);
	if (w->section >= 0)
		w->done_sections |= 1u << w->section;
	w->section = -1;
	w->in_section = 0;
	w->phase = PH_VALUES;
	return rc;
}

enum pos_err pos_export_writer_value(struct pos_export_writer *w, const char *key,
				     const char *json, size_t len)
{
	if (w->phase == PH_BROKEN)
		return POS_ERR_IO;
	int v = index_of(values, N_VALUES, key);
	if (v < 0)
		return POS_ERR_INVALID_FIELD;
	if (w->phase > PH_VALUES || (w->done_values & (1u << v)))
		return fail(w, POS_ERR_INTERNAL);
	enum pos_err rc = end_arrays(w);
	char path[80];
	switch (w->fmt) {
	case POS_EXPORT_JSON:
		if (!rc)
			rc = pos_buf_addf(&w->out, ",\n\"%s\":", values[v]);
		if (!rc)
			rc = pos_buf_add(&w->out, json, len);
		break;
	case POS_EXPORT_JSONL:
		if (!rc)
			rc = pos_buf_addf(&w->out, "{\"record\":\"%s\",\"data\":", values[v]);
		if (!rc)
			rc = pos_buf_add(&w->out, json, len);
		if (!rc)
			rc = pos_buf_add(&w->out, "}\n", 2);
		break;
	case POS_EXPORT_MARKDOWN:
		snprintf(path, sizeof(path), "_personalos/%s.json", values[v]);
		if (!rc)
			rc = zip_entry(w, path, json, len, w->exported_at);
		break;
	default:
		break;
	}
	if (!rc)
		rc = flush(w, false);
	if (rc)
		return fail(w, rc);
	w->done_values |= 1u << v;
	return POS_OK;
}

enum pos_err pos_export_writer_finish(struct pos_export_writer *w, uint64_t *bytes)
{
	if (w->phase == PH_BROKEN)
		return POS_ERR_IO;
	if (w->phase == PH_DONE)
		return fail(w, POS_ERR_INTERNAL);
	enum pos_err rc = end_arrays(w);
	if (!rc && w->fmt == POS_EXPORT_JSON)
		rc = pos_buf_add(&w->out, "\n}\n", 3);
	if (!rc && w->fmt == POS_EXPORT_MARKDOWN) {
		rc = pos_zipw_finish(w->zip);
		w->bytes = pos_zipw_bytes(w->zip);
	}
	if (!rc)
		rc = flush(w, true);
	if (rc)
		return fail(w, rc);
	w->phase = PH_DONE;
	if (bytes)
		*bytes = w->bytes;
	return POS_OK;
}

uint64_t pos_export_writer_bytes(const struct pos_export_writer *w)
{
	return w->bytes + (w->fmt == POS_EXPORT_MARKDOWN ? 0 : w->out.len);
}

uint64_t pos_export_writer_items(const struct pos_export_writer *w)
{
	return w->items;
}

void pos_export_writer_free(struct pos_export_writer *w)
{
	if (!w)
		return;
	pos_zipw_free(w->zip);
	json_decref(w->files);
	pos_free(w->chunk);
	pos_buf_free(&w->out);
	pos_buf_free(&w->sec);
	pos_free(w);
}

const char *pos_export_writer_file_id(const struct pos_export_writer *w, size_t i)
{
	if (w->fmt != POS_EXPORT_MARKDOWN || w->phase != PH_MEMORIES)
		return NULL;
	return json_string_value(json_array_get(json_array_get(w->files, i), 0));
}

enum pos_err pos_export_writer_file(struct pos_export_writer *w, size_t i, uint64_t size,
				    pos_export_read_fn read, void *ctx, int64_t mtime_us)
{
	if (w->phase == PH_BROKEN)
		return POS_ERR_IO;
	const char *path = json_string_value(json_array_get(json_array_get(w->files, i), 1));
	if (w->fmt != POS_EXPORT_MARKDOWN || w->phase != PH_MEMORIES || !path)
		return fail(w, POS_ERR_INTERNAL);
	if (!w->chunk && !(w->chunk = pos_malloc(POS_FILE_CHUNK)))
		return fail(w, POS_ERR_NOMEM);
	enum pos_err rc = pos_zipw_begin(w->zip, path, mtime_us);
	if (rc == POS_ERR_INVALID_FIELD)
		rc = POS_ERR_INTERNAL; /* paths are ours */
	uint64_t off = 0;
	while (!rc && off < size) {
		size_t want = size - off < POS_FILE_CHUNK ? (size_t)(size - off) : POS_FILE_CHUNK, got = 0;
		rc = read(ctx, off, w->chunk, want, &got);
		if (!rc && !got)
			rc = POS_ERR_IO; /* shorter than it said */
		if (!rc)
			rc = pos_zipw_write(w->zip, w->chunk, got);
		off += got;
	}
	if (!rc)
		rc = pos_zipw_end(w->zip);
	w->bytes = pos_zipw_bytes(w->zip);
	return rc ? fail(w, rc) : POS_OK;
}
