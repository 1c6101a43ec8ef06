/*
 * sqlite_backup.c — online backup of the store (personalos backup).
 *
 * SQLite's backup API copies the database page by page inside one read
 * transaction: in WAL mode writers carry on, and the copy is the database
 * as of the moment the read began (every committed write before it, none
 * after). The key file is copied beside it; without it the server keys
 * (and so every token) would not survive a restore.
 */
#include "store/sqlite_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "crypto/keyfile.h"

static enum pos_err copy_file(const char *from, const char *to, struct pos_error *err)
{
	enum pos_err rc = POS_OK;
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		if (errno == ENOENT)
			return POS_OK; /* no key file yet: nothing to copy */
		return pos_error_set(err, POS_ERR_IO, NULL, "cannot read %s: %s", from,
				     strerror(errno));
	}
	int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		rc = pos_error_set(err, POS_ERR_IO, NULL, "cannot create %s: %s", to,
				   strerror(errno));
		goto out;
	}
	char buf[8192];
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = pos_error_set(err, POS_ERR_IO, NULL, "cannot read %s: %s", from,
					   strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				rc = pos_error_set(err, errno == ENOSPC ? POS_ERR_NO_SPACE : POS_ERR_IO,
						   NULL, "cannot write %s: %s", to, strerror(errno));
				goto out;
			}
			off += w;
		}
	}
	if (fsync(out) != 0)
		rc = pos_error_set(err, POS_ERR_IO, NULL, "cannot sync %s: %s", to,
				   strerror(errno));
out:
	if (out >= 0)
		close(out);
	close(in);
	return rc;
}

static enum pos_err db_error(sqlite3 *db, const char *what, const char *path,
			     struct pos_error *err)
{
	int ext = db ? sqlite3_extended_errcode(db) : SQLITE_CANTOPEN;
	return pos_error_set(err, (ext & 0xff) == SQLITE_FULL ? POS_ERR_NO_SPACE : POS_ERR_STORE,
			     NULL, "%s %s: %s", what, path,
			     db ? sqlite3_errmsg(db) : sqlite3_errstr(ext));
}

enum pos_err pos_sqlite_backup(const char *dir, const char *dest_dir,
			       struct pos_error *err)
{
	char src_path[PATH_MAX], dst_path[PATH_MAX], keys_from[PATH_MAX], keys_to[PATH_MAX];
	if ((size_t)snprintf(src_path, sizeof(src_path), "%s/personalos.db", dir) >= sizeof(src_path) ||
	    (size_t)snprintf(dst_path, sizeof(dst_path), "%s/personalos.db", dest_dir) >= sizeof(dst_path) ||
	    (size_t)snprintf(keys_from, sizeof(keys_from), "%s/%s", dir, POS_KEYFILE_NAME) >= sizeof(keys_from) ||
	    (size_t)snprintf(keys_to, sizeof(keys_to), "%s/%s", dest_dir, POS_KEYFILE_NAME) >= sizeof(keys_to))
		return pos_error_set(err, POS_ERR_IO, NULL, "path too long");
	struct stat st;
	if (stat(src_path, &st) != 0)
		return pos_error_set(err, POS_ERR_IO, NULL, "no database at %s: %s", src_path,
				     strerror(errno));
	if (mkdir(dest_dir, 0700) != 0 && errno != EEXIST)
		return pos_error_set(err, POS_ERR_IO, NULL, "cannot create %s: %s", dest_dir,
				     strerror(errno));
	if (access(dst_path, F_OK) == 0 || access(keys_to, F_OK) == 0)
		return pos_error_set(err, POS_ERR_CONFLICT, NULL,
				     "%s already holds a backup: choose an empty directory", dest_dir);
	sqlite3 *src = NULL, *dst = NULL;
	sqlite3_backup *b = NULL;
	enum pos_err rc = POS_OK;
	if (sqlite3_open_v2(src_path, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		rc = db_error(src, "cannot open", src_path, err);
		goto out;
	}
	sqlite3_busy_timeout(src, 10000);
	int fd = open(dst_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = pos_error_set(err, POS_ERR_IO, NULL, "cannot create %s: %s", dst_path,
				   strerror(errno));
		goto out;
	}
	close(fd);
	if (sqlite3_open_v2(dst_path, &dst, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		rc = db_error(dst, "cannot open", dst_path, err);
		goto out;
	}
	b = sqlite3_backup_init(dst, "main", src, "main");
	if (!b) {
		rc = db_error(dst, "cannot start the backup to", dst_path, err);
		goto out;
	}
	/* All pages in one step: one read transaction, one snapshot. */
	int step;
	while ((step = sqlite3_backup_step(b, -1)) == SQLITE_BUSY || step == SQLITE_LOCKED)
		sqlite3_sleep(50);
	sqlite3_backup_finish(b);
	b = NULL;
	if (step != SQLITE_DONE) {
		rc = db_error(dst, "backup failed writing", dst_path, err);
		goto out;
	}
	/* The copy is a rollback-journal database on its own; check it. */
	sqlite3_stmt *q = NULL;
	bool ok = sqlite3_prepare_v2(dst, "PRAGMA quick_check", -1, &q, NULL) == SQLITE_OK &&
		  sqlite3_step(q) == SQLITE_ROW && q &&
		  sqlite3_column_text(q, 0) &&
		  strcmp((const char *)sqlite3_column_text(q, 0), "ok") == 0;
	sqlite3_finalize(q);
	if (!ok) {
		rc = pos_error_set(err, POS_ERR_CORRUPT, NULL,
				   "the copy in %s failed its integrity check", dst_path);
		goto out;
	}
	rc = copy_file(keys_from, keys_to, err);
out:
	if (b)
		sqlite3_backup_finish(b);
	sqlite3_close_v2(dst);
	sqlite3_close_v2(src);
	return rc;
}
