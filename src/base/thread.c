/*
 * thread.c — the periodic ticker and the fork-join pool; see thread.h.
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

/* ---- the fork-join pool ---- */

/* One pos_parallel_for call: items are claimed in order under the pool's
 * lock; the caller waits until `running` and the unclaimed items are 0. */
struct pf_call {
	void (*fn)(void *ctx, size_t i);
	void *ctx;
	size_t n, next, running;
	pthread_cond_t finished;
	struct pf_call *link;       /* the pool's list of calls with items left */
};

struct pos_workers {
	pthread_mutex_t mu;
	pthread_cond_t work;
	struct pf_call *calls;      /* calls with unclaimed items, oldest first */
	bool stop;
	unsigned n;
	pthread_t threads[];
};

/* Claims the next item of the oldest call with items left, under w->mu;
 * false when there is none. */
static bool pf_claim(struct pos_workers *w, struct pf_call **c, size_t *i)
{
	struct pf_call *head = w->calls;
	if (!head)
		return false;
	*c = head;
	*i = head->next++;
	head->running++;
	if (head->next == head->n)
		w->calls = head->link; /* no item left: off the list */
	return true;
}

/* Runs one claimed item and accounts for it, with w->mu held on entry and
 * on return. */
static void pf_run(struct pos_workers *w, struct pf_call *c, size_t i)
{
	pthread_mutex_unlock(&w->mu);
	c->fn(c->ctx, i);
	pthread_mutex_lock(&w->mu);
	if (--c->running == 0 && c->next == c->n)
		pthread_cond_broadcast(&c->finished);
}

static void *workers_main(void *arg)
{
	struct pos_workers *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		struct pf_call *c;
		size_t i;
		if (pf_claim(w, &c, &i)) {
			pf_run(w, c, i);
			continue;
		}
		if (w->stop)
			break;
		pthread_cond_wait(&w->work, &w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

enum pos_err pos_workers_new(unsigned n, struct pos_workers **out)
{
	*out = NULL;
	if (n == 0 || n > POS_WORKERS_MAX)
		return POS_ERR_INVALID_REQUEST;
	struct pos_workers *w = pos_calloc(1, sizeof(*w) + n * sizeof(w->threads[0]));
	if (!w)
		return POS_ERR_NOMEM;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->work, NULL);
	for (; w->n < n; w->n++)
		if (pthread_create(&w->threads[w->n], NULL, workers_main, w) != 0)
			break;
	if (w->n < n) {
		pos_workers_free(w);
		return POS_ERR_INTERNAL;
	}
	*out = w;
	return POS_OK;
}

void pos_parallel_for(struct pos_workers *w, size_t n, void (*fn)(void *ctx, size_t i),
		      void *ctx)
{
	if (!w || n < 2) {
		for (size_t i = 0; i < n; i++)
			fn(ctx, i);
		return;
	}
	struct pf_call c = {.fn = fn, .ctx = ctx, .n = n};
	pthread_cond_init(&c.finished, NULL);
	pthread_mutex_lock(&w->mu);
	struct pf_call **tail = &w->calls;
	while (*tail)
		tail = &(*tail)->link;
	*tail = &c;
	if (n - 1 < w->n) {
		for (size_t k = 0; k < n - 1; k++)
			pthread_cond_signal(&w->work);
	} else {
		pthread_cond_broadcast(&w->work);
	}
	/* The caller takes items of its own call only (another call's item
	 * could outlast this one). */
	while (c.next < c.n) {
		size_t i = c.next++;
		c.running++;
		if (c.next == c.n) {
			struct pf_call **pp = &w->calls;
			while (*pp != &c)
				pp = &(*pp)->link;
			*pp = c.link;
		}
		pf_run(w, &c, i);
	}
	while (c.running > 0)
		pthread_cond_wait(&c.finished, &w->mu);
	pthread_mutex_unlock(&w->mu);
	pthread_cond_destroy(&c.finished);
}

void pos_workers_free(struct pos_workers *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_broadcast(&w->work);
	pthread_mutex_unlock(&w->mu);
	for (unsigned i = 0; i < w->n; i++)
		pthread_join(w->threads[i], NULL);
	pthread_cond_destroy(&w->work);
	pthread_mutex_destroy(&w->mu);
	pos_free(w);
}

struct pos_thread {
	pthread_t id;
};

enum pos_err pos_thread_start(void *(*fn)(void *arg), void *arg, struct pos_thread **out)
{
	struct pos_thread *t = pos_calloc(1, sizeof(*t));
	if (!t)
		return POS_ERR_NOMEM;
	if (pthread_create(&t->id, NULL, fn, arg) != 0) {
		pos_free(t);
		return POS_ERR_INTERNAL;
	}
	*out = t;
	return POS_OK;
}

void pos_thread_join(struct pos_thread *t)
{
	if (!t)
		return;
	pthread_join(t->id, NULL);
	pos_free(t);
}
