/* Unit tests for src/search/vcache: the LRU bounds (users and bytes) over
 * per-user vector indexes, and loading on the cache's loader thread
 * (pos_vcache_prepare answers "not yet" while a load runs). The store is a
 * stand-in whose vectors_load serves a fixed number of vectors per user
 * and, for the user "slow", waits until the test lets it go. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <string.h>

#include "search/vcache.h"
#include "search/vector.h"

#define DIM 64
#define PER_USER 200
#define BIG_ROWS 1100 /* grown 1.5x from 64, the capacity would be 1,639 */

struct fake {
	struct pos_store base;           /* first: the cache sees a pos_store */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool slow_started, slow_go;
	int loads;
};

static enum pos_err fake_load(struct pos_store *s, const char *user_id, const char *model,
			      void (*fn)(void *ctx, int64_t seq, float scale,
					 const int8_t *q, unsigned dim),
			      void *ctx)
{
	(void)model;
	struct fake *f = (struct fake *)s;
	pthread_mutex_lock(&f->mu);
	f->loads++;
	if (strcmp(user_id, "slow") == 0) {
		f->slow_started = true;
		pthread_cond_broadcast(&f->cv);
		while (!f->slow_go)
			pthread_cond_wait(&f->cv, &f->mu);
	}
	pthread_mutex_unlock(&f->mu);
	int8_t q[DIM];
	if (strcmp(user_id, "ties") == 0) {
		/* 1,000 rows whose 4-bit codes tie with a better row stored
		 * after them (vector.h, the first stage) */
		memset(q, 0, sizeof(q));
		q[0] = 127;
		q[1] = 4; /* code round(4 * 7 / 127) = 0 */
		for (int i = 1; i <= 1000; i++)
			fn(ctx, i, 1, q, DIM);
		q[1] = 9; /* code 0 too, but a higher int8 score */
		fn(ctx, 5000, 1, q, DIM);
		return POS_OK;
	}
	int rows = strcmp(user_id, "big") == 0 ? BIG_ROWS : PER_USER;
	for (int i = 0; i < rows; i++) {
		for (int d = 0; d < DIM; d++)
			q[d] = (int8_t)((i * 7 + d * 3) % 100 - 50);
		fn(ctx, i + 1, 0.01f, q, DIM);
	}
	return POS_OK;
}

static const struct pos_store_memories fake_memories = {.vectors_load = fake_load};

/* The user's row: "big" holds BIG_ROWS memories; the others are unknown
 * (the cache then grows the index as it loads). */
static enum pos_err fake_user(struct pos_store *s, struct pos_arena *a, const char *id,
			      struct pos_user *out)
{
	(void)s;
	(void)a;
	memset(out, 0, sizeof(*out));
	if (strcmp(id, "big") != 0)
		return POS_ERR_NOT_FOUND;
	out->memory_count = BIG_ROWS;
	return POS_OK;
}

static const struct pos_store_accounts fake_accounts = {.user_by_id = fake_user};

static void fake_init(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	f->base.memories = &fake_memories;
	f->base.accounts = &fake_accounts;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
}

static void search_one(struct pos_vcache *c, const char *user)
{
	int8_t q[DIM];
	memset(q, 1, sizeof(q));
	struct pos_hit out[4];
	size_t n = 0;
	assert_int_equal(pos_vcache_search(c, user, q, 0.01f, 4, NULL, NULL, out, &n), POS_OK);
	assert_int_equal(n, 4);
}

/* The bytes of one user's index, measured with an unbounded cache. */
static size_t one_user_bytes(void)
{
	struct fake f;
	fake_init(&f);
	struct pos_vcache *c = NULL;
	assert_int_equal(pos_vcache_new(&f.base, "m", DIM, 100, 0, &c), POS_OK);
	search_one(c, "a");
	size_t bytes, users;
	pos_vcache_usage(c, &bytes, &users);
	assert_int_equal(users, 1);
	assert_true(bytes > (size_t)PER_USER * DIM);
	pos_vcache_free(c);
	return bytes;
}

