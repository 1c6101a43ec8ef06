/*
 * app.c — builds the application's services in order and tears them down
 * in reverse (app.h). The one place that knows every service.
 */
#include "app/app.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/uuid.h"
#include "base/log.h"
#include "base/url.h"
#include "cache/redis.h"
#include "crypto/crypto.h"
#include "crypto/keyring.h"
#include "events/bus.h"
#include "export/exports.h"
#include "jobs/jobs.h"
#include "assistant/memu_sync.h"
#include "memory/autolink.h"
#include "net/egress.h"
#include "plugins/plugins.h"
#include "store/crypt_store.h"
#include "store/open.h"
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
	scfg->vector_cache_bytes = (size_t)cfg->vector_cache_mb << 20;
	scfg->vector_wait_ms = cfg->search_vector_wait_ms;
	scfg->vector_exact = cfg->search_vector_exact;
	scfg->weights.keyword = cfg->search_weight_keyword;
	scfg->weights.semantic = cfg->search_weight_semantic;
	scfg->weights.memu = cfg->search_weight_memu;
	scfg->weights.rrf_k = cfg->search_rrf_k;
	scfg->weights.recency = cfg->search_boost_recency;
	scfg->weights.half_life_days = cfg->search_recency_half_life_days;
	scfg->weights.importance = cfg->search_boost_importance;
	scfg->weights.layer = cfg->search_boost_layer;
	scfg->weights.access = cfg->search_boost_access;
	scfg->min_similarity = cfg->search_min_similarity;
	scfg->date_boost = cfg->search_boost_date;
	scfg->date_when = cfg->search_boost_when;
	scfg->wordnet_dir = cfg->wordnet_dir;
	scfg->expand_weight = cfg->search_expand_weight;
	scfg->expand_max_df = cfg->search_expand_max_df;
	scfg->thread_credit = cfg->search_boost_thread;
	return POS_OK;
}

/* search: a user's write generation shared by the instances, mixed with
 * the epoch every user's generation moves with (pos_search_shared). A
 * missing one starts at a random value, so a Redis restarted empty never
 * brings back a generation older results were stamped with. */
static const char generation_script[] =
	"local function get(k)\n"
	"  local v = redis.call('GET', k)\n"
	"  if not v then\n"
	"    redis.call('SET', k, ARGV[1], 'NX')\n"
	"    v = redis.call('GET', k)\n"
	"  end\n"
	"  return tonumber(v)\n"
	"end\n"
	"return {get(KEYS[1]), get(KEYS[2])}\n";

#define GEN_EPOCH_KEY "pos:sgen-epoch"

static enum pos_err shared_generation(void *ctx, const char *user_id, uint64_t *gen)
{
	char key[64], start[24];
	snprintf(key, sizeof(key), "pos:sgen:%s", user_id);
	uint64_t r;
	randombytes_buf(&r, sizeof(r));
	snprintf(start, sizeof(start), "%llu", (unsigned long long)(r >> 16)); /* exact in Lua */
	const char *argv[] = {key, GEN_EPOCH_KEY, start};
	int64_t out[POS_CACHE_REPLY_MAX];
	size_t n = 0;
	struct pos_app *app = ctx;
	enum pos_err rc = pos_cache_eval(app->cache, generation_script, 2, 3, argv, out, &n);
	if (rc)
		return rc;
	if (n != 2)
		return POS_ERR_UNAVAILABLE;
	*gen = (uint64_t)out[0] ^ ((uint64_t)out[1] * 0xC2B2AE3D27D4EB4Full);
	return POS_OK;
}

/* search: a write of the user — every instance's cached results of the
 * user stop matching, and the instances hear of it */
static const char bump_script[] =
	"local v = redis.call('INCR', KEYS[1])\n"
	"redis.call('PUBLISH', ARGV[1], ARGV[2])\n"
	"return v\n";

/* The message names the instance, so the writer keeps its own resident
 * vectors: "<instance> <user id>". */
