/*
 * store.h — the storage interface: records and a vtable of operations.
 *
 * Services talk to a `struct pos_store` only through `s->ops`, so a
 * PostgreSQL backend can be added beside sqlite.c without touching them. Every operation that reads or writes user
 * data takes the user id and scopes its queries by it: a record of another
 * user is POS_ERR_NOT_FOUND, exactly like a missing one.
 *
 * Ownership: records returned by the store are allocated in the caller's
 * arena (`struct pos_arena *`) and live as long as it does. Records passed in
 * are borrowed for the call.
 *
 * Errors: POS_ERR_NOT_FOUND, POS_ERR_EMAIL_TAKEN, POS_ERR_BAD_TOKEN,
 * POS_ERR_INVALID_FIELD (a referenced memory is not the user's; `err->index`
 * names the item, `err->field` the field), POS_ERR_STORE for a database
 * failure (logged without user data), POS_ERR_NOMEM.
 *
 * Thread-safety: every operation may be called from any thread at once; a
 * backend keeps a connection per thread and serializes writes itself.
 */
#ifndef POS_STORE_STORE_H
#define POS_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/err.h"
#include "base/uuid.h"

enum pos_mem_type {
	POS_TYPE_CONVERSATION,
	POS_TYPE_ACTION,
	POS_TYPE_NOTE,
	POS_TYPE_FILE,
	POS_TYPE_EVENT,
	POS_TYPE_EMAIL,
	POS_TYPE__COUNT
};

enum pos_mem_layer {
	POS_LAYER_ACTIVE,
	POS_LAYER_WORKING,
	POS_LAYER_REFERENCE,
	POS_LAYER_ARCHIVE,
	POS_LAYER__COUNT
};

/* Names as in the API ("note", "archive"); -1 from the parsers if unknown. */
const char *pos_mem_type_name(enum pos_mem_type t);
const char *pos_mem_layer_name(enum pos_mem_layer l);
int pos_mem_type_parse(const char *s);
/*
 * Merges `add` (n tags) after the tags of `tags_json` (a JSON array of
 * strings), skipping duplicates: out->tags/n_tags/tags_json (arena) get
 * the result and *added the number of new tags. POS_ERR_INVALID_FIELD past
 * `max` tags, POS_ERR_CORRUPT when tags_json is not an array. For the
 * backends' memory_tag_add.
 */
struct pos_arena;
struct pos_memory;
enum pos_err pos_mem_tags_merge(struct pos_arena *a, const char *tags_json,
				const char *const *add, size_t n, size_t max,
				struct pos_memory *out, size_t *added);
int pos_mem_layer_parse(const char *s);

/*
 * Friendly names for groups of sources, for filters (docs/SEARCH-QUERY.md):
 * "calendar" is ics_file, ics_url and caldav; "email" and "mail" are imap,
 * mbox and maildir; "notes" is markdown_dir — each also the source of that
 * very name, so a client that wrote source "calendar" still finds it. Returns
 * the members as a JSON array of strings (static storage), or NULL when
 * `name` (compared ignoring ASCII case) is no alias.
 */
const char *pos_source_alias_json(const char *name);
/* The aliases themselves, NULL-terminated, for the list endpoint. */
extern const char *const pos_source_aliases[];

struct pos_user {
	char id[POS_UUID_SIZE];
	const char *email;          /* lower-case */
	const char *password_hash;  /* Argon2id encoded string */
	const char *full_name;      /* NULL when unset */
	const char *avatar_url;     /* NULL when unset */
	const char *privacy_tier;   /* cloud | hybrid | local */
	const char *plan;           /* free | premium */
	const char *persona_json;   /* JSON object text */
	const char *settings_json;  /* JSON object text */
	int64_t memory_count;
	int64_t created_at;
	int64_t last_login_at;      /* POS_TIME_NONE when never */
	/* accounts (migration 12) */
	const char *role;           /* "admin" | "user"; on register NULL = admin
				     * if this is the first account, else user */
	int64_t disabled_at;        /* POS_TIME_NONE when enabled */
	int64_t quota[4];           /* by enum pos_quota; -1 = the server default */
	int64_t bytes_used;         /* content + metadata bytes of its memories */
};

/* The per-user quotas (docs/SECURITY.md). */
enum pos_quota { POS_QUOTA_MEMORIES, POS_QUOTA_BYTES, POS_QUOTA_SOURCES, POS_QUOTA_TOKENS };
#define POS_QUOTA__COUNT 4

/* What a user holds, counted against the quotas. */
struct pos_usage {
	int64_t n[POS_QUOTA__COUNT];  /* memories, bytes, live sources, live API tokens */
};

/* An admin change to a user: only fields whose bit is in `set`. */
enum { POS_UADM_ROLE = 1, POS_UADM_DISABLED = 2, POS_UADM_QUOTA = 4 };
struct pos_user_admin_patch {
	unsigned set;
	const char *role;           /* admin | user */
	bool disabled;
	bool quota_set[POS_QUOTA__COUNT];
	int64_t quota[POS_QUOTA__COUNT]; /* -1: back to the server default */
};

/* An invite code (the code itself is stored only as a hash). */
struct pos_invite {
	char id[POS_UUID_SIZE];
	const char *email;          /* NULL: any email may use it */
	char created_by[POS_UUID_SIZE];
	int64_t created_at, expires_at;
	int64_t used_at;            /* POS_TIME_NONE when unused */
	const char *used_by;        /* user id, NULL when unused */
};

/* An embedding as stored: int8 components and the scale that maps them
 * back (component ≈ q * scale). */
struct pos_vec {
	const char *model;          /* e.g. "builtin-hash-v1-256" */
	unsigned dim;
	float scale;
	const int8_t *q;            /* dim bytes */
	/* Encryption at rest: when set, the store writes these bytes (scale
	 * and q sealed, docs/ENCRYPTION.md) instead of q, and scale 0. */
	const uint8_t *sealed;
	size_t sealed_len;
};

struct pos_memory {
	int64_t seq;                /* store-internal row number, set by insert and reads */
	char id[POS_UUID_SIZE];
	char user_id[POS_UUID_SIZE];
	const char *content;
	size_t content_len;
	enum pos_mem_type type;
	enum pos_mem_layer layer;
	const char *source;
	int64_t created_at, updated_at;
	int64_t last_accessed_at;   /* POS_TIME_NONE when never */
	char parent_id[POS_UUID_SIZE]; /* "" when none */
	const char *tags_json;      /* JSON array of strings */
	const char **tags;          /* the same tags, for indexing */
	size_t n_tags;
	double importance;
	int64_t access_count;
	bool is_encrypted;
	const char *shared_with_json; /* JSON array of emails */
	const char *metadata_json;  /* JSON object */
	const char *attachments_json; /* JSON array */
	const char *external_id;    /* NULL unless synced */
	const char *thread;         /* thread key from metadata, NULL if none */
	const char *context;        /* text of the thread's previous memories, NULL if none */
	char (*related)[POS_UUID_SIZE]; /* related memory ids (input) */
	size_t n_related;
	const char *related_json;   /* the same as a JSON array, on reads */
	struct pos_vec vec;         /* on writes: the embedding to store (q NULL: none) */
	/* Encryption at rest: content, tags, metadata and attachments sealed
	 * under the user's key (NULL for a plain memory). When set, `content`,
	 * `tags`, `thread` and `context` hold keyed-hash search tokens. */
	const uint8_t *sealed;
	size_t sealed_len;
	/* sync (src/sync): the source that made the memory and the item's
	 * version at its last upsert; NULL for memories not synced */
	const char *source_id;
	const char *sync_version;
	/* lifecycle (docs/LIFECYCLE.md): the layer is the user's choice and
	 * the lifecycle job leaves it; the importance is the user's and the
	 * job does not recompute it; metadata.pinned is true (read only). */
	bool layer_locked;
	bool importance_set;
	bool pinned;
};

/* A search candidate: memory seq and the engine's raw score. */
struct pos_hit {
	int64_t seq;
	double score;
};

/* A personal API token (the secret itself is never stored). */
struct pos_api_token {
	char id[POS_UUID_SIZE];
	char user_id[POS_UUID_SIZE];
	const char *name;
	bool read_only;             /* scope "read"; else "write" */
	int64_t created_at;
	int64_t last_used_at;       /* POS_TIME_NONE when never */
};

