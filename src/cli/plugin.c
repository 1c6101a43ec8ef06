/*
 * plugin.c — `personalos plugin list|install|remove|run-hook`: a user's
 * plugins in the data directory, offline, for writing and trying plugins
 * (docs/PLUGINS.md "Developing a plugin"). The catalog is --dir PATH (a
 * catalog folder, or one package's folder: then its parent folder is read
 * and only that package is used) or plugins_dir.
 */
#include "cli/cli.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/alloc.h"
#include "auth/auth.h"
#include "base/json.h"
#include "crypto/crypto.h"
#include "memory/memory.h"
#include "net/egress.h"
#include "plugins/plugins.h"
#include "store/open.h"
#include "store/store.h"

#define USAGE                                                                          \
	"usage: personalos plugin list [--user EMAIL] [--dir PATH] [--data DIR]\n"          \
	"       personalos plugin install ID --user EMAIL [--grant p1,p2] [--settings JSON]\n" \
	"                                [--dir PATH] [--data DIR]\n"                       \
	"       personalos plugin remove ID --user EMAIL [--data DIR]\n"                    \
	"       personalos plugin run-hook HOOK --plugin ID --user EMAIL\n"                 \
	"                                [--memory ID | --json EVENT] [--dir PATH] [--data DIR]\n"

#define EVENT_MAX (64u << 10) /* bytes of --json EVENT */

struct opts {
	const char *verb, *arg, *user, *dir, *grant, *settings, *plugin, *memory, *json;
};

/* Takes --name VALUE or --name=VALUE at argv[*i]; NULL when not it. */
static const char *value(int argc, char **argv, int *i, const char *name, bool *missing)
{
	size_t n = strlen(name);
	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0')
		return NULL;
	if (*i + 1 < argc)
		return argv[++*i];
	*missing = true;
	return NULL;
}

static int parse(int argc, char **argv, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	struct {
		const char *name;
		const char **dst;
	} tab[] = {{"--user", &o->user},     {"--dir", &o->dir},       {"--grant", &o->grant},
		   {"--settings", &o->settings}, {"--plugin", &o->plugin}, {"--memory", &o->memory},
		   {"--json", &o->json}};
	for (int i = 1; i < argc; i++) {
		bool missing = false, hit = false;
		for (size_t t = 0; t < sizeof(tab) / sizeof(tab[0]) && !hit; t++) {
			const char *v = value(argc, argv, &i, tab[t].name, &missing);
			if (missing) {
				fprintf(stderr, "personalos: %s needs a value\n%s", tab[t].name, USAGE);
				return 2;
			}
			if (v) {
				*tab[t].dst = v;
				hit = true;
			}
		}
		if (hit)
			continue;
		if (argv[i][0] == '-') {
			fprintf(stderr, "personalos: unknown option %s\n%s", argv[i], USAGE);
			return 2;
		}
		if (!o->verb)
			o->verb = argv[i];
		else if (!o->arg)
			o->arg = argv[i];
		else {
			fprintf(stderr, "personalos: unexpected argument %s\n%s", argv[i], USAGE);
			return 2;
		}
	}
	if (!o->verb) {
		fputs(USAGE, stderr);
		return 2;
	}
	return 0;
}

static void print(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY);
	if (s)
		puts(s);
	free(s);
}

/* The catalog folder for --dir PATH: PATH itself, or its parent when PATH
 * is one package (holds plugin.json); *only gets that package's folder
 * name then. */
static const char *catalog_of(const char *path, char *buf, size_t cap, const char **only)
{
	*only = NULL;
	struct stat sb;
	char pj[4096];
	snprintf(pj, sizeof(pj), "%s/plugin.json", path);
	if (stat(pj, &sb) != 0)
		return path;
	snprintf(buf, cap, "%s", path);
	size_t n = strlen(buf);
	while (n > 1 && buf[n - 1] == '/')
		buf[--n] = '\0';
	char *slash = strrchr(buf, '/');
	if (!slash) {
		*only = path;
		return ".";
	}
	*only = slash + 1;
	if (slash == buf)
		slash[1] = '\0'; /* "/pkg": the root */
	else
		*slash = '\0';
	return buf;
}

static int find_user(struct pos_store *s, struct pos_arena *a, const char *who, struct pos_user *u)
{
	char norm[256];
	enum pos_err rc = s->accounts->user_by_id(s, a, who, u);
	if (rc == POS_ERR_NOT_FOUND && pos_auth_normalize_email(who, norm, sizeof(norm), NULL) == POS_OK)
		rc = s->accounts->user_by_email(s, a, norm, u);
	if (rc) {
		fprintf(stderr, "personalos: %s\n", rc == POS_ERR_NOT_FOUND ? "no such user" : pos_strerror(rc));
		return 1;
	}
	return 0;
}

/* The hook's event: {memory} of --memory ID, or the object of --json. */
static int event_of(struct pos_store *s, struct pos_arena *a, const char *user_id,
		    const struct opts *o, json_t **ev)
{
	*ev = NULL;
	if (o->memory && o->json) {
		fprintf(stderr, "personalos: give --memory or --json, not both\n");
		return 2;
	}
	if (o->json) {
		json_error_t je;
		/* json_is_object is a macro that reads its argument twice: the
		 * load is a statement of its own. */
		if (strlen(o->json) <= EVENT_MAX)
			*ev = json_loads(o->json, 0, &je);
		if (!json_is_object(*ev)) {
			json_decref(*ev);
			*ev = NULL;
			fprintf(stderr, "personalos: --json must be a JSON object of at most 64 KiB\n");
			return 2;
		}
		return 0;
	}
	if (!o->memory) {
		*ev = json_object();
		return *ev ? 0 : 1;
	}
	struct pos_memory m;
	if (s->memories->memory_get(s, a, user_id, o->memory, false, 0, &m)) {
		fprintf(stderr, "personalos: no memory %s for this user\n", o->memory);
		return 1;
	}
	struct pos_buf b;
	pos_buf_init(&b, 8u << 20);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_memory_json(&w, &m);
	json_t *mj = b.data ? json_loadb(b.data, b.len, 0, NULL) : NULL;
	pos_buf_free(&b);
	*ev = mj ? json_pack("{s:o}", "memory", mj) : NULL;
	return *ev ? 0 : 1;
}

