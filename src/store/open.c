/*
 * open.c — choosing the store backend from the configuration (open.h).
 */
#include "store/open.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static bool has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

bool pos_store_is_pg(const struct pos_config *cfg)
{
	return has_prefix(cfg->store, "postgres://") || has_prefix(cfg->store, "postgresql://");
}

enum pos_err pos_store_open(const struct pos_config *cfg, struct pos_store **out,
			    struct pos_error *err)
{
	const char *st = cfg->store;
	if (!st[0] || strcmp(st, "sqlite:") == 0)
		return pos_sqlite_open_keyed(cfg->data_dir, cfg->master_key_file, out, err);
	if (!pos_store_is_pg(cfg))
		return pos_error_set(err, POS_ERR_USAGE, "store",
				     "store must be empty, sqlite: or a postgres:// URL");
	/* blobs (uploaded files) stay in the data directory */
	if (mkdir(cfg->data_dir, 0700) != 0 && errno != EEXIST)
		return pos_error_set(err, POS_ERR_IO, NULL, "cannot create data directory %s: %s",
				     cfg->data_dir, strerror(errno));
	return pos_pg_open(st, cfg->master_key_file, cfg->store_pool, out, err);
}
