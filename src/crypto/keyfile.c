/*
 * keyfile.c — the server key file (see keyfile.h): load, seal under an
 * optional master key, save atomically with mode 0600.
 */
#include "crypto/keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/log.h"
#include "crypto/crypto.h"
#include "crypto/keyring.h"

#define FORMAT "personalos-keys"
#define VERSION 1
#define MAX_KEYS 32
#define NAME_MAX_LEN 63
#define FILE_MAX (64 * 1024)
#define MASTER_FILE_MAX 4096

struct kf_entry {
	char name[NAME_MAX_LEN + 1];
	size_t len;
	uint8_t key[POS_KEYFILE_KEY_MAX];
};

struct pos_keyfile {
	pthread_mutex_t lock;
	char path[PATH_MAX];
	bool have_master;
	bool plain_on_disk;           /* loaded from an unsealed file */
	uint8_t master[32];
	size_t n;
	struct kf_entry keys[MAX_KEYS];
};

/* Reads at most `cap` bytes of a regular file; -1 with errno on failure,
 * -2 when it is larger. */
static long read_small(const char *path, void *buf, size_t cap, bool *missing)
{
	*missing = false;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		*missing = errno == ENOENT;
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	size_t n = 0;
	for (;;) {
		ssize_t got = read(fd, (char *)buf + n, cap + 1 - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			close(fd);
			return -1;
		}
		if (got == 0)
			break;
		n += (size_t)got;
		if (n > cap) {
			close(fd);
			return -2;
		}
	}
	close(fd);
	return (long)n;
}

enum pos_err pos_keyfile_master(const char *path, uint8_t out[32], struct pos_error *err)
{
	uint8_t *buf = pos_malloc(MASTER_FILE_MAX + 1);
	if (!buf)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	bool missing;
	long n = read_small(path, buf, MASTER_FILE_MAX, &missing);
	enum pos_err rc = POS_OK;
	if (n == -1)
		rc = pos_error_set(err, POS_ERR_USAGE, "master_key_file",
				   "cannot read master_key_file %s: %s", path,
				   strerror(errno));
	else if (n == -2)
		rc = pos_error_set(err, POS_ERR_USAGE, "master_key_file",
				   "master_key_file %s is larger than %d bytes", path,
				   MASTER_FILE_MAX);
	else {
		/* A trailing newline is an editor's, not part of the secret. */
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
			n--;
		if (n < POS_KEYFILE_MASTER_MIN)
			rc = pos_error_set(err, POS_ERR_USAGE, "master_key_file",
					   "master_key_file %s holds %ld bytes; at least %d "
					   "are needed (e.g. head -c 32 /dev/urandom | base64)",
					   path, n, POS_KEYFILE_MASTER_MIN);
		else {
			pos_hash(out, buf, (size_t)n);
		}
	}
	pos_wipe(buf, MASTER_FILE_MAX + 1);
	pos_free(buf);
	return rc;
}

static enum pos_err load_master(struct pos_keyfile *kf, const char *path,
				struct pos_error *err)
{
	enum pos_err rc = pos_keyfile_master(path, kf->master, err);
	if (!rc)
		kf->have_master = true;
	return rc;
}

/* Fills kf->keys from the "keys" object of a parsed file. */
static enum pos_err parse_keys(struct pos_keyfile *kf, const json_t *keys)
{
	const char *name;
	json_t *v;
	if (!json_is_object(keys))
		return POS_ERR_CORRUPT;
	json_object_foreach((json_t *)keys, name, v) {
		const char *s = json_string_value(v);
		if (!s || kf->n >= MAX_KEYS || strlen(name) > NAME_MAX_LEN || !name[0])
			return POS_ERR_CORRUPT;
		struct kf_entry *e = &kf->keys[kf->n];
		long len = pos_b64_decode(e->key, sizeof(e->key), s, strlen(s));
		if (len <= 0)
			return POS_ERR_CORRUPT;
		memcpy(e->name, name, strlen(name) + 1);
		e->len = (size_t)len;
		kf->n++;
	}
	return POS_OK;
}