/* Bits of struct pos_memory_patch.set: which fields a partial update sets. */
enum {
	POS_PATCH_CONTENT = 1 << 0,
	POS_PATCH_TYPE = 1 << 1,
	POS_PATCH_LAYER = 1 << 2,
	POS_PATCH_SOURCE = 1 << 3,
	POS_PATCH_TAGS = 1 << 4,
	POS_PATCH_METADATA = 1 << 5,
	POS_PATCH_ATTACHMENTS = 1 << 6,
	POS_PATCH_IMPORTANCE = 1 << 7,
	POS_PATCH_PARENT = 1 << 8,
	POS_PATCH_RELATED = 1 << 9,
	POS_PATCH_VECTOR = 1 << 10,  /* v.vec replaces the stored embedding */
	POS_PATCH_SEALED = 1 << 11,  /* v.sealed, v.is_encrypted, v.context replace theirs (encryption) */
	POS_PATCH_SYNC_VERSION = 1 << 12, /* v.sync_version (sync upserts) */
	POS_PATCH_CREATED = 1 << 13, /* v.created_at (sync upserts) */
	POS_PATCH_LAYER_LOCK = 1 << 14, /* v.layer_locked */
};

struct pos_memory_patch {
	unsigned set;               /* POS_PATCH_* bits */
	struct pos_memory v;        /* new values of the fields that are set */
};

enum pos_sort {
	POS_SORT_NEWEST,
	POS_SORT_OLDEST,
	POS_SORT_UPDATED,
	POS_SORT_IMPORTANCE,
	POS_SORT_ACCESSED,
	POS_SORT_ACCESS_COUNT,
	POS_SORT_CAPTURED,          /* insertion order, newest first */
	POS_SORT__COUNT
};

#define POS_STEM_NEAR_SCAN 20000

struct pos_memory_query {
	const char *user_id;
	int type;                   /* enum pos_mem_type, or -1 for any */
	int layer;                  /* enum pos_mem_layer, or -1 */
	const char *source;         /* NULL for any; an alias names a group */
	/* a memory must carry all of them; compared ignoring ASCII case
	 * (except for an encrypted user, whose tags are hashed) */
	const char *const *tags;
	size_t n_tags;
	const char *fts_require;    /* FTS5 expression a memory must match, or NULL */
	const char *fts_exclude;    /* FTS5 expression a memory must not match, or NULL */
	int64_t after;              /* created_at >= after, POS_TIME_NONE: no bound */
	int64_t before;             /* created_at < before */
	enum pos_sort sort;
	unsigned limit, offset;
	/* Leave out the assistant's saved exchanges (type conversation,
	 * source chat): the API's default, docs/ASSISTANT.md. */
	bool hide_chat;
	/* filter_seqs only: just those exchanges, through their own index
	 * (every other filter is ignored). */
	bool chat_only;
	/* filter_seqs only: seq > after_seq (0: no bound), for a reader that
	 * walks the user's memories in write order (the MemU upload)... */
	int64_t after_seq;
	/* ...and with seq_walk, along the store's write order itself (SQLite:
	 * a rowid range), so a page costs the rows written after after_seq,
	 * whoever's, instead of a sort of all the user's rows. */
	bool seq_walk;
};

struct pos_store_summary {
	int64_t users, memories, relationships, sessions_active;
	int64_t schema_version;
	int64_t db_bytes;
	/* SQLite: WAL checkpoints the store's own checkpointer has run since
	 * it opened (off the writers' threads; 0 for PostgreSQL) */
	int64_t wal_checkpoints;
	bool integrity_ok;
	char integrity_message[256];
};

/* Aggregates for GET /api/memories/stats; JSON fields are ready to embed. */
struct pos_memory_stats {
	int64_t total;
	double importance_avg;
	int64_t accesses;             /* stored access counts (flushed) */
	int64_t oldest, newest;       /* POS_TIME_NONE when empty */
	const char *by_type_json;     /* {"note": 3, ...} */
	const char *by_layer_json;
	const char *by_source_json;
	const char *per_day_json;     /* [{"date":"2026-11-24","count":3}, ...] newest first */
	const char *top_tags_json;    /* [{"tag":"work","count":5}, ...] */
};

/* Time series and distributions for GET /api/memories/stats (`series`);
 * JSON texts ready to embed, days oldest first. */
struct pos_memory_series {
	const char *by_type_json;     /* [{"date":"2026-11-24","counts":{"note":3}}, ...] */
	const char *by_layer_json;    /* the same by (current) layer */
	const char *by_source_json;   /* the same by source */
	const char *importance_json;  /* {"0": n, ..., "9": n}: tenths of importance */
	const char *access_json;      /* {"0": n, "1": n, "2-4": n, "5-9": n, "10+": n} */
	const char *sync_json;        /* [{"date":..., "items": n}]: items synced per day */
};

struct pos_graph_node {
	char id[POS_UUID_SIZE];
	const char *label;            /* the first 120 characters of content */
	enum pos_mem_type type;
	enum pos_mem_layer layer;
};

struct pos_graph_edge {
	char source[POS_UUID_SIZE];
	char target[POS_UUID_SIZE];
	const char *type;             /* related | parent | ... */
	double strength;
};

/* One memory as the lifecycle job sees it (lifecycle_scan). */
struct pos_life_row {
	int64_t seq;
	char id[POS_UUID_SIZE];
	enum pos_mem_type type;
	enum pos_mem_layer layer;
	int64_t created_at, updated_at;
	int64_t last_accessed_at;     /* POS_TIME_NONE when never */
	int64_t layer_since;          /* when it entered its layer */
	int64_t access_count;
	double importance;
	double rating;                /* metadata.rating (1..5), -1 when none */
	bool layer_locked, importance_set, pinned;
	bool open_action;             /* an action not completed */
	bool upcoming;                /* an event whose start_time is still ahead */
	int64_t degree;               /* relationships and children */
	const char *tags_json;        /* its tags (index form) as a JSON array */
	const char *content;          /* the first 4 KiB; NULL when encrypted */
	size_t content_len;
};

/* A tag's last two touches (created, updated or accessed) at or after a
 * time: the memory of the latest and the times of both (t2 0 when only one). */
struct pos_tag_touch {
	const char *tag;
	int64_t seq1, t1, t2;
};

/* What the lifecycle job writes back for one memory. */
struct pos_life_change {
	int64_t seq;
	int layer;                    /* enum pos_mem_layer, -1: keep */
	double importance;            /* < 0: keep */
};

/* A relationship found by auto-linking (memory/autolink.h). */
struct pos_autolink {
	char target[POS_UUID_SIZE];
	const char *type;             /* "related" | "duplicate" */
	double strength;              /* 0..1: the cosine similarity */
};

/* A conversation with the assistant. */
struct pos_conversation {
	char id[POS_UUID_SIZE];
	char user_id[POS_UUID_SIZE];
	const char *title;
	int64_t created_at, updated_at;
	int64_t message_count;
};

/* One message of a conversation. */
struct pos_chat_message {
	char id[POS_UUID_SIZE];
	char conversation_id[POS_UUID_SIZE];
	const char *role;              /* "user" | "assistant" */
	const char *content;
	const char *memories_used_json; /* JSON array of memory ids */
	char memory_id[POS_UUID_SIZE]; /* the exchange's memory, "" if none */
	int64_t created_at;
};

/* A row of the jobs service's queue (jobs/jobs.h). */
struct pos_job {
	char id[POS_UUID_SIZE];
	char user_id[POS_UUID_SIZE];
	const char *kind;
	const char *payload_json;
	const char *state;             /* queued | running | done | failed | cancelled */
	int64_t attempts;
	const char *last_error;        /* NULL if none */
	const char *result_json;       /* NULL until set */
	const char *item_errors_json;  /* JSON array, NULL if none */
	uint64_t done, total;          /* progress units; total 0: unknown */
	int64_t next_run_at, created_at, updated_at; /* next_run_at: run_after */
	/* migration 18: while running, the lease of the instance that claimed
	 * it (µs; 0 when none); a key at most one active job of a kind has
	 * (NULL when none) */
	int64_t lease_until;
	const char *dedupe_key;
	/* job_update only: when > 0, the attempts count this process claimed
	 * the job with; a row with another count (requeued after the lease
	 * ended and claimed again elsewhere) is not written (NOT_FOUND) */
	int64_t claim_attempts;
};

