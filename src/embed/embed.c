/*
 * embed.c — the embedder interface: shorthands over the operation table and
 * the default batch loop for embedders that have no batch operation.
 */
#include "embed/embed.h"

enum pos_err pos_embed(const struct pos_embedder *e, const char *text,
		       size_t len, float *out)
{
	return e->ops->embed(e, text, len, out);
}

enum pos_err pos_embed_batch(const struct pos_embedder *e,
			     const char *const *texts, const size_t *lens,
			     size_t n, float *out)
{
	if (e->ops->embed_batch)
		return e->ops->embed_batch(e, texts, lens, n, out);
	for (size_t i = 0; i < n; i++) {
		enum pos_err rc = e->ops->embed(e, texts[i], lens[i],
						out + i * (size_t)e->dim);
		if (rc)
			return rc;
	}
	return POS_OK;
}

void pos_embed_free(struct pos_embedder *e)
{
	if (e)
		e->ops->free(e);
}
