/*
 * admission.c — slots, a FIFO of parked waiters and the sweeper that
 * expires them (contract in admission.h).
 */
#include "http/admission.h"

#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/thread.h"

/* Takes the queue's head (lock held). */
static struct pos_adm_waiter *pop(struct pos_admission *a)
{
	struct pos_adm_waiter *w = a->head;
	if (!w)
		return NULL;
	a->head = w->next;
	if (!a->head)
		a->tail = NULL;
	w->next = NULL;
	a->queued--;
	return w;
}

/* Removes w from the queue wherever it is (lock held). */
static void unlink_waiter(struct pos_admission *a, struct pos_adm_waiter *w)
{
	struct pos_adm_waiter **p = &a->head, *prev = NULL;
	while (*p && *p != w) {
		prev = *p;
		p = &(*p)->next;
	}
	if (!*p)
		return;
	*p = w->next;
	if (a->tail == w)
		a->tail = prev;
	w->next = NULL;
	a->queued--;
}

/* Expires every waiter whose deadline is before `now` (all with
 * now = INT64_MAX) into the list *out (lock held). */
static void expire(struct pos_admission *a, int64_t now, struct pos_adm_waiter **out)
{
	struct pos_adm_waiter *last = NULL;
	while (a->head && a->head->deadline_us <= now) {
		struct pos_adm_waiter *w = pop(a);
		w->state = POS_ADM_EXPIRED;
		atomic_fetch_add(&a->expired, 1);
		if (last)
			last->next = w;
		else
			*out = w;
		last = w;
	}
}

/* Wakes a list built by expire (lock not held). `next` is read before the
 * wake: after it the waiter may be gone. */
static void wake_list(struct pos_admission *a, struct pos_adm_waiter *w)
{
	while (w) {
		struct pos_adm_waiter *next = w->next;
		w->next = NULL;
		a->wake(w->ctx);
		w = next;
	}
}

static void *sweep(void *arg)
{
	struct pos_admission *a = arg;
	pthread_mutex_lock(&a->lock);
	while (!a->closed) {
		if (!a->head) {
			pthread_cond_wait(&a->tick, &a->lock);
			continue;
		}
		int64_t now = pos_mono_us();
		if (a->head->deadline_us > now) {
			/* FIFO with one wait for all: the head expires first. */
			struct timespec ts = pos_mono_timespec(a->head->deadline_us);
			pthread_cond_timedwait(&a->tick, &a->lock, &ts);
			continue;
		}
		struct pos_adm_waiter *gone = NULL;
		expire(a, now, &gone);
		pthread_mutex_unlock(&a->lock);
		wake_list(a, gone);
		pthread_mutex_lock(&a->lock);
	}
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

int pos_adm_init(struct pos_admission *a, unsigned max_inflight, unsigned max_queue,
		 unsigned wait_ms, void (*park)(void *ctx), void (*wake)(void *ctx))
{
	memset(a, 0, sizeof(*a));
	a->max_inflight = max_inflight ? max_inflight : 1;
	a->max_queue = max_queue ? max_queue : 1;
	a->wait_us = (int64_t)(wait_ms ? wait_ms : 1) * 1000;
	a->park = park;
	a->wake = wake;
	/* The sweeper's deadlines are monotonic (pos_mono_us): a wall-clock
	 * jump neither expires the queue nor holds it. */
	if (pos_cond_init_mono(&a->tick) != 0)
		return -1;
	if (pthread_mutex_init(&a->lock, NULL) != 0) {
		pthread_cond_destroy(&a->tick);
		return -1;
	}
	if (pthread_create(&a->sweeper, NULL, sweep, a) != 0) {
		pthread_mutex_destroy(&a->lock);
		pthread_cond_destroy(&a->tick);
		return -1;
	}
	a->sweeper_on = true;
	return 0;
}

enum pos_adm_verdict pos_adm_enter(struct pos_admission *a, struct pos_adm_waiter *w,
				   void *ctx, int64_t now_us)
{
	enum pos_adm_verdict v;
	pthread_mutex_lock(&a->lock);
	w->ctx = ctx;
	w->next = NULL;
	if (a->closed) {
		w->state = POS_ADM_DONE;
		v = POS_ADM_FULL;
	} else if (a->running < a->max_inflight && !a->head) {
		a->running++;
		w->state = POS_ADM_RUNNING;
		w->since_us = now_us;
		atomic_fetch_add(&a->admitted, 1);
		v = POS_ADM_RUN;
	} else if (a->queued < a->max_queue &&
		   (int64_t)(a->queued + 1) * a->hold_us / a->max_inflight <= a->wait_us) {
		w->state = POS_ADM_QUEUED;
		w->deadline_us = now_us + a->wait_us;
		if (a->tail)
			a->tail->next = w;
		else
			a->head = w;
		a->tail = w;
		a->queued++;
		/* Parked before the lock is let go: a release that hands it
		 * the slot (and wakes it) can only come after. */
		a->park(ctx);
		if (a->queued == 1)
			pthread_cond_signal(&a->tick);
		v = POS_ADM_WAIT;
	} else {
		w->state = POS_ADM_DONE;
		atomic_fetch_add(&a->rejected, 1);
		v = POS_ADM_FULL;
	}
	pthread_mutex_unlock(&a->lock);
	return v;
}

void pos_adm_release(struct pos_admission *a, struct pos_adm_waiter *w)
{
	struct pos_adm_waiter *next = NULL;
	pthread_mutex_lock(&a->lock);
	if (w->state == POS_ADM_QUEUED) {
		unlink_waiter(a, w);
	} else if (w->state == POS_ADM_RUNNING) {
		int64_t now = pos_mono_us();
		/* hold time, averaged over about the last 8 releases */
		a->hold_us += (now - w->since_us - a->hold_us) / 8;
		/* The slot passes to the oldest waiter, or is given back. */
		next = pop(a);
		if (next) {
			next->state = POS_ADM_RUNNING;
			next->since_us = now;
			atomic_fetch_add(&a->waited, 1);
		} else {
			a->running--;
		}
	}
	if (w->state != POS_ADM_IDLE)
		w->state = POS_ADM_DONE;
	pthread_mutex_unlock(&a->lock);
	if (next)
		a->wake(next->ctx);
}

void pos_adm_flush(struct pos_admission *a)
{
	struct pos_adm_waiter *gone = NULL;
	pthread_mutex_lock(&a->lock);
	expire(a, INT64_MAX, &gone);
	pthread_mutex_unlock(&a->lock);
	wake_list(a, gone);
}

void pos_adm_close(struct pos_admission *a)
{
	if (!a->sweeper_on)
		return;
	pthread_mutex_lock(&a->lock);
	bool was = a->closed;
	a->closed = true;
	pthread_cond_signal(&a->tick);
	pthread_mutex_unlock(&a->lock);
	if (!was)
		pthread_join(a->sweeper, NULL);
	pos_adm_flush(a);
}

void pos_adm_fini(struct pos_admission *a)
{
	if (!a->sweeper_on)
		return;
	pos_adm_close(a);
	pthread_mutex_destroy(&a->lock);
	pthread_cond_destroy(&a->tick);
	a->sweeper_on = false;
}

void pos_adm_stats(struct pos_admission *a, struct pos_adm_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!a->sweeper_on)
		return;
	pthread_mutex_lock(&a->lock);
	out->running = a->running;
	out->queued = a->queued;
	pthread_mutex_unlock(&a->lock);
	out->admitted = atomic_load(&a->admitted);
	out->waited = atomic_load(&a->waited);
	out->rejected = atomic_load(&a->rejected);
	out->expired = atomic_load(&a->expired);
}