/* Encryption key material of a user as stored (docs/ENCRYPTION.md). */
struct pos_user_crypt {
	const char *state;            /* "off" | "encrypting" | "on" */
	const uint8_t *salt;          /* Argon2id salt */
	size_t salt_len;
	const char *kdf;              /* "argon2id13:<opslimit>:<memlimit KiB>" */
	const uint8_t *pw_wrap;       /* DEK wrapped under the password key */
	size_t pw_wrap_len;
	const uint8_t *rk_wrap;       /* DEK wrapped under the recovery key */
	size_t rk_wrap_len;
};

/* ---- sync (src/sync) ---- */

/* A configured sync source. `secrets` is the sealed blob (never shown). */
struct pos_sync_source {
	char id[POS_UUID_SIZE];
	char user_id[POS_UUID_SIZE];
	const char *kind;
	const char *name;
	const char *config_json;    /* JSON object without secrets */
	const uint8_t *secrets;     /* NULL when none */
	size_t secrets_len;
	int64_t interval_s;         /* 0: manual only */
	const char *status;         /* idle | queued | running | ok | error */
	const char *cursor_json;    /* NULL before the first successful run */
	int64_t last_sync_at;       /* POS_TIME_NONE when never */
	int64_t next_sync_at;       /* POS_TIME_NONE when not scheduled */
	int64_t items_synced;
	const char *error_message;  /* NULL when none */
	int64_t failures;           /* consecutive failed runs (backoff) */
	int64_t created_at;
};

/* One run of a source. */
struct pos_sync_log {
	char id[POS_UUID_SIZE];
	char source_id[POS_UUID_SIZE];
	char user_id[POS_UUID_SIZE];
	int64_t started_at, duration_us;
	const char *status;         /* ok | error | cancelled */
	int64_t added, updated, unchanged, removed, skipped;
	const char *errors_json;    /* [{"position","reason"}] */
	const char *error_message;  /* NULL when none */
};

/* A memory made by a source, as the sync sink sees it. */
struct pos_sync_ref {
	char id[POS_UUID_SIZE];
	int64_t seq;
	const char *external_id;
	const char *version;        /* NULL when none */
	bool found;
};

/* ---- plugins (src/plugins, docs/PLUGINS.md) ---- */

/* A plugin a user installed. Strings live in the caller's arena. */
struct pos_plugin_row {
	const char *user_id, *plugin_id, *version;
	bool enabled;
	const char *grants_json;    /* JSON array of the permission names granted */
	const char *settings_json;  /* JSON object */
	const char *status;         /* "ok" | "error" | "disabled" (auto-disabled) */
	const char *last_error;     /* NULL when none */
	int64_t failures;           /* consecutive failed hook calls */
	int64_t installed_at, updated_at;
};

/* One line a plugin logged (pos.log), kept for its user. */
struct pos_plugin_log {
	int64_t at;
	const char *level, *message;
};

/* ---- files (src/files; issue 21) ---- */

/* A file attached to a memory; its bytes are the blob `hash` of the user. */
struct pos_attachment {
	char id[POS_UUID_SIZE];
	char user_id[POS_UUID_SIZE];
	char memory_id[POS_UUID_SIZE];
	char hash[65];              /* blob address (files/blob.h) */
	const char *name;           /* file name as uploaded (no path) */
	const char *mime;           /* sniffed type */
	int64_t bytes;
	int64_t created_at;
	const char *text_status;    /* pending | done | failed | none */
	const char *text_error;     /* NULL unless failed */
	int64_t text_pages;         /* pages (or parts) text came from */
	bool sealed;                /* the blob is sealed (files/blob.h) */
	char thumb[65];             /* the thumbnail's blob address (migration 19;
				     * sealed like the file); "" when not tried yet,
				     * POS_THUMB_NONE when it has none */
};

/* An attachment's `thumb` when it has no thumbnail: a type without one, or
 * a file that cannot be previewed (never a blob address, which is hex). */
#define POS_THUMB_NONE "-"

/* A blob no attachment refers to (garbage collection). */
struct pos_blob_ref {
	char user_id[POS_UUID_SIZE];
	char hash[65];
};

struct pos_store;

/*
 * Store operations: accounts and their credentials: users, sessions and
 * refresh tokens, personal API tokens, invites (sqlite_accounts.c,
 * sqlite.c).
 */
struct pos_store_accounts {
	enum pos_err (*user_by_email)(struct pos_store *s, struct pos_arena *a,
				      const char *email, struct pos_user *out);
	enum pos_err (*user_by_id)(struct pos_store *s, struct pos_arena *a,
				   const char *id, struct pos_user *out);
	/* Writes full_name, avatar_url, privacy_tier, persona, settings. */
	enum pos_err (*user_update_profile)(struct pos_store *s,
					    const struct pos_user *u);
	enum pos_err (*user_set_login)(struct pos_store *s, const char *id,
				       int64_t at);
	/* Every user, oldest first (CLI). *out is an arena array of *n. */
	enum pos_err (*user_list)(struct pos_store *s, struct pos_arena *a,
				  struct pos_user **out, size_t *n);

	/* Personal API tokens: create with the secret's hash; list the user's
	 * live ones (newest first); revoke (NOT_FOUND if not the user's or
	 * already revoked); look up a live one by hash (NOT_FOUND otherwise);
	 * record a use. */
	enum pos_err (*token_create)(struct pos_store *s, const struct pos_api_token *t,
				     const uint8_t *hash);
	enum pos_err (*token_list)(struct pos_store *s, struct pos_arena *a,
				   const char *user_id, struct pos_api_token **out,
				   size_t *n);
	enum pos_err (*token_revoke)(struct pos_store *s, const char *user_id,
				     const char *id, int64_t now);
	enum pos_err (*token_lookup)(struct pos_store *s, const uint8_t *hash,
				     struct pos_api_token *out);
	enum pos_err (*token_touch)(struct pos_store *s, const char *id, int64_t now);

	/* A new session with its first refresh token (hash of the secret). */
	enum pos_err (*session_create)(struct pos_store *s, const char *session_id,
				       const char *user_id, int64_t now,
				       const uint8_t *refresh_hash,
				       int64_t refresh_expires);
	/* POS_OK if the session exists, belongs to user_id and is not revoked. */
	enum pos_err (*session_check)(struct pos_store *s, const char *session_id,
				      const char *user_id);
	enum pos_err (*session_revoke)(struct pos_store *s, const char *session_id,
				       int64_t now);
	/*
	 * Exchanges refresh token `old_hash` for `new_hash`, atomically. An
	 * unknown, expired or revoked token is POS_ERR_BAD_TOKEN; an already
	 * used one is POS_ERR_BAD_TOKEN and revokes its whole session first.
	 * On success fills user_id and session_id.
	 */
	enum pos_err (*refresh_rotate)(struct pos_store *s, const uint8_t *old_hash,
				       const uint8_t *new_hash, int64_t new_expires,
				       int64_t now, char user_id[POS_UUID_SIZE],
				       char session_id[POS_UUID_SIZE]);
	/* Deletes an account and everything of it (memories, their index
	 * rows and relationships, sessions, tokens, conversations, jobs but
	 * those of `keep_job_kind`), in one transaction. */
	enum pos_err (*user_delete)(struct pos_store *s, const char *user_id,
				    const char *keep_job_kind);

