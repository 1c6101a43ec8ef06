/*
 * maildir.c — the `maildir` kind: a Maildir (cur/ and new/), and with
 * "subfolders": true its Maildir++ folders (.Name/cur, .Name/new) too.
 *
 * Config: {"path": directory (relative to the user's folder, sync/fsroot.h), "subfolders"?: bool,
 * "max_body_bytes"?: 1024..1048576}.
 * Cursor: {"files": count, "bytes": total size, "mtime": newest mtime,
 * "hash": hash of the sorted listing (name, size, mtime)}. An unchanged
 * listing is a run that reads nothing; otherwise every message is read
 * (unchanged ones cost a parse, no write: their version is the same) and
 * messages whose files are gone are removed. A malformed message is skipped
 * and reported by its path relative to the Maildir.
 */
#include "sync/mail.h"
#include "sync/mailfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"

#define MAILDIR_FILES_MAX 1000000

struct entry {
	char *rel;      /* "cur/123.host:2,S" or ".Work/new/…" */
	int64_t size, mtime;
};

struct listing {
	struct entry *v;
	size_t n, cap;
};

static enum pos_err maildir_validate(const json_t *config, struct pos_error *err)
{
	size_t mb;
	if (!pos_mail_max_body(config, &mb))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "config.max_body_bytes",
				     "max_body_bytes must be an integer from %d to %d",
				     POS_MAIL_BODY_MIN, POS_MAIL_BODY_MAX);
	const json_t *sf = json_object_get(config, "subfolders");
	if (sf && !json_is_boolean(sf))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "config.subfolders",
				     "subfolders must be true or false");
	return pos_mailfile_check_path(config, err);
}

/* Lists the regular files of `sub` (opened beneath the Maildir: no links). */
static enum pos_err list_dir(const struct pos_fsroot *md, const char *sub, struct listing *l)
{
	DIR *d;
	struct pos_error oe;
	pos_error_clear(&oe);
	enum pos_err orc = pos_fsroot_opendir(md, sub, &d, NULL, &oe);
	if (orc)
		return orc == POS_ERR_NOT_FOUND ? POS_OK : orc;
	struct dirent *e;
	enum pos_err rc = POS_OK;
	while (!rc && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		struct stat st;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (l->n == l->cap) {
			size_t ncap = l->cap ? l->cap * 2 : 256;
			if (ncap > MAILDIR_FILES_MAX) {
				rc = POS_ERR_CONFLICT;
				break;
			}
			struct entry *v = pos_realloc(l->v, ncap * sizeof(*v));
			if (!v) {
				rc = POS_ERR_NOMEM;
				break;
			}
			l->v = v;
			l->cap = ncap;
		}
		char rel[1024];
		snprintf(rel, sizeof(rel), "%s/%s", sub, e->d_name);
		l->v[l->n].rel = pos_strdup(rel);
		if (!l->v[l->n].rel) {
			rc = POS_ERR_NOMEM;
			break;
		}
		l->v[l->n].size = st.st_size;
		l->v[l->n].mtime = st.st_mtim.tv_sec;
		l->n++;
	}
	closedir(d);
	return rc;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->rel, ((const struct entry *)b)->rel);
}

static void listing_free(struct listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		pos_free(l->v[i].rel);
	pos_free(l->v);
}

static enum pos_err read_file(const struct pos_fsroot *md, const char *rel, char **data,
			      size_t *len)
{
	int fd;
	struct pos_error oe;
	pos_error_clear(&oe);
	enum pos_err orc = pos_fsroot_open(md, rel, 0, &fd, &oe);
	if (orc)
		return orc == POS_ERR_NOT_FOUND ? POS_ERR_NOT_FOUND : POS_ERR_IO;
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return POS_ERR_IO;
	}
	if (st.st_size > POS_MAIL_MESSAGE_MAX) {
		close(fd);
		return POS_ERR_CONTENT_TOO_LARGE;
	}
	size_t n = (size_t)st.st_size;
	char *buf = pos_malloc(n + 1);
	if (!buf) {
		close(fd);
		return POS_ERR_NOMEM;
	}
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			break;
		}
		got += (size_t)r;
	}
	close(fd);
	buf[got] = '\0';
	*data = buf;
	*len = got;
	return POS_OK;
}

