/*
 * manifest.c — parsing and checking plugin.json (manifest.h).
 */
#include "plugins/manifest.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const hook_names[POS_HOOKS_COUNT] = {
	"on_memory_created", "on_query", "on_memory_accessed", "on_user_action", "on_memory_creating"};

unsigned pos_manifest_hook(const char *name)
{
	for (unsigned i = 0; i < POS_HOOKS_COUNT; i++)
		if (strcmp(hook_names[i], name) == 0)
			return 1u << i;
	return 0;
}

const char *pos_manifest_hook_name(unsigned bit)
{
	for (unsigned i = 0; i < POS_HOOKS_COUNT; i++)
		if (bit == 1u << i)
			return hook_names[i];
	return NULL;
}

static bool id_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > POS_MANIFEST_ID_MAX || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

/* host or host:port, letters digits . - only (no userinfo, no path). */
static bool host_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 255)
		return false;
	const char *colon = strchr(s, ':');
	for (const char *p = s; *p && p != colon; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '.' || *p == '-'))
			return false;
	if (colon) {
		if (colon == s || !colon[1] || strlen(colon + 1) > 5)
			return false;
		for (const char *p = colon + 1; *p; p++)
			if (*p < '0' || *p > '9')
				return false;
	}
	return true;
}

static enum pos_err bad(struct pos_error *err, const char *field, const char *msg)
{
	return pos_error_set(err, POS_ERR_INVALID_FIELD, field, "%s", msg);
}

/* A required string of at most `max` bytes. */
static enum pos_err str_field(json_t *doc, const char *name, size_t max, bool required,
			      const char **out, struct pos_error *err)
{
	json_t *v = json_object_get(doc, name);
	*out = NULL;
	if (!v) {
		if (required)
			return pos_error_set(err, POS_ERR_INVALID_FIELD, name, "%s is required", name);
		return POS_OK;
	}
	if (!json_is_string(v) || json_string_length(v) > max || json_string_length(v) == 0)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, name, "%s must be a string of 1..%zu bytes",
				     name, max);
	*out = json_string_value(v);
	return POS_OK;
}

enum pos_err pos_manifest_perms(json_t *names, unsigned *out, struct pos_error *err)
{
	*out = 0;
	if (!json_is_array(names) || json_array_size(names) > 16)
		return bad(err, "permissions", "permissions must be an array of names");
	size_t i;
	json_t *v;
	json_array_foreach(names, i, v) {
		unsigned bit = json_is_string(v) ? pos_hostapi_perm(json_string_value(v)) : 0;
		if (!bit)
			return pos_error_set(err, POS_ERR_INVALID_FIELD, "permissions",
					     "unknown permission at index %zu", i);
		*out |= bit;
	}
	return POS_OK;
}

static bool type_ok(const char *t)
{
	return strcmp(t, "string") == 0 || strcmp(t, "number") == 0 || strcmp(t, "boolean") == 0 ||
	       strcmp(t, "url") == 0;
}

