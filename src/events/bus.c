/*
 * bus.c — the in-process event bus (bus.h).
 *
 * One mutex guards everything: publishing is rare next to the work that
 * causes it (a memory write, a job's step), and every operation under the
 * lock is a few pointer moves. Events are refcounted: one copy is shared by
 * the user's ring and every subscriber's queue. Users are kept in a small
 * hash table; one with no subscriber and the oldest write is forgotten
 * when there are more than users_max.
 */
#include "events/bus.h"

#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/uuid.h"

#define BUCKETS 256
#define USERS_MAX_DEFAULT 4096

struct ev {
	atomic_int refs;
	uint64_t n;                          /* the id */
	char type[POS_EVENTS_TYPE_MAX + 1];
	size_t len;
	char json[];                         /* {"id","type","data"} */
};

struct user {
	char id[POS_UUID_SIZE];
	struct ev **ring;        /* replay slots, `replay` of them */
	unsigned ring_head, ring_len;
	uint64_t forgotten;      /* the newest id that left the ring, 0: none */
	unsigned n_subs;
	struct pos_events_sub *subs;
	int64_t last_used;       /* monotonic us */
	struct user *next;       /* in its bucket */
};

struct pos_events_sub {
	struct pos_events *bus;
	struct user *u;
	struct ev **q;           /* queue_max slots */
	unsigned head, len;
	uint64_t lost;
	bool lost_unknown;       /* some were missed, how many is not known */
	bool beat;
	pos_events_notify_fn notify;
	void *ctx;
	struct pos_events_sub *next; /* in its user's list */
};

struct pos_events {
	struct pos_events_config cfg;
	pthread_mutex_t mu;
	struct user *buckets[BUCKETS];
	unsigned n_users, n_subs;
	uint64_t first_id, next_id;
	uint64_t evicted_upto;   /* the newest id when a user was last forgotten */
	bool closed;
	pos_events_relay_fn relay;
	void *relay_ctx;
	uint64_t published, delivered, dropped, remote_bad;
};

static const char *const types[] = {
	"memory.created", "memory.updated", "memory.deleted",
	"job.progress",   "sync.status",    "chat.delta",
};

bool pos_events_type_valid(const char *type)
{
	if (!type)
		return false;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(type, types[i]) == 0)
			return true;
	return false;
}

enum pos_err pos_events_new(const struct pos_events_config *cfg, struct pos_events **out)
{
	struct pos_events *bus = pos_calloc(1, sizeof(*bus));
	if (!bus)
		return POS_ERR_NOMEM;
	bus->cfg = *cfg;
	if (!bus->cfg.queue_max)
		bus->cfg.queue_max = 1;
	if (!bus->cfg.per_user)
		bus->cfg.per_user = 1;
	if (!bus->cfg.max)
		bus->cfg.max = 1;
	if (!bus->cfg.users_max)
		bus->cfg.users_max = USERS_MAX_DEFAULT;
	pthread_mutex_init(&bus->mu, NULL);
	/* ids of an earlier run are older than every id of this one */
	int64_t now = pos_now_us();
	bus->first_id = bus->next_id = now > 0 ? (uint64_t)now : 1;
	*out = bus;
	return POS_OK;
}

static void ev_unref(struct ev *e)
{
	if (e && atomic_fetch_sub(&e->refs, 1) == 1)
		pos_free(e);
}

static void user_free(struct pos_events *bus, struct user *u)
{
	if (u->ring) {
		for (unsigned i = 0; i < u->ring_len; i++)
			ev_unref(u->ring[(u->ring_head + i) % bus->cfg.replay]);
		pos_free(u->ring);
	}
	pos_free(u);
}

void pos_events_free(struct pos_events *bus)
{
	if (!bus)
		return;
	for (size_t b = 0; b < BUCKETS; b++) {
		struct user *u = bus->buckets[b];
		while (u) {
			struct user *next = u->next;
			user_free(bus, u);
			u = next;
		}
	}
	pthread_mutex_destroy(&bus->mu);
	pos_free(bus);
}

static size_t bucket_of(const char *user_id)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (const char *p = user_id; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h % BUCKETS;
}

/* Forgets the least recently used user that has no subscriber. Locked. */
static void evict_one(struct pos_events *bus)
{
	struct user **victim = NULL;
	for (size_t b = 0; b < BUCKETS; b++)
		for (struct user **pp = &bus->buckets[b]; *pp; pp = &(*pp)->next)
			if (!(*pp)->n_subs && (!victim || (*pp)->last_used < (*victim)->last_used))
				victim = pp;
	if (!victim)
		return;
	struct user *u = *victim;
	*victim = u->next;
	bus->n_users--;
	bus->evicted_upto = bus->next_id - 1;
	user_free(bus, u);
}

