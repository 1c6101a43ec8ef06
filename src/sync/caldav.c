/*
 * caldav.c — the caldav adapter (RFC 4791 CalDAV, RFC 6578 sync): the
 * calendars of a principal, or chosen ones, as event items.
 *
 * Discovery: PROPFIND the configured URL for current-user-principal,
 * calendar-home-set and resourcetype (a URL that already is a calendar
 * is used alone), then PROPFIND Depth 1 on the calendar home for the
 * collections whose resourcetype is a calendar. Per calendar, when it
 * offers a sync-token: a sync-collection REPORT from the last token
 * (changed resources with their data, deleted ones as 404); otherwise a
 * PROPFIND Depth 1 for every resource's ETag, compared with the cursor,
 * and a calendar-multiget for the changed ones. Every resource's text goes
 * through sync/ics; the external_ids it produced are remembered per href,
 * so a deleted resource, a deleted calendar, or an instance that vanished
 * from a changed series becomes sink->remove.
 *
 * use_sync_token: false forces the ETag comparison even when the server
 * offers sync tokens (for servers whose sync-collection is broken).
 *
 * Cursor: {window, calendars: {href: {sync_token, etags: {href: etag},
 * ids: {href: [external_id]}}}}. When the recurrence window has moved by a
 * day, resources holding recurring events are fetched again.
 *
 * Errors: HTTP 401 POS_ERR_BAD_CREDENTIALS, 403 POS_ERR_FORBIDDEN; unreachable, TLS, timeout
 * POS_ERR_UNAVAILABLE; an answer that is not the expected XML
 * POS_ERR_BAD_GATEWAY. On any error the cursor is not advanced.
 */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "sync/adapter.h"
#include "sync/fetch.h"
#include "sync/ics.h"

#define NS_DAV "DAV:"
#define NS_CAL "urn:ietf:params:xml:ns:caldav"
#define NS_CS "http://calendarserver.org/ns/"
#define MAX_XML (64u << 20)
#define MULTIGET_BATCH 100
#define MAX_CALENDARS 100
#define DAY_US (86400LL * 1000000LL)

static const char *const caldav_secrets[] = {"password", "token", NULL};

/* ---- config -------------------------------------------------------------- */

static enum pos_err check_str(const json_t *config, const char *key,
			      bool required, size_t max, struct pos_error *err)
{
	const json_t *v = json_object_get(config, key);
	if (!v || json_is_null(v))
		return required ? pos_error_set(err, POS_ERR_INVALID_FIELD, key,
						"%s is required", key)
				: POS_OK;
	if (!json_is_string(v) || (required && json_string_length(v) == 0) ||
	    json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, key,
				     "%s must be a string of at most %zu bytes",
				     key, max);
	return POS_OK;
}

static enum pos_err caldav_check(const json_t *config, struct pos_error *err)
{
	struct pos_ics_window w;
	if (!json_is_object(config))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "config",
				     "config must be an object");
	enum pos_err rc = check_str(config, "url", true, 2000, err);
	if (!rc && !pos_fetch_url_ok(json_string_value(json_object_get(config, "url"))))
		rc = pos_error_set(err, POS_ERR_INVALID_FIELD, "url",
				   "url must be an http:// or https:// URL");
	if (!rc)
		rc = check_str(config, "user", false, 256, err);
	if (!rc)
		rc = check_str(config, "password", false, 1024, err);
	if (!rc)
		rc = check_str(config, "token", false, 8192, err);
	if (rc)
		return rc;
	const json_t *us = json_object_get(config, "use_sync_token");
	if (us && !json_is_null(us) && !json_is_boolean(us))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "use_sync_token",
				     "use_sync_token must be true or false");
	const json_t *cals = json_object_get(config, "calendars");
	if (cals && !json_is_null(cals)) {
		size_t i;
		json_t *v;
		if (!json_is_array(cals) || json_array_size(cals) > MAX_CALENDARS)
			return pos_error_set(err, POS_ERR_INVALID_FIELD, "calendars",
					     "calendars must be a list of at most %d "
					     "names or paths", MAX_CALENDARS);
		json_array_foreach(cals, i, v) {
			if (!json_is_string(v) || json_string_length(v) == 0 ||
			    json_string_length(v) > 1000)
				return pos_error_set(err, POS_ERR_INVALID_FIELD,
						     "calendars",
						     "calendars[%zu] must be a "
						     "non-empty string", i);
		}
	}
	return pos_ics_window_from_config(config, pos_now_us(), &w, err);
}

