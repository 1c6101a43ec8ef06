/*
 * plugins.c — the plugin manager: the catalog, users' installs and
 * packages (plugins.h). Running hooks is in hooks.c; plugins_internal.h
 * is what the two share.
 */
#include "plugins/plugins.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/log.h"
#include "jobs/jobs.h"
#include "plugins/catalog.h"
#include "plugins/hostapi.h"
#include "plugins/plugins_internal.h"
#include "plugins/sbpool.h"
#include "store/store.h"


/* ---- catalog ------------------------------------------------------------ */

/* The newest entry of id@version (version NULL: any) or NULL. */
static const struct entry *find_version(const struct pos_plugins *p, const char *id,
					const char *version)
{
	for (size_t i = cat_count(p); i-- > 0;)
		if (strcmp(p->cat[i].m.id, id) == 0 && live(&p->cat[i]) &&
		    (!version || strcmp(p->cat[i].m.version, version) == 0))
			return &p->cat[i];
	return NULL;
}

/* The entry of `id` users get: its highest version (a newer package of
 * an id supersedes the older for new calls; entries are never freed while
 * the manager lives, so a running call keeps its own). */
const struct entry *pos_plugins_entry(const struct pos_plugins *p, const char *id)
{
	const struct entry *best = NULL;
	for (size_t i = cat_count(p); i-- > 0;)
		if (strcmp(p->cat[i].m.id, id) == 0 && live(&p->cat[i]) &&
		    (!best || pos_catalog_version_cmp(p->cat[i].m.version, best->m.version) > 0))
			best = &p->cat[i];
	return best;
}

/* Appends `pkg` (consumed on POS_OK). Caller holds p->mu. CONFLICT when
 * id@version is there already. */
static enum pos_err add_locked(struct pos_plugins *p, struct pos_catalog_pkg *pkg,
			       struct pos_error *err)
{
	if (find_version(p, pkg->m.id, pkg->m.version))
		return pos_error_set(err, POS_ERR_CONFLICT, "package",
				     "this id and version is in the catalog already");
	size_t n = p->n_cat;
	if (n == POS_PLUGINS_CATALOG_MAX)
		return pos_error_set(err, POS_ERR_CONTENT_TOO_LARGE, "package", "the catalog is full");
	struct entry *e = &p->cat[n];
	size_t cl = strlen(pkg->m.id) + strlen(pkg->m.main) + 16;
	e->chunkname = pos_malloc(cl);
	if (!e->chunkname)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	snprintf(e->chunkname, cl, "@%s/%s", pkg->m.id, pkg->m.main);
	e->m = pkg->m;
	e->source = pkg->source;
	e->source_len = pkg->source_len;
	memset(pkg, 0, sizeof(*pkg));
	__atomic_store_n(&p->n_cat, n + 1, __ATOMIC_RELEASE);
	return POS_OK;
}

static enum pos_err add_pkg(struct pos_plugins *p, struct pos_catalog_pkg *pkg,
			    struct pos_error *err)
{
	pthread_mutex_lock(&p->mu);
	enum pos_err rc = add_locked(p, pkg, err);
	pthread_mutex_unlock(&p->mu);
	return rc;
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);
	return n > t && strcmp(s + n - t, tail) == 0;
}

/* Reads a .tar.gz package file (ID-VERSION.tar.gz) and unpacks it into
 * the package folder unless it is there already. */
