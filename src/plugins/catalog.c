/*
 * catalog.c — plugin packages: folders, checked .tar.gz archives, and
 * signed remote catalogs (catalog.h).
 */
#include "plugins/catalog.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "net/http.h"

/* ---- folders ------------------------------------------------------------ */

/* Reads a regular file of at most `max` bytes under dirfd (no symlink). */
char *pos_catalog_read_file(int dirfd, const char *name, size_t max, size_t *len)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat sb;
	char *buf = NULL;
	if (fstat(fd, &sb) || !S_ISREG(sb.st_mode) || (size_t)sb.st_size > max)
		goto out;
	buf = pos_malloc((size_t)sb.st_size + 1);
	if (!buf)
		goto out;
	size_t got = 0;
	while (got < (size_t)sb.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)sb.st_size - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	buf[got] = '\0';
	*len = got;
out:
	close(fd);
	return buf;
}

void pos_catalog_pkg_free(struct pos_catalog_pkg *p)
{
	if (!p)
		return;
	pos_manifest_free(&p->m);
	pos_free(p->source);
	memset(p, 0, sizeof(*p));
}

enum pos_err pos_catalog_read_dir(int dirfd, const char *name, struct pos_catalog_pkg *out,
				  struct pos_error *err)
{
	memset(out, 0, sizeof(*out));
	int pd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (pd < 0)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "package", "not a readable folder");
	size_t len = 0;
	enum pos_err rc;
	char *text = pos_catalog_read_file(pd, "plugin.json", POS_MANIFEST_BYTES_MAX, &len);
	if (!text) {
		rc = pos_error_set(err, POS_ERR_INVALID_FIELD, "plugin.json", "no readable plugin.json");
		goto out;
	}
	if ((rc = pos_manifest_parse(text, len, &out->m, err)))
		goto out;
	out->source = pos_catalog_read_file(pd, out->m.main, POS_MANIFEST_SOURCE_MAX, &out->source_len);
	if (!out->source) {
		pos_manifest_free(&out->m);
		rc = pos_error_set(err, POS_ERR_INVALID_FIELD, "main", "main file missing or too large");
	}
out:
	pos_free(text);
	close(pd);
	return rc;
}

/* ---- archives ----------------------------------------------------------- */

struct file {
	char name[POS_CATALOG_NAME_MAX + 1]; /* the path inside the archive, "./" cut */
	const char *base;                    /* the file name, into name */
	char *data;
	size_t len;
};

static bool utf8_ok(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned c = s[i];
		size_t k;
		if (c < 0x80)
			k = 0;
		else if (c >= 0xC2 && c <= 0xDF)
			k = 1;
		else if ((c & 0xF0) == 0xE0)
			k = 2;
		else if (c >= 0xF0 && c <= 0xF4)
			k = 3;
		else
			return false;
		if (k >= n - i)
			return false;
		for (size_t j = 1; j <= k; j++)
			if ((s[i + j] & 0xC0) != 0x80)
				return false;
		if (k == 2 && ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xED && s[i + 1] >= 0xA0)))
			return false;
		if (k == 3 && ((c == 0xF0 && s[i + 1] < 0x90) || (c == 0xF4 && s[i + 1] >= 0x90)))
			return false;
		i += k + 1;
	}
	return true;
}

static enum pos_err refuse(struct pos_error *err, const char *msg)
{
	return pos_error_set(err, POS_ERR_INVALID_FIELD, "package", "%s", msg);
}

/* Checks an entry's path and copies it, "./" cut, into `out`; `dir` tells
 * whether it is the top folder's own entry. Depth: "file" or "top/file". */
