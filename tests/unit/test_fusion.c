/* Unit tests for src/search/fusion.c and rcache.c: rank fusion, boosts,
 * and the generation-stamped result cache. */
#include <setjmp.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "base/clock.h"
#include "search/fusion.h"
#include "search/rcache.h"

static void fuse_merges_and_normalizes(void **state)
{
	struct pos_rank_weights w;
	pos_rank_weights_default(&w);
	w.keyword = 1.0;
	w.semantic = 1.0;
	struct pos_hit kw[] = {{10, 5.0}, {20, 4.0}, {30, 3.0}};
	struct pos_hit vec[] = {{20, 0.9}, {40, 0.8}};
	struct pos_ranked out[5];
	size_t n = pos_fuse(&w, kw, 3, vec, 2, out);
	assert_int_equal(n, 4);
	/* 20 is in both lists: first */
	assert_int_equal(out[0].seq, 20);
	assert_int_equal(out[0].kw_rank, 2);
	assert_int_equal(out[0].vec_rank, 1);
	assert_true(out[0].rrf > 0.98 && out[0].rrf <= 1.0);
	/* 10 (keyword rank 1) before 40 (semantic rank 2) before 30 */
	assert_int_equal(out[1].seq, 10);
	assert_int_equal(out[2].seq, 40);
	assert_int_equal(out[3].seq, 30);
	for (size_t i = 0; i < n; i++)
		assert_true(out[i].rrf > 0 && out[i].rrf <= 1.0);
}

static void weights_shift_the_order(void **state)
{
	struct pos_rank_weights w;
	pos_rank_weights_default(&w);
	struct pos_hit kw[] = {{1, 9.0}};
	struct pos_hit vec[] = {{2, 0.9}};
	struct pos_ranked out[2];
	w.keyword = 1.0;
	w.semantic = 0.15;
	pos_fuse(&w, kw, 1, vec, 1, out);
	assert_int_equal(out[0].seq, 1);
	w.keyword = 0.15;
	w.semantic = 1.0;
	pos_fuse(&w, kw, 1, vec, 1, out);
	assert_int_equal(out[0].seq, 2);
	/* one list alone normalizes to 1 at rank 1 whatever its weight */
	pos_fuse(&w, NULL, 0, vec, 1, out);
	assert_true(out[0].rrf == 1.0);
}

/* MemU's list (docs/SEARCH.md, "MemU") is a third list with its own weight:
 * a memory in all three ranks first, one MemU alone found still ranks, and
 * the normalization counts the third list only when it returned hits. */
static void fuse_three_lists(void **state)
{
	struct pos_rank_weights w;
	pos_rank_weights_default(&w);
	assert_true(w.memu == 0.5);
	struct pos_hit kw[] = {{10, 5.0}, {20, 4.0}};
	struct pos_hit vec[] = {{20, 0.9}, {30, 0.8}};
	struct pos_hit mu[] = {{50, 0.95}, {20, 0.9}};
	struct pos_ranked out[6];
	size_t n = pos_fuse3(&w, kw, 2, vec, 2, mu, 2, out);
	assert_int_equal(n, 4);
	assert_int_equal(out[0].seq, 20); /* in all three */
	assert_int_equal(out[0].memu_rank, 2);
	assert_true(out[0].memu_score == 0.9);
	/* keyword rank 1 (weight 1) before MemU rank 1 (0.5) before
	 * semantic rank 2 (0.15) */
	assert_int_equal(out[1].seq, 10);
	assert_int_equal(out[2].seq, 50);
	assert_int_equal(out[2].memu_rank, 1);
	assert_int_equal(out[2].kw_rank, 0);
	assert_int_equal(out[3].seq, 30);
	for (size_t i = 0; i < n; i++)
		assert_true(out[i].rrf > 0 && out[i].rrf <= 1.0);
	/* without MemU hits it is the two-list fusion exactly */
	struct pos_ranked two[4], three[4];
	size_t n2 = pos_fuse(&w, kw, 2, vec, 2, two);
	size_t n3 = pos_fuse3(&w, kw, 2, vec, 2, NULL, 0, three);
	assert_int_equal(n2, n3);
	for (size_t i = 0; i < n2; i++) {
		assert_int_equal(two[i].seq, three[i].seq);
		assert_true(two[i].rrf == three[i].rrf);
	}
	/* weight 0 leaves MemU's memories in, ranked last */
	w.memu = 0;
	n = pos_fuse3(&w, kw, 2, NULL, 0, mu, 1, out);
	assert_int_equal(n, 3);
	assert_int_equal(out[2].seq, 50);
}

