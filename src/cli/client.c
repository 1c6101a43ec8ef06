/*
 * client.c — the commands that talk to a running server: add, search,
 * chat, login and mcp (the stdio transport of the Model Context Protocol,
 * docs/MCP.md). Every request goes through net/http with operator trust
 * (the server the user names is theirs).
 *
 * Where the server and token come from, first found wins: --server and
 * --token, PERSONALOS_URL and PERSONALOS_TOKEN, the file `personalos login`
 * writes ($XDG_CONFIG_HOME/personalos/client.conf, else
 * ~/.config/personalos/client.conf, mode 0600), then http://127.0.0.1:8420.
 */
#include "cli/cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/json.h"
#include "crypto/crypto.h"
#include "net/http.h"

#define DEFAULT_URL "http://127.0.0.1:8420"
#define TOKEN_MAX 512
#define LINE_MAX_BYTES (8u << 20)     /* one MCP message or stdin note */
#define CHAT_TIMEOUT_MS (10 * 60 * 1000)

struct client {
	char url[POS_HTTP_URL_MAX];
	char token[TOKEN_MAX];
};

/* ---- where the server is ---- */

static int conf_path(char *out, size_t n)
{
	const char *x = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	int k;
	if (x && *x)
		k = snprintf(out, n, "%s/personalos/client.conf", x);
	else if (home && *home)
		k = snprintf(out, n, "%s/.config/personalos/client.conf", home);
	else
		return -1;
	return k > 0 && (size_t)k < n ? 0 : -1;
}

static void set(char *dst, size_t n, const char *v)
{
	snprintf(dst, n, "%s", v);
}

/* Reads `url = ...` and `token = ...` lines of the login file, if any. */
static void conf_read(struct client *c, bool want_url, bool want_token)
{
	char path[4096], line[1024];
	if (conf_path(path, sizeof(path)))
		return;
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		char *eq = strchr(line, '=');
		if (!eq)
			continue;
		char *k = line, *v = eq + 1;
		*eq = '\0';
		while (*k == ' ')
			k++;
		for (char *e = eq - 1; e >= k && *e == ' '; e--)
			*e = '\0';
		while (*v == ' ')
			v++;
		if (want_url && !strcmp(k, "url"))
			set(c->url, sizeof(c->url), v);
		else if (want_token && !strcmp(k, "token"))
			set(c->token, sizeof(c->token), v);
	}
	fclose(f);
}

/* Takes --name VALUE / --name=VALUE at argv[*i]; NULL when not that option. */
static const char *opt(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);
	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] == '\0' && *i + 1 < argc)
		return argv[++*i];
	return NULL;
}

/*
 * Consumes --server and --token from argv and fills `c` (see the top of the
 * file). Returns 2 with a message when the URL is not http(s).
 */
static int resolve(int *argc, char **argv, struct client *c, const char *cmd)
{
	const char *server = NULL, *token = NULL;
	int out = 1;
	for (int i = 1; i < *argc; i++) {
		const char *v;
		if ((v = opt(*argc, argv, &i, "--server")))
			server = v;
		else if ((v = opt(*argc, argv, &i, "--token")))
			token = v;
		else
			argv[out++] = argv[i];
	}
	*argc = out;
	c->url[0] = c->token[0] = '\0';
	if (!server)
		server = getenv("PERSONALOS_URL");
	if (!token)
		token = getenv("PERSONALOS_TOKEN");
	if (server && *server)
		set(c->url, sizeof(c->url), server);
	if (token && *token)
		set(c->token, sizeof(c->token), token);
	conf_read(c, !c->url[0], !c->token[0]);
	if (!c->url[0])
		set(c->url, sizeof(c->url), DEFAULT_URL);
	size_t n = strlen(c->url);
	while (n > 1 && c->url[n - 1] == '/')
		c->url[--n] = '\0';
	if (!pos_http_url_ok(c->url)) {
		fprintf(stderr, "personalos %s: the server URL must be http:// or https://\n", cmd);
		return 2;
	}
	return 0;
}

/* ---- requests ---- */

struct call {
	const char *method;
	const char *path;          /* "/api/..." */
	const char *body;          /* JSON, or NULL */
	size_t body_len;
	const char *accept;        /* NULL: application/json */
	const char *const *extra;  /* more headers, or NULL */
	const char *bearer;        /* overrides the client's token; "" for none */
	const char *content_type;  /* "Content-Type: ..." of the body; NULL: JSON */
	long timeout_ms;
	bool (*on_data)(void *ctx, long status, const char *p, size_t n);
	void *ctx;
};

