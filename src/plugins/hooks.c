/*
 * hooks.c — running plugins' hooks (plugins.h): the host operations bound
 * to one (plugin, user), building and reusing sandboxes, on_query answers,
 * the memory hooks (on_memory_creating inline, on_memory_created and
 * on_memory_accessed as jobs). The catalog, installs and packages are in
 * plugins.c; plugins_internal.h is what they share.
 */
#include "plugins/plugins.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/log.h"
#include "jobs/jobs.h"
#include "memory/memory.h"
#include "net/http.h"
#include "plugins/hostapi.h"
#include "plugins/plugins_internal.h"
#include "plugins/sandbox.h"
#include "plugins/sbpool.h"
#include "search/filters.h"
#include "store/store.h"

/* ---- the host operations, bound to one (plugin, user) ------------------ */

/* A batch's store transaction (store ops batch_begin/batch_end): opened by
 * the first write of a batch's hooks, committed after TX_HOLD_US (checked
 * between memories and from the sandbox's budget hook while a script
 * runs), before any read that opens its own transaction, any network
 * call, and at the end of the batch. */
#define TX_HOLD_US 10000
struct batchtx {
	struct pos_store *s;
	bool open;
	int64_t opened_at; /* pos_mono_us */
	/* on_memory_creating's batches: kv values read or written so far in
	 * the batch (key -> string, null when absent), so a plugin reading
	 * the same key for every memory reads the store once. NULL: none. */
	json_t *kv;
};

static void tx_close(struct batchtx *tx)
{
	if (!tx || !tx->open)
		return;
	tx->open = false;
	if (tx->s->ops->batch_end(tx->s))
		pos_log(POS_LOG_WARN, "plugins: a batch of plugin writes could not be committed");
}

static void tx_write(struct batchtx *tx)
{
	if (!tx || tx->open || !tx->s->ops->batch_begin)
		return;
	if (tx->s->ops->batch_begin(tx->s) == POS_OK) {
		tx->open = true;
		tx->opened_at = pos_mono_us();
	}
}

static void tx_due(struct batchtx *tx)
{
	if (tx && tx->open && pos_mono_us() - tx->opened_at >= TX_HOLD_US)
		tx_close(tx);
}

struct binding {
	struct pos_plugins *p;
	const char *user_id;   /* uid */
	const char *plugin_id; /* pid */
	int64_t deadline;      /* pos_mono_us */
	struct batchtx *tx;    /* during a batch's call, else NULL */
	bool creating;         /* in on_memory_creating: reads, kv and logs only */
	char uid[POS_SBPOOL_KEY_MAX];
	char pid[POS_SBPOOL_KEY_MAX];
};

/* on_memory_creating runs on the writer's request before the insert: no
 * memory writes (no recursion through a create), no network (search may
 * embed over it). */
static enum pos_err refused_creating(const struct binding *bd, struct pos_error *err)
{
	if (!bd->creating)
		return POS_OK;
	return pos_error_set(err, POS_ERR_CONFLICT, NULL,
			     "not allowed in on_memory_creating (return {tags = ...} instead)");
}

static json_t *memory_to_json(const struct pos_memory *m)
{
	struct pos_buf b;
	pos_buf_init(&b, 8u << 20);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_memory_json(&w, m);
	json_t *j = b.data ? json_loadb(b.data, b.len, 0, NULL) : NULL;
	pos_buf_free(&b);
	return j;
}

static enum pos_err h_search(void *ctx, const char *q, size_t limit, json_t **out,
			     struct pos_error *err)
{
	struct binding *bd = ctx;
	enum pos_err rc = refused_creating(bd, err);
	if (rc)
		return rc;
	tx_close(bd->tx);
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return POS_ERR_NOMEM;
	struct pos_search_request req;
	memset(&req, 0, sizeof(req));
	req.user_id = bd->user_id;
	req.query = q;
	req.query_len = strlen(q);
	req.limit = (unsigned)limit;
	struct pos_search_result res;
	rc = bd->p->cfg.mem->search
				  ? pos_search_run(bd->p->cfg.mem->search, a, &req, &res, err)
				  : POS_ERR_UNAVAILABLE;
	json_t *arr = NULL;
	if (!rc) {
		arr = json_array();
		for (size_t i = 0; arr && i < res.n; i++)
			json_array_append_new(arr, memory_to_json(&res.hits[i].memory));
		if (!arr)
			rc = POS_ERR_NOMEM;
	}
	pos_arena_destroy(a);
	*out = arr;
	return rc;
}

struct params {
	json_t *filters;
	char num[32];
};

static const char *filter_param(void *ctx, const char *name)
{
	struct params *pp = ctx;
	json_t *v = json_object_get(pp->filters, name);
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(pp->num, sizeof(pp->num), "%lld", (long long)json_integer_value(v));
		return pp->num;
	}
	return NULL;
}

static enum pos_err h_list(void *ctx, json_t *filters, json_t **out, struct pos_error *err)
{
	struct binding *bd = ctx;
	tx_close(bd->tx);
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return POS_ERR_NOMEM;
	struct params pp = {filters, ""};
	struct pos_memory_query q;
	struct pos_memory *v = NULL;
	size_t n = 0;
	int64_t total = 0;
	json_t *arr = NULL;
	enum pos_err rc = pos_filters_parse(a, filter_param, &pp, bd->user_id, &q, err);
	if (!rc && q.limit > POS_HOSTAPI_SEARCH_LIMIT_MAX)
		q.limit = POS_HOSTAPI_SEARCH_LIMIT_MAX;
	if (!rc)
		rc = bd->p->cfg.store->memories->memory_list(bd->p->cfg.store, a, &q, &v, &n, &total);
	if (!rc) {
		arr = json_array();
		for (size_t i = 0; arr && i < n; i++)
			json_array_append_new(arr, memory_to_json(&v[i]));
		if (!arr)
			rc = POS_ERR_NOMEM;
	}
	pos_arena_destroy(a);
	*out = arr;
	return rc;
}

