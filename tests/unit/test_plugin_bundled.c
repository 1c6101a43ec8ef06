/*
 * Unit tests for the bundled plugins (plugins/) and src/plugins/manifest:
 * every bundled manifest parses; bad manifests and settings are refused;
 * each plugin's hooks do their job against a fake host (memories of one
 * user, a kv map, and an HTTP stand-in answering in Open-Meteo's wire
 * format). Runs from the repository root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plugins/manifest.h"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	char *buf = malloc(1 << 20);
	size_t n = fread(buf, 1, (1 << 20) - 1, f);
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

struct fake {
	json_t *mems;
	json_t *kv;
	json_t *urls; /* every URL asked for */
	int next_id;
};

/* Filter-only queries ("after:... before:...") list every memory. */
static enum pos_err f_search(void *ctx, const char *q, size_t limit, json_t **out, struct pos_error *e)
{
	struct fake *f = ctx;
	*out = json_array();
	if (strncmp(q, "after:", 6) == 0) {
		const char *k;
		json_t *m;
		json_object_foreach(f->mems, k, m) {
			if (json_array_size(*out) < limit)
				json_array_append_new(*out, json_deep_copy(m));
		}
	}
	return POS_OK;
}

static enum pos_err f_get(void *ctx, const char *id, json_t **out, struct pos_error *e)
{
	struct fake *f = ctx;
	json_t *m = json_object_get(f->mems, id);
	if (!m)
		return pos_error_set(e, POS_ERR_NOT_FOUND, NULL, "memory not found");
	*out = json_deep_copy(m);
	return POS_OK;
}

static enum pos_err f_create(void *ctx, json_t *fields, json_t **out, struct pos_error *e)
{
	struct fake *f = ctx;
	char id[32];
	snprintf(id, sizeof(id), "n%d", ++f->next_id);
	json_t *m = json_deep_copy(fields);
	json_object_set_new(m, "id", json_string(id));
	json_object_set_new(f->mems, id, m);
	*out = json_deep_copy(m);
	return POS_OK;
}

static enum pos_err f_update(void *ctx, const char *id, json_t *fields, json_t **out, struct pos_error *e)
{
	struct fake *f = ctx;
	json_t *m = json_object_get(f->mems, id);
	if (!m)
		return pos_error_set(e, POS_ERR_NOT_FOUND, NULL, "memory not found");
	json_object_update(m, fields);
	*out = json_deep_copy(m);
	return POS_OK;
}

/* Open-Meteo's answers, for the stand-in. */
static enum pos_err f_http(void *ctx, const struct pos_hostapi_http *req, json_t **out, struct pos_error *e)
{
	struct fake *f = ctx;
	json_array_append_new(f->urls, json_string(req->url));
	const char *body = "{}";
	if (strstr(req->url, "/page"))
		body = "<!doctype html><html><head><meta charset=\"utf-8\"><title>\n A   page &amp; more </title>"
		       "<meta name=\"description\" content=\"What the page is about\"></head><body>x</body></html>";
	else if (strstr(req->url, "/v1/search?") && strstr(req->url, "name=Lisbon"))
		body = "{\"results\":[{\"id\":2267057,\"name\":\"Lisbon\",\"latitude\":38.71667,"
		       "\"longitude\":-9.13333,\"country\":\"Portugal\",\"timezone\":\"Europe/Lisbon\"}],"
		       "\"generationtime_ms\":0.5}";
	else if (strstr(req->url, "/v1/search?"))
		body = "{\"generationtime_ms\":0.3}";
	else if (strstr(req->url, "/v1/forecast?") && strstr(req->url, "start_date=2026-12-24"))
		body = "{\"latitude\":38.7,\"longitude\":-9.14,\"timezone\":\"UTC\",\"daily_units\":"
		       "{\"time\":\"iso8601\",\"weather_code\":\"wmo code\",\"temperature_2m_max\":\"°C\","
		       "\"temperature_2m_min\":\"°C\",\"precipitation_sum\":\"mm\"},\"daily\":{\"time\":"
		       "[\"2026-12-24\"],\"weather_code\":[61],\"temperature_2m_max\":[15.2],"
		       "\"temperature_2m_min\":[9.8],\"precipitation_sum\":[3.4]}}";
	*out = json_pack("{s:i, s:s}", "status", 200, "body", body);
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
	if (v)
		json_object_set_new(f->kv, key, json_stringn(v, len));
	else
		json_object_del(f->kv, key);
	return POS_OK;
}

