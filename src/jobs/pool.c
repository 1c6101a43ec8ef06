/*
 * pool.c — bounded worker threads and a bounded FIFO queue; see pool.h.
 */
#include "jobs/pool.h"

#include <pthread.h>
#include <stdatomic.h>

#include "base/alloc.h"
#include "base/clock.h"

struct pos_pool_job {
	pos_pool_fn fn;
	void *arg;
	int64_t timeout_us;
	atomic_int_fast64_t deadline;   /* monotonic us; 0 = none (set at start) */
	atomic_bool cancel;
	atomic_int state;               /* enum pos_pool_job_state */
	atomic_uint_fast64_t done, total;
	atomic_int refs;
	struct pos_pool *pool;          /* for pos_pool_job_wait */
	struct pos_pool_job *next;      /* queue or running-list link, under pool->mu */
};

struct pos_pool {
	pthread_mutex_t mu;
	pthread_cond_t work;     /* a job was queued, or stop */
	pthread_cond_t finished; /* a job returned */
	struct pos_pool_job *head, *tail; /* the queue, oldest first */
	struct pos_pool_job *active;      /* running jobs */
	size_t queued, running, queue_max;
	bool stop;
	unsigned n_threads;
	pthread_t threads[POS_POOL_WORKERS_MAX];
};

static void job_unref(struct pos_pool_job *j)
{
	if (j && atomic_fetch_sub(&j->refs, 1) == 1)
		pos_free(j);
}

static void *worker_main(void *arg)
{
	struct pos_pool *p = arg;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->head && !p->stop)
			pthread_cond_wait(&p->work, &p->mu);
		struct pos_pool_job *j = p->head;
		if (!j)
			break; /* stopping and nothing left to hand back */
		p->head = j->next;
		if (!p->head)
			p->tail = NULL;
		p->queued--;
		p->running++;
		j->next = p->active;
		p->active = j;
		if (p->stop)
			atomic_store(&j->cancel, true);
		pthread_mutex_unlock(&p->mu);
		if (j->timeout_us > 0)
			atomic_store(&j->deadline, pos_mono_us() + j->timeout_us);
		atomic_store(&j->state, POS_POOL_JOB_RUNNING);
		j->fn(j, j->arg);
		pthread_mutex_lock(&p->mu);
		for (struct pos_pool_job **pp = &p->active; *pp; pp = &(*pp)->next)
			if (*pp == j) {
				*pp = j->next;
				break;
			}
		atomic_store(&j->state, POS_POOL_JOB_DONE);
		p->running--;
		pthread_cond_broadcast(&p->finished);
		pthread_mutex_unlock(&p->mu);
		job_unref(j); /* the pool's reference */
		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

enum pos_err pos_pool_new(unsigned workers, size_t queue_max, struct pos_pool **out)
{
	*out = NULL;
	if (workers < 1 || workers > POS_POOL_WORKERS_MAX || queue_max < 1)
		return POS_ERR_INVALID_REQUEST;
	struct pos_pool *p = pos_calloc(1, sizeof(*p));
	if (!p)
		return POS_ERR_NOMEM;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->finished, NULL);
	p->queue_max = queue_max;
	for (unsigned i = 0; i < workers; i++) {
		if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0) {
			pos_pool_free(p);
			return POS_ERR_INTERNAL;
		}
		p->n_threads++;
	}
	*out = p;
	return POS_OK;
}

void pos_pool_free(struct pos_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	for (struct pos_pool_job *j = p->head; j; j = j->next)
		atomic_store(&j->cancel, true);
	for (struct pos_pool_job *j = p->active; j; j = j->next)
		atomic_store(&j->cancel, true);
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	/* Workers finish their job, drain the queue (each job called once,
	 * cancelled) and exit. */
	for (unsigned i = 0; i < p->n_threads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->finished);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->mu);
	pos_free(p);
}

enum pos_err pos_pool_submit(struct pos_pool *p, pos_pool_fn fn, void *arg,
			     int64_t timeout_us, struct pos_pool_job **out)
{
	if (out)
		*out = NULL;
	struct pos_pool_job *j = pos_calloc(1, sizeof(*j));
	if (!j)
		return POS_ERR_NOMEM;
	j->fn = fn;
	j->arg = arg;
	j->timeout_us = timeout_us > 0 ? timeout_us : 0;
	j->pool = p;
	atomic_init(&j->deadline, 0);
	atomic_init(&j->cancel, false);
	atomic_init(&j->state, POS_POOL_JOB_QUEUED);
	atomic_init(&j->done, 0);
	atomic_init(&j->total, 0);
	atomic_init(&j->refs, out ? 2 : 1);
	pthread_mutex_lock(&p->mu);
	if (p->stop || p->queued >= p->queue_max) {
		pthread_mutex_unlock(&p->mu);
		pos_free(j);
		return POS_ERR_UNAVAILABLE;
	}
	if (p->tail)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	p->queued++;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->mu);
	if (out)
		*out = j;
	return POS_OK;
}

size_t pos_pool_queued(struct pos_pool *p)
{
	pthread_mutex_lock(&p->mu);
	size_t n = p->queued;
	pthread_mutex_unlock(&p->mu);
	return n;
}

size_t pos_pool_running(struct pos_pool *p)
{
	pthread_mutex_lock(&p->mu);
	size_t n = p->running;
	pthread_mutex_unlock(&p->mu);
	return n;
}

void pos_pool_job_cancel(struct pos_pool_job *j)
{
	atomic_store(&j->cancel, true);
}

bool pos_pool_job_cancelled(const struct pos_pool_job *j)
{
	return atomic_load(&j->cancel);
}

bool pos_pool_job_expired(const struct pos_pool_job *j)
{
	int64_t d = atomic_load(&j->deadline);
	return d > 0 && pos_mono_us() >= d;
}

bool pos_pool_job_should_stop(const struct pos_pool_job *j)
{
	return pos_pool_job_cancelled(j) || pos_pool_job_expired(j);
}

int64_t pos_pool_job_remaining_us(const struct pos_pool_job *j)
{
	int64_t d = atomic_load(&j->deadline);
	if (d <= 0)
		return INT64_MAX;
	int64_t left = d - pos_mono_us();
	return left > 0 ? left : 0;
}

void pos_pool_job_set_progress(struct pos_pool_job *j, uint64_t done, uint64_t total)
{
	atomic_store(&j->done, done);
	atomic_store(&j->total, total);
}

void pos_pool_job_progress(const struct pos_pool_job *j, uint64_t *done, uint64_t *total)
{
	*done = atomic_load(&j->done);
	*total = atomic_load(&j->total);
}

enum pos_pool_job_state pos_pool_job_state(const struct pos_pool_job *j)
{
	return (enum pos_pool_job_state)atomic_load(&j->state);
}

void pos_pool_job_wait(struct pos_pool_job *j)
{
	struct pos_pool *p = j->pool;
	pthread_mutex_lock(&p->mu);
	while (atomic_load(&j->state) != POS_POOL_JOB_DONE)
		pthread_cond_wait(&p->finished, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

void pos_pool_job_release(struct pos_pool_job *j)
{
	job_unref(j);
}