static enum pos_err h_get(void *ctx, const char *id, json_t **out, struct pos_error *err)
{
	struct binding *bd = ctx;
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return POS_ERR_NOMEM;
	struct pos_memory m;
	/* A plugin reading is not the user reading: no access is counted. */
	enum pos_err rc = bd->p->cfg.store->memories->memory_get(bd->p->cfg.store, a, bd->user_id, id,
							    false, 0, &m);
	if (rc == POS_ERR_NOT_FOUND)
		pos_error_set(err, rc, "id", "memory not found");
	if (!rc && !(*out = memory_to_json(&m)))
		rc = POS_ERR_NOMEM;
	pos_arena_destroy(a);
	return rc;
}

static enum pos_err h_create(void *ctx, json_t *fields, json_t **out, struct pos_error *err)
{
	struct binding *bd = ctx;
	enum pos_err rc = refused_creating(bd, err);
	if (rc)
		return rc;
	tx_close(bd->tx); /* a create may embed over the network */
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return POS_ERR_NOMEM;
	if (!json_object_get(fields, "source"))
		json_object_set_new(fields, "source", json_string("plugin"));
	struct pos_memory m;
	rc = pos_memory_create(bd->p->cfg.mem, a, bd->user_id, fields, &m, err);
	if (!rc && !(*out = memory_to_json(&m)))
		rc = POS_ERR_NOMEM;
	pos_arena_destroy(a);
	return rc;
}

static enum pos_err h_update(void *ctx, const char *id, json_t *fields, json_t **out,
			     struct pos_error *err)
{
	struct binding *bd = ctx;
	enum pos_err rc = refused_creating(bd, err);
	if (rc)
		return rc;
	/* New content is embedded (maybe over the network): not in a batch. */
	if (json_object_get(fields, "content"))
		tx_close(bd->tx);
	else
		tx_write(bd->tx);
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return POS_ERR_NOMEM;
	struct pos_memory m;
	rc = pos_memory_update(bd->p->cfg.mem, a, bd->user_id, id, fields, &m, err);
	if (!rc && !(*out = memory_to_json(&m)))
		rc = POS_ERR_NOMEM;
	pos_arena_destroy(a);
	return rc;
}

/* Tags only: the store's memory_tag_add, one read back for the result. */
static enum pos_err h_tag(void *ctx, const char *id, json_t *tags, json_t **out,
			  struct pos_error *err)
{
	struct binding *bd = ctx;
	enum pos_err rc = refused_creating(bd, err);
	if (rc)
		return rc;
	tx_write(bd->tx);
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return POS_ERR_NOMEM;
	struct pos_memory m;
	rc = pos_memory_tag(bd->p->cfg.mem, a, bd->user_id, id, tags, NULL, &m, err);
	if (!rc && !(*out = memory_to_json(&m)))
		rc = POS_ERR_NOMEM;
	pos_arena_destroy(a);
	return rc;
}

static enum pos_err h_http(void *ctx, const struct pos_hostapi_http *hr, json_t **out,
			   struct pos_error *err)
{
	struct binding *bd = ctx;
	enum pos_err rc = refused_creating(bd, err);
	if (rc)
		return rc;
	tx_close(bd->tx);
	char ct[160];
	const char *headers[3] = {NULL, NULL, NULL};
	headers[0] = "User-Agent: PersonalOS-plugin";
	if (hr->content_type) {
		snprintf(ct, sizeof(ct), "Content-Type: %s", hr->content_type);
		headers[1] = ct;
	}
	struct pos_http_req req;
	memset(&req, 0, sizeof(req));
	req.method = hr->method;
	req.url = hr->url;
	req.headers = headers;
	req.body = hr->body;
	req.body_len = hr->body_len;
	req.trust = POS_NET_USER;
	req.egress = bd->p->cfg.egress;
	req.connect_timeout_ms = 5000;
	req.timeout_ms = POS_HOSTAPI_HTTP_TIMEOUT_MS;
	req.max_bytes = POS_HOSTAPI_HTTP_ANSWER_MAX;
	req.max_redirects = 0; /* a redirect could leave the declared hosts */
	/* The sandbox's deadline is on the monotonic clock; http wants wall. */
	if (hr->deadline_us) {
		int64_t left = hr->deadline_us - pos_mono_us();
		if (left <= 0)
			return pos_error_set(err, POS_ERR_UNAVAILABLE, NULL, "the plugin is out of time");
		req.deadline_us = pos_mono_us() + left;
	}
	struct pos_http_resp resp;
	rc = pos_http_perform(NULL, &req, &resp, err);
	if (!rc) {
		*out = json_pack("{s:i, s:s#}", "status", (int)resp.status, "body",
				 resp.body.data ? resp.body.data : "", (int)resp.body.len);
		if (!*out) /* not UTF-8: hand over the status only */
			*out = json_pack("{s:i, s:s}", "status", (int)resp.status, "body", "");
		if (!*out)
			rc = POS_ERR_NOMEM;
	}
	pos_http_resp_free(&resp);
	return rc;
}

static enum pos_err h_kv_get(void *ctx, const char *key, json_t **out, struct pos_error *err)
{
	struct binding *bd = ctx;
	json_t *seen = bd->tx && bd->tx->kv ? json_object_get(bd->tx->kv, key) : NULL;
	if (seen) {
		*out = json_is_string(seen) ? json_incref(seen) : NULL;
		return POS_OK;
	}
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return POS_ERR_NOMEM;
	const char *v = NULL;
	size_t len = 0;
	enum pos_err rc = bd->p->cfg.store->plugins->plugin_kv_get(bd->p->cfg.store, a, bd->user_id,
							      bd->plugin_id, key, &v, &len);
	*out = NULL;
	if (!rc && v) {
		*out = json_stringn(v, len);
		if (!*out)
			rc = pos_error_set(err, POS_ERR_CORRUPT, NULL, "stored value is not UTF-8");
	}
	if (!rc && bd->tx && bd->tx->kv)
		json_object_set_new(bd->tx->kv, key, *out ? json_incref(*out) : json_null());
	pos_arena_destroy(a);
	return rc;
}

