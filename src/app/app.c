/*
 * app.c — builds the application's services in order and tears them down
 * in reverse (app.h). The one place that knows every service.
 */
#include "app/app.h"

#include <string.h>

#include "base/url.h"
#include "store/crypt_store.h"
#include "sync/sync.h"

/* The search engine's settings, from the configuration. */
static enum pos_err search_config(const struct pos_config *cfg, struct pos_search_config *scfg,
				  struct pos_error *err)
{
	pos_search_config_default(scfg);
	scfg->embed_dim = cfg->embed_dim;
	if (cfg->embed_url[0]) {
		if (!cfg->embed_model[0])
			return pos_error_set(err, POS_ERR_USAGE, "embed_model",
					     "embed_url is set: embed_model is required too");
		scfg->embed_url = cfg->embed_url;
		scfg->embed_model = cfg->embed_model;
		scfg->embed_api_key = cfg->embed_api_key[0] ? cfg->embed_api_key : NULL;
		scfg->embed_remote_dim = cfg->embed_remote_dim;
		scfg->embed_local = pos_url_is_local(cfg->embed_url, cfg->local_providers);
	}
	scfg->candidates = cfg->search_candidates;
	scfg->cache_entries = cfg->search_cache_entries;
	scfg->max_loaded_users = cfg->search_loaded_users;
	scfg->weights.keyword = cfg->search_weight_keyword;
	scfg->weights.semantic = cfg->search_weight_semantic;
	scfg->weights.rrf_k = cfg->search_rrf_k;
	scfg->weights.recency = cfg->search_boost_recency;
	scfg->weights.half_life_days = cfg->search_recency_half_life_days;
	scfg->weights.importance = cfg->search_boost_importance;
	scfg->weights.layer = cfg->search_boost_layer;
	scfg->weights.access = cfg->search_boost_access;
	scfg->min_similarity = cfg->search_min_similarity;
	return POS_OK;
}

/* The store behind the encryption layer, and the keyring it borrows. */
static enum pos_err open_store(struct pos_app *app, struct pos_error *err)
{
	const struct pos_config *cfg = app->cfg;
	struct pos_store *raw = NULL;
	enum pos_err rc = pos_sqlite_open_keyed(cfg->data_dir, cfg->master_key_file, &raw, err);
	if (rc)
		return rc;
	if ((rc = pos_encsvc_init(&app->enc, cfg)) ||
	    (rc = pos_crypt_store_new(raw, app->enc.kr, &app->store))) {
		pos_store_close(raw);
		app->store = NULL;
		return pos_error_set(err, rc, NULL, NULL);
	}
	return POS_OK;
}

enum pos_err pos_app_start(struct pos_app *app, const struct pos_config *cfg,
			   struct pos_error *err)
{
	memset(app, 0, sizeof(*app));
	app->cfg = cfg;
	struct pos_search_config scfg;
	enum pos_err rc = search_config(cfg, &scfg, err);
	if (rc)
		goto out;
	if ((rc = open_store(app, err)))
		goto out;
	if ((rc = pos_auth_init(&app->auth, app->store, cfg, err)))
		goto out;
	if ((rc = pos_search_new(app->store, &scfg, &app->search, err)))
		goto out;
	app->mem.store = app->store;
	app->mem.search = app->search;
	if ((rc = pos_assistant_start(&app->assistant, cfg, app->store, &app->mem, err)))
		goto out;
	if ((rc = pos_encsvc_start(&app->enc, app->store, app->search))) {
		pos_error_set(err, rc, NULL, "cannot start the encryption worker");
		goto out;
	}
	struct pos_sync_opts sync_opts = {true, cfg->sync_workers, cfg->sync_run_timeout_s};
	if ((rc = pos_sync_new_opts(app->store, &app->mem, &sync_opts, &app->sync, err)))
		goto out;
	pos_sync_set_file_root(app->sync, cfg->sync_file_root);
	if ((rc = pos_sync_set_egress(app->sync, cfg->egress_allow, err)))
		goto out;
	pos_sync_set_data_dir(app->sync, cfg->data_dir);
	app->accounts = (struct pos_accounts){app->store, &app->auth, &app->enc, app->search,
					      &app->assistant};
out:
	if (rc)
		pos_app_stop(app);
	return rc;
}

void pos_app_quiesce(struct pos_app *app)
{
	pos_assistant_stop(&app->assistant);
}

void pos_app_stop(struct pos_app *app)
{
	pos_assistant_stop(&app->assistant);
	pos_sync_free(app->sync);
	app->sync = NULL;
	/* The encryption worker stops before the search engine and the store
	 * it uses; the keyring goes after the worker, before the store that
	 * borrowed it is closed (nothing reads keys by then). */
	pos_encsvc_fini(&app->enc);
	pos_search_free(app->search);
	app->search = NULL;
	pos_auth_fini(&app->auth);
	pos_store_close(app->store);
	app->store = NULL;
	memset(app, 0, sizeof(*app));
}
