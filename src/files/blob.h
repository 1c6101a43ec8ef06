/*
 * blob.h — the content-addressed blob store of attachments (issue 21):
 * files under <data>/blobs/<user id>/<hh>/<hash>, written atomically (a
 * temporary file in the user's folder, fsync, rename, fsync of the folder)
 * and deduplicated per user: storing bytes the user already has writes
 * nothing.
 *
 * Addresses: for a plain user the unkeyed BLAKE2b-256 of the bytes (hex);
 * for an encrypted user BLAKE2b-256 keyed by a subkey of the user's `tok`
 * key, so the file name says nothing about the content, and the file is
 * sealed with a subkey of the user's `enc` key (struct pos_blob_key, made
 * from the keyring's pos_userkeys by pos_blob_key_derive).
 *
 * Sealed format: "POSB" | version 1 | 24-byte random nonce base | chunks of
 * up to POS_BLOB_CHUNK plaintext bytes, each XChaCha20-Poly1305 with the
 * nonce base XOR the chunk index and associated data (index, last-chunk
 * flag), so a reader can seek and a truncated or reordered file fails to
 * open (POS_ERR_DECRYPT). An empty blob is one empty last chunk.
 *
 * Garbage collection is the caller's (the files service knows which blobs
 * rows refer to): pos_blob_remove deletes one blob, pos_blob_sweep_tmp the
 * temporary files a crash left behind.
 *
 * Thread-safety: no shared mutable state; concurrent puts of the same bytes
 * both succeed (the rename of identical content is idempotent).
 */
#ifndef POS_FILES_BLOB_H
#define POS_FILES_BLOB_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "crypto/keyring.h"

#define POS_BLOB_HASH_HEX 65 /* 64 hex digits and the NUL */
#define POS_BLOB_CHUNK 65536

struct pos_blobs {
	char dir[PATH_MAX]; /* <data>/blobs */
};

/* The keys of one encrypted user's blobs; wipe with pos_wipe after use. */
struct pos_blob_key {
	uint8_t enc[32];
	uint8_t id[32];
};

void pos_blob_key_derive(const struct pos_userkeys *k, struct pos_blob_key *out);

/* Sets up the store under `data_dir`/blobs (made 0700 if missing).
 * POS_ERR_IO with `err` set when it cannot. */
enum pos_err pos_blobs_init(struct pos_blobs *b, const char *data_dir,
			    struct pos_error *err);

/* True when `hex` has the shape of an address (64 lower-case hex digits). */
bool pos_blob_hash_valid(const char *hex);

/*
 * Stores `len` bytes read from `fd` at offset `off` (pread: the fd's offset
 * is not used) as a blob of `user_id`, sealed when `key` is not NULL.
 * Writes the address into `hash`, and *created tells whether a new file was
 * written (false: the user had these bytes already). POS_ERR_IO on a read
 * or write failure (short input included); nothing is left behind.
 */
enum pos_err pos_blob_put_fd(const struct pos_blobs *b, const char *user_id,
			     const struct pos_blob_key *key, int fd, uint64_t off,
			     uint64_t len, char hash[POS_BLOB_HASH_HEX], bool *created);
/* The same from memory. */
enum pos_err pos_blob_put_mem(const struct pos_blobs *b, const char *user_id,
			      const struct pos_blob_key *key, const void *data,
			      size_t len, char hash[POS_BLOB_HASH_HEX], bool *created);

/*
 * Copies the user's plain blob `plain_hash` into a sealed blob under `key`
 * (streamed, never whole in memory): its address into `hash`, the size
 * into *size, *created as for pos_blob_put_fd. The plain file is left for
 * the caller to remove. POS_ERR_NOT_FOUND when there is no such blob,
 * POS_ERR_IO.
 */
enum pos_err pos_blob_reseal(const struct pos_blobs *b, const char *user_id,
			     const char *plain_hash, const struct pos_blob_key *key,
			     char hash[POS_BLOB_HASH_HEX], uint64_t *size, bool *created);

/* An open blob: read it from any offset. */
struct pos_blob_reader;

/*
 * Opens the user's blob `hash` (sealed when `key` is given). *size gets the
 * plaintext size. POS_ERR_NOT_FOUND when there is no such blob,
 * POS_ERR_DECRYPT when its sealed form is not intact, POS_ERR_NOMEM.
 */
enum pos_err pos_blob_open(const struct pos_blobs *b, const char *user_id,
			   const struct pos_blob_key *key, const char *hash,
			   struct pos_blob_reader **out, uint64_t *size);
/* Reads up to `n` bytes at plaintext offset `off`; *got is 0 at the end.
 * POS_ERR_IO, POS_ERR_DECRYPT (a chunk fails authentication). */
enum pos_err pos_blob_read(struct pos_blob_reader *rd, uint64_t off, void *buf,
			   size_t n, size_t *got);
/* Closes; NULL is fine. */
void pos_blob_close(struct pos_blob_reader *rd);

/* Deletes the user's blob file; POS_OK when it was already gone. */
enum pos_err pos_blob_remove(const struct pos_blobs *b, const char *user_id,
			     const char *hash);
/* Deletes the whole folder of a user (account deletion). */
enum pos_err pos_blob_remove_user(const struct pos_blobs *b, const char *user_id);
/* Bytes a blob takes on disk (sealed size for sealed blobs); -1 if none. */
int64_t pos_blob_disk_size(const struct pos_blobs *b, const char *user_id,
			   const char *hash);

/*
 * Backups (personalos backup / restore, issue 21). The tree under a blobs
 * folder is <user id>/<hh>/<62 hex digits>; anything else there (the
 * ".tmp-*" files of puts in flight, stray names) is not a blob.
 *
 * pos_blob_copy_tree copies every blob file of the folder `from` into the
 * folder `to` (created 0700, it must not exist yet): each file written,
 * fsync'd, and each folder fsync'd, never a hard link. A blob that
 * disappears while the copy runs (collected) is skipped. *copied counts the
 * files and *bytes their bytes. POS_ERR_CONFLICT when `to` exists,
 * POS_ERR_NO_SPACE, POS_ERR_IO with `err` set.
 */
enum pos_err pos_blob_copy_tree(const char *from, const char *to, uint64_t *copied,
				uint64_t *bytes, struct pos_error *err);
/* Deletes a folder made by pos_blob_copy_tree (its blob layout only: other
 * names are left, and then the folder too). */
void pos_blob_remove_tree(const char *dir);
/* The bytes on disk of a blob of `plain` bytes, sealed or not. */
uint64_t pos_blob_stored_size(uint64_t plain, bool sealed);

#endif