/* Performs a call; prints why on failure (1). `resp` is always to be freed. */
static int perform(const struct client *c, const struct call *k, struct pos_http_resp *resp,
		   const char *cmd)
{
	char url[POS_HTTP_URL_MAX + 4096];
	snprintf(url, sizeof(url), "%s%s", c->url, k->path);
	char accept[128];
	snprintf(accept, sizeof(accept), "Accept: %s", k->accept ? k->accept : "application/json");
	const char *headers[8] = {accept};
	size_t nh = 1;
	if (k->body)
		headers[nh++] = k->content_type ? k->content_type : "Content-Type: application/json";
	for (size_t i = 0; k->extra && k->extra[i] && nh < 7; i++)
		headers[nh++] = k->extra[i];
	headers[nh] = NULL;
	const char *bearer = k->bearer ? k->bearer : c->token;
	struct pos_http_req req = {
		.method = k->method,
		.url = url,
		.headers = headers,
		.body = k->body,
		.body_len = k->body_len,
		.bearer = bearer && *bearer ? bearer : NULL,
		.trust = POS_NET_OPERATOR,
		.timeout_ms = k->timeout_ms,
		.max_bytes = 64u << 20,
		.on_data = k->on_data,
		.ctx = k->ctx,
	};
	struct pos_error err;
	pos_error_clear(&err);
	memset(resp, 0, sizeof(*resp));
	if (pos_http_perform(NULL, &req, resp, &err)) {
		fprintf(stderr, "personalos %s: %s\n", cmd,
			err.message[0] ? err.message : pos_strerror(err.code));
		return 1;
	}
	return 0;
}

/* Prints the API's error body ({"error":{"code","message"}}) of a failed call. */
static void print_api_error(const struct pos_http_resp *resp, const char *cmd)
{
	json_t *j = json_loadb(resp->body.data ? resp->body.data : "", resp->body.len, 0, NULL);
	json_t *e = json_object_get(j, "error");
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *msg = json_string_value(json_object_get(e, "message"));
	if (code)
		fprintf(stderr, "personalos %s: %s (%s, HTTP %ld)\n", cmd, msg ? msg : "", code,
			resp->status);
	else
		fprintf(stderr, "personalos %s: the server answered HTTP %ld\n", cmd, resp->status);
	if (resp->status == 401)
		fprintf(stderr, "personalos %s: run `personalos login` or pass --token\n", cmd);
	json_decref(j);
}

/* A JSON call whose answer must be 2xx: the parsed body in *out (or NULL
 * for an empty body). Returns 0, or 1 having printed the problem. */
static int call_json(const struct client *c, const char *method, const char *path,
		     json_t *body, json_t **out, const char *cmd)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	if (body && !text) {
		fprintf(stderr, "personalos %s: out of memory\n", cmd);
		return 1;
	}
	struct call k = {.method = method, .path = path, .body = text,
			 .body_len = text ? strlen(text) : 0};
	struct pos_http_resp resp;
	int rc = perform(c, &k, &resp, cmd);
	free(text);
	*out = NULL;
	if (!rc && (resp.status < 200 || resp.status > 299)) {
		print_api_error(&resp, cmd);
		rc = 1;
	}
	if (!rc && resp.body.len) {
		*out = json_loadb(resp.body.data, resp.body.len, 0, NULL);
		if (!*out) {
			fprintf(stderr, "personalos %s: the server's answer is not JSON\n", cmd);
			rc = 1;
		}
	}
	pos_http_resp_free(&resp);
	return rc;
}

/* Appends s percent-encoded (RFC 3986 unreserved kept). */
static enum pos_err add_escaped(struct pos_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	enum pos_err rc = POS_OK;
	for (const unsigned char *p = (const unsigned char *)s; *p && !rc; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p))
			rc = pos_buf_addc(b, (char)*p);
		else
			rc = pos_buf_addf(b, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
	}
	return rc;
}

/* Reads all of a stream (at most `max` bytes) into b. 0, or 1 when too big. */
static int read_all(FILE *f, struct pos_buf *b)
{
	char chunk[8192];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (pos_buf_add(b, chunk, n))
			return 1;
	return 0;
}

static int usage_of(const char *usage, int code)
{
	fputs(usage, code ? stderr : stdout);
	return code;
}

/* ---- add ---- */

static const char add_usage[] =
	"usage: personalos add TEXT|- [--type TYPE] [--tags a,b] [--json]\n"
	"       personalos add --file PATH [--tags a,b] [--json]\n"
	"                      [--server URL] [--token TOKEN]\n";

/* The server extracts a file's text in a files.extract job: while the
 * memory's attachment says "pending", reads the memory again (bounded:
 * the extractor's own limit is minutes). Consumes `m`, returns the newest
 * memory seen. */
