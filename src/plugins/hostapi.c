/*
 * hostapi.c — the `pos` table: permission checks, size caps and value
 * conversion between a plugin and the operations its manager supplies
 * (hostapi.h). Every C function here follows the sandbox rule: it may raise
 * a Lua error only while it holds nothing but Lua values, so a JSON value
 * from the host is pushed under a nested lua_pcall and released on failure.
 */
#include "plugins/hostapi.h"

#include <curl/curl.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/clock.h"

struct host {
	const struct pos_hostapi_ops *ops;
	void *ctx;
	unsigned perms;
	char *hosts[POS_HOSTAPI_HOSTS_MAX];
	size_t n_hosts;
	json_t *settings;
};

static const struct {
	unsigned bit;
	const char *name;
} perm_names[] = {
	{POS_PERM_MEMORIES_READ, "memories:read"},
	{POS_PERM_MEMORIES_WRITE, "memories:write"},
	{POS_PERM_HTTP, "http"},
	{POS_PERM_KV, "kv"},
};

unsigned pos_hostapi_perm(const char *name)
{
	for (size_t i = 0; i < sizeof(perm_names) / sizeof(perm_names[0]); i++)
		if (strcmp(perm_names[i].name, name) == 0)
			return perm_names[i].bit;
	return 0;
}

const char *pos_hostapi_perm_name(unsigned bit)
{
	for (size_t i = 0; i < sizeof(perm_names) / sizeof(perm_names[0]); i++)
		if (perm_names[i].bit == bit)
			return perm_names[i].name;
	return NULL;
}

static struct host *host_of(lua_State *L)
{
	return pos_sandbox_user(pos_sandbox_of(L));
}

/* Raises unless `perm` was granted; also refuses once the call is past its
 * deadline (host calls run C code the budget hook does not see). */
static struct host *need(lua_State *L, unsigned perm)
{
	struct host *h = host_of(L);
	if (perm && !(h->perms & perm))
		luaL_error(L, "permission '%s' was not granted to this plugin", pos_hostapi_perm_name(perm));
	int64_t dl = pos_sandbox_deadline_us(pos_sandbox_of(L));
	if (dl && pos_mono_us() > dl)
		luaL_error(L, "plugin exceeded its time budget");
	return h;
}

static int push_tramp(lua_State *L)
{
	json_t *v = lua_touserdata(L, 1);
	pos_sandbox_push_json(L, v);
	return 1;
}

/* Pushes `v` and releases it (also when pushing fails, then raises). */
static int push_owned(lua_State *L, json_t *v)
{
	lua_pushcfunction(L, push_tramp);
	lua_pushlightuserdata(L, v);
	int rc = lua_pcall(L, 1, 1, 0);
	json_decref(v);
	if (rc != LUA_OK)
		return lua_error(L);
	return 1;
}

/* The Lua convention for an operation that failed: nil, message. */
static int fail(lua_State *L, enum pos_err rc, const struct pos_error *e)
{
	luaL_pushfail(L);
	lua_pushstring(L, e->message[0] ? e->message : pos_strerror(rc));
	return 2;
}

/* A JSON copy of the table argument at idx; raises with why. */
static json_t *arg_json(lua_State *L, int idx)
{
	luaL_checktype(L, idx, LUA_TTABLE);
	const char *why = NULL;
	json_t *j = pos_sandbox_to_json(L, idx, &why);
	if (!j)
		luaL_error(L, "bad argument #%d: %s", idx, why);
	return j;
}

static const char *arg_id(lua_State *L, int idx)
{
	size_t len;
	const char *id = luaL_checklstring(L, idx, &len);
	if (len == 0 || len > 64)
		luaL_argerror(L, idx, "not a memory id");
	return id;
}

/* ---- pos.memories ----------------------------------------------------- */