static void unpack_file(struct pos_plugins *p, int dirfd, const char *name)
{
	if (!p->cfg.pkg_root || !*p->cfg.pkg_root) {
		pos_log(POS_LOG_WARN, "plugins: skipping package '%s': no data folder to unpack into",
			name);
		return;
	}
	char stem[POS_MANIFEST_ID_MAX + 40];
	size_t sl = strlen(name) - strlen(".tar.gz");
	if (sl >= sizeof(stem))
		return;
	memcpy(stem, name, sl);
	stem[sl] = '\0';
	int rfd = open(p->cfg.pkg_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	bool there = rfd >= 0 && faccessat(rfd, stem, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
	if (rfd >= 0)
		close(rfd);
	if (there)
		return; /* unpacked at an earlier start */
	size_t len = 0;
	char *data = pos_catalog_read_file(dirfd, name, POS_CATALOG_PACKAGE_MAX, &len);
	struct pos_catalog_pkg pkg;
	struct pos_error err;
	pos_error_clear(&err);
	const char *dash = strrchr(stem, '-');
	if (!data || !dash) {
		pos_log(POS_LOG_WARN, "plugins: skipping package '%s': %s", name,
			data ? "its name is not ID-VERSION.tar.gz" : "unreadable or too large");
		pos_free(data);
		return;
	}
	/* ID-VERSION: the id may hold '-', so the manifest decides; the
	 * folder name must come out the same. */
	if (pos_catalog_unpack(data, len, p->cfg.pkg_root, NULL, NULL, &pkg, &err) == POS_OK) {
		char got[sizeof(stem) + 2];
		snprintf(got, sizeof(got), "%s-%s", pkg.m.id, pkg.m.version);
		if (strcmp(got, stem) != 0) {
			pos_log(POS_LOG_WARN, "plugins: skipping package '%s': plugin.json says %s", name, got);
			pos_catalog_remove(p->cfg.pkg_root, pkg.m.id, pkg.m.version);
		}
		pos_catalog_pkg_free(&pkg); /* loaded with the package folder below */
	} else {
		pos_log(POS_LOG_WARN, "plugins: skipping package '%s': %s", name, err.message);
	}
	pos_free(data);
}

/* Loads the package folders (and, with `archives`, unpacks the .tar.gz
 * packages) of `dir`. */
static enum pos_err load_dir(struct pos_plugins *p, const char *dir, bool archives)
{
	DIR *d = opendir(dir);
	if (!d)
		return POS_OK;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		struct stat sb;
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW))
			continue;
		if (S_ISREG(sb.st_mode) && archives && ends_with(de->d_name, ".tar.gz")) {
			unpack_file(p, dirfd(d), de->d_name);
			continue;
		}
		if (!S_ISDIR(sb.st_mode))
			continue;
		struct pos_catalog_pkg pkg;
		struct pos_error err;
		pos_error_clear(&err);
		enum pos_err rc = pos_catalog_read_dir(dirfd(d), de->d_name, &pkg, &err);
		if (!rc && (rc = add_pkg(p, &pkg, &err)))
			pos_catalog_pkg_free(&pkg);
		if (rc == POS_ERR_NOMEM) {
			closedir(d);
			return rc;
		}
		if (rc)
			pos_log(POS_LOG_WARN, "plugins: skipping package folder '%s': %s", de->d_name,
				err.message);
	}
	closedir(d);
	return POS_OK;
}

/* The bundled catalog (plugins_dir), then the packages unpacked into the
 * data folder: uploads, remote catalogs and plugins_dir's archives. */
static enum pos_err load_catalog(struct pos_plugins *p)
{
	p->cat = pos_calloc(POS_PLUGINS_CATALOG_MAX, sizeof(*p->cat));
	if (!p->cat)
		return POS_ERR_NOMEM;
	enum pos_err rc = POS_OK;
	if (p->cfg.pkg_root && *p->cfg.pkg_root)
		pos_catalog_sweep(p->cfg.pkg_root);
	if (p->cfg.dir && *p->cfg.dir)
		rc = load_dir(p, p->cfg.dir, true);
	for (size_t i = 0; i < p->n_cat; i++)
		p->cat[i].bundled = true;
	if (!rc && p->cfg.pkg_root && *p->cfg.pkg_root)
		rc = load_dir(p, p->cfg.pkg_root, false);
	return rc;
}

