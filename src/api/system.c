/*
 * system.c — /health, /metrics and /api/openapi.json.
 */
#include "api/api.h"
#include "jobs/jobs.h"

#include <string.h>
#include <strings.h>

#include "base/clock.h"
#include "crypto/crypto.h"
#include "base/json.h"
#include "cache/redis.h"
#include "search/engine.h"

/* Generated at build time from docs/openapi.yaml (tools/yaml2c.c). */
extern const char pos_openapi_json[];
extern const unsigned long pos_openapi_json_len;

void pos_api_health(struct pos_server *srv, struct pos_req *r)
{
	struct pos_buf b;
	pos_buf_init(&b, 4096);
	struct pos_jw w;
	pos_jw_init(&w, &b);
	pos_jw_obj(&w);
	pos_jw_kstr(&w, "status", "ok");
	pos_jw_kstr(&w, "version", POS_VERSION);
	pos_jw_kint(&w, "uptime_s", (pos_now_us() - srv->started_us) / 1000000);
	pos_jw_obj_end(&w);
	if (w.rc) {
		pos_buf_free(&b);
		pos_reply_err(r, w.rc, NULL, NULL);
		return;
	}
	pos_reply_json(r, 200, &b);
}

/*
 * /metrics names routes, counts and the provider in use: with metrics_token
 * set it needs that bearer token from anyone; without, only loopback peers
 * (a scraper on the host, or behind a proxy on another port) get it.
 */
static bool metrics_allowed(struct pos_server *srv, struct pos_req *r)
{
	const char *want = srv->cfg->metrics_token;
	if (!want[0]) {
		if (pos_req_from_loopback(r))
			return true;
		pos_reply_err(r, POS_ERR_FORBIDDEN, NULL,
			      "/metrics answers loopback clients only; set metrics_token "
			      "to scrape it from elsewhere");
		return false;
	}
	const char *h = pos_req_header(r, "Authorization");
	if (h && strncasecmp(h, "Bearer ", 7) == 0) {
		h += 7;
		while (*h == ' ')
			h++;
		/* Compare digests: equal length, constant time. */
		uint8_t a[POS_HASH_SIZE], b[POS_HASH_SIZE];
		pos_hash(a, h, strlen(h));
		pos_hash(b, want, strlen(want));
		if (pos_ct_equal(a, b, sizeof(a)))
			return true;
	}
	pos_reply_err(r, POS_ERR_UNAUTHORIZED, NULL,
		      "/metrics needs Authorization: Bearer <metrics_token>");
	return false;
}