static enum pos_err caldav_validate(const json_t *config, struct pos_error *err)
{
	enum pos_err rc = caldav_check(config, err);
	return rc ? pos_ics_config_field(err) : POS_OK;
}

/* ---- XML ----------------------------------------------------------------- */

struct dav_resp {
	char *href;
	int status;          /* of the response, or of the 200 propstat */
	char *etag;
	char *data;          /* calendar-data */
	bool is_calendar;
	char *name;          /* displayname */
	char *principal;     /* current-user-principal/href */
	char *home;          /* calendar-home-set/href */
	char *sync_token;
};

struct dav_ms {
	struct dav_resp *v;
	size_t n;
	char *sync_token; /* top-level, from sync-collection */
};

static bool is(const xmlNode *n, const char *ns, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
	       strcmp((const char *)n->ns->href, ns) == 0 &&
	       strcmp((const char *)n->name, name) == 0;
}

static const xmlNode *child(const xmlNode *n, const char *ns, const char *name)
{
	for (const xmlNode *c = n ? n->children : NULL; c; c = c->next)
		if (is(c, ns, name))
			return c;
	return NULL;
}

/* Trimmed text content as a heap string (NULL when absent). */
static char *text_of(const xmlNode *n)
{
	if (!n)
		return NULL;
	xmlChar *t = xmlNodeGetContent(n);
	if (!t)
		return NULL;
	const char *s = (const char *)t;
	size_t len = strlen(s);
	while (len && strchr(" \t\r\n", s[len - 1]))
		len--;
	while (len && strchr(" \t\r\n", *s))
		s++, len--;
	char *out = pos_strndup(s, len);
	xmlFree(t);
	return out;
}

static int status_code(const xmlNode *st)
{
	char *s = text_of(st);
	int code = 0;
	if (s) {
		const char *p = strchr(s, ' ');
		if (p)
			code = (int)strtol(p + 1, NULL, 10);
		pos_free(s);
	}
	return code;
}

static void ms_free(struct dav_ms *m)
{
	for (size_t i = 0; i < m->n; i++) {
		struct dav_resp *r = &m->v[i];
		pos_free(r->href);
		pos_free(r->etag);
		pos_free(r->data);
		pos_free(r->name);
		pos_free(r->principal);
		pos_free(r->home);
		pos_free(r->sync_token);
	}
	pos_free(m->v);
	pos_free(m->sync_token);
	memset(m, 0, sizeof(*m));
}

/* libxml2 2.9 must be initialised once before threads parse; its lazy
 * initialisation inside xmlReadMemory is not thread-safe. */
static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static enum pos_err parse_ms(const char *body, size_t len, const char *what,
			     struct dav_ms *out, struct pos_error *err)
{
	memset(out, 0, sizeof(*out));
	pthread_once(&xml_once, xmlInitParser);
	if (len > INT32_MAX)
		return pos_error_set(err, POS_ERR_BAD_GATEWAY, NULL, "%s: answer too large", what);
	xmlDoc *doc = xmlReadMemory(body, (int)len, NULL, NULL,
				    XML_PARSE_NONET | XML_PARSE_NOERROR |
				    XML_PARSE_NOWARNING);
	xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
	if (!is(root, NS_DAV, "multistatus")) {
		if (doc)
			xmlFreeDoc(doc);
		return pos_error_set(err, POS_ERR_BAD_GATEWAY, NULL,
				     "%s: the server did not answer a WebDAV "
				     "multistatus document", what);
	}
	size_t cap = 0;
	enum pos_err rc = POS_OK;
	for (const xmlNode *r = root->children; r && !rc; r = r->next) {
		if (is(r, NS_DAV, "sync-token")) {
			pos_free(out->sync_token);
			out->sync_token = text_of(r);
			continue;
		}
		if (!is(r, NS_DAV, "response"))
			continue;
		if (out->n == cap) {
			size_t nc = cap ? cap * 2 : 32;
			struct dav_resp *nv = pos_realloc(out->v, nc * sizeof(*nv));
			if (!nv) {
				rc = POS_ERR_NOMEM;
				break;
			}
			out->v = nv;
			cap = nc;
		}
		struct dav_resp *d = &out->v[out->n];
		memset(d, 0, sizeof(*d));
		d->href = text_of(child(r, NS_DAV, "href"));
		if (!d->href)
			continue;
		out->n++;
		d->status = status_code(child(r, NS_DAV, "status"));
		for (const xmlNode *ps = r->children; ps; ps = ps->next) {
			if (!is(ps, NS_DAV, "propstat"))
				continue;
			int st = status_code(child(ps, NS_DAV, "status"));
			if (st != 200)
				continue;
			if (!d->status)
				d->status = 200;
			const xmlNode *prop = child(ps, NS_DAV, "prop");
			for (const xmlNode *p = prop ? prop->children : NULL; p; p = p->next) {
				if (is(p, NS_DAV, "getetag") && !d->etag)
					d->etag = text_of(p);
				else if (is(p, NS_CAL, "calendar-data") && !d->data)
					d->data = text_of(p);
				else if (is(p, NS_DAV, "displayname") && !d->name)
					d->name = text_of(p);
				else if (is(p, NS_DAV, "sync-token") && !d->sync_token)
					d->sync_token = text_of(p);
				else if (is(p, NS_DAV, "resourcetype"))
					d->is_calendar = child(p, NS_CAL, "calendar") != NULL;
				else if (is(p, NS_DAV, "current-user-principal") && !d->principal)
					d->principal = text_of(child(p, NS_DAV, "href"));
				else if (is(p, NS_CAL, "calendar-home-set") && !d->home)
					d->home = text_of(child(p, NS_DAV, "href"));
			}
		}
	}
	xmlFreeDoc(doc);
	if (rc) {
		ms_free(out);
		return pos_error_set(err, rc, NULL, NULL);
	}
	return POS_OK;
}

