/*
 * reader_zip.c — the zip import formats (reader.h): the PersonalOS
 * Markdown zip, an Obsidian vault and Google Takeout's Keep folder. The
 * upload is mapped, checked whole against the sync upload caps
 * (pos_upload_zip_check) and then read one entry at a time.
 */
#include "export/reader_internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>

#include "base/clock.h"
#include "sync/markdown_parse.h"
#include "sync/upload.h"

enum pos_err pos_import_zip_open(struct pos_import_reader *r, struct pos_error *err)
{
	if (r->size == 0)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "file", "the upload is empty");
	r->map = mmap(NULL, r->size, PROT_READ, MAP_PRIVATE, fileno(r->f), 0);
	if (r->map == MAP_FAILED) {
		r->map = NULL;
		return pos_error_set(err, POS_ERR_IO, NULL, "cannot read the upload");
	}
	r->map_len = r->size;
	enum pos_err rc = pos_upload_zip_check(r->map, r->map_len, err);
	if (rc)
		return rc;
	r->zip = archive_read_new();
	if (!r->zip)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	archive_read_support_format_zip(r->zip);
	archive_read_support_filter_none(r->zip);
	if (archive_read_open_memory(r->zip, r->map, r->map_len) != ARCHIVE_OK)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "file", "the upload is not a zip file");
	return POS_OK;
}

void pos_import_zip_free(struct pos_import_reader *r)
{
	if (r->zip)
		archive_read_free(r->zip);
	r->zip = NULL;
	if (r->map)
		munmap(r->map, r->map_len);
	r->map = NULL;
	json_decref(r->pending);
	r->pending = NULL;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n > k && strcasecmp(s + n - k, suffix) == 0;
}

/* ---- Keep ---- */

json_t *pos_import_keep_note(const json_t *note, const char *name)
{
	json_t *text = json_object_get(note, "textContent");
	json_t *list = json_object_get(note, "listContent");
	if (!json_is_object(note) || (!json_is_string(text) && !json_is_array(list)))
		return NULL;
	if (json_is_true(json_object_get(note, "isTrashed")))
		return json_null();
	struct pos_buf b;
	pos_buf_init(&b, POS_IMPORT_ITEM_MAX);
	const char *title = json_string_value(json_object_get(note, "title"));
	if (title && *title) {
		pos_buf_adds(&b, title);
		pos_buf_add(&b, "\n\n", 2);
	}
	if (json_is_string(text))
		pos_buf_adds(&b, json_string_value(text));
	size_t i;
	json_t *li;
	json_array_foreach(list, i, li) {
		const char *t = json_string_value(json_object_get(li, "text"));
		if (!t)
			continue;
		if (b.len && b.data[b.len - 1] != '\n')
			pos_buf_addc(&b, '\n');
		pos_buf_adds(&b, json_is_true(json_object_get(li, "isChecked")) ? "- [x] " : "- [ ] ");
		pos_buf_adds(&b, t);
	}
	json_t *m = json_object();
	json_object_set_new(m, "content", json_stringn(b.data ? b.data : "", b.len));
	pos_buf_free(&b);
	json_object_set_new(m, "type", json_string("note"));
	json_object_set_new(m, "source", json_string("google_keep"));
	json_object_set_new(m, "layer", json_string(json_is_true(json_object_get(note, "isArchived"))
							    ? "archive"
							    : "active"));
	json_t *c = json_object_get(note, "createdTimestampUsec");
	json_t *u = json_object_get(note, "userEditedTimestampUsec");
	if (json_is_integer(c) && json_integer_value(c) > 0)
		json_object_set_new(m, "created_at", pos_import_time(json_integer_value(c)));
	if (json_is_integer(u) && json_integer_value(u) > 0)
		json_object_set_new(m, "updated_at", pos_import_time(json_integer_value(u)));
	json_t *tags = json_array();
	json_array_foreach(json_object_get(note, "labels"), i, li) {
		const char *l = json_string_value(json_object_get(li, "name"));
		if (l && *l)
			json_array_append_new(tags, json_string(l));
	}
	json_object_set_new(m, "tags", tags);
	json_t *md = json_object();
	if (title)
		json_object_set_new(md, "title", json_string(title));
	json_t *color = json_object_get(note, "color");
	if (json_is_string(color))
		json_object_set(md, "color", color);
	json_object_set_new(md, "pinned", json_boolean(json_is_true(json_object_get(note, "isPinned"))));
	json_object_set_new(m, "metadata", md);
	char key[600];
	const char *base = strrchr(name, '/');
	snprintf(key, sizeof(key), "keep:%s", base ? base + 1 : name);
	json_object_set_new(m, "key", json_string(key));
	return m;
}