static enum pos_err h_kv_set(void *ctx, const char *key, const char *v, size_t len,
			     struct pos_error *err)
{
	struct binding *bd = ctx;
	tx_write(bd->tx);
	enum pos_err rc = bd->p->cfg.store->plugins->plugin_kv_put(bd->p->cfg.store, bd->user_id,
							      bd->plugin_id, key, v, len,
							      bd->p->cfg.kv_quota);
	if (bd->tx && bd->tx->kv) { /* what the next read in the batch sees */
		json_t *now = rc ? NULL : v ? json_stringn(v, len) : json_null();
		if (now)
			json_object_set_new(bd->tx->kv, key, now);
		else
			json_object_del(bd->tx->kv, key);
	}
	if (rc == POS_ERR_QUOTA_EXCEEDED)
		return pos_error_set(err, rc, "kv", "the plugin's storage quota is used up");
	return rc;
}

static void h_log(void *ctx, const char *level, const char *msg, size_t len)
{
	struct binding *bd = ctx;
	tx_write(bd->tx);
	/* Stored for the user only: a plugin's lines may quote memories. */
	bd->p->cfg.store->plugins->plugin_log_add(bd->p->cfg.store, bd->user_id, bd->plugin_id, level,
					      msg, len, pos_now_us(), POS_PLUGINS_LOG_KEEP);
}

static const struct pos_hostapi_ops host_ops = {
	.mem_search = h_search, .mem_list = h_list,   .mem_get = h_get,   .mem_create = h_create,
	.mem_update = h_update, .mem_tag = h_tag,     .http = h_http,     .kv_get = h_kv_get,
	.kv_set = h_kv_set,
	.log = h_log,
};

/* ---- running hooks --------------------------------------------------------- */

void pos_plugins_sb_dispose(struct pos_sandbox *sb, void *aux)
{
	if (sb) {
		pos_hostapi_release(sb);
		pos_sandbox_free(sb);
	}
	pos_free(aux);
}

/* FNV-1a over a string and its terminator. */
static uint64_t fnv(uint64_t h, const char *s)
{
	for (const char *c = s ? s : ""; ; c++) {
		h = (h ^ (unsigned char)*c) * 1099511628211ull;
		if (!*c)
			return h;
	}
}

/* What a pooled state of install r for `hook` was built from: the
 * package (version and code), the grants, the settings and the budget. */
static uint64_t stamp_of(const struct entry *e, const struct pos_plugin_row *r, int64_t time_us)
{
	char num[64];
	snprintf(num, sizeof(num), "%p/%zu/%lld", (const void *)e->source, e->source_len,
		 (long long)time_us);
	uint64_t h = 1469598103934665603ull;
	h = fnv(h, e->m.version);
	h = fnv(h, num);
	h = fnv(h, r->grants_json);
	return fnv(h, r->settings_json);
}

/* From the budget hook while a script runs: a batch's transaction is not
 * held open past TX_HOLD_US by a script that computes after writing. */
static void bd_tick(void *ctx)
{
	tx_due(((struct binding *)ctx)->tx);
}

/* A new sandbox for install r: host API bound to a heap binding (*bdp),
 * settings, the plugin's code, its globals marked for reset. */
static enum pos_err build(struct pos_plugins *p, const struct entry *e,
			  const struct pos_plugin_row *r, const struct pos_sandbox_limits *lim,
			  struct pos_sandbox **sbp, struct binding **bdp, struct pos_sandbox_status *st)
{
	*sbp = NULL;
	*bdp = NULL;
	if (strlen(r->user_id) >= POS_SBPOOL_KEY_MAX || strlen(r->plugin_id) >= POS_SBPOOL_KEY_MAX)
		return POS_ERR_INVALID_FIELD;
	json_t *grants = json_loads(r->grants_json, 0, NULL);
	json_t *settings = json_loads(r->settings_json, 0, NULL);
	unsigned perms = 0;
	struct pos_error ignore;
	pos_manifest_perms(grants, &perms, &ignore);
	perms &= e->m.perms;
	const char *hosts[POS_HOSTAPI_HOSTS_MAX];
	char hostbuf[2048];
	size_t nh = pos_manifest_hosts(&e->m, settings, hosts, POS_HOSTAPI_HOSTS_MAX, hostbuf,
				       sizeof(hostbuf));
	struct pos_hostapi_grant g = {perms, hosts, nh};
	struct pos_sandbox *sb = NULL;
	struct binding *bd = pos_calloc(1, sizeof(*bd));
	enum pos_err rc = bd ? pos_sandbox_new(lim, &sb) : POS_ERR_NOMEM;
	if (bd) {
		bd->p = p;
		memcpy(bd->uid, r->user_id, strlen(r->user_id) + 1);
		memcpy(bd->pid, r->plugin_id, strlen(r->plugin_id) + 1);
		bd->user_id = bd->uid;
		bd->plugin_id = bd->pid;
	}
	if (!rc && (rc = pos_hostapi_install(sb, &host_ops, bd, &g))) {
		pos_sandbox_free(sb); /* nothing attached yet */
		sb = NULL;
	}
	if (!rc)
		rc = pos_hostapi_set_settings(sb, settings);
	if (!rc)
		rc = pos_sandbox_load(sb, e->chunkname, e->source, e->source_len, st);
	if (!rc)
		rc = pos_sandbox_mark(sb);
	if (!rc)
		pos_sandbox_set_tick(sb, bd_tick, bd);
	json_decref(grants);
	json_decref(settings);
	if (rc) {
		pos_plugins_sb_dispose(sb, bd);
		return rc;
	}
	*sbp = sb;
	*bdp = bd;
	return POS_OK;
}

