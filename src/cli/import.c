/*
 * import.c — `personalos import mbox|maildir|ics|markdown PATH`.
 *
 * Two ways, the same result:
 *  - against the data directory (default): opens the store, finds or makes
 *    the user's source of that kind for PATH (manual only, interval 0) and
 *    runs it here with the sync framework, so a second import of the same
 *    path is incremental and never duplicates. Embeddings are made by the
 *    server's background worker when it next runs.
 *  - against a running server (--server URL --token TOKEN): the same source
 *    through the API (POST /api/sync/sources, POST /api/sync/start), then
 *    GET /api/sync/status until the run is done. PATH must be readable by
 *    the server's process.
 * A progress bar is drawn on a terminal; a summary is printed at the end.
 */
#include "cli/cli.h"

#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/log.h"
#include "crypto/crypto.h"
#include "export/reader.h"
#include "net/http.h"
#include "store/store.h"
#include "store/open.h"
#include "sync/sync.h"

static const struct {
	const char *what, *kind;
} kinds[] = {
	{"mbox", "mbox"}, {"maildir", "maildir"}, {"ics", "ics_file"}, {"markdown", "markdown_dir"},
};

struct bar {
	bool tty;
	uint64_t last_done;
};

static void draw(void *ctx, uint64_t done, uint64_t total)
{
	struct bar *b = ctx;
	if (!b->tty || (done == b->last_done && done))
		return;
	b->last_done = done;
	if (total) {
		int w = 30, fill = (int)(done * (uint64_t)w / (total ? total : 1));
		if (fill > w)
			fill = w;
		fprintf(stderr, "\r[%.*s%*s] %llu/%llu", fill, "##############################",
			w - fill, "", (unsigned long long)done, (unsigned long long)total);
	} else {
		fprintf(stderr, "\r%llu items", (unsigned long long)done);
	}
	fflush(stderr);
}

static void summary(const char *path, const struct pos_sync_report *r)
{
	printf("imported %s: %lld added, %lld updated, %lld unchanged, %lld removed, "
	       "%lld skipped in %.1f s\n",
	       path, (long long)r->added, (long long)r->updated, (long long)r->unchanged,
	       (long long)r->removed, (long long)r->skipped, (double)r->duration_us / 1e6);
	if (r->first_skip[0])
		printf("first skipped: %s\n", r->first_skip);
}

static int import_local(const struct pos_config *cfg, const char *kind, const char *path,
			const char *email)
{
	struct pos_error err;
	pos_error_clear(&err);
	struct pos_store *st = NULL;
	if (pos_crypto_init() || pos_store_open(cfg, &st, &err)) {
		fprintf(stderr, "personalos: %s\n", err.message[0] ? err.message : "cannot start");
		return 1;
	}
	int status = 1;
	struct pos_arena *a = pos_arena_new();
	struct pos_memsvc mem = {st, NULL};
	struct pos_sync *sync = NULL;
	struct pos_user u;
	if (!a)
		goto out;
	if (email) {
		char low[320];
		size_t n = strlen(email);
		if (n >= sizeof(low)) {
			fprintf(stderr, "personalos: no such user\n");
			goto out;
		}
		for (size_t i = 0; i <= n; i++)
			low[i] = (char)((email[i] >= 'A' && email[i] <= 'Z') ? email[i] + 32 : email[i]);
		if (st->accounts->user_by_email(st, a, low, &u)) {
			fprintf(stderr, "personalos: no user %s in %s\n", email, cfg->data_dir);
			goto out;
		}
	} else {
		struct pos_user *all;
		size_t n;
		if (st->accounts->user_list(st, a, &all, &n) || n != 1) {
			fprintf(stderr, "personalos: say which account with --user EMAIL\n");
			goto out;
		}
		u = all[0];
	}
	if (pos_sync_new(st, &mem, false, &sync, &err) ||
	    pos_sync_set_egress(sync, cfg->egress_allow, &err)) {
		fprintf(stderr, "personalos: %s\n", err.message);
		goto out;
	}
	pos_sync_set_operator(sync, true); /* the operator reads any path */
	struct pos_sync_source src;
	if (pos_sync_source_find_path(sync, a, u.id, kind, path, &src)) {
		json_t *body = json_pack("{s:s,s:s,s:{s:s},s:i}", "kind", kind, "name", path,
					 "config", "path", path, "interval_s", 0);
		enum pos_err rc = pos_sync_source_create(sync, a, u.id, body, false, &src, &err);
		json_decref(body);
		if (rc) {
			fprintf(stderr, "personalos: %s\n", err.message);
			goto out;
		}
	}
	struct bar b = {isatty(2) != 0, 0};
	struct pos_sync_report rep;
	enum pos_err rc = pos_sync_run_now(sync, u.id, src.id, draw, &b, &rep, &err);
	if (b.tty)
		fputc('\n', stderr);
	summary(path, &rep);
	if (rc) {
		fprintf(stderr, "personalos: import failed: %s\n", rep.error[0] ? rep.error : err.message);
		goto out;
	}
	status = 0;
out:
	pos_sync_free(sync);
	pos_arena_destroy(a);
	pos_store_close(st);
	return status;
}

