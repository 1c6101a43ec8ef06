/*
 * Unit tests for src/plugins/sandbox: the Lua 5.4 runtime plugins run in.
 * Each hostile script must be contained (an error status, never a hang or
 * a crash), and the sandbox must keep working for the next call.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "plugins/sandbox.h"
#include "plugins/sbpool.h"

/* Small limits keep the suite fast: 4 MiB, 2M instructions, 1 s. */
static struct pos_sandbox *mk(void)
{
	struct pos_sandbox_limits lim = {4u << 20, 2000000, 1000000, 0};
	struct pos_sandbox *sb = NULL;
	assert_int_equal(pos_sandbox_new(&lim, &sb), POS_OK);
	return sb;
}

/* Loads `src` (which defines f) and calls f(); returns the call's status. */
static enum pos_sandbox_fail run(struct pos_sandbox *sb, const char *src, json_t **res)
{
	struct pos_sandbox_status st;
	if (pos_sandbox_load(sb, "=t", src, strlen(src), &st))
		return st.fail;
	json_t *r = NULL;
	pos_sandbox_call(sb, "f", NULL, &r, &st);
	if (res)
		*res = r;
	else
		json_decref(r);
	return st.fail;
}

/* The sandbox still answers after an attack. */
static void still_alive(struct pos_sandbox *sb)
{
	json_t *r = NULL;
	assert_int_equal(run(sb, "function f() return 1 + 1 end", &r), POS_SANDBOX_OK);
	assert_int_equal(json_integer_value(r), 2);
	json_decref(r);
}

static void expect(const char *src, enum pos_sandbox_fail want)
{
	struct pos_sandbox *sb = mk();
	assert_int_equal(run(sb, src, NULL), want);
	still_alive(sb);
	pos_sandbox_free(sb);
}

/* Returns f()'s result as a string (for "what is visible" checks). */
static char *result_of(const char *src)
{
	struct pos_sandbox *sb = mk();
	json_t *r = NULL;
	assert_int_equal(run(sb, src, &r), POS_SANDBOX_OK);
	char *s = json_dumps(r, JSON_ENCODE_ANY);
	json_decref(r);
	pos_sandbox_free(sb);
	return s;
}

static void test_json_round_trip(void **state)
{
	(void)state;
	struct pos_sandbox *sb = mk();
	const char *src = "function f(x) return {n = x.n + 1, tags = x.tags, s = x.s .. '!', "
			  "ok = not x.ok, e = {}} end";
	struct pos_sandbox_status st;
	assert_int_equal(pos_sandbox_load(sb, "=t", src, strlen(src), &st), POS_OK);
	json_t *arg = json_pack("{s:i, s:[s,s], s:s, s:b}", "n", 41, "tags", "a", "b", "s", "hi", "ok", 0);
	json_t *r = NULL;
	assert_int_equal(pos_sandbox_call(sb, "f", arg, &r, &st), POS_OK);
	assert_int_equal(json_integer_value(json_object_get(r, "n")), 42);
	assert_string_equal(json_string_value(json_array_get(json_object_get(r, "tags"), 1)), "b");
	assert_string_equal(json_string_value(json_object_get(r, "s")), "hi!");
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_true(json_is_object(json_object_get(r, "e")));
	json_decref(r);
	json_decref(arg);
	/* Functions and cycles cannot leave the plugin. */
	assert_int_equal(run(sb, "function f() return {g = print or type} end", NULL), POS_SANDBOX_RESULT);
	assert_int_equal(run(sb, "function f() local t = {} t.t = t return t end", NULL), POS_SANDBOX_RESULT);
	/* A missing function is reported as such. */
	assert_int_equal(pos_sandbox_call(sb, "nope", NULL, NULL, &st), POS_ERR_NOT_FOUND);
	assert_int_equal(st.fail, POS_SANDBOX_MISSING);
	assert_true(pos_sandbox_has(sb, "f"));
	assert_false(pos_sandbox_has(sb, "nope"));
	pos_sandbox_free(sb);
}

