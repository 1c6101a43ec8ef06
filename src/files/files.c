/*
 * files.c — the files service (files.h): attach, open, delete and collect,
 * the type allow-list, and keeping a memory's `attachments` in step with
 * its attachment rows.
 */
#include "files/files.h"

#include <magic.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/mman.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/uuid.h"
#include "crypto/crypto.h"
#include "crypto/keyring.h"
#include "files/extract.h"
#include "files/thumb.h"
#include "jobs/jobs.h"
#include "memory/memory.h"
#include "store/crypt_store.h"

#define SNIFF_BYTES 65536

enum pos_err pos_files_init(struct pos_files *f, const struct pos_config *cfg,
			    struct pos_store *store, struct pos_memsvc *mem, struct pos_error *err)
{
	memset(f, 0, sizeof(*f));
	f->cfg = cfg;
	f->store = store;
	f->mem = mem;
	enum pos_err rc = pos_blobs_init(&f->blobs, cfg->data_dir, err);
	if (rc)
		return rc;
	pthread_mutex_init(&f->mu, NULL);
	pthread_mutex_init(&f->magic_mu, NULL);
	pthread_mutex_init(&f->text_mu, NULL);
	magic_t m = magic_open(MAGIC_MIME_TYPE | MAGIC_NO_CHECK_COMPRESS);
	if (m && magic_load(m, NULL) != 0) {
		pos_warn("files: libmagic cannot load its database: %s", magic_error(m));
		magic_close(m);
		m = NULL;
	}
	f->magic = m;
	f->inited = true;
	return POS_OK;
}

void pos_files_free(struct pos_files *f)
{
	if (!f || !f->inited)
		return;
	if (f->magic)
		magic_close((magic_t)f->magic);
	pthread_mutex_destroy(&f->mu);
	pthread_mutex_destroy(&f->magic_mu);
	pthread_mutex_destroy(&f->text_mu);
	f->inited = false;
}

void pos_files_clean_name(const char *in, char out[POS_FILE_NAME_MAX + 1])
{
	const char *base = in ? in : "";
	for (const char *p = base; *p; p++)
		if (*p == '/' || *p == '\\')
			base = p + 1;
	size_t n = 0;
	for (const char *p = base; *p && n < POS_FILE_NAME_MAX; p++) {
		unsigned char c = (unsigned char)*p;
		out[n++] = (c < 0x20 || c == 0x7f || c == '"' || c == ';') ? '_' : (char)c;
	}
	/* never end inside a UTF-8 sequence cut by the length cap */
	while (n > 0 && ((unsigned char)out[n - 1] & 0xC0) == 0x80 && strlen(base) > n) {
		size_t k = n;
		while (k > 0 && ((unsigned char)out[k - 1] & 0xC0) == 0x80)
			k--;
		if (k > 0)
			k--; /* the lead byte */
		n = k;
		break;
	}
	out[n] = '\0';
	if (n == 0 || strcmp(out, ".") == 0 || strcmp(out, "..") == 0)
		snprintf(out, POS_FILE_NAME_MAX + 1, "file");
}

const char *pos_files_safe_type(const char *mime)
{
	static const char *const safe[] = {
		"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "image/tiff",
		"application/pdf", "message/rfc822", "audio/mpeg", "audio/ogg", "audio/wav",
		"audio/x-wav", "audio/flac", "video/mp4", "video/webm", "video/ogg",
	};
	if (!mime)
		return "application/octet-stream";
	for (size_t i = 0; i < sizeof(safe) / sizeof(safe[0]); i++)
		if (strcmp(mime, safe[i]) == 0)
			return safe[i];
	if (strcmp(mime, "text/plain") == 0 || strcmp(mime, "text/csv") == 0 ||
	    strcmp(mime, "text/markdown") == 0)
		return "text/plain; charset=utf-8";
	return "application/octet-stream";
}

/* The sniffed type of the first bytes of the file (lower-case, static or
 * arena storage). */
static const char *sniff(struct pos_files *f, struct pos_arena *a, int fd, uint64_t off,
			 uint64_t len, const char *name)
{
	size_t n = len < SNIFF_BYTES ? (size_t)len : SNIFF_BYTES;
	const char *type = "application/octet-stream";
	if (n == 0)
		return "application/x-empty";
	char *buf = pos_arena_alloc(a, n);
	if (!buf)
		return type;
	ssize_t got = pread(fd, buf, n, (off_t)off);
	if (got <= 0 || !f->magic)
		return type;
	pthread_mutex_lock(&f->magic_mu);
	const char *m = magic_buffer((magic_t)f->magic, buf, (size_t)got);
	if (m)
		type = pos_arena_strdup(a, m);
	pthread_mutex_unlock(&f->magic_mu);
	if (!type)
		return "application/octet-stream";
	/* libmagic calls Markdown and CSV text/plain; the name refines text
	 * only, never turns bytes into a riskier type */
	const char *dot = name ? strrchr(name, '.') : NULL;
	if (dot && strcmp(type, "text/plain") == 0) {
		if (!strcasecmp(dot, ".md") || !strcasecmp(dot, ".markdown"))
			type = "text/markdown";
		else if (!strcasecmp(dot, ".csv"))
			type = "text/csv";
		else if (!strcasecmp(dot, ".eml"))
			type = "message/rfc822";
	}
	return type;
}

/* The user's blob key when their data is sealed (*key set to &kbuf). */
static enum pos_err blob_key_for(struct pos_files *f, const char *user_id,
				 struct pos_blob_key *kbuf, const struct pos_blob_key **key)
{
	struct pos_userkeys uk;
	bool sealed = false;
	*key = NULL;
	enum pos_err rc = pos_crypt_store_user_keys(f->store, user_id, &uk, &sealed);
	if (rc)
		return rc;
	if (sealed) {
		pos_blob_key_derive(&uk, kbuf);
		*key = kbuf;
	}
	pos_wipe(&uk, sizeof(uk));
	return POS_OK;
}

/* ---- names and types of an encrypted user's attachments ----------------
 * Stored as "sealed:" + base64url(pos_seal(...)) under the blob key, with
 * the attachment id and the field as associated data, so the database holds
 * no file name of an encrypted user. */

#define SEALED_PREFIX "sealed:"

static const char *seal_str(struct pos_arena *a, const struct pos_blob_key *k, const char *id,
			    const char *field, const char *v)
{
	char ad[64];
	int adl = snprintf(ad, sizeof(ad), "a|%s|%s", id, field);
	size_t n = strlen(v), sl = n + POS_SEAL_OVERHEAD;
	uint8_t *sealed = pos_arena_alloc(a, sl);
	char *out = pos_arena_alloc(a, sizeof(SEALED_PREFIX) + pos_b64_len(sl) + 1);
	if (!sealed || !out)
		return NULL;
	pos_seal(k->enc, ad, (size_t)adl, v, n, sealed);
	memcpy(out, SEALED_PREFIX, sizeof(SEALED_PREFIX) - 1);
	pos_b64_encode(out + sizeof(SEALED_PREFIX) - 1, pos_b64_len(sl) + 1, sealed, sl);
	return out;
}

