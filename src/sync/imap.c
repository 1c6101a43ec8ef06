/*
 * imap.c — the `imap` kind: mail folders on an IMAP server, through libcurl.
 *
 * libcurl makes the connection (imap:// or imaps://, STARTTLS with
 * CURLOPT_USE_SSL, certificate checks) and logs in (LOGIN, SASL PLAIN, or
 * XOAUTH2 with CURLOPT_XOAUTH2_BEARER) in CONNECT_ONLY mode; this file then
 * speaks the few commands a sync needs over that connection
 * (curl_easy_send/recv): EXAMINE (read-only: flags stay as they are),
 * UID SEARCH UID n:* [FLAGGED], UID FETCH … (UID BODY.PEEK[]), LOGOUT.
 *
 * Config: {"host", "port"?, "tls"?: "implicit" (default, port 993) |
 * "starttls" (port 143) | "none", "user", "password" | "oauth2_token",
 * "folders"?: ["INBOX"], "only_flagged"?: false, "max_body_bytes"?,
 * "tls_ca_file"?: a PEM file of CAs to trust instead of the system's}.
 * Secrets: password, oauth2_token.
 * Cursor: {"folders": {"INBOX": {"uidvalidity": V, "last_uid": U}}}. A run
 * fetches only UIDs above last_uid; a changed UIDVALIDITY fetches the whole
 * folder again, without duplicates (the external id is the Message-ID).
 */
#include "sync/mail.h"

#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "net/http.h"

#define IMAP_TIMEOUT_MS 60000
#define FETCH_CHUNK 64
#define FOLDERS_MAX 50
#define LINE_MAX_BYTES (1024 * 1024)
#define SEARCH_MAX_BYTES (64 * 1024 * 1024)
#define IMAP_POLL_SLICE_MS 200
/* Received, not yet consumed: no response may grow the buffer past this. */
#define RESPONSE_MAX_BYTES (SEARCH_MAX_BYTES + LINE_MAX_BYTES)

static const char *const imap_secrets[] = {"password", "oauth2_token", NULL};

static bool str_ok(const json_t *v, size_t max)
{
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (!s || !n || n > max || strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static enum pos_err imap_validate(const json_t *c, struct pos_error *err)
{
	if (!json_object_get(c, "host"))
		return pos_error_set(err, POS_ERR_MISSING_FIELD, "config.host", "config.host is required");
	if (!str_ok(json_object_get(c, "host"), 253) ||
	    strpbrk(json_string_value(json_object_get(c, "host")), "/@?# "))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "config.host",
				     "config.host must be a host name or address");
	const json_t *v = json_object_get(c, "port");
	if (v && (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 65535))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "config.port",
				     "config.port must be an integer from 1 to 65535");
	v = json_object_get(c, "tls");
	const char *tls = json_string_value(v);
	if (v && (!tls || (strcmp(tls, "implicit") && strcmp(tls, "starttls") && strcmp(tls, "none"))))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "config.tls",
				     "config.tls must be implicit, starttls or none");
	if (!json_object_get(c, "user"))
		return pos_error_set(err, POS_ERR_MISSING_FIELD, "config.user", "config.user is required");
	if (!str_ok(json_object_get(c, "user"), 320))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "config.user",
				     "config.user must be a string of 1 to 320 bytes");
	const json_t *pw = json_object_get(c, "password"), *tok = json_object_get(c, "oauth2_token");
	if ((!pw || json_is_null(pw)) && (!tok || json_is_null(tok)))
		return pos_error_set(err, POS_ERR_MISSING_FIELD, "config.password",
				     "config.password or config.oauth2_token is required");
	if (pw && !json_is_null(pw) && !str_ok(pw, 1024))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "config.password",
				     "config.password must be a string of 1 to 1024 bytes");
	if (tok && !json_is_null(tok) && !str_ok(tok, 8192))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "config.oauth2_token",
				     "config.oauth2_token must be a string of 1 to 8192 bytes");
	v = json_object_get(c, "folders");
	if (v) {
		if (!json_is_array(v) || !json_array_size(v) || json_array_size(v) > FOLDERS_MAX)
			return pos_error_set(err, POS_ERR_INVALID_FIELD, "config.folders",
					     "config.folders must be an array of 1 to 50 folder names");
		size_t i;
		json_t *f;
		json_array_foreach(v, i, f) {
			if (!str_ok(f, 512))
				return pos_error_set(err, POS_ERR_INVALID_FIELD, "config.folders",
						     "each folder must be a name of 1 to 512 bytes");
		}
	}
	v = json_object_get(c, "tls_ca_file");
	if (v && (!str_ok(v, 4096) || json_string_value(v)[0] != '/'))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "config.tls_ca_file",
				     "config.tls_ca_file must be an absolute path to a PEM file");
	v = json_object_get(c, "only_flagged");
	if (v && !json_is_boolean(v))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "config.only_flagged",
				     "config.only_flagged must be true or false");
	size_t mb;
	if (!pos_mail_max_body(c, &mb))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "config.max_body_bytes",
				     "max_body_bytes must be an integer from %d to %d",
				     POS_MAIL_BODY_MIN, POS_MAIL_BODY_MAX);
	return POS_OK;
}

