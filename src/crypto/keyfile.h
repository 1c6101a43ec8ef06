/*
 * keyfile.h — the server's own secrets (the access-token MAC key, the
 * sync-secrets key, ...) in a key file beside the database, never in it:
 * a copy of the database alone (a backup, a leaked file, a file read
 * through some bug) then holds no key that forges tokens or opens sealed
 * secrets (docs/SECURITY.md, "Keys and file permissions").
 *
 * The file is small JSON, mode 0600, replaced atomically (write a
 * temporary file, fsync, rename, fsync the directory):
 *   {"format":"personalos-keys","version":1,"keys":{"name":"<base64>",...}}
 * With a master key (the operator's `master_key_file`), the same JSON is
 * sealed (XChaCha20-Poly1305 under BLAKE2b(master secret)) and the file
 * reads {"format":"personalos-keys","version":1,"sealed":"<base64>"}. A
 * plain file is sealed on its first save once a master key is given.
 *
 * Thread-safety: every function may be called from any thread after
 * pos_keyfile_open; pos_keyfile_close must run alone. Several processes
 * (the server and `personalos user add`) may share one file: adding a key
 * takes an flock on the directory and merges what the others saved.
 */
#ifndef POS_CRYPTO_KEYFILE_H
#define POS_CRYPTO_KEYFILE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define POS_KEYFILE_NAME "keys"     /* in the data directory */
#define POS_KEYFILE_KEY_MAX 64      /* bytes of one key */
#define POS_KEYFILE_MASTER_MIN 32   /* bytes of secret a master key file needs */

struct pos_keyfile;

/*
 * Loads the key file at `path` (absent: no keys yet; created on the first
 * save). `master_key_file` NULL or "" means no master key. Makes an
 * existing key file 0600. Errors (in `err`): POS_ERR_IO (unreadable),
 * POS_ERR_USAGE (master key file missing or shorter than
 * POS_KEYFILE_MASTER_MIN bytes; a sealed key file and no master key),
 * POS_ERR_DECRYPT (the master key does not open the file), POS_ERR_CORRUPT
 * (not a key file), POS_ERR_NOMEM. On success the caller owns *out.
 */
enum pos_err pos_keyfile_open(const char *path, const char *master_key_file,
			      struct pos_keyfile **out, struct pos_error *err);

/*
 * Copies key `name` (`len` bytes, 1..POS_KEYFILE_KEY_MAX) into `key`,
 * creating it from random bytes and saving the file first when absent.
 * POS_ERR_CORRUPT when the file holds `name` with another length,
 * POS_ERR_IO when the file cannot be written, POS_ERR_INVALID_REQUEST on a
 * bad name or length.
 */
enum pos_err pos_keyfile_get(struct pos_keyfile *kf, const char *name,
			     uint8_t *key, size_t len);

/*
 * Adds key `name` with the given bytes and saves, unless the file already
 * holds `name` (then the file's value stays and the call succeeds: a move
 * from an older layout that was interrupted after the save). Used once, to
 * move keys out of the database.
 */
enum pos_err pos_keyfile_adopt(struct pos_keyfile *kf, const char *name,
			       const uint8_t *key, size_t len);

/*
 * Calls fn for every key the file holds, in file order, under the lock
 * (fn must not call back into `kf`); stops at the first error fn returns
 * and returns it. The key bytes are borrowed for the call. Used by
 * `personalos migrate` to carry the server keys to another store.
 */
enum pos_err pos_keyfile_each(struct pos_keyfile *kf,
			      enum pos_err (*fn)(void *ctx, const char *name,
						 const uint8_t *key, size_t len),
			      void *ctx);

/*
 * The master key: BLAKE2b of the secret in `master_key_file` (a trailing
 * newline is not part of it), the key a key file is sealed under. Also
 * used by the PostgreSQL store to seal the server keys it keeps in the
 * database. Errors as pos_keyfile_open's (POS_ERR_USAGE, "master_key_file").
 */
enum pos_err pos_keyfile_master(const char *master_key_file, uint8_t out[32],
				struct pos_error *err);

/* Wipes the keys and frees `kf` (NULL is fine). */
void pos_keyfile_close(struct pos_keyfile *kf);

#endif
