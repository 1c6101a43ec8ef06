/*
 * markdown.c — the markdown_dir adapter: a folder of Markdown notes (an
 * Obsidian-style vault) as `note` items.
 *
 * The vault is walked (hidden entries like .obsidian and .git skipped,
 * depth, count and file size bounded, symlinks followed only to regular
 * files inside the vault); each *.md file is one item whose external_id is
 * its path relative to the vault. Front matter gives tags, the date
 * (created_at) and the title; inline #tags are added unless inline_tags is
 * false; [[wiki links]] are resolved the way Obsidian does (a path from
 * the vault root, the same folder first, else the shortest path with that
 * file name). Relationships are undirected, so item.links holds the notes
 * a note links to and the notes that link to it: an upsert replaces the
 * note's whole set, and must not drop the links made from the other side.
 *
 * Cursor {files: {path: {m: mtime, s: size, h: hash, l: [links]}}}. When
 * the set of paths is unchanged, only files whose size or mtime moved are
 * read (the others' links come from the cursor), and only those whose hash
 * moved are upserted. When a note appeared or went
 * away, every note is read and upserted (links elsewhere may now resolve
 * differently; an unchanged version costs the framework nothing) and
 * sink->complete removes the notes that are gone.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "sync/adapter.h"
#include "sync/ics.h"
#include "sync/markdown_parse.h"

#define DEFAULT_MAX_DEPTH 16
#define DEFAULT_MAX_FILES 20000
#define DEFAULT_MAX_FILE_BYTES (1 << 20)

struct note_file {
	char *rel;      /* path from the vault root, '/'-separated */
	int64_t size, mtime;
};

struct walk {
	struct pos_fsroot vault;  /* the notes folder; entries open beneath it */
	long max_depth, max_files;
	struct note_file *v;
	size_t n, cap;
	bool truncated;
	const struct pos_sync_sink *sink;
};

static enum pos_err get_long(const json_t *cfg, const char *key, long lo,
			     long hi, long dflt, long *out, struct pos_error *err)
{
	const json_t *v = json_object_get(cfg, key);
	*out = dflt;
	if (!v || json_is_null(v))
		return POS_OK;
	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, key,
				     "%s must be an integer from %ld to %ld",
				     key, lo, hi);
	*out = (long)json_integer_value(v);
	return POS_OK;
}

struct md_config {
	const char *path;
	long max_depth, max_files, max_file_bytes;
	bool inline_tags;
};

static enum pos_err read_config(const json_t *cfg, struct md_config *c,
				struct pos_error *err)
{
	if (!json_is_object(cfg))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "config",
				     "config must be an object");
	const json_t *p = json_object_get(cfg, "path");
	if (!json_is_string(p) || json_string_length(p) == 0 ||
	    json_string_length(p) >= PATH_MAX ||
	    strlen(json_string_value(p)) != json_string_length(p))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "path",
				     "path must name the folder of notes");
	c->path = json_string_value(p);
	enum pos_err rc = get_long(cfg, "max_depth", 1, 64, DEFAULT_MAX_DEPTH,
				   &c->max_depth, err);
	if (!rc)
		rc = get_long(cfg, "max_files", 1, 200000, DEFAULT_MAX_FILES,
			      &c->max_files, err);
	if (!rc)
		rc = get_long(cfg, "max_file_bytes", 1, 16 << 20,
			      DEFAULT_MAX_FILE_BYTES, &c->max_file_bytes, err);
	if (rc)
		return rc;
	const json_t *it = json_object_get(cfg, "inline_tags");
	if (it && !json_is_null(it) && !json_is_boolean(it))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "inline_tags",
				     "inline_tags must be true or false");
	c->inline_tags = !it || json_is_null(it) || json_is_true(it);
	return POS_OK;
}

static enum pos_err md_validate(const json_t *cfg, struct pos_error *err)
{
	struct md_config c = {0};
	enum pos_err rc = read_config(cfg, &c, err);
	return rc ? pos_ics_config_field(err) : POS_OK;
}

static bool ends_md(const char *name)
{
	size_t n = strlen(name);
	return n > 3 && strcasecmp(name + n - 3, ".md") == 0;
}

