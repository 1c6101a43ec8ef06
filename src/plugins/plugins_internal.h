/*
 * plugins_internal.h — what the plugin manager's two files share: the
 * catalog entry and the manager's state. plugins.c has the catalog,
 * installs and packages; hooks.c runs hooks (the host operations bound to
 * one plugin and user, sandboxes, the memory hooks and their jobs).
 * Not a public interface: only src/plugins/plugins.c and hooks.c include it.
 */
#ifndef POS_PLUGINS_PLUGINS_INTERNAL_H
#define POS_PLUGINS_PLUGINS_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "plugins/catalog.h"
#include "plugins/plugins.h"
#include "plugins/sandbox.h"

struct entry {
	struct pos_manifest m;
	char *source;
	size_t source_len;
	char *chunkname; /* "@plugins/<id>/<main>" for error messages */
	bool bundled;    /* from plugins_dir (a folder or its .tar.gz): not removable */
	int removed;     /* set (atomic) by pos_plugins_remove_package; never reset */
};

static inline bool live(const struct entry *e)
{
	return !__atomic_load_n(&e->removed, __ATOMIC_ACQUIRE);
}

struct pos_plugins {
	struct pos_plugins_config cfg;
	struct entry *cat;  /* POS_PLUGINS_CATALOG_MAX slots, append-only */
	size_t n_cat;       /* written under mu with release; read with acquire */
	pthread_mutex_t mu; /* adding packages (catalog.c unpacks under it) */
	struct pos_catalog_keys keys;
	char pkg_root[4096];
	struct pos_sbpool *pool; /* idle sandboxes for reuse */
};

static inline size_t cat_count(const struct pos_plugins *p)
{
	return __atomic_load_n(&p->n_cat, __ATOMIC_ACQUIRE);
}

/* The entry of `id` users get (its highest live version), or NULL. */
const struct entry *pos_plugins_entry(const struct pos_plugins *p, const char *id);

/* Frees a sandbox and its binding (the pool's dispose function). */
void pos_plugins_sb_dispose(struct pos_sandbox *sb, void *aux);

#endif