/* ---- through a running server ---- */

/* One API call; *out the parsed JSON answer (or NULL). Returns the status,
 * 0 when the server could not be reached. The
 * server is the operator's own: POS_NET_OPERATOR. */
static long call(struct pos_http_pool *pool, const char *base, const char *token,
		 const char *method, const char *path, const json_t *body, json_t **out)
{
	char url[2048], auth[1024];
	snprintf(url, sizeof(url), "%s%s", base, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	const char *hdrs[] = {auth, "Content-Type: application/json", NULL};
	char *data = body ? json_dumps(body, JSON_COMPACT) : NULL;
	struct pos_http_req req = {
		.method = method, .url = url, .headers = hdrs,
		.body = data, .body_len = data ? strlen(data) : 0,
		.trust = POS_NET_OPERATOR,
		.timeout_ms = 60000, .max_bytes = 64u << 20,
	};
	struct pos_http_resp resp;
	struct pos_error err = {0};
	long status = 0;
	if (pos_http_perform(pool, &req, &resp, &err) == POS_OK)
		status = resp.status;
	*out = status && resp.body.len ? json_loadb(resp.body.data, resp.body.len, 0, NULL)
				       : NULL;
	free(data);
	pos_http_resp_free(&resp);
	return status;
}

static int import_remote(const char *server, const char *token, const char *kind,
			 const char *path)
{
	struct pos_http_pool *h = pos_http_pool_new(1); /* one kept-alive connection */
	if (!h)
		return 1;
	int status = 1;
	json_t *ans = NULL, *src = NULL;
	char base[1024];
	snprintf(base, sizeof(base), "%s", server);
	size_t bl = strlen(base);
	while (bl && base[bl - 1] == '/')
		base[--bl] = '\0';
	long st = call(h, base, token, "GET", "/api/sync/sources", NULL, &ans);
	if (st != 200) {
		fprintf(stderr, "personalos: %s answered %ld to GET /api/sync/sources\n", base, st);
		goto out;
	}
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(ans, "sources"), i, s) {
		const char *p = json_string_value(json_object_get(json_object_get(s, "config"), "path"));
		const char *k = json_string_value(json_object_get(s, "kind"));
		if (p && k && !strcmp(p, path) && !strcmp(k, kind)) {
			src = json_incref(s);
			break;
		}
	}
	json_decref(ans);
	ans = NULL;
	if (!src) {
		json_t *body = json_pack("{s:s,s:s,s:{s:s},s:i}", "kind", kind, "name", path,
					 "config", "path", path, "interval_s", 0);
		st = call(h, base, token, "POST", "/api/sync/sources", body, &src);
		json_decref(body);
		if (st != 201) {
			const char *m = json_string_value(
				json_object_get(json_object_get(src, "error"), "message"));
			fprintf(stderr, "personalos: cannot create the source (%ld): %s\n", st,
				m ? m : "no answer");
			goto out;
		}
	}
	const char *sid = json_string_value(json_object_get(src, "id"));
	json_t *body = json_pack("{s:s}", "source_id", sid ? sid : "");
	st = call(h, base, token, "POST", "/api/sync/start", body, &ans);
	json_decref(body);
	if (st != 202) {
		fprintf(stderr, "personalos: cannot start the import (%ld)\n", st);
		goto out;
	}
	char job[64];
	snprintf(job, sizeof(job), "%s", json_string_value(json_object_get(ans, "job_id")));
	json_decref(ans);
	ans = NULL;
	struct bar b = {isatty(2) != 0, 0};
	for (;;) {
		usleep(200 * 1000);
		json_decref(ans);
		ans = NULL;
		if (call(h, base, token, "GET", "/api/sync/status", NULL, &ans) != 200)
			continue;
		json_t *j, *found = NULL;
		json_array_foreach(json_object_get(ans, "jobs"), i, j) {
			const char *jid = json_string_value(json_object_get(j, "id"));
			if (jid && !strcmp(jid, job))
				found = j;
		}
		if (!found)
			continue;
		json_t *pg = json_object_get(found, "progress");
		draw(&b, (uint64_t)json_integer_value(json_object_get(pg, "done")),
		     (uint64_t)json_integer_value(json_object_get(pg, "total")));
		const char *state = json_string_value(json_object_get(found, "state"));
		if (!state || strcmp(state, "done"))
			continue;
		if (b.tty)
			fputc('\n', stderr);
		struct pos_sync_report r;
		memset(&r, 0, sizeof(r));
		r.added = json_integer_value(json_object_get(pg, "added"));
		r.updated = json_integer_value(json_object_get(pg, "updated"));
		r.unchanged = json_integer_value(json_object_get(pg, "unchanged"));
		r.removed = json_integer_value(json_object_get(pg, "removed"));
		r.skipped = json_integer_value(json_object_get(pg, "skipped"));
		summary(path, &r);
		const char *jst = json_string_value(json_object_get(found, "status"));
		if (jst && !strcmp(jst, "ok")) {
			status = 0;
		} else {
			const char *m = json_string_value(json_object_get(found, "error_message"));
			fprintf(stderr, "personalos: import failed: %s\n", m ? m : jst ? jst : "?");
		}
		break;
	}
out:
	json_decref(ans);
	json_decref(src);
	pos_http_pool_free(h);
	return status;
}

