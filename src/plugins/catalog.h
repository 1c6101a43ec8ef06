/*
 * catalog.h — where plugin packages come from (issue 15, docs/PLUGINS.md
 * "Packages"): a folder, a `.tar.gz` package unpacked into a private
 * folder the server chooses, and remote catalogs whose packages carry a
 * SHA-256 checksum and an ed25519 signature checked against the keys the
 * operator trusts before anything is unpacked.
 *
 * A package is a stranger's: every archive entry is checked (regular
 * files and one top folder only; no absolute paths, `..`, links, devices,
 * non-UTF-8 or control-character names; bounded entry count, entry and
 * total sizes) before a byte of it reaches the disk, and the destination
 * is always `<root>/<id>-<version>/`, never a path from the package.
 *
 * The signature is over the package's bytes (the .tar.gz file as served),
 * with libsodium's crypto_sign_verify_detached; the index's `sha256` must
 * match the same bytes.
 *
 * Thread-safety: functions are reentrant; the caller serializes unpacking
 * into one root (plugins.c holds its catalog lock).
 */
#ifndef POS_PLUGINS_CATALOG_H
#define POS_PLUGINS_CATALOG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "plugins/manifest.h"

struct pos_egress;

#define POS_CATALOG_PACKAGE_MAX (4u << 20)  /* bytes of a .tar.gz */
#define POS_CATALOG_UNPACKED_MAX (4u << 20) /* bytes of all its files unpacked */
#define POS_CATALOG_ENTRIES_MAX 64          /* archive entries */
#define POS_CATALOG_NAME_MAX 128            /* bytes of an entry's path */
#define POS_CATALOG_KEYS_MAX 16             /* trusted keys */
#define POS_CATALOG_URLS_MAX 8              /* remote catalogs */
#define POS_CATALOG_INDEX_MAX (1u << 20)    /* bytes of an index.json */
#define POS_CATALOG_INDEX_ENTRIES_MAX 256
#define POS_CATALOG_FETCH_TIMEOUT_MS 60000  /* per download */

/* A loaded package: its checked manifest and main Lua source. */
struct pos_catalog_pkg {
	struct pos_manifest m;
	char *source;
	size_t source_len;
};
void pos_catalog_pkg_free(struct pos_catalog_pkg *p);

/*
 * Reads the package folder `name` under `dirfd` (plugin.json and its
 * main file, no symlinks followed). POS_ERR_INVALID_FIELD /
 * POS_ERR_INVALID_JSON with a message for a bad package, POS_ERR_NOMEM.
 */
enum pos_err pos_catalog_read_dir(int dirfd, const char *name, struct pos_catalog_pkg *out,
				  struct pos_error *err);

/* Reads the regular file `name` under dirfd (no symlink) of at most `max`
 * bytes, NUL-terminated; NULL when missing, not regular or too large. */
char *pos_catalog_read_file(int dirfd, const char *name, size_t max, size_t *len);

/* Orders two versions: dot-separated parts compared as numbers when both
 * are digits, else as strings ("1.10.0" > "1.9.2"). <0, 0, >0. */
int pos_catalog_version_cmp(const char *a, const char *b);

/* Removes `root`/<id>-<version>/ (a package this module unpacked). */
/* Removes the temporary folders an unpack interrupted by a crash left in
 * `root` (".tmp-*"); at start, before loading the packages. */
void pos_catalog_sweep(const char *root);
void pos_catalog_remove(const char *root, const char *id, const char *version);

/*
 * Checks the .tar.gz `data` (len bytes) and unpacks it into
 * `root`/<id>-<version>/ (root is created 0700 when missing), then reads
 * it into `out`. The archive holds plugin.json and the package's files,
 * either at its top or under one top folder; no sub-folders. When
 * `want_id` / `want_version` are given the manifest must name them.
 * Errors: POS_ERR_CONTENT_TOO_LARGE (limits), POS_ERR_INVALID_FIELD
 * (field "package": a refused archive, a bad manifest), POS_ERR_CONFLICT
 * (that id and version is unpacked already), POS_ERR_IO. On error
 * nothing is left under root.
 */
enum pos_err pos_catalog_unpack(const void *data, size_t len, const char *root,
				const char *want_id, const char *want_version,
				struct pos_catalog_pkg *out, struct pos_error *err);

/* The keys the operator trusts. */
struct pos_catalog_keys {
	unsigned char k[POS_CATALOG_KEYS_MAX][32];
	size_t n;
};

/* Parses a list of ed25519 public keys (32 bytes each, base64 or hex),
 * separated by commas or white space. POS_ERR_INVALID_FIELD (field
 * "plugin_trusted_keys") for a key that is neither, or too many. */
enum pos_err pos_catalog_keys_parse(const char *text, struct pos_catalog_keys *out,
				    struct pos_error *err);

/*
 * Checks `data` against the index's `sha256_hex` (64 hex digits) and
 * `sig` (a detached ed25519 signature of data, base64 or hex) made by one
 * of `keys`. POS_ERR_INVALID_FIELD with field "sha256" (mismatch) or
 * "signature" (malformed, or no trusted key made it).
 */
enum pos_err pos_catalog_verify(const void *data, size_t len, const char *sha256_hex,
				const char *sig, const struct pos_catalog_keys *keys,
				struct pos_error *err);

/* What a refresh asks of the catalog's owner. */
struct pos_catalog_sink {
	/* true when id@version is in the catalog already */
	bool (*have)(void *ctx, const char *id, const char *version);
	/* adds a package unpacked under root (consumed on POS_OK) */
	enum pos_err (*add)(void *ctx, struct pos_catalog_pkg *pkg, struct pos_error *err);
	/* true when the refresh must stop (the job is cancelled) */
	bool (*stop)(void *ctx);
	void *ctx;
};

struct pos_catalog_remote {
	const char *urls;                     /* index.json URLs, comma/space separated */
	const struct pos_catalog_keys *keys;  /* trusted keys */
	const char *root;                     /* where packages are unpacked */
	const struct pos_egress *egress;      /* the operator's egress_allow */
	size_t package_max;                   /* 0: POS_CATALOG_PACKAGE_MAX */
};

/*
 * Fetches each catalog's index.json (an object {"packages": [{id,
 * version, url, sha256, signature}]}), and for each package not in the
 * catalog yet downloads it (size and time capped, through net/http.h and
 * the egress policy), verifies it, unpacks it and hands it to sink->add.
 * `*report` (new reference) is {catalogs: [{url, status, error?}],
 * packages: [{id, version, status: "installed"|"present"|"refused",
 * error?}]}. A refused package or unreachable catalog is in the report,
 * not an error; POS_ERR_NOMEM is.
 */
enum pos_err pos_catalog_refresh(const struct pos_catalog_remote *rc,
				 const struct pos_catalog_sink *sink, json_t **report,
				 struct pos_error *err);

#endif