static void test_globals_removed(void **state)
{
	(void)state;
	char *s = result_of("function f() return {type(io), type(os.execute), type(os.getenv), "
			    "type(os.remove), type(require), type(package), type(debug), type(dofile), "
			    "type(loadfile), type(print), type(string.dump), type(os.time), type(os.date), "
			    "type(os.clock)} end");
	assert_string_equal(s, "[\"nil\", \"nil\", \"nil\", \"nil\", \"nil\", \"nil\", \"nil\", \"nil\", "
			       "\"nil\", \"nil\", \"nil\", \"function\", \"function\", \"function\"]");
	free(s);
}

static void test_escape_calls_fail(void **state)
{
	(void)state;
	expect("function f() os.execute('touch /tmp/pwned') end", POS_SANDBOX_RUNTIME);
	expect("function f() io.open('/etc/passwd') end", POS_SANDBOX_RUNTIME);
	expect("function f() require 'os' end", POS_SANDBOX_RUNTIME);
	expect("function f() return debug.getregistry() end", POS_SANDBOX_RUNTIME);
	expect("function f() return string.dump(f) end", POS_SANDBOX_RUNTIME);
	expect("function f() return collectgarbage('stop') end", POS_SANDBOX_RUNTIME);
	expect("function f() return collectgarbage('generational') end", POS_SANDBOX_RUNTIME);
}

static void test_binary_chunks_refused(void **state)
{
	(void)state;
	/* A binary chunk as the plugin's own source... */
	struct pos_sandbox *sb = mk();
	struct pos_sandbox_status st;
	const char bin[] = LUA_SIGNATURE "\x54\x00garbage";
	assert_int_equal(pos_sandbox_load(sb, "=t", bin, sizeof(bin) - 1, &st), POS_ERR_INVALID_REQUEST);
	assert_int_equal(st.fail, POS_SANDBOX_SYNTAX);
	pos_sandbox_free(sb);
	/* ...and through load, even when the mode asks for it. */
	char *s = result_of("function f() local fn, err = load('\\27Lua\\84\\0', 'x', 'b') "
			    "return {fn == nil, tostring(err):find('binary') ~= nil} end");
	assert_string_equal(s, "[true, true]");
	free(s);
	/* Text load works, with an environment. */
	s = result_of("function f() return load('return x', 'c', 't', {x = 7})() end");
	assert_string_equal(s, "7");
	free(s);
}

static void test_infinite_loop(void **state)
{
	(void)state;
	expect("function f() while true do end end", POS_SANDBOX_BUDGET);
	/* A loop in the top level of the chunk is caught at load time. */
	struct pos_sandbox *sb = mk();
	struct pos_sandbox_status st;
	const char *src = "while true do end";
	assert_int_equal(pos_sandbox_load(sb, "=t", src, strlen(src), &st), POS_ERR_INVALID_REQUEST);
	assert_int_equal(st.fail, POS_SANDBOX_BUDGET);
	still_alive(sb);
	pos_sandbox_free(sb);
}

static void test_pcall_cannot_swallow(void **state)
{
	(void)state;
	expect("function f() while true do pcall(function() while true do end end) end end",
	       POS_SANDBOX_BUDGET);
	expect("function f() while true do pcall(function() while true do "
	       "pcall(function() while true do end end) end end) end end",
	       POS_SANDBOX_BUDGET);
	expect("function f() while true do xpcall(function() while true do end end, "
	       "function(e) while true do end end) end end",
	       POS_SANDBOX_BUDGET);
	expect("function f() while true do pcall(error, 'x') end end", POS_SANDBOX_BUDGET);
	/* A to-be-closed variable's __close runs while the error unwinds: it
	 * cannot loop either. */
	expect("function f() local x <close> = setmetatable({}, {__close = function() "
	       "while true do end end}) while true do end end",
	       POS_SANDBOX_BUDGET);
	expect("function f() while true do pcall(function() local x <close> = setmetatable({}, "
	       "{__close = function() while true do end end}) error('x') end) end end",
	       POS_SANDBOX_BUDGET);
}