static json_t *wait_for_text(const struct client *c, json_t *m)
{
	const char *id = json_string_value(json_object_get(m, "id"));
	for (int i = 0; id && i < 3000; i++) {
		json_t *att = json_array_get(json_object_get(m, "attachments"), 0);
		const char *st = json_string_value(json_object_get(att, "text_status"));
		if (!st || strcmp(st, "pending") != 0)
			break;
		usleep(100000);
		char path[96];
		snprintf(path, sizeof(path), "/api/memories/%s", id);
		struct call k = {.method = "GET", .path = path, .timeout_ms = 30000};
		struct pos_http_resp resp;
		if (perform(c, &k, &resp, "add"))
			break;
		json_t *again = resp.status == 200
			? json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, NULL)
			: NULL;
		pos_http_resp_free(&resp);
		if (!again)
			break;
		json_decref(m);
		m = again;
		id = json_string_value(json_object_get(m, "id"));
	}
	return m;
}

/* add --file: POST /api/files with the file as the raw body (mapped, not
 * read into the heap). */
static int add_file(const struct client *c, const char *path, const char *tags, bool as_json)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "personalos add: cannot read %s: %s\n", path,
			fd < 0 ? strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		return 1;
	}
	void *map = st.st_size ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)
			       : NULL;
	close(fd);
	if (st.st_size && map == MAP_FAILED) {
		fprintf(stderr, "personalos add: cannot map %s\n", path);
		return 1;
	}
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	struct pos_buf p;
	pos_buf_init(&p, 16384);
	int rc = pos_buf_adds(&p, "/api/files?name=") || add_escaped(&p, base);
	if (!rc && tags)
		rc = pos_buf_adds(&p, "&tags=") || add_escaped(&p, tags);
	if (rc) {
		fprintf(stderr, "personalos add: the file name is too long\n");
		goto out;
	}
	struct call k = {.method = "POST", .path = p.data, .body = st.st_size ? map : "",
			 .body_len = (size_t)st.st_size,
			 .content_type = "Content-Type: application/octet-stream",
			 .timeout_ms = 600000};
	struct pos_http_resp resp;
	rc = perform(c, &k, &resp, "add");
	if (!rc && (resp.status < 200 || resp.status > 299)) {
		print_api_error(&resp, "add");
		rc = 1;
	}
	if (!rc) {
		json_t *res = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, NULL);
		res = wait_for_text(c, res);
		json_t *att = json_array_get(json_object_get(res, "attachments"), 0);
		if (as_json) {
			char *s = json_dumps(res, JSON_INDENT(2));
			puts(s ? s : "{}");
			free(s);
		} else {
			printf("added %s (%s, text: %s)\n",
			       json_string_value(json_object_get(res, "id")),
			       json_string_value(json_object_get(att, "mime")),
			       json_string_value(json_object_get(att, "text_status")));
		}
		json_decref(res);
	}
	pos_http_resp_free(&resp);
out:
	pos_buf_free(&p);
	if (st.st_size)
		munmap(map, (size_t)st.st_size);
	return rc;
}

static int run_add(int argc, char **argv)
{
	if (pos_cli_wants_help(argc, argv))
		return usage_of(add_usage, 0);
	struct client c;
	int rc = resolve(&argc, argv, &c, "add");
	if (rc)
		return rc;
	const char *text = NULL, *type = NULL, *tags = NULL, *file = NULL;
	bool as_json = false;
	for (int i = 1; i < argc; i++) {
		const char *v;
		if ((v = opt(argc, argv, &i, "--type")))
			type = v;
		else if ((v = opt(argc, argv, &i, "--file")))
			file = v;
		else if ((v = opt(argc, argv, &i, "--tags")))
			tags = v;
		else if (!strcmp(argv[i], "--json"))
			as_json = true;
		else if (argv[i][0] == '-' && argv[i][1] != '\0')
			return usage_of(add_usage, 2);
		else if (text)
			return usage_of(add_usage, 2);
		else
			text = argv[i];
	}
	if (file && !text && !type)
		return add_file(&c, file, tags, as_json);
	if (!text || file)
		return usage_of(add_usage, 2);
	struct pos_buf in;
	pos_buf_init(&in, LINE_MAX_BYTES);
	if (!strcmp(text, "-")) {
		if (read_all(stdin, &in)) {
			fprintf(stderr, "personalos add: standard input is too large\n");
			pos_buf_free(&in);
			return 1;
		}
		while (in.len && (in.data[in.len - 1] == '\n' || in.data[in.len - 1] == '\r'))
			in.len--;
	} else if (pos_buf_adds(&in, text)) {
		pos_buf_free(&in);
		return 1;
	}
	json_t *body = json_object(), *res = NULL;
	json_object_set_new(body, "content", json_stringn(in.data ? in.data : "", in.len));
	json_object_set_new(body, "source", json_string("cli"));
	if (type)
		json_object_set_new(body, "type", json_string(type));
	if (tags) {
		json_t *arr = json_array();
		char *copy = strdup(tags), *save = NULL;
		for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t;
		     t = strtok_r(NULL, ",", &save)) {
			while (*t == ' ')
				t++;
			if (*t)
				json_array_append_new(arr, json_string(t));
		}
		free(copy);
		json_object_set_new(body, "tags", arr);
	}
	pos_buf_free(&in);
	rc = call_json(&c, "POST", "/api/memories", body, &res, "add");
	if (!rc) {
		if (as_json) {
			char *s = json_dumps(res, JSON_INDENT(2));
			puts(s ? s : "{}");
			free(s);
		} else {
			printf("added %s\n", json_string_value(json_object_get(res, "id")));
		}
	}
	json_decref(body);
	json_decref(res);
	return rc;
}

