/*
 * Unit tests for src/assistant/memu.c, the MemU Cloud API v3 client,
 * against tests/stubs/memu_stub.py: the test starts the stub itself
 * (python3 from PATH or $POS_PYTHON; run from the repository root, or name
 * the script in $POS_MEMU_STUB), scripts odd answers and failures through
 * /_stub/mode and checks what the stub recorded. No timing assertions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <sys/wait.h>
#include <unistd.h>

#include "assistant/memu.h"
#include "stub_proc.h"
#include "base/arena.h"
#include "embed/openai.h"

#define KEY "test-memu-key"

static struct pos_stub stub = {-1, ""};
#define stub_root (stub.root)

/* ---- the stub process ---- */

static int start_stub(void **state)
{
	/* The stub is on loopback: a proxy from the environment must not
	 * catch these requests. */
	setenv("NO_PROXY", "*", 1);
	setenv("no_proxy", "*", 1);
	if (pos_embed_openai_global_init()) /* the process's curl_global_init */
		return -1;
	static const char *const extra[] = {"--key", KEY, NULL};
	return pos_stub_start(&stub, "POS_MEMU_STUB", "tests/stubs/memu_stub.py", extra);
}

static int stop_stub(void **state)
{
	pos_embed_openai_global_cleanup();
	return pos_stub_stop(&stub);
}

/* A request to the stub's control endpoints; returns the body (free it). */
static char *stub_http(const char *path, const char *post, long *status)
{
	return pos_stub_http(&stub, path, post, status);
}

static void stub_post(const char *path, const char *json)
{
	long status = 0;
	free(stub_http(path, json, &status));
	assert_int_equal(status, 200);
}

static void stub_mode(const char *json) { stub_post("/_stub/mode", json); }

/* The next answer: HTTP `status` with the JSON text `body`. */
static void stub_fixed(int status, const char *body)
{
	json_t *b = json_loads(body, JSON_DECODE_ANY, NULL);
	assert_non_null(b);
	json_t *m = json_pack("{s:s, s:i, s:i, s:o}", "mode", "fixed", "count", 1,
			      "status", status, "body", b);
	char *s = json_dumps(m, JSON_COMPACT);
	stub_mode(s);
	free(s);
	json_decref(m);
}

/* The recorded API requests (json_decref the array). */
static json_t *stub_requests(void)
{
	long status = 0;
	char *s = stub_http("/_stub/requests", NULL, &status);
	assert_int_equal(status, 200);
	json_t *v = json_loads(s, 0, NULL);
	free(s);
	assert_true(json_is_array(v));
	return v;
}

static size_t stub_count(void)
{
	json_t *r = stub_requests();
	size_t n = json_array_size(r);
	json_decref(r);
	return n;
}

/* The latest recorded request (json_decref it). */
static json_t *last_request(void)
{
	json_t *r = stub_requests();
	assert_true(json_array_size(r) > 0);
	json_t *last = json_incref(json_array_get(r, json_array_size(r) - 1));
	json_decref(r);
	return last;
}

static const char *header(json_t *req, const char *name)
{
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(req, "headers"), k, v)
		if (strcasecmp(k, name) == 0)
			return json_string_value(v);
	return NULL;
}

static const char *body_str(json_t *req, const char *key)
{
	return json_string_value(json_object_get(json_object_get(req, "body"), key));
}

/* ---- fixtures ---- */

struct fx {
	struct pos_memu *m;
	struct pos_arena *a;
	struct pos_error err;
};

static int setup(void **state)
{
	stub_post("/_stub/reset", "{}");
	struct fx *f = calloc(1, sizeof(*f));
	struct pos_memu_config c = {.base_url = stub_root, .api_key = KEY};
	if (!f || pos_memu_new(&c, &f->m, &f->err) || !(f->a = pos_arena_new()))
		return -1;
	pos_error_clear(&f->err);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	pos_memu_free(f->m);
	pos_arena_destroy(f->a);
	free(f);
	return 0;
}

static void memorize_text(struct fx *f, const char *user, const char *text)
{
	const char *task = NULL, *status = NULL;
	assert_int_equal(pos_memu_memorize(f->m, f->a, user, "Ann", NULL, 0, text,
					   &task, &status, &f->err), POS_OK);
	assert_non_null(task);
}

static bool message_has(const struct fx *f, const char *what)
{
	if (!strstr(f->err.message, what)) {
		fprintf(stderr, "message \"%s\" lacks \"%s\"\n", f->err.message, what);
		return false;
	}
	return true;
}

/* ---- the happy paths ---- */