static void f_log(void *ctx, const char *level, const char *msg, size_t len) {}

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
	struct pos_manifest m;
	struct pos_sandbox *sb;
	char hostbuf[1024];
};

/* Loads plugins/<id> as installed with `settings` (NULL: defaults). */
static struct env *install(const char *id, json_t *settings)
{
	struct env *v = calloc(1, sizeof(*v));
	v->f.mems = json_object();
	v->f.kv = json_object();
	v->f.urls = json_array();
	char path[256];
	size_t len;
	snprintf(path, sizeof(path), "plugins/%s/plugin.json", id);
	char *text = slurp(path, &len);
	struct pos_error err;
	pos_error_clear(&err);
	assert_int_equal(pos_manifest_parse(text, len, &v->m, &err), POS_OK);
	free(text);
	assert_string_equal(v->m.id, id);
	json_t *s = NULL;
	assert_int_equal(pos_manifest_settings(&v->m, settings, &s, &err), POS_OK);
	const char *hosts[POS_HOSTAPI_HOSTS_MAX];
	size_t nh = pos_manifest_hosts(&v->m, s, hosts, POS_HOSTAPI_HOSTS_MAX, v->hostbuf, sizeof(v->hostbuf));
	struct pos_hostapi_grant g = {v->m.perms, hosts, nh};
	assert_int_equal(pos_sandbox_new(NULL, &v->sb), POS_OK);
	assert_int_equal(pos_hostapi_install(v->sb, &ops, &v->f, &g), POS_OK);
	assert_int_equal(pos_hostapi_set_settings(v->sb, s), POS_OK);
	json_decref(s);
	snprintf(path, sizeof(path), "plugins/%s/%s", id, v->m.main);
	text = slurp(path, &len);
	struct pos_sandbox_status st;
	if (pos_sandbox_load(v->sb, path, text, len, &st))
		fail_msg("%s: %s", path, st.message);
	free(text);
	for (unsigned bit = 1; bit <= POS_HOOK_MEMORY_CREATING; bit <<= 1)
		if (v->m.hooks & bit)
			assert_true(pos_sandbox_has(v->sb, pos_manifest_hook_name(bit)));
	return v;
}

static void done(struct env *v)
{
	pos_hostapi_release(v->sb);
	pos_sandbox_free(v->sb);
	pos_manifest_free(&v->m);
	json_decref(v->f.mems);
	json_decref(v->f.kv);
	json_decref(v->f.urls);
	free(v);
}

/* Stores a memory and fires on_memory_created for it; returns the hook's result. */
static json_t *created(struct env *v, const char *id, json_t *mem)
{
	json_object_set_new(mem, "id", json_string(id));
	json_object_set(v->f.mems, id, mem);
	json_t *ev = json_pack("{s:O}", "memory", mem);
	json_decref(mem);
	json_t *r = NULL;
	struct pos_sandbox_status st;
	if (pos_sandbox_call(v->sb, "on_memory_created", ev, &r, &st))
		fail_msg("on_memory_created: %s", st.message);
	json_decref(ev);
	return r;
}

/* Fires on_memory_creating for a memory not stored yet (as the memory
 * service does before the insert); the tags it returns are stored with it
 * in the fake's memories. Returns the hook's result. */
