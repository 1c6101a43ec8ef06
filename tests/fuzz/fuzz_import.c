/*
 * fuzz_import.c — libFuzzer driver for the import readers
 * (src/export/reader.c, reader_zip.c): the first byte picks the format,
 * the rest is the uploaded file. Arbitrary bytes must never crash, read
 * out of bounds or leak; every item a reader gives must be a JSON value,
 * and a memory item must carry its key.
 *
 * Built and run for a few seconds by ctest (tests/CMakeLists.txt) when
 * clang is installed, seeded with tests/data/import/fuzz. For a longer run:
 *
 *   ./build/tests/fuzz_import -max_total_time=600 -max_len=70000 \
 *     /tmp/import-corpus tests/data/import/fuzz
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "export/reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	enum pos_import_format fmt = (enum pos_import_format)(data[0] % POS_IMPORT__COUNT);
	char path[] = "/tmp/fuzz_import.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return 0;
	if (write(fd, data + 1, size - 1) != (ssize_t)(size - 1)) {
		close(fd);
		unlink(path);
		return 0;
	}
	close(fd);
	struct pos_import_reader *r = NULL;
	struct pos_error err;
	pos_error_clear(&err);
	if (pos_import_reader_open(fmt, path, &r, &err) == POS_OK) {
		struct pos_import_item it;
		for (int i = 0; i < 10000 && pos_import_reader_next(r, &it, &err) == POS_OK; i++) {
			if (!it.data)
				abort();
			if (it.kind == POS_IMPORT_MEMORY &&
			    !json_is_string(json_object_get(it.data, "key")))
				abort();
			json_decref(it.data);
		}
		pos_import_reader_free(r);
	}
	unlink(path);
	return 0;
}
