/*
 * sandbox.c — one capped, hooked Lua 5.4 state per (plugin, user); see
 * sandbox.h for the containment rules and where they come from.
 */
#include "plugins/sandbox.h"

#include <lauxlib.h>
#include <lualib.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/clock.h"

#define HOOK_EVERY 1000 /* instructions between budget checks */

/* Small blocks (strings, tables, closures: most of what a call allocates)
 * are kept on per-size free lists of the state instead of going back to
 * malloc: a hook call makes and drops a few dozen, and glibc's malloc and
 * free were a tenth of its cost. Sizes are rounded up to SMALL_STEP; at
 * most SMALL_KEEP bytes are kept (the rest is freed), and they are counted
 * in pos_sandbox_mem_used but not against the cap, which stays on the bytes
 * Lua holds. */
#define SMALL_STEP 16
#define SMALL_MAX 256
#define SMALL_CLASSES (SMALL_MAX / SMALL_STEP)
#define SMALL_KEEP (256u << 10)

struct pos_sandbox {
	lua_State *L;
	size_t mem_used, mem_max;
	bool mem_hit;          /* the allocator refused during this call */
	uint64_t instr_max, instr;
	int64_t time_us, deadline; /* deadline on pos_mono_us; 0 outside a call */
	double pattern_cost_max;
	bool tripped;          /* over budget: every hook call fails */
	void *user;
	void (*tick)(void *ctx); /* pos_sandbox_set_tick */
	void *tick_ctx;
	void *small[SMALL_CLASSES]; /* free lists, linked through the first word */
	size_t small_kept;          /* bytes on them */
};

/* ---- allocator --------------------------------------------------------- */

/* Whether a block of n bytes lives on the free lists; the list of such a
 * size and its blocks' size. */
static bool is_small(size_t n) { return n > 0 && n <= SMALL_MAX; }
static size_t small_class(size_t n) { return (n - 1) / SMALL_STEP; }
static size_t small_size(size_t cls) { return (cls + 1) * SMALL_STEP; }

static void *small_take(struct pos_sandbox *sb, size_t n)
{
	size_t c = small_class(n);
	void *p = sb->small[c];
	if (p) {
		memcpy(&sb->small[c], p, sizeof(void *));
		sb->small_kept -= small_size(c);
		return p;
	}
	return pos_malloc(small_size(c));
}

static void small_give(struct pos_sandbox *sb, void *p, size_t n)
{
	size_t c = small_class(n);
	if (sb->small_kept + small_size(c) > SMALL_KEEP) {
		pos_free(p);
		return;
	}
	memcpy(p, &sb->small[c], sizeof(void *));
	sb->small[c] = p;
	sb->small_kept += small_size(c);
}

static void small_free_all(struct pos_sandbox *sb)
{
	for (size_t c = 0; c < SMALL_CLASSES; c++) {
		void *p = sb->small[c];
		while (p) {
			void *next;
			memcpy(&next, p, sizeof(void *));
			pos_free(p);
			p = next;
		}
		sb->small[c] = NULL;
	}
	sb->small_kept = 0;
}

static void *sb_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct pos_sandbox *sb = ud;
	size_t old = ptr ? osize : 0; /* with ptr NULL, osize is a type tag */
	if (nsize == 0) {
		if (ptr && is_small(old))
			small_give(sb, ptr, old);
		else
			pos_free(ptr);
		sb->mem_used -= old;
		return NULL;
	}
	if (nsize > old && (nsize - old > sb->mem_max || sb->mem_used + (nsize - old) > sb->mem_max)) {
		sb->mem_hit = true;
		return NULL;
	}
	void *p;
	if (ptr && is_small(old) && is_small(nsize) && small_class(old) == small_class(nsize)) {
		p = ptr; /* the block already has room */
	} else if (ptr && (is_small(old) || is_small(nsize))) {
		p = is_small(nsize) ? small_take(sb, nsize) : pos_malloc(nsize);
		if (p) {
			memcpy(p, ptr, old < nsize ? old : nsize);
			if (is_small(old))
				small_give(sb, ptr, old);
			else
				pos_free(ptr);
		} else if (nsize < old) {
			/* A shrink does not fail: the bigger block serves (it is
			 * at least as big as the class it will be given back to). */
			p = ptr;
		}
	} else if (ptr) {
		p = pos_realloc(ptr, nsize);
	} else {
		p = is_small(nsize) ? small_take(sb, nsize) : pos_malloc(nsize);
	}
	if (!p) {
		sb->mem_hit = true;
		return NULL;
	}
	sb->mem_used = sb->mem_used - old + nsize;
	return p;
}

