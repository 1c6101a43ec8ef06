/*
 * multipart.c — the file part of a multipart/form-data body (multipart.h),
 * found by scanning the body in windows for the delimiter.
 */
#include "files/multipart.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#define WINDOW 65536

bool pos_multipart_boundary(const char *ct, char out[72])
{
	if (!ct || strncasecmp(ct, "multipart/form-data", 19) != 0)
		return false;
	const char *p = ct + 19;
	while (*p) {
		while (*p == ';' || *p == ' ' || *p == '\t')
			p++;
		if (strncasecmp(p, "boundary=", 9) == 0) {
			p += 9;
			size_t n = 0;
			bool quoted = *p == '"';
			if (quoted)
				p++;
			while (p[n] && (quoted ? p[n] != '"' : (p[n] != ';' && p[n] != ' ')))
				n++;
			if (n == 0 || n > 70 || (quoted && p[n] != '"'))
				return false;
			for (size_t i = 0; i < n; i++)
				if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] > 0x7e)
					return false;
			memcpy(out, p, n);
			out[n] = '\0';
			return true;
		}
		while (*p && *p != ';')
			p++;
	}
	return false;
}

/* The offset of the first `needle` at or after `from`, or -1. */
static int64_t find(pos_multipart_read_fn rd, void *ctx, uint64_t len, uint64_t from,
		    const char *needle, size_t nl)
{
	static _Thread_local char buf[WINDOW];
	while (from + nl <= len) {
		size_t want = len - from < WINDOW ? (size_t)(len - from) : WINDOW;
		long got = rd(ctx, from, buf, want);
		if (got <= 0)
			return -1;
		if ((size_t)got < nl)
			return -1;
		const char *hit = memmem(buf, (size_t)got, needle, nl);
		if (hit)
			return (int64_t)(from + (uint64_t)(hit - buf));
		from += (uint64_t)got - nl + 1;
	}
	return -1;
}

/* The value of parameter `key` (filename, name) in a Content-Disposition
 * header line into out; false when absent. */
static bool disp_param(const char *line, size_t n, const char *key, char *out, size_t cap)
{
	size_t kl = strlen(key);
	for (size_t i = 0; i + kl + 1 < n; i++) {
		if ((i == 0 || line[i - 1] == ';' || line[i - 1] == ' ') &&
		    strncasecmp(line + i, key, kl) == 0 && line[i + kl] == '=') {
			size_t j = i + kl + 1, o = 0;
			bool quoted = j < n && line[j] == '"';
			if (quoted)
				j++;
			for (; j < n; j++) {
				char c = line[j];
				if (quoted ? c == '"' : (c == ';' || c == ' '))
					break;
				if (quoted && c == '\\' && j + 1 < n)
					c = line[++j];
				if (o + 1 < cap)
					out[o++] = c;
			}
			if (cap)
				out[o] = '\0';
			return true;
		}
	}
	return false;
}

enum pos_err pos_multipart_file(pos_multipart_read_fn rd, void *ctx, uint64_t len,
				const char *boundary, uint64_t *off, uint64_t *n, char *name,
				size_t name_cap, struct pos_error *err)
{
	char delim[80];
	size_t bl = strlen(boundary);
	if (bl == 0 || bl > 70)
		return pos_error_set(err, POS_ERR_INVALID_REQUEST, NULL, "bad multipart boundary");
	/* "\r\n--boundary"; the first one may come without the CRLF */
	delim[0] = '\r';
	delim[1] = '\n';
	delim[2] = delim[3] = '-';
	memcpy(delim + 4, boundary, bl);
	size_t dl = bl + 4;
	int64_t at = find(rd, ctx, len, 0, delim + 2, dl - 2);
	if (at < 0)
		goto bad;
	uint64_t pos = (uint64_t)at + dl - 2;
	char hdr[POS_MULTIPART_HEADERS_MAX + 1];
	for (unsigned part = 0; part < POS_MULTIPART_PARTS; part++) {
		/* after a delimiter: "--" ends the body, else a line break */
		size_t want = len - pos < POS_MULTIPART_HEADERS_MAX ? (size_t)(len - pos)
								  : POS_MULTIPART_HEADERS_MAX;
		long got = want ? rd(ctx, pos, hdr, want) : 0;
		if (got < 2 || (hdr[0] == '-' && hdr[1] == '-'))
			goto bad;
		hdr[got] = '\0';
		size_t skip = hdr[0] == '\r' && hdr[1] == '\n' ? 2 : hdr[0] == '\n' ? 1 : 0;
		if (!skip)
			goto bad;
		const char *end = memmem(hdr + skip, (size_t)got - skip, "\r\n\r\n", 4);
		size_t end_len = 4;
		if (!end && skip == 2 && got >= 4 && memcmp(hdr + 2, "\r\n", 2) == 0) {
			end = hdr + 0; /* no headers at all */
		}
		if (!end)
			goto bad;
		size_t hlen = (size_t)(end - hdr);
		uint64_t body = pos + hlen + end_len;
		/* the part's headers: look for Content-Disposition's filename */
		bool has_file = false;
		const char *line = hdr + skip;
		while (line < hdr + hlen) {
			const char *eol = memmem(line, (size_t)(hdr + hlen - line), "\r\n", 2);
			size_t ll = eol ? (size_t)(eol - line) : (size_t)(hdr + hlen - line);
			if (ll > 20 && strncasecmp(line, "content-disposition:", 20) == 0 &&
			    disp_param(line + 20, ll - 20, "filename", name, name_cap))
				has_file = true;
			line += ll + 2;
		}
		/* a delimiter is followed by "--", a line break or padding;
		 * "\r\n--XyZx" in the content is no delimiter of "XyZ" */
		int64_t next = body;
		for (;;) {
			next = find(rd, ctx, len, (uint64_t)next, delim, dl);
			if (next < 0)
				goto bad;
			char after[2] = {0, 0};
			long ag = rd(ctx, (uint64_t)next + dl, after, 2);
			if (ag >= 1 && (after[0] == '\r' || after[0] == '\n' || after[0] == ' ' ||
					after[0] == '\t' || (ag == 2 && after[0] == '-' && after[1] == '-')))
				break;
			next++;
		}
		if (has_file) {
			*off = body;
			*n = (uint64_t)next - body;
			return POS_OK;
		}
		pos = (uint64_t)next + dl;
	}
bad:
	return pos_error_set(err, POS_ERR_INVALID_REQUEST, NULL,
			     "the multipart body has no readable file part");
}