static void test_coroutine_tricks(void **state)
{
	(void)state;
	expect("function f() while true do coroutine.resume(coroutine.create("
	       "function() while true do end end)) end end",
	       POS_SANDBOX_BUDGET);
	expect("function f() local co = coroutine.wrap(function() while true do "
	       "coroutine.yield() end end) while true do co() end end",
	       POS_SANDBOX_BUDGET);
	/* A coroutine kept across calls still runs under the budget. */
	struct pos_sandbox *sb = mk();
	assert_int_equal(run(sb, "co = coroutine.create(function() coroutine.yield() "
				 "while true do end end) function f() return coroutine.resume(co) end",
			     NULL),
			 POS_SANDBOX_OK);
	json_t *r = NULL;
	struct pos_sandbox_status st;
	assert_int_equal(pos_sandbox_call(sb, "f", NULL, &r, &st), POS_ERR_INVALID_REQUEST);
	assert_int_equal(st.fail, POS_SANDBOX_BUDGET);
	still_alive(sb);
	pos_sandbox_free(sb);
	/* Ordinary coroutines work. */
	char *s = result_of("function f() local co = coroutine.wrap(function() for i = 1, 3 do "
			    "coroutine.yield(i) end end) return co() + co() + co() end");
	assert_string_equal(s, "6");
	free(s);
}

/* pos_sandbox_call_with: the argument is a table the caller pushes. */
static void push_n(lua_State *L, void *ctx)
{
	lua_createtable(L, 0, 1);
	lua_pushinteger(L, *(const int *)ctx);
	lua_setfield(L, -2, "n");
}

static void push_huge(lua_State *L, void *ctx)
{
	(void)ctx;
	static char huge[8u << 20]; /* twice the cap of mk() */
	lua_createtable(L, 0, 1);
	lua_pushlstring(L, huge, sizeof(huge));
	lua_setfield(L, -2, "s");
}

static void test_call_with(void **state)
{
	(void)state;
	struct pos_sandbox *sb = mk();
	const char *src = "function f(ev) return ev.n + 1 end";
	struct pos_sandbox_status st;
	assert_int_equal(pos_sandbox_load(sb, "=t", src, strlen(src), &st), POS_OK);
	int n = 41;
	json_t *r = NULL;
	assert_int_equal(pos_sandbox_call_with(sb, "f", push_n, &n, &r, &st), POS_OK);
	assert_int_equal(json_integer_value(r), 42);
	json_decref(r);
	/* A push past the memory cap fails the call like a script would. */
	assert_int_equal(pos_sandbox_call_with(sb, "f", push_huge, NULL, &r, &st), POS_ERR_INVALID_REQUEST);
	assert_int_equal(st.fail, POS_SANDBOX_MEMORY);
	assert_null(r);
	assert_true(pos_sandbox_mem_used(sb) <= (4u << 20));
	assert_int_equal(pos_sandbox_call_with(sb, "nope", push_n, &n, &r, &st), POS_ERR_NOT_FOUND);
	assert_int_equal(st.fail, POS_SANDBOX_MISSING);
	still_alive(sb);
	pos_sandbox_free(sb);
}