static enum pos_err load(struct pos_keyfile *kf, struct pos_error *err)
{
	char *buf = pos_malloc(FILE_MAX + 1);
	if (!buf)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	bool missing;
	long n = read_small(kf->path, buf, FILE_MAX, &missing);
	enum pos_err rc = POS_OK;
	json_t *doc = NULL, *inner = NULL;
	uint8_t *plain = NULL;
	size_t plain_len = 0;
	if (n == -1 && missing)
		goto out; /* a new instance: keys are made on first use */
	if (n < 0) {
		rc = pos_error_set(err, n == -2 ? POS_ERR_CORRUPT : POS_ERR_IO, NULL,
				   "cannot read the key file %s: %s", kf->path,
				   n == -2 ? "too large" : strerror(errno));
		goto out;
	}
	/* The key file is the server's own: nobody else reads it. */
	if (chmod(kf->path, 0600) != 0)
		pos_warn("keys: cannot make %s mode 0600: %s", kf->path, strerror(errno));
	doc = json_loadb(buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
	const char *fmt = doc ? json_string_value(json_object_get(doc, "format")) : NULL;
	json_t *ver = doc ? json_object_get(doc, "version") : NULL;
	if (!fmt || strcmp(fmt, FORMAT) != 0 || !json_is_integer(ver) ||
	    json_integer_value(ver) != VERSION) {
		rc = pos_error_set(err, POS_ERR_CORRUPT, NULL,
				   "%s is not a PersonalOS key file (version %d)", kf->path,
				   VERSION);
		goto out;
	}
	const char *sealed = json_string_value(json_object_get(doc, "sealed"));
	const json_t *keys = json_object_get(doc, "keys");
	if (sealed) {
		if (!kf->have_master) {
			rc = pos_error_set(err, POS_ERR_USAGE, "master_key_file",
					   "the key file %s is sealed: set master_key_file "
					   "(or PERSONALOS_MASTER_KEY_FILE)", kf->path);
			goto out;
		}
		size_t slen = strlen(sealed);
		uint8_t *blob = pos_malloc(slen + 1);
		long blen = blob ? pos_b64_decode(blob, slen + 1, sealed, slen) : -1;
		if (blen <= POS_SEAL_OVERHEAD) {
			pos_free(blob);
			rc = pos_error_set(err, blob ? POS_ERR_CORRUPT : POS_ERR_NOMEM, NULL,
					   "the key file %s is damaged", kf->path);
			goto out;
		}
		plain_len = (size_t)blen - POS_SEAL_OVERHEAD;
		plain = pos_malloc(plain_len + 1);
		rc = plain ? pos_unseal(kf->master, FORMAT, strlen(FORMAT), blob,
					(size_t)blen, plain)
			   : POS_ERR_NOMEM;
		pos_free(blob);
		if (rc) {
			pos_error_set(err, rc, "master_key_file",
				      "the master key does not open the key file %s", kf->path);
			goto out;
		}
		inner = json_loadb((const char *)plain, plain_len, JSON_REJECT_DUPLICATES, NULL);
		keys = inner ? json_object_get(inner, "keys") : NULL;
	}
	kf->plain_on_disk = !sealed;
	if (parse_keys(kf, keys) != POS_OK)
		rc = pos_error_set(err, POS_ERR_CORRUPT, NULL, "the key file %s is damaged",
				   kf->path);
out:
	json_decref(inner);
	json_decref(doc);
	if (plain) {
		pos_wipe(plain, plain_len);
		pos_free(plain);
	}
	pos_wipe(buf, FILE_MAX + 1);
	pos_free(buf);
	return rc;
}

/* The file's text, plain or sealed. NULL on NOMEM; the caller wipes it. */
static char *render(struct pos_keyfile *kf)
{
	json_t *keys = json_object();
	json_t *doc = json_object();
	char *text = NULL, *plain = NULL;
	char b64[POS_KEYFILE_KEY_MAX * 2];
	if (!keys || !doc)
		goto out;
	for (size_t i = 0; i < kf->n; i++) {
		pos_b64_encode(b64, sizeof(b64), kf->keys[i].key, kf->keys[i].len);
		json_object_set_new(keys, kf->keys[i].name, json_string(b64));
	}
	pos_wipe(b64, sizeof(b64));
	json_object_set_new(doc, "format", json_string(FORMAT));
	json_object_set_new(doc, "version", json_integer(VERSION));
	if (!kf->have_master) {
		json_object_set(doc, "keys", keys);
		text = json_dumps(doc, JSON_SORT_KEYS | JSON_INDENT(1));
		goto out;
	}
	json_t *inner = json_pack("{sO}", "keys", keys);
	plain = inner ? json_dumps(inner, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(inner);
	if (!plain)
		goto out;
	size_t plen = strlen(plain), slen = plen + POS_SEAL_OVERHEAD;
	uint8_t *sealed = pos_malloc(slen);
	char *enc = sealed ? pos_malloc(pos_b64_len(slen) + 1) : NULL;
	if (enc) {
		pos_seal(kf->master, FORMAT, strlen(FORMAT), plain, plen, sealed);
		pos_b64_encode(enc, pos_b64_len(slen) + 1, sealed, slen);
		json_object_set_new(doc, "sealed", json_string(enc));
		text = json_dumps(doc, JSON_SORT_KEYS | JSON_INDENT(1));
	}
	pos_free(sealed);
	pos_free(enc);
	pos_wipe(plain, plen);
out:
	/* jansson's copies of the key strings are freed unwiped: they live
	 * only as long as this call, in this process. */
	free(plain);
	json_decref(keys);
	json_decref(doc);
	return text;
}

static enum pos_err write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return POS_ERR_IO;
		p += w;
		n -= (size_t)w;
	}
	return POS_OK;
}