	/*
	 * Creates user `u` in one transaction: u->role NULL becomes "admin"
	 * when no account exists yet, else "user" (u->role is set to the
	 * result, static storage); with `invite_hash` non-NULL the invite is
	 * used up first (POS_ERR_INVALID_INVITE when unknown, used, expired or
	 * bound to another email). Shares waiting for u->email become real
	 * when the email is vouched for (`by_operator`, or an invite bound
	 * to it), else they are dropped. POS_ERR_EMAIL_TAKEN when the email
	 * exists (nothing is used up).
	 */
	enum pos_err (*user_register)(struct pos_store *s, struct pos_user *u,
				      const uint8_t *invite_hash, bool by_operator,
				      int64_t now);
	/* Number of accounts, and of enabled admins. */
	enum pos_err (*user_counts)(struct pos_store *s, int64_t *users, int64_t *admins);
	/* Applies an admin patch; POS_ERR_LAST_ADMIN (nothing changed) when no
	 * enabled admin would be left; NOT_FOUND for an unknown id. */
	enum pos_err (*user_admin_update)(struct pos_store *s, const char *user_id,
					  const struct pos_user_admin_patch *p, int64_t now);
	/* What the user holds now. */
	enum pos_err (*user_usage)(struct pos_store *s, const char *user_id,
				   struct pos_usage *out);
	/* Revokes every live session of the user but `except_session` (NULL:
	 * none spared) — with them their refresh tokens — and, with
	 * `api_tokens`, every live API token; *n_sessions and *n_tokens are
	 * the counts revoked. */
	enum pos_err (*user_revoke_all)(struct pos_store *s, const char *user_id,
					const char *except_session, bool api_tokens,
					int64_t now, int64_t *n_sessions, int64_t *n_tokens);
	/* Invites: create with the code's hash; list (newest first); delete
	 * (NOT_FOUND when unknown). */
	enum pos_err (*invite_create)(struct pos_store *s, const struct pos_invite *inv,
				      const uint8_t *hash);
	enum pos_err (*invite_list)(struct pos_store *s, struct pos_arena *a,
				    struct pos_invite **out, size_t *n);
	enum pos_err (*invite_delete)(struct pos_store *s, const char *id);
	/* POS_OK when the invite of `hash` could be used now by `email`,
	 * else POS_ERR_INVALID_INVITE (nothing is used up). */
	enum pos_err (*invite_valid)(struct pos_store *s, const uint8_t *hash,
				     const char *email, int64_t now);
};

/*
 * Store operations: memories, their full-text index and vectors,
 * relationships and the graph (sqlite_memories.c, sqlite_search.c,
 * sqlite_graph.c).
 */
struct pos_store_memories {
	enum pos_err (*memory_insert)(struct pos_store *s,
				      struct pos_memory *m, size_t n,
				      struct pos_error *err);
	/*
	 * Reads one memory with its related ids. When `touch`, counts an
	 * access at `now` first, in the same statement.
	 */
	enum pos_err (*memory_get)(struct pos_store *s, struct pos_arena *a,
				   const char *user_id, const char *id,
				   bool touch, int64_t now, struct pos_memory *out);
	/* A page of memories (without related ids) and the filtered total. */
	enum pos_err (*memory_list)(struct pos_store *s, struct pos_arena *a,
				    const struct pos_memory_query *q,
				    struct pos_memory **out, size_t *n,
				    int64_t *total);
	/* Applies a partial update at `now`. */
	enum pos_err (*memory_update)(struct pos_store *s, const char *user_id,
				      const char *id,
				      const struct pos_memory_patch *p,
				      int64_t now, struct pos_error *err);
	/* Deletes; *seq receives the row's seq (for index upkeep). */
	enum pos_err (*memory_delete)(struct pos_store *s, const char *user_id,
				      const char *id, int64_t *seq);
	/* Aggregates over one user's memories, up to `days` per_day entries
	 * and `tags` top tags; without the chat exchanges when `hide_chat`. */
	enum pos_err (*memory_stats)(struct pos_store *s, struct pos_arena *a,
				     const char *user_id, unsigned days,
				     unsigned tags, bool hide_chat,
				     struct pos_memory_stats *out);
	/* The user's `limit` most used tags, most used first (ties by tag), as
	 * the JSON text [{"tag": "work", "count": 5}, ...] (the same list as
	 * memory_stats' top_tags_json), without the chat exchanges when
	 * `hide_chat`: read from the tag index alone, never the memories, so
	 * it costs a fraction of memory_stats (GET /api/memories/categories). */
	enum pos_err (*tag_counts)(struct pos_store *s, struct pos_arena *a,
				   const char *user_id, unsigned limit, bool hide_chat,
				   const char **json);
	/* The series of the user's memories created at or after `since` (the
	 * distributions cover every memory); without the chat exchanges when
	 * `hide_chat`. */
	enum pos_err (*memory_series)(struct pos_store *s, struct pos_arena *a,
				      const char *user_id, int64_t since, bool hide_chat,
				      struct pos_memory_series *out);
	/*
	 * Graph nodes of the user: those with ids in `ids_json` (a JSON array
	 * of UUIDs), or when it is NULL the `limit` newest memories.
	 */
	enum pos_err (*graph_nodes)(struct pos_store *s, struct pos_arena *a,
				    const char *user_id, const char *ids_json,
				    unsigned limit, struct pos_graph_node **out,
				    size_t *n);
	/* Edges (relationships and parent links) of the user touching any id
	 * in `ids_json`, at most `limit`. */
	enum pos_err (*graph_edges)(struct pos_store *s, struct pos_arena *a,
				    const char *user_id, const char *ids_json,
				    unsigned limit, struct pos_graph_edge **out,
				    size_t *n);
	/*
	 * Relationship rows (every type; parent links are not rows, they are
	 * the memory's parent_id) whose source is one of the user's memories
	 * with seqs in `seqs_json` (a JSON array of integers), at most
	 * `limit`, in no given order: the export's walk, one lookup by
	 * primary key per memory.
	 */
	enum pos_err (*relationships_from)(struct pos_store *s, struct pos_arena *a,
					   const char *user_id, const char *seqs_json,
					   unsigned limit, struct pos_graph_edge **out,
					   size_t *n);
	/*
	 * Full-text candidates: the user's memories matching the FTS5
	 * expression `match` and the filters of `q` (its limit is the number
	 * wanted), best BM25 first; score = -bm25 (higher is better).
	 */
	enum pos_err (*keyword_search)(struct pos_store *s, struct pos_arena *a,
				       const struct pos_memory_query *q,
				       const char *match, struct pos_hit **out,
				       size_t *n);
	/*
	 * Document frequency of a query word in the full-text index (all
	 * users): the word is stemmed exactly as the index stems it; for a
	 * word that makes several tokens, the rarest counts. *docs receives
	 * the number of indexed memories (docs may be NULL: not counted).
	 */
	enum pos_err (*term_frequency)(struct pos_store *s, const char *word,
				       int64_t *df, int64_t *docs);
	/* Document frequency of one already-stemmed index term (no
	 * tokenizing): 0 when absent. */
	enum pos_err (*stem_frequency)(struct pos_store *s, const char *stem,
				       size_t len, int64_t *df);
	/*
	 * Whether the index holds a term close to an absent stem (a typo or
	 * another form of a word): one starting with the same two letters
	 * that is a prefix of it or it of the term (sharing at least 4
	 * letters), or within edit distance 1 (2 from 7 letters on,
	 * transpositions counting 1). Stems shorter than 4 bytes never are.
	 * Scans at most POS_STEM_NEAR_SCAN terms.
	 */
	enum pos_err (*stem_near)(struct pos_store *s, const char *stem,
				  size_t len, bool *near);
	/*
	 * Optional (NULL: use memories_by_seq): the id and type of each of
	 * the user's memories seqs[0..n) into ids[i] / types[i] (enum
	 * pos_mem_type), found[i] false when the seq is not the user's: one
	 * key lookup each, no content read (auto-linking's neighbours).
	 */
	enum pos_err (*memory_keys_by_seq)(struct pos_store *s, const char *user_id,
					   const int64_t *seqs, size_t n,
					   char (*ids)[POS_UUID_SIZE], int *types, bool *found);
	/* Seqs of the user's memories passing q's filters, ascending, at most
	 * `max` (*n == max means there may be more). */
	enum pos_err (*filter_seqs)(struct pos_store *s, struct pos_arena *a,
				    const struct pos_memory_query *q, size_t max,
				    int64_t **out, size_t *n);
	/*
	 * Reads the user's memories with the given seqs; out[i] is seqs[i]'s
	 * memory and found[i] says whether it exists (and is the user's).
	 */
	enum pos_err (*memories_by_seq)(struct pos_store *s, struct pos_arena *a,
					const char *user_id, const int64_t *seqs,
					size_t n, struct pos_memory *out,
					bool *found);
	/*
	 * Like memories_by_seq, but only what ranking reads (search's boosts):
	 * seq, id, type, layer, created_at, importance and access_count (with
	 * accesses not yet written); every other field is zero or NULL
	 * (content NULL). For a search's candidates, of which only a page is
	 * shown in full. Optional: NULL where a backend has no cheaper read.
	 */
	enum pos_err (*memories_rank_fields)(struct pos_store *s, struct pos_arena *a,
					     const char *user_id, const int64_t *seqs,
					     size_t n, struct pos_memory *out,
					     bool *found);
	/*
	 * The contents of the user's last `max` memories in `thread`, newest
	 * first, into out[0..*n).
	 */
	enum pos_err (*thread_tail)(struct pos_store *s, struct pos_arena *a,
				    const char *user_id, const char *thread,
				    size_t max, const char **out, size_t *n);
	/* The stored embedding of the user's memory `seq` (arena); out->q is
	 * NULL when it has none yet. */
	enum pos_err (*vector_get)(struct pos_store *s, struct pos_arena *a,
				   const char *user_id, int64_t seq, struct pos_vec *out);
	/* Calls fn for every stored embedding of the user made by `model`. */
	enum pos_err (*vectors_load)(struct pos_store *s, const char *user_id,
				     const char *model,
				     void (*fn)(void *ctx, int64_t seq, float scale,
						const int8_t *q, unsigned dim),
				     void *ctx);
	/*
	 * Up to `max` memories of `user_id` (NULL: any user) with seq >
	 * after_seq that have no embedding from `model`, in seq order: seq,
	 * user id and content, for backfilling.
	 */
	enum pos_err (*vectors_missing)(struct pos_store *s, struct pos_arena *a,
					const char *model, const char *user_id,
					int64_t after_seq, size_t max,
					struct pos_memory **out, size_t *n);
	/* How many memories of `user_id` have no embedding from `model`. */
	enum pos_err (*vectors_missing_count)(struct pos_store *s, const char *model,
					      const char *user_id, int64_t *n);
	/* Stores (replaces) embeddings of existing memories, one transaction.
	 * A memory changed since it was read (updated_at differs) or deleted
	 * is skipped: its new text will be embedded instead. */
	enum pos_err (*vectors_put)(struct pos_store *s,
				    const struct pos_memory *m, size_t n);
	/* The highest memory seq so far (0 when none). */
	enum pos_err (*max_seq)(struct pos_store *s, int64_t *seq);
	/* Memories of every user (metrics). */
	enum pos_err (*memory_count_all)(struct pos_store *s, int64_t *n);
	/* Up to `max` of the user's memories after the cursor, in the
	 * backend's scan order (pending access counts flushed first); the
	 * cursor is the created_at and seq of the previous page's last row,
	 * start with (INT64_MIN, 0). SQLite scans in seq order (after_seq
	 * alone, index memories_user_seq: the table's own order), PostgreSQL
	 * in (created_at, seq) order. `now_rfc3339` decides which events are
	 * upcoming. */
	enum pos_err (*lifecycle_scan)(struct pos_store *s, struct pos_arena *a,
				       const char *user_id, int64_t after_created,
				       int64_t after_seq, size_t max,
				       const char *now_rfc3339, struct pos_life_row **out,
				       size_t *n);
	/* The user's tags touched at or after `since`, each with its last two
	 * touches. */
	enum pos_err (*tag_touches)(struct pos_store *s, struct pos_arena *a,
				    const char *user_id, int64_t since,
				    struct pos_tag_touch **out, size_t *n);
	/* Writes layers (layer_since = now) and computed importances in one
	 * transaction without changing updated_at; a memory of another user,
	 * deleted, or locked meanwhile is left alone. */
	enum pos_err (*lifecycle_apply)(struct pos_store *s, const char *user_id,
					const struct pos_life_change *v, size_t n,
					int64_t now);
	/*
	 * The store's half of a merge (memory/merge.h), in one transaction:
	 * the relationships of the memories in `ids_json` (a JSON array of the
	 * user's memory ids, `kept_id` not among them) move to `kept_id`,
	 * their children become its children, their access counts are added
	 * to it, and an audit row (`detail_json`) is written. The merged
	 * memories themselves are deleted by the caller afterwards.
	 */
	enum pos_err (*memory_merge_move)(struct pos_store *s, const char *user_id,
					  const char *kept_id, const char *ids_json,
					  const char *detail_json, int64_t now);
	/*
	 * Auto-linking: the structural parent of the user's memory `seq` —
	 * the memory just before it in its thread, else for an event the
	 * first of its series (same metadata.event_id) — into parent_id
	 * ("" when none).
	 */
	enum pos_err (*autolink_parent)(struct pos_store *s, const char *user_id,
					int64_t seq, char parent_id[POS_UUID_SIZE]);
	/*
	 * Replaces the auto-made relationships of memory `id` (either end)
	 * by v[0..n) (stored once per pair; links made by hand are kept), and
	 * sets its parent to `parent_id` when it has none and that is not
	 * ""; one transaction, updated_at unchanged. NOT_FOUND when `id` is
	 * not the user's; targets that are not the user's are skipped.
	 */
	enum pos_err (*autolink_apply)(struct pos_store *s, const char *user_id,
				       const char *id, const struct pos_autolink *v,
				       size_t n, const char *parent_id, int64_t now);
	/*
	 * Adds tags to one memory of the user at `now` (plugins' tag path,
	 * docs/PLUGINS.md): `add` (n, valid tags) merged after the memory's
	 * own, duplicates skipped, order kept; the tag column, the tag index
	 * and the full-text row follow, and like any edit it brings a
	 * reference or archived memory back to active. *added (may be NULL):
	 * how many were new; 0 writes nothing. POS_ERR_NOT_FOUND when the id
	 * is not the user's, POS_ERR_INVALID_FIELD when the result would have
	 * more than `max` tags. Cheaper than memory_update: one cached read
	 * and one cached update, no prepare, no tag index rewrite. Inside a
	 * batch (ops->batch_begin) it is one more write of it.
	 */
	enum pos_err (*memory_tag_add)(struct pos_store *s, const char *user_id,
				       const char *id, const char *const *add, size_t n,
				       size_t max, int64_t now, size_t *added);
};