/* ---- the budget hook --------------------------------------------------- */

static void sb_hook(lua_State *L, lua_Debug *ar)
{
	(void)ar;
	struct pos_sandbox *sb = pos_sandbox_of(L);
	if (!sb->tripped) {
		sb->instr += HOOK_EVERY;
		if (sb->deadline == 0) /* no call running (cannot happen); be strict */
			sb->tripped = true;
		else if (sb->instr > sb->instr_max || pos_mono_us() > sb->deadline)
			sb->tripped = true;
		else if (sb->tick)
			sb->tick(sb->tick_ctx);
	}
	if (sb->tripped) {
		/* From now on this thread fails on every instruction, so a
		 * pcall that swallowed the error cannot take another step. */
		lua_sethook(L, sb_hook, LUA_MASKCOUNT, 1);
		luaL_error(L, "plugin exceeded its time budget");
	}
}

/* ---- replacements for unsafe library functions ------------------------- */

/* load(chunk [, chunkname [, mode [, env]]]): text chunks (strings) only. */
static int sb_load(lua_State *L)
{
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);
	const char *name = luaL_optstring(L, 2, "=(load)");
	int env = !lua_isnone(L, 4) ? 4 : 0;
	if (luaL_loadbufferx(L, s, len, name, "t") != LUA_OK) {
		luaL_pushfail(L);
		lua_insert(L, -2);
		return 2;
	}
	if (env) {
		lua_pushvalue(L, env);
		if (!lua_setupvalue(L, -2, 1))
			lua_pop(L, 1);
	}
	return 1;
}

/* setmetatable refusing __gc: finalizers run with hooks off. */
static int sb_setmetatable(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	int t = lua_type(L, 2);
	luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
	if (t == LUA_TTABLE) {
		lua_pushliteral(L, "__gc");
		if (lua_rawget(L, 2) != LUA_TNIL)
			return luaL_error(L, "__gc metamethods are not allowed in plugins");
		lua_pop(L, 1);
	}
	if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
		return luaL_error(L, "cannot change a protected metatable");
	lua_settop(L, 2);
	lua_setmetatable(L, 1);
	return 1;
}

static int sb_collectgarbage(lua_State *L)
{
	const char *opt = luaL_optstring(L, 1, "collect");
	if (strcmp(opt, "count") == 0) {
		int kb = lua_gc(L, LUA_GCCOUNT, 0), b = lua_gc(L, LUA_GCCOUNTB, 0);
		lua_pushnumber(L, (lua_Number)kb + ((lua_Number)b / 1024));
		return 1;
	}
	if (strcmp(opt, "collect") == 0) {
		lua_gc(L, LUA_GCCOLLECT, 0);
		lua_pushinteger(L, 0);
		return 1;
	}
	return luaL_error(L, "collectgarbage(\"%s\") is not allowed in plugins", opt);
}

/* The message handler of xpcall runs with hooks off when the error was
 * raised by our hook, so once a call is over budget the plugin's handler
 * is skipped and the error passes through unchanged. */
static int sb_msgh(lua_State *L)
{
	if (pos_sandbox_of(L)->tripped)
		return 1;
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, 1);
	return 1;
}

static int sb_finish(lua_State *L, int status, lua_KContext ctx)
{
	(void)status;
	(void)ctx;
	return lua_gettop(L);
}

/* xpcall(f, msgh, ...) with msgh wrapped by sb_msgh. */
static int sb_xpcall(lua_State *L)
{
	luaL_checkany(L, 2);
	lua_pushvalue(L, 2);
	lua_pushcclosure(L, sb_msgh, 1);
	lua_replace(L, 2);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_callk(L, lua_gettop(L) - 1, LUA_MULTRET, 0, sb_finish);
	return lua_gettop(L);
}

/* string.rep with the total size checked against the memory cap first:
 * string.rep("", 2^53) would otherwise loop 2^53 times in C. */
static int sb_rep(lua_State *L)
{
	struct pos_sandbox *sb = pos_sandbox_of(L);
	size_t l, lsep;
	luaL_checklstring(L, 1, &l);
	lua_Integer n = luaL_checkinteger(L, 2);
	luaL_optlstring(L, 3, "", &lsep);
	if (n <= 0 || l + lsep == 0) {
		lua_pushliteral(L, "");
		return 1;
	}
	if ((double)n * (double)(l + lsep) > (double)sb->mem_max)
		return luaL_error(L, "resulting string too large");
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, 1);
	return 1;
}

/* table.move(a1, f, e, t [, a2]) with e - f bounded: the C loop of the
 * original runs e - f + 1 times whatever the tables hold. */
