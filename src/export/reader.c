/*
 * reader.c — the import readers (reader.h) over a FILE: the PersonalOS
 * json document (scanned key by key, each array element loaded on its
 * own, so the document is never whole in memory), jsonl, csv, and the
 * ChatGPT and Claude conversation exports (top-level arrays, one
 * conversation at a time). The zip formats are in reader_zip.c.
 */
#include "export/reader_internal.h"

#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "base/alloc.h"
#include "base/clock.h"

static const char *const fmt_names[] = {"json",    "jsonl",  "markdown",     "obsidian",
					"chatgpt", "claude", "takeout-keep", "csv"};

int pos_import_format_parse(const char *s)
{
	for (int i = 0; s && i < POS_IMPORT__COUNT; i++)
		if (strcmp(s, fmt_names[i]) == 0)
			return i;
	return -1;
}

const char *pos_import_format_name(enum pos_import_format f)
{
	return (unsigned)f < POS_IMPORT__COUNT ? fmt_names[f] : "?";
}

void pos_import_digest(const void *data, size_t len, char out[65])
{
	unsigned char h[32];
	crypto_generichash(h, sizeof(h), data, len, NULL, 0);
	sodium_bin2hex(out, 65, h, sizeof(h));
}

void pos_import_emit(struct pos_import_reader *r, struct pos_import_item *item,
		     enum pos_import_kind kind, json_t *data)
{
	item->kind = kind;
	item->position = r->pos++;
	item->data = data;
}

json_t *pos_import_time(int64_t us)
{
	char tmp[POS_TIME_FMT_LEN];
	size_t n = pos_time_format(us, tmp, sizeof(tmp));
	return json_stringn(tmp, n);
}

static enum pos_err bad(struct pos_import_reader *r, struct pos_error *err, enum pos_err code,
			const char *what)
{
	r->broken = true;
	pos_error_set(err, code, "file", "item %llu (byte %ld): %s", (unsigned long long)r->pos,
		      r->f ? ftell(r->f) : 0L, what);
	if (err)
		err->index = r->pos > INT32_MAX ? INT32_MAX : (int)r->pos;
	return code;
}

/* ---- a streaming JSON scanner ---- */

static int ws(FILE *f)
{
	int c;
	do
		c = getc_unlocked(f);
	while (c == ' ' || c == '\t' || c == '\n' || c == '\r');
	return c;
}

