/*
 * Unit tests for src/plugins/catalog (packages): .tar.gz packages built
 * here with libarchive — good ones unpack into <root>/<id>-<version>/,
 * hostile ones (absolute paths, "..", links, devices, too many or too
 * large entries, non-UTF-8 names, sub-folders) are refused with nothing
 * left under the root; trusted keys; checksum and ed25519 signature
 * checks; the manager's upload growing its catalog.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>
#include <sodium.h>

#include "crypto/crypto.h"
#include "plugins/catalog.h"
#include "plugins/plugins.h"

#define MANIFEST                                                                              \
	"{\"id\": \"hello\", \"name\": \"Hello\", \"version\": \"1.2.0\", \"description\": \"d\", " \
	"\"hooks\": [\"on_user_action\"], \"permissions\": []}"
#define MAIN_LUA "function on_user_action(a) return {hi = true} end\n"

struct fx {
	char dir[256];
	char root[300];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	pos_crypto_init();
	const char *base = getenv("POS_TEST_TMP");
	if (base)
		mkdir(base, 0700);
	snprintf(f->dir, sizeof(f->dir), "%s/pcat_XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->root, sizeof(f->root), "%s/plugins", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* An archive under construction, in memory. */
struct tgz {
	struct archive *a;
	char *buf;
	size_t cap, len;
};

static void tgz_open(struct tgz *t, bool gzip)
{
	t->cap = 8u << 20;
	t->buf = malloc(t->cap);
	t->a = archive_write_new();
	if (gzip)
		archive_write_add_filter_gzip(t->a);
	archive_write_set_format_ustar(t->a);
	archive_write_set_bytes_in_last_block(t->a, 1);
	assert_int_equal(archive_write_open_memory(t->a, t->buf, t->cap, &t->len), ARCHIVE_OK);
}

/* Adds an entry: type AE_IFREG with data, or another type with `link`. */
static void tgz_add(struct tgz *t, const char *name, mode_t type, const void *data, size_t n,
		    const char *link)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, type == AE_IFREG ? (la_int64_t)n : 0);
	if (type == AE_IFLNK)
		archive_entry_set_symlink(e, link);
	if (type == AE_IFCHR)
		archive_entry_set_rdev(e, 0x0103);
	if (type == AE_IFREG && link)
		archive_entry_set_hardlink(e, link);
	assert_true(archive_write_header(t->a, e) >= ARCHIVE_WARN);
	if (type == AE_IFREG && n && !link)
		assert_int_equal(archive_write_data(t->a, data, n), (la_ssize_t)n);
	archive_entry_free(e);
}

static void tgz_str(struct tgz *t, const char *name, const char *text)
{
	tgz_add(t, name, AE_IFREG, text, strlen(text), NULL);
}

static void tgz_close(struct tgz *t)
{
	assert_int_equal(archive_write_close(t->a), ARCHIVE_OK);
	archive_write_free(t->a);
}

static void good_package(struct tgz *t, const char *top)
{
	char a[200], b[200];
	snprintf(a, sizeof(a), "%splugin.json", top);
	snprintf(b, sizeof(b), "%smain.lua", top);
	tgz_open(t, true);
	tgz_str(t, a, MANIFEST);
	tgz_str(t, b, MAIN_LUA);
	tgz_close(t);
}

