/*
 * migrate_keys.c — server keys between a key file and PostgreSQL's
 * server_keys table for `personalos migrate` (cli/migrate_keys.h).
 */
#include "cli/migrate_keys.h"

#include <inttypes.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "crypto/keyfile.h"
#include "store/open.h"

struct to_pg_ctx {
	struct mig_db *dst;
	struct mig_table t;
	int moved;
};

static int key_path(const char *dir, char *out, size_t cap)
{
	if ((size_t)snprintf(out, cap, "%s/%s", dir, POS_KEYFILE_NAME) >= cap) {
		fprintf(stderr, "personalos migrate: path too long\n");
		return -1;
	}
	return 0;
}

static enum pos_err put_key(void *ctx, const char *name, const uint8_t *key, size_t len)
{
	struct to_pg_ctx *c = ctx;
	struct mig_val v[4] = {
		{.p = name, .n = strlen(name)},
		{.p = key, .n = len},
		{.i = pos_now_us()},
		{.i = 0},
	};
	/* a server that ran on the new database may have made its own */
	if (mig_db_delete_key(c->dst, name))
		return POS_ERR_STORE;
	struct mig_writer *w;
	if (mig_writer_open(c->dst, &c->t, 1, &w))
		return POS_ERR_STORE;
	int rc = mig_writer_put(w, v);
	if (!rc)
		rc = mig_writer_flush(w);
	mig_writer_close(w);
	if (rc)
		return POS_ERR_STORE;
	c->moved++;
	return POS_OK;
}

int mig_keys_to_pg(struct mig_db *dst, struct mig_keys_sides *ks)
{
	char path[PATH_MAX];
	struct pos_keyfile *kf = NULL;
	struct pos_error err;
	pos_error_clear(&err);
	if (key_path(ks->sqlite_dir, path, sizeof(path)))
		return -1;
	if (pos_keyfile_open(path, ks->cfg->master_key_file, &kf, &err)) {
		fprintf(stderr, "personalos migrate: %s\n", err.message);
		return -1;
	}
	struct to_pg_ctx c = {.dst = dst};
	snprintf(c.t.name, sizeof(c.t.name), "server_keys");
	static const char *const names[] = {"name", "value", "created_at", "sealed"};
	static const enum mig_kind kinds[] = {MIG_TEXT, MIG_BLOB, MIG_INT, MIG_INT};
	c.t.ncols = 4;
	for (int i = 0; i < 4; i++) {
		snprintf(c.t.cols[i].name, sizeof(c.t.cols[i].name), "%s", names[i]);
		c.t.cols[i].kind = kinds[i];
	}
	enum pos_err rc = pos_keyfile_each(kf, put_key, &c);
	pos_keyfile_close(kf);
	if (rc) {
		fprintf(stderr, "personalos migrate: cannot write the server keys to PostgreSQL\n");
		return -1;
	}
	ks->moved = c.moved;
	return 0;
}

int mig_keys_from_pg(struct mig_db *src, struct mig_keys_sides *ks)
{
	char names[32][MIG_NAME_MAX];
	size_t lens[32];
	int n = 0;
	if (mig_db_key_list(src, names, lens, 32, &n))
		return -1;
	if (n == 0)
		return 0;
	/* the store unseals what a master key sealed */
	struct pos_config cfg = *ks->cfg;
	snprintf(cfg.store, sizeof(cfg.store), "%s", ks->pg_url);
	cfg.store_pool = 1;
	struct pos_store *st = NULL;
	struct pos_keyfile *kf = NULL;
	struct pos_error err;
	pos_error_clear(&err);
	char path[PATH_MAX];
	int rc = -1;
	if (key_path(ks->sqlite_dir, path, sizeof(path)))
		return -1;
	if (pos_store_open(&cfg, &st, &err) ||
	    pos_keyfile_open(path, ks->cfg->master_key_file, &kf, &err)) {
		fprintf(stderr, "personalos migrate: %s\n", err.message);
		goto out;
	}
	for (int i = 0; i < n; i++) {
		uint8_t key[POS_KEYFILE_KEY_MAX], have[POS_KEYFILE_KEY_MAX];
		if (lens[i] == 0 || lens[i] > POS_KEYFILE_KEY_MAX ||
		    st->ops->server_key(st, names[i], key, lens[i]) ||
		    pos_keyfile_adopt(kf, names[i], key, lens[i]) ||
		    pos_keyfile_get(kf, names[i], have, lens[i])) {
			fprintf(stderr, "personalos migrate: cannot carry server key %s over\n",
				names[i]);
			sodium_memzero(key, sizeof(key));
			goto out;
		}
		bool same = sodium_memcmp(key, have, lens[i]) == 0;
		sodium_memzero(key, sizeof(key));
		sodium_memzero(have, sizeof(have));
		if (!same) {
			fprintf(stderr, "personalos migrate: %s already holds another server key %s;"
					" migrate into a new data directory\n", path, names[i]);
			goto out;
		}
		ks->moved++;
	}
	rc = 0;
out:
	pos_keyfile_close(kf);
	if (st)
		pos_store_close(st);
	return rc;
}