/* The user's entry, made when `make`. NULL when absent or on NOMEM. Locked. */
static struct user *user_get(struct pos_events *bus, const char *user_id, bool make)
{
	size_t b = bucket_of(user_id);
	for (struct user *u = bus->buckets[b]; u; u = u->next)
		if (strcmp(u->id, user_id) == 0) {
			u->last_used = pos_mono_us();
			return u;
		}
	if (!make)
		return NULL;
	if (bus->n_users >= bus->cfg.users_max)
		evict_one(bus);
	struct user *u = pos_calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	if (bus->cfg.replay && !(u->ring = pos_calloc(bus->cfg.replay, sizeof(*u->ring)))) {
		pos_free(u);
		return NULL;
	}
	memcpy(u->id, user_id, POS_UUID_SIZE);
	/* This user's ring may have been forgotten with its entry: a client
	 * that saw an id before that cannot be sure it missed nothing. */
	u->forgotten = bus->evicted_upto;
	u->last_used = pos_mono_us();
	u->next = bus->buckets[b];
	bus->buckets[b] = u;
	bus->n_users++;
	return u;
}

/* Queues `e` for `s`, dropping the oldest when full. Locked. */
static void sub_push(struct pos_events *bus, struct pos_events_sub *s, struct ev *e)
{
	unsigned cap = bus->cfg.queue_max;
	if (s->len == cap) {
		ev_unref(s->q[s->head]);
		s->head = (s->head + 1) % cap;
		s->len--;
		s->lost++;
		bus->dropped++;
	}
	atomic_fetch_add(&e->refs, 1);
	s->q[(s->head + s->len) % cap] = e;
	s->len++;
}

static void ring_push(struct pos_events *bus, struct user *u, struct ev *e)
{
	unsigned cap = bus->cfg.replay;
	if (!cap)
		return;
	if (u->ring_len == cap) {
		struct ev *old = u->ring[u->ring_head];
		u->forgotten = old->n;
		ev_unref(old);
		u->ring_head = (u->ring_head + 1) % cap;
		u->ring_len--;
	}
	atomic_fetch_add(&e->refs, 1);
	u->ring[(u->ring_head + u->ring_len) % cap] = e;
	u->ring_len++;
}

/* An event object for clients: {"id":"N","type":T,"data":D}. */
static struct ev *ev_new(uint64_t n, const char *type, const char *data, size_t dlen)
{
	size_t cap = dlen + strlen(type) + 64;
	struct ev *e = pos_malloc(sizeof(*e) + cap);
	if (!e)
		return NULL;
	int k = snprintf(e->json, cap, "{\"id\":\"%" PRIu64 "\",\"type\":\"%s\",\"data\":", n, type);
	if (k < 0 || (size_t)k + dlen + 2 > cap) {
		pos_free(e);
		return NULL;
	}
	memcpy(e->json + k, data, dlen);
	e->json[k + dlen] = '}';
	e->json[k + dlen + 1] = '\0';
	e->len = (size_t)k + dlen + 1;
	atomic_init(&e->refs, 1);
	e->n = n;
	snprintf(e->type, sizeof(e->type), "%s", type);
	return e;
}

/* Hands a checked event to the user's ring and subscribers. The id is
 * written to `id_out`. */
static enum pos_err deliver(struct pos_events *bus, const char *user_id, const char *type,
			    const char *data, size_t dlen, uint64_t *id_out)
{
	pthread_mutex_lock(&bus->mu);
	uint64_t n = bus->next_id++;
	struct ev *e = ev_new(n, type, data, dlen);
	struct user *u = e ? user_get(bus, user_id, bus->cfg.replay > 0) : NULL;
	if (!e) {
		pthread_mutex_unlock(&bus->mu);
		return POS_ERR_NOMEM;
	}
	bus->published++;
	if (u) {
		ring_push(bus, u, e);
		for (struct pos_events_sub *s = u->subs; s; s = s->next) {
			sub_push(bus, s, e);
			bus->delivered++;
			s->notify(s->ctx);
		}
	}
	pthread_mutex_unlock(&bus->mu);
	ev_unref(e);
	*id_out = n;
	return POS_OK;
}

/* A JSON object text (cheap check: braces; the producers are ours). */
static bool looks_object(const char *s, size_t n)
{
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\n'))
		n--;
	return n >= 2 && s[0] == '{' && s[n - 1] == '}';
}