static enum pos_err check_name(const char *raw, bool is_dir, char *out, struct pos_error *err)
{
	if (!raw || !*raw)
		return refuse(err, "an archive entry has no name");
	size_t n = strlen(raw);
	if (n > POS_CATALOG_NAME_MAX)
		return refuse(err, "an archive entry's name is too long");
	if (!utf8_ok((const unsigned char *)raw, n))
		return refuse(err, "an archive entry's name is not UTF-8");
	if (raw[0] == '/')
		return refuse(err, "an archive entry has an absolute path");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)raw[i] < 0x20 || raw[i] == 0x7f || raw[i] == '\\')
			return refuse(err, "an archive entry's name has a control character or '\\'");
	while (raw[0] == '.' && raw[1] == '/')
		raw += 2;
	n = strlen(raw);
	if (is_dir && n && raw[n - 1] == '/')
		n--;
	if (n == 0 || (n == 1 && raw[0] == '.'))
		return is_dir ? POS_OK : refuse(err, "an archive entry has no name");
	memcpy(out, raw, n);
	out[n] = '\0';
	unsigned slashes = 0;
	for (const char *c = out; *c;) {
		size_t cl = strcspn(c, "/");
		if ((cl == 1 && c[0] == '.') || (cl == 2 && c[0] == '.' && c[1] == '.'))
			return refuse(err, "an archive entry's path has '..' or '.'");
		c += cl;
		if (*c)
			c++;
	}
	for (size_t i = 0; i < n; i++)
		if (out[i] == '/') {
			slashes++;
			if (i + 1 == n || out[i + 1] == '/' || i == 0)
				return refuse(err, "an archive entry's path has an empty part");
		}
	if (slashes > (is_dir ? 0u : 1u))
		return refuse(err, "a package has no sub-folders");
	return POS_OK;
}

static void files_free(struct file *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pos_free(f[i].data);
	pos_free(f);
}

/* Reads every entry of the archive into memory, checked. */
static enum pos_err read_archive(const void *data, size_t len, struct file **out, size_t *n_out,
				 struct pos_error *err)
{
	*out = NULL;
	*n_out = 0;
	struct file *files = pos_calloc(POS_CATALOG_ENTRIES_MAX, sizeof(*files));
	struct archive *ar = archive_read_new();
	enum pos_err rc = POS_OK;
	size_t n = 0, total = 0;
	if (!files || !ar) {
		rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
		goto out;
	}
	archive_read_support_filter_gzip(ar);
	archive_read_support_format_tar(ar);
	if (archive_read_open_memory(ar, data, len) != ARCHIVE_OK) {
		rc = refuse(err, "the package is not a .tar.gz archive");
		goto out;
	}
	struct archive_entry *e;
	int hr;
	while ((hr = archive_read_next_header(ar, &e)) == ARCHIVE_OK) {
		mode_t type = archive_entry_filetype(e);
		if (archive_entry_hardlink(e) || archive_entry_symlink(e) || type == AE_IFLNK) {
			rc = refuse(err, "a package may not hold links");
			goto out;
		}
		if (type != AE_IFREG && type != AE_IFDIR) {
			rc = refuse(err, "a package holds regular files only (no devices, fifos)");
			goto out;
		}
		char name[POS_CATALOG_NAME_MAX + 1] = "";
		if ((rc = check_name(archive_entry_pathname(e), type == AE_IFDIR, name, err)))
			goto out;
		if (type == AE_IFDIR)
			continue; /* the top folder; files say where they go */
		if (n == POS_CATALOG_ENTRIES_MAX) {
			rc = pos_error_set(err, POS_ERR_CONTENT_TOO_LARGE, "package",
					   "the package has too many files");
			goto out;
		}
		if (archive_entry_size_is_set(e) && archive_entry_size(e) > (la_int64_t)POS_MANIFEST_SOURCE_MAX) {
			rc = pos_error_set(err, POS_ERR_CONTENT_TOO_LARGE, "package",
					   "a file of the package is too large");
			goto out;
		}
		struct file *f = &files[n++];
		memcpy(f->name, name, sizeof(f->name));
		char *slash = strchr(f->name, '/');
		f->base = slash ? slash + 1 : f->name;
		struct pos_buf b;
		pos_buf_init(&b, POS_MANIFEST_SOURCE_MAX);
		const void *blk;
		size_t bn;
		la_int64_t off;
		int dr;
		while ((dr = archive_read_data_block(ar, &blk, &bn, &off)) == ARCHIVE_OK) {
			total += bn;
			if (total > POS_CATALOG_UNPACKED_MAX || b.len + bn > POS_MANIFEST_SOURCE_MAX) {
				pos_buf_free(&b);
				rc = pos_error_set(err, POS_ERR_CONTENT_TOO_LARGE, "package",
						   "the package unpacks too large");
				goto out;
			}
			if (pos_buf_add(&b, blk, bn)) {
				pos_buf_free(&b);
				rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
				goto out;
			}
		}
		if (dr != ARCHIVE_EOF) {
			pos_buf_free(&b);
			rc = refuse(err, "the archive is damaged");
			goto out;
		}
		f->data = b.data;
		f->len = b.len;
		if (!f->data) { /* an empty file */
			f->data = pos_calloc(1, 1);
			if (!f->data) {
				rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
				goto out;
			}
		}
	}
	if (hr != ARCHIVE_EOF) {
		rc = refuse(err, "the archive is damaged or not a .tar.gz");
		goto out;
	}
	if (n == 0) {
		rc = refuse(err, "the package is empty");
		goto out;
	}
	/* One layout for all: every file at the top, or all in one top folder. */
	const char *s0 = strchr(files[0].name, '/');
	size_t top = s0 ? (size_t)(s0 - files[0].name) : 0;
	for (size_t i = 0; i < n; i++) {
		const char *s = strchr(files[i].name, '/');
		size_t t = s ? (size_t)(s - files[i].name) : 0;
		if (t != top || (top && memcmp(files[i].name, files[0].name, top) != 0)) {
			rc = refuse(err, "a package's files are at its top or in one top folder");
			goto out;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(files[j].base, files[i].base) == 0) {
				rc = refuse(err, "a package names a file twice");
				goto out;
			}
	}
	*out = files;
	*n_out = n;
	files = NULL;
out:
	if (ar)
		archive_read_free(ar);
	if (files)
		files_free(files, n);
	return rc;
}

