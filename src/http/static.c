/*
 * static.c — the web app's files: path checks, lookup with the client-side
 * route fallback, precompressed variants, content types, cache headers.
 */
#include "http/static.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <microhttpd.h>

#include "http/server.h"

#define STATIC_PATH_MAX 1024   /* longest URL path mapped onto a file */

static const struct {
	const char *ext;
	const char *type;
} types[] = {
	{"html", "text/html; charset=utf-8"},
	{"js", "text/javascript; charset=utf-8"},
	{"mjs", "text/javascript; charset=utf-8"},
	{"css", "text/css; charset=utf-8"},
	{"json", "application/json"},
	{"map", "application/json"},
	{"webmanifest", "application/manifest+json"},
	{"svg", "image/svg+xml"},
	{"png", "image/png"},
	{"ico", "image/x-icon"},
	{"webp", "image/webp"},
	{"txt", "text/plain; charset=utf-8"},
	{"woff2", "font/woff2"},
	{"wasm", "application/wasm"},
};

const char *pos_static_type(const char *name)
{
	const char *slash = strrchr(name, '/');
	const char *dot = strrchr(slash ? slash : name, '.');
	if (dot)
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strcasecmp(dot + 1, types[i].ext) == 0)
				return types[i].type;
	return "application/octet-stream";
}

bool pos_static_path_ok(const char *path)
{
	if (path[0] != '/' || strlen(path) > STATIC_PATH_MAX)
		return false;
	for (const char *p = path; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || c == 0x7f || c == '\\' || c == '%')
			return false;
		/* A segment may not start with '.': no "..", ".", ".git". */
		if (c == '/' && p[1] == '.')
			return false;
	}
	return true;
}

static bool is_api_path(const char *path)
{
	return strncmp(path, "/api", 4) == 0 && (path[4] == '\0' || path[4] == '/');
}

/* Does a header value list `token` (case-insensitive, as a whole word)? */
static bool header_has(const char *value, const char *token)
{
	if (!value)
		return false;
	size_t n = strlen(token);
	for (const char *p = value; (p = strcasestr(p, token)); p += n) {
		bool start = p == value || p[-1] == ' ' || p[-1] == ',';
		char end = p[n];
		if (start && (end == '\0' || end == ',' || end == ';' || end == ' '))
			return true;
	}
	return false;
}

/* Opens `path` if it is a regular file whose real location lies inside
 * `root_real`. Returns the fd (and fills *st) or -1. */
static int open_inside(const char *root_real, const char *path, struct stat *st)
{
	char real[PATH_MAX];
	if (!realpath(path, real))
		return -1;
	size_t n = strlen(root_real);
	if (strncmp(real, root_real, n) != 0 || real[n] != '/')
		return -1;
	int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
		close(fd);
		return -1;
	}
	return fd;
}

bool pos_static_serve(struct pos_server *srv, struct pos_req *r, int *mhd_ret)
{
	const char *path = r->url;
	if ((strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) ||
	    !srv->cfg->web_root[0] || is_api_path(path) || !pos_static_path_ok(path))
		return false;
	char root_real[PATH_MAX];
	if (!realpath(srv->cfg->web_root, root_real))
		return false;   /* no build: the API alone is served */

	char file[PATH_MAX];
	size_t plen = strlen(path);
	const char *index = path[plen - 1] == '/' ? "index.html" : "";
	if (snprintf(file, sizeof(file), "%s%s%s", root_real, path, index) >= (int)sizeof(file))
		return false;
	struct stat st;
	int fd = open_inside(root_real, file, &st);
	if (fd < 0) {
		/* A client-side route ("/memories/ID", "/chat"): the app itself,
		 * for browsers. Missing files with an extension stay 404s. */
		const char *last = strrchr(path, '/');
		if (strchr(last, '.') ||
		    !header_has(pos_req_header(r, MHD_HTTP_HEADER_ACCEPT), "text/html"))
			return false;
		if (snprintf(file, sizeof(file), "%s/index.html", root_real) >= (int)sizeof(file) ||
		    (fd = open_inside(root_real, file, &st)) < 0)
			return false;
	}
	const char *type = pos_static_type(file);
	bool compressible = strncmp(type, "text/", 5) == 0 || strstr(type, "json") ||
			    strstr(type, "svg");
	bool gzipped = false;
	if (compressible &&
	    header_has(pos_req_header(r, MHD_HTTP_HEADER_ACCEPT_ENCODING), "gzip")) {
		char gz[PATH_MAX];
		struct stat gst;
		int gfd;
		if (snprintf(gz, sizeof(gz), "%s.gz", file) < (int)sizeof(gz) &&
		    (gfd = open_inside(root_real, gz, &gst)) >= 0) {
			close(fd);
			fd = gfd;
			st = gst;
			gzipped = true;
		}
	}

	char etag[64];
	snprintf(etag, sizeof(etag), "W/\"%llx-%llx%s\"", (unsigned long long)st.st_size,
		 (unsigned long long)st.st_mtime, gzipped ? "-gz" : "");
	const char *inm = pos_req_header(r, MHD_HTTP_HEADER_IF_NONE_MATCH);
	int status = 200;
	struct MHD_Response *resp;
	if (inm && strcmp(inm, etag) == 0) {
		close(fd);
		status = 304;
		resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
	} else {
		/* libmicrohttpd closes the fd when it destroys the response. */
		resp = MHD_create_response_from_fd((size_t)st.st_size, fd);
		if (!resp)
			close(fd);
	}
	if (!resp) {
		*mhd_ret = MHD_NO;
		return true;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
	if (gzipped)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
	if (compressible)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
				strncmp(path, "/assets/", 8) == 0
					? "public, max-age=31536000, immutable"
					: "no-cache");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Content-Security-Policy", POS_STATIC_CSP);
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	r->answered = true;
	r->status = status;
	r->resp_type = type;
	*mhd_ret = MHD_queue_response(r->conn, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return true;
}