static void memorize_sends_the_conversation(void **state)
{
	struct fx *f = *state;
	struct pos_memu_turn t[3] = {
		{"user", "I love hiking in the Alps"},
		{"assistant", "That sounds \"wonderful\"!"},
		{"user", "My sister Mia lives in Zürich"},
	};
	const char *task = NULL, *status = NULL;
	assert_int_equal(pos_memu_memorize(f->m, f->a, "u-1", "Ann Lee", t, 3, "ignored",
					   &task, &status, &f->err), POS_OK);
	assert_string_equal(task, "task_000001");
	assert_string_equal(status, "PENDING");

	json_t *r = last_request();
	assert_string_equal(json_string_value(json_object_get(r, "method")), "POST");
	assert_string_equal(json_string_value(json_object_get(r, "path")),
			    "/api/v3/memory/memorize");
	assert_string_equal(header(r, "Authorization"), "Bearer " KEY);
	assert_string_equal(header(r, "Content-Type"), "application/json");
	assert_string_equal(body_str(r, "user_id"), "u-1");
	assert_string_equal(body_str(r, "user_name"), "Ann Lee");
	assert_string_equal(body_str(r, "agent_id"), POS_MEMU_DEFAULT_AGENT_ID);
	assert_string_equal(body_str(r, "agent_name"), POS_MEMU_DEFAULT_AGENT_NAME);
	assert_null(json_object_get(json_object_get(r, "body"), "conversation_text"));
	json_t *conv = json_object_get(json_object_get(r, "body"), "conversation");
	assert_int_equal(json_array_size(conv), 3);
	for (size_t i = 0; i < 3; i++) {
		json_t *turn = json_array_get(conv, i);
		assert_int_equal(json_object_size(turn), 2);
		assert_string_equal(json_string_value(json_object_get(turn, "role")), t[i].role);
		assert_string_equal(json_string_value(json_object_get(turn, "content")),
				    t[i].content);
	}
	json_decref(r);
}

static void memorize_sends_text_and_config(void **state)
{
	struct fx *f = *state;
	struct pos_memu *m;
	char base[96];
	snprintf(base, sizeof(base), "%s///", stub_root); /* trailing slashes go */
	struct pos_memu_config c = {.base_url = base, .api_key = KEY,
				    .agent_id = "pos-test", .agent_name = "Test Agent",
				    .timeout_ms = 5000};
	assert_int_equal(pos_memu_new(&c, &m, &f->err), POS_OK);
	const char *task = NULL, *status = NULL;
	assert_int_equal(pos_memu_memorize(m, f->a, "u-2", NULL, NULL, 0,
					   "User: I need a new bike\nAssistant: Noted.",
					   &task, &status, &f->err), POS_OK);
	assert_string_equal(status, "PENDING");
	json_t *r = last_request();
	assert_string_equal(json_string_value(json_object_get(r, "path")),
			    "/api/v3/memory/memorize");
	json_t *b = json_object_get(r, "body");
	assert_string_equal(body_str(r, "conversation_text"),
			    "User: I need a new bike\nAssistant: Noted.");
	assert_null(json_object_get(b, "conversation"));
	assert_null(json_object_get(b, "user_name")); /* NULL name: left out */
	assert_string_equal(body_str(r, "agent_id"), "pos-test");
	assert_string_equal(body_str(r, "agent_name"), "Test Agent");
	json_decref(r);
	pos_memu_free(m);
}

static void task_status_goes_pending_then_success(void **state)
{
	struct fx *f = *state;
	const char *task = NULL, *status = NULL;
	assert_int_equal(pos_memu_memorize(f->m, f->a, "u-1", "Ann", NULL, 0, "hello",
					   &task, &status, &f->err), POS_OK);
	assert_int_equal(pos_memu_task_status(f->m, f->a, task, &status, &f->err), POS_OK);
	assert_string_equal(status, "PENDING");
	assert_int_equal(pos_memu_status_kind(status), POS_MEMU_TASK_PENDING);
	json_t *r = last_request();
	char path[128];
	snprintf(path, sizeof(path), "/api/v3/memory/memorize/status/%s", task);
	assert_string_equal(json_string_value(json_object_get(r, "method")), "GET");
	assert_string_equal(json_string_value(json_object_get(r, "path")), path);
	assert_string_equal(header(r, "Authorization"), "Bearer " KEY);
	json_decref(r);
	assert_int_equal(pos_memu_task_status(f->m, f->a, task, &status, &f->err), POS_OK);
	assert_string_equal(status, "SUCCESS");
	assert_int_equal(pos_memu_status_kind(status), POS_MEMU_TASK_DONE);

	/* Unknown task: 404 is NOT_FOUND; the id stays one path segment. */
	assert_int_equal(pos_memu_task_status(f->m, f->a, "../x y/z", &status, &f->err),
			 POS_ERR_NOT_FOUND);
	r = last_request();
	assert_string_equal(json_string_value(json_object_get(r, "path")),
			    "/api/v3/memory/memorize/status/..%2Fx%20y%2Fz");
	json_decref(r);
}