/* ---- HTTP ---------------------------------------------------------------- */

struct dav {
	const json_t *config;
	char base[2048];     /* the configured URL */
	char origin[512];    /* scheme://host[:port] */
	struct pos_error *err;
	const struct pos_sync_sink *sink; /* egress policy, cancellation */
};

static const char *cfg_str(const json_t *c, const char *k)
{
	return json_string_value(json_object_get(c, k));
}

/* Makes url the base that relative hrefs are resolved against. */
static void set_base(struct dav *d, const char *url)
{
	snprintf(d->base, sizeof(d->base), "%s", url);
	const char *sep = strstr(d->base, "://");
	size_t ol = sep ? (size_t)(sep + 3 - d->base) + strcspn(sep + 3, "/")
			: strlen(d->base);
	snprintf(d->origin, sizeof(d->origin), "%.*s", (int)ol, d->base);
}

/* Absolute URL of an href seen in an answer to `base`. */
static void abs_url(const struct dav *d, const char *href, char *out, size_t cap)
{
	if (strncasecmp(href, "http://", 7) == 0 || strncasecmp(href, "https://", 8) == 0)
		snprintf(out, cap, "%s", href);
	else if (href[0] == '/')
		snprintf(out, cap, "%s%s", d->origin, href);
	else {
		const char *slash = strrchr(d->base, '/');
		size_t n = slash ? (size_t)(slash - d->base) + 1 : strlen(d->base);
		snprintf(out, cap, "%.*s%s", (int)n, d->base, href);
	}
}

/* The path part of an href or URL, for comparing hrefs. */
static const char *path_of(const char *href)
{
	if (strncasecmp(href, "http://", 7) == 0 || strncasecmp(href, "https://", 8) == 0) {
		const char *p = strchr(strstr(href, "://") + 3, '/');
		return p ? p : "/";
	}
	return href;
}

static enum pos_err dav_req(struct dav *d, const char *method, const char *url,
			    const char *depth, const char *body, const char *what,
			    struct pos_fetch_resp *resp, struct dav_ms *ms)
{
	char dh[32];
	const char *headers[4] = {"Content-Type: application/xml; charset=utf-8", NULL, NULL, NULL};
	int k = 1;
	if (depth) {
		snprintf(dh, sizeof(dh), "Depth: %s", depth);
		headers[k++] = dh;
	}
	headers[k++] = "Prefer: return-minimal";
	struct pos_fetch_req req = {
		.method = method, .url = url,
		.user = cfg_str(d->config, "user"), .password = cfg_str(d->config, "password"),
		.token = cfg_str(d->config, "token"), .headers = headers,
		.body = body, .body_len = body ? strlen(body) : 0,
		.max_bytes = MAX_XML, .sink = d->sink,
	};
	enum pos_err rc = pos_fetch(&req, resp, d->err);
	if (rc)
		return rc;
	if (resp->status != 207)
		return pos_fetch_status_err(resp->status, what, d->err);
	return parse_ms(resp->body.data, resp->body.len, what, ms, d->err);
}

