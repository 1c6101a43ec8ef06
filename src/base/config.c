/*
 * config.c — the option table and its sources. Every key is one row of
 * `options` below; defaults, the config file, the environment, command-line
 * flags, `--help` and the unit tests all read that row, so adding a key is
 * adding a field to struct pos_config and one row here (and a README row).
 */
#include "base/config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

#define FIELD(f) (((struct pos_config *)0)->f)

/* True when field `f` has the C type that `kind` writes. */
#define KIND_FITS(kind, f) _Generic(FIELD(f),                           \
	unsigned: (kind) == POS_CFG_UINT,                                \
	int64_t: (kind) == POS_CFG_I64,                                  \
	unsigned long long: (kind) == POS_CFG_ULL,                       \
	bool: (kind) == POS_CFG_BOOL,                                    \
	double: (kind) == POS_CFG_DOUBLE,                                \
	char *: (kind) == POS_CFG_STRING || (kind) == POS_CFG_PATH ||    \
		(kind) == POS_CFG_LISTEN)

/* sizeof the field; a row whose kind does not fit its field does not compile. */
#define FIELD_SIZE(kind, f) \
	(sizeof(FIELD(f)) + 0 * sizeof(char[KIND_FITS(kind, f) ? 1 : -1]))

#define OPT_X(key, env_, env2_, flag_, kind_, lo, hi, f, def_, help_)       \
	{ .name = (key), .env = (env_), .env2 = (env2_), .flag = (flag_),     \
	  .kind = (kind_), .min = (lo), .max = (hi),                          \
	  .offset = offsetof(struct pos_config, f),                           \
	  .size = FIELD_SIZE(kind_, f), .def = (def_), .help = (help_) }
#define OPT(key, env_, kind_, lo, hi, f, def_, help_) \
	OPT_X(key, env_, NULL, NULL, kind_, lo, hi, f, def_, help_)
/* A string that must be empty or one of `choices_` ("a|b|c"). */
#define OPT_CHOICE(key, env_, f, choices_, help_)                              \
	{ .name = (key), .env = (env_), .kind = POS_CFG_STRING,                 \
	  .offset = offsetof(struct pos_config, f),                           \
	  .size = FIELD_SIZE(POS_CFG_STRING, f), .help = (help_),             \
	  .choices = (choices_) }

#define LISTEN POS_CFG_LISTEN
#define PATH POS_CFG_PATH
#define STRING POS_CFG_STRING
#define UINT POS_CFG_UINT
#define I64 POS_CFG_I64
#define ULL POS_CFG_ULL
#define BOOL POS_CFG_BOOL
#define DOUBLE POS_CFG_DOUBLE

/*
 * One row per key: name, environment variable, kind, range (integers and
 * numbers), field, default as the text a config file would hold (NULL: zero
 * or empty), help. OPT_X adds a second environment variable read when the
 * first is unset, and a command-line flag.
 */
