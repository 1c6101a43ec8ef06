/* Unit tests for src/crypto/keyfile.c: keys persist in a 0600 file, adopt
 * keeps the file's copy, a master key seals the file and is required to
 * open it again, damaged files and bad master keys are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "crypto/keyfile.h"

struct fx {
	char dir[512];
	char keys[600];
	char master[600];
	char other[600];
};

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	char *buf = calloc(1, 65536);
	size_t n = fread(buf, 1, 65535, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (pos_crypto_init())
		return -1;
	const char *base = getenv("POS_TEST_TMP");
	if (base)
		mkdir(base, 0700);
	snprintf(f->dir, sizeof(f->dir), "%s/keyfile_XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->keys, sizeof(f->keys), "%s/keys", f->dir);
	snprintf(f->master, sizeof(f->master), "%s/master", f->dir);
	snprintf(f->other, sizeof(f->other), "%s/other", f->dir);
	write_file(f->master, "0123456789abcdef0123456789abcdef-master\n");
	write_file(f->other, "another secret of more than thirty-two bytes");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	unlink(f->keys);
	unlink(f->master);
	unlink(f->other);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void keys_persist_in_a_private_file(void **state)
{
	struct fx *f = *state;
	struct pos_error e;
	pos_error_clear(&e);
	struct pos_keyfile *kf;
	uint8_t a[32], b[32], c[32];
	assert_int_equal(pos_keyfile_open(f->keys, NULL, &kf, &e), POS_OK);
	assert_int_equal(access(f->keys, F_OK), -1); /* nothing until a key is made */
	assert_int_equal(pos_keyfile_get(kf, "mac", a, sizeof(a)), POS_OK);
	assert_int_equal(pos_keyfile_get(kf, "mac", b, sizeof(b)), POS_OK);
	assert_memory_equal(a, b, sizeof(a));
	assert_int_equal(pos_keyfile_get(kf, "mac", c, 16), POS_ERR_CORRUPT);
	assert_int_equal(pos_keyfile_get(kf, "", c, 16), POS_ERR_INVALID_REQUEST);
	assert_int_equal(pos_keyfile_get(kf, "big", c, POS_KEYFILE_KEY_MAX + 1),
			 POS_ERR_INVALID_REQUEST);
	pos_keyfile_close(kf);
	struct stat st;
	assert_int_equal(stat(f->keys, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	/* a loosened mode is tightened on open; the key is the same */
	chmod(f->keys, 0644);
	assert_int_equal(pos_keyfile_open(f->keys, "", &kf, &e), POS_OK);
	assert_int_equal(stat(f->keys, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(pos_keyfile_get(kf, "mac", b, sizeof(b)), POS_OK);
	assert_memory_equal(a, b, sizeof(a));
	/* adopt: a new name is taken as given, a known one keeps the file's */
	uint8_t given[32];
	memset(given, 7, sizeof(given));
	assert_int_equal(pos_keyfile_adopt(kf, "sync", given, sizeof(given)), POS_OK);
	assert_int_equal(pos_keyfile_adopt(kf, "mac", given, sizeof(given)), POS_OK);
	pos_keyfile_close(kf);
	assert_int_equal(pos_keyfile_open(f->keys, NULL, &kf, &e), POS_OK);
	assert_int_equal(pos_keyfile_get(kf, "sync", b, sizeof(b)), POS_OK);
	assert_memory_equal(given, b, sizeof(b));
	assert_int_equal(pos_keyfile_get(kf, "mac", b, sizeof(b)), POS_OK);
	assert_memory_equal(a, b, sizeof(a));
	pos_keyfile_close(kf);
	pos_keyfile_close(NULL);
}

static void master_key_seals_the_file(void **state)
{
	struct fx *f = *state;
	struct pos_error e;
	pos_error_clear(&e);
	struct pos_keyfile *kf;
	uint8_t a[32], b[32];
	unlink(f->keys);
	assert_int_equal(pos_keyfile_open(f->keys, NULL, &kf, &e), POS_OK);
	assert_int_equal(pos_keyfile_get(kf, "mac", a, sizeof(a)), POS_OK);
	pos_keyfile_close(kf);
	char *plain = slurp(f->keys);
	assert_non_null(strstr(plain, "\"keys\""));
	free(plain);

	/* the first open with a master key seals the plain file */
	assert_int_equal(pos_keyfile_open(f->keys, f->master, &kf, &e), POS_OK);
	pos_keyfile_close(kf);
	char *sealed = slurp(f->keys);
	assert_null(strstr(sealed, "\"keys\""));
	assert_null(strstr(sealed, "mac"));
	assert_non_null(strstr(sealed, "\"sealed\""));
	free(sealed);

	/* without it, or with another, the file does not open */
	assert_int_equal(pos_keyfile_open(f->keys, NULL, &kf, &e), POS_ERR_USAGE);
	assert_int_equal(pos_keyfile_open(f->keys, f->other, &kf, &e), POS_ERR_DECRYPT);
	char missing[700];
	snprintf(missing, sizeof(missing), "%s/none", f->dir);
	assert_int_equal(pos_keyfile_open(f->keys, missing, &kf, &e), POS_ERR_USAGE);

	/* with it, the same key */
	assert_int_equal(pos_keyfile_open(f->keys, f->master, &kf, &e), POS_OK);
	assert_int_equal(pos_keyfile_get(kf, "mac", b, sizeof(b)), POS_OK);
	assert_memory_equal(a, b, sizeof(a));
	pos_keyfile_close(kf);
}

/* Two processes on one data directory (the server and `personalos user
 * add`): neither drops the other's keys, and a name gets one key. */
static void two_handles_share_the_file(void **state)
{
	struct fx *f = *state;
	struct pos_error e;
	pos_error_clear(&e);
	struct pos_keyfile *one, *two, *three;
	uint8_t a1[32], a2[32], b1[32], b2[32];
	unlink(f->keys);
	assert_int_equal(pos_keyfile_open(f->keys, NULL, &one, &e), POS_OK);
	assert_int_equal(pos_keyfile_open(f->keys, NULL, &two, &e), POS_OK);
	assert_int_equal(pos_keyfile_get(one, "a", a1, sizeof(a1)), POS_OK);
	assert_int_equal(pos_keyfile_get(two, "b", b2, sizeof(b2)), POS_OK);
	assert_int_equal(pos_keyfile_get(two, "a", a2, sizeof(a2)), POS_OK);
	assert_memory_equal(a1, a2, sizeof(a1));
	assert_int_equal(pos_keyfile_open(f->keys, NULL, &three, &e), POS_OK);
	assert_int_equal(pos_keyfile_get(three, "a", a2, sizeof(a2)), POS_OK);
	assert_int_equal(pos_keyfile_get(three, "b", b1, sizeof(b1)), POS_OK);
	assert_memory_equal(a1, a2, sizeof(a1));
	assert_memory_equal(b1, b2, sizeof(b1));
	pos_keyfile_close(one);
	pos_keyfile_close(two);
	pos_keyfile_close(three);
}

static void bad_inputs_are_refused(void **state)
{
	struct fx *f = *state;
	struct pos_error e;
	pos_error_clear(&e);
	struct pos_keyfile *kf = NULL;
	/* a master key file shorter than 32 bytes */
	char shortm[700];
	snprintf(shortm, sizeof(shortm), "%s/short", f->dir);
	write_file(shortm, "short secret\n");
	unlink(f->keys);
	assert_int_equal(pos_keyfile_open(f->keys, shortm, &kf, &e), POS_ERR_USAGE);
	unlink(shortm);
	/* not a key file */
	static const char *const damaged[] = {
		"", "not json", "{}", "[]",
		"{\"format\":\"personalos-keys\",\"version\":2,\"keys\":{}}",
		"{\"format\":\"other\",\"version\":1,\"keys\":{}}",
		"{\"format\":\"personalos-keys\",\"version\":1,\"keys\":{\"a\":5}}",
		"{\"format\":\"personalos-keys\",\"version\":1,\"keys\":{\"a\":\"!!\"}}",
		"{\"format\":\"personalos-keys\",\"version\":1,\"keys\":[]}",
	};
	for (size_t i = 0; i < sizeof(damaged) / sizeof(damaged[0]); i++) {
		write_file(f->keys, damaged[i]);
		assert_int_equal(pos_keyfile_open(f->keys, NULL, &kf, &e), POS_ERR_CORRUPT);
	}
	/* a sealed file whose blob was altered */
	write_file(f->keys, "{\"format\":\"personalos-keys\",\"version\":1,"
			    "\"sealed\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}");
	assert_int_equal(pos_keyfile_open(f->keys, f->master, &kf, &e), POS_ERR_DECRYPT);
	/* a directory is not a key file */
	unlink(f->keys);
	mkdir(f->keys, 0700);
	assert_int_not_equal(pos_keyfile_open(f->keys, NULL, &kf, &e), POS_OK);
	rmdir(f->keys);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(keys_persist_in_a_private_file),
		cmocka_unit_test(master_key_seals_the_file),
		cmocka_unit_test(two_handles_share_the_file),
		cmocka_unit_test(bad_inputs_are_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