static int sb_move(lua_State *L)
{
	struct pos_sandbox *sb = pos_sandbox_of(L);
	lua_Integer f = luaL_checkinteger(L, 2), e = luaL_checkinteger(L, 3);
	if (e >= f && ((double)e - (double)f) > (double)sb->mem_max / 16)
		return luaL_error(L, "too many elements to move");
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
	return lua_gettop(L);
}

/* Skips one single-character class at p (p < end); returns its end. */
static const char *class_end(const char *p, const char *end)
{
	if (*p == '%')
		return p + 2 <= end ? p + 2 : end;
	if (*p == '[') {
		p++;
		if (p < end && *p == '^')
			p++;
		do { /* the first ']' is literal */
			if (p >= end)
				return end;
			if (*p == '%' && p + 1 < end)
				p++;
			p++;
		} while (p < end && *p != ']');
		return p < end ? p + 1 : end;
	}
	return p + 1;
}

/* Lua's single-character classes (lstrlib.c match_class semantics). */
static bool class_char(int c, int cl)
{
	bool r;
	switch (cl | 0x20) {
	case 'a': r = isalpha(c); break;
	case 'c': r = iscntrl(c); break;
	case 'd': r = isdigit(c); break;
	case 'g': r = isgraph(c); break;
	case 'l': r = islower(c); break;
	case 'p': r = ispunct(c); break;
	case 's': r = isspace(c); break;
	case 'u': r = isupper(c); break;
	case 'w': r = isalnum(c); break;
	case 'x': r = isxdigit(c); break;
	default: return cl == c;
	}
	if (isupper(cl))
		r = !r;
	return r;
}

/* Whether byte c matches the single-character class [p, ep). */
static bool class_match(int c, const char *p, const char *ep)
{
	if (*p == '.')
		return true;
	if (*p == '%')
		return p + 1 < ep && class_char(c, (unsigned char)p[1]);
	if (*p != '[')
		return (unsigned char)*p == c;
	const char *q = p + 1, *last = ep - 1; /* *last is ']' when well formed */
	bool neg = false;
	if (q < last && *q == '^') {
		neg = true;
		q++;
	}
	bool hit = false;
	for (; q < last; q++) {
		if (*q == '%' && q + 1 < last) {
			q++;
			hit = hit || class_char(c, (unsigned char)*q);
		} else if (q + 2 < last && q[1] == '-') {
			hit = hit || ((unsigned char)q[0] <= c && c <= (unsigned char)q[2]);
			q += 2;
		} else {
			hit = hit || (unsigned char)*q == c;
		}
	}
	return neg ? !hit : hit;
}

/* The longest run of subject bytes the class [p, ep) matches. */
static size_t longest_run(const char *p, const char *ep, const char *subj, size_t n)
{
	if (*p == '.')
		return n;
	size_t best = 0, run = 0;
	for (size_t i = 0; i < n; i++) {
		run = class_match((unsigned char)subj[i], p, ep) ? run + 1 : 0;
		if (run > best)
			best = run;
	}
	return best;
}

/* The cost of pos_sandbox_pattern_cost; with subj NULL an upper bound of
 * it that reads no subject byte (each class's longest run taken as n). */
static double pattern_cost(const char *pat, size_t patlen, const char *subj, size_t n)
{
	const char *p = pat, *end = pat + patlen;
	double factor = 1;
	if (p < end && *p == '^')
		p++;
	while (p < end) {
		char c = *p;
		if (c == '(' || c == ')') {
			p++;
			continue;
		}
		if (c == '$' && p + 1 == end)
			break;
		if (c == '%' && p + 1 < end) {
			char d = p[1];
			if (d == 'b') { /* %bxy scans to the balance */
				factor *= (double)n + 1;
				p = p + 4 <= end ? p + 4 : end;
				continue;
			}
			if (d == 'f') { /* frontier: O(1) per position */
				p += 2;
				if (p < end)
					p = class_end(p, end);
				continue;
			}
			if (d >= '0' && d <= '9') { /* back-reference */
				factor *= (double)n + 1;
				p += 2;
				continue;
			}
		}
		const char *cls = p;
		p = class_end(p, end);
		if (p < end && (*p == '*' || *p == '+' || *p == '-')) {
			const char *cls_end = p;
			p++;
			/* A quantifier followed only by ')' never backtracks over
			 * the subject. Otherwise each try of the rest of the
			 * pattern repeats once per length of the run it covers. */
			const char *q = p;
			while (q < end && *q == ')')
				q++;
			if (q < end)
				factor *= (double)(subj ? longest_run(cls, cls_end, subj, n) : n) + 1;
		} else if (p < end && *p == '?') {
			p++;
			factor *= 2;
		}
	}
	return (double)(patlen + 1) * ((double)n + 1) * factor;
}