static void status_kinds(void **state)
{
	assert_int_equal(pos_memu_status_kind("SUCCESS"), POS_MEMU_TASK_DONE);
	assert_int_equal(pos_memu_status_kind("completed"), POS_MEMU_TASK_DONE);
	assert_int_equal(pos_memu_status_kind("FAILURE"), POS_MEMU_TASK_FAILED);
	assert_int_equal(pos_memu_status_kind("FAILED"), POS_MEMU_TASK_FAILED);
	assert_int_equal(pos_memu_status_kind("PROCESSING"), POS_MEMU_TASK_PENDING);
	assert_int_equal(pos_memu_status_kind("whatever"), POS_MEMU_TASK_PENDING);
	assert_int_equal(pos_memu_status_kind(NULL), POS_MEMU_TASK_PENDING);
}

static void retrieve_finds_stored_items(void **state)
{
	struct fx *f = *state;
	memorize_text(f, "u-1", "I love hiking in the Alps\nMy dentist is Dr. Weber\n"
				"Hiking boots need new laces");
	memorize_text(f, "u-other", "I love hiking too");
	struct pos_memu_item *it = NULL;
	size_t n = 0;
	assert_int_equal(pos_memu_retrieve(f->m, f->a, "u-1", "hiking in the Alps", 10,
					   &it, &n, &f->err), POS_OK);
	json_t *r = last_request();
	assert_string_equal(json_string_value(json_object_get(r, "path")),
			    "/api/v3/memory/retrieve");
	assert_string_equal(header(r, "Authorization"), "Bearer " KEY);
	assert_string_equal(body_str(r, "user_id"), "u-1");
	assert_string_equal(body_str(r, "agent_id"), POS_MEMU_DEFAULT_AGENT_ID);
	assert_string_equal(body_str(r, "query"), "hiking in the Alps");
	json_decref(r);

	/* Two items and the category that holds them, best first. */
	assert_true(n >= 2);
	assert_string_equal(it[0].text, "I love hiking in the Alps");
	assert_string_equal(it[0].kind, "item");
	assert_non_null(it[0].id);
	assert_string_equal(it[0].category, "preferences");
	assert_true(it[0].score > 0.9);
	bool laces = false;
	for (size_t i = 0; i < n; i++) {
		assert_non_null(it[i].text);
		assert_null(strstr(it[i].text, "dentist"));
		assert_null(strstr(it[i].text, "hiking too")); /* another user's */
		if (i)
			assert_true(it[i - 1].score >= it[i].score);
		laces |= strcmp(it[i].text, "Hiking boots need new laces") == 0;
	}
	assert_true(laces);

	/* max cuts the list; max 0 sends nothing. */
	size_t before = stub_count();
	assert_int_equal(pos_memu_retrieve(f->m, f->a, "u-1", "hiking", 1, &it, &n,
					   &f->err), POS_OK);
	assert_int_equal(n, 1);
	assert_int_equal(pos_memu_retrieve(f->m, f->a, "u-1", "hiking", 0, &it, &n,
					   &f->err), POS_OK);
	assert_int_equal(n, 0);
	assert_null(it);
	assert_int_equal(stub_count(), before + 1);
}

static void categories_lists_names(void **state)
{
	struct fx *f = *state;
	memorize_text(f, "u-1", "I love tea\nThe project meeting is on Monday");
	const char **names = NULL;
	size_t n = 0;
	assert_int_equal(pos_memu_categories(f->m, f->a, "u-1", &names, &n, &f->err), POS_OK);
	json_t *r = last_request();
	assert_string_equal(json_string_value(json_object_get(r, "path")),
			    "/api/v3/memory/categories");
	assert_string_equal(header(r, "Authorization"), "Bearer " KEY);
	assert_string_equal(body_str(r, "user_id"), "u-1");
	assert_string_equal(body_str(r, "agent_id"), POS_MEMU_DEFAULT_AGENT_ID);
	json_decref(r);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "preferences");
	assert_string_equal(names[1], "work_life");

	/* A user with nothing has no categories. */
	assert_int_equal(pos_memu_categories(f->m, f->a, "u-none", &names, &n, &f->err),
			 POS_OK);
	assert_int_equal(n, 0);
	assert_null(names);
}

static void delete_forgets_the_user(void **state)
{
	struct fx *f = *state;
	memorize_text(f, "u-1", "I love tea");
	memorize_text(f, "u-2", "I love tea as well");
	assert_int_equal(pos_memu_delete(f->m, "u-1", &f->err), POS_OK);
	json_t *r = last_request();
	assert_string_equal(json_string_value(json_object_get(r, "path")),
			    "/api/v3/memory/delete");
	assert_string_equal(header(r, "Authorization"), "Bearer " KEY);
	assert_string_equal(body_str(r, "user_id"), "u-1");
	assert_string_equal(body_str(r, "agent_id"), POS_MEMU_DEFAULT_AGENT_ID);
	json_decref(r);
	struct pos_memu_item *it;
	size_t n = 9;
	assert_int_equal(pos_memu_retrieve(f->m, f->a, "u-1", "tea", 5, &it, &n, &f->err),
			 POS_OK);
	assert_int_equal(n, 0);
	assert_int_equal(pos_memu_retrieve(f->m, f->a, "u-2", "tea", 5, &it, &n, &f->err),
			 POS_OK);
	assert_true(n > 0);

	/* Other 2xx answers MemU might give are fine too. */
	stub_fixed(200, "{\"message\": \"ok\"}");
	assert_int_equal(pos_memu_delete(f->m, "u-2", &f->err), POS_OK);
	stub_fixed(200, "null");
	assert_int_equal(pos_memu_delete(f->m, "u-2", &f->err), POS_OK);
}

