/*
 * crypt_store.c — the encryption-at-rest store decorator (see
 * crypt_store.h for the mapping from plaintext to what is stored).
 */
#include "store/crypt_store.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/log.h"
#include "crypto/crypto.h"

#include "store/crypt_store_internal.h"

/* ---- user state and keys ---- */

static enum pos_keystate user_state(struct pos_store *s, const char *user_id)
{
	enum pos_keystate st = pos_keyring_state(CS(s)->kr, user_id);
	if (st != POS_KEYSTATE_UNKNOWN)
		return st;
	struct pos_arena *a = pos_arena_new();
	if (!a)
		return POS_KEYSTATE_UNKNOWN;
	struct pos_user_crypt uc;
	enum pos_err rc = INOPS(s)->keys->crypt_get(IN(s), a, user_id, &uc);
	if (rc == POS_OK) {
		st = strcmp(uc.state, "off") == 0 ? POS_KEYSTATE_PLAIN
		     : strcmp(uc.state, "on") == 0 ? POS_KEYSTATE_SEALED
						    : POS_KEYSTATE_SEALING;
		pos_keyring_set_state(CS(s)->kr, user_id, st);
	} else if (rc == POS_ERR_NOT_FOUND) {
		st = POS_KEYSTATE_PLAIN; /* no such user: nothing to seal */
	}
	/* else UNKNOWN: a store failure; callers fail rather than guess */
	pos_arena_destroy(a);
	return st;
}

/*
 * For a sealed user: copies the keys into *k and sets *sealed, or returns
 * POS_ERR_LOCKED. For a plain user: *sealed false, POS_OK.
 */
enum pos_err cs_user_keys(struct pos_store *s, const char *user_id,
			      struct pos_userkeys *k, bool *sealed)
{
	enum pos_keystate st = user_state(s, user_id);
	*sealed = st != POS_KEYSTATE_PLAIN;
	if (st == POS_KEYSTATE_UNKNOWN)
		return POS_ERR_STORE;
	if (!*sealed)
		return POS_OK;
	return pos_keyring_get_arriving(CS(s)->kr, user_id, k) ? POS_OK : POS_ERR_LOCKED;
}

enum pos_err pos_crypt_store_user_keys(struct pos_store *s, const char *user_id,
				       struct pos_userkeys *k, bool *sealed)
{
	if (!s->crypt) {
		*sealed = false;
		return POS_OK;
	}
	return cs_user_keys(s, user_id, k, sealed);
}

/* ---- tokens ---- */

struct tokbuf {
	const struct pos_userkeys *k;
	struct pos_buf *b;
	enum pos_err rc;
};

static void add_token(void *ctx, const char *term, size_t n)
{
	struct tokbuf *t = ctx;
	char h[POS_TOKEN_HEX + 1];
	pos_search_token(t->k->tok, term, n, h);
	if (!t->rc && t->b->len)
		t->rc = pos_buf_addc(t->b, ' ');
	if (!t->rc)
		t->rc = pos_buf_add(t->b, h, POS_TOKEN_HEX);
}

/* The token string of a text's index terms, in the arena ("" for none). */
static enum pos_err tokens_of(struct pos_store *s, const struct pos_userkeys *k,
			      struct pos_arena *a, const char *text, size_t len,
			      const char **out, size_t *out_len)
{
	struct pos_buf b;
	pos_buf_init(&b, (size_t)64 << 20);
	struct tokbuf t = {k, &b, POS_OK};
	enum pos_err rc = s->keys->index_terms(s, text ? text : "", text ? len : 0, add_token, &t);
	if (!rc)
		rc = t.rc;
	*out = NULL;
	if (!rc && !(*out = pos_arena_strndup(a, b.len ? b.data : "", b.len)))
		rc = POS_ERR_NOMEM;
	if (out_len)
		*out_len = b.len;
	pos_buf_free(&b);
	return rc;
}

/* Keyed hash of an exact string in a domain ("tag", "thread"). */
static const char *exact_hash(const struct pos_userkeys *k, struct pos_arena *a,
			      const char *domain, const char *v)
{
	struct pos_buf b;
	pos_buf_init(&b, (size_t)1 << 20);
	char h[POS_TOKEN_HEX + 1];
	if (pos_buf_adds(&b, domain) || pos_buf_addc(&b, '\x1f') || pos_buf_adds(&b, v)) {
		pos_buf_free(&b);
		return NULL;
	}
	pos_search_token(k->tok, b.data, b.len, h);
	pos_buf_free(&b);
	char *r = pos_arena_alloc(a, POS_TOKEN_HEX + 2);
	if (r)
		snprintf(r, POS_TOKEN_HEX + 2, "#%s", h);
	return r;
}

/*
 * Rewrites an FTS5 expression of the shape search/query.c writes (quoted
 * strings, AND/OR/NOT, parentheses) so each string becomes the phrase of
 * its terms' tokens.
 */
static enum pos_err rewrite_match(struct pos_store *s, const struct pos_userkeys *k,
				  struct pos_arena *a, const char *in, const char **out)
{
	*out = NULL;
	if (!in)
		return POS_OK;
	struct pos_buf b, w;
	pos_buf_init(&b, (size_t)16 << 20);
	pos_buf_init(&w, (size_t)1 << 20);
	enum pos_err rc = POS_OK;
	for (const char *p = in; !rc && *p;) {
		if (*p != '"') {
			rc = pos_buf_addc(&b, *p++);
			continue;
		}
		pos_buf_reset(&w);
		for (p++; !rc && *p; p++) {
			if (*p == '"') {
				if (p[1] != '"')
					break;
				p++;
			}
			rc = pos_buf_addc(&w, *p);
		}
		if (*p == '"')
			p++;
		const char *toks = NULL;
		size_t tl = 0;
		if (!rc)
			rc = tokens_of(s, k, a, w.len ? w.data : "", w.len, &toks, &tl);
		if (!rc && tl == 0)
			toks = "0"; /* no term: a token no memory holds */
		if (!rc)
			rc = pos_buf_addc(&b, '"');
		if (!rc)
			rc = pos_buf_adds(&b, toks);
		if (!rc)
			rc = pos_buf_addc(&b, '"');
	}
	if (!rc && !(*out = pos_arena_strndup(a, b.len ? b.data : "", b.len)))
		rc = POS_ERR_NOMEM;
	pos_buf_free(&b);
	pos_buf_free(&w);
	return rc;
}

