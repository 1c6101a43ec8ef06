/* Unit tests for src/events/bus.c: delivery per user and in order, the
 * bounded queue (drop-oldest and events.lost), Last-Event-ID replay, the
 * subscriber limits, keep-alives and close, and the relay hooks (the
 * serialized form handed to the relay, remote events delivered locally
 * and never relayed again, bad remote input counted). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "events/bus.h"

#define ALICE "0190a3b2-0000-7000-8000-00000000000a"
#define BOB "0190a3b2-0000-7000-8000-00000000000b"

static int notified;

static void notify(void *ctx)
{
	(void)ctx;
	notified++;
}

static struct pos_events *bus_with(unsigned queue, unsigned replay, unsigned per_user,
				   unsigned max)
{
	struct pos_events_config cfg = {queue, replay, per_user, max, 0};
	struct pos_events *bus = NULL;
	assert_int_equal(pos_events_new(&cfg, &bus), POS_OK);
	return bus;
}

/* The next event's type and its data's "n" (-1 when none). */
static int next_n(struct pos_events_sub *s, char type[32])
{
	struct pos_events_msg m;
	enum pos_events_next k = pos_events_next(s, &m);
	if (k != POS_EVENTS_EVENT) {
		snprintf(type, 32, "%s", k == POS_EVENTS_NONE ? "none" : k == POS_EVENTS_END ? "end" : "beat");
		return -1;
	}
	snprintf(type, 32, "%s", m.type);
	json_t *v = json_loadb(m.json, m.len, 0, NULL);
	assert_non_null(v);
	json_t *n = json_object_get(json_object_get(v, "data"), "n");
	int r = json_is_integer(n) ? (int)json_integer_value(n) : -1;
	if (strcmp(m.type, "events.lost") != 0)
		assert_string_equal(json_string_value(json_object_get(v, "id")), m.id);
	json_decref(v);
	pos_free(m.json);
	return r;
}

static void publish_n(struct pos_events *bus, const char *user, int n)
{
	char data[64];
	snprintf(data, sizeof(data), "{\"n\":%d}", n);
	assert_int_equal(pos_events_publish(bus, user, "memory.created", data), POS_OK);
}

static void per_user_and_in_order(void **state)
{
	(void)state;
	struct pos_events *bus = bus_with(16, 8, 4, 16);
	struct pos_events_sub *a = NULL, *b = NULL;
	assert_int_equal(pos_events_subscribe(bus, ALICE, NULL, notify, NULL, &a), POS_OK);
	assert_int_equal(pos_events_subscribe(bus, BOB, NULL, notify, NULL, &b), POS_OK);
	notified = 0;
	publish_n(bus, ALICE, 1);
	publish_n(bus, BOB, 2);
	publish_n(bus, ALICE, 3);
	assert_int_equal(notified, 3);
	char t[32];
	assert_int_equal(next_n(a, t), 1);
	assert_string_equal(t, "memory.created");
	assert_int_equal(next_n(a, t), 3);
	assert_int_equal(next_n(a, t), -1);
	assert_string_equal(t, "none");
	assert_int_equal(next_n(b, t), 2);
	assert_int_equal(next_n(b, t), -1);
	/* bad input is refused, a NULL bus is a no-op */
	assert_int_equal(pos_events_publish(bus, ALICE, "memory.eaten", "{}"), POS_ERR_INVALID_FIELD);
	assert_int_equal(pos_events_publish(bus, "nobody", "memory.created", "{}"),
			 POS_ERR_INVALID_FIELD);
	assert_int_equal(pos_events_publish(bus, ALICE, "memory.created", "[1]"),
			 POS_ERR_INVALID_FIELD);
	assert_int_equal(pos_events_publish(NULL, ALICE, "memory.created", "{}"), POS_OK);
	pos_events_unsubscribe(a);
	pos_events_unsubscribe(b);
	pos_events_free(bus);
}

static void queue_drops_oldest_and_says_lost(void **state)
{
	(void)state;
	struct pos_events *bus = bus_with(3, 0, 4, 16);
	struct pos_events_sub *a = NULL;
	assert_int_equal(pos_events_subscribe(bus, ALICE, NULL, notify, NULL, &a), POS_OK);
	for (int i = 1; i <= 5; i++)
		publish_n(bus, ALICE, i);
	struct pos_events_msg m;
	assert_int_equal(pos_events_next(a, &m), POS_EVENTS_EVENT);
	assert_string_equal(m.type, "events.lost");
	assert_non_null(strstr(m.json, "\"lost\":2"));
	pos_free(m.json);
	char t[32];
	assert_int_equal(next_n(a, t), 3);
	assert_int_equal(next_n(a, t), 4);
	assert_int_equal(next_n(a, t), 5);
	assert_int_equal(next_n(a, t), -1);
	struct pos_events_stats st;
	pos_events_stats(bus, &st);
	assert_int_equal(st.dropped, 2);
	assert_int_equal(st.published, 5);
	pos_events_unsubscribe(a);
	pos_events_free(bus);
}