/* A user's index is sized from the user's memory count before the load
 * (plus 1/32 and 64 rows for the writes after it), not grown 1.5x a time
 * while loading, which at 10M rows held the old and the new arrays at once
 * and left up to half the rows' bytes unused but counted. */
static void load_reserves_for_the_memory_count(void **state)
{
	(void)state;
	struct fake f;
	fake_init(&f);
	struct pos_vcache *c = NULL;
	assert_int_equal(pos_vcache_new(&f.base, "m", DIM, 100, 0, &c), POS_OK);
	search_one(c, "big");
	size_t bytes, users;
	pos_vcache_usage(c, &bytes, &users);
	struct pos_vindex *want = NULL;
	assert_int_equal(pos_vindex_new(DIM, &want), POS_OK);
	assert_int_equal(pos_vindex_reserve(want, BIG_ROWS + BIG_ROWS / 32 + 64), POS_OK);
	assert_int_equal(bytes, pos_vindex_memory(want));
	pos_vindex_free(want);
	pos_vcache_free(c);
}

static void byte_budget_evicts_least_recently_used(void **state)
{
	(void)state;
	size_t one = one_user_bytes();
	struct fake f;
	fake_init(&f);
	struct pos_vcache *c = NULL;
	/* room for two users' indexes, not three */
	assert_int_equal(pos_vcache_new(&f.base, "m", DIM, 100, 2 * one + one / 2, &c), POS_OK);
	search_one(c, "a");
	search_one(c, "b");
	search_one(c, "a"); /* a is now more recent than b */
	search_one(c, "c");
	size_t bytes, users;
	pos_vcache_usage(c, &bytes, &users);
	assert_int_equal(users, 2);
	assert_true(bytes <= 2 * one + one / 2);
	assert_true(pos_vcache_resident(c, "a"));
	assert_false(pos_vcache_resident(c, "b"));
	assert_true(pos_vcache_resident(c, "c"));
	/* b comes back by loading again */
	int before = f.loads;
	search_one(c, "b");
	assert_int_equal(f.loads, before + 1);
	assert_true(pos_vcache_resident(c, "b"));
	assert_false(pos_vcache_resident(c, "a"));
	pos_vcache_free(c);
}

static void user_bound_still_applies(void **state)
{
	(void)state;
	struct fake f;
	fake_init(&f);
	struct pos_vcache *c = NULL;
	assert_int_equal(pos_vcache_new(&f.base, "m", DIM, 2, 0, &c), POS_OK);
	search_one(c, "a");
	search_one(c, "b");
	search_one(c, "c");
	size_t bytes, users;
	pos_vcache_usage(c, &bytes, &users);
	assert_int_equal(users, 2);
	assert_false(pos_vcache_resident(c, "a"));
	pos_vcache_free(c);
}

static void prepare_answers_loading_until_loaded(void **state)
{
	(void)state;
	struct fake f;
	fake_init(&f);
	struct pos_vcache *c = NULL;
	assert_int_equal(pos_vcache_new(&f.base, "m", DIM, 10, 0, &c), POS_OK);
	/* not resident: queued for the loader, "not yet" */
	assert_int_equal(pos_vcache_prepare(c, "slow", 0), POS_ERR_UNAVAILABLE);
	pthread_mutex_lock(&f.mu);
	while (!f.slow_started)
		pthread_cond_wait(&f.cv, &f.mu);
	pthread_mutex_unlock(&f.mu);
	/* still loading: asking again does not queue a second load */
	assert_int_equal(pos_vcache_prepare(c, "slow", 0), POS_ERR_UNAVAILABLE);
	assert_false(pos_vcache_resident(c, "slow"));
	pthread_mutex_lock(&f.mu);
	f.slow_go = true;
	pthread_cond_broadcast(&f.cv);
	pthread_mutex_unlock(&f.mu);
	/* waits (without a bound that matters) for the load to finish */
	assert_int_equal(pos_vcache_prepare(c, "slow", 60000), POS_OK);
	assert_true(pos_vcache_resident(c, "slow"));
	assert_int_equal(f.loads, 1);
	search_one(c, "slow");
	assert_int_equal(f.loads, 1); /* resident: no second load */
	/* forgotten (another instance wrote): loads again */
	pos_vcache_forget(c, "slow");
	assert_false(pos_vcache_resident(c, "slow"));
	assert_int_equal(pos_vcache_prepare(c, "slow", 60000), POS_OK);
	assert_int_equal(f.loads, 2);
	pos_vcache_free(c);
}