/* The filters of q for a sealed user: tags hashed, text constraints
 * rewritten. */
static enum pos_err rewrite_query(struct pos_store *s, const struct pos_userkeys *k,
				  struct pos_arena *a, const struct pos_memory_query *q,
				  struct pos_memory_query *out)
{
	*out = *q;
	if (q->n_tags) {
		const char **t = pos_arena_alloc(a, q->n_tags * sizeof(*t));
		if (!t)
			return POS_ERR_NOMEM;
		for (size_t i = 0; i < q->n_tags; i++)
			if (!(t[i] = exact_hash(k, a, "tag", q->tags[i])))
				return POS_ERR_NOMEM;
		out->tags = t;
	}
	enum pos_err rc = rewrite_match(s, k, a, q->fts_require, &out->fts_require);
	if (!rc)
		rc = rewrite_match(s, k, a, q->fts_exclude, &out->fts_exclude);
	return rc;
}

/* ---- sealing rows ---- */

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Associated data of a row or vector: kind, memory id, user id. */
size_t cs_make_ad(char *ad, size_t cap, char kind, const char *id, const char *user_id)
{
	return (size_t)snprintf(ad, cap, "%c|%s|%s", kind, id, user_id);
}

#define N_FIELDS 4 /* content, tags json, metadata json, attachments json */

/* Seals a vector (scale, then q) into the arena: AD "v|id|user". */
static enum pos_err seal_vec(const struct pos_userkeys *k, struct pos_arena *a,
			     const char *id, const char *user_id, const struct pos_vec *v,
			     const uint8_t **out, size_t *out_len)
{
	size_t vl = 4 + (size_t)v->dim;
	uint8_t *vp = pos_malloc(vl);
	uint8_t *vc = pos_arena_alloc(a, vl + POS_SEAL_OVERHEAD);
	if (!vp || !vc) {
		pos_free(vp);
		return POS_ERR_NOMEM;
	}
	memcpy(vp, &v->scale, 4);
	memcpy(vp + 4, v->q, v->dim);
	char ad[128];
	size_t adl = cs_make_ad(ad, sizeof(ad), 'v', id, user_id);
	pos_seal(k->enc, ad, adl, vp, vl, vc);
	pos_wipe(vp, vl);
	pos_free(vp);
	*out = vc;
	*out_len = vl + POS_SEAL_OVERHEAD;
	return POS_OK;
}

enum pos_err pos_crypt_seal_memory(struct pos_store *s, const struct pos_userkeys *k,
				   struct pos_arena *a, struct pos_memory *m)
{
	const char *f[N_FIELDS] = {m->content ? m->content : "",
				   m->tags_json ? m->tags_json : "[]",
				   m->metadata_json ? m->metadata_json : "{}",
				   m->attachments_json ? m->attachments_json : "[]"};
	size_t fl[N_FIELDS] = {m->content ? m->content_len : 0, strlen(f[1]), strlen(f[2]),
			       strlen(f[3])};
	size_t len = 0;
	for (int i = 0; i < N_FIELDS; i++)
		len += 4 + fl[i];
	uint8_t *pt = pos_malloc(len ? len : 1);
	uint8_t *ct = pos_arena_alloc(a, len + POS_SEAL_OVERHEAD);
	if (!pt || !ct) {
		pos_free(pt);
		return POS_ERR_NOMEM;
	}
	size_t o = 0;
	for (int i = 0; i < N_FIELDS; i++) {
		put_u32(pt + o, (uint32_t)fl[i]);
		memcpy(pt + o + 4, f[i], fl[i]);
		o += 4 + fl[i];
	}
	char ad[128];
	size_t adl = cs_make_ad(ad, sizeof(ad), 'm', m->id, m->user_id);
	pos_seal(k->enc, ad, adl, pt, len, ct);
	pos_wipe(pt, len);
	pos_free(pt);

	/* Search tokens in place of text. */
	const char *toks, *ctx = NULL;
	size_t tl;
	enum pos_err rc = tokens_of(s, k, a, m->content, m->content_len, &toks, &tl);
	if (!rc && m->context)
		rc = tokens_of(s, k, a, m->context, strlen(m->context), &ctx, NULL);
	if (rc)
		return rc;
	/* tags: the FTS column gets each tag's term tokens; the tag index an
	 * exact hash per tag */
	struct pos_buf tj;
	pos_buf_init(&tj, (size_t)16 << 20);
	rc = pos_buf_addc(&tj, '[');
	const char **th = pos_arena_alloc(a, (m->n_tags ? m->n_tags : 1) * sizeof(*th));
	if (!th)
		rc = POS_ERR_NOMEM;
	for (size_t i = 0; !rc && i < m->n_tags; i++) {
		const char *t;
		rc = tokens_of(s, k, a, m->tags[i], strlen(m->tags[i]), &t, NULL);
		if (!rc)
			rc = pos_buf_addf(&tj, "%s\"%s\"", i ? "," : "", t);
		if (!rc && !(th[i] = exact_hash(k, a, "tag", m->tags[i])))
			rc = POS_ERR_NOMEM;
	}
	if (!rc)
		rc = pos_buf_addc(&tj, ']');
	const char *tags_json = rc ? NULL : pos_arena_strndup(a, tj.data, tj.len);
	pos_buf_free(&tj);
	if (!rc && !tags_json)
		rc = POS_ERR_NOMEM;
	if (rc)
		return rc;
	if (m->thread && !(m->thread = exact_hash(k, a, "thread", m->thread)))
		return POS_ERR_NOMEM;
	if (m->vec.q &&
	    (rc = seal_vec(k, a, m->id, m->user_id, &m->vec, &m->vec.sealed, &m->vec.sealed_len)))
		return rc;
	m->content = toks;
	m->content_len = tl;
	m->context = ctx;
	m->tags_json = tags_json;
	m->tags = th;
	m->metadata_json = "{}";
	m->attachments_json = "[]";
	m->sealed = ct;
	m->sealed_len = len + POS_SEAL_OVERHEAD;
	m->is_encrypted = true;
	return POS_OK;
}

