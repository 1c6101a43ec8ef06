/*
 * open.h — opening the configured store backend: SQLite in the data
 * directory (the default) or PostgreSQL (config key `store`, issue 18).
 * Blobs (uploaded files) stay in the data directory on both; on SQLite the
 * server keys are DATA/keys, on PostgreSQL the table server_keys.
 */
#ifndef POS_STORE_OPEN_H
#define POS_STORE_OPEN_H

#include <stdbool.h>

#include "base/config.h"
#include "store/store.h"

/*
 * Opens the backend `cfg->store` names: "" or "sqlite:" → SQLite in
 * cfg->data_dir;
 * "postgres://..." or "postgresql://..." → PostgreSQL with cfg->store_pool
 * connections. Both seal their server keys under cfg->master_key_file when
 * set. POS_ERR_USAGE (err->field "store") for any other value; else the
 * backend's errors. On PostgreSQL the data directory is still made (0700)
 * for blobs.
 */
enum pos_err pos_store_open(const struct pos_config *cfg, struct pos_store **out,
			    struct pos_error *err);

/* Whether `cfg->store` names PostgreSQL (and not the SQLite default). */
bool pos_store_is_pg(const struct pos_config *cfg);

#endif