static enum pos_err propfind(struct dav *d, const char *url, const char *depth,
			     const char *props, const char *what, struct dav_ms *ms)
{
	struct pos_fetch_resp resp = {0};
	struct pos_buf b;
	pos_buf_init(&b, 8192);
	pos_buf_addf(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
			 "<D:propfind xmlns:D=\"DAV:\" xmlns:C=\"" NS_CAL "\" "
			 "xmlns:CS=\"" NS_CS "\"><D:prop>%s</D:prop></D:propfind>",
		     props);
	enum pos_err rc = b.data ? dav_req(d, "PROPFIND", url, depth, b.data, what, &resp, ms)
				 : pos_error_set(d->err, POS_ERR_NOMEM, NULL, NULL);
	pos_fetch_resp_free(&resp);
	pos_buf_free(&b);
	return rc;
}

static enum pos_err xml_escape(struct pos_buf *b, const char *s)
{
	enum pos_err rc = POS_OK;
	for (; *s && !rc; s++) {
		switch (*s) {
		case '&': rc = pos_buf_adds(b, "&amp;"); break;
		case '<': rc = pos_buf_adds(b, "&lt;"); break;
		case '>': rc = pos_buf_adds(b, "&gt;"); break;
		default: rc = pos_buf_addc(b, *s); break;
		}
	}
	return rc;
}

/* ---- discovery ----------------------------------------------------------- */

struct cal {
	char *href;
	char *name;
	char *sync_token; /* NULL when the server offers none */
};

static void cals_free(struct cal *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		pos_free(v[i].href);
		pos_free(v[i].name);
		pos_free(v[i].sync_token);
	}
	pos_free(v);
}

static bool wanted(const json_t *filter, const struct cal *c)
{
	if (!json_is_array(filter) || json_array_size(filter) == 0)
		return true;
	size_t i;
	json_t *v;
	const char *p = path_of(c->href);
	size_t pl = strlen(p);
	while (pl && p[pl - 1] == '/')
		pl--;
	const char *seg = p + pl;
	while (seg > p && seg[-1] != '/')
		seg--;
	size_t sl = (size_t)(p + pl - seg);
	json_array_foreach(filter, i, v) {
		const char *f = json_string_value(v);
		size_t fl = strlen(f);
		while (fl && f[fl - 1] == '/')
			fl--;
		if ((c->name && strcmp(f, c->name) == 0) ||
		    (fl == sl && strncmp(f, seg, sl) == 0) ||
		    (fl == pl && strncmp(f, p, pl) == 0) ||
		    strcmp(path_of(f), p) == 0)
			return true;
	}
	return false;
}

static const char CAL_PROPS[] =
	"<D:resourcetype/><D:displayname/><D:sync-token/>"
	"<D:current-user-principal/><C:calendar-home-set/>";

static enum pos_err discover(struct dav *d, struct cal **out, size_t *nout)
{
	struct dav_ms ms = {0};
	char url[2200], home[2200];
	struct cal *v = NULL;
	size_t n = 0;
	enum pos_err rc;

