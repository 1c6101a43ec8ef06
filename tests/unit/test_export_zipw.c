/*
 * Unit tests for the streaming zip writer (src/export/zipw.c): archives it
 * writes are read back with libarchive (as the import does), with
 * Python's zipfile (testzip: every CRC checked) and with Info-ZIP's
 * `unzip -t` when it is installed; a ZIP64 archive of more than 65,535
 * entries; names that would leave the archive's folder are refused; the
 * directory spool is an unlinked file beside the output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "export/zipw.h"

static char dir[512], path[600];
static char big[300000], noise[5000]; /* compressible; not */

static int setup(void **state)
{
	(void)state;
	const char *t = getenv("POS_TEST_TMP");
	char cmd[700];
	snprintf(dir, sizeof(dir), "%s/zipw.%d", t ? t : "/tmp", (int)getpid());
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", dir);
	if (system(cmd) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/out.zip", dir);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = "memory export "[i % 14] + (char)(i % 3000 == 0);
	uint32_t x = 2463534242u;
	for (size_t i = 0; i < sizeof(noise); i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		noise[i] = (char)x;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static enum pos_err fd_write(void *ctx, const void *p, size_t n)
{
	int fd = *(int *)ctx;
	const char *s = p;
	while (n) {
		ssize_t k = write(fd, s, n);
		if (k <= 0)
			return POS_ERR_IO;
		s += k;
		n -= (size_t)k;
	}
	return POS_OK;
}

static int out_fd = -1, spool_copy = -1; /* spool_copy: a dup of the writer's spool */

static struct pos_zipw *open_zip(void)
{
	out_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(out_fd >= 0);
	int spool = pos_zipw_spool(out_fd);
	assert_true(spool >= 0);
	if (spool_copy >= 0)
		close(spool_copy);
	spool_copy = dup(spool);
	struct pos_zipw *z = NULL;
	assert_int_equal(pos_zipw_open(fd_write, &out_fd, spool, 6, &z), POS_OK);
	return z;
}

static void close_zip(struct pos_zipw *z)
{
	assert_int_equal(pos_zipw_finish(z), POS_OK);
	assert_int_equal((off_t)pos_zipw_bytes(z), lseek(out_fd, 0, SEEK_CUR));
	pos_zipw_free(z);
	close(out_fd);
	out_fd = -1;
}

/* Runs `script` with python3, the archive's path as argv[1]; its exit
 * status (0: all its asserts held). */
static int python(const char *script)
{
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "python3 -c '%s' '%s'", script, path);
	return system(cmd);
}

/* `unzip -t` of the archive, or 0 when unzip is not installed. */
static int unzip_test(void)
{
	if (system("command -v unzip >/dev/null 2>&1") != 0)
		return 0;
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "unzip -tqq '%s' >/dev/null", path);
	return system(cmd);
}

#define NAME_UNICODE "notes/café ✓ 😀/Ünïcödé-日本語.md"
#define T_2025 1764000000123456LL /* 2025-11-24T16:00:00.123456Z */


static void test_entries(void **state)
{
	(void)state;
	const char *text = "hello hello hello hello hello hello, zip\n";
	struct pos_zipw *z = open_zip();
	assert_int_equal(pos_zipw_add(z, "a.txt", text, strlen(text), T_2025), POS_OK);
	assert_int_equal(pos_zipw_add(z, "empty.md", NULL, 0, POS_TIME_NONE), POS_OK);
	assert_int_equal(pos_zipw_add(z, NAME_UNICODE, "ü\n", 3, T_2025), POS_OK);
	assert_int_equal(pos_zipw_add(z, "noise.bin", noise, sizeof(noise), 0), POS_OK);
	/* streamed in uneven pieces, past several deflate output chunks */
	assert_int_equal(pos_zipw_begin(z, "_personalos/big.json", T_2025), POS_OK);
	for (size_t at = 0; at < sizeof(big);) {
		size_t k = sizeof(big) - at < 7777 ? sizeof(big) - at : 7777;
		assert_int_equal(pos_zipw_write(z, big + at, k), POS_OK);
		at += k;
	}
	assert_int_equal(pos_zipw_end(z), POS_OK);
	/* an empty streamed entry */
	assert_int_equal(pos_zipw_begin(z, "_personalos/none.json", T_2025), POS_OK);
	assert_int_equal(pos_zipw_end(z), POS_OK);
	assert_int_equal(pos_zipw_entries(z), 6);
	close_zip(z);

	/* libarchive, as the import reads it */
	struct archive *a = archive_read_new();
	archive_read_support_format_zip(a);
	assert_int_equal(archive_read_open_filename(a, path, 10240), ARCHIVE_OK);
	struct archive_entry *e;
	const char *names[] = {"a.txt", "empty.md", NAME_UNICODE, "noise.bin",
			       "_personalos/big.json", "_personalos/none.json"};
	const char *datas[] = {text, "", "ü\n", noise, big, ""};
	size_t lens[] = {strlen(text), 0, 3, sizeof(noise), sizeof(big), 0};
	static char got[sizeof(big) + 1];
	int n = 0, r;
	/* WARN: a name libarchive cannot convert to the C locale (the
	 * UTF-8 one); the name itself is still there in UTF-8 */
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		assert_true(n < 6);
		assert_string_equal(archive_entry_pathname_utf8(e), names[n]);
		assert_true(archive_entry_filetype(e) == AE_IFREG);
		size_t have = 0;
		la_ssize_t k;
		while ((k = archive_read_data(a, got + have, sizeof(got) - have)) > 0)
			have += (size_t)k;
		assert_true(k == 0);
		assert_int_equal(have, lens[n]);
		if (lens[n])
			assert_memory_equal(got, datas[n], lens[n]);
		if (n == 0)
			assert_int_equal(archive_entry_mtime(e), T_2025 / 1000000);
		n++;
	}
	assert_int_equal(n, 6);
	archive_read_free(a);

	/* Python's zipfile: every CRC, the UTF-8 flag, the DOS time (UTC) */
	assert_int_equal(python("import sys, zipfile\n"
				"z = zipfile.ZipFile(sys.argv[1])\n"
				"assert z.testzip() is None\n"
				"i = z.infolist()\n"
				"assert [x.filename for x in i][2] == \"" NAME_UNICODE "\"\n"
				"assert all(x.flag_bits & 0x800 for x in i)\n"
				"assert i[0].date_time == (2025, 11, 24, 16, 0, 0), i[0].date_time\n"
				"assert i[1].date_time == (1980, 1, 1, 0, 0, 0)\n"
				"assert i[0].compress_type == zipfile.ZIP_DEFLATED\n"
				"assert i[3].compress_type == zipfile.ZIP_STORED\n"
				"assert z.read(\"_personalos/big.json\").startswith(b\"nemory export\")\n"
				"assert z.read(\"empty.md\") == b\"\"\n"
				"assert i[4].file_size == 300000 and i[4].compress_size < 30000\n"),
			 0);
	assert_int_equal(unzip_test(), 0);
}