static void replay_after_last_id(void **state)
{
	(void)state;
	struct pos_events *bus = bus_with(16, 3, 4, 16);
	struct pos_events_sub *a = NULL;
	assert_int_equal(pos_events_subscribe(bus, ALICE, NULL, notify, NULL, &a), POS_OK);
	publish_n(bus, ALICE, 1);
	struct pos_events_msg m;
	assert_int_equal(pos_events_next(a, &m), POS_EVENTS_EVENT);
	char last[24];
	snprintf(last, sizeof(last), "%s", m.id);
	pos_free(m.json);
	pos_events_unsubscribe(a);
	publish_n(bus, ALICE, 2);
	publish_n(bus, ALICE, 3);
	/* everything missed is still in the ring */
	char t[32];
	assert_int_equal(pos_events_subscribe(bus, ALICE, last, notify, NULL, &a), POS_OK);
	assert_int_equal(next_n(a, t), 2);
	assert_int_equal(next_n(a, t), 3);
	assert_int_equal(next_n(a, t), -1);
	pos_events_unsubscribe(a);
	/* two more: event 2 leaves the ring of 3, so `last` is too old */
	publish_n(bus, ALICE, 4);
	publish_n(bus, ALICE, 5);
	assert_int_equal(pos_events_subscribe(bus, ALICE, last, notify, NULL, &a), POS_OK);
	assert_int_equal(next_n(a, t), -1);
	assert_string_equal(t, "events.lost");
	assert_int_equal(next_n(a, t), 3);
	assert_int_equal(next_n(a, t), 4);
	assert_int_equal(next_n(a, t), 5);
	pos_events_unsubscribe(a);
	/* not an id of this bus, or not a number: lost, then the ring */
	const char *bad[] = {"1", "x12", "99999999999999999999999"};
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(pos_events_subscribe(bus, ALICE, bad[i], notify, NULL, &a), POS_OK);
		assert_int_equal(next_n(a, t), -1);
		assert_string_equal(t, "events.lost");
		assert_int_equal(next_n(a, t), 3);
		pos_events_unsubscribe(a);
	}
	/* Bob's ring is his own */
	assert_int_equal(pos_events_subscribe(bus, BOB, last, notify, NULL, &a), POS_OK);
	assert_int_equal(next_n(a, t), -1);
	assert_string_equal(t, "none");
	pos_events_unsubscribe(a);
	pos_events_free(bus);
}

/* A user forgotten to make room (users_max) leaves no silent gap: a
 * client that comes back with an id from before gets events.lost. */
static void forgotten_user_says_lost(void **state)
{
	(void)state;
	struct pos_events_config cfg = {8, 4, 4, 16, 1};
	struct pos_events *bus = NULL;
	assert_int_equal(pos_events_new(&cfg, &bus), POS_OK);
	struct pos_events_sub *a = NULL;
	assert_int_equal(pos_events_subscribe(bus, ALICE, NULL, notify, NULL, &a), POS_OK);
	publish_n(bus, ALICE, 1);
	struct pos_events_msg m;
	assert_int_equal(pos_events_next(a, &m), POS_EVENTS_EVENT);
	char last[24];
	snprintf(last, sizeof(last), "%s", m.id);
	pos_free(m.json);
	pos_events_unsubscribe(a);
	publish_n(bus, ALICE, 2); /* kept in Alice's ring... */
	publish_n(bus, BOB, 3);   /* ...until Bob takes the only user slot */
	char t[32];
	assert_int_equal(pos_events_subscribe(bus, ALICE, last, notify, NULL, &a), POS_OK);
	assert_int_equal(next_n(a, t), -1);
	assert_string_equal(t, "events.lost");
	pos_events_unsubscribe(a);
	pos_events_free(bus);
}

