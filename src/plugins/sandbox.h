/*
 * sandbox.h — the Lua 5.4 runtime a plugin runs in (issue 15).
 *
 * A plugin is a stranger's code. Each (plugin, user) pair gets its own
 * sandbox: one lua_State created with a counting allocator that refuses to
 * grow past `mem_max`, with only the safe libraries (base without dofile,
 * loadfile, print, binary `load`; string without dump; table, math, utf8,
 * coroutine; an `os` of time/date/clock only; no io, package, require,
 * debug), an instruction-count hook that enforces a per-call instruction
 * budget and a wall-clock deadline, and guards on the C functions the hook
 * cannot interrupt (string patterns, string.rep, table.move).
 *
 * The ideas come from Redis (script_lua.c: a deny-list of globals and a
 * hook that keeps failing once the script is over time), Suricata
 * (util-lua-sandbox.c: a capped lua_Alloc, an allow-list of library
 * functions, a count hook) and HAProxy (hlua.c: per-state memory limits);
 * none of their code is used.
 *
 * Containment rules this module guarantees:
 *   - once a call is over its budget or deadline, the hook raises an error
 *     on every following instruction (count 1), so `pcall`, `xpcall` and
 *     `coroutine.resume` cannot swallow it: the error reaches our frame
 *     within a handful of instructions per level of nesting;
 *   - finalizers run with hooks off in Lua 5.4, so setmetatable refuses a
 *     metatable with a `__gc` field (collectgarbage only "collect"/"count");
 *   - the string metatable is protected (getmetatable("") gives a string);
 *   - C functions that loop without running Lua are bounded: a pattern's
 *     worst-case cost (see pos_sandbox_pattern_cost) must stay under
 *     `pattern_cost_max` (checked first against a bound that reads no
 *     subject byte, then exactly only when that bound is over); string.rep
 *     and table.move under the memory cap;
 *   - a Lua error never longjmps across a frame of ours that holds a
 *     resource: every entry is a lua_pcall of a C trampoline that holds
 *     only caller-owned memory.
 *
 * Values cross the boundary as JSON (jansson): tables whose keys are
 * 1..n become arrays, other tables objects (string keys only), an empty
 * table `{}` an object; depth and element counts are capped.
 *
 * Thread-safety: a sandbox belongs to one thread at a time (the caller
 * serialises calls); different sandboxes are independent.
 */
#ifndef POS_PLUGINS_SANDBOX_H
#define POS_PLUGINS_SANDBOX_H

#include <jansson.h>
#include <lua.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define POS_SANDBOX_MEM_DEFAULT (16u << 20)
#define POS_SANDBOX_INSTR_DEFAULT 20000000u   /* per call */
#define POS_SANDBOX_TIME_DEFAULT_US 2000000   /* per call */
#define POS_SANDBOX_PATTERN_COST_DEFAULT 2.5e8 /* ~ character steps */
#define POS_SANDBOX_JSON_DEPTH_MAX 32
#define POS_SANDBOX_JSON_NODES_MAX 100000
#define POS_SANDBOX_MESSAGE_MAX 256

struct pos_sandbox;

struct pos_sandbox_limits {
	size_t mem_max;           /* bytes the state may hold; 0: default */
	uint64_t instr_max;       /* instructions per call; 0: default */
	int64_t time_us;          /* wall clock per call; 0: default */
	double pattern_cost_max;  /* 0: default */
};

/* Why a call failed, beyond the pos_err it returned. */
enum pos_sandbox_fail {
	POS_SANDBOX_OK = 0,
	POS_SANDBOX_SYNTAX,     /* the chunk did not compile */
	POS_SANDBOX_RUNTIME,    /* the script raised an error */
	POS_SANDBOX_BUDGET,     /* instruction budget or deadline exceeded */
	POS_SANDBOX_MEMORY,     /* the memory cap was hit */
	POS_SANDBOX_RESULT,     /* the result could not be turned into JSON */
	POS_SANDBOX_MISSING,    /* no such global function (not an error for hooks) */
};

struct pos_sandbox_status {
	enum pos_sandbox_fail fail;
	char message[POS_SANDBOX_MESSAGE_MAX]; /* script-supplied text, for the owner */
};

/* A fresh sandbox with `lim` (NULL: defaults). POS_ERR_NOMEM. The caller
 * frees it with pos_sandbox_free. */
enum pos_err pos_sandbox_new(const struct pos_sandbox_limits *lim, struct pos_sandbox **out);
/* Closes the state; NULL is fine. */
void pos_sandbox_free(struct pos_sandbox *sb);

/* The state, for modules that install host functions (plugins/hostapi.c)
 * before the plugin's code is loaded. Host functions must follow the rule
 * above: hold nothing but Lua values when they may raise an error. */