static enum pos_err shared_bump(void *ctx, const char *user_id)
{
	struct pos_app *app = ctx;
	char key[64], msg[POS_APP_INSTANCE_LEN + 2 + POS_UUID_SIZE];
	snprintf(key, sizeof(key), "pos:sgen:%s", user_id);
	snprintf(msg, sizeof(msg), "%s %s", app->instance, user_id);
	const char *argv[] = {key, POS_SEARCH_INVALIDATE_CHANNEL, msg};
	int64_t out[POS_CACHE_REPLY_MAX];
	size_t n;
	return pos_cache_eval(app->cache, bump_script, 1, 3, argv, out, &n); /* one round trip */
}

static enum pos_err shared_bump_all(void *ctx)
{
	struct pos_app *app = ctx;
	int64_t v;
	return pos_cache_incr(app->cache, GEN_EPOCH_KEY, &v);
}

/* search: ranked lists one instance made, for the others */
static enum pos_err shared_get(void *ctx, const char *key, void *buf, size_t cap, size_t *len)
{
	struct pos_app *app = ctx;
	return pos_cache_get(app->cache, key, buf, cap, len);
}

static void shared_put(void *ctx, const char *key, const void *val, size_t len, int64_t ttl_ms)
{
	struct pos_app *app = ctx;
	(void)pos_cache_set(app->cache, key, val, len, ttl_ms);
}

/* Another instance wrote the user's memories: the vectors this one holds
 * of the user are stale (reloaded on the next search). */
static void remote_write(void *ctx, const char *msg, size_t len)
{
	struct pos_app *app = ctx;
	char user[POS_UUID_SIZE];
	if (len != POS_APP_INSTANCE_LEN + 1 + POS_UUID_SIZE - 1 || msg[POS_APP_INSTANCE_LEN] != ' ' ||
	    memcmp(msg, app->instance, POS_APP_INSTANCE_LEN) == 0)
		return;
	memcpy(user, msg + POS_APP_INSTANCE_LEN + 1, POS_UUID_SIZE - 1);
	user[POS_UUID_SIZE - 1] = '\0';
	pos_search_invalidate_user(app->search, user);
}

/* Encryption at rest, on one channel so a lock and an unlock arrive in
 * the order they were sent:
 *   "<instance> <user id>"                     a lock: the others drop the
 *                                              user's key (nothing secret)
 *   "<instance> <user id> <unix ms> <hex wrap>" an unlock (only with
 *       encryption_share_unlock): the data key wrapped (XChaCha20-Poly1305)
 *       under the instances' shared server key, the time and user bound
 *       in as associated data; refused past RELAY_MAX_AGE_MS (replays). */
#define RELAY_MAX_AGE_MS 30000
#define RELAY_HEX (2 * POS_WRAP_SIZE)
#define RELAY_MSG_MAX (POS_APP_INSTANCE_LEN + POS_UUID_SIZE + 24 + RELAY_HEX + 4)

static void relay_ad(char ad[96], const char *user_id, long long ms)
{
	snprintf(ad, 96, "relay|%s|%lld", user_id, ms);
}

static void relay_lock(void *ctx, const char *user_id, const uint8_t *dek)
{
	struct pos_app *app = ctx;
	char msg[RELAY_MSG_MAX];
	int len;
	if (!dek) {
		len = snprintf(msg, sizeof(msg), "%s %s", app->instance, user_id);
	} else {
		uint8_t wrap[POS_WRAP_SIZE];
		char ad[96], hex[RELAY_HEX + 1];
		long long ms = (long long)(pos_now_us() / 1000);
		relay_ad(ad, user_id, ms);
		pos_key_wrap(app->relay_key, ad, dek, wrap);
		sodium_bin2hex(hex, sizeof(hex), wrap, sizeof(wrap));
		len = snprintf(msg, sizeof(msg), "%s %s %lld %s", app->instance, user_id, ms, hex);
		sodium_memzero(hex, sizeof(hex));
	}
	if (len <= 0 || (size_t)len >= sizeof(msg))
		return;
	if (!dek)
		pos_cache_retry_now(app->cache); /* a lock is worth a try even now */
	if (pos_cache_publish(app->cache, POS_ENC_LOCK_CHANNEL, msg, (size_t)len) && !dek)
		pos_warn("crypt: a lock could not reach the shared cache; other instances keep the user's key until their next lock");
	sodium_memzero(msg, sizeof(msg));
}

