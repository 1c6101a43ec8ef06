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

int pos_cond_init_mono(pthread_cond_t *c)
{
	pthread_condattr_t ca;
	int rc = pthread_condattr_init(&ca);
	if (rc)
		return rc;
	rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (!rc)
		rc = pthread_cond_init(c, &ca);
	pthread_condattr_destroy(&ca);
	return rc;
}

struct timespec pos_mono_timespec(int64_t at_us)
{
	struct timespec ts = {.tv_sec = (time_t)(at_us / 1000000),
			      .tv_nsec = (long)(at_us % 1000000) * 1000};
	return ts;
}

struct timespec pos_mono_deadline(int64_t after_us)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t ns = ts.tv_nsec + after_us * 1000;
	ts.tv_sec += (time_t)(ns / 1000000000);
	ts.tv_nsec = (long)(ns % 1000000000);
	return ts;
}

static void *ticker_main(void *arg)
{
	struct pos_ticker *t = arg;
	pthread_mutex_lock(&t->mu);
	while (!t->stop) {
		if (!t->kicked) {
			struct timespec ts = pos_mono_deadline(t->interval_us);
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
	pos_cond_init_mono(&t->wake);
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