static int l_search(lua_State *L)
{
	struct host *h = need(L, POS_PERM_MEMORIES_READ);
	size_t qlen;
	const char *q = luaL_checklstring(L, 1, &qlen);
	if (qlen > POS_HOSTAPI_QUERY_MAX)
		luaL_argerror(L, 1, "query too long");
	lua_Integer limit = 10;
	if (lua_istable(L, 2)) {
		lua_getfield(L, 2, "limit");
		if (!lua_isnil(L, -1))
			limit = luaL_checkinteger(L, -1);
		lua_pop(L, 1);
	}
	if (limit < 1 || limit > POS_HOSTAPI_SEARCH_LIMIT_MAX)
		luaL_argerror(L, 2, "limit must be 1..50");
	struct pos_error e;
	pos_error_clear(&e);
	json_t *out = NULL;
	enum pos_err rc = h->ops->mem_search(h->ctx, q, (size_t)limit, &out, &e);
	if (rc)
		return fail(L, rc, &e);
	return push_owned(L, out);
}

/* list({after = "2026-12-01", tag = "work", limit = 20}): values are
 * strings or numbers, passed as the list API's parameters. */
static int l_list(lua_State *L)
{
	struct host *h = need(L, POS_PERM_MEMORIES_READ);
	json_t *filters = lua_isnoneornil(L, 1) ? json_object() : arg_json(L, 1);
	const char *k;
	json_t *v;
	bool ok = json_is_object(filters) && json_object_size(filters) <= 16;
	json_object_foreach(filters, k, v) ok = ok && (json_is_string(v) || json_is_integer(v));
	if (!ok) {
		json_decref(filters);
		return luaL_argerror(L, 1, "a table of filters (strings or integers)");
	}
	struct pos_error e;
	pos_error_clear(&e);
	json_t *out = NULL;
	enum pos_err rc = h->ops->mem_list(h->ctx, filters, &out, &e);
	json_decref(filters);
	if (rc)
		return fail(L, rc, &e);
	return push_owned(L, out);
}

static int l_get(lua_State *L)
{
	struct host *h = need(L, POS_PERM_MEMORIES_READ);
	const char *id = arg_id(L, 1);
	struct pos_error e;
	pos_error_clear(&e);
	json_t *out = NULL;
	enum pos_err rc = h->ops->mem_get(h->ctx, id, &out, &e);
	if (rc)
		return fail(L, rc, &e);
	return push_owned(L, out);
}

static int l_create(lua_State *L)
{
	struct host *h = need(L, POS_PERM_MEMORIES_WRITE);
	luaL_checktype(L, 1, LUA_TTABLE);
	json_t *fields = arg_json(L, 1);
	struct pos_error e;
	pos_error_clear(&e);
	json_t *out = NULL;
	enum pos_err rc = h->ops->mem_create(h->ctx, fields, &out, &e);
	json_decref(fields);
	if (rc)
		return fail(L, rc, &e);
	return push_owned(L, out);
}

static int l_update(lua_State *L)
{
	struct host *h = need(L, POS_PERM_MEMORIES_WRITE);
	const char *id = arg_id(L, 1);
	luaL_checktype(L, 2, LUA_TTABLE);
	json_t *fields = arg_json(L, 2);
	struct pos_error e;
	pos_error_clear(&e);
	json_t *out = NULL;
	enum pos_err rc = h->ops->mem_update(h->ctx, id, fields, &out, &e);
	json_decref(fields);
	if (rc)
		return fail(L, rc, &e);
	return push_owned(L, out);
}