enum pos_err pos_plugins_new(const struct pos_plugins_config *cfg, struct pos_plugins **out)
{
	*out = NULL;
	struct pos_plugins *p = pos_calloc(1, sizeof(*p));
	if (!p)
		return POS_ERR_NOMEM;
	p->cfg = *cfg;
	if (!p->cfg.kv_quota)
		p->cfg.kv_quota = POS_PLUGINS_KV_QUOTA_DEFAULT;
	if (!p->cfg.max_failures)
		p->cfg.max_failures = POS_PLUGINS_MAX_FAILURES_DEFAULT;
	if (!p->cfg.query_budget_us)
		p->cfg.query_budget_us = POS_PLUGINS_QUERY_BUDGET_US;
	pthread_mutex_init(&p->mu, NULL);
	p->cfg.pkg_root = NULL;
	if (cfg->data_dir && *cfg->data_dir &&
	    (size_t)snprintf(p->pkg_root, sizeof(p->pkg_root), "%s/plugins", cfg->data_dir) <
		    sizeof(p->pkg_root))
		p->cfg.pkg_root = p->pkg_root;
	struct pos_error kerr;
	enum pos_err rc = pos_catalog_keys_parse(p->cfg.trusted_keys, &p->keys, &kerr);
	if (rc) {
		pos_log(POS_LOG_ERROR, "plugins: %s", kerr.message);
		pthread_mutex_destroy(&p->mu);
		pos_free(p);
		return rc;
	}
	rc = load_catalog(p);
	if (!rc)
		rc = pos_sbpool_new(p->cfg.pool_max, p->cfg.pool_mem, pos_plugins_sb_dispose, &p->pool);
	if (rc) {
		pos_plugins_free(p);
		return rc;
	}
	*out = p;
	return POS_OK;
}

void pos_plugins_free(struct pos_plugins *p)
{
	if (!p)
		return;
	pos_sbpool_free(p->pool);
	for (size_t i = 0; i < p->n_cat; i++) {
		pos_manifest_free(&p->cat[i].m);
		pos_free(p->cat[i].source);
		pos_free(p->cat[i].chunkname);
	}
	pos_free(p->cat);
	pthread_mutex_destroy(&p->mu);
	pos_free(p);
}

static json_t *names_of(unsigned bits, const char *(*name)(unsigned))
{
	json_t *a = json_array();
	for (unsigned b = 1; a && b && b <= 1u << 15; b <<= 1)
		if ((bits & b) && name(b))
			json_array_append_new(a, json_string(name(b)));
	return a;
}

static json_t *entry_json(const struct entry *e)
{
	json_t *hosts = json_array();
	for (size_t i = 0; hosts && i < e->m.n_hosts; i++)
		json_array_append_new(hosts, json_string(e->m.hosts[i]));
	return json_pack("{s:s, s:s, s:s, s:s, s:s?, s:o, s:o, s:o, s:o}", "id", e->m.id, "name",
			 e->m.name, "version", e->m.version, "description", e->m.description, "author",
			 e->m.author, "hooks", names_of(e->m.hooks, pos_manifest_hook_name), "permissions",
			 names_of(e->m.perms, pos_hostapi_perm_name), "hosts", hosts, "settings",
			 e->m.settings ? json_incref(e->m.settings) : json_object());
}

static int cmp_entry_ptr(const void *a, const void *b)
{
	return strcmp((*(const struct entry *const *)a)->m.id, (*(const struct entry *const *)b)->m.id);
}

enum pos_err pos_plugins_available(struct pos_plugins *p, json_t **out)
{
	/* one entry per id (the one added last), sorted by id */
	size_t n = cat_count(p), k = 0;
	const struct entry **v = pos_calloc(n ? n : 1, sizeof(*v));
	json_t *a = v ? json_array() : NULL;
	for (size_t i = 0; a && i < n; i++)
		if (pos_plugins_entry(p, p->cat[i].m.id) == &p->cat[i])
			v[k++] = &p->cat[i];
	if (a)
		qsort(v, k, sizeof(*v), cmp_entry_ptr);
	for (size_t i = 0; a && i < k; i++) {
		json_t *x = entry_json(v[i]);
		if (!x || json_array_append_new(a, x)) {
			json_decref(a);
			a = NULL;
		}
	}
	pos_free(v);
	*out = a;
	return a ? POS_OK : POS_ERR_NOMEM;
}