/* ---- search ---- */

static const char search_usage[] =
	"usage: personalos search QUERY [--limit N] [--mode hybrid|keyword|semantic] [--json]\n"
	"                         [--server URL] [--token TOKEN]\n";

/* Prints up to `max` bytes of s on one line (newlines as spaces). */
static void print_snippet(const char *s, size_t max)
{
	size_t n = strlen(s);
	size_t cut = pos_utf8_cut(s, n, max);
	for (size_t i = 0; i < cut; i++)
		putchar(s[i] == '\n' || s[i] == '\r' || s[i] == '\t' ? ' ' : s[i]);
	if (cut < n)
		fputs("…", stdout);
}

static int run_search(int argc, char **argv)
{
	if (pos_cli_wants_help(argc, argv))
		return usage_of(search_usage, 0);
	struct client c;
	int rc = resolve(&argc, argv, &c, "search");
	if (rc)
		return rc;
	const char *query = NULL, *limit = "10", *mode = NULL;
	bool as_json = false;
	for (int i = 1; i < argc; i++) {
		const char *v;
		if ((v = opt(argc, argv, &i, "--limit")))
			limit = v;
		else if ((v = opt(argc, argv, &i, "--mode")))
			mode = v;
		else if (!strcmp(argv[i], "--json"))
			as_json = true;
		else if (argv[i][0] == '-' || query)
			return usage_of(search_usage, 2);
		else
			query = argv[i];
	}
	if (!query || !*query)
		return usage_of(search_usage, 2);
	struct pos_buf path;
	pos_buf_init(&path, 64 * 1024);
	enum pos_err e = pos_buf_adds(&path, "/api/memories/search?query=");
	if (!e)
		e = add_escaped(&path, query);
	if (!e)
		e = pos_buf_adds(&path, "&limit=");
	if (!e)
		e = add_escaped(&path, limit);
	if (!e && mode) {
		e = pos_buf_adds(&path, "&mode=");
		if (!e)
			e = add_escaped(&path, mode);
	}
	if (e) {
		fprintf(stderr, "personalos search: the query is too long\n");
		pos_buf_free(&path);
		return 1;
	}
	json_t *res = NULL;
	rc = call_json(&c, "GET", path.data, NULL, &res, "search");
	pos_buf_free(&path);
	if (rc)
		return rc;
	if (as_json) {
		char *s = json_dumps(res, JSON_INDENT(2));
		puts(s ? s : "{}");
		free(s);
		json_decref(res);
		return 0;
	}
	json_t *v = json_object_get(res, "memories");
	if (!json_array_size(v)) {
		printf("no memory matches\n");
	} else {
		printf("%-36s  %-12s  %-10s  %5s  %s\n", "ID", "TYPE", "CREATED", "SCORE", "CONTENT");
		for (size_t i = 0; i < json_array_size(v); i++) {
			json_t *m = json_array_get(v, i);
			const char *created = json_string_value(json_object_get(m, "created_at"));
			const char *content = json_string_value(json_object_get(m, "content"));
			printf("%-36s  %-12s  %-10.10s  %5.2f  ",
			       json_string_value(json_object_get(m, "id")),
			       json_string_value(json_object_get(m, "type")),
			       created ? created : "", json_number_value(json_object_get(m, "score")));
			print_snippet(content ? content : "", 60);
			putchar('\n');
		}
	}
	json_decref(res);
	return 0;
}

/* ---- chat ---- */

static const char chat_usage[] =
	"usage: personalos chat [MESSAGE] [--conversation ID] [--server URL] [--token TOKEN]\n";

/* Server-Sent Events of one answer: deltas printed as they come, the final
 * object kept for the conversation id. */