/* Replaces the file: temporary file (0600), fsync, rename, fsync the
 * directory. Called with the lock held. */
static enum pos_err save(struct pos_keyfile *kf)
{
	char tmp[PATH_MAX + 8], dir[PATH_MAX];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", kf->path) >= sizeof(tmp))
		return POS_ERR_IO;
	char *text = render(kf);
	if (!text)
		return POS_ERR_NOMEM;
	size_t len = strlen(text);
	enum pos_err rc = POS_OK;
	unlink(tmp); /* a leftover of a crash */
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || fchmod(fd, 0600) != 0 || write_all(fd, text, len) ||
	    write_all(fd, "\n", 1) || fsync(fd) != 0)
		rc = POS_ERR_IO;
	if (fd >= 0 && close(fd) != 0)
		rc = POS_ERR_IO;
	if (!rc && rename(tmp, kf->path) != 0)
		rc = POS_ERR_IO;
	if (rc) {
		pos_error_log("keys: cannot write %s: %s", kf->path, strerror(errno));
		unlink(tmp);
	} else {
		snprintf(dir, sizeof(dir), "%s", kf->path);
		int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	pos_wipe(text, len);
	free(text);
	return rc;
}

enum pos_err pos_keyfile_open(const char *path, const char *master_key_file,
			      struct pos_keyfile **out, struct pos_error *err)
{
	struct pos_keyfile *kf = pos_calloc(1, sizeof(*kf));
	if (!kf)
		return pos_error_set(err, POS_ERR_NOMEM, NULL, NULL);
	pthread_mutex_init(&kf->lock, NULL);
	enum pos_err rc = POS_OK;
	if ((size_t)snprintf(kf->path, sizeof(kf->path), "%s", path) >= sizeof(kf->path))
		rc = pos_error_set(err, POS_ERR_IO, NULL, "key file path too long");
	if (!rc && master_key_file && master_key_file[0])
		rc = load_master(kf, master_key_file, err);
	if (!rc)
		rc = load(kf, err);
	/* A master key given to an instance with a plain key file seals it. */
	if (!rc && kf->have_master && kf->plain_on_disk && (rc = save(kf)))
		pos_error_set(err, rc, NULL, "cannot seal the key file %s", kf->path);
	if (rc) {
		pos_keyfile_close(kf);
		return rc;
	}
	*out = kf;
	return POS_OK;
}

static struct kf_entry *find(struct pos_keyfile *kf, const char *name)
{
	for (size_t i = 0; i < kf->n; i++)
		if (strcmp(kf->keys[i].name, name) == 0)
			return &kf->keys[i];
	return NULL;
}

/*
 * Another process on the same data directory (`personalos user add` while
 * the server runs) may have added keys since we loaded: under an exclusive
 * flock on the directory, re-read the file and take the keys we lack, so a
 * save never drops someone else's key and two processes never make two
 * different keys of one name. Returns the directory fd holding the lock
 * (-1 if it could not be locked: then we go on unlocked, as before).
 */
