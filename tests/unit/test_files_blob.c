/* Unit tests for src/files/blob.c: content addressing and per-user dedup,
 * reads at any offset, sealed blobs that hold no plaintext and fail to open
 * when truncated or under another key, removal; the backup copy of the
 * tree (pos_blob_copy_tree) and the on-disk size of a blob. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "files/blob.h"

#define U1 "11111111-1111-4111-8111-111111111111"
#define U2 "22222222-2222-4222-8222-222222222222"

struct fx {
	char dir[512];
	struct pos_blobs b;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (pos_crypto_init())
		return -1;
	const char *base = getenv("POS_TEST_TMP");
	if (base)
		mkdir(base, 0700);
	snprintf(f->dir, sizeof(f->dir), "%s/blob_XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(f->dir))
		return -1;
	if (pos_blobs_init(&f->b, f->dir, NULL))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	pos_blob_remove_user(&f->b, U1);
	pos_blob_remove_user(&f->b, U2);
	rmdir(f->b.dir);
	rmdir(f->dir);
	free(f);
	return 0;
}

static unsigned char *pattern(size_t n)
{
	unsigned char *p = malloc(n ? n : 1);
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 7 + i / 251);
	return p;
}

static void read_back(struct pos_blobs *b, const char *user, const struct pos_blob_key *k,
		      const char *hash, const unsigned char *want, size_t n)
{
	struct pos_blob_reader *rd;
	uint64_t size;
	assert_int_equal(pos_blob_open(b, user, k, hash, &rd, &size), POS_OK);
	assert_int_equal(size, n);
	unsigned char *got = malloc(n + 1);
	size_t total = 0, g;
	while (total < n) {
		assert_int_equal(pos_blob_read(rd, total, got + total, 10000, &g), POS_OK);
		assert_true(g > 0);
		total += g;
	}
	assert_int_equal(pos_blob_read(rd, total, got, 10, &g), POS_OK);
	assert_int_equal(g, 0);
	assert_memory_equal(got, want, n);
	/* a read in the middle, across a chunk boundary */
	if (n > POS_BLOB_CHUNK + 10) {
		assert_int_equal(pos_blob_read(rd, POS_BLOB_CHUNK - 5, got, 10, &g), POS_OK);
		size_t have = g;
		if (have < 10) {
			assert_int_equal(pos_blob_read(rd, POS_BLOB_CHUNK - 5 + have, got + have,
						       10 - have, &g), POS_OK);
			have += g;
		}
		assert_int_equal(have, 10);
		assert_memory_equal(got, want + POS_BLOB_CHUNK - 5, 10);
	}
	free(got);
	pos_blob_close(rd);
}

static void test_plain_dedup(void **state)
{
	struct fx *f = *state;
	const char *text = "the quick brown fox";
	char h1[POS_BLOB_HASH_HEX], h2[POS_BLOB_HASH_HEX];
	bool created;
	assert_int_equal(pos_blob_put_mem(&f->b, U1, NULL, text, strlen(text), h1, &created),
			 POS_OK);
	assert_true(created);
	assert_true(pos_blob_hash_valid(h1));
	/* the address is the unkeyed BLAKE2b-256 of the bytes */
	uint8_t want[32];
	char hex[65];
	pos_hash(want, text, strlen(text));
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", want[i]);
	assert_string_equal(h1, hex);
	assert_int_equal(pos_blob_put_mem(&f->b, U1, NULL, text, strlen(text), h2, &created),
			 POS_OK);
	assert_false(created);
	assert_string_equal(h1, h2);
	/* per user: another user's copy is a file of its own */
	assert_int_equal(pos_blob_put_mem(&f->b, U2, NULL, text, strlen(text), h2, &created),
			 POS_OK);
	assert_true(created);
	read_back(&f->b, U1, NULL, h1, (const unsigned char *)text, strlen(text));
	assert_int_equal(pos_blob_disk_size(&f->b, U1, h1), (int64_t)strlen(text));
	assert_int_equal(pos_blob_remove(&f->b, U1, h1), POS_OK);
	struct pos_blob_reader *rd;
	uint64_t size;
	assert_int_equal(pos_blob_open(&f->b, U1, NULL, h1, &rd, &size), POS_ERR_NOT_FOUND);
	/* U2's copy is untouched */
	read_back(&f->b, U2, NULL, h2, (const unsigned char *)text, strlen(text));
	/* hostile addresses never leave the folder */
	assert_int_equal(pos_blob_open(&f->b, U1, NULL, "../../etc/passwd", &rd, &size),
			 POS_ERR_NOT_FOUND);
	assert_int_equal(pos_blob_open(&f->b, "..", NULL, h1, &rd, &size), POS_ERR_NOT_FOUND);
}

