/*
 * crypt_values.c — the encryption layer (crypt_store.h) for values stored
 * beside memory rows: a sealed user's conversation titles and message
 * texts (the assistant) and plugins' kv values and log lines. Split from
 * crypt_store.c; crypt_store_internal.h is what they share.
 */
#include "store/crypt_store_internal.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/log.h"
#include "crypto/crypto.h"

/* ---- conversations and messages (the assistant) ----
 *
 * A sealed user's conversation titles and message texts are stored as
 * "enc1:" + base64url(sealed), AD "c|<conversation id>|<user>" for a
 * title and "t|<message id>|<user>" for a message: the same key as rows,
 * bound to their own ids. Memory ids, roles and times stay plain (as for
 * memories). Locked: POS_ERR_LOCKED, as for every read of plaintext.
 */

#define ENC_PREFIX "enc1:"

static const char *seal_text(const struct pos_userkeys *k, struct pos_arena *a,
			     char kind, const char *id, const char *user_id, const char *text)
{
	size_t n = strlen(text);
	uint8_t *ct = pos_malloc(n + POS_SEAL_OVERHEAD);
	size_t cap = sizeof(ENC_PREFIX) + pos_b64_len(n + POS_SEAL_OVERHEAD) + 1;
	char *out = pos_arena_alloc(a, cap);
	if (!ct || !out) {
		pos_free(ct);
		return NULL;
	}
	char ad[128];
	size_t adl = cs_make_ad(ad, sizeof(ad), kind, id, user_id);
	pos_seal(k->enc, ad, adl, text, n, ct);
	memcpy(out, ENC_PREFIX, sizeof(ENC_PREFIX) - 1);
	pos_b64_encode(out + sizeof(ENC_PREFIX) - 1, cap - (sizeof(ENC_PREFIX) - 1), ct,
		       n + POS_SEAL_OVERHEAD);
	pos_free(ct);
	return out;
}

/* Opens a stored text; plain text (written before encryption) passes. */
static enum pos_err open_text(const struct pos_userkeys *k, struct pos_arena *a,
			      char kind, const char *id, const char *user_id, const char **text)
{
	const char *s = *text;
	size_t pl = sizeof(ENC_PREFIX) - 1;
	if (!s || strncmp(s, ENC_PREFIX, pl) != 0)
		return POS_OK;
	size_t n = strlen(s + pl);
	uint8_t *ct = pos_arena_alloc(a, n + 1);
	if (!ct)
		return POS_ERR_NOMEM;
	long cl = pos_b64_decode(ct, n + 1, s + pl, n);
	if (cl < (long)POS_SEAL_OVERHEAD)
		return POS_ERR_DECRYPT;
	char *pt = pos_arena_alloc(a, (size_t)cl - POS_SEAL_OVERHEAD + 1);
	if (!pt)
		return POS_ERR_NOMEM;
	char ad[128];
	size_t adl = cs_make_ad(ad, sizeof(ad), kind, id, user_id);
	if (pos_unseal(k->enc, ad, adl, ct, (size_t)cl, (uint8_t *)pt))
		return POS_ERR_DECRYPT;
	pt[cl - POS_SEAL_OVERHEAD] = '\0';
	*text = pt;
	return POS_OK;
}

enum pos_err cs_chat_append(struct pos_store *s, const struct pos_conversation *conv,
				   bool create, const struct pos_chat_message *msgs, size_t n)
{
	struct pos_userkeys k;
	bool sealed;
	enum pos_err rc = cs_user_keys(s, conv->user_id, &k, &sealed);
	if (rc || !sealed)
		return rc ? rc : INOPS(s)->chat->chat_append(IN(s), conv, create, msgs, n);
	struct pos_arena *a = pos_arena_new();
	struct pos_chat_message *m = a ? pos_arena_alloc(a, (n + 1) * sizeof(*m)) : NULL;
	struct pos_conversation c = *conv;
	if (!m)
		rc = POS_ERR_NOMEM;
	if (!rc && create &&
	    !(c.title = seal_text(&k, a, 'c', conv->id, conv->user_id, conv->title)))
		rc = POS_ERR_NOMEM;
	for (size_t i = 0; !rc && i < n; i++) {
		m[i] = msgs[i];
		if (!(m[i].content = seal_text(&k, a, 't', msgs[i].id, conv->user_id,
					       msgs[i].content)))
			rc = POS_ERR_NOMEM;
	}
	if (!rc)
		rc = INOPS(s)->chat->chat_append(IN(s), &c, create, m, n);
	pos_wipe(&k, sizeof(k));
	pos_arena_destroy(a);
	return rc;
}