/* The rest of a string whose opening quote was read, decoded. */
static json_t *read_string(FILE *f, struct pos_buf *b)
{
	pos_buf_reset(b);
	if (pos_buf_addc(b, '"'))
		return NULL;
	bool esc = false;
	for (;;) {
		int c = getc_unlocked(f);
		if (c == EOF || pos_buf_addc(b, (char)c))
			return NULL;
		if (esc)
			esc = false;
		else if (c == '\\')
			esc = true;
		else if (c == '"')
			break;
	}
	json_error_t e;
	return json_loadb(b->data, b->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
}

/* One value whose first character `c` was read; NULL when malformed, or
 * (*too_big set) past the buffer's cap (POS_IMPORT_ITEM_MAX). Arrays and
 * objects are copied up to their closing bracket, strings and escapes
 * followed, so nothing after the value is read. */
static json_t *read_value(FILE *f, int c, struct pos_buf *b, bool *too_big)
{
	json_error_t e;
	*too_big = false;
	pos_buf_reset(b);
	if (c == '{' || c == '[') {
		int depth = 0;
		bool in_str = false, esc = false;
		for (;;) {
			if (c == EOF)
				return NULL;
			if (pos_buf_addc(b, (char)c)) {
				*too_big = true;
				return NULL;
			}
			if (in_str) {
				if (esc)
					esc = false;
				else if (c == '\\')
					esc = true;
				else if (c == '"')
					in_str = false;
			} else if (c == '"') {
				in_str = true;
			} else if (c == '{' || c == '[') {
				depth++;
			} else if ((c == '}' || c == ']') && --depth == 0) {
				break;
			}
			c = getc_unlocked(f);
		}
		return json_loadb(b->data, b->len, JSON_ALLOW_NUL, &e);
	}
	if (c == '"')
		return read_string(f, b);
	while (c != EOF && !strchr(",]} \t\r\n", c)) {
		if (b->len > 64 || pos_buf_addc(b, (char)c))
			return NULL;
		c = getc_unlocked(f);
	}
	if (c != EOF)
		ungetc(c, f);
	return b->len ? json_loadb(b->data, b->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e) : NULL;
}

/* ---- the PersonalOS json document ---- */

enum { J_START, J_FIRST_KEY, J_KEY, J_ARRAY, J_END, J_DONE };

static const struct {
	const char *name;
	enum pos_import_kind kind;
	bool array;
} doc_keys[] = {
	{"memories", POS_IMPORT_MEMORY, true},
	{"relationships", POS_IMPORT_RELATIONSHIP, true},
	{"conversations", POS_IMPORT_CONVERSATION, true},
	{"sync_sources", POS_IMPORT_SYNC_SOURCE, true},
	{"persona", POS_IMPORT_PERSONA, false},
	{"settings", POS_IMPORT_SETTINGS, false},
	{"plugin_settings", POS_IMPORT_PLUGIN_SETTINGS, false},
};

/* Adds "key": "pos:<id>" to an exported memory. */
static bool pos_key(json_t *m)
{
	const char *id = json_string_value(json_object_get(m, "id"));
	if (!id || strlen(id) > 64)
		return false;
	char k[80];
	snprintf(k, sizeof(k), "pos:%s", id);
	return json_object_set_new(m, "key", json_string(k)) == 0;
}

static enum pos_err check_header_value(struct pos_import_reader *r, const char *key, json_t *v,
				       struct pos_error *err)
{
	if (strcmp(key, "format") == 0 &&
	    !(json_is_string(v) && strcmp(json_string_value(v), "personalos-export") == 0))
		return bad(r, err, POS_ERR_INVALID_FIELD, "not a PersonalOS export");
	if (strcmp(key, "version") == 0 && json_integer_value(v) != 1)
		return bad(r, err, POS_ERR_INVALID_FIELD,
			   "export version not supported by this server (it reads version 1)");
	return POS_OK;
}

static enum pos_err json_next(struct pos_import_reader *r, struct pos_import_item *item,
			      struct pos_error *err)
{
	FILE *f = r->f;
	struct pos_buf b;
	pos_buf_init(&b, POS_IMPORT_ITEM_MAX);
	enum pos_err rc = POS_OK;
	int c;
	bool big = false;
	json_t *v = NULL;
	for (;;) {
		switch (r->state) {
		case J_START:
			if (ws(f) != '{') {
				rc = bad(r, err, POS_ERR_INVALID_JSON,
					 "not a PersonalOS export (a JSON object was expected)");
				goto out;
			}
			r->state = J_FIRST_KEY;
			continue;
		case J_FIRST_KEY:
		case J_KEY: {
			c = ws(f);
			if (c == '}') {
				r->state = J_END;
				continue;
			}
			if (r->state == J_KEY) {
				if (c != ',') {
					rc = bad(r, err, POS_ERR_INVALID_JSON, "',' or '}' expected");
					goto out;
				}
				c = ws(f);
			}
			json_t *k = c == '"' ? read_string(f, &b) : NULL;
			if (!json_is_string(k) || ws(f) != ':') {
				json_decref(k);
				rc = bad(r, err, POS_ERR_INVALID_JSON, "a key was expected");
				goto out;
			}
			char key[64];
			snprintf(key, sizeof(key), "%s", json_string_value(k));
			json_decref(k);
			if (r->state == J_FIRST_KEY && strcmp(key, "format") != 0) {
				rc = bad(r, err, POS_ERR_INVALID_FIELD,
					 "not a PersonalOS export (no \"format\" first)");
				goto out;
			}
			r->state = J_KEY;
			size_t d = 0;
			while (d < sizeof(doc_keys) / sizeof(doc_keys[0]) && strcmp(doc_keys[d].name, key))
				d++;
			c = ws(f);
			if (d < sizeof(doc_keys) / sizeof(doc_keys[0]) && doc_keys[d].array) {
				if (c != '[') {
					rc = bad(r, err, POS_ERR_INVALID_JSON, "an array was expected");
					goto out;
				}
				r->arr_kind = doc_keys[d].kind;
				r->first = true;
				r->state = J_ARRAY;
				continue;
			}
			v = read_value(f, c, &b, &big);
			if (!v) {
				rc = big ? bad(r, err, POS_ERR_CONTENT_TOO_LARGE, "larger than 16 MiB")
					 : bad(r, err, POS_ERR_INVALID_JSON, "malformed JSON");
				goto out;
			}
			if (d < sizeof(doc_keys) / sizeof(doc_keys[0])) {
				pos_import_emit(r, item, doc_keys[d].kind, v);
				v = NULL;
				goto out;
			}
			rc = check_header_value(r, key, v, err);
			json_decref(v);
			v = NULL;
			if (rc)
				goto out;
			continue;
		}
		case J_ARRAY:
			c = ws(f);
			if (c == ']') {
				r->state = J_KEY;
				continue;
			}
			if (!r->first) {
				if (c != ',') {
					rc = bad(r, err, POS_ERR_INVALID_JSON, "',' or ']' expected");
					goto out;
				}
				c = ws(f);
			}
			r->first = false;
			v = c == '{' ? read_value(f, c, &b, &big) : NULL;
			if (!v) {
				rc = big ? bad(r, err, POS_ERR_CONTENT_TOO_LARGE, "an item larger than 16 MiB")
					 : bad(r, err, POS_ERR_INVALID_JSON,
					       "malformed JSON (an object expected)");
				goto out;
			}
			if (r->arr_kind == POS_IMPORT_MEMORY && !pos_key(v)) {
				json_decref(v);
				rc = bad(r, err, POS_ERR_INVALID_FIELD, "a memory without an id");
				goto out;
			}
			pos_import_emit(r, item, r->arr_kind, v);
			goto out;
		case J_END:
			if (ws(f) != EOF) {
				rc = bad(r, err, POS_ERR_INVALID_JSON, "data after the document");
				goto out;
			}
			r->state = J_DONE;
			continue;
		default:
			rc = POS_ERR_NOT_FOUND;
			goto out;
		}
	}
out:
	pos_buf_free(&b);
	if (!rc && ferror(f))
		rc = bad(r, err, POS_ERR_IO, "read error");
	return rc;
}

/* ---- jsonl ---- */

/* One line (without its newline) into b; false at the end of the file. */
static bool read_line(FILE *f, struct pos_buf *b, bool *too_long)
{
	pos_buf_reset(b);
	*too_long = false;
	int c;
	while ((c = getc_unlocked(f)) != EOF && c != '\n')
		if (!*too_long && pos_buf_addc(b, (char)c))
			*too_long = true;
	return c != EOF || b->len;
}

static const struct {
	const char *name;
	enum pos_import_kind kind;
} line_kinds[] = {
	{"memory", POS_IMPORT_MEMORY},
	{"relationship", POS_IMPORT_RELATIONSHIP},
	{"conversation", POS_IMPORT_CONVERSATION},
	{"sync_source", POS_IMPORT_SYNC_SOURCE},
	{"persona", POS_IMPORT_PERSONA},
	{"settings", POS_IMPORT_SETTINGS},
	{"plugin_settings", POS_IMPORT_PLUGIN_SETTINGS},
};

static enum pos_err jsonl_next(struct pos_import_reader *r, struct pos_import_item *item,
			       struct pos_error *err)
{
	struct pos_buf b;
	pos_buf_init(&b, POS_IMPORT_ITEM_MAX);
	enum pos_err rc = POS_ERR_NOT_FOUND;
	bool too_long;
	while (read_line(r->f, &b, &too_long)) {
		if (too_long) {
			rc = bad(r, err, POS_ERR_CONTENT_TOO_LARGE, "a line longer than 16 MiB");
			break;
		}
		if (b.len == 0 || (b.len == 1 && b.data[0] == '\r'))
			continue;
		json_error_t je;
		json_t *o = json_loadb(b.data, b.len, JSON_ALLOW_NUL, &je);
		const char *rec = json_string_value(json_object_get(o, "record"));
		if (!rec) {
			json_decref(o);
			rc = bad(r, err, POS_ERR_INVALID_JSON,
				 o ? "a line without \"record\"" : "malformed JSON");
			break;
		}
		if (r->state == J_START) {
			json_t *fm = json_object_get(o, "format");
			rc = strcmp(rec, "header") ? bad(r, err, POS_ERR_INVALID_FIELD,
							 "not a PersonalOS export (no header line)")
						   : check_header_value(r, "format", fm, err);
			if (!rc)
				rc = check_header_value(r, "version", json_object_get(o, "version"), err);
			json_decref(o);
			if (rc)
				break;
			r->state = J_KEY;
			rc = POS_ERR_NOT_FOUND;
			continue;
		}
		size_t k = 0;
		while (k < sizeof(line_kinds) / sizeof(line_kinds[0]) && strcmp(line_kinds[k].name, rec))
			k++;
		json_t *data = json_incref(json_object_get(o, "data"));
		json_decref(o);
		if (k == sizeof(line_kinds) / sizeof(line_kinds[0]) || !data) {
			json_decref(data);
			rc = bad(r, err, POS_ERR_INVALID_FIELD, "an unknown record or no data");
			break;
		}
		if (line_kinds[k].kind == POS_IMPORT_MEMORY && !pos_key(data)) {
			json_decref(data);
			rc = bad(r, err, POS_ERR_INVALID_FIELD, "a memory without an id");
			break;
		}
		pos_import_emit(r, item, line_kinds[k].kind, data);
		rc = POS_OK;
		break;
	}
	if (rc == POS_ERR_NOT_FOUND && r->state == J_START)
		rc = bad(r, err, POS_ERR_INVALID_FIELD, "an empty file");
	pos_buf_free(&b);
	return rc;
}

/* ---- csv (RFC 4180) ---- */

/* One record's cells (each a NUL-terminated string in b, offsets in
 * cells); false at the end of the file. */
static enum pos_err csv_record(FILE *f, struct pos_buf *b, size_t *cells, size_t max_cells,
			       size_t *n, bool *eof)
{
	pos_buf_reset(b);
	*n = 0;
	*eof = false;
	bool quoted = false, any = false;
	size_t start = 0;
	for (;;) {
		int c = getc_unlocked(f);
		if (c == EOF && !any) {
			*eof = true;
			return POS_OK;
		}
		any = true;
		if (quoted) {
			if (c == EOF)
				return POS_ERR_INVALID_FIELD;
			if (c == '"') {
				int d = getc_unlocked(f);
				if (d != '"') {
					quoted = false;
					if (d != EOF)
						ungetc(d, f);
					continue;
				}
			}
			if (pos_buf_addc(b, (char)c))
				return POS_ERR_CONTENT_TOO_LARGE;
			continue;
		}
		if (c == '"' && b->len == start) {
			quoted = true;
			continue;
		}
		if (c == ',' || c == '\n' || c == EOF) {
			if (b->len > start && b->data[b->len - 1] == '\r' && c != ',')
				b->len--;
			if (*n == max_cells || pos_buf_addc(b, '\0'))
				return POS_ERR_CONTENT_TOO_LARGE;
			cells[(*n)++] = start;
			start = b->len;
			if (c != ',')
				return POS_OK;
			continue;
		}
		if (pos_buf_addc(b, (char)c))
			return POS_ERR_CONTENT_TOO_LARGE;
	}
}

#define CSV_COLS_MAX 64

static int col_of(const struct pos_import_reader *r, const char *const *names)
{
	for (size_t k = 0; names[k]; k++)
		for (size_t i = 0; i < r->n_cols; i++)
			if (strcasecmp(r->cols[i], names[k]) == 0)
				return (int)i;
	return -1;
}

static json_t *csv_tags(const char *s)
{
	json_error_t je;
	if (s[0] == '[') {
		json_t *a = json_loads(s, 0, &je);
		if (json_is_array(a))
			return a;
		json_decref(a);
	}
	json_t *a = json_array();
	const char *p = s;
	while (a && *p) {
		size_t n = strcspn(p, ";,");
		while (n && (*p == ' ' || *p == '#')) {
			p++;
			n--;
		}
		size_t m = n;
		while (m && p[m - 1] == ' ')
			m--;
		if (m)
			json_array_append_new(a, json_stringn(p, m));
		p += n;
		if (*p)
			p++;
	}
	return a;
}

static enum pos_err csv_next(struct pos_import_reader *r, struct pos_import_item *item,
			     struct pos_error *err)
{
	struct pos_buf b;
	size_t cells[CSV_COLS_MAX], n;
	bool eof;
	pos_buf_init(&b, POS_IMPORT_ITEM_MAX);
	enum pos_err rc;
	if (!r->cols) {
		rc = csv_record(r->f, &b, cells, CSV_COLS_MAX, &n, &eof);
		if (rc || eof) {
			pos_buf_free(&b);
			return bad(r, err, POS_ERR_INVALID_FIELD, "a header row was expected");
		}
		r->cols = pos_calloc(n, sizeof(*r->cols));
		for (size_t i = 0; r->cols && i < n; i++) {
			const char *s = b.data + cells[i];
			if (i == 0 && (unsigned char)s[0] == 0xEF && (unsigned char)s[1] == 0xBB)
				s += 3; /* a UTF-8 BOM */
			r->cols[i] = pos_strdup(s);
			r->n_cols = i + 1;
		}
		static const char *const content_names[] = {"content", "text", "body", "note", NULL};
		if (col_of(r, content_names) < 0) {
			pos_buf_free(&b);
			return bad(r, err, POS_ERR_INVALID_FIELD, "the header names no content column");
		}
	}
	rc = csv_record(r->f, &b, cells, CSV_COLS_MAX, &n, &eof);
	if (rc) {
		pos_buf_free(&b);
		return bad(r, err, rc, rc == POS_ERR_CONTENT_TOO_LARGE ? "a row too large"
									: "an unclosed quote");
	}
	if (eof) {
		pos_buf_free(&b);
		return POS_ERR_NOT_FOUND;
	}
	json_t *m = json_object();
	char created[64] = "";
	const char *content = "";
	for (size_t i = 0; i < n && i < r->n_cols; i++) {
		const char *name = r->cols[i], *v = b.data + cells[i];
		if (!strcasecmp(name, "content") || !strcasecmp(name, "text") ||
		    !strcasecmp(name, "body") || !strcasecmp(name, "note")) {
			if (!*content)
				content = v;
		} else if (!strcasecmp(name, "tags") || !strcasecmp(name, "labels")) {
			json_object_set_new(m, "tags", csv_tags(v));
		} else if (!strcasecmp(name, "metadata") && *v) {
			json_error_t je;
			json_t *md = json_loads(v, 0, &je);
			if (json_is_object(md))
				json_object_set_new(m, "metadata", md);
			else
				json_decref(md);
		} else if (!strcasecmp(name, "importance_score") && *v) {
			char *end;
			double d = strtod(v, &end);
			if (*end == '\0' && isfinite(d))
				json_object_set_new(m, "importance_score", json_real(d));
			else
				json_object_set_new(m, "importance_score", json_string(v));
		} else if (*v && (!strcasecmp(name, "type") || !strcasecmp(name, "layer") ||
				  !strcasecmp(name, "source") || !strcasecmp(name, "created_at") ||
				  !strcasecmp(name, "updated_at") || !strcasecmp(name, "title"))) {
			json_object_set_new(m, name, json_string(v));
			if (!strcasecmp(name, "created_at"))
				snprintf(created, sizeof(created), "%s", v);
		}
	}
	json_object_set_new(m, "content", json_string(content));
	if (!json_object_get(m, "source"))
		json_object_set_new(m, "source", json_string("csv"));
	/* the key: what the row says, so the same row gives the same key */
	size_t clen = strlen(content);
	struct pos_buf kb;
	pos_buf_init(&kb, POS_IMPORT_ITEM_MAX + 128);
	pos_buf_add(&kb, content, clen);
	pos_buf_addc(&kb, '\x1f');
	pos_buf_adds(&kb, created);
	char hex[65], key[80];
	pos_import_digest(kb.data ? kb.data : "", kb.len, hex);
	pos_buf_free(&kb);
	snprintf(key, sizeof(key), "csv:%s", hex);
	json_object_set_new(m, "key", json_string(key));
	pos_buf_free(&b);
	pos_import_emit(r, item, POS_IMPORT_MEMORY, m);
	return POS_OK;
}

/* ---- ChatGPT and Claude: top-level arrays of conversations ---- */

static void append_turn(struct pos_buf *b, const char *who, const char *text)
{
	if (!text || !*text)
		return;
	if (b->len)
		pos_buf_add(b, "\n\n", 2);
	pos_buf_adds(b, who);
	pos_buf_add(b, ": ", 2);
	pos_buf_adds(b, text);
}

static json_t *conversation_memory(const char *src, const char *id, const char *title,
				   int64_t created, int64_t updated, struct pos_buf *text,
				   size_t turns)
{
	json_t *m = json_object();
	struct pos_buf c;
	pos_buf_init(&c, POS_IMPORT_ITEM_MAX);
	if (title && *title) {
		pos_buf_adds(&c, title);
		pos_buf_add(&c, "\n\n", 2);
	}
	pos_buf_add(&c, text->data ? text->data : "", text->len);
	json_object_set_new(m, "content", json_stringn(c.data ? c.data : "", c.len));
	pos_buf_free(&c);
	json_object_set_new(m, "type", json_string("conversation"));
	json_object_set_new(m, "source", json_string(src));
	if (created != POS_TIME_NONE)
		json_object_set_new(m, "created_at", pos_import_time(created));
	if (updated != POS_TIME_NONE)
		json_object_set_new(m, "updated_at", pos_import_time(updated));
	json_t *md = json_object();
	if (title)
		json_object_set_new(md, "title", json_string(title));
	if (id)
		json_object_set_new(md, "conversation_id", json_string(id));
	json_object_set_new(md, "messages", json_integer((json_int_t)turns));
	json_object_set_new(m, "metadata", md);
	json_object_set_new(m, "tags", json_pack("[s]", src));
	return m;
}

static int64_t secs_us(const json_t *v)
{
	if (!json_is_number(v))
		return POS_TIME_NONE;
	double d = json_number_value(v);
	return isfinite(d) && d > 0 && d < 1e11 ? (int64_t)llround(d * 1e6) : POS_TIME_NONE;
}

static int64_t iso_us(const json_t *v)
{
	const char *s = json_string_value(v);
	int64_t t;
	return s && pos_time_parse(s, strlen(s), true, &t) ? t : POS_TIME_NONE;
}

struct turn {
	double at;
	const char *role, *text;
};

static int cmp_turn(const void *a, const void *b)
{
	const struct turn *x = a, *y = b;
	return (x->at > y->at) - (x->at < y->at);
}

/* ChatGPT: messages live in "mapping" (a tree); the shown branch runs
 * from current_node up its parents. Without it, by create_time. */
static json_t *chatgpt_conversation(const json_t *c, struct pos_buf *text)
{
	json_t *mapping = json_object_get(c, "mapping");
	if (!json_is_object(mapping))
		return NULL;
	size_t cap = json_object_size(mapping), n = 0;
	struct turn *t = pos_calloc(cap ? cap : 1, sizeof(*t));
	if (!t)
		return NULL;
	const char *cur = json_string_value(json_object_get(c, "current_node"));
	size_t guard = 0;
	bool chain = cur && json_object_get(mapping, cur);
	const char *key;
	json_t *node;
	void *iter = json_object_iter(mapping);
	while (chain ? cur != NULL && guard++ < cap : iter != NULL) {
		if (chain) {
			node = json_object_get(mapping, cur);
			cur = json_string_value(json_object_get(node, "parent"));
		} else {
			key = json_object_iter_key(iter);
			(void)key;
			node = json_object_iter_value(iter);
			iter = json_object_iter_next(mapping, iter);
		}
		json_t *msg = json_object_get(node, "message");
		const char *role = json_string_value(json_object_get(json_object_get(msg, "author"), "role"));
		if (!role || (strcmp(role, "user") && strcmp(role, "assistant")))
			continue;
		json_t *parts = json_object_get(json_object_get(msg, "content"), "parts");
		const char *s = json_string_value(json_array_get(parts, 0));
		if (!s || !*s || n == cap)
			continue;
		t[n++] = (struct turn){json_number_value(json_object_get(msg, "create_time")), role, s};
	}
	if (chain) { /* collected newest first */
		for (size_t i = 0; i < n / 2; i++) {
			struct turn x = t[i];
			t[i] = t[n - 1 - i];
			t[n - 1 - i] = x;
		}
	} else {
		qsort(t, n, sizeof(*t), cmp_turn);
	}
	pos_buf_reset(text);
	for (size_t i = 0; i < n; i++)
		append_turn(text, strcmp(t[i].role, "user") ? "Assistant" : "User", t[i].text);
	pos_free(t);
	const char *id = json_string_value(json_object_get(c, "conversation_id"));
	if (!id)
		id = json_string_value(json_object_get(c, "id"));
	return conversation_memory("chatgpt", id, json_string_value(json_object_get(c, "title")),
				   secs_us(json_object_get(c, "create_time")),
				   secs_us(json_object_get(c, "update_time")), text, n);
}

static json_t *claude_conversation(const json_t *c, struct pos_buf *text)
{
	json_t *msgs = json_object_get(c, "chat_messages");
	if (!json_is_array(msgs))
		return NULL;
	pos_buf_reset(text);
	size_t i, turns = 0;
	json_t *m;
	json_array_foreach(msgs, i, m) {
		const char *sender = json_string_value(json_object_get(m, "sender"));
		const char *s = json_string_value(json_object_get(m, "text"));
		if (!s || !*s) { /* newer exports: content blocks */
			json_t *blk = json_array_get(json_object_get(m, "content"), 0);
			s = json_string_value(json_object_get(blk, "text"));
		}
		if (!sender || !s || !*s)
			continue;
		append_turn(text, strcmp(sender, "human") ? "Assistant" : "User", s);
		turns++;
	}
	return conversation_memory("claude", json_string_value(json_object_get(c, "uuid")),
				   json_string_value(json_object_get(c, "name")),
				   iso_us(json_object_get(c, "created_at")),
				   iso_us(json_object_get(c, "updated_at")), text, turns);
}

static enum pos_err chat_next(struct pos_import_reader *r, struct pos_import_item *item,
			      struct pos_error *err)
{
	FILE *f = r->f;
	struct pos_buf b;
	pos_buf_init(&b, POS_IMPORT_ITEM_MAX);
	enum pos_err rc = POS_OK;
	int c;
	if (r->state == J_START) {
		if (ws(f) != '[') {
			rc = bad(r, err, POS_ERR_INVALID_JSON,
				 "a conversations.json array was expected");
			goto out;
		}
		r->state = J_ARRAY;
		r->first = true;
	}
	if (r->state != J_ARRAY) {
		rc = POS_ERR_NOT_FOUND;
		goto out;
	}
	c = ws(f);
	if (c == ']') {
		r->state = ws(f) == EOF ? J_DONE : J_END;
		rc = r->state == J_DONE ? POS_ERR_NOT_FOUND
					: bad(r, err, POS_ERR_INVALID_JSON, "data after the array");
		goto out;
	}
	if (!r->first) {
		if (c != ',') {
			rc = bad(r, err, POS_ERR_INVALID_JSON, "',' or ']' expected");
			goto out;
		}
		c = ws(f);
	}
	r->first = false;
	bool big = false;
	json_t *conv = c == '{' ? read_value(f, c, &b, &big) : NULL;
	if (!conv) {
		rc = big ? bad(r, err, POS_ERR_CONTENT_TOO_LARGE, "a conversation larger than 16 MiB")
			 : bad(r, err, POS_ERR_INVALID_JSON, "malformed JSON (a conversation expected)");
		goto out;
	}
	json_t *m = r->fmt == POS_IMPORT_CHATGPT ? chatgpt_conversation(conv, &b)
						 : claude_conversation(conv, &b);
	json_decref(conv);
	if (!m) {
		rc = bad(r, err, POS_ERR_INVALID_FIELD,
			 r->fmt == POS_IMPORT_CHATGPT ? "a conversation without \"mapping\""
						      : "a conversation without \"chat_messages\"");
		goto out;
	}
	const char *id = json_string_value(json_object_get(json_object_get(m, "metadata"),
							   "conversation_id"));
	char key[160], hex[65];
	if (!id || strlen(id) > 100) {
		const char *s = json_string_value(json_object_get(m, "content"));
		pos_import_digest(s, strlen(s), hex);
		id = hex;
	}
	snprintf(key, sizeof(key), "%s:%s", r->fmt == POS_IMPORT_CHATGPT ? "chatgpt" : "claude", id);
	json_object_set_new(m, "key", json_string(key));
	pos_import_emit(r, item, POS_IMPORT_MEMORY, m);
out:
	pos_buf_free(&b);
	return rc;
}

/* ---- Keep: one note's JSON (not zipped) ---- */

static enum pos_err keep_single_next(struct pos_import_reader *r, struct pos_import_item *item,
				     struct pos_error *err)
{
	if (r->state == J_DONE)
		return POS_ERR_NOT_FOUND;
	r->state = J_DONE;
	if (r->size > POS_IMPORT_ITEM_MAX)
		return bad(r, err, POS_ERR_CONTENT_TOO_LARGE, "a note larger than 16 MiB");
	json_error_t je;
	json_t *note = json_loadf(r->f, JSON_ALLOW_NUL, &je);
	if (!note)
		return bad(r, err, POS_ERR_INVALID_JSON, "malformed JSON (a Keep note expected)");
	json_t *m = pos_import_keep_note(note, "note.json");
	json_decref(note);
	if (!m)
		return bad(r, err, POS_ERR_INVALID_FIELD, "not a Keep note (no textContent)");
	if (json_is_null(m)) /* trashed */
		return POS_ERR_NOT_FOUND;
	pos_import_emit(r, item, POS_IMPORT_MEMORY, m);
	return POS_OK;
}

/* ---- the reader ---- */

enum pos_err pos_import_reader_open(enum pos_import_format fmt, const char *path,
				    struct pos_import_reader **out, struct pos_error *err)
{
	if ((unsigned)fmt >= POS_IMPORT__COUNT)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "format", "unknown import format");
	struct pos_import_reader *r = pos_calloc(1, sizeof(*r));
	if (!r)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	r->fmt = fmt;
	r->f = fopen(path, "rbe");
	struct stat sb;
	if (!r->f || fstat(fileno(r->f), &sb) != 0) {
		pos_import_reader_free(r);
		return pos_error_set(err, POS_ERR_IO, NULL, "cannot open the upload");
	}
	r->size = (uint64_t)sb.st_size;
	enum pos_err rc = POS_OK;
	bool zip = fmt == POS_IMPORT_MARKDOWN || fmt == POS_IMPORT_OBSIDIAN;
	if (fmt == POS_IMPORT_KEEP) {
		unsigned char magic[4] = {0};
		size_t k = fread(magic, 1, 4, r->f);
		rewind(r->f);
		zip = k == 4 && memcmp(magic, "PK\x03\x04", 4) == 0;
	}
	if (zip)
		rc = pos_import_zip_open(r, err);
	if (rc) {
		pos_import_reader_free(r);
		return rc;
	}
	*out = r;
	return POS_OK;
}