static const char *open_str(struct pos_arena *a, const struct pos_blob_key *k, const char *id,
			    const char *field, const char *v)
{
	size_t pl = sizeof(SEALED_PREFIX) - 1;
	if (!v || strncmp(v, SEALED_PREFIX, pl) != 0)
		return v; /* stored before encryption was on */
	const char *b64 = v + pl;
	size_t bl = strlen(b64);
	uint8_t *raw = pos_arena_alloc(a, bl + 1);
	if (!raw)
		return NULL;
	long rl = pos_b64_decode(raw, bl + 1, b64, bl);
	if (rl < (long)POS_SEAL_OVERHEAD)
		return NULL;
	char ad[64];
	int adl = snprintf(ad, sizeof(ad), "a|%s|%s", id, field);
	char *out = pos_arena_alloc(a, (size_t)rl - POS_SEAL_OVERHEAD + 1);
	if (!out || pos_unseal(k->enc, ad, (size_t)adl, raw, (size_t)rl, (uint8_t *)out))
		return NULL;
	out[(size_t)rl - POS_SEAL_OVERHEAD] = '\0';
	return out;
}

/* Opens the name and type of a sealed attachment in place (the owner's
 * key): POS_ERR_LOCKED when it is not unlocked, POS_ERR_DECRYPT. */
static enum pos_err open_att(struct pos_files *f, struct pos_arena *a, struct pos_attachment *at)
{
	if (!at->sealed)
		return POS_OK;
	struct pos_blob_key kbuf;
	const struct pos_blob_key *key = NULL;
	enum pos_err rc = blob_key_for(f, at->user_id, &kbuf, &key);
	if (!rc && !key)
		rc = POS_ERR_DECRYPT;
	if (!rc) {
		const char *name = open_str(a, key, at->id, "name", at->name);
		const char *mime = open_str(a, key, at->id, "mime", at->mime);
		if (!name || !mime)
			rc = POS_ERR_DECRYPT;
		else {
			at->name = name;
			at->mime = mime;
		}
	}
	pos_wipe(&kbuf, sizeof(kbuf));
	return rc;
}

enum pos_err pos_files_list(struct pos_files *f, struct pos_arena *a, const char *user_id,
			    const char *memory_id, struct pos_attachment **out, size_t *n)
{
	enum pos_err rc = f->store->files->attachment_list(f->store, a, user_id, memory_id, out, n);
	for (size_t i = 0; !rc && i < *n; i++)
		rc = open_att(f, a, &(*out)[i]);
	return rc;
}

void pos_files_attachment_json(struct pos_jw *w, const struct pos_attachment *at)
{
	pos_jw_obj(w);
	pos_jw_kstr(w, "id", at->id);
	pos_jw_kstr(w, "memory_id", at->memory_id);
	pos_jw_kstr(w, "name", at->name);
	pos_jw_kstr(w, "mime", at->mime);
	pos_jw_kint(w, "bytes", at->bytes);
	pos_jw_ktime(w, "created_at", at->created_at);
	pos_jw_kstr(w, "text_status", at->text_status);
	if (at->text_error)
		pos_jw_kstr(w, "text_error", at->text_error);
	pos_jw_kint(w, "text_pages", at->text_pages);
	char url[64];
	snprintf(url, sizeof(url), "/api/attachments/%s", at->id);
	pos_jw_kstr(w, "url", url);
	pos_jw_obj_end(w);
}

/* Rewrites the memory's `attachments` from its rows; with `content` also
 * its content (a file memory's extracted text). */
static enum pos_err sync_memory(struct pos_files *f, struct pos_arena *a, const char *user_id,
				const char *memory_id, const char *content, size_t content_len,
				struct pos_error *err)
{
	struct pos_attachment *list;
	size_t n;
	enum pos_err rc = pos_files_list(f, a, user_id, memory_id, &list, &n);
	if (rc)
		return pos_error_set(err, rc, NULL, "cannot list the attachments");
	struct pos_buf b;
	pos_buf_init(&b, 4 * 1024 * 1024);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_jw_arr(&w);
	for (size_t i = 0; i < n; i++)
		pos_files_attachment_json(&w, &list[i]);
	pos_jw_arr_end(&w);
	if (w.rc) {
		pos_buf_free(&b);
		return pos_error_set(err, w.rc, NULL, NULL);
	}
	struct pos_memory_patch p;
	memset(&p, 0, sizeof(p));
	p.set = POS_PATCH_ATTACHMENTS;
	p.v.attachments_json = pos_arena_strndup(a, b.data, b.len);
	pos_buf_free(&b);
	if (!p.v.attachments_json)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	if (content) {
		p.set |= POS_PATCH_CONTENT;
		p.v.content = content;
		p.v.content_len = content_len;
	}
	return pos_memory_patch_record(f->mem, a, user_id, memory_id, &p, err);
}

/*
 * The content of a memory that is not a `file` memory with the text of its
 * attachment `name` as a section after it: "\n\n[file: NAME]\n" and the
 * text, replacing an earlier section of that name; cut (at a UTF-8
 * boundary) to POS_CONTENT_MAX. Arena; NULL when out of memory.
 */
static char *with_section(struct pos_arena *a, const char *content, const char *name,
			  const char *text, size_t text_len, size_t *out_len)
{
	char head[POS_FILE_NAME_MAX + 16];
	snprintf(head, sizeof(head), "\n\n[file: %s]\n", name);
	size_t clen = strlen(content);
	const char *old = strstr(content, head);
	const char *rest = NULL;
	if (old) {
		rest = strstr(old + strlen(head), "\n\n[file: ");
		clen = (size_t)(old - content);
	}
	struct pos_buf b;
	pos_buf_init(&b, POS_CONTENT_MAX + 4096);
	(void)pos_buf_add(&b, content, clen);
	if (rest)
		(void)pos_buf_add(&b, rest, strlen(rest));
	(void)pos_buf_add(&b, head, strlen(head));
	(void)pos_buf_add(&b, text, text_len);
	size_t keep = b.data ? pos_utf8_cut(b.data, b.len, POS_CONTENT_MAX) : 0;
	char *out = pos_arena_strndup(a, b.data ? b.data : "", keep);
	pos_buf_free(&b);
	*out_len = keep;
	return out;
}

/* The attachment's thumbnail (an image, a PDF's first page) made by the
 * confined child and stored as a blob of the user (sealed like the file);
 * none is fine (the download still works), so failures are not errors.
 * A type without thumbnails, or a file that cannot be previewed (over a
 * limit, unreadable), is recorded as having none (POS_THUMB_NONE), so it
 * is not tried again; a failure that may pass (the blob cannot be opened,
 * a timeout, memory) leaves it untried. True when one was stored. */