struct sse {
	struct pos_buf line;
	char event[32];
	struct pos_buf data;
	char conversation[64];
	bool failed, printed;
	long status;
	struct pos_buf err_body;
};

static void sse_event(struct sse *s)
{
	json_t *j = json_loadb(s->data.data ? s->data.data : "", s->data.len, 0, NULL);
	if (!strcmp(s->event, "error")) {
		json_t *e = json_object_get(j, "error");
		fprintf(stderr, "\npersonalos chat: %s (%s)\n",
			json_string_value(json_object_get(e, "message")),
			json_string_value(json_object_get(e, "code")));
		s->failed = true;
	} else if (json_object_get(j, "delta")) {
		fputs(json_string_value(json_object_get(j, "delta")), stdout);
		fflush(stdout);
		s->printed = true;
	} else if (json_object_get(j, "response")) {
		const char *cid = json_string_value(json_object_get(j, "conversation_id"));
		if (!s->printed)
			fputs(json_string_value(json_object_get(j, "response")), stdout);
		if (cid)
			set(s->conversation, sizeof(s->conversation), cid);
		json_t *used = json_object_get(j, "memories_used");
		if (json_array_size(used)) {
			printf("\n  [memories:");
			for (size_t i = 0; i < json_array_size(used); i++)
				printf(" %s", json_string_value(json_array_get(used, i)));
			printf("]");
		}
	}
	json_decref(j);
	s->event[0] = '\0';
	pos_buf_reset(&s->data);
}

static bool sse_data(void *ctx, long status, const char *p, size_t n)
{
	struct sse *s = ctx;
	s->status = status;
	if (status != 200)
		return pos_buf_add(&s->err_body, p, n) == POS_OK;
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '\n') {
			if (pos_buf_addc(&s->line, p[i]))
				return false;
			continue;
		}
		const char *l = s->line.data ? s->line.data : "";
		size_t len = s->line.len;
		if (len && l[len - 1] == '\r')
			len--;
		if (!len) {
			if (s->data.len)
				sse_event(s);
		} else if (len > 6 && !strncmp(l, "event:", 6)) {
			snprintf(s->event, sizeof(s->event), "%.*s", (int)(len - 6 - (l[6] == ' ')),
				 l + 6 + (l[6] == ' '));
		} else if (len >= 5 && !strncmp(l, "data:", 5)) {
			size_t skip = 5 + (len > 5 && l[5] == ' ');
			if (pos_buf_add(&s->data, l + skip, len - skip))
				return false;
		}
		pos_buf_reset(&s->line);
	}
	return true;
}

static int chat_once(const struct client *c, const char *message, char *conversation,
		     size_t conv_size)
{
	json_t *body = json_object();
	json_object_set_new(body, "message", json_string(message));
	json_object_set_new(body, "stream", json_true());
	if (conversation[0])
		json_object_set_new(body, "conversation_id", json_string(conversation));
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (!text)
		return 1;
	struct sse s;
	memset(&s, 0, sizeof(s));
	pos_buf_init(&s.line, 1u << 20);
	pos_buf_init(&s.data, 64u << 20);
	pos_buf_init(&s.err_body, 1u << 20);
	set(s.conversation, sizeof(s.conversation), conversation);
	struct call k = {.method = "POST", .path = "/api/chat/message", .body = text,
			 .body_len = strlen(text), .accept = "text/event-stream",
			 .timeout_ms = CHAT_TIMEOUT_MS, .on_data = sse_data, .ctx = &s};
	struct pos_http_resp resp;
	int rc = perform(c, &k, &resp, "chat");
	free(text);
	if (!rc && resp.status != 200) {
		pos_buf_free(&resp.body);
		resp.body = s.err_body;
		memset(&s.err_body, 0, sizeof(s.err_body));
		print_api_error(&resp, "chat");
		rc = 1;
	} else if (!rc) {
		if (s.data.len)
			sse_event(&s);
		putchar('\n');
		rc = s.failed;
		set(conversation, conv_size, s.conversation);
	}
	pos_http_resp_free(&resp);
	pos_buf_free(&s.line);
	pos_buf_free(&s.data);
	pos_buf_free(&s.err_body);
	return rc;
}

static void chat_history(const struct client *c, const char *conversation)
{
	if (!conversation[0]) {
		printf("(no conversation yet)\n");
		return;
	}
	char path[256];
	snprintf(path, sizeof(path), "/api/chat/history?conversation_id=%s", conversation);
	json_t *res = NULL;
	if (call_json(c, "GET", path, NULL, &res, "chat"))
		return;
	json_t *msgs = json_object_get(res, "messages");
	for (size_t i = 0; i < json_array_size(msgs); i++) {
		json_t *m = json_array_get(msgs, i);
		printf("%s: %s\n", json_string_value(json_object_get(m, "role")),
		       json_string_value(json_object_get(m, "content")));
	}
	json_decref(res);
}