/* ---- installs ------------------------------------------------------------ */

static json_t *install_json(struct pos_plugins *p, struct pos_arena *a,
			    const struct pos_plugin_row *r)
{
	const struct entry *e = pos_plugins_entry(p, r->plugin_id);
	json_t *grants = json_loads(r->grants_json, 0, NULL);
	json_t *settings = json_loads(r->settings_json, 0, NULL);
	json_t *logs = json_array();
	struct pos_plugin_log *lv = NULL;
	size_t nl = 0;
	if (p->cfg.store->plugins->plugin_log_list(p->cfg.store, a, r->user_id, r->plugin_id, 20, &lv,
					       &nl) == POS_OK) {
		for (size_t i = 0; logs && i < nl; i++) {
			char at[40];
			pos_time_format(lv[i].at, at, sizeof(at));
			json_array_append_new(logs, json_pack("{s:s, s:s, s:s}", "at", at, "level",
							      lv[i].level, "message", lv[i].message));
		}
	}
	char installed[40];
	pos_time_format(r->installed_at, installed, sizeof(installed));
	return json_pack("{s:s, s:s, s:s, s:b, s:s, s:s?, s:I, s:o, s:o, s:o, s:o, s:s}", "id",
			 r->plugin_id, "name", e ? e->m.name : r->plugin_id, "version", r->version,
			 "enabled", r->enabled && e, "status", e ? r->status : "removed",
			 "last_error", r->last_error,
			 "failures", (json_int_t)r->failures, "permissions",
			 grants ? grants : json_array(), "settings", settings ? settings : json_object(),
			 "hooks", e ? names_of(e->m.hooks, pos_manifest_hook_name) : json_array(),
			 "logs", logs, "installed_at", installed);
}

enum pos_err pos_plugins_list(struct pos_plugins *p, const char *user_id, json_t **out,
			      struct pos_error *err)
{
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return POS_ERR_NOMEM;
	struct pos_plugin_row *rows = NULL;
	size_t n = 0;
	enum pos_err rc = p->cfg.store->plugins->plugin_list(p->cfg.store, a, user_id, &rows, &n);
	json_t *arr = rc ? NULL : json_array();
	for (size_t i = 0; arr && i < n; i++)
		if (json_array_append_new(arr, install_json(p, a, &rows[i]))) {
			json_decref(arr);
			arr = NULL;
		}
	if (!rc && !arr)
		rc = POS_ERR_NOMEM;
	pos_arena_destroy(a);
	*out = arr;
	return rc ? pos_error_set(err, rc, NULL, NULL) : POS_OK;
}

/* The install as shown, after a change. */
static enum pos_err show(struct pos_plugins *p, const char *user_id, const char *id, json_t **out,
			 struct pos_error *err)
{
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return POS_ERR_NOMEM;
	struct pos_plugin_row r;
	enum pos_err rc = p->cfg.store->plugins->plugin_get(p->cfg.store, a, user_id, id, &r);
	if (!rc && !(*out = install_json(p, a, &r)))
		rc = POS_ERR_NOMEM;
	pos_arena_destroy(a);
	return rc ? pos_error_set(err, rc, NULL, NULL) : POS_OK;
}