static bool make_thumb(struct pos_files *f, const char *user_id, const struct pos_blob_key *key,
		       const struct pos_attachment *at)
{
	if (!pos_thumb_supported(at->mime)) {
		if (f->store->files->attachment_set_thumb(f->store, user_id, at->id, NULL, 0,
							  pos_now_us()) == POS_ERR_STORE)
			pos_warn("files: cannot record that an attachment has no thumbnail");
		return false;
	}
	bool made = false;
	struct pos_extract_limits lim = {
		.timeout_s = f->cfg->extract_timeout_s,
		.pages = f->cfg->extract_pages,
		.pixels = f->cfg->extract_pixels,
		.memory_mib = f->cfg->extract_memory_mib,
		.text_max = POS_EXTRACT_TEXT_MAX,
	};
	struct pos_blob_reader *rd = NULL;
	uint64_t size;
	struct pos_buf png;
	pos_buf_init(&png, POS_THUMB_MAX);
	struct pos_error err;
	pos_error_clear(&err);
	enum pos_err rc = pos_blob_open(&f->blobs, user_id, key, at->hash, &rd, &size);
	if (!rc) {
		rc = pos_extract_thumbnail(&lim, at->mime, rd, size, &png, &err);
		if (rc == POS_ERR_CONTENT_TOO_LARGE || rc == POS_ERR_INVALID_FIELD ||
		    (!rc && !png.len)) {
			/* none to make: recorded, not tried again */
			if (f->store->files->attachment_set_thumb(f->store, user_id, at->id, NULL,
								  0, pos_now_us()) == POS_ERR_STORE)
				pos_warn("files: cannot record that an attachment has no thumbnail");
			rc = POS_ERR_NOT_FOUND;
		}
	}
	if (!rc) {
		char hash[POS_BLOB_HASH_HEX];
		bool created = false;
		pthread_mutex_lock(&f->mu);
		rc = pos_blob_put_mem(&f->blobs, user_id, key, png.data, png.len, hash, &created);
		if (!rc)
			rc = f->store->files->attachment_set_thumb(f->store, user_id, at->id, hash,
								   (int64_t)png.len, pos_now_us());
		if (rc && created)
			(void)pos_blob_remove(&f->blobs, user_id, hash);
		pthread_mutex_unlock(&f->mu);
		if (rc)
			pos_warn("files: cannot store a thumbnail");
		made = !rc;
	}
	pos_blob_close(rd);
	pos_buf_free(&png);
	return made;
}

/* Runs the extractor over the attachment and records the outcome. For a
 * file memory the text (with page markers) becomes the memory's content,
 * after its name (`memory_content` is that name line); for any other
 * memory it is kept as a "[file: NAME]" section after the memory's own
 * content (`memory_content` is the whole content), so it is searchable
 * too. An email's own original (message/rfc822 named "message.eml" on an
 * email memory) is not read again; a message forwarded in it (any other
 * name) is. */
static void extract(struct pos_files *f, struct pos_arena *a, const char *user_id,
		    const struct pos_blob_key *key, struct pos_attachment *at,
		    enum pos_mem_type mem_type)
{
	bool file_memory = mem_type == POS_TYPE_FILE;
	struct pos_extract_limits lim = {
		.timeout_s = f->cfg->extract_timeout_s,
		.pages = f->cfg->extract_pages,
		.pixels = f->cfg->extract_pixels,
		.memory_mib = f->cfg->extract_memory_mib,
		.text_max = POS_EXTRACT_TEXT_MAX,
	};
	struct pos_error err;
	pos_error_clear(&err);
	struct pos_blob_reader *rd = NULL;
	uint64_t size;
	struct pos_buf text;
	pos_buf_init(&text, POS_EXTRACT_TEXT_MAX + 4096);
	unsigned pages = 0;
	const char *status = "done", *msg = NULL;
	if (!pos_extract_supported(at->mime) ||
	    (mem_type == POS_TYPE_EMAIL && strcmp(at->mime, "message/rfc822") == 0 &&
	     at->name && strcmp(at->name, POS_FILES_ORIGINAL_EML) == 0)) {
		status = "none";
		goto record;
	}
	enum pos_err rc = pos_blob_open(&f->blobs, user_id, key, at->hash, &rd, &size);
	if (!rc)
		rc = pos_extract_spawn(&lim, at->mime, rd, size, &text, &pages, &err);
	if (rc) {
		status = "failed";
		msg = err.message[0] ? pos_arena_strdup(a, err.message) : pos_strerror(rc);
		goto record;
	}
	if (text.len) {
		/* the memory's content read again and rewritten under text_mu, so
		 * two attachments' texts arriving at once both stay */
		pthread_mutex_lock(&f->text_mu);
		struct pos_memory mem = {0};
		const char *memory_content = NULL;
		if (f->store->memories->memory_get(f->store, a, user_id, at->memory_id, false, 0,
						   &mem) == POS_OK) {
			const char *c = mem.content ? mem.content : "";
			/* a file memory: its name line, the text replaces the rest */
			memory_content = file_memory ? pos_arena_strndup(a, c, strcspn(c, "\n")) : c;
		}
		char *content = NULL;
		size_t clen = 0;
		if (memory_content && file_memory) {
			struct pos_buf c;
			pos_buf_init(&c, POS_EXTRACT_TEXT_MAX + 4096);
			(void)pos_buf_add(&c, memory_content, strlen(memory_content));
			(void)pos_buf_add(&c, "\n\n", 2);
			(void)pos_buf_add(&c, text.data, text.len);
			content = pos_arena_strndup(a, c.data ? c.data : "", c.len);
			clen = c.len;
			pos_buf_free(&c);
		} else if (memory_content) {
			content = with_section(a, memory_content, at->name, text.data, text.len, &clen);
		}
		pos_error_clear(&err);
		if (!content || sync_memory(f, a, user_id, at->memory_id, content, clen, &err)) {
			status = "failed";
			msg = "the text could not be stored";
		}
		pthread_mutex_unlock(&f->text_mu);
	}
record:
	pos_blob_close(rd);
	pos_buf_free(&text);
	at->text_status = status;
	at->text_error = msg;
	at->text_pages = pages;
	if (f->store->files->attachment_set_text(f->store, user_id, at->id, status, msg, pages))
		pos_warn("files: cannot record the text status of an attachment");
}

/* pos_files_attach; with `list_now` false the memory's `attachments` is
 * left as it is (the caller lists the rows once at the end). */
