/*
 * crypt_store.h — encryption at rest as a store decorator
 * (docs/ENCRYPTION.md).
 *
 * pos_crypt_store_new wraps a backend: every operation passes through,
 * except those that read or write an encrypted user's plaintext, which
 * seal on the way down and open on the way up with the user's keys from
 * the keyring. Services above see plaintext memories exactly as before;
 * the backend sees only ciphertext and keyed-hash tokens:
 *
 *   content  → the sealed row (with tags, metadata, attachments), AD "m|<id>"
 *   content column, context column → keyed-hash tokens of the FTS terms
 *   tags column → token strings of each tag's terms; tag index → tag hashes
 *   thread key → its keyed hash; vector → sealed (scale + q), AD "v|<id>"
 *
 * A sealed user whose key is not in the keyring gets POS_ERR_LOCKED from
 * every operation that needs plaintext (deletes and counts still work). A
 * row whose ciphertext fails authentication is POS_ERR_DECRYPT for a get and
 * is left out (and logged by id) of lists and searches.
 *
 * Thread-safety: as the wrapped store; the keyring is thread-safe.
 */
#ifndef POS_STORE_CRYPT_STORE_H
#define POS_STORE_CRYPT_STORE_H

#include "crypto/keyring.h"
#include "store/store.h"

/* Installs the layer over `inner` (its ops table is replaced; closing the
 * store frees the layer too) and sets *out = inner. `kr` is borrowed and
 * must outlive the store. POS_ERR_NOMEM on OOM. */
enum pos_err pos_crypt_store_new(struct pos_store *inner, struct pos_keyring *kr,
				 struct pos_store **out);

/*
 * Turns a plaintext memory `m` (as a service would insert it) into its
 * stored, sealed form in place; new strings come from `a`. `m->context`
 * is plaintext on entry. Used by inserts and by the background pass.
 */
enum pos_err pos_crypt_seal_memory(struct pos_store *s, const struct pos_userkeys *k,
				   struct pos_arena *a, struct pos_memory *m);

/*
 * Seals the user's plugin kv values and log lines still stored in
 * plaintext (written before encryption was turned on), as a write would
 * have (docs/PLUGINS.md); *sealed counts them. For the background pass.
 */
enum pos_err pos_crypt_seal_plugin_data(struct pos_store *s, const struct pos_userkeys *k,
					const char *user_id, size_t *sealed);

/*
 * Whether `user_id`'s data is sealed (*sealed), and then their keys in *k
 * (the caller wipes them): POS_ERR_LOCKED when sealed and not unlocked,
 * POS_ERR_STORE when the state cannot be read. A store without the layer
 * is never sealed. For other kinds of user data (files/, issue 21).
 */
enum pos_err pos_crypt_store_user_keys(struct pos_store *s, const char *user_id,
				       struct pos_userkeys *k, bool *sealed);

#endif