enum pos_err pos_events_publish(struct pos_events *bus, const char *user_id, const char *type,
				const char *data_json)
{
	if (!bus)
		return POS_OK;
	size_t dlen = data_json ? strlen(data_json) : 0;
	if (!user_id || strlen(user_id) != POS_UUID_SIZE - 1 || !pos_events_type_valid(type) ||
	    !dlen || dlen > POS_EVENTS_DATA_MAX || !looks_object(data_json, dlen))
		return POS_ERR_INVALID_FIELD;
	uint64_t n = 0;
	enum pos_err rc = deliver(bus, user_id, type, data_json, dlen, &n);
	if (rc)
		return rc;
	pthread_mutex_lock(&bus->mu);
	pos_events_relay_fn relay = bus->relay;
	void *relay_ctx = bus->relay_ctx;
	pthread_mutex_unlock(&bus->mu);
	if (!relay)
		return POS_OK;
	struct pos_buf b;
	pos_buf_init(&b, dlen + 256);
	rc = pos_buf_addf(&b, "{\"id\":\"%" PRIu64 "\",\"user_id\":\"%s\",\"type\":\"%s\",\"data\":",
			  n, user_id, type);
	if (!rc)
		rc = pos_buf_add(&b, data_json, dlen);
	if (!rc)
		rc = pos_buf_addc(&b, '}');
	if (!rc)
		relay(relay_ctx, b.data, b.len);
	pos_buf_free(&b);
	return POS_OK; /* delivered locally; a relay failure is the relay's */
}

void pos_events_set_relay(struct pos_events *bus, pos_events_relay_fn fn, void *ctx)
{
	pthread_mutex_lock(&bus->mu);
	bus->relay = fn;
	bus->relay_ctx = ctx;
	pthread_mutex_unlock(&bus->mu);
}

void pos_events_deliver_remote(struct pos_events *bus, const char *msg, size_t len)
{
	if (!bus)
		return;
	json_t *v = len && len <= POS_EVENTS_DATA_MAX + 512 ? json_loadb(msg, len, 0, NULL) : NULL;
	const char *user = v ? json_string_value(json_object_get(v, "user_id")) : NULL;
	const char *type = v ? json_string_value(json_object_get(v, "type")) : NULL;
	json_t *data = v ? json_object_get(v, "data") : NULL;
	char norm[POS_UUID_SIZE];
	char *text = NULL;
	bool ok = user && pos_uuid_valid(user, strlen(user), norm) && pos_events_type_valid(type) &&
		  json_is_object(data) && (text = json_dumps(data, JSON_COMPACT)) &&
		  strlen(text) <= POS_EVENTS_DATA_MAX;
	uint64_t n;
	if (!ok || deliver(bus, norm, type, text, strlen(text), &n) != POS_OK) {
		pthread_mutex_lock(&bus->mu);
		bus->remote_bad++;
		pthread_mutex_unlock(&bus->mu);
	}
	free(text);
	json_decref(v);
}