static const struct pos_config_option options[] = {
	OPT_X("listen", "PERSONALOS_LISTEN", NULL, "--listen", LISTEN, 0, 0,
	      listen_host, "127.0.0.1:8420",
	      "address to serve on, HOST:PORT (default 127.0.0.1:8420)"),
	OPT_X("data", "PERSONALOS_DATA", NULL, "--data", PATH, 0, 0, data_dir, "./data",
	      "data directory (made 0700): personalos.db, keys (0600) and blobs/ (default ./data)"),
	OPT("sync_file_root", "PERSONALOS_SYNC_FILE_ROOT", PATH, 0, 0, sync_file_root, NULL,
	    "each user's file sync sources read only below <this>/<user id>/ (made 0700), paths relative to it (default: unset, file sources by path refused; uploads work)"),
	/* sync runs and uploads (docs/SYNC.md) */
	OPT("sync_workers", "PERSONALOS_SYNC_WORKERS", UINT, 1, 64, sync_workers, "4",
	    "not used any more: sync runs are jobs on the jobs_workers pool, one per user at a time (accepted for old configs; default 4)"),
	OPT("sync_run_timeout", "PERSONALOS_SYNC_RUN_TIMEOUT", UINT, 10, 86400, sync_run_timeout_s, "600",
	    "seconds one sync run may take before it is stopped (default 600)"),
	OPT("sync_upload_max", "PERSONALOS_SYNC_UPLOAD_MAX", ULL, 1024, 67108864, sync_upload_max, "67108864",
	    "bytes of one upload to /api/sync/uploads (default 67108864 = 64 MiB, also the most)"),
	/* live events (docs/EVENTS.md) */
	OPT("events_queue_max", "PERSONALOS_EVENTS_QUEUE_MAX", UINT, 4, 65536, events_queue_max, "256",
	    "events queued for one connected client; past it the oldest are dropped and the client told (default 256)"),
	OPT("events_replay", "PERSONALOS_EVENTS_REPLAY", UINT, 0, 4096, events_replay, "64",
	    "recent events kept per user to replay after Last-Event-ID (default 64)"),
	OPT("events_per_user", "PERSONALOS_EVENTS_PER_USER", UINT, 1, 1024, events_per_user, "8",
	    "event streams (SSE or WebSocket) one user may hold open (default 8)"),
	OPT("events_max", "PERSONALOS_EVENTS_MAX", UINT, 1, 100000, events_max, "512",
	    "event streams open at once, all users (default 512)"),
	OPT("events_heartbeat", "PERSONALOS_EVENTS_HEARTBEAT", UINT, 1, 300, events_heartbeat_s, "15",
	    "seconds between keep-alives on an idle event stream (default 15)"),
	/* the jobs service (docs/ARCHITECTURE.md, "Jobs") */
	OPT("jobs_workers", "PERSONALOS_JOBS_WORKERS", UINT, 1, 64, jobs_workers, "4",
	    "background jobs (memorize, MemU calls, ...) run at once (default 4)"),
	OPT("jobs_queue_max", "PERSONALOS_JOBS_QUEUE_MAX", UINT, 1, 100000, jobs_queue_max, "1000",
	    "queued jobs one user may have; more are refused as busy (default 1000)"),
	OPT("jobs_keep_done", "PERSONALOS_JOBS_KEEP_DONE", UINT, 60, 31536000, jobs_keep_done_s,
	    "604800", "seconds a finished job stays visible at /api/jobs before it is deleted (default 604800 = 7 days)"),
	OPT("encryption_share_unlock", "PERSONALOS_ENCRYPTION_SHARE_UNLOCK", BOOL, 0, 1,
	    encryption_share_unlock, "off",
	    "several instances on one cache: an encrypted user's unlock reaches every instance, the data key sealed under a shared server key on the cache's pub/sub (never stored), so every instance answers alike; off: only locks travel and each instance unlocks on its own logins (docs/SCALING.md) (default off)"),
	OPT("auto_link", "PERSONALOS_AUTO_LINK", BOOL, 0, 1, auto_link, "on",
	    "link every created or re-written memory to its neighbours by meaning and its thread (a memory.autolink job; docs/LIFECYCLE.md): on|off (default on)"),
	OPT("job_lease_s", "PERSONALOS_JOB_LEASE_S", UINT, 3, 3600, job_lease_s, "60",
	    "seconds a running job stays its instance's without a renewal (renewed every third); a job of a stopped instance runs again elsewhere after this (default 60)"),
	OPT("export_expiry", "PERSONALOS_EXPORT_EXPIRY", UINT, 1, 2592000, export_expiry_s, "86400",
	    "seconds a finished export stays downloadable, then its file is deleted (default 86400 = 24 h)"),
	OPT("import_upload_max", "PERSONALOS_IMPORT_UPLOAD_MAX", ULL, 1024, 68719476736ULL, import_upload_max,
	    "2147483648", "bytes of one upload to /api/import, spooled to disk under DATA/blobs, never held in memory; a larger Content-Length is refused with 413 before a byte is read (default 2147483648 = 2 GiB, at most 64 GiB)"),
	OPT("threads", "PERSONALOS_THREADS", UINT, 0, 256, threads, "0",
	    "HTTP worker threads, 0 = twice the cores, at least 4 (default 0)"),
	OPT("access_token_ttl", "PERSONALOS_ACCESS_TTL", I64, 1, 86400,
	    access_token_ttl_s, "900",
	    "access token lifetime in seconds (default 900)"),
	OPT("refresh_token_ttl", "PERSONALOS_REFRESH_TTL", I64, 60, 31536000,
	    refresh_token_ttl_s, "2592000",
	    "refresh token lifetime in seconds (default 2592000 = 30 days)"),
	OPT("password_hash_opslimit", "PERSONALOS_PWHASH_OPSLIMIT", ULL, 1, 16,
	    pwhash_opslimit, "4",
	    "Argon2id passes (default 4: a login takes 100-500 ms, docs/BENCHMARKS.md)"),
	OPT("password_hash_memlimit_kib", "PERSONALOS_PWHASH_MEMLIMIT_KIB", ULL, 8, 4194304,
	    pwhash_memlimit_kib, "65536",
	    "Argon2id memory in KiB (default 65536 = 64 MiB)"),
	OPT("log_requests", "PERSONALOS_LOG_REQUESTS", BOOL, 0, 1, log_requests, "on",
	    "one log line per request: on|off (default on)"),
	OPT("shutdown_grace", "PERSONALOS_SHUTDOWN_GRACE", UINT, 0, 600,
	    shutdown_grace_s, "10",
	    "seconds to let in-flight requests finish on SIGTERM (default 10)"),
	/* search (docs/SEARCH.md, docs/EMBEDDINGS-PROVIDER.md) */
	OPT("embed_dim", "PERSONALOS_EMBED_DIM", UINT, 16, 4096, embed_dim, "256",
	    "dimensions of the built-in embedder (default 256)"),
	OPT("embed_url", "PERSONALOS_EMBED_URL", STRING, 0, 0, embed_url, NULL,
	    "OpenAI-compatible embeddings base URL ending in /v1 (default: built-in embedder)"),
	OPT("embed_model", "PERSONALOS_EMBED_MODEL", STRING, 0, 0, embed_model, NULL,
	    "model name for embed_url, e.g. text-embedding-3-small or nomic-embed-text"),
	OPT("embed_api_key", "PERSONALOS_EMBED_API_KEY", STRING, 0, 0, embed_api_key, NULL,
	    "API key for embed_url (sent as a bearer token; never logged)"),
	OPT("embed_remote_dim", "PERSONALOS_EMBED_REMOTE_DIM", UINT, 0, 16384,
	    embed_remote_dim, "0",
	    "dimensions of embed_model, 0 = ask the provider (default 0)"),
	/* the assistant (docs/ASSISTANT.md) */
	OPT("llm_url", "PERSONALOS_LLM_URL", STRING, 0, 0, llm_url, NULL,
	    "OpenAI-compatible chat base URL ending in /v1 (default: built-in offline responder)"),
	OPT("llm_model", "PERSONALOS_LLM_MODEL", STRING, 0, 0, llm_model, NULL,
	    "model name for llm_url, e.g. gpt-4o-mini or llama3.1"),
	OPT("llm_api_key", "PERSONALOS_LLM_API_KEY", STRING, 0, 0, llm_api_key, NULL,
	    "API key for llm_url (sent as a bearer token; never logged)"),
	OPT("llm_timeout", "PERSONALOS_LLM_TIMEOUT", UINT, 1, 3600, llm_timeout_s, "120",
	    "seconds a whole model answer may take (default 120)"),
	OPT("llm_connect_timeout", "PERSONALOS_LLM_CONNECT_TIMEOUT", UINT, 1, 600,
	    llm_connect_timeout_s, "5",
	    "seconds to connect to the model provider (default 5)"),
	OPT("llm_idle_timeout", "PERSONALOS_LLM_IDLE_TIMEOUT", UINT, 1, 3600,
	    llm_idle_timeout_s, "30",
	    "seconds a model stream may stay silent (default 30)"),
	OPT("local_providers", "PERSONALOS_LOCAL_PROVIDERS", STRING, 0, 0,
	    local_providers, NULL,
	    "comma-separated provider hosts treated as local for privacy tiers (loopback always is)"),
	OPT("chat_context_tokens", "PERSONALOS_CHAT_CONTEXT_TOKENS", UINT, 100, 200000,
	    chat_context_tokens, "2000",
	    "token budget for memories in the assistant's prompt (default 2000)"),
	OPT("chat_memories", "PERSONALOS_CHAT_MEMORIES", UINT, 0, 50, chat_memories, "8",
	    "memories retrieved for each chat message (default 8)"),
	OPT("chat_history", "PERSONALOS_CHAT_HISTORY", UINT, 0, 100, chat_history, "10",
	    "earlier messages of the conversation sent to the model (default 10)"),
	/* MemU (docs/MEMU.md): MEMUU_API_KEY is MemU's own name for the key. The
	 * empty defaults are filled in by assistant/memu.c. */
	OPT_X("memu_api_key", "MEMU_API_KEY", "MEMUU_API_KEY", NULL, STRING, 0, 0,
	      memu_api_key, NULL,
	      "MemU Cloud API key; enables MemU (never logged)"),
	OPT("memu_base_url", "MEMUU_BASE_URL", STRING, 0, 0, memu_base_url, NULL,
	    "MemU API base URL (default https://api.memu.so)"),
	OPT("memu_agent_id", "MEMUU_AGENT_ID", STRING, 0, 0, memu_agent_id, NULL,
	    "agent id sent to MemU (default personalos)"),
	OPT("memu_agent_name", "MEMUU_AGENT_NAME", STRING, 0, 0, memu_agent_name, NULL,
	    "agent name sent to MemU (default PersonalOS)"),
	OPT("memu_search_deadline_ms", "PERSONALOS_MEMU_SEARCH_DEADLINE_MS", UINT, 10, 10000,
	    memu_search_deadline_ms, "300",
	    "longest a search waits for MemU's retrieval, then answers without it (default 300)"),
	OPT("search_weight_memu", "PERSONALOS_SEARCH_WEIGHT_MEMU", DOUBLE, 0, 100,
	    search_weight_memu, "0.5",
	    "weight of MemU's ranks in the fusion, cloud-tier users with MemU on (default 0.5)"),
	/* ranking (docs/SEARCH.md) */
	OPT("search_candidates", "PERSONALOS_SEARCH_CANDIDATES", UINT, 10, 2000,
	    search_candidates, "200",
	    "candidates taken from each of keyword and semantic search (default 200)"),
	OPT("search_cache_entries", "PERSONALOS_SEARCH_CACHE", UINT, 0, 1000000,
	    search_cache_entries, "1024",
	    "search result cache slots, 0 disables (default 1024)"),
	OPT("search_loaded_users", "PERSONALOS_SEARCH_LOADED_USERS", UINT, 1, 100000,
	    search_loaded_users, "64",
	    "users whose vector index stays in memory (default 64)"),
	OPT("vector_cache_mb", "PERSONALOS_VECTOR_CACHE_MB", UINT, 0, 1048576,
	    vector_cache_mb, "512",
	    "MiB of vector indexes kept in memory, least recently used out; 0: no bound (default 512)"),
	OPT("search_vector_wait_ms", "PERSONALOS_SEARCH_VECTOR_WAIT_MS", UINT, 0, 60000,
	    search_vector_wait_ms, "500",
	    "how long a search waits for a user's vectors to load before it answers by keyword alone (default 500)"),
	OPT("search_vector_exact", "PERSONALOS_SEARCH_VECTOR_EXACT", BOOL, 0, 1,
	    search_vector_exact, "off",
	    "vector search scans every int8 row instead of the two-stage scan (4-bit codes, then int8 re-rank) (default off)"),
	OPT("search_weight_keyword", "PERSONALOS_SEARCH_WEIGHT_KEYWORD", DOUBLE, 0, 100,
	    search_weight_keyword, "1.0",
	    "weight of keyword ranks in the fusion (default 1.0)"),
	OPT("search_weight_semantic", "PERSONALOS_SEARCH_WEIGHT_SEMANTIC", DOUBLE, 0, 100,
	    search_weight_semantic, "0.15",
	    "weight of semantic ranks in the fusion (default 0.15)"),
	OPT("search_rrf_k", "PERSONALOS_SEARCH_RRF_K", DOUBLE, 1, 1000, search_rrf_k, "60",
	    "k of reciprocal-rank fusion, 1/(k + rank) (default 60)"),
	OPT("search_boost_recency", "PERSONALOS_SEARCH_BOOST_RECENCY", DOUBLE, 0, 10,
	    search_boost_recency, "0.05",
	    "recency boost weight (default 0.05)"),
	OPT("search_recency_half_life_days", "PERSONALOS_SEARCH_RECENCY_HALF_LIFE", DOUBLE,
	    0, 100000, search_recency_half_life_days, "90",
	    "days after which the recency boost halves (default 90)"),
	OPT("search_boost_importance", "PERSONALOS_SEARCH_BOOST_IMPORTANCE", DOUBLE, 0, 10,
	    search_boost_importance, "0.05",
	    "importance boost weight (default 0.05)"),
	OPT("search_boost_layer", "PERSONALOS_SEARCH_BOOST_LAYER", DOUBLE, 0, 10,
	    search_boost_layer, "0.05",
	    "layer boost weight: archive ranks lower (default 0.05)"),
	OPT("search_boost_access", "PERSONALOS_SEARCH_BOOST_ACCESS", DOUBLE, 0, 10,
	    search_boost_access, "0.02",
	    "access-count boost weight (default 0.02)"),
	OPT("search_boost_date", "PERSONALOS_SEARCH_BOOST_DATE", DOUBLE, 0, 10,
	    search_boost_date, "1.0",
	    "boost of memories dated in a time phrase's window, e.g. last week (default 1.0)"),
	OPT("search_boost_when", "PERSONALOS_SEARCH_BOOST_WHEN", DOUBLE, 0, 10,
	    search_boost_when, "0.1",
	    "boost of memories naming a time when the query asks when (default 0.1)"),
	OPT("search_expand_weight", "PERSONALOS_SEARCH_EXPAND_WEIGHT", DOUBLE, 0, 1,
	    search_expand_weight, "0.25",
	    "weight of WordNet synonyms and derived forms added to a keyword query; 0 turns expansion off (default 0.25)"),
	OPT("search_expand_max_df", "PERSONALOS_SEARCH_EXPAND_MAX_DF", I64, -1, 1000000000,
	    search_expand_max_df, "0",
	    "expand only query words found in at most this many of the user's memories; 0: only words they never wrote; -1: every word (default 0)"),
	OPT("search_boost_thread", "PERSONALOS_SEARCH_BOOST_THREAD", DOUBLE, 0, 10,
	    search_boost_thread, "0.3",
	    "share of the best score of another candidate in the same thread that a candidate gains; 0 turns it off (default 0.3)"),
	OPT("wordnet_dir", "PERSONALOS_WORDNET_DIR", PATH, 0, 0, wordnet_dir,
	    "/usr/share/wordnet",
	    "directory of WordNet 3.0's database files (Debian wordnet-base) for query expansion (default /usr/share/wordnet)"),
	OPT("search_min_similarity", "PERSONALOS_SEARCH_MIN_SIMILARITY", DOUBLE, 0, 1,
	    search_min_similarity, "0.1",
	    "least cosine for a memory found by meaning alone (default 0.1)"),
	/* web app (docs/WEB.md) */
	OPT_X("web_root", "PERSONALOS_WEB_ROOT", NULL, "--web", PATH, 0, 0, web_root,
	      "./web/dist",
	      "directory of the web app build served at / (default ./web/dist)"),
	/* security (docs/SECURITY.md): rate limits, lockout, CORS, TLS */
	OPT("rate_limit", "PERSONALOS_RATE_LIMIT", BOOL, 0, 1, rate_limit, "on",
	    "request rate limits and login lockout: on|off (default on; benchmarks turn it off)"),
	OPT("rate_limit_ip_rate", "PERSONALOS_RATE_LIMIT_IP_RATE", UINT, 1, 10000000,
	    rl_ip_rate, "200",
	    "requests per second per client address (default 200)"),
	OPT("rate_limit_ip_burst", "PERSONALOS_RATE_LIMIT_IP_BURST", UINT, 1, 10000000,
	    rl_ip_burst, "1000",
	    "burst per client address (default 1000)"),
	OPT("rate_limit_user_rate", "PERSONALOS_RATE_LIMIT_USER_RATE", UINT, 1, 10000000,
	    rl_user_rate, "100",
	    "requests per second per user (default 100)"),
	OPT("rate_limit_user_burst", "PERSONALOS_RATE_LIMIT_USER_BURST", UINT, 1, 10000000,
	    rl_user_burst, "500",
	    "burst per user (default 500)"),
	OPT("rate_limit_auth_per_min", "PERSONALOS_RATE_LIMIT_AUTH_PER_MIN", UINT, 1, 10000000,
	    rl_auth_per_min, "60",
	    "register/login/refresh calls per minute per client address (default 60)"),
	OPT("rate_limit_auth_burst", "PERSONALOS_RATE_LIMIT_AUTH_BURST", UINT, 1, 10000000,
	    rl_auth_burst, "30",
	    "burst of auth calls per client address (default 30)"),
	OPT("login_max_failures", "PERSONALOS_LOGIN_MAX_FAILURES", UINT, 0, 1000000,
	    login_fail_account, "5",
	    "failed logins of one account before it is locked out, 0 = never (default 5)"),
	OPT("login_max_failures_ip", "PERSONALOS_LOGIN_MAX_FAILURES_IP", UINT, 0, 1000000,
	    login_fail_ip, "20",
	    "failed logins from one address before it is locked out, 0 = never (default 20)"),
	OPT("login_lockout", "PERSONALOS_LOGIN_LOCKOUT", UINT, 1, 86400,
	    login_lockout_base_s, "30",
	    "first lockout in seconds; each further failure doubles it (default 30)"),
	OPT("login_lockout_max", "PERSONALOS_LOGIN_LOCKOUT_MAX", UINT, 1, 604800,
	    login_lockout_max_s, "900",
	    "longest lockout in seconds (default 900)"),
	OPT("rate_limit_slots", "PERSONALOS_RATE_LIMIT_SLOTS", UINT, 64, 16777216,
	    rl_slots, "65536",
	    "entries of the in-process rate-limit table (default 65536)"),
	/* several instances: the shared cache (README "Redis") */
	OPT_X("cache", "PERSONALOS_CACHE", NULL, "--cache", STRING, 0, 0, cache_url, NULL,
	      "Redis shared by every instance for rate limits, lockouts, token checks, search results and events: redis://[:PASSWORD@]HOST[:PORT][/DB] (default: unset, in-process only)"),
	OPT("cache_timeout_ms", "PERSONALOS_CACHE_TIMEOUT_MS", UINT, 1, 5000, cache_timeout_ms, "50",
	    "connect and command timeout for the cache in milliseconds; past it a request uses the in-process limits and caches (default 50)"),
	OPT("trust_forwarded_for", "PERSONALOS_TRUST_FORWARDED_FOR", BOOL, 0, 1,
	    trust_forwarded_for, "off",
	    "take the client address from X-Forwarded-For (only behind a proxy that sets it): on|off (default off)"),
	OPT("cors_origins", "PERSONALOS_CORS_ORIGINS", STRING, 0, 0, cors_origins, NULL,
	    "comma-separated origins allowed to call the API from a browser, * for any (default none)"),
	OPT("tls_cert", "PERSONALOS_TLS_CERT", STRING, 0, 0, tls_cert, NULL,
	    "PEM certificate (chain) file: serve HTTPS (needs tls_key; default plain HTTP)"),
	OPT("tls_key", "PERSONALOS_TLS_KEY", STRING, 0, 0, tls_key, NULL,
	    "PEM private key file for tls_cert"),
	/* limits before authentication, keys, /metrics (docs/SECURITY.md) */
	OPT("max_public_body", "PERSONALOS_MAX_PUBLIC_BODY", UINT, 256, 1048576, max_public_body, "65536",
	    "largest request body in bytes a route without a token accepts (register, login, refresh, recover; default 65536)"),
	OPT("max_connections", "PERSONALOS_MAX_CONNECTIONS", UINT, 1, 1000000, max_connections, "1024",
	    "open HTTP connections in total, the rest are refused (default 1024)"),
	OPT("max_connections_per_ip", "PERSONALOS_MAX_CONNECTIONS_PER_IP", UINT, 0, 1000000,
	    max_connections_per_ip, "64",
	    "open HTTP connections per client address (the socket peer), 0 = no cap (default 64)"),
	OPT("max_body_memory", "PERSONALOS_MAX_BODY_MEMORY", UINT, 1, 1048576, max_body_memory_mib, "512",
	    "MiB of request bodies held at once, all connections together; past it a request is refused 503 (default 512)"),
	/* admission control (http/admission.h, docs/OPERATIONS.md) */
	OPT("admission", "PERSONALOS_ADMISSION", BOOL, 0, 1, admission, "on",
	    "admission control: bound the requests running a handler and those waiting for one; past the queue a request gets 503 with Retry-After at once (default on)"),
	OPT("max_inflight", "PERSONALOS_MAX_INFLIGHT", UINT, 0, 4096, max_inflight, "0",
	    "requests running a handler at once, 0 = threads - 1, at least 1 (default 0)"),
	OPT("max_queue", "PERSONALOS_MAX_QUEUE", UINT, 1, 100000, max_queue, "1024",
	    "requests waiting for a handler slot; past it 503 unavailable at once (default 1024)"),
	OPT("queue_wait_ms", "PERSONALOS_QUEUE_WAIT_MS", UINT, 1, 600000, queue_wait_ms, "500",
	    "milliseconds a request may wait for a handler slot before it gets 503 (default 500)"),
	OPT("connection_timeout", "PERSONALOS_CONNECTION_TIMEOUT", UINT, 1, 3600, connection_timeout_s, "30",
	    "seconds a connection may stay silent (headers, body or keep-alive) before it is closed (default 30)"),
	OPT("metrics_token", "PERSONALOS_METRICS_TOKEN", STRING, 0, 0, metrics_token, NULL,
	    "bearer token GET /metrics requires; unset: /metrics answers loopback peers only (never logged)"),
	OPT("master_key_file", "PERSONALOS_MASTER_KEY_FILE", PATH, 0, 0, master_key_file, NULL,
	    "file with a secret of at least 32 bytes that seals the server key file DATA/keys (default: the key file is plain, mode 0600)"),
	/* accounts (docs/SECURITY.md "Accounts, roles, registration, quotas") */
	OPT_CHOICE("registration", "PERSONALOS_REGISTRATION", registration, "open|invite|closed",
		   "who may register: open|invite|closed, empty = open while no account exists, then invite (default empty)"),
	OPT("quota_memories", "PERSONALOS_QUOTA_MEMORIES", I64, 0, 1000000000000LL, quota_memories,
	    "1000000", "memories per user, 0 = unlimited (default 1000000)"),
	OPT("quota_bytes", "PERSONALOS_QUOTA_BYTES", I64, 0, 1000000000000000LL, quota_bytes,
	    "10737418240", "content and metadata bytes per user, 0 = unlimited (default 10737418240 = 10 GiB)"),
	OPT("quota_sources", "PERSONALOS_QUOTA_SOURCES", I64, 0, 1000000, quota_sources, "20",
	    "sync sources per user, 0 = unlimited (default 20)"),
	OPT("quota_tokens", "PERSONALOS_QUOTA_TOKENS", I64, 0, 1000000, quota_tokens, "50",
	    "live personal API tokens per user, 0 = unlimited (default 50)"),
	OPT("argon2_concurrency", "PERSONALOS_ARGON2_CONCURRENCY", UINT, 0, 1024, argon2_concurrency, "0",
	    "password hashes computed at once, 0 = the number of cores (default 0)"),
	OPT("argon2_queue", "PERSONALOS_ARGON2_QUEUE", UINT, 0, 100000, argon2_queue, "32",
	    "requests waiting for a password hash before 503 busy (default 32)"),
	/* outbound connections (docs/SECURITY.md) */
	OPT("egress_allow", "PERSONALOS_EGRESS_ALLOW", STRING, 0, 0, egress_allow, NULL,
	    "private/loopback destinations sync sources may reach: comma-separated HOST, HOST:PORT, CIDR, CIDR:PORT, [V6CIDR]:PORT (default none; llm_url, embed_url, memu_base_url are always allowed)"),
	/* plugins (docs/PLUGINS.md) */
	OPT("plugins_dir", "PERSONALOS_PLUGINS_DIR", PATH, 0, 0, plugins_dir, NULL,
	    "the plugin catalog: one folder per package with plugin.json (default: unset, no plugins)"),
	OPT("plugin_max_failures", "PERSONALOS_PLUGIN_MAX_FAILURES", UINT, 1, 1000, plugin_max_failures, "5",
	    "failed hook calls in a row after which a user's plugin is disabled (default 5)"),
	OPT("plugin_pool_max", "PERSONALOS_PLUGIN_POOL_MAX", UINT, 0, 4096, plugin_pool_max, "32",
	    "idle plugin sandboxes kept for reuse by the same (plugin, user), least recently used evicted; 0 builds one per call (default 32)"),
	OPT("plugin_pool_mem_mb", "PERSONALOS_PLUGIN_POOL_MEM_MB", UINT, 1, 4096, plugin_pool_mem_mb, "64",
	    "memory the idle plugin sandboxes may hold in all, in MiB (default 64)"),
	OPT("plugin_query_budget_ms", "PERSONALOS_PLUGIN_QUERY_BUDGET_MS", UINT, 1, 1000, plugin_query_budget_ms, "50",
	    "time each plugin's on_query hook may take inside a search (default 50)"),
	OPT("plugin_catalogs", "PERSONALOS_PLUGIN_CATALOGS", STRING, 0, 0, plugin_catalogs, NULL,
	    "remote plugin catalogs: index.json URLs, comma-separated; an admin refreshes them (default: none)"),
	OPT("plugin_trusted_keys", "PERSONALOS_PLUGIN_TRUSTED_KEYS", STRING, 0, 0, plugin_trusted_keys, NULL,
	    "ed25519 public keys (base64 or hex, comma-separated) remote packages must be signed with"),
	OPT("plugin_catalog_refresh_s", "PERSONALOS_PLUGIN_CATALOG_REFRESH_S", UINT, 0, 31536000, plugin_catalog_refresh_s, "86400",
	    "seconds between scheduled refreshes of the remote plugin catalogs (a plugin.catalog job); 0 = only when an admin asks (default 86400)"),
	/* files (issue 21; docs/FILES.md) */
	OPT("file_max", "PERSONALOS_FILE_MAX", ULL, 1024, 1073741824ULL, file_max, "33554432",
	    "bytes of one uploaded file (attachments, /api/files; default 33554432 = 32 MiB, at most 1 GiB)"),
	OPT("extract_timeout", "PERSONALOS_EXTRACT_TIMEOUT", UINT, 1, 3600, extract_timeout_s, "60",
	    "seconds the text extraction of one file may take before it is stopped (default 60)"),
	OPT("extract_pages", "PERSONALOS_EXTRACT_PAGES", UINT, 1, 100000, extract_pages, "2000",
	    "pages of a PDF whose text is extracted at most (default 2000)"),
	OPT("extract_pixels", "PERSONALOS_EXTRACT_PIXELS", ULL, 1, 1000000000ULL, extract_pixels, "50000000",
	    "pixels of an image read by OCR at most; larger images are refused (default 50000000)"),
	OPT("extract_memory", "PERSONALOS_EXTRACT_MEMORY", UINT, 64, 65536, extract_memory_mib, "1024",
	    "MiB of address space the text extractor process may use (default 1024)"),
	/* PostgreSQL store (issue 18; docs/DEPLOY.md "PostgreSQL store") */
	OPT_X("store", "PERSONALOS_STORE", NULL, "--store", STRING, 0, 0, store, NULL,
	      "where records live: empty or sqlite: = personalos.db in the data directory; postgres://USER@HOST[:PORT]/DB = PostgreSQL, shared by several instances (keep the password in ~/.pgpass or PGPASSWORD, not the URL; default empty)"),
	OPT("store_pool", "PERSONALOS_STORE_POOL", UINT, 1, 256, store_pool, "8",
	    "PostgreSQL connections per instance, made as needed (default 8)"),
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

#undef LISTEN
#undef PATH
#undef STRING
#undef UINT
#undef I64
#undef ULL
#undef BOOL
#undef DOUBLE

const struct pos_config_option *pos_config_options(size_t *n)
{
	*n = N_OPTIONS;
	return options;
}

const struct pos_config_option *pos_config_find(const char *key)
{
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (strcmp(options[i].name, key) == 0)
			return &options[i];
	return NULL;
}

bool pos_parse_int(const char *s, long long min, long long max, long long *out)
{
	if (!s || !*s)
		return false;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

bool pos_parse_listen(const char *s, char *host, size_t host_cap,
		      unsigned *port)
{
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s)
		return false;
	size_t hlen = (size_t)(colon - s);
	const char *h = s;
	if (h[0] == '[') {
		if (hlen < 3 || h[hlen - 1] != ']')
			return false;
		h++;
		hlen -= 2;
	}
	if (hlen + 1 > host_cap)
		return false;
	long long p;
	if (!pos_parse_int(colon + 1, 0, 65535, &p))
		return false;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = (unsigned)p;
	return true;
}

static bool parse_bool(const char *s, bool *out)
{
	if (!strcmp(s, "on") || !strcmp(s, "true") || !strcmp(s, "1"))
		*out = true;
	else if (!strcmp(s, "off") || !strcmp(s, "false") || !strcmp(s, "0"))
		*out = false;
	else
		return false;
	return true;
}

/* True when `value` is one of the '|'-separated words of `choices`. */
static bool is_choice(const char *choices, const char *value)
{
	size_t n = strlen(value);
	for (const char *p = choices; *p;) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		if (len == n && !memcmp(p, value, n))
			return true;
		if (!bar)
			break;
		p = bar + 1;
	}
	return false;
}

