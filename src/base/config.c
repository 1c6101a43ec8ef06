/*
 * config.c — the option table and its three sources.
 */
#include "base/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum opt_kind { OPT_LISTEN, OPT_PATH, OPT_UINT, OPT_I64, OPT_ULL, OPT_BOOL, OPT_DOUBLE, OPT_STRING };

struct opt {
	const char *name;
	const char *env;
	enum opt_kind kind;
	long long min, max;
	const char *help;
};

static const struct opt options[] = {
	{"listen", "PERSONALOS_LISTEN", OPT_LISTEN, 0, 0,
	 "address to serve on, HOST:PORT (default 127.0.0.1:8420)"},
	{"data", "PERSONALOS_DATA", OPT_PATH, 0, 0,
	 "data directory: personalos.db and blobs/ (default ./data)"},
	/* sync (branch sync) */
	{"sync_file_root", "PERSONALOS_SYNC_FILE_ROOT", OPT_PATH, 0, 0,
	 "sync sources made through the API may read files only under this directory (default: anywhere the server may read)"},
	{"threads", "PERSONALOS_THREADS", OPT_UINT, 0, 256,
	 "HTTP worker threads, 0 = twice the cores, at least 4 (default 0)"},
	{"access_token_ttl", "PERSONALOS_ACCESS_TTL", OPT_I64, 1, 86400,
	 "access token lifetime in seconds (default 900)"},
	{"refresh_token_ttl", "PERSONALOS_REFRESH_TTL", OPT_I64, 60, 31536000,
	 "refresh token lifetime in seconds (default 2592000 = 30 days)"},
	{"password_hash_opslimit", "PERSONALOS_PWHASH_OPSLIMIT", OPT_ULL, 1, 16,
	 "Argon2id passes (default 4: a login takes 100-500 ms, docs/BENCHMARKS.md)"},
	{"password_hash_memlimit_kib", "PERSONALOS_PWHASH_MEMLIMIT_KIB", OPT_ULL,
	 8, 4194304, "Argon2id memory in KiB (default 65536 = 64 MiB)"},
	{"log_requests", "PERSONALOS_LOG_REQUESTS", OPT_BOOL, 0, 1,
	 "one log line per request: on|off (default on)"},
	{"shutdown_grace", "PERSONALOS_SHUTDOWN_GRACE", OPT_UINT, 0, 600,
	 "seconds to let in-flight requests finish on SIGTERM (default 10)"},
	{"embed_dim", "PERSONALOS_EMBED_DIM", OPT_UINT, 16, 4096,
	 "dimensions of the built-in embedder (default 256)"},
	{"embed_url", "PERSONALOS_EMBED_URL", OPT_STRING, 0, 0,
	 "OpenAI-compatible embeddings base URL ending in /v1 (default: built-in embedder)"},
	{"embed_model", "PERSONALOS_EMBED_MODEL", OPT_STRING, 0, 0,
	 "model name for embed_url, e.g. text-embedding-3-small or nomic-embed-text"},
	{"embed_api_key", "PERSONALOS_EMBED_API_KEY", OPT_STRING, 0, 0,
	 "API key for embed_url (sent as a bearer token; never logged)"},
	{"embed_remote_dim", "PERSONALOS_EMBED_REMOTE_DIM", OPT_UINT, 0, 16384,
	 "dimensions of embed_model, 0 = ask the provider (default 0)"},
	/* the assistant (docs/ASSISTANT.md) */
	{"llm_url", "PERSONALOS_LLM_URL", OPT_STRING, 0, 0,
	 "OpenAI-compatible chat base URL ending in /v1 (default: built-in offline responder)"},
	{"llm_model", "PERSONALOS_LLM_MODEL", OPT_STRING, 0, 0,
	 "model name for llm_url, e.g. gpt-4o-mini or llama3.1"},
	{"llm_api_key", "PERSONALOS_LLM_API_KEY", OPT_STRING, 0, 0,
	 "API key for llm_url (sent as a bearer token; never logged)"},
	{"llm_timeout", "PERSONALOS_LLM_TIMEOUT", OPT_UINT, 1, 3600,
	 "seconds a whole model answer may take (default 120)"},
	{"llm_connect_timeout", "PERSONALOS_LLM_CONNECT_TIMEOUT", OPT_UINT, 1, 600,
	 "seconds to connect to the model provider (default 5)"},
	{"llm_idle_timeout", "PERSONALOS_LLM_IDLE_TIMEOUT", OPT_UINT, 1, 3600,
	 "seconds a model stream may stay silent (default 30)"},
	{"local_providers", "PERSONALOS_LOCAL_PROVIDERS", OPT_STRING, 0, 0,
	 "comma-separated provider hosts treated as local for privacy tiers (loopback always is)"},
	{"chat_context_tokens", "PERSONALOS_CHAT_CONTEXT_TOKENS", OPT_UINT, 100, 200000,
	 "token budget for memories in the assistant's prompt (default 2000)"},
	{"chat_memories", "PERSONALOS_CHAT_MEMORIES", OPT_UINT, 0, 50,
	 "memories retrieved for each chat message (default 8)"},
	{"chat_history", "PERSONALOS_CHAT_HISTORY", OPT_UINT, 0, 100,
	 "earlier messages of the conversation sent to the model (default 10)"},
	{"memu_api_key", "MEMU_API_KEY", OPT_STRING, 0, 0,
	 "MemU Cloud API key; enables MemU (also read from MEMUU_API_KEY; never logged)"},
	{"memu_base_url", "MEMUU_BASE_URL", OPT_STRING, 0, 0,
	 "MemU API base URL (default https://api.memu.so)"},
	{"memu_agent_id", "MEMUU_AGENT_ID", OPT_STRING, 0, 0,
	 "agent id sent to MemU (default personalos)"},
	{"memu_agent_name", "MEMUU_AGENT_NAME", OPT_STRING, 0, 0,
	 "agent name sent to MemU (default PersonalOS)"},
	{"search_candidates", "PERSONALOS_SEARCH_CANDIDATES", OPT_UINT, 10, 2000,
	 "candidates taken from each of keyword and semantic search (default 200)"},
	{"search_cache_entries", "PERSONALOS_SEARCH_CACHE", OPT_UINT, 0, 1000000,
	 "search result cache slots, 0 disables (default 1024)"},
	{"search_loaded_users", "PERSONALOS_SEARCH_LOADED_USERS", OPT_UINT, 1, 100000,
	 "users whose vector index stays in memory (default 64)"},
	{"search_weight_keyword", "PERSONALOS_SEARCH_WEIGHT_KEYWORD", OPT_DOUBLE, 0, 100,
	 "weight of keyword ranks in the fusion (default 1.0)"},
	{"search_weight_semantic", "PERSONALOS_SEARCH_WEIGHT_SEMANTIC", OPT_DOUBLE, 0, 100,
	 "weight of semantic ranks in the fusion (default 0.15)"},
	{"search_rrf_k", "PERSONALOS_SEARCH_RRF_K", OPT_DOUBLE, 1, 1000,
	 "k of reciprocal-rank fusion, 1/(k + rank) (default 60)"},
	{"search_boost_recency", "PERSONALOS_SEARCH_BOOST_RECENCY", OPT_DOUBLE, 0, 10,
	 "recency boost weight (default 0.05)"},
	{"search_recency_half_life_days", "PERSONALOS_SEARCH_RECENCY_HALF_LIFE", OPT_DOUBLE, 0, 100000,
	 "days after which the recency boost halves (default 90)"},
	{"search_boost_importance", "PERSONALOS_SEARCH_BOOST_IMPORTANCE", OPT_DOUBLE, 0, 10,
	 "importance boost weight (default 0.05)"},
	{"search_boost_layer", "PERSONALOS_SEARCH_BOOST_LAYER", OPT_DOUBLE, 0, 10,
	 "layer boost weight: archive ranks lower (default 0.05)"},
	{"search_boost_access", "PERSONALOS_SEARCH_BOOST_ACCESS", OPT_DOUBLE, 0, 10,
	 "access-count boost weight (default 0.02)"},
	{"search_min_similarity", "PERSONALOS_SEARCH_MIN_SIMILARITY", OPT_DOUBLE, 0, 1,
	 "least cosine for a memory found by meaning alone (default 0.1)"},
	/* web app */
	{"web_root", "PERSONALOS_WEB_ROOT", OPT_PATH, 0, 0,
	 "directory of the web app build served at / (default ./web/dist)"},
	/* ---- security (docs/SECURITY.md) ---- */
	{"rate_limit", "PERSONALOS_RATE_LIMIT", OPT_BOOL, 0, 1,
	 "request rate limits and login lockout: on|off (default on; benchmarks turn it off)"},
	{"rate_limit_ip_rate", "PERSONALOS_RATE_LIMIT_IP_RATE", OPT_UINT, 1, 10000000,
	 "requests per second per client address (default 200)"},
	{"rate_limit_ip_burst", "PERSONALOS_RATE_LIMIT_IP_BURST", OPT_UINT, 1, 10000000,
	 "burst per client address (default 1000)"},
	{"rate_limit_user_rate", "PERSONALOS_RATE_LIMIT_USER_RATE", OPT_UINT, 1, 10000000,
	 "requests per second per user (default 100)"},
	{"rate_limit_user_burst", "PERSONALOS_RATE_LIMIT_USER_BURST", OPT_UINT, 1, 10000000,
	 "burst per user (default 500)"},
	{"rate_limit_auth_per_min", "PERSONALOS_RATE_LIMIT_AUTH_PER_MIN", OPT_UINT, 1, 10000000,
	 "register/login/refresh calls per minute per client address (default 60)"},
	{"rate_limit_auth_burst", "PERSONALOS_RATE_LIMIT_AUTH_BURST", OPT_UINT, 1, 10000000,
	 "burst of auth calls per client address (default 30)"},
	{"login_max_failures", "PERSONALOS_LOGIN_MAX_FAILURES", OPT_UINT, 0, 1000000,
	 "failed logins of one account before it is locked out, 0 = never (default 5)"},
	{"login_max_failures_ip", "PERSONALOS_LOGIN_MAX_FAILURES_IP", OPT_UINT, 0, 1000000,
	 "failed logins from one address before it is locked out, 0 = never (default 20)"},
	{"login_lockout", "PERSONALOS_LOGIN_LOCKOUT", OPT_UINT, 1, 86400,
	 "first lockout in seconds; each further failure doubles it (default 30)"},
	{"login_lockout_max", "PERSONALOS_LOGIN_LOCKOUT_MAX", OPT_UINT, 1, 604800,
	 "longest lockout in seconds (default 900)"},
	{"rate_limit_slots", "PERSONALOS_RATE_LIMIT_SLOTS", OPT_UINT, 64, 16777216,
	 "entries of the in-process rate-limit table (default 65536)"},
	{"trust_forwarded_for", "PERSONALOS_TRUST_FORWARDED_FOR", OPT_BOOL, 0, 1,
	 "take the client address from X-Forwarded-For (only behind a proxy that sets it): on|off (default off)"},
	{"cors_origins", "PERSONALOS_CORS_ORIGINS", OPT_STRING, 0, 0,
	 "comma-separated origins allowed to call the API from a browser, * for any (default none)"},
	{"tls_cert", "PERSONALOS_TLS_CERT", OPT_STRING, 0, 0,
	 "PEM certificate (chain) file: serve HTTPS (needs tls_key; default plain HTTP)"},
	{"tls_key", "PERSONALOS_TLS_KEY", OPT_STRING, 0, 0,
	 "PEM private key file for tls_cert"},
};