static void free_with_a_load_queued(void **state)
{
	(void)state;
	struct fake f;
	fake_init(&f);
	f.slow_go = true;
	struct pos_vcache *c = NULL;
	assert_int_equal(pos_vcache_new(&f.base, "m", DIM, 10, 0, &c), POS_OK);
	(void)pos_vcache_prepare(c, "a", 0);
	(void)pos_vcache_prepare(c, "b", 0);
	pos_vcache_free(c); /* joins the loader; nothing leaks (ASan) */
}

/* Auto-linking's batch search is exact whatever the cache's scan mode:
 * where the two-stage scan misses the best row (its 4-bit code ties with
 * a thousand rows before it), pos_vcache_search_many finds it; rows put
 * with pos_vcache_put_many are all in the index at once. */
static void search_many_is_exact_and_put_many(void **state)
{
	(void)state;
	struct fake f;
	fake_init(&f);
	struct pos_vcache *c = NULL;
	assert_int_equal(pos_vcache_new(&f.base, "m", DIM, 10, 0, &c), POS_OK);
	int8_t q[DIM] = {0};
	q[1] = 127;
	struct pos_hit h[2];
	size_t n = 0;
	assert_int_equal(pos_vcache_search(c, "ties", q, 1, 1, NULL, NULL, h, &n), POS_OK);
	assert_int_equal(n, 1);
	assert_true(h[0].seq <= 1000); /* the two-stage scan: a tie row */
	const int8_t *qs[2] = {q, q};
	float sc[2] = {1, 1};
	size_t ns[2];
	struct pos_hit hm[4];
	assert_int_equal(pos_vcache_search_many(c, "ties", 2, qs, sc, 2, hm, ns), POS_OK);
	assert_int_equal(ns[0], 2);
	assert_int_equal(ns[1], 2);
	assert_int_equal(hm[0].seq, 5000);
	assert_int_equal(hm[1].seq, 1); /* then the ties, by seq */
	assert_int_equal(hm[2].seq, 5000);
	/* put_many: three better rows at once */
	int8_t r1[DIM] = {0}, r2[DIM] = {0}, r3[DIM] = {0};
	r1[1] = 20;
	r2[1] = 30;
	r3[1] = 40;
	int64_t seqs[3] = {7001, 7002, 7003};
	const int8_t *rows[3] = {r1, r2, r3};
	float rs[3] = {1, 1, 1};
	pos_vcache_put_many(c, "ties", 3, seqs, rows, rs);
	pos_vcache_put_many(c, "ties", 0, seqs, rows, rs); /* nothing */
	assert_int_equal(pos_vcache_search_many(c, "ties", 1, qs, sc, 2, hm, ns), POS_OK);
	assert_int_equal(ns[0], 2);
	assert_int_equal(hm[0].seq, 7003);
	assert_int_equal(hm[1].seq, 7002);
	/* a user not loaded: put_many leaves it to the next load */
	pos_vcache_put_many(c, "other", 3, seqs, rows, rs);
	assert_false(pos_vcache_resident(c, "other"));
	pos_vcache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(load_reserves_for_the_memory_count),
		cmocka_unit_test(byte_budget_evicts_least_recently_used),
		cmocka_unit_test(user_bound_still_applies),
		cmocka_unit_test(prepare_answers_loading_until_loaded),
		cmocka_unit_test(free_with_a_load_queued),
		cmocka_unit_test(search_many_is_exact_and_put_many),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
