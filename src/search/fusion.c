/*
 * fusion.c — reciprocal-rank fusion and boosts.
 */
#include "search/fusion.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void pos_rank_weights_default(struct pos_rank_weights *w)
{
	w->keyword = 1.0;
	w->semantic = 0.15;
	w->memu = 0.5;
	w->rrf_k = 60.0;
	w->recency = 0.05;
	w->half_life_days = 90.0;
	w->importance = 0.05;
	w->layer = 0.05;
	w->access = 0.02;
}

static int by_seq(const void *a, const void *b)
{
	const struct pos_ranked *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int by_rrf(const void *a, const void *b)
{
	const struct pos_ranked *x = a, *y = b;
	if (x->rrf != y->rrf)
		return x->rrf < y->rrf ? 1 : -1;
	return x->seq < y->seq ? 1 : x->seq > y->seq ? -1 : 0;
}

static int by_score(const void *a, const void *b)
{
	const struct pos_ranked *x = a, *y = b;
	if (x->score != y->score)
		return x->score < y->score ? 1 : -1;
	return by_rrf(a, b);
}

size_t pos_fuse(const struct pos_rank_weights *w, const struct pos_hit *kw,
		size_t nk, const struct pos_hit *vec, size_t nv,
		struct pos_ranked *out)
{
	return pos_fuse3(w, kw, nk, vec, nv, NULL, 0, out);
}

size_t pos_fuse3(const struct pos_rank_weights *w, const struct pos_hit *kw, size_t nk,
		 const struct pos_hit *vec, size_t nv, const struct pos_hit *mu, size_t nm,
		 struct pos_ranked *out)
{
	size_t n = 0;
	for (size_t i = 0; i < nk; i++) {
		memset(&out[n], 0, sizeof(out[n]));
		out[n].seq = kw[i].seq;
		out[n].kw_rank = (unsigned)i + 1;
		out[n].kw_score = kw[i].score;
		n++;
	}
	for (size_t i = 0; i < nv; i++) {
		memset(&out[n], 0, sizeof(out[n]));
		out[n].seq = vec[i].seq;
		out[n].vec_rank = (unsigned)i + 1;
		out[n].vec_score = vec[i].score;
		n++;
	}
	for (size_t i = 0; i < nm; i++) {
		memset(&out[n], 0, sizeof(out[n]));
		out[n].seq = mu[i].seq;
		out[n].memu_rank = (unsigned)i + 1;
		out[n].memu_score = mu[i].score;
		n++;
	}
	qsort(out, n, sizeof(*out), by_seq);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (m && out[m - 1].seq == out[i].seq) {
			struct pos_ranked *d = &out[m - 1];
			if (out[i].kw_rank && (!d->kw_rank || out[i].kw_rank < d->kw_rank)) {
				d->kw_rank = out[i].kw_rank;
				d->kw_score = out[i].kw_score;
			}
			if (out[i].vec_rank && (!d->vec_rank || out[i].vec_rank < d->vec_rank)) {
				d->vec_rank = out[i].vec_rank;
				d->vec_score = out[i].vec_score;
			}
			if (out[i].memu_rank && (!d->memu_rank || out[i].memu_rank < d->memu_rank)) {
				d->memu_rank = out[i].memu_rank;
				d->memu_score = out[i].memu_score;
			}
			continue;
		}
		out[m++] = out[i];
	}
	double max = 0;
	if (nk && w->keyword > 0)
		max += w->keyword / (w->rrf_k + 1);
	if (nv && w->semantic > 0)
		max += w->semantic / (w->rrf_k + 1);
	if (nm && w->memu > 0)
		max += w->memu / (w->rrf_k + 1);
	for (size_t i = 0; i < m; i++) {
		double r = 0;
		if (out[i].kw_rank)
			r += w->keyword / (w->rrf_k + out[i].kw_rank);
		if (out[i].vec_rank)
			r += w->semantic / (w->rrf_k + out[i].vec_rank);
		if (out[i].memu_rank)
			r += w->memu / (w->rrf_k + out[i].memu_rank);
		out[i].rrf = max > 0 ? r / max : 0;
		out[i].score = out[i].rrf;
	}
	qsort(out, m, sizeof(*out), by_rrf);
	return m;
}

void pos_boost(const struct pos_rank_weights *w, const struct pos_memory *m,
	       int64_t now, struct pos_ranked *r)
{
	static const double layer_factor[POS_LAYER__COUNT] = {0.0, -0.25, -0.5, -1.0};
	double age_days = (double)(now - m->created_at) / 86400e6;
	if (age_days < 0)
		age_days = 0;
	r->b_recency = w->half_life_days > 0 ? w->recency * exp2(-age_days / w->half_life_days) : 0;
	r->b_importance = w->importance * (m->importance - 0.5) * 2.0;
	r->b_layer = w->layer * layer_factor[(unsigned)m->layer < POS_LAYER__COUNT ? m->layer : 0];
	double acc = log1p((double)(m->access_count > 0 ? m->access_count : 0)) / log(101.0);
	r->b_access = w->access * (acc > 1 ? 1 : acc);
	r->boost = r->b_recency + r->b_importance + r->b_layer + r->b_access;
	r->score = r->rrf * (1.0 + r->boost);
}

static int by_thread(const void *a, const void *b)
{
	const struct pos_thread_item *x = a, *y = b;
	int c = strcmp(x->thread, y->thread);
	return c ? c : (x->index > y->index) - (x->index < y->index);
}

void pos_thread_credit(double w, struct pos_ranked *r, size_t n, const char *const *thread,
		       struct pos_thread_item *scratch)
{
	if (!(w > 0) || n < 2)
		return;
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (thread[i] && *thread[i])
			scratch[m++] = (struct pos_thread_item){thread[i], i, r[i].score};
	qsort(scratch, m, sizeof(*scratch), by_thread);
	for (size_t g = 0; g < m;) {
		size_t end = g + 1;
		while (end < m && strcmp(scratch[end].thread, scratch[g].thread) == 0)
			end++;
		if (end - g >= 2) {
			size_t top = g;
			double second = -1e300;
			for (size_t k = g + 1; k < end; k++) {
				if (scratch[k].score > scratch[top].score) {
					second = scratch[top].score;
					top = k;
				} else if (scratch[k].score > second) {
					second = scratch[k].score;
				}
			}
			for (size_t k = g; k < end; k++)
				r[scratch[k].index].score +=
					w * (k == top ? second : scratch[top].score);
		}
		g = end;
	}
}

void pos_rank_sort(struct pos_ranked *r, size_t n)
{
	qsort(r, n, sizeof(*r), by_score);
}

size_t pos_fuse_merge(const struct pos_rank_weights *w, const double *own_scores,
		      size_t n_own, size_t n_other, unsigned offset, unsigned limit,
		      struct pos_fused_item *out)
{
	size_t i = 0, j = 0, pos = 0, shown = 0;
	while ((i < n_own || j < n_other) && shown < limit) {
		double so = i < n_own ? own_scores[i] : -1e300;
		double sh = j < n_other ? w->keyword / (w->rrf_k + (double)(j + 1)) : -1e300;
		bool take_own = so >= sh;
		if (pos++ < offset) {
			take_own ? i++ : j++;
			continue;
		}
		out[shown].other = !take_own;
		out[shown].index = take_own ? i++ : j++;
		out[shown].score = take_own ? so : sh;
		shown++;
	}
	return shown;
}