/*
 * Store operations: the assistant's conversations and messages
 * (sqlite_chat.c).
 */
struct pos_store_chat {
	/*
	 * Inserts n memories of one user in one transaction, with their tags,
	 * relationships, embeddings, full-text entries and the user's memory
	 * count; all or nothing. Sets each m[i].seq. A parent or related id
	 * that is not the user's fails with POS_ERR_INVALID_FIELD and
	 * err->index = the item.
	 */
	/* One conversation of the user; POS_ERR_NOT_FOUND for anyone else's. */
	enum pos_err (*conversation_get)(struct pos_store *s, struct pos_arena *a,
					 const char *user_id, const char *id,
					 struct pos_conversation *out);
	/* The user's conversations, most recently active first. */
	enum pos_err (*conversation_list)(struct pos_store *s, struct pos_arena *a,
					  const char *user_id, unsigned limit,
					  unsigned offset, struct pos_conversation **out,
					  size_t *n, int64_t *total);
	/* Appends messages in one transaction, creating the conversation
	 * first when `create`; bumps its updated_at and message count. */
	enum pos_err (*chat_append)(struct pos_store *s,
				    const struct pos_conversation *conv, bool create,
				    const struct pos_chat_message *msgs, size_t n);
	/* The last `limit` messages of a conversation, oldest first. */
	enum pos_err (*messages_list)(struct pos_store *s, struct pos_arena *a,
				      const char *user_id, const char *conversation_id,
				      unsigned limit, struct pos_chat_message **out,
				      size_t *n);
};

/*
 * Store operations: the persistent job queue.
 */
