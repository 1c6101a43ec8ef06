/*
 * doctor.c — `personalos doctor`: integrity check and a summary.
 */
#include "cli/cli.h"

#include <limits.h>
#include <string.h>

#include "cache/redis.h"
#include "store/open.h"
#include "store/store.h"

/* What to do when the store is not healthy (docs/OPERATIONS.md). */
static void restore_advice(const struct pos_config *cfg)
{
	const char *data_dir = cfg->data_dir;
	if (pos_store_is_pg(cfg)) {
		fprintf(stderr,
			"personalos doctor: the PostgreSQL store does not check out. Look at the\n"
			"  server log; to restore, stop every instance and pg_restore the latest\n"
			"  pg_dump (docs/OPERATIONS.md, \"PostgreSQL\"), then run\n"
			"  'personalos doctor --full'\n");
		return;
	}
	fprintf(stderr,
		"personalos doctor: the store in %s is damaged. To restore:\n"
		"  1. stop the server (systemctl stop personalos)\n"
		"  2. personalos restore BACKUP_DIR --data %s\n"
		"     (a directory made by 'personalos backup'; the damaged files are kept\n"
		"     in %s/before-restore-*; see docs/OPERATIONS.md)\n"
		"  3. run 'personalos doctor --full', then start the server\n",
		data_dir, data_dir, data_dir);
}

/* The shared cache, when configured: whether Redis answers (never the
 * password). A Redis that is down is not a damaged store: only reported. */
static void print_cache(const struct pos_config *cfg)
{
	if (!cfg->cache_url[0])
		return;
	struct pos_cache_url u;
	struct pos_cache *c = NULL;
	struct pos_error err;
	pos_error_clear(&err);
	if (pos_cache_url_parse(cfg->cache_url, &u, &err) ||
	    pos_cache_new(cfg->cache_url, cfg->cache_timeout_ms, &c, &err)) {
		printf("cache            %s\n", err.message);
		return;
	}
	char buf[1];
	size_t n;
	enum pos_err rc = pos_cache_get(c, "pos:doctor", buf, sizeof(buf), &n);
	printf("cache            redis at %s:%d/%d %s\n", u.host, u.port, u.db,
	       rc == POS_ERR_UNAVAILABLE ? "unreachable (instances use in-process limits)"
					 : "reachable");
	pos_cache_free(c);
}

int pos_cli_doctor(int argc, char **argv)
{
	struct pos_config cfg;
	int rc = pos_cli_config(&argc, argv, &cfg, "see personalos doctor --help\n");
	if (rc)
		return rc;
	bool full = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--full")) {
			full = true;
		} else {
			fprintf(stderr, "personalos doctor: unexpected argument '%s'\n", argv[i]);
			return 2;
		}
	}
	struct pos_store *s;
	struct pos_error err;
	pos_error_clear(&err);
	if (pos_store_open(&cfg, &s, &err)) {
		fprintf(stderr, "personalos doctor: %s\n", err.message);
		if (err.code == POS_ERR_CORRUPT || err.code == POS_ERR_STORE)
			restore_advice(&cfg);
		return 1;
	}
	struct pos_store_summary sum;
	if (s->ops->summary(s, full, &sum)) {
		fprintf(stderr, "personalos doctor: cannot read the store\n");
		restore_advice(&cfg);
		pos_store_close(s);
		return 1;
	}
	printf("data directory   %s\n", cfg.data_dir);
	if (pos_store_is_pg(&cfg))
		printf("store            PostgreSQL\nschema version   %lld\n",
		       (long long)sum.schema_version);
	else
		printf("schema version   %lld (this build: %d)\n", (long long)sum.schema_version,
		       pos_store_schema_version());
	printf("database size    %.1f MiB\n", (double)sum.db_bytes / (1024.0 * 1024.0));
	printf("users            %lld\n", (long long)sum.users);
	printf("memories         %lld\n", (long long)sum.memories);
	printf("relationships    %lld\n", (long long)sum.relationships);
	printf("active sessions  %lld\n", (long long)sum.sessions_active);
	printf("integrity (%s)  %s\n", full ? "full " : "quick",
	       sum.integrity_ok ? "ok" : sum.integrity_message);
	bool blobs_ok = true;
	if (!pos_store_is_pg(&cfg)) {
		/* Every attachment row's blob is on disk (issue 21). */
		char db_path[PATH_MAX], blobs_dir[PATH_MAX], first[256];
		unsigned long long refs = 0, missing = 0;
		if ((size_t)snprintf(db_path, sizeof(db_path), "%s/personalos.db",
				     cfg.data_dir) >= sizeof(db_path) ||
		    (size_t)snprintf(blobs_dir, sizeof(blobs_dir), "%s/blobs", cfg.data_dir) >=
			    sizeof(blobs_dir)) {
			printf("uploaded files   cannot check: path too long\n");
			blobs_ok = false;
		} else if (pos_cli_check_blobs(db_path, blobs_dir, &refs, &missing, first,
					sizeof(first))) {
			printf("uploaded files   cannot check: %s\n", first);
			blobs_ok = false;
		} else if (missing) {
			printf("uploaded files   %llu of %llu MISSING or damaged (first: %s)\n",
			       missing, refs, first);
			blobs_ok = false;
		} else {
			printf("uploaded files   %llu, all present\n", refs);
		}
	}
	print_cache(&cfg);
	pos_store_close(s);
	if (!sum.integrity_ok)
		restore_advice(&cfg);
	else if (!blobs_ok)
		fprintf(stderr,
			"personalos doctor: attachments refer to files missing from %s/blobs:\n"
			"  restore them from the latest backup's blobs folder (docs/OPERATIONS.md,\n"
			"  \"Backup\"); their downloads answer 404 until then\n",
			cfg.data_dir);
	return sum.integrity_ok && blobs_ok ? 0 : 1;
}