static void remote_lock(void *ctx, const char *msg, size_t len)
{
	struct pos_app *app = ctx;
	char buf[RELAY_MSG_MAX], user[POS_UUID_SIZE], hex[RELAY_HEX + 2];
	long long ms;
	if (len >= sizeof(buf) || len < POS_APP_INSTANCE_LEN + 1 + POS_UUID_SIZE - 1 ||
	    msg[POS_APP_INSTANCE_LEN] != ' ' ||
	    memcmp(msg, app->instance, POS_APP_INSTANCE_LEN) == 0)
		return;
	if (!pos_uuid_valid(msg + POS_APP_INSTANCE_LEN + 1, POS_UUID_SIZE - 1, user))
		return;
	if (len == POS_APP_INSTANCE_LEN + 1 + POS_UUID_SIZE - 1) {
		pos_encsvc_forget(&app->enc, user);
		return;
	}
	if (!app->cfg->encryption_share_unlock)
		return;
	memcpy(buf, msg, len);
	buf[len] = '\0';
	const char *rest = buf + POS_APP_INSTANCE_LEN + POS_UUID_SIZE;
	uint8_t wrap[POS_WRAP_SIZE], dek[POS_DEK_SIZE];
	size_t n = 0;
	char ad[96];
	long long now = (long long)(pos_now_us() / 1000);
	if (*rest == ' ' && sscanf(rest, " %lld %145s", &ms, hex) == 2 &&
	    strlen(hex) == RELAY_HEX && ms > now - RELAY_MAX_AGE_MS &&
	    ms < now + RELAY_MAX_AGE_MS &&
	    sodium_hex2bin(wrap, sizeof(wrap), hex, RELAY_HEX, NULL, &n, NULL) == 0 &&
	    n == sizeof(wrap)) {
		relay_ad(ad, user, ms);
		if (pos_key_unwrap(app->relay_key, ad, wrap, sizeof(wrap), dek) == POS_OK)
			pos_encsvc_adopt(&app->enc, user, dek);
		else
			pos_warn("crypt: a relayed unlock did not open (another cluster's key?)");
	}
	sodium_memzero(dek, sizeof(dek));
	sodium_memzero(wrap, sizeof(wrap));
	sodium_memzero(hex, sizeof(hex));
	sodium_memzero(buf, sizeof(buf));
}

/* The shared cache, when configured: auth and search use it from here on. */
/* Live events across instances: each locally published event goes out on
 * POS_EVENTS_CHANNEL tagged with this instance; what comes in from the
 * others is delivered to local subscribers (and ours is dropped). */
static void relay_event(void *ctx, const char *msg, size_t len)
{
	struct pos_app *app = ctx;
	char *out = pos_malloc(POS_APP_INSTANCE_LEN + 1 + len);
	if (!out)
		return;
	memcpy(out, app->instance, POS_APP_INSTANCE_LEN);
	out[POS_APP_INSTANCE_LEN] = ' ';
	memcpy(out + POS_APP_INSTANCE_LEN + 1, msg, len);
	pos_cache_publish(app->cache, POS_EVENTS_CHANNEL, out, POS_APP_INSTANCE_LEN + 1 + len);
	pos_free(out);
}

static void remote_event(void *ctx, const char *msg, size_t len)
{
	struct pos_app *app = ctx;
	if (len <= POS_APP_INSTANCE_LEN + 1 || msg[POS_APP_INSTANCE_LEN] != ' ' ||
	    memcmp(msg, app->instance, POS_APP_INSTANCE_LEN) == 0)
		return;
	pos_events_deliver_remote(app->events, msg + POS_APP_INSTANCE_LEN + 1,
				  len - POS_APP_INSTANCE_LEN - 1);
}