static json_t *creating(struct env *v, const char *id, json_t *mem)
{
	json_object_set_new(mem, "id", json_string(id));
	json_t *ev = json_pack("{s:O}", "memory", mem);
	json_t *r = NULL;
	struct pos_sandbox_status st;
	if (pos_sandbox_call(v->sb, "on_memory_creating", ev, &r, &st))
		fail_msg("on_memory_creating: %s", st.message);
	json_decref(ev);
	json_t *tags = json_object_get(mem, "tags");
	if (!json_is_array(tags))
		json_object_set_new(mem, "tags", tags = json_array());
	json_array_extend(tags, json_object_get(r, "tags"));
	json_object_set_new(v->f.mems, id, mem);
	return r;
}

static void test_manifests(void **state)
{
	(void)state;
	const char *ids[] = {"weather", "auto-tagger", "task-extractor", "link-preview", "daily-digest"};
	for (size_t i = 0; i < 5; i++)
		done(install(ids[i], NULL));
	struct {
		const char *json, *field;
	} bad[] = {
		{"[]", "plugin.json"},
		{"{\"name\":\"x\",\"version\":\"1\",\"description\":\"d\",\"hooks\":[\"on_query\"]}", "id"},
		{"{\"id\":\"../x\",\"name\":\"x\",\"version\":\"1\",\"description\":\"d\",\"hooks\":[\"on_query\"]}", "id"},
		{"{\"id\":\"x\",\"name\":\"x\",\"version\":\"1\",\"description\":\"d\",\"hooks\":[\"on_boot\"]}", "hooks"},
		{"{\"id\":\"x\",\"name\":\"x\",\"version\":\"1\",\"description\":\"d\",\"hooks\":[\"on_query\"],"
		 "\"permissions\":[\"root\"]}", "permissions"},
		{"{\"id\":\"x\",\"name\":\"x\",\"version\":\"1\",\"description\":\"d\",\"hooks\":[\"on_query\"],"
		 "\"hosts\":[\"a.example\"]}", "hosts"},
		{"{\"id\":\"x\",\"name\":\"x\",\"version\":\"1\",\"description\":\"d\",\"hooks\":[\"on_query\"],"
		 "\"permissions\":[\"http\"],\"hosts\":[\"u:p@a.example\"]}", "hosts"},
		{"{\"id\":\"x\",\"name\":\"x\",\"version\":\"1\",\"description\":\"d\",\"hooks\":[\"on_query\"],"
		 "\"main\":\"../../etc/passwd\"}", "main"},
		{"{\"id\":\"x\",\"name\":\"x\",\"version\":\"1\",\"description\":\"d\",\"hooks\":[\"on_query\"],"
		 "\"settings\":{\"u\":{\"type\":\"url\",\"default\":\"file:///etc/passwd\"}},\"permissions\":[\"http\"]}",
		 "settings"},
		{"{\"id\":\"x\",\"name\":\"x\",\"version\":\"1\",\"description\":\"d\",\"hooks\":[\"on_query\"],"
		 "\"api_version\":3}", "api_version"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pos_manifest m;
		struct pos_error err;
		pos_error_clear(&err);
		if (pos_manifest_parse(bad[i].json, strlen(bad[i].json), &m, &err) == POS_OK)
			fail_msg("accepted: %s", bad[i].json);
		assert_string_equal(err.field, bad[i].field);
	}
}

static void test_settings_checked(void **state)
{
	(void)state;
	struct env *v = install("weather", NULL);
	struct pos_error err;
	json_t *out = NULL;
	json_t *given = json_pack("{s:s}", "nope", "x");
	assert_int_equal(pos_manifest_settings(&v->m, given, &out, &err), POS_ERR_INVALID_FIELD);
	json_decref(given);
	given = json_pack("{s:i}", "weather_url", 3);
	assert_int_equal(pos_manifest_settings(&v->m, given, &out, &err), POS_ERR_INVALID_FIELD);
	json_decref(given);
	given = json_pack("{s:s}", "weather_url", "gopher://x");
	assert_int_equal(pos_manifest_settings(&v->m, given, &out, &err), POS_ERR_INVALID_FIELD);
	json_decref(given);
	/* A url setting the user chose becomes a host the plugin may reach. */
	given = json_pack("{s:s}", "weather_url", "http://127.0.0.1:8999/");
	assert_int_equal(pos_manifest_settings(&v->m, given, &out, &err), POS_OK);
	json_decref(given);
	const char *hosts[8];
	char buf[512];
	size_t n = pos_manifest_hosts(&v->m, out, hosts, 8, buf, sizeof(buf));
	assert_int_equal(n, 2);
	assert_string_equal(hosts[0], "127.0.0.1:8999");
	assert_string_equal(hosts[1], "geocoding-api.open-meteo.com:443");
	assert_string_equal(json_string_value(json_object_get(out, "units")), "celsius");
	json_decref(out);
	done(v);
}

static void test_weather(void **state)
{
	(void)state;
	json_t *settings = json_pack("{s:s, s:s}", "weather_url", "http://127.0.0.1:8999",
				     "geocoding_url", "http://127.0.0.1:8998");
	struct env *v = install("weather", settings);
	json_decref(settings);
	json_t *r = created(v, "m1", json_pack("{s:s, s:{s:s}}", "content",
						"Christmas eve dinner in Lisbon on 2026-12-24 with the family",
						"metadata", "mood", "happy"));
	json_decref(r);
	json_t *w = json_object_get(json_object_get(json_object_get(v->f.mems, "m1"), "metadata"), "weather");
	assert_non_null(w);
	assert_string_equal(json_string_value(json_object_get(w, "place")), "Lisbon");
	assert_string_equal(json_string_value(json_object_get(w, "date")), "2026-12-24");
	assert_true(json_real_value(json_object_get(w, "temperature_max")) > 15.1);
	/* Other metadata survives. */
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_object_get(v->f.mems, "m1"), "metadata"), "mood")),
			    "happy");
	assert_non_null(strstr(json_string_value(json_array_get(v->f.urls, 0)),
			       "http://127.0.0.1:8998/v1/search?count=1&format=json&name=Lisbon"));
	assert_non_null(strstr(json_string_value(json_array_get(v->f.urls, 1)),
			       "http://127.0.0.1:8999/v1/forecast?latitude=38.71667&longitude=-9.13333"));
	/* Geocoding is cached in kv. */
	assert_non_null(json_object_get(v->f.kv, "geo:Lisbon"));
	/* No place or no day: nothing asked. */
	size_t asked = json_array_size(v->f.urls);
	json_decref(created(v, "m2", json_pack("{s:s}", "content", "buy milk")));
	assert_int_equal(json_array_size(v->f.urls), asked);
	assert_null(json_object_get(json_object_get(v->f.mems, "m2"), "metadata"));
	/* on_query answers "weather in X". */
	json_t *ev = json_pack("{s:s}", "query", "weather in Lisbon 2026-12-24");
	struct pos_sandbox_status st;
	assert_int_equal(pos_sandbox_call(v->sb, "on_query", ev, &r, &st), POS_OK);
	json_decref(ev);
	assert_non_null(strstr(json_string_value(json_object_get(r, "answer")), "Lisbon on 2026-12-24: 9.8 to 15.2"));
	json_decref(r);
	done(v);
	/* With the default settings, a loopback URL is not a declared host:
	 * the plugin gets an error, never a connection. */
	v = install("weather", NULL);
	json_decref(created(v, "m1", json_pack("{s:s}", "content", "in Lisbon today")));
	size_t i;
	json_t *u;
	json_array_foreach(v->f.urls, i, u) assert_non_null(strstr(json_string_value(u), "open-meteo.com/"));
	done(v);
}