static int run(const struct pos_config *cfg, const struct opts *o)
{
	const char *verb = o->verb;
	bool list = !strcmp(verb, "list"), inst = !strcmp(verb, "install"),
	     rem = !strcmp(verb, "remove"), hook = !strcmp(verb, "run-hook");
	if (!list && !inst && !rem && !hook) {
		fprintf(stderr, "personalos: unknown plugin command '%s'\n%s", verb, USAGE);
		return 2;
	}
	if (((inst || rem || hook) && (!o->arg || !o->user)) || (hook && !o->plugin) ||
	    (list && o->arg)) {
		fputs(USAGE, stderr);
		return 2;
	}
	char dirbuf[4096];
	const char *only = NULL;
	const char *dir = o->dir ? catalog_of(o->dir, dirbuf, sizeof(dirbuf), &only) : cfg->plugins_dir;
	const char *id = hook ? o->plugin : o->arg;
	struct pos_error err;
	pos_error_clear(&err);
	struct pos_store *s = NULL;
	if (pos_crypto_init() || pos_store_open(cfg, &s, &err)) {
		fprintf(stderr, "personalos: %s\n", err.message[0] ? err.message : "cannot start");
		return 1;
	}
	int status = 1;
	struct pos_arena *a = pos_arena_new();
	struct pos_egress *eg = NULL;
	struct pos_plugins *p = NULL;
	struct pos_memsvc mem = {.store = s};
	json_t *out = NULL, *ev = NULL;
	struct pos_user u;
	if (!a || pos_egress_new(cfg->egress_allow, &eg, &err)) {
		fprintf(stderr, "personalos: %s\n", err.message[0] ? err.message : "out of memory");
		goto out;
	}
	struct pos_plugins_config pc = {.dir = dir, .store = s, .mem = &mem, .egress = eg,
					.max_failures = cfg->plugin_max_failures,
					.query_budget_us = (int64_t)cfg->plugin_query_budget_ms * 1000};
	if (pos_plugins_new(&pc, &p)) {
		fprintf(stderr, "personalos: cannot load the plugin catalog\n");
		goto out;
	}
	if (o->user && find_user(s, a, o->user, &u))
		goto out;
	if (only && id && strcmp(id, only) != 0 && !list)
		fprintf(stderr, "personalos: note: --dir is package '%s', not '%s'\n", only, id);
	enum pos_err rc = POS_OK;
	if (list && !o->user) {
		rc = pos_plugins_available(p, &out);
	} else if (list) {
		rc = pos_plugins_list(p, u.id, &out, &err);
	} else if (inst) {
		json_t *body = json_pack("{s:s}", "id", id);
		json_t *grants = json_array();
		char *copy = o->grant ? pos_strdup(o->grant) : NULL;
		for (char *save = NULL, *t = copy ? strtok_r(copy, ",", &save) : NULL; t;
		     t = strtok_r(NULL, ",", &save))
			json_array_append_new(grants, json_string(t));
		pos_free(copy);
		json_object_set_new(body, "grant", grants);
		if (o->settings) {
			json_t *st = json_loads(o->settings, 0, NULL);
			if (!json_is_object(st)) {
				json_decref(st);
				json_decref(body);
				fprintf(stderr, "personalos: --settings must be a JSON object\n");
				status = 2;
				goto out;
			}
			json_object_set_new(body, "settings", st);
		}
		rc = pos_plugins_install(p, u.id, body, &out, &err);
		json_decref(body);
	} else if (rem) {
		rc = pos_plugins_remove(p, u.id, id, &err);
		if (!rc)
			printf("removed %s for %s\n", id, u.email);
	} else {
		unsigned h = pos_manifest_hook(o->arg);
		if (!h) {
			fprintf(stderr, "personalos: unknown hook '%s' (on_memory_created, on_query, "
					"on_memory_accessed, on_user_action, on_memory_creating)\n", o->arg);
			status = 2;
			goto out;
		}
		int e = event_of(s, a, u.id, o, &ev);
		if (e) {
			status = e;
			goto out;
		}
		json_t *res = NULL;
		rc = pos_plugins_run(p, u.id, id, h, ev, &res, &err);
		if (!rc)
			out = json_pack("{s:o}", "result", res ? res : json_null());
	}
	if (rc) {
		fprintf(stderr, "personalos: %s\n", err.message[0] ? err.message : pos_strerror(rc));
		goto out;
	}
	if (out)
		print(out);
	status = 0;
out:
	json_decref(out);
	json_decref(ev);
	pos_plugins_free(p);
	pos_egress_free(eg);
	pos_arena_destroy(a);
	pos_store_close(s);
	return status;
}

int pos_cli_plugin(int argc, char **argv)
{
	struct pos_config cfg;
	int rc = pos_cli_config(&argc, argv, &cfg, USAGE);
	if (rc)
		return rc;
	struct opts o;
	if ((rc = parse(argc, argv, &o)))
		return rc;
	return run(&cfg, &o);
}