static int run_chat(int argc, char **argv)
{
	if (pos_cli_wants_help(argc, argv))
		return usage_of(chat_usage, 0);
	struct client c;
	int rc = resolve(&argc, argv, &c, "chat");
	if (rc)
		return rc;
	char conversation[64] = "";
	const char *message = NULL;
	for (int i = 1; i < argc; i++) {
		const char *v;
		if ((v = opt(argc, argv, &i, "--conversation")))
			set(conversation, sizeof(conversation), v);
		else if (argv[i][0] == '-' || message)
			return usage_of(chat_usage, 2);
		else
			message = argv[i];
	}
	if (message)
		return chat_once(&c, message, conversation, sizeof(conversation));
	bool tty = isatty(STDIN_FILENO);
	if (tty)
		printf("Chat with your PersonalOS assistant. /new starts a new conversation, "
		       "/history shows this one, /quit or Ctrl-D ends.\n");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	rc = 0;
	for (;;) {
		if (tty) {
			fputs("> ", stdout);
			fflush(stdout);
		}
		if ((n = getline(&line, &cap, stdin)) < 0)
			break;
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (!n)
			continue;
		if (!strcmp(line, "/quit") || !strcmp(line, "/exit"))
			break;
		if (!strcmp(line, "/new")) {
			conversation[0] = '\0';
			printf("(new conversation)\n");
			continue;
		}
		if (!strcmp(line, "/history")) {
			chat_history(&c, conversation);
			continue;
		}
		rc |= chat_once(&c, line, conversation, sizeof(conversation));
	}
	free(line);
	if (tty)
		putchar('\n');
	return rc;
}

/* ---- login ---- */

static const char login_usage[] =
	"usage: personalos login [--server URL] --token TOKEN\n"
	"       personalos login [--server URL] --email EMAIL [--scope read|write]\n";

static int read_password(char *out, size_t n)
{
	bool tty = isatty(STDIN_FILENO);
	struct termios old, quiet;
	if (tty) {
		fputs("Password: ", stderr);
		tcgetattr(STDIN_FILENO, &old);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	char *ok = fgets(out, (int)n, stdin);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (!ok)
		return -1;
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

/* Writes the login file with mode 0600 (its folder 0700). */
static int conf_write(const char *url, const char *token)
{
	char path[4096];
	if (conf_path(path, sizeof(path))) {
		fprintf(stderr, "personalos login: set HOME or XDG_CONFIG_HOME\n");
		return 1;
	}
	/* make the folders (…/.config may not exist yet) */
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) && errno != EEXIST) {
			fprintf(stderr, "personalos login: cannot create %s: %s\n", path,
				strerror(errno));
			return 1;
		}
		*p = '/';
	}
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "personalos login: cannot write %s: %s\n", tmp, strerror(errno));
		return 1;
	}
	fchmod(fd, 0600);
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return 1;
	}
	fprintf(f, "# written by `personalos login`\nurl = %s\ntoken = %s\n", url, token);
	if (fclose(f) || rename(tmp, path)) {
		fprintf(stderr, "personalos login: cannot write %s: %s\n", path, strerror(errno));
		unlink(tmp);
		return 1;
	}
	printf("logged in to %s; saved to %s\n", url, path);
	return 0;
}

