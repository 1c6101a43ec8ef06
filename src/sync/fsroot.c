/*
 * fsroot.c — confined opens with openat2(2); see fsroot.h.
 */
#include "sync/fsroot.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
#define RESOLVE_CONFINED (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)

bool pos_fsroot_rel_ok(const char *rel)
{
	if (!rel || !*rel || rel[0] == '/' || strlen(rel) > POS_FSROOT_PATH_MAX)
		return false;
	for (const unsigned char *p = (const unsigned char *)rel; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	const char *c = rel;
	for (;;) {
		const char *slash = strchr(c, '/');
		size_t n = slash ? (size_t)(slash - c) : strlen(c);
		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		if (!slash)
			return true;
		c = slash + 1;
	}
}

static long openat2_call(int dirfd, const char *path, int flags, unsigned long long resolve)
{
	struct open_how how;
	memset(&how, 0, sizeof(how));
	how.flags = (unsigned long long)flags;
	how.resolve = resolve;
	long fd;
	do
		fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	while (fd < 0 && errno == EINTR);
	return fd;
}

static enum pos_err open_error(int e, const char *path, struct pos_error *err)
{
	switch (e) {
	case ENOENT:
		return pos_error_set(err, POS_ERR_NOT_FOUND, "path", "%s does not exist", path);
	case ELOOP:
	case EXDEV:
	case EPERM:
	case EACCES:
		return pos_error_set(err, POS_ERR_FORBIDDEN, "path",
				     "%s is refused: symbolic links, /proc links and paths leaving "
				     "your folder are not followed", path);
	case ENOTDIR:
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "path",
				     "%s: a component is not a directory", path);
	case ENOSYS:
		return pos_error_set(err, POS_ERR_UNAVAILABLE, "path",
				     "confined file access needs openat2 (Linux 5.6 or later)");
	default:
		return pos_error_set(err, POS_ERR_IO, "path", "cannot open %s", path);
	}
}

enum pos_err pos_fsroot_open(const struct pos_fsroot *root, const char *path,
			     int extra_flags, int *fd, struct pos_error *err)
{
	*fd = -1;
	if (!path || !*path)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "path", "the path is empty");
	long r;
	if (!root) {
		do
			r = open(path, OPEN_FLAGS | extra_flags);
		while (r < 0 && errno == EINTR);
	} else {
		if (!pos_fsroot_rel_ok(path))
			return pos_error_set(err, POS_ERR_INVALID_FIELD, "path",
					     "the path must be relative to your folder, without \"..\"");
		r = openat2_call(root->fd, path, OPEN_FLAGS | extra_flags, RESOLVE_CONFINED);
	}
	if (r < 0)
		return open_error(errno, path, err);
	*fd = (int)r;
	return POS_OK;
}

enum pos_err pos_fsroot_opendir(const struct pos_fsroot *root, const char *path,
				DIR **dir, struct pos_fsroot *as_root, struct pos_error *err)
{
	*dir = NULL;
	if (as_root)
		as_root->fd = -1;
	int fd;
	enum pos_err rc = pos_fsroot_open(root, path, O_DIRECTORY, &fd, err);
	if (rc)
		return rc;
	if (as_root) {
		as_root->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (as_root->fd < 0) {
			close(fd);
			return pos_error_set(err, POS_ERR_IO, "path", "cannot open %s", path);
		}
	}
	*dir = fdopendir(fd);
	if (!*dir) {
		close(fd);
		pos_fsroot_close(as_root);
		return pos_error_set(err, POS_ERR_IO, "path", "cannot list %s", path);
	}
	return POS_OK;
}

enum pos_err pos_fsroot_open_user(const char *base, const char *name, bool create,
				  struct pos_fsroot *out, struct pos_error *err)
{
	out->fd = -1;
	if (!name || !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
		return pos_error_set(err, POS_ERR_INTERNAL, NULL, "bad folder name");
	if (create && mkdir(base, 0700) != 0 && errno != EEXIST)
		return pos_error_set(err, POS_ERR_IO, NULL, "cannot create the sync folder");
	int bfd = open(base, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (bfd < 0)
		return pos_error_set(err, errno == ENOENT ? POS_ERR_NOT_FOUND : POS_ERR_IO, NULL,
				     "the server's sync folder cannot be opened");
	if (create && mkdirat(bfd, name, 0700) != 0 && errno != EEXIST) {
		close(bfd);
		return pos_error_set(err, POS_ERR_IO, NULL, "cannot create your sync folder");
	}
	long fd = openat2_call(bfd, name, O_PATH | O_DIRECTORY | O_CLOEXEC, RESOLVE_CONFINED);
	int e = errno;
	close(bfd);
	if (fd < 0)
		return e == ENOENT ? pos_error_set(err, POS_ERR_NOT_FOUND, NULL,
						   "your sync folder does not exist")
				   : open_error(e, name, err);
	out->fd = (int)fd;
	return POS_OK;
}

void pos_fsroot_close(struct pos_fsroot *r)
{
	if (r && r->fd >= 0) {
		close(r->fd);
		r->fd = -1;
	}
}