double pos_sandbox_pattern_cost(const char *pat, size_t patlen, const char *subj, size_t n)
{
	return pattern_cost(pat, patlen, subj ? subj : "", subj ? n : 0);
}

#define PAT_PLAIN 1  /* the 4th argument may ask for a plain search (find) */
#define PAT_ANCHOR 2 /* a leading '^' anchors the match (not gmatch) */

/* string.find/match/gmatch/gsub with the pattern's worst case bounded. */
static int sb_pattern(lua_State *L)
{
	struct pos_sandbox *sb = pos_sandbox_of(L);
	size_t n, pl;
	const char *subj = luaL_checklstring(L, 1, &n);
	const char *pat = luaL_checklstring(L, 2, &pl);
	lua_Integer flags = lua_tointeger(L, lua_upvalueindex(2));
	bool plain = (flags & PAT_PLAIN) && lua_toboolean(L, 4);
	/* find, match and gsub try an anchored pattern at one position only
	 * (gmatch treats '^' as a literal) */
	double per = (flags & PAT_ANCHOR) && pl > 0 && pat[0] == '^' ? (double)n + 1 : 1;
	/* First the bound that reads no subject byte; only a pattern over it
	 * pays the scan of the subject (the same verdict either way: the
	 * bound is never below the cost). */
	double cost = plain ? 0 : pattern_cost(pat, pl, NULL, n) / per;
	if (cost > sb->pattern_cost_max)
		cost = pattern_cost(pat, pl, subj, n) / per;
	if (cost > sb->pattern_cost_max)
		return luaL_error(L, "pattern too complex for a subject of %d bytes; "
				  "split the text or simplify the pattern", (int)(n > 0x7fffffff ? 0x7fffffff : n));
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
	return lua_gettop(L);
}

/* Replaces t[name] (t at -1) by cf closed over the original (and, when
 * `extra`, the integer `flags`). */
static void wrap(lua_State *L, const char *name, lua_CFunction cf, int extra, int flags)
{
	lua_getfield(L, -1, name);
	if (extra)
		lua_pushinteger(L, flags);
	lua_pushcclosure(L, cf, 1 + extra);
	lua_setfield(L, -2, name);
}

static void drop(lua_State *L, const char *name)
{
	lua_pushnil(L);
	lua_setfield(L, -2, name);
}

/* Builds the globals (runs protected: any allocation may fail). */
static int sb_open(lua_State *L)
{
	static const luaL_Reg libs[] = {
		{LUA_GNAME, luaopen_base},         {LUA_STRLIBNAME, luaopen_string},
		{LUA_TABLIBNAME, luaopen_table},   {LUA_MATHLIBNAME, luaopen_math},
		{LUA_UTF8LIBNAME, luaopen_utf8},   {LUA_COLIBNAME, luaopen_coroutine},
		{LUA_OSLIBNAME, luaopen_os},
	};
	for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++) {
		luaL_requiref(L, libs[i].name, libs[i].func, 1);
		lua_pop(L, 1);
	}
	/* os: a new table with only the library's time, date and clock. */
	lua_getglobal(L, LUA_OSLIBNAME);
	lua_getfield(L, -1, "time");
	lua_getfield(L, -2, "date");
	lua_getfield(L, -3, "clock");
	lua_createtable(L, 0, 3);
	lua_insert(L, -4);
	lua_setfield(L, -4, "clock");
	lua_setfield(L, -3, "date");
	lua_setfield(L, -2, "time");
	lua_setglobal(L, LUA_OSLIBNAME);
	lua_pop(L, 1);

	lua_pushglobaltable(L);
	drop(L, "dofile");
	drop(L, "loadfile");
	drop(L, "print");
	drop(L, "require");
	drop(L, "package");
	drop(L, "debug");
	drop(L, "io");
	lua_pushcfunction(L, sb_load);
	lua_setfield(L, -2, "load");
	lua_pushcfunction(L, sb_setmetatable);
	lua_setfield(L, -2, "setmetatable");
	lua_pushcfunction(L, sb_collectgarbage);
	lua_setfield(L, -2, "collectgarbage");
	wrap(L, "xpcall", sb_xpcall, 0, 0);
	lua_pop(L, 1);

	lua_getglobal(L, LUA_STRLIBNAME);
	drop(L, "dump");
	wrap(L, "rep", sb_rep, 0, 0);
	wrap(L, "find", sb_pattern, 1, PAT_PLAIN | PAT_ANCHOR);
	wrap(L, "match", sb_pattern, 1, PAT_ANCHOR);
	wrap(L, "gmatch", sb_pattern, 1, 0);
	wrap(L, "gsub", sb_pattern, 1, PAT_ANCHOR);
	lua_pop(L, 1);

	lua_getglobal(L, LUA_TABLIBNAME);
	wrap(L, "move", sb_move, 0, 0);
	lua_pop(L, 1);

	/* The shared string metatable: visible but not replaceable. */
	lua_pushliteral(L, "");
	if (lua_getmetatable(L, -1)) {
		lua_pushliteral(L, "string");
		lua_setfield(L, -2, "__metatable");
		lua_pop(L, 1);
	}
	lua_pop(L, 1);

	/* Nothing may reach the loaded-libraries table by name. */
	lua_pushnil(L);
	lua_setfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	return 0;
}