/* Opens a sealed row read from the store, in place (arena). */
static enum pos_err open_memory(const struct pos_userkeys *k, struct pos_arena *a,
				struct pos_memory *m)
{
	if (!m->is_encrypted)
		return POS_OK;
	if (!m->sealed || m->sealed_len < POS_SEAL_OVERHEAD)
		return POS_ERR_DECRYPT;
	size_t len = m->sealed_len - POS_SEAL_OVERHEAD;
	uint8_t *pt = pos_arena_alloc(a, len + 1);
	if (!pt)
		return POS_ERR_NOMEM;
	char ad[128];
	size_t adl = cs_make_ad(ad, sizeof(ad), 'm', m->id, m->user_id);
	if (pos_unseal(k->enc, ad, adl, m->sealed, m->sealed_len, pt))
		return POS_ERR_DECRYPT;
	const char *f[N_FIELDS];
	size_t fl[N_FIELDS];
	size_t o = 0;
	for (int i = 0; i < N_FIELDS; i++) {
		if (o + 4 > len)
			return POS_ERR_DECRYPT;
		fl[i] = get_u32(pt + o);
		if (fl[i] > len - o - 4)
			return POS_ERR_DECRYPT;
		char *s = pos_arena_strndup(a, (const char *)pt + o + 4, fl[i]);
		if (!s)
			return POS_ERR_NOMEM;
		f[i] = s;
		o += 4 + fl[i];
	}
	pos_wipe(pt, len);
	m->content = f[0];
	m->content_len = fl[0];
	m->tags_json = f[1];
	m->metadata_json = f[2];
	m->attachments_json = f[3];
	m->context = NULL; /* only its tokens are stored */
	m->thread = NULL;
	m->sealed = NULL;
	m->sealed_len = 0;
	return POS_OK;
}

static void log_decrypt(const struct pos_memory *m)
{
	pos_error_log("crypt: memory %s failed authentication; not served", m->id);
}

/* ---- overrides ---- */

static void cs_close(struct pos_store *s)
{
	struct cstore *c = CS(s);
	c->orig.ops->close(s);
	pos_free(c);
}

struct dfctx {
	struct pos_store *s;
	const struct pos_userkeys *k;
	int64_t min_df;
	bool any;
	enum pos_err rc;
};

static void df_term(void *ctx, const char *term, size_t n)
{
	struct dfctx *d = ctx;
	char h[POS_TOKEN_HEX + 1];
	int64_t df = 0;
	if (d->rc)
		return;
	pos_search_token(d->k->tok, term, n, h);
	d->rc = INOPS(d->s)->memories->stem_frequency(IN(d->s), h, POS_TOKEN_HEX, &df);
	if (!d->any || df < d->min_df)
		d->min_df = df;
	d->any = true;
}

static enum pos_err cs_user_term_frequency(struct pos_store *s, const char *user_id,
					   const char *word, int64_t *df, int64_t *docs)
{
	struct pos_userkeys k;
	bool sealed;
	enum pos_err rc = cs_user_keys(s, user_id, &k, &sealed);
	if (rc || !sealed)
		return rc ? rc : INOPS(s)->memories->term_frequency(IN(s), word, df, docs);
	/* The rarest of the word's tokens, like term_frequency's rule. */
	struct dfctx d = {s, &k, 0, false, POS_OK};
	rc = INOPS(s)->keys->index_terms(IN(s), word, strlen(word), df_term, &d);
	if (!rc)
		rc = d.rc;
	*df = d.any ? d.min_df : 0;
	if (!rc && docs)
		rc = INOPS(s)->memories->memory_count_all(IN(s), docs);
	pos_wipe(&k, sizeof(k));
	return rc;
}

static enum pos_err cs_memory_insert(struct pos_store *s, struct pos_memory *m, size_t n,
				     struct pos_error *err)
{
	if (!n)
		return INOPS(s)->memories->memory_insert(IN(s), m, n, err);
	struct pos_userkeys k;
	bool sealed;
	enum pos_err rc = cs_user_keys(s, m[0].user_id, &k, &sealed);
	if (rc || !sealed)
		return rc ? rc : INOPS(s)->memories->memory_insert(IN(s), m, n, err);
	struct pos_arena *a = pos_arena_new();
	struct pos_memory *v = a ? pos_arena_alloc(a, n * sizeof(*v)) : NULL;
	if (!v) {
		rc = POS_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; !rc && i < n; i++) {
		v[i] = m[i];
		rc = pos_crypt_seal_memory(s, &k, a, &v[i]);
	}
	if (!rc)
		rc = INOPS(s)->memories->memory_insert(IN(s), v, n, err);
	for (size_t i = 0; !rc && i < n; i++) {
		m[i].seq = v[i].seq;
		m[i].is_encrypted = true;
	}
out:
	pos_wipe(&k, sizeof(k));
	pos_arena_destroy(a);
	return rc;
}

static enum pos_err cs_memory_get(struct pos_store *s, struct pos_arena *a,
				  const char *user_id, const char *id, bool touch,
				  int64_t now, struct pos_memory *out)
{
	struct pos_userkeys k;
	bool sealed;
	enum pos_err rc = cs_user_keys(s, user_id, &k, &sealed);
	if (!rc)
		rc = INOPS(s)->memories->memory_get(IN(s), a, user_id, id, touch, now, out);
	if (!rc && sealed && (rc = open_memory(&k, a, out)) == POS_ERR_DECRYPT)
		log_decrypt(out);
	pos_wipe(&k, sizeof(k));
	return rc;
}

