/*
 * config.h — server configuration: defaults, then a config file, then
 * environment variables, then command-line flags (later wins).
 *
 * The config file (given by --config or PERSONALOS_CONFIG) is lines of
 * `key = value`; `#` starts a comment. Keys are the `name`s of the option
 * table in config.c, listed by `personalos serve --help` and the README.
 * The struct is filled once at start-up and read-only afterwards.
 *
 * One table drives everything: each row of `options` in config.c names a
 * key, its environment variable (and an optional second one), an optional
 * command-line flag, its kind and range, the struct field it fills (by
 * offsetof), its default as text, and its help line. Adding a key is a
 * one-row change: add the field below, one row in config.c (a row whose
 * kind does not match the field's type does not compile), and its README
 * row; tests/unit/test_config.c then checks it round-trips.
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
	unsigned memu_search_deadline_ms; /* a search waits at most this for MemU */
	double search_weight_memu;     /* MemU's list in the fusion */
	unsigned search_candidates;
	unsigned search_cache_entries;
	unsigned search_loaded_users;
	unsigned vector_cache_mb;       /* resident vectors, all users (docs/SEARCH.md) */
	unsigned search_vector_wait_ms; /* wait for a user's vectors to load */
	bool search_vector_exact;       /* scan every int8 row, no two-stage scan */
	double search_weight_keyword, search_weight_semantic, search_rrf_k;
	double search_boost_recency, search_recency_half_life_days;
	double search_boost_importance, search_boost_layer, search_boost_access;
	double search_min_similarity; /* relevance cutoff, docs/SEARCH.md */
	/* time phrases in queries (docs/SEARCH.md, "Time phrases") */
	double search_boost_date, search_boost_when;
	/* query expansion with WordNet (docs/SEARCH.md, "Query expansion") */
	double search_expand_weight;    /* 0: off */
	int64_t search_expand_max_df;   /* expand words in ≤ this many memories; -1: all */
	double search_boost_thread;     /* thread credit (docs/SEARCH.md); 0: off */
	char wordnet_dir[PATH_MAX];     /* WordNet 3.0's files; "" = no expansion */
	/* web app (see docs/WEB.md) */
	char web_root[PATH_MAX];       /* the Vite build served at /; "" = none */
	char sync_file_root[PATH_MAX]; /* sync: users' file sources below <it>/<user id>/;
					 * "" = file sources by path refused */
	/* live events (docs/EVENTS.md) */
	unsigned events_queue_max;     /* events: queued per connected client */
	unsigned events_replay;        /* events: kept per user for Last-Event-ID */
	unsigned events_per_user;      /* events: connected clients per user */
	unsigned events_max;           /* events: connected clients in total */
	unsigned events_heartbeat_s;   /* events: seconds between keep-alives */
	unsigned jobs_workers;         /* jobs service: attempts at once */
	unsigned jobs_queue_max;       /* jobs service: queued jobs per user */
	unsigned jobs_keep_done_s;     /* jobs service: finished jobs kept this long */
	bool encryption_share_unlock;  /* several instances: unlocks travel sealed (docs/SCALING.md) */
	bool auto_link;                /* a memory.autolink job per created/re-written memory */
	unsigned job_lease_s;          /* jobs service: lease of a running job (issue 18) */
	unsigned sync_workers;         /* not used: sync runs are jobs (kept for old configs) */
	unsigned sync_run_timeout_s;   /* deadline of one sync run */
	unsigned long long sync_upload_max; /* bytes of one /api/sync/uploads body */
	unsigned export_expiry_s;      /* export: a finished export's file lives this long */
	unsigned long long import_upload_max; /* export: bytes of one /api/import body (spooled) */
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
	char cache_url[1024];          /* redis://… shared cache, "" = in-process only; secret */
	unsigned cache_timeout_ms;     /* connect and command timeout */
	char cors_origins[2048];       /* comma-separated allow-list, "" = none */
	char tls_cert[PATH_MAX];       /* PEM certificate chain, "" = plain HTTP */
	char tls_key[PATH_MAX];        /* PEM private key */
	/* ---- outbound connections (net): the egress allowlist ---- */
	char egress_allow[4096];       /* net/egress.h syntax, "" = public only */
	/* ---- limits before authentication, keys, /metrics ---- */
	unsigned max_public_body;      /* body cap of routes without a token */
	unsigned max_connections;      /* open connections in total */
	unsigned max_connections_per_ip; /* per socket peer, 0 = no cap */
	unsigned connection_timeout_s; /* idle seconds before a close */
	unsigned max_body_memory_mib;  /* request bodies held at once, all connections */
	/* ---- admission control (http/admission.h, issue 19) ---- */
	bool admission;                /* bound the handlers in flight and their queue */
	unsigned max_inflight;         /* handlers at once; 0 = threads - 1, at least 1 */
	unsigned max_queue;            /* requests waiting for a handler slot */
	unsigned queue_wait_ms;        /* longest wait in that queue before a 503 */
	char metrics_token[256];       /* "" = /metrics for loopback peers only; secret */
	char master_key_file[PATH_MAX]; /* "" = plain key file DATA/keys */
	/* ---- accounts (docs/SECURITY.md) ---- */
	char registration[8];          /* open|invite|closed; "" = open until an account exists, then invite */
	int64_t quota_memories, quota_bytes, quota_sources, quota_tokens; /* per user, 0 = unlimited */
	unsigned argon2_concurrency;   /* password hashes at once, 0 = cores */
	unsigned argon2_queue;         /* waiting for a hash before 503 busy */
	/* ---- plugins (docs/PLUGINS.md) ---- */
	char plugins_dir[PATH_MAX];    /* the catalog; "" = no plugins */
	unsigned plugin_max_failures;  /* failures in a row before auto-disable */
	unsigned plugin_pool_max;      /* idle plugin sandboxes kept for reuse; 0 = none */
	unsigned plugin_pool_mem_mb;   /* their memory in all */
	unsigned plugin_query_budget_ms; /* on_query budget per plugin */
	char plugin_catalogs[4096];    /* remote catalogs' index.json URLs (pcat) */
	char plugin_trusted_keys[1024]; /* ed25519 keys packages are signed with */
	unsigned plugin_catalog_refresh_s; /* remote catalogs refreshed this often; 0 = never */
	/* ---- files (issue 21; src/files) ---- */
	unsigned long long file_max;   /* bytes of one uploaded file */
	unsigned extract_timeout_s;    /* wall-clock limit of one text extraction */
	unsigned extract_pages;        /* pages (PDF) read at most per file */
	unsigned long long extract_pixels; /* pixels of an image OCR'd at most */
	unsigned extract_memory_mib;   /* address-space limit of the extractor */
	/* ---- PostgreSQL store (issue 18; docs/DEPLOY.md) ---- */
	char store[1024];              /* "" or "sqlite:" = DATA/personalos.db; postgres://... */
	unsigned store_pool;           /* PostgreSQL connections per instance */
};

