/*
 * config.h — server configuration: defaults, then a config file, then
 * environment variables, then command-line flags (later wins).
 *
 * The config file (given by --config or PERSONALOS_CONFIG) is lines of
 * `key = value`; `#` starts a comment. Keys are the `name`s of the option
 * table in config.c, listed by `personalos serve --help` and the README.
 * The struct is filled once at start-up and read-only afterwards.
 */
#ifndef POS_BASE_CONFIG_H
#define POS_BASE_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "base/err.h"

struct pos_config {
	char listen_host[256];
	unsigned listen_port;
	char data_dir[PATH_MAX];
	unsigned threads;              /* HTTP worker threads; 0 = one per core */
	int64_t access_token_ttl_s;
	int64_t refresh_token_ttl_s;
	unsigned long long pwhash_opslimit;
	unsigned long long pwhash_memlimit_kib;
	bool log_requests;
	unsigned shutdown_grace_s;     /* wait for in-flight requests on stop */
	/* search (see docs/SEARCH.md) */
	unsigned embed_dim;
	char embed_url[512];           /* OpenAI-compatible provider, "" = built-in */
	char embed_model[128];
	char embed_api_key[512];       /* secret: never logged or echoed */
	unsigned embed_remote_dim;
	/* the assistant (see docs/ASSISTANT.md) */
	char llm_url[512];             /* OpenAI-compatible chat, "" = built-in */
	char llm_model[128];
	char llm_api_key[512];         /* secret: never logged or echoed */
	unsigned llm_timeout_s, llm_connect_timeout_s, llm_idle_timeout_s;
	char local_providers[1024];    /* hosts that count as local (privacy tiers) */
	unsigned chat_context_tokens;  /* memories' share of the prompt */
	unsigned chat_memories;        /* retrieved per message */
	unsigned chat_history;         /* earlier messages sent along */
	char memu_api_key[512];        /* "" = MemU off; secret */
	char memu_base_url[512];
	char memu_agent_id[128];
	char memu_agent_name[128];
	unsigned search_candidates;
	unsigned search_cache_entries;
	unsigned search_loaded_users;
	double search_weight_keyword, search_weight_semantic, search_rrf_k;
	double search_boost_recency, search_recency_half_life_days;
	double search_boost_importance, search_boost_layer, search_boost_access;
	double search_min_similarity; /* relevance cutoff, docs/SEARCH.md */
	/* web app (see docs/WEB.md) */
	char web_root[PATH_MAX];       /* the Vite build served at /; "" = none */
	char sync_file_root[PATH_MAX]; /* sync: file sources only below it; "" = anywhere */
	/* ---- security (docs/SECURITY.md): rate limits, CORS, TLS ---- */
	bool rate_limit;               /* off: no request limits, no lockout (benchmarks) */
	unsigned rl_ip_rate, rl_ip_burst;      /* requests/s and bucket per client address */
	unsigned rl_user_rate, rl_user_burst;  /* requests/s and bucket per user */
	unsigned rl_auth_per_min, rl_auth_burst; /* register/login/refresh per address */
	unsigned login_fail_account;   /* failed logins before an account lockout */
	unsigned login_fail_ip;        /* failed logins before an address lockout */
	unsigned login_lockout_base_s, login_lockout_max_s;
	unsigned rl_slots;             /* in-process counter table entries */
	bool trust_forwarded_for;      /* client address from X-Forwarded-For */
	char cors_origins[2048];       /* comma-separated allow-list, "" = none */
	char tls_cert[PATH_MAX];       /* PEM certificate chain, "" = plain HTTP */
	char tls_key[PATH_MAX];        /* PEM private key */
};

/* Fills `c` with the built-in defaults. */
void pos_config_defaults(struct pos_config *c);

/*
 * Applies one `key`/`value` pair. `origin` names where it came from, for the
 * message in `err` (POS_ERR_USAGE with the key named) on a bad key or value.
 */
enum pos_err pos_config_set(struct pos_config *c, const char *key,
			    const char *value, const char *origin,
			    struct pos_error *err);

/* Reads a config file. POS_ERR_IO if unreadable, POS_ERR_USAGE on a bad line. */
enum pos_err pos_config_load_file(struct pos_config *c, const char *path,
				  struct pos_error *err);

/* Applies the PERSONALOS_* environment variables that are set. */
enum pos_err pos_config_load_env(struct pos_config *c, struct pos_error *err);

/* Prints the option table (key, env var, default, meaning) to `out`. */
void pos_config_print_help(FILE *out);

/* Parses "HOST:PORT" (or "[v6]:PORT"). False on anything else. */
bool pos_parse_listen(const char *s, char *host, size_t host_cap,
		      unsigned *port);

/* Parses a decimal integer in [min, max] with no trailing junk. */
bool pos_parse_int(const char *s, long long min, long long max, long long *out);

#endif