static void test_auto_tagger(void **state)
{
	(void)state;
	json_t *settings = json_pack("{s:s}", "rules", "health: gym, doctor; work: deadline");
	struct env *v = install("auto-tagger", settings);
	json_decref(settings);
	/* Learns the vocabulary from tagged memories... */
	json_t *r = creating(v, "m1", json_pack("{s:s, s:[s,s]}", "content", "x", "tags", "project-apollo", "family"));
	assert_true(json_is_null(r));
	json_decref(r);
	assert_non_null(json_object_get(v->f.kv, "vocab"));
	/* ... and tags before the insert: the tags come back in the result,
	 * no memory is written through the host API. */
	r = creating(v, "m2", json_pack("{s:s, s:[]}", "content",
					"Apollo project review before the deadline; then the gym", "tags"));
	char *s = json_dumps(json_object_get(r, "tags"), JSON_COMPACT);
	assert_string_equal(s, "[\"project-apollo\",\"health\",\"work\"]");
	free(s);
	json_decref(r);
	/* The vocabulary is read again each time: a tag learned in between counts. */
	json_decref(creating(v, "m4", json_pack("{s:s, s:[s]}", "content", "y", "tags", "garden")));
	r = creating(v, "m5", json_pack("{s:s}", "content", "Garden work: weeding"));
	s = json_dumps(json_object_get(r, "tags"), JSON_COMPACT);
	assert_string_equal(s, "[\"garden\"]");
	free(s);
	json_decref(r);
	/* Nothing matches: no tags added. */
	r = creating(v, "m3", json_pack("{s:s, s:[]}", "content", "quiet day", "tags"));
	assert_true(json_is_null(r));
	json_decref(r);
	assert_int_equal(json_array_size(json_object_get(json_object_get(v->f.mems, "m3"), "tags")), 0);
	/* A tag the memory has is not added again; words found twice count
	 * once; the next memory starts from no words (the plugin reuses its
	 * word table between calls). */
	r = creating(v, "m6", json_pack("{s:s, s:[s]}", "content", "gym, gym and the garden", "tags", "health"));
	s = json_dumps(json_object_get(r, "tags"), JSON_COMPACT);
	assert_string_equal(s, "[\"garden\"]");
	free(s);
	json_decref(r);
	r = creating(v, "m7", json_pack("{s:s}", "content", "nothing of the kind"));
	assert_true(json_is_null(r));
	json_decref(r);
	done(v);
	/* max_tags bounds what one memory gets. */
	settings = json_pack("{s:s, s:i}", "rules", "a: gym; b: gym; c: gym", "max_tags", 2);
	v = install("auto-tagger", settings);
	json_decref(settings);
	r = creating(v, "m1", json_pack("{s:s}", "content", "gym"));
	s = json_dumps(json_object_get(r, "tags"), JSON_COMPACT);
	assert_string_equal(s, "[\"a\",\"b\"]");
	free(s);
	json_decref(r);
	done(v);
}