/* tag(id, "t") or tag(id, {"a", "b"}): adds to the memory's tags. */
static int l_tag(lua_State *L)
{
	struct host *h = need(L, POS_PERM_MEMORIES_WRITE);
	const char *id = arg_id(L, 1);
	json_t *add;
	if (lua_type(L, 2) == LUA_TSTRING) {
		size_t len;
		const char *t = lua_tolstring(L, 2, &len);
		add = json_pack("[s#]", t, (int)len);
		if (!add)
			return luaL_error(L, "bad tag");
	} else {
		add = arg_json(L, 2);
		if (!json_is_array(add)) {
			json_decref(add);
			return luaL_argerror(L, 2, "a tag or an array of tags");
		}
	}
	struct pos_error e;
	pos_error_clear(&e);
	json_t *mem = NULL, *out = NULL, *fields = NULL;
	enum pos_err rc;
	if (h->ops->mem_tag) { /* the host's cheap path */
		rc = h->ops->mem_tag(h->ctx, id, add, &out, &e);
		goto out;
	}
	if ((rc = h->ops->mem_get(h->ctx, id, &mem, &e)))
		goto out;
	json_t *tags = json_object_get(mem, "tags");
	json_t *merged = json_is_array(tags) ? json_copy(tags) : json_array();
	size_t i;
	json_t *t;
	json_array_foreach(add, i, t) {
		bool have = false;
		size_t j;
		json_t *u;
		json_array_foreach(merged, j, u) have = have || json_equal(t, u);
		if (!have)
			json_array_append(merged, t);
	}
	fields = json_pack("{s:o}", "tags", merged);
	if (!fields) {
		rc = POS_ERR_NOMEM;
		goto out;
	}
	rc = h->ops->mem_update(h->ctx, id, fields, &out, &e);
out:
	json_decref(add);
	json_decref(mem);
	json_decref(fields);
	if (rc)
		return fail(L, rc, &e);
	return push_owned(L, out);
}

/* ---- pos.http ---------------------------------------------------------- */

bool pos_hostapi_url_allowed(const struct pos_hostapi_grant *g, const char *url)
{
	bool ok = false;
	char *scheme = NULL, *hostname = NULL, *port = NULL;
	CURLU *u = curl_url();
	if (!u || strlen(url) > POS_HOSTAPI_URL_MAX)
		goto out;
	if (curl_url_set(u, CURLUPART_URL, url, 0) ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) ||
	    curl_url_get(u, CURLUPART_HOST, &hostname, 0) ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT))
		goto out;
	if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)
		goto out;
	{
		char *user = NULL;
		if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
			curl_free(user); /* no credentials in plugin URLs */
			goto out;
		}
	}
	size_t hl = strlen(hostname);
	for (size_t i = 0; i < g->n_hosts && !ok; i++) {
		const char *d = g->hosts[i];
		const char *colon = strrchr(d, ':');
		/* "[::1]:80" and "name:port" pin the port; a bare name any port */
		size_t dl = colon && d[0] != '[' ? (size_t)(colon - d) : strlen(d);
		if (d[0] == '[') {
			const char *rb = strchr(d, ']');
			dl = rb ? (size_t)(rb - d) + 1 : strlen(d);
			colon = rb && rb[1] == ':' ? rb + 1 : NULL;
		}
		if (dl != hl || strncasecmp(d, hostname, hl) != 0)
			continue;
		ok = !colon || strcmp(colon + 1, port) == 0;
	}
out:
	curl_free(scheme);
	curl_free(hostname);
	curl_free(port);
	curl_url_cleanup(u);
	return ok;
}

static int do_http(lua_State *L, const char *method)
{
	struct host *h = need(L, POS_PERM_HTTP);
	size_t ulen;
	const char *url = luaL_checklstring(L, 1, &ulen);
	if (ulen > POS_HOSTAPI_URL_MAX)
		luaL_argerror(L, 1, "URL too long");
	struct pos_hostapi_http req = {method, url, NULL, 0, NULL,
				       pos_sandbox_deadline_us(pos_sandbox_of(L))};
	int opt = 2;
	if (strcmp(method, "POST") == 0) {
		req.body = luaL_checklstring(L, 2, &req.body_len);
		if (req.body_len > POS_HOSTAPI_HTTP_BODY_MAX)
			luaL_argerror(L, 2, "body too large");
		opt = 3;
	}
	if (lua_istable(L, opt)) {
		lua_getfield(L, opt, "content_type");
		if (lua_type(L, -1) == LUA_TSTRING) {
			req.content_type = lua_tostring(L, -1);
			if (strpbrk(req.content_type, "\r\n") || strlen(req.content_type) > 128)
				luaL_argerror(L, opt, "bad content_type");
		}
		lua_pop(L, 1); /* the string stays alive as part of the table */
	}
	struct pos_hostapi_grant g = {h->perms, (const char *const *)h->hosts, h->n_hosts};
	if (!pos_hostapi_url_allowed(&g, url)) {
		lua_pushnil(L);
		lua_pushliteral(L, "the plugin's manifest does not declare this host");
		return 2;
	}
	struct pos_error e;
	pos_error_clear(&e);
	json_t *out = NULL;
	enum pos_err rc = h->ops->http(h->ctx, &req, &out, &e);
	if (rc)
		return fail(L, rc, &e);
	return push_owned(L, out);
}

