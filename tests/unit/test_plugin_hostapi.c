/*
 * Unit tests for src/plugins/hostapi: the `pos` table. A fake host stands
 * in for the manager (memories of one user in a JSON object, a kv map with
 * a small quota, a recorded HTTP request); the tests check that every call
 * is gated by the granted permissions and the declared hosts, that sizes
 * are capped, and that the table cannot be changed by the plugin.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plugins/hostapi.h"

struct fake {
	json_t *mems;  /* id -> memory, this user's only */
	json_t *kv;
	size_t kv_bytes;
	char last_url[256];
	int http_calls;
	char last_log[64];
};

static enum pos_err f_search(void *ctx, const char *q, size_t limit, json_t **out, struct pos_error *e)
{
	struct fake *f = ctx;
	*out = json_array();
	const char *k;
	json_t *m;
	json_object_foreach(f->mems, k, m) {
		if (json_array_size(*out) < limit && strstr(json_string_value(json_object_get(m, "content")), q))
			json_array_append(*out, m);
	}
	return POS_OK;
}

static enum pos_err f_get(void *ctx, const char *id, json_t **out, struct pos_error *e)
{
	struct fake *f = ctx;
	json_t *m = json_object_get(f->mems, id);
	if (!m)
		return pos_error_set(e, POS_ERR_NOT_FOUND, NULL, "memory not found");
	*out = json_incref(m);
	return POS_OK;
}

static enum pos_err f_create(void *ctx, json_t *fields, json_t **out, struct pos_error *e)
{
	struct fake *f = ctx;
	json_t *m = json_deep_copy(fields);
	json_object_set_new(m, "id", json_string("new1"));
	json_object_set(f->mems, "new1", m);
	*out = m;
	return POS_OK;
}

static enum pos_err f_update(void *ctx, const char *id, json_t *fields, json_t **out, struct pos_error *e)
{
	struct fake *f = ctx;
	json_t *m = json_object_get(f->mems, id);
	if (!m)
		return pos_error_set(e, POS_ERR_NOT_FOUND, NULL, "memory not found");
	json_object_update(m, fields);
	*out = json_incref(m);
	return POS_OK;
}

static enum pos_err f_http(void *ctx, const struct pos_hostapi_http *req, json_t **out, struct pos_error *e)
{
	struct fake *f = ctx;
	f->http_calls++;
	snprintf(f->last_url, sizeof(f->last_url), "%s %s", req->method, req->url);
	*out = json_pack("{s:i, s:s}", "status", 200, "body", "{\"ok\":true}");
	return POS_OK;
}

static enum pos_err f_kv_get(void *ctx, const char *key, json_t **out, struct pos_error *e)
{
	struct fake *f = ctx;
	json_t *v = json_object_get(f->kv, key);
	*out = v ? json_incref(v) : NULL;
	return POS_OK;
}

static enum pos_err f_kv_set(void *ctx, const char *key, const char *v, size_t len, struct pos_error *e)
{
	struct fake *f = ctx;
	if (!v) {
		json_object_del(f->kv, key);
		return POS_OK;
	}
	if (f->kv_bytes + len > 100)
		return pos_error_set(e, POS_ERR_QUOTA_EXCEEDED, "kv", "the plugin's storage quota is used up");
	f->kv_bytes += len;
	json_object_set_new(f->kv, key, json_stringn(v, len));
	return POS_OK;
}

static void f_log(void *ctx, const char *level, const char *msg, size_t len)
{
	struct fake *f = ctx;
	snprintf(f->last_log, sizeof(f->last_log), "%s:%.*s", level, (int)len, msg);
}

static enum pos_err f_list(void *ctx, json_t *filters, json_t **out, struct pos_error *e)
{
	return f_search(ctx, "after:", 50, out, e);
}

static const struct pos_hostapi_ops ops = {
	.mem_search = f_search, .mem_list = f_list,     .mem_get = f_get,       .mem_create = f_create,
	.mem_update = f_update, .http = f_http,         .kv_get = f_kv_get,     .kv_set = f_kv_set,
	.log = f_log,
};

struct env {
	struct fake f;
	struct pos_sandbox *sb;
};

static struct env *mk(unsigned perms)
{
	struct env *v = calloc(1, sizeof(*v));
	v->f.mems = json_pack("{s:{s:s, s:s, s:[s]}}", "m1", "id", "m1", "content", "lunch with Ada", "tags", "food");
	v->f.kv = json_object();
	static const char *const hosts[] = {"api.open-meteo.com", "example.org:8443", "[::1]:9"};
	struct pos_hostapi_grant g = {perms, hosts, 3};
	assert_int_equal(pos_sandbox_new(NULL, &v->sb), POS_OK);
	assert_int_equal(pos_hostapi_install(v->sb, &ops, &v->f, &g), POS_OK);
	return v;
}

static void done(struct env *v)
{
	pos_hostapi_release(v->sb);
	pos_sandbox_free(v->sb);
	json_decref(v->f.mems);
	json_decref(v->f.kv);
	free(v);
}