/* More than 65,535 entries: the ZIP64 end records. */
static void test_zip64_entries(void **state)
{
	(void)state;
	enum { N = 70000 };
	struct pos_zipw *z = open_zip();
	char name[64], data[16];
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "d%d/%06d.md", i % 7, i);
		int k = snprintf(data, sizeof(data), "%d", i);
		assert_int_equal(pos_zipw_add(z, name, data, i % 5 ? (size_t)k : 0, T_2025), POS_OK);
	}
	assert_int_equal(pos_zipw_begin(z, "_personalos/last.json", T_2025), POS_OK);
	assert_int_equal(pos_zipw_write(z, "[]", 2), POS_OK);
	assert_int_equal(pos_zipw_end(z), POS_OK);
	/* the directory is in the spool file, not in memory, before the end:
	 * at least 46 bytes and the name per entry, less one 64 KiB buffer */
	struct stat st;
	assert_int_equal(fstat(spool_copy, &st), 0);
	assert_true(st.st_size >= (off_t)N * (46 + 11) - 65536);
	/* ... and enciphered: no name in the clear */
	static char sp[1 << 20];
	ssize_t sn = pread(spool_copy, sp, sizeof(sp), 0);
	assert_true(sn > 100000);
	assert_null(memmem(sp, (size_t)sn, "000123.md", 9));
	assert_null(memmem(sp, (size_t)sn, "PK\x01\x02", 4));
	close_zip(z);

	/* the end: ZIP64 end record, its locator, the classic end record
	 * whose entry counts say "see ZIP64" */
	unsigned char tail[98];
	int fd = open(path, O_RDONLY);
	off_t size = lseek(fd, 0, SEEK_END);
	assert_int_equal(pread(fd, tail, sizeof(tail), size - (off_t)sizeof(tail)), sizeof(tail));
	close(fd);
	assert_memory_equal(tail, "PK\x06\x06", 4);
	assert_memory_equal(tail + 56, "PK\x06\x07", 4);
	assert_memory_equal(tail + 76, "PK\x05\x06", 4);
	assert_true(tail[76 + 10] == 0xff && tail[76 + 11] == 0xff);
	uint64_t count = 0;
	for (int i = 7; i >= 0; i--)
		count = count << 8 | tail[32 + i];
	assert_int_equal(count, N + 1);

	struct archive *a = archive_read_new();
	archive_read_support_format_zip(a);
	assert_int_equal(archive_read_open_filename(a, path, 10240), ARCHIVE_OK);
	struct archive_entry *e;
	int n = 0;
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		if (n == 12346) {
			char got[16];
			la_ssize_t k = archive_read_data(a, got, sizeof(got));
			assert_int_equal(k, 5);
			assert_memory_equal(got, "12346", 5);
		}
		n++;
	}
	assert_int_equal(n, N + 1);
	archive_read_free(a);
	assert_int_equal(python("import sys, zipfile\n"
				"z = zipfile.ZipFile(sys.argv[1])\n"
				"assert z.testzip() is None\n"
				"i = z.infolist()\n"
				"assert len(i) == 70001, len(i)\n"
				"assert i[69999].filename == \"d6/069999.md\"\n"
				"assert z.read(i[69999]) == b\"69999\"\n"
				"assert z.read(i[70000]) == b\"[]\"\n"),
			 0);
	assert_int_equal(unzip_test(), 0);
}