/* Entries under the root other than "." and "..". */
static int entries(const char *root)
{
	DIR *d = opendir(root);
	if (!d)
		return 0;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

static void test_good_packages(void **state)
{
	struct fx *f = *state;
	const char *tops[] = {"", "./", "hello-1.2.0/"};
	for (size_t i = 0; i < 3; i++) {
		struct tgz t;
		good_package(&t, tops[i]);
		struct pos_catalog_pkg pkg;
		struct pos_error err;
		pos_error_clear(&err);
		enum pos_err rc = pos_catalog_unpack(t.buf, t.len, f->root, "hello", "1.2.0", &pkg, &err);
		if (rc)
			fail_msg("layout '%s': %s", tops[i], err.message);
		assert_string_equal(pkg.m.id, "hello");
		assert_string_equal(pkg.source, MAIN_LUA);
		char path[400];
		snprintf(path, sizeof(path), "%s/hello-1.2.0/main.lua", f->root);
		struct stat sb;
		assert_int_equal(stat(path, &sb), 0);
		assert_int_equal(sb.st_mode & 0777, 0600);
		snprintf(path, sizeof(path), "%s", f->root);
		assert_int_equal(stat(path, &sb), 0);
		assert_int_equal(sb.st_mode & 0777, 0700);
		/* the same id and version again: a conflict, the first stays */
		struct pos_catalog_pkg again;
		assert_int_equal(pos_catalog_unpack(t.buf, t.len, f->root, NULL, NULL, &again, &err),
				 POS_ERR_CONFLICT);
		assert_int_equal(entries(f->root), 1);
		pos_catalog_pkg_free(&pkg);
		pos_catalog_remove(f->root, "hello", "1.2.0");
		assert_int_equal(entries(f->root), 0);
		free(t.buf);
	}
}

/* Each hostile archive is refused and leaves nothing under the root. */
static void refused(struct fx *f, struct tgz *t, enum pos_err want, const char *what)
{
	struct pos_catalog_pkg pkg;
	struct pos_error err;
	pos_error_clear(&err);
	enum pos_err rc = pos_catalog_unpack(t->buf, t->len, f->root, NULL, NULL, &pkg, &err);
	if (rc != want)
		fail_msg("%s: got %d (%s), want %d", what, rc, err.message, want);
	assert_true(err.message[0] != '\0');
	print_message("refused %s: %s\n", what, err.message);
	assert_int_equal(entries(f->root), 0);
	free(t->buf);
}

static void test_hostile_archives(void **state)
{
	struct fx *f = *state;
	struct tgz t;

	tgz_open(&t, true);
	tgz_str(&t, "plugin.json", MANIFEST);
	tgz_str(&t, "/etc/main.lua", MAIN_LUA);
	tgz_close(&t);
	refused(f, &t, POS_ERR_INVALID_FIELD, "absolute path");

	tgz_open(&t, true);
	tgz_str(&t, "plugin.json", MANIFEST);
	tgz_str(&t, "../main.lua", MAIN_LUA);
	tgz_close(&t);
	refused(f, &t, POS_ERR_INVALID_FIELD, "dot-dot");

	tgz_open(&t, true);
	tgz_str(&t, "x/../plugin.json", MANIFEST);
	tgz_close(&t);
	refused(f, &t, POS_ERR_INVALID_FIELD, "inner dot-dot");

	tgz_open(&t, true);
	tgz_str(&t, "plugin.json", MANIFEST);
	tgz_add(&t, "main.lua", AE_IFLNK, NULL, 0, "/etc/passwd");
	tgz_close(&t);
	refused(f, &t, POS_ERR_INVALID_FIELD, "symlink");

	tgz_open(&t, true);
	tgz_str(&t, "plugin.json", MANIFEST);
	tgz_add(&t, "main.lua", AE_IFREG, NULL, 0, "plugin.json");
	tgz_close(&t);
	refused(f, &t, POS_ERR_INVALID_FIELD, "hardlink");

	tgz_open(&t, true);
	tgz_str(&t, "plugin.json", MANIFEST);
	tgz_add(&t, "main.lua", AE_IFCHR, NULL, 0, NULL);
	tgz_close(&t);
	refused(f, &t, POS_ERR_INVALID_FIELD, "device");

	tgz_open(&t, true);
	tgz_str(&t, "plugin.json", MANIFEST);
	tgz_str(&t, "main.lua", MAIN_LUA);
	tgz_str(&t, "caf\xe9.lua", "-- latin-1 name\n");
	tgz_close(&t);
	refused(f, &t, POS_ERR_INVALID_FIELD, "non-UTF-8 name");

	tgz_open(&t, true);
	tgz_str(&t, "plugin.json", MANIFEST);
	tgz_str(&t, "main.lua", MAIN_LUA);
	tgz_str(&t, "lib/util.lua", "-- nested\n");
	tgz_close(&t);
	refused(f, &t, POS_ERR_INVALID_FIELD, "sub-folder");

	tgz_open(&t, true);
	tgz_str(&t, "main.lua", MAIN_LUA);
	tgz_close(&t);
	refused(f, &t, POS_ERR_INVALID_FIELD, "no manifest");

	tgz_open(&t, true);
	tgz_str(&t, "plugin.json", MANIFEST);
	tgz_close(&t);
	refused(f, &t, POS_ERR_INVALID_FIELD, "no main file");

	tgz_open(&t, true);
	tgz_str(&t, "plugin.json", MANIFEST);
	tgz_str(&t, "main.lua", MAIN_LUA);
	for (int i = 0; i < POS_CATALOG_ENTRIES_MAX; i++) {
		char name[32];
		snprintf(name, sizeof(name), "f%d.lua", i);
		tgz_str(&t, name, "--\n");
	}
	tgz_close(&t);
	refused(f, &t, POS_ERR_CONTENT_TOO_LARGE, "too many entries");

	char *big = calloc(1, POS_MANIFEST_SOURCE_MAX + 2);
	memset(big, '-', POS_MANIFEST_SOURCE_MAX + 1);
	tgz_open(&t, true);
	tgz_str(&t, "plugin.json", MANIFEST);
	tgz_str(&t, "main.lua", big);
	tgz_close(&t);
	refused(f, &t, POS_ERR_CONTENT_TOO_LARGE, "entry too large");

	/* 17 files just under the entry cap: more than the total cap */
	big[POS_MANIFEST_SOURCE_MAX - 1] = '\0';
	tgz_open(&t, true);
	tgz_str(&t, "plugin.json", MANIFEST);
	tgz_str(&t, "main.lua", MAIN_LUA);
	for (int i = 0; i < 17; i++) {
		char name[32];
		snprintf(name, sizeof(name), "pad%d.lua", i);
		tgz_str(&t, name, big);
	}
	tgz_close(&t);
	refused(f, &t, POS_ERR_CONTENT_TOO_LARGE, "total too large");
	free(big);

	tgz_open(&t, false); /* only for its buffer: garbage bytes */
	archive_write_free(t.a);
	t.len = 10;
	memcpy(t.buf, "not a tgz!", 10);
	refused(f, &t, POS_ERR_INVALID_FIELD, "garbage");

	/* the manifest must name what the index said */
	good_package(&t, "");
	struct pos_catalog_pkg pkg;
	struct pos_error err;
	assert_int_equal(pos_catalog_unpack(t.buf, t.len, f->root, "other", NULL, &pkg, &err),
			 POS_ERR_INVALID_FIELD);
	assert_int_equal(pos_catalog_unpack(t.buf, t.len, f->root, "hello", "9.9", &pkg, &err),
			 POS_ERR_INVALID_FIELD);
	assert_int_equal(entries(f->root), 0);
	free(t.buf);
}

static void test_version_order(void **state)
{
	(void)state;
	assert_true(pos_catalog_version_cmp("1.10.0", "1.9.2") > 0);
	assert_true(pos_catalog_version_cmp("1.2", "1.2.0") < 0);
	assert_true(pos_catalog_version_cmp("2.0.0", "2.0.0") == 0);
	assert_true(pos_catalog_version_cmp("1.0.0-beta", "1.0.0") > 0);
	assert_true(pos_catalog_version_cmp("010", "9") > 0);
}

static void test_keys_and_signatures(void **state)
{
	(void)state;
	unsigned char pk[32], sk[64], pk2[32], sk2[64];
	crypto_sign_keypair(pk, sk);
	crypto_sign_keypair(pk2, sk2);
	char hex[65], b64[64], text[256];
	sodium_bin2hex(hex, sizeof(hex), pk, 32);
	sodium_bin2base64(b64, sizeof(b64), pk2, 32, sodium_base64_VARIANT_ORIGINAL);
	snprintf(text, sizeof(text), " %s, %s ", hex, b64);
	struct pos_catalog_keys keys;
	struct pos_error err;
	pos_error_clear(&err);
	assert_int_equal(pos_catalog_keys_parse(text, &keys, &err), POS_OK);
	assert_int_equal(keys.n, 2);
	assert_memory_equal(keys.k[0], pk, 32);
	assert_memory_equal(keys.k[1], pk2, 32);
	assert_int_equal(pos_catalog_keys_parse("abcd", &keys, &err), POS_ERR_INVALID_FIELD);
	assert_int_equal(pos_catalog_keys_parse("", &keys, &err), POS_OK);
	assert_int_equal(keys.n, 0);

	const char *data = "package bytes";
	size_t n = strlen(data);
	unsigned char sum[32], sig[64];
	crypto_hash_sha256(sum, (const unsigned char *)data, n);
	char sumhex[65], sigb64[100], sighex[129];
	sodium_bin2hex(sumhex, sizeof(sumhex), sum, 32);
	crypto_sign_detached(sig, NULL, (const unsigned char *)data, n, sk2);
	sodium_bin2base64(sigb64, sizeof(sigb64), sig, 64, sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2hex(sighex, sizeof(sighex), sig, 64);
	struct pos_catalog_keys one = {.n = 1};
	memcpy(one.k[0], pk2, 32);
	assert_int_equal(pos_catalog_verify(data, n, sumhex, sigb64, &one, &err), POS_OK);
	assert_int_equal(pos_catalog_verify(data, n, sumhex, sighex, &one, &err), POS_OK);
	/* wrong checksum */
	char badsum[65];
	memcpy(badsum, sumhex, sizeof(badsum));
	badsum[0] = badsum[0] == '0' ? '1' : '0';
	assert_int_equal(pos_catalog_verify(data, n, badsum, sigb64, &one, &err), POS_ERR_INVALID_FIELD);
	assert_string_equal(err.field, "sha256");
	/* the bytes changed (checksum of the changed bytes, old signature) */
	unsigned char sum2[32];
	char sum2hex[65];
	crypto_hash_sha256(sum2, (const unsigned char *)"package bytez", n);
	sodium_bin2hex(sum2hex, sizeof(sum2hex), sum2, 32);
	assert_int_equal(pos_catalog_verify("package bytez", n, sum2hex, sigb64, &one, &err),
			 POS_ERR_INVALID_FIELD);
	assert_string_equal(err.field, "signature");
	/* an unknown key */
	memcpy(one.k[0], pk, 32);
	assert_int_equal(pos_catalog_verify(data, n, sumhex, sigb64, &one, &err), POS_ERR_INVALID_FIELD);
	assert_string_equal(err.field, "signature");
	/* no keys at all */
	one.n = 0;
	assert_int_equal(pos_catalog_verify(data, n, sumhex, sigb64, &one, &err), POS_ERR_INVALID_FIELD);
	/* malformed signature */
	one.n = 1;
	assert_int_equal(pos_catalog_verify(data, n, sumhex, "xyz", &one, &err), POS_ERR_INVALID_FIELD);
}

static bool has_id(json_t *arr, const char *id, const char *version)
{
	size_t i;
	json_t *e;
	json_array_foreach(arr, i, e)
		if (strcmp(json_string_value(json_object_get(e, "id")), id) == 0)
			return strcmp(json_string_value(json_object_get(e, "version")), version) == 0;
	return false;
}

static void test_manager_upload_and_archive_dir(void **state)
{
	struct fx *f = *state;
	/* a plugins_dir with one ID-VERSION.tar.gz: unpacked at start */
	char pdir[300], path[400];
	snprintf(pdir, sizeof(pdir), "%s/bundled", f->dir);
	assert_int_equal(mkdir(pdir, 0700), 0);
	struct tgz t;
	good_package(&t, "");
	snprintf(path, sizeof(path), "%s/hello-1.2.0.tar.gz", pdir);
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(t.buf, 1, t.len, fp), t.len);
	fclose(fp);
	struct pos_plugins_config cfg = {.dir = pdir, .data_dir = f->dir};
	struct pos_plugins *p = NULL;
	assert_int_equal(pos_plugins_new(&cfg, &p), POS_OK);
	json_t *av = NULL;
	assert_int_equal(pos_plugins_available(p, &av), POS_OK);
	assert_true(has_id(av, "hello", "1.2.0"));
	json_decref(av);
	/* uploading the same id and version: a conflict */
	json_t *out = NULL;
	struct pos_error err;
	pos_error_clear(&err);
	assert_int_equal(pos_plugins_upload(p, t.buf, t.len, &out, &err), POS_ERR_CONFLICT);
	free(t.buf);
	/* a newer version supersedes it */
	tgz_open(&t, true);
	tgz_str(&t, "plugin.json",
		"{\"id\": \"hello\", \"name\": \"Hello\", \"version\": \"1.3.0\", \"description\": "
		"\"d\", \"hooks\": [\"on_user_action\"], \"permissions\": []}");
	tgz_str(&t, "main.lua", MAIN_LUA);
	tgz_close(&t);
	assert_int_equal(pos_plugins_upload(p, t.buf, t.len, &out, &err), POS_OK);
	assert_string_equal(json_string_value(json_object_get(out, "version")), "1.3.0");
	json_decref(out);
	assert_int_equal(pos_plugins_available(p, &av), POS_OK);
	assert_int_equal(json_array_size(av), 1);
	assert_true(has_id(av, "hello", "1.3.0"));
	json_decref(av);
	/* a hostile upload changes nothing */
	free(t.buf);
	tgz_open(&t, true);
	tgz_str(&t, "plugin.json", MANIFEST);
	tgz_add(&t, "main.lua", AE_IFLNK, NULL, 0, "/etc/passwd");
	tgz_close(&t);
	assert_int_equal(pos_plugins_upload(p, t.buf, t.len, &out, &err), POS_ERR_INVALID_FIELD);
	free(t.buf);
	pos_plugins_free(p);
	/* a crash mid-unpack left a temporary folder: swept at start */
	snprintf(path, sizeof(path), "%s/.tmp-hello-9.0.0-abcd", f->root);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/.tmp-hello-9.0.0-abcd/main.lua", f->root);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	/* after a restart both unpacked packages are there; 1.3.0 wins */
	assert_int_equal(pos_plugins_new(&cfg, &p), POS_OK);
	assert_int_equal(pos_plugins_available(p, &av), POS_OK);
	assert_int_equal(json_array_size(av), 1);
	json_t *e = json_array_get(av, 0);
	assert_string_equal(json_string_value(json_object_get(e, "id")), "hello");
	assert_string_equal(json_string_value(json_object_get(e, "version")), "1.3.0");
	json_decref(av);
	pos_plugins_free(p);
	assert_int_equal(entries(f->root), 2); /* hello-1.2.0, hello-1.3.0 */
	/* bad trusted keys stop the manager */
	cfg.trusted_keys = "not-a-key";
	assert_int_equal(pos_plugins_new(&cfg, &p), POS_ERR_INVALID_FIELD);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_good_packages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_archives, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keys_and_signatures, setup, teardown),
		cmocka_unit_test(test_version_order),
		cmocka_unit_test_setup_teardown(test_manager_upload_and_archive_dir, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
