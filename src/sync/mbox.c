/*
 * mbox.c — the `mbox` kind: one mbox file (messages separated by lines
 * starting with "From "), read with mmap.
 *
 * Config: {"path": file path (relative to the user's folder, sync/fsroot.h), "max_body_bytes"?: 1024..1048576}.
 * Cursor: {"offset": end of the last message processed, "size", "mtime",
 * "head": hash of the first min(4 KiB, offset) bytes, "tail": hash of the
 * min(4 KiB, offset) bytes before offset}.
 * When the file only grew (head and tail unchanged), only messages after
 * offset are read; otherwise the whole file is read again and messages no
 * longer in it are removed (complete). A malformed message is skipped and
 * reported as "message N (byte B)".
 */
#include "sync/mail.h"
#include "sync/mailfile.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define WINDOW 4096

static enum pos_err mbox_validate(const json_t *config, struct pos_error *err)
{
	size_t mb;
	if (!pos_mail_max_body(config, &mb))
		return pos_error_set(err, POS_ERR_INVALID_FIELD, "config.max_body_bytes",
				     "max_body_bytes must be an integer from %d to %d",
				     POS_MAIL_BODY_MIN, POS_MAIL_BODY_MAX);
	return pos_mailfile_check_path(config, err);
}

static void hash_hex(char out[33], const void *p, size_t n)
{
	unsigned char h[16];
	crypto_generichash(h, sizeof(h), p, n, NULL, 0);
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < sizeof(h); i++) {
		out[2 * i] = d[h[i] >> 4];
		out[2 * i + 1] = d[h[i] & 15];
	}
	out[32] = '\0';
}

/* Start of the next line beginning with "From " at or after p (a line start). */
static const char *next_from(const char *p, const char *end)
{
	while (p < end) {
		if (end - p >= 5 && memcmp(p, "From ", 5) == 0)
			return p;
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			return end;
		p = nl + 1;
	}
	return end;
}

static enum pos_err mbox_run(const json_t *config, const json_t *cursor, json_t **cursor_out,
			     const struct pos_sync_sink *sink, struct pos_error *err)
{
	const char *path = json_string_value(json_object_get(config, "path"));
	size_t max_body;
	pos_mail_max_body(config, &max_body);
	pos_mail_init();
	int fd;
	enum pos_err orc = pos_fsroot_open(sink->root, path, 0, &fd, err);
	if (orc)
		return orc;
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return pos_error_set(err, POS_ERR_UNAVAILABLE, "path", "%s is not a regular file",
				     path);
	}
	size_t size = (size_t)st.st_size;
	const char *data = ""; /* an empty file: no mapping, no NULL arithmetic */
	if (size) {
		void *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m == MAP_FAILED) {
			close(fd);
			return pos_error_set(err, POS_ERR_IO, "path", "cannot map %s", path);
		}
		data = m;
		madvise(m, size, MADV_SEQUENTIAL);
	}
	close(fd);
	char head[33] = "", tail[33];
	/* Where to start: the cursor's offset if the file only grew. */
	size_t start = 0;
	bool incremental = false;
	int64_t c_off = json_integer_value(json_object_get(cursor, "offset"));
	const char *c_head = json_string_value(json_object_get(cursor, "head"));
	const char *c_tail = json_string_value(json_object_get(cursor, "tail"));
	if (cursor && c_off > 0 && (size_t)c_off <= size && c_head && c_tail)
		hash_hex(head, data, (size_t)c_off < WINDOW ? (size_t)c_off : WINDOW);
	if (cursor && c_off > 0 && (size_t)c_off <= size && c_head && c_tail &&
	    strcmp(c_head, head) == 0) {
		size_t o = (size_t)c_off;
		size_t w = o < WINDOW ? o : WINDOW;
		char t[33];
		hash_hex(t, data + o - w, w);
		if (strcmp(t, c_tail) == 0 && (o == size || (size - o >= 5 &&
							     memcmp(data + o, "From ", 5) == 0))) {
			start = o;
			incremental = true;
		}
	}
	const char *end = data + size;
	/* count for progress */
	uint64_t total = 0;
	for (const char *p = next_from(data + start, end); p < end;) {
		total++;
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		p = nl ? next_from(nl + 1, end) : end;
	}
	enum pos_err rc = POS_OK;
	uint64_t done = 0, index = 0;
	/* messages before start count in positions */
	if (incremental)
		for (const char *p = next_from(data, data + start); p < data + start;) {
			index++;
			const char *nl = memchr(p, '\n', (size_t)(data + start - p));
			p = nl ? next_from(nl + 1, data + start) : data + start;
		}
	size_t processed = start;
	const char *p = next_from(data + start, end);
	if (!incremental && p > data + start) {
		/* bytes before the first "From " line: not an mbox message */
		char pos[64];
		snprintf(pos, sizeof(pos), "byte 0");
		bool blank = true;
		for (const char *q = data; q < p && blank; q++)
			blank = *q == '\n' || *q == '\r' || *q == ' ' || *q == '\t';
		if (!blank)
			sink->skip(sink->ctx, pos, "text before the first \"From \" line");
	}
	while (p < end && !rc) {
		if (sink->cancelled(sink->ctx)) {
			rc = pos_error_set(err, POS_ERR_UNAVAILABLE, NULL, "sync cancelled");
			break;
		}
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *body = nl ? nl + 1 : end;
		const char *next = next_from(body, end);
		index++;
		struct pos_mail m;
		char reason[128];
		if (pos_mail_parse(body, (size_t)(next - body), max_body, NULL, &m, reason,
				   sizeof(reason))) {
			struct pos_error e;
			pos_error_clear(&e);
			enum pos_err urc = sink->upsert(sink->ctx, &m.item, &e);
			pos_mail_free(&m);
			if (urc && urc != POS_ERR_INVALID_FIELD) {
				if (err)
					*err = e;
				rc = urc;
				break;
			}
		} else {
			char pos[64];
			snprintf(pos, sizeof(pos), "message %llu (byte %zu)",
				 (unsigned long long)index, (size_t)(p - data));
			sink->skip(sink->ctx, pos, reason);
		}
		processed = (size_t)(next - data);
		sink->progress(sink->ctx, ++done, total);
		p = next;
	}
	if (!rc) {
		size_t w = processed < WINDOW ? processed : WINDOW;
		hash_hex(tail, data + processed - w, w);
		hash_hex(head, data, w); /* the first min(4 KiB, offset) bytes */
		*cursor_out = json_pack("{s:I,s:I,s:I,s:s,s:s}", "offset", (json_int_t)processed,
					"size", (json_int_t)size, "mtime",
					(json_int_t)st.st_mtim.tv_sec, "head", head, "tail", tail);
		if (!incremental)
			sink->complete(sink->ctx);
	}
	if (size)
		munmap((void *)data, size);
	return rc;
}

static const char *const no_secrets[] = {NULL};

const struct pos_sync_adapter pos_sync_mbox = {
	.kind = "mbox",
	.files = true,
	.secret_keys = no_secrets,
	.validate = mbox_validate,
	.run = mbox_run,
};