static enum pos_err attach_fd(struct pos_files *f, struct pos_arena *a, const char *user_id,
			      const char *memory_id, int fd, uint64_t off, uint64_t len,
			      const char *name, bool list_now, struct pos_attachment *out,
			      struct pos_error *err)
{
	struct pos_blob_key kbuf;
	const struct pos_blob_key *key = NULL;
	struct pos_memory mem = {0};
	memset(out, 0, sizeof(*out));
	enum pos_err rc = f->store->memories->memory_get(f->store, a, user_id, memory_id, false, 0, &mem);
	if (rc)
		return pos_error_set(err, rc, NULL, rc == POS_ERR_NOT_FOUND ? "no such memory" : NULL);
	struct pos_attachment *list;
	size_t n;
	if ((rc = f->store->files->attachment_list(f->store, a, user_id, memory_id, &list, &n)))
		return pos_error_set(err, rc, NULL, NULL);
	if (n >= POS_FILES_PER_MEMORY)
		return pos_error_set(err, POS_ERR_CONFLICT, NULL,
				     "this memory has the most attachments it may have");
	if ((rc = blob_key_for(f, user_id, &kbuf, &key)))
		return pos_error_set(err, rc, NULL, NULL);
	char clean[POS_FILE_NAME_MAX + 1];
	pos_files_clean_name(name, clean);
	if (!pos_uuid_new(out->id)) {
		rc = pos_error_set(err, POS_ERR_INTERNAL, NULL, NULL);
		goto out;
	}
	snprintf(out->user_id, sizeof(out->user_id), "%s", user_id);
	snprintf(out->memory_id, sizeof(out->memory_id), "%s", mem.id);
	out->name = pos_arena_strdup(a, clean);
	out->mime = sniff(f, a, fd, off, len, clean);
	out->bytes = (int64_t)len;
	out->created_at = pos_now_us();
	out->text_status = "pending";
	out->sealed = key != NULL;
	if (!out->name) {
		rc = pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
		goto out;
	}
	bool created;
	pthread_mutex_lock(&f->mu);
	rc = pos_blob_put_fd(&f->blobs, user_id, key, fd, off, len, out->hash, &created);
	struct pos_attachment stored = *out;
	if (!rc && key) {
		stored.name = seal_str(a, key, out->id, "name", out->name);
		stored.mime = seal_str(a, key, out->id, "mime", out->mime);
		if (!stored.name || !stored.mime)
			rc = POS_ERR_NOMEM;
	}
	if (!rc)
		rc = f->store->files->attachment_insert(f->store, &stored);
	if (rc && created)
		(void)pos_blob_remove(&f->blobs, user_id, out->hash);
	pthread_mutex_unlock(&f->mu);
	if (rc) {
		pos_error_set(err, rc, NULL, rc == POS_ERR_IO ? "the file could not be stored" : NULL);
		goto out;
	}
	if (list_now && (rc = sync_memory(f, a, user_id, mem.id, NULL, 0, err)))
		goto out;
	pos_wipe(&kbuf, sizeof(kbuf));
	/* The text comes from a files.extract job (the answer says "pending");
	 * without the jobs service, or with the user's queue full, here. */
	char payload[64 + POS_UUID_SIZE];
	snprintf(payload, sizeof(payload), "{\"attachment_id\":\"%s\"}", out->id);
	if (f->jobs &&
	    pos_jobs_enqueue(f->jobs, pos_files_extract_kind.name, user_id, payload, 0, NULL) == POS_OK) {
		/* queued: the attachment stays "pending" until the job ran */
	} else if (pos_files_extract_attachment(f, user_id, out->id) == POS_OK) {
		struct pos_attachment again;
		if (f->store->files->attachment_get(f->store, a, user_id, out->id, &again) == POS_OK &&
		    open_att(f, a, &again) == POS_OK)
			*out = again;
	}
	pos_error_clear(err);
	return POS_OK;
out:
	pos_wipe(&kbuf, sizeof(kbuf));
	return rc;
}

enum pos_err pos_files_attach(struct pos_files *f, struct pos_arena *a, const char *user_id,
			      const char *memory_id, int fd, uint64_t off, uint64_t len,
			      const char *name, struct pos_attachment *out, struct pos_error *err)
{
	return attach_fd(f, a, user_id, memory_id, fd, off, len, name, true, out, err);
}