static enum pos_err add_file(struct walk *w, const char *rel, const struct stat *st)
{
	if (w->n == w->cap) {
		size_t nc = w->cap ? w->cap * 2 : 64;
		struct note_file *nv = pos_realloc(w->v, nc * sizeof(*nv));
		if (!nv)
			return POS_ERR_NOMEM;
		w->v = nv;
		w->cap = nc;
	}
	char *r = pos_strdup(rel);
	if (!r)
		return POS_ERR_NOMEM;
	w->v[w->n++] = (struct note_file){r, (int64_t)st->st_size,
					  (int64_t)st->st_mtime};
	return POS_OK;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* rel is "" for the root, else "a/b" (no trailing slash). Every folder and
 * note is opened beneath the vault's descriptor (sync/fsroot.h): symbolic
 * links are skipped, never followed. */
static enum pos_err walk_dir(struct walk *w, const char *rel, long depth)
{
	int dfd = -1;
	if (*rel) {
		struct pos_error e;
		pos_error_clear(&e);
		pos_fsroot_open(&w->vault, rel, O_DIRECTORY, &dfd, &e);
	} else {
		dfd = openat(w->vault.fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		if (w->sink->skip)
			w->sink->skip(w->sink->ctx, *rel ? rel : ".",
				      "folder cannot be read");
		return POS_OK;
	}
	/* Read names first, sorted, so runs are deterministic. */
	char **names = NULL;
	size_t nn = 0, cap = 0;
	enum pos_err rc = POS_OK;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue; /* ., .., .obsidian, .git, .trash, dotfiles */
		if (nn == cap) {
			size_t nc = cap ? cap * 2 : 32;
			char **nv = pos_realloc(names, nc * sizeof(*nv));
			if (!nv) {
				rc = POS_ERR_NOMEM;
				break;
			}
			names = nv;
			cap = nc;
		}
		if (!(names[nn] = pos_strdup(de->d_name))) {
			rc = POS_ERR_NOMEM;
			break;
		}
		nn++;
	}
	if (nn > 1)
		qsort(names, nn, sizeof(*names), cmp_name);
	for (size_t i = 0; !rc && i < nn; i++) {
		char child_rel[PATH_MAX];
		struct stat st;
		int a = snprintf(child_rel, sizeof(child_rel), "%s%s%s", rel,
				 *rel ? "/" : "", names[i]);
		if (a < 0 || (size_t)a >= sizeof(child_rel) ||
		    fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (S_ISLNK(st.st_mode)) {
			if (w->sink->skip && ends_md(names[i]))
				w->sink->skip(w->sink->ctx, child_rel,
					      "symbolic link: not followed");
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			if (depth + 1 < w->max_depth)
				rc = walk_dir(w, child_rel, depth + 1);
			continue;
		}
		if (!S_ISREG(st.st_mode) || !ends_md(names[i]))
			continue;
		if ((long)w->n >= w->max_files) {
			w->truncated = true;
			break;
		}
		rc = add_file(w, child_rel, &st);
	}
	closedir(d);
	for (size_t i = 0; i < nn; i++)
		pos_free(names[i]);
	pos_free(names);
	return rc;
}

/* ---- link resolution ----------------------------------------------------- */

static void lower_noext(const char *s, size_t n, char *out, size_t cap)
{
	if (n > 3 && strncasecmp(s + n - 3, ".md", 3) == 0)
		n -= 3;
	if (n >= cap)
		n = cap - 1;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	out[n] = '\0';
}

/* by_path: "dir/name" (lower, no .md) -> rel; by_name: "name" -> rel. */
static enum pos_err build_index(const struct walk *w, json_t *by_path, json_t *by_name)
{
	char key[PATH_MAX];
	for (size_t i = 0; i < w->n; i++) {
		const char *rel = w->v[i].rel;
		lower_noext(rel, strlen(rel), key, sizeof(key));
		json_t *s = json_string(rel);
		if (!s || json_object_set_new(by_path, key, s))
			return POS_ERR_NOMEM;
		const char *slash = strrchr(key, '/');
		const char *base = slash ? slash + 1 : key;
		json_t *old = json_object_get(by_name, base);
		if (!old || strlen(json_string_value(old)) > strlen(rel)) {
			if (json_object_set_new(by_name, base, json_string(rel)))
				return POS_ERR_NOMEM;
		}
	}
	return POS_OK;
}

struct link_ctx {
	const char *self;
	json_t *by_path, *by_name, *links;
};

static bool on_link(const char *t, size_t n, void *ud)
{
	struct link_ctx *c = ud;
	char key[PATH_MAX], tgt[PATH_MAX];
	const json_t *hit = NULL;
	lower_noext(t, n, tgt, sizeof(tgt));
	if (!tgt[0])
		return true;
	/* The same folder as the linking note first. */
	const char *slash = strrchr(c->self, '/');
	if (slash) {
		int k = snprintf(key, sizeof(key), "%.*s/%s", (int)(slash - c->self),
				 c->self, tgt);
		if (k > 0 && (size_t)k < sizeof(key)) {
			lower_noext(key, strlen(key), key, sizeof(key));
			hit = json_object_get(c->by_path, key);
		}
	}
	if (!hit)
		hit = json_object_get(c->by_path, tgt[0] == '/' ? tgt + 1 : tgt);
	if (!hit && !strchr(tgt, '/'))
		hit = json_object_get(c->by_name, tgt);
	if (!hit || strcmp(json_string_value(hit), c->self) == 0)
		return true;
	size_t i;
	json_t *v;
	json_array_foreach(c->links, i, v) {
		if (json_equal(v, hit))
			return true;
	}
	json_array_append(c->links, (json_t *)hit);
	return true;
}

/* ---- one note ------------------------------------------------------------ */

static enum pos_err read_note(const struct pos_fsroot *vault, const char *rel, long max,
			      struct pos_buf *b, const char **why)
{
	int fd;
	struct pos_error e;
	struct stat st;
	pos_error_clear(&e);
	if (pos_fsroot_open(vault, rel, 0, &fd, &e)) {
		*why = e.code == POS_ERR_FORBIDDEN ? "symbolic link: not followed"
						   : "cannot be opened";
		return POS_ERR_IO;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		*why = "not a regular file";
		return POS_ERR_IO;
	}
	pos_buf_reset(b);
	enum pos_err rc = POS_OK;
	char chunk[16384];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*why = "cannot be read";
			rc = POS_ERR_IO;
			break;
		}
		if (n == 0)
			break;
		if (b->len + (size_t)n > (size_t)max) {
			*why = "larger than max_file_bytes";
			rc = POS_ERR_CONTENT_TOO_LARGE;
			break;
		}
		rc = pos_buf_add(b, chunk, (size_t)n);
		if (rc) {
			*why = "out of memory";
			break;
		}
	}
	close(fd);
	return rc;
}