enum pos_err pos_plugins_install(struct pos_plugins *p, const char *user_id, json_t *body,
				 json_t **out, struct pos_error *err)
{
	*out = NULL;
	json_t *idv = json_object_get(body, "id");
	if (!json_is_string(idv))
		return pos_error_set(err, POS_ERR_MISSING_FIELD, "id", "id is required");
	const struct entry *e = pos_plugins_entry(p, json_string_value(idv));
	json_t *ver = json_object_get(body, "version");
	if (!e || (ver && (!json_is_string(ver) || strcmp(json_string_value(ver), e->m.version))))
		return pos_error_set(err, POS_ERR_NOT_FOUND, "id", "no such plugin in the catalog");
	json_t *grant = json_object_get(body, "grant");
	unsigned granted = 0;
	enum pos_err rc;
	if (grant && (rc = pos_manifest_perms(grant, &granted, err))) {
		snprintf(err->field, sizeof(err->field), "grant");
		return rc;
	}
	unsigned missing = e->m.perms & ~granted;
	if (missing)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "grant",
				     "the plugin needs the permission '%s'; grant it to install",
				     pos_hostapi_perm_name(missing & -missing));
	if (granted & ~e->m.perms)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "grant",
				     "grant only the permissions the plugin asks for");
	json_t *settings = NULL;
	if ((rc = pos_manifest_settings(&e->m, json_object_get(body, "settings"), &settings, err)))
		return rc;
	struct pos_arena *a = pos_arena_new();
	if (!a) {
		json_decref(settings);
		return POS_ERR_NOMEM;
	}
	struct pos_plugin_row r;
	rc = p->cfg.store->plugins->plugin_get(p->cfg.store, a, user_id, e->m.id, &r);
	if (rc == POS_OK) {
		rc = pos_error_set(err, POS_ERR_CONFLICT, "id", "the plugin is installed already");
		goto out;
	}
	if (rc != POS_ERR_NOT_FOUND)
		goto out;
	json_t *gnames = names_of(granted, pos_hostapi_perm_name);
	char *gj = gnames ? json_dumps(gnames, JSON_COMPACT) : NULL;
	char *sj = json_dumps(settings, JSON_COMPACT);
	json_decref(gnames);
	int64_t now = pos_now_us();
	memset(&r, 0, sizeof(r));
	r.user_id = user_id;
	r.plugin_id = e->m.id;
	r.version = e->m.version;
	r.enabled = true;
	r.grants_json = gj;
	r.settings_json = sj;
	r.status = "ok";
	r.installed_at = r.updated_at = now;
	rc = gj && sj ? p->cfg.store->plugins->plugin_put(p->cfg.store, &r) : POS_ERR_NOMEM;
	free(gj);
	free(sj);
	if (!rc)
		rc = show(p, user_id, e->m.id, out, err);
out:
	json_decref(settings);
	pos_arena_destroy(a);
	return rc;
}

enum pos_err pos_plugins_update(struct pos_plugins *p, const char *user_id, const char *id,
				json_t *body, json_t **out, struct pos_error *err)
{
	*out = NULL;
	json_t *en = json_object_get(body, "enabled");
	if (en && !json_is_boolean(en))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "enabled", "enabled must be a boolean");
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return POS_ERR_NOMEM;
	struct pos_plugin_row r;
	json_t *settings = NULL;
	char *sj = NULL;
	enum pos_err rc = p->cfg.store->plugins->plugin_get(p->cfg.store, a, user_id, id, &r);
	if (rc) {
		pos_error_set(err, rc, NULL, rc == POS_ERR_NOT_FOUND ? "plugin not installed" : NULL);
		goto out;
	}
	const struct entry *e = pos_plugins_entry(p, id);
	json_t *given = json_object_get(body, "settings");
	if (given) {
		if (!e) {
			rc = pos_error_set(err, POS_ERR_CONFLICT, "id", "the plugin left the catalog");
			goto out;
		}
		/* Merge over the current settings, then check. */
		json_t *cur = json_loads(r.settings_json, 0, NULL);
		if (json_is_object(cur) && json_is_object(given))
			json_object_update(cur, given);
		rc = pos_manifest_settings(&e->m, json_is_object(given) ? cur : given, &settings, err);
		json_decref(cur);
		if (rc)
			goto out;
		sj = json_dumps(settings, JSON_COMPACT);
		if (!sj) {
			rc = POS_ERR_NOMEM;
			goto out;
		}
		r.settings_json = sj;
	}
	if (en) {
		r.enabled = json_is_true(en);
		if (r.enabled) { /* a second chance: failures start again */
			r.failures = 0;
			r.status = "ok";
		}
	}
	r.updated_at = pos_now_us();
	rc = p->cfg.store->plugins->plugin_put(p->cfg.store, &r);
	/* Settings or state changed: states built before are not reused. */
	pos_sbpool_drop(p->pool, id, user_id);
	if (!rc)
		rc = show(p, user_id, id, out, err);