/* ---- Markdown: the PersonalOS front matter, else an Obsidian note ---- */

static const struct {
	const char *yaml, *field;
} fm_keys[] = {
	{"id", "id"},
	{"type", "type"},
	{"layer", "layer"},
	{"source", "source"},
	{"created", "created_at"},
	{"updated", "updated_at"},
	{"last_accessed", "last_accessed_at"},
	{"importance", "importance_score"},
	{"access_count", "access_count"},
	{"tags", "tags"},
	{"parent", "parent_memory_id"},
	{"related", "related_memory_ids"},
	{"shared_with", "shared_with"},
	{"metadata", "metadata"},
	{"attachments", "attachments"},
	{"external_id", "external_id"},
};

/* The front matter as format.c writes it (`key: <JSON>` lines), or NULL
 * when the note is not one of ours. */
static json_t *pos_front_matter(const char *d, size_t len)
{
	if (len < 8 || memcmp(d, "---\n", 4) != 0)
		return NULL;
	json_t *m = json_object();
	size_t at = 4;
	while (at < len) {
		const char *nl = memchr(d + at, '\n', len - at);
		if (!nl)
			break;
		size_t n = (size_t)(nl - (d + at));
		if (n == 3 && memcmp(d + at, "---", 3) == 0) {
			json_object_set_new(m, "content", json_stringn(d + at + 4, len - at - 4));
			if (json_is_string(json_object_get(m, "id")) && json_object_get(m, "type"))
				return m;
			break;
		}
		const char *colon = memchr(d + at, ':', n);
		json_error_t je;
		json_t *v = NULL;
		if (colon && colon + 2 <= nl)
			v = json_loadb(colon + 2, (size_t)(nl - colon - 2),
				       JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
		if (!v)
			break;
		size_t k = 0, kl = (size_t)(colon - (d + at));
		while (k < sizeof(fm_keys) / sizeof(fm_keys[0]) &&
		       (strlen(fm_keys[k].yaml) != kl || memcmp(fm_keys[k].yaml, d + at, kl)))
			k++;
		if (k < sizeof(fm_keys) / sizeof(fm_keys[0]))
			json_object_set_new(m, fm_keys[k].field, v);
		else
			json_decref(v);
		at += n + 1;
	}
	json_decref(m);
	return NULL;
}

static json_t *obsidian_note(const char *path, const char *d, size_t len, int64_t mtime)
{
	struct pos_mdp_note note;
	pos_mdp_front_matter(d, len, &note);
	pos_mdp_inline_tags(d + note.body_off, len - note.body_off, &note);
	json_t *m = json_object();
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	char title[POS_MDP_MAX_TITLE + 1];
	if (note.title[0])
		snprintf(title, sizeof(title), "%s", note.title);
	else
		snprintf(title, sizeof(title), "%.*s", (int)(strlen(base) - 3), base);
	json_object_set_new(m, "content", json_stringn(d + note.body_off, len - note.body_off));
	json_object_set_new(m, "type", json_string("note"));
	json_object_set_new(m, "source", json_string("obsidian"));
	int64_t at = note.has_date ? note.date_us : mtime;
	if (at != POS_TIME_NONE)
		json_object_set_new(m, "created_at", pos_import_time(at));
	json_t *tags = json_array();
	for (size_t i = 0; i < note.n_tags; i++)
		json_array_append_new(tags, json_string(note.tags[i]));
	json_object_set_new(m, "tags", tags);
	json_object_set_new(m, "metadata", json_pack("{s:s, s:s}", "title", title, "path", path));
	char key[1100];
	snprintf(key, sizeof(key), "obsidian:%s", path);
	json_object_set_new(m, "key", json_string(key));
	return m;
}

static const struct {
	const char *file;
	enum pos_import_kind kind;
	bool array;
} side_files[] = {
	{"_personalos/relationships.json", POS_IMPORT_RELATIONSHIP, true},
	{"_personalos/conversations.json", POS_IMPORT_CONVERSATION, true},
	{"_personalos/sync_sources.json", POS_IMPORT_SYNC_SOURCE, true},
	{"_personalos/persona.json", POS_IMPORT_PERSONA, false},
	{"_personalos/settings.json", POS_IMPORT_SETTINGS, false},
	{"_personalos/plugin_settings.json", POS_IMPORT_PLUGIN_SETTINGS, false},
};

enum pos_err pos_import_zip_next(struct pos_import_reader *r, struct pos_import_item *item,
				 struct pos_error *err)
{
	if (r->pending) {
		if (r->pending_at < json_array_size(r->pending)) {
			json_t *v = json_incref(json_array_get(r->pending, r->pending_at++));
			pos_import_emit(r, item, r->pending_kind, v);
			return POS_OK;
		}
		json_decref(r->pending);
		r->pending = NULL;
	}
	struct archive_entry *e;
	struct pos_buf b;
	pos_buf_init(&b, POS_UPLOAD_ZIP_ENTRY_MAX);
	enum pos_err rc = POS_ERR_NOT_FOUND;
	int hr;
	while ((hr = archive_read_next_header(r->zip, &e)) == ARCHIVE_OK) {
		const char *path = archive_entry_pathname(e);
		if (archive_entry_filetype(e) != AE_IFREG || !path)
			continue;
		bool md = ends_with(path, ".md");
		bool js = ends_with(path, ".json");
		if (!md && !js)
			continue;
		if (js && r->fmt == POS_IMPORT_OBSIDIAN)
			continue;
		pos_buf_reset(&b);
		const void *blk;
		size_t bn;
		la_int64_t off;
		int dr;
		while ((dr = archive_read_data_block(r->zip, &blk, &bn, &off)) == ARCHIVE_OK)
			if (pos_buf_add(&b, blk, bn))
				break;
		if (dr != ARCHIVE_EOF) {
			r->broken = true;
			rc = pos_error_set(err, POS_ERR_INVALID_FIELD, "file",
					   "zip entry %s cannot be read", path);
			break;
		}
		r->zip_done = (uint64_t)archive_filter_bytes(r->zip, -1);
		int64_t mtime = archive_entry_mtime_is_set(e)
					? (int64_t)archive_entry_mtime(e) * 1000000
					: POS_TIME_NONE;
		json_t *m = NULL;
		json_error_t je;
		json_t *name_ok = json_string(path); /* NULL: not UTF-8 */
		if (!name_ok) {
			rc = pos_error_set(err, POS_ERR_INVALID_FIELD, "file",
					   "a zip entry's name is not UTF-8 text");
			break;
		}
		json_decref(name_ok);
		if (md && r->fmt != POS_IMPORT_KEEP) {
			m = r->fmt == POS_IMPORT_MARKDOWN ? pos_front_matter(b.data ? b.data : "", b.len)
							  : NULL;
			if (m) {
				char key[80];
				snprintf(key, sizeof(key), "pos:%s",
					 json_string_value(json_object_get(m, "id")));
				json_object_set_new(m, "key", json_string(key));
			} else {
				m = obsidian_note(path, b.data ? b.data : "", b.len, mtime);
			}
			pos_import_emit(r, item, POS_IMPORT_MEMORY, m);
			rc = POS_OK;
			break;
		}
		if (js && r->fmt == POS_IMPORT_KEEP) {
			json_t *note = json_loadb(b.data ? b.data : "", b.len, JSON_ALLOW_NUL, &je);
			m = note ? pos_import_keep_note(note, path) : NULL;
			json_decref(note);
			if (!m || json_is_null(m)) { /* other Takeout files, trashed notes */
				json_decref(m);
				continue;
			}
			pos_import_emit(r, item, POS_IMPORT_MEMORY, m);
			rc = POS_OK;
			break;
		}
		if (js && r->fmt == POS_IMPORT_MARKDOWN) {
			size_t k = 0;
			while (k < sizeof(side_files) / sizeof(side_files[0]) &&
			       strcmp(side_files[k].file, path))
				k++;
			if (k == sizeof(side_files) / sizeof(side_files[0]))
				continue;
			json_t *v = json_loadb(b.data ? b.data : "", b.len, JSON_ALLOW_NUL, &je);
			if (!v || (side_files[k].array && !json_is_array(v))) {
				json_decref(v);
				r->broken = true;
				rc = pos_error_set(err, POS_ERR_INVALID_JSON, "file",
						   "zip entry %s is not valid JSON", path);
				break;
			}
			if (!side_files[k].array) {
				pos_import_emit(r, item, side_files[k].kind, v);
				rc = POS_OK;
				break;
			}
			r->pending = v;
			r->pending_kind = side_files[k].kind;
			r->pending_at = 0;
			pos_buf_free(&b);
			return pos_import_zip_next(r, item, err);
		}
	}
	if (rc == POS_ERR_NOT_FOUND && hr != ARCHIVE_EOF && hr != ARCHIVE_OK) {
		r->broken = true;
		rc = pos_error_set(err, POS_ERR_INVALID_FIELD, "file", "the zip is damaged");
	}
	if (rc == POS_ERR_NOT_FOUND)
		r->zip_done = r->size;
	pos_buf_free(&b);
	return rc;
}