static enum pos_err cs_memory_list(struct pos_store *s, struct pos_arena *a,
				   const struct pos_memory_query *q,
				   struct pos_memory **out, size_t *n, int64_t *total)
{
	struct pos_userkeys k;
	bool sealed;
	enum pos_err rc = cs_user_keys(s, q->user_id, &k, &sealed);
	if (rc || !sealed)
		return rc ? rc : INOPS(s)->memories->memory_list(IN(s), a, q, out, n, total);
	struct pos_memory_query rq;
	rc = rewrite_query(s, &k, a, q, &rq);
	if (!rc)
		rc = INOPS(s)->memories->memory_list(IN(s), a, &rq, out, n, total);
	size_t kept = 0;
	for (size_t i = 0; !rc && i < *n; i++) {
		enum pos_err r = open_memory(&k, a, &(*out)[i]);
		if (r == POS_ERR_DECRYPT) {
			log_decrypt(&(*out)[i]);
			continue;
		}
		if (r)
			rc = r;
		else
			(*out)[kept++] = (*out)[i];
	}
	if (!rc) {
		*total -= (int64_t)(*n - kept); /* rows left out are not counted */
		*n = kept;
	}
	pos_wipe(&k, sizeof(k));
	return rc;
}

static enum pos_err cs_memory_update(struct pos_store *s, const char *user_id,
				     const char *id, const struct pos_memory_patch *p,
				     int64_t now, struct pos_error *err)
{
	struct pos_userkeys k;
	bool sealed;
	enum pos_err rc = cs_user_keys(s, user_id, &k, &sealed);
	if (rc || !sealed)
		return rc ? rc : INOPS(s)->memories->memory_update(IN(s), user_id, id, p, now, err);
	struct pos_arena *a = pos_arena_new();
	if (!a) {
		rc = POS_ERR_NOMEM;
		goto out;
	}
	/* Read and open the current row, apply the patch in plaintext, seal
	 * the whole row again. */
	struct pos_memory cur;
	if ((rc = INOPS(s)->memories->memory_get(IN(s), a, user_id, id, false, 0, &cur)))
		goto out;
	const char *stored_ctx = cur.context; /* tokens when already sealed */
	if (!cur.is_encrypted) {
		/* A row the background pass has not reached: it stays plain
		 * until the pass seals it (the pass re-reads changed rows). */
		rc = INOPS(s)->memories->memory_update(IN(s), user_id, id, p, now, err);
		goto out;
	}
	if ((rc = open_memory(&k, a, &cur))) {
		if (rc == POS_ERR_DECRYPT)
			log_decrypt(&cur);
		goto out;
	}
	struct pos_memory_patch np = *p;
	struct pos_memory *v = &np.v;
	struct pos_memory full = cur;
	if (p->set & POS_PATCH_CONTENT) {
		full.content = v->content;
		full.content_len = v->content_len;
	}
	if (p->set & POS_PATCH_TAGS)
		full.tags_json = v->tags_json;
	if (p->set & POS_PATCH_METADATA)
		full.metadata_json = v->metadata_json;
	if (p->set & POS_PATCH_ATTACHMENTS)
		full.attachments_json = v->attachments_json;
	/* Index tags only when they change; otherwise the stored tag column
	 * and tag index stay as they are. */
	full.tags = (p->set & POS_PATCH_TAGS) ? v->tags : NULL;
	full.n_tags = (p->set & POS_PATCH_TAGS) ? v->n_tags : 0;
	full.context = NULL;
	full.thread = NULL;
	full.vec = (p->set & POS_PATCH_VECTOR) ? v->vec : (struct pos_vec){0};
	if ((rc = pos_crypt_seal_memory(s, &k, a, &full)))
		goto out;
	np.set |= POS_PATCH_CONTENT | POS_PATCH_METADATA | POS_PATCH_ATTACHMENTS |
		  POS_PATCH_SEALED;
	if (p->set & POS_PATCH_TAGS) {
		v->tags = full.tags;
		v->n_tags = full.n_tags;
		v->tags_json = full.tags_json;
	}
	v->content = full.content;
	v->content_len = full.content_len;
	v->metadata_json = full.metadata_json;
	v->attachments_json = full.attachments_json;
	v->sealed = full.sealed;
	v->sealed_len = full.sealed_len;
	v->is_encrypted = true;
	v->context = stored_ctx;
	if (p->set & POS_PATCH_VECTOR)
		v->vec = full.vec;
	rc = INOPS(s)->memories->memory_update(IN(s), user_id, id, &np, now, err);
out:
	pos_wipe(&k, sizeof(k));
	pos_arena_destroy(a);
	return rc;
}

/* A sealed user's tags are keyed hashes inside the sealed row: merged in
 * plaintext, the row sealed again (cs_memory_update). */
static enum pos_err cs_memory_tag_add(struct pos_store *s, const char *user_id, const char *id,
				      const char *const *add, size_t n, size_t max, int64_t now,
				      size_t *added)
{
	struct pos_userkeys k;
	bool sealed;
	enum pos_err rc = cs_user_keys(s, user_id, &k, &sealed);
	pos_wipe(&k, sizeof(k));
	if (rc || !sealed)
		return rc ? rc : INOPS(s)->memories->memory_tag_add(IN(s), user_id, id, add, n, max,
								     now, added);
	struct pos_arena *a = pos_arena_new();
	struct pos_memory cur;
	struct pos_memory_patch p = {.set = POS_PATCH_TAGS};
	size_t got = 0;
	rc = a ? cs_memory_get(s, a, user_id, id, false, 0, &cur) : POS_ERR_NOMEM;
	if (!rc)
		rc = pos_mem_tags_merge(a, cur.tags_json, add, n, max, &p.v, &got);
	if (!rc && got)
		rc = cs_memory_update(s, user_id, id, &p, now, NULL);
	if (added)
		*added = rc ? 0 : got;
	pos_arena_destroy(a);
	return rc;
}