enum pos_err pos_sandbox_new(const struct pos_sandbox_limits *lim, struct pos_sandbox **out)
{
	*out = NULL;
	struct pos_sandbox *sb = pos_calloc(1, sizeof(*sb));
	if (!sb)
		return POS_ERR_NOMEM;
	sb->mem_max = lim && lim->mem_max ? lim->mem_max : POS_SANDBOX_MEM_DEFAULT;
	sb->instr_max = lim && lim->instr_max ? lim->instr_max : POS_SANDBOX_INSTR_DEFAULT;
	sb->time_us = lim && lim->time_us ? lim->time_us : POS_SANDBOX_TIME_DEFAULT_US;
	sb->pattern_cost_max = lim && lim->pattern_cost_max > 0 ? lim->pattern_cost_max
								 : POS_SANDBOX_PATTERN_COST_DEFAULT;
	sb->L = lua_newstate(sb_alloc, sb);
	if (!sb->L) {
		small_free_all(sb);
		pos_free(sb);
		return POS_ERR_NOMEM;
	}
	*(struct pos_sandbox **)lua_getextraspace(sb->L) = sb;
	lua_pushcfunction(sb->L, sb_open);
	if (lua_pcall(sb->L, 0, 0, 0) != LUA_OK) {
		pos_sandbox_free(sb);
		return POS_ERR_NOMEM;
	}
	lua_sethook(sb->L, sb_hook, LUA_MASKCOUNT, HOOK_EVERY);
	*out = sb;
	return POS_OK;
}

void pos_sandbox_free(struct pos_sandbox *sb)
{
	if (!sb)
		return;
	if (sb->L)
		lua_close(sb->L);
	small_free_all(sb);
	pos_free(sb);
}

lua_State *pos_sandbox_lua(struct pos_sandbox *sb) { return sb->L; }
struct pos_sandbox *pos_sandbox_of(lua_State *L) { return *(struct pos_sandbox **)lua_getextraspace(L); }
void pos_sandbox_set_user(struct pos_sandbox *sb, void *user) { sb->user = user; }
void *pos_sandbox_user(const struct pos_sandbox *sb) { return sb->user; }
int64_t pos_sandbox_deadline_us(const struct pos_sandbox *sb) { return sb->deadline; }
size_t pos_sandbox_mem_used(const struct pos_sandbox *sb) { return sb->mem_used + sb->small_kept; }

/* ---- JSON <-> Lua ------------------------------------------------------ */

static void push_json(lua_State *L, json_t *v, int depth)
{
	if (depth > POS_SANDBOX_JSON_DEPTH_MAX)
		luaL_error(L, "value nested too deeply");
	luaL_checkstack(L, 4, "value nested too deeply");
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *k;
		json_t *x;
		lua_createtable(L, 0, (int)json_object_size(v));
		json_object_foreach(v, k, x) {
			push_json(L, x, depth + 1);
			lua_setfield(L, -2, k);
		}
		break;
	}
	case JSON_ARRAY: {
		size_t i;
		json_t *x;
		lua_createtable(L, (int)json_array_size(v), 0);
		json_array_foreach(v, i, x) {
			push_json(L, x, depth + 1);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		break;
	}
	case JSON_STRING:
		lua_pushlstring(L, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		lua_pushinteger(L, (lua_Integer)json_integer_value(v));
		break;
	case JSON_REAL:
		lua_pushnumber(L, json_real_value(v));
		break;
	case JSON_TRUE:
		lua_pushboolean(L, 1);
		break;
	case JSON_FALSE:
		lua_pushboolean(L, 0);
		break;
	default:
		lua_pushnil(L);
	}
}