void pos_config_defaults(struct pos_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->listen_host, sizeof(c->listen_host), "127.0.0.1");
	c->listen_port = 8420;
	snprintf(c->data_dir, sizeof(c->data_dir), "./data");
	c->threads = 0;
	c->access_token_ttl_s = 900;
	c->refresh_token_ttl_s = 30LL * 86400;
	c->pwhash_opslimit = 4;
	c->pwhash_memlimit_kib = 65536;
	c->log_requests = true;
	c->shutdown_grace_s = 10;
	c->embed_dim = 256;
	c->llm_timeout_s = 120;
	c->llm_connect_timeout_s = 5;
	c->llm_idle_timeout_s = 30;
	c->chat_context_tokens = 2000;
	c->chat_memories = 8;
	c->chat_history = 10;
	c->search_candidates = 200;
	c->search_cache_entries = 1024;
	c->search_loaded_users = 64;
	c->search_weight_keyword = 1.0;
	c->search_weight_semantic = 0.15;
	c->search_rrf_k = 60;
	c->search_boost_recency = 0.05;
	c->search_recency_half_life_days = 90;
	c->search_boost_importance = 0.05;
	c->search_boost_layer = 0.05;
	c->search_boost_access = 0.02;
	c->search_min_similarity = 0.1;
	snprintf(c->web_root, sizeof(c->web_root), "./web/dist");
	c->rate_limit = true;
	c->rl_ip_rate = 200;
	c->rl_ip_burst = 1000;
	c->rl_user_rate = 100;
	c->rl_user_burst = 500;
	c->rl_auth_per_min = 60;
	c->rl_auth_burst = 30;
	c->login_fail_account = 5;
	c->login_fail_ip = 20;
	c->login_lockout_base_s = 30;
	c->login_lockout_max_s = 900;
	c->rl_slots = 65536;
	c->trust_forwarded_for = false;
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