/* The plaintext tag of `m` (opened) whose keyed hash is `hash`, or NULL. */
static const char *tag_with_hash(const struct pos_userkeys *k, struct pos_arena *a,
				 const struct pos_memory *m, const char *hash)
{
	json_t *tj = pos_json_parse(m->tags_json, strlen(m->tags_json), NULL);
	const char *name = NULL;
	size_t i;
	json_t *t;
	json_array_foreach(tj, i, t) {
		const char *h = json_is_string(t) ? exact_hash(k, a, "tag", json_string_value(t)) : NULL;
		if (h && !strcmp(h, hash)) {
			name = pos_arena_strdup(a, json_string_value(t));
			break;
		}
	}
	json_decref(tj);
	return name;
}

/*
 * Stats of a sealed user: the backend counts tags by their keyed hashes.
 * Each of the few top hashes is named by opening one memory that carries
 * it; a hash no readable memory explains is left out.
 */
static enum pos_err name_top_tags(struct pos_store *s, const struct pos_userkeys *k,
				  struct pos_arena *a, const char *user_id,
				  const char **tags_json)
{
	json_t *top = pos_json_parse(*tags_json, strlen(*tags_json), NULL);
	if (!json_is_array(top)) {
		json_decref(top);
		*tags_json = "[]";
		return POS_OK;
	}
	struct pos_buf b;
	struct pos_jw w;
	pos_buf_init(&b, (size_t)1 << 20);
	pos_jw_init(&w, &b);
	pos_jw_arr(&w);
	enum pos_err rc = POS_OK;
	size_t i;
	json_t *e;
	json_array_foreach(top, i, e) {
		const char *hash = json_string_value(json_object_get(e, "tag"));
		if (!hash)
			continue;
		struct pos_memory_query q = {
			.user_id = user_id, .type = -1, .layer = -1, .tags = &hash, .n_tags = 1,
			.after = POS_TIME_NONE, .before = POS_TIME_NONE, .limit = 1,
		};
		struct pos_memory *m = NULL;
		size_t n = 0;
		int64_t total = 0;
		if ((rc = INOPS(s)->memories->memory_list(IN(s), a, &q, &m, &n, &total)))
			break;
		const char *name = NULL;
		if (n == 1 && open_memory(k, a, m) == POS_OK)
			name = tag_with_hash(k, a, m, hash);
		if (!name)
			continue;
		pos_jw_obj(&w);
		pos_jw_kstr(&w, "tag", name);
		pos_jw_kint(&w, "count", json_integer_value(json_object_get(e, "count")));
		pos_jw_obj_end(&w);
	}
	pos_jw_arr_end(&w);
	json_decref(top);
	if (!rc && !(*tags_json = pos_arena_strndup(a, b.data, b.len)))
		rc = POS_ERR_NOMEM;
	pos_buf_free(&b);
	return rc;
}

static enum pos_err cs_memory_stats(struct pos_store *s, struct pos_arena *a,
				    const char *user_id, unsigned days, unsigned tags,
				    bool hide_chat, struct pos_memory_stats *out)
{
	struct pos_userkeys k;
	bool sealed;
	enum pos_err rc = cs_user_keys(s, user_id, &k, &sealed);
	bool locked = rc == POS_ERR_LOCKED; /* counts only: no tag can be named */
	if (!rc || locked)
		rc = INOPS(s)->memories->memory_stats(IN(s), a, user_id, days, tags, hide_chat, out);
	/* The tag index holds keyed hashes: name each from a memory carrying it. */
	if (!rc && locked)
		out->top_tags_json = "[]";
	else if (!rc && sealed)
		rc = name_top_tags(s, &k, a, user_id, &out->top_tags_json);
	pos_wipe(&k, sizeof(k));
	return rc;
}

/* The tag counts of a sealed user are of keyed hashes, named as for the
 * stats; a locked user's cannot be named: none. */
static enum pos_err cs_tag_counts(struct pos_store *s, struct pos_arena *a, const char *user_id,
				  unsigned limit, bool hide_chat, const char **json)
{
	struct pos_userkeys k;
	bool sealed;
	enum pos_err rc = cs_user_keys(s, user_id, &k, &sealed);
	if (rc == POS_ERR_LOCKED) {
		*json = "[]";
		rc = POS_OK;
	} else if (!rc) {
		rc = INOPS(s)->memories->tag_counts(IN(s), a, user_id, limit, hide_chat, json);
		if (!rc && sealed)
			rc = name_top_tags(s, &k, a, user_id, json);
	}
	pos_wipe(&k, sizeof(k));
	return rc;
}

/* The first 120 characters (code points) of a text. */
static const char *label_of(struct pos_arena *a, const char *t, size_t len)
{
	size_t i = 0, chars = 0;
	while (i < len && chars < 120) {
		i++;
		while (i < len && ((unsigned char)t[i] & 0xC0) == 0x80)
			i++;
		chars++;
	}
	return pos_arena_strndup(a, t, i);
}

static enum pos_err cs_graph_nodes(struct pos_store *s, struct pos_arena *a,
				   const char *user_id, const char *ids_json, unsigned limit,
				   struct pos_graph_node **out, size_t *n)
{
	struct pos_userkeys k;
	bool sealed;
	enum pos_err rc = cs_user_keys(s, user_id, &k, &sealed);
	if (!rc)
		rc = INOPS(s)->memories->graph_nodes(IN(s), a, user_id, ids_json, limit, out, n);
	for (size_t i = 0; !rc && sealed && i < *n; i++) {
		struct pos_memory m;
		rc = INOPS(s)->memories->memory_get(IN(s), a, user_id, (*out)[i].id, false, 0, &m);
		if (!rc && m.is_encrypted) {
			enum pos_err r = open_memory(&k, a, &m);
			if (r == POS_ERR_DECRYPT) {
				log_decrypt(&m);
				(*out)[i].label = "";
				continue;
			}
			rc = r;
			if (!rc && !((*out)[i].label = label_of(a, m.content, m.content_len)))
				rc = POS_ERR_NOMEM;
		}
	}
	pos_wipe(&k, sizeof(k));
	return rc;
}

static int hit_cmp(const void *x, const void *y)
{
	const struct pos_hit *a = x, *b = y;
	return a->score < b->score ? 1 : a->score > b->score ? -1 : 0;
}