/* Removes the flat folder `name` under rootfd and what it holds. */
static void remove_dir(int rootfd, const char *name)
{
	int d = openat(rootfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d >= 0) {
		DIR *dir = fdopendir(d);
		if (dir) {
			struct dirent *de;
			while ((de = readdir(dir)))
				if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
					unlinkat(dirfd(dir), de->d_name, 0);
			closedir(dir);
		} else {
			close(d);
		}
	}
	unlinkat(rootfd, name, AT_REMOVEDIR);
}

static enum pos_err write_file(int dfd, const struct file *f)
{
	int fd = openat(dfd, f->base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return POS_ERR_IO;
	size_t done = 0;
	while (done < f->len) {
		ssize_t w = write(fd, f->data + done, f->len - done);
		if (w <= 0) {
			close(fd);
			return POS_ERR_IO;
		}
		done += (size_t)w;
	}
	return close(fd) ? POS_ERR_IO : POS_OK;
}

enum pos_err pos_catalog_unpack(const void *data, size_t len, const char *root,
				const char *want_id, const char *want_version,
				struct pos_catalog_pkg *out, struct pos_error *err)
{
	memset(out, 0, sizeof(*out));
	if (len > POS_CATALOG_PACKAGE_MAX)
		return pos_error_set(err, POS_ERR_CONTENT_TOO_LARGE, "package", "the package is too large");
	if (!root || !*root)
		return pos_error_set(err, POS_ERR_UNAVAILABLE, NULL, "no folder for packages");
	struct file *files = NULL;
	size_t n = 0;
	enum pos_err rc = read_archive(data, len, &files, &n, err);
	if (rc)
		return rc;
	struct pos_manifest m;
	memset(&m, 0, sizeof(m));
	int rootfd = -1, dfd = -1;
	char final[POS_MANIFEST_ID_MAX + 40], tmp[sizeof(final) + 40] = "";
	const struct file *mf = NULL;
	for (size_t i = 0; i < n; i++)
		if (strcmp(files[i].base, "plugin.json") == 0)
			mf = &files[i];
	if (!mf) {
		rc = refuse(err, "the package has no plugin.json");
		goto out;
	}
	if ((rc = pos_manifest_parse(mf->data, mf->len, &m, err)))
		goto out;
	if ((want_id && strcmp(want_id, m.id)) || (want_version && strcmp(want_version, m.version))) {
		rc = refuse(err, "the package's plugin.json names another id or version");
		goto out;
	}
	bool main_found = false;
	for (size_t i = 0; i < n; i++)
		main_found = main_found || strcmp(files[i].base, m.main) == 0;
	if (!main_found) {
		rc = refuse(err, "the package has no main file");
		goto out;
	}
	snprintf(final, sizeof(final), "%s-%s", m.id, m.version);
	if (mkdir(root, 0700) && errno != EEXIST) {
		rc = pos_error_set(err, POS_ERR_IO, NULL, "cannot create the package folder");
		goto out;
	}
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		rc = pos_error_set(err, POS_ERR_IO, NULL, "cannot open the package folder");
		goto out;
	}
	if (faccessat(rootfd, final, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		rc = pos_error_set(err, POS_ERR_CONFLICT, "package", "this id and version is in the catalog already");
		goto out;
	}
	unsigned char rnd[8];
	char hex[sizeof(rnd) * 2 + 1];
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
	snprintf(tmp, sizeof(tmp), ".tmp-%s-%s", final, hex);
	if (mkdirat(rootfd, tmp, 0700)) {
		tmp[0] = '\0';
		rc = pos_error_set(err, POS_ERR_IO, NULL, "cannot create the package folder");
		goto out;
	}
	dfd = openat(rootfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		rc = pos_error_set(err, POS_ERR_IO, NULL, "cannot open the package folder");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if ((rc = write_file(dfd, &files[i]))) {
			pos_error_set(err, rc, NULL, "cannot write the package");
			goto out;
		}
	if (renameat(rootfd, tmp, rootfd, final)) {
		rc = errno == ENOTEMPTY || errno == EEXIST
			     ? pos_error_set(err, POS_ERR_CONFLICT, "package",
					     "this id and version is in the catalog already")
			     : pos_error_set(err, POS_ERR_IO, NULL, "cannot move the package in place");
		goto out;
	}
	tmp[0] = '\0';
	if ((rc = pos_catalog_read_dir(rootfd, final, out, err)))
		remove_dir(rootfd, final);
out:
	if (dfd >= 0)
		close(dfd);
	if (rootfd >= 0) {
		if (tmp[0])
			remove_dir(rootfd, tmp);
		close(rootfd);
	}
	pos_manifest_free(&m);
	files_free(files, n);
	return rc;
}

int pos_catalog_version_cmp(const char *a, const char *b)
{
	while (*a || *b) {
		size_t la = strcspn(a, "."), lb = strcspn(b, ".");
		bool da = la && strspn(a, "0123456789") >= la, db = lb && strspn(b, "0123456789") >= lb;
		int c;
		if (da && db) {
			while (la > 1 && *a == '0')
				a++, la--;
			while (lb > 1 && *b == '0')
				b++, lb--;
			c = la != lb ? (la < lb ? -1 : 1) : memcmp(a, b, la);
		} else {
			c = memcmp(a, b, la < lb ? la : lb);
			if (!c && la != lb)
				c = la < lb ? -1 : 1;
		}
		if (c)
			return c < 0 ? -1 : 1;
		a += la + (a[la] == '.');
		b += lb + (b[lb] == '.');
	}
	return 0;
}

void pos_catalog_remove(const char *root, const char *id, const char *version)
{
	char name[POS_MANIFEST_ID_MAX + 40];
	if ((size_t)snprintf(name, sizeof(name), "%s-%s", id, version) >= sizeof(name) ||
	    strchr(name, '/') || name[0] == '.')
		return;
	int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return;
	remove_dir(rootfd, name);
	close(rootfd);
}

void pos_catalog_sweep(const char *root)
{
	DIR *d = opendir(root);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strncmp(de->d_name, ".tmp-", 5) == 0)
			remove_dir(dirfd(d), de->d_name);
	closedir(d);
}

/* ---- keys and signatures ------------------------------------------------ */

/* Decodes `s` (n chars) as hex or base64 (standard or URL-safe) of
 * exactly `want` bytes. */
static bool decode(const char *s, size_t n, unsigned char *out, size_t want)
{
	size_t got = 0;
	if (n == want * 2 && sodium_hex2bin(out, want, s, n, NULL, &got, NULL) == 0 && got == want)
		return true;
	const int variants[] = {sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
				sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING};
	for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++) {
		const char *end = NULL;
		if (sodium_base642bin(out, want, s, n, NULL, &got, &end, variants[v]) == 0 &&
		    got == want && end == s + n)
			return true;
	}
	return false;
}

