/*
 * backup.c — `personalos backup DEST`: an online backup of the data
 * directory (store/store.h pos_sqlite_backup), safe while the server runs,
 * then the blob store (files/blob.h pos_blob_copy_tree) into DEST/blobs;
 * `personalos restore SRC`: that backup back into the data directory
 * (pos_sqlite_restore), checked whole before anything is replaced: every
 * blob an attachment row of the backup refers to must be in SRC/blobs.
 *
 * The order makes the copy consistent: blobs are written before their
 * rows and removed only after the rows are gone, so every blob the
 * database snapshot refers to is still there when the blobs are copied
 * after it (blobs newer than the snapshot are copied too: harmless, the
 * restored server collects them as orphans).
 */
#include "cli/cli.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files/blob.h"
#include "store/store.h"
#include "store/open.h"

int pos_cli_backup(int argc, char **argv)
{
	struct pos_config cfg;
	int rc = pos_cli_config(&argc, argv, &cfg, "see personalos backup --help\n");
	if (rc)
		return rc;
	const char *dest = NULL;
	for (int i = 1; i < argc; i++) {
		if (argv[i][0] == '-' || dest) {
			fprintf(stderr, "personalos backup: unexpected argument '%s'\n", argv[i]);
			return 2;
		}
		dest = argv[i];
	}
	if (!dest) {
		fprintf(stderr, "personalos backup: name the directory to write, see --help\n");
		return 2;
	}
	if (pos_store_is_pg(&cfg)) {
		fprintf(stderr, "personalos backup: the store is PostgreSQL: back it up with"
				" pg_dump (docs/OPERATIONS.md, \"PostgreSQL\"); this command copies"
				" the SQLite database only\n");
		return 2;
	}
	struct pos_error err;
	pos_error_clear(&err);
	if (pos_sqlite_backup(cfg.data_dir, dest, &err)) {
		fprintf(stderr, "personalos backup: %s\n", err.message);
		return 1;
	}
	char from[PATH_MAX], to[PATH_MAX];
	if ((size_t)snprintf(from, sizeof(from), "%s/blobs", cfg.data_dir) >= sizeof(from) ||
	    (size_t)snprintf(to, sizeof(to), "%s/blobs", dest) >= sizeof(to)) {
		fprintf(stderr, "personalos backup: path too long\n");
		return 1;
	}
	uint64_t files = 0, bytes = 0;
	if (pos_blob_copy_tree(from, to, &files, &bytes, &err)) {
		fprintf(stderr, "personalos backup: copying the uploaded files: %s (the backup in"
				" %s is incomplete: delete it)\n", err.message, dest);
		return 1;
	}
	printf("backup of %s written to %s (personalos.db, keys and %llu uploaded files,"
	       " %.1f MiB)\n", cfg.data_dir, dest, (unsigned long long)files,
	       (double)bytes / (1024.0 * 1024.0));
	return 0;
}

struct blob_check {
	struct pos_blobs blobs; /* the folder checked */
	unsigned long long refs, missing;
	char user[64], hash[POS_BLOB_HASH_HEX];
	const char *why;
};

static int check_blob(void *ctx, const char *user_id, const char *hash, int64_t bytes,
		      bool sealed)
{
	struct blob_check *c = ctx;
	int64_t have = pos_blob_disk_size(&c->blobs, user_id, hash);
	const char *why = NULL;
	c->refs++;
	if (have < 0)
		why = "missing";
	else if (bytes >= 0 && (uint64_t)have != pos_blob_stored_size((uint64_t)bytes, sealed))
		why = "wrong size";
	if (why && c->missing++ == 0) {
		snprintf(c->user, sizeof(c->user), "%s", user_id);
		snprintf(c->hash, sizeof(c->hash), "%s", hash);
		c->why = why;
	}
	return 0;
}

