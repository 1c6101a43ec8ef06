/*
 * Unit tests for the export service (src/export/export.c) over a real
 * SQLite store in a temp dir: a user's memories, relationships,
 * conversations, persona and sync sources come out in the file, another
 * user's never do, filters apply, bad requests are named.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/uuid.h"
#include "crypto/crypto.h"
#include "export/export.h"

struct fx {
	char dir[256];
	char file[300];
	struct pos_store *s;
	struct pos_arena *a;
	char alice[POS_UUID_SIZE], bob[POS_UUID_SIZE];
	char first[POS_UUID_SIZE];
};

static void make_user(struct pos_store *s, const char *email, char id[POS_UUID_SIZE])
{
	struct pos_user u = {0};
	assert_true(pos_uuid_new(u.id));
	u.email = email;
	u.password_hash = "x";
	u.privacy_tier = "local";
	u.plan = "free";
	u.persona_json = "{\"name\":\"Ada\",\"tone\":\"dry\"}";
	u.settings_json = "{\"theme\":\"dark\"}";
	u.created_at = pos_now_us();
	u.last_login_at = POS_TIME_NONE;
	assert_int_equal(s->accounts->user_register(s, &u, NULL, true, 0), POS_OK);
	memcpy(id, u.id, POS_UUID_SIZE);
}

static void add(struct pos_store *s, const char *user, const char *content, enum pos_mem_type t,
		const char *related, char id_out[POS_UUID_SIZE])
{
	struct pos_memory m;
	memset(&m, 0, sizeof(m));
	assert_true(pos_uuid_new(m.id));
	snprintf(m.user_id, sizeof(m.user_id), "%s", user);
	m.content = content;
	m.content_len = strlen(content);
	m.type = t;
	m.layer = POS_LAYER_WORKING;
	m.source = "api";
	m.tags_json = "[\"x\"]";
	const char *tags[] = {"x"};
	m.tags = tags;
	m.n_tags = 1;
	m.metadata_json = "{\"n\":1}";
	m.attachments_json = "[]";
	m.shared_with_json = "[]";
	m.importance = 0.25;
	m.created_at = m.updated_at = pos_now_us();
	m.last_accessed_at = POS_TIME_NONE;
	char rel[1][POS_UUID_SIZE];
	if (related) {
		memcpy(rel[0], related, POS_UUID_SIZE);
		m.related = rel;
		m.n_related = 1;
	}
	struct pos_error e;
	pos_error_clear(&e);
	assert_int_equal(s->memories->memory_insert(s, &m, 1, &e), POS_OK);
	if (id_out)
		memcpy(id_out, m.id, POS_UUID_SIZE);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	pos_crypto_init();
	const char *base = getenv("POS_TEST_TMP");
	if (base)
		mkdir(base, 0700);
	snprintf(f->dir, sizeof(f->dir), "%s/export_XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->file, sizeof(f->file), "%s/out", f->dir);
	struct pos_error e;
	pos_error_clear(&e);
	if (pos_sqlite_open(f->dir, &f->s, &e))
		return -1;
	f->a = pos_arena_new();
	make_user(f->s, "alice@example.org", f->alice);
	make_user(f->s, "bob@example.org", f->bob);
	add(f->s, f->alice, "first note ✓", POS_TYPE_NOTE, NULL, f->first);
	add(f->s, f->alice, "an event, \"quoted\"", POS_TYPE_EVENT, f->first, NULL);
	add(f->s, f->alice, "another note", POS_TYPE_NOTE, NULL, NULL);
	add(f->s, f->bob, "bob's secret", POS_TYPE_NOTE, NULL, NULL);

	struct pos_conversation c = {0};
	assert_true(pos_uuid_new(c.id));
	memcpy(c.user_id, f->alice, POS_UUID_SIZE);
	c.title = "Planning";
	c.created_at = c.updated_at = pos_now_us();
	struct pos_chat_message msg[2] = {0};
	for (int i = 0; i < 2; i++) {
		assert_true(pos_uuid_new(msg[i].id));
		memcpy(msg[i].conversation_id, c.id, POS_UUID_SIZE);
		msg[i].role = i ? "assistant" : "user";
		msg[i].content = i ? "Sure." : "Plan my week";
		msg[i].memories_used_json = "[]";
		msg[i].created_at = pos_now_us();
	}
	assert_int_equal(f->s->chat->chat_append(f->s, &c, true, msg, 2), POS_OK);

	struct pos_sync_source src = {0};
	assert_true(pos_uuid_new(src.id));
	memcpy(src.user_id, f->alice, POS_UUID_SIZE);
	src.kind = "ics_url";
	src.name = "Work calendar";
	src.config_json = "{\"url\":\"https://example.org/cal.ics\"}";
	static const uint8_t secret[] = "sealed-bytes";
	src.secrets = secret;
	src.secrets_len = sizeof(secret);
	src.status = "idle";
	src.last_sync_at = src.next_sync_at = POS_TIME_NONE;
	src.created_at = pos_now_us();
	assert_int_equal(f->s->sync->sync_source_put(f->s, &src, true), POS_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	pos_arena_destroy(f->a);
	pos_store_close(f->s);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static json_t *run_export(struct fx *f, const char *user, const char *body_text,
			  struct pos_export_result *res)
{
	json_error_t je;
	json_t *body = json_loads(body_text, 0, &je);
	assert_non_null(body);
	struct pos_export_request req;
	struct pos_error e;
	pos_error_clear(&e);
	assert_int_equal(pos_export_request_parse(f->a, user, body, &req, &e), POS_OK);
	json_decref(body);
	int fd = open(f->file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(pos_export_write(f->s, user, &req, fd, NULL, res, &e), POS_OK);
	close(fd);
	json_t *doc = json_load_file(f->file, 0, &je);
	assert_non_null(doc);
	return doc;
}

static bool has_content(json_t *mems, const char *content)
{
	size_t i;
	json_t *m;
	json_array_foreach(mems, i, m)
		if (strcmp(json_string_value(json_object_get(m, "content")), content) == 0)
			return true;
	return false;
}

static void everything(void **state)
{
	struct fx *f = *state;
	struct pos_export_result res = {0};
	json_t *doc = run_export(f, f->alice, "{\"format\":\"json\"}", &res);
	json_t *mems = json_object_get(doc, "memories");
	assert_int_equal(json_array_size(mems), 3);
	assert_int_equal(res.items, 3);
	struct stat sb;
	assert_int_equal(stat(f->file, &sb), 0);
	assert_int_equal((uint64_t)sb.st_size, res.bytes);
	assert_true(has_content(mems, "first note ✓"));
	assert_true(has_content(mems, "an event, \"quoted\""));
	assert_false(has_content(mems, "bob's secret"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "user"), "email")),
			    "alice@example.org");

	/* the relationship between the event and the first note, once */
	json_t *rels = json_object_get(doc, "relationships");
	assert_int_equal(json_array_size(rels), 1);
	json_t *r = json_array_get(rels, 0);
	assert_string_equal(json_string_value(json_object_get(r, "type")), "related");
	assert_true(strcmp(json_string_value(json_object_get(r, "memory_id")), f->first) == 0 ||
		    strcmp(json_string_value(json_object_get(r, "related_memory_id")), f->first) == 0);

	json_t *convs = json_object_get(doc, "conversations");
	assert_int_equal(json_array_size(convs), 1);
	json_t *msgs = json_object_get(json_array_get(convs, 0), "messages");
	assert_int_equal(json_array_size(msgs), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 0), "content")),
			    "Plan my week");

	json_t *srcs = json_object_get(doc, "sync_sources");
	assert_int_equal(json_array_size(srcs), 1);
	json_t *s0 = json_array_get(srcs, 0);
	assert_string_equal(json_string_value(json_object_get(s0, "name")), "Work calendar");
	assert_true(json_is_true(json_object_get(s0, "has_secrets")));
	assert_null(json_object_get(s0, "secrets"));

	assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "persona"), "tone")),
			    "dry");
	assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "settings"), "theme")),
			    "dark");
	json_decref(doc);

	/* the file never holds the sealed secrets */
	char cmd[1200];
	snprintf(cmd, sizeof(cmd), "grep -q sealed-bytes '%s'", f->file);
	assert_int_not_equal(system(cmd), 0);
}