	*out = NULL;
	*nout = 0;
	rc = propfind(d, d->base, "0", CAL_PROPS, "the CalDAV URL", &ms);
	if (rc)
		return rc;
	if (ms.n && ms.v[0].is_calendar) {
		/* The URL is a calendar itself. */
		v = pos_calloc(1, sizeof(*v));
		if (!v || !(v[0].href = pos_strdup(path_of(d->base)))) {
			pos_free(v);
			ms_free(&ms);
			return pos_error_set(d->err, POS_ERR_NOMEM, NULL, NULL);
		}
		v[0].name = ms.v[0].name ? pos_strdup(ms.v[0].name) : NULL;
		v[0].sync_token = ms.v[0].sync_token && *ms.v[0].sync_token
					  ? pos_strdup(ms.v[0].sync_token) : NULL;
		ms_free(&ms);
		*out = v;
		*nout = 1;
		return POS_OK;
	}
	home[0] = '\0';
	for (size_t i = 0; i < ms.n && !home[0]; i++)
		if (ms.v[i].home)
			abs_url(d, ms.v[i].home, home, sizeof(home));
	char principal[2200] = "";
	for (size_t i = 0; i < ms.n && !principal[0]; i++)
		if (ms.v[i].principal)
			abs_url(d, ms.v[i].principal, principal, sizeof(principal));
	ms_free(&ms);
	if (!home[0]) {
		if (!principal[0])
			return pos_error_set(d->err, POS_ERR_BAD_GATEWAY, NULL,
					     "no CalDAV principal or calendar at the URL "
					     "(is it a CalDAV server?)");
		rc = propfind(d, principal, "0", "<C:calendar-home-set/>",
			      "the CalDAV principal", &ms);
		if (rc)
			return rc;
		for (size_t i = 0; i < ms.n && !home[0]; i++)
			if (ms.v[i].home)
				abs_url(d, ms.v[i].home, home, sizeof(home));
		ms_free(&ms);
		if (!home[0])
			return pos_error_set(d->err, POS_ERR_BAD_GATEWAY, NULL,
					     "the CalDAV principal has no calendar-home-set");
	}
	snprintf(url, sizeof(url), "%s", home);
	/* The home may live on another host (iCloud: pNN-caldav.icloud.com):
	 * the calendars' hrefs are relative to it from here on. */
	set_base(d, home);
	rc = propfind(d, url, "1", CAL_PROPS, "the calendar home", &ms);
	if (rc)
		return rc;
	v = pos_calloc(ms.n ? ms.n : 1, sizeof(*v));
	if (!v) {
		ms_free(&ms);
		return pos_error_set(d->err, POS_ERR_NOMEM, NULL, NULL);
	}
	const json_t *filter = json_object_get(d->config, "calendars");
	for (size_t i = 0; i < ms.n && n < MAX_CALENDARS; i++) {
		struct dav_resp *r = &ms.v[i];
		if (!r->is_calendar)
			continue;
		struct cal c = {(char *)path_of(r->href), r->name, NULL};
		if (!wanted(filter, &c))
			continue;
		v[n].href = pos_strdup(path_of(r->href));
		v[n].name = r->name ? pos_strdup(r->name) : NULL;
		v[n].sync_token = r->sync_token && *r->sync_token ? pos_strdup(r->sync_token) : NULL;
		if (!v[n].href) {
			cals_free(v, n);
			ms_free(&ms);
			return pos_error_set(d->err, POS_ERR_NOMEM, NULL, NULL);
		}
		n++;
	}
	ms_free(&ms);
	*out = v;
	*nout = n;
	return POS_OK;
}

/* ---- one calendar -------------------------------------------------------- */

struct calrun {
	struct dav *d;
	const struct pos_ics_window *w;
	const struct pos_sync_sink *sink;
	json_t *etags;    /* href -> etag, the new state */
	json_t *ids;      /* href -> [ids], the new state */
	const json_t *old_ids;
};

static bool has_recurring(const json_t *ids)
{
	size_t i;
	json_t *v;
	json_array_foreach(ids, i, v) {
		if (strchr(json_string_value(v), '#'))
			return true;
	}
	return false;
}

/* Removes the ids in old[] that are not in now[] (now may be NULL). */
static enum pos_err remove_gone(struct calrun *cr, const json_t *old, const json_t *now)
{
	size_t i, j;
	json_t *v, *x;
	json_array_foreach(old, i, v) {
		bool keep = false;
		json_array_foreach(now, j, x) {
			if (json_equal(v, x)) {
				keep = true;
				break;
			}
		}
		if (keep)
			continue;
		enum pos_err rc = cr->sink->remove(cr->sink->ctx, json_string_value(v), cr->d->err);
		if (rc && rc != POS_ERR_NOT_FOUND)
			return rc;
	}
	return POS_OK;
}

/* Imports one resource's text; records its etag and ids. */
static enum pos_err take(struct calrun *cr, const char *href, const char *etag,
			 const char *data)
{
	json_t *ids = json_array();
	struct pos_ics_stats st = {0};
	if (!ids)
		return pos_error_set(cr->d->err, POS_ERR_NOMEM, NULL, NULL);
	enum pos_err rc = pos_ics_import(data, strlen(data), cr->w, href, cr->sink,
					 ids, &st, cr->d->err);
	if (rc == POS_ERR_BAD_GATEWAY) {
		/* One resource that is not iCalendar: skip it, go on. */
		if (cr->sink->skip)
			cr->sink->skip(cr->sink->ctx, href, "not iCalendar data");
		rc = POS_OK;
	}
	if (!rc)
		rc = remove_gone(cr, json_object_get(cr->old_ids, href), ids);
	if (!rc) {
		json_object_set_new(cr->etags, href, json_string(etag ? etag : ""));
		json_object_set_new(cr->ids, href, ids);
	} else {
		json_decref(ids);
	}
	return rc;
}