static enum pos_err open_convs(struct pos_store *s, struct pos_arena *a, const char *user_id,
			       struct pos_conversation *c, size_t n)
{
	struct pos_userkeys k;
	bool sealed;
	enum pos_err rc = cs_user_keys(s, user_id, &k, &sealed);
	for (size_t i = 0; !rc && sealed && i < n; i++)
		if ((rc = open_text(&k, a, 'c', c[i].id, user_id, &c[i].title)) == POS_ERR_DECRYPT)
			pos_error_log("crypt: conversation %s failed authentication", c[i].id);
	pos_wipe(&k, sizeof(k));
	return rc;
}

enum pos_err cs_conversation_get(struct pos_store *s, struct pos_arena *a,
					const char *user_id, const char *id,
					struct pos_conversation *out)
{
	enum pos_err rc = INOPS(s)->chat->conversation_get(IN(s), a, user_id, id, out);
	return rc ? rc : open_convs(s, a, user_id, out, 1);
}

enum pos_err cs_conversation_list(struct pos_store *s, struct pos_arena *a,
					 const char *user_id, unsigned limit, unsigned offset,
					 struct pos_conversation **out, size_t *n, int64_t *total)
{
	enum pos_err rc = INOPS(s)->chat->conversation_list(IN(s), a, user_id, limit, offset,
						       out, n, total);
	return rc ? rc : open_convs(s, a, user_id, *out, *n);
}

enum pos_err cs_messages_list(struct pos_store *s, struct pos_arena *a,
				     const char *user_id, const char *conversation_id,
				     unsigned limit, struct pos_chat_message **out, size_t *n)
{
	enum pos_err rc = INOPS(s)->chat->messages_list(IN(s), a, user_id, conversation_id,
						  limit, out, n);
	if (rc)
		return rc;
	struct pos_userkeys k;
	bool sealed;
	rc = cs_user_keys(s, user_id, &k, &sealed);
	for (size_t i = 0; !rc && sealed && i < *n; i++)
		if ((rc = open_text(&k, a, 't', (*out)[i].id, user_id, &(*out)[i].content)) ==
		    POS_ERR_DECRYPT)
			pos_error_log("crypt: message %s failed authentication", (*out)[i].id);
	pos_wipe(&k, sizeof(k));
	return rc;
}

/* ---- plugins' kv values and log lines (docs/PLUGINS.md) ----
 *
 * For a sealed user a plugin's kv value is stored as "enc1:" +
 * base64url(seal(value)) with AD "k|<plugin>|<key>|<user>", a log line's
 * message the same way with AD "l|<plugin>|<user>": a value cannot be
 * moved to another key, plugin or user. Keys, levels, times and the
 * installs stay plain. The kv quota counts the stored (sealed) bytes.
 * Values written before encryption was turned on pass as they are.
 */