/* ---- lenient parsing ---- */

static void retrieve_parses_odd_answers_leniently(void **state)
{
	struct fx *f = *state;
	struct pos_memu_item *it = NULL;
	size_t n = 0;
	stub_fixed(200,
		"{\"rewritten_query\": 5,"
		" \"items\": ["
		"  {\"memory\": \"A\", \"score\": 0.2, \"id\": \"i1\"},"
		"  {\"content\": \"B\", \"score\": 0.9, \"memory_type\": \"habit\"},"
		"  {\"summary\": \"C\", \"score\": \"high\"},"
		"  {\"text\": \"D\", \"id\": 42, \"category\": {\"name\": \"work\"}},"
		"  {\"description\": \"E\", \"category_name\": \"prefs\", \"category\": 3},"
		"  {\"name\": \"F\", \"id\": [1]},"
		"  {\"content\": 5}, {\"content\": \"   \"}, {}, 42, null, [\"x\"],"
		"  \"G bare\","
		"  {\"memory\": 7, \"content\": \"H\", \"similarity\": 0.5}"
		" ],"
		" \"categories\": [{\"name\": \"prefs\", \"summary\": \"likes tea\","
		"                   \"description\": \"d\"}, {\"name\": \"only-name\"}],"
		" \"resources\": [{\"caption\": \"R\", \"modality\": \"image\","
		"                  \"resource_url\": \"http://x\"}, {\"resource_url\": \"u\"}]}");
	assert_int_equal(pos_memu_retrieve(f->m, f->a, "u-1", "q", 50, &it, &n, &f->err),
			 POS_OK);
	static const char *const want[] = {"B", "H", "A", "C", "D", "E", "F", "G bare",
					   "likes tea", "only-name", "R"};
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < n; i++)
		assert_string_equal(it[i].text, want[i]);
	assert_true(it[0].score == 0.9);
	assert_string_equal(it[0].category, "habit"); /* memory_type */
	assert_null(it[0].id);
	assert_true(it[1].score == 0.5);
	assert_string_equal(it[2].id, "i1");
	assert_null(it[2].category);
	assert_true(it[3].score == 0); /* a string score is no score */
	assert_string_equal(it[4].id, "42");
	assert_string_equal(it[4].category, "work");
	assert_string_equal(it[5].category, "prefs");
	assert_null(it[6].id);
	assert_null(it[7].id);
	assert_null(it[7].category);
	assert_string_equal(it[8].kind, "category");
	assert_string_equal(it[8].category, "prefs");
	assert_string_equal(it[9].category, "only-name");
	assert_string_equal(it[10].kind, "resource");
	assert_string_equal(it[10].category, "image");
	for (size_t i = 0; i < 8; i++)
		assert_string_equal(it[i].kind, "item");

	/* A list of the wrong type is skipped; the others still count. */
	stub_fixed(200, "{\"items\": {\"content\": \"no\"}, \"categories\": \"x\","
			" \"resources\": [{\"content\": \"kept\"}]}");
	assert_int_equal(pos_memu_retrieve(f->m, f->a, "u-1", "q", 5, &it, &n, &f->err),
			 POS_OK);
	assert_int_equal(n, 1);
	assert_string_equal(it[0].text, "kept");

	/* A bare array is a list of items; a "data" wrapper is looked into. */
	stub_fixed(200, "[{\"content\": \"one\"}, \"two\"]");
	assert_int_equal(pos_memu_retrieve(f->m, f->a, "u-1", "q", 5, &it, &n, &f->err),
			 POS_OK);
	assert_int_equal(n, 2);
	assert_string_equal(it[1].text, "two");
	stub_fixed(200, "{\"data\": {\"items\": [{\"summary\": \"wrapped\"}]}}");
	assert_int_equal(pos_memu_retrieve(f->m, f->a, "u-1", "q", 5, &it, &n, &f->err),
			 POS_OK);
	assert_int_equal(n, 1);
	assert_string_equal(it[0].text, "wrapped");

	/* Nothing found: an empty object or empty lists. */
	stub_fixed(200, "{}");
	assert_int_equal(pos_memu_retrieve(f->m, f->a, "u-1", "q", 5, &it, &n, &f->err),
			 POS_OK);
	assert_int_equal(n, 0);
	assert_null(it);
	stub_fixed(200, "{\"items\": [], \"categories\": [], \"resources\": []}");
	assert_int_equal(pos_memu_retrieve(f->m, f->a, "u-1", "q", 5, &it, &n, &f->err),
			 POS_OK);
	assert_int_equal(n, 0);

	/* Extreme numbers are taken as they are; nesting past the JSON
	 * layer's depth limit is refused. */
	stub_fixed(200, "{\"items\": [{\"content\": \"low\", \"score\": -1e308,"
			" \"id\": -9223372036854775808},"
			" {\"content\": \"high\", \"score\": 1e308, \"id\": 9223372036854775807}]}");
	assert_int_equal(pos_memu_retrieve(f->m, f->a, "u-1", "q", 5, &it, &n, &f->err),
			 POS_OK);
	assert_int_equal(n, 2);
	assert_string_equal(it[0].text, "high");
	assert_string_equal(it[0].id, "9223372036854775807");
	assert_string_equal(it[1].id, "-9223372036854775808");
	char deep[512];
	size_t d = (size_t)snprintf(deep, sizeof(deep), "{\"items\": ");
	memset(deep + d, '[', 100);
	memset(deep + d + 100, ']', 100);
	snprintf(deep + d + 200, sizeof(deep) - d - 200, "}");
	stub_fixed(200, deep);
	assert_int_equal(pos_memu_retrieve(f->m, f->a, "u-1", "q", 5, &it, &n, &f->err),
			 POS_ERR_BAD_GATEWAY);

	/* A scalar root is not an answer. */
	stub_fixed(200, "\"Memories\"");
	assert_int_equal(pos_memu_retrieve(f->m, f->a, "u-1", "q", 5, &it, &n, &f->err),
			 POS_ERR_BAD_GATEWAY);
	assert_int_equal(n, 0);
}