static enum pos_err cs_keyword_search(struct pos_store *s, struct pos_arena *a,
				      const struct pos_memory_query *q, const char *match,
				      struct pos_hit **out, size_t *n)
{
	struct pos_userkeys k;
	bool sealed;
	enum pos_err rc = cs_user_keys(s, q->user_id, &k, &sealed);
	if (rc || !sealed)
		return rc ? rc : INOPS(s)->memories->keyword_search(IN(s), a, q, match, out, n);
	struct pos_memory_query rq;
	const char *rm = NULL;
	rc = rewrite_query(s, &k, a, q, &rq);
	if (!rc)
		rc = rewrite_match(s, &k, a, match, &rm);
	if (!rc)
		rc = INOPS(s)->memories->keyword_search(IN(s), a, &rq, rm, out, n);
	/* While the background pass runs, plain rows still hold words. */
	if (!rc && pos_keyring_state(CS(s)->kr, q->user_id) == POS_KEYSTATE_SEALING) {
		struct pos_hit *h2 = NULL;
		size_t n2 = 0;
		rc = INOPS(s)->memories->keyword_search(IN(s), a, q, match, &h2, &n2);
		if (!rc && n2) {
			struct pos_hit *all = pos_arena_alloc(a, (*n + n2) * sizeof(*all));
			if (!all) {
				rc = POS_ERR_NOMEM;
			} else {
				memcpy(all, *out, *n * sizeof(*all));
				memcpy(all + *n, h2, n2 * sizeof(*all));
				qsort(all, *n + n2, sizeof(*all), hit_cmp);
				*out = all;
				*n = *n + n2 > q->limit ? q->limit : *n + n2;
			}
		}
	}
	pos_wipe(&k, sizeof(k));
	return rc;
}

static enum pos_err cs_filter_seqs(struct pos_store *s, struct pos_arena *a,
				   const struct pos_memory_query *q, size_t max,
				   int64_t **out, size_t *n)
{
	struct pos_userkeys k;
	bool sealed;
	enum pos_err rc = cs_user_keys(s, q->user_id, &k, &sealed);
	if (rc || !sealed)
		return rc ? rc : INOPS(s)->memories->filter_seqs(IN(s), a, q, max, out, n);
	struct pos_memory_query rq;
	rc = rewrite_query(s, &k, a, q, &rq);
	if (!rc)
		rc = INOPS(s)->memories->filter_seqs(IN(s), a, &rq, max, out, n);
	pos_wipe(&k, sizeof(k));
	return rc;
}

static enum pos_err cs_memories_by_seq(struct pos_store *s, struct pos_arena *a,
				       const char *user_id, const int64_t *seqs, size_t n,
				       struct pos_memory *out, bool *found)
{
	struct pos_userkeys k;
	bool sealed;
	enum pos_err rc = cs_user_keys(s, user_id, &k, &sealed);
	if (!rc)
		rc = INOPS(s)->memories->memories_by_seq(IN(s), a, user_id, seqs, n, out, found);
	for (size_t i = 0; !rc && sealed && i < n; i++) {
		if (!found[i])
			continue;
		enum pos_err r = open_memory(&k, a, &out[i]);
		if (r == POS_ERR_DECRYPT) {
			log_decrypt(&out[i]);
			found[i] = false;
		} else {
			rc = r;
		}
	}
	pos_wipe(&k, sizeof(k));
	return rc;
}

static enum pos_err cs_thread_tail(struct pos_store *s, struct pos_arena *a,
				   const char *user_id, const char *thread, size_t max,
				   const char **out, size_t *n)
{
	struct pos_userkeys k;
	bool sealed;
	enum pos_err rc = cs_user_keys(s, user_id, &k, &sealed);
	if (rc || !sealed)
		return rc ? rc : INOPS(s)->memories->thread_tail(IN(s), a, user_id, thread, max, out, n);
	struct pos_memory *m = NULL;
	size_t got = 0;
	const char *th = exact_hash(&k, a, "thread", thread);
	rc = th ? INOPS(s)->keys->crypt_thread_tail(IN(s), a, user_id, th, max, &m, &got)
		: POS_ERR_NOMEM;
	*n = 0;
	for (size_t i = 0; !rc && i < got; i++) {
		enum pos_err r = open_memory(&k, a, &m[i]);
		if (r == POS_ERR_DECRYPT) {
			log_decrypt(&m[i]);
			continue;
		}
		rc = r;
		if (!rc)
			out[(*n)++] = m[i].content;
	}
	pos_wipe(&k, sizeof(k));
	return rc;
}

/* Opens a raw vector blob: plain (len == dim) or sealed with AD "v|id|user". */
static enum pos_err open_vec(const struct pos_userkeys *k, const char *id,
			     const char *user_id, unsigned dim, float scale,
			     const uint8_t *blob, size_t len, float *scale_out, int8_t *q)
{
	if (len == dim) {
		memcpy(q, blob, dim);
		*scale_out = scale;
		return POS_OK;
	}
	if (len != 4 + (size_t)dim + POS_SEAL_OVERHEAD)
		return POS_ERR_DECRYPT;
	uint8_t *pt = pos_malloc(4 + (size_t)dim);
	if (!pt)
		return POS_ERR_NOMEM;
	char ad[128];
	size_t adl = cs_make_ad(ad, sizeof(ad), 'v', id, user_id);
	enum pos_err rc = pos_unseal(k->enc, ad, adl, blob, len, pt);
	if (!rc) {
		memcpy(scale_out, pt, 4);
		memcpy(q, pt + 4, dim);
	}
	pos_wipe(pt, 4 + (size_t)dim);
	pos_free(pt);
	return rc;
}