static enum pos_err use_cache(struct pos_app *app, struct pos_error *err)
{
	enum pos_err rc = pos_auth_use_cache(&app->auth, app->cache);
	if (!rc) {
		uint8_t tag[POS_APP_INSTANCE_LEN / 2];
		pos_random(tag, sizeof(tag));
		for (size_t i = 0; i < sizeof(tag); i++)
			snprintf(app->instance + 2 * i, 3, "%02x", tag[i]);
		rc = pos_cache_subscribe(app->cache, POS_EVENTS_CHANNEL, remote_event, app);
	}
	if (!rc)
		rc = pos_cache_subscribe(app->cache, POS_SEARCH_INVALIDATE_CHANNEL, remote_write, app);
	if (!rc)
		rc = pos_cache_subscribe(app->cache, POS_ENC_LOCK_CHANNEL, remote_lock, app);
	if (rc)
		return pos_error_set(err, rc, "cache", "cannot subscribe to the shared cache");
	pos_events_set_relay(app->events, relay_event, app);
	/* shared unlocks: the key every instance of the store has */
	if (app->cfg->encryption_share_unlock &&
	    (rc = app->store->ops->server_key(app->store, "crypt_unlock_relay", app->relay_key,
					      sizeof(app->relay_key))))
		return pos_error_set(err, rc, "encryption_share_unlock",
				     "cannot load the key of shared unlocks");
	/* another instance's unlock arrives a moment after it answered: a
	 * locked user's first request here waits up to half a second for it
	 * (crypto/keyring.h) instead of answering 423 to a client that has
	 * just unlocked */
	if (app->cfg->encryption_share_unlock)
		pos_keyring_set_arrival_wait(app->enc.kr, 500000);
	pos_encsvc_set_relay(&app->enc, relay_lock, app);
	struct pos_search_shared sh = {shared_generation, shared_bump, shared_bump_all,
				       shared_get, shared_put, app};
	pos_search_set_shared(app->search, &sh);
	return POS_OK;
}

