/*
 * mail.c — one RFC 822 message into a sync item with GMime 3 (see mail.h).
 */
#include "sync/mail.h"

#include <gmime/gmime.h>
#include <sodium.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"

void pos_mail_init(void)
{
	/* g_mime_init counts its calls and does the work once. */
	g_mime_init();
}

bool pos_mail_max_body(const json_t *config, size_t *out)
{
	const json_t *v = json_object_get(config, "max_body_bytes");
	*out = POS_MAIL_BODY_DEFAULT;
	if (!v || json_is_null(v))
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < POS_MAIL_BODY_MIN ||
	    json_integer_value(v) > POS_MAIL_BODY_MAX)
		return false;
	*out = (size_t)json_integer_value(v);
	return true;
}

/* ---- HTML to text ---- */

static bool tag_is(const char *name, size_t n, const char *want)
{
	return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

static void put_utf8(struct pos_buf *b, unsigned long cp)
{
	char u[4];
	size_t n;
	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		cp = 0xfffd;
	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | cp >> 18);
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	pos_buf_add(b, u, n);
}

/* Decodes the entity at s (after '&'); returns bytes consumed or 0. */
static size_t entity(const char *s, size_t n, struct pos_buf *b)
{
	static const struct {
		const char *name;
		unsigned long cp;
	} named[] = {
		{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''},
		{"nbsp", ' '}, {"copy", 0xa9}, {"reg", 0xae}, {"hellip", 0x2026},
		{"mdash", 0x2014}, {"ndash", 0x2013}, {"rsquo", 0x2019}, {"lsquo", 0x2018},
		{"rdquo", 0x201d}, {"ldquo", 0x201c}, {"euro", 0x20ac}, {"bull", 0x2022},
	};
	size_t end = 0;
	while (end < n && end < 12 && s[end] != ';')
		end++;
	if (end >= n || s[end] != ';' || end == 0)
		return 0;
	if (s[0] == '#') {
		unsigned long cp = 0;
		bool hex = end > 1 && (s[1] == 'x' || s[1] == 'X');
		size_t i = hex ? 2 : 1;
		if (i >= end)
			return 0;
		for (; i < end; i++) {
			int d = hex ? pos_hexval(s[i]) : (s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : -1);
			if (d < 0 || cp > 0x10ffff)
				return 0;
			cp = cp * (hex ? 16 : 10) + (unsigned long)d;
		}
		put_utf8(b, cp);
		return end + 1;
	}
	for (size_t k = 0; k < sizeof(named) / sizeof(named[0]); k++)
		if (strlen(named[k].name) == end && strncmp(s, named[k].name, end) == 0) {
			put_utf8(b, named[k].cp);
			return end + 1;
		}
	return 0;
}

