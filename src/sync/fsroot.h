/*
 * fsroot.h — confined opening of the files sync reads (mbox, maildir,
 * ics_file, markdown_dir, uploads): the one place a file source's path
 * becomes a file descriptor.
 *
 * A user's file source names a path RELATIVE to a directory the server
 * chose for that user (sync_file_root/<user id>/ or the user's upload
 * folder in the data directory). Every open goes through openat2(2) with
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS relative to
 * that directory's descriptor, on every run: there is no check-then-open
 * by name, a symbolic link anywhere on the path is refused, ".." cannot
 * climb out and /proc "magic links" are never followed. Directory walks
 * open each entry relative to the descriptor of the directory being
 * walked (pos_fsroot_opendir, then pos_fsroot_open with that root).
 *
 * A NULL root means "unconfined": the operator's CLI (`personalos import`)
 * and unit tests read any path the process may read.
 *
 * Thread-safety: a root is immutable once made; share it between threads.
 */
#ifndef POS_SYNC_FSROOT_H
#define POS_SYNC_FSROOT_H

#include <dirent.h>
#include <stdbool.h>

#include "base/err.h"

#define POS_FSROOT_PATH_MAX 4096 /* bytes of a configured path */

/* A directory every path is opened beneath. */
struct pos_fsroot {
	int fd; /* O_PATH|O_DIRECTORY descriptor, owned */
};

/*
 * True when `rel` is an acceptable relative path for a confined source:
 * 1..4096 bytes, no NUL, not absolute, no "." or ".." component, no empty
 * component ("a//b"), no control characters. (openat2 enforces the
 * confinement anyway; this gives a clear 4xx at creation.)
 */
bool pos_fsroot_rel_ok(const char *rel);

/*
 * Opens (creating with mode 0700 when `create`) the directory
 * `base`/`name`, where `name` is one path component (a user id), and makes
 * *out a root over it. `base` itself is trusted (operator configuration)
 * and opened normally; `name` must not be a symbolic link. Errors:
 * POS_ERR_NOT_FOUND (no such directory and !create), POS_ERR_IO.
 */
enum pos_err pos_fsroot_open_user(const char *base, const char *name, bool create,
				  struct pos_fsroot *out, struct pos_error *err);
/* Closes the root's descriptor (fd -1 after). NULL and closed roots are fine. */
void pos_fsroot_close(struct pos_fsroot *r);

/*
 * Opens `path` read-only (O_RDONLY|O_CLOEXEC|O_NOCTTY|O_NONBLOCK plus
 * `extra_flags`, e.g. O_DIRECTORY) beneath `root`, or anywhere when root
 * is NULL. *fd is the new descriptor. Errors, with a message that names
 * `path` but never what lies outside the root:
 *  POS_ERR_INVALID_FIELD: confined and `path` is absolute or has "..";
 *  POS_ERR_FORBIDDEN: a symbolic link, a magic link or a way out of root;
 *  POS_ERR_NOT_FOUND: no such file; POS_ERR_UNAVAILABLE: openat2 missing
 *  (kernel older than 5.6); POS_ERR_IO: anything else.
 * `field` names the config key in err (e.g. "path").
 */
enum pos_err pos_fsroot_open(const struct pos_fsroot *root, const char *path,
			     int extra_flags, int *fd, struct pos_error *err);

/*
 * Opens the directory `path` beneath `root` (as pos_fsroot_open) and
 * returns a stream over it (fdopendir; closedir releases it). When `as_root`
 * is not NULL it also gets a root over the same directory (its own
 * descriptor, close with pos_fsroot_close) for opening the entries.
 */
enum pos_err pos_fsroot_opendir(const struct pos_fsroot *root, const char *path,
				DIR **dir, struct pos_fsroot *as_root, struct pos_error *err);

#endif