lua_State *pos_sandbox_lua(struct pos_sandbox *sb);
/* The sandbox a host function runs in (from its lua_State, any thread of it). */
struct pos_sandbox *pos_sandbox_of(lua_State *L);
/* The opaque pointer host functions use to find their context. */
void pos_sandbox_set_user(struct pos_sandbox *sb, void *user);
void *pos_sandbox_user(const struct pos_sandbox *sb);
/* The absolute deadline (pos_mono_us clock) of the running call, 0 outside a
 * call; host functions that block bound their waits by it. */
int64_t pos_sandbox_deadline_us(const struct pos_sandbox *sb);
/* Bytes currently held by the state. */
size_t pos_sandbox_mem_used(const struct pos_sandbox *sb);

/*
 * Compiles `src` (text only; a binary chunk is refused) under `name` and runs
 * it once under the per-call budget, so it can define its functions.
 * POS_OK, or POS_ERR_INVALID_REQUEST with `st` saying why (st may be NULL).
 */
enum pos_err pos_sandbox_load(struct pos_sandbox *sb, const char *name, const char *src,
			      size_t len, struct pos_sandbox_status *st);

/*
 * Calls the global function `fn` with `arg` (borrowed; NULL: no argument)
 * under the per-call budget. `*result` (may be NULL) gets a new reference to
 * its first return value as JSON (JSON null when it returned nothing).
 * POS_ERR_NOT_FOUND when `fn` is not a function (st: MISSING);
 * POS_ERR_INVALID_REQUEST when the script failed (st says why);
 * POS_ERR_NOMEM when the host ran out of memory.
 */
enum pos_err pos_sandbox_call(struct pos_sandbox *sb, const char *fn, json_t *arg,
			      json_t **result, struct pos_sandbox_status *st);

/*
 * pos_sandbox_call with the argument built by `push(L, ctx)`, which must
 * leave exactly one value on the stack: a table made straight from the
 * caller's record, without a JSON value on the way (the hot hooks, e.g.
 * on_memory_creating per memory). It runs inside the protected call under
 * the memory cap; it may raise a Lua error (out of memory) and then must
 * hold nothing it would leak. Same results and errors as pos_sandbox_call.
 */
typedef void (*pos_sandbox_push_fn)(lua_State *L, void *ctx);
enum pos_err pos_sandbox_call_with(struct pos_sandbox *sb, const char *fn, pos_sandbox_push_fn push,
				   void *ctx, json_t **result, struct pos_sandbox_status *st);

/*
 * Reuse of a state between calls (plugins/sbpool.c). pos_sandbox_mark
 * snapshots the global table (its keys, values and metatable) after the
 * plugin's code is loaded; pos_sandbox_reset puts it back as marked:
 * globals a call added are removed, changed or removed ones restored. What
 * marked values hold (a module-level table, upvalues, a library table a
 * call changed in place) is not undone: a reused state must only ever run
 * the same code for the same (plugin, user, grants, settings).
 * POS_ERR_NOMEM (the memory cap; discard the state) or POS_ERR_INTERNAL
 * (reset before mark).
 */
enum pos_err pos_sandbox_mark(struct pos_sandbox *sb);
enum pos_err pos_sandbox_reset(struct pos_sandbox *sb);

/* `fn(ctx)` runs from the budget hook every ~1000 instructions of a call
 * while it is within budget (NULL: none); it must not touch the Lua state
 * or raise. The plugin manager uses it to bound how long a batch's store
 * transaction stays open while a script runs. */
void pos_sandbox_set_tick(struct pos_sandbox *sb, void (*fn)(void *ctx), void *ctx);

/* True when the global `fn` is a function (no code runs). */
bool pos_sandbox_has(struct pos_sandbox *sb, const char *fn);

/*
 * For host functions: push `v` (borrowed) as a Lua value (may raise a Lua
 * memory error), and convert the Lua value at `idx` to a new JSON reference
 * (NULL when it holds a function, userdata, a cycle, non-string keys, or is
 * too deep/large; `why` (may be NULL) then says which).
 */
void pos_sandbox_push_json(lua_State *L, json_t *v);
json_t *pos_sandbox_to_json(lua_State *L, int idx, const char **why);

/*
 * A bound on the steps the Lua matcher may take for `pat` over `subj` (n
 * bytes): (patlen + 1) * (n + 1) start positions, times, for each item that
 * backtracks (a `*`, `+` or `-` quantifier not at the end of the pattern),
 * one plus the longest run of subject bytes its class matches (n for `.`),
 * times n + 1 for `%b` and back-references, times 2 per `?`. Cheap to
 * compute (one pass over the subject per quantified class). Exposed for
 * tests.
 */
double pos_sandbox_pattern_cost(const char *pat, size_t patlen, const char *subj, size_t n);

#endif