char *pos_html_to_text(const char *h, size_t n, size_t *out_len)
{
	struct pos_buf b;
	pos_buf_init(&b, n + 16);
	bool space = true;   /* last output was whitespace */
	int newlines = 2;    /* trailing newlines in output */
	for (size_t i = 0; i < n;) {
		char c = h[i];
		if (c == '<') {
			/* comment */
			if (n - i >= 4 && strncmp(h + i, "<!--", 4) == 0) {
				const char *e = memmem(h + i + 4, n - i - 4, "-->", 3);
				i = e ? (size_t)(e - h) + 3 : n;
				continue;
			}
			size_t j = i + 1;
			bool closing = j < n && h[j] == '/';
			if (closing)
				j++;
			size_t ns = j;
			while (j < n && ((h[j] >= 'a' && h[j] <= 'z') || (h[j] >= 'A' && h[j] <= 'Z') ||
					 (h[j] >= '0' && h[j] <= '9')))
				j++;
			const char *name = h + ns;
			size_t nl = j - ns;
			const char *gt = memchr(h + j, '>', n - j);
			size_t after = gt ? (size_t)(gt - h) + 1 : n;
			if (!closing && (tag_is(name, nl, "script") || tag_is(name, nl, "style") ||
					 tag_is(name, nl, "head") || tag_is(name, nl, "title"))) {
				/* skip to the matching close tag */
				char close[16];
				snprintf(close, sizeof(close), "</%.*s", (int)nl, name);
				size_t k = after;
				size_t cl = strlen(close);
				while (k + cl <= n && strncasecmp(h + k, close, cl) != 0)
					k++;
				const char *g2 = k < n ? memchr(h + k, '>', n - k) : NULL;
				i = g2 ? (size_t)(g2 - h) + 1 : n;
				continue;
			}
			bool block = tag_is(name, nl, "br") || tag_is(name, nl, "p") ||
				     tag_is(name, nl, "div") || tag_is(name, nl, "tr") ||
				     tag_is(name, nl, "li") || tag_is(name, nl, "h1") ||
				     tag_is(name, nl, "h2") || tag_is(name, nl, "h3") ||
				     tag_is(name, nl, "h4") || tag_is(name, nl, "table") ||
				     tag_is(name, nl, "ul") || tag_is(name, nl, "ol") ||
				     tag_is(name, nl, "blockquote") || tag_is(name, nl, "hr");
			bool para = tag_is(name, nl, "p") || tag_is(name, nl, "table") ||
				    (nl == 2 && (name[0] == 'h' || name[0] == 'H'));
			if (block && (closing || tag_is(name, nl, "br") || !para || newlines < 2)) {
				int want = para ? 2 : 1;
				while (newlines < want) {
					pos_buf_addc(&b, '\n');
					newlines++;
				}
				space = true;
			} else if (tag_is(name, nl, "td") || tag_is(name, nl, "th")) {
				if (!space) {
					pos_buf_addc(&b, ' ');
					space = true;
				}
			}
			i = after;
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f') {
			if (!space) {
				pos_buf_addc(&b, ' ');
				space = true;
			}
			i++;
			continue;
		}
		if (c == '&') {
			size_t used = entity(h + i + 1, n - i - 1, &b);
			if (used) {
				i += used + 1;
				space = false;
				newlines = 0;
				continue;
			}
		}
		pos_buf_addc(&b, c);
		space = false;
		newlines = 0;
		i++;
	}
	/* trim: spaces before newlines and at the ends */
	size_t k = 0;
	char *d = b.data ? b.data : NULL;
	size_t len = b.len;
	for (size_t i = 0; d && i < len; i++) {
		if (d[i] == ' ' && (i + 1 == len || d[i + 1] == '\n'))
			continue;
		if (d[i] == ' ' && k > 0 && d[k - 1] == '\n')
			continue;
		d[k++] = d[i];
	}
	size_t start = 0;
	while (start < k && (d[start] == '\n' || d[start] == ' '))
		start++;
	while (k > start && (d[k - 1] == '\n' || d[k - 1] == ' '))
		k--;
	char *out = malloc(k - start + 1);
	if (out) {
		if (k > start)
			memcpy(out, d + start, k - start);
		out[k - start] = '\0';
		*out_len = k - start;
	}
	pos_buf_free(&b);
	return out;
}

/* ---- the body ---- */

struct body_find {
	GMimeObject *plain, *html;
};

static void walk(GMimeObject *o, struct body_find *f, int depth)
{
	if (!o || depth > 32)
		return;
	if (GMIME_IS_MULTIPART(o)) {
		GMimeMultipart *mp = GMIME_MULTIPART(o);
		int n = g_mime_multipart_get_count(mp);
		for (int i = 0; i < n; i++)
			walk(g_mime_multipart_get_part(mp, i), f, depth + 1);
		return;
	}
	if (!GMIME_IS_TEXT_PART(o))
		return;
	GMimeContentDisposition *disp = g_mime_object_get_content_disposition(o);
	if (disp && g_mime_content_disposition_is_attachment(disp))
		return;
	GMimeContentType *ct = g_mime_object_get_content_type(o);
	if (!ct)
		return;
	if (!f->plain && g_mime_content_type_is_type(ct, "text", "plain"))
		f->plain = o;
	else if (!f->html && g_mime_content_type_is_type(ct, "text", "html"))
		f->html = o;
}

static void walk_files(GMimeObject *o, const struct body_find *body, struct pos_mail *out,
		       int depth);

/* The body as UTF-8 text (malloc'd), "" when the message has none; the
 * attachments into files_out->files. */