#define STRING_FIELD(name, field) \
	if (!strcmp(key, name)) {     \
		*cap = sizeof(c->field); \
		return c->field;         \
	}

/* The buffer behind a string option, and its size. */
static char *string_field(struct pos_config *c, const char *key, size_t *cap)
{
	STRING_FIELD("embed_url", embed_url)
	STRING_FIELD("embed_model", embed_model)
	STRING_FIELD("embed_api_key", embed_api_key)
	STRING_FIELD("llm_url", llm_url)
	STRING_FIELD("llm_model", llm_model)
	STRING_FIELD("llm_api_key", llm_api_key)
	STRING_FIELD("local_providers", local_providers)
	STRING_FIELD("memu_api_key", memu_api_key)
	STRING_FIELD("memu_base_url", memu_base_url)
	STRING_FIELD("memu_agent_id", memu_agent_id)
	STRING_FIELD("memu_agent_name", memu_agent_name)
	STRING_FIELD("cors_origins", cors_origins)
	STRING_FIELD("tls_cert", tls_cert)
	STRING_FIELD("tls_key", tls_key)
	return NULL;
}

static const struct opt *find(const char *key)
{
	for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++)
		if (strcmp(options[i].name, key) == 0)
			return &options[i];
	return NULL;
}

enum pos_err pos_config_set(struct pos_config *c, const char *key,
			    const char *value, const char *origin,
			    struct pos_error *err)
{
	const struct opt *o = find(key);
	long long v;
	if (!o)
		return pos_error_set(err, POS_ERR_USAGE, key,
				     "%s: unknown option '%s'", origin, key);
	switch (o->kind) {
	case OPT_LISTEN:
		if (!pos_parse_listen(value, c->listen_host,
				      sizeof(c->listen_host), &c->listen_port))
			goto bad;
		return POS_OK;
	case OPT_PATH: {
		char *dst = !strcmp(key, "web_root") ? c->web_root
			  : !strcmp(key, "sync_file_root") ? c->sync_file_root : c->data_dir;
		if (!*value || strlen(value) >= PATH_MAX)
			goto bad;
		snprintf(dst, PATH_MAX, "%s", value);
		return POS_OK;
	}
	case OPT_DOUBLE: {
		char *end;
		errno = 0;
		double d = strtod(value, &end);
		if (!*value || *end || errno || !(d >= (double)o->min && d <= (double)o->max))
			return pos_error_set(err, POS_ERR_USAGE, key,
					     "%s: %s must be a number in %lld..%lld", origin,
					     key, o->min, o->max);
		double *dst = !strcmp(key, "search_weight_keyword") ? &c->search_weight_keyword
			: !strcmp(key, "search_weight_semantic") ? &c->search_weight_semantic
			: !strcmp(key, "search_rrf_k") ? &c->search_rrf_k
			: !strcmp(key, "search_boost_recency") ? &c->search_boost_recency
			: !strcmp(key, "search_recency_half_life_days") ? &c->search_recency_half_life_days
			: !strcmp(key, "search_boost_importance") ? &c->search_boost_importance
			: !strcmp(key, "search_boost_layer") ? &c->search_boost_layer
			: !strcmp(key, "search_min_similarity") ? &c->search_min_similarity
			: &c->search_boost_access;
		*dst = d;
		return POS_OK;
	}
	case OPT_STRING: {
		size_t cap;
		char *dst = string_field(c, key, &cap);
		if (!dst || strlen(value) >= cap)
			goto bad;
		snprintf(dst, cap, "%s", value);
		return POS_OK;
	}
	case OPT_BOOL:
		if (!strcmp(value, "on") || !strcmp(value, "true") || !strcmp(value, "1"))
			v = 1;
		else if (!strcmp(value, "off") || !strcmp(value, "false") || !strcmp(value, "0"))
			v = 0;
		else
			goto bad;
		break;
	default:
		if (!pos_parse_int(value, o->min, o->max, &v))
			goto bad;
	}
	if (!strcmp(key, "threads"))
		c->threads = (unsigned)v;
	else if (!strcmp(key, "access_token_ttl"))
		c->access_token_ttl_s = v;
	else if (!strcmp(key, "refresh_token_ttl"))
		c->refresh_token_ttl_s = v;
	else if (!strcmp(key, "password_hash_opslimit"))
		c->pwhash_opslimit = (unsigned long long)v;
	else if (!strcmp(key, "password_hash_memlimit_kib"))
		c->pwhash_memlimit_kib = (unsigned long long)v;
	else if (!strcmp(key, "log_requests"))
		c->log_requests = v != 0;
	else if (!strcmp(key, "shutdown_grace"))
		c->shutdown_grace_s = (unsigned)v;
	else if (!strcmp(key, "embed_dim"))
		c->embed_dim = (unsigned)v;
	else if (!strcmp(key, "embed_remote_dim"))
		c->embed_remote_dim = (unsigned)v;
	else if (!strcmp(key, "llm_timeout"))
		c->llm_timeout_s = (unsigned)v;
	else if (!strcmp(key, "llm_connect_timeout"))
		c->llm_connect_timeout_s = (unsigned)v;
	else if (!strcmp(key, "llm_idle_timeout"))
		c->llm_idle_timeout_s = (unsigned)v;
	else if (!strcmp(key, "chat_context_tokens"))
		c->chat_context_tokens = (unsigned)v;
	else if (!strcmp(key, "chat_memories"))
		c->chat_memories = (unsigned)v;
	else if (!strcmp(key, "chat_history"))
		c->chat_history = (unsigned)v;
	else if (!strcmp(key, "search_candidates"))
		c->search_candidates = (unsigned)v;
	else if (!strcmp(key, "search_cache_entries"))
		c->search_cache_entries = (unsigned)v;
	else if (!strcmp(key, "search_loaded_users"))
		c->search_loaded_users = (unsigned)v;
	/* security (docs/SECURITY.md) */
	else if (!strcmp(key, "rate_limit"))
		c->rate_limit = v != 0;
	else if (!strcmp(key, "rate_limit_ip_rate"))
		c->rl_ip_rate = (unsigned)v;
	else if (!strcmp(key, "rate_limit_ip_burst"))
		c->rl_ip_burst = (unsigned)v;
	else if (!strcmp(key, "rate_limit_user_rate"))
		c->rl_user_rate = (unsigned)v;
	else if (!strcmp(key, "rate_limit_user_burst"))
		c->rl_user_burst = (unsigned)v;
	else if (!strcmp(key, "rate_limit_auth_per_min"))
		c->rl_auth_per_min = (unsigned)v;
	else if (!strcmp(key, "rate_limit_auth_burst"))
		c->rl_auth_burst = (unsigned)v;
	else if (!strcmp(key, "login_max_failures"))
		c->login_fail_account = (unsigned)v;
	else if (!strcmp(key, "login_max_failures_ip"))
		c->login_fail_ip = (unsigned)v;
	else if (!strcmp(key, "login_lockout"))
		c->login_lockout_base_s = (unsigned)v;
	else if (!strcmp(key, "login_lockout_max"))
		c->login_lockout_max_s = (unsigned)v;
	else if (!strcmp(key, "rate_limit_slots"))
		c->rl_slots = (unsigned)v;
	else if (!strcmp(key, "trust_forwarded_for"))
		c->trust_forwarded_for = v != 0;
	return POS_OK;
bad:
	if (o->kind == OPT_UINT || o->kind == OPT_I64 || o->kind == OPT_ULL)
		return pos_error_set(err, POS_ERR_USAGE, key,
				     "%s: %s must be an integer in %lld..%lld",
				     origin, key, o->min, o->max);
	return pos_error_set(err, POS_ERR_USAGE, key, "%s: bad value for %s",
			     origin, key);
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
	/* MemU's own name for its key, used when MEMU_API_KEY is not set. */
	const char *memu = getenv("MEMUU_API_KEY");
	if (memu && !getenv("MEMU_API_KEY")) {
		enum pos_err rc = pos_config_set(c, "memu_api_key", memu, "MEMUU_API_KEY", err);
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
		const char *v = getenv(options[i].env);
		if (v) {
			enum pos_err rc = pos_config_set(c, options[i].name, v,
							 options[i].env, err);
			if (rc)
				return rc;
		}
	}
	return POS_OK;
}

void pos_config_print_help(FILE *out)
{
	fprintf(out, "Configuration (config file key, environment variable):\n");
	for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++)
		fprintf(out, "  %-28s %-32s %s\n", options[i].name,
			options[i].env, options[i].help);
}