enum pos_err pos_import_reader_next(struct pos_import_reader *r, struct pos_import_item *item,
				    struct pos_error *err)
{
	if (r->broken)
		return POS_ERR_INVALID_FIELD;
	memset(item, 0, sizeof(*item));
	if (r->zip || r->pending)
		return pos_import_zip_next(r, item, err);
	switch (r->fmt) {
	case POS_IMPORT_JSON:
		return json_next(r, item, err);
	case POS_IMPORT_JSONL:
		return jsonl_next(r, item, err);
	case POS_IMPORT_CSV:
		return csv_next(r, item, err);
	case POS_IMPORT_CHATGPT:
	case POS_IMPORT_CLAUDE:
		return chat_next(r, item, err);
	case POS_IMPORT_KEEP:
		return keep_single_next(r, item, err);
	default:
		return POS_ERR_NOT_FOUND;
	}
}

void pos_import_reader_progress(const struct pos_import_reader *r, uint64_t *done,
				uint64_t *total)
{
	*total = r->size;
	if (r->map)
		*done = r->zip_done;
	else
		*done = r->f ? (uint64_t)ftell(r->f) : 0;
}

void pos_import_reader_free(struct pos_import_reader *r)
{
	if (!r)
		return;
	pos_import_zip_free(r);
	if (r->f)
		fclose(r->f);
	for (size_t i = 0; i < r->n_cols; i++)
		pos_free(r->cols[i]);
	pos_free(r->cols);
	pos_free(r);
}