static void filtered(void **state)
{
	struct fx *f = *state;
	json_t *doc = run_export(f, f->alice,
				 "{\"format\":\"json\",\"filters\":{\"type\":\"note\"},"
				 "\"include\":[\"memories\",\"persona\"]}",
				 NULL);
	json_t *mems = json_object_get(doc, "memories");
	assert_int_equal(json_array_size(mems), 2);
	assert_false(has_content(mems, "an event, \"quoted\""));
	assert_null(json_object_get(doc, "conversations"));
	assert_null(json_object_get(doc, "settings"));
	assert_non_null(json_object_get(doc, "persona"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "filters"), "type")),
			    "note");
	json_decref(doc);

	doc = run_export(f, f->bob, "{\"format\":\"json\"}", NULL);
	mems = json_object_get(doc, "memories");
	assert_int_equal(json_array_size(mems), 1);
	assert_true(has_content(mems, "bob's secret"));
	assert_int_equal(json_array_size(json_object_get(doc, "sync_sources")), 0);
	json_decref(doc);
}

static void bad_requests(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *body;
		enum pos_err code;
		const char *field;
	} cases[] = {
		{"{}", POS_ERR_MISSING_FIELD, "format"},
		{"{\"format\":\"xml\"}", POS_ERR_INVALID_FIELD, "format"},
		{"{\"format\":\"json\",\"include\":[\"secrets\"]}", POS_ERR_INVALID_FIELD, "include"},
		{"{\"format\":\"json\",\"include\":\"memories\"}", POS_ERR_INVALID_FIELD, "include"},
		{"{\"format\":\"json\",\"filters\":{\"query\":\"x\"}}", POS_ERR_INVALID_FIELD, "filters"},
		{"{\"format\":\"json\",\"filters\":{\"type\":\"bogus\"}}", POS_ERR_INVALID_FIELD, "filters"},
		{"{\"format\":\"json\",\"filters\":{\"after\":\"yesterday\"}}", POS_ERR_INVALID_FIELD, "filters"},
		{"{\"format\":\"markdown\",\"folders\":\"size\"}", POS_ERR_INVALID_FIELD, "folders"},
		{"{\"format\":\"json\",\"url\":\"http://x\"}", POS_ERR_INVALID_FIELD, "url"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_error_t je;
		json_t *body = json_loads(cases[i].body, 0, &je);
		struct pos_export_request req;
		struct pos_error e;
		pos_error_clear(&e);
		assert_int_equal(pos_export_request_parse(f->a, f->alice, body, &req, &e), cases[i].code);
		assert_string_equal(e.field, cases[i].field);
		json_decref(body);
	}
}

