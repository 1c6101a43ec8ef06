/*
 * thread.c — the periodic ticker; see thread.h.
 */
#include "base/thread.h"

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "base/alloc.h"

struct pos_ticker {
	pthread_mutex_t mu;
	pthread_cond_t wake;
	pthread_t thread;
	int64_t interval_us;
	void (*fn)(void *ctx);
	void *ctx;
	bool kicked, stop;
};

static void *ticker_main(void *arg)
{
	struct pos_ticker *t = arg;
	pthread_mutex_lock(&t->mu);
	while (!t->stop) {
		if (!t->kicked) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			int64_t ns = ts.tv_nsec + t->interval_us * 1000;
			ts.tv_sec += ns / 1000000000;
			ts.tv_nsec = ns % 1000000000;
			pthread_cond_timedwait(&t->wake, &t->mu, &ts);
		}
		if (t->stop)
			break;
		t->kicked = false;
		pthread_mutex_unlock(&t->mu);
		t->fn(t->ctx);
		pthread_mutex_lock(&t->mu);
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

enum pos_err pos_ticker_start(int64_t interval_us, void (*fn)(void *ctx), void *ctx,
			      struct pos_ticker **out)
{
	*out = NULL;
	if (interval_us <= 0 || !fn)
		return POS_ERR_INVALID_REQUEST;
	struct pos_ticker *t = pos_calloc(1, sizeof(*t));
	if (!t)
		return POS_ERR_NOMEM;
	t->interval_us = interval_us;
	t->fn = fn;
	t->ctx = ctx;
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->wake, NULL);
	if (pthread_create(&t->thread, NULL, ticker_main, t) != 0) {
		pthread_cond_destroy(&t->wake);
		pthread_mutex_destroy(&t->mu);
		pos_free(t);
		return POS_ERR_INTERNAL;
	}
	*out = t;
	return POS_OK;
}

void pos_ticker_kick(struct pos_ticker *t)
{
	pthread_mutex_lock(&t->mu);
	t->kicked = true;
	pthread_cond_signal(&t->wake);
	pthread_mutex_unlock(&t->mu);
}

void pos_ticker_stop(struct pos_ticker *t)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->mu);
	t->stop = true;
	pthread_cond_signal(&t->wake);
	pthread_mutex_unlock(&t->mu);
	pthread_join(t->thread, NULL);
	t->fn(t->ctx);
	pthread_cond_destroy(&t->wake);
	pthread_mutex_destroy(&t->mu);
	pos_free(t);
}