/* Writes `value` into the field of row `o`; false if it does not parse or fit. */
static bool store(struct pos_config *c, const struct pos_config_option *o,
		  const char *value)
{
	char *field = (char *)c + o->offset;
	long long v;
	switch (o->kind) {
	case POS_CFG_LISTEN:
		/* the one key that fills two fields: host here, the port beside it */
		return pos_parse_listen(value, field, o->size, &c->listen_port);
	case POS_CFG_PATH:
		if (!*value || strlen(value) >= o->size)
			return false;
		memcpy(field, value, strlen(value) + 1);
		return true;
	case POS_CFG_STRING:
		if (strlen(value) >= o->size || (*value && o->choices && !is_choice(o->choices, value)))
			return false;
		memcpy(field, value, strlen(value) + 1);
		return true;
	case POS_CFG_BOOL:
		return parse_bool(value, (bool *)field);
	case POS_CFG_DOUBLE: {
		char *end;
		errno = 0;
		double d = strtod(value, &end);
		if (!*value || *end || errno ||
		    !(d >= (double)o->min && d <= (double)o->max))
			return false;
		*(double *)field = d;
		return true;
	}
	case POS_CFG_UINT:
		if (!pos_parse_int(value, o->min, o->max, &v))
			return false;
		*(unsigned *)field = (unsigned)v;
		return true;
	case POS_CFG_I64:
		if (!pos_parse_int(value, o->min, o->max, &v))
			return false;
		*(int64_t *)field = v;
		return true;
	case POS_CFG_ULL:
		if (!pos_parse_int(value, o->min, o->max, &v))
			return false;
		*(unsigned long long *)field = (unsigned long long)v;
		return true;
	}
	return false;
}

