/*
 * metrics.h — request counters and a latency histogram, rendered as
 * Prometheus text for GET /metrics. Counters are atomics: recording is
 * lock-free and safe from every worker thread.
 */
#ifndef POS_HTTP_METRICS_H
#define POS_HTTP_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define POS_METRICS_STATUSES 16
#define POS_METRICS_BUCKETS 14

struct pos_metrics {
	size_t n_routes;                 /* slot n_routes counts unmatched requests */
	const char **route_names;        /* borrowed, n_routes entries */
	_Atomic uint64_t *requests;      /* [(n_routes + 1) * POS_METRICS_STATUSES] */
	_Atomic uint64_t buckets[POS_METRICS_BUCKETS]; /* cumulative at render */
	_Atomic uint64_t duration_us_sum;
	_Atomic uint64_t count;
};

/* Allocates counters for n routes; names are borrowed. -1 on OOM. */
int pos_metrics_init(struct pos_metrics *m, const char **route_names, size_t n);
void pos_metrics_fini(struct pos_metrics *m);
/* route = index, or n_routes for none. */
void pos_metrics_record(struct pos_metrics *m, size_t route, int status,
			int64_t duration_us);
/* Appends the Prometheus exposition of the counters. */
enum pos_err pos_metrics_render(const struct pos_metrics *m, struct pos_buf *b);

#endif