static void boosts_break_close_calls(void **state)
{
	struct pos_rank_weights w;
	pos_rank_weights_default(&w);
	int64_t now = 1700000000000000;
	struct pos_memory fresh = {.created_at = now, .importance = 0.9, .layer = POS_LAYER_ACTIVE};
	struct pos_memory old = {.created_at = now - 3650 * 86400e6, .importance = 0.1,
				 .layer = POS_LAYER_ARCHIVE};
	struct pos_ranked a = {.seq = 1, .rrf = 0.50}, b = {.seq = 2, .rrf = 0.50};
	pos_boost(&w, &fresh, now, &a);
	pos_boost(&w, &old, now, &b);
	assert_true(a.score > b.score);
	assert_true(a.b_recency > 0.049 && b.b_recency < 0.001);
	assert_true(b.b_layer < 0 && b.b_importance < 0);
	/* but boosts never lift a much weaker match over a strong one */
	struct pos_ranked strong = {.seq = 3, .rrf = 1.0}, weak = {.seq = 4, .rrf = 0.7};
	pos_boost(&w, &old, now, &strong);
	pos_boost(&w, &fresh, now, &weak);
	assert_true(strong.score > weak.score);
	struct pos_ranked arr[] = {weak, strong};
	pos_rank_sort(arr, 2);
	assert_int_equal(arr[0].seq, 3);
}

static void thread_credit_lifts_neighbours(void **state)
{
	(void)state;
	/* seq 1..5; 1 and 3 share thread "s1" with the best (1), 2 and 4
	 * share "s2", 5 is alone, 6 has no thread */
	struct pos_ranked r[6];
	const double score[6] = {1.0, 0.9, 0.5, 0.4, 0.45, 0.45};
	const char *th[6] = {"s1", "s2", "s1", "s2", "s3", NULL};
	for (int i = 0; i < 6; i++)
		r[i] = (struct pos_ranked){.seq = i + 1, .rrf = score[i], .score = score[i]};
	struct pos_thread_item tmp[6];
	pos_thread_credit(0.3, r, 6, th, tmp);
	/* each gains 0.3 × the best other of its thread, the best the second */
	assert_true(fabs(r[0].score - (1.0 + 0.3 * 0.5)) < 1e-12);
	assert_true(fabs(r[2].score - (0.5 + 0.3 * 1.0)) < 1e-12);
	assert_true(fabs(r[1].score - (0.9 + 0.3 * 0.4)) < 1e-12);
	assert_true(fabs(r[3].score - (0.4 + 0.3 * 0.9)) < 1e-12);
	/* alone in its thread, or in none: unchanged */
	assert_true(r[4].score == 0.45 && r[5].score == 0.45);
	pos_rank_sort(r, 6);
	/* seq 3 (0.8) now ranks above seq 4 (0.67) and both above 5 and 6 */
	assert_int_equal(r[2].seq, 3);
	assert_int_equal(r[3].seq, 4);
	/* w 0: nothing moves */
	struct pos_ranked q[2] = {{.seq = 1, .score = 1.0}, {.seq = 2, .score = 0.5}};
	const char *same[2] = {"t", "t"};
	pos_thread_credit(0, q, 2, same, tmp);
	assert_true(q[0].score == 1.0 && q[1].score == 0.5);
}

static void cache_generations_invalidate(void **state)
{
	struct pos_rcache *c = pos_rcache_new(64);
	assert_non_null(c);
	struct pos_arena *a = pos_arena_new();
	struct pos_ranked r[2] = {{.seq = 7, .score = 1}, {.seq = 8, .score = 0.5}};
	uint64_t g = pos_rcache_generation(c, "user-a");
	pos_rcache_put(c, "user-a", "q1", g, r, 2, 2);
	struct pos_ranked *got;
	size_t n;
	int64_t total;
	assert_true(pos_rcache_get(c, "user-a", "q1", g, a, &got, &n, &total));
	assert_int_equal(n, 2);
	assert_int_equal(got[1].seq, 8);
	/* another user and another key miss */
	assert_false(pos_rcache_get(c, "user-b", "q1", pos_rcache_generation(c, "user-b"), a,
				    &got, &n, &total));
	assert_false(pos_rcache_get(c, "user-a", "q2", g, a, &got, &n, &total));
	/* a write of user-a invalidates */
	pos_rcache_bump(c, "user-a");
	assert_false(pos_rcache_get(c, "user-a", "q1", pos_rcache_generation(c, "user-a"), a,
				    &got, &n, &total));
	uint64_t hits, misses;
	pos_rcache_stats(c, &hits, &misses);
	assert_int_equal(hits, 1);
	assert_int_equal(misses, 3);
	pos_arena_destroy(a);
	pos_rcache_free(c);
}