enum pos_err pos_catalog_keys_parse(const char *text, struct pos_catalog_keys *out,
				    struct pos_error *err)
{
	memset(out, 0, sizeof(*out));
	const char *p = text ? text : "";
	while (*p) {
		size_t skip = strspn(p, ", \t\r\n");
		p += skip;
		size_t n = strcspn(p, ", \t\r\n");
		if (!n)
			break;
		if (out->n == POS_CATALOG_KEYS_MAX)
			return pos_error_set(err, POS_ERR_INVALID_FIELD, "plugin_trusted_keys",
					     "too many trusted keys");
		if (!decode(p, n, out->k[out->n], 32))
			return pos_error_set(err, POS_ERR_INVALID_FIELD, "plugin_trusted_keys",
					     "a trusted key is not 32 bytes of base64 or hex");
		out->n++;
		p += n;
	}
	return POS_OK;
}

enum pos_err pos_catalog_verify(const void *data, size_t len, const char *sha256_hex,
				const char *sig, const struct pos_catalog_keys *keys,
				struct pos_error *err)
{
	unsigned char want[crypto_hash_sha256_BYTES], got[crypto_hash_sha256_BYTES];
	unsigned char s[crypto_sign_BYTES];
	if (!sha256_hex || !decode(sha256_hex, strlen(sha256_hex), want, sizeof(want)) ||
	    strlen(sha256_hex) != 2 * sizeof(want))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "sha256", "sha256 must be 64 hex digits");
	crypto_hash_sha256(got, data, len);
	if (sodium_memcmp(want, got, sizeof(want)) != 0)
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "sha256",
				     "the package does not match its checksum");
	if (!sig || !decode(sig, strlen(sig), s, sizeof(s)))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "signature",
				     "the signature is not 64 bytes of base64 or hex");
	for (size_t i = 0; keys && i < keys->n; i++)
		if (crypto_sign_verify_detached(s, data, len, keys->k[i]) == 0)
			return POS_OK;
	return pos_error_set(err, POS_ERR_INVALID_FIELD, "signature",
			     "the package is not signed by a trusted key");
}

