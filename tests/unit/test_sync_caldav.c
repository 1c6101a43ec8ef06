/*
 * Unit tests for the caldav and ics_url adapters against a real Radicale
 * (Debian package `radicale`), started here on 127.0.0.1 and a free port
 * with its storage and an htpasswd file (plain) in a temp dir, and stopped
 * at the end. The test makes calendars (MKCALENDAR) and PUTs, changes and
 * DELETEs events over HTTP, runs the adapters through a recording sink in
 * both modes (sync-token and ETag), and checks a wrong password, an
 * unreachable server and an answer that is not iCalendar/WebDAV. Radicale
 * is on loopback: the sinks carry an egress policy allowing exactly its
 * port (net/egress.h), and without it the adapters are refused before
 * connecting. Skips itself when Radicale is not installed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sync/adapter.h"
#include "net/egress.h"
#include "sync/fetch.h"
#include "sync_recorder.h"

extern char **environ;

static char dir[512];
static char base[128];
static int port;
static struct pos_egress *radicale_only; /* egress_allow = 127.0.0.1:PORT */
static struct pos_sync_sink policy_sink;  /* carries it for pos_fetch */
static pid_t radicale = -1;

static int free_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(a);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) || getsockname(s, (struct sockaddr *)&a, &l))
		return -1;
	close(s);
	return ntohs(a.sin_port);
}

