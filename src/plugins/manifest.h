/*
 * manifest.h — a plugin's `plugin.json`: what it is, which hooks it
 * handles, which permissions and hosts it asks for, and the schema of its
 * settings (docs/PLUGINS.md "Manifest"). A manifest comes from a package
 * author (a stranger): every field is checked and bounded here before the
 * catalog shows it or an install grants anything.
 *
 * Thread-safety: a parsed manifest is immutable; functions are pure.
 */
#ifndef POS_PLUGINS_MANIFEST_H
#define POS_PLUGINS_MANIFEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "plugins/hostapi.h"

#define POS_MANIFEST_BYTES_MAX 65536
#define POS_MANIFEST_ID_MAX 40
#define POS_MANIFEST_SETTINGS_MAX 32
#define POS_MANIFEST_SETTING_STRING_MAX 1024
#define POS_MANIFEST_SOURCE_MAX (256u << 10) /* bytes of the Lua source */

/* The hooks, as bits. */
enum pos_plugin_hook {
	POS_HOOK_MEMORY_CREATED = 1u << 0,  /* "on_memory_created" (a job) */
	POS_HOOK_QUERY = 1u << 1,           /* "on_query" (inline, tight budget) */
	POS_HOOK_MEMORY_ACCESSED = 1u << 2, /* "on_memory_accessed" (a job) */
	POS_HOOK_USER_ACTION = 1u << 3,     /* "on_user_action" (a job) */
	/* "on_memory_creating": inline, before the insert, tags only
	 * (docs/PLUGINS.md "Tagging before the insert") */
	POS_HOOK_MEMORY_CREATING = 1u << 4,
};
#define POS_HOOKS_COUNT 5

/* The bit of a hook name, 0 when unknown; and back (NULL: not one bit). */
unsigned pos_manifest_hook(const char *name);
const char *pos_manifest_hook_name(unsigned bit);

struct pos_manifest {
	json_t *doc;           /* the validated plugin.json (owned) */
	const char *id, *name, *version, *description, *author, *main;
	unsigned hooks;        /* POS_HOOK_* */
	unsigned perms;        /* POS_PERM_* requested */
	const char *hosts[POS_HOSTAPI_HOSTS_MAX];
	size_t n_hosts;
	json_t *settings;      /* borrowed from doc: name -> {type, default, description, url?} */
};

/*
 * Parses and checks `text` (len bytes). On success fills `m` (free with
 * pos_manifest_free). On failure POS_ERR_INVALID_JSON or
 * POS_ERR_INVALID_FIELD with `err` naming the field.
 */
enum pos_err pos_manifest_parse(const char *text, size_t len, struct pos_manifest *m,
				struct pos_error *err);
void pos_manifest_free(struct pos_manifest *m);

/*
 * The settings a user gives (`given`, borrowed; NULL: none) checked against
 * the schema and completed with its defaults into `*out` (new reference).
 * Unknown names, wrong types and strings over
 * POS_MANIFEST_SETTING_STRING_MAX are POS_ERR_INVALID_FIELD. A setting of
 * type "url" must be an http(s) URL.
 */
enum pos_err pos_manifest_settings(const struct pos_manifest *m, json_t *given, json_t **out,
				   struct pos_error *err);

/*
 * The hosts the plugin may reach with these (completed) settings: the
 * manifest's `hosts` plus the host[:port] of each "url" setting's value
 * (the user chose it). Writes at most `cap` strings into `buf` of
 * `buf_size` bytes, pointers into `out`; returns how many.
 */
size_t pos_manifest_hosts(const struct pos_manifest *m, json_t *settings, const char **out,
			  size_t cap, char *buf, size_t buf_size);

/* The permission bits named in a JSON array of strings (unknown names:
 * POS_ERR_INVALID_FIELD naming the entry). */
enum pos_err pos_manifest_perms(json_t *names, unsigned *out, struct pos_error *err);

#endif
