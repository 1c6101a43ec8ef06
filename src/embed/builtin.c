/*
 * builtin.c — the built-in embedder: signed feature hashing of word stems,
 * character trigrams and stem bigrams into `dim` buckets (Weinberger et al.,
 * "Feature hashing for large scale multitask learning", 2009).
 *
 * Each text is analysed by embed/token.h. A stem adds `word` to one bucket
 * with a sign, both taken from a 64-bit hash of the stem, so equal stems
 * ("meeting", "meetings") land on the same direction and unequal ones are
 * near-orthogonal in expectation. The trigrams of the unstemmed word, with
 * boundary marks ("<re", "res", ..., "nt>"), share `trigram` of L2 weight,
 * which gives typos and inflections that the stemmer misses ("restaurant",
 * "restuarant") a partial match. Adjacent stems add a `bigram` feature so
 * word order and compounds ("ice cream") count a little. Repeated stems are
 * damped to 1 + ln(tf). The sum is L2-normalized. No state but the weights:
 * the embedder is read-only after creation.
 */
#include "embed/embed.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "embed/token.h"

#define SEED_WORD 0x9e3779b97f4a7c15ULL
#define SEED_TRI 0xc2b2ae3d27d4eb4fULL
#define SEED_BI 0x165667b19e3779f9ULL

/* Open-addressed table of stem hash -> count, for TF damping. */
#define TF_SLOTS 1024u
#define TF_MAX_FILL (TF_SLOTS * 3 / 4)

struct builtin {
	struct pos_embedder base;
	struct pos_embed_builtin_params p;
};

struct tf_table {
	uint64_t key[TF_SLOTS];
	uint32_t count[TF_SLOTS];
	unsigned fill;
};

static const struct pos_embedder_ops builtin_ops;

void pos_embed_builtin_defaults(struct pos_embed_builtin_params *p)
{
	p->word = 1.0f;
	p->trigram = 1.0f;
	p->bigram = 0.35f;
	p->probes = 1;
}

/* Adds w * sign(h) to the bucket(s) chosen by h. */
static inline void add_feature(const struct builtin *b, float *acc, uint64_t h,
			       float w)
{
	uint64_t dim = b->base.dim;
	if (b->p.probes == 1) {
		uint64_t idx = ((h >> 32) * dim) >> 32;
		acc[idx] += (h & 1) ? -w : w;
		return;
	}
	w *= 0.70710678f;
	uint64_t i1 = ((h >> 32) * dim) >> 32;
	uint64_t h2 = pos_token_mix(h + SEED_WORD);
	uint64_t i2 = ((h2 >> 32) * dim) >> 32;
	acc[i1] += (h & 1) ? -w : w;
	acc[i2] += (h2 & 1) ? -w : w;
}

/* The word and trigram features of one token, times w. */
static void add_token(const struct builtin *b, float *acc, const char *word,
		      size_t wlen, unsigned flags, uint64_t stem_hash, float w)
{
	add_feature(b, acc, stem_hash, w * b->p.word);
	if ((flags & (POS_TOKEN_DIGIT | POS_TOKEN_CJK)) || b->p.trigram <= 0 ||
	    wlen == 0)
		return;
	/* wlen trigrams over "\1" word "\2" */
	float tw = w * b->p.trigram / sqrtf((float)wlen);
	uint32_t c0 = 1, c1 = (unsigned char)word[0];
	for (size_t i = 1; i <= wlen; i++) {
		uint32_t c2 = i < wlen ? (unsigned char)word[i] : 2;
		uint64_t key = (uint64_t)(c0 << 16 | c1 << 8 | c2);
		add_feature(b, acc, pos_token_mix(key ^ SEED_TRI), tw);
		c0 = c1;
		c1 = c2;
	}
}

/* Returns how often `h` was seen, counting this time (1 when the table is
 * full and h is new: long texts just lose the damping of late words). */
static uint32_t tf_bump(struct tf_table *t, uint64_t h)
{
	unsigned i = (unsigned)h & (TF_SLOTS - 1);
	for (;;) {
		if (t->count[i] == 0) {
			if (t->fill >= TF_MAX_FILL)
				return 1;
			t->fill++;
			t->key[i] = h;
			t->count[i] = 1;
			return 1;
		}
		if (t->key[i] == h)
			return ++t->count[i];
		i = (i + 1) & (TF_SLOTS - 1);
	}
}

/*
 * ln(n) - ln(n - 1): what the n-th occurrence of a stem adds, so that tf
 * occurrences weigh 1 + ln(tf). A table rather than logf, whose last bit
 * may differ between C libraries: vectors must be the same everywhere.
 */
static float tf_step(uint32_t n)
{
	static const float step[33] = {
		0, 1.0f, 0.693147181f, 0.405465108f, 0.287682072f,
		0.223143551f, 0.182321557f, 0.15415068f, 0.133531393f,
		0.117783036f, 0.105360516f, 0.0953101798f, 0.087011377f,
		0.0800427077f, 0.0741079722f, 0.0689928715f, 0.0645385211f,
		0.0606246218f, 0.0571584138f, 0.0540672213f, 0.0512932944f,
		0.0487901642f, 0.0465200156f, 0.0444517626f, 0.0425596144f,
		0.0408219945f, 0.0392207132f, 0.037740328f, 0.0363676442f,
		0.0350913198f, 0.0339015517f, 0.0327898228f, 0.0317486983f,
	};
	if (n < 33)
		return step[n];
	return 1.0f / ((float)n - 0.5f); /* ln(n/(n-1)) to within 1e-4 */
}

