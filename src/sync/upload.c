/*
 * upload.c — storing uploaded files and unpacking zips of notes; see
 * upload.h.
 */
#include "sync/upload.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define RESOLVE_CONFINED (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)

/* A new file beneath dirfd, exclusive, 0600, no links on the way. */
static int create_beneath(int dirfd, const char *rel)
{
	struct open_how how;
	memset(&how, 0, sizeof(how));
	how.flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY;
	how.mode = 0600;
	how.resolve = RESOLVE_CONFINED;
	long fd;
	do
		fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
	while (fd < 0 && errno == EINTR);
	return (int)fd;
}

static bool write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

enum pos_err pos_upload_write(const struct pos_fsroot *dir, const char *name,
			      const void *data, size_t len, struct pos_error *err)
{
	int fd = create_beneath(dir->fd, name);
	if (fd < 0)
		return pos_error_set(err, POS_ERR_IO, NULL, "cannot store the upload");
	bool ok = write_all(fd, data, len) && fsync(fd) == 0;
	close(fd);
	if (!ok) {
		unlinkat(dir->fd, name, 0);
		return pos_error_set(err, POS_ERR_IO, NULL, "cannot store the upload");
	}
	return POS_OK;
}

static bool ends_md(const char *p)
{
	size_t n = strlen(p);
	return n > 3 && strcasecmp(p + n - 3, ".md") == 0;
}

/* The entry's path made relative and checked; "" for the zip's root. */
static bool entry_path(const char *raw, char *out, size_t cap)
{
	if (!raw)
		return false;
	size_t n = strlen(raw);
	if (n == 0 || n >= cap || strchr(raw, '\\'))
		return false;
	memcpy(out, raw, n + 1);
	while (n && out[n - 1] == '/')
		out[--n] = '\0'; /* "dir/" */
	return n == 0 ? raw[0] != '/' : pos_fsroot_rel_ok(out);
}

