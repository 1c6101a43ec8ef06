/*
 * sbpool.c — idle plugin sandboxes kept for reuse (sbpool.h).
 *
 * A small array scanned under one mutex: the pool holds tens of states,
 * and a scan is far cheaper than the sandbox it saves building.
 */
#include "plugins/sbpool.h"

#include <pthread.h>
#include <string.h>

#include "base/alloc.h"

struct slot {
	char plugin[POS_SBPOOL_KEY_MAX];
	char user[POS_SBPOOL_KEY_MAX];
	uint64_t stamp;
	struct pos_sandbox *sb; /* NULL: free slot */
	void *aux;
	size_t bytes;
	uint64_t seq; /* when it was put back: the least is evicted first */
};

struct pos_sbpool {
	pthread_mutex_t mu;
	size_t max, mem_max;
	pos_sbpool_free_fn free_fn;
	struct slot *slots;
	size_t bytes;      /* held by idle states */
	uint64_t seq;      /* tickets and put order */
	uint64_t dropped;  /* seq at the latest drop */
};

enum pos_err pos_sbpool_new(size_t max_states, size_t mem_max, pos_sbpool_free_fn free_fn,
			    struct pos_sbpool **out)
{
	*out = NULL;
	struct pos_sbpool *p = pos_calloc(1, sizeof(*p));
	if (!p)
		return POS_ERR_NOMEM;
	p->max = max_states;
	p->mem_max = mem_max ? mem_max : POS_SBPOOL_MEM_DEFAULT;
	p->free_fn = free_fn;
	if (max_states && !(p->slots = pos_calloc(max_states, sizeof(*p->slots)))) {
		pos_free(p);
		return POS_ERR_NOMEM;
	}
	pthread_mutex_init(&p->mu, NULL);
	*out = p;
	return POS_OK;
}

void pos_sbpool_free(struct pos_sbpool *p)
{
	if (!p)
		return;
	pos_sbpool_drop(p, NULL, NULL);
	pthread_mutex_destroy(&p->mu);
	pos_free(p->slots);
	pos_free(p);
}

static bool key_fits(const char *plugin, const char *user)
{
	return strlen(plugin) < POS_SBPOOL_KEY_MAX && strlen(user) < POS_SBPOOL_KEY_MAX;
}

/* Empties slot i into sb and aux (under the lock; the caller frees them). */
static void vacate(struct pos_sbpool *p, size_t i, struct pos_sandbox **sb, void **aux)
{
	*sb = p->slots[i].sb;
	*aux = p->slots[i].aux;
	p->bytes -= p->slots[i].bytes;
	memset(&p->slots[i], 0, sizeof(p->slots[i]));
}

struct pos_sandbox *pos_sbpool_take(struct pos_sbpool *p, const char *plugin, const char *user,
				    uint64_t stamp, void **aux, uint64_t *ticket)
{
	*aux = NULL;
	struct pos_sandbox *sb = NULL;
	pthread_mutex_lock(&p->mu);
	*ticket = ++p->seq;
	size_t best = p->max;
	for (size_t i = 0; i < p->max; i++) {
		const struct slot *s = &p->slots[i];
		if (s->sb && s->stamp == stamp && strcmp(s->plugin, plugin) == 0 &&
		    strcmp(s->user, user) == 0 && (best == p->max || s->seq > p->slots[best].seq))
			best = i;
	}
	if (best < p->max)
		vacate(p, best, &sb, aux);
	pthread_mutex_unlock(&p->mu);
	return sb;
}

uint64_t pos_sbpool_ticket(struct pos_sbpool *p)
{
	pthread_mutex_lock(&p->mu);
	uint64_t t = ++p->seq;
	pthread_mutex_unlock(&p->mu);
	return t;
}

void pos_sbpool_put(struct pos_sbpool *p, const char *plugin, const char *user, uint64_t stamp,
		    uint64_t ticket, struct pos_sandbox *sb, void *aux)
{
	size_t bytes = pos_sandbox_mem_used(sb);
	struct pos_sandbox *gone = sb;

	/* Evicted states are freed outside the lock, at most a few per put. */
	struct pos_sandbox *ev[8];
	void *ev_aux[8];
	size_t nev = 0;
	pthread_mutex_lock(&p->mu);
	if (p->max == 0 || !key_fits(plugin, user) || ticket <= p->dropped ||
	    bytes > p->mem_max / 4)
		goto out;
	/* Room: the oldest go first until one slot and the bytes fit. */
	for (;;) {
		size_t oldest = p->max, freeslot = p->max;
		for (size_t i = 0; i < p->max; i++) {
			if (!p->slots[i].sb) {
				freeslot = i;
				continue;
			}
			if (oldest == p->max || p->slots[i].seq < p->slots[oldest].seq)
				oldest = i;
		}
		if (freeslot < p->max && p->bytes + bytes <= p->mem_max) {
			struct slot *s = &p->slots[freeslot];
			memcpy(s->plugin, plugin, strlen(plugin) + 1);
			memcpy(s->user, user, strlen(user) + 1);
			s->stamp = stamp;
			s->sb = sb;
			s->aux = aux;
			s->bytes = bytes;
			s->seq = ++p->seq;
			p->bytes += bytes;
			gone = NULL;
			break;
		}
		if (oldest == p->max || nev == sizeof(ev) / sizeof(ev[0]))
			break; /* cannot make room: free the one given back */
		vacate(p, oldest, &ev[nev], &ev_aux[nev]);
		nev++;
	}
out:
	pthread_mutex_unlock(&p->mu);
	for (size_t i = 0; i < nev; i++)
		p->free_fn(ev[i], ev_aux[i]);
	if (gone)
		p->free_fn(gone, aux);
}

void pos_sbpool_drop(struct pos_sbpool *p, const char *plugin, const char *user)
{
	if (!p)
		return;
	for (;;) { /* one at a time: freeing runs outside the lock */
		struct pos_sandbox *sb = NULL;
		void *aux = NULL;
		pthread_mutex_lock(&p->mu);
		p->dropped = ++p->seq;
		for (size_t i = 0; i < p->max && !sb; i++) {
			const struct slot *s = &p->slots[i];
			if (s->sb && (!plugin || strcmp(s->plugin, plugin) == 0) &&
			    (!user || strcmp(s->user, user) == 0))
				vacate(p, i, &sb, &aux);
		}
		pthread_mutex_unlock(&p->mu);
		if (!sb)
			return;
		p->free_fn(sb, aux);
	}
}

void pos_sbpool_stats(struct pos_sbpool *p, size_t *states, size_t *bytes)
{
	size_t n = 0;
	pthread_mutex_lock(&p->mu);
	for (size_t i = 0; i < p->max; i++)
		n += p->slots[i].sb != NULL;
	*bytes = p->bytes;
	pthread_mutex_unlock(&p->mu);
	*states = n;
}