/* Runs `src` defining f and returns f()'s result dumped as JSON (or the
 * error message prefixed "ERR "). Caller frees. */
static char *go(struct env *v, const char *src)
{
	struct pos_sandbox_status st;
	if (pos_sandbox_load(v->sb, "=t", src, strlen(src), &st))
		return strdup(st.message);
	json_t *r = NULL;
	if (pos_sandbox_call(v->sb, "f", NULL, &r, &st)) {
		size_t n = strlen(st.message) + 5;
		char *s = malloc(n);
		snprintf(s, n, "ERR %s", st.message);
		return s;
	}
	char *s = json_dumps(r, JSON_ENCODE_ANY | JSON_COMPACT);
	json_decref(r);
	return s;
}

static void is(struct env *v, const char *src, const char *want)
{
	char *s = go(v, src);
	if (strstr(want, "ERR ") == want) {
		if (strncmp(s, "ERR ", 4) || !strstr(s, want + 4))
			fail_msg("%s\n  gave %s\n  want error containing %s", src, s, want + 4);
	} else if (strcmp(s, want) != 0) {
		fail_msg("%s\n  gave %s\n  want %s", src, s, want);
	}
	free(s);
}

static void test_permissions(void **state)
{
	(void)state;
	struct env *v = mk(0);
	is(v, "function f() return pos.memories.get('m1') end", "ERR permission 'memories:read'");
	is(v, "function f() return pos.memories.search('x') end", "ERR permission 'memories:read'");
	is(v, "function f() return pos.memories.list({}) end", "ERR permission 'memories:read'");
	is(v, "function f() return pos.memories.create({content='x'}) end", "ERR permission 'memories:write'");
	is(v, "function f() return pos.memories.tag('m1', 'x') end", "ERR permission 'memories:write'");
	is(v, "function f() return pos.http.get('https://api.open-meteo.com/v1') end", "ERR permission 'http'");
	is(v, "function f() return pos.kv.get('a') end", "ERR permission 'kv'");
	/* Without permissions, log, settings and now still work. */
	is(v, "function f() pos.log('warn', 'hi') return {pos.api_version, math.type(pos.now())} end", "[2,\"integer\"]");
	assert_string_equal(v->f.last_log, "warn:hi");
	done(v);
	/* Read without write. */
	v = mk(POS_PERM_MEMORIES_READ);
	is(v, "function f() return pos.memories.get('m1').content end", "\"lunch with Ada\"");
	is(v, "function f() return pos.memories.update('m1', {content='x'}) end", "ERR permission 'memories:write'");
	done(v);
}

/* pos.text.words: s:lower():gmatch("%w+")'s words, each once, in order;
 * with a set, only its keys. No permission needed. */
static void test_text_words(void **state)
{
	(void)state;
	struct env *v = mk(0);
	is(v, "function f() return pos.text.words('The Gym, the gym: GYM-day 2 x2!') end",
	   "[\"the\",\"gym\",\"day\",\"2\",\"x2\"]");
	is(v, "function f() return pos.text.words('gym doctor at the gym', {gym = true, doctor = 1, at = false}) end",
	   "[\"gym\",\"doctor\"]");
	/* Bytes past ASCII split words, as %w does in the C locale. */
	is(v, "function f() return pos.text.words('caf\\195\\169 na\\195\\175ve') end",
	   "[\"caf\",\"na\",\"ve\"]");
	/* The same words as the Lua pattern gives, also past the 64-byte buffer. */
	is(v, "function f() local s = ('Ab'):rep(50) .. ' x ' .. ('Q'):rep(200) .. ' x Ab' "
	      "local want, seen = {}, {} for w in s:lower():gmatch('%w+') do "
	      "if not seen[w] then seen[w] = true want[#want + 1] = w end end "
	      "local got = pos.text.words(s) if #got ~= #want then return #got end "
	      "for i = 1, #got do if got[i] ~= want[i] then return -i end end return #got end",
	   "4");
	is(v, "function f() return pos.text.words('') end", "{}");
	is(v, "function f() return pos.text.words('a b', {}) end", "{}");
	is(v, "function f() return pos.text.words({}) end", "ERR bad argument #1");
	is(v, "function f() return pos.text.words('a', 'b') end", "ERR bad argument #2");
	done(v);
}