/* The resolved [[links]] of one note's text (a new array, or NULL). */
static json_t *out_links(const char *rel, const char *text, size_t len,
			 json_t *by_path, json_t *by_name)
{
	struct pos_mdp_note note;
	json_t *links = json_array();
	if (!links)
		return NULL;
	pos_mdp_front_matter(text, len, &note);
	struct link_ctx lc = {rel, by_path, by_name, links};
	pos_mdp_links(text + note.body_off, len - note.body_off, on_link, &lc);
	return links;
}

static enum pos_err emit_note(const struct md_config *cfg,
			      const struct note_file *f, const char *text, size_t len,
			      const json_t *links, const struct pos_sync_sink *sink,
			      struct pos_buf *content, struct pos_error *err)
{
	struct pos_mdp_note note;
	char ver[33];
	enum pos_err rc;

	pos_mdp_front_matter(text, len, &note);
	const char *body = text + note.body_off;
	size_t blen = len - note.body_off;
	if (cfg->inline_tags)
		pos_mdp_inline_tags(body, blen, &note);

	char title[POS_MDP_MAX_TITLE + 1];
	if (note.title[0]) {
		snprintf(title, sizeof(title), "%s", note.title);
	} else {
		const char *slash = strrchr(f->rel, '/');
		const char *base = slash ? slash + 1 : f->rel;
		snprintf(title, sizeof(title), "%.*s", (int)(strlen(base) - 3), base);
	}
	while (blen && (*body == '\n' || *body == '\r'))
		body++, blen--;
	pos_buf_reset(content);
	rc = POS_OK;
	if (!(blen > 2 && body[0] == '#' && body[1] == ' '))
		rc = pos_buf_addf(content, "# %s\n\n", title);
	if (!rc)
		rc = pos_buf_add(content, body, blen);
	if (rc)
		return pos_error_set(err, rc, NULL, NULL);

	json_t *tags = json_array();
	json_t *meta = json_pack("{s:s, s:s}", "path", f->rel, "title", title);
	if (!tags || !meta) {
		json_decref(tags);
		json_decref(meta);
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	}
	for (size_t i = 0; i < note.n_tags; i++)
		json_array_append_new(tags, json_string(note.tags[i]));
	if (note.has_date) {
		char ts[40];
		pos_time_format(note.date_us, ts, sizeof(ts));
		json_object_set_new(meta, "date", json_string(ts));
	}