static bool port_open(int p)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	bool ok = s >= 0 && connect(s, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (s >= 0)
		close(s);
	return ok;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int start_radicale(void **state)
{
	(void)state;
	const char *t = getenv("POS_TEST_TMP");
	char p[700], cfg[2048];
	/* The Debian package's launcher: it names the system Python that has
	 * the module (a python3 earlier in PATH may not). */
	if (system("command -v radicale >/dev/null 2>&1") != 0)
		return 0; /* tests skip themselves */
	snprintf(dir, sizeof(dir), "%s/sync_caldav.%d", t ? t : "/tmp", (int)getpid());
	mkdir(t ? t : "/tmp", 0700);
	mkdir(dir, 0700);
	port = free_port();
	if (port <= 0)
		return -1;
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
	char allow[64];
	struct pos_error perr;
	snprintf(allow, sizeof(allow), "127.0.0.1:%d", port);
	if (pos_egress_new(allow, &radicale_only, &perr))
		return -1;
	policy_sink.egress = radicale_only;
	snprintf(p, sizeof(p), "%s/users", dir);
	write_file(p, "alice:secret\n");
	snprintf(cfg, sizeof(cfg),
		 "[server]\nhosts = 127.0.0.1:%d\n"
		 "[auth]\ntype = htpasswd\nhtpasswd_filename = %s/users\n"
		 "htpasswd_encryption = plain\ndelay = 0\n"
		 "[storage]\nfilesystem_folder = %s/collections\n"
		 "[rights]\ntype = owner_only\n"
		 "[logging]\nlevel = warning\n",
		 port, dir, dir);
	snprintf(p, sizeof(p), "%s/config", dir);
	write_file(p, cfg);

	char logp[700];
	snprintf(logp, sizeof(logp), "%s/radicale.log", dir);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, logp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	char *argv[] = {"radicale", "--config", p, NULL};
	int rc = posix_spawnp(&radicale, "radicale", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		return -1;
	for (int i = 0; i < 300; i++) {
		if (port_open(port))
			return 0;
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "radicale did not start; see %s\n", logp);
	return -1;
}

static int stop_radicale(void **state)
{
	(void)state;
	char cmd[700];
	pos_egress_free(radicale_only);
	radicale_only = NULL;
	if (radicale > 0) {
		/* Radicale waits for its worker threads on SIGTERM; a worker
		 * stuck on a slow (sanitized) peer must not hang the suite, so
		 * the stop is bounded: 10 s, then SIGKILL. */
		kill(radicale, SIGTERM);
		int i = 0;
		while (waitpid(radicale, NULL, WNOHANG) == 0) {
			if (++i == 100) {
				fprintf(stderr, "radicale ignored SIGTERM for 10 s; killing it\n");
				kill(radicale, SIGKILL);
				waitpid(radicale, NULL, 0);
				break;
			}
			struct timespec ts = {0, 100 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
		radicale = -1;
	}
	if (dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			return -1;
	}
	return 0;
}

static void need_radicale(void)
{
	if (radicale <= 0) {
		print_message("SKIP: radicale is not installed (Debian package radicale)\n");
		skip();
	}
}

/* One request as alice; returns the HTTP status. */
static long http(const char *method, const char *path, const char *ctype,
		 const char *body)
{
	char url[600], ct[128];
	struct pos_fetch_resp resp;
	struct pos_error err;
	snprintf(url, sizeof(url), "%s%s", base, path);
	snprintf(ct, sizeof(ct), "Content-Type: %s", ctype ? ctype : "text/plain");
	const char *hdr[] = {ct, NULL};
	struct pos_fetch_req req = {.method = method, .url = url, .user = "alice",
				    .password = "secret", .headers = hdr, .body = body,
				    .body_len = body ? strlen(body) : 0, .sink = &policy_sink};
	assert_int_equal(pos_fetch(&req, &resp, &err), POS_OK);
	long st = resp.status;
	pos_fetch_resp_free(&resp);
	return st;
}

static void put_event(const char *path, const char *uid, const char *start,
		      const char *summary, const char *extra)
{
	char ics[2048];
	snprintf(ics, sizeof(ics),
		 "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
		 "BEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20260101T000000Z\r\n"
		 "DTSTART:%s\r\nDURATION:PT1H\r\nSUMMARY:%s\r\n%sEND:VEVENT\r\n"
		 "END:VCALENDAR\r\n",
		 uid, start, summary, extra ? extra : "");
	long st = http("PUT", path, "text/calendar; charset=utf-8", ics);
	assert_true(st == 201 || st == 204);
}

static const char MKCAL[] =
	"<?xml version=\"1.0\" encoding=\"utf-8\"?>"
	"<C:mkcalendar xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\">"
	"<D:set><D:prop><D:displayname>%s</D:displayname></D:prop></D:set></C:mkcalendar>";

static void mkcal(const char *path, const char *name)
{
	char body[512];
	snprintf(body, sizeof(body), MKCAL, name);
	assert_int_equal(http("MKCALENDAR", path, "application/xml", body), 201);
}

static json_t *config(const char *url, const char *password)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "url", url, "user", "alice",
			 "password", password, "expand_from", "2026-01-01T00:00:00Z",
			 "expand_until", "2026-12-31T00:00:00Z");
}

static void run_ok(const struct pos_sync_adapter *a, json_t *cfg, json_t **cursor,
		   struct recorder *r)
{
	struct pos_error err;
	json_t *next = NULL;
	pos_error_clear(&err);
	rec_new_run(r);
	enum pos_err rc = a->run(cfg, *cursor, &next, &r->sink, &err);
	if (rc)
		print_message("run failed: %s\n", err.message);
	assert_int_equal(rc, POS_OK);
	assert_non_null(next);
	json_decref(*cursor);
	*cursor = next;
}

static void scenario(bool use_sync, const char *a, const char *b)
{
	struct recorder r;
	struct pos_error err;
	json_t *cur = NULL;
	char path[256], url[300], id[128];

	snprintf(path, sizeof(path), "/alice/%s/", a);
	mkcal(path, a);
	snprintf(path, sizeof(path), "/alice/%s/", b);
	mkcal(path, b);
	snprintf(path, sizeof(path), "/alice/%s/one.ics", a);
	put_event(path, a, "20260310T090000Z", "Planning", NULL);
	snprintf(path, sizeof(path), "/alice/%s/series.ics", a);
	snprintf(id, sizeof(id), "%s-series", a);
	put_event(path, id, "20260302T080000Z", "Weekly sync", "RRULE:FREQ=WEEKLY;COUNT=4\r\n");
	snprintf(path, sizeof(path), "/alice/%s/other.ics", b);
	snprintf(id, sizeof(id), "%s-other", b);
	put_event(path, id, "20260401T120000Z", "Lunch", NULL);

	snprintf(url, sizeof(url), "%s/", base);
	json_t *cfg = config(url, "secret");
	if (!use_sync)
		json_object_set_new(cfg, "use_sync_token", json_false());
	json_object_set_new(cfg, "calendars", json_pack("[s, s]", a, b));
	assert_int_equal(pos_sync_caldav.validate(cfg, &err), POS_OK);
	rec_init(&r);
	r.sink.egress = radicale_only;

	/* First run: discovery, both calendars, the series expanded. */
	run_ok(&pos_sync_caldav, cfg, &cur, &r);
	assert_int_equal(json_object_size(r.items), 1 + 4 + 1);
	assert_non_null(json_object_get(r.items, a));
	snprintf(id, sizeof(id), "%s-series#2026-03-16T08:00:00Z", a);
	assert_non_null(json_object_get(r.items, id));
	assert_non_null(strstr(rec_content(&r, a), "Event: Planning"));
	snprintf(path, sizeof(path), "/alice/%s/", a);
	json_t *c = json_object_get(json_object_get(cur, "calendars"), path);
	assert_non_null(c);
	if (use_sync)
		assert_non_null(json_string_value(json_object_get(c, "sync_token")));
	assert_int_equal(json_object_size(json_object_get(c, "etags")), 2);

	/* Nothing changed: nothing upserted, nothing removed. */
	run_ok(&pos_sync_caldav, cfg, &cur, &r);
	assert_int_equal(r.upserts, 0);
	assert_int_equal(r.removes, 0);
	assert_int_equal(json_object_size(r.items), 6);

	/* Change one, add one, delete one, drop an instance of the series. */
	snprintf(path, sizeof(path), "/alice/%s/one.ics", a);
	put_event(path, a, "20260311T090000Z", "Planning (moved)", NULL);
	snprintf(path, sizeof(path), "/alice/%s/two.ics", a);
	snprintf(id, sizeof(id), "%s-two", a);
	put_event(path, id, "20260601T100000Z", "Review", NULL);
	snprintf(path, sizeof(path), "/alice/%s/other.ics", b);
	assert_int_equal(http("DELETE", path, NULL, NULL), 200);
	snprintf(path, sizeof(path), "/alice/%s/series.ics", a);
	snprintf(id, sizeof(id), "%s-series", a);
	put_event(path, id, "20260302T080000Z", "Weekly sync",
		  "RRULE:FREQ=WEEKLY;COUNT=4\r\nEXDATE:20260309T080000Z\r\n");
	run_ok(&pos_sync_caldav, cfg, &cur, &r);
	assert_non_null(strstr(rec_content(&r, a), "(moved)"));
	snprintf(id, sizeof(id), "%s-two", a);
	assert_non_null(json_object_get(r.items, id));
	snprintf(id, sizeof(id), "%s-other", b);
	assert_null(json_object_get(r.items, id));
	snprintf(id, sizeof(id), "%s-series#2026-03-09T08:00:00Z", a);
	assert_null(json_object_get(r.items, id));
	assert_int_equal(json_object_size(r.items), 1 + 1 + 3);
	assert_int_equal(r.removes, 2); /* the deleted event, the excluded instance */
	assert_int_equal(r.upserts, 1 + 1 + 3); /* one, two, the series again */

	/* Wrong password: a clear auth error, nothing lost, cursor kept. */
	json_t *bad = json_deep_copy(cfg);
	json_object_set_new(bad, "password", json_string("wrong"));
	json_t *next = NULL;
	rec_new_run(&r);
	assert_int_equal(pos_sync_caldav.run(bad, cur, &next, &r.sink, &err), POS_ERR_BAD_CREDENTIALS);
	assert_non_null(strstr(err.message, "authentication failed"));
	assert_null(strstr(err.message, "wrong"));
	assert_null(next);
	assert_int_equal(json_object_size(r.items), 5);
	json_decref(bad);

	/* Only calendar b chosen now: a's events go. */
	json_object_set_new(cfg, "calendars", json_pack("[s]", b));
	run_ok(&pos_sync_caldav, cfg, &cur, &r);
	assert_int_equal(json_object_size(r.items), 0);

	json_decref(cfg);
	json_decref(cur);
	rec_free(&r);
}

static void test_caldav_sync_token(void **state)
{
	(void)state;
	need_radicale();
	scenario(true, "work", "home");
}

static void test_caldav_etags(void **state)
{
	(void)state;
	need_radicale();
	scenario(false, "etag-work", "etag-home");
}

/* The URL of one calendar works too (no discovery). */
static void test_caldav_calendar_url(void **state)
{
	(void)state;
	need_radicale();
	struct recorder r;
	json_t *cur = NULL;
	char url[300];
	mkcal("/alice/direct/", "Direct");
	put_event("/alice/direct/x.ics", "direct-x", "20260505T050000Z", "Direct", NULL);
	snprintf(url, sizeof(url), "%s/alice/direct/", base);
	json_t *cfg = config(url, "secret");
	rec_init(&r);
	r.sink.egress = radicale_only;
	run_ok(&pos_sync_caldav, cfg, &cur, &r);
	assert_int_equal(json_object_size(r.items), 1);
	assert_string_equal(rec_meta(&r, "direct-x", "start_time"), "2026-05-05T05:00:00Z");
	json_decref(cfg);
	json_decref(cur);
	rec_free(&r);
}

/* ics_url: Radicale serves a calendar collection as one iCalendar file. */
static void test_ics_url(void **state)
{
	(void)state;
	need_radicale();
	struct recorder r;
	struct pos_error err;
	json_t *cur = NULL, *next = NULL;
	char url[300];
	mkcal("/alice/feed/", "Feed");
	put_event("/alice/feed/1.ics", "feed-1", "20260201T100000Z", "First", NULL);
	put_event("/alice/feed/2.ics", "feed-2", "20260202T100000Z", "Second", NULL);
	snprintf(url, sizeof(url), "%s/alice/feed/", base);
	json_t *cfg = config(url, "secret");
	rec_init(&r);
	r.sink.egress = radicale_only;
	run_ok(&pos_sync_ics_url, cfg, &cur, &r);
	assert_int_equal(json_object_size(r.items), 2);
	assert_int_equal(r.completes, 1);

	run_ok(&pos_sync_ics_url, cfg, &cur, &r);
	assert_int_equal(r.upserts, 0); /* 304 or the same hash */

	assert_int_equal(http("DELETE", "/alice/feed/2.ics", NULL, NULL), 200);
	run_ok(&pos_sync_ics_url, cfg, &cur, &r);
	assert_int_equal(json_object_size(r.items), 1);
	assert_null(json_object_get(r.items, "feed-2"));

	json_object_set_new(cfg, "password", json_string("nope"));
	rec_new_run(&r);
	assert_int_equal(pos_sync_ics_url.run(cfg, cur, &next, &r.sink, &err), POS_ERR_BAD_CREDENTIALS);
	assert_int_equal(json_object_size(r.items), 1);

	/* Radicale's web page is not a calendar: garbage, not a crash. */
	snprintf(url, sizeof(url), "%s/.web/", base);
	json_object_set_new(cfg, "url", json_string(url));
	json_object_set_new(cfg, "password", json_string("secret"));
	assert_int_equal(pos_sync_ics_url.run(cfg, NULL, &next, &r.sink, &err), POS_ERR_BAD_GATEWAY);
	/* ... and no CalDAV collection either (Radicale forbids PROPFIND). */
	assert_int_equal(pos_sync_caldav.run(cfg, NULL, &next, &r.sink, &err), POS_ERR_FORBIDDEN);
	assert_null(next);
	json_decref(cfg);
	json_decref(cur);
	rec_free(&r);
}

static void test_unreachable_and_validate(void **state)
{
	(void)state;
	struct recorder r;
	struct pos_error err;
	json_t *next = NULL;
	char url[100];
	int p = free_port();
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", p);
	json_t *cfg = config(url, "x");
	rec_init(&r);
	r.sink.egress = radicale_only;
	/* Without the port in the allowlist: refused before connecting. */
	assert_int_equal(pos_sync_caldav.run(cfg, NULL, &next, &r.sink, &err), POS_ERR_FORBIDDEN);
	assert_non_null(strstr(err.message, "egress policy"));
	assert_int_equal(pos_sync_ics_url.run(cfg, NULL, &next, &r.sink, &err), POS_ERR_FORBIDDEN);
	/* Allowed but nobody listening: could not connect. */
	struct pos_egress *any_loopback;
	assert_int_equal(pos_egress_new("127.0.0.0/8", &any_loopback, &err), POS_OK);
	r.sink.egress = any_loopback;
	assert_int_equal(pos_sync_caldav.run(cfg, NULL, &next, &r.sink, &err), POS_ERR_UNAVAILABLE);
	assert_non_null(strstr(err.message, "could not connect to 127.0.0.1"));
	assert_int_equal(pos_sync_ics_url.run(cfg, NULL, &next, &r.sink, &err), POS_ERR_UNAVAILABLE);
	pos_egress_free(any_loopback);
	assert_null(next);
	json_decref(cfg);
	rec_free(&r);

	const char *bad[][2] = {
		{"{}", "url"},
		{"{\"url\": \"file:///etc/passwd\"}", "url"},
		{"{\"url\": \"https://x/\", \"user\": 1}", "user"},
		{"{\"url\": \"https://x/\", \"calendars\": \"work\"}", "calendars"},
		{"{\"url\": \"https://x/\", \"calendars\": [\"\"]}", "calendars"},
		{"{\"url\": \"https://x/\", \"use_sync_token\": 1}", "use_sync_token"},
		{"{\"url\": \"https://x/\", \"expand_past_days\": 5000}", "expand_past_days"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *c = json_loads(bad[i][0], 0, NULL);
		assert_int_equal(pos_sync_caldav.validate(c, &err), POS_ERR_INVALID_FIELD);
		assert_string_equal(err.field + 7, bad[i][1]);
		assert_true(strncmp(err.field, "config.", 7) == 0);
		json_decref(c);
	}
	assert_string_equal(pos_sync_caldav.secret_keys[0], "password");
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_caldav_sync_token),
		cmocka_unit_test(test_caldav_etags),
		cmocka_unit_test(test_caldav_calendar_url),
		cmocka_unit_test(test_ics_url),
		cmocka_unit_test(test_unreachable_and_validate),
	};
	int rc = cmocka_run_group_tests(tests, start_radicale, stop_radicale);
	curl_global_cleanup();
	return rc;
}
