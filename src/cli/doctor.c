/*
 * doctor.c — `personalos doctor`: integrity check and a summary.
 */
#include "cli/cli.h"

#include <string.h>

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
		"  2. move %s/personalos.db* aside (keep them for analysis)\n"
		"  3. copy the latest backup to %s/personalos.db\n"
		"     (made by 'personalos backup' or sqlite3 .backup; see docs/OPERATIONS.md)\n"
		"  4. run 'personalos doctor --full', then start the server\n",
		data_dir, data_dir, data_dir);
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
	pos_store_close(s);
	if (!sum.integrity_ok)
		restore_advice(&cfg);
	return sum.integrity_ok ? 0 : 1;
}