static size_t plugin_ad(char *ad, size_t cap, char kind, const char *plugin, const char *key,
			const char *user_id)
{
	int n = key ? snprintf(ad, cap, "%c|%s|%s|%s", kind, plugin, key, user_id)
		    : snprintf(ad, cap, "%c|%s|%s", kind, plugin, user_id);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* "enc1:" + base64url of the sealed bytes, NUL-terminated, in the arena. */
static const char *seal_bytes(const struct pos_userkeys *k, struct pos_arena *a, const char *ad,
			      size_t adl, const char *pt, size_t n, size_t *out_len)
{
	uint8_t *ct = pos_malloc(n + POS_SEAL_OVERHEAD);
	size_t cap = sizeof(ENC_PREFIX) + pos_b64_len(n + POS_SEAL_OVERHEAD) + 1;
	char *out = pos_arena_alloc(a, cap);
	if (!ct || !out) {
		pos_free(ct);
		return NULL;
	}
	pos_seal(k->enc, ad, adl, pt, n, ct);
	memcpy(out, ENC_PREFIX, sizeof(ENC_PREFIX) - 1);
	pos_b64_encode(out + sizeof(ENC_PREFIX) - 1, cap - (sizeof(ENC_PREFIX) - 1), ct,
		       n + POS_SEAL_OVERHEAD);
	pos_free(ct);
	*out_len = strlen(out);
	return out;
}

/* Opens *text (*len bytes) in place when sealed; plain text passes. */
static enum pos_err open_bytes(const struct pos_userkeys *k, struct pos_arena *a, const char *ad,
			       size_t adl, const char **text, size_t *len)
{
	const char *s = *text;
	size_t pl = sizeof(ENC_PREFIX) - 1;
	if (!s || *len < pl || strncmp(s, ENC_PREFIX, pl) != 0)
		return POS_OK;
	size_t n = *len - pl;
	uint8_t *ct = pos_arena_alloc(a, n + 1);
	if (!ct)
		return POS_ERR_NOMEM;
	long cl = pos_b64_decode(ct, n + 1, s + pl, n);
	if (cl < (long)POS_SEAL_OVERHEAD)
		return POS_ERR_DECRYPT;
	char *pt = pos_arena_alloc(a, (size_t)cl - POS_SEAL_OVERHEAD + 1);
	if (!pt)
		return POS_ERR_NOMEM;
	if (pos_unseal(k->enc, ad, adl, ct, (size_t)cl, (uint8_t *)pt))
		return POS_ERR_DECRYPT;
	pt[cl - POS_SEAL_OVERHEAD] = '\0';
	*text = pt;
	*len = (size_t)cl - POS_SEAL_OVERHEAD;
	return POS_OK;
}

/* The encryption pass's rewrite: a plain value or line gets sealed with
 * the AD a write would have used; a sealed one is left alone. */
static bool seal_plain(void *ctx, struct pos_arena *a, char kind, const char *plugin_id,
		       const char *key, const char *text, size_t len, const char **out,
		       size_t *out_len)
{
	const struct pos_userkeys *k = ((const void *const *)ctx)[0];
	const char *user_id = ((const void *const *)ctx)[1];
	size_t pl = sizeof(ENC_PREFIX) - 1;
	if (len >= pl && strncmp(text, ENC_PREFIX, pl) == 0)
		return false;
	char ad[POS_UUID_SIZE + 512];
	size_t adl = plugin_ad(ad, sizeof(ad), kind, plugin_id, kind == 'k' ? key : NULL, user_id);
	return adl && (*out = seal_bytes(k, a, ad, adl, text, len, out_len)) != NULL;
}

enum pos_err pos_crypt_seal_plugin_data(struct pos_store *s, const struct pos_userkeys *k,
					const char *user_id, size_t *sealed)
{
	const void *ctx[2] = {k, user_id};
	*sealed = 0;
	return INOPS(s)->plugins->plugin_data_rewrite
		       ? INOPS(s)->plugins->plugin_data_rewrite(IN(s), user_id, seal_plain, ctx, sealed)
		       : POS_OK;
}

enum pos_err cs_plugin_kv_get(struct pos_store *s, struct pos_arena *a, const char *user_id,
				     const char *plugin_id, const char *key, const char **value,
				     size_t *len)
{
	enum pos_err rc = INOPS(s)->plugins->plugin_kv_get(IN(s), a, user_id, plugin_id, key,
							 value, len);
	if (rc || !*value)
		return rc;
	struct pos_userkeys k;
	bool sealed;
	if ((rc = cs_user_keys(s, user_id, &k, &sealed)) || !sealed)
		return rc;
	char ad[512];
	size_t adl = plugin_ad(ad, sizeof(ad), 'k', plugin_id, key, user_id);
	rc = adl ? open_bytes(&k, a, ad, adl, value, len) : POS_ERR_INVALID_FIELD;
	if (rc == POS_ERR_DECRYPT)
		pos_error_log("crypt: a kv value of plugin %s failed authentication", plugin_id);
	pos_wipe(&k, sizeof(k));
	return rc;
}

enum pos_err cs_plugin_kv_put(struct pos_store *s, const char *user_id,
				     const char *plugin_id, const char *key, const char *value,
				     size_t len, size_t quota)
{
	struct pos_userkeys k;
	bool sealed = false;
	enum pos_err rc = value ? cs_user_keys(s, user_id, &k, &sealed) : POS_OK;
	if (rc || !sealed)
		return rc ? rc
			  : INOPS(s)->plugins->plugin_kv_put(IN(s), user_id, plugin_id, key, value,
							     len, quota);
	char ad[512];
	size_t adl = plugin_ad(ad, sizeof(ad), 'k', plugin_id, key, user_id);
	struct pos_arena *a = pos_arena_new();
	size_t sl = 0;
	const char *sv = a && adl ? seal_bytes(&k, a, ad, adl, value, len, &sl) : NULL;
	rc = sv ? INOPS(s)->plugins->plugin_kv_put(IN(s), user_id, plugin_id, key, sv, sl, quota)
		: adl ? POS_ERR_NOMEM : POS_ERR_INVALID_FIELD;
	pos_wipe(&k, sizeof(k));
	pos_arena_destroy(a);
	return rc;
}

enum pos_err cs_plugin_log_add(struct pos_store *s, const char *user_id,
				      const char *plugin_id, const char *level, const char *msg,
				      size_t len, int64_t now, unsigned keep)
{
	struct pos_userkeys k;
	bool sealed;
	enum pos_err rc = cs_user_keys(s, user_id, &k, &sealed);
	if (rc || !sealed)
		return rc ? rc
			  : INOPS(s)->plugins->plugin_log_add(IN(s), user_id, plugin_id, level, msg,
							      len, now, keep);
	char ad[512];
	size_t adl = plugin_ad(ad, sizeof(ad), 'l', plugin_id, NULL, user_id);
	struct pos_arena *a = pos_arena_new();
	size_t sl = 0;
	const char *sv = a && adl ? seal_bytes(&k, a, ad, adl, msg, len, &sl) : NULL;
	rc = sv ? INOPS(s)->plugins->plugin_log_add(IN(s), user_id, plugin_id, level, sv, sl, now,
						    keep)
		: adl ? POS_ERR_NOMEM : POS_ERR_INVALID_FIELD;
	pos_wipe(&k, sizeof(k));
	pos_arena_destroy(a);
	return rc;
}

enum pos_err cs_plugin_log_list(struct pos_store *s, struct pos_arena *a,
				       const char *user_id, const char *plugin_id, unsigned limit,
				       struct pos_plugin_log **out, size_t *n)
{
	enum pos_err rc = INOPS(s)->plugins->plugin_log_list(IN(s), a, user_id, plugin_id, limit,
							   out, n);
	if (rc || !*n)
		return rc;
	struct pos_userkeys k;
	bool sealed;
	if ((rc = cs_user_keys(s, user_id, &k, &sealed)) || !sealed)
		return rc;
	char ad[512];
	size_t adl = plugin_ad(ad, sizeof(ad), 'l', plugin_id, NULL, user_id);
	for (size_t i = 0; !rc && i < *n; i++) {
		size_t ml = (*out)[i].message ? strlen((*out)[i].message) : 0;
		rc = adl ? open_bytes(&k, a, ad, adl, &(*out)[i].message, &ml) : POS_ERR_INVALID_FIELD;
		if (rc == POS_ERR_DECRYPT)
			pos_error_log("crypt: a log line of plugin %s failed authentication", plugin_id);
	}
	pos_wipe(&k, sizeof(k));
	return rc;
}