/* ---- the connection ---- */

struct conn {
	struct pos_http_easy ez;    /* the egress-checked handle (net/http.h) */
	CURL *h;                    /* ez.curl */
	const struct pos_sync_sink *sink; /* polled while waiting: cancel, deadline */
	char *buf;                  /* received, not yet consumed */
	size_t len, cap;
	unsigned tag;
};

static enum pos_err wait_sock(struct conn *c, bool in, struct pos_error *err)
{
	curl_socket_t s;
	if (curl_easy_getinfo(c->h, CURLINFO_ACTIVESOCKET, &s) != CURLE_OK ||
	    s == CURL_SOCKET_BAD)
		return pos_error_set(err, POS_ERR_UNAVAILABLE, NULL, "IMAP connection lost");
	struct pollfd p = {s, (short)(in ? POLLIN : POLLOUT), 0};
	/* short slices, so a deleted source or an expired run stops promptly */
	for (int waited = 0; waited < IMAP_TIMEOUT_MS; waited += IMAP_POLL_SLICE_MS) {
		if (c->sink && c->sink->cancelled && c->sink->cancelled(c->sink->ctx))
			return pos_error_set(err, POS_ERR_UNAVAILABLE, NULL, "sync cancelled");
		int r = poll(&p, 1, IMAP_POLL_SLICE_MS);
		if (r > 0)
			return POS_OK;
		if (r < 0 && errno != EINTR)
			break;
	}
	return pos_error_set(err, POS_ERR_UNAVAILABLE, NULL, "IMAP server timed out");
}

static enum pos_err send_all(struct conn *c, const char *p, size_t n, struct pos_error *err)
{
	while (n) {
		size_t sent = 0;
		CURLcode r = curl_easy_send(c->h, p, n, &sent);
		if (r == CURLE_AGAIN) {
			enum pos_err rc = wait_sock(c, false, err);
			if (rc)
				return rc;
			continue;
		}
		if (r != CURLE_OK)
			return pos_error_set(err, POS_ERR_UNAVAILABLE, NULL,
					     "IMAP connection lost while sending");
		p += sent;
		n -= sent;
	}
	return POS_OK;
}

/* Reads more bytes into the buffer. */
static enum pos_err fill(struct conn *c, struct pos_error *err)
{
	if (c->len >= RESPONSE_MAX_BYTES)
		return pos_error_set(err, POS_ERR_BAD_GATEWAY, NULL,
				     "IMAP server sent a response larger than 65 MiB");
	if (c->cap - c->len < 65536) {
		size_t ncap = c->cap ? c->cap * 2 : 256 * 1024;
		char *b = pos_realloc(c->buf, ncap);
		if (!b)
			return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
		c->buf = b;
		c->cap = ncap;
	}
	for (;;) {
		size_t got = 0;
		CURLcode r = curl_easy_recv(c->h, c->buf + c->len, c->cap - c->len, &got);
		if (r == CURLE_AGAIN) {
			enum pos_err rc = wait_sock(c, true, err);
			if (rc)
				return rc;
			continue;
		}
		if (r != CURLE_OK || got == 0)
			return pos_error_set(err, POS_ERR_UNAVAILABLE, NULL, "IMAP connection closed");
		c->len += got;
		return POS_OK;
	}
}