static void limits_tick_and_close(void **state)
{
	(void)state;
	struct pos_events *bus = bus_with(4, 0, 2, 3);
	struct pos_events_sub *s[4] = {0};
	assert_int_equal(pos_events_subscribe(bus, ALICE, NULL, notify, NULL, &s[0]), POS_OK);
	assert_int_equal(pos_events_subscribe(bus, ALICE, NULL, notify, NULL, &s[1]), POS_OK);
	assert_int_equal(pos_events_subscribe(bus, ALICE, NULL, notify, NULL, &s[2]),
			 POS_ERR_RATE_LIMITED);
	assert_null(s[2]);
	assert_int_equal(pos_events_subscribe(bus, BOB, NULL, notify, NULL, &s[2]), POS_OK);
	assert_int_equal(pos_events_subscribe(bus, BOB, NULL, notify, NULL, &s[3]),
			 POS_ERR_UNAVAILABLE);
	pos_events_unsubscribe(s[1]);
	assert_int_equal(pos_events_subscribe(bus, BOB, NULL, notify, NULL, &s[1]), POS_OK);
	notified = 0;
	pos_events_tick(bus);
	assert_int_equal(notified, 3);
	struct pos_events_msg m;
	assert_int_equal(pos_events_next(s[0], &m), POS_EVENTS_HEARTBEAT);
	assert_int_equal(pos_events_next(s[0], &m), POS_EVENTS_NONE);
	pos_events_close(bus);
	assert_int_equal(notified, 6);
	assert_int_equal(pos_events_next(s[0], &m), POS_EVENTS_END);
	assert_int_equal(pos_events_subscribe(bus, ALICE, NULL, notify, NULL, &s[3]),
			 POS_ERR_UNAVAILABLE);
	for (int i = 0; i < 3; i++)
		pos_events_unsubscribe(s[i]);
	pos_events_free(bus);
}

static char relayed[1024];
static int n_relayed;

static void relay(void *ctx, const char *msg, size_t len)
{
	(void)ctx;
	n_relayed++;
	snprintf(relayed, sizeof(relayed), "%.*s", (int)len, msg);
}

static void relay_and_remote(void **state)
{
	(void)state;
	struct pos_events *bus = bus_with(8, 8, 4, 16);
	pos_events_set_relay(bus, relay, NULL);
	struct pos_events_sub *a = NULL;
	assert_int_equal(pos_events_subscribe(bus, ALICE, NULL, notify, NULL, &a), POS_OK);
	n_relayed = 0;
	publish_n(bus, ALICE, 7);
	assert_int_equal(n_relayed, 1);
	json_t *v = json_loads(relayed, 0, NULL);
	assert_non_null(v);
	assert_string_equal(json_string_value(json_object_get(v, "user_id")), ALICE);
	assert_string_equal(json_string_value(json_object_get(v, "type")), "memory.created");
	assert_non_null(json_string_value(json_object_get(v, "id")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "data"), "n")), 7);
	json_decref(v);
	char t[32];
	assert_int_equal(next_n(a, t), 7);
	/* what the relay produced, delivered by another instance: local
	 * subscribers get it, the relay is not called again */
	char copy[1024];
	snprintf(copy, sizeof(copy), "%s", relayed);
	copy[strlen(copy) - 3] = '8'; /* ...{"n":7}} -> ...{"n":8}} */
	pos_events_deliver_remote(bus, copy, strlen(copy));
	assert_int_equal(n_relayed, 1);
	assert_int_equal(next_n(a, t), 8);
	/* bad remote input is dropped and counted */
	const char *bad[] = {
		"", "not json", "[]", "{\"user_id\":\"x\",\"type\":\"memory.created\",\"data\":{}}",
		"{\"user_id\":\"" ALICE "\",\"type\":\"rm -rf\",\"data\":{}}",
		"{\"user_id\":\"" ALICE "\",\"type\":\"memory.created\",\"data\":\"str\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		pos_events_deliver_remote(bus, bad[i], strlen(bad[i]));
	struct pos_events_stats st;
	pos_events_stats(bus, &st);
	assert_int_equal(st.remote_bad, sizeof(bad) / sizeof(bad[0]));
	assert_int_equal(next_n(a, t), -1);
	assert_string_equal(t, "none");
	pos_events_unsubscribe(a);
	pos_events_free(bus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(per_user_and_in_order),
		cmocka_unit_test(queue_drops_oldest_and_says_lost),
		cmocka_unit_test(replay_after_last_id),
		cmocka_unit_test(forgotten_user_says_lost),
		cmocka_unit_test(limits_tick_and_close),
		cmocka_unit_test(relay_and_remote),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