static enum pos_err cs_vector_get(struct pos_store *s, struct pos_arena *a,
				  const char *user_id, int64_t seq, struct pos_vec *out)
{
	struct pos_userkeys k;
	bool sealed;
	enum pos_err rc = cs_user_keys(s, user_id, &k, &sealed);
	if (rc || !sealed)
		return rc ? rc : INOPS(s)->memories->vector_get(IN(s), a, user_id, seq, out);
	char id[POS_UUID_SIZE];
	struct pos_vec raw;
	rc = INOPS(s)->keys->crypt_vector_raw(IN(s), a, user_id, seq, id, &raw);
	memset(out, 0, sizeof(*out));
	if (!rc && raw.sealed) {
		int8_t *q = pos_arena_alloc(a, raw.dim ? raw.dim : 1);
		if (!q)
			rc = POS_ERR_NOMEM;
		else if ((rc = open_vec(&k, id, user_id, raw.dim, raw.scale, raw.sealed,
				       raw.sealed_len, &out->scale, q)) == POS_OK) {
			out->q = q;
			out->dim = raw.dim;
			out->model = raw.model;
		} else if (rc == POS_ERR_DECRYPT) {
			/* reported in the log; the memory is answered without it */
			pos_error_log("crypt: vector of memory %s failed authentication", id);
			rc = POS_OK;
		}
	}
	pos_wipe(&k, sizeof(k));
	return rc;
}

struct vload {
	const struct pos_userkeys *k;
	const char *user_id;
	void (*fn)(void *ctx, int64_t seq, float scale, const int8_t *q, unsigned dim);
	void *ctx;
	int8_t *q;          /* scratch of qcap bytes */
	unsigned qcap;
	enum pos_err rc;
};

static void vload_row(void *ctx, int64_t seq, const char *id, unsigned dim, float scale,
		      const uint8_t *blob, size_t len)
{
	struct vload *l = ctx;
	float sc;
	if (l->rc)
		return;
	if (dim > l->qcap) {
		int8_t *q = pos_realloc(l->q, dim);
		if (!q) {
			l->rc = POS_ERR_NOMEM;
			return;
		}
		l->q = q;
		l->qcap = dim;
	}
	enum pos_err rc = open_vec(l->k, id, l->user_id, dim, scale, blob, len, &sc, l->q);
	if (rc == POS_ERR_DECRYPT) {
		pos_error_log("crypt: vector of memory %s failed authentication", id);
		return;
	}
	if (rc) {
		l->rc = rc;
		return;
	}
	l->fn(l->ctx, seq, sc, l->q, dim);
	pos_wipe(l->q, dim);
}

static enum pos_err cs_vectors_load(struct pos_store *s, const char *user_id,
				    const char *model,
				    void (*fn)(void *ctx, int64_t seq, float scale,
					       const int8_t *q, unsigned dim),
				    void *ctx)
{
	struct pos_userkeys k;
	bool sealed;
	enum pos_err rc = cs_user_keys(s, user_id, &k, &sealed);
	if (rc || !sealed)
		return rc ? rc : INOPS(s)->memories->vectors_load(IN(s), user_id, model, fn, ctx);
	struct vload l = {&k, user_id, fn, ctx, NULL, 0, POS_OK};
	rc = INOPS(s)->keys->crypt_vectors_load(IN(s), user_id, model, vload_row, &l);
	if (!rc)
		rc = l.rc;
	pos_free(l.q);
	pos_wipe(&k, sizeof(k));
	return rc;
}

/* The stored row (id, is_encrypted, sealed) of memory `seq` of the user. */
static enum pos_err row_of(struct pos_store *s, struct pos_arena *a, const char *user_id,
			   int64_t seq, struct pos_memory *m, bool *found)
{
	return INOPS(s)->memories->memories_by_seq(IN(s), a, user_id, &seq, 1, m, found);
}

static enum pos_err cs_vectors_missing(struct pos_store *s, struct pos_arena *a,
				       const char *model, const char *user_id, int64_t after_seq,
				       size_t max, struct pos_memory **out, size_t *n)
{
	enum pos_err rc = INOPS(s)->memories->vectors_missing(IN(s), a, model, user_id, after_seq,
							     max, out, n);
	for (size_t i = 0; !rc && i < *n; i++) {
		struct pos_memory *m = &(*out)[i];
		struct pos_userkeys k;
		bool sealed;
		if (cs_user_keys(s, m->user_id, &k, &sealed) != POS_OK) {
			/* locked: skipped (negative seq), embedded after unlock
			 * by the next full pass */
			m->seq = -m->seq;
			m->content = "";
			m->content_len = 0;
			m->context = NULL;
			continue;
		}
		if (!sealed)
			continue;
		struct pos_memory row;
		bool found = false;
		rc = row_of(s, a, m->user_id, m->seq, &row, &found);
		if (!rc && found && row.is_encrypted) {
			if (open_memory(&k, a, &row) == POS_OK) {
				m->content = row.content;
				m->content_len = row.content_len;
				m->context = NULL;
			} else {
				log_decrypt(&row);
				m->seq = -m->seq;
				m->content = "";
				m->content_len = 0;
			}
		}
		pos_wipe(&k, sizeof(k));
	}
	return rc;
}

static enum pos_err cs_vectors_put(struct pos_store *s, const struct pos_memory *m, size_t n)
{
	struct pos_arena *a = pos_arena_new();
	struct pos_memory *v = a ? pos_arena_alloc(a, (n ? n : 1) * sizeof(*v)) : NULL;
	if (!v) {
		pos_arena_destroy(a);
		return POS_ERR_NOMEM;
	}
	size_t kept = 0;
	enum pos_err rc = POS_OK;
	for (size_t i = 0; !rc && i < n; i++) {
		struct pos_userkeys k;
		bool sealed;
		if (cs_user_keys(s, m[i].user_id, &k, &sealed) != POS_OK)
			continue; /* locked: left for later */
		v[kept] = m[i];
		if (sealed && m[i].vec.q) {
			struct pos_memory row;
			bool found = false;
			rc = row_of(s, a, m[i].user_id, m[i].seq, &row, &found);
			if (!rc && !found) {
				pos_wipe(&k, sizeof(k));
				continue;
			}
			/* Sealed even while the row itself is still plain (the
			 * background pass may seal the row any moment; a sealed
			 * vector on a plain row reads back fine). */
			if (!rc)
				rc = seal_vec(&k, a, row.id, row.user_id, &m[i].vec,
					      &v[kept].vec.sealed, &v[kept].vec.sealed_len);
		}
		pos_wipe(&k, sizeof(k));
		kept++;
	}
	if (!rc && kept)
		rc = INOPS(s)->memories->vectors_put(IN(s), v, kept);
	pos_arena_destroy(a);
	return rc;
}