out:
	free(sj);
	json_decref(settings);
	pos_arena_destroy(a);
	return rc;
}

enum pos_err pos_plugins_remove(struct pos_plugins *p, const char *user_id, const char *id,
				struct pos_error *err)
{
	enum pos_err rc = p->cfg.store->plugins->plugin_delete(p->cfg.store, user_id, id);
	pos_sbpool_drop(p->pool, id, user_id);
	if (rc)
		return pos_error_set(err, rc, NULL, rc == POS_ERR_NOT_FOUND ? "plugin not installed" : NULL);
	return POS_OK;
}

/* ---- packages: uploads and remote catalogs (catalog.h) ------------------ */

enum pos_err pos_plugins_upload(struct pos_plugins *p, const void *data, size_t len,
				json_t **out, struct pos_error *err)
{
	*out = NULL;
	if (!p->cfg.pkg_root || !*p->cfg.pkg_root)
		return pos_error_set(err, POS_ERR_UNAVAILABLE, NULL, "this server keeps no packages");
	struct pos_catalog_pkg pkg;
	pthread_mutex_lock(&p->mu);
	enum pos_err rc = pos_catalog_unpack(data, len, p->cfg.pkg_root, NULL, NULL, &pkg, err);
	if (rc)
		goto out;
	char id[POS_MANIFEST_ID_MAX + 1], version[40];
	snprintf(id, sizeof(id), "%s", pkg.m.id);
	snprintf(version, sizeof(version), "%s", pkg.m.version);
	if ((rc = add_locked(p, &pkg, err))) {
		pos_catalog_remove(p->cfg.pkg_root, pkg.m.id, pkg.m.version);
		pos_catalog_pkg_free(&pkg);
		goto out;
	}
	const struct entry *e = find_version(p, id, version);
	*out = e ? entry_json(e) : NULL;
	if (!*out)
		rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
out:
	pthread_mutex_unlock(&p->mu);
	return rc;
}