static enum pos_err maildir_run(const json_t *config, const json_t *cursor,
				json_t **cursor_out, const struct pos_sync_sink *sink,
				struct pos_error *err)
{
	const char *root = json_string_value(json_object_get(config, "path"));
	bool subfolders = json_is_true(json_object_get(config, "subfolders"));
	size_t max_body;
	pos_mail_max_body(config, &max_body);
	pos_mail_init();
	/* The Maildir itself, opened confined; everything below beneath it. */
	DIR *top;
	struct pos_fsroot md = {-1};
	struct pos_error oe;
	pos_error_clear(&oe);
	enum pos_err rc = pos_fsroot_opendir(sink->root, root, &top, &md, &oe);
	if (rc) {
		if (rc == POS_ERR_NOT_FOUND || rc == POS_ERR_INVALID_FIELD)
			return pos_error_set(err, POS_ERR_UNAVAILABLE, "path",
					     "%s is not a readable directory", root);
		if (err)
			*err = oe;
		return rc;
	}
	struct stat cst;
	if (fstatat(md.fd, "cur", &cst, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(cst.st_mode)) {
		closedir(top);
		pos_fsroot_close(&md);
		return pos_error_set(err, POS_ERR_UNAVAILABLE, "path",
				     "%s is not a Maildir (no cur/)", root);
	}
	struct listing l = {NULL, 0, 0};
	rc = list_dir(&md, "cur", &l);
	if (!rc)
		rc = list_dir(&md, "new", &l);
	if (!rc && subfolders) {
		struct dirent *e;
		while (!rc && (e = readdir(top))) {
			if (e->d_name[0] != '.' || !strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			char sub[512];
			snprintf(sub, sizeof(sub), "%s/cur", e->d_name);
			rc = list_dir(&md, sub, &l);
			snprintf(sub, sizeof(sub), "%s/new", e->d_name);
			if (!rc)
				rc = list_dir(&md, sub, &l);
		}
	}
	closedir(top);
	if (rc) {
		listing_free(&l);
		pos_fsroot_close(&md);
		return pos_error_set(err, rc, "path", "cannot list %s", root);
	}
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), cmp_entry);
	crypto_generichash_state hs;
	crypto_generichash_init(&hs, NULL, 0, 16);
	int64_t bytes = 0, newest = 0;
	for (size_t i = 0; i < l.n; i++) {
		char line[64];
		crypto_generichash_update(&hs, (const unsigned char *)l.v[i].rel,
					  strlen(l.v[i].rel) + 1);
		snprintf(line, sizeof(line), "%lld:%lld", (long long)l.v[i].size,
			 (long long)l.v[i].mtime);
		crypto_generichash_update(&hs, (const unsigned char *)line, strlen(line) + 1);
		bytes += l.v[i].size;
		if (l.v[i].mtime > newest)
			newest = l.v[i].mtime;
	}
	unsigned char h[16];
	crypto_generichash_final(&hs, h, sizeof(h));
	char hx[33];
	static const char dg[] = "0123456789abcdef";
	for (size_t i = 0; i < sizeof(h); i++) {
		hx[2 * i] = dg[h[i] >> 4];
		hx[2 * i + 1] = dg[h[i] & 15];
	}
	hx[32] = '\0';
	const char *c_hash = json_string_value(json_object_get(cursor, "hash"));
	bool unchanged = c_hash && strcmp(c_hash, hx) == 0;
	for (size_t i = 0; !unchanged && i < l.n && !rc; i++) {
		if (sink->cancelled(sink->ctx)) {
			rc = pos_error_set(err, POS_ERR_UNAVAILABLE, NULL, "sync cancelled");
			break;
		}
		char *data = NULL;
		size_t len = 0;
		enum pos_err frc = read_file(&md, l.v[i].rel, &data, &len);
		if (frc == POS_ERR_NOT_FOUND) {
			/* moved (new/ to cur/) meanwhile: the next run sees it */
			sink->progress(sink->ctx, i + 1, l.n);
			continue;
		}
		if (frc) {
			sink->skip(sink->ctx, l.v[i].rel,
				   frc == POS_ERR_CONTENT_TOO_LARGE ? "message larger than 64 MiB"
								   : "cannot read the file");
			sink->progress(sink->ctx, i + 1, l.n);
			continue;
		}
		json_t *extra = NULL;
		const char *slash = strchr(l.v[i].rel, '/');
		if (l.v[i].rel[0] == '.' && slash)
			extra = json_pack("{s:s%}", "folder", l.v[i].rel + 1,
					  (size_t)(slash - l.v[i].rel - 1));
		struct pos_mail m;
		char reason[128];
		if (pos_mail_parse(data, len, max_body, extra, &m, reason, sizeof(reason))) {
			struct pos_error e;
			pos_error_clear(&e);
			enum pos_err urc = sink->upsert(sink->ctx, &m.item, &e);
			pos_mail_free(&m);
			if (urc && urc != POS_ERR_INVALID_FIELD) {
				if (err)
					*err = e;
				rc = urc;
			}
		} else {
			sink->skip(sink->ctx, l.v[i].rel, reason);
		}
		json_decref(extra);
		pos_free(data);
		sink->progress(sink->ctx, i + 1, l.n);
	}
	if (!rc) {
		*cursor_out = json_pack("{s:I,s:I,s:I,s:s}", "files", (json_int_t)l.n, "bytes",
					(json_int_t)bytes, "mtime", (json_int_t)newest, "hash", hx);
		if (!unchanged)
			sink->complete(sink->ctx);
		else
			sink->progress(sink->ctx, l.n, l.n);
	}
	listing_free(&l);
	pos_fsroot_close(&md);
	return rc;
}

static const char *const no_secrets[] = {NULL};

const struct pos_sync_adapter pos_sync_maildir = {
	.kind = "maildir",
	.files = true,
	.secret_keys = no_secrets,
	.validate = maildir_validate,
	.run = maildir_run,
};