/* ---- memories shared with another user ----
 *
 * A recipient reads the owner's row, sealed with the owner's key: it is
 * opened with that key while the owner's data is unlocked. Locked: a get
 * is POS_ERR_LOCKED, lists and searches leave the memory out. (A
 * recipient's keyword search cannot match an encrypted memory anyway: its
 * index holds the owner's keyed tokens.)
 */

static bool cs_data_unlocked(struct pos_store *s, const char *user_id)
{
	struct pos_userkeys k;
	bool sealed;
	enum pos_err rc = cs_user_keys(s, user_id, &k, &sealed);
	pos_wipe(&k, sizeof(k));
	return rc == POS_OK;
}

/* Opens an owner's row in place; POS_ERR_LOCKED / DECRYPT when it cannot. */
static enum pos_err open_owned(struct pos_store *s, struct pos_arena *a, struct pos_memory *m)
{
	if (!m->is_encrypted)
		return POS_OK;
	struct pos_userkeys k;
	bool sealed;
	enum pos_err rc = cs_user_keys(s, m->user_id, &k, &sealed);
	if (!rc && (rc = open_memory(&k, a, m)) == POS_ERR_DECRYPT)
		log_decrypt(m);
	pos_wipe(&k, sizeof(k));
	return rc;
}

static enum pos_err cs_shared_get(struct pos_store *s, struct pos_arena *a,
				  const char *recipient_id, const char *id,
				  struct pos_memory *out)
{
	enum pos_err rc = INOPS(s)->shares->shared_get(IN(s), a, recipient_id, id, out);
	return rc ? rc : open_owned(s, a, out);
}

static enum pos_err cs_shared_list(struct pos_store *s, struct pos_arena *a,
				   const char *recipient_id, unsigned limit, unsigned offset,
				   struct pos_memory **out, size_t *n, int64_t *total)
{
	enum pos_err rc = INOPS(s)->shares->shared_list(IN(s), a, recipient_id, limit, offset,
						 out, n, total);
	size_t k = 0;
	for (size_t i = 0; !rc && i < *n; i++) {
		enum pos_err orc = open_owned(s, a, &(*out)[i]);
		if (orc == POS_ERR_NOMEM)
			rc = orc;
		else if (!orc)
			(*out)[k++] = (*out)[i];
	}
	if (!rc)
		*n = k;
	return rc;
}

static enum pos_err cs_shared_search(struct pos_store *s, struct pos_arena *a,
				     const char *recipient_id, const char *match,
				     unsigned limit, struct pos_memory **out,
				     double **scores, size_t *n)
{
	enum pos_err rc = INOPS(s)->shares->shared_search(IN(s), a, recipient_id, match, limit,
						   out, scores, n);
	size_t k = 0;
	for (size_t i = 0; !rc && i < *n; i++) {
		enum pos_err orc = open_owned(s, a, &(*out)[i]);
		if (orc == POS_ERR_NOMEM) {
			rc = orc;
		} else if (!orc) {
			(*out)[k] = (*out)[i];
			(*scores)[k++] = (*scores)[i];
		}
	}
	if (!rc)
		*n = k;
	return rc;
}

/* ---- install ---- */

enum pos_err pos_crypt_store_new(struct pos_store *inner, struct pos_keyring *kr,
				 struct pos_store **out)
{
	struct cstore *c = pos_calloc(1, sizeof(*c));
	if (!c)
		return POS_ERR_NOMEM;
	c->orig = *inner;
	c->kr = kr;
	c->ops = *inner->ops;
	c->memories = *inner->memories;
	c->chat = *inner->chat;
	c->shares = *inner->shares;
	c->keys = *inner->keys;
	c->plugins = *inner->plugins;
	c->ops.close = cs_close;
	c->keys.user_term_frequency = cs_user_term_frequency;
	c->memories.memory_insert = cs_memory_insert;
	c->memories.memory_get = cs_memory_get;
	c->memories.memory_list = cs_memory_list;
	c->memories.memory_update = cs_memory_update;
	c->memories.memory_tag_add = cs_memory_tag_add;
	c->memories.memory_stats = cs_memory_stats;
	c->memories.tag_counts = cs_tag_counts;
	c->memories.graph_nodes = cs_graph_nodes;
	c->memories.keyword_search = cs_keyword_search;
	c->memories.filter_seqs = cs_filter_seqs;
	c->memories.memories_by_seq = cs_memories_by_seq;
	c->memories.thread_tail = cs_thread_tail;
	c->memories.vector_get = cs_vector_get;
	c->memories.vectors_load = cs_vectors_load;
	c->memories.vectors_missing = cs_vectors_missing;
	c->memories.vectors_put = cs_vectors_put;
	c->chat.chat_append = cs_chat_append;
	c->chat.conversation_get = cs_conversation_get;
	c->chat.conversation_list = cs_conversation_list;
	c->chat.messages_list = cs_messages_list;
	c->shares.shared_get = cs_shared_get;
	c->shares.shared_list = cs_shared_list;
	c->shares.shared_search = cs_shared_search;
	c->keys.data_unlocked = cs_data_unlocked;
	c->plugins.plugin_kv_get = cs_plugin_kv_get;
	c->plugins.plugin_kv_put = cs_plugin_kv_put;
	c->plugins.plugin_log_add = cs_plugin_log_add;
	c->plugins.plugin_log_list = cs_plugin_log_list;
	inner->crypt = c;
	inner->ops = &c->ops;
	inner->memories = &c->memories;
	inner->chat = &c->chat;
	inner->shares = &c->shares;
	inner->keys = &c->keys;
	inner->plugins = &c->plugins;
	*out = inner;
	return POS_OK;
}