static char *body_text(GMimeMessage *msg, size_t *len, struct pos_mail *files_out)
{
	struct body_find f = {NULL, NULL};
	walk(g_mime_message_get_mime_part(msg), &f, 0);
	walk_files(g_mime_message_get_mime_part(msg), &f, files_out, 0);
	GMimeObject *pick = f.plain ? f.plain : f.html;
	char *txt = pick ? g_mime_text_part_get_text(GMIME_TEXT_PART(pick)) : NULL;
	char *out;
	if (!txt) {
		out = strdup("");
		*len = 0;
		return out;
	}
	size_t n = strlen(txt);
	if (!f.plain) {
		out = pos_html_to_text(txt, n, len);
		g_free(txt);
		return out;
	}
	/* CRLF to LF, trailing blank lines dropped */
	out = malloc(n + 1);
	size_t k = 0;
	for (size_t i = 0; out && i < n; i++)
		if (!(txt[i] == '\r' && i + 1 < n && txt[i + 1] == '\n'))
			out[k++] = txt[i];
	while (out && k && (out[k - 1] == '\n' || out[k - 1] == ' ' || out[k - 1] == '\r'))
		k--;
	if (out)
		out[k] = '\0';
	*len = k;
	g_free(txt);
	return out;
}

/* ---- the attachments ---- */

/* Adds part `o` to out->files when it is an attachment: a leaf part with
 * an attachment disposition, or a file name, that is not the body. */
static void take_file(GMimeObject *o, const struct body_find *body, struct pos_mail *out)
{
	if (out->n_files >= POS_SYNC_FILES_MAX || !GMIME_IS_PART(o) || o == body->plain ||
	    o == body->html)
		return;
	GMimePart *part = GMIME_PART(o);
	GMimeContentDisposition *disp = g_mime_object_get_content_disposition(o);
	const char *fname = g_mime_part_get_filename(part);
	bool attached = disp && g_mime_content_disposition_is_attachment(disp);
	if (!attached && !(fname && *fname))
		return;
	GMimeDataWrapper *w = g_mime_part_get_content(part);
	if (!w)
		return;
	GMimeStream *ms = g_mime_stream_mem_new();
	if (!ms)
		return;
	if (g_mime_data_wrapper_write_to_stream(w, ms) < 0) {
		g_object_unref(ms);
		return;
	}
	GByteArray *ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(ms));
	size_t n = ba ? ba->len : 0;
	char *name = strdup(fname && *fname && g_utf8_validate(fname, -1, NULL) ? fname
										 : "attachment");
	void *data = malloc(n ? n : 1);
	if (!name || !data) {
		free(name);
		free(data);
		g_object_unref(ms);
		return;
	}
	if (n)
		memcpy(data, ba->data, n);
	g_object_unref(ms);
	struct pos_sync_file *f = &out->files[out->n_files++];
	f->name = name;
	f->data = data;
	f->len = n;
}

#define FORWARD_NAME_MAX 120 /* bytes of a forwarded message's name before ".eml" */

/* The name a forwarded message is kept under (malloc'd): the part's file
 * name, else the inner subject, else "forwarded"; no path separators, at
 * most FORWARD_NAME_MAX bytes (cut at a UTF-8 boundary), ending ".eml". */
static char *forward_name(GMimeObject *o, GMimeMessage *inner)
{
	const char *n = g_mime_object_get_content_disposition_parameter(o, "filename");
	if (!n || !*n)
		n = g_mime_object_get_content_type_parameter(o, "name");
	if (!n || !*n)
		n = g_mime_message_get_subject(inner);
	if (!n || !*n || !g_utf8_validate(n, -1, NULL))
		n = "forwarded";
	size_t len = strlen(n);
	if (len > 4 && strcasecmp(n + len - 4, ".eml") == 0)
		len -= 4;
	if (len > FORWARD_NAME_MAX) {
		len = FORWARD_NAME_MAX;
		while (len && ((unsigned char)n[len] & 0xC0) == 0x80)
			len--;
	}
	char *out = malloc(len + 5);
	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++)
		out[i] = n[i] == '/' || n[i] == '\\' ? '_' : n[i];
	memcpy(out + len, ".eml", 5);
	if (strcasecmp(out, "message.eml") == 0) { /* the original's name */
		free(out);
		out = strdup("forwarded.eml");
	}
	return out;
}