/* A sandbox a batch keeps between its calls (pooling on or off). */
struct held {
	struct pos_sandbox *sb;
	struct binding *bd;
	uint64_t stamp, ticket;
	struct batchtx *tx; /* the batch's store transaction (kept on release) */
	bool dirty;         /* globals not reset yet (on_memory_creating's batch) */
	/* The stamp of the batch's install, kept on release: computed again
	 * only when the row (re-read after a failure) or the budget changes. */
	struct {
		const struct entry *e;
		const char *grants, *settings; /* the row's strings, by address */
		int64_t time_us;
		uint64_t stamp;
	} sc;
};

/* The registry key of the batch's event pair {ev, ev.memory} (see
 * push_creating below). */
static const char CREATING_EV_KEY = 'e';

/* Drops the batch's event pair from sb (its last memory's content is not
 * kept in a pooled state). Allocates nothing, so it cannot raise. */
static void creating_forget(struct pos_sandbox *sb)
{
	if (!sb)
		return;
	lua_State *L = pos_sandbox_lua(sb);
	/* Only an existing key is cleared: setting it needs no new slot. */
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &CREATING_EV_KEY) != LUA_TNIL) {
		lua_pushnil(L);
		lua_rawsetp(L, LUA_REGISTRYINDEX, &CREATING_EV_KEY);
	}
	lua_pop(L, 1);
}

/* Gives a held sandbox to the pool (which frees it when pooling is off). */
static void held_release(struct pos_plugins *p, struct held *h)
{
	creating_forget(h->sb); /* a pooled state holds no batch's event */
	if (h->sb && h->dirty && pos_sandbox_reset(h->sb) != POS_OK)
		pos_plugins_sb_dispose(h->sb, h->bd);
	else if (h->sb)
		pos_sbpool_put(p->pool, h->bd->pid, h->bd->uid, h->stamp, h->ticket, h->sb, h->bd);
	struct batchtx *tx = h->tx;
	struct held keep = *h;
	memset(h, 0, sizeof(*h));
	h->tx = tx;
	h->sc = keep.sc;
}

/* Runs one hook of one install (row r) in a pooled or new sandbox. Records
 * the outcome. A state goes back to the pool only after a clean call (a
 * hook it does not define is clean) with its globals reset; after an error,
 * a timeout or a memory-cap hit it is freed. */
static enum pos_err run_row_with(struct pos_plugins *p, const struct pos_plugin_row *r,
				 unsigned hook, json_t *event, pos_sandbox_push_fn push,
				 void *push_ctx, json_t **result, struct pos_error *err,
				 struct held *h)
{
	const struct entry *e = pos_plugins_entry(p, r->plugin_id);
	if (!e || !(e->m.hooks & hook))
		return pos_error_set(err, POS_ERR_NOT_FOUND, "hook", "the plugin does not handle this hook");
	if (!r->enabled)
		return pos_error_set(err, POS_ERR_CONFLICT, "enabled", "the plugin is disabled");
	struct pos_sandbox_limits lim = {p->cfg.mem_max, 0,
					 hook & (POS_HOOK_QUERY | POS_HOOK_MEMORY_CREATING)
						 ? p->cfg.query_budget_us
						 : p->cfg.hook_budget_us,
					 0};
	uint64_t stamp;
	if (h && h->sc.e == e && h->sc.grants == r->grants_json &&
	    h->sc.settings == r->settings_json && h->sc.time_us == lim.time_us) {
		stamp = h->sc.stamp;
	} else {
		stamp = stamp_of(e, r, lim.time_us);
		if (h) {
			h->sc.e = e;
			h->sc.grants = r->grants_json;
			h->sc.settings = r->settings_json;
			h->sc.time_us = lim.time_us;
			h->sc.stamp = stamp;
		}
	}
	void *aux = NULL;
	uint64_t ticket = 0;
	struct pos_sandbox_status st = {POS_SANDBOX_OK, ""};
	json_t *res = NULL;
	enum pos_err rc = POS_OK;
	struct pos_sandbox *sb = NULL;
	if (h && h->sb && h->stamp == stamp && strcmp(h->bd->pid, r->plugin_id) == 0 &&
	    strcmp(h->bd->uid, r->user_id) == 0) {
		sb = h->sb;
		aux = h->bd;
		ticket = h->ticket;
		h->sb = NULL;
		h->bd = NULL;
	} else {
		sb = pos_sbpool_take(p->pool, r->plugin_id, r->user_id, stamp, &aux, &ticket);
		if (!sb)
			ticket = pos_sbpool_ticket(p->pool);
	}
	struct binding *bd = aux;
	if (!sb)
		rc = build(p, e, r, &lim, &sb, &bd, &st);
	if (!rc) {
		bd->tx = h ? h->tx : NULL;
		bd->creating = hook == POS_HOOK_MEMORY_CREATING;
		rc = push ? pos_sandbox_call_with(sb, pos_manifest_hook_name(hook), push, push_ctx, &res, &st)
			  : pos_sandbox_call(sb, pos_manifest_hook_name(hook), event, &res, &st);
		bd->tx = NULL;
		bd->creating = false;
	}
	bool clean = rc == POS_OK || (rc == POS_ERR_NOT_FOUND && st.fail == POS_SANDBOX_MISSING);
	/* The memories of one on_memory_creating batch (one user's request)
	 * share the globals; they are reset when the batch lets go. */
	bool defer = h && hook == POS_HOOK_MEMORY_CREATING;
	if (!sb || !clean || (!defer && pos_sandbox_reset(sb) != POS_OK)) {
		pos_plugins_sb_dispose(sb, bd);
	} else if (h) {
		held_release(p, h);
		h->sb = sb;
		h->bd = bd;
		h->stamp = stamp;
		h->ticket = ticket;
		h->dirty = defer;
	} else {
		pos_sbpool_put(p->pool, r->plugin_id, r->user_id, stamp, ticket, sb, bd);
	}
	if (rc == POS_ERR_NOT_FOUND && st.fail == POS_SANDBOX_MISSING)
		rc = pos_error_set(err, POS_ERR_NOT_FOUND, "hook", "the plugin does not define this hook");
	char msg[POS_SANDBOX_MESSAGE_MAX + 32];
	if (rc == POS_ERR_INVALID_REQUEST) {
		snprintf(msg, sizeof(msg), "%s: %s", pos_manifest_hook_name(hook), st.message);
		pos_error_set(err, rc, NULL, "%s", msg);
	}
	/* A success on a healthy install changes nothing: skip the write. */
	if (rc == POS_ERR_INVALID_REQUEST || r->failures != 0 || strcmp(r->status, "ok") != 0)
		p->cfg.store->plugins->plugin_outcome(p->cfg.store, r->user_id, r->plugin_id,
						  rc == POS_ERR_INVALID_REQUEST ? msg : NULL,
						  p->cfg.max_failures, pos_now_us(), NULL);
	if (rc)
		json_decref(res);
	else if (result)
		*result = res;
	else
		json_decref(res);
	return rc;
}