void pos_config_defaults(struct pos_config *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (options[i].def && !store(c, &options[i], options[i].def))
			POS_BUG("config: bad default for %s", options[i].name);
}

enum pos_err pos_config_set(struct pos_config *c, const char *key,
			    const char *value, const char *origin,
			    struct pos_error *err)
{
	const struct pos_config_option *o = pos_config_find(key);
	if (!o)
		return pos_error_set(err, POS_ERR_USAGE, key,
				     "%s: unknown option '%s'", origin, key);
	if (store(c, o, value))
		return POS_OK;
	switch (o->kind) {
	case POS_CFG_UINT:
	case POS_CFG_I64:
	case POS_CFG_ULL:
		return pos_error_set(err, POS_ERR_USAGE, key,
				     "%s: %s must be an integer in %lld..%lld",
				     origin, key, o->min, o->max);
	case POS_CFG_DOUBLE:
		return pos_error_set(err, POS_ERR_USAGE, key,
				     "%s: %s must be a number in %lld..%lld",
				     origin, key, o->min, o->max);
	default:
		if (o->choices)
			return pos_error_set(err, POS_ERR_USAGE, key,
					     "%s: %s must be one of %s (or empty)",
					     origin, key, o->choices);
		return pos_error_set(err, POS_ERR_USAGE, key,
				     "%s: bad value for %s", origin, key);
	}
}