/* ---- remote catalogs ---------------------------------------------------- */

/* GETs `url` into resp (body capped at max). Any HTTP status other than
 * 200 is an error with a message in err. */
static enum pos_err get(const char *url, enum pos_net_trust trust, const struct pos_egress *eg,
			size_t max, struct pos_http_resp *resp, struct pos_error *err)
{
	const char *headers[] = {"User-Agent: PersonalOS-plugins", NULL};
	struct pos_http_req req;
	memset(&req, 0, sizeof(req));
	req.url = url;
	req.headers = headers;
	req.trust = trust;
	req.egress = eg;
	req.connect_timeout_ms = 10000;
	req.timeout_ms = POS_CATALOG_FETCH_TIMEOUT_MS;
	req.max_bytes = max;
	req.max_redirects = 3;
	enum pos_err rc = pos_http_perform(NULL, &req, resp, err);
	if (rc) {
		if (resp->fail == POS_HTTP_TOO_BIG)
			rc = pos_error_set(err, POS_ERR_CONTENT_TOO_LARGE, "url",
					   "the download is larger than allowed");
		return rc;
	}
	if (resp->status != 200)
		return pos_error_set(err, POS_ERR_BAD_GATEWAY, "url", "the download answered HTTP %ld",
				     resp->status);
	return POS_OK;
}

/* The package URL: absolute, or relative to the index's folder. */
static bool package_url(const char *index, const char *u, char *out, size_t cap)
{
	if (strstr(u, "://"))
		return (size_t)snprintf(out, cap, "%s", u) < cap;
	if (u[0] == '/' || strstr(u, ".."))
		return false;
	const char *slash = strrchr(index, '/');
	if (!slash)
		return false;
	int base = (int)(slash - index + 1);
	return (size_t)snprintf(out, cap, "%.*s%s", base, index, u) < cap;
}

static json_t *status_of(const char *id, const char *version, const char *status,
			 const char *error)
{
	return json_pack("{s:s?, s:s?, s:s, s:s?}", "id", id, "version", version, "status", status,
			 "error", error);
}