/* Adds a forwarded message (a message/rfc822 part, attached or inline) to
 * out->files whole, as written in the mail. */
static void take_message(GMimeObject *o, struct pos_mail *out)
{
	if (out->n_files >= POS_SYNC_FILES_MAX)
		return;
	GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));
	if (!inner)
		return;
	GMimeStream *ms = g_mime_stream_mem_new();
	if (!ms)
		return;
	if (g_mime_object_write_to_stream(GMIME_OBJECT(inner), NULL, ms) < 0) {
		g_object_unref(ms);
		return;
	}
	GByteArray *ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(ms));
	size_t n = ba ? ba->len : 0;
	char *name = forward_name(o, inner);
	void *data = malloc(n ? n : 1);
	if (!name || !data || n == 0) {
		free(name);
		free(data);
		g_object_unref(ms);
		return;
	}
	memcpy(data, ba->data, n);
	g_object_unref(ms);
	out->forwarded[out->n_files] = true;
	struct pos_sync_file *f = &out->files[out->n_files++];
	f->name = name;
	f->data = data;
	f->len = n;
}

static void walk_files(GMimeObject *o, const struct body_find *body, struct pos_mail *out,
		       int depth)
{
	if (!o || depth > 32)
		return;
	if (GMIME_IS_MESSAGE_PART(o)) {
		take_message(o, out);
		return;
	}
	if (GMIME_IS_MULTIPART(o)) {
		GMimeMultipart *mp = GMIME_MULTIPART(o);
		int n = g_mime_multipart_get_count(mp);
		for (int i = 0; i < n; i++)
			walk_files(g_mime_multipart_get_part(mp, i), body, out, depth + 1);
		return;
	}
	take_file(o, body, out);
}

static void hex(char *out, const unsigned char *h, size_t n)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[h[i] >> 4];
		out[2 * i + 1] = d[h[i] & 15];
	}
	out[2 * n] = '\0';
}

static bool has_header(GMimeMessage *msg, const char *name)
{
	const char *v = g_mime_object_get_header(GMIME_OBJECT(msg), name);
	return v && *v;
}