static enum pos_err run_row(struct pos_plugins *p, const struct pos_plugin_row *r, unsigned hook,
			    json_t *event, json_t **result, struct pos_error *err, struct held *h)
{
	return run_row_with(p, r, hook, event, NULL, NULL, result, err, h);
}

enum pos_err pos_plugins_installed(struct pos_plugins *p, const char *user_id, const char *id,
				   struct pos_error *err)
{
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	struct pos_plugin_row row;
	enum pos_err rc = p->cfg.store->plugins->plugin_get(p->cfg.store, a, user_id, id, &row);
	pos_arena_destroy(a);
	if (rc)
		pos_error_set(err, rc, NULL, rc == POS_ERR_NOT_FOUND ? "plugin not installed" : NULL);
	return rc;
}

enum pos_err pos_plugins_run(struct pos_plugins *p, const char *user_id, const char *id,
			     unsigned hook, json_t *event, json_t **result, struct pos_error *err)
{
	if (result)
		*result = NULL;
	if (!pos_manifest_hook_name(hook))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "hook", "unknown hook");
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return POS_ERR_NOMEM;
	struct pos_plugin_row r;
	enum pos_err rc = p->cfg.store->plugins->plugin_get(p->cfg.store, a, user_id, id, &r);
	if (rc)
		pos_error_set(err, rc, NULL, rc == POS_ERR_NOT_FOUND ? "plugin not installed" : NULL);
	else
		rc = run_row(p, &r, hook, event, result, err, NULL);
	pos_arena_destroy(a);
	return rc;
}

enum pos_err pos_plugins_emit(struct pos_plugins *p, const char *user_id, unsigned hook,
			      json_t *event, json_t **results)
{
	*results = NULL;
	if (cat_count(p) == 0) {
		*results = json_array();
		return *results ? POS_OK : POS_ERR_NOMEM;
	}
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return POS_ERR_NOMEM;
	struct pos_plugin_row *rows = NULL;
	size_t n = 0;
	enum pos_err rc = p->cfg.store->plugins->plugin_list(p->cfg.store, a, user_id, &rows, &n);
	json_t *out = rc ? NULL : json_array();
	for (size_t i = 0; out && i < n; i++) {
		const struct entry *e = pos_plugins_entry(p, rows[i].plugin_id);
		if (!rows[i].enabled || !e || !(e->m.hooks & hook))
			continue;
		json_t *res = NULL;
		struct pos_error err;
		pos_error_clear(&err);
		if (run_row(p, &rows[i], hook, event, &res, &err, NULL) == POS_OK && res && !json_is_null(res))
			json_array_append_new(out, json_pack("{s:s, s:o}", "plugin", rows[i].plugin_id,
							     "result", res));
		else
			json_decref(res);
	}
	if (!rc && !out)
		rc = POS_ERR_NOMEM;
	pos_arena_destroy(a);
	*results = out;
	return rc;
}

void pos_plugins_write_answers(struct pos_plugins *p, struct pos_jw *w, const char *user_id,
			       const char *query, size_t len)
{
	if (!p || cat_count(p) == 0 || !query || len == 0 || len > POS_PLUGINS_QUERY_MAX)
		return;
	json_t *ev = json_pack("{s:s#}", "query", query, (int)len);
	json_t *res = NULL;
	if (!ev || pos_plugins_emit(p, user_id, POS_HOOK_QUERY, ev, &res)) {
		json_decref(ev);
		return;
	}
	json_decref(ev);
	bool opened = false;
	size_t i;
	json_t *x;
	json_array_foreach(res, i, x) {
		json_t *ans = json_object_get(json_object_get(x, "result"), "answer");
		if (!json_is_string(ans) || json_string_length(ans) == 0)
			continue;
		if (!opened) {
			pos_jw_key(w, "plugin_answers");
			pos_jw_arr(w);
			opened = true;
		}
		size_t n = pos_utf8_cut(json_string_value(ans), json_string_length(ans),
					POS_PLUGINS_ANSWER_MAX);
		pos_jw_obj(w);
		pos_jw_kstr(w, "plugin", json_string_value(json_object_get(x, "plugin")));
		pos_jw_key(w, "answer");
		pos_jw_strn(w, json_string_value(ans), n);
		pos_jw_obj_end(w);
	}
	if (opened)
		pos_jw_arr_end(w);
	json_decref(res);
}

/* ---- memory hooks as jobs ---------------------------------------------- */

void pos_plugins_memory_event(struct pos_plugins *p, const char *user_id, unsigned hook,
			      const char *memory_id)
{
	if (!p || !p->cfg.enqueue || !memory_id)
		return;
	bool any = false;
	for (size_t i = 0, nc = cat_count(p); i < nc && !any; i++)
		any = (p->cat[i].m.hooks & hook) != 0;
	if (!any)
		return;
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return;
	struct pos_plugin_row *rows = NULL;
	size_t n = 0;
	if (p->cfg.store->plugins->plugin_list(p->cfg.store, a, user_id, &rows, &n) == POS_OK) {
		for (size_t i = 0; i < n; i++) {
			const struct entry *e = pos_plugins_entry(p, rows[i].plugin_id);
			if (!rows[i].enabled || !e || !(e->m.hooks & hook))
				continue;
			json_t *pl = json_pack("{s:s, s:s, s:s}", "plugin", rows[i].plugin_id, "hook",
					       pos_manifest_hook_name(hook), "memory_id", memory_id);
			char *text = pl ? json_dumps(pl, JSON_COMPACT) : NULL;
			json_decref(pl);
			if (text)
				p->cfg.enqueue(p->cfg.enqueue_ctx, POS_PLUGINS_JOB_KIND, user_id, text);
			free(text);
		}
	}
	pos_arena_destroy(a);
}