/* Own results and keyword-only shared hits merge by score, paged. */
/* The wire form of a cached list (a cache shared by instances): round
 * trip, and anything else read as a miss. */
static void cache_wire_form(void **state)
{
	(void)state;
	struct pos_arena *a = pos_arena_new();
	struct pos_ranked r[3] = {{.seq = 7, .score = 0.5}, {.seq = 3, .score = 0.25},
				  {.seq = 9, .kw_rank = 2, .score = 0.125}};
	size_t len = pos_rcache_encoded_size(3);
	unsigned char *buf = pos_arena_alloc(a, len + 1);
	pos_rcache_encode(r, 3, 42, buf);
	struct pos_ranked *got = NULL;
	size_t n = 0;
	int64_t total = 0;
	assert_true(pos_rcache_decode(buf, len, 10, a, &got, &n, &total));
	assert_int_equal(n, 3);
	assert_int_equal(total, 42);
	assert_int_equal(got[2].seq, 9);
	assert_int_equal(got[2].kw_rank, 2);
	assert_true(got[1].score == 0.25);
	assert_false(pos_rcache_decode(buf, len - 1, 10, a, &got, &n, &total)); /* cut */
	assert_false(pos_rcache_decode(buf, len + 1, 10, a, &got, &n, &total)); /* trailing */
	assert_false(pos_rcache_decode(buf, len, 2, a, &got, &n, &total));      /* too many */
	assert_false(pos_rcache_decode(buf, 3, 10, a, &got, &n, &total));
	buf[0] ^= 1;                                                            /* format */
	assert_false(pos_rcache_decode(buf, len, 10, a, &got, &n, &total));
	pos_rcache_encode(r, 0, 0, buf);
	assert_true(pos_rcache_decode(buf, pos_rcache_encoded_size(0), 10, a, &got, &n, &total));
	assert_int_equal(n, 0);
	pos_arena_destroy(a);
}

static void merge_pages_two_lists(void **state)
{
	(void)state;
	struct pos_rank_weights w;
	pos_rank_weights_default(&w);
	w.keyword = 1.0;
	w.rrf_k = 1.0;
	/* shared hits score 1/2, 1/3, 1/4 */
	double own[] = {0.6, 0.4, 0.2};
	struct pos_fused_item out[6];
	size_t n = pos_fuse_merge(&w, own, 3, 3, 0, 6, out);
	assert_int_equal(n, 6);
	/* 0.6 own, 0.5 shared, 0.4 own, 0.333 shared, 0.25 shared, 0.2 own */
	bool other[] = {false, true, false, true, true, false};
	size_t index[] = {0, 0, 1, 1, 2, 2};
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(out[i].other, other[i]);
		assert_int_equal(out[i].index, index[i]);
	}
	assert_true(out[1].score > 0.49 && out[1].score < 0.51);
	/* a page from the middle */
	n = pos_fuse_merge(&w, own, 3, 3, 2, 2, out);
	assert_int_equal(n, 2);
	assert_false(out[0].other);
	assert_int_equal(out[0].index, 1);
	assert_true(out[1].other);
	assert_int_equal(out[1].index, 1);
	/* ties go to the own list; an empty side is fine */
	double tie[] = {0.5};
	n = pos_fuse_merge(&w, tie, 1, 1, 0, 1, out);
	assert_int_equal(n, 1);
	assert_false(out[0].other);
	assert_int_equal(pos_fuse_merge(&w, NULL, 0, 2, 5, 3, out), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fuse_merges_and_normalizes),
		cmocka_unit_test(weights_shift_the_order),
		cmocka_unit_test(fuse_three_lists),
		cmocka_unit_test(boosts_break_close_calls),
		cmocka_unit_test(thread_credit_lifts_neighbours),
		cmocka_unit_test(cache_generations_invalidate),
		cmocka_unit_test(cache_wire_form),
		cmocka_unit_test(merge_pages_two_lists),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