	/* version: the text and the related notes. */
	size_t mark = content->len;
	size_t i;
	json_t *v;
	json_array_foreach(links, i, v) {
		pos_buf_addc(content, '\n');
		pos_buf_adds(content, json_string_value(v));
	}
	pos_ics_hash_hex(content->data, content->len, ver);
	content->len = mark;

	struct pos_sync_item item = {
		.external_id = f->rel,
		.type = "note",
		.content = content->data,
		.content_len = content->len,
		.metadata = meta,
		.tags = json_array_size(tags) ? tags : NULL,
		.created_at_us = note.has_date ? note.date_us
					       : f->mtime * 1000000LL,
		.version = ver,
		.links = links,
	};
	struct pos_error e2;
	pos_error_clear(&e2);
	rc = sink->upsert(sink->ctx, &item, &e2);
	if (rc == POS_ERR_INVALID_FIELD || rc == POS_ERR_MISSING_FIELD ||
	    rc == POS_ERR_INVALID_REQUEST || rc == POS_ERR_CONTENT_TOO_LARGE) {
		if (sink->skip)
			sink->skip(sink->ctx, f->rel,
				   e2.message[0] ? e2.message : pos_strerror(rc));
		rc = POS_OK;
	} else if (rc) {
		*err = e2;
		if (!err->code)
			pos_error_set(err, rc, NULL, NULL);
	}
	json_decref(tags);
	json_decref(meta);
	return rc;
}

/* Per note during a run. */
struct note_state {
	json_t *out;   /* resolved outgoing links (own reference) */
	bool emit;     /* read and changed: upsert it */
};

static bool in_array(const json_t *a, const char *s)
{
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v) {
		if (strcmp(json_string_value(v), s) == 0)
			return true;
	}
	return false;
}

static enum pos_err md_run(const json_t *config, const json_t *cursor,
			   json_t **cursor_out, const struct pos_sync_sink *sink,
			   struct pos_error *err)
{
	struct md_config cfg = {0};
	struct walk w = {.vault = {-1}};
	struct pos_buf text, content;
	struct note_state *ns = NULL;
	json_t *by_path = json_object(), *by_name = json_object();
	json_t *files_out = json_object(), *inbound = json_object();
	const json_t *files_in = json_object_get(cursor, "files");
	enum pos_err rc = read_config(config, &cfg, err);

	pos_buf_init(&text, (size_t)(16 << 20) + 1);
	pos_buf_init(&content, (size_t)(16 << 20) + 1024);
	if (rc)
		goto out;
	if (!by_path || !by_name || !files_out || !inbound) {
		rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
		goto out;
	}
	{
		DIR *top = NULL;
		struct pos_error e;
		pos_error_clear(&e);
		if (pos_fsroot_opendir(sink->root, cfg.path, &top, &w.vault, &e)) {
			if (e.code == POS_ERR_NOT_FOUND || e.code == POS_ERR_INVALID_FIELD) {
				rc = pos_error_set(err, POS_ERR_NOT_FOUND, "path",
						   "the notes folder does not exist or is not a folder");
			} else {
				rc = e.code;
				if (err)
					*err = e;
			}
			goto out;
		}
		closedir(top);
	}
	w.max_depth = cfg.max_depth;
	w.max_files = cfg.max_files;
	w.sink = sink;
	rc = walk_dir(&w, "", 0);
	if (!rc)
		rc = build_index(&w, by_path, by_name);
	if (!rc && !(ns = pos_calloc(w.n ? w.n : 1, sizeof(*ns))))
		rc = POS_ERR_NOMEM;
	if (rc) {
		rc = pos_error_set(err, rc, NULL, NULL);
		goto out;
	}
	if (w.truncated && sink->skip) {
		char why[96];
		snprintf(why, sizeof(why), "more than %ld notes; the rest left out",
			 cfg.max_files);
		sink->skip(sink->ctx, ".", why);
	}

	/* Same set of paths as last time? Then only changed files matter. */
	bool full = !json_is_object(files_in) || json_object_size(files_in) != w.n;
	for (size_t i = 0; !full && i < w.n; i++)
		full = !json_object_get(files_in, w.v[i].rel);