/* `len` bytes in a sealed memfd (CLOEXEC), or -1. */
static int mem_fd(const void *data, size_t len)
{
	int fd = memfd_create("pos-attach", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t done = 0;
	while (done < len) {
		ssize_t w = write(fd, (const char *)data + done, len - done);
		if (w <= 0) {
			close(fd);
			return -1;
		}
		done += (size_t)w;
	}
	return fd;
}

enum pos_err pos_files_attach_mem(struct pos_files *f, struct pos_arena *a, const char *user_id,
				  const char *memory_id, const void *data, size_t len,
				  const char *name, bool replace, struct pos_attachment *out,
				  struct pos_error *err)
{
	int fd = mem_fd(data, len);
	if (fd < 0)
		return pos_error_set(err, POS_ERR_IO, NULL, "cannot hold the file");
	/* the same name's earlier attachments, dropped after the new one is
	 * in (so a blob both refer to is not collected in between) */
	struct pos_attachment *old = NULL;
	size_t n_old = 0;
	char clean[POS_FILE_NAME_MAX + 1];
	pos_files_clean_name(name, clean);
	if (replace && pos_files_list(f, a, user_id, memory_id, &old, &n_old) != POS_OK)
		n_old = 0;
	enum pos_err rc = pos_files_attach(f, a, user_id, memory_id, fd, 0, len, clean, out, err);
	close(fd);
	if (rc)
		return rc;
	for (size_t i = 0; i < n_old; i++)
		if (old[i].name && strcmp(old[i].name, clean) == 0)
			(void)pos_files_delete(f, user_id, old[i].id); /* lists the memory again */
	return POS_OK;
}

#define ADOPT_PAGE 200 /* email memories read at a time by the adopt pass */

/* One inline attachment of a memory row (sync before issue 21). */
struct inline_att {
	const char *name;
	unsigned char *data; /* pos_malloc'd */
	size_t len;
};

enum pos_err pos_files_adopt_inline(struct pos_files *f, const char *user_id,
				    const char *memory_id, size_t *moved)
{
	if (moved)
		*moved = 0;
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return POS_ERR_NOMEM;
	struct pos_memory mem = {0};
	struct inline_att v[POS_FILES_PER_MEMORY];
	size_t nv = 0;
	json_t *arr = NULL;
	struct pos_error err;
	pos_error_clear(&err);
	enum pos_err rc = f->store->memories->memory_get(f->store, a, user_id, memory_id, false, 0,
							 &mem);
	if (rc)
		goto out;
	json_error_t je;
	arr = json_loads(mem.attachments_json ? mem.attachments_json : "[]", 0, &je);
	bool any = false;
	for (size_t i = 0; i < json_array_size(arr); i++) {
		const json_t *e = json_array_get(arr, i);
		any |= json_object_get(e, "encoding") != NULL || json_is_true(json_object_get(e, "truncated"));
		const char *enc = json_string_value(json_object_get(e, "encoding"));
		const char *b64 = json_string_value(json_object_get(e, "data"));
		const char *name = json_string_value(json_object_get(e, "name"));
		if (!enc || strcmp(enc, "base64") != 0 || !b64 || nv >= POS_FILES_PER_MEMORY)
			continue; /* a truncated original had no bytes to keep */
		size_t cap = json_string_length(json_object_get(e, "data")) / 4 * 3 + 3;
		unsigned char *d = pos_malloc(cap ? cap : 1);
		size_t len = 0;
		if (!d) {
			rc = POS_ERR_NOMEM;
			goto out;
		}
		if (sodium_base642bin(d, cap, b64, strlen(b64), "\r\n", &len, NULL,
				      sodium_base64_VARIANT_ORIGINAL) != 0) {
			pos_free(d);
			continue;
		}
		v[nv++] = (struct inline_att){name && *name ? name : "attachment", d, len};
	}
	if (!any)
		goto out; /* nothing inline: already adopted, or never had any */
	/* rows already made by an earlier, interrupted pass are not made twice */
	struct pos_attachment *have = NULL;
	size_t nh = 0;
	if ((rc = f->store->files->attachment_list(f->store, a, user_id, memory_id, &have, &nh)))
		goto out;
	for (size_t i = 0; i < nh; i++)
		if ((rc = open_att(f, a, &have[i])))
			goto out;
	for (size_t i = 0; i < nv; i++) {
		char clean[POS_FILE_NAME_MAX + 1];
		pos_files_clean_name(v[i].name, clean);
		bool dup = false;
		for (size_t j = 0; j < nh && !dup; j++)
			dup = have[j].name && strcmp(have[j].name, clean) == 0 &&
			      have[j].bytes == (int64_t)v[i].len;
		if (dup)
			continue;
		int fd = mem_fd(v[i].data, v[i].len);
		if (fd < 0) {
			rc = POS_ERR_IO;
			goto out;
		}
		struct pos_attachment at;
		rc = attach_fd(f, a, user_id, memory_id, fd, 0, v[i].len, clean, false, &at, &err);
		close(fd);
		if (rc)
			goto out;
		if (moved)
			(*moved)++;
	}
	/* the row's list from the attachment rows: the base64 is gone */
	rc = sync_memory(f, a, user_id, memory_id, NULL, 0, &err);
out:
	for (size_t i = 0; i < nv; i++)
		pos_free(v[i].data);
	json_decref(arr);
	pos_arena_destroy(a);
	return rc;
}

enum pos_err pos_files_adopt_user(struct pos_files *f, const char *user_id, int64_t *after_seq,
				  bool (*stop)(void *ctx), void *ctx, size_t *moved)
{
	if (moved)
		*moved = 0;
	enum pos_err rc = POS_OK;
	for (;;) {
		if (stop && stop(ctx))
			return POS_ERR_UNAVAILABLE; /* resumes after *after_seq */
		struct pos_arena *a = pos_arena_new();
		if (!a)
			return POS_ERR_NOMEM;
		/* a page after the cursor along the user's own index: every
		 * page costs its 200 rows, however far the pass has gone */
		struct pos_memory_query q = {.user_id = user_id, .type = POS_TYPE_EMAIL,
					     .layer = -1, .after = POS_TIME_NONE,
					     .before = POS_TIME_NONE, .after_seq = *after_seq};
		int64_t *seqs = NULL;
		size_t n = 0;
		struct pos_memory *page = NULL;
		bool *found = NULL;
		rc = f->store->memories->filter_seqs(f->store, a, &q, ADOPT_PAGE, &seqs, &n);
		if (!rc && n) {
			page = pos_arena_alloc(a, n * sizeof(*page));
			found = pos_arena_alloc(a, n * sizeof(*found));
			rc = page && found ? f->store->memories->memories_by_seq(f->store, a, user_id,
										  seqs, n, page, found)
					   : POS_ERR_NOMEM;
		}
		for (size_t i = 0; !rc && i < n; i++) {
			size_t k = 0;
			if (found[i] && page[i].attachments_json &&
			    strstr(page[i].attachments_json, "\"encoding\"")) {
				rc = pos_files_adopt_inline(f, user_id, page[i].id, &k);
				if (rc == POS_ERR_NOT_FOUND)
					rc = POS_OK; /* deleted meanwhile */
			}
			if (!rc)
				*after_seq = seqs[i];
			if (moved)
				*moved += k;
		}
		pos_arena_destroy(a);
		if (rc || n < ADOPT_PAGE)
			return rc;
	}
}

enum pos_err pos_files_open(struct pos_files *f, struct pos_arena *a, const char *caller_id,
			    const char *id, struct pos_attachment *att,
			    struct pos_blob_reader **rd, uint64_t *size)
{
	*rd = NULL;
	if (!id || !pos_uuid_valid(id, strlen(id), (char[POS_UUID_SIZE]){0}))
		return POS_ERR_NOT_FOUND;
	enum pos_err rc = f->store->files->attachment_get(f->store, a, NULL, id, att);
	if (rc)
		return rc;
	if (strcmp(att->user_id, caller_id) == 0 && (rc = open_att(f, a, att)))
		return rc;
	if (strcmp(att->user_id, caller_id) != 0) {
		struct pos_memory m;
		if (f->store->shares->shared_get(f->store, a, caller_id, att->memory_id, &m))
			return POS_ERR_NOT_FOUND;
		if ((rc = open_att(f, a, att)))
			return rc;
	}
	struct pos_blob_key kbuf;
	const struct pos_blob_key *key = NULL;
	if (att->sealed) {
		struct pos_userkeys uk;
		bool sealed;
		rc = pos_crypt_store_user_keys(f->store, att->user_id, &uk, &sealed);
		if (rc)
			return rc;
		if (!sealed)
			return POS_ERR_DECRYPT;
		pos_blob_key_derive(&uk, &kbuf);
		pos_wipe(&uk, sizeof(uk));
		key = &kbuf;
	}
	rc = pos_blob_open(&f->blobs, att->user_id, key, att->hash, rd, size);
	pos_wipe(&kbuf, sizeof(kbuf));
	return rc;
}

enum pos_err pos_files_thumbnail(struct pos_files *f, struct pos_arena *a, const char *caller_id,
				 const char *id, struct pos_buf *out)
{
	struct pos_attachment at;
	struct pos_blob_reader *rd = NULL;
	uint64_t size;
	enum pos_err rc = pos_files_open(f, a, caller_id, id, &at, &rd, &size);
	if (rc)
		return rc;
	if (!pos_thumb_supported(at.mime) || strcmp(at.thumb, POS_THUMB_NONE) == 0) {
		pos_blob_close(rd); /* none: another type, or the job found it cannot be made */
		return POS_ERR_NOT_FOUND;
	}
	if (at.thumb[0]) {
		/* made by the extraction job: read it (sealed like the file) */
		pos_blob_close(rd);
		rd = NULL;
		struct pos_blob_key kbuf;
		const struct pos_blob_key *key = NULL;
		uint64_t tsize = 0;
		rc = at.sealed ? blob_key_for(f, at.user_id, &kbuf, &key) : POS_OK;
		if (!rc && at.sealed && !key)
			rc = POS_ERR_DECRYPT;
		if (!rc)
			rc = pos_blob_open(&f->blobs, at.user_id, key, at.thumb, &rd, &tsize);
		pos_wipe(&kbuf, sizeof(kbuf));
		if (!rc && tsize > POS_THUMB_MAX)
			rc = POS_ERR_CONTENT_TOO_LARGE;
		char *buf = rc ? NULL : pos_arena_alloc(a, tsize ? (size_t)tsize : 1);
		size_t got = 0;
		if (!rc && !buf)
			rc = POS_ERR_NOMEM;
		while (!rc && got < tsize) {
			size_t n = 0;
			rc = pos_blob_read(rd, got, buf + got, (size_t)tsize - got, &n);
			if (!rc && n == 0)
				rc = POS_ERR_IO;
			got += n;
		}
		pos_blob_close(rd);
		if (!rc)
			rc = pos_buf_add(out, buf, got);
		if (!rc)
			return POS_OK;
		pos_buf_free(out);
		pos_buf_init(out, POS_THUMB_MAX);
		if (rc == POS_ERR_LOCKED)
			return rc;
		/* a thumbnail that cannot be read: made again below */
		if ((rc = pos_files_open(f, a, caller_id, id, &at, &rd, &size)))
			return rc;
	}
	struct pos_extract_limits lim = {
		.timeout_s = f->cfg->extract_timeout_s,
		.pages = f->cfg->extract_pages,
		.pixels = f->cfg->extract_pixels,
		.memory_mib = f->cfg->extract_memory_mib,
		.text_max = POS_EXTRACT_TEXT_MAX,
	};
	struct pos_error err;
	pos_error_clear(&err);
	rc = pos_extract_thumbnail(&lim, at.mime, rd, size, out, &err);
	pos_blob_close(rd);
	if (rc && rc != POS_ERR_NOMEM)
		rc = POS_ERR_NOT_FOUND; /* a file without a preview: none */
	return rc;
}

enum pos_err pos_files_collect(struct pos_files *f, const char *user_id, size_t *count)
{
	size_t total = 0;
	enum pos_err rc = POS_OK;
	for (;;) {
		struct pos_arena *a = pos_arena_new();
		if (!a)
			return POS_ERR_NOMEM;
		struct pos_blob_ref *refs;
		size_t n = 0, dropped_any = 0;
		pthread_mutex_lock(&f->mu);
		rc = f->store->files->blob_orphans(f->store, a, user_id, 256, &refs, &n);
		for (size_t i = 0; !rc && i < n; i++) {
			bool dropped;
			rc = f->store->files->blob_forget(f->store, refs[i].user_id, refs[i].hash,
							&dropped);
			if (!rc && dropped) {
				(void)pos_blob_remove(&f->blobs, refs[i].user_id, refs[i].hash);
				dropped_any++;
			}
		}
		pthread_mutex_unlock(&f->mu);
		pos_arena_destroy(a);
		total += dropped_any;
		if (rc || n < 256 || dropped_any == 0)
			break;
	}
	if (count)
		*count = total;
	return rc;
}

enum pos_err pos_files_delete(struct pos_files *f, const char *user_id, const char *id)
{
	if (!id || !pos_uuid_valid(id, strlen(id), (char[POS_UUID_SIZE]){0}))
		return POS_ERR_NOT_FOUND;
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return POS_ERR_NOMEM;
	struct pos_attachment at;
	struct pos_error err;
	pos_error_clear(&err);
	enum pos_err rc = f->store->files->attachment_get(f->store, a, user_id, id, &at);
	if (!rc)
		rc = f->store->files->attachment_delete(f->store, user_id, id);
	if (!rc)
		rc = sync_memory(f, a, user_id, at.memory_id, NULL, 0, &err);
	if (!rc)
		rc = pos_files_collect(f, user_id, NULL);
	pos_arena_destroy(a);
	return rc;
}

enum pos_err pos_files_extract_attachment(struct pos_files *f, const char *user_id,
					  const char *attachment_id)
{
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return POS_ERR_NOMEM;
	struct pos_attachment at;
	struct pos_memory mem = {0};
	struct pos_blob_key kbuf;
	const struct pos_blob_key *key = NULL;
	struct pos_error err;
	pos_error_clear(&err);
	enum pos_err rc = f->store->files->attachment_get(f->store, a, user_id, attachment_id, &at);
	if (!rc)
		rc = open_att(f, a, &at);
	if (!rc)
		rc = f->store->memories->memory_get(f->store, a, user_id, at.memory_id, false, 0, &mem);
	if (!rc && at.sealed)
		rc = blob_key_for(f, user_id, &kbuf, &key);
	if (!rc && at.sealed && !key)
		rc = POS_ERR_DECRYPT;
	if (!rc) {
		/* the memory's content before any earlier extraction: its name
		 * line (a file memory's content starts with it) */
		extract(f, a, user_id, key, &at, mem.type);
		if (!at.thumb[0])
			(void)make_thumb(f, user_id, key, &at);
		/* the memory's list again, now with the text status */
		rc = sync_memory(f, a, user_id, mem.id, NULL, 0, &err);
	}
	pos_wipe(&kbuf, sizeof(kbuf));
	pos_arena_destroy(a);
	return rc;
}

/* The job kind's run: payload {"attachment_id": "..."}. */
static enum pos_err extract_run(struct pos_job_run *r, void *ctx, const char *user_id,
				const char *payload_json)
{
	(void)r;
	json_error_t je;
	json_t *p = json_loads(payload_json ? payload_json : "{}", 0, &je);
	const char *id = p ? json_string_value(json_object_get(p, "attachment_id")) : NULL;
	enum pos_err rc = id ? pos_files_extract_attachment(ctx, user_id, id)
			     : POS_ERR_INVALID_REQUEST;
	json_decref(p);
	return rc;
}

static bool job_stop(void *ctx)
{
	return pos_job_should_stop(ctx);
}

/* files.adopt: payload {} or {"after_seq": N}, the job's user's inline
 * attachments. A pass stopped by a shutdown leaves its place as the next
 * attempt's payload (the jobs service keeps it), so a store too big to go
 * through between two restarts is still gone through. */
static enum pos_err adopt_run(struct pos_job_run *r, void *ctx, const char *user_id,
			      const char *payload_json)
{
	json_t *p = json_loads(payload_json ? payload_json : "{}", 0, NULL);
	json_int_t from = json_integer_value(json_object_get(p, "after_seq"));
	json_decref(p);
	int64_t after_seq = from > 0 ? (int64_t)from : 0;
	size_t moved = 0;
	enum pos_err rc = pos_files_adopt_user(ctx, user_id, &after_seq, job_stop, r, &moved);
	if (moved)
		pos_info("files: %zu inline mail attachments moved into the blob store", moved);
	if (rc == POS_ERR_UNAVAILABLE) {
		char next[48];
		snprintf(next, sizeof(next), "{\"after_seq\":%lld}", (long long)after_seq);
		(void)pos_job_set_payload(r, next);
	}
	return rc;
}

const struct pos_job_kind pos_files_adopt_kind = {
	.name = "files.adopt",
	.max_attempts = 5,
	.timeout_us = 0,
	.backoff_us = 60 * 1000000LL, /* a locked encrypted user: later */
	.serial_per_user = true,
	.user_cancellable = false,
	.run = adopt_run,
};

enum pos_err pos_files_adopt_start(struct pos_files *f)
{
	if (!f->jobs)
		return POS_ERR_UNAVAILABLE;
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return POS_ERR_NOMEM;
	struct pos_user *users = NULL;
	size_t n = 0;
	enum pos_err rc = f->store->accounts->user_list(f->store, a, &users, &n);
	for (size_t i = 0; !rc && i < n; i++) {
		/* only users with email memories (sync wrote inline attachments
		 * on emails alone) */
		struct pos_memory_query q;
		memset(&q, 0, sizeof(q));
		q.user_id = users[i].id;
		q.type = POS_TYPE_EMAIL;
		q.layer = -1;
		q.after = POS_TIME_NONE;
		q.before = POS_TIME_NONE;
		q.sort = POS_SORT_OLDEST;
		q.limit = 1;
		struct pos_memory *one = NULL;
		size_t got = 0;
		int64_t total = 0;
		if (f->store->memories->memory_list(f->store, a, &q, &one, &got, &total) != POS_OK ||
		    total == 0)
			continue;
		enum pos_err e = pos_jobs_enqueue_unique(f->jobs, pos_files_adopt_kind.name,
							 users[i].id, "adopt", "{}", 0, NULL);
		if (e && e != POS_ERR_CONFLICT)
			rc = e;
	}
	pos_arena_destroy(a);
	return rc;
}

#define THUMBS_BATCH 50
#define NIL_UUID "00000000-0000-0000-0000-000000000000"

enum pos_err pos_files_thumbs_user(struct pos_files *f, const char *user_id,
				   bool (*stop)(void *ctx), void *ctx, size_t *made)
{
	if (made)
		*made = 0;
	char after[POS_UUID_SIZE];
	snprintf(after, sizeof(after), "%s", NIL_UUID);
	enum pos_err rc = POS_OK;
	for (;;) {
		struct pos_arena *a = pos_arena_new();
		if (!a)
			return POS_ERR_NOMEM;
		struct pos_attachment *v = NULL;
		size_t n = 0;
		struct pos_blob_key kbuf;
		const struct pos_blob_key *key = NULL;
		bool have_key = false;
		rc = f->store->files->attachment_unthumbed(f->store, a, user_id, after, THUMBS_BATCH,
							   &v, &n);
		for (size_t i = 0; !rc && i < n; i++) {
			snprintf(after, sizeof(after), "%s", v[i].id);
			if (v[i].sealed && !have_key) {
				/* an encrypted user's: opened with the data key
				 * (LOCKED while it is locked: the job runs later) */
				rc = blob_key_for(f, user_id, &kbuf, &key);
				if (!rc && !key)
					rc = POS_ERR_DECRYPT;
				have_key = !rc;
			}
			if (!rc && stop && stop(ctx))
				rc = POS_ERR_UNAVAILABLE; /* the untried are read again next time */
			if (rc)
				break;
			enum pos_err orc = open_att(f, a, &v[i]);
			if (orc == POS_ERR_LOCKED) {
				rc = orc;
				break;
			}
			if (orc)
				continue; /* its name or type cannot be opened: left untried */
			if (make_thumb(f, user_id, v[i].sealed ? key : NULL, &v[i]) && made)
				(*made)++;
		}
		pos_wipe(&kbuf, sizeof(kbuf));
		pos_arena_destroy(a);
		if (rc || n < THUMBS_BATCH)
			return rc;
	}
}

/* files.thumbs: payload {}, the job's user's attachments never given a
 * thumbnail. */
static enum pos_err thumbs_run(struct pos_job_run *r, void *ctx, const char *user_id,
			       const char *payload_json)
{
	(void)payload_json;
	size_t made = 0;
	enum pos_err rc = pos_files_thumbs_user(ctx, user_id, job_stop, r, &made);
	if (made)
		pos_info("files: %zu thumbnails made for earlier attachments", made);
	return rc;
}

const struct pos_job_kind pos_files_thumbs_kind = {
	.name = "files.thumbs",
	.max_attempts = 5,
	.timeout_us = 0, /* each thumbnail has the child's own wall clock */
	.backoff_us = 60 * 1000000LL, /* a locked encrypted user: later */
	.serial_per_user = true,
	.user_cancellable = false,
	.run = thumbs_run,
};

/* Queues one job of `kind` (deduplicated by `key`) for each user that
 * wants(): how the thumbnail and sealing passes start at boot. */
typedef bool (*user_wants_fn)(struct pos_files *f, struct pos_arena *a, const char *user_id);

static enum pos_err start_for_users(struct pos_files *f, const struct pos_job_kind *kind,
				    const char *key, user_wants_fn wants)
{
	if (!f->jobs)
		return POS_ERR_UNAVAILABLE;
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return POS_ERR_NOMEM;
	struct pos_user *users = NULL;
	size_t n = 0;
	enum pos_err rc = f->store->accounts->user_list(f->store, a, &users, &n);
	for (size_t i = 0; !rc && i < n; i++) {
		if (!wants(f, a, users[i].id))
			continue;
		enum pos_err e = pos_jobs_enqueue_unique(f->jobs, kind->name, users[i].id, key,
							 "{}", 0, NULL);
		if (e && e != POS_ERR_CONFLICT)
			rc = e;
	}
	pos_arena_destroy(a);
	return rc;
}

/* a user with an attachment that has no thumbnail yet */
static bool wants_thumbs(struct pos_files *f, struct pos_arena *a, const char *user_id)
{
	struct pos_attachment *one = NULL;
	size_t got = 0;
	return f->store->files->attachment_unthumbed(f->store, a, user_id, NIL_UUID, 1, &one,
						     &got) == POS_OK && got > 0;
}

enum pos_err pos_files_thumbs_start(struct pos_files *f)
{
	return start_for_users(f, &pos_files_thumbs_kind, "thumbs", wants_thumbs);
}

/* ---- sealing what was stored before encryption was on ---------------- */

#define SEAL_BATCH 50

/* Re-seals one plain attachment (its file, its thumbnail, its name and
 * type) and re-points its row; POS_ERR_CONFLICT when the row changed
 * meanwhile (the sealed copies are then collected as orphans). */
static enum pos_err seal_one(struct pos_files *f, struct pos_arena *a, const char *user_id,
			     const struct pos_blob_key *key, const struct pos_attachment *at)
{
	struct pos_attachment nat = *at;
	uint64_t size = 0, tsize = 0;
	bool created = false, tcreated = false;
	pthread_mutex_lock(&f->mu); /* against collection until the row points at it */
	enum pos_err rc = pos_blob_reseal(&f->blobs, user_id, at->hash, key, nat.hash, &size,
					  &created);
	if (!rc && at->thumb[0] && strcmp(at->thumb, POS_THUMB_NONE) != 0 &&
	    pos_blob_reseal(&f->blobs, user_id, at->thumb, key, nat.thumb, &tsize, &tcreated))
		nat.thumb[0] = '\0'; /* made again when next asked for */
	if (!rc) {
		nat.bytes = (int64_t)size;
		nat.sealed = true;
		nat.name = seal_str(a, key, at->id, "name", at->name ? at->name : "file");
		nat.mime = seal_str(a, key, at->id, "mime",
				    at->mime ? at->mime : "application/octet-stream");
		rc = nat.name && nat.mime ? POS_OK : POS_ERR_NOMEM;
	}
	if (!rc)
		rc = f->store->files->attachment_reseal(f->store, &nat, (int64_t)tsize, at->hash,
							 at->thumb, pos_now_us());
	if (rc && created)
		(void)pos_blob_remove(&f->blobs, user_id, nat.hash);
	if (rc && tcreated && nat.thumb[0])
		(void)pos_blob_remove(&f->blobs, user_id, nat.thumb);
	pthread_mutex_unlock(&f->mu);
	return rc;
}

enum pos_err pos_files_seal_user(struct pos_files *f, const char *user_id,
				 struct pos_job_run *r, size_t *count)
{
	if (count)
		*count = 0;
	struct pos_blob_key kbuf;
	const struct pos_blob_key *key = NULL;
	enum pos_err rc = blob_key_for(f, user_id, &kbuf, &key);
	if (rc || !key)
		return rc; /* LOCKED, or a user without encryption: nothing to do */
	char after[POS_UUID_SIZE];
	snprintf(after, sizeof(after), "%s", NIL_UUID);
	size_t done = 0, left = 0;
	for (;;) {
		struct pos_arena *a = pos_arena_new();
		if (!a) {
			rc = POS_ERR_NOMEM;
			break;
		}
		struct pos_attachment *v = NULL;
		size_t n = 0;
		rc = f->store->files->attachment_plain(f->store, a, user_id, after, SEAL_BATCH, &v,
						       &n);
		for (size_t i = 0; !rc && i < n; i++) {
			snprintf(after, sizeof(after), "%s", v[i].id);
			if (r && pos_job_should_stop(r))
				break;
			enum pos_err e = seal_one(f, a, user_id, key, &v[i]);
			if (!e)
				done++;
			else if (e == POS_ERR_NOT_FOUND)
				pos_warn("files: an attachment's plain file is missing; left as it is");
			else if (e == POS_ERR_CONFLICT)
				left++; /* changed meanwhile: the next pass */
			else
				rc = e;
		}
		pos_arena_destroy(a);
		if (rc || n < SEAL_BATCH || (r && pos_job_should_stop(r)))
			break;
	}
	pos_wipe(&kbuf, sizeof(kbuf));
	if (done)
		(void)pos_files_collect(f, user_id, NULL); /* the plain files */
	if (count)
		*count = done;
	return rc ? rc : left ? POS_ERR_UNAVAILABLE : POS_OK; /* transient: again */
}

/* files.seal: payload {}, the job's user's files stored before their
 * encryption was on (a user whose state was "on" before the pass sealed
 * files); LOCKED while their data is locked: retried later. */
static enum pos_err seal_run(struct pos_job_run *r, void *ctx, const char *user_id,
			     const char *payload_json)
{
	(void)payload_json;
	size_t n = 0;
	enum pos_err rc = pos_files_seal_user(ctx, user_id, r, &n);
	if (n)
		pos_info("files: %zu files stored before encryption are sealed", n);
	return rc;
}

const struct pos_job_kind pos_files_seal_kind = {
	.name = "files.seal",
	/* a locked user: 10 s, 20 s, ... (doubled) — about 20 minutes for
	 * them to log in after a start */
	.max_attempts = 8,
	.timeout_us = 0, /* streamed file by file; polls should_stop */
	.backoff_us = 10 * 1000000LL,
	.serial_per_user = true,
	.user_cancellable = false,
	.run = seal_run,
};

/* an encrypted user (locked now or not) with a plain attachment */
static bool wants_seal(struct pos_files *f, struct pos_arena *a, const char *user_id)
{
	struct pos_attachment *one = NULL;
	size_t got = 0;
	if (f->store->files->attachment_plain(f->store, a, user_id, NIL_UUID, 1, &one, &got) !=
		    POS_OK || got == 0)
		return false;
	struct pos_blob_key kbuf;
	const struct pos_blob_key *key = NULL;
	enum pos_err k = blob_key_for(f, user_id, &kbuf, &key);
	pos_wipe(&kbuf, sizeof(kbuf));
	return k == POS_ERR_LOCKED || (k == POS_OK && key);
}

enum pos_err pos_files_seal_start(struct pos_files *f)
{
	return start_for_users(f, &pos_files_seal_kind, "seal", wants_seal);
}

enum pos_err pos_files_register_jobs(struct pos_files *f, struct pos_jobs *jobs)
{
	enum pos_err rc = pos_jobs_register(jobs, &pos_files_extract_kind, f);
	if (!rc)
		rc = pos_jobs_register(jobs, &pos_files_adopt_kind, f);
	if (!rc)
		rc = pos_jobs_register(jobs, &pos_files_thumbs_kind, f);
	if (!rc)
		rc = pos_jobs_register(jobs, &pos_files_seal_kind, f);
	if (!rc)
		f->jobs = jobs;
	return rc;
}

const struct pos_job_kind pos_files_extract_kind = {
	.name = "files.extract",
	.max_attempts = 2,
	.timeout_us = 0, /* the extractor child has its own wall clock */
	.backoff_us = 5 * 1000000LL,
	.serial_per_user = false,
	.user_cancellable = false,
	.run = extract_run,
};