static enum pos_err gone(struct calrun *cr, const char *href)
{
	/* href may be a key of cr->etags, freed by the first del: copy it. */
	char *h = pos_strdup(href);
	if (!h)
		return pos_error_set(cr->d->err, POS_ERR_NOMEM, NULL, NULL);
	enum pos_err rc = remove_gone(cr, json_object_get(cr->old_ids, h), NULL);
	json_object_del(cr->ids, h);
	json_object_del(cr->etags, h);
	pos_free(h);
	return rc;
}

/* calendar-multiget of hrefs[0..n) in batches. */
static enum pos_err multiget(struct calrun *cr, const char *cal_url,
			     const char *const *hrefs, size_t n)
{
	enum pos_err rc = POS_OK;
	for (size_t at = 0; !rc && at < n; at += MULTIGET_BATCH) {
		struct pos_buf b;
		struct pos_fetch_resp resp = {0};
		struct dav_ms ms = {0};
		pos_buf_init(&b, 4u << 20);
		rc = pos_buf_adds(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
				      "<C:calendar-multiget xmlns:D=\"DAV:\" xmlns:C=\"" NS_CAL "\">"
				      "<D:prop><D:getetag/><C:calendar-data/></D:prop>");
		for (size_t i = at; !rc && i < n && i < at + MULTIGET_BATCH; i++) {
			rc = pos_buf_adds(&b, "<D:href>");
			if (!rc)
				rc = xml_escape(&b, hrefs[i]);
			if (!rc)
				rc = pos_buf_adds(&b, "</D:href>");
		}
		if (!rc)
			rc = pos_buf_adds(&b, "</C:calendar-multiget>");
		if (rc) {
			pos_buf_free(&b);
			return pos_error_set(cr->d->err, rc, NULL, NULL);
		}
		rc = dav_req(cr->d, "REPORT", cal_url, "1", b.data, "calendar-multiget",
			     &resp, &ms);
		pos_fetch_resp_free(&resp);
		pos_buf_free(&b);
		for (size_t i = 0; !rc && i < ms.n; i++) {
			struct dav_resp *r = &ms.v[i];
			const char *h = path_of(r->href);
			if (r->status == 404)
				rc = gone(cr, h);
			else if (r->status == 200 && r->data)
				rc = take(cr, h, r->etag, r->data);
		}
		ms_free(&ms);
		if (!rc && cr->sink->cancelled && cr->sink->cancelled(cr->sink->ctx))
			rc = pos_error_set(cr->d->err, POS_ERR_UNAVAILABLE, NULL,
					   "the run was cancelled");
	}
	return rc;
}

static bool is_ics_resource(const struct dav_resp *r, const char *cal_href)
{
	const char *h = path_of(r->href);
	size_t hl = strlen(h), cl = strlen(cal_href);
	/* Not the collection itself. */
	while (hl && h[hl - 1] == '/')
		hl--;
	while (cl && cal_href[cl - 1] == '/')
		cl--;
	return !(hl == cl && strncmp(h, cal_href, hl) == 0) && !r->is_calendar &&
	       h[strlen(h) - 1] != '/';
}

/* ETag mode: list, compare, fetch the changed, remove the gone. */
static enum pos_err by_etags(struct calrun *cr, const char *cal_href,
			     const char *cal_url, const json_t *old_etags,
			     bool window_moved)
{
	struct dav_ms ms = {0};
	const char **changed = NULL;
	size_t nch = 0;
	enum pos_err rc = propfind(cr->d, cal_url, "1", "<D:getetag/><D:resourcetype/>",
				   "the calendar listing", &ms);
	if (rc)
		return rc;
	json_t *present = json_object();
	changed = pos_calloc(ms.n ? ms.n : 1, sizeof(*changed));
	if (!present || !changed) {
		rc = pos_error_set(cr->d->err, POS_ERR_NOMEM, NULL, NULL);
		goto out;
	}
	for (size_t i = 0; i < ms.n; i++) {
		struct dav_resp *r = &ms.v[i];
		if (!is_ics_resource(r, cal_href) || r->status != 200)
			continue;
		const char *h = path_of(r->href);
		json_object_set_new(present, h, json_true());
		const char *old = json_string_value(json_object_get(old_etags, h));
		bool same = old && r->etag && strcmp(old, r->etag) == 0;
		if (same && window_moved && has_recurring(json_object_get(cr->old_ids, h)))
			same = false;
		if (!same)
			changed[nch++] = h;
	}
	/* Gone: in the old state, not listed now. */
	const char *k;
	json_t *v, *tmp;
	json_object_foreach_safe(cr->etags, tmp, k, v) {
		(void)v;
		if (!rc && !json_object_get(present, k))
			rc = gone(cr, k);
	}
	if (!rc && nch)
		rc = multiget(cr, cal_url, changed, nch);
out:
	pos_free(changed);
	json_decref(present);
	ms_free(&ms);
	return rc;
}