static void normalize(float *v, unsigned dim)
{
	double ss = 0;
	for (unsigned i = 0; i < dim; i++) {
		/* two statements: no FMA contraction, same sum everywhere */
		double sq = (double)v[i] * v[i];
		ss += sq;
	}
	if (ss <= 0) {
		memset(v, 0, dim * sizeof(*v));
		return;
	}
	float inv = (float)(1.0 / sqrt(ss));
	for (unsigned i = 0; i < dim; i++)
		v[i] *= inv;
}

/* Adds the features of a whole text to acc (not normalized). */
static void accumulate_text(const struct builtin *b, const char *text,
			    size_t len, pos_embed_weight_fn weight, void *ctx,
			    float *acc)
{
	struct tf_table tf;
	memset(tf.count, 0, sizeof(tf.count));
	tf.fill = 0;

	struct pos_token_iter it;
	struct pos_token t;
	pos_token_iter_init(&it, text, len);
	uint64_t prev = 0;
	float prev_tw = 1;
	bool have_prev = false;
	for (unsigned ntok = 0; ntok < POS_EMBED_MAX_TOKENS &&
				pos_token_next(&it, &t); ntok++) {
		uint64_t h = pos_token_hash(t.stem, t.stem_len, SEED_WORD);
		uint32_t n = tf_bump(&tf, h);
		/* the n-th occurrence adds ln(n) - ln(n-1): total 1 + ln(tf) */
		float w = tf_step(n);
		float tw = weight ? weight(ctx, t.stem, t.stem_len) : 1.0f;
		if (!(tw >= 0) || !isfinite(tw))
			tw = 0;
		add_token(b, acc, t.word, t.word_len, t.flags, h, w * tw);
		if (have_prev && b->p.bigram > 0)
			add_feature(b, acc,
				    pos_token_mix(prev * 31 + h + SEED_BI),
				    b->p.bigram * sqrtf(prev_tw * tw));
		prev = h;
		prev_tw = tw;
		have_prev = true;
	}
}

static enum pos_err builtin_embed(const struct pos_embedder *e,
				  const char *text, size_t len, float *out)
{
	const struct builtin *b = (const struct builtin *)e;
	memset(out, 0, e->dim * sizeof(*out));
	accumulate_text(b, text, len, NULL, NULL, out);
	normalize(out, e->dim);
	return POS_OK;
}

enum pos_err pos_embed_builtin_query(const struct pos_embedder *e,
				     const char *text, size_t len,
				     pos_embed_weight_fn weight, void *ctx,
				     const struct pos_embed_term *extra,
				     size_t n, float *out)
{
	if (!e || e->ops != &builtin_ops)
		return POS_ERR_INVALID_REQUEST;
	const struct builtin *b = (const struct builtin *)e;
	memset(out, 0, e->dim * sizeof(*out));
	accumulate_text(b, text, len, weight, ctx, out);
	for (size_t i = 0; i < n; i++) {
		const struct pos_embed_term *x = &extra[i];
		if (!x->stem || x->len == 0 || !(x->weight > 0))
			continue;
		size_t sl = x->len < POS_TOKEN_MAX ? x->len : POS_TOKEN_MAX - 1;
		uint64_t h = pos_token_hash(x->stem, sl, SEED_WORD);
		/* expansion terms carry the stem only: its trigrams would
		 * match unrelated words sharing the stem's letters */
		add_feature(b, out, h, x->weight * b->p.word);
	}
	normalize(out, e->dim);
	return POS_OK;
}

static void builtin_free(struct pos_embedder *e)
{
	pos_free(e);
}

static const struct pos_embedder_ops builtin_ops = {
	.embed = builtin_embed,
	.embed_batch = NULL,
	.free = builtin_free,
};

static bool weight_ok(float w)
{
	return isfinite(w) && w >= 0;
}

enum pos_err pos_embed_builtin_new_params(
	unsigned dim, const struct pos_embed_builtin_params *p,
	struct pos_embedder **out)
{
	struct pos_embed_builtin_params def;
	pos_embed_builtin_defaults(&def);
	if (!p)
		p = &def;
	*out = NULL;
	if (dim < POS_EMBED_MIN_DIM || dim > POS_EMBED_MAX_DIM ||
	    !weight_ok(p->word) || !weight_ok(p->trigram) ||
	    !weight_ok(p->bigram) || (p->probes != 1 && p->probes != 2))
		return POS_ERR_INVALID_REQUEST;
	struct builtin *b = pos_calloc(1, sizeof(*b));
	if (!b)
		return POS_ERR_NOMEM;
	b->base.ops = &builtin_ops;
	b->base.dim = dim;
	b->p = *p;
	if (memcmp(p, &def, sizeof(def)) == 0) {
		snprintf(b->base.model, sizeof(b->base.model),
			 "builtin-hash-v1-%u", dim);
	} else {
		/* fingerprint the weights by value, not by address */
		uint32_t bits[3];
		memcpy(&bits[0], &p->word, 4);
		memcpy(&bits[1], &p->trigram, 4);
		memcpy(&bits[2], &p->bigram, 4);
		uint64_t h = pos_token_hash(bits, sizeof(bits), p->probes);
		snprintf(b->base.model, sizeof(b->base.model),
			 "builtin-hash-v1-%u-w%08x", dim, (unsigned)(h >> 32));
	}
	*out = &b->base;
	return POS_OK;
}

enum pos_err pos_embed_builtin_new(unsigned dim, struct pos_embedder **out)
{
	return pos_embed_builtin_new_params(dim, NULL, out);
}