struct pos_store_jobs {
	/*
	 * Jobs (the queue of jobs/jobs.c). job_put adds a row
	 * (POS_ERR_CONFLICT when j->dedupe_key is set and an active — queued
	 * or running — job of the same kind has that key). job_claim
	 * takes the oldest due `queued` job whose kind is in `kinds_json` (a
	 * JSON array of names) and, for kinds in `serial_json`, whose user has
	 * no other `running` job of that kind: state -> running, attempts + 1,
	 * lease_until set (POS_ERR_NOT_FOUND when none); one claimer wins a
	 * job even when several processes claim at once. job_update writes back state,
	 * payload (NULL: unchanged), error, result, item errors, progress and
	 * next run of a job that is still `running` (POS_ERR_NOT_FOUND when it
	 * is not: cancelled meanwhile; or, with j->claim_attempts, claimed
	 * again by another process after its lease ended). job_progress writes progress alone,
	 * likewise. job_get reads one of the user's (user_id NULL: anyone's,
	 * for the service itself); job_list the user's newest first, at most
	 * `limit`, optionally of one kind. job_cancel ends a queued or running
	 * job of the user (POS_ERR_NOT_FOUND: not theirs; POS_ERR_CONFLICT:
	 * finished). jobs_renew extends the lease of the `running` jobs whose
	 * ids are in `ids_json` to `lease_until`. jobs_requeue puts jobs of
	 * `kinds_json` left `running` with a lease that ended before `now` (or
	 * none) back to `queued`, and *n (may be NULL) receives how many: the
	 * jobs of a dead process, never those of a live one. jobs_queued counts a user's queued jobs
	 * of the kinds in `kinds_json`. jobs_prune
	 * deletes finished jobs last updated before `before`.
	 */
	enum pos_err (*job_put)(struct pos_store *s, const struct pos_job *j);
	enum pos_err (*job_claim)(struct pos_store *s, struct pos_arena *a, int64_t now,
				  int64_t lease_until, const char *kinds_json,
				  const char *serial_json, struct pos_job *out);
	enum pos_err (*job_update)(struct pos_store *s, const struct pos_job *j);
	enum pos_err (*job_progress)(struct pos_store *s, const char *id, uint64_t done,
				     uint64_t total, int64_t now);
	enum pos_err (*job_get)(struct pos_store *s, struct pos_arena *a,
				const char *user_id, const char *id,
				struct pos_job *out);
	enum pos_err (*job_list)(struct pos_store *s, struct pos_arena *a,
				 const char *user_id, const char *kind, size_t limit,
				 struct pos_job **out, size_t *n);
	enum pos_err (*job_cancel)(struct pos_store *s, const char *user_id, const char *id,
				   int64_t now);
	enum pos_err (*jobs_renew)(struct pos_store *s, const char *ids_json, int64_t lease_until);
	enum pos_err (*jobs_requeue)(struct pos_store *s, const char *kinds_json, int64_t now,
				     int64_t *n);
	enum pos_err (*jobs_queued)(struct pos_store *s, const char *user_id,
				    const char *kinds_json, size_t *n);
	enum pos_err (*jobs_prune)(struct pos_store *s, int64_t before);
};

/*
 * Store operations: sync sources, their run logs and external-id
 * references (sqlite_sync.c).
 */
struct pos_store_sync {
	/* Inserts a source (create) or rewrites all its fields. */
	enum pos_err (*sync_source_put)(struct pos_store *s,
					const struct pos_sync_source *src,
					bool create);
	/* One source; user_id NULL: of any user (the scheduler). */
	enum pos_err (*sync_source_get)(struct pos_store *s, struct pos_arena *a,
					const char *user_id, const char *id,
					struct pos_sync_source *out);
	/* The user's sources oldest first; user_id NULL: every user's. */
	enum pos_err (*sync_source_list)(struct pos_store *s, struct pos_arena *a,
					 const char *user_id,
					 struct pos_sync_source **out, size_t *n);
	enum pos_err (*sync_source_delete)(struct pos_store *s, const char *user_id,
					   const char *id);
	enum pos_err (*sync_log_add)(struct pos_store *s, const struct pos_sync_log *l);
	/* The source's last `limit` runs, newest first. */
	enum pos_err (*sync_log_list)(struct pos_store *s, struct pos_arena *a,
				      const char *user_id, const char *source_id,
				      unsigned limit, struct pos_sync_log **out,
				      size_t *n);
	/* Looks up the memories of `source_id` with the given external ids:
	 * out[i] (found or not) for ext[i]. */
	enum pos_err (*sync_refs_lookup)(struct pos_store *s, struct pos_arena *a,
					 const char *user_id, const char *source_id,
					 const char *const *ext, size_t n,
					 struct pos_sync_ref *out);
	/* Every memory of `source_id`. */
	enum pos_err (*sync_refs_list)(struct pos_store *s, struct pos_arena *a,
				       const char *user_id, const char *source_id,
				       struct pos_sync_ref **out, size_t *n);
};

/*
 * Store operations: sharing memories with other accounts
 * (sqlite_shares.c; docs/SECURITY.md).
 */
struct pos_store_shares {
	/* ---- sharing (docs/SECURITY.md) ----
	 * A memory is shared by its owner with other users, who may read it
	 * but never change it. memories.shared_with (the recipients' emails,
	 * sorted) is kept in step with the shares in the same transaction. */
	/*
	 * Shares the owner's memory `id` with the users of emails[0..n)
	 * (normalized), all or nothing; already shared ones are kept. An email
	 * of no user is kept as a pending share (pending_shares) that becomes
	 * a real one when an account with a vouched-for email registers
	 * (user_register), so the answer does not tell whether an email has
	 * an account; the
	 * owner's own email is POS_ERR_INVALID_FIELD with err->field "emails"
	 * and err->index its position. NOT_FOUND when the memory is not the
	 * owner's.
	 */
	enum pos_err (*share_add)(struct pos_store *s, const char *owner_id,
				  const char *id, const char *const *emails, size_t n,
				  int64_t now, struct pos_error *err);
	/* Stops sharing with `email`. NOT_FOUND when the memory is not the
	 * owner's or not shared with that email. */
	enum pos_err (*share_remove)(struct pos_store *s, const char *owner_id,
				     const char *id, const char *email);
	/* The memory `id` when it is shared with `recipient_id` (no access is
	 * counted), NOT_FOUND otherwise. out->user_id is the owner. */
	enum pos_err (*shared_get)(struct pos_store *s, struct pos_arena *a,
				   const char *recipient_id, const char *id,
				   struct pos_memory *out);
	/* A page of the memories shared with `recipient_id`, newest first,
	 * and their total. */
	enum pos_err (*shared_list)(struct pos_store *s, struct pos_arena *a,
				    const char *recipient_id, unsigned limit,
				    unsigned offset, struct pos_memory **out,
				    size_t *n, int64_t *total);
	/* Memories shared with `recipient_id` matching the FTS5 expression
	 * `match`, best BM25 first, at most `limit`; scores[i] = -bm25. */
	enum pos_err (*shared_search)(struct pos_store *s, struct pos_arena *a,
				      const char *recipient_id, const char *match,
				      unsigned limit, struct pos_memory **out,
				      double **scores, size_t *n);
};

/*
 * Store operations: encryption at rest: key material, refresh-token key
 * wraps, the sealing pass (sqlite_crypt.c; docs/ENCRYPTION.md).
 */
struct pos_store_keys {
	/* ---- encryption at rest (docs/ENCRYPTION.md) ----
	 * Raw access for the encryption layer (store/crypt_store.c and
	 * auth/encryption.c): key material, sealed rows and vectors as
	 * stored. Nothing here decrypts. */