/* sync-collection from `token` ("" for the first). *token_out: new token.
 * Returns POS_ERR_CONFLICT when the server refuses the token. */
static enum pos_err by_sync(struct calrun *cr, const char *cal_href,
			    const char *cal_url, const char *token, char **token_out)
{
	struct pos_buf b;
	struct pos_fetch_resp resp = {0};
	struct dav_ms ms = {0};
	enum pos_err rc;
	const char **need = NULL;
	size_t nneed = 0;

	*token_out = NULL;
	pos_buf_init(&b, 16384);
	rc = pos_buf_adds(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
			      "<D:sync-collection xmlns:D=\"DAV:\" xmlns:C=\"" NS_CAL "\">"
			      "<D:sync-token>");
	if (!rc)
		rc = xml_escape(&b, token);
	if (!rc)
		rc = pos_buf_adds(&b, "</D:sync-token><D:sync-level>1</D:sync-level>"
				      "<D:prop><D:getetag/><C:calendar-data/></D:prop>"
				      "</D:sync-collection>");
	if (rc) {
		pos_buf_free(&b);
		return pos_error_set(cr->d->err, rc, NULL, NULL);
	}
	struct pos_fetch_req req = {
		.method = "REPORT", .url = cal_url,
		.user = cfg_str(cr->d->config, "user"),
		.password = cfg_str(cr->d->config, "password"),
		.token = cfg_str(cr->d->config, "token"),
		.headers = (const char *const[]){"Content-Type: application/xml; charset=utf-8",
						  "Depth: 0", NULL},
		.body = b.data, .body_len = b.len, .max_bytes = MAX_XML,
		.sink = cr->d->sink,
	};
	rc = pos_fetch(&req, &resp, cr->d->err);
	pos_buf_free(&b);
	if (rc)
		goto out;
	if (*token && (resp.status == 403 || resp.status == 409 || resp.status == 400) &&
	    strstr(resp.body.data ? resp.body.data : "", "valid-sync-token")) {
		rc = POS_ERR_CONFLICT;
		goto out;
	}
	if (resp.status != 207) {
		rc = pos_fetch_status_err(resp.status, "sync-collection", cr->d->err);
		goto out;
	}
	rc = parse_ms(resp.body.data, resp.body.len, "sync-collection", &ms, cr->d->err);
	if (rc)
		goto out;
	need = pos_calloc(ms.n ? ms.n : 1, sizeof(*need));
	if (!need) {
		rc = pos_error_set(cr->d->err, POS_ERR_NOMEM, NULL, NULL);
		goto out;
	}
	json_t *seen = *token ? NULL : json_object();
	for (size_t i = 0; !rc && i < ms.n; i++) {
		struct dav_resp *r = &ms.v[i];
		if (!is_ics_resource(r, cal_href))
			continue;
		const char *h = path_of(r->href);
		if (r->status == 404) {
			rc = gone(cr, h);
			continue;
		}
		if (seen)
			json_object_set_new(seen, h, json_true());
		const char *old = json_string_value(json_object_get(cr->etags, h));
		if (old && r->etag && strcmp(old, r->etag) == 0)
			continue; /* listed, unchanged (a full listing) */
		if (r->data)
			rc = take(cr, h, r->etag, r->data);
		else
			need[nneed++] = h;
	}
	if (!rc && nneed)
		rc = multiget(cr, cal_url, need, nneed);
	/* A full listing (empty token) also tells what is gone. */
	if (!rc && seen) {
		const char *k;
		json_t *v, *tmp;
		json_object_foreach_safe(cr->etags, tmp, k, v) {
			(void)v;
			if (!rc && !json_object_get(seen, k))
				rc = gone(cr, k);
		}
	}
	json_decref(seen);
	if (!rc) {
		if (!ms.sync_token || !*ms.sync_token)
			rc = pos_error_set(cr->d->err, POS_ERR_BAD_GATEWAY, NULL,
					   "sync-collection answer without a sync-token");
		else
			*token_out = pos_strdup(ms.sync_token);
	}
out:
	pos_free(need);
	ms_free(&ms);
	pos_fetch_resp_free(&resp);
	return rc;
}