static bool url_ok(const char *s)
{
	bool ok = false;
	char *scheme = NULL, *user = NULL;
	CURLU *u = curl_url();
	if (u && strlen(s) <= POS_HOSTAPI_URL_MAX && curl_url_set(u, CURLUPART_URL, s, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK)
		ok = (strcasecmp(scheme, "http") == 0 || strcasecmp(scheme, "https") == 0) &&
		     curl_url_get(u, CURLUPART_USER, &user, 0) != CURLUE_OK;
	curl_free(scheme);
	curl_free(user);
	curl_url_cleanup(u);
	return ok;
}

/* Whether JSON value v fits setting type t. */
static bool value_ok(const char *t, json_t *v)
{
	if (strcmp(t, "boolean") == 0)
		return json_is_boolean(v);
	if (strcmp(t, "number") == 0)
		return json_is_number(v);
	if (!json_is_string(v) || json_string_length(v) > POS_MANIFEST_SETTING_STRING_MAX)
		return false;
	return strcmp(t, "url") != 0 || url_ok(json_string_value(v));
}

enum pos_err pos_manifest_parse(const char *text, size_t len, struct pos_manifest *m,
				struct pos_error *err)
{
	memset(m, 0, sizeof(*m));
	if (len > POS_MANIFEST_BYTES_MAX)
		return pos_error_set(err, POS_ERR_CONTENT_TOO_LARGE, "plugin.json", "manifest too large");
	json_error_t je;
	json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(doc)) {
		json_decref(doc);
		return pos_error_set(err, POS_ERR_INVALID_JSON, "plugin.json", "manifest is not a JSON object");
	}
	m->doc = doc;
	enum pos_err rc;
	if ((rc = str_field(doc, "id", POS_MANIFEST_ID_MAX, true, &m->id, err)) ||
	    (rc = str_field(doc, "name", 80, true, &m->name, err)) ||
	    (rc = str_field(doc, "version", 32, true, &m->version, err)) ||
	    (rc = str_field(doc, "description", 1000, true, &m->description, err)) ||
	    (rc = str_field(doc, "author", 200, false, &m->author, err)) ||
	    (rc = str_field(doc, "main", 64, false, &m->main, err)))
		goto fail;
	if (!id_ok(m->id)) {
		rc = bad(err, "id", "id must be lowercase letters, digits and '-'");
		goto fail;
	}
	/* the version names the package's folder (catalog.c): a plain token */
	if (!m->version[0] || m->version[0] == '.' ||
	    strspn(m->version, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+-_") !=
		    strlen(m->version)) {
		rc = bad(err, "version", "version must be letters, digits and '.', '+', '-', '_'");
		goto fail;
	}
	if (!m->main)
		m->main = "main.lua";
	for (const char *p = m->main; *p; p++)
		if (*p == '/' || *p == '\\' || (p[0] == '.' && p[1] == '.')) {
			rc = bad(err, "main", "main must be a file name in the package");
			goto fail;
		}
	json_t *api = json_object_get(doc, "api_version");
	if (api && (!json_is_integer(api) || json_integer_value(api) < 1 ||
		    json_integer_value(api) > POS_HOSTAPI_VERSION)) {
		rc = bad(err, "api_version", "this server supports host API versions 1 to 2");
		goto fail;
	}
	json_t *hooks = json_object_get(doc, "hooks");
	if (!json_is_array(hooks) || json_array_size(hooks) == 0 || json_array_size(hooks) > POS_HOOKS_COUNT) {
		rc = bad(err, "hooks", "hooks must name 1..5 of the hooks");
		goto fail;
	}
	size_t i;
	json_t *v;
	json_array_foreach(hooks, i, v) {
		unsigned bit = json_is_string(v) ? pos_manifest_hook(json_string_value(v)) : 0;
		if (!bit) {
			rc = pos_error_set(err, POS_ERR_INVALID_FIELD, "hooks", "unknown hook at index %zu", i);
			goto fail;
		}
		m->hooks |= bit;
	}
	json_t *perms = json_object_get(doc, "permissions");
	if (perms && (rc = pos_manifest_perms(perms, &m->perms, err)))
		goto fail;
	json_t *hosts = json_object_get(doc, "hosts");
	if (hosts) {
		if (!json_is_array(hosts) || json_array_size(hosts) > POS_HOSTAPI_HOSTS_MAX / 2) {
			rc = bad(err, "hosts", "hosts must be an array of at most 8 host names");
			goto fail;
		}
		json_array_foreach(hosts, i, v) {
			if (!json_is_string(v) || !host_ok(json_string_value(v))) {
				rc = pos_error_set(err, POS_ERR_INVALID_FIELD, "hosts",
						   "hosts[%zu] must be a host name or host:port", i);
				goto fail;
			}
			m->hosts[m->n_hosts++] = json_string_value(v);
		}
		if (m->n_hosts && !(m->perms & POS_PERM_HTTP)) {
			rc = bad(err, "hosts", "hosts need the 'http' permission");
			goto fail;
		}
	}
	json_t *settings = json_object_get(doc, "settings");
	if (settings) {
		if (!json_is_object(settings) || json_object_size(settings) > POS_MANIFEST_SETTINGS_MAX) {
			rc = bad(err, "settings", "settings must be an object of at most 32 entries");
			goto fail;
		}
		const char *k;
		size_t urls = 0;
		json_object_foreach(settings, k, v) {
			json_t *t = json_object_get(v, "type");
			json_t *d = json_object_get(v, "default");
			if (!json_is_object(v) || strlen(k) > 64 || !json_is_string(t) ||
			    !type_ok(json_string_value(t)) || (d && !value_ok(json_string_value(t), d))) {
				rc = pos_error_set(err, POS_ERR_INVALID_FIELD, "settings",
						   "setting '%.64s' needs a type (string, number, boolean, url) "
						   "and a default of that type",
						   k);
				goto fail;
			}
			if (strcmp(json_string_value(t), "url") == 0 && ++urls + m->n_hosts > POS_HOSTAPI_HOSTS_MAX) {
				rc = bad(err, "settings", "too many url settings");
				goto fail;
			}
			if (strcmp(json_string_value(t), "url") == 0 && !(m->perms & POS_PERM_HTTP)) {
				rc = bad(err, "settings", "url settings need the 'http' permission");
				goto fail;
			}
		}
		m->settings = settings;
	}
	return POS_OK;
fail:
	pos_manifest_free(m);
	return rc;
}

void pos_manifest_free(struct pos_manifest *m)
{
	if (!m)
		return;
	json_decref(m->doc);
	memset(m, 0, sizeof(*m));
}

enum pos_err pos_manifest_settings(const struct pos_manifest *m, json_t *given, json_t **out,
				   struct pos_error *err)
{
	*out = NULL;
	if (given && !json_is_object(given))
		return bad(err, "settings", "settings must be an object");
	const char *k;
	json_t *v;
	if (given) {
		json_object_foreach(given, k, v) {
			json_t *schema = m->settings ? json_object_get(m->settings, k) : NULL;
			if (!schema)
				return pos_error_set(err, POS_ERR_INVALID_FIELD, "settings",
						     "unknown setting '%.64s'", k);
			if (!value_ok(json_string_value(json_object_get(schema, "type")), v))
				return pos_error_set(err, POS_ERR_INVALID_FIELD, "settings",
						     "setting '%.64s' must be a %s", k,
						     json_string_value(json_object_get(schema, "type")));
		}
	}
	json_t *o = json_object();
	if (!o)
		return POS_ERR_NOMEM;
	if (m->settings) {
		json_object_foreach(m->settings, k, v) {
			json_t *x = given ? json_object_get(given, k) : NULL;
			if (!x)
				x = json_object_get(v, "default");
			if (x && json_object_set(o, k, x)) {
				json_decref(o);
				return POS_ERR_NOMEM;
			}
		}
	}
	*out = o;
	return POS_OK;
}

size_t pos_manifest_hosts(const struct pos_manifest *m, json_t *settings, const char **out,
			  size_t cap, char *buf, size_t buf_size)
{
	size_t n = 0, used = 0;
	for (size_t i = 0; i < m->n_hosts && n < cap; i++)
		out[n++] = m->hosts[i];
	if (!m->settings || !settings)
		return n;
	const char *k;
	json_t *v;
	json_object_foreach(m->settings, k, v) {
		if (n >= cap || strcmp(json_string_value(json_object_get(v, "type")), "url") != 0)
			continue;
		json_t *val = json_object_get(settings, k);
		if (!json_is_string(val) || !url_ok(json_string_value(val)))
			continue;
		CURLU *u = curl_url();
		char *host = NULL, *port = NULL;
		if (u && curl_url_set(u, CURLUPART_URL, json_string_value(val), 0) == CURLUE_OK &&
		    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
			curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
			int w = snprintf(buf + used, buf_size - used, "%s%s%s", host, port ? ":" : "",
					 port ? port : "");
			if (w > 0 && (size_t)w < buf_size - used) {
				out[n++] = buf + used;
				used += (size_t)w + 1;
			}
		}
		curl_free(host);
		curl_free(port);
		curl_url_cleanup(u);
	}
	return n;
}