int pos_cli_check_blobs(const char *db_path, const char *blobs_dir, unsigned long long *refs,
			unsigned long long *missing, char *first, size_t first_cap)
{
	struct blob_check chk = {.refs = 0};
	*refs = *missing = 0;
	if (first && first_cap)
		first[0] = 0;
	if ((size_t)snprintf(chk.blobs.dir, sizeof(chk.blobs.dir), "%s", blobs_dir) >=
	    sizeof(chk.blobs.dir)) {
		if (first)
			snprintf(first, first_cap, "path too long");
		return -1;
	}
	struct pos_error err;
	pos_error_clear(&err);
	if (pos_sqlite_blob_refs(db_path, check_blob, &chk, &err)) {
		if (first)
			snprintf(first, first_cap, "%s", err.message);
		return -1;
	}
	*refs = chk.refs;
	*missing = chk.missing;
	if (chk.missing && first)
		snprintf(first, first_cap, "user %s, blob %s: %s", chk.user, chk.hash, chk.why);
	return 0;
}

int pos_cli_restore(int argc, char **argv)
{
	struct pos_config cfg;
	int rc = pos_cli_config(&argc, argv, &cfg, "see personalos restore --help\n");
	if (rc)
		return rc;
	const char *src = NULL;
	for (int i = 1; i < argc; i++) {
		if (argv[i][0] == '-' || src) {
			fprintf(stderr, "personalos restore: unexpected argument '%s'\n", argv[i]);
			return 2;
		}
		src = argv[i];
	}
	if (!src) {
		fprintf(stderr, "personalos restore: name the backup directory, see --help\n");
		return 2;
	}
	struct pos_error err;
	pos_error_clear(&err);
	char bdb[PATH_MAX], bblobs[PATH_MAX], staged[PATH_MAX];
	if ((size_t)snprintf(bdb, sizeof(bdb), "%s/personalos.db", src) >= sizeof(bdb) ||
	    (size_t)snprintf(bblobs, sizeof(bblobs), "%s/blobs", src) >= sizeof(bblobs) ||
	    (size_t)snprintf(staged, sizeof(staged), "%s/blobs.restoring", cfg.data_dir) >=
		    sizeof(staged)) {
		fprintf(stderr, "personalos restore: path too long\n");
		return 1;
	}
	/* Every blob the backup's rows refer to must be in it, whole. */
	if (access(bdb, R_OK) == 0) {
		unsigned long long refs, missing;
		char first[256];
		if (pos_cli_check_blobs(bdb, bblobs, &refs, &missing, first, sizeof(first))) {
			fprintf(stderr, "personalos restore: %s\n", first);
			return 1;
		}
		if (missing) {
			fprintf(stderr,
				"personalos restore: the backup lacks %llu of the %llu uploaded files"
				" its database refers to (first: %s); a backup made before backups"
				" held files needs DATA/blobs copied into %s by hand; nothing was"
				" changed\n",
				missing, refs, first, bblobs);
			return 1;
		}
	}
	/* Staged on the data directory's file system, so the switch is a
	 * rename; a stale stage of an interrupted restore goes first. */
	if (mkdir(cfg.data_dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "personalos restore: cannot create %s: %s\n", cfg.data_dir,
			strerror(errno));
		return 1;
	}
	pos_blob_remove_tree(staged);
	uint64_t files = 0, bytes = 0;
	if (pos_blob_copy_tree(bblobs, staged, &files, &bytes, &err)) {
		fprintf(stderr, "personalos restore: copying the uploaded files: %s; nothing was"
				" changed\n", err.message);
		pos_blob_remove_tree(staged);
		return 1;
	}
	char aside[PATH_MAX];
	if (pos_sqlite_restore(src, cfg.data_dir, cfg.master_key_file, staged, aside,
			       sizeof(aside), &err)) {
		fprintf(stderr, "personalos restore: %s\n", err.message);
		pos_blob_remove_tree(staged);
		return 1;
	}
	printf("restored %s (%llu uploaded files) into %s; the data it replaced is in %s\n"
	       "(delete it once the restored server looks right; `personalos doctor --full`\n"
	       "checks it)\n",
	       src, (unsigned long long)files, cfg.data_dir, aside);
	return 0;
}