static int lock_and_merge(struct pos_keyfile *kf)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", kf->path);
	int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0 && flock(dfd, LOCK_EX) != 0) {
		close(dfd);
		dfd = -1;
	}
	struct pos_keyfile *disk = pos_calloc(1, sizeof(*disk));
	if (!disk)
		return dfd;
	memcpy(disk->path, kf->path, sizeof(disk->path));
	disk->have_master = kf->have_master;
	memcpy(disk->master, kf->master, sizeof(disk->master));
	struct pos_error err;
	pos_error_clear(&err);
	if (load(disk, &err) == POS_OK) {
		for (size_t i = 0; i < disk->n && kf->n < MAX_KEYS; i++)
			if (!find(kf, disk->keys[i].name))
				kf->keys[kf->n++] = disk->keys[i];
	}
	pos_wipe(disk, sizeof(*disk));
	pos_free(disk);
	return dfd;
}

static void unlock(int dfd)
{
	if (dfd >= 0) {
		flock(dfd, LOCK_UN);
		close(dfd);
	}
}

/* Adds (name, key) and saves; with key NULL, random bytes. A copy of
 * `name` another process saved meanwhile wins. Lock held. */
static enum pos_err add(struct pos_keyfile *kf, const char *name, const uint8_t *key,
			size_t len)
{
	int dfd = lock_and_merge(kf);
	enum pos_err rc = POS_OK;
	if (find(kf, name))
		goto out;
	if (kf->n >= MAX_KEYS) {
		rc = POS_ERR_INVALID_REQUEST;
		goto out;
	}
	struct kf_entry *e = &kf->keys[kf->n];
	memcpy(e->name, name, strlen(name) + 1);
	e->len = len;
	if (key)
		memcpy(e->key, key, len);
	else
		pos_random(e->key, len);
	kf->n++;
	rc = save(kf);
	if (rc) {
		kf->n--;
		pos_wipe(e, sizeof(*e));
	}
out:
	unlock(dfd);
	return rc;
}

static bool valid(const char *name, size_t len)
{
	return name && name[0] && strlen(name) <= NAME_MAX_LEN && len > 0 &&
	       len <= POS_KEYFILE_KEY_MAX;
}

enum pos_err pos_keyfile_get(struct pos_keyfile *kf, const char *name,
			     uint8_t *key, size_t len)
{
	if (!valid(name, len))
		return POS_ERR_INVALID_REQUEST;
	pthread_mutex_lock(&kf->lock);
	enum pos_err rc = POS_OK;
	struct kf_entry *e = find(kf, name);
	if (!e) {
		rc = add(kf, name, NULL, len);
		e = rc ? NULL : find(kf, name);
	}
	if (e && e->len != len) {
		pos_error_log("keys: server key %s has the wrong size", name);
		rc = POS_ERR_CORRUPT;
	} else if (e) {
		memcpy(key, e->key, len);
	}
	pthread_mutex_unlock(&kf->lock);
	return rc;
}

enum pos_err pos_keyfile_adopt(struct pos_keyfile *kf, const char *name,
			       const uint8_t *key, size_t len)
{
	if (!valid(name, len))
		return POS_ERR_INVALID_REQUEST;
	pthread_mutex_lock(&kf->lock);
	enum pos_err rc = find(kf, name) ? POS_OK : add(kf, name, key, len);
	pthread_mutex_unlock(&kf->lock);
	return rc;
}

enum pos_err pos_keyfile_each(struct pos_keyfile *kf,
			      enum pos_err (*fn)(void *ctx, const char *name,
						 const uint8_t *key, size_t len),
			      void *ctx)
{
	enum pos_err rc = POS_OK;
	pthread_mutex_lock(&kf->lock);
	for (size_t i = 0; i < kf->n && !rc; i++)
		rc = fn(ctx, kf->keys[i].name, kf->keys[i].key, kf->keys[i].len);
	pthread_mutex_unlock(&kf->lock);
	return rc;
}

void pos_keyfile_close(struct pos_keyfile *kf)
{
	if (!kf)
		return;
	pthread_mutex_destroy(&kf->lock);
	pos_wipe(kf, sizeof(*kf));
	pos_free(kf);
}