static void test_from_fd_large(void **state)
{
	struct fx *f = *state;
	size_t n = 3 * POS_BLOB_CHUNK + 123;
	unsigned char *data = pattern(n + 100);
	char path[600];
	snprintf(path, sizeof(path), "%s/input", f->dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n + 100), (ssize_t)(n + 100));
	char h[POS_BLOB_HASH_HEX];
	bool created;
	/* a range of the file: bytes 100.. */
	assert_int_equal(pos_blob_put_fd(&f->b, U1, NULL, fd, 100, n, h, &created), POS_OK);
	read_back(&f->b, U1, NULL, h, data + 100, n);
	/* a length past the end of the input is an error, and leaves nothing */
	char h2[POS_BLOB_HASH_HEX];
	assert_int_equal(pos_blob_put_fd(&f->b, U1, NULL, fd, 100, n + 1, h2, &created),
			 POS_ERR_IO);
	close(fd);
	unlink(path);
	free(data);
}

static void test_sealed(void **state)
{
	struct fx *f = *state;
	struct pos_userkeys uk, other;
	memset(&uk, 7, sizeof(uk));
	memset(&other, 9, sizeof(other));
	struct pos_blob_key k, k2;
	pos_blob_key_derive(&uk, &k);
	pos_blob_key_derive(&other, &k2);
	const char *secret = "my bank PIN is 4921 and the safe code is 1776";
	size_t sizes[] = {0, strlen(secret), POS_BLOB_CHUNK, 2 * POS_BLOB_CHUNK + 17};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		unsigned char *data = i == 1 ? (unsigned char *)strdup(secret) : pattern(n);
		char h[POS_BLOB_HASH_HEX], hp[POS_BLOB_HASH_HEX];
		bool created;
		assert_int_equal(pos_blob_put_mem(&f->b, U1, &k, data, n, h, &created), POS_OK);
		/* the address is keyed: not the plain hash */
		assert_int_equal(pos_blob_put_mem(&f->b, U2, NULL, data, n, hp, &created), POS_OK);
		assert_string_not_equal(h, hp);
		read_back(&f->b, U1, &k, h, data, n);
		/* no plaintext on disk */
		if (i == 1) {
			char path[PATH_MAX + 200];
			snprintf(path, sizeof(path), "%s/%s/%.2s/%s", f->b.dir, U1, h, h + 2);
			FILE *fp = fopen(path, "rb");
			assert_non_null(fp);
			char buf[4096];
			size_t got = fread(buf, 1, sizeof(buf), fp);
			fclose(fp);
			assert_null(memmem(buf, got, "4921", 4));
			assert_null(memmem(buf, got, "bank", 4));
		}
		/* another key cannot open it */
		struct pos_blob_reader *rd;
		uint64_t size;
		assert_int_equal(pos_blob_open(&f->b, U1, &k2, h, &rd, &size), POS_ERR_DECRYPT);
		/* truncation is detected */
		if (n > 0) {
			char path[PATH_MAX + 200];
			snprintf(path, sizeof(path), "%s/%s/%.2s/%s", f->b.dir, U1, h, h + 2);
			struct stat st;
			assert_int_equal(stat(path, &st), 0);
			assert_int_equal(truncate(path, st.st_size - 1), 0);
			assert_int_equal(pos_blob_open(&f->b, U1, &k, h, &rd, &size),
					 POS_ERR_DECRYPT);
			assert_int_equal(pos_blob_remove(&f->b, U1, h), POS_OK);
		}
		free(data);
	}
}