static void test_memory_bombs(void **state)
{
	(void)state;
	expect("function f() local t = {} local i = 0 while true do i = i + 1 t[i] = {i} end end",
	       POS_SANDBOX_MEMORY);
	expect("function f() local s = 'x' while true do s = s .. s end end", POS_SANDBOX_MEMORY);
	expect("function f() return string.rep('x', 2^31) end", POS_SANDBOX_RUNTIME);
	expect("function f() return ('x'):rep(1 << 40, 'yy') end", POS_SANDBOX_RUNTIME);
	/* string.rep of an empty string never loops 2^53 times in C. */
	char *s = result_of("function f() return #string.rep('', 1 << 53) + #string.rep('', 1 << 53, '') end");
	assert_string_equal(s, "0");
	free(s);
	/* table.move over an absurd range is refused before its C loop. */
	expect("function f() table.move({}, 1, math.maxinteger - 1, 2) end", POS_SANDBOX_RUNTIME);
	/* Swallowing the memory error with pcall does not help: the cap holds
	 * and the budget ends the loop. */
	struct pos_sandbox *sb = mk();
	enum pos_sandbox_fail f = run(sb, "function f() local keep = {} while true do "
					  "pcall(function() keep[#keep + 1] = string.rep('y', 1 << 20) end) end end",
				      NULL);
	assert_true(f == POS_SANDBOX_BUDGET || f == POS_SANDBOX_MEMORY);
	assert_true(pos_sandbox_mem_used(sb) <= (4u << 20));
	still_alive(sb);
	pos_sandbox_free(sb);
}

static void test_deep_recursion(void **state)
{
	(void)state;
	struct pos_sandbox *sb = mk();
	enum pos_sandbox_fail f = run(sb, "local function r(n) return 1 + r(n + 1) end function f() return r(1) end", NULL);
	assert_true(f == POS_SANDBOX_RUNTIME || f == POS_SANDBOX_MEMORY || f == POS_SANDBOX_BUDGET);
	still_alive(sb);
	/* The parser's C recursion is bounded too: load answers an error. */
	json_t *r = NULL;
	f = run(sb, "function f() local s = 'return ' .. string.rep('(', 100000) .. '1' .. "
		    "string.rep(')', 100000) local fn, err = load(s) return fn == nil and err ~= nil end", &r);
	assert_int_equal(f, POS_SANDBOX_OK);
	assert_true(json_is_true(r));
	json_decref(r);
	still_alive(sb);
	pos_sandbox_free(sb);
}