void pos_plugins_memory_batch(struct pos_plugins *p, const char *user_id, unsigned hook,
			      const char *const *memory_ids, size_t n)
{
	if (!p || !p->cfg.enqueue || !memory_ids || n == 0 || !pos_manifest_hook_name(hook))
		return;
	bool any = false;
	for (size_t i = 0, nc = cat_count(p); i < nc && !any; i++)
		any = (p->cat[i].m.hooks & hook) != 0;
	if (!any)
		return;
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return;
	struct pos_plugin_row *rows = NULL;
	size_t nr = 0;
	json_t *plugins = json_array();
	if (plugins && p->cfg.store->plugins->plugin_list(p->cfg.store, a, user_id, &rows, &nr) == POS_OK)
		for (size_t i = 0; i < nr; i++) {
			const struct entry *e = pos_plugins_entry(p, rows[i].plugin_id);
			if (rows[i].enabled && e && (e->m.hooks & hook))
				json_array_append_new(plugins, json_string(rows[i].plugin_id));
		}
	/* One job per POS_PLUGINS_BATCH_MAX ids (about 40 KB of payload). */
	for (size_t at = 0; json_array_size(plugins) > 0 && at < n; at += POS_PLUGINS_BATCH_MAX) {
		size_t k = n - at < POS_PLUGINS_BATCH_MAX ? n - at : POS_PLUGINS_BATCH_MAX;
		json_t *ids = json_array();
		for (size_t i = 0; ids && i < k; i++)
			json_array_append_new(ids, json_string(memory_ids[at + i]));
		json_t *pl = ids ? json_pack("{s:s, s:o, s:O}", "hook", pos_manifest_hook_name(hook),
					     "memory_ids", ids, "plugins", plugins)
				 : NULL;
		char *text = pl ? json_dumps(pl, JSON_COMPACT) : NULL;
		json_decref(pl);
		if (text)
			p->cfg.enqueue(p->cfg.enqueue_ctx, POS_PLUGINS_JOB_KIND, user_id, text);
		free(text);
	}
	json_decref(plugins);
	pos_arena_destroy(a);
}

/* The event of on_memory_creating: the memory as it will be stored (the
 * API's fields but seq, access counts and attachments, which a memory not
 * stored yet does not have), built as a Lua table straight from the record
 * (pos_sandbox_call_with): no JSON value per memory. The tags come from the
 * record's list; metadata other than "{}" (and tags only in JSON) are
 * parsed before the call, so the push holds nothing a Lua error could
 * leak.
 *
 * The memories of one batch (one request) get the same two tables, `ev`
 * and `ev.memory`, their nine fields overwritten for each (the tags and
 * metadata tables are new each time): building them anew was a fifth of
 * the call. A batch's first call in a state makes new ones, so nothing of
 * another request's memories is ever seen; a script that keeps the table
 * itself (not its values) between calls of one batch sees it change
 * (docs/PLUGINS.md). The pair lives in the state's registry. */
struct creating_ev {
	const struct pos_memory *m;
	json_t *tags;     /* NULL: m->tags */
	json_t *metadata; /* NULL: an empty object */
	bool fresh;       /* the batch's first call in this state: new tables */
	char ts[40];
};

/* prev: the event of the batch's memory before (NULL for the first), whose
 * created_at text is reused when the time is the same (a bulk's memories
 * share theirs). */
static void creating_prepare(struct creating_ev *ev, const struct pos_memory *m, bool fresh,
			     const struct creating_ev *prev)
{
	ev->m = m;
	ev->tags = ev->metadata = NULL;
	ev->fresh = fresh;
	if (prev && prev->m->created_at == m->created_at)
		memcpy(ev->ts, prev->ts, sizeof(ev->ts));
	else
		pos_time_format(m->created_at, ev->ts, sizeof(ev->ts));
	if (m->n_tags == 0 && m->tags_json && strcmp(m->tags_json, "[]") != 0) {
		ev->tags = json_loads(m->tags_json, 0, NULL);
		if (!json_is_array(ev->tags)) {
			json_decref(ev->tags);
			ev->tags = NULL;
		}
	}
	if (m->metadata_json && strcmp(m->metadata_json, "{}") != 0) {
		ev->metadata = json_loads(m->metadata_json, 0, NULL);
		if (!json_is_object(ev->metadata)) {
			json_decref(ev->metadata);
			ev->metadata = NULL;
		}
	}
}

static void creating_done(struct creating_ev *ev)
{
	json_decref(ev->tags);
	json_decref(ev->metadata);
}

static void set_str(lua_State *L, const char *k, const char *v)
{
	lua_pushstring(L, v);
	lua_setfield(L, -2, k);
}

/* Leaves the batch's `ev` and `ev.memory` on the stack (ev below), new ones
 * when ev->fresh or the registry has none. */