/* ---- run ----------------------------------------------------------------- */

static enum pos_err caldav_run(const json_t *config, const json_t *cursor,
			       json_t **cursor_out, const struct pos_sync_sink *sink,
			       struct pos_error *err)
{
	struct dav d = {.config = config, .err = err, .sink = sink};
	struct pos_ics_window w;
	struct cal *cals = NULL;
	size_t ncal = 0;
	json_t *out_cals = NULL;
	enum pos_err rc = caldav_validate(config, err);
	if (rc)
		return rc;
	pos_ics_window_from_config(config, pos_now_us(), &w, err);
	json_int_t day = (json_int_t)(w.from_us / DAY_US);
	const json_t *cw = json_object_get(cursor, "window");
	bool window_moved = json_is_integer(cw) && json_integer_value(cw) != day;
	bool use_sync = !json_is_false(json_object_get(config, "use_sync_token"));

	set_base(&d, cfg_str(config, "url"));

	rc = discover(&d, &cals, &ncal);
	if (rc)
		goto out;
	out_cals = json_object();
	if (!out_cals) {
		rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
		goto out;
	}
	const json_t *old_cals = json_object_get(cursor, "calendars");
	for (size_t i = 0; !rc && i < ncal; i++) {
		const json_t *oc = json_object_get(old_cals, cals[i].href);
		char url[2200];
		abs_url(&d, cals[i].href, url, sizeof(url));
		struct calrun cr = {
			.d = &d, .w = &w, .sink = sink,
			.etags = json_deep_copy(json_object_get(oc, "etags")),
			.ids = json_deep_copy(json_object_get(oc, "ids")),
			.old_ids = json_object_get(oc, "ids"),
		};
		if (!cr.etags)
			cr.etags = json_object();
		if (!cr.ids)
			cr.ids = json_object();
		char *tok = NULL;
		const char *old_tok = json_string_value(json_object_get(oc, "sync_token"));
		if (cals[i].sync_token && !window_moved && use_sync) {
			rc = by_sync(&cr, cals[i].href, url, old_tok ? old_tok : "", &tok);
			if (rc == POS_ERR_CONFLICT) /* token expired: list again */
				rc = by_sync(&cr, cals[i].href, url, "", &tok);
		} else {
			rc = by_etags(&cr, cals[i].href, url, json_object_get(oc, "etags"),
				      window_moved);
			if (!rc && cals[i].sync_token)
				tok = pos_strdup(cals[i].sync_token);
		}
		if (!rc) {
			json_t *c = json_pack("{s:s?, s:O, s:O}", "sync_token", tok,
					      "etags", cr.etags, "ids", cr.ids);
			if (!c || json_object_set_new(out_cals, cals[i].href, c))
				rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
		}
		pos_free(tok);
		json_decref(cr.etags);
		json_decref(cr.ids);
		if (sink->progress)
			sink->progress(sink->ctx, i + 1, ncal);
	}
	/* Calendars that went away (or were left out of `calendars`). */
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)old_cals, k, v) {
		if (rc || json_object_get(out_cals, k))
			continue;
		const char *h;
		json_t *ids;
		json_object_foreach(json_object_get(v, "ids"), h, ids) {
			size_t j;
			json_t *id;
			json_array_foreach(ids, j, id) {
				enum pos_err r2 = sink->remove(sink->ctx, json_string_value(id), err);
				if (r2 && r2 != POS_ERR_NOT_FOUND && !rc)
					rc = r2;
			}
		}
	}
	if (!rc) {
		*cursor_out = json_pack("{s:I, s:O}", "window", day, "calendars", out_cals);
		if (!*cursor_out)
			rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	}
out:
	cals_free(cals, ncal);
	json_decref(out_cals);
	return rc;
}

const struct pos_sync_adapter pos_sync_caldav = {
	.kind = "caldav",
	.secret_keys = caldav_secrets,
	.validate = caldav_validate,
	.run = caldav_run,
};