static void test_task_extractor(void **state)
{
	(void)state;
	struct env *v = install("task-extractor", NULL);
	json_t *r = created(v, "m1", json_pack("{s:s, s:s}", "type", "note", "content",
					       "Lovely call with mum. I need to book the flights by 2026-12-20! "
					       "Remember to call the plumber tomorrow.\nThe weather was nice."));
	json_t *made = json_object_get(r, "created");
	assert_int_equal(json_array_size(made), 2);
	json_t *t1 = json_object_get(v->f.mems, json_string_value(json_array_get(made, 0)));
	assert_string_equal(json_string_value(json_object_get(t1, "type")), "action");
	assert_string_equal(json_string_value(json_object_get(t1, "content")), "I need to book the flights by 2026-12-20");
	assert_string_equal(json_string_value(json_object_get(t1, "parent_memory_id")), "m1");
	assert_string_equal(json_string_value(json_object_get(json_object_get(t1, "metadata"), "due_date")), "2026-12-20");
	json_t *t2 = json_object_get(v->f.mems, json_string_value(json_array_get(made, 1)));
	assert_non_null(json_object_get(json_object_get(t2, "metadata"), "due_date"));
	json_decref(r);
	/* Its own action memories are not mined again. */
	r = created(v, "m9", json_pack("{s:s, s:s}", "type", "action", "content", "I need to do it"));
	assert_true(json_is_null(r));
	json_decref(r);
	done(v);
}

static json_t *action(struct env *v, const char *name, json_t *params)
{
	json_t *ev = json_pack("{s:s, s:o}", "action", name, "params", params);
	json_t *r = NULL;
	struct pos_sandbox_status st;
	if (pos_sandbox_call(v->sb, "on_user_action", ev, &r, &st))
		fail_msg("on_user_action: %s", st.message);
	json_decref(ev);
	return r;
}