/* Makes the folders of `rel` (all but its last component) beneath dirfd. */
static bool make_parents(int dirfd, const char *rel)
{
	char buf[POS_FSROOT_PATH_MAX + 1];
	snprintf(buf, sizeof(buf), "%s", rel);
	for (char *s = strchr(buf, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		struct open_how how;
		memset(&how, 0, sizeof(how));
		how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
		how.resolve = RESOLVE_CONFINED;
		/* the parent exists and is ours: make the child there */
		char *slash = strrchr(buf, '/');
		long pfd = dirfd;
		if (slash) {
			*slash = '\0';
			pfd = syscall(SYS_openat2, dirfd, buf, &how, sizeof(how));
			*slash = '/';
			if (pfd < 0)
				return false;
		}
		const char *leaf = slash ? slash + 1 : buf;
		int mrc = mkdirat((int)pfd, leaf, 0700);
		int e = errno;
		if (slash)
			close((int)pfd);
		if (mrc != 0 && e != EEXIST)
			return false;
		*s = '/';
	}
	return true;
}

struct pass {
	size_t entries, total, kept;
};

/*
 * One pass over the zip: with dirfd < 0 only checks (every entry, every
 * byte counted), else writes the notes beneath dirfd.
 */
static enum pos_err zip_pass(const void *data, size_t len, int dirfd, struct pass *ps,
			     struct pos_error *err)
{
	struct archive *ar = archive_read_new();
	if (!ar)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	archive_read_support_format_zip(ar);
	archive_read_support_filter_none(ar);
	enum pos_err rc = POS_OK;
	memset(ps, 0, sizeof(*ps));
	if (archive_read_open_memory(ar, data, len) != ARCHIVE_OK) {
		rc = pos_error_set(err, POS_ERR_INVALID_FIELD, "body", "the upload is not a zip file");
		goto out;
	}
	uint64_t ratio_cap = (uint64_t)len * POS_UPLOAD_ZIP_RATIO;
	if (ratio_cap < (1u << 20))
		ratio_cap = 1u << 20; /* tiny zips of small notes compress well */
	struct archive_entry *e;
	int hr;
	while ((hr = archive_read_next_header(ar, &e)) == ARCHIVE_OK) {
		if (++ps->entries > POS_UPLOAD_ZIP_ENTRIES) {
			rc = pos_error_set(err, POS_ERR_CONTENT_TOO_LARGE, "body",
					   "the zip has more than %d entries", POS_UPLOAD_ZIP_ENTRIES);
			goto out;
		}
		char rel[POS_FSROOT_PATH_MAX + 1];
		const char *raw = archive_entry_pathname(e);
		if (!entry_path(raw, rel, sizeof(rel))) {
			rc = pos_error_set(err, POS_ERR_INVALID_FIELD, "body",
					   "zip entry %zu has an absolute path or \"..\"; refused",
					   ps->entries);
			goto out;
		}
		mode_t type = archive_entry_filetype(e);
		if (archive_entry_hardlink(e) || archive_entry_symlink(e) || type == AE_IFLNK) {
			rc = pos_error_set(err, POS_ERR_INVALID_FIELD, "body",
					   "zip entry %s is a link; links are refused", rel);
			goto out;
		}
		if (type != AE_IFREG && type != AE_IFDIR) {
			rc = pos_error_set(err, POS_ERR_INVALID_FIELD, "body",
					   "zip entry %s is not a file or folder; refused", rel);
			goto out;
		}
		if (type == AE_IFDIR || !rel[0])
			continue;
		bool keep = dirfd >= 0 && ends_md(rel);
		int fd = -1;
		if (keep) {
			if (!make_parents(dirfd, rel) || (fd = create_beneath(dirfd, rel)) < 0) {
				rc = pos_error_set(err, POS_ERR_INVALID_FIELD, "body",
						   "zip entry %s cannot be written (twice in the zip?)",
						   rel);
				goto out;
			}
		}
		size_t entry = 0;
		const void *blk;
		size_t bn;
		la_int64_t off;
		int dr;
		while ((dr = archive_read_data_block(ar, &blk, &bn, &off)) == ARCHIVE_OK) {
			entry += bn;
			ps->total += bn;
			if (entry > POS_UPLOAD_ZIP_ENTRY_MAX || ps->total > POS_UPLOAD_ZIP_TOTAL_MAX ||
			    ps->total > ratio_cap) {
				if (fd >= 0)
					close(fd);
				rc = pos_error_set(err, POS_ERR_CONTENT_TOO_LARGE, "body",
						   entry > POS_UPLOAD_ZIP_ENTRY_MAX
						   ? "zip entry %s is larger than 16 MiB uncompressed"
						   : "the zip unpacks to too much (over 256 MiB, or over "
						     "100 times its size): refused (%s)", rel);
				goto out;
			}
			if (fd >= 0 && !write_all(fd, blk, bn)) {
				close(fd);
				rc = pos_error_set(err, POS_ERR_IO, NULL, "cannot store the notes");
				goto out;
			}
		}
		if (fd >= 0)
			close(fd);
		if (dr != ARCHIVE_EOF) {
			rc = pos_error_set(err, POS_ERR_INVALID_FIELD, "body",
					   "zip entry %s cannot be read (damaged or encrypted)", rel);
			goto out;
		}
		if (keep)
			ps->kept++;
	}
	if (hr != ARCHIVE_EOF)
		rc = pos_error_set(err, POS_ERR_INVALID_FIELD, "body",
				   "the zip is damaged after entry %zu", ps->entries);
out:
	archive_read_free(ar);
	return rc;
}

enum pos_err pos_upload_zip_check(const void *data, size_t len, struct pos_error *err)
{
	struct pass ps;
	return zip_pass(data, len, -1, &ps, err);
}

enum pos_err pos_upload_unzip(const struct pos_fsroot *dir, const char *name,
			      const void *data, size_t len, size_t *kept,
			      struct pos_error *err)
{
	*kept = 0;
	struct pass ps;
	enum pos_err rc = zip_pass(data, len, -1, &ps, err);
	if (rc)
		return rc;
	if (mkdirat(dir->fd, name, 0700) != 0)
		return pos_error_set(err, POS_ERR_IO, NULL, "cannot store the notes");
	struct open_how how;
	memset(&how, 0, sizeof(how));
	how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
	how.resolve = RESOLVE_CONFINED;
	long dfd = syscall(SYS_openat2, dir->fd, name, &how, sizeof(how));
	if (dfd < 0)
		return pos_error_set(err, POS_ERR_IO, NULL, "cannot store the notes");
	rc = zip_pass(data, len, (int)dfd, &ps, err);
	close((int)dfd);
	*kept = ps.kept;
	return rc;
}