/* Names that could leave the folder the archive is unpacked in, or that a
 * reader could take two ways, are refused; the writer goes on. */
static void test_names(void **state)
{
	(void)state;
	struct pos_zipw *z = open_zip();
	static char longname[POS_ZIPW_NAME_MAX + 2];
	memset(longname, 'a', sizeof(longname) - 1);
	const char *bad[] = {"",       "/etc/passwd", "../x",  "a/../b", "a/..",  "..",
			     "a//b",   "a/./b",       "./a",   "a/",     "a\\b",  "..\\x",
			     "\xff.md", "a\xc0\xaf.md", "\xed\xa0\x80", longname};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(pos_zipw_add(z, bad[i], "x", 1, T_2025), POS_ERR_INVALID_FIELD);
		assert_int_equal(pos_zipw_begin(z, bad[i], T_2025), POS_ERR_INVALID_FIELD);
	}
	assert_int_equal(pos_zipw_add(z, NULL, "x", 1, T_2025), POS_ERR_INVALID_FIELD);
	assert_int_equal(pos_zipw_add(z, "..a/b..c/.d", "x", 1, T_2025), POS_OK);
	assert_int_equal(pos_zipw_entries(z), 1);
	close_zip(z);
	assert_int_equal(python("import sys, zipfile\n"
				"z = zipfile.ZipFile(sys.argv[1])\n"
				"assert z.testzip() is None\n"
				"assert z.namelist() == [\"..a/b..c/.d\"]\n"),
			 0);
}

/* Calls out of order are the caller's bug; a failing sink is POS_ERR_IO
 * and the writer stays failed. */
static void test_order_and_errors(void **state)
{
	(void)state;
	struct pos_zipw *z = open_zip();
	assert_int_equal(pos_zipw_write(z, "x", 1), POS_ERR_INTERNAL);
	assert_int_equal(pos_zipw_finish(z), POS_ERR_IO);
	pos_zipw_free(z);
	close(out_fd);

	z = open_zip();
	assert_int_equal(pos_zipw_begin(z, "a", T_2025), POS_OK);
	assert_int_equal(pos_zipw_add(z, "b", "x", 1, T_2025), POS_ERR_INTERNAL);
	pos_zipw_free(z);
	close(out_fd);

	int fds[2];
	assert_int_equal(pipe(fds), 0);
	close(fds[0]);
	signal(SIGPIPE, SIG_IGN);
	int spool = pos_zipw_spool(fds[1]); /* a pipe: the spool goes to TMPDIR */
	assert_true(spool >= 0);
	assert_int_equal(pos_zipw_open(fd_write, &fds[1], spool, -1, &z), POS_OK);
	assert_int_equal(pos_zipw_add(z, "a", "x", 1, T_2025), POS_OK); /* gathered */
	assert_int_equal(pos_zipw_add(z, "b", noise, sizeof(noise), T_2025), POS_OK);
	/* the first full 64 KiB meets the closed pipe */
	enum pos_err rc = POS_OK;
	for (int i = 0; i < 100 && !rc; i++)
		rc = pos_zipw_add(z, "c", noise, sizeof(noise), T_2025);
	assert_int_equal(rc, POS_ERR_IO);
	assert_int_equal(pos_zipw_add(z, "d", "x", 1, T_2025), POS_ERR_IO);
	assert_int_equal(pos_zipw_finish(z), POS_ERR_IO);
	pos_zipw_free(z);
	close(fds[1]);

	/* a bad spool or level: nothing opened, the spool closed */
	assert_int_equal(pos_zipw_open(fd_write, &fds[1], -1, 6, &z), POS_ERR_INTERNAL);
	spool = pos_zipw_spool(-1);
	assert_true(spool >= 0);
	assert_int_equal(pos_zipw_open(fd_write, &fds[1], spool, 10, &z), POS_ERR_INTERNAL);
	assert_int_equal(fcntl(spool, F_GETFD), -1);
}

/* The spool has no name, and lives in the output's folder. */
static void test_spool_beside(void **state)
{
	(void)state;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	int spool = pos_zipw_spool(fd);
	assert_true(spool >= 0);
	struct stat st, ds;
	assert_int_equal(fstat(spool, &st), 0);
	assert_int_equal(st.st_nlink, 0);
	assert_int_equal(stat(dir, &ds), 0);
	assert_true(st.st_dev == ds.st_dev);
	char link[64], target[1024];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", spool);
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	char want[700];
	snprintf(want, sizeof(want), "%s/", dir);
	assert_true(strncmp(target, want, strlen(want)) == 0);
	close(spool);
	close(fd);
}

int main(void)
{
	setlocale(LC_ALL, "C.UTF-8"); /* libarchive's names in UTF-8 */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entries),        cmocka_unit_test(test_zip64_entries),
		cmocka_unit_test(test_names),          cmocka_unit_test(test_order_and_errors),
		cmocka_unit_test(test_spool_beside),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