static void test_pattern_bombs(void **state)
{
	(void)state;
	/* A backtracking pattern over a long subject is refused, not run. */
	expect("function f() return string.find(string.rep('a', 300000), '.-.-.-.-.-.-b') end",
	       POS_SANDBOX_RUNTIME);
	expect("function f() return (string.rep('a', 100000)):match('a*a*a*a*b') end",
	       POS_SANDBOX_RUNTIME);
	/* Plain find and linear patterns over large text are fine. */
	char *s = result_of("function f() local t = string.rep('word ', 100000) local n = 0 "
			    "for w in t:gmatch('%a+') do n = n + 1 end "
			    "return {n, (t:find('word word', 1, true)), (t:gsub('%s+', ''):len())} end");
	assert_string_equal(s, "[100000, 1, 400000]");
	free(s);
	/* A quantifier over ordinary prose is cheap: its runs are short. */
	s = result_of("function f() local t = string.rep('We met in Lisbon at noon. ', 20000) local n = 0 "
		      "for w in t:gmatch('[Ii]n%s+(%u%a+)') do n = n + 1 end return n end");
	assert_string_equal(s, "20000");
	free(s);
	/* An anchored trim is linear even over a long line. */
	s = result_of("function f() local t = ' ' .. string.rep('ab', 100000) .. ' ' "
		      "return #t:match('^%s*(.-)%s*$') end");
	assert_string_equal(s, "200000");
	free(s);
	/* A pattern whose bound (every run as long as the subject) is over
	 * the limit but whose exact cost is not still runs: the check reads
	 * the subject only then, with the same verdict as before. */
	s = result_of("function f() local t = string.rep('word ', 100000) "
		      "return {t:find('o*x') == nil, select(2, t:gsub('o*r', ''))} end");
	assert_string_equal(s, "[true, 100000]");
	free(s);
	/* ...but gmatch does not anchor ('^' is a literal there). */
	expect("function f() for w in string.rep('a', 100000):gmatch('^a*a*b') do end end", POS_SANDBOX_RUNTIME);
		/* The cost model. */
	static char big[1000000], prose[1000000];
	memset(big, 'a', sizeof(big));
	for (size_t i = 0; i < sizeof(prose); i++)
		prose[i] = "word "[i % 5];
	assert_true(pos_sandbox_pattern_cost("%a+", 3, big, sizeof(big)) < 1e8);
	assert_true(pos_sandbox_pattern_cost("(%w+)", 5, big, sizeof(big)) < 1e8);
	assert_true(pos_sandbox_pattern_cost("a*b", 3, big, sizeof(big)) > 1e12);
	assert_true(pos_sandbox_pattern_cost("a*b", 3, prose, sizeof(prose)) < 1e8);
	assert_true(pos_sandbox_pattern_cost("%s+x", 4, prose, sizeof(prose)) < 1e8);
	assert_true(pos_sandbox_pattern_cost("[^x]*x", 6, prose, sizeof(prose)) > 1e12);
	assert_true(pos_sandbox_pattern_cost("%b()x", 5, prose, sizeof(prose)) > 1e12);
	assert_true(pos_sandbox_pattern_cost("[%]a]*x", 7, big, sizeof(big)) > 1e12);
	assert_true(pos_sandbox_pattern_cost("[b-z]*x", 7, big, sizeof(big)) < 1e8);
	assert_true(pos_sandbox_pattern_cost("%A*x", 4, big, sizeof(big)) < 1e8);
	/* Malformed patterns never read past their end. */
	(void)pos_sandbox_pattern_cost("[", 1, "ab", 2);
	(void)pos_sandbox_pattern_cost("%", 1, "ab", 2);
	(void)pos_sandbox_pattern_cost("%b", 2, "ab", 2);
	(void)pos_sandbox_pattern_cost("%f", 2, "ab", 2);
	(void)pos_sandbox_pattern_cost("[^%", 3, "ab", 2);
	(void)pos_sandbox_pattern_cost("[a-", 3, "ab", 2);
	(void)pos_sandbox_pattern_cost("[]*", 3, "ab", 2);
}

static void test_metatable_tricks(void **state)
{
	(void)state;
	/* The string metatable is protected... */
	char *s = result_of("function f() return getmetatable('') end");
	assert_string_equal(s, "\"string\"");
	free(s);
	expect("function f() getmetatable('').__index = {} end", POS_SANDBOX_RUNTIME);
	/* ...and __gc finalizers (which run with hooks off) are refused, even
	 * as a placeholder filled in later. */
	expect("function f() setmetatable({}, {__gc = function() while true do end end}) "
	       "collectgarbage() end",
	       POS_SANDBOX_RUNTIME);
	expect("function f() setmetatable({}, {__gc = true}) end", POS_SANDBOX_RUNTIME);
	/* A protected metatable cannot be replaced. */
	expect("function f() local t = setmetatable({}, {__metatable = 'no'}) setmetatable(t, {}) end",
	       POS_SANDBOX_RUNTIME);
	/* Ordinary metatables work. */
	s = result_of("function f() local t = setmetatable({}, {__index = function(_, k) return k .. '!' end}) "
		      "return t.hi end");
	assert_string_equal(s, "\"hi!\"");
	free(s);
	/* An __index on _G cannot make the host run a function it did not define. */
	struct pos_sandbox *sb = mk();
	assert_int_equal(run(sb, "setmetatable(_G, {__index = function() return function() while true do end end end}) "
				 "function f() return 1 end",
			     NULL),
			 POS_SANDBOX_OK);
	assert_false(pos_sandbox_has(sb, "on_query"));
	struct pos_sandbox_status st;
	assert_int_equal(pos_sandbox_call(sb, "on_query", NULL, NULL, &st), POS_ERR_NOT_FOUND);
	pos_sandbox_free(sb);
}

