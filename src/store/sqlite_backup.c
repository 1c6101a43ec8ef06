/*
 * sqlite_backup.c — online backup of the store (personalos backup) and
 * its restore (personalos restore).
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
#include <time.h>
#include <unistd.h>

#include "base/fcopy.h"
#include "base/log.h"
#include "crypto/keyfile.h"

static enum pos_err copy_file(const char *from, const char *to, struct pos_error *err)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		if (errno == ENOENT)
			return POS_OK; /* no key file yet: nothing to copy */
		return pos_error_set(err, POS_ERR_IO, NULL, "cannot read %s: %s", from,
				     strerror(errno));
	}
	enum pos_err rc = pos_fcopy(in, from, to, NULL, err);
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

/* ---- restore (personalos restore) ---- */

/* Checks the backup in `bdir` whole before anything is touched: a full
 * integrity check, a schema this build can open, and a key file that opens
 * (with the master key when one is configured). */
static enum pos_err check_backup(const char *db_path, const char *keys_path,
				 const char *master_key_file, struct pos_error *err)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	enum pos_err rc = POS_OK;
	if (access(db_path, R_OK) != 0)
		return pos_error_set(err, POS_ERR_IO, NULL, "no backup at %s: %s", db_path,
				     strerror(errno));
	if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		rc = db_error(db, "cannot open", db_path, err);
		goto out;
	}
	bool ok = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL) == SQLITE_OK &&
		  sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0) &&
		  strcmp((const char *)sqlite3_column_text(q, 0), "ok") == 0 &&
		  sqlite3_step(q) == SQLITE_DONE;
	sqlite3_finalize(q);
	q = NULL;
	if (!ok) {
		rc = pos_error_set(err, POS_ERR_CORRUPT, NULL,
				   "the backup %s fails its integrity check: nothing was changed",
				   db_path);
		goto out;
	}
	int version = -1;
	if (sqlite3_prepare_v2(db, "SELECT max(version) FROM schema_migrations", -1, &q,
			       NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
		version = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	if (version <= 0 || version > pos_store_schema_version()) {
		rc = pos_error_set(err, POS_ERR_CORRUPT, NULL,
				   version <= 0 ? "%s is not a PersonalOS database"
						: "%s has schema version %d, newer than this build"
						  " (%d): restore it with a newer personalos",
				   db_path, version, pos_store_schema_version());
		goto out;
	}
	struct pos_keyfile *kf = NULL;
	if (access(keys_path, R_OK) != 0) {
		rc = pos_error_set(err, POS_ERR_IO, NULL,
				   "the backup has no key file %s: without it every token and"
				   " sealed secret would be lost; nothing was changed", keys_path);
		goto out;
	}
	rc = pos_keyfile_open(keys_path, master_key_file, &kf, err);
	pos_keyfile_close(kf);
out:
	sqlite3_close_v2(db);
	return rc;
}

static int run_sql(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* Fails with POS_ERR_BUSY while another process (a server) has the
 * database open: in WAL mode every connection holds a shared lock on the
 * file, which an exclusive locking-mode connection cannot get past. */
static enum pos_err check_not_in_use(const char *db_path, struct pos_error *err)
{
	if (access(db_path, F_OK) != 0)
		return POS_OK;
	sqlite3 *db = NULL;
	enum pos_err rc = POS_OK;
	if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		rc = db_error(db, "cannot open", db_path, err);
	} else if (run_sql(db, "PRAGMA locking_mode=EXCLUSIVE") != SQLITE_OK ||
		   run_sql(db, "BEGIN EXCLUSIVE") != SQLITE_OK ||
		   run_sql(db, "SELECT count(*) FROM sqlite_master") != SQLITE_OK) {
		rc = pos_error_set(err, POS_ERR_BUSY, NULL,
				   "%s is in use (is the server running?): stop it first",
				   db_path);
	} else {
		run_sql(db, "ROLLBACK");
	}
	sqlite3_close_v2(db);
	return rc;
}

static const char *const restore_names[] = {"personalos.db", "personalos.db-wal",
					    "personalos.db-shm", POS_KEYFILE_NAME, "blobs"};
#define RESTORE_NAMES (sizeof(restore_names) / sizeof(restore_names[0]))

/* Moves the named files of `from` into `to` (those that exist; the blobs
 * folder only when `blobs`); on a failure moves back what it moved. */
static enum pos_err move_files(const char *from, const char *to, bool blobs,
			       struct pos_error *err)
{
	size_t n = RESTORE_NAMES - (blobs ? 0 : 1);
	size_t i;
	for (i = 0; i < n; i++) {
		char a[PATH_MAX], b[PATH_MAX];
		snprintf(a, sizeof(a), "%s/%s", from, restore_names[i]);
		snprintf(b, sizeof(b), "%s/%s", to, restore_names[i]);
		if (rename(a, b) != 0 && errno != ENOENT)
			break;
	}
	if (i == n)
		return POS_OK;
	int e = errno;
	while (i-- > 0) {
		char a[PATH_MAX], b[PATH_MAX];
		snprintf(a, sizeof(a), "%s/%s", from, restore_names[i]);
		snprintf(b, sizeof(b), "%s/%s", to, restore_names[i]);
		rename(b, a);
	}
	return pos_error_set(err, POS_ERR_IO, NULL, "cannot move the current data aside: %s",
			     strerror(e));
}

enum pos_err pos_sqlite_restore(const char *backup_dir, const char *dir,
				const char *master_key_file, const char *staged_blobs,
				char *aside, size_t aside_cap, struct pos_error *err)
{
	char bdb[PATH_MAX], bkeys[PATH_MAX], ddb[PATH_MAX], dkeys[PATH_MAX], dblobs[PATH_MAX];
	bool blobs = staged_blobs != NULL;
	if ((size_t)snprintf(dblobs, sizeof(dblobs), "%s/blobs", dir) >= sizeof(dblobs))
		return pos_error_set(err, POS_ERR_IO, NULL, "path too long");
	if ((size_t)snprintf(bdb, sizeof(bdb), "%s/personalos.db", backup_dir) >= sizeof(bdb) ||
	    (size_t)snprintf(bkeys, sizeof(bkeys), "%s/%s", backup_dir, POS_KEYFILE_NAME) >= sizeof(bkeys) ||
	    (size_t)snprintf(ddb, sizeof(ddb), "%s/personalos.db", dir) >= sizeof(ddb) ||
	    (size_t)snprintf(dkeys, sizeof(dkeys), "%s/%s", dir, POS_KEYFILE_NAME) >= sizeof(dkeys))
		return pos_error_set(err, POS_ERR_IO, NULL, "path too long");
	enum pos_err rc = check_backup(bdb, bkeys, master_key_file, err);
	if (rc)
		return rc;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return pos_error_set(err, POS_ERR_IO, NULL, "cannot create %s: %s", dir,
				     strerror(errno));
	if ((rc = check_not_in_use(ddb, err)))
		return rc;
	/* The current files go aside, never deleted: the operator removes
	 * them once the restored server looks right. */
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", gmtime_r(&now, &tm));
	if ((size_t)snprintf(aside, aside_cap, "%s/before-restore-%s", dir, stamp) >= aside_cap)
		return pos_error_set(err, POS_ERR_IO, NULL, "path too long");
	if (mkdir(aside, 0700) != 0)
		return pos_error_set(err, POS_ERR_IO, NULL, "cannot create %s: %s", aside,
				     strerror(errno));
	if ((rc = move_files(dir, aside, blobs, err)))
		return rc;
	rc = copy_file(bdb, ddb, err);
	if (!rc)
		rc = copy_file(bkeys, dkeys, err);
	if (!rc && blobs && rename(staged_blobs, dblobs) != 0)
		rc = pos_error_set(err, POS_ERR_IO, NULL, "cannot move %s to %s: %s",
				   staged_blobs, dblobs, strerror(errno));
	if (rc) {
		unlink(ddb);
		unlink(dkeys);
		struct pos_error back;
		pos_error_clear(&back);
		move_files(aside, dir, blobs, &back);
		rmdir(aside);
		return rc;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return POS_OK;
}

enum pos_err pos_sqlite_blob_refs(const char *db_path, pos_blob_ref_fn fn, void *ctx,
				  struct pos_error *err)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	enum pos_err rc = POS_OK;
	if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		rc = db_error(db, "cannot open", db_path, err);
		goto out;
	}
	sqlite3_busy_timeout(db, 10000);
	/* A database older than migration 14 has no attachments: nothing. */
	bool has_thumb = false, has_att = false;
	if (sqlite3_prepare_v2(db, "SELECT name FROM pragma_table_info('attachments')", -1, &q,
			       NULL) == SQLITE_OK) {
		while (sqlite3_step(q) == SQLITE_ROW) {
			const char *c = (const char *)sqlite3_column_text(q, 0);
			has_att = true;
			if (c && strcmp(c, "thumb") == 0)
				has_thumb = true;
		}
	}
	sqlite3_finalize(q);
	q = NULL;
	if (!has_att)
		goto out;
	const char *sql =
		has_thumb
			? "SELECT user_id, hash, max(bytes), max(sealed) FROM attachments"
			  " GROUP BY user_id, hash UNION ALL"
			  " SELECT DISTINCT user_id, thumb, -1, 0 FROM attachments"
			  " WHERE thumb IS NOT NULL AND length(thumb) = 64"
			  " AND NOT EXISTS (SELECT 1 FROM attachments a2 WHERE"
			  " a2.user_id = attachments.user_id AND a2.hash = attachments.thumb)"
			: "SELECT user_id, hash, max(bytes), max(sealed) FROM attachments"
			  " GROUP BY user_id, hash";
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
		rc = db_error(db, "cannot read the attachments of", db_path, err);
		goto out;
	}
	int step;
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		const char *user = (const char *)sqlite3_column_text(q, 0);
		const char *hash = (const char *)sqlite3_column_text(q, 1);
		if (fn(ctx, user ? user : "", hash ? hash : "", sqlite3_column_int64(q, 2),
		       sqlite3_column_int(q, 3) != 0))
			break;
	}
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		rc = db_error(db, "cannot read the attachments of", db_path, err);
out:
	sqlite3_finalize(q);
	sqlite3_close_v2(db);
	return rc;
}