static int l_http_get(lua_State *L) { return do_http(L, "GET"); }
static int l_http_post(lua_State *L) { return do_http(L, "POST"); }

/* ---- pos.kv ------------------------------------------------------------ */

static const char *arg_key(lua_State *L)
{
	size_t len;
	const char *k = luaL_checklstring(L, 1, &len);
	if (len == 0 || len > POS_HOSTAPI_KEY_MAX || memchr(k, '\0', len))
		luaL_argerror(L, 1, "keys are 1..128 bytes");
	return k;
}

static int l_kv_get(lua_State *L)
{
	struct host *h = need(L, POS_PERM_KV);
	const char *k = arg_key(L);
	struct pos_error e;
	pos_error_clear(&e);
	json_t *out = NULL;
	enum pos_err rc = h->ops->kv_get(h->ctx, k, &out, &e);
	if (rc)
		return fail(L, rc, &e);
	if (!out) {
		lua_pushnil(L);
		return 1;
	}
	return push_owned(L, out);
}

static int l_kv_set(lua_State *L)
{
	struct host *h = need(L, POS_PERM_KV);
	const char *k = arg_key(L);
	size_t len = 0;
	const char *v = NULL;
	if (!lua_isnoneornil(L, 2)) {
		v = luaL_checklstring(L, 2, &len);
		if (len > POS_HOSTAPI_VALUE_MAX)
			luaL_argerror(L, 2, "values are at most 64 KiB");
	}
	struct pos_error e;
	pos_error_clear(&e);
	enum pos_err rc = h->ops->kv_set(h->ctx, k, v, len, &e);
	if (rc)
		return fail(L, rc, &e);
	lua_pushboolean(L, 1);
	return 1;
}

/* ---- pos.log, pos.settings, pos.now ------------------------------------ */

static int l_log(lua_State *L)
{
	struct host *h = need(L, 0);
	const char *level = "info";
	int mi = 1;
	if (lua_gettop(L) >= 2) {
		level = luaL_checkstring(L, 1);
		if (strcmp(level, "debug") && strcmp(level, "info") && strcmp(level, "warn") &&
		    strcmp(level, "error"))
			luaL_argerror(L, 1, "level is debug, info, warn or error");
		mi = 2;
	}
	size_t len;
	const char *msg = luaL_checklstring(L, mi, &len);
	if (len > POS_HOSTAPI_LOG_MAX)
		len = POS_HOSTAPI_LOG_MAX;
	if (h->ops->log)
		h->ops->log(h->ctx, level, msg, len);
	return 0;
}

static int l_settings(lua_State *L)
{
	struct host *h = need(L, 0);
	pos_sandbox_push_json(L, h->settings);
	return 1;
}

static int l_now(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)(pos_now_us() / 1000));
	return 1;
}

/* ---- pos.json ----------------------------------------------------------- */

static int l_json_decode(lua_State *L)
{
	need(L, 0);
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);
	if (len > POS_HOSTAPI_HTTP_ANSWER_MAX)
		luaL_argerror(L, 1, "text too large");
	json_error_t je;
	json_t *v = json_loadb(s, len, JSON_DECODE_ANY, &je);
	if (!v) {
		luaL_pushfail(L);
		lua_pushliteral(L, "not valid JSON");
		return 2;
	}
	return push_owned(L, v);
}

static int str_tramp(lua_State *L)
{
	lua_pushstring(L, lua_touserdata(L, 1));
	return 1;
}