static void test_link_preview(void **state)
{
	(void)state;
	json_t *settings = json_pack("{s:s}", "site1", "http://127.0.0.1:8997");
	struct env *v = install("link-preview", settings);
	json_decref(settings);
	json_decref(created(v, "m1", json_pack("{s:s}", "content",
					       "read http://127.0.0.1:8997/page, and https://evil.example/x.")));
	json_t *links = json_object_get(json_object_get(json_object_get(v->f.mems, "m1"), "metadata"), "links");
	assert_int_equal(json_array_size(links), 2);
	json_t *l0 = json_array_get(links, 0);
	assert_string_equal(json_string_value(json_object_get(l0, "url")), "http://127.0.0.1:8997/page");
	assert_string_equal(json_string_value(json_object_get(l0, "title")), "A page & more");
	assert_string_equal(json_string_value(json_object_get(l0, "description")), "What the page is about");
	json_t *l1 = json_array_get(links, 1);
	assert_non_null(strstr(json_string_value(json_object_get(l1, "error")), "does not declare"));
	assert_int_equal(json_array_size(v->f.urls), 1); /* the undeclared host never reached the host */
	/* No links: nothing changes. */
	json_decref(created(v, "m2", json_pack("{s:s}", "content", "no links here")));
	assert_null(json_object_get(json_object_get(v->f.mems, "m2"), "metadata"));
	done(v);
}

static void test_daily_digest(void **state)
{
	(void)state;
	struct env *v = install("daily-digest", NULL);
	json_object_set_new(v->f.mems, "a", json_pack("{s:s, s:s, s:s, s:s, s:[s]}", "id", "a", "content",
						      "Ran 5 km\nfelt great", "type", "note", "created_at",
						      "2026-12-06T07:00:00Z", "tags", "health"));
	json_object_set_new(v->f.mems, "b", json_pack("{s:s, s:s, s:s, s:s, s:[s]}", "id", "b", "content",
						      "Call the bank", "type", "action", "created_at",
						      "2026-12-06T15:00:00Z", "tags", "health"));
	json_object_set_new(v->f.mems, "c", json_pack("{s:s, s:s, s:s, s:s, s:[]}", "id", "c", "content",
						      "another day", "type", "note", "created_at",
						      "2026-12-05T15:00:00Z", "tags"));
	json_t *r = action(v, "digest", json_pack("{s:s}", "date", "2026-12-06"));
	assert_int_equal(json_integer_value(json_object_get(r, "count")), 2);
	json_t *note = json_object_get(v->f.mems, json_string_value(json_object_get(r, "created")));
	assert_non_null(note);
	const char *text = json_string_value(json_object_get(note, "content"));
	assert_non_null(strstr(text, "Digest of 2026-12-06: 2 memories (1 action, 1 note)."));
	assert_non_null(strstr(text, "Top tags: health."));
	assert_non_null(strstr(text, "- Ran 5 km"));
	assert_null(strstr(text, "felt great"));
	assert_null(strstr(text, "another day"));
	assert_string_equal(json_string_value(json_array_get(json_object_get(note, "tags"), 0)), "digest");
	json_decref(r);
	/* A bad date is the plugin's error, not a crash. */
	json_t *ev = json_pack("{s:s, s:{s:s}}", "action", "digest", "params", "date", "yesterday-ish");
	struct pos_sandbox_status st;
	assert_int_equal(pos_sandbox_call(v->sb, "on_user_action", ev, NULL, &st), POS_ERR_INVALID_REQUEST);
	assert_non_null(strstr(st.message, "YYYY-MM-DD"));
	json_decref(ev);
	done(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_manifests),   cmocka_unit_test(test_settings_checked),
		cmocka_unit_test(test_weather),     cmocka_unit_test(test_auto_tagger),
		cmocka_unit_test(test_task_extractor), cmocka_unit_test(test_link_preview),
		cmocka_unit_test(test_daily_digest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