void pos_api_metrics(struct pos_server *srv, struct pos_req *r)
{
	if (!metrics_allowed(srv, r))
		return;
	struct pos_buf b;
	pos_buf_init(&b, 4 * 1024 * 1024);
	int64_t memories = 0;
	enum pos_err rc = pos_memory_count_all(&srv->app->mem, &memories);
	if (!rc)
		rc = pos_metrics_render(&srv->metrics, &b);
	if (!rc)
		rc = pos_buf_addf(&b,
			"# HELP personalos_memories_total Memories stored, all users.\n"
			"# TYPE personalos_memories_total gauge\n"
			"personalos_memories_total %lld\n"
			"# HELP personalos_uptime_seconds Seconds since the server started.\n"
			"# TYPE personalos_uptime_seconds gauge\n"
			"personalos_uptime_seconds %.3f\n"
			"# HELP personalos_http_body_bytes Request body bytes held, all connections (max_body_memory).\n"
			"# TYPE personalos_http_body_bytes gauge\n"
			"personalos_http_body_bytes %lld\n",
			(long long)memories,
			(double)(pos_now_us() - srv->started_us) / 1e6,
			(long long)atomic_load(&srv->body_bytes));
	struct pos_search_stats ss;
	pos_search_stats(srv->app->search, &ss);
	if (!rc)
		rc = pos_buf_addf(&b,
			"# HELP personalos_search_total Searches run.\n"
			"# TYPE personalos_search_total counter\n"
			"personalos_search_total %llu\n"
			"# HELP personalos_search_cache_total Result cache lookups by outcome.\n"
			"# TYPE personalos_search_cache_total counter\n"
			"personalos_search_cache_total{result=\"hit\"} %llu\n"
			"personalos_search_cache_total{result=\"miss\"} %llu\n"
			"# HELP personalos_vector_index_bytes Memory held by loaded vector indexes.\n"
			"# TYPE personalos_vector_index_bytes gauge\n"
			"personalos_vector_index_bytes %zu\n"
			"personalos_vector_index_users %zu\n"
			"# HELP personalos_embeddings_total Vectors written by the embedding worker.\n"
			"# TYPE personalos_embeddings_total counter\n"
			"personalos_embeddings_total %llu\n"
			"# HELP personalos_embedding_failures_total Embedding batches that failed and will be retried.\n"
			"# TYPE personalos_embedding_failures_total counter\n"
			"personalos_embedding_failures_total %llu\n"
			"personalos_embedding_skipped_total %llu\n"
			"# HELP personalos_query_embedding_failures_total Searches that fell back to keyword only.\n"
			"# TYPE personalos_query_embedding_failures_total counter\n"
			"personalos_query_embedding_failures_total %llu\n"
			"# HELP personalos_embedding_provider_up 1 when the last embedding attempt succeeded.\n"
			"# TYPE personalos_embedding_provider_up gauge\n"
			"personalos_embedding_provider_up{provider=\"%s\"} %d\n",
			(unsigned long long)ss.searches, (unsigned long long)ss.cache_hits,
			(unsigned long long)ss.cache_misses, ss.index_bytes, ss.index_users,
			(unsigned long long)ss.backfilled, (unsigned long long)ss.embed_failures,
			(unsigned long long)ss.embed_skipped,
			(unsigned long long)ss.query_embed_failures,
			ss.remote ? "remote" : "builtin", ss.provider_ok ? 1 : 0);
	if (!rc && srv->app->cache) /* several instances (cache/redis.h) */
		rc = pos_buf_addf(&b,
			"# HELP personalos_cache_up 1 while the last command reached the shared cache (Redis), else 0.\n"
			"# TYPE personalos_cache_up gauge\n"
			"personalos_cache_up %d\n",
			pos_cache_up(srv->app->cache) ? 1 : 0);
	const struct pos_assistant *as = &srv->app->assistant;
	uint64_t jobs_done = 0, jobs_retried = 0, jobs_failed = 0;
	pos_jobs_counts(srv->app->jobs, &jobs_done, &jobs_retried, &jobs_failed);
	if (!rc)
		rc = pos_buf_addf(&b,
			"# HELP personalos_chat_total Chat messages answered or failed.\n"
			"# TYPE personalos_chat_total counter\n"
			"personalos_chat_total %llu\n"
			"# HELP personalos_chat_failures_total Chat messages the model failed.\n"
			"# TYPE personalos_chat_failures_total counter\n"
			"personalos_chat_failures_total %llu\n"
			"# HELP personalos_jobs_total Background job attempts by outcome.\n"
			"# TYPE personalos_jobs_total counter\n"
			"personalos_jobs_total{result=\"done\"} %llu\n"
			"personalos_jobs_total{result=\"retried\"} %llu\n"
			"personalos_jobs_total{result=\"failed\"} %llu\n",
			(unsigned long long)atomic_load(&as->chats),
			(unsigned long long)atomic_load(&as->chat_failures),
			(unsigned long long)jobs_done, (unsigned long long)jobs_retried,
			(unsigned long long)jobs_failed);
	if (rc) {
		pos_buf_free(&b);
		pos_reply_err(r, rc, NULL, NULL);
		return;
	}
	pos_reply_typed(r, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
}

void pos_api_openapi(struct pos_server *srv, struct pos_req *r)
{
	struct pos_buf b;
	pos_buf_init(&b, pos_openapi_json_len + 1);
	if (pos_buf_add(&b, pos_openapi_json, pos_openapi_json_len) != POS_OK) {
		pos_buf_free(&b);
		pos_reply_err(r, POS_ERR_NOMEM, NULL, NULL);
		return;
	}
	pos_reply_json(r, 200, &b);
}