static void markdown_zip(void **state)
{
	struct fx *f = *state;
	json_error_t je;
	json_t *body = json_loads("{\"format\":\"markdown\",\"folders\":\"date\"}", 0, &je);
	struct pos_export_request req;
	struct pos_error e;
	pos_error_clear(&e);
	assert_int_equal(pos_export_request_parse(f->a, f->alice, body, &req, &e), POS_OK);
	json_decref(body);
	int fd = open(f->file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	struct pos_export_result res = {0};
	assert_int_equal(pos_export_write(f->s, f->alice, &req, fd, NULL, &res, &e), POS_OK);
	close(fd);
	assert_int_equal(res.items, 3);
	char cmd[1200];
	/* a real zip: unzip lists the notes and the side sections */
	snprintf(cmd, sizeof(cmd),
		 "python3 -c \"import zipfile,sys; z=zipfile.ZipFile(sys.argv[1]); n=z.namelist();"
		 " sys.exit(0 if sum(x.endswith('.md') for x in n)==3 and"
		 " '_personalos/conversations.json' in n else 1)\" '%s'",
		 f->file);
	assert_int_equal(system(cmd), 0);
}

/* More memories than one batch of the walk: a chain of related links
 * crossing batch boundaries and a parent link, each written once; the
 * store's relationships_from keeps to the user's own memories. */
static void relationship_walk(void **state)
{
	struct fx *f = *state;
	enum { N = POS_EXPORT_BATCH + 44 };
	char prev[POS_UUID_SIZE], cur[POS_UUID_SIZE];
	memcpy(prev, f->first, POS_UUID_SIZE);
	for (int i = 0; i < N; i++) {
		add(f->s, f->alice, "link in a chain", POS_TYPE_NOTE, prev, cur);
		memcpy(prev, cur, POS_UUID_SIZE);
	}
	struct pos_memory child;
	memset(&child, 0, sizeof(child));
	assert_true(pos_uuid_new(child.id));
	memcpy(child.user_id, f->alice, POS_UUID_SIZE);
	child.content = "a child";
	child.content_len = strlen(child.content);
	child.type = POS_TYPE_NOTE;
	child.layer = POS_LAYER_WORKING;
	child.source = "api";
	child.tags_json = "[]";
	child.metadata_json = "{}";
	child.attachments_json = "[]";
	child.shared_with_json = "[]";
	child.created_at = child.updated_at = pos_now_us();
	child.last_accessed_at = POS_TIME_NONE;
	memcpy(child.parent_id, f->first, POS_UUID_SIZE);
	struct pos_error e;
	pos_error_clear(&e);
	assert_int_equal(f->s->memories->memory_insert(f->s, &child, 1, &e), POS_OK);

	struct pos_export_result res = {0};
	json_t *doc = run_export(f, f->alice, "{\"format\":\"json\"}", &res);
	assert_int_equal(res.items, 3 + N + 1);
	json_t *rels = json_object_get(doc, "relationships");
	/* the event's link, the chain's N, the parent link */
	assert_int_equal(json_array_size(rels), 1 + N + 1);
	size_t i, parents = 0;
	json_t *r;
	json_array_foreach(rels, i, r) {
		const char *type = json_string_value(json_object_get(r, "type"));
		if (strcmp(type, "parent") == 0) {
			parents++;
			assert_string_equal(json_string_value(json_object_get(r, "memory_id")), child.id);
			assert_string_equal(json_string_value(json_object_get(r, "related_memory_id")),
					    f->first);
		} else {
			assert_string_equal(type, "related");
		}
	}
	assert_int_equal(parents, 1);
	json_decref(doc);

	/* alice's first memories (seqs 1 to 3, the event's link among them)
	 * asked for as bob: nothing */
	struct pos_graph_edge *ge = NULL;
	size_t ne = 9;
	assert_int_equal(f->s->memories->relationships_from(f->s, f->a, f->alice, "[1,2,3]", 100,
							    &ge, &ne),
			 POS_OK);
	assert_int_equal(ne, 1);
	assert_int_equal(f->s->memories->relationships_from(f->s, f->a, f->bob, "[1,2,3]", 100,
							    &ge, &ne),
			 POS_OK);
	assert_int_equal(ne, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(everything, setup, teardown),
		cmocka_unit_test_setup_teardown(filtered, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(markdown_zip, setup, teardown),
		cmocka_unit_test_setup_teardown(relationship_walk, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