static void test_error_objects(void **state)
{
	(void)state;
	struct pos_sandbox *sb = mk();
	struct pos_sandbox_status st;
	const char *src = "function f() error('boom') end function g() error(setmetatable({}, "
			  "{__tostring = function() while true do end end})) end";
	assert_int_equal(pos_sandbox_load(sb, "=t", src, strlen(src), &st), POS_OK);
	assert_int_equal(pos_sandbox_call(sb, "f", NULL, NULL, &st), POS_ERR_INVALID_REQUEST);
	assert_int_equal(st.fail, POS_SANDBOX_RUNTIME);
	assert_non_null(strstr(st.message, "boom"));
	/* A table error object's __tostring is never run by the host. */
	assert_int_equal(pos_sandbox_call(sb, "g", NULL, NULL, &st), POS_ERR_INVALID_REQUEST);
	assert_int_equal(st.fail, POS_SANDBOX_RUNTIME);
	/* A syntax error says so. */
	assert_int_equal(pos_sandbox_load(sb, "=t", "function (", 10, &st), POS_ERR_INVALID_REQUEST);
	assert_int_equal(st.fail, POS_SANDBOX_SYNTAX);
	pos_sandbox_free(sb);
}

static void test_state_kept_between_calls(void **state)
{
	(void)state;
	struct pos_sandbox *sb = mk();
	json_t *r = NULL;
	assert_int_equal(run(sb, "n = 0 function f() n = n + 1 return n end", &r), POS_SANDBOX_OK);
	json_decref(r);
	struct pos_sandbox_status st;
	assert_int_equal(pos_sandbox_call(sb, "f", NULL, &r, &st), POS_OK);
	assert_int_equal(json_integer_value(r), 2);
	json_decref(r);
	/* The budget is per call: many small calls are fine. */
	for (int i = 0; i < 50; i++) {
		const char *src = "function f() local s = 0 for i = 1, 100000 do s = s + i end return s end";
		assert_int_equal(run(sb, src, NULL), POS_SANDBOX_OK);
	}
	pos_sandbox_free(sb);
}

/* ---- reuse: reset and the pool (plugins/sbpool.c) ---- */

static struct pos_sandbox *loaded(const char *src)
{
	struct pos_sandbox *sb = NULL;
	assert_int_equal(pos_sandbox_new(NULL, &sb), POS_OK);
	assert_int_equal(pos_sandbox_load(sb, "=t", src, strlen(src), NULL), POS_OK);
	assert_int_equal(pos_sandbox_mark(sb), POS_OK);
	return sb;
}

static void test_reset_restores_globals(void **state)
{
	(void)state;
	struct pos_sandbox *sb = loaded("keep = 1\n"
					"function f() local was = {x = x, keep = keep, tostring = type(tostring)}\n"
					"  x = 5; keep = 2; tostring = nil; setmetatable(_G, {__index = function() return 7 end})\n"
					"  return was end");
	json_t *r = NULL;
	assert_int_equal(pos_sandbox_call(sb, "f", NULL, &r, NULL), POS_OK);
	json_decref(r);
	assert_int_equal(pos_sandbox_reset(sb), POS_OK);
	assert_int_equal(pos_sandbox_call(sb, "f", NULL, &r, NULL), POS_OK);
	/* x added, keep changed, tostring removed, a metatable set: all undone */
	assert_null(json_object_get(r, "x"));
	assert_int_equal(json_integer_value(json_object_get(r, "keep")), 1);
	assert_string_equal(json_string_value(json_object_get(r, "tostring")), "function");
	json_decref(r);
	pos_sandbox_free(sb);
	/* reset before mark is refused */
	assert_int_equal(pos_sandbox_new(NULL, &sb), POS_OK);
	assert_int_not_equal(pos_sandbox_reset(sb), POS_OK);
	pos_sandbox_free(sb);
}

