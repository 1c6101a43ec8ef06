/*
 * crypt_store_internal.h — what the encryption layer's files share:
 * crypt_store.c (memory rows, vectors, shares, installing the layer) and
 * crypt_values.c (sealed values beside the rows: conversation titles and
 * messages, plugins' kv values and log lines). Not a public interface.
 */
#ifndef POS_STORE_CRYPT_STORE_INTERNAL_H
#define POS_STORE_CRYPT_STORE_INTERNAL_H

#include "store/crypt_store.h"

/*
 * The layer is installed in the backend's own handle: for the domains it
 * overrides (core, memories, chat, shares, keys, plugins) the handle points at a
 * copy of the backend's table with some entries replaced, and s->crypt at
 * this struct. Every other operation and domain (also ones added later)
 * reaches the backend unchanged, with its own handle.
 */
struct cstore {
	struct pos_store orig;             /* the backend's own tables */
	struct pos_store_ops ops;          /* copies with overrides */
	struct pos_store_memories memories;
	struct pos_store_chat chat;
	struct pos_store_shares shares;
	struct pos_store_keys keys;
	struct pos_store_plugins plugins;
	struct pos_keyring *kr;
};

#define CS(s) ((struct cstore *)(s)->crypt)
#define IN(s) (s)
#define INOPS(s) (&CS(s)->orig)

/* The user's keys when their data is sealed and unlocked (see crypt_store.c). */
enum pos_err cs_user_keys(struct pos_store *s, const char *user_id,
		struct pos_userkeys *k, bool *sealed);
/* The associated data binding a sealed value to its kind, id and user. */
size_t cs_make_ad(char *ad, size_t cap, char kind, const char *id, const char *user_id);

/* crypt_values.c: the chat and plugins overrides. */
enum pos_err cs_chat_append(struct pos_store *s, const struct pos_conversation *conv,
		bool create, const struct pos_chat_message *msgs, size_t n);
enum pos_err cs_conversation_get(struct pos_store *s, struct pos_arena *a,
		const char *user_id, const char *id,
		struct pos_conversation *out);
enum pos_err cs_conversation_list(struct pos_store *s, struct pos_arena *a,
		const char *user_id, unsigned limit, unsigned offset,
		struct pos_conversation **out, size_t *n, int64_t *total);
enum pos_err cs_messages_list(struct pos_store *s, struct pos_arena *a,
		const char *user_id, const char *conversation_id,
		unsigned limit, struct pos_chat_message **out, size_t *n);
enum pos_err cs_plugin_kv_get(struct pos_store *s, struct pos_arena *a, const char *user_id,
		const char *plugin_id, const char *key, const char **value,
		size_t *len);
enum pos_err cs_plugin_kv_put(struct pos_store *s, const char *user_id,
		const char *plugin_id, const char *key, const char *value,
		size_t len, size_t quota);
enum pos_err cs_plugin_log_add(struct pos_store *s, const char *user_id,
		const char *plugin_id, const char *level, const char *msg,
		size_t len, int64_t now, unsigned keep);
enum pos_err cs_plugin_log_list(struct pos_store *s, struct pos_arena *a,
		const char *user_id, const char *plugin_id, unsigned limit,
		struct pos_plugin_log **out, size_t *n);

#endif