/* pos_blob_stored_size is the size on disk, sealed or not; pos_blob_copy_tree
 * copies every blob (and nothing else) into a new folder, refuses one that
 * exists; pos_blob_remove_tree deletes the copy. */
static void test_copy_tree_and_stored_size(void **state)
{
	struct fx *f = *state;
	struct pos_userkeys uk;
	memset(&uk, 5, sizeof(uk));
	struct pos_blob_key k;
	pos_blob_key_derive(&uk, &k);
	size_t sizes[] = {0, 1, POS_BLOB_CHUNK - 1, POS_BLOB_CHUNK, 3 * POS_BLOB_CHUNK + 5};
	size_t nsizes = sizeof(sizes) / sizeof(sizes[0]);
	char hs[5][POS_BLOB_HASH_HEX], hp[5][POS_BLOB_HASH_HEX];
	for (size_t i = 0; i < nsizes; i++) {
		unsigned char *data = pattern(sizes[i]);
		data[0] ^= (unsigned char)i; /* size 0: not read */
		bool created;
		assert_int_equal(pos_blob_put_mem(&f->b, U1, &k, data, sizes[i], hs[i], &created),
				 POS_OK);
		assert_int_equal(pos_blob_put_mem(&f->b, U2, NULL, data, sizes[i], hp[i], &created),
				 POS_OK);
		assert_int_equal(pos_blob_disk_size(&f->b, U1, hs[i]),
				 (int64_t)pos_blob_stored_size(sizes[i], true));
		assert_int_equal(pos_blob_disk_size(&f->b, U2, hp[i]),
				 (int64_t)pos_blob_stored_size(sizes[i], false));
		free(data);
	}
	/* a put in flight and a stray name: not blobs */
	char tmp[PATH_MAX + 100];
	snprintf(tmp, sizeof(tmp), "%s/%s/.tmp-x", f->b.dir, U1);
	FILE *fp = fopen(tmp, "w");
	assert_non_null(fp);
	fputs("partial", fp);
	fclose(fp);
	char to[600];
	snprintf(to, sizeof(to), "%s/copy", f->dir);
	uint64_t n = 0, bytes = 0, want = 0;
	assert_int_equal(pos_blob_copy_tree(f->b.dir, to, &n, &bytes, NULL), POS_OK);
	assert_int_equal(n, 2 * nsizes);
	for (size_t i = 0; i < nsizes; i++)
		want += pos_blob_stored_size(sizes[i], true) + sizes[i];
	assert_int_equal(bytes, want);
	struct pos_blobs copy;
	snprintf(copy.dir, sizeof(copy.dir), "%s", to);
	for (size_t i = 0; i < nsizes; i++) {
		assert_int_equal(pos_blob_disk_size(&copy, U1, hs[i]),
				 (int64_t)pos_blob_stored_size(sizes[i], true));
		unsigned char *data = pattern(sizes[i]);
		data[0] ^= (unsigned char)i;
		read_back(&copy, U1, &k, hs[i], data, sizes[i]);
		read_back(&copy, U2, NULL, hp[i], data, sizes[i]);
		free(data);
	}
	snprintf(tmp, sizeof(tmp), "%.600s/%s/.tmp-x", to, U1);
	assert_int_not_equal(access(tmp, F_OK), 0);
	/* the destination must be new */
	assert_int_equal(pos_blob_copy_tree(f->b.dir, to, &n, &bytes, NULL), POS_ERR_CONFLICT);
	pos_blob_remove_tree(to);
	assert_int_not_equal(access(to, F_OK), 0);
	/* no blobs folder at all: an empty copy */
	char none[600];
	snprintf(none, sizeof(none), "%s/none", f->dir);
	assert_int_equal(pos_blob_copy_tree(none, to, &n, &bytes, NULL), POS_OK);
	assert_int_equal(n, 0);
	pos_blob_remove_tree(to);
	snprintf(tmp, sizeof(tmp), "%s/%s/.tmp-x", f->b.dir, U1);
	unlink(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plain_dedup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_from_fd_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sealed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_tree_and_stored_size, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