static int l_json_encode(lua_State *L)
{
	need(L, 0);
	luaL_checkany(L, 1);
	const char *why = NULL;
	json_t *v = pos_sandbox_to_json(L, 1, &why);
	if (!v)
		return luaL_error(L, "cannot encode: %s", why);
	char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	json_decref(v);
	if (!text)
		return luaL_error(L, "cannot encode: out of memory");
	lua_pushcfunction(L, str_tramp);
	lua_pushlightuserdata(L, text);
	int rc = lua_pcall(L, 1, 1, 0);
	free(text); /* jansson's allocator is malloc */
	if (rc != LUA_OK)
		return lua_error(L);
	return 1;
}

/* ---- pos.text ----------------------------------------------------------- */

static bool word_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* For l_text_words: whether the word at 5 is among the n at 3 (a scan
 * while there are few, then the set at 4, made on the way); a word not
 * seen is added to the set. */
static bool seen_before(lua_State *L, lua_Integer n)
{
	enum { SCAN_MAX = 16 };
	if (n < SCAN_MAX) {
		for (lua_Integer j = 1; j <= n; j++) {
			lua_rawgeti(L, 3, j);
			bool same = lua_rawequal(L, -1, 5);
			lua_pop(L, 1);
			if (same)
				return true;
		}
		return false;
	}
	if (lua_isnil(L, 4)) {
		lua_createtable(L, 0, 2 * SCAN_MAX);
		for (lua_Integer j = 1; j <= n; j++) {
			lua_rawgeti(L, 3, j);
			lua_pushboolean(L, 1);
			lua_rawset(L, -3);
		}
		lua_replace(L, 4);
	}
	lua_pushvalue(L, 5);
	if (lua_rawget(L, 4) != LUA_TNIL) {
		lua_pop(L, 1);
		return true;
	}
	lua_pop(L, 1);
	lua_pushvalue(L, 5);
	lua_pushboolean(L, 1);
	lua_rawset(L, 4);
	return false;
}

/* pos.text.words(s [, set]): s's distinct words (runs of ASCII letters and
 * digits, lower-cased: what s:lower():gmatch("%w+") gives in the C
 * locale) in order of first appearance; with `set`, only those that are
 * keys of it with a value other than nil and false (raw lookups). One pass
 * in C, linear in #s, which is bounded by the memory cap like any string,
 * and checking the call's deadline every 4096 words; everything it makes
 * is a Lua value, so a memory or time error leaks nothing. */
static int l_text_words(lua_State *L)
{
	need(L, 0);
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);
	bool filter = !lua_isnoneornil(L, 2);
	if (filter)
		luaL_checktype(L, 2, LUA_TTABLE);
	lua_settop(L, 2);
	lua_createtable(L, 4, 0); /* 3: the words */
	lua_pushnil(L);           /* 4: those seen, a set once there are many */
	lua_Integer n = 0;
	char low[64];
	int64_t dl = pos_sandbox_deadline_us(pos_sandbox_of(L));
	size_t words = 0;
	for (size_t i = 0; i < len;) {
		if (!word_byte((unsigned char)s[i])) {
			i++;
			continue;
		}
		/* The budget hook does not run in here: a text of millions of
		 * words stops at the call's deadline like a host call does. */
		if (++words % 4096 == 0 && dl && pos_mono_us() > dl)
			return luaL_error(L, "plugin exceeded its time budget");
		size_t start = i;
		while (i < len && word_byte((unsigned char)s[i]))
			i++;
		size_t wl = i - start;
		char *buf = low;
		if (wl > sizeof(low))
			buf = lua_newuserdatauv(L, wl, 0); /* 5, removed below */
		for (size_t k = 0; k < wl; k++) {
			unsigned char c = (unsigned char)s[start + k];
			buf[k] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
		}
		lua_pushlstring(L, buf, wl);
		if (buf != low)
			lua_remove(L, 5);
		/* the word is at 5 */
		if (filter) {
			lua_pushvalue(L, 5);
			bool want = lua_rawget(L, 2) != LUA_TNIL && lua_toboolean(L, -1);
			lua_pop(L, 1);
			if (!want) {
				lua_pop(L, 1);
				continue;
			}
		}
		if (seen_before(L, n)) {
			lua_pop(L, 1);
			continue;
		}
		lua_rawseti(L, 3, ++n);
	}
	lua_settop(L, 3);
	return 1;
}

/* ---- the table ---------------------------------------------------------- */