/* The store behind the encryption layer, and the keyring it borrows. */
static enum pos_err open_store(struct pos_app *app, struct pos_error *err)
{
	const struct pos_config *cfg = app->cfg;
	struct pos_store *raw = NULL;
	enum pos_err rc = pos_store_open(cfg, &raw, err);
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

/* export: an attachment of the owner, opened (and decrypted) through the
 * files service, for the markdown zip to carry */
static enum pos_err export_open_file(void *ctx, struct pos_arena *a, const char *user_id,
				     const char *attachment_id, struct pos_blob_reader **rd,
				     uint64_t *size, int64_t *created_at)
{
	struct pos_attachment att;
	struct pos_app *app = ctx;
	enum pos_err rc = pos_files_open(&app->files, a, user_id, attachment_id, &att, rd, size);
	/* only the owner's own: one shared with them is not theirs to export */
	if (!rc && strcmp(att.user_id, user_id)) {
		pos_blob_close(*rd);
		*rd = NULL;
		rc = POS_ERR_NOT_FOUND;
	}
	if (!rc)
		*created_at = att.created_at;
	return rc;
}

/* import: a Markdown zip's attachment file for the memory imported from
 * its note, through the files service: file_max and the byte quota are
 * checked first; one of the same name and size already there (an import
 * run again) is not added twice (POS_OK); NOT_FOUND when there is no such
 * memory, CONFLICT when it has its 100 files */
static enum pos_err import_attach_file(void *ctx, const char *user_id, const char *memory_id,
				       int fd, uint64_t len, const char *name,
				       struct pos_error *err)
{
	struct pos_app *app = ctx;
	if (len > app->cfg->file_max)
		return pos_error_set(err, POS_ERR_CONTENT_TOO_LARGE, "file",
				     "an attachment is larger than file_max (%llu bytes)",
				     app->cfg->file_max);
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	char clean[POS_FILE_NAME_MAX + 1];
	pos_files_clean_name(name, clean);
	struct pos_attachment *have = NULL, att;
	size_t n = 0;
	enum pos_err rc = pos_files_list(&app->files, a, user_id, memory_id, &have, &n);
	for (size_t i = 0; !rc && i < n; i++)
		if (have[i].bytes == (int64_t)len && have[i].name && !strcmp(have[i].name, clean))
			goto out; /* imported before */
	if (rc)
		goto out;
	const int64_t add[POS_QUOTA__COUNT] = {[POS_QUOTA_BYTES] = (int64_t)len};
	if (!rc)
		rc = pos_auth_quota_check(&app->auth, a, user_id, add, err);
	if (!rc)
		rc = pos_files_attach(&app->files, a, user_id, memory_id, fd, 0, len, name, &att, err);
	if (rc == POS_ERR_CONFLICT)
		pos_error_set(err, rc, NULL, "the memory has %d attachments already",
			      POS_FILES_PER_MEMORY);
out:
	pos_arena_destroy(a);
	return rc;
}

/* export: an import's batch against the account's quotas */
static enum pos_err import_quota(void *ctx, const char *user_id, int64_t memories, int64_t bytes,
				 struct pos_error *err)
{
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	const int64_t add[POS_QUOTA__COUNT] = {[POS_QUOTA_MEMORIES] = memories,
					       [POS_QUOTA_BYTES] = bytes};
	enum pos_err rc = pos_auth_quota_check(ctx, a, user_id, add, err);
	pos_arena_destroy(a);
	return rc;
}

/* The encryption pass's share of the files service (files.h). */
static enum pos_err seal_files(void *ctx, const char *user_id, struct pos_job_run *r)
{
	size_t n = 0;
	enum pos_err rc = pos_files_seal_user(ctx, user_id, r, &n);
	if (n)
		pos_info("crypt: %zu files stored before encryption are sealed", n);
	return rc;
}

/* sync: an item's files (mail attachments) into the blob store, held to
 * file_max and the byte quota like an upload */
static enum pos_err sync_attach(void *ctx, const char *user_id, const char *memory_id,
				const char *name, const void *data, size_t len, char *reason,
				size_t reason_len)
{
	struct pos_app *app = ctx;
	if ((uint64_t)len > app->cfg->file_max) {
		snprintf(reason, reason_len, "larger than file_max (%llu bytes)",
			 (unsigned long long)app->cfg->file_max);
		return POS_ERR_BODY_TOO_LARGE;
	}
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return POS_ERR_NOMEM;
	struct pos_error err;
	pos_error_clear(&err);
	const int64_t add[POS_QUOTA__COUNT] = {[POS_QUOTA_BYTES] = (int64_t)len};
	enum pos_err rc = pos_auth_quota_check(&app->auth, a, user_id, add, &err);
	struct pos_attachment at;
	if (rc == POS_ERR_QUOTA_EXCEEDED)
		snprintf(reason, reason_len, "over the byte quota");
	else if (!rc)
		rc = pos_files_attach_mem(&app->files, a, user_id, memory_id, data, len, name, true,
					  &at, &err);
	if (rc && rc != POS_ERR_QUOTA_EXCEEDED)
		snprintf(reason, reason_len, "%s", err.message[0] ? err.message : pos_strerror(rc));
	pos_arena_destroy(a);
	return rc;
}

/* plugins: memory hooks leave the request path as jobs */
static enum pos_err plugins_enqueue(void *ctx, const char *kind, const char *user_id,
				    const char *payload_json)
{
	return pos_jobs_enqueue(ctx, kind, user_id, payload_json, 0, NULL);
}

/* plugins: a batch of created memories (bulk, import, sync) queues one
 * hook job per batch; app->plugins is read when called (NULL before the
 * manager starts: nothing). */
static void plugins_created_batch(void *ctx, const char *user_id, const char *const *ids,
				  size_t n)
{
	const struct pos_app *app = ctx;
	pos_plugins_memory_batch(app->plugins, user_id, POS_HOOK_MEMORY_CREATED, ids, n);
}

/* plugins: on_memory_creating, before memories are stored (tags only,
 * inline; docs/PLUGINS.md "Tagging before the insert"). */
static void plugins_creating(void *ctx, const char *user_id, const struct pos_memory *v, size_t n,
			     json_t **add)
{
	const struct pos_app *app = ctx;
	pos_plugins_memory_creating(app->plugins, user_id, v, n, add);
}

/* plugins: every plugin_catalog_refresh_s, a plugin.catalog job (the one
 * an admin's POST /api/admin/plugins/refresh queues; at most one queued
 * or running), owned by the first admin so it shows in their jobs. Not at
 * start: the timer's first call only arms it. */
static void catalog_tick(void *ctx)
{
	struct pos_app *app = ctx;
	if (!app->catalog_ticked) {
		app->catalog_ticked = true;
		return;
	}
	struct pos_arena *a = pos_arena_new();
	struct pos_user *users = NULL;
	size_t n = 0;
	if (a && app->store->accounts->user_list(app->store, a, &users, &n) == POS_OK)
		for (size_t i = 0; i < n; i++)
			if (users[i].role && strcmp(users[i].role, "admin") == 0) {
				(void)pos_jobs_enqueue_unique(app->jobs, POS_PLUGINS_CATALOG_JOB_KIND,
							      users[i].id, POS_PLUGINS_CATALOG_JOB_KIND,
							      NULL, 0, NULL);
				break;
			}
	pos_arena_destroy(a);
}

/* plugins: the manager over the store and the memory service, with the
 * operator's egress allowlist for plugins' HTTP calls; its hook kind runs
 * on the jobs service. */
static enum pos_err start_plugins(struct pos_app *app, struct pos_error *err)
{
	const struct pos_config *cfg = app->cfg;
	enum pos_err rc = pos_egress_new(cfg->egress_allow, &app->plugins_egress, err);
	if (rc)
		return rc;
	struct pos_plugins_config pc = {
		.dir = cfg->plugins_dir,
		.store = app->store,
		.mem = &app->mem,
		.egress = app->plugins_egress,
		.max_failures = cfg->plugin_max_failures,
		.query_budget_us = (int64_t)cfg->plugin_query_budget_ms * 1000,
		.pool_max = cfg->plugin_pool_max,
		.pool_mem = (size_t)cfg->plugin_pool_mem_mb << 20,
		.enqueue = plugins_enqueue,
		.enqueue_ctx = app->jobs,
		.data_dir = cfg->data_dir,
		.catalogs = cfg->plugin_catalogs,
		.trusted_keys = cfg->plugin_trusted_keys,
	};
	if ((rc = pos_plugins_new(&pc, &app->plugins)))
		return pos_error_set(err, rc, rc == POS_ERR_INVALID_FIELD ? "plugin_trusted_keys" : NULL,
				     rc == POS_ERR_INVALID_FIELD
					     ? "plugin_trusted_keys: each key is 32 bytes of base64 or hex"
					     : "cannot load the plugin catalog");
	if ((rc = pos_jobs_register(app->jobs, &pos_plugins_job_kind, app->plugins)))
		return pos_error_set(err, rc, NULL, "cannot register the plugin hook jobs");
	if ((rc = pos_jobs_register(app->jobs, &pos_plugins_catalog_job_kind, app->plugins)))
		return pos_error_set(err, rc, NULL, "cannot register the plugin catalog jobs");
	if (cfg->plugin_catalog_refresh_s && pos_plugins_have_catalogs(app->plugins) &&
	    (rc = pos_jobs_every(app->jobs, (int64_t)cfg->plugin_catalog_refresh_s * 1000000,
				 catalog_tick, app)))
		return pos_error_set(err, rc, NULL, "cannot schedule the plugin catalog refresh");
	return POS_OK;
}

/* jobs: the keep-alive tick of live event streams */
static void events_tick(void *ctx)
{
	pos_events_tick(ctx);
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
	if (cfg->cache_url[0] &&
	    (rc = pos_cache_new(cfg->cache_url, cfg->cache_timeout_ms, &app->cache, err)))
		goto out;
	if ((rc = open_store(app, err)))
		goto out;
	if ((rc = pos_auth_init(&app->auth, app->store, cfg, err)))
		goto out;
	if ((rc = pos_search_new(app->store, &scfg, &app->search, err)))
		goto out;
	struct pos_events_config ecfg = {cfg->events_queue_max, cfg->events_replay,
					 cfg->events_per_user, cfg->events_max, 0};
	if ((rc = pos_events_new(&ecfg, &app->events))) {
		pos_error_set(err, rc, NULL, "cannot set up live events");
		goto out;
	}
	if (app->cache && (rc = use_cache(app, err)))
		goto out;
	app->mem.store = app->store;
	app->mem.search = app->search;
	app->mem.events = app->events;
	atomic_init(&app->bulk_writes, 0);
	app->mem.bulk_writes = &app->bulk_writes;
	app->mem.created_batch = plugins_created_batch;
	app->mem.created_ctx = app;
	app->mem.creating = plugins_creating;
	app->mem.creating_ctx = app;
	struct pos_jobs_config jcfg = {cfg->jobs_workers, cfg->jobs_queue_max,
				       (int64_t)cfg->jobs_keep_done_s * 1000000, app->events,
				       (int64_t)cfg->job_lease_s * 1000000};
	if ((rc = pos_jobs_new(app->store, &jcfg, &app->jobs))) {
		pos_error_set(err, rc, "jobs_workers", "cannot set up the jobs service");
		goto out;
	}
	if (cfg->auto_link) {
		/* before the services that copy the memory service */
		app->mem.jobs = app->jobs;
		if ((rc = pos_jobs_register(app->jobs, &pos_autolink_job_kind, &app->mem))) {
			pos_error_set(err, rc, "auto_link", "cannot register the auto-linking jobs");
			goto out;
		}
	}
	/* MemU's copy follows every write (assistant/memu_sync.h); set before
	 * the services that copy the memory service */
	app->mem.written = pos_memu_sync_written;
	app->mem.written_ctx = &app->assistant;
	if ((rc = pos_search_register_jobs(app->search, app->jobs))) {
		pos_error_set(err, rc, NULL, "cannot register the embedding backfill");
		goto out;
	}
	if ((rc = pos_assistant_start(&app->assistant, cfg, app->store, &app->mem, app->jobs, err)))
		goto out;
	if ((rc = pos_encsvc_start(&app->enc, app->store, app->search, app->jobs))) {
		pos_error_set(err, rc, NULL, "cannot start the encryption worker");
		goto out;
	}
	struct pos_sync_opts sync_opts = {true, cfg->sync_workers, cfg->sync_run_timeout_s,
					  app->jobs};
	if ((rc = pos_sync_new_opts(app->store, &app->mem, &sync_opts, &app->sync, err)))
		goto out;
	pos_sync_set_file_root(app->sync, cfg->sync_file_root);
	if ((rc = pos_sync_set_egress(app->sync, cfg->egress_allow, err)))
		goto out;
	pos_sync_set_data_dir(app->sync, cfg->data_dir);
	app->accounts = (struct pos_accounts){app->store, &app->auth, &app->enc, app->search,
					      &app->assistant};
	struct pos_exports_config xcfg = {cfg->data_dir, (int64_t)cfg->export_expiry_s * 1000000,
					  import_quota, &app->auth, export_open_file, import_attach_file, app};
	if ((rc = pos_exports_new(&app->mem, app->jobs, &xcfg, &app->exports))) {
		pos_error_set(err, rc, NULL, "cannot set up export and import");
		goto out;
	}
	if ((rc = start_plugins(app, err)))
		goto out;
	/* keep-alives on idle event streams, from the jobs' dispatcher */
	if ((rc = pos_jobs_every(app->jobs, (int64_t)(cfg->events_heartbeat_s ? cfg->events_heartbeat_s : 15) * 1000000,
				 events_tick, app->events))) {
		pos_error_set(err, rc, NULL, "cannot schedule event keep-alives");
		goto out;
	}
	if ((rc = pos_files_init(&app->files, cfg, app->store, &app->mem, err)))
		goto out;
	if ((rc = pos_files_register_jobs(&app->files, app->jobs))) {
		pos_error_set(err, rc, NULL, "cannot register the text extraction jobs");
		goto out;
	}
	(void)pos_files_collect(&app->files, NULL, NULL); /* blobs a crash left unreferenced */
	/* the encryption pass seals the files stored before it was on */
	pos_encsvc_set_sealer(&app->enc, seal_files, &app->files);
	pos_sync_set_attach(app->sync, sync_attach, app);
	/* mail attachments rows kept inline before issue 21: into blobs, as jobs */
	if (pos_files_adopt_start(&app->files))
		pos_warn("files: cannot queue the move of inline attachments");
	/* attachments from before thumbnails (migration 19): theirs, as jobs */
	if (pos_files_thumbs_start(&app->files))
		pos_warn("files: cannot queue the thumbnail backfill");
	/* files an encrypted user stored before encryption was on: sealed */
	if (pos_files_seal_start(&app->files))
		pos_warn("files: cannot queue the sealing of earlier files");
	app->lifecycle = (struct pos_lifecycle_jobs){app->store, app->jobs,
						     POS_LIFECYCLE_INTERVAL_US};
	if ((rc = pos_lifecycle_register(&app->lifecycle))) {
		pos_error_set(err, rc, NULL, "cannot register the lifecycle jobs");
		goto out;
	}
	if ((rc = pos_jobs_start(app->jobs))) { /* every kind registered by now */
		pos_error_set(err, rc, NULL, "cannot start the jobs service");
		goto out;
	}
	if (app->cache && (rc = pos_cache_start(app->cache))) { /* every channel subscribed */
		pos_error_set(err, rc, "cache", "cannot start the shared cache's subscriber");
		goto out;
	}
out:
	if (rc)
		pos_app_stop(app);
	return rc;
}

/* Jobs running are stopped and queued again for the next start; model
 * calls still running are cancelled, so parked connections get an answer
 * before the daemon goes. */
void pos_app_quiesce(struct pos_app *app)
{
	pos_events_close(app->events); /* event streams end */
	pos_assistant_quiesce(&app->assistant);
	pos_search_quiesce(app->search);
	pos_jobs_free(app->jobs);
	app->jobs = NULL;
	pos_exports_free(app->exports); /* its kinds ran on the jobs */
	app->exports = NULL;
	pos_assistant_stop(&app->assistant);
}

void pos_app_stop(struct pos_app *app)
{
	pos_cache_stop(app->cache); /* no more messages to services going away */
	pos_assistant_quiesce(&app->assistant);
	pos_search_quiesce(app->search);
	pos_jobs_free(app->jobs); /* before the services their kinds use */
	app->jobs = NULL;
	pos_exports_free(app->exports);
	app->exports = NULL;
	pos_assistant_stop(&app->assistant);
	pos_plugins_free(app->plugins);
	app->plugins = NULL;
	pos_egress_free(app->plugins_egress);
	app->plugins_egress = NULL;
	pos_files_free(&app->files);
	pos_sync_free(app->sync);
	app->sync = NULL;
	/* The encryption worker stops before the search engine and the store
	 * it uses; the keyring goes after the worker, before the store that
	 * borrowed it is closed (nothing reads keys by then). */
	pos_encsvc_fini(&app->enc);
	pos_search_free(app->search);
	app->search = NULL;
	pos_auth_fini(&app->auth);
	/* every stream unsubscribed: the HTTP server stopped before */
	pos_events_free(app->events);
	app->events = NULL;
	pos_store_close(app->store);
	app->store = NULL;
	pos_cache_free(app->cache);
	app->cache = NULL;
	sodium_memzero(app->relay_key, sizeof(app->relay_key));
	memset(app, 0, sizeof(*app));
}