/* What a key holds; the field's C type must match (checked at compile time). */
enum pos_config_kind {
	POS_CFG_LISTEN,  /* HOST:PORT or [v6]:PORT into char[] + listen_port */
	POS_CFG_PATH,    /* char[], never empty */
	POS_CFG_STRING,  /* char[], may be empty */
	POS_CFG_UINT,    /* unsigned, integer in [min, max] */
	POS_CFG_I64,     /* int64_t, integer in [min, max] */
	POS_CFG_ULL,     /* unsigned long long, integer in [min, max] */
	POS_CFG_BOOL,    /* bool: on|off|true|false|1|0 */
	POS_CFG_DOUBLE,  /* double, number in [min, max] */
};

/* One row of the option table. All strings are static. */
struct pos_config_option {
	const char *name;   /* config file key */
	const char *env;    /* environment variable */
	const char *env2;   /* read when `env` is unset, or NULL */
	const char *flag;   /* command-line flag ("--data"), or NULL */
	enum pos_config_kind kind;
	long long min, max; /* range of numeric kinds */
	size_t offset;      /* offsetof(struct pos_config, field) */
	size_t size;        /* sizeof the field (a string's capacity) */
	const char *def;    /* default as config-file text; NULL = zero/empty */
	const char *help;
	const char *choices; /* STRING: "a|b|c", the values allowed besides
			      * empty; NULL = any text */
};

/* The option table and its length `*n`. Read-only, valid forever. */
const struct pos_config_option *pos_config_options(size_t *n);

/* The row for `key`, or NULL if there is none. */
const struct pos_config_option *pos_config_find(const char *key);

/* Fills `c` with the built-in defaults. */
void pos_config_defaults(struct pos_config *c);

/*
 * Applies one `key`/`value` pair. `origin` names where it came from, for the
 * message in `err` (POS_ERR_USAGE with the key named) on a bad key or value.
 */
enum pos_err pos_config_set(struct pos_config *c, const char *key,
			    const char *value, const char *origin,
			    struct pos_error *err);

/*
 * Writes the value of `key` as the text that pos_config_set would read back
 * to the same value, into `out` (NUL-terminated). POS_ERR_USAGE for an
 * unknown key or when the text does not fit `cap` bytes.
 */
enum pos_err pos_config_get(const struct pos_config *c, const char *key,
			    char *out, size_t cap, struct pos_error *err);

/* Reads a config file. POS_ERR_IO if unreadable, POS_ERR_USAGE on a bad line. */
enum pos_err pos_config_load_file(struct pos_config *c, const char *path,
				  struct pos_error *err);

/* Applies the PERSONALOS_* environment variables that are set. */
enum pos_err pos_config_load_env(struct pos_config *c, struct pos_error *err);

/*
 * Applies the options' command-line flags (`--data DIR` or `--data=DIR`)
 * found in argv[1..*argc-1] and removes them, keeping the other arguments
 * in order (argv[*argc] becomes NULL). POS_ERR_USAGE on a flag without a
 * value or a bad value.
 */
enum pos_err pos_config_load_flags(struct pos_config *c, int *argc, char **argv,
				   struct pos_error *err);

/* Prints the option table (key, env var, default, meaning) to `out`. */
void pos_config_print_help(FILE *out);

/* Parses "HOST:PORT" (or "[v6]:PORT"). False on anything else. */
bool pos_parse_listen(const char *s, char *host, size_t host_cap,
		      unsigned *port);

/* Parses a decimal integer in [min, max] with no trailing junk. */
bool pos_parse_int(const char *s, long long min, long long max, long long *out);

#endif
