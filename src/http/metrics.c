/*
 * metrics.c — Prometheus counters for the HTTP server.
 */
#include "http/metrics.h"

#include "base/alloc.h"

static const int statuses[POS_METRICS_STATUSES - 1] = {
	200, 201, 202, 204, 400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 500,
};

/* Upper bounds in microseconds; the last bucket is +Inf. */
static const int64_t bounds_us[POS_METRICS_BUCKETS - 1] = {
	250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
	500000, 1000000, 5000000,
};

int pos_metrics_init(struct pos_metrics *m, const char **route_names, size_t n)
{
	m->n_routes = n;
	m->route_names = route_names;
	m->requests = pos_calloc((n + 1) * POS_METRICS_STATUSES, sizeof(*m->requests));
	for (int i = 0; i < POS_METRICS_BUCKETS; i++)
		atomic_init(&m->buckets[i], 0);
	atomic_init(&m->duration_us_sum, 0);
	atomic_init(&m->count, 0);
	return m->requests ? 0 : -1;
}

void pos_metrics_fini(struct pos_metrics *m)
{
	pos_free((void *)m->requests);
	m->requests = NULL;
}

static int status_slot(int status)
{
	for (int i = 0; i < POS_METRICS_STATUSES - 1; i++)
		if (statuses[i] == status)
			return i;
	return POS_METRICS_STATUSES - 1;
}

void pos_metrics_record(struct pos_metrics *m, size_t route, int status,
			int64_t duration_us)
{
	if (route > m->n_routes)
		route = m->n_routes;
	atomic_fetch_add_explicit(&m->requests[route * POS_METRICS_STATUSES + (size_t)status_slot(status)],
				  1, memory_order_relaxed);
	int b = 0;
	while (b < POS_METRICS_BUCKETS - 1 && duration_us > bounds_us[b])
		b++;
	atomic_fetch_add_explicit(&m->buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->duration_us_sum,
				  duration_us > 0 ? (uint64_t)duration_us : 0,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&m->count, 1, memory_order_relaxed);
}

enum pos_err pos_metrics_render(const struct pos_metrics *m, struct pos_buf *b)
{
	enum pos_err rc = pos_buf_adds(b,
		"# HELP personalos_http_requests_total HTTP requests by route and status.\n"
		"# TYPE personalos_http_requests_total counter\n");
	for (size_t r = 0; !rc && r <= m->n_routes; r++) {
		for (int s = 0; !rc && s < POS_METRICS_STATUSES; s++) {
			uint64_t v = atomic_load_explicit(&m->requests[r * POS_METRICS_STATUSES + (size_t)s],
							  memory_order_relaxed);
			if (!v)
				continue;
			const char *name = r < m->n_routes ? m->route_names[r] : "unmatched";
			if (s < POS_METRICS_STATUSES - 1)
				rc = pos_buf_addf(b, "personalos_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
						  name, statuses[s], (unsigned long long)v);
			else
				rc = pos_buf_addf(b, "personalos_http_requests_total{route=\"%s\",status=\"other\"} %llu\n",
						  name, (unsigned long long)v);
		}
	}
	if (!rc)
		rc = pos_buf_adds(b,
			"# HELP personalos_http_request_duration_seconds Time to handle a request.\n"
			"# TYPE personalos_http_request_duration_seconds histogram\n");
	uint64_t cum = 0;
	for (int i = 0; !rc && i < POS_METRICS_BUCKETS; i++) {
		cum += atomic_load_explicit(&m->buckets[i], memory_order_relaxed);
		if (i < POS_METRICS_BUCKETS - 1)
			rc = pos_buf_addf(b, "personalos_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
					  (double)bounds_us[i] / 1e6, (unsigned long long)cum);
		else
			rc = pos_buf_addf(b, "personalos_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
					  (unsigned long long)cum);
	}
	if (!rc)
		rc = pos_buf_addf(b,
			"personalos_http_request_duration_seconds_sum %.6f\n"
			"personalos_http_request_duration_seconds_count %llu\n",
			(double)atomic_load(&m->duration_us_sum) / 1e6,
			(unsigned long long)atomic_load(&m->count));
	return rc;
}