enum pos_err pos_config_get(const struct pos_config *c, const char *key,
			    char *out, size_t cap, struct pos_error *err)
{
	const struct pos_config_option *o = pos_config_find(key);
	if (!o)
		return pos_error_set(err, POS_ERR_USAGE, key,
				     "unknown option '%s'", key);
	const char *field = (const char *)c + o->offset;
	int n = 0;
	switch (o->kind) {
	case POS_CFG_LISTEN:
		n = snprintf(out, cap, strchr(field, ':') ? "[%s]:%u" : "%s:%u",
			     field, c->listen_port);
		break;
	case POS_CFG_PATH:
	case POS_CFG_STRING:
		n = snprintf(out, cap, "%s", field);
		break;
	case POS_CFG_BOOL:
		n = snprintf(out, cap, "%s", *(const bool *)field ? "on" : "off");
		break;
	case POS_CFG_DOUBLE:
		n = snprintf(out, cap, "%.17g", *(const double *)field);
		break;
	case POS_CFG_UINT:
		n = snprintf(out, cap, "%u", *(const unsigned *)field);
		break;
	case POS_CFG_I64:
		n = snprintf(out, cap, "%lld", (long long)*(const int64_t *)field);
		break;
	case POS_CFG_ULL:
		n = snprintf(out, cap, "%llu", *(const unsigned long long *)field);
		break;
	}
	if (n < 0 || (size_t)n >= cap)
		return pos_error_set(err, POS_ERR_USAGE, key,
				     "value of %s does not fit %zu bytes", key, cap);
	return POS_OK;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' ||
		     s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

enum pos_err pos_config_load_file(struct pos_config *c, const char *path,
				  struct pos_error *err)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return pos_error_set(err, POS_ERR_IO, NULL,
				     "cannot read config file %s: %s", path,
				     strerror(errno));
	char line[4096];
	int lineno = 0;
	enum pos_err rc = POS_OK;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *s = trim(line);
		if (!*s)
			continue;
		char *eq = strchr(s, '=');
		char origin[PATH_MAX + 32];
		snprintf(origin, sizeof(origin), "%s:%d", path, lineno);
		if (!eq) {
			rc = pos_error_set(err, POS_ERR_USAGE, NULL,
					   "%s: expected key = value", origin);
			break;
		}
		*eq = '\0';
		rc = pos_config_set(c, trim(s), trim(eq + 1), origin, err);
		if (rc)
			break;
	}
	fclose(f);
	return rc;
}