	/* The user's key material; NOT_FOUND when no such user. */
	enum pos_err (*crypt_get)(struct pos_store *s, struct pos_arena *a,
				  const char *user_id, struct pos_user_crypt *out);
	/*
	 * Writes the user's key material: each field of `in` that is NULL
	 * keeps its stored value; `password_hash`, when not NULL, is written
	 * in the same statement. With `expect` not NULL only if the stored
	 * state equals it, else POS_ERR_CONFLICT.
	 */
	enum pos_err (*crypt_put)(struct pos_store *s, const char *user_id,
				  const struct pos_user_crypt *in,
				  const char *password_hash, const char *expect);
	/* The DEK wrapped for a refresh token (by hash); *wrap NULL if none. */
	enum pos_err (*refresh_wrap_get)(struct pos_store *s, struct pos_arena *a,
					 const uint8_t *hash, const uint8_t **wrap,
					 size_t *len);
	enum pos_err (*refresh_wrap_put)(struct pos_store *s, const uint8_t *hash,
					 const uint8_t *wrap, size_t len);
	/* Drops the key wraps of refresh tokens that expired before `now` or
	 * were used; *n receives how many. */
	enum pos_err (*refresh_wraps_sweep)(struct pos_store *s, int64_t now, int64_t *n);
	/* How many of the user's memories are sealed, of how many. */
	enum pos_err (*crypt_progress)(struct pos_store *s, const char *user_id,
				       int64_t *sealed, int64_t *total);
	/* Up to `max` of the user's plain memories with seq > after_seq, in
	 * seq order, each with its embedding in vec (q NULL: none). */
	enum pos_err (*crypt_plain_batch)(struct pos_store *s, struct pos_arena *a,
					  const char *user_id, int64_t after_seq,
					  size_t max, struct pos_memory **out,
					  size_t *n);
	/*
	 * Rewrites memories in place as sealed, one transaction: content,
	 * tags_json (+ tags index), thread, context, sealed, metadata '{}',
	 * attachments '[]', is_encrypted 1, and vec.sealed when set. A row
	 * whose updated_at differs from m[i].updated_at is skipped.
	 */
	enum pos_err (*crypt_seal_rows)(struct pos_store *s,
					const struct pos_memory *m, size_t n);
	/* Calls fn for every stored embedding of the user by `model`, raw
	 * (blob is q when len == dim, else sealed), with its memory's id. */
	enum pos_err (*crypt_vectors_load)(struct pos_store *s, const char *user_id,
					   const char *model,
					   void (*fn)(void *ctx, int64_t seq, const char *id,
						      unsigned dim, float scale,
						      const uint8_t *blob, size_t len),
					   void *ctx);
	/* The raw stored embedding of the user's memory `seq`: out->sealed
	 * holds the blob (NULL when none), id the memory's id. */
	enum pos_err (*crypt_vector_raw)(struct pos_store *s, struct pos_arena *a,
					 const char *user_id, int64_t seq,
					 char id[POS_UUID_SIZE], struct pos_vec *out);
	/* Calls fn with each term the full-text index would store for `text`
	 * (tokenized and stemmed exactly like memories_fts), in order. */
	enum pos_err (*index_terms)(struct pos_store *s, const char *text, size_t len,
				    void (*fn)(void *ctx, const char *term, size_t n),
				    void *ctx);
	/* term_frequency as seen from one user's index: for an encrypted user
	 * the word's search tokens are counted (only that user has them);
	 * docs may be NULL, as there; POS_ERR_LOCKED while locked. NULL: use
	 * term_frequency. */
	enum pos_err (*user_term_frequency)(struct pos_store *s, const char *user_id,
					    const char *word, int64_t *df, int64_t *docs);
	/* The user's last `max` memories in `thread` (as stored), newest
	 * first: id, is_encrypted, content, sealed. */
	enum pos_err (*crypt_thread_tail)(struct pos_store *s, struct pos_arena *a,
					  const char *user_id, const char *thread,
					  size_t max, struct pos_memory **out,
					  size_t *n);
	/* Whether the user's data can be read now (encryption at rest: the
	 * key is in memory, or the user is not encrypted). NULL: always. */
	bool (*data_unlocked)(struct pos_store *s, const char *user_id);
};

/*
 * Store operations: plugins: a user's installs, their key-value data
 * and logs (sqlite_plugins.c; docs/PLUGINS.md).
 */
struct pos_store_plugins {
	/* ---- plugins (src/plugins; migration 15) ----
	 * Every call is scoped by user_id. */
	/* Inserts or replaces the user's install of p->plugin_id. */
	enum pos_err (*plugin_put)(struct pos_store *s, const struct pos_plugin_row *p);
	/* NOT_FOUND when the user has not installed it. */
	enum pos_err (*plugin_get)(struct pos_store *s, struct pos_arena *a, const char *user_id,
				   const char *plugin_id, struct pos_plugin_row *out);
	/* The user's installs by plugin id; with user_id NULL, every user's
	 * enabled installs (for dispatch). */
	enum pos_err (*plugin_list)(struct pos_store *s, struct pos_arena *a, const char *user_id,
				    struct pos_plugin_row **out, size_t *n);
	/* Removes the install, its kv data and its logs. NOT_FOUND. */
	enum pos_err (*plugin_delete)(struct pos_store *s, const char *user_id,
				      const char *plugin_id);
	/* Records a hook call's outcome: error NULL resets failures and the
	 * status to "ok"; otherwise failures + 1, last_error = error, status
	 * "error", and at `max_failures` the install is disabled (status
	 * "disabled"). *disabled (may be NULL) says whether this call did it. */
	enum pos_err (*plugin_outcome)(struct pos_store *s, const char *user_id,
				       const char *plugin_id, const char *error,
				       unsigned max_failures, int64_t now, bool *disabled);
	/* *value NULL when the key is absent. */
	enum pos_err (*plugin_kv_get)(struct pos_store *s, struct pos_arena *a, const char *user_id,
				      const char *plugin_id, const char *key, const char **value,
				      size_t *len);
	/* value NULL deletes. QUOTA_EXCEEDED when the plugin's keys and values
	 * for the user would pass `quota` bytes. */
	enum pos_err (*plugin_kv_put)(struct pos_store *s, const char *user_id,
				      const char *plugin_id, const char *key, const char *value,
				      size_t len, size_t quota);
	/* Appends a log line, keeping the newest `keep` per (user, plugin). */
	enum pos_err (*plugin_log_add)(struct pos_store *s, const char *user_id,
				       const char *plugin_id, const char *level, const char *msg,
				       size_t len, int64_t now, unsigned keep);
	/* Newest first, at most `limit`. */
	enum pos_err (*plugin_log_list)(struct pos_store *s, struct pos_arena *a, const char *user_id,
					const char *plugin_id, unsigned limit,
					struct pos_plugin_log **out, size_t *n);
	/*
	 * The encryption pass (crypt_store.c): offers every kv value (kind
	 * 'k', with its key) and log message (kind 'l', key NULL) of the
	 * user, every plugin, to fn; when fn returns true with a
	 * replacement (in `a`), the stored text is replaced unless it changed
	 * meanwhile. *replaced: how many were. No quota check (a sealed value
	 * is counted once written).
	 */
	enum pos_err (*plugin_data_rewrite)(struct pos_store *s, const char *user_id,
					    bool (*fn)(void *ctx, struct pos_arena *a, char kind,
						       const char *plugin_id, const char *key,
						       const char *text, size_t len,
						       const char **out, size_t *out_len),
					    void *ctx, size_t *replaced);
};

/*
 * Store operations: attachments and the blobs they refer to
 * (sqlite_files.c; docs/FILES.md).
 */