static void consume(struct conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

/*
 * One response: its text (literals left out, "{N}" kept) into `text`, the
 * bytes of its (last) literal into `lit`. NUL-terminated text.
 */
static enum pos_err read_response(struct conn *c, struct pos_buf *text, struct pos_buf *lit,
				  struct pos_error *err)
{
	pos_buf_reset(text);
	pos_buf_reset(lit);
	for (;;) {
		char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
		if (!nl) {
			if (c->len > LINE_MAX_BYTES)
				return pos_error_set(err, POS_ERR_BAD_GATEWAY, NULL,
						     "IMAP server sent an overlong line");
			enum pos_err rc = fill(c, err);
			if (rc)
				return rc;
			continue;
		}
		size_t n = (size_t)(nl - c->buf);
		size_t ln = n && c->buf[n - 1] == '\r' ? n - 1 : n;
		if (pos_buf_add(text, c->buf, ln))
			return pos_error_set(err, POS_ERR_BAD_GATEWAY, NULL, "IMAP response too large");
		/* a literal: "{N}" at the end of the line */
		size_t lsz = 0;
		bool literal = false;
		if (ln >= 3 && c->buf[ln - 1] == '}') {
			size_t k = ln - 1;
			while (k > 0 && c->buf[k - 1] >= '0' && c->buf[k - 1] <= '9')
				k--;
			if (k > 0 && c->buf[k - 1] == '{' && k < ln - 1) {
				literal = true;
				for (size_t q = k; q < ln - 1; q++)
					lsz = lsz * 10 + (size_t)(c->buf[q] - '0');
				if (ln - 1 - k > 10)
					return pos_error_set(err, POS_ERR_BAD_GATEWAY, NULL,
							     "IMAP literal too large");
			}
		}
		consume(c, n + 1);
		if (!literal) {
			pos_buf_addc(text, '\0');
			text->len--;
			return POS_OK;
		}
		if (lsz > (size_t)POS_MAIL_MESSAGE_MAX + 1024 * 1024)
			return pos_error_set(err, POS_ERR_BAD_GATEWAY, NULL, "IMAP message too large");
		while (c->len < lsz) {
			enum pos_err rc = fill(c, err);
			if (rc)
				return rc;
		}
		pos_buf_reset(lit);
		if (pos_buf_add(lit, c->buf, lsz))
			return pos_error_set(err, POS_ERR_BAD_GATEWAY, NULL, "IMAP message too large");
		consume(c, lsz);
	}
}

/* Sends "TAG cmd\r\n"; the tag goes into tag (for matching the end). */
static enum pos_err command(struct conn *c, const char *cmd, char tag[16],
			    struct pos_error *err)
{
	snprintf(tag, 16, "P%04u", ++c->tag);
	struct pos_buf b;
	pos_buf_init(&b, 8192);
	pos_buf_addf(&b, "%s %s\r\n", tag, cmd);
	enum pos_err rc = b.data ? send_all(c, b.data, b.len, err)
				 : pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	pos_buf_free(&b);
	return rc;
}

/* True when text is the tagged completion of `tag`; *ok says OK. */
static bool tagged(const struct pos_buf *text, const char *tag, bool *ok)
{
	size_t tl = strlen(tag);
	if (text->len <= tl || strncmp(text->data, tag, tl) != 0 || text->data[tl] != ' ')
		return false;
	*ok = strncmp(text->data + tl + 1, "OK", 2) == 0;
	return true;
}

/* Quotes a mailbox name for a command. */
static void quote(struct pos_buf *b, const char *s)
{
	pos_buf_addc(b, '"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			pos_buf_addc(b, '\\');
		pos_buf_addc(b, *s);
	}
	pos_buf_addc(b, '"');
}

/* curl's progress callback during connect and login: non-zero aborts. */
static int conn_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	const struct pos_sync_sink *sink = ud;
	return sink && sink->cancelled && sink->cancelled(sink->ctx) ? 1 : 0;
}