static int l_readonly(lua_State *L)
{
	return luaL_error(L, "the pos table is read-only");
}

/* Replaces the table at -1 by an empty proxy that reads through to it and
 * refuses writes and metatable changes. */
static void lock(lua_State *L)
{
	lua_newtable(L);              /* real proxy */
	lua_createtable(L, 0, 3);     /* real proxy mt */
	lua_pushvalue(L, -3);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, l_readonly);
	lua_setfield(L, -2, "__newindex");
	lua_pushliteral(L, "locked");
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, -2);
	lua_remove(L, -2);
}

static void sub(lua_State *L, const char *name, const luaL_Reg *fns)
{
	lua_newtable(L);
	luaL_setfuncs(L, fns, 0);
	lock(L);
	lua_setfield(L, -2, name);
}

static int install_tramp(lua_State *L)
{
	static const luaL_Reg mem[] = {{"search", l_search}, {"list", l_list}, {"get", l_get}, {"create", l_create},
				       {"update", l_update}, {"tag", l_tag}, {NULL, NULL}};
	static const luaL_Reg http[] = {{"get", l_http_get}, {"post", l_http_post}, {NULL, NULL}};
	static const luaL_Reg kv[] = {{"get", l_kv_get}, {"set", l_kv_set}, {NULL, NULL}};
	static const luaL_Reg js[] = {{"decode", l_json_decode}, {"encode", l_json_encode}, {NULL, NULL}};
	static const luaL_Reg text[] = {{"words", l_text_words}, {NULL, NULL}};
	lua_newtable(L);
	lua_pushinteger(L, POS_HOSTAPI_VERSION);
	lua_setfield(L, -2, "api_version");
	sub(L, "memories", mem);
	sub(L, "http", http);
	sub(L, "kv", kv);
	sub(L, "json", js);
	sub(L, "text", text);
	lua_pushcfunction(L, l_log);
	lua_setfield(L, -2, "log");
	lua_pushcfunction(L, l_settings);
	lua_setfield(L, -2, "settings");
	lua_pushcfunction(L, l_now);
	lua_setfield(L, -2, "now");
	lock(L);
	lua_setglobal(L, "pos");
	return 0;
}

static void host_free(struct host *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n_hosts; i++)
		pos_free(h->hosts[i]);
	json_decref(h->settings);
	pos_free(h);
}

enum pos_err pos_hostapi_install(struct pos_sandbox *sb, const struct pos_hostapi_ops *ops,
				 void *ctx, const struct pos_hostapi_grant *grant)
{
	if (grant->n_hosts > POS_HOSTAPI_HOSTS_MAX)
		return POS_ERR_INVALID_FIELD;
	struct host *h = pos_calloc(1, sizeof(*h));
	if (!h)
		return POS_ERR_NOMEM;
	h->ops = ops;
	h->ctx = ctx;
	h->perms = grant->perms;
	h->settings = json_object();
	if (!h->settings)
		goto nomem;
	for (size_t i = 0; i < grant->n_hosts; i++) {
		h->hosts[i] = pos_strdup(grant->hosts[i]);
		if (!h->hosts[i])
			goto nomem;
		h->n_hosts++;
	}
	lua_State *L = pos_sandbox_lua(sb);
	lua_settop(L, 0);
	lua_pushcfunction(L, install_tramp);
	if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
		lua_settop(L, 0);
		goto nomem;
	}
	pos_sandbox_set_user(sb, h);
	return POS_OK;
nomem:
	host_free(h);
	return POS_ERR_NOMEM;
}

enum pos_err pos_hostapi_set_settings(struct pos_sandbox *sb, json_t *settings)
{
	struct host *h = pos_sandbox_user(sb);
	json_t *c = settings ? json_deep_copy(settings) : json_object();
	if (!c)
		return POS_ERR_NOMEM;
	json_decref(h->settings);
	h->settings = c;
	return POS_OK;
}

void pos_hostapi_release(struct pos_sandbox *sb)
{
	if (!sb)
		return;
	host_free(pos_sandbox_user(sb));
	pos_sandbox_set_user(sb, NULL);
}