enum pos_err pos_plugins_remove_package(struct pos_plugins *p, const char *id,
					const char *version, struct pos_error *err)
{
	size_t removed = 0;
	enum pos_err rc = POS_OK;
	pthread_mutex_lock(&p->mu);
	for (size_t i = 0, n = cat_count(p); i < n; i++) {
		const struct entry *e = &p->cat[i];
		if (live(e) && strcmp(e->m.id, id) == 0 && (!version || strcmp(e->m.version, version) == 0)) {
			/* a package of plugins_dir (a folder, or an archive unpacked
			 * at start) would come back at the next start */
			char tgz[POS_MANIFEST_ID_MAX + 48];
			snprintf(tgz, sizeof(tgz), "%s-%s.tar.gz", e->m.id, e->m.version);
			int dfd = p->cfg.dir && *p->cfg.dir ? open(p->cfg.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
			bool bundled = e->bundled || (dfd >= 0 && faccessat(dfd, tgz, F_OK, AT_SYMLINK_NOFOLLOW) == 0);
			if (dfd >= 0)
				close(dfd);
			if (bundled) {
				rc = pos_error_set(err, POS_ERR_CONFLICT, "id",
						   "a bundled plugin (plugins_dir) cannot be removed here");
				break;
			}
		}
	}
	for (size_t i = 0, n = cat_count(p); !rc && i < n; i++) {
		struct entry *e = &p->cat[i];
		if (live(e) && strcmp(e->m.id, id) == 0 && (!version || strcmp(e->m.version, version) == 0)) {
			/* the entry stays in memory (a running call keeps its code);
			 * the folder name is the checked manifest's, never the request's */
			__atomic_store_n(&e->removed, 1, __ATOMIC_RELEASE);
			if (p->cfg.pkg_root)
				pos_catalog_remove(p->cfg.pkg_root, e->m.id, e->m.version);
			removed++;
		}
	}
	pthread_mutex_unlock(&p->mu);
	if (!rc && removed == 0)
		rc = pos_error_set(err, POS_ERR_NOT_FOUND, "id", "no such plugin package");
	if (!rc)
		pos_sbpool_drop(p->pool, id, NULL); /* idle sandboxes hold the old code */
	return rc;
}

bool pos_plugins_have_catalogs(const struct pos_plugins *p)
{
	return p && p->cfg.catalogs && p->cfg.catalogs[strspn(p->cfg.catalogs, ", \t\r\n")] &&
	       p->cfg.pkg_root && *p->cfg.pkg_root;
}

static bool sink_have(void *ctx, const char *id, const char *version)
{
	return find_version(ctx, id, version) != NULL;
}

static enum pos_err sink_add(void *ctx, struct pos_catalog_pkg *pkg, struct pos_error *err)
{
	struct pos_plugins *p = ctx;
	enum pos_err rc = add_pkg(p, pkg, err);
	if (rc)
		pos_catalog_remove(p->cfg.pkg_root, pkg->m.id, pkg->m.version);
	return rc;
}

struct refresh_ctx {
	struct pos_plugins *p;
	bool (*stop)(void *ctx);
	void *stop_ctx;
};

static bool sink_have_r(void *ctx, const char *id, const char *version)
{
	return sink_have(((struct refresh_ctx *)ctx)->p, id, version);
}

static enum pos_err sink_add_r(void *ctx, struct pos_catalog_pkg *pkg, struct pos_error *err)
{
	return sink_add(((struct refresh_ctx *)ctx)->p, pkg, err);
}

static bool sink_stop_r(void *ctx)
{
	struct refresh_ctx *r = ctx;
	return r->stop && r->stop(r->stop_ctx);
}

enum pos_err pos_plugins_refresh(struct pos_plugins *p, bool (*stop)(void *ctx), void *stop_ctx,
				 json_t **report, struct pos_error *err)
{
	*report = NULL;
	if (!pos_plugins_have_catalogs(p))
		return pos_error_set(err, POS_ERR_UNAVAILABLE, NULL, "no remote plugin catalog is configured");
	struct refresh_ctx rc = {p, stop, stop_ctx};
	struct pos_catalog_sink sink = {sink_have_r, sink_add_r, sink_stop_r, &rc};
	struct pos_catalog_remote remote = {
		.urls = p->cfg.catalogs,
		.keys = &p->keys,
		.root = p->cfg.pkg_root,
		.egress = p->cfg.egress,
	};
	return pos_catalog_refresh(&remote, &sink, report, err);
}

static bool job_stop(void *ctx)
{
	return pos_job_should_stop(ctx);
}

static enum pos_err catalog_job_run(struct pos_job_run *jr, void *ctx, const char *user_id,
				    const char *payload_json)
{
	(void)user_id;
	(void)payload_json;
	struct pos_error err;
	pos_error_clear(&err);
	json_t *report = NULL;
	enum pos_err rc = pos_plugins_refresh(ctx, job_stop, jr, &report, &err);
	if (rc) {
		pos_job_set_error(jr, err.message);
		return rc;
	}
	char *text = json_dumps(report, JSON_COMPACT);
	json_decref(report);
	if (!text)
		return POS_ERR_NOMEM;
	/* a job result is bounded (POS_JOB_PAYLOAD_MAX-like); the report of
	 * 8 catalogs x 256 packages fits in well under a MiB */
	rc = pos_job_set_result(jr, text);
	free(text);
	return rc;
}

const struct pos_job_kind pos_plugins_catalog_job_kind = {
	.name = POS_PLUGINS_CATALOG_JOB_KIND,
	.max_attempts = 1,
	.timeout_us = 10 * 60 * 1000000LL,
	.backoff_us = 0,
	.serial_per_user = true,
	.user_cancellable = true,
	.run = catalog_job_run,
};