bool pos_mail_parse(const char *raw, size_t len, size_t max_body, const json_t *extra,
		    struct pos_mail *out, char *reason, size_t reason_len)
{
	memset(out, 0, sizeof(*out));
	size_t lead = 0;
	while (lead < len && (raw[lead] == '\n' || raw[lead] == '\r' || raw[lead] == ' '))
		lead++;
	if (lead == len) {
		snprintf(reason, reason_len, "empty message");
		return false;
	}
	if (len > POS_MAIL_MESSAGE_MAX) {
		snprintf(reason, reason_len, "message larger than 64 MiB");
		return false;
	}
	GMimeStream *stream = g_mime_stream_mem_new_with_buffer(raw, len);
	GMimeParser *parser = g_mime_parser_new_with_stream(stream);
	g_object_unref(stream);
	GMimeMessage *msg = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	if (!msg) {
		snprintf(reason, reason_len, "not an RFC 822 message");
		return false;
	}
	if (!has_header(msg, "From") && !has_header(msg, "Subject") && !has_header(msg, "Date") &&
	    !has_header(msg, "Message-ID")) {
		g_object_unref(msg);
		snprintf(reason, reason_len, "no From, Subject, Date or Message-ID header");
		return false;
	}
	unsigned char h[16];
	crypto_generichash(h, sizeof(h), (const unsigned char *)raw, len, NULL, 0);
	char hx[33];
	hex(hx, h, sizeof(h));
	out->version = strdup(hx);
	const char *mid = g_mime_message_get_message_id(msg);
	if (mid && *mid && strlen(mid) < 900) {
		out->external_id = strdup(mid);
	} else {
		char buf[40];
		snprintf(buf, sizeof(buf), "hash:%s", hx);
		out->external_id = strdup(buf);
	}
	/* From, Subject, Date */
	InternetAddressList *from = g_mime_message_get_from(msg);
	char *from_s = from && internet_address_list_length(from) > 0
		? internet_address_list_to_string(from, NULL, FALSE) : NULL;
	const char *sender = NULL;
	if (from && internet_address_list_length(from) > 0) {
		InternetAddress *ia = internet_address_list_get_address(from, 0);
		if (INTERNET_ADDRESS_IS_MAILBOX(ia))
			sender = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
	}
	const char *subject = g_mime_message_get_subject(msg);
	GDateTime *dt = g_mime_message_get_date(msg);
	char *date_s = dt ? g_date_time_format(dt, "%a, %d %b %Y %H:%M:%S %z") : NULL;
	if (dt)
		out->item.created_at_us = (int64_t)g_date_time_to_unix(dt) * 1000000 +
					  g_date_time_get_microsecond(dt);
	/* thread: the first of References, else In-Reply-To, else itself */
	char *thread = NULL;
	const char *refs_h = g_mime_object_get_header(GMIME_OBJECT(msg), "References");
	if (!refs_h || !*refs_h)
		refs_h = g_mime_object_get_header(GMIME_OBJECT(msg), "In-Reply-To");
	if (refs_h && *refs_h) {
		GMimeReferences *refs = g_mime_references_parse(NULL, refs_h);
		if (refs && g_mime_references_length(refs) > 0)
			thread = strdup(g_mime_references_get_message_id(refs, 0));
		if (refs)
			g_mime_references_free(refs);
	}
	if (!thread)
		thread = strdup(out->external_id);
	/* body */
	size_t blen = 0;
	char *body = body_text(msg, &blen, out);
	size_t keep = pos_utf8_cut(body ? body : "", blen, max_body);
	bool cut = keep < blen;
	struct pos_buf c;
	pos_buf_init(&c, max_body + 64 * 1024);
	pos_buf_addf(&c, "From: %s\n", from_s ? from_s : "(unknown)");
	pos_buf_addf(&c, "Subject: %s\n", subject ? subject : "(no subject)");
	if (date_s)
		pos_buf_addf(&c, "Date: %s\n", date_s);
	pos_buf_addc(&c, '\n');
	if (body)
		pos_buf_add(&c, body, keep);
	if (cut)
		pos_buf_adds(&c, "\n[…]");
	out->content = pos_buf_detach(&c, NULL);
	/* metadata */
	out->metadata = json_object();
	json_object_set_new(out->metadata, "email_id", json_string(out->external_id));
	json_object_set_new(out->metadata, "sender", sender && g_utf8_validate(sender, -1, NULL)
				? json_string(sender) : json_null());
	json_object_set_new(out->metadata, "subject",
			    subject && g_utf8_validate(subject, -1, NULL) ? json_string(subject)
									 : json_null());
	json_object_set_new(out->metadata, "thread", json_string(thread));
	if (cut)
		json_object_set_new(out->metadata, "body_truncated", json_true());
	if (extra)
		json_object_update(out->metadata, (json_t *)extra);
	free(thread);
	free(body);
	g_free(from_s);
	g_free(date_s);
	g_object_unref(msg);
	if (!out->content || !out->external_id || !out->version || !out->metadata) {
		pos_mail_free(out);
		snprintf(reason, reason_len, "out of memory");
		return false;
	}
	out->raw = raw;
	out->raw_len = len;
	struct pos_sync_item *it = &out->item;
	it->external_id = out->external_id;
	it->type = "email";
	it->content = out->content;
	it->content_len = strlen(out->content);
	it->metadata = out->metadata;
	it->version = out->version;
	if (cut) {
		it->attachment = raw;
		it->attachment_len = len;
		it->attachment_type = "message/rfc822";
	}
	it->files = out->files;
	it->n_files = out->n_files;
	return true;
}

void pos_mail_free(struct pos_mail *m)
{
	for (size_t i = 0; i < m->n_files; i++) {
		free((char *)m->files[i].name);
		free((void *)m->files[i].data);
	}
	free(m->external_id);
	free(m->content);
	free(m->version);
	json_decref(m->metadata);
	memset(m, 0, sizeof(*m));
}