static void creating_tables(lua_State *L, const struct creating_ev *ev)
{
	if (!ev->fresh && lua_rawgetp(L, LUA_REGISTRYINDEX, &CREATING_EV_KEY) == LUA_TTABLE) {
		lua_rawgeti(L, -1, 1);
		lua_rawgeti(L, -2, 2);
		lua_remove(L, -3);
		if (lua_type(L, -2) == LUA_TTABLE && lua_type(L, -1) == LUA_TTABLE) {
			/* No metatable a call gave them survives: the sets below
			 * stay plain, no script code runs in them. */
			lua_pushnil(L);
			lua_setmetatable(L, -3);
			lua_pushnil(L);
			lua_setmetatable(L, -2);
			lua_pushvalue(L, -1);
			lua_setfield(L, -3, "memory"); /* the script may have replaced it */
			return;
		}
		lua_pop(L, 2);
	} else if (!ev->fresh) {
		lua_pop(L, 1);
	}
	lua_createtable(L, 2, 0); /* the pair */
	lua_createtable(L, 0, 1); /* ev */
	lua_createtable(L, 0, 9); /* ev.memory */
	lua_pushvalue(L, -1);
	lua_setfield(L, -3, "memory");
	lua_pushvalue(L, -2);
	lua_rawseti(L, -4, 1);
	lua_pushvalue(L, -1);
	lua_rawseti(L, -4, 2);
	lua_rotate(L, -3, -1); /* pair on top */
	lua_rawsetp(L, LUA_REGISTRYINDEX, &CREATING_EV_KEY);
}