enum pos_err pos_config_load_env(struct pos_config *c, struct pos_error *err)
{
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const struct pos_config_option *o = &options[i];
		const char *env = o->env;
		const char *v = getenv(env);
		if (!v && o->env2) {
			env = o->env2;
			v = getenv(env);
		}
		if (v) {
			enum pos_err rc = pos_config_set(c, o->name, v, env, err);
			if (rc)
				return rc;
		}
	}
	return POS_OK;
}

/* The row whose flag `arg` is, as `--flag` or `--flag=value`; `*value` is
 * set for the second form. */
static const struct pos_config_option *flag_option(const char *arg,
						   const char **value)
{
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const char *flag = options[i].flag;
		if (!flag)
			continue;
		size_t n = strlen(flag);
		if (strncmp(arg, flag, n) != 0)
			continue;
		if (arg[n] == '\0') {
			*value = NULL;
			return &options[i];
		}
		if (arg[n] == '=') {
			*value = arg + n + 1;
			return &options[i];
		}
	}
	return NULL;
}

enum pos_err pos_config_load_flags(struct pos_config *c, int *argc, char **argv,
				   struct pos_error *err)
{
	int out = 1;
	for (int i = 1; i < *argc; i++) {
		const char *v;
		const struct pos_config_option *o = flag_option(argv[i], &v);
		if (!o) {
			argv[out++] = argv[i];
			continue;
		}
		if (!v) {
			if (i + 1 >= *argc)
				return pos_error_set(err, POS_ERR_USAGE, o->name,
						     "%s needs a value", o->flag);
			v = argv[++i];
		}
		enum pos_err rc = pos_config_set(c, o->name, v, o->flag, err);
		if (rc)
			return rc;
	}
	*argc = out;
	argv[out] = NULL;
	return POS_OK;
}

void pos_config_print_help(FILE *out)
{
	fprintf(out, "Configuration (config file key, environment variable):\n");
	for (size_t i = 0; i < N_OPTIONS; i++)
		fprintf(out, "  %-28s %-32s %s%s%s%s%s\n", options[i].name,
			options[i].env, options[i].help,
			options[i].flag ? "; flag " : "", options[i].flag ? options[i].flag : "",
			options[i].env2 ? "; or " : "", options[i].env2 ? options[i].env2 : "");
}