/* Parses a decimal id; false when it is not one. */
static bool parse_id(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	if (!*s || strlen(s) > 20)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		uint64_t d = (uint64_t)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* Queues what the client missed after `last_id`. Locked. */
static void replay(struct pos_events *bus, struct pos_events_sub *s, const char *last_id)
{
	struct user *u = s->u;
	uint64_t last;
	if (!parse_id(last_id, &last) || last < bus->first_id - 1 || last >= bus->next_id) {
		/* not an id of this run: all may have been missed */
		s->lost_unknown = true;
		last = 0;
	} else if (u->forgotten > last) {
		s->lost_unknown = true;
	}
	for (unsigned i = 0; i < u->ring_len; i++) {
		struct ev *e = u->ring[(u->ring_head + i) % bus->cfg.replay];
		if (e->n > last)
			sub_push(bus, s, e);
	}
}

enum pos_err pos_events_subscribe(struct pos_events *bus, const char *user_id,
				  const char *last_id, pos_events_notify_fn notify, void *ctx,
				  struct pos_events_sub **out)
{
	*out = NULL;
	if (!user_id || strlen(user_id) != POS_UUID_SIZE - 1 || !notify)
		return POS_ERR_INVALID_FIELD;
	struct pos_events_sub *s = pos_calloc(1, sizeof(*s));
	struct ev **q = s ? pos_calloc(bus->cfg.queue_max, sizeof(*q)) : NULL;
	if (!q) {
		pos_free(s);
		return POS_ERR_NOMEM;
	}
	s->q = q;
	s->bus = bus;
	s->notify = notify;
	s->ctx = ctx;
	enum pos_err rc = POS_OK;
	pthread_mutex_lock(&bus->mu);
	struct user *u = NULL;
	if (bus->closed || bus->n_subs >= bus->cfg.max)
		rc = POS_ERR_UNAVAILABLE;
	else if (!(u = user_get(bus, user_id, true)))
		rc = POS_ERR_NOMEM;
	else if (u->n_subs >= bus->cfg.per_user)
		rc = POS_ERR_RATE_LIMITED;
	if (!rc) {
		s->u = u;
		s->next = u->subs;
		u->subs = s;
		u->n_subs++;
		bus->n_subs++;
		if (last_id && *last_id && bus->cfg.replay)
			replay(bus, s, last_id);
		else if (last_id && *last_id)
			s->lost_unknown = true;
	}
	pthread_mutex_unlock(&bus->mu);
	if (rc) {
		pos_free(q);
		pos_free(s);
		return rc;
	}
	*out = s;
	return POS_OK;
}

void pos_events_unsubscribe(struct pos_events_sub *s)
{
	if (!s)
		return;
	struct pos_events *bus = s->bus;
	pthread_mutex_lock(&bus->mu);
	for (struct pos_events_sub **pp = &s->u->subs; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	s->u->n_subs--;
	bus->n_subs--;
	for (unsigned i = 0; i < s->len; i++)
		ev_unref(s->q[(s->head + i) % bus->cfg.queue_max]);
	pthread_mutex_unlock(&bus->mu);
	pos_free(s->q);
	pos_free(s);
}

enum pos_events_next pos_events_next(struct pos_events_sub *s, struct pos_events_msg *out)
{
	struct pos_events *bus = s->bus;
	memset(out, 0, sizeof(*out));
	enum pos_events_next r = POS_EVENTS_NONE;
	struct ev *e = NULL;
	pthread_mutex_lock(&bus->mu);
	if (bus->closed) {
		r = POS_EVENTS_END;
	} else if (s->lost || s->lost_unknown) {
		char data[64];
		if (s->lost_unknown)
			snprintf(data, sizeof(data), "{\"lost\":null}");
		else
			snprintf(data, sizeof(data), "{\"lost\":%" PRIu64 "}", s->lost);
		s->lost = 0;
		s->lost_unknown = false;
		struct pos_buf b;
		pos_buf_init(&b, 256);
		if (pos_buf_addf(&b, "{\"id\":null,\"type\":\"events.lost\",\"data\":%s}", data) ==
		    POS_OK) {
			snprintf(out->type, sizeof(out->type), "events.lost");
			out->json = pos_buf_detach(&b, &out->len);
			r = out->json ? POS_EVENTS_EVENT : POS_EVENTS_NONE;
		}
		pos_buf_free(&b);
	} else if (s->len) {
		e = s->q[s->head];
		s->head = (s->head + 1) % bus->cfg.queue_max;
		s->len--;
		r = POS_EVENTS_EVENT;
	} else if (s->beat) {
		s->beat = false;
		r = POS_EVENTS_HEARTBEAT;
	}
	pthread_mutex_unlock(&bus->mu);
	if (e) {
		out->json = pos_strndup(e->json, e->len);
		out->len = e->len;
		snprintf(out->id, sizeof(out->id), "%" PRIu64, e->n);
		snprintf(out->type, sizeof(out->type), "%s", e->type);
		ev_unref(e);
		if (!out->json)
			r = POS_EVENTS_NONE;
	}
	return r;
}

void pos_events_tick(struct pos_events *bus)
{
	if (!bus)
		return;
	pthread_mutex_lock(&bus->mu);
	for (size_t b = 0; b < BUCKETS; b++)
		for (struct user *u = bus->buckets[b]; u; u = u->next)
			for (struct pos_events_sub *s = u->subs; s; s = s->next) {
				s->beat = true;
				s->notify(s->ctx);
			}
	pthread_mutex_unlock(&bus->mu);
}

void pos_events_close(struct pos_events *bus)
{
	if (!bus)
		return;
	pthread_mutex_lock(&bus->mu);
	bus->closed = true;
	for (size_t b = 0; b < BUCKETS; b++)
		for (struct user *u = bus->buckets[b]; u; u = u->next)
			for (struct pos_events_sub *s = u->subs; s; s = s->next)
				s->notify(s->ctx);
	pthread_mutex_unlock(&bus->mu);
}

void pos_events_stats(struct pos_events *bus, struct pos_events_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!bus)
		return;
	pthread_mutex_lock(&bus->mu);
	out->published = bus->published;
	out->delivered = bus->delivered;
	out->dropped = bus->dropped;
	out->remote_bad = bus->remote_bad;
	out->subscribers = bus->n_subs;
	pthread_mutex_unlock(&bus->mu);
}