static void test_memories(void **state)
{
	(void)state;
	struct env *v = mk(POS_PERM_MEMORIES_READ | POS_PERM_MEMORIES_WRITE);
	is(v, "function f() local r = pos.memories.search('Ada', {limit = 5}) return {#r, r[1].id} end", "[1,\"m1\"]");
	is(v, "function f() return pos.memories.search('Ada', {limit = 500}) end", "ERR limit must be 1..50");
	is(v, "function f() return pos.memories.search(string.rep('q', 2000)) end", "ERR query too long");
	is(v, "function f() return pos.memories.list({tag = {'nested'}}) end", "ERR a table of filters");
	/* Another user's id is simply not found. */
	is(v, "function f() local a, b = pos.memories.get('someone-elses') return {a == nil, b} end",
	   "[true,\"memory not found\"]");
	is(v, "function f() return pos.memories.create({content = 'new', tags = {'x'}}).id end", "\"new1\"");
	is(v, "function f() return pos.memories.tag('m1', {'food', 'friends'}).tags end", "[\"food\",\"friends\"]");
	is(v, "function f() return pos.memories.tag('m1', 'ada').tags end", "[\"food\",\"friends\",\"ada\"]");
	is(v, "function f() return pos.memories.create({content = function() end}) end", "ERR bad argument #1");
	done(v);
}

static void test_http_hosts(void **state)
{
	(void)state;
	struct env *v = mk(POS_PERM_HTTP);
	is(v, "function f() return pos.http.get('https://api.open-meteo.com/v1/forecast?x=1').status end", "200");
	assert_string_equal(v->f.last_url, "GET https://api.open-meteo.com/v1/forecast?x=1");
	is(v, "function f() return pos.http.post('https://example.org:8443/p', 'b', {content_type='text/plain'}).status end", "200");
	assert_int_equal(v->f.http_calls, 2);
	/* Undeclared hosts, loopback, other ports, schemes and credentials are
	 * refused before the host is asked. */
	const char *bad[] = {"http://127.0.0.1/", "http://169.254.169.254/latest/meta-data/",
			     "https://evil.example/", "https://example.org/p", "https://example.org:443/",
			     "file:///etc/passwd", "gopher://api.open-meteo.com/", "https://u:p@api.open-meteo.com/",
			     "https://api.open-meteo.com.evil.example/", "http://[::1]:80/"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char src[256];
		snprintf(src, sizeof(src), "function f() local a, b = pos.http.get('%s') return {a == nil, b} end", bad[i]);
		is(v, src, "[true,\"the plugin's manifest does not declare this host\"]");
	}
	assert_int_equal(v->f.http_calls, 2);
	is(v, "function f() return pos.http.post('https://example.org:8443/p', string.rep('x', 70000)) end",
	   "ERR body too large");
	is(v, "function f() return pos.http.post('https://example.org:8443/p', 'x', {content_type='a\\r\\nX: y'}) end",
	   "ERR bad content_type");
	done(v);
	/* The matcher itself. */
	static const char *const hosts[] = {"Example.ORG"};
	struct pos_hostapi_grant g = {POS_PERM_HTTP, hosts, 1};
	assert_true(pos_hostapi_url_allowed(&g, "https://example.org/x"));
	assert_true(pos_hostapi_url_allowed(&g, "http://EXAMPLE.org:8080/x"));
	assert_false(pos_hostapi_url_allowed(&g, "https://sub.example.org/x"));
	assert_false(pos_hostapi_url_allowed(&g, "not a url"));
}

static void test_kv(void **state)
{
	(void)state;
	struct env *v = mk(POS_PERM_KV);
	is(v, "function f() pos.kv.set('a', 'one') return {pos.kv.get('a'), pos.kv.get('b')} end", "[\"one\"]");
	is(v, "function f() pos.kv.set('a', nil) return pos.kv.get('a') end", "null");
	is(v, "function f() local a, b = pos.kv.set('big', string.rep('x', 99)) return {a == nil, b} end",
	   "[true,\"the plugin's storage quota is used up\"]");
	is(v, "function f() return pos.kv.set(string.rep('k', 129), 'v') end", "ERR keys are 1..128 bytes");
	is(v, "function f() return pos.kv.set('k', string.rep('v', 65537)) end", "ERR values are at most 64 KiB");
	done(v);
}

static void test_table_locked(void **state)
{
	(void)state;
	struct env *v = mk(POS_PERM_MEMORIES_READ);
	is(v, "function f() pos.x = 1 end", "ERR read-only");
	is(v, "function f() pos.memories.get = function() return {} end end", "ERR read-only");
	is(v, "function f() setmetatable(pos, {}) end", "ERR protected metatable");
	is(v, "function f() return getmetatable(pos) end", "\"locked\"");
	is(v, "function f() return rawget(pos, 'memories') end", "null");
	/* Replacing the global only affects the plugin itself. */
	is(v, "function f() pos = nil return 1 end", "1");
	done(v);
}

static void test_settings(void **state)
{
	(void)state;
	struct env *v = mk(0);
	json_t *s = json_pack("{s:s}", "city", "Lisbon");
	assert_int_equal(pos_hostapi_set_settings(v->sb, s), POS_OK);
	json_decref(s);
	is(v, "function f() local s = pos.settings() s.city = 'x' return pos.settings().city end", "\"Lisbon\"");
	done(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_permissions), cmocka_unit_test(test_memories),
		cmocka_unit_test(test_text_words),
		cmocka_unit_test(test_http_hosts),  cmocka_unit_test(test_kv),
		cmocka_unit_test(test_table_locked), cmocka_unit_test(test_settings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