static void other_answers_are_read_leniently(void **state)
{
	struct fx *f = *state;
	const char **names = NULL;
	size_t n = 0;
	stub_fixed(200, "[\"a\", {\"name\": \"b\"}, {\"title\": \"c\"}, 5, {\"name\": \"\"},"
			" {\"name\": 3}, null]");
	assert_int_equal(pos_memu_categories(f->m, f->a, "u-1", &names, &n, &f->err), POS_OK);
	assert_int_equal(n, 3);
	assert_string_equal(names[0], "a");
	assert_string_equal(names[1], "b");
	assert_string_equal(names[2], "c");
	stub_fixed(200, "{\"data\": {\"categories\": [{\"name\": \"d\"}]}}");
	assert_int_equal(pos_memu_categories(f->m, f->a, "u-1", &names, &n, &f->err), POS_OK);
	assert_int_equal(n, 1);
	assert_string_equal(names[0], "d");
	stub_fixed(200, "{\"categories\": \"none\"}");
	assert_int_equal(pos_memu_categories(f->m, f->a, "u-1", &names, &n, &f->err), POS_OK);
	assert_int_equal(n, 0);
	stub_fixed(200, "12");
	assert_int_equal(pos_memu_categories(f->m, f->a, "u-1", &names, &n, &f->err),
			 POS_ERR_BAD_GATEWAY);

	/* memorize: an integer task id is fine, a missing status is PENDING;
	 * no usable task_id is an error. */
	const char *task = NULL, *status = NULL;
	stub_fixed(200, "{\"task_id\": 77}");
	assert_int_equal(pos_memu_memorize(f->m, f->a, "u-1", NULL, NULL, 0, "x", &task,
					   &status, &f->err), POS_OK);
	assert_string_equal(task, "77");
	assert_string_equal(status, "PENDING");
	stub_fixed(200, "{\"task_id\": \"t 1\", \"status\": \"PENDING\"}");
	assert_int_equal(pos_memu_memorize(f->m, f->a, "u-1", NULL, NULL, 0, "x", &task,
					   &status, &f->err), POS_ERR_BAD_GATEWAY);
	assert_true(message_has(f, "task_id"));
	stub_fixed(200, "{\"message\": \"registered\"}");
	assert_int_equal(pos_memu_memorize(f->m, f->a, "u-1", NULL, NULL, 0, "x", &task,
					   &status, &f->err), POS_ERR_BAD_GATEWAY);

	/* status: a status that is not a short printable string is an error. */
	stub_fixed(200, "{\"task_id\": \"t\", \"status\": 3}");
	assert_int_equal(pos_memu_task_status(f->m, f->a, "t", &status, &f->err),
			 POS_ERR_BAD_GATEWAY);
	stub_fixed(200, "{\"task_id\": \"t\", \"status\": \"FAILURE\", \"extra\": [1]}");
	assert_int_equal(pos_memu_task_status(f->m, f->a, "t", &status, &f->err), POS_OK);
	assert_int_equal(pos_memu_status_kind(status), POS_MEMU_TASK_FAILED);
}

/* ---- failures ---- */