void pos_sandbox_push_json(lua_State *L, json_t *v)
{
	if (!v)
		lua_pushnil(L);
	else
		push_json(L, v, 0);
}

struct conv {
	size_t nodes;
	const char *why;
};

/* Never raises a Lua error: no metamethods, no number-to-string in place. */
static json_t *to_json(lua_State *L, int idx, int depth, struct conv *c)
{
	if (++c->nodes > POS_SANDBOX_JSON_NODES_MAX) {
		c->why = "value too large";
		return NULL;
	}
	idx = lua_absindex(L, idx);
	switch (lua_type(L, idx)) {
	case LUA_TNIL:
		return json_null();
	case LUA_TBOOLEAN:
		return json_boolean(lua_toboolean(L, idx));
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx))
			return json_integer((json_int_t)lua_tointeger(L, idx));
		{
			double d = lua_tonumber(L, idx);
			if (!isfinite(d)) {
				c->why = "numbers must be finite";
				return NULL;
			}
			return json_real(d);
		}
	case LUA_TSTRING: {
		size_t len;
		const char *s = lua_tolstring(L, idx, &len);
		json_t *j = json_stringn(s, len);
		if (!j)
			c->why = "strings must be UTF-8";
		return j;
	}
	case LUA_TTABLE:
		break;
	default:
		c->why = "functions, threads and userdata cannot leave the plugin";
		return NULL;
	}
	if (depth >= POS_SANDBOX_JSON_DEPTH_MAX) {
		c->why = "value nested too deeply (or a cycle)";
		return NULL;
	}
	if (!lua_checkstack(L, 3)) {
		c->why = "out of stack";
		return NULL;
	}
	size_t len = (size_t)lua_rawlen(L, idx), count = 0;
	bool array = true;
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		count++;
		if (!lua_isinteger(L, -2) || lua_tointeger(L, -2) < 1 ||
		    (size_t)lua_tointeger(L, -2) > len)
			array = false;
		lua_pop(L, 1);
	}
	if (count == 0)
		return json_object();
	if (array && count == len) {
		json_t *a = json_array();
		for (size_t i = 1; a && i <= len; i++) {
			lua_rawgeti(L, idx, (lua_Integer)i);
			json_t *x = to_json(L, -1, depth + 1, c);
			lua_pop(L, 1);
			if (!x || json_array_append_new(a, x)) {
				json_decref(a);
				return NULL;
			}
		}
		return a;
	}
	json_t *o = json_object();
	lua_pushnil(L);
	while (o && lua_next(L, idx)) {
		if (lua_type(L, -2) != LUA_TSTRING) {
			c->why = "object keys must be strings";
			lua_pop(L, 2);
			json_decref(o);
			return NULL;
		}
		size_t kl;
		const char *k = lua_tolstring(L, -2, &kl);
		json_t *x = to_json(L, -1, depth + 1, c);
		lua_pop(L, 1);
		if (!x || json_object_setn_new(o, k, kl, x)) {
			if (x == NULL && !c->why)
				c->why = "bad key";
			lua_pop(L, 1);
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

json_t *pos_sandbox_to_json(lua_State *L, int idx, const char **why)
{
	struct conv c = {0, NULL};
	json_t *j = to_json(L, idx, 0, &c);
	if (!j && why)
		*why = c.why ? c.why : "out of memory";
	return j;
}

/* ---- entry points ------------------------------------------------------ */

struct call_ctx {
	const char *fn;
	json_t *arg;
	pos_sandbox_push_fn push; /* instead of arg when set */
	void *push_ctx;
	json_t *result; /* owned by the caller's frame */
	const char *why;
	bool missing;
};

static int call_tramp(lua_State *L)
{
	struct call_ctx *cc = lua_touserdata(L, 1);
	lua_settop(L, 0);
	lua_pushglobaltable(L);
	lua_pushstring(L, cc->fn);
	if (lua_rawget(L, -2) != LUA_TFUNCTION) {
		cc->missing = true;
		return 0;
	}
	int nargs = 0;
	if (cc->push) {
		luaL_checkstack(L, 8, "out of stack");
		cc->push(L, cc->push_ctx);
		nargs = 1;
	} else if (cc->arg) {
		pos_sandbox_push_json(L, cc->arg);
		nargs = 1;
	}
	lua_call(L, nargs, 1);
	cc->result = pos_sandbox_to_json(L, -1, &cc->why);
	return 0;
}

struct load_ctx {
	const char *name, *src;
	size_t len;
	bool syntax;
};

static int load_tramp(lua_State *L)
{
	struct load_ctx *lc = lua_touserdata(L, 1);
	if (luaL_loadbufferx(L, lc->src, lc->len, lc->name, "t") != LUA_OK) {
		lc->syntax = true;
		return lua_error(L);
	}
	lua_call(L, 0, 0);
	return 0;
}

static void set_status(struct pos_sandbox_status *st, enum pos_sandbox_fail f, const char *msg)
{
	if (!st)
		return;
	st->fail = f;
	snprintf(st->message, sizeof(st->message), "%s", msg ? msg : "");
}

/* Runs tramp(ud) under a fresh budget; fills st from the outcome. */
static int run_protected(struct pos_sandbox *sb, lua_CFunction tramp, void *ud,
			 struct pos_sandbox_status *st, bool syntax)
{
	lua_State *L = sb->L;
	sb->instr = 0;
	sb->tripped = false;
	sb->mem_hit = false;
	sb->deadline = pos_mono_us() + sb->time_us;
	lua_sethook(L, sb_hook, LUA_MASKCOUNT, HOOK_EVERY);
	lua_settop(L, 0);
	lua_pushcfunction(L, tramp);
	lua_pushlightuserdata(L, ud);
	int rc = lua_pcall(L, 1, 0, 0);
	bool tripped = sb->tripped;
	/* Over budget in a coroutine whose error the caller swallowed: the
	 * call still failed. */
	if (tripped && rc == LUA_OK) {
		rc = LUA_ERRRUN;
		lua_pushliteral(L, "plugin exceeded its time budget");
	}
	sb->deadline = 0;
	sb->tripped = false;
	lua_sethook(L, sb_hook, LUA_MASKCOUNT, HOOK_EVERY);
	if (rc != LUA_OK) {
		const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1)
								: "error object is not a string";
		if (tripped)
			set_status(st, POS_SANDBOX_BUDGET, "plugin exceeded its time budget");
		else if (rc == LUA_ERRMEM || sb->mem_hit)
			set_status(st, POS_SANDBOX_MEMORY, "plugin exceeded its memory limit");
		else
			set_status(st, syntax ? POS_SANDBOX_SYNTAX : POS_SANDBOX_RUNTIME, msg);
	}
	lua_settop(L, 0);
	/* Give back what a failed call left behind before the next one. */
	if (rc != LUA_OK)
		lua_gc(L, LUA_GCCOLLECT, 0);
	return rc;
}

enum pos_err pos_sandbox_load(struct pos_sandbox *sb, const char *name, const char *src,
			      size_t len, struct pos_sandbox_status *st)
{
	set_status(st, POS_SANDBOX_OK, NULL);
	struct load_ctx lc = {name, src, len, false};
	if (len > 0 && src[0] == LUA_SIGNATURE[0]) {
		set_status(st, POS_SANDBOX_SYNTAX, "binary chunks are not allowed");
		return POS_ERR_INVALID_REQUEST;
	}
	int rc = run_protected(sb, load_tramp, &lc, st, false);
	if (rc != LUA_OK && lc.syntax && st && st->fail == POS_SANDBOX_RUNTIME)
		st->fail = POS_SANDBOX_SYNTAX;
	return rc == LUA_OK ? POS_OK : POS_ERR_INVALID_REQUEST;
}

static enum pos_err call(struct pos_sandbox *sb, const char *fn, json_t *arg,
			 pos_sandbox_push_fn push, void *push_ctx, json_t **result,
			 struct pos_sandbox_status *st)
{
	if (result)
		*result = NULL;
	set_status(st, POS_SANDBOX_OK, NULL);
	struct call_ctx cc = {fn, arg, push, push_ctx, NULL, NULL, false};
	int rc = run_protected(sb, call_tramp, &cc, st, false);
	if (rc != LUA_OK) {
		json_decref(cc.result);
		return POS_ERR_INVALID_REQUEST;
	}
	if (cc.missing) {
		set_status(st, POS_SANDBOX_MISSING, "no such function");
		return POS_ERR_NOT_FOUND;
	}
	if (!cc.result) {
		set_status(st, POS_SANDBOX_RESULT, cc.why);
		return POS_ERR_INVALID_REQUEST;
	}
	if (result)
		*result = cc.result;
	else
		json_decref(cc.result);
	return POS_OK;
}

enum pos_err pos_sandbox_call(struct pos_sandbox *sb, const char *fn, json_t *arg,
			      json_t **result, struct pos_sandbox_status *st)
{
	return call(sb, fn, arg, NULL, NULL, result, st);
}

enum pos_err pos_sandbox_call_with(struct pos_sandbox *sb, const char *fn, pos_sandbox_push_fn push,
				   void *ctx, json_t **result, struct pos_sandbox_status *st)
{
	return call(sb, fn, NULL, push, ctx, result, st);
}

static int has_tramp(lua_State *L)
{
	const char *fn = lua_touserdata(L, 1);
	lua_pushglobaltable(L);
	lua_pushstring(L, fn);
	lua_pushboolean(L, lua_rawget(L, -2) == LUA_TFUNCTION); /* raw: no plugin __index */
	return 1;
}

bool pos_sandbox_has(struct pos_sandbox *sb, const char *fn)
{
	lua_State *L = sb->L;
	lua_settop(L, 0);
	lua_pushcfunction(L, has_tramp);
	lua_pushlightuserdata(L, (void *)fn);
	bool f = lua_pcall(L, 1, 1, 0) == LUA_OK && lua_toboolean(L, -1);
	lua_settop(L, 0);
	return f;
}

/* ---- reuse (plugins/sbpool.c) ------------------------------------------ */

/* The registry key of the snapshot of the globals taken by pos_sandbox_mark. */
static const char SNAP_KEY = 's';

static int mark_tramp(lua_State *L)
{
	lua_settop(L, 0);
	lua_newtable(L); /* {[1] = copy of _G, [2] = _G's metatable or false} */
	lua_newtable(L);
	lua_pushglobaltable(L);
	lua_pushnil(L);
	while (lua_next(L, -2)) { /* copy: key value */
		lua_pushvalue(L, -2);
		lua_insert(L, -2);
		lua_rawset(L, -5);
	}
	if (!lua_getmetatable(L, -1))
		lua_pushboolean(L, 0);
	lua_rawseti(L, 1, 2);
	lua_pop(L, 1);
	lua_rawseti(L, 1, 1);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &SNAP_KEY);
	return 0;
}

