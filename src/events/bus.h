/*
 * bus.h — the in-process event bus behind live events (docs/EVENTS.md):
 * services publish small events about a user's data (a memory written, a
 * job's progress, a sync run's status, a chat stream's delta) and every
 * connected client of that user (an SSE stream or a WebSocket) receives
 * them. The bus is a low layer: it knows users, event types and JSON
 * text, nothing of HTTP.
 *
 * Each subscriber (one connected client) has a bounded queue: when the
 * client reads too slowly the oldest events are dropped and counted, and
 * the client gets one `events.lost` event saying how many before the
 * next. Each user also has a small ring of recent events so a client that
 * reconnects with the last id it saw gets what it missed, or
 * `events.lost` when the ring no longer holds it. The number of
 * subscribers is limited per user and in total; users with a ring are
 * bounded too (the least recently written is forgotten first).
 *
 * Event ids are decimal integers, increasing within one process; the
 * first is the time the bus was made in microseconds, so an id from an
 * earlier run of the server is older than every id of this one (and is
 * answered with `events.lost`).
 *
 * Payloads carry ids and small fields only, never memory content; the bus
 * never logs them.
 *
 * Ownership: the app owns the bus (pos_events_new/free). A NULL bus is
 * valid for pos_events_publish (nothing happens), so services built
 * without one (tools, tests) need no branch.
 *
 * Thread-safety: every function may be called from any thread. Notify
 * callbacks are called with the bus's lock held: they must be quick and
 * must not call back into the bus.
 */
#ifndef POS_EVENTS_BUS_H
#define POS_EVENTS_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct pos_events;
struct pos_events_sub;

#define POS_EVENTS_DATA_MAX 16384 /* bytes of one event's data object */
#define POS_EVENTS_TYPE_MAX 31    /* bytes of a type name */

struct pos_events_config {
	unsigned queue_max;     /* events queued per subscriber, >= 1 */
	unsigned replay;        /* events kept per user for replay, 0: none */
	unsigned per_user;      /* subscribers per user, >= 1 */
	unsigned max;           /* subscribers in total, >= 1 */
	unsigned users_max;     /* users with a replay ring; 0: 4096 */
};

/* A bus with `cfg`'s limits. POS_ERR_NOMEM. */
enum pos_err pos_events_new(const struct pos_events_config *cfg, struct pos_events **out);
/* Frees the bus. Every subscriber must have been unsubscribed. NULL is fine. */
void pos_events_free(struct pos_events *bus);

/* True for the types services may publish: memory.created, memory.updated,
 * memory.deleted, job.progress, sync.status, chat.delta. */
bool pos_events_type_valid(const char *type);

/*
 * Publishes an event of `type` (pos_events_type_valid) for `user_id` with
 * `data_json` (a JSON object text, at most POS_EVENTS_DATA_MAX bytes) to
 * the user's subscribers and replay ring, then hands it to the relay if
 * one is set. POS_ERR_INVALID_FIELD for a bad type, user or data;
 * POS_ERR_NOMEM. A NULL bus does nothing and answers POS_OK. Never blocks
 * on a client.
 */
enum pos_err pos_events_publish(struct pos_events *bus, const char *user_id, const char *type,
				const char *data_json);

/* Called for every locally published event (already serialized as one
 * JSON object text with "user_id","type","data","id"). */
typedef void (*pos_events_relay_fn)(void *ctx, const char *msg, size_t len);
void pos_events_set_relay(struct pos_events *bus, pos_events_relay_fn fn, void *ctx);
/* An event another instance published: delivered to local subscribers only
 * (never relayed again). Bad input is dropped and counted. */
void pos_events_deliver_remote(struct pos_events *bus, const char *msg, size_t len);

/* Called when a subscriber has something to read (an event, a heartbeat,
 * the end). Under the bus's lock: quick, and no call into the bus. */
typedef void (*pos_events_notify_fn)(void *ctx);

/*
 * A subscriber for `user_id`'s events (a connected client). `last_id`
 * is the last event id the client saw (NULL or "": none): the events of
 * the user's ring after it are queued first, or one `events.lost` when
 * some were forgotten. POS_ERR_RATE_LIMITED when the user has per_user
 * subscribers already, POS_ERR_UNAVAILABLE at `max` in total or once the
 * bus is closed, POS_ERR_NOMEM. The caller owns the subscriber and must
 * unsubscribe it.
 */
enum pos_err pos_events_subscribe(struct pos_events *bus, const char *user_id,
				  const char *last_id, pos_events_notify_fn notify, void *ctx,
				  struct pos_events_sub **out);
/* Removes and frees the subscriber; no notify runs for it after this returns. */
void pos_events_unsubscribe(struct pos_events_sub *sub);

enum pos_events_next {
	POS_EVENTS_NONE,      /* nothing now: wait for the next notify */
	POS_EVENTS_EVENT,     /* an event in `out` */
	POS_EVENTS_HEARTBEAT, /* a keep-alive is due */
	POS_EVENTS_END,       /* the bus closed: end the stream */
};

/* One event for a client. */
struct pos_events_msg {
	char id[24];                        /* decimal event id */
	char type[POS_EVENTS_TYPE_MAX + 1]; /* e.g. "memory.created", "events.lost" */
	char *json;                         /* {"id","type","data"} (malloc'd, pos_free) */
	size_t len;
};

/* Takes the subscriber's next item. For POS_EVENTS_EVENT the caller
 * frees out->json with pos_free. A queue that overflowed yields one
 * `events.lost` event ({"lost": n}) before the events that remain. */
enum pos_events_next pos_events_next(struct pos_events_sub *sub, struct pos_events_msg *out);

/* Marks a heartbeat due on every subscriber and notifies them (the app
 * calls it every events_heartbeat seconds). */
void pos_events_tick(struct pos_events *bus);
/* Ends every subscriber (they read POS_EVENTS_END) and refuses new ones:
 * called when the server drains. Idempotent; NULL is fine. */
void pos_events_close(struct pos_events *bus);

/* Counts since start, for /metrics and tests. */
struct pos_events_stats {
	uint64_t published, delivered, dropped, remote_bad;
	unsigned subscribers;
};
void pos_events_stats(struct pos_events *bus, struct pos_events_stats *out);

#endif