static void down_is_unavailable(void **state)
{
	struct fx *f = *state;
	struct pos_memu_item *it;
	size_t n;
	const char *task, *status, **names;
	stub_mode("{\"mode\": \"down\"}");
	assert_int_equal(pos_memu_retrieve(f->m, f->a, "u-1", "q", 5, &it, &n, &f->err),
			 POS_ERR_UNAVAILABLE);
	assert_string_equal(f->err.message, "MemU: HTTP 503");
	assert_int_equal(pos_memu_memorize(f->m, f->a, "u-1", NULL, NULL, 0, "x", &task,
					   &status, &f->err), POS_ERR_UNAVAILABLE);
	assert_int_equal(pos_memu_task_status(f->m, f->a, "t", &status, &f->err),
			 POS_ERR_UNAVAILABLE);
	assert_int_equal(pos_memu_categories(f->m, f->a, "u-1", &names, &n, &f->err),
			 POS_ERR_UNAVAILABLE);
	assert_int_equal(pos_memu_delete(f->m, "u-1", &f->err), POS_ERR_UNAVAILABLE);
	/* One request per call: no retries inside the client. */
	assert_int_equal(stub_count(), 5);

	stub_mode("{\"mode\": \"rate_limited\", \"count\": 1}");
	assert_int_equal(pos_memu_retry_after_us(f->m), 0);
	assert_int_equal(pos_memu_delete(f->m, "u-1", &f->err), POS_ERR_UNAVAILABLE);
	assert_true(message_has(f, "HTTP 429"));
	/* The stand-in says Retry-After: 1; the client keeps it for callers
	 * (the memu.memorize job's next attempt, searches). */
	int64_t wait = pos_memu_retry_after_us(f->m);
	assert_true(wait > 0 && wait <= 1000000);
	/* (No count: libcurl itself resends once when a reused connection
	 * dies before any answer.) */
	stub_mode("{\"mode\": \"disconnect\"}");
	assert_int_equal(pos_memu_delete(f->m, "u-1", &f->err), POS_ERR_UNAVAILABLE);
	assert_true(message_has(f, "cannot reach"));
	/* And back up. */
	stub_mode("{\"mode\": \"ok\"}");
	assert_int_equal(pos_memu_delete(f->m, "u-1", &f->err), POS_OK);
}

static void garbage_is_bad_gateway(void **state)
{
	struct fx *f = *state;
	struct pos_memu_item *it;
	size_t n;
	const char *task, *status, **names;
	stub_mode("{\"mode\": \"garbage\"}");
	assert_int_equal(pos_memu_retrieve(f->m, f->a, "u-1", "q", 5, &it, &n, &f->err),
			 POS_ERR_BAD_GATEWAY);
	assert_true(message_has(f, "not JSON"));
	assert_int_equal(pos_memu_memorize(f->m, f->a, "u-1", NULL, NULL, 0, "x", &task,
					   &status, &f->err), POS_ERR_BAD_GATEWAY);
	assert_int_equal(pos_memu_task_status(f->m, f->a, "t", &status, &f->err),
			 POS_ERR_BAD_GATEWAY);
	assert_int_equal(pos_memu_categories(f->m, f->a, "u-1", &names, &n, &f->err),
			 POS_ERR_BAD_GATEWAY);
	assert_int_equal(pos_memu_delete(f->m, "u-1", &f->err), POS_ERR_BAD_GATEWAY);

	/* Other client errors: bad gateway, naming the field MemU objected to
	 * but never repeating MemU's free text (it may echo the content). */
	stub_fixed(422, "{\"detail\": [{\"loc\": [\"body\", \"conversation\"],"
			" \"msg\": \"my secret diary\", \"type\": \"value_error\"}]}");
	assert_int_equal(pos_memu_memorize(f->m, f->a, "u-1", NULL, NULL, 0,
					   "my secret diary", &task, &status, &f->err),
			 POS_ERR_BAD_GATEWAY);
	assert_string_equal(f->err.message, "MemU: HTTP 422 (conversation)");
	stub_fixed(404, "{\"detail\": \"Not Found\"}");
	assert_int_equal(pos_memu_delete(f->m, "u-1", &f->err), POS_ERR_BAD_GATEWAY);
	assert_true(message_has(f, "HTTP 404"));
}

static void unauthorized_is_bad_gateway(void **state)
{
	struct fx *f = *state;
	struct pos_memu_item *it;
	size_t n;
	stub_mode("{\"mode\": \"unauthorized\", \"count\": 1}");
	assert_int_equal(pos_memu_retrieve(f->m, f->a, "u-1", "q", 5, &it, &n, &f->err),
			 POS_ERR_BAD_GATEWAY);
	assert_true(message_has(f, "MemU rejected the API key"));

	/* A wrong key, checked by the stub itself; the key is never echoed. */
	struct pos_memu *m;
	struct pos_memu_config c = {.base_url = stub_root, .api_key = "sk-wrong-key-123"};
	assert_int_equal(pos_memu_new(&c, &m, &f->err), POS_OK);
	assert_int_equal(pos_memu_delete(m, "u-1", &f->err), POS_ERR_BAD_GATEWAY);
	assert_true(message_has(f, "MemU rejected the API key"));
	assert_null(strstr(f->err.message, "sk-wrong"));
	json_t *r = last_request();
	assert_string_equal(header(r, "Authorization"), "Bearer sk-wrong-key-123");
	json_decref(r);
	pos_memu_free(m);
}