static void push_creating(lua_State *L, void *ctx)
{
	const struct creating_ev *ev = ctx;
	const struct pos_memory *m = ev->m;
	creating_tables(L, ev);
	set_str(L, "id", m->id);
	if (m->content)
		lua_pushlstring(L, m->content, m->content_len);
	else
		lua_pushliteral(L, "");
	lua_setfield(L, -2, "content");
	set_str(L, "type", pos_mem_type_name(m->type));
	set_str(L, "layer", pos_mem_layer_name(m->layer));
	set_str(L, "source", m->source ? m->source : "api");
	if (ev->tags) {
		pos_sandbox_push_json(L, ev->tags);
	} else {
		lua_createtable(L, (int)m->n_tags, 0);
		for (size_t i = 0; i < m->n_tags; i++) {
			lua_pushstring(L, m->tags[i]);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
	}
	lua_setfield(L, -2, "tags");
	if (ev->metadata)
		pos_sandbox_push_json(L, ev->metadata);
	else
		lua_createtable(L, 0, 0);
	lua_setfield(L, -2, "metadata");
	set_str(L, "created_at", ev->ts);
	lua_pushnumber(L, m->importance);
	lua_setfield(L, -2, "importance");
	lua_pop(L, 1); /* ev.memory; ev stays as the argument */
}

/* Appends the tags of a creating result (`{tags = "t"}` or `{tags =
 * {...}}`) to *add (made on first use), at most POS_PLUGINS_CREATING_TAGS. */
static void creating_tags(json_t *res, json_t **add)
{
	json_t *t = json_object_get(res, "tags");
	json_t *one = json_is_string(t) ? json_pack("[O]", t) : NULL;
	json_t *list = one ? one : t;
	size_t i;
	json_t *x;
	json_array_foreach(list, i, x) {
		if (!json_is_string(x))
			continue;
		if (!*add && !(*add = json_array()))
			break;
		if (json_array_size(*add) >= POS_PLUGINS_CREATING_TAGS)
			break;
		json_array_append(*add, x);
	}
	json_decref(one);
}

void pos_plugins_memory_creating(struct pos_plugins *p, const char *user_id,
				 const struct pos_memory *v, size_t n, json_t **add)
{
	if (!p || !v || n == 0 || !add)
		return;
	bool any = false;
	for (size_t i = 0, nc = cat_count(p); i < nc && !any; i++)
		any = (p->cat[i].m.hooks & POS_HOOK_MEMORY_CREATING) != 0;
	if (!any)
		return;
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return;
	struct pos_plugin_row *rows = NULL;
	size_t nr = 0;
	if (p->cfg.store->plugins->plugin_list(p->cfg.store, a, user_id, &rows, &nr) != POS_OK)
		nr = 0;
	for (size_t k = 0; k < nr; k++) {
		struct pos_plugin_row r = rows[k];
		const struct entry *e = pos_plugins_entry(p, r.plugin_id);
		if (!r.enabled || !e || !(e->m.hooks & POS_HOOK_MEMORY_CREATING))
			continue;
		/* Its tags are a write: only with memories:write granted. */
		json_t *grants = json_loads(r.grants_json, 0, NULL);
		unsigned perms = 0;
		struct pos_error ignore;
		pos_manifest_perms(grants, &perms, &ignore);
		json_decref(grants);
		if (!(perms & e->m.perms & POS_PERM_MEMORIES_WRITE))
			continue;
		struct batchtx tx = {p->cfg.store, false, 0, json_object()};
		struct held h = {0};
		h.tx = &tx;
		int64_t t0 = pos_mono_us();
		struct creating_ev prev;
		for (size_t i = 0; i < n && r.enabled; i++) {
			/* A slow plugin does not hold a bulk request for long: past
			 * its time for this batch it tags no more of it. */
			if (pos_mono_us() - t0 > POS_PLUGINS_CREATING_BATCH_US)
				break;
			struct creating_ev ev;
			creating_prepare(&ev, &v[i], h.sb == NULL, i > 0 ? &prev : NULL);
			json_t *res = NULL;
			struct pos_error err;
			pos_error_clear(&err);
			enum pos_err rc = run_row_with(p, &r, POS_HOOK_MEMORY_CREATING, NULL, push_creating,
						       &ev, &res, &err, &h);
			creating_done(&ev);
			prev = ev;
			if (!rc) {
				creating_tags(res, &add[i]);
				/* A success left the row healthy (run_row_with wrote it
				 * if it was not): the next memory has nothing to write. */
				r.failures = 0;
				r.status = "ok";
			}
			json_decref(res);
			tx_due(&tx);
			if (rc == POS_ERR_INVALID_REQUEST &&
			    p->cfg.store->plugins->plugin_get(p->cfg.store, a, user_id, e->m.id, &r) != POS_OK)
				break; /* failed: read again, it may be disabled now */
		}
		tx_close(&tx);
		held_release(p, &h);
		json_decref(tx.kv);
	}
	pos_arena_destroy(a);
}

void pos_plugins_pool_stats(struct pos_plugins *p, size_t *states, size_t *bytes)
{
	pos_sbpool_stats(p->pool, states, bytes);
}

void pos_plugins_pool_drop(struct pos_plugins *p, const char *id)
{
	if (p)
		pos_sbpool_drop(p->pool, id, NULL);
}

/* Runs `hook` of install `plugin` on memory `mid` (h: the batch's held
 * sandbox, or NULL). A memory deleted meanwhile is skipped. Only running
 * out of memory is an error: a failing plugin is recorded on its install. */
static enum pos_err hook_one(struct pos_plugins *p, struct pos_arena *a, const char *user_id,
			     const struct pos_plugin_row *r, unsigned hook, const char *mid,
			     struct held *h, bool *failed)
{
	struct pos_memory m;
	/* No access is counted: a plugin reading is not the user reading. */
	enum pos_err rc = p->cfg.store->memories->memory_get(p->cfg.store, a, user_id, mid, false, 0, &m);
	if (rc == POS_ERR_NOT_FOUND || rc == POS_ERR_INVALID_FIELD)
		return POS_OK;
	if (rc)
		return rc;
	json_t *mem = memory_to_json(&m);
	json_t *ev = mem ? json_pack("{s:o}", "memory", mem) : NULL;
	if (!ev)
		return POS_ERR_NOMEM;
	struct pos_error err;
	pos_error_clear(&err);
	rc = run_row(p, r, hook, ev, NULL, &err, h);
	json_decref(ev);
	*failed = rc == POS_ERR_INVALID_REQUEST;
	return rc == POS_ERR_NOMEM ? rc : POS_OK;
}

/* A batch: every named plugin over every memory, one held sandbox per
 * plugin. After a failure the install is read again, so a plugin disabled
 * by its failures stops there. */
static enum pos_err hook_batch(struct pos_job_run *jr, struct pos_plugins *p, const char *user_id,
			       unsigned hook, json_t *ids, json_t *plugins)
{
	enum pos_err rc = POS_OK;
	uint64_t done = 0, total = (uint64_t)json_array_size(ids) * json_array_size(plugins);
	size_t i, j;
	json_t *pv, *iv;
	json_array_foreach(plugins, i, pv) {
		const char *plugin = json_string_value(pv);
		struct pos_arena *ra = pos_arena_new();
		if (!ra)
			return POS_ERR_NOMEM;
		struct pos_plugin_row r;
		bool have = plugin && p->cfg.store->plugins->plugin_get(p->cfg.store, ra, user_id, plugin,
								    &r) == POS_OK;
		struct batchtx tx = {p->cfg.store, false, 0, NULL};
		struct held h = {0};
		h.tx = &tx;
		json_array_foreach(ids, j, iv) {
			if (!have || !r.enabled || rc)
				break;
			if (jr && pos_job_should_stop(jr)) { /* shutdown, cancel or timeout */
				rc = POS_ERR_UNAVAILABLE;
				break;
			}
			const char *mid = json_string_value(iv);
			struct pos_arena *a = mid ? pos_arena_new() : NULL;
			if (!mid)
				continue;
			if (!a) {
				rc = POS_ERR_NOMEM;
				break;
			}
			bool failed = false;
			rc = hook_one(p, a, user_id, &r, hook, mid, &h, &failed);
			pos_arena_destroy(a);
			tx_due(&tx);
			if (jr && total > 1)
				pos_job_progress(jr, ++done, total);
			if (failed)
				have = p->cfg.store->plugins->plugin_get(p->cfg.store, ra, user_id,
									 plugin, &r) == POS_OK;
		}
		tx_close(&tx);
		held_release(p, &h);
		pos_arena_destroy(ra);
		if (rc)
			break;
	}
	return rc;
}

static enum pos_err hook_job_run(struct pos_job_run *jr, void *ctx, const char *user_id,
				 const char *payload_json)
{
	struct pos_plugins *p = ctx;
	json_t *pl = json_loads(payload_json, 0, NULL);
	const char *plugin = json_string_value(json_object_get(pl, "plugin"));
	const char *hname = json_string_value(json_object_get(pl, "hook"));
	const char *mid = json_string_value(json_object_get(pl, "memory_id"));
	json_t *ids = json_object_get(pl, "memory_ids");
	json_t *plugins = json_object_get(pl, "plugins");
	unsigned hook = hname ? pos_manifest_hook(hname) : 0;
	enum pos_err rc = POS_OK;
	if (!(hook & (POS_HOOK_MEMORY_CREATED | POS_HOOK_MEMORY_ACCESSED))) {
		rc = POS_ERR_INVALID_FIELD;
	} else if (json_is_array(ids) && json_is_array(plugins)) {
		rc = json_array_size(ids) > POS_PLUGINS_BATCH_MAX
			     ? POS_ERR_INVALID_FIELD
			     : hook_batch(jr, p, user_id, hook, ids, plugins);
	} else if (plugin && mid) { /* one memory (single create, get) */
		json_t *one = json_pack("[s]", mid);
		json_t *pone = json_pack("[s]", plugin);
		rc = one && pone ? hook_batch(jr, p, user_id, hook, one, pone) : POS_ERR_NOMEM;
		json_decref(one);
		json_decref(pone);
	} else {
		rc = POS_ERR_INVALID_FIELD;
	}
	json_decref(pl);
	return rc;
}

const struct pos_job_kind pos_plugins_job_kind = {
	.name = POS_PLUGINS_JOB_KIND,
	.max_attempts = 1,
	/* A batch of up to POS_PLUGINS_BATCH_MAX memories, each call within
	 * the hook budget; it polls pos_job_should_stop between memories. */
	.timeout_us = 600 * 1000000LL,
	.backoff_us = 0,
	.serial_per_user = false,
	.user_cancellable = false,
	.run = hook_job_run,
};

/* For tests of the job without a jobs service. */
enum pos_err pos_plugins_job_run_for_test(struct pos_plugins *p, const char *user_id,
					  const char *payload_json)
{
	return hook_job_run(NULL, p, user_id, payload_json);
}

