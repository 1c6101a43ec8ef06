/*
 * admission.h — admission control for the HTTP handlers (issue 19): at
 * most `max_inflight` requests run a handler at once, at most `max_queue`
 * wait for a slot, first come first served, each at most `queue_wait_ms`;
 * past the queue a request is refused at once (503 with Retry-After in
 * http/server.c), never left hanging. docs/OPERATIONS.md, "Admission
 * control".
 *
 * The module knows nothing of HTTP: a waiter is parked with the `park`
 * callback (server.c suspends the connection) and woken with `wake`
 * (resumes it) once it was given a slot or its wait ran out; the waiter's
 * state then says which. A sweeper thread, owned here and joined by
 * pos_adm_close, wakes the waiters whose time is up. Thread-safe.
 *
 * A newcomer that would only wait to expire is refused at once: when the
 * waiters ahead of it, at the average time a slot is held (a moving
 * average of the last releases), would take longer than queue_wait_ms to
 * get through the slots. That keeps the queue as long as the slots can
 * serve within the wait, and turns most refusals into immediate ones.
 *
 * Life of a request: pos_adm_enter → RUN (it holds a slot), WAIT (parked;
 * when woken its state is POS_ADM_RUNNING: it holds a slot, or
 * POS_ADM_EXPIRED: refuse it) or FULL (refuse it); pos_adm_release when
 * done or gone, in any state (idempotent): a held slot passes to the
 * oldest waiter.
 */
#ifndef POS_HTTP_ADMISSION_H
#define POS_HTTP_ADMISSION_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum pos_adm_state {
	POS_ADM_IDLE = 0,   /* not entered */
	POS_ADM_QUEUED,     /* parked, waiting for a slot */
	POS_ADM_RUNNING,    /* holds a slot */
	POS_ADM_EXPIRED,    /* waited too long or the server closes: refuse */
	POS_ADM_DONE,       /* released */
};

enum pos_adm_verdict {
	POS_ADM_RUN,        /* go: the caller holds a slot */
	POS_ADM_WAIT,       /* parked: wait for the wake callback */
	POS_ADM_FULL,       /* the queue is full (or closed): refuse now */
};

/* One request's place; lives in the request, zeroed before enter. */
struct pos_adm_waiter {
	enum pos_adm_state state;   /* read by the request's own thread after wake */
	void *ctx;                  /* handed to park and wake */
	int64_t deadline_us;        /* monotonic */
	int64_t since_us;           /* monotonic: when it got its slot */
	struct pos_adm_waiter *next;
};

struct pos_adm_stats {
	unsigned running, queued;       /* now */
	uint64_t admitted, waited;      /* went straight in / waited and got in */
	uint64_t rejected, expired;     /* queue full / waited too long */
};

struct pos_admission {
	pthread_mutex_t lock;
	pthread_cond_t tick;            /* the sweeper's: a waiter came, or stop */
	pthread_t sweeper;
	bool sweeper_on, closed;
	unsigned max_inflight, max_queue;
	int64_t wait_us;
	unsigned running, queued;
	int64_t hold_us;                /* moving average of a slot's hold time */
	struct pos_adm_waiter *head, *tail;
	void (*park)(void *ctx);        /* called under the lock, by enter */
	void (*wake)(void *ctx);        /* called without the lock */
	_Atomic uint64_t admitted, waited, rejected, expired;
};

/*
 * Sets up the limits and starts the sweeper. max_inflight and max_queue
 * at least 1, wait_ms at least 1. Returns 0, or -1 (nothing to free).
 */
int pos_adm_init(struct pos_admission *a, unsigned max_inflight, unsigned max_queue,
		 unsigned wait_ms, void (*park)(void *ctx), void (*wake)(void *ctx));
/*
 * Asks for a slot at monotonic time now_us; see the verdicts. On WAIT,
 * park(ctx) has run under the module's lock before any wake(ctx) can.
 */
enum pos_adm_verdict pos_adm_enter(struct pos_admission *a, struct pos_adm_waiter *w,
				   void *ctx, int64_t now_us);
/*
 * Done with (or giving up) the place: a queued waiter leaves the queue, a
 * held slot passes to the oldest waiter (woken). Idempotent; a waiter never
 * entered is ignored.
 */
void pos_adm_release(struct pos_admission *a, struct pos_adm_waiter *w);
/* Wakes every waiter as expired (drain). New requests still enter. */
void pos_adm_flush(struct pos_admission *a);
/*
 * Stops the sweeper and wakes every waiter as expired; enter answers FULL
 * from here on. Call before the connections go away. Idempotent.
 */
void pos_adm_close(struct pos_admission *a);
/* Frees what init set up (after pos_adm_close and after no thread can call
 * release any more). Safe on a zeroed struct. */
void pos_adm_fini(struct pos_admission *a);
void pos_adm_stats(struct pos_admission *a, struct pos_adm_stats *out);

#endif