static void slow_memu_times_out(void **state)
{
	struct fx *f = *state;
	struct pos_memu *m;
	struct pos_memu_config c = {.base_url = stub_root, .api_key = KEY,
				    .timeout_ms = 300};
	assert_int_equal(pos_memu_new(&c, &m, &f->err), POS_OK);
	stub_mode("{\"mode\": \"slow\", \"seconds\": 3, \"count\": 1}");
	struct pos_memu_item *it;
	size_t n;
	assert_int_equal(pos_memu_retrieve(m, f->a, "u-1", "q", 5, &it, &n, &f->err),
			 POS_ERR_UNAVAILABLE);
	assert_string_equal(f->err.message, "MemU: timed out after 300 ms");
	pos_memu_free(m);

	/* A slow answer within the timeout is fine. */
	stub_mode("{\"mode\": \"slow\", \"seconds\": 0.2, \"count\": 1}");
	assert_int_equal(pos_memu_retrieve(f->m, f->a, "u-1", "q", 5, &it, &n, &f->err),
			 POS_OK);
}

static void unreachable_is_unavailable(void **state)
{
	struct fx *f = *state;
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t alen = sizeof(a);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &alen), 0);
	close(s);
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", ntohs(a.sin_port));
	struct pos_memu *m;
	struct pos_memu_config c = {.base_url = url, .api_key = KEY};
	assert_int_equal(pos_memu_new(&c, &m, &f->err), POS_OK);
	assert_int_equal(pos_memu_delete(m, "u-1", &f->err), POS_ERR_UNAVAILABLE);
	assert_true(message_has(f, "cannot reach"));
	pos_memu_free(m);
}

static void oversized_answer_is_refused(void **state)
{
	struct fx *f = *state;
	size_t big = POS_MEMU_MAX_RESPONSE + 1024;
	char *s = malloc(big + 3);
	assert_non_null(s);
	s[0] = '"';
	memset(s + 1, 'a', big);
	s[big + 1] = '"';
	s[big + 2] = '\0';
	stub_fixed(200, s);
	free(s);
	struct pos_memu_item *it;
	size_t n;
	assert_int_equal(pos_memu_retrieve(f->m, f->a, "u-1", "q", 5, &it, &n, &f->err),
			 POS_ERR_BAD_GATEWAY);
	assert_true(message_has(f, "larger than 8 MiB"));
}

/* ---- bad input: refused before anything is sent ---- */

static void bad_configs_are_refused(void **state)
{
	struct fx *f = *state;
	struct pos_memu *m = (struct pos_memu *)1;
	struct pos_memu_config c = {.base_url = stub_root};
	assert_int_equal(pos_memu_new(&c, &m, &f->err), POS_ERR_INVALID_REQUEST);
	assert_null(m);
	assert_string_equal(f->err.field, "api_key");
	c.api_key = "";
	assert_int_equal(pos_memu_new(&c, &m, &f->err), POS_ERR_INVALID_REQUEST);
	c.api_key = "key\r\nX-Injected: 1";
	assert_int_equal(pos_memu_new(&c, &m, &f->err), POS_ERR_INVALID_REQUEST);
	c.api_key = KEY;
	c.base_url = "ftp://example.com";
	assert_int_equal(pos_memu_new(&c, &m, &f->err), POS_ERR_INVALID_REQUEST);
	assert_string_equal(f->err.field, "base_url");
	c.base_url = "http:///nohost";
	assert_int_equal(pos_memu_new(&c, &m, &f->err), POS_ERR_INVALID_REQUEST);
	c.base_url = stub_root;
	c.timeout_ms = -1;
	assert_int_equal(pos_memu_new(&c, &m, &f->err), POS_ERR_INVALID_REQUEST);
	c.timeout_ms = POS_MEMU_MAX_TIMEOUT_MS + 1;
	assert_int_equal(pos_memu_new(&c, &m, &f->err), POS_ERR_INVALID_REQUEST);
	c.timeout_ms = 0;
	c.agent_id = "a\tb";
	assert_int_equal(pos_memu_new(&c, &m, &f->err), POS_ERR_INVALID_REQUEST);
	/* Defaults: NULL/"" strings; the default base URL is accepted. */
	struct pos_memu_config d = {.api_key = KEY, .agent_id = "", .agent_name = NULL};
	assert_int_equal(pos_memu_new(&d, &m, &f->err), POS_OK);
	pos_memu_free(m);
	pos_memu_free(NULL);
}