static int run_login(int argc, char **argv)
{
	if (pos_cli_wants_help(argc, argv))
		return usage_of(login_usage, 0);
	/* the login file is what we write: only flags and env count here */
	const char *server = NULL, *token = NULL, *email = NULL, *scope = "write";
	for (int i = 1; i < argc; i++) {
		const char *v;
		if ((v = opt(argc, argv, &i, "--server")))
			server = v;
		else if ((v = opt(argc, argv, &i, "--token")))
			token = v;
		else if ((v = opt(argc, argv, &i, "--email")))
			email = v;
		else if ((v = opt(argc, argv, &i, "--scope")))
			scope = v;
		else
			return usage_of(login_usage, 2);
	}
	if (!server)
		server = getenv("PERSONALOS_URL");
	if (!token && !email)
		token = getenv("PERSONALOS_TOKEN");
	struct client c = {0};
	set(c.url, sizeof(c.url), server && *server ? server : DEFAULT_URL);
	size_t n = strlen(c.url);
	while (n > 1 && c.url[n - 1] == '/')
		c.url[--n] = '\0';
	if (!pos_http_url_ok(c.url)) {
		fprintf(stderr, "personalos login: the server URL must be http:// or https://\n");
		return 2;
	}
	if ((!token || !*token) == !email)
		return usage_of(login_usage, 2);
	c.token[0] = '\0';
	if (email) {
		char password[1024];
		if (read_password(password, sizeof(password))) {
			fprintf(stderr, "personalos login: no password given\n");
			return 1;
		}
		json_t *body = json_pack("{s:s, s:s}", "email", email, "password", password);
		pos_wipe(password, sizeof(password));
		json_t *res = NULL;
		int rc = call_json(&c, "POST", "/api/auth/login", body, &res, "login");
		json_decref(body);
		if (rc)
			return rc;
		const char *access = json_string_value(json_object_get(res, "access_token"));
		set(c.token, sizeof(c.token), access ? access : "");
		json_decref(res);
		char host[256] = "cli";
		gethostname(host, sizeof(host) - 1);
		char name[300];
		snprintf(name, sizeof(name), "personalos CLI on %s", host);
		body = json_pack("{s:s, s:s}", "name", name, "scope", scope);
		rc = call_json(&c, "POST", "/api/auth/tokens", body, &res, "login");
		json_decref(body);
		if (rc)
			return rc;
		const char *t = json_string_value(json_object_get(res, "token"));
		rc = t ? conf_write(c.url, t) : 1;
		json_decref(res);
		return rc;
	}
	set(c.token, sizeof(c.token), token);
	json_t *me = NULL;
	int rc = call_json(&c, "GET", "/api/auth/me", NULL, &me, "login");
	json_decref(me);
	return rc ? rc : conf_write(c.url, c.token);
}

/* ---- mcp: the stdio transport ---- */

static const char mcp_usage[] =
	"usage: personalos mcp [--server URL] [--token TOKEN]\n";

/* Writes a JSON-RPC error for the message `msg` (when it has an id). */
static void mcp_error(const json_t *msg, int code, const char *message)
{
	const json_t *id = json_object_get(msg, "id");
	if (!id || !json_object_get(msg, "method"))
		return;
	json_t *out = json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", id, "error",
				"code", code, "message", message);
	char *s = out ? json_dumps(out, JSON_COMPACT) : NULL;
	if (s) {
		fputs(s, stdout);
		fputc('\n', stdout);
		fflush(stdout);
	}
	free(s);
	json_decref(out);
}

/* Relays one line (a JSON-RPC message) to POST /mcp and prints the answer. */
static void mcp_relay(const struct client *c, const char *line, size_t len, char *version,
		      size_t version_size)
{
	json_t *msg = json_loadb(line, len, 0, NULL);
	char vh[96];
	snprintf(vh, sizeof(vh), "MCP-Protocol-Version: %s", version);
	const char *extra[] = {version[0] ? vh : NULL, NULL};
	struct call k = {.method = "POST", .path = "/mcp", .body = line, .body_len = len,
			 .accept = "application/json, text/event-stream", .extra = extra,
			 .timeout_ms = CHAT_TIMEOUT_MS};
	struct pos_http_resp resp;
	if (perform(c, &k, &resp, "mcp")) {
		mcp_error(msg, -32603, "the PersonalOS server cannot be reached");
	} else if (resp.status == 202) {
		/* a notification: nothing to answer */
	} else if (resp.status == 200 && resp.body.len) {
		json_t *ans = json_loadb(resp.body.data, resp.body.len, 0, NULL);
		const char *pv = json_string_value(
			json_object_get(json_object_get(ans, "result"), "protocolVersion"));
		if (pv && !strcmp(json_string_value(json_object_get(msg, "method")) ?
				      json_string_value(json_object_get(msg, "method")) : "",
				  "initialize"))
			set(version, version_size, pv);
		json_decref(ans);
		fwrite(resp.body.data, 1, resp.body.len, stdout);
		fputc('\n', stdout);
		fflush(stdout);
	} else if (resp.status == 400 && resp.body.len &&
		   strstr(resp.body.data, "\"jsonrpc\"")) {
		/* a JSON-RPC error of the server's (parse error, batch) */
		fwrite(resp.body.data, 1, resp.body.len, stdout);
		fputc('\n', stdout);
		fflush(stdout);
	} else {
		char m[160];
		snprintf(m, sizeof(m), "the PersonalOS server answered HTTP %ld%s", resp.status,
			 resp.status == 401 ? " (check PERSONALOS_TOKEN)" : "");
		mcp_error(msg, -32603, m);
	}
	pos_http_resp_free(&resp);
	json_decref(msg);
}

