/*
 * ws_hub.h — the server's WebSocket connections after the upgrade
 * (libmicrohttpd hands over the socket): one thread, owned by the server
 * and joined when it stops, waits on every such socket with epoll, reads
 * and checks client frames with the codec (http/ws.h) and writes the
 * user's live events (events/bus.h) as text frames. Keep-alives are pings;
 * a protocol violation closes with 1002, an oversized frame or message
 * with 1009, the server draining with 1001.
 *
 * Life of a connection: pos_ws_conn_new before subscribing (its notify
 * function is the subscriber's), pos_ws_conn_set_sub once subscribed, then
 * either pos_ws_conn_attach with the upgraded socket (the hub owns it from
 * there) or pos_ws_conn_abandon when no upgrade happened.
 *
 * Thread-safety: every function may be called from any thread.
 */
#ifndef POS_HTTP_WS_HUB_H
#define POS_HTTP_WS_HUB_H

#include <stddef.h>
#include <microhttpd.h>

#include "base/err.h"

struct pos_ws_hub;
struct pos_ws_conn;
struct pos_events_sub;

/* Starts the hub's thread. POS_ERR_NOMEM or POS_ERR_IO. */
enum pos_err pos_ws_hub_new(struct pos_ws_hub **out);
/* Closes every connection (1001), joins the thread and frees. NULL is fine.
 * Call before stopping the daemon (upgraded sockets must be closed first). */
void pos_ws_hub_free(struct pos_ws_hub *hub);

/* A connection not attached yet. NULL on NOMEM. */
struct pos_ws_conn *pos_ws_conn_new(struct pos_ws_hub *hub);
/* The notify function for pos_events_subscribe, with the connection as ctx. */
void pos_ws_conn_notify(void *conn);
/* The subscriber the connection reads (it unsubscribes it at the end). */
void pos_ws_conn_set_sub(struct pos_ws_conn *c, struct pos_events_sub *sub);
/* Hands the upgraded socket to the hub; `extra` (n bytes) was read past
 * the request by libmicrohttpd and is parsed first. */
void pos_ws_conn_attach(struct pos_ws_conn *c, MHD_socket sock,
			struct MHD_UpgradeResponseHandle *urh, const char *extra, size_t n);
/* No upgrade happened: unsubscribes and frees. */
void pos_ws_conn_abandon(struct pos_ws_conn *c);

#endif