static void bad_arguments_send_nothing(void **state)
{
	struct fx *f = *state;
	const char *task, *status, **names;
	struct pos_memu_item *it;
	size_t n;
	struct pos_memu_turn ok[1] = {{"user", "hi"}};
	struct pos_memu_turn no_role[1] = {{NULL, "hi"}};
	struct pos_memu_turn bad_utf8[1] = {{"user", "caf\xC3"}};
	assert_int_equal(pos_memu_memorize(f->m, f->a, "", NULL, ok, 1, NULL, &task,
					   &status, &f->err), POS_ERR_INVALID_REQUEST);
	assert_string_equal(f->err.field, "user_id");
	assert_int_equal(pos_memu_memorize(f->m, f->a, NULL, NULL, ok, 1, NULL, &task,
					   &status, &f->err), POS_ERR_INVALID_REQUEST);
	assert_int_equal(pos_memu_memorize(f->m, f->a, "u\n1", NULL, ok, 1, NULL, &task,
					   &status, &f->err), POS_ERR_INVALID_REQUEST);
	assert_int_equal(pos_memu_memorize(f->m, f->a, "u-1", NULL, no_role, 1, NULL, &task,
					   &status, &f->err), POS_ERR_INVALID_REQUEST);
	assert_int_equal(pos_memu_memorize(f->m, f->a, "u-1", NULL, bad_utf8, 1, NULL,
					   &task, &status, &f->err), POS_ERR_INVALID_REQUEST);
	assert_int_equal(pos_memu_memorize(f->m, f->a, "u-1", NULL, NULL, 0, NULL, &task,
					   &status, &f->err), POS_ERR_INVALID_REQUEST);
	assert_int_equal(pos_memu_memorize(f->m, f->a, "u-1", NULL, NULL, 0, " \n ", &task,
					   &status, &f->err), POS_ERR_INVALID_REQUEST);
	assert_int_equal(pos_memu_memorize(f->m, NULL, "u-1", NULL, ok, 1, NULL, &task,
					   &status, &f->err), POS_ERR_INVALID_REQUEST);
	assert_int_equal(pos_memu_retrieve(f->m, f->a, "u-1", "", 5, &it, &n, &f->err),
			 POS_ERR_INVALID_REQUEST);
	assert_int_equal(pos_memu_retrieve(f->m, f->a, "u-1", NULL, 5, &it, &n, &f->err),
			 POS_ERR_INVALID_REQUEST);
	assert_int_equal(pos_memu_task_status(f->m, f->a, "", &status, &f->err),
			 POS_ERR_INVALID_REQUEST);
	assert_int_equal(pos_memu_categories(f->m, f->a, "", &names, &n, &f->err),
			 POS_ERR_INVALID_REQUEST);
	assert_int_equal(pos_memu_delete(f->m, NULL, &f->err), POS_ERR_INVALID_REQUEST);
	assert_int_equal(pos_memu_delete(NULL, "u-1", &f->err), POS_ERR_INVALID_REQUEST);

	/* A conversation past the request limit. */
	size_t big = POS_MEMU_MAX_REQUEST;
	char *s = malloc(big + 1);
	assert_non_null(s);
	memset(s, 'x', big);
	s[big] = '\0';
	assert_int_equal(pos_memu_memorize(f->m, f->a, "u-1", NULL, NULL, 0, s, &task,
					   &status, &f->err), POS_ERR_CONTENT_TOO_LARGE);
	free(s);
	assert_int_equal(stub_count(), 0);
}

/* ---- threads ---- */

struct worker {
	struct pos_memu *m;
	int ok;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < 5; i++) {
		struct pos_arena *a = pos_arena_new();
		struct pos_error e;
		struct pos_memu_item *it;
		size_t n;
		if (a && pos_memu_retrieve(w->m, a, "u-1", "tea", 5, &it, &n, &e) == POS_OK &&
		    n >= 1 && strcmp(it[0].text, "I love tea") == 0)
			w->ok++;
		pos_arena_destroy(a);
	}
	return NULL;
}

static void many_threads_share_one_client(void **state)
{
	struct fx *f = *state;
	memorize_text(f, "u-1", "I love tea");
	pthread_t t[6];
	struct worker w[6];
	for (int i = 0; i < 6; i++) {
		w[i] = (struct worker){f->m, 0};
		assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].ok, 5);
	}
	assert_int_equal(stub_count(), 1 + 30);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(memorize_sends_the_conversation),
		T(memorize_sends_text_and_config),
		T(task_status_goes_pending_then_success),
		cmocka_unit_test(status_kinds),
		T(retrieve_finds_stored_items),
		T(categories_lists_names),
		T(delete_forgets_the_user),
		T(retrieve_parses_odd_answers_leniently),
		T(other_answers_are_read_leniently),
		T(down_is_unavailable),
		T(garbage_is_bad_gateway),
		T(unauthorized_is_bad_gateway),
		T(slow_memu_times_out),
		T(unreachable_is_unavailable),
		T(oversized_answer_is_refused),
		T(bad_configs_are_refused),
		T(bad_arguments_send_nothing),
		T(many_threads_share_one_client),
	};
	return cmocka_run_group_tests(tests, start_stub, stop_stub);
}