static enum pos_err open_conn(struct conn *c, const json_t *cfg,
			      const struct pos_sync_sink *sink, struct pos_error *err)
{
	const char *host = json_string_value(json_object_get(cfg, "host"));
	const char *tls = json_string_value(json_object_get(cfg, "tls"));
	if (!tls)
		tls = "implicit";
	bool implicit = !strcmp(tls, "implicit");
	long port = json_is_integer(json_object_get(cfg, "port"))
		? (long)json_integer_value(json_object_get(cfg, "port")) : implicit ? 993 : 143;
	char url[512], what[300];
	bool v6 = strchr(host, ':') && host[0] != '[';
	snprintf(url, sizeof(url), "%s://%s%s%s:%ld/", implicit ? "imaps" : "imap",
		 v6 ? "[" : "", host, v6 ? "]" : "", port);
	snprintf(what, sizeof(what), "IMAP server %s", host);
	/* A user-supplied server: the egress policy judges every address. */
	enum pos_err rc = pos_http_easy_init(&c->ez, host, (unsigned)port, "imap,imaps",
					     POS_NET_USER, sink ? sink->egress : NULL, err);
	if (rc)
		return rc;
	c->h = c->ez.curl;
	curl_easy_setopt(c->h, CURLOPT_URL, url);
	curl_easy_setopt(c->h, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT, 20L);
	curl_easy_setopt(c->h, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c->h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c->h, CURLOPT_XFERINFOFUNCTION, conn_progress);
	curl_easy_setopt(c->h, CURLOPT_XFERINFODATA, (void *)c->sink);
	if (!strcmp(tls, "starttls"))
		curl_easy_setopt(c->h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	const char *ca = json_string_value(json_object_get(cfg, "tls_ca_file"));
	if (ca)
		curl_easy_setopt(c->h, CURLOPT_CAINFO, ca);
	curl_easy_setopt(c->h, CURLOPT_USERNAME, json_string_value(json_object_get(cfg, "user")));
	const char *tok = json_string_value(json_object_get(cfg, "oauth2_token"));
	const char *pw = json_string_value(json_object_get(cfg, "password"));
	if (tok)
		curl_easy_setopt(c->h, CURLOPT_XOAUTH2_BEARER, tok);
	else
		curl_easy_setopt(c->h, CURLOPT_PASSWORD, pw ? pw : "");
	CURLcode r = curl_easy_perform(c->h);
	/* the connection is made: the timeout must not cut the session */
	if (r != CURLE_OK)
		return pos_http_easy_fail(&c->ez, r, what, err);
	return POS_OK;
}

static void close_conn(struct conn *c)
{
	if (c->h) {
		char tag[16];
		struct pos_error e;
		command(c, "LOGOUT", tag, &e);
		pos_http_easy_cleanup(&c->ez);
	}
	pos_free(c->buf);
}

/* ---- one folder ---- */

struct folder_state {
	int64_t uidvalidity, last_uid;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

struct fstats {
	uint64_t done, total;
};

static enum pos_err sync_folder(struct conn *c, const char *folder, bool only_flagged,
				size_t max_body, struct folder_state *fs,
				const struct pos_sync_sink *sink, struct fstats *st,
				bool *full, struct pos_error *err)
{
	struct pos_buf cmd, text, lit;
	pos_buf_init(&cmd, 64 * 1024);
	pos_buf_init(&text, LINE_MAX_BYTES * 2);
	pos_buf_init(&lit, (size_t)POS_MAIL_MESSAGE_MAX + 1);
	uint64_t *uids = NULL;
	size_t n_uids = 0, cap_uids = 0;
	enum pos_err rc;
	char tag[16];
	bool ok = false;
	pos_buf_adds(&cmd, "EXAMINE ");
	quote(&cmd, folder);
	if ((rc = command(c, cmd.data, tag, err)))
		goto out;
	int64_t validity = 0;
	for (;;) {
		if ((rc = read_response(c, &text, &lit, err)))
			goto out;
		const char *v = strstr(text.data, "[UIDVALIDITY ");
		if (v)
			validity = strtoll(v + 13, NULL, 10);
		if (tagged(&text, tag, &ok))
			break;
	}
	if (!ok) {
		char pos[600];
		snprintf(pos, sizeof(pos), "folder %s", folder);
		sink->skip(sink->ctx, pos, "the server cannot open this folder");
		rc = POS_OK;
		goto out;
	}
	if (validity != fs->uidvalidity) {
		/* new folder, or its UIDs were renumbered: read it all again */
		*full = true;
		fs->uidvalidity = validity;
		fs->last_uid = 0;
	}
	pos_buf_reset(&cmd);
	pos_buf_addf(&cmd, "UID SEARCH UID %lld:*%s", (long long)fs->last_uid + 1,
		     only_flagged ? " FLAGGED" : "");
	if ((rc = command(c, cmd.data, tag, err)))
		goto out;
	for (;;) {
		if ((rc = read_response(c, &text, &lit, err)))
			goto out;
		if (tagged(&text, tag, &ok))
			break;
		if (strncmp(text.data, "* SEARCH", 8) != 0)
			continue;
		for (const char *p = text.data + 8; *p;) {
			while (*p == ' ')
				p++;
			char *e;
			unsigned long long u = strtoull(p, &e, 10);
			if (e == p)
				break;
			p = e;
			if ((int64_t)u <= fs->last_uid)
				continue; /* "n:*" always names the last message */
			if (n_uids == cap_uids) {
				size_t nc = cap_uids ? cap_uids * 2 : 1024;
				uint64_t *v2 = pos_realloc(uids, nc * sizeof(*v2));
				if (!v2) {
					rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
					goto out;
				}
				uids = v2;
				cap_uids = nc;
			}
			uids[n_uids++] = u;
		}
	}
	if (!ok) {
		/* the server's own words are not repeated to the user */
		rc = pos_error_set(err, POS_ERR_BAD_GATEWAY, NULL,
				   "the IMAP server refused to search folder %.200s", folder);
		goto out;
	}
	if (n_uids)
		qsort(uids, n_uids, sizeof(*uids), cmp_u64);
	st->total += n_uids;
	json_t *extra = json_pack("{s:s}", "folder", folder);
	for (size_t i = 0; i < n_uids && !rc; i += FETCH_CHUNK) {
		if (sink->cancelled(sink->ctx)) {
			rc = pos_error_set(err, POS_ERR_UNAVAILABLE, NULL, "sync cancelled");
			break;
		}
		size_t end = i + FETCH_CHUNK < n_uids ? i + FETCH_CHUNK : n_uids;
		pos_buf_reset(&cmd);
		pos_buf_adds(&cmd, "UID FETCH ");
		for (size_t k = i; k < end; k++)
			pos_buf_addf(&cmd, "%s%llu", k > i ? "," : "", (unsigned long long)uids[k]);
		pos_buf_adds(&cmd, " (UID BODY.PEEK[])");
		if ((rc = command(c, cmd.data, tag, err)))
			break;
		for (;;) {
			if ((rc = read_response(c, &text, &lit, err)))
				break;
			if (tagged(&text, tag, &ok))
				break;
			const char *f = strstr(text.data, " FETCH (");
			if (strncmp(text.data, "* ", 2) != 0 || !f)
				continue;
			const char *u = strstr(f, "UID ");
			unsigned long long uid = u ? strtoull(u + 4, NULL, 10) : 0;
			char pos[600];
			snprintf(pos, sizeof(pos), "%s UID %llu", folder, uid);
			struct pos_mail m;
			char reason[128];
			if (!lit.len) {
				sink->skip(sink->ctx, pos, "the server sent no message body");
			} else if (pos_mail_parse(lit.data, lit.len, max_body, extra, &m, reason,
						  sizeof(reason))) {
				struct pos_error e;
				pos_error_clear(&e);
				enum pos_err urc = sink->upsert(sink->ctx, &m.item, &e);
				pos_mail_free(&m);
				if (urc && urc != POS_ERR_INVALID_FIELD && !rc) {
					*err = e;
					rc = urc; /* read to the end of the response first */
				}
			} else {
				sink->skip(sink->ctx, pos, reason);
			}
			if (!rc && (int64_t)uid > fs->last_uid)
				fs->last_uid = (int64_t)uid;
			sink->progress(sink->ctx, ++st->done, st->total);
		}
		if (!rc && !ok)
			rc = pos_error_set(err, POS_ERR_BAD_GATEWAY, NULL,
					   "the IMAP server refused to fetch mail from folder %.200s",
					   folder);
	}
	json_decref(extra);
	/* the highest UID asked for is done even if the server skipped it */
	if (!rc && n_uids && (int64_t)uids[n_uids - 1] > fs->last_uid)
		fs->last_uid = (int64_t)uids[n_uids - 1];
out:
	pos_free(uids);
	pos_buf_free(&cmd);
	pos_buf_free(&text);
	pos_buf_free(&lit);
	return rc;
}

static enum pos_err imap_run(const json_t *cfg, const json_t *cursor, json_t **cursor_out,
			     const struct pos_sync_sink *sink, struct pos_error *err)
{
	pos_mail_init();
	size_t max_body;
	pos_mail_max_body(cfg, &max_body);
	bool only_flagged = json_is_true(json_object_get(cfg, "only_flagged"));
	json_t *folders = json_object_get(cfg, "folders");
	json_t *deflt = NULL;
	if (!json_is_array(folders))
		folders = deflt = json_pack("[s]", "INBOX");
	struct conn c;
	memset(&c, 0, sizeof(c));
	c.sink = sink;
	enum pos_err rc = open_conn(&c, cfg, sink, err);
	json_t *out = json_object();
	json_t *out_folders = json_object();
	json_object_set(out, "folders", out_folders);
	const json_t *old = json_object_get(cursor, "folders");
	struct fstats st = {0, 0};
	bool all_full = true;
	size_t i;
	json_t *f;
	json_array_foreach(folders, i, f) {
		if (rc)
			break;
		const char *name = json_string_value(f);
		const json_t *o = json_object_get(old, name);
		struct folder_state fs = {
			json_integer_value(json_object_get(o, "uidvalidity")),
			json_integer_value(json_object_get(o, "last_uid")),
		};
		bool full = false;
		rc = sync_folder(&c, name, only_flagged, max_body, &fs, sink, &st, &full, err);
		all_full = all_full && full;
		if (!rc)
			json_object_set_new(out_folders, name,
					    json_pack("{s:I,s:I}", "uidvalidity", (json_int_t)fs.uidvalidity,
						      "last_uid", (json_int_t)fs.last_uid));
	}
	close_conn(&c);
	json_decref(out_folders);
	json_decref(deflt);
	if (rc) {
		json_decref(out);
		return rc;
	}
	sink->progress(sink->ctx, st.done, st.total);
	/* Every folder was read whole (first run or all renumbered) and not
	 * filtered: mail gone from the server is removed too. */
	if (all_full && !only_flagged)
		sink->complete(sink->ctx);
	*cursor_out = out;
	return POS_OK;
}

const struct pos_sync_adapter pos_sync_imap = {
	.kind = "imap",
	.secret_keys = imap_secrets,
	.validate = imap_validate,
	.run = imap_run,
};