struct pos_store_files {
	/*
	 * Adds attachment `at` (its memory named by at->memory_id, which must
	 * be the user's: else NOT_FOUND) and, when absent, the blob row of
	 * (user, hash, bytes) — which counts in the user's bytes_used — in one
	 * transaction.
	 */
	enum pos_err (*attachment_insert)(struct pos_store *s, const struct pos_attachment *at);
	/* The attachment `id`; user_id NULL: of any user (the caller checks
	 * access). NOT_FOUND otherwise. */
	enum pos_err (*attachment_get)(struct pos_store *s, struct pos_arena *a,
				       const char *user_id, const char *id,
				       struct pos_attachment *out);
	/* The attachments of the user's memory `memory_id`, oldest first. */
	enum pos_err (*attachment_list)(struct pos_store *s, struct pos_arena *a,
					const char *user_id, const char *memory_id,
					struct pos_attachment **out, size_t *n);
	/* Deletes the user's attachment (NOT_FOUND if none). */
	enum pos_err (*attachment_delete)(struct pos_store *s, const char *user_id,
					  const char *id);
	/* Records the outcome of text extraction. */
	enum pos_err (*attachment_set_text)(struct pos_store *s, const char *user_id,
					    const char *id, const char *status,
					    const char *error, int64_t pages);
	/* Records the attachment's thumbnail, the user's blob `hash` of
	 * `bytes` (its blob row made here, counted in the byte quota), in one
	 * transaction; hash NULL records that it has none (POS_THUMB_NONE, no
	 * blob row). NOT_FOUND when there is no such attachment. */
	enum pos_err (*attachment_set_thumb)(struct pos_store *s, const char *user_id,
					     const char *id, const char *hash, int64_t bytes,
					     int64_t now);
	/* Up to `max` blobs no attachment refers to, as its file or its
	 * thumbnail (user_id NULL: any user). */
	enum pos_err (*blob_orphans)(struct pos_store *s, struct pos_arena *a,
				     const char *user_id, size_t max,
				     struct pos_blob_ref **out, size_t *n);
	/* Drops the blob row when still unreferenced; *dropped says whether
	 * it did (then the caller deletes the file). */
	enum pos_err (*blob_forget)(struct pos_store *s, const char *user_id,
				    const char *hash, bool *dropped);
	/* Up to `max` of the user's attachments whose thumbnail was never
	 * tried (`thumb` "": made before migration 19, or their extraction job
	 * has not run), with an id greater than `after_id` (give the nil UUID
	 * to start), by id: the thumbnail backfill pages with it (SQLite
	 * migration 23 / PostgreSQL 4 index them). */
	enum pos_err (*attachment_unthumbed)(struct pos_store *s, struct pos_arena *a,
					     const char *user_id, const char *after_id,
					     size_t max, struct pos_attachment **out,
					     size_t *n);
	/* Up to `max` of the user's attachments whose blob is plain (`sealed`
	 * false: stored before encryption was turned on), with an id greater
	 * than `after_id`, by id: the sealing pass pages with it. */
	enum pos_err (*attachment_plain)(struct pos_store *s, struct pos_arena *a,
					 const char *user_id, const char *after_id, size_t max,
					 struct pos_attachment **out, size_t *n);
	/*
	 * Re-points the user's plain attachment at->id at its sealed copy, in
	 * one transaction: the blob rows of (at->hash, at->bytes) and, when
	 * at->thumb is an address, (at->thumb, thumb_bytes) made when absent;
	 * the row's hash, name, mime and thumb ("" stays never tried) set and
	 * `sealed` true — only while the row still has `old_hash` and
	 * `old_thumb` and is plain, else POS_ERR_CONFLICT (nothing changed).
	 * The plain blobs are left to collection (blob_orphans).
	 */
	enum pos_err (*attachment_reseal)(struct pos_store *s, const struct pos_attachment *at,
					  int64_t thumb_bytes, const char *old_hash,
					  const char *old_thumb, int64_t now);
};

struct pos_store_ops {
	void (*close)(struct pos_store *s);

	/* Server-wide secret `name`, created with `len` random bytes if absent
	 * (kept outside the database: pos_sqlite_open_keyed). */
	enum pos_err (*server_key)(struct pos_store *s, const char *name,
				   uint8_t *key, size_t len);

	/* Small persistent server state: *value (arena) is NULL when unset. */
	enum pos_err (*state_get)(struct pos_store *s, struct pos_arena *a,
				  const char *name, const char **value);
	enum pos_err (*state_put)(struct pos_store *s, const char *name,
				  const char *value);

	/* Integrity check and counts (personalos doctor). */
	enum pos_err (*summary)(struct pos_store *s, bool full_check,
				struct pos_store_summary *out);
	/* Merges the full-text index (dropping deleted terms) and checkpoints
	 * the WAL with TRUNCATE, so deleted text leaves the files. */
	enum pos_err (*compact)(struct pos_store *s);

	/*
	 * Optional (NULL: not supported): the calling thread's writes from
	 * batch_begin to batch_end are one transaction (each write op stays
	 * all or nothing inside it), for many small writes in a row (a batch
	 * of plugin hooks). While it is open the thread holds the store's
	 * write lock: keep it short, make no read that opens its own
	 * transaction (memory_list, share lists) and do no network I/O.
	 * batch_end commits (the error when the commit failed, all writes
	 * since begin then lost). CONFLICT when not paired.
	 */
	enum pos_err (*batch_begin)(struct pos_store *s);
	enum pos_err (*batch_end)(struct pos_store *s);
};

struct pos_store {
	const struct pos_store_ops *ops;
	const struct pos_store_accounts *accounts;
	const struct pos_store_memories *memories;
	const struct pos_store_chat *chat;
	const struct pos_store_jobs *jobs;
	const struct pos_store_sync *sync;
	const struct pos_store_shares *shares;
	const struct pos_store_keys *keys;
	const struct pos_store_plugins *plugins;
	const struct pos_store_files *files;
	/* encryption at rest: the state of the crypt layer installed over
	 * this backend's ops (store/crypt_store.c), NULL when none */
	void *crypt;
};

/*
 * Opens the SQLite store in `dir` (created if missing, mode 0700), applying
 * pending migrations in one transaction. On failure returns the error and
 * sets `err` with a message fit for the operator.
 *
 * Server keys (ops->server_key) live in `dir`/keys (crypto/keyfile.h),
 * sealed under the secret in `master_key_file` when that is given (NULL or
 * "": a plain file, mode 0600). Keys an older build kept in the database
 * are moved to the key file and erased from the database on open. The
 * directory is made 0700 and the database, WAL and SHM files 0600 on every
 * open. pos_sqlite_open is pos_sqlite_open_keyed without a master key.
 */
enum pos_err pos_sqlite_open_keyed(const char *dir, const char *master_key_file,
				   struct pos_store **out, struct pos_error *err);
enum pos_err pos_sqlite_open(const char *dir, struct pos_store **out,
			     struct pos_error *err);

/*
 * Opens the PostgreSQL store at `url` (a libpq URL, postgres://USER@HOST/DB;
 * docs/DEPLOY.md "PostgreSQL store") with a pool of `pool_size`
 * connections (1..256, made lazily), applying pending schema versions
 * under an advisory lock so instances starting together migrate once.
 * Server keys live in the database (table server_keys), shared by every
 * instance, sealed under the secret in `master_key_file` when given.
 * Errors as pos_sqlite_open_keyed's, with a message fit for the operator
 * (the URL's password never shown).
 */
enum pos_err pos_pg_open(const char *url, const char *master_key_file, unsigned pool_size,
			 struct pos_store **out, struct pos_error *err);

/*
 * Online backup (personalos backup): copies the database in `dir` into
 * `dest_dir`/personalos.db (the directory is made 0700 if missing and must
 * hold no backup yet) with SQLite's backup API, one consistent snapshot
 * while a server keeps writing, checks the copy (quick_check), and copies
 * the key file beside it. Restoring is copying both back into an empty
 * data directory (docs/OPERATIONS.md).
 */
enum pos_err pos_sqlite_backup(const char *dir, const char *dest_dir,
			       struct pos_error *err);

/*
 * Restore (personalos restore): checks the backup in `backup_dir` whole
 * first (full integrity check, a schema version this build opens, a key
 * file that opens with `master_key_file`), refuses while a server has the
 * database in `dir` open (POS_ERR_BUSY), then moves the current database
 * and key file into `dir`/before-restore-<UTC time> (named in `aside`;
 * never deleted) and copies the backup in. With `staged_blobs` (a folder
 * on the data directory's file system holding the backup's blobs, made by
 * the caller) the current `dir`/blobs goes aside too and `staged_blobs` is
 * renamed into its place, last. On a failure after the move the
 * current files are moved back (`staged_blobs` is left to the caller). POS_ERR_CORRUPT for a damaged or foreign
 * backup; nothing is changed then.
 */
enum pos_err pos_sqlite_restore(const char *backup_dir, const char *dir,
				const char *master_key_file, const char *staged_blobs,
				char *aside, size_t aside_cap, struct pos_error *err);

/*
 * The blob files the attachment rows of the SQLite database `db_path` refer
 * to (issue 21): calls `fn` once per (user, address) with the plaintext
 * size and whether the blob is sealed (`bytes` is -1 for a thumbnail, whose
 * size no row records). A non-zero return from `fn` stops the walk.
 * POS_ERR_STORE when the database cannot be read.
 */
typedef int (*pos_blob_ref_fn)(void *ctx, const char *user_id, const char *hash,
			       int64_t bytes, bool sealed);
enum pos_err pos_sqlite_blob_refs(const char *db_path, pos_blob_ref_fn fn, void *ctx,
				  struct pos_error *err);

/* Schema version this build writes (the newest migration). */
int pos_store_schema_version(void);

static inline void pos_store_close(struct pos_store *s)
{
	if (s)
		s->ops->close(s);
}

#endif