static int run_mcp(int argc, char **argv)
{
	if (pos_cli_wants_help(argc, argv))
		return usage_of(mcp_usage, 0);
	struct client c;
	int rc = resolve(&argc, argv, &c, "mcp");
	if (rc)
		return rc;
	if (argc > 1)
		return usage_of(mcp_usage, 2);
	if (!c.token[0])
		fprintf(stderr, "personalos mcp: no token (PERSONALOS_TOKEN, --token or "
				"`personalos login`); the server will refuse\n");
	char version[64] = "";
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, stdin)) >= 0) {
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (!n)
			continue;
		if ((size_t)n > LINE_MAX_BYTES) {
			/* the server would refuse it (413): answer here, by id */
			json_t *big = json_loadb(line, (size_t)n, 0, NULL);
			mcp_error(big, -32600, "the message is over 8 MiB");
			json_decref(big);
			continue;
		}
		mcp_relay(&c, line, (size_t)n, version, sizeof(version));
	}
	free(line);
	return 0;
}

/* ---- import files ---- */

static const char import_files_usage[] =
	"usage: personalos import files DIR [--tags a,b] [--server URL] [--token TOKEN]\n";

struct walk {
	char **paths;
	size_t n, cap;
	bool too_many;
};

static int walk_dir(struct walk *w, const char *dir, unsigned depth)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue; /* ., .., hidden files */
		size_t len = strlen(dir) + strlen(e->d_name) + 2;
		char *path = malloc(len);
		if (!path)
			break;
		snprintf(path, len, "%s/%s", dir, e->d_name);
		struct stat st;
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && depth < 16) {
			walk_dir(w, path, depth + 1);
			free(path);
		} else if (lstat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (w->n == w->cap) {
				size_t nc = w->cap ? w->cap * 2 : 64;
				char **np = nc <= 100000 ? realloc(w->paths, nc * sizeof(*np)) : NULL;
				if (!np) {
					w->too_many = true;
					free(path);
					break;
				}
				w->paths = np;
				w->cap = nc;
			}
			w->paths[w->n++] = path;
		} else {
			free(path); /* links, devices, sockets: skipped */
		}
	}
	closedir(d);
	return 0;
}

static int path_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int pos_cli_import_files(int argc, char **argv)
{
	if (pos_cli_wants_help(argc, argv))
		return usage_of(import_files_usage, 0);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	struct client c;
	int rc = resolve(&argc, argv, &c, "import files");
	const char *dir = NULL, *tags = NULL;
	for (int i = 1; !rc && i < argc; i++) {
		const char *v;
		if ((v = opt(argc, argv, &i, "--tags")))
			tags = v;
		else if (argv[i][0] == '-' || dir)
			rc = usage_of(import_files_usage, 2);
		else
			dir = argv[i];
	}
	if (!rc && !dir)
		rc = usage_of(import_files_usage, 2);
	struct walk w = {0};
	if (!rc && walk_dir(&w, dir, 0) != 0) {
		fprintf(stderr, "personalos import files: cannot read %s: %s\n", dir, strerror(errno));
		rc = 1;
	}
	if (!rc && w.too_many)
		fprintf(stderr, "personalos import files: more than 100000 files; the rest skipped\n");
	if (w.n)
		qsort(w.paths, w.n, sizeof(*w.paths), path_cmp);
	size_t failed = 0;
	for (size_t i = 0; !rc && i < w.n; i++) {
		/* progress on standard error; what was added on standard output */
		fprintf(stderr, "[%zu/%zu] %s\n", i + 1, w.n, w.paths[i]);
		if (add_file(&c, w.paths[i], tags, false)) {
			fprintf(stderr, "[%zu/%zu] %s: failed\n", i + 1, w.n, w.paths[i]);
			failed++;
		}
		fflush(stdout);
	}
	if (!rc)
		printf("imported %zu of %zu files\n", w.n - failed, w.n);
	for (size_t i = 0; i < w.n; i++)
		free(w.paths[i]);
	free(w.paths);
	curl_global_cleanup();
	return rc ? rc : failed ? 1 : 0;
}

int pos_cli_add(int argc, char **argv)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int rc = run_add(argc, argv);
	curl_global_cleanup();
	return rc;
}

int pos_cli_search(int argc, char **argv)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int rc = run_search(argc, argv);
	curl_global_cleanup();
	return rc;
}

int pos_cli_chat(int argc, char **argv)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int rc = run_chat(argc, argv);
	curl_global_cleanup();
	return rc;
}

int pos_cli_login(int argc, char **argv)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int rc = run_login(argc, argv);
	curl_global_cleanup();
	return rc;
}

int pos_cli_mcp(int argc, char **argv)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int rc = run_mcp(argc, argv);
	curl_global_cleanup();
	return rc;
}