static int freed;

static void count_free(struct pos_sandbox *sb, void *aux)
{
	(void)aux;
	freed++;
	pos_sandbox_free(sb);
}

static void test_pool_bounds_and_keys(void **state)
{
	(void)state;
	freed = 0;
	struct pos_sbpool *pool = NULL;
	assert_int_equal(pos_sbpool_new(2, 0, count_free, &pool), POS_OK);
	void *aux;
	uint64_t t;
	/* Keyed by plugin, user and stamp: nothing else matches. */
	uint64_t t1 = pos_sbpool_ticket(pool);
	struct pos_sandbox *a = loaded("x = 1");
	pos_sbpool_put(pool, "p", "alice", 7, t1, a, NULL);
	assert_null(pos_sbpool_take(pool, "p", "bob", 7, &aux, &t));
	assert_null(pos_sbpool_take(pool, "q", "alice", 7, &aux, &t));
	assert_null(pos_sbpool_take(pool, "p", "alice", 8, &aux, &t));
	assert_ptr_equal(pos_sbpool_take(pool, "p", "alice", 7, &aux, &t), a);
	/* Count bound: the least recently returned goes first. */
	pos_sbpool_put(pool, "p", "alice", 7, t, a, NULL);
	pos_sbpool_put(pool, "p", "bob", 7, pos_sbpool_ticket(pool), loaded("x = 2"), NULL);
	pos_sbpool_put(pool, "p", "carol", 7, pos_sbpool_ticket(pool), loaded("x = 3"), NULL);
	assert_int_equal(freed, 1);
	assert_null(pos_sbpool_take(pool, "p", "alice", 7, &aux, &t));
	size_t n, bytes;
	pos_sbpool_stats(pool, &n, &bytes);
	assert_int_equal(n, 2);
	assert_true(bytes > 0);
	/* A drop since the ticket: the state comes back to be freed. */
	uint64_t old = pos_sbpool_ticket(pool);
	pos_sbpool_drop(pool, "p", "bob");
	assert_int_equal(freed, 2);
	pos_sbpool_put(pool, "p", "bob", 7, old, loaded("x = 4"), NULL);
	assert_int_equal(freed, 3);
	pos_sbpool_free(pool);
	assert_int_equal(freed, 4); /* carol's */
	/* Memory bound: a state over a quarter of the pool's bytes is not kept. */
	freed = 0;
	assert_int_equal(pos_sbpool_new(8, 4096, count_free, &pool), POS_OK);
	pos_sbpool_put(pool, "p", "alice", 7, pos_sbpool_ticket(pool), loaded("x = 1"), NULL);
	assert_int_equal(freed, 1);
	pos_sbpool_free(pool);
	/* Pooling off: every put frees. */
	freed = 0;
	assert_int_equal(pos_sbpool_new(0, 0, count_free, &pool), POS_OK);
	pos_sbpool_put(pool, "p", "alice", 7, pos_sbpool_ticket(pool), loaded("x = 1"), NULL);
	assert_int_equal(freed, 1);
	pos_sbpool_free(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_round_trip),
		cmocka_unit_test(test_reset_restores_globals),
		cmocka_unit_test(test_pool_bounds_and_keys),
		cmocka_unit_test(test_globals_removed),
		cmocka_unit_test(test_escape_calls_fail),
		cmocka_unit_test(test_binary_chunks_refused),
		cmocka_unit_test(test_infinite_loop),
		cmocka_unit_test(test_pcall_cannot_swallow),
		cmocka_unit_test(test_coroutine_tricks),
		cmocka_unit_test(test_call_with),
		cmocka_unit_test(test_memory_bombs),
		cmocka_unit_test(test_deep_recursion),
		cmocka_unit_test(test_pattern_bombs),
		cmocka_unit_test(test_metatable_tricks),
		cmocka_unit_test(test_error_objects),
		cmocka_unit_test(test_state_kept_between_calls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