	/* Pass 1: each note's outgoing links, from the cursor when unchanged. */
	for (size_t i = 0; !rc && i < w.n; i++) {
		const struct note_file *f = &w.v[i];
		const json_t *prev = json_object_get(files_in, f->rel);
		char hash[33];
		const char *why = NULL;
		const json_t *pl = json_object_get(prev, "l");
		if (!full && json_is_array(pl) &&
		    json_integer_value(json_object_get(prev, "s")) == f->size &&
		    json_integer_value(json_object_get(prev, "m")) == f->mtime) {
			ns[i].out = json_deep_copy(pl);
			json_object_set(files_out, f->rel, (json_t *)prev);
			continue;
		}
		if (read_note(&w.vault, f->rel, cfg.max_file_bytes, &text, &why)) {
			if (sink->skip)
				sink->skip(sink->ctx, f->rel, why);
			ns[i].out = json_array();
			json_object_set_new(files_out, f->rel,
					    json_pack("{s:I, s:I, s:s, s:[]}", "m", (json_int_t)f->mtime,
						      "s", (json_int_t)f->size, "h", "", "l"));
			continue;
		}
		pos_ics_hash_hex(text.data, text.len, hash);
		ns[i].out = out_links(f->rel, text.data, text.len, by_path, by_name);
		if (!ns[i].out) {
			rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
			break;
		}
		json_object_set_new(files_out, f->rel,
				    json_pack("{s:I, s:I, s:s, s:O}", "m", (json_int_t)f->mtime,
					      "s", (json_int_t)f->size, "h", hash, "l", ns[i].out));
		const char *ph = json_string_value(json_object_get(prev, "h"));
		ns[i].emit = full || !ph || strcmp(ph, hash) != 0;
	}
	/* Links from the other side: relationships are undirected, so a note
	 * relates to the notes it links to and the notes linking to it (its
	 * item carries both, or its upsert would drop the inbound ones). */
	for (size_t i = 0; !rc && i < w.n; i++) {
		size_t j;
		json_t *t;
		json_array_foreach(ns[i].out, j, t) {
			json_t *a = json_object_get(inbound, json_string_value(t));
			if (!a) {
				a = json_array();
				json_object_set_new(inbound, json_string_value(t), a);
			}
			if (a)
				json_array_append_new(a, json_string(w.v[i].rel));
		}
	}

	/* Pass 2: upsert what changed. */
	for (size_t i = 0; !rc && i < w.n; i++) {
		const struct note_file *f = &w.v[i];
		const char *why = NULL;
		if (!ns[i].emit)
			continue;
		if (read_note(&w.vault, f->rel, cfg.max_file_bytes, &text, &why)) {
			if (sink->skip)
				sink->skip(sink->ctx, f->rel, why);
			continue;
		}
		json_t *links = json_deep_copy(ns[i].out);
		size_t j;
		json_t *t;
		json_array_foreach(json_object_get(inbound, f->rel), j, t) {
			if (links && !in_array(links, json_string_value(t)))
				json_array_append(links, t);
		}
		if (!links) {
			rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
			break;
		}
		rc = emit_note(&cfg, f, text.data, text.len, links, sink, &content, err);
		json_decref(links);
		if (!rc && sink->progress && (i & 63) == 0)
			sink->progress(sink->ctx, i + 1, w.n);
		if (!rc && sink->cancelled && (i & 63) == 0 && sink->cancelled(sink->ctx))
			rc = pos_error_set(err, POS_ERR_UNAVAILABLE, NULL,
					   "the run was cancelled");
	}
	if (rc)
		goto out;
	if (sink->progress)
		sink->progress(sink->ctx, w.n, w.n);
	if (full && !w.truncated && sink->complete)
		sink->complete(sink->ctx);
	*cursor_out = json_pack("{s:O}", "files", files_out);
	if (!*cursor_out)
		rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
out:
	for (size_t i = 0; ns && i < w.n; i++)
		json_decref(ns[i].out);
	pos_free(ns);
	for (size_t i = 0; i < w.n; i++)
		pos_free(w.v[i].rel);
	pos_free(w.v);
	pos_fsroot_close(&w.vault);
	pos_buf_free(&text);
	pos_buf_free(&content);
	json_decref(by_path);
	json_decref(by_name);
	json_decref(files_out);
	json_decref(inbound);
	return rc;
}

const struct pos_sync_adapter pos_sync_markdown_dir = {
	.kind = "markdown_dir",
	.files = true,
	.secret_keys = NULL,
	.validate = md_validate,
	.run = md_run,
};