static int reset_tramp(lua_State *L)
{
	lua_settop(L, 0);
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &SNAP_KEY) != LUA_TTABLE)
		return luaL_error(L, "no snapshot");
	lua_rawgeti(L, 1, 1); /* 2: the copy */
	lua_pushglobaltable(L); /* 3: _G */
	/* Pass 1: every key of _G whose value is not the marked one gets the
	 * marked value (nil for a key added since): only existing fields are
	 * assigned, which lua_next allows. */
	lua_pushnil(L);
	while (lua_next(L, 3)) {
		lua_pushvalue(L, -2);
		lua_rawget(L, 2);
		if (!lua_rawequal(L, -1, -2)) {
			lua_pushvalue(L, -3);
			lua_insert(L, -2);
			lua_rawset(L, 3);
		} else {
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	}
	/* Pass 2: marked keys a call removed come back. */
	lua_pushnil(L);
	while (lua_next(L, 2)) {
		lua_pushvalue(L, -2);
		lua_rawget(L, 3);
		if (lua_isnil(L, -1)) {
			lua_pop(L, 1);
			lua_pushvalue(L, -2);
			lua_insert(L, -2);
			lua_rawset(L, 3);
		} else {
			lua_pop(L, 2);
		}
	}
	lua_rawgeti(L, 1, 2);
	if (lua_toboolean(L, -1))
		lua_setmetatable(L, 3);
	else {
		lua_pop(L, 1);
		lua_pushnil(L);
		lua_setmetatable(L, 3);
	}
	return 0;
}

/* Runs one of ours with the hook off: bounded by the state's size. */
static enum pos_err run_ours(struct pos_sandbox *sb, lua_CFunction f)
{
	lua_State *L = sb->L;
	lua_sethook(L, NULL, 0, 0);
	lua_settop(L, 0);
	lua_pushcfunction(L, f);
	sb->mem_hit = false;
	int rc = lua_pcall(L, 0, 0, 0);
	lua_settop(L, 0);
	lua_sethook(L, sb_hook, LUA_MASKCOUNT, HOOK_EVERY);
	if (rc == LUA_OK && !sb->mem_hit)
		return POS_OK;
	return rc == LUA_ERRMEM || sb->mem_hit ? POS_ERR_NOMEM : POS_ERR_INTERNAL;
}

void pos_sandbox_set_tick(struct pos_sandbox *sb, void (*fn)(void *ctx), void *ctx)
{
	sb->tick = fn;
	sb->tick_ctx = ctx;
}

enum pos_err pos_sandbox_mark(struct pos_sandbox *sb)
{
	return run_ours(sb, mark_tramp);
}

enum pos_err pos_sandbox_reset(struct pos_sandbox *sb)
{
	return run_ours(sb, reset_tramp);
}