int pos_cli_import(int argc, char **argv)
{
	/* files go to a running server, like `add --file` (client.c) */
	if (argc > 1 && !strcmp(argv[1], "files"))
		return pos_cli_import_files(argc - 1, argv + 1);
	const char *usage = "usage: personalos import mbox|maildir|ics|markdown PATH\n"
			    "         [--data DIR] [--user EMAIL] | [--server URL --token TOKEN]\n"
			    "       personalos import [--format F] [F] FILE [--data DIR] [--user EMAIL]\n"
			    "         [--passphrase-file FILE]\n";
	struct pos_config cfg;
	int rc = pos_cli_config(&argc, argv, &cfg, usage);
	if (rc)
		return rc;
	const char *email = NULL, *server = NULL, *token = getenv("PERSONALOS_TOKEN");
	const char *format = NULL, *pfile = NULL;
	const char *pos[2] = {NULL, NULL};
	int np = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--user") && i + 1 < argc)
			email = argv[++i];
		else if (!strcmp(argv[i], "--server") && i + 1 < argc)
			server = argv[++i];
		else if (!strcmp(argv[i], "--token") && i + 1 < argc)
			token = argv[++i];
		else if (!strcmp(argv[i], "--format") && i + 1 < argc)
			format = argv[++i];
		else if (!strcmp(argv[i], "--passphrase-file") && i + 1 < argc)
			pfile = argv[++i];
		else if (argv[i][0] == '-' || np == 2) {
			fprintf(stderr, "personalos import: unexpected argument '%s'\n%s", argv[i], usage);
			return 2;
		} else {
			pos[np++] = argv[i];
		}
	}
	/* a file of an export (docs/EXPORT.md): `import FILE`, `import F FILE`
	 * (a markdown zip is a file; a markdown folder is synced below) */
	struct stat sb;
	if (!server && ((np == 1) || (np == 2 && pos_import_format_parse(pos[0]) >= 0 &&
				      (strcmp(pos[0], "markdown") || (stat(pos[1], &sb) == 0 &&
								      S_ISREG(sb.st_mode))))))
		return pos_cli_import_file(&cfg, np == 2 ? pos[0] : format, pos[np - 1], email, pfile);
	if (np != 2) {
		fputs(usage, stderr);
		return 2;
	}
	const char *kind = NULL;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(kinds[i].what, pos[0]))
			kind = kinds[i].kind;
	if (!kind) {
		fprintf(stderr, "personalos import: unknown kind '%s'\n%s", pos[0], usage);
		return 2;
	}
	if (server) {
		if (!token) {
			fprintf(stderr, "personalos import: --server needs --token (or PERSONALOS_TOKEN)\n");
			return 2;
		}
		curl_global_init(CURL_GLOBAL_DEFAULT);
		/* an API user's path: relative to their folder on the server */
		int r = import_remote(server, token, kind, pos[1]);
		curl_global_cleanup();
		return r;
	}
	if (!pos_sync_adapter_find(kind)) {
		fprintf(stderr, "personalos import: %s import is not available in this build\n",
			pos[0]);
		return 1;
	}
	char abs[PATH_MAX];
	if (!realpath(pos[1], abs)) {
		fprintf(stderr, "personalos import: cannot find %s\n", pos[1]);
		return 1;
	}
	return import_local(&cfg, kind, abs, email);
}