/* One package of an index; appends its status to `pkgs`. */
static void one_package(const struct pos_catalog_remote *rc, const struct pos_catalog_sink *sink,
			const char *index_url, json_t *p, json_t *pkgs)
{
	const char *id = json_string_value(json_object_get(p, "id"));
	const char *version = json_string_value(json_object_get(p, "version"));
	const char *url = json_string_value(json_object_get(p, "url"));
	const char *sha = json_string_value(json_object_get(p, "sha256"));
	const char *sig = json_string_value(json_object_get(p, "signature"));
	char full[POS_HTTP_URL_MAX];
	if (!id || !version || !url || !sha || !sig) {
		json_array_append_new(pkgs, status_of(id, version, "refused",
						      "an index entry needs id, version, url, sha256, signature"));
		return;
	}
	if (sink->have(sink->ctx, id, version)) {
		json_array_append_new(pkgs, status_of(id, version, "present", NULL));
		return;
	}
	if (!package_url(index_url, url, full, sizeof(full))) {
		json_array_append_new(pkgs, status_of(id, version, "refused", "the package url is not valid"));
		return;
	}
	struct pos_error e;
	pos_error_clear(&e);
	struct pos_http_resp resp;
	struct pos_catalog_pkg pkg;
	memset(&pkg, 0, sizeof(pkg));
	enum pos_err r = get(full, POS_NET_USER, rc->egress,
			     rc->package_max ? rc->package_max : POS_CATALOG_PACKAGE_MAX, &resp, &e);
	if (!r)
		r = pos_catalog_verify(resp.body.data ? resp.body.data : "", resp.body.len, sha, sig,
				       rc->keys, &e);
	if (!r)
		r = pos_catalog_unpack(resp.body.data ? resp.body.data : "", resp.body.len, rc->root,
				       id, version, &pkg, &e);
	pos_http_resp_free(&resp);
	if (!r && (r = sink->add(sink->ctx, &pkg, &e)))
		pos_catalog_pkg_free(&pkg);
	if (r) {
		pos_log(POS_LOG_WARN, "plugins: refused package %s %s from a remote catalog: %s", id,
			version, e.message);
		json_array_append_new(pkgs, status_of(id, version, "refused",
						      e.message[0] ? e.message : pos_strerror(r)));
		return;
	}
	pos_log(POS_LOG_INFO, "plugins: added package %s %s from a remote catalog", id, version);
	json_array_append_new(pkgs, status_of(id, version, "installed", NULL));
}

enum pos_err pos_catalog_refresh(const struct pos_catalog_remote *rc,
				 const struct pos_catalog_sink *sink, json_t **report,
				 struct pos_error *err)
{
	json_t *cats = json_array(), *pkgs = json_array();
	*report = json_pack("{s:o, s:o}", "catalogs", cats, "packages", pkgs);
	if (!*report)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	const char *p = rc->urls ? rc->urls : "";
	for (unsigned n = 0; *p && n < POS_CATALOG_URLS_MAX; n++) {
		p += strspn(p, ", \t\r\n");
		size_t len = strcspn(p, ", \t\r\n");
		if (!len)
			break;
		char url[POS_HTTP_URL_MAX];
		snprintf(url, sizeof(url), "%.*s", (int)(len < sizeof(url) ? len : sizeof(url) - 1), p);
		p += len;
		if (sink->stop && sink->stop(sink->ctx))
			break;
		struct pos_error e;
		pos_error_clear(&e);
		struct pos_http_resp resp;
		enum pos_err r = get(url, POS_NET_OPERATOR, rc->egress, POS_CATALOG_INDEX_MAX, &resp, &e);
		json_t *index = NULL, *list = NULL;
		if (!r) {
			index = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len,
					   JSON_REJECT_DUPLICATES, NULL);
			list = json_is_array(index) ? index : json_object_get(index, "packages");
			if (!json_is_array(list) || json_array_size(list) > POS_CATALOG_INDEX_ENTRIES_MAX)
				r = pos_error_set(&e, POS_ERR_INVALID_JSON, "index",
						  "the index is not {\"packages\": [...]} of at most 256");
		}
		pos_http_resp_free(&resp);
		json_array_append_new(cats, json_pack("{s:s, s:s, s:s?}", "url", url, "status",
						      r ? "error" : "ok", "error",
						      r ? (e.message[0] ? e.message : pos_strerror(r)) : NULL));
		size_t i;
		json_t *entry;
		json_array_foreach(r ? NULL : list, i, entry) {
			if (sink->stop && sink->stop(sink->ctx))
				break;
			if (json_is_object(entry))
				one_package(rc, sink, url, entry, pkgs);
			else
				json_array_append_new(pkgs, status_of(NULL, NULL, "refused",
								      "an index entry is not an object"));
		}
		json_decref(index);
	}
	return POS_OK;
}
